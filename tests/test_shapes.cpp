// SPDX-License-Identifier: MIT
// Query shapes: a connection compiles the statement of each QuerySet shape once and binds the values of every later
// query of that shape. No two shapes may share a statement, and every value must reach its parameter.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <set>
#include <thread>

using dorm::Date;
using dorm::Q;

namespace {

dorm::backends::Connection& conn() { return dorm::databases()["default"].connection(); }

/// After one evaluation that saw `rows` rows (counted up to `cap`): the one statement that ran is `expected` (none
/// when it matches nothing), and running `expected` uncached gives as many rows.
void check_ran(const dorm::CaptureQueries& queries, const dorm::sql::Compiled& expected, bool empty, std::size_t rows,
               std::size_t cap) {
    if (expected.nothing || empty) {
        CHECK(queries.size() == 0);
        CHECK(rows == 0);
        return;
    }
    REQUIRE(queries.size() == 1);
    CHECK(queries[0].sql == expected.sql);
    CHECK(queries[0].params == expected.params);
    std::size_t uncached = 0;
    for (auto cursor = conn().query(expected.sql, expected.params); cursor->next();) ++uncached;
    CHECK(rows == std::min(uncached, cap));
}

/// Evaluates `make()` (a fresh QuerySet each time) and checks that the statement that ran is the one compiling its
/// query would give, with the same parameters, and the rows the same as the uncached statement's.
template <class QS>
void check_runs_own_statement(const std::function<QS()>& make) {
    QS qs = make();
    auto expected = dorm::sql::compile_select(qs.query(), conn().dialect());
    dorm::CaptureQueries queries;
    const std::size_t rows = qs.size();
    check_ran(queries, expected, qs.query().empty, rows, rows);
}

/// check_runs_own_statement() for get(): the statement get() runs on `make()` is the one compiling get()'s query
/// (no ordering, at most 21 rows unless sliced) gives, and get()'s outcome agrees with that statement's rows.
template <class QS>
void check_get_runs_own_statement(const std::function<QS()>& make) {
    QS qs = make();
    auto q = qs.query();
    if (!q.is_sliced()) {
        q.order_by.clear();
        q.default_ordering = false;
        q.set_limits(std::nullopt, 21);
    }
    auto expected = dorm::sql::compile_select(q, conn().dialect());
    dorm::CaptureQueries queries;
    std::size_t rows = 2;  // what get() saw: none, one, or more
    try {
        qs.get();
        rows = 1;
    } catch (const dorm::ObjectDoesNotExist&) {
        rows = 0;
    } catch (const dorm::MultipleObjectsReturned&) {
    }
    check_ran(queries, expected, q.empty, rows, 2);
}

}  // namespace

TEST_CASE("a QuerySet shape compiles once per connection; later queries of the shape bind their own values", "[shapes]") {
    test::BlogData data;
    auto& shapes = conn().shapes;
    auto page = [](int rating) { return Entry::objects().filter("rating__gte", rating).order_by("id"); };
    const auto before = shapes.size();
    CHECK(test::headlines(page(4)) == std::vector<std::string>{"Lennon returns", "Pancakes"});
    CHECK(shapes.size() == before + 1);
    const auto hits = shapes.hits();
    CHECK(test::headlines(page(3)) == std::vector<std::string>{"Lennon returns", "Beatles reunion", "Pancakes"});
    CHECK(test::headlines(page(5)) == std::vector<std::string>{"Lennon returns"});
    CHECK(shapes.size() == before + 1);
    CHECK(shapes.hits() == hits + 2);
    // count(), exists() and get() are shapes of their own.
    CHECK(Entry::objects().filter("rating__gte", 4).count() == 2);
    CHECK(Entry::objects().filter("rating__gte", 2).count() == 4);
    CHECK(Entry::objects().filter("rating__gte", 6).exists() == false);
    CHECK(Entry::objects().filter("rating__gte", 5).exists() == true);
    CHECK(Entry::objects().get("pk", data.beatles.id).blog.id() == data.beatles.id);
    for (const auto& e : Entry::objects().all()) CHECK(Entry::objects().get("pk", e.id).headline == e.headline);
    CHECK_THROWS_AS(Entry::objects().get("pk", std::int64_t{999999}), Entry::DoesNotExist);
    CHECK(shapes.size() == before + 5);  // the page, count(), exists(), get() and all()
}

TEST_CASE("queries that differ in anything but their values never share a statement", "[shapes]") {
    test::BlogData data;
    data.add(data.news, "100% sure", Date(2009, 1, 1), 0, 0, 0, std::nullopt);
    data.add(data.news, "snake_case", Date(2009, 1, 2), 3, 0, 0, "");
    const std::int64_t b = data.beatles.id, c = data.cooking.id;
    using QS = decltype(Entry::objects());
    std::vector<std::function<QS()>> shapes = {
        // a lookup, a transform, a join
        [] { return Entry::objects().filter("rating", 3); },
        [] { return Entry::objects().filter("rating__gte", 3); },
        [] { return Entry::objects().filter("rating__lt", 3); },
        [] { return Entry::objects().filter("pub_date__year", 2005); },
        [] { return Entry::objects().filter("pub_date__month", 3); },
        [] { return Entry::objects().filter("blog__name", "Cooking"); },
        [] { return Entry::objects().filter("headline", "Cooking"); },
        // None against a value, zero and empty values, a value's sign
        [] { return Entry::objects().filter("rating_note", std::nullopt); },
        [] { return Entry::objects().filter("rating_note", "solid"); },
        [] { return Entry::objects().filter("rating_note", ""); },
        [] { return Entry::objects().filter("rating", 0); },
        [] { return Entry::objects().filter("rating__gt", -1); },
        [] { return Entry::objects().filter("rating__gt", 1); },
        // an `in` list's length
        [=] { return Entry::objects().filter("blog__in", {b}); },
        [=] { return Entry::objects().filter("blog__in", {b, c}); },
        [] { return Entry::objects().filter("blog__in", std::vector<std::int64_t>{}); },
        // patterns, whose values are escaped (a wildcard in the value must stay a character)
        [] { return Entry::objects().filter("headline__contains", "sure"); },
        [] { return Entry::objects().filter("headline__contains", "0%"); },
        [] { return Entry::objects().filter("headline__iexact", "SNAKE_CASE"); },
        [] { return Entry::objects().filter("headline__iexact", "snake%case"); },
        [] { return Entry::objects().filter("headline__startswith", "L"); },
        [] { return Entry::objects().filter("headline__startswith", "P"); },
        // conditions combined otherwise, negated
        [] { return Entry::objects().filter(Q("rating", 3) | Q("rating", 5)); },
        [] { return Entry::objects().filter(Q("rating", 3) & Q("rating", 5)); },
        [] { return Entry::objects().exclude("rating", 3); },
        [] { return Entry::objects().filter("rating", 3).filter("rating", 5); },
        // slices, order, select list
        [] { return Entry::objects().order_by("id").slice(0, 2); },
        [] { return Entry::objects().order_by("id").slice(0, 3); },
        [] { return Entry::objects().order_by("id").slice(1, 3); },
        [] { return Entry::objects().order_by("-id").slice(1, 3); },
        [] { return Entry::objects().order_by("id").reverse().slice(1, 3); },
        [] { return Entry::objects().select_related("blog").filter("rating", 3); },
        [] { return Entry::objects().defer("body_text").filter("rating", 3); },
        [] { return Entry::objects().filter("rating", 3).distinct(); },
        [] { return Entry::objects().none(); },
    };
    // Twice through, each query made again: the second time every shape is known, and must give its own statement.
    for (int round = 0; round < 2; ++round) {
        const auto hits = conn().shapes.hits();
        for (std::size_t i = 0; i < shapes.size(); ++i) {
            INFO("round " << round << ", query " << i);
            check_runs_own_statement(shapes[i]);
        }
        // Most statements are reused (not those whose text or parameters depend on their values: patterns, SQLite's
        // year ranges); none() runs nothing.
        if (round == 1) CHECK(conn().shapes.hits() - hits >= 24);
    }
    // get() on each of them: a shape of its own (no ordering, get()'s limit), never another query's statement.
    for (int round = 0; round < 2; ++round)
        for (std::size_t i = 0; i < shapes.size(); ++i) {
            INFO("get(), round " << round << ", query " << i);
            check_get_runs_own_statement(shapes[i]);
        }
    // The same shapes with other values bind those values.
    check_runs_own_statement<QS>([] { return Entry::objects().filter("rating", 4); });
    check_runs_own_statement<QS>([] { return Entry::objects().filter("headline__contains", "e_c"); });
    check_runs_own_statement<QS>([] { return Entry::objects().filter("headline__iexact", "LENNON RETURNS"); });
    check_runs_own_statement<QS>([=] { return Entry::objects().filter("blog__in", {c, b}); });
    check_runs_own_statement<QS>([] { return Entry::objects().filter("rating_note", "thin"); });
}

