// SPDX-License-Identifier: MIT
// aggregate(), annotate(), alias() and the aggregate functions; GROUP BY and HAVING as Django builds them.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace dorm;
using V = std::vector<std::string>;

// Data (blog: rating): Beatles: Lennon 5, Reunion 3; Cooking: Pancakes 4, Soup 1; News: Election 2.
// rating_note is NULL for Lennon, Pancakes and Election.

TEST_CASE("aggregate() returns a Row with Django's names", "[aggregation]") {
    test::BlogData data;
    auto r = Entry::objects().aggregate("avg", Avg("rating"), Count("id"), Sum("rating"), Min("rating"), Max("rating"));
    CHECK(r.names() == std::vector<std::string>{"avg", "id__count", "rating__sum", "rating__min", "rating__max"});
    CHECK(r["avg"].holds<double>());
    CHECK(r.get<double>("avg") == 3.0);
    CHECK(r.get<std::int64_t>("id__count") == 5);
    CHECK(r.get<std::int64_t>("rating__sum") == 15);
    CHECK(r.get<int>("rating__min") == 1);
    CHECK(r.get<int>("rating__max") == 5);
    CHECK_THROWS_AS(r["nope"], KeyError);
    CHECK(fmt::format("{}", Entry::objects().filter("rating", 5).aggregate(Max("rating"))) == "{'rating__max': 5}");
    // Filters apply first; Min and Max keep the field's type.
    auto dates = Entry::objects().filter("blog", data.beatles).aggregate(Min("pub_date"), Max("pub_date"));
    CHECK(dates["pub_date__min"] == Value(Date(2005, 3, 20)));
    CHECK(dates["pub_date__max"] == Value(Date(2006, 7, 1)));
    CHECK_THROWS_WITH(Entry::objects().aggregate(Sum("rating") + Count("id")), Catch::Contains("Complex aggregates require an alias"));
    CHECK_THROWS_AS(Entry::objects().aggregate("x", F("rating")), TypeError);
}

TEST_CASE("aggregates over no rows are NULL, their default, or 0 for Count", "[aggregation]") {
    test::BlogData data;
    for (auto qs : {Entry::objects().filter("rating__gt", 100), Entry::objects().none(), Entry::objects().filter("id__in", std::vector<int>{})}) {
        auto r = qs.aggregate(Sum("rating"), Avg("rating"), Count("id"), "zero", Sum("rating", {.default_ = 0}),
                              "max_date", Max("pub_date", {.default_ = Date(2000, 1, 1)}));
        CHECK(r["rating__sum"].is_null());
        CHECK(r.get<std::optional<double>>("rating__avg") == std::nullopt);
        CHECK(r.get<std::int64_t>("id__count") == 0);
        CHECK(r.get<std::int64_t>("zero") == 0);
        CHECK(r["max_date"] == Value(Date(2000, 1, 1)));
    }
}

TEST_CASE("over no rows, an aggregate whose value the database must compute is computed by it", "[aggregation]") {
    test::BlogData data;
    for (auto qs : {Entry::objects().none(), Entry::objects().filter("id__in", std::vector<int>{})}) {
        // Known without a query (Django's empty_result_set_value): Count, defaults, Coalesce of them.
        {
            dorm::CaptureQueries queries;
            auto r = qs.aggregate("c", Coalesce(Sum("rating"), Value(0)), "n", Count("id"), "d",
                                  Coalesce(Sum("rating"), Max("rating"), Value(7)));
            CHECK(r.get<std::int64_t>("c") == 0);
            CHECK(r.get<std::int64_t>("n") == 0);
            CHECK(r.get<std::int64_t>("d") == 7);
            CHECK(queries.size() == 0);
        }
        // Only the database knows: the query runs with a condition that matches nothing (Django's 0 = 1).
        dorm::CaptureQueries queries;
        auto r = qs.aggregate("plus", Count("id") + 1, "real", Cast(Count("id"), dorm::FieldKind::real), "c",
                              Coalesce(Sum("rating"), Value(0)));
        CHECK(r.get<std::int64_t>("plus") == 1);
        CHECK(r.get<double>("real") == 0.0);
        CHECK(r.get<std::int64_t>("c") == 0);
        CHECK(queries.size() == 1);
    }
}

