// SPDX-License-Identifier: MIT
// SQLite connection: prepared-statement cache, binding, stepping into Cells, and result codes -> PEP 249 errors.
#pragma once

#include <dorm/backends/sqlite/connection.hpp>
#include <dorm/backends/base/recycled.hpp>
#include <dorm/backends/sqlite/impl/dialect.ipp>
#include <dorm/backends/sqlite/impl/functions.ipp>

#include <sqlite3.h>

#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

namespace dorm::backends::sqlite {

/// The name of an (extended) SQLite result code, for DatabaseError::code().
inline std::string result_code_name(int code) {
    switch (code) {
        case SQLITE_CONSTRAINT_UNIQUE: return "SQLITE_CONSTRAINT_UNIQUE";
        case SQLITE_CONSTRAINT_PRIMARYKEY: return "SQLITE_CONSTRAINT_PRIMARYKEY";
        case SQLITE_CONSTRAINT_FOREIGNKEY: return "SQLITE_CONSTRAINT_FOREIGNKEY";
        case SQLITE_CONSTRAINT_NOTNULL: return "SQLITE_CONSTRAINT_NOTNULL";
        case SQLITE_CONSTRAINT_CHECK: return "SQLITE_CONSTRAINT_CHECK";
        case SQLITE_CONSTRAINT: return "SQLITE_CONSTRAINT";
        case SQLITE_ERROR: return "SQLITE_ERROR";
        case SQLITE_BUSY: return "SQLITE_BUSY";
        case SQLITE_LOCKED: return "SQLITE_LOCKED";
        case SQLITE_LOCKED_SHAREDCACHE: return "SQLITE_LOCKED_SHAREDCACHE";
        case SQLITE_READONLY: return "SQLITE_READONLY";
        case SQLITE_CANTOPEN: return "SQLITE_CANTOPEN";
        case SQLITE_MISMATCH: return "SQLITE_MISMATCH";
        case SQLITE_TOOBIG: return "SQLITE_TOOBIG";
        case SQLITE_RANGE: return "SQLITE_RANGE";
        case SQLITE_MISUSE: return "SQLITE_MISUSE";
        case SQLITE_NOMEM: return "SQLITE_NOMEM";
        case SQLITE_IOERR: return "SQLITE_IOERR";
        case SQLITE_FULL: return "SQLITE_FULL";
        case SQLITE_CORRUPT: return "SQLITE_CORRUPT";
        case SQLITE_NOTADB: return "SQLITE_NOTADB";
        case SQLITE_INTERRUPT: return "SQLITE_INTERRUPT";
        default: return "SQLITE_" + std::to_string(code);
    }
}

/// Throws the PEP 249 exception for an SQLite result code (mapped as Python's sqlite3 module does).
[[noreturn]] inline void raise(sqlite3* db, int rc, const std::string& sql) {
    int ext = db ? sqlite3_extended_errcode(db) : rc;
    if ((ext & 0xff) != (rc & 0xff)) ext = rc;
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    std::string code = result_code_name(ext);
    std::string what = sql.empty() ? msg : fmt::format("{}\nSQL: {}", msg, sql);
    switch (rc & 0xff) {
        case SQLITE_CONSTRAINT:
        case SQLITE_MISMATCH: throw IntegrityError(what, sql, code);
        case SQLITE_TOOBIG: throw DataError(what, sql, code);
        case SQLITE_INTERNAL:
        case SQLITE_NOTFOUND: throw InternalError(what, sql, code);
        case SQLITE_MISUSE:
        case SQLITE_RANGE: throw ProgrammingError(what, sql, code);
        default: throw OperationalError(what, sql, code);
    }
}

class Connection;

/// A cached prepared statement; `busy` while a cursor or execute() uses it.
struct CachedStatement {
    sqlite3_stmt* stmt = nullptr;
    bool busy = false;
};

/// Rows of one stepped statement.
class Cursor final : public backends::Cursor, public backends::Recycled<Cursor> {
public:
    Cursor(Connection& conn, sqlite3_stmt* stmt, CachedStatement* cached);
    Cursor(const Cursor&) = delete;  // its cells may be its own members
    Cursor& operator=(const Cursor&) = delete;
    ~Cursor() override;
    bool do_next() override;
    std::string column_name(std::size_t i) const override { return sqlite3_column_name(stmt_, static_cast<int>(i)); }

private:
    Connection& conn_;
    sqlite3_stmt* stmt_;
    CachedStatement* cached_;  // nullptr: a one-off statement, finalized on release
    InlineCells<16> inline_;  // up to this many columns need no allocation
    std::vector<Cell> heap_;
    Cell* row_ = nullptr;
};

/// One sqlite3 handle with its statement cache. Used by one thread.
class Connection final : public backends::Connection {
public:
    Connection(const std::string& filename, int timeout_ms) {
        int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX;
        int rc = sqlite3_open_v2(filename.c_str(), &db_, flags, nullptr);
        if (rc != SQLITE_OK) {
            std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
            sqlite3_close_v2(db_);
            db_ = nullptr;
            throw OperationalError(fmt::format("dorm: cannot open SQLite database '{}': {}", filename, msg), {},
                                   result_code_name(rc));
        }
        sqlite3_extended_result_codes(db_, 1);
        sqlite3_busy_timeout(db_, timeout_ms);
        register_functions(db_);
        execute("PRAGMA foreign_keys = ON");
    }
    ~Connection() override {
        for (auto& [sql, entry] : cache_) sqlite3_finalize(entry.stmt);
        sqlite3_close_v2(db_);
    }

