// SPDX-License-Identifier: MIT
// prefetch_related(): Prefetch, the engine that loads each level of related objects with one query (batched
// within the backend's parameter limit), prefetch_related_objects() and the accessor of prefetched lists.
#pragma once

#include <dorm/config.hpp>
#include <dorm/detail/node_pool.hpp>

#include <dorm/async/offload.hpp>
#include <dorm/database.hpp>
#include <dorm/errors.hpp>
#include <dorm/model.hpp>
#include <dorm/row_reader.hpp>
#include <dorm/serialize.hpp>
#include <dorm/sql/query.hpp>

#include <map>
#include <set>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace dorm {

/// A prefetch_related() lookup with options (Django's Prefetch): the QuerySet to load the last level from (its
/// filters and ordering apply), and `to_attr`, the name to store the objects under (read them with
/// `dorm::prefetched<Entry>(blog, "to_attr")`).
class Prefetch {
public:
    Prefetch(std::string_view lookup) : spec_{std::string(lookup), nullptr, {}} {}  // NOLINT: implicit
    Prefetch(const char* lookup) : Prefetch(std::string_view(lookup)) {}           // NOLINT: implicit
    template <class QS>
        requires requires(const QS& qs) { qs.query(); }
    Prefetch(std::string_view lookup, const QS& queryset, std::string_view to_attr = {})
        : spec_{std::string(lookup), dorm::detail::make_node<sql::Query>(queryset.query()), std::string(to_attr)} {}
    const sql::PrefetchSpec& spec() const noexcept { return spec_; }

private:
    sql::PrefetchSpec spec_;
};

namespace detail {

/// The objects of one model reached at some level of a prefetch, by address (they live in their owners' caches).
struct PrefetchLevel {
    const ModelMeta* model = nullptr;
    std::vector<void*> objects;
};

/// Makes sure `q` loads `key` (the column prefetched rows are matched by), whatever its only() / defer().
DORM_DECL void load_key(sql::Query& q, const FieldMeta& key);

/// The statement of the batch of `keys` from `from` (at most `batch`) of a prefetch by the lookup path `path`:
/// compiled once per shape of `base` and number of keys (see shaped_statement()). `load`: the field the rows are
/// matched by, which `base` loads whatever its only() / defer() (load_key()), or nullptr.
DORM_DECL void prefetch_statement(const sql::Query& base, const std::string& path, const FieldMeta* load,
                                  const std::vector<Value>& keys, std::size_t from, std::size_t batch,
                                  backends::Connection& conn, ShapedStatement& out);

/// Runs `base` (its WHERE extended with `lhs IN` each batch of `keys`; `lhs` a lookup path or an expression) and
/// hands every row to `row` with the reader that decodes it (base's only() / defer(), annotations and
/// select_related() included). The Prefetch QuerySet's own database (using_()) wins over the instances', as in
/// Django. With a lookup path, `load` is the field rows are matched by (see prefetch_statement()).
template <class Lhs, class Row>
void prefetch_query(sql::Query base, const std::string* db, const Lhs& lhs, const std::vector<Value>& keys, Row&& row,
                    const FieldMeta* load = nullptr) {
    // Django: a Prefetch QuerySet's own using_() wins; else the routers are asked, with the instances' database
    // as the hint (and so the answer when no router has an opinion).
    if (!base.db && !base.hints.instance) base.hints.instance = Instance(nullptr, db);
    const std::string* on = query_db(base);
    auto& conn = databases().get(*on).connection();
    const std::size_t batch = conn.dialect().max_query_params();
    if constexpr (std::is_same_v<Lhs, std::string>) {
        if (load) load_key(base, *load);
        const RowReaderBase reader(base, on);  // the batches only add to the WHERE
        for (std::size_t i = 0; i < keys.size(); i += batch) {
            ShapedStatement st;
            prefetch_statement(base, lhs, load, keys, i, batch, conn, st);
            if (!st.sql) continue;
            auto cursor = conn.query(*st.sql, st.params);
            while (cursor->next()) row(reader, cursor->row());
        }
    } else {
        sql::detail::for_each_in_batch(base, lhs, keys, batch, [&](const sql::Query& q) {
            auto c = sql::compile_select(q, conn.dialect());
            if (c.nothing) return;
            RowReaderBase reader(q, on);
            auto cursor = conn.query(c.sql, c.params);
            while (cursor->next()) row(reader, cursor->row());
        });
    }
}

/// The query a prefetch level runs: the Prefetch's QuerySet, or all rows of `target`.
DORM_DECL sql::Query prefetch_base(const sql::PrefetchSpec* spec, const ModelMeta& target, std::string_view name);

/// Runs the prefetch_related() of a Prefetch QuerySet `base` over the objects of the level it loaded.
DORM_DECL void prefetch_nested(const sql::Query& base, const PrefetchLevel& level, const std::string* db);

/// A ManyToMany level: the related rows joined to the join table, whose key to this side is selected last.
DORM_DECL PrefetchLevel prefetch_many_to_many(const PrefetchLevel& level, const ManyToManyRelation& m2m,
                                           const sql::PrefetchSpec* spec, const std::string* db);

/// One level: the ForeignKey or reverse relation `name` of `level`'s objects; returns the objects it reached.
/// `lookup`: the whole lookup, named by the AttributeError of a name that is neither.
DORM_DECL PrefetchLevel prefetch_level(const PrefetchLevel& level, std::string_view name, const sql::PrefetchSpec* spec,
                                    const std::string* db, std::string_view lookup = {});

/// Runs every lookup over `objects` of `model`, level by level; a level already loaded for an earlier lookup
/// ("entry_set" before "entry_set__blog") is not loaded again.
DORM_DECL void prefetch_related(std::vector<void*> objects, const ModelMeta& model, const std::vector<sql::PrefetchSpec>& specs,
                             const std::string* db);

}  // namespace detail

