// SPDX-License-Identifier: MIT
// Custom lookups and transforms, as Django's "Custom Lookups" how-to: NotEqual ("ne"), AbsoluteValue ("abs") with
// its index-friendly "lt", a bilateral UpperCase, per-backend templates; unknown names, wrong field kinds, clashes
// with built-ins, NULLs under exclude(), dumps()/loads(), registrations on one model field (Django 4.2's instance
// lookups), and registration while other threads resolve paths.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <type_traits>

using V = std::vector<std::string>;
using dorm::FieldKind;
using dorm::FieldKinds;

namespace {

// The how-to's classes, as values: one definition serves the registration and the model's declaration.
inline constexpr dorm::CustomLookup not_equal{.name = "ne", .on = FieldKinds::all(), .sql = "{lhs} <> {rhs}"};
inline constexpr dorm::CustomTransform absolute_value{.name = "abs", .on = FieldKinds::integers(), .sql = "ABS({lhs})"};
/// "Writing an efficient abs__lt lookup": the column compared with both bounds, which an index can serve.
inline constexpr dorm::CustomLookup absolute_value_less_than{
    .name = "lt", .sql = "{arg} < {rhs} AND {arg} > -{rhs}", .on_transform = "abs", .replace = true};
inline constexpr dorm::CustomTransform upper_case{
    .name = "upper", .on = FieldKinds::text(), .sql = "UPPER({lhs})", .bilateral = true};
/// A transform that changes the kind: the lookups after it are those of text.
inline constexpr dorm::CustomTransform as_text{.name = "as_text",
                                               .on = FieldKinds::integers(),
                                               .sqlite = "CAST({lhs} AS TEXT)",
                                               .postgresql = "({lhs})::text",
                                               .output = FieldKind::text};

/// The how-to's model: a start value, an end value and their change, which may be unknown.
struct Reading {
    std::int64_t id = 0;
    std::string name{};
    int start = 0;
    int finish = 0;
    std::optional<int> change{};
    DORM_MODEL(Reading, id, name, start, finish, change)
    static constexpr auto dorm_lookups() {
        return dorm::declare_lookups(not_equal, absolute_value, absolute_value_less_than, upper_case, as_text);
    }
};

/// Django 4.2's per-instance registration: a case-insensitive exact on one field.
inline constexpr dorm::CustomLookup same_text{
    .name = "exact", .sql = "LOWER({lhs}) = LOWER({rhs})", .replace = true};

/// Models for lookups registered on one field: `name` and `code` of a station have their own, a probe's `name`
/// (a field of the same name on another model) has none. Probe's literal paths reach Station's declarations
/// across the ForeignKey.
struct Station {
    std::int64_t id = 0;
    std::string name{};
    std::string code{};
    int level = 0;
    DORM_MODEL(Station, id, name, code, level)
    static constexpr auto dorm_lookups() {
        return dorm::declare_lookups(dorm::on_field("name", not_equal), dorm::on_field("name", upper_case));
    }
};

struct Probe {
    std::int64_t id = 0;
    dorm::ForeignKey<Station> station{};
    std::string name{};
    DORM_MODEL(Probe, id, station, name)
};

struct Stations : test::Database {
    Station north, south, west;
    Probe a, b, c;
    Stations() {
        dorm::drop_tables<Station, Probe>();
        dorm::create_tables<Station, Probe>();
        north = add("North", "AB", 1);
        south = add("South", "cd", 2);
        west = add("West", "Ef", 3);
        a = probe(north, "North");  // named after a station: the same value in a field of the same name
        b = probe(north, "b");
        c = probe(west, "c");
    }
    ~Stations() { dorm::drop_tables<Station, Probe>(); }
    static Station add(std::string name, std::string code, int level) {
        Station s;
        s.name = std::move(name);
        s.code = std::move(code);
        s.level = level;
        return Station::objects().create(s);
    }
    static Probe probe(const Station& at, std::string name) {
        Probe p;
        p.station = at;
        p.name = std::move(name);
        return Probe::objects().create(p);
    }
};

/// A model field, as Django's `Model._meta.get_field(name)`.
template <class M>
const dorm::FieldMeta& field(std::string_view name) {
    return dorm::model_meta<M>().get_field(name);
}

/// The placeholder of the n-th parameter on the backend under test.
std::string ph(int n) { return test::is_postgresql() ? "$" + std::to_string(n) : "?"; }

struct Readings : test::Database {
    Readings() {
        dorm::drop_tables<Reading>();
        dorm::create_tables<Reading>();
        add("Jack", 3);
        add("Doe", -5);
        add("Unknown", std::nullopt);
        add("jill", 27);
        add("Minus", -27);
    }
    ~Readings() { dorm::drop_tables<Reading>(); }
    static void add(std::string name, std::optional<int> change) {
        Reading e;
        e.name = std::move(name);
        e.change = change;
        Reading::objects().create(e);
    }
};

/// The names of a QuerySet's objects, ordered by name.
template <class QS>
V names_by_name(const QS& qs) {
    V out;
    for (const auto& e : qs.order_by("name")) out.push_back(e.name);
    return out;
}

/// The WHERE clause of an SQL statement (up to ORDER BY or LIMIT, if any).
std::string where_of(const std::string& sql) {
    auto at = sql.find(" WHERE ");
    if (at == std::string::npos) return std::string();
    auto end = std::min(sql.find(" ORDER BY ", at), sql.find(" LIMIT ", at));
    return sql.substr(at + 7, end == std::string::npos ? std::string::npos : end - at - 7);
}

/// The WHERE clause of a QuerySet's SQL.
template <class QS>
std::string where(const QS& qs) {
    return where_of(qs.sql_with_params().sql);
}

}  // namespace

