// SPDX-License-Identifier: MIT
// The tour (tour.hpp) on SQLite, in memory: each step prints its results and the SQL it ran.
#include <dorm/sqlite.hpp>

#include "tour.hpp"

int main() {
    dorm::databases().add("default", "sqlite::memory:");
    tour::run();
    return 0;
}
