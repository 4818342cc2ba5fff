// SPDX-License-Identifier: MIT
// Definitions for <dorm/query_set.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/query_set.hpp>

#include <algorithm>
#include <cctype>

namespace dorm::detail {

DORM_DECL void check_init_kwargs(const ModelMeta& meta, const Kwargs& kwargs) {
    std::string unexpected;
    for (const auto& kw : kwargs)
        if (!meta.find_field(kw.name) && !meta.find_many_to_many(kw.name))
            unexpected += fmt::format("{}'{}'", unexpected.empty() ? "" : ", ", kw.name);
    if (!unexpected.empty())
        throw TypeError(fmt::format("dorm: {}() got unexpected keyword arguments: {}", meta.name, unexpected));
}

DORM_DECL void assign_kwargs(const ModelMeta& meta, void* obj, const Kwargs& kwargs, bool skip_lookups) {
    for (const auto& kw : kwargs) {
        if (skip_lookups && kw.name.find("__") != std::string::npos) continue;
        const FieldMeta* f = meta.find_field(kw.name);
        if (!f && meta.find_many_to_many(kw.name))
            throw TypeError(fmt::format("dorm: Direct assignment to a many-to-many set is prohibited. Use "
                                        "dorm::related<&{}::{}>(obj).set() instead.", meta.name, kw.name));
        if (!f)
            throw FieldError(fmt::format("dorm: {} has no field named '{}'. Choices are: {}", meta.name, kw.name,
                                         meta.choices()));
        if (kw.value.kind != Operand::Kind::value)
            throw TypeError(fmt::format("dorm: field '{}' takes one value, not a list", f->name));
        if (!kw.value.instance_of.empty() && !f->is_relation())
            throw TypeError(fmt::format("dorm: Field '{}' expected a value but got a {} instance.", f->name,
                                        kw.value.instance_of));
        if (kw.value.value.is_null() && !f->nullable)
            throw IntegrityError(fmt::format("dorm: NOT NULL constraint: {}.{} cannot be None", meta.name, f->name));
        sql::detail::check_value(*f, kw.value.value);
        f->set(obj, kw.value.value);
    }
}

DORM_DECL UpdateSets update_sets(sql::Query& q, const Kwargs& kwargs) {
    const auto& meta = *q.model;
    for (const auto& o : q.order_by)  // Django's update(): the ordering is inlined where it can be, never an aggregate
        if (o.expr && o.expr->contains_aggregate())
            throw FieldError("dorm: Cannot update when ordering by an aggregate.");
    // Whether `e` reads a column of another table than the model's own (an annotation across a relation).
    auto joined = [&](auto& self, const sql::Expression& e) -> bool {
        if (const auto* col = dynamic_cast<const sql::Col*>(&e)) return col->alias != q.alias();
        std::vector<const sql::Expression*> kids;
        e.sources(kids);
        return std::any_of(kids.begin(), kids.end(), [&](const sql::Expression* k) { return k && self(self, *k); });
    };
    UpdateSets sets;
    for (const auto& kw : kwargs) {
        const FieldMeta* f = meta.find_field(kw.name);
        if (!f && meta.find_many_to_many(kw.name))  // Django's add_update_values()
            throw FieldError(fmt::format("dorm: Cannot update model field '{}' (only non-relations and foreign "
                                         "keys permitted).", kw.name));
        if (!f || kw.name.find("__") != std::string::npos)  // Django's get_field()
            throw FieldDoesNotExist(fmt::format("dorm: {} has no field named '{}'. Choices are: {}", meta.name,
                                                kw.name, meta.choices()));
        if (kw.value.kind == Operand::Kind::expression) {
            // Applied in SQL (no read-modify-write); joined references are refused, as in Django.
            auto e = sql::resolve_expression(q, *kw.value.expression, false);
            if (e->contains_over_clause())  // Django's SQLUpdateCompiler: no database takes one in SET
                throw FieldError(fmt::format("dorm: Window expressions are not allowed in this query ({}=...).", kw.name));
            if (e->contains_aggregate())  // Django's SQLUpdateCompiler
                throw FieldError(fmt::format("dorm: Aggregate functions are not allowed in this query ({}=...).", kw.name));
            if (joined(joined, *e))  // through an annotation: Django's resolve_ref() with allow_joins=False
                throw FieldError("dorm: Joined field references are not permitted in this query");
            sets.emplace_back(f, std::move(e));
            continue;
        }
        if (kw.value.kind != Operand::Kind::value)
            throw TypeError(fmt::format("dorm: field '{}' takes one value or an F() expression", f->name));
        if (!kw.value.instance_of.empty() && !f->is_relation())  // Django's SQLUpdateCompiler
            throw TypeError(fmt::format("dorm: Tried to update field {}.{} with a model instance of {}. Use a value "
                                        "compatible with it.", meta.name, f->name, kw.value.instance_of));
        // None for a NOT NULL column is the database's IntegrityError, raised only when a row is matched: Django
        // updates no rows, and returns 0, without complaint.
        sql::detail::check_value(*f, kw.value.value);
        sets.emplace_back(f, dorm::detail::make_node<sql::Param>(kw.value.value));
    }
    return sets;  // none: update() changes nothing and returns 0 (Django's empty UPDATE is an EmptyResultSet)
}

DORM_DECL std::int64_t run_update(const sql::Query& q, backends::Connection& conn, const UpdateSets& sets,
                                  const Kwargs& kwargs) {
    if (sets.empty()) return 0;
    for (const auto& [f, e] : sets)
        if (const auto* p = dynamic_cast<const sql::Param*>(e.get()); p && f->kind == FieldKind::text)
            check_storable(conn.dialect(), *f, p->value);
    const backends::Dialect& dialect = conn.dialect();
    // A shape of its own per list of field names and the structure of each expression (F("n") + 1); the values,
    // plain ones and those inside expressions, are bound to it.
    std::string names;
    std::vector<const Value*> values;
    values.reserve(kwargs.size());
    for (const auto& kw : kwargs) {
        names += kw.name;
        names += '\0';
        if (kw.value.kind == Operand::Kind::value) {
            values.push_back(&kw.value.value);
        } else if (!expression_shape(*kw.value.expression, names, values)) {  // no shape: compiled each time
            auto c = sql::compile_update(q, dialect, sets);
            return c.nothing ? 0 : conn.execute(c.sql, c.params);
        }
    }
    auto build = [&](const sql::Query& source, std::span<const Value> extra) {
        if (&source == &q) return sql::compile_update(q, dialect, sets);
        Kwargs changed = kwargs;  // learning the shape: the query and the values, changed
        std::size_t next = 0;
        for (auto& kw : changed) {
            if (kw.value.kind != Operand::Kind::value) kw.value.expression = with_values(*kw.value.expression, extra, next);
            else if (next < extra.size()) kw.value.value = extra[next++];
            else throw NotSupportedError("dorm: an update's values do not match its shape");
        }
        if (next != extra.size()) throw NotSupportedError("dorm: an update's values do not match its shape");
        sql::Query other = source;
        auto other_sets = update_sets(other, changed);
        return sql::compile_update(other, dialect, other_sets);
    };
    ShapedStatement st;
    shaped_statement(q, 'u', names, conn, shape_build(build), st, values);
    return st.sql ? conn.execute(*st.sql, st.params) : 0;
}

DORM_DECL std::shared_ptr<const sql::Query> all_using(const std::shared_ptr<const sql::Query>& all,
                                                      std::string_view alias) {
    struct Kept {
        const sql::Query* all;
        std::shared_ptr<const sql::Query> query;
    };
    thread_local std::vector<Kept> kept;  // a few models and aliases: a short list
    // A call records the custom lookups' generation (calls of two generations make no shape): a query made before
    // a lookup was registered is not handed out after.
    const std::uint64_t generation = lookups::custom_generation();
    for (Kept& k : kept)
        if (k.all == all.get() && *k.query->db == alias) {
            if (k.query->recipe->generation == generation) return k.query;
            k = kept.back();
            kept.pop_back();
            break;
        }
    auto q = dorm::detail::make_node<sql::Query>(*all);
    q->db = intern_alias(alias);
    q->recipe = record(all->recipe, [&] { return recipe::Using{std::string(alias)}; });
    std::shared_ptr<const sql::Query> made = std::move(q);
    if (kept.size() < 64) kept.push_back({all.get(), made});
    return made;
}

DORM_DECL std::string get_error(std::string_view model, std::int64_t n, bool sliced, std::int64_t limit) {
    if (n == 0) return fmt::format("dorm: {} matching query does not exist.", model);
    return fmt::format("dorm: get() returned more than one {} -- it returned {}!", model,
                       sliced || n < limit ? std::to_string(n) : fmt::format("more than {}", limit - 1));
}

DORM_DECL void add_annotations(sql::Query& q, const std::vector<NamedExpr>& items, bool selected,
                               std::string_view what) {
    for (const auto& item : items) {
        if (!item.expr)
            throw TypeError(fmt::format("dorm: '{}' needs an expression after it (annotate(\"name\", expression))", item.name));
        std::string name = item.name.empty() ? default_alias(*item.expr, what) : item.name;
        check_alias(name);
        if (q.model->find_field(name))
            throw ValueError(fmt::format("dorm: The annotation '{}' conflicts with a field on the model.", name));
        if (item.expr->node()->kind == ExprNode::Kind::filtered_relation) {  // a join, not a value
            const auto& n = *item.expr->node();
            if (item.name.empty()) throw TypeError("dorm: FilteredRelation needs a name: annotate(\"name\", FilteredRelation(...))");
            auto prefix = sql::detail::split_path(n.name)[0];
            sql::detail::for_each_leaf(*n.filter, [&](std::string_view path) {
                if (sql::detail::split_path(path)[0] != prefix)
                    throw ValueError(fmt::format("dorm: FilteredRelation's condition doesn't support relations outside "
                                                 "the '{}' (got '{}').", n.name, path));
            });
            q.filtered_relations.push_back(sql::FilteredRelationSpec{name, n.name, n.filter});
            continue;
        }
        auto e = sql::resolve_expression(q, *item.expr->node());
        std::vector<const sql::Expression*> args;
        const auto* agg = dynamic_cast<const sql::Aggregate*>(e.get());
        if (const auto* w = dynamic_cast<const sql::Window*>(e.get())) agg = dynamic_cast<const sql::Aggregate*>(w->source.get());
        if (agg) agg->sources(args);
        for (const auto* a : args) {
            if (a->contains_aggregate())
                throw FieldError(fmt::format("dorm: Cannot compute {}(...) over an aggregate in annotate() ('{}')",
                                             agg->label, name));
            // SQL computes windows after aggregates: aggregate() can (in an outer query), annotate() cannot.
            if (a->contains_over_clause())
                throw FieldError(fmt::format("dorm: Cannot compute {}(...) over a window expression in annotate() "
                                             "('{}'); aggregate() can", agg->label, name));
        }
        std::erase_if(q.annotations, [&](const sql::Annotation& a) { return a.name == name; });
        bool aggregate = e->contains_aggregate();
        q.annotations.push_back(sql::Annotation{name, std::move(e), selected});
        if (aggregate && q.values_mode) {
            // values().annotate(): one row per distinct values() combination. Django's set_group_by() runs for
            // every aggregate annotate() after values(), so annotate(Count(..)).values("blog").annotate(Sum(..))
            // groups by blog, not by every field as values() left it.
            q.grouping = sql::Grouping::listed;
            q.group_by.clear();
            for (const auto& v : q.values)
                if (!v.expr->contains_aggregate()) q.group_by.push_back(v.expr);
        } else if (aggregate && q.grouping == sql::Grouping::none) {
            q.grouping = sql::Grouping::all;
        }
    }
}

DORM_DECL void check_summarized(const sql::Query& q, const sql::Expression& e) {
    // An annotation naming another (annotate("y", F("x"))) shares its node: the node is readable when any
    // annotation holding it is selected, or is a column values() names.
    const sql::Annotation* hidden = nullptr;
    for (const auto& a : q.annotations) {
        if (a.expr.get() != &e) continue;
        const bool in_values = q.values_mode && std::any_of(q.values.begin(), q.values.end(),
                                                            [&](const sql::SelectItem& v) { return v.expr.get() == &e; });
        if (a.selected || in_values) return;  // read from the inner query, whatever it is made of
        hidden = &a;
    }
    if (hidden)
        throw FieldError(fmt::format("dorm: Cannot aggregate over the '{}' alias. Use annotate() to promote it.",
                                     hidden->name));
    std::vector<const sql::Expression*> parts;
    e.sources(parts);
    for (const sql::Expression* part : parts)
        if (part) check_summarized(q, *part);
}

DORM_DECL void check_combinable(const sql::Query& a, const sql::Query& b, sql::Connector connector) {
    if (!a.combinator.empty() || !b.combinator.empty())  // its WHERE is not what selects its rows
        throw TypeError(fmt::format("dorm: Cannot use {} operator with combined queryset.",
                                    connector == sql::Connector::and_ ? "&" : connector == sql::Connector::or_ ? "|" : "^"));
    if (a.model != b.model) throw TypeError("dorm: Cannot combine queries on two different base models.");
    if (a.is_sliced() || b.is_sliced())
        throw TypeError("dorm: Cannot combine queries once a slice has been taken.");
    if (a.distinct != b.distinct)
        throw TypeError("dorm: Cannot combine a unique query with a non-unique query.");
}

DORM_DECL void combine_where(sql::Query& q, const sql::Query& a, const sql::Query& b, sql::Connector connector) {
    // Without joins the two WHERE trees combine directly; with joins, each side becomes pk IN (subquery).
    // Conditions on windows combine as Django combines them: into one tree, split when it is written.
    bool windowed = a.qualify || b.qualify;
    auto side = [&](const sql::Query& s) -> sql::ExprPtr {
        if (s.joins.empty() && q.joins.empty()) {
            if (s.where && s.qualify) {
                auto both = dorm::detail::make_node<sql::WhereNode>();
                both->children = {s.where, s.qualify};
                return both;
            }
            if (s.where) return s.where;
            if (s.qualify) return s.qualify;
            return dorm::detail::make_node<sql::WhereNode>();  // matches everything
        }
        if (windowed)  // a window over each side's rows would not be the window over the combined rows
            throw NotSupportedError("dorm: combining QuerySets with joins is not supported when either "
                                    "filters on a window expression");
        auto in = dorm::detail::make_node<lookups::Lookup>();
        in->lhs = dorm::detail::make_node<sql::Col>(q.alias(), &q.model->pk_field());
        in->def = lookups::find("in");
        auto sub = dorm::detail::make_node<sql::Query>(s);
        sub->order_by.clear();
        sub->default_ordering = false;
        in->rhs = dorm::detail::make_node<sql::Subquery>(sub);
        return in;
    };
    auto node = dorm::detail::make_node<sql::WhereNode>();
    node->connector = connector;
    bool joined = !a.joins.empty() || !b.joins.empty();
    node->children = {side(a), side(b)};
    q.where = nullptr;
    q.qualify = nullptr;
    if (windowed) q.qualify = node;
    else q.where = node;
    if (joined) sql::detail::drop_filter_joins(q);
}

DORM_DECL void check_lock(const sql::Query& q, const backends::Connection& conn) {
    if (q.lock && conn.dialect().has_select_for_update() && conn.atomic_depth() == 0)
        throw TransactionManagementError("dorm: select_for_update cannot be used outside of a transaction.");
}

DORM_DECL void check_columns(const backends::Cursor& cursor, std::size_t expected) {
    if (cursor.columns() < expected)
        throw ProgrammingError(fmt::format("dorm: query returned {} columns where {} were selected", cursor.columns(),
                                           expected));
}

DORM_DECL void push_name(std::vector<ArgItem>& out, std::string_view name) { out.emplace_back(std::string(name)); }
DORM_DECL void push_expression(std::vector<ArgItem>& out, Expression e) { out.emplace_back(std::move(e)); }
DORM_DECL void push_condition(std::vector<ArgItem>& out, const Q& q) { out.emplace_back(condition_expression(q)); }

DORM_DECL std::vector<NamedExpr> pair_names(const std::vector<ArgItem>& items) {
    std::vector<NamedExpr> out;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (auto* e = std::get_if<Expression>(&items[i])) {
            out.push_back(NamedExpr{{}, *e});
            continue;
        }
        auto& name = std::get<std::string>(items[i]);
        if (i + 1 < items.size() && std::holds_alternative<Expression>(items[i + 1])) {
            out.push_back(NamedExpr{name, std::get<Expression>(items[i + 1])});
            ++i;
        } else {
            out.push_back(NamedExpr{name, std::nullopt});
        }
    }
    return out;
}