TEST_CASE("startswith compiles once and binds each value's own bound; a value without one is compiled", "[shapes]") {
    test::BlogData data;
    using QS = decltype(Entry::objects());
    auto starting = [](std::string prefix) {
        return std::function<QS()>([prefix] { return Entry::objects().filter("headline__startswith", prefix); });
    };
    // SQLite runs startswith as a range, `>= value AND < the value's successor`: the successor is bound anew for
    // each value ("Lennon" -> "Lennoo", "L\xff" -> "M"); PostgreSQL binds the LIKE-escaped "value%".
    for (int round = 0; round < 2; ++round)
        for (const char* p : {"L", "Pan", "Lennon", "Lennon returns", "Z", "%", "P_"}) {
            INFO("round " << round << ", prefix " << p);
            check_runs_own_statement(starting(p));
        }
    const auto hits = conn().shapes.hits();
    CHECK(test::headlines(Entry::objects().filter("headline__startswith", "Pan")) == std::vector<std::string>{"Pancakes"});
    CHECK(test::headlines(Entry::objects().filter("headline__startswith", "Lennon ")) ==
          std::vector<std::string>{"Lennon returns"});
    CHECK(conn().shapes.hits() == hits + 2);
    if (test::is_postgresql()) return;  // text holds valid UTF-8 there, which never ends in 0xff
    // No string starting with "\xff\xff" has one (the range is `>= value` alone): another statement, compiled now,
    // after the shape was learned with a value that has one. "L\xff"'s successor is "M".
    for (const char* p : {"\xff\xff", "L\xff", "\xff"}) {
        INFO("prefix of " << std::string_view(p).size() << " bytes");
        check_runs_own_statement(starting(p));
    }
    // A statement found but not used (no successor to bind for "\xff") is no hit.
    auto count = [](const char* prefix) { return Entry::objects().filter("headline__startswith", prefix).count(); };
    CHECK(count("Le") == 1);  // learns count()'s statement
    const auto before = conn().shapes.hits();
    CHECK(count("\xff") == 0);
    CHECK(conn().shapes.hits() == before);
    CHECK(count("Pa") == 1);
    CHECK(conn().shapes.hits() == before + 1);
}

TEST_CASE("an index or get() on a QuerySet is not its iteration's statement", "[shapes]") {
    test::BlogData data;
    auto qs = [] { return Entry::objects().filter("rating__gte", 1).order_by("id"); };
    CHECK(qs().size() == 5);                 // learns the iteration's statement
    CHECK(qs()[1].headline == "Beatles reunion");  // a slice set on a copy of the same query
    CHECK(qs().size() == 5);
    CHECK_THROWS_AS(qs().get(), Entry::MultipleObjectsReturned);  // get()'s limit, likewise
    CHECK(qs().size() == 5);
    CHECK(qs().count() == 5);
    CHECK(qs().first()->headline == "Lennon returns");
    CHECK(qs().last()->headline == "Election");
}

TEST_CASE("the shape cache keeps at most its capacity, dropping the least recently used", "[shapes]") {
    dorm::backends::ShapeCache cache;
    dorm::backends::CompiledShape s;
    s.cacheable = true;
    for (std::size_t i = 0; i < dorm::backends::ShapeCache::capacity + 10; ++i) {
        s.sql = "SELECT " + std::to_string(i);
        cache.add("key " + std::to_string(i), s);
        if (i % 2 == 0) CHECK(cache.find("key 0") != nullptr);  // used again and again: kept
    }
    CHECK(cache.size() == dorm::backends::ShapeCache::capacity);
    REQUIRE(cache.find("key 0") != nullptr);
    CHECK(cache.find("key 0")->sql == "SELECT 0");
    CHECK(cache.find("key 1") == nullptr);  // the oldest unused ones went
    CHECK(cache.find("key 265")->sql == "SELECT 265");
}

TEST_CASE("a cached shape still refuses what compiling would: a NUL in a pattern", "[shapes]") {
    test::BlogData data;
    CHECK(Entry::objects().filter("headline__contains", "e").count() == 4);  // the shape, learned
    CHECK(Entry::objects().filter("headline__contains", "Pan").count() == 1);
    CHECK_THROWS_AS(Entry::objects().filter("headline__contains", std::string("a\0b", 3)).count(), dorm::ValueError);
}

