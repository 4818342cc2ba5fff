// SPDX-License-Identifier: MIT
// dorm against the raw drivers (sqlite3 C API, libpq) on the same workloads, data and settings, in one process:
// runs alternate dorm / raw, each side checks its row count and a checksum, and the median ratio is reported.
//
//   dorm_bench [--runs N] [--only W3,W12] [--scale F] [--backend sqlite|postgresql] [--tsv results.tsv]
// --tsv also writes the results as tab-separated values, which tests/bench/chart.sh draws as an SVG.
// PostgreSQL runs when DORM_BENCH_POSTGRESQL_URL is set. SOCI and libpqxx run too when they were found at build time
// (peers.hpp).
#include <dorm/postgresql.hpp>
#include <dorm/sqlite.hpp>

#include "models.hpp"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

using namespace dorm;

namespace {

using bench::blog_count;
using bench::make_entry;

/// What both sides must agree on: rows seen and a checksum over every loaded column.
struct Tally {
    std::int64_t rows = 0;
    std::uint64_t sum = 0;
    void add(const Entry& e) {
        ++rows;
        sum = sum * 31 + static_cast<std::uint64_t>(e.id) + static_cast<std::uint64_t>(e.blog.id()) * 7 +
              static_cast<std::uint64_t>(e.rating) * 13 + e.headline.size() * 17 + e.body_text.size() * 19 +
              static_cast<std::uint64_t>(e.pub_date.days_since_epoch()) * 23 + (e.rating_note ? e.rating_note->size() : 0);
    }
    /// One values("blog").annotate(n=Count, avg=Avg) row.
    void add(std::int64_t blog, std::int64_t n, double avg) {
        ++rows;
        sum = sum * 31 + static_cast<std::uint64_t>(blog) * 7 + static_cast<std::uint64_t>(n) * 13 +
              static_cast<std::uint64_t>(std::llround(avg * 1e6));
    }
    void add(const Blog& b) {
        ++rows;
        sum = sum * 31 + static_cast<std::uint64_t>(b.id) * 3 + b.name.size() * 5 + b.tagline.size();
    }
    /// One number: a count(), or a column of a values() row.
    void add(std::int64_t v) {
        ++rows;
        sum = sum * 31 + static_cast<std::uint64_t>(v);
    }
    bool operator==(const Tally&) const = default;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// ---- Raw SQLite ---------------------------------------------------------------------------------------------

struct RawSqlite {
    sqlite3* db = nullptr;
    explicit RawSqlite(const std::string& path) {
        // NOMUTEX, as dorm opens its connections: one thread uses each, so neither side pays for SQLite's locks.
        sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
        exec("PRAGMA journal_mode=WAL");
        exec("PRAGMA synchronous=NORMAL");
        exec("PRAGMA foreign_keys=ON");
    }
    ~RawSqlite() { sqlite3_close(db); }
    void exec(const char* sql) {
        char* err = nullptr;
        if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
            fmt::print(stderr, "raw sqlite: {}: {}\n", sql, err ? err : "");
            std::exit(1);
        }
    }
    sqlite3_stmt* prepare(const char* sql) {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
            fmt::print(stderr, "raw sqlite prepare: {}\n", sqlite3_errmsg(db));
            std::exit(1);
        }
        return s;
    }
    static Entry read(sqlite3_stmt* s) {
        Entry e;
        e.id = sqlite3_column_int64(s, 0);
        e.blog = ForeignKey<Blog>(sqlite3_column_int64(s, 1));
        e.headline.assign(reinterpret_cast<const char*>(sqlite3_column_text(s, 2)), static_cast<std::size_t>(sqlite3_column_bytes(s, 2)));
        e.body_text.assign(reinterpret_cast<const char*>(sqlite3_column_text(s, 3)), static_cast<std::size_t>(sqlite3_column_bytes(s, 3)));
        e.pub_date = *dorm::detail::parse_date(std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(s, 4)),
                                                                static_cast<std::size_t>(sqlite3_column_bytes(s, 4))));
        e.rating = sqlite3_column_int(s, 5);
        if (sqlite3_column_type(s, 6) != SQLITE_NULL)
            e.rating_note.emplace(reinterpret_cast<const char*>(sqlite3_column_text(s, 6)), static_cast<std::size_t>(sqlite3_column_bytes(s, 6)));
        return e;
    }
    /// A blog from columns `at`, `at` + 1, `at` + 2 (id, name, tagline), as a JOIN returns it.
    static Blog read_blog(sqlite3_stmt* s, int at) {
        Blog b;
        b.id = sqlite3_column_int64(s, at);
        b.name.assign(reinterpret_cast<const char*>(sqlite3_column_text(s, at + 1)), static_cast<std::size_t>(sqlite3_column_bytes(s, at + 1)));
        b.tagline.assign(reinterpret_cast<const char*>(sqlite3_column_text(s, at + 2)), static_cast<std::size_t>(sqlite3_column_bytes(s, at + 2)));
        return b;
    }
    static void bind_entry(sqlite3_stmt* s, const Entry& e) {
        sqlite3_bind_int64(s, 1, e.blog.id());
        sqlite3_bind_text(s, 2, e.headline.data(), static_cast<int>(e.headline.size()), SQLITE_STATIC);
        sqlite3_bind_text(s, 3, e.body_text.data(), static_cast<int>(e.body_text.size()), SQLITE_STATIC);
        auto d = dorm::detail::to_iso(e.pub_date);
        sqlite3_bind_text(s, 4, d.data(), static_cast<int>(d.size()), SQLITE_TRANSIENT);
        sqlite3_bind_int(s, 5, e.rating);
        if (e.rating_note) sqlite3_bind_text(s, 6, e.rating_note->data(), static_cast<int>(e.rating_note->size()), SQLITE_STATIC);
        else sqlite3_bind_null(s, 6);
    }
};

constexpr const char* entry_columns = "id, blog_id, headline, body_text, pub_date, rating, rating_note";
/// W6's and W12's JOIN: every column of an entry and of its blog, up to the WHERE / ORDER BY.
constexpr std::string_view entry_blog_join =
    "SELECT entry.id, entry.blog_id, entry.headline, entry.body_text, entry.pub_date, entry.rating, entry.rating_note, "
    "blog.id, blog.name, blog.tagline FROM entry INNER JOIN blog ON entry.blog_id = blog.id ";

// ---- Raw libpq ----------------------------------------------------------------------------------------------

