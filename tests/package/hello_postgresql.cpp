// SPDX-License-Identifier: MIT
// A dorm program on PostgreSQL alone, built without SQLite (DORM_SQLITE=OFF). Compiling a query needs the
// backend's dialect, not a server: the database is registered and never connected to.
#include <dorm/postgresql.hpp>

#include <fmt/core.h>

#include <cstdint>
#include <string>

struct Note {
    std::int64_t id = 0;
    std::string text{};
    int stars = 0;
    DORM_MODEL(Note, id, text, stars)
};

int main() {
    dorm::databases().add("default", "postgresql://nobody@127.0.0.1:1/unused");
    auto sql = Note::objects().filter("stars__gte", 2).order_by("-stars").sql();
    fmt::print("{}\n", sql);
    return sql.find("ORDER BY") == std::string::npos;
}
