// SPDX-License-Identifier: MIT
// A statement that keeps its connection busy for a while, on both backends: what the asynchronous tests await
// to show that the awaiting thread stays free, and cancel.
#pragma once

#include "fixture.hpp"

#include <dorm/dorm.hpp>

#include <string>

namespace test {

/// Keeps this thread's connection to "default" busy for about `seconds` (raw SQL).
inline void busy_statement(double seconds) {
    auto& conn = dorm::databases().get("default").connection();
    if (is_postgresql()) {
        conn.execute("SELECT pg_sleep(" + std::to_string(seconds) + ")");
    } else {  // no sleep() in SQLite: a long recursive query
        const long n = static_cast<long>(seconds * 6'000'000);
        conn.query("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < " + std::to_string(n) +
                       ") SELECT count(*) FROM c",
                   {})
            ->next();
    }
}

/// busy_statement() as a task, on a worker thread.
inline dorm::Task<> busy_query(double seconds) {
    return dorm::detail::offload([seconds] { busy_statement(seconds); });
}

}  // namespace test
