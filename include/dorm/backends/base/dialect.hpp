// SPDX-License-Identifier: MIT
// Dialect: everything that differs between databases in how SQL is written, as tables and small hooks.
#pragma once

#include <dorm/config.hpp>

#include <dorm/fields.hpp>
#include <dorm/value.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dorm {
/// Options of QuerySet::select_for_update() (Django's keyword arguments).
struct SelectForUpdate {
    bool nowait = false;
    bool skip_locked = false;
    std::vector<std::string> of{};  // "self" (the QuerySet's model); related fields come with select_related
    bool no_key = false;            // PostgreSQL's FOR NO KEY UPDATE
};
}  // namespace dorm

namespace dorm::detail {
struct AggregateInfo;  // <dorm/expressions.hpp>
}  // namespace dorm::detail

namespace dorm::backends {

/// How a pattern lookup's value is prepared before it is bound.
enum class PatternRhs {
    raw,               // as given
    fold,              // case-folded (dorm's UTF-8 fold, for databases whose own folding is ASCII-only)
    like_contains,     // LIKE-escaped, %value%
    like_prefix,       // LIKE-escaped, value%
    like_suffix,       // LIKE-escaped, %value
    glob_suffix,       // GLOB-escaped, *value
    fold_glob_suffix,  // case-folded, GLOB-escaped, *value
    prefix_range,      // two values: {rhs} = value, {rhs2} = the smallest string above every extension of it
};

/// A pattern lookup in one dialect: an SQL template with {lhs}, {rhs} (and {rhs2}), and the value's preparation;
/// and the template used when the right-hand side is an expression (an F()), which escapes the expression's
/// wildcards in SQL, as Django's pattern_esc does.
struct PatternSpec {
    std::string_view tmpl;
    PatternRhs rhs = PatternRhs::raw;
    std::string_view expression;
};

/// An argument of one of dorm's database functions, as a dialect sees it when spelling the call: its type, and its
/// value when it is a bound constant.
struct FunctionArg {
    std::optional<FieldKind> kind;
    const Value* value = nullptr;
    std::string_view field;  // the field's name when the argument is a column (Django's messages name it)
};

/// A time zone's name split as Django's split_tzname_delta() splits the names Python gives fixed offsets
/// ("UTC+05:00": `zone` "UTC", `offset` +18,000 seconds, east of it; "UTC-03:30:15" with seconds). Only an ending
/// [+-]H:MM or [+-]HH:MM, with or without :SS, is an offset: no zone database name has a colon, so "Etc/GMT+10"
/// stays a name (Django on Python 3.11 splits that one too). Otherwise `zone` is the whole name.
struct ZoneOffset {
    std::string_view zone;
    std::optional<int> offset;  // seconds
};
DORM_DECL ZoneOffset split_zone_offset(std::string_view name);

/// The SQL spelling of one database. Stateless; one static instance per backend.
class Dialect {
public:
    virtual ~Dialect() = default;

    /// "sqlite" or "postgresql": the name used in NotSupportedError messages.
    virtual std::string_view vendor() const noexcept = 0;

    /// Appends `name` as a quoted identifier. Identifiers come only from model metadata.
    virtual void quote_name(std::string& out, std::string_view name) const;

    /// Appends the placeholder of the `n`-th bound parameter (1-based): "?" or "$n".
    virtual void placeholder(std::string& out, std::size_t n) const = 0;

    /// The SQL template of a comparison lookup, "%s" standing for the right-hand side
    /// (Django's `operators` table), or an empty view when the lookup needs a node of its own.
    virtual std::string_view lookup_operator(std::string_view lookup) const;

    /// iexact, contains, icontains, startswith, ..., regex, iregex: how this database writes them.
    virtual PatternSpec pattern(std::string_view lookup) const = 0;

    /// The SQL of a transform ("%s" is its argument): `year` of a date, `hour` of a time, ...
    /// `input` is the kind of the argument (a date, a datetime or a time).
    virtual std::string_view transform_template(std::string_view name, FieldKind input) const = 0;

    /// Appends " LIMIT n OFFSET m" for a slice [offset, offset + limit); `limit` empty means unbounded.
    virtual void limit_offset(std::string& out, std::optional<std::int64_t> limit, std::int64_t offset) const = 0;

