// SPDX-License-Identifier: MIT
// Database routers (Django's DATABASE_ROUTERS and django.db.router): which database a model's reads and writes go
// to, which relations may join objects of two databases, and which tables create_tables() makes where.
#pragma once

#include <dorm/config.hpp>

#include <dorm/database.hpp>
#include <dorm/model.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dorm {

/// A model instance as a router sees it (Django hands routers the instance itself): its model, the database it
/// was loaded from or saved to, and the object where dorm has it.
class Instance {
public:
    Instance() = default;
    /// `object` points at an instance of `model` (or is empty); `db` is an interned alias or nullptr.
    Instance(const ModelMeta* model, const std::string* db, std::shared_ptr<const void> object = {})
        : model_(model), db_(db), object_(std::move(object)) {}

    /// A view of `obj`, valid while `obj` lives.
    template <detail::model M>
    static Instance of(const M& obj) {
        return Instance(&model_meta<M>(), obj.dorm_state_.db, std::shared_ptr<const void>(std::shared_ptr<const void>(), &obj));
    }

    /// Its model's metadata; nullptr when dorm does not know it (the owner of a ForeignKey that loads its object).
    const ModelMeta* model() const noexcept { return model_; }
    /// The alias of the database it came from (Django's `instance._state.db`); empty for an unsaved instance.
    std::string_view db() const noexcept { return db_ ? std::string_view(*db_) : std::string_view(); }
    /// Whether it is an instance of M.
    template <detail::model M>
    bool is() const {
        return model_ == &model_meta<M>();
    }
    /// The instance itself when it is an M and dorm has it, else nullptr: `if (auto* e = i.as<Entry>()) ...`.
    template <detail::model M>
    const M* as() const {
        return is<M>() ? static_cast<const M*>(object_.get()) : nullptr;
    }

    /// Internal: the interned alias (nullptr when none) and the object.
    const std::string* db_alias() const noexcept { return db_; }
    const void* object() const noexcept { return object_.get(); }

private:
    const ModelMeta* model_ = nullptr;
    const std::string* db_ = nullptr;
    std::shared_ptr<const void> object_;  // owned when a QuerySet keeps it for later (a related manager's parent)
};

/// What a router is told besides the model (Django's **hints): the instance the operation concerns, if any
/// (the instance being saved, deleted or refreshed, or the one a related manager or ForeignKey belongs to).
struct Hints {
    std::optional<Instance> instance{};
};

/// A database router (one entry of Django's DATABASE_ROUTERS). Override the questions it has an opinion on; an
/// empty answer (std::nullopt, Django's None) lets the next router answer.
///
///     struct PrimaryReplicaRouter : dorm::Router {
///         std::optional<std::string> db_for_read(const dorm::ModelMeta&, const dorm::Hints&) const override {
///             return "replica";
///         }
///         std::optional<std::string> db_for_write(const dorm::ModelMeta&, const dorm::Hints&) const override {
///             return "default";
///         }
///     };
///     dorm::databases().set_routers({std::make_shared<PrimaryReplicaRouter>()});
///
/// Routers are consulted from every thread that queries: keep them free of unsynchronised state.
class Router {
public:
    virtual ~Router() = default;
    /// The database to read objects of `model` from.
    virtual std::optional<std::string> db_for_read(const ModelMeta& model, const Hints& hints) const {
        (void)model, (void)hints;
        return std::nullopt;
    }
    /// The database to write objects of `model` to.
    virtual std::optional<std::string> db_for_write(const ModelMeta& model, const Hints& hints) const {
        (void)model, (void)hints;
        return std::nullopt;
    }
    /// Whether a ForeignKey or ManyToMany may relate `obj1` and `obj2` (checked when one is assigned or added).
    virtual std::optional<bool> allow_relation(const Instance& obj1, const Instance& obj2) const {
        (void)obj1, (void)obj2;
        return std::nullopt;
    }
    /// Whether create_tables() makes the table of `model` on the database `db`.
    virtual std::optional<bool> allow_migrate(std::string_view db, const ModelMeta& model) const {
        (void)db, (void)model;
        return std::nullopt;
    }
};

/// Asks the configured routers in order (Django's django.db.router); what every QuerySet, instance and related
/// manager consults. Without routers, reads and writes go to the instance's database, else to "default".
class ConnectionRouter {
public:
    ConnectionRouter();
    using RouterList = std::vector<std::shared_ptr<const Router>>;

    /// Replaces the routers (Django's DATABASE_ROUTERS setting); an empty list turns routing off.
    void set_routers(RouterList routers);
    /// The routers, in the order they are asked.
    RouterList routers() const;

    /// The database to read `model` from: the first router's answer, else the hint instance's database, else
    /// "default".
    const std::string& db_for_read(const ModelMeta& model, const Hints& hints = {}) const;
    /// The database to write `model` to, decided as db_for_read().
    const std::string& db_for_write(const ModelMeta& model, const Hints& hints = {}) const;
    /// Whether `obj1` and `obj2` may be related: the first router's answer, else whether they are on the same
    /// database.
    bool allow_relation(const Instance& obj1, const Instance& obj2) const;
    /// Whether the table of `model` belongs on `db`: the first router's answer, else true.
    bool allow_migrate(std::string_view db, const ModelMeta& model) const;

    /// Internal: the routers as they are now, shared (asked outside the lock).
    std::shared_ptr<const RouterList> snapshot() const;

private:

    mutable std::mutex mutex_;
    std::shared_ptr<const RouterList> routers_;
};

/// The process-wide router (Django's django.db.router). Configure it with databases().set_routers().
DORM_DECL ConnectionRouter& router();

namespace detail {
/// Whether any router is configured: the one check the usual path (no routers) pays.
inline std::atomic<bool> routing_enabled{false};
inline bool routing() noexcept { return routing_enabled.load(std::memory_order_relaxed); }

/// The database a read (or write) of `model` goes to, as ConnectionRouter::db_for_read / db_for_write.
DORM_DECL const std::string* route_db(bool write, const ModelMeta& model, const Hints& hints);

/// Where an operation on `model` runs when nothing chose a database: with no routers, the hint instance's
/// database, else "default" (no call, no lock); else what the routers say.
inline const std::string* routed_db(bool write, const ModelMeta& model, const Hints& hints) {
    if (!routing()) [[likely]]
        return hints.instance && hints.instance->db_alias() ? hints.instance->db_alias() : default_alias();
    return route_db(write, model, hints);
}
}  // namespace detail

}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/impl/router.ipp>
#endif
