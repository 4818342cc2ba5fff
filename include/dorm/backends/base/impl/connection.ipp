// SPDX-License-Identifier: MIT
// Definitions for <dorm/backends/base/connection.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/backends/base/connection.hpp>

#include <algorithm>

namespace dorm::backends {

DORM_DECL std::int64_t Connection::copy_rows(const CopyTarget& target, std::span<const FieldMeta* const> fields,
                                             std::span<void* const> objs, const FieldMeta* auto_key) {
    if (auto_key) {
        // A statement of its own, although the backend sends it with the COPY's rows.
        if (lost_ || needs_rollback_) [[unlikely]]
            refuse_in_broken_transaction();
        const Value params[2] = {target.sequence, Value(static_cast<std::int64_t>(objs.size()))};
        note(target.reserve_sql, params);
    }
    return guarded(target.sql, {}, [&] { return do_copy_rows(target, fields, objs, auto_key); });
}

DORM_DECL void Connection::atomic_enter(bool savepoint, bool durable) {
    if (durable && !levels_.empty())
        throw RuntimeError("dorm: A durable atomic block cannot be nested within another atomic block.");
    if (levels_.empty() && autocommit_) {
        control("BEGIN");
        needs_rollback_ = false;
        levels_.push_back({});
        return;
    }
    // Nested, or the outermost block while autocommit is off (then it lives inside the manual transaction, as
    // in Django). No savepoint once a rollback is pending: the enclosing block rolls back anyway.
    std::string sid;
    if (savepoint && !needs_rollback_) {
        if (!autocommit_ && !manual_open_) begin_manual();
        sid = new_savepoint();
    }
    levels_.push_back({std::move(sid)});
}

DORM_DECL void Connection::atomic_exit(bool commit) {
    if (levels_.empty()) throw TransactionManagementError("dorm: atomic block closed twice");
    Level level = std::move(levels_.back());
    levels_.pop_back();
    bool outermost = levels_.empty() && autocommit_;  // the block that owns the transaction
    if (lost_) {
        // The database no longer holds the transaction: nothing to commit or roll back. A new one may start
        // once the outermost block has ended (the backend reconnects if it must).
        if (levels_.empty()) {
            lost_ = needs_rollback_ = false;
            hooks_.clear();
            savepoints_.clear();
        }
        if (commit)
            throw dorm::detail::BrokenTransactionError("dorm: the transaction of this atomic block was lost (connection "
                                                       "lost, or rolled back by the database after an error): nothing "
                                                       "was committed");
        return;
    }
    if (commit && !needs_rollback_) {
        if (outermost) {
            try {
                control("COMMIT");
            } catch (...) {  // e.g. a deferred constraint: nothing was committed, and no callback runs
                hooks_.clear();
                savepoints_.clear();
                if (transaction_open()) atomic_rollback_quietly();
                throw;
            }
            run_commit_hooks();
        } else if (!level.savepoint.empty()) {
            std::erase(savepoints_, level.savepoint);
            control("RELEASE SAVEPOINT " + level.savepoint);
        }
        return;
    }
    // Rolling back: an exception left the block, or a rollback is pending (set_rollback(), a failed write).
    needs_rollback_ = false;
    if (outermost) {
        hooks_.clear();
        savepoints_.clear();
        // SQLite rolls back by itself after some errors (disk full, I/O): a ROLLBACK would only hide them.
        if (transaction_open()) control("ROLLBACK");
        return;
    }
    if (level.savepoint.empty()) {  // no savepoint to return to: the enclosing block must roll back
        needs_rollback_ = true;
        return;
    }
    if (!transaction_open()) {
        lost_ = true;
        return;
    }
    discard_hooks_of(level.savepoint);
    std::erase(savepoints_, level.savepoint);
    control("ROLLBACK TO SAVEPOINT " + level.savepoint);
    control("RELEASE SAVEPOINT " + level.savepoint);
}

DORM_DECL void Connection::atomic_abort() noexcept {
    try {
        atomic_exit(false);
    } catch (...) {
        // The rollback failed: the outer blocks' transaction is in an unknown state.
        lose_transaction();
    }
}

DORM_DECL void Connection::atomic_rollback_quietly() noexcept {
    try {
        control("ROLLBACK");
    } catch (...) {
    }
}

DORM_DECL void Connection::on_commit(std::unique_ptr<CommitHook> hook, bool robust) {
    if (levels_.empty()) {
        if (!autocommit_)
            throw TransactionManagementError("dorm: on_commit() cannot be used in manual transaction management");
        if (!robust) return hook->run();  // Django: outside a transaction, at once
        try {
            hook->run();
        } catch (...) {
        }
        return;
    }
    hooks_.push_back({savepoints_, std::move(hook), robust});
}

DORM_DECL void Connection::run_commit_hooks() {
    auto hooks = std::move(hooks_);
    hooks_.clear();
    savepoints_.clear();
    for (auto& h : hooks) {
        if (!h.robust) {
            h.hook->run();  // a throw stops the rest, which are dropped with `hooks`
            continue;
        }
        try {
            h.hook->run();
        } catch (...) {  // robust: the others still run
        }
    }
}

DORM_DECL void Connection::discard_hooks_of(std::string_view sid) {
    std::erase_if(hooks_, [&](const Hook& h) {
        return std::find(h.savepoints.begin(), h.savepoints.end(), sid) != h.savepoints.end();
    });
}

DORM_DECL void Connection::set_rollback(bool rollback) {
    if (levels_.empty())
        throw TransactionManagementError("dorm: The rollback flag doesn't work outside of an 'atomic' block.");
    needs_rollback_ = rollback;
}

DORM_DECL auto Connection::get_rollback() const -> bool {
    if (levels_.empty())
        throw TransactionManagementError("dorm: The rollback flag doesn't work outside of an 'atomic' block.");
    return needs_rollback_;
}

DORM_DECL auto Connection::new_savepoint() -> std::string {
    std::string sid = "dorm_sp_" + std::to_string(++savepoint_serial_);
    control("SAVEPOINT " + sid);
    savepoints_.push_back(sid);
    return sid;
}

DORM_DECL auto Connection::savepoint() -> std::optional<std::string> {
    if (get_autocommit()) return std::nullopt;  // Django: no savepoint outside a transaction
    if (!manual_open_ && levels_.empty()) begin_manual();
    return new_savepoint();
}

DORM_DECL void Connection::savepoint_commit(std::string_view sid) {
    if (get_autocommit()) return;
    if (std::find(savepoints_.begin(), savepoints_.end(), sid) == savepoints_.end())
        throw TransactionManagementError(fmt::format("dorm: no open savepoint named '{}' on this connection", sid));
    std::string name(sid);
    std::erase(savepoints_, name);
    control("RELEASE SAVEPOINT " + name);
}

DORM_DECL void Connection::savepoint_rollback(std::string_view sid) {
    if (get_autocommit()) return;
    if (std::find(savepoints_.begin(), savepoints_.end(), sid) == savepoints_.end())
        throw TransactionManagementError(fmt::format("dorm: no open savepoint named '{}' on this connection", sid));
    discard_hooks_of(sid);
    control("ROLLBACK TO SAVEPOINT " + std::string(sid));
}

DORM_DECL void Connection::set_autocommit(bool on) {
    if (!levels_.empty())
        throw TransactionManagementError("dorm: This is forbidden when an 'atomic' block is active.");
    if (on && manual_open_)
        throw TransactionManagementError("dorm: a transaction is open: commit() or rollback() it before turning "
                                         "autocommit back on");
    autocommit_ = on;
}

DORM_DECL bool Connection::reset_for_reuse() noexcept {
    if (open_cursors_ != 0 || !levels_.empty() || !captures.empty()) return false;
    if (manual_open_) {
        try {
            rollback();
        } catch (...) {
            return false;
        }
    }
    autocommit_ = true;
    savepoints_.clear();
    hooks_.clear();
    lost_ = needs_rollback_ = false;
    return usable() && !transaction_open();
}

DORM_DECL void Connection::begin_manual() {
    control("BEGIN");
    manual_open_ = true;
}

DORM_DECL void Connection::commit() {
    if (!levels_.empty())
        throw TransactionManagementError("dorm: This is forbidden when an 'atomic' block is active.");
    if (!manual_open_) return;
    manual_open_ = false;
    savepoints_.clear();
    control("COMMIT");
}

DORM_DECL void Connection::rollback() {
    if (!levels_.empty())
        throw TransactionManagementError("dorm: This is forbidden when an 'atomic' block is active.");
    if (!manual_open_) return;
    manual_open_ = false;
    savepoints_.clear();
    if (transaction_open()) control("ROLLBACK");
}

DORM_DECL void Connection::control(const std::string& sql) {
    note(sql, {});
    try {
        do_execute(sql, {}, nullptr);
    } catch (const DatabaseError&) {
        if (!levels_.empty() && !transaction_open()) lost_ = true;
        throw;
    }
}

DORM_DECL void Connection::after_error(bool write) noexcept {
    if (levels_.empty()) return;
    if (!transaction_open()) lost_ = true;
    if (write) needs_rollback_ = true;
}

DORM_DECL void Connection::refuse_in_broken_transaction() const {
    throw dorm::detail::BrokenTransactionError("dorm: An error occurred in the current transaction. You can't "
                                               "execute queries until the end of the 'atomic' block.");
}

DORM_DECL auto Connection::do_stream(const std::string& sql, std::span<const Value> params, std::size_t) -> std::unique_ptr<Cursor> {
    return do_query(sql, params, nullptr);
}

}  // namespace dorm::backends

namespace dorm::backends {
DORM_DECL void Connection::capture(const std::string& sql, std::span<const Value> params) {
    for (auto* c : captures) c->push_back({sql, std::vector<Value>(params.begin(), params.end())});
}
}  // namespace dorm::backends
