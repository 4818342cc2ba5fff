// SPDX-License-Identifier: MIT
// Definitions for <dorm/query_set.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/query_set.hpp>

#include <cctype>

namespace dorm::detail {

DORM_DECL std::string default_alias(const Expression& e, std::string_view what) {
    const auto& n = *e.node();
    if (n.kind == ExprNode::Kind::aggregate && n.args.size() == 1 && n.args[0]->kind == ExprNode::Kind::ref) {
        std::string label = n.label;
        for (auto& ch : label) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        return n.args[0]->name + "__" + label;
    }
    throw TypeError(fmt::format("dorm: Complex {} require an alias", what));
}

DORM_DECL void check_alias(std::string_view name) {
    bool bad = name.empty() || name.find("--") != std::string_view::npos || name.find("/*") != std::string_view::npos ||
               name.find("*/") != std::string_view::npos;
    for (char ch : name)
        bad = bad || ch == '\'' || ch == '"' || ch == '`' || ch == '[' || ch == ']' || ch == ';' || ch == '\0' ||
              std::isspace(static_cast<unsigned char>(ch));
    if (bad)
        throw ValueError("dorm: Column aliases cannot contain whitespace characters, quotation marks, semicolons, or "
                         "SQL comments.");
}

DORM_DECL std::string positional_name(const Expression& e, std::size_t& counter, const std::vector<NamedExpr>& taken) {
    const auto& n = *e.node();
    if (n.kind == ExprNode::Kind::aggregate && n.args.size() == 1 && n.args[0]->kind == ExprNode::Kind::ref)
        return default_alias(e, "annotations");
    std::string prefix = !n.label.empty() ? n.label : n.kind == ExprNode::Kind::func ? n.name : "expression";
    for (auto& ch : prefix) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (;; ++counter) {
        std::string name = prefix + std::to_string(counter);
        bool used = false;
        for (const auto& t : taken) used = used || t.name == name;
        if (!used) return ++counter, name;
    }
}

DORM_DECL void check_unordered_first_last(const sql::Query& q, std::string_view method) {
    if (q.grouping != sql::Grouping::listed) return;  // none: no aggregation; all: grouped by every field
    auto is_pk = [&](const sql::Expression* e) {
        const auto* col = dynamic_cast<const sql::Col*>(e);
        return col && col->alias == q.alias() && col->field == &q.model->pk_field();
    };
    for (const auto& e : q.group_by)
        if (is_pk(e.get())) return;
    for (const auto& item : sql::detail::select_items(q))
        if (is_pk(item.expr.get())) return;
    throw TypeError(fmt::format("dorm: Cannot use QuerySet.{}() on an unordered queryset performing aggregation. "
                                "Add an ordering with order_by().", method));
}

}  // namespace dorm::detail

