// SPDX-License-Identifier: MIT
// PostgreSQL's SQL spelling: $n placeholders, identity columns, DISTINCT ON, EXPLAIN options, literals.
#pragma once

#include <dorm/backends/postgresql/dialect.hpp>
#include <dorm/expressions.hpp>

#include <algorithm>
#include <array>
#include <string>
#include <type_traits>
#include <variant>

namespace dorm::backends::postgresql {

namespace detail {
/// An Array in PostgreSQL's text form of arrays (what array_in reads): `{"1",NULL,"a \"b\""}`, every element quoted
/// but NULL, with '"' and '\' escaped, each written as dorm writes a value of its type as text. It is bound as a
/// parameter of no type, so the SQL around it casts it to the array type meant (aggregate_default_template).
inline std::string array_text(const Array& a) {
    std::string out = "{";
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (i) out += ',';
        if (a[i].is_null()) {
            out += "NULL";
            continue;
        }
        std::string element = std::visit(
            [](const auto& x) -> std::string {
                using X = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<X, bool>) return x ? "t" : "f";
                else if constexpr (std::is_same_v<X, std::int64_t>) return std::to_string(x);
                else if constexpr (std::is_same_v<X, double>) return fmt::format("{}", x);
                else if constexpr (std::is_same_v<X, std::string>) return x;
                else if constexpr (std::is_same_v<X, Bytes>) {
                    std::string hex = "\\x";
                    for (auto byte : x) hex += fmt::format("{:02x}", static_cast<unsigned>(byte));
                    return hex;
                } else if constexpr (std::is_same_v<X, Date>) {
                    dorm::detail::check_writable(x);
                    return dorm::detail::to_iso(x);
                } else if constexpr (std::is_same_v<X, DateTime>) {
                    dorm::detail::check_writable(x);
                    return dorm::detail::to_iso(x) + "+00";
                } else if constexpr (std::is_same_v<X, Time>) {
                    return dorm::detail::to_iso(x);
                } else if constexpr (std::is_same_v<X, Duration>) {
                    return fmt::format("{} microseconds", x.count());
                } else if constexpr (std::is_same_v<X, Array>) {
                    throw NotSupportedError("dorm: an array of arrays cannot be written: dorm's arrays are "
                                            "one-dimensional, as ArrayAgg's results");
                } else {
                    return {};  // NULL: written above
                }
            },
            a[i].variant());
        // The whole text is one C string for libpq: a NUL would end it there.
        if (element.find('\0') != std::string::npos)
            throw ValueError("dorm: A string literal cannot contain NUL (0x00) characters (an element of an array).");
        out += '"';
        for (char ch : element) {
            if (ch == '"' || ch == '\\') out += '\\';
            out += ch;
        }
        out += '"';
    }
    out += '}';
    return out;
}
}  // namespace detail

class Dialect final : public backends::Dialect {
public:
    std::string_view vendor() const noexcept override { return "postgresql"; }

    void placeholder(std::string& out, std::size_t n) const override {
        out += '$';
        out += std::to_string(n);
    }

