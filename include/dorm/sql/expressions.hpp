// SPDX-License-Identifier: MIT
// Resolved query expressions beyond columns and operators: aggregates, CASE, CAST and date truncation.
#pragma once

#include <dorm/config.hpp>

#include <dorm/errors.hpp>
#include <dorm/sql/ast.hpp>
#include <dorm/sql/compiler.hpp>
#include <dorm/window.hpp>

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
    /// The default (fallback), as the dialect casts it for this aggregate (Dialect::aggregate_default_template).
    void compile_fallback(Compiler& c) const;

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
    // Django's Q as an expression: the one condition as it is (Django's WhereNode in a SELECT list), so that it is
    // NULL where the condition is; the result (true) and fallback (false) when it matches everything or nothing.
    bool predicate = false;

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

/// A window function or an aggregate computed over a window of rows (Django's Window):
/// `RANK() OVER (PARTITION BY ... ORDER BY ... ROWS BETWEEN ... AND ...)`.
struct Window final : Expression {
    struct Term {
        ExprPtr expr;
        bool descending = false, nulls_first = false, nulls_last = false;
    };
    ExprPtr source;  // a window function (Func) or an Aggregate
    std::vector<ExprPtr> partition_by;
    std::vector<Term> order_by;
    std::optional<WindowFrame> frame;
    std::optional<FieldKind> output;

    bool is_window() const noexcept override { return true; }
    void sources(std::vector<const Expression*>& out) const override;
    /// What GROUP BY lists for it in an aggregating query (Django's Window.get_group_by_cols()): its partition
    /// and ordering, never the window itself.
    void group_by_sources(std::vector<const Expression*>& out) const;
    std::optional<FieldKind> output_kind() const override { return output ? output : source->output_kind(); }
    Match as_sql(Compiler& c) const override;

private:
    void over(Compiler& c) const;
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
