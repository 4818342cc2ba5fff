// SPDX-License-Identifier: MIT
// PostgreSQL's aggregates (django.contrib.postgres.aggregates): ArrayAgg, BitAnd, BitOr, BitXor, BoolAnd, BoolOr,
// JSONBAgg and the statistics; their SQL, Django's option checks, results, and NotSupportedError on SQLite.
#include "support/fixture.hpp"
#include "support/render.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

using namespace dorm;

// Data (blog: rating, number_of_comments): Beatles: Lennon 5 10, Reunion 3 0; Cooking: Pancakes 4 3, Soup 1 0;
// News: Election 2 7. As (y = rating, x = number_of_comments): N 5, avg x 4, avg y 3, Sxx 78, Syy 10, Sxy 16.

namespace {

struct Named {
    const char* django;
    Expression e;
    const char* sql;  // on PostgreSQL
};

std::vector<Named> every_aggregate() {
    return {
        {"ArrayAgg", ArrayAgg("rating"), "ARRAY_AGG(\"entry\".\"rating\")"},
        {"BitAnd", BitAnd("rating"), "BIT_AND(\"entry\".\"rating\")"},
        {"BitOr", BitOr("rating"), "BIT_OR(\"entry\".\"rating\")"},
        {"BitXor", BitXor("rating"), "BIT_XOR(\"entry\".\"rating\")"},
        {"BoolAnd", BoolAnd("rating"), "BOOL_AND(\"entry\".\"rating\")"},
        {"BoolOr", BoolOr("rating"), "BOOL_OR(\"entry\".\"rating\")"},
        {"JSONBAgg", JSONBAgg("rating"), "JSONB_AGG(\"entry\".\"rating\")"},
        {"Corr", Corr("rating", "number_of_comments"), "CORR(\"entry\".\"rating\", \"entry\".\"number_of_comments\")"},
        {"CovarPop", CovarPop("rating", "number_of_comments"),
         "COVAR_POP(\"entry\".\"rating\", \"entry\".\"number_of_comments\")"},
        {"CovarPop", CovarPop("rating", "number_of_comments", {.sample = true}),
         "COVAR_SAMP(\"entry\".\"rating\", \"entry\".\"number_of_comments\")"},
        {"RegrAvgX", RegrAvgX("rating", "number_of_comments"), "REGR_AVGX(\"entry\".\"rating\", \"entry\".\"number_of_comments\")"},
        {"RegrAvgY", RegrAvgY("rating", "number_of_comments"), "REGR_AVGY(\"entry\".\"rating\", \"entry\".\"number_of_comments\")"},
        {"RegrCount", RegrCount("rating", "number_of_comments"),
         "REGR_COUNT(\"entry\".\"rating\", \"entry\".\"number_of_comments\")"},
        {"RegrIntercept", RegrIntercept("rating", "number_of_comments"),
         "REGR_INTERCEPT(\"entry\".\"rating\", \"entry\".\"number_of_comments\")"},
        {"RegrR2", RegrR2("rating", "number_of_comments"), "REGR_R2(\"entry\".\"rating\", \"entry\".\"number_of_comments\")"},
        {"RegrSlope", RegrSlope("rating", "number_of_comments"),
         "REGR_SLOPE(\"entry\".\"rating\", \"entry\".\"number_of_comments\")"},
        {"RegrSXX", RegrSXX("rating", "number_of_comments"), "REGR_SXX(\"entry\".\"rating\", \"entry\".\"number_of_comments\")"},
        {"RegrSXY", RegrSXY("rating", "number_of_comments"), "REGR_SXY(\"entry\".\"rating\", \"entry\".\"number_of_comments\")"},
        {"RegrSYY", RegrSYY("rating", "number_of_comments"), "REGR_SYY(\"entry\".\"rating\", \"entry\".\"number_of_comments\")"},
    };
}

/// Three samples: (flag, medium, maybe_int) = (true, 1, 10), (true, 2, NULL), (false, 3, 30).
void add_samples() {
    auto add = [](bool flag, int medium, std::optional<int> maybe) {
        Sample s;
        s.flag = flag;
        s.medium = medium;
        s.maybe_int = maybe;
        Sample::objects().create(s);
    };
    add(true, 1, 10);
    add(true, 2, std::nullopt);
    add(false, 3, 30);
}

}  // namespace