    PatternSpec pattern(std::string_view lookup) const override {
        // An expression on the right is cast to text and its LIKE wildcards escaped in SQL (Django's pattern_esc;
        // standard_conforming_strings makes '\' one backslash, LIKE's default escape character).
#define DORM_LIKE_ESCAPED "REPLACE(REPLACE(REPLACE(({rhs})::text, '\\', '\\\\'), '%', '\\%'), '_', '\\_')"
        if (lookup == "iexact") return {"UPPER({lhs}) = UPPER({rhs})", PatternRhs::raw, "UPPER({lhs}) = UPPER(({rhs})::text)"};
        if (lookup == "contains")
            return {"{lhs} LIKE {rhs}", PatternRhs::like_contains, "{lhs} LIKE '%' || " DORM_LIKE_ESCAPED " || '%'"};
        if (lookup == "icontains")
            return {"UPPER({lhs}) LIKE UPPER({rhs})", PatternRhs::like_contains,
                    "UPPER({lhs}) LIKE '%' || UPPER(" DORM_LIKE_ESCAPED ") || '%'"};
        if (lookup == "startswith")
            return {"{lhs} LIKE {rhs}", PatternRhs::like_prefix, "{lhs} LIKE " DORM_LIKE_ESCAPED " || '%'"};
        if (lookup == "istartswith")
            return {"UPPER({lhs}) LIKE UPPER({rhs})", PatternRhs::like_prefix,
                    "UPPER({lhs}) LIKE UPPER(" DORM_LIKE_ESCAPED ") || '%'"};
        if (lookup == "endswith")
            return {"{lhs} LIKE {rhs}", PatternRhs::like_suffix, "{lhs} LIKE '%' || " DORM_LIKE_ESCAPED};
        if (lookup == "iendswith")
            return {"UPPER({lhs}) LIKE UPPER({rhs})", PatternRhs::like_suffix,
                    "UPPER({lhs}) LIKE '%' || UPPER(" DORM_LIKE_ESCAPED ")"};
#undef DORM_LIKE_ESCAPED
        if (lookup == "regex") return {"{lhs} ~ {rhs}", PatternRhs::raw, "{lhs} ~ ({rhs})::text"};
        if (lookup == "iregex") return {"{lhs} ~* {rhs}", PatternRhs::raw, "{lhs} ~* ({rhs})::text"};
        return {};
    }

    std::string_view transform_template(std::string_view name, FieldKind input) const override {
        // EXTRACT returns numeric; dorm casts to integer. DateTime columns are timestamptz read in UTC.
        if (name == "year") return "EXTRACT(YEAR FROM %s)::integer";
        if (name == "iso_year") return "EXTRACT(ISOYEAR FROM %s)::integer";
        if (name == "month") return "EXTRACT(MONTH FROM %s)::integer";
        if (name == "day") return "EXTRACT(DAY FROM %s)::integer";
        if (name == "week") return "EXTRACT(WEEK FROM %s)::integer";
        if (name == "week_day") return "(EXTRACT(DOW FROM %s)::integer + 1)";
        if (name == "iso_week_day") return "EXTRACT(ISODOW FROM %s)::integer";
        if (name == "quarter") return "EXTRACT(QUARTER FROM %s)::integer";
        if (name == "date") return "(%s AT TIME ZONE 'UTC')::date";
        if (name == "time") return "(%s AT TIME ZONE 'UTC')::time";
        if (name == "hour") return "EXTRACT(HOUR FROM %s)::integer";
        if (name == "minute") return "EXTRACT(MINUTE FROM %s)::integer";
        if (name == "second") return "FLOOR(EXTRACT(SECOND FROM %s))::integer";
        (void)input;
        return {};
    }

    void limit_offset(std::string& out, std::optional<std::int64_t> limit, std::int64_t offset) const override {
        if (limit) {
            out += " LIMIT ";
            out += std::to_string(*limit);
        }
        if (offset) {
            out += " OFFSET ";
            out += std::to_string(offset);
        }
    }

    std::string_view distinct_on_template() const override { return "DISTINCT ON (%s)"; }

    std::string column_type(const FieldMeta& f) const override {
        switch (f.kind) {
            case FieldKind::boolean: return "boolean";
            case FieldKind::small_integer: return "smallint";
            case FieldKind::integer: return "integer";
            case FieldKind::big_integer: return "bigint";
            case FieldKind::real: return "double precision";
            case FieldKind::text: return f.max_length ? "varchar(" + std::to_string(*f.max_length) + ")" : "text";
            case FieldKind::bytes: return "bytea";
            case FieldKind::date: return "date";
            case FieldKind::datetime: return "timestamp with time zone";
            case FieldKind::time: return "time";
            case FieldKind::duration: return "interval";
        }
        return "text";
    }
    std::string auto_increment_column(const FieldMeta& f) const override {
        return column_type(f) + " NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY";
    }
    std::string_view drop_table_suffix() const noexcept override { return " CASCADE"; }
    std::string_view like_index_opclass(const FieldMeta& f) const override {
        if (f.kind != FieldKind::text || f.primary_key) return {};
        return f.max_length ? "varchar_pattern_ops" : "text_pattern_ops";
    }

