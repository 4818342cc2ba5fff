// SPDX-License-Identifier: MIT
// PostgreSQL connection on libpq: prepared statements, typed parameters, binary results decoded into Cells,
// server-side cursors for streaming, SQLSTATE -> PEP 249 errors, reconnection after a lost connection.
#pragma once

#include <dorm/backends/postgresql/connection.hpp>
#include <dorm/backends/base/recycled.hpp>
#include <dorm/async/fiber.hpp>
#include <dorm/backends/postgresql/impl/dialect.ipp>

#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <poll.h>

namespace dorm::backends::postgresql {

namespace oid {
// Type OIDs from pg_type.h (stable across PostgreSQL versions).
inline constexpr Oid boolean = 16, bytea = 17, name = 19, int8 = 20, int2 = 21, int4 = 23, text = 25, oid = 26,
                     json = 114, xml = 142,
                     float4 = 700, float8 = 701, unknown = 705, bpchar = 1042, varchar = 1043, date = 1082,
                     time = 1083, timestamp = 1114, timestamptz = 1184, interval = 1186, numeric = 1700,
                     jsonb = 3802;
}  // namespace oid

// PostgreSQL's epoch is 2000-01-01; dorm's is 1970-01-01.
inline constexpr std::int64_t epoch_days = 10957;
inline constexpr std::int64_t epoch_us = epoch_days * 86400LL * 1000000LL;

struct ResultDeleter {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

/// Throws the PEP 249 exception for a failed result, chosen by SQLSTATE class (as psycopg does).
[[noreturn]] inline void raise(PGconn* conn, const PGresult* res, const std::string& sql) {
    const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
    std::string code = state ? state : "";
    std::string msg = res ? PQresultErrorMessage(res) : "";
    if (msg.empty() && conn) msg = PQerrorMessage(conn);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    std::string what = sql.empty() ? msg : fmt::format("{}\nSQL: {}", msg, sql);
    if (conn && PQstatus(conn) == CONNECTION_BAD) throw OperationalError(what, sql, code.empty() ? "08006" : code);
    std::string_view cls = std::string_view(code).substr(0, 2);
    if (cls == "23") throw IntegrityError(what, sql, code);
    if (cls == "22" || cls == "21" || cls == "02") throw DataError(what, sql, code);
    if (cls == "08" || cls == "40" || cls == "53" || cls == "54" || cls == "55" || cls == "57" || cls == "58")
        throw OperationalError(what, sql, code);
    if (cls == "0A") throw NotSupportedError(what, sql, code);
    if (cls == "XX" || cls == "25" || cls == "26" || cls == "2D") throw InternalError(what, sql, code);
    if (cls == "42" || cls == "24" || cls == "34" || cls == "3D" || cls == "3F" || cls == "44")
        throw ProgrammingError(what, sql, code);
    throw DatabaseError(what, sql, code);
}

namespace detail {
/// Returns once libpq holds a whole result to give (or the connection failed: PQgetResult() reports it). On a
/// fiber, the fiber waits for the socket through its executor: no thread is blocked.
inline void await_result(PGconn* c) {
    while (PQisBusy(c)) {
        dorm::detail::wait_readable(PQsocket(c));
        if (!PQconsumeInput(c)) return;
    }
}

/// What PQexec() and its kin return for the statement just sent with PQsend*() (`sent`: whether it was): the last
/// result, or the first error; at a COPY, its start.
inline PGresult* take_result(PGconn* c, bool sent) {
    if (!sent) return nullptr;  // raise() reports the connection's error
    PGresult* kept = nullptr;
    for (;;) {
        await_result(c);
        PGresult* r = PQgetResult(c);
        if (!r) break;
        const auto status = PQresultStatus(r);
        if (kept && PQresultStatus(kept) == PGRES_FATAL_ERROR) {
            PQclear(r);
        } else {
            PQclear(kept);
            kept = r;
        }
        if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH) break;
    }
    return kept;
}

// PQexec(), PQexecParams(), PQprepare() and PQexecPrepared(), but that on a fiber they wait for the server
// through the fiber's executor (the blocking calls otherwise: nothing changes for blocking code).
inline Result exec(PGconn* c, const char* sql) {
    if (!dorm::detail::on_fiber()) [[likely]]
        return Result(PQexec(c, sql));
    return Result(take_result(c, PQsendQuery(c, sql) == 1));
}
inline Result exec_params(PGconn* c, const char* sql, int n, const Oid* types, const char* const* values,
                          const int* lengths, const int* formats, int result_format) {
    if (!dorm::detail::on_fiber()) [[likely]]
        return Result(PQexecParams(c, sql, n, types, values, lengths, formats, result_format));
    return Result(take_result(c, PQsendQueryParams(c, sql, n, types, values, lengths, formats, result_format) == 1));
}
inline Result prepare(PGconn* c, const char* name, const char* sql, int n, const Oid* types) {
    if (!dorm::detail::on_fiber()) [[likely]]
        return Result(PQprepare(c, name, sql, n, types));
    return Result(take_result(c, PQsendPrepare(c, name, sql, n, types) == 1));
}
inline Result exec_prepared(PGconn* c, const char* name, int n, const char* const* values, const int* lengths,
                            const int* formats, int result_format) {
    if (!dorm::detail::on_fiber()) [[likely]]
        return Result(PQexecPrepared(c, name, n, values, lengths, formats, result_format));
    return Result(take_result(c, PQsendQueryPrepared(c, name, n, values, lengths, formats, result_format) == 1));
}
/// PQgetResult() after await_result().
inline Result next_result(PGconn* c) {
    if (dorm::detail::on_fiber()) await_result(c);
    return Result(PQgetResult(c));
}

/// The seconds libpq's blocking connection would wait (connect_timeout, from the URL or PGCONNECT_TIMEOUT): at
/// least 2, as libpq counts it; 0 when there is no limit.
inline int connect_timeout(PGconn* c) {
    int seconds = 0;
    if (PQconninfoOption* options = PQconninfo(c)) {
        for (const PQconninfoOption* o = options; o->keyword; ++o)
            if (std::string_view(o->keyword) == "connect_timeout" && o->val) seconds = std::atoi(o->val);
        PQconninfoFree(options);
    }
    return seconds <= 0 ? 0 : std::max(seconds, 2);
}

/// PQconnectdb(), but that on a fiber it connects with libpq's non-blocking calls (PQconnectStart(),
/// PQconnectPoll()), waiting for the socket through the fiber's executor. PQconnectPoll() ignores connect_timeout:
/// it is applied here, to the whole connection (libpq's blocking connection applies it to each host it tries).
/// Resolving a host name still blocks (hostaddr= avoids it).
inline PGconn* connect(const char* conninfo) {
    if (!dorm::detail::on_fiber()) [[likely]]
        return PQconnectdb(conninfo);
    PGconn* c = PQconnectStart(conninfo);
    if (!c) throw std::bad_alloc();
    if (PQstatus(c) == CONNECTION_BAD) return c;
    auto deadline = std::chrono::steady_clock::time_point::max();
    const int timeout = connect_timeout(c);
    if (timeout > 0) deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
    // Before the first PQconnectPoll(), as if it had asked to write (libpq's documentation).
    PostgresPollingStatusType status = PGRES_POLLING_WRITING;
    while (status != PGRES_POLLING_OK && status != PGRES_POLLING_FAILED) {
        bool ready;
        try {
            ready = dorm::detail::wait_socket(PQsocket(c), status == PGRES_POLLING_WRITING, deadline);
        } catch (...) {
            PQfinish(c);
            throw;
        }
        if (!ready) {
            PQfinish(c);
            throw OperationalError(
                fmt::format("dorm: cannot connect to PostgreSQL: timeout expired (connect_timeout={} s)", timeout), {},
                "08001");
        }
        status = PQconnectPoll(c);
    }
    return c;
}

inline std::uint16_t be16(const char* p) {
    return static_cast<std::uint16_t>((static_cast<unsigned char>(p[0]) << 8) | static_cast<unsigned char>(p[1]));
}
inline std::uint32_t be32(const char* p) {
    return (std::uint32_t(be16(p)) << 16) | be16(p + 2);
}
inline std::uint64_t be64(const char* p) { return (std::uint64_t(be32(p)) << 32) | be32(p + 4); }

/// numeric (SUM of bigint, AVG of integers): an integer when it has no fractional digits and fits int64 (exactly,
/// as Django's int() of the Decimal is), else a double. Binary layout: ndigits, weight, sign, dscale (16 bits each),
/// then ndigits base-10000 digits, the first worth 10000^weight.
inline void decode_numeric(Cell& c, const char* p) {
    auto ndigits = static_cast<std::int16_t>(be16(p));
    auto weight = static_cast<std::int16_t>(be16(p + 2));
    auto sign = be16(p + 4);
    auto dscale = static_cast<std::int16_t>(be16(p + 6));
    auto digit = [p](int i) { return static_cast<std::int16_t>(be16(p + 8 + 2 * i)); };
    if (sign == 0xC000 || sign == 0xD000 || sign == 0xF000) {  // NaN, Infinity, -Infinity (PostgreSQL 14+)
        c.kind = Cell::Kind::real;
        c.d = sign == 0xC000 ? std::numeric_limits<double>::quiet_NaN()
                             : (sign == 0xD000 ? 1 : -1) * std::numeric_limits<double>::infinity();
        return;
    }
    bool negative = sign == 0x4000;
    if (dscale == 0 && weight < 5) {  // at most 20 decimal digits: an int64 when it is in range
        std::uint64_t v = 0;
        bool fits = true;
        for (int i = 0; i <= weight && fits; ++i)
            fits = !__builtin_mul_overflow(v, 10000u, &v) &&
                   !__builtin_add_overflow(v, static_cast<std::uint64_t>(i < ndigits ? digit(i) : 0), &v);
        const std::uint64_t limit = negative ? std::uint64_t{1} << 63 : (std::uint64_t{1} << 63) - 1;
        if (fits && v <= limit) {
            c.kind = Cell::Kind::integer;
            c.i = negative ? static_cast<std::int64_t>(0 - v) : static_cast<std::int64_t>(v);
            return;
        }
    }
    // Written out in decimal and read back, so that the double is the nearest to the exact value; digits past the
    // 120th group cannot change a double, and the exponent counts only the groups written.
    char text[512];
    int n = 0, written = 0;
    for (; written < ndigits && n < 480; ++written)
        n += std::snprintf(text + n, sizeof text - static_cast<std::size_t>(n), "%04d", digit(written));
    n += std::snprintf(text + n, sizeof text - static_cast<std::size_t>(n), "e%d", 4 * (weight - written + 1));
    c.kind = Cell::Kind::real;
    c.d = std::strtod(text, nullptr);
    if (negative) c.d = -c.d;
}

/// PostgreSQL's infinite dates and timestamps, as the text the server would print.
inline void infinity(Cell& c, bool positive) {
    static constexpr std::string_view plus = "infinity", minus = "-infinity";
    c.kind = Cell::Kind::text;
    c.p = positive ? plus.data() : minus.data();
    c.n = positive ? plus.size() : minus.size();
}

/// An interval's microseconds, days and months (its binary form) as one count of microseconds, a day being 24 hours,
/// a month 30 days and a year (12 months) 365 days, as psycopg reads an interval into a timedelta. False when the
/// total does not fit 64 bits (an interval of more than about 292,000 years).
inline bool interval_microseconds(const char* p, std::int64_t& out) {
    auto us = static_cast<std::int64_t>(be64(p));
    std::int64_t days = static_cast<std::int32_t>(be32(p + 8));
    std::int64_t months = static_cast<std::int32_t>(be32(p + 12));
    days += months / 12 * 365 + months % 12 * 30;  // |months| < 2^31: no overflow
    std::int64_t day_us = 0;
    return !__builtin_mul_overflow(days, 86400000000LL, &day_us) && !__builtin_add_overflow(us, day_us, &out);
}

[[noreturn]] inline void interval_out_of_range() {
    throw DataError("dorm: the database returned an interval too long for a Duration (int64 microseconds)");
}

/// Decodes one binary-format column value into a Cell without building strings.
inline void decode(Cell& c, Oid type, const char* p, int len) {
    switch (type) {
        case oid::boolean: c.kind = Cell::Kind::integer; c.i = *p != 0; c.boolean = true; return;
        case oid::int2: c.kind = Cell::Kind::integer; c.i = static_cast<std::int16_t>(be16(p)); return;
        case oid::int4: c.kind = Cell::Kind::integer; c.i = static_cast<std::int32_t>(be32(p)); return;
        case oid::oid: c.kind = Cell::Kind::integer; c.i = be32(p); return;  // unsigned: up to 2^32 - 1
        case oid::int8: c.kind = Cell::Kind::integer; c.i = static_cast<std::int64_t>(be64(p)); return;
        case oid::float4: {
            std::uint32_t bits = be32(p);
            float f;
            std::memcpy(&f, &bits, 4);
            c.kind = Cell::Kind::real;
            c.d = f;
            return;
        }
        case oid::float8: {
            std::uint64_t bits = be64(p);
            std::memcpy(&c.d, &bits, 8);
            c.kind = Cell::Kind::real;
            return;
        }
        case oid::date: {
            auto days = static_cast<std::int32_t>(be32(p));
            // 'infinity' and '-infinity' have no C++ value: they decode as text, which no Date accepts.
            if (days == INT32_MAX || days == INT32_MIN) return infinity(c, days > 0);
            c.kind = Cell::Kind::integer;
            c.i = days + epoch_days;
            return;
        }
        case oid::timestamp:
        case oid::timestamptz: {
            auto us = static_cast<std::int64_t>(be64(p));
            if (us == INT64_MAX || us == INT64_MIN) return infinity(c, us > 0);
            if (us > INT64_MAX - epoch_us) return infinity(c, true);  // past any year a DateTime holds
            c.kind = Cell::Kind::integer;
            c.i = us + epoch_us;
            return;
        }
        case oid::time: c.kind = Cell::Kind::integer; c.i = static_cast<std::int64_t>(be64(p)); return;
        case oid::interval:
            if (!interval_microseconds(p, c.i)) [[unlikely]]
                interval_out_of_range();
            c.kind = Cell::Kind::integer;
            c.duration = true;
            return;
        case oid::numeric: decode_numeric(c, p); return;
        case oid::bytea: c.kind = Cell::Kind::blob; c.p = p; c.n = static_cast<std::size_t>(len); return;
        case oid::text:
        case oid::varchar:
        case oid::bpchar:
        case oid::name:
        case oid::json:  // json and xml travel as text in binary format too
        case oid::xml:
        case oid::unknown: c.kind = Cell::Kind::text; c.p = p; c.n = static_cast<std::size_t>(len); return;
        case oid::jsonb:  // a version byte (1), then the JSON text (JSONBAgg)
            if (len < 1 || *p != 1) throw NotSupportedError("dorm: the postgresql backend cannot decode this jsonb format");
            c.kind = Cell::Kind::text; c.p = p + 1; c.n = static_cast<std::size_t>(len - 1); return;
        default:
            throw NotSupportedError(fmt::format("dorm: the postgresql backend cannot decode values of type oid {}", type));
    }
}

/// Whether `type` is the array type of one of the types decode() reads (ARRAY_AGG's results).
inline bool is_array_type(Oid type) {
    switch (type) {
        case 1000:  // boolean[]
        case 1001:  // bytea[]
        case 1003:  // name[]
        case 1005:  // int2[]
        case 1007:  // int4[]
        case 1009:  // text[]
        case 1014:  // bpchar[]
        case 1015:  // varchar[]
        case 1016:  // int8[]
        case 1021:  // float4[]
        case 1022:  // float8[]
        case 1028:  // oid[]
        case 1115:  // timestamp[]
        case 1182:  // date[]
        case 1183:  // time[]
        case 1185:  // timestamptz[]
        case 1187:  // interval[]
        case 1231:  // numeric[]
        case 143:   // xml[]
        case 199:   // json[]
        case 3807:  // jsonb[]
            return true;
        default: return false;
    }
}

/// The FieldKind an array's elements are read as (what a column of that type gives), none for numeric (an integer or
/// a double, whichever holds it).
inline std::optional<FieldKind> element_kind(Oid type) {
    switch (type) {
        case oid::boolean: return FieldKind::boolean;
        case oid::int2: return FieldKind::small_integer;
        case oid::int4:
        case oid::oid: return FieldKind::integer;
        case oid::int8: return FieldKind::big_integer;
        case oid::float4:
        case oid::float8: return FieldKind::real;
        case oid::bytea: return FieldKind::bytes;
        case oid::date: return FieldKind::date;
        case oid::timestamp:
        case oid::timestamptz: return FieldKind::datetime;
        case oid::time: return FieldKind::time;
        case oid::interval: return FieldKind::duration;
        case oid::numeric: return std::nullopt;
        default: return FieldKind::text;
    }
}

[[noreturn]] inline void malformed_array() { throw DataError("dorm: the database returned a malformed array"); }

/// An array in binary format (array_send): the number of dimensions, a has-NULLs flag, the element type, then per
/// dimension its length and lower bound, then per element a 32-bit length (-1: NULL) and the element in its type's
/// binary form. One dimension (ArrayAgg's) or none (an empty array); each element read as a column of its type is.
inline Value decode_array(const char* p, int len) {
    if (len < 12) malformed_array();
    auto dimensions = static_cast<std::int32_t>(be32(p));
    Oid element = be32(p + 8);
    if (dimensions == 0) return Value(Array{});
    if (dimensions != 1)
        throw NotSupportedError(fmt::format("dorm: the postgresql backend reads one-dimensional arrays (ArrayAgg's "
                                            "results) only; this one has {} dimensions", dimensions));
    if (len < 20) malformed_array();
    auto count = static_cast<std::int32_t>(be32(p + 12));
    const char* at = p + 20;
    const char* end = p + len;
    // Each element takes at least its 4-byte length: a count beyond that is no array (and no huge reservation).
    if (count < 0 || count > (end - at) / 4) malformed_array();
    std::optional<FieldKind> kind = element_kind(element);
    std::vector<Value> elements;
    elements.reserve(static_cast<std::size_t>(count));
    for (std::int32_t i = 0; i < count; ++i) {
        if (end - at < 4) malformed_array();
        auto n = static_cast<std::int32_t>(be32(at));
        at += 4;
        if (n < 0) {
            elements.emplace_back();
            continue;
        }
        if (end - at < n) malformed_array();
        Cell c;
        decode(c, element, at, n);
        elements.push_back(dorm::detail::cell_value(c, kind));
        at += n;
    }
    return Value(Array(std::move(elements)));
}

// Big-endian integers, as the binary formats of parameters and of COPY write them.
inline void put16(std::string& out, std::uint16_t v) {
    char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
    out.append(b, 2);
}
inline void put32(std::string& out, std::uint32_t v) {
    char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
    out.append(b, 4);
}
inline void put64(std::string& out, std::uint64_t v) {
    put32(out, static_cast<std::uint32_t>(v >> 32));
    put32(out, static_cast<std::uint32_t>(v));
}

/// An interval's binary form: microseconds, then days and months (zero). The days are split off as psycopg writes a
/// timedelta (Python's days, floored, and what remains of a day), so that the interval's own fields are Django's:
/// EXTRACT(DAY FROM ...) of 26 hours is 1, its HOUR 2. Exact for any value (|days| < 2^31).
inline void put_interval(std::string& out, Duration d) {
    constexpr std::int64_t day = 86400000000LL;
    std::int64_t days = d.count() / day, us = d.count() % day;
    if (us < 0) {
        us += day;
        --days;
    }
    put64(out, static_cast<std::uint64_t>(us));
    put32(out, static_cast<std::uint32_t>(static_cast<std::int32_t>(days)));
    put32(out, 0);
}

/// Parameters in libpq's form, with explicit types: integers, dates, timestamps, bytea and intervals in binary, the
/// rest as text.
struct Params {
    std::vector<Oid> types;
    std::vector<std::string> text;
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;

