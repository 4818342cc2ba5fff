// SPDX-License-Identifier: MIT
// The reverse side of a ForeignKey (Django's `blog.entry_set`): dorm::related<&Entry::blog>(blog), a QuerySet of
// the referencing rows with create / add / remove / clear / set, answering from prefetch_related() when it can.
#pragma once

#include <dorm/detail/node_pool.hpp>
#include <dorm/async/offload.hpp>
#include <dorm/errors.hpp>
#include <dorm/transaction.hpp>
#include <dorm/model.hpp>
#include <dorm/query_set.hpp>
#include <dorm/router.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

namespace dorm {

namespace detail {
using PrefetchedMap = std::map<std::string, PrefetchedList, std::less<>>;

/// Django's _remove_prefetched_objects(): a write through a related manager drops the parent's prefetched
/// list for that relation, so that later reads (count() included) see the database.
inline void forget_prefetched(const std::shared_ptr<PrefetchedMap>& map, std::string_view accessor) {
    if (map)
        if (auto it = map->find(accessor); it != map->end()) map->erase(it);
}

/// The hint a related manager gives the routers (Django's `instance=self.instance`): its parent, copied while
/// routers are configured (they may look at it when the QuerySet is evaluated, after the parent is gone).
template <class P>
Hints parent_hints(const P& parent) {
    std::shared_ptr<const void> object;
    if (routing()) object = std::make_shared<const P>(parent);
    return Hints{Instance(&model_meta<P>(), parent.dorm_state_.db, std::move(object))};
}

template <class>
struct member_pointer;
template <class C, class T>
struct member_pointer<T C::*> {
    using owner = C;
    using type = T;
};

/// The name DORM_MODEL gives `member`.
template <class M, class T>
std::string_view field_name_of(T M::*member) {
    std::string_view name;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (
            [&] {
                if constexpr (std::is_same_v<field_type_t<M, I>, T>)
                    if (member_of<M, I>() == member) name = std::get<I>(M::dorm_fields()).name;
            }(),
            ...);
    }(std::make_index_sequence<field_count<M>>{});
    return name;
}
}  // namespace detail

/// The rows of R whose ForeignKey points at one P instance (Django's related manager), as R's QuerySet.
template <class R, class P>
class RelatedManager : public decltype(R::objects()) {
    using QS = decltype(R::objects());

public:
    RelatedManager(const P& parent, const FieldMeta& fk)
        : QS(make_query(parent, fk)), fk_(&fk), parent_pk_(detail::pk_value(parent)),
          prefetched_(parent.dorm_state_.prefetched) {
        for (const auto& rel : model_meta<P>().related_objects)
            if (rel.field == &fk) accessor_ = rel.accessor_name;
        if (prefetched_)
            if (auto it = prefetched_->find(accessor_); it != prefetched_->end()) {
                // Django's manager then reads from the Prefetch queryset: filter(), first(), count() build on it.
                if (it->second.queryset) {
                    this->rebase(make_query(parent, fk, it->second.queryset));
                    on_prefetch_ = true;
                }
                this->adopt_cache(std::static_pointer_cast<detail::ResultCache<R>>(it->second.cache));
            }
    }

    /// The related rows: from prefetch_related() when it loaded them (no query), else a new QuerySet.
    QS all() const {
        if (this->is_evaluated()) return static_cast<const QS&>(*this);
        return QS::all();
    }

    /// Creates a related row pointing at the parent.
    R create(const Kwargs& kwargs = {}) const {
        detail::check_init_kwargs(model_meta<R>(), kwargs);
        R obj = detail::make_instance<R>();
        detail::assign_kwargs(obj, kwargs);
        fk_->set(&obj, parent_pk_);
        // Django assigns the parent to the new object, which takes the database writes of R go to.
        obj.dorm_state_.db = write_db();
        check_relation(obj);
        forget();
        return QS::create(std::move(obj));
    }

