// SPDX-License-Identifier: MIT
// Aggregate functions (Django's Count, Sum, Avg, Min, Max, StdDev, Variance, StringAgg, AnyValue).
#pragma once

#include <dorm/config.hpp>

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
/// `Sum("rating", {.default_ = 0})`, `StdDev("rating", {.sample = true})`.
struct AggregateOptions {
    bool distinct = false;
    std::optional<Q> filter{};                 // only rows matching it are aggregated
    std::optional<Expression> default_{};      // the result over no rows (instead of NULL)
    std::optional<FieldKind> output_field{};   // the result's type
    bool sample = false;                       // StdDev / Variance: the sample statistic (n - 1)
    std::vector<AggregateOrder> order_by{};    // StringAgg: the order of the concatenated values
};

namespace detail {
DORM_DECL Expression aggregate(std::string_view function, std::string_view label, std::vector<ExprArg> args,
                            const AggregateOptions& o, bool allow_distinct);
}  // namespace detail

/// COUNT(x), COUNT(DISTINCT x), or COUNT(*) for `Count("*")`; 0 over no rows.
DORM_DECL Expression Count(const ExprArg& e, const AggregateOptions& o = {});
inline Expression Sum(const ExprArg& e, const AggregateOptions& o = {}) { return detail::aggregate("SUM", "Sum", {e}, o, true); }
inline Expression Avg(const ExprArg& e, const AggregateOptions& o = {}) { return detail::aggregate("AVG", "Avg", {e}, o, true); }
inline Expression Min(const ExprArg& e, const AggregateOptions& o = {}) { return detail::aggregate("MIN", "Min", {e}, o, false); }
inline Expression Max(const ExprArg& e, const AggregateOptions& o = {}) { return detail::aggregate("MAX", "Max", {e}, o, false); }
/// Standard deviation: of the population, or of a sample with `{.sample = true}`.
inline Expression StdDev(const ExprArg& e, const AggregateOptions& o = {}) {
    return detail::aggregate(o.sample ? "STDDEV_SAMP" : "STDDEV_POP", "StdDev", {e}, o, false);
}
/// Variance: of the population, or of a sample with `{.sample = true}`.
inline Expression Variance(const ExprArg& e, const AggregateOptions& o = {}) {
    return detail::aggregate(o.sample ? "VAR_SAMP" : "VAR_POP", "Variance", {e}, o, false);
}
/// The values joined by `delimiter` (text values: Cast() others), in `order_by` order where the database allows.
DORM_DECL Expression StringAgg(const ExprArg& e, std::string_view delimiter, const AggregateOptions& o = {});
/// Any one value of the group (PostgreSQL 16+; MIN on SQLite).
inline Expression AnyValue(const ExprArg& e, const AggregateOptions& o = {}) {
    return detail::aggregate("ANY_VALUE", "AnyValue", {e}, o, false);
}

}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/impl/aggregates.ipp>
#endif
