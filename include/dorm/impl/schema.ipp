// SPDX-License-Identifier: MIT
// Definitions for <dorm/schema.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/schema.hpp>

namespace dorm::detail {

DORM_DECL std::string index_name(std::string_view table, const std::vector<std::string>& columns, std::string_view suffix) {
    std::string name(table);
    for (const auto& c : columns) name += "_" + c;
    name += "_";
    name += suffix;
    if (name.size() <= 63) return name;
    std::uint32_t h = 2166136261u;  // FNV-1a
    for (unsigned char ch : name) h = (h ^ ch) * 16777619u;
    return fmt::format("{}_{:08x}", name.substr(0, 54), h);
}

DORM_DECL std::vector<std::string> create_table_sql(const ModelMeta& m, const backends::Dialect& d) {
    auto q = [&](std::string_view name) {
        std::string s;
        d.quote_name(s, name);
        return s;
    };
    std::string sql = "CREATE TABLE IF NOT EXISTS " + q(m.db_table) + " (";
    for (std::size_t i = 0; i < m.fields.size(); ++i) {
        const FieldMeta& f = m.fields[i];
        if (i) sql += ", ";
        sql += q(f.column) + " ";
        if (f.auto_increment) {
            sql += d.auto_increment_column(f);
            continue;
        }
        sql += d.column_type(f);
        sql += f.nullable ? " NULL" : " NOT NULL";
        if (f.primary_key) sql += " PRIMARY KEY";
        else if (f.unique) sql += " UNIQUE";
        if (f.default_value) sql += " DEFAULT " + d.literal(*f.default_value);
        if (f.is_relation()) {
            const ModelMeta& target = f.related();
            const FieldMeta& tpk = target.pk_field();
            auto integral = [](FieldKind k) {
                return k == FieldKind::small_integer || k == FieldKind::integer || k == FieldKind::big_integer;
            };
            if (f.kind != tpk.kind && !(integral(f.kind) && integral(tpk.kind)))
                throw FieldError(fmt::format("dorm: {}.{} is a ForeignKey whose key type does not match {}'s primary key",
                                             m.name, f.name, target.name));
            sql += " REFERENCES " + q(target.db_table) + " (" + q(tpk.column) + ") DEFERRABLE INITIALLY DEFERRED";
        }
    }
    for (const auto& group : m.unique_together) {
        sql += ", UNIQUE (";
        for (std::size_t i = 0; i < group.size(); ++i) sql += (i ? ", " : "") + q(m.get_field(group[i]).column);
        sql += ")";
    }
    sql += ")";

    std::vector<std::string> out{sql};
    auto add_index = [&](std::vector<std::string> fields, std::string name) {
        std::vector<std::string> columns;
        std::string list;
        for (const auto& n : fields) {
            bool desc = !n.empty() && n[0] == '-';
            const FieldMeta& f = m.get_field(desc ? std::string_view(n).substr(1) : std::string_view(n));
            columns.push_back(f.column);
            list += (list.empty() ? "" : ", ") + q(f.column) + (desc ? " DESC" : "");
        }
        if (name.empty()) name = index_name(m.db_table, columns, "idx");
        out.push_back("CREATE INDEX IF NOT EXISTS " + q(name) + " ON " + q(m.db_table) + " (" + list + ")");
    };
    for (const auto& f : m.fields)
        if ((f.db_index || f.is_relation()) && !f.unique && !f.primary_key) add_index({f.name}, {});
    // Django: on PostgreSQL an indexed or unique text column also gets a pattern-ops index, so that
    // startswith (LIKE 'x%') can use an index whatever the database's collation.
    for (const auto& f : m.fields) {
        auto opclass = d.like_index_opclass(f);
        if (opclass.empty() || !(f.db_index || f.unique)) continue;
        out.push_back("CREATE INDEX IF NOT EXISTS " + q(index_name(m.db_table, {f.column}, "like")) + " ON " +
                      q(m.db_table) + " (" + q(f.column) + " " + std::string(opclass) + ")");
    }
    for (const auto& idx : m.indexes) add_index(idx.fields, idx.name);
    return out;
}

DORM_DECL std::vector<const ModelMeta*> migratable(std::vector<const ModelMeta*> metas, std::string_view db) {
    if (!routing()) return metas;
    std::erase_if(metas, [&](const ModelMeta* m) { return !router().allow_migrate(db, *m); });
    return metas;
}

DORM_DECL std::vector<const ModelMeta*> with_join_tables(std::vector<const ModelMeta*> metas) {
    std::size_t n = metas.size();
    for (std::size_t i = 0; i < n; ++i)
        for (const auto& r : metas[i]->many_to_many)
            if (!r.reverse && r.auto_created && r.through) metas.push_back(r.through);
    return metas;
}

DORM_DECL void create_tables(std::vector<const ModelMeta*> metas, std::string_view using_) {
    auto& conn = databases().get(using_).connection();
    for (const ModelMeta* m : with_join_tables(migratable(std::move(metas), using_)))
        for (const auto& stmt : create_table_sql(*m, conn.dialect())) conn.execute(stmt);
}

DORM_DECL void drop_tables(std::vector<const ModelMeta*> metas, std::string_view using_) {
    auto& conn = databases().get(using_).connection();
    metas = with_join_tables(migratable(std::move(metas), using_));
    for (auto it = metas.rbegin(); it != metas.rend(); ++it) {
        std::string sql = "DROP TABLE IF EXISTS ";
        conn.dialect().quote_name(sql, (*it)->db_table);
        sql += conn.dialect().drop_table_suffix();
        conn.execute(sql);
    }
}

}  // namespace dorm::detail
