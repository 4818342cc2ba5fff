// SPDX-License-Identifier: MIT
// The connection pool of a database (URL options pool_size, pool_timeout, idle_timeout): bounded, connections handed
// on clean, broken ones replaced, idle ones closed, and closed when the alias is replaced or removed.
#include "support/fixture.hpp"
#include "support/settings.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <latch>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {
/// Holds a thread's connection (inside an atomic block) until released.
struct Holder {
    std::mutex m;
    std::condition_variable cv;
    bool holding = false, done = false;
    std::thread thread;

    void start() {
        thread = std::thread([this] {
            dorm::atomic([&] {
                (void)Blog::objects().count();
                std::unique_lock lock(m);
                holding = true;
                cv.notify_all();
                cv.wait(lock, [&] { return done; });
            });
        });
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return holding; });
    }
    void finish() {
        {
            std::lock_guard lock(m);
            done = true;
        }
        cv.notify_all();
        thread.join();
    }
};

/// The server-side process of this thread's connection (PostgreSQL), or its address (SQLite).
/// Whether the process `pid` has ended (gone, or a zombie whose files are closed); true where /proc cannot tell.
bool process_ended(std::int64_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return true;
    auto end = line.rfind(')');  // "pid (comm) state ...": comm may hold spaces and parentheses
    return end == std::string::npos || line.size() < end + 3 || line[end + 2] == 'Z' || line[end + 2] == 'X';
}

std::int64_t connection_identity() {
    auto& conn = dorm::databases()["default"].connection();
    if (!test::is_postgresql()) return static_cast<std::int64_t>(reinterpret_cast<std::uintptr_t>(&conn));
    auto c = conn.query("SELECT pg_backend_pid()", {});
    c->next();
    return c->row()[0].i;
}

/// Client connections the server has open to the test database, waiting up to 2 s for it to drop to `at_most`.
std::int64_t server_connections(std::int64_t at_most) {
    std::int64_t n = 0;
    dorm::databases().add("pool_observer", test::database_url());
    for (int i = 0; i < 100; ++i) {
        auto c = dorm::databases()["pool_observer"].connection().query(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client "
            "backend' AND pid <> pg_backend_pid()",
            {});
        c->next();
        n = c->row()[0].i;
        c.reset();
        if (n <= at_most) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    dorm::databases()["pool_observer"].close();
    return n;
}
}  // namespace

TEST_CASE("pool options are read from the URL and never reach the backend", "[pool]") {
    test::Database db("pool_size=3&pool_timeout=0.5&idle_timeout=60");
    auto& d = dorm::databases()["default"];
    CHECK(d.pool().size == 3);
    CHECK(d.pool().timeout == std::chrono::milliseconds(500));
    CHECK(d.pool().idle_timeout == std::chrono::seconds(60));
    CHECK(d.backend_url() == test::database_url());
    CHECK(d.url() == test::database_url("pool_size=3&pool_timeout=0.5&idle_timeout=60"));
    Blog::objects().create({{"name", "pooled"}});  // libpq and SQLite would refuse an option they do not know
    CHECK(Blog::objects().count() == 1);
    CHECK_THROWS_AS(dorm::databases().add("bad", test::database_url("pool_size=two")), dorm::InterfaceError);
    CHECK_THROWS_AS(dorm::databases().add("bad", test::database_url("pool_size=1.5")), dorm::InterfaceError);
    CHECK_THROWS_AS(dorm::databases().add("bad", test::database_url("pool_timeout=-1")), dorm::InterfaceError);
    CHECK_THROWS_WITH(dorm::databases().add("bad", test::database_url("idle_timeout=")),
                      Catch::Contains("idle_timeout") && Catch::Contains("seconds"));
    CHECK(dorm::databases()["default"].pool().size == 3);
    dorm::databases().add("unpooled", test::database_url());
    CHECK(dorm::databases()["unpooled"].pool().size == 0);
    dorm::databases().remove("unpooled");
    CHECK_FALSE(dorm::databases().contains("unpooled"));
    CHECK_THROWS_AS(dorm::databases().remove("unpooled"), dorm::InterfaceError);
}

