// SPDX-License-Identifier: MIT
// How models and QuerySets print: str(), repr() and fmt formatters, as Django's __str__ / __repr__.
#pragma once

#include <dorm/model.hpp>
#include <dorm/query_set.hpp>

#include <string>
#include <tuple>
#include <type_traits>

#include <fmt/format.h>

namespace dorm {

/// Django's str(obj): the model's own `std::string str() const` if it has one, else "Entry object (1)".
template <detail::model M>
std::string str(const M& obj) {
    return detail::model_str(obj);
}

/// Django's repr(obj): "<Entry: Entry object (1)>".
template <detail::model M>
std::string repr(const M& obj) {
    return fmt::format("<{}: {}>", M::dorm_name(), str(obj));
}

/// A values() row as Python writes a dict: `{'id': 1, 'name': 'Beatles Blog'}`.
inline std::string repr(const Row& row) { return fmt::format("{}", row); }

/// A values_list() tuple as Python writes one: `(1, 'First entry')`, `(1,)`.
template <class... Ts>
std::string repr(const std::tuple<Ts...>& t) {
    std::string out = "(";
    std::size_t i = 0;
    std::apply([&](const auto&... x) { ((out += (i++ ? ", " : "") + fmt::format("{}", Value(x))), ...); }, t);
    return out + (sizeof...(Ts) == 1 ? ",)" : ")");
}

/// One value of values_list(flat) or dates(), as Python writes it.
template <class T>
    requires(!detail::model<T> && std::is_constructible_v<Value, const T&>)
std::string repr(const T& v) {
    return fmt::format("{}", Value(v));
}

/// Django's repr(queryset): at most 20 objects, then "...(remaining elements truncated)...".
/// Uses the cache when the QuerySet is evaluated, else runs one query with LIMIT 21 (and caches nothing).
template <class T, class D>
std::string repr(const QuerySet<T, D>& qs) {
    constexpr std::size_t shown = 20;
    std::string out = "<QuerySet [";
    std::size_t n = 0;
    for (const auto& obj : qs.slice(0, shown + 1)) {
        if (n) out += ", ";
        out += n == shown ? "'...(remaining elements truncated)...'" : repr(obj);
        ++n;
    }
    return out + "]>";
}

namespace detail {
// QuerySet<M, D> or a class derived from one (a custom QuerySet, a related manager). An overload test rather than
// a lambda in a requires-expression, which Clang 14 takes as satisfied by any type (every formatter ambiguous).
template <class M, class D>
std::true_type derives_from_queryset(const QuerySet<M, D>*);
std::false_type derives_from_queryset(const void*);
template <class T>
concept queryset_like = decltype(derives_from_queryset(static_cast<const T*>(nullptr)))::value;
}  // namespace detail

}  // namespace dorm

/// `fmt::print("{}", entry)` prints str(entry).
template <dorm::detail::model M>
struct fmt::formatter<M> : fmt::formatter<std::string_view> {
    auto format(const M& obj, fmt::format_context& ctx) const {
        return fmt::formatter<std::string_view>::format(dorm::str(obj), ctx);
    }
};

/// `fmt::print("{}", qs)` prints Django's repr of a QuerySet (and evaluates it, as repr() does).
template <dorm::detail::queryset_like QS>
struct fmt::formatter<QS> : fmt::formatter<std::string_view> {
    auto format(const QS& qs, fmt::format_context& ctx) const {
        return fmt::formatter<std::string_view>::format(dorm::repr(qs), ctx);
    }
};
