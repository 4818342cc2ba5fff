// SPDX-License-Identifier: MIT
// Deleting rows the way Django's deletion.Collector does: follow every ForeignKey that points at the rows, apply its
// on_delete (CASCADE, PROTECT, RESTRICT, SET_NULL, SET_DEFAULT, DO_NOTHING), then delete children before parents.
#pragma once

#include <dorm/config.hpp>
#include <dorm/detail/node_pool.hpp>

#include <dorm/database.hpp>
#include <dorm/errors.hpp>
#include <dorm/model.hpp>
#include <dorm/sql/query.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace dorm::detail {

class Collector {
public:
    Collector(backends::Connection& conn, const std::string* db) : conn_(conn), db_(db) {}

    /// Adds the rows of `model` with these primary keys, and what their deletion implies, recursively.
    void collect(const ModelMeta& model, const std::vector<Value>& pks);

    /// Runs the updates and deletes; returns the rows deleted per model name.
    std::map<std::string, std::int64_t> run();

private:
    struct Restricted {
        const RelatedObject* rel;
        const ModelMeta* target;
        Value pk;  // of the referencing row
    };

    /// The primary keys of `rel.model`'s rows whose ForeignKey is in `pks`.
    std::vector<Value> referencing(const RelatedObject& rel, const std::vector<Value>& pks);

    sql::Query query_of(const ModelMeta& m) const;

    backends::Connection& conn_;
    const std::string* db_;
    std::map<const ModelMeta*, std::set<Value>> collected_;
    std::vector<const ModelMeta*> order_;
    std::vector<Restricted> restricted_;
    std::map<std::pair<const RelatedObject*, Value>, std::vector<Value>> updates_;
};

/// Whether deleting rows of `model` can touch other tables (some ForeignKey points at it and does something).
DORM_DECL bool has_dependents(const ModelMeta& model);

}  // namespace dorm::detail

#if DORM_HEADER_ONLY
#include <dorm/impl/deletion.ipp>
#endif
