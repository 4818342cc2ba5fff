// SPDX-License-Identifier: MIT
// Model instances: save() (insert or update), delete_(), refresh_from_db(), ForeignKey ids.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

TEST_CASE("save() inserts a new object, then updates it", "[instance]") {
    test::Database db;
    Blog b{.name = "Beatles Blog", .tagline = "All the latest Beatles news."};
    dorm::CaptureQueries queries;
    b.save();
    CHECK(b.id > 0);
    CHECK(queries.size() == 1);
    CHECK(queries[0].sql.starts_with("INSERT"));
    b.name = "Renamed";
    b.save();
    CHECK(queries.size() == 2);
    CHECK(queries[1].sql.starts_with("UPDATE"));
    CHECK(Blog::objects().count() == 1);
    CHECK(Blog::objects().get("pk", b.id).name == "Renamed");
}

TEST_CASE("save() with an explicit primary key updates, or inserts when no row has it", "[instance]") {
    test::Database db;
    Blog b{.id = 42, .name = "Chosen", .tagline = ""};
    dorm::CaptureQueries queries;
    b.save();
    CHECK(queries.size() == 2);  // UPDATE matched nothing, then INSERT (Django's behaviour)
    CHECK(Blog::objects().get("pk", 42).name == "Chosen");
    Country c{.code = "it", .name = "Italy", .population = 59, .continent = "Europe"};
    c.save();
    c.population = 60;
    c.save();
    CHECK(Country::objects().get("pk", "it").population == 60);
    CHECK(Country::objects().count() == 1);
}

TEST_CASE("save() options: force_insert, force_update, update_fields", "[instance]") {
    test::Database db;
    Blog b{.name = "A", .tagline = "t"};
    b.save();
    b.name = "B";
    b.tagline = "changed";
    b.save({.update_fields = {"tagline"}});
    auto stored = Blog::objects().get("pk", b.id);
    CHECK(stored.name == "A");
    CHECK(stored.tagline == "changed");
    CHECK_THROWS_AS(b.save({.force_insert = true}), dorm::IntegrityError);
    CHECK_THROWS_AS(b.save({.force_insert = true, .force_update = true}), dorm::ValueError);
    CHECK_THROWS_AS(b.save({.update_fields = {"nope"}}), dorm::ValueError);
    // Django's _non_pk_concrete_field_names: never the primary key; a ForeignKey by its attname too.
    CHECK_THROWS_AS(b.save({.update_fields = {"id"}}), dorm::ValueError);
    CHECK_THROWS_AS(b.save({.update_fields = {"pk"}}), dorm::ValueError);
    Blog other{.name = "O", .tagline = ""};
    other.save();
    Entry e;
    e.blog = b;
    e.headline = "h";
    e.save();
    e.blog = other;
    e.headline = "not saved";
    e.save({.update_fields = {"blog_id"}});
    auto moved = Entry::objects().get("pk", e.id);
    CHECK(moved.blog.id() == other.id);
    CHECK(moved.headline == "h");
    Blog fresh{.name = "C", .tagline = ""};
    CHECK_THROWS_WITH(fresh.save({.force_update = true}), Catch::Contains("Cannot force an update in save() with no primary key."));
    Blog ghost{.id = 777, .name = "ghost", .tagline = ""};
    CHECK_THROWS_WITH(ghost.save({.force_update = true}), Catch::Contains("Forced update did not affect any rows."));
}

TEST_CASE("delete_() on an instance, refresh_from_db()", "[instance]") {
    test::BlogData data;
    auto e = Entry::objects().get("headline", "Soup");
    auto id = e.id;
    auto [total, per_model] = e.delete_();
    CHECK(total == 1);
    CHECK(per_model.at("Entry") == 1);
    CHECK(e.id == 0);  // Django sets pk to None
    CHECK(!Entry::objects().filter("pk", id).exists());
    CHECK_THROWS_AS(e.delete_(), dorm::ValueError);

    auto p = Entry::objects().get("headline", "Pancakes");
    Entry::objects().filter("pk", p.id).update({{"rating", 9}});
    CHECK(p.rating == 4);
    p.refresh_from_db();
    CHECK(p.rating == 9);
    Entry::objects().filter("pk", p.id).delete_();
    CHECK_THROWS_AS(p.refresh_from_db(), Entry::DoesNotExist);
}

TEST_CASE("ForeignKey holds the related primary key; dangling keys are IntegrityErrors", "[instance]") {
    test::BlogData data;
    auto e = Entry::objects().get("headline", "Election");
    CHECK(e.blog.id() == data.news.id);
    CHECK(e.blog.has_value());
    e.blog = data.cooking;
    e.save();
    CHECK(Entry::objects().filter("blog", data.cooking).count() == 3);
    Blog unsaved{.name = "unsaved", .tagline = ""};
    CHECK_THROWS_AS(e.blog = unsaved, dorm::ValueError);
    CHECK_THROWS_AS(Entry::objects().filter("blog", unsaved), dorm::ValueError);
    Entry dangling = e;
    dangling.id = 0;
    dangling.blog = 9999;
    CHECK_THROWS_AS(dangling.save(), dorm::IntegrityError);
    Entry no_blog;
    no_blog.headline = "orphan";
    CHECK_THROWS_AS(no_blog.save(), dorm::IntegrityError);  // NOT NULL
}

TEST_CASE("an inserted row's automatic key is its own, even when a trigger inserts into another table", "[instance]") {
    test::Database db;
    auto& conn = dorm::databases()["default"].connection();
    // Authors' keys run ahead of blogs' keys, so a key taken from the trigger's INSERT would show.
    for (int i = 0; i < 5; ++i) Author::objects().create({{"name", "early"}, {"email", ""}});
    if (test::is_postgresql()) {
        conn.execute("CREATE OR REPLACE FUNCTION dorm_test_log_blog() RETURNS trigger LANGUAGE plpgsql AS "
                     "$$ BEGIN INSERT INTO author (name, email) VALUES ('log', ''); RETURN NEW; END $$");
        conn.execute("CREATE TRIGGER log_blog AFTER INSERT ON blog FOR EACH ROW EXECUTE FUNCTION dorm_test_log_blog()");
    } else {
        conn.execute("CREATE TRIGGER log_blog AFTER INSERT ON blog BEGIN "
                     "INSERT INTO author (name, email) VALUES ('log', ''); END");
    }
    Blog saved{.name = "saved", .tagline = ""};
    saved.save();
    Blog created = Blog::objects().create({{"name", "created"}, {"tagline", ""}});
    CHECK(Author::objects().filter("name", "log").count() == 2);  // the trigger ran
    CHECK(saved.id == Blog::objects().get("name", "saved").id);
    CHECK(created.id == Blog::objects().get("name", "created").id);
    CHECK(created.id != saved.id);
    if (test::is_postgresql()) conn.execute("DROP FUNCTION dorm_test_log_blog() CASCADE");
}
