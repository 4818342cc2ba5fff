// SPDX-License-Identifier: MIT
// Definitions for <dorm/sql/query.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/sql/query.hpp>

#include <functional>
#include <set>

namespace dorm::sql {

DORM_DECL auto Query::followed_anyway(int parent, const FieldMeta& fk) const -> bool {
    return std::any_of(select_related.begin(), select_related.end(),
                       [&](const RelatedSelection& s) { return s.parent == parent && s.fk == &fk && !s.requested; });
}

DORM_DECL auto Query::loads(std::size_t i) const -> bool {
    const auto& f = model->fields[i];
    if (f.primary_key) return true;  // even for only() with no names, or only("x").defer("x")
    if (loading.empty()) return defer_loading;
    if (f.is_relation() && followed_anyway(-1, f)) return true;
    for (const auto& name : loading) {
        if (name == f.name) return !defer_loading;
        // only("blog__name") needs the key that select_related() follows; defer("blog__tagline") keeps it.
        if (!defer_loading && name.size() > f.name.size() + 2 && name.starts_with(f.name) &&
            name.compare(f.name.size(), 2, "__") == 0)
            return true;
    }
    return defer_loading;
}

DORM_DECL auto Query::loads(const RelatedSelection& sel, std::size_t i) const -> bool {
    // A reverse one-to-one is kept like a prefetched list, which is loaded whole.
    if (all_loaded() || !sel.stored_as.empty() || i == sel.model->pk) return true;
    const auto& f = sel.model->fields[i];
    if (f.is_relation() && followed_anyway(static_cast<int>(&sel - select_related.data()), f)) return true;
    bool reached = false, listed = false;
    for (const auto& name : loading) {
        if (name.size() <= sel.path.size() + 2 || !name.starts_with(sel.path) || name.compare(sel.path.size(), 2, "__") != 0)
            continue;
        reached = true;
        std::string_view rest = std::string_view(name).substr(sel.path.size() + 2);
        if (rest == f.name || (!defer_loading && rest.size() > f.name.size() + 2 && rest.starts_with(f.name) &&
                               rest.compare(f.name.size(), 2, "__") == 0))
            listed = true;
    }
    return defer_loading ? !listed : (!reached || listed);
}
}  // namespace dorm::sql

namespace dorm::sql::detail {

DORM_DECL std::string_view kind_name(FieldKind k) {
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
        case FieldKind::duration: return "a Duration";
    }
    return "a value";
}

DORM_DECL void check_value(std::string_view name, FieldKind k, const Value& v) {
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
        case FieldKind::duration: ok = v.holds<Duration>(); break;
    }
    if (!ok)
        throw TypeError(fmt::format("dorm: Field '{}' expected {} but got {} {}", name, kind_name(k), v.type_name(), v));
}

DORM_DECL Value pattern_text(std::string_view lookup, const Value& v) {
    return std::visit(
        [&](const auto& x) -> Value {
            using X = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<X, std::string>) return v;
            else if constexpr (std::is_same_v<X, bool>) return Value(x ? "True" : "False");
            else if constexpr (std::is_same_v<X, std::monostate>) throw ValueError("dorm: Cannot use None as a query value");
            else if constexpr (std::is_same_v<X, Bytes>)
                throw TypeError(fmt::format("dorm: the '{}' lookup compares text, not bytes", lookup));
            else return Value(fmt::format("{}", v));
        },
        v.variant());
}

DORM_DECL PathParts split_path(std::string_view path) {
    PathParts parts;
    for (std::size_t pos = 0;;) {
        auto at = path.find("__", pos);
        parts.push_back(path.substr(pos, at == std::string_view::npos ? std::string_view::npos : at - pos));
        if (at == std::string_view::npos) break;
        pos = at + 2;
    }
    return parts;
}

DORM_DECL std::string fresh_alias(const Query& q, const std::string& table) {
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

// Whether the joins being made are an ordering's (resolve_orderings()); resolution runs on one thread.
inline thread_local bool ordering_joins = false;
// Whether a negated condition across a multi-valued relation becomes a subquery (filter(), exclude()); not inside
// an expression (an aggregate's filter, When), where Django's Q.resolve_expression() passes split_subq=False and
// the condition stays on the join the expression shares.
inline thread_local bool split_excludes = true;
/// Sets one of these flags for its scope, and restores it on the way out (an exception included).
struct FlagScope {
    FlagScope(bool& f, bool value) : flag(f), was(std::exchange(f, value)) {}
    FlagScope(const FlagScope&) = delete;
    FlagScope& operator=(const FlagScope&) = delete;
    ~FlagScope() { flag = was; }
    bool& flag;
    bool was;
};

DORM_DECL std::string join(Query& q, const std::string& parent_alias, const FieldMeta& fk, bool parent_outer) {
    for (auto& j : q.joins)
        if (!j.reverse && j.filtered.empty() && j.parent_alias == parent_alias && j.fk == &fk) {
            j.for_ordering = j.for_ordering && ordering_joins;
            return j.alias;
        }
    const ModelMeta& target = fk.related();
    std::string alias = fresh_alias(q, target.db_table);
    q.joins.push_back(Join{alias, &target, parent_alias, &fk, parent_outer || fk.nullable, false, 0, nullptr, {}, nullptr});
    q.joins.back().for_ordering = ordering_joins;
    return alias;
}

/// Whether the filter() call being built is the one right after a many-to-many manager's own condition, which
/// may reuse its join (Django's _next_is_sticky(): "the next filter call and the one following that should be
/// treated as a single filter"; Query.chain() forgets the join's alias after that).
inline bool next_to_sticky(const Query& q, const Join& j) noexcept {
    return j.sticky && q.current_filter == j.filter_call + 1;
}

DORM_DECL std::string reverse_join(Query& q, const std::string& parent_alias, const ModelMeta& parent, const ModelMeta& child, const FieldMeta& fk, bool outer) {
    // The most recent of the joins that may be reused (Django's Query.join: reuse_aliases[-1]): after
    // filter(entry__a).filter(entry__b), values("entry__c") reads the second filter's entry.
    // A join only an ordering made is taken over by the filter() call: Django makes an ordering's joins when the
    // query is compiled, reusing the filter's then, so order_by("entry__x").filter(entry__y=v) joins once.
    for (auto it = q.joins.rbegin(); it != q.joins.rend(); ++it)
        if (Join& j = *it; j.reverse && j.filtered.empty() && j.parent_alias == parent_alias && j.fk == &fk &&
                           (q.current_filter == 0 || j.filter_call == q.current_filter || fk.one_to_one ||
                            next_to_sticky(q, j) || (j.for_ordering && !ordering_joins))) {
            if (outer) j.outer = true;
            if (j.for_ordering && !ordering_joins) {  // no longer the ordering's alone: this call's
                j.for_ordering = false;
                if (q.current_filter != 0) j.filter_call = q.current_filter;
            }
            return j.alias;
        }
    std::string alias = fresh_alias(q, child.db_table);
    q.joins.push_back(Join{alias, &child, parent_alias, &fk, outer, true, q.current_filter, &parent, {}, nullptr});
    q.joins.back().for_ordering = ordering_joins;
    return alias;
}

DORM_DECL std::string own_reverse_join(Query& q, const ModelMeta& child, const FieldMeta& fk, bool outer, bool sticky) {
    q.current_filter = ++q.filter_calls;
    std::string alias = reverse_join(q, q.alias(), *q.model, child, fk, outer);
    q.current_filter = 0;
    for (auto& j : q.joins)
        if (j.alias == alias) j.sticky = sticky;
    return alias;
}

DORM_DECL std::size_t filtered_join(Query& q, const FilteredRelationSpec& fr) {
    for (std::size_t i = 0; i < q.joins.size(); ++i)
        if (q.joins[i].filtered == fr.name) return i;
    const ModelMeta& model = *q.model;
    Join j;
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
    } else if (const ManyToManyRelation* m2m = model.find_many_to_many(fr.relation)) {
        // To the join table (a join of its own, which no other path shares), then to the other model with the
        // condition in that join's ON clause, as Django writes it.
        Join through;
        through.alias = fresh_alias(q, m2m->through->db_table);
        through.model = m2m->through;
        through.parent_alias = q.alias();
        through.fk = m2m->from;
        through.outer = true;
        through.reverse = true;
        through.parent_model = &model;
        through.filtered = fr.name + "__through";  // not fr.name: the relation's name finds the other join
        j.parent_alias = through.alias;
        q.joins.push_back(std::move(through));
        j.model = m2m->model;
        j.fk = m2m->to;
    } else {
        throw FieldError(fmt::format("dorm: FilteredRelation's relation '{}' is not a relation of {} (nested relations "
                                     "are not supported)", fr.relation, model.name));
    }
    j.alias = fresh_alias(q, fr.name);
    q.joins.push_back(std::move(j));
    std::size_t index = q.joins.size() - 1;
    if (fr.condition->empty()) return index;  // Django's default condition, Q(): the plain relation
    q.building_filtered = &fr;
    auto condition = build_q_fwd(q, *fr.condition);
    q.building_filtered = nullptr;
    q.joins[index].condition = std::move(condition);
    return index;
}
}  // namespace dorm::sql::detail

