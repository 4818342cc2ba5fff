// SPDX-License-Identifier: MIT
// sql::Query: the plain-data state of a QuerySet; lookup-path resolution (joins, transforms, lookups) and
// compilation to SQL per statement kind.
#pragma once

#include <dorm/config.hpp>
#include <dorm/detail/node_pool.hpp>

#include <dorm/custom_lookups.hpp>
#include <dorm/database.hpp>
#include <dorm/detail/shape_memo.hpp>
#include <dorm/errors.hpp>
#include <dorm/expressions.hpp>
#include <dorm/lookups.hpp>
#include <dorm/model.hpp>
#include <dorm/q.hpp>
#include <dorm/router.hpp>
#include <dorm/sql/ast.hpp>
#include <dorm/sql/compiler.hpp>
#include <dorm/sql/expressions.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dorm::detail {
struct Recipe;  // <dorm/serialize.hpp>
}

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

/// A query's ordering: copied with it, so from the pool (detail/node_pool.hpp).
using OrderList = dorm::detail::PooledVector<OrderBy>;

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
    // A many-to-many manager's join: the next filter() / exclude() call reuses it when it is the next chained call
    // (Django's _next_is_sticky(); any other call ends it: detail::query_to_change()).
    bool sticky = false;
    // Made by order_by() and used by nothing else: count() and aggregate(), which drop the ordering, drop it too
    // (Django makes an ordering's joins only when it compiles the ORDER BY).
    bool for_ordering = false;
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
    bool alias = false;  // from alias(): usable in filters and orderings, never selected (Django)
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
    /// Named in select_related(); false when select_related() without names followed it (Django's unrestricted
    /// descent, which a deferred ForeignKey does not stop: the key is then loaded with it).
    bool requested = true;
};

/// One prefetch_related() lookup: "entry_set__blog", with the QuerySet and attribute name of a Prefetch().
struct PrefetchSpec {
    std::string lookup;
    std::shared_ptr<const Query> queryset;  // the last level's base query; nullptr: all rows
    std::string to_attr;                    // the name the last level is stored under; empty: the relation's
};

/// The state of a QuerySet: plain data, copied (shallowly: the WHERE tree is shared) on every chained call.

struct Query {
    DORM_VALUE_MEMBERS(Query);  // compiled once (config.hpp)

    const ModelMeta* model = nullptr;
    const std::string* db = nullptr;  // the database using_() chose (Django's _db); nullptr: the routers decide
    bool for_write = false;           // read from the database writes go to (Django's _for_write: select_for_update)
    Hints hints;                      // what the routers are told (a related manager's instance)
    std::vector<Join> joins;
    std::shared_ptr<const WhereNode> where;  // nullptr: no condition
    OrderList order_by;                      // explicit order_by(); empty: the model's default, if any
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
    // Conditions that refer to a window (Django 4.2's QUALIFY): split when the query is written into the parts
    // for WHERE, HAVING and an outer query over this one that filters on the windows' results.
    std::shared_ptr<const WhereNode> qualify;
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
    // The QuerySet calls that built this state, for dumps() (<dorm/serialize.hpp>); nullptr when not built from
    // Model::objects() by QuerySet methods alone.
    std::shared_ptr<const dorm::detail::Recipe> recipe;
    // shape_key()'s text for `recipe`, written by its first call; copies start without it.
    dorm::detail::ShapeMemo shape_memo;

    const Annotation* find_annotation(std::string_view name) const noexcept {
        for (const auto& a : annotations)
            if (a.name == name) return &a;
        return nullptr;
    }

    bool is_sliced() const noexcept { return low != 0 || high.has_value(); }

    /// Whether the model's field `i` is loaded (defer() / only()); the primary key always is. only("blog__name")
    /// loads the ForeignKey "blog" too.
    bool loads(std::size_t i) const;
    /// Whether field `i` of the select_related() object `sel` is loaded: only("blog__name") and
    /// defer("blog__tagline") name its fields after its path; an object that no name reaches is loaded whole.
    bool loads(const RelatedSelection& sel, std::size_t i) const;
    /// Whether select_related() without names follows the ForeignKey `fk` of the selection `parent` (-1: the
    /// model's own), which is then loaded even when deferred.
    bool followed_anyway(int parent, const FieldMeta& fk) const;
    bool all_loaded() const noexcept { return loading.empty() && defer_loading; }

