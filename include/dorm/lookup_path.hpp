// SPDX-License-Identifier: MIT
// LookupPath<M> and OrderTerm<M>: a string literal naming a lookup path ("blog__name__icontains") is parsed at
// compile time against M's fields, the {fmt} way; any other string is checked at run time (FieldError).
#pragma once

#include <dorm/expressions.hpp>
#include <dorm/fields.hpp>
#include <dorm/lookup_declarations.hpp>
#include <dorm/lookups.hpp>
#include <dorm/model.hpp>
#include <dorm/q.hpp>

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace dorm {

/// A misspelt literal lookup path is a compile error at one of these calls: they are deliberately not
/// constexpr, and the string at the call site is the message the compiler shows. The template argument says
/// where the path went wrong, as far as a constant evaluation can say it (it cannot print a computed string):
/// `unknown_field<Blog>` — a part that is not a field of Blog; `unknown_lookup<&Entry::headline>` — a part after
/// the field Entry::headline (or after its transforms); `&of<Entry>::pk` stands for Entry's primary key.
namespace compile_error {
template <class Model>
struct of {
    static constexpr bool pk = true;
};
template <class Model>
inline void unknown_field(const char*) {}
template <auto after>
inline void unknown_lookup(const char*) {}
template <auto after>
inline void lookup_not_valid_for_field_type(const char*) {}
template <auto after>
inline void transform_not_valid_for_field_type(const char*) {}
template <auto after>
inline void malformed_path(const char*) {}
template <class Model>
inline void malformed_path(const char*) {}
inline void malformed_path(const char*) {}
}  // namespace compile_error

/// Opts a string out of the compile-time check (it is checked when used, and a bad one throws FieldError):
/// `qs.filter(dorm::runtime(name), value)`.
struct runtime_string {
    std::string_view value;
};
inline runtime_string runtime(std::string_view s) { return {s}; }

namespace detail {

/// A path split at "__", in a fixed array (no allocation in constant evaluation).
struct PathParts {
    std::array<std::string_view, 16> parts{};
    std::size_t n = 0;
};

constexpr PathParts split_at_dunder(std::string_view path) {
    PathParts out;
    for (std::size_t pos = 0;;) {
        auto at = path.find("__", pos);
        if (out.n == out.parts.size()) {
            compile_error::malformed_path("dorm: a lookup path has at most 16 parts");
            return out;
        }
        out.parts[out.n++] = path.substr(pos, at == std::string_view::npos ? std::string_view::npos : at - pos);
        if (at == std::string_view::npos) break;
        pos = at + 2;
    }
    for (std::size_t i = 0; i < out.n; ++i)
        if (out.parts[i].empty()) compile_error::malformed_path("dorm: empty part in a lookup path (a stray '__'?)");
    return out;
}

/// The mistakes found in the parts after a field, reported by fail_after<field>.
enum class PathFailure { unknown_lookup, lookup_not_last, lookup_not_allowed, transform_not_valid, lookup_not_valid };

/// Reports `failure` in the parts after `after` (a member pointer, or &compile_error::of<M>::pk): one function per
/// field, so that the compiler's message names the field.
template <auto after>
constexpr void fail_after(PathFailure failure) {
    switch (failure) {
    case PathFailure::unknown_lookup:
        return compile_error::unknown_lookup<after>("dorm: unknown lookup or transform in lookup path (not a field either; a custom one must be in the model's dorm_lookups())");
    case PathFailure::lookup_not_last:
        return compile_error::unknown_lookup<after>("dorm: a lookup must be the last part of a lookup path");
    case PathFailure::lookup_not_allowed:
        return compile_error::malformed_path<after>("dorm: a lookup is not allowed here, only a field path");
    case PathFailure::transform_not_valid:
        return compile_error::transform_not_valid_for_field_type<after>("dorm: this transform does not apply to the field's type (e.g. hour on a Date, year on a Time)");
    case PathFailure::lookup_not_valid:
        return compile_error::lookup_not_valid_for_field_type<after>("dorm: this lookup compares text, which a binary field is not (contains, startswith, regex, ...)");
    }
}

using PathFailureReport = void (*)(PathFailure);

/// The declaration of custom transform `name`, declared on the kinds, for a value of kind `kind` (`known`: false
/// when not known), or -1.
constexpr int declared_transform(std::span<const LookupDeclaration> declared, std::string_view name, FieldKind kind,
                                 bool known) {
    for (std::size_t i = 0; i < declared.size(); ++i)
        if (declared[i].transform && declared[i].field.empty() && declared[i].name == name &&
            (!known || declared[i].on.contains(kind)))
            return static_cast<int>(i);
    return -1;
}

/// Whether a custom lookup `name` is declared on the kinds for a value of kind `kind`, or on the custom transform
/// `after`.
constexpr bool declared_lookup(std::span<const LookupDeclaration> declared, std::string_view name, FieldKind kind,
                               bool known, std::string_view after) {
    for (const auto& d : declared) {
        if (d.transform || d.name != name || !d.field.empty()) continue;
        if (d.on_transform.empty() ? (!known || d.on.contains(kind)) : d.on_transform == after) return true;
    }
    return false;
}

/// The declaration of `name` on the model's field `field` itself (dorm::on_field()), or -1. `field` "pk" stands for
/// the primary key, whose name the check does not know: any field's declaration is taken (checked at run time).
constexpr int declared_on_field(std::span<const LookupDeclaration> declared, std::string_view name,
                                std::string_view field) {
    if (field.empty()) return -1;
    for (std::size_t i = 0; i < declared.size(); ++i)
        if (!declared[i].field.empty() && declared[i].name == name && (declared[i].field == field || field == "pk"))
            return static_cast<int>(i);
    return -1;
}

/// Transforms and a final lookup after a field of kind `kind` (`known`: false after "pk", whose kind is set
/// at run time). `declared`: the custom lookups and transforms of the field's model (its dorm_lookups());
/// `field`: the name of the model field the value stands for, whose own declarations come first (Django's
/// instance lookups); empty once a transform has made it another value. `fail` reports a mistake, naming the field.
constexpr void check_tail(const PathParts& p, std::size_t i, FieldKind kind, bool known, bool allow_lookup,
                          std::span<const LookupDeclaration> declared, std::string_view field, PathFailureReport fail) {
    std::string_view custom_transform;  // the custom transform just applied, for the lookups registered on it
    for (; i < p.n; ++i) {
        bool last = i + 1 == p.n;
        // Custom names first, as the registry replaces built-ins: those on the transform just applied, then the
        // field's own, then those on its kind; at the end a lookup wins over a transform.
        if (allow_lookup && last && !custom_transform.empty())
            for (const auto& d : declared)
                if (!d.transform && d.field.empty() && d.name == p.parts[i] && d.on_transform == custom_transform)
                    return;
        if (int oi = declared_on_field(declared, p.parts[i], field); oi >= 0) {
            const auto& d = declared[static_cast<std::size_t>(oi)];
            if (!d.transform) {  // the field's own lookup hides any transform of its name
                if (!allow_lookup) fail(PathFailure::lookup_not_allowed);
                else if (!last) fail(PathFailure::lookup_not_last);
                return;
            }
            if (d.output) {
                kind = *d.output;
                field = {};
            }
            custom_transform = d.name;
            continue;
        }
        if (allow_lookup && last && declared_lookup(declared, p.parts[i], kind, known, custom_transform)) return;
        if (int di = declared_transform(declared, p.parts[i], kind, known); di >= 0) {
            const auto& t = declared[static_cast<std::size_t>(di)];
            if (t.output) {
                kind = *t.output;
                field = {};
            }
            custom_transform = t.name;
            continue;
        }
        if (int ti = lookups::transform_index(p.parts[i]); ti >= 0) {
            const auto& t = lookups::transforms[static_cast<std::size_t>(ti)];
            if (known && !lookups::transform_applies(t, kind))
                fail(PathFailure::transform_not_valid);
            kind = t.output;
            field = {};
            custom_transform = {};
            continue;
        }
        int li = lookups::lookup_index(p.parts[i]);
        if (li < 0) return fail(PathFailure::unknown_lookup);
        if (!allow_lookup) return fail(PathFailure::lookup_not_allowed);
        if (!last) return fail(PathFailure::lookup_not_last);
        if (known && !lookups::lookup_applies(lookups::lookup_names[static_cast<std::size_t>(li)].pattern, kind))
            fail(PathFailure::lookup_not_valid);
    }
}

/// What the compile-time check needs to know of one field. `hop` checks the rest of a path from the related
/// model of a ForeignKey (nullptr otherwise); function pointers keep recursion over models out of the templates'
/// instantiation (self-referential models included) and keep compiler diagnostics short.
struct FieldInfo {
    std::string_view name;
    FieldKind kind;
    bool relation;  // a flag, not `hop != nullptr`: that comparison is not constant with -fsanitize=null
    void (*hop)(const PathParts&, std::size_t, bool);
    bool (*related_has)(std::string_view);
    PathFailureReport fail;                // names the field in a compile error about the parts after it
    void (*fail_in_related)(const char*);  // names the related model in an unknown-field error
};

template <class M>
constexpr void check_path_from(const PathParts& p, std::size_t i, bool allow_lookup);

template <class M>
constexpr bool has_field(std::string_view name);

template <class M, std::size_t... I>
constexpr std::array<FieldInfo, sizeof...(I)> make_field_infos(std::index_sequence<I...>) {
    return {{FieldInfo{std::get<I>(M::dorm_fields()).name, field_traits<field_type_t<M, I>>::kind,
                       !std::is_void_v<typename relation_of<field_type_t<M, I>>::type>,
                       [] {
                           using Rel = typename relation_of<field_type_t<M, I>>::type;
                           if constexpr (std::is_void_v<Rel>) return static_cast<void (*)(const PathParts&, std::size_t, bool)>(nullptr);
                           else return &check_path_from<Rel>;
                       }(),
                       [] {
                           using Rel = typename relation_of<field_type_t<M, I>>::type;
                           if constexpr (std::is_void_v<Rel>) return static_cast<bool (*)(std::string_view)>(nullptr);
                           else return &has_field<Rel>;
                       }(),
                       &fail_after<member_of<M, I>()>,
                       [] {
                           using Rel = typename relation_of<field_type_t<M, I>>::type;
                           if constexpr (std::is_void_v<Rel>) return static_cast<void (*)(const char*)>(nullptr);
                           else return &compile_error::unknown_field<Rel>;
                       }()}...}};
}

// Functions, not a variable template: a self-referential model's table refers to functions that read it.
template <class M>
constexpr std::array<FieldInfo, field_count<M>> field_infos() {
    return make_field_infos<M>(std::make_index_sequence<field_count<M>>{});
}

template <class M>
constexpr bool has_field(std::string_view name) {
    if (name == "pk") return true;
    bool found = false;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        ((found = found || std::get<I>(M::dorm_fields()).name == name), ...);
    }(std::make_index_sequence<field_count<M>>{});
    return found;
}

constexpr bool is_lookup_or_transform(std::string_view name, std::span<const LookupDeclaration> declared = {}) {
    for (const auto& d : declared)
        if (d.name == name) return true;
    return lookups::lookup_index(name) >= 0 || lookups::transform_index(name) >= 0;
}

/// Checks p.parts[i..] against model M: a field (or "pk", or a ForeignKey's "<name>_id"), possibly a ForeignKey
/// followed by a field of the related model, then transforms and a lookup.
template <class M>
constexpr void check_path_from(const PathParts& p, std::size_t i, bool allow_lookup) {
    std::string_view part = p.parts[i];
    constexpr std::span<const LookupDeclaration> declared(declared_lookups_v<M>);
    if (part == "pk")
        return check_tail(p, i + 1, FieldKind::integer, false, allow_lookup, declared, "pk",
                          &fail_after<&compile_error::of<M>::pk>);
    for (const auto& f : field_infos<M>()) {
        bool attname = f.relation && part.size() == f.name.size() + 3 && part.starts_with(f.name) && part.ends_with("_id");
        if (part != f.name && !attname) continue;
        if (f.relation && !attname && i + 1 < p.n) {
            if (f.related_has(p.parts[i + 1])) return f.hop(p, i + 1, allow_lookup);
            if (!is_lookup_or_transform(p.parts[i + 1], declared))
                return f.fail_in_related("dorm: unknown field in lookup path: not a field of the related model (check its DORM_MODEL)");
        }
        return check_tail(p, i + 1, f.kind, true, allow_lookup, declared, f.name, f.fail);
    }
    compile_error::unknown_field<M>("dorm: unknown field in lookup path: not a field of the model (check DORM_MODEL)");
}

/// The whole path from model M. A first name that is not a field may be an annotation or a reverse relation
/// (`Blog`'s "entry"), which only exist at run time: such a path is checked when the QuerySet resolves it.
template <class M>
constexpr void check_path(const PathParts& p, bool allow_lookup) {
    if (p.n == 0) return;
    if (has_field<M>(p.parts[0])) return check_path_from<M>(p, 0, allow_lookup);
    if (is_lookup_or_transform(p.parts[0], declared_lookups_v<M>))
        return compile_error::malformed_path<M>("dorm: a lookup path starts with a field or annotation name, not a lookup");
}

}  // namespace detail

