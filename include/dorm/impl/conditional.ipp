// SPDX-License-Identifier: MIT
// Definitions for <dorm/conditional.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/conditional.hpp>

namespace dorm {

DORM_DECL Expression Case(std::initializer_list<When> whens, const std::optional<ExprArg>& default_, std::optional<FieldKind> output_field) {
    auto n = dorm::detail::make_node<detail::ExprNode>();
    n->kind = detail::ExprNode::Kind::case_;
    for (const auto& w : whens) {
        n->conditions.push_back(w.condition());
        n->args.push_back(w.then());
    }
    if (default_) n->fallback = default_->node();
    n->output = output_field;
    return Expression(std::move(n));
}

namespace detail {
DORM_DECL Expression condition_expression(const Q& q) {
    auto n = dorm::detail::make_node<ExprNode>();
    n->kind = ExprNode::Kind::case_;
    n->predicate = true;
    // Q() and ~Q() are true: Django's empty WhereNode raises FullResultSet, negated or not.
    n->conditions.push_back(dorm::detail::make_node<const Q>(q.empty() ? Q() : q));
    n->args.push_back(Expression(Value(true)).node());
    n->fallback = Expression(Value(false)).node();
    n->output = FieldKind::boolean;
    return Expression(std::move(n));
}
}  // namespace detail

DORM_DECL Expression FilteredRelation(std::string_view relation, const Q& condition) {
    auto n = dorm::detail::make_node<detail::ExprNode>();
    n->kind = detail::ExprNode::Kind::filtered_relation;
    n->name = std::string(relation);
    n->filter = dorm::detail::make_node<const Q>(condition);
    return Expression(std::move(n));
}

}  // namespace dorm