    Params() = default;
    explicit Params(std::span<const Value> params) { assign(params); }

    /// Encodes `params`, reusing the memory of the previous ones (a connection keeps one Params for all its
    /// statements, so that a statement allocates nothing here once warm).
    void assign(std::span<const Value> params) {
        auto n = params.size();
        types.resize(n);
        if (text.size() < n) text.resize(n);
        values.resize(n);
        lengths.resize(n);
        formats.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            lengths[i] = 0;
            formats[i] = 0;
            // Keys, the most common values, in binary (eight bytes, most significant first): no text to write or
            // for the server to parse, and no visit's dispatch.
            if (const auto* key = std::get_if<std::int64_t>(&params[i].variant())) {
                text[i].clear();
                put64(text[i], static_cast<std::uint64_t>(*key));
                types[i] = oid::int8;
                values[i] = text[i].data();
                lengths[i] = 8;
                formats[i] = 1;
                continue;
            }
            std::visit(
                [&](const auto& x) {
                    using X = std::decay_t<decltype(x)>;
                    if constexpr (std::is_same_v<X, std::monostate>) {
                        types[i] = 0;
                        values[i] = nullptr;
                        return;
                    } else if constexpr (std::is_same_v<X, bool>) {
                        types[i] = oid::boolean;
                        text[i] = x ? "t" : "f";
                    } else if constexpr (std::is_same_v<X, std::int64_t>) {
                        types[i] = oid::int8;  // sent above, never reached
                        text[i].clear();
                    } else if constexpr (std::is_same_v<X, double>) {
                        types[i] = oid::float8;
                        text[i] = fmt::format("{}", x);  // shortest text that reads back as the same double
                    } else if constexpr (std::is_same_v<X, std::string>) {
                        // libpq sends text parameters as C strings: a NUL would silently end the value there.
                        if (x.find('\0') != std::string::npos) [[unlikely]]
                            throw ValueError(fmt::format(
                                "dorm: A string literal cannot contain NUL (0x00) characters (parameter {}: {}).",
                                i + 1, dorm::detail::value_repr(Value(x.substr(0, 40)))));
                        if (x.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) [[unlikely]]
                            throw DataError(fmt::format("dorm: a string of {} bytes is too large for PostgreSQL",
                                                        x.size()));
                        types[i] = oid::text;
                        values[i] = x.c_str();
                        lengths[i] = static_cast<int>(x.size());
                        return;
                    } else if constexpr (std::is_same_v<X, Bytes>) {
                        types[i] = oid::bytea;
                        // libpq takes an int length: a larger value would be sent cut (the server's own limit,
                        // 1 GB, refuses it anyway).
                        if (x.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) [[unlikely]]
                            throw DataError(fmt::format("dorm: a bytes value of {} bytes is too large for PostgreSQL",
                                                        x.size()));
                        // An empty vector's data() may be null, which libpq would send as NULL.
                        values[i] = x.empty() ? "" : reinterpret_cast<const char*>(x.data());
                        lengths[i] = static_cast<int>(x.size());
                        formats[i] = 1;
                        return;
                    } else if constexpr (std::is_same_v<X, Date> || std::is_same_v<X, DateTime>) {
                        // Binary, as COPY sends them: days (or microseconds, UTC) since PostgreSQL's epoch. No
                        // text to write or for the server to parse, and the same value the text would give.
                        dorm::detail::check_writable(x);
                        text[i].clear();
                        if constexpr (std::is_same_v<X, Date>) {
                            types[i] = oid::date;
                            put32(text[i], static_cast<std::uint32_t>(static_cast<std::int32_t>(x.days_since_epoch() - epoch_days)));
                        } else {
                            types[i] = oid::timestamptz;
                            put64(text[i], static_cast<std::uint64_t>(x.microseconds_since_epoch() - epoch_us));
                        }
                        values[i] = text[i].data();
                        lengths[i] = static_cast<int>(text[i].size());
                        formats[i] = 1;
                        return;
                    } else if constexpr (std::is_same_v<X, Duration>) {
                        // Binary, in days and microseconds (no months): exact for any value, where the text
                        // form's units would need a conversion.
                        types[i] = oid::interval;
                        text[i].clear();
                        put_interval(text[i], x);
                        values[i] = text[i].data();
                        lengths[i] = 16;
                        formats[i] = 1;
                        return;
                    } else if constexpr (std::is_same_v<X, Array>) {
                        // Of no type: an empty array says nothing of its element type, so the SQL casts it
                        // (ArrayAgg's default is `($1)::integer[]`, as Django's ArrayField placeholder).
                        types[i] = 0;
                        text[i] = array_text(x);
                    } else {
                        types[i] = oid::time;
                        text[i] = dorm::detail::to_iso(x);
                    }
                    values[i] = text[i].c_str();
                    lengths[i] = static_cast<int>(text[i].size());
                },
                params[i].variant());
        }
    }
    int size() const noexcept { return static_cast<int>(types.size()); }
};

// COPY's binary format: a signature, flags and a header extension length; then per row a 16-bit column count
// and per column a 32-bit length (-1: NULL) and the value in its type's binary form; -1 as the count ends it.
inline constexpr char copy_header[19] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n', '\0',
                                         0, 0, 0, 0, 0, 0, 0, 0};