TEST_CASE("a QuerySet keeps the lookups it was built with, whatever was registered since", "[shapes]") {
    test::BlogData data;
    static constexpr dorm::CustomLookup less{
        .name = "gt", .on = dorm::FieldKinds::integers(), .sql = "{lhs} < {rhs}", .replace = true};
    auto built_before = Entry::objects().filter("rating__gt", 2).order_by("id");
    dorm::ScopedLookup flipped(less);
    // The same shape built now means rating < 2, and is learned first.
    CHECK(test::headlines(Entry::objects().filter("rating__gt", 2).order_by("id")) == std::vector<std::string>{"Soup"});
    CHECK(test::headlines(Entry::objects().filter("rating__gt", 3).order_by("id")) ==
          (std::vector<std::string>{"Soup", "Election"}));
    CHECK(test::headlines(built_before) == (std::vector<std::string>{"Lennon returns", "Beatles reunion", "Pancakes"}));
}

TEST_CASE("a query evaluated again keeps its shape key; objects().using_(alias) is one query per alias", "[shapes]") {
    test::BlogData data;
    auto& shapes = conn().shapes;
    // The same QuerySet counted again and again: its key is written, then kept; each count binds the same value.
    const auto kept = Entry::objects().filter("rating__gte", 4);
    auto hits = shapes.hits();
    for (int i = 0; i < 4; ++i) CHECK(kept.count() == 2);
    CHECK(shapes.hits() - hits == 3);
    CHECK(Entry::objects().filter("rating__gte", 2).count() == 4);  // a new query of the shape: its own value
    // using_() on objects() hands out one query per model and alias, routed where it says.
    const auto a = Entry::objects().using_("default");
    const auto b = Entry::objects().using_("default");
    CHECK(&a.query() == &b.query());
    CHECK(&Blog::objects().using_("default").query() != static_cast<const void*>(&a.query()));
    CHECK(*Entry::objects().using_("other").query().db == "other");
    CHECK(a.dumps() == Entry::objects().all().using_("default").dumps());
    CHECK(Entry::objects().using_("default").filter("rating__gte", 4).count() == 2);
    // After a lookup is registered, a new query: calls of one generation still make a shape (learned, then hit).
    static constexpr dorm::CustomLookup same{
        .name = "atleast", .on = dorm::FieldKinds::integers(), .sql = "{lhs} >= {rhs}"};
    dorm::ScopedLookup registered(same);
    CHECK(&Entry::objects().using_("default").query() != &a.query());
    CHECK(Entry::objects().using_("default").filter(dorm::runtime("rating__atleast"), 4).count() == 2);
    hits = shapes.hits();
    CHECK(Entry::objects().using_("default").filter(dorm::runtime("rating__atleast"), 2).count() == 4);
    CHECK(Entry::objects().using_("default").filter("rating__gte", 5).count() == 1);
    CHECK(shapes.hits() - hits == 1);
}

TEST_CASE("refresh_from_db(fields) reads the fields it names, whichever it named before", "[shapes]") {
    test::BlogData data;
    Entry e = Entry::objects().get("headline", "Pancakes");
    e.headline = "changed";
    e.rating = 99;
    e.refresh_from_db({.fields = {"headline", "rating"}});
    CHECK(e.headline == "Pancakes");
    CHECK(e.rating == 4);
    e.rating = 99;
    e.number_of_comments = 99;
    e.refresh_from_db({.fields = {"number_of_comments", "rating"}});  // as many fields, others
    CHECK(e.rating == 4);
    CHECK(e.number_of_comments == 3);
}

TEST_CASE("update() and delete_() compile once per shape and bind each call's values", "[shapes]") {
    test::BlogData data;
    auto& shapes = conn().shapes;
    auto rating_of = [](const char* headline) { return Entry::objects().get("headline", headline).rating; };
    // The value set and the value filtered on are the same field: each must reach its own parameter.
    CHECK(Entry::objects().filter("rating", 5).update({{"rating", 50}}) == 1);
    auto hits = shapes.hits();
    CHECK(Entry::objects().filter("rating", 3).update({{"rating", 30}}) == 1);
    CHECK(Entry::objects().filter("rating", 50).update({{"rating", 5}}) == 1);
    CHECK(shapes.hits() - hits >= 2);
    CHECK(rating_of("Lennon returns") == 5);
    CHECK(rating_of("Beatles reunion") == 30);
    CHECK(Entry::objects().filter("rating", 999).update({{"rating", 1}}) == 0);

    // The same value filtered on and set.
    CHECK(Entry::objects().filter("rating", 4).update({{"rating", 4}}) == 1);
    hits = shapes.hits();
    CHECK(Entry::objects().filter("rating", 30).update({{"rating", 30}}) == 1);
    CHECK(shapes.hits() - hits >= 1);

    // Other fields, None (part of the shape: bound as it is), several fields at once: shapes of their own, each
    // binding its values in its order.
    CHECK(Entry::objects().filter("rating__gte", 30).update({{"rating_note", "x"}}) == 1);
    CHECK(Entry::objects().filter("rating__gte", 30).update({{"rating_note", std::nullopt}}) == 1);
    hits = shapes.hits();
    CHECK(Entry::objects().filter("rating__gte", 4).update({{"rating_note", std::nullopt}}) == 3);
    CHECK(shapes.hits() - hits >= 1);
    CHECK(Entry::objects().filter("rating_note__isnull", true).count() == 4);
    CHECK(Entry::objects().filter("rating__lt", 4).update({{"rating_note", "low"}, {"number_of_comments", 11}}) == 2);
    hits = shapes.hits();
    CHECK(Entry::objects().filter("rating__lt", 5).update({{"rating_note", "mid"}, {"number_of_comments", 22}}) == 3);
    CHECK(shapes.hits() - hits >= 1);
    CHECK(Entry::objects().filter("rating__gte", 5).update({{"number_of_comments", 33}, {"rating_note", "HIGH"}}) == 2);
    for (const auto& e : Entry::objects().all()) {
        INFO(e.headline);
        CHECK(e.rating_note == std::optional<std::string>(e.rating >= 5 ? "HIGH" : "mid"));
        CHECK(e.number_of_comments == (e.rating >= 5 ? 33 : 22));
    }
    // A value the field refuses is refused before any statement (None for a NOT NULL column by the database, when
    // the UPDATE matches a row); F() is compiled each time, and right.
    CHECK_THROWS_AS(Entry::objects().filter("rating__gte", 4).update({{"number_of_comments", "many"}}), dorm::TypeError);
    CHECK_THROWS_AS(Entry::objects().filter("rating__gte", 4).update({{"headline", std::nullopt}}), dorm::IntegrityError);
    // Matching no row, it changes nothing and is no error (Django's UPDATE of no rows).
    CHECK(Entry::objects().filter("rating__gte", 400).update({{"headline", std::nullopt}}) == 0);
    CHECK(Entry::objects().none().update({{"headline", std::nullopt}}) == 0);
    CHECK(Entry::objects().filter("rating", 1).update({{"rating", dorm::F("rating") + 1}}) == 1);
    CHECK(Entry::objects().filter("rating", 2).update({{"rating", dorm::F("rating") + 10}}) == 2);
    CHECK(rating_of("Soup") == 12);

    // delete_() on a model nothing refers to (no collection first): the same statement, each call's values.
    auto fr = Country::objects().create({{"code", "fr"}, {"name", "France"}});
    for (const char* name : {"Paris", "Lyon", "Nice", "Lille"}) City::objects().create({{"country", fr.code}, {"name", name}});
    CHECK(City::objects().filter("name", "Lyon").delete_().total == 1);
    hits = shapes.hits();
    CHECK(City::objects().filter("name", "Nice").delete_().total == 1);
    CHECK(City::objects().filter("name", "Rome").delete_().total == 0);
    CHECK(shapes.hits() - hits >= 2);
    std::vector<std::string> left;
    for (const auto& c : City::objects().order_by("name")) left.push_back(c.name);
    CHECK(left == std::vector<std::string>{"Lille", "Paris"});
}

