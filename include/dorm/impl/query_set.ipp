// SPDX-License-Identifier: MIT
// Definitions for <dorm/query_set.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/query_set.hpp>

#include <cctype>

namespace dorm::detail {

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
    std::string prefix = !n.label.empty() ? n.label : n.kind == ExprNode::Kind::func ? n.name : "expression";
    for (auto& ch : prefix) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (;; ++counter) {
        std::string name = prefix + std::to_string(counter);
        bool used = false;
        for (const auto& t : taken) used = used || t.name == name;
        if (!used) return ++counter, name;
    }
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
