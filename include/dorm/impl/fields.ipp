// SPDX-License-Identifier: MIT
// Definitions for <dorm/fields.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/fields.hpp>

#include <cmath>

namespace dorm::detail {

DORM_DECL void null_into_non_optional() {
    throw TypeError("dorm: NULL read into a member that is not std::optional; declare it std::optional<T>");
}

DORM_DECL void cell_type_mismatch(std::string_view want) {
    throw DataError(fmt::format("dorm: the database returned a value that does not convert to {}", want));
}

DORM_DECL void text_mismatch(const backends::Cell& c, std::string_view type) {
    auto text = c.text();
    throw DataError(fmt::format("dorm: the database returned '{}', which is not {}", text.substr(0, 64), type));
}

DORM_DECL void integer_out_of_range(const backends::Cell& c, std::string_view type) {
    if (c.kind == backends::Cell::Kind::real)
        throw DataError(fmt::format("dorm: the database returned {}, which does not fit {}", c.d, type));
    throw DataError(fmt::format("dorm: the database returned {}, which does not fit {}", c.i, type));
}

DORM_DECL std::int64_t real_to_microseconds(double d) {
    return real_to_integer(std::nearbyint(d), std::numeric_limits<std::int64_t>::min(),
                           std::numeric_limits<std::int64_t>::max(), "a Duration");
}

DORM_DECL std::int64_t real_to_integer(double d, std::int64_t min, std::int64_t max, std::string_view type) {
    // The bounds as doubles: -2^63 is exact, and every double below 2^63 converts (C++ [conv.fpint]).
    if (!(d >= static_cast<double>(min) && d < -static_cast<double>(std::numeric_limits<std::int64_t>::min())) ||
        static_cast<std::int64_t>(d) > max || static_cast<std::int64_t>(d) < min ||
        // A fraction (SQLite keeps 7.5 in an INTEGER column, as F("n") * 1.5 leaves it): not cut to 7.
        d != std::trunc(d)) {
        backends::Cell c;
        c.kind = backends::Cell::Kind::real;
        c.d = d;
        integer_out_of_range(c, type);
    }
    return static_cast<std::int64_t>(d);
}

DORM_DECL backends::Cell truncated_cell(const backends::Cell& c) {
    if (c.kind != backends::Cell::Kind::real) return c;
    const double whole = std::trunc(c.d);
    if (!(whole >= -9223372036854775808.0 && whole < 9223372036854775808.0))  // NaN and the infinities too
        throw DataError(fmt::format("dorm: {} cannot be converted to an integer", c.d));
    backends::Cell out;
    out.kind = backends::Cell::Kind::integer;
    out.i = static_cast<std::int64_t>(whole);
    return out;
}

DORM_DECL Value expression_value(const backends::Cell& c, std::optional<FieldKind> kind) {
    if (c.kind != backends::Cell::Kind::real || !kind ||
        (*kind != FieldKind::small_integer && *kind != FieldKind::integer && *kind != FieldKind::big_integer))
        return cell_value(c, kind);
    return cell_value(truncated_cell(c), kind);
}

DORM_DECL Value cell_value(const backends::Cell& c, std::optional<FieldKind> kind) {
    using K = backends::Cell::Kind;
    if (c.kind == K::null) return Value();
    if (c.kind == K::value) [[unlikely]]  // decoded by the backend (an array): no kind converts it further
        return *c.value;
    auto decode = [&]<class T>(std::type_identity<T>) {
        T out{};
        field_traits<T>::from_cell(c, out);
        return Value(std::move(out));
    };
    if (kind) switch (*kind) {
            case FieldKind::boolean: return decode(std::type_identity<bool>{});
            case FieldKind::small_integer:
            case FieldKind::integer:
            case FieldKind::big_integer:
                if (c.kind == K::real) return Value(c.d);  // an integer-typed expression computed as a number
                return decode(std::type_identity<std::int64_t>{});
            case FieldKind::real: return decode(std::type_identity<double>{});
            case FieldKind::text: return decode(std::type_identity<std::string>{});
            case FieldKind::bytes: return decode(std::type_identity<Bytes>{});
            case FieldKind::date: return decode(std::type_identity<Date>{});
            case FieldKind::datetime: return decode(std::type_identity<DateTime>{});
            case FieldKind::time: return decode(std::type_identity<Time>{});
            case FieldKind::duration: return decode(std::type_identity<Duration>{});
        }
    switch (c.kind) {
        case K::integer:
            if (c.boolean) return Value(c.i != 0);
            if (c.duration) return Value(Duration{c.i});
            return Value(c.i);
        case K::real: return Value(c.d);
        case K::text: return Value(std::string(c.text()));
        case K::blob: return decode(std::type_identity<Bytes>{});
        case K::null:
        case K::value: break;
    }
    return Value();
}

}  // namespace dorm::detail

namespace dorm {
DORM_DEFAULT_VALUE_MEMBERS(FieldMeta);
}  // namespace dorm
