// SPDX-License-Identifier: MIT
// Definitions for <dorm/related.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/related.hpp>

#include <algorithm>
#include <set>

namespace dorm::detail {

DORM_DECL sql::Query JoinRows::links(const FieldMeta* from, const std::string* db) const {
    sql::Query q;
    q.model = rel.through;
    q.db = db;
    auto cond = dorm::detail::make_node<lookups::Lookup>();
    cond->lhs = dorm::detail::make_node<sql::Col>(q.alias(), from);
    cond->def = lookups::find("exact");
    cond->value = parent_pk;
    sql::add_where(q, cond);
    return q;
}

DORM_DECL std::vector<Value> JoinRows::linked(const FieldMeta* from, const FieldMeta* to, const std::string* db) const {
    sql::Query q = links(from, db);
    q.values_mode = true;
    q.values = {sql::SelectItem{to->name, dorm::detail::make_node<sql::Col>(q.alias(), to)}};
    auto& conn = databases().get(*db).connection();
    std::vector<Value> out;
    auto c = sql::compile_select(q, conn.dialect());
    if (c.nothing) return out;
    auto cursor = conn.query(c.sql, c.params);
    while (cursor->next()) out.push_back(cell_value(cursor->row()[0], to->kind));
    return out;
}

DORM_DECL void JoinRows::insert_links(const FieldMeta* from, const FieldMeta* to, const std::vector<Value>& keys,
                                      const ThroughDefaults* defaults, const std::string* db) const {
    std::vector<const FieldMeta*> fields{from, to};
    std::vector<Value> extra;
    if (defaults)
        for (const auto& kw : defaults->values) {
            const FieldMeta* f = rel.through->find_field(kw.name);
            if (!f || f == from || f == to || f->auto_increment)
                throw FieldError(fmt::format("dorm: through_defaults: {} has no other field named '{}'. Choices "
                                             "are: {}", rel.through->name, kw.name, rel.through->choices()));
            if (kw.value.kind != Operand::Kind::value)
                throw TypeError(fmt::format("dorm: through_defaults: '{}' takes one value", kw.name));
            sql::detail::check_value(*f, kw.value.value);
            fields.push_back(f);
            extra.push_back(kw.value.value);
        }
    auto have = linked(from, to, db);
    std::set<Value> skip(have.begin(), have.end());
    std::vector<Value> rows;
    for (const auto& k : keys)
        if (skip.insert(k).second) {
            rows.push_back(parent_pk);
            rows.push_back(k);
            rows.insert(rows.end(), extra.begin(), extra.end());
        }
    auto& conn = databases().get(*db).connection();
    std::size_t per_row = fields.size();
    std::size_t batch = std::max<std::size_t>(1, conn.dialect().max_query_params() / per_row) * per_row;
    for (std::size_t i = 0; i < rows.size(); i += batch) {
        std::span<const Value> part(rows.data() + i, std::min(batch, rows.size() - i));
        auto c = sql::compile_insert(*rel.through, conn.dialect(), fields, part, false);
        conn.execute(c.sql, c.params);
    }
}

DORM_DECL void JoinRows::delete_links(const FieldMeta* from, const FieldMeta* to, const std::vector<Value>& keys,
                                      const std::string* db) const {
    auto& conn = databases().get(*db).connection();
    auto run = [&](const sql::Query& q) {
        auto c = sql::compile_delete(q, conn.dialect());
        if (!c.nothing) conn.execute(c.sql, c.params);
    };
    sql::Query q = links(from, db);
    if (keys.empty()) return run(q);
    sql::detail::for_each_in_batch(q, dorm::detail::make_node<sql::Col>(q.alias(), to), keys,
                                   conn.dialect().max_query_params(), run);
}

DORM_DECL void JoinRows::add_keys(const std::vector<Value>& keys, const ThroughDefaults* defaults, const std::string* db) const {
    insert_links(rel.from, rel.to, keys, defaults, db);
    if (rel.symmetrical) insert_links(rel.to, rel.from, keys, defaults, db);
}

DORM_DECL void JoinRows::remove_keys(const std::vector<Value>& keys, const std::string* db) const {
    if (keys.empty()) return;
    delete_links(rel.from, rel.to, keys, db);
    if (rel.symmetrical) delete_links(rel.to, rel.from, keys, db);
}

}  // namespace dorm::detail
