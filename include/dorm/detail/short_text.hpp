// SPDX-License-Identifier: MIT
// equal_short(): the comparison of a few bytes of text on the paths every query takes.
#pragma once

#include <cstddef>
#include <string_view>

namespace dorm::detail {

/// Whether `a` and `b` hold the same text, compared in place. For names and aliases of a few bytes, checked on every
/// get(): std::string_view's operator== calls out to compare() and memcmp, which costs more than the bytes.
constexpr bool equal_short(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i] != b[i]) return false;
    return true;
}

}  // namespace dorm::detail
