// SPDX-License-Identifier: MIT
// databases(): the registry of named databases (Django's DATABASES), per-thread connections and their pool,
// CaptureQueries.
#pragma once

#include <dorm/config.hpp>

#include <dorm/backends/base/connection.hpp>
#include <dorm/errors.hpp>

#include <atomic>
#include <chrono>
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
    /// Whether its connections wait for the server through detail::wait_readable() (libpq's asynchronous
    /// protocol): asynchronous work may then run on a fiber of the awaiting task's executor (async/fiber.hpp).
    bool waits_on_sockets = false;
};

DORM_DECL std::vector<const Backend*>& backend_registry();
/// Called from a backend header's inline variable, so including the header is all it takes.
DORM_DECL bool register_backend(const Backend& b);
}  // namespace backends

class Lease;

namespace detail {
/// A key for the calling thread, unique among running threads (as std::thread::id is, without <thread> here).
DORM_DECL std::uintptr_t thread_key() noexcept;
/// Called after add() or remove() retired a database: dorm's worker threads (when started) hand back what they
/// still hold of it while they wait for work.
inline std::atomic<void (*)()> retired_hook{nullptr};
/// Database aliases live for the whole program so that a QuerySet can hold a plain pointer to its alias.
DORM_DECL const std::string* intern_alias(std::string_view alias);
inline const std::string* default_alias() {
    static const std::string* p = intern_alias("default");
    return p;
}
/// One `key=value` item of a database URL's query string, as written; `item` is the whole text, to pass it on.
struct UrlOption {
    std::string_view key, value, item;
};
/// The items of the query string after a URL's '?', in order (`query` is the part after the '?').
DORM_DECL std::vector<UrlOption> url_options(std::string_view query);
}  // namespace detail

