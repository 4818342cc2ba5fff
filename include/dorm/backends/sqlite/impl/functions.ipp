// SPDX-License-Identifier: MIT
// SQL functions dorm registers on every SQLite connection: date parts (dorm_extract, dorm_trunc, in UTC or in a
// named time zone), case folding (dorm_fold),
// regular expressions (REGEXP, dorm_iregexp) and duration arithmetic (dorm_format_dtdelta, dorm_timestamp_diff,
// dorm_time_diff), as Django registers its own on SQLite.
// Django's math and text functions SQLite lacks are registered as Django registers them; digests come from
// OpenSSL's libcrypto (EVP), not hand-written code.
// Regular expressions use PCRE2, whose syntax is Python's for the patterns people write (Django evaluates them with
// Python's re on SQLite); its C API also keeps std::regex's heavy templates out of every translation unit.
#pragma once

#include <dorm/backends/sqlite/impl/zones.ipp>
#include <dorm/lookups.hpp>
#include <dorm/value.hpp>

#include <sqlite3.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace dorm::backends::sqlite {

namespace detail {

inline std::string_view text_arg(sqlite3_value* v) {
    auto p = reinterpret_cast<const char*>(sqlite3_value_text(v));
    return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_value_bytes(v))) : std::string_view{};
}

/// ISO 8601 week-numbering year and week of a date.
inline std::pair<int, int> iso_year_week(std::chrono::sys_days d) {
    using namespace std::chrono;
    unsigned wd = weekday{d}.iso_encoding();  // Monday = 1
    sys_days thursday = d + days{4 - static_cast<int>(wd)};
    year_month_day t{thursday};
    sys_days jan1 = sys_days{t.year() / January / 1};
    return {int(t.year()), static_cast<int>((thursday - jan1).count() / 7 + 1)};
}

/// The zone named by argument `i` (a zone's name, constant for the statement: looked up once per statement through
/// SQLite's auxiliary data), or none with an error set as the function's result.
inline std::optional<Zone> zone_arg(sqlite3_context* ctx, sqlite3_value** argv, int i) {
    if (auto* z = static_cast<const Zone*>(sqlite3_get_auxdata(ctx, i))) return *z;
    try {
        const Zone z = find_zone(text_arg(argv[i]));
        // SQLite owns the copy from here, and frees it with the statement (or at once if it does not keep it).
        sqlite3_set_auxdata(ctx, i, new Zone(z), [](void* p) { delete static_cast<Zone*>(p); });
        return z;
    } catch (const std::exception& e) {
        sqlite3_result_error(ctx, e.what(), -1);
        return std::nullopt;
    }
}

