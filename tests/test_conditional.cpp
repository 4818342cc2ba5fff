// SPDX-License-Identifier: MIT
// Query expressions: Value, Case / When, Coalesce, Cast, Func, Subquery / OuterRef, Exists.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

using namespace dorm;
using V = std::vector<std::string>;

// Data (rating, note): Lennon 5 -, Reunion 3 solid, Pancakes 4 -, Soup 1 thin, Election 2 -.

TEST_CASE("Case / When computes per-row values usable in filter and order_by", "[conditional]") {
    test::BlogData data;
    auto grade = Case({When(Q("rating__gte", 4), Value("good")), When(Q("rating__gte", 2), Value("fair"))}, Value("poor"));
    auto rows = Entry::objects().annotate("grade", grade).order_by("id").values_list<std::string, std::string>("headline", "grade");
    std::vector<std::string> grades;
    for (const auto& [h, g] : rows) grades.push_back(g);
    CHECK(grades == V{"good", "fair", "good", "poor", "fair"});
    CHECK(test::sorted(Entry::objects().annotate("grade", grade).filter("grade", "fair")) == V{"Beatles reunion", "Election"});
    // No default: NULL where nothing matches. A result that names a field reads it.
    auto bonus = Entry::objects().annotate("b", Case({When(Q("rating__gte", 4), "number_of_comments")})).order_by("id");
    std::vector<std::optional<int>> b;
    for (const auto& e : bonus) b.push_back(e.annotations().get<std::optional<int>>("b"));
    CHECK(b == std::vector<std::optional<int>>{10, std::nullopt, 3, std::nullopt, std::nullopt});
    // Conditional aggregation, as in Django's docs.
    auto counts = Entry::objects().aggregate("good", Sum(Case({When(Q("rating__gte", 4), Value(1))}, Value(0))));
    CHECK(counts.get<int>("good") == 2);
    CHECK(test::headlines(Entry::objects().order_by(Case({When(Q("headline", "Soup"), Value(0))}, Value(1)), "headline").slice(0, 2)) ==
          V{"Soup", "Beatles reunion"});
    CHECK_THROWS_AS(When(Q(), Value(1)), ValueError);  // Django's type
    CHECK_THROWS_AS(When(~Q(), Value(1)), ValueError);
}

TEST_CASE("Coalesce, Cast, Func and Value", "[conditional]") {
    test::BlogData data;
    auto notes = Entry::objects().annotate("note", Coalesce("rating_note", Value("none"))).order_by("id")
                     .values_list<std::string>("note", dorm::flat);
    CHECK(std::vector<std::string>(notes.begin(), notes.end()) == V{"none", "solid", "none", "thin", "none"});
    auto text = Entry::objects().annotate("r", Cast("rating", FieldKind::text)).filter("headline", "Soup").values_list<std::string>("r", dorm::flat);
    CHECK(text.get() == "1");
    auto real = Entry::objects().annotate("r", Cast("rating", FieldKind::real) / 2).filter("headline", "Soup").values_list<double>("r", dorm::flat);
    CHECK(real.get() == 0.5);
    CHECK(Entry::objects().annotate("u", Func("UPPER", {"headline"})).filter("u", "SOUP").count() == 1);
    CHECK(Entry::objects().annotate("len", Length("headline")).filter("len__gte", 14).count() == 2);
    CHECK_THROWS_AS(Func("UPPER(x); DROP", {"headline"}), ValueError);
    auto one = Entry::objects().annotate("one", Value(1), "label", Value("x")).first();
    CHECK(one->annotations() == Row{{"one", 1}, {"label", "x"}});
}

TEST_CASE("Subquery and OuterRef bring a value from a related query", "[conditional]") {
    test::BlogData data;
    auto newest = Entry::objects().filter("blog", OuterRef("pk")).order_by("-pub_date").values("headline").slice(0, 1);
    auto blogs = Blog::objects().annotate("newest", Subquery(newest)).order_by("name");
    std::vector<std::string> heads;
    for (const auto& b : blogs) heads.push_back(b.annotations().get<std::string>("newest"));
    CHECK(heads == V{"Beatles reunion", "Soup", "Election"});
    auto top = Entry::objects().filter("blog", OuterRef("blog")).order_by("-rating").values("rating").slice(0, 1);
    CHECK(test::sorted(Entry::objects().filter("rating", Subquery(top))) == V{"Election", "Lennon returns", "Pancakes"});
    auto empty_blog = Blog::objects().create({{"name", "Empty"}});
    CHECK(Blog::objects().annotate("newest", Subquery(newest)).get("pk", empty_blog.id).annotations()["newest"].is_null());
    CHECK_THROWS_AS(newest.size(), ValueError);  // an OuterRef outside a subquery
    auto by_newest = Blog::objects().exclude("pk", empty_blog.id).order_by(Subquery(newest));
    std::vector<std::string> order;
    for (const auto& b : by_newest) order.push_back(b.name);
    CHECK(order == V{"Beatles Blog", "News", "Cooking"});  // Beatles reunion < Election < Soup
}

