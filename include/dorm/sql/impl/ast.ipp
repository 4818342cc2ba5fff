// SPDX-License-Identifier: MIT
// Definitions for <dorm/sql/ast.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/sql/ast.hpp>

namespace dorm::sql {

DORM_DECL auto Col::as_sql(Compiler& c) const -> Match {
    c.quote_alias(alias);
    c << ".";
    c.quote(field->column);
    return Match::some;
}

DORM_DECL auto Param::as_sql(Compiler& c) const -> Match {
    c.param(value);
    return Match::some;
}

DORM_DECL auto Param::kind_of(const Value& v) -> std::optional<FieldKind> {
    switch (v.variant().index()) {
        case 1: return FieldKind::boolean;
        case 2: return FieldKind::big_integer;
        case 3: return FieldKind::real;
        case 4: return FieldKind::text;
        case 5: return FieldKind::bytes;
        case 6: return FieldKind::date;
        case 7: return FieldKind::datetime;
        case 8: return FieldKind::time;
        case 9: return FieldKind::duration;
        default: return std::nullopt;
    }
}
}  // namespace dorm::sql

namespace dorm::sql::detail {

DORM_DECL std::string_view field_class(FieldKind k) {
    switch (k) {
        case FieldKind::boolean: return "BooleanField";
        case FieldKind::small_integer: return "SmallIntegerField";
        case FieldKind::integer: return "IntegerField";
        case FieldKind::big_integer: return "BigIntegerField";
        case FieldKind::real: return "FloatField";
        case FieldKind::text: return "CharField";
        case FieldKind::bytes: return "BinaryField";
        case FieldKind::date: return "DateField";
        case FieldKind::datetime: return "DateTimeField";
        case FieldKind::time: return "TimeField";
        case FieldKind::duration: return "DurationField";
    }
    return "Field";
}
}  // namespace dorm::sql::detail

