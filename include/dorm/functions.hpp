// SPDX-License-Identifier: MIT
// Django's database functions (django.db.models.functions): comparison and conversion, date, math, text and window.
#pragma once

#include <dorm/config.hpp>

#include <dorm/expressions.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dorm {

namespace detail {
template <class... A>
Expression call(std::string_view name, const A&... args) {
    return Expression(call_function(name, {ExprArg(args).node()...}));
}
}  // namespace detail

// Comparison and conversion. Cast and Coalesce are in <dorm/expressions.hpp>.

/// `expression COLLATE "collation"`: the collation is a name ([A-Za-z0-9_-]+), quoted, never bound.
inline Expression Collate(const ExprArg& e, std::string_view collation) {
    return detail::call("COLLATE", e, Expression(Value(std::string(collation))));
}
/// The largest argument (at least two). PostgreSQL ignores NULLs; on SQLite a NULL argument makes it NULL.
template <class... More>
Expression Greatest(const ExprArg& a, const ExprArg& b, const More&... more) {
    return detail::call("GREATEST", a, b, more...);
}
/// The smallest argument (at least two); NULLs as for Greatest.
template <class... More>
Expression Least(const ExprArg& a, const ExprArg& b, const More&... more) {
    return detail::call("LEAST", a, b, more...);
}
/// NULL when both are equal, else the first.
inline Expression NullIf(const ExprArg& a, const ExprArg& b) { return detail::call("NULLIF", a, b); }

// Date and time. DateTimes are instants (UTC); `tzinfo`, a time zone's name ("Europe/Paris"), makes Extract and
// Trunc work on the wall time there, as Django's tzinfo argument does. It applies to DateTimes only (Django's
// ValueError otherwise); an empty name is UTC.

/// A part of a Date, DateTime, Time or Duration as an integer, by Django's lookup name: "year", "iso_year",
/// "quarter", "month", "week" (ISO 8601), "day", "week_day" (Sunday 1 ... Saturday 7), "iso_week_day" (Monday 1
/// ... Sunday 7), "hour", "minute", "second". A time part of a Date, or a date part of a Time or a Duration, is a
/// ValueError when the query is compiled (Django's, at annotate()); a Duration's parts need PostgreSQL.
inline Expression Extract(const ExprArg& e, std::string_view lookup_name, std::string_view tzinfo = {}) {
    if (tzinfo.empty()) return detail::call("EXTRACT", e, Expression(Value(std::string(lookup_name))));
    return detail::call("EXTRACT", e, Expression(Value(std::string(lookup_name))), Expression(Value(std::string(tzinfo))));
}
inline Expression ExtractYear(const ExprArg& e, std::string_view tzinfo = {}) { return Extract(e, "year", tzinfo); }
inline Expression ExtractIsoYear(const ExprArg& e, std::string_view tzinfo = {}) { return Extract(e, "iso_year", tzinfo); }
inline Expression ExtractQuarter(const ExprArg& e, std::string_view tzinfo = {}) { return Extract(e, "quarter", tzinfo); }
inline Expression ExtractMonth(const ExprArg& e, std::string_view tzinfo = {}) { return Extract(e, "month", tzinfo); }
inline Expression ExtractWeek(const ExprArg& e, std::string_view tzinfo = {}) { return Extract(e, "week", tzinfo); }
inline Expression ExtractDay(const ExprArg& e, std::string_view tzinfo = {}) { return Extract(e, "day", tzinfo); }
inline Expression ExtractWeekDay(const ExprArg& e, std::string_view tzinfo = {}) { return Extract(e, "week_day", tzinfo); }
inline Expression ExtractIsoWeekDay(const ExprArg& e, std::string_view tzinfo = {}) {
    return Extract(e, "iso_week_day", tzinfo);
}
inline Expression ExtractHour(const ExprArg& e, std::string_view tzinfo = {}) { return Extract(e, "hour", tzinfo); }
inline Expression ExtractMinute(const ExprArg& e, std::string_view tzinfo = {}) { return Extract(e, "minute", tzinfo); }
inline Expression ExtractSecond(const ExprArg& e, std::string_view tzinfo = {}) { return Extract(e, "second", tzinfo); }

