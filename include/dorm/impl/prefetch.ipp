// SPDX-License-Identifier: MIT
// Definitions for <dorm/prefetch.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/prefetch.hpp>

#include <dorm/functions.hpp>
#include <dorm/lookups.hpp>
#include <dorm/window.hpp>

#include <unordered_map>

namespace dorm::detail {

/// Parent keys -> the caches (detail::ResultCache of the related model) of the parents with that key. Integer keys
/// (the usual case) hash; others compare.
class PrefetchTargets {
public:
    /// Gives every object of `level` an empty list under `attr`; returns the distinct keys to query: the objects'
    /// primary keys, or the values of their field `key` (a ForeignKey's; NULL asks for nothing). An object that
    /// already holds a list there keeps it and is not queried (Django's is_fetched: prefetch_related_objects() of
    /// instances prefetched before). `queryset`: the Prefetch queryset the lists are loaded with, noted on them.
    std::vector<Value> add(const PrefetchLevel& level, const ModelMeta& target, const std::string& attr,
                           const FieldMeta* key = nullptr, std::shared_ptr<const sql::Query> queryset = nullptr);
    /// The caches of the parents whose key is in `cell`, or nullptr.
    const std::vector<void*>* find(const backends::Cell& cell, FieldKind kind) const;
    /// Every object now in the new caches, which the next level of a lookup continues from; when no object was
    /// queried, those of the lists kept (Django's prefetch_related_objects() goes on through them then).
    std::vector<void*> objects(const ModelMeta& target) const;

private:
    std::unordered_map<std::int64_t, std::vector<void*>> by_int_;
    std::map<Value, std::vector<void*>> by_value_;
    std::vector<void*> kept_;  // the caches of the objects that already had their list
};

DORM_DECL auto PrefetchTargets::add(const PrefetchLevel& level, const ModelMeta& target, const std::string& attr,
                                    const FieldMeta* key, std::shared_ptr<const sql::Query> queryset) -> std::vector<Value> {
    const ModelMeta& model = *level.model;
    std::vector<Value> keys;
    for (void* obj : level.objects) {
        ModelState& state = model.state(obj);
        if (state.prefetched)
            if (auto it = state.prefetched->find(attr); it != state.prefetched->end() && it->second.cache) {
                kept_.push_back(it->second.cache.get());
                continue;
            }
        auto cache = target.new_cache();
        if (!state.prefetched) state.prefetched = dorm::detail::make_node<std::map<std::string, PrefetchedList, std::less<>>>();
        (*state.prefetched)[attr] = PrefetchedList{&target, cache, queryset};
        Value pk = key ? key->get(obj) : model.pk_field().get(obj);
        if (pk.is_null()) continue;
        auto& list = pk.holds<std::int64_t>() ? by_int_[pk.as<std::int64_t>()] : by_value_[pk];
        if (list.empty()) keys.push_back(pk);
        list.push_back(cache.get());
    }
    return keys;
}

DORM_DECL auto PrefetchTargets::find(const backends::Cell& cell, FieldKind kind) const -> const std::vector<void*>* {
    if (cell.kind == backends::Cell::Kind::integer) {
        if (auto it = by_int_.find(cell.i); it != by_int_.end()) return &it->second;
    } else if (auto it = by_value_.find(cell_value(cell, kind)); it != by_value_.end()) {
        return &it->second;
    }
    return nullptr;
}

DORM_DECL auto PrefetchTargets::objects(const ModelMeta& target) const -> std::vector<void*> {
    std::vector<void*> out;
    auto collect = [&](const std::vector<void*>& list) {
        for (void* cache : list)
            for (std::size_t i = 0; i < target.cache_size(cache); ++i) out.push_back(target.cache_at(cache, i));
    };
    for (const auto& entry : by_int_) collect(entry.second);
    for (const auto& entry : by_value_) collect(entry.second);
    if (by_int_.empty() && by_value_.empty()) collect(kept_);
    return out;
}

/// The queryset a related manager builds on after this prefetch: the Prefetch's own, unless its list goes to a
/// to_attr (Django stores a plain list there and leaves the manager alone).
inline std::shared_ptr<const sql::Query> manager_queryset(const sql::PrefetchSpec* spec) {
    return spec && spec->to_attr.empty() ? spec->queryset : nullptr;
}

DORM_DECL sql::Query prefetch_base(const sql::PrefetchSpec* spec, const ModelMeta& target, std::string_view name) {
    sql::Query base;
    if (spec && spec->queryset) {
        base = *spec->queryset;
    } else {  // objects()'s query, whose shape prefetch_statement() knows
        base.model = &target;
        base.recipe = recipe_root();
    }
    if (base.model != &target)
        throw ValueError(fmt::format("dorm: Prefetch querysets for '{}' must be over {}", name, target.name));
    if (base.values_mode)
        throw ValueError("dorm: Prefetch querysets cannot use raw(), values(), and values_list().");
    return base;
}

/// Django's manager filters a Prefetch queryset kept under the relation's own name (_apply_rel_filters()): a
/// sliced one is refused there (TypeError); under a to_attr it is sliced per parent (slice_per_parent()).
inline void check_manager_queryset(const sql::PrefetchSpec* spec) {
    if (spec && spec->queryset && spec->queryset->is_sliced() && spec->to_attr.empty())
        throw TypeError("dorm: Cannot filter a query once a slice has been taken.");
}

/// Django's _filter_prefetch_queryset() of a sliced queryset: the slice applies to each parent's rows, not to
/// them all. Each row is numbered among those of its parent (`key`): ROW_NUMBER() OVER (PARTITION BY key ORDER
/// BY the queryset's ordering), the numbers in the slice are kept, and the LIMIT goes.
inline void slice_per_parent(sql::Query& base, sql::ExprPtr key) {
    if (!base.is_sliced()) return;
    sql::Query ordered = sql::detail::ordered_query(base);  // the default ordering made explicit (its joins too)
    ordered.standard_ordering = true;                       // and reverse() applied to it
    base = std::move(ordered);
    auto resolved = sql::resolve_expression(base, *Window(RowNumber()).node());
    auto window = dorm::detail::make_node<sql::Window>(*std::static_pointer_cast<const sql::Window>(resolved));
    window->partition_by = {std::move(key)};
    for (const auto& t : base.order_by)
        if (t.expr) window->order_by.push_back({t.expr, t.descending, t.nulls_first, t.nulls_last});
    auto bound = [&](std::string_view op, std::int64_t v) {
        auto cond = dorm::detail::make_node<lookups::Lookup>();
        cond->lhs = window;
        cond->def = lookups::find(op);
        cond->value = Value(v);
        sql::add_where(base, std::move(cond));  // a window's condition: QUALIFY, written as an outer query
    };
    bound("gt", base.low);
    if (base.high) bound("lte", *base.high);
    base.low = 0;
    base.high.reset();
    base.recipe = nullptr;  // changed beyond its recorded calls: no shape
}

DORM_DECL void load_key(sql::Query& q, const FieldMeta& key) {
    // The column rows are matched to their parents by: loaded even if the Prefetch QuerySet's only() / defer()
    // leaves it out (Django would load it again per object).
    if (q.loads(static_cast<std::size_t>(&key - q.model->fields.data()))) return;
    if (q.defer_loading) std::erase(q.loading, key.name);
    else q.loading.push_back(key.name);
}

DORM_DECL void prefetch_statement(const sql::Query& base, const std::string& path, const FieldMeta* load,
                                  const std::vector<Value>& keys, std::size_t from, std::size_t batch,
                                  backends::Connection& conn, ShapedStatement& out) {
    const std::size_t n = std::min(batch, keys.size() - from);
    std::vector<const Value*> values;
    values.reserve(n);
    for (std::size_t i = from; i < from + n; ++i) values.push_back(&keys[i]);
    const backends::Dialect& dialect = conn.dialect();
    auto build = [&](const sql::Query& source, std::span<const Value> extra) {
        if (&source == &base) return sql::compile_select(sql::detail::batch_query(base, path, keys, from, n), dialect);
        sql::Query other = source;  // learning the shape: the query replayed from its recipe, as base was made
        if (load) load_key(other, *load);
        const std::vector<Value> changed(extra.begin(), extra.end());
        return sql::compile_select(sql::detail::batch_query(other, path, changed, 0, changed.size()), dialect);
    };
    shaped_statement(base, 'p', path, conn, shape_build(build), out, values);
}

DORM_DECL void prefetch_nested(const sql::Query& base, const PrefetchLevel& level, const std::string* db) {
    // The Prefetch QuerySet's own prefetch_related(), over the objects it loaded.
    if (!base.prefetch.empty() && !level.objects.empty())
        prefetch_related(level.objects, *level.model, base.prefetch, base.db ? base.db : db);
}

DORM_DECL PrefetchLevel prefetch_many_to_many(const PrefetchLevel& level, const ManyToManyRelation& m2m, const sql::PrefetchSpec* spec, const std::string* db) {
    if (!m2m.error.empty()) throw FieldError(m2m.error);
    const ModelMeta& target = *m2m.model;
    check_manager_queryset(spec);
    PrefetchTargets targets;
    auto keys = targets.add(level, target, spec && !spec->to_attr.empty() ? spec->to_attr : m2m.accessor_name, nullptr,
                            manager_queryset(spec));
    sql::Query base = prefetch_base(spec, target, m2m.accessor_name);
    // INNER: only linked rows; their link column comes after the model's columns and selected annotations.
    std::string alias = sql::detail::own_reverse_join(base, *m2m.through, *m2m.to, false);
    auto link = dorm::detail::make_node<sql::Col>(alias, m2m.from);
    std::size_t at = 0;
    for (std::size_t i = 0; i < target.fields.size(); ++i) at += base.loads(i) ? 1 : 0;
    for (const auto& a : base.annotations) at += a.selected ? 1 : 0;
    base.annotations.push_back(sql::Annotation{"_prefetch_related_val", link, true});
    base.recipe = nullptr;  // joined and annotated beyond its recorded calls: no shape
    slice_per_parent(base, link);
    prefetch_query(base, db, sql::ExprPtr(link), keys, [&](const RowReaderBase& reader, std::span<const backends::Cell> row) {
        if (const auto* list = targets.find(row[at], m2m.from->kind))
            for (void* cache : *list) reader.read_object(row, target.cache_emplace(cache));
    });
    PrefetchLevel out{&target, targets.objects(target)};
    prefetch_nested(base, out, db);
    return out;
}

DORM_DECL PrefetchLevel prefetch_level(const PrefetchLevel& level, std::string_view name, const sql::PrefetchSpec* spec,
                                       const std::string* db, std::string_view lookup) {
    const ModelMeta& model = *level.model;
    PrefetchLevel out;
    // Django's prefetch_one_level(): to_attr may not hide a field (get_field(): names, attnames, relations).
    if (spec && !spec->to_attr.empty() && !level.objects.empty() && model.has_name(spec->to_attr))
        throw ValueError(fmt::format("dorm: to_attr={} conflicts with a field on the {} model.", spec->to_attr, model.name));
    if (const FieldMeta* f = model.find_field(name); f && f->name == name) {
        if (!f->is_relation())
            throw ValueError(fmt::format("dorm: '{}' does not resolve to an item that supports prefetching - this is "
                                         "an invalid parameter to prefetch_related().", name));
        const ModelMeta& target = f->related();
        out.model = &target;
        std::vector<Value> keys;
        std::set<Value> seen;
        for (void* obj : level.objects) {
            Value id = f->get(obj);
            if (!id.is_null() && seen.insert(id).second) keys.push_back(std::move(id));
        }
        // Django filters the Prefetch queryset by the keys: a slice refuses that (TypeError).
        if (spec && spec->queryset && spec->queryset->is_sliced())
            throw TypeError("dorm: Cannot filter a query once a slice has been taken.");
        sql::Query base = prefetch_base(spec, target, name);
        const FieldMeta& pk = target.pk_field();
        if (spec && !spec->to_attr.empty()) {
            // Django sets the to_attr to the object or None and leaves the ForeignKey alone: here a list of one
            // object or none, read with prefetched<>().
            PrefetchTargets targets;
            auto wanted = targets.add(level, target, spec->to_attr, f);
            prefetch_query(base, db, std::string("pk__in"), wanted, [&](const RowReaderBase& reader, std::span<const backends::Cell> row) {
                if (const auto* list = targets.find(row[reader.column_of(pk.index)], pk.kind))
                    for (void* cache : *list) reader.read_object(row, target.cache_emplace(cache));
            }, &pk);
            out.objects = targets.objects(target);
            prefetch_nested(base, out, db);
            return out;
        }
        std::map<Value, std::shared_ptr<void>> loaded;
        prefetch_query(base, db, std::string("pk__in"), keys, [&](const RowReaderBase& reader, std::span<const backends::Cell> row) {
            auto obj = target.make();
            reader.read_object(row, obj.get());
            Value id = pk.get(obj.get());
            out.objects.push_back(obj.get());
            loaded.emplace(std::move(id), std::move(obj));
        });
        for (void* obj : level.objects)
            if (auto it = loaded.find(f->get(obj)); it != loaded.end()) f->attach(obj, it->second, db);
        prefetch_nested(base, out, db);
        return out;
    }
    for (const auto& m2m : model.many_to_many)
        if (m2m.accessor_name == name) return prefetch_many_to_many(level, m2m, spec, db);
    const RelatedObject* rel = nullptr;
    for (const auto& r : model.related_objects)
        if (!r.hidden && r.accessor_name == name) rel = &r;
    if (rel && rel->clashes)
        throw FieldError(fmt::format("dorm: the reverse name '{}' on {} is ambiguous: give the ForeignKeys pointing "
                                     "here distinct related_name()s", name, model.name));
    if (!rel)  // Django's AttributeError, naming the whole lookup
        throw AttributeError(fmt::format("dorm: Cannot find '{}' on {} object, '{}' is an invalid parameter to "
                                         "prefetch_related()", name, model.name, lookup.empty() ? name : lookup));
    const ModelMeta& target = *rel->model;
    check_manager_queryset(spec);
    PrefetchTargets targets;
    auto keys = targets.add(level, target, spec && !spec->to_attr.empty() ? spec->to_attr : rel->accessor_name, nullptr,
                            manager_queryset(spec));
    const FieldMeta& fk = *rel->field;
    sql::Query base = prefetch_base(spec, target, name);
    slice_per_parent(base, dorm::detail::make_node<sql::Col>(base.alias(), &fk));
    prefetch_query(base, db, fk.name + "__in", keys, [&](const RowReaderBase& reader, std::span<const backends::Cell> row) {
        if (const auto* list = targets.find(row[reader.column_of(fk.index)], fk.kind))
            for (void* cache : *list) reader.read_object(row, target.cache_emplace(cache));
    }, &fk);
    out = PrefetchLevel{&target, targets.objects(target)};
    prefetch_nested(base, out, db);
    return out;
}

DORM_DECL void prefetch_related(std::vector<void*> objects, const ModelMeta& model, const std::vector<sql::PrefetchSpec>& specs, const std::string* db) {
    if (objects.empty()) return;
    std::map<std::string, PrefetchLevel> done;
    for (const auto& spec : specs) {
        PrefetchLevel level{&model, objects};
        auto parts = sql::detail::split_path(spec.lookup);
        // Django's prefetch_to: the lookup, its last part replaced by the to_attr. A queryset for one already
        // loaded (as a level of an earlier lookup too) would be ignored: Django refuses it.
        if (spec.queryset && parts.size() != 0) {
            const std::string_view end = parts[parts.size() - 1];
            std::string to = spec.lookup.substr(0, spec.lookup.size() - end.size());
            to += spec.to_attr.empty() ? end : std::string_view(spec.to_attr);
            if (done.contains(to))
                throw ValueError(fmt::format("dorm: '{}' lookup was already seen with a different queryset. You may "
                                             "need to adjust the ordering of your lookups.", to));
        }
        std::string prefix;
        for (std::size_t i = 0; i < parts.size(); ++i) {
            if (level.objects.empty()) break;  // nothing to prefetch for (Django stops there too)
            bool last = i + 1 == parts.size();
            prefix += (prefix.empty() ? "" : "__") + std::string(parts[i]);
            std::string key = last && !spec.to_attr.empty() ? prefix + "->" + spec.to_attr : prefix;
            if (auto it = done.find(key); it != done.end()) {
                level = it->second;
                continue;
            }
            level = prefetch_level(level, parts[i], last ? &spec : nullptr, db, spec.lookup);
            done[key] = level;
            // Later lookups may continue through the to_attr ("recent__authors" after Prefetch(.., "recent")).
            if (last && !spec.to_attr.empty())
                done[prefix.substr(0, prefix.size() - parts[i].size()) + spec.to_attr] = level;
        }
    }
}

}  // namespace dorm::detail
