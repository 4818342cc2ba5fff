// SPDX-License-Identifier: MIT
// The tour (../blog/tour.hpp) on PostgreSQL. The server's URL comes from the environment:
//
//     DORM_EXAMPLE_DATABASE_URL=postgresql://user:pw@127.0.0.1:5432/db build/example/examples/tour_postgresql
//
// The tour creates the tables blog, author, entry and entry_authors, and drops them when it ends (and first, in
// case an earlier run was interrupted): give it a database where those names are free.
#include <dorm/postgresql.hpp>

#include "../blog/tour.hpp"

#include <fmt/core.h>

#include <cstdlib>
#include <exception>

int main() {
    const char* url = std::getenv("DORM_EXAMPLE_DATABASE_URL");
    if (url == nullptr || *url == '\0') {
        fmt::print(stderr, "set DORM_EXAMPLE_DATABASE_URL to a PostgreSQL URL (postgresql://user@host:5432/db)\n");
        return 2;
    }
    try {
        dorm::databases().add("default", url);
        dorm::drop_tables<tour::Blog, tour::Author, tour::Entry>();
        tour::run();
    } catch (const std::exception& err) {
        fmt::print(stderr, "{}\n", err.what());
        return 1;
    }
    return 0;
}
