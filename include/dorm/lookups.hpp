// SPDX-License-Identifier: MIT
// Field lookups (exact, icontains, in, range, ...) and transforms (year, date, week_day, ...):
// one small definition each in a registry; what differs per database lives in the dialects' tables.
#pragma once

#include <dorm/config.hpp>
#include <dorm/detail/short_text.hpp>

#include <dorm/errors.hpp>
#include <dorm/expressions.hpp>
#include <dorm/fields.hpp>
#include <dorm/sql/ast.hpp>
#include <dorm/value.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dorm {

namespace sql {
struct Query;
}

namespace detail {
/// The right-hand side of a lookup as the user gave it: one value, a list (for `in` / `range`),
/// an expression (F), or a QuerySet (a subquery for `in`).
struct Operand {
    enum class Kind { value, list, expression, subquery };
    Kind kind = Kind::value;
    Value value;
    std::vector<Value> list;
    ExprNodePtr expression;
    std::shared_ptr<const sql::Query> subquery;
    /// A model instance's name when `value` (or a `list` element) is its primary key: only a relation takes one, as
    /// Django's get_prep_value() refuses an instance elsewhere, a primary key too (TypeError).
    std::string_view instance_of;
};
}  // namespace detail

namespace lookups {

// ---- Transforms ---------------------------------------------------------------------------------------------

/// A transform: a function of a column that further lookups apply to (`pub_date__year__gte`).
struct TransformDef {
    std::string_view name;
    FieldKind output;     // FieldKind::date for `date`, FieldKind::time for `time`, an integer otherwise
    bool needs_date;      // the input must have a date part (date or datetime)
    bool needs_time;      // the input must have a time part (datetime or time)
};

inline constexpr std::array<TransformDef, 13> transforms{{
    {"year", FieldKind::integer, true, false},
    {"iso_year", FieldKind::integer, true, false},
    {"month", FieldKind::integer, true, false},
    {"day", FieldKind::integer, true, false},
    {"week", FieldKind::integer, true, false},
    {"week_day", FieldKind::integer, true, false},
    {"iso_week_day", FieldKind::integer, true, false},
    {"quarter", FieldKind::integer, true, false},
    {"date", FieldKind::date, true, true},  // datetime only: both parts
    {"time", FieldKind::time, true, true},
    {"hour", FieldKind::integer, false, true},
    {"minute", FieldKind::integer, false, true},
    {"second", FieldKind::integer, false, true},
}};

/// The index of a transform in `transforms`, or -1. (Indices, not pointers: GCC does not evaluate a
/// pointer-to-global compared with null as a constant under -fno-delete-null-pointer-checks, which the
/// sanitizers imply.)
constexpr int transform_index(std::string_view name) {
    for (std::size_t i = 0; i < transforms.size(); ++i)
        if (dorm::detail::equal_short(transforms[i].name, name)) return static_cast<int>(i);
    return -1;
}
inline const TransformDef* find_transform(std::string_view name) {
    int i = transform_index(name);
    return i < 0 ? nullptr : &transforms[static_cast<std::size_t>(i)];
}

/// Whether transform `t` applies to a value of kind `k`.
constexpr bool transform_applies(const TransformDef& t, FieldKind k) {
    bool has_date = k == FieldKind::date || k == FieldKind::datetime;
    bool has_time = k == FieldKind::time || k == FieldKind::datetime;
    if (t.needs_date && t.needs_time) return k == FieldKind::datetime;
    if (t.needs_date) return has_date;
    if (t.needs_time) return has_time;
    return false;
}

/// A transform applied to an expression, spelled by the dialect's transform table.
struct Transform final : sql::Expression {
    Transform(const TransformDef* d, sql::ExprPtr a, FieldKind in) : def(d), arg(std::move(a)), input(in) {}
    const TransformDef* def;
    sql::ExprPtr arg;
    FieldKind input;
    sql::Match as_sql(sql::Compiler& c) const override;
    void sources(std::vector<const sql::Expression*>& out) const override { out.push_back(arg.get()); }
    std::optional<FieldKind> output_kind() const override { return def->output; }
};

// ---- Lookups ------------------------------------------------------------------------------------------------

/// The names of the lookups, and whether each is a pattern lookup (it compares text: on a field that is not
/// text the column is cast to text, as Django does): the one list both the compile-time path check and the
/// run-time registry use.
struct LookupName {
    std::string_view name;
    bool pattern;
};
inline constexpr std::array<LookupName, 17> lookup_names{{
    {"exact", false}, {"iexact", true}, {"gt", false}, {"gte", false}, {"lt", false}, {"lte", false},
    {"in", false}, {"range", false}, {"isnull", false}, {"contains", true}, {"icontains", true},
    {"startswith", true}, {"istartswith", true}, {"endswith", true}, {"iendswith", true}, {"regex", true},
    {"iregex", true},
}};
/// The index of a lookup in `lookup_names`, or -1.
constexpr int lookup_index(std::string_view name) {
    for (std::size_t i = 0; i < lookup_names.size(); ++i)
        if (dorm::detail::equal_short(lookup_names[i].name, name)) return static_cast<int>(i);
    return -1;
}

struct Lookup;
struct CustomDef;
/// The custom lookups and transforms registered at one moment, newest first (<dorm/custom_lookups.hpp>).
using CustomRegistry = std::vector<std::shared_ptr<const CustomDef>>;

/// One lookup: its name, what right-hand side it takes, which kinds it applies to, and how it is written.
struct LookupDef {
    enum class Rhs { value, list, pair, boolean };
    std::string_view name;
    Rhs rhs = Rhs::value;
    bool pattern = false;  // compares text (iexact, contains, regex, ...): not on binary fields
    sql::Match (*as_sql)(sql::Compiler&, const Lookup&) = nullptr;
};

/// A resolved lookup in a WHERE tree: `lhs <op> rhs`. The right-hand side is a value, a list, or an
/// expression (an F() or a subquery).
struct Lookup final : sql::Expression {
    sql::ExprPtr lhs;
    const LookupDef* def = nullptr;
    Value value;
    std::vector<Value> list;
    sql::ExprPtr rhs;  // set when the right-hand side is an expression
    bool cast_lhs = false;  // a pattern lookup on a field that is not text: the column is cast to text
    std::shared_ptr<const CustomDef> custom;  // a custom lookup's definition (`def` points into it), kept alive
    sql::Match as_sql(sql::Compiler& c) const override { return def->as_sql(c, *this); }
    void sources(std::vector<const sql::Expression*>& out) const override;
    std::optional<FieldKind> output_kind() const override { return FieldKind::boolean; }
};

namespace detail {

/// Writes `tmpl`, replacing {lhs} with the lookup's left side (cast to text if `l.cast_lhs`) and {rhs} / {rhs2}
/// with the given values, or {rhs} with the lookup's right-hand expression.
DORM_DECL void write_template(sql::Compiler& c, std::string_view tmpl, const Lookup& l, const Value* rhs,
                           const Value* rhs2 = nullptr);

/// lhs + the dialect's operator template (Django's `operators[lookup_name] % rhs`).
DORM_DECL sql::Match operator_sql(sql::Compiler& c, const Lookup& l);

DORM_DECL sql::Match exact_sql(sql::Compiler& c, const Lookup& l);

DORM_DECL sql::Match in_sql(sql::Compiler& c, const Lookup& l);

DORM_DECL sql::Match range_sql(sql::Compiler& c, const Lookup& l);

DORM_DECL sql::Match isnull_sql(sql::Compiler& c, const Lookup& l);

/// Escapes LIKE's wildcards (%, _) and its escape character (\) so that they match literally.
DORM_DECL std::string like_escape(std::string_view s);

/// Escapes GLOB's wildcards (*, ?, [) by putting each in brackets.
DORM_DECL std::string glob_escape(std::string_view s);

/// The smallest string greater than every string starting with `p` (byte order), if there is one.
DORM_DECL std::optional<std::string> prefix_successor(std::string p);

DORM_DECL void append_utf8(std::string& out, std::uint32_t cp);

/// Lower-cases a code point: ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic capitals.
constexpr std::uint32_t fold_code_point(std::uint32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c < 0xC0) return c;
    if (c <= 0xDE && c != 0xD7) return c + 32;
    if (c >= 0x100 && c <= 0x17F) {
        if (c == 0x130) return 'i';
        if (c == 0x178) return 0xFF;
        bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
        if (c == 0x138 || c == 0x149 || c == 0x17F) return c;
        if (odd_upper) return (c % 2 == 1) ? c + 1 : c;
        return (c % 2 == 0) ? c + 1 : c;
    }
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    return c;
}

/// Case-folds UTF-8 text for the i-lookups on SQLite (whose LIKE folds ASCII only); invalid bytes pass through.
DORM_DECL std::string fold(std::string_view s);

/// contains / startswith / ... : the dialect says how (template plus how to prepare the value).
DORM_DECL sql::Match pattern_sql(sql::Compiler& c, const Lookup& l);

}  // namespace detail

/// The lookups dorm knows, by name (Django's "Field lookups").
DORM_DECL const std::map<std::string_view, LookupDef, std::less<>>& registry();

/// The lookup named `name`, or nullptr.
DORM_DECL const LookupDef* find(std::string_view name);

/// Whether a lookup applies to a field of `kind`: pattern lookups compare text, which binary data is not.
constexpr bool lookup_applies(bool pattern, FieldKind kind) { return !pattern || kind != FieldKind::bytes; }

/// "contains, date, day, ..." for error messages: the lookups and transforms that apply to `kind`, with those of
/// the registry snapshot `custom` (the path's) that apply to it or to `field`, the field the value stands for.
DORM_DECL std::string names(std::optional<FieldKind> kind, const CustomRegistry* custom, const FieldMeta* field);

}  // namespace lookups
}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/impl/lookups.ipp>
#endif
