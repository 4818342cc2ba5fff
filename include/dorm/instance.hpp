// SPDX-License-Identifier: MIT
// Writing rows: Model::save / delete_ / refresh_from_db and QuerySet::bulk_create / bulk_update.
#pragma once

#include <dorm/config.hpp>
#include <dorm/detail/node_pool.hpp>

#include <dorm/database.hpp>
#include <dorm/detail/statement_texts.hpp>
#include <dorm/model.hpp>
#include <dorm/query_set.hpp>
#include <dorm/sql/query.hpp>

#include <algorithm>
#include <map>
#include <span>
#include <string>
#include <tuple>
#include <vector>

namespace dorm {

template <class M, class Key>
const M& ForeignKey<M, Key>::get() const {
    if (cache_) return *cache_;
    if (!set_) throw ValueError(fmt::format("dorm: this ForeignKey to {} has no id assigned", M::dorm_name()));
    auto qs = M::objects();
    if (db_) {
        // Django asks db_for_read(M, instance=<the instance holding this ForeignKey>): the routers, else the
        // database that instance came from.
        auto q = std::make_shared<sql::Query>(qs.query());
        q->hints.instance = Instance(nullptr, db_);
        qs = decltype(qs)(std::move(q));
    }
    cache_ = std::make_shared<const M>(qs.get("pk", id_));
    return *cache_;
}

}  // namespace dorm

