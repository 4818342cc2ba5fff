// SPDX-License-Identifier: MIT
// Bad input and faults: nothing written is altered, nothing is half-committed, nothing crashes.
#include "support/fixture.hpp"
#include "support/settings.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using dorm::F;
using namespace std::string_literals;

namespace {
Sample sample(std::string text = "x") {
    Sample s;
    s.text = std::move(text);
    s.day = dorm::Date(2000, 1, 1);
    s.save();
    return s;
}

/// Runs SQL on this thread's connection to "default", as a user's raw statement would.
void run_sql(const std::string& sql) { dorm::databases()["default"].connection().execute(sql); }
}  // namespace

TEST_CASE("an empty Bytes value is stored as a zero-length blob, not NULL", "[hardening]") {
    test::Database db;
    Sample s = sample();
    s.data = {};
    s.save();  // the column is NOT NULL: binding NULL would be an IntegrityError
    CHECK(Sample::objects().get("pk", s.id).data.empty());
    CHECK(Sample::objects().filter("data", dorm::Bytes{}).count() == 1);
    auto rows = Sample::objects().values("data");
    REQUIRE(rows.count() == 1);
    CHECK(!rows.get()["data"].is_null());
    CHECK(rows.get()["data"].as<dorm::Bytes>().empty());
}

TEST_CASE("text with a NUL character is stored exactly or refused, never cut", "[hardening]") {
    test::Database db;
    sample("alpha");
    const std::string with_nul = "alpha\0junk"s;
    if (test::is_postgresql()) {
        // PostgreSQL text cannot hold NUL: refused before anything is sent.
        CHECK_THROWS_WITH(sample(with_nul), Catch::Contains("field 'text'"));
        CHECK_THROWS_WITH(Sample::objects().update({{"text", with_nul}}), Catch::Contains("field 'text'"));
        CHECK_THROWS_AS(Sample::objects().filter("text", with_nul).count(), dorm::ValueError);
        CHECK(Sample::objects().count() == 1);
    } else {
        Sample s = sample(with_nul);
        CHECK(Sample::objects().get("pk", s.id).text == with_nul);
        CHECK(Sample::objects().filter("text", with_nul).count() == 1);
        CHECK(Sample::objects().filter("text", "alpha").count() == 1);
    }
    // Pattern lookups cannot match a NUL on either backend: refused, not matched wrongly.
    for (const char* lookup : {"text__contains", "text__icontains", "text__startswith", "text__istartswith",
                               "text__endswith", "text__iendswith", "text__iexact"})
        CHECK_THROWS_AS(Sample::objects().filter(std::string(lookup), "\0"s).count(), dorm::ValueError);
}

TEST_CASE("an INSERT leaves the instance's text as it was: saved, created (its text lent), failed or refused",
          "[hardening]") {
    test::Database db;
    const std::string name(90, 'n'), tagline(50, 't');  // held on the heap: create() lends them, not copies
    Blog a;
    a.name = name;
    a.tagline = tagline;
    a.save();
    CHECK(a.name == name);
    CHECK(a.tagline == tagline);
    CHECK(Blog::objects().get("pk", a.id).name == name);
    Blog made;
    made.name = name + "2";
    made.tagline = tagline;
    Blog created = Blog::objects().create(std::move(made));  // its own copy's strings go out and come back
    CHECK(created.name == name + "2");
    CHECK(created.tagline == tagline);
    CHECK(Blog::objects().get("pk", created.id).tagline == tagline);

    // The database refuses the row (the name is unique): a user's instance keeps its text, and no key.
    Blog b;
    b.name = name;
    b.tagline = tagline + "!";
    CHECK_THROWS_AS(b.save(), dorm::IntegrityError);
    CHECK(b.name == name);
    CHECK(b.tagline == tagline + "!");
    CHECK(b.id == 0);
    b.name = name + "3";  // the same instance saves once its name is free
    b.save();
    CHECK(Blog::objects().get("pk", b.id).tagline == tagline + "!");

    // Refused before anything is sent (PostgreSQL text cannot hold NUL), by save() or by create() of a copy.
    if (test::is_postgresql()) {
        Sample s;
        s.text = std::string(40, 'x') + "\0"s;
        s.day = dorm::Date(2000, 1, 1);
        CHECK_THROWS_AS(s.save(), dorm::ValueError);
        CHECK_THROWS_AS(Sample::objects().create(s), dorm::ValueError);
        CHECK(s.text == std::string(40, 'x') + "\0"s);
        CHECK(Sample::objects().count() == 0);
    }
    CHECK(Blog::objects().count() == 3);
}

