// SPDX-License-Identifier: MIT
// Resolved query expressions beyond columns and operators: aggregates, CASE, CAST and date truncation.
#pragma once

#include <dorm/config.hpp>

#include <dorm/errors.hpp>
#include <dorm/sql/ast.hpp>
#include <dorm/sql/compiler.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dorm::sql {

/// An aggregate function: `SUM(DISTINCT x) FILTER (WHERE ...)`, `COALESCE(AVG(x), default)`, `COUNT(*)`.
struct Aggregate final : Expression {
    std::string function;  // the standard name (COUNT, SUM, ...); the dialect gives its own spelling
    std::string label;     // Django's class name, for messages
    std::vector<ExprPtr> args;  // empty: COUNT(*)
    bool distinct = false;
    ExprPtr filter;    // filter=: only rows matching it are aggregated
    ExprPtr fallback;  // default=: the result when no row is aggregated
    std::vector<std::pair<ExprPtr, bool>> ordering;  // StringAgg's order_by: expression, descending
    std::optional<Value> delimiter;                   // StringAgg
    std::optional<FieldKind> output;

    bool is_aggregate() const noexcept override { return true; }
    void sources(std::vector<const Expression*>& out) const override;
    std::optional<FieldKind> output_kind() const override;

    Match as_sql(Compiler& c) const override;

private:
    static void condition(Compiler& c, const Expression& e) {
        Match m = c.compile(e);
        if (m == Match::nothing) c << "1 = 0";
        else if (m == Match::everything) c << "1 = 1";
    }
};

/// CASE WHEN cond THEN result ... ELSE default END (Django's Case / When).
struct Case final : Expression {
    std::vector<std::pair<ExprPtr, ExprPtr>> whens;  // condition, result
    ExprPtr fallback;                                // nullptr: ELSE NULL
    std::optional<FieldKind> output;

    void sources(std::vector<const Expression*>& out) const override;
    std::optional<FieldKind> output_kind() const override;
    Match as_sql(Compiler& c) const override;
};

/// CAST(value AS type), spelt by the dialect.
struct Cast final : Expression {
    Cast(ExprPtr a, FieldKind k) : arg(std::move(a)), kind(k) {}
    ExprPtr arg;
    FieldKind kind;
    void sources(std::vector<const Expression*>& out) const override { out.push_back(arg.get()); }
    std::optional<FieldKind> output_kind() const override { return kind; }
    Match as_sql(Compiler& c) const override;
};

/// A date or datetime truncated to a year, quarter, month, week, day, hour, minute or second (dates(), Trunc).
struct Trunc final : Expression {
    Trunc(std::string k, ExprPtr a, FieldKind in, std::string tz = {})
        : kind(std::move(k)), arg(std::move(a)), input(in), zone(std::move(tz)) {}
    std::string kind;
    ExprPtr arg;
    FieldKind input;
    std::string zone;  // empty: UTC
    void sources(std::vector<const Expression*>& out) const override { out.push_back(arg.get()); }
    std::optional<FieldKind> output_kind() const override { return input; }
    Match as_sql(Compiler& c) const override;
};

/// SQL written by the user (RawSQL, extra()): "%s" becomes the dialect's placeholder for the next parameter,
/// "%%" a percent sign; the whole is parenthesized, as Django does.
struct RawExpr final : Expression {
    RawExpr(std::string s, std::vector<Value> p, std::optional<FieldKind> k);
    std::string sql;
    std::vector<Value> params;
    std::optional<FieldKind> kind;
    std::optional<FieldKind> output_kind() const override { return kind; }
    Match as_sql(Compiler& c) const override;
    /// Writes `sql` with its "%s" bound to `params` in order.
    static void write(Compiler& c, std::string_view sql, const std::vector<Value>& params);
};

}  // namespace dorm::sql

#if DORM_HEADER_ONLY
#include <dorm/sql/impl/expressions.ipp>
#endif