TEST_CASE("a pool bounds its connections, waits pool_timeout for one, and hands them on", "[pool][concurrency]") {
    test::Database db("pool_size=2&pool_timeout=0.5");
    auto& d = dorm::databases()["default"];
    dorm::release_connections();  // this thread's connection goes back to the pool
    CHECK(d.connection_count() == 1);
    CHECK(d.idle_count() == 1);

    Holder first, second;
    first.start();  // takes the pooled connection
    second.start();  // opens the second
    CHECK(d.connection_count() == 2);
    CHECK(d.idle_count() == 0);
    // A third thread finds both in use: it waits pool_timeout, then OperationalError.
    std::atomic<bool> refused{false};
    std::chrono::steady_clock::duration waited{};
    std::thread third([&] {
        auto t0 = std::chrono::steady_clock::now();
        try {
            (void)Blog::objects().count();
        } catch (const dorm::OperationalError& e) {
            refused = std::string(e.what()).find("pool_size=2") != std::string::npos;
        }
        waited = std::chrono::steady_clock::now() - t0;
    });
    third.join();
    CHECK(refused);
    CHECK(waited >= std::chrono::milliseconds(450));
    CHECK(d.connection_count() == 2);

    // A waiting thread gets the connection a finishing one hands back.
    std::atomic<bool> served{false};
    std::thread fourth([&] {
        served = Blog::objects().count() == 0;
        dorm::release_connections();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    first.finish();  // its thread ends: the connection goes back to the pool, and on to the fourth
    fourth.join();
    second.finish();
    CHECK(served);
    CHECK(d.connection_count() == 2);
    CHECK(d.idle_count() == 2);

    // Pooled connections are reused, not reopened: this thread gets one of the two again.
    std::set<std::int64_t> seen;
    for (int i = 0; i < 4; ++i) {
        std::thread t([&] { seen.insert(connection_identity()); });
        t.join();
    }
    CHECK(seen.size() <= 2);
    CHECK(d.connection_count() == 2);
}

TEST_CASE("a connection goes back to the pool clean", "[pool]") {
    test::Database db("pool_size=1");
    auto& d = dorm::databases()["default"];
    dorm::release_connections();
    std::thread dirty([] {
        dorm::set_autocommit(false);
        Blog::objects().create({{"name", "never committed"}});
        dorm::release_connections();  // autocommit off with an open transaction: rolled back
    });
    dirty.join();
    CHECK(d.idle_count() == 1);
    CHECK(dorm::get_autocommit());  // the same connection, in autocommit mode again
    CHECK(Blog::objects().count() == 0);

    // A connection in use stays with its thread: an open cursor, an atomic block.
    auto cursor = d.connection().query("SELECT 1", {});
    dorm::release_connections();
    CHECK(d.idle_count() == 0);
    CHECK_THROWS_AS(d.close(), dorm::InterfaceError);
    cursor.reset();
    dorm::atomic([&] {
        dorm::release_connections();
        CHECK(d.idle_count() == 0);
        CHECK_THROWS_AS(d.close(), dorm::TransactionManagementError);
        Blog::objects().create({{"name", "kept"}});
    });
    CHECK(Blog::objects().count() == 1);
    d.close();  // pooled: back to the pool, not closed
    CHECK(d.idle_count() == 1);
    CHECK(d.connection_count() == 1);
}

TEST_CASE("close() without a pool closes the connection, but keeps an in-memory SQLite database", "[pool]") {
    test::Database db;
    auto& d = dorm::databases()["default"];
    Blog::objects().create({{"name", "kept"}});
    d.close();
    // As Django ignores close() on an in-memory SQLite database: closing its last connection would drop it.
    CHECK(d.connection_count() == (test::is_postgresql() ? 0 : 1));
    CHECK(Blog::objects().count() == 1);
    CHECK(d.connection_count() == 1);
}

TEST_CASE("a pooled connection the server closed is replaced before it is handed out", "[pool]") {
    test::Database db("pool_size=2");
    if (!test::is_postgresql()) return;  // terminating a backend needs a server
    Blog::objects().create({{"name", "survivor"}});
    const auto pid = connection_identity();
    dorm::release_connections();
    dorm::databases().add("killer", test::database_url());
    auto killed = dorm::databases()["killer"].connection().query("SELECT pg_terminate_backend($1::int)",
                                                                 std::vector<dorm::Value>{pid});
    REQUIRE(killed->next());
    killed.reset();
    dorm::databases().remove("killer");
    // Until the backend has ended. It leaves pg_stat_activity before it closes its socket, so on a server on this
    // machine (as in CI) its process is watched too: the pool can only see a closed socket.
    for (int i = 0; i < 200; ++i) {
        dorm::databases().add("observer", test::database_url());
        auto c = dorm::databases()["observer"].connection().query(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int", std::vector<dorm::Value>{pid});
        c->next();
        auto n = c->row()[0].i;
        c.reset();
        dorm::databases().remove("observer");
        if (n == 0 && process_ended(pid)) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(Blog::objects().count() == 1);  // no OperationalError: the dead connection never reached the query
    CHECK(connection_identity() != pid);
    CHECK(dorm::databases()["default"].connection_count() == 1);
}

TEST_CASE("pooled connections idle longer than idle_timeout are closed", "[pool]") {
    // Long enough that a loaded machine does not expire the first connection before the second is pooled.
    test::Database db("pool_size=2&idle_timeout=0.5");
    auto& d = dorm::databases()["default"];
    Blog::objects().create({{"name", "kept"}});
    std::thread([] { (void)Blog::objects().count(); }).join();  // a second connection, pooled at the thread's end
    dorm::release_connections();
    CHECK(d.idle_count() == 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    CHECK(Blog::objects().count() == 1);  // the pool is used: the expired connections close
    // An in-memory SQLite database keeps one (it lives only while a connection is open); a server closes both.
    CHECK(d.connection_count() == 1);
    CHECK(d.idle_count() == 0);
}

TEST_CASE("replacing or removing a pooled alias closes its connections", "[pool]") {
    test::Database db("pool_size=4");
    const std::int64_t baseline = test::is_postgresql() ? server_connections(1000) : 0;
    dorm::databases().add("pooled", test::database_url("pool_size=4"));
    for (int round = 0; round < 5; ++round) {
        std::latch all_hold(4);  // four connections open at once
        std::vector<std::thread> threads;
        for (int i = 0; i < 4; ++i)
            threads.emplace_back([&] {
                auto c = dorm::databases()["pooled"].connection().query("SELECT 1", {});
                while (c->next()) {
                }
                all_hold.arrive_and_wait();
            });
        for (auto& t : threads) t.join();
        CHECK(dorm::databases()["pooled"].idle_count() == 4);
        if (test::is_postgresql()) CHECK(server_connections(baseline + 4) == baseline + 4);
        dorm::databases().add("pooled", test::database_url("pool_size=4"));  // the 4 pooled ones close now
        CHECK(dorm::databases().retired_count() == 0);
        if (test::is_postgresql()) CHECK(server_connections(baseline) == baseline);
    }
    (void)dorm::databases()["pooled"].connection();
    dorm::databases().remove("pooled");
    CHECK(dorm::databases().retired_count() == 0);
    if (test::is_postgresql()) CHECK(server_connections(baseline) == baseline);
}

TEST_CASE("a pooled connection the server terminates inside atomic(): nothing committed, the next block succeeds",
          "[pool]") {
    test::Database db("pool_size=1");
    if (!test::is_postgresql()) return;
    auto kill_mine = [] {
        const auto pid = connection_identity();
        std::thread([pid] {
            dorm::databases().add("killer", test::database_url());
            auto c = dorm::databases()["killer"].connection().query("SELECT pg_terminate_backend($1::int)",
                                                                    std::vector<dorm::Value>{pid});
            c->next();
            c.reset();
            dorm::databases().remove("killer");
        }).join();
    };
    CHECK_THROWS_AS(dorm::atomic([&] {
                        Blog::objects().create({{"name", "lost"}});
                        kill_mine();
                        Blog::objects().create({{"name", "after"}});
                    }),
                    dorm::OperationalError);
    auto& d = dorm::databases()["default"];
    CHECK(d.connection_count() == 1);
    dorm::atomic([] { Blog::objects().create({{"name", "next block"}}); });  // on a replaced connection
    CHECK(Blog::objects().count() == 1);  // nothing of the first block
    CHECK(Blog::objects().filter("name", "next block").exists());
    CHECK(d.connection_count() == 1);
}

TEST_CASE("a restarted server: pooled connections are replaced without an error", "[pool]") {
    test::Database db("pool_size=2");
    if (!test::is_postgresql()) return;
    const char* restart = test::required_setting("DORM_TEST_PG_RESTART", "the server restart test");
    if (!restart) return;
    Blog::objects().create({{"name", "before"}});
    dorm::release_connections();
    REQUIRE(std::system(restart) == 0);
    CHECK(Blog::objects().count() == 1);  // the pooled connection was found closed and replaced: no error
    dorm::atomic([] { Blog::objects().create({{"name", "after"}}); });
    CHECK(Blog::objects().count() == 2);
}