struct RawPg {
    PGconn* conn = nullptr;
    explicit RawPg(const std::string& url) {
        conn = PQconnectdb(url.c_str());
        if (PQstatus(conn) != CONNECTION_OK) {
            fmt::print(stderr, "raw libpq: {}\n", PQerrorMessage(conn));
            std::exit(1);
        }
    }
    ~RawPg() { PQfinish(conn); }
    void exec(const char* sql) {
        PGresult* r = PQexec(conn, sql);
        auto st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            fmt::print(stderr, "raw libpq: {}: {}\n", sql, PQresultErrorMessage(r));
            std::exit(1);
        }
        PQclear(r);
    }
    void prepare(const char* name, const char* sql) {
        PGresult* r = PQprepare(conn, name, sql, 0, nullptr);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fmt::print(stderr, "raw libpq prepare: {}\n", PQresultErrorMessage(r));
            std::exit(1);
        }
        PQclear(r);
    }
    static std::int64_t be(const char* p, int n) {
        std::uint64_t v = 0;
        for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
        if (n == 4) return static_cast<std::int32_t>(v);
        return static_cast<std::int64_t>(v);
    }
    static Entry read(PGresult* r, int row) {
        Entry e;
        e.id = be(PQgetvalue(r, row, 0), PQgetlength(r, row, 0));
        e.blog = ForeignKey<Blog>(be(PQgetvalue(r, row, 1), PQgetlength(r, row, 1)));
        e.headline.assign(PQgetvalue(r, row, 2), static_cast<std::size_t>(PQgetlength(r, row, 2)));
        e.body_text.assign(PQgetvalue(r, row, 3), static_cast<std::size_t>(PQgetlength(r, row, 3)));
        e.pub_date = Date(std::chrono::sys_days{std::chrono::days{be(PQgetvalue(r, row, 4), 4) + 10957}});
        e.rating = static_cast<int>(be(PQgetvalue(r, row, 5), 4));
        if (!PQgetisnull(r, row, 6)) e.rating_note.emplace(PQgetvalue(r, row, 6), static_cast<std::size_t>(PQgetlength(r, row, 6)));
        return e;
    }
    /// A blog from columns `at`, `at` + 1, `at` + 2 (id, name, tagline), as a JOIN returns it.
    static Blog read_blog(PGresult* r, int row, int at) {
        Blog b;
        b.id = be(PQgetvalue(r, row, at), 8);
        b.name.assign(PQgetvalue(r, row, at + 1), static_cast<std::size_t>(PQgetlength(r, row, at + 1)));
        b.tagline.assign(PQgetvalue(r, row, at + 2), static_cast<std::size_t>(PQgetlength(r, row, at + 2)));
        return b;
    }
};

}  // namespace

#include "peers.hpp"

namespace {

// ---- The harness --------------------------------------------------------------------------------------------

struct Workload {
    std::string name;
    std::function<void()> setup;  // untimed, before each run
    std::function<Tally()> dorm;
    std::function<Tally()> raw;
    std::vector<peers::Side> peers{};  // SOCI / libpqxx, when installed
};

struct Result {
    std::string backend, name;
    double dorm = 0, raw = 0;
    std::vector<std::pair<std::string, double>> peers{};
};

std::vector<Result> results;

void run(const std::string& backend, Workload w, int runs, std::vector<peers::Side> peer_sides = {}) {
    w.peers = std::move(peer_sides);
    // Side 0 is dorm, 1 raw, then the peers; each run starts with a different side.
    std::size_t sides = 2 + w.peers.size();
    std::vector<std::vector<double>> times(sides);
    std::vector<Tally> first(sides);
    auto name = [&](std::size_t side) { return side == 0 ? std::string("dorm") : side == 1 ? std::string("raw") : w.peers[side - 2].name; };
    for (int i = 0; i < runs; ++i) {
        for (std::size_t k = 0; k < sides; ++k) {
            std::size_t side = (k + static_cast<std::size_t>(i)) % sides;
            if (w.setup) w.setup();
            auto t0 = std::chrono::steady_clock::now();
            Tally t = side == 0 ? w.dorm() : side == 1 ? w.raw() : w.peers[side - 2].run();
            times[side].push_back(seconds_since(t0));
            if (i == 0) first[side] = t;
            else if (!(first[side] == t)) {
                fmt::print(stderr, "{} {}: the {} side changed its result between runs\n", backend, w.name, name(side));
                std::exit(1);
            }
        }
    }
    for (std::size_t side = 0; side < sides; ++side)
        if (side != 1 && !(first[side] == first[1])) {
            fmt::print(stderr, "{} {}: {} saw {} rows (checksum {}), raw {} rows (checksum {})\n", backend, w.name,
                       name(side), first[side].rows, first[side].sum, first[1].rows, first[1].sum);
            std::exit(1);
        }
    Result r{backend, w.name, median(times[0]), median(times[1])};
    for (std::size_t side = 2; side < sides; ++side) r.peers.emplace_back(name(side), median(times[side]));
    fmt::print("{:<10} {:<44} dorm {:9.2f} ms   raw {:9.2f} ms   ratio {:5.2f}", backend, w.name, r.dorm * 1e3,
               r.raw * 1e3, r.dorm / r.raw);
    for (const auto& [peer, t] : r.peers) fmt::print("   {} {:9.2f} ms", peer, t * 1e3);
    fmt::print("   ({} rows)\n", first[0].rows);
    std::fflush(stdout);
    results.push_back(r);
}

/// Whether workload `name` runs: all do without --only, else those it lists ("W1,W12").
bool selected(const std::string& only, const std::string& name) {
    if (only.empty()) return true;
    for (std::size_t at = 0; at <= only.size();) {
        std::size_t end = std::min(only.find(',', at), only.size());
        if (std::string_view(only).substr(at, end - at) == name) return true;
        at = end + 1;
    }
    return false;
}

/// A line of /proc/self/status ("VmRSS", "VmHWM") in KiB.
long proc_status_kib(const char* key) {
    FILE* f = std::fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && std::fgets(line, sizeof line, f))
        if (std::strncmp(line, key, std::strlen(key)) == 0) v = std::atol(line + std::strlen(key) + 1);
    if (f) std::fclose(f);
    return v;
}

/// How much a child process that runs `fn` grows its resident memory at its peak (KiB): pages inherited
/// from this process at fork do not count.
long peak_growth_kib_in_child(const std::function<void()>& fn) {
    std::fflush(stdout);
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        std::FILE* clear = std::fopen("/proc/self/clear_refs", "w");  // reset VmHWM to the current RSS
        if (clear) {
            std::fputs("5", clear);
            std::fclose(clear);
        }
        long start = proc_status_kib("VmRSS:");
        fn();
        long growth = proc_status_kib("VmHWM:") - start;
        if (write(fds[1], &growth, sizeof growth) != sizeof growth) _exit(2);
        _exit(0);
    }
    close(fds[1]);
    long growth = -1;
    if (read(fds[0], &growth, sizeof growth) != sizeof growth) growth = -1;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? growth : -1;
}

// ---- Workloads, written once for both backends ----------------------------------------------------------------

/// The peers connected to the database being measured (none when not installed).
struct PeerSet {
#if DORM_BENCH_SOCI
    std::unique_ptr<peers::Soci> soci;
#endif
#if DORM_BENCH_PQXX
    std::unique_ptr<peers::Pqxx> pqxx;
#endif
    /// The peers' sides of one workload: `soci(Soci&)` and `pqxx(Pqxx&)` run it.
    template <class SociFn, class PqxxFn>
    std::vector<peers::Side> sides([[maybe_unused]] SociFn soci_fn, [[maybe_unused]] PqxxFn pqxx_fn) {
        std::vector<peers::Side> out;
#if DORM_BENCH_SOCI
        if (soci) out.push_back({"SOCI", [this, soci_fn] { return soci_fn(*soci); }});
#endif
#if DORM_BENCH_PQXX
        if (pqxx) out.push_back({"libpqxx", [this, pqxx_fn] { return pqxx_fn(*pqxx); }});
#endif
        return out;
    }
};

