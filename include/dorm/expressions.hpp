// SPDX-License-Identifier: MIT
// F() and query expressions as users write them: model-independent trees resolved when a QuerySet uses them.
#pragma once

#include <dorm/config.hpp>
#include <dorm/detail/node_pool.hpp>

#include <dorm/fields.hpp>
#include <dorm/value.hpp>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace dorm {

class Q;
namespace sql {
struct Query;
}

namespace detail {
struct ExprNode;
using ExprNodePtr = std::shared_ptr<const ExprNode>;
struct WindowSpec;  // <dorm/window.hpp>

/// A node of an unresolved expression tree, as users build it; a QuerySet resolves it against its model.
struct ExprNode {
    enum class Kind { ref, value, binary, func, aggregate, case_, cast, subquery, exists, outer_ref, star, raw,
                      filtered_relation, window };
    Kind kind = Kind::value;
    std::string name;  // ref / outer_ref: the lookup path; binary: the operator; func / aggregate: the SQL function;
                       // raw: the SQL, "%s" standing for each parameter (args: the parameters' values);
                       // window: args[0] is the function computed over the window
    Value value;       // value; StringAgg: the delimiter
    std::vector<ExprNodePtr> args;    // operands; case_: each When's result
    std::optional<FieldKind> output;  // output_field, or Cast's type
    // Aggregates.
    std::string label;  // Django's class name in lower case, for default aliases ("count" -> "rating__count")
    bool distinct = false;
    // case_: Django's Q as an expression (annotate(good=Q(...))), its one condition itself: TRUE, FALSE or NULL.
    bool predicate = false;
    std::shared_ptr<const Q> filter;                     // aggregate filter=
    ExprNodePtr fallback;                                // aggregate default=, Case's default=
    std::vector<std::pair<ExprNodePtr, bool>> ordering;  // StringAgg order_by: expression, descending
    std::vector<std::shared_ptr<const Q>> conditions;    // case_: each When's condition
    std::shared_ptr<const sql::Query> query;             // subquery / exists
    std::shared_ptr<const WindowSpec> window;            // window: its partition, ordering and frame
};
}  // namespace detail

struct OrderByExpression;

/// Where NULLs go in an ordering: `F("rating_note").desc({.nulls_last = true})`.
struct NullsOrder {
    bool nulls_first = false;
    bool nulls_last = false;
};

/// An expression: `F("rating") * 2 + F("number_of_pingbacks")`. Usable as a lookup's value, in update(),
/// and in order_by() (through asc() / desc()).
class Expression {
public:
    Expression(Value v) : node_(make(detail::ExprNode::Kind::value, {}, std::move(v), {})) {}  // NOLINT: implicit
    template <class T>
        requires(std::is_arithmetic_v<T>)
    Expression(T v) : Expression(Value(v)) {}  // NOLINT: numbers mix freely with F()
    /// Dates, times, strings, bytes and arrays are values too (Django's Value(...)).
    template <class T>
        requires(std::is_same_v<T, Date> || std::is_same_v<T, DateTime> || std::is_same_v<T, Time> ||
                 std::is_same_v<T, std::string> || std::is_same_v<T, Bytes> || std::is_same_v<T, Array>)
    Expression(const T& v) : Expression(Value(v)) {}  // NOLINT: implicit
    /// Durations too (Django's Value(timedelta(...))): `F("pub_date") + std::chrono::days(7)`.
    template <class Rep, class Period>
        requires std::is_convertible_v<std::chrono::duration<Rep, Period>, Duration>
    Expression(std::chrono::duration<Rep, Period> d) : Expression(Value(d)) {}  // NOLINT: implicit
    explicit Expression(detail::ExprNodePtr node) : node_(std::move(node)) {}

    const detail::ExprNodePtr& node() const noexcept { return node_; }

    /// Ascending order, NULLs where the database puts them unless `nulls` says otherwise.
    OrderByExpression asc(const NullsOrder& nulls = {}) const;
    /// Descending order, NULLs where the database puts them unless `nulls` says otherwise.
    OrderByExpression desc(const NullsOrder& nulls = {}) const;

    friend Expression operator+(const Expression& a, const Expression& b) { return binary("+", a, b); }
    friend Expression operator-(const Expression& a, const Expression& b) { return binary("-", a, b); }
    friend Expression operator*(const Expression& a, const Expression& b) { return binary("*", a, b); }
    friend Expression operator/(const Expression& a, const Expression& b) { return binary("/", a, b); }
    friend Expression operator%(const Expression& a, const Expression& b) { return binary("%", a, b); }
    friend Expression operator-(const Expression& a) { return binary("-", Expression(0), a); }
    /// Python's `**`: `pow(F("rating"), 2)`.
    friend Expression pow(const Expression& a, const Expression& b) {
        return Expression(make(detail::ExprNode::Kind::func, "POWER", {}, {a.node_, b.node_}));
    }