/// Prefetches related objects for instances already loaded (Django's prefetch_related_objects()).
template <detail::model M, class... Lookups>
void prefetch_related_objects(std::vector<M>& instances, const Lookups&... lookups) {
    if (instances.empty()) return;
    std::vector<void*> objects;
    for (auto& obj : instances) objects.push_back(&obj);
    const std::string* db = instances.front().dorm_state_.db ? instances.front().dorm_state_.db : detail::default_alias();
    detail::prefetch_related(std::move(objects), model_meta<M>(), {Prefetch(lookups).spec()...}, db);
}

/// prefetch_related_objects() on a worker thread (Django's aprefetch_related_objects()); `instances` is updated
/// as by it, so it must outlive the task.
template <detail::model M, class... Lookups>
Task<void> aprefetch_related_objects(std::vector<M>& instances, const Lookups&... lookups) {
    return detail::offload([objs = &instances, lookups...] { prefetch_related_objects(*objs, lookups...); });
}

/// The objects prefetch_related() stored on `obj` under `name` (a reverse relation's accessor such as
/// "entry_set", or a Prefetch's to_attr). Throws KeyError when nothing was prefetched under that name.
template <detail::model R, detail::model M>
const std::vector<R>& prefetched(const M& obj, std::string_view name) {
    const auto& map = obj.dorm_state_.prefetched;
    auto missing = [&] { return KeyError(fmt::format("dorm: nothing was prefetched as '{}' on this {}", name, M::dorm_name())); };
    if (!map) throw missing();
    auto it = map->find(name);
    if (it == map->end()) throw missing();
    if (it->second.model != &model_meta<R>())
        throw TypeError(fmt::format("dorm: '{}' holds {} objects, not {}", name, it->second.model->name, R::dorm_name()));
    return static_cast<const detail::ResultCache<R>*>(it->second.cache.get())->items;
}

}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/impl/prefetch.ipp>
#endif