template <class Raw>
void run_backend(const std::string& backend, const std::string& alias, Raw& raw, PeerSet& peer_set, int runs,
                 double scale, const std::string& only);

}  // namespace

// The raw sides differ per driver; each workload's dorm side is the same code on both backends.
namespace raw_sqlite {
Tally insert_one_by_one(RawSqlite& r, int n, std::int64_t base) {
    static sqlite3_stmt* s = nullptr;
    if (!s) s = r.prepare("INSERT INTO entry (blog_id, headline, body_text, pub_date, rating, rating_note) VALUES (?, ?, ?, ?, ?, ?)");
    Tally t;
    r.exec("BEGIN");
    for (int i = 0; i < n; ++i) {
        Entry e = make_entry(base + i);
        RawSqlite::bind_entry(s, e);
        sqlite3_step(s);
        e.id = sqlite3_last_insert_rowid(r.db);  // the key, without RETURNING's temporary table
        sqlite3_reset(s);
        t.rows++;
        t.sum += static_cast<std::uint64_t>(e.id > 0);
    }
    r.exec("COMMIT");
    return t;
}
/// Multi-row INSERTs of `batch` rows with one reused prepared statement (and one for the remainder), in one
/// transaction, reading back the new ids as bulk_create() does: how a hand-written bulk load into SQLite looks.
Tally insert_many(RawSqlite& r, const std::vector<Entry>& entries) {
    constexpr std::size_t batch = 500;  // 3,000 parameters: well within SQLite's limit
    auto prepare = [&](std::size_t rows) {
        std::string sql = "INSERT INTO entry (blog_id, headline, body_text, pub_date, rating, rating_note) VALUES ";
        for (std::size_t i = 0; i < rows; ++i) sql += i ? ", (?, ?, ?, ?, ?, ?)" : "(?, ?, ?, ?, ?, ?)";
        return r.prepare((sql + " RETURNING id").c_str());
    };
    static sqlite3_stmt* full = prepare(batch);
    r.exec("BEGIN");
    std::vector<std::string> dates(batch);
    std::int64_t last_id = 0;
    for (std::size_t at = 0; at < entries.size(); at += batch) {
        std::size_t rows = std::min(batch, entries.size() - at);
        sqlite3_stmt* s = rows == batch ? full : prepare(rows);
        for (std::size_t i = 0; i < rows; ++i) {
            const Entry& e = entries[at + i];
            int p = static_cast<int>(i * 6);
            dates[i] = dorm::detail::to_iso(e.pub_date);
            sqlite3_bind_int64(s, p + 1, e.blog.id());
            sqlite3_bind_text(s, p + 2, e.headline.data(), static_cast<int>(e.headline.size()), SQLITE_STATIC);
            sqlite3_bind_text(s, p + 3, e.body_text.data(), static_cast<int>(e.body_text.size()), SQLITE_STATIC);
            sqlite3_bind_text(s, p + 4, dates[i].data(), static_cast<int>(dates[i].size()), SQLITE_STATIC);
            sqlite3_bind_int(s, p + 5, e.rating);
            if (e.rating_note)
                sqlite3_bind_text(s, p + 6, e.rating_note->data(), static_cast<int>(e.rating_note->size()), SQLITE_STATIC);
            else
                sqlite3_bind_null(s, p + 6);
        }
        while (sqlite3_step(s) == SQLITE_ROW) last_id = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        if (s != full) sqlite3_finalize(s);
    }
    r.exec("COMMIT");
    return Tally{static_cast<std::int64_t>(entries.size()), static_cast<std::uint64_t>(last_id > 0)};
}
}  // namespace raw_sqlite

namespace raw_pg {
/// W1's raw side on libpq: the prepared INSERT "w1" one row at a time in one transaction, the key read back.
Tally insert_one_by_one(RawPg& raw, int n) {
    Tally t;
    raw.exec("BEGIN");
    for (int i = 0; i < n; ++i) {
        Entry e = make_entry(i);
        std::string blog = std::to_string(e.blog.id()), rating = std::to_string(e.rating),
                    date = dorm::detail::to_iso(e.pub_date);
        const char* v[6] = {blog.c_str(), e.headline.c_str(), e.body_text.c_str(), date.c_str(),
                            rating.c_str(), e.rating_note ? e.rating_note->c_str() : nullptr};
        PGresult* r = PQexecPrepared(raw.conn, "w1", 6, v, nullptr, nullptr, 1);
        e.id = RawPg::be(PQgetvalue(r, 0, 0), PQgetlength(r, 0, 0));
        PQclear(r);
        t.rows++;
        t.sum += static_cast<std::uint64_t>(e.id > 0);
    }
    raw.exec("COMMIT");
    return t;
}
}  // namespace raw_pg