    /// Django's bitwise operations on integers: `F("flags").bitand_(4)`. `bitand` and `bitor` are C++ keywords, so
    /// those two end in '_' (as `using_()` and `delete_()` do); NULL on either side gives NULL.
    Expression bitand_(const Expression& other) const;
    Expression bitor_(const Expression& other) const;
    Expression bitxor(const Expression& other) const;
    Expression bitleftshift(const Expression& other) const;
    Expression bitrightshift(const Expression& other) const;

    /// A new node (for the expression types built on Expression).
    static detail::ExprNodePtr make(detail::ExprNode::Kind k, std::string name, Value v,
                                    std::vector<detail::ExprNodePtr> args);
private:
    static Expression binary(std::string op, const Expression& a, const Expression& b) {
        return Expression(make(detail::ExprNode::Kind::binary, std::move(op), {}, {a.node_, b.node_}));
    }

    detail::ExprNodePtr node_;
};

/// A reference to a field of the QuerySet's model, or across a ForeignKey ("blog__name") (Django's F()).
class F : public Expression {
public:
    explicit F(std::string_view path) : Expression(make(detail::ExprNode::Kind::ref, std::string(path), {}, {})) {}
};

/// An argument of a database function or aggregate: a string names a field (Django's `Count("rating")` is
/// `Count(F("rating"))`); anything else is an expression or a value.
class ExprArg {
public:
    ExprArg(const char* path) : node_(F(path).node()) {}                // NOLINT: implicit, as in Django
    ExprArg(std::string_view path) : node_(F(path).node()) {}           // NOLINT
    ExprArg(const std::string& path) : node_(F(path).node()) {}         // NOLINT
    ExprArg(const Expression& e) : node_(e.node()) {}                   // NOLINT
    ExprArg(const Value& v) : node_(Expression(v).node()) {}            // NOLINT
    template <class T>
        requires(std::is_arithmetic_v<T>)
    ExprArg(T v) : node_(Expression(v).node()) {}                       // NOLINT
    template <class Rep, class Period>
        requires std::is_convertible_v<std::chrono::duration<Rep, Period>, Duration>
    ExprArg(std::chrono::duration<Rep, Period> d) : node_(Expression(d).node()) {}  // NOLINT
    const detail::ExprNodePtr& node() const noexcept { return node_; }
    Expression expression() const { return Expression(node_); }

private:
    detail::ExprNodePtr node_;
};

/// Python's `**` (declared again here so that `dorm::pow(...)` finds it, not only argument-dependent lookup).
Expression pow(const Expression& a, const Expression& b);

/// An ordering term for order_by(): `F("pub_date").desc({.nulls_last = true})` is `... DESC NULLS LAST`.
struct OrderByExpression {
    Expression expression;
    bool descending = false;
    bool nulls_first = false;
    bool nulls_last = false;
};

inline OrderByExpression Expression::asc(const NullsOrder& nulls) const {
    if (nulls.nulls_first && nulls.nulls_last) throw ValueError("dorm: nulls_first and nulls_last are mutually exclusive");
    return {*this, false, nulls.nulls_first, nulls.nulls_last};
}
inline OrderByExpression Expression::desc(const NullsOrder& nulls) const {
    if (nulls.nulls_first && nulls.nulls_last) throw ValueError("dorm: nulls_first and nulls_last are mutually exclusive");
    return {*this, true, nulls.nulls_first, nulls.nulls_last};
}

