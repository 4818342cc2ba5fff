// SPDX-License-Identifier: MIT
// Definitions for <dorm/backends/base/shape_cache.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/backends/base/shape_cache.hpp>

#include <atomic>
#include <iterator>

namespace dorm::backends {

DORM_DECL std::uint64_t statement_epoch() noexcept {
    static std::atomic<std::uint64_t> last{0};
    return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

DORM_DECL const CompiledShape* ShapeCache::use(Iterator it) noexcept {
    if (it != entries_.begin()) entries_.splice(entries_.begin(), entries_, it);
    return &it->second;
}

DORM_DECL void ShapeCache::remember(const ShapeFingerprint& print, Iterator it) {
    Recent* slot = &recent_[0];
    for (Recent& r : recent_) {
        if (!r.recipe) {
            slot = &r;
            break;
        }
        if (r.used < slot->used) slot = &r;
    }
    Recent& r = *slot;
    r.recipe.reset();  // unused until complete (assigning the name may throw)
    r.name.assign(print.name);
    r.print = print;
    r.print.recipe = &r.recipe;
    r.print.name = r.name;
    r.entry = it;
    r.used = ++clock_;
    r.recipe = *print.recipe;
}

DORM_DECL void ShapeCache::note(std::uint64_t serial, char kind, std::string_view name, const char* extra_class,
                                std::uint64_t generation, const CompiledShape* shape) {
    Recalled& r = recalled_[next_recalled_];
    next_recalled_ = (next_recalled_ + 1) % recalled_.size();
    r.serial = 0;  // unused until complete (assigning the name may throw)
    r.name.assign(name);
    // find() and add() put the shape they return first
    if (entries_.empty() || &entries_.front().second != shape) return;
    r.entry = entries_.begin();
    r.epoch = epoch_;
    r.generation = generation;
    r.extra_class = extra_class;
    r.kind = kind;
    r.serial = serial;
}

DORM_DECL void ShapeCache::erase(Iterator it) noexcept {
    ++epoch_;
    for (Recent& r : recent_)
        if (r.recipe && r.entry == it) r.recipe.reset();
    index_.erase(it->first);
    entries_.erase(it);
}

DORM_DECL const CompiledShape* ShapeCache::find(std::string_view key, const ShapeFingerprint* print) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    if (print) remember(*print, it->second);
    return use(it->second);
}

DORM_DECL const CompiledShape* ShapeCache::find(const ShapeFingerprint& print) {
    if (!print.recipe) return nullptr;
    for (Recent& r : recent_)
        if (r.recipe && r.print.same(print)) {
            r.used = ++clock_;
            return use(r.entry);
        }
    return nullptr;
}

DORM_DECL const CompiledShape& ShapeCache::add(std::string_view key, CompiledShape shape, const ShapeFingerprint* print) {
    if (auto it = index_.find(key); it != index_.end()) erase(it->second);
    if (index_.size() >= capacity) erase(std::prev(entries_.end()));
    entries_.emplace_front(std::string(key), std::move(shape));
    index_.emplace(entries_.front().first, entries_.begin());
    if (print) remember(*print, entries_.begin());
    return entries_.front().second;
}

}  // namespace dorm::backends