    /// Among the related rows, the one matching `kwargs`, or a new one pointing at the parent (Django's
    /// `blog.entry_set.get_or_create(...)`).
    /// As Django's, the lookup reads the rows the manager reads (a Prefetch queryset's, if any); the prefetched
    /// list is dropped after it.
    std::pair<R, bool> get_or_create(const Kwargs& kwargs, const Kwargs& defaults = {}) const {
        auto result = QS::get_or_create(with_parent(kwargs), defaults);
        forget();
        return result;
    }
    /// Among the related rows, updates the one matching `kwargs`, or creates one pointing at the parent.
    std::pair<R, bool> update_or_create(const Kwargs& kwargs, const Kwargs& defaults = {},
                                        const std::optional<Kwargs>& create_defaults = std::nullopt) const {
        auto result = QS::update_or_create(with_parent(kwargs), defaults, create_defaults);
        forget();
        return result;
    }

    /// Points saved objects at the parent (one UPDATE); the objects given are updated too.
    template <class... Objs>
        requires(std::is_same_v<Objs, R> && ...)
    void add(Objs&... objs) const {
        std::vector<Value> ids;
        const std::string* db = write_db();
        auto one = [&](R& obj) {
            if (detail::pk_unset(obj))
                throw ValueError(fmt::format("dorm: <{}> instance isn't saved. Save the object first.", R::dorm_name()));
            check_relation(obj);  // Django assigns the parent to each object first
            if (obj.dorm_state_.db && obj.dorm_state_.db != db)
                throw ValueError(fmt::format("dorm: {} instance isn't saved. Use bulk=False or save the object first.",
                                             model_meta<R>().repr(&obj)));
            fk_->set(&obj, parent_pk_);
            ids.push_back(detail::pk_value(obj));
        };
        (one(objs), ...);
        forget();
        if (!ids.empty())
            R::objects().using_(*db).filter(runtime_string{"pk__in"}, ids).update({Kwarg(fk_->name, parent_pk_)});
    }

    /// Unlinks these objects (their ForeignKey becomes NULL): only for a NULL-able ForeignKey, as in Django.
    template <class... Objs>
        requires(std::is_same_v<Objs, R> && ...)
    void remove(Objs&... objs) const {
        require_nullable("remove");
        std::vector<Value> ids;
        auto one = [&](R& obj) {
            ids.push_back(detail::pk_value(obj));
            fk_->set(&obj, Value());
        };
        (one(objs), ...);
        // Django's remove(): self.filter(pk__in=...) of the rows the manager reads, then the list dropped.
        const QS rows = static_cast<const QS&>(*this).filter(runtime_string{"pk__in"}, ids);
        forget();
        if (!ids.empty()) rows.update({Kwarg(fk_->name, std::nullopt)});
    }

    /// Unlinks every related row (NULL-able ForeignKeys only).
    void clear() const {
        require_nullable("clear");
        const QS rows = QS::all();  // Django's _clear(self): the rows the manager reads
        forget();
        rows.update({Kwarg(fk_->name, std::nullopt)});
    }

    /// Makes `objs` the related rows: others are unlinked (NULL-able ForeignKeys), these are added.
    void set(std::vector<R>& objs) const {
        // Django's set() of a NULL-able key: in one transaction with no savepoint of its own, so a failed add()
        // keeps no unlinking.
        if (!fk_->nullable) return set_in_transaction(objs);
        atomic([&] { set_in_transaction(objs); }, AtomicOptions{.using_ = *write_db(), .savepoint = false});
    }

