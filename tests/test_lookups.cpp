// SPDX-License-Identifier: MIT
// Every field lookup and transform, with Django's semantics on both backends: case, wildcards, NULLs,
// week numbering, year ranges, lookups across ForeignKeys, and the errors for misuse.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

using dorm::Date;
using dorm::DateTime;
using dorm::Q;
using dorm::Time;
using test::headlines;
using test::sorted;
using V = std::vector<std::string>;

namespace {
/// Entries whose headlines exercise case, non-ASCII letters and LIKE / GLOB wildcards.
struct PatternData : test::BlogData {
    PatternData() {
        add(news, "100% sure", Date(2009, 1, 1), 3, 0, 0, std::nullopt);
        add(news, "snake_case", Date(2009, 1, 2), 3, 0, 0, std::nullopt);
        add(news, "back\\slash", Date(2009, 1, 3), 3, 0, 0, std::nullopt);
        add(news, "Élan Vital", Date(2009, 1, 4), 3, 0, 0, std::nullopt);
        add(news, "star*glob?[x]", Date(2009, 1, 5), 3, 0, 0, std::nullopt);
    }
};
}  // namespace

TEST_CASE("exact and iexact: case, non-ASCII letters, None", "[lookups]") {
    PatternData data;
    CHECK(sorted(Entry::objects().filter("headline__exact", "soup")).empty());
    CHECK(sorted(Entry::objects().filter("headline", "Soup")) == V{"Soup"});
    CHECK(sorted(Entry::objects().filter("headline__iexact", "sOUP")) == V{"Soup"});
    CHECK(sorted(Entry::objects().filter("headline__iexact", "élan vital")) == V{"Élan Vital"});
    CHECK(sorted(Entry::objects().filter("headline__iexact", "100% SURE")) == V{"100% sure"});
    CHECK(sorted(Entry::objects().filter("headline__iexact", "100_ sure")).empty());  // _ is not a wildcard
    CHECK(Entry::objects().filter("rating_note__iexact", std::nullopt).count() == 8);  // iexact=None is IS NULL
}

TEST_CASE("contains / icontains: case-sensitive on every backend, wildcards literal", "[lookups]") {
    PatternData data;
    CHECK(sorted(Entry::objects().filter("headline__contains", "lennon")).empty());
    CHECK(sorted(Entry::objects().filter("headline__contains", "Lennon")) == V{"Lennon returns"});
    CHECK(sorted(Entry::objects().filter("headline__icontains", "lENNON")) == V{"Lennon returns"});
    CHECK(sorted(Entry::objects().filter("headline__icontains", "ÉLAN")) == V{"Élan Vital"});
    CHECK(sorted(Entry::objects().filter("headline__contains", "%")) == V{"100% sure"});
    CHECK(sorted(Entry::objects().filter("headline__contains", "_")) == V{"snake_case"});
    CHECK(sorted(Entry::objects().filter("headline__contains", "\\")) == V{"back\\slash"});
    CHECK(sorted(Entry::objects().filter("headline__icontains", "*GLOB?[")) == V{"star*glob?[x]"});
    CHECK(sorted(Entry::objects().filter("headline__contains", "")).size() == 10);
    CHECK(Entry::objects().filter("rating_note__contains", "o").count() == 1);  // NULLs never match
}

TEST_CASE("startswith / endswith and their i- forms", "[lookups]") {
    PatternData data;
    CHECK(sorted(Entry::objects().filter("headline__startswith", "s")) == V{"snake_case", "star*glob?[x]"});
    CHECK(sorted(Entry::objects().filter("headline__startswith", "S")) == V{"Soup"});
    CHECK(sorted(Entry::objects().filter("headline__istartswith", "s")) == V{"Soup", "snake_case", "star*glob?[x]"});
    CHECK(sorted(Entry::objects().filter("headline__startswith", "100%")) == V{"100% sure"});
    CHECK(sorted(Entry::objects().filter("headline__startswith", "100_")).empty());
    CHECK(sorted(Entry::objects().filter("headline__startswith", "É")) == V{"Élan Vital"});
    CHECK(sorted(Entry::objects().filter("headline__istartswith", "é")) == V{"Élan Vital"});
    CHECK(sorted(Entry::objects().filter("headline__endswith", "S")).empty());
    CHECK(sorted(Entry::objects().filter("headline__endswith", "s")) == V{"Lennon returns", "Pancakes"});
    CHECK(sorted(Entry::objects().filter("headline__iendswith", "RETURNS")) == V{"Lennon returns"});
    CHECK(sorted(Entry::objects().filter("headline__endswith", "[x]")) == V{"star*glob?[x]"});
    CHECK(sorted(Entry::objects().filter("headline__endswith", "_case")) == V{"snake_case"});
    CHECK(sorted(Entry::objects().filter("headline__iendswith", "VITAL")) == V{"Élan Vital"});
    CHECK(Entry::objects().filter("headline__startswith", "").count() == 10);
    CHECK(Entry::objects().exclude("headline__startswith", "s").count() == 8);
}

