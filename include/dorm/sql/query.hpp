// SPDX-License-Identifier: MIT
// sql::Query: the plain-data state of a QuerySet; lookup-path resolution (joins, transforms, lookups) and
// compilation to SQL per statement kind.
#pragma once

#include <dorm/database.hpp>
#include <dorm/errors.hpp>
#include <dorm/expressions.hpp>
#include <dorm/lookups.hpp>
#include <dorm/model.hpp>
#include <dorm/q.hpp>
#include <dorm/sql/ast.hpp>
#include <dorm/sql/compiler.hpp>
#include <dorm/sql/expressions.hpp>

#include <algorithm>
#include <deque>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dorm::sql {

/// One ORDER BY term.
struct OrderBy {
    OrderBy(ExprPtr e = nullptr, bool desc = false, bool first = false, bool last = false, std::string col = {})
        : expr(std::move(e)), descending(desc), nulls_first(first), nulls_last(last), column(std::move(col)) {}
    ExprPtr expr;  // nullptr for random ordering (and for a set operation's terms)
    bool descending = false;
    bool nulls_first = false;
    bool nulls_last = false;
    std::string column;  // a set operation's term: the name of the column it orders by
};

/// A table joined through a ForeignKey: forward `parent_alias.fk_column = alias.pk`, or reverse (from the
/// referenced model to the referencing one) `parent_alias.pk = alias.fk_column`.
struct Join {
    std::string alias;
    const ModelMeta* model = nullptr;  // the joined model
    std::string parent_alias;
    const FieldMeta* fk = nullptr;  // the ForeignKey: on the parent's side (forward), on the joined model (reverse)
    bool outer = false;             // LEFT OUTER JOIN: the ForeignKey (or one before it) is NULL-able
    bool reverse = false;           // a multi-valued relation: one parent row meets many joined rows
    int filter_call = 0;            // the filter() call that made a multi-valued join (0: annotate, values, ...)
    const ModelMeta* parent_model = nullptr;  // reverse joins: the parent's model (for its primary key)
    std::string filtered;                     // FilteredRelation: its name (such joins serve only it)
    ExprPtr condition;                        // FilteredRelation: AND-ed into ON
    bool sticky = false;  // a many-to-many manager's join: later filter() calls reuse it (Django's _next_is_sticky)
};

/// A FilteredRelation from annotate(): the relation it joins and the condition of the join.
struct FilteredRelationSpec {
    std::string name;
    std::string relation;
    std::shared_ptr<const Q> condition;
};

/// An annotate() / alias() expression; alias() ones are not selected.
struct Annotation {
    std::string name;
    ExprPtr expr;
    bool selected = true;
};

/// One column of a values() select list.
struct SelectItem {
    std::string name;
    ExprPtr expr;
};

/// How rows are grouped: not at all, by every column of the model (annotate() with an aggregate), or by the
/// values() fields (values().annotate()). Selected and ordering expressions are grouped by too, as in Django.
enum class Grouping { none, all, listed };

/// A related object loaded by select_related(): its model, the join alias of its table, the ForeignKey on the
/// parent (the query's model, or an earlier selection) that points at it.
struct RelatedSelection {
    std::string path;  // "blog", "blog__owner"
    const ModelMeta* model = nullptr;
    std::string alias;
    const FieldMeta* fk = nullptr;
    int parent = -1;  // index of the parent selection; -1: the query's model
    /// Set when the object has no ForeignKey member to go in (a reverse one-to-one, a FilteredRelation): it is
    /// stored like a prefetched list of 0 or 1 objects under this name (`related_object()` / `prefetched()`).
    std::string stored_as{};
};

/// One prefetch_related() lookup: "entry_set__blog", with the QuerySet and attribute name of a Prefetch().
struct PrefetchSpec {
    std::string lookup;
    std::shared_ptr<const Query> queryset;  // the last level's base query; nullptr: all rows
    std::string to_attr;                    // the name the last level is stored under; empty: the relation's
};

/// The state of a QuerySet: plain data, copied (shallowly: the WHERE tree is shared) on every chained call.
namespace detail {
/// The statements get(field, value) compiled from one query, kept with it: the same field and value type give the
/// same SQL with the value as its only parameter. Copies start empty, since a chained query is another query.
class GetStatements {
public:
    GetStatements() = default;
    GetStatements(const GetStatements&) noexcept {}
    GetStatements& operator=(const GetStatements&) noexcept { return *this; }

    /// The SQL for `path` and a value of variant index `type` on dialect `d`, or nullptr.
    const std::string* find(std::string_view path, std::size_t type, const backends::Dialect* d) const {
        std::lock_guard lock(mutex_);
        for (const auto& e : entries_)
            if (e.type == type && e.dialect == d && e.path == path) return &e.sql;
        return nullptr;
    }
    void add(std::string path, std::size_t type, const backends::Dialect* d, std::string sql) const {
        std::lock_guard lock(mutex_);
        if (entries_.size() < 16)  // a few fields per query: paths built at run time must not grow it unbounded
            entries_.push_back(Entry{std::move(path), type, d, std::move(sql)});
    }

private:
    struct Entry {
        std::string path;
        std::size_t type;
        const backends::Dialect* dialect;
        std::string sql;
    };
    mutable std::mutex mutex_;
    mutable std::deque<Entry> entries_;  // a deque: find()'s pointers stay valid while entries are added
};
}  // namespace detail

struct Query {
    const ModelMeta* model = nullptr;
    const std::string* db = dorm::detail::default_alias();
    std::vector<Join> joins;
    std::shared_ptr<const WhereNode> where;  // nullptr: no condition
    std::vector<OrderBy> order_by;           // explicit order_by(); empty: the model's default, if any
    bool default_ordering = true;            // false after order_by() with no arguments
    bool standard_ordering = true;           // false after reverse()
    bool distinct = false;
    std::vector<ExprPtr> distinct_fields;  // DISTINCT ON (...), PostgreSQL only
    std::int64_t low = 0;
    std::optional<std::int64_t> high;
    bool empty = false;                   // none(), or a slice that selects nothing
    std::optional<SelectForUpdate> lock;  // select_for_update()
    std::vector<Annotation> annotations;  // annotate() / alias(), in order
    bool values_mode = false;             // values() / values_list(): select `values`, not the model's columns
    std::vector<SelectItem> values;
    Grouping grouping = Grouping::none;
    std::vector<ExprPtr> group_by;          // Grouping::listed
    std::shared_ptr<const WhereNode> having;  // conditions on aggregates
    std::vector<RelatedSelection> select_related;  // their columns follow the model's and the annotations
    std::vector<PrefetchSpec> prefetch;            // prefetch_related(), run after the rows are loaded
    std::vector<FilteredRelationSpec> filtered_relations;
    const FilteredRelationSpec* building_filtered = nullptr;  // while its condition is built: its relation's name
                                                              // stands for its join
    std::vector<std::string> extra_tables;  // extra(tables=...): more tables in FROM
    std::vector<std::string> loading;       // defer() / only() field names
    bool defer_loading = true;              // `loading` lists the deferred fields (true) or the only ones (false)
    int filter_calls = 0;                   // filter() / exclude() calls so far
    int current_filter = 0;                 // the call whose conditions are being built; 0 outside filter()
    std::string combinator;                 // "UNION", "UNION ALL", "INTERSECT", "EXCEPT"; empty: none
    std::vector<std::shared_ptr<const Query>> combined;  // the queries combined, this one's own state first
    detail::GetStatements get_statements;                 // see detail::GetStatements

    const Annotation* find_annotation(std::string_view name) const noexcept {
        for (const auto& a : annotations)
            if (a.name == name) return &a;
        return nullptr;
    }

    bool is_sliced() const noexcept { return low != 0 || high.has_value(); }

    /// Whether the model's field `i` is loaded (defer() / only()); the primary key always is.
    bool loads(std::size_t i) const {
        if (loading.empty()) return defer_loading;
        const auto& f = model->fields[i];
        if (f.primary_key) return true;
        bool listed = std::find(loading.begin(), loading.end(), f.name) != loading.end();
        return defer_loading ? !listed : listed;
    }
    bool all_loaded() const noexcept { return loading.empty() && defer_loading; }

    /// Django's Query.set_limits: a slice of a slice is relative to it.
    void set_limits(std::optional<std::int64_t> new_low, std::optional<std::int64_t> new_high) {
        if (new_high) high = high ? std::min(*high, low + *new_high) : low + *new_high;
        if (new_low) low = high ? std::min(*high, low + *new_low) : low + *new_low;
        if (high && low == *high) empty = true;
    }

    /// Django's QuerySet.ordered.
    bool ordered() const noexcept { return !order_by.empty() || (default_ordering && !model->ordering.empty()); }
    /// The alias of the model's own table.
    const std::string& alias() const noexcept { return model->db_table; }
};

// ---------------------------------------------------------------------------------------------------------------
// Resolution: user strings -> AST nodes, against a model's metadata.