/// A lookup path for QuerySet<M>::filter / exclude / get. From a string literal it is checked at compile time;
/// from a std::string or dorm::runtime(...) it is checked when the QuerySet resolves it.
template <class M>
class LookupPath {
public:
    template <std::size_t N>
    consteval LookupPath(const char (&s)[N]) : path_(s, N - 1), literal_(true) {  // NOLINT: implicit, like fmt::format_string
        detail::check_path<M>(detail::split_at_dunder(path_), true);
    }
    LookupPath(const std::string& s) : path_(s) {}     // NOLINT: run-time strings are checked at run time
    LookupPath(runtime_string s) : path_(s.value) {}   // NOLINT
    std::string_view view() const noexcept { return path_; }
    /// The path for a Q: a literal is pointed at, not copied. Only a constant expression can build a literal
    /// path, and a constant expression cannot point at anything but an immutable array with static storage.
    detail::PathRef ref() const noexcept { return {path_, literal_}; }

private:
    std::string_view path_;
    bool literal_ = false;
};

/// The lookup path of a QuerySet whose model is known only at run time (values(), values_list(), dates()):
/// every string is checked when used.
template <>
class LookupPath<void> {
public:
    LookupPath(const char* s) : path_(s) {}               // NOLINT: implicit
    LookupPath(std::string_view s) : path_(s) {}          // NOLINT
    LookupPath(const std::string& s) : path_(s) {}        // NOLINT
    LookupPath(runtime_string s) : path_(s.value) {}      // NOLINT
    std::string_view view() const noexcept { return path_; }
    detail::PathRef ref() const noexcept { return {path_, false}; }

private:
    std::string_view path_;
};

