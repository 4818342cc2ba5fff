// SPDX-License-Identifier: MIT
// Definitions for <dorm/database.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/database.hpp>

#include <set>

namespace dorm::detail {

DORM_DECL std::uintptr_t thread_key() noexcept {
    thread_local const char key = 0;
    return reinterpret_cast<std::uintptr_t>(&key);
}

DORM_DECL const std::string* intern_alias(std::string_view alias) {
    static std::mutex m;
    static std::set<std::string, std::less<>> names;
    std::lock_guard lock(m);
    auto it = names.find(alias);
    if (it == names.end()) it = names.emplace(alias).first;
    return &*it;
}
}  // namespace dorm::detail

namespace dorm {

DORM_DECL auto Database::connection() -> backends::Connection& {
    thread_local std::uint64_t last_serial = 0;
    thread_local backends::Connection* last = nullptr;
    if (last_serial == serial_.load(std::memory_order_relaxed)) [[likely]]
        return *last;
    std::lock_guard lock(mutex_);
    auto& slot = connections_[detail::thread_key()];
    if (!slot) slot = backend_->connect(*this);
    last_serial = serial_.load(std::memory_order_relaxed);
    last = slot.get();
    return *slot;
}

DORM_DECL void Database::close() {
    std::lock_guard lock(mutex_);
    connections_.erase(detail::thread_key());
    // Invalidate this thread's shortcut: a new serial means no thread_local cache matches.
    serial_ = next_serial();
}

DORM_DECL auto Databases::add(std::string_view alias, std::string url) -> Database& {
    const backends::Backend* backend = nullptr;
    for (auto* b : backends::backend_registry())
        if (b->accepts(url)) backend = b;
    if (!backend)
        throw InterfaceError(fmt::format(
            "dorm: no backend opens '{}'; include <dorm/sqlite.hpp> (sqlite:...) or <dorm/postgresql.hpp> "
            "(postgresql://...) and link dorm::sqlite or dorm::postgresql", url));
    auto db = std::make_shared<Database>(std::string(alias), std::move(url), *backend);
    std::lock_guard lock(mutex_);
    auto& slot = dbs_[std::string(alias)];
    if (slot) retired_.push_back(std::move(slot));  // QuerySets being evaluated may still use it
    slot = db;
    return *db;
}

DORM_DECL auto Databases::get(std::string_view alias) -> Database& {
    std::lock_guard lock(mutex_);
    auto it = dbs_.find(alias);
    if (it == dbs_.end()) {
        std::string names;
        for (auto& [n, _] : dbs_) names += (names.empty() ? "'" : ", '") + n + "'";
        throw InterfaceError(fmt::format("dorm: the database '{}' doesn't exist; configured: {}", alias,
                                         names.empty() ? "none (call databases().add(...))" : names));
    }
    return *it->second;
}

}  // namespace dorm

namespace dorm {
DORM_DECL Databases& databases() {
    static Databases instance;
    return instance;
}
}  // namespace dorm
