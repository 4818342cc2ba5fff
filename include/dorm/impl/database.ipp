// SPDX-License-Identifier: MIT
// Definitions for <dorm/database.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/async/fiber.hpp>
#include <dorm/async/task.hpp>
#include <dorm/database.hpp>
#include <dorm/detail/short_text.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <set>

namespace dorm::backends {
DORM_DECL std::vector<const Backend*>& backend_registry() {
    static std::vector<const Backend*> registry;
    return registry;
}

DORM_DECL bool register_backend(const Backend& b) {
    backend_registry().push_back(&b);
    return true;
}
}  // namespace dorm::backends

namespace dorm::detail {

/// The key of the calling thread itself, even on a fiber.
inline std::uintptr_t os_thread_key() noexcept {
    thread_local const char key = 0;
    return reinterpret_cast<std::uintptr_t>(&key);
}

// The fiber running on this thread now, as a key (0: none): its connections are held under it, as a thread's
// (see async/impl/fiber.ipp, which swaps it with the rest of dorm's per-thread state).
inline thread_local std::uintptr_t fiber_key = 0;

DORM_DECL std::uintptr_t thread_key() noexcept { return fiber_key ? fiber_key : os_thread_key(); }

DORM_DECL const std::string* intern_alias(std::string_view alias) {
    // The name this thread interned last, without the lock: save() and using_() ask for one alias again and
    // again. Interned names are never dropped, so the pointer stays valid.
    thread_local const std::string* last = nullptr;
    if (last && *last == alias) return last;
    static std::mutex m;
    static std::set<std::string, std::less<>> names;
    std::lock_guard lock(m);
    auto it = names.find(alias);
    if (it == names.end()) it = names.emplace(alias).first;
    last = &*it;
    return last;
}

DORM_DECL std::vector<UrlOption> url_options(std::string_view query) {
    std::vector<UrlOption> items;
    while (!query.empty()) {
        auto amp = query.find('&');
        std::string_view item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        auto eq = item.find('=');
        items.push_back({item.substr(0, eq), eq == std::string_view::npos ? "" : item.substr(eq + 1), item});
    }
    return items;
}
}  // namespace dorm::detail

namespace dorm {

namespace detail {
// The calling thread's last connection, and the serial of its Database: the fast path of Database::connection().
inline thread_local std::uint64_t last_serial = 0;
inline thread_local backends::Connection* last_connection = nullptr;
// The connections the asynchronous work this thread runs now holds (PinScope): they come before its own.
inline thread_local const Pin* pinned = nullptr;
class PinScope;
// The innermost PinScope of the work this thread (or fiber) runs now.
inline thread_local PinScope* pin_scope = nullptr;
// Where the asynchronous work this thread runs records the connection it uses (CancellableJob), to be cancelled.
inline thread_local std::atomic<backends::Connection*>* working_for = nullptr;

/// Closes a thread's connections when it exits (constructed on the thread's first connection).
struct ThreadConnections {
    std::uintptr_t key = os_thread_key();
    ~ThreadConnections() { databases().release_thread(key, true); }
};
}  // namespace detail

namespace detail {
/// Reads a pool option's value: a whole number (pool_size) or seconds (the timeouts).
inline double pool_option_value(std::string_view key, std::string_view value, std::string_view url, bool whole) {
    std::string text(value);
    char* end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end || !(v >= 0 && v <= 1e6) || (whole && v != static_cast<double>(static_cast<long>(v))))
        throw InterfaceError(fmt::format("dorm: database option {}={} in '{}' is not {}", key, value, url,
                                         whole ? "a whole number" : "a number of seconds"));
    return v;
}
}  // namespace detail

/// What a checkout waits on when the pool is exhausted: threads on the condition variable, fibers on their alarms
/// (which a thread can ring without blocking the fiber's executor).
struct Database::Available {
    std::condition_variable cv;
    std::vector<detail::FiberAlarm*> fibers;  // in the order they began to wait

    /// A connection came back (or a place for one): wakes one waiting thread and the first waiting fiber.
    void notify_one() {
        cv.notify_one();
        if (!fibers.empty()) {
            fibers.front()->ring();
            fibers.erase(fibers.begin());
        }
    }
    void notify_all() {
        cv.notify_all();
        for (auto* f : fibers) f->ring();
        fibers.clear();
    }
};

