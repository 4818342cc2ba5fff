// SPDX-License-Identifier: MIT
// The registry of custom lookups and transforms (Django's "Custom Lookups" how-to): an SQL template registered under
// a name on the kinds of field it applies to, or on one model field, then usable in lookup paths like a built-in
// one (`change__abs__lt`). What a lookup is, and how a model declares them: <dorm/lookup_declarations.hpp>.
#pragma once

#include <dorm/config.hpp>

#include <dorm/errors.hpp>
#include <dorm/fields.hpp>
#include <dorm/lookup_declarations.hpp>
#include <dorm/lookups.hpp>
#include <dorm/model.hpp>
#include <dorm/sql/ast.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dorm {

/// Registers a custom lookup or transform for the whole program (Django: Field.register_lookup()). Checks the
/// name and the template: ValueError if bad, or if the name clashes with a lookup or transform that applies to
/// the same kinds and `replace` is not set. See "Thread safety" below.
DORM_DECL void register_lookup(const CustomLookup& lookup);
DORM_DECL void register_transform(const CustomTransform& transform);

/// Registers a custom lookup or transform on one model field only (Django 4.2's
/// `Author._meta.get_field("name").register_lookup(NotEqual)`): it applies after that field, also across
/// relations (`Book`'s "author__name__ne"), and not to a field of the same name of another model. There it comes
/// before anything of the same name registered on the field's kind or built in, as Django's instance lookups come
/// before its class lookups. `on` may be left empty; if set it must contain the field's kind. A name that already
/// applies to the field (built in, registered on its kind, or on the field before) needs `replace`.
///
///     dorm::register_lookup<Author>("name", not_equal);   // Author::objects().filter("name__ne", "Jack")
DORM_DECL void register_lookup(const FieldMeta& field, const CustomLookup& lookup);
DORM_DECL void register_transform(const FieldMeta& field, const CustomTransform& transform);
template <class M>
void register_lookup(std::string_view field, const CustomLookup& lookup) {
    register_lookup(model_meta<M>().get_field(field), lookup);
}
template <class M>
void register_transform(std::string_view field, const CustomTransform& transform) {
    register_transform(model_meta<M>().get_field(field), transform);
}

/// Removes every custom lookup and transform named `name` registered on field kinds (those on transforms included
/// when `name` is a transform's): what it replaced applies again. ValueError if there is none (Django's
/// _unregister_lookup()). Registrations on one field stay, as Django's instance lookups do.
DORM_DECL void unregister_lookup(std::string_view name);
/// Removes the lookups and transforms named `name` registered on `field` (ValueError if none).
DORM_DECL void unregister_lookup(const FieldMeta& field, std::string_view name);
template <class M>
void unregister_lookup(std::string_view field, std::string_view name) {
    unregister_lookup(model_meta<M>().get_field(field), name);
}

/// A registration for a scope (tests, mostly): registered on construction, and exactly that registration removed
/// on destruction (Django's `register_lookup()` context manager of its test utilities). On one field:
/// `dorm::ScopedLookup ne(dorm::model_meta<Author>().get_field("name"), not_equal)`.
class ScopedLookup {
public:
    explicit ScopedLookup(const CustomLookup& lookup);
    explicit ScopedLookup(const CustomTransform& transform);
    ScopedLookup(const FieldMeta& field, const CustomLookup& lookup);
    ScopedLookup(const FieldMeta& field, const CustomTransform& transform);
    ~ScopedLookup();
    ScopedLookup(const ScopedLookup&) = delete;
    ScopedLookup& operator=(const ScopedLookup&) = delete;

private:
    std::shared_ptr<const void> handle_;  // the registration itself, held so that its address stays its own
};

// Thread safety: registrations normally happen at start-up, before queries. Registering and unregistering are
// nevertheless safe while other threads build queries: each path is resolved against one consistent snapshot of
// the registry, and a resolved QuerySet keeps the definitions it uses alive (it does not see later changes).

namespace lookups {

/// A registered custom lookup or transform, owned by the registry and by the queries that use it. Neither copied
/// nor moved: `lookup.name` views `name`, which a copy's would still point into.
struct CustomDef {
    CustomDef() = default;
    CustomDef(const CustomDef&) = delete;
    CustomDef& operator=(const CustomDef&) = delete;

    bool transform = false;
    std::string name;
    FieldKinds on;
    const FieldMeta* field = nullptr;  // registered on this model field only (Django's instance lookups)
    std::string on_transform;
    std::string sql, sqlite, postgresql;
    std::optional<FieldKind> output;
    bool bilateral = false;
    LookupDef lookup;  // a lookup's entry for lookups::Lookup (its name views `name`)

    /// The template for the backend named `vendor`; empty when it has none.
    std::string_view template_for(std::string_view vendor) const;
    /// Whether, registered on field kinds, it applies to a value of kind `k` (`known`: false when the kind is not
    /// known: it applies).
    bool applies(FieldKind k, bool known) const { return field == nullptr && (!known || on.contains(k)); }
};
using CustomDefPtr = std::shared_ptr<const CustomDef>;

// CustomRegistry (lookups.hpp): the registry at one moment, newest registration first (the first match wins).

/// The current registry, or nullptr when nothing is registered (the common case costs one atomic load). Take it
/// once per lookup path and pass it down: each call is a snapshot of its own.
DORM_DECL std::shared_ptr<const CustomRegistry> custom_registry();

/// A number that changes with every registration and removal (0 until the first): what was compiled under one
/// value of it may be reused while it stays the same.
DORM_DECL std::uint64_t custom_generation() noexcept;

// Finding a name at one step of a path, in Django's order (RegisterLookupMixin): for a lookup, the lookups
// registered on the custom transform just applied (`after`), then the registrations on the model field the value
// stands for (`field`, Django's instance lookups; nullptr when it stands for none), then those on its kind (class
// lookups), built-ins last (the caller's). A field's own registration hides every other of its name: its lookup
// is no transform, and its transform no lookup (then nullptr).

/// The registration named `name` on `field` itself, lookup or transform, or nullptr.
DORM_DECL CustomDefPtr find_own(const CustomRegistry* reg, std::string_view name, const FieldMeta* field);
/// The custom transform named `name` for a value of kind `kind` standing for `field`, or nullptr.
DORM_DECL CustomDefPtr find_custom_transform(const CustomRegistry* reg, std::string_view name, FieldKind kind,
                                             bool known, const FieldMeta* field);
/// The custom lookup named `name` after `after` (a custom transform, or nullptr) on a value of kind `kind`
/// standing for `field`, or nullptr.
DORM_DECL CustomDefPtr find_custom_lookup(const CustomRegistry* reg, std::string_view name, FieldKind kind,
                                          bool known, const FieldMeta* field, const CustomDef* after);
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
