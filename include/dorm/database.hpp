// SPDX-License-Identifier: MIT
// databases(): the registry of named databases (Django's DATABASES), per-thread connections, CaptureQueries.
#pragma once

#include <dorm/config.hpp>

#include <dorm/backends/base/connection.hpp>
#include <dorm/errors.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace dorm {

class Database;
class Router;

namespace backends {
/// What a backend registers: which URLs it opens, its dialect, and how to connect.
struct Backend {
    std::string_view vendor;
    bool (*accepts)(std::string_view url) = nullptr;
    const Dialect& (*dialect)() = nullptr;
    std::unique_ptr<Connection> (*connect)(const Database& db) = nullptr;
    /// Whether the database at `url` lives only while a connection to it is open (SQLite's in-memory databases):
    /// its last connection stays open when its thread exits.
    bool (*in_memory)(std::string_view url) = nullptr;
};

inline std::vector<const Backend*>& backend_registry() {
    static std::vector<const Backend*> registry;
    return registry;
}
/// Called from a backend header's inline variable, so including the header is all it takes.
inline bool register_backend(const Backend& b) {
    backend_registry().push_back(&b);
    return true;
}
}  // namespace backends

namespace detail {
/// A key for the calling thread, unique among running threads (as std::thread::id is, without <thread> here).
DORM_DECL std::uintptr_t thread_key() noexcept;
/// Database aliases live for the whole program so that a QuerySet can hold a plain pointer to its alias.
DORM_DECL const std::string* intern_alias(std::string_view alias);
inline const std::string* default_alias() {
    static const std::string* p = intern_alias("default");
    return p;
}
}  // namespace detail

/// One configured database: an alias, a URL, and one connection per thread, opened on first use.
class Database {
public:
    Database(std::string alias, std::string url, const backends::Backend& backend)
        : alias_(std::move(alias)), url_(std::move(url)), backend_(&backend), id_(next_serial()), serial_(id_) {}
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    const std::string& alias() const noexcept { return alias_; }
    const std::string& url() const noexcept { return url_; }
    std::string_view vendor() const noexcept { return backend_->vendor; }
    const backends::Dialect& dialect() const { return backend_->dialect(); }
    /// A number no other Database of this process has (names in-memory databases).
    std::uint64_t id() const noexcept { return id_; }

    /// This thread's connection, opened on first use.
    backends::Connection& connection();

    /// Closes this thread's connection; the next use opens a new one.
    void close();

    /// How many threads have a connection open to this database now.
    std::size_t connection_count() const;

private:
    friend class Databases;
    /// Closes the connection of the thread with this key (when `only_idle`, unless a cursor or an atomic block
    /// still uses it); whether this database has no connection left.
    bool release(std::uintptr_t thread, bool only_idle, bool keep_last = false);

    static std::uint64_t next_serial() {
        static std::atomic<std::uint64_t> counter{0};
        return ++counter;
    }

    std::string alias_;
    std::string url_;
    const backends::Backend* backend_;
    const std::uint64_t id_;
    std::atomic<std::uint64_t> serial_;  // changes on close() so that no thread's cached connection pointer matches
    mutable std::mutex mutex_;
    std::map<std::uintptr_t, std::unique_ptr<backends::Connection>> connections_;  // by detail::thread_key()
};

/// The registry of named databases. "default" is the one QuerySets use unless `using_()` says otherwise.
class Databases {
public:
    /// Opens (lazily) a database by URL: "sqlite::memory:", "sqlite://blog.db", "sqlite:///abs/blog.db",
    /// "postgresql://user:pw@host:5432/db". Replaces an existing alias: the replaced database's connections close
    /// as soon as nothing uses them (each thread's when it next opens a connection, or when it exits).
    Database& add(std::string_view alias, std::string url);

    /// The database with this alias; throws InterfaceError naming the configured ones.
    Database& get(std::string_view alias);
    Database& operator[](std::string_view alias) { return get(alias); }

    bool contains(std::string_view alias) const {
        std::lock_guard lock(mutex_);
        return dbs_.find(alias) != dbs_.end();
    }

    /// The routers every QuerySet, instance and related manager consults, in order (Django's DATABASE_ROUTERS);
    /// see <dorm/router.hpp>. An empty list (the default) sends everything to the instance's database or "default".
    void set_routers(std::vector<std::shared_ptr<const Router>> routers);

    /// Databases replaced by add() whose connections are not all closed yet.
    std::size_t retired_count() const {
        std::lock_guard lock(mutex_);
        return retired_.size();
    }

    /// Closes the calling thread's connections: to replaced databases when idle (`exiting`: every one, to any
    /// database, as its thread ends). Called by dorm when a thread opens a connection and when it exits.
    void release_thread(std::uintptr_t thread, bool exiting);

private:
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<Database>, std::less<>> dbs_;
    std::vector<std::shared_ptr<Database>> retired_;
};

/// The process-wide database registry (Django's settings.DATABASES and django.db.connections).
DORM_DECL Databases& databases();

/// Records every statement this thread runs on one database while it lives (Django's CaptureQueriesContext);
/// `size()` is what Django's assertNumQueries checks.
class CaptureQueries {
public:
    explicit CaptureQueries(std::string_view using_ = "default") : conn_(&databases().get(using_).connection()) {
        conn_->captures.push_back(&queries_);
    }
    ~CaptureQueries() { std::erase(conn_->captures, &queries_); }
    CaptureQueries(const CaptureQueries&) = delete;
    CaptureQueries& operator=(const CaptureQueries&) = delete;

    std::size_t size() const noexcept { return queries_.size(); }
    const std::vector<CapturedQuery>& queries() const noexcept { return queries_; }
    const CapturedQuery& operator[](std::size_t i) const { return queries_.at(i); }
    void clear() noexcept { queries_.clear(); }

private:
    backends::Connection* conn_;
    std::vector<CapturedQuery> queries_;
};

}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/impl/database.ipp>
#endif
// Databases::set_routers() is defined with the routers.
#include <dorm/router.hpp>