    // Asynchronous variants (Django's a-methods): the method of the same name on a worker thread; see QuerySet's.
    // Objects passed by reference are updated as by the blocking method, so they must outlive the task.
    Task<R> acreate(const Kwargs& kwargs = {}) const {
        return this->later([m = *this, kwargs] { return m.create(kwargs); });
    }
    Task<std::pair<R, bool>> aget_or_create(const Kwargs& kwargs, const Kwargs& defaults = {}) const {
        return this->later([m = *this, kwargs, defaults] { return m.get_or_create(kwargs, defaults); });
    }
    Task<std::pair<R, bool>> aupdate_or_create(const Kwargs& kwargs, const Kwargs& defaults = {},
                                               const std::optional<Kwargs>& create_defaults = std::nullopt) const {
        return this->later([m = *this, kwargs, defaults, create_defaults] {
            return m.update_or_create(kwargs, defaults, create_defaults);
        });
    }
    template <class... Objs>
        requires(std::is_same_v<Objs, R> && ...)
    Task<void> aadd(Objs&... objs) const {
        return this->later([m = *this, ... o = &objs] { m.add(*o...); });
    }
    template <class... Objs>
        requires(std::is_same_v<Objs, R> && ...)
    Task<void> aremove(Objs&... objs) const {
        return this->later([m = *this, ... o = &objs] { m.remove(*o...); });
    }
    Task<void> aclear() const {
        return this->later([m = *this] { m.clear(); });
    }
    Task<void> aset(std::vector<R>& objs) const {
        return this->later([m = *this, o = &objs] { m.set(*o); });
    }

private:
    void set_in_transaction(std::vector<R>& objs) const {
        if (fk_->nullable) {
            std::vector<Value> keep;
            for (const auto& o : objs)
                if (!detail::pk_unset(o)) keep.push_back(detail::pk_value(o));
            // Django's set(): the old rows are those the manager reads (self.using(db).all())
            const QS old = static_cast<const QS&>(*this).exclude(runtime_string{"pk__in"}, keep);
            forget();
            old.update({Kwarg(fk_->name, std::nullopt)});
        }
        forget();
        for (auto& o : objs) add(o);
    }

    /// The related rows of `parent` among `base`'s (a Prefetch queryset), or among all R.
    static std::shared_ptr<const sql::Query> make_query(const P& parent, const FieldMeta& fk,
                                                        std::shared_ptr<const sql::Query> base = nullptr) {
        if (detail::pk_unset(parent))
            throw ValueError(fmt::format("dorm: '{}' instance needs to have a primary key value before this "
                                         "relationship can be used.", P::dorm_name()));
        return make_query(detail::parent_hints(parent), detail::pk_value(parent), fk, std::move(base));
    }
    static std::shared_ptr<const sql::Query> make_query(Hints hints, const Value& parent_pk, const FieldMeta& fk,
                                                        std::shared_ptr<const sql::Query> base) {
        const QS from = base ? QS(std::move(base)) : R::objects();
        auto q = std::make_shared<sql::Query>(from.filter(runtime_string{fk.name}, parent_pk).query());
        q->hints = std::move(hints);
        return q;
    }
    /// Django's router.db_for_write(R, instance=parent).
    const std::string* write_db() const { return detail::routed_db(true, model_meta<R>(), this->query().hints); }
    /// Django's ForeignKey assignment of the parent to `obj`: the routers must allow the relation.
    void check_relation(const R& obj) const {
        const Instance& parent = *this->query().hints.instance;
        if (!router().allow_relation(parent, Instance::of(obj)))
            throw ValueError(fmt::format("dorm: Cannot assign \"{}\": the current database router prevents this "
                                         "relation.", parent_repr()));
    }
    std::string parent_repr() const {
        const Instance& parent = *this->query().hints.instance;
        if (parent.object()) return parent.model()->repr(parent.object());
        return fmt::format("<{0}: {0} object ({1})>", parent.model()->name, parent_pk_);
    }
    /// A write drops the prefetched list; the manager reads all related rows again, not the Prefetch queryset's.
    void forget() const {
        detail::forget_prefetched(prefetched_, accessor_);
        this->reset_cache();
        if (on_prefetch_) {
            this->rebase(make_query(this->query().hints, parent_pk_, *fk_, nullptr));
            on_prefetch_ = false;
        }
    }
    Kwargs with_parent(const Kwargs& kwargs) const {
        Kwargs out = kwargs;
        out.push_back(Kwarg(fk_->name, parent_pk_));
        return out;
    }
    void require_nullable(std::string_view what) const {
        if (!fk_->nullable)
            throw TypeError(fmt::format("dorm: {}() needs a NULL-able ForeignKey; {}.{} is not", what, R::dorm_name(), fk_->name));
    }