TEST_CASE("PostgreSQL's aggregates: their SQL there, NotSupportedError on SQLite when compiled", "[pg_aggregates]") {
    test::RenderDatabases dbs;
    for (const auto& a : every_aggregate()) {
        INFO(a.django);
        CHECK(test::render<Entry>(a.e, "render_pg") == a.sql);
        // Building the expression and the QuerySet is fine; compiling it for SQLite is not.
        auto qs = Entry::objects().using_("render_sqlite").values("v", a.e);
        CHECK_THROWS_MATCHES(qs.sql(), NotSupportedError,
                             Catch::Message(fmt::format("dorm: {} is not supported on sqlite: it is one of PostgreSQL's "
                                                        "aggregates (django.contrib.postgres.aggregates)", a.django)));
    }
    // The options Django allows them, as PostgreSQL spells them (sql() shows the bound values inline).
    CHECK(test::render<Entry>(ArrayAgg("headline", {.distinct = true, .order_by = {"-headline"}}), "render_pg") ==
          "ARRAY_AGG(DISTINCT \"entry\".\"headline\" ORDER BY \"entry\".\"headline\" DESC)");
    CHECK(test::render<Entry>(JSONBAgg("rating", {.default_ = Value("[]"), .order_by = {F("rating").desc()}}), "render_pg") ==
          "COALESCE(JSONB_AGG(\"entry\".\"rating\" ORDER BY \"entry\".\"rating\" DESC), ('[]')::jsonb)");
    CHECK(test::render<Entry>(Window(JSONBAgg("rating", {.default_ = Value("[]")}), {.partition_by = {"blog"}}), "render_pg") ==
          "COALESCE(JSONB_AGG(\"entry\".\"rating\") OVER (PARTITION BY \"entry\".\"blog_id\"), ('[]')::jsonb)");
    // ArrayAgg's default is cast to an array of its argument's type (Django's ArrayField placeholder).
    CHECK(test::render<Entry>(ArrayAgg("rating", {.default_ = Value("{}")}), "render_pg") ==
          "COALESCE(ARRAY_AGG(\"entry\".\"rating\"), ('{}')::integer[])");
    CHECK(test::render<Entry>(BitOr("rating", {.filter = Q("rating__gt", 2), .default_ = 0}), "render_pg") ==
          "COALESCE(BIT_OR(\"entry\".\"rating\") FILTER (WHERE \"entry\".\"rating\" > 2), 0)");
    CHECK(test::render<Entry>(Corr("rating", F("number_of_comments") * 2, {.default_ = 0.5}), "render_pg") ==
          "COALESCE(CORR(\"entry\".\"rating\", (\"entry\".\"number_of_comments\" * 2)), 0.5)");
}

TEST_CASE("PostgreSQL's aggregates take the options Django allows them (TypeError otherwise)", "[pg_aggregates]") {
    CHECK_THROWS_WITH(BitAnd("rating", {.distinct = true}), "dorm: BitAnd does not allow distinct.");
    CHECK_THROWS_WITH(BoolOr("rating", {.order_by = {"rating"}}), "dorm: BoolOr does not allow order_by.");
    CHECK_THROWS_WITH(Corr("rating", "id", {.distinct = true}), "dorm: Corr does not allow distinct.");
    CHECK_THROWS_WITH(RegrSlope("rating", "id", {.order_by = {"id"}}), "dorm: RegrSlope does not allow order_by.");
    CHECK_THROWS_WITH(RegrR2("rating", "id", {.sample = true}), "dorm: RegrR2 has no sample option.");
    CHECK_THROWS_WITH(BitXor("rating", {.sample = true}), "dorm: BitXor has no sample option.");
    // Django's empty_result_set_value: REGR_COUNT over no rows is 0 already, as COUNT is.
    CHECK_THROWS_WITH(RegrCount("rating", "id", {.default_ = 1}), "dorm: RegrCount does not allow default.");
    CHECK_THROWS_WITH(Count("rating", {.default_ = 1}), "dorm: Count does not allow default.");
    CHECK_NOTHROW(ArrayAgg("rating", {.distinct = true, .order_by = {"-rating"}}));
    CHECK_NOTHROW(JSONBAgg("rating", {.distinct = true, .order_by = {"-rating"}}));
    CHECK_NOTHROW(CovarPop("rating", "id", {.filter = Q("id__gt", 1), .default_ = 0, .sample = true}));
    // Two expressions are needed; the default alias is Django's too: none for an aggregate of two.
    CHECK_THROWS_WITH(detail::aggregate("Corr", {"rating"}, {}), "dorm: Corr takes 2 argument(s) (1 given)");
    CHECK_THROWS_WITH(Entry::objects().aggregate(Corr("rating", "id")), Catch::Contains("Complex aggregates require an alias"));
}

