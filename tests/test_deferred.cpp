// SPDX-License-Identifier: MIT
// defer() and only(): unloaded fields, get_deferred_fields(), refresh_from_db() and save() of loaded fields only.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

using namespace dorm;
using V = std::vector<std::string>;

TEST_CASE("defer() leaves fields unloaded and lists them", "[deferred]") {
    test::BlogData data;
    auto qs = Entry::objects().defer("body_text", "rating_note").filter("headline", "Soup");
    CHECK_THAT(qs.sql(), !Catch::Contains("body_text"));
    auto e = qs.get();
    CHECK(e.headline == "Soup");
    CHECK(e.rating == 1);
    CHECK(e.body_text.empty());          // the member's default value stands in
    CHECK(e.rating_note == std::nullopt);
    CHECK(e.get_deferred_fields() == V{"body_text", "rating_note"});
    e = Entry::objects().defer("body_text", "rating_note").annotate("double", dorm::F("rating") * 2).get("pk", e.id);
    e.refresh_from_db();
    CHECK(e.annotations().get<int>("double") == 2);  // Django keeps an instance's annotations
    CHECK(e.body_text == "Body of Soup");
    CHECK(e.rating_note == "thin");
    CHECK(e.get_deferred_fields().empty());
    CHECK(Entry::objects().get("headline", "Soup").get_deferred_fields().empty());
    // defer() with no names loads everything again; defer() accumulates.
    CHECK(Entry::objects().defer("body_text").defer().get("headline", "Soup").body_text == "Body of Soup");
    CHECK(Entry::objects().defer("body_text").defer("headline").get("pk", e.id).get_deferred_fields() == V{"headline", "body_text"});
    CHECK_THROWS_AS(Entry::objects().defer("nope"), dorm::FieldDoesNotExist);  // Django's get_field()
    CHECK_THROWS_AS(Entry::objects().values("id").defer("headline"), TypeError);
}

TEST_CASE("only() loads the named fields and the primary key", "[deferred]") {
    test::BlogData data;
    auto e = Entry::objects().only("headline").get("headline", "Pancakes");
    CHECK(e.id != 0);
    CHECK(e.headline == "Pancakes");
    CHECK(e.rating == 0);
    CHECK(e.get_deferred_fields().size() == 8);
    CHECK(Entry::objects().only("headline", "rating").defer("rating").get("pk", e.id).rating == 0);
    CHECK(Entry::objects().only("headline").only("rating").get("pk", e.id).headline.empty());  // the last only() wins
    // Annotations and ordering still work.
    auto rows = Entry::objects().only("headline").annotate("double", F("rating") * 2).order_by("-double");
    CHECK(rows[0].headline == "Lennon returns");
    CHECK(rows[0].annotations().get<int>("double") == 10);
}

TEST_CASE("save() of an instance with deferred fields writes only the loaded ones", "[deferred]") {
    test::BlogData data;
    {  // the key alone loaded: nothing to write, but a row that is gone is Django's DatabaseError
        auto bare = Entry::objects().only("pk").get("headline", "Election");
        bare.save();
        CHECK(Entry::objects().get("pk", bare.id).rating == 2);
        Entry::objects().filter("pk", bare.id).delete_();
        CHECK_THROWS_AS(bare.save(), dorm::DatabaseError);
    }
    auto e = Entry::objects().only("headline").get("headline", "Soup");
    e.headline = "Hot soup";
    e.save();
    auto fresh = Entry::objects().get("pk", e.id);
    CHECK(fresh.headline == "Hot soup");
    CHECK(fresh.body_text == "Body of Soup");  // not overwritten by the stand-in default
    CHECK(fresh.rating == 1);
    CHECK(fresh.rating_note == "thin");
    // A deferred field assigned and named in update_fields is written as assigned (in Django, assigning it ends
    // its deferral); the others keep their row values.
    auto named = Entry::objects().only("headline").get("headline", "Pancakes");
    named.rating = 7;
    named.save({.update_fields = {"rating"}});
    auto after = Entry::objects().get("pk", named.id);
    CHECK(after.rating == 7);
    CHECK(after.body_text == "Body of Pancakes");
    // So does update_or_create() on a QuerySet with deferred fields: its defaults are written.
    CHECK_FALSE(Entry::objects().only("headline").update_or_create({{"headline", "Pancakes"}}, {{"rating", 9}}).second);
    CHECK(Entry::objects().get("pk", named.id).rating == 9);
}
