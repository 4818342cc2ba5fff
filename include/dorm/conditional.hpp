// SPDX-License-Identifier: MIT
// Conditional and subquery expressions: Case / When, Subquery, Exists (Django's conditional expressions).
#pragma once

#include <dorm/config.hpp>
#include <dorm/detail/node_pool.hpp>

#include <dorm/expressions.hpp>
#include <dorm/q.hpp>

#include <initializer_list>
#include <memory>
#include <optional>

namespace dorm {

/// One branch of a Case: `When(Q("rating__gte", 4), Value("good"))`; a string result names a field, as in Django.
class When {
public:
    When(const Q& condition, const ExprArg& then) : condition_(dorm::detail::make_node<const Q>(condition)), then_(then.node()) {
        if (condition.empty()) throw ValueError("dorm: An empty Q() can't be used as a When() condition.");
    }
    const std::shared_ptr<const Q>& condition() const noexcept { return condition_; }
    const detail::ExprNodePtr& then() const noexcept { return then_; }

private:
    std::shared_ptr<const Q> condition_;
    detail::ExprNodePtr then_;
};

/// CASE WHEN ... THEN ... ELSE default END: `Case({When(...), When(...)}, Value("other"))`.
DORM_DECL Expression Case(std::initializer_list<When> whens, const std::optional<ExprArg>& default_ = std::nullopt,
                       std::optional<FieldKind> output_field = std::nullopt);

/// A relation joined with a condition in its ON clause (Django's FilteredRelation), for annotate() / alias():
/// `annotate("good", FilteredRelation("entry", Q("entry__rating__gte", 4)))`, then `filter("good__headline", ...)`
/// or `Count("good")`. The relation is a ForeignKey, a reverse relation or a ManyToMany; the condition's paths start
/// with its name (none, Django's default Q(): the plain relation under another name); the join is LEFT OUTER.
DORM_DECL Expression FilteredRelation(std::string_view relation, const Q& condition = Q());

namespace detail {
/// Django's Q as an expression (annotate(good=Q(rating__gte=4))): a boolean, the condition itself in the SELECT
/// list, so NULL where the condition is (a comparison with NULL); true for Q() and ~Q(), false for a Q that matches
/// nothing.
DORM_DECL Expression condition_expression(const Q& q);

template <class QS>
concept query_source = requires(const QS& qs) {
    { qs.query() } -> std::convertible_to<const sql::Query&>;
};
template <class QS>
ExprNodePtr subquery_node(ExprNode::Kind kind, const QS& qs) {
    auto n = dorm::detail::make_node<ExprNode>();
    n->kind = kind;
    n->query = dorm::detail::make_node<sql::Query>(qs.query());
    return n;
}
}  // namespace detail

/// A QuerySet as a value (its one values() column, or its primary key), usually with OuterRef:
/// `Subquery(Entry::objects().filter("blog", OuterRef("pk")).order_by("-pub_date").values("headline").slice(0, 1))`.
template <detail::query_source QS>
Expression Subquery(const QS& qs) {
    return Expression(detail::subquery_node(detail::ExprNode::Kind::subquery, qs));
}

/// Whether a QuerySet has any row: `filter(Exists(...))`, `annotate("has", Exists(...))`.
template <detail::query_source QS>
Expression Exists(const QS& qs) {
    return Expression(detail::subquery_node(detail::ExprNode::Kind::exists, qs));
}

}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/impl/conditional.ipp>
#endif
