// SPDX-License-Identifier: MIT
// Definitions for <dorm/row.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/row.hpp>

namespace dorm {

DORM_DECL Row::Row(std::initializer_list<std::pair<std::string_view, Value>> items) {
    auto names = std::make_shared<names_type>();
    for (const auto& [n, v] : items) {
        names->emplace_back(n);
        values_.push_back(v);
    }
    names_ = std::move(names);
}

DORM_DECL void Row::missing(std::string_view name) const {
    throw KeyError(fmt::format("dorm: '{}' is not in this row. Names are: {}", name, fmt::join(*names_, ", ")));
}

DORM_DECL bool operator==(const Row& a, const Row& b) { return a.values_ == b.values_ && *a.names_ == *b.names_; }

}  // namespace dorm

DORM_DECL fmt::format_context::iterator fmt::formatter<dorm::Row>::format(const dorm::Row& r,
                                                                          fmt::format_context& ctx) const {
    std::string s = "{";
    for (std::size_t i = 0; i < r.size(); ++i) s += fmt::format("{}'{}': {}", i ? ", " : "", r.names()[i], r.values()[i]);
    s += "}";
    return fmt::formatter<std::string_view>::format(s, ctx);
}