namespace {

template <class Raw>
void run_backend(const std::string& backend, const std::string& alias, Raw& raw, PeerSet& peer_set, int runs,
                 double scale, const std::string& only) {
    constexpr bool is_sqlite = std::is_same_v<Raw, RawSqlite>;
    auto n = [&](int base) { return std::max(1, static_cast<int>(base * scale)); };
    auto qs = Entry::objects().using_(alias);
    auto& conn = databases().get(alias).connection();
    // The asynchronous workloads' database: the same one, through a pool of 8 connections.
    {
        const std::string& url = databases().get(alias).url();
        databases().add(alias + "_async", url + (url.find('?') == std::string::npos ? "?" : "&") + "pool_size=8");
    }
    auto reset_entries = [&] {
        // TRUNCATE on PostgreSQL: each run writes into a fresh table, not one with the last run's dead rows (whose
        // vacuuming would land in whichever side runs next).
        conn.execute(is_sqlite ? "DELETE FROM entry" : "TRUNCATE entry");
    };
    auto load = [&](int count) {
        reset_entries();
        std::vector<Entry> es;
        es.reserve(static_cast<std::size_t>(count));
        for (int i = 0; i < count; ++i) es.push_back(make_entry(i));
        qs.bulk_create(std::move(es));
    };

    // W1: create() one by one in one transaction, pk handed back.
    if (selected(only, "W1")) {
        int count = n(10000);
        run(backend, {"W1 insert 10k one by one (create)", reset_entries,
                      [&] {
                          Tally t;
                          atomic([&] {
                              for (int i = 0; i < count; ++i) {
                                  Entry e = qs.create(make_entry(i));
                                  t.rows++;
                                  t.sum += static_cast<std::uint64_t>(e.id > 0);
                              }
                          }, alias);
                          return t;
                      },
                      [&] {
                          if constexpr (is_sqlite) {
                              return raw_sqlite::insert_one_by_one(raw, count, 0);
                          } else {
                              return raw_pg::insert_one_by_one(raw, count);
                          }
                      }},
            runs, peer_set.sides([&](auto& p) { return p.insert_one_by_one(count); },
                                 [&](auto& p) { return p.insert_one_by_one(count); }));
    }

    // W14: 10k acreate() in one aatomic(), all issued at once (when_all); raw: W1's loop.
    if (selected(only, "W14")) {
        int count = n(10000);
        const std::string async_alias = alias + "_async";
        run(backend, {"W14 10k acreate in one aatomic (concurrent)", reset_entries,
                      [&] {
                          auto aqs = Entry::objects().using_(async_alias);
                          auto all = [&]() -> Task<> {
                              std::vector<Task<Entry>> tasks;
                              tasks.reserve(static_cast<std::size_t>(count));
                              for (int i = 0; i < count; ++i) tasks.push_back(aqs.acreate(make_entry(i)));
                              auto created = co_await when_all(std::move(tasks));
                              for (const auto& e : created)
                                  if (e.id <= 0) throw std::runtime_error("W14: no primary key");
                          };
                          sync_wait(aatomic(all, async_alias));
                          return Tally{count, static_cast<std::uint64_t>(count > 0)};
                      },
                      [&] {
                          Tally t;
                          if constexpr (is_sqlite) t = raw_sqlite::insert_one_by_one(raw, count, 0);
                          else t = raw_pg::insert_one_by_one(raw, count);
                          return Tally{t.rows, static_cast<std::uint64_t>(t.rows > 0)};
                      }},
            runs);
    }

    // W2: bulk_create 100k.
    if (selected(only, "W2")) {
        int count = n(100000);
        std::vector<Entry> entries;
        for (int i = 0; i < count; ++i) entries.push_back(make_entry(i));
        // bulk_create() takes its objects by value and hands them back with their keys (Django fills in the list it
        // is given): the application moves its objects in, so the copy is made before the clock starts.
        std::vector<Entry> handed;
        run(backend, {"W2 bulk_create 100k", [&] { reset_entries(); handed = entries; },
                      [&] {
                          auto saved = qs.bulk_create(std::move(handed));
                          return Tally{static_cast<std::int64_t>(saved.size()), static_cast<std::uint64_t>(saved.back().id > 0)};
                      },
                      [&] {
                          if constexpr (is_sqlite) {
                              return raw_sqlite::insert_many(raw, entries);
                          } else {
                              PGresult* r = PQexec(raw.conn, "COPY entry (blog_id, headline, body_text, pub_date, rating, rating_note) FROM STDIN");
                              if (PQresultStatus(r) != PGRES_COPY_IN) {
                                  fmt::print(stderr, "raw libpq COPY: {}\n", PQresultErrorMessage(r));
                                  std::exit(1);
                              }
                              PQclear(r);
                              std::string buf;
                              for (const auto& e : entries) {
                                  buf += fmt::format("{}\t{}\t{}\t{}\t{}\t{}\n", e.blog.id(), e.headline, e.body_text,
                                                     dorm::detail::to_iso(e.pub_date), e.rating,
                                                     e.rating_note ? *e.rating_note : std::string("\\N"));
                                  if (buf.size() > (1 << 20)) {
                                      PQputCopyData(raw.conn, buf.data(), static_cast<int>(buf.size()));
                                      buf.clear();
                                  }
                              }
                              PQputCopyData(raw.conn, buf.data(), static_cast<int>(buf.size()));
                              PQputCopyEnd(raw.conn, nullptr);
                              r = PQgetResult(raw.conn);
                              PQclear(r);
                              while ((r = PQgetResult(raw.conn))) PQclear(r);
                              return Tally{static_cast<std::int64_t>(entries.size()), 1};
                          }
                      }},
            runs);
    }

    // W3: load 100k into model instances.
    if (selected(only, "W3") || selected(only, "W4") || selected(only, "W5") || selected(only, "W6") || selected(only, "W8") ||
        selected(only, "W10") || selected(only, "W12") || selected(only, "W13"))
        load(n(100000));
    if (selected(only, "W3")) {
        run(backend, {"W3 load 100k instances", nullptr,
                      [&] {
                          Tally t;
                          for (const auto& e : qs.order_by("id")) t.add(e);
                          return t;
                      },
                      [&] {
                          Tally t;
                          if constexpr (is_sqlite) {
                              static sqlite3_stmt* s = raw.prepare(fmt::format("SELECT {} FROM entry ORDER BY id", entry_columns).c_str());
                              std::vector<Entry> out;
                              while (sqlite3_step(s) == SQLITE_ROW) out.push_back(RawSqlite::read(s));
                              sqlite3_reset(s);
                              for (const auto& e : out) t.add(e);
                          } else {
                              PGresult* r = PQexecPrepared(raw.conn, "w3", 0, nullptr, nullptr, nullptr, 1);
                              std::vector<Entry> out;
                              int rows = PQntuples(r);
                              out.reserve(static_cast<std::size_t>(rows));
                              for (int i = 0; i < rows; ++i) out.push_back(RawPg::read(r, i));
                              PQclear(r);
                              for (const auto& e : out) t.add(e);
                          }
                          return t;
                      }},
            runs, peer_set.sides([&](auto& p) { return p.entries(fmt::format("SELECT {} FROM entry ORDER BY id", entry_columns), {}); },
                                 [&](auto& p) { return p.entries("w3"); }));
    }

    // W4: 20k get() by primary key.
    if (selected(only, "W4")) {
        int count = n(20000);
        auto first_id = qs.order_by("id").first()->id;
        run(backend, {"W4 20k get(pk)", nullptr,
                      [&] {
                          Tally t;
                          for (int i = 0; i < count; ++i) t.add(qs.get("pk", first_id + (i * 7919) % n(100000)));
                          return t;
                      },
                      [&] {
                          Tally t;
                          for (int i = 0; i < count; ++i) {
                              std::int64_t id = first_id + (i * 7919) % n(100000);
                              if constexpr (is_sqlite) {
                                  static sqlite3_stmt* s = raw.prepare(fmt::format("SELECT {} FROM entry WHERE id = ?", entry_columns).c_str());
                                  sqlite3_bind_int64(s, 1, id);
                                  if (sqlite3_step(s) == SQLITE_ROW) t.add(RawSqlite::read(s));
                                  sqlite3_reset(s);
                              } else {
                                  std::string v = std::to_string(id);
                                  const char* vals[1] = {v.c_str()};
                                  PGresult* r = PQexecPrepared(raw.conn, "w4", 1, vals, nullptr, nullptr, 1);
                                  if (PQntuples(r) == 1) t.add(RawPg::read(r, 0));
                                  PQclear(r);
                              }
                          }
                          return t;
                      }},
            runs, peer_set.sides(
                      [&](auto& p) {
                          Tally t;
                          auto sql = fmt::format("SELECT {} FROM entry WHERE id = :id", entry_columns);
                          for (int i = 0; i < count; ++i) t = p.entries(sql, first_id + (i * 7919) % n(100000), t);
                          return t;
                      },
                      [&](auto& p) {
                          std::vector<std::int64_t> keys;
                          for (int i = 0; i < count; ++i) keys.push_back(first_id + (i * 7919) % n(100000));
                          return p.gets("w4", keys);
                      }));
    }

    // W13: W4's 20k get(pk) from 64 concurrent coroutines (aget, when_all) over a pool of 8 connections, against
    // raw on one connection and 8 threads of blocking get() on the same pool. Each of the 64 streams of keys is
    // tallied alone and the tallies combined in order, so every side's checksum is the same.
    if (selected(only, "W13")) {
        int count = n(20000);
        constexpr int streams = 64;
        const std::string async_alias = alias + "_async";
        auto first_id = qs.order_by("id").first()->id;
        auto key = [&](int i) { return first_id + (i * 7919) % n(100000); };
        auto combine = [](const std::vector<Tally>& parts) {
            Tally t;
            for (const auto& p : parts) {
                t.rows += p.rows;
                t.sum = t.sum * 31 + p.sum;
            }
            return t;
        };
        run(backend, {"W13 20k aget(pk), 64 coroutines, pool 8", nullptr,
                      [&] {
                          auto aqs = Entry::objects().using_(async_alias);
                          auto stream = [&](int k) -> Task<Tally> {
                              Tally t;
                              for (int i = k; i < count; i += streams) t.add(co_await aqs.aget("pk", key(i)));
                              co_return t;
                          };
                          std::vector<Task<Tally>> tasks;
                          for (int k = 0; k < streams; ++k) tasks.push_back(stream(k));
                          return combine(sync_wait(when_all(std::move(tasks))));
                      },
                      [&] {
                          std::vector<Tally> parts(streams);
                          for (int k = 0; k < streams; ++k)
                              for (int i = k; i < count; i += streams) {
                                  std::int64_t id = key(i);
                                  if constexpr (is_sqlite) {
                                      static sqlite3_stmt* s = raw.prepare(fmt::format("SELECT {} FROM entry WHERE id = ?", entry_columns).c_str());
                                      sqlite3_bind_int64(s, 1, id);
                                      if (sqlite3_step(s) == SQLITE_ROW) parts[static_cast<std::size_t>(k)].add(RawSqlite::read(s));
                                      sqlite3_reset(s);
                                  } else {
                                      std::string v = std::to_string(id);
                                      const char* vals[1] = {v.c_str()};
                                      PGresult* r = PQexecPrepared(raw.conn, "w4", 1, vals, nullptr, nullptr, 1);
                                      if (PQntuples(r) == 1) parts[static_cast<std::size_t>(k)].add(RawPg::read(r, 0));
                                      PQclear(r);
                                  }
                              }
                          return combine(parts);
                      }},
            runs, {peers::Side{"8 threads get()", [&] {
                       std::vector<Tally> parts(streams);
                       std::vector<std::thread> threads;
                       for (int j = 0; j < 8; ++j)
                           threads.emplace_back([&, j] {
                               auto tqs = Entry::objects().using_(async_alias);
                               for (int k = j; k < streams; k += 8)
                                   for (int i = k; i < count; i += streams)
                                       parts[static_cast<std::size_t>(k)].add(tqs.get("pk", key(i)));
                               release_connections();
                           });
                       for (auto& t : threads) t.join();
                       return combine(parts);
                   }}});
    }

    // W5: filter(rating__gte=x, headline__startswith="a").order_by("-pub_date")[:10], 5k times.
    if (selected(only, "W5")) {
        int count = n(5000);
        run(backend, {"W5 5k filter+startswith+order_by[:10]", nullptr,
                      [&] {
                          Tally t;
                          for (int i = 0; i < count; ++i)
                              for (const auto& e : qs.filter("rating__gte", i % 10, "headline__startswith", "a")
                                                        .order_by("-pub_date", "id")
                                                        .slice(0, 10))
                                  t.add(e);
                          return t;
                      },
                      [&] {
                          Tally t;
                          for (int i = 0; i < count; ++i) {
                              if constexpr (is_sqlite) {
                                  static sqlite3_stmt* s = raw.prepare(fmt::format(
                                      "SELECT {} FROM entry WHERE rating >= ? AND headline >= 'a' AND headline < 'b' "
                                      "ORDER BY pub_date DESC, id ASC LIMIT 10", entry_columns).c_str());
                                  sqlite3_bind_int(s, 1, i % 10);
                                  while (sqlite3_step(s) == SQLITE_ROW) t.add(RawSqlite::read(s));
                                  sqlite3_reset(s);
                              } else {
                                  std::string v = std::to_string(i % 10);
                                  const char* vals[1] = {v.c_str()};
                                  PGresult* r = PQexecPrepared(raw.conn, "w5", 1, vals, nullptr, nullptr, 1);
                                  for (int row = 0; row < PQntuples(r); ++row) t.add(RawPg::read(r, row));
                                  PQclear(r);
                              }
                          }
                          return t;
                      }},
            runs, peer_set.sides(
                      [&](auto& p) {
                          Tally t;
                          auto sql = fmt::format("SELECT {} FROM entry WHERE rating >= :r AND {} ORDER BY pub_date DESC, "
                                                 "id ASC LIMIT 10", entry_columns,
                                                 is_sqlite ? "headline >= 'a' AND headline < 'b'" : "headline LIKE 'a%'");
                          for (int i = 0; i < count; ++i) t = p.entries(sql, i % 10, t);
                          return t;
                      },
                      [&](auto& p) {
                          Tally t;
                          for (int i = 0; i < count; ++i) p.read(t, "w5", i % 10);
                          return t;
                      }));
    }

    // W12: a typical request, 5k times: get(pk); a filtered, ordered, sliced list; a count(); a select_related
    // list; a values().annotate(). The raw side runs the same statements, written by hand on each driver.
    if (selected(only, "W12")) {
        int count = n(5000);
        auto first_id = qs.order_by("id").first()->id;
        auto key = [&](int i) { return first_id + (i * 7919) % n(100000); };
        auto blog_of = [](int i) { return static_cast<std::int64_t>(i * 37 % blog_count) + 1; };
        run(backend, {"W12 5k requests of 5 queries", nullptr,
                      [&] {
                          Tally t;
                          for (int i = 0; i < count; ++i) {
                              const std::int64_t blog = blog_of(i);
                              t.add(qs.get("pk", key(i)));
                              for (const auto& e : qs.filter("blog", blog, "rating__gte", i % 10)
                                                        .order_by("-pub_date", "id")
                                                        .slice(0, 10))
                                  t.add(e);
                              t.add(qs.filter("blog", blog).count());
                              for (const auto& e : qs.filter("blog", blog).select_related("blog").order_by("id").slice(0, 5)) {
                                  t.add(e);
                                  t.add(e.blog.get());
                              }
                              for (const auto& r : qs.filter("blog", blog).values("rating").annotate("n", Count("id")).order_by("rating")) {
                                  t.add(r["rating"].as<std::int64_t>());
                                  t.add(r["n"].as<std::int64_t>());
                              }
                          }
                          return t;
                      },
                      [&] {
                          Tally t;
                          for (int i = 0; i < count; ++i) {
                              const std::int64_t blog = blog_of(i);
                              if constexpr (is_sqlite) {
                                  static sqlite3_stmt* get = raw.prepare(fmt::format("SELECT {} FROM entry WHERE id = ?", entry_columns).c_str());
                                  static sqlite3_stmt* list = raw.prepare(fmt::format(
                                      "SELECT {} FROM entry WHERE blog_id = ? AND rating >= ? ORDER BY pub_date DESC, id ASC LIMIT 10", entry_columns).c_str());
                                  static sqlite3_stmt* counted = raw.prepare("SELECT COUNT(*) FROM entry WHERE blog_id = ?");
                                  static sqlite3_stmt* joined = raw.prepare(
                                      fmt::format("{}WHERE entry.blog_id = ? ORDER BY entry.id LIMIT 5", entry_blog_join).c_str());
                                  static sqlite3_stmt* grouped = raw.prepare(
                                      "SELECT rating, COUNT(id) FROM entry WHERE blog_id = ? GROUP BY rating ORDER BY rating");
                                  sqlite3_bind_int64(get, 1, key(i));
                                  if (sqlite3_step(get) == SQLITE_ROW) t.add(RawSqlite::read(get));
                                  sqlite3_reset(get);
                                  sqlite3_bind_int64(list, 1, blog);
                                  sqlite3_bind_int(list, 2, i % 10);
                                  std::vector<Entry> entries;
                                  while (sqlite3_step(list) == SQLITE_ROW) entries.push_back(RawSqlite::read(list));
                                  sqlite3_reset(list);
                                  for (const auto& e : entries) t.add(e);
                                  sqlite3_bind_int64(counted, 1, blog);
                                  if (sqlite3_step(counted) == SQLITE_ROW) t.add(sqlite3_column_int64(counted, 0));
                                  sqlite3_reset(counted);
                                  sqlite3_bind_int64(joined, 1, blog);
                                  std::vector<std::pair<Entry, Blog>> pairs;
                                  while (sqlite3_step(joined) == SQLITE_ROW) pairs.emplace_back(RawSqlite::read(joined), RawSqlite::read_blog(joined, 7));
                                  sqlite3_reset(joined);
                                  for (const auto& [e, b] : pairs) {
                                      t.add(e);
                                      t.add(b);
                                  }
                                  sqlite3_bind_int64(grouped, 1, blog);
                                  while (sqlite3_step(grouped) == SQLITE_ROW) {
                                      t.add(sqlite3_column_int64(grouped, 0));
                                      t.add(sqlite3_column_int64(grouped, 1));
                                  }
                                  sqlite3_reset(grouped);
                              } else {
                                  std::string id = std::to_string(key(i)), b = std::to_string(blog), rating = std::to_string(i % 10);
                                  const char* one[1] = {id.c_str()};
                                  PGresult* r = PQexecPrepared(raw.conn, "w4", 1, one, nullptr, nullptr, 1);
                                  if (PQntuples(r) == 1) t.add(RawPg::read(r, 0));
                                  PQclear(r);
                                  const char* two[2] = {b.c_str(), rating.c_str()};
                                  r = PQexecPrepared(raw.conn, "w12b", 2, two, nullptr, nullptr, 1);
                                  std::vector<Entry> entries;
                                  entries.reserve(static_cast<std::size_t>(PQntuples(r)));
                                  for (int row = 0; row < PQntuples(r); ++row) entries.push_back(RawPg::read(r, row));
                                  PQclear(r);
                                  for (const auto& e : entries) t.add(e);
                                  const char* by_blog[1] = {b.c_str()};
                                  r = PQexecPrepared(raw.conn, "w12c", 1, by_blog, nullptr, nullptr, 1);
                                  t.add(RawPg::be(PQgetvalue(r, 0, 0), 8));
                                  PQclear(r);
                                  r = PQexecPrepared(raw.conn, "w12d", 1, by_blog, nullptr, nullptr, 1);
                                  std::vector<std::pair<Entry, Blog>> pairs;
                                  pairs.reserve(static_cast<std::size_t>(PQntuples(r)));
                                  for (int row = 0; row < PQntuples(r); ++row) pairs.emplace_back(RawPg::read(r, row), RawPg::read_blog(r, row, 7));
                                  PQclear(r);
                                  for (const auto& [e, blog_row] : pairs) {
                                      t.add(e);
                                      t.add(blog_row);
                                  }
                                  r = PQexecPrepared(raw.conn, "w12e", 1, by_blog, nullptr, nullptr, 1);
                                  for (int row = 0; row < PQntuples(r); ++row) {
                                      t.add(RawPg::be(PQgetvalue(r, row, 0), 4));
                                      t.add(RawPg::be(PQgetvalue(r, row, 1), 8));
                                  }
                                  PQclear(r);
                              }
                          }
                          return t;
                      }},
            runs);
    }

    // W8: values("blog").annotate(n=Count("id"), avg=Avg("rating")) over the 100k entries.
    if (selected(only, "W8")) {
        run(backend, {"W8 values(blog).annotate(Count, Avg) 100k", nullptr,
                      [&] {
                          Tally t;
                          auto rows = qs.values("blog").annotate("n", Count("id"), "avg", Avg("rating")).order_by("blog");
                          for (const auto& r : rows)
                              t.add(r["blog"].as<std::int64_t>(), r["n"].as<std::int64_t>(), r["avg"].as<double>());
                          return t;
                      },
                      [&] {
                          Tally t;
                          if constexpr (is_sqlite) {
                              static sqlite3_stmt* s = raw.prepare(
                                  "SELECT blog_id, COUNT(id), AVG(rating) FROM entry GROUP BY blog_id ORDER BY blog_id");
                              while (sqlite3_step(s) == SQLITE_ROW)
                                  t.add(sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1), sqlite3_column_double(s, 2));
                              sqlite3_reset(s);
                          } else {  // AVG of integers is numeric: read as text, as a hand-written client would
                              PGresult* r = PQexecPrepared(raw.conn, "w8", 0, nullptr, nullptr, nullptr, 0);
                              for (int row = 0; row < PQntuples(r); ++row)
                                  t.add(std::atoll(PQgetvalue(r, row, 0)), std::atoll(PQgetvalue(r, row, 1)),
                                        std::strtod(PQgetvalue(r, row, 2), nullptr));
                              PQclear(r);
                          }
                          return t;
                      }},
            runs, peer_set.sides(
                      [&](auto& p) {
                          return p.grouped("SELECT blog_id, COUNT(id), AVG(rating) FROM entry GROUP BY blog_id ORDER BY blog_id");
                      },
                      [&](auto& p) { return p.grouped("w8"); }));
    }