TEST_CASE("regex and iregex", "[lookups]") {
    PatternData data;
    CHECK(sorted(Entry::objects().filter("headline__regex", "^[A-Z][a-z]+$")) == V{"Election", "Pancakes", "Soup"});
    CHECK(sorted(Entry::objects().filter("headline__regex", "^s")) == V{"snake_case", "star*glob?[x]"});
    CHECK(sorted(Entry::objects().filter("headline__iregex", "^s[ot]")) == V{"Soup", "star*glob?[x]"});
    CHECK(sorted(Entry::objects().filter("headline__regex", "re(tu|un)")) == V{"Beatles reunion", "Lennon returns"});
    CHECK(Entry::objects().filter("rating_note__regex", ".*").count() == 2);  // NULL never matches
}

TEST_CASE("in with lists and QuerySets; range", "[lookups]") {
    test::BlogData data;
    CHECK(sorted(Entry::objects().filter("rating__in", {1, 2})) == V{"Election", "Soup"});
    CHECK(sorted(Entry::objects().filter("headline__in", std::vector<std::string>{"Soup", "Nope"})) == V{"Soup"});
    auto b_blogs = Blog::objects().filter("name__startswith", "B");
    CHECK(sorted(Entry::objects().filter("blog__in", b_blogs)) == V{"Beatles reunion", "Lennon returns"});
    CHECK(sorted(Entry::objects().exclude("blog__in", b_blogs)) == V{"Election", "Pancakes", "Soup"});
    CHECK(Entry::objects().filter("blog__in", Blog::objects().none()).count() == 0);
    CHECK(sorted(Entry::objects().filter("rating__range", {2, 4})) == V{"Beatles reunion", "Election", "Pancakes"});
    CHECK(sorted(Entry::objects().filter("pub_date__range", std::vector<Date>{Date(2005, 1, 1), Date(2005, 12, 31)})) ==
          V{"Lennon returns", "Pancakes"});
    CHECK_THROWS_AS(Entry::objects().filter("rating__range", {1, 2, 3}), dorm::TypeError);
    CHECK_THROWS_AS(Entry::objects().filter("rating__range", 1), dorm::TypeError);
}

TEST_CASE("date transforms on a Date field, chained with comparisons", "[lookups]") {
    test::BlogData data;  // pub_dates: 2005-03-20, 2006-07-01, 2005-01-30, 2007-11-05, 2008-02-14
    CHECK(sorted(Entry::objects().filter("pub_date__year", 2005)) == V{"Lennon returns", "Pancakes"});
    CHECK(sorted(Entry::objects().filter("pub_date__year__gte", 2007)) == V{"Election", "Soup"});
    CHECK(sorted(Entry::objects().filter("pub_date__year__gt", 2007)) == V{"Election"});
    CHECK(sorted(Entry::objects().filter("pub_date__year__lt", 2006)) == V{"Lennon returns", "Pancakes"});
    CHECK(sorted(Entry::objects().filter("pub_date__year__lte", 2006)) == V{"Beatles reunion", "Lennon returns", "Pancakes"});
    CHECK(sorted(Entry::objects().filter("pub_date__year__in", {2006, 2008})) == V{"Beatles reunion", "Election"});
    CHECK(sorted(Entry::objects().filter("pub_date__month", 11)) == V{"Soup"});
    CHECK(sorted(Entry::objects().filter("pub_date__month__in", {1, 2})) == V{"Election", "Pancakes"});
    CHECK(sorted(Entry::objects().filter("pub_date__day", 1)) == V{"Beatles reunion"});
    CHECK(sorted(Entry::objects().filter("pub_date__quarter", 1)) == V{"Election", "Lennon returns", "Pancakes"});
    // 2005-03-20 Sunday, 2006-07-01 Saturday, 2005-01-30 Sunday, 2007-11-05 Monday, 2008-02-14 Thursday
    CHECK(sorted(Entry::objects().filter("pub_date__week_day", 1)) == V{"Lennon returns", "Pancakes"});  // Sunday = 1
    CHECK(sorted(Entry::objects().filter("pub_date__week_day", 7)) == V{"Beatles reunion"});
    CHECK(sorted(Entry::objects().filter("pub_date__iso_week_day", 1)) == V{"Soup"});  // Monday = 1
    CHECK(sorted(Entry::objects().filter("pub_date__iso_week_day", 7)) == V{"Lennon returns", "Pancakes"});
    CHECK(sorted(Entry::objects().filter("pub_date__week", 7)) == V{"Election"});
    // The year lookup is a range on the column, so an index can serve it (Django's YearLookup).
    auto sql = Entry::objects().filter("pub_date__year", 2005).sql();
    CHECK(sql.find("BETWEEN '2005-01-01' AND '2005-12-31'") != std::string::npos);
    CHECK(Entry::objects().filter("pub_date__year__gt", 2005).sql().find("> '2005-12-31'") != std::string::npos);
}