    const FieldMeta* fk_;
    Value parent_pk_;
    std::shared_ptr<detail::PrefetchedMap> prefetched_;
    std::string_view accessor_;
    mutable bool on_prefetch_ = false;  // the query is a Prefetch queryset's (until a write)
};

/// The values of a through model's other fields for the links add(), set() and create() make (Django's
/// through_defaults): `related<&Group::members>(g).add(ringo, dorm::through_defaults({{"date_joined", d}}))`.
struct ThroughDefaults {
    Kwargs values;
};

namespace detail {
/// A ManyToMany's join table rows of one parent: the type-independent half of ManyRelatedManager.
struct JoinRows {
    const ManyToManyRelation& rel;
    const Value& parent_pk;

    /// The join table's rows whose `from` column is this parent's key.
    sql::Query links(const FieldMeta* from, const std::string* db) const;
    /// The `to` column of those rows.
    std::vector<Value> linked(const FieldMeta* from, const FieldMeta* to, const std::string* db) const;
    /// Rows (from = parent, to = each key) that do not exist yet, with the through model's other fields.
    void insert_links(const FieldMeta* from, const FieldMeta* to, const std::vector<Value>& keys,
                      const ThroughDefaults* defaults, const std::string* db) const;
    /// Deletes the rows (from = parent, to = each key), or every row with from = parent when `keys` is empty.
    void delete_links(const FieldMeta* from, const FieldMeta* to, const std::vector<Value>& keys,
                      const std::string* db) const;
    // A symmetrical relation stores each link both ways: (parent, k) and (k, parent).
    void add_keys(const std::vector<Value>& keys, const ThroughDefaults* defaults, const std::string* db) const;
    void remove_keys(const std::vector<Value>& keys, const std::string* db) const;
};

}  // namespace detail
inline ThroughDefaults through_defaults(Kwargs values) { return ThroughDefaults{std::move(values)}; }

/// One side of a ManyToMany from one P instance (Django's many-related manager): the R rows linked to it, as R's
/// QuerySet, with add / remove / clear / set / create changing the links (the join table's rows).
template <class R, class P>
class ManyRelatedManager : public decltype(R::objects()) {
    using QS = decltype(R::objects());

public:
    /// `rel` seen from P: its `from` points at P, its `to` at R; `accessor` is the name prefetch_related() uses.
    ManyRelatedManager(const P& parent, const ManyToManyRelation& rel, std::string_view accessor)
        : QS(make_query(parent, rel)), rel_(&rel), parent_pk_(detail::pk_value(parent)),
          prefetched_(parent.dorm_state_.prefetched), accessor_(accessor) {
        if (prefetched_)
            if (auto it = prefetched_->find(accessor); it != prefetched_->end() && it->second.model == &model_meta<R>()) {
                // Django's manager then reads from the Prefetch queryset: filter(), first(), count() build on it.
                if (it->second.queryset) {
                    this->rebase(make_query(parent, rel, it->second.queryset.get()));
                    on_prefetch_ = true;
                }
                this->adopt_cache(std::static_pointer_cast<detail::ResultCache<R>>(it->second.cache));
            }
    }

    /// The related rows: from prefetch_related() when it loaded them (no query), else a new QuerySet.
    QS all() const {
        if (this->is_evaluated()) return static_cast<const QS&>(*this);
        return QS::all();
    }

