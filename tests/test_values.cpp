// SPDX-License-Identifier: MIT
// values(), values_list() (tuples, flat, named) and dates() / datetimes().
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

#include <tuple>

using namespace dorm;
using V = std::vector<std::string>;

TEST_CASE("values() yields Rows of every field, a ForeignKey as <name>_id", "[values]") {
    test::BlogData data;
    auto rows = Blog::objects().filter("name__startswith", "Beatles").values();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0] == Row{{"id", data.beatles.id}, {"name", "Beatles Blog"}, {"tagline", "All the latest Beatles news."}});
    CHECK(fmt::format("{}", rows[0]) == fmt::format("{{'id': {}, 'name': 'Beatles Blog', 'tagline': 'All the latest Beatles news.'}}", data.beatles.id));
    auto entry = Entry::objects().filter("headline", "Soup").values().get();
    CHECK(entry.names()[1] == "blog_id");
    CHECK(entry["blog_id"] == Value(data.cooking.id));
    CHECK(entry["pub_date"] == Value(Date(2007, 11, 5)));
    CHECK(entry["rating_note"] == Value("thin"));
    CHECK(Entry::objects().filter("headline", "Pancakes").values().get()["rating_note"].is_null());
}

TEST_CASE("values(fields...) selects fields, paths, annotations and expressions", "[values]") {
    test::BlogData data;
    auto rows = Entry::objects().filter("headline", "Soup").values("blog", "headline", "blog__name", "pub_date__year");
    CHECK(rows.get() == Row{{"blog", data.cooking.id}, {"headline", "Soup"}, {"blog__name", "Cooking"}, {"pub_date__year", 2007}});
    auto lower = Blog::objects().filter("name", "News").values("lower_name", Lower("name"));
    CHECK(lower.get() == Row{{"lower_name", "news"}});
    auto annotated = Entry::objects().annotate("double", F("rating") * 2).filter("headline", "Soup");
    CHECK(annotated.values("headline").get() == Row{{"headline", "Soup"}});
    CHECK(annotated.values("headline", "double").get() == Row{{"headline", "Soup"}, {"double", 2}});
    CHECK(annotated.values().get().contains("double"));
    CHECK(Entry::objects().values("headline").order_by("headline").first()->get<std::string>("headline") == "Beatles reunion");
    CHECK(Entry::objects().values("id").filter("rating__gte", 4).count() == 2);
    CHECK_THROWS_AS(Entry::objects().values("nope"), FieldError);
    CHECK_THROWS_AS(Entry::objects().values("headline").delete_(), TypeError);
    CHECK_THROWS_AS(Entry::objects().values("headline").filter("rating", 100).get(), ObjectDoesNotExist);
}

TEST_CASE("values_list() yields tuples, single values with flat, Rows with named", "[values]") {
    test::BlogData data;
    auto tuples = Entry::objects().order_by("id").values_list<std::int64_t, std::string>("id", "headline");
    REQUIRE(tuples.size() == 5);
    CHECK(std::get<1>(tuples[0]) == "Lennon returns");
    std::vector<std::string> heads;
    for (const auto& [id, headline] : tuples) heads.push_back(headline);
    CHECK(heads == V{"Lennon returns", "Beatles reunion", "Pancakes", "Soup", "Election"});
    auto flat = Entry::objects().order_by("rating").values_list<int>("rating", dorm::flat);
    CHECK(std::vector<int>(flat.begin(), flat.end()) == std::vector<int>{1, 2, 3, 4, 5});
    CHECK(Entry::objects().values_list<std::string>("headline", dorm::flat).get("pk", 3) == "Pancakes");
    auto notes = Entry::objects().order_by("id").values_list<std::optional<std::string>>("rating_note", dorm::flat);
    CHECK(notes[0] == std::nullopt);
    CHECK(notes[1] == "solid");
    auto named = Entry::objects().filter("headline", "Soup").values_list("id", "headline", dorm::named).get();
    CHECK(named.get<std::string>("headline") == "Soup");
    auto upper = Entry::objects().filter("headline", "Soup").values_list<std::string, std::string>("headline", Upper("headline"));
    CHECK(std::get<1>(upper.get()) == "SOUP");
    CHECK_THROWS_WITH((Entry::objects().values_list<int>("id", "rating", dorm::flat)), Catch::Contains("'flat' is not valid"));
    CHECK_THROWS_AS((Entry::objects().values_list<int, int>("id")), TypeError);
    // Django's values_list(flat=True) with no field: each row's first column, the key here.
    auto keys = Entry::objects().order_by("-id").values_list<std::int64_t>(dorm::flat);
    std::vector<std::int64_t> all_ids;
    for (const auto& e : Entry::objects().order_by("-id")) all_ids.push_back(e.id);
    REQUIRE(all_ids.size() > 1);
    CHECK(std::vector<std::int64_t>(keys.begin(), keys.end()) == all_ids);
    auto loaded = dorm::QuerySet<std::int64_t>::loads<Entry>(keys.dumps());  // dumps() / loads() keep it
    CHECK(std::vector<std::int64_t>(loaded.begin(), loaded.end()) == all_ids);
    Country::objects().create({{"code", "fr"}, {"name", "France"}});
    CHECK(Country::objects().values_list<std::string>(dorm::flat).get() == "fr");  // its first field, the key
    // A values_list() QuerySet is a subquery for `in`.
    auto ids = Blog::objects().filter("name__startswith", "B").values_list<std::int64_t>("id", dorm::flat);
    CHECK(test::sorted(Entry::objects().filter("blog__in", ids)) == V{"Beatles reunion", "Lennon returns"});
    CHECK(test::sorted(Entry::objects().filter("blog__in", Blog::objects().filter("name", "News").values("id"))) == V{"Election"});
}

