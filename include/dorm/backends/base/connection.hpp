// SPDX-License-Identifier: MIT
// Connection and Cursor: the interface every backend implements (prepare, bind, step, decode, errors).
#pragma once

#include <dorm/config.hpp>

#include <dorm/backends/base/cell.hpp>
#include <dorm/backends/base/dialect.hpp>
#include <dorm/backends/base/shape_cache.hpp>
#include <dorm/errors.hpp>
#include <dorm/value.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dorm {

/// One statement a connection ran, as recorded by CaptureQueries.
struct CapturedQuery {
    std::string sql;
    std::vector<Value> params;
};

struct FieldMeta;

namespace backends {

/// How a connection bulk loads rows into one table through its database's copy protocol (PostgreSQL's
/// COPY ... FROM STDIN): what Connection::copy_target() found out once, and copy_rows() uses.
struct CopyTarget {
    std::string sql;                         // COPY "table" ("column", ...) FROM STDIN ...
    std::vector<std::uint32_t> types;        // each column's type in the database, as the backend names types
    std::string reserve_sql;                 // takes keys of the automatic key: $1 = `sequence`, $2 = how many
    Value sequence;                          // the sequence the automatic key's values come from
};

class Connection;

/// The rows of one executed statement, read forward once. Row cells stay valid until the next `next()`.
class Cursor {
public:
    virtual ~Cursor();
    /// Moves to the next row; false at the end.
    bool next();
    /// The cells of the current row, in SELECT order.
    std::span<const Cell> row() const noexcept { return {cells_, columns_}; }
    std::size_t columns() const noexcept { return columns_; }
    /// The name of column `i` of the result (for raw rows and explain()).
    virtual std::string column_name(std::size_t i) const = 0;
    /// How many rows are left, where the backend knows it without reading them (0: unknown), so that a reader
    /// can size its storage once.
    virtual std::size_t rows_hint() const noexcept { return 0; }

protected:
    virtual bool do_next() = 0;
    const Cell* cells_ = nullptr;
    std::size_t columns_ = 0;

private:
    friend class Connection;
    Connection* owner_ = nullptr;  // counts this cursor among its open ones
    bool write_ = false;           // INSERT ... RETURNING: a failure while stepping is a failed write
};

/// One open connection to a database, used by one thread at a time.
class Connection {
public:
    virtual ~Connection() = default;
    Connection() = default;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    virtual const Dialect& dialect() const noexcept = 0;

    /// Runs a statement that returns rows (SELECT, INSERT ... RETURNING).
    /// `hint`: where the backend may find the statement prepared for `sql` on the last run, and leave it.
    std::unique_ptr<Cursor> query(const std::string& sql, std::span<const Value> params,
                                  StatementHint* hint = nullptr) {
        return guarded(sql, params, [&] { return own(do_query(sql, params, hint), sql); });
    }
    /// Runs a statement that returns no rows; returns the number of rows it changed.
    /// `hint`: as for query().
    std::int64_t execute(const std::string& sql, std::span<const Value> params = {}, StatementHint* hint = nullptr) {
        return guarded(sql, params, [&] { return do_execute(sql, params, hint); });
    }

    /// Runs a SELECT whose rows are read `chunk_size` at a time so that memory stays flat
    /// (server-side cursors where the database has them).
    std::unique_ptr<Cursor> stream(const std::string& sql, std::span<const Value> params, std::size_t chunk_size) {
        return guarded(sql, params, [&] { return own(do_stream(sql, params, chunk_size), sql); });
    }

    /// Whether `fields` (the columns of `table`, in this order) can be loaded with copy_rows(), and how: nullopt
    /// when the backend has no copy protocol or a column's type in the database is not one it encodes. Asks the
    /// database once per table (and again after this connection changed a table); not a statement of the user's.
    /// `auto_key`: the automatic primary key whose values will be reserved for the rows.
    virtual std::optional<CopyTarget> copy_target(std::string_view table, std::span<const FieldMeta* const> fields,
                                                  const FieldMeta* auto_key) {
        (void)table, (void)fields, (void)auto_key;
        return std::nullopt;
    }
    /// Loads one row per object of `objs` (instances of the model `fields` belong to) with the statement of
    /// `target`; returns the rows loaded. With `auto_key` (one of `fields`), first takes as many values of its
    /// sequence (target.reserve_sql) and sets them on the objects, which are then loaded with them: the keys
    /// the database would have given the rows. Counted and captured as those statements (the COPY without its
    /// rows); a failure is the same exception as the INSERT's would be.
    std::int64_t copy_rows(const CopyTarget& target, std::span<const FieldMeta* const> fields,
                           std::span<void* const> objs, const FieldMeta* auto_key);

