// SPDX-License-Identifier: MIT
// Definitions for <dorm/instance.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/instance.hpp>

namespace dorm::detail {

DORM_DECL const std::string& insert_row_sql(const ModelMeta& meta, const backends::Dialect& d, bool assign_pk) {
    thread_local std::map<std::tuple<const backends::Dialect*, const ModelMeta*, bool>, std::string> statements;
    auto [it, fresh] = statements.try_emplace({&d, &meta, assign_pk});
    if (fresh) {
        std::vector<const FieldMeta*> fields;
        for (const auto& f : meta.fields)
            if (!(assign_pk && &f == &meta.pk_field())) fields.push_back(&f);
        std::vector<Value> placeholders(fields.size());
        it->second = sql::compile_insert(meta, d, fields, placeholders, assign_pk).sql;
    }
    return it->second;
}

}  // namespace dorm::detail