/// How a Database keeps its connections: the options of its URL that dorm reads itself (`?pool_size=8&...`).
struct PoolOptions {
    /// `pool_size`: at most this many connections open at once, and those a thread hands back (at its end, or by
    /// release_connections()) kept for the next thread. 0 (the default): one connection per thread, closed when
    /// the thread ends, no bound.
    std::size_t size = 0;
    /// `pool_timeout` (seconds): how long connection() waits for a free connection before OperationalError.
    std::chrono::milliseconds timeout{30'000};
    /// `idle_timeout` (seconds): a kept connection unused this long is closed (when the pool is next used).
    std::chrono::milliseconds idle_timeout{600'000};
};

/// One configured database: an alias, a URL, and the connections of the threads using it, opened on first use
/// and, with `pool_size`, pooled.
class Database {
public:
    /// Reads and removes dorm's own URL options (PoolOptions); the backend sees the rest.
    Database(std::string alias, std::string url, const backends::Backend& backend);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    const std::string& alias() const noexcept { return alias_; }
    /// The URL as given to databases().add().
    const std::string& url() const noexcept { return url_; }
    /// The URL without dorm's own options: what the backend opens.
    const std::string& backend_url() const noexcept { return backend_url_; }
    std::string_view vendor() const noexcept { return backend_->vendor; }
    const backends::Dialect& dialect() const { return backend_->dialect(); }
    const PoolOptions& pool() const noexcept { return pool_; }
    /// See backends::Backend::waits_on_sockets.
    bool waits_on_sockets() const noexcept { return backend_->waits_on_sockets; }
    /// A number no other Database of this process has (names in-memory databases).
    std::uint64_t id() const noexcept { return id_; }

    /// This thread's connection: the one it holds, else one from the pool (a pooled connection the server closed
    /// is replaced), else a new one; with `pool_size` connections all in use, waits up to `pool_timeout`.
    backends::Connection& connection();

    /// Ends this thread's use of its connection: back to the pool when pooled (and clean), otherwise closed (but
    /// for an in-memory SQLite database's last connection, which holds the database, as in Django); the next use
    /// takes another. TransactionManagementError inside an atomic block, InterfaceError while a cursor
    /// is open (nothing is closed then).
    void close();

    /// Whether this thread can use the database now (Django's connection.is_usable()): its connection still reaches
    /// the server (checked without a round trip), or another can be had. A broken connection nothing uses is
    /// dropped on the way, so that a server that came back is used again. For routers that fail over; it may
    /// open a connection, so cache the answer for a while rather than asking before every query.
    bool is_usable();

    /// A connection of this database's pool (or a new one) for an asynchronous transaction or stream to hold
    /// whichever threads run its work; waits as connection() does. Handed back when the Lease is destroyed.
    Lease lease();
    /// Ends the use of a lease(): back to the pool when pooled (and clean), otherwise closed.
    void give_back(std::unique_ptr<backends::Connection> c) noexcept;

    /// Connections open to this database now: held by threads, and kept in the pool.
    std::size_t connection_count() const;
    /// Connections kept in the pool, unused.
    std::size_t idle_count() const;

private:
    friend class Databases;
    struct Idle {
        std::unique_ptr<backends::Connection> connection;
        std::chrono::steady_clock::time_point since;
    };
    /// Ends the use of the connection of the thread with this key (when `only_idle`, unless a cursor or an atomic
    /// block still uses it): pooled when it can be, else closed. Whether this database has no connection left.
    bool release(std::uintptr_t thread, bool only_idle);
    /// Pools `c` (no longer anyone's) when `may_keep` and it resets cleanly, else closes it (mutex_ not held).
    void restore(std::unique_ptr<backends::Connection> c, bool may_keep);
    /// After add() replaced or remove() removed this database: closes the pooled connections now, and the others
    /// as their threads release them.
    void retire();
    /// A connection for the calling thread (mutex_ held by `lock`; released while connecting or waiting).
    std::unique_ptr<backends::Connection> checkout(std::unique_lock<std::mutex>& lock);
    /// Whether a released connection may be kept rather than closed, if it resets cleanly (mutex_ held).
    bool keeps() const;
    /// Closes pooled connections idle longer than idle_timeout (mutex_ held); the closed ones go to `out`.
    void reap(std::vector<std::unique_ptr<backends::Connection>>& out);
    bool in_memory() const { return backend_->in_memory && backend_->in_memory(backend_url_); }

    static std::uint64_t next_serial() {
        static std::atomic<std::uint64_t> counter{0};
        return ++counter;
    }

    std::string alias_;
    std::string url_;
    std::string backend_url_;
    PoolOptions pool_;
    const backends::Backend* backend_;
    const std::uint64_t id_;
    std::atomic<std::uint64_t> serial_;  // changes on close() so that no thread's cached connection pointer matches
    mutable std::mutex mutex_;
    // Notified when a connection was released or closed. Behind a pointer: <condition_variable> (with
    // <stop_token>, <semaphore> and <thread>) would otherwise weigh on every file that includes dorm.
    struct Available;
    std::unique_ptr<Available> available_;
    std::map<std::uintptr_t, std::unique_ptr<backends::Connection>> connections_;  // by detail::thread_key()
    std::vector<Idle> idle_;  // the pool, most recently used last
    std::size_t open_ = 0;    // connections held, pooled and being opened
    bool retired_ = false;
};

/// A connection Database::lease() took from its pool, handed back (pooled when clean, else closed, and counted
/// out of the pool either way) when the Lease is destroyed or reset.
class Lease {
public:
    Lease() = default;
    Lease(Database& db, std::unique_ptr<backends::Connection> c) noexcept : db_(&db), c_(std::move(c)) {}
    Lease(Lease&& other) noexcept : db_(other.db_), c_(std::move(other.c_)) {}
    Lease& operator=(Lease&& other) noexcept {
        if (this != &other) {
            reset();
            db_ = other.db_;
            c_ = std::move(other.c_);
        }
        return *this;
    }
    ~Lease() { reset(); }

    backends::Connection* get() const noexcept { return c_.get(); }
    backends::Connection& operator*() const noexcept { return *c_; }
    explicit operator bool() const noexcept { return c_ != nullptr; }
    /// Hands the connection back now (it may talk to the server: a rollback).
    void reset() noexcept {
        if (c_) db_->give_back(std::move(c_));
    }

private:
    Database* db_ = nullptr;
    std::unique_ptr<backends::Connection> c_;
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

    /// Removes the database with this alias (InterfaceError if there is none): its pooled connections close now,
    /// those threads hold as they release them.
    void remove(std::string_view alias);

    /// The routers every QuerySet, instance and related manager consults, in order (Django's DATABASE_ROUTERS);
    /// see <dorm/router.hpp>. An empty list (the default) sends everything to the instance's database or "default".
    void set_routers(std::vector<std::shared_ptr<const Router>> routers);

    /// Databases replaced by add() or removed whose connections are not all closed yet.
    std::size_t retired_count() const {
        std::lock_guard lock(mutex_);
        return retired_.size();
    }

    /// Ends the thread's use of its connections: to replaced databases when idle (`exiting`: every one, to any
    /// database, as its thread ends; `idle`: every idle one, for release_connections(); `pooled`: every idle one
    /// to a database with a pool, for dorm's worker threads). Called by dorm when a thread opens a connection and
    /// when it exits.
    void release_thread(std::uintptr_t thread, bool exiting, bool idle = false, bool pooled = false);

private:
    /// A value no registry held before (generation_).
    static std::uint64_t next_generation();

    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<Database>, std::less<>> dbs_;
    std::vector<std::shared_ptr<Database>> retired_;
    // Changes whenever add() or remove() changes dbs_: what each thread's last get() remembers is valid until then.
    std::atomic<std::uint64_t> generation_{next_generation()};
};

/// The process-wide database registry (Django's settings.DATABASES and django.db.connections).
DORM_DECL Databases& databases();

/// Ends the calling thread's use of its connections (to every database) that nothing uses now, as its end would:
/// pooled ones go back to their pool, others close. For threads that serve one task after another (Django's
/// close_old_connections() at the end of a request); connections in an atomic block or with an open cursor stay.
DORM_DECL void release_connections();

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