DORM_DECL std::vector<NamedExpr> positional_list(const std::vector<ArgItem>& items) {
    std::vector<NamedExpr> out;
    std::size_t counter = 1;
    for (auto& item : items) {
        if (auto* e = std::get_if<Expression>(&item)) out.push_back(NamedExpr{positional_name(*e, counter, out), *e});
        else out.push_back(NamedExpr{std::get<std::string>(item), std::nullopt});
    }
    return out;
}

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
    // Django: the default alias, else the class name (Q's "q")
    std::string prefix = !n.label.empty() ? n.label : n.kind == ExprNode::Kind::func ? n.name : n.predicate ? "q" : "expression";
    for (auto& ch : prefix) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (;; ++counter) {
        std::string name = prefix + std::to_string(counter);
        bool used = false;
        for (const auto& t : taken) used = used || t.name == name;
        if (!used) return ++counter, name;
    }
}

DORM_DECL void check_combinator(const sql::Query& q, std::string_view method) {
    const auto& c = q.combinator;
    if (c.empty()) return;
    std::string_view op = c == "INTERSECT" ? "intersection" : c == "EXCEPT" ? "difference" : "union";
    throw NotSupportedError(fmt::format("dorm: Calling QuerySet.{}() after {}() is not supported.", method, op));
}