    const backends::Dialect& dialect() const noexcept override { return sqlite::dialect(); }
    sqlite3* handle() const noexcept { return db_; }
    void cancel() noexcept override { sqlite3_interrupt(db_); }  // safe from another thread
    bool transaction_open() const noexcept override { return sqlite3_get_autocommit(db_) == 0; }
    std::int64_t last_insert_id() const override { return sqlite3_last_insert_rowid(db_); }

    /// Returns a statement to the cache (or finalizes a one-off); called by Cursor.
    static void release(sqlite3_stmt* stmt, CachedStatement* cached) noexcept {
        sqlite3_reset(stmt);
        if (cached) cached->busy = false;
        else sqlite3_finalize(stmt);
    }

protected:
    std::unique_ptr<backends::Cursor> do_query(const std::string& sql, std::span<const Value> params,
                                               StatementHint* hint) override {
        CachedStatement* cached;
        sqlite3_stmt* stmt = acquire(sql, cached, hint);
        try {
            bind(stmt, params, sql);
        } catch (...) {
            release(stmt, cached);
            throw;
        }
        return std::make_unique<Cursor>(*this, stmt, cached);
    }

    std::int64_t do_execute(const std::string& sql, std::span<const Value> params, StatementHint* hint) override {
        CachedStatement* cached;
        sqlite3_stmt* stmt = acquire(sql, cached, hint);
        int rc;
        try {
            // The values outlive every step here, so SQLite may read text and blobs where they are (a raw loop's
            // SQLITE_STATIC) instead of copying each into memory of its own. They are not unbound afterwards: no
            // run steps a statement before bind() has bound every one of its parameters again (it checks their
            // number), and nothing else reads a statement's values, so what the statement still points at is
            // never read once it is gone.
            bind(stmt, params, sql, true);
            while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            }
        } catch (...) {
            release(stmt, cached);
            throw;
        }
        if (iso_.size() > 64) iso_ = {};  // a large batch's dates are not kept for the next statement
        if (rc != SQLITE_DONE) {
            release(stmt, cached);
            raise(db_, rc, sql);
        }
        release(stmt, cached);
        return sqlite3_changes64(db_);
    }

private:
    // Map nodes keep their address, and busy entries are never evicted, so a cursor may hold its entry.
    // `hint`: the entry found for `sql` last time, while no statement was dropped since (see StatementHint).
    sqlite3_stmt* acquire(const std::string& sql, CachedStatement*& cached, StatementHint* hint = nullptr) {
        if (hint && hint->owner == this && hint->epoch == epoch_) {
            auto* entry = static_cast<CachedStatement*>(hint->statement);
            if (!entry->busy) {
                entry->busy = true;
                cached = entry;
                return entry->stmt;
            }
        }
        auto it = cache_.find(sql);
        if (it != cache_.end() && !it->second.busy) {
            it->second.busy = true;
            cached = &it->second;
            if (hint) *hint = StatementHint{this, cached, epoch_};
            return it->second.stmt;
        }
        sqlite3_stmt* stmt = nullptr;
        int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
        if (rc != SQLITE_OK) raise(db_, rc, sql);
        note_prepared();
        cached = nullptr;  // a second use of a busy statement gets a one-off copy
        if (it == cache_.end()) {
            if (cache_.size() >= max_cached_statements) evict();
            cached = &cache_.emplace(sql, CachedStatement{stmt, true}).first->second;
            if (hint) *hint = StatementHint{this, cached, epoch_};
        }
        return stmt;
    }