    std::string bool_literal(bool b) const override { return b ? "true" : "false"; }
    std::string bytes_literal(const Bytes& b) const override {
        std::string s = "'\\x";
        for (auto byte : b) s += fmt::format("{:02x}", static_cast<unsigned>(byte));
        return s + "'::bytea";
    }
    std::string_view datetime_suffix() const noexcept override { return "+00:00"; }
    std::string duration_literal(Duration d) const override {
        return fmt::format("'{} microseconds'::interval", d.count());
    }
    std::string subtract_temporals(FieldKind lhs, FieldKind rhs) const override {
        // date - date is a number of days (Django's subtract_temporals); the other differences are intervals.
        if (lhs == FieldKind::date && rhs == FieldKind::date) return "(interval '1 day' * ({0} - {1}))";
        return "({0} - {1})";
    }

    bool has_select_for_update() const noexcept override { return true; }
    void for_update(std::string& out, const SelectForUpdate& lock, const std::vector<std::string>& of) const override {
        out += lock.no_key ? " FOR NO KEY UPDATE" : " FOR UPDATE";
        for (std::size_t i = 0; i < of.size(); ++i) {
            out += i ? ", " : " OF ";
            out += of[i];
        }
        if (lock.nowait) out += " NOWAIT";
        if (lock.skip_locked) out += " SKIP LOCKED";
    }

    /// EXPLAIN [(FORMAT f, OPTION true, ...)]: `options` is a comma-separated list of PostgreSQL's EXPLAIN
    /// options; anything else is a ValueError (they are written into the SQL, so they are checked by name).
    std::string explain_prefix(std::string_view format, std::string_view options) const override {
        static constexpr std::array<std::string_view, 4> formats{"TEXT", "XML", "JSON", "YAML"};
        static constexpr std::array<std::string_view, 9> known{"ANALYZE", "BUFFERS", "COSTS", "GENERIC_PLAN",
                                                               "SETTINGS", "SUMMARY", "TIMING", "VERBOSE", "WAL"};
        std::vector<std::string> parts;
        if (!format.empty()) {
            std::string f = upper(format);
            if (std::find(formats.begin(), formats.end(), f) == formats.end())
                throw ValueError(fmt::format("dorm: {} is not a recognized format. Allowed formats: TEXT, XML, JSON, YAML", format));
            parts.push_back("FORMAT " + f);
        }
        for (std::size_t pos = 0; pos < options.size();) {
            auto comma = options.find(',', pos);
            auto word = options.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
            while (!word.empty() && word.front() == ' ') word.remove_prefix(1);
            while (!word.empty() && word.back() == ' ') word.remove_suffix(1);
            std::string o = upper(word);
            if (std::find(known.begin(), known.end(), o) == known.end())
                throw ValueError(fmt::format("dorm: Unknown options: {}", word));
            parts.push_back(o + " true");
            if (comma == std::string_view::npos) break;
            pos = comma + 1;
        }
        if (parts.empty()) return "EXPLAIN ";
        return fmt::format("EXPLAIN ({}) ", fmt::join(parts, ", "));
    }

    std::size_t max_query_params() const noexcept override { return 65535; }

    /// `any_value`: the server has ANY_VALUE (PostgreSQL 16 and later).
    explicit Dialect(bool any_value = false) : any_value_(any_value) {}