namespace detail {

inline std::string_view kind_name(FieldKind k) {
    switch (k) {
        case FieldKind::boolean: return "a bool";
        case FieldKind::small_integer:
        case FieldKind::integer:
        case FieldKind::big_integer: return "an integer";
        case FieldKind::real: return "a number";
        case FieldKind::text: return "a string";
        case FieldKind::bytes: return "bytes";
        case FieldKind::date: return "a Date";
        case FieldKind::datetime: return "a DateTime";
        case FieldKind::time: return "a Time";
    }
    return "a value";
}

/// Throws TypeError unless `v` (not NULL) has the kind `k`: dorm never converts silently.
inline void check_value(std::string_view name, FieldKind k, const Value& v) {
    if (v.is_null()) return;
    bool ok = false;
    switch (k) {
        case FieldKind::boolean: ok = v.holds<bool>(); break;
        case FieldKind::small_integer:
        case FieldKind::integer:
        case FieldKind::big_integer: ok = v.holds<std::int64_t>(); break;
        case FieldKind::real: ok = v.holds<double>() || v.holds<std::int64_t>(); break;
        case FieldKind::text: ok = v.holds<std::string>(); break;
        case FieldKind::bytes: ok = v.holds<Bytes>(); break;
        case FieldKind::date: ok = v.holds<Date>(); break;
        case FieldKind::datetime: ok = v.holds<DateTime>(); break;
        case FieldKind::time: ok = v.holds<Time>(); break;
    }
    if (!ok)
        throw TypeError(fmt::format("dorm: Field '{}' expected {} but got {} {}", name, kind_name(k), v.type_name(), v));
}
inline void check_value(const FieldMeta& f, const Value& v) { check_value(f.name, f.kind, v); }

/// A value of the same type as `v` that differs from it (to tell a statement's parameter from its text), if known.
inline std::optional<Value> another_value(const Value& v) {
    return std::visit(
        [](const auto& x) -> std::optional<Value> {
            using X = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<X, bool>) return Value(!x);
            else if constexpr (std::is_same_v<X, std::int64_t>) return Value(x == INT64_MAX ? x - 1 : x + 1);
            else if constexpr (std::is_same_v<X, double>) return Value(x + 1.0);
            else if constexpr (std::is_same_v<X, std::string>) return Value(x + "_");
            else return std::nullopt;
        },
        v.variant());
}

/// Calls `fn` with the path of every lookup in `q` (not those of boolean expressions).
template <class Fn>
void for_each_leaf(const Q& q, Fn&& fn) {
    if (q.leaf()) {
        if (!q.leaf()->condition) fn(q.leaf()->path);
        return;
    }
    for (const auto& child : q.children()) for_each_leaf(child, fn);
}

inline std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> parts;
    for (std::size_t pos = 0;;) {
        auto at = path.find("__", pos);
        parts.push_back(path.substr(pos, at == std::string_view::npos ? std::string_view::npos : at - pos));
        if (at == std::string_view::npos) break;
        pos = at + 2;
    }
    return parts;
}

inline std::string fresh_alias(const Query& q, const std::string& table) {
    auto taken = [&](const std::string& a) {
        if (a == q.alias()) return true;
        for (const auto& j : q.joins)
            if (j.alias == a) return true;
        return false;
    };
    if (!taken(table)) return table;
    for (std::size_t n = q.joins.size() + 2;; ++n)  // Django's T2, T3, ...
        if (!taken("T" + std::to_string(n))) return "T" + std::to_string(n);
}

/// The alias of `fk`'s target joined to `parent_alias`, adding the join if the query has none yet.
inline std::string join(Query& q, const std::string& parent_alias, const FieldMeta& fk, bool parent_outer) {
    for (const auto& j : q.joins)
        if (!j.reverse && j.filtered.empty() && j.parent_alias == parent_alias && j.fk == &fk) return j.alias;
    const ModelMeta& target = fk.related();
    std::string alias = fresh_alias(q, target.db_table);
    q.joins.push_back(Join{alias, &target, parent_alias, &fk, parent_outer || fk.nullable, false, 0, nullptr, {}, nullptr});
    return alias;
}

/// The alias of the model holding `rel`'s ForeignKey joined to `parent_alias` (a reverse, multi-valued join).
/// Django's rules: conditions of one filter() call share such a join, a later filter() call gets its own, and
/// annotate() / values() / order_by() reuse any; filter() joins are INNER, the others LEFT OUTER.
inline std::string reverse_join(Query& q, const std::string& parent_alias, const ModelMeta& parent,
                                const ModelMeta& child, const FieldMeta& fk, bool outer) {
    for (auto& j : q.joins)
        if (j.reverse && j.filtered.empty() && j.parent_alias == parent_alias && j.fk == &fk &&
            (q.current_filter == 0 || j.filter_call == q.current_filter || fk.one_to_one || j.sticky)) {
            if (outer) j.outer = true;
            return j.alias;
        }
    std::string alias = fresh_alias(q, child.db_table);
    q.joins.push_back(Join{alias, &child, parent_alias, &fk, outer, true, q.current_filter, &parent, {}, nullptr});
    return alias;
}

/// A reverse join of its own, as a filter() call of its own makes: a prefetch's join to a join table, which the
/// Prefetch QuerySet's conditions on the same relation must not share; `sticky` for a many-to-many manager's,
/// which later filter() calls share, as in Django (`entry.authors.filter(entry__rating=3)`: this entry's rating).
inline std::string own_reverse_join(Query& q, const ModelMeta& child, const FieldMeta& fk, bool outer, bool sticky = false) {
    q.current_filter = ++q.filter_calls;
    std::string alias = reverse_join(q, q.alias(), *q.model, child, fk, outer);
    q.current_filter = 0;
    for (auto& j : q.joins)
        if (j.alias == alias) j.sticky = sticky;
    return alias;
}

inline ExprPtr build_q_fwd(Query& query, const Q& q);

/// The join of a FilteredRelation, made on first use: LEFT OUTER, with its condition in ON.
inline std::size_t filtered_join(Query& q, const FilteredRelationSpec& fr) {
    for (std::size_t i = 0; i < q.joins.size(); ++i)
        if (q.joins[i].filtered == fr.name) return i;
    const ModelMeta& model = *q.model;
    Join j;
    j.alias = fresh_alias(q, fr.name);
    j.parent_alias = q.alias();
    j.outer = true;
    j.filtered = fr.name;
    if (const FieldMeta* f = model.find_field(fr.relation); f && f->is_relation()) {
        j.model = &f->related();
        j.fk = f;
    } else if (const RelatedObject* rel = model.find_related(fr.relation)) {
        j.model = rel->model;
        j.fk = rel->field;
        j.reverse = true;
        j.parent_model = &model;
    } else {
        throw FieldError(fmt::format("dorm: FilteredRelation's relation '{}' is not a relation of {} (nested relations "
                                     "are not supported)", fr.relation, model.name));
    }
    q.joins.push_back(std::move(j));
    std::size_t index = q.joins.size() - 1;
    q.building_filtered = &fr;
    auto condition = build_q_fwd(q, *fr.condition);
    q.building_filtered = nullptr;
    q.joins[index].condition = std::move(condition);
    return index;
}

}  // namespace detail

/// What a lookup path resolved to: the expression on its left side and what follows.
struct ResolvedPath {
    ExprPtr lhs;                 // the column, wrapped in any transforms
    ExprPtr column;              // the column alone (or the annotation's expression)
    const FieldMeta* field = nullptr;  // nullptr for an annotation
    std::string_view name;       // the field's or the annotation's name
    FieldKind kind{};            // the kind of `lhs`
    bool kind_known = true;      // false for an annotation whose type is unknown (a NULL value)
    bool nullable = false;       // NULL-able column, or reached through a LEFT OUTER JOIN
    std::vector<const lookups::TransformDef*> transforms;
    std::string_view lookup;     // the lookup name, if the path has one
};

inline ResolvedPath resolve_tail(ResolvedPath& r, const std::vector<std::string_view>& parts, std::size_t i,
                                 std::string_view path, bool allow_lookup, const ModelMeta* model);

