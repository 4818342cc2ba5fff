// SPDX-License-Identifier: MIT
// Separate compilation: the definitions of dorm's runtime, for exactly one translation unit of a program.
//
//     // dorm.cpp, compiled with DORM_SEPARATE_COMPILATION defined (as every other file of the program)
//     #include <dorm/sqlite.hpp>     // the backends this program uses, before src.hpp
//     #include <dorm/src.hpp>
//
// It defines the core and each backend whose header was included before it. The CMake package's compiled
// targets (dorm::sqlite_compiled, dorm::postgresql_compiled) do this for you.
#pragma once

#if !defined(DORM_SEPARATE_COMPILATION)
#error "dorm: <dorm/src.hpp> is for separate compilation: define DORM_SEPARATE_COMPILATION in every translation unit"
#endif

#include <dorm/dorm.hpp>

#include <dorm/async/impl/atomic.ipp>
#include <dorm/async/impl/fiber.ipp>
#include <dorm/backends/base/impl/connection.ipp>
#include <dorm/backends/base/impl/dialect.ipp>
#include <dorm/backends/base/impl/shape_cache.ipp>
#include <dorm/impl/aggregates.ipp>
#include <dorm/impl/async.ipp>
#include <dorm/impl/conditional.ipp>
#include <dorm/impl/custom_lookups.ipp>
#include <dorm/impl/database.ipp>
#include <dorm/impl/deletion.ipp>
#include <dorm/impl/expressions.ipp>
#include <dorm/impl/fields.ipp>
#include <dorm/impl/instance.ipp>
#include <dorm/impl/lookups.ipp>
#include <dorm/impl/model.ipp>
#include <dorm/impl/node_pool.ipp>
#include <dorm/impl/prefetch.ipp>
#include <dorm/impl/q.ipp>
#include <dorm/impl/query_set.ipp>
#include <dorm/impl/related.ipp>
#include <dorm/impl/row.ipp>
#include <dorm/impl/router.ipp>
#include <dorm/impl/row_reader.ipp>
#include <dorm/impl/schema.ipp>
#include <dorm/impl/serialize.ipp>
#include <dorm/impl/statement_texts.ipp>
#include <dorm/impl/value.ipp>
#include <dorm/impl/window.ipp>
#include <dorm/sql/impl/ast.ipp>
#include <dorm/sql/impl/compiler.ipp>
#include <dorm/sql/impl/expressions.ipp>
#include <dorm/sql/impl/query.ipp>

#if defined(DORM_BACKENDS_SQLITE_CONNECTION_HPP)
#include <dorm/backends/sqlite/src.hpp>
#endif
#if defined(DORM_BACKENDS_POSTGRESQL_CONNECTION_HPP)
#include <dorm/backends/postgresql/src.hpp>
#endif