TEST_CASE("NotEqual: a custom lookup on every field, in filter, exclude, get and Q", "[custom_lookups]") {
    Readings data;
    dorm::ScopedLookup ne(not_equal);
    auto qs = Reading::objects();
    CHECK(names_by_name(qs.filter("name__ne", "Jack")) == V{"Doe", "Minus", "Unknown", "jill"});
    CHECK(names_by_name(qs.filter("change__ne", 3)) == V{"Doe", "Minus", "jill"});  // NULL <> 3 is not true
    CHECK(names_by_name(qs.filter(dorm::Q("name__ne", "Jack") & dorm::Q("change__ne", 27))) == V{"Doe", "Minus"});
    CHECK(names_by_name(qs.filter(dorm::Q("name__ne", "Jack") | dorm::Q("change", 3))).size() == 5);
    CHECK(qs.filter("change__ne", 3).filter("change__gt", 0).get().name == "jill");
    CHECK(qs.get("name__ne", "Jack", "change__gt", 0).name == "jill");
    // exclude() adds IS NOT NULL for a NULL-able column, as for any lookup (Django): the NULL row comes back.
    CHECK(names_by_name(qs.exclude("change__ne", 3)) == V{"Jack", "Unknown"});
    CHECK(names_by_name(qs.exclude("name__ne", "Jack")) == V{"Jack"});
    // The value is bound, never written into the SQL.
    auto compiled = qs.filter("name__ne", "x'; DROP TABLE t; --").sql_with_params();
    CHECK(compiled.sql.find("DROP") == std::string::npos);
    REQUIRE(compiled.params.size() == 1);
    CHECK(compiled.params[0] == dorm::Value("x'; DROP TABLE t; --"));
    CHECK(where(qs.filter("name__ne", "x")).find("\"name\" <> ") != std::string::npos);
    // An F() on the right is compiled, not bound.
    CHECK(names_by_name(qs.filter("start__ne", dorm::F("finish"))).empty());
    CHECK(names_by_name(qs.filter("change__ne", dorm::F("start"))) == V{"Doe", "Jack", "Minus", "jill"});
    // None is not a value for it (Django: only lookups that take None, exact and iexact, accept it).
    CHECK_THROWS_AS(qs.filter("change__ne", std::nullopt), dorm::ValueError);
}

TEST_CASE("AbsoluteValue: a transform on integer fields, then built-in lookups", "[custom_lookups]") {
    Readings data;
    dorm::ScopedLookup abs(absolute_value);
    auto qs = Reading::objects();
    CHECK(names_by_name(qs.filter("change__abs", 27)) == V{"Minus", "jill"});  // a transform alone is followed by exact
    CHECK(names_by_name(qs.filter("change__abs__lt", 10)) == V{"Doe", "Jack"});
    CHECK(names_by_name(qs.filter("change__abs__gte", 5)) == V{"Doe", "Minus", "jill"});
    CHECK(names_by_name(qs.filter("change__abs__in", std::vector<int>{3, 5})) == V{"Doe", "Jack"});
    CHECK(names_by_name(qs.exclude("change__abs__lt", 10)) == V{"Minus", "Unknown", "jill"});
    CHECK(where(qs.filter("change__abs__lt", 10)).find("ABS(") != std::string::npos);
    // Where Django allows a transform outside a lookup: order_by(), values(), F().
    V ordered;
    for (const auto& e : qs.exclude("change", std::nullopt).order_by("-change__abs", "name")) ordered.push_back(e.name);
    CHECK(ordered == V{"Minus", "jill", "Doe", "Jack"});
    std::vector<std::int64_t> values;
    for (const auto& row : qs.filter("name", "Doe").values("change__abs")) values.push_back(row[0].as<std::int64_t>());
    CHECK(values == std::vector<std::int64_t>{5});
    auto annotated = qs.annotate("size", dorm::F("change__abs")).filter("size__gt", 20);
    CHECK(names_by_name(annotated) == V{"Minus", "jill"});
    // Only on the kinds it is registered on: text is not one, and the error is Django's.
    CHECK_THROWS_WITH(qs.filter(dorm::runtime("name__abs"), 3), Catch::Contains("Unsupported lookup 'abs'"));
    CHECK_THROWS_AS(qs.filter(dorm::runtime("name__abs__lt"), 3), dorm::FieldError);
    CHECK_THROWS_AS(qs.order_by(dorm::runtime("name__abs")), dorm::FieldError);
    // The value is checked against the transform's output kind, as a built-in lookup's.
    CHECK_THROWS_AS(qs.filter(dorm::runtime("change__abs__lt"), "ten"), dorm::TypeError);
}

