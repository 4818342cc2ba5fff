// SPDX-License-Identifier: MIT
// QuerySet building and evaluation: laziness, the result cache, filter / exclude / Q, ordering, slicing.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

using dorm::Q;
using test::headlines;
using V = std::vector<std::string>;

TEST_CASE("building a QuerySet runs no query; iterating runs exactly one and caches", "[queryset]") {
    test::BlogData data;
    dorm::CaptureQueries queries;
    auto qs = Entry::objects().filter("rating__gte", 3).exclude("headline", "Soup").order_by("-rating");
    auto narrower = qs.filter("number_of_comments__gt", 0).order_by("headline").reverse().distinct().all();
    CHECK(queries.size() == 0);

    CHECK(headlines(qs) == V{"Lennon returns", "Pancakes", "Beatles reunion"});
    CHECK(queries.size() == 1);
    CHECK(headlines(qs) == V{"Lennon returns", "Pancakes", "Beatles reunion"});  // re-iteration: cache
    CHECK(qs.size() == 3);
    CHECK(!qs.empty());
    CHECK(qs.count() == 3);  // count() on a filled cache runs no query
    CHECK(qs.exists());
    CHECK(qs[1].headline == "Pancakes");
    CHECK(queries.size() == 1);

    CHECK(headlines(narrower) == V{"Pancakes", "Lennon returns"});
    CHECK(queries.size() == 2);
}

TEST_CASE("count() and exists() query when the cache is empty", "[queryset]") {
    test::BlogData data;
    dorm::CaptureQueries queries;
    auto qs = Entry::objects().filter("rating__lt", 3);
    CHECK(qs.count() == 2);
    CHECK(qs.exists());
    CHECK(queries.size() == 2);
    CHECK(queries[0].sql.find("COUNT(*)") != std::string::npos);
    CHECK(queries[1].sql.find("LIMIT 1") != std::string::npos);
    CHECK(!qs.is_evaluated());
    CHECK(!Entry::objects().filter("rating__gt", 100).exists());
    CHECK(Entry::objects().filter("rating__gt", 100).count() == 0);
}

TEST_CASE("all() on an evaluated QuerySet queries again", "[queryset]") {
    test::BlogData data;
    auto qs = Entry::objects().all();
    CHECK(qs.size() == 5);
    Entry::objects().filter("headline", "Soup").delete_();
    CHECK(qs.size() == 5);        // cached
    CHECK(qs.all().size() == 4);  // fresh
}

TEST_CASE("a copied QuerySet shares its cache; chaining does not change the original", "[queryset]") {
    test::BlogData data;
    auto base = Entry::objects().order_by("headline");
    auto filtered = base.filter("rating", 5);
    CHECK(base.count() == 5);
    CHECK(filtered.count() == 1);
    auto copy = base;
    (void)base.size();
    dorm::CaptureQueries queries;
    CHECK(copy.size() == 5);
    CHECK(queries.size() == 0);
}