    void evict() {
        epoch_ = statement_epoch();
        for (auto it = cache_.begin(); it != cache_.end();) {
            if (!it->second.busy) {
                sqlite3_finalize(it->second.stmt);
                it = cache_.erase(it);
            } else {
                ++it;
            }
        }
    }

    /// Binds every parameter of `stmt` (each run binds them all before it steps: see do_execute()).
    /// `borrowed`: SQLite reads the values (and dates' text, kept in `iso_`) where they are, while the statement
    /// runs; otherwise it copies them, for a cursor that may outlive its parameters.
    void bind(sqlite3_stmt* stmt, std::span<const Value> params, const std::string& sql, bool borrowed = false) {
        const auto keep = borrowed ? SQLITE_STATIC : SQLITE_TRANSIENT;
        if (static_cast<std::size_t>(sqlite3_bind_parameter_count(stmt)) != params.size())
            throw ProgrammingError(fmt::format("dorm: statement takes {} parameters, {} given",
                                               sqlite3_bind_parameter_count(stmt), params.size()), sql);
        for (std::size_t i = 0; i < params.size(); ++i) {
            int idx = static_cast<int>(i + 1);
            // Keys and text, the most common values, are bound here without the visit's dispatch;
            // the visit binds the rest.
            if (const auto* n = std::get_if<std::int64_t>(&params[i].variant())) {
                if (int rc = sqlite3_bind_int64(stmt, idx, *n); rc != SQLITE_OK) raise(db_, rc, sql);
                continue;
            }
            if (const auto* t = std::get_if<std::string>(&params[i].variant())) {
                if (int rc = sqlite3_bind_text64(stmt, idx, t->data(), t->size(), keep, SQLITE_UTF8); rc != SQLITE_OK)
                    raise(db_, rc, sql);
                continue;
            }
            int rc = std::visit(
                [&](const auto& x) -> int {
                    using X = std::decay_t<decltype(x)>;
                    if constexpr (std::is_same_v<X, std::monostate>) return sqlite3_bind_null(stmt, idx);
                    else if constexpr (std::is_same_v<X, bool>) return sqlite3_bind_int(stmt, idx, x ? 1 : 0);
                    else if constexpr (std::is_same_v<X, std::int64_t> || std::is_same_v<X, std::string>)
                        return SQLITE_MISUSE;  // bound above, never reached
                    else if constexpr (std::is_same_v<X, double>) return sqlite3_bind_double(stmt, idx, x);
                    else if constexpr (std::is_same_v<X, Bytes>) {
                        // An empty vector's data() may be null, which SQLite would bind as NULL.
                        if (x.empty()) return sqlite3_bind_zeroblob(stmt, idx, 0);
                        return sqlite3_bind_blob64(stmt, idx, x.data(), x.size(), keep);
                    }
                    else if constexpr (std::is_same_v<X, Duration>)  // microseconds, as Django stores them
                        return sqlite3_bind_int64(stmt, idx, x.count());
                    else if constexpr (std::is_same_v<X, Array>)
                        throw NotSupportedError("dorm: sqlite has no array type: an array value cannot be bound");
                    else {
                        if constexpr (!std::is_same_v<X, Time>) dorm::detail::check_writable(x);
                        auto s = dorm::detail::to_iso(x);  // dates and times are ISO text, as Django stores them
                        if (borrowed) {
                            if (iso_.size() < params.size()) iso_.resize(params.size());
                            iso_[i] = std::move(s);
                        }
                        const std::string& text = borrowed ? iso_[i] : s;
                        return sqlite3_bind_text64(stmt, idx, text.data(), text.size(), keep, SQLITE_UTF8);
                    }
                },
                params[i].variant());
            if (rc != SQLITE_OK) raise(db_, rc, sql);
        }
    }

    static constexpr std::size_t max_cached_statements = 512;
    sqlite3* db_ = nullptr;
    std::unordered_map<std::string, CachedStatement> cache_;
    std::uint64_t epoch_ = statement_epoch();  // a new one whenever cached statements are dropped (StatementHint)
    std::vector<std::string> iso_;  // dates' and times' text while a borrowed bind lasts
};

inline Cursor::Cursor(Connection& conn, sqlite3_stmt* stmt, CachedStatement* cached)
    : conn_(conn), stmt_(stmt), cached_(cached) {
    columns_ = static_cast<std::size_t>(sqlite3_column_count(stmt));
    if (columns_ > inline_.size) {
        heap_.resize(columns_);
        row_ = heap_.data();
    } else {
        row_ = inline_.init(columns_);
    }
    cells_ = row_;
}

inline Cursor::~Cursor() { Connection::release(stmt_, cached_); }

