// SPDX-License-Identifier: MIT
// Methods that do not return QuerySets: get, create, get_or_create, update_or_create, first / last,
// latest / earliest, in_bulk, contains, update, delete_.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

using dorm::Q;
using test::headlines;
using V = std::vector<std::string>;

TEST_CASE("get() returns the one match or throws Django's errors", "[methods]") {
    test::BlogData data;
    CHECK(Entry::objects().get("headline", "Soup").rating == 1);
    CHECK(Entry::objects().get(Q("rating__gte", 5)).headline == "Lennon returns");
    CHECK(Entry::objects().filter("rating", 2).get().headline == "Election");
    CHECK_THROWS_AS(Entry::objects().get("headline", "Nope"), Entry::DoesNotExist);
    CHECK_THROWS_AS(Entry::objects().get("headline", "Nope"), dorm::ObjectDoesNotExist);
    CHECK_THROWS_WITH(Entry::objects().get("headline", "Nope"), Catch::Contains("Entry matching query does not exist."));
    CHECK_THROWS_AS(Entry::objects().get("rating__gte", 3), Entry::MultipleObjectsReturned);
    CHECK_THROWS_AS(Entry::objects().get("rating__gte", 3), dorm::MultipleObjectsReturned);
    CHECK_THROWS_WITH(Entry::objects().get("rating__gte", 3),
                      Catch::Contains("get() returned more than one Entry -- it returned 3!"));
    // A Blog's DoesNotExist is not an Entry's.
    bool caught_as_blog = false;
    try {
        Entry::objects().get("id", 999);
    } catch (const Blog::DoesNotExist&) {
        caught_as_blog = true;
    } catch (const Entry::DoesNotExist&) {
    }
    CHECK(!caught_as_blog);
}

TEST_CASE("get(field, value) reuses its statement and still checks every value", "[methods]") {
    test::BlogData data;
    auto soup = Entry::objects().get("headline", "Soup");
    // Repeated with other values, the kept statement answers each one (and raises as the first call did).
    for (int round = 0; round < 2; ++round) {
        CHECK(Entry::objects().get("pk", soup.id).headline == "Soup");
        CHECK(Entry::objects().get("pk", soup.id + 1).headline != "Soup");
        CHECK_THROWS_AS(Entry::objects().get("pk", 999), Entry::DoesNotExist);
        CHECK(Entry::objects().get("headline", "Pancakes").rating == 4);
        CHECK(Entry::objects().get("rating", 2).headline == "Election");
        CHECK_THROWS_AS(Entry::objects().get("headline", "Nope"), Entry::DoesNotExist);
        CHECK_THROWS_AS(Entry::objects().get("pk", "soup"), dorm::Error);  // a string for an integer key
        CHECK_THROWS_AS(Entry::objects().get("rating_note", std::nullopt), Entry::MultipleObjectsReturned);  // IS NULL
    }
    // A QuerySet with conditions of its own keeps them.
    auto beatles = Entry::objects().filter("blog", data.beatles.id);
    for (int round = 0; round < 2; ++round) {
        CHECK_THROWS_AS(beatles.get("pk", soup.id), Entry::DoesNotExist);
        CHECK(beatles.get("headline", "Beatles reunion").rating == 3);
    }
    auto only = Entry::objects().only("headline");
    for (int round = 0; round < 2; ++round) CHECK(only.get("pk", soup.id).get_deferred_fields().size() == 8);
}

TEST_CASE("get() with many matches reports 'more than 20' after fetching at most 21", "[methods]") {
    test::Database db;
    std::vector<Author> many(30);
    for (auto& a : many) a.name = "x";
    Author::objects().bulk_create(many);
    dorm::CaptureQueries queries;
    CHECK_THROWS_WITH(Author::objects().get("name", "x"),
                      Catch::Contains("get() returned more than one Author -- it returned more than 20!"));
    REQUIRE(queries.size() == 1);
    CHECK(queries[0].sql.find("LIMIT 21") != std::string::npos);
    CHECK(queries[0].sql.find("ORDER BY") == std::string::npos);
}

TEST_CASE("create() inserts and returns the object with its primary key", "[methods]") {
    test::Database db;
    auto b = Blog::objects().create({{"name", "Beatles Blog"}, {"tagline", "All the latest Beatles news."}});
    CHECK(b.id > 0);
    CHECK(Blog::objects().get("id", b.id).name == "Beatles Blog");
    auto b2 = Blog::objects().create(Blog{.name = "Second", .tagline = ""});
    CHECK(b2.id == b.id + 1);
    // Django's Model(**kwargs): every name that is no field, in one TypeError; nothing is written.
    CHECK_THROWS_WITH(Blog::objects().create({{"nonexistent", 1}}),
                      Catch::Contains("Blog() got unexpected keyword arguments: 'nonexistent'"));
    CHECK_THROWS_AS(Blog::objects().create({{"nonexistent", 1}}), dorm::TypeError);
    CHECK_THROWS_WITH(Blog::objects().create({{"x", 1}, {"name", "X"}, {"blog__name", 2}}),
                      Catch::Contains("Blog() got unexpected keyword arguments: 'x', 'blog__name'"));
    CHECK_THROWS_AS(dorm::related<&Entry::blog>(b).create({{"headline", "h"}, {"nope", 1}}), dorm::TypeError);
    // get_or_create()'s defaults are checked as Django's _extract_model_params() checks them: FieldError.
    CHECK_THROWS_AS(Blog::objects().get_or_create({{"name", "Third"}}, {{"nope", 1}}), dorm::FieldError);
    CHECK_THROWS_AS(Blog::objects().create({{"name", 5}}), dorm::TypeError);
    // unique name
    CHECK_THROWS_AS(Blog::objects().create({{"name", "Second"}}), dorm::IntegrityError);
    // A custom primary key is inserted as given; a duplicate is an IntegrityError.
    auto fr = Country::objects().create({{"code", "fr"}, {"name", "France"}});
    CHECK(fr.code == "fr");
    CHECK(fr.continent == "Europe");  // default_()
    CHECK_THROWS_AS(Country::objects().create({{"code", "fr"}, {"name", "Other"}}), dorm::IntegrityError);
}

