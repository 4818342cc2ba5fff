// SPDX-License-Identifier: MIT
// The cost of one call, dorm against the raw driver (sqlite3 C API, libpq), in one process: get(pk), create() and a
// filtered, ordered, sliced list; get(pk) and create() also on the C++ peers dorm_bench measures (SOCI, libpqxx)
// when built with them, each used as dorm_bench uses it (peers.hpp). Each call runs in its own extern "C" function
// measured_<side>_<op>, so that callgrind --toggle-collect counts the instructions of exactly those calls
// (tests/bench/per_query.sh); this program counts the heap allocations of the same calls and checks that every side
// decodes the same values.
//
//   dorm_per_query --backend sqlite|postgresql [--url URL]    (URL defaults to $DORM_BENCH_POSTGRESQL_URL)
#include <dorm/postgresql.hpp>
#include <dorm/sqlite.hpp>

#include "models.hpp"

#include <libpq-fe.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <optional>
#include <string>
#include <vector>

// ---- Counting allocations: every operator new goes through here -----------------------------------------------

namespace {
std::atomic<std::uint64_t> allocations{0};

void* counted(std::size_t n, std::size_t align = 0) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (n == 0) n = 1;
    if (align <= alignof(std::max_align_t)) return std::malloc(n);
    return std::aligned_alloc(align, (n + align - 1) / align * align);  // the size must be a multiple of it
}
void* counted_or_throw(std::size_t n, std::size_t align = 0) {
    if (void* p = counted(n, align)) return p;
    throw std::bad_alloc();
}
}  // namespace

using std::align_val_t, std::nothrow_t, std::size_t;
void* operator new(size_t n) { return counted_or_throw(n); }
void* operator new[](size_t n) { return counted_or_throw(n); }
void* operator new(size_t n, align_val_t a) { return counted_or_throw(n, static_cast<size_t>(a)); }
void* operator new[](size_t n, align_val_t a) { return counted_or_throw(n, static_cast<size_t>(a)); }
void* operator new(size_t n, const nothrow_t&) noexcept { return counted(n); }
void* operator new[](size_t n, const nothrow_t&) noexcept { return counted(n); }
void* operator new(size_t n, align_val_t a, const nothrow_t&) noexcept { return counted(n, static_cast<size_t>(a)); }
void* operator new[](size_t n, align_val_t a, const nothrow_t&) noexcept { return counted(n, static_cast<size_t>(a)); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t, align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, align_val_t, const nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, align_val_t, const nothrow_t&) noexcept { std::free(p); }

using namespace dorm;

using EntryQuerySet = decltype(Entry::objects().using_(std::string_view{}));

namespace {

using bench::blog_count;
constexpr int entry_count = 10000, warmup = 100, calls = 1000;

using bench::make_entry;

/// What both sides must agree on: rows seen and a checksum over every decoded column.
struct Tally {
    std::int64_t rows = 0;
    std::uint64_t sum = 0;
    void add(const Entry& e) {
        ++rows;
        auto text = [](std::string_view s) {
            std::uint64_t h = s.size();
            for (char c : s) h = h * 131 + static_cast<unsigned char>(c);
            return h;
        };
        sum = sum * 31 + static_cast<std::uint64_t>(e.id) + static_cast<std::uint64_t>(e.blog.id()) * 7 +
              static_cast<std::uint64_t>(e.rating) * 13 + text(e.headline) * 17 + text(e.body_text) * 19 +
              static_cast<std::uint64_t>(e.pub_date.days_since_epoch()) * 23 +
              (e.rating_note ? text(*e.rating_note) + 1 : 0);
    }
    /// One values("blog").annotate() row: peers.hpp's grouped() reads them (not measured here).
    void add(std::int64_t blog, std::int64_t n, double avg) {
        ++rows;
        sum = sum * 31 + static_cast<std::uint64_t>(blog) * 7 + static_cast<std::uint64_t>(n) * 13 +
              static_cast<std::uint64_t>(std::llround(avg * 1e6));
    }
    bool operator==(const Tally&) const = default;
};
}  // namespace

#include "peers.hpp"