TEST_CASE("AbsoluteValueLessThan: a lookup registered on the transform replaces its lt", "[custom_lookups]") {
    Readings data;
    dorm::ScopedLookup abs(absolute_value);
    auto qs = Reading::objects();
    {
        dorm::ScopedLookup lt(absolute_value_less_than);
        CHECK(names_by_name(qs.filter("change__abs__lt", 10)) == V{"Doe", "Jack"});
        CHECK(names_by_name(qs.filter("change__abs__lt", 27)) == V{"Doe", "Jack"});
        CHECK(names_by_name(qs.exclude("change__abs__lt", 10)) == V{"Minus", "Unknown", "jill"});
        auto w = where(qs.filter("change__abs__lt", 10));
        CHECK(w.find("ABS(") == std::string::npos);  // the column itself: an index on it serves the query
        CHECK(w.find("\"change\" < ") != std::string::npos);
        CHECK(qs.filter("change__abs__lt", 10).sql_with_params().params.size() == 2);  // bound twice
        // Other lookups after the transform are not affected, nor is lt on the column itself.
        CHECK(where(qs.filter("change__abs__lte", 10)).find("ABS(") != std::string::npos);
        CHECK(names_by_name(qs.filter("change__lt", 0)) == V{"Doe", "Minus"});
    }
    CHECK(where(qs.filter("change__abs__lt", 10)).find("ABS(") != std::string::npos);  // the built-in lt again
}

TEST_CASE("UpperCase: a bilateral transform applies to the right-hand side too", "[custom_lookups]") {
    Readings data;
    dorm::ScopedLookup upper(upper_case);
    auto qs = Reading::objects();
    CHECK(names_by_name(qs.filter("name__upper", "doe")) == V{"Doe"});
    CHECK(names_by_name(qs.filter("name__upper", "JILL")) == V{"jill"});
    CHECK(names_by_name(qs.filter("name__upper__startswith", "j")) == V{"Jack", "jill"});
    CHECK(names_by_name(qs.filter("name__upper__contains", "%")).empty());  // the value's wildcards stay literal
    CHECK(names_by_name(qs.exclude("name__upper", "jack")) == V{"Doe", "Minus", "Unknown", "jill"});
    auto compiled = qs.filter("name__upper", "doe").sql_with_params();
    auto w = compiled.sql.substr(compiled.sql.find(" WHERE "));
    CHECK(w.find("UPPER(\"") != std::string::npos);
    CHECK(w.find("= UPPER(") != std::string::npos);
    CHECK(compiled.params == std::vector<dorm::Value>{dorm::Value("doe")});
    // in: each value transformed; NULLs and duplicates dropped, an empty list matches nothing.
    using Names = std::vector<std::optional<std::string>>;
    CHECK(names_by_name(qs.filter("name__upper__in", Names{"jack", "JILL", "jack", std::nullopt})) == V{"Jack", "jill"});
    CHECK(where(qs.filter("name__upper__in", Names{"a", "b"})).find("IN (UPPER(") != std::string::npos);
    CHECK(names_by_name(qs.filter("name__upper__in", Names{std::nullopt})).empty());
    CHECK(names_by_name(qs.exclude("name__upper__in", Names{"doe", "minus", "unknown"})) == V{"Jack", "jill"});
    CHECK_THROWS_AS(qs.filter(dorm::runtime("name__upper__range"), std::vector<std::string>{"a", "b"}),
                    dorm::NotSupportedError);
    CHECK_THROWS_AS(qs.filter(dorm::runtime("change__upper"), 1), dorm::FieldError);  // text only
}

TEST_CASE("A transform's output kind decides the lookups after it; per-backend templates", "[custom_lookups]") {
    Readings data;
    dorm::ScopedLookup text(as_text);
    dorm::ScopedLookup abs(absolute_value);
    auto qs = Reading::objects();
    CHECK(names_by_name(qs.filter("change__as_text__startswith", "-")) == V{"Doe", "Minus"});
    CHECK(names_by_name(qs.filter("change__as_text", "27")) == V{"jill"});
    CHECK(names_by_name(qs.filter("change__abs__as_text__endswith", "7")) == V{"Minus", "jill"});  // chained
    CHECK_THROWS_AS(qs.filter(dorm::runtime("change__as_text__abs"), 3), dorm::FieldError);  // text has no abs
    CHECK_THROWS_AS(qs.filter(dorm::runtime("change__as_text"), 27), dorm::TypeError);     // nor integer values
    auto w = where(qs.filter("change__as_text", "1"));
    CHECK(w.find(test::is_postgresql() ? "::text" : "CAST(") != std::string::npos);
}

