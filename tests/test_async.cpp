// SPDX-License-Identifier: MIT
// The asynchronous API (Django's a-methods): each returns what the blocking method returns or throws what it
// throws, through co_await; work runs off the awaiting thread, which stays free; aatomic() binds a transaction to
// the connection the task holds; aiterator() streams in chunks; when_all() overlaps tasks.
#include "support/fixture.hpp"
#include "support/slow.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {
using V = std::vector<std::string>;

/// Blog names, ordered by name.
V blog_names() {
    V out;
    for (const auto& b : Blog::objects().order_by("name")) out.push_back(b.name);
    return out;
}

/// Runs `task` to its end from this (plain) thread.
template <class T>
T run(dorm::Task<T> task) {
    return dorm::sync_wait(std::move(task));
}

/// A coroutine that starts at once and is destroyed with this object, wherever it is suspended (as an event
/// loop destroys the coroutines still pending when it shuts down). Its tasks inherit its context, as from a dorm
/// task: no executor unless start_on() gives one.
struct Started {
    struct promise_type : dorm::detail::TaskPromiseBase {
        Started get_return_object() { return {std::coroutine_handle<promise_type>::from_promise(*this)}; }
        std::suspend_never initial_suspend() noexcept { return {}; }
        std::suspend_always final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { std::terminate(); }
    };
    std::coroutine_handle<promise_type> h;
    Started(std::coroutine_handle<promise_type> handle) : h(handle) {}
    Started(Started&& other) noexcept : h(std::exchange(other.h, {})) {}  // Clang 14 moves the return object
    ~Started() {
        if (h) h.destroy();
    }
};
Started start(dorm::Task<> task) { co_await std::move(task); }

struct SetExecutor {
    dorm::Executor* executor;
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<Started::promise_type> h) const noexcept {
        h.promise().context.executor = executor;
        return false;  // goes on at once
    }
    void await_resume() const noexcept {}
};
Started start_on(dorm::Executor* executor, dorm::Task<> task) {
    co_await SetExecutor{executor};
    co_await std::move(task);
}

/// A five-second statement, and how it went: what the cancellation tests destroy while it runs.
struct LongStatement {
    std::atomic<bool> started{false}, finished{false}, cancelled{false};
    void run() {
        started = true;
        try {
            test::busy_statement(5);
        } catch (const dorm::Error&) {
            cancelled = true;
        }
        finished = true;
    }
};

/// Hands the coroutine back to its executor (a turn of sync_wait()'s loop).
struct Yield {
    bool await_ready() const noexcept { return false; }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        h.promise().context.executor->post(h);
    }
    void await_resume() const noexcept {}
};

/// Runs `slow` from this thread beside a coroutine that keeps handing itself back to the loop: how many turns
/// that coroutine had while `slow` ran.
int ticks_while(dorm::Task<> slow) {
    std::atomic<bool> done{false};
    int ticks = 0;
    auto first = [&]() -> dorm::Task<> {
        co_await std::move(slow);
        done = true;
    };
    auto ticker = [&]() -> dorm::Task<> {
        while (!done) {
            co_await Yield{};
            if (!done) ++ticks;
        }
    };
    run(dorm::when_all(first(), ticker()));
    return ticks;
}
}  // namespace

TEST_CASE("QuerySet a-methods return what the blocking methods return", "[async]") {
    test::BlogData data;
    auto entries = Entry::objects().order_by("headline");
    CHECK(run(entries.acount()) == 5);
    CHECK(run(entries.filter("rating__gte", 4).acount()) == 2);
    CHECK(run(entries.aexists()));
    CHECK(!run(entries.filter("rating__gt", 5).aexists()));
    CHECK(run(entries.afirst())->headline == "Beatles reunion");
    CHECK(run(entries.alast())->headline == "Soup");
    CHECK(!run(entries.filter("rating__gt", 5).afirst()));
    CHECK(run(Entry::objects().alatest("pub_date")).headline == "Election");
    CHECK(run(Entry::objects().aearliest("pub_date")).headline == "Pancakes");
    CHECK(run(Entry::objects().aget("headline", "Soup")).rating == 1);
    CHECK(run(Entry::objects().aget(dorm::Q("headline", "Soup") | dorm::Q("headline", "Nothing"))).rating == 1);
    CHECK(run(Entry::objects().filter("headline", "Soup").aget()).rating == 1);
    CHECK(run(Entry::objects().aget("blog__name", "Cooking", "rating", 4)).headline == "Pancakes");
    CHECK(run(entries.acontains(run(Entry::objects().aget("headline", "Soup")))));
    CHECK(!run(entries.filter("rating__gte", 4).acontains(run(Entry::objects().aget("headline", "Soup")))));

    auto sum = run(Entry::objects().aaggregate("total", dorm::Sum("rating"), dorm::Count("id")));
    CHECK(sum["total"].as<int>() == 15);
    CHECK(sum["id__count"].as<int>() == 5);

    auto by_pk = run(Entry::objects().ain_bulk());
    CHECK(by_pk.size() == 5);
    auto by_headline = run(Blog::objects().ain_bulk<std::string>(std::nullopt, "name"));
    CHECK(by_headline.at("News").id == data.news.id);
    auto some = run(Blog::objects().ain_bulk(std::vector<std::int64_t>{data.news.id, data.cooking.id}));
    CHECK(some.size() == 2);

    auto plan = run(entries.filter("rating", 3).aexplain());
    CHECK(!plan.empty());

    // A values() QuerySet evaluated asynchronously.
    auto names = run(Blog::objects().order_by("name").values_list<std::string>("name", dorm::flat).afetch());
    CHECK(names.is_evaluated());
    CHECK(V(names.begin(), names.end()) == V{"Beatles Blog", "Cooking", "News"});
}

TEST_CASE("afetch() fills the QuerySet's cache; later reads do not query", "[async]") {
    test::BlogData data;
    auto qs = Entry::objects().filter("rating__gte", 3).order_by("-rating");
    auto fetched = run(qs.afetch());
    CHECK(fetched.is_evaluated());
    CHECK(qs.is_evaluated());  // the cache is shared, as Django's `async for` fills qs._result_cache
    dorm::CaptureQueries queries;
    CHECK(test::headlines(fetched) == V{"Lennon returns", "Pancakes", "Beatles reunion"});
    CHECK(qs.size() == 3);
    CHECK(queries.size() == 0);
}

TEST_CASE("a-methods that write: acreate, aget_or_create, aupdate_or_create, abulk_*, aupdate, adelete", "[async]") {
    test::Database db;
    dorm::Kwargs cheddar{{"name", "Cheddar"}, {"tagline", "Cheese"}};
    auto b = run(Blog::objects().acreate(cheddar));
    CHECK(b.id > 0);
    Blog brie;
    brie.name = "Brie";
    CHECK(run(Blog::objects().acreate(brie)).id > b.id);
    dorm::Kwargs cheddar_name{{"name", "Cheddar"}}, gouda_name{{"name", "Gouda"}}, tag{{"tagline", "Dutch"}};
    auto [found, created] = run(Blog::objects().aget_or_create(cheddar_name));
    CHECK((!created && found.id == b.id));
    auto [gouda, made] = run(Blog::objects().aget_or_create(gouda_name, tag));
    CHECK((made && gouda.tagline == "Dutch"));
    dorm::Kwargs cheesy{{"tagline", "Cheesy"}};
    auto [updated, made2] = run(Blog::objects().aupdate_or_create(gouda_name, cheesy));
    CHECK((!made2 && updated.tagline == "Cheesy"));
    CHECK(Blog::objects().get("name", "Gouda").tagline == "Cheesy");

    std::vector<Blog> more(3);
    for (int i = 0; i < 3; ++i) more[i].name = "Bulk " + std::to_string(i);
    auto inserted = run(Blog::objects().abulk_create(more));
    CHECK(inserted.size() == 3);
    for (const auto& x : inserted) CHECK(x.id > 0);
    for (auto& x : inserted) x.tagline = "bulk";
    CHECK(run(Blog::objects().abulk_update(inserted, {"tagline"})) == 3);
    CHECK(Blog::objects().filter("tagline", "bulk").count() == 3);

    dorm::Kwargs plain{{"tagline", "plain"}};
    CHECK(run(Blog::objects().filter("name__startswith", "Bulk").aupdate(plain)) == 3);
    auto deleted = run(Blog::objects().filter("tagline", "plain").adelete());
    CHECK(deleted.total == 3);
    CHECK(blog_names() == V{"Brie", "Cheddar", "Gouda"});
}

