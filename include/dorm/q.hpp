// SPDX-License-Identifier: MIT
// Q: a model-independent tree of lookups joined by & and |, negated by ~ (Django's Q objects).
#pragma once

#include <dorm/config.hpp>
#include <dorm/detail/node_pool.hpp>

#include <dorm/expressions.hpp>
#include <dorm/lookups.hpp>
#include <dorm/model.hpp>
#include <dorm/value.hpp>

#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace dorm {

namespace detail {

template <class V>
concept value_like = std::is_constructible_v<Value, const V&> && !model<std::remove_cvref_t<V>>;

template <class V>
concept queryset_value = requires(const V& v) {
    typename V::model_type;
    { v.query() } -> std::convertible_to<const sql::Query&>;
};

/// What an iterated container yields (std::ranges::range_reference_t, without <ranges>' weight in every header).
template <class V>
using range_reference_t = decltype(*std::begin(std::declval<V&>()));

template <class V>
concept value_range = requires(V& v) {
    std::begin(v) != std::end(v);
    ++std::begin(v);
} && !value_like<V> && (std::is_constructible_v<Value, range_reference_t<V>> ||
                        model<std::remove_cvref_t<range_reference_t<V>>>);

template <class V>
Value to_value(const V& v) {
    if constexpr (model<std::remove_cvref_t<V>>) {
        if (pk_unset(v))
            throw ValueError(fmt::format("dorm: an unsaved {} was used in a query; save() it first", V::dorm_name()));
        return pk_value(v);
    } else if constexpr (is_foreign_key<std::remove_cvref_t<V>>::value) {
        return field_traits<std::remove_cvref_t<V>>::to_value(v);
    } else {
        return Value(v);
    }
}

/// Turns what a user passed as a lookup's value into an Operand: a value, a model instance (its pk),
/// or any range of those (for `in`).
template <class V>
Operand to_operand(V&& v) {
    using D = std::remove_cvref_t<V>;
    Operand op;
    if constexpr (std::is_same_v<D, Operand>) {
        return std::forward<V>(v);
    } else if constexpr (std::is_base_of_v<Expression, D>) {
        op.kind = Operand::Kind::expression;
        op.expression = v.node();
    } else if constexpr (queryset_value<D>) {
        op.kind = Operand::Kind::subquery;
        op.subquery = dorm::detail::make_node<sql::Query>(v.query());
    } else if constexpr (value_like<D> || model<D> || is_foreign_key<D>::value) {
        op.value = to_value(v);
        if constexpr (model<D>) op.instance_of = D::dorm_name();
    } else if constexpr (value_range<D>) {
        op.kind = Operand::Kind::list;
        for (auto&& x : v) op.list.push_back(to_value(x));
        using E = std::remove_cvref_t<range_reference_t<D>>;
        if constexpr (model<E>) op.instance_of = E::dorm_name();
    } else {
        static_assert(sizeof(D) == 0, "dorm: a lookup value must be a value (bool, number, string, Date, ...), "
                                      "a model instance, std::nullopt, a range of those, an F() expression or a QuerySet");
    }
    return op;
}

template <class T>
Operand to_operand(std::initializer_list<T> list) {
    Operand op;
    op.kind = Operand::Kind::list;
    for (const auto& x : list) op.list.push_back(to_value(x));
    if constexpr (model<T>) op.instance_of = T::dorm_name();
    return op;
}

/// A lookup path as a QuerySet method hands it to Q: a literal (checked at compile time, with static storage, so
/// a condition can point at it instead of copying it) or a run-time string (copied).
struct PathRef {
    std::string_view text;
    bool literal = false;
};

}  // namespace detail

class Q;
namespace detail {
/// exclude()'s condition: `q` negated, in a node of its own when `q` is negated already, as Django's exclude()
/// wraps its arguments in a new negated Q: a negation inside keeps its branch negated (exclude(~Q(...))).
DORM_DECL Q excluded(Q q);
}  // namespace detail

/// A condition that is not bound to a model until a QuerySet uses it: `Q("rating__gte", 3) | ~Q("headline", "x")`.
/// `^` is XOR: true when an odd number of operands are. An empty `Q()` matches everything and disappears when
/// combined.
class Q {
public:
    enum class Connector { and_, or_, xor_ };

    Q() = default;
    // Declared here and defaulted in the .ipp: copying and destroying a condition tree is compiled once.
    Q(const Q&);
    Q(Q&&) noexcept;
    Q& operator=(const Q&);
    Q& operator=(Q&&) noexcept;
    ~Q();
    template <class V>
    Q(std::string_view path, V&& value) : Q(detail::PathRef{path}, std::forward<V>(value)) {}
    template <class T>
    Q(std::string_view path, std::initializer_list<T> values) : Q(detail::PathRef{path}, detail::to_operand(values)) {}
    template <class V>
    Q(detail::PathRef path, V&& value)
        : leaf_(Leaf{path.literal ? std::string() : std::string(path.text), path.literal ? path.text : std::string_view(),
                     detail::to_operand(std::forward<V>(value)), false}) {}
    template <class T>
    Q(detail::PathRef path, std::initializer_list<T> values) : Q(path, detail::to_operand(values)) {}
    /// A boolean expression as a condition: `Q(Exists(...))`, `filter(Exists(...))`.
    Q(const Expression& condition) : leaf_(Leaf{std::string(), {}, detail::to_operand(condition), true}) {}  // NOLINT: implicit

    struct Leaf {
        /// The lookup path ("blog__name__iexact"); empty for a boolean expression.
        std::string_view path() const noexcept { return literal.data() ? literal : std::string_view(text); }
        std::string text;          // the path, copied from a run-time string
        std::string_view literal;  // or the path, a checked literal with static storage (nothing to copy)
        detail::Operand value;
        bool condition = false;  // `value` is a boolean expression, and there is no path
    };

    bool empty() const noexcept { return !leaf_ && children_.empty(); }
    bool negated() const noexcept { return negated_; }
    Connector connector() const noexcept { return connector_; }
    const std::optional<Leaf>& leaf() const noexcept { return leaf_; }
    const detail::PooledVector<Q>& children() const noexcept { return children_; }

    // By value: a temporary operand (`Q(...) & Q(...)`, as filter() builds) is moved into the tree, not copied.
    friend Q operator&(Q a, Q b) { return combine(std::move(a), std::move(b), Connector::and_); }
    friend Q operator|(Q a, Q b) { return combine(std::move(a), std::move(b), Connector::or_); }
    friend Q operator^(Q a, Q b) { return combine(std::move(a), std::move(b), Connector::xor_); }
    friend Q operator~(Q a) {
        a.negated_ = !a.negated_;
        return a;
    }
    Q& operator&=(Q other) { return *this = std::move(*this) & std::move(other); }
    Q& operator|=(Q other) { return *this = std::move(*this) | std::move(other); }
    Q& operator^=(Q other) { return *this = std::move(*this) ^ std::move(other); }

private:
    friend Q detail::excluded(Q q);
    static Q combine(Q&& a, Q&& b, Connector c);
    // Flattens (a & b) & c into one node, as Django's tree.Node.add does.
    void add(Q&& child);

    std::optional<Leaf> leaf_;
    detail::PooledVector<Q> children_;
    Connector connector_ = Connector::and_;
    bool negated_ = false;
};

namespace detail {
template <class A>
concept q_like = std::is_convertible_v<const A&, const Q&> && !std::is_convertible_v<const A&, std::string_view>;

}  // namespace detail

}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/impl/q.ipp>
#endif
