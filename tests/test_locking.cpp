// SPDX-License-Identifier: MIT
// select_for_update(): FOR UPDATE where the database locks rows, no effect on SQLite, Django's errors.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

#include <thread>

TEST_CASE("select_for_update() validates its options", "[locking]") {
    test::Database db;
    CHECK_THROWS_WITH(Blog::objects().select_for_update({.nowait = true, .skip_locked = true}),
                      Catch::Contains("The nowait option cannot be used with skip_locked."));
    CHECK_NOTHROW(Blog::objects().select_for_update({.of = {"self"}}).sql());
    // of's names are checked where Django checks them, when the SQL is written (SQLite writes no lock).
    if (test::is_postgresql()) {
        CHECK_THROWS_WITH(Blog::objects().select_for_update({.of = {"entry"}}).sql(),
                          Catch::Contains("Invalid field name(s) given in select_for_update(of=(...)): entry. Only "
                                          "relational fields followed in the query are allowed. Choices are: self."));
        CHECK_THROWS_WITH(Entry::objects().select_related("blog").select_for_update({.of = {"authors"}}).sql(),
                          Catch::Contains("Choices are: self, blog."));
        CHECK_THROWS_AS(Entry::objects().select_for_update({.of = {"blog"}}).sql(), dorm::FieldError);  // not followed
    } else {
        CHECK_NOTHROW(Blog::objects().select_for_update({.of = {"entry"}}).sql());
    }
}

TEST_CASE("select_for_update(of=) locks the tables of the named relations only", "[locking][concurrency]") {
    test::BlogData data;
    auto entries = Entry::objects().select_related("blog").filter("headline", "Soup");
    auto self_sql = entries.select_for_update({.of = {"self"}}).sql();
    auto blog_sql = entries.select_for_update({.of = {"self", "blog"}}).sql();
    auto nested = Comment::objects().select_related("entry__blog").select_for_update({.of = {"entry__blog"}}).sql();
    if (!test::is_postgresql()) {
        CHECK(blog_sql.find("FOR") == std::string::npos);  // SQLite ignores it, as Django does
        return;
    }
    CHECK(self_sql.ends_with(" FOR UPDATE OF \"entry\""));
    CHECK(blog_sql.ends_with(" FOR UPDATE OF \"entry\", \"blog\""));
    CHECK(nested.ends_with(" FOR UPDATE OF \"blog\""));
    // Whether another transaction can lock the blog / the entry while this one holds its locks.
    auto others_can_lock = [&] {
        std::pair<bool, bool> free{true, true};
        std::thread other([&] {
            auto try_lock = [](auto qs) {
                try {
                    dorm::atomic([&] { (void)qs.select_for_update({.nowait = true}).size(); });
                    return true;
                } catch (const dorm::OperationalError&) {
                    return false;
                }
            };
            free = {try_lock(Blog::objects().filter("name", "Cooking")), try_lock(Entry::objects().filter("headline", "Soup"))};
            dorm::databases()["default"].close();
        });
        other.join();
        return free;
    };
    dorm::atomic([&] {
        CHECK(entries.select_for_update({.of = {"self"}}).size() == 1);
        CHECK(others_can_lock() == std::pair<bool, bool>{true, false});  // the entry only
    });
    dorm::atomic([&] {
        CHECK(Entry::objects().select_related("blog").filter("headline", "Soup").select_for_update({.of = {"blog"}}).size() == 1);
        CHECK(others_can_lock() == std::pair<bool, bool>{false, true});  // the blog only
    });
    dorm::atomic([&] {
        CHECK(entries.select_for_update().size() == 1);
        CHECK(others_can_lock() == std::pair<bool, bool>{false, false});  // without of: every table joined
    });
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
