// SPDX-License-Identifier: MIT
// The C++ peers the benchmark measures dorm against when they are installed: SOCI (SQLite and PostgreSQL) and
// libpqxx (PostgreSQL). Each is used the way its documentation shows: prepared statements with bound variables,
// results read column by column into the same Entry struct, so the same Tally checks every side.
#pragma once

#if DORM_BENCH_SOCI
#include <soci/soci.h>
// The backends' factories, declared here: soci-sqlite3.h wraps <sqlite3.h> in a namespace of its own, which clashes
// with dorm's SQLite backend including it first.
namespace soci {
extern "C" backend_factory const* factory_sqlite3();
extern "C" backend_factory const* factory_postgresql();
}  // namespace soci
#endif
#if DORM_BENCH_PQXX
#include <pqxx/pqxx>
#endif

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {
namespace peers {

/// A peer's side of one workload.
struct Side {
    std::string name;
    std::function<Tally()> run;
};

/// Date text ("2005-03-20") from a std::tm, and back.
inline Date date_of(const std::tm& t) { return Date(t.tm_year + 1900, static_cast<unsigned>(t.tm_mon + 1), static_cast<unsigned>(t.tm_mday)); }

/// "host=... port=... dbname=..." for a libpq URL: SOCI's PostgreSQL backend takes only the keyword form.
inline std::string keyword_conninfo(const std::string& url) {
    std::string out;
    if (PQconninfoOption* options = PQconninfoParse(url.c_str(), nullptr)) {
        for (auto* o = options; o->keyword; ++o)
            if (o->val && *o->val) out += fmt::format("{}{}='{}'", out.empty() ? "" : " ", o->keyword, o->val);
        PQconninfoFree(options);
    }
    return out;
}

#if DORM_BENCH_SOCI
/// SOCI on either backend: `:name` placeholders, values bound to variables, rows fetched into variables.
class Soci {
public:
    Soci(const std::string& backend, const std::string& connect)
        : sql_(backend == "sqlite" ? *soci::factory_sqlite3() : *soci::factory_postgresql(), connect) {}
    void exec(const std::string& sql) { sql_ << sql; }

    /// SOCI's INSERT ... RETURNING id, prepared once, its values bound to this object's variables; insert() copies an
    /// Entry into them and runs it. Destroyed before its transaction commits (SQLite: a RETURNING statement is still
    /// in progress until then).
    class Inserter {
    public:
        explicit Inserter(soci::session& sql)
            : st_((sql.prepare << "INSERT INTO entry (blog_id, headline, body_text, pub_date, rating, rating_note) "
                                  "VALUES (:b, :h, :t, :d, :r, :n) RETURNING id",
                   soci::use(blog_), soci::use(e_.headline), soci::use(e_.body_text), soci::use(date_),
                   soci::use(e_.rating), soci::use(e_.rating_note.emplace(), note_), soci::into(id_))) {}
        Inserter(const Inserter&) = delete;  // a copy's statement would stay bound to this one's members
        Inserter& operator=(const Inserter&) = delete;
        std::int64_t insert(const Entry& fresh) {
            blog_ = fresh.blog.id();
            e_.headline = fresh.headline;
            e_.body_text = fresh.body_text;
            date_ = dorm::detail::to_iso(fresh.pub_date);
            e_.rating = fresh.rating;
            note_ = fresh.rating_note ? soci::i_ok : soci::i_null;
            *e_.rating_note = fresh.rating_note.value_or("");
            st_.execute(true);
            return id_;
        }

    private:
        Entry e_;
        std::string date_;
        soci::indicator note_ = soci::i_ok;
        std::int64_t blog_ = 0, id_ = 0;
        soci::statement st_;  // last: it binds the members above
    };

    soci::session& session() { return sql_; }

    Tally insert_one_by_one(int n) {
        soci::transaction tr(sql_);
        Tally t;
        {
            Inserter ins(sql_);
            for (int i = 0; i < n; ++i) {
                const std::int64_t id = ins.insert(make_entry(i));
                t.rows++;
                t.sum += static_cast<std::uint64_t>(id > 0);
            }
        }
        tr.commit();
        return t;
    }

    /// Runs `sql` (with one bound integer when `arg` is set) and tallies every Entry row.
    Tally entries(const std::string& sql, std::optional<std::int64_t> arg, Tally t = {}) {
        auto& s = statement(sql, arg.has_value());
        if (arg) arg_ = *arg;
        s.execute();
        std::vector<Entry> out;
        while (s.fetch()) {
            Entry e;
            e.id = id_;
            e.blog = ForeignKey<Blog>(blog_);
            e.headline = headline_;
            e.body_text = body_;
            e.pub_date = date_of(date_);
            e.rating = rating_;
            if (note_ind_ == soci::i_ok) e.rating_note = note_;
            out.push_back(std::move(e));
        }
        for (const auto& e : out) t.add(e);
        return t;
    }

    Tally grouped(const std::string& sql) {
        std::int64_t blog = 0, n = 0;
        double avg = 0;
        soci::statement st = (sql_.prepare << sql, soci::into(blog), soci::into(n), soci::into(avg));
        st.execute();
        Tally t;
        while (st.fetch()) t.add(blog, n, avg);
        return t;
    }

private:
    /// One prepared statement per SQL text, as a SOCI user keeps them, reading into this object's variables.
    soci::statement& statement(const std::string& sql, bool with_arg) {
        for (auto& [text, st] : statements_)
            if (text == sql) return *st;
        auto st = std::make_unique<soci::statement>(sql_);
        st->exchange(soci::into(id_));
        st->exchange(soci::into(blog_));
        st->exchange(soci::into(headline_));
        st->exchange(soci::into(body_));
        st->exchange(soci::into(date_));
        st->exchange(soci::into(rating_));
        st->exchange(soci::into(note_, note_ind_));
        if (with_arg) st->exchange(soci::use(arg_));
        st->alloc();
        st->prepare(sql);
        st->define_and_bind();
        statements_.emplace_back(sql, std::move(st));
        return *statements_.back().second;
    }

    soci::session sql_;
    std::vector<std::pair<std::string, std::unique_ptr<soci::statement>>> statements_;
    std::int64_t id_ = 0, blog_ = 0, arg_ = 0;
    std::string headline_, body_, note_;
    std::tm date_{};
    int rating_ = 0;
    soci::indicator note_ind_ = soci::i_ok;
};
#endif

#if DORM_BENCH_PQXX
/// libpqxx: prepared statements, one transaction per call, text results converted with as<T>().
class Pqxx {
public:
    explicit Pqxx(const std::string& url) : conn_(url) {
        conn_.prepare("w1", "INSERT INTO entry (blog_id, headline, body_text, pub_date, rating, rating_note) "
                            "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id");
    }
    void prepare(const std::string& name, const std::string& sql) { conn_.prepare(name, sql); }

    pqxx::connection& connection() { return conn_; }

    /// One INSERT ... RETURNING id ("w1") in `tx`.
    static std::int64_t insert(pqxx::work& tx, const Entry& e) {
        auto r = tx.exec_prepared("w1", e.blog.id(), e.headline, e.body_text, dorm::detail::to_iso(e.pub_date),
                                  e.rating, e.rating_note);
        return r[0][0].as<std::int64_t>();
    }

    Tally insert_one_by_one(int n) {
        pqxx::work tx(conn_);
        Tally t;
        for (int i = 0; i < n; ++i) {
            const std::int64_t id = insert(tx, make_entry(i));
            t.rows++;
            t.sum += static_cast<std::uint64_t>(id > 0);
        }
        tx.commit();
        return t;
    }

    template <class... Args>
    Tally entries(const std::string& name, Args... args) {
        Tally t;
        read(t, name, args...);
        return t;
    }
    /// Runs prepared statement `name` and adds its Entry rows to `t`.
    template <class... Args>
    void read(Tally& t, const std::string& name, Args... args) {
        pqxx::nontransaction tx(conn_);  // autocommit, as the other sides read
        pqxx::result r = tx.exec_prepared(name, args...);
        std::vector<Entry> out;
        out.reserve(r.size());
        for (const auto& row : r) {
            Entry e;
            e.id = row[0].as<std::int64_t>();
            e.blog = ForeignKey<Blog>(row[1].as<std::int64_t>());
            e.headline = row[2].as<std::string>();
            e.body_text = row[3].as<std::string>();
            e.pub_date = *dorm::detail::parse_date(row[4].c_str());
            e.rating = row[5].as<int>();
            if (!row[6].is_null()) e.rating_note = row[6].as<std::string>();
            out.push_back(std::move(e));
        }
        for (const auto& e : out) t.add(e);
    }

    /// Many single-row queries, each in autocommit (W4).
    template <class Key>
    Tally gets(const std::string& name, const std::vector<Key>& keys) {
        Tally t;
        for (const auto& k : keys) read(t, name, k);
        return t;
    }

    Tally grouped(const std::string& name) {
        pqxx::nontransaction tx(conn_);
        auto r = tx.exec_prepared(name);
        Tally t;
        for (const auto& row : r) t.add(row[0].as<std::int64_t>(), row[1].as<std::int64_t>(), row[2].as<double>());
        return t;
    }

private:
    pqxx::connection conn_;
};
#endif

}  // namespace peers
}  // namespace