    /// Statements run on this connection so far (Django's len(connection.queries)).
    std::uint64_t queries_executed() const noexcept { return queries_executed_; }
    /// Statements prepared so far: repeated SQL is served from the per-connection cache.
    std::uint64_t statements_prepared() const noexcept { return statements_prepared_; }

    // Transactions, as Django's django.db.transaction (dorm/transaction.hpp is the API): BEGIN for the outermost
    // atomic block, a savepoint for each nested one that asks for it.
    std::size_t atomic_depth() const noexcept { return levels_.size(); }
    /// Enters an atomic block. `durable` inside another block is Django's RuntimeError.
    void atomic_enter(bool savepoint = true, bool durable = false);
    /// Leaves the innermost block: COMMIT / RELEASE when `commit` and no rollback is pending (then the on_commit
    /// callbacks run after the outermost COMMIT); otherwise ROLLBACK (TO SAVEPOINT), or, for a block without a
    /// savepoint, marks the enclosing one for rollback. After the transaction was lost (see transaction_lost())
    /// nothing is sent, and committing raises TransactionManagementError.
    void atomic_exit(bool commit);
    /// atomic_exit(false) for a block that is unwinding: its own exception is the one the caller sees, so a
    /// failing rollback only marks the transaction lost.
    void atomic_abort() noexcept;

    /// A callback for on_commit(): type-erased once per callable type.
    struct CommitHook {
        virtual ~CommitHook() = default;
        virtual void run() = 0;
    };
    /// Runs `hook` after the outermost atomic block commits (now, outside any block); discarded if the block
    /// or a savepoint it was registered under rolls back. A throwing hook stops those after it unless `robust`.
    void on_commit(std::unique_ptr<CommitHook> hook, bool robust);
    /// Django's set_rollback() / get_rollback(): whether the innermost block will roll back instead of committing.
    void set_rollback(bool rollback);
    bool get_rollback() const;
    /// Manual savepoints (Django's savepoint(), savepoint_commit(), savepoint_rollback()); none outside a
    /// transaction. Only names this connection handed out are accepted.
    std::optional<std::string> savepoint();
    void savepoint_commit(std::string_view sid);
    void savepoint_rollback(std::string_view sid);
    /// Django's autocommit switch: off, statements run in a transaction that commit() / rollback() end.
    bool get_autocommit() const noexcept { return autocommit_ && levels_.empty(); }
    void set_autocommit(bool on);
    void commit();
    void rollback();
    /// Whether the transaction of the enclosing atomic blocks is gone (connection lost, or rolled back by the
    /// database itself): every statement raises TransactionManagementError until the outermost block ends, so
    /// nothing after the loss runs in autocommit mode.
    bool transaction_lost() const noexcept { return lost_; }

    /// Whether the database holds an open transaction on this connection (inside atomic(): false once the
    /// connection was lost, or when SQLite rolled back by itself after a disk-full or I/O error).
    virtual bool transaction_open() const noexcept = 0;

    /// Whether nothing uses this connection now: no open cursor, no transaction (so it may be closed).
    bool idle() const noexcept { return open_cursors_ == 0 && levels_.empty() && !manual_open_; }

    /// Makes the connection fit for its next user (a pool hands it on): a transaction left open with autocommit
    /// off is rolled back and autocommit turned on again. False when it cannot be handed on: a cursor is open, an
    /// atomic block is active, a CaptureQueries records it, or it no longer reaches its database.
    bool reset_for_reuse() noexcept;
    /// Whether the connection still reaches its database, without a round trip (a connection the server closed
    /// while it sat in a pool is found out here).
    virtual bool usable() noexcept { return true; }
    /// Asks the database to stop the statement this connection is running now; called from another thread (an
    /// asynchronous task destroyed while its query runs). The statement then fails as a cancelled one.
    virtual void cancel() noexcept {}
    /// The automatic key of the row the last INSERT on this connection added, where the dialect says
    /// has_last_insert_id() (Django's cursor.lastrowid); a trigger's own inserts do not change it.
    virtual std::int64_t last_insert_id() const {
        throw NotSupportedError(fmt::format("dorm: {} does not report the last inserted key", dialect().vendor()));
    }

    /// The statements of the query shapes evaluated on this connection (<dorm/serialize.hpp>'s shaped_statement()).
    ShapeCache shapes;

