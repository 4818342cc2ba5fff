// SPDX-License-Identifier: MIT
// Definitions for <dorm/instance.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/instance.hpp>
#include <dorm/detail/value_buffer.hpp>

#include <set>
#include <span>

namespace dorm::detail {

DORM_DECL InsertRow& insert_row_sql(const ModelMeta& meta, const backends::Dialect& d, bool assign_pk) {
    using Key = std::tuple<const backends::Dialect*, const ModelMeta*, bool>;
    thread_local std::map<Key, InsertRow> statements;  // nodes keep their address
    thread_local std::pair<Key, InsertRow*> last{};      // create() in a loop asks for the same one again
    const Key key{&d, &meta, assign_pk};
    if (last.second && last.first == key) return *last.second;
    auto [it, fresh] = statements.try_emplace(key);
    if (fresh) {
        try {
            std::vector<const FieldMeta*> fields;
            for (const auto& f : meta.fields)
                if (!(assign_pk && &f == &meta.pk_field())) fields.push_back(&f);
            std::vector<Value> placeholders(fields.size());
            it->second.sql = sql::compile_insert(meta, d, fields, placeholders, assign_pk && !d.has_last_insert_id()).sql;
        } catch (...) {
            statements.erase(it);  // not kept empty
            throw;
        }
    }
    last = {key, &it->second};
    return it->second;
}

DORM_DECL const std::string* insert_rows_sql(const ModelMeta& meta, const backends::Dialect& d,
                                             const std::vector<const FieldMeta*>& fields, std::size_t rows,
                                             bool returning_pk, const sql::OnConflict& conflict) {
    std::string& key = text_key('i');
    add_key(key, &d);
    add_key(key, &meta);
    add_key(key, rows);
    add_key(key, returning_pk);
    add_key(key, conflict.action);
    for (const auto* list : {&fields, &conflict.unique_fields, &conflict.update_fields}) {
        add_key(key, list->size());
        for (const FieldMeta* f : *list) add_key(key, f);
    }
    if (const std::string* text = kept_text(key)) return text;
    const std::vector<Value> placeholders(rows * fields.size());
    return keep_text(key, sql::compile_insert(meta, d, fields, placeholders, returning_pk, conflict).sql);
}

}  // namespace dorm::detail

