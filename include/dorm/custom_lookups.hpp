// SPDX-License-Identifier: MIT
// Custom lookups and transforms (Django's "Custom Lookups" how-to): an SQL template registered under a name on
// the kinds of field it applies to, then usable in lookup paths like a built-in one (`change__abs__lt`).
#pragma once

#include <dorm/config.hpp>

#include <dorm/errors.hpp>
#include <dorm/fields.hpp>
#include <dorm/lookups.hpp>
#include <dorm/sql/ast.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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

/// Registers a custom lookup or transform for the whole program (Django: Field.register_lookup()). Checks the
/// name and the template: ValueError if bad, or if the name clashes with a lookup or transform that applies to
/// the same kinds and `replace` is not set. See "Thread safety" below.
DORM_DECL void register_lookup(const CustomLookup& lookup);
DORM_DECL void register_transform(const CustomTransform& transform);

/// Removes every custom lookup and transform named `name` (those on transforms included when `name` is
/// a transform's): what it replaced applies again. ValueError if there is none (Django's _unregister_lookup()).
DORM_DECL void unregister_lookup(std::string_view name);

/// A registration for a scope (tests, mostly): registered on construction, and exactly that registration removed
/// on destruction (Django's `register_lookup()` context manager of its test utilities).
class ScopedLookup {
public:
    explicit ScopedLookup(const CustomLookup& lookup);
    explicit ScopedLookup(const CustomTransform& transform);
    ~ScopedLookup();
    ScopedLookup(const ScopedLookup&) = delete;
    ScopedLookup& operator=(const ScopedLookup&) = delete;

private:
    std::shared_ptr<const void> handle_;  // the registration itself, held so that its address stays its own
};

// Thread safety: registrations normally happen at start-up, before queries. Registering and unregistering are
// nevertheless safe while other threads build queries: each path is resolved against one consistent snapshot of
// the registry, and a resolved QuerySet keeps the definitions it uses alive (it does not see later changes).

/// What the compile-time check of literal lookup paths needs to know of a custom lookup or transform.
struct LookupDeclaration {
    std::string_view name;
    bool transform = false;
    FieldKinds on{};
    std::string_view on_transform{};
    std::optional<FieldKind> output{};
    constexpr LookupDeclaration(const CustomLookup& l)  // NOLINT: implicit, for declare_lookups()
        : name(l.name), on(l.on), on_transform(l.on_transform) {}
    constexpr LookupDeclaration(const CustomTransform& t)  // NOLINT
        : name(t.name), transform(true), on(t.on), output(t.output) {}
};

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

namespace lookups {

/// A registered custom lookup or transform, owned by the registry and by the queries that use it.
struct CustomDef {
    bool transform = false;
    std::string name;
    FieldKinds on;
    std::string on_transform;
    std::string sql, sqlite, postgresql;
    std::optional<FieldKind> output;
    bool bilateral = false;
    LookupDef lookup;  // a lookup's entry for lookups::Lookup (its name views `name`)

    /// The template for the backend named `vendor`; empty when it has none.
    std::string_view template_for(std::string_view vendor) const;
    /// Whether it applies to a value of kind `k` (`known`: false when the kind is not known: it applies).
    bool applies(FieldKind k, bool known) const { return !known || on.contains(k); }
};
using CustomDefPtr = std::shared_ptr<const CustomDef>;

/// The registry at one moment, newest registration first (the first match wins).
using CustomRegistry = std::vector<CustomDefPtr>;

/// The current registry, or nullptr when nothing is registered (the common case costs one atomic load).
DORM_DECL std::shared_ptr<const CustomRegistry> custom_registry();

/// The custom transform named `name` for a value of kind `kind`, or nullptr.
DORM_DECL CustomDefPtr find_custom_transform(const CustomRegistry* reg, std::string_view name, FieldKind kind,
                                             bool known);
/// The custom lookup named `name` after `transform` (a custom transform, or nullptr) on a value of kind `kind`.
DORM_DECL CustomDefPtr find_custom_lookup(const CustomRegistry* reg, std::string_view name, FieldKind kind,
                                          bool known, const CustomDef* transform);
/// Whether any custom lookup or transform is named `name`.
DORM_DECL bool is_custom_name(const CustomRegistry* reg, std::string_view name);

/// A custom transform applied to an expression.
struct CustomTransformExpr final : sql::Expression {
    CustomTransformExpr(CustomDefPtr d, sql::ExprPtr a, FieldKind out) : def(std::move(d)), arg(std::move(a)), output(out) {}
    CustomDefPtr def;
    sql::ExprPtr arg;
    FieldKind output;
    sql::Match as_sql(sql::Compiler& c) const override;
    void sources(std::vector<const sql::Expression*>& out) const override { out.push_back(arg.get()); }
    std::optional<FieldKind> output_kind() const override { return output; }
};

/// A parenthesised list of expressions: the right-hand side of `in` after a bilateral transform, each value
/// transformed ("(UPPER(?), UPPER(?))").
struct ValueList final : sql::Expression {
    std::vector<sql::ExprPtr> items;
    sql::Match as_sql(sql::Compiler& c) const override;
    void sources(std::vector<const sql::Expression*>& out) const override {
        for (const auto& i : items) out.push_back(i.get());
    }
};

namespace detail {
/// A custom lookup's SQL (LookupDef::as_sql of every custom lookup).
DORM_DECL sql::Match custom_lookup_sql(sql::Compiler& c, const Lookup& l);
}  // namespace detail

}  // namespace lookups
}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/impl/custom_lookups.ipp>
#endif
