// SPDX-License-Identifier: MIT
// Separate compilation: the definitions of the sqlite backend alone (<dorm/src.hpp> includes it when the backend's
// header came first; a library that holds only this backend, like dorm::sqlite_compiled, includes it directly).
#pragma once

#if !defined(DORM_SEPARATE_COMPILATION)
#error "dorm: <dorm/backends/sqlite/src.hpp> is for separate compilation: define DORM_SEPARATE_COMPILATION"
#endif

#include <dorm/backends/sqlite/impl/connection.ipp>