TEST_CASE("ISO week numbering at year boundaries", "[lookups]") {
    test::BlogData data;
    // 2005-01-01 is a Saturday: ISO week 53 of 2004. 2008-12-29 is a Monday: ISO week 1 of 2009.
    auto a = data.add(data.news, "Boundary 2005", Date(2005, 1, 1), 0, 0, 0, std::nullopt);
    auto b = data.add(data.news, "Boundary 2008", Date(2008, 12, 29), 0, 0, 0, std::nullopt);
    CHECK(sorted(Entry::objects().filter("pub_date__week", 53)) == V{"Boundary 2005"});
    CHECK(sorted(Entry::objects().filter("pub_date__iso_year", 2004)) == V{"Boundary 2005"});
    CHECK(sorted(Entry::objects().filter("pub_date__year", 2004)).empty());
    CHECK(sorted(Entry::objects().filter("pub_date__iso_year", 2009)) == V{"Boundary 2008"});
    CHECK(sorted(Entry::objects().filter("pub_date__year", 2008)) == V{"Boundary 2008", "Election"});
    CHECK(sorted(Entry::objects().filter("pub_date__week", 1).filter("pub_date__year", 2008)) == V{"Boundary 2008"});
    CHECK(sorted(Entry::objects().filter("pub_date__iso_year__gte", 2009)) == V{"Boundary 2008"});
    CHECK(a.id != b.id);
}

TEST_CASE("datetime and time transforms", "[lookups]") {
    test::BlogData data;
    auto e = Entry::objects().get("headline", "Soup");
    auto post = [&](std::string text, DateTime when) {
        Comment c;
        c.entry = e;
        c.text = std::move(text);
        c.posted = when;
        c.save();
    };
    post("late", DateTime(2010, 12, 31, 23, 59, 58, 999999));
    post("early", DateTime(2011, 1, 1, 0, 0, 1));
    post("noon", DateTime(2011, 6, 15, 12, 30, 45, 500000));
    auto texts = [](auto qs) {
        std::vector<std::string> out;
        for (const auto& c : qs.order_by("posted")) out.push_back(c.text);
        return out;
    };
    CHECK(texts(Comment::objects().filter("posted__year", 2011)) == V{"early", "noon"});
    CHECK(texts(Comment::objects().filter("posted__year__lte", 2010)) == V{"late"});
    CHECK(texts(Comment::objects().filter("posted__date", Date(2010, 12, 31))) == V{"late"});
    CHECK(texts(Comment::objects().filter("posted__date__gte", Date(2011, 1, 1))) == V{"early", "noon"});
    CHECK(texts(Comment::objects().filter("posted__date__lt", Date(2011, 1, 1))) == V{"late"});
    CHECK(texts(Comment::objects().filter("posted__time__gt", Time(12, 0))) == V{"late", "noon"});
    CHECK(texts(Comment::objects().filter("posted__hour", 12)) == V{"noon"});
    CHECK(texts(Comment::objects().filter("posted__minute", 59)) == V{"late"});
    CHECK(texts(Comment::objects().filter("posted__second", 45)) == V{"noon"});
    CHECK(texts(Comment::objects().filter("posted__second__gte", 58)) == V{"late"});
    CHECK(texts(Comment::objects().filter("posted__month", 6).filter("posted__day", 15)) == V{"noon"});
    CHECK(texts(Comment::objects().filter("posted__week_day", 7)) == V{"early"});  // 2011-01-01: Saturday
    CHECK(texts(Comment::objects().filter("posted__iso_year", 2010)) == V{"late", "early"});  // ISO week 52 of 2010
}