TEST_CASE("dates() lists the distinct truncated dates", "[values]") {
    test::BlogData data;
    auto years = Entry::objects().dates("pub_date", "year");
    CHECK(std::vector<Date>(years.begin(), years.end()) ==
          std::vector<Date>{Date(2005, 1, 1), Date(2006, 1, 1), Date(2007, 1, 1), Date(2008, 1, 1)});
    auto months = Entry::objects().filter("pub_date__year", 2005).dates("pub_date", "month", "DESC");
    CHECK(std::vector<Date>(months.begin(), months.end()) == std::vector<Date>{Date(2005, 3, 1), Date(2005, 1, 1)});
    auto weeks = Entry::objects().filter("headline", "Lennon returns").dates("pub_date", "week");
    CHECK(weeks[0] == Date(2005, 3, 14));  // 2005-03-20 is a Sunday: its ISO week starts on Monday the 14th
    auto days = Entry::objects().filter("headline__contains", "Lennon").dates("pub_date", "day");
    CHECK(std::vector<Date>(days.begin(), days.end()) == std::vector<Date>{Date(2005, 3, 20)});
    CHECK_THROWS_AS(Entry::objects().dates("pub_date", "hour"), ValueError);
    CHECK_THROWS_AS(Entry::objects().dates("pub_date", "day", "UP"), ValueError);
    CHECK_THROWS_AS(Entry::objects().dates("rating", "day"), TypeError);
}

TEST_CASE("datetimes() lists the distinct truncated datetimes in UTC", "[values]") {
    test::BlogData data;
    auto e = Entry::objects().get("headline", "Soup");
    for (auto [h, m] : {std::pair{10, 15}, std::pair{10, 45}, std::pair{23, 5}})
        Comment::objects().create({{"entry", e.id}, {"text", "x"}, {"posted", DateTime(2007, 11, 5, h, m, 30)}});
    auto hours = Comment::objects().datetimes("posted", "hour");
    CHECK(std::vector<DateTime>(hours.begin(), hours.end()) ==
          std::vector<DateTime>{DateTime(2007, 11, 5, 10), DateTime(2007, 11, 5, 23)});
    auto quarter = Comment::objects().datetimes("posted", "month", "DESC");
    CHECK(quarter.size() == 1);
    CHECK(quarter[0] == DateTime(2007, 11, 1));
    CHECK(Comment::objects().datetimes("posted", "minute").size() == 3);
    auto first = [](const char* kind) { return Comment::objects().datetimes("posted", kind)[0]; };
    CHECK(first("year") == DateTime(2007, 1, 1));
    CHECK(first("week") == DateTime(2007, 11, 5));  // a Monday
    CHECK(first("day") == DateTime(2007, 11, 5));
    CHECK(first("minute") == DateTime(2007, 11, 5, 10, 15));
    CHECK(first("second") == DateTime(2007, 11, 5, 10, 15, 30));
    CHECK(Comment::objects().datetimes("posted", "second", "DESC")[0] == DateTime(2007, 11, 5, 23, 5, 30));
    CHECK(Comment::objects().dates("posted", "day")[0] == Date(2007, 11, 5));
    CHECK_THROWS_AS(Entry::objects().datetimes("pub_date", "day"), dorm::ValueError);  // Django's Trunc
    CHECK_THROWS_AS(Sample::objects().dates("clock", "day"), dorm::ValueError);
    CHECK_THROWS_AS(Sample::objects().datetimes("clock", "day"), dorm::ValueError);
    CHECK_THROWS_AS(Sample::objects().dates("text", "day"), TypeError);
    // In a named zone: truncated in local time, returned as the UTC instant (more in test_time_zones.cpp).
    Comment::objects().create({{"entry", e.id}, {"text", "late"}, {"posted", DateTime(2007, 11, 6, 1, 30)}});
    auto in_new_york = Comment::objects().filter("text", "late").datetimes("posted", "day", "ASC", "America/New_York");
    CHECK(in_new_york[0] == DateTime(2007, 11, 5, 5));  // 2007-11-05 20:30 EST -> that day's midnight, EST
}