/// The database's current time, a DateTime: the start of the statement (PostgreSQL's STATEMENT_TIMESTAMP(),
/// SQLite's 'now'), so every row of one query sees the same value.
inline Expression Now() { return Expression(detail::call_function("NOW", {})); }

/// A Date, DateTime or Time truncated to `kind`, of the same type: "year", "quarter", "month", "week" (its
/// Monday), "day" (Dates and DateTimes), "hour", "minute", "second" (DateTimes and Times). Another pairing is a
/// ValueError when the query is compiled, as Django's at annotate(). With `tzinfo`, a DateTime is truncated in
/// that zone's wall time and the result is the instant that local time names (Django's aware datetime): a local
/// time that occurs twice (clocks set back) is its later instant, one that never occurs (clocks set forward) is
/// read with the offset in force before the change.
inline Expression Trunc(const ExprArg& e, std::string_view kind, std::string_view tzinfo = {}) {
    if (tzinfo.empty()) return detail::call("TRUNC", e, Expression(Value(std::string(kind))));
    return detail::call("TRUNC", e, Expression(Value(std::string(kind))), Expression(Value(std::string(tzinfo))));
}
inline Expression TruncYear(const ExprArg& e, std::string_view tzinfo = {}) { return Trunc(e, "year", tzinfo); }
inline Expression TruncQuarter(const ExprArg& e, std::string_view tzinfo = {}) { return Trunc(e, "quarter", tzinfo); }
inline Expression TruncMonth(const ExprArg& e, std::string_view tzinfo = {}) { return Trunc(e, "month", tzinfo); }
inline Expression TruncWeek(const ExprArg& e, std::string_view tzinfo = {}) { return Trunc(e, "week", tzinfo); }
inline Expression TruncDay(const ExprArg& e, std::string_view tzinfo = {}) { return Trunc(e, "day", tzinfo); }
inline Expression TruncHour(const ExprArg& e, std::string_view tzinfo = {}) { return Trunc(e, "hour", tzinfo); }
inline Expression TruncMinute(const ExprArg& e, std::string_view tzinfo = {}) { return Trunc(e, "minute", tzinfo); }
inline Expression TruncSecond(const ExprArg& e, std::string_view tzinfo = {}) { return Trunc(e, "second", tzinfo); }
/// The date of a DateTime (its local date in `tzinfo`), a Date.
inline Expression TruncDate(const ExprArg& e, std::string_view tzinfo = {}) {
    if (tzinfo.empty()) return detail::call("TRUNCDATE", e);
    return detail::call("TRUNCDATE", e, Expression(Value(std::string(tzinfo))));
}
/// The time of day of a DateTime (its local time in `tzinfo`), a Time.
inline Expression TruncTime(const ExprArg& e, std::string_view tzinfo = {}) {
    if (tzinfo.empty()) return detail::call("TRUNCTIME", e);
    return detail::call("TRUNCTIME", e, Expression(Value(std::string(tzinfo))));
}

// Math. Results are floats except for Abs, Ceil, Floor, Round and Sign, which keep their argument's type.

