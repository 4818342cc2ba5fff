// SPDX-License-Identifier: MIT
// RawQuerySet<M>: the instances a raw SQL query yields (Django's Manager.raw()).
#pragma once

#include <dorm/database.hpp>
#include <dorm/errors.hpp>
#include <dorm/model.hpp>
#include <dorm/query_set.hpp>
#include <dorm/row.hpp>
#include <dorm/sql/expressions.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dorm {

/// A raw SQL query over model M: evaluated when first iterated, then cached. Columns are matched to fields by
/// name (or column name, or through `translations`); the primary key must be among them.
template <class M>
class RawQuerySet {
public:
    using value_type = M;
    using const_iterator = typename std::vector<M>::const_iterator;

    RawQuerySet(std::string sql, std::vector<Value> params, std::map<std::string, std::string> translations,
                const std::string* db, Hints hints = {})
        : sql_(std::move(sql)), params_(std::move(params)), translations_(std::move(translations)), db_(db),
          hints_(std::move(hints)), cache_(std::make_shared<Cache>()) {}

    const_iterator begin() const { return fetch().begin(); }
    const_iterator end() const { return fetch().end(); }
    std::size_t size() const { return fetch().size(); }
    bool empty() const { return fetch().empty(); }
    /// The n-th instance; IndexError past the end.
    const M& operator[](std::size_t n) const {
        const auto& items = fetch();
        if (n >= items.size()) throw IndexError("dorm: list index out of range");
        return items[n];
    }
    /// The same query on another configured database.
    RawQuerySet using_(std::string_view alias) const {
        return RawQuerySet(sql_, params_, translations_, detail::intern_alias(alias));
    }
    /// The SQL as given, and its parameters.
    const std::string& raw_query() const noexcept { return sql_; }
    const std::vector<Value>& params() const noexcept { return params_; }
    /// The query's column names after `translations` (evaluates the query).
    const std::vector<std::string>& columns() const {
        fetch();
        return cache_->columns;
    }

private:
    struct Cache {
        std::vector<M> items;
        std::vector<std::string> columns;
        bool filled = false;
    };

    const std::vector<M>& fetch() const {
        if (cache_->filled) return cache_->items;
        // Django's RawQuerySet.db: the database using_() chose, else the routers' choice for reading.
        const std::string* db = db_ ? db_ : detail::routed_db(false, model_meta<M>(), hints_);
        auto& conn = databases().get(*db).connection();
        sql::Compiler c(conn.dialect());
        sql::RawExpr(sql_, params_, std::nullopt);  // checks the placeholder count
        sql::RawExpr::write(c, sql_, params_);
        auto cursor = conn.query(c.sql, c.params);
        const ModelMeta& meta = model_meta<M>();
        std::vector<std::string> columns;
        std::vector<const FieldMeta*> fields;
        auto extra_names = std::make_shared<Row::names_type>();
        std::vector<std::size_t> extra_at;
        for (std::size_t i = 0; i < cursor->columns(); ++i) {
            std::string name = cursor->column_name(i);
            if (auto t = translations_.find(name); t != translations_.end()) name = t->second;
            const FieldMeta* f = meta.find_field(name);
            if (!f)
                for (const auto& candidate : meta.fields)
                    if (candidate.column == name) f = &candidate;
            fields.push_back(f);
            if (!f) {
                extra_names->push_back(name);
                extra_at.push_back(i);
            }
            columns.push_back(std::move(name));
        }
        bool has_pk = false;
        auto deferred = std::make_shared<std::vector<std::string>>();
        for (const auto& f : meta.fields) {
            bool present = std::find(fields.begin(), fields.end(), &f) != fields.end();
            if (f.primary_key) has_pk = present;
            else if (!present) deferred->push_back(f.name);
        }
        if (!has_pk) throw FieldDoesNotExist("dorm: Raw query must include the primary key");
        std::shared_ptr<const std::vector<std::string>> deferred_shared;
        if (!deferred->empty()) deferred_shared = std::move(deferred);
        std::vector<M> items;
        while (cursor->next()) {
            auto row = cursor->row();
            M& obj = items.emplace_back();
            for (std::size_t i = 0; i < fields.size(); ++i)
                if (fields[i]) fields[i]->set(&obj, detail::cell_value(row[i], fields[i]->kind));
            obj.dorm_state_ = ModelState{db, false, nullptr, deferred_shared};
            if (!extra_at.empty()) {
                std::vector<Value> values;
                for (auto i : extra_at) values.push_back(detail::cell_value(row[i], std::nullopt));
                obj.dorm_state_.annotations = std::make_shared<const Row>(extra_names, std::move(values));
            }
        }
        cache_->items = std::move(items);
        cache_->columns = std::move(columns);
        cache_->filled = true;
        return cache_->items;
    }

    std::string sql_;
    std::vector<Value> params_;
    std::map<std::string, std::string> translations_;
    const std::string* db_;  // nullptr: the routers decide
    Hints hints_;
    std::shared_ptr<Cache> cache_;
};

}  // namespace dorm