    std::string_view aggregate_function(std::string_view function, std::optional<FieldKind>) const override {
        if (function == "ANY_VALUE" && !any_value_)
            throw NotSupportedError("dorm: ANY_VALUE is not supported on this database backend (PostgreSQL < 16).");
        return function;
    }
    // A bound default is text, bigint, ...: JSONB_AGG's is JSON text, which COALESCE needs as jsonb; ARRAY_AGG's an
    // array's text of no type, which it needs as an array of the argument's type (Django's ArrayField placeholder,
    // "%s::integer[]").
    std::string aggregate_default_template(const dorm::detail::AggregateInfo& info,
                                           std::optional<FieldKind> input) const override {
        switch (info.type) {
            case dorm::detail::AggregateType::plain: break;
            case dorm::detail::AggregateType::jsonb: return "(%s)::jsonb";
            case dorm::detail::AggregateType::array:
                if (input) return cast_template(*input) + "[]";
                break;
        }
        return "%s";
    }
    std::string array_literal(const Array& a) const override { return quote_string(detail::array_text(a)); }
    bool values_need_casts() const noexcept override { return true; }
    bool text_accepts_nul() const noexcept override { return false; }
    std::string cast_template(FieldKind kind) const override {
        FieldMeta f{};
        f.kind = kind;
        return "(%s)::" + column_type(f);
    }
    std::string function_template(std::string_view f, const std::vector<FunctionArg>& args) const override {
        if (f == "NOW") return "STATEMENT_TIMESTAMP()";
        if (f == "BITXOR") return "({0} # {1})";
        // A shift count is an integer: bound integers are bigint, and there is no bigint << bigint.
        if (f == "BITLEFTSHIFT") return "({0} << ({1})::integer)";
        if (f == "BITRIGHTSHIFT") return "({0} >> ({1})::integer)";
        if (f == "INSTR") return "STRPOS({0}, {1})";
        // Django's ConcatPair: CONCAT skips NULLs; each argument is cast to text, as CONCAT takes "any".
        if (f == "CONCAT") return "CONCAT(" + argument_list(args.size(), "(%s)::text") + ")";
        if (f == "COLLATE") return collate(args);
        // Django's FixDecimalInputMixin: there is no LOG, MOD or ROUND(_, n) of double precision, so float arguments
        // become numeric. Counts and positions are integer parameters (bound integers are bigint). CEILING, FLOOR
        // and SIGN of an integer give double precision, ROUND(integer, n) numeric (-3.00): cast back to the
        // argument's type (Django's output field), as SQLite gives it.
        static constexpr struct {
            std::string_view function;
            unsigned numeric_args, integer_args;  // bit i: argument i
        } casts[] = {{"LOG", 3, 0},  {"MOD", 3, 0},    {"ROUND", 1, 2}, {"CHR", 0, 1},  {"LEFT", 0, 2},
                     {"RIGHT", 0, 2}, {"REPEAT", 0, 2}, {"LPAD", 0, 2},  {"RPAD", 0, 2}, {"SUBSTRING", 0, 6},
                     {"LAG", 0, 2},   {"LEAD", 0, 2},   {"NTH_VALUE", 0, 2}, {"NTILE", 0, 1}};
        for (const auto& c : casts) {
            if (c.function != f) continue;
            std::string out = std::string(f) + "(";
            for (std::size_t i = 0; i < args.size(); ++i) {
                if (i) out += ", ";
                auto arg = fmt::format("{{{}}}", i);
                if ((c.numeric_args >> i & 1) && args[i].kind == FieldKind::real) arg = "(" + arg + ")::numeric(1000, 15)";
                else if ((c.integer_args >> i & 1) && args[i].kind == FieldKind::big_integer) arg = "(" + arg + ")::integer";
                out += arg;
            }
            out += ")";
            // An integer rounded stays an integer (Django's int() of the numeric), as wide as any: ROUND(32767, -1)
            // is 32770, past a smallint.
            if (f == "ROUND" && is_integer(args[0].kind)) return fmt::format("({})::bigint", out);
            return out;
        }
        if ((f == "CEILING" || f == "FLOOR" || f == "SIGN") && is_integer(args[0].kind))
            return fmt::format("({}({{0}}))::{}", f, column_type_of(*args[0].kind));
        // Django spells all five with pgcrypto's DIGEST; the SHA-2 digests are built in (PostgreSQL 11), so only SHA1
        // needs that extension. CONVERT_TO: the digest of the UTF-8 bytes, as on SQLite.
        if (f == "SHA1") return "ENCODE(DIGEST({0}, 'sha1'), 'hex')";
        if (f.starts_with("SHA")) return fmt::format("ENCODE({}(CONVERT_TO({{0}}, 'UTF8')), 'hex')", f);
        return backends::Dialect::function_template(f, args);
    }

