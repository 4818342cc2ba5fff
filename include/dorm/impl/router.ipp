// SPDX-License-Identifier: MIT
// Definitions for <dorm/router.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/router.hpp>

namespace dorm {

DORM_DECL ConnectionRouter::ConnectionRouter() : routers_(std::make_shared<const RouterList>()) {}

DORM_DECL void ConnectionRouter::set_routers(RouterList routers) {
    auto list = std::make_shared<const RouterList>(std::move(routers));
    std::lock_guard lock(mutex_);
    detail::routing_enabled.store(!list->empty(), std::memory_order_relaxed);
    routers_ = std::move(list);
}

DORM_DECL auto ConnectionRouter::snapshot() const -> std::shared_ptr<const RouterList> {
    // Routers are asked outside the lock: one may run a query, and set_routers() may run meanwhile.
    std::lock_guard lock(mutex_);
    return routers_;
}

DORM_DECL auto ConnectionRouter::routers() const -> RouterList { return *snapshot(); }

namespace detail {
DORM_DECL const std::string* route_db(bool write, const ModelMeta& model, const Hints& hints) {
    // Django's _router_func: the first router with an answer, then the instance's database, then "default".
    for (const auto& r : *router().snapshot()) {
        std::optional<std::string> chosen = write ? r->db_for_write(model, hints) : r->db_for_read(model, hints);
        if (chosen && !chosen->empty()) return intern_alias(*chosen);
    }
    if (hints.instance && hints.instance->db_alias()) return hints.instance->db_alias();
    return default_alias();
}
}  // namespace detail

DORM_DECL const std::string& ConnectionRouter::db_for_read(const ModelMeta& model, const Hints& hints) const {
    return *detail::route_db(false, model, hints);
}

DORM_DECL const std::string& ConnectionRouter::db_for_write(const ModelMeta& model, const Hints& hints) const {
    return *detail::route_db(true, model, hints);
}

DORM_DECL bool ConnectionRouter::allow_relation(const Instance& obj1, const Instance& obj2) const {
    for (const auto& r : *snapshot())
        if (auto allow = r->allow_relation(obj1, obj2)) return *allow;
    return obj1.db_alias() == obj2.db_alias();  // interned: equal aliases are the same pointer
}

DORM_DECL bool ConnectionRouter::allow_migrate(std::string_view db, const ModelMeta& model) const {
    for (const auto& r : *snapshot())
        if (auto allow = r->allow_migrate(db, model)) return *allow;
    return true;
}

DORM_DECL ConnectionRouter& router() {
    static ConnectionRouter instance;
    return instance;
}

DORM_DECL void Databases::set_routers(std::vector<std::shared_ptr<const Router>> routers) {
    router().set_routers(std::move(routers));
}

}  // namespace dorm