TEST_CASE("the bit and boolean aggregates: results, groups, NULL over no rows, default", "[pg_aggregates]") {
    test::BlogData data;
    add_samples();
    if (!test::is_postgresql()) {
        CHECK_THROWS_AS(Entry::objects().aggregate(BitAnd("rating")), NotSupportedError);
        CHECK_THROWS_AS(Sample::objects().aggregate(BoolOr("flag")), NotSupportedError);
        auto annotated = Blog::objects().annotate("bits", BitOr("entry__rating"));
        CHECK_THROWS_AS(annotated.sql(), NotSupportedError);
        CHECK_THROWS_AS(annotated.count(), NotSupportedError);
        return;
    }
    // 5 & 3 & 4 & 1 & 2, 5 | 3 | 4 | 1 | 2, 5 ^ 3 ^ 4 ^ 1 ^ 2; integers, as the column.
    auto r = Entry::objects().aggregate(BitAnd("rating"), BitOr("rating"), BitXor("rating"));
    CHECK(r["rating__bitand"] == Value(0));
    CHECK(r["rating__bitor"] == Value(7));
    CHECK(r["rating__bitxor"] == Value(1));
    // annotate(): one value per group (Beatles 5 3, Cooking 4 1, News 2).
    std::vector<std::tuple<std::string, int, int, int>> per_blog;
    for (const auto& b : Blog::objects().annotate("a", BitAnd("entry__rating"), "o", BitOr("entry__rating"), "x",
                                                  BitXor("entry__rating")).order_by("name"))
        per_blog.emplace_back(b.name, b.annotations().get<int>("a"), b.annotations().get<int>("o"), b.annotations().get<int>("x"));
    CHECK(per_blog == std::vector<std::tuple<std::string, int, int, int>>{
                          {"Beatles Blog", 1, 7, 6}, {"Cooking", 0, 5, 5}, {"News", 2, 2, 2}});
    // filter= chooses the rows; over none: NULL, or the default.
    auto f = Entry::objects().aggregate("hi", BitOr("rating", {.filter = Q("rating__gte", 4)}), "none",
                                        BitAnd("rating", {.filter = Q("rating__gt", 10)}), "zero",
                                        BitXor("rating", {.filter = Q("rating__gt", 10), .default_ = 0}));
    CHECK(f.get<int>("hi") == 5);
    CHECK(f["none"].is_null());
    CHECK(f["zero"] == Value(0));

    // Over a window, as any aggregate (Django's window_compatible); a default wraps the window.
    std::vector<int> windowed;
    for (const auto& e : Entry::objects().annotate("o", Window(BitOr("rating", {.default_ = 0}), {.partition_by = {"blog"}})).order_by("id"))
        windowed.push_back(e.annotations().get<int>("o"));
    CHECK(windowed == std::vector<int>{7, 7, 5, 5, 2});

    auto b = Sample::objects().aggregate(BoolAnd("flag"), BoolOr("flag"), "first_two",
                                         BoolAnd("flag", {.filter = Q("medium__lt", 3)}));
    CHECK(b["flag__booland"] == Value(false));
    CHECK(b["flag__boolor"] == Value(true));
    CHECK(b.get<bool>("first_two"));
    auto empty = Sample::objects().none().aggregate(BoolAnd("flag"), "d", BoolOr("flag", {.default_ = false}));
    CHECK(empty["flag__booland"].is_null());
    CHECK(empty["d"] == Value(false));
    auto grouped = Sample::objects().values("flag").annotate("all", BoolAnd("flag")).order_by("flag");
    std::vector<Value> alls;
    for (const auto& row : grouped) alls.push_back(row["all"]);
    CHECK(alls == std::vector<Value>{Value(false), Value(true)});
}