/// Resolves "blog__name__icontains", "pub_date__year__gte", "pk" against the query's model, adding the
/// joins it needs. `allow_lookup`: a trailing lookup name is accepted; `allow_joins`: ForeignKeys may be crossed.
inline ResolvedPath resolve_path(Query& q, std::string_view path, bool allow_lookup, bool allow_joins = true) {
    auto parts = detail::split_path(path);
    for (auto p : parts)
        if (p.empty()) throw FieldError(fmt::format("dorm: '{}' is not a valid lookup path", path));
    const ModelMeta* model = q.model;
    std::string alias = q.alias();
    bool outer = false;
    std::size_t i = 1;
    ResolvedPath r;
    // Annotations first, as in Django; their names may contain "__" ("entry__count"): the longest prefix wins.
    for (std::size_t n = parts.size(); n >= 1; --n) {
        std::string_view prefix = path.substr(0, static_cast<std::size_t>(parts[n - 1].data() + parts[n - 1].size() - path.data()));
        const Annotation* a = q.find_annotation(prefix);
        if (!a) continue;
        r.column = r.lhs = a->expr;
        r.name = a->name;
        auto k = a->expr->output_kind();
        r.kind = k.value_or(FieldKind::text);
        r.kind_known = k.has_value();
        r.nullable = true;
        return resolve_tail(r, parts, n, path, allow_lookup, model);
    }
    // Walk the path: fields, ForeignKeys forward (a join unless only the key is needed) and reverse relations
    // (multi-valued joins). Fields win over lookups, as in Django.
    const FieldMeta* field = nullptr;
    std::size_t at = 0;
    auto is_lookup = [](std::string_view n) { return lookups::find(n) || lookups::find_transform(n); };
    // A FilteredRelation's name (or, inside its own condition, its relation's name) stands for its join.
    const FilteredRelationSpec* fr = nullptr;
    for (const auto& spec : q.filtered_relations)
        if (spec.name == parts[0]) fr = &spec;
    if (q.building_filtered && q.building_filtered->relation == parts[0]) fr = q.building_filtered;
    if (fr) {
        if (!allow_joins) throw FieldError("dorm: Joined field references are not permitted in this query");
        std::size_t index = detail::filtered_join(q, *fr);
        alias = q.joins[index].alias;
        model = q.joins[index].model;
        outer = true;
        at = 1;
        if (at == parts.size() || is_lookup(parts[at])) field = &model->pk_field();
    }
    while (!field) {
        std::string_view name = parts[at];
        if (const FieldMeta* f = model->find_field(name)) {
            if (f->is_relation() && at + 1 < parts.size()) {
                const ModelMeta& target = f->related();
                std::string_view next = parts[at + 1];
                if (next == "pk" || next == target.pk_field().name) {  // the key itself: no join
                    field = f;
                    at += 2;
                    break;
                }
                if (target.has_name(next)) {
                    if (!allow_joins) throw FieldError("dorm: Joined field references are not permitted in this query");
                    alias = detail::join(q, alias, *f, outer);
                    outer = outer || f->nullable;
                    model = &target;
                    ++at;
                    continue;
                }
                if (!is_lookup(next))
                    throw FieldError(fmt::format("dorm: Cannot resolve keyword '{}' into field. Choices are: {}", next,
                                                 target.choices()));
            }
            field = f;
            ++at;
            break;
        }
        if (const RelatedObject* rel = model->find_related(name)) {
            if (!allow_joins) throw FieldError("dorm: Joined field references are not permitted in this query");
            // LEFT OUTER: a row without related rows must survive OR-ed conditions, isnull=True and annotations.
            alias = detail::reverse_join(q, alias, *model, *rel->model, *rel->field, true);
            outer = true;
            model = rel->model;
            ++at;
            if (at == parts.size() || is_lookup(parts[at])) {  // "entry" alone: the related row's primary key
                field = &model->pk_field();
                break;
            }
            continue;
        }
        if (const ManyToManyRelation* m2m = model->find_many_to_many(name)) {
            // To the join table, then on as if the path named its ForeignKey to the other side: "authors" alone
            // is the join table's author_id, "authors__name" joins the author.
            if (!allow_joins) throw FieldError("dorm: Joined field references are not permitted in this query");
            alias = detail::reverse_join(q, alias, *model, *m2m->through, *m2m->from, true);
            outer = true;
            model = m2m->through;
            parts[at] = m2m->to->name;
            continue;
        }
        std::string choices = model->choices();
        if (at == 0 && !q.annotations.empty()) {
            std::vector<std::string_view> names;
            for (const auto& a : q.annotations) names.push_back(a.name);
            for (const auto& f : model->fields) names.push_back(f.name);
            for (const auto& rel : model->related_objects)
                if (!rel.hidden) names.push_back(rel.query_name);
            for (const auto& rel : model->many_to_many) names.push_back(rel.query_name);
            std::sort(names.begin(), names.end());
            choices = fmt::format("{}", fmt::join(names, ", "));
        }
        throw FieldError(fmt::format("dorm: Cannot resolve keyword '{}' into field. Choices are: {}", name, choices));
    }
    i = at;
    r.field = field;
    r.name = field->name;
    r.column = std::make_shared<Col>(alias, field);
    r.lhs = r.column;
    r.kind = field->kind;
    r.nullable = field->nullable || outer;
    return resolve_tail(r, parts, i, path, allow_lookup, model);
}

/// The transforms and lookup after a field or an annotation.
inline ResolvedPath resolve_tail(ResolvedPath& r, const std::vector<std::string_view>& parts, std::size_t i,
                                 std::string_view path, bool allow_lookup, const ModelMeta* model) {
    for (; i < parts.size(); ++i) {
        const auto* t = lookups::find_transform(parts[i]);
        if (!t) break;
        if (r.kind_known && !lookups::transform_applies(*t, r.kind))
            throw FieldError(fmt::format("dorm: Cannot apply the '{}' transform to {} '{}'. Lookups are: {}", t->name,
                                         detail::field_class(r.kind), r.name, lookups::names(r.kind)));
        r.lhs = std::make_shared<lookups::Transform>(t, r.lhs, r.kind);
        r.kind = t->output;
        r.transforms.push_back(t);
    }
    if (i < parts.size()) {
        bool last = i + 1 == parts.size();
        if (!allow_lookup || !last || !lookups::find(parts[i])) {
            if (!last || lookups::find(parts[i]) == nullptr) {
                if (r.field && model->find_field(parts[i]) && !r.field->is_relation())
                    throw FieldError(fmt::format("dorm: Unsupported lookup '{}' for {} '{}' or join on the field not "
                                                 "permitted", parts[i], detail::field_class(r.kind), r.name));
                throw FieldError(fmt::format("dorm: Unsupported lookup '{}' for {} '{}'. Lookups are: {}", parts[i],
                                             detail::field_class(r.kind), r.name, lookups::names(r.kind)));
            }
            throw FieldError(fmt::format("dorm: '{}' ends in a lookup where only a field is allowed", path));
        }
        r.lookup = parts[i];
    }
    return r;
}

/// A subquery used as a value: the primary keys of a QuerySet (for `in`), or its one values() column
/// (Django's Subquery); `scalar` marks the latter, whose type is its column's.
struct Subquery final : Expression {
    explicit Subquery(std::shared_ptr<const Query> q, bool scalar_ = false) : query(std::move(q)), scalar(scalar_) {}
    std::shared_ptr<const Query> query;
    bool scalar = false;
    Match as_sql(Compiler& c) const override;
    std::optional<FieldKind> output_kind() const override;
};

/// EXISTS(SELECT 1 FROM ... LIMIT 1) (Django's Exists).
struct ExistsNode final : Expression {
    explicit ExistsNode(std::shared_ptr<const Query> q) : query(std::move(q)) {}
    std::shared_ptr<const Query> query;
    Match as_sql(Compiler& c) const override;
    std::optional<FieldKind> output_kind() const override { return FieldKind::boolean; }
};

/// OuterRef("path"): a column of the query a subquery sits in, resolved when the subquery is written.
struct OuterCol final : Expression {
    explicit OuterCol(std::string p) : path(std::move(p)) {}
    std::string path;
    bool is_outer_ref() const noexcept override { return true; }
    Match as_sql(Compiler& c) const override;
};

/// A column of the select list by its alias: `ORDER BY "datefield"` (the same expression written twice with
/// bound parameters is not the same expression to PostgreSQL).
struct SelectRef final : Expression {
    SelectRef(std::string n, std::optional<FieldKind> k) : name(std::move(n)), kind(k) {}
    std::string name;
    std::optional<FieldKind> kind;
    std::optional<FieldKind> output_kind() const override { return kind; }
    Match as_sql(Compiler& c) const override {
        c.quote(name);
        return Match::some;
    }
};

/// A column of a derived table: `"subquery"."__col1"` (aggregate() over a grouped or sliced query).
struct AliasCol final : Expression {
    AliasCol(std::string t, std::string n, std::optional<FieldKind> k) : table(std::move(t)), name(std::move(n)), kind(k) {}
    std::string table, name;
    std::optional<FieldKind> kind;
    std::optional<FieldKind> output_kind() const override { return kind; }
    Match as_sql(Compiler& c) const override {
        c.quote(table);
        c << ".";
        c.quote(name);
        return Match::some;
    }
};

inline ExprPtr build_q(Query& query, const Q& q, bool negated = false);

namespace detail {
/// Every OuterRef path in a query's conditions and selected expressions.
inline void collect_outer_refs(const Expression* e, std::vector<std::string>& out) {
    if (!e) return;
    if (auto* o = dynamic_cast<const OuterCol*>(e)) out.push_back(o->path);
    std::vector<const Expression*> kids;
    e->sources(kids);
    for (const auto* k : kids) collect_outer_refs(k, out);
}
inline std::vector<std::string> outer_refs(const Query& q) {
    std::vector<std::string> out;
    collect_outer_refs(q.where.get(), out);
    collect_outer_refs(q.having.get(), out);
    for (const auto& a : q.annotations) collect_outer_refs(a.expr.get(), out);
    for (const auto& v : q.values) collect_outer_refs(v.expr.get(), out);
    return out;
}
/// Adds to `outer` the joins the OuterRefs of `inner` need, so that they resolve to existing tables when written.
inline void resolve_outer_refs(Query& outer, const Query& inner) {
    for (const auto& path : outer_refs(inner)) (void)resolve_path(outer, path, false);
}
}  // namespace detail