namespace dorm::sql {

DORM_DECL void BinaryOp::sources(std::vector<const Expression*>& out) const {
    out.push_back(lhs.get());
    out.push_back(rhs.get());
}

namespace detail {
inline bool is_temporal_kind(FieldKind k) {
    return k == FieldKind::date || k == FieldKind::datetime || k == FieldKind::time;
}
}  // namespace detail

DORM_DECL auto BinaryOp::operand_kind(const Expression& e, std::string& error) -> std::optional<FieldKind> {
    if (const auto* b = dynamic_cast<const BinaryOp*>(&e)) {
        if (b->output) return b->output;
        error = b->error_;
        return b->kind_;
    }
    try {  // Django: an operand whose type cannot be inferred counts as untyped here
        return e.output_kind();
    } catch (const FieldError& x) {
        error = x.what();
        return std::nullopt;
    }
}

DORM_DECL BinaryOp::BinaryOp(std::string o, ExprPtr l, ExprPtr r, std::optional<FieldKind> out)
    : op(std::move(o)), lhs(std::move(l)), rhs(std::move(r)), output(out) {
    std::string lhs_error, rhs_error;
    lhs_kind = operand_kind(*lhs, lhs_error);
    rhs_kind = operand_kind(*rhs, rhs_error);
    const auto& a = lhs_kind;
    const auto& b = rhs_kind;
    if ((a == FieldKind::duration || b == FieldKind::duration) && a != b) {
        temporal = Temporal::duration;
    } else if (op == "-" && a && b && detail::is_temporal_kind(*a) && detail::is_temporal_kind(*b)) {
        // Django asks for the same type on both sides; a date and a datetime are subtracted as two datetimes
        // (Django's own table gives a duration for them, which plain '-' does not compute on SQLite).
        if (*a == *b || (*a != FieldKind::time && *b != FieldKind::time)) temporal = Temporal::subtraction;
    }
    if (!output) infer(lhs_error, rhs_error);
}

DORM_DECL void BinaryOp::infer(const std::string& lhs_error, const std::string& rhs_error) {
    if (temporal == Temporal::subtraction) {
        kind_ = FieldKind::duration;
        return;
    }
    // An operand that cannot be typed fails first, the left one before the right one.
    if (!lhs_error.empty() || !rhs_error.empty()) {
        error_ = lhs_error.empty() ? rhs_error : lhs_error;
        return;
    }
    const auto& a = lhs_kind;
    const auto& b = rhs_kind;
    if (!a || !b) {
        kind_ = a ? a : b;
        return;
    }
    auto cannot_infer = [&] {
        error_ = fmt::format("dorm: Cannot infer type of '{}' expression involving these types: {}, {}. You must set "
                             "output_field (ExpressionWrapper).", op, detail::field_class(*a), detail::field_class(*b));
    };
    if (temporal == Temporal::duration) {
        bool add = op == "+", sub = op == "-";
        FieldKind other = *a == FieldKind::duration ? *b : *a;
        // A date moved by a duration becomes a datetime (PostgreSQL's date + interval is a timestamp).
        FieldKind moved = other == FieldKind::time ? FieldKind::time : FieldKind::datetime;
        if (!detail::is_temporal_kind(other) || !(add || (sub && *b == FieldKind::duration))) return cannot_infer();
        kind_ = moved;
        return;
    }
    if (*a == *b) {
        if (detail::is_temporal_kind(*a)) return cannot_infer();
        if (*a == FieldKind::duration && op != "+" && op != "-") return cannot_infer();
        kind_ = a;
        return;
    }
    if (detail::is_integer_kind(*a) && detail::is_integer_kind(*b)) {
        kind_ = FieldKind::big_integer;
        return;
    }
    if ((detail::is_integer_kind(*a) || *a == FieldKind::real) && (detail::is_integer_kind(*b) || *b == FieldKind::real)) {
        kind_ = FieldKind::real;
        return;
    }
    cannot_infer();
}

DORM_DECL auto BinaryOp::output_kind() const -> std::optional<FieldKind> {
    if (output) return output;
    if (!error_.empty()) [[unlikely]]
        throw FieldError(error_);
    return kind_;
}

DORM_DECL auto BinaryOp::as_sql(Compiler& c) const -> Match {
    std::string tmpl;
    if (temporal == Temporal::duration) tmpl = c.dialect.combine_duration_expression(op, lhs_kind, rhs_kind);
    else if (temporal == Temporal::subtraction) tmpl = c.dialect.subtract_temporals(*lhs_kind, *rhs_kind);
    if (!tmpl.empty()) {
        // "{0}" is the left operand, "{1}" the right one.
        std::string_view t = tmpl;
        for (std::size_t pos = 0;;) {
            auto at = t.find('{', pos);
            if (at == std::string_view::npos || at + 2 >= t.size()) {
                c << t.substr(pos);
                break;
            }
            c << t.substr(pos, at - pos);
            c.compile(t[at + 1] == '0' ? *lhs : *rhs);
            pos = at + 3;
        }
        return Match::some;
    }
    c << "(";
    c.compile(*lhs);
    c << " " << op << " ";
    c.compile(*rhs);
    c << ")";
    return Match::some;
}

DORM_DECL void Func::sources(std::vector<const Expression*>& out) const {
    for (const auto& a : args) out.push_back(a.get());
}

DORM_DECL auto Func::output_kind() const -> std::optional<FieldKind> {
    if (output) return output;
    if (!mixed_types.empty()) [[unlikely]]
        throw FieldError(mixed_types);
    for (const auto& a : args)  // COALESCE(NULL, x) is x's type
        if (auto k = a->output_kind()) return k;
    return std::nullopt;
}

DORM_DECL auto Func::as_sql(Compiler& c) const -> Match {
    if (registered) {
        std::vector<backends::FunctionArg> info;
        info.reserve(args.size());
        for (const auto& a : args) {
            const auto* p = a->is_value() ? dynamic_cast<const Param*>(a.get()) : nullptr;
            const auto* col = dynamic_cast<const Col*>(a.get());
            info.push_back({a->output_kind(), p ? &p->value : nullptr, col ? std::string_view(col->field->name) : ""});
        }
        std::string tmpl = c.dialect.function_template(name, info);
        if (!tmpl.empty()) {
            std::string_view t = tmpl;
            for (std::size_t pos = 0;;) {
                auto open = t.find('{', pos);
                auto close = open == std::string_view::npos ? open : t.find('}', open);
                if (close == std::string_view::npos) {
                    c << t.substr(pos);
                    break;
                }
                c << t.substr(pos, open - pos);
                // "{N}": argument N; "{N:zone}": argument N, a time zone's name, bound as the dialect binds one.
                std::string_view field = t.substr(open + 1, close - open - 1);
                const bool zone = field.ends_with(":zone");
                if (zone) field.remove_suffix(5);
                std::size_t i = 0;
                for (char ch : field) i = i * 10 + static_cast<std::size_t>(ch - '0');
                const auto* p = zone ? dynamic_cast<const Param*>(args.at(i).get()) : nullptr;
                const auto* name = p ? std::get_if<std::string>(&p->value.variant()) : nullptr;
                if (name) c.param(Value(c.dialect.time_zone_parameter(*name)));
                else c.compile(*args.at(i));
                pos = close + 1;
            }
            return Match::some;
        }
    }
    c << name << "(";
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (i) c << ", ";
        c.compile(*args[i]);
    }
    c << ")";
    return Match::some;
}