TEST_CASE("exceptions keep their types through co_await", "[async]") {
    test::BlogData data;
    CHECK_THROWS_AS(run(Entry::objects().aget("headline", "Nothing")), Entry::DoesNotExist);
    CHECK_THROWS_AS(run(Entry::objects().aget("blog__name", "Cooking")), Entry::MultipleObjectsReturned);
    CHECK_THROWS_WITH(run(Entry::objects().aget("headline", "Nothing")),
                      Catch::Contains("Entry matching query does not exist."));
    dorm::Kwargs taken{{"name", "News"}};
    CHECK_THROWS_AS(run(Blog::objects().acreate(taken)), dorm::IntegrityError);
    CHECK_THROWS_AS(run(Entry::objects().aget(dorm::Q("nonsense", 1))), dorm::FieldError);
    dorm::Kwargs rating{{"rating", 1}};
    CHECK_THROWS_AS(run(Entry::objects().all().slice(0, 2).aupdate(rating)), dorm::TypeError);
    CHECK_THROWS_AS(run(Blog::objects().alatest()), dorm::ValueError);  // no get_latest_by
    // Nothing was left half done: the database is usable, by blocking and asynchronous calls alike.
    CHECK(run(Blog::objects().acount()) == 3);
    CHECK(blog_names() == V{"Beatles Blog", "Cooking", "News"});
}

TEST_CASE("instances: asave, adelete, arefresh_from_db", "[async]") {
    test::BlogData data;
    Blog b = data.news;
    b.tagline = "Hourly";
    run(b.asave());
    CHECK(Blog::objects().get("name", "News").tagline == "Hourly");
    Blog::objects().filter("name", "News").update({{"tagline", "Weekly"}});
    run(b.arefresh_from_db());
    CHECK(b.tagline == "Weekly");
    b.tagline = "stale";
    run(b.arefresh_from_db(dorm::RefreshOptions{.fields = {"tagline"}}));
    CHECK(b.tagline == "Weekly");
    Blog fresh;
    fresh.name = "Fresh";
    run(fresh.asave());
    CHECK(fresh.id > 0);
    auto deleted = run(data.news.adelete());
    CHECK(deleted.total == 2);  // the blog and its entry (on_delete CASCADE)
    CHECK(deleted.per_model.at("Entry") == 1);
    CHECK_THROWS_AS(run(b.arefresh_from_db()), Blog::DoesNotExist);
}

TEST_CASE("related managers' a-methods, aprefetch_related_objects", "[async]") {
    test::BlogData data;
    auto news_entries = dorm::related<&Entry::blog>(data.news);
    dorm::Kwargs flash{{"headline", "Flash"}, {"pub_date", dorm::Date(2009, 1, 1)}, {"mod_date", dorm::Date(2009, 1, 1)}};
    auto e = run(news_entries.acreate(flash));
    CHECK(e.blog.id() == data.news.id);
    CHECK(run(news_entries.acount()) == 2);
    dorm::Kwargs flash_q{{"headline", "Flash"}};
    auto [same, created] = run(news_entries.aget_or_create(flash_q));
    CHECK((!created && same.id == e.id));
    Entry soup = Entry::objects().get("headline", "Soup");
    run(news_entries.aadd(soup));
    CHECK(soup.blog.id() == data.news.id);  // the object given was updated too
    CHECK(Entry::objects().get("headline", "Soup").blog.id() == data.news.id);

    Author ann = Author::objects().create({{"name", "Ann"}});
    Author bob = Author::objects().create({{"name", "Bob"}});
    auto authors = dorm::related<&Entry::authors>(e);
    run(authors.aadd(ann, bob));
    CHECK(run(authors.acount()) == 2);
    run(authors.aremove(ann));
    CHECK(authors.count() == 1);
    run(authors.aset({ann}));
    CHECK(authors.get().name == "Ann");
    dorm::Kwargs cy{{"name", "Cy"}};
    CHECK(run(authors.acreate(cy)).name == "Cy");
    CHECK(authors.count() == 2);
    run(authors.aclear());
    CHECK(authors.count() == 0);

    auto ordered = Blog::objects().order_by("name");
    std::vector<Blog> blogs(ordered.begin(), ordered.end());
    run(dorm::aprefetch_related_objects(blogs, "entry_set"));
    dorm::CaptureQueries queries;
    CHECK(dorm::prefetched<Entry>(blogs[2], "entry_set").size() == 3);  // News: Election, Flash, Soup
    CHECK(queries.size() == 0);
}

TEST_CASE("aiterator() streams every row in chunks, with prefetch_related per chunk", "[async]") {
    test::BlogData data;
    auto collect = [](auto stream) -> dorm::Task<V> {
        V out;
        while (auto e = co_await stream.next()) out.push_back(e->headline);
        co_return out;
    };
    V all{"Beatles reunion", "Election", "Lennon returns", "Pancakes", "Soup"};
    for (std::size_t chunk : {1, 2, 5, 100}) CHECK(run(collect(Entry::objects().order_by("headline").aiterator(chunk))) == all);
    CHECK(run(collect(Entry::objects().filter("rating__gt", 5).aiterator())).empty());

    auto with_entries = [](auto stream) -> dorm::Task<std::vector<std::size_t>> {
        std::vector<std::size_t> counts;
        while (auto b = co_await stream.next()) counts.push_back(dorm::prefetched<Entry>(*b, "entry_set").size());
        co_return counts;
    };
    CHECK(run(with_entries(Blog::objects().prefetch_related("entry_set").order_by("name").aiterator(2))) ==
          std::vector<std::size_t>{2, 2, 1});
    // As iterator(): after prefetch_related() the chunk size must be given.
    CHECK_THROWS_AS(run(with_entries(Blog::objects().prefetch_related("entry_set").aiterator())), dorm::ValueError);
}