/// Whether a column of server type `type` takes values of a field of `kind` in COPY's binary format: the types
/// dorm creates for the kind, and those an INSERT of the same values would also accept without a conversion
/// that could change them (timestamp for a DateTime: the session's time zone is UTC).
inline bool copy_encodes(FieldKind kind, Oid type) {
    switch (kind) {
        case FieldKind::boolean: return type == oid::boolean;
        case FieldKind::small_integer:
        case FieldKind::integer:
        case FieldKind::big_integer: return type == oid::int2 || type == oid::int4 || type == oid::int8;
        case FieldKind::real: return type == oid::float8;
        case FieldKind::text: return type == oid::text || type == oid::varchar || type == oid::bpchar;
        case FieldKind::bytes: return type == oid::bytea;
        case FieldKind::date: return type == oid::date;
        case FieldKind::datetime: return type == oid::timestamptz || type == oid::timestamp;
        case FieldKind::time: return type == oid::time;
        case FieldKind::duration: return type == oid::interval;
    }
    return false;
}

/// The error the server gives an INSERT of the same value, with the same SQLSTATE.
[[noreturn]] inline void copy_value_error(const std::string& sql, std::string_view message, const char* code) {
    std::string what = fmt::format("ERROR:  {}\nSQL: {}", message, sql);
    if (std::string_view(code).starts_with("22")) throw DataError(what, sql, code);
    throw ProgrammingError(what, sql, code);
}