DORM_DECL void check_loading(const sql::Query& q, std::string_view method) {
    check_combinator(q, method);
    if (q.values_mode) throw TypeError(fmt::format("dorm: Cannot call {}() after .values() or .values_list()", method));
}

DORM_DECL std::shared_ptr<const sql::Query> emptied_query(const std::shared_ptr<const sql::Query>& q) {
    auto out = query_to_change(q, false);  // as none() makes it
    out->empty = true;
    out->recipe = record(q->recipe, [] { return recipe::None{}; });
    return out;
}

DORM_DECL std::shared_ptr<sql::Query> query_to_change(const std::shared_ptr<const sql::Query>& q, bool temporary,
                                                      bool keep_sticky) {
    std::shared_ptr<sql::Query> out;
    // use_count() == 1: no other QuerySet, subquery, union or thread holds it (no one keeps a weak_ptr to one);
    // QuerySet::take_query() gave it up only if no evaluation saw it.
    if (temporary && q.use_count() == 1) {
        // use_count() reads relaxed: what a holder that let go of it on another thread read happens before this.
        std::atomic_thread_fence(std::memory_order_acquire);
        out = std::const_pointer_cast<sql::Query>(q);
    } else {
        out = dorm::detail::make_node<sql::Query>(*q);
    }
    if (!keep_sticky)  // a filter() call right after the manager's condition reuses it (sql::next_to_sticky())
        for (auto& j : out->joins) j.sticky = false;
    return out;
}

