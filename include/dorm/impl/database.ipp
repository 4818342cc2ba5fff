// SPDX-License-Identifier: MIT
// Definitions for <dorm/database.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/database.hpp>

#include <algorithm>
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

namespace detail {
// The calling thread's last connection, and the serial of its Database: the fast path of Database::connection().
inline thread_local std::uint64_t last_serial = 0;
inline thread_local backends::Connection* last_connection = nullptr;

/// Closes a thread's connections when it exits (constructed on the thread's first connection).
struct ThreadConnections {
    std::uintptr_t key = thread_key();
    ~ThreadConnections() { databases().release_thread(key, true); }
};
}  // namespace detail

DORM_DECL auto Database::connection() -> backends::Connection& {
    if (detail::last_serial == serial_.load(std::memory_order_relaxed)) [[likely]]
        return *detail::last_connection;
    thread_local detail::ThreadConnections exit_hook;
    // A thread that switches databases closes what it still holds open to databases add() replaced.
    databases().release_thread(exit_hook.key, false);
    std::lock_guard lock(mutex_);
    auto it = connections_.find(exit_hook.key);
    if (it == connections_.end()) it = connections_.emplace(exit_hook.key, backend_->connect(*this)).first;
    detail::last_serial = serial_.load(std::memory_order_relaxed);
    detail::last_connection = it->second.get();
    return *it->second;
}

DORM_DECL void Database::close() {
    std::lock_guard lock(mutex_);
    connections_.erase(detail::thread_key());
    // Invalidate this thread's shortcut: a new serial means no thread_local cache matches.
    serial_ = next_serial();
}

DORM_DECL std::size_t Database::connection_count() const {
    std::lock_guard lock(mutex_);
    return connections_.size();
}

DORM_DECL bool Database::release(std::uintptr_t thread, bool only_idle, bool keep_last) {
    std::unique_ptr<backends::Connection> closing;  // closed after the lock is released
    std::lock_guard lock(mutex_);
    if (keep_last && connections_.size() == 1 && backend_->in_memory && backend_->in_memory(url_)) return false;
    if (auto it = connections_.find(thread); it != connections_.end() && (!only_idle || it->second->idle())) {
        if (detail::last_connection == it->second.get()) detail::last_serial = 0;
        closing = std::move(it->second);
        connections_.erase(it);
    }
    return connections_.empty();
}

DORM_DECL void Databases::release_thread(std::uintptr_t thread, bool exiting) {
    std::vector<std::shared_ptr<Database>> retired, active;
    {
        std::lock_guard lock(mutex_);
        if (retired_.empty() && !exiting) return;
        retired = retired_;
        if (exiting)
            for (auto& [_, db] : dbs_) active.push_back(db);
    }
    std::vector<const Database*> drained;
    for (auto& db : retired)
        if (db->release(thread, !exiting)) drained.push_back(db.get());
    for (auto& db : active) db->release(thread, false, true);
    std::lock_guard lock(mutex_);
    std::erase_if(retired_, [&](const std::shared_ptr<Database>& db) {
        return std::find(drained.begin(), drained.end(), db.get()) != drained.end() && db->connection_count() == 0;
    });
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
    std::shared_ptr<Database> replaced;
    {
        std::lock_guard lock(mutex_);
        auto& slot = dbs_[std::string(alias)];
        replaced = std::move(slot);
        slot = db;
        // QuerySets being evaluated may still use the replaced database: it is kept until its connections close.
        if (replaced && replaced->connection_count() > 0) retired_.push_back(replaced);
    }
    if (replaced) release_thread(detail::thread_key(), false);
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
