// SPDX-License-Identifier: MIT
// SQLite's SQL spelling: ? placeholders, LIMIT -1 for an open-ended OFFSET, type names, literals.
#pragma once

#include <dorm/backends/sqlite/dialect.hpp>
#include <dorm/backends/sqlite/impl/zones.ipp>
#include <dorm/expressions.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <string>

namespace dorm::backends::sqlite {

class Dialect final : public backends::Dialect {
public:
    std::string_view vendor() const noexcept override { return "sqlite"; }

    void placeholder(std::string& out, std::size_t) const override { out += '?'; }

    bool has_update_from() const noexcept override { return sqlite3_libversion_number() >= 3033000; }
    // An automatic key is always INTEGER PRIMARY KEY here: the rowid.
    bool has_last_insert_id() const noexcept override { return true; }

    PatternSpec pattern(std::string_view lookup) const override {
        // SQLite's LIKE ignores ASCII case and no other: case-sensitive lookups use instr / GLOB / a range,
        // case-insensitive ones compare dorm_fold() of both sides. An expression on the right has no wildcards to
        // escape for instr(); GLOB's are bracketed ('[' first, so the brackets added later stay).
#define DORM_GLOB_ESCAPED(x) "REPLACE(REPLACE(REPLACE(" x ", '[', '[[]'), '*', '[*]'), '?', '[?]')"
        if (lookup == "iexact") return {"dorm_fold({lhs}) = {rhs}", PatternRhs::fold, "dorm_fold({lhs}) = dorm_fold({rhs})"};
        if (lookup == "contains") return {"instr({lhs}, {rhs}) > 0", PatternRhs::raw, "instr({lhs}, {rhs}) > 0"};
        if (lookup == "icontains")
            return {"instr(dorm_fold({lhs}), {rhs}) > 0", PatternRhs::fold, "instr(dorm_fold({lhs}), dorm_fold({rhs})) > 0"};
        if (lookup == "startswith")
            return {"{lhs} >= {rhs} AND {lhs} < {rhs2}", PatternRhs::prefix_range, "instr({lhs}, {rhs}) = 1"};
        if (lookup == "istartswith")
            return {"instr(dorm_fold({lhs}), {rhs}) = 1", PatternRhs::fold, "instr(dorm_fold({lhs}), dorm_fold({rhs})) = 1"};
        if (lookup == "endswith")
            return {"{lhs} GLOB {rhs}", PatternRhs::glob_suffix, "{lhs} GLOB '*' || " DORM_GLOB_ESCAPED("{rhs}")};
        if (lookup == "iendswith")
            return {"dorm_fold({lhs}) GLOB {rhs}", PatternRhs::fold_glob_suffix,
                    "dorm_fold({lhs}) GLOB '*' || " DORM_GLOB_ESCAPED("dorm_fold({rhs})")};
#undef DORM_GLOB_ESCAPED
        if (lookup == "regex") return {"{lhs} REGEXP {rhs}", PatternRhs::raw, "{lhs} REGEXP {rhs}"};
        if (lookup == "iregex") return {"dorm_iregexp({rhs}, {lhs})", PatternRhs::raw, "dorm_iregexp({rhs}, {lhs})"};
        return {};
    }

    std::string_view transform_template(std::string_view name, FieldKind) const override {
        // dorm_extract() is registered on every connection (see connection.hpp).
        if (name == "year") return "dorm_extract('year', %s)";
        if (name == "iso_year") return "dorm_extract('iso_year', %s)";
        if (name == "month") return "dorm_extract('month', %s)";
        if (name == "day") return "dorm_extract('day', %s)";
        if (name == "week") return "dorm_extract('week', %s)";
        if (name == "week_day") return "dorm_extract('week_day', %s)";
        if (name == "iso_week_day") return "dorm_extract('iso_week_day', %s)";
        if (name == "quarter") return "dorm_extract('quarter', %s)";
        if (name == "date") return "dorm_extract('date', %s)";
        if (name == "time") return "dorm_extract('time', %s)";
        if (name == "hour") return "dorm_extract('hour', %s)";
        if (name == "minute") return "dorm_extract('minute', %s)";
        if (name == "second") return "dorm_extract('second', %s)";
        return {};
    }