TEST_CASE("filter and exclude with the basic lookups", "[queryset]") {
    test::BlogData data;
    auto by_headline = [](auto qs) { return headlines(qs.order_by("headline")); };
    CHECK(by_headline(Entry::objects().filter("rating", 5)) == V{"Lennon returns"});
    CHECK(by_headline(Entry::objects().filter("rating__exact", 5)) == V{"Lennon returns"});
    CHECK(by_headline(Entry::objects().filter("rating__gt", 3)) == V{"Lennon returns", "Pancakes"});
    CHECK(by_headline(Entry::objects().filter("rating__gte", 3)) == V{"Beatles reunion", "Lennon returns", "Pancakes"});
    CHECK(by_headline(Entry::objects().filter("rating__lt", 2)) == V{"Soup"});
    CHECK(by_headline(Entry::objects().filter("rating__lte", 2)) == V{"Election", "Soup"});
    CHECK(by_headline(Entry::objects().filter("rating__in", {1, 5})) == V{"Lennon returns", "Soup"});
    CHECK(by_headline(Entry::objects().filter("rating__in", std::vector<int>{4, 4, 2})) == V{"Election", "Pancakes"});
    CHECK(by_headline(Entry::objects().filter("rating_note__isnull", true)) ==
          V{"Election", "Lennon returns", "Pancakes"});
    CHECK(by_headline(Entry::objects().filter("rating_note__isnull", false)) == V{"Beatles reunion", "Soup"});
    CHECK(by_headline(Entry::objects().filter("rating_note", std::nullopt)) ==
          V{"Election", "Lennon returns", "Pancakes"});
    CHECK(by_headline(Entry::objects().filter("pub_date__gte", dorm::Date(2007, 1, 1))) == V{"Election", "Soup"});
    CHECK(by_headline(Entry::objects().filter("pk", 999)).empty());
    CHECK(by_headline(Entry::objects().filter("pk", Entry::objects().get("headline", "Soup").id)) == V{"Soup"});
    CHECK(by_headline(Entry::objects().filter("blog", data.beatles)) == V{"Beatles reunion", "Lennon returns"});
    CHECK(by_headline(Entry::objects().filter("blog_id", data.news.id)) == V{"Election"});
    CHECK(by_headline(Entry::objects().filter("blog__id", data.news.id)) == V{"Election"});
    CHECK(by_headline(Entry::objects().filter("blog__pk__in", {data.news.id, data.cooking.id})) ==
          V{"Election", "Pancakes", "Soup"});
    // Chained filters AND together.
    CHECK(by_headline(Entry::objects().filter("rating__gte", 2).filter("rating__lte", 4)) ==
          V{"Beatles reunion", "Election", "Pancakes"});
    CHECK(by_headline(Entry::objects().exclude("rating__gte", 3)) == V{"Election", "Soup"});
}

TEST_CASE("exclude() on a NULL-able column keeps the NULL rows, as in Django", "[queryset]") {
    test::BlogData data;
    auto qs = Entry::objects().exclude("rating_note", "solid").order_by("headline");
    CHECK(headlines(qs) == V{"Election", "Lennon returns", "Pancakes", "Soup"});
    CHECK(qs.sql().find("IS NOT NULL") != std::string::npos);
    CHECK(headlines(Entry::objects().filter(~Q("rating_note", "thin")).order_by("headline")) ==
          V{"Beatles reunion", "Election", "Lennon returns", "Pancakes"});
    // exclude(x=None) means x IS NOT NULL
    CHECK(headlines(Entry::objects().exclude("rating_note", std::nullopt).order_by("headline")) ==
          V{"Beatles reunion", "Soup"});
}

TEST_CASE("an empty `in` list matches nothing without a query; excluding it matches everything", "[queryset]") {
    test::BlogData data;
    dorm::CaptureQueries queries;
    CHECK(Entry::objects().filter("id__in", std::vector<std::int64_t>{}).size() == 0);
    CHECK(Entry::objects().filter("id__in", std::vector<std::int64_t>{}).count() == 0);
    CHECK(!Entry::objects().filter("id__in", std::vector<std::int64_t>{}).exists());
    CHECK(queries.size() == 0);
    CHECK(Entry::objects().exclude("id__in", std::vector<std::int64_t>{}).count() == 5);
    CHECK(Entry::objects().filter(Q("id__in", std::vector<int>{}) | Q("rating", 5)).count() == 1);
    CHECK(Entry::objects().filter("rating__in", std::vector<std::optional<int>>{std::nullopt, 5}).count() == 1);
}

