// SPDX-License-Identifier: MIT
// aatomic(): an atomic block for coroutines, bound to the connection the task holds rather than to a thread.
#pragma once

#include <dorm/config.hpp>

#include <dorm/async/offload.hpp>
#include <dorm/async/task.hpp>
#include <dorm/database.hpp>
#include <dorm/errors.hpp>
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

/// A block's pin and the connection it took. The frame owns it; a frame destroyed while jobs on fibers still
/// use it leaves it to the last of them (retire_pin()).
struct BlockPin final : PinOwner {
    Lease lease;  // given back even if the frame is destroyed mid-way
    Pin pin;
    /// A block whose task was destroyed before it ended: its streams let go, and the transaction rolls back, so
    /// that the connection goes back to its pool clean rather than closed.
    ~BlockPin() override {
        pin.release_users();
        if (backends::Connection* c = lease.get())
            for (std::size_t depth = c->atomic_depth(); depth > 0 && c->atomic_depth() == depth; --depth)
                c->atomic_abort();
    }
};
struct RetireBlockPin {
    std::unique_ptr<BlockPin> owned;
    ~RetireBlockPin() {
        if (owned) {
            const Pin& pin = owned->pin;
            retire_pin(pin, std::move(owned));
        }
    }
};

/// `using_`: o.using_'s alias, owned by the frame (the task runs after the caller's string may be gone).
template <class R>
Task<R> run_atomic(std::unique_ptr<AtomicBody<R>> body, AtomicOptions o, std::string using_) {
    TaskContext& context = co_await this_context{};
    const Pin* outer = context.pins;
    Database& db = databases().get(using_);
    const Pin* held = find_pin(outer, &db);
    RetireBlockPin block{std::make_unique<BlockPin>()};
    Lease& lease = block.owned->lease;
    Pin& pin = block.owned->pin;
    pin.db = &db;
    pin.outer = outer;
    if (held) {  // a nested block: a savepoint on the enclosing block's connection
        pin.connection = held->connection;
        pin.root = held->root ? held->root : held;
        pin.depth = held->depth + 1;
    } else {  // the outermost block on this database takes a connection for its length
        lease = co_await offload([&db] { return db.lease(); });
        pin.connection = lease.get();
    }
    context.pins = &pin;
    backends::Connection& conn = *pin.connection;
    // Nested blocks: the depth of the innermost open block, as checked and set under the root's lock.
    // The jobs below capture only what outlives this frame (the pin, kept by retire_pin() while a job on a fiber
    // uses it, and the connection it holds) and copies: a task destroyed while its job waits does not wait for it.
    auto close_block = [p = &pin] {
        if (p->root) p->root->open_depth = p->depth - 1;
    };
    std::exception_ptr error;
    std::conditional_t<std::is_void_v<R>, bool, std::optional<R>> result{};
    bool entered = false;
    try {
        co_await offload_on_pin([p = &pin, c = &conn, savepoint = o.savepoint, durable = o.durable] {
            if (p->root && p->root->open_depth != p->depth - 1)
                throw TransactionManagementError(
                    "dorm: nested aatomic() blocks of one transaction cannot run at the same time: their savepoints "
                    "would interleave");
            c->atomic_enter(savepoint, durable);
            if (p->root) p->root->open_depth = p->depth;
        });
        entered = true;
        if constexpr (std::is_void_v<R>) co_await body->start();
        else result.emplace(co_await body->start());
    } catch (...) {
        error = std::current_exception();
    }
    if (entered) {
        try {
            if (error) {
                co_await offload_on_pin([p = &pin, c = &conn, close_block] {
                    p->release_users();
                    c->atomic_abort();
                    close_block();
                });
            } else {
                co_await offload_on_pin([p = &pin, c = &conn, close_block] {
                    struct Closed {
                        const decltype(close_block)& close;
                        ~Closed() { close(); }
                    } closed{close_block};
                    p->release_users();
                    c->atomic_exit(true);
                });
            }
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
    return detail::run_atomic<R>(std::make_unique<detail::AtomicBodyOf<Fn, R>>(std::move(fn)), o,
                                  std::string(o.using_));
}

/// aatomic(fn, "other"): the block on another database.
template <class Fn>
auto aatomic(Fn fn, std::string_view using_) {
    return aatomic(std::move(fn), AtomicOptions{using_});
}

/// on_commit() for the aatomic() block the awaiting task is in: `fn` runs after that block's outermost COMMIT (on
/// the worker thread that commits), is discarded if the block or a savepoint it was registered under rolls back,
/// and runs at once outside a block. The blocking on_commit() called in a coroutine's body would act on the
/// calling thread's own connection, not the block's.
///
///     co_await dorm::aon_commit([] { notify_subscribers(); });
template <class Fn>
Task<> aon_commit(Fn fn, OnCommitOptions o = {}) {
    return detail::offload([fn = std::move(fn), using_ = std::string(o.using_), robust = o.robust]() mutable {
        on_commit(std::move(fn), OnCommitOptions{using_, robust});
    });
}

/// set_rollback() for the innermost aatomic() block the awaiting task is in on `using_`: true makes it roll back
/// instead of committing, without an exception. TransactionManagementError outside a block.
DORM_DECL Task<> aset_rollback(bool rollback, std::string_view using_ = "default");

/// get_rollback() for the innermost aatomic() block the awaiting task is in on `using_`.
DORM_DECL Task<bool> aget_rollback(std::string_view using_ = "default");

}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/async/impl/atomic.ipp>
#endif