/// A COPY field's length: an int32 (-1 is NULL), so a longer value is refused, never sent as NULL or cut.
inline void copy_length(std::string& out, std::size_t size, const std::string& sql) {
    if (size > static_cast<std::size_t>(INT32_MAX)) [[unlikely]]
        copy_value_error(sql, fmt::format("a value of {} bytes is too large for a field", size), "22001");
    put32(out, static_cast<std::uint32_t>(size));
}

/// Appends field `f`'s value `v` for a column of type `type` (copy_encodes() accepted the pair).
inline void put_copy_value(std::string& out, const FieldMeta& f, Oid type, const Value& v, const std::string& sql) {
    std::visit(
        [&](const auto& x) {
            using X = std::decay_t<decltype(x)>;
            auto mismatch = [&] {
                copy_value_error(sql, fmt::format("column \"{}\" cannot take a value of this type", f.column), "42804");
            };
            if constexpr (std::is_same_v<X, std::monostate>) {
                put32(out, 0xFFFFFFFFu);
            } else if constexpr (std::is_same_v<X, bool>) {
                if (type != oid::boolean) mismatch();
                put32(out, 1);
                out += x ? '\1' : '\0';
            } else if constexpr (std::is_same_v<X, std::int64_t>) {
                if (type == oid::int8) {
                    put32(out, 8);
                    put64(out, static_cast<std::uint64_t>(x));
                } else if (type == oid::int4) {
                    if (x < INT32_MIN || x > INT32_MAX) copy_value_error(sql, "integer out of range", "22003");
                    put32(out, 4);
                    put32(out, static_cast<std::uint32_t>(static_cast<std::int32_t>(x)));
                } else if (type == oid::int2) {
                    if (x < INT16_MIN || x > INT16_MAX) copy_value_error(sql, "smallint out of range", "22003");
                    put32(out, 2);
                    put16(out, static_cast<std::uint16_t>(static_cast<std::int16_t>(x)));
                } else {
                    mismatch();
                }
            } else if constexpr (std::is_same_v<X, double>) {
                if (type != oid::float8) mismatch();
                std::uint64_t bits;
                std::memcpy(&bits, &x, 8);
                put32(out, 8);
                put64(out, bits);
            } else if constexpr (std::is_same_v<X, std::string>) {
                if (type != oid::text && type != oid::varchar && type != oid::bpchar) mismatch();
                // What check_storable() refuses before an INSERT: PostgreSQL's text cannot hold NUL.
                if (x.find('\0') != std::string::npos) [[unlikely]]
                    throw ValueError(fmt::format("dorm: A string literal cannot contain NUL (0x00) characters: field "
                                                 "'{}' (postgresql text cannot hold them).", f.name));
                copy_length(out, x.size(), sql);
                out += x;
            } else if constexpr (std::is_same_v<X, Bytes>) {
                if (type != oid::bytea) mismatch();
                copy_length(out, x.size(), sql);
                out.append(reinterpret_cast<const char*>(x.data()), x.size());
            } else if constexpr (std::is_same_v<X, Date>) {
                if (type != oid::date) mismatch();
                dorm::detail::check_writable(x);
                put32(out, 4);
                put32(out, static_cast<std::uint32_t>(static_cast<std::int32_t>(x.days_since_epoch() - epoch_days)));
            } else if constexpr (std::is_same_v<X, DateTime>) {
                if (type != oid::timestamptz && type != oid::timestamp) mismatch();
                dorm::detail::check_writable(x);
                put32(out, 8);
                put64(out, static_cast<std::uint64_t>(x.microseconds_since_epoch() - epoch_us));
            } else if constexpr (std::is_same_v<X, Duration>) {
                if (type != oid::interval) mismatch();
                put32(out, 16);
                put_interval(out, x);
            } else if constexpr (std::is_same_v<X, Array>) {
                mismatch();  // no field holds an array
            } else {
                if (type != oid::time) mismatch();
                put32(out, 8);
                put64(out, static_cast<std::uint64_t>(x.since_midnight().count()));
            }
        },
        v.variant());
}

/// The values of a one-dimensional bigint[] without NULLs in binary format (a result's only cell): dimensions,
/// NULL flag, element type, then per dimension its length and lower bound, then per element length and value.
/// Empty for anything else.
inline std::vector<std::int64_t> int8_array(const PGresult* r) {
    std::vector<std::int64_t> out;
    if (PQntuples(r) != 1 || PQnfields(r) != 1 || PQgetisnull(r, 0, 0) || PQgetlength(r, 0, 0) < 20) return out;
    const char* p = PQgetvalue(r, 0, 0);
    const char* end = p + PQgetlength(r, 0, 0);
    if (be32(p) != 1 || be32(p + 4) != 0 || be32(p + 8) != oid::int8) return out;
    std::size_t count = be32(p + 12);
    out.reserve(count);
    for (p += 20; p + 12 <= end && out.size() < count; p += 12) {
        if (be32(p) != 8) return {};
        out.push_back(static_cast<std::int64_t>(be64(p + 4)));
    }
    return out.size() == count ? out : std::vector<std::int64_t>{};
}
}  // namespace detail

/// Pipeline mode (libpq 14) on a connection that the fibers of one transaction share: a task sends its statement
/// and, while it waits for the result, the other tasks of the transaction send theirs, so that independent
/// statements issued together share round trips. Results come back in the order the statements went out: each
/// statement takes a ticket, and a task reads its results when every earlier ticket has been read (the task
/// reading waits on the socket; those behind it wait for their turn). Work that is not one statement leaves
/// pipeline mode first (leave()): it waits for every result in flight, then a sync point ends the pipeline.
class Pipeline {
public:
    /// Over libpq's use of the connection while tasks pipeline: they may run on several threads of an executor.
    /// Whoever holds the transaction's lock meanwhile reads libpq's state under it too (see guard()).
    mutable std::mutex io;
    /// `io`, while tasks pipeline: others may be reading results, which changes what libpq reports. `on` itself
    /// changes only with the transaction's lock, which the caller holds.
    std::unique_lock<std::mutex> guard() const {
        return on ? std::unique_lock<std::mutex>(io) : std::unique_lock<std::mutex>();
    }
    bool on = false;
    std::uint64_t sent = 0;  // tickets taken since pipeline mode began (one per statement or Prepare)
    std::uint64_t done = 0;  // tickets whose results were read

