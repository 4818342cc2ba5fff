// SPDX-License-Identifier: MIT
// Definitions for <dorm/expressions.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/expressions.hpp>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <variant>

namespace dorm {

DORM_DECL Expression Expression::bitand_(const Expression& other) const {
    return Expression(detail::call_function("BITAND", {node_, other.node_}));
}
DORM_DECL Expression Expression::bitor_(const Expression& other) const {
    return Expression(detail::call_function("BITOR", {node_, other.node_}));
}
DORM_DECL Expression Expression::bitxor(const Expression& other) const {
    return Expression(detail::call_function("BITXOR", {node_, other.node_}));
}
DORM_DECL Expression Expression::bitleftshift(const Expression& other) const {
    return Expression(detail::call_function("BITLEFTSHIFT", {node_, other.node_}));
}
DORM_DECL Expression Expression::bitrightshift(const Expression& other) const {
    return Expression(detail::call_function("BITRIGHTSHIFT", {node_, other.node_}));
}

DORM_DECL auto Expression::make(detail::ExprNode::Kind k, std::string name, Value v, std::vector<detail::ExprNodePtr> args) -> detail::ExprNodePtr {
    auto n = dorm::detail::make_node<detail::ExprNode>();
    n->kind = k;
    n->name = std::move(name);
    n->value = std::move(v);
    n->args = std::move(args);
    return n;
}
}  // namespace dorm