TEST_CASE("the statistics aggregates: results, NULL pairs, no rows, default, groups", "[pg_aggregates]") {
    test::BlogData data;
    add_samples();
    if (!test::is_postgresql()) {
        CHECK_THROWS_AS(Entry::objects().aggregate("c", Corr("rating", "number_of_comments")), NotSupportedError);
        CHECK_THROWS_AS(Entry::objects().aggregate("n", RegrCount("rating", "number_of_comments")), NotSupportedError);
        return;
    }
    auto r = Entry::objects().aggregate(
        "corr", Corr("rating", "number_of_comments"), "pop", CovarPop("rating", "number_of_comments"), "samp",
        CovarPop("rating", "number_of_comments", {.sample = true}), "avgx", RegrAvgX("rating", "number_of_comments"),
        "avgy", RegrAvgY("rating", "number_of_comments"), "n", RegrCount("rating", "number_of_comments"), "icpt",
        RegrIntercept("rating", "number_of_comments"), "r2", RegrR2("rating", "number_of_comments"), "slope",
        RegrSlope("rating", "number_of_comments"), "sxx", RegrSXX("rating", "number_of_comments"), "sxy",
        RegrSXY("rating", "number_of_comments"), "syy", RegrSYY("rating", "number_of_comments"));
    CHECK(r["corr"].holds<double>());
    CHECK(r.get<double>("corr") == Approx(16.0 / std::sqrt(78.0 * 10.0)));
    CHECK(r.get<double>("pop") == Approx(3.2));
    CHECK(r.get<double>("samp") == Approx(4.0));
    CHECK(r.get<double>("avgx") == Approx(4.0));
    CHECK(r.get<double>("avgy") == Approx(3.0));
    CHECK(r["n"].holds<std::int64_t>());
    CHECK(r.get<int>("n") == 5);
    CHECK(r.get<double>("icpt") == Approx(3.0 - 16.0 / 78.0 * 4.0));
    CHECK(r.get<double>("r2") == Approx(16.0 * 16.0 / (78.0 * 10.0)));
    CHECK(r.get<double>("slope") == Approx(16.0 / 78.0));
    CHECK(r.get<double>("sxx") == Approx(78.0));
    CHECK(r.get<double>("sxy") == Approx(16.0));
    CHECK(r.get<double>("syy") == Approx(10.0));
    // A pair with a NULL on either side is left out: (1, 10) and (3, 30) remain.
    auto nulls = Sample::objects().aggregate("n", RegrCount("medium", "maybe_int"), "y", RegrAvgY("medium", "maybe_int"),
                                             "slope", RegrSlope("medium", "maybe_int"));
    CHECK(nulls.get<int>("n") == 2);
    CHECK(nulls.get<double>("y") == Approx(2.0));
    CHECK(nulls.get<double>("slope") == Approx(0.1));
    // Over no rows: NULL, 0 for RegrCount, or the default.
    auto empty = Entry::objects().filter("rating__gt", 100).aggregate(
        "corr", Corr("rating", "number_of_comments"), "n", RegrCount("rating", "number_of_comments"), "d",
        RegrSXX("rating", "number_of_comments", {.default_ = 0}), "f",
        CovarPop("rating", "number_of_comments", {.filter = Q("rating__gt", 100), .default_ = -1.5, .sample = true}));
    CHECK(empty["corr"].is_null());
    CHECK(empty["n"] == Value(0));
    CHECK(empty.get<double>("d") == 0.0);
    CHECK(empty.get<double>("f") == -1.5);
    // Grouped: per blog, REGR_COUNT of its entries; CORR of one pair is NULL (no variance).
    std::vector<std::tuple<std::int64_t, std::int64_t, bool>> per_blog;
    for (const auto& row : Entry::objects().values("blog").annotate("n", RegrCount("rating", "number_of_comments"), "c",
                                                                    Corr("rating", "number_of_comments")).order_by("blog"))
        per_blog.emplace_back(row["blog"].as<std::int64_t>(), row["n"].as<std::int64_t>(), row["c"].is_null());
    CHECK(per_blog == std::vector<std::tuple<std::int64_t, std::int64_t, bool>>{
                          {data.beatles.id, 2, false}, {data.cooking.id, 2, false}, {data.news.id, 1, true}});
}

TEST_CASE("JSONBAgg reads as JSON text", "[pg_aggregates]") {
    test::BlogData data;
    if (!test::is_postgresql()) {
        CHECK_THROWS_AS(Entry::objects().aggregate("j", JSONBAgg("rating")), NotSupportedError);
        return;
    }
    auto r = Entry::objects().aggregate("all", JSONBAgg("rating", {.order_by = {"rating"}}), "desc",
                                        JSONBAgg("headline", {.filter = Q("blog", data.beatles), .order_by = {"-headline"}}),
                                        "distinct", JSONBAgg("blog", {.distinct = true}));
    CHECK(r.get<std::string>("all") == "[1, 2, 3, 4, 5]");
    CHECK(r.get<std::string>("desc") == "[\"Lennon returns\", \"Beatles reunion\"]");
    CHECK(r.get<std::string>("distinct") ==
          fmt::format("[{}, {}, {}]", data.beatles.id, data.cooking.id, data.news.id));  // DISTINCT sorts them
    auto empty = Entry::objects().none().aggregate("j", JSONBAgg("rating"), "d", JSONBAgg("rating", {.default_ = Value("[]")}));
    CHECK(empty["j"].is_null());
    CHECK(empty.get<std::string>("d") == "[]");
    std::vector<std::string> per_blog;
    for (const auto& b : Blog::objects().annotate("notes", JSONBAgg("entry__rating_note", {.order_by = {"entry__id"}})).order_by("name"))
        per_blog.push_back(b.annotations().get<std::string>("notes"));
    CHECK(per_blog == std::vector<std::string>{"[null, \"solid\"]", "[null, \"thin\"]", "[null]"});
}