TEST_CASE("Count counts non-NULL values, distinct ones, or rows", "[aggregation]") {
    test::BlogData data;
    auto r = Entry::objects().aggregate("notes", Count("rating_note"), "blogs", Count("blog", {.distinct = true}),
                                        "rows", Count("*"), "all_blogs", Count("blog"));
    CHECK(r.get<int>("notes") == 2);
    CHECK(r.get<int>("blogs") == 3);
    CHECK(r.get<int>("rows") == 5);
    CHECK(r.get<int>("all_blogs") == 5);
    CHECK(Entry::objects().aggregate("n", Sum("number_of_pingbacks", {.distinct = true})).get<int>("n") == 17);
    CHECK_THROWS_WITH(Max("rating", {.distinct = true}), Catch::Contains("Max does not allow distinct"));
    CHECK_THROWS_AS(Count("*", {.distinct = true}), TypeError);
}

TEST_CASE("aggregate filter= counts only matching rows", "[aggregation]") {
    test::BlogData data;
    auto r = Entry::objects().aggregate("good", Count("id", {.filter = Q("rating__gte", 3)}),
                                        "good_sum", Sum("rating", {.filter = Q("rating__gte", 3)}),
                                        "none", Sum("rating", {.filter = Q("rating__gt", 10)}),
                                        "rows", Count("*", {.filter = Q("rating_note__isnull", true)}));
    CHECK(r.get<int>("good") == 3);
    CHECK(r.get<int>("good_sum") == 12);
    CHECK(r["none"].is_null());
    CHECK(r.get<int>("rows") == 3);
    // An empty Q, negated or not, is no filter (Django's `if self.filter:`): every row counts.
    CHECK(Entry::objects().aggregate("n", Count("id", {.filter = ~Q()})).get<int>("n") == 5);
    CHECK(Entry::objects().aggregate("n", Count("id", {.filter = Q()})).get<int>("n") == 5);
    auto sql = Entry::objects().values("blog").annotate("n", Count("id", {.filter = Q("rating__gte", 3)})).sql();
    CHECK_THAT(sql, Catch::Contains("COUNT(\"entry\".\"id\") FILTER (WHERE \"entry\".\"rating\" >= 3)"));
}

TEST_CASE("StdDev and Variance, of the population or a sample", "[aggregation]") {
    test::BlogData data;
    auto r = Entry::objects().aggregate(StdDev("rating"), Variance("rating"), "s", StdDev("rating", {.sample = true}),
                                        "v", Variance("rating", {.sample = true}));
    CHECK(r.get<double>("rating__stddev") == Approx(std::sqrt(2.0)));
    CHECK(r.get<double>("rating__variance") == Approx(2.0));
    CHECK(r.get<double>("s") == Approx(std::sqrt(2.5)));
    CHECK(r.get<double>("v") == Approx(2.5));
    CHECK(Entry::objects().filter("rating", 5).aggregate("v", Variance("rating", {.sample = true}))["v"].is_null());
    CHECK_THROWS_AS(Sum("rating", {.sample = true}), TypeError);
    // output_field sets the result's type.
    auto typed = Entry::objects().aggregate("s", Sum("rating", {.output_field = FieldKind::real}));
    CHECK(typed["s"].holds<double>());
    CHECK(typed.get<double>("s") == 15.0);
}

TEST_CASE("StringAgg joins text values; AnyValue picks one", "[aggregation]") {
    test::BlogData data;
    auto one = Entry::objects().filter("blog", data.news).aggregate("h", StringAgg("headline", "; "));
    CHECK(one.get<std::string>("h") == "Election");
    auto two = Entry::objects().filter("blog", data.beatles).aggregate("h", StringAgg("headline", "|"));
    auto h = two.get<std::string>("h");
    CHECK((h == "Lennon returns|Beatles reunion" || h == "Beatles reunion|Lennon returns"));
    auto distinct = Entry::objects().aggregate("h", StringAgg("rating_note", ",", {.distinct = true})).get<std::string>("h");
    CHECK((distinct == "solid,thin" || distinct == "thin,solid"));
    auto beatles = Entry::objects().filter("blog", data.beatles);
    if (test::is_postgresql()) {
        auto ordered = beatles.aggregate("h", StringAgg("headline", "|", {.order_by = {"-headline"}}));
        CHECK(ordered.get<std::string>("h") == "Lennon returns|Beatles reunion");
        // PostgreSQL 15 has no ANY_VALUE (16 has).
        CHECK_THROWS_AS(beatles.aggregate(AnyValue("rating")), NotSupportedError);
    } else {
        // ORDER BY inside an aggregate needs SQLite 3.44; DISTINCT with another delimiter than ',' is not possible.
        CHECK_THROWS_AS(beatles.aggregate("h", StringAgg("headline", "|", {.order_by = {"-headline"}})), NotSupportedError);
        CHECK_THROWS_AS(beatles.aggregate("h", StringAgg("headline", "|", {.distinct = true})), NotSupportedError);
        auto any = beatles.aggregate(AnyValue("rating")).get<int>("rating__anyvalue");
        CHECK((any == 5 || any == 3));
        // Django refuses Sum / Avg of dates on SQLite, where they are text.
        CHECK_THROWS_AS(Entry::objects().aggregate(Sum("pub_date")), NotSupportedError);
    }
}