namespace dorm::detail {

DORM_DECL bool is_sql_identifier(std::string_view s) {
    if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
    for (char ch : s)
        if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_')) return false;
    return true;
}

DORM_DECL ExprNodePtr func_node(std::string name, std::vector<ExprNodePtr> args, std::optional<FieldKind> output) {
    auto n = dorm::detail::make_node<ExprNode>();
    n->kind = ExprNode::Kind::func;
    n->name = std::move(name);
    n->args = std::move(args);
    n->output = output;
    return n;
}

namespace function_registry {
/// The number a constant argument holds, if it is one (Django checks only values, not expressions, and any number).
inline std::optional<double> constant_number(const ExprNodePtr& n) {
    if (n->kind != ExprNode::Kind::value) return std::nullopt;
    if (const auto* i = std::get_if<std::int64_t>(&n->value.variant())) return static_cast<double>(*i);
    if (const auto* d = std::get_if<double>(&n->value.variant())) return *d;
    return std::nullopt;
}
inline void check_collation(const std::vector<ExprNodePtr>& a) {
    const auto* name = a[1]->kind == ExprNode::Kind::value ? std::get_if<std::string>(&a[1]->value.variant()) : nullptr;
    bool ok = name && !name->empty();
    if (name)
        for (char ch : *name) ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-');
    if (!ok)
        throw ValueError(fmt::format("dorm: Invalid collation name: '{}'.", name ? *name : std::string("(not a text value)")));
}
inline void check_length_positive(const std::vector<ExprNodePtr>& a) {
    if (auto v = constant_number(a[1]); v && *v < 1) throw ValueError("dorm: 'length' must be greater than 0.");
}
inline void check_length_not_negative(const std::vector<ExprNodePtr>& a) {
    if (auto v = constant_number(a[1]); v && *v < 0) throw ValueError("dorm: 'length' must be greater or equal to 0.");
}
inline void check_number_not_negative(const std::vector<ExprNodePtr>& a) {
    if (auto v = constant_number(a[1]); v && *v < 0) throw ValueError("dorm: 'number' must be greater or equal to 0.");
}
inline void check_pos_positive(const std::vector<ExprNodePtr>& a) {
    if (auto v = constant_number(a[1]); v && *v < 1) throw ValueError("dorm: 'pos' must be greater than 0");
}

/// Extract's lookup name and Trunc's kind: one of Django's names, a text value (it is spelt into the SQL, not bound).
inline void check_date_part(const std::vector<ExprNodePtr>& a, std::string_view function,
                            std::initializer_list<std::string_view> parts) {
    const auto* name = a[1]->kind == ExprNode::Kind::value ? std::get_if<std::string>(&a[1]->value.variant()) : nullptr;
    if (!name || name->empty())
        throw ValueError(fmt::format("dorm: {} needs a {} ({})", function, function == "Extract" ? "lookup_name" : "kind",
                                     fmt::join(parts, ", ")));
    if (std::find(parts.begin(), parts.end(), *name) == parts.end())
        throw ValueError(fmt::format("dorm: {} has no '{}' (one of: {})", function, *name, fmt::join(parts, ", ")));
}
/// A tzinfo argument: a time zone's name, a text value (bound, never spelt into the SQL). Whether the zone exists
/// is the database's to say (SQLite's is checked against the system's zone database when the query is compiled).
inline void check_zone(const std::vector<ExprNodePtr>& a, std::size_t at) {
    if (a.size() <= at) return;
    const auto* name = a[at]->kind == ExprNode::Kind::value ? std::get_if<std::string>(&a[at]->value.variant()) : nullptr;
    if (!name) throw TypeError("dorm: tzinfo must be a time zone's name (\"Europe/Paris\")");
}
inline void check_extract(const std::vector<ExprNodePtr>& a) {
    check_date_part(a, "Extract", {"year", "iso_year", "quarter", "month", "week", "day", "week_day", "iso_week_day",
                                   "hour", "minute", "second"});
    check_zone(a, 2);
}
inline void check_trunc(const std::vector<ExprNodePtr>& a) {
    check_date_part(a, "Trunc", {"year", "quarter", "month", "week", "day", "hour", "minute", "second"});
    check_zone(a, 2);
}
inline void check_trunc_date_time(const std::vector<ExprNodePtr>& a) { check_zone(a, 1); }

// The window functions' counts are values, bound (Django's): a constant integer, positive, or a ValueError.
inline bool positive_int(const ExprNodePtr& n) {
    const auto* v = n->kind == ExprNode::Kind::value ? std::get_if<std::int64_t>(&n->value.variant()) : nullptr;
    return v && *v > 0;
}
inline void check_lag(const std::vector<ExprNodePtr>& a) {
    if (!positive_int(a[1])) throw ValueError("dorm: Lag requires a positive integer for the offset.");
}
inline void check_lead(const std::vector<ExprNodePtr>& a) {
    if (!positive_int(a[1])) throw ValueError("dorm: Lead requires a positive integer for the offset.");
}
inline void check_nth(const std::vector<ExprNodePtr>& a) {
    if (!positive_int(a[1])) throw ValueError("dorm: NthValue requires a positive integer as for nth.");
}
inline void check_buckets(const std::vector<ExprNodePtr>& a) {
    if (!positive_int(a[0])) throw ValueError("dorm: num_buckets must be greater than 0.");
}

inline constexpr std::size_t many = std::numeric_limits<std::size_t>::max();
inline constexpr auto real = FieldKind::real, text = FieldKind::text, integer = FieldKind::integer;
inline constexpr auto date = FieldKind::date, datetime = FieldKind::datetime, time = FieldKind::time;
inline constexpr std::optional<FieldKind> same = std::nullopt;  // the first typed argument's type

// Django's output types: NumericOutputFieldMixin's functions give floats (dorm has no decimals), Transforms
// without one (Abs, Ceil, Floor, Round, Sign) keep their argument's type.
inline constexpr FunctionInfo registry[] = {
    // comparison and conversion
    {"COALESCE", "Coalesce", 2, many, same},
    {"COLLATE", "Collate", 2, 2, same, check_collation},
    {"GREATEST", "Greatest", 2, many, same},
    {"LEAST", "Least", 2, many, same},
    {"NULLIF", "NullIf", 2, 2, same},
    // date and time (the part or kind, then the time zone: Trunc's type is its first argument's)
    {"EXTRACT", "Extract", 2, 3, integer, check_extract},
    {"NOW", "Now", 0, 0, datetime},
    {"TRUNC", "Trunc", 2, 3, same, check_trunc},
    {"TRUNCDATE", "TruncDate", 1, 2, date, check_trunc_date_time},
    {"TRUNCTIME", "TruncTime", 1, 2, time, check_trunc_date_time},
    // math
    // bitwise operations (Expression::bitand_() ...)
    {"BITAND", "bitand", 2, 2, same},
    {"BITOR", "bitor", 2, 2, same},
    {"BITXOR", "bitxor", 2, 2, same},
    {"BITLEFTSHIFT", "bitleftshift", 2, 2, same},
    {"BITRIGHTSHIFT", "bitrightshift", 2, 2, same},
    {"ABS", "Abs", 1, 1, same},
    {"ACOS", "ACos", 1, 1, real},
    {"ASIN", "ASin", 1, 1, real},
    {"ATAN", "ATan", 1, 1, real},
    {"ATAN2", "ATan2", 2, 2, real},
    {"CEILING", "Ceil", 1, 1, same},
    {"COS", "Cos", 1, 1, real},
    {"COT", "Cot", 1, 1, real},
    {"DEGREES", "Degrees", 1, 1, real},
    {"EXP", "Exp", 1, 1, real},
    {"FLOOR", "Floor", 1, 1, same},
    {"LN", "Ln", 1, 1, real},
    {"LOG", "Log", 2, 2, real},
    {"MOD", "Mod", 2, 2, real},
    {"PI", "Pi", 0, 0, real},
    {"POWER", "Power", 2, 2, real},
    {"RADIANS", "Radians", 1, 1, real},
    {"RANDOM", "Random", 0, 0, real},
    {"ROUND", "Round", 2, 2, same},
    {"SIGN", "Sign", 1, 1, same},
    {"SIN", "Sin", 1, 1, real},
    {"SQRT", "Sqrt", 1, 1, real},
    {"TAN", "Tan", 1, 1, real},
    // text
    {"CHR", "Chr", 1, 1, text},
    {"CONCAT", "Concat", 2, many, text},
    {"LEFT", "Left", 2, 2, text, check_length_positive},
    {"LENGTH", "Length", 1, 1, integer},
    {"LOWER", "Lower", 1, 1, text},
    {"LPAD", "LPad", 3, 3, text, check_length_not_negative},
    {"LTRIM", "LTrim", 1, 1, text},
    {"MD5", "MD5", 1, 1, text},
    {"ASCII", "Ord", 1, 1, integer},
    {"REPEAT", "Repeat", 2, 2, text, check_number_not_negative},
    {"REPLACE", "Replace", 3, 3, text},
    {"REVERSE", "Reverse", 1, 1, text},
    {"RIGHT", "Right", 2, 2, text, check_length_positive},
    {"RPAD", "RPad", 3, 3, text, check_length_not_negative},
    {"RTRIM", "RTrim", 1, 1, text},
    {"SHA1", "SHA1", 1, 1, text},
    {"SHA224", "SHA224", 1, 1, text},
    {"SHA256", "SHA256", 1, 1, text},
    {"SHA384", "SHA384", 1, 1, text},
    {"SHA512", "SHA512", 1, 1, text},
    {"INSTR", "StrIndex", 2, 2, integer},
    {"SUBSTRING", "Substr", 2, 3, text, check_pos_positive},
    {"TRIM", "Trim", 1, 1, text},
    {"UPPER", "Upper", 1, 1, text},
    // window functions (Window() computes them; the value functions keep their argument's type)
    {"CUME_DIST", "CumeDist", 0, 0, real, nullptr, true},
    {"DENSE_RANK", "DenseRank", 0, 0, integer, nullptr, true},
    {"FIRST_VALUE", "FirstValue", 1, 1, same, nullptr, true},
    {"LAG", "Lag", 2, 3, same, check_lag, true},
    {"LAST_VALUE", "LastValue", 1, 1, same, nullptr, true},
    {"LEAD", "Lead", 2, 3, same, check_lead, true},
    {"NTH_VALUE", "NthValue", 2, 2, same, check_nth, true},
    {"NTILE", "Ntile", 1, 1, integer, check_buckets, true},
    {"PERCENT_RANK", "PercentRank", 0, 0, real, nullptr, true},
    {"RANK", "Rank", 0, 0, integer, nullptr, true},
    {"ROW_NUMBER", "RowNumber", 0, 0, integer, nullptr, true},
};
}  // namespace function_registry

namespace aggregate_registry {
inline constexpr auto real = FieldKind::real, text = FieldKind::text, integer = FieldKind::integer;
inline constexpr std::optional<FieldKind> same = std::nullopt;
inline constexpr auto array = AggregateType::array, jsonb = AggregateType::jsonb;
/// A row of django.contrib.postgres.aggregates.
constexpr AggregateInfo postgresql(AggregateInfo a) {
    a.postgresql_only = true;
    return a;
}
// Django's output fields: FloatField for the statistics (dorm has no decimals), TextField for JSONBAgg's JSON,
// IntegerField for RegrCount; Count is a BigIntegerField's value in dorm (COUNT is bigint on PostgreSQL).
inline constexpr AggregateInfo registry[] = {
    // django.db.models.aggregates
    {"Count", "COUNT", "", 1, FieldKind::big_integer, true, false, false},
    {"Sum", "SUM", "", 1, same, true},
    {"Avg", "AVG", "", 1, real, true},
    {"Min", "MIN", "", 1, same},
    {"Max", "MAX", "", 1, same},
    {"StdDev", "STDDEV_POP", "STDDEV_SAMP", 1, real},
    {"Variance", "VAR_POP", "VAR_SAMP", 1, real},
    {"StringAgg", "STRING_AGG", "", 1, text, true, true},
    {"AnyValue", "ANY_VALUE", "", 1, same},
    // django.contrib.postgres.aggregates.general
    postgresql({"ArrayAgg", "ARRAY_AGG", "", 1, same, true, true, true, array}),
    postgresql({"BitAnd", "BIT_AND", "", 1, same}),
    postgresql({"BitOr", "BIT_OR", "", 1, same}),
    postgresql({"BitXor", "BIT_XOR", "", 1, same}),
    postgresql({"BoolAnd", "BOOL_AND", "", 1, FieldKind::boolean}),
    postgresql({"BoolOr", "BOOL_OR", "", 1, FieldKind::boolean}),
    postgresql({"JSONBAgg", "JSONB_AGG", "", 1, text, true, true, true, jsonb}),
    // django.contrib.postgres.aggregates.statistics (StatAggregate: y, x; filter and default only)
    postgresql({"Corr", "CORR", "", 2, real}),
    postgresql({"CovarPop", "COVAR_POP", "COVAR_SAMP", 2, real}),
    postgresql({"RegrAvgX", "REGR_AVGX", "", 2, real}),
    postgresql({"RegrAvgY", "REGR_AVGY", "", 2, real}),
    postgresql({"RegrCount", "REGR_COUNT", "", 2, integer, false, false, false}),
    postgresql({"RegrIntercept", "REGR_INTERCEPT", "", 2, real}),
    postgresql({"RegrR2", "REGR_R2", "", 2, real}),
    postgresql({"RegrSlope", "REGR_SLOPE", "", 2, real}),
    postgresql({"RegrSXX", "REGR_SXX", "", 2, real}),
    postgresql({"RegrSXY", "REGR_SXY", "", 2, real}),
    postgresql({"RegrSYY", "REGR_SYY", "", 2, real}),
};
}  // namespace aggregate_registry

DORM_DECL const AggregateInfo* find_aggregate(std::string_view django) noexcept {
    for (const auto& a : aggregate_registry::registry)
        if (a.django == django) return &a;
    return nullptr;
}

DORM_DECL const AggregateInfo* find_aggregate_function(std::string_view function) noexcept {
    for (const auto& a : aggregate_registry::registry)
        if (a.name == function || (!a.sample_name.empty() && a.sample_name == function)) return &a;
    return nullptr;
}

DORM_DECL const FunctionInfo* find_function(std::string_view name) noexcept {
    for (const auto& f : function_registry::registry)
        if (f.name == name) return &f;
    return nullptr;
}

DORM_DECL std::string argument_count(const FunctionInfo& f) {
    if (f.min_args == f.max_args) return fmt::format("{}", f.min_args);
    if (f.max_args == function_registry::many) return fmt::format("at least {}", f.min_args);
    return fmt::format("{} to {}", f.min_args, f.max_args);
}

DORM_DECL ExprNodePtr call_function(std::string_view name, std::vector<ExprNodePtr> args) {
    const auto* f = find_function(name);
    if (!f) throw ValueError(fmt::format("dorm: '{}' is not one of dorm's database functions", name));
    if (args.size() < f->min_args || args.size() > f->max_args)
        throw TypeError(fmt::format("dorm: '{}' takes {} argument(s) ({} given)", f->django, argument_count(*f), args.size()));
    if (f->check) f->check(args);
    auto n = dorm::detail::make_node<ExprNode>();
    n->kind = ExprNode::Kind::func;
    n->name = f->name;
    n->args = std::move(args);
    n->output = f->output;
    n->label = f->django;  // marks it as dorm's own: the dialect spells it, dumps() writes it
    return n;
}
}  // namespace dorm::detail