    std::string trunc_template(std::string_view kind, FieldKind input) const override {
        // DateTime columns are timestamptz, truncated in UTC as dorm's DateTime is.
        if (input == FieldKind::date) return fmt::format("DATE_TRUNC('{}', %s)::date", kind);
        if (input == FieldKind::time) return fmt::format("DATE_TRUNC('{}', %s)::time", kind);  // through interval
        return fmt::format("(DATE_TRUNC('{}', %s AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')", kind);
    }
    std::string trunc_in_zone_template(std::string_view kind) const override {
        // Truncated in the zone's wall time, then back to the instant (dorm's DateTime is UTC).
        return fmt::format("(DATE_TRUNC('{}', {{0}} AT TIME ZONE {{1}}) AT TIME ZONE {{1}})", kind);
    }
    std::string time_zone_parameter(std::string_view name) const override {
        // Django's _prepare_tzname_delta(): PostgreSQL reads "UTC+05:00" as a POSIX zone, whose offsets count
        // west, so the fixed offset Python names "UTC+05:00" (five hours east) is sent as "UTC-05:00".
        auto [zone, offset] = split_zone_offset(name);
        if (!offset) return std::string(name);
        std::string out(name);
        out[zone.size()] = name[zone.size()] == '+' ? '-' : '+';
        return out;
    }
    std::string extract_in_zone_template(std::string_view part) const override {
        // Django's _convert_sql_to_tz(): the part of the wall time there (a timestamp without time zone).
        if (part == "date") return "({0} AT TIME ZONE {1})::date";
        if (part == "time") return "({0} AT TIME ZONE {1})::time";
        std::string out(transform_template(part, FieldKind::datetime));
        for (auto at = out.find("%s"); at != std::string::npos; at = out.find("%s", at))
            out.replace(at, 2, "({0} AT TIME ZONE {1})");
        return out;
    }
    std::string duration_extract_template(std::string_view part) const override {
        // Django's time_extract_sql(): an interval's own fields (its days; hours, minutes and seconds of its time),
        // whole seconds truncated towards zero.
        if (part == "day") return "EXTRACT(DAY FROM {0})::integer";
        if (part == "hour") return "EXTRACT(HOUR FROM {0})::integer";
        if (part == "minute") return "EXTRACT(MINUTE FROM {0})::integer";
        return "EXTRACT(SECOND FROM DATE_TRUNC('second', {0}))::integer";
    }

private:
    bool any_value_;
    static bool is_integer(std::optional<FieldKind> k) {
        return k == FieldKind::small_integer || k == FieldKind::integer || k == FieldKind::big_integer;
    }
    std::string column_type_of(FieldKind kind) const {
        FieldMeta f{};
        f.kind = kind;
        return column_type(f);
    }
    static std::string upper(std::string_view s) {
        std::string out(s);
        for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return out;
    }
};

/// The dialect of a server: `any_value` for PostgreSQL 16 and later.
DORM_DECL const backends::Dialect& dialect(bool any_value) {
    static const Dialect before_16(false), since_16(true);
    return any_value ? since_16 : before_16;
}

}  // namespace dorm::backends::postgresql