    // W10: bulk_update() of 100k entries, two fields; raw: one prepared UPDATE per row in a transaction.
    if (selected(only, "W10")) {
        std::vector<Entry> entries;
        for (const auto& e : qs.order_by("id")) entries.push_back(e);
        int round = 0;
        auto change = [&] {  // new values each run, so that every run writes
            ++round;
            for (auto& e : entries) {
                e.rating = (e.rating + round) % 5;
                e.headline = fmt::format("headline {} {}", e.id, round);
            }
        };
        if constexpr (!is_sqlite) raw.prepare("w10", "UPDATE entry SET rating = $1::int, headline = $2 WHERE id = $3::bigint");
        run(backend, {"W10 bulk_update 100k x 2 fields", change,
                      [&] {
                          auto n = qs.bulk_update(entries, {"rating", "headline"});
                          return Tally{n, static_cast<std::uint64_t>(n)};
                      },
                      [&] {
                          std::int64_t n = 0;
                          raw.exec("BEGIN");
                          for (const auto& e : entries) {
                              if constexpr (is_sqlite) {
                                  static sqlite3_stmt* s = raw.prepare("UPDATE entry SET rating = ?, headline = ? WHERE id = ?");
                                  sqlite3_bind_int(s, 1, e.rating);
                                  sqlite3_bind_text(s, 2, e.headline.data(), static_cast<int>(e.headline.size()), SQLITE_STATIC);
                                  sqlite3_bind_int64(s, 3, e.id);
                                  sqlite3_step(s);
                                  n += sqlite3_changes(raw.db);
                                  sqlite3_reset(s);
                              } else {
                                  std::string rating = std::to_string(e.rating), id = std::to_string(e.id);
                                  const char* vals[3] = {rating.c_str(), e.headline.c_str(), id.c_str()};
                                  PGresult* r = PQexecPrepared(raw.conn, "w10", 3, vals, nullptr, nullptr, 0);
                                  n += std::atoll(PQcmdTuples(r));
                                  PQclear(r);
                              }
                          }
                          raw.exec("COMMIT");
                          return Tally{n, static_cast<std::uint64_t>(n)};
                      }},
            runs);
    }