/// dorm_extract(kind, value[, zone]): a part of an ISO date, datetime or time text (a datetime's wall time in the
/// named zone when one is given); NULL for NULL.
inline void extract(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
    if (sqlite3_value_type(argv[1]) == SQLITE_NULL) return sqlite3_result_null(ctx);
    auto kind = text_arg(argv[0]);
    auto text = text_arg(argv[1]);
    std::optional<DateTime> dt;
    std::optional<Time> t;
    if (text.size() >= 10 && text[4] == '-') dt = dorm::detail::parse_datetime(text);
    else t = dorm::detail::parse_time(text);
    if (!dt && !t) return sqlite3_result_null(ctx);
    if (dt && argc == 3 && text.size() > 10) {
        const auto zone = zone_arg(ctx, argv, 2);
        if (!zone) return;
        dt = to_local(*zone, *dt);
    }
    if (dt) t = dt->time();
    auto result_int = [&](std::int64_t v) { sqlite3_result_int64(ctx, v); };
    if (kind == "hour") return result_int(t->hour());
    if (kind == "minute") return result_int(t->minute());
    if (kind == "second") return result_int(t->second());
    if (kind == "time") {
        auto s = dorm::detail::to_iso(*t);
        return sqlite3_result_text(ctx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    }
    if (!dt) return sqlite3_result_null(ctx);
    Date d = dt->date();
    if (kind == "date") {
        auto s = dorm::detail::to_iso(d);
        return sqlite3_result_text(ctx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    }
    if (kind == "year") return result_int(d.year());
    if (kind == "month") return result_int(d.month());
    if (kind == "day") return result_int(d.day());
    if (kind == "quarter") return result_int((d.month() - 1) / 3 + 1);
    std::chrono::weekday wd{d.sys_days()};
    if (kind == "week_day") return result_int(wd.c_encoding() + 1);  // Sunday = 1 ... Saturday = 7
    if (kind == "iso_week_day") return result_int(wd.iso_encoding());  // Monday = 1 ... Sunday = 7
    auto [iso_year, week] = iso_year_week(d.sys_days());
    if (kind == "week") return result_int(week);
    if (kind == "iso_year") return result_int(iso_year);
    sqlite3_result_error(ctx, "dorm_extract: unknown part", -1);
}

inline void fold(sqlite3_context* ctx, int, sqlite3_value** argv) {
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return sqlite3_result_null(ctx);
    auto s = lookups::detail::fold(text_arg(argv[0]));
    sqlite3_result_text(ctx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
}

/// The compiled patterns of one connection's regexp() or dorm_iregexp(): a pattern is compiled once (and JIT-
/// compiled where PCRE2 can), not once per row or per statement. Bounded: cleared when it holds `capacity`.
class RegexCache {
public:
    explicit RegexCache(bool ignore_case) : ignore_case_(ignore_case) {}
    ~RegexCache() { clear(); }
    RegexCache(const RegexCache&) = delete;
    RegexCache& operator=(const RegexCache&) = delete;

    struct Entry {
        pcre2_code* code = nullptr;
        pcre2_match_data* match = nullptr;
    };
    /// The compiled `pattern`, or nullptr with `error` set.
    const Entry* get(std::string_view pattern, std::string& error) {
        if (auto it = entries_.find(pattern); it != entries_.end()) return &it->second;
        if (entries_.size() >= capacity) clear();
        // Python's re on str patterns: Unicode classes (\d, \w, \b, \s) and case folding; subjects that are not
        // valid UTF-8 simply do not match where they are invalid.
        std::uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | (ignore_case_ ? PCRE2_CASELESS : 0);
        int code = 0;
        PCRE2_SIZE offset = 0;
        Entry e;
        e.code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &code, &offset,
                               nullptr);
        if (!e.code) {
            PCRE2_UCHAR message[256];
            pcre2_get_error_message(code, message, sizeof message);
            error = fmt::format("dorm: invalid regular expression '{}': {} at offset {}", pattern,
                                reinterpret_cast<const char*>(message), offset);
            return nullptr;
        }
        pcre2_jit_compile(e.code, PCRE2_JIT_COMPLETE);  // optional: the interpreter runs where JIT cannot
        e.match = pcre2_match_data_create_from_pattern(e.code, nullptr);
        return &entries_.emplace(std::string(pattern), e).first->second;
    }

private:
    static constexpr std::size_t capacity = 256;
    void clear() {
        for (auto& [_, e] : entries_) {
            pcre2_match_data_free(e.match);
            pcre2_code_free(e.code);
        }
        entries_.clear();
    }
    bool ignore_case_;
    std::map<std::string, Entry, std::less<>> entries_;
};

/// regexp(pattern, value) (SQLite's REGEXP operator) and dorm_iregexp(pattern, value), with PCRE2: searched
/// anywhere in the value, as Python's re.search does for Django on SQLite. Lengths are explicit, so a NUL in the
/// value is a character like any other.
inline void regexp(sqlite3_context* ctx, int, sqlite3_value** argv) {
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL)
        return sqlite3_result_null(ctx);
    auto* cache = static_cast<RegexCache*>(sqlite3_user_data(ctx));
    std::string error;
    const auto* re = cache->get(text_arg(argv[0]), error);
    if (!re) return sqlite3_result_error(ctx, error.c_str(), static_cast<int>(error.size()));
    auto subject = text_arg(argv[1]);
    int rc = pcre2_match(re->code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0, 0, re->match,
                         nullptr);
    if (rc >= 0) return sqlite3_result_int(ctx, 1);
    if (rc == PCRE2_ERROR_NOMATCH) return sqlite3_result_int(ctx, 0);
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(rc, message, sizeof message);
    std::string text = fmt::format("dorm: regular expression failed: {}", reinterpret_cast<const char*>(message));
    sqlite3_result_error(ctx, text.c_str(), static_cast<int>(text.size()));
}

/// dorm_trunc(kind, value[, zone]): an ISO date or datetime text truncated to a year, quarter, month, week (its
/// Monday), day, hour, minute or second, or a time text to an hour, minute or second, in the same form (dates(),
/// datetimes(), Trunc). With a zone, a datetime is truncated in its wall time there, and the result is the UTC
/// instant of the truncated wall time (zones.ipp's from_local()).
inline void trunc(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
    if (sqlite3_value_type(argv[1]) == SQLITE_NULL) return sqlite3_result_null(ctx);
    auto kind = text_arg(argv[0]);
    auto text = text_arg(argv[1]);
    auto result_text = [&](const std::string& out) {
        sqlite3_result_text(ctx, out.data(), static_cast<int>(out.size()), SQLITE_TRANSIENT);
    };
    if (text.size() < 10 || text[4] != '-') {  // a time of day ("12:30:45.000000"), truncated to a time part
        auto t = dorm::detail::parse_time(text);
        if (!t) return sqlite3_result_null(ctx);
        if (kind == "hour") return result_text(dorm::detail::to_iso(Time(t->hour(), 0)));
        if (kind == "minute") return result_text(dorm::detail::to_iso(Time(t->hour(), t->minute())));
        return result_text(dorm::detail::to_iso(Time(t->hour(), t->minute(), t->second())));
    }
    auto dt = dorm::detail::parse_datetime(text);
    if (!dt) return sqlite3_result_null(ctx);
    std::optional<Zone> zone;
    if (argc == 3 && text.size() > 10) {
        if (!(zone = zone_arg(ctx, argv, 2))) return;
        dt = to_local(*zone, *dt);
    }
    using namespace std::chrono;
    Date d = dt->date();
    Time t = dt->time();
    Date day = d;
    if (kind == "year") day = Date(d.year(), 1, 1);
    else if (kind == "quarter") day = Date(d.year(), (d.month() - 1) / 3 * 3 + 1, 1);
    else if (kind == "month") day = Date(d.year(), d.month(), 1);
    else if (kind == "week") day = Date(d.sys_days() - days{weekday{d.sys_days()}.iso_encoding() - 1});
    Time time{};
    if (kind == "hour") time = Time(t.hour(), 0);
    else if (kind == "minute") time = Time(t.hour(), t.minute());
    else if (kind == "second") time = Time(t.hour(), t.minute(), t.second());
    if (text.size() == 10) return result_text(dorm::detail::to_iso(day));
    result_text(dorm::detail::to_iso(zone ? from_local(*zone, DateTime(day, time)) : DateTime(day, time)));
}

/// BITXOR(x, y): SQLite has no exclusive-or operator (Django registers the same function); NULL for NULL.
inline void bitxor(sqlite3_context* ctx, int, sqlite3_value** argv) {
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL)
        return sqlite3_result_null(ctx);
    sqlite3_result_int64(ctx, sqlite3_value_int64(argv[0]) ^ sqlite3_value_int64(argv[1]));
}