TEST_CASE("ArrayAgg reads as an Array (std::vector<T>): aggregate(), annotate(), values(), values_list()",
          "[pg_aggregates]") {
    test::BlogData data;
    if (!test::is_postgresql()) {
        CHECK_THROWS_AS(Entry::objects().aggregate("a", ArrayAgg("rating")), NotSupportedError);
        CHECK_THROWS_AS(Blog::objects().annotate("a", ArrayAgg("entry__rating")).values_list<std::vector<int>>("a", flat).size(),
                        NotSupportedError);
        return;
    }
    auto r = Entry::objects().aggregate("all", ArrayAgg("rating", {.order_by = {"rating"}}), "heads",
                                        ArrayAgg("headline", {.filter = Q("blog", data.beatles), .order_by = {"-headline"}}),
                                        "blogs", ArrayAgg("blog", {.distinct = true}));
    CHECK(r["all"] == Value(Array{1, 2, 3, 4, 5}));
    CHECK(fmt::format("{}", r["all"]) == "[1, 2, 3, 4, 5]");
    CHECK(r.get<std::vector<int>>("all") == std::vector<int>{1, 2, 3, 4, 5});
    CHECK(r.get<std::vector<std::string>>("heads") == std::vector<std::string>{"Lennon returns", "Beatles reunion"});
    CHECK(r.get<std::vector<std::int64_t>>("blogs") ==
          std::vector<std::int64_t>{data.beatles.id, data.cooking.id, data.news.id});  // DISTINCT sorts them

    // annotate(): per instance, NULL elements as NULL Values.
    std::vector<std::vector<std::optional<std::string>>> notes;
    for (const auto& b : Blog::objects().annotate("notes", ArrayAgg("entry__rating_note", {.order_by = {"entry__id"}})).order_by("name"))
        notes.push_back(b.annotations().get<std::vector<std::optional<std::string>>>("notes"));
    using N = std::vector<std::optional<std::string>>;
    CHECK(notes == std::vector<N>{N{std::nullopt, "solid"}, N{std::nullopt, "thin"}, N{std::nullopt}});
    auto beatles = Blog::objects().annotate("notes", ArrayAgg("entry__rating_note", {.order_by = {"entry__id"}})).get("name", "Beatles Blog");
    CHECK_THROWS_WITH(beatles.annotations().get<std::vector<std::string>>("notes"),
                      Catch::Contains("element 0 of the array is NULL, not string"));

    // values() and values_list(): rows, tuples and flat values.
    auto ratings = Blog::objects().annotate("ratings", ArrayAgg("entry__rating", {.order_by = {"entry__rating"}})).order_by("name");
    std::vector<Value> rows;
    for (const auto& row : ratings.values("name", "ratings")) rows.push_back(row["ratings"]);
    CHECK(rows == std::vector<Value>{Array{3, 5}, Array{1, 4}, Array{2}});
    std::vector<std::tuple<std::string, std::vector<int>>> tuples;
    for (const auto& t : ratings.values_list<std::string, std::vector<int>>("name", "ratings")) tuples.push_back(t);
    CHECK(tuples == std::vector<std::tuple<std::string, std::vector<int>>>{
                        {"Beatles Blog", {3, 5}}, {"Cooking", {1, 4}}, {"News", {2}}});
    std::vector<std::vector<double>> flat_values;
    for (const auto& v : ratings.values_list<std::vector<double>>("ratings", flat)) flat_values.push_back(v);
    CHECK(flat_values == std::vector<std::vector<double>>{{3.0, 5.0}, {1.0, 4.0}, {2.0}});
    // A values() GROUP BY with the array computed per group.
    std::vector<Value> per_blog;
    for (const auto& row : Entry::objects().values("blog").annotate("h", ArrayAgg("headline", {.order_by = {"headline"}})).order_by("blog"))
        per_blog.push_back(row["h"]);
    CHECK(per_blog == std::vector<Value>{Array{"Beatles reunion", "Lennon returns"}, Array{"Pancakes", "Soup"}, Array{"Election"}});

    // A blog without entries: its LEFT JOIN row aggregates as one NULL element (as in Django); an array read as a
    // string is a DataError.
    Blog::objects().create({{"name", "Empty"}, {"tagline", ""}});
    CHECK(Blog::objects().annotate("r", ArrayAgg("entry__rating")).get("name", "Empty").annotations()["r"] ==
          Value(Array{std::nullopt}));
    CHECK_THROWS_AS((Blog::objects().annotate("r", ArrayAgg("entry__rating")).filter("name", "Empty")
                         .values_list<std::string>("r", flat).size()),
                    DataError);
}

