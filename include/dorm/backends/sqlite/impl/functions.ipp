// SPDX-License-Identifier: MIT
// SQL functions dorm registers on every SQLite connection: date parts (dorm_extract), case folding (dorm_fold)
// and regular expressions (REGEXP, dorm_iregexp), as Django registers its own on SQLite.
// Regular expressions use PCRE2, whose syntax is Python's for the patterns people write (Django evaluates them with
// Python's re on SQLite); its C API also keeps std::regex's heavy templates out of every translation unit.
#pragma once

#include <dorm/lookups.hpp>
#include <dorm/value.hpp>

#include <sqlite3.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

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

/// dorm_extract(kind, value): a part of an ISO date, datetime or time text; NULL for NULL.
inline void extract(sqlite3_context* ctx, int, sqlite3_value** argv) {
    if (sqlite3_value_type(argv[1]) == SQLITE_NULL) return sqlite3_result_null(ctx);
    auto kind = text_arg(argv[0]);
    auto text = text_arg(argv[1]);
    std::optional<DateTime> dt;
    std::optional<Time> t;
    if (text.size() >= 10 && text[4] == '-') dt = dorm::detail::parse_datetime(text);
    else t = dorm::detail::parse_time(text);
    if (!dt && !t) return sqlite3_result_null(ctx);
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

/// dorm_trunc(kind, value): an ISO date or datetime text truncated to a year, quarter, month, week (its Monday),
/// day, hour, minute or second, in the same form (dates(), datetimes(), Trunc).
inline void trunc(sqlite3_context* ctx, int, sqlite3_value** argv) {
    if (sqlite3_value_type(argv[1]) == SQLITE_NULL) return sqlite3_result_null(ctx);
    auto kind = text_arg(argv[0]);
    auto text = text_arg(argv[1]);
    auto dt = dorm::detail::parse_datetime(text);
    if (!dt) return sqlite3_result_null(ctx);
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
    std::string out = text.size() == 10 ? dorm::detail::to_iso(day) : dorm::detail::to_iso(DateTime(day, time));
    sqlite3_result_text(ctx, out.data(), static_cast<int>(out.size()), SQLITE_TRANSIENT);
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

}  // namespace detail

/// Registers dorm's functions on a new connection.
inline void register_functions(sqlite3* db) {
    constexpr int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
    sqlite3_create_function_v2(db, "dorm_extract", 2, flags, nullptr, detail::extract, nullptr, nullptr, nullptr);
    sqlite3_create_function_v2(db, "dorm_fold", 1, flags, nullptr, detail::fold, nullptr, nullptr, nullptr);
    auto destroy = [](void* p) { delete static_cast<detail::RegexCache*>(p); };
    sqlite3_create_function_v2(db, "regexp", 2, flags, new detail::RegexCache(false), detail::regexp, nullptr, nullptr,
                               destroy);
    sqlite3_create_function_v2(db, "dorm_iregexp", 2, flags, new detail::RegexCache(true), detail::regexp, nullptr,
                               nullptr, destroy);
    sqlite3_create_function_v2(db, "dorm_trunc", 2, flags, nullptr, detail::trunc, nullptr, nullptr, nullptr);
    auto aggregate = [&](const char* name, void (*final)(sqlite3_context*)) {
        sqlite3_create_function_v2(db, name, 1, flags, nullptr, nullptr, detail::moments_step, final, nullptr);
    };
    aggregate("STDDEV_POP", detail::moments_final<false, true>);
    aggregate("STDDEV_SAMP", detail::moments_final<true, true>);
    aggregate("VAR_POP", detail::moments_final<false, false>);
    aggregate("VAR_SAMP", detail::moments_final<true, false>);
}

}  // namespace dorm::backends::sqlite