DORM_DECL Database::Database(std::string alias, std::string url, const backends::Backend& backend)
    : alias_(std::move(alias)),
      url_(std::move(url)),
      backend_(&backend),
      id_(next_serial()),
      serial_(id_),
      available_(std::make_unique<Available>()) {
    // dorm's own options leave the URL; the others (the backend's) stay in order.
    auto q = url_.find('?');
    if (q == std::string::npos) {
        backend_url_ = url_;
        return;
    }
    backend_url_ = url_.substr(0, q);
    std::string rest;
    for (auto [key, value, item] : dorm::detail::url_options(std::string_view(url_).substr(q + 1))) {
        auto seconds = [&, key = key, value = value] {
            return std::chrono::milliseconds(
                static_cast<std::int64_t>(detail::pool_option_value(key, value, url_, false) * 1000));
        };
        if (key == "pool_size") pool_.size = static_cast<std::size_t>(detail::pool_option_value(key, value, url_, true));
        else if (key == "pool_timeout") pool_.timeout = seconds();
        else if (key == "idle_timeout") pool_.idle_timeout = seconds();
        else rest += (rest.empty() ? "" : "&") + std::string(item);
    }
    if (!rest.empty()) backend_url_ += "?" + rest;
}

DORM_DECL Database::~Database() = default;

DORM_DECL auto Database::connection() -> backends::Connection& {
    if (detail::last_serial == serial_.load(std::memory_order_relaxed)) [[likely]]
        return *detail::last_connection;
    for (const detail::Pin* p = detail::pinned; p; p = p->outer)
        if (p->db == this) {
            detail::last_serial = serial_.load(std::memory_order_relaxed);
            detail::last_connection = p->connection;
            if (detail::working_for) detail::working_for->store(p->connection);
            return *p->connection;
        }
    thread_local detail::ThreadConnections exit_hook;
    (void)exit_hook;
    const std::uintptr_t key = detail::thread_key();  // a fiber's own, on a fiber
    // A thread that switches databases closes what it still holds open to databases add() replaced.
    databases().release_thread(key, false);
    std::unique_lock lock(mutex_);
    auto it = connections_.find(key);
    if (it == connections_.end()) {
        auto c = checkout(lock);
        it = connections_.emplace(key, std::move(c)).first;
    }
    detail::last_serial = serial_.load(std::memory_order_relaxed);
    detail::last_connection = it->second.get();
    if (detail::working_for) detail::working_for->store(it->second.get());
    return *it->second;
}

DORM_DECL auto Database::checkout(std::unique_lock<std::mutex>& lock) -> std::unique_ptr<backends::Connection> {
    const auto deadline = std::chrono::steady_clock::now() + pool_.timeout;
    for (;;) {
        std::vector<std::unique_ptr<backends::Connection>> closing;
        reap(closing);
        while (!idle_.empty()) {
            auto c = std::move(idle_.back().connection);
            idle_.pop_back();
            if (c->usable()) return c;
            --open_;  // the server closed it while it was pooled: replaced below
            closing.push_back(std::move(c));
        }
        if (pool_.size == 0 || open_ < pool_.size) {
            ++open_;
            lock.unlock();
            closing.clear();
            try {
                auto c = backend_->connect(*this);
                lock.lock();
                return c;
            } catch (...) {
                lock.lock();
                --open_;
                available_->notify_one();
                throw;
            }
        }
        if (!closing.empty()) {
            lock.unlock();
            closing.clear();
            lock.lock();
            continue;
        }
        bool timed_out;
        if (detail::on_fiber()) {
            // Its executor's thread may run what holds the connections (a transaction's next step): it is not
            // blocked. Each fiber of this database has a connection of its own (they are started no faster than
            // the pool serves them), so this waits for connections held elsewhere, until one comes back.
            detail::FiberAlarm alarm(deadline);
            available_->fibers.push_back(&alarm);
            lock.unlock();
            alarm.wait();
            lock.lock();
            std::erase(available_->fibers, &alarm);  // still there when the deadline came first
            timed_out = std::chrono::steady_clock::now() >= deadline;
        } else {
            timed_out = available_->cv.wait_until(lock, deadline) == std::cv_status::timeout;
        }
        if (timed_out && idle_.empty() && open_ >= pool_.size)
            throw OperationalError(fmt::format("dorm: no connection to the database '{}' became free within {} s "
                                               "(pool_size={}, all in use)",
                                               alias_, pool_.timeout.count() / 1000.0, pool_.size),
                                   {}, "08004");
    }
}