    /// Returns once every ticket before `ticket` has been read (`io` not held).
    void wait_turn(std::uint64_t ticket) {
        std::unique_lock lock(io);
        if (done == ticket) return;
        dorm::detail::Waiter w;
        waiting_.push_back({ticket, &w});
        lock.unlock();
        w.wait();
    }
    /// After the results of the ticket `done` were read (`io` held): the next ticket's turn.
    void advance() noexcept {
        ++done;
        for (std::size_t i = 0; i < waiting_.size(); ++i)
            if (waiting_[i].first == done) {
                dorm::detail::Waiter* w = waiting_[i].second;
                waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(i));
                w->wake();
                return;
            }
    }
    /// The results of the ticket whose turn it is (`lock` holds `io`, released while waiting for the server): the
    /// first error, else the last result; null when the connection failed.
    PGresult* read(PGconn* c, std::unique_lock<std::mutex>& lock) {
        PGresult* kept = nullptr;
        for (;;) {
            while (PQisBusy(c)) {
                lock.unlock();
                dorm::detail::wait_readable(PQsocket(c));
                lock.lock();
                if (!PQconsumeInput(c)) break;
            }
            PGresult* r = PQgetResult(c);
            if (!r) break;
            if (kept && PQresultStatus(kept) == PGRES_FATAL_ERROR) {
                PQclear(r);
            } else {
                PQclear(kept);
                kept = r;
            }
        }
        return kept;
    }
    /// Leaves pipeline mode, on the job that holds the transaction's lock (no ticket is taken meanwhile): waits
    /// for the results in flight to be read by their tasks, then ends the pipeline with a sync point (which also
    /// ends the server's refusal of what followed a failed statement: the transaction itself stays failed).
    void leave(PGconn* c) {
        if (!on) return;
        std::uint64_t tail;
        {
            std::lock_guard lock(io);
            tail = sent;
        }
        wait_turn(tail);
        std::unique_lock lock(io);
        if (PQstatus(c) == CONNECTION_OK && PQpipelineSync(c) == 1) {
            for (int nulls = 0; nulls < 2;) {
                while (PQisBusy(c)) {
                    lock.unlock();
                    dorm::detail::wait_readable(PQsocket(c));
                    lock.lock();
                    if (!PQconsumeInput(c)) break;
                }
                PGresult* r = PQgetResult(c);
                if (!r) {
                    if (PQstatus(c) != CONNECTION_OK) break;
                    ++nulls;
                    continue;
                }
                const auto status = PQresultStatus(r);
                PQclear(r);
                if (status == PGRES_PIPELINE_SYNC) break;
            }
        }
        (void)PQexitPipelineMode(c);  // fails only on a connection lost meanwhile, which is not used again
        reset();
    }
    void reset() noexcept {
        on = false;
        sent = done = 0;
    }

private:
    std::vector<std::pair<std::uint64_t, dorm::detail::Waiter*>> waiting_;
};

/// Rows of a complete result (PQexecPrepared), or of a server-side cursor fetched `chunk` rows at a time.
class Cursor final : public backends::Cursor, public backends::Recycled<Cursor> {
public:
    Cursor(Result result, PGconn* conn = nullptr, std::string cursor_name = {}, std::size_t chunk = 0,
           Pipeline* pipeline = nullptr)
        : result_(std::move(result)), conn_(conn), name_(std::move(cursor_name)), chunk_(chunk), pipeline_(pipeline) {
        start();
    }
    Cursor(const Cursor&) = delete;  // its cells may be its own members
    Cursor& operator=(const Cursor&) = delete;
    ~Cursor() override {
        if (!conn_) return;
        // The pipeline first: until it is left, other tasks may be reading results, and libpq's state with them.
        try {
            pipeline_->leave(conn_);
        } catch (...) {  // out of memory or descriptors: the CLOSE below fails as it may
        }
        if (PQstatus(conn_) == CONNECTION_OK) detail::exec(conn_, ("CLOSE " + name_).c_str());
    }

    bool do_next() override {
        if (row_ + 1 >= rows_) {
            if (!conn_ || exhausted_) return false;
            fetch();
            if (rows_ == 0) return false;
        } else {
            ++row_;
        }
        const PGresult* r = result_.get();
        for (std::size_t i = 0; i < columns_; ++i) {
            Cell& c = cells_mut_[i];
            int col = static_cast<int>(i);
            // A NULL's length is 0, so only an empty value asks whether it is NULL: one call less per value that is
            // neither NULL nor empty, one more per NULL.
            const int len = PQgetlength(r, row_, col);
            if (len == 0 && PQgetisnull(r, row_, col)) {
                c.kind = Cell::Kind::null;
                continue;
            }
            const char* p = PQgetvalue(r, row_, col);
            if (!arrays_.empty() && detail::is_array_type(types_[i])) [[unlikely]] {
                arrays_[i] = detail::decode_array(p, len);
                c.kind = Cell::Kind::value;
                c.value = &arrays_[i];
                continue;
            }
            detail::decode(c, types_[i], p, len);
        }
        return true;
    }
    std::string column_name(std::size_t i) const override { return PQfname(result_.get(), static_cast<int>(i)); }
    std::size_t rows_hint() const noexcept override { return rows_ > row_ + 1 ? static_cast<std::size_t>(rows_ - row_ - 1) : 0; }

private:
    void start() {
        rows_ = result_ ? PQntuples(result_.get()) : 0;
        row_ = -1;
        columns_ = result_ ? static_cast<std::size_t>(PQnfields(result_.get())) : 0;
        // Up to inline_columns columns need no allocation.
        if (columns_ > inline_columns) {
            types_heap_.resize(columns_);
            cells_heap_.resize(columns_);
        }
        types_ = columns_ > inline_columns ? types_heap_.data() : types_inline_;
        cells_mut_ = columns_ > inline_columns ? cells_heap_.data() : cells_inline_.init(columns_);
        bool arrays = false;
        for (std::size_t i = 0; i < columns_; ++i) {
            types_[i] = PQftype(result_.get(), static_cast<int>(i));
            arrays = arrays || detail::is_array_type(types_[i]);
        }
        // Only a result with array columns keeps decoded values (the cells point to them until the next row).
        if (arrays || !arrays_.empty()) arrays_.assign(arrays ? columns_ : 0, Value());
        cells_ = cells_mut_;
        if (conn_ && chunk_ && static_cast<std::size_t>(rows_) < chunk_) exhausted_ = true;
    }
    void fetch() {
        pipeline_->leave(conn_);
        std::string sql = fmt::format("FETCH {} FROM {}", chunk_, name_);
        result_ = detail::exec_params(conn_, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 1);
        if (PQresultStatus(result_.get()) != PGRES_TUPLES_OK) raise(conn_, result_.get(), sql);
        start();
        row_ = rows_ > 0 ? 0 : -1;
    }

    Result result_;
    PGconn* conn_;
    std::string name_;
    std::size_t chunk_;
    Pipeline* pipeline_;  // the connection's, for a server-side cursor
    bool exhausted_ = false;
    int rows_ = 0;
    int row_ = -1;
    static constexpr std::size_t inline_columns = 16;
    Oid types_inline_[inline_columns];
    InlineCells<inline_columns> cells_inline_;
    std::vector<Oid> types_heap_;
    std::vector<Cell> cells_heap_;
    Oid* types_ = nullptr;
    Cell* cells_mut_ = nullptr;
    std::vector<Value> arrays_;  // per column when any is an array: the current row's decoded arrays
};

/// One libpq connection with its prepared statements. Used by one thread.
class Connection final : public backends::Connection {
public:
    /// `transaction_pooling`: keep no server-side state across transactions (a pooler such as pgbouncer may hand
    /// each transaction to another server connection): unnamed statements, cursors only inside a transaction.
    Connection(std::string conninfo, bool transaction_pooling)
        : conninfo_(std::move(conninfo)), transaction_pooling_(transaction_pooling) {
        open();
    }
    ~Connection() override {
        forget_cancel();
        PQfinish(conn_);
    }

