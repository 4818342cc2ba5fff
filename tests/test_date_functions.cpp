// SPDX-License-Identifier: MIT
// Django's date functions (dorm/functions.hpp): Extract and its eleven parts, Trunc and its ten kinds, Now, on
// Dates, DateTimes and Times, with NULLs, the pairings Django refuses, and the report Django's documentation builds
// (annotate(month=TruncMonth(...)).values("month").annotate(n=Count("id"))).
#include "support/fixture.hpp"
#include "support/render.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <vector>

namespace date_functions_test {
using namespace dorm;

namespace {
// 2016-01-01 is a Friday in ISO week 53 of 2015: the year, ISO year, week and weekdays all differ from the naive ones.
const DateTime moment(2016, 1, 1, 23, 30, 1, 123456);
const Date day(2015, 12, 31);  // a Thursday, in ISO week 53 of 2015
const Time clock(12, 34, 56, 789000);

struct DatedRow : test::Database {
    DatedRow() {
        ::Sample s;
        s.moment = moment;
        s.day = day;
        s.clock = clock;
        Sample::objects().create(s);
    }
};

Value eval(const Expression& e) { return Sample::objects().values("v", e).get()["v"]; }
std::int64_t integer(const Expression& e) {
    Value v = eval(e);
    REQUIRE(v.holds<std::int64_t>());
    return v.as<std::int64_t>();
}
}  // namespace

TEST_CASE("Extract: every part of a DateTime, a Date and a Time, as an integer", "[date_functions]") {
    DatedRow row;
    CHECK(integer(ExtractYear("moment")) == 2016);
    CHECK(integer(ExtractIsoYear("moment")) == 2015);
    CHECK(integer(ExtractQuarter("moment")) == 1);
    CHECK(integer(ExtractMonth("moment")) == 1);
    CHECK(integer(ExtractWeek("moment")) == 53);
    CHECK(integer(ExtractDay("moment")) == 1);
    CHECK(integer(ExtractWeekDay("moment")) == 6);     // Sunday 1 ... Friday 6
    CHECK(integer(ExtractIsoWeekDay("moment")) == 5);  // Monday 1 ... Friday 5
    CHECK(integer(ExtractHour("moment")) == 23);
    CHECK(integer(ExtractMinute("moment")) == 30);
    CHECK(integer(ExtractSecond("moment")) == 1);  // whole seconds, as Django's ExtractSecond

    CHECK(integer(ExtractYear("day")) == 2015);
    CHECK(integer(ExtractQuarter("day")) == 4);
    CHECK(integer(ExtractWeek("day")) == 53);
    CHECK(integer(ExtractWeekDay("day")) == 5);
    CHECK(integer(ExtractIsoWeekDay("day")) == 4);
    CHECK(integer(Extract("day", "month")) == 12);

    CHECK(integer(ExtractHour("clock")) == 12);
    CHECK(integer(ExtractMinute("clock")) == 34);
    CHECK(integer(ExtractSecond("clock")) == 56);

    // NULL in, NULL out.
    CHECK(eval(ExtractYear("maybe_moment")).is_null());
    // In filters, annotations and ordering.
    CHECK(Sample::objects().annotate("y", ExtractIsoYear("moment")).filter("y", 2015).count() == 1);
    CHECK(Sample::objects().filter("medium", ExtractDay("moment")).count() == 0);
    CHECK(Sample::objects().filter("small__lt", ExtractWeek("day")).count() == 1);
}

TEST_CASE("Extract refuses what Django refuses", "[date_functions]") {
    DatedRow row;
    CHECK_THROWS_AS(Extract("moment", "fortnight"), ValueError);
    CHECK_THROWS_AS(Extract("moment", ""), ValueError);
    CHECK_THROWS_AS(eval(ExtractHour("day")), ValueError);  // a time part of a Date
    CHECK_THROWS_WITH(eval(ExtractHour("day")), Catch::Contains("Cannot extract time component 'hour' from DateField 'day'."));
    CHECK_THROWS_WITH(eval(ExtractYear("text")),
                      Catch::Contains("Extract input expression must be DateField, DateTimeField, TimeField, or DurationField."));
    CHECK_THROWS_AS(eval(ExtractYear("clock")), ValueError);  // a date part of a Time
    CHECK_THROWS_AS(eval(ExtractYear("text")), ValueError);
}

TEST_CASE("Trunc: each kind keeps the type of its argument", "[date_functions]") {
    DatedRow row;
    auto datetime = [](const Expression& e) {
        Value v = eval(e);
        REQUIRE(v.holds<DateTime>());
        return v.as<DateTime>();
    };
    auto date = [](const Expression& e) {
        Value v = eval(e);
        REQUIRE(v.holds<Date>());
        return v.as<Date>();
    };
    auto time = [](const Expression& e) {
        Value v = eval(e);
        REQUIRE(v.holds<Time>());
        return v.as<Time>();
    };
    CHECK(datetime(TruncYear("moment")) == DateTime(2016, 1, 1));
    CHECK(datetime(TruncQuarter("moment")) == DateTime(2016, 1, 1));
    CHECK(datetime(TruncMonth("moment")) == DateTime(2016, 1, 1));
    CHECK(datetime(TruncWeek("moment")) == DateTime(2015, 12, 28));  // its Monday, in the year before
    CHECK(datetime(TruncDay("moment")) == DateTime(2016, 1, 1));
    CHECK(datetime(TruncHour("moment")) == DateTime(2016, 1, 1, 23));
    CHECK(datetime(TruncMinute("moment")) == DateTime(2016, 1, 1, 23, 30));
    CHECK(datetime(TruncSecond("moment")) == DateTime(2016, 1, 1, 23, 30, 1));
    CHECK(date(TruncDate("moment")) == Date(2016, 1, 1));
    CHECK(time(TruncTime("moment")) == Time(23, 30, 1, 123456));

    CHECK(date(TruncYear("day")) == Date(2015, 1, 1));
    CHECK(date(TruncQuarter("day")) == Date(2015, 10, 1));
    CHECK(date(TruncMonth("day")) == Date(2015, 12, 1));
    CHECK(date(TruncWeek("day")) == Date(2015, 12, 28));
    CHECK(date(Trunc("day", "day")) == day);

    CHECK(time(TruncHour("clock")) == Time(12, 0));
    CHECK(time(TruncMinute("clock")) == Time(12, 34));
    CHECK(time(TruncSecond("clock")) == Time(12, 34, 56));

    CHECK(eval(TruncMonth("maybe_moment")).is_null());
    CHECK(eval(TruncDate("maybe_moment")).is_null());

    CHECK_THROWS_AS(Trunc("moment", "fortnight"), ValueError);
    // Django's messages, word for word.
    CHECK_THROWS_WITH(eval(TruncHour("day")), Catch::Contains("Cannot truncate DateField 'day' to DateTimeField."));
    CHECK_THROWS_WITH(eval(TruncDay("clock")), Catch::Contains("Cannot truncate TimeField 'clock' to DateTimeField."));
    CHECK_THROWS_AS(eval(TruncDay("clock")), ValueError);
    CHECK_THROWS_WITH(eval(TruncTime("day")), Catch::Contains("Cannot truncate DateField 'day' to TimeField."));
    CHECK_THROWS_WITH(eval(TruncDate("clock")), Catch::Contains("Cannot truncate TimeField 'clock' to DateField."));
    CHECK_THROWS_WITH(eval(TruncMonth("text")), Catch::Contains("'text' isn't a DateField, TimeField, or DateTimeField."));
    CHECK_THROWS_AS(eval(TruncMonth("text")), TypeError);
    CHECK_THROWS_AS(eval(TruncDate(Length("text"))), TypeError);
    CHECK_THROWS_WITH(eval(TruncMonth(Length("text"))), Catch::Contains("None isn't a DateField"));
    // A date's date and a time's time are themselves, as in Django.
    CHECK(date(TruncDate("day")) == day);
    CHECK(time(TruncTime("clock")) == Time(12, 34, 56, 789000));
}

TEST_CASE("Trunc groups a report: annotate(month=TruncMonth(...)).values(\"month\").annotate(n=Count(\"id\"))",
          "[date_functions]") {
    test::Database db;
    const DateTime moments[] = {DateTime(2015, 1, 31, 23, 59, 59, 999999), DateTime(2015, 1, 1), DateTime(2015, 2, 1),
                                DateTime(2015, 3, 15, 12), DateTime(2015, 3, 31)};
    for (const auto& m : moments) {
        ::Sample s;
        s.moment = m;
        Sample::objects().create(s);
    }
    std::vector<std::pair<DateTime, std::int64_t>> report;
    for (const auto& r : Sample::objects()
                             .annotate("month", TruncMonth("moment"))
                             .values("month")
                             .annotate("n", Count("id"))
                             .order_by("-month"))
        report.emplace_back(r["month"].as<DateTime>(), r["n"].as<std::int64_t>());
    const std::vector<std::pair<DateTime, std::int64_t>> expected{
        {DateTime(2015, 3, 1), 2}, {DateTime(2015, 2, 1), 1}, {DateTime(2015, 1, 1), 2}};
    CHECK(report == expected);
    // Filtered and ordered by a truncation directly.
    CHECK(Sample::objects().filter("moment", TruncDay("moment")).count() == 3);
    auto first = Sample::objects().order_by(ExtractDay("moment").desc(), "id").first();
    REQUIRE(first);
    CHECK(first->moment == moments[0]);
}

TEST_CASE("Now: the statement's time, a DateTime", "[date_functions]") {
    DatedRow row;
    const auto before = DateTime(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
    Value v = eval(Now());
    const auto after = DateTime(std::chrono::system_clock::now() + std::chrono::seconds(1));
    REQUIRE(v.holds<DateTime>());
    CHECK(v.as<DateTime>() >= before);
    CHECK(v.as<DateTime>() <= after);
    CHECK(Sample::objects().filter("moment__lt", Now()).count() == 1);
    CHECK(Sample::objects().filter("moment__gt", Now()).count() == 0);
    // Every row of one statement sees the same time.
    Sample::objects().create(::Sample{});
    auto rows = Sample::objects().values("v", Now()).order_by("id");
    std::vector<Row> all(rows.begin(), rows.end());
    REQUIRE(all.size() == 2);
    CHECK(all[0]["v"] == all[1]["v"]);
}

TEST_CASE("date functions: the SQL each backend writes", "[date_functions]") {
    test::RenderDatabases rendering;
    auto render = [](const Expression& e, const char* db) { return test::render<Sample>(e, db); };
    CHECK_THAT(render(ExtractIsoYear("moment"), "render_sqlite"), Catch::Contains("dorm_extract('iso_year', "));
    CHECK_THAT(render(ExtractIsoYear("moment"), "render_pg"), Catch::Contains("EXTRACT(ISOYEAR FROM "));
    CHECK_THAT(render(TruncMonth("moment"), "render_sqlite"), Catch::Contains("dorm_trunc('month', "));
    CHECK_THAT(render(TruncMonth("moment"), "render_pg"), Catch::Contains("DATE_TRUNC('month', "));
    CHECK_THAT(render(TruncHour("clock"), "render_pg"), Catch::Contains("DATE_TRUNC('hour', \"sample\".\"clock\")::time"));
    CHECK_THAT(render(Now(), "render_pg"), Catch::Contains("STATEMENT_TIMESTAMP()"));
    CHECK_THAT(render(Now(), "render_sqlite"), Catch::Contains("STRFTIME("));
}

}  // namespace date_functions_test
