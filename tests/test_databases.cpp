// SPDX-License-Identifier: MIT
// The database registry, using_(), atomic(), per-thread connections, explain() and the statement cache.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

#include <thread>

TEST_CASE("an unknown alias or URL scheme is an InterfaceError", "[databases]") {
    test::Database db;
    CHECK_THROWS_AS(dorm::databases().get("missing"), dorm::InterfaceError);
    CHECK_THROWS_WITH(dorm::databases().get("missing"), Catch::Contains("'default'"));
    CHECK_THROWS_AS(dorm::databases().add("x", "mysql://localhost/db"), dorm::InterfaceError);
    CHECK_THROWS_AS(Blog::objects().using_("missing").count(), dorm::InterfaceError);
    CHECK(Blog::objects().db() == "default");
    CHECK(Blog::objects().using_("other").db() == "other");
}

TEST_CASE("using_() runs a QuerySet on another database; instances remember theirs", "[databases]") {
    test::Database db;
    dorm::databases().add("other", "sqlite::memory:");
    dorm::create_tables<Blog>("other");
    Blog::objects().using_("other").create({{"name", "Elsewhere"}});
    CHECK(Blog::objects().count() == 0);
    CHECK(Blog::objects().using_("other").count() == 1);
    auto b = Blog::objects().using_("other").get("name", "Elsewhere");
    b.tagline = "saved where it came from";
    b.save();
    CHECK(Blog::objects().using_("other").get("pk", b.id).tagline == "saved where it came from");
    CHECK(Blog::objects().count() == 0);
    b.save({.force_insert = true, .using_ = "default"});
    CHECK(Blog::objects().count() == 1);
}

TEST_CASE("a file database persists across connections", "[databases]") {
    auto path = std::string("dorm_test_file_") + std::to_string(::getpid()) + ".db";
    std::remove(path.c_str());
    dorm::databases().add("file", "sqlite://" + path);
    dorm::create_tables<Blog>("file");
    Blog::objects().using_("file").create({{"name", "On disk"}});
    dorm::databases()["file"].close();
    dorm::databases().add("file", "sqlite://" + path);
    CHECK(Blog::objects().using_("file").get("name", "On disk").id > 0);
    dorm::databases()["file"].close();
    std::remove(path.c_str());
}

TEST_CASE("atomic() commits, rolls back on exceptions, and nests with savepoints", "[databases]") {
    test::Database db;
    dorm::atomic([] { Blog::objects().create({{"name", "kept"}}); });
    CHECK(Blog::objects().count() == 1);
    CHECK_THROWS_AS(dorm::atomic([] {
                        Blog::objects().create({{"name", "lost"}});
                        throw std::runtime_error("boom");
                    }),
                    std::runtime_error);
    CHECK(Blog::objects().count() == 1);
    int n = dorm::atomic([] {
        Blog::objects().create({{"name", "outer"}});
        try {
            dorm::atomic([] {
                Blog::objects().create({{"name", "inner"}});
                Blog::objects().create({{"name", "inner"}});  // unique: fails, rolls back to the savepoint
            });
        } catch (const dorm::IntegrityError&) {
        }
        return static_cast<int>(Blog::objects().count());
    });
    CHECK(n == 2);
    CHECK(Blog::objects().filter("name", "outer").exists());
    CHECK(!Blog::objects().filter("name", "inner").exists());
    CHECK(dorm::databases()["default"].connection().atomic_depth() == 0);
}

TEST_CASE("each thread has its own connection to the same database", "[databases][concurrency]") {
    test::Database db;
    Blog::objects().create({{"name", "main"}});
    std::int64_t seen = -1;
    const dorm::backends::Connection* other = nullptr;
    std::thread t([&] {
        seen = Blog::objects().count();
        Blog::objects().create({{"name", "from thread"}});
        other = &dorm::databases()["default"].connection();
    });
    t.join();
    CHECK(seen == 1);
    CHECK(other != &dorm::databases()["default"].connection());
    CHECK(Blog::objects().count() == 2);
}

TEST_CASE("explain() returns the database's plan", "[databases]") {
    test::BlogData data;
    auto plan = Entry::objects().filter("blog", data.beatles).explain();
    CHECK(!plan.empty());
    CHECK(plan.find("entry") != std::string::npos);
}

TEST_CASE("statements are prepared once per connection and reused", "[databases]") {
    test::BlogData data;
    auto& conn = dorm::databases()["default"].connection();
    (void)Entry::objects().get("headline", "Soup");  // prepares this SELECT
    auto prepared = conn.statements_prepared();
    auto executed = conn.queries_executed();
    for (const char* h : {"Soup", "Pancakes", "Election", "Soup", "Lennon returns"})
        CHECK(Entry::objects().get("headline", h).headline == h);
    CHECK(conn.queries_executed() == executed + 5);
    CHECK(conn.statements_prepared() == prepared);
    (void)Entry::objects().get("rating", 2);  // new SQL text: one more prepare
    CHECK(conn.statements_prepared() == prepared + 1);
}

TEST_CASE("nested CaptureQueries both record", "[databases]") {
    test::Database db;
    dorm::CaptureQueries outer;
    (void)Blog::objects().count();
    {
        dorm::CaptureQueries inner;
        (void)Blog::objects().exists();
        CHECK(inner.size() == 1);
    }
    (void)Blog::objects().count();
    CHECK(outer.size() == 3);
}
