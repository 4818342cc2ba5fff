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
/// registration half made; `any` spares programs without custom lookups the mutex.
struct CustomState {
    std::mutex mutex;
    std::shared_ptr<const CustomRegistry> current;
    std::atomic<bool> any{false};
};

DORM_DECL CustomState& custom_state() {
    static CustomState s;
    return s;
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

DORM_DECL CustomDefPtr add_custom(std::shared_ptr<CustomDef> d, bool replace) {
    const char* what = d->transform ? "transform" : "lookup";
    std::string_view name = d->name;
    bool bad_char = std::any_of(name.begin(), name.end(), [](char ch) {
        return !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_');
    });
    if (name.empty() || bad_char || name.find("__") != std::string_view::npos || name.front() == '_' ||
        name.back() == '_')
        throw ValueError(fmt::format("dorm: '{}' is not a valid name for a custom {}: letters, digits and single "
                                     "inner underscores ('__' separates the parts of a lookup path)", name, what));
    if (d->on_transform.empty() && d->on.empty())
        throw ValueError(fmt::format("dorm: the custom {} '{}' applies to no field kind (set `on`)", what, name));
    if (d->sql.empty() && (d->sqlite.empty() || d->postgresql.empty()))
        throw ValueError(fmt::format("dorm: the custom {} '{}' needs an SQL template (`sql`, or `sqlite` and "
                                     "`postgresql`)", what, name));
    check_template(*d, d->sql, "SQL");
    check_template(*d, d->sqlite, "SQLite");
    check_template(*d, d->postgresql, "PostgreSQL");
    d->lookup = LookupDef{d->name, LookupDef::Rhs::value, false, custom_lookup_sql};

    auto& s = custom_state();
    std::lock_guard lock(s.mutex);
    const CustomDef* scope = nullptr;
    if (!d->on_transform.empty()) {
        if (s.current)
            for (const auto& e : *s.current)
                if (e->transform && e->name == d->on_transform) scope = e.get();
        if (!scope)
            throw ValueError(fmt::format("dorm: the custom lookup '{}' is registered on the transform '{}', which is "
                                         "not a registered custom transform", name, d->on_transform));
    }
    if (!replace) {
        bool clash = scope ? lookup_index(name) >= 0 : builtin_clash(name, d->on);
        if (!clash && s.current)
            for (const auto& e : *s.current)
                if (e->name == name && e->on_transform == d->on_transform && (scope || e->on.overlaps(d->on)))
                    clash = true;
        if (clash)
            throw ValueError(fmt::format("dorm: a lookup or transform named '{}' already applies {}: set `replace` "
                                         "to replace it, as Django's register_lookup() would", name,
                                         scope ? "after this transform" : "to these field kinds"));
    }
    auto next = std::make_shared<CustomRegistry>();
    next->push_back(d);
    if (s.current) next->insert(next->end(), s.current->begin(), s.current->end());
    s.current = std::move(next);
    s.any.store(true, std::memory_order_release);
    return d;
}

/// Removes the registrations `match` selects; returns how many.
template <class Match>
std::size_t remove_custom(Match&& match) {
    auto& s = custom_state();
    std::lock_guard lock(s.mutex);
    if (!s.current) return 0;
    auto next = std::make_shared<CustomRegistry>();
    for (const auto& e : *s.current)
        if (!match(*e)) next->push_back(e);
    std::size_t removed = s.current->size() - next->size();
    if (next->empty()) {
        s.current = nullptr;
        s.any.store(false, std::memory_order_release);
    } else {
        s.current = std::move(next);
    }
    return removed;
}

DORM_DECL std::shared_ptr<CustomDef> make_def(const CustomLookup& l) {
    auto d = std::make_shared<CustomDef>();
    d->name = l.name;
    d->on = l.on;
    d->on_transform = l.on_transform;
    d->sql = l.sql;
    d->sqlite = l.sqlite;
    d->postgresql = l.postgresql;
    return d;
}

DORM_DECL std::shared_ptr<CustomDef> make_def(const CustomTransform& t) {
    auto d = std::make_shared<CustomDef>();
    d->transform = true;
    d->name = t.name;
    d->on = t.on;
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

DORM_DECL CustomDefPtr find_custom_transform(const CustomRegistry* reg, std::string_view name, FieldKind kind,
                                             bool known) {
    if (reg)
        for (const auto& d : *reg)
            if (d->transform && d->name == name && d->applies(kind, known)) return d;
    return nullptr;
}

DORM_DECL CustomDefPtr find_custom_lookup(const CustomRegistry* reg, std::string_view name, FieldKind kind,
                                          bool known, const CustomDef* transform) {
    if (!reg) return nullptr;
    if (transform)  // registered on the transform first, as Django looks on the transform's class
        for (const auto& d : *reg)
            if (!d->transform && d->name == name && d->on_transform == transform->name) return d;
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
    lookups::detail::add_custom(lookups::detail::make_def(lookup), lookup.replace);
}

DORM_DECL void register_transform(const CustomTransform& transform) {
    lookups::detail::add_custom(lookups::detail::make_def(transform), transform.replace);
}

DORM_DECL void unregister_lookup(std::string_view name) {
    if (lookups::detail::remove_custom([&](const lookups::CustomDef& d) { return d.name == name || d.on_transform == name; }) == 0)
        throw ValueError(fmt::format("dorm: no custom lookup or transform named '{}' is registered", name));
}

DORM_DECL ScopedLookup::ScopedLookup(const CustomLookup& lookup)
    : handle_(lookups::detail::add_custom(lookups::detail::make_def(lookup), lookup.replace)) {}

DORM_DECL ScopedLookup::ScopedLookup(const CustomTransform& transform)
    : handle_(lookups::detail::add_custom(lookups::detail::make_def(transform), transform.replace)) {}

DORM_DECL ScopedLookup::~ScopedLookup() {
    lookups::detail::remove_custom([&](const lookups::CustomDef& d) { return &d == handle_.get(); });
}
}  // namespace dorm