DORM_DECL std::shared_ptr<const sql::Query> filtered_query(const std::shared_ptr<const sql::Query>& query, Q cond,
                                                           bool temporary) {
    check_combinator(*query, "filter");
    if (query->is_sliced()) throw TypeError("dorm: Cannot filter a query once a slice has been taken.");
    auto q = query_to_change(query, temporary && !cond.empty(), !cond.empty());
    if (cond.empty()) return q;  // all(): the same state, the same recipe
    // Conditions of one filter() call share their multi-valued joins; the next call gets its own.
    q->current_filter = ++q->filter_calls;
    sql::add_where(*q, sql::build_q(*q, cond));
    q->current_filter = 0;
    q->recipe = record(q->recipe, [&] { return recipe::Filter{std::move(cond)}; });
    return q;
}

DORM_DECL void loading_names(const sql::Query& q, std::vector<std::string>& names) {
    std::vector<std::string> out;
    for (auto& n : names) {
        if (n.find("__") == std::string::npos)
            if (const FieldMeta* f = q.model->find_field(n)) n = f->name;
        if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(std::move(n));
    }
    names = std::move(out);
}

DORM_DECL void set_ordering(sql::Query& q, sql::OrderList terms) {
    q.order_by = std::move(terms);  // an earlier reverse() still holds (Django's clear_ordering() keeps it)
    if (q.order_by.empty()) q.default_ordering = false;
}