/// Resolves an expression tree against the query (joins added as needed). `allow_joins`: ForeignKeys may be
/// crossed (update() refuses them).
inline ExprPtr resolve_expression(Query& q, const dorm::detail::ExprNode& n, bool allow_joins = true) {
    using K = dorm::detail::ExprNode::Kind;
    auto resolve = [&](const dorm::detail::ExprNodePtr& a) { return resolve_expression(q, *a, allow_joins); };
    switch (n.kind) {
        case K::ref: return resolve_path(q, n.name, false, allow_joins).lhs;
        case K::value: return std::make_shared<Param>(n.value);
        case K::binary: return std::make_shared<BinaryOp>(n.name, resolve(n.args[0]), resolve(n.args[1]), n.output);
        case K::func: {
            std::vector<ExprPtr> args;
            for (const auto& a : n.args) args.push_back(resolve(a));
            return std::make_shared<Func>(n.name, std::move(args), n.output);
        }
        case K::aggregate: {
            auto a = std::make_shared<Aggregate>();
            a->function = n.name;
            a->label = n.label;
            for (const auto& arg : n.args)  // an aggregate over an aggregate is refused by annotate(), not aggregate()
                if (arg->kind != K::star) a->args.push_back(resolve(arg));
            a->distinct = n.distinct;
            if (n.filter) a->filter = build_q(q, *n.filter);
            if (n.fallback) a->fallback = resolve(n.fallback);
            for (const auto& [e, desc] : n.ordering) a->ordering.emplace_back(resolve(e), desc);
            if (n.name == "STRING_AGG") a->delimiter = n.value;
            a->output = n.output;
            return a;
        }
        case K::case_: {
            auto c = std::make_shared<Case>();
            for (std::size_t i = 0; i < n.conditions.size(); ++i)
                c->whens.emplace_back(build_q(q, *n.conditions[i]), resolve(n.args[i]));
            if (n.fallback) c->fallback = resolve(n.fallback);
            c->output = n.output;
            return c;
        }
        case K::cast: return std::make_shared<Cast>(resolve(n.args[0]), *n.output);
        case K::subquery:
        case K::exists: {
            detail::resolve_outer_refs(q, *n.query);
            if (n.kind == K::exists) return std::make_shared<ExistsNode>(n.query);
            return std::make_shared<Subquery>(n.query, true);
        }
        case K::outer_ref: return std::make_shared<OuterCol>(n.name);
        case K::raw: {
            std::vector<Value> params;
            for (const auto& a : n.args) params.push_back(a->value);
            return std::make_shared<RawExpr>(n.name, std::move(params), n.output);
        }
        case K::star: throw FieldError("dorm: '*' is only valid as Count's argument");
        case K::filtered_relation: throw ValueError("dorm: FilteredRelation is only valid in annotate() and alias()");
    }
    return nullptr;
}

namespace detail {

/// Django's YearLookup: `year` compared with a number becomes a range on the column itself, so that an
/// index on the column serves it. Returns nullptr when the optimisation does not apply.
inline ExprPtr year_lookup(const ResolvedPath& r, const lookups::LookupDef& def, const Value& v) {
    if (!r.field || r.transforms.size() != 1 || !v.holds<std::int64_t>()) return nullptr;
    std::string_view t = r.transforms[0]->name;
    if (t != "year" && t != "iso_year") return nullptr;
    std::string_view op = def.name;
    if (op != "exact" && op != "gt" && op != "gte" && op != "lt" && op != "lte") return nullptr;
    FieldKind k = r.field->kind;
    if (k != FieldKind::date && k != FieldKind::datetime) return nullptr;
    auto y = static_cast<int>(v.as<std::int64_t>());
    using namespace std::chrono;
    sys_days first, last;
    if (t == "year") {
        first = sys_days{year{y} / January / 1};
        last = sys_days{year{y} / December / 31};
    } else {  // ISO year: from the Monday of week 1 to the day before the next ISO year's week 1
        auto week1_monday = [](int yy) {
            sys_days jan4{year{yy} / January / 4};
            return jan4 - days{weekday{jan4}.iso_encoding() - 1};
        };
        first = week1_monday(y);
        last = week1_monday(y + 1) - days{1};
    }
    Value lo, hi;
    if (k == FieldKind::date) {
        lo = Date{first};
        hi = Date{last};
    } else {
        lo = DateTime{first};
        hi = DateTime{DateTime::time_point{last + days{1} - microseconds{1}}};
    }
    auto node = std::make_shared<lookups::Lookup>();
    node->lhs = r.column;
    if (op == "exact") {
        node->def = lookups::find("range");
        node->list = {lo, hi};
    } else {
        node->def = &def;
        node->value = (op == "gt" || op == "lte") ? hi : lo;
    }
    return node;
}

}  // namespace detail

/// Builds the node for one `path = value` condition. `negated` is whether it sits under an odd number of
/// negations (exclude, ~Q): then, as in Django, a NULL-able column also gets `IS NOT NULL` so that
/// exclude() keeps rows where the column is NULL.
inline ExprPtr build_lookup(Query& q, std::string_view path, const dorm::detail::Operand& rhs, bool negated);
inline void add_where(Query& query, ExprPtr condition);

namespace detail {
/// Calls `fn` with a copy of `base` whose WHERE also has `path IN (...)` for each batch of `keys` that fits
/// `batch` parameters (prefetches and deletions over many keys).
template <class Fn>
void for_each_in_batch(const Query& base, const std::string& path, const std::vector<Value>& keys, std::size_t batch, Fn&& fn) {
    for (std::size_t i = 0; i < keys.size(); i += batch) {
        Query q = base;
        dorm::detail::Operand in;
        in.kind = dorm::detail::Operand::Kind::list;
        in.list.assign(keys.begin() + static_cast<std::ptrdiff_t>(i),
                       keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), i + batch)));
        add_where(q, build_lookup(q, path, in, false));
        fn(q);
    }
}

/// Like the above, with the IN on an expression (a join table's column) rather than a path.
template <class Fn>
void for_each_in_batch(const Query& base, const ExprPtr& lhs, const std::vector<Value>& keys, std::size_t batch, Fn&& fn) {
    for (std::size_t i = 0; i < keys.size(); i += batch) {
        Query q = base;
        auto in = std::make_shared<lookups::Lookup>();
        in->lhs = lhs;
        in->def = lookups::find("in");
        in->list.assign(keys.begin() + static_cast<std::ptrdiff_t>(i),
                        keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), i + batch)));
        add_where(q, in);
        fn(q);
    }
}

/// A lookup path that crosses a multi-valued (reverse) relation: the forward path before it, the relation, and
/// the path after it on the related model.
struct MultiValuedSplit {
    std::string prefix;
    const ModelMeta* model = nullptr;  // the model holding the ForeignKey back (a ManyToMany's join table)
    const FieldMeta* fk = nullptr;
    std::string rest;
};
inline std::optional<MultiValuedSplit> multi_valued_split(const Query& q, std::string_view path) {
    auto parts = split_path(path);
    for (std::size_t n = 1; n <= parts.size(); ++n)
        if (q.find_annotation(path.substr(0, static_cast<std::size_t>(parts[n - 1].data() + parts[n - 1].size() - path.data()))))
            return std::nullopt;
    const ModelMeta* model = q.model;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (const FieldMeta* f = model->find_field(parts[i])) {
            if (!f->is_relation() || i + 1 >= parts.size()) return std::nullopt;
            const ModelMeta& target = f->related();
            if (!target.has_name(parts[i + 1])) return std::nullopt;
            model = &target;
            continue;
        }
        MultiValuedSplit out;
        if (const RelatedObject* rel = model->find_related(parts[i])) {
            if (rel->field->one_to_one) {  // single-valued: walk on
                model = rel->model;
                continue;
            }
            out.model = rel->model;
            out.fk = rel->field;
        } else if (const ManyToManyRelation* m2m = model->find_many_to_many(parts[i])) {
            out.model = m2m->through;  // the join table's rows, on through its ForeignKey to the other side
            out.fk = m2m->from;
            out.rest = m2m->to->name;
        } else {
            return std::nullopt;
        }
        for (std::size_t j = 0; j < i; ++j) out.prefix += (j ? "__" : "") + std::string(parts[j]);
        for (std::size_t j = i + 1; j < parts.size(); ++j) out.rest += (out.rest.empty() ? "" : "__") + std::string(parts[j]);
        return out;
    }
    return std::nullopt;
}
}  // namespace detail


namespace detail {
/// exclude() across a multi-valued relation, as Django does it: `pk IN (SELECT fk FROM related WHERE condition)`
/// under the NOT, so that the conditions of one exclude() need not hold for the same related row.
inline ExprPtr multi_valued_subquery(Query& q, const MultiValuedSplit& split, const dorm::detail::Operand& rhs) {
    ExprPtr parent_pk = split.prefix.empty() ? std::make_shared<Col>(q.alias(), &q.model->pk_field())
                                             : resolve_path(q, split.prefix + "__pk", false).lhs;
    auto sub = std::make_shared<Query>();
    sub->model = split.model;
    sub->db = q.db;
    std::string rest = split.rest;
    if (rest.empty()) rest = "pk";
    else if (lookups::find(split_path(rest)[0]) || lookups::find_transform(split_path(rest)[0])) rest = "pk__" + rest;
    add_where(*sub, build_lookup(*sub, rest, rhs, false));
    auto not_null = std::make_shared<lookups::Lookup>();
    not_null->lhs = std::make_shared<Col>(sub->alias(), split.fk);
    not_null->def = lookups::find("isnull");
    not_null->value = Value(false);
    add_where(*sub, not_null);
    sub->values_mode = true;
    sub->values = {SelectItem{split.fk->name, std::make_shared<Col>(sub->alias(), split.fk)}};
    sub->default_ordering = false;
    auto in = std::make_shared<lookups::Lookup>();
    in->lhs = std::move(parent_pk);
    in->def = lookups::find("in");
    in->rhs = std::make_shared<Subquery>(std::shared_ptr<const Query>(std::move(sub)));
    return in;
}
}  // namespace detail