TEST_CASE("Q objects combine with &, | and ~", "[queryset]") {
    test::BlogData data;
    auto names = [](const Q& q) { return headlines(Entry::objects().filter(q).order_by("headline")); };
    CHECK(names(Q("rating", 5) | Q("rating", 1)) == V{"Lennon returns", "Soup"});
    CHECK(names(Q("rating__gte", 3) & Q("number_of_comments", 0)) == V{"Beatles reunion"});
    CHECK(names(~Q("rating__gte", 2)) == V{"Soup"});
    CHECK(names(~(Q("rating", 5) | Q("rating", 1))) == V{"Beatles reunion", "Election", "Pancakes"});
    CHECK(names((Q("rating", 5) | Q("rating", 1)) & ~Q("headline", "Soup")) == V{"Lennon returns"});
    CHECK(names(Q()) .size() == 5);
    CHECK(names(Q() | Q("rating", 2)) == V{"Election"});
    CHECK(headlines(Entry::objects().filter(Q("rating__gte", 2), Q("rating__lte", 3)).order_by("headline")) ==
          V{"Beatles reunion", "Election"});
    CHECK(headlines(Entry::objects().exclude(Q("rating__gte", 2), Q("rating__lte", 3)).order_by("headline")) ==
          V{"Lennon returns", "Pancakes", "Soup"});
}

TEST_CASE("a condition copies a run-time path and points at a literal one; combining leaves its operands whole",
          "[queryset]") {
    test::BlogData data;
    auto names = [](const Q& q) { return headlines(Entry::objects().filter(q).order_by("headline")); };
    std::optional<decltype(Entry::objects().all())> qs;
    {
        std::string path = "number_of_comments__gte";  // longer than a short string's in-place buffer
        qs = Entry::objects().filter(dorm::runtime(path), 3).order_by("headline");
        path.assign(path.size(), 'x');
    }  // the string is gone: the QuerySet must hold its own copy
    CHECK(headlines(*qs) == V{"Election", "Lennon returns", "Pancakes"});
    CHECK(headlines(Entry::objects().filter("headline__startswith", "Pa", "number_of_comments__gte", 3)) ==
          V{"Pancakes"});
    CHECK(headlines(Entry::objects().exclude("headline__startswith", "Pa", "number_of_comments__gte", 3)
                        .order_by("headline")) == V{"Beatles reunion", "Election", "Lennon returns", "Soup"});

    Q five("rating", 5);
    Q either = five | Q("rating", 1);  // an lvalue operand is copied, not moved from
    REQUIRE(five.leaf());
    CHECK(five.leaf()->path() == "rating");
    CHECK(names(five) == V{"Lennon returns"});
    CHECK(names(either) == V{"Lennon returns", "Soup"});
    Q all = (Q("rating", 5) | Q("rating", 1)) | Q("rating", 2);  // flattened into one node of three
    CHECK(all.children().size() == 3);
    CHECK(names(all) == V{"Election", "Lennon returns", "Soup"});
    Q q = five;
    q |= Q("rating", 1);
    q &= ~Q("headline", "Soup");
    CHECK(names(q) == V{"Lennon returns"});
    q ^= Q("rating", 1);
    CHECK(names(q) == V{"Lennon returns", "Soup"});
    CHECK(names(five) == V{"Lennon returns"});
}

