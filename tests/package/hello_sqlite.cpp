// SPDX-License-Identifier: MIT
// The smallest dorm program on SQLite: what each way of consuming dorm (add_subdirectory, FetchContent,
// pkg-config) builds and runs. It exits non-zero unless a row written through dorm is read back.
#include <dorm/sqlite.hpp>

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
    dorm::databases().add("default", "sqlite::memory:");
    dorm::create_tables<Note>();
    Note::objects().create({{"text", "hello"}, {"stars", 3}});
    Note::objects().create({{"text", "world"}, {"stars", 1}});
    auto good = Note::objects().filter("stars__gte", 2);
    fmt::print("{}\n", good.sql());
    if (good.count() != 1 || good[0].text != "hello") return 1;
    return 0;
}