    /// Django's Query.set_limits: a slice of a slice is relative to it.
    /// Bounds saturate at INT64_MAX (no row lies that far), so no slice of a slice overflows.
    void set_limits(std::optional<std::int64_t> new_low, std::optional<std::int64_t> new_high) {
        auto add = [](std::int64_t a, std::int64_t b) { return a > INT64_MAX - b ? INT64_MAX : a + b; };
        if (new_high) high = high ? std::min(*high, add(low, *new_high)) : add(low, *new_high);
        if (new_low) low = high ? std::min(*high, add(low, *new_low)) : add(low, *new_low);
        if (high && low == *high) empty = true;
    }

    /// Django's QuerySet.ordered.
    /// Django's QuerySet.ordered: an order_by(), or Meta.ordering where it applies (not to a grouped query).
    bool ordered() const noexcept {
        return !order_by.empty() || (default_ordering && !model->ordering.empty() && grouping == Grouping::none);
    }
    /// The alias of the model's own table.
    const std::string& alias() const noexcept { return model->db_table; }
};

// ---------------------------------------------------------------------------------------------------------------
// Resolution: user strings -> AST nodes, against a model's metadata.

namespace detail {

DORM_DECL std::string_view kind_name(FieldKind k);

/// Throws TypeError unless `v` (not NULL) has the kind `k`: dorm never converts silently.
DORM_DECL void check_value(std::string_view name, FieldKind k, const Value& v);
inline void check_value(const FieldMeta& f, const Value& v) { check_value(f.name, f.kind, v); }

/// The text a pattern lookup (contains, iexact, regex, ...) matches for `v`: Python's str(v), as Django
/// binds it; binary data and NULL are refused.
DORM_DECL Value pattern_text(std::string_view lookup, const Value& v);


/// Calls `fn` with the path of every lookup in `q` (not those of boolean expressions).
template <class Fn>
void for_each_leaf(const Q& q, Fn&& fn) {
    if (q.leaf()) {
        if (!q.leaf()->condition) fn(q.leaf()->path());
        return;
    }
    for (const auto& child : q.children()) for_each_leaf(child, fn);
}

/// The parts of a lookup path ("blog__name__iexact"), in place when there are few (a path is split on every
/// filter(), and a raw driver allocates nothing for it).
class PathParts {
public:
    PathParts() = default;
    PathParts(const PathParts&) = default;
    PathParts& operator=(const PathParts&) = default;
    // A moved-from one is empty: its parts may have been on the heap it gave away.
    PathParts(PathParts&& o) noexcept
        : local_(o.local_), heap_(std::move(o.heap_)), size_(std::exchange(o.size_, 0)) { o.heap_.clear(); }
    PathParts& operator=(PathParts&& o) noexcept {
        if (this == &o) return *this;  // moved onto itself it must keep its parts, not clear them
        local_ = o.local_;
        heap_ = std::move(o.heap_);
        o.heap_.clear();
        size_ = std::exchange(o.size_, 0);
        return *this;
    }

    std::size_t size() const noexcept { return size_; }
    const std::string_view& operator[](std::size_t i) const noexcept { return data()[i]; }
    std::string_view& operator[](std::size_t i) noexcept { return (heap_.empty() ? local_.data() : heap_.data())[i]; }
    const std::string_view* begin() const noexcept { return data(); }
    const std::string_view* end() const noexcept { return data() + size_; }
    operator std::span<const std::string_view>() const noexcept { return {data(), size_}; }

    void push_back(std::string_view part) {
        if (size_ < local_.size() && heap_.empty()) local_[size_] = part;
        else {
            if (heap_.empty()) heap_.assign(local_.begin(), local_.end());
            heap_.push_back(part);
        }
        ++size_;
    }

private:
    const std::string_view* data() const noexcept { return heap_.empty() ? local_.data() : heap_.data(); }