namespace detail {
/// An order_by() term, whatever its model: what resolving it needs, so that resolving is compiled once rather
/// than per model.
struct OrderTermRef {
    std::string_view name;
    const std::optional<OrderByExpression>* expression;
};
}  // namespace detail

/// An order_by() term for QuerySet<M>: "field", "-field", "blog__name", "?", or an expression. String literals are
/// checked at compile time.
template <class M>
class OrderTerm {
public:
    template <std::size_t N>
    consteval OrderTerm(const char (&s)[N]) : name_(s, N - 1) {  // NOLINT: implicit
        std::string_view path = name_;
        if (path == "?") return;
        if (path.starts_with('-')) path.remove_prefix(1);
        detail::check_path<M>(detail::split_at_dunder(path), false);
    }
    OrderTerm(const std::string& s) : name_(s) {}                   // NOLINT
    OrderTerm(runtime_string s) : name_(s.value) {}                 // NOLINT
    OrderTerm(OrderByExpression e) : expression_(std::move(e)) {}   // NOLINT
    OrderTerm(const Expression& e) : expression_(e.asc()) {}        // NOLINT

    const std::optional<OrderByExpression>& expression() const noexcept { return expression_; }
    std::string_view name() const noexcept { return name_; }
    detail::OrderTermRef ref() const noexcept { return {name_, &expression_}; }

private:
    std::string_view name_;
    std::optional<OrderByExpression> expression_;
};

/// An order_by() term of a QuerySet whose model is known only at run time.
template <>
class OrderTerm<void> {
public:
    OrderTerm(const char* s) : name_(s) {}                         // NOLINT: implicit
    OrderTerm(std::string_view s) : name_(s) {}                    // NOLINT
    OrderTerm(const std::string& s) : name_(s) {}                  // NOLINT
    OrderTerm(runtime_string s) : name_(s.value) {}                // NOLINT
    OrderTerm(OrderByExpression e) : expression_(std::move(e)) {}  // NOLINT
    OrderTerm(const Expression& e) : expression_(e.asc()) {}       // NOLINT

    const std::optional<OrderByExpression>& expression() const noexcept { return expression_; }
    std::string_view name() const noexcept { return name_; }
    detail::OrderTermRef ref() const noexcept { return {name_, &expression_}; }

private:
    std::string_view name_;
    std::optional<OrderByExpression> expression_;
};

}  // namespace dorm
