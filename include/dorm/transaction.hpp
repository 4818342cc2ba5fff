// SPDX-License-Identifier: MIT
// Transactions, as Django's django.db.transaction: atomic() (savepoint, durable), on_commit(), set_rollback() /
// get_rollback(), manual savepoints, and the autocommit switch. Each acts on this thread's connection to `using_`.
#pragma once

#include <dorm/config.hpp>

#include <dorm/database.hpp>
#include <dorm/errors.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace dorm {

/// atomic()'s options (Django's atomic(using, savepoint, durable)).
struct AtomicOptions {
    std::string_view using_ = "default";
    /// false: a nested block joins the enclosing transaction without a savepoint; if it fails, the enclosing
    /// block must roll back (every statement until then raises TransactionManagementError).
    bool savepoint = true;
    /// true: the block must be the outermost (RuntimeError otherwise), so that returning means committed.
    bool durable = false;
};

namespace detail {
/// One atomic() block on one connection: entered on construction; left by commit(), or rolled back when
/// destroyed without it (the block threw).
class AtomicBlock {
public:
    AtomicBlock(backends::Connection& conn, bool savepoint, bool durable) : conn_(conn) {
        conn_.atomic_enter(savepoint, durable);
    }
    ~AtomicBlock() {
        if (!exited_) conn_.atomic_abort();
    }
    AtomicBlock(const AtomicBlock&) = delete;
    AtomicBlock& operator=(const AtomicBlock&) = delete;
    void commit() {
        exited_ = true;
        conn_.atomic_exit(true);
    }

private:
    backends::Connection& conn_;
    bool exited_ = false;
};

inline backends::Connection& connection_of(std::string_view using_) { return databases().get(using_).connection(); }
}  // namespace detail

/// Runs `fn` in a transaction on `o.using_` (this thread's connection): committed when `fn` returns, rolled back
/// when it throws (the exception propagates) or when set_rollback(true) was called in it. Nested calls use
/// savepoints (unless `o.savepoint` is false). The on_commit() callbacks registered inside run after the
/// outermost block commits. If the transaction is lost inside the block (the connection dropped, or the
/// database rolled back after an error the caller caught), every later statement in it raises
/// TransactionManagementError, nothing reconnects until the outermost block ends, and returning from the block
/// raises TransactionManagementError instead of committing. A write that failed inside the block (an
/// IntegrityError the caller caught) leaves it to be rolled back, as in Django: later statements raise
/// TransactionManagementError until a block with a savepoint around the failure ends. Returns what `fn` returns.
template <class Fn>
decltype(auto) atomic(Fn&& fn, const AtomicOptions& o = {}) {
    detail::AtomicBlock block(detail::connection_of(o.using_), o.savepoint, o.durable);
    if constexpr (std::is_void_v<std::invoke_result_t<Fn>>) {
        std::forward<Fn>(fn)();
        block.commit();
    } else {
        decltype(auto) result = std::forward<Fn>(fn)();
        block.commit();
        return result;
    }
}
/// atomic(fn, "other"): the block on another database.
template <class Fn>
decltype(auto) atomic(Fn&& fn, std::string_view using_) {
    return atomic(std::forward<Fn>(fn), AtomicOptions{using_});
}

/// on_commit()'s options.
struct OnCommitOptions {
    std::string_view using_ = "default";
    /// true: an exception from the callback is swallowed and the callbacks after it still run.
    bool robust = false;
};

/// Runs `fn` once the transaction commits (Django's transaction.on_commit()): after the outermost atomic block's
/// COMMIT, in registration order; discarded if that block, or a savepoint it was registered under, rolls back;
/// at once outside a transaction. A callback that throws stops those after it (unless robust) and its exception
/// leaves atomic() after the commit.
template <class Fn>
void on_commit(Fn&& fn, const OnCommitOptions& o = {}) {
    struct Hook final : backends::Connection::CommitHook {
        explicit Hook(Fn&& f) : fn(std::forward<Fn>(f)) {}
        std::decay_t<Fn> fn;
        void run() override { fn(); }
    };
    detail::connection_of(o.using_).on_commit(std::make_unique<Hook>(std::forward<Fn>(fn)), o.robust);
}

/// Marks the innermost atomic block to roll back instead of committing (true), or clears the mark (false);
/// TransactionManagementError outside a block.
inline void set_rollback(bool rollback, std::string_view using_ = "default") {
    detail::connection_of(using_).set_rollback(rollback);
}
inline bool get_rollback(std::string_view using_ = "default") { return detail::connection_of(using_).get_rollback(); }

/// A savepoint in the current transaction, or none outside one (Django returns None there).
inline std::optional<std::string> savepoint(std::string_view using_ = "default") {
    return detail::connection_of(using_).savepoint();
}
/// Releases / rolls back to a savepoint savepoint() returned; the on_commit() callbacks registered after it are
/// discarded by a rollback.
inline void savepoint_commit(std::string_view sid, std::string_view using_ = "default") {
    detail::connection_of(using_).savepoint_commit(sid);
}
inline void savepoint_rollback(std::string_view sid, std::string_view using_ = "default") {
    detail::connection_of(using_).savepoint_rollback(sid);
}

/// Django's autocommit switch: with autocommit off, statements run in a transaction that commit() / rollback()
/// end (a new one starts with the next statement). Both are TransactionManagementError inside atomic(), as is
/// turning autocommit back on while a transaction is open.
inline bool get_autocommit(std::string_view using_ = "default") { return detail::connection_of(using_).get_autocommit(); }
inline void set_autocommit(bool on, std::string_view using_ = "default") { detail::connection_of(using_).set_autocommit(on); }
inline void commit(std::string_view using_ = "default") { detail::connection_of(using_).commit(); }
inline void rollback(std::string_view using_ = "default") { detail::connection_of(using_).rollback(); }

}  // namespace dorm
