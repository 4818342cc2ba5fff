// SPDX-License-Identifier: MIT
// Definitions for <dorm/backends/base/connection.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/backends/base/connection.hpp>

namespace dorm::backends {

DORM_DECL void Connection::atomic_exit(bool commit) {
    if (depth_ == 0) throw TransactionManagementError("dorm: atomic block closed twice");
    --depth_;
    if (depth_ == 0) {
        execute(commit ? "COMMIT" : "ROLLBACK");
    } else if (commit) {
        execute("RELEASE SAVEPOINT " + savepoint_name(depth_));
    } else {
        execute("ROLLBACK TO SAVEPOINT " + savepoint_name(depth_));
        execute("RELEASE SAVEPOINT " + savepoint_name(depth_));
    }
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