    // W6: 20k entries with select_related("blog"): one JOIN, every entry with its blog.
    if (selected(only, "W6")) {
        int count = n(20000);
        run(backend, {"W6 select_related(blog) 20k", nullptr,
                      [&] {
                          Tally t;
                          for (const auto& e : qs.select_related("blog").order_by("id").slice(0, count)) {
                              t.add(e);
                              t.add(e.blog.get());
                          }
                          return t;
                      },
                      [&] {
                          Tally t;
                          std::vector<std::pair<Entry, Blog>> out;
                          if constexpr (is_sqlite) {
                              static sqlite3_stmt* s = raw.prepare(
                                  fmt::format("{}ORDER BY entry.id LIMIT ?", entry_blog_join).c_str());
                              sqlite3_bind_int(s, 1, count);
                              while (sqlite3_step(s) == SQLITE_ROW) out.emplace_back(RawSqlite::read(s), RawSqlite::read_blog(s, 7));
                              sqlite3_reset(s);
                          } else {
                              std::string v = std::to_string(count);
                              const char* vals[1] = {v.c_str()};
                              PGresult* r = PQexecPrepared(raw.conn, "w6", 1, vals, nullptr, nullptr, 1);
                              for (int row = 0; row < PQntuples(r); ++row) out.emplace_back(RawPg::read(r, row), RawPg::read_blog(r, row, 7));
                              PQclear(r);
                          }
                          for (const auto& [e, b] : out) {
                              t.add(e);
                              t.add(b);
                          }
                          return t;
                      }},
            runs);
    }

