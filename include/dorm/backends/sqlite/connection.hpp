// SPDX-License-Identifier: MIT
// The SQLite backend: including this header registers it for "sqlite::memory:", "sqlite://path.db" URLs.
#pragma once
#define DORM_BACKENDS_SQLITE_CONNECTION_HPP  // <dorm/src.hpp> defines this backend too

#include <dorm/config.hpp>
#include <dorm/backends/sqlite/dialect.hpp>
#include <dorm/database.hpp>

namespace dorm::backends::sqlite {

/// The backend's registry entry: which URLs it opens, its dialect, how it connects. Only its implementation
/// (impl/connection.ipp) includes the client library's header.
DORM_DECL const Backend& backend();

/// Including the header is all it takes to open its URLs with databases().add().
inline const bool registered = register_backend(backend());

}  // namespace dorm::backends::sqlite

#if DORM_HEADER_ONLY
#include <dorm/backends/sqlite/impl/connection.ipp>
#endif
