// SPDX-License-Identifier: MIT
// aatomic(): an atomic block for coroutines, bound to the connection the task holds rather than to a thread.
#pragma once

#include <dorm/config.hpp>

#include <dorm/async/offload.hpp>
#include <dorm/async/task.hpp>
#include <dorm/database.hpp>
#include <dorm/transaction.hpp>

#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace dorm {

namespace detail {
template <class T>
struct task_value;
template <class T>
struct task_value<Task<T>> {
    using type = T;
};

/// The task of an aatomic() block, made when the block has begun (type-erased: see detail::Offload).
template <class R>
struct AtomicBody {
    virtual ~AtomicBody() = default;
    virtual Task<R> start() = 0;
};
template <class Fn, class R>
struct AtomicBodyOf final : AtomicBody<R> {
    explicit AtomicBodyOf(Fn f) : fn(std::move(f)) {}
    Task<R> start() override { return fn(); }
    Fn fn;  // lives as long as the block: a lambda coroutine's captures live in the lambda
};

template <class R>
Task<R> run_atomic(std::unique_ptr<AtomicBody<R>> body, AtomicOptions o) {
    TaskContext& context = co_await this_context{};
    const Pin* outer = context.pins;
    Database& db = databases().get(o.using_);
    const Pin* held = find_pin(outer, &db);
    Lease lease;  // given back even if this frame is destroyed mid-way
    Pin pin;
    if (!held) {  // the outermost block on this database takes a connection for its length
        lease = co_await offload([&db] { return db.lease(); });
        pin.db = &db;
        pin.connection = lease.get();
        pin.outer = outer;
        context.pins = &pin;
    }
    backends::Connection& conn = held ? *held->connection : *lease;
    std::exception_ptr error;
    std::conditional_t<std::is_void_v<R>, bool, std::optional<R>> result{};
    bool entered = false;
    try {
        co_await offload([&] { conn.atomic_enter(o.savepoint, o.durable); });
        entered = true;
        if constexpr (std::is_void_v<R>) co_await body->start();
        else result.emplace(co_await body->start());
    } catch (...) {
        error = std::current_exception();
    }
    if (entered) {
        try {
            if (error) co_await offload([&] { conn.atomic_abort(); });
            else co_await offload([&] { conn.atomic_exit(true); });
        } catch (...) {
            error = std::current_exception();
        }
    }
    context.pins = outer;
    if (lease) co_await offload([&] { lease.reset(); }, true);
    if (error) std::rethrow_exception(error);
    if constexpr (!std::is_void_v<R>) co_return std::move(*result);
}
}  // namespace detail

/// Runs the task `fn()` returns in a transaction, as atomic() runs a block: committed when it finishes, rolled
/// back when it throws (the exception propagates) or called set_rollback(true). The transaction holds one
/// connection of the database's pool for its whole length, and every dorm operation the task awaits (directly or
/// through the tasks it awaits) runs on it, whichever thread does the work; operations of one transaction run
/// one at a time. Nested blocks use savepoints. Returns what the task returns.
///
///     co_await dorm::aatomic([&]() -> dorm::Task<> {
///         auto blog = co_await Blog::objects().acreate({{"name", "Cheddar"}});
///         co_await Entry::objects().acreate({{"blog", blog}, {"headline", "First"}});
///     });
template <class Fn>
auto aatomic(Fn fn, AtomicOptions o = {}) {
    using R = typename detail::task_value<std::invoke_result_t<Fn&>>::type;
    return detail::run_atomic<R>(std::make_unique<detail::AtomicBodyOf<Fn, R>>(std::move(fn)), o);
}

/// aatomic(fn, "other"): the block on another database.
template <class Fn>
auto aatomic(Fn fn, std::string_view using_) {
    return aatomic(std::move(fn), AtomicOptions{using_});
}

}  // namespace dorm
