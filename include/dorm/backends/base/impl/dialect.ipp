// SPDX-License-Identifier: MIT
// Definitions for <dorm/backends/base/dialect.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/backends/base/dialect.hpp>

namespace dorm::backends {

DORM_DECL ZoneOffset split_zone_offset(std::string_view name) {
    // From the end: [:SS] after MM, MM after the colon, H or HH after the sign.
    auto number = [&](std::size_t end, std::size_t min_digits, std::size_t max_digits, int& out) -> std::size_t {
        std::size_t begin = end;
        while (begin > 0 && end - begin < max_digits && name[begin - 1] >= '0' && name[begin - 1] <= '9') --begin;
        if (end - begin < min_digits) return std::string_view::npos;
        out = 0;
        for (char c : name.substr(begin, end - begin)) out = out * 10 + (c - '0');
        return begin;
    };
    int hours = 0, minutes = 0, seconds = 0;
    std::size_t end = name.size();
    std::size_t at = number(end, 2, 2, seconds);
    if (at != std::string_view::npos && at > 0 && name[at - 1] == ':' && at >= 4 && name[at - 4] == ':') {
        end = at - 1;  // HH:MM:SS
    } else {
        seconds = 0;
    }
    at = number(end, 2, 2, minutes);
    if (at == std::string_view::npos || at == 0 || name[at - 1] != ':') return {name, std::nullopt};
    at = number(at - 1, 1, 2, hours);
    if (at == std::string_view::npos || at == 0 || (name[at - 1] != '+' && name[at - 1] != '-'))
        return {name, std::nullopt};
    if (hours > 23 || minutes > 59 || seconds > 59) return {name, std::nullopt};  // no time of day (parse_time())
    const int offset = (hours * 60 + minutes) * 60 + seconds;
    return {name.substr(0, at - 1), name[at - 1] == '-' ? -offset : offset};
}

DORM_DECL void Dialect::quote_name(std::string& out, std::string_view name) const {
    out += '"';
    if (name.find('"') == std::string_view::npos) [[likely]] {  // one append: this runs for every column named
        out.append(name);
    } else {
        for (char c : name) {
            if (c == '"') out += '"';
            out += c;
        }
    }
    out += '"';
}

DORM_DECL auto Dialect::lookup_operator(std::string_view lookup) const -> std::string_view {
    if (lookup == "exact") return "= %s";
    if (lookup == "gt") return "> %s";
    if (lookup == "gte") return ">= %s";
    if (lookup == "lt") return "< %s";
    if (lookup == "lte") return "<= %s";
    return {};
}

DORM_DECL auto Dialect::distinct_on_template() const -> std::string_view {
    throw NotSupportedError("dorm: DISTINCT ON fields is not supported by this database backend.");
}

DORM_DECL void Dialect::for_update(std::string& out, const SelectForUpdate& lock, const std::vector<std::string>& of) const {
    (void)out;
    (void)lock;
    (void)of;
}

DORM_DECL auto Dialect::literal(const Value& v) const -> std::string {
    return std::visit(
        [&](const auto& x) -> std::string {
            using X = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<X, std::monostate>) return "NULL";
            else if constexpr (std::is_same_v<X, bool>) return bool_literal(x);
            else if constexpr (std::is_same_v<X, std::int64_t>) return std::to_string(x);
            else if constexpr (std::is_same_v<X, double>) return fmt::format("{}", x);
            else if constexpr (std::is_same_v<X, std::string>) return quote_string(x);
            else if constexpr (std::is_same_v<X, Bytes>) return bytes_literal(x);
            else if constexpr (std::is_same_v<X, DateTime>) return quote_string(dorm::detail::to_iso(x) + std::string(datetime_suffix()));
            else if constexpr (std::is_same_v<X, Duration>) return duration_literal(x);
            else if constexpr (std::is_same_v<X, Array>) return array_literal(x);
            else return quote_string(dorm::detail::to_iso(x));
        },
        v.variant());
}