TEST_CASE("a stream left before its end gives its connection back", "[async]") {
    test::Database db("pool_size=1&pool_timeout=5");
    for (int i = 0; i < 10; ++i) Blog::objects().create({{"name", "b" + std::to_string(i)}});
    dorm::release_connections();
    auto first_two = []() -> dorm::Task<V> {
        auto stream = Blog::objects().order_by("name").aiterator(3);
        V out;
        out.push_back((co_await stream.next())->name);
        out.push_back((co_await stream.next())->name);
        co_return out;  // the stream ends here, its cursor open
    };
    CHECK(run(first_two()) == V{"b0", "b1"});
    // The only connection of the pool comes back (closing the cursor on a worker thread); then it serves again.
    auto& database = dorm::databases().get("default");
    for (int i = 0; i < 200 && database.idle_count() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(database.idle_count() == 1);
    CHECK(run(Blog::objects().acount()) == 10);
}

TEST_CASE("a stream reading through an aatomic() block ends with it: its next read raises", "[async]") {
    test::Database db("pool_size=2");
    for (int i = 0; i < 5; ++i) Blog::objects().create({{"name", "b" + std::to_string(i)}});
    auto stream = Blog::objects().order_by("name").aiterator(2);
    V seen;
    run(dorm::aatomic([&]() -> dorm::Task<> {
        seen.push_back((co_await stream.next())->name);  // the first chunk: b0, b1
    }));
    // The block closed the cursor: the chunk read before is still handed out, then the stream refuses.
    seen.push_back((*run(stream.next())).name);
    CHECK(seen == V{"b0", "b1"});
    CHECK_THROWS_AS(run(stream.next()), dorm::TransactionManagementError);
    CHECK(run(Blog::objects().acount()) == 5);  // the connection is clean

    // Read to its end inside the block, a stream stays usable after it (it has nothing more to read).
    auto all = Blog::objects().order_by("name").aiterator(2);
    std::size_t n = 0;
    run(dorm::aatomic([&]() -> dorm::Task<> {
        while (co_await all.next()) ++n;
    }));
    CHECK(n == 5);
    CHECK_FALSE(run(all.next()).has_value());

    // A nested block: the stream ends with the savepoint it was opened in; the outer block goes on.
    auto inner_count = run(dorm::aatomic([&]() -> dorm::Task<std::int64_t> {
        auto nested = Blog::objects().order_by("name").aiterator(2);
        co_await dorm::aatomic([&]() -> dorm::Task<> { (void)co_await nested.next(); });
        bool refused = false;
        try {
            for (int i = 0; i < 3; ++i) (void)co_await nested.next();
        } catch (const dorm::TransactionManagementError&) {
            refused = true;
        }
        co_return refused ? co_await Blog::objects().acount() : -1;
    }));
    CHECK(inner_count == 5);
}

TEST_CASE("aatomic() commits, rolls back on an exception, and nests with savepoints", "[async]") {
    test::Database db;
    run(dorm::aatomic([]() -> dorm::Task<> {
        dorm::Kwargs a{{"name", "a"}};
        co_await Blog::objects().acreate(a);
        // Inside the transaction its own connection sees the row.
        CHECK(co_await Blog::objects().filter("name", "a").aexists());
    }));
    CHECK(blog_names() == V{"a"});

    CHECK_THROWS_AS(run(dorm::aatomic([]() -> dorm::Task<> {
                        dorm::Kwargs b{{"name", "b"}};
                        co_await Blog::objects().acreate(b);
                        throw std::out_of_range("boom");
                    })),
                    std::out_of_range);
    CHECK(blog_names() == V{"a"});

    // A failing inner block rolls back to its savepoint; the outer one commits.
    auto n = run(dorm::aatomic([]() -> dorm::Task<std::int64_t> {
        dorm::Kwargs c{{"name", "c"}};
        co_await Blog::objects().acreate(c);
        try {
            co_await dorm::aatomic([]() -> dorm::Task<> {
                dorm::Kwargs d{{"name", "d"}};
                co_await Blog::objects().acreate(d);
                dorm::Kwargs dup{{"name", "a"}};
                co_await Blog::objects().acreate(dup);  // IntegrityError: unique name
            });
        } catch (const dorm::IntegrityError&) {
        }
        co_return co_await Blog::objects().acount();
    }));
    CHECK(n == 2);
    CHECK(blog_names() == V{"a", "c"});
}

TEST_CASE("aon_commit() and aset_rollback() act on the aatomic() block, not on the thread's connection", "[async]") {
    test::Database db;
    std::atomic<int> ran{0};
    run(dorm::aatomic([&]() -> dorm::Task<> {
        co_await dorm::aon_commit([&] { ++ran; });
        CHECK(ran == 0);  // not before the commit
        co_await dorm::aatomic([&]() -> dorm::Task<> {
            co_await dorm::aon_commit([&] { ran += 10; });
            co_await dorm::aset_rollback(true);  // the savepoint rolls back: its callback is discarded
            CHECK(co_await dorm::aget_rollback());
        });
        CHECK_FALSE(co_await dorm::aget_rollback());
        CHECK(ran == 0);
    }));
    CHECK(ran == 1);

    // A block marked for rollback rolls back without an exception and runs none of its callbacks.
    run(dorm::aatomic([&]() -> dorm::Task<> {
        dorm::Kwargs a{{"name", "a"}};
        co_await Blog::objects().acreate(a);
        co_await dorm::aon_commit([&] { ran += 100; });
        co_await dorm::aset_rollback(true);
    }));
    CHECK(ran == 1);
    CHECK(blog_names().empty());

    // A block that throws discards them too.
    CHECK_THROWS_AS(run(dorm::aatomic([&]() -> dorm::Task<> {
                        co_await dorm::aon_commit([&] { ran += 1000; });
                        throw std::out_of_range("boom");
                    })),
                    std::out_of_range);
    CHECK(ran == 1);

    // Outside a block: at once, as on_commit(); aset_rollback() is refused, as set_rollback() is.
    run(dorm::aon_commit([&] { ran += 5; }));
    CHECK(ran == 6);
    CHECK_THROWS_AS(run(dorm::aset_rollback(true)), dorm::TransactionManagementError);
}

TEST_CASE("nested aatomic() blocks of one transaction may follow each other, not run at the same time", "[async]") {
    test::Database db("pool_size=2");
    auto block = [](std::string name) {
        return dorm::aatomic([name]() -> dorm::Task<> {
            dorm::Kwargs k{{"name", name}};
            co_await Blog::objects().acreate(k);
            co_await test::busy_query(0.3);  // still open when the other block starts
        });
    };
    // One after the other: each is a savepoint, and the transaction commits both.
    run(dorm::aatomic([&]() -> dorm::Task<> {
        co_await block("one");
        co_await block("two");
    }));
    CHECK(blog_names() == V{"one", "two"});
    // At the same time: the second to begin is refused (its savepoint would be released inside the other's).
    CHECK_THROWS_AS(run(dorm::aatomic([&]() -> dorm::Task<> { co_await dorm::when_all(block("a"), block("b")); })),
                    dorm::TransactionManagementError);
    CHECK(blog_names() == V{"one", "two"});
    // Concurrent operations (not blocks) in one transaction take turns on its connection.
    auto n = run(dorm::aatomic([&]() -> dorm::Task<std::int64_t> {
        auto counts = co_await dorm::when_all(Blog::objects().acount(), Blog::objects().acount());
        co_return counts[0] + counts[1];
    }));
    CHECK(n == 4);
}

TEST_CASE("aatomic() keeps the alias it was given: the task may run after the caller's string is gone", "[async]") {
    test::Database db;
    const std::string alias = "an_alias_long_enough_to_live_on_the_heap_" + std::to_string(std::rand());
    dorm::databases().add(alias, test::database_url());
    bool ran = false;
    auto block = [&] {
        std::string temporary = alias;
        return dorm::aatomic([&]() -> dorm::Task<> {
            ran = true;
            co_return;
        }, temporary);  // `temporary` is gone before the task runs
    };
    auto task = block();
    std::string reuse(alias.size(), 'x');  // likely in the freed string's place
    run(std::move(task));
    CHECK(ran);
    dorm::databases().remove(alias);
}

TEST_CASE("aatomic() holds one connection: other connections do not see its rows before the commit", "[async]") {
    if (!test::is_postgresql()) return;  // SQLite's in-memory database shares one cache: no isolation to observe
    test::Database db("pool_size=4");
    std::int64_t seen_outside = -1;
    run(dorm::aatomic([&]() -> dorm::Task<> {
        dorm::Kwargs a{{"name", "a"}};
        co_await Blog::objects().acreate(a);
        // A blocking query on this thread uses this thread's connection: not the transaction's.
        seen_outside = Blog::objects().count();
        CHECK(co_await Blog::objects().acount() == 1);
    }));
    CHECK(seen_outside == 0);
    CHECK(Blog::objects().count() == 1);
}

TEST_CASE("work runs on worker threads; the awaiting coroutine resumes on its executor's thread", "[async]") {
    test::Database db;
    const auto caller = std::this_thread::get_id();
    std::thread::id worker, resumed;
    run([&]() -> dorm::Task<> {
        worker = co_await dorm::detail::offload([] { return std::this_thread::get_id(); });
        (void)co_await Blog::objects().acount();
        resumed = std::this_thread::get_id();
    }());
    CHECK(worker != caller);
    CHECK(resumed == caller);
}

TEST_CASE("awaiting a long query leaves the executor's thread free", "[async]") {
    test::Database db;
    const auto start = std::chrono::steady_clock::now();
    const int ticks_during = ticks_while(test::busy_query(0.3));
    if (test::is_postgresql()) CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(300));
    // The loop kept resuming the ticker while the query ran on a worker thread.
    CHECK(ticks_during > 100);
}