namespace dorm::detail {

/// The database an instance operation runs on: `using_` when given, else (Django's `using or
/// router.db_for_write(..., instance=self)`) the routers' choice, else the database the instance came from.
inline const std::string* instance_db(const ModelMeta& meta, const void* obj, const ModelState& state,
                                      std::string_view using_, bool write) {
    if (!using_.empty()) return intern_alias(using_);
    if (!routing()) [[likely]]
        return state.db ? state.db : default_alias();
    return route_db(write, meta, Hints{Instance(&meta, state.db, std::shared_ptr<const void>(std::shared_ptr<const void>(), obj))});
}
template <class M>
const std::string* instance_db(const M& obj, std::string_view using_, bool write) {
    return instance_db(model_meta<M>(), &obj, obj.dorm_state_, using_, write);
}

/// The INSERT of one whole row of `meta` (without its automatic key when `assign_pk`, and then with RETURNING
/// unless the dialect has_last_insert_id()): the same text for every row, so it is written once per thread and
/// dialect, with where the connection that ran it last keeps it prepared (`hint`).
struct InsertRow {
    std::string sql;
    backends::StatementHint hint;
};
DORM_DECL InsertRow& insert_row_sql(const ModelMeta& meta, const backends::Dialect& d, bool assign_pk);

/// The INSERT of `rows` rows of `fields` that bulk_create() runs for its full batches (parameters: the values,
/// row after row): statements bind every value as a placeholder, so one text serves every batch of that many rows
/// of those fields with that conflict handling; written once per thread (keep_text()). The text stays valid while
/// the thread lives; nullptr when no more texts are kept.
DORM_DECL const std::string* insert_rows_sql(const ModelMeta& meta, const backends::Dialect& d,
                                             const std::vector<const FieldMeta*>& fields, std::size_t rows,
                                             bool returning_pk, const sql::OnConflict& conflict);

/// Inserts one row of `meta` from `obj`; fills in an automatic primary key (from RETURNING, or
/// the connection's last_insert_id()). `owned`: no one else can see `obj` (create()'s own copy), so its text is
/// lent to the statement rather than copied; a user's instance is never written but for its key, as Django's.
DORM_DECL void insert_instance(const ModelMeta& meta, void* obj, backends::Connection& conn, bool owned = false);
/// UPDATE one row by primary key; returns the rows matched.
DORM_DECL std::int64_t update_instance(const ModelMeta& meta, const void* obj, const std::string* db,
                                       backends::Connection& conn, const std::vector<std::string>& update_fields);
/// Django's ForwardManyToOneDescriptor.__set__ for each ForeignKey of `obj` assigned an instance (C++ assignment
/// cannot see the instance a member belongs to, so save() does it first): an unsaved `obj` takes the database the
/// routers give for writing it next to that instance (the instance's own when they have no opinion), and the
/// routers' allow_relation must accept the pair, else ValueError.
DORM_DECL void check_assigned_relations(const ModelMeta& meta, const void* obj, ModelState& state);
/// Model::save() of `obj`, an instance of `meta`'s model with state `state` (compiled once for every model).
/// `owned`: as insert_instance()'s.
DORM_DECL void save_instance(const ModelMeta& meta, void* obj, ModelState& state, const SaveOptions& options,
                             bool owned = false);
/// Below this many rows per statement a multi-row INSERT ... RETURNING (one round trip) is faster than
/// reserving keys and a COPY (three); measured on PostgreSQL 15 over loopback.
inline constexpr std::size_t copy_min_rows = 100;

/// bulk_create()'s bulk load of `objs` (instances of `meta`'s model, all with or all without their primary key)
/// through the database's copy protocol: whole rows, the automatic keys of objects without one reserved from
/// its sequence and set on them; one load per `batch_size` objects (0: one for all). False, with
/// nothing sent, when the backend or the table's column types do not allow it, or when there are too few rows
/// per statement to gain from it: then bulk_create() INSERTs them.
DORM_DECL bool copy_objects(const ModelMeta& meta, backends::Connection& conn, std::span<void* const> objs,
                            bool assign_pk, std::size_t batch_size);
/// bulk_update()'s statements for `objs` (instances of `meta`'s model with their primary keys set): UPDATE ...
/// FROM (VALUES ...) where the database has it; returns the rows matched. `scope`: the QuerySet's query, whose
/// rows alone may change (Django's filter(pk__in=...).update()); nullptr when it has no condition.
DORM_DECL std::int64_t bulk_update_rows(const ModelMeta& meta, backends::Connection& conn,
                                        const std::vector<const void*>& objs,
                                        const std::vector<const FieldMeta*>& targets, std::size_t batch_size,
                                        const sql::Query* scope = nullptr);

template <class M>
void insert_instance(M& obj, backends::Connection& conn) {
    insert_instance(model_meta<M>(), &obj, conn);
}

template <class M>
void refresh_instance(M& obj, std::string_view using_, const std::vector<std::string>& fields);

/// Django's save() writes a deferred field with its value, which reading it loads from the instance's database
/// (an assigned one is no longer deferred). A save that writes every field although some were deferred (to another
/// database, or force_insert) loads first those still holding the stand-in a row reader leaves (the member's
/// default), so that it never reaches a row; one the caller assigned another value is written as assigned.
/// update_fields are written as they are: naming a field is taken as having assigned it.
template <class M>
void load_deferred_for_save(M& obj, const SaveOptions& options) {
    const ModelState& state = obj.dorm_state_;
    if (!state.deferred || !state.db || pk_unset(obj) || !options.update_fields.empty()) return;
    if (!options.force_insert && instance_db(obj, options.using_, true) == state.db) return;  // loaded fields only
    const ModelMeta& meta = model_meta<M>();
    static const M blank{};
    std::vector<std::string> needed;
    for (const auto& name : *state.deferred)
        if (const FieldMeta* f = meta.find_field(name); f && f->get(&obj) == f->get(&blank)) needed.push_back(name);
    if (!needed.empty()) refresh_instance(obj, *state.db, needed);
}

template <class M>
void save_instance(M& obj, const SaveOptions& options) {
    load_deferred_for_save(obj, options);
    save_instance(model_meta<M>(), &obj, obj.dorm_state_, options);
}
/// save_instance() of an instance only the caller can see (create()'s).
template <class M>
void save_owned_instance(M& obj, const SaveOptions& options) {
    save_instance(model_meta<M>(), &obj, obj.dorm_state_, options, true);
}

template <class M>
DeleteResult delete_instance(M& obj, std::string_view using_) {
    const auto& meta = model_meta<M>();
    if (pk_unset(obj))
        throw ValueError(fmt::format("dorm: {} object can't be deleted because its {} attribute is set to None.",
                                     meta.name, meta.pk_field().name));
    const std::string* db = instance_db(obj, using_, true);
    auto result = QuerySet<M>().using_(*db).filter("pk", pk_value(obj)).delete_();
    if (meta.pk_field().auto_increment) meta.pk_field().set(&obj, Value(0));  // Django sets pk to None
    obj.dorm_state_.adding = true;
    return result;
}

template <class M>
void refresh_instance(M& obj, std::string_view using_) {
    // Every field is loaded (deferred ones too: what Django loads when one is read next); prefetched objects go,
    // annotations stay, as in Django.
    const std::string* db = instance_db(obj, using_, false);
    auto annotations = std::move(obj.dorm_state_.annotations);
    obj = QuerySet<M>().using_(*db).get("pk", pk_value(obj));
    obj.dorm_state_.annotations = std::move(annotations);
}

/// refresh_from_db({.fields = ...}): loads only these fields into `obj`; the others keep their values.
template <class M>
void refresh_instance(M& obj, std::string_view using_, const std::vector<std::string>& fields) {
    if (fields.empty()) return refresh_instance(obj, using_);
    const ModelMeta& meta = model_meta<M>();
    std::vector<const FieldMeta*> targets;
    for (const auto& name : fields) {
        if (name.find("__") != std::string::npos)
            throw ValueError(fmt::format("dorm: Found \"__\" in fields argument. Relations and transforms are not "
                                         "allowed in fields: {}", name));
        targets.push_back(&meta.get_field(name));
    }
    const std::string* db = instance_db(obj, using_, false);
    auto q = std::make_shared<sql::Query>(QuerySet<M>().using_(*db).query());
    q->loading = fields;
    q->defer_loading = false;
    static const auto unrecordable = unrecorded_recipe("refresh_from_db(fields)");  // not only(): fields as given
    q->recipe = unrecorded(q->recipe, unrecordable);
    M fresh = QuerySet<M>(std::move(q)).get("pk", pk_value(obj));
    for (const auto* f : targets) f->set(&obj, f->get(&fresh));
    if (obj.dorm_state_.deferred) {  // the refreshed fields are loaded now
        auto still = std::make_shared<std::vector<std::string>>(*obj.dorm_state_.deferred);
        std::erase_if(*still, [&](const std::string& n) {
            return std::find(fields.begin(), fields.end(), n) != fields.end();
        });
        obj.dorm_state_.deferred = still->empty() ? nullptr : std::move(still);
    }
}

/// Model::asave() / adelete() / arefresh_from_db(): the blocking method on a worker thread; `obj` is updated
/// as by it, so it must outlive the task.
/// The alias of the database an instance's asynchronous method queues for (see Job::pool_alias); empty when a
/// router fails, which the method itself then raises.
template <class M>
std::string queue_alias(const M& obj, std::string_view using_, bool write) {
    try {
        return *instance_db(obj, using_, write);
    } catch (...) {
        return {};
    }
}

template <class M>
Task<void> asave_instance(M& obj, const SaveOptions& options) {
    auto alias = queue_alias(obj, options.using_, true);
    return offload_to(std::move(alias), [o = &obj, opts = options, db = std::string(options.using_)]() mutable {
        opts.using_ = db;
        save_instance(*o, opts);
    });
}
template <class M>
Task<DeleteResult> adelete_instance(M& obj, std::string_view using_) {
    auto alias = queue_alias(obj, using_, true);
    return offload_to(std::move(alias), [o = &obj, db = std::string(using_)] { return delete_instance(*o, db); });
}
template <class M>
Task<void> arefresh_instance(M& obj, const RefreshOptions& options) {
    auto alias = queue_alias(obj, options.using_, false);
    return offload_to(std::move(alias), [o = &obj, db = std::string(options.using_), fields = options.fields] {
        if (fields.empty()) refresh_instance(*o, db);
        else refresh_instance(*o, db, fields);
    });
}

}  // namespace dorm::detail