namespace dorm::detail {

DORM_DECL RowReaderBase::RowReaderBase(const sql::Query& q, Result result, std::size_t model_columns) : db_(q.db) {
    auto items = sql::detail::select_items(q);
    if (result == Result::model) {
        if (!q.all_loaded()) {  // defer() / only(): decode the loaded fields one by one
            auto deferred = std::make_shared<std::vector<std::string>>();
            for (std::size_t i = 0; i < q.model->fields.size(); ++i) {
                if (q.loads(i)) loaded_.push_back(&q.model->fields[i]);
                else deferred->push_back(q.model->fields[i].name);
            }
            deferred_ = std::move(deferred);
        }
        columns_ = (deferred_ ? loaded_.size() : model_columns) + items.size();
        // get() loads from "default" unless told otherwise: only rows from another database need their
        // ForeignKeys told, so the usual case adds nothing per row.
        if (q.db != default_alias())
            for (const auto& f : q.model->fields)
                if (f.is_relation()) relations_.push_back(&f);
        for (const auto& sel : q.select_related) {
            Selection s{sel.model, sel.fk, sel.parent, columns_, sel.stored_as};
            if (!q.all_loaded()) {
                auto deferred = std::make_shared<std::vector<std::string>>();
                for (std::size_t i = 0; i < sel.model->fields.size(); ++i) {
                    if (q.loads(sel, i)) s.loaded.push_back(&sel.model->fields[i]);
                    else deferred->push_back(sel.model->fields[i].name);
                }
                if (deferred->empty()) s.loaded.clear();
                else s.deferred = std::move(deferred);
            }
            columns_ += s.deferred ? s.loaded.size() : sel.model->fields.size();
            selections_.push_back(std::move(s));
        }
    } else {
        columns_ = items.size();  // values(), values_list() and dates() always select a values list
    }
    if (result != Result::values) {
        auto names = std::make_shared<Row::names_type>();
        for (std::size_t i = 0; i < items.size(); ++i) {
            names->push_back(items[i].name);
            kinds_.push_back(items[i].expr->output_kind());
        }
        names_ = std::move(names);
    }
}

DORM_DECL void RowReaderBase::read_annotations(std::span<const backends::Cell> row, std::size_t n,
                                               ModelState& state) const {
    std::vector<Value> values;
    for (std::size_t i = 0; i < kinds_.size(); ++i) values.push_back(cell_value(row[n + i], kinds_[i]));
    state.annotations = std::make_shared<const Row>(names_, std::move(values));
}

DORM_DECL void RowReaderBase::read_related(std::span<const backends::Cell> row, void* out,
                                           ModelState& out_state) const {
    constexpr std::size_t on_stack = 8;  // no allocation per row for up to 8 related objects
    std::array<void*, on_stack> small{};
    std::vector<void*> large(selections_.size() > on_stack ? selections_.size() : 0);
    void** objects = large.empty() ? small.data() : large.data();
    for (std::size_t i = 0; i < selections_.size(); ++i) {
        const auto& s = selections_[i];
        objects[i] = nullptr;
        auto cells = row.subspan(s.offset, s.deferred ? s.loaded.size() : s.model->fields.size());
        void* parent = s.parent < 0 ? out : objects[static_cast<std::size_t>(s.parent)];
        if (!parent) continue;
        if (s.deferred) [[unlikely]] {  // only() / defer() through the relation: the loaded fields one by one
            std::size_t pk = 0;
            while (s.loaded[pk] != &s.model->pk_field()) ++pk;
            if (cells[pk].kind == backends::Cell::Kind::null) continue;
            auto obj = s.model->make();
            for (std::size_t k = 0; k < s.loaded.size(); ++k)
                s.loaded[k]->set(obj.get(), cell_value(cells[k], s.loaded[k]->kind));
            ModelState& state = s.model->state(obj.get());
            state = ModelState{db_, false, nullptr, s.deferred};
            objects[i] = obj.get();
            s.fk->attach(parent, std::move(obj), db_);
            continue;
        }
        bool none = cells[s.model->pk].kind == backends::Cell::Kind::null;  // a NULL ForeignKey, no reverse row
        if (!s.stored_as.empty()) [[unlikely]] {
            auto cache = s.model->new_cache();
            if (!none) {
                s.model->cache_append(cache.get(), cells, db_);
                objects[i] = s.model->cache_at(cache.get(), 0);
            }
            ModelState& state = s.parent < 0 ? out_state
                                             : selections_[static_cast<std::size_t>(s.parent)].model->state(parent);
            if (!state.prefetched)
                state.prefetched = std::make_shared<std::map<std::string, PrefetchedList, std::less<>>>();
            (*state.prefetched)[s.stored_as] = PrefetchedList{s.model, std::move(cache)};
            continue;
        }
        if (none) continue;
        auto obj = s.model->load(cells, db_);
        objects[i] = obj.get();
        s.fk->attach(parent, std::move(obj), db_);
    }
}

}  // namespace dorm::detail