TEST_CASE("Run-time paths: unknown names, unregistered lookups, other models", "[custom_lookups]") {
    test::BlogData data;
    auto entries = Entry::objects();
    // Not registered: a FieldError, as for any unknown lookup (Entry declares none: only run-time paths).
    CHECK_THROWS_WITH(entries.filter(std::string("rating__ne"), 3), Catch::Contains("Unsupported lookup 'ne'"));
    {
        dorm::ScopedLookup ne(not_equal);
        dorm::ScopedLookup abs(absolute_value);
        CHECK(entries.filter(std::string("rating__ne"), 3).count() == 4);
        CHECK(entries.filter(dorm::runtime("blog__name__ne"), "Cooking").count() == 3);  // across a ForeignKey
        CHECK(entries.filter(dorm::runtime("blog__ne"), data.cooking.id).count() == 3);  // the key itself
        CHECK(Blog::objects().filter(dorm::runtime("entry__rating__ne"), 5).distinct().count() == 3);
        CHECK(entries.filter(dorm::runtime("pub_date__year__abs"), 2005).count() == 2);  // after a built-in transform
        CHECK_THROWS_AS(entries.filter(dorm::runtime("rating__nee"), 3), dorm::FieldError);
        CHECK_THROWS_AS(entries.filter(dorm::runtime("rating__ne__abs"), 3), dorm::FieldError);  // a lookup ends a path
        CHECK_THROWS_AS(entries.values(std::string("rating__ne")), dorm::FieldError);  // a lookup is no column
        CHECK_THROWS_WITH(entries.filter(dorm::runtime("rating__nope"), 3), Catch::Contains("abs") && Catch::Contains("ne"));
    }
    CHECK_THROWS_AS(entries.filter(std::string("rating__ne"), 3), dorm::FieldError);  // gone with its scope
}

TEST_CASE("Registration: names, templates, clashes with built-ins, replacing, unregistering", "[custom_lookups]") {
    using dorm::CustomLookup;
    using dorm::CustomTransform;
    auto all = FieldKinds::all();
    // Names are path parts: no "__", no stray underscores, no punctuation.
    CHECK_THROWS_AS(dorm::register_lookup(CustomLookup{.name = "not__eq", .on = all, .sql = "{lhs} <> {rhs}"}), dorm::ValueError);
    CHECK_THROWS_AS(dorm::register_lookup(CustomLookup{.name = "ne_", .on = all, .sql = "{lhs} <> {rhs}"}), dorm::ValueError);
    CHECK_THROWS_AS(dorm::register_lookup(CustomLookup{.name = "n-e", .on = all, .sql = "{lhs} <> {rhs}"}), dorm::ValueError);
    CHECK_THROWS_AS(dorm::register_lookup(CustomLookup{.name = "", .on = all, .sql = "{lhs} <> {rhs}"}), dorm::ValueError);
    // Templates: known placeholders only, {lhs} used, one for each backend.
    CHECK_THROWS_WITH(dorm::register_lookup(CustomLookup{.name = "ne", .on = all, .sql = "{lhs} <> {value}"}),
                      Catch::Contains("{value}"));
    CHECK_THROWS_AS(dorm::register_lookup(CustomLookup{.name = "ne", .on = all, .sql = "1 <> {rhs}"}), dorm::ValueError);
    CHECK_THROWS_AS(dorm::register_lookup(CustomLookup{.name = "ne", .on = all, .sql = "{lhs} <> {rhs"}), dorm::ValueError);
    CHECK_THROWS_AS(dorm::register_transform(CustomTransform{.name = "neg", .on = all, .sql = "-{rhs}"}), dorm::ValueError);
    CHECK_THROWS_AS(dorm::register_lookup(CustomLookup{.name = "ne", .on = all, .sqlite = "{lhs} <> {rhs}"}), dorm::ValueError);
    CHECK_THROWS_AS(dorm::register_lookup(CustomLookup{.name = "ne", .sql = "{lhs} <> {rhs}"}), dorm::ValueError);  // no kinds
    // On a transform that is not registered.
    CHECK_THROWS_AS(dorm::register_lookup(absolute_value_less_than), dorm::ValueError);
    // A built-in name on kinds where the built-in applies: an error unless `replace` says so.
    CHECK_THROWS_WITH(dorm::register_lookup(CustomLookup{.name = "lt", .on = FieldKinds::integers(), .sql = "{lhs} < {rhs}"}),
                      Catch::Contains("replace"));
    CHECK_THROWS_AS(dorm::register_transform(CustomTransform{.name = "year", .on = FieldKinds::dates(), .sql = "{lhs}"}),
                    dorm::ValueError);
    // ... but "year" on integers clashes with nothing, and a second "ne" on the same kinds clashes with the first.
    dorm::ScopedLookup ne(not_equal);
    CHECK_THROWS_AS(dorm::register_lookup(not_equal), dorm::ValueError);
    {
        dorm::ScopedLookup year(CustomTransform{.name = "year", .on = FieldKinds::integers(), .sql = "({lhs} + 1)"});
        test::Database db;
        CHECK_NOTHROW(Entry::objects().filter(std::string("rating__year"), 3).count());
        CHECK_NOTHROW(Entry::objects().filter("pub_date__year", 2005).count());  // the built-in, on dates
    }
    {
        Readings data;
        // Replacing: Django's register_lookup() replaces a class's lookup of the same name; here it must be asked for.
        dorm::ScopedLookup exact(CustomLookup{.name = "exact", .on = FieldKinds::text(), .sql = "LOWER({lhs}) = LOWER({rhs})",
                                              .replace = true});
        CHECK(names_by_name(Reading::objects().filter("name", "JACK")) == V{"Jack"});
        CHECK(names_by_name(Reading::objects().filter("change", 3)) == V{"Jack"});  // integers keep the built-in
        // exact=None is isnull=True whatever class exact is (Django's build_lookup()).
        CHECK(where(Reading::objects().filter("name", std::nullopt)).find("IS NULL") != std::string::npos);
        dorm::ScopedLookup ne2(CustomLookup{.name = "ne", .on = all, .sql = "NOT ({lhs} = {rhs})", .replace = true});
        CHECK(where(Reading::objects().filter("change__ne", 3)).find("NOT (") != std::string::npos);
    }
    CHECK(where(Reading::objects().filter("change__ne", 3)).find("<>") != std::string::npos);  // the first again
    // unregister_lookup(): everything of that name goes; an unknown name is an error.
    dorm::register_lookup(CustomLookup{.name = "differs", .on = all, .sql = "{lhs} <> {rhs}"});
    CHECK_NOTHROW(Reading::objects().filter(dorm::runtime("change__differs"), 3));
    dorm::unregister_lookup("differs");
    CHECK_THROWS_AS(Reading::objects().filter(dorm::runtime("change__differs"), 3), dorm::FieldError);
    CHECK_THROWS_AS(dorm::unregister_lookup("differs"), dorm::ValueError);
}

