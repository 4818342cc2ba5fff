// SPDX-License-Identifier: MIT
// Definitions for <dorm/backends/base/shape_cache.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/backends/base/shape_cache.hpp>

namespace dorm::backends {

DORM_DECL const CompiledShape* ShapeCache::find(std::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    if (it->second->second.cacheable) ++hits_;
    if (it->second != entries_.begin()) entries_.splice(entries_.begin(), entries_, it->second);
    return &it->second->second;
}

DORM_DECL const CompiledShape& ShapeCache::add(std::string_view key, CompiledShape shape) {
    if (auto it = index_.find(key); it != index_.end()) {
        entries_.erase(it->second);
        index_.erase(it);
    }
    if (index_.size() >= capacity) {
        index_.erase(entries_.back().first);
        entries_.pop_back();
    }
    entries_.emplace_front(std::string(key), std::move(shape));
    index_.emplace(entries_.front().first, entries_.begin());
    return entries_.front().second;
}

}  // namespace dorm::backends
