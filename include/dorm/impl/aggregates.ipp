// SPDX-License-Identifier: MIT
// Definitions for <dorm/aggregates.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/aggregates.hpp>

namespace dorm::detail {

DORM_DECL Expression aggregate(std::string_view django, std::vector<ExprArg> args, const AggregateOptions& o) {
    const AggregateInfo* info = find_aggregate(django);
    if (!info) throw ValueError(fmt::format("dorm: '{}' is not one of dorm's aggregates", django));
    if (args.size() != info->args)
        throw TypeError(fmt::format("dorm: {} takes {} argument(s) ({} given)", django, info->args, args.size()));
    if (o.distinct && !info->distinct) throw TypeError(fmt::format("dorm: {} does not allow distinct.", django));
    if (o.sample && info->sample_name.empty()) throw TypeError(fmt::format("dorm: {} has no sample option.", django));
    if (!o.order_by.empty() && !info->order_by) throw TypeError(fmt::format("dorm: {} does not allow order_by.", django));
    // Django: an aggregate whose result over no rows is already a value (empty_result_set_value) takes no default.
    if (o.default_ && !info->default_) throw TypeError(fmt::format("dorm: {} does not allow default.", django));
    auto n = dorm::detail::make_node<ExprNode>();
    n->kind = ExprNode::Kind::aggregate;
    n->name = std::string(o.sample ? info->sample_name : info->name);
    n->label = std::string(info->django);
    for (const auto& a : args) n->args.push_back(a.node());
    n->distinct = o.distinct;
    // Django's `if self.filter:`: an empty Q, negated or not, is no filter.
    if (o.filter && !o.filter->empty()) n->filter = dorm::detail::make_node<const Q>(*o.filter);
    if (o.default_) n->fallback = o.default_->node();
    n->output = o.output_field;
    for (const auto& term : o.order_by) n->ordering.emplace_back(term.node(), term.descending());
    return Expression(std::move(n));
}
}  // namespace dorm::detail

namespace dorm {

DORM_DECL Expression Count(const ExprArg& e, const AggregateOptions& o) {
    ExprArg arg = e;
    if (e.node()->kind == detail::ExprNode::Kind::ref && e.node()->name == "*") {
        if (o.distinct) throw TypeError("dorm: Count('*', distinct) is not valid SQL.");
        arg = Expression(Expression::make(detail::ExprNode::Kind::star, "*", {}, {}));
    }
    return detail::aggregate("Count", {arg}, o);
}

DORM_DECL Expression StringAgg(const ExprArg& e, std::string_view delimiter, const AggregateOptions& o) {
    Expression x = detail::aggregate("StringAgg", {e}, o);
    auto n = dorm::detail::make_node<detail::ExprNode>(*x.node());
    n->value = Value(delimiter);
    return Expression(std::move(n));
}

}  // namespace dorm
