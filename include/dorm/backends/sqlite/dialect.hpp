// SPDX-License-Identifier: MIT
// SQLite's SQL spelling (the Dialect instance); its class is in impl/dialect.ipp.
#pragma once

#include <dorm/config.hpp>
#include <dorm/backends/base/dialect.hpp>

namespace dorm::backends::sqlite {

/// SQLite's dialect: ? placeholders, LIMIT -1 for an open-ended OFFSET, type names, literals.
DORM_DECL const backends::Dialect& dialect();

}  // namespace dorm::backends::sqlite

#if DORM_HEADER_ONLY
#include <dorm/backends/sqlite/impl/dialect.ipp>
#endif