inline Expression Abs(const ExprArg& e) { return detail::call("ABS", e); }
inline Expression ACos(const ExprArg& e) { return detail::call("ACOS", e); }
inline Expression ASin(const ExprArg& e) { return detail::call("ASIN", e); }
inline Expression ATan(const ExprArg& e) { return detail::call("ATAN", e); }
/// The arc tangent of y / x.
inline Expression ATan2(const ExprArg& y, const ExprArg& x) { return detail::call("ATAN2", y, x); }
inline Expression Ceil(const ExprArg& e) { return detail::call("CEILING", e); }
inline Expression Cos(const ExprArg& e) { return detail::call("COS", e); }
inline Expression Cot(const ExprArg& e) { return detail::call("COT", e); }
inline Expression Degrees(const ExprArg& e) { return detail::call("DEGREES", e); }
inline Expression Exp(const ExprArg& e) { return detail::call("EXP", e); }
inline Expression Floor(const ExprArg& e) { return detail::call("FLOOR", e); }
inline Expression Ln(const ExprArg& e) { return detail::call("LN", e); }
/// The logarithm of `x` to the base `base`.
inline Expression Log(const ExprArg& base, const ExprArg& x) { return detail::call("LOG", base, x); }
inline Expression Mod(const ExprArg& a, const ExprArg& b) { return detail::call("MOD", a, b); }
inline Expression Pi() { return Expression(detail::call_function("PI", {})); }
inline Expression Power(const ExprArg& a, const ExprArg& b) { return detail::call("POWER", a, b); }
inline Expression Radians(const ExprArg& e) { return detail::call("RADIANS", e); }
/// A random float in [0, 1).
inline Expression Random() { return Expression(detail::call_function("RANDOM", {})); }
/// Rounded to `precision` decimal places (negative: to tens, hundreds...; SQLite refuses it: ValueError).
inline Expression Round(const ExprArg& e, const ExprArg& precision = 0) { return detail::call("ROUND", e, precision); }
inline Expression Sign(const ExprArg& e) { return detail::call("SIGN", e); }
inline Expression Sin(const ExprArg& e) { return detail::call("SIN", e); }
inline Expression Sqrt(const ExprArg& e) { return detail::call("SQRT", e); }
inline Expression Tan(const ExprArg& e) { return detail::call("TAN", e); }

// Text. A string argument names a field, as in Django: text values are Value(std::string(...)).

/// The character of a code point.
inline Expression Chr(const ExprArg& e) { return detail::call("CHR", e); }
/// The arguments joined as text (at least two); a NULL argument counts as empty text.
template <class... More>
Expression Concat(const ExprArg& a, const ExprArg& b, const More&... more) {
    return detail::call("CONCAT", a, b, more...);
}
/// The first `length` characters (`length` > 0).
inline Expression Left(const ExprArg& e, const ExprArg& length) { return detail::call("LEFT", e, length); }
/// Padded on the left with `fill_text` (a value: `Value(std::string("-"))`) to `length` characters, or cut to it.
inline Expression LPad(const ExprArg& e, const ExprArg& length, const ExprArg& fill_text = Value(std::string(" "))) {
    return detail::call("LPAD", e, length, fill_text);
}
inline Expression LTrim(const ExprArg& e) { return detail::call("LTRIM", e); }
/// The hexadecimal MD5 digest of the text's UTF-8 bytes.
inline Expression MD5(const ExprArg& e) { return detail::call("MD5", e); }
/// The code point of the first character (an integer).
inline Expression Ord(const ExprArg& e) { return detail::call("ASCII", e); }
/// The text `number` times.
inline Expression Repeat(const ExprArg& e, const ExprArg& number) { return detail::call("REPEAT", e, number); }
/// Every occurrence of `text` replaced by `replacement`.
inline Expression Replace(const ExprArg& e, const ExprArg& text, const ExprArg& replacement = Value(std::string())) {
    return detail::call("REPLACE", e, text, replacement);
}
inline Expression Reverse(const ExprArg& e) { return detail::call("REVERSE", e); }
/// The last `length` characters (`length` > 0).
inline Expression Right(const ExprArg& e, const ExprArg& length) { return detail::call("RIGHT", e, length); }
/// Padded on the right with `fill_text` to `length` characters, or cut to it.
inline Expression RPad(const ExprArg& e, const ExprArg& length, const ExprArg& fill_text = Value(std::string(" "))) {
    return detail::call("RPAD", e, length, fill_text);
}
inline Expression RTrim(const ExprArg& e) { return detail::call("RTRIM", e); }
/// Hexadecimal SHA digests of the text's UTF-8 bytes. On PostgreSQL SHA1 needs the pgcrypto extension (Django's
/// five all do; dorm's SHA224 ... SHA512 use PostgreSQL's own functions).
inline Expression SHA1(const ExprArg& e) { return detail::call("SHA1", e); }
inline Expression SHA224(const ExprArg& e) { return detail::call("SHA224", e); }
inline Expression SHA256(const ExprArg& e) { return detail::call("SHA256", e); }
inline Expression SHA384(const ExprArg& e) { return detail::call("SHA384", e); }
inline Expression SHA512(const ExprArg& e) { return detail::call("SHA512", e); }
/// The 1-based position of `substring` in `string`, 0 when absent (an integer).
inline Expression StrIndex(const ExprArg& string, const ExprArg& substring) {
    return detail::call("INSTR", string, substring);
}
/// `length` characters from the 1-based position `pos` (> 0); all the rest without `length`.
inline Expression Substr(const ExprArg& e, const ExprArg& pos, const std::optional<ExprArg>& length = std::nullopt) {
    return length ? detail::call("SUBSTRING", e, pos, *length) : detail::call("SUBSTRING", e, pos);
}
inline Expression Trim(const ExprArg& e) { return detail::call("TRIM", e); }

