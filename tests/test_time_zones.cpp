// SPDX-License-Identifier: MIT
// Time zones (Django's tzinfo): Extract, Trunc, TruncDate, TruncTime and datetimes() in a named zone's wall time, on
// both backends (PostgreSQL's own zone database; on SQLite the system's, through date/tz), with offsets that are not
// whole hours, both sides of a date line, clocks set back and forward, and Django's errors.
#include "support/fixture.hpp"
#include "support/render.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace time_zones_test {
using namespace dorm;

namespace {
// 2016-01-01 23:30:01.123456 UTC: 18:30 on the 1st in New York (-5), 08:30 on the 2nd in Tokyo (+9), 05:00 on the
// 2nd in Kolkata (+5:30), 13:15 on the 2nd in the Chatham Islands (+13:45 in their summer).
const DateTime moment(2016, 1, 1, 23, 30, 1, 123456);

struct Row : test::Database {
    Row() {
        ::Sample s;
        s.moment = moment;
        s.day = Date(2015, 12, 31);
        s.clock = Time(12, 0);
        Sample::objects().create(s);
    }
};

Value eval(const Expression& e) { return Sample::objects().values("v", e).get()["v"]; }
std::int64_t integer(const Expression& e) {
    Value v = eval(e);
    REQUIRE(v.holds<std::int64_t>());
    return v.as<std::int64_t>();
}
DateTime datetime(const Expression& e) {
    Value v = eval(e);
    REQUIRE(v.holds<DateTime>());
    return v.as<DateTime>();
}
}  // namespace

TEST_CASE("Extract in a time zone reads the wall time there", "[time_zones]") {
    Row row;
    CHECK(integer(ExtractHour("moment", "America/New_York")) == 18);
    CHECK(integer(ExtractDay("moment", "America/New_York")) == 1);
    CHECK(integer(ExtractDay("moment", "Asia/Tokyo")) == 2);
    CHECK(integer(ExtractHour("moment", "Asia/Tokyo")) == 8);
    CHECK(integer(ExtractWeekDay("moment", "Asia/Tokyo")) == 7);     // Saturday there, Friday in UTC
    CHECK(integer(ExtractIsoWeekDay("moment", "Asia/Tokyo")) == 6);
    CHECK(integer(ExtractWeek("moment", "Asia/Tokyo")) == 53);
    CHECK(integer(ExtractIsoYear("moment", "Asia/Tokyo")) == 2015);
    CHECK(integer(ExtractHour("moment", "Asia/Kolkata")) == 5);
    CHECK(integer(ExtractMinute("moment", "Asia/Kolkata")) == 0);
    CHECK(integer(ExtractMinute("moment", "Pacific/Chatham")) == 15);
    CHECK(integer(ExtractSecond("moment", "Pacific/Chatham")) == 1);
    CHECK(integer(Extract("moment", "quarter", "Asia/Tokyo")) == 1);
    // "UTC" is the default, spelt out.
    CHECK(integer(ExtractHour("moment", "UTC")) == 23);
    // NULL in, NULL out.
    CHECK(eval(ExtractHour("maybe_moment", "Asia/Tokyo")).is_null());
    // In a filter, as in an annotation.
    CHECK(Sample::objects().annotate("h", ExtractHour("moment", "Asia/Tokyo")).filter("h", 8).count() == 1);
    CHECK(Sample::objects().filter("medium__lt", ExtractDay("moment", "Asia/Tokyo")).count() == 1);
}

TEST_CASE("Trunc in a time zone: the instant of the truncated wall time", "[time_zones]") {
    Row row;
    CHECK(datetime(TruncDay("moment", "Asia/Tokyo")) == DateTime(2016, 1, 1, 15));  // 2016-01-02 00:00 +09
    CHECK(datetime(TruncDay("moment", "America/New_York")) == DateTime(2016, 1, 1, 5));
    CHECK(datetime(TruncMonth("moment", "America/New_York")) == DateTime(2016, 1, 1, 5));
    CHECK(datetime(TruncYear("moment", "Asia/Tokyo")) == DateTime(2015, 12, 31, 15));
    CHECK(datetime(TruncWeek("moment", "Asia/Tokyo")) == DateTime(2015, 12, 27, 15));  // Monday 2015-12-28 there
    CHECK(datetime(TruncQuarter("moment", "America/New_York")) == DateTime(2016, 1, 1, 5));
    CHECK(datetime(TruncHour("moment", "Asia/Kolkata")) == DateTime(2016, 1, 1, 23, 30));  // 05:00 +05:30
    CHECK(datetime(TruncMinute("moment", "Pacific/Chatham")) == DateTime(2016, 1, 1, 23, 30));
    CHECK(datetime(TruncSecond("moment", "Pacific/Chatham")) == DateTime(2016, 1, 1, 23, 30, 1));
    CHECK(datetime(Trunc("moment", "day", "UTC")) == DateTime(2016, 1, 1));

    Value date = eval(TruncDate("moment", "Asia/Tokyo"));
    REQUIRE(date.holds<Date>());
    CHECK(date.as<Date>() == Date(2016, 1, 2));
    Value time = eval(TruncTime("moment", "America/New_York"));
    REQUIRE(time.holds<Time>());
    CHECK(time.as<Time>() == Time(18, 30, 1, 123456));

    CHECK(eval(TruncDay("maybe_moment", "Asia/Tokyo")).is_null());
    CHECK(eval(TruncDate("maybe_moment", "Asia/Tokyo")).is_null());
}