TEST_CASE("update() with F() expressions compiles once per structure and binds the values inside them", "[shapes]") {
    test::BlogData data;
    auto& shapes = conn().shapes;
    auto rating_of = [](const char* headline) { return Entry::objects().get("headline", headline).rating; };
    using dorm::F;
    // The number added and the number filtered on: each reaches its own parameter, call after call.
    CHECK(Entry::objects().filter("rating__gte", 4).update({{"rating", F("rating") + 4}}) == 2);  // 5, 4 -> 9, 8
    auto hits = shapes.hits();
    CHECK(Entry::objects().filter("rating__gte", 9).update({{"rating", F("rating") + 100}}) == 1);  // 9 -> 109
    CHECK(Entry::objects().filter("rating__gte", 500).update({{"rating", F("rating") + 1}}) == 0);
    CHECK(Entry::objects().filter("rating__gte", 3).update({{"rating", F("rating") + 3}}) == 3);  // 109, 3, 8 -> 112, 6, 11
    CHECK(shapes.hits() - hits >= 3);
    CHECK(rating_of("Lennon returns") == 112);
    CHECK(rating_of("Beatles reunion") == 6);
    CHECK(rating_of("Pancakes") == 11);
    CHECK(rating_of("Soup") == 1);
    CHECK(rating_of("Election") == 2);

    // Another structure is another shape; values that are part of a shape (zero) and several values inside one
    // expression, with plain values beside it, each land where they belong.
    CHECK(Entry::objects().filter("rating__lt", 3).update({{"rating", F("rating") * 2 - 1}}) == 2);  // 1, 2 -> 1, 3
    hits = shapes.hits();
    CHECK(Entry::objects().filter("rating__lt", 2).update({{"rating", F("rating") * 7 - 2}}) == 1);  // 1 -> 5
    CHECK(shapes.hits() - hits >= 1);
    CHECK(rating_of("Soup") == 5);
    CHECK(rating_of("Election") == 3);
    CHECK(Entry::objects().filter("rating", 5).update({{"rating", F("rating") + 0}}) == 1);
    CHECK(Entry::objects().filter("rating", 5).update({{"rating", F("rating") + 20}}) == 1);  // 5 -> 25
    CHECK(rating_of("Soup") == 25);
    CHECK(Entry::objects().filter("headline", "Soup").update({{"rating_note", "thick"}, {"rating", F("rating") - 5},
                                                              {"number_of_comments", F("number_of_pingbacks") + 2}}) == 1);
    hits = shapes.hits();
    CHECK(Entry::objects().filter("headline", "Election").update({{"rating_note", "close"}, {"rating", F("rating") - 1},
                                                                  {"number_of_comments", F("number_of_pingbacks") + 5}}) == 1);
    CHECK(shapes.hits() - hits >= 1);
    auto soup = Entry::objects().get("headline", "Soup");
    auto election = Entry::objects().get("headline", "Election");
    CHECK(soup.rating == 20);
    CHECK(soup.rating_note == std::optional<std::string>("thick"));
    CHECK(soup.number_of_comments == 2);
    CHECK(election.rating == 2);
    CHECK(election.rating_note == std::optional<std::string>("close"));
    CHECK(election.number_of_comments == 14);
    // A string inside a function: bound per call.
    CHECK(Entry::objects().filter("headline", "Soup").update({{"rating_note", dorm::Concat(F("rating_note"), dorm::Value("!"))}}) == 1);
    CHECK(Entry::objects().filter("headline", "Soup").update({{"rating_note", dorm::Concat(F("rating_note"), dorm::Value("?"))}}) == 1);
    CHECK(Entry::objects().get("headline", "Soup").rating_note == std::optional<std::string>("thick!?"));
}

TEST_CASE("prefetch_related() queries compile once per shape and number of keys", "[shapes]") {
    test::BlogData data;
    auto& shapes = conn().shapes;
    // Each blog with its entries' headlines, and each entry with its blog's name, as loaded.
    auto reverse = [](const auto& qs) {
        std::vector<std::string> out;
        for (const auto& b : qs) {
            std::string line = b.name + ":";
            for (const auto& e : dorm::prefetched<Entry>(b, "entry_set")) line += " " + e.headline;
            out.push_back(line);
        }
        return out;
    };
    const std::vector<std::string> all_blogs{"Beatles Blog: Lennon returns Beatles reunion", "Cooking: Pancakes Soup",
                                             "News: Election"};
    auto blogs = [] { return Blog::objects().order_by("name").prefetch_related("entry_set"); };
    CHECK(reverse(blogs()) == all_blogs);  // learns the blogs' statement and the entries'
    auto hits = shapes.hits();
    CHECK(reverse(blogs()) == all_blogs);
    CHECK(shapes.hits() - hits == 2);
    // Two blogs: two keys, a shape of its own, then bound to other keys.
    CHECK(reverse(blogs().exclude("name", "Beatles Blog")) == std::vector<std::string>{"Cooking: Pancakes Soup", "News: Election"});
    hits = shapes.hits();
    CHECK(reverse(blogs().exclude("name", "News")) ==
          std::vector<std::string>{"Beatles Blog: Lennon returns Beatles reunion", "Cooking: Pancakes Soup"});
    CHECK(shapes.hits() - hits == 2);

    // A Prefetch QuerySet that leaves out the key rows are matched by (only()): loaded anyway, and learned so.
    auto only = [] {
        return Blog::objects().order_by("name").prefetch_related(
            dorm::Prefetch("entry_set", Entry::objects().only("headline").order_by("headline")));
    };
    const std::vector<std::string> sorted_blogs{"Beatles Blog: Beatles reunion Lennon returns", "Cooking: Pancakes Soup",
                                                "News: Election"};
    CHECK(reverse(only()) == sorted_blogs);
    hits = shapes.hits();
    CHECK(reverse(only()) == sorted_blogs);
    CHECK(shapes.hits() - hits == 2);

    // The forward direction: each entry's blog, by the blogs' keys.
    auto entries = [](int rating) {
        std::vector<std::string> out;
        for (const auto& e : Entry::objects().filter("rating__gte", rating).order_by("headline").prefetch_related("blog"))
            out.push_back(e.headline + "/" + e.blog->name);
        return out;
    };
    CHECK(entries(4) == std::vector<std::string>{"Lennon returns/Beatles Blog", "Pancakes/Cooking"});
    hits = shapes.hits();
    CHECK(entries(2) == std::vector<std::string>{"Beatles reunion/Beatles Blog", "Election/News", "Lennon returns/Beatles Blog",
                                                 "Pancakes/Cooking"});
    CHECK(entries(3) == std::vector<std::string>{"Beatles reunion/Beatles Blog", "Lennon returns/Beatles Blog", "Pancakes/Cooking"});
    CHECK(shapes.hits() - hits >= 3);  // the entries twice, the two blogs of entries(3) as entries(4)'s
}