TEST_CASE("a pooled PostgreSQL database runs the work on the executor's thread without blocking it", "[async]") {
    // PostgreSQL: the work runs on a fiber of the awaiting executor's thread and waits on the server's socket
    // through the executor, so no thread waits for the server. SQLite: on worker threads, as before.
    test::Database db("pool_size=2&pool_timeout=10");
    const auto caller = std::this_thread::get_id();
    std::thread::id ran_on;
    const auto start = std::chrono::steady_clock::now();
    const int ticks_during = ticks_while(dorm::detail::offload_to("default", [&] {
        ran_on = std::this_thread::get_id();
        test::busy_statement(0.3);
    }));
    if (test::is_postgresql()) {
        CHECK(ran_on == caller);
        CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(300));
    } else {
        CHECK(ran_on != caller);
    }
    CHECK(ticks_during > 100);
    // Many concurrent a-methods on the same thread, more than the pool holds: each gets a connection in turn.
    for (int i = 0; i < 5; ++i) Blog::objects().create({{"name", "b" + std::to_string(i)}});
    std::vector<dorm::Task<std::int64_t>> counts;
    for (int i = 0; i < 20; ++i) counts.push_back(Blog::objects().filter("name__gte", "b" + std::to_string(i % 5)).acount());
    const auto got = run(dorm::when_all(std::move(counts)));
    for (int i = 0; i < 20; ++i) CHECK(got[static_cast<std::size_t>(i)] == 5 - i % 5);
    // Exceptions cross the fiber with their types.
    CHECK_THROWS_AS(run(Blog::objects().aget("name", "none")), Blog::DoesNotExist);
}

