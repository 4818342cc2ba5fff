// SPDX-License-Identifier: MIT
// Definitions for <dorm/value.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/value.hpp>

namespace dorm {

DORM_DECL Date::Date(std::chrono::year_month_day ymd) {
    if (!ymd.ok())
        throw ValueError(fmt::format("dorm: {}-{}-{} is not a valid date", int(ymd.year()), unsigned(ymd.month()),
                                     unsigned(ymd.day())));
    if (int(ymd.year()) < 1 || int(ymd.year()) > 9999)
        throw ValueError(fmt::format("dorm: year {} is out of range (1..9999)", int(ymd.year())));
    days_ = std::chrono::sys_days{ymd};
}

DORM_DECL Array::Array(std::initializer_list<Value> elements) : elements_(elements) {}
DORM_DECL Array::Array(std::vector<Value> elements) : elements_(std::move(elements)) {}
DORM_DECL bool operator==(const Array& a, const Array& b) { return a.elements_ == b.elements_; }
DORM_DECL std::partial_ordering operator<=>(const Array& a, const Array& b) { return a.elements_ <=> b.elements_; }

DORM_DECL Time::Time(int hour, int minute, int second, int microsecond) {
    if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59 || microsecond < 0 ||
        microsecond > 999999)
        throw ValueError(fmt::format("dorm: {:02}:{:02}:{:02}.{:06} is not a valid time", hour, minute, second,
                                     microsecond));
    us_ = std::chrono::microseconds{((hour * 60LL + minute) * 60 + second) * 1000000LL + microsecond};
}
}  // namespace dorm

namespace dorm::detail {

DORM_DECL void check_writable(const Date& d) {
    auto days = d.days_since_epoch();
    if (days < Date::min_days || days > Date::max_days)
        throw ValueError(fmt::format("dorm: year {} is out of range (1..9999)", d.year()));
}

DORM_DECL void check_writable(const DateTime& dt) { check_writable(dt.date()); }

/// Writes `v` as `n` decimal digits at `p` (v < 10^n).
inline void put_digits(char* p, std::int64_t v, int n) noexcept {
    for (int i = n - 1; i >= 0; --i) {
        p[i] = static_cast<char>('0' + v % 10);
        v /= 10;
    }
}

// Written by hand: every date and time bound goes through here, and the texts fit std::string's own buffer.
DORM_DECL std::string to_iso(const Date& d) {
    const std::int64_t year = d.year(), month = d.month(), day = d.day();
    if (year < 0 || year > 9999 || month < 1 || month > 12 || day < 1 || day > 31) [[unlikely]]
        return fmt::format("{:04}-{:02}-{:02}", year, month, day);
    std::string out(10, '-');
    put_digits(out.data(), year, 4);
    put_digits(out.data() + 5, month, 2);
    put_digits(out.data() + 8, day, 2);
    return out;
}
DORM_DECL std::string to_iso(const Time& t) {
    const std::int64_t hour = t.hour(), minute = t.minute(), second = t.second(), us = t.microsecond();
    if (hour < 0 || hour > 99 || minute < 0 || minute > 59 || second < 0 || second > 59 || us < 0 || us > 999999)
        [[unlikely]] return fmt::format("{:02}:{:02}:{:02}.{:06}", hour, minute, second, us);
    std::string out("00:00:00.000000");
    put_digits(out.data(), hour, 2);
    put_digits(out.data() + 3, minute, 2);
    put_digits(out.data() + 6, second, 2);
    put_digits(out.data() + 9, us, 6);
    return out;
}
DORM_DECL std::string to_iso(const DateTime& dt) { return to_iso(dt.date()) + ' ' + to_iso(dt.time()); }

DORM_DECL std::string duration_string(Duration d) {
    constexpr std::int64_t day = 86400000000LL;
    std::int64_t days = d.count() / day, rest = d.count() % day;
    if (rest < 0) {  // timedelta's days are floored, its seconds and microseconds never negative
        rest += day;
        --days;
    }
    std::int64_t seconds = rest / 1000000, us = rest % 1000000;
    std::string out = days ? fmt::format("{} ", days) : std::string();
    out += fmt::format("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60);
    if (us) out += fmt::format(".{:06}", us);
    return out;
}

DORM_DECL bool parse_digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        out = out * 10 + (s[i] - '0');
    }
    return true;
}

DORM_DECL std::optional<Date> parse_date(std::string_view s) {
    int y, m, d;
    if (s.size() < 10 || s[4] != '-' || s[7] != '-' || !parse_digits(s, 0, 4, y) || !parse_digits(s, 5, 2, m) ||
        !parse_digits(s, 8, 2, d))
        return std::nullopt;
    std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{unsigned(m)}, std::chrono::day{unsigned(d)}};
    if (!ymd.ok()) return std::nullopt;
    return Date{ymd};
}

DORM_DECL std::optional<Time> parse_time(std::string_view s) {
    int h, mi, sec = 0, us = 0;
    if (s.size() < 5 || s[2] != ':' || !parse_digits(s, 0, 2, h) || !parse_digits(s, 3, 2, mi)) return std::nullopt;
    if (s.size() >= 8) {
        if (s[5] != ':' || !parse_digits(s, 6, 2, sec)) return std::nullopt;
        if (s.size() > 9 && s[8] == '.') {
            std::size_t i = 9;
            int scale = 100000;
            for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, scale /= 10)
                if (scale > 0) us += (s[i] - '0') * scale;
        }
    }
    if (h > 23 || mi > 59 || sec > 59) return std::nullopt;
    return Time{h, mi, sec, us};
}