    /// The template of DISTINCT ON, "%s" standing for the field list: "DISTINCT ON (%s)"; backends without it
    /// raise NotSupportedError.
    virtual std::string_view distinct_on_template() const;

    /// Whether SELECT ... FOR UPDATE exists; where it does not, select_for_update() has no effect (Django).
    virtual bool has_select_for_update() const noexcept { return false; }
    /// Appends the row-locking clause for `lock`; `of` are the quoted tables to lock (empty: all).
    virtual void for_update(std::string& out, const SelectForUpdate& lock, const std::vector<std::string>& of) const;

    /// The function that orders rows randomly (`order_by("?")`).
    virtual std::string_view random_function() const noexcept { return "RANDOM()"; }

    /// The column type in CREATE TABLE for a field; `auto_increment` primary keys get their whole clause here.
    virtual std::string column_type(const FieldMeta& f) const = 0;
    /// The clause that makes an integer primary key assigned by the database, after the column name.
    virtual std::string auto_increment_column(const FieldMeta& f) const = 0;

    /// The operator class of a second index that lets LIKE 'prefix%' use an index on an indexed text column
    /// whatever the collation (PostgreSQL's varchar_pattern_ops, as Django creates); empty: none needed.
    virtual std::string_view like_index_opclass(const FieldMeta&) const { return {}; }

    /// Appended to DROP TABLE (PostgreSQL: " CASCADE", so dependent constraints go too).
    virtual std::string_view drop_table_suffix() const noexcept { return {}; }

    /// A literal for display in `QuerySet::sql()` (never used in executed SQL: values are always bound).
    std::string literal(const Value& v) const;
    /// 'text' with quotes doubled.
    static std::string quote_string(std::string_view s);

    /// Literal hooks: booleans, binary data, and what follows a DateTime's ISO text (a UTC offset).
    virtual std::string bool_literal(bool b) const { return b ? "1" : "0"; }
    virtual std::string bytes_literal(const Bytes& b) const;
    virtual std::string_view datetime_suffix() const noexcept { return {}; }
    /// An array's literal (ArrayAgg's default); NotSupportedError where the database has no array type.
    virtual std::string array_literal(const Array& a) const;