/// The aggregate `e` holds outside a subquery or window, as Django's contains_aggregate sees it; or none.
inline const ExprNode* aggregate_in(const ExprNode& e) {
    if (e.kind == ExprNode::Kind::aggregate) return &e;
    if (e.kind == ExprNode::Kind::subquery || e.kind == ExprNode::Kind::exists || e.kind == ExprNode::Kind::window)
        return nullptr;
    for (const auto& a : e.args)
        if (const ExprNode* found = a ? aggregate_in(*a) : nullptr) return found;
    return e.fallback ? aggregate_in(*e.fallback) : nullptr;
}

DORM_DECL std::shared_ptr<const sql::Query> ordered_query(const std::shared_ptr<const sql::Query>& query,
                                                          std::span<const OrderTermRef> terms, bool temporary) {
    if (query->is_sliced()) throw TypeError("dorm: Cannot reorder a query once a slice has been taken.");
    // Django's add_ordering(): an aggregate is ordered by through an annotation, never by itself (the database
    // would refuse it, or, in a grouped query, compute it per group unasked).
    for (const auto& t : terms)
        if (const auto& e = *t.expression)
            if (const ExprNode* a = aggregate_in(*e->expression.node()))
                throw FieldError(fmt::format("dorm: Using an aggregate in order_by() without also including it in "
                                             "annotate() is not allowed: {}",
                                             a->label.empty() ? a->name : a->label));
    auto q = query_to_change(query, temporary);
    sql::OrderList resolved;
    resolved.reserve(terms.size());  // a term is one ordering, but for a relation's Meta.ordering
    for (const auto& t : terms) {
        const auto& e = *t.expression;
        if (!q->combinator.empty()) {  // a set operation orders by its columns
            if (e && e->expression.node()->kind != ExprNode::Kind::ref)
                throw DatabaseError("dorm: ORDER BY term does not match any column in the result set.");
            // Django's add_ordering() checks a name (not an expression) against the model (FieldError) first,
            // unless it names an annotation: here a selected column of any part, values() and dates() ones too.
            std::string_view name = t.name;
            if (name.starts_with('-')) name.remove_prefix(1);
            auto selects = [&](const sql::Query& part) {
                if (part.find_annotation(name)) return true;
                return std::any_of(part.values.begin(), part.values.end(), [&](const auto& v) { return v.name == name; });
            };
            const bool selected = selects(*q) || std::any_of(q->combined.begin(), q->combined.end(),
                                                              [&](const auto& part) { return selects(*part); });
            if (!e && name != "?" && name != "pk" && !selected) {
                sql::Query scratch = *q;
                (void)sql::resolve_path(scratch, name, false);
            }
            resolved.push_back(e ? sql::resolve_compound_ordering(*q, e->expression.node()->name, e->descending)
                                 : sql::resolve_compound_ordering(*q, t.name));
            if (e) {  // F("x").desc({.nulls_last = true}): kept, as Django's get_order_by() keeps it
                resolved.back().nulls_first = e->nulls_first;
                resolved.back().nulls_last = e->nulls_last;
            }
            continue;
        }
        if (e) resolved.push_back(sql::resolve_ordering(*q, *e));
        else sql::resolve_orderings(*q, t.name, resolved);
    }
    set_ordering(*q, std::move(resolved));
    q->recipe = record(q->recipe, [&] {
        recipe::OrderBy o;
        o.terms.reserve(terms.size());
        for (const auto& t : terms) o.terms.push_back({*t.expression ? std::string() : std::string(t.name), *t.expression});
        return o;
    });
    return q;
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
