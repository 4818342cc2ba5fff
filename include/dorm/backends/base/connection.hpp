// SPDX-License-Identifier: MIT
// Connection and Cursor: the interface every backend implements (prepare, bind, step, decode, errors).
#pragma once

#include <dorm/config.hpp>

#include <dorm/backends/base/cell.hpp>
#include <dorm/backends/base/dialect.hpp>
#include <dorm/errors.hpp>
#include <dorm/value.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace dorm {

/// One statement a connection ran, as recorded by CaptureQueries.
struct CapturedQuery {
    std::string sql;
    std::vector<Value> params;
};

namespace backends {

class Connection;

/// The rows of one executed statement, read forward once. Row cells stay valid until the next `next()`.
class Cursor {
public:
    virtual ~Cursor();
    /// Moves to the next row; false at the end.
    virtual bool next() = 0;
    /// The cells of the current row, in SELECT order.
    std::span<const Cell> row() const noexcept { return {cells_, columns_}; }
    std::size_t columns() const noexcept { return columns_; }
    /// The name of column `i` of the result (for raw rows and explain()).
    virtual std::string column_name(std::size_t i) const = 0;

protected:
    const Cell* cells_ = nullptr;
    std::size_t columns_ = 0;

private:
    friend class Connection;
    Connection* owner_ = nullptr;  // counts this cursor among its open ones
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
    std::unique_ptr<Cursor> query(const std::string& sql, std::span<const Value> params) {
        note(sql, params);
        try {
            return own(do_query(sql, params));
        } catch (const DatabaseError&) {
            after_error();
            throw;
        }
    }
    /// Runs a statement that returns no rows; returns the number of rows it changed.
    std::int64_t execute(const std::string& sql, std::span<const Value> params = {}) {
        note(sql, params);
        try {
            return do_execute(sql, params);
        } catch (const DatabaseError&) {
            after_error();
            throw;
        }
    }

    /// Runs a SELECT whose rows are read `chunk_size` at a time so that memory stays flat
    /// (server-side cursors where the database has them).
    std::unique_ptr<Cursor> stream(const std::string& sql, std::span<const Value> params, std::size_t chunk_size) {
        note(sql, params);
        try {
            return own(do_stream(sql, params, chunk_size));
        } catch (const DatabaseError&) {
            after_error();
            throw;
        }
    }

    /// Statements run on this connection so far (Django's len(connection.queries)).
    std::uint64_t queries_executed() const noexcept { return queries_executed_; }
    /// Statements prepared so far: repeated SQL is served from the per-connection cache.
    std::uint64_t statements_prepared() const noexcept { return statements_prepared_; }

    // Transactions (used by dorm::atomic): BEGIN at depth 0, savepoints inside.
    std::size_t atomic_depth() const noexcept { return depth_; }
    void atomic_enter() {
        execute(depth_ == 0 ? std::string("BEGIN") : "SAVEPOINT " + savepoint_name(depth_));
        ++depth_;
    }
    /// Leaves the innermost block: COMMIT / RELEASE, or ROLLBACK (TO SAVEPOINT). After the transaction was lost
    /// (see transaction_lost()) nothing is sent, and committing raises TransactionManagementError.
    void atomic_exit(bool commit);
    /// atomic_exit(false) for a block that is unwinding: its own exception is the one the caller sees, so a
    /// failing rollback only marks the transaction lost.
    void atomic_abort() noexcept;
    /// Whether the transaction of the enclosing atomic blocks is gone (connection lost, or rolled back by the
    /// database itself): every statement raises TransactionManagementError until the outermost block ends, so
    /// nothing after the loss runs in autocommit mode.
    bool transaction_lost() const noexcept { return lost_; }

    /// Whether the database holds an open transaction on this connection (inside atomic(): false once the
    /// connection was lost, or when SQLite rolled back by itself after a disk-full or I/O error).
    virtual bool transaction_open() const noexcept = 0;

    /// Whether nothing uses this connection now: no open cursor, no atomic block (so it may be closed).
    bool idle() const noexcept { return open_cursors_ == 0 && depth_ == 0; }

    /// Where to record statements, for CaptureQueries (nested captures each record everything); empty when
    /// not capturing.
    std::vector<std::vector<CapturedQuery>*> captures;

protected:
    virtual std::unique_ptr<Cursor> do_query(const std::string& sql, std::span<const Value> params) = 0;
    virtual std::int64_t do_execute(const std::string& sql, std::span<const Value> params) = 0;
    /// Default: an ordinary query, for backends whose cursors already step row by row (SQLite).
    virtual std::unique_ptr<Cursor> do_stream(const std::string& sql, std::span<const Value> params, std::size_t);
    /// Backends call this for every statement they prepare.
    void note_prepared() noexcept { ++statements_prepared_; }
    /// Marks the transaction lost, when inside atomic().
    void lose_transaction() noexcept {
        if (depth_ > 0) lost_ = true;
    }

private:
    friend class Cursor;
    std::unique_ptr<Cursor> own(std::unique_ptr<Cursor> c) noexcept {
        c->owner_ = this;
        ++open_cursors_;
        return c;
    }
    void note(const std::string& sql, std::span<const Value> params) {
        if (lost_) [[unlikely]]
            refuse_in_lost_transaction();
        ++queries_executed_;
        if (!captures.empty()) [[unlikely]]
            capture(sql, params);
    }
    /// After a failed statement: inside atomic(), a transaction the database no longer holds is lost.
    void after_error() noexcept;
    [[noreturn]] void refuse_in_lost_transaction() const;
    /// Records the statement in every CaptureQueries of this connection (compiled once: only tests use it).
    void capture(const std::string& sql, std::span<const Value> params);
    static std::string savepoint_name(std::size_t depth) { return "dorm_sp_" + std::to_string(depth); }

    std::uint64_t queries_executed_ = 0;
    std::uint64_t statements_prepared_ = 0;
    std::size_t depth_ = 0;
    std::size_t open_cursors_ = 0;
    bool lost_ = false;
};

inline Cursor::~Cursor() {
    if (owner_) --owner_->open_cursors_;
}

}  // namespace backends
}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/backends/base/impl/connection.ipp>
#endif