TEST_CASE("a chain of calls changes its temporaries' query in place; a query shared or evaluated is copied",
          "[queryset]") {
    test::BlogData data;
    // A temporary that alone holds its query, which nothing evaluated: changed in place, and its recipe is whole.
    // (Addresses are compared after one call each: a block freed by a copy may be the next copy's.)
    auto first = Entry::objects().filter("rating__gte", 2);
    const dorm::sql::Query* before = &first.query();
    auto ordered = std::move(first).order_by("-rating");
    CHECK(&ordered.query() == before);
    CHECK(first.count() == 0);  // moved from: empty, none(), and a write on it writes nothing
    CHECK(first.delete_().total == 0);
    CHECK(first.update({{"rating", 0}}) == 0);
    auto chained = std::move(ordered).slice(1, 3);
    CHECK(&chained.query() == before);
    CHECK(headlines(chained) == V{"Pancakes", "Beatles reunion"});

    // The same chain built again and again, with other values: each finds its statement and binds its own values.
    for (int min : {5, 4, 3, 2, 5}) {
        INFO("rating__gte " << min);
        auto page = Entry::objects().filter("rating__gte", min).exclude("headline", "Soup").order_by("headline").slice(0, 2);
        const auto filtered = Entry::objects().filter("rating__gte", min);  // each call on a named QuerySet: copies
        const auto excluded = filtered.exclude("headline", "Soup");
        const auto ordered = excluded.order_by("headline");
        CHECK(headlines(page) == headlines(ordered.slice(0, 2)));
        CHECK(page.dumps() == ordered.slice(0, 2).dumps());
    }

    // Shared with another QuerySet: copied, and the other keeps its rows.
    auto shared = Entry::objects().filter("rating__gte", 3);
    const auto copy = shared;
    auto narrowed = std::move(shared).filter("rating__lte", 4);
    CHECK(&narrowed.query() != &copy.query());
    CHECK(headlines(copy.order_by("headline")) == V{"Beatles reunion", "Lennon returns", "Pancakes"});
    CHECK(headlines(narrowed.order_by("headline")) == V{"Beatles reunion", "Pancakes"});

    // Seen by an evaluation (its connection may know the query object): copied.
    auto evaluated = Entry::objects().filter("rating__gte", 3);
    CHECK(evaluated.count() == 3);
    const dorm::sql::Query* seen = &evaluated.query();
    auto after = std::move(evaluated).order_by("-rating");
    CHECK(&after.query() != seen);
    CHECK(headlines(after) == V{"Lennon returns", "Pancakes", "Beatles reunion"});

    // Moved from but shared: not taken, so the copy sharing its query and results keeps its rows.
    auto a = Entry::objects().filter("rating__gte", 3);
    const auto b = a;
    auto c = std::move(a).filter("rating__lte", 4);
    CHECK(a.size() == 3);
    CHECK(b.size() == 3);
    CHECK(c.size() == 2);

    // Moved from after its rows were loaded: not taken, it keeps its query and its rows.
    auto loaded = Entry::objects().filter("rating__gte", 3);
    CHECK(loaded.size() == 3);
    auto reordered = std::move(loaded).order_by("headline");
    CHECK(loaded.size() == 3);
    CHECK(headlines(reordered) == V{"Beatles reunion", "Lennon returns", "Pancakes"});

    // A call that fails on a temporary leaves nothing half-built behind for the next query.
    auto failing = Entry::objects().filter("rating__gte", 3);
    CHECK_THROWS_AS(std::move(failing).filter(std::string("blog__no_such_field"), 1), dorm::FieldError);
    CHECK(failing.count() == 0);  // taken before the call failed
    CHECK(Entry::objects().filter("rating__gte", 3).count() == 3);
    CHECK(Entry::objects().count() == 5);
}

TEST_CASE("order_by, the model's default ordering, reverse() and ordered()", "[queryset]") {
    test::BlogData data;
    CHECK(headlines(Entry::objects().order_by("rating")) ==
          V{"Soup", "Election", "Beatles reunion", "Pancakes", "Lennon returns"});
    CHECK(headlines(Entry::objects().order_by("-pub_date")) ==
          V{"Election", "Soup", "Beatles reunion", "Lennon returns", "Pancakes"});
    CHECK(headlines(Entry::objects().order_by("blog", "-rating")) ==
          V{"Lennon returns", "Beatles reunion", "Pancakes", "Soup", "Election"});
    CHECK(headlines(Entry::objects().order_by("rating").reverse()) ==
          V{"Lennon returns", "Pancakes", "Beatles reunion", "Election", "Soup"});
    CHECK(headlines(Entry::objects().order_by("rating").reverse().reverse()) ==
          V{"Soup", "Election", "Beatles reunion", "Pancakes", "Lennon returns"});
    // order_by() replaces earlier ordering.
    CHECK(headlines(Entry::objects().order_by("rating").order_by("headline")).front() == "Beatles reunion");
    CHECK(Entry::objects().order_by("?").size() == 5);
    CHECK(Entry::objects().order_by("?").sql().find("RANDOM()") != std::string::npos);

    CHECK(!Entry::objects().all().ordered());
    CHECK(Entry::objects().order_by("rating").ordered());
    CHECK(Entry::objects().none().ordered());
}

