// SPDX-License-Identifier: MIT
// Definitions for <dorm/query_set.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/query_set.hpp>

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

}  // namespace dorm::detail
