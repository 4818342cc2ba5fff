// SPDX-License-Identifier: MIT
// The fuzz targets' oracle: what every compiled (sql, params) must satisfy, and the exception policy.
#pragma once

#include "support/models.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

namespace dorm_fuzz {

/// Aliases that are registered but never connected to: sql_with_params() needs only their dialects.
inline constexpr const char* sqlite_alias = "fuzz_sqlite";
inline constexpr const char* postgresql_alias = "fuzz_pg";

enum class Dialect { sqlite, postgresql };

inline const char* alias_of(Dialect d) { return d == Dialect::sqlite ? sqlite_alias : postgresql_alias; }
inline const char* name_of(Dialect d) { return d == Dialect::sqlite ? "sqlite" : "postgresql"; }

/// Registers both aliases once per process (as tests/test_sql.cpp does: a PostgreSQL URL nothing listens on).
inline void setup_databases() {
    static const bool done = [] {
        dorm::databases().add(sqlite_alias, "sqlite::memory:");
        dorm::databases().add(postgresql_alias, "postgresql://fuzz@unreachable.invalid/none");
        return true;
    }();
    (void)done;
}

/// DORM_FUZZ_VERBOSE=1 prints every statement compiled (to read what an input reaches).
inline bool verbose() {
    static const bool on = [] {
        const char* v = std::getenv("DORM_FUZZ_VERBOSE");
        return v && *v && *v != '0';
    }();
    return on;
}

/// Prints bytes so that a report shows NULs, quotes and invalid UTF-8 unambiguously.
inline std::string escaped(std::string_view s, std::size_t max = 4000) {
    std::string out;
    for (std::size_t i = 0; i < s.size() && i < max; ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c == '\\') out += "\\\\";
        else if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
        else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    if (s.size() > max) out += "...";
    return out;
}

/// A violated invariant: printed, then abort() so that libFuzzer saves the input as a crash.
[[noreturn]] inline void fail(std::string_view what, std::string_view detail, std::string_view sql = {},
                              std::string_view context = {}) {
    std::fprintf(stderr, "\n==dorm_fuzz== INVARIANT VIOLATED: %.*s\n  detail:  %s\n", static_cast<int>(what.size()),
                 what.data(), escaped(detail).c_str());
    if (!context.empty()) std::fprintf(stderr, "  context: %s\n", escaped(context).c_str());
    if (!sql.empty()) std::fprintf(stderr, "  sql:     %s\n", escaped(sql).c_str());
    std::abort();
}

/// Runs `fn`; dorm's own exceptions (dorm::Error and below) are the documented way to refuse an input and
/// return false. Any other exception (std::out_of_range, std::bad_variant_access, fmt::format_error, ...) is a
/// bug that escaped dorm's checks: abort() so that libFuzzer reports it with the input.
template <class Fn>
bool guarded(std::string_view context, Fn&& fn) {
    try {
        fn();
        return true;
    } catch (const dorm::Error&) {
        return false;
    } catch (const std::exception& e) {
        fail("an exception that is not a dorm::Error escaped", std::string(typeid(e).name()) + ": " + e.what(), {},
             context);
    } catch (...) {
        fail("an exception that is not a std::exception escaped", "(unknown type)", {}, context);
    }
}

/// Words the compiler and the dialects write outside quotes (keywords, function and type names). A user string
/// showing up as a bare word would be an injection; so would any word not listed here.
inline bool is_known_word(std::string_view w) {
    static const std::set<std::string_view, std::less<>> words{
        // Statement structure.
        "SELECT", "DISTINCT", "ON", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "GLOB", "REGEXP",
        "BETWEEN", "AS", "INNER", "LEFT", "OUTER", "JOIN", "GROUP", "BY", "HAVING", "ORDER", "ASC", "DESC", "NULLS",
        "FIRST", "LAST", "LIMIT", "OFFSET", "UNION", "ALL", "INTERSECT", "EXCEPT", "EXISTS", "CASE", "WHEN", "THEN",
        "ELSE", "END", "FOR", "UPDATE", "NO", "KEY", "NOWAIT", "SKIP", "LOCKED", "OF", "subquery",
        // UPDATE / DELETE (and INSERT, for completeness).
        "SET", "DELETE", "INSERT", "INTO", "VALUES", "DEFAULT", "RETURNING", "CONFLICT", "DO", "NOTHING", "EXCLUDED",
        // Functions and aggregates.
        "CAST", "COALESCE", "FILTER", "COUNT", "SUM", "AVG", "MIN", "MAX", "STDDEV_POP", "STDDEV_SAMP", "VAR_POP",
        "VAR_SAMP", "STRING_AGG", "GROUP_CONCAT", "ANY_VALUE", "UPPER", "LOWER", "LENGTH", "POWER", "RANDOM",
        "EXTRACT", "FLOOR", "DATE_TRUNC", "AT", "TIME", "ZONE", "instr", "dorm_fold", "dorm_iregexp", "dorm_extract",
        "dorm_trunc", "REPLACE",
        // PostgreSQL's aggregates (django.contrib.postgres.aggregates); jsonb is JSONBAgg's default's cast.
        "ARRAY_AGG", "BIT_AND", "BIT_OR", "BIT_XOR", "BOOL_AND", "BOOL_OR", "JSONB_AGG", "jsonb", "CORR", "COVAR_POP",
        "COVAR_SAMP", "REGR_AVGX", "REGR_AVGY", "REGR_COUNT", "REGR_INTERCEPT", "REGR_R2", "REGR_SLOPE", "REGR_SXX",
        "REGR_SXY", "REGR_SYY",
        // Database functions (dorm/functions.hpp) as each dialect spells them.
        "ABS", "ACOS", "ASIN", "ATAN", "ATAN2", "CEILING", "COS", "COT", "DEGREES", "EXP", "LN", "LOG", "MOD", "PI",
        "RADIANS", "RAND", "ROUND", "SIGN", "SIN", "SQRT", "TAN", "CHR", "CHAR", "ASCII", "UNICODE", "CONCAT", "RIGHT",
        "LPAD", "LTRIM", "MD5", "REPEAT", "REVERSE", "RPAD", "RTRIM", "SHA1", "SHA224", "SHA256", "SHA384", "SHA512",
        "ENCODE", "DIGEST", "CONVERT_TO", "INSTR", "STRPOS", "SUBSTR", "SUBSTRING", "TRIM", "GREATEST", "LEAST",
        "NULLIF", "COLLATE", "numeric", "STRFTIME", "STATEMENT_TIMESTAMP", "BITXOR",
        // Duration arithmetic (Django's DurationExpression and TemporalSubtraction).
        "dorm_format_dtdelta", "dorm_timestamp_diff", "dorm_time_diff",
        // Window expressions and the window functions.
        "OVER", "PARTITION", "ROWS", "RANGE", "UNBOUNDED", "PRECEDING", "FOLLOWING", "CURRENT", "ROW", "EXCLUDE",
        "TIES", "OTHERS", "CUME_DIST", "DENSE_RANK", "FIRST_VALUE", "LAG", "LAST_VALUE", "LEAD", "NTH_VALUE", "NTILE",
        "PERCENT_RANK", "RANK", "ROW_NUMBER",
        // EXTRACT fields (PostgreSQL).
        "YEAR", "ISOYEAR", "MONTH", "DAY", "WEEK", "DOW", "ISODOW", "QUARTER", "HOUR", "MINUTE", "SECOND",
        // Type names in CAST and ::casts.
        "integer", "date", "time", "text", "real", "bool", "blob", "bigint", "smallint", "boolean", "double",
        "precision", "bytea", "timestamp", "with", "zone", "interval",
    };
    return words.count(w) != 0;
}

/// The single-quoted literals each dialect writes itself (dorm_extract / EXTRACT field names, DATE_TRUNC kinds, the
/// UTC zone): anything else in quotes is a value that should have been bound.
inline bool is_known_literal(Dialect d, std::string_view s) {
    // Date parts; and the wildcards and escapes of pattern lookups whose value is an expression (GLOB on SQLite,
    // LIKE on PostgreSQL).
    static constexpr std::array<std::string_view, 27> sqlite_fields{
        "year", "iso_year", "month", "day", "week", "week_day", "iso_week_day", "quarter", "date", "time", "hour",
        "minute", "second", "*", "[", "[[]", "[*]", "?", "[?]", "",  // '': Concat's COALESCE(x, '')
        "%Y-%m-%d %H:%M:%f", "now", "000",                          // Now()
        "+", "-", "/"};  // dorm_format_dtdelta's operator ('*' is above)
    static constexpr std::array<std::string_view, 19> postgresql_literals{
        "UTC", "year", "quarter", "month", "week", "day", "hour", "minute", "second", "%", "\\", "\\\\", "\\%", "_", "\\_",
        "hex", "sha1", "UTF8",  // the digests' ENCODE / DIGEST / CONVERT_TO
        "1 day"};               // date - date as an interval (subtract_temporals)
    if (d == Dialect::sqlite) return std::find(sqlite_fields.begin(), sqlite_fields.end(), s) != sqlite_fields.end();
    return std::find(postgresql_literals.begin(), postgresql_literals.end(), s) != postgresql_literals.end();
}

/// What a scan of the SQL text found.
struct Scan {
    bool collect_identifiers = false;       // fill `identifiers` (only the lookup path target checks them)
    std::vector<std::string> identifiers;   // the contents of "..." (quotes undoubled)
    std::size_t question_marks = 0;         // SQLite placeholders
    std::vector<std::size_t> dollar_params; // PostgreSQL placeholders, in text order
};

/// Scans `sql` as written by `d`: quoted identifiers and literals must be closed, placeholders well formed, and
/// what is outside quotes only the compiler's own vocabulary. Returns the reason it is not, or an empty string.
inline std::string scan_sql(std::string_view sql, Dialect d, Scan& out) {
    // Punctuation the compiler writes between tokens; ';', '\\', '\'', '"' outside their roles, '[' ... are not.
    static constexpr std::string_view punctuation = " (),.=<>+-*/%:~!|&#";  // & # << >>: the bitwise operations
    for (std::size_t i = 0; i < sql.size();) {
        char c = sql[i];
        if (c == '"' || c == '\'') {
            // A quoted identifier or literal: up to the closing quote that is not doubled.
            std::size_t j = i + 1;
            bool doubled = false;
            for (;; ++j) {
                if (j >= sql.size()) return c == '"' ? "unterminated double-quoted identifier" : "unterminated single-quoted literal";
                if (sql[j] != c) continue;
                if (j + 1 < sql.size() && sql[j + 1] == c) {
                    doubled = true;
                    ++j;
                    continue;
                }
                break;
            }
            std::string_view body = sql.substr(i + 1, j - i - 1);
            std::string undoubled;
            if (doubled)
                for (std::size_t k = 0; k < body.size(); ++k) {
                    undoubled += body[k];
                    if (body[k] == c) ++k;
                }
            std::string_view text = doubled ? std::string_view(undoubled) : body;
            if (c == '"') {
                if (out.collect_identifiers) out.identifiers.emplace_back(text);
            } else if (!is_known_literal(d, text)) {
                return "a single-quoted literal the compiler does not write: '" + std::string(text) + "'";
            }
            i = j + 1;
            continue;
        }
        if (c == '?') {
            if (d != Dialect::sqlite) return "'?' outside quotes in PostgreSQL SQL";
            ++out.question_marks;
            ++i;
            continue;
        }
        if (c == '$') {
            if (d != Dialect::postgresql) return "'$' outside quotes in SQLite SQL";
            std::size_t j = i + 1, n = 0;
            while (j < sql.size() && sql[j] >= '0' && sql[j] <= '9' && n < 1000000) n = n * 10 + static_cast<std::size_t>(sql[j++] - '0');
            if (j == i + 1) return "'$' not followed by a parameter number (dollar quoting?)";
            out.dollar_params.push_back(n);
            i = j;
            continue;
        }
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_') {
            std::size_t j = i;
            while (j < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[j])) || sql[j] == '_')) ++j;
            std::string_view word = sql.substr(i, j - i);
            if (!is_known_word(word)) return "a bare word the compiler does not write: " + std::string(word);
            i = j;
            continue;
        }
        if (c >= '0' && c <= '9') {
            while (i < sql.size() && sql[i] >= '0' && sql[i] <= '9') ++i;
            continue;
        }
        if (sql.substr(i, 2) == "--" || sql.substr(i, 2) == "/*") return "a comment marker outside quotes";
        // An array type in a PostgreSQL cast (ArrayAgg's default: `($1)::integer[]`): `[]` right after a type name.
        if (d == Dialect::postgresql && sql.substr(i, 2) == "[]" && i > 0 &&
            (std::isalnum(static_cast<unsigned char>(sql[i - 1])) || sql[i - 1] == '_')) {
            i += 2;
            continue;
        }
        if (punctuation.find(c) == std::string_view::npos)
            return "a character the compiler does not write outside quotes: " + escaped(std::string_view(&c, 1));
        ++i;
    }
    return {};
}

