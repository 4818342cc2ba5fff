// SPDX-License-Identifier: MIT
// Definitions for <dorm/deletion.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/deletion.hpp>
#include <dorm/detail/statement_texts.hpp>

#include <algorithm>
#include <span>
#include <string>

namespace dorm::detail {

/// Runs one statement per batch of `keys` (at most the dialect's parameter limit) with `run(text, params)`: the
/// statement `compile(from, n)` gives for keys [from, from + n). Its text depends only on its kind, model, field
/// and number of keys, so for batches of up to 100 keys it is written once per thread (keep_text()) and then only
/// bound: kept when its parameters are exactly `before` (an UPDATE's value), then the keys.
template <class Compile, class Run>
void run_key_batches(backends::Connection& conn, char kind, const ModelMeta& m, const FieldMeta* f,
                     const std::vector<Value>& keys, const Value* before, Compile&& compile, Run&& run) {
    constexpr std::size_t kept_keys = 100;
    const std::size_t batch = conn.dialect().max_query_params();
    std::vector<Value> params;
    for (std::size_t from = 0; from < keys.size(); from += batch) {
        const std::size_t n = std::min(batch, keys.size() - from);
        params.clear();
        if (before) params.push_back(*before);
        params.insert(params.end(), keys.begin() + static_cast<std::ptrdiff_t>(from),
                      keys.begin() + static_cast<std::ptrdiff_t>(from + n));
        std::string& key = text_key(kind);
        add_key(key, &conn.dialect());
        add_key(key, &m);
        add_key(key, f);
        add_key(key, n);
        add_key(key, lookups::custom_generation());  // a lookup registered since may replace "in"
        if (const std::string* text = kept_text(key)) {
            run(*text, params);
            continue;
        }
        sql::Compiled c = compile(from, n);
        if (c.nothing) continue;
        const std::string* text = n <= kept_keys && c.params == params ? keep_text(key, c.sql) : nullptr;
        if (text) run(*text, params);
        else run(c.sql, c.params);
    }
}

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
        const ModelMeta& m = *key.first->model;
        run_key_batches(
            conn_, 'u', m, key.first->field, alive, &key.second,
            [&](std::size_t from, std::size_t n) {
                std::vector<std::pair<const FieldMeta*, sql::ExprPtr>> sets{{key.first->field, dorm::detail::make_node<sql::Param>(key.second)}};
                return sql::compile_update(sql::detail::batch_query(query_of(m), "pk__in", alive, from, n), conn_.dialect(), sets);
            },
            [&](const std::string& text, std::span<const Value> params) { conn_.execute(text, params); });
    }
    std::map<std::string, std::int64_t> counts;
    for (auto it = order_.rbegin(); it != order_.rend(); ++it) {  // children first
        const ModelMeta& m = **it;
        std::vector<Value> pks(collected_[&m].begin(), collected_[&m].end());
        std::int64_t n = 0;
        run_key_batches(
            conn_, 'd', m, nullptr, pks, nullptr,
            [&](std::size_t from, std::size_t count) {
                return sql::compile_delete(sql::detail::batch_query(query_of(m), "pk__in", pks, from, count), conn_.dialect());
            },
            [&](const std::string& text, std::span<const Value> params) { n += conn_.execute(text, params); });
        if (n) counts[m.name] += n;
    }
    return counts;
}

DORM_DECL auto Collector::referencing(const RelatedObject& rel, const std::vector<Value>& pks) -> std::vector<Value> {
    std::vector<Value> out;
    const ModelMeta& m = *rel.model;
    sql::Query base = query_of(m);
    base.values_mode = true;
    base.values = {sql::SelectItem{m.pk_field().name, dorm::detail::make_node<sql::Col>(m.db_table, &m.pk_field())}};
    const std::string path = rel.field->name + "__in";
    run_key_batches(
        conn_, 's', m, rel.field, pks, nullptr,
        [&](std::size_t from, std::size_t n) {
            return sql::compile_select(sql::detail::batch_query(base, path, pks, from, n), conn_.dialect());
        },
        [&](const std::string& text, std::span<const Value> params) {
            auto cursor = conn_.query(text, params);
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
