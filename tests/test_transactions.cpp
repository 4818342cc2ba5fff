// SPDX-License-Identifier: MIT
// Transactions as Django's django.db.transaction: atomic() options, on_commit(), set_rollback(), manual savepoints,
// autocommit, and the TransactionManagementError after a write failed inside a block.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <thread>
#include <string>
#include <vector>

namespace {
std::int64_t blogs() { return Blog::objects().count(); }
void add_blog(const std::string& name) { Blog::objects().create({{"name", name}}); }
}  // namespace

TEST_CASE("atomic(durable) must be outermost; savepoint = false joins the enclosing transaction", "[transactions]") {
    test::Database db;
    dorm::atomic([] { add_blog("durable"); }, {.durable = true});
    CHECK(blogs() == 1);
    CHECK_THROWS_WITH(dorm::atomic([] { dorm::atomic([] {}, {.durable = true}); }),
                      Catch::Contains("A durable atomic block cannot be nested within another atomic block."));
    CHECK_THROWS_AS(dorm::atomic([] { dorm::atomic([] {}, {.durable = true}); }), dorm::RuntimeError);
    // An inner block without a savepoint fails: nothing to roll back to, so the outer block must roll back and
    // refuses every statement until it ends; it then rolls back without an error, as Django's does.
    dorm::CaptureQueries queries;
    dorm::atomic([] {
        add_blog("outer");
        try {
            dorm::atomic([] {
                add_blog("inner");
                throw std::runtime_error("inner fails");
            }, {.savepoint = false});
        } catch (const std::runtime_error&) {
        }
        CHECK(dorm::get_rollback());
        CHECK_THROWS_AS(blogs(), dorm::TransactionManagementError);
    });
    CHECK(blogs() == 1);  // neither "outer" nor "inner"
    for (const auto& q : queries.queries()) CHECK(q.sql.find("SAVEPOINT") == std::string::npos);
    // With a savepoint (the default) the inner failure is undone alone.
    dorm::atomic([] {
        add_blog("outer");
        try {
            dorm::atomic([] {
                add_blog("inner");
                throw std::runtime_error("inner fails");
            });
        } catch (const std::runtime_error&) {
        }
        CHECK(!dorm::get_rollback());
    });
    CHECK(Blog::objects().filter("name", "outer").exists());
    CHECK(!Blog::objects().filter("name", "inner").exists());
}

TEST_CASE("a write that failed inside atomic() leaves the block to roll back until a savepoint ends", "[transactions]") {
    test::Database db;
    add_blog("taken");
    dorm::atomic([] {
        add_blog("first");
        CHECK_THROWS_AS(add_blog("taken"), dorm::IntegrityError);
        CHECK_THROWS_WITH(blogs(), Catch::Contains("An error occurred in the current transaction. You can't execute "
                                                   "queries until the end of the 'atomic' block."));
        CHECK_THROWS_AS(blogs(), dorm::TransactionManagementError);  // Django's type (dorm's own subclass of it)
        CHECK_THROWS_AS(blogs(), dorm::detail::BrokenTransactionError);
    });
    CHECK(blogs() == 1);  // "first" was rolled back with the block
    // Django's advice: wrap the write that may fail in its own atomic block.
    dorm::atomic([] {
        add_blog("second");
        try {
            dorm::atomic([] { add_blog("taken"); });
        } catch (const dorm::IntegrityError&) {
        }
        CHECK(blogs() == 2);  // statements run again
    });
    CHECK(blogs() == 2);
}

TEST_CASE("set_rollback() / get_rollback()", "[transactions]") {
    test::Database db;
    dorm::atomic([] {
        add_blog("undone");
        CHECK(!dorm::get_rollback());
        dorm::set_rollback(true);
        CHECK(dorm::get_rollback());
    });
    CHECK(blogs() == 0);
    dorm::atomic([] {
        add_blog("kept");
        dorm::atomic([] {
            add_blog("inner undone");
            dorm::set_rollback(true);
        });
        dorm::set_rollback(false);  // nothing pending: the inner block already rolled back to its savepoint
    });
    CHECK(Blog::objects().filter("name", "kept").exists());
    CHECK(blogs() == 1);
    CHECK_THROWS_WITH(dorm::set_rollback(true), Catch::Contains("The rollback flag doesn't work outside of an 'atomic' block."));
    CHECK_THROWS_AS(dorm::get_rollback(), dorm::TransactionManagementError);
}

