// SPDX-License-Identifier: MIT
// libFuzzer target: arbitrary bytes as a run-time lookup path (filter / exclude / order_by / values / ...) on the
// test models, compiled for SQLite and PostgreSQL and checked by sql_invariants.hpp.
//
// Input: byte 0 picks the model, byte 1 the kind of value compared with the path, the rest is the path. The
// first two bytes are letters in the seeds ("es" + "headline__icontains": Entry, a string) so that the corpus
// stays readable; any other byte picks by its value.
#include "sql_invariants.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using dorm::F;
using dorm::Q;
using dorm_fuzz::Dialect;

/// Every name a resolved path may turn into an SQL identifier: tables, columns, fields, relation names; plus the
/// aliases the compiler or this target makes up.
const std::set<std::string, std::less<>>& metadata_names() {
    static const std::set<std::string, std::less<>> names = [] {
        std::set<std::string, std::less<>> out;
        std::vector<const dorm::ModelMeta*> todo{
            &dorm::model_meta<Blog>(),     &dorm::model_meta<Author>(),   &dorm::model_meta<Entry>(),
            &dorm::model_meta<Comment>(),  &dorm::model_meta<Sample>(),   &dorm::model_meta<Country>(),
            &dorm::model_meta<Artist>(),   &dorm::model_meta<Album>(),    &dorm::model_meta<Song>(),
            &dorm::model_meta<Reaction>(), &dorm::model_meta<Category>(), &dorm::model_meta<Profile>(),
            &dorm::model_meta<Link>(),     &dorm::model_meta<Pairing>(),  &dorm::model_meta<Person>(),
            &dorm::model_meta<Group>(),    &dorm::model_meta<Membership>()};
        std::set<const dorm::ModelMeta*> seen;
        while (!todo.empty()) {
            const auto* m = todo.back();
            todo.pop_back();
            if (!m || !seen.insert(m).second) continue;
            out.insert(m->db_table);
            for (const auto& f : m->fields) {
                out.insert(f.name);
                out.insert(f.column);
                if (f.is_relation()) todo.push_back(&f.related());
            }
            for (const auto& r : m->related_objects) {
                out.insert(r.query_name);
                todo.push_back(r.model);
            }
            for (const auto& r : m->many_to_many) {
                out.insert(r.query_name);
                todo.push_back(r.model);
                todo.push_back(r.through);
            }
        }
        // Names the compiler writes: "pk", dates()'s columns, aggregate labels of default aliases, this target's
        // annotation names.
        for (const char* n : {"pk", "datefield", "datetimefield", "a", "subquery", "count", "sum", "avg", "min", "max",
                              "fz", "fz_n", "fz_f", "fz_c"})
            out.insert(n);
        for (const auto& t : dorm::lookups::transforms) out.insert(std::string(t.name));
        for (const auto& l : dorm::lookups::lookup_names) out.insert(std::string(l.name));
        return out;
    }();
    return names;
}

bool numbered(std::string_view id, std::string_view prefix) {
    if (!id.starts_with(prefix) || id.size() == prefix.size()) return false;
    return id.substr(prefix.size()).find_first_not_of("0123456789") == std::string_view::npos;
}

/// An identifier is a metadata name, a join alias (T2, U0, __col1), the derived table and columns of a query
/// filtered on a window ("qualify", __c1, __qual0), or names of those joined by "__" (the alias
/// values("blog__name") and Count("entry") -> "entry__count" give a column).
bool identifier_ok(std::string_view id) {
    if (numbered(id, "T") || numbered(id, "U") || numbered(id, "__col") || numbered(id, "__c") ||
        numbered(id, "__qual") || id == "qualify")
        return true;
    const auto& names = metadata_names();
    for (std::size_t pos = 0;;) {
        auto at = id.find("__", pos);
        auto part = id.substr(pos, at == std::string_view::npos ? std::string_view::npos : at - pos);
        if (part.empty() || names.find(part) == names.end()) return false;
        if (at == std::string_view::npos) return true;
        pos = at + 2;
    }
}

/// The value a path is compared with, by byte 1: letters for the seeds, else the byte's value.
dorm::Value value_of(unsigned char kind) {
    switch (kind) {
        case 'i': return std::int64_t{3};
        case 's': return std::string("it's -- /* x */ ;");
        case 'n': return dorm::Value(std::nullopt);
        case 'b': return true;
        case 'd': return dorm::Date(2005, 3, 20);
        case 't': return dorm::DateTime(2005, 3, 20, 10, 30, 0);
        case 'm': return dorm::Time(10, 30);
        case 'x': return 2.5;
        case 'y': return dorm::Bytes{std::byte{0}, std::byte{'\''}};
        default: break;
    }
    static const char kinds[] = "isnbdtmxy";
    return value_of(static_cast<unsigned char>(kinds[kind % (sizeof kinds - 1)]));
}

/// Compiles `qs` on both dialects under `what`.
template <class QS>
void both(const QS& qs, std::string_view what) {
    dorm_fuzz::compile_and_check(qs, Dialect::sqlite, what, identifier_ok);
    dorm_fuzz::compile_and_check(qs, Dialect::postgresql, what, identifier_ok);
}