    const backends::Dialect& dialect() const noexcept override { return postgresql::dialect(any_value_); }
    PGconn* handle() const noexcept { return conn_; }
    bool transaction_open() const noexcept override {
        const auto lock = pipeline_.guard();  // a mutex that fails to lock would end the program here, as anywhere
        if (!conn_ || PQstatus(conn_) != CONNECTION_OK) return false;
        auto status = PQtransactionStatus(conn_);
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE;
    }
    bool usable() noexcept override {
        // libpq's socket never blocks: this reads what the server sent while the connection sat unused. A backend
        // the server ends says FATAL, then closes its socket a little later: PQisBusy() parses the message (the
        // notice receiver sets doomed_), and a read after it finds the end of the stream if it has come
        // (CONNECTION_BAD). Most often nothing came: one poll() says so, where the reads would take two calls.
        if (!conn_) return false;
        if (pollfd p{PQsocket(conn_), POLLIN, 0}; p.fd >= 0 && ::poll(&p, 1, 0) == 0)
            return !doomed_ && PQstatus(conn_) == CONNECTION_OK;
        if (PQconsumeInput(conn_) != 1) return false;
        (void)PQisBusy(conn_);
        return !doomed_ && PQconsumeInput(conn_) == 1 && PQstatus(conn_) == CONNECTION_OK;
    }

    void cancel() noexcept override {
        std::lock_guard lock(cancel_mutex_);
        char error[256];
        if (cancel_) (void)PQcancel(cancel_, error, sizeof error);
    }

protected:
    std::unique_ptr<backends::Cursor> do_stream(const std::string& sql, std::span<const Value> params,
                                                std::size_t chunk_size) override {
        ensure_open();
        pipeline_.leave(conn_);
        // A server-side cursor keeps client memory flat; WITH HOLD lets it outlive autocommit's transaction. Behind
        // a transaction pooler a cursor cannot outlive its transaction: outside one, the rows arrive at once (as
        // Django's DISABLE_SERVER_SIDE_CURSORS).
        const bool hold = !transaction_pooling_;
        if (!hold && !transaction_open()) return do_query(sql, params, nullptr);
        std::string name = fmt::format("dorm_cursor_{}", ++cursor_counter_);
        std::string declare =
            fmt::format("DECLARE {} NO SCROLL CURSOR {}FOR {}", name, hold ? "WITH HOLD " : "", sql);
        detail::Params p(params);
        Result r = detail::exec_params(conn_, declare.c_str(), p.size(), p.types.data(), p.values.data(),
                                       p.lengths.data(), p.formats.data(), 1);
        if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) raise(conn_, r.get(), sql);
        std::string fetch = fmt::format("FETCH {} FROM {}", chunk_size, name);
        Result first = detail::exec_params(conn_, fetch.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 1);
        if (PQresultStatus(first.get()) != PGRES_TUPLES_OK) raise(conn_, first.get(), fetch);
        return std::make_unique<Cursor>(std::move(first), conn_, name, chunk_size, &pipeline_);
    }

    std::unique_ptr<backends::Cursor> do_query(const std::string& sql, std::span<const Value> params,
                                               StatementHint*) override {  // a round trip outweighs the lookup
        Result r = run(sql, params);
        if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) raise(conn_, r.get(), sql);
        return std::make_unique<Cursor>(std::move(r));
    }

    std::int64_t do_execute(const std::string& sql, std::span<const Value> params, StatementHint*) override {
        // A table this connection creates, drops or alters may come back with other columns.
        if (sql.starts_with("CREATE") || sql.starts_with("DROP") || sql.starts_with("ALTER")) [[unlikely]]
            tables_.clear();
        Result r = run(sql, params);
        auto status = PQresultStatus(r.get());
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) raise(conn_, r.get(), sql);
        const char* n = PQcmdTuples(r.get());
        return n && *n ? std::stoll(n) : 0;
    }

public:
    std::optional<CopyTarget> copy_target(std::string_view table, std::span<const FieldMeta* const> fields,
                                          const FieldMeta* auto_key) override {
        // A lost connection or a failed transaction: the INSERT reports it (or is refused) as any statement.
        if (!conn_) return std::nullopt;
        pipeline_.leave(conn_);  // first: until then other tasks may be reading results (see Pipeline::guard())
        if (PQstatus(conn_) != CONNECTION_OK || PQtransactionStatus(conn_) == PQTRANS_INERROR) return std::nullopt;
        const Table& columns = table_columns(table);
        if (columns.empty()) return std::nullopt;  // no such table: the INSERT reports it
        CopyTarget t;
        t.sql = "COPY ";
        dialect().quote_name(t.sql, table);
        t.sql += " (";
        for (std::size_t i = 0; i < fields.size(); ++i) {
            auto it = columns.find(fields[i]->column);
            if (it == columns.end() || !detail::copy_encodes(fields[i]->kind, it->second.type)) return std::nullopt;
            if (i) t.sql += ", ";
            dialect().quote_name(t.sql, fields[i]->column);
            t.types.push_back(it->second.type);
        }
        t.sql += ") FROM STDIN (FORMAT binary)";
        if (auto_key) {
            auto it = columns.find(auto_key->column);
            if (it == columns.end() || it->second.sequence.empty()) return std::nullopt;
            // One array rather than a row per key: a tenth of the bytes, and no per-row work on either side.
            t.reserve_sql = "SELECT array_agg(nextval($1::regclass)) FROM generate_series(1, $2)";
            t.sequence = Value(it->second.sequence);
        }
        return t;
    }