DORM_DECL std::string Dialect::aggregate_default_template(const dorm::detail::AggregateInfo&, std::optional<FieldKind>) const {
    return "%s";
}

DORM_DECL std::string Dialect::array_literal(const Array&) const {
    throw NotSupportedError(fmt::format("dorm: {} has no array type: an array value cannot be written", vendor()));
}

DORM_DECL std::string Dialect::combine_duration_expression(std::string_view, std::optional<FieldKind>,
                                                           std::optional<FieldKind>) const {
    return {};
}

DORM_DECL std::string Dialect::subtract_temporals(FieldKind, FieldKind) const { return "({0} - {1})"; }

DORM_DECL auto Dialect::quote_string(std::string_view s) -> std::string {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') out += '\'';
        out += c;
    }
    return out + "'";
}

DORM_DECL auto Dialect::bytes_literal(const Bytes& b) const -> std::string {
    std::string s = "X'";
    for (auto byte : b) s += fmt::format("{:02x}", static_cast<unsigned>(byte));
    return s + "'";
}

DORM_DECL auto Dialect::aggregate_function(std::string_view function, std::optional<FieldKind> input) const -> std::string_view {
    (void)input;
    return function;
}

DORM_DECL auto Dialect::function_template(std::string_view function, const std::vector<FunctionArg>& args) const
    -> std::string {
    // The date functions, through the templates of the transforms (Extract) and of dates() (Trunc).
    // A pointer rather than a copied optional: GCC's -O1 (the ThreadSanitizer build) sees the copy as maybe unset.
    const FieldKind* input = !args.empty() && args[0].kind ? &*args[0].kind : nullptr;
    const bool date = input && *input == FieldKind::date, datetime = input && *input == FieldKind::datetime,
               time = input && *input == FieldKind::time;
    auto with_argument = [](std::string_view tmpl) {  // "%s" becomes "{0}"
        std::string out(tmpl);
        for (auto at = out.find("%s"); at != std::string::npos; at = out.find("%s", at + 3)) out.replace(at, 2, "{0}");
        return out;
    };
    // The part or kind was checked when the call was built (a text value among Django's names).
    auto part = [&]() -> const std::string& { return std::get<std::string>(args[1].value->variant()); };
    auto is_time_part = [](std::string_view p) { return p == "hour" || p == "minute" || p == "second"; };
    // Django's messages name the field (its name, or None for an expression).
    std::string field = !args.empty() && !args[0].field.empty() ? std::string(args[0].field) : "None";
    std::string quoted = !args.empty() && !args[0].field.empty() ? "'" + field + "'" : field;  // Python's %r
    const bool duration = input && *input == FieldKind::duration;
    // Django's tzinfo: the zone's name, the last argument (checked text when the call was built). "{1}" in the
    // zoned templates is the zone: renumbered to its argument.
    const std::size_t zone_at = function == "TRUNCDATE" || function == "TRUNCTIME" ? 1 : 2;
    const std::string* zone = args.size() > zone_at && args[zone_at].value
                                  ? std::get_if<std::string>(&args[zone_at].value->variant())
                                  : nullptr;
    auto in_zone = [&](std::string tmpl) {
        // "{N:zone}": Func binds the zone's time_zone_parameter() (which checks it), not the name as given.
        auto number = fmt::format("{{{}:zone}}", zone_at);
        for (auto at = tmpl.find("{1}"); at != std::string::npos; at = tmpl.find("{1}", at + number.size()))
            tmpl.replace(at, 3, number);
        return tmpl;
    };
    auto no_zone_but_datetime = [&] {
        if (zone) throw ValueError("dorm: tzinfo can only be used with DateTimeField.");
    };
    if (function == "EXTRACT") {
        if (!date && !datetime && !time && !duration)
            throw ValueError("dorm: Extract input expression must be DateField, DateTimeField, TimeField, or "
                             "DurationField.");
        if (date && is_time_part(part()))
            throw ValueError(fmt::format("dorm: Cannot extract time component '{}' from DateField '{}'.", part(), field));
        if (duration && part() != "day" && !is_time_part(part()))
            throw ValueError(fmt::format("dorm: Cannot extract component '{}' from DurationField '{}'.", part(), field));
        if (datetime && zone) return in_zone(extract_in_zone_template(part()));
        no_zone_but_datetime();
        if (duration) return duration_extract_template(part());
        // Django lets the database fail here; dorm says why first.
        if (time && !is_time_part(part()))
            throw ValueError(fmt::format("dorm: Cannot extract component '{}' from TimeField '{}'.", part(), field));
        return with_argument(transform_template(part(), *input));
    }
    auto not_a_date = [&] {
        return TypeError(fmt::format("dorm: {} isn't a DateField, TimeField, or DateTimeField.", quoted));
    };
    if (function == "TRUNC") {
        if (!date && !datetime && !time) throw not_a_date();
        if (date && is_time_part(part()))
            throw ValueError(fmt::format("dorm: Cannot truncate DateField '{}' to DateTimeField.", field));
        if (time && !is_time_part(part()))
            throw ValueError(fmt::format("dorm: Cannot truncate TimeField '{}' to DateTimeField.", field));
        if (datetime && zone) return in_zone(trunc_in_zone_template(part()));
        no_zone_but_datetime();
        return with_argument(trunc_template(part(), *input));
    }
    // Django's bitwise connectors; BITXOR is an operator only on PostgreSQL ('#'), a registered function on SQLite.
    if (function == "BITAND") return "({0} & {1})";
    if (function == "BITOR") return "({0} | {1})";
    if (function == "BITXOR") return "BITXOR({0}, {1})";
    if (function == "BITLEFTSHIFT") return "({0} << {1})";
    if (function == "BITRIGHTSHIFT") return "({0} >> {1})";
    if (function == "TRUNCDATE" || function == "TRUNCTIME") {
        bool to_date = function == "TRUNCDATE";
        if (!date && !datetime && !time) throw not_a_date();
        if (to_date && time) throw ValueError(fmt::format("dorm: Cannot truncate TimeField '{}' to DateField.", field));
        if (!to_date && date) throw ValueError(fmt::format("dorm: Cannot truncate DateField '{}' to TimeField.", field));
        if (datetime && zone) return in_zone(extract_in_zone_template(to_date ? "date" : "time"));
        no_zone_but_datetime();
        if (!datetime) return "{0}";  // a date's date, a time's time: itself (Django allows both)
        return with_argument(transform_template(to_date ? "date" : "time", *input));
    }
    return {};
}

