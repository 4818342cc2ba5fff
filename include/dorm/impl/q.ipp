// SPDX-License-Identifier: MIT
// Definitions for <dorm/q.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/q.hpp>

namespace dorm {

DORM_DECL auto Q::combine(Q&& a, Q&& b, Connector c) -> Q {
    if (b.empty()) return std::move(a);
    if (a.empty()) return std::move(b);
    Q q;
    q.connector_ = c;
    q.children_.reserve(2);  // the usual two children in one allocation; more when a side is flattened in
    q.add(std::move(a));
    q.add(std::move(b));
    return q;
}

DORM_DECL void Q::add(Q&& child) {
    if (!child.leaf_ && !child.negated_ && (child.connector_ == connector_ || child.children_.size() == 1))
        children_.insert(children_.end(), std::make_move_iterator(child.children_.begin()),
                         std::make_move_iterator(child.children_.end()));
    else
        children_.push_back(std::move(child));
}

DORM_DECL Q detail::excluded(Q q) {
    if (!q.negated_) return ~std::move(q);
    Q outer;
    outer.children_.push_back(std::move(q));
    outer.negated_ = true;
    return outer;
}

}  // namespace dorm

namespace dorm {
DORM_DECL Q::Q(const Q&) = default;
DORM_DECL Q::Q(Q&&) noexcept = default;
DORM_DECL Q& Q::operator=(const Q&) = default;
DORM_DECL Q& Q::operator=(Q&&) noexcept = default;
DORM_DECL Q::~Q() = default;
}  // namespace dorm
