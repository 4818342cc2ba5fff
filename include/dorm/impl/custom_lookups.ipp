// SPDX-License-Identifier: MIT
// Definitions for <dorm/custom_lookups.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/custom_lookups.hpp>
#include <dorm/sql/compiler.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>

namespace dorm::lookups::detail {

/// The registry: a snapshot replaced whole on every change (copy on write), so that readers never see a
/// registration half made. A reader copies `current` under `mutex`, once per lookup path; `any` spares programs
/// without custom lookups even that. (std::atomic<std::shared_ptr> is no better here: GCC 12's is not lock-free
/// (a spin lock in the pointer), and two threads taking snapshots measured slower with it than with the mutex.)
struct CustomState {
    std::mutex mutex;
    std::shared_ptr<const CustomRegistry> current;
    std::atomic<bool> any{false};
    std::atomic<std::uint64_t> generation{0};
};

DORM_DECL CustomState& custom_state() {
    static CustomState s;
    return s;
}

/// Publishes `next` (nullptr: nothing registered) as the registry; the caller holds `mutex`.
DORM_DECL void publish(CustomState& s, std::shared_ptr<const CustomRegistry> next) {
    s.any.store(next != nullptr, std::memory_order_release);
    s.current = std::move(next);
    s.generation.fetch_add(1, std::memory_order_acq_rel);
}

/// Calls `word(name)` for each {name} of `tmpl` and `text(s)` for the text between them.
template <class Text, class Word>
void walk_template(std::string_view tmpl, Text&& text, Word&& word) {
    for (std::size_t pos = 0; pos < tmpl.size();) {
        auto at = tmpl.find_first_of("{}", pos);
        text(tmpl.substr(pos, at == std::string_view::npos ? std::string_view::npos : at - pos));
        if (at == std::string_view::npos) break;
        auto end = tmpl[at] == '{' ? tmpl.find('}', at) : std::string_view::npos;
        word(end == std::string_view::npos ? std::string_view("}") : tmpl.substr(at + 1, end - at - 1));
        if (end == std::string_view::npos) break;
        pos = end + 1;
    }
}

DORM_DECL void check_template(const CustomDef& d, std::string_view tmpl, std::string_view which) {
    if (tmpl.empty()) return;
    bool has_lhs = false;
    walk_template(tmpl, [](std::string_view) {}, [&](std::string_view w) {
        bool ok = w == "lhs" || (!d.transform && w == "rhs") || (!d.on_transform.empty() && w == "arg");
        if (!ok)
            throw ValueError(fmt::format("dorm: the {} template of the custom {} '{}' has '{{{}}}': its placeholders "
                                         "are {}", which, d.transform ? "transform" : "lookup", d.name, w,
                                         d.transform ? "{lhs}" : d.on_transform.empty() ? "{lhs} and {rhs}"
                                                                                        : "{lhs}, {rhs} and {arg}"));
        has_lhs = has_lhs || w == "lhs" || w == "arg";
    });
    if (!has_lhs)
        throw ValueError(fmt::format("dorm: the {} template of the custom {} '{}' does not use {{lhs}}", which,
                                     d.transform ? "transform" : "lookup", d.name));
}

/// Whether a built-in lookup or transform named `name` applies to one of `kinds`.
DORM_DECL bool builtin_clash(std::string_view name, FieldKinds kinds) {
    for (unsigned k = 0; k <= static_cast<unsigned>(last_field_kind); ++k) {
        auto kind = static_cast<FieldKind>(k);
        if (!kinds.contains(kind)) continue;
        if (int li = lookup_index(name); li >= 0 && lookup_applies(lookup_names[static_cast<std::size_t>(li)].pattern, kind))
            return true;
        if (const auto* t = find_transform(name); t && transform_applies(*t, kind)) return true;
    }
    return false;
}

/// The registration's name for messages: "lookup 'ne'", "transform 'abs' of the field 'name'".
DORM_DECL std::string describe(const CustomDef& d) {
    return fmt::format("{} '{}'{}", d.transform ? "transform" : "lookup", d.name,
                       d.field ? fmt::format(" of the field '{}'", d.field->name) : std::string());
}

DORM_DECL CustomDefPtr add_custom(std::shared_ptr<CustomDef> d, bool replace) {
    std::string_view name = d->name;
    bool bad_char = std::any_of(name.begin(), name.end(), [](char ch) {
        return !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_');
    });
    if (name.empty() || bad_char || name.find("__") != std::string_view::npos || name.front() == '_' ||
        name.back() == '_')
        throw ValueError(fmt::format("dorm: '{}' is not a valid name for a custom {}: letters, digits and single "
                                     "inner underscores ('__' separates the parts of a lookup path)", name,
                                     d->transform ? "transform" : "lookup"));
    if (d->field) {
        // Django registers a lookup on a transform class, never on a field's transform instance.
        if (!d->on_transform.empty())
            throw ValueError(fmt::format("dorm: the custom {} is registered on the transform '{}': register it with "
                                         "dorm::register_lookup(lookup), not on a field", describe(*d), d->on_transform));
        if (!d->on.empty() && !d->on.contains(d->field->kind))
            throw ValueError(fmt::format("dorm: the custom {} is not for fields of this kind (see its `on`)",
                                         describe(*d)));
    } else if (d->on_transform.empty() && d->on.empty()) {
        throw ValueError(fmt::format("dorm: the custom {} applies to no field kind (set `on`)", describe(*d)));
    }
    if (d->sql.empty() && (d->sqlite.empty() || d->postgresql.empty()))
        throw ValueError(fmt::format("dorm: the custom {} needs an SQL template (`sql`, or `sqlite` and "
                                     "`postgresql`)", describe(*d)));
    check_template(*d, d->sql, "SQL");
    check_template(*d, d->sqlite, "SQLite");
    check_template(*d, d->postgresql, "PostgreSQL");
    d->lookup = LookupDef{d->name, LookupDef::Rhs::value, false, custom_lookup_sql};

    auto& s = custom_state();
    std::lock_guard lock(s.mutex);
    auto current = s.current;
    const CustomDef* scope = nullptr;
    if (!d->on_transform.empty()) {
        if (current)
            for (const auto& e : *current)
                if (e->transform && e->name == d->on_transform) scope = e.get();
        if (!scope)
            throw ValueError(fmt::format("dorm: the custom lookup '{}' is registered on the transform '{}', which is "
                                         "not a registered custom transform", name, d->on_transform));
    }
    if (!replace) {
        bool clash = false;
        if (scope) {  // a built-in lookup, or one registered on the same transform before
            clash = lookup_index(name) >= 0;
            for (const auto& e : *current)
                if (e->name == name && e->on_transform == d->on_transform) clash = true;
        } else if (d->field) {  // what the field's kind already has, built in or registered, or the field itself
            clash = builtin_clash(name, d->field->kind);
            if (current)
                for (const auto& e : *current)
                    if (e->name == name && e->on_transform.empty() &&
                        (e->field == d->field || e->applies(d->field->kind, true)))
                        clash = true;
        } else {
            clash = builtin_clash(name, d->on);
            if (current)
                for (const auto& e : *current)
                    if (e->name == name && !e->field && e->on_transform.empty() && e->on.overlaps(d->on)) clash = true;
        }
        if (clash)
            throw ValueError(fmt::format("dorm: a lookup or transform named '{}' already applies {}: set `replace` "
                                         "to replace it, as Django's register_lookup() would", name,
                                         scope ? "after this transform"
                                               : d->field ? fmt::format("to the field '{}'", d->field->name)
                                                          : std::string("to these field kinds")));
    }
    auto next = std::make_shared<CustomRegistry>();
    next->push_back(d);
    if (current) next->insert(next->end(), current->begin(), current->end());
    publish(s, std::move(next));
    return d;
}

/// Removes the registrations `match` selects; returns how many.
template <class Match>
std::size_t remove_custom(Match&& match) {
    auto& s = custom_state();
    std::lock_guard lock(s.mutex);
    auto current = s.current;
    if (!current) return 0;
    auto next = std::make_shared<CustomRegistry>();
    for (const auto& e : *current)
        if (!match(*e)) next->push_back(e);
    std::size_t removed = current->size() - next->size();
    if (removed) publish(s, next->empty() ? nullptr : std::move(next));
    return removed;
}

DORM_DECL std::shared_ptr<CustomDef> make_def(const CustomLookup& l, const FieldMeta* field) {
    auto d = std::make_shared<CustomDef>();
    d->name = l.name;
    d->on = l.on;
    d->field = field;
    d->on_transform = l.on_transform;
    d->sql = l.sql;
    d->sqlite = l.sqlite;
    d->postgresql = l.postgresql;
    return d;
}

DORM_DECL std::shared_ptr<CustomDef> make_def(const CustomTransform& t, const FieldMeta* field) {
    auto d = std::make_shared<CustomDef>();
    d->transform = true;
    d->name = t.name;
    d->on = t.on;
    d->field = field;
    d->sql = t.sql;
    d->sqlite = t.sqlite;
    d->postgresql = t.postgresql;
    d->output = t.output;
    d->bilateral = t.bilateral;
    return d;
}

/// Writes a custom template: `word(name)` for each placeholder.
template <class Word>
void write_custom(sql::Compiler& c, const CustomDef& d, Word&& word) {
    std::string_view tmpl = d.template_for(c.dialect.vendor());
    if (tmpl.empty())
        throw NotSupportedError(fmt::format("dorm: the custom {} '{}' has no SQL for {}",
                                            d.transform ? "transform" : "lookup", d.name, c.dialect.vendor()));
    walk_template(tmpl, [&](std::string_view s) { c << s; }, word);
}

DORM_DECL sql::Match custom_lookup_sql(sql::Compiler& c, const Lookup& l) {
    write_custom(c, *l.custom, [&](std::string_view w) {
        if (w == "lhs") {
            c.compile(*l.lhs);
        } else if (w == "rhs") {
            if (l.rhs) c.compile(*l.rhs);
            else c.param(l.value);
        } else {  // {arg}: the argument of the transform the lookup is registered on
            const auto* t = dynamic_cast<const CustomTransformExpr*>(l.lhs.get());
            c.compile(t ? *t->arg : *l.lhs);
        }
    });
    return sql::Match::some;
}
}  // namespace dorm::lookups::detail