/// STDDEV_POP, STDDEV_SAMP, VAR_POP, VAR_SAMP (PostgreSQL's names): Welford's running mean and variance.
struct Moments {
    std::int64_t n = 0;
    double mean = 0, m2 = 0;
};
inline void moments_step(sqlite3_context* ctx, int, sqlite3_value** argv) {
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
    auto* m = static_cast<Moments*>(sqlite3_aggregate_context(ctx, sizeof(Moments)));
    if (!m) return sqlite3_result_error_nomem(ctx);
    double x = sqlite3_value_double(argv[0]);
    ++m->n;
    double delta = x - m->mean;
    m->mean += delta / static_cast<double>(m->n);
    m->m2 += delta * (x - m->mean);
}
template <bool Sample, bool Root>
void moments_final(sqlite3_context* ctx) {
    auto* m = static_cast<Moments*>(sqlite3_aggregate_context(ctx, 0));
    std::int64_t n = m ? m->n : 0;
    if (n == 0 || (Sample && n == 1)) return sqlite3_result_null(ctx);
    double v = m->m2 / static_cast<double>(Sample ? n - 1 : n);
    sqlite3_result_double(ctx, Root ? std::sqrt(v) : v);
}

inline void result_text(sqlite3_context* ctx, std::string_view s) {
    sqlite3_result_text64(ctx, s.data(), s.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}
inline bool any_null(int argc, sqlite3_value** argv) {
    for (int i = 0; i < argc; ++i)
        if (sqlite3_value_type(argv[i]) == SQLITE_NULL) return true;
    return false;
}

/// The byte offsets where the UTF-8 text's characters start (Python counts characters, not bytes), and its size.
inline std::vector<std::size_t> char_starts(std::string_view s) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < s.size(); ++i)
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) out.push_back(i);
    out.push_back(s.size());
    return out;
}
/// The first `n` characters of `s` (all of it when shorter).
inline std::string_view first_chars(std::string_view s, std::int64_t n) {
    auto starts = char_starts(s);
    auto count = static_cast<std::int64_t>(starts.size() - 1);
    return s.substr(0, starts[static_cast<std::size_t>(std::clamp<std::int64_t>(n, 0, count))]);
}
/// `fill` repeated to `n` characters (empty when `fill` is).
inline std::string fill_to(std::string_view fill, std::int64_t n) {
    std::string out;
    if (fill.empty() || n <= 0) return out;
    auto starts = char_starts(fill);
    std::size_t per = starts.size() - 1;
    for (std::int64_t left = n; left > 0; left -= static_cast<std::int64_t>(per))
        out += left >= static_cast<std::int64_t>(per) ? fill : fill.substr(0, starts[static_cast<std::size_t>(left)]);
    return out;
}