TEST_CASE("get_or_create() and update_or_create()", "[methods]") {
    test::Database db;
    auto [a, created] = Author::objects().get_or_create({{"name", "John"}}, {{"email", "john@example.com"}});
    CHECK(created);
    CHECK(a.email == "john@example.com");
    auto [a2, created2] = Author::objects().get_or_create({{"name", "John"}}, {{"email", "other@example.com"}});
    CHECK(!created2);
    CHECK(a2.id == a.id);
    CHECK(a2.email == "john@example.com");
    // Lookups with "__" filter but are not used to create.
    auto [a3, created3] = Author::objects().get_or_create({{"name__in", std::vector<std::string>{"Paul"}}, {"name", "Paul"}});
    CHECK(created3);
    CHECK(a3.name == "Paul");
    CHECK(Author::objects().count() == 2);

    auto [u, ucreated] = Author::objects().update_or_create({{"name", "John"}}, {{"email", "new@example.com"}});
    CHECK(!ucreated);
    CHECK(u.id == a.id);
    CHECK(Author::objects().get("id", a.id).email == "new@example.com");
    auto [n, ncreated] = Author::objects().update_or_create({{"name", "Ringo"}}, {{"email", "update@example.com"}},
                                                            dorm::Kwargs{{"email", "create@example.com"}});
    CHECK(ncreated);
    CHECK(n.email == "create@example.com");
    auto [n2, ncreated2] = Author::objects().update_or_create({{"name", "Ringo"}}, {{"email", "update@example.com"}},
                                                              dorm::Kwargs{{"email", "create@example.com"}});
    CHECK(!ncreated2);
    CHECK(n2.email == "update@example.com");
    CHECK(Author::objects().count() == 3);
    // Django locks the row it reads until it has saved it: select_for_update().get_or_create() (SQLite has no lock).
    {
        dorm::CaptureQueries queries;
        Author::objects().update_or_create({{"name", "Ringo"}}, {{"email", "locked@example.com"}});
        bool locked = false;
        for (const auto& q : queries.queries()) locked = locked || q.sql.find("FOR UPDATE") != std::string::npos;
        CHECK(locked == test::is_postgresql());
    }
    CHECK(Author::objects().get("name", "Ringo").email == "locked@example.com");
}

TEST_CASE("first() / last() use the ordering, or pk when unordered", "[methods]") {
    test::BlogData data;
    CHECK(Entry::objects().first()->headline == "Lennon returns");
    CHECK(Entry::objects().last()->headline == "Election");
    CHECK(Entry::objects().order_by("rating").first()->headline == "Soup");
    CHECK(Entry::objects().order_by("rating").last()->headline == "Lennon returns");
    CHECK(!Entry::objects().filter("rating", 99).first());
    CHECK(!Entry::objects().filter("rating", 99).last());
    auto qs = Entry::objects().order_by("headline");
    (void)qs.size();
    dorm::CaptureQueries queries;
    CHECK(qs.first()->headline == "Beatles reunion");
    CHECK(queries.size() == 0);  // from the cache
}

TEST_CASE("latest() / earliest() by field or get_latest_by", "[methods]") {
    test::BlogData data;
    CHECK(Entry::objects().latest().headline == "Election");
    CHECK(Entry::objects().earliest().headline == "Pancakes");
    CHECK(Entry::objects().latest("rating").headline == "Lennon returns");
    CHECK(Entry::objects().earliest("rating").headline == "Soup");
    CHECK(Entry::objects().latest("-rating").headline == "Soup");
    CHECK(Entry::objects().filter("blog", data.cooking).latest().headline == "Soup");
    CHECK_THROWS_AS(Entry::objects().filter("rating", 99).latest(), Entry::DoesNotExist);
    CHECK_THROWS_WITH(Blog::objects().latest(), Catch::Contains("require either fields as positional arguments or "
                                                                "'get_latest_by'"));
}