TEST_CASE("FieldKinds::all() is every kind: durations too", "[custom_lookups]") {
    test::Database db;
    dorm::ScopedLookup ne(not_equal);
    auto sql = Experiment::objects().filter(dorm::runtime("estimated_time__ne"), dorm::Duration(5)).sql();
    CHECK(sql.find("\"estimated_time\" <> ") != std::string::npos);
    // A built-in lookup of durations is a clash too.
    CHECK_THROWS_AS(dorm::register_lookup(dorm::CustomLookup{.name = "gt", .on = FieldKind::duration, .sql = "{lhs} > {rhs}"}),
                    dorm::ValueError);
}

TEST_CASE("A resolved QuerySet keeps its lookups; dumps() and loads() resolve them again", "[custom_lookups]") {
    Readings data;
    std::string text;
    std::optional<dorm::QuerySet<Reading>> kept;
    {
        dorm::ScopedLookup ne(not_equal);
        dorm::ScopedLookup abs(absolute_value);
        auto qs = Reading::objects().filter("name__ne", "Jack").filter("change__abs__gt", 4).order_by("change__abs");
        text = qs.dumps();
        CHECK(text.find("name__ne") != std::string::npos);
        auto loaded = dorm::QuerySet<Reading>::loads(text);
        V got;
        for (const auto& e : loaded) got.push_back(e.name);
        CHECK(got == V{"Doe", "jill", "Minus"});
        kept = qs;
    }
    // Unregistered: the QuerySet built before still runs, and loading the text again is the FieldError of filter().
    V got;
    for (const auto& e : *kept) got.push_back(e.name);
    CHECK(got == V{"Doe", "jill", "Minus"});
    CHECK_THROWS_AS(dorm::QuerySet<Reading>::loads(text), dorm::FieldError);
}

