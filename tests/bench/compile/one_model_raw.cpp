// SPDX-License-Identifier: MIT
// The compile-time benchmark's small program on sqlite3's C API: the baseline the dorm program is compared with.
#include <sqlite3.h>

#include <fmt/format.h>

#include <cstdint>
#include <string>

int main() {
    sqlite3* db = nullptr;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 1;
    sqlite3_exec(db, "CREATE TABLE item (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, rank INTEGER NOT NULL)",
                 nullptr, nullptr, nullptr);
    sqlite3_stmt* insert = nullptr;
    sqlite3_prepare_v2(db, "INSERT INTO item (name, rank) VALUES (?, ?)", -1, &insert, nullptr);
    sqlite3_bind_text(insert, 1, "first", -1, SQLITE_STATIC);
    sqlite3_bind_int(insert, 2, 1);
    if (sqlite3_step(insert) != SQLITE_DONE) return 1;
    sqlite3_finalize(insert);
    sqlite3_stmt* select = nullptr;
    sqlite3_prepare_v2(db, "SELECT id, name, rank FROM item WHERE rank >= ? ORDER BY rank DESC", -1, &select, nullptr);
    sqlite3_bind_int(select, 1, 1);
    while (sqlite3_step(select) == SQLITE_ROW) {
        std::int64_t id = sqlite3_column_int64(select, 0);
        std::string name(reinterpret_cast<const char*>(sqlite3_column_text(select, 1)),
                         static_cast<std::size_t>(sqlite3_column_bytes(select, 1)));
        fmt::print("{} {}\n", id, name);
    }
    sqlite3_finalize(select);
    sqlite3_close(db);
}