inline bool Cursor::do_next() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_DONE) return false;
    if (rc != SQLITE_ROW) raise(conn_.handle(), rc, sqlite3_sql(stmt_));
    // Each sqlite3_column_*() call checks the statement and the index and settles the connection's error state;
    // the column's value, read once, answers its type and contents without that. Reading an unprotected value is
    // safe here because one thread uses the connection at a time (it is opened SQLITE_OPEN_NOMUTEX).
    for (std::size_t i = 0; i < columns_; ++i) {
        sqlite3_value* v = sqlite3_column_value(stmt_, static_cast<int>(i));
        Cell& c = row_[i];
        switch (sqlite3_value_type(v)) {
            case SQLITE_INTEGER:
                c.kind = Cell::Kind::integer;
                c.i = sqlite3_value_int64(v);
                break;
            case SQLITE_FLOAT:
                c.kind = Cell::Kind::real;
                c.d = sqlite3_value_double(v);
                break;
            case SQLITE_TEXT:
                c.kind = Cell::Kind::text;
                c.p = reinterpret_cast<const char*>(sqlite3_value_text(v));  // before its length, as SQLite asks
                if (!c.p) throw std::bad_alloc();  // text is never NULL but when SQLite could not terminate it
                c.n = static_cast<std::size_t>(sqlite3_value_bytes(v));
                break;
            case SQLITE_BLOB:
                c.kind = Cell::Kind::blob;
                c.p = static_cast<const char*>(sqlite3_value_blob(v));
                c.n = static_cast<std::size_t>(sqlite3_value_bytes(v));
                break;
            default: c.kind = Cell::Kind::null;
        }
    }
    return true;
}

/// Opens "sqlite::memory:" (one in-memory database per Database, shared by its threads' connections),
/// "sqlite://relative/path.db", "sqlite:///absolute/path.db" or an SQLite URI ("sqlite://file:data.db?mode=ro").
/// Options follow a '?': `timeout=<seconds>` is how long a statement waits for another connection's lock
/// (Django's OPTIONS["timeout"], default 5); an SQLite URI's own parameters are passed on to SQLite.
inline std::unique_ptr<backends::Connection> connect(const Database& db) {
    std::string_view url = db.backend_url();
    double timeout = 5;
    std::string passed_on;  // an SQLite URI's parameters
    if (auto q = url.find('?'); q != std::string_view::npos) {
        std::string_view options = url.substr(q + 1);
        url = url.substr(0, q);
        const bool uri = url.starts_with("sqlite://file:");
        for (auto [key, value, item] : dorm::detail::url_options(options)) {
            if (key != "timeout" && uri) {
                passed_on += (passed_on.empty() ? "?" : "&") + std::string(item);
                continue;
            }
            if (key != "timeout")
                throw InterfaceError(fmt::format("dorm: unknown SQLite option '{}' in '{}' (known: timeout; dorm reads pool_size, pool_timeout, idle_timeout)", key, db.url()));
            std::string text(value);
            char* end = nullptr;
            timeout = std::strtod(text.c_str(), &end);
            if (text.empty() || *end || !(timeout >= 0 && timeout <= 86400))
                throw InterfaceError(fmt::format("dorm: SQLite option timeout={} is not a number of seconds", value));
        }
    }
    std::string filename;
    if (url == "sqlite::memory:") {
        // The memdb VFS (SQLite 3.36+) shares the database between connections with a file database's locking, so
        // that concurrent writers wait (busy timeout) instead of failing at once with SQLITE_LOCKED_SHAREDCACHE.
        filename = sqlite3_libversion_number() >= 3036000
                       ? fmt::format("file:/dorm_memdb_{}?vfs=memdb", db.id())
                       : fmt::format("file:dorm_memdb_{}?mode=memory&cache=shared", db.id());
    } else {
        filename = std::string(url.substr(std::string_view("sqlite://").size())) + passed_on;
    }
    if (filename.empty()) throw InterfaceError(fmt::format("dorm: '{}' names no SQLite database file", db.url()));
    return std::make_unique<Connection>(filename, static_cast<int>(timeout * 1000));
}

inline bool accepts(std::string_view url) {
    return url == "sqlite::memory:" || url.starts_with("sqlite::memory:?") || url.starts_with("sqlite://");
}

DORM_DECL const Backend& backend() {
    static const Backend b{"sqlite", &accepts, []() -> const backends::Dialect& { return dialect(); }, &connect,
                           [](std::string_view url) { return url.starts_with("sqlite::memory:"); }};
    return b;
}

}  // namespace dorm::backends::sqlite
