// SPDX-License-Identifier: MIT
// ShapeMemo: a query's shape key (<dorm/serialize.hpp>'s shape_key()), kept by a query object evaluated more than
// once (Model::objects(), a QuerySet kept and reused), which then finds its key here instead of writing its recipe
// out again; copies start without one, since a copy may be changed.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dorm {
class Value;
}

namespace dorm::detail {

struct Recipe;  // <dorm/serialize.hpp>

/// What shape_key() writes for a query from its recipe: the same for every query holding that recipe.
struct ShapeText {
    std::shared_ptr<const Recipe> recipe;  // the recipe it was written for; kept, so that no other takes its address
    bool ok = false;                       // false: the recipe has no shape (RawSQL, an unrecordable call)
    std::string text;
    std::vector<const Value*> values;  // the values written as their class, in order: inside the recipe's steps
};

class ShapeMemo {
public:
    ShapeMemo() = default;
    ShapeMemo(const ShapeMemo&) noexcept {}
    ShapeMemo& operator=(const ShapeMemo&) noexcept {
        delete text_.exchange(nullptr);
        serial_.store(0, std::memory_order_relaxed);
        return *this;
    }
    ~ShapeMemo() { delete text_.load(std::memory_order_acquire); }

    const ShapeText* get() const noexcept { return text_.load(std::memory_order_acquire); }
    /// Whether nothing was asked of it yet: no evaluation saw its query, so no connection knows the query.
    bool untouched() const noexcept {
        return !text_.load(std::memory_order_acquire) && !serial_.load(std::memory_order_relaxed) &&
               !asked_.load(std::memory_order_relaxed);
    }
    /// Whether this was asked before: a query evaluated once (most are) is not worth a kept text.
    bool asked_before() const noexcept { return asked_.exchange(true, std::memory_order_relaxed); }
    /// Keeps `t` unless a text is kept already (another thread's, written at the same time): returns the kept one.
    const ShapeText* keep(std::unique_ptr<ShapeText> t) const noexcept {
        ShapeText* expected = nullptr;
        if (text_.compare_exchange_strong(expected, t.get(), std::memory_order_acq_rel)) return t.release();
        return expected;
    }

    /// A number no other query object of this process is given (copies start without one): a connection
    /// remembers by it what it found for a query that cannot change any more (one a QuerySet shares), where the
    /// query's address could be another query's once it is gone.
    std::uint64_t serial() const noexcept {
        std::uint64_t s = serial_.load(std::memory_order_relaxed);
        if (s) return s;
        static std::atomic<std::uint64_t> next{1};
        const std::uint64_t mine = next.fetch_add(1, std::memory_order_relaxed);
        return serial_.compare_exchange_strong(s, mine, std::memory_order_relaxed) ? mine : s;
    }

private:
    mutable std::atomic<ShapeText*> text_{nullptr};
    mutable std::atomic<std::uint64_t> serial_{0};
    mutable std::atomic<bool> asked_{false};
};

}  // namespace dorm::detail
