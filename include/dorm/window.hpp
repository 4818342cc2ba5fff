// SPDX-License-Identifier: MIT
// Window expressions (Django's Window, RowRange, ValueRange): a window function or an aggregate computed over
// the rows related to each row, without grouping them.
#pragma once

#include <dorm/config.hpp>
#include <dorm/detail/node_pool.hpp>

#include <dorm/errors.hpp>
#include <dorm/expressions.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dorm {

/// The rows a frame leaves out (Django's WindowFrameExclusion): `EXCLUDE CURRENT ROW`, `GROUP`, `TIES`, `NO OTHERS`.
enum class WindowFrameExclusion { current_row, group, ties, no_others };

/// A window frame (Django's WindowFrame): the rows from `start` to `end` around the current one. A bound is
/// std::nullopt for UNBOUNDED (PRECEDING at the start, FOLLOWING at the end), 0 for CURRENT ROW, -n for
/// n PRECEDING and n for n FOLLOWING. The bounds are integers, written into the SQL as such.
class WindowFrame {
public:
    enum class Type { rows, range };
    Type type() const noexcept { return type_; }
    const std::optional<std::int64_t>& start() const noexcept { return start_; }
    const std::optional<std::int64_t>& end() const noexcept { return end_; }
    const std::optional<WindowFrameExclusion>& exclusion() const noexcept { return exclusion_; }

protected:
    WindowFrame(Type type, std::optional<std::int64_t> start, std::optional<std::int64_t> end,
                std::optional<WindowFrameExclusion> exclusion)
        : type_(type), start_(start), end_(end), exclusion_(exclusion) {}

private:
    Type type_;
    std::optional<std::int64_t> start_, end_;
    std::optional<WindowFrameExclusion> exclusion_;
};

/// `ROWS BETWEEN start AND end`: bounds counted in rows. `RowRange(-2, 0)` is the current row and the two before
/// it; a start after the end is a ValueError, as in Django.
class RowRange : public WindowFrame {
public:
    explicit RowRange(std::optional<std::int64_t> start = std::nullopt, std::optional<std::int64_t> end = std::nullopt,
                      std::optional<WindowFrameExclusion> exclusion = std::nullopt);
};

/// `RANGE BETWEEN start AND end`: bounds counted in the value of the window's single ORDER BY expression, so that
/// rows tied with the current one are in the frame. As in Django the start is negative, 0 or unbounded and the
/// end positive, 0 or unbounded (else ValueError).
class ValueRange : public WindowFrame {
public:
    explicit ValueRange(std::optional<std::int64_t> start = std::nullopt, std::optional<std::int64_t> end = std::nullopt,
                        std::optional<WindowFrameExclusion> exclusion = std::nullopt);
};

/// An ordering term of a window: "rating", "-rating" (descending), `F("rating_note").desc({.nulls_last = true})`,
/// or an expression (ascending).
class WindowOrder {
public:
    WindowOrder(const char* name) : WindowOrder(std::string_view(name)) {}    // NOLINT: implicit, as in Django
    WindowOrder(const std::string& name) : WindowOrder(std::string_view(name)) {}  // NOLINT
    WindowOrder(std::string_view name)                                           // NOLINT
        : term_(name.starts_with('-') ? F(name.substr(1)).desc() : F(name).asc()) {}
    WindowOrder(const OrderByExpression& o) : term_(o) {}   // NOLINT
    WindowOrder(const Expression& e) : term_(e.asc()) {}    // NOLINT
    const OrderByExpression& term() const noexcept { return term_; }

private:
    OrderByExpression term_;
};

/// Django's Window keyword arguments: `Window(Rank(), {.partition_by = {"blog"}, .order_by = {"-rating"}})`,
/// `Window(Sum("rating"), {.order_by = {"pub_date"}, .frame = RowRange(-1, 0)})`.
struct WindowOptions {
    std::vector<ExprArg> partition_by{};           // PARTITION BY: field names or expressions
    std::vector<WindowOrder> order_by{};           // ORDER BY inside the window
    std::optional<WindowFrame> frame{};            // RowRange or ValueRange; none: the database's default frame
    std::optional<FieldKind> output_field{};       // the result's type (default: the expression's)
};

namespace detail {
/// What a window node (ExprNode::Kind::window) computes its function over.
struct WindowSpec {
    std::vector<ExprNodePtr> partition_by;
    std::vector<OrderByExpression> order_by;
    std::optional<WindowFrame> frame;
};
/// Django's name for the class of the expression `n` builds, in messages ("Upper", "F", "CombinedExpression").
DORM_DECL std::string expression_class(const ExprNode& n);
}  // namespace detail

/// `expression OVER (PARTITION BY ... ORDER BY ... frame)` (Django's Window): `expression` is a window function
/// (RowNumber(), Rank(), Lag(...), ... of dorm/functions.hpp) or an aggregate (Sum, Avg, Count, Min, Max, StdDev,
/// Variance). Rows are not grouped: each keeps its own value, so no GROUP BY is added. Another expression is a
/// ValueError ("isn't compatible with OVER clauses"); a distinct or ordered aggregate is a NotSupportedError (no
/// database computes one over a window). A window's result cannot be filtered on (NotSupportedError) nor used in
/// update() (FieldError).
/// `Window(RowNumber(), {.partition_by = {"blog"}, .order_by = {"-rating"}})` is
/// `ROW_NUMBER() OVER (PARTITION BY "entry"."blog_id" ORDER BY "entry"."rating" DESC)`.
DORM_DECL Expression Window(const Expression& expression, const WindowOptions& options = {});

}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/impl/window.ipp>
#endif