TEST_CASE("when_all() overlaps tasks and returns their values in order", "[async]") {
    test::BlogData data;
    auto counts = run(dorm::when_all(Blog::objects().acount(), Entry::objects().acount(),
                                     Entry::objects().filter("rating__gte", 4).acount()));
    CHECK(counts == std::vector<std::int64_t>{3, 5, 2});
    CHECK(run(dorm::when_all(std::vector<dorm::Task<int>>{})).empty());
    // Once all have finished, the exception raised first, whatever its place: the first task fails only after the
    // second has failed (and the third has finished).
    std::vector<dorm::Task<Entry>> gets;
    std::atomic<bool> second_failed{false};
    gets.push_back([](std::atomic<bool>& flag) -> dorm::Task<Entry> {
        co_await dorm::detail::offload([&flag] {
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
            while (!flag && std::chrono::steady_clock::now() < deadline)
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        });
        co_return co_await Entry::objects().aget("headline", "Nothing");
    }(second_failed));
    gets.push_back([](std::atomic<bool>& flag) -> dorm::Task<Entry> {
        try {
            co_return co_await Entry::objects().aget("blog__name", "Cooking");
        } catch (...) {
            flag = true;
            throw;
        }
    }(second_failed));
    gets.push_back(Entry::objects().aget("headline", "Soup"));
    CHECK_THROWS_AS(run(dorm::when_all(std::move(gets))), Entry::MultipleObjectsReturned);
    // Four jobs that each wait (up to 5 s) until all four have started: they finish at once only if they overlap.
    std::atomic<int> arrived{0};
    auto meet = [&] {
        return dorm::detail::offload([&] {
            ++arrived;
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
            while (arrived < 4 && std::chrono::steady_clock::now() < deadline)
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
        });
    };
    const auto start = std::chrono::steady_clock::now();
    run(dorm::when_all(meet(), meet(), meet(), meet()));
    CHECK(arrived == 4);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("when_all() puts a statement's failure before the refusals after it, not before a misuse", "[async]") {
    // Tasks that fail before they first suspend: they fail in their order, the first one first.
    auto failing = [](int which) -> dorm::Task<int> {
        if (which == 0) throw dorm::TransactionManagementError("dorm: misuse");
        if (which == 1) throw dorm::detail::BrokenTransactionError("dorm: refused");
        throw dorm::IntegrityError("dorm: duplicate", "INSERT", "23505");
        co_return 0;
    };
    auto first_error = [&](std::vector<int> order) {
        std::vector<dorm::Task<int>> tasks;
        for (int w : order) tasks.push_back(failing(w));
        try {
            run(dorm::when_all(std::move(tasks)));
        } catch (const dorm::detail::BrokenTransactionError&) {
            return std::string("refused");
        } catch (const dorm::TransactionManagementError&) {
            return std::string("misuse");
        } catch (const dorm::IntegrityError&) {
            return std::string("failed");
        }
        return std::string("none");
    };
    CHECK(first_error({1, 2}) == "failed");   // a refusal, then the failure that caused it: the failure
    CHECK(first_error({1, 1, 2, 1}) == "failed");
    CHECK(first_error({2, 1}) == "failed");
    CHECK(first_error({0, 2}) == "misuse");   // a transaction used the wrong way is no refusal: it came first
    CHECK(first_error({0, 1, 2}) == "misuse");
    CHECK(first_error({1, 0, 2}) == "failed");
    CHECK(first_error({1, 0}) == "refused");  // no failure to put first
}

TEST_CASE("many concurrent transactions share a small pool", "[async]") {
    test::Database db("pool_size=2&pool_timeout=20");
    std::vector<dorm::Task<>> tasks;
    for (int i = 0; i < 20; ++i)
        tasks.push_back(dorm::aatomic([i]() -> dorm::Task<> {
            dorm::Kwargs k{{"name", "blog " + std::to_string(i)}};
            auto b = co_await Blog::objects().acreate(k);
            dorm::Kwargs e{{"blog", b.id}, {"headline", "first"}, {"pub_date", dorm::Date(2020, 1, 1)},
                           {"mod_date", dorm::Date(2020, 1, 1)}};
            co_await Entry::objects().acreate(e);
            if (i % 5 == 0) throw std::runtime_error("rolled back");
        }));
    // Each task's exception is its own: run them all, then count what committed.
    std::vector<dorm::Task<bool>> guarded;
    for (auto& t : tasks)
        guarded.push_back([](dorm::Task<> inner) -> dorm::Task<bool> {
            try {
                co_await std::move(inner);
                co_return true;
            } catch (const std::runtime_error&) {
                co_return false;
            }
        }(std::move(t)));
    auto ok = run(dorm::when_all(std::move(guarded)));
    CHECK(std::count(ok.begin(), ok.end(), true) == 16);
    CHECK(Blog::objects().count() == 16);
    CHECK(Entry::objects().count() == 16);
    CHECK(dorm::databases().get("default").connection_count() <= 2);
}

TEST_CASE("a task destroyed while its query runs cancels the query and waits for it", "[async]") {
    test::Database db;
    LongStatement work;
    auto &started = work.started, &finished = work.finished, &cancelled = work.cancelled;
    const auto begin = std::chrono::steady_clock::now();
    {
        auto pending = start(dorm::detail::offload([&] { work.run(); }));
        for (int i = 0; i < 500 && !started; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        REQUIRE(started);
        // Cancelling is only meaningful once the statement runs: on PostgreSQL, wait until the server shows it.
        if (test::is_postgresql()) {
            bool running = false;
            for (int i = 0; i < 500 && !running; ++i) {
                auto c = dorm::databases().get("default").connection().query(
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep(5%'", {});
                running = c->next() && c->row()[0].i > 0;
                if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            REQUIRE(running);
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
    }  // destroyed: the statement is cancelled, and the destruction waits for the work to end
    CHECK(finished);
    CHECK(cancelled);
    CHECK(std::chrono::steady_clock::now() - begin < std::chrono::seconds(4));
    // The worker's connection is clean and serves again.
    CHECK(run(Blog::objects().acount()) == 0);
    // Tasks are lazy: one destroyed before it was awaited never runs.
    bool ran = false;
    { auto never = dorm::detail::offload([&] { ran = true; }); }
    CHECK(!ran);
}

TEST_CASE("a task destroyed while its work runs on its executor's thread: the statement is cancelled at once",
          "[async]") {
    // On a pooled PostgreSQL database the work runs on a fiber of this very thread, so destroying the task cannot
    // wait for it: the statement is cancelled, the work ends on its own, and its connection goes back to the pool.
    // (SQLite: on a worker thread, waited for, as above.)
    test::Database db("pool_size=1&pool_timeout=10");
    dorm::release_connections();  // the one the tables were created on
    LongStatement work;
    auto &started = work.started, &finished = work.finished, &cancelled = work.cancelled;
    const auto begin = std::chrono::steady_clock::now();
    run([&]() -> dorm::Task<> {
        auto& context = co_await dorm::detail::this_context{};
        {
            auto pending = start_on(context.executor, dorm::detail::offload_to("default", [&] { work.run(); }));
            while (!started) co_await Yield{};
            // Until the server runs it (a cancel that comes earlier is not for it).
            const auto sent = std::chrono::steady_clock::now();
            while (std::chrono::steady_clock::now() - sent < std::chrono::milliseconds(300)) co_await Yield{};
        }
        while (!finished && std::chrono::steady_clock::now() - begin < std::chrono::seconds(8)) co_await Yield{};
    }());
    CHECK(finished);
    CHECK(cancelled);
    CHECK(std::chrono::steady_clock::now() - begin < std::chrono::seconds(4));
    // The connection went back to the pool, clean: the pool's one connection serves the next task.
    CHECK(run(Blog::objects().acount()) == 0);
    CHECK(dorm::databases().get("default").connection_count() <= 1);
}

TEST_CASE("a task destroyed between two statements of its work still has the next one cancelled", "[async]") {
    test::Database db;
    std::atomic<bool> started{false}, cancelled{false};
    const auto begin = std::chrono::steady_clock::now();
    {
        auto pending = start(dorm::detail::offload([&] {
            started = true;
            // No statement runs yet when the task is destroyed: a single cancel would be lost.
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
            try {
                test::busy_statement(5);
            } catch (const dorm::Error&) {
                cancelled = true;
            }
        }));
        for (int i = 0; i < 500 && !started; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        REQUIRE(started);
    }
    CHECK(cancelled);
    CHECK(std::chrono::steady_clock::now() - begin < std::chrono::seconds(4));
    CHECK(run(Blog::objects().acount()) == 0);
}

TEST_CASE("work waiting for a connection another thread holds is woken when it comes back, not by polling",
          "[async]") {
    // A thread holds the pool's one connection for 300 ms. On PostgreSQL the acount() runs on a fiber of this
    // thread: it must wait for the connection through its executor with a single wait, woken when the thread gives
    // the connection back (a poll every few ms would make dozens). On SQLite it waits on a worker thread.
    test::Database db("pool_size=1&pool_timeout=10");
    Blog::objects().create({{"name", "one"}});
    dorm::release_connections();
    struct Counting final : dorm::Executor {
        dorm::Executor* loop = nullptr;
        std::atomic<int> waits{0};
        void post(std::coroutine_handle<> h) override { loop->post(h); }
        bool waits_on_sockets() const noexcept override { return true; }
        void wait_readable(int fd, std::coroutine_handle<> h) override {
            ++waits;
            loop->wait_readable(fd, h);
        }
    } counting;
    std::atomic<bool> holding{false};
    std::chrono::steady_clock::time_point given_back;
    std::thread holder([&] {
        (void)dorm::databases().get("default").connection();
        holding = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        given_back = std::chrono::steady_clock::now();
        dorm::release_connections();
    });
    std::int64_t count = -1;
    std::chrono::steady_clock::time_point counted;
    run([&]() -> dorm::Task<> {
        counting.loop = (co_await dorm::detail::this_context{}).executor;
        while (!holding) co_await Yield{};
        bool done = false;
        auto counter = [&]() -> dorm::Task<> {
            count = co_await Blog::objects().acount();
            counted = std::chrono::steady_clock::now();
            done = true;
        };
        auto pending = start_on(&counting, counter());
        while (!done) co_await Yield{};
    }());
    holder.join();
    CHECK(count == 1);
    CHECK(counted >= given_back);
    CHECK(counting.waits < 10);  // the connection's own reads, and one wait for it
}

TEST_CASE("connecting to PostgreSQL on a fiber waits through the executor; connect_timeout still ends it",
          "[async]") {
    // A server that accepts the connection and never answers: libpq waits for its first reply. Connecting runs on a
    // fiber of this thread (a pooled PostgreSQL database): the loop must keep turning meanwhile, and connect_timeout
    // (1 s, which libpq counts as 2) must end the wait with OperationalError. No PostgreSQL server is needed.
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listener >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    REQUIRE(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(listen(listener, 8) == 0);
    REQUIRE(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    dorm::databases().add("silent", fmt::format("postgresql://dorm@127.0.0.1:{}/dorm?sslmode=disable&"
                                                "connect_timeout=1&pool_size=1&pool_timeout=10",
                                                ntohs(address.sin_port)));
    const auto caller = std::this_thread::get_id();
    std::thread::id ran_on;
    std::string error;
    const auto start = std::chrono::steady_clock::now();
    auto connecting = [&]() -> dorm::Task<> {
        try {
            co_await dorm::detail::offload_to("silent", [&] {
                ran_on = std::this_thread::get_id();
                (void)dorm::databases().get("silent").connection();
            });
        } catch (const dorm::OperationalError& e) {
            error = e.what();
        }
    };
    const int ticks = ticks_while(connecting());
    const auto took = std::chrono::steady_clock::now() - start;
    dorm::databases().remove("silent");
    close(listener);
    CHECK(ran_on == caller);
    CHECK_THAT(error, Catch::Contains("timeout expired"));
    CHECK(took >= std::chrono::milliseconds(1900));
    CHECK(took < std::chrono::seconds(10));
    CHECK(ticks > 100);  // blocking in libpq's connection, the loop would not have turned at all

    if (!test::is_postgresql()) return;
    // A real server: the fiber connects and queries, and what the executor watched while it connected was the
    // socket inside an epoll set (waiting for it to be writable), not the thread.
    dorm::databases().add("fresh", test::database_url("pool_size=1&pool_timeout=10"));
    struct Watching final : dorm::Executor {
        dorm::Executor* loop = nullptr;
        int sets = 0;
        void post(std::coroutine_handle<> h) override { loop->post(h); }
        bool waits_on_sockets() const noexcept override { return true; }
        void wait_readable(int fd, std::coroutine_handle<> h) override {
            char target[64] = {};
            const std::string link = "/proc/self/fd/" + std::to_string(fd);
            if (readlink(link.c_str(), target, sizeof target - 1) > 0 && std::string_view(target) == "anon_inode:[eventpoll]")
                ++sets;
            loop->wait_readable(fd, h);
        }
    } watching;
    std::int64_t one = 0;
    std::thread::id fresh_on;
    run([&]() -> dorm::Task<> {
        watching.loop = (co_await dorm::detail::this_context{}).executor;
        bool finished = false;
        auto query = [&]() -> dorm::Task<> {
            one = co_await dorm::detail::offload_to("fresh", [&] {
                fresh_on = std::this_thread::get_id();
                return dorm::databases().get("fresh").connection().query("SELECT 1", {})->next() ? 1 : 0;
            });
            finished = true;
        };
        auto pending = start_on(&watching, query());
        while (!finished) co_await Yield{};
    }());
    dorm::databases().remove("fresh");
    CHECK(one == 1);
    CHECK(fresh_on == caller);
    CHECK(watching.sets >= 1);
}

TEST_CASE("work for one database runs at most pool_size at a time; the rest waits in the queue", "[async]") {
    test::Database db("pool_size=2&pool_timeout=10");
    std::atomic<int> running{0}, most{0};
    auto job = [&] {
        return dorm::detail::offload_to("default", [&] {
            const int now = ++running;
            int seen = most;
            while (now > seen && !most.compare_exchange_weak(seen, now)) {
            }
            test::busy_statement(0.1);
            --running;
        });
    };
    std::vector<dorm::Task<>> tasks;
    for (int i = 0; i < 8; ++i) tasks.push_back(job());
    run(dorm::when_all(std::move(tasks)));
    CHECK(most <= 2);  // without the bound, all eight would start and six would wait for the pool on threads
    CHECK(most >= 1);
    // QuerySet a-methods are queued for their database's pool the same way.
    std::vector<dorm::Task<std::int64_t>> counts;
    for (int i = 0; i < 8; ++i) counts.push_back(Blog::objects().acount());
    CHECK(run(dorm::when_all(std::move(counts))) == std::vector<std::int64_t>(8, 0));
    // A task is lazy: the database its alias names is looked up when it runs, not when it was made.
    dorm::databases().add("short_lived", test::database_url("pool_size=1"));
    auto pending = Blog::objects().using_("short_lived").acount();
    dorm::databases().add("short_lived", test::database_url("pool_size=3"));  // the first one is gone
    try {
        (void)run(std::move(pending));  // PostgreSQL: the same tables; SQLite: a new in-memory database without them
    } catch (const dorm::OperationalError&) {
        CHECK_FALSE(test::is_postgresql());
    }
    dorm::databases().remove("short_lived");
}

TEST_CASE("instances' and related managers' a-methods wait in their database's queue, not in its pool", "[async]") {
    // One connection, and a pool that gives up almost at once: work that waited for it on a worker thread while a
    // slow statement holds it would raise OperationalError; queued behind that statement, it runs when it is done.
    test::Database db("pool_size=1&pool_timeout=0.05");
    Blog news = Blog::objects().create({{"name", "News"}});
    dorm::Kwargs soup_fields{{"headline", "Soup"}, {"blog", news.id}, {"pub_date", dorm::Date(2007, 11, 5)},
                             {"mod_date", dorm::Date(2007, 11, 5)}};
    Entry soup = Entry::objects().create(soup_fields);
    Author ann = Author::objects().create({{"name", "Ann"}});
    dorm::release_connections();

    std::atomic<bool> holding{false};
    auto busy = dorm::detail::offload_to("default", [&] {
        (void)dorm::databases().get("default").connection();  // the pool's one connection, until the job ends
        holding = true;
        test::busy_statement(0.3);
    });
    std::vector<Blog> blogs(3);
    auto soup_authors = dorm::related<&Entry::authors>(soup);
    dorm::Kwargs flash{{"headline", "Flash"}, {"pub_date", dorm::Date(2009, 1, 1)}, {"mod_date", dorm::Date(2009, 1, 1)}};
    auto rest = [&]() -> dorm::Task<> {
        // Waits without holding the executor's thread: on PostgreSQL the busy statement runs on a fiber there.
        while (!holding) co_await dorm::detail::offload([] { std::this_thread::sleep_for(std::chrono::milliseconds(5)); });
        auto done = [](auto task) -> dorm::Task<> { (void)co_await std::move(task); };
        std::vector<dorm::Task<>> tasks;
        for (std::size_t i = 0; i < blogs.size(); ++i) {
            blogs[i].name = "queued " + std::to_string(i);
            tasks.push_back(blogs[i].asave());
        }
        tasks.push_back(news.arefresh_from_db());
        tasks.push_back(done(dorm::related<&Entry::blog>(news).acreate(flash)));
        tasks.push_back(soup_authors.aadd(ann));
        co_await dorm::when_all(std::move(tasks));
    };
    std::vector<dorm::Task<>> both;
    both.push_back(std::move(busy));
    both.push_back(rest());
    run(dorm::when_all(std::move(both)));
    CHECK(Blog::objects().filter("name__startswith", "queued ").count() == 3);
    CHECK(Entry::objects().filter("headline", "Flash").count() == 1);
    CHECK(soup_authors.count() == 1);
}

TEST_CASE("more concurrent transactions than worker threads: those holding the pool's connections still finish",
          "[async]") {
    // 150 blocks on a pool of 2: most worker threads wait for a connection, and the work of the two blocks
    // holding them (on those connections) must not queue behind them (it would wait for pool_timeout).
    test::Database db("pool_size=2&pool_timeout=10");
    std::vector<dorm::Task<int>> tasks;
    for (int i = 0; i < 150; ++i)
        tasks.push_back(dorm::aatomic([i]() -> dorm::Task<int> {
            dorm::Kwargs k{{"name", "blog " + std::to_string(i)}};
            co_await Blog::objects().acreate(k);
            co_return 1;
        }));
    const auto start = std::chrono::steady_clock::now();
    auto done = run(dorm::when_all(std::move(tasks)));
    CHECK(std::count(done.begin(), done.end(), 1) == 150);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
    CHECK(Blog::objects().count() == 150);
}

TEST_CASE("an executor that cannot take a coroutine back has it resumed where its work finished", "[async]") {
    test::BlogData data;
    // An event loop out of memory, or shutting down: post() throws. The awaiting task must still resume (on the
    // worker thread, as with no executor at all), not end the program in a noexcept path.
    struct Refusing final : dorm::Executor {
        std::atomic<int> refused{0};
        void post(std::coroutine_handle<>) override {
            ++refused;
            throw std::bad_alloc();
        }
    } refusing;
    const auto caller = std::this_thread::get_id();
    std::thread::id resumed_on;
    auto task = [&]() -> dorm::Task<std::int64_t> {
        auto& context = co_await dorm::detail::this_context{};
        context.executor = &refusing;
        auto n = co_await Entry::objects().acount();
        resumed_on = std::this_thread::get_id();
        co_return n;
    };
    CHECK(run(task()) == 5);
    CHECK(refusing.refused.load() == 1);
    CHECK(resumed_on != caller);  // on the worker that ran the count
}

namespace {
/// An executor over sync_wait()'s loop that counts how often it is asked to watch a socket (not an epoll set or a
/// timer): each time, a task waits for the server.
struct SocketWaits final : dorm::Executor {
    dorm::Executor* loop = nullptr;
    std::atomic<int> waits{0};
    void post(std::coroutine_handle<> h) override { loop->post(h); }
    bool waits_on_sockets() const noexcept override { return true; }
    void wait_readable(int fd, std::coroutine_handle<> h) override {
        char target[64] = {};
        const std::string link = "/proc/self/fd/" + std::to_string(fd);
        if (readlink(link.c_str(), target, sizeof target - 1) > 0 && std::string_view(target).starts_with("socket:"))
            ++waits;
        loop->wait_readable(fd, h);
    }
};

/// Runs `task` on sync_wait()'s loop through `executor` (which must pass to that loop).
void run_through(SocketWaits& executor, dorm::Task<> task) {
    run([&]() -> dorm::Task<> {
        executor.loop = (co_await dorm::detail::this_context{}).executor;
        bool finished = false;
        auto body = [&]() -> dorm::Task<> {
            co_await std::move(task);
            finished = true;
        };
        auto pending = start_on(&executor, body());
        while (!finished) co_await Yield{};
    }());
}

}  // namespace

// Named: a coroutine frame holding a type of an unnamed namespace is refused (-Wsubobject-linkage).
namespace async_outcomes {
/// How one awaited operation ended.
enum class Outcome { ok, integrity_error, refused, aborted, other };
template <class T>
dorm::Task<Outcome> outcome_of(dorm::Task<T> task) {
    try {
        co_await std::move(task);
        co_return Outcome::ok;
    } catch (const dorm::IntegrityError&) {
        co_return Outcome::integrity_error;
    } catch (const dorm::TransactionManagementError&) {
        co_return Outcome::refused;
    } catch (const dorm::InternalError&) {
        co_return Outcome::aborted;
    } catch (...) {
        co_return Outcome::other;
    }
}
}  // namespace async_outcomes
using async_outcomes::Outcome;
using async_outcomes::outcome_of;

TEST_CASE("concurrent single statements of one aatomic() block share round trips on PostgreSQL (pipeline mode)",
          "[async]") {
    test::Database db;
    constexpr int n = 300;
    std::vector<Blog> created;
    SocketWaits counting;
    // All issued at once: on PostgreSQL each statement goes out while the earlier ones' results are awaited, so
    // the tasks wait for the server far fewer times than there are statements (one by one, at least once each).
    run_through(counting, dorm::aatomic([&]() -> dorm::Task<> {
        std::vector<dorm::Task<Blog>> tasks;
        for (int i = 0; i < n; ++i) {
            dorm::Kwargs k{{"name", "p" + std::to_string(i)}};
            tasks.push_back(Blog::objects().acreate(k));
        }
        created = co_await dorm::when_all(std::move(tasks));
    }));
    REQUIRE(created.size() == n);
    std::vector<std::int64_t> ids;
    for (int i = 0; i < n; ++i) {
        const auto& b = created[static_cast<std::size_t>(i)];
        CHECK(b.name == "p" + std::to_string(i));
        CHECK(Blog::objects().get("id", b.id).name == b.name);  // each got its own row's key
        ids.push_back(b.id);
    }
    std::sort(ids.begin(), ids.end());
    CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
    CHECK(Blog::objects().count() == n);
    if (test::is_postgresql()) {
        CHECK(counting.waits > 0);  // the waits went through the executor: no thread waited for the server
        CHECK(counting.waits < n / 3);
    }

    // Reads, counts and updates pipeline too, beside work that is not one statement (aget_or_create takes a
    // savepoint; a stream reads through a cursor): each answer is its own, in the same transaction.
    // The tasks ran concurrently, so the first task's row need not have the smallest key.
    const Blog first = *std::min_element(created.begin(), created.end(),
                                         [](const Blog& a, const Blog& b) { return a.id < b.id; });
    auto mixed = run(dorm::aatomic([&]() -> dorm::Task<std::vector<std::int64_t>> {
        std::vector<dorm::Task<std::int64_t>> tasks;
        for (int i = 0; i < 40; ++i) {
            const std::string name = "p" + std::to_string(i);
            switch (i % 5) {
            case 0:
                tasks.push_back([](std::string nm) -> dorm::Task<std::int64_t> {
                    auto b = co_await Blog::objects().aget("name", nm);
                    co_return b.id;
                }(name));
                break;
            case 1: tasks.push_back(Blog::objects().filter("name", name).acount()); break;
            case 2: {
                dorm::Kwargs k{{"name", name + "-renamed"}};
                tasks.push_back(Blog::objects().filter("name", name).aupdate(k));
                break;
            }
            case 3:
                tasks.push_back([](std::string nm) -> dorm::Task<std::int64_t> {
                    dorm::Kwargs k{{"name", nm + "-new"}};
                    auto [b, made] = co_await Blog::objects().aget_or_create(k);
                    co_return made && b.id > 0 ? 1 : 0;
                }(name));
                break;
            default:
                tasks.push_back([]() -> dorm::Task<std::int64_t> {
                    auto rows = Blog::objects().order_by("id").aiterator(2);
                    auto b = co_await rows.next();  // left before its end: closed with the block
                    co_return b ? b->id : -1;
                }());
            }
        }
        co_return co_await dorm::when_all(std::move(tasks));
    }));
    REQUIRE(mixed.size() == 40);
    for (int i = 0; i < 40; ++i) {
        const auto got = mixed[static_cast<std::size_t>(i)];
        switch (i % 5) {
        case 0: CHECK(got == created[static_cast<std::size_t>(i)].id); break;
        case 4: CHECK(got == first.id); break;
        default: CHECK(got == 1);
        }
    }
    CHECK(Blog::objects().filter("name__endswith", "-renamed").count() == 8);
    CHECK(Blog::objects().filter("name__endswith", "-new").count() == 8);
    CHECK(Blog::objects().count() == n + 8);
}

TEST_CASE("pipelined statements of one text keep each value's type: doubles, integers and NULLs interleaved",
          "[async]") {
    test::Database db;
    constexpr int n = 12;
    std::vector<std::int64_t> ids;
    for (int i = 0; i < n; ++i) {
        Sample s;
        s.maybe_int = 1;
        s.save();
        ids.push_back(s.id);
    }
    // One UPDATE text per field, issued at once in one block (on PostgreSQL, one pipeline): its parameter is a
    // double, an integer or NULL from one statement to the next. The server reads a value by the type its statement
    // was prepared with, so a statement prepared for a double must not receive an integer's bytes, nor one prepared
    // for an integer a NULL's text type.
    auto real_of = [](int i) { return i % 3 == 0 ? dorm::Value(i + 0.5) : dorm::Value(i * 1000); };
    auto maybe_of = [](int i) { return i % 2 == 0 ? dorm::Value() : dorm::Value(i * 7); };
    auto changed = run(dorm::aatomic([&]() -> dorm::Task<std::vector<std::int64_t>> {
        std::vector<dorm::Task<std::int64_t>> tasks;
        for (int i = 0; i < n; ++i) {
            dorm::Kwargs real{{"real", real_of(i)}};
            tasks.push_back(Sample::objects().filter("pk", ids[static_cast<std::size_t>(i)]).aupdate(real));
            dorm::Kwargs maybe{{"maybe_int", maybe_of(i)}};
            tasks.push_back(Sample::objects().filter("pk", ids[static_cast<std::size_t>(i)]).aupdate(maybe));
        }
        co_return co_await dorm::when_all(std::move(tasks));
    }));
    REQUIRE(changed.size() == 2 * n);
    for (auto c : changed) CHECK(c == 1);
    for (int i = 0; i < n; ++i) {
        const Sample s = Sample::objects().get("pk", ids[static_cast<std::size_t>(i)]);
        CHECK(s.real == (i % 3 == 0 ? i + 0.5 : i * 1000.0));
        if (i % 2 == 0) CHECK(!s.maybe_int);
        else CHECK(s.maybe_int == i * 7);
    }
}

TEST_CASE("a failing statement among concurrent ones of an aatomic() block: the others are refused, nothing is "
          "committed, and the connection serves the next block",
          "[async]") {
    test::Database db;
    Blog::objects().create({{"name", "taken"}});
    constexpr int n = 60;
    auto outcomes = run(dorm::aatomic([&]() -> dorm::Task<std::vector<Outcome>> {
        std::vector<dorm::Task<Outcome>> tasks;
        for (int i = 0; i < n; ++i) {
            dorm::Kwargs k{{"name", i == n / 2 ? std::string("taken") : "q" + std::to_string(i)}};
            tasks.push_back(outcome_of(Blog::objects().acreate(k)));
        }
        co_return co_await dorm::when_all(std::move(tasks));
    }));
    // The duplicate fails; what came after it in the transaction is refused as after any failed write in a block
    // (TransactionManagementError), or, sent before the failure was known, reported as the server refused it.
    CHECK(std::count(outcomes.begin(), outcomes.end(), Outcome::integrity_error) == 1);
    CHECK(outcomes[n / 2] == Outcome::integrity_error);
    CHECK(std::count(outcomes.begin(), outcomes.end(), Outcome::other) == 0);
    // On PostgreSQL the statements go out in the order the tasks started (on SQLite, worker threads take them
    // in any order): none after the duplicate was written.
    if (test::is_postgresql())
        for (int i = n / 2 + 1; i < n; ++i) CHECK(outcomes[static_cast<std::size_t>(i)] != Outcome::ok);
    // The block ended without an exception of its own and rolled back: only the row from before remains.
    CHECK(blog_names() == V{"taken"});
    // The same connection, back in its pool, runs the next block, pipelined again.
    auto made = run(dorm::aatomic([&]() -> dorm::Task<std::int64_t> {
        std::vector<dorm::Task<Blog>> tasks;
        for (int i = 0; i < 20; ++i) {
            dorm::Kwargs k{{"name", "r" + std::to_string(i)}};
            tasks.push_back(Blog::objects().acreate(k));
        }
        auto blogs = co_await dorm::when_all(std::move(tasks));
        co_return co_await Blog::objects().acount() + static_cast<std::int64_t>(blogs.size());
    }));
    CHECK(made == 21 + 20);
    CHECK(Blog::objects().count() == 21);
    // A savepoint that rolls back after a failure inside it lets the block go on with pipelined statements. The
    // block's when_all() rethrows the IntegrityError, not a refusal of a statement after it (on SQLite, worker
    // threads may run those before the tasks before it).
    auto after = run(dorm::aatomic([&]() -> dorm::Task<std::int64_t> {
        try {
            co_await dorm::aatomic([&]() -> dorm::Task<> {
                std::vector<dorm::Task<Blog>> tasks;
                for (int i = 0; i < 10; ++i) {
                    dorm::Kwargs k{{"name", i == 3 ? std::string("taken") : "s" + std::to_string(i)}};
                    tasks.push_back(Blog::objects().acreate(k));
                }
                co_await dorm::when_all(std::move(tasks));
            });
        } catch (const dorm::IntegrityError&) {
        }
        std::vector<dorm::Task<Blog>> tasks;
        for (int i = 0; i < 10; ++i) {
            dorm::Kwargs k{{"name", "u" + std::to_string(i)}};
            tasks.push_back(Blog::objects().acreate(k));
        }
        co_await dorm::when_all(std::move(tasks));
        co_return co_await Blog::objects().acount();
    }));
    CHECK(after == 31);
    // Statements of shapes not yet prepared on the connection, sent after a failure in the same pipeline, are
    // refused as the others are, and when_all() rethrows the failure, not one of them.
    auto fresh_shapes = [](int round) {
        std::vector<dorm::Task<std::int64_t>> tasks;
        tasks.push_back([]() -> dorm::Task<std::int64_t> {
            dorm::Kwargs k{{"name", "taken"}};
            co_await Blog::objects().acreate(k);
            co_return 1;
        }());
        for (int i = 0; i < 12; ++i) {
            const std::string v = "w" + std::to_string(round) + "-" + std::to_string(i);
            switch (i % 3) {
            case 0: tasks.push_back(Blog::objects().filter("tagline__iendswith", v).exclude("name__contains", v).acount()); break;
            case 1: {
                dorm::Kwargs k{{"tagline", v}};
                tasks.push_back(Blog::objects().filter("name__istartswith", v).filter("id__gte", i).aupdate(k));
                break;
            }
            default:
                tasks.push_back([](std::string w) -> dorm::Task<std::int64_t> {
                    co_return co_await Blog::objects().filter("tagline__icontains", w).order_by("-name").aexists() ? 1 : 0;
                }(v));
            }
        }
        return tasks;
    };
    auto refusals = run(dorm::aatomic([&]() -> dorm::Task<std::vector<Outcome>> {
        std::vector<dorm::Task<Outcome>> tasks;
        for (auto& t : fresh_shapes(0)) tasks.push_back(outcome_of(std::move(t)));
        co_return co_await dorm::when_all(std::move(tasks));
    }));
    CHECK(refusals.front() == Outcome::integrity_error);
    CHECK(std::count(refusals.begin(), refusals.end(), Outcome::other) == 0);
    if (test::is_postgresql())
        for (std::size_t i = 1; i < refusals.size(); ++i) CHECK(refusals[i] != Outcome::ok);
    CHECK_THROWS_AS(run(dorm::aatomic([&]() -> dorm::Task<> { co_await dorm::when_all(fresh_shapes(1)); })),
                    dorm::IntegrityError);
    CHECK(Blog::objects().count() == 31);
    CHECK(Blog::objects().filter("name__startswith", "s").count() == 0);
    CHECK(Blog::objects().filter("name__startswith", "u").count() == 10);
}

TEST_CASE("an aatomic() block destroyed while a nested block and streams wait for its connection: they end with it",
          "[async]") {
    // On PostgreSQL the nested block's SAVEPOINT and the streams' chunks are jobs on fibers, queued behind a long
    // statement; the block's task is destroyed before they run, and they run after it (they own what they use).
    test::Database db("pool_size=1&pool_timeout=10");
    for (int i = 0; i < 3; ++i) Blog::objects().create({{"name", "b" + std::to_string(i)}});
    dorm::release_connections();  // the one the tables were created on
    std::atomic<bool> started{false}, finished{false};
    const auto begin = std::chrono::steady_clock::now();
    run([&]() -> dorm::Task<> {
        auto& context = co_await dorm::detail::this_context{};
        {
            auto pending = start_on(context.executor, dorm::aatomic([&]() -> dorm::Task<> {
                std::vector<dorm::Task<>> tasks;
                tasks.push_back(dorm::detail::offload_to("default", [&] {
                    started = true;
                    try {
                        test::busy_statement(5);
                    } catch (const dorm::Error&) {
                    }
                    finished = true;
                }));
                tasks.push_back(dorm::aatomic([]() -> dorm::Task<> {
                    dorm::Kwargs k{{"name", "nested"}};
                    co_await Blog::objects().acreate(k);
                }));
                for (int i = 0; i < 2; ++i)
                    tasks.push_back([]() -> dorm::Task<> {
                        auto rows = Blog::objects().order_by("id").aiterator(1);
                        while (co_await rows.next()) {
                        }
                    }());
                co_await dorm::when_all(std::move(tasks));
            }));
            while (!started) co_await Yield{};
            const auto sent = std::chrono::steady_clock::now();
            while (std::chrono::steady_clock::now() - sent < std::chrono::milliseconds(300)) co_await Yield{};
        }  // the block's task is destroyed here, its jobs still queued
        while (!finished && std::chrono::steady_clock::now() - begin < std::chrono::seconds(8)) co_await Yield{};
        for (int i = 0; i < 200; ++i) co_await Yield{};  // the queued jobs run, the last hands the connection back
    }());
    CHECK(finished);
    CHECK(std::chrono::steady_clock::now() - begin < std::chrono::seconds(4));
    CHECK(run(Blog::objects().acount()) == 3);  // nothing of the block committed
    CHECK(dorm::databases().get("default").connection_count() <= 1);
}

TEST_CASE("an aatomic() block destroyed while its work runs on its executor's thread: that work is cancelled, and "
          "the block's connection outlives it",
          "[async]") {
    // On PostgreSQL the block's work runs on fibers of this very thread: destroying the block's task cannot wait
    // for it, so the block's pin and connection stay until the last of its jobs has ended. (SQLite: on worker
    // threads, waited for.) Nothing of the block is committed, and the pool's one connection serves again.
    test::Database db("pool_size=1&pool_timeout=10");
    dorm::release_connections();  // the one the tables were created on
    std::atomic<bool> started{false}, finished{false}, cancelled{false};
    std::atomic<int> after{0};
    const auto begin = std::chrono::steady_clock::now();
    run([&]() -> dorm::Task<> {
        auto& context = co_await dorm::detail::this_context{};
        {
            auto pending = start_on(context.executor, dorm::aatomic([&]() -> dorm::Task<> {
                dorm::Kwargs k{{"name", "inside"}};
                co_await Blog::objects().acreate(k);
                std::vector<dorm::Task<>> tasks;
                tasks.push_back(dorm::detail::offload_to("default", [&] {
                    started = true;
                    try {
                        test::busy_statement(5);
                    } catch (const dorm::Error&) {
                        cancelled = true;
                    }
                    finished = true;
                }));
                for (int i = 0; i < 5; ++i)  // queued behind it on the block's connection
                    tasks.push_back(dorm::detail::offload_to("default", [&] {
                        try {
                            (void)Blog::objects().count();
                        } catch (const dorm::Error&) {
                        }
                        ++after;
                    }));
                co_await dorm::when_all(std::move(tasks));
            }));
            while (!started) co_await Yield{};
            const auto sent = std::chrono::steady_clock::now();
            while (std::chrono::steady_clock::now() - sent < std::chrono::milliseconds(300)) co_await Yield{};
        }  // the block's task is destroyed here, its work still running
        while ((!finished || after < 5) && std::chrono::steady_clock::now() - begin < std::chrono::seconds(8))
            co_await Yield{};
        for (int i = 0; i < 100; ++i) co_await Yield{};  // the last job hands the connection back
    }());
    CHECK(finished);
    CHECK(after == 5);
    if (test::is_postgresql()) CHECK(cancelled);
    CHECK(std::chrono::steady_clock::now() - begin < std::chrono::seconds(4));
    CHECK(run(Blog::objects().acount()) == 0);
    CHECK(dorm::databases().get("default").connection_count() <= 1);
}