namespace dorm::detail {

DORM_DECL void check_storable(const backends::Dialect& d, const FieldMeta& f, const Value& v) {
    if (d.text_accepts_nul()) return;  // SQLite: no text to scan
    if (const auto* s = std::get_if<std::string>(&v.variant()); s && s->find('\0') != std::string::npos)
        throw ValueError(fmt::format("dorm: A string literal cannot contain NUL (0x00) characters: field '{}' ({} "
                                     "text cannot hold them).", f.name, d.vendor()));
}

DORM_DECL void insert_instance(const ModelMeta& meta, void* obj, backends::Connection& conn, bool owned) {
    const FieldMeta& pk = meta.pk_field();
    const bool assign_pk = pk.auto_increment && pk_unset(meta, obj);
    // The values on the stack for most models: a raw insert allocates nothing either. The text members of an
    // instance no one else sees are lent, not copied: moved into their Values, and moved back once the statement
    // has run or failed (`give_back`). A user's instance is only read: another thread may read it meanwhile.
    ValueBuffer<16> buffer;
    buffer.reserve(meta.fields.size());
    struct GiveBack {
        const ModelMeta& meta;
        void* obj;
        bool owned;
        const FieldMeta* skipped;
        const ValueBuffer<16>& buffer;
        ~GiveBack() {
            if (!owned) return;
            const std::span<const Value> lent = buffer.values();
            std::size_t i = 0;
            for (const auto& f : meta.fields) {
                if (&f == skipped) continue;
                if (i == lent.size()) break;
                // The buffer's Values are not const objects: this takes back the string lent to the one at i.
                if (f.text) *f.text(obj) = std::move(const_cast<std::string&>(std::get<std::string>(lent[i].variant())));
                ++i;
            }
        }
    } give_back{meta, obj, owned, assign_pk ? &pk : nullptr, buffer};
    const backends::Dialect& dialect = conn.dialect();
    for (const auto& f : meta.fields)
        if (!(assign_pk && &f == &pk)) {
            const Value& v =
                buffer.push_back_made([&] { return owned && f.text ? Value(std::move(*f.text(obj))) : f.get(obj); });
            if (f.kind == FieldKind::text) check_storable(dialect, f, v);
        }
    const std::span<const Value> values = buffer.values();
    InsertRow& row = insert_row_sql(meta, dialect, assign_pk);
    const std::string& sql = row.sql;
    if (!assign_pk) {
        conn.execute(sql, values, &row.hint);
        return;
    }
    if (dialect.has_last_insert_id()) {
        conn.execute(sql, values, &row.hint);
        pk.set(obj, Value(conn.last_insert_id()));
        return;
    }
    auto cursor = conn.query(sql, values);
    if (!cursor->next()) throw DatabaseError("dorm: INSERT ... RETURNING returned no row", sql);
    pk.set(obj, Value(cursor->row()[0].i));
    while (cursor->next()) {
    }
}

DORM_DECL std::int64_t update_instance(const ModelMeta& meta, const void* obj, const std::string* db,
                                       backends::Connection& conn, const std::vector<std::string>& update_fields) {
    const FieldMeta& pk = meta.pk_field();
    // The values set, then the key: the parameters of the statement, whose text depends only on the fields set
    // (every value is a placeholder: the key of the statements below).
    std::vector<Value> params;
    params.reserve(meta.fields.size());
    std::vector<const FieldMeta*> fields;
    fields.reserve(meta.fields.size());
    std::string& text = text_key('s');
    add_key(text, &conn.dialect());
    add_key(text, &meta);
    add_key(text, lookups::custom_generation());  // a lookup registered since may replace "exact"
    for (const auto& f : meta.fields) {
        if (&f == &pk) continue;
        if (!update_fields.empty() && std::find(update_fields.begin(), update_fields.end(), f.name) == update_fields.end())
            continue;
        Value v = f.get(obj);
        if (f.kind == FieldKind::text) check_storable(conn.dialect(), f, v);
        const auto index = static_cast<std::uint32_t>(&f - meta.fields.data());
        add_key(text, index);
        fields.push_back(&f);
        params.push_back(std::move(v));
    }
    params.push_back(pk.get(obj));
    // save() of a loaded object, the same fields each time: its UPDATE compiled once per thread.
    if (!fields.empty())
        if (const std::string* kept = kept_text(text)) return conn.execute(*kept, params);
    std::vector<std::pair<const FieldMeta*, sql::ExprPtr>> sets;
    for (std::size_t i = 0; i < fields.size(); ++i) sets.emplace_back(fields[i], dorm::detail::make_node<sql::Param>(params[i]));
    sql::Query q;
    q.model = &meta;
    q.db = db;
    Operand key;
    key.value = pk.get(obj);
    sql::add_where(q, sql::build_lookup(q, "pk", key, false));
    if (sets.empty()) {
        // A model with only a primary key: nothing to write, but report whether the row exists.
        auto c = sql::compile_exists(q, conn.dialect());
        return !c.nothing && conn.query(c.sql, c.params)->next() ? 1 : 0;
    }
    auto c = sql::compile_update(q, conn.dialect(), sets);
    // Kept only when its parameters are exactly the values and the key, in order (each value bound as it is).
    if (c.params == params) keep_text(text, c.sql);
    return conn.execute(c.sql, c.params);
}

DORM_DECL void check_assigned_relations(const ModelMeta& meta, const void* obj, ModelState& state) {
    auto view = [](const void* p) { return std::shared_ptr<const void>(std::shared_ptr<const void>(), p); };
    for (const auto& f : meta.fields) {
        if (!f.assigned) continue;
        const std::string* value_db = nullptr;
        const void* value = f.assigned(obj, &value_db);
        if (!value) continue;
        const ModelMeta& target = f.related();
        // An instance from no database yet goes where writing it next to its related object would.
        if (!state.db) state.db = routed_db(true, meta, Hints{Instance(&target, value_db, view(value))});
        Instance owner(&meta, state.db, view(obj));
        if (!value_db) value_db = routed_db(true, target, Hints{owner});
        if (!router().allow_relation(Instance(&target, value_db, view(value)), owner))
            throw ValueError(fmt::format("dorm: Cannot assign \"{}\": the current database router prevents this "
                                         "relation.", target.repr(value)));
    }
}

DORM_DECL void save_instance(const ModelMeta& meta, void* obj, ModelState& state, const SaveOptions& given,
                             bool owned) {
    if (given.force_insert && (given.force_update || !given.update_fields.empty()))
        throw ValueError("dorm: Cannot force both insert and updating in model saving.");
    // Django's _non_pk_concrete_field_names: a field's name or its attname ("blog_id"), never the primary key.
    SaveOptions by_name;
    bool renamed = false;
    for (std::size_t i = 0; i < given.update_fields.size(); ++i) {
        const std::string& name = given.update_fields[i];
        const FieldMeta* f = meta.find_field(name);
        if (!f || f->primary_key)
            throw ValueError(fmt::format("dorm: The following fields do not exist in this model, are m2m fields, "
                                         "primary keys, or are non-concrete fields: {}", name));
        if (f->name == name) continue;
        if (!renamed) by_name = given;
        renamed = true;
        by_name.update_fields[i] = f->name;
    }
    const SaveOptions& options = renamed ? by_name : given;
    check_assigned_relations(meta, obj, state);
    const std::string* db = instance_db(meta, obj, state, options.using_, true);
    auto& conn = databases().get(*db).connection();
    // Django: an instance loaded with deferred fields saves only the fields it loaded, so that the defaults
    // standing in for the others never overwrite the row.
    if (state.deferred && !options.force_insert && options.update_fields.empty() && db == state.db) {
        SaveOptions loaded = options;
        for (const auto& f : meta.fields)
            if (!f.primary_key && std::find(state.deferred->begin(), state.deferred->end(), f.name) == state.deferred->end())
                loaded.update_fields.push_back(f.name);
        if (loaded.update_fields.empty()) {  // the key alone was loaded: nothing to write, but the row must be there
            if (update_instance(meta, obj, db, conn, {meta.fields[meta.pk].name}) == 0)
                throw DatabaseError("dorm: Save with update_fields did not affect any rows.");
            return;
        }
        return save_instance(meta, obj, state, loaded, owned);
    }
    const bool forced_update = options.force_update || !options.update_fields.empty();
    if (pk_unset(meta, obj)) {
        if (forced_update) throw ValueError("dorm: Cannot force an update in save() with no primary key.");
        insert_instance(meta, obj, conn, owned);
    } else if (options.force_insert) {
        insert_instance(meta, obj, conn, owned);
    } else {
        // Django: UPDATE first; INSERT when no row had this primary key.
        if (update_instance(meta, obj, db, conn, options.update_fields) == 0) {
            if (options.force_update) throw DatabaseError("dorm: Forced update did not affect any rows.");
            if (!options.update_fields.empty()) throw DatabaseError("dorm: Save with update_fields did not affect any rows.");
            insert_instance(meta, obj, conn, owned);
        }
    }
    state.db = db;
    state.adding = false;
}

DORM_DECL bool copy_objects(const ModelMeta& meta, backends::Connection& conn, std::span<void* const> objs,
                            bool assign_pk, std::size_t batch_size) {
    const std::size_t per_statement = batch_size ? std::min(batch_size, objs.size()) : objs.size();
    const FieldMeta& pk = meta.pk_field();
    if (per_statement < copy_min_rows || (assign_pk && !pk.auto_increment)) return false;
    std::vector<const FieldMeta*> fields;
    fields.reserve(meta.fields.size());
    for (const auto& f : meta.fields) fields.push_back(&f);
    auto target = conn.copy_target(meta.db_table, fields, assign_pk ? &pk : nullptr);
    if (!target) return false;
    for (std::size_t start = 0; start < objs.size(); start += per_statement) {
        std::size_t n = std::min(per_statement, objs.size() - start);
        conn.copy_rows(*target, fields, objs.subspan(start, n), assign_pk ? &pk : nullptr);
    }
    return true;
}

DORM_DECL std::int64_t bulk_update_rows(const ModelMeta& meta, backends::Connection& conn,
                                        const std::vector<const void*>& objs,
                                        const std::vector<const FieldMeta*>& targets, std::size_t batch_size,
                                        const sql::Query* scope) {
    const FieldMeta& pk = meta.pk_field();
    const auto& d = conn.dialect();
    const bool from_values = d.has_update_from();
    // FROM (VALUES ...): each row binds its primary key and one value per field. Without it, (pk, value) per
    // field in CASE branches plus the pk in the IN list.
    const std::size_t per_row = from_values ? targets.size() + 1 : 2 * targets.size() + 1;
    // The QuerySet's own parameters come with each statement.
    const sql::Query rows_in_scope = scope ? sql::detail::pk_query(*scope) : sql::Query{};
    const std::size_t scope_params = scope ? sql::compile_select(rows_in_scope, d).params.size() : 0;
    const std::size_t room = d.max_query_params() > scope_params ? d.max_query_params() - scope_params : 0;
    std::size_t rows_per_batch = std::max<std::size_t>(room / per_row, 1);
    if (batch_size) rows_per_batch = std::min(rows_per_batch, batch_size);
    auto col = dorm::detail::make_node<sql::Col>(meta.db_table, &pk);
    std::int64_t matched = 0;
    std::vector<const void*> unique;
    for (std::size_t from = 0; from < objs.size(); from += rows_per_batch) {
        // Django batches the objects as given: in one batch, of objects with the same primary key only the first
        // is written (its CASE's first WHEN); a later batch writes its own.
        unique.clear();
        std::set<Value> seen;
        for (std::size_t i = from; i < std::min(objs.size(), from + rows_per_batch); ++i)
            if (seen.insert(pk.get(objs[i])).second) unique.push_back(objs[i]);
        const std::size_t start = 0, end = unique.size();
        sql::Compiler c(d);
        c << "UPDATE ";
        c.quote(meta.db_table);
        c << " SET ";
        if (from_values) {
            // VALUES columns are named column1, column2, ... on both SQLite and PostgreSQL.
            for (std::size_t t = 0; t < targets.size(); ++t) {
                if (t) c << ", ";
                c.quote(targets[t]->column);
                c << " = ";
                std::string value = fmt::format("\"dorm_values\".column{}", t + 2);
                if (d.values_need_casts()) c.fill_template(d.cast_template(targets[t]->kind), [&] { c << value; });
                else c << value;
            }
            c << " FROM (VALUES ";
            for (std::size_t i = start; i < end; ++i) {
                c << (i == start ? "(" : ", (");
                c.param(pk.get(unique[i]));
                for (const auto* f : targets) {
                    c << ", ";
                    Value v = f->get(unique[i]);
                    if (f->kind == FieldKind::text) check_storable(d, *f, v);
                    c.param(std::move(v));
                }
                c << ")";
            }
            c << ") AS \"dorm_values\" WHERE ";
            col->as_sql(c);
            c << " = \"dorm_values\".column1";
        } else {
            for (std::size_t t = 0; t < targets.size(); ++t) {
                if (t) c << ", ";
                c.quote(targets[t]->column);
                c << " = CASE";
                for (std::size_t i = start; i < end; ++i) {
                    c << " WHEN ";
                    col->as_sql(c);
                    c << " = ";
                    c.param(pk.get(unique[i]));
                    c << " THEN ";
                    c.param(targets[t]->get(unique[i]));
                }
                c << " ELSE ";
                c.quote(targets[t]->column);
                c << " END";
            }
            c << " WHERE ";
            col->as_sql(c);
            c << " IN (";
            for (std::size_t i = start; i < end; ++i) {
                if (i != start) c << ", ";
                c.param(pk.get(unique[i]));
            }
            c << ")";
        }
        if (scope) {
            c << " AND ";
            col->as_sql(c);
            c << " IN (";
            if (!sql::detail::select_body(c, rows_in_scope, false)) return matched;  // it matches nothing
            c << ")";
        }
        matched += conn.execute(c.sql, c.params);
    }
    return matched;
}

}  // namespace dorm::detail