TEST_CASE("A lookup registered on one field: that field only, across relations too", "[custom_lookups]") {
    Stations data;
    auto stations = Station::objects();
    auto probes = Probe::objects();
    CHECK_THROWS_AS(stations.filter(dorm::runtime("name__ne"), "North"), dorm::FieldError);  // not registered yet
    dorm::ScopedLookup ne(field<Station>("name"), not_equal);
    CHECK(names_by_name(stations.filter("name__ne", "North")) == V{"South", "West"});
    CHECK(where(stations.filter("name__ne", "North")) == "\"station\".\"name\" <> " + ph(1));
    // Across the ForeignKey it is still the station's field (Django's column keeps its field).
    CHECK(names_by_name(probes.filter("station__name__ne", "North")) == V{"c"});
    CHECK(names_by_name(probes.exclude("station__name__ne", "North")) == V{"North", "b"});
    // Not a field of the same name on another model, nor another field of the model. (Run-time paths: as literals
    // these do not compile, see tests/compile_fail.)
    CHECK_THROWS_WITH(probes.filter(dorm::runtime("name__ne"), "North"), Catch::Contains("Unsupported lookup 'ne'"));
    CHECK_THROWS_WITH(stations.filter(dorm::runtime("code__ne"), "AB"), Catch::Contains("Unsupported lookup 'ne'"));
    CHECK_THROWS_AS(Reading::objects().filter(dorm::runtime("name__ne"), "x"), dorm::FieldError);
    CHECK_THROWS_AS(stations.filter(dorm::runtime("probe__name__ne"), "b"), dorm::FieldError);  // the probe's name
    // Errors list the field's own names with the others, and only there.
    CHECK_THROWS_WITH(stations.filter(dorm::runtime("name__nope"), "x"), Catch::Contains("lte, ne, range"));
    CHECK_THROWS_WITH(probes.filter(dorm::runtime("name__nope"), "x"), Catch::Contains("lte, range"));
}

TEST_CASE("A field's own lookup comes before its kind's and the built-in one, as Django's instance lookups", "[custom_lookups]") {
    Stations data;
    auto stations = Station::objects();
    const std::string name = "\"station\".\"name\"";
    dorm::ScopedLookup kind_ne(not_equal);  // on every field
    {
        dorm::ScopedLookup own(field<Station>("name"),
                               dorm::CustomLookup{.name = "ne", .sql = "NOT ({lhs} = {rhs})", .replace = true});
        CHECK(where(stations.filter("name__ne", "North")) == "NOT (" + name + " = " + ph(1) + ")");
        CHECK(where(stations.filter(dorm::runtime("code__ne"), "AB")) == "\"station\".\"code\" <> " + ph(1));
        // Whatever the order: registered on the kind later, it still does not replace the field's own.
        dorm::ScopedLookup later(
            dorm::CustomLookup{.name = "ne", .on = FieldKinds::text(), .sql = "{lhs} != {rhs}", .replace = true});
        CHECK(where(stations.filter("name__ne", "North")) == "NOT (" + name + " = " + ph(1) + ")");
        CHECK(names_by_name(stations.filter("name__ne", "North")) == V{"South", "West"});
    }
    CHECK(where(stations.filter("name__ne", "North")) == name + " <> " + ph(1));  // the kind's again

    // An `exact` of its own: the implied lookup too, and get(), whose kept statement is not reused.
    CHECK(Station::objects().get("code", "AB").name == "North");  // compiled, and kept
    CHECK(Station::objects().get("code", "AB").name == "North");  // the kept statement
    {
        dorm::ScopedLookup exact(field<Station>("code"), same_text);
        CHECK(Station::objects().get("code", "ab").name == "North");
        CHECK(names_by_name(stations.filter("code", "CD")) == V{"South"});
        CHECK(names_by_name(stations.filter("code__exact", "ef")) == V{"West"});
        CHECK(where(stations.filter("code", "x")) == "LOWER(\"station\".\"code\") = LOWER(" + ph(1) + ")");
        CHECK(names_by_name(stations.filter("name", "north")).empty());  // another field keeps the built-in
        CHECK(names_by_name(Probe::objects().filter("station__code", "ab")) == V{"North", "b"});
        CHECK(names_by_name(stations.filter("code__in", std::vector<std::string>{"ab"})).empty());  // `in` is not `exact`
    }
    CHECK_THROWS_AS(Station::objects().get("code", "ab"), Station::DoesNotExist);
}