protected:
    std::int64_t do_copy_rows(const CopyTarget& t, std::span<const FieldMeta* const> fields,
                              std::span<void* const> objs, const FieldMeta* auto_key) override {
        ensure_open();
        pipeline_.leave(conn_);
        // Rows go out in pieces of about this size: memory stays flat, and the server works while dorm encodes.
        constexpr std::size_t piece = 256 * 1024;
        // While the keys are being reserved, rows are encoded ahead into memory, up to this much, with room
        // left for their keys: the server draws the keys while dorm encodes, instead of one after the other.
        constexpr std::size_t ahead = 32 * 1024 * 1024;
        enum class State { reserving, encoded, copying } state = auto_key ? State::reserving : State::encoded;
        const std::size_t key = auto_key ? std::size_t(std::find(fields.begin(), fields.end(), auto_key) - fields.begin())
                                         : fields.size();
        std::vector<std::int64_t> keys;
        std::vector<std::size_t> key_at;  // where the rows encoded ahead have their key's bytes
        std::string buf;
        buf.reserve(piece + 4096);
        std::size_t next = piece;  // the size at which the rows in `buf` are sent, or the keys looked for

        auto send = [&] {
            if (PQputCopyData(conn_, buf.data(), static_cast<int>(buf.size())) != 1) raise(conn_, nullptr, t.sql);
            buf.clear();
            next = piece;
        };
        auto start_copy = [&] {
            Result r = detail::exec(conn_, t.sql.c_str());
            if (PQresultStatus(r.get()) != PGRES_COPY_IN) raise(conn_, r.get(), t.sql);
            state = State::copying;
        };
        // Reads the reserved keys, sets them on the objects and writes them into the rows encoded ahead.
        auto take_keys = [&] {
            Result r = detail::next_result(conn_);
            while (Result more = detail::next_result(conn_)) {
            }
            state = State::encoded;
            if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) raise(conn_, r.get(), t.reserve_sql);
            keys = detail::int8_array(r.get());
            if (keys.size() != objs.size())
                throw DatabaseError(fmt::format("dorm: {} keys asked of the sequence, {} given", objs.size(),
                                                keys.size()), t.reserve_sql);
            for (std::size_t i = 0; i < objs.size(); ++i) auto_key->set(objs[i], Value(keys[i]));
            std::string bytes;
            for (std::size_t i = 0; i < key_at.size(); ++i) {
                bytes.clear();
                detail::put_copy_value(bytes, *auto_key, t.types[key], Value(keys[i]), t.sql);
                buf.replace(key_at[i], bytes.size(), bytes);
            }
        };

        try {
            if (auto_key) {
                const Value params[2] = {t.sequence, Value(static_cast<std::int64_t>(objs.size()))};
                detail::Params p(params);
                if (!PQsendQueryParams(conn_, t.reserve_sql.c_str(), p.size(), p.types.data(), p.values.data(),
                                       p.lengths.data(), p.formats.data(), 1))
                    raise(conn_, nullptr, t.reserve_sql);
            } else {
                start_copy();
            }
            buf.append(detail::copy_header, sizeof detail::copy_header);
            const auto columns = static_cast<std::uint16_t>(fields.size());
            for (std::size_t row = 0; row < objs.size(); ++row) {
                detail::put16(buf, columns);
                for (std::size_t i = 0; i < fields.size(); ++i) {
                    if (i != key) {
                        detail::put_copy_value(buf, *fields[i], t.types[i], fields[i]->get(objs[row]), t.sql);
                    } else if (state == State::reserving) {
                        key_at.push_back(buf.size());
                        detail::put_copy_value(buf, *fields[i], t.types[i], Value(std::int64_t{0}), t.sql);
                    } else {
                        detail::put_copy_value(buf, *fields[i], t.types[i], Value(keys[row]), t.sql);
                    }
                }
                if (buf.size() < next) continue;
                if (state == State::reserving) {
                    if (next == piece)  // the first piece: room for the rows still to encode ahead, grown once
                        buf.reserve(std::min(ahead, buf.size() / (row + 1) * objs.size() / 8 * 9) + piece);
                    next = buf.size() + piece;  // the keys are looked for once per piece
                    if (buf.size() < ahead && PQconsumeInput(conn_) && PQisBusy(conn_)) continue;
                    take_keys();
                }
                if (state == State::encoded) start_copy();
                send();
            }
            if (state == State::reserving) take_keys();
            if (state == State::encoded) start_copy();
            detail::put16(buf, 0xFFFF);
            send();
        } catch (...) {
            // A value dorm refused, a failed send or reservation: the connection is made ready for the next
            // statement. Ending the COPY with an error makes the server discard its rows (and the transaction
            // then rolls back).
            if (state == State::reserving) {
                while (Result r = detail::next_result(conn_)) {
                }
            } else if (state == State::copying && PQstatus(conn_) == CONNECTION_OK &&
                       PQputCopyEnd(conn_, "dorm: bulk load abandoned") == 1) {
                while (Result r = detail::next_result(conn_)) {
                }
            }
            throw;
        }
        if (PQputCopyEnd(conn_, nullptr) != 1) raise(conn_, nullptr, t.sql);
        // The COPY's own result, then libpq's end of results: both read, so the connection is ready after an error.
        Result end = detail::next_result(conn_);
        while (Result r = detail::next_result(conn_)) {
        }
        if (PQresultStatus(end.get()) != PGRES_COMMAND_OK) raise(conn_, end.get(), t.sql);
        const char* n = PQcmdTuples(end.get());
        return n && *n ? std::stoll(n) : 0;
    }

