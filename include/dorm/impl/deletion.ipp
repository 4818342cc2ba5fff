// SPDX-License-Identifier: MIT
// Definitions for <dorm/deletion.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/deletion.hpp>

namespace dorm::detail {

DORM_DECL void Collector::collect(const ModelMeta& model, const std::vector<Value>& pks) {
    std::vector<Value> fresh;
    auto& known = collected_[&model];
    for (const auto& pk : pks)
        if (known.insert(pk).second) fresh.push_back(pk);
    if (fresh.empty()) return;
    order_.erase(std::remove(order_.begin(), order_.end(), &model), order_.end());
    order_.push_back(&model);  // deleted after everything collected later (its children)
    for (const auto& rel : model.related_objects) {
        const FieldMeta& fk = *rel.field;
        switch (fk.on_delete) {
            case OnDelete::do_nothing: break;
            case OnDelete::cascade: collect(*rel.model, referencing(rel, fresh)); break;
            case OnDelete::protect: {
                auto found = referencing(rel, fresh);
                if (!found.empty())
                    throw ProtectedError(fmt::format("dorm: Cannot delete some instances of model '{}' because they are "
                                                     "referenced through protected foreign keys: '{}.{}'.",
                                                     model.name, rel.model->name, fk.name));
                break;
            }
            case OnDelete::restrict:
                for (auto& pk : referencing(rel, fresh)) restricted_.push_back({&rel, &model, std::move(pk)});
                break;
            case OnDelete::set_null:
            case OnDelete::set_default: {
                Value to = fk.on_delete == OnDelete::set_null ? Value() : fk.default_value.value_or(Value());
                if (to.is_null() && !fk.nullable)
                    throw IntegrityError(fmt::format("dorm: {}.{} cannot be set to NULL on delete: it is not NULL-able",
                                                     rel.model->name, fk.name));
                for (auto& pk : referencing(rel, fresh)) updates_[{&rel, to}].push_back(std::move(pk));
                break;
            }
        }
    }
}

DORM_DECL auto Collector::run() -> std::map<std::string, std::int64_t> {
    for (const auto& r : restricted_)
        if (!collected_[r.rel->model].contains(r.pk))
            throw RestrictedError(fmt::format("dorm: Cannot delete some instances of model '{}' because they are "
                                              "referenced through restricted foreign keys: '{}.{}'.",
                                              r.target->name, r.rel->model->name, r.rel->field->name));
    for (const auto& update : updates_) {
        const auto& key = update.first;
        std::vector<Value> alive;
        for (const auto& pk : update.second)
            if (!collected_[key.first->model].contains(pk)) alive.push_back(pk);
        for_batches(alive, [&](const sql::Query& q) {
            std::vector<std::pair<const FieldMeta*, sql::ExprPtr>> sets{{key.first->field, std::make_shared<sql::Param>(key.second)}};
            auto c = sql::compile_update(q, conn_.dialect(), sets);
            if (!c.nothing) conn_.execute(c.sql, c.params);
        }, *key.first->model);
    }
    std::map<std::string, std::int64_t> counts;
    for (auto it = order_.rbegin(); it != order_.rend(); ++it) {  // children first
        const ModelMeta& m = **it;
        std::vector<Value> pks(collected_[&m].begin(), collected_[&m].end());
        std::int64_t n = 0;
        for_batches(pks, [&](const sql::Query& q) {
            auto c = sql::compile_delete(q, conn_.dialect());
            if (!c.nothing) n += conn_.execute(c.sql, c.params);
        }, m);
        if (n) counts[m.name] += n;
    }
    return counts;
}

DORM_DECL auto Collector::referencing(const RelatedObject& rel, const std::vector<Value>& pks) -> std::vector<Value> {
    std::vector<Value> out;
    const ModelMeta& m = *rel.model;
    sql::Query base = query_of(m);
    base.values_mode = true;
    base.values = {sql::SelectItem{m.pk_field().name, std::make_shared<sql::Col>(m.db_table, &m.pk_field())}};
    sql::detail::for_each_in_batch(base, rel.field->name + "__in", pks, conn_.dialect().max_query_params(),
                                   [&](const sql::Query& q) {
                                       auto c = sql::compile_select(q, conn_.dialect());
                                       if (c.nothing) return;
                                       auto cursor = conn_.query(c.sql, c.params);
                                       while (cursor->next()) out.push_back(cell_value(cursor->row()[0], m.pk_field().kind));
                                   });
    return out;
}

DORM_DECL auto Collector::query_of(const ModelMeta& m) const -> sql::Query {
    sql::Query q;
    q.model = &m;
    q.db = db_;
    return q;
}

DORM_DECL bool has_dependents(const ModelMeta& model) {
    for (const auto& rel : model.related_objects)
        if (rel.field->on_delete != OnDelete::do_nothing) return true;
    return false;
}

}  // namespace dorm::detail
