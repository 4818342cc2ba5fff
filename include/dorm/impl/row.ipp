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

}  // namespace dorm