    // W7: the 1,000 blogs with their entries (~20 each) via prefetch_related("entry_set"): two queries.
    if (selected(only, "W7")) {
        load(n(20000));
        auto blogs = Blog::objects().using_(alias);
        run(backend, {"W7 prefetch_related(entry_set) 1k x 20", nullptr,
                      [&] {
                          Tally t;
                          auto all = blogs.prefetch_related(Prefetch("entry_set", qs.order_by("id"))).order_by("id");
                          for (const auto& b : all) {
                              t.add(b);
                              for (const auto& e : prefetched<Entry>(b, "entry_set")) t.add(e);
                          }
                          return t;
                      },
                      [&] {
                          Tally t;
                          std::vector<Blog> bs;
                          std::unordered_map<std::int64_t, std::vector<Entry>> by_blog;
                          std::string ids;
                          if constexpr (is_sqlite) {
                              static sqlite3_stmt* s = raw.prepare("SELECT id, name, tagline FROM blog ORDER BY id");
                              while (sqlite3_step(s) == SQLITE_ROW) {
                                  Blog& b = bs.emplace_back();
                                  b.id = sqlite3_column_int64(s, 0);
                                  b.name.assign(reinterpret_cast<const char*>(sqlite3_column_text(s, 1)), static_cast<std::size_t>(sqlite3_column_bytes(s, 1)));
                                  b.tagline.assign(reinterpret_cast<const char*>(sqlite3_column_text(s, 2)), static_cast<std::size_t>(sqlite3_column_bytes(s, 2)));
                              }
                              sqlite3_reset(s);
                              std::string sql = fmt::format("SELECT {} FROM entry WHERE blog_id IN (", entry_columns);
                              for (std::size_t i = 0; i < bs.size(); ++i) sql += i ? ",?" : "?";
                              sql += ") ORDER BY id";
                              sqlite3_stmt* e = raw.prepare(sql.c_str());
                              for (std::size_t i = 0; i < bs.size(); ++i) sqlite3_bind_int64(e, static_cast<int>(i + 1), bs[i].id);
                              while (sqlite3_step(e) == SQLITE_ROW) {
                                  Entry x = RawSqlite::read(e);
                                  by_blog[x.blog.id()].push_back(std::move(x));
                              }
                              sqlite3_finalize(e);
                          } else {
                              PGresult* r = PQexecPrepared(raw.conn, "w7b", 0, nullptr, nullptr, nullptr, 1);
                              for (int row = 0; row < PQntuples(r); ++row) {
                                  Blog& b = bs.emplace_back();
                                  b.id = RawPg::be(PQgetvalue(r, row, 0), 8);
                                  b.name.assign(PQgetvalue(r, row, 1), static_cast<std::size_t>(PQgetlength(r, row, 1)));
                                  b.tagline.assign(PQgetvalue(r, row, 2), static_cast<std::size_t>(PQgetlength(r, row, 2)));
                              }
                              PQclear(r);
                              std::string sql = fmt::format("SELECT {} FROM entry WHERE blog_id IN (", entry_columns);
                              std::vector<std::string> text;
                              std::vector<const char*> vals;
                              for (std::size_t i = 0; i < bs.size(); ++i) {
                                  sql += fmt::format("{}${}::bigint", i ? "," : "", i + 1);
                                  text.push_back(std::to_string(bs[i].id));
                              }
                              for (const auto& x : text) vals.push_back(x.c_str());
                              sql += ") ORDER BY id";
                              PGresult* e = PQexecParams(raw.conn, sql.c_str(), static_cast<int>(vals.size()), nullptr, vals.data(),
                                                         nullptr, nullptr, 1);
                              for (int row = 0; row < PQntuples(e); ++row) {
                                  Entry x = RawPg::read(e, row);
                                  by_blog[x.blog.id()].push_back(std::move(x));
                              }
                              PQclear(e);
                          }
                          for (const auto& b : bs) {
                              t.add(b);
                              for (const auto& e : by_blog[b.id]) t.add(e);
                          }
                          return t;
                      }},
            runs);
    }

    // W9: iterator(chunk_size=2000) over 1M rows: peak memory within 1.5x of the same run over 100k.
    if (selected(only, "W9")) {
        auto stream = [&](int count) {
            load(count);
            return peak_growth_kib_in_child([&] {
                Tally t;
                for (const auto& e : qs.order_by("id").iterator(2000)) t.add(e);
                if (t.rows != count) _exit(1);
            });
        };
        long small = stream(n(100000));
        long large = stream(n(1000000));
        fmt::print("{:<10} {:<44} peak growth {} KiB for 100k, {} KiB for 1M: ratio {:.2f} ({})\n", backend,
                   "W9 iterator(2000) memory", small, large, double(large) / double(std::max(small, 1L)),
                   double(large) <= 1.5 * double(std::max(small, 1L)) ? "flat" : "NOT flat");
    }
}

}  // namespace

