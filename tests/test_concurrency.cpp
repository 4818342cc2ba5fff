// SPDX-License-Identifier: MIT
// Threads sharing dorm: per-thread and pooled connections, F() increments, create storms, a SKIP LOCKED work queue and the
// per-thread statement caches. CI also runs these tests under ThreadSanitizer (tests/run.sh).
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <latch>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

using dorm::F;

namespace {
/// Runs `fn(t)` on `n` threads and waits for them.
template <class Fn>
void on_threads(int n, Fn fn) {
    std::vector<std::thread> threads;
    for (int t = 0; t < n; ++t) threads.emplace_back([&fn, t] { fn(t); });
    for (auto& th : threads) th.join();
}
}  // namespace

TEST_CASE("F() increments from many threads are never lost", "[concurrency]") {
    // 8 threads share 4 pooled connections, each taking one per update and handing it back.
    test::Database db("pool_size=4");
    Sample s;
    s.save();
    dorm::release_connections();
    constexpr int threads = 8, each = 1000;
    std::atomic<int> errors{0};
    on_threads(threads, [&](int) {
        for (int i = 0; i < each; ++i) {
            try {
                Sample::objects().filter("pk", s.id).update({{"medium", F("medium") + 1}});
            } catch (const dorm::Error&) {
                ++errors;
            }
            dorm::release_connections();
        }
    });
    CHECK(errors == 0);
    CHECK(Sample::objects().get("pk", s.id).medium == threads * each);
    CHECK(dorm::databases()["default"].connection_count() <= 4);
}

TEST_CASE("a storm of creates from many threads keeps every row and key", "[concurrency]") {
    test::Database db;
    constexpr int threads = 6, each = 40;
    std::mutex m;
    std::set<std::int64_t> ids;
    std::atomic<int> errors{0};
    on_threads(threads, [&](int t) {
        for (int i = 0; i < each; ++i) {
            try {
                auto b = Blog::objects().create({{"name", "b" + std::to_string(t) + "_" + std::to_string(i)}});
                std::lock_guard lock(m);
                ids.insert(b.id);
            } catch (const dorm::Error&) {
                ++errors;
            }
        }
    });
    CHECK(errors == 0);
    CHECK(ids.size() == std::size_t{threads * each});  // every key handed back once
    CHECK(Blog::objects().count() == threads * each);
}

TEST_CASE("a SKIP LOCKED work queue hands each job to exactly one worker", "[concurrency]") {
    test::Database db("pool_size=8");
    if (!test::is_postgresql()) return;  // row locks need PostgreSQL (SQLite ignores select_for_update, as Django)
    constexpr int jobs = 1000, workers = 8;
    for (int i = 0; i < jobs; ++i) Blog::objects().create({{"name", "job" + std::to_string(i)}, {"tagline", "todo"}});
    std::mutex m;
    std::vector<std::int64_t> taken;
    on_threads(workers, [&](int w) {
        for (;;) {
            auto job = dorm::atomic([&] {
                auto next = Blog::objects()
                                .select_for_update({.skip_locked = true})
                                .filter("tagline", "todo")
                                .order_by("id")
                                .first();
                if (next) Blog::objects().filter("pk", next->id).update({{"tagline", "done by " + std::to_string(w)}});
                return next;
            });
            if (!job) break;
            std::lock_guard lock(m);
            taken.push_back(job->id);
        }
    });
    std::sort(taken.begin(), taken.end());
    CHECK(taken.size() == std::size_t{jobs});
    CHECK(std::adjacent_find(taken.begin(), taken.end()) == taken.end());
    CHECK(Blog::objects().filter("tagline", "todo").count() == 0);
}

TEST_CASE("threads running the same statements use their own caches", "[concurrency]") {
    test::BlogData data;
    std::atomic<int> wrong{0};
    on_threads(6, [&](int t) {
        for (int i = 0; i < 30; ++i) {
            // The same SQL texts on every thread: prepared per connection, INSERT text per thread.
            if (Entry::objects().get("headline", "Soup").rating != 1) ++wrong;
            if (Entry::objects().filter("rating__gte", 4).count() != 2) ++wrong;
            auto a = Author::objects().create({{"name", "a" + std::to_string(t) + "_" + std::to_string(i)}});
            if (a.id <= 0) ++wrong;
        }
    });
    CHECK(wrong == 0);
    CHECK(Author::objects().count() == 6 * 30);
}

TEST_CASE("one QuerySet evaluated by many threads at once: each gets its own values' rows", "[concurrency]") {
    // The QuerySets' query is shared: the first threads to evaluate it again race to keep its shape key.
    test::BlogData data;
    const auto shared = Entry::objects().filter("rating__gte", 4).using_("default");
    std::atomic<int> wrong{0};
    on_threads(6, [&](int t) {
        for (int i = 0; i < 30; ++i) {
            if (shared.count() != 2) ++wrong;
            if (Entry::objects().using_("default").filter("rating__gte", 1 + (t + i) % 5).count() != 5 - (t + i) % 5)
                ++wrong;
        }
    });
    CHECK(wrong == 0);
}

TEST_CASE("copies of one QuerySet made on many threads at once share one result cache", "[concurrency]") {
    // A QuerySet makes its cache when first needed; copying needs it (copies share it), so the threads race to make
    // it, released together by a latch, over many fresh QuerySets: all must end up with the same one.
    test::BlogData data;
    using QS = decltype(Entry::objects());
    constexpr int threads = 6;
    constexpr std::size_t rounds = 50;
    std::vector<std::optional<QS>> shared(rounds);
    for (auto& qs : shared) qs.emplace(Entry::objects().filter("rating__gte", 4).order_by("id"));
    std::vector<std::vector<std::optional<QS>>> copies(threads, std::vector<std::optional<QS>>(rounds));
    std::latch go(threads);
    on_threads(threads, [&](int t) {
        go.arrive_and_wait();
        auto& mine = copies[static_cast<std::size_t>(t)];
        for (std::size_t r = 0; r < rounds; ++r) mine[r].emplace(*shared[r]);
    });
    int unshared = 0;
    for (std::size_t r = 0; r < rounds; ++r) {
        REQUIRE(!shared[r]->is_evaluated());
        REQUIRE(shared[r]->size() == 2);
        for (const auto& mine : copies)
            if (!mine[r]->is_evaluated()) ++unshared;
    }
    CHECK(unshared == 0);
}