namespace detail {
DORM_DECL bool is_sql_identifier(std::string_view s);
DORM_DECL ExprNodePtr func_node(std::string name, std::vector<ExprNodePtr> args, std::optional<FieldKind> output);

/// One of Django's database functions (django.db.models.functions), as dorm knows it: the key its nodes carry
/// (Django's default SQL function name), Django's class name, its argument counts, its result type (none: the
/// first typed argument's) and a check of its arguments (Django's ValueErrors). Each dialect spells it
/// (Dialect::function_template); loads() calls only these.
struct FunctionInfo {
    std::string_view name;
    std::string_view django;
    std::size_t min_args, max_args;
    std::optional<FieldKind> output;
    void (*check)(const std::vector<ExprNodePtr>& args) = nullptr;
    bool window = false;  // a window function (Django's window_compatible Funcs): valid only inside Window()
};
/// The registered function of that key, or nullptr.
DORM_DECL const FunctionInfo* find_function(std::string_view name) noexcept;
/// How many arguments it takes, for messages: "1", "2 to 3", "at least 2".
DORM_DECL std::string argument_count(const FunctionInfo& f);
/// A call of the registered function `name` (checked: argument count and values).
DORM_DECL ExprNodePtr call_function(std::string_view name, std::vector<ExprNodePtr> args);

/// The SQL type of an aggregate's result where it is not the column type of a FieldKind: a bound default= is cast to
/// it inside COALESCE (Django's Value(default, output_field) with the output field's placeholder cast).
enum class AggregateType : std::uint8_t {
    plain,  // the column type of its output (or of its argument's type)
    array,  // ArrayAgg: an array of the argument's type (read as an Array; no FieldKind spells it)
    jsonb,  // JSONBAgg: jsonb (read as its text)
};

/// One of dorm's aggregates (Django's Aggregate subclasses, django.contrib.postgres's included): Django's class name
/// (what ExprNode::label holds), the SQL function its nodes carry (Django's `function`; each dialect spells it,
/// Dialect::aggregate_function), the function with `{.sample = true}`, its argument count, its result type and the
/// keyword arguments Django allows it.
struct AggregateInfo {
    std::string_view django;
    std::string_view name;
    std::string_view sample_name;      // empty: no sample option
    std::size_t args;                  // 1, or 2 for the statistics aggregates (y, x)
    std::optional<FieldKind> output;   // none: the argument's type (or none at all, for an array)
    bool distinct = false;             // Django's allow_distinct
    bool order_by = false;             // OrderableAggMixin: ORDER BY inside the call
    bool default_ = true;              // false where the result over no rows is already a value (Count, RegrCount)
    AggregateType type = AggregateType::plain;
    bool postgresql_only = false;      // django.contrib.postgres's: databases without them refuse it
};
/// The registered aggregate of that Django class name, or nullptr.
DORM_DECL const AggregateInfo* find_aggregate(std::string_view django) noexcept;
/// The registered aggregate whose SQL function (plain or sample) is `function`, or nullptr.
DORM_DECL const AggregateInfo* find_aggregate_function(std::string_view function) noexcept;
}  // namespace detail

/// A SQL function call (Django's Func): `Func("UPPER", {"headline"})`. The name must be a plain SQL identifier
/// (it is written into the SQL as is); `output` is the result's type when it differs from the first argument's.
DORM_DECL Expression Func(std::string_view function, std::initializer_list<ExprArg> args,
                       std::optional<FieldKind> output = std::nullopt);

/// CAST(expression AS <the column type of `kind`>).
DORM_DECL Expression Cast(const ExprArg& e, FieldKind kind);

/// The first argument that is not NULL (at least two).
template <class... More>
Expression Coalesce(const ExprArg& a, const ExprArg& b, const More&... more) {
    return Expression(detail::call_function("COALESCE", {a.node(), b.node(), ExprArg(more).node()...}));
}

/// Gives an expression a result type where dorm cannot infer one (`F("a") + F("b")` of different types).
DORM_DECL Expression ExpressionWrapper(const Expression& e, FieldKind output);

/// A field of the outer query, inside a Subquery / Exists: `Entry::objects().filter("blog", OuterRef("pk"))`.
inline Expression OuterRef(std::string_view path) {
    return Expression(Expression::make(detail::ExprNode::Kind::outer_ref, std::string(path), {}, {}));
}
inline Expression OuterRef(const char* path) { return OuterRef(std::string_view(path)); }
inline Expression OuterRef(const std::string& path) { return OuterRef(std::string_view(path)); }
/// `OuterRef(OuterRef("pk"))`: a field of the query around the outer one, inside a subquery of a subquery (each
/// OuterRef is one level out). Anything but an OuterRef inside is a TypeError.
DORM_DECL Expression OuterRef(const Expression& inner);

/// A piece of SQL written as given, "%s" standing for each bound parameter and "%%" for a percent sign
/// (Django's RawSQL): `RawSQL("SELECT COUNT(*) FROM entry WHERE entry.blog_id = blog.id", {})`. The SQL is the
/// caller's: never build it from untrusted input; pass values in `params`.
DORM_DECL Expression RawSQL(std::string_view sql, std::vector<Value> params = {}, std::optional<FieldKind> output = std::nullopt);

/// Text functions the reference's examples use; the others are in <dorm/functions.hpp>.
inline Expression Lower(const ExprArg& e) { return Expression(detail::call_function("LOWER", {e.node()})); }
inline Expression Upper(const ExprArg& e) { return Expression(detail::call_function("UPPER", {e.node()})); }
/// The number of characters (an integer).
inline Expression Length(const ExprArg& e) { return Expression(detail::call_function("LENGTH", {e.node()})); }

}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/impl/expressions.ipp>
#endif