TEST_CASE("save() of loaded objects reuses its UPDATE and binds each object's own values and key", "[shapes]") {
    test::BlogData data;
    auto lennon = Entry::objects().get("headline", "Lennon returns");
    auto soup = Entry::objects().get("headline", "Soup");
    auto state = [](const Entry& e) {
        auto f = Entry::objects().get("pk", e.id);
        return fmt::format("{}|{}|{}|{}", f.headline, f.rating, f.rating_note.value_or("NULL"), f.blog.id());
    };
    const auto others = [&] {
        std::vector<std::string> out;
        for (const auto& e : Entry::objects().exclude("pk__in", std::vector<std::int64_t>{lennon.id, soup.id}).order_by("id"))
            out.push_back(state(e));
        return out;
    };
    const auto untouched = others();
    // The same fields, object after object: each UPDATE lands on its own row with its own values.
    for (int round = 0; round < 3; ++round) {
        lennon.rating = 10 + round;
        lennon.headline = "Lennon " + std::to_string(round);
        soup.rating = 20 + round;
        soup.blog = data.news;
        lennon.save();
        soup.save();
        CHECK(state(lennon) == fmt::format("Lennon {}|{}|NULL|{}", round, 10 + round, data.beatles.id));
        CHECK(state(soup) == fmt::format("Soup|{}|thin|{}", 20 + round, data.news.id));
    }
    // NULL and back: another statement each way, values still their own.
    soup.rating_note = std::nullopt;
    soup.save();
    lennon.rating_note = "back";
    lennon.save();
    CHECK(state(soup) == fmt::format("Soup|22|NULL|{}", data.news.id));
    CHECK(state(lennon) == fmt::format("Lennon 2|12|back|{}", data.beatles.id));
    // update_fields: only those columns, whatever else changed on the object.
    lennon.rating = 99;
    lennon.headline = "not saved";
    lennon.save({.update_fields = {"rating"}});
    soup.rating = 98;
    soup.save({.update_fields = {"rating"}});
    CHECK(state(lennon) == fmt::format("Lennon 2|99|back|{}", data.beatles.id));
    CHECK(state(soup) == fmt::format("Soup|98|NULL|{}", data.news.id));
    CHECK(others() == untouched);
}

TEST_CASE("bulk_create()'s full batches share one text; every row, key and conflict rule still lands", "[shapes]") {
    test::Database db;
    auto make = [](int from, int to, const std::string& tagline) {
        std::vector<Blog> out;
        for (int i = from; i < to; ++i) out.push_back(Blog{.name = fmt::format("b{}", i), .tagline = tagline});
        return out;
    };
    auto taglines = [] {
        std::vector<std::string> out;
        for (const auto& b : Blog::objects().order_by("name")) out.push_back(b.name + "=" + b.tagline);
        return out;
    };
    for (int round = 0; round < 2; ++round) {  // the second round finds the texts the first wrote
        Blog::objects().all().delete_();
        auto saved = Blog::objects().bulk_create(make(0, 7, "t"), {.batch_size = 3});
        REQUIRE(saved.size() == 7);
        for (const auto& b : saved) CHECK(Blog::objects().get("pk", b.id).name == b.name);
        // INSERT ... ON CONFLICT on both backends: batches of 3, 3, 3.
        Blog::objects().bulk_create(make(4, 13, "x"), {.batch_size = 3, .ignore_conflicts = true});
        Blog::objects().bulk_create(make(0, 6, "u"), {.batch_size = 3,
                                                      .update_conflicts = true,
                                                      .update_fields = {"tagline"},
                                                      .unique_fields = {"name"}});
        CHECK(taglines() == std::vector<std::string>{"b0=u", "b1=u", "b10=x", "b11=x", "b12=x", "b2=u", "b3=u", "b4=u",
                                                     "b5=u", "b6=t", "b7=x", "b8=x", "b9=x"});
    }
}

