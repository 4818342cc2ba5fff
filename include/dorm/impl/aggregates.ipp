// SPDX-License-Identifier: MIT
// Definitions for <dorm/aggregates.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/aggregates.hpp>

namespace dorm::detail {

DORM_DECL Expression aggregate(std::string_view function, std::string_view label, std::vector<ExprArg> args, const AggregateOptions& o, bool allow_distinct) {
    if (o.distinct && !allow_distinct) throw TypeError(fmt::format("dorm: {} does not allow distinct.", label));
    if (o.sample && !(label == "StdDev" || label == "Variance"))
        throw TypeError(fmt::format("dorm: {} has no sample option.", label));
    if (!o.order_by.empty() && label != "StringAgg")
        throw TypeError(fmt::format("dorm: {} does not allow order_by.", label));
    auto n = std::make_shared<ExprNode>();
    n->kind = ExprNode::Kind::aggregate;
    n->name = std::string(function);
    n->label = std::string(label);
    for (const auto& a : args) n->args.push_back(a.node());
    n->distinct = o.distinct;
    if (o.filter) n->filter = std::make_shared<const Q>(*o.filter);
    if (o.default_) n->fallback = o.default_->node();
    n->output = o.output_field;
    for (const auto& term : o.order_by) n->ordering.emplace_back(term.node(), term.descending());
    return Expression(std::move(n));
}
}  // namespace dorm::detail

namespace dorm {

DORM_DECL Expression Count(const ExprArg& e, const AggregateOptions& o) {
    // Django: COUNT over no rows is already 0, so Count refuses a default.
    if (o.default_) throw TypeError("dorm: Count does not allow default.");
    ExprArg arg = e;
    if (e.node()->kind == detail::ExprNode::Kind::ref && e.node()->name == "*") {
        if (o.distinct) throw TypeError("dorm: Count('*', distinct) is not valid SQL.");
        arg = Expression(Expression::make(detail::ExprNode::Kind::star, "*", {}, {}));
    }
    return detail::aggregate("COUNT", "Count", {arg}, o, true);
}

DORM_DECL Expression StringAgg(const ExprArg& e, std::string_view delimiter, const AggregateOptions& o) {
    Expression x = detail::aggregate("STRING_AGG", "StringAgg", {e}, o, true);
    auto n = std::make_shared<detail::ExprNode>(*x.node());
    n->value = Value(delimiter);
    return Expression(std::move(n));
}

}  // namespace dorm
