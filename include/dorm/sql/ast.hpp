// SPDX-License-Identifier: MIT
// The SQL AST's basic nodes: a column, a bound value, and the AND / OR / XOR tree of a WHERE clause.
#pragma once

#include <dorm/config.hpp>
#include <dorm/detail/node_pool.hpp>

#include <dorm/fields.hpp>
#include <dorm/sql/compiler.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dorm::sql {

/// A column of a table in the FROM clause: `"alias"."column"`.
struct Col final : Expression {
    Col(std::string alias, const FieldMeta* f) : alias(std::move(alias)), field(f) {}
    std::string alias;  // the table's name, or its join alias ("T2")
    const FieldMeta* field;
    Match as_sql(Compiler& c) const override;
    std::optional<FieldKind> output_kind() const override { return field->kind; }
};

/// A bound value.
struct Param final : Expression {
    explicit Param(Value v) : value(std::move(v)) {}
    Value value;
    Match as_sql(Compiler& c) const override;
    bool is_value() const noexcept override { return true; }
    std::optional<FieldKind> output_kind() const override { return kind_of(value); }

    /// The kind a bound value has (none for NULL).
    static std::optional<FieldKind> kind_of(const Value& v);
};

namespace detail {
inline bool is_integer_kind(FieldKind k) {
    return k == FieldKind::small_integer || k == FieldKind::integer || k == FieldKind::big_integer;
}
/// Django's field class for a kind, in messages.
DORM_DECL std::string_view field_class(FieldKind k);
}  // namespace detail

/// An arithmetic operator between two expressions: `(a + b)`.
struct BinaryOp final : Expression {
    /// What Django's CombinedExpression.resolve_expression() makes of the operands' types: an operation of a
    /// duration with anything else (DurationExpression) or the difference of two dates, datetimes or times
    /// (TemporalSubtraction), which each database writes its own way, or plain arithmetic.
    enum class Temporal : std::uint8_t { none, duration, subtraction };

    BinaryOp(std::string o, ExprPtr l, ExprPtr r, std::optional<FieldKind> out = std::nullopt);
    std::string op;
    ExprPtr lhs, rhs;
    std::optional<FieldKind> output;  // ExpressionWrapper's output_field
    std::optional<FieldKind> lhs_kind, rhs_kind;  // the operands' types, where known
    Temporal temporal = Temporal::none;
    void sources(std::vector<const Expression*>& out) const override;
    /// Django's rule (_connector_combinations): the same numeric type on both sides keeps it, integers with floats
    /// make a float; a date or datetime plus or minus a duration is a datetime, a time plus or minus one a time,
    /// the difference of two dates, datetimes or times a duration, durations added or subtracted a duration;
    /// anything else needs an ExpressionWrapper (a FieldError when the type is asked for, as Django's output_field;
    /// an operand's FieldError first).
    std::optional<FieldKind> output_kind() const override;
    Match as_sql(Compiler& c) const override;

private:
    // The type, or the FieldError's message, worked out once when the node is made (nodes are immutable): the
    // operands' are then known in constant time, so `F("a") + F("b") + ...` is typed in linear time, without an
    // exception thrown and caught per operator.
    std::optional<FieldKind> kind_;
    std::string error_;
    void infer(const std::string& lhs_error, const std::string& rhs_error);
    /// An operand's type where known (none where it has no type or cannot be typed, its FieldError's message
    /// then in `error`).
    static std::optional<FieldKind> operand_kind(const Expression& e, std::string& error);
};

/// A function call: `POWER(a, b)`. Names are checked identifiers (Func()) or dorm's own functions.
struct Func final : Expression {
    Func(std::string n, std::vector<ExprPtr> a, std::optional<FieldKind> out = std::nullopt, bool reg = false)
        : name(std::move(n)), args(std::move(a)), output(out), registered(reg) {}
    std::string name;
    std::vector<ExprPtr> args;
    std::optional<FieldKind> output;  // the result's type when it is not the first argument's
    bool registered;                  // one of dorm's database functions: the dialect spells it
    // Django's "Expression contains mixed types" FieldError (Coalesce, Greatest, ...): raised when the type is asked
    // for, as Django raises it from output_field, so a filter() or order_by() that never needs it still runs.
    std::string mixed_types;
    void sources(std::vector<const Expression*>& out) const override;
    bool is_grouped() const noexcept override { return !(registered && name == "RANDOM"); }  // Django's Random
    std::optional<FieldKind> output_kind() const override;
    Match as_sql(Compiler& c) const override;
};

enum class Connector { and_, or_, xor_ };

/// A WHERE tree: children joined by AND / OR / XOR, optionally negated (Django's WhereNode).
/// A WHERE node's children: made again for each query, so from the pool (detail/node_pool.hpp).
using ExprList = dorm::detail::PooledVector<ExprPtr>;

struct WhereNode final : Expression {
    Connector connector = Connector::and_;
    bool negated = false;
    ExprList children;

    void sources(std::vector<const Expression*>& out) const override;
    std::optional<FieldKind> output_kind() const override { return FieldKind::boolean; }

    Match as_sql(Compiler& c) const override;

private:
    /// XOR is true when an odd number of children are (Django 5): written for databases without XOR as
    /// (a OR b OR ...) AND (CASE WHEN a THEN 1 ELSE 0 END + ...) % 2 = 1.
    Match xor_sql(Compiler& c) const;
};

}  // namespace dorm::sql

#if DORM_HEADER_ONLY
#include <dorm/sql/impl/ast.ipp>
#endif