TEST_CASE("in_bulk() maps keys to objects", "[methods]") {
    test::BlogData data;
    auto all = Blog::objects().in_bulk();
    CHECK(all.size() == 3);
    CHECK(all.at(data.news.id).name == "News");
    auto some = Blog::objects().in_bulk(std::vector<std::int64_t>{data.beatles.id, data.news.id, 999});
    CHECK(some.size() == 2);
    CHECK(some.count(data.beatles.id) == 1);
    dorm::CaptureQueries queries;
    CHECK(Blog::objects().in_bulk(std::vector<std::int64_t>{}).empty());
    CHECK(queries.size() == 0);
    auto by_name = Blog::objects().in_bulk<std::string>(std::vector<std::string>{"Cooking"}, "name");
    CHECK(by_name.at("Cooking").id == data.cooking.id);
    CHECK_THROWS_WITH(Blog::objects().in_bulk<std::string>(std::vector<std::string>{"x"}, "tagline"),
                      Catch::Contains("in_bulk()'s field_name must be a unique field but 'tagline' isn't."));
}

TEST_CASE("contains() checks by primary key, from the cache when evaluated", "[methods]") {
    test::BlogData data;
    auto cooking_entries = Entry::objects().filter("blog", data.cooking);
    auto lennon = Entry::objects().get("headline", "Lennon returns");
    auto soup = Entry::objects().get("headline", "Soup");
    CHECK(!cooking_entries.contains(lennon));
    CHECK(cooking_entries.contains(soup));
    (void)cooking_entries.size();
    dorm::CaptureQueries queries;
    CHECK(cooking_entries.contains(soup));
    CHECK(queries.size() == 0);
    CHECK_THROWS_AS(cooking_entries.contains(Entry{}), dorm::ValueError);
}

TEST_CASE("update() sets columns in SQL and returns the rows matched", "[methods]") {
    test::BlogData data;
    CHECK(Entry::objects().filter("blog", data.beatles).update({{"rating", 1}, {"rating_note", "meh"}}) == 2);
    CHECK(Entry::objects().filter("rating", 1).count() == 3);
    CHECK(Entry::objects().filter("rating_note", "meh").count() == 2);
    CHECK(Entry::objects().filter("rating", 99).update({{"rating", 0}}) == 0);
    CHECK(Entry::objects().update({{"rating_note", std::nullopt}}) == 5);
    CHECK(Entry::objects().filter("rating_note__isnull", true).count() == 5);
    // Django: get_field()'s FieldDoesNotExist for a name the model lacks, FieldError for a many-to-many.
    CHECK_THROWS_AS(Entry::objects().update({{"nope", 1}}), dorm::FieldDoesNotExist);
    CHECK_THROWS_AS(Entry::objects().update({{"blog__name", "x"}}), dorm::FieldDoesNotExist);
    CHECK_THROWS_AS(Entry::objects().update({{"authors", 1}}), dorm::FieldError);
    CHECK_THROWS_AS(Entry::objects().bulk_update({}, {"nope"}), dorm::FieldDoesNotExist);
    CHECK_THROWS_AS(Entry::objects().in_bulk(std::vector<std::int64_t>{1}, "nope"), dorm::FieldDoesNotExist);
    CHECK_THROWS_AS(Entry::objects().update({{"rating", "high"}}), dorm::TypeError);
    // Django's FieldErrors, not a database error: a joined annotation, an aggregate, an ordering by an aggregate.
    CHECK_THROWS_AS(Entry::objects().annotate("bn", dorm::F("blog__name")).update({{"headline", dorm::F("bn")}}),
                    dorm::FieldError);
    CHECK_THROWS_AS(Entry::objects().annotate("m", dorm::Max("rating")).update({{"rating", dorm::F("m")}}),
                    dorm::FieldError);
    CHECK_THROWS_AS(Blog::objects().annotate("n", dorm::Count("entry")).order_by("n").update({{"tagline", "x"}}),
                    dorm::FieldError);
    CHECK(Entry::objects().annotate("double", dorm::F("rating") * 2).filter("rating", 4).update({{"rating", dorm::F("double")}}) == 1);
    CHECK(Entry::objects().filter("rating", 8).count() == 1);
    {
        dorm::CaptureQueries none;
        CHECK(Entry::objects().update({}) == 0);  // Django: nothing to set is no statement, 0 rows
        CHECK(none.size() == 0);
    }
}

TEST_CASE("delete_() removes matched rows and reports counts per model", "[methods]") {
    test::BlogData data;
    auto [total, per_model] = Entry::objects().filter("rating__lt", 3).delete_();
    CHECK(total == 2);
    CHECK(per_model == std::map<std::string, std::int64_t>{{"Entry", 2}});
    CHECK(Entry::objects().count() == 3);
    auto none = Entry::objects().filter("rating", 99).delete_();
    CHECK(none.total == 0);
    CHECK(none.per_model.empty());  // Django >= 3.1: (0, {})
    CHECK_THROWS_AS(Entry::objects().distinct("headline").delete_(), dorm::TypeError);
    // Django 5: a plain distinct() deletes the rows it matches.
    auto one = Entry::objects().order_by("pk").first();
    REQUIRE(one);
    CHECK(Entry::objects().filter("pk", one->id).distinct().delete_().total == 1);
    CHECK(Entry::objects().count() == 2);
}