    /// Links these objects (or primary keys); links that exist are left alone. Objects must be saved. A
    /// `dorm::through_defaults({...})` among them gives a through model's other fields.
    template <class... Objs>
    void add(const Objs&... objs) const {
        std::vector<Value> keys;
        const ThroughDefaults* defaults = nullptr;
        (
            [&] {
                if constexpr (std::is_same_v<Objs, ThroughDefaults>) defaults = &objs;
                else keys.push_back(key(objs, true));
            }(),
            ...);
        forget();
        const std::string* db = through_db();
        atomic([&] { join_rows().add_keys(keys, defaults, db); }, no_savepoint(*db));
    }
    /// Unlinks these objects (or primary keys); the objects themselves stay.
    template <class... Objs>
    void remove(const Objs&... objs) const {
        std::vector<Value> keys{key(objs, false)...};
        forget();
        const std::string* db = through_db();
        atomic([&] { join_rows().remove_keys(keys, db); }, no_savepoint(*db));
    }
    /// Unlinks every related object.
    void clear() const {
        forget();
        const std::string* db = through_db();
        atomic([&] {
            join_rows().delete_links(rel_->from, rel_->to, {}, db);
            if (rel_->symmetrical) join_rows().delete_links(rel_->to, rel_->from, {}, db);
        }, no_savepoint(*db));
    }
    /// Makes `objs` exactly the related objects: links to others are removed, missing ones added.
    void set(const std::vector<R>& objs, const ThroughDefaults& defaults = {}) const {
        std::vector<Value> keys;
        for (const auto& o : objs) keys.push_back(key(o, true));
        forget();
        const std::string* db = through_db();
        atomic([&] {
            auto have = join_rows().linked(rel_->from, rel_->to, db);
            std::set<Value> want(keys.begin(), keys.end());
            std::vector<Value> stale;
            for (const auto& k : have)
                if (!want.contains(k)) stale.push_back(k);
            join_rows().remove_keys(stale, db);
            join_rows().add_keys(keys, &defaults, db);
        }, no_savepoint(*db));
    }
    /// Creates an R from these fields and links it; returns it.
    R create(const Kwargs& kwargs = {}, const ThroughDefaults& defaults = {}) const {
        const std::string* db = parent_db();
        return atomic([&] {
            R obj = R::objects().using_(*db).create(kwargs);
            add(obj, defaults);
            return obj;
        }, *db);
    }
    /// Among the linked objects, the one matching `kwargs`; else a new one, linked (Django: an object that exists
    /// but is not linked is not looked at, so its unique fields make the create fail).
    std::pair<R, bool> get_or_create(const Kwargs& kwargs, const Kwargs& defaults = {},
                                     const ThroughDefaults& through = {}) const {
        const std::string* db = parent_db();
        return atomic([&] {
            auto result = this->manager_using(*db).get_or_create(kwargs, defaults);
            if (result.second) add(result.first, through);
            return result;
        }, *db);
    }
    /// Among the linked objects, updates the one matching `kwargs`; else creates one and links it.
    std::pair<R, bool> update_or_create(const Kwargs& kwargs, const Kwargs& defaults = {},
                                        const std::optional<Kwargs>& create_defaults = std::nullopt,
                                        const ThroughDefaults& through = {}) const {
        const std::string* db = parent_db();
        return atomic([&] {
            auto result = this->manager_using(*db).update_or_create(kwargs, defaults, create_defaults);
            if (result.second) add(result.first, through);
            return result;
        }, *db);
    }