/// Every QuerySet method that takes a path, one at a time, each on its own (a refusal of one does not hide
/// the others).
template <class M>
void fuzz_path(const std::string& path, unsigned char kind) {
    const auto base = M::objects();
    const dorm::Value v = value_of(kind);
    // A list for `in` and a pair for `range`, when the kind letter asks for one.
    const std::vector<dorm::Value> list{v, v, dorm::Value(std::nullopt)};
    const std::vector<dorm::Value> pair{v, v};
    using dorm_fuzz::guarded;

    guarded("filter", [&] { both(base.filter(path, v), "filter"); });
    guarded("filter list", [&] { both(base.filter(path, list), "filter list"); });
    guarded("filter pair", [&] { both(base.filter(path, pair), "filter pair"); });
    guarded("exclude", [&] { both(base.exclude(path, v), "exclude"); });
    guarded("Q tree", [&] { both(base.filter(Q(path, v) | ~Q(path, v) | Q("pk", 1)), "Q tree"); });
    guarded("exclude Q xor", [&] { both(base.exclude(Q(path, v) ^ Q("pk", 2)), "exclude Q xor"); });
    guarded("filter F", [&] { both(base.filter("pk", F(path) + 1), "filter F"); });
    guarded("filter F rhs", [&] { both(base.filter(path, F("pk")), "filter F rhs"); });
    guarded("order_by", [&] { both(base.order_by(path), "order_by"); });
    guarded("order_by names", [&] { both(base.order_by(std::vector<std::string>{path, "-" + path}), "order_by names"); });
    guarded("order_by F", [&] { both(base.order_by(F(path).desc({.nulls_last = true})), "order_by F"); });
    guarded("values", [&] { both(base.values(path), "values"); });
    guarded("values expr", [&] { both(base.values("fz", F(path)), "values expr"); });
    guarded("values_list", [&] { both(base.values_list(path, "pk", dorm::named), "values_list"); });
    guarded("values annotate", [&] { both(base.values(path).annotate("fz_n", dorm::Count("pk")), "values annotate"); });
    guarded("annotate Count", [&] { both(base.annotate("fz_n", dorm::Count(path)), "annotate Count"); });
    guarded("annotate default alias", [&] { both(base.annotate(dorm::Count(path, {.distinct = true})), "annotate default alias"); });
    guarded("annotate F", [&] { both(base.annotate("fz_f", F(path)).filter("fz_f", v), "annotate F"); });
    guarded("Count filter", [&] {
        both(base.annotate("fz_c", dorm::Count("pk", {.filter = Q(path, v)})).filter("fz_c__gt", 0), "Count filter");
    });
    guarded("select_related", [&] { both(base.select_related(path), "select_related"); });
    guarded("distinct on", [&] { both(base.distinct(path).order_by(path), "distinct on"); });
    guarded("defer", [&] { both(base.defer(path), "defer"); });
    guarded("only", [&] { both(base.only(path), "only"); });
    guarded("dates", [&] { both(base.dates(path, "month", "DESC"), "dates"); });
    guarded("datetimes", [&] { both(base.datetimes(path, "hour", "ASC", "Europe/Paris"), "datetimes"); });
    guarded("in subquery", [&] { both(base.filter("pk__in", M::objects().values(path)), "in subquery"); });
    guarded("Exists OuterRef", [&] {
        both(base.filter(dorm::Exists(M::objects().filter("pk", dorm::OuterRef(path)))), "Exists OuterRef");
    });
    guarded("Subquery", [&] {
        both(base.annotate("fz", dorm::Subquery(M::objects().filter(path, dorm::OuterRef("pk")).values("pk").slice(0, 1))),
             "Subquery");
    });
    guarded("union order_by", [&] { both(base.union_(base.filter(path, v)).order_by(path), "union order_by"); });
}

using Fuzzer = void (*)(const std::string&, unsigned char);

/// The model, by byte 0: letters for the seeds, else the byte's value.
Fuzzer model_of(unsigned char c) {
    switch (c) {
        case 'e': return fuzz_path<Entry>;
        case 'b': return fuzz_path<Blog>;
        case 'a': return fuzz_path<Author>;
        case 'c': return fuzz_path<Comment>;
        case 's': return fuzz_path<Sample>;
        case 'n': return fuzz_path<Country>;
        case 'p': return fuzz_path<Person>;
        case 'g': return fuzz_path<Group>;
        case 'r': return fuzz_path<Reaction>;
        case 'k': return fuzz_path<Category>;
        case 'l': return fuzz_path<Link>;
        case 'q': return fuzz_path<Pairing>;
        case 'f': return fuzz_path<Profile>;
        case 'o': return fuzz_path<Song>;
        default: break;
    }
    static const char models[] = "ebacsnpgrklqfo";
    return model_of(static_cast<unsigned char>(models[c % (sizeof models - 1)]));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    dorm_fuzz::setup_databases();
    if (size < 2) return 0;
    std::string path(reinterpret_cast<const char*>(data) + 2, size - 2);
    model_of(data[0])(path, data[1]);
    return 0;
}