int main(int argc, char** argv) {
    int runs = 5;
    double scale = 1.0;
    std::string only, tsv;
    bool sqlite = true, postgresql = true;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--backend" && i + 1 < argc) {
            std::string b = argv[++i];
            sqlite = b == "sqlite";
            postgresql = b == "postgresql";
        }
        if (a == "--runs" && i + 1 < argc) runs = std::atoi(argv[++i]);
        else if (a == "--scale" && i + 1 < argc) scale = std::atof(argv[++i]);
        else if (a == "--only" && i + 1 < argc) only = argv[++i];
        else if (a == "--tsv" && i + 1 < argc) tsv = argv[++i];
    }

    // SQLite: a file database, WAL, synchronous=NORMAL, foreign keys on; both sides on the same file.
    if (sqlite) {
        std::string path = "/tmp/dorm_bench.db";
        for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
        databases().add("sqlite", "sqlite://" + path);
        auto& conn = databases()["sqlite"].connection();
        conn.execute("PRAGMA journal_mode=WAL");
        conn.execute("PRAGMA synchronous=NORMAL");
        create_tables<Blog, Entry>("sqlite");
        std::vector<Blog> blogs(blog_count);
        for (int i = 0; i < blog_count; ++i) blogs[static_cast<std::size_t>(i)].name = "blog " + std::to_string(i);
        Blog::objects().using_("sqlite").bulk_create(blogs);
        RawSqlite raw(path);
        PeerSet peer_set;
#if DORM_BENCH_SOCI
        peer_set.soci = std::make_unique<peers::Soci>("sqlite", path);
        peer_set.soci->exec("PRAGMA synchronous=NORMAL");
        peer_set.soci->exec("PRAGMA foreign_keys=ON");
#endif
        run_backend("sqlite", "sqlite", raw, peer_set, runs, scale, only);
    }

    // PostgreSQL over TCP loopback, when a server is given.
    if (const char* url = std::getenv("DORM_BENCH_POSTGRESQL_URL"); postgresql && url && *url) {
        databases().add("pg", url);
        drop_tables<Blog, Entry>("pg");
        create_tables<Blog, Entry>("pg");
        std::vector<Blog> blogs(blog_count);
        for (int i = 0; i < blog_count; ++i) blogs[static_cast<std::size_t>(i)].name = "blog " + std::to_string(i);
        Blog::objects().using_("pg").bulk_create(blogs);
        RawPg raw(url);
        std::vector<std::pair<std::string, std::string>> statements;
        statements.emplace_back("w1", "INSERT INTO entry (blog_id, headline, body_text, pub_date, rating, rating_note) VALUES ($1::bigint, $2, $3, $4::date, $5::integer, $6) RETURNING id");
        statements.emplace_back("w3", fmt::format("SELECT {} FROM entry ORDER BY id", entry_columns));
        statements.emplace_back("w4", fmt::format("SELECT {} FROM entry WHERE id = $1::bigint", entry_columns));
        statements.emplace_back("w5", fmt::format("SELECT {} FROM entry WHERE rating >= $1::integer AND headline LIKE 'a%' "
                                      "ORDER BY pub_date DESC, id ASC LIMIT 10", entry_columns));
        statements.emplace_back("w8", "SELECT blog_id, COUNT(id), AVG(rating) FROM entry GROUP BY blog_id ORDER BY blog_id");
        statements.emplace_back("w6", fmt::format("{}ORDER BY entry.id LIMIT $1::bigint", entry_blog_join));
        statements.emplace_back("w7b", "SELECT id, name, tagline FROM blog ORDER BY id");
        statements.emplace_back("w12b", fmt::format("SELECT {} FROM entry WHERE blog_id = $1::bigint AND rating >= $2::integer "
                                        "ORDER BY pub_date DESC, id ASC LIMIT 10", entry_columns));
        statements.emplace_back("w12c", "SELECT COUNT(*) FROM entry WHERE blog_id = $1::bigint");
        statements.emplace_back("w12d", fmt::format("{}WHERE entry.blog_id = $1::bigint ORDER BY entry.id LIMIT 5", entry_blog_join));
        statements.emplace_back("w12e", "SELECT rating, COUNT(id) FROM entry WHERE blog_id = $1::bigint GROUP BY rating ORDER BY rating");
        for (const auto& [name, sql] : statements) raw.prepare(name.c_str(), sql.c_str());
        PeerSet peer_set;
#if DORM_BENCH_SOCI
        peer_set.soci = std::make_unique<peers::Soci>("postgresql", peers::keyword_conninfo(url));
#endif
#if DORM_BENCH_PQXX
        peer_set.pqxx = std::make_unique<peers::Pqxx>(url);
        for (const auto& [name, sql] : statements)  // the raw side's reads
            if (name == "w3" || name == "w4" || name == "w5" || name == "w8") peer_set.pqxx->prepare(name, sql);
#endif
        run_backend("postgresql", "pg", raw, peer_set, runs, scale, only);
    } else {
        fmt::print("postgresql: skipped (set DORM_BENCH_POSTGRESQL_URL)\n");
    }

    fmt::print("\n| backend | workload | dorm ms | raw ms | dorm / raw | SOCI ms | libpqxx ms |\n|---|---|---|---|---|---|---|\n");
    for (const auto& r : results) {
        auto peer = [&](std::string_view name) {
            for (const auto& [n, t] : r.peers)
                if (n == name) return fmt::format("{:.1f}", t * 1e3);
            return std::string("—");
        };
        fmt::print("| {} | {} | {:.1f} | {:.1f} | {:.2f} | {} | {} |\n", r.backend, r.name, r.dorm * 1e3, r.raw * 1e3,
                   r.dorm / r.raw, peer("SOCI"), peer("libpqxx"));
    }
    if (!tsv.empty()) {
        // One line per workload: medians in ms, and each side's ratio to the raw driver (empty when not measured).
        std::FILE* f = std::fopen(tsv.c_str(), "w");
        if (f == nullptr) {
            fmt::print(stderr, "cannot write {}\n", tsv);
            return 1;
        }
        fmt::print(f, "backend\tworkload\tdorm_ms\traw_ms\tdorm\tSOCI\tlibpqxx\tnote\n");
        for (const auto& r : results) {
            auto ratio = [&](std::string_view name) {
                for (const auto& [n, t] : r.peers)
                    if (n == name) return fmt::format("{:.2f}", t / r.raw);
                return std::string();
            };
            fmt::print(f, "{}\t{}\t{:.1f}\t{:.1f}\t{:.2f}\t{}\t{}\t\n", r.backend, r.name, r.dorm * 1e3, r.raw * 1e3,
                       r.dorm / r.raw, ratio("SOCI"), ratio("libpqxx"));
        }
        std::fclose(f);
    }
    return 0;
}