namespace dorm::sql {

namespace detail {
/// The model field an expression stands for (Django's output_field when that is a model field): a column's field,
/// through custom transforms that keep their argument's kind; nullptr for anything else.
DORM_DECL const FieldMeta* stands_for(const Expression* e) {
    while (e) {
        if (const auto* col = dynamic_cast<const Col*>(e)) return col->field;
        const auto* t = dynamic_cast<const lookups::CustomTransformExpr*>(e);
        if (!t || t->def->output) return nullptr;
        e = t->arg.get();
    }
    return nullptr;
}
}  // namespace detail

DORM_DECL ResolvedPath resolve_path(Query& q, std::string_view path, bool allow_lookup, bool allow_joins) {
    return resolve_path(q, path, allow_lookup, allow_joins, PathContext::current());
}

DORM_DECL ResolvedPath resolve_path(Query& q, std::string_view path, bool allow_lookup, bool allow_joins,
                                    PathContext context) {
    auto parts = detail::split_path(path);
    for (auto p : parts)
        if (p.empty()) throw FieldError(fmt::format("dorm: '{}' is not a valid lookup path", path));
    const ModelMeta* model = q.model;
    std::string alias = q.alias();
    bool outer = false;
    std::size_t i = 1;
    ResolvedPath r;
    r.custom = std::move(context.custom);  // the one snapshot of the registry this path is resolved against
    const lookups::CustomRegistry* reg = r.custom.get();
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
        r.annotation = true;
        r.output_field = detail::stands_for(a->expr.get());
        return resolve_tail(r, parts, n, path, allow_lookup, model);
    }
    // Walk the path: fields, ForeignKeys forward (a join unless only the key is needed) and reverse relations
    // (multi-valued joins). Fields win over lookups, as in Django.
    const FieldMeta* field = nullptr;
    const FieldMeta* stands_for = nullptr;  // when the field whose own lookups apply is not `field` (Django's)
    std::size_t at = 0;
    auto is_lookup = [&](std::string_view n) {
        return lookups::find(n) || lookups::find_transform(n) || lookups::is_custom_name(reg, n);
    };
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
                    stands_for = &target.pk_field();  // Django's final field: the target's key
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
                stands_for = rel->field;  // Django's ForeignObjectRel.get_lookup(): its ForeignKey's lookups
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
    if (!stands_for && context.pk_stands_for && i == 1 && parts[0] == "pk" && !fr) stands_for = context.pk_stands_for;
    r.field = field;
    r.output_field = stands_for ? stands_for : field;
    r.name = field->name;
    r.column = dorm::detail::make_node<Col>(alias, field);
    r.lhs = r.column;
    r.kind = field->kind;
    r.nullable = field->nullable || outer;
    return resolve_tail(r, parts, i, path, allow_lookup, model);
}

DORM_DECL ResolvedPath resolve_tail(ResolvedPath& r, std::span<const std::string_view> parts, std::size_t i, std::string_view path, bool allow_lookup, const ModelMeta* model) {
    const lookups::CustomRegistry* reg = r.custom.get();  // the path's one snapshot
    auto custom_lookup = [&](std::string_view name) {
        return lookups::find_custom_lookup(reg, name, r.kind, r.kind_known, r.output_field, r.custom_transform.get());
    };
    lookups::CustomDefPtr found;  // the custom lookup that ends the path
    for (; i < parts.size(); ++i) {
        bool last = i + 1 == parts.size();
        // Custom names first: a registration replaces a built-in of the same name. At the end of the path a lookup
        // wins over a transform, as Django's build_lookup() tries get_lookup() before get_transform(); a field's own
        // lookup is never a transform (Django: get_transform() finds it and returns None).
        if (allow_lookup && last && (found = custom_lookup(parts[i]))) break;
        if (auto own = lookups::find_own(reg, parts[i], r.output_field); own && !own->transform) break;
        if (auto ct = lookups::find_custom_transform(reg, parts[i], r.kind, r.kind_known, r.output_field)) {
            FieldKind out = ct->output.value_or(r.kind);
            r.lhs = dorm::detail::make_node<lookups::CustomTransformExpr>(ct, r.lhs, out);
            r.kind = out;
            r.custom_transformed = true;
            if (ct->output) r.output_field = nullptr;  // another value; without an output kind it stands for its argument
            if (ct->bilateral) r.bilateral.push_back(ct);
            r.custom_transform = std::move(ct);
            continue;
        }
        const auto* t = lookups::find_transform(parts[i]);
        if (!t) break;
        if (r.kind_known && !lookups::transform_applies(*t, r.kind))
            throw FieldError(fmt::format("dorm: Cannot apply the '{}' transform to {} '{}'. Lookups are: {}", t->name,
                                         detail::field_class(r.kind), r.name,
                                         lookups::names(r.kind, reg, r.output_field)));
        r.lhs = dorm::detail::make_node<lookups::Transform>(t, r.lhs, r.kind);
        r.kind = t->output;
        r.transforms.push_back(t);
        r.custom_transform = nullptr;
        r.output_field = nullptr;
    }
    if (i < parts.size()) {
        bool last = i + 1 == parts.size();
        if (!found && (!allow_lookup || !last || !lookups::find(parts[i]))) {
            if (!last || (lookups::find(parts[i]) == nullptr && !lookups::is_custom_name(reg, parts[i]))) {
                if (r.field && model->find_field(parts[i]) && !r.field->is_relation())
                    throw FieldError(fmt::format("dorm: Unsupported lookup '{}' for {} '{}' or join on the field not "
                                                 "permitted", parts[i], detail::field_class(r.kind), r.name));
                throw FieldError(fmt::format("dorm: Unsupported lookup '{}' for {} '{}'. Lookups are: {}", parts[i],
                                             detail::field_class(r.kind), r.name,
                                             lookups::names(r.kind, reg, r.output_field)));
            }
            if (allow_lookup && lookups::find(parts[i]) == nullptr)  // a custom name that does not apply here
                throw FieldError(fmt::format("dorm: Unsupported lookup '{}' for {} '{}'. Lookups are: {}", parts[i],
                                             detail::field_class(r.kind), r.name,
                                             lookups::names(r.kind, reg, r.output_field)));
            throw FieldError(fmt::format("dorm: '{}' ends in a lookup where only a field is allowed", path));
        }
        r.lookup = parts[i];
        r.custom_lookup = std::move(found);
    } else if (allow_lookup) {  // the implied exact may be a registered one too (Django: get_lookup("exact"))
        r.custom_lookup = custom_lookup("exact");
    }
    return std::move(r);
}

DORM_DECL auto SelectRef::as_sql(Compiler& c) const -> Match {
    c.quote(name);
    return Match::some;
}

DORM_DECL auto AliasCol::as_sql(Compiler& c) const -> Match {
    c.quote(table);
    c << ".";
    c.quote(name);
    return Match::some;
}
}  // namespace dorm::sql

namespace dorm::sql::detail {

DORM_DECL void collect_outer_refs(const Expression* e, std::vector<std::string>& out, int level) {
    if (!e) return;
    if (auto* o = dynamic_cast<const OuterCol*>(e); o && o->depth == level && !o->field) out.push_back(o->path);
    // A subquery's own OuterRefs count one level further out from here.
    const Query* sub = nullptr;
    if (auto* s = dynamic_cast<const Subquery*>(e)) sub = s->query.get();
    if (auto* x = dynamic_cast<const ExistsNode*>(e)) sub = x->query.get();
    if (sub)
        for (auto& path : outer_refs(*sub, level + 1)) out.push_back(std::move(path));
    std::vector<const Expression*> kids;
    e->sources(kids);
    for (const auto* k : kids) collect_outer_refs(k, out, level);
}

DORM_DECL void distinct_fields_unsupported(std::string_view what) {
    throw NotImplementedError(fmt::format("dorm: {} + distinct(fields) {}not implemented.", what,
                                          what == "aggregate()" ? "" : "is "));
}

DORM_DECL void clear_ordering(Query& q, bool force) {
    if (!force && (q.is_sliced() || !q.distinct_fields.empty())) return;
    q.order_by.clear();
    q.default_ordering = false;
    // A join that anything else reuses is no longer the ordering's alone, nor are the joins it hangs from.
    std::erase_if(q.joins, [](const Join& j) { return j.for_ordering; });
}

DORM_DECL void drop_filter_joins(Query& q) {
    std::set<std::string> used;
    std::vector<std::shared_ptr<const Query>> subqueries;
    auto collect = [&](auto& self, const Expression* e) -> void {
        if (!e) return;
        if (auto* col = dynamic_cast<const Col*>(e)) used.insert(col->alias);
        if (auto* sub = dynamic_cast<const Subquery*>(e)) subqueries.push_back(sub->query);
        if (auto* ex = dynamic_cast<const ExistsNode*>(e)) subqueries.push_back(ex->query);
        std::vector<const Expression*> kids;
        e->sources(kids);
        for (const auto* k : kids) self(self, k);
    };
    for (const auto& sel : q.select_related) used.insert(sel.alias);
    for (const auto& o : q.order_by) collect(collect, o.expr.get());
    for (const auto& a : q.annotations) collect(collect, a.expr.get());
    for (const auto& v : q.values) collect(collect, v.expr.get());
    for (const auto& g : q.group_by) collect(collect, g.get());
    for (const auto& d : q.distinct_fields) collect(collect, d.get());
    for (auto it = q.joins.rbegin(); it != q.joins.rend(); ++it)  // a join needs the joins it hangs from
        if (used.count(it->alias)) used.insert(it->parent_alias);
    std::erase_if(q.joins, [&](const Join& j) { return !used.count(j.alias); });
    for (auto& j : q.joins) j.outer = true;
    // Subqueries of annotations refer to the outer query by path: their joins are made again where dropped.
    for (const auto& sub : subqueries) resolve_outer_refs(q, *sub);
}

DORM_DECL std::vector<std::string> outer_refs(const Query& q, int level) {
    std::vector<std::string> out;
    collect_outer_refs(q.where.get(), out, level);
    collect_outer_refs(q.having.get(), out, level);
    collect_outer_refs(q.qualify.get(), out, level);
    for (const auto& a : q.annotations) collect_outer_refs(a.expr.get(), out, level);
    for (const auto& v : q.values) collect_outer_refs(v.expr.get(), out, level);
    return out;
}
}  // namespace dorm::sql::detail