TEST_CASE("annotate() adds values to each instance; anonymous aggregates get Django's names", "[aggregation]") {
    test::BlogData data;
    auto qs = Entry::objects().annotate("double", F("rating") * 2, Count("id")).order_by("id");
    std::vector<std::int64_t> doubles;
    for (const auto& e : qs) {
        doubles.push_back(e.annotations().get<std::int64_t>("double"));
        CHECK(e.annotations().get<int>("id__count") == 1);  // grouped by every field: one row per entry
    }
    CHECK(doubles == std::vector<std::int64_t>{10, 6, 8, 2, 4});
    CHECK(Entry::objects().first()->annotations().empty());
    CHECK_THROWS_WITH(Entry::objects().annotate(F("rating") * 2), Catch::Contains("Complex annotations require an alias"));
    CHECK_THROWS_WITH(Entry::objects().annotate("rating", F("rating") * 2), Catch::Contains("conflicts with a field"));
    CHECK_THROWS_AS(Entry::objects().annotate("x", Sum(Count("id"))), FieldError);
    // Mixed types need an ExpressionWrapper (Django's output_field rule); it is reported when the query runs.
    CHECK_THROWS_AS(Entry::objects().annotate("x", F("rating") + F("headline")).size(), FieldError);
    auto wrapped = Entry::objects().annotate("x", ExpressionWrapper(F("rating") * 1.5, FieldKind::real)).filter("rating", 4);
    CHECK(wrapped.get().annotations().get<double>("x") == 6.0);
}

TEST_CASE("filter() and order_by() take annotation names; aggregates filter in HAVING", "[aggregation]") {
    test::BlogData data;
    auto big = Entry::objects().annotate("double", F("rating") * 2).filter("double__gt", 6).order_by("-double");
    CHECK(test::headlines(big) == V{"Lennon returns", "Pancakes"});
    auto per_blog = Entry::objects().values("blog").annotate("n", Count("id")).filter("n__gt", 1).order_by("blog");
    CHECK_THAT(per_blog.sql(), Catch::Contains("HAVING COUNT(\"entry\".\"id\") > 1"));
    CHECK(per_blog.size() == 2);
    CHECK(per_blog[0].get<std::int64_t>("blog") == data.beatles.id);
    // A condition on a plain field stays in WHERE, before grouping.
    auto rated = Entry::objects().values("blog").annotate("n", Count("id")).filter("rating__gte", 3).order_by("blog");
    CHECK_THAT(rated.sql(), Catch::Contains("WHERE"));
    CHECK_THAT(rated.sql(), !Catch::Contains("HAVING"));
    CHECK(rated.size() == 2);
    CHECK(rated[1].get<int>("n") == 1);  // Cooking: Pancakes only
    CHECK(Entry::objects().values("blog").annotate("n", Count("id")).exclude("n", 2).size() == 1);
    CHECK_THROWS_WITH(Entry::objects().filter(dorm::runtime("nope"), 1), Catch::Contains("Choices are"));
    CHECK_THROWS_WITH(Entry::objects().annotate("double", F("rating")).filter(dorm::runtime("nope"), 1),
                      Catch::Contains("double"));
}

