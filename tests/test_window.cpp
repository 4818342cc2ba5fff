// SPDX-License-Identifier: MIT
// Window expressions (dorm/window.hpp) and the window functions (dorm/functions.hpp): ranking with ties, running
// totals over frames, Lag / Lead / NthValue, Ntile, aggregates over partitions, on both backends; Django's
// argument checks; no GROUP BY; filtering on a window's result (Django 4.2); what is refused; the SQL each dialect
// writes; dumps() / loads().
#include "support/fixture.hpp"
#include "support/render.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

// In a namespace of its own: the unity build puts several test files in one translation unit.
namespace window_test {
using namespace dorm;

namespace {
/// Two blogs, seven entries on consecutive days, with tied ratings:
///   a1 Alpha 5 | a2 Alpha 3 | a3 Alpha 5 | a4 Alpha 1 | b1 Beta 4 | b2 Beta 4 | b3 Beta 2   (pub_date order)
struct WindowData : test::Database {
    WindowData() {
        auto alpha = Blog::objects().create({{"name", "Alpha"}, {"tagline", ""}});
        auto beta = Blog::objects().create({{"name", "Beta"}, {"tagline", ""}});
        int day = 1;
        for (auto [blog, headline, rating] : {std::tuple{&alpha, "a1", 5}, {&alpha, "a2", 3}, {&alpha, "a3", 5},
                                              {&alpha, "a4", 1}, {&beta, "b1", 4}, {&beta, "b2", 4}, {&beta, "b3", 2}}) {
            Entry e;
            e.blog = *blog;
            e.headline = headline;
            e.pub_date = e.mod_date = Date(2020, 1, day++);
            e.rating = rating;
            Entry::objects().create(e);
        }
    }
};

using Opt = std::optional<std::int64_t>;

/// The value of `e` for each entry, in pub_date order (a window's own order is independent of the query's).
std::vector<Value> values_of(const Expression& e) {
    std::vector<Value> out;
    for (const auto& r : Entry::objects().values("v", e).order_by("pub_date")) out.push_back(r["v"]);
    return out;
}
std::vector<Opt> ints(const Expression& e) {
    std::vector<Opt> out;
    for (const auto& v : values_of(e)) out.push_back(v.is_null() ? Opt() : Opt(v.as<std::int64_t>()));
    return out;
}
std::vector<std::string> texts(const Expression& e) {
    std::vector<std::string> out;
    for (const auto& v : values_of(e)) out.push_back(v.is_null() ? "NULL" : v.as<std::string>());
    return out;
}
std::vector<double> doubles(const Expression& e) {
    std::vector<double> out;
    for (const auto& v : values_of(e)) out.push_back(v.as<double>());
    return out;
}

std::string render(const Expression& e, const char* db) { return test::render<Entry>(e, db); }

using test::RenderDatabases;

std::vector<Opt> opts(std::initializer_list<std::optional<int>> l) {
    std::vector<Opt> out;
    for (auto v : l) out.push_back(v ? Opt(*v) : Opt());
    return out;
}
}  // namespace

TEST_CASE("RowNumber, Rank and DenseRank: ties, partitions by a ForeignKey", "[window]") {
    WindowData data;
    // Alpha by rating: a1 5, a3 5, a2 3, a4 1; Beta: b1 4, b2 4, b3 2.
    WindowOptions by_blog{.partition_by = {"blog"}, .order_by = {"-rating"}};
    CHECK(ints(Window(Rank(), by_blog)) == opts({1, 3, 1, 4, 1, 1, 3}));
    CHECK(ints(Window(DenseRank(), by_blog)) == opts({1, 2, 1, 3, 1, 1, 2}));
    CHECK(ints(Window(RowNumber(), {.partition_by = {"blog"}, .order_by = {"-rating", "headline"}})) ==
          opts({1, 3, 2, 4, 1, 2, 3}));
    // Over the whole table, ordered by an OrderBy expression; partitioned by an expression (F of the ForeignKey).
    CHECK(ints(Window(RowNumber(), {.order_by = {F("rating").desc(), F("headline").asc()}})) ==
          opts({1, 5, 2, 7, 3, 4, 6}));
    CHECK(ints(Window(Rank(), {.partition_by = {F("blog__name")}, .order_by = {"rating"}})) ==
          opts({3, 2, 3, 1, 2, 2, 1}));
    // Several partition expressions: (blog, rating) pairs; a1 and a3 share one.
    CHECK(ints(Window(RowNumber(), {.partition_by = {"blog", "rating"}, .order_by = {"pub_date"}})) ==
          opts({1, 1, 2, 1, 1, 2, 1}));
}

TEST_CASE("Window annotations on model instances, in order_by() and values(); no GROUP BY", "[window]") {
    WindowData data;
    auto qs = Entry::objects().annotate("rn", Window(RowNumber(), {.order_by = {"-rating", "headline"}}));
    CHECK(qs.sql().find("GROUP BY") == std::string::npos);
    CHECK(qs.count() == 7);
    std::vector<std::string> heads;
    for (const auto& e : qs.order_by("rn")) {
        heads.push_back(e.headline);
        CHECK(e.annotations().get<std::int64_t>("rn") == static_cast<std::int64_t>(heads.size()));
    }
    CHECK(heads == std::vector<std::string>{"a1", "a3", "b1", "b2", "a2", "b3", "a4"});
    // Ordered by the window expression itself, descending.
    auto last_first = Entry::objects().order_by(Window(RowNumber(), {.order_by = {"-rating", "headline"}}).desc());
    CHECK(test::headlines(last_first).front() == "a4");
    // values(): one row per entry even with an aggregate computed over each partition.
    auto rows = Entry::objects()
                    .values("headline", "blog_total", Window(Sum("rating"), {.partition_by = {"blog"}}))
                    .order_by("headline");
    std::vector<std::int64_t> totals;
    for (const auto& r : rows) totals.push_back(r["blog_total"].as<std::int64_t>());
    CHECK(totals == std::vector<std::int64_t>{14, 14, 14, 14, 10, 10, 10});
    CHECK(rows.sql().find("GROUP BY") == std::string::npos);
}

TEST_CASE("Aggregates over a window: Sum, Avg, Count, Min, Max per partition; default=", "[window]") {
    WindowData data;
    WindowOptions by_blog{.partition_by = {"blog"}};
    CHECK(ints(Window(Count("id"), by_blog)) == opts({4, 4, 4, 4, 3, 3, 3}));
    CHECK(ints(Window(Max("rating"), by_blog)) == opts({5, 5, 5, 5, 4, 4, 4}));
    CHECK(ints(Window(Min("rating"), by_blog)) == opts({1, 1, 1, 1, 2, 2, 2}));
    auto avg = doubles(Window(Avg("rating"), by_blog));
    CHECK(avg[0] == Approx(3.5));
    CHECK(avg[6] == Approx(10.0 / 3));
    CHECK(ints(Window(Count("*"))) == opts({7, 7, 7, 7, 7, 7, 7}));  // OVER (): the whole result
    // filter=: only matching rows count.
    CHECK(ints(Window(Count("id", {.filter = Q("rating__gte", 4)}), by_blog)) == opts({2, 2, 2, 2, 2, 2, 2}));
    // default=: the previous row's rating, 0 where the frame is empty (COALESCE around the whole window).
    auto previous = Window(Sum("rating", {.default_ = 0}), {.order_by = {"pub_date"}, .frame = RowRange(-1, -1)});
    CHECK(ints(previous) == opts({0, 5, 3, 5, 1, 4, 4}));
    CHECK(ints(Window(Sum("rating"), {.order_by = {"pub_date"}, .frame = RowRange(-1, -1)})) ==
          opts({std::nullopt, 5, 3, 5, 1, 4, 4}));
}

TEST_CASE("Frames: running totals with RowRange, peers and offsets with ValueRange, exclusions", "[window]") {
    WindowData data;
    auto sum = [](WindowOptions o) { return ints(Window(Sum("rating"), std::move(o))); };
    // By date: 5 3 5 1 4 4 2.
    CHECK(sum({.order_by = {"pub_date"}, .frame = RowRange(std::nullopt, 0)}) == opts({5, 8, 13, 14, 18, 22, 24}));
    CHECK(sum({.partition_by = {"blog"}, .order_by = {"pub_date"}, .frame = RowRange(std::nullopt, 0)}) ==
          opts({5, 8, 13, 14, 4, 8, 10}));
    CHECK(sum({.order_by = {"pub_date"}, .frame = RowRange(-1, 0)}) == opts({5, 8, 8, 6, 5, 8, 6}));
    CHECK(sum({.order_by = {"pub_date"}, .frame = RowRange(0, 2)}) == opts({13, 9, 10, 9, 10, 6, 2}));
    CHECK(sum({.order_by = {"pub_date"}, .frame = RowRange(1, std::nullopt)}) == opts({19, 16, 11, 10, 6, 2, std::nullopt}));
    CHECK(sum({.order_by = {"pub_date"}, .frame = RowRange()}) == opts({24, 24, 24, 24, 24, 24, 24}));
    // RANGE up to the current row takes its ties (the two 4s, the two 5s); ROWS does not.
    CHECK(sum({.order_by = {"rating"}, .frame = ValueRange(std::nullopt, 0)}) == opts({24, 6, 24, 1, 14, 14, 3}));
    // Ratings within 1 of the row's: r=1: 1+2, r=2: 1+2+3, r=3: 2+3+4+4, r=4: 3+4+4+5+5, r=5: 4+4+5+5.
    CHECK(sum({.order_by = {"rating"}, .frame = ValueRange(-1, 1)}) == opts({18, 13, 18, 3, 21, 21, 6}));
    // The neighbours only.
    CHECK(sum({.order_by = {"pub_date"}, .frame = RowRange(-1, 1, WindowFrameExclusion::current_row)}) ==
          opts({3, 10, 4, 9, 5, 6, 4}));
    // EXCLUDE TIES keeps the current row but not its peers: 4 + the rest of the ratings below or at it.
    CHECK(sum({.order_by = {"rating"}, .frame = ValueRange(std::nullopt, 0, WindowFrameExclusion::ties)}) ==
          opts({19, 6, 19, 1, 10, 10, 3}));
}

TEST_CASE("Lag and Lead: offsets, defaults, partitions", "[window]") {
    WindowData data;
    WindowOptions by_date{.order_by = {"pub_date"}};
    CHECK(ints(Window(Lag("rating"), by_date)) == opts({std::nullopt, 5, 3, 5, 1, 4, 4}));
    CHECK(ints(Window(Lag("rating", 2, 0), by_date)) == opts({0, 0, 5, 3, 5, 1, 4}));
    CHECK(ints(Window(Lead("rating", 1, -1), by_date)) == opts({3, 5, 1, 4, 4, 2, -1}));
    CHECK(ints(Window(Lead("rating", 3), by_date)) == opts({1, 4, 4, 2, std::nullopt, std::nullopt, std::nullopt}));
    CHECK(ints(Window(Lag("rating"), {.partition_by = {"blog"}, .order_by = {"pub_date"}})) ==
          opts({std::nullopt, 5, 3, 5, std::nullopt, 4, 4}));
    // A default of another type than a bound integer: an expression (the row's own rating), a text.
    CHECK(ints(Window(Lag("rating", 1, F("rating")), by_date)) == opts({5, 5, 3, 5, 1, 4, 4}));
    CHECK(texts(Window(Lead("headline", 1, Value(std::string("none"))), {.partition_by = {"blog"}, .order_by = {"pub_date"}})) ==
          std::vector<std::string>{"a2", "a3", "a4", "none", "b2", "b3", "none"});
}

TEST_CASE("FirstValue, LastValue and NthValue over their frames", "[window]") {
    WindowData data;
    WindowOptions by_blog{.partition_by = {"blog"}, .order_by = {"pub_date"}};
    CHECK(texts(Window(FirstValue("headline"), by_blog)) == std::vector<std::string>{"a1", "a1", "a1", "a1", "b1", "b1", "b1"});
    // The default frame ends at the current row; the whole partition needs a frame.
    CHECK(texts(Window(LastValue("headline"), by_blog)) == std::vector<std::string>{"a1", "a2", "a3", "a4", "b1", "b2", "b3"});
    CHECK(texts(Window(LastValue("headline"), {.partition_by = {"blog"}, .order_by = {"pub_date"}, .frame = RowRange()})) ==
          std::vector<std::string>{"a4", "a4", "a4", "a4", "b3", "b3", "b3"});
    CHECK(ints(Window(NthValue("rating", 2), by_blog)) == opts({std::nullopt, 3, 3, 3, std::nullopt, 4, 4}));
    CHECK(ints(Window(NthValue("rating"), by_blog)) == opts({5, 5, 5, 5, 4, 4, 4}));
    CHECK(ints(Window(NthValue("rating", 4), {.partition_by = {"blog"}, .order_by = {"pub_date"}, .frame = RowRange()})) ==
          opts({1, 1, 1, 1, std::nullopt, std::nullopt, std::nullopt}));
}

TEST_CASE("Ntile, CumeDist and PercentRank", "[window]") {
    WindowData data;
    // Seven rows in three buckets: 3, 2, 2.
    CHECK(ints(Window(Ntile(3), {.order_by = {"pub_date"}})) == opts({1, 1, 1, 2, 2, 3, 3}));
    CHECK(ints(Window(Ntile(2), {.partition_by = {"blog"}, .order_by = {"pub_date"}})) == opts({1, 1, 2, 2, 1, 1, 2}));
    CHECK(ints(Window(Ntile(), {.order_by = {"pub_date"}})) == opts({1, 1, 1, 1, 1, 1, 1}));
    // By rating: 1 2 3 4 4 5 5 (dates: 5 3 5 1 4 4 2).
    auto cume = doubles(Window(CumeDist(), {.order_by = {"rating"}}));
    std::vector<double> cume_expected{1.0, 3.0 / 7, 1.0, 1.0 / 7, 5.0 / 7, 5.0 / 7, 2.0 / 7};
    auto pct = doubles(Window(PercentRank(), {.order_by = {"rating"}}));
    std::vector<double> pct_expected{5.0 / 6, 2.0 / 6, 5.0 / 6, 0.0, 3.0 / 6, 3.0 / 6, 1.0 / 6};
    REQUIRE(cume.size() == 7);
    REQUIRE(pct.size() == 7);
    for (std::size_t i = 0; i < 7; ++i) {
        CHECK(cume[i] == Approx(cume_expected[i]));
        CHECK(pct[i] == Approx(pct_expected[i]));
    }
}

TEST_CASE("Windows in an aggregating query: grouped by their partition and ordering, never by themselves",
          "[window]") {
    WindowData data;
    // Blogs ranked by their number of entries: RANK() OVER (ORDER BY COUNT(...) DESC) after GROUP BY blog.
    auto qs = Entry::objects()
                  .values("blog__name")
                  .annotate("n", Count("id"))
                  .annotate("place", Window(Rank(), {.order_by = {"-n"}}))
                  .annotate("backwards", Window(RowNumber(), {.order_by = {"-blog__name"}}))
                  .order_by("blog__name");
    std::vector<std::int64_t> places, counts, backwards;
    for (const auto& r : qs) {
        counts.push_back(r["n"].as<std::int64_t>());
        places.push_back(r["place"].as<std::int64_t>());
        backwards.push_back(r["backwards"].as<std::int64_t>());
    }
    CHECK(counts == std::vector<std::int64_t>{4, 3});
    CHECK(places == std::vector<std::int64_t>{1, 2});
    CHECK(backwards == std::vector<std::int64_t>{2, 1});
    auto sql = qs.sql();
    auto group_by = sql.substr(sql.find(" GROUP BY "), sql.find(" ORDER BY ") - sql.find(" GROUP BY "));
    CHECK(group_by == " GROUP BY \"blog\".\"name\"");
    // aggregate() over a window's result: computed in an outer query (1 + ... + 7).
    auto numbered = Entry::objects().annotate("rn", Window(RowNumber(), {.order_by = {"pub_date"}}));
    CHECK(numbered.aggregate("total", Sum("rn"))["total"].as<std::int64_t>() == 28);
    CHECK(numbered.aggregate("top", Max("rn"), "n", Count("id"))["top"].as<std::int64_t>() == 7);
}

TEST_CASE("Window functions check their arguments as Django's do", "[window]") {
    CHECK_THROWS_WITH(Lag("rating", 0), Catch::Contains("Lag requires a positive integer for the offset."));
    CHECK_THROWS_AS(Lag("rating", -1), ValueError);
    CHECK_THROWS_WITH(Lead("rating", 0), Catch::Contains("Lead requires a positive integer for the offset."));
    CHECK_THROWS_WITH(NthValue("rating", 0), Catch::Contains("NthValue requires a positive integer as for nth."));
    CHECK_THROWS_WITH(Ntile(0), Catch::Contains("num_buckets must be greater than 0."));
    CHECK_THROWS_AS(Ntile(-3), ValueError);
    CHECK_NOTHROW(Lag("rating", 1));
    CHECK_NOTHROW(Ntile(1));
    // Frames: RowRange's start after its end; ValueRange's start after the row or end before it.
    CHECK_THROWS_WITH(RowRange(2, 1), Catch::Contains("start cannot be greater than end."));
    CHECK_NOTHROW(RowRange(1, 2));
    CHECK_NOTHROW(RowRange(-3, -1));
    CHECK_THROWS_WITH(ValueRange(1, std::nullopt),
                      Catch::Contains("start argument must be a negative integer, zero, or None, but got '1'."));
    CHECK_THROWS_WITH(ValueRange(std::nullopt, -2),
                      Catch::Contains("end argument must be a positive integer, zero, or None, but got '-2'."));
    // Window takes window functions and aggregates only.
    CHECK_THROWS_WITH(Window(Upper("headline")), Catch::Contains("Expression 'Upper' isn't compatible with OVER clauses."));
    CHECK_THROWS_WITH(Window(F("rating")), Catch::Contains("Expression 'F' isn't compatible with OVER clauses."));
    CHECK_THROWS_AS(Window(F("rating") + 1), ValueError);
    CHECK_THROWS_AS(Window(AnyValue("rating")), ValueError);  // Django's AnyValue.window_compatible = False
    CHECK_THROWS_AS(Window(Count("rating", {.distinct = true})), NotSupportedError);
    CHECK_THROWS_AS(Window(StringAgg("headline", ",", {.order_by = {"headline"}})), NotSupportedError);
    CHECK_NOTHROW(Window(StringAgg("headline", ",")));
}

TEST_CASE("What a window cannot do: stand alone, be updated with, nest, be aggregated in annotate()", "[window]") {
    WindowData data;
    // A window function without its window.
    CHECK_THROWS_WITH(Entry::objects().annotate("rn", RowNumber()), Catch::Contains("RowNumber is a window function"));
    CHECK_THROWS_AS(Entry::objects().values("v", Lag("rating") + 1), ValueError);
    CHECK_THROWS_AS(Entry::objects().order_by(Rank().asc()), ValueError);
    auto numbered = Entry::objects().annotate("rn", Window(RowNumber(), {.partition_by = {"blog"}, .order_by = {"-rating"}}));
    // update(): Django's FieldError.
    CHECK_THROWS_WITH(Entry::objects().update({{"rating", Window(Max("rating"))}}),
                      Catch::Contains("Window expressions are not allowed in this query (rating=...)."));
    CHECK(Entry::objects().filter("rating", 5).count() == 2);  // nothing was written
    // Nested windows, and an aggregate over a window in annotate().
    CHECK_THROWS_AS(numbered.annotate("x", Window(Sum("rn"))), NotSupportedError);
    CHECK_THROWS_AS(numbered.annotate("x", Window(RowNumber(), {.order_by = {"rn"}})), NotSupportedError);
    CHECK_THROWS_WITH(numbered.annotate("x", Sum("rn")), Catch::Contains("over a window expression"));
    // An anonymous window has no default name (Django: "Complex annotations require an alias").
    CHECK_THROWS_AS(Entry::objects().annotate(Window(RowNumber())), TypeError);
    // Conditions on other annotations still work beside a window.
    CHECK(numbered.filter("rating__gte", 4).count() == 4);
}

namespace {
/// RowNumber per blog by rating, then headline:  a1 1 | a3 2 | a2 3 | a4 4 | b1 1 | b2 2 | b3 3
auto numbered() {
    return Entry::objects().annotate(
        "rn", Window(RowNumber(), {.partition_by = {"blog"}, .order_by = {"-rating", "headline"}}));
}
}  // namespace

TEST_CASE("Filtering on a window (Django 4.2): the window over the other conditions' rows, filtered outside",
          "[window]") {
    WindowData data;
    // The top two entries of each blog.
    auto top = numbered().filter("rn__lte", 2);
    CHECK(test::sorted(top) == std::vector<std::string>{"a1", "a3", "b1", "b2"});
    std::string sql = top.sql();
    CHECK(sql.find(") \"qualify\" WHERE ") != std::string::npos);
    CHECK(top.count() == 4);
    CHECK(top.exists());
    CHECK_FALSE(numbered().filter("rn__gt", 4).exists());
    CHECK(numbered().filter("rn__gt", 4).count() == 0);
    for (const auto& e : top.order_by("headline")) CHECK(e.annotations().get<std::int64_t>("rn") <= 2);
    // exclude(), and a window's own F() on the right-hand side.
    CHECK(test::sorted(numbered().exclude("rn", 1)) == std::vector<std::string>{"a2", "a3", "a4", "b2", "b3"});
    CHECK(test::sorted(numbered().filter("rn__gte", F("rating"))) == std::vector<std::string>{"a2", "a4", "b3"});
    // A window that is not annotated, compared with a column: above the average of its blog.
    CHECK(test::sorted(Entry::objects().filter("rating__gt", Window(Avg("rating"), {.partition_by = {"blog"}}))) ==
          std::vector<std::string>{"a1", "a3", "b1", "b2"});
    // Other conditions go inside, whichever filter() call comes first: the window counts only their rows.
    auto modest = std::vector<std::string>{"a2", "a4", "b1", "b2"};
    CHECK(test::sorted(numbered().filter("rn__lte", 2).filter("rating__lt", 5)) == modest);
    CHECK(test::sorted(numbered().filter("rating__lt", 5).filter("rn__lte", 2)) == modest);
    CHECK(test::sorted(numbered().filter(Q("rn__lte", 2) & Q("rating__lt", 5))) == modest);
    // A disjunction with a window goes outside whole: the window numbers every row.
    CHECK(test::sorted(numbered().filter(Q("rn", 1) | Q("rating", 3))) == std::vector<std::string>{"a1", "a2", "b1"});
    CHECK(test::sorted(numbered().exclude(Q("rn", 1) | Q("rating", 3))) ==
          std::vector<std::string>{"a3", "a4", "b2", "b3"});
    // Slices and ordering apply to the filtered rows: 5 5 4 4 in that order, then [1:3].
    CHECK(test::headlines(top.order_by("-rating", "headline").slice(1, 3)) == std::vector<std::string>{"a3", "b1"});
    CHECK(top.order_by("-rn", "headline").first()->headline == "a3");
    CHECK(top.order_by("rating", "-headline").last()->headline == "a1");
    CHECK(numbered().filter("rn", 1).get("blog__name", "Beta").headline == "b1");
    CHECK(top.order_by("headline").slice(1, 3).count() == 2);
}

TEST_CASE("Filtering on a window: alias(), values(), select_related(), aggregate(), subqueries, set operators",
          "[window]") {
    WindowData data;
    auto window = Window(RowNumber(), {.partition_by = {"blog"}, .order_by = {"-rating", "headline"}});
    // alias(): the window is computed for the filter, never selected.
    auto firsts = Entry::objects().alias("rn", window).filter("rn", 1);
    CHECK(test::sorted(firsts) == std::vector<std::string>{"a1", "b1"});
    // values(): the columns as selected, no more.
    std::vector<std::string> rows;
    for (const auto& r : Entry::objects().values("headline", "rn", window).filter("rn", 1).order_by("headline"))
        rows.push_back(r["headline"].as<std::string>() + ":" + std::to_string(r["rn"].as<std::int64_t>()) + ":" +
                       std::to_string(r.size()));
    CHECK(rows == std::vector<std::string>{"a1:1:2", "b1:1:2"});
    std::vector<std::string> flat;
    for (const auto& r : Entry::objects().alias("rn", window).filter("rn", 2).values_list<std::string>("headline").order_by("headline"))
        flat.push_back(std::get<0>(r));
    CHECK(flat == std::vector<std::string>{"a3", "b2"});
    // select_related(): both tables' columns, with the same names, come back in their places.
    std::vector<std::string> owners;
    for (const auto& e : numbered().select_related("blog").filter("rn", 1).order_by("headline"))
        owners.push_back(e.headline + "@" + e.blog->name);
    CHECK(owners == std::vector<std::string>{"a1@Alpha", "b1@Beta"});
    // aggregate() over the filtered rows: 5 + 5 + 4 + 4.
    CHECK(numbered().filter("rn__lte", 2).aggregate("total", Sum("rating"))["total"].as<std::int64_t>() == 18);
    // As a subquery: its primary keys, or its one values() column.
    CHECK(test::sorted(Entry::objects().filter("pk__in", numbered().filter("rn", 1))) ==
          std::vector<std::string>{"a1", "b1"});
    CHECK(test::sorted(Entry::objects().filter("id__in", numbered().filter("rn", 3).values("id"))) ==
          std::vector<std::string>{"a2", "b3"});
    // Set operators combine the conditions first, as Django's do: (rn = 1) OR (rating = 1).
    CHECK(test::sorted(numbered().filter("rn", 1) | numbered().filter("rating", 1)) ==
          std::vector<std::string>{"a1", "a4", "b1"});
    // (rating < 5) AND (rn = 1): the window numbers only the entries rated below 5 (per side, it would be b1 alone).
    CHECK(test::sorted(numbered().filter("rating__lt", 5) & numbered().filter("rn", 1)) ==
          std::vector<std::string>{"a2", "b1"});
    // A subquery that shares the window's node (built from the same QuerySet) computes its own window.
    auto base = numbered();
    CHECK(test::sorted(base.filter(Q("rn", 1) | Q("rating__in", base.values("rn")))) ==
          std::vector<std::string>{"a1", "a2", "a4", "b1", "b2", "b3"});
    CHECK(test::sorted(numbered().filter("rn", 1).union_(numbered().filter("rn", 4))) ==
          std::vector<std::string>{"a1", "a4", "b1"});
    // In an aggregating query: blogs ranked by their number of entries, the first kept.
    auto ranked = Entry::objects()
                      .values("blog__name")
                      .annotate("n", Count("id"))
                      .annotate("place", Window(Rank(), {.order_by = {"-n"}}));
    auto first = ranked.filter("place", 1);
    REQUIRE(first.count() == 1);
    CHECK((*first.begin())["blog__name"].as<std::string>() == "Alpha");
    CHECK(ranked.filter(Q("place", 2) | Q("n", 4)).count() == 2);
    // ... where a condition on a row's column in a disjunction with the window is Django's NotImplementedError.
    CHECK_THROWS_AS(ranked.filter(Q("place", 1) | Q("blog__name", "Beta")).count(), NotImplementedError);
    CHECK_THROWS_WITH(ranked.filter(Q("place", 1) | Q("blog__name", "Beta")).sql(),
                      Catch::Contains("Heterogeneous disjunctive predicates against window functions"));
}

TEST_CASE("Filtering on a window: update() and delete_() change the rows the QuerySet selects", "[window]") {
    WindowData data;
    CHECK(numbered().filter("rn", 1).update({{"rating", 10}}) == 2);
    CHECK(test::sorted(Entry::objects().filter("rating", 10)) == std::vector<std::string>{"a1", "b1"});
    // Keep each blog's two best; delete the rest.
    CHECK(numbered().filter("rn__gt", 2).delete_().total == 3);
    CHECK(test::sorted(Entry::objects().all()) == std::vector<std::string>{"a1", "a3", "b1", "b2"});
}

TEST_CASE("Window SQL on each dialect: OVER clauses, frames as checked integers, bound counts", "[window]") {
    RenderDatabases d;
    struct Case {
        Expression e;
        const char* sqlite;
        const char* postgresql;
    };
    const Case cases[] = {
        {Window(RowNumber()), "ROW_NUMBER() OVER ()", "ROW_NUMBER() OVER ()"},
        {Window(Sum("rating"), {.partition_by = {"blog"}, .order_by = {"pub_date"}, .frame = RowRange(-2, 0)}),
         "SUM(\"entry\".\"rating\") OVER (PARTITION BY \"entry\".\"blog_id\" ORDER BY \"entry\".\"pub_date\" ASC ROWS "
         "BETWEEN 2 PRECEDING AND CURRENT ROW)",
         "SUM(\"entry\".\"rating\") OVER (PARTITION BY \"entry\".\"blog_id\" ORDER BY \"entry\".\"pub_date\" ASC ROWS "
         "BETWEEN 2 PRECEDING AND CURRENT ROW)"},
        {Window(Rank(), {.order_by = {F("rating_note").desc({.nulls_last = true}), "-id"}}),
         "RANK() OVER (ORDER BY \"entry\".\"rating_note\" DESC NULLS LAST, \"entry\".\"id\" DESC)",
         "RANK() OVER (ORDER BY \"entry\".\"rating_note\" DESC NULLS LAST, \"entry\".\"id\" DESC)"},
        {Window(Avg("rating"), {.order_by = {"rating"}, .frame = ValueRange(std::nullopt, 3, WindowFrameExclusion::ties)}),
         "AVG(\"entry\".\"rating\") OVER (ORDER BY \"entry\".\"rating\" ASC RANGE BETWEEN UNBOUNDED PRECEDING AND 3 "
         "FOLLOWING EXCLUDE TIES)",
         "AVG(\"entry\".\"rating\") OVER (ORDER BY \"entry\".\"rating\" ASC RANGE BETWEEN UNBOUNDED PRECEDING AND 3 "
         "FOLLOWING EXCLUDE TIES)"},
        {Window(Max("rating"), {.frame = RowRange(std::numeric_limits<std::int64_t>::min(), std::nullopt,
                                                  WindowFrameExclusion::no_others)}),
         "MAX(\"entry\".\"rating\") OVER (ROWS BETWEEN 9223372036854775808 PRECEDING AND UNBOUNDED FOLLOWING EXCLUDE "
         "NO OTHERS)",
         "MAX(\"entry\".\"rating\") OVER (ROWS BETWEEN 9223372036854775808 PRECEDING AND UNBOUNDED FOLLOWING EXCLUDE "
         "NO OTHERS)"},
        // Counts are bound values; PostgreSQL's functions take integer, and bound integers are bigint.
        {Window(Lag("rating", 2, 0)), "LAG(\"entry\".\"rating\", 2, 0) OVER ()",
         "LAG(\"entry\".\"rating\", (2)::integer, 0) OVER ()"},
        {Window(Ntile(4), {.order_by = {"id"}}), "NTILE(4) OVER (ORDER BY \"entry\".\"id\" ASC)",
         "NTILE((4)::integer) OVER (ORDER BY \"entry\".\"id\" ASC)"},
        {Window(NthValue("headline", 2), {.partition_by = {"blog", F("rating") * 2}}),
         "NTH_VALUE(\"entry\".\"headline\", 2) OVER (PARTITION BY \"entry\".\"blog_id\", (\"entry\".\"rating\" * 2))",
         "NTH_VALUE(\"entry\".\"headline\", (2)::integer) OVER (PARTITION BY \"entry\".\"blog_id\", (\"entry\".\"rating\" * 2))"},
        {Window(Sum("rating", {.default_ = 0}), {.frame = RowRange(-1, -1)}),
         "COALESCE(SUM(\"entry\".\"rating\") OVER (ROWS BETWEEN 1 PRECEDING AND 1 PRECEDING), 0)",
         "COALESCE(SUM(\"entry\".\"rating\") OVER (ROWS BETWEEN 1 PRECEDING AND 1 PRECEDING), 0)"},
    };
    for (const auto& c : cases) {
        CHECK(render(c.e, "render_sqlite") == c.sqlite);
        CHECK(render(c.e, "render_pg") == c.postgresql);
    }
    // The counts are parameters of the executed statement, not text.
    auto lag = Entry::objects().using_("render_pg").values("v", Window(Lag("rating", 2))).sql_with_params();
    CHECK(lag.sql.find("LAG(\"entry\".\"rating\", ($1)::integer) OVER ()") != std::string::npos);
    CHECK(lag.params == std::vector<Value>{Value(std::int64_t{2})});
}

TEST_CASE("dumps() / loads() round-trip windows and check them again", "[window]") {
    WindowData data;
    auto qs = Entry::objects()
                  .annotate("running", Window(Sum("rating", {.default_ = 0}),
                                              {.partition_by = {"blog", F("rating") + 1},
                                               .order_by = {"pub_date", F("rating_note").desc({.nulls_last = true})},
                                               .frame = RowRange(std::nullopt, 0, WindowFrameExclusion::group)}),
                            "prev", Window(Lag("headline", 2, Value(std::string("-"))), {.order_by = {"-pub_date"}}),
                            "share", Window(CumeDist(), {.order_by = {"rating"}, .frame = ValueRange(-2, 3)}))
                  .order_by("pub_date");
    std::string text = qs.dumps();
    INFO(text);
    CHECK(text.find("(Window (aggregate \"Sum\"") != std::string::npos);
    CHECK(text.find("(frame rows unbounded 0 group)") != std::string::npos);
    CHECK(text.find("(frame range -2 3)") != std::string::npos);
    auto back = QuerySet<Entry>::loads(text);
    CHECK(back.sql_with_params().sql == qs.sql_with_params().sql);
    CHECK(back.sql_with_params().params == qs.sql_with_params().params);
    CHECK(back.dumps() == text);
    std::vector<std::int64_t> a, b;
    for (const auto& e : qs) a.push_back(e.annotations().get<std::int64_t>("running"));
    for (const auto& e : back) b.push_back(e.annotations().get<std::int64_t>("running"));
    CHECK(a == b);
    CHECK(a.size() == 7);
    // loads() builds windows through the public constructors, so their checks hold for a text too.
    auto replace = [&](const std::string& from, const std::string& to) {
        std::string t = text;
        t.replace(t.find(from), from.size(), to);
        return t;
    };
    CHECK_THROWS_WITH(QuerySet<Entry>::loads(replace("(frame range -2 3)", "(frame range 2 3)")),
                      Catch::Contains("start argument must be a negative integer"));
    CHECK_THROWS_WITH(QuerySet<Entry>::loads(replace("(frame rows unbounded 0 group)", "(frame rows 3 0)")),
                      Catch::Contains("start cannot be greater than end."));
    CHECK_THROWS_AS(QuerySet<Entry>::loads(replace("(frame rows unbounded 0 group)", "(frame rows 1 2 others)")), ValueError);
    CHECK_THROWS_AS(QuerySet<Entry>::loads(replace("(frame rows unbounded 0 group)", "(frame rows \"1\" 2)")), ValueError);
    CHECK_THROWS_WITH(QuerySet<Entry>::loads(replace("(Window (output real (Func \"CUME_DIST\"))", "(Window (Func \"PI\")")),
                      Catch::Contains("Expression 'Pi' isn't compatible with OVER clauses"));
    CHECK_THROWS_WITH(QuerySet<Entry>::loads(replace("(value 2)", "(value 0)")),
                      Catch::Contains("Lag requires a positive integer for the offset."));
    // A filter on a window replays as one.
    auto top = numbered().filter("rn__lte", 2).order_by("headline");
    auto top_back = QuerySet<Entry>::loads(top.dumps());
    CHECK(top_back.sql_with_params().sql == top.sql_with_params().sql);
    CHECK(test::headlines(top_back) == std::vector<std::string>{"a1", "a3", "b1", "b2"});
}

}  // namespace window_test
