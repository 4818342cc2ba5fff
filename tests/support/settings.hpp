// SPDX-License-Identifier: MIT
// Settings tests/run.sh gives the tests for the servers it starts (a replica's URL, commands that restart or stop a
// server): present in CI, where a missing one fails the test instead of skipping it.
#pragma once

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

namespace test {

/// The value of the environment variable `name`; when it is missing, a failure under CI (CI=true), else a warning
/// that `what` is not run and nullptr.
inline const char* required_setting(const char* name, const char* what) {
    const char* value = std::getenv(name);
    if (value && *value) return value;
    const char* ci = std::getenv("CI");
    if (ci && std::string(ci) == "true") FAIL(name << " is not set: " << what << " must run in CI");
    WARN(name << " is not set: " << what << " is not run");
    return nullptr;
}

}  // namespace test