/// Django's _sqlite_lpad / _sqlite_rpad: padded with `fill` to `length` characters, or cut to them.
template <bool Left>
void pad(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
    if (any_null(argc, argv)) return sqlite3_result_null(ctx);
    auto text = text_arg(argv[0]);
    auto length = sqlite3_value_int64(argv[1]);
    auto fill = text_arg(argv[2]);
    auto have = static_cast<std::int64_t>(char_starts(text).size() - 1);
    if (have >= length) return result_text(ctx, first_chars(text, length));
    std::string padding = fill_to(fill, length - have);
    return result_text(ctx, Left ? padding + std::string(text) : std::string(text) + padding);
}

/// REPEAT(text, n): the text n times (empty for n <= 0, as Python's text * n).
inline void repeat(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
    if (any_null(argc, argv)) return sqlite3_result_null(ctx);
    auto text = text_arg(argv[0]);
    auto n = sqlite3_value_int64(argv[1]);
    auto limit = static_cast<std::int64_t>(sqlite3_limit(sqlite3_context_db_handle(ctx), SQLITE_LIMIT_LENGTH, -1));
    if (n > 0 && !text.empty() && n > limit / static_cast<std::int64_t>(text.size()))
        return sqlite3_result_error_toobig(ctx);
    std::string out;
    for (std::int64_t i = 0; i < n; ++i) out += text;
    result_text(ctx, out);
}

/// REVERSE(text): its characters in reverse order.
inline void reverse(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
    if (any_null(argc, argv)) return sqlite3_result_null(ctx);
    auto text = text_arg(argv[0]);
    auto starts = char_starts(text);
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = starts.size() - 1; i > 0; --i) out += text.substr(starts[i - 1], starts[i] - starts[i - 1]);
    result_text(ctx, out);
}

/// MD5(text), SHA1(text), ...: the hexadecimal digest of the text's UTF-8 bytes (user data: the EVP digest).
inline void digest(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
    if (any_null(argc, argv)) return sqlite3_result_null(ctx);
    auto text = text_arg(argv[0]);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (!EVP_Digest(text.data(), text.size(), md, &size, static_cast<const EVP_MD*>(sqlite3_user_data(ctx)), nullptr))
        return sqlite3_result_error(ctx, "dorm: digest failed", -1);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < size; ++i) {
        out += hex[md[i] >> 4];
        out += hex[md[i] & 0xF];
    }
    result_text(ctx, out);
}