TEST_CASE("Registering on one field: clashes, kinds, unregistering", "[custom_lookups]") {
    test::Database db;
    // Built-in names that apply to the field, and the field's own names, need `replace`; any name of another field
    // or kind does not.
    CHECK_THROWS_WITH(dorm::register_lookup<Station>("name", dorm::CustomLookup{.name = "contains", .sql = "{lhs} = {rhs}"}),
                      Catch::Contains("replace"));
    CHECK_THROWS_AS(dorm::register_transform<Station>("name", dorm::CustomTransform{.name = "nope__x", .sql = "{lhs}"}),
                    dorm::ValueError);  // names are checked as for the kinds
    CHECK_THROWS_AS(dorm::register_lookup<Station>("nope", not_equal), dorm::FieldDoesNotExist);  // no such field
    CHECK_THROWS_WITH(dorm::register_lookup<Station>("level", dorm::CustomLookup{.name = "odd", .on = FieldKinds::text(),
                                                                                  .sql = "{lhs} % 2 = 1"}),
                      Catch::Contains("not for fields of this kind"));
    CHECK_THROWS_AS(dorm::register_lookup<Station>("level", absolute_value_less_than), dorm::ValueError);  // on a transform
    dorm::register_lookup<Station>("name", not_equal);
    CHECK_THROWS_AS(dorm::register_lookup<Station>("name", not_equal), dorm::ValueError);  // twice on the field
    CHECK_NOTHROW(dorm::register_lookup<Station>("code", not_equal));                     // another field
    {
        dorm::ScopedLookup kind(not_equal);  // the fields' own do not clash with the kind's ...
        CHECK_THROWS_AS(dorm::register_lookup<Station>("level", not_equal), dorm::ValueError);  // ... the reverse does
        CHECK(where(Station::objects().filter("name__ne", "x")) == "\"station\".\"name\" <> " + ph(1));
    }
    // unregister_lookup(name) removes the kinds' registrations only, as Django's class and instance lookups are
    // separate; the field's own go one field at a time.
    dorm::register_lookup(not_equal);
    dorm::unregister_lookup("ne");
    CHECK_THROWS_AS(dorm::unregister_lookup("ne"), dorm::ValueError);
    CHECK_NOTHROW(Station::objects().filter("name__ne", "x"));
    CHECK_THROWS_AS(Station::objects().filter(dorm::runtime("level__ne"), 1), dorm::FieldError);
    dorm::unregister_lookup<Station>("name", "ne");
    CHECK_THROWS_AS(Station::objects().filter(dorm::runtime("name__ne"), "x"), dorm::FieldError);
    CHECK_NOTHROW(Station::objects().filter(dorm::runtime("code__ne"), "x"));
    CHECK_THROWS_AS(dorm::unregister_lookup<Station>("name", "ne"), dorm::ValueError);
    dorm::unregister_lookup(field<Station>("code"), "ne");
    CHECK_THROWS_AS(Station::objects().filter(dorm::runtime("code__ne"), "x"), dorm::FieldError);
}

TEST_CASE("A transform registered on one field, and what may follow it", "[custom_lookups]") {
    Stations data;
    auto stations = Station::objects();
    dorm::ScopedLookup upper(field<Station>("name"), upper_case);
    CHECK(names_by_name(stations.filter("name__upper", "north")) == V{"North"});  // bilateral
    CHECK(names_by_name(stations.filter("name__upper__startswith", "w")) == V{"West"});
    CHECK(names_by_name(Probe::objects().filter("station__name__upper", "west")) == V{"c"});
    std::vector<std::string> upper_names;
    for (const auto& row : stations.order_by("name").values("name__upper")) upper_names.push_back(row[0].as<std::string>());
    CHECK(upper_names == std::vector<std::string>{"NORTH", "SOUTH", "WEST"});
    CHECK_THROWS_AS(stations.filter(dorm::runtime("code__upper"), "ab"), dorm::FieldError);
    CHECK_THROWS_AS(Probe::objects().filter(dorm::runtime("name__upper"), "b"), dorm::FieldError);
    // After a transform without an output kind the value still stands for the field, whose own lookups follow
    // (Django: such a transform's output_field is its argument's field) ...
    dorm::ScopedLookup ne(field<Station>("name"), not_equal);
    CHECK(names_by_name(stations.filter("name__upper__ne", "north")) == V{"South", "West"});
    // ... and not after one that makes another value (Django: a new output field).
    dorm::ScopedLookup text(field<Station>("level"), as_text);
    dorm::ScopedLookup level_ne(field<Station>("level"), not_equal);
    CHECK(names_by_name(stations.filter(dorm::runtime("level__ne"), 1)) == V{"South", "West"});
    CHECK(names_by_name(stations.filter(dorm::runtime("level__as_text__endswith"), "3")) == V{"West"});
    CHECK_THROWS_AS(stations.filter(dorm::runtime("level__as_text__ne"), "1"), dorm::FieldError);
    // A field's own lookup is no transform, and no column (Django's get_transform() does not return a lookup).
    CHECK_THROWS_AS(stations.filter(dorm::runtime("name__ne__exact"), "x"), dorm::FieldError);
    CHECK_THROWS_AS(stations.values(std::string("name__ne")), dorm::FieldError);
}