namespace {

[[noreturn]] void fail(const std::string& what) {
    fmt::print(stderr, "dorm_per_query: {}\n", what);
    std::exit(1);
}

/// Everything the measured calls use, prepared once.
struct Ctx {
    std::string alias;
    EntryQuerySet qs;
    sqlite3* db = nullptr;  // raw SQLite: its own connection to the same file
    sqlite3_stmt *get = nullptr, *create = nullptr, *list = nullptr;
    PGconn* pg = nullptr;  // raw libpq: statements "get", "create" and "list"
    std::vector<std::optional<std::string>> list_params{};  // dorm's parameters for the list; nullopt is the rating
#if DORM_BENCH_SOCI
    std::unique_ptr<peers::Soci> soci{};  // its own connection; get() by its statement for soci_get_sql
    std::string soci_get_sql{};
    std::unique_ptr<peers::Soci::Inserter> soci_inserter{};  // create(): inside the creates' transaction
#endif
#if DORM_BENCH_PQXX
    std::unique_ptr<peers::Pqxx> pqxx{};  // its own connection; get() by its prepared statement "get"
    pqxx::work* pqxx_work = nullptr;      // create(): the creates' transaction
#endif
};

std::int64_t be(const char* p, int n) {  // a big-endian binary integer of 4 or 8 bytes
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return n == 4 ? static_cast<std::int32_t>(v) : static_cast<std::int64_t>(v);
}

Entry read_sqlite(sqlite3_stmt* s) {
    auto text = [s](int col) {
        return std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(s, col)),
                                static_cast<std::size_t>(sqlite3_column_bytes(s, col)));
    };
    Entry e;
    e.id = sqlite3_column_int64(s, 0);
    e.blog = ForeignKey<Blog>(sqlite3_column_int64(s, 1));
    e.headline.assign(text(2));
    e.body_text.assign(text(3));
    e.pub_date = *dorm::detail::parse_date(text(4));
    e.rating = sqlite3_column_int(s, 5);
    if (sqlite3_column_type(s, 6) != SQLITE_NULL) e.rating_note.emplace(text(6));
    return e;
}

Entry read_pg(PGresult* r, int row) {  // binary results
    Entry e;
    e.id = be(PQgetvalue(r, row, 0), PQgetlength(r, row, 0));
    e.blog = ForeignKey<Blog>(be(PQgetvalue(r, row, 1), PQgetlength(r, row, 1)));
    auto text = [&](int col) {
        return std::string_view(PQgetvalue(r, row, col), static_cast<std::size_t>(PQgetlength(r, row, col)));
    };
    e.headline.assign(text(2));
    e.body_text.assign(text(3));
    e.pub_date = Date(std::chrono::sys_days{std::chrono::days{be(PQgetvalue(r, row, 4), 4) + 10957}});  // 2000-01-01
    e.rating = static_cast<int>(be(PQgetvalue(r, row, 5), 4));
    if (!PQgetisnull(r, row, 6)) e.rating_note.emplace(text(6));
    return e;
}

