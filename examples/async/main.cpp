// SPDX-License-Identifier: MIT
// dorm under an Asio event loop: one thread runs an io_context with 1000 concurrent request coroutines, each
// awaiting a few dorm operations through dorm::asio_await(), and a timer that keeps ticking meanwhile: the loop is
// never blocked. On PostgreSQL the database work runs on fibers of the loop's thread that wait on the server's
// sockets through the io_context (made for one thread: `io_context io(1)`); the transactions, and everything on
// SQLite, run on dorm's worker threads. The database comes from the environment, PostgreSQL or SQLite:
//
//     DORM_EXAMPLE_DATABASE_URL=postgresql://user:pw@127.0.0.1:5432/db build/example/examples/async_asio
//     DORM_EXAMPLE_DATABASE_URL=sqlite::memory: build/example/examples/async_asio
//
// pool_size=8 is added to the URL unless it names a pool size. The example creates the tables async_account and
// async_visit, and drops them when it ends (and first, in case an earlier run was interrupted).
#include <asio.hpp>

#include <dorm/postgresql.hpp>
#include <dorm/sqlite.hpp>

#include <dorm/async.hpp>
#include <dorm/async/asio.hpp>

#include <fmt/core.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>

struct Account {
    std::int64_t id = 0;
    std::string name{};
    int plan = 0;
    DORM_MODEL(Account, id, name, plan)
    static void meta(dorm::Meta<Account>& m) { m.db_table = "async_account"; }
};

struct Visit {
    std::int64_t id = 0;
    dorm::ForeignKey<Account> account{};
    int request = 0;
    DORM_MODEL(Visit, id, account, request)
    static void meta(dorm::Meta<Visit>& m) { m.db_table = "async_visit"; }
};

namespace {
constexpr int accounts = 50;
constexpr int requests = 1000;

struct Summary {
    int ok = 0;
    int failed = 0;
    int ticks = 0;
    bool done = false;
};

/// One request: reads its account by key, counts the accounts on the same plan, and records the visit in a
/// transaction; each dorm operation is awaited through asio_await(), so the loop runs other coroutines meanwhile.
asio::awaitable<std::int64_t> handle(int request) {
    const std::int64_t pk = 1 + request % accounts;
    Account account = co_await dorm::asio_await(Account::objects().aget("pk", pk), asio::use_awaitable);
    const std::int64_t same_plan =
        co_await dorm::asio_await(Account::objects().filter("plan", account.plan).acount(), asio::use_awaitable);
    // Named first: GCC 12 rejects a braced list inside a co_await expression.
    dorm::Kwargs visit{{"account", account.id}, {"request", request}};
    co_await dorm::asio_await(dorm::aatomic([&]() -> dorm::Task<> { co_await Visit::objects().acreate(visit); }),
                              asio::use_awaitable);
    co_return same_plan;
}

/// Ticks every millisecond until the requests are done.
asio::awaitable<void> ticker(Summary& summary) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (!summary.done) {
        timer.expires_after(std::chrono::milliseconds(1));
        co_await timer.async_wait(asio::use_awaitable);
        ++summary.ticks;
    }
}

std::string with_pool(std::string url) {
    if (url.find("pool_size=") != std::string::npos) return url;
    return url + (url.find('?') == std::string::npos ? "?" : "&") + "pool_size=8&pool_timeout=60";
}
}  // namespace

int main() {
    const char* url = std::getenv("DORM_EXAMPLE_DATABASE_URL");
    if (url == nullptr || *url == '\0') {
        fmt::print(stderr, "set DORM_EXAMPLE_DATABASE_URL to a PostgreSQL or SQLite URL "
                           "(postgresql://user@host:5432/db, sqlite::memory:)\n");
        return 2;
    }
    try {
        dorm::databases().add("default", with_pool(url));
        dorm::drop_tables<Account, Visit>();
        dorm::create_tables<Account, Visit>();
        for (int i = 0; i < accounts; ++i)
            Account::objects().create({{"name", fmt::format("account {}", i)}, {"plan", i % 3}});

        asio::io_context io(1);  // one thread runs every coroutine
        Summary summary;
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < requests; ++i) {
            // Runs on the loop's thread too, as every coroutine: no lock.
            asio::co_spawn(io, handle(i), [&summary](std::exception_ptr e, std::int64_t same_plan) {
                if (!e && same_plan > 0) ++summary.ok;
                else ++summary.failed;
                if (summary.ok + summary.failed == requests) summary.done = true;
                if (!e) return;
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& err) {
                    if (summary.failed <= 3) fmt::print(stderr, "request failed: {}\n", err.what());
                }
            });
        }
        asio::co_spawn(io, ticker(summary), asio::detached);
        io.run();
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);

        const auto visits = Visit::objects().count();
        fmt::print("{} requests on one thread in {} ms: {} succeeded, {} failed; {} visits recorded\n", requests,
                   ms.count(), summary.ok, summary.failed, visits);
        fmt::print("the timer ticked {} times meanwhile: the loop was never blocked\n", summary.ticks);
        dorm::drop_tables<Account, Visit>();
        if (summary.ok != requests || visits != requests || summary.ticks == 0) return 1;
    } catch (const std::exception& err) {
        fmt::print(stderr, "{}\n", err.what());
        return 1;
    }
    return 0;
}