inline ExprPtr build_lookup(Query& q, std::string_view path, const dorm::detail::Operand& rhs, bool negated) {
    if (negated)
        if (auto split = detail::multi_valued_split(q, path)) return detail::multi_valued_subquery(q, *split, rhs);
    ResolvedPath r = resolve_path(q, path, true);
    std::string_view lookup_name = r.lookup.empty() ? std::string_view("exact") : r.lookup;
    const lookups::LookupDef* def = lookups::find(lookup_name);
    std::string_view name = r.name;
    auto check = [&](const Value& v) {
        if (r.kind_known) detail::check_value(name, r.kind, v);
    };
    if (def->text_only && r.kind_known && r.kind != FieldKind::text)
        throw FieldError(fmt::format("dorm: Unsupported lookup '{}' for {} '{}': it applies to strings. Lookups are: {}",
                                     def->name, detail::field_class(r.kind), name, lookups::names(r.kind)));

    auto node = std::make_shared<lookups::Lookup>();
    node->lhs = r.lhs;
    node->def = def;
    using Kind = dorm::detail::Operand::Kind;
    using R = lookups::LookupDef::Rhs;
    bool rhs_is_none = false;
    switch (def->rhs) {
        case R::list:
            if (rhs.kind == Kind::subquery) {
                node->rhs = std::make_shared<Subquery>(rhs.subquery);
                break;
            }
            if (rhs.kind != Kind::list)
                throw TypeError(fmt::format("dorm: the '{}' lookup on '{}' takes a list of values or a QuerySet",
                                            def->name, name));
            for (const auto& v : rhs.list) check(v);
            node->list = rhs.list;
            break;
        case R::pair:
            if (rhs.kind != Kind::list || rhs.list.size() != 2)
                throw TypeError(fmt::format("dorm: the 'range' lookup on '{}' takes two values (start, end)", name));
            for (const auto& v : rhs.list) {
                if (v.is_null()) throw ValueError("dorm: Cannot use None as a query value");
                check(v);
            }
            node->list = rhs.list;
            break;
        case R::boolean:
            if (rhs.kind != Kind::value || !rhs.value.holds<bool>())
                throw ValueError("dorm: The QuerySet value for an isnull lookup must be True or False.");
            node->value = rhs.value;
            break;
        case R::value:
            if (rhs.kind == Kind::expression) {
                if (def->text_only)
                    throw NotSupportedError(fmt::format("dorm: the '{}' lookup takes a string, not an expression", def->name));
                node->rhs = resolve_expression(q, *rhs.expression);
                break;
            }
            if (rhs.kind != Kind::value)
                throw TypeError(fmt::format("dorm: the '{}' lookup on '{}' takes one value, not a list", def->name, name));
            if (rhs.value.is_null() && def->name != "exact" && def->name != "iexact")
                throw ValueError("dorm: Cannot use None as a query value");
            if (rhs.value.is_null() && def->name == "iexact") {  // Django: iexact=None is isnull=True
                node->def = lookups::find("exact");
                rhs_is_none = true;
                break;
            }
            check(rhs.value);
            rhs_is_none = rhs.value.is_null();
            if (auto year = detail::year_lookup(r, *def, rhs.value)) {
                node = std::const_pointer_cast<lookups::Lookup>(std::static_pointer_cast<const lookups::Lookup>(year));
                break;
            }
            node->value = rhs.value;
            break;
    }

    if (negated && r.nullable && def->name != "isnull" && !rhs_is_none) {
        auto is_not_null = std::make_shared<lookups::Lookup>();
        is_not_null->lhs = r.column;
        is_not_null->def = lookups::find("isnull");
        is_not_null->value = Value(false);
        auto both = std::make_shared<WhereNode>();
        both->children = {node, is_not_null};
        return both;
    }
    return node;
}

/// Builds the WHERE tree of a Q against the query's model; `negated` is the parity of negations above it.
inline ExprPtr build_q(Query& query, const Q& q, bool negated) {
    bool neg = negated != q.negated();
    if (q.leaf()) {
        ExprPtr lookup;
        if (q.leaf()->condition) {  // a boolean expression: filter(Exists(...))
            lookup = resolve_expression(query, *q.leaf()->value.expression);
            if (lookup->output_kind() != FieldKind::boolean)
                throw TypeError("dorm: Cannot filter against a non-conditional expression.");
        } else {
            lookup = build_lookup(query, q.leaf()->path, q.leaf()->value, neg);
        }
        if (!q.negated()) return lookup;
        if (auto pair = std::dynamic_pointer_cast<const WhereNode>(lookup)) {  // (x = v AND x IS NOT NULL)
            auto node = std::make_shared<WhereNode>(*pair);
            node->negated = true;
            return node;
        }
        auto node = std::make_shared<WhereNode>();
        node->negated = true;
        node->children.push_back(std::move(lookup));
        return node;
    }
    auto node = std::make_shared<WhereNode>();
    node->connector = q.connector() == Q::Connector::and_  ? Connector::and_
                      : q.connector() == Q::Connector::or_ ? Connector::or_
                                                           : Connector::xor_;
    node->negated = q.negated();
    for (const auto& child : q.children()) node->children.push_back(build_q(query, child, neg));
    return node;
}

namespace detail {
inline ExprPtr build_q_fwd(Query& query, const Q& q) { return build_q(query, q, false); }
}  // namespace detail

namespace detail {
inline void and_into(std::shared_ptr<const WhereNode>& target, ExprPtr condition) {
    auto node = std::make_shared<WhereNode>();
    if (target) node->children.push_back(target);
    node->children.push_back(std::move(condition));
    target = std::move(node);
}
}  // namespace detail

/// AND-s `condition` into the query's WHERE, or into HAVING for the parts that test aggregates (Django splits an
/// AND the same way; an OR or a negation that mixes both goes to HAVING whole).
inline void add_where(Query& query, ExprPtr condition) {
    if (!condition->contains_aggregate()) return detail::and_into(query.where, std::move(condition));
    auto* node = dynamic_cast<const WhereNode*>(condition.get());
    if (node && node->connector == Connector::and_ && !node->negated) {
        for (const auto& child : node->children) add_where(query, child);
        return;
    }
    detail::and_into(query.having, std::move(condition));
}

/// select_related("blog__owner"): joins each ForeignKey of the path (LEFT OUTER from a NULL-able one on) and
/// records the related objects to load.
inline void add_select_related(Query& q, std::string_view path) {
    auto parts = detail::split_path(path);
    const ModelMeta* model = q.model;
    std::string alias = q.alias();
    std::string prefix;
    int parent = -1;
    bool outer = false;
    for (auto part : parts) {
        prefix += (prefix.empty() ? "" : "__") + std::string(part);
        auto known = std::find_if(q.select_related.begin(), q.select_related.end(),
                                  [&](const RelatedSelection& s) { return s.path == prefix; });
        if (known != q.select_related.end()) {
            alias = known->alias;
            parent = static_cast<int>(known - q.select_related.begin());
            model = known->model;
            outer = outer || known->fk->nullable || !known->stored_as.empty();
            continue;
        }
        RelatedSelection sel{prefix, nullptr, {}, nullptr, parent};
        const FieldMeta* f = model->find_field(part);
        const RelatedObject* rel = f ? nullptr : model->find_related(part);
        const FilteredRelationSpec* fr = nullptr;
        if (parent < 0)
            for (const auto& spec : q.filtered_relations)
                if (spec.name == part) fr = &spec;
        if (f && f->is_relation() && f->name == part) {  // a ForeignKey: into its member
            sel.alias = detail::join(q, alias, *f, outer);
            sel.model = &f->related();
            sel.fk = f;
            outer = outer || f->nullable;
        } else if (rel && rel->field->one_to_one) {  // a reverse one-to-one: there may be none
            sel.alias = detail::reverse_join(q, alias, *model, *rel->model, *rel->field, true);
            sel.model = rel->model;
            sel.fk = rel->field;
            sel.stored_as = rel->accessor_name;
            outer = true;
        } else if (fr) {
            const Join& j = q.joins[detail::filtered_join(q, *fr)];
            if (j.reverse && !j.fk->one_to_one)
                throw FieldError(fmt::format("dorm: select_related() cannot follow '{}': it is multi-valued; use "
                                             "prefetch_related()", part));
            sel.alias = j.alias;
            sel.model = j.model;
            sel.fk = j.fk;
            sel.stored_as = fr->name;
            outer = true;
        } else {
            std::vector<std::string_view> names;
            for (const auto& field : model->fields)
                if (field.is_relation()) names.push_back(field.name);
            for (const auto& r : model->related_objects)
                if (!r.hidden && r.field->one_to_one) names.push_back(r.query_name);
            if (parent < 0)
                for (const auto& spec : q.filtered_relations) names.push_back(spec.name);
            throw FieldError(fmt::format("dorm: Invalid field name(s) given in select_related: '{}'. Choices are: {}",
                                         part, names.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(names, ", "))));
        }
        alias = sel.alias;
        model = sel.model;
        q.select_related.push_back(std::move(sel));
        parent = static_cast<int>(q.select_related.size() - 1);
    }
}