TEST_CASE("delete_() with dependents: each deletion's collection binds its own keys, call after call", "[shapes]") {
    test::BlogData data;
    // Three artists with the same shape of catalogue: deleting one, then another, runs the same statements
    // (one artist, one album, two songs) with other keys; the third artist's rows must survive both.
    std::vector<std::int64_t> artists;
    for (const char* name : {"A", "B", "C"}) {
        auto artist = Artist::objects().create({{"name", name}});
        auto album = Album::objects().create({{"artist", artist.id}, {"name", std::string(name) + " album"}});
        for (const char* song : {"1", "2"})
            Song::objects().create({{"artist", artist.id}, {"album", album.id}, {"name", std::string(name) + song}});
        artists.push_back(artist.id);
    }
    auto songs = [] {
        std::vector<std::string> out;
        for (const auto& s : Song::objects().order_by("name")) out.push_back(s.name);
        return out;
    };
    const std::map<std::string, std::int64_t> one_catalogue{{"Artist", 1}, {"Album", 1}, {"Song", 2}};
    CHECK(Artist::objects().filter("pk", artists[0]).delete_().per_model == one_catalogue);
    CHECK(songs() == std::vector<std::string>{"B1", "B2", "C1", "C2"});
    CHECK(Artist::objects().filter("pk", artists[1]).delete_().per_model == one_catalogue);
    CHECK(songs() == std::vector<std::string>{"C1", "C2"});
    CHECK(Album::objects().get("artist", artists[2]).name == "C album");

    // SET_NULL: each author's reactions lose their author, the other author's keep theirs.
    auto x = Author::objects().create({{"name", "x"}});
    auto y = Author::objects().create({{"name", "y"}});
    auto z = Author::objects().create({{"name", "z"}});
    const auto entry = Entry::objects().get("headline", "Soup").id;
    for (const auto& a : {x, y, z})
        Reaction::objects().create({{"entry", entry}, {"author", a.id}, {"blog", data.cooking.id}, {"kind", a.name}});
    auto authors = [] {
        std::vector<std::string> out;
        for (const auto& r : Reaction::objects().order_by("kind").select_related("author"))
            out.push_back(r.kind + ":" + (r.author ? (*r.author)->name : std::string("NULL")));
        return out;
    };
    Author::objects().filter("pk", x.id).delete_();
    CHECK(authors() == std::vector<std::string>{"x:NULL", "y:y", "z:z"});
    Author::objects().filter("pk", y.id).delete_();
    CHECK(authors() == std::vector<std::string>{"x:NULL", "y:NULL", "z:z"});
}

TEST_CASE("get(field, value) with a value that is part of the shape (zero, empty) learns and rebinds", "[shapes]") {
    test::BlogData data;
    // Zero and the empty string are written into the shape, not bound as its values: learning get()'s statement
    // must pass them to the build as they are.
    for (int round = 0; round < 2; ++round) {
        CHECK_THROWS_AS(Entry::objects().get("rating", 0), Entry::DoesNotExist);
        CHECK_THROWS_AS(Entry::objects().get("headline", ""), Entry::DoesNotExist);
        CHECK(Entry::objects().get("rating", 4).headline == "Pancakes");
        CHECK(Entry::objects().get("headline", "Soup").rating == 1);
    }
}

TEST_CASE("a cached statement of more parameters than fit in place binds them all", "[shapes]") {
    // ShapedStatement keeps up to 8 parameters in place; an `in` list of 12 goes to the heap.
    test::BlogData data;
    std::vector<std::int64_t> ids;
    for (const auto& e : Entry::objects().order_by("id")) ids.push_back(e.id);
    REQUIRE(ids.size() == 5);
    auto keys = [&](std::int64_t shift) {
        std::vector<std::int64_t> out;
        for (std::int64_t i = 0; i < 12; ++i) out.push_back(ids[static_cast<std::size_t>(i) % 5] + shift * 1000 * (i / 5));
        return out;  // the five ids among other keys matching nothing, 12 values in all
    };
    const auto hits = conn().shapes.hits();
    for (int round = 0; round < 3; ++round) {
        INFO("round " << round);
        check_runs_own_statement<decltype(Entry::objects())>([&] { return Entry::objects().filter("pk__in", keys(round + 1)); });
        CHECK(Entry::objects().filter("pk__in", keys(round + 1)).count() == 5);
    }
    CHECK(conn().shapes.hits() - hits >= 4);
}

TEST_CASE("make_node()'s blocks come back to the thread that frees them, a few per size class", "[shapes]") {
    using dorm::detail::pool_allocate;
    using dorm::detail::pool_deallocate;
    // On threads of their own, which start with nothing kept; what a thread keeps is freed when it ends (which
    // LeakSanitizer checks).
    std::thread([] {
        void* a = pool_allocate(40);
        pool_deallocate(a, 40);
        void* b = pool_allocate(48);  // the same class: 33 to 48 bytes
        CHECK(b == a);
        // Sixteen kept per class: the first sixteen of twenty freed come back, the last freed first.
        std::vector<void*> blocks;
        for (int i = 0; i < 20; ++i) blocks.push_back(pool_allocate(64));
        for (void* p : blocks) pool_deallocate(p, 64);
        const std::set<void*> kept(blocks.begin(), blocks.begin() + 16);
        std::vector<void*> again;
        for (int i = 0; i < 16; ++i) again.push_back(pool_allocate(64));
        CHECK(again.front() == blocks[15]);
        CHECK(std::all_of(again.begin(), again.end(), [&](void* p) { return kept.count(p) == 1; }));
        for (void* p : again) pool_deallocate(p, 64);
        pool_deallocate(b, 48);
        void* big = pool_allocate(4096);  // over 1 KiB: the global allocator's
        pool_deallocate(big, 4096);
    }).join();
    // A node made on one thread and dropped on another: its block is kept by the other.
    auto node = dorm::detail::make_node<const std::string>(std::string(100, 'x'));
    std::thread([n = std::move(node)]() mutable {
        CHECK(n->size() == 100);
        n.reset();
        auto next = dorm::detail::make_node<std::string>(std::string(100, 'y'));
        CHECK(*next == std::string(100, 'y'));
    }).join();
}

TEST_CASE("ValueBuffer holds up to N values in place and more on the heap", "[shapes]") {
    dorm::detail::ValueBuffer<2> few;
    few.push_back(dorm::Value(std::int64_t{1}));
    few.push_back(dorm::Value(std::string(40, 'x')));  // a string on the heap, destroyed with the buffer
    CHECK(few.values().size() == 2);
    CHECK(few.values()[1] == dorm::Value(std::string(40, 'x')));
    dorm::detail::ValueBuffer<2> many;
    many.reserve(5);
    for (int i = 0; i < 5; ++i) many.push_back(dorm::Value(std::string(30, static_cast<char>('a' + i))));
    REQUIRE(many.values().size() == 5);
    CHECK(many.values()[4] == dorm::Value(std::string(30, 'e')));
    dorm::detail::ValueBuffer<4> nulls;
    dorm::Value* first = nulls.assign_nulls(3);
    first[2] = dorm::Value(std::int64_t{7});
    CHECK(nulls.values().size() == 3);
    CHECK(nulls.values()[0].is_null());
    CHECK(nulls.values()[2] == dorm::Value(std::int64_t{7}));
    dorm::detail::ValueBuffer<4> none;
    CHECK(none.assign_nulls(0) == nullptr);
    CHECK(none.values().empty());
}

namespace {

/// get(field, value) on `kept` runs the statement compiling get()'s query of kept.filter(field, value) gives.
template <class QS, class V>
void check_kept_get(const QS& kept, const char* field, V value) {
    INFO("get(" << field << ")");
    auto q = kept.filter(dorm::runtime(field), value).query();
    q.order_by.clear();
    q.default_ordering = false;
    q.set_limits(std::nullopt, 21);
    auto expected = dorm::sql::compile_select(q, conn().dialect());
    dorm::CaptureQueries queries;
    std::size_t rows = 2;
    try {
        kept.get(dorm::runtime(field), value);
        rows = 1;
    } catch (const dorm::ObjectDoesNotExist&) {
        rows = 0;
    } catch (const dorm::MultipleObjectsReturned&) {
    }
    check_ran(queries, expected, false, rows, 2);
}

}  // namespace