    /// Where to record statements, for CaptureQueries (nested captures each record everything); empty when
    /// not capturing.
    std::vector<std::vector<CapturedQuery>*> captures;

protected:
    virtual std::unique_ptr<Cursor> do_query(const std::string& sql, std::span<const Value> params,
                                             StatementHint* hint) = 0;
    virtual std::int64_t do_execute(const std::string& sql, std::span<const Value> params, StatementHint* hint) = 0;
    /// Default: an ordinary query, for backends whose cursors already step row by row (SQLite).
    virtual std::unique_ptr<Cursor> do_stream(const std::string& sql, std::span<const Value> params, std::size_t);
    /// Backends with copy_target() implement this.
    virtual std::int64_t do_copy_rows(const CopyTarget& target, std::span<const FieldMeta* const> fields,
                                      std::span<void* const> objs, const FieldMeta* auto_key) {
        (void)fields, (void)objs, (void)auto_key;
        throw NotSupportedError(fmt::format("dorm: this backend cannot run {}", target.sql));
    }
    /// Backends call this for every statement they prepare.
    void note_prepared() noexcept { ++statements_prepared_; }
    /// What a statement raises while the transaction is lost or must roll back (Django's TransactionManagementError).
    [[noreturn]] void refuse_in_broken_transaction() const;
    /// Marks the transaction lost, when inside atomic().
    void lose_transaction() noexcept {
        if (!levels_.empty()) lost_ = true;
    }

private:
    friend class Cursor;
    std::unique_ptr<Cursor> own(std::unique_ptr<Cursor> c, const std::string& sql) noexcept {
        c->owner_ = this;
        c->write_ = is_write(sql);
        ++open_cursors_;
        return c;
    }
    /// Runs one statement of the user's: counted, captured, refused while the transaction is lost or must roll
    /// back, and its failure noted.
    template <class Run>
    auto guarded(const std::string& sql, std::span<const Value> params, Run&& run) -> decltype(run()) {
        if (lost_ || needs_rollback_) [[unlikely]]
            refuse_in_broken_transaction();
        if (!autocommit_ && !manual_open_) [[unlikely]]
            begin_manual();
        note(sql, params);
        try {
            return run();
        } catch (const DatabaseError&) {
            after_error(is_write(sql));
            throw;
        }
    }
    static bool is_write(const std::string& sql) noexcept { return !sql.starts_with("SELECT") && !sql.starts_with("EXPLAIN"); }
    void note(const std::string& sql, std::span<const Value> params) {
        ++queries_executed_;
        if (!captures.empty()) [[unlikely]]
            capture(sql, params);
    }
    /// BEGIN, COMMIT, SAVEPOINT ...: sent even when the user's statements are refused.
    void control(const std::string& sql);
    void begin_manual();
    void atomic_rollback_quietly() noexcept;
    /// After a failed statement inside atomic(): a transaction the database no longer holds is lost; a failed
    /// write marks the block for rollback (Django's mark_for_rollback_on_error; a failed read does not, and on
    /// PostgreSQL the server refuses what follows by itself).
    void after_error(bool write) noexcept;
    /// Records the statement in every CaptureQueries of this connection (compiled once: only tests use it).
    void capture(const std::string& sql, std::span<const Value> params);
    void run_commit_hooks();
    void discard_hooks_of(std::string_view sid);
    std::string new_savepoint();

    struct Level {
        std::string savepoint;  // empty: the outermost block, or one entered with savepoint = false
    };
    struct Hook {
        std::vector<std::string> savepoints;  // those open when it was registered
        std::unique_ptr<CommitHook> hook;
        bool robust = false;
    };

    std::uint64_t queries_executed_ = 0;
    std::uint64_t statements_prepared_ = 0;
    std::vector<Level> levels_;
    std::vector<std::string> savepoints_;  // open: the atomic blocks' and the manual ones
    std::vector<Hook> hooks_;
    std::uint64_t savepoint_serial_ = 0;
    std::size_t open_cursors_ = 0;
    bool lost_ = false;
    bool needs_rollback_ = false;
    bool autocommit_ = true;
    bool manual_open_ = false;  // autocommit off, and BEGIN sent
};

inline Cursor::~Cursor() {
    if (owner_) --owner_->open_cursors_;
}

inline bool Cursor::next() {
    try {
        return do_next();
    } catch (const DatabaseError&) {  // SQLite reports most errors while stepping
        if (owner_) owner_->after_error(write_);
        throw;
    }
}

}  // namespace backends
}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/backends/base/impl/connection.ipp>
#endif