    std::array<std::string_view, 6> local_{};
    std::vector<std::string_view> heap_;
    std::size_t size_ = 0;
};

DORM_DECL PathParts split_path(std::string_view path);

DORM_DECL std::string fresh_alias(const Query& q, const std::string& table);

/// The alias of `fk`'s target joined to `parent_alias`, adding the join if the query has none yet.
DORM_DECL std::string join(Query& q, const std::string& parent_alias, const FieldMeta& fk, bool parent_outer);

/// The alias of the model holding `rel`'s ForeignKey joined to `parent_alias` (a reverse, multi-valued join).
/// Django's rules: conditions of one filter() call share such a join, a later filter() call gets its own, and
/// annotate() / values() / order_by() reuse any; filter() joins are INNER, the others LEFT OUTER.
DORM_DECL std::string reverse_join(Query& q, const std::string& parent_alias, const ModelMeta& parent,
                                const ModelMeta& child, const FieldMeta& fk, bool outer);

/// A reverse join of its own, as a filter() call of its own makes: a prefetch's join to a join table, which the
/// Prefetch QuerySet's conditions on the same relation must not share; `sticky` for a many-to-many manager's,
/// which later filter() calls share, as in Django (`entry.authors.filter(entry__rating=3)`: this entry's rating).
DORM_DECL std::string own_reverse_join(Query& q, const ModelMeta& child, const FieldMeta& fk, bool outer, bool sticky = false);

inline ExprPtr build_q_fwd(Query& query, const Q& q);

/// The join of a FilteredRelation, made on first use: LEFT OUTER, with its condition in ON.
DORM_DECL std::size_t filtered_join(Query& q, const FilteredRelationSpec& fr);

}  // namespace detail

/// What a lookup path resolved to: the expression on its left side and what follows.
/// What resolving one lookup path reads besides the query, taken once for the whole path.
struct PathContext {
    /// The custom lookups' registry, one snapshot for the path (nullptr: nothing is registered).
    std::shared_ptr<const lookups::CustomRegistry> custom;
    /// The field whose own lookups apply to a path starting with "pk" (nullptr: the key's own): in the subquery of
    /// exclude() across a reverse relation named alone, the relation's ForeignKey, where Django looks them up.
    const FieldMeta* pk_stands_for = nullptr;
    /// A negation is above the condition, even when another one cancels it (Django's branch_negated): a
    /// multi-valued relation is then read through a subquery, as exclude() reads it.
    bool branch_negated = false;

    static PathContext current() { return PathContext{lookups::custom_registry(), nullptr}; }
};

struct ResolvedPath {
    ExprPtr lhs;                 // the column, wrapped in any transforms
    ExprPtr column;              // the column alone (or the annotation's expression)
    const FieldMeta* field = nullptr;  // nullptr for an annotation
    /// The model field `lhs` stands for (Django's lhs.output_field when it is a model field), whose own custom
    /// lookups come first: the field, the target's key for "fk__pk", a reverse relation's ForeignKey for the
    /// relation alone, an annotation's field for an annotation that is a column; nullptr after a transform that
    /// sets its own output kind.
    const FieldMeta* output_field = nullptr;
    std::shared_ptr<const lookups::CustomRegistry> custom;  // the registry snapshot the path is resolved against
    std::string_view name;       // the field's or the annotation's name
    FieldKind kind{};            // the kind of `lhs`
    bool kind_known = true;      // false for an annotation whose type is unknown (a NULL value)
    bool nullable = false;       // NULL-able column, or reached through a LEFT OUTER JOIN
    bool annotation = false;     // the path starts with an annotation's name (Django's reffed_expression)
    std::vector<const lookups::TransformDef*> transforms;
    bool custom_transformed = false;  // a custom transform is among them (not in `transforms`)
    lookups::CustomDefPtr custom_transform;  // the last transform when it is a custom one
    std::vector<lookups::CustomDefPtr> bilateral;  // custom bilateral transforms, applied to the rhs too, in order
    lookups::CustomDefPtr custom_lookup;  // the lookup, when it is a custom one
    std::string_view lookup;     // the lookup name, if the path has one
};

/// Resolves "blog__name__icontains", "pub_date__year__gte", "pk" against the query's model, adding the
/// joins it needs. `allow_lookup`: a trailing lookup name is accepted; `allow_joins`: ForeignKeys may be crossed.
DORM_DECL ResolvedPath resolve_path(Query& q, std::string_view path, bool allow_lookup, bool allow_joins = true);
DORM_DECL ResolvedPath resolve_path(Query& q, std::string_view path, bool allow_lookup, bool allow_joins,
                                    PathContext context);

/// The transforms and lookup after a field or an annotation (with allow_lookup: the implied `exact`'s custom
/// definition too, when the path names no lookup). `r` is moved into the result.
DORM_DECL ResolvedPath resolve_tail(ResolvedPath& r, std::span<const std::string_view> parts, std::size_t i,
                                 std::string_view path, bool allow_lookup, const ModelMeta* model);

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

