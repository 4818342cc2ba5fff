// SPDX-License-Identifier: MIT
// Definitions for <dorm/backends/base/connection.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/backends/base/connection.hpp>

namespace dorm::backends {

DORM_DECL void Connection::atomic_exit(bool commit) {
    if (depth_ == 0) throw TransactionManagementError("dorm: atomic block closed twice");
    --depth_;
    if (lost_) {
        // The database no longer holds the transaction: nothing to commit or roll back. A new one may start
        // once the outermost block has ended (the backend reconnects if it must).
        if (depth_ == 0) lost_ = false;
        if (commit)
            throw TransactionManagementError("dorm: the transaction of this atomic block was lost (connection lost, "
                                             "or rolled back by the database after an error): nothing was committed");
        return;
    }
    if (depth_ == 0) {
        // SQLite rolls back by itself after some errors (disk full, I/O): a ROLLBACK would only hide them.
        if (commit || transaction_open()) execute(commit ? "COMMIT" : "ROLLBACK");
    } else if (commit) {
        execute("RELEASE SAVEPOINT " + savepoint_name(depth_));
    } else if (!transaction_open()) {
        lost_ = true;
    } else {
        execute("ROLLBACK TO SAVEPOINT " + savepoint_name(depth_));
        execute("RELEASE SAVEPOINT " + savepoint_name(depth_));
    }
}

DORM_DECL void Connection::atomic_abort() noexcept {
    try {
        atomic_exit(false);
    } catch (...) {
        // The rollback failed: the outer blocks' transaction is in an unknown state.
        lose_transaction();
    }
}

DORM_DECL void Connection::after_error() noexcept {
    if (depth_ > 0 && !transaction_open()) lost_ = true;
}

DORM_DECL void Connection::refuse_in_lost_transaction() const {
    throw TransactionManagementError("dorm: An error occurred in the current transaction. You can't execute "
                                     "queries until the end of the 'atomic' block.");
}

DORM_DECL auto Connection::do_stream(const std::string& sql, std::span<const Value> params, std::size_t) -> std::unique_ptr<Cursor> {
    return do_query(sql, params);
}

}  // namespace dorm::backends

namespace dorm::backends {
DORM_DECL void Connection::capture(const std::string& sql, std::span<const Value> params) {
    for (auto* c : captures) c->push_back({sql, std::vector<Value>(params.begin(), params.end())});
}
}  // namespace dorm::backends