DORM_DECL void WhereNode::sources(std::vector<const Expression*>& out) const {
    for (const auto& ch : children) out.push_back(ch.get());
}

DORM_DECL auto WhereNode::as_sql(Compiler& c) const -> Match {
    if (connector == Connector::xor_) return xor_sql(c);
    // Django's counting rule: an AND is empty as soon as one child is, full when all are;
    // an OR is full as soon as one child is, empty when all are.
    std::size_t n = children.size();
    std::size_t full_needed = connector == Connector::and_ ? n : 1;
    std::size_t empty_needed = connector == Connector::and_ ? 1 : n;
    auto start = c.sql.size();
    if (negated) c << "NOT ";
    c << "(";
    auto body = c.sql.size();
    std::size_t written = 0;
    for (const auto& child : children) {
        auto before = c.sql.size();
        if (written) c << (connector == Connector::and_ ? " AND " : " OR ");
        Match m = c.compile(*child);
        if (m == Match::some) {
            ++written;
            continue;
        }
        c.sql.resize(before);
        if (m == Match::nothing) {
            if (--empty_needed == 0) return negated ? Match::everything : Match::nothing;
        } else {
            if (--full_needed == 0) return negated ? Match::nothing : Match::everything;
        }
    }
    if (written == 0) return negated ? Match::nothing : Match::everything;
    if (written == 1 && !negated) {
        // Drop the parentheses around a single condition.
        c.sql.erase(start, body - start);
        return Match::some;
    }
    c << ")";
    return Match::some;
}

DORM_DECL auto WhereNode::xor_sql(Compiler& c) const -> Match {
    auto child = [&](const ExprPtr& e) {
        auto before = c.sql.size();
        Match m = c.compile(*e);
        if (m != Match::some) {
            c.sql.resize(before);
            c << (m == Match::everything ? "1 = 1" : "1 = 0");
        }
    };
    if (negated) c << "NOT ";
    c << "((";
    for (std::size_t i = 0; i < children.size(); ++i) {
        if (i) c << " OR ";
        child(children[i]);
    }
    c << ") AND (";
    for (std::size_t i = 0; i < children.size(); ++i) {
        if (i) c << " + ";
        c << "CASE WHEN ";
        child(children[i]);
        c << " THEN 1 ELSE 0 END";
    }
    c << ") % 2 = 1)";
    return Match::some;
}

}  // namespace dorm::sql