TEST_CASE("a kept query finds its recent statements without its key, and never another shape's", "[shapes]") {
    test::BlogData data;
    std::vector<std::int64_t> ids;
    for (const auto& e : Entry::objects().order_by("id")) ids.push_back(e.id);
    REQUIRE(ids.size() == 5);
    // One kept query, and more shapes on it than the connection remembers (4): each round must run, for every
    // call, the statement of that call's own shape, with its own values.
    const auto kept = Entry::objects().filter("rating__gte", 1);
    const auto hits = conn().shapes.hits();
    const auto by_fingerprint = conn().shapes.fingerprint_hits();
    for (int round = 0; round < 6; ++round) {
        INFO("round " << round);
        const auto id = ids[static_cast<std::size_t>(round) % ids.size()];
        check_kept_get(kept, "pk", id);
        check_kept_get(kept, "id", id);                             // another name, the same column
        check_kept_get(kept, "pk", -id);                            // another class of value
        check_kept_get(kept, "pk", std::int64_t{1} << 40);          // a value beyond 32 bits
        check_kept_get(kept, "rating", 4 + round % 2);              // another field
        check_kept_get(kept, "headline", round % 2 ? "Soup" : "");  // a value that is part of the shape
        check_kept_get(kept, "rating", 0);
        check_get_runs_own_statement<decltype(Entry::objects())>([&] { return kept; });  // get() runs anew
        check_runs_own_statement<decltype(Entry::objects())>([&] { return kept.all(); });
        CHECK(kept.count() == 5);
        CHECK(kept.get("pk", id).id == id);
    }
    CHECK(conn().shapes.hits() - hits >= 30);
    CHECK(conn().shapes.fingerprint_hits() - by_fingerprint >= 24);  // from the third round on, most of them
    // The model's own kept query, as get(pk) in a loop uses it.
    for (int round = 0; round < 5; ++round)
        for (auto id : ids) CHECK(Entry::objects().get("pk", id).id == id);
}

TEST_CASE("a remembered fingerprint goes with the statement it found", "[shapes]") {
    dorm::backends::ShapeCache cache;
    dorm::backends::CompiledShape s;
    s.cacheable = true;
    s.sql = "SELECT 1";
    const auto& recipe = Entry::objects().query().recipe;
    REQUIRE(recipe);
    dorm::backends::ShapeFingerprint print;
    print.recipe = &recipe;
    print.kind = 'g';
    print.name = "pk";
    cache.add("key", s, &print);
    REQUIRE(cache.find(print) != nullptr);
    CHECK(cache.find(print)->sql == "SELECT 1");
    // Any part that differs is another key.
    const auto filtered = Entry::objects().filter("rating__gte", 1);  // objects()' recipes are one, told by model
    const auto& other_recipe = filtered.query().recipe;
    const int elsewhere = 0;
    const std::vector<std::function<void(dorm::backends::ShapeFingerprint&)>> changes{
        [&](auto& f) { f.recipe = &other_recipe; },
        [&](auto& f) { f.model = &elsewhere; },
        [&](auto& f) { f.dialect = &elsewhere; },
        [](auto& f) { f.generation = 1; },
        [](auto& f) { f.extra_class = "?i+"; },
        [](auto& f) { f.kind = 'G'; },
        [](auto& f) { f.name = "id"; },
        [](auto& f) { f.state[0] = 1; },
        [](auto& f) { f.state[15] = 1; },
    };
    for (std::size_t i = 0; i < changes.size(); ++i) {
        INFO("change " << i);
        auto other = print;
        changes[i](other);
        CHECK(cache.find(other) == nullptr);
    }
    CHECK(cache.find(print) != nullptr);
    // Replaced under its key: the fingerprint no longer finds it (nor the new statement, until remembered).
    s.sql = "SELECT 2";
    cache.add("key", s);
    CHECK(cache.find(print) == nullptr);
    REQUIRE(cache.find("key", &print) != nullptr);
    CHECK(cache.find(print)->sql == "SELECT 2");
    // Dropped as the least recently used: forgotten too.
    for (std::size_t i = 0; i < dorm::backends::ShapeCache::capacity; ++i) cache.add("other " + std::to_string(i), s);
    CHECK(cache.find("key") == nullptr);
    CHECK(cache.find(print) == nullptr);
}

TEST_CASE("a noted shape is recalled by its query object and parts only, and forgotten with its entry", "[shapes]") {
    dorm::backends::ShapeCache cache;
    dorm::backends::CompiledShape s;
    s.cacheable = true;
    s.sql = "SELECT 1";
    const auto& added = cache.add("key", s);
    cache.note(7, 'g', "pk", "?i+", 0, &added);
    REQUIRE(cache.recall(7, 'g', "pk", "?i+", 0) != nullptr);
    CHECK(cache.recall(7, 'g', "pk", "?i+", 0)->sql == "SELECT 1");
    CHECK(cache.recall(8, 'g', "pk", "?i+", 0) == nullptr);  // another query object
    CHECK(cache.recall(7, 'G', "pk", "?i+", 0) == nullptr);  // another kind of statement
    CHECK(cache.recall(7, 'g', "id", "?i+", 0) == nullptr);  // another name
    CHECK(cache.recall(7, 'g', "p", "?i+", 0) == nullptr);
    CHECK(cache.recall(7, 'g', "pk", "?i-", 0) == nullptr);  // another class of value
    CHECK(cache.recall(7, 'g', "pk", nullptr, 0) == nullptr);
    CHECK(cache.recall(7, 'g', "pk", "?i+", 1) == nullptr);  // lookups registered since
    // A shape that is not the one find() or add() just returned is not noted.
    cache.add("other", s);
    cache.note(9, 'g', "pk", nullptr, 0, &added);
    CHECK(cache.recall(9, 'g', "pk", nullptr, 0) == nullptr);
    // Replaced under its key: forgotten (its entry is gone).
    s.sql = "SELECT 2";
    cache.add("key", s);
    CHECK(cache.recall(7, 'g', "pk", "?i+", 0) == nullptr);
    // Dropped as the least recently used: forgotten too.
    const auto& last = *cache.find("key");
    cache.note(7, 'g', "pk", "?i+", 0, &last);
    REQUIRE(cache.recall(7, 'g', "pk", "?i+", 0) != nullptr);
    for (std::size_t i = 0; i < dorm::backends::ShapeCache::capacity; ++i) cache.add("more " + std::to_string(i), s);
    CHECK(cache.find("key") == nullptr);
    CHECK(cache.recall(7, 'g', "pk", "?i+", 0) == nullptr);
}

