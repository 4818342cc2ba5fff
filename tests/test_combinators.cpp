// SPDX-License-Identifier: MIT
// union_(), intersection() and difference(), and what may follow them.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

using namespace dorm;
using V = std::vector<std::string>;

// Ratings: Lennon 5, Reunion 3, Pancakes 4, Soup 1, Election 2.

TEST_CASE("union_, intersection and difference combine QuerySets", "[combinators]") {
    test::BlogData data;
    auto low = Entry::objects().filter("rating__lte", 2);
    auto high = Entry::objects().filter("rating__gte", 4);
    auto mid = Entry::objects().filter("rating__gte", 2).filter("rating__lte", 4);
    CHECK(test::headlines(low.union_(high).order_by("headline")) == V{"Election", "Lennon returns", "Pancakes", "Soup"});
    CHECK(low.union_(mid).count() == 4);          // Election once: UNION removes duplicates
    CHECK(low.union_(mid, true).count() == 5);    // UNION ALL keeps them
    CHECK(low.union_(mid, high).count() == 5);
    CHECK(test::headlines(mid.intersection(high)) == V{"Pancakes"});
    CHECK(test::headlines(mid.difference(high).order_by("-rating")) == V{"Beatles reunion", "Election"});
    CHECK(low.union_(high).exists());
    CHECK_FALSE(low.intersection(high).exists());
    // A part that matches nothing drops out; intersecting with it matches nothing.
    CHECK(low.union_(Entry::objects().none()).count() == 2);
    CHECK(low.intersection(Entry::objects().none()).count() == 0);
    CHECK(mid.difference(Entry::objects().none()).count() == 3);
    // Django's EmptyQuerySet rules (ticket #32116): none().union(qs) is qs, its ordering kept; an intersection
    // with none(), or none().difference(), is that none(), which filter() may still follow.
    auto ordered = Entry::objects().order_by("rating");
    CHECK(test::headlines(Entry::objects().none().union_(ordered)) == test::headlines(ordered));
    CHECK(test::headlines(Entry::objects().none().union_(Entry::objects().none(), ordered).order_by("-rating")) ==
          V{"Lennon returns", "Pancakes", "Beatles reunion", "Election", "Soup"});
    CHECK(Entry::objects().none().union_(low, high).count() == 4);
    CHECK(Entry::objects().none().union_(Entry::objects().none()).count() == 0);
    CHECK(low.intersection(Entry::objects().none()).filter("rating", 1).count() == 0);
    CHECK(Entry::objects().none().difference(low).filter("rating", 1).count() == 0);
}

TEST_CASE("a combined QuerySet can be ordered, sliced, counted and narrowed with values()", "[combinators]") {
    test::BlogData data;
    auto both = Entry::objects().filter("rating__lte", 2).union_(Entry::objects().filter("rating__gte", 4));
    CHECK(test::headlines(both.order_by("-rating").slice(1, 3)) == V{"Pancakes", "Election"});
    CHECK(both.order_by("rating")[0].headline == "Soup");
    auto heads = both.order_by("-headline").values_list<std::string>("headline", dorm::flat);
    CHECK(std::vector<std::string>(heads.begin(), heads.end()) == V{"Soup", "Pancakes", "Lennon returns", "Election"});
    CHECK(both.values("rating").order_by("rating").first()->get<int>("rating") == 1);
    // Different models combine when the columns match: names are the first QuerySet's.
    auto names = Blog::objects().values_list<std::string>("name", dorm::flat)
                     .union_(Entry::objects().filter("rating", 5).values_list<std::string>("headline", dorm::flat))
                     .order_by("name");
    CHECK(std::vector<std::string>(names.begin(), names.end()) == V{"Beatles Blog", "Cooking", "Lennon returns", "News"});
    // Django's add_ordering() checks a name against the model at the call (FieldError); a field that is not
    // selected is refused by the database when the query runs.
    CHECK_THROWS_AS(both.order_by("body"), dorm::FieldError);
    CHECK_THROWS_AS(both.order_by("-body"), dorm::FieldError);
    // Names of the parts' selected columns are not checked against the model.
    auto counted = Entry::objects().filter("rating", 1).annotate("n", dorm::Count("authors")).values("headline", "n")
                       .union_(Entry::objects().filter("rating", 2).annotate("n", dorm::Count("authors")).values("headline", "n"));
    CHECK(counted.order_by("-n").size() == 2);
    CHECK_THROWS_AS(both.values("rating").order_by("headline").size(), DatabaseError);
}

TEST_CASE("only slicing, order_by, count, exists and values may follow a set operation", "[combinators]") {
    test::BlogData data;
    auto both = Entry::objects().filter("rating", 1).union_(Entry::objects().filter("rating", 2));
    CHECK_THROWS_WITH(both.filter("rating", 1), Catch::Contains("Calling QuerySet.filter() after union() is not supported."));
    CHECK_THROWS_WITH(Entry::objects().intersection(Entry::objects()).exclude("rating", 1),
                      Catch::Contains("after intersection()"));
    CHECK_THROWS_AS(both.annotate("x", F("rating")), NotSupportedError);
    CHECK_THROWS_AS(both.aggregate(Sum("rating")), NotSupportedError);
    CHECK_THROWS_AS(both.delete_(), NotSupportedError);
    // Ordering or slicing a part: PostgreSQL takes it in parentheses, SQLite cannot.
    auto sliced = Entry::objects().order_by("-rating").slice(0, 1).union_(Entry::objects().filter("rating", 1));
    if (test::is_postgresql()) {
        CHECK(test::sorted(sliced) == V{"Lennon returns", "Soup"});
    } else {
        CHECK_THROWS_AS(sliced.size(), DatabaseError);
    }
}
