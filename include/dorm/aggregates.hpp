// SPDX-License-Identifier: MIT
// Aggregate functions: Django's Count ... AnyValue, and django.contrib.postgres's (ArrayAgg ... RegrSYY).
#pragma once

#include <dorm/config.hpp>
#include <dorm/detail/node_pool.hpp>

#include <dorm/errors.hpp>
#include <dorm/expressions.hpp>
#include <dorm/q.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dorm {

/// An ordering term inside an aggregate: "headline", "-pub_date", or `F("rating").desc()`.
class AggregateOrder {
public:
    AggregateOrder(const char* name) : AggregateOrder(std::string_view(name)) {}  // NOLINT: implicit
    AggregateOrder(std::string_view name) {                                       // NOLINT
        descending_ = name.starts_with('-');
        if (descending_) name.remove_prefix(1);
        node_ = F(name).node();
    }
    AggregateOrder(const OrderByExpression& o) : node_(o.expression.node()), descending_(o.descending) {}  // NOLINT
    AggregateOrder(const Expression& e) : node_(e.node()) {}                                              // NOLINT
    const detail::ExprNodePtr& node() const noexcept { return node_; }
    bool descending() const noexcept { return descending_; }

private:
    detail::ExprNodePtr node_;
    bool descending_ = false;
};

/// Django's aggregate keyword arguments: `Count("rating", {.distinct = true, .filter = Q("rating__gt", 3)})`,
/// `Sum("rating", {.default_ = 0})`, `StdDev("rating", {.sample = true})`. Each aggregate takes those Django allows
/// it (detail::AggregateInfo), and refuses the others (TypeError).
struct AggregateOptions {
    bool distinct = false;
    std::optional<Q> filter{};                 // only rows matching it are aggregated
    std::optional<Expression> default_{};      // the result over no rows (instead of NULL)
    std::optional<FieldKind> output_field{};   // the result's type
    bool sample = false;                       // StdDev / Variance / CovarPop: the sample statistic (n - 1)
    std::vector<AggregateOrder> order_by{};    // StringAgg, ArrayAgg, JSONBAgg: the order of the values (Django's
                                               // OrderableAggMixin `ordering`, `order_by` since Django 5.2)
};

namespace detail {
/// A call of the registered aggregate of Django class name `django` (its options checked as Django does).
DORM_DECL Expression aggregate(std::string_view django, std::vector<ExprArg> args, const AggregateOptions& o);
}  // namespace detail

/// COUNT(x), COUNT(DISTINCT x), or COUNT(*) for `Count("*")`; 0 over no rows.
DORM_DECL Expression Count(const ExprArg& e, const AggregateOptions& o = {});
inline Expression Sum(const ExprArg& e, const AggregateOptions& o = {}) { return detail::aggregate("Sum", {e}, o); }
inline Expression Avg(const ExprArg& e, const AggregateOptions& o = {}) { return detail::aggregate("Avg", {e}, o); }
inline Expression Min(const ExprArg& e, const AggregateOptions& o = {}) { return detail::aggregate("Min", {e}, o); }
inline Expression Max(const ExprArg& e, const AggregateOptions& o = {}) { return detail::aggregate("Max", {e}, o); }
/// Standard deviation: of the population, or of a sample with `{.sample = true}`.
inline Expression StdDev(const ExprArg& e, const AggregateOptions& o = {}) { return detail::aggregate("StdDev", {e}, o); }
/// Variance: of the population, or of a sample with `{.sample = true}`.
inline Expression Variance(const ExprArg& e, const AggregateOptions& o = {}) {
    return detail::aggregate("Variance", {e}, o);
}
/// The values joined by `delimiter` (text values: Cast() others), in `order_by` order where the database allows.
DORM_DECL Expression StringAgg(const ExprArg& e, std::string_view delimiter, const AggregateOptions& o = {});
/// Any one value of the group (PostgreSQL 16+; MIN on SQLite).
inline Expression AnyValue(const ExprArg& e, const AggregateOptions& o = {}) { return detail::aggregate("AnyValue", {e}, o); }

// PostgreSQL's aggregates (django.contrib.postgres.aggregates). SQLite has none of them: compiling a query that uses
// one there raises NotSupportedError. Over no rows each is NULL (RegrCount: 0) unless `default_` says otherwise.