TEST_CASE("Trunc in a time zone across clock changes", "[time_zones]") {
    test::Database db;
    auto add = [](const DateTime& t) {
        ::Sample s;
        s.moment = t;
        return Sample::objects().create(s).id;
    };
    // New York set its clocks back at 2020-11-01 02:00 EDT: 01:30 happened twice, at 05:30 and 06:30 UTC. Both
    // truncate to 01:00 there, an hour that also happened twice: its later instant (PostgreSQL's choice).
    auto first = add(DateTime(2020, 11, 1, 5, 30));
    auto second = add(DateTime(2020, 11, 1, 6, 30));
    auto hour_of = [](std::int64_t id) {
        return Sample::objects().filter("id", id).values("v", TruncHour("moment", "America/New_York")).get()["v"];
    };
    CHECK(hour_of(first).as<DateTime>() == DateTime(2020, 11, 1, 6));
    CHECK(hour_of(second).as<DateTime>() == DateTime(2020, 11, 1, 6));
    // São Paulo set its clocks forward at 2018-11-04 00:00 -03: that midnight never happened. The day is read with
    // the offset before the change.
    auto spring = add(DateTime(2018, 11, 4, 12));
    CHECK(Sample::objects().filter("id", spring).values("v", TruncDay("moment", "America/Sao_Paulo")).get()["v"].as<DateTime>() ==
          DateTime(2018, 11, 4, 3));
    // A day across the change is still one group per local day.
    auto days = Sample::objects()
                    .filter("id__in", std::vector<std::int64_t>{first, second})
                    .annotate("d", TruncDay("moment", "America/New_York"))
                    .values("d")
                    .annotate("n", Count("id"));
    REQUIRE(days.count() == 1);
    CHECK(days.get()["n"].as<std::int64_t>() == 2);
    CHECK(days.get()["d"].as<DateTime>() == DateTime(2020, 11, 1, 4));  // midnight EDT
}

TEST_CASE("A report by local month: annotate(month=TruncMonth(..., tzinfo)).values(\"month\").annotate(n=Count())",
          "[time_zones]") {
    test::Database db;
    // 2016-01-31 20:00 in New York is already February in UTC; 2016-02-01 03:00 UTC is still January there.
    for (auto t : {DateTime(2016, 2, 1, 1), DateTime(2016, 2, 1, 3), DateTime(2016, 2, 1, 6), DateTime(2016, 1, 15)}) {
        ::Sample s;
        s.moment = t;
        Sample::objects().create(s);
    }
    auto rows = Sample::objects()
                    .annotate("month", TruncMonth("moment", "America/New_York"))
                    .values("month")
                    .annotate("n", Count("id"))
                    .order_by("month");
    std::vector<std::pair<DateTime, std::int64_t>> got;
    for (const auto& r : rows) got.emplace_back(r["month"].as<DateTime>(), r["n"].as<std::int64_t>());
    CHECK(got == std::vector<std::pair<DateTime, std::int64_t>>{{DateTime(2016, 1, 1, 5), 3}, {DateTime(2016, 2, 1, 5), 1}});
    // In UTC the same rows split the other way.
    CHECK(Sample::objects().annotate("month", TruncMonth("moment")).values("month").annotate("n", Count("id")).count() == 2);
    CHECK(Sample::objects().filter("moment__lt", DateTime(2016, 2, 1)).count() == 1);
}

TEST_CASE("datetimes() in a time zone, on both backends", "[time_zones]") {
    test::Database db;
    for (auto t : {DateTime(2007, 11, 6, 1, 30), DateTime(2007, 11, 5, 12), DateTime(2007, 11, 6, 12)}) {
        ::Sample s;
        s.moment = t;
        Sample::objects().create(s);
    }
    // In New York (-5) the first two are both on the 5th.
    auto days = Sample::objects().datetimes("moment", "day", "ASC", "America/New_York");
    REQUIRE(days.size() == 2);
    CHECK(days[0] == DateTime(2007, 11, 5, 5));
    CHECK(days[1] == DateTime(2007, 11, 6, 5));
    CHECK(Sample::objects().datetimes("moment", "day").size() == 2);
    CHECK(Sample::objects().datetimes("moment", "hour", "DESC", "Asia/Kolkata")[0] == DateTime(2007, 11, 6, 11, 30));
}