DORM_DECL bool Database::keeps() const {
    if (retired_) return false;
    // Unpooled, only an in-memory database's last connection is kept: closing it would drop the database.
    return pool_.size > 0 || (in_memory() && open_ == 1);
}

DORM_DECL void Database::reap(std::vector<std::unique_ptr<backends::Connection>>& out) {
    const auto oldest = std::chrono::steady_clock::now() - pool_.idle_timeout;
    for (auto it = idle_.begin(); it != idle_.end() && it->since < oldest;) {
        if (in_memory() && open_ == 1) break;  // the database lives only while a connection is open
        out.push_back(std::move(it->connection));
        it = idle_.erase(it);
        --open_;
    }
}

DORM_DECL void Database::close() {
    {
        std::lock_guard lock(mutex_);
        auto it = connections_.find(detail::thread_key());
        if (it == connections_.end()) return;
        if (it->second->atomic_depth() > 0)
            throw TransactionManagementError("dorm: This is forbidden when an 'atomic' block is active.");
        if (!it->second->idle() || !it->second->captures.empty())
            throw InterfaceError(fmt::format("dorm: the connection to '{}' is in use (an open cursor, a "
                                             "transaction with autocommit off, or a CaptureQueries)", alias_));
    }
    release(detail::thread_key(), false);  // only this thread uses its connection: still as checked
}

DORM_DECL bool Database::is_usable() {
    std::unique_ptr<backends::Connection> broken;  // closed after the lock is released
    {
        std::lock_guard lock(mutex_);
        auto it = connections_.find(detail::thread_key());
        if (it != connections_.end()) {
            if (it->second->usable()) return true;
            if (!it->second->idle()) return false;  // a transaction or cursor still holds it: not replaced under them
            if (detail::last_connection == it->second.get()) detail::last_serial = 0;
            broken = std::move(it->second);
            connections_.erase(it);
            --open_;
            available_->notify_one();
        }
    }
    broken.reset();
    try {
        (void)connection();
        return true;
    } catch (const OperationalError&) {
        return false;
    }
}

DORM_DECL std::size_t Database::connection_count() const {
    std::lock_guard lock(mutex_);
    return open_;
}

DORM_DECL std::size_t Database::idle_count() const {
    std::lock_guard lock(mutex_);
    return idle_.size();
}

DORM_DECL bool Database::release(std::uintptr_t thread, bool only_idle) {
    std::unique_ptr<backends::Connection> c;
    bool may_keep = false;
    {
        std::lock_guard lock(mutex_);
        auto it = connections_.find(thread);
        if (it == connections_.end() || (only_idle && !(it->second->idle() && it->second->captures.empty())))
            return open_ == 0;
        // Always the calling thread's own connection (its release at its end, or release_connections()).
        if (detail::last_connection == it->second.get()) detail::last_serial = 0;
        c = std::move(it->second);
        connections_.erase(it);
        may_keep = keeps();
    }
    restore(std::move(c), may_keep);
    std::lock_guard lock(mutex_);
    return open_ == 0;
}

DORM_DECL void Database::restore(std::unique_ptr<backends::Connection> c, bool may_keep) {
    // Resetting may roll back on the server: not while holding the lock every other thread's checkout waits for.
    const bool clean = may_keep && c->reset_for_reuse();
    std::vector<std::unique_ptr<backends::Connection>> closing;  // closed after the lock is released
    std::lock_guard lock(mutex_);
    if (clean && !retired_) {
        idle_.push_back({std::move(c), std::chrono::steady_clock::now()});
    } else {
        closing.push_back(std::move(c));
        --open_;
    }
    reap(closing);
    available_->notify_one();
}

DORM_DECL Lease Database::lease() {
    std::unique_lock lock(mutex_);
    auto c = checkout(lock);
    return Lease(*this, std::move(c));
}