/// Checks one compiled statement: (a) nothing but the compiler's vocabulary, known literals and quoted identifiers
/// (each accepted by `identifier_ok` when given); (b) one placeholder per parameter, $1..$N in order on PostgreSQL
/// (SQLite's ? are positional, so a statement written out of order there would bind the wrong values).
inline void check_compiled(const dorm::sql::Compiled& c, Dialect d, std::string_view context,
                           const std::function<bool(std::string_view)>& identifier_ok = {}) {
    Scan scan;
    scan.collect_identifiers = static_cast<bool>(identifier_ok);
    if (auto why = scan_sql(c.sql, d, scan); !why.empty())
        fail(std::string(name_of(d)) + ": SQL outside the compiler's vocabulary", why, c.sql, context);
    if (identifier_ok)
        for (const auto& id : scan.identifiers)
            if (!identifier_ok(id)) fail(std::string(name_of(d)) + ": an identifier that is not from model metadata", id, c.sql, context);
    std::size_t n = c.params.size();
    if (d == Dialect::sqlite) {
        if (scan.question_marks != n)
            fail("sqlite: placeholders and parameters differ in number",
                 std::to_string(scan.question_marks) + " '?' for " + std::to_string(n) + " parameters", c.sql, context);
    } else {
        if (scan.dollar_params.size() != n)
            fail("postgresql: placeholders and parameters differ in number",
                 std::to_string(scan.dollar_params.size()) + " '$n' for " + std::to_string(n) + " parameters", c.sql, context);
        for (std::size_t i = 0; i < n; ++i)
            if (scan.dollar_params[i] != i + 1)
                fail("postgresql: placeholders are not $1..$N in text order",
                     "placeholder " + std::to_string(i + 1) + " is $" + std::to_string(scan.dollar_params[i]), c.sql, context);
    }
}

/// Compiles `qs` for one dialect (sql_with_params(), as executed) and checks it; also renders sql() (the display
/// form, values as literals) so that its code runs too. Returns the executed SQL, or "!" when dorm refused.
template <class QS>
std::string compile_and_check(const QS& qs, Dialect d, std::string_view context,
                              const std::function<bool(std::string_view)>& identifier_ok = {}) {
    std::string out = "!";
    guarded(context, [&] {
        auto on = qs.using_(alias_of(d));
        auto c = on.sql_with_params();
        check_compiled(c, d, context, identifier_ok);
        (void)on.sql();
        out = c.nothing ? "nothing:" + c.sql : c.sql;
        out += " #" + std::to_string(c.params.size());
    });
    if (verbose())
        std::fprintf(stderr, "[%s] %s: %s\n", name_of(d), escaped(context).c_str(), escaped(out).c_str());
    return out;
}

}  // namespace dorm_fuzz