private:
    /// A table's columns as COPY needs them: the type of each, and the sequence an automatic key draws from.
    struct Column {
        Oid type = 0;
        std::string sequence;
    };
    using Table = std::unordered_map<std::string, Column>;

    /// The columns of `table` (empty: no such table), asked once per connection and table: to_regclass() finds
    /// the table as a statement naming it would, without failing the transaction when there is none.
    const Table& table_columns(std::string_view table) {
        std::string name(table);
        if (auto it = tables_.find(name); it != tables_.end()) return it->second;
        std::string quoted;
        dialect().quote_name(quoted, table);
        static const char* sql =
            "SELECT a.attname, a.atttypid, pg_get_serial_sequence($1, a.attname::text) FROM pg_attribute a "
            "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped";
        const char* values[1] = {quoted.c_str()};
        Oid types[1] = {oid::text};
        Result r = detail::exec_params(conn_, sql, 1, types, values, nullptr, nullptr, 0);
        if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) raise(conn_, r.get(), sql);
        Table columns;
        for (int row = 0; row < PQntuples(r.get()); ++row) {
            Column c;
            c.type = static_cast<Oid>(std::strtoul(PQgetvalue(r.get(), row, 1), nullptr, 10));
            if (!PQgetisnull(r.get(), row, 2)) c.sequence = PQgetvalue(r.get(), row, 2);
            columns.emplace(PQgetvalue(r.get(), row, 0), std::move(c));
        }
        return tables_.emplace(std::move(name), std::move(columns)).first->second;
    }

    void open() {
        conn_ = detail::connect(conninfo_.c_str());
        if (PQstatus(conn_) != CONNECTION_OK) {
            std::string msg = PQerrorMessage(conn_);
            PQfinish(conn_);
            conn_ = nullptr;
            throw OperationalError(fmt::format("dorm: cannot connect to PostgreSQL: {}", msg), {}, "08001");
        }
        doomed_ = false;
        pipeline_.reset();
        remember_cancel();
        // Notices are not printed to stderr. A FATAL one arrives while the connection is unused when the server
        // ends it (pg_terminate_backend, shutdown): usable() then knows before the end of the stream arrives.
        PQsetNoticeReceiver(
            conn_,
            [](void* self, const PGresult* r) {
                const char* severity = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
                if (severity && (std::string_view(severity) == "FATAL" || std::string_view(severity) == "PANIC"))
                    static_cast<Connection*>(self)->doomed_ = true;
            },
            this);
        Result r = detail::exec(conn_, "SET TIME ZONE 'UTC'");
        any_value_ = PQserverVersion(conn_) >= 160000;
    }

    /// A connection the server dropped is reopened before the next statement (its prepared statements are gone
    /// with it), except inside atomic(): the transaction is lost, and nothing reconnects before the outermost
    /// block has ended.
    void ensure_open() {
        if (alive()) [[likely]]
            return;
        if (atomic_depth() > 0) {
            lose_transaction();
            throw OperationalError("dorm: the connection to PostgreSQL was lost inside a transaction", {}, "08006");
        }
        forget_prepared();
        tables_.clear();
        if (conn_) {
            if (!dorm::detail::on_fiber()) {  // PQreset() blocks: a fiber connects anew below
                PQreset(conn_);
                pipeline_.reset();
                if (PQstatus(conn_) == CONNECTION_OK) {
                    doomed_ = false;
                    remember_cancel();
                    Result r = detail::exec(conn_, "SET TIME ZONE 'UTC'");
                    return;
                }
            }
            forget_cancel();
            PQfinish(conn_);
            conn_ = nullptr;
        }
        open();
    }

    bool alive() const noexcept {
        const auto lock = pipeline_.guard();  // the notice receiver sets doomed_ while results are read
        return conn_ && PQstatus(conn_) == CONNECTION_OK && !doomed_;
    }

    /// The key another thread cancels this connection's statement with (a new one after each (re)connection).
    void remember_cancel() {
        std::lock_guard lock(cancel_mutex_);
        if (cancel_) PQfreeCancel(cancel_);
        cancel_ = PQgetCancel(conn_);
    }
    void forget_cancel() noexcept {
        std::lock_guard lock(cancel_mutex_);
        if (cancel_) PQfreeCancel(cancel_);
        cancel_ = nullptr;
    }

    Result run(const std::string& sql, std::span<const Value> params) {
        ensure_open();
        if (pipeline_.on || dorm::detail::on_fiber()) [[unlikely]] {
            if (!transaction_pooling_ && dorm::detail::may_pipeline(*this)) return run_piped(sql, params);
            pipeline_.leave(conn_);
        }
        detail::Params& p = params_;
        p.assign(params);
        if (transaction_pooling_)  // the unnamed statement: parsed again each time, known to no other transaction
            return detail::exec_params(conn_, sql.c_str(), p.size(), p.types.data(), p.values.data(), p.lengths.data(),
                                       p.formats.data(), 1);
        const std::string* name = find_prepared(sql, p);
        if (!name) {
            if (prepared_count_ >= max_prepared) deallocate_all();
            std::string fresh = fmt::format("dorm_{}", ++statement_counter_);
            Result prep = detail::prepare(conn_, fresh.c_str(), sql.c_str(), p.size(), p.types.data());
            if (PQresultStatus(prep.get()) != PGRES_COMMAND_OK) raise(conn_, prep.get(), sql);
            note_prepared();
            name = &add_prepared(sql, std::move(fresh), p);
        }
        return detail::exec_prepared(conn_, name->c_str(), p.size(), p.values.data(), p.lengths.data(),
                                     p.formats.data(), 1);
    }

    /// run() in pipeline mode, for a job of a transaction that may pipeline (see may_pipeline()): the statement
    /// (and its Prepare, the first time) goes out, then the job hands the transaction's lock on while it waits for
    /// its turn and its result, and takes the lock back before it goes on. A statement refused because an earlier
    /// one of the pipeline failed raises what it would have raised after that failure without a pipeline.
    Result run_piped(const std::string& sql, std::span<const Value> params) {
        std::unique_lock lock(pipeline_.io);
        if (!pipeline_.on) {
            if (PQenterPipelineMode(conn_) != 1) raise(conn_, nullptr, sql);
            pipeline_.on = true;
        }
        detail::Params& p = params_;
        p.assign(params);
        const std::uint64_t first = pipeline_.sent;
        const std::string* name = nullptr;
        bool preparing = false;
        std::string fresh;  // the name of the statement prepared here, if any
        if (const std::string* kept = find_prepared(sql, p)) {
            name = kept;
        } else if (prepared_count_ < max_prepared) {  // else the unnamed statement: no DEALLOCATE in a pipeline
            fresh = fmt::format("dorm_{}", ++statement_counter_);
            if (PQsendPrepare(conn_, fresh.c_str(), sql.c_str(), p.size(), p.types.data()) == 1) {
                ++pipeline_.sent;
                preparing = true;
                note_prepared();
                name = &add_prepared(sql, fresh, p);
            }
        }
        bool sent = false;
        if (name || !preparing) {
            sent = name ? PQsendQueryPrepared(conn_, name->c_str(), p.size(), p.values.data(), p.lengths.data(),
                                              p.formats.data(), 1) == 1
                        : PQsendQueryParams(conn_, sql.c_str(), p.size(), p.types.data(), p.values.data(),
                                            p.lengths.data(), p.formats.data(), 1) == 1;
            if (sent) ++pipeline_.sent;
        }
        const std::uint64_t tickets = pipeline_.sent - first;
        if (tickets > 0) (void)(PQsendFlushRequest(conn_) == 1 && PQflush(conn_) == 0);  // a failure: reads fail
        lock.unlock();
        dorm::detail::hand_on_pin();
        Result prepared, result;
        if (tickets > 0) {
            pipeline_.wait_turn(first);
            lock.lock();
            if (preparing) {
                prepared.reset(pipeline_.read(conn_, lock));
                pipeline_.advance();
            }
            if (sent) {
                result.reset(pipeline_.read(conn_, lock));
                pipeline_.advance();
            }
            lock.unlock();
        }
        dorm::detail::take_back_pin();
        if (preparing && PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
            drop_prepared(sql, fresh);
            // Skipped after an earlier statement's failure: the statement was skipped too, and is refused below.
            if (PQresultStatus(prepared.get()) != PGRES_PIPELINE_ABORTED) raise(conn_, prepared.get(), sql);
        }
        if (!sent) raise(conn_, nullptr, sql);
        if (PQresultStatus(result.get()) == PGRES_PIPELINE_ABORTED) {
            if (transaction_lost() || (atomic_depth() > 0 && get_rollback())) refuse_in_broken_transaction();
            throw InternalError(fmt::format("current transaction is aborted, commands ignored until end of "
                                            "transaction block\nSQL: {}", sql),
                                sql, "25P02");
        }
        return result;
    }

    void deallocate_all() {
        Result r = detail::exec(conn_, "DEALLOCATE ALL");
        forget_prepared();
    }

    /// The name of the statement prepared for `sql` with the parameter types of `p` (a NULL fits any; an Array, of
    /// no type too, only a place the server typed), or nullptr. The server decodes each value by the type its
    /// statement was prepared with, not by the type sent with it: a binary integer must meet an int8 parameter, not
    /// one the server typed from a first run's NULL or double. So each set of types a text runs with gets its
    /// statement, and every run means what it would mean unprepared (as it is under transaction pooling).
    const std::string* find_prepared(const std::string& sql, const detail::Params& p) const {
        auto it = prepared_.find(sql);
        if (it == prepared_.end()) return nullptr;
        for (const Prepared& s : it->second) {
            bool fits = s.types.size() == p.types.size();
            for (std::size_t i = 0; fits && i < s.types.size(); ++i)
                fits = p.values[i] == nullptr || p.types[i] == s.types[i];  // a NULL by its value, not its type
            if (fits) return &s.name;
        }
        return nullptr;
    }
    /// Notes the statement `name`, just prepared for `sql` with the types of `p`. The name returned is valid until
    /// the next statement is prepared for the same text or one is dropped or forgotten (callers use it at once).
    const std::string& add_prepared(const std::string& sql, std::string name, const detail::Params& p) {
        auto& kept = prepared_[sql];
        kept.push_back({std::move(name), p.types});
        ++prepared_count_;
        return kept.back().name;
    }
    void drop_prepared(const std::string& sql, const std::string& name) {
        auto it = prepared_.find(sql);
        if (it == prepared_.end()) return;
        auto& kept = it->second;
        auto gone = std::remove_if(kept.begin(), kept.end(), [&](const Prepared& s) { return s.name == name; });
        prepared_count_ -= static_cast<std::size_t>(kept.end() - gone);
        kept.erase(gone, kept.end());
        if (kept.empty()) prepared_.erase(it);
    }
    void forget_prepared() noexcept {
        prepared_.clear();
        prepared_count_ = 0;
    }

    static constexpr std::size_t max_prepared = 512;
    detail::Params params_;  // run()'s, kept for their memory
    Pipeline pipeline_;
    std::string conninfo_;
    PGconn* conn_ = nullptr;
    struct Prepared {
        std::string name;
        std::vector<Oid> types;  // as prepared: 0 where the server chose the type from the statement
    };
    std::unordered_map<std::string, std::vector<Prepared>> prepared_;  // SQL text -> its prepared statements
    std::size_t prepared_count_ = 0;
    std::unordered_map<std::string, Table> tables_;           // copy_target()'s columns, by table name
    std::uint64_t statement_counter_ = 0;
    std::uint64_t cursor_counter_ = 0;
    bool any_value_ = false;
    bool transaction_pooling_ = false;
    std::mutex cancel_mutex_;     // cancel() runs on another thread
    PGcancel* cancel_ = nullptr;  // for the current server connection
    bool doomed_ = false;  // the server said FATAL: the connection ends (see usable())
};

/// Opens "postgresql://user:pw@host:port/db?sslmode=..." (also "postgres://") or a libpq conninfo string
/// given as "postgresql:host=... dbname=...".
/// In the URL form, `transaction_pooling=true` (dorm's own option, not passed to libpq) is for servers behind a
/// pooler in transaction mode, such as pgbouncer's `pool_mode = transaction`.
inline std::unique_ptr<backends::Connection> connect(const Database& db) {
    std::string_view url = db.backend_url();
    std::string conninfo(url);
    if (url.starts_with("postgresql:") && !url.starts_with("postgresql://")) conninfo = url.substr(11);
    bool pooling = false;
    if (auto q = conninfo.find('?'); q != std::string::npos && conninfo.find("://") != std::string::npos) {
        std::string rest;
        for (auto [key, value, item] : dorm::detail::url_options(std::string_view(conninfo).substr(q + 1))) {
            if (key == "transaction_pooling") {
                if (value != "true" && value != "false")
                    throw InterfaceError(fmt::format("dorm: transaction_pooling={} in '{}' is not true or false",
                                                     value, db.url()));
                pooling = value == "true";
            } else {
                rest += (rest.empty() ? "?" : "&") + std::string(item);
            }
        }
        conninfo = conninfo.substr(0, q) + rest;
    }
    return std::make_unique<Connection>(conninfo, pooling);
}

inline bool accepts(std::string_view url) { return url.starts_with("postgresql:") || url.starts_with("postgres://"); }

DORM_DECL const Backend& backend() {
    static const Backend b{"postgresql", &accepts, []() -> const backends::Dialect& { return dialect(); }, &connect,
                           nullptr, true};
    return b;
}

}  // namespace dorm::backends::postgresql