namespace dorm::lookups {

DORM_DECL std::string_view CustomDef::template_for(std::string_view vendor) const {
    if (vendor == "sqlite" && !sqlite.empty()) return sqlite;
    if (vendor == "postgresql" && !postgresql.empty()) return postgresql;
    return sql;
}

DORM_DECL std::shared_ptr<const CustomRegistry> custom_registry() {
    auto& s = detail::custom_state();
    if (!s.any.load(std::memory_order_acquire)) return nullptr;
    std::lock_guard lock(s.mutex);
    return s.current;
}

DORM_DECL std::uint64_t custom_generation() noexcept {
    return detail::custom_state().generation.load(std::memory_order_acquire);
}

DORM_DECL CustomDefPtr find_own(const CustomRegistry* reg, std::string_view name, const FieldMeta* field) {
    if (reg && field)
        for (const auto& d : *reg)
            if (d->field == field && d->name == name) return d;
    return nullptr;
}

DORM_DECL CustomDefPtr find_custom_transform(const CustomRegistry* reg, std::string_view name, FieldKind kind,
                                             bool known, const FieldMeta* field) {
    if (!reg) return nullptr;
    if (auto own = find_own(reg, name, field)) return own->transform ? own : nullptr;
    for (const auto& d : *reg)
        if (d->transform && d->name == name && d->applies(kind, known)) return d;
    return nullptr;
}

DORM_DECL CustomDefPtr find_custom_lookup(const CustomRegistry* reg, std::string_view name, FieldKind kind,
                                          bool known, const FieldMeta* field, const CustomDef* after) {
    if (!reg) return nullptr;
    if (after)  // registered on the transform first, as Django looks on the transform's class
        for (const auto& d : *reg)
            if (!d->transform && d->name == name && d->on_transform == after->name) return d;
    if (auto own = find_own(reg, name, field)) return own->transform ? nullptr : own;
    for (const auto& d : *reg)
        if (!d->transform && d->name == name && d->on_transform.empty() && d->applies(kind, known)) return d;
    return nullptr;
}

DORM_DECL bool is_custom_name(const CustomRegistry* reg, std::string_view name) {
    if (reg)
        for (const auto& d : *reg)
            if (d->name == name) return true;
    return false;
}

DORM_DECL auto ValueList::as_sql(sql::Compiler& c) const -> sql::Match {
    c << "(";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) c << ", ";
        c.compile(*items[i]);
    }
    c << ")";
    return sql::Match::some;
}