namespace dorm {

DORM_DECL Expression Func(std::string_view function, std::initializer_list<ExprArg> args, std::optional<FieldKind> output) {
    if (!detail::is_sql_identifier(function))
        throw ValueError(fmt::format("dorm: '{}' is not a valid SQL function name", function));
    std::vector<detail::ExprNodePtr> nodes;
    for (const auto& a : args) nodes.push_back(a.node());
    return Expression(detail::func_node(std::string(function), std::move(nodes), output));
}

DORM_DECL Expression Cast(const ExprArg& e, FieldKind kind) {
    auto n = dorm::detail::make_node<detail::ExprNode>();
    n->kind = detail::ExprNode::Kind::cast;
    n->args = {e.node()};
    n->output = kind;
    return Expression(std::move(n));
}

DORM_DECL Expression OuterRef(const Expression& inner) {
    if (inner.node()->kind != detail::ExprNode::Kind::outer_ref)
        throw TypeError("dorm: OuterRef() takes a field name, or another OuterRef (for the query one more level out)");
    return Expression(Expression::make(detail::ExprNode::Kind::outer_ref, inner.node()->name, {}, {inner.node()}));
}

DORM_DECL Expression ExpressionWrapper(const Expression& e, FieldKind output) {
    auto n = dorm::detail::make_node<detail::ExprNode>(*e.node());
    n->output = output;
    return Expression(std::move(n));
}

DORM_DECL Expression RawSQL(std::string_view sql, std::vector<Value> params, std::optional<FieldKind> output) {
    auto n = dorm::detail::make_node<detail::ExprNode>();
    n->kind = detail::ExprNode::Kind::raw;
    n->name = std::string(sql);
    for (auto& p : params) n->args.push_back(Expression(std::move(p)).node());
    n->output = output;
    return Expression(std::move(n));
}

}  // namespace dorm