TEST_CASE("a model's default ordering applies until order_by() clears it", "[queryset]") {
    test::Database db;
    Country::objects().create({{"code", "fr"}, {"name", "France"}, {"population", 68}});
    Country::objects().create({{"code", "de"}, {"name", "Germany"}, {"population", 84}});
    Country::objects().create({{"code", "mt"}, {"name", "Malta"}, {"population", 68}});
    auto names = [](auto qs) {
        std::vector<std::string> out;
        for (const auto& c : qs) out.push_back(c.name);
        return out;
    };
    CHECK(Country::objects().ordered());
    CHECK(names(Country::objects().all()) == V{"Germany", "France", "Malta"});
    CHECK(names(Country::objects().reverse()) == V{"Malta", "France", "Germany"});
    CHECK(names(Country::objects().order_by("name")) == V{"France", "Germany", "Malta"});
    CHECK(!Country::objects().order_by().ordered());
    CHECK(Country::objects().order_by().sql().find("ORDER BY") == std::string::npos);
}

TEST_CASE("transaction_pooling keeps no server-side state outside a transaction (PostgreSQL behind pgbouncer)",
          "[queryset]") {
    test::BlogData data;
    if (!test::is_postgresql()) return;  // a PostgreSQL URL option
    dorm::databases().add("pooled", test::database_url("transaction_pooling=true"));
    // The cursors the connection has open while it iterates: name and whether it outlives its transaction.
    auto cursors = [](const char* alias) {
        std::vector<bool> holdable;
        auto c = dorm::databases()[alias].connection().query("SELECT is_holdable FROM pg_cursors WHERE name LIKE 'dorm_cursor_%'", {});
        while (c->next()) holdable.push_back(c->row()[0].i != 0);
        return holdable;
    };
    auto& conn = dorm::databases()["pooled"].connection();
    const auto prepared = conn.statements_prepared();
    CHECK(Entry::objects().using_("pooled").filter("rating__gte", 3).count() == 3);
    CHECK(conn.statements_prepared() == prepared);  // unnamed statements only
    // iterator(): outside a transaction the rows arrive at once, with no cursor; inside one, a cursor that ends
    // with the transaction.
    std::size_t n = 0;
    for (const auto& e : Entry::objects().using_("pooled").iterator(2)) {
        (void)e;
        if (n++ == 0) CHECK(cursors("pooled").empty());
    }
    CHECK(n == 5);
    dorm::atomic(
        [&] {
            std::size_t m = 0;
            for (const auto& e : Entry::objects().using_("pooled").iterator(2)) {
                (void)e;
                if (m++ == 0) CHECK(cursors("pooled") == std::vector<bool>{false});
            }
            CHECK(m == 5);
        },
        "pooled");
    if (test::database_url().find("transaction_pooling=true") == std::string::npos) {
        // Directly on the server, without the option: named statements and a holdable cursor.
        for (const auto& e : Entry::objects().iterator(2)) {
            (void)e;
            CHECK(cursors("default") == std::vector<bool>{true});
            break;
        }
        const auto before = dorm::databases()["default"].connection().statements_prepared();
        (void)Entry::objects().filter("rating__gte", 1234).count();
        CHECK(dorm::databases()["default"].connection().statements_prepared() == before + 1);
    }
    CHECK_THROWS_AS(dorm::databases().add("bad", test::database_url("transaction_pooling=yes")).connection(),
                    dorm::InterfaceError);
    dorm::databases().remove("pooled");
}