    void limit_offset(std::string& out, std::optional<std::int64_t> limit, std::int64_t offset) const override {
        out += " LIMIT ";
        out += limit ? std::to_string(*limit) : std::string("-1");  // SQLite needs a LIMIT before OFFSET
        if (offset) {
            out += " OFFSET ";
            out += std::to_string(offset);
        }
    }

    std::string column_type(const FieldMeta& f) const override {
        switch (f.kind) {
            case FieldKind::boolean: return "bool";
            case FieldKind::small_integer: return "smallint";
            case FieldKind::integer: return "integer";
            case FieldKind::big_integer: return "bigint";
            case FieldKind::real: return "real";
            case FieldKind::text: return f.max_length ? "varchar(" + std::to_string(*f.max_length) + ")" : "text";
            case FieldKind::bytes: return "BLOB";
            case FieldKind::date: return "date";
            case FieldKind::datetime: return "datetime";
            case FieldKind::time: return "time";
            case FieldKind::duration: return "bigint";  // microseconds, as Django stores a DurationField
        }
        return "text";
    }
    std::string auto_increment_column(const FieldMeta&) const override {
        return "integer NOT NULL PRIMARY KEY AUTOINCREMENT";
    }

    std::string_view aggregate_function(std::string_view function, std::optional<FieldKind> input) const override {
        // Django refuses these on SQLite because dates and times are stored as text.
        bool temporal = input == FieldKind::date || input == FieldKind::datetime || input == FieldKind::time;
        if (temporal && (function == "SUM" || function == "AVG" || function.starts_with("STDDEV") || function.starts_with("VAR")))
            throw NotSupportedError("dorm: You cannot use Sum, Avg, StdDev, and Variance aggregations on date/time "
                                    "fields in sqlite because date/time is saved as text.");
        // django.contrib.postgres's aggregates: SQLite has none of them, nor anything that gives the same results.
        if (const auto* info = dorm::detail::find_aggregate_function(function); info && info->postgresql_only)
            throw NotSupportedError(fmt::format("dorm: {} is not supported on sqlite: it is one of PostgreSQL's "
                                                "aggregates (django.contrib.postgres.aggregates)", info->django));
        if (function == "STRING_AGG") return "GROUP_CONCAT";
        if (function == "ANY_VALUE") return "MIN";  // some value of the group: SQLite 3.40 has no ANY_VALUE
        return function;  // STDDEV_* and VAR_* are registered on every connection (functions.hpp)
    }
    // ORDER BY inside an aggregate needs SQLite 3.44; DISTINCT aggregates take one argument only.
    bool supports_aggregate_order_by() const noexcept override { return false; }
    bool supports_aggregate_distinct_multiple_arguments() const noexcept override { return false; }
    bool supports_slicing_ordering_in_compound() const noexcept override { return false; }

    std::string cast_template(FieldKind kind) const override {
        switch (kind) {
            case FieldKind::boolean: return "CAST(%s AS bool)";
            case FieldKind::small_integer:
            case FieldKind::integer:
            case FieldKind::big_integer: return "CAST(%s AS integer)";
            case FieldKind::real: return "CAST(%s AS real)";
            case FieldKind::text: return "CAST(%s AS text)";
            case FieldKind::bytes: return "CAST(%s AS blob)";
            // Dates and times are ISO text: SQLite's CAST to "date" would make them numbers.
            case FieldKind::date: return "dorm_extract('date', %s)";
            case FieldKind::datetime: return "CAST(%s AS text)";
            case FieldKind::time: return "dorm_extract('time', %s)";
            case FieldKind::duration: return "CAST(%s AS integer)";
        }
        return "%s";
    }
    std::string combine_duration_expression(std::string_view op, std::optional<FieldKind> lhs,
                                            std::optional<FieldKind> rhs) const override {
        // As Django's: durations are integers of microseconds and dates text, so dorm_format_dtdelta (functions.ipp)
        // does the arithmetic, the operator bound as Django writes it into the SQL.
        if (op != "+" && op != "-" && op != "*" && op != "/")
            throw DatabaseError(fmt::format("dorm: Invalid connector for timedelta: {}.", op));
        auto number = [](std::optional<FieldKind> k) {
            return !k || *k == FieldKind::duration || *k == FieldKind::real || *k == FieldKind::small_integer ||
                   *k == FieldKind::integer || *k == FieldKind::big_integer;
        };
        if ((op == "*" || op == "/") && (!number(lhs) || !number(rhs)))  // Django's DurationExpression.as_sqlite
            throw DatabaseError(fmt::format("dorm: Invalid arguments for operator {}.", op));
        return fmt::format("dorm_format_dtdelta('{}', {{0}}, {{1}})", op);
    }
    std::string subtract_temporals(FieldKind lhs, FieldKind) const override {
        return lhs == FieldKind::time ? "dorm_time_diff({0}, {1})" : "dorm_timestamp_diff({0}, {1})";
    }