    /// The SQL function of an aggregate, given by its standard name (detail::AggregateInfo: COUNT, SUM, ...,
    /// STRING_AGG, ANY_VALUE, and PostgreSQL's ARRAY_AGG ... REGR_SYY) and the kind of its first argument; throws
    /// NotSupportedError where this database has no equivalent.
    virtual std::string_view aggregate_function(std::string_view function, std::optional<FieldKind> input) const;
    /// The template of aggregate `info`'s default= inside COALESCE(<aggregate>, ...), "%s" standing for the default,
    /// given the kind of the aggregate's first argument: a cast where a bound value is not of the aggregate's SQL type
    /// by itself (detail::AggregateType: PostgreSQL's jsonb, an array of the argument's type).
    virtual std::string aggregate_default_template(const dorm::detail::AggregateInfo& info,
                                                   std::optional<FieldKind> input) const;
    /// Whether aggregates take `FILTER (WHERE ...)`; without it dorm writes `CASE WHEN ... END` inside them.
    virtual bool supports_aggregate_filter_clause() const noexcept { return true; }
    /// Whether an aggregate's arguments may end in ORDER BY (StringAgg's order_by).
    virtual bool supports_aggregate_order_by() const noexcept { return true; }
    /// Whether DISTINCT aggregates may take several arguments (StringAgg's delimiter).
    virtual bool supports_aggregate_distinct_multiple_arguments() const noexcept { return true; }
    /// The SQL template of one of dorm's database functions (dorm/functions.hpp, by the key of
    /// detail::FunctionInfo) called with `args`: "{0}", "{1}", ... stand for the arguments, in any order and as
    /// often as needed (each is compiled, and its parameters bound, where it stands). Empty: the standard
    /// `NAME(arg, ...)`. Throws NotSupportedError or ValueError where this database cannot do the call.
    virtual std::string function_template(std::string_view function, const std::vector<FunctionArg>& args) const;
    /// "{0} COLLATE "name"": Collate's template, the collation (a checked name) quoted as an identifier.
    std::string collate(const std::vector<FunctionArg>& args) const;
    /// "{0}, {1}, ..." for `n` arguments, each in `each` ("%s" is the argument: "COALESCE(%s, '')").
    static std::string argument_list(std::size_t n, std::string_view each = "%s", std::string_view separator = ", ");
    /// Django's combine_duration_expression(): the SQL of `op` (+, -, *, /) between a duration and a date, datetime,
    /// time or number (either side may be the duration; `lhs` and `rhs` are their kinds where known), "{0}" and
    /// "{1}" standing for the operands. Empty: "({0} op {1})", for databases with an interval type.
    virtual std::string combine_duration_expression(std::string_view op, std::optional<FieldKind> lhs,
                                                    std::optional<FieldKind> rhs) const;
    /// Django's subtract_temporals(): the SQL of the duration between two dates, datetimes or times, "{0}" minus
    /// "{1}" (`lhs` and `rhs` their kinds).
    virtual std::string subtract_temporals(FieldKind lhs, FieldKind rhs) const;
    /// A duration's literal, for display.
    virtual std::string duration_literal(Duration d) const { return std::to_string(d.count()); }
    /// The SQL template ("%s" is the value) that converts a value to `kind` (Cast).
    virtual std::string cast_template(FieldKind kind) const = 0;
    /// The SQL template ("%s" is the value) that truncates a date (`input` date) or a datetime to `kind`
    /// (year, quarter, month, week, day, hour, minute, second), keeping `input`'s type.
    virtual std::string trunc_template(std::string_view kind, FieldKind input) const = 0;
    /// The same for a datetime truncated in a named time zone's wall time, giving the instant of that local time:
    /// "{0}" is the value, "{1}" the zone's name (bound). By default NotSupportedError: no zone database.
    virtual std::string trunc_in_zone_template(std::string_view kind) const;
    /// A part of a datetime (a transform's name: year ... second, date, time) read in a named time zone's wall
    /// time: "{0}" is the value, "{1}" the zone's name (bound). By default NotSupportedError, as above.
    virtual std::string extract_in_zone_template(std::string_view part) const;
    /// The parameter bound for a time zone's name (a `tzinfo`), checked when the query is compiled where the
    /// database's zones are known to dorm (DataError, as the server's "time zone ... not recognized"). By default
    /// the name itself, which the server checks.
    virtual std::string time_zone_parameter(std::string_view name) const { return std::string(name); }
    /// A part (day, hour, minute, second) of a duration, Extract of a DurationField: "{0}" is the value. Databases
    /// without a native duration type raise Django's ValueError.
    virtual std::string duration_extract_template(std::string_view part) const;
    /// Whether set operations (UNION, ...) may have ORDER BY / LIMIT in their parts (within parentheses).
    virtual bool supports_slicing_ordering_in_compound() const noexcept { return true; }

    /// The prefix that turns a query into its plan (`explain()`).
    virtual std::string explain_prefix(std::string_view format, std::string_view options) const = 0;

    /// The most parameters one statement may bind; bulk operations split their batches to fit.
    virtual std::size_t max_query_params() const noexcept = 0;

    /// Whether text values may contain NUL characters (PostgreSQL's text cannot hold them).
    virtual bool text_accepts_nul() const noexcept { return true; }
    /// Whether UPDATE ... FROM (VALUES ...) exists (bulk_update() writes one CASE per row and field without it).
    virtual bool has_update_from() const noexcept { return true; }
    /// Whether the columns of a VALUES list need casts to their field's type (PostgreSQL types a column of
    /// NULL parameters as text).
    virtual bool values_need_casts() const noexcept { return false; }
    /// Whether a connection tells the automatic key of the row it inserted last (Connection::last_insert_id()),
    /// so that a one-row INSERT needs no RETURNING (which costs SQLite a temporary table per statement).
    virtual bool has_last_insert_id() const noexcept { return false; }
};

}  // namespace dorm::backends

#if DORM_HEADER_ONLY
#include <dorm/backends/base/impl/dialect.ipp>
#endif