/// select_related() with no names: every non-NULL-able ForeignKey, followed to a depth of 5 (Django's rule).
inline void add_select_related_all(Query& q) {
    std::function<void(const ModelMeta&, const std::string&, int)> walk = [&](const ModelMeta& m, const std::string& prefix,
                                                                               int depth) {
        if (depth > 5) return;
        for (const auto& f : m.fields) {
            if (!f.is_relation() || f.nullable) continue;
            std::string path = prefix.empty() ? f.name : prefix + "__" + f.name;
            add_select_related(q, path);
            walk(f.related(), path, depth + 1);
        }
    };
    walk(*q.model, "", 1);
}

/// One order_by() argument given as a string: "field", "-field", "blog__name", "pk", or "?" (random).
inline OrderBy resolve_ordering(Query& q, std::string_view name) {
    if (name == "?") return OrderBy{nullptr, false};
    bool desc = !name.empty() && name[0] == '-';
    if (desc) name.remove_prefix(1);
    return OrderBy{resolve_path(q, name, false).lhs, desc};
}

/// One order_by() argument given as an expression: `F("rating").desc({.nulls_last = true})`.
inline OrderBy resolve_ordering(Query& q, const OrderByExpression& o) {
    return OrderBy{resolve_expression(q, *o.expression.node()), o.descending, o.nulls_first, o.nulls_last};
}

// ---------------------------------------------------------------------------------------------------------------
// Compilation: Query + Dialect -> SQL text and parameters.

/// A statement ready to run. `nothing` means the WHERE can match no row, so no statement needs to run.
struct Compiled {
    std::string sql;
    std::vector<Value> params;
    bool nothing = false;
};