TEST_CASE("values().annotate() groups by the values; annotate().values() by every field", "[aggregation]") {
    test::BlogData data;
    auto by_blog = Entry::objects().values("blog").annotate("n", Count("id"), "avg", Avg("rating")).order_by("blog");
    REQUIRE(by_blog.size() == 3);
    CHECK(by_blog[0] == Row{{"blog", data.beatles.id}, {"n", 2}, {"avg", 4.0}});
    CHECK(by_blog[1] == Row{{"blog", data.cooking.id}, {"n", 2}, {"avg", 2.5}});
    CHECK(by_blog[2] == Row{{"blog", data.news.id}, {"n", 1}, {"avg", 2.0}});
    CHECK(by_blog.count() == 3);
    CHECK(Entry::objects().annotate("n", Count("id")).values("blog").size() == 5);
    // Fields in order_by() are grouped by too (Django's rule).
    CHECK(Entry::objects().values("blog").annotate("n", Count("id")).order_by("rating").size() == 5);
    // The model's default ordering does not apply to GROUP BY queries (Django >= 3.1).
    CHECK_THAT(Country::objects().values("continent").annotate("n", Count("code")).sql(), !Catch::Contains("ORDER BY"));
    // Arithmetic over aggregates.
    auto ratio = Entry::objects().values("blog").annotate("r", Sum("rating") * 1.0 / Count("id")).order_by("blog");
    CHECK(ratio[1].get<double>("r") == 2.5);
}

TEST_CASE("aggregate() over a grouped or sliced query uses a subquery", "[aggregation]") {
    test::BlogData data;
    auto grouped = Entry::objects().values("blog").annotate("n", Count("id"));
    CHECK(grouped.aggregate(Max("n")).get<int>("n__max") == 2);
    auto both = grouped.aggregate(Sum("n"), "avg", Avg("n"));
    CHECK(both.get<int>("n__sum") == 5);
    CHECK(both.get<double>("avg") == Approx(5.0 / 3));
    CHECK(Entry::objects().order_by("-rating").slice(0, 2).aggregate(Sum("rating")).get<int>("rating__sum") == 9);
    CHECK(Entry::objects().values("rating_note").distinct().aggregate(Count("rating_note")).get<int>("rating_note__count") == 2);
    CHECK(Entry::objects().annotate("n", Count("id")).aggregate("t", Sum("n", {.filter = Q("rating__gte", 3)})).get<int>("t") == 3);
}

TEST_CASE("alias() is usable in filter, order_by and update but not selected", "[aggregation]") {
    test::BlogData data;
    auto qs = Entry::objects().alias("double", F("rating") * 2).filter("double__gt", 6);
    CHECK(test::sorted(qs) == V{"Lennon returns", "Pancakes"});
    CHECK(qs.first()->annotations().empty());
    CHECK_THAT(qs.sql(), !Catch::Contains("AS \"double\""));
    CHECK(qs.update({{"number_of_comments", 100}}) == 2);
    CHECK(Entry::objects().filter("number_of_comments", 100).count() == 2);
    auto blogs = Entry::objects().values("blog").alias("n", Count("id")).filter("n", 2);
    CHECK(blogs.size() == 2);
    CHECK(blogs[0].names() == std::vector<std::string>{"blog"});
    CHECK(test::headlines(Entry::objects().alias("neg", -F("rating")).order_by("neg").slice(0, 2)) == V{"Lennon returns", "Pancakes"});
}

TEST_CASE("Grouping by a selected expression with parameters: GROUP BY its position, as Django's", "[aggregation]") {
    test::BlogData data;
    // rating_note is NULL for three entries: Coalesce(rating_note, "none") groups them, and the bound "none" is
    // written once. PostgreSQL would refuse GROUP BY COALESCE(..., $2) against SELECT COALESCE(..., $1).
    auto notes = Entry::objects()
                     .values("note", Coalesce("rating_note", Value("none")))
                     .annotate("n", Count("id"))
                     .order_by("note");
    auto sql = notes.sql_with_params();
    CHECK_THAT(sql.sql, Catch::EndsWith(" GROUP BY 1 ORDER BY 1 ASC"));
    CHECK(sql.params.size() == 1);
    std::vector<std::pair<std::string, std::int64_t>> got;
    for (const auto& r : notes) got.emplace_back(r["note"].as<std::string>(), r["n"].as<std::int64_t>());
    REQUIRE(got.size() == 3);
    CHECK(got.front() == std::pair<std::string, std::int64_t>{"none", 3});  // none, solid, thin
    CHECK(notes.count() == 3);
    // A plain column is still grouped by name, and an expression without parameters by itself.
    CHECK_THAT(Entry::objects().values("blog").annotate("n", Count("id")).sql(), Catch::EndsWith("GROUP BY \"entry\".\"blog_id\""));
    CHECK_THAT(Entry::objects().values("u", Upper("headline")).annotate("n", Count("id")).sql(),
               Catch::EndsWith("GROUP BY UPPER(\"entry\".\"headline\")"));
}
