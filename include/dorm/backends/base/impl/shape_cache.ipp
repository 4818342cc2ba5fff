// SPDX-License-Identifier: MIT
// Definitions for <dorm/backends/base/shape_cache.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/backends/base/shape_cache.hpp>

namespace dorm::backends {

DORM_DECL void CompiledShape::bind(std::span<const Value* const> values, std::vector<Value>& out) const {
    out.clear();
    out.reserve(slots.size());
    for (std::size_t i = 0; i < slots.size(); ++i) {
        const std::int32_t s = slots[i];
        if (s < 0) {
            out.push_back(constants[static_cast<std::size_t>(-1 - s)]);
            continue;
        }
        const Value& v = *values[static_cast<std::size_t>(s)];
        const Pattern p = patterns.empty() ? Pattern::none : patterns[i];
        if (p == Pattern::none) {
            out.push_back(v);
            continue;
        }
        out.emplace_back(like_pattern(p, v.as<std::string>()));
    }
}

DORM_DECL std::string CompiledShape::like_pattern(Pattern p, std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    if (p == Pattern::suffix || p == Pattern::contains) out += '%';
    for (char ch : s) {  // as lookups' like_escape(): the value's wildcards stay characters
        if (ch == '%' || ch == '_' || ch == '\\') out += '\\';
        out += ch;
    }
    if (p == Pattern::prefix || p == Pattern::contains) out += '%';
    return out;
}

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