    // Asynchronous variants (Django's a-methods): the method of the same name on a worker thread; see QuerySet's.
    template <class... Objs>
    Task<void> aadd(const Objs&... objs) const {
        return this->later([m = *this, objs...] { m.add(objs...); });
    }
    template <class... Objs>
    Task<void> aremove(const Objs&... objs) const {
        return this->later([m = *this, objs...] { m.remove(objs...); });
    }
    Task<void> aclear() const {
        return this->later([m = *this] { m.clear(); });
    }
    Task<void> aset(std::vector<R> objs, ThroughDefaults defaults = {}) const {
        return this->later([m = *this, objs = std::move(objs), defaults = std::move(defaults)] { m.set(objs, defaults); });
    }
    Task<R> acreate(const Kwargs& kwargs = {}, const ThroughDefaults& defaults = {}) const {
        return this->later([m = *this, kwargs, defaults] { return m.create(kwargs, defaults); });
    }
    Task<std::pair<R, bool>> aget_or_create(const Kwargs& kwargs, const Kwargs& defaults = {},
                                            const ThroughDefaults& through = {}) const {
        return this->later(
            [m = *this, kwargs, defaults, through] { return m.get_or_create(kwargs, defaults, through); });
    }
    Task<std::pair<R, bool>> aupdate_or_create(const Kwargs& kwargs, const Kwargs& defaults = {},
                                               const std::optional<Kwargs>& create_defaults = std::nullopt,
                                               const ThroughDefaults& through = {}) const {
        return this->later([m = *this, kwargs, defaults, create_defaults, through] {
            return m.update_or_create(kwargs, defaults, create_defaults, through);
        });
    }

private:
    /// The key of an object to link (`adding`: the routers must allow the relation) or unlink.
    Value key(const R& obj, bool adding) const {
        if (adding) {
            const Instance& parent = *this->query().hints.instance;
            if (!router().allow_relation(Instance::of(obj), parent)) {
                auto db = [](std::string_view d) { return d.empty() ? std::string("None") : std::string(d); };
                throw ValueError(fmt::format("dorm: Cannot add \"{}\": instance is on database \"{}\", value is on "
                                             "database \"{}\"", model_meta<R>().repr(&obj), db(parent.db()),
                                             db(Instance::of(obj).db())));
            }
        }
        if (detail::pk_unset(obj))
            throw ValueError(fmt::format("dorm: Cannot add \"<{}>\": instance isn't saved. Save the object first.",
                                         R::dorm_name()));
        return detail::pk_value(obj);
    }
    template <class V>
        requires std::is_constructible_v<Value, const V&> && (!detail::model<V>)
    static Value key(const V& v, bool) {
        return Value(v);
    }

    /// The rows linked to `parent` among `base`'s (a Prefetch queryset), or among all R.
    static std::shared_ptr<const sql::Query> make_query(const P& parent, const ManyToManyRelation& rel,
                                                        const sql::Query* base = nullptr) {
        if (detail::pk_unset(parent))
            throw ValueError(fmt::format("dorm: '{}' instance needs to have a primary key value before a many-to-many "
                                         "relationship can be used.", P::dorm_name()));
        if (!rel.error.empty()) throw FieldError(rel.error);
        return make_query(detail::parent_hints(parent), detail::pk_value(parent), rel, base);
    }
    static std::shared_ptr<const sql::Query> make_query(Hints hints, const Value& parent_pk, const ManyToManyRelation& rel,
                                                        const sql::Query* base) {
        sql::Query q = base ? *base : R::objects().query();
        q.hints = std::move(hints);
        std::string alias = sql::detail::own_reverse_join(q, *rel.through, *rel.to, false, true);
        auto cond = std::make_shared<lookups::Lookup>();
        cond->lhs = std::make_shared<sql::Col>(alias, rel.from);
        cond->def = lookups::find("exact");
        cond->value = parent_pk;
        sql::add_where(q, cond);
        static const auto unrecordable = detail::unrecorded_recipe("a ManyToMany related manager");  // its join
        q.recipe = detail::unrecorded(q.recipe, unrecordable);
        return std::make_shared<sql::Query>(std::move(q));
    }

    /// Django's router.db_for_write(through, instance=parent): where the links are read and written.
    const std::string* through_db() const { return detail::routed_db(true, *rel_->through, this->query().hints); }
    /// The links' writes, as Django's add() / remove() / clear() / set(): in the enclosing transaction, with no
    /// savepoint of their own (a failure dooms the enclosing atomic() block).
    static AtomicOptions no_savepoint(const std::string& db) { return {.using_ = db, .savepoint = false}; }
    /// Django's router.db_for_write(<the parent's model>, instance=parent): where create() makes the object.
    const std::string* parent_db() const {
        const auto& hints = this->query().hints;
        return detail::routed_db(true, *hints.instance->model(), hints);
    }

    /// The join table's rows of this parent.
    detail::JoinRows join_rows() const { return {*rel_, parent_pk_}; }