/// ARRAY_AGG(x): the values as an array (`distinct`, `order_by`).
inline Expression ArrayAgg(const ExprArg& e, const AggregateOptions& o = {}) { return detail::aggregate("ArrayAgg", {e}, o); }
/// BIT_AND(x): the bitwise AND of the integers.
inline Expression BitAnd(const ExprArg& e, const AggregateOptions& o = {}) { return detail::aggregate("BitAnd", {e}, o); }
/// BIT_OR(x): the bitwise OR of the integers.
inline Expression BitOr(const ExprArg& e, const AggregateOptions& o = {}) { return detail::aggregate("BitOr", {e}, o); }
/// BIT_XOR(x): the bitwise exclusive OR of the integers (PostgreSQL 14+).
inline Expression BitXor(const ExprArg& e, const AggregateOptions& o = {}) { return detail::aggregate("BitXor", {e}, o); }
/// BOOL_AND(x): true if every value is true (a boolean).
inline Expression BoolAnd(const ExprArg& e, const AggregateOptions& o = {}) { return detail::aggregate("BoolAnd", {e}, o); }
/// BOOL_OR(x): true if any value is true (a boolean).
inline Expression BoolOr(const ExprArg& e, const AggregateOptions& o = {}) { return detail::aggregate("BoolOr", {e}, o); }
/// JSONB_AGG(x): the values as a JSON array, read as its text ("[1, 2]"); `distinct`, `order_by`; a `default_` is
/// JSON text too (`{.default_ = Value("[]")}`).
inline Expression JSONBAgg(const ExprArg& e, const AggregateOptions& o = {}) { return detail::aggregate("JSONBAgg", {e}, o); }

// The statistics aggregates (StatAggregate): the dependent variable y, then the independent x; a real (RegrCount:
// an integer); pairs with a NULL on either side are left out. `filter` and `default_` only.

/// CORR(y, x): the correlation coefficient.
inline Expression Corr(const ExprArg& y, const ExprArg& x, const AggregateOptions& o = {}) {
    return detail::aggregate("Corr", {y, x}, o);
}
/// COVAR_POP(y, x), or COVAR_SAMP(y, x) with `{.sample = true}`: the covariance.
inline Expression CovarPop(const ExprArg& y, const ExprArg& x, const AggregateOptions& o = {}) {
    return detail::aggregate("CovarPop", {y, x}, o);
}
/// REGR_AVGX(y, x): the average of x.
inline Expression RegrAvgX(const ExprArg& y, const ExprArg& x, const AggregateOptions& o = {}) {
    return detail::aggregate("RegrAvgX", {y, x}, o);
}
/// REGR_AVGY(y, x): the average of y.
inline Expression RegrAvgY(const ExprArg& y, const ExprArg& x, const AggregateOptions& o = {}) {
    return detail::aggregate("RegrAvgY", {y, x}, o);
}
/// REGR_COUNT(y, x): the number of pairs where neither is NULL (0 over no rows, so no `default_`).
inline Expression RegrCount(const ExprArg& y, const ExprArg& x, const AggregateOptions& o = {}) {
    return detail::aggregate("RegrCount", {y, x}, o);
}
/// REGR_INTERCEPT(y, x): the y-intercept of the least-squares line.
inline Expression RegrIntercept(const ExprArg& y, const ExprArg& x, const AggregateOptions& o = {}) {
    return detail::aggregate("RegrIntercept", {y, x}, o);
}
/// REGR_R2(y, x): the square of the correlation coefficient.
inline Expression RegrR2(const ExprArg& y, const ExprArg& x, const AggregateOptions& o = {}) {
    return detail::aggregate("RegrR2", {y, x}, o);
}
/// REGR_SLOPE(y, x): the slope of the least-squares line.
inline Expression RegrSlope(const ExprArg& y, const ExprArg& x, const AggregateOptions& o = {}) {
    return detail::aggregate("RegrSlope", {y, x}, o);
}
/// REGR_SXX(y, x): sum(x^2) - sum(x)^2 / N.
inline Expression RegrSXX(const ExprArg& y, const ExprArg& x, const AggregateOptions& o = {}) {
    return detail::aggregate("RegrSXX", {y, x}, o);
}
/// REGR_SXY(y, x): sum(x * y) - sum(x) * sum(y) / N.
inline Expression RegrSXY(const ExprArg& y, const ExprArg& x, const AggregateOptions& o = {}) {
    return detail::aggregate("RegrSXY", {y, x}, o);
}
/// REGR_SYY(y, x): sum(y^2) - sum(y)^2 / N.
inline Expression RegrSYY(const ExprArg& y, const ExprArg& x, const AggregateOptions& o = {}) {
    return detail::aggregate("RegrSYY", {y, x}, o);
}

}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/impl/aggregates.ipp>
#endif