void raw_exec(Ctx& c, const char* sql) {
    if (c.db) {
        if (sqlite3_exec(c.db, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
            fail(fmt::format("{}: {}", sql, sqlite3_errmsg(c.db)));
        return;
    }
    PGresult* r = PQexec(c.pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) fail(fmt::format("{}: {}", sql, PQresultErrorMessage(r)));
    PQclear(r);
}

/// Prepares `sql` on the raw connection: the SQLite statement, or on PostgreSQL the statement `name`.
sqlite3_stmt* raw_prepare(Ctx& c, const char* name, const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    if (c.db && sqlite3_prepare_v3(c.db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
        fail(fmt::format("{}: {}", sql, sqlite3_errmsg(c.db)));
    if (c.pg) {
        PGresult* r = PQprepare(c.pg, name, sql.c_str(), 0, nullptr);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) fail(fmt::format("{}: {}", sql, PQresultErrorMessage(r)));
        PQclear(r);
    }
    return s;
}

// ---- One call of each operation: the measured functions call these, and so do the untimed warm-ups -------------

void dorm_get(Ctx& c, std::int64_t id, Entry& out) { out = Entry::objects().using_(c.alias).get("pk", id); }

void raw_get(Ctx& c, std::int64_t id, Entry& out) {
    if (c.db) {
        sqlite3_bind_int64(c.get, 1, id);
        if (sqlite3_step(c.get) != SQLITE_ROW) fail("raw get: no row");
        out = read_sqlite(c.get);
        sqlite3_reset(c.get);
    } else {
        std::string v = std::to_string(id);
        const char* vals[1] = {v.c_str()};
        PGresult* r = PQexecPrepared(c.pg, "get", 1, vals, nullptr, nullptr, 1);
        if (PQntuples(r) != 1) fail("raw get: no row");
        out = read_pg(r, 0);
        PQclear(r);
    }
}

// A peer's get(): the one row, tallied on its own (the caller adds it to the side's tally).
#if DORM_BENCH_SOCI
void soci_get(Ctx& c, std::int64_t id, Tally& one) { one = c.soci->entries(c.soci_get_sql, id); }
#endif
#if DORM_BENCH_PQXX
void pqxx_get(Ctx& c, std::int64_t id, Tally& one) { one = c.pqxx->entries("get", id); }
#endif

// Every side takes the new object by value and drops it before returning, so they free the same strings.
std::int64_t dorm_create(Ctx& c, Entry&& e) { return c.qs.create(std::move(e)).id; }

std::int64_t raw_create(Ctx& c, Entry&& given) {
    Entry e = std::move(given);
    std::string date = dorm::detail::to_iso(e.pub_date);
    if (c.db) {  // the fastest hand-written form: no RETURNING, the rowid read back
        sqlite3_stmt* s = c.create;
        sqlite3_bind_int64(s, 1, e.blog.id());
        sqlite3_bind_text(s, 2, e.headline.data(), static_cast<int>(e.headline.size()), SQLITE_STATIC);
        sqlite3_bind_text(s, 3, e.body_text.data(), static_cast<int>(e.body_text.size()), SQLITE_STATIC);
        sqlite3_bind_text(s, 4, date.data(), static_cast<int>(date.size()), SQLITE_STATIC);
        sqlite3_bind_int(s, 5, e.rating);
        if (!e.rating_note) sqlite3_bind_null(s, 6);
        else sqlite3_bind_text(s, 6, e.rating_note->data(), static_cast<int>(e.rating_note->size()), SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE) fail(fmt::format("raw create: {}", sqlite3_errmsg(c.db)));
        sqlite3_reset(s);
        e.id = sqlite3_last_insert_rowid(c.db);
    } else {
        std::string blog = std::to_string(e.blog.id()), rating = std::to_string(e.rating);
        const char* v[6] = {blog.c_str(), e.headline.c_str(), e.body_text.c_str(), date.c_str(), rating.c_str(),
                            e.rating_note ? e.rating_note->c_str() : nullptr};
        PGresult* r = PQexecPrepared(c.pg, "create", 6, v, nullptr, nullptr, 1);
        if (PQntuples(r) != 1) fail(fmt::format("raw create: {}", PQresultErrorMessage(r)));
        e.id = be(PQgetvalue(r, 0, 0), PQgetlength(r, 0, 0));
        PQclear(r);
    }
    return e.id;
}

// A peer's create(): its INSERT ... RETURNING id with the values copied into its bound variables (peers.hpp).
#if DORM_BENCH_SOCI
std::int64_t soci_create(Ctx& c, Entry&& given) {
    const Entry e = std::move(given);
    return c.soci_inserter->insert(e);
}
#endif
#if DORM_BENCH_PQXX
std::int64_t pqxx_create(Ctx& c, Entry&& given) {
    const Entry e = std::move(given);
    return peers::Pqxx::insert(*c.pqxx_work, e);
}
#endif

// Both sides build a fresh result and move it over the previous one, which is freed.
void dorm_list(Ctx& c, int rating, EntryQuerySet& out) {
    auto page =
        c.qs.filter("rating__gte", rating, "headline__startswith", "a").order_by("-pub_date", "id").slice(0, 10);
    (void)page.size();  // evaluates it: the instances are in its cache
    out = std::move(page);
}

void raw_list(Ctx& c, int rating, std::vector<Entry>& out) {
    std::vector<Entry> page;
    std::string r = std::to_string(rating);
    if (c.db) {
        page.reserve(10);  // the LIMIT
        for (int i = 0; i < static_cast<int>(c.list_params.size()); ++i) {
            const auto& p = c.list_params[static_cast<std::size_t>(i)];
            if (p) sqlite3_bind_text(c.list, i + 1, p->data(), static_cast<int>(p->size()), SQLITE_STATIC);
            else sqlite3_bind_int(c.list, i + 1, rating);
        }
        while (sqlite3_step(c.list) == SQLITE_ROW) page.push_back(read_sqlite(c.list));
        sqlite3_reset(c.list);
    } else {
        const char* vals[8];
        for (std::size_t i = 0; i < c.list_params.size(); ++i)
            vals[i] = c.list_params[i] ? c.list_params[i]->c_str() : r.c_str();
        PGresult* res = PQexecPrepared(c.pg, "list", static_cast<int>(c.list_params.size()), vals, nullptr, nullptr, 1);
        page.reserve(static_cast<std::size_t>(PQntuples(res)));
        for (int row = 0; row < PQntuples(res); ++row) page.push_back(read_pg(res, row));
        PQclear(res);
    }
    out = std::move(page);
}

}  // namespace

// callgrind --toggle-collect=measured_* counts these calls and everything they call, nothing else.
#if defined(__clang__)
#define DORM_MEASURED extern "C" __attribute__((noinline, used))
#else
#define DORM_MEASURED extern "C" __attribute__((noinline, noclone, used))  // no .isra / .constprop copies
#endif
DORM_MEASURED void measured_dorm_get(Ctx& c, std::int64_t id, Entry& out) { dorm_get(c, id, out); }
DORM_MEASURED void measured_raw_get(Ctx& c, std::int64_t id, Entry& out) { raw_get(c, id, out); }
#if DORM_BENCH_SOCI
DORM_MEASURED void measured_soci_get(Ctx& c, std::int64_t id, Tally& one) { soci_get(c, id, one); }
#endif
#if DORM_BENCH_PQXX
DORM_MEASURED void measured_pqxx_get(Ctx& c, std::int64_t id, Tally& one) { pqxx_get(c, id, one); }
#endif
DORM_MEASURED std::int64_t measured_dorm_create(Ctx& c, Entry&& e) { return dorm_create(c, std::move(e)); }
DORM_MEASURED std::int64_t measured_raw_create(Ctx& c, Entry&& e) { return raw_create(c, std::move(e)); }
#if DORM_BENCH_SOCI
DORM_MEASURED std::int64_t measured_soci_create(Ctx& c, Entry&& e) { return soci_create(c, std::move(e)); }
#endif
#if DORM_BENCH_PQXX
DORM_MEASURED std::int64_t measured_pqxx_create(Ctx& c, Entry&& e) { return pqxx_create(c, std::move(e)); }
#endif
DORM_MEASURED void measured_dorm_list(Ctx& c, int rating, EntryQuerySet& out) { dorm_list(c, rating, out); }
DORM_MEASURED void measured_raw_list(Ctx& c, int rating, std::vector<Entry>& out) { raw_list(c, rating, out); }

namespace {

struct Side {
    std::uint64_t allocs = 0;
    Tally tally;
};

/// `warmup` calls through the plain functions, then `calls` through the measured ones, counting only the measured
/// calls' allocations; `call(measured, i)` makes call i and returns what adds its result to the tally.
template <class Call>
Side run_side(Call call) {
    Side s;
    for (int i = 0; i < warmup; ++i) call(false, i);
    for (int i = 0; i < calls; ++i) {
        std::uint64_t before = allocations.load(std::memory_order_relaxed);
        auto result = call(true, warmup + i);
        s.allocs += allocations.load(std::memory_order_relaxed) - before;
        result(s.tally);
    }
    return s;
}

void report(const std::string& backend, const char* op, const Side& dorm, const Side& raw) {
    for (const auto& [side, s] : {std::pair{"dorm", &dorm}, std::pair{"raw", &raw}})
        fmt::print("{} {} {} calls {} rows {} allocs/call {:.1f} checksum {}\n", backend, op, side, calls,
                   s->tally.rows, double(s->allocs) / calls, s->tally.sum);
    std::fflush(stdout);
    if (!(dorm.tally == raw.tally)) fail(fmt::format("{} {}: dorm and raw decoded different values", backend, op));
}

/// A peer's line, in report()'s form; its values must be the raw driver's.
[[maybe_unused]] void report_peer(const std::string& backend, const char* op, const char* peer, const Side& s,
                                  const Side& raw) {
    fmt::print("{} {} {} calls {} rows {} allocs/call {:.1f} checksum {}\n", backend, op, peer, calls, s.tally.rows,
               double(s.allocs) / calls, s.tally.sum);
    std::fflush(stdout);
    if (!(s.tally == raw.tally)) fail(fmt::format("{} {}: {} and raw decoded different values", backend, op, peer));
}

void run(const std::string& backend, Ctx& c) {
    auto& conn = databases().get(c.alias).connection();
    std::int64_t first_id = c.qs.order_by("id").first()->id;
    auto key = [&](int i) { return first_id + (static_cast<std::int64_t>(i) * 7919) % entry_count; };

    auto get = [&](auto plain, auto measured) {
        Entry e;
        return run_side([&](bool m, int i) {
            (m ? measured : plain)(c, key(i), e);
            return [&e](Tally& t) { t.add(e); };
        });
    };
    const Side raw_gets = get(raw_get, measured_raw_get);
    report(backend, "get", get(dorm_get, measured_dorm_get), raw_gets);
    // A peer's call tallies its one row from zero: adding that to the side's tally is adding the row itself.
    [[maybe_unused]] auto peer_get = [&](const char* name, auto plain, auto measured) {
        Tally one;
        const Side s = run_side([&](bool m, int i) {
            (m ? measured : plain)(c, key(i), one);
            return [&one](Tally& t) {
                if (one.rows != 1) fail("a peer's get() did not read one row");
                ++t.rows;
                t.sum = t.sum * 31 + one.sum;
            };
        });
        report_peer(backend, "get", name, s, raw_gets);
    };
#if DORM_BENCH_SOCI
    peer_get("soci", soci_get, measured_soci_get);
#endif
#if DORM_BENCH_PQXX
    if (c.pqxx) peer_get("libpqxx", pqxx_get, measured_pqxx_get);
#endif

    // The raw side runs dorm's own SQL for the list, prepared once, with dorm's parameters but the rating.
    {
        CaptureQueries capture(c.alias);
        EntryQuerySet probe = c.qs;
        dorm_list(c, 7, probe);
        if (capture.size() != 1) fail("the list did not run one statement");
        const std::string& sql = capture[0].sql;
        fmt::print("{} list SQL: {}\n", backend, sql);
        for (const Value& p : capture[0].params) {
            if (p.holds<std::int64_t>() && p.as<std::int64_t>() == 7) c.list_params.emplace_back();
            else if (p.holds<std::string>()) c.list_params.emplace_back(p.as<std::string>());
            else fail("unexpected parameter in the list's SQL");
        }
        if (c.list_params.size() > 8) fail("too many parameters in the list's SQL");
        c.list = raw_prepare(c, "list", sql);
    }
    EntryQuerySet dorm_page = c.qs;
    std::vector<Entry> raw_page;
    auto dorm_side = run_side([&](bool m, int i) {
        (m ? measured_dorm_list : dorm_list)(c, i % 10, dorm_page);
        return [&](Tally& t) { for (const auto& e : dorm_page) t.add(e); };
    });
    auto raw_side = run_side([&](bool m, int i) {
        (m ? measured_raw_list : raw_list)(c, i % 10, raw_page);
        return [&](Tally& t) { for (const auto& e : raw_page) t.add(e); };
    });
    report(backend, "list", dorm_side, raw_side);

    // Creates in one transaction per side; each side's rows are deleted afterwards, so every side ends on the same
    // count. `in_transaction(loop)` runs the loop of calls inside the side's own transaction.
    std::int64_t last_id = c.qs.order_by("-id").first()->id;
    auto create = [&](auto plain, auto measured, auto in_transaction) {
        Side s;
        std::vector<Entry> fresh;  // made before, so that their allocations are not counted
        for (int i = 0; i < warmup + calls; ++i) fresh.push_back(make_entry(entry_count + i));
        auto loop = [&] {
            s = run_side([&](bool m, int i) {
                std::int64_t id = (m ? measured : plain)(c, std::move(fresh[static_cast<std::size_t>(i)]));
                return [id](Tally& t) { t.sum += id > 0; };
            });
        };
        in_transaction(loop);
        s.tally.rows = c.qs.count();
        conn.execute(fmt::format("DELETE FROM entry WHERE id > {}", last_id));
        return s;
    };
    auto dorm_transaction = [&](auto& loop) { atomic(loop, c.alias); };
    auto raw_transaction = [&](auto& loop) {
        raw_exec(c, "BEGIN");
        loop();
        raw_exec(c, "COMMIT");
    };
    // On SQLite the first round of inserts after the load costs some 4,000 instructions a row more than later ones
    // (which reuse the pages the deletion freed): an unmeasured round first, so that both sides find the same file.
    create(raw_create, raw_create, raw_transaction);
    auto dorm_creates = create(dorm_create, measured_dorm_create, dorm_transaction);
    const Side raw_creates = create(raw_create, measured_raw_create, raw_transaction);
    report(backend, "create", dorm_creates, raw_creates);
#if DORM_BENCH_SOCI
    report_peer(backend, "create", "soci", create(soci_create, measured_soci_create, [&](auto& loop) {
        soci::transaction tr(c.soci->session());
        c.soci_inserter = std::make_unique<peers::Soci::Inserter>(c.soci->session());
        loop();
        c.soci_inserter.reset();  // before the commit (SQLite: its RETURNING statement is still in progress)
        tr.commit();
    }), raw_creates);
#endif
#if DORM_BENCH_PQXX
    if (c.pqxx)
        report_peer(backend, "create", "libpqxx", create(pqxx_create, measured_pqxx_create, [&](auto& loop) {
            pqxx::work tx(c.pqxx->connection());
            c.pqxx_work = &tx;
            loop();
            c.pqxx_work = nullptr;
            tx.commit();
        }), raw_creates);
#endif
}

}  // namespace

int main(int argc, char** argv) {
    std::string backend, url;
    if (const char* env = std::getenv("DORM_BENCH_POSTGRESQL_URL")) url = env;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--backend") backend = argv[i + 1];
        else if (a == "--url") url = argv[i + 1];
        else fail(fmt::format("unknown argument {}", a));
    }
    if (backend != "sqlite" && backend != "postgresql")
        fail("usage: dorm_per_query --backend sqlite|postgresql [--url URL]");
    if (backend == "postgresql" && url.empty()) fail("postgresql needs --url or DORM_BENCH_POSTGRESQL_URL");

    const std::string path = "/tmp/dorm_per_query.db";
    if (backend == "sqlite") {
        for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
        databases().add(backend, "sqlite://" + path);
        databases()[backend].connection().execute("PRAGMA journal_mode=WAL");
        databases()[backend].connection().execute("PRAGMA synchronous=NORMAL");
    } else {
        databases().add(backend, url);
        drop_tables<Blog, Entry>(backend);
    }
    create_tables<Blog, Entry>(backend);
    std::vector<Blog> blogs(blog_count);
    for (int i = 0; i < blog_count; ++i) blogs[static_cast<std::size_t>(i)].name = "blog " + std::to_string(i);
    Blog::objects().using_(backend).bulk_create(std::move(blogs));
    std::vector<Entry> entries;
    for (int i = 0; i < entry_count; ++i) entries.push_back(make_entry(i));
    Entry::objects().using_(backend).bulk_create(std::move(entries));

    Ctx c{backend, Entry::objects().using_(backend)};
    if (backend == "sqlite") {
        // NOMUTEX, as dorm opens its connections: neither side pays for SQLite's serialized mode.
        if (sqlite3_open_v2(path.c_str(), &c.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK)
            fail("cannot open " + path);
        for (const char* sql : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON"})
            raw_exec(c, sql);
    } else if (c.pg = PQconnectdb(url.c_str()); PQstatus(c.pg) != CONNECTION_OK) {
        fail(PQerrorMessage(c.pg));
    }
    const std::string columns = "id, blog_id, headline, body_text, pub_date, rating, rating_note";
    bool pg = c.pg != nullptr;
    c.get = raw_prepare(c, "get", fmt::format("SELECT {} FROM entry WHERE id = {}", columns, pg ? "$1::bigint" : "?"));
    std::string insert = "INSERT INTO entry (blog_id, headline, body_text, pub_date, rating, rating_note) VALUES ";
    c.create = raw_prepare(c, "create", insert + (pg ? "($1::bigint, $2, $3, $4::date, $5::integer, $6) RETURNING id"
                                                     : "(?, ?, ?, ?, ?, ?)"));
#if DORM_BENCH_SOCI
    // As dorm_bench opens it (on SQLite the file's WAL mode persists; SOCI's own flags otherwise).
    c.soci = std::make_unique<peers::Soci>(backend, pg ? peers::keyword_conninfo(url) : path);
    if (!pg)
        for (const char* sql : {"PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON"}) c.soci->exec(sql);
    c.soci_get_sql = fmt::format("SELECT {} FROM entry WHERE id = :id", columns);
#endif
#if DORM_BENCH_PQXX
    if (pg) {
        c.pqxx = std::make_unique<peers::Pqxx>(url);
        c.pqxx->prepare("get", fmt::format("SELECT {} FROM entry WHERE id = $1::bigint", columns));
    }
#endif
    run(backend, c);

    for (sqlite3_stmt* s : {c.get, c.create, c.list}) sqlite3_finalize(s);
    if (c.db) sqlite3_close(c.db);
    if (c.pg) PQfinish(c.pg);
    return 0;
}
