// SPDX-License-Identifier: MIT
// The SQL an expression compiles to on each dialect, without a server: for tests that compare it.
#pragma once

#include <dorm/postgresql.hpp>
#include <dorm/sqlite.hpp>

#include <string>

namespace test {

/// Registers "render_sqlite" (in memory) and "render_pg" (a URL nothing connects to: only sql() is asked of it).
struct RenderDatabases {
    RenderDatabases() {
        dorm::databases().add("render_sqlite", "sqlite::memory:");
        dorm::databases().add("render_pg", "postgresql://render@unreachable.invalid/none");
    }
};

/// The SQL of `e` as M's one values() column on the database `db`: what stands between "SELECT " and " AS "v"".
template <class M>
std::string render(const dorm::Expression& e, const char* db) {
    auto sql = M::objects().using_(db).values("v", e).sql();
    return sql.substr(7, sql.find(" AS \"v\" FROM ") - 7);  // the expression may hold a FROM of its own
}

}  // namespace test