namespace dorm::sql {

namespace detail {
/// Django's BaseExpression._resolve_output_field() for an expression typed by its sources (Coalesce, Greatest,
/// Least, NullIf, Case) and given no output type: each typed source must be of the first one's type, else the
/// FieldError's message (empty when they agree). Reading the result as the first source's type would change the
/// others' values (a float read back as an integer is truncated). dorm's integer kinds count as one type here (a
/// literal and Count are BigIntegerField in dorm, IntegerField in Django); a DateField may follow a DateTimeField
/// (a subclass of it), not the other way round.
inline std::string mixed_types(std::span<const Expression* const> sources) {
    std::optional<FieldKind> first;
    for (const Expression* s : sources) {
        const auto k = s ? s->output_kind() : std::nullopt;
        if (!k) continue;  // NULL, or untyped: no output field (Django skips None)
        if (!first) {
            first = k;
            continue;
        }
        if (*k == *first || (is_integer_kind(*k) && is_integer_kind(*first)) ||
            (*first == FieldKind::datetime && *k == FieldKind::date))
            continue;
        return fmt::format("dorm: Expression contains mixed types: {}, {}. You must set output_field "
                           "(ExpressionWrapper).",
                           field_class(*first), field_class(*k));
    }
    return {};
}

/// A function call's node, window functions included (K::window resolves its own through this).
DORM_DECL ExprPtr resolve_func(Query& q, const dorm::detail::ExprNode& n, bool allow_joins) {
    std::vector<ExprPtr> args;
    for (const auto& a : n.args) args.push_back(resolve_expression(q, *a, allow_joins));
    std::string mixed;
    if (!n.output && !n.label.empty() &&
        (n.name == "COALESCE" || n.name == "GREATEST" || n.name == "LEAST" || n.name == "NULLIF")) {
        std::vector<const Expression*> sources;
        for (const auto& a : args) sources.push_back(a.get());
        mixed = mixed_types(sources);
    }
    // dorm's own functions carry Django's class name; a Func() of the user's does not
    auto f = dorm::detail::make_node<Func>(n.name, std::move(args), n.output, !n.label.empty());
    f->mixed_types = std::move(mixed);
    return f;
}
}  // namespace detail

DORM_DECL ExprPtr resolve_expression(Query& q, const dorm::detail::ExprNode& n, bool allow_joins) {
    using K = dorm::detail::ExprNode::Kind;
    auto resolve = [&](const dorm::detail::ExprNodePtr& a) { return resolve_expression(q, *a, allow_joins); };
    switch (n.kind) {
        case K::ref: return resolve_path(q, n.name, false, allow_joins).lhs;
        case K::value: return dorm::detail::make_node<Param>(n.value);
        case K::binary: return dorm::detail::make_node<BinaryOp>(n.name, resolve(n.args[0]), resolve(n.args[1]), n.output);
        case K::func: {
            // A window function means nothing without its window (the database refuses it): say so here.
            if (const auto* f = n.label.empty() ? nullptr : dorm::detail::find_function(n.name); f && f->window)
                throw ValueError(fmt::format("dorm: {} is a window function: compute it over a Window ({}(...) in "
                                             "Window({}(...), {{.partition_by = ..., .order_by = ...}}))",
                                             n.label, n.label, n.label));
            return detail::resolve_func(q, n, allow_joins);
        }
        case K::aggregate: {
            auto a = dorm::detail::make_node<Aggregate>();
            a->function = n.name;
            a->label = n.label;
            for (const auto& arg : n.args)  // an aggregate over an aggregate is refused by annotate(), not aggregate()
                if (arg->kind != K::star) a->args.push_back(resolve(arg));
            a->distinct = n.distinct;
            if (n.filter) {
                detail::FlagScope conditions(detail::split_excludes, false);
                a->filter = build_q(q, *n.filter);
            }
            if (n.fallback) a->fallback = resolve(n.fallback);
            for (const auto& [e, desc] : n.ordering) a->ordering.emplace_back(resolve(e), desc);
            if (n.name == "STRING_AGG") a->delimiter = n.value;
            a->output = n.output;
            return a;
        }
        case K::case_: {
            auto c = dorm::detail::make_node<Case>();
            for (std::size_t i = 0; i < n.conditions.size(); ++i) {
                auto condition = [&] {
                    detail::FlagScope conditions(detail::split_excludes, false);
                    return build_q(q, *n.conditions[i]);
                }();
                c->whens.emplace_back(std::move(condition), resolve(n.args[i]));
            }
            if (n.fallback) c->fallback = resolve(n.fallback);
            c->output = n.output;
            c->predicate = n.predicate;
            if (!n.output) {
                std::vector<const Expression*> sources;
                for (const auto& w : c->whens) sources.push_back(w.second.get());
                sources.push_back(c->fallback.get());
                // Django's Case.as_sql() asks for its output field: the error comes with the query, not its rows.
                if (auto mixed = detail::mixed_types(sources); !mixed.empty()) throw FieldError(mixed);
            }
            return c;
        }
        case K::cast: return dorm::detail::make_node<Cast>(resolve(n.args[0]), *n.output);
        case K::subquery:
        case K::exists: {
            detail::resolve_outer_refs(q, *n.query);
            if (n.kind == K::exists) return dorm::detail::make_node<ExistsNode>(n.query);
            return dorm::detail::make_node<Subquery>(n.query, true);
        }
        case K::outer_ref: {
            int depth = 1;
            for (const auto* inner = &n; !inner->args.empty(); inner = inner->args[0].get()) ++depth;
            return dorm::detail::make_node<OuterCol>(n.name, depth);
        }
        case K::raw: {
            std::vector<Value> params;
            for (const auto& a : n.args) params.push_back(a->value);
            return dorm::detail::make_node<RawExpr>(n.name, std::move(params), n.output);
        }
        case K::window: {
            const auto& spec = *n.window;
            const auto& source = *n.args.at(0);
            auto w = dorm::detail::make_node<Window>();
            w->source = source.kind == K::func ? detail::resolve_func(q, source, allow_joins) : resolve(n.args[0]);
            for (const auto& p : spec.partition_by) w->partition_by.push_back(resolve(p));
            for (const auto& o : spec.order_by)
                w->order_by.push_back(Window::Term{resolve(o.expression.node()), o.descending, o.nulls_first, o.nulls_last});
            w->frame = spec.frame;
            w->output = n.output;
            // SQL has no window inside a window (through an annotation's name, say): both databases refuse it.
            std::vector<const Expression*> parts;
            w->source->sources(parts);
            w->group_by_sources(parts);
            for (const auto* p : parts)
                if (p && p->contains_over_clause())
                    throw NotSupportedError("dorm: a Window cannot be computed over (or partitioned or ordered by) "
                                            "another window expression");
            return w;
        }
        case K::star: throw FieldError("dorm: '*' is only valid as Count's argument");
        case K::filtered_relation: throw ValueError("dorm: FilteredRelation is only valid in annotate() and alias()");
    }
    return nullptr;
}
}  // namespace dorm::sql

namespace dorm::sql::detail {

DORM_DECL ExprPtr year_lookup(const ResolvedPath& r, const lookups::LookupDef& def, const Value& v) {
    if (!r.field || r.transforms.size() != 1 || r.custom_transformed || r.custom_lookup || !v.holds<std::int64_t>())
        return nullptr;
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
    auto node = dorm::detail::make_node<lookups::Lookup>();
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

DORM_DECL std::optional<MultiValuedSplit> multi_valued_split(const Query& q, std::string_view path) {
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
        out.parent = model;
        out.from_parent = path.substr(static_cast<std::size_t>(parts[i].data() - path.data()));
        return out;
    }
    return std::nullopt;
}

/// The join of `q` that the relation `split` reads may reuse: one this filter() call made, or a many-to-many
/// manager's; nullptr when there is none (or outside filter()).
DORM_DECL const Join* reusable_join(const Query& q, const MultiValuedSplit& split) {
    if (q.current_filter == 0) return nullptr;
    std::string parent = q.alias();
    const ModelMeta* model = q.model;
    if (!split.prefix.empty())
        for (std::string_view part : split_path(split.prefix)) {  // forward ForeignKeys, reverse one-to-ones
            const FieldMeta* fk = model->find_field(part);
            const RelatedObject* rel = fk ? nullptr : model->find_related(part);
            if (!fk && !rel) return nullptr;
            auto it = std::find_if(q.joins.begin(), q.joins.end(), [&](const Join& j) {
                return j.filtered.empty() && j.parent_alias == parent && (fk ? !j.reverse && j.fk == fk : j.reverse && j.fk == rel->field);
            });
            if (it == q.joins.end()) return nullptr;
            parent = it->alias;
            model = it->model;
        }
    for (auto it = q.joins.rbegin(); it != q.joins.rend(); ++it)
        if (it->reverse && it->filtered.empty() && it->parent_alias == parent && it->fk == split.fk &&
            (it->filter_call == q.current_filter || next_to_sticky(q, *it)))
            return &*it;
    return nullptr;
}

DORM_DECL ExprPtr multi_valued_subquery(Query& q, const MultiValuedSplit& split, const dorm::detail::Operand& rhs,
                                        const PathContext& outer_context) {
    PathContext context = outer_context;  // the subquery's condition is its own: no negation above it
    context.branch_negated = false;
    ExprPtr parent_pk = dorm::detail::make_node<Col>(q.alias(), &q.model->pk_field());
    bool parent_nullable = false;  // reached through a NULL-able ForeignKey
    if (!split.prefix.empty()) {
        auto r = resolve_path(q, split.prefix + "__pk", false, true, context);
        parent_pk = r.lhs;
        parent_nullable = r.nullable;
    }
    auto in = dorm::detail::make_node<lookups::Lookup>();
    in->lhs = parent_pk;
    in->def = lookups::find("in");
    // Django's split_exclude(): F("x") on the right names the outer query's field (OuterRef("x")), and an OuterRef
    // the query one level further out.
    const dorm::detail::Operand* condition_rhs = &rhs;
    dorm::detail::Operand outer_rhs;
    using EK = dorm::detail::ExprNode::Kind;
    if (rhs.kind == dorm::detail::Operand::Kind::expression && rhs.expression &&
        (rhs.expression->kind == EK::ref || rhs.expression->kind == EK::outer_ref)) {
        auto outer = dorm::detail::make_node<dorm::detail::ExprNode>();
        outer->kind = EK::outer_ref;
        outer->name = rhs.expression->name;
        if (rhs.expression->kind == EK::outer_ref) outer->args = {rhs.expression};
        outer_rhs = rhs;
        outer_rhs.expression = std::move(outer);
        condition_rhs = &outer_rhs;
    }
    // Django's split_exclude() selects what its NOT EXISTS correlates on: a row whose key is NULL has no related
    // rows, so it is not excluded (NOT IN would drop it): (key IN (...) AND key IS NOT NULL), negated.
    // `or_null`: a row whose key is NULL meets the condition (isnull=True, = None: Django's inner query keeps the
    // LEFT OUTER JOIN, and split_exclude() adds "OR key IS NULL"): (key IN (...) OR key IS NULL), negated.
    auto excluded = [&](std::shared_ptr<Query> sub, bool or_null = false) -> ExprPtr {
        if (condition_rhs != &rhs) resolve_outer_refs(q, *sub);  // the joins the outer field needs
        in->rhs = dorm::detail::make_node<Subquery>(std::shared_ptr<const Query>(std::move(sub)));
        if (!parent_nullable) return in;
        auto null = dorm::detail::make_node<lookups::Lookup>();
        null->lhs = parent_pk;
        null->def = lookups::find("isnull");
        null->value = Value(or_null);
        auto both = dorm::detail::make_node<WhereNode>();
        both->children = {in, null};
        if (or_null) both->connector = Connector::or_;
        return both;
    };
    // A condition that rows without related rows meet (isnull=True, = None): Django's subquery keeps its LEFT OUTER
    // JOIN from the parent, so it selects the parents, those without related rows included.
    const std::string_view path = split.from_parent;
    const std::string_view last = path.substr(path.rfind("__") == std::string_view::npos ? 0 : path.rfind("__") + 2);
    if (rhs.kind == dorm::detail::Operand::Kind::value &&
        (rhs.value.is_null() || (last == "isnull" && rhs.value.holds<bool>() && rhs.value.as<bool>()))) {
        auto sub = dorm::detail::make_node<Query>();
        sub->model = split.parent;
        sub->db = q.db;
        add_where(*sub, build_lookup(*sub, split.from_parent, *condition_rhs, false, context));
        sub->values_mode = true;
        sub->values = {SelectItem{"pk", dorm::detail::make_node<Col>(sub->alias(), &split.parent->pk_field())}};
        sub->default_ordering = false;
        return excluded(std::move(sub), true);
    }
    auto sub = dorm::detail::make_node<Query>();
    sub->model = split.model;
    sub->db = q.db;
    std::string rest = split.rest;
    PathContext inner = context;
    if (rest.empty() || [&] {
            auto first = split_path(rest)[0];
            return lookups::find(first) || lookups::find_transform(first) || lookups::is_custom_name(context.custom.get(), first);
        }()) {
        // The relation alone: its rows' key, with the lookups of the relation's ForeignKey, as filter() has them.
        rest = rest.empty() ? "pk" : "pk__" + rest;
        inner.pk_stands_for = split.fk;
    }
    add_where(*sub, build_lookup(*sub, rest, *condition_rhs, false, std::move(inner)));
    // Django's split_exclude(), `alias in can_reuse`: when this filter() call already joined the relation (or a
    // many-to-many manager's join is there), the subquery reads that same related row, not any of the parent's.
    if (const Join* reused = reusable_join(q, split)) {
        auto same = dorm::detail::make_node<lookups::Lookup>();
        same->lhs = dorm::detail::make_node<Col>(sub->alias(), &split.model->pk_field());
        same->def = lookups::find("exact");
        same->rhs = dorm::detail::make_node<OuterCol>(reused->alias, &split.model->pk_field());
        add_where(*sub, same);
    }
    auto not_null = dorm::detail::make_node<lookups::Lookup>();
    not_null->lhs = dorm::detail::make_node<Col>(sub->alias(), split.fk);
    not_null->def = lookups::find("isnull");
    not_null->value = Value(false);
    add_where(*sub, not_null);
    sub->values_mode = true;
    sub->values = {SelectItem{split.fk->name, dorm::detail::make_node<Col>(sub->alias(), split.fk)}};
    sub->default_ordering = false;
    return excluded(std::move(sub));
}
}  // namespace dorm::sql::detail