TEST_CASE("OuterRef(OuterRef()) reaches the query around the outer one", "[conditional]") {
    test::BlogData data;
    // Entries some other entry of their blog beats: the innermost query compares with the outermost entry's rating
    // (two levels out) and with the middle query's blog (one level out).
    auto beaten = Entry::objects().filter(Exists(Blog::objects().filter("pk", OuterRef("blog")).filter(
        Exists(Entry::objects().filter("blog", OuterRef("pk")).filter("rating__gt", OuterRef(OuterRef("rating")))))));
    CHECK(test::sorted(beaten) == V{"Beatles reunion", "Soup"});
    CHECK(beaten.count() == 2);
    // Through a join the outermost query makes for it (blog__name), in a Subquery's value.
    auto rivals = Entry::objects().annotate(
        "rival", Subquery(Entry::objects()
                              .filter("pk", OuterRef("pk"))
                              .annotate("n", Subquery(Blog::objects()
                                                          .filter("name", OuterRef(OuterRef("blog__name")))
                                                          .values("tagline")
                                                          .slice(0, 1)))
                              .values("n")));
    std::vector<std::string> taglines;
    for (const auto& e : rivals.order_by("headline")) taglines.push_back(e.annotations().get<std::string>("rival"));
    CHECK(taglines == V{"All the latest Beatles news.", "Daily", "All the latest Beatles news.", "Recipes", "Recipes"});
    // dumps() / loads() keep the levels.
    auto back = QuerySet<Entry>::loads(beaten.dumps());
    CHECK(back.sql() == beaten.sql());
    CHECK(beaten.dumps().find("(OuterRef (OuterRef \"rating\"))") != std::string::npos);
    // One level of subquery cannot reach two levels out; OuterRef wraps only names and OuterRefs.
    CHECK_THROWS_WITH(Entry::objects().filter(Exists(Blog::objects().filter("pk", OuterRef(OuterRef("blog"))))).count(),
                      Catch::Contains("reference to an outer query"));
    CHECK_THROWS_AS(OuterRef(F("rating")), TypeError);
}

TEST_CASE("Subquery of values() with an aggregate, as in the reference", "[conditional]") {
    test::BlogData data;
    Blog::objects().create({{"name", "Empty"}, {"tagline", ""}});
    // Django's example: comments.annotate(total=Sum("length")).values("total") per post.
    auto per_blog = Entry::objects().filter("blog", OuterRef("pk")).order_by().values("blog");
    auto total = per_blog.annotate("total", Sum("rating")).values("total");
    std::vector<std::optional<std::int64_t>> totals;
    for (const auto& b : Blog::objects().annotate("total", Subquery(total)).order_by("name"))
        totals.push_back(b.annotations().get<std::optional<std::int64_t>>("total"));
    CHECK(totals == std::vector<std::optional<std::int64_t>>{8, 5, std::nullopt, 2});
    // Filtered on: blogs whose entries' ratings add up to more than 4.
    std::vector<std::string> names;
    for (const auto& b : Blog::objects().annotate("total", Subquery(total)).filter("total__gt", 4).order_by("name"))
        names.push_back(b.name);
    CHECK(names == V{"Beatles Blog", "Cooking"});
}

TEST_CASE("Exists filters and annotates", "[conditional]") {
    test::BlogData data;
    Blog::objects().create({{"name", "Empty"}});
    auto has_good = Exists(Entry::objects().filter("blog", OuterRef("pk")).filter("rating__gte", 4));
    auto names = [](const auto& qs) {
        std::vector<std::string> out;
        for (const auto& b : qs.order_by("name")) out.push_back(b.name);
        return out;
    };
    CHECK(names(Blog::objects().filter(has_good)) == V{"Beatles Blog", "Cooking"});
    CHECK(names(Blog::objects().exclude(has_good)) == V{"Empty", "News"});
    CHECK(names(Blog::objects().filter(~Q(Exists(Entry::objects().filter("blog", OuterRef("pk")))))) == V{"Empty"});
    auto flags = Blog::objects().annotate("good", has_good).order_by("name").values_list<bool>("good", dorm::flat);
    CHECK(std::vector<bool>(flags.begin(), flags.end()) == std::vector<bool>{true, true, false, false});
    CHECK_THROWS_AS(Blog::objects().filter(F("name")), TypeError);
}