    std::string function_template(std::string_view f, const std::vector<FunctionArg>& args) const override {
        // As Django's as_sqlite(); COT, LPAD, RPAD, REPEAT, REVERSE, MD5, SHA*, SIGN and RAND are registered on
        // every connection, and the math functions when SQLite was built without them (functions.ipp).
        // Django's as_sqlite: the statement's start, in the text form dorm stores (microseconds: %f has milliseconds).
        if (f == "NOW") return "(STRFTIME('%Y-%m-%d %H:%M:%f', 'now') || '000')";
        if (f == "CHR") return "CHAR({0})";
        if (f == "ASCII") return "UNICODE({0})";
        if (f == "SUBSTRING") return "SUBSTR(" + argument_list(args.size()) + ")";
        if (f == "LEFT") return "SUBSTR({0}, 1, {1})";
        // Django's SUBSTR(x, n * -1, n): with the length, a length of 0 is empty text, as RIGHT(x, 0) is.
        if (f == "RIGHT") return "SUBSTR({0}, ({1}) * -1, {1})";
        // SQLite's multi-argument MAX / MIN are NULL when an argument is (Django documents the difference).
        if (f == "GREATEST") return "MAX(" + argument_list(args.size()) + ")";
        if (f == "LEAST") return "MIN(" + argument_list(args.size()) + ")";
        if (f == "RANDOM") return "RAND()";  // RANDOM() is a 64-bit integer, not a float in [0, 1)
        // Django's ConcatPair: a NULL on either side counts as ''.
        if (f == "CONCAT") return "(" + argument_list(args.size(), "COALESCE(%s, '')", " || ") + ")";
        if (f == "COLLATE") return collate(args);
        if (f == "ROUND") {
            // Django checks a precision given as a value, integer or not.
            const auto* v = args[1].value ? &args[1].value->variant() : nullptr;
            const auto* i = v ? std::get_if<std::int64_t>(v) : nullptr;
            const auto* d = v ? std::get_if<double>(v) : nullptr;
            if ((i && *i < 0) || (d && *d < 0)) throw ValueError("dorm: SQLite does not support negative precision.");
            // SQLite's ROUND is always a float; an integer stays one (Django's output field).
            auto k = args[0].kind;
            if (k == FieldKind::small_integer || k == FieldKind::integer || k == FieldKind::big_integer)
                return "CAST(ROUND({0}, {1}) AS integer)";
        }
        return backends::Dialect::function_template(f, args);
    }

    std::string trunc_template(std::string_view kind, FieldKind) const override {
        return fmt::format("dorm_trunc('{}', %s)", kind);  // kind is one of dorm's own names, checked before
    }
    // In a named zone: the same functions with the zone's name, read from the system's zone database (zones.ipp).
    std::string trunc_in_zone_template(std::string_view kind) const override {
        return fmt::format("dorm_trunc('{}', {{0}}, {{1}})", kind);
    }
    std::string extract_in_zone_template(std::string_view part) const override {
        return fmt::format("dorm_extract('{}', {{0}}, {{1}})", part);
    }
    std::string time_zone_parameter(std::string_view name) const override {
        (void)detail::find_zone(name);
        return std::string(name);
    }

    std::string explain_prefix(std::string_view format, std::string_view options) const override {
        // Django: a format SQLite cannot give, or any option, is a ValueError.
        if (!format.empty()) {
            std::string f(format);
            for (auto& ch : f) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            throw ValueError(fmt::format("dorm: {} is not a recognized format. SQLite does not support any formats.", f));
        }
        if (!options.empty()) throw ValueError(fmt::format("dorm: Unknown options: {}", options));
        return "EXPLAIN QUERY PLAN ";
    }

    // SQLite >= 3.32 allows 32766 host parameters per statement.
    std::size_t max_query_params() const noexcept override { return 32766; }
};

DORM_DECL const backends::Dialect& dialect() {
    static const Dialect d;
    return d;
}

}  // namespace dorm::backends::sqlite