TEST_CASE("ArrayAgg over no rows: NULL (Django 5), or its default_ cast to the array's type", "[pg_aggregates]") {
    test::RenderDatabases dbs;
    // Django's ArrayField placeholder: the default is cast to an array of the argument's type.
    CHECK(test::render<Entry>(ArrayAgg("rating", {.default_ = Array{}}), "render_pg") ==
          "COALESCE(ARRAY_AGG(\"entry\".\"rating\"), ('{}')::integer[])");
    CHECK(test::render<Entry>(ArrayAgg("headline", {.default_ = Array{"x"}}), "render_pg") ==
          "COALESCE(ARRAY_AGG(\"entry\".\"headline\"), ('{\"x\"}')::text[])");
    CHECK(test::render<Entry>(Window(ArrayAgg("pub_date", {.default_ = Array{}}), {.partition_by = {"blog"}}), "render_pg") ==
          "COALESCE(ARRAY_AGG(\"entry\".\"pub_date\") OVER (PARTITION BY \"entry\".\"blog_id\"), ('{}')::date[])");
    CHECK(test::render<Entry>(ArrayAgg(F("rating") * 2, {.default_ = Array{0}}), "render_pg") ==
          "COALESCE(ARRAY_AGG((\"entry\".\"rating\" * 2)), ('{\"0\"}')::bigint[])");
    test::BlogData data;
    if (!test::is_postgresql()) {
        CHECK_THROWS_AS(Entry::objects().filter("rating__gt", 10).aggregate("d", ArrayAgg("rating", {.default_ = Array{}})),
                        NotSupportedError);
        return;
    }
    auto none = Entry::objects().filter("rating__gt", 10);
    auto r = none.aggregate("n", ArrayAgg("rating"), "empty", ArrayAgg("rating", {.default_ = Array{}}), "zero",
                            ArrayAgg("rating", {.default_ = Array{0}}), "text",
                            ArrayAgg("headline", {.default_ = Array{"none", std::nullopt}}));
    CHECK(r["n"].is_null());
    CHECK(r["empty"] == Value(Array{}));
    CHECK(r.get<std::vector<int>>("empty").empty());
    CHECK(r["zero"] == Value(Array{0}));
    CHECK(r["text"] == Value(Array{"none", std::nullopt}));
    // none() runs no query: the default as given.
    CHECK(Entry::objects().none().aggregate("d", ArrayAgg("rating", {.default_ = Array{7}}))["d"] == Value(Array{7}));
    // Per group: a filter that keeps no row gives the default.
    std::vector<Value> per_blog;
    for (const auto& b : Blog::objects().annotate("big", ArrayAgg("entry__rating", {.filter = Q("entry__rating__gt", 4), .default_ = Array{}})).order_by("name"))
        per_blog.push_back(b.annotations()["big"]);
    CHECK(per_blog == std::vector<Value>{Array{5}, Array{}, Array{}});
}