DORM_DECL auto CustomTransformExpr::as_sql(sql::Compiler& c) const -> sql::Match {
    detail::write_custom(c, *def, [&](std::string_view) { c.compile(*arg); });
    return sql::Match::some;
}
}  // namespace dorm::lookups

namespace dorm {

DORM_DECL void register_lookup(const CustomLookup& lookup) {
    lookups::detail::add_custom(lookups::detail::make_def(lookup, nullptr), lookup.replace);
}

DORM_DECL void register_transform(const CustomTransform& transform) {
    lookups::detail::add_custom(lookups::detail::make_def(transform, nullptr), transform.replace);
}

DORM_DECL void register_lookup(const FieldMeta& field, const CustomLookup& lookup) {
    lookups::detail::add_custom(lookups::detail::make_def(lookup, &field), lookup.replace);
}

DORM_DECL void register_transform(const FieldMeta& field, const CustomTransform& transform) {
    lookups::detail::add_custom(lookups::detail::make_def(transform, &field), transform.replace);
}

DORM_DECL void unregister_lookup(std::string_view name) {
    if (lookups::detail::remove_custom([&](const lookups::CustomDef& d) {
            return !d.field && (d.name == name || d.on_transform == name);
        }) == 0)
        throw ValueError(fmt::format("dorm: no custom lookup or transform named '{}' is registered", name));
}

DORM_DECL void unregister_lookup(const FieldMeta& field, std::string_view name) {
    if (lookups::detail::remove_custom([&](const lookups::CustomDef& d) { return d.field == &field && d.name == name; }) == 0)
        throw ValueError(fmt::format("dorm: no custom lookup or transform named '{}' is registered on the field '{}'",
                                     name, field.name));
}

DORM_DECL ScopedLookup::ScopedLookup(const CustomLookup& lookup)
    : handle_(lookups::detail::add_custom(lookups::detail::make_def(lookup, nullptr), lookup.replace)) {}

DORM_DECL ScopedLookup::ScopedLookup(const CustomTransform& transform)
    : handle_(lookups::detail::add_custom(lookups::detail::make_def(transform, nullptr), transform.replace)) {}

DORM_DECL ScopedLookup::ScopedLookup(const FieldMeta& field, const CustomLookup& lookup)
    : handle_(lookups::detail::add_custom(lookups::detail::make_def(lookup, &field), lookup.replace)) {}

DORM_DECL ScopedLookup::ScopedLookup(const FieldMeta& field, const CustomTransform& transform)
    : handle_(lookups::detail::add_custom(lookups::detail::make_def(transform, &field), transform.replace)) {}

DORM_DECL ScopedLookup::~ScopedLookup() {
    lookups::detail::remove_custom([&](const lookups::CustomDef& d) { return &d == handle_.get(); });
}
}  // namespace dorm