TEST_CASE("A ForeignKey's own lookups, its target key's, a reverse relation's, an annotation's", "[custom_lookups]") {
    Stations data;
    auto probes = Probe::objects();
    auto stations = Station::objects();
    {
        dorm::ScopedLookup fk(field<Probe>("station"), not_equal);  // the ForeignKey itself
        CHECK(names_by_name(probes.filter(dorm::runtime("station__ne"), data.north.id)) == V{"c"});
        CHECK(names_by_name(probes.filter(dorm::runtime("station_id__ne"), data.north.id)) == V{"c"});
        CHECK_THROWS_AS(probes.filter(dorm::runtime("station__id__ne"), data.north.id), dorm::FieldError);
        // A reverse relation alone: Django looks on its ForeignKey (ForeignObjectRel.get_lookup()), in filter() and
        // in exclude()'s subquery alike.
        CHECK(names_by_name(stations.filter(dorm::runtime("probe__ne"), data.a.id).distinct()) == V{"North", "West"});
        CHECK(names_by_name(stations.exclude(dorm::runtime("probe__ne"), data.a.id)) == V{"South"});
        CHECK_THROWS_AS(stations.filter(dorm::runtime("probe__id__ne"), data.a.id), dorm::FieldError);
    }
    {
        // "station__id" and "station__pk" end at the target's key (Django's final field), not at the ForeignKey.
        dorm::ScopedLookup key(field<Station>("id"), not_equal);
        CHECK(names_by_name(probes.filter(dorm::runtime("station__id__ne"), data.north.id)) == V{"c"});
        CHECK(names_by_name(probes.filter(dorm::runtime("station__pk__ne"), data.north.id)) == V{"c"});
        CHECK_THROWS_AS(probes.filter(dorm::runtime("station__ne"), data.north.id), dorm::FieldError);
        CHECK(names_by_name(stations.filter("pk__ne", data.north.id)) == V{"South", "West"});
        CHECK_THROWS_AS(stations.filter(dorm::runtime("probe__ne"), data.a.id), dorm::FieldError);  // Probe.id's
    }
    {
        // An annotation that is a column stands for its field (Django: F("name") keeps it as the output field).
        dorm::ScopedLookup ne(field<Station>("name"), not_equal);
        CHECK(names_by_name(stations.annotate("label", dorm::F("name")).filter(dorm::runtime("label__ne"), "North")) ==
              V{"South", "West"});
        CHECK_THROWS_AS(stations.annotate("label", dorm::F("code")).filter(dorm::runtime("label__ne"), "AB"),
                        dorm::FieldError);
    }
}

// A registration's lookup entry views its own name: a copy would view the original's, so there is none.
static_assert(!std::is_copy_constructible_v<dorm::lookups::CustomDef> &&
              !std::is_move_constructible_v<dorm::lookups::CustomDef> &&
              !std::is_copy_assignable_v<dorm::lookups::CustomDef>);

TEST_CASE("Registering while other threads resolve lookup paths", "[custom_lookups]") {
    test::Database db;
    dorm::ScopedLookup abs(absolute_value);
    auto reading = [] { return Reading::objects().filter(dorm::runtime("change__abs__lt"), 3); };
    auto named = [] { return Reading::objects().filter(dorm::runtime("name__ne"), "x"); };
    // The shapes a path may take, each exactly: the built-in lt after ABS or the lookup registered on ABS, and
    // the lookup registered on the field `name`.
    const std::string change = "\"reading\".\"change\"";
    const std::string builtin_sql = reading().sql_with_params().sql;
    std::string on_abs_sql, own_sql;
    {
        dorm::ScopedLookup lt(absolute_value_less_than);
        dorm::ScopedLookup ne(field<Reading>("name"), not_equal);
        on_abs_sql = reading().sql_with_params().sql;
        own_sql = named().sql_with_params().sql;
    }
    REQUIRE(where_of(builtin_sql) == "ABS(" + change + ") < " + ph(1));
    REQUIRE(where_of(on_abs_sql) == change + " < " + ph(1) + " AND " + change + " > -" + ph(2));
    REQUIRE(where_of(own_sql) == "\"reading\".\"name\" <> " + ph(1));
    REQUIRE(builtin_sql.substr(0, builtin_sql.find(" WHERE ")) == on_abs_sql.substr(0, on_abs_sql.find(" WHERE ")));
    const std::vector<dorm::Value> three{dorm::Value(3)}, three_twice{dorm::Value(3), dorm::Value(3)};

    std::atomic<bool> stop{false};
    std::atomic<int> failures{0}, builtin_seen{0}, on_abs_seen{0}, rounds{0};
    auto reader = [&] {
        while (!stop.load()) {
            ++rounds;
            auto c = reading().sql_with_params();
            if (c.sql == builtin_sql && c.params == three) ++builtin_seen;
            else if (c.sql == on_abs_sql && c.params == three_twice) ++on_abs_seen;
            else ++failures;
            try {
                if (named().sql_with_params().sql != own_sql) ++failures;
            } catch (const dorm::FieldError&) {  // before or after a registration: either is consistent
            }
        }
    };
    std::thread a(reader), b(reader);
    // At least 200 registrations, and on until the readers have resolved paths meanwhile (a loaded machine may not
    // schedule them before 200 are over); a minute at most.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    for (int i = 0; (i < 200 || rounds.load() < 100) && std::chrono::steady_clock::now() < deadline; ++i) {
        dorm::ScopedLookup ne(field<Reading>("name"), not_equal);
        dorm::ScopedLookup lt(absolute_value_less_than);
    }
    stop = true;
    a.join();
    b.join();
    CHECK(failures == 0);
    CHECK(builtin_seen + on_abs_seen > 0);
}
