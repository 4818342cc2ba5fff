// SPDX-License-Identifier: MIT
// Definitions for <dorm/window.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/window.hpp>

namespace dorm {

DORM_DECL RowRange::RowRange(std::optional<std::int64_t> start, std::optional<std::int64_t> end,
                             std::optional<WindowFrameExclusion> exclusion)
    : WindowFrame(Type::rows, start, end, exclusion) {
    if (start && end && *start > *end) throw ValueError("dorm: start cannot be greater than end.");
}

DORM_DECL ValueRange::ValueRange(std::optional<std::int64_t> start, std::optional<std::int64_t> end,
                                 std::optional<WindowFrameExclusion> exclusion)
    : WindowFrame(Type::range, start, end, exclusion) {
    if (start && *start > 0)
        throw ValueError(fmt::format("dorm: start argument must be a negative integer, zero, or None, but got '{}'.", *start));
    if (end && *end < 0)
        throw ValueError(fmt::format("dorm: end argument must be a positive integer, zero, or None, but got '{}'.", *end));
}

}  // namespace dorm

namespace dorm::detail {

DORM_DECL std::string expression_class(const ExprNode& n) {
    using K = ExprNode::Kind;
    if (!n.label.empty()) return n.label;  // dorm's functions and aggregates carry Django's class name
    switch (n.kind) {
        case K::ref: return "F";
        case K::value: return "Value";
        case K::binary: return "CombinedExpression";
        case K::func: return "Func";
        case K::aggregate: return "Aggregate";
        case K::case_: return n.predicate ? "Q" : "Case";
        case K::cast: return "Cast";
        case K::subquery: return "Subquery";
        case K::exists: return "Exists";
        case K::outer_ref: return "OuterRef";
        case K::star: return "Star";
        case K::raw: return "RawSQL";
        case K::filtered_relation: return "FilteredRelation";
        case K::window: return "Window";
    }
    return "Expression";
}

}  // namespace dorm::detail

namespace dorm {

DORM_DECL Expression Window(const Expression& expression, const WindowOptions& options) {
    using K = detail::ExprNode::Kind;
    const auto& source = *expression.node();
    // Django's window_compatible: the window functions and the aggregates (not AnyValue).
    const auto* function = source.kind == K::func && !source.label.empty() ? detail::find_function(source.name) : nullptr;
    bool compatible = (function && function->window) || (source.kind == K::aggregate && source.label != "AnyValue");
    if (!compatible)
        throw ValueError(fmt::format("dorm: Expression '{}' isn't compatible with OVER clauses.",
                                     detail::expression_class(source)));
    // Neither SQLite nor PostgreSQL computes these over a window (both refuse the SQL).
    if (source.kind == K::aggregate && source.distinct)
        throw NotSupportedError(fmt::format("dorm: {}(distinct) cannot be computed over a window", source.label));
    if (source.kind == K::aggregate && !source.ordering.empty())
        throw NotSupportedError(fmt::format("dorm: {}(order_by) cannot be computed over a window", source.label));
    auto spec = dorm::detail::make_node<detail::WindowSpec>();
    for (const auto& p : options.partition_by) spec->partition_by.push_back(p.node());
    for (const auto& o : options.order_by) spec->order_by.push_back(o.term());
    spec->frame = options.frame;
    auto n = dorm::detail::make_node<detail::ExprNode>();
    n->kind = K::window;
    n->label = "Window";  // values_list()'s positional name: "window1"
    n->args = {expression.node()};
    n->output = options.output_field;
    n->window = std::move(spec);
    return Expression(std::move(n));
}

}  // namespace dorm