TEST_CASE("get(pk) of a kept query reuses its statement, also after the connection dropped its statements",
          "[shapes]") {
    test::BlogData data;
    std::vector<std::int64_t> ids;
    std::vector<std::string> headlines;
    for (const auto& e : Entry::objects().order_by("id")) {
        ids.push_back(e.id);
        headlines.push_back(e.headline);
    }
    REQUIRE(ids.size() == 5);
    const auto kept = Entry::objects().all();
    for (auto id : ids) CHECK(kept.get("pk", id).id == id);
    for (auto id : ids) CHECK(kept.get("pk", id).id == id);  // the query's shape text is kept from here on
    const auto prepared = conn().statements_prepared();
    for (int round = 0; round < 3; ++round)
        for (std::size_t i = 0; i < ids.size(); ++i) CHECK(kept.get("pk", ids[i]).headline == headlines[i]);
    CHECK(conn().statements_prepared() == prepared);  // nothing prepared again
    // More statements than the connection keeps: the ones it kept are finalized. The statement remembered for the
    // kept query's shape must not be used after that (AddressSanitizer would see it), but prepared again.
    for (int i = 0; i < 600; ++i) {
        auto cursor = conn().query("SELECT " + std::to_string(i), {});
        REQUIRE(cursor->next());
    }
    for (int round = 0; round < 2; ++round)
        for (auto id : ids) CHECK(kept.get("pk", id).id == id);
    CHECK_THROWS_AS(kept.get("pk", ids.back() + 100), Entry::DoesNotExist);
    // While a cursor holds the statement, get(pk) of the same text runs a copy of it.
    auto outer = Entry::objects().all();
    std::size_t seen = 0;
    for (const auto& e : outer) {
        CHECK(kept.get("pk", e.id).headline == e.headline);
        ++seen;
    }
    CHECK(seen == ids.size());
}

TEST_CASE("get(pk) steps once only where one row per object is certain; a join that repeats rows is still seen",
          "[shapes]") {
    test::BlogData data;
    const auto joined = Blog::objects().filter("entry__rating__gte", 1);  // two Beatles entries: two rows
    for (int round = 0; round < 3; ++round) {
        INFO("round " << round);
        CHECK_THROWS_AS(joined.get("pk", data.beatles.id), Blog::MultipleObjectsReturned);
        CHECK(joined.get("pk", data.news.id).name == "News");
        CHECK_THROWS_AS(Blog::objects().get("pk", data.news.id + 100), Blog::DoesNotExist);
        CHECK(Blog::objects().get("pk", data.cooking.id).name == "Cooking");
        const auto soup = Entry::objects().get("headline", "Soup");
        CHECK(Entry::objects().select_related("blog").get("pk", soup.id).blog->name == "Cooking");
        CHECK_THROWS_AS(Blog::objects().annotate("n", dorm::Count("entry")).get("pk", data.news.id + 100),
                        Blog::DoesNotExist);
        CHECK(Blog::objects().annotate("n", dorm::Count("entry")).get("pk", data.beatles.id).name == "Beatles Blog");
    }
}

TEST_CASE("create() reuses its INSERT's statement; what a statement was given is never read after it is gone",
          "[shapes]") {
    test::BlogData data;
    // Each value on the heap (longer than a string's inline room) and freed before the next create(): SQLite reads
    // the values of create() where they are, and the statement kept in the cache still points at them afterwards.
    auto add = [&](int i) {
        Entry e;
        e.blog = data.cooking;
        e.headline = fmt::format("headline number {} of the create() statement test", i);
        e.body_text = std::string(100 + static_cast<std::size_t>(i), static_cast<char>('a' + i % 26));
        e.pub_date = Date(2010, 1, 1 + i % 28);
        e.mod_date = Date(2011, 2, 1 + i % 28);
        e.rating = i;
        e.rating_note = i % 2 ? std::optional<std::string>(fmt::format("note {} that is long enough for the heap", i))
                              : std::nullopt;
        return Entry::objects().create(std::move(e)).id;
    };
    auto check = [&](std::int64_t id, int i) {
        const Entry e = Entry::objects().get("pk", id);
        CHECK(e.headline == fmt::format("headline number {} of the create() statement test", i));
        CHECK(e.body_text == std::string(100 + static_cast<std::size_t>(i), static_cast<char>('a' + i % 26)));
        CHECK(e.pub_date == Date(2010, 1, 1 + i % 28));
        CHECK(e.mod_date == Date(2011, 2, 1 + i % 28));
        CHECK(e.rating == i);
        CHECK(e.rating_note == (i % 2 ? std::optional<std::string>(fmt::format("note {} that is long enough for the heap", i))
                                      : std::nullopt));
    };
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 3; ++i) ids.push_back(add(i));
    const auto prepared = conn().statements_prepared();
    for (int i = 3; i < 6; ++i) ids.push_back(add(i));
    CHECK(conn().statements_prepared() == prepared);  // the INSERT was not prepared again
    // The connection drops the statements it kept: the one create() remembers is prepared again, not used.
    for (int i = 0; i < 600; ++i) REQUIRE(conn().query("SELECT " + std::to_string(i), {})->next());
    for (int i = 6; i < 9; ++i) ids.push_back(add(i));
    // A connection opened after this one closed, perhaps at its address: it does not take the old statement.
    dorm::release_connections();
    for (int i = 9; i < 12; ++i) ids.push_back(add(i));
    // A statement that failed keeps nothing it was given either.
    Entry orphan;
    orphan.blog = dorm::ForeignKey<Blog>(data.news.id + 1000);
    orphan.headline = "an orphan whose blog does not exist, long enough for the heap";
    CHECK_THROWS_AS(Entry::objects().create(std::move(orphan)), dorm::IntegrityError);
    for (int i = 12; i < 14; ++i) ids.push_back(add(i));
    for (std::size_t i = 0; i < ids.size(); ++i) check(ids[i], static_cast<int>(i));
    CHECK(Entry::objects().filter("blog", data.cooking).count() == 2 + static_cast<std::int64_t>(ids.size()));
}

TEST_CASE("statement epochs are never given twice", "[shapes]") {
    std::set<std::uint64_t> seen;
    for (int i = 0; i < 1000; ++i) CHECK(seen.insert(dorm::backends::statement_epoch()).second);
    CHECK(seen.count(0) == 0);
}