/// RAND(): a float in [0, 1) from SQLite's own generator (its RANDOM() is a 64-bit integer).
inline void rand(sqlite3_context* ctx, int, sqlite3_value**) {
    std::uint64_t bits = 0;
    sqlite3_randomness(sizeof bits, &bits);
    sqlite3_result_double(ctx, static_cast<double>(bits >> 11) * 0x1.0p-53);
}

/// Whether every argument is a number or text that reads as one (which SQLite then converts in place): SQLite's own
/// math functions are NULL for anything else, NULL included.
inline bool all_numeric(int argc, sqlite3_value** argv) {
    for (int i = 0; i < argc; ++i) {
        int t = sqlite3_value_numeric_type(argv[i]);
        if (t != SQLITE_INTEGER && t != SQLITE_FLOAT) return false;
    }
    return true;
}

/// A math function of doubles; NULL for arguments that are not numbers and where it is undefined (as SQLite's own).
template <double (*Fn)(double)>
void unary_math(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
    if (!all_numeric(argc, argv)) return sqlite3_result_null(ctx);
    double r = Fn(sqlite3_value_double(argv[0]));
    if (std::isnan(r)) return sqlite3_result_null(ctx);
    sqlite3_result_double(ctx, r);
}
template <double (*Fn)(double, double)>
void binary_math(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
    if (!all_numeric(argc, argv)) return sqlite3_result_null(ctx);
    double r = Fn(sqlite3_value_double(argv[0]), sqlite3_value_double(argv[1]));
    if (std::isnan(r)) return sqlite3_result_null(ctx);
    sqlite3_result_double(ctx, r);
}
/// SIGN(x): -1, 0 or 1, an integer (Python's (x > 0) - (x < 0) in Django's, and SQLite's own from 3.35).
inline void sign(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
    if (!all_numeric(argc, argv)) return sqlite3_result_null(ctx);
    double x = sqlite3_value_double(argv[0]);
    sqlite3_result_int(ctx, (x > 0) - (x < 0));
}
inline double cot(double x) { return 1 / std::tan(x); }
inline double degrees(double x) { return x * 180 / 3.14159265358979323846; }
inline double radians(double x) { return x * 3.14159265358979323846 / 180; }
/// Undefined (Python's math.log raises) for x <= 0, base <= 0 and base 1.
inline double log_base(double base, double x) {
    return x > 0 && base > 0 && base != 1 ? std::log(x) / std::log(base) : std::nan("");
}
inline double acos(double x) { return std::acos(x); }
inline double asin(double x) { return std::asin(x); }
inline double atan(double x) { return std::atan(x); }
inline double atan2(double y, double x) { return std::atan2(y, x); }
inline double cos(double x) { return std::cos(x); }
inline double exp(double x) { return std::exp(x); }
inline double ln(double x) { return x > 0 ? std::log(x) : std::nan(""); }
inline double fmod(double x, double y) { return std::fmod(x, y); }
inline double power(double x, double y) { return std::pow(x, y); }
inline double sin(double x) { return std::sin(x); }
inline double sqrt(double x) { return std::sqrt(x); }
inline double tan(double x) { return std::tan(x); }
/// CEILING / FLOOR: integers stay integers, as SQLite's own do.
template <double (*Fn)(double)>
void rounding(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
    if (!all_numeric(argc, argv)) return sqlite3_result_null(ctx);
    if (sqlite3_value_numeric_type(argv[0]) == SQLITE_INTEGER) return sqlite3_result_int64(ctx, sqlite3_value_int64(argv[0]));
    sqlite3_result_double(ctx, Fn(sqlite3_value_double(argv[0])));
}
inline double ceil(double x) { return std::ceil(x); }
inline double floor(double x) { return std::floor(x); }
inline void pi(sqlite3_context* ctx, int, sqlite3_value**) { sqlite3_result_double(ctx, 3.14159265358979323846); }

