// SPDX-License-Identifier: MIT
// create_tables / drop_tables: tables, indexes, unique and foreign-key constraints from model metadata.
#pragma once

#include <dorm/config.hpp>

#include <dorm/database.hpp>
#include <dorm/model.hpp>
#include <dorm/router.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace dorm {

namespace detail {

/// An identifier of at most 63 bytes (PostgreSQL's limit), made unique by a hash when shortened.
DORM_DECL std::string index_name(std::string_view table, const std::vector<std::string>& columns, std::string_view suffix);

DORM_DECL std::vector<std::string> create_table_sql(const ModelMeta& m, const backends::Dialect& d);

}  // namespace detail

namespace detail {
/// The models in order, then the join tables dorm makes for their ManyToManys (after both ends exist).
DORM_DECL std::vector<const ModelMeta*> with_join_tables(std::vector<const ModelMeta*> metas);
/// Those of `metas` the routers' allow_migrate lets live on `db` (Django's allow_migrate_model).
DORM_DECL std::vector<const ModelMeta*> migratable(std::vector<const ModelMeta*> metas, std::string_view db);
}  // namespace detail

namespace detail {
DORM_DECL void create_tables(std::vector<const ModelMeta*> metas, std::string_view using_);
DORM_DECL void drop_tables(std::vector<const ModelMeta*> metas, std::string_view using_);
}  // namespace detail

/// Creates the tables of the given models (in order: referenced models first), with their indexes,
/// unique constraints and foreign keys, and the join tables of their ManyToManys (those without a through
/// model). Tables that exist are left as they are. Models the routers' allow_migrate refuses on this database are
/// left out, with their join tables.
template <detail::model... Ms>
void create_tables(std::string_view using_ = "default") {
    detail::create_tables({&model_meta<Ms>()...}, using_);
}

/// Drops the tables of the given models and their join tables, in reverse order (so list them as for
/// create_tables); as there, models the routers' allow_migrate refuses on this database are left alone.
template <detail::model... Ms>
void drop_tables(std::string_view using_ = "default") {
    detail::drop_tables({&model_meta<Ms>()...}, using_);
}

}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/impl/schema.ipp>
#endif