TEST_CASE("ArrayAgg of every value type, NULL elements, and defaults of every type", "[pg_aggregates]") {
    test::Database db;
    if (!test::is_postgresql()) return;
    Sample s1;
    s1.flag = true;
    s1.small = -7;
    s1.medium = 70000;
    s1.big = std::numeric_limits<std::int64_t>::min();
    s1.real = 1.5;
    s1.text = "a \"quoted\" \\ {brace}, comma";
    s1.data = Bytes{std::byte{0}, std::byte{0xff}};
    s1.day = Date(1999, 12, 31);
    s1.moment = DateTime(2024, 2, 29, 23, 59, 58, 123456);
    s1.clock = Time(7, 8, 9, 10);
    s1.maybe_int = 3;
    Sample::objects().create(s1);
    Sample s2;
    s2.text = "";
    s2.day = Date(1, 1, 1);
    s2.moment = DateTime(9999, 12, 31, 23, 59, 59, 999999);
    Sample::objects().create(s2);
    auto o = AggregateOptions{.order_by = {"id"}};
    auto r = Sample::objects().aggregate("flag", ArrayAgg("flag", o), "small", ArrayAgg("small", o), "medium",
                                         ArrayAgg("medium", o), "big", ArrayAgg("big", o), "real", ArrayAgg("real", o),
                                         "text", ArrayAgg("text", o), "data", ArrayAgg("data", o), "day",
                                         ArrayAgg("day", o), "moment", ArrayAgg("moment", o), "clock",
                                         ArrayAgg("clock", o), "maybe", ArrayAgg("maybe_int", o));
    CHECK(r["flag"] == Value(Array{true, false}));
    CHECK(r["small"] == Value(Array{-7, 0}));
    CHECK(r["medium"] == Value(Array{70000, 0}));
    CHECK(r["big"] == Value(Array{std::numeric_limits<std::int64_t>::min(), 0}));
    CHECK(r["real"] == Value(Array{1.5, 0.0}));
    CHECK(r["text"] == Value(Array{s1.text, ""}));
    CHECK(r["data"] == Value(Array{s1.data, Bytes{}}));
    CHECK(r["day"] == Value(Array{s1.day, s2.day}));
    CHECK(r["moment"] == Value(Array{s1.moment, s2.moment}));
    CHECK(r["clock"] == Value(Array{s1.clock, Time()}));
    CHECK(r["maybe"] == Value(Array{3, std::nullopt}));
    CHECK(r.get<std::vector<std::optional<int>>>("maybe") == std::vector<std::optional<int>>{3, std::nullopt});
    CHECK(r.get<std::vector<bool>>("flag") == std::vector<bool>{true, false});
    CHECK(r.get<std::vector<Date>>("day") == std::vector<Date>{s1.day, s2.day});

    // Durations (interval[]).
    drop_tables<Experiment>();
    create_tables<Experiment>();
    Experiment e;
    e.name = "e";
    e.estimated_time = std::chrono::hours(-25) + std::chrono::microseconds(1);
    Experiment::objects().create(e);
    e.estimated_time = Duration::zero();
    e.slack = std::chrono::minutes(30);
    Experiment::objects().create(e);
    auto d = Experiment::objects().aggregate("t", ArrayAgg("estimated_time", o), "s", ArrayAgg("slack", o));
    CHECK(d["t"] == Value(Array{std::chrono::hours(-25) + std::chrono::microseconds(1), Duration::zero()}));
    CHECK(d.get<std::vector<std::optional<Duration>>>("s") ==
          std::vector<std::optional<Duration>>{std::nullopt, std::chrono::minutes(30)});

    // Defaults of each type go out in the array text form and come back the same.
    auto empty = Sample::objects().filter("id__lt", 0);
    Array texts{"a \"b\" \\ {c}, d", std::nullopt, "NULL", ""};
    auto defaults = empty.aggregate(
        "flag", ArrayAgg("flag", {.default_ = Array{true, false, std::nullopt}}), "real",
        ArrayAgg("real", {.default_ = Array{0.1, -2.5e300}}), "text", ArrayAgg("text", {.default_ = texts}), "data",
        ArrayAgg("data", {.default_ = Array{Bytes{std::byte{0}, std::byte{'"'}, std::byte{'\\'}}}}), "day",
        ArrayAgg("day", {.default_ = Array{Date(1, 1, 1)}}), "moment",
        ArrayAgg("moment", {.default_ = Array{DateTime(2024, 2, 29, 23, 59, 58, 123456)}}), "clock",
        ArrayAgg("clock", {.default_ = Array{Time(7, 8, 9, 10)}}), "big",
        ArrayAgg("big", {.default_ = Array{std::numeric_limits<std::int64_t>::max()}}));
    CHECK(defaults["flag"] == Value(Array{true, false, std::nullopt}));
    CHECK(defaults["real"] == Value(Array{0.1, -2.5e300}));
    CHECK(defaults["text"] == Value(texts));
    CHECK(defaults["data"] == Value(Array{Bytes{std::byte{0}, std::byte{'"'}, std::byte{'\\'}}}));
    CHECK(defaults["day"] == Value(Array{Date(1, 1, 1)}));
    CHECK(defaults["moment"] == Value(Array{DateTime(2024, 2, 29, 23, 59, 58, 123456)}));
    CHECK(defaults["clock"] == Value(Array{Time(7, 8, 9, 10)}));
    CHECK(defaults["big"] == Value(Array{std::numeric_limits<std::int64_t>::max()}));
    auto durations = Experiment::objects().filter("id__lt", 0).aggregate(
        "t", ArrayAgg("estimated_time", {.default_ = Array{std::chrono::hours(-25) + std::chrono::microseconds(1)}}));
    CHECK(durations["t"] == Value(Array{std::chrono::hours(-25) + std::chrono::microseconds(1)}));
    // An array of arrays has no text form here.
    CHECK_THROWS_WITH(empty.aggregate("x", ArrayAgg("medium", {.default_ = Array{Value(Array{1})}})),
                      Catch::Contains("an array of arrays cannot be written"));
}

