// SPDX-License-Identifier: MIT
// LazyResults: a QuerySet's result cache, made when first needed. Most QuerySets are built, evaluated once by a
// method that caches nothing (get(), count(), exists(), update()) and dropped: making a cache for each of them
// would cost an allocation per query that a raw driver loop does not make.
#pragma once

#include <dorm/detail/node_pool.hpp>
#include <dorm/model.hpp>  // detail::ResultCache

#include <atomic>
#include <memory>

namespace dorm::detail {

/// Copies share one cache, as the QuerySets holding them do (design.md: "shared result cache"): copying makes the
/// cache first, so that the copy and the original fill the same one. Making it is safe from several threads at
/// once (two threads may copy one const QuerySet); replacing it (reset()) is not, as before.
template <class T>
class LazyResults {
public:
    LazyResults() noexcept = default;
    LazyResults(const LazyResults& other) { reset(other.shared()); }
    LazyResults(LazyResults&& other) noexcept
        : owner_(other.owner_.exchange(nullptr)), raw_(other.raw_.exchange(nullptr, std::memory_order_acq_rel)) {}
    LazyResults& operator=(const LazyResults& other) {
        if (this != &other) reset(other.shared());
        return *this;
    }
    LazyResults& operator=(LazyResults&& other) noexcept {
        if (this != &other) {
            raw_.store(other.raw_.exchange(nullptr, std::memory_order_acq_rel), std::memory_order_release);
            owner_.store(other.owner_.exchange(nullptr));
        }
        return *this;
    }
    ~LazyResults() = default;

    /// The cache, made now if there is none.
    ResultCache<T>& get() const {
        if (ResultCache<T>* r = raw_.load(std::memory_order_acquire)) [[likely]]
            return *r;
        return make();
    }
    /// Whether results were loaded, without making a cache to say no.
    bool filled() const noexcept {
        const ResultCache<T>* r = raw_.load(std::memory_order_acquire);
        return r && r->filled;
    }
    /// The cache as shared ownership (made now if there is none).
    std::shared_ptr<ResultCache<T>> shared() const {
        get();
        return owner_.load();
    }
    /// Holds `cache` from now on (nullptr: none until needed). Not safe while another thread reads this one.
    void reset(std::shared_ptr<ResultCache<T>> cache) const noexcept {
        raw_.store(cache.get(), std::memory_order_release);
        owner_.store(std::move(cache));
    }

private:
    ResultCache<T>& make() const {
        auto fresh = dorm::detail::make_node<ResultCache<T>>();
        std::shared_ptr<ResultCache<T>> first;
        if (!owner_.compare_exchange_strong(first, fresh)) fresh = std::move(first);  // another thread's came first
        raw_.store(fresh.get(), std::memory_order_release);
        return *fresh;  // owner_ keeps it alive
    }

    mutable std::atomic<std::shared_ptr<ResultCache<T>>> owner_;
    mutable std::atomic<ResultCache<T>*> raw_{nullptr};  // owner_'s pointer, read without taking owner_'s lock
};

}  // namespace dorm::detail