TEST_CASE("lookups across ForeignKeys join the related table", "[lookups]") {
    test::BlogData data;
    CHECK(sorted(Entry::objects().filter("blog__name__icontains", "beatles")) == V{"Beatles reunion", "Lennon returns"});
    CHECK(sorted(Entry::objects().filter("blog__name", "News")) == V{"Election"});
    CHECK(sorted(Entry::objects().exclude("blog__name__startswith", "C")) ==
          V{"Beatles reunion", "Election", "Lennon returns"});
    CHECK(sorted(Entry::objects().filter("blog__name__in", {"Cooking", "News"}).filter("blog__tagline", "Recipes")) ==
          V{"Pancakes", "Soup"});
    auto sql = Entry::objects().filter("blog__name", "News").filter("blog__tagline", "Daily").sql();
    CHECK(sql.find("INNER JOIN \"blog\" ON (\"entry\".\"blog_id\" = \"blog\".\"id\")") != std::string::npos);
    CHECK(sql.find("JOIN", sql.find("JOIN") + 1) == std::string::npos);  // one join, reused
    CHECK(headlines(Entry::objects().order_by("blog__name", "headline")) ==
          V{"Beatles reunion", "Lennon returns", "Pancakes", "Soup", "Election"});
    CHECK(Entry::objects().filter("blog__name", "News").count() == 1);
    CHECK(Entry::objects().filter("blog__name", "News").update({{"rating", 9}}) == 1);
    CHECK(Entry::objects().get("headline", "Election").rating == 9);
    CHECK(Entry::objects().filter("blog__name", "Cooking").delete_().total == 2);
    CHECK(Entry::objects().count() == 3);
}

TEST_CASE("a NULL-able ForeignKey joins with LEFT OUTER JOIN; exclude keeps the NULL rows", "[lookups]") {
    test::BlogData data;
    auto john = Author::objects().create({{"name", "John"}});
    auto e = Entry::objects().get("headline", "Soup");
    Comment::objects().create({{"entry", e.id}, {"author", john.id}, {"text", "by john"}});
    Comment::objects().create({{"entry", e.id}, {"author", std::nullopt}, {"text", "anonymous"}});
    auto texts = [](auto qs) {
        std::vector<std::string> out;
        for (const auto& c : qs.order_by("text")) out.push_back(c.text);
        return out;
    };
    CHECK(texts(Comment::objects().filter("author__name", "John")) == V{"by john"});
    CHECK(texts(Comment::objects().exclude("author__name", "John")) == V{"anonymous"});
    CHECK(texts(Comment::objects().filter("author__isnull", true)) == V{"anonymous"});
    CHECK(texts(Comment::objects().filter("author", std::nullopt)) == V{"anonymous"});
    CHECK(texts(Comment::objects().filter("entry__blog__name", "Cooking")) == V{"anonymous", "by john"});
    CHECK(Comment::objects().exclude("author__name", "John").sql().find("LEFT OUTER JOIN \"author\"") !=
          std::string::npos);
    CHECK(texts(Comment::objects().filter("author__name__isnull", true)) == V{"anonymous"});
}

TEST_CASE("misused lookups are FieldErrors and wrong values TypeErrors", "[lookups]") {
    test::Database db;
    CHECK_THROWS_WITH(Sample::objects().filter(dorm::runtime("data__contains"), "1"), Catch::Contains("Unsupported lookup 'contains'"));
    CHECK_THROWS_WITH(Entry::objects().filter(dorm::runtime("pub_date__hour"), 1), Catch::Contains("Cannot apply the 'hour' transform"));
    CHECK_THROWS_AS(Entry::objects().filter(dorm::runtime("headline__year"), 2005), dorm::FieldError);
    CHECK_THROWS_AS(Entry::objects().filter(dorm::runtime("pub_date__year__foo"), 1), dorm::FieldError);
    CHECK_THROWS_AS(Entry::objects().filter("pub_date__year", "2005"), dorm::TypeError);
    CHECK_THROWS_AS(Entry::objects().filter(dorm::runtime("pub_date__date"), Date(2005, 1, 1)), dorm::FieldError);
    CHECK_THROWS_AS(Comment::objects().filter("posted__date", DateTime(2005, 1, 1)), dorm::TypeError);
    CHECK_THROWS_WITH(Entry::objects().filter(dorm::runtime("blog__nmae"), "x"), Catch::Contains("Cannot resolve keyword 'nmae' into field. Choices are: entry, id, links_in, links_out, name, reaction, tagline"));
    CHECK_THROWS_AS(Entry::objects().filter("rating__gt", std::nullopt), dorm::ValueError);
    CHECK_THROWS_AS(Entry::objects().filter("headline__contains", std::nullopt), dorm::ValueError);
}
