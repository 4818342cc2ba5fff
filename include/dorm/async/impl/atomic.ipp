// SPDX-License-Identifier: MIT
// Definitions for <dorm/async/atomic.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/async/atomic.hpp>

namespace dorm {

DORM_DECL Task<> aset_rollback(bool rollback, std::string_view using_) {
    return detail::offload([rollback, db = std::string(using_)] { set_rollback(rollback, db); });
}

DORM_DECL Task<bool> aget_rollback(std::string_view using_) {
    return detail::offload([db = std::string(using_)] { return get_rollback(db); });
}

}  // namespace dorm