/// An operand of dorm's duration arithmetic: a duration (an integer number of microseconds, or a real one SQLite
/// computed), a datetime (a date reads as its midnight) or a time, from the forms dorm stores them in.
struct TemporalArg {
    enum class Kind { none, duration, datetime, time } kind = Kind::none;
    std::int64_t us = 0;  // the duration; a datetime's microseconds since 1970; a time's since midnight
    bool date = false;    // a datetime given as a date's text
};
inline TemporalArg temporal_arg(sqlite3_value* v) {
    TemporalArg t;
    switch (sqlite3_value_type(v)) {
        case SQLITE_INTEGER:
            t.kind = TemporalArg::Kind::duration;
            t.us = sqlite3_value_int64(v);
            break;
        case SQLITE_FLOAT: {
            double d = std::nearbyint(sqlite3_value_double(v));
            if (d >= -9.2e18 && d <= 9.2e18) {
                t.kind = TemporalArg::Kind::duration;
                t.us = static_cast<std::int64_t>(d);
            }
            break;
        }
        case SQLITE_TEXT: {
            auto text = text_arg(v);
            if (text.size() >= 10 && text[4] == '-') {
                if (auto dt = dorm::detail::parse_datetime(text)) {
                    t.kind = TemporalArg::Kind::datetime;
                    t.us = dt->microseconds_since_epoch();
                    t.date = text.size() == 10;
                }
            } else if (auto tm = dorm::detail::parse_time(text)) {
                t.kind = TemporalArg::Kind::time;
                t.us = tm->since_midnight().count();
            }
            break;
        }
        default: break;
    }
    return t;
}