namespace detail {

/// `"entry"."id", "entry"."blog_id", ...`: every column of `m` under its table's name, written once per thread and
/// dialect, since nearly every model query starts with it.
inline const std::string& column_list(const backends::Dialect& d, const ModelMeta& m) {
    thread_local std::map<std::pair<const backends::Dialect*, const ModelMeta*>, std::string> lists;
    auto [it, fresh] = lists.try_emplace({&d, &m});
    if (fresh)
        for (std::size_t i = 0; i < m.fields.size(); ++i) {
            if (i) it->second += ", ";
            d.quote_name(it->second, m.db_table);
            it->second += '.';
            d.quote_name(it->second, m.fields[i].column);
        }
    return it->second;
}

inline void select_columns(Compiler& c, const Query& q) {
    const ModelMeta& m = *q.model;
    bool all = q.all_loaded();
    if (all && !c.renamed(q.alias())) {
        c << column_list(c.dialect, m);
        return;
    }
    bool first = true;
    for (std::size_t i = 0; i < m.fields.size(); ++i) {
        if (!all && !q.loads(i)) continue;
        if (!first) c << ", ";
        first = false;
        c.quote_alias(q.alias());
        c << ".";
        c.quote(m.fields[i].column);
    }
}

/// The select list beyond the model's columns, or all of it in values mode: name, expression.
inline std::vector<SelectItem> select_items(const Query& q) {
    std::vector<SelectItem> items;
    if (q.values_mode) items = q.values;
    for (const auto& a : q.annotations)
        if (a.selected) items.push_back(SelectItem{a.name, a.expr});
    return items;
}

/// `expr AS "name"`, without the alias for a plain column of that name.
inline void select_item(Compiler& c, const SelectItem& item) {
    c.compile(*item.expr);
    if (auto* col = dynamic_cast<const Col*>(item.expr.get()); col && col->field->column == item.name) return;
    c << " AS ";
    c.quote(item.name);
}

/// The whole select list: the model's columns (unless in values mode), the items, then select_related()'s columns.
inline void select_list(Compiler& c, const Query& q) {
    bool first = true;
    if (!q.values_mode) {
        select_columns(c, q);
        first = false;
    }
    for (const auto& item : select_items(q)) {
        if (!first) c << ", ";
        first = false;
        select_item(c, item);
    }
    if (q.values_mode) return;
    for (const auto& sel : q.select_related)
        for (const auto& f : sel.model->fields) {
            c << ", ";
            c.quote_alias(sel.alias);
            c << ".";
            c.quote(f.column);
        }
}

/// FROM <table> [JOIN ...]
inline void from_clause(Compiler& c, const Query& q) {
    auto renamed = [&](const std::string& alias) {
        if (!c.scopes.empty())
            for (const auto& [from, to] : c.scopes.back().renames)
                if (from == alias) return true;
        return false;
    };
    c << " FROM ";
    c.quote(q.model->db_table);
    if (renamed(q.alias())) {
        c << " ";
        c.quote_alias(q.alias());
    }
    for (const auto& j : q.joins) {
        c << (j.outer ? " LEFT OUTER JOIN " : " INNER JOIN ");
        c.quote(j.model->db_table);
        if (j.alias != j.model->db_table || renamed(j.alias)) {
            c << " ";
            c.quote_alias(j.alias);
        }
        c << " ON (";
        c.quote_alias(j.parent_alias);
        c << ".";
        c.quote(j.reverse ? j.parent_model->pk_field().column : j.fk->column);
        c << " = ";
        c.quote_alias(j.alias);
        c << ".";
        c.quote(j.reverse ? j.fk->column : j.model->pk_field().column);
        if (j.condition) {
            c << " AND ";
            Match m = c.compile(*j.condition);
            if (m == Match::nothing) c << "1 = 0";
            else if (m == Match::everything) c << "1 = 1";
        }
        c << ")";
    }
    for (const auto& t : q.extra_tables) {
        c << ", ";
        c.quote(t);
    }
}

/// " <keyword> <condition>" or nothing; returns false when the condition can match no row.
inline bool condition_clause(Compiler& c, std::string_view keyword, const WhereNode* node) {
    if (!node) return true;
    auto before = c.sql.size();
    c << keyword;
    Match m = c.compile(*node);
    if (m == Match::some) return true;
    c.sql.resize(before);
    return m == Match::everything;
}

/// " WHERE ..." or nothing; returns false when the condition can match no row.
inline bool where_clause(Compiler& c, const Query& q) {
    if (q.empty) return false;
    return condition_clause(c, " WHERE ", q.where.get());
}

/// " GROUP BY ... [HAVING ...]": the grouped-by expressions, then the selected and ordering expressions that
/// are not aggregates (Django's get_group_by), each once.
inline bool group_by_clause(Compiler& c, const Query& q, const std::vector<OrderBy>& order_by) {
    if (q.grouping == Grouping::none) return condition_clause(c, " HAVING ", q.having.get());
    std::vector<const Expression*> exprs;
    std::vector<ExprPtr> model_columns;
    if (q.grouping == Grouping::all)
        for (const auto& f : q.model->fields) model_columns.push_back(std::make_shared<Col>(q.alias(), &f));
    if (q.grouping == Grouping::all && !q.values_mode)  // select_related() columns are selected, so grouped by
        for (const auto& sel : q.select_related)
            for (const auto& f : sel.model->fields) model_columns.push_back(std::make_shared<Col>(sel.alias, &f));
    for (const auto& e : model_columns) exprs.push_back(e.get());
    for (const auto& e : q.group_by) exprs.push_back(e.get());
    auto items = select_items(q);
    for (const auto& item : items) exprs.push_back(item.expr.get());
    for (const auto& o : order_by)
        if (o.expr) exprs.push_back(o.expr.get());
    std::vector<std::pair<std::string, std::vector<Value>>> seen;
    bool any = false;
    for (const auto* e : exprs) {
        if (e->contains_aggregate() || e->is_constant()) continue;
        Compiler scratch(c.dialect);
        scratch.scopes = c.scopes;
        scratch.compile(*e);
        std::pair<std::string, std::vector<Value>> key{std::move(scratch.sql), std::move(scratch.params)};
        if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
        seen.push_back(std::move(key));
        c << (any ? ", " : " GROUP BY ");
        any = true;
        c.compile(*e);
    }
    return condition_clause(c, " HAVING ", q.having.get());
}

inline void order_by_clause(Compiler& c, const std::vector<OrderBy>& terms) {
    if (terms.empty()) return;
    c << " ORDER BY ";
    for (std::size_t i = 0; i < terms.size(); ++i) {
        if (i) c << ", ";
        if (!terms[i].expr) {
            c << c.dialect.random_function();
            continue;
        }
        c.compile(*terms[i].expr);
        c << (terms[i].descending ? " DESC" : " ASC");
        if (terms[i].nulls_first) c << " NULLS FIRST";
        if (terms[i].nulls_last) c << " NULLS LAST";
    }
}

inline void limit_clause(Compiler& c, const Query& q) {
    if (!q.is_sliced()) return;
    std::optional<std::int64_t> limit;
    if (q.high) limit = *q.high - q.low;
    c.dialect.limit_offset(c.sql, limit, q.low);
}

/// Whether the model's default ordering applies: not after order_by(), and not to GROUP BY queries (Django >= 3.1).
inline bool uses_default_ordering(const Query& q) {
    return q.order_by.empty() && q.default_ordering && !q.model->ordering.empty() && q.grouping == Grouping::none;
}

/// The query with its ordering made explicit: the model's default ordering resolved (which may add joins),
/// then reversed after reverse().
inline Query ordered_query(const Query& q) {
    Query out = q;
    if (uses_default_ordering(q))
        for (const auto& name : q.model->ordering) out.order_by.push_back(resolve_ordering(out, name));
    if (!out.standard_ordering)
        for (auto& t : out.order_by) {
            t.descending = !t.descending;
            std::swap(t.nulls_first, t.nulls_last);
        }
    return out;
}

/// " FOR UPDATE ..." where the dialect has it ("self" in `of` is the query's model).
inline void lock_clause(Compiler& c, const Query& q) {
    if (!q.lock || !c.dialect.has_select_for_update()) return;
    std::vector<std::string> of;
    for (std::size_t i = 0; i < q.lock->of.size(); ++i) {
        std::string quoted;
        c.dialect.quote_name(quoted, q.alias());  // only "self" passes select_for_update()'s check
        of.push_back(std::move(quoted));
    }
    c.dialect.for_update(c.sql, *q.lock, of);
}

/// Keeps `q` on the compiler's stack of queries being written (what OuterRef resolves against) while it is
/// written. A subquery whose tables have the aliases of an enclosing query's gets them renamed (U0, U1, ...,
/// as Django does), so that its columns and the OuterRefs to the enclosing query stay apart.
struct QueryScope {
    QueryScope(Compiler& c, const Query& q) : c_(c) {
        Compiler::Scope scope{&q, {}};
        if (!c.scopes.empty()) {
            std::vector<std::string> taken;
            for (const auto& s : c.scopes) {
                auto written = [&](const std::string& a) {
                    for (const auto& [from, to] : s.renames)
                        if (from == a) return to;
                    return a;
                };
                taken.push_back(written(s.query->alias()));
                for (const auto& j : s.query->joins) taken.push_back(written(j.alias));
            }
            auto rename = [&](const std::string& a) {
                if (std::find(taken.begin(), taken.end(), a) == taken.end()) return;
                std::string to;
                for (std::size_t n = 0;; ++n) {
                    to = "U" + std::to_string(n);
                    if (std::find(taken.begin(), taken.end(), to) == taken.end()) break;
                }
                taken.push_back(to);
                scope.renames.emplace_back(a, to);
            };
            rename(q.alias());
            for (const auto& j : q.joins) rename(j.alias);
        }
        c_.scopes.push_back(std::move(scope));
    }
    ~QueryScope() { c_.scopes.pop_back(); }
    QueryScope(const QueryScope&) = delete;
    QueryScope& operator=(const QueryScope&) = delete;

private:
    Compiler& c_;
};

inline bool compound_body(Compiler& c, const Query& q, bool with_ordering);

/// SELECT [DISTINCT] <columns> FROM ... [WHERE] [GROUP BY] [HAVING] [ORDER BY] [LIMIT]; false when it matches
/// nothing. `columns` writes the select list (default: select_list).
template <class Columns>
bool select_body(Compiler& c, const Query& given, bool with_ordering, Columns&& columns) {
    if (!given.combinator.empty()) return compound_body(c, given, with_ordering);
    std::optional<Query> ordered_copy;
    if (with_ordering && (given.order_by.empty() ? uses_default_ordering(given) : !given.standard_ordering))
        ordered_copy = ordered_query(given);
    const Query& src = ordered_copy ? *ordered_copy : given;
    QueryScope scope(c, src);
    if (!src.distinct_fields.empty()) {
        c << "SELECT ";
        c.dialect.distinct_on(c.sql, [&](std::string&) {
            for (std::size_t i = 0; i < src.distinct_fields.size(); ++i) {
                if (i) c << ", ";
                c.compile(*src.distinct_fields[i]);
            }
        });
        c << " ";
    } else {
        c << (src.distinct ? "SELECT DISTINCT " : "SELECT ");
    }
    columns(c, src);
    from_clause(c, src);
    if (!where_clause(c, src)) return false;
    if (!group_by_clause(c, src, with_ordering ? src.order_by : std::vector<OrderBy>{})) return false;
    if (with_ordering) order_by_clause(c, src.order_by);
    limit_clause(c, src);
    return true;
}
inline bool select_body(Compiler& c, const Query& q, bool with_ordering) {
    return select_body(c, q, with_ordering, [](Compiler& cc, const Query& qq) { select_list(cc, qq); });
}

/// The names of a query's select list, in order (a compound query orders by position in it).
inline std::vector<std::string> select_names(const Query& q) {
    std::vector<std::string> names;
    if (!q.values_mode)
        for (std::size_t i = 0; i < q.model->fields.size(); ++i)
            if (q.loads(i)) names.push_back(q.model->fields[i].name);
    for (const auto& item : select_items(q)) names.push_back(item.name);
    return names;
}

/// part UNION part ... [ORDER BY n] [LIMIT]: the parts are this query's own state and the queries combined.
inline bool compound_body(Compiler& c, const Query& q, bool with_ordering) {
    bool parens = c.dialect.supports_slicing_ordering_in_compound();
    std::size_t written = 0;
    for (const auto& part : q.combined) {
        if (!parens) {
            if (part->is_sliced())
                throw DatabaseError("dorm: LIMIT/OFFSET not allowed in subqueries of compound statements.", {}, {});
            if (!part->order_by.empty())
                throw DatabaseError("dorm: ORDER BY not allowed in subqueries of compound statements.", {}, {});
        }
        Compiler piece(c.dialect, c.inlines_params());
        piece.params = c.params;
        piece.scopes = c.scopes;
        bool ok = select_body(piece, *part, parens && !part->order_by.empty());
        if (!ok) {
            // A part that matches nothing drops out of UNION, empties INTERSECT, and drops out of EXCEPT unless first.
            if (q.combinator == "INTERSECT" || (q.combinator == "EXCEPT" && written == 0 && part == q.combined.front()))
                return false;
            continue;
        }
        if (written) c << " " << q.combinator << " ";
        if (parens) c << "(";
        c.sql += piece.sql;
        c.params = std::move(piece.params);
        if (parens) c << ")";
        ++written;
    }
    if (written == 0) return false;
    if (with_ordering && !q.order_by.empty()) {
        c << " ORDER BY ";
        for (std::size_t i = 0; i < q.order_by.size(); ++i) {
            if (i) c << ", ";
            // By position: the parts' own names may differ; the names are the first part's (Django's rule).
            auto names = select_names(q);
            auto at = std::find(names.begin(), names.end(), q.order_by[i].column);
            if (at == names.end())
                throw DatabaseError(fmt::format("dorm: ORDER BY term '{}' does not match any column in the result set.",
                                                q.order_by[i].column));
            c << std::to_string(at - names.begin() + 1);
            bool desc = q.order_by[i].descending != !q.standard_ordering;
            c << (desc ? " DESC" : " ASC");
        }
    }
    limit_clause(c, q);
    return true;
}

}  // namespace detail

/// An order_by() term of a set operation: a column of its select list, by name ("-name": descending).
inline OrderBy resolve_compound_ordering(const Query& q, std::string_view name, bool descending = false) {
    if (name.starts_with('-')) {
        descending = !descending;
        name.remove_prefix(1);
    }
    if (name == "pk") name = q.model->pk_field().name;
    return OrderBy{nullptr, descending, false, false, std::string(name)};
}

namespace detail {

inline void pk_column(Compiler& c, const Query& q) {
    c.quote_alias(q.alias());
    c << ".";
    c.quote(q.model->pk_field().column);
}

/// " WHERE pk IN (SELECT pk ... joins ... WHERE ...)": UPDATE and DELETE cannot join.
inline bool where_pk_in_subquery(Compiler& c, const Query& q) {
    auto before = c.sql.size();
    c << " WHERE ";
    pk_column(c, q);
    c << " IN (";
    if (!select_body(c, q, false, pk_column)) {
        c.sql.resize(before);
        return false;
    }
    c << ")";
    return true;
}

inline Compiled finish(Compiler& c, bool ok) {
    Compiled out;
    out.nothing = !ok;
    out.sql = std::move(c.sql);
    out.params = std::move(c.params);
    return out;
}

/// The one column a subquery used as a value selects: its values() column, else its primary key.
inline void subquery_column(Compiler& c, const Query& q) {
    auto items = select_items(q);
    if (!q.values_mode) return pk_column(c, q);
    if (items.size() != 1)
        throw FieldError(fmt::format("dorm: A subquery used as a value must select one column, not {}", items.size()));
    c.compile(*items[0].expr);
}

}  // namespace detail

inline Match Subquery::as_sql(Compiler& c) const {
    c << "(";
    if (!detail::select_body(c, *query, query->is_sliced(), detail::subquery_column)) {
        if (!scalar) return Match::nothing;
        c << "SELECT NULL";  // a scalar subquery over nothing is NULL
    }
    c << ")";
    return Match::some;
}