namespace dorm::sql {

DORM_DECL ExprPtr build_lookup(Query& q, std::string_view path, const dorm::detail::Operand& rhs, bool negated) {
    return build_lookup(q, path, rhs, negated, PathContext::current());
}

DORM_DECL ExprPtr build_lookup(Query& q, std::string_view path, const dorm::detail::Operand& rhs, bool negated,
                               PathContext context) {
    if ((negated || context.branch_negated) && detail::split_excludes)
        if (auto split = detail::multi_valued_split(q, path)) return detail::multi_valued_subquery(q, *split, rhs, context);
    ResolvedPath r = resolve_path(q, path, true, true, std::move(context));
    if (!rhs.instance_of.empty() && r.field && !r.field->is_relation())
        throw TypeError(fmt::format("dorm: Field '{}' expected a value but got a {} instance.", r.name, rhs.instance_of));
    std::string_view lookup_name = r.lookup.empty() ? std::string_view("exact") : r.lookup;
    const lookups::LookupDef* def = r.custom_lookup ? &r.custom_lookup->lookup : lookups::find(lookup_name);
    std::string_view name = r.name;
    auto check = [&](const Value& v) {
        if (r.kind_known) detail::check_value(name, r.kind, v);
    };
    if (r.kind_known && !lookups::lookup_applies(def->pattern, r.kind))
        throw FieldError(fmt::format("dorm: Unsupported lookup '{}' for {} '{}': it compares text. Lookups are: {}",
                                     def->name, detail::field_class(r.kind), name,
                                     lookups::names(r.kind, r.custom.get(), r.output_field)));

    auto node = dorm::detail::make_node<lookups::Lookup>();
    node->lhs = r.lhs;
    node->def = def;
    node->custom = r.custom_lookup;
    // Django casts the column to text for a pattern lookup on another type (rating__contains=3 is
    // "rating"::text LIKE '%3%'); an expression of unknown type is cast too, which text needs no more than it.
    node->cast_lhs = def->pattern && !(r.kind_known && r.kind == FieldKind::text);
    using Kind = dorm::detail::Operand::Kind;
    using R = lookups::LookupDef::Rhs;
    bool rhs_is_none = false;
    ExprPtr nullable_rhs;  // a NULL-able column compared with, when negated
    switch (def->rhs) {
        case R::list:
            if (rhs.kind == Kind::subquery) {
                node->rhs = dorm::detail::make_node<Subquery>(rhs.subquery);
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
                node->rhs = resolve_expression(q, *rhs.expression);
                // Django: a negated comparison with a NULL-able column keeps the rows where that column is NULL.
                if (const auto* col = dynamic_cast<const Col*>(node->rhs.get()); negated && col && col->field &&
                                                                                 col->field->nullable)
                    nullable_rhs = node->rhs;
                break;
            }
            if (rhs.kind != Kind::value)
                throw TypeError(fmt::format("dorm: the '{}' lookup on '{}' takes one value, not a list", def->name, name));
            if (rhs.value.is_null() && def->name != "exact" && def->name != "iexact")
                throw ValueError("dorm: Cannot use None as a query value");
            if (rhs.value.is_null() && node->custom) {  // Django: exact=None is isnull=True, whatever exact is
                node->custom = nullptr;
                node->def = def = lookups::find("exact");
            }
            if (rhs.value.is_null() && def->name == "iexact") {  // Django: iexact=None is isnull=True
                node->def = lookups::find("exact");
                rhs_is_none = true;
                break;
            }
            if (def->pattern) {  // Django does not prepare a pattern's value for the field: str(value) is matched
                node->value = detail::pattern_text(def->name, rhs.value);
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
    // Bilateral custom transforms apply to the right-hand side too (Django's get_bilateral_transforms()).
    if (!r.bilateral.empty() && !rhs_is_none && def->rhs != R::boolean) {
        auto transformed = [&](ExprPtr side) {
            for (const auto& t : r.bilateral)
                side = dorm::detail::make_node<lookups::CustomTransformExpr>(t, std::move(side), t->output.value_or(r.kind));
            return side;
        };
        if (def->rhs == R::list && !node->rhs && !node->custom) {
            // Each value of the list transformed, as Django's batch_process_rhs(): without NULLs and duplicates,
            // and an empty list still matches nothing (in_sql(), which the list is left to then).
            auto items = dorm::detail::make_node<lookups::ValueList>();
            for (const auto& v : node->list)
                if (!v.is_null() && std::none_of(node->list.begin(), node->list.begin() + (&v - node->list.data()),
                                                 [&](const Value& w) { return w == v; }))
                    items->items.push_back(transformed(dorm::detail::make_node<Param>(v)));
            if (!items->items.empty()) node->rhs = std::move(items);
        } else if (def->rhs != R::value) {
            throw NotSupportedError(fmt::format("dorm: the '{}' lookup after the bilateral transform '{}' is not "
                                                "supported", def->name, r.bilateral[0]->name));
        } else {
            node->rhs = transformed(node->rhs ? node->rhs : dorm::detail::make_node<Param>(node->value));
        }
    }

    // Negated, (x = v AND x IS NOT NULL) is true where x is NULL, as Django's exclude() is (and so for the column
    // on the right). Not for an annotation: Django's build_filter() returns its lookup alone, so NOT (a = v) is
    // not true where `a` is NULL (exclude(note="x") of an annotation drops the rows whose note is NULL).
    if (r.annotation) return node;
    const bool lhs_nullable = negated && r.nullable && def->name != "isnull" && !rhs_is_none;
    if (!lhs_nullable && !nullable_rhs) return node;
    auto both = dorm::detail::make_node<WhereNode>();
    both->children = {node};
    for (const ExprPtr& side : {lhs_nullable ? r.column : nullptr, nullable_rhs}) {
        if (!side) continue;
        auto is_not_null = dorm::detail::make_node<lookups::Lookup>();
        is_not_null->lhs = side;
        is_not_null->def = lookups::find("isnull");
        is_not_null->value = Value(false);
        both->children.push_back(std::move(is_not_null));
    }
    return both;
}

namespace detail {
// build_q() with Django's two flags: `negated`, the parity of the negations above (current_negated), and
// `branch_negated`, whether there is any (a leaf under two of them reads a multi-valued relation as exclude() does).
inline ExprPtr build_condition(Query& query, const Q& q, bool negated, bool branch_negated) {
    bool neg = negated != q.negated();
    bool branch = branch_negated || q.negated();
    if (q.leaf()) {
        ExprPtr lookup;
        if (q.leaf()->condition) {  // a boolean expression: filter(Exists(...))
            lookup = resolve_expression(query, *q.leaf()->value.expression);
            if (lookup->output_kind() != FieldKind::boolean)
                throw TypeError("dorm: Cannot filter against a non-conditional expression.");
        } else {
            PathContext context = PathContext::current();
            context.branch_negated = branch;
            lookup = build_lookup(query, q.leaf()->path(), q.leaf()->value, neg, std::move(context));
        }
        if (!q.negated()) return lookup;
        if (auto pair = std::dynamic_pointer_cast<const WhereNode>(lookup)) {  // (x = v AND x IS NOT NULL)
            auto node = dorm::detail::make_node<WhereNode>(*pair);
            node->negated = true;
            return node;
        }
        auto node = dorm::detail::make_node<WhereNode>();
        node->negated = true;
        node->children.push_back(std::move(lookup));
        return node;
    }
    auto node = dorm::detail::make_node<WhereNode>();
    node->connector = q.connector() == Q::Connector::and_  ? Connector::and_
                      : q.connector() == Q::Connector::or_ ? Connector::or_
                                                           : Connector::xor_;
    node->negated = q.negated();
    node->children.reserve(q.children().size());
    for (const auto& child : q.children()) node->children.push_back(build_condition(query, child, neg, branch));
    return node;
}
}  // namespace detail

DORM_DECL ExprPtr build_q(Query& query, const Q& q, bool negated) {
    return detail::build_condition(query, q, negated, negated);
}
}  // namespace dorm::sql

namespace dorm::sql::detail {

DORM_DECL void and_into(std::shared_ptr<const WhereNode>& target, ExprPtr condition) {
    auto node = dorm::detail::make_node<WhereNode>();
    node->children.reserve(target ? 2 : 1);
    if (target) node->children.push_back(target);
    node->children.push_back(std::move(condition));
    target = std::move(node);
}
}  // namespace dorm::sql::detail

namespace dorm::sql {

DORM_DECL void add_where(Query& query, ExprPtr condition) {
    // No database takes a window in WHERE or HAVING: such conditions are split when the query is written, as
    // Django splits them then, since whether the query groups rows decides how (plan_qualify()).
    if (condition->contains_over_clause()) return detail::and_into(query.qualify, std::move(condition));
    if (!condition->contains_aggregate()) return detail::and_into(query.where, std::move(condition));
    auto* node = dynamic_cast<const WhereNode*>(condition.get());
    if (node && node->connector == Connector::and_ && !node->negated) {
        for (const auto& child : node->children) add_where(query, child);
        return;
    }
    detail::and_into(query.having, std::move(condition));
}

DORM_DECL void add_select_related(Query& q, std::string_view path) {
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
            if (prefix.size() == path.size()) known->requested = true;  // named now
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
            if ((j.reverse && !j.fk->one_to_one) || model->find_many_to_many(fr->relation))
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

DORM_DECL void check_deferred_traversal(const Query& q) {
    if (q.all_loaded()) return;
    for (const auto& sel : q.select_related) {
        if (!sel.stored_as.empty() || !sel.requested) continue;  // a reverse relation: no key to defer
        const RelatedSelection* parent = sel.parent < 0 ? nullptr : &q.select_related[static_cast<std::size_t>(sel.parent)];
        const ModelMeta& pm = parent ? *parent->model : *q.model;
        auto i = static_cast<std::size_t>(sel.fk - pm.fields.data());
        if (!(parent ? q.loads(*parent, i) : q.loads(i)))
            throw FieldError(fmt::format("dorm: Field {}.{} cannot be both deferred and traversed using "
                                         "select_related at the same time.", pm.name, sel.fk->name));
    }
}

DORM_DECL void check_loading_path(const ModelMeta& m, std::string_view path) {
    const ModelMeta* model = &m;
    auto parts = detail::split_path(path);
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const FieldMeta& f = model->get_field(parts[i]);  // FieldError naming the choices
        if (i + 1 == parts.size()) break;
        if (!f.is_relation())
            throw FieldError(fmt::format("dorm: {}: '{}' is not a relation, so '{}' cannot follow it", path, f.name,
                                         parts[i + 1]));
        model = &f.related();
    }
}

DORM_DECL void add_prefetch(Query& q, const std::vector<PrefetchSpec>& specs) {
    if (specs.empty()) q.prefetch.clear();
    else q.prefetch.insert(q.prefetch.end(), specs.begin(), specs.end());
}

DORM_DECL void add_select_related_all(Query& q) {
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
    // Django's select_related() without names replaces the names given before: every relation is followed.
    for (auto& sel : q.select_related) sel.requested = false;
}

DORM_DECL OrderBy resolve_ordering(Query& q, std::string_view name) {
    if (name == "?") return OrderBy{nullptr, false};
    bool desc = !name.empty() && name[0] == '-';
    if (desc) name.remove_prefix(1);
    return OrderBy{resolve_path(q, name, false).lhs, desc};
}

DORM_DECL void resolve_orderings(Query& q, std::string_view name, OrderList& out, int depth) {
    if (name == "?") return out.push_back(OrderBy{nullptr, false});
    bool desc = !name.empty() && name[0] == '-';
    std::string_view path = desc ? name.substr(1) : name;
    detail::FlagScope ordering(detail::ordering_joins, true);
    auto r = resolve_path(q, path, false);
    // Django's find_ordering_name(): a relation named by itself (not its "_id" attribute, not "pk") orders by the
    // related model's Meta.ordering, each term under the relation's path and reversed by a leading '-'.
    std::string_view last = path.substr(path.rfind("__") == std::string_view::npos ? 0 : path.rfind("__") + 2);
    const ModelMeta* related = nullptr;
    if (r.field && r.field->is_relation() && r.transforms.empty() && !r.custom_transformed && last == r.field->name && last != "pk") {
        related = &r.field->related();
    } else if (r.field && r.transforms.empty() && !r.custom_transformed && !r.custom_lookup && r.lookup.empty()) {
        // A reverse relation or a many-to-many named alone (its final field has no attname of that name).
        const ModelMeta* owner = q.model;
        auto parts = detail::split_path(path);
        for (std::size_t i = 0; owner && i + 1 < parts.size(); ++i) {
            const FieldMeta* f = owner->find_field(parts[i]);
            const RelatedObject* rel = f ? nullptr : owner->find_related(parts[i]);
            const ManyToManyRelation* m2m = f || rel ? nullptr : owner->find_many_to_many(parts[i]);
            owner = f ? (f->is_relation() ? &f->related() : nullptr) : rel ? rel->model : m2m ? &m2m->to->related() : nullptr;
        }
        if (owner && !owner->find_field(last)) {
            if (const RelatedObject* rel = owner->find_related(last)) related = rel->model;
            else if (const ManyToManyRelation* m2m = owner->find_many_to_many(last)) related = &m2m->to->related();
        }
    }
    if (related) {
        const ModelMeta& target = *related;
        if (!target.ordering.empty()) {
            if (depth > 8) throw FieldError(fmt::format("dorm: Infinite loop caused by ordering ('{}').", name));
            for (const auto& term : target.ordering) {
                bool term_desc = term.starts_with('-');
                std::string_view term_name = term_desc ? std::string_view(term).substr(1) : std::string_view(term);
                if (term_name == "?") continue;
                std::string expanded = std::string(desc != term_desc ? "-" : "") + std::string(path) + "__" +
                                       std::string(term_name);
                resolve_orderings(q, expanded, out, depth + 1);
            }
            return;
        }
    }
    out.push_back(OrderBy{r.lhs, desc});
}
}  // namespace dorm::sql

namespace dorm::sql::detail {

DORM_DECL const std::string& column_list(const backends::Dialect& d, const ModelMeta& m) {
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

DORM_DECL void select_columns(Compiler& c, const Query& q) {
    const ModelMeta& m = *q.model;
    bool all = q.all_loaded();
    if (all && !c.renamed(q.alias()) && !c.column_names) {
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
        c.column_alias();
    }
}

DORM_DECL std::vector<SelectItem> select_items(const Query& q) {
    std::vector<SelectItem> items;
    if (q.values_mode) items = q.values;
    for (const auto& a : q.annotations)
        if (a.selected) items.push_back(SelectItem{a.name, a.expr});
    return items;
}

DORM_DECL void select_item(Compiler& c, const SelectItem& item) {
    c.compile(*item.expr);
    if (c.column_names) c.column_names->push_back(item.name);
    else if (auto* col = dynamic_cast<const Col*>(item.expr.get()); col && col->field->column == item.name) return;
    c << " AS ";
    c.quote(item.name);
}

DORM_DECL void select_list(Compiler& c, const Query& q) {
    bool first = true;
    std::size_t position = 0;
    if (!q.values_mode) {
        select_columns(c, q);
        first = false;
        for (std::size_t i = 0; i < q.model->fields.size(); ++i) position += q.loads(i) ? 1 : 0;
    }
    c.selected.clear();
    for (const auto& item : select_items(q)) {
        if (!first) c << ", ";
        first = false;
        select_item(c, item);
        c.selected.emplace_back(item.expr.get(), ++position);
    }
    if (q.values_mode) return;
    check_deferred_traversal(q);
    for (const auto& sel : q.select_related)
        for (std::size_t i = 0; i < sel.model->fields.size(); ++i) {
            if (!q.loads(sel, i)) continue;
            c << ", ";
            c.quote_alias(sel.alias);
            c << ".";
            c.quote(sel.model->fields[i].column);
            c.column_alias();
        }
}

DORM_DECL void distinct_ordering_columns(Compiler& c, const Query& q) {
    if (!q.distinct || !q.distinct_fields.empty() || q.order_by.empty()) return;
    std::vector<ExprPtr> selected;
    if (!q.values_mode) {
        for (std::size_t i = 0; i < q.model->fields.size(); ++i)
            if (q.loads(i)) selected.push_back(dorm::detail::make_node<Col>(q.alias(), &q.model->fields[i]));
        for (const auto& sel : q.select_related)
            for (std::size_t i = 0; i < sel.model->fields.size(); ++i)
                if (q.loads(sel, i)) selected.push_back(dorm::detail::make_node<Col>(sel.alias, &sel.model->fields[i]));
    }
    for (const auto& item : select_items(q)) selected.push_back(item.expr);
    auto key = [&](const Expression& e) {
        Compiler scratch(c.dialect);
        scratch.scopes = c.scopes;
        scratch.compile(e);
        return std::pair<std::string, std::vector<Value>>{std::move(scratch.sql), std::move(scratch.params)};
    };
    std::vector<std::pair<std::string, std::vector<Value>>> seen;
    for (const auto& e : selected) seen.push_back(key(*e));
    for (const auto& o : q.order_by) {
        if (!o.expr) {  // order_by("?"): selected too, as Django's get_extra_select(), so every row is distinct
            c << ", " << c.dialect.random_function();
            continue;
        }
        if (dynamic_cast<const SelectRef*>(o.expr.get())) continue;  // a selected column by name
        auto k = key(*o.expr);
        if (std::find(seen.begin(), seen.end(), k) != seen.end()) continue;
        seen.push_back(std::move(k));
        c << ", ";
        c.compile(*o.expr);
    }
}

DORM_DECL void from_clause(Compiler& c, const Query& q) {
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

DORM_DECL bool condition_clause(Compiler& c, std::string_view keyword, const WhereNode* node) {
    if (!node) return true;
    auto before = c.sql.size();
    c << keyword;
    Match m = c.compile(*node);
    if (m == Match::some) return true;
    c.sql.resize(before);
    return m == Match::everything;
}

DORM_DECL bool group_by_clause(Compiler& c, const Query& q, std::span<const OrderBy> order_by) {
    if (q.grouping == Grouping::none) return condition_clause(c, " HAVING ", q.having.get());
    std::vector<const Expression*> exprs;
    std::vector<ExprPtr> model_columns;
    if (q.grouping == Grouping::all)
        for (const auto& f : q.model->fields) model_columns.push_back(dorm::detail::make_node<Col>(q.alias(), &f));
    if (q.grouping == Grouping::all && !q.values_mode)  // select_related() columns are selected, so grouped by
        for (const auto& sel : q.select_related)
            for (const auto& f : sel.model->fields) model_columns.push_back(dorm::detail::make_node<Col>(sel.alias, &f));
    for (const auto& e : model_columns) exprs.push_back(e.get());
    for (const auto& e : q.group_by) exprs.push_back(e.get());
    auto items = select_items(q);
    for (const auto& item : items) exprs.push_back(item.expr.get());
    // An ordering by a selected column's alias (dates()) is grouped by through that column, as Django skips refs.
    for (const auto& o : order_by)
        if (o.expr && !dynamic_cast<const SelectRef*>(o.expr.get())) exprs.push_back(o.expr.get());
    // Django's having.get_group_by_cols(): the plain columns of HAVING's conditions are grouped by too (a
    // condition and an aggregate are not; an expression holding an aggregate is looked into).
    auto having = [&](auto& self, const Expression* e) -> void {
        if (!e || e->is_aggregate()) return;
        if (!e->contains_aggregate() && !dynamic_cast<const WhereNode*>(e) && !dynamic_cast<const lookups::Lookup*>(e))
            return exprs.push_back(e);
        std::vector<const Expression*> kids;
        e->sources(kids);
        for (const auto* k : kids) self(self, k);
    };
    having(having, q.having.get());
    // Django's Window.get_group_by_cols(): a window is grouped by through its partition and ordering, never itself.
    std::vector<const Expression*> grouped;
    auto expand = [&](auto& self, const Expression* e) -> void {
        if (!e->contains_over_clause()) return grouped.push_back(e);
        std::vector<const Expression*> kids;
        if (const auto* w = dynamic_cast<const Window*>(e)) w->group_by_sources(kids);
        else e->sources(kids);
        for (const auto* k : kids)
            if (k) self(self, k);
    };
    for (const auto* e : exprs) expand(expand, e);
    // Django's get_group_by_cols(): an expression holding an aggregate is grouped by through its other sources
    // (F("n") + F("rating") by the rating), an aggregate never.
    for (std::size_t i = 0; i < grouped.size(); ++i) {
        const Expression* e = grouped[i];
        if (e->is_aggregate() || !e->contains_aggregate()) continue;
        grouped[i] = nullptr;
        std::vector<const Expression*> kids;
        e->sources(kids);
        for (const auto* k : kids)
            if (k) grouped.push_back(k);
    }
    std::vector<std::pair<std::string, std::vector<Value>>> seen;
    bool any = false;
    for (const auto* e : grouped) {
        if (!e || e->contains_aggregate() || e->is_constant() || !e->is_grouped()) continue;
        auto key = expression_key(c, *e);
        if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
        c << (any ? ", " : " GROUP BY ");
        any = true;
        if (auto position = selected_position(c, *e, key)) c << std::to_string(position);
        else c.compile(*e);
        seen.push_back(std::move(key));
    }
    return condition_clause(c, " HAVING ", q.having.get());
}

DORM_DECL std::pair<std::string, std::vector<Value>> expression_key(const Compiler& c, const Expression& e) {
    Compiler scratch(c.dialect);
    scratch.scopes = c.scopes;
    scratch.compile(e);
    return {std::move(scratch.sql), std::move(scratch.params)};
}

DORM_DECL std::size_t selected_position(const Compiler& c, const Expression& e,
                                        const std::pair<std::string, std::vector<Value>>& key) {
    if (key.second.empty() || c.substitutions) return 0;  // without parameters, the expression itself is clearer
    for (const auto& [selected, position] : c.selected)
        if (selected == &e || expression_key(c, *selected) == key) return position;
    return 0;
}

DORM_DECL void order_by_clause(Compiler& c, std::span<const OrderBy> terms, bool grouped) {
    if (terms.empty()) return;
    c << " ORDER BY ";
    for (std::size_t i = 0; i < terms.size(); ++i) {
        if (i) c << ", ";
        if (!terms[i].expr) {
            c << c.dialect.random_function();
            continue;
        }
        // An aggregate may be written again (it is not compared with the GROUP BY); a grouped expression may not.
        const Expression& e = *terms[i].expr;
        std::size_t position = grouped && !e.contains_aggregate() ? selected_position(c, e, expression_key(c, e)) : 0;
        if (position) c << std::to_string(position);
        else c.compile(e);
        c << (terms[i].descending ? " DESC" : " ASC");
        if (terms[i].nulls_first) c << " NULLS FIRST";
        if (terms[i].nulls_last) c << " NULLS LAST";
    }
}

DORM_DECL void limit_clause(Compiler& c, const Query& q) {
    if (!q.is_sliced()) return;
    std::optional<std::int64_t> limit;
    if (q.high) limit = *q.high - q.low;
    c.dialect.limit_offset(c.sql, limit, q.low);
}

DORM_DECL Query ordered_query(const Query& q) {
    Query out = q;
    if (uses_default_ordering(q))
        for (const auto& name : q.model->ordering) resolve_orderings(out, name, out.order_by);
    if (!out.standard_ordering)
        for (auto& t : out.order_by) {
            t.descending = !t.descending;
            std::swap(t.nulls_first, t.nulls_last);
        }
    return out;
}

DORM_DECL void lock_clause(Compiler& c, const Query& q) {
    if (!q.lock || !c.dialect.has_select_for_update()) return;
    // of: "self" or a relation select_related() follows, each locked by the alias of its table (Django checks
    // them here too, where the joins are known).
    std::vector<std::string> of;
    for (const auto& name : q.lock->of) {
        const std::string* alias = name == "self" ? &q.alias() : nullptr;
        for (const auto& sel : q.select_related)
            if (!alias && sel.stored_as.empty() && sel.path == name) alias = &sel.alias;
        if (!alias) {
            std::string choices = "self";
            for (const auto& sel : q.select_related)
                if (sel.stored_as.empty()) choices += ", " + sel.path;
            throw FieldError(fmt::format("dorm: Invalid field name(s) given in select_for_update(of=(...)): {}. Only "
                                         "relational fields followed in the query are allowed. Choices are: {}.",
                                         name, choices));
        }
        std::string quoted;
        c.dialect.quote_name(quoted, *alias);
        of.push_back(std::move(quoted));
    }
    c.dialect.for_update(c.sql, *q.lock, of);
}

DORM_DECL QueryScope::QueryScope(Compiler& c, const Query& q) : c_(c) {
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

DORM_DECL std::vector<std::string> select_names(const Query& q) {
    std::vector<std::string> names;
    if (!q.values_mode)
        for (std::size_t i = 0; i < q.model->fields.size(); ++i)
            if (q.loads(i)) names.push_back(q.model->fields[i].name);
    for (const auto& item : select_items(q)) names.push_back(item.name);
    return names;
}

/// Django's WhereNode.split_having_qualify(): the parts of `e` for WHERE, HAVING and the outer query. A part
/// that must stay connected (an OR, a negated AND, an XOR) and refers to a window goes outside whole.
struct ConditionParts {
    ExprPtr where, having, qualify;
};
DORM_DECL ConditionParts split_having_qualify(const ExprPtr& e, bool negated, bool must_group_by) {
    bool over = e->contains_over_clause();
    bool aggregate = e->contains_aggregate();
    const auto* node = dynamic_cast<const WhereNode*>(e.get());
    if (!node) {
        if (over) return {nullptr, nullptr, e};
        if (aggregate) return {nullptr, e, nullptr};
        return {e, nullptr, nullptr};
    }
    if (!over && !aggregate) return {e, nullptr, nullptr};
    bool in_negated = negated != node->negated;
    bool connected = (in_negated && node->connector == Connector::and_) ||
                     (!in_negated && node->connector == Connector::or_) || node->connector == Connector::xor_;
    if (connected && aggregate && !over) return {nullptr, e, nullptr};
    ExprList where, having, qualify;
    for (const auto& child : node->children) {
        auto parts = split_having_qualify(child, in_negated, must_group_by);
        if (parts.where) where.push_back(std::move(parts.where));
        if (parts.having) having.push_back(std::move(parts.having));
        if (parts.qualify) qualify.push_back(std::move(parts.qualify));
    }
    if (connected && !qualify.empty()) {
        if (where.empty() || !must_group_by) return {nullptr, nullptr, e};
        throw NotImplementedError("dorm: Heterogeneous disjunctive predicates against window functions are not "
                                  "implemented when performing conditional aggregation.");
    }
    auto make = [&](ExprList& children) -> ExprPtr {
        if (children.empty()) return nullptr;
        auto n = dorm::detail::make_node<WhereNode>();
        n->connector = node->connector;
        n->negated = node->negated;
        n->children = std::move(children);
        return n;
    };
    return {make(where), make(having), make(qualify)};
}

DORM_DECL std::shared_ptr<const WhereNode> as_where_node(ExprPtr e) {
    if (!e) return nullptr;
    if (auto n = std::dynamic_pointer_cast<const WhereNode>(e)) return n;
    auto n = dorm::detail::make_node<WhereNode>();
    n->children.push_back(std::move(e));
    return n;
}

DORM_DECL bool reaches_out(const Query& q, int level) {
    bool found = false;
    auto walk = [&](auto& self, const Expression* e) -> void {
        if (!e || found) return;
        if (auto* o = dynamic_cast<const OuterCol*>(e); o && o->depth >= level) found = true;
        if (auto* s = dynamic_cast<const Subquery*>(e)) found = found || reaches_out(*s->query, level + 1);
        if (auto* x = dynamic_cast<const ExistsNode*>(e)) found = found || reaches_out(*x->query, level + 1);
        std::vector<const Expression*> kids;
        e->sources(kids);
        for (const auto* k : kids) self(self, k);
    };
    walk(walk, q.where.get());
    walk(walk, q.having.get());
    walk(walk, q.qualify.get());
    for (const auto& a : q.annotations) walk(walk, a.expr.get());
    for (const auto& v : q.values) walk(walk, v.expr.get());
    for (const auto& o : q.order_by) walk(walk, o.expr.get());
    return found;
}

DORM_DECL QualifyPlan plan_qualify(const Query& q, bool with_ordering) {
    QualifyPlan plan;
    plan.inner = q;
    plan.inner.qualify = nullptr;
    auto parts = split_having_qualify(q.qualify, false, q.grouping != Grouping::none);
    if (parts.where) and_into(plan.inner.where, std::move(parts.where));
    if (parts.having) and_into(plan.inner.having, std::move(parts.having));
    plan.condition = as_where_node(std::move(parts.qualify));
    if (!plan.condition) return plan;
    // Slices and ordering apply to the filtered rows, outside; DISTINCT ON picks its rows by its ORDER BY inside.
    plan.inner.low = 0;
    plan.inner.high.reset();
    plan.inner_ordering = with_ordering && !q.distinct_fields.empty();
    if (!plan.inner_ordering) {
        plan.inner.order_by.clear();
        plan.inner.default_ordering = false;
    }
    bool grouped = q.grouping != Grouping::none;
    // Everything the outer query refers to becomes a column of the inner one. Selected annotations are not
    // reused, since what the inner query selects depends on its caller (a subquery selects one column).
    auto column = [&](const Expression* e) {
        for (const auto& r : plan.refs)
            if (r.first == e) return;
        std::string name = "__qual" + std::to_string(plan.extras.size());
        ExprPtr unowned(ExprPtr(), e);  // owned by `q`, which outlives the plan
        plan.extras.push_back(SelectItem{name, unowned});
        plan.refs.emplace_back(e, std::move(name));
        if (grouped) plan.inner.group_by.push_back(unowned);  // as an annotation of the inner query would be
    };
    auto collect = [&](auto& self, const Expression* e) -> void {
        if (!e) return;
        if (dynamic_cast<const WhereNode*>(e) || dynamic_cast<const lookups::Lookup*>(e)) {
            std::vector<const Expression*> kids;
            e->sources(kids);
            for (const auto* k : kids) self(self, k);
            // A custom lookup on a transform also writes the transform's argument ({arg}).
            if (const auto* l = dynamic_cast<const lookups::Lookup*>(e); l && l->custom)
                if (const auto* t = dynamic_cast<const lookups::CustomTransformExpr*>(l->lhs.get())) self(self, t->arg.get());
            return;
        }
        if (e->is_constant()) return;  // a bound value is written where it is
        // A subquery that refers to no query around it (at any depth) is written where it is too.
        if (const auto* sub = dynamic_cast<const Subquery*>(e); sub && !reaches_out(*sub->query)) return;
        if (const auto* ex = dynamic_cast<const ExistsNode*>(e); ex && !reaches_out(*ex->query)) return;
        column(e);
    };
    collect(collect, plan.condition.get());
    if (with_ordering)
        for (const auto& term : q.order_by) {
            OrderBy outer = term;
            if (const auto* ref = term.expr ? dynamic_cast<const SelectRef*>(term.expr.get()) : nullptr) {
                // dates(): the selected column of that name
                for (const auto& item : select_items(q))
                    if (item.name == ref->name) outer.expr = item.expr;
            }
            if (outer.expr) column(outer.expr.get());
            plan.order_by.push_back(std::move(outer));
        }
    return plan;
}

DORM_DECL bool qualify_body(Compiler& c, const Query& src, bool with_ordering, ColumnsRef columns) {
    QualifyPlan plan = plan_qualify(src, with_ordering);
    if (!plan.condition) return select_body(c, plan.inner, with_ordering, columns);
    Compiler inner(c.dialect, c.inlines_params());
    inner.params = c.params;
    inner.scopes = c.scopes;
    std::vector<std::string> names;
    std::size_t own = 0;
    auto inner_columns = [&](Compiler& cc, const Query& qq) {
        ColumnNamesScope naming(cc, &names);
        columns(cc, qq);
        own = names.size();
        for (const auto& extra : plan.extras) {
            cc << ", ";
            select_item(cc, extra);
        }
    };
    if (!select_body(inner, plan.inner, plan.inner_ordering, ColumnsRef(inner_columns))) return false;
    c.params = std::move(inner.params);
    c << "SELECT ";
    if (own == 0) c << "*";  // EXISTS(SELECT 1 ...): what it selects does not matter
    for (std::size_t i = 0; i < own; ++i) {
        if (i) c << ", ";
        c.quote(names[i]);
    }
    c << " FROM (";
    c.sql += inner.sql;
    c << ") ";
    c.quote("qualify");
    auto* saved = std::exchange(c.substitutions, &plan.refs);
    struct Restore {
        Compiler& c;
        const std::vector<std::pair<const Expression*, std::string>>* saved;
        ~Restore() { c.substitutions = saved; }
    } restore{c, saved};
    if (!condition_clause(c, " WHERE ", plan.condition.get())) return false;
    order_by_clause(c, plan.order_by);
    limit_clause(c, src);
    return true;
}

DORM_DECL bool compound_body(Compiler& c, const Query& q, bool with_ordering) {
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
            const bool reversed = !q.standard_ordering;
            c << (q.order_by[i].descending != reversed ? " DESC" : " ASC");
            if (reversed ? q.order_by[i].nulls_last : q.order_by[i].nulls_first) c << " NULLS FIRST";
            if (reversed ? q.order_by[i].nulls_first : q.order_by[i].nulls_last) c << " NULLS LAST";
        }
    }
    limit_clause(c, q);
    return true;
}
}  // namespace dorm::sql::detail

namespace dorm::sql {

DORM_DECL OrderBy resolve_compound_ordering(const Query& q, std::string_view name, bool descending) {
    if (name.starts_with('-')) {
        descending = !descending;
        name.remove_prefix(1);
    }
    if (name == "pk") name = q.model->pk_field().name;
    return OrderBy{nullptr, descending, false, false, std::string(name)};
}
}  // namespace dorm::sql

namespace dorm::sql::detail {

DORM_DECL void pk_column(Compiler& c, const Query& q) {
    c.quote_alias(q.alias());
    c << ".";
    c.quote(q.model->pk_field().column);
    c.column_alias();
}

DORM_DECL bool where_names_rows(const Query& q) {
    // HAVING (an aggregate's condition) and QUALIFY (a window's) are not part of the WHERE, nor is a join's table.
    return q.joins.empty() && !q.qualify && !q.having && q.grouping == Grouping::none;
}

DORM_DECL void check_rows_are_objects(const Query& q) {
    // values().annotate(): a row is a group of objects, and no key names it (Django's SQL picks one of each group
    // on SQLite and is refused by PostgreSQL).
    if (q.grouping == Grouping::listed)
        throw NotSupportedError("dorm: update(), delete_() and bulk_update() of a values().annotate() QuerySet are "
                                "not supported: its rows are groups of objects");
}

DORM_DECL Query pk_query(const Query& q) {
    check_rows_are_objects(q);
    Query out;
    if (q.having || q.grouping != Grouping::none) {  // the grouping decides which rows: it stays, in a subquery
        auto inner = dorm::detail::make_node<Query>(q);
        clear_ordering(*inner);
        inner->values_mode = false;  // it selects the key
        inner->values.clear();
        inner->distinct = false;
        inner->distinct_fields.clear();
        out.model = q.model;
        out.db = q.db;
        auto in = dorm::detail::make_node<lookups::Lookup>();
        in->lhs = dorm::detail::make_node<Col>(out.alias(), &out.model->pk_field());
        in->def = lookups::find("in");
        in->rhs = dorm::detail::make_node<Subquery>(std::shared_ptr<const Query>(std::move(inner)));
        add_where(out, std::move(in));
    } else {
        out = q;
        clear_ordering(out);
        out.annotations.clear();
    }
    out.values_mode = true;
    out.values = {SelectItem{"pk", dorm::detail::make_node<Col>(out.alias(), &out.model->pk_field())}};
    return out;
}

DORM_DECL bool where_pk_in_subquery(Compiler& c, const Query& q) {
    check_rows_are_objects(q);
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

DORM_DECL Compiled finish(Compiler& c, bool ok) {
    Compiled out;
    out.nothing = !ok;
    out.sql = std::move(c.sql);
    out.params = std::move(c.params);
    return out;
}

DORM_DECL void subquery_column(Compiler& c, const Query& q) {
    auto items = select_items(q);
    if (!q.values_mode) return pk_column(c, q);
    if (items.size() != 1)
        throw FieldError(fmt::format("dorm: A subquery used as a value must select one column, not {}", items.size()));
    c.compile(*items[0].expr);
    c.column_alias();
}
}  // namespace dorm::sql::detail

namespace dorm::sql {

DORM_DECL Match Subquery:: as_sql(Compiler& c) const {
    auto sql_size = c.sql.size();
    auto params_size = c.params.size();
    c << "(";
    if (!detail::select_body(c, *query, query->is_sliced(), detail::subquery_column)) {
        // select_body() wrote part of the statement before it found the query matches nothing: drop it.
        c.sql.resize(sql_size);
        c.params.resize(params_size);
        if (!scalar) return Match::nothing;
        c << "(SELECT NULL";  // a scalar subquery over nothing is NULL
    }
    c << ")";
    return Match::some;
}

DORM_DECL std::optional<FieldKind> Subquery:: output_kind() const {
    auto items = detail::select_items(*query);
    if (!query->values_mode) return query->model->pk_field().kind;
    if (items.size() != 1) return std::nullopt;
    return items[0].expr->output_kind();
}

DORM_DECL Match ExistsNode:: as_sql(Compiler& c) const {
    Query one = *query;
    one.order_by.clear();
    one.default_ordering = false;
    if (!one.is_sliced()) one.set_limits(std::nullopt, 1);
    c << "EXISTS(";
    if (!detail::select_body(c, one, false, [](Compiler& cc, const Query&) { cc << "1"; })) return Match::nothing;
    c << ")";
    return Match::some;
}

DORM_DECL Match OuterCol:: as_sql(Compiler& c) const {
    if (c.scopes.size() < static_cast<std::size_t>(depth) + 1)
        throw ValueError("dorm: This queryset contains a reference to an outer query and may only be used in a subquery.");
    // Written as the enclosing query writes its columns; the joins it needs were added when the subquery was resolved.
    std::vector<Compiler::Scope> inner(std::make_move_iterator(c.scopes.end() - depth), std::make_move_iterator(c.scopes.end()));
    c.scopes.resize(c.scopes.size() - static_cast<std::size_t>(depth));
    struct Restore {  // the scopes come back even if the path does not resolve
        Compiler& c;
        std::vector<Compiler::Scope>& inner;
        ~Restore() {
            for (auto& s : inner) c.scopes.push_back(std::move(s));
        }
    } restore{c, inner};
    if (field) {
        c.compile(Col(alias, field));
        return Match::some;
    }
    Query outer = *c.scopes.back().query;
    auto lhs = resolve_path(outer, path, false).lhs;
    c.compile(*lhs);
    return Match::some;
}

DORM_DECL Compiled compile_select(const Query& q, const backends::Dialect& d, bool inline_params) {
    Compiler c(d, inline_params);
    bool ok = detail::select_body(c, q, true);
    if (ok) detail::lock_clause(c, q);
    return detail::finish(c, ok);
}

DORM_DECL Compiled compile_count(const Query& q, const backends::Dialect& d) {
    if (std::any_of(q.joins.begin(), q.joins.end(), [](const Join& j) { return j.for_ordering; })) {
        Query counted = q;  // a row per object, not per related row the ordering would join
        detail::clear_ordering(counted);
        if (counted.joins.size() != q.joins.size()) return compile_count(counted, d);
    }
    Compiler c(d);
    bool ok;
    if (q.distinct || q.is_sliced() || q.grouping != Grouping::none || !q.combinator.empty() || q.qualify) {
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

DORM_DECL Compiled compile_exists(const Query& q, const backends::Dialect& d) {
    Compiler c(d);
    // Django's exists(): clear_ordering(force=True), a slice's too. No ordering changes whether a row exists, and
    // the joins one made would repeat rows (a slice past the objects' number found rows).
    Query one = q;
    detail::clear_ordering(one, true);
    bool ok;
    if ((q.distinct && q.is_sliced()) || q.grouping != Grouping::none || !q.combinator.empty() || q.qualify) {
        c << "SELECT 1 AS ";
        c.quote("a");
        c << " FROM (";
        ok = detail::select_body(c, one, q.is_sliced());
        c << ") subquery";
        c.dialect.limit_offset(c.sql, 1, 0);
    } else {
        one.set_limits(std::nullopt, 1);
        c << "SELECT 1 AS ";
        c.quote("a");
        detail::QueryScope scope(c, one);
        detail::from_clause(c, one);
        ok = detail::where_clause(c, one);
        if (ok) detail::limit_clause(c, one);  // row order cannot change whether a slice has a row
    }
    return detail::finish(c, ok && !one.empty);
}

DORM_DECL std::optional<Value> empty_result_value(const Expression& e) {
    if (const auto* p = dynamic_cast<const Param*>(&e)) return p->value;
    if (const auto* a = dynamic_cast<const Aggregate*>(&e)) {
        if (a->function == "COUNT") return Value(std::int64_t{0});
        if (!a->fallback) return Value();
        return empty_result_value(*a->fallback);
    }
    if (const auto* f = dynamic_cast<const Func*>(&e); f && f->name == "COALESCE") {
        for (const auto& arg : f->args) {
            auto v = empty_result_value(*arg);
            if (!v || !v->is_null()) return v;
        }
        return Value();
    }
    return std::nullopt;
}

DORM_DECL Compiled compile_aggregate_over_nothing(Query q, const backends::Dialect& d,
                                                  const std::vector<SelectItem>& aggregates) {
    auto none = dorm::detail::make_node<WhereNode>();
    none->children.push_back(dorm::detail::make_node<RawExpr>("0 = 1", std::vector<Value>{}, FieldKind::boolean));
    q.where = std::move(none);
    q.empty = false;
    return compile_aggregate(q, d, aggregates);
}

DORM_DECL Compiled compile_aggregate(const Query& q, const backends::Dialect& d, const std::vector<SelectItem>& aggregates) {
    Compiler c(d);
    bool wrap = q.grouping != Grouping::none || q.distinct || q.is_sliced() || !q.combinator.empty() || q.qualify;
    // An aggregate over a window's result (an annotation's name): the window is computed in the inner query,
    // as no database computes one inside an aggregate.
    for (const auto& a : aggregates) wrap = wrap || a.expr->contains_over_clause();
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
    // An argument that is a column the inner query selects already (Sum("n") of an annotation or values() name) is
    // read by its name, as Django's Ref: a copy would bind its parameters again, and PostgreSQL would not see it
    // grouped.
    const auto selected = detail::select_items(q);
    auto column = [&](const ExprPtr& e) -> ExprPtr {
        for (const auto& item : selected)
            if (item.expr == e && !item.name.empty())
                return dorm::detail::make_node<AliasCol>("subquery", item.name, e->output_kind());
        std::string name = "__col" + std::to_string(inner_extra.size() + 1);
        inner_extra.push_back(SelectItem{name, e});
        return dorm::detail::make_node<AliasCol>("subquery", name, e->output_kind());
    };
    for (const auto& item : aggregates) {
        auto* agg = dynamic_cast<const Aggregate*>(item.expr.get());
        if (!agg) throw TypeError(fmt::format("dorm: {} is not an aggregate expression", item.name));
        auto moved = dorm::detail::make_node<Aggregate>(*agg);
        for (auto& a : moved->args) a = column(a);
        if (moved->filter) moved->filter = column(moved->filter);
        for (auto& o : moved->ordering) o.first = column(o.first);
        outer.push_back(SelectItem{item.name, moved});
    }
    write_outer(outer);
    // Django's get_group_by(): a grouped inner query groups by every column it selects, so by the columns of the
    // aggregates' arguments too (values("blog").annotate(n=Count("id")).aggregate(Sum("rating")) sums per
    // (blog, rating) group; not grouped, PostgreSQL refuses the column and SQLite reads any row's). Django selects
    // the columns alone (_gen_cols()): Sum(Length("headline")) is grouped by the headline, not its length; but an
    // annotation or values() expression named by the aggregate (a Ref there, which _gen_cols() leaves whole) is
    // grouped by whole. An aggregate is grouped by nothing, a constant neither.
    Query inner = q;
    if (q.grouping != Grouping::none) {
        std::vector<const Expression*> named;
        for (const auto& a : q.annotations) named.push_back(a.expr.get());
        for (const auto& v : q.values) named.push_back(v.expr.get());
        auto group = [&](auto& self, const ExprPtr& owner, const Expression* e) -> void {
            if (!e || e->is_aggregate() || e->is_constant()) return;
            std::vector<const Expression*> kids;
            e->sources(kids);
            const bool whole = !e->contains_aggregate() && std::find(named.begin(), named.end(), e) != named.end();
            if (kids.empty() || whole) return inner.group_by.push_back(ExprPtr(owner, e));  // owned by `owner`
            for (const auto* k : kids) self(self, owner, k);
        };
        for (const auto& extra : inner_extra) group(group, extra.expr, extra.expr.get());
    }
    c << " FROM (";
    bool ok = detail::select_body(c, inner, q.is_sliced(), [&](Compiler& cc, const Query& qq) {
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
        // A sliced DISTINCT keeps its ordering, whose columns are then part of what is distinct (as selected).
        if (q.is_sliced()) detail::distinct_ordering_columns(cc, qq);
    });
    c << ") subquery";
    return detail::finish(c, ok);
}

DORM_DECL Compiled compile_update(const Query& q, const backends::Dialect& d, const std::vector<std::pair<const FieldMeta*, ExprPtr>>& sets) {
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
    // Joins, a window or an aggregate to filter on need a query of their own: the rows are named by primary key.
    bool ok = detail::where_names_rows(q) ? detail::where_clause(c, q) : detail::where_pk_in_subquery(c, q);
    return detail::finish(c, ok);
}

DORM_DECL Compiled compile_delete(const Query& q, const backends::Dialect& d) {
    Compiler c(d);
    c << "DELETE FROM ";
    c.quote(q.model->db_table);
    detail::QueryScope scope(c, q);
    // Joins, a window or an aggregate to filter on need a query of their own: the rows are named by primary key.
    bool ok = detail::where_names_rows(q) ? detail::where_clause(c, q) : detail::where_pk_in_subquery(c, q);
    return detail::finish(c, ok);
}

DORM_DECL Compiled compile_insert(const ModelMeta& m, const backends::Dialect& d, const std::vector<const FieldMeta*>& fields, std::span<const Value> rows, bool returning_pk, const OnConflict& conflict) {
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

namespace dorm::sql {
DORM_DEFAULT_VALUE_MEMBERS(Query);
}  // namespace dorm::sql

namespace dorm::sql::detail {

DORM_DECL Query batch_query(const Query& base, const std::string& path, const std::vector<Value>& keys, std::size_t from,
                            std::size_t batch) {
    Query q = base;
    dorm::detail::Operand in;
    in.kind = dorm::detail::Operand::Kind::list;
    in.list.assign(keys.begin() + static_cast<std::ptrdiff_t>(from),
                   keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), from + batch)));
    add_where(q, build_lookup(q, path, in, false));
    return q;
}

DORM_DECL Query batch_query(const Query& base, const ExprPtr& lhs, const std::vector<Value>& keys, std::size_t from,
                            std::size_t batch) {
    Query q = base;
    auto in = dorm::detail::make_node<lookups::Lookup>();
    in->lhs = lhs;
    in->def = lookups::find("in");
    in->list.assign(keys.begin() + static_cast<std::ptrdiff_t>(from),
                    keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), from + batch)));
    add_where(q, in);
    return q;
}

}  // namespace dorm::sql::detail