namespace dorm {

template <class T, class Derived>
std::vector<T> QuerySet<T, Derived>::bulk_create(std::vector<T> objs, const BulkCreateOptions& options) const {
    using sql::OnConflict;
    const auto& meta = *query_->model;
    if (objs.empty()) return objs;  // Django looks at the options only when there are objects
    // As Django: the names are resolved first, then the options checked; without update_conflicts the field lists
    // are not used.
    OnConflict conflict;
    std::vector<const FieldMeta*> update_fields, unique_fields;
    // A relation that is not a column (a many-to-many or reverse one) is a name Django's get_field() knows: nullptr
    // here, refused below when the list is used.
    auto resolve = [&](const std::string& n) -> const FieldMeta* {
        if (!meta.find_field(n) && (meta.find_many_to_many(n) || meta.find_related(n))) return nullptr;
        return &meta.get_field(n);
    };
    for (const auto& n : options.unique_fields) unique_fields.push_back(resolve(n));
    for (const auto& n : options.update_fields) update_fields.push_back(resolve(n));
    auto concrete = [](const std::vector<const FieldMeta*>& fs) {
        return std::none_of(fs.begin(), fs.end(), [](const FieldMeta* f) { return f == nullptr; });
    };
    if (options.ignore_conflicts && options.update_conflicts)
        throw ValueError("dorm: ignore_conflicts and update_conflicts are mutually exclusive.");
    if (options.ignore_conflicts) {
        conflict.action = OnConflict::Action::ignore;
    } else if (options.update_conflicts) {
        conflict.action = OnConflict::Action::update;
        if (update_fields.empty())
            throw ValueError("dorm: Fields that will be updated when a row insertion fails on conflicts must be provided.");
        if (unique_fields.empty())
            throw ValueError("dorm: Unique fields that can trigger the upsert must be provided.");
        if (!concrete(update_fields))
            throw ValueError("dorm: bulk_create() can only be used with concrete fields in update_fields.");
        for (const FieldMeta* f : update_fields)
            if (f->primary_key) throw ValueError("dorm: bulk_create() cannot be used with primary keys in update_fields.");
        if (!concrete(unique_fields))
            throw ValueError("dorm: bulk_create() can only be used with concrete fields in unique_fields.");
        conflict.update_fields = std::move(update_fields);
        conflict.unique_fields = std::move(unique_fields);
    }

    const std::string* db = write_db();
    auto& conn = databases().get(*db).connection();
    const FieldMeta& pk = meta.pk_field();
    const bool returning = conflict.action != OnConflict::Action::ignore;

    // Django inserts objects with and without a primary key separately: the latter omit the pk column.
    auto insert_group = [&](std::vector<T*>& group, bool with_pk) {
        if (conflict.action == OnConflict::Action::error &&
            detail::copy_objects(meta, conn, std::vector<void*>(group.begin(), group.end()), !with_pk,
                                 options.batch_size))
            return;
        std::vector<const FieldMeta*> fields;
        for (const auto& f : meta.fields)
            if (with_pk || &f != &pk) fields.push_back(&f);
        std::size_t per_row = std::max<std::size_t>(fields.size(), 1);
        std::size_t rows_per_batch = std::max<std::size_t>(conn.dialect().max_query_params() / per_row, 1);
        if (options.batch_size) rows_per_batch = std::min(rows_per_batch, options.batch_size);
        std::vector<Value> values;
        for (std::size_t start = 0; start < group.size(); start += rows_per_batch) {
            std::size_t end = std::min(group.size(), start + rows_per_batch);
            values.clear();
            values.reserve((end - start) * fields.size());
            for (std::size_t i = start; i < end; ++i)
                for (auto* f : fields) {
                    values.push_back(f->get(group[i]));
                    if (f->kind == FieldKind::text) detail::check_storable(conn.dialect(), *f, values.back());
                }
            if (fields.empty()) {
                // DEFAULT VALUES inserts one row per statement.
                for (std::size_t i = start; i < end; ++i) {
                    auto c = sql::compile_insert(meta, conn.dialect(), fields, {}, returning, conflict);
                    auto cur = conn.query(c.sql, c.params);
                    if (cur->next() && !with_pk) pk.set(group[i], Value(cur->row()[0].i));
                }
                continue;
            }
            // A full batch's text is written once; the last, shorter one is compiled.
            sql::Compiled c;
            const std::string* text = nullptr;
            std::span<const Value> params = values;
            if (end - start == rows_per_batch)
                text = detail::insert_rows_sql(meta, conn.dialect(), fields, end - start, returning && !with_pk, conflict);
            if (!text) {
                c = sql::compile_insert(meta, conn.dialect(), fields, values, returning && !with_pk, conflict);
                text = &c.sql;
                params = c.params;
            }
            if (returning && !with_pk) {
                auto cur = conn.query(*text, params);
                for (std::size_t i = start; i < end && cur->next(); ++i) pk.set(group[i], Value(cur->row()[0].i));
                while (cur->next()) {
                }
            } else {
                conn.execute(*text, params);
            }
        }
    };

    atomic(
        [&] {
            std::vector<T*> with_pk, without_pk;
            for (auto& o : objs) (detail::pk_unset(o) ? without_pk : with_pk).push_back(&o);
            if (!with_pk.empty()) insert_group(with_pk, true);
            if (!without_pk.empty()) insert_group(without_pk, false);
        },
        AtomicOptions{.using_ = *db, .savepoint = false});  // Django's: a failure dooms the enclosing block
    for (auto& o : objs) o.dorm_state_ = ModelState{db, false};
    return objs;
}

template <class T, class Derived>
std::int64_t QuerySet<T, Derived>::bulk_update(const std::vector<T>& objs, const std::vector<std::string>& fields,
                                               std::size_t batch_size) const {
    const auto& meta = *query_->model;
    if (fields.empty()) throw ValueError("dorm: Field names must be given to bulk_update().");
    std::vector<const FieldMeta*> targets;
    for (const auto& n : fields)
        if (!meta.find_field(n) && (meta.find_many_to_many(n) || meta.find_related(n)))
            throw ValueError("dorm: bulk_update() can only be used with concrete fields.");
    for (const auto& n : fields) {
        const FieldMeta& f = meta.get_field(n);
        if (f.primary_key) throw ValueError("dorm: bulk_update() cannot be used with primary key fields.");
        // A field named twice ("blog", "blog_id") is set once, as Django's dict of updates.
        if (std::find(targets.begin(), targets.end(), &f) == targets.end()) targets.push_back(&f);
    }
    for (const auto& o : objs)
        if (detail::pk_unset(o)) throw ValueError("dorm: All bulk_update() objects must have a primary key set.");
    if (objs.empty()) return 0;
    // Django runs filter(pk__in=...).update(...) on this QuerySet: its conditions hold, a slice is refused.
    check_combinator("filter");
    if (query_->is_sliced()) throw TypeError("dorm: Cannot filter a query once a slice has been taken.");
    if (query_->empty) return 0;
    const sql::Query& q = *query_;
    const bool scoped = q.where || q.having || q.qualify || !q.joins.empty() || q.grouping != sql::Grouping::none;

    std::vector<const void*> rows;
    rows.reserve(objs.size());
    for (const auto& o : objs) rows.push_back(&o);
    const std::string* db = write_db();
    auto& conn = databases().get(*db).connection();
    return atomic([&] { return detail::bulk_update_rows(meta, conn, rows, targets, batch_size, scoped ? &q : nullptr); },
                  AtomicOptions{.using_ = *db, .savepoint = false});  // Django's: a failure dooms the enclosing block
}

}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/impl/instance.ipp>
#endif