TEST_CASE("Time zones: Django's errors", "[time_zones]") {
    Row row;
    // tzinfo applies to DateTimes only (Django's ValueError, when the query is compiled).
    CHECK_THROWS_WITH(eval(ExtractYear("day", "Asia/Tokyo")), Catch::Contains("tzinfo can only be used with DateTimeField."));
    CHECK_THROWS_AS(eval(ExtractHour("clock", "Asia/Tokyo")), ValueError);
    CHECK_THROWS_AS(eval(TruncMonth("day", "Asia/Tokyo")), ValueError);
    CHECK_THROWS_AS(eval(TruncHour("clock", "Asia/Tokyo")), ValueError);
    CHECK_THROWS_AS(eval(TruncDate("day", "Asia/Tokyo")), ValueError);
    // Django's other checks come first, as in Django.
    CHECK_THROWS_WITH(eval(ExtractHour("day", "Asia/Tokyo")), Catch::Contains("Cannot extract time component 'hour'"));
    // A zone the database does not know: DataError (PostgreSQL's "time zone ... not recognized"); the name is
    // bound, never written into the SQL.
    CHECK_THROWS_AS(eval(TruncDay("moment", "Mars/Olympus_Mons")), DataError);
    CHECK_THROWS_AS(eval(ExtractHour("moment", "Mars/Olympus_Mons")), DataError);
    CHECK_THROWS_AS(Sample::objects().datetimes("moment", "day", "ASC", "Mars/Olympus_Mons").size(), DataError);
    CHECK_THROWS_AS(eval(ExtractHour("moment", "'; DROP TABLE sample; --")), DataError);
    CHECK(Sample::objects().count() == 1);
}

TEST_CASE("Time zones: the SQL each backend writes, the zone bound", "[time_zones]") {
    test::RenderDatabases rendering;
    // The statement as sent (placeholders) and its parameters: the zone is a parameter, never SQL text.
    auto render = [](const Expression& e, const char* db) {
        auto c = Sample::objects().using_(db).values("v", e).sql_with_params();
        REQUIRE(!c.params.empty());
        CHECK(c.params.back() == Value("Asia/Tokyo"));
        return c.sql.substr(7, c.sql.find(" AS \"v\" FROM ") - 7);
    };
    CHECK(render(TruncDay("moment", "Asia/Tokyo"), "render_sqlite") == "dorm_trunc('day', \"sample\".\"moment\", ?)");
    CHECK(render(ExtractHour("moment", "Asia/Tokyo"), "render_sqlite") ==
          "dorm_extract('hour', \"sample\".\"moment\", ?)");
    CHECK(render(TruncDate("moment", "Asia/Tokyo"), "render_sqlite") == "dorm_extract('date', \"sample\".\"moment\", ?)");
    CHECK(render(TruncDay("moment", "Asia/Tokyo"), "render_pg") ==
          "(DATE_TRUNC('day', \"sample\".\"moment\" AT TIME ZONE $1) AT TIME ZONE $2)");
    CHECK(render(ExtractHour("moment", "Asia/Tokyo"), "render_pg") ==
          "EXTRACT(HOUR FROM (\"sample\".\"moment\" AT TIME ZONE $1))::integer");
    CHECK(render(TruncTime("moment", "Asia/Tokyo"), "render_pg") == "(\"sample\".\"moment\" AT TIME ZONE $1)::time");
    // dumps() / loads() keep the zone.
    auto qs = Sample::objects().annotate("d", TruncDay("moment", "Asia/Tokyo"));
    CHECK_THAT(qs.dumps(), Catch::Contains("\"Asia/Tokyo\""));
    CHECK(QuerySet<Sample>::loads(qs.dumps()).using_("render_pg").sql() == qs.using_("render_pg").sql());
}

