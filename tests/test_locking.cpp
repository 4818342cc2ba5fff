// SPDX-License-Identifier: MIT
// select_for_update(): FOR UPDATE where the database locks rows, no effect on SQLite, Django's errors.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

#include <thread>

TEST_CASE("select_for_update() validates its options", "[locking]") {
    test::Database db;
    CHECK_THROWS_WITH(Blog::objects().select_for_update({.nowait = true, .skip_locked = true}),
                      Catch::Contains("The nowait option cannot be used with skip_locked."));
    CHECK_THROWS_AS(Blog::objects().select_for_update({.of = {"entry"}}), dorm::FieldError);
    CHECK_NOTHROW(Blog::objects().select_for_update({.of = {"self"}}));
}

TEST_CASE("select_for_update() SQL per backend; SQLite ignores it, as Django does", "[locking]") {
    test::Database db;
    Blog::objects().create({{"name", "locked"}});
    auto plain = Blog::objects().select_for_update().sql();
    auto options = Blog::objects().order_by("id").slice(0, 1).select_for_update({.nowait = true, .of = {"self"}, .no_key = true}).sql();
    auto skip = Blog::objects().select_for_update({.skip_locked = true}).sql();
    if (test::is_postgresql()) {
        CHECK(plain.ends_with(" FOR UPDATE"));
        CHECK(options.ends_with(" LIMIT 1 FOR NO KEY UPDATE OF \"blog\" NOWAIT"));
        CHECK(skip.ends_with(" FOR UPDATE SKIP LOCKED"));
        // Evaluating outside a transaction would lock nothing: Django refuses.
        CHECK_THROWS_WITH(Blog::objects().select_for_update().size(),
                          Catch::Contains("select_for_update cannot be used outside of a transaction."));
        CHECK_THROWS_AS(Blog::objects().select_for_update().get("name", "locked"), dorm::TransactionManagementError);
    } else {
        CHECK(plain.find("FOR UPDATE") == std::string::npos);
        CHECK(options.find("FOR") == std::string::npos);
        CHECK(Blog::objects().select_for_update().size() == 1);  // no transaction needed
    }
    auto name = dorm::atomic([] { return Blog::objects().select_for_update().get("name", "locked").name; });
    CHECK(name == "locked");
    // count() and exists() lock nothing and need no transaction.
    CHECK(Blog::objects().select_for_update().count() == 1);
    CHECK(Blog::objects().select_for_update().exists());
}

TEST_CASE("a row locked by one transaction: NOWAIT fails, SKIP LOCKED passes it by", "[locking][concurrency]") {
    test::Database db;
    if (!test::is_postgresql()) {
        WARN("row locks need PostgreSQL: not run on " << test::database_url());
        return;
    }
    auto a = Blog::objects().create({{"name", "a"}});
    Blog::objects().create({{"name", "b"}});
    dorm::atomic([&] {
        CHECK(Blog::objects().select_for_update().filter("pk", a.id).size() == 1);  // holds the lock
        std::string nowait_error;
        std::vector<std::string> unlocked;
        std::thread other([&] {
            try {
                dorm::atomic([&] { (void)Blog::objects().select_for_update({.nowait = true}).size(); });
            } catch (const dorm::OperationalError& e) {
                nowait_error = e.code();
            }
            dorm::atomic([&] {
                for (const auto& b : Blog::objects().select_for_update({.skip_locked = true}).order_by("name"))
                    unlocked.push_back(b.name);
            });
            dorm::databases()["default"].close();
        });
        other.join();
        CHECK(nowait_error == "55P03");  // lock_not_available
        CHECK(unlocked == std::vector<std::string>{"b"});
    });
}
