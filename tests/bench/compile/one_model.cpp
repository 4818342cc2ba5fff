// SPDX-License-Identifier: MIT
// The compile-time benchmark's small program on dorm: one model, create the table, one insert, one filtered loop.
#include <dorm/sqlite.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <string>

struct Item {
    std::int64_t id = 0;
    std::string name{};
    int rank = 0;
    DORM_MODEL(Item, id, name, rank)
};

int main() {
    dorm::databases().add("default", "sqlite::memory:");
    dorm::create_tables<Item>();
    Item::objects().create(Item{.name = "first", .rank = 1});
    for (const Item& i : Item::objects().filter("rank__gte", 1).order_by("-rank")) fmt::print("{} {}\n", i.id, i.name);
}
