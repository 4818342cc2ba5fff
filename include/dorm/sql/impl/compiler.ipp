// SPDX-License-Identifier: MIT
// Definitions for <dorm/sql/compiler.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/sql/compiler.hpp>

namespace dorm::sql {

namespace detail {
/// Whether a node of the tree under `root` (itself included) is `found`, not looking below a node that is
/// `stop` (and not found). Walks with one stack per thread, reused, where a recursion would fill a vector of
/// children at each level: filter() asks this of every condition, and should not allocate for it.
template <class Found, class Stop>
bool any_node(const Expression& root, Found found, Stop stop) {
    thread_local std::vector<const Expression*> stack;
    const std::size_t base = stack.size();  // a walk inside a walk leaves what is below `base` alone
    try {
        stack.push_back(&root);
        while (stack.size() > base) {
            const Expression* e = stack.back();
            stack.pop_back();
            if (!e) continue;
            if (found(*e)) {
                stack.resize(base);
                return true;
            }
            if (!stop(*e)) e->sources(stack);
        }
    } catch (...) {
        stack.resize(base);
        throw;
    }
    return false;
}
}  // namespace detail

DORM_DECL auto Expression::contains_aggregate() const -> bool {
    return detail::any_node(*this, [](const Expression& e) { return e.is_aggregate(); },
                            [](const Expression& e) { return e.is_window(); });
}

DORM_DECL auto Expression::contains_over_clause() const -> bool {
    return detail::any_node(*this, [](const Expression& e) { return e.is_window(); },
                            [](const Expression&) { return false; });
}

DORM_DECL auto Expression::is_constant() const -> bool {
    if (is_aggregate() || is_outer_ref()) return false;
    std::vector<const Expression*> kids;
    sources(kids);
    if (kids.empty()) return is_value();
    for (const auto* k : kids)
        if (k && !k->is_constant()) return false;
    return true;
}

DORM_DECL auto Compiler::renamed(std::string_view alias) const -> bool {
    if (!scopes.empty())
        for (const auto& r : scopes.back().renames)
            if (r.first == alias) return true;
    return false;
}

DORM_DECL void Compiler::quote_alias(std::string_view alias) {
    if (!scopes.empty())
        for (const auto& [from, to] : scopes.back().renames)
            if (from == alias) return quote(to);
    quote(alias);
}

DORM_DECL void Compiler::param(Value v) {
    if (inline_params_) [[unlikely]] {
        sql += dialect.literal(v);
        return;
    }
    if (params.capacity() == 0) params.reserve(8);  // most statements' parameters in one allocation
    params.push_back(std::move(v));
    dialect.placeholder(sql, params.size());
}

DORM_DECL auto Compiler::compile(const Expression& e) -> Match {
    if (substitutions) [[unlikely]]
        for (const auto& [from, name] : *substitutions)
            if (from == &e) {
                quote("qualify");
                sql += '.';
                quote(name);
                return Match::some;
            }
    auto sql_size = sql.size();
    auto params_size = params.size();
    Match m = e.as_sql(*this);
    if (m != Match::some) {
        sql.resize(sql_size);
        params.resize(params_size);
    }
    return m;
}

DORM_DECL void Compiler::column_alias() {
    if (!column_names) return;
    column_names->push_back("__c" + std::to_string(column_names->size() + 1));
    sql += " AS ";
    quote(column_names->back());
}

}  // namespace dorm::sql