/// OuterRef("path"): a column of the query a subquery sits in, resolved when the subquery is written; `depth`
/// levels out (OuterRef(OuterRef("pk")) is 2). Or, with `field` set, that query's column `field` of the table
/// `alias` (one of its joins), which no path names apart from the others (the subquery of exclude() that reuses a
/// join of the same filter() call).
struct OuterCol final : Expression {
    explicit OuterCol(std::string p, int d = 1) : path(std::move(p)), depth(d) {}
    OuterCol(std::string a, const FieldMeta* f) : alias(std::move(a)), field(f) {}
    std::string path;
    int depth = 1;
    std::string alias;
    const FieldMeta* field = nullptr;
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
    Match as_sql(Compiler& c) const override;
};

/// A column of a derived table: `"subquery"."__col1"` (aggregate() over a grouped or sliced query).
struct AliasCol final : Expression {
    AliasCol(std::string t, std::string n, std::optional<FieldKind> k) : table(std::move(t)), name(std::move(n)), kind(k) {}
    std::string table, name;
    std::optional<FieldKind> kind;
    std::optional<FieldKind> output_kind() const override { return kind; }
    Match as_sql(Compiler& c) const override;
};

DORM_DECL ExprPtr build_q(Query& query, const Q& q, bool negated = false);

namespace detail {
/// Every path an OuterRef in `e` resolves against the query `level` levels out from the one `e` belongs to,
/// those in subqueries within `e` included.
DORM_DECL void collect_outer_refs(const Expression* e, std::vector<std::string>& out, int level = 1);
/// Every path the OuterRefs in a query (its conditions, selected expressions and their subqueries) resolve
/// against the query `level` levels out.
DORM_DECL std::vector<std::string> outer_refs(const Query& q, int level = 1);
/// Adds to `outer` the joins the OuterRefs of `inner` need, so that they resolve to existing tables when written.
/// After the WHERE of `q` moved into subqueries (qs1 & qs2 with joins): keeps the joins that the rest of the
/// query (select_related(), ordering, annotations, values, grouping, subqueries' OuterRefs) still uses, as
/// LEFT OUTER joins so that they select and order without filtering, and drops the others.
DORM_DECL void drop_filter_joins(Query& q);
/// Clears `q`'s ordering, and the joins only it needed, as count() and aggregate() do (Django's
/// clear_ordering(force=False)): not when a slice or DISTINCT ON picks its rows by that ordering.
/// `force`: a slice's ordering too (Django's force=True, exists()), where no row order matters.
DORM_DECL void clear_ordering(Query& q, bool force = false);

inline void resolve_outer_refs(Query& outer, const Query& inner) {
    for (const auto& path : outer_refs(inner)) (void)resolve_path(outer, path, false);
}
}  // namespace detail

/// Resolves an expression tree against the query (joins added as needed). `allow_joins`: ForeignKeys may be
/// crossed (update() refuses them).
DORM_DECL ExprPtr resolve_expression(Query& q, const dorm::detail::ExprNode& n, bool allow_joins = true);

namespace detail {
/// A function call's node as resolve_expression() makes it, but for a window function too (which only a Window
/// may resolve).
DORM_DECL ExprPtr resolve_func(Query& q, const dorm::detail::ExprNode& n, bool allow_joins);

/// Django's YearLookup: `year` compared with a number becomes a range on the column itself, so that an
/// index on the column serves it. Returns nullptr when the optimisation does not apply.
DORM_DECL ExprPtr year_lookup(const ResolvedPath& r, const lookups::LookupDef& def, const Value& v);

}  // namespace detail

/// Builds the node for one `path = value` condition. `negated` is whether it sits under an odd number of
/// negations (exclude, ~Q): then, as in Django, a NULL-able column also gets `IS NOT NULL` so that
/// exclude() keeps rows where the column is NULL.
DORM_DECL ExprPtr build_lookup(Query& q, std::string_view path, const dorm::detail::Operand& rhs, bool negated);
/// The same, against `context` (one registry snapshot for every path the condition resolves).
DORM_DECL ExprPtr build_lookup(Query& q, std::string_view path, const dorm::detail::Operand& rhs, bool negated,
                               PathContext context);
DORM_DECL void add_where(Query& query, ExprPtr condition);