/// A datetime's text; a date moved by whole days stays a date's text, which compares with the text of Date columns
/// (Django's django_format_dtdelta gives a date there too), and reads as the same DateTime.
inline void result_datetime(sqlite3_context* ctx, std::int64_t us, bool date) {
    constexpr std::int64_t day = 86400000000LL;
    if (us < Date::min_days * day || us >= (Date::max_days + 1) * day)
        return sqlite3_result_error(ctx, "dorm: date value out of range (years 1..9999)", -1);
    DateTime dt{DateTime::time_point{std::chrono::microseconds{us}}};
    auto s = date && us % day == 0 ? dorm::detail::to_iso(dt.date()) : dorm::detail::to_iso(dt);
    sqlite3_result_text64(ctx, s.data(), s.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}
inline void result_time(sqlite3_context* ctx, std::int64_t us) {
    constexpr std::int64_t day = 86400000000LL;
    us %= day;  // a time of day wraps around midnight, as PostgreSQL's time + interval does
    if (us < 0) us += day;
    auto s = dorm::detail::to_iso(Time{std::chrono::microseconds{us}});
    sqlite3_result_text64(ctx, s.data(), s.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

/// dorm_format_dtdelta(op, lhs, rhs): Django's django_format_dtdelta, its DurationExpression on SQLite. With '+' and
/// '-', a datetime or time moved by a duration (as ISO text), or durations added; with '*' and '/', numbers
/// multiplied or divided (a duration by a number). NULL for NULL, for operands it has no meaning for, and for a
/// division by zero (SQLite's own x / 0).
inline void format_dtdelta(sqlite3_context* ctx, int, sqlite3_value** argv) {
    for (int i = 0; i < 3; ++i)
        if (sqlite3_value_type(argv[i]) == SQLITE_NULL) return sqlite3_result_null(ctx);
    auto op = text_arg(argv[0]);
    if (op == "*" || op == "/") {
        int a = sqlite3_value_numeric_type(argv[1]), b = sqlite3_value_numeric_type(argv[2]);
        bool numbers = (a == SQLITE_INTEGER || a == SQLITE_FLOAT) && (b == SQLITE_INTEGER || b == SQLITE_FLOAT);
        if (!numbers) return sqlite3_result_null(ctx);
        if (op == "*" && a == SQLITE_INTEGER && b == SQLITE_INTEGER) {
            std::int64_t out = 0;
            if (__builtin_mul_overflow(sqlite3_value_int64(argv[1]), sqlite3_value_int64(argv[2]), &out))
                return sqlite3_result_error(ctx, "dorm: duration out of range (int64 microseconds)", -1);
            return sqlite3_result_int64(ctx, out);
        }
        double x = sqlite3_value_double(argv[1]), y = sqlite3_value_double(argv[2]);
        if (op == "/" && y == 0) return sqlite3_result_null(ctx);
        return sqlite3_result_double(ctx, op == "*" ? x * y : x / y);  // Python's true division, then rounded on reading
    }
    using K = TemporalArg::Kind;
    TemporalArg l = temporal_arg(argv[1]), r = temporal_arg(argv[2]);
    bool add = op == "+";
    if (!add && op != "-") return sqlite3_result_null(ctx);
    if (add && l.kind == K::duration && r.kind != K::duration) std::swap(l, r);  // a duration plus a datetime
    if (l.kind == K::none || r.kind != K::duration) {
        // Two datetimes or two times subtracted: their difference, as Python's would be.
        if (!add && l.kind == r.kind && l.kind != K::none) return sqlite3_result_int64(ctx, l.us - r.us);
        return sqlite3_result_null(ctx);
    }
    std::int64_t out = 0;
    if (add ? __builtin_add_overflow(l.us, r.us, &out) : __builtin_sub_overflow(l.us, r.us, &out))
        return sqlite3_result_error(ctx, "dorm: duration out of range (int64 microseconds)", -1);
    if (l.kind == K::datetime) return result_datetime(ctx, out, l.date);
    if (l.kind == K::time) return result_time(ctx, out);
    sqlite3_result_int64(ctx, out);
}

/// dorm_timestamp_diff(lhs, rhs) and dorm_time_diff(lhs, rhs): Django's django_timestamp_diff and django_time_diff,
/// its TemporalSubtraction on SQLite: the microseconds between two datetimes (or dates) or two times.
template <TemporalArg::Kind Want>
void temporal_diff(sqlite3_context* ctx, int, sqlite3_value** argv) {
    TemporalArg l = temporal_arg(argv[0]), r = temporal_arg(argv[1]);
    if (l.kind != Want || r.kind != Want) return sqlite3_result_null(ctx);
    sqlite3_result_int64(ctx, l.us - r.us);
}

/// Runs a function's body so that no exception crosses SQLite's C frames: a C++ error (a date out of range, ...)
/// becomes the call's SQL error, which fails the statement (an OperationalError, as Django's Python functions'
/// exceptions surface); running out of memory is SQLite's own error.
template <void (*Fn)(sqlite3_context*, int, sqlite3_value**)>
void safe(sqlite3_context* ctx, int argc, sqlite3_value** argv) noexcept {
    try {
        Fn(ctx, argc, argv);
    } catch (const std::bad_alloc&) {
        sqlite3_result_error_nomem(ctx);
    } catch (const std::exception& e) {
        sqlite3_result_error(ctx, e.what(), -1);
    }
}

}  // namespace detail

/// The math functions of SQLITE_ENABLE_MATH_FUNCTIONS that Django's functions use, for builds without them.
inline void register_math_functions(sqlite3* db) {
    constexpr int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
    auto function = [&](const char* name, int n, void (*fn)(sqlite3_context*, int, sqlite3_value**)) {
        sqlite3_create_function_v2(db, name, n, flags, nullptr, fn, nullptr, nullptr, nullptr);
    };
    function("ACOS", 1, detail::safe<detail::unary_math<detail::acos>>);
    function("ASIN", 1, detail::safe<detail::unary_math<detail::asin>>);
    function("ATAN", 1, detail::safe<detail::unary_math<detail::atan>>);
    function("ATAN2", 2, detail::safe<detail::binary_math<detail::atan2>>);
    function("CEILING", 1, detail::safe<detail::rounding<detail::ceil>>);
    function("COS", 1, detail::safe<detail::unary_math<detail::cos>>);
    function("DEGREES", 1, detail::safe<detail::unary_math<detail::degrees>>);
    function("EXP", 1, detail::safe<detail::unary_math<detail::exp>>);
    function("FLOOR", 1, detail::safe<detail::rounding<detail::floor>>);
    function("LN", 1, detail::safe<detail::unary_math<detail::ln>>);
    function("LOG", 2, detail::safe<detail::binary_math<detail::log_base>>);
    function("MOD", 2, detail::safe<detail::binary_math<detail::fmod>>);
    function("PI", 0, detail::safe<detail::pi>);
    function("POWER", 2, detail::safe<detail::binary_math<detail::power>>);
    function("RADIANS", 1, detail::safe<detail::unary_math<detail::radians>>);
    function("SIN", 1, detail::safe<detail::unary_math<detail::sin>>);
    function("SQRT", 1, detail::safe<detail::unary_math<detail::sqrt>>);
    function("TAN", 1, detail::safe<detail::unary_math<detail::tan>>);
}

/// Registers dorm's functions on a new connection.
inline void register_functions(sqlite3* db) {
    constexpr int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
    auto scalar = [&](const char* name, int n, void (*fn)(sqlite3_context*, int, sqlite3_value**), void* data = nullptr,
                      void (*destroy)(void*) = nullptr) {
        sqlite3_create_function_v2(db, name, n, flags, data, fn, nullptr, nullptr, destroy);
    };
    scalar("dorm_extract", 2, detail::safe<detail::extract>);
    scalar("dorm_extract", 3, detail::safe<detail::extract>);
    scalar("dorm_fold", 1, detail::safe<detail::fold>);
    auto destroy = [](void* p) { delete static_cast<detail::RegexCache*>(p); };
    scalar("regexp", 2, detail::safe<detail::regexp>, new detail::RegexCache(false), destroy);
    scalar("dorm_iregexp", 2, detail::safe<detail::regexp>, new detail::RegexCache(true), destroy);
    scalar("dorm_trunc", 2, detail::safe<detail::trunc>);
    scalar("dorm_trunc", 3, detail::safe<detail::trunc>);
    scalar("BITXOR", 2, detail::safe<detail::bitxor>);
    scalar("dorm_format_dtdelta", 3, detail::safe<detail::format_dtdelta>);
    scalar("dorm_timestamp_diff", 2, detail::safe<detail::temporal_diff<detail::TemporalArg::Kind::datetime>>);
    scalar("dorm_time_diff", 2, detail::safe<detail::temporal_diff<detail::TemporalArg::Kind::time>>);
    auto aggregate = [&](const char* name, void (*final)(sqlite3_context*)) {
        sqlite3_create_function_v2(db, name, 1, flags, nullptr, nullptr, detail::moments_step, final, nullptr);
    };
    aggregate("STDDEV_POP", detail::moments_final<false, true>);
    aggregate("STDDEV_SAMP", detail::moments_final<true, true>);
    aggregate("VAR_POP", detail::moments_final<false, false>);
    aggregate("VAR_SAMP", detail::moments_final<true, false>);

    // Django's functions SQLite has no equivalent of.
    auto function = [&](const char* name, int n, void (*fn)(sqlite3_context*, int, sqlite3_value**),
                        void* data = nullptr, bool deterministic = true) {
        sqlite3_create_function_v2(db, name, n, deterministic ? flags : SQLITE_UTF8, data, fn, nullptr, nullptr, nullptr);
    };
    function("COT", 1, detail::safe<detail::unary_math<detail::cot>>);
    function("LPAD", 3, detail::safe<detail::pad<true>>);
    function("RPAD", 3, detail::safe<detail::pad<false>>);
    function("REPEAT", 2, detail::safe<detail::repeat>);
    function("REVERSE", 1, detail::safe<detail::reverse>);
    // EVP_MD objects of the default provider are static: nothing to free.
    auto md = [](const EVP_MD* m) { return const_cast<void*>(static_cast<const void*>(m)); };
    function("MD5", 1, detail::safe<detail::digest>, md(EVP_md5()));
    function("SHA1", 1, detail::safe<detail::digest>, md(EVP_sha1()));
    function("SHA224", 1, detail::safe<detail::digest>, md(EVP_sha224()));
    function("SHA256", 1, detail::safe<detail::digest>, md(EVP_sha256()));
    function("SHA384", 1, detail::safe<detail::digest>, md(EVP_sha384()));
    function("SHA512", 1, detail::safe<detail::digest>, md(EVP_sha512()));
    // Django registers SIGN too: SQLite has its own only from 3.35, built with or without the math functions.
    function("SIGN", 1, detail::safe<detail::sign>);
    function("RAND", 0, detail::safe<detail::rand>, nullptr, false);  // not deterministic
    // The math functions, when this SQLite was built without SQLITE_ENABLE_MATH_FUNCTIONS (as Django checks).
    if (!sqlite3_compileoption_used("ENABLE_MATH_FUNCTIONS")) register_math_functions(db);
}

}  // namespace dorm::backends::sqlite
