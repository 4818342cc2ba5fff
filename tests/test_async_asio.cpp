// SPDX-License-Identifier: MIT
// The Asio adapter (<dorm/async/asio.hpp>): dorm tasks awaited from asio::awaitable coroutines and completion
// handlers, resumed on the io_context's thread, exceptions keeping their types, the loop never blocked.
#include <asio.hpp>

#include "support/fixture.hpp"
#include "support/slow.hpp"

#include <dorm/async/asio.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {
/// Runs `coroutine` on a new io_context on this thread until everything it started has finished; rethrows what
/// escaped the coroutine.
template <class F>
void run_on_io(F coroutine) {
    asio::io_context io;
    std::exception_ptr escaped;
    asio::co_spawn(io, std::move(coroutine), [&](std::exception_ptr e) { escaped = e; });
    io.run();
    if (escaped) std::rethrow_exception(escaped);
}
}  // namespace

TEST_CASE("asio_await() delivers a task's value; the coroutine resumes on the io_context's thread", "[async_asio]") {
    test::BlogData data;
    const auto io_thread = std::this_thread::get_id();
    std::string headline;
    std::int64_t high = -1;
    std::thread::id worker, resumed;
    run_on_io([&]() -> asio::awaitable<void> {
        auto soup = co_await dorm::asio_await(Entry::objects().aget("headline", "Soup"), asio::use_awaitable);
        Entry e = co_await dorm::asio_await(Entry::objects().aget("pk", soup.id), asio::use_awaitable);
        headline = e.headline;
        high = co_await dorm::asio_await(Entry::objects().filter("rating__gte", 4).acount(), asio::use_awaitable);
        worker = co_await dorm::asio_await(dorm::detail::offload([] { return std::this_thread::get_id(); }),
                                           asio::use_awaitable);
        resumed = std::this_thread::get_id();
    });
    CHECK(headline == "Soup");
    CHECK(high == 2);
    CHECK(worker != io_thread);  // the work ran on a worker thread
    CHECK(resumed == io_thread);

    // A completion handler without an executor of its own runs on the one given.
    asio::io_context io;
    std::int64_t blogs = -1;
    std::thread::id handler_thread;
    dorm::asio_await(io.get_executor(), Blog::objects().acount(), [&](std::exception_ptr e, std::int64_t n) {
        CHECK(!e);
        blogs = n;
        handler_thread = std::this_thread::get_id();
    });
    CHECK(blogs == -1);  // never inside the initiating call
    io.run();            // returns once the operation completed: it counts as the io_context's work
    CHECK(blogs == 3);
    CHECK(handler_thread == io_thread);
}

TEST_CASE("asio_await() of a Task<void> completes with the exception_ptr alone", "[async_asio]") {
    test::BlogData data;
    Blog b = data.news;
    b.tagline = "Hourly";
    run_on_io([&]() -> asio::awaitable<void> {
        co_await dorm::asio_await(b.asave(), asio::use_awaitable);
        dorm::Kwargs gouda{{"name", "Gouda"}};
        co_await dorm::asio_await(dorm::aatomic([&]() -> dorm::Task<> { co_await Blog::objects().acreate(gouda); }),
                                  asio::use_awaitable);
    });
    CHECK(Blog::objects().get("name", "News").tagline == "Hourly");
    CHECK(Blog::objects().filter("name", "Gouda").exists());

    asio::io_context io;
    int calls = 0;
    std::exception_ptr error = std::make_exception_ptr(0);
    Blog::objects().filter("name", "News").update({{"tagline", "Weekly"}});
    dorm::asio_await(io.get_executor(), b.arefresh_from_db(), [&](std::exception_ptr e) {
        ++calls;
        error = e;
    });
    io.run();
    CHECK(calls == 1);
    CHECK(!error);
    CHECK(b.tagline == "Weekly");
}

TEST_CASE("asio_await() hands a task's exception over with its type", "[async_asio]") {
    test::BlogData data;
    // asio::use_awaitable rethrows it in the coroutine, and co_spawn hands what escapes to its handler.
    auto missing = []() -> asio::awaitable<void> {
        (void)co_await dorm::asio_await(Entry::objects().aget("headline", "Nothing"), asio::use_awaitable);
    };
    CHECK_THROWS_AS(run_on_io(missing), Entry::DoesNotExist);
    CHECK_THROWS_WITH(run_on_io(missing), Catch::Contains("Entry matching query does not exist."));
    CHECK_THROWS_AS(run_on_io([]() -> asio::awaitable<void> {
                        (void)co_await dorm::asio_await(Entry::objects().aget("blog__name", "Cooking"),
                                                        asio::use_awaitable);
                    }),
                    Entry::MultipleObjectsReturned);
    dorm::Kwargs taken{{"name", "News"}};
    CHECK_THROWS_AS(run_on_io([&]() -> asio::awaitable<void> {
                        (void)co_await dorm::asio_await(Blog::objects().acreate(taken), asio::use_awaitable);
                    }),
                    dorm::IntegrityError);
    // A Task<void> rolled back by its exception.
    CHECK_THROWS_AS(run_on_io([]() -> asio::awaitable<void> {
                        co_await dorm::asio_await(dorm::aatomic([]() -> dorm::Task<> {
                                                      dorm::Kwargs brie{{"name", "Brie"}};
                                                      co_await Blog::objects().acreate(brie);
                                                      throw std::out_of_range("boom");
                                                  }),
                                                  asio::use_awaitable);
                    }),
                    std::out_of_range);
    CHECK(!Blog::objects().filter("name", "Brie").exists());

    // Caught in the coroutine, which goes on.
    std::int64_t after = -1;
    run_on_io([&]() -> asio::awaitable<void> {
        bool missing_blog = false;
        try {
            (void)co_await dorm::asio_await(Blog::objects().aget("name", "Nothing"), asio::use_awaitable);
        } catch (const Blog::DoesNotExist&) {
            missing_blog = true;  // (no co_await in a handler)
        }
        if (missing_blog) after = co_await dorm::asio_await(Blog::objects().acount(), asio::use_awaitable);
    });
    CHECK(after == 3);

    // A completion handler gets the exception_ptr, and a default value.
    asio::io_context io;
    std::exception_ptr error;
    Entry got;
    got.headline = "unchanged";
    auto missing_entry = Entry::objects().aget("headline", "Nothing");
    dorm::asio_await(io.get_executor(), std::move(missing_entry), [&](std::exception_ptr e, Entry x) {
        error = e;
        got = std::move(x);
    });
    io.run();
    REQUIRE(error);
    CHECK_THROWS_AS(std::rethrow_exception(error), Entry::DoesNotExist);
    CHECK(got.headline.empty());
}