DORM_DECL void Database::give_back(std::unique_ptr<backends::Connection> c) noexcept {
    if (!c) return;
    bool may_keep;
    {
        std::lock_guard lock(mutex_);
        may_keep = keeps();
    }
    restore(std::move(c), may_keep);
}

DORM_DECL void Database::retire() {
    std::vector<Idle> closing;
    std::lock_guard lock(mutex_);
    retired_ = true;
    open_ -= idle_.size();
    closing.swap(idle_);
    available_->notify_all();
}

DORM_DECL void Databases::release_thread(std::uintptr_t thread, bool exiting, bool idle, bool pooled) {
    std::vector<std::shared_ptr<Database>> retired, active;
    {
        std::lock_guard lock(mutex_);
        if (retired_.empty() && !exiting && !idle && !pooled) return;
        retired = retired_;
        for (auto& [_, db] : dbs_)
            if (exiting || idle || (pooled && db->pool().size > 0)) active.push_back(db);
    }
    std::vector<const Database*> drained;
    for (auto& db : retired)
        if (db->release(thread, !exiting)) drained.push_back(db.get());
    for (auto& db : active) db->release(thread, !exiting);
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
        generation_.store(next_generation(), std::memory_order_release);
        // QuerySets being evaluated may still use the replaced database: it is kept until its connections close.
        if (replaced) {
            replaced->retire();
            if (replaced->connection_count() > 0) retired_.push_back(replaced);
        }
    }
    if (replaced) {
        release_thread(detail::thread_key(), false);
        if (auto hook = detail::retired_hook.load()) hook();
    }
    return *db;
}

DORM_DECL void Databases::remove(std::string_view alias) {
    std::shared_ptr<Database> removed;
    {
        std::lock_guard lock(mutex_);
        auto it = dbs_.find(alias);
        if (it == dbs_.end()) throw InterfaceError(fmt::format("dorm: the database '{}' doesn't exist", alias));
        removed = std::move(it->second);
        dbs_.erase(it);
        generation_.store(next_generation(), std::memory_order_release);
        removed->retire();
        if (removed->connection_count() > 0) retired_.push_back(removed);
    }
    release_thread(detail::thread_key(), false);
    if (auto hook = detail::retired_hook.load()) hook();
}

DORM_DECL std::uint64_t Databases::next_generation() {
    static std::atomic<std::uint64_t> last{0};
    return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

DORM_DECL auto Databases::get(std::string_view alias) -> Database& {
    // The database this thread asked for last: code asks for one alias again and again, and the lock and the map
    // lookup cost a tenth of a get(pk) on SQLite. Valid until add() or remove() changes the registry; a database
    // replaced while in use is kept alive as before (retired_).
    // Plain data, so that nothing is destroyed at thread exit (a thread_local's destructor may still ask);
    // aliases longer than the room are not remembered.
    struct Last {
        const Databases* registry = nullptr;
        std::uint64_t generation = 0;
        Database* db = nullptr;
        std::size_t size = 0;
        char alias[48];
    };
    thread_local Last last;
    if (last.registry == this && last.generation == generation_.load(std::memory_order_acquire) &&
        dorm::detail::equal_short(std::string_view(last.alias, last.size), alias))
        return *last.db;
    std::lock_guard lock(mutex_);
    auto it = dbs_.find(alias);
    if (it == dbs_.end()) {
        std::string names;
        for (auto& [n, _] : dbs_) names += (names.empty() ? "'" : ", '") + n + "'";
        throw InterfaceError(fmt::format("dorm: the database '{}' doesn't exist; configured: {}", alias,
                                         names.empty() ? "none (call databases().add(...))" : names));
    }
    if (alias.size() <= sizeof last.alias) {
        last.registry = this;
        last.generation = generation_.load(std::memory_order_relaxed);  // changed only under mutex_
        last.db = it->second.get();
        last.size = alias.copy(last.alias, sizeof last.alias);
    }
    return *it->second;
}

}  // namespace dorm

namespace dorm {
DORM_DECL Databases& databases() {
    static Databases instance;
    return instance;
}

DORM_DECL void release_connections() { databases().release_thread(detail::thread_key(), false, true); }
}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/async/impl/fiber.ipp>  // needs all of the above
#endif