    /// A write drops the prefetched list; the manager reads all linked rows again, not the Prefetch queryset's.
    void forget() const {
        detail::forget_prefetched(prefetched_, accessor_);
        this->reset_cache();
        if (on_prefetch_) {
            this->rebase(make_query(this->query().hints, parent_pk_, *rel_, nullptr));
            on_prefetch_ = false;
        }
    }

    const ManyToManyRelation* rel_;
    Value parent_pk_;
    std::shared_ptr<detail::PrefetchedMap> prefetched_;
    std::string_view accessor_;
    mutable bool on_prefetch_ = false;  // the query is a Prefetch queryset's (until a write)
};

/// The rows whose ForeignKey `Member` points at `parent` (Django's `blog.entry_set`):
/// `dorm::related<&Entry::blog>(blog).filter("rating__gte", 3)`, `.create({{"headline", "x"}})`, `.count()`.
///
/// For a ManyToMany, the objects linked to `parent` on either side: `dorm::related<&Entry::authors>(entry)` (the
/// authors) or `(author)` (the entries); `.add(a)`, `.remove(a)`, `.clear()`, `.set({...})`, `.create({...})`.
template <auto Member, class P>
auto related(const P& parent) {
    using Owner = typename detail::member_pointer<decltype(Member)>::owner;
    using F = typename detail::member_pointer<decltype(Member)>::type;
    using Target = typename detail::relation_of<F>::type;
    static_assert(std::is_same_v<Target, P> || (detail::is_many_to_many<F>::value && std::is_same_v<Owner, P>),
                  "dorm: related<&Model::field>(obj) needs a ForeignKey of Model that points at obj's model, or a "
                  "ManyToMany of Model with obj on either side");
    if constexpr (detail::is_many_to_many<F>::value) {
        const ModelMeta& owner = model_meta<Owner>();
        std::string_view name = detail::field_name_of<Owner>(Member);
        const ManyToManyRelation* forward = nullptr;
        for (const auto& r : owner.many_to_many)
            if (!r.reverse && r.query_name == name) forward = &r;
        if (!forward->error.empty()) throw FieldError(forward->error);
        if constexpr (std::is_same_v<Owner, P>) {
            return ManyRelatedManager<Target, P>(parent, *forward, forward->accessor_name);
        } else {
            for (const auto& r : model_meta<Target>().many_to_many)
                if (r.reverse && r.through == forward->through) return ManyRelatedManager<Owner, P>(parent, r, r.accessor_name);
            throw FieldError(fmt::format("dorm: {}.{} has no reverse relation (its related_name ends in '+')",
                                         owner.name, name));
        }
    } else {
        const FieldMeta& fk = *model_meta<Owner>().find_field(detail::field_name_of<Owner>(Member));
        return RelatedManager<Owner, P>(parent, fk);
    }
}

/// The object whose OneToOne `Member` points at `parent` (Django's `user.profile`): from prefetch_related() when
/// it loaded it, else one query. Throws R::DoesNotExist when there is none.
template <auto Member, class P>
auto related_object(const P& parent) {
    using R = typename detail::member_pointer<decltype(Member)>::owner;
    using F = typename detail::member_pointer<decltype(Member)>::type;
    static_assert(detail::is_one_to_one<F>::value, "dorm: related_object<&Model::field>(obj) needs a OneToOne field");
    auto manager = related<Member>(parent);
    auto missing = [&] {
        // Django's message names the accessor: "User has no profile."
        std::string_view accessor;
        const FieldMeta* fk = model_meta<R>().find_field(detail::field_name_of<R>(Member));
        for (const auto& rel : model_meta<P>().related_objects)
            if (rel.field == fk) accessor = rel.accessor_name;
        return RelatedObjectDoesNotExist<R>(fmt::format("dorm: {} has no {}.", P::dorm_name(), accessor));
    };
    if (manager.is_evaluated()) {
        if (manager.size() == 1) return *manager.begin();
        throw missing();
    }
    try {
        return manager.get();
    } catch (const typename R::DoesNotExist&) {
        throw missing();
    }
}

}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/impl/related.ipp>
#endif