DORM_DECL std::optional<DateTime> parse_datetime(std::string_view s) {
    auto d = parse_date(s);
    if (!d) return std::nullopt;
    if (s.size() == 10) return DateTime{*d};
    if (s[10] != ' ' && s[10] != 'T') return std::nullopt;
    // A UTC offset after the time ("Z", "+02:00", "-0530", "+02", as Django's parse_datetime() reads them) is
    // applied: the text names that instant, not its wall time in UTC.
    std::string_view time = s.substr(11), zone;
    if (auto at = time.find_first_of("Z+-"); at != std::string_view::npos) {
        zone = time.substr(at);
        time = time.substr(0, at);
        while (!time.empty() && time.back() == ' ') time.remove_suffix(1);
    }
    auto t = parse_time(time);
    if (!t) return std::nullopt;
    DateTime dt{*d, *t};
    if (zone.empty() || zone == "Z") return dt;
    int hours = 0, minutes = 0;
    const bool colon = zone.size() == 6 && zone[3] == ':';
    if (!parse_digits(zone, 1, 2, hours) ||
        !(zone.size() == 3 || (colon && parse_digits(zone, 4, 2, minutes)) ||
          (zone.size() == 5 && parse_digits(zone, 3, 2, minutes))) ||
        minutes > 59)
        return std::nullopt;
    const std::chrono::minutes offset{(zone[0] == '-' ? -1 : 1) * (hours * 60 + minutes)};
    return DateTime{dt.time_point_utc() - offset};
}

}  // namespace dorm::detail

namespace dorm {

namespace detail {
DORM_DECL void value_type_error(const Value& v, std::string_view wanted) {
    throw TypeError(fmt::format("dorm: value is {}, not {}", v.type_name(), wanted));
}
DORM_DECL void unsigned_out_of_range(std::uint64_t i) {
    // Django: SQLite's driver raises OverflowError and PostgreSQL DataError; no column holds it either way.
    throw DataError(fmt::format("dorm: the integer {} is out of range (a value is a signed 64-bit integer)", i));
}
DORM_DECL void integer_range_error(std::int64_t i, int bits, bool is_signed) {
    throw DataError(fmt::format("dorm: {} does not fit {} {}-bit integer", i, is_signed ? "a" : "an unsigned", bits));
}
DORM_DECL void element_type_error(std::size_t i, const Value& e, std::string_view wanted) {
    throw TypeError(fmt::format("dorm: element {} of the array is {}, not {}{}", i, e.type_name(), wanted,
                                e.is_null() ? " (read std::vector<std::optional<T>> for NULL elements)" : ""));
}
}  // namespace detail

DORM_DECL Value::Value(const Value&) = default;
DORM_DECL Value::Value(Value&&) noexcept = default;
DORM_DECL Value& Value::operator=(const Value&) = default;
DORM_DECL Value& Value::operator=(Value&&) noexcept = default;
DORM_DECL Value::~Value() = default;
DORM_DECL bool operator==(const Value& a, const Value& b) { return a.v_ == b.v_; }
DORM_DECL std::partial_ordering operator<=>(const Value& a, const Value& b) { return a.v_ <=> b.v_; }

namespace detail {

DORM_DECL std::string value_repr(const Value& v) {
    return std::visit(
        [](const auto& x) -> std::string {
            using X = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<X, std::monostate>) return "None";
            else if constexpr (std::is_same_v<X, bool>) return x ? "True" : "False";
            else if constexpr (std::is_same_v<X, std::string>) return fmt::format("'{}'", x);
            else if constexpr (std::is_same_v<X, Bytes>) return fmt::format("<{} bytes>", x.size());
            else if constexpr (std::is_same_v<X, Duration>) return duration_string(x);
            else if constexpr (std::is_same_v<X, Array>) {  // Python's list: [1, 'a', None]
                std::string out = "[";
                for (std::size_t i = 0; i < x.size(); ++i) {
                    if (i) out += ", ";
                    out += value_repr(x[i]);
                }
                return out + "]";
            }
            else if constexpr (std::is_same_v<X, double>) {  // Python writes 2.0, not 2
                auto t = fmt::format("{}", x);
                if (t.find_first_of(".einfa") == std::string::npos) t += ".0";
                return t;
            }
            else return fmt::format("{}", x);
        },
        v.variant());
}

}  // namespace detail
}  // namespace dorm

DORM_DECL fmt::format_context::iterator fmt::formatter<dorm::Date>::format(const dorm::Date& v,
                                                                           fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(dorm::detail::to_iso(v), ctx);
}
DORM_DECL fmt::format_context::iterator fmt::formatter<dorm::Time>::format(const dorm::Time& v,
                                                                           fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(dorm::detail::to_iso(v), ctx);
}
DORM_DECL fmt::format_context::iterator fmt::formatter<dorm::DateTime>::format(const dorm::DateTime& v,
                                                                               fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(dorm::detail::to_iso(v), ctx);
}
DORM_DECL fmt::format_context::iterator fmt::formatter<dorm::Value>::format(const dorm::Value& v,
                                                                            fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(dorm::detail::value_repr(v), ctx);
}