TEST_CASE("A fixed offset named as Python names it (\"UTC+05:00\") is east of UTC, as in Django", "[time_zones]") {
    Row row;  // 2016-01-01 23:30:01.123456 UTC
    // Django's split_tzname_delta(): the wall time is the instant plus the offset, read in the zone before it.
    CHECK(integer(ExtractHour("moment", "UTC+05:00")) == 4);
    CHECK(integer(ExtractDay("moment", "UTC+05:00")) == 2);
    CHECK(integer(ExtractHour("moment", "UTC-03:30")) == 20);
    CHECK(integer(ExtractMinute("moment", "UTC-03:30")) == 0);
    CHECK(integer(ExtractMinute("moment", "UTC+5:45")) == 15);
    CHECK(integer(ExtractHour("moment", "UTC+00:00")) == 23);
    CHECK(integer(ExtractHour("moment", "UTC-00:00")) == 23);
    CHECK(integer(ExtractHour("moment", "+05:00")) == 4);  // an offset alone: from UTC, the connection's zone
    CHECK(integer(ExtractSecond("moment", "UTC+05:00:30")) == 31);  // Python names an offset with seconds so
    CHECK(integer(ExtractMinute("moment", "UTC+05:00:30")) == 30);
    // The truncated wall time's instant: midnight of the 2nd at +05:00 is 19:00 on the 1st in UTC.
    CHECK(datetime(TruncDay("moment", "UTC+05:00")) == DateTime(2016, 1, 1, 19));
    CHECK(datetime(TruncHour("moment", "UTC-03:30")) == DateTime(2016, 1, 1, 23, 30));
    auto days = Sample::objects().datetimes("moment", "day", "ASC", "UTC+05:00");
    REQUIRE(days.size() == 1);
    CHECK(days[0] == DateTime(2016, 1, 1, 19));
    // A zone database name keeps its own meaning: Etc/GMT+5 is five hours west (POSIX signs). Only an offset with a
    // colon is split off (Django on Python 3.11 would split "Etc/GMT-14", which the zone database names otherwise).
    CHECK(integer(ExtractHour("moment", "Etc/GMT+5")) == 18);
    CHECK(integer(ExtractHour("moment", "Etc/GMT-14")) == 13);

    // PostgreSQL reads "UTC+05:00" as POSIX does (west): Django's _prepare_tzname_delta() sends the other sign.
    test::RenderDatabases rendering;
    auto zone_bound = [](const Expression& e, const char* db) {
        return Sample::objects().using_(db).values("v", e).sql_with_params().params.back();
    };
    CHECK(zone_bound(ExtractHour("moment", "UTC+05:00"), "render_pg") == Value("UTC-05:00"));
    CHECK(zone_bound(TruncDay("moment", "UTC-03:30"), "render_pg") == Value("UTC+03:30"));
    CHECK(zone_bound(ExtractHour("moment", "Etc/GMT+5"), "render_pg") == Value("Etc/GMT+5"));
    CHECK(zone_bound(ExtractHour("moment", "UTC+05:00"), "render_sqlite") == Value("UTC+05:00"));
    CHECK(zone_bound(ExtractHour("moment", "UTC+05:00:30"), "render_pg") == Value("UTC-05:00:30"));
}

TEST_CASE("A statement learnt for one time zone is not reused for another", "[time_zones]") {
    Row row;  // 2016-01-01 23:30:01.123456 UTC: the 2nd in Tokyo, the 1st at -03:30
    // TruncDate's statement has no kind argument, so its shape would be cached by the zone's class alone; PostgreSQL
    // binds an offset's name changed (its sign flipped), so the zone is part of the shape instead.
    for (int i = 0; i < 3; ++i) CHECK(eval(TruncDate("moment", "Asia/Tokyo")) == Value(Date(2016, 1, 2)));
    CHECK(eval(TruncDate("moment", "UTC-03:30")) == Value(Date(2016, 1, 1)));
    CHECK(eval(TruncDate("moment", "UTC-03:30")) == Value(Date(2016, 1, 1)));
    CHECK(eval(TruncDate("moment", "Asia/Tokyo")) == Value(Date(2016, 1, 2)));
    CHECK(eval(TruncTime("moment", "Asia/Tokyo")) == Value(Time(8, 30, 1, 123456)));
    CHECK(eval(TruncTime("moment", "UTC+05:00")) == Value(Time(4, 30, 1, 123456)));
}

TEST_CASE("A wall time past year 9999 fails the statement on SQLite, not the program", "[time_zones]") {
    test::Database db;
    ::Sample s;
    s.moment = DateTime(9999, 12, 31, 23);
    Sample::objects().create(s);
    // dorm's SQLite functions are C++ called from SQLite's C: an error inside becomes the statement's error (Django's
    // Python function raising there is an OperationalError too). PostgreSQL's timestamps reach past 9999.
    if (!test::is_postgresql()) CHECK_THROWS_AS(eval(TruncYear("moment", "UTC+05:00")), dorm::DatabaseError);
    CHECK(eval(TruncYear("moment", "UTC")) == Value(DateTime(9999, 1, 1)));
    auto params = Sample::objects().using_("render_pg").datetimes("moment", "day", "ASC", "UTC+05:00").sql_with_params().params;
    REQUIRE(!params.empty());
    for (const Value& p : params) CHECK(p == Value("UTC-05:00"));
}

}  // namespace time_zones_test
