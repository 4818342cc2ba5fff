// SPDX-License-Identifier: MIT
// PostgreSQL's SQL spelling (the Dialect instances); the class is in impl/dialect.ipp.
#pragma once

#include <dorm/config.hpp>
#include <dorm/backends/base/dialect.hpp>

namespace dorm::backends::postgresql {

/// The dialect of a server: $n placeholders, identity columns, DISTINCT ON; `any_value` for PostgreSQL 16 and later.
DORM_DECL const backends::Dialect& dialect(bool any_value = false);

}  // namespace dorm::backends::postgresql

#if DORM_HEADER_ONLY
#include <dorm/backends/postgresql/impl/dialect.ipp>
#endif
