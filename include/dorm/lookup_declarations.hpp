// SPDX-License-Identifier: MIT
// What a custom lookup or transform is (FieldKinds, CustomLookup, CustomTransform) and how a model declares the ones
// its literal lookup paths may use (declare_lookups, on_field): all the compile-time check of paths needs. The
// registry, which runs them, is <dorm/custom_lookups.hpp>.
#pragma once

#include <dorm/config.hpp>

#include <dorm/fields.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace dorm {

/// A set of field kinds: where a custom lookup or transform applies. Django registers them on field classes;
/// these sets are those classes (`integers()` is IntegerField with its Small/Big subclasses, `all()` is Field).
class FieldKinds {
public:
    constexpr FieldKinds() = default;
    constexpr FieldKinds(FieldKind k) : bits_(1u << static_cast<unsigned>(k)) {}  // NOLINT: implicit
    constexpr FieldKinds operator|(FieldKinds o) const { return from_bits(bits_ | o.bits_); }
    constexpr bool contains(FieldKind k) const { return (bits_ >> static_cast<unsigned>(k)) & 1u; }
    constexpr bool empty() const { return bits_ == 0; }
    constexpr bool overlaps(FieldKinds o) const { return (bits_ & o.bits_) != 0; }
    constexpr bool operator==(const FieldKinds&) const = default;

    static constexpr FieldKinds all() { return from_bits((1u << (static_cast<unsigned>(last_field_kind) + 1)) - 1); }
    static constexpr FieldKinds integers() {
        return FieldKinds(FieldKind::small_integer) | FieldKind::integer | FieldKind::big_integer;
    }
    static constexpr FieldKinds numbers() { return integers() | FieldKind::real; }
    static constexpr FieldKinds text() { return FieldKind::text; }
    /// Django's DateField, of which DateTimeField is a subclass.
    static constexpr FieldKinds dates() { return FieldKinds(FieldKind::date) | FieldKind::datetime; }

private:
    static constexpr FieldKinds from_bits(std::uint32_t b) {
        FieldKinds k;
        k.bits_ = b;
        return k;
    }
    std::uint32_t bits_ = 0;
};

/// A custom lookup (Django's Lookup subclass): `name` in a lookup path as its last part, on fields of the kinds
/// `on`, written as the SQL template `sql` (or the backend's own template, Django's as_<vendor>()).
/// Placeholders: {lhs} the left-hand side, {rhs} the right-hand side (always a bound parameter, or the SQL of an
/// F() expression), and, for a lookup registered on a transform, {arg}: that transform's argument (Django's
/// `self.lhs.lhs`). Each placeholder may appear any number of times; other braces are not allowed.
///
///     inline constexpr dorm::CustomLookup not_equal{.name = "ne", .on = dorm::FieldKinds::all(),
///                                                   .sql = "{lhs} <> {rhs}"};
///     dorm::register_lookup(not_equal);   // at start-up; then filter("name__ne", "Jack")
struct CustomLookup {
    std::string_view name;
    FieldKinds on{};
    std::string_view sql{};         // shared by every backend
    std::string_view sqlite{};      // SQLite's own, if not `sql`
    std::string_view postgresql{};  // PostgreSQL's own, if not `sql`
    /// Registered on a custom transform (by its name) instead of on fields: applies after that transform only,
    /// as Django's `AbsoluteValue.register_lookup(AbsoluteValueLessThan)`; `on` is then unused.
    std::string_view on_transform{};
    /// Replaces a lookup or transform of the same name on these kinds (a built-in one, or one registered before),
    /// as Django's register_lookup() does. Without it such a clash is a ValueError.
    bool replace = false;
};

/// A custom transform (Django's Transform subclass): `name` in a lookup path, followed by further transforms and
/// a lookup (`exact` when none), or alone in values(), order_by(), F(). {lhs} in its template is its argument.
struct CustomTransform {
    std::string_view name;
    FieldKinds on{};
    std::string_view sql{};
    std::string_view sqlite{};
    std::string_view postgresql{};
    /// The kind of its result, which decides the lookups that may follow (Django's output_field); none: the
    /// kind of its argument.
    std::optional<FieldKind> output{};
    /// Applied to the right-hand side too (Django's `bilateral = True`): `name__upper="doe"` is
    /// UPPER(name) = UPPER('doe').
    bool bilateral = false;
    bool replace = false;
};

/// What the compile-time check of literal lookup paths needs to know of a custom lookup or transform.
struct LookupDeclaration {
    std::string_view name;
    bool transform = false;
    FieldKinds on{};
    std::string_view on_transform{};
    std::optional<FieldKind> output{};
    /// Declared for this one field of the model (see on_field()); empty: for the kinds `on`.
    std::string_view field{};
    constexpr LookupDeclaration(const CustomLookup& l)  // NOLINT: implicit, for declare_lookups()
        : name(l.name), on(l.on), on_transform(l.on_transform) {}
    constexpr LookupDeclaration(const CustomTransform& t)  // NOLINT
        : name(t.name), transform(true), on(t.on), output(t.output) {}
};

/// The declaration of a lookup or transform registered on one field of the model (dorm::register_lookup<M>(field,
/// ...), Django's `Model._meta.get_field(field).register_lookup(...)`): a literal path takes it after that field
/// only, before anything of the same name registered on the field's kind.
///
///     static constexpr auto dorm_lookups() { return dorm::declare_lookups(dorm::on_field("email", same_email)); }
constexpr LookupDeclaration on_field(std::string_view field, LookupDeclaration d) {
    d.field = field;
    return d;
}

/// The custom lookups a model's literal lookup paths may use, for its `static constexpr auto dorm_lookups()`:
///
///     static constexpr auto dorm_lookups() { return dorm::declare_lookups(not_equal, absolute_value); }
///
/// Without it a literal path naming a custom lookup is a compile error (a misspelt one would be too); a run-time
/// path (std::string, dorm::runtime(...)) needs no declaration. The registration is still needed: the
/// declaration only lets the literal through the compile-time check.
template <class... D>
constexpr std::array<LookupDeclaration, sizeof...(D)> declare_lookups(const D&... d) {
    return {{LookupDeclaration(d)...}};
}

namespace detail {
template <class M>
constexpr auto model_lookup_declarations() {
    if constexpr (requires { M::dorm_lookups(); }) return M::dorm_lookups();
    else return std::array<LookupDeclaration, 0>{};
}
template <class M>
inline constexpr auto declared_lookups_v = model_lookup_declarations<M>();
}  // namespace detail

}  // namespace dorm