TEST_CASE("an integer that no longer fits its member raises DataError, never wraps", "[hardening]") {
    test::Database db;
    Sample s = sample();
    s.medium = std::numeric_limits<int>::max();
    s.small = std::numeric_limits<std::int16_t>::max();
    s.big = std::numeric_limits<std::int64_t>::max();
    s.save();
    // PostgreSQL refuses the overflowing UPDATE; SQLite stores the wider number, which then cannot be read into
    // the member.
    auto bump = [&](const char* field) {
        Sample::objects().filter("pk", s.id).update({{field, F(field) + 1}});
        (void)Sample::objects().get("pk", s.id);
    };
    CHECK_THROWS_AS(bump("medium"), dorm::DataError);
    Sample::objects().filter("pk", s.id).update({{"medium", 0}});
    CHECK_THROWS_AS(bump("small"), dorm::DataError);
    Sample::objects().filter("pk", s.id).update({{"small", 0}});
    // At the int64 maximum SQLite computes a REAL (9.2e18): out of range, not an undefined conversion.
    CHECK_THROWS_AS(bump("big"), dorm::DataError);
}

TEST_CASE("an integer given to a narrower member, or an unsigned one past int64, raises DataError, never wraps",
          "[hardening]") {
    test::Database db;
    Sample s = sample();
    // Nothing is stored: the value is refused before the INSERT (Django on PostgreSQL: "smallint out of range").
    CHECK_THROWS_AS(Sample::objects().create({{"text", "a"}, {"small", 70000}}), dorm::DataError);
    CHECK_THROWS_AS(Sample::objects().create({{"text", "b"}, {"medium", 3'000'000'000LL}}), dorm::DataError);
    CHECK_THROWS_AS(Sample::objects().create({{"text", "c"}, {"medium", -3'000'000'000LL}}), dorm::DataError);
    CHECK(Sample::objects().count() == 1);
    CHECK(Sample::objects().create({{"text", "d"}, {"small", -32768}, {"medium", 2147483647}}).small == -32768);
    // A number the database holds but the member cannot, read field by field (only()): as a whole row reads it.
    if (test::is_postgresql()) {
        CHECK_THROWS_AS(Sample::objects().filter("pk", s.id).update({{"small", 70000}}), dorm::DataError);
    } else {
        Sample::objects().filter("pk", s.id).update({{"small", 70000}});
        CHECK_THROWS_AS(Sample::objects().only("id", "small").get("pk", s.id), dorm::DataError);
        CHECK_THROWS_AS(Sample::objects().get("pk", s.id), dorm::DataError);
        CHECK(Sample::objects().filter("pk", s.id).values("small").get()["small"] == dorm::Value(70000));
        CHECK_THROWS_AS(Sample::objects().filter("pk", s.id).values("small").get().get<std::int16_t>("small"),
                        dorm::DataError);
        Sample::objects().filter("pk", s.id).update({{"small", 0}});
    }
    CHECK_THROWS_AS(dorm::Value(-1).as<std::uint32_t>(), dorm::DataError);
    CHECK_THROWS_AS(dorm::Value(-1).as<std::uint64_t>(), dorm::DataError);
    CHECK_THROWS_AS(dorm::Value(std::int64_t{1} << 40).as<int>(), dorm::DataError);
    CHECK(dorm::Value(-32768).as<std::int16_t>() == -32768);
    CHECK(dorm::Value(std::numeric_limits<std::int64_t>::min()).as<std::int64_t>() ==
          std::numeric_limits<std::int64_t>::min());
    // No column holds 2^63 or more: a filter or a write with it is refused, not run with -2^63 or -1.
    CHECK_THROWS_AS(Sample::objects().filter("big", std::numeric_limits<std::uint64_t>::max()).count(),
                    dorm::DataError);
    CHECK_THROWS_AS(Sample::objects().update({{"big", std::uint64_t{1} << 63}}), dorm::DataError);
    CHECK(dorm::Value(std::uint64_t{INT64_MAX}) == dorm::Value(INT64_MAX));
    CHECK(dorm::Value(std::uint32_t{4'000'000'000u}).as<std::int64_t>() == 4'000'000'000LL);
    CHECK(Sample::objects().get("pk", s.id).big == 0);
}

TEST_CASE("a number with a fraction in an integer column is a DataError, never cut to an integer", "[hardening]") {
    test::Database db;
    Sample s = sample();
    Sample::objects().filter("pk", s.id).update({{"medium", 5}});
    Sample::objects().filter("pk", s.id).update({{"medium", F("medium") * 1.5}});
    if (test::is_postgresql()) {  // the assignment rounds, as PostgreSQL casts numeric to integer
        CHECK(Sample::objects().get("pk", s.id).medium == 8);
    } else {  // SQLite keeps 7.5: values() reads it as Django does; the int member cannot hold it
        CHECK(Sample::objects().filter("pk", s.id).values("medium").get()["medium"] == dorm::Value(7.5));
        CHECK_THROWS_AS(Sample::objects().get("pk", s.id), dorm::DataError);
        // A whole number stored as REAL is still read as that integer.
        run_sql(fmt::format("UPDATE sample SET medium = CAST(7.0 AS REAL) WHERE id = {}", s.id));
        CHECK(Sample::objects().get("pk", s.id).medium == 7);
    }
}

TEST_CASE("a Sum of 64-bit integers is exact to the last digit on both backends", "[hardening]") {
    test::Database db;
    Sample a = sample("a"), b = sample("b");
    auto sum_of = [](std::int64_t x, std::int64_t y, Sample& a, Sample& b) {
        a.big = x;
        a.save();
        b.big = y;
        b.save();
        return Sample::objects().aggregate(dorm::Sum("big")).get<std::int64_t>("big__sum");
    };
    // PostgreSQL sums bigint as numeric: 17 and 19 digits come back as the integers, not as doubles.
    CHECK(sum_of(10'000'000'000'000'000, 1, a, b) == 10'000'000'000'000'001);
    CHECK(sum_of(4'000'000'000'000'000'003, 5'000'000'000'000'000'004, a, b) == 9'000'000'000'000'000'007);
    CHECK(sum_of(-4'000'000'000'000'000'003, -5'000'000'000'000'000'004, a, b) == -9'000'000'000'000'000'007);
    CHECK(sum_of(std::numeric_limits<std::int64_t>::max(), 0, a, b) == std::numeric_limits<std::int64_t>::max());
    CHECK(sum_of(std::numeric_limits<std::int64_t>::min(), 0, a, b) == std::numeric_limits<std::int64_t>::min());
}

TEST_CASE("SQLite: datetime text with a UTC offset is read as the instant it names", "[hardening]") {
    test::Database db;
    if (test::is_postgresql()) return;  // a timestamptz is binary there: no text to read
    Sample s = sample();
    auto read = [&](const char* text) {
        run_sql(fmt::format("UPDATE sample SET moment = '{}' WHERE id = {}", text, s.id));
        return Sample::objects().get("pk", s.id).moment;
    };
    // As Django's parse_datetime() reads what another writer stored.
    CHECK(read("2005-01-01 12:00:00+02:00") == dorm::DateTime(2005, 1, 1, 10, 0, 0));
    CHECK(read("2005-01-01T12:00:00.500000-05:30") == dorm::DateTime(2005, 1, 1, 17, 30, 0, 500000));
    CHECK(read("2005-01-01 00:30:00+0100") == dorm::DateTime(2004, 12, 31, 23, 30, 0));
    CHECK(read("2005-01-01 12:00:00 +03") == dorm::DateTime(2005, 1, 1, 9, 0, 0));
    CHECK(read("2005-01-01 12:00:00Z") == dorm::DateTime(2005, 1, 1, 12, 0, 0));
    CHECK(read("2005-01-01 12:00:00") == dorm::DateTime(2005, 1, 1, 12, 0, 0));
    CHECK_THROWS_AS(read("2005-01-01 12:00:00+2"), dorm::DataError);
    CHECK_THROWS_AS(read("2005-01-01 12:00:00+02:61"), dorm::DataError);
}

TEST_CASE("dates outside years 1..9999 are refused on write", "[hardening]") {
    test::Database db;
    CHECK_THROWS_AS(dorm::Date(10000, 1, 1), dorm::ValueError);
    CHECK_THROWS_AS(dorm::Date(-1, 1, 1), dorm::ValueError);
    CHECK_THROWS_AS(dorm::Date(0, 12, 31), dorm::ValueError);
    CHECK(dorm::Date(9999, 12, 31).year() == 9999);
    CHECK(dorm::Date(1, 1, 1).year() == 1);
    // A date built from a day count is checked when it is written.
    Sample s = sample();
    s.day = dorm::Date(std::chrono::sys_days{std::chrono::days{dorm::Date::max_days + 1}});
    CHECK_THROWS_AS(s.save(), dorm::ValueError);
    s.moment = dorm::DateTime(dorm::Date(std::chrono::sys_days{std::chrono::days{dorm::Date::min_days - 1}}));
    s.day = dorm::Date(9999, 12, 31);
    CHECK_THROWS_AS(s.save(), dorm::ValueError);
    CHECK_THROWS_AS(Sample::objects().filter("day__lt", dorm::Date(std::chrono::sys_days{std::chrono::days{
                                                            dorm::Date::max_days + 1}})).count(),
                    dorm::ValueError);
    // The row still holds what was last written successfully, and reads.
    CHECK(Sample::objects().get("pk", s.id).day == dorm::Date(2000, 1, 1));
}

TEST_CASE("PostgreSQL's infinite dates and timestamps are a DataError, not a garbage date", "[hardening]") {
    test::Database db;
    if (!test::is_postgresql()) return;  // SQLite has no such values: the ISO text of any date reads back
    Sample s = sample();
    run_sql("UPDATE sample SET day = 'infinity' WHERE id = " + std::to_string(s.id));
    CHECK_THROWS_AS(Sample::objects().get("pk", s.id), dorm::DataError);
    CHECK_THROWS_AS(Sample::objects().values("day").get(), dorm::DataError);
    run_sql("UPDATE sample SET day = '2000-01-01', moment = '-infinity' WHERE id = " + std::to_string(s.id));
    CHECK_THROWS_AS(Sample::objects().get("pk", s.id), dorm::DataError);
    run_sql("UPDATE sample SET moment = '294000-01-01' WHERE id = " + std::to_string(s.id));
    CHECK_THROWS_AS(Sample::objects().get("pk", s.id), dorm::DataError);
}

TEST_CASE("slice arithmetic saturates instead of overflowing", "[hardening]") {
    test::BlogData data;
    constexpr auto max = std::numeric_limits<std::int64_t>::max();
    auto all = Entry::objects().order_by("headline");
    CHECK(all.slice(2).slice(0, max).count() == 3);
    CHECK(test::headlines(all.slice(2).slice(0, max)).size() == 3);
    CHECK(test::headlines(all.slice(max - 1).slice(5)).empty());
    CHECK(all.slice(max - 1).slice(5).count() == 0);
    CHECK(test::headlines(all.slice(1, max).slice(1, max)).size() == 3);
    CHECK_THROWS_AS(all[max], dorm::IndexError);
    CHECK_THROWS_AS(all[max - 1], dorm::IndexError);
}

TEST_CASE("an empty field name is a FieldError, not a crash", "[hardening]") {
    test::BlogData data;
    CHECK_THROWS_AS(Entry::objects().values(std::string()).count(), dorm::FieldError);
    CHECK_THROWS_AS(Entry::objects().values_list(std::string(), dorm::named).count(), dorm::FieldError);
    CHECK_THROWS_AS(Entry::objects().values_list<std::int64_t>(std::string(), dorm::flat).count(), dorm::FieldError);
    CHECK_THROWS_AS(Entry::objects().order_by(std::string()).count(), dorm::FieldError);
    CHECK_THROWS_AS(Entry::objects().filter(std::string(), 1).count(), dorm::FieldError);
    CHECK_THROWS_AS(Entry::objects().only(std::string()).count(), dorm::FieldDoesNotExist);
}

TEST_CASE("a transaction the database rolled back stays lost until the outermost atomic block ends",
          "[hardening]") {
    test::Database db;
    auto& conn = dorm::databases()["default"].connection();
    // Simulates the database ending the transaction under dorm (a lost connection, SQLite's own rollback after
    // a disk-full error): a caught error must not let the rest of the block run in autocommit mode.
    CHECK_THROWS_AS(dorm::atomic([&] {
                        Blog::objects().create({{"name", "before"}});
                        dorm::atomic([&] {
                            Blog::objects().create({{"name", "inner"}});
                            run_sql("ROLLBACK");  // the transaction ends behind dorm's back
                            try {
                                run_sql("SELECT * FROM no_such_table");  // the error that reveals it
                            } catch (const dorm::DatabaseError&) {
                            }
                            CHECK(conn.transaction_lost());
                            CHECK_THROWS_AS(Blog::objects().create({{"name", "after"}}),
                                            dorm::TransactionManagementError);
                        });
                    }),
                    dorm::TransactionManagementError);
    CHECK(conn.atomic_depth() == 0);
    CHECK(!conn.transaction_lost());
    CHECK(Blog::objects().count() == 0);
    Blog::objects().create({{"name", "works again"}});
    CHECK(Blog::objects().count() == 1);
}

TEST_CASE("a connection killed inside atomic() commits nothing and does not reconnect inside the block",
          "[hardening]") {
    test::Database db;
    if (!test::is_postgresql()) return;  // an SQLite connection cannot be lost
    dorm::databases().add("killer", test::database_url());
    auto& conn = dorm::databases()["default"].connection();
    auto pid_cursor = conn.query("SELECT pg_backend_pid()", {});
    REQUIRE(pid_cursor->next());
    const std::int64_t pid = pid_cursor->row()[0].i;
    pid_cursor.reset();
    auto kill = [&] {
        dorm::Value p(pid);
        auto c = dorm::databases()["killer"].connection().query("SELECT pg_terminate_backend($1::int)", {&p, 1});
        while (c->next()) {
        }
    };
    std::string first_error;
    CHECK_THROWS_AS(dorm::atomic([&] {
                        Blog::objects().create({{"name", "one"}});
                        dorm::atomic([&] {
                            Blog::objects().create({{"name", "two"}});
                            kill();
                            try {
                                Blog::objects().create({{"name", "three"}});
                            } catch (const dorm::OperationalError& e) {
                                first_error = e.what();
                            }
                            // Every later statement in the block raises; none reconnects and autocommits.
                            CHECK_THROWS_AS(Blog::objects().create({{"name", "four"}}),
                                            dorm::TransactionManagementError);
                            CHECK_THROWS_AS(Blog::objects().count(), dorm::TransactionManagementError);
                        });
                    }),
                    dorm::TransactionManagementError);
    CHECK(!first_error.empty());
    // A nested block that lets the error propagate: the caller sees the original OperationalError.
    pid_cursor = conn.query("SELECT pg_backend_pid()", {});  // reconnected after the outermost block
    REQUIRE(pid_cursor->next());
    const std::int64_t pid2 = pid_cursor->row()[0].i;
    pid_cursor.reset();
    CHECK(pid2 != pid);
    CHECK(Blog::objects().count() == 0);
    auto kill2 = [&] {
        dorm::Value p(pid2);
        auto c = dorm::databases()["killer"].connection().query("SELECT pg_terminate_backend($1::int)", {&p, 1});
        while (c->next()) {
        }
    };
    CHECK_THROWS_AS(dorm::atomic([&] {
                        Blog::objects().create({{"name", "one"}});
                        dorm::atomic([&] {
                            kill2();
                            Blog::objects().create({{"name", "two"}});
                        });
                    }),
                    dorm::OperationalError);
    CHECK(conn.atomic_depth() == 0);
    CHECK(Blog::objects().count() == 0);
}

namespace {
/// Client connections the server has open to the test database (PostgreSQL), waiting for closed ones to go.
std::int64_t client_connections(std::int64_t at_most) {
    std::int64_t n = 0;
    for (int i = 0; i < 100; ++i) {
        auto c = dorm::databases()["default"].connection().query(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client "
            "backend'", {});
        c->next();
        n = c->row()[0].i;
        if (n <= at_most) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return n;
}
}  // namespace

TEST_CASE("connections of exited threads and of replaced databases are closed", "[hardening][concurrency]") {
    test::Database db;
    auto& d = dorm::databases()["default"];
    (void)Blog::objects().count();
    REQUIRE(d.connection_count() == 1);
    const std::int64_t baseline = test::is_postgresql() ? client_connections(1000) : 0;
    {
        std::vector<std::thread> threads;
        for (int i = 0; i < 7; ++i) threads.emplace_back([] { (void)Blog::objects().count(); });
        for (auto& t : threads) t.join();
    }
    CHECK(d.connection_count() == 1);  // the threads' connections closed as they exited
    if (test::is_postgresql()) CHECK(client_connections(baseline) == baseline);

    // An alias re-added while 7 long-lived threads use it: each replaced database closes its connections.
    constexpr int threads_n = 7, rounds = 10;
    std::barrier sync(threads_n + 1);
    std::vector<std::thread> pool;
    for (int i = 0; i < threads_n; ++i)
        pool.emplace_back([&] {
            for (int r = 0; r < rounds; ++r) {
                sync.arrive_and_wait();  // the alias was (re-)added
                auto c = dorm::databases()["churn"].connection().query("SELECT 1", {});
                while (c->next()) {
                }
                c.reset();
                sync.arrive_and_wait();
            }
            sync.arrive_and_wait();  // hold the threads until the counts are checked
        });
    for (int r = 0; r < rounds; ++r) {
        dorm::databases().add("churn", test::database_url());
        sync.arrive_and_wait();
        sync.arrive_and_wait();
    }
    CHECK(dorm::databases().retired_count() <= 1);  // only the last replaced one, until its threads switch
    if (test::is_postgresql()) CHECK(client_connections(baseline + 2 * threads_n) <= baseline + 2 * threads_n);
    sync.arrive_and_wait();
    for (auto& t : pool) t.join();
    CHECK(dorm::databases().retired_count() == 0);
    CHECK(dorm::databases()["churn"].connection_count() <= 1);  // an in-memory database keeps its last one
    if (test::is_postgresql()) CHECK(client_connections(baseline) == baseline);
}

namespace {
/// A fresh SQLite file path under the system's temporary directory, removed with its journal when destroyed.
struct TempDatabaseFile {
    std::string path;
    TempDatabaseFile() {
        static int n = 0;
        path = (std::filesystem::temp_directory_path() /
                ("dorm_hardening_" + std::to_string(::getpid()) + "_" + std::to_string(++n) + ".db")).string();
        std::filesystem::remove(path);
    }
    ~TempDatabaseFile() {
        std::filesystem::remove(path);
        std::filesystem::remove(path + "-journal");
    }
};
}  // namespace

TEST_CASE("concurrent writers on an in-memory SQLite database wait for each other", "[hardening][concurrency]") {
    if (test::is_postgresql()) return;  // PostgreSQL's concurrency is the server's
    test::Database db;
    constexpr int threads_n = 8, each = 40;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < threads_n; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < each; ++i) {
                try {
                    dorm::atomic([&] {
                        Blog::objects().create({{"name", fmt::format("b{}_{}", t, i)}});
                        (void)Blog::objects().count();
                    });
                } catch (const dorm::Error&) {
                    ++failures;
                }
            }
        });
    for (auto& t : threads) t.join();
    CHECK(failures == 0);
    CHECK(Blog::objects().count() == threads_n * each);
}

TEST_CASE("SQLite's busy timeout is a URL option", "[hardening]") {
    if (test::is_postgresql()) return;
    TempDatabaseFile file;
    dorm::databases().add("writer", "sqlite://" + file.path);
    dorm::databases().add("waiter", "sqlite://" + file.path + "?timeout=0.2");
    dorm::databases()["writer"].connection().execute("CREATE TABLE t (x INTEGER)");
    auto start = std::chrono::steady_clock::now();
    dorm::atomic([&] {
        dorm::databases()["writer"].connection().execute("INSERT INTO t VALUES (1)");  // holds the write lock
        CHECK_THROWS_AS(dorm::databases()["waiter"].connection().execute("INSERT INTO t VALUES (2)"),
                        dorm::OperationalError);
    }, "writer");
    auto waited = std::chrono::steady_clock::now() - start;
    CHECK(waited >= std::chrono::milliseconds(150));
    CHECK(waited < std::chrono::seconds(3));  // not the default 5 s
    CHECK_THROWS_AS(dorm::databases().add("bad", "sqlite://" + file.path + "?timeuot=1").connection(),
                    dorm::InterfaceError);
    CHECK_THROWS_AS(dorm::databases().add("bad", "sqlite::memory:?timeout=soon").connection(), dorm::InterfaceError);
}

TEST_CASE("a full SQLite database reports its own error, and a read-only one refuses writes", "[hardening]") {
    if (test::is_postgresql()) return;
    TempDatabaseFile file;
    dorm::databases().add("small", "sqlite://" + file.path);
    auto& conn = dorm::databases()["small"].connection();
    conn.execute("CREATE TABLE t (x TEXT)");
    conn.execute("PRAGMA max_page_count = 8");
    const dorm::Value big(std::string(3000, 'x'));
    std::string error;
    try {
        dorm::atomic([&] {
            for (int i = 0; i < 100; ++i) conn.execute("INSERT INTO t VALUES (?)", {&big, 1});
        }, "small");
    } catch (const dorm::OperationalError& e) {
        error = e.what();
    }
    CHECK(error.find("full") != std::string::npos);  // SQLITE_FULL, not "cannot rollback"
    CHECK(conn.atomic_depth() == 0);
    CHECK(!conn.transaction_lost());
    // Caught inside the block: if SQLite rolled the transaction back, the rest of the block must not run in
    // autocommit mode (SQLite may instead undo only the failed statement; then the block goes on and commits).
    bool lost = false;
    try {
        dorm::atomic([&] {
            try {
                for (int i = 0; i < 100; ++i) conn.execute("INSERT INTO t VALUES (?)", {&big, 1});
            } catch (const dorm::OperationalError&) {
            }
            lost = !conn.transaction_open();
            conn.execute("DELETE FROM t");
            conn.execute("INSERT INTO t VALUES ('after')");
        }, "small");
    } catch (const dorm::TransactionManagementError&) {
        CHECK(lost);
    }
    auto c = conn.query("SELECT count(*) FROM t WHERE x = 'after'", {});
    REQUIRE(c->next());
    CHECK(c->row()[0].i == (lost ? 0 : 1));
    c.reset();

    dorm::databases().add("read_only", "sqlite://file:" + file.path + "?mode=ro");
    auto& ro = dorm::databases()["read_only"].connection();
    CHECK_THROWS_AS(ro.execute("INSERT INTO t VALUES ('x')"), dorm::OperationalError);
    CHECK_THROWS_AS(dorm::atomic([&] { ro.execute("INSERT INTO t VALUES ('x')"); }, "read_only"),
                    dorm::OperationalError);
    CHECK(ro.atomic_depth() == 0);
}

TEST_CASE("bulk_update() writes every type, a column of NULLs included, and the first of duplicates", "[hardening]") {
    test::Database db;
    std::vector<Sample> samples;
    for (int i = 0; i < 3; ++i) {
        Sample s = sample("s" + std::to_string(i));
        s.maybe_int = i;
        s.maybe_text = "t";
        s.maybe_moment = dorm::DateTime(2000, 1, 1);
        s.save();
        samples.push_back(s);
    }
    for (auto& s : samples) {
        s.flag = true;
        s.small = -7;
        s.medium = 1 << 20;
        s.big = std::numeric_limits<std::int64_t>::max();
        s.real = 0.25;
        s.text = "it's";
        s.data = {std::byte{0}, std::byte{0xff}};
        s.day = dorm::Date(9999, 12, 31);
        s.moment = dorm::DateTime(2024, 2, 29, 12, 0, 0, 1);
        s.clock = dorm::Time(23, 59, 59, 999999);
        s.maybe_int.reset();  // every row NULL: PostgreSQL must still know the column's type
        s.maybe_text.reset();
        s.maybe_moment.reset();
    }
    Sample duplicate = samples[0];
    duplicate.text = "second";
    samples.push_back(duplicate);
    const std::vector<std::string> fields{"flag", "small", "medium", "big", "real", "text", "data", "day", "moment",
                                          "clock", "maybe_int", "maybe_text", "maybe_moment"};
    // Batches of two, as Django makes them: [0, 1] and [2, the duplicate of 0]; each is written (4 rows matched).
    CHECK(Sample::objects().bulk_update(samples, fields, 2) == 4);
    for (const auto& back : Sample::objects().order_by("id")) {
        CHECK(back.flag);
        CHECK(back.small == -7);
        CHECK(back.medium == 1 << 20);
        CHECK(back.big == std::numeric_limits<std::int64_t>::max());
        CHECK(back.real == 0.25);
        CHECK(back.text == (back.id == samples[0].id ? "second" : "it's"));  // the later batch wrote the duplicate
        CHECK(back.data == dorm::Bytes{std::byte{0}, std::byte{0xff}});
        CHECK(back.day == dorm::Date(9999, 12, 31));
        CHECK(back.moment == dorm::DateTime(2024, 2, 29, 12, 0, 0, 1));
        CHECK(back.clock == dorm::Time(23, 59, 59, 999999));
        CHECK(!back.maybe_int);
        CHECK(!back.maybe_text);
        CHECK(!back.maybe_moment);
    }
    // One batch: of the two objects with the same primary key, the first is written (Django's first WHEN).
    samples[0].text = "first";
    CHECK(Sample::objects().bulk_update(samples, {"text"}, 4) == 3);
    CHECK(Sample::objects().get("pk", samples[0].id).text == "first");
}

TEST_CASE("a server restart: outside atomic() the next statement reconnects; inside, the block is lost",
          "[hardening]") {
    test::Database db;
    if (!test::is_postgresql()) return;
    const char* restart = test::required_setting("DORM_TEST_PG_RESTART", "the server restart test");
    if (!restart) return;
    Blog::objects().create({{"name", "before"}});
    REQUIRE(std::system(restart) == 0);
    // The connection the server dropped fails once; the next statement opens a new one.
    CHECK_THROWS_AS(Blog::objects().count(), dorm::OperationalError);
    CHECK(Blog::objects().count() == 1);
    CHECK_THROWS_AS(dorm::atomic([&] {
                        Blog::objects().create({{"name", "inside"}});
                        REQUIRE(std::system(restart) == 0);
                        Blog::objects().create({{"name", "after restart"}});
                    }),
                    dorm::OperationalError);
    CHECK(dorm::databases()["default"].connection().atomic_depth() == 0);
    CHECK(Blog::objects().count() == 1);  // nothing of the block, and the connection is back
}

TEST_CASE("annotation names are SQL aliases: quotes, whitespace, semicolons, comments and NUL are refused",
          "[hardening]") {
    test::BlogData data;
    const std::vector<std::string> refused{"a b", "a\"b", "a'b", "a;b", "a--b", "a/*b", "a*/b", "a`b", "a[b",
                                           std::string("a\0b", 3)};
    for (const auto& bad : refused)
        CHECK_THROWS_AS(Entry::objects().annotate(bad, dorm::Count("id")).count(), dorm::ValueError);
    CHECK_THROWS_AS(Entry::objects().aggregate("x y", dorm::Count("id")), dorm::ValueError);
    CHECK_THROWS_AS(Entry::objects().alias("x;y", dorm::F("rating")).count(), dorm::ValueError);
    CHECK(Entry::objects().annotate("n_1", dorm::Count("id")).count() == 5);
}

TEST_CASE("update() and delete_() of rows picked by an aggregate's condition touch those rows only", "[hardening]") {
    test::BlogData data;
    using dorm::Count;
    // Entries: Beatles Blog 2, Cooking 2, News 1. Blog has dependents (Entry), so delete_() collects first.
    auto busy = Blog::objects().annotate("n", Count("entry")).filter("n__gt", 1);
    CHECK(busy.update({{"tagline", "busy"}}) == 2);
    CHECK(test::sorted_names(Blog::objects().filter("tagline", "busy")) == std::vector<std::string>{"Beatles Blog", "Cooking"});
    auto deleted = busy.delete_();
    CHECK(deleted.total == 6);
    CHECK(deleted.per_model["Blog"] == 2);
    CHECK(test::sorted_names(Blog::objects()) == std::vector<std::string>{"News"});
    CHECK(Entry::objects().count() == 1);

    // No join and no dependents: the statement itself must not drop the HAVING (it would match every row).
    for (int i = 0; i < 3; ++i) Sample::objects().create({{"text", "s" + std::to_string(i)}, {"medium", i % 2}});
    auto grouped = Sample::objects().annotate("n", Count("id")).filter("n__gt", 1);  // one row per group: none
    CHECK(grouped.update({{"text", "changed"}}) == 0);
    CHECK(Sample::objects().filter("text", "changed").count() == 0);
    CHECK(grouped.delete_().total == 0);
    CHECK(Sample::objects().count() == 3);
    auto twice = Sample::objects().values("medium").annotate("n", Count("id")).filter("n__gt", 1);
    CHECK(twice.count() == 1);
    // Its rows are groups: no key names them (SQLite would update one arbitrary row of each group).
    CHECK_THROWS_AS(twice.update({{"big", 7}}), dorm::NotSupportedError);
    CHECK(Sample::objects().filter("big", 7).count() == 0);
    CHECK(Sample::objects().filter("medium__in", twice.values_list<int>("medium", dorm::flat)).update({{"big", 7}}) == 2);
    CHECK(Sample::objects().annotate("n", Count("id")).filter("n", 1).update({{"real", 1.5}}) == 3);
}