DORM_DECL auto Dialect::collate(const std::vector<FunctionArg>& args) const -> std::string {
    const auto* name = args.size() == 2 && args[1].value ? std::get_if<std::string>(&args[1].value->variant()) : nullptr;
    if (!name) throw ValueError("dorm: Collate takes a collation name");
    std::string out = "{0} COLLATE ";
    quote_name(out, *name);
    return out;
}

DORM_DECL auto Dialect::argument_list(std::size_t n, std::string_view each, std::string_view separator) -> std::string {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        if (i) out += separator;
        auto at = each.find("%s");
        out += each.substr(0, at);
        out += fmt::format("{{{}}}", i);
        if (at != std::string_view::npos) out += each.substr(at + 2);
    }
    return out;
}

DORM_DECL auto Dialect::trunc_in_zone_template(std::string_view kind) const -> std::string {
    (void)kind;
    throw NotSupportedError(fmt::format("dorm: {} has no time zone database: named zones are not supported", vendor()));
}

DORM_DECL auto Dialect::extract_in_zone_template(std::string_view part) const -> std::string {
    return trunc_in_zone_template(part);
}

DORM_DECL auto Dialect::duration_extract_template(std::string_view part) const -> std::string {
    (void)part;
    throw ValueError("dorm: Extract requires native DurationField database support.");
}

}  // namespace dorm::backends