// Window functions: computed over a Window (dorm/window.hpp), `Window(RowNumber(), {.order_by = {"-rating"}})`;
// anywhere else they are a ValueError when the query is built. Counts are bound integers, checked as in Django.

/// The fraction of the partition's rows ordered before or tied with the row (a float in (0, 1]).
inline Expression CumeDist() { return Expression(detail::call_function("CUME_DIST", {})); }
/// The row's rank without gaps: ties share a rank, the next rank follows on (1, 1, 2).
inline Expression DenseRank() { return Expression(detail::call_function("DENSE_RANK", {})); }
/// The value at the first row of the frame.
inline Expression FirstValue(const ExprArg& e) { return detail::call("FIRST_VALUE", e); }
/// The value `offset` rows (> 0, else ValueError) before the row in the partition; `default_` (NULL if none)
/// where there is no such row.
inline Expression Lag(const ExprArg& e, std::int64_t offset = 1, const std::optional<ExprArg>& default_ = std::nullopt) {
    return default_ ? detail::call("LAG", e, offset, *default_) : detail::call("LAG", e, offset);
}
/// The value at the last row of the frame (by default the frame ends at the current row's last tie).
inline Expression LastValue(const ExprArg& e) { return detail::call("LAST_VALUE", e); }
/// The value `offset` rows (> 0, else ValueError) after the row in the partition; `default_` (NULL if none)
/// where there is no such row.
inline Expression Lead(const ExprArg& e, std::int64_t offset = 1, const std::optional<ExprArg>& default_ = std::nullopt) {
    return default_ ? detail::call("LEAD", e, offset, *default_) : detail::call("LEAD", e, offset);
}
/// The value at row `nth` (> 0, else ValueError) of the frame, NULL where the frame is shorter.
inline Expression NthValue(const ExprArg& e, std::int64_t nth = 1) { return detail::call("NTH_VALUE", e, nth); }
/// The number (1 to `num_buckets`, > 0, else ValueError) of the group the row falls in when the partition is
/// divided into `num_buckets` groups as equal as possible, the first ones one row larger.
inline Expression Ntile(std::int64_t num_buckets = 1) { return detail::call("NTILE", num_buckets); }
/// (rank - 1) / (rows in the partition - 1): a float in [0, 1], 0 for a single row.
inline Expression PercentRank() { return Expression(detail::call_function("PERCENT_RANK", {})); }
/// The row's rank with gaps: ties share a rank, the next rank skips (1, 1, 3).
inline Expression Rank() { return Expression(detail::call_function("RANK", {})); }
/// The row's number in its partition, from 1, in the window's order.
inline Expression RowNumber() { return Expression(detail::call_function("ROW_NUMBER", {})); }

}  // namespace dorm
