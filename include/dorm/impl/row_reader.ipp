// SPDX-License-Identifier: MIT
// Definitions for <dorm/row_reader.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/row_reader.hpp>

#include <algorithm>
#include <array>
#include <map>

namespace dorm::detail {

DORM_DECL RowReaderBase::RowReaderBase(const sql::Query& q, const std::string* db, Result result,
                                      std::size_t model_columns)
    : model_(q.model), db_(db) {
    std::vector<sql::SelectItem> items;  // none in the usual case, which then builds no list
    if (q.values_mode || std::any_of(q.annotations.begin(), q.annotations.end(), [](const auto& a) { return a.selected; }))
        items = sql::detail::select_items(q);
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
        // ForeignKeys told, so the usual case adds nothing per row. With routers, get() tells them the database of
        // the instance it belongs to, as Django's hint does. The fields are walked per row rather than listed
        // here: a list would cost an allocation per get().
        if (db != default_alias() || routing())
            attach_relations_ = std::any_of(q.model->fields.begin(), q.model->fields.end(),
                                            [](const FieldMeta& f) { return f.is_relation(); });
        for (const auto& sel : q.select_related) {
            Selection s{sel.model, sel.fk, sel.parent, columns_, sel.stored_as};
            s.pk_column = sel.model->pk;
            s.columns = sel.model->fields.size();
            if (!q.all_loaded()) {
                auto deferred = std::make_shared<std::vector<std::string>>();
                for (std::size_t i = 0; i < sel.model->fields.size(); ++i) {
                    if (i == sel.model->pk) s.pk_column = s.loaded.size();
                    if (q.loads(sel, i)) s.loaded.push_back(&sel.model->fields[i]);
                    else deferred->push_back(sel.model->fields[i].name);
                }
                if (deferred->empty()) {
                    s.loaded.clear();
                    s.pk_column = sel.model->pk;
                } else {
                    s.deferred = std::move(deferred);
                    s.columns = s.loaded.size();
                }
            }
            columns_ += s.columns;
            selections_.push_back(std::move(s));
        }
    } else {
        columns_ = items.size();  // values(), values_list() and dates() always select a values list
        if (result == Result::values)  // Django's convert_value(): an integer-typed expression is int() of its value
            for (std::size_t i = 0; i < items.size() && i < 64; ++i)
                if (auto k = items[i].expr->output_kind();
                    k && sql::detail::is_integer_kind(*k) && !dynamic_cast<const sql::Col*>(items[i].expr.get()))
                    truncated_columns_ |= std::uint64_t{1} << i;
    }
    // A model's rows name their annotations, if any; Rows name every column.
    if (result == Result::row || (result == Result::model && !items.empty())) {
        auto names = std::make_shared<Row::names_type>();
        for (std::size_t i = 0; i < items.size(); ++i) {
            names->push_back(items[i].name);
            kinds_.push_back({items[i].expr->output_kind(), dynamic_cast<const sql::Col*>(items[i].expr.get()) == nullptr});
        }
        names_ = std::move(names);
    }
}

DORM_DECL RowReaderBase::RowReaderBase(const RowReaderBase&) = default;
DORM_DECL RowReaderBase::RowReaderBase(RowReaderBase&&) noexcept = default;
DORM_DECL RowReaderBase& RowReaderBase::operator=(const RowReaderBase&) = default;
DORM_DECL RowReaderBase& RowReaderBase::operator=(RowReaderBase&&) noexcept = default;
DORM_DECL RowReaderBase::~RowReaderBase() = default;

DORM_DECL auto RowReaderBase::column_of(std::size_t i) const -> std::size_t {
    if (!deferred_) return i;
    const FieldMeta* f = &model_->fields[i];
    return static_cast<std::size_t>(std::find(loaded_.begin(), loaded_.end(), f) - loaded_.begin());
}

DORM_DECL void RowReaderBase::read_object(std::span<const backends::Cell> row, void* obj) const {
    std::size_t n = model_->fields.size();
    if (deferred_) {
        n = loaded_.size();
        for (std::size_t i = 0; i < n; ++i) loaded_[i]->set(obj, cell_value(row[i], loaded_[i]->kind));
    } else {
        model_->load_into(obj, row.subspan(0, n));
    }
    ModelState& state = model_->state(obj);
    state = ModelState{db_, false, nullptr, deferred_};
    if (!kinds_.empty()) read_annotations(row, n, state);
    if (attach_relations_) attach_relations(obj);
    if (!selections_.empty()) read_related(row, obj, state);
}

DORM_DECL void RowReaderBase::attach_relations(void* obj) const {
    for (const auto& f : model_->fields)
        if (f.is_relation()) f.attach(obj, nullptr, db_);
}

DORM_DECL Value RowReaderBase::column_value(std::span<const backends::Cell> row, std::size_t at, std::size_t i) const {
    const ColumnKind& k = kinds_[i];
    return k.computed ? expression_value(row[at], k.kind) : cell_value(row[at], k.kind);
}

DORM_DECL void RowReaderBase::read_annotations(std::span<const backends::Cell> row, std::size_t n,
                                               ModelState& state) const {
    std::vector<Value> values;
    for (std::size_t i = 0; i < kinds_.size(); ++i) values.push_back(column_value(row, n + i, i));
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
        auto cells = row.subspan(s.offset, s.columns);
        void* parent = s.parent < 0 ? out : objects[static_cast<std::size_t>(s.parent)];
        if (!parent) continue;
        bool none = cells[s.pk_column].kind == backends::Cell::Kind::null;  // a NULL ForeignKey, no reverse row
        auto load = [&](void* obj) {
            if (s.deferred) [[unlikely]] {  // only() / defer() through the relation: the loaded fields one by one
                for (std::size_t k = 0; k < s.loaded.size(); ++k)
                    s.loaded[k]->set(obj, cell_value(cells[k], s.loaded[k]->kind));
            } else {
                s.model->load_into(obj, cells);
            }
            s.model->state(obj) = ModelState{db_, false, nullptr, s.deferred};
        };
        if (!s.stored_as.empty()) [[unlikely]] {
            auto cache = s.model->new_cache();
            if (!none) {
                objects[i] = s.model->cache_emplace(cache.get());
                load(objects[i]);
            }
            ModelState& state = s.parent < 0 ? out_state
                                             : selections_[static_cast<std::size_t>(s.parent)].model->state(parent);
            if (!state.prefetched)
                state.prefetched = std::make_shared<std::map<std::string, PrefetchedList, std::less<>>>();
            (*state.prefetched)[s.stored_as] = PrefetchedList{s.model, std::move(cache)};
            continue;
        }
        if (none) continue;
        auto obj = s.model->make();
        load(obj.get());
        objects[i] = obj.get();
        s.fk->attach(parent, std::move(obj), db_);
    }
}

}  // namespace dorm::detail