TEST_CASE("200 concurrent coroutines on one io_context thread", "[async_asio]") {
    test::Database db("pool_size=4&pool_timeout=20");
    const auto io_thread = std::this_thread::get_id();
    asio::io_context io(1);  // one thread: on PostgreSQL the work runs on fibers of it
    int done = 0, elsewhere = 0;
    std::vector<std::exception_ptr> errors;
    for (int i = 0; i < 200; ++i) {
        asio::co_spawn(
            io,
            [&, i]() -> asio::awaitable<void> {
                dorm::Kwargs k{{"name", "blog " + std::to_string(i)}, {"tagline", std::to_string(i)}};
                auto made = co_await dorm::asio_await(Blog::objects().acreate(k), asio::use_awaitable);
                if (std::this_thread::get_id() != io_thread) ++elsewhere;
                auto again = co_await dorm::asio_await(Blog::objects().aget("pk", made.id), asio::use_awaitable);
                if (std::this_thread::get_id() != io_thread) ++elsewhere;
                if (again.tagline == std::to_string(i)) ++done;  // no lock: every coroutine runs on this thread
            },
            [&](std::exception_ptr e) {
                if (e) errors.push_back(e);
            });
    }
    io.run();
    CHECK(errors.empty());
    for (auto& e : errors) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            FAIL_CHECK(x.what());
        }
    }
    CHECK(done == 200);
    CHECK(elsewhere == 0);
    CHECK(Blog::objects().count() == 200);
    CHECK(dorm::databases().get("default").connection_count() <= 4);
}

TEST_CASE("a timer keeps ticking on the io_context's thread while a long query is awaited", "[async_asio]") {
    // A pooled database: on PostgreSQL the statement runs on a fiber of the io_context's thread, waiting on the
    // server's socket through the io_context; on SQLite on a worker thread.
    test::Database db("pool_size=2");
    const auto io_thread = std::this_thread::get_id();
    std::thread::id ran_on;
    asio::io_context io(1);
    bool done = false;  // both coroutines run on this thread
    int ticks_during = 0;
    std::chrono::steady_clock::duration waited{};
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            const auto start = std::chrono::steady_clock::now();
            co_await dorm::asio_await(dorm::detail::offload_to("default",
                                                                 [&] {
                                                                     ran_on = std::this_thread::get_id();
                                                                     test::busy_statement(0.3);
                                                                 }),
                                      asio::use_awaitable);
            waited = std::chrono::steady_clock::now() - start;
            done = true;
        },
        asio::detached);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            asio::steady_timer timer(co_await asio::this_coro::executor);
            while (!done) {
                timer.expires_after(std::chrono::milliseconds(2));
                co_await timer.async_wait(asio::use_awaitable);
                if (!done) ++ticks_during;
            }
        },
        asio::detached);
    io.run();
    CHECK(done);
    if (test::is_postgresql()) {
        CHECK(waited >= std::chrono::milliseconds(300));
        CHECK(ran_on == io_thread);
    } else {
        CHECK(ran_on != io_thread);
    }
    // The loop kept running the timer while the statement ran.
    CHECK(ticks_during >= 5);
}

TEST_CASE("an io_context that several threads may run keeps the work on worker threads", "[async_asio]") {
    // A fiber must continue on the thread it started on; Asio may resume a handler on any thread running the
    // io_context, so without the one-thread hint dorm does not use fibers there.
    test::Database db("pool_size=2");
    const auto io_thread = std::this_thread::get_id();
    std::thread::id ran_on;
    asio::io_context io;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            co_await dorm::asio_await(dorm::detail::offload_to("default", [&] { ran_on = std::this_thread::get_id(); }),
                                      asio::use_awaitable);
        },
        asio::detached);
    io.run();
    CHECK(ran_on != std::thread::id());
    CHECK(ran_on != io_thread);
}

TEST_CASE("an operation whose io_context is destroyed before it started is destroyed with it", "[async_asio]") {
    test::Database db;
    auto alive = std::make_shared<int>(0);
    {
        asio::io_context io;
        dorm::asio_await(io.get_executor(), Blog::objects().acount(), [alive](std::exception_ptr, std::int64_t) {});
        CHECK(alive.use_count() == 2);  // the handler is held by the operation
    }  // never run: the task never started, and the handler is gone with the io_context
    CHECK(alive.use_count() == 1);
}