TEST_CASE("on_commit() runs after the outermost commit, in order, and never after a rollback", "[transactions]") {
    test::Database db;
    std::vector<std::string> ran;
    dorm::on_commit([&] { ran.push_back("now"); });  // outside a transaction: at once
    CHECK(ran == std::vector<std::string>{"now"});
    ran.clear();
    dorm::atomic([&] {
        dorm::on_commit([&] { ran.push_back("a"); });
        dorm::atomic([&] {
            dorm::on_commit([&] { ran.push_back("b"); });
            CHECK(ran.empty());
        });
        try {
            dorm::atomic([&] {
                dorm::on_commit([&] { ran.push_back("rolled back"); });
                throw std::runtime_error("undo");
            });
        } catch (const std::runtime_error&) {
        }
        dorm::on_commit([&] { ran.push_back("c"); });
        CHECK(ran.empty());
    });
    CHECK(ran == std::vector<std::string>{"a", "b", "c"});
    ran.clear();
    CHECK_THROWS_AS(dorm::atomic([&] {
                        dorm::on_commit([&] { ran.push_back("never"); });
                        throw std::runtime_error("undo");
                    }),
                    std::runtime_error);
    dorm::atomic([&] {
        dorm::on_commit([&] { ran.push_back("never"); });
        dorm::set_rollback(true);
    });
    CHECK(ran.empty());
    // A throwing callback: the data is committed, the exception leaves atomic(), the callbacks after it are
    // dropped; a robust one is skipped over.
    CHECK_THROWS_WITH(dorm::atomic([&] {
                          add_blog("committed");
                          dorm::on_commit([&] { ran.push_back("1"); });
                          dorm::on_commit([] { throw std::runtime_error("callback failed"); });
                          dorm::on_commit([&] { ran.push_back("dropped"); });
                      }),
                      "callback failed");
    CHECK(blogs() == 1);
    CHECK(ran == std::vector<std::string>{"1"});
    ran.clear();
    dorm::atomic([&] {
        dorm::on_commit([] { throw std::runtime_error("ignored"); }, {.robust = true});
        dorm::on_commit([&] { ran.push_back("after robust"); });
    });
    CHECK(ran == std::vector<std::string>{"after robust"});
    // The next block starts with no callbacks left over.
    ran.clear();
    dorm::atomic([] {});
    CHECK(ran.empty());
}

TEST_CASE("manual savepoints: savepoint(), savepoint_rollback(), savepoint_commit()", "[transactions]") {
    test::Database db;
    CHECK(!dorm::savepoint().has_value());  // outside a transaction: none, as Django returns None
    std::vector<std::string> ran;
    dorm::atomic([&] {
        add_blog("before");
        auto sid = dorm::savepoint();
        REQUIRE(sid.has_value());
        add_blog("after");
        dorm::on_commit([&] { ran.push_back("after savepoint"); });
        dorm::savepoint_rollback(*sid);
        CHECK(!Blog::objects().filter("name", "after").exists());
        add_blog("again");
        dorm::savepoint_commit(*sid);
        CHECK_THROWS_AS(dorm::savepoint_rollback(*sid), dorm::TransactionManagementError);  // released
        CHECK_THROWS_AS(dorm::savepoint_commit("x; DROP TABLE blog"), dorm::TransactionManagementError);
    });
    CHECK(blogs() == 2);  // "before" and "again"
    CHECK(ran.empty());   // registered after the savepoint that was rolled back
}

TEST_CASE("autocommit off: commit() and rollback() end the transaction", "[transactions]") {
    test::Database db;
    CHECK(dorm::get_autocommit());
    dorm::atomic([] {
        CHECK(!dorm::get_autocommit());
        CHECK_THROWS_WITH(dorm::set_autocommit(false), Catch::Contains("This is forbidden when an 'atomic' block is active."));
        CHECK_THROWS_AS(dorm::commit(), dorm::TransactionManagementError);
        CHECK_THROWS_AS(dorm::rollback(), dorm::TransactionManagementError);
    });
    dorm::set_autocommit(false);
    CHECK(!dorm::get_autocommit());
    add_blog("rolled back");
    dorm::rollback();
    CHECK(blogs() == 0);
    add_blog("committed");
    CHECK_THROWS_AS(dorm::set_autocommit(true), dorm::TransactionManagementError);  // a transaction is open
    // An atomic block inside the manual transaction is a savepoint; it does not commit.
    dorm::atomic([] { add_blog("in block"); });
    CHECK_THROWS_AS(dorm::on_commit([] {}), dorm::TransactionManagementError);
    dorm::commit();
    dorm::set_autocommit(true);
    CHECK(blogs() == 2);
    // Seen from another connection: committed.
    std::int64_t seen = -1;
    std::thread other([&] {
        seen = blogs();
        dorm::databases()["default"].close();
    });
    other.join();
    CHECK(seen == 2);
}
