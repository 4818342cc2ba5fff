// SPDX-License-Identifier: MIT
// Definitions for <dorm/expressions.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/expressions.hpp>

namespace dorm {

DORM_DECL auto Expression::make(detail::ExprNode::Kind k, std::string name, Value v, std::vector<detail::ExprNodePtr> args) -> detail::ExprNodePtr {
    auto n = std::make_shared<detail::ExprNode>();
    n->kind = k;
    n->name = std::move(name);
    n->value = std::move(v);
    n->args = std::move(args);
    return n;
}
}  // namespace dorm

namespace dorm::detail {

DORM_DECL bool is_sql_identifier(std::string_view s) {
    if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
    for (char ch : s)
        if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_')) return false;
    return true;
}

DORM_DECL ExprNodePtr func_node(std::string name, std::vector<ExprNodePtr> args, std::optional<FieldKind> output) {
    auto n = std::make_shared<ExprNode>();
    n->kind = ExprNode::Kind::func;
    n->name = std::move(name);
    n->args = std::move(args);
    n->output = output;
    return n;
}
}  // namespace dorm::detail

namespace dorm {

DORM_DECL Expression Func(std::string_view function, std::initializer_list<ExprArg> args, std::optional<FieldKind> output) {
    if (!detail::is_sql_identifier(function))
        throw ValueError(fmt::format("dorm: '{}' is not a valid SQL function name", function));
    std::vector<detail::ExprNodePtr> nodes;
    for (const auto& a : args) nodes.push_back(a.node());
    return Expression(detail::func_node(std::string(function), std::move(nodes), output));
}

DORM_DECL Expression Cast(const ExprArg& e, FieldKind kind) {
    auto n = std::make_shared<detail::ExprNode>();
    n->kind = detail::ExprNode::Kind::cast;
    n->args = {e.node()};
    n->output = kind;
    return Expression(std::move(n));
}

DORM_DECL Expression ExpressionWrapper(const Expression& e, FieldKind output) {
    auto n = std::make_shared<detail::ExprNode>(*e.node());
    n->output = output;
    return Expression(std::move(n));
}

DORM_DECL Expression RawSQL(std::string_view sql, std::vector<Value> params, std::optional<FieldKind> output) {
    auto n = std::make_shared<detail::ExprNode>();
    n->kind = detail::ExprNode::Kind::raw;
    n->name = std::string(sql);
    for (auto& p : params) n->args.push_back(Expression(std::move(p)).node());
    n->output = output;
    return Expression(std::move(n));
}

}  // namespace dorm