inline std::optional<FieldKind> Subquery::output_kind() const {
    auto items = detail::select_items(*query);
    if (!query->values_mode) return query->model->pk_field().kind;
    if (items.size() != 1) return std::nullopt;
    return items[0].expr->output_kind();
}

inline Match ExistsNode::as_sql(Compiler& c) const {
    Query one = *query;
    one.order_by.clear();
    one.default_ordering = false;
    if (!one.is_sliced()) one.set_limits(std::nullopt, 1);
    c << "EXISTS(";
    if (!detail::select_body(c, one, false, [](Compiler& cc, const Query&) { cc << "1"; })) return Match::nothing;
    c << ")";
    return Match::some;
}

inline Match OuterCol::as_sql(Compiler& c) const {
    if (c.scopes.size() < 2)
        throw ValueError("dorm: This queryset contains a reference to an outer query and may only be used in a subquery.");
    // Written as the enclosing query writes its columns; the joins it needs were added when the subquery was resolved.
    auto inner = std::move(c.scopes.back());
    c.scopes.pop_back();
    Query outer = *c.scopes.back().query;
    auto lhs = resolve_path(outer, path, false).lhs;
    c.compile(*lhs);
    c.scopes.push_back(std::move(inner));
    return Match::some;
}

/// The SELECT that loads the QuerySet's rows: the model's fields in declaration order (or the values() columns),
/// then the selected annotations.
inline Compiled compile_select(const Query& q, const backends::Dialect& d, bool inline_params = false) {
    Compiler c(d, inline_params);
    bool ok = detail::select_body(c, q, true);
    if (ok) detail::lock_clause(c, q);
    return detail::finish(c, ok);
}

/// SELECT COUNT(*): over a subquery when DISTINCT, a slice, grouping or a set operation must apply first.
inline Compiled compile_count(const Query& q, const backends::Dialect& d) {
    Compiler c(d);
    bool ok;
    if (q.distinct || q.is_sliced() || q.grouping != Grouping::none || !q.combinator.empty()) {
        c << "SELECT COUNT(*) FROM (";
        ok = detail::select_body(c, q, q.is_sliced());
        c << ") subquery";
    } else {
        c << "SELECT COUNT(*)";
        detail::QueryScope scope(c, q);
        detail::from_clause(c, q);
        ok = detail::where_clause(c, q);
    }
    return detail::finish(c, ok);
}

/// SELECT 1 ... LIMIT 1 within the QuerySet's slice.
inline Compiled compile_exists(const Query& q, const backends::Dialect& d) {
    Compiler c(d);
    Query one = q;
    one.set_limits(std::nullopt, 1);
    bool ok;
    if ((q.distinct && q.is_sliced()) || q.grouping != Grouping::none || !q.combinator.empty()) {
        c << "SELECT 1 AS ";
        c.quote("a");
        c << " FROM (";
        ok = detail::select_body(c, q, q.is_sliced());
        c << ") subquery";
        c.dialect.limit_offset(c.sql, 1, 0);
    } else {
        c << "SELECT 1 AS ";
        c.quote("a");
        detail::QueryScope scope(c, q);
        detail::from_clause(c, q);
        ok = detail::where_clause(c, one);
        if (ok) detail::limit_clause(c, one);  // row order cannot change whether a slice has a row
    }
    return detail::finish(c, ok && !one.empty);
}

/// aggregate(): SELECT agg AS "name", ... over the query's rows; over a derived table when the query is grouped,
/// distinct, sliced or combined (Django's subquery form), its arguments then computed inside it.
/// `aggregates` were resolved against `q` (their joins are in it).
inline Compiled compile_aggregate(const Query& q, const backends::Dialect& d, const std::vector<SelectItem>& aggregates) {
    Compiler c(d);
    bool wrap = q.grouping != Grouping::none || q.distinct || q.is_sliced() || !q.combinator.empty();
    auto write_outer = [&](const std::vector<SelectItem>& items) {
        c << "SELECT ";
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (i) c << ", ";
            c.compile(*items[i].expr);
            c << " AS ";
            c.quote(items[i].name);
        }
    };
    if (!wrap) {
        write_outer(aggregates);
        detail::QueryScope scope(c, q);
        detail::from_clause(c, q);
        return detail::finish(c, detail::where_clause(c, q));
    }
    // Each aggregate's arguments and filter become columns "__colN" of the inner query.
    std::vector<SelectItem> inner_extra, outer;
    auto column = [&](const ExprPtr& e) -> ExprPtr {
        std::string name = "__col" + std::to_string(inner_extra.size() + 1);
        inner_extra.push_back(SelectItem{name, e});
        return std::make_shared<AliasCol>("subquery", name, e->output_kind());
    };
    for (const auto& item : aggregates) {
        auto* agg = dynamic_cast<const Aggregate*>(item.expr.get());
        if (!agg) throw TypeError(fmt::format("dorm: {} is not an aggregate expression", item.name));
        auto moved = std::make_shared<Aggregate>(*agg);
        for (auto& a : moved->args) a = column(a);
        if (moved->filter) moved->filter = column(moved->filter);
        for (auto& o : moved->ordering) o.first = column(o.first);
        outer.push_back(SelectItem{item.name, moved});
    }
    write_outer(outer);
    c << " FROM (";
    bool ok = detail::select_body(c, q, q.is_sliced(), [&](Compiler& cc, const Query& qq) {
        bool first = true;
        if (!qq.values_mode || !detail::select_items(qq).empty() || inner_extra.empty()) {
            detail::select_list(cc, qq);
            first = false;
        }
        for (const auto& extra : inner_extra) {
            if (!first) cc << ", ";
            first = false;
            detail::select_item(cc, extra);
        }
    });
    c << ") subquery";
    return detail::finish(c, ok);
}

/// UPDATE <table> SET col = value, ... WHERE ...
inline Compiled compile_update(const Query& q, const backends::Dialect& d,
                               const std::vector<std::pair<const FieldMeta*, ExprPtr>>& sets) {
    Compiler c(d);
    c << "UPDATE ";
    c.quote(q.model->db_table);
    c << " SET ";
    detail::QueryScope scope(c, q);
    for (std::size_t i = 0; i < sets.size(); ++i) {
        if (i) c << ", ";
        c.quote(sets[i].first->column);
        c << " = ";
        c.compile(*sets[i].second);
    }
    bool ok = q.joins.empty() ? detail::where_clause(c, q) : detail::where_pk_in_subquery(c, q);
    return detail::finish(c, ok);
}

/// DELETE FROM <table> WHERE ...
inline Compiled compile_delete(const Query& q, const backends::Dialect& d) {
    Compiler c(d);
    c << "DELETE FROM ";
    c.quote(q.model->db_table);
    detail::QueryScope scope(c, q);
    bool ok = q.joins.empty() ? detail::where_clause(c, q) : detail::where_pk_in_subquery(c, q);
    return detail::finish(c, ok);
}

/// What bulk_create does when a row conflicts with a unique constraint.
struct OnConflict {
    enum class Action { error, ignore, update };
    Action action = Action::error;
    std::vector<const FieldMeta*> update_fields;
    std::vector<const FieldMeta*> unique_fields;
};

/// INSERT INTO <table> (cols) VALUES (...), (...) [ON CONFLICT ...] [RETURNING pk].
/// `rows` holds rows.size() / fields.size() rows of values, flattened.
inline Compiled compile_insert(const ModelMeta& m, const backends::Dialect& d, const std::vector<const FieldMeta*>& fields,
                               std::span<const Value> rows, bool returning_pk, const OnConflict& conflict = {}) {
    Compiler c(d);
    c << "INSERT INTO ";
    c.quote(m.db_table);
    if (fields.empty()) {
        c << " DEFAULT VALUES";
    } else {
        c << " (";
        for (std::size_t i = 0; i < fields.size(); ++i) {
            if (i) c << ", ";
            c.quote(fields[i]->column);
        }
        c << ") VALUES ";
        for (std::size_t r = 0; r < rows.size() / fields.size(); ++r) {
            c << (r ? ", (" : "(");
            for (std::size_t i = 0; i < fields.size(); ++i) {
                if (i) c << ", ";
                c.param(rows[r * fields.size() + i]);
            }
            c << ")";
        }
    }
    if (conflict.action != OnConflict::Action::error) {
        c << " ON CONFLICT";
        if (!conflict.unique_fields.empty()) {
            c << " (";
            for (std::size_t i = 0; i < conflict.unique_fields.size(); ++i) {
                if (i) c << ", ";
                c.quote(conflict.unique_fields[i]->column);
            }
            c << ")";
        }
        if (conflict.action == OnConflict::Action::ignore) {
            c << " DO NOTHING";
        } else {
            c << " DO UPDATE SET ";
            for (std::size_t i = 0; i < conflict.update_fields.size(); ++i) {
                if (i) c << ", ";
                c.quote(conflict.update_fields[i]->column);
                c << " = EXCLUDED.";
                c.quote(conflict.update_fields[i]->column);
            }
        }
    }
    if (returning_pk) {
        c << " RETURNING ";
        c.quote(m.pk_field().column);
    }
    return detail::finish(c, true);
}

}  // namespace dorm::sql