TEST_CASE("arrays of other types read through RawSQL; more than one dimension is refused", "[pg_aggregates]") {
    test::BlogData data;
    if (!test::is_postgresql()) return;
    auto one = [](const char* sql) { return Entry::objects().filter("headline", "Soup").values("a", RawSQL(sql)).get()["a"]; };
    CHECK(one("ARRAY[1.5, 2, NULL]::numeric[]") == Value(Array{1.5, 2, std::nullopt}));
    CHECK(one("ARRAY[1.5]::real[]") == Value(Array{1.5}));
    CHECK(one("ARRAY['a', 'b']::varchar[]") == Value(Array{"a", "b"}));
    CHECK(one("ARRAY['{\"k\": 1}']::jsonb[]") == Value(Array{"{\"k\": 1}"}));
    CHECK(one("ARRAY[]::integer[]") == Value(Array{}));
    CHECK(one("'[5:6]={7,8}'::integer[]") == Value(Array{7, 8}));  // lower bounds other than 1: the elements in order
    CHECK_THROWS_WITH(one("ARRAY[[1, 2], [3, 4]]"),
                      Catch::Contains("reads one-dimensional arrays (ArrayAgg's results) only; this one has 2 dimensions"));
    CHECK_THROWS_AS(one("ARRAY['infinity']::date[]"), DataError);
}

TEST_CASE("PostgreSQL's aggregates round-trip through dumps() / loads()", "[pg_aggregates]") {
    test::RenderDatabases dbs;
    // Compiled for PostgreSQL (without a server), whichever backend runs the tests.
    auto qs = Entry::objects().using_("render_pg").values("blog").annotate(
        "c", Corr("rating", F("number_of_comments") + 1, {.filter = Q("rating__gt", 1), .default_ = 0.5}), "s",
        CovarPop("rating", "number_of_comments", {.sample = true}), "n", RegrCount("rating", "id"), "b",
        BoolOr("rating", {.filter = ~Q("headline", "x")}), "j",
        JSONBAgg("headline", {.distinct = true, .default_ = Value("[]"), .order_by = {"-headline"}}), "a",
        ArrayAgg("rating", {.order_by = {F("pub_date").desc(), "id"}}), "x", BitXor("rating", {.default_ = 0}), "d",
        ArrayAgg("headline", {.default_ = Array{"a \"b\"", std::nullopt, Array{1}}}));
    std::string text = qs.dumps();
    INFO(text);
    CHECK_THAT(text, Catch::Contains("(aggregate \"Corr\" (F \"rating\") (op \"+\" (F \"number_of_comments\") (value 1)) (filter"));
    CHECK_THAT(text, Catch::Contains("(aggregate \"CovarPop\" (F \"rating\") (F \"number_of_comments\") sample)"));
    CHECK_THAT(text, Catch::Contains("(default (value (array \"a \\\"b\\\"\" null (array 1))))"));
    auto back = QuerySet<Row>::loads<Entry>(text);
    auto a = qs.sql_with_params(), b = back.sql_with_params();
    CHECK(b.sql == a.sql);
    CHECK(b.params == a.params);
    CHECK_THAT(b.sql, Catch::Contains("COVAR_SAMP(") && Catch::Contains("ARRAY_AGG(\"entry\".\"rating\" ORDER BY"));
    CHECK(back.dumps() == text);
    // loads() checks them as the constructors do: two arguments for the statistics, Django's options only.
    auto load = [](const std::string& annotation) {
        return [annotation] {
            (void)QuerySet<Entry>::loads("dorm-query/1 (query \"Entry\" \"entry\" (annotate (as \"x\" " + annotation + ")))");
        };
    };
    CHECK_THROWS_WITH(load("(aggregate \"Corr\" (F \"rating\"))")(), Catch::Contains("Corr takes 2 argument(s)"));
    CHECK_THROWS_WITH(load("(aggregate \"BitAnd\" (F \"rating\") distinct)")(), "dorm: BitAnd does not allow distinct.");
    CHECK_THROWS_WITH(load("(aggregate \"RegrCount\" (F \"rating\") (F \"id\") (default (value 1)))")(),
                      "dorm: RegrCount does not allow default.");
    CHECK_NOTHROW(load("(aggregate \"RegrCount\" (F \"rating\") (F \"id\"))")());
}