namespace detail {
/// A copy of `base` whose WHERE also has `path IN (keys[from], ... )`, at most `batch` keys.
DORM_DECL Query batch_query(const Query& base, const std::string& path, const std::vector<Value>& keys, std::size_t from,
                            std::size_t batch);
/// The same with the IN on an expression (a join table's column) rather than a path.
DORM_DECL Query batch_query(const Query& base, const ExprPtr& lhs, const std::vector<Value>& keys, std::size_t from,
                            std::size_t batch);

/// Calls `fn` with a copy of `base` whose WHERE also has `path IN (...)` for each batch of `keys` that fits
/// `batch` parameters (prefetches and deletions over many keys); `path` may be an expression instead.
template <class Target, class Fn>
void for_each_in_batch(const Query& base, const Target& path, const std::vector<Value>& keys, std::size_t batch, Fn&& fn) {
    for (std::size_t i = 0; i < keys.size(); i += batch) {
        Query q = batch_query(base, path, keys, i, batch);
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
    const ModelMeta* parent = nullptr;  // the model the relation is on, and the path from it (relation first)
    std::string from_parent;
};
DORM_DECL std::optional<MultiValuedSplit> multi_valued_split(const Query& q, std::string_view path);
}  // namespace detail

namespace detail {
/// exclude() across a multi-valued relation, as Django does it: `pk IN (SELECT fk FROM related WHERE condition)`
/// under the NOT, so that the conditions of one exclude() need not hold for the same related row.
DORM_DECL ExprPtr multi_valued_subquery(Query& q, const MultiValuedSplit& split, const dorm::detail::Operand& rhs,
                                        const PathContext& context);
}  // namespace detail

/// Builds the WHERE tree of a Q against the query's model; `negated` is the parity of negations above it.
DORM_DECL ExprPtr build_q(Query& query, const Q& q, bool negated);

namespace detail {
inline ExprPtr build_q_fwd(Query& query, const Q& q) { return build_q(query, q, false); }
}  // namespace detail

namespace detail {
DORM_DECL void and_into(std::shared_ptr<const WhereNode>& target, ExprPtr condition);
}  // namespace detail

/// AND-s `condition` into the query's WHERE, or into HAVING for the parts that test aggregates (Django splits an
/// AND the same way; an OR or a negation that mixes both goes to HAVING whole).
DORM_DECL void add_where(Query& query, ExprPtr condition);

/// select_related("blog__owner"): joins each ForeignKey of the path (LEFT OUTER from a NULL-able one on) and
/// records the related objects to load.
DORM_DECL void add_select_related(Query& q, std::string_view path);

/// Django's rule: a ForeignKey that select_related() follows cannot be deferred (FieldError).
DORM_DECL void check_deferred_traversal(const Query& q);

/// Checks a defer() / only() name: a field, or a path of ForeignKeys ending in a field ("blog__name").
DORM_DECL void check_loading_path(const ModelMeta& m, std::string_view path);

/// select_related() with no names: every non-NULL-able ForeignKey, followed to a depth of 5 (Django's rule).
DORM_DECL void add_select_related_all(Query& q);
/// prefetch_related(): adds the specs, or with none clears them (Django's prefetch_related(None)).
DORM_DECL void add_prefetch(Query& q, const std::vector<PrefetchSpec>& specs);

/// One order_by() argument given as a string: "field", "-field", "blog__name", "pk", or "?" (random).
DORM_DECL OrderBy resolve_ordering(Query& q, std::string_view name);
/// order_by()'s terms for one name: a relation named by itself expands into the related model's Meta.ordering
/// (Django's find_ordering_name), so a name may give several terms.
DORM_DECL void resolve_orderings(Query& q, std::string_view name, OrderList& out, int depth = 0);

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
DORM_DECL const std::string& column_list(const backends::Dialect& d, const ModelMeta& m);

DORM_DECL void select_columns(Compiler& c, const Query& q);

/// The select list beyond the model's columns, or all of it in values mode: name, expression.
DORM_DECL std::vector<SelectItem> select_items(const Query& q);

/// `expr AS "name"`, without the alias for a plain column of that name.
DORM_DECL void select_item(Compiler& c, const SelectItem& item);

/// The whole select list: the model's columns (unless in values mode), the items, then select_related()'s columns.
DORM_DECL void select_list(Compiler& c, const Query& q);
/// Django: SELECT DISTINCT ordered by expressions it does not select adds them after the select list (without
/// them SQLite merges rows that differ only there, and PostgreSQL refuses the query); readers ignore them.
DORM_DECL void distinct_ordering_columns(Compiler& c, const Query& q);

/// FROM <table> [JOIN ...]
DORM_DECL void from_clause(Compiler& c, const Query& q);

/// " <keyword> <condition>" or nothing; returns false when the condition can match no row.
DORM_DECL bool condition_clause(Compiler& c, std::string_view keyword, const WhereNode* node);

/// " WHERE ..." or nothing; returns false when the condition can match no row.
inline bool where_clause(Compiler& c, const Query& q) {
    if (q.empty) return false;
    return condition_clause(c, " WHERE ", q.where.get());
}

/// " GROUP BY ... [HAVING ...]": the grouped-by expressions, then the selected and ordering expressions that
/// are not aggregates (Django's get_group_by), each once.
DORM_DECL bool group_by_clause(Compiler& c, const Query& q, std::span<const OrderBy> order_by);

/// An expression's SQL and parameters as written alone in the innermost query (to compare expressions).
DORM_DECL std::pair<std::string, std::vector<Value>> expression_key(const Compiler& c, const Expression& e);
/// The position of `e` (whose expression_key() is `key`) in the select list, when it has parameters and is
/// selected (Compiler::selected); else 0.
DORM_DECL std::size_t selected_position(const Compiler& c, const Expression& e,
                                        const std::pair<std::string, std::vector<Value>>& key);
DORM_DECL void order_by_clause(Compiler& c, std::span<const OrderBy> terms, bool grouped = false);

DORM_DECL void limit_clause(Compiler& c, const Query& q);

/// Whether the model's default ordering applies: not after order_by(), and not to GROUP BY queries (Django >= 3.1).
inline bool uses_default_ordering(const Query& q) {
    return q.order_by.empty() && q.default_ordering && !q.model->ordering.empty() && q.grouping == Grouping::none;
}

/// The query with its ordering made explicit: the model's default ordering resolved (which may add joins),
/// then reversed after reverse().
DORM_DECL Query ordered_query(const Query& q);

/// " FOR UPDATE ..." where the dialect has it ("self" in `of` is the query's model).
DORM_DECL void lock_clause(Compiler& c, const Query& q);

/// Keeps `q` on the compiler's stack of queries being written (what OuterRef resolves against) while it is
/// written. A subquery whose tables have the aliases of an enclosing query's gets them renamed (U0, U1, ...,
/// as Django does), so that its columns and the OuterRefs to the enclosing query stay apart.
struct QueryScope {
    QueryScope(Compiler& c, const Query& q);
    ~QueryScope() { c_.scopes.pop_back(); }
    QueryScope(const QueryScope&) = delete;
    QueryScope& operator=(const QueryScope&) = delete;

private:
    Compiler& c_;
};

DORM_DECL bool compound_body(Compiler& c, const Query& q, bool with_ordering);

/// Sets (or clears) the compiler's `column_names` for a while.
class ColumnNamesScope {
public:
    ColumnNamesScope(Compiler& c, std::vector<std::string>* names) : c_(c), saved_(std::exchange(c.column_names, names)) {}
    ~ColumnNamesScope() { c_.column_names = saved_; }
    ColumnNamesScope(const ColumnNamesScope&) = delete;
    ColumnNamesScope& operator=(const ColumnNamesScope&) = delete;

private:
    Compiler& c_;
    std::vector<std::string>* saved_;
};

/// A query written inside another (a subquery): the enclosing query's column aliases and substitutions are not
/// its own, even where it shares expression nodes with it (a QuerySet and the one it was built from do).
class NestedQueryScope {
public:
    explicit NestedQueryScope(Compiler& c)
        : names_(c, nullptr), c_(c), saved_(std::exchange(c.substitutions, nullptr)),
          selected_(std::exchange(c.selected, {})) {}
    ~NestedQueryScope() {
        c_.substitutions = saved_;
        c_.selected = std::move(selected_);
    }
    NestedQueryScope(const NestedQueryScope&) = delete;
    NestedQueryScope& operator=(const NestedQueryScope&) = delete;

private:
    ColumnNamesScope names_;
    Compiler& c_;
    const std::vector<std::pair<const Expression*, std::string>>* saved_;
    std::vector<std::pair<const Expression*, std::size_t>> selected_;
};

/// A query filtered on a window, as Django 4.2 writes it: the query itself (its other conditions in WHERE and
/// HAVING, every column aliased, no ordering or slice) inside
/// `SELECT <its columns> FROM (...) "qualify" WHERE <the window conditions> [ORDER BY] [LIMIT]`.
struct QualifyPlan {
    Query inner;
    bool inner_ordering = false;  // DISTINCT ON keeps its ORDER BY inside, where it picks the rows
    std::shared_ptr<const WhereNode> condition;  // on the derived table; nullptr: nothing to filter outside
    std::vector<OrderBy> order_by;
    /// What the outer query refers to, selected by the inner one as "__qual0", "__qual1", ...
    std::vector<SelectItem> extras;
    std::vector<std::pair<const Expression*, std::string>> refs;  // expression -> its column in "qualify"
};
/// Splits the window conditions (Django's split_having_qualify) and collects what the outer query refers to.
/// The plan refers to `q`'s expressions and lives shorter than it.
DORM_DECL QualifyPlan plan_qualify(const Query& q, bool with_ordering);
/// Whether an OuterRef in `q` (or in a subquery within it) refers to a query around `q`.
DORM_DECL bool reaches_out(const Query& q, int level = 1);

/// A select-list writer passed without its type (select_body()'s `columns`), so that writing a query within a
/// query instantiates nothing new.
class ColumnsRef {
public:
    template <class Columns>
    explicit ColumnsRef(Columns& columns)
        : fn_([](void* f, Compiler& c, const Query& q) { (*static_cast<Columns*>(f))(c, q); }), f_(&columns) {}
    void operator()(Compiler& c, const Query& q) const { fn_(f_, c, q); }

private:
    void (*fn_)(void*, Compiler&, const Query&);
    void* f_;
};

/// select_body() for a query filtered on a window: see QualifyPlan.
DORM_DECL bool qualify_body(Compiler& c, const Query& src, bool with_ordering, ColumnsRef columns);

/// Django's NotImplementedError for distinct(fields) with `what` ("annotate()" that groups, "aggregate()").
[[noreturn]] DORM_DECL void distinct_fields_unsupported(std::string_view what);

/// SELECT [DISTINCT] <columns> FROM ... [WHERE] [GROUP BY] [HAVING] [ORDER BY] [LIMIT]; false when it matches
/// nothing. `columns` writes the select list (default: select_list).
template <class Columns>
bool select_body(Compiler& c, const Query& given, bool with_ordering, Columns&& columns) {
    if (!given.combinator.empty()) return compound_body(c, given, with_ordering);
    NestedQueryScope nested(c);  // a subquery's columns are its own
    std::optional<Query> ordered_copy;
    if (with_ordering && (given.order_by.empty() ? uses_default_ordering(given) : !given.standard_ordering))
        ordered_copy = ordered_query(given);
    const Query& src = ordered_copy ? *ordered_copy : given;
    if (src.qualify) {
        auto erased = [&columns](Compiler& cc, const Query& qq) { columns(cc, qq); };
        return qualify_body(c, src, with_ordering, ColumnsRef(erased));
    }
    QueryScope scope(c, src);
    if (!src.distinct_fields.empty()) {
        if (src.grouping != Grouping::none) distinct_fields_unsupported("annotate()");
        c << "SELECT ";
        c.fill_template(c.dialect.distinct_on_template(), [&] {
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
    if (!group_by_clause(c, src, with_ordering ? std::span<const OrderBy>(src.order_by) : std::span<const OrderBy>{}))
        return false;
    if (with_ordering) order_by_clause(c, src.order_by, src.grouping != Grouping::none);
    limit_clause(c, src);
    return true;
}
inline bool select_body(Compiler& c, const Query& q, bool with_ordering) {
    return select_body(c, q, with_ordering, [with_ordering](Compiler& cc, const Query& qq) {
        select_list(cc, qq);
        if (with_ordering) distinct_ordering_columns(cc, qq);
    });
}

/// The names of a query's select list, in order (a compound query orders by position in it).
DORM_DECL std::vector<std::string> select_names(const Query& q);

/// part UNION part ... [ORDER BY n] [LIMIT]: the parts are this query's own state and the queries combined.
DORM_DECL bool compound_body(Compiler& c, const Query& q, bool with_ordering);

}  // namespace detail

/// An order_by() term of a set operation: a column of its select list, by name ("-name": descending).
DORM_DECL OrderBy resolve_compound_ordering(const Query& q, std::string_view name, bool descending = false);

namespace detail {

DORM_DECL void pk_column(Compiler& c, const Query& q);

/// " WHERE pk IN (SELECT pk ... joins ... WHERE ...)": UPDATE and DELETE cannot join.
DORM_DECL bool where_pk_in_subquery(Compiler& c, const Query& q);
/// Whether the WHERE of `q` alone names its rows (no join, grouping or condition on an aggregate or a window), so
/// that an UPDATE or DELETE can take it as it is.
DORM_DECL bool where_names_rows(const Query& q);
/// NotSupportedError when the rows of `q` are groups (values().annotate()), which an UPDATE or DELETE cannot name.
DORM_DECL void check_rows_are_objects(const Query& q);
/// A query selecting the primary keys of `q`'s rows and nothing else (delete()'s collection).
DORM_DECL Query pk_query(const Query& q);

DORM_DECL Compiled finish(Compiler& c, bool ok);

/// The one column a subquery used as a value selects: its values() column, else its primary key.
DORM_DECL void subquery_column(Compiler& c, const Query& q);

}  // namespace detail

/// The SELECT that loads the QuerySet's rows: the model's fields in declaration order (or the values() columns),
/// then the selected annotations.
DORM_DECL Compiled compile_select(const Query& q, const backends::Dialect& d, bool inline_params = false);

/// SELECT COUNT(*): over a subquery when DISTINCT, a slice, grouping or a set operation must apply first.
DORM_DECL Compiled compile_count(const Query& q, const backends::Dialect& d);

/// SELECT 1 ... LIMIT 1 within the QuerySet's slice.
DORM_DECL Compiled compile_exists(const Query& q, const backends::Dialect& d);

/// aggregate(): SELECT agg AS "name", ... over the query's rows; over a derived table when the query is grouped,
/// distinct, sliced or combined (Django's subquery form), its arguments then computed inside it.
/// `aggregates` were resolved against `q` (their joins are in it).
DORM_DECL Compiled compile_aggregate(const Query& q, const backends::Dialect& d, const std::vector<SelectItem>& aggregates);
/// What aggregate()'s expression `e` is over no rows when that is known without the database (Django's
/// empty_result_set_value: 0 for Count, an aggregate's default, the first known non-NULL argument of Coalesce, else
/// NULL for an aggregate); nullopt when only the database can tell (Count("id") + 1, Cast(Count("id"), ...)).
DORM_DECL std::optional<Value> empty_result_value(const Expression& e);
/// compile_aggregate() for a query that matches nothing, when some aggregate's value over no rows is not known:
/// its condition is 0 = 1 and the database computes them (Django's compiler does so then).
DORM_DECL Compiled compile_aggregate_over_nothing(Query q, const backends::Dialect& d,
                                                  const std::vector<SelectItem>& aggregates);

/// UPDATE <table> SET col = value, ... WHERE ...
DORM_DECL Compiled compile_update(const Query& q, const backends::Dialect& d,
                               const std::vector<std::pair<const FieldMeta*, ExprPtr>>& sets);

/// DELETE FROM <table> WHERE ...
DORM_DECL Compiled compile_delete(const Query& q, const backends::Dialect& d);

/// What bulk_create does when a row conflicts with a unique constraint.
struct OnConflict {
    enum class Action { error, ignore, update };
    Action action = Action::error;
    std::vector<const FieldMeta*> update_fields;
    std::vector<const FieldMeta*> unique_fields;
};

/// INSERT INTO <table> (cols) VALUES (...), (...) [ON CONFLICT ...] [RETURNING pk].
/// `rows` holds rows.size() / fields.size() rows of values, flattened.
DORM_DECL Compiled compile_insert(const ModelMeta& m, const backends::Dialect& d, const std::vector<const FieldMeta*>& fields,
                               std::span<const Value> rows, bool returning_pk, const OnConflict& conflict = {});

}  // namespace dorm::sql

namespace dorm::detail {
/// The database `q` runs on (Django's QuerySet.db): the one using_() chose, else the routers' choice for reading
/// (for writing when `write` or select_for_update()).
inline const std::string* query_db(const sql::Query& q, bool write = false) {
    if (q.db) return q.db;
    return routed_db(write || q.for_write, *q.model, q.hints);
}
}  // namespace dorm::detail

#if DORM_HEADER_ONLY
#include <dorm/sql/impl/query.ipp>
#endif
