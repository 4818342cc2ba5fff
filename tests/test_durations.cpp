// SPDX-License-Identifier: MIT
// Durations (Django's DurationField) and date arithmetic (DurationExpression, TemporalSubtraction): storing and reading
// them back exactly, comparing them, and computing them in filter, annotate, update and order_by, on both backends.
#include "support/fixture.hpp"
#include "support/render.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace durations_test {
using namespace dorm;
using namespace std::chrono_literals;
using V = std::vector<std::string>;

namespace {

constexpr Duration day = std::chrono::days{1};

/// The test database, with the Experiment table.
struct Experiments : test::Database {
    Experiments() {
        drop_tables<Experiment>();
        create_tables<Experiment>();
    }
    static Experiment make(std::string name, Date assigned, Date completed, Duration estimated, DateTime start,
                           DateTime end, Time opens = {}, std::optional<Duration> slack = {}) {
        Experiment e;
        e.name = std::move(name);
        e.assigned = assigned;
        e.completed = completed;
        e.estimated_time = estimated;
        e.start = start;
        e.end = end;
        e.opens = opens;
        e.slack = slack;
        return e;
    }
};

/// Django's FTimeDeltaTests data, shortened: each experiment took longer than the one before.
struct Deltas : Experiments {
    Deltas() {
        const DateTime t0(2010, 6, 25, 12, 15, 30, 747000);
        // e0: took 0 days, estimated 1 day; e1: 1 day + 1us, estimated 0; e2: 4 days, estimated 2 days;
        // e3: 7 days, estimated 8 days (under its estimate); e4: 10 days and 3 hours, estimated -1 hour.
        Experiment::objects().create(make("e0", t0.date(), t0.date(), day, t0, t0, Time(23, 0), 30min));
        Experiment::objects().create(make("e1", t0.date(), Date(t0.date().sys_days() + std::chrono::days{1}),
                                          Duration::zero(), t0, DateTime(t0.time_point_utc() + day + 1us),
                                          Time(0, 30)));
        Experiment::objects().create(make("e2", Date(2010, 6, 20), Date(2010, 6, 24), 2 * day, t0,
                                          DateTime(t0.time_point_utc() + 4 * day), Time(12, 0), -90s));
        Experiment::objects().create(make("e3", Date(2010, 6, 18), Date(2010, 6, 25), 8 * day, t0,
                                          DateTime(t0.time_point_utc() + 7 * day), Time(6, 0, 0, 1)));
        Experiment::objects().create(make("e4", Date(2010, 6, 15), Date(2010, 6, 25), -1h, t0,
                                          DateTime(t0.time_point_utc() + 10 * day + 3h), Time(18, 0)));
    }
};

/// The names of a QuerySet's objects, in its order.
template <class QS>
V names_in_order(const QS& qs) {
    V out;
    for (const auto& e : qs) out.push_back(e.name);
    return out;
}

}  // namespace

TEST_CASE("A Duration is stored and read back exactly: zero, negative, microseconds, large, NULL", "[durations]") {
    Experiments db;
    const DateTime t(2020, 1, 1);
    const std::vector<Duration> values{Duration::zero(), 1us, -1us, 1s + 1us, -(1s + 1us), 25h, -25h,
                                       std::chrono::days{36524} + 1us,             // a century and a microsecond
                                       -std::chrono::days{3652425},                // ten thousand years back
                                       Duration{std::int64_t{1} << 62},            // about 146,000 years
                                       Duration{-(std::int64_t{1} << 62) - 7}};
    for (std::size_t i = 0; i < values.size(); ++i)
        Experiment::objects().create(Experiments::make(std::to_string(i), t.date(), t.date(), values[i], t, t));
    std::vector<Duration> back;
    for (const auto& e : Experiment::objects().order_by("id")) back.push_back(e.estimated_time);
    CHECK(back == values);
    // values() and values_list() read the column as a Duration.
    auto rows = Experiment::objects().order_by("id").values("estimated_time", "slack");
    CHECK(rows[2]["estimated_time"] == Value(-1us));
    CHECK(rows[2]["estimated_time"].as<Duration>() == -1us);
    CHECK(rows[2]["slack"].is_null());
    CHECK(rows[2]["slack"].as<std::optional<Duration>>() == std::nullopt);
    CHECK(Experiment::objects().order_by("id").values_list<Duration>("estimated_time", flat)[3] == 1s + 1us);
    // NULL in a std::optional<Duration>, and a value in it.
    auto e = Experiment::objects().get("name", "0");
    CHECK_FALSE(e.slack.has_value());
    e.slack = -3h;
    e.save();
    CHECK(Experiment::objects().get("name", "0").slack == std::optional<Duration>(-3h));
    CHECK(Experiment::objects().filter("slack__isnull", true).count() == 10);
}

TEST_CASE("Durations in create(), save(), bulk_create(), update() and get()", "[durations]") {
    Experiments db;
    const DateTime t(2020, 1, 1);
    auto a = Experiment::objects().create({{"name", "a"}, {"assigned", t.date()}, {"completed", t.date()},
                                           {"estimated_time", 90min}, {"start", t}, {"end", t}, {"opens", Time()},
                                           {"slack", std::chrono::seconds{-5}}});
    CHECK(a.estimated_time == 90min);
    Experiment::objects().bulk_create(std::vector<Experiment>{Experiments::make("b", t.date(), t.date(), 2h, t, t),
                                                              Experiments::make("c", t.date(), t.date(), -2h, t, t)});
    CHECK(Experiment::objects().get("estimated_time", 2h).name == "b");
    CHECK(Experiment::objects().get("estimated_time", Duration(-2h)).name == "c");
    CHECK(Experiment::objects().get("slack", -5s).name == "a");
    CHECK(Experiment::objects().filter("name", "c").update({{"estimated_time", 1us}}) == 1);
    CHECK(Experiment::objects().get("name", "c").estimated_time == 1us);
    CHECK(Experiment::objects().filter("name", "c").update({{"slack", std::nullopt}}) == 1);
    CHECK_FALSE(Experiment::objects().get("name", "c").slack.has_value());
    // A value of another type is refused, as Django's DurationField refuses it.
    CHECK_THROWS_AS(Experiment::objects().filter("estimated_time", 5), TypeError);
    CHECK_THROWS_AS(Experiment::objects().filter("start", 5min), TypeError);
    CHECK_THROWS_WITH(Experiment::objects().filter("estimated_time", "01:00:00"),
                      Catch::Contains("expected a Duration but got string"));
}

TEST_CASE("Many durations at once: bulk_create() (COPY on PostgreSQL) and bulk_update()", "[durations]") {
    Experiments db;
    const DateTime t(2020, 1, 1);
    std::vector<Experiment> many;
    for (int i = 0; i < 150; ++i) {  // past copy_min_rows
        Duration d = (i % 2 ? -1 : 1) * (std::chrono::days{i} + std::chrono::microseconds{i});
        many.push_back(Experiments::make(std::to_string(i), t.date(), t.date(), d, t, t, Time(),
                                         i % 3 ? std::optional<Duration>(d * 2) : std::nullopt));
    }
    auto saved = Experiment::objects().bulk_create(many);
    std::int64_t i = 0;
    for (const auto& e : Experiment::objects().order_by("id")) {
        Duration d = (i % 2 ? -1 : 1) * (std::chrono::days{i} + std::chrono::microseconds{i});
        CHECK(e.estimated_time == d);
        CHECK(e.slack == (i % 3 ? std::optional<Duration>(d * 2) : std::nullopt));
        ++i;
    }
    CHECK(i == 150);
    for (auto& e : saved) {
        e.estimated_time = -e.estimated_time + 1us;
        e.slack = std::nullopt;
    }
    Experiment::objects().bulk_update(saved, {"estimated_time", "slack"});
    auto e7 = Experiment::objects().get("name", "7");
    CHECK(e7.estimated_time == std::chrono::days{7} + 8us);
    CHECK_FALSE(e7.slack.has_value());
    CHECK(Experiment::objects().filter("slack__isnull", true).count() == 150);
}

TEST_CASE("Duration lookups: exact, gt, gte, lt, lte, range, in, isnull, exclude", "[durations]") {
    Deltas db;
    CHECK(names_in_order(Experiment::objects().filter("estimated_time", Duration::zero())) == V{"e1"});
    CHECK(names_in_order(Experiment::objects().filter("estimated_time__gt", 1h).order_by("name")) == V{"e0", "e2", "e3"});
    CHECK(names_in_order(Experiment::objects().filter("estimated_time__gte", day).order_by("name")) == V{"e0", "e2", "e3"});
    CHECK(names_in_order(Experiment::objects().filter("estimated_time__lt", Duration::zero())) == V{"e4"});
    CHECK(names_in_order(Experiment::objects().filter("estimated_time__lte", 0s).order_by("name")) == V{"e1", "e4"});
    CHECK(names_in_order(Experiment::objects().filter("estimated_time__range", std::vector<Value>{-1h, day}).order_by("name")) ==
          V{"e0", "e1", "e4"});
    CHECK(names_in_order(Experiment::objects().filter("estimated_time__in", std::vector<Value>{2 * day, -1h}).order_by("name")) ==
          V{"e2", "e4"});
    CHECK(names_in_order(Experiment::objects().filter("slack__isnull", false).order_by("name")) == V{"e0", "e2"});
    CHECK(names_in_order(Experiment::objects().filter("slack__lt", 0s)) == V{"e2"});
    CHECK(names_in_order(Experiment::objects().exclude("estimated_time__gt", Duration::zero()).order_by("name")) == V{"e1", "e4"});
    CHECK(names_in_order(Experiment::objects().order_by("-estimated_time")) == V{"e3", "e2", "e0", "e1", "e4"});
}

TEST_CASE("A datetime or date plus or minus a duration (DurationExpression)", "[durations]") {
    Deltas db;
    // Django's test_delta_add / test_delta_subtract: the experiments that ended within a delta of their start.
    CHECK(names_in_order(Experiment::objects().filter("end__lt", F("start") + 4 * day).order_by("name")) == V{"e0", "e1"});
    CHECK(names_in_order(Experiment::objects().filter("end__lte", F("start") + 4 * day).order_by("name")) ==
          V{"e0", "e1", "e2"});
    CHECK(names_in_order(Experiment::objects().filter("start__gt", F("end") - 4 * day).order_by("name")) == V{"e0", "e1"});
    CHECK(names_in_order(Experiment::objects().filter("start__gt", F("end") - (day + 1us)).order_by("name")) == V{"e0"});
    // A duration plus a datetime, the duration first; a duration field as the delta.
    CHECK(names_in_order(Experiment::objects().filter("end__gt", std::chrono::days{5} + F("start")).order_by("name")) ==
          V{"e3", "e4"});
    CHECK(names_in_order(Experiment::objects().filter("end__lt", F("start") + F("estimated_time")).order_by("name")) ==
          V{"e0", "e3"});
    // The value computed: a DateTime, to the microsecond, also from a Date (a Date moved is a DateTime, as
    // PostgreSQL's date + interval is a timestamp).
    auto row = Experiment::objects()
                   .filter("name", "e1")
                   .values("name", "later", F("start") + (day + 1us), "earlier", F("start") - 1us, "due",
                           F("assigned") + F("estimated_time"), "due_late", F("completed") + 36h, "before",
                           F("completed") - 1us)
                   .get();
    CHECK(row["later"] == Value(DateTime(2010, 6, 26, 12, 15, 30, 747001)));
    CHECK(row["earlier"] == Value(DateTime(2010, 6, 25, 12, 15, 30, 746999)));
    CHECK(row["due"] == Value(DateTime(2010, 6, 25)));
    CHECK(row["due_late"] == Value(DateTime(2010, 6, 27, 12)));
    CHECK(row["before"] == Value(DateTime(2010, 6, 25, 23, 59, 59, 999999)));
    // update() with a DurationExpression, and NULL in one (a NULL delta gives NULL).
    Experiment::objects().filter("name", "e1").update({{"start", F("start") + 1h}, {"end", F("end") - 1h}});
    auto e1 = Experiment::objects().get("name", "e1");
    CHECK(e1.start == DateTime(2010, 6, 25, 13, 15, 30, 747000));
    CHECK(e1.end == DateTime(2010, 6, 26, 11, 15, 30, 747001));
    CHECK(Experiment::objects().filter("name", "e1").values("v", F("start") + F("slack")).get()["v"].is_null());
}

TEST_CASE("A time plus or minus a duration wraps around midnight", "[durations]") {
    Deltas db;
    auto row = Experiment::objects()
                   .filter("name", "e0")  // opens at 23:00
                   .values("name", "later", F("opens") + 90min, "earlier", F("opens") - 1us, "back",
                           F("opens") - 25h)
                   .get();
    CHECK(row["later"] == Value(Time(0, 30)));
    CHECK(row["earlier"] == Value(Time(22, 59, 59, 999999)));
    CHECK(row["back"] == Value(Time(22, 0)));
    CHECK(Experiment::objects().filter("opens__gt", F("opens") - 1us).count() == 5);  // none opens at midnight
    CHECK(names_in_order(Experiment::objects().exclude("opens__lt", F("opens") + 1h)) == V{"e0"});  // 23:00 + 1h is 00:00
}

TEST_CASE("The difference of two datetimes, dates or times is a duration (TemporalSubtraction)", "[durations]") {
    Deltas db;
    auto took = Experiment::objects().order_by("name").values_list<Duration>(F("end") - F("start"), flat);
    CHECK(std::vector<Duration>(took.begin(), took.end()) ==
          std::vector<Duration>{Duration::zero(), day + 1us, 4 * day, 7 * day, 10 * day + 3h});
    auto days = Experiment::objects().order_by("name").values_list<Duration>(F("completed") - F("assigned"), flat);
    CHECK(std::vector<Duration>(days.begin(), days.end()) ==
          std::vector<Duration>{Duration::zero(), day, 4 * day, 7 * day, 10 * day});
    // Negative: start - end.
    CHECK(Experiment::objects().filter("name", "e4").values("v", F("start") - F("end")).get()["v"] ==
          Value(-(10 * day + 3h)));
    // A datetime minus a date, a date minus a datetime.
    auto row = Experiment::objects()
                   .filter("name", "e1")
                   .values("name", "a", F("end") - F("completed"), "b", F("assigned") - F("end"))
                   .get();
    CHECK(row["a"] == Value(12h + 15min + 30s + 747001us));
    CHECK(row["b"] == Value(-(day + 12h + 15min + 30s + 747001us)));
    // Times.
    CHECK(Experiment::objects().filter("name", "e3").values("v", F("opens") - Time(7, 0)).get()["v"] ==
          Value(-(1h - 1us)));
    // Django's test_date_subtraction / test_datetime_subtraction / test_durationfield_add.
    CHECK(names_in_order(Experiment::objects().filter("estimated_time__gt", F("end") - F("start")).order_by("name")) ==
          V{"e0", "e3"});
    CHECK(names_in_order(Experiment::objects().filter("estimated_time__lt", F("completed") - F("assigned")).order_by("name")) ==
          V{"e1", "e2", "e4"});
    // A Date moved by whole days compares with a Date column (on SQLite too, where it is then a date's text).
    CHECK(names_in_order(Experiment::objects().filter("completed", F("assigned") + (F("end") - F("start"))).order_by("name")) ==
          V{"e0", "e2", "e3"});
    CHECK(names_in_order(Experiment::objects().filter("completed__lt", F("assigned") + 7 * day).order_by("name")) ==
          V{"e0", "e1", "e2"});
    CHECK(names_in_order(Experiment::objects().filter("assigned__gt", F("completed") - 5 * day).order_by("name")) ==
          V{"e0", "e1", "e2"});
    CHECK(names_in_order(Experiment::objects().order_by((F("end") - F("start")).desc())) == V{"e4", "e3", "e2", "e1", "e0"});
    CHECK(names_in_order(Experiment::objects()
                    .annotate("over", F("end") - F("start") - F("estimated_time"))
                    .filter("over__gt", Duration::zero())
                    .order_by("over")) == V{"e1", "e2", "e4"});
}

TEST_CASE("Durations added, subtracted, multiplied and divided", "[durations]") {
    Deltas db;
    auto e2 = Experiment::objects().filter("name", "e2");  // estimated 2 days, slack -90s
    auto value = [&](const Expression& x) { return e2.values("v", x).get()["v"]; };
    CHECK(value(F("estimated_time") + F("slack")) == Value(2 * day - 90s));
    CHECK(value(F("estimated_time") - F("slack")) == Value(2 * day + 90s));
    CHECK(value(F("estimated_time") + 1us) == Value(2 * day + 1us));
    CHECK(value(ExpressionWrapper(F("estimated_time") * 3, FieldKind::duration)) == Value(6 * day));
    CHECK(value(ExpressionWrapper(2 * F("slack"), FieldKind::duration)) == Value(Duration(-3min)));
    CHECK(value(ExpressionWrapper(F("slack") / 4, FieldKind::duration)) == Value(Duration(-22500000us)));
    CHECK(value(ExpressionWrapper(F("slack") * 1.5, FieldKind::duration)) == Value(Duration(-135s)));
    CHECK(value(ExpressionWrapper(F("estimated_time") / 3, FieldKind::duration)) == Value(Duration(57600000000us)));
    // update() multiplies without a wrapper (Django resolves no type there), a scalar field as the factor too.
    Experiment::objects().update({{"scalar", 2}});
    CHECK(Experiment::objects().filter("name", "e2").update({{"estimated_time", F("estimated_time") * F("scalar")}}) == 1);
    CHECK(Experiment::objects().get("name", "e2").estimated_time == 4 * day);
    Experiment::objects().update({{"estimated_time", F("estimated_time") * 2}});
    CHECK(Experiment::objects().get("name", "e4").estimated_time == -2h);
    CHECK(names_in_order(Experiment::objects()
                    .annotate("twice", ExpressionWrapper(F("estimated_time") * 2, FieldKind::duration))
                    .filter("twice__gt", 10 * day)
                    .order_by("name")) == V{"e2", "e3"});
    // Aggregates of durations are durations.
    auto agg = Experiment::objects().filter("name__in", std::vector<Value>{"e0", "e2"}).aggregate(
        "sum", Sum("estimated_time"), "max", Max("estimated_time"), "avg", Avg("slack"));
    CHECK(agg["sum"] == Value(10 * day));
    CHECK(agg["max"] == Value(8 * day));
    CHECK(agg["avg"] == Value(Duration(855s)));  // (30min - 90s) / 2
}

TEST_CASE("Mixed types Django cannot infer are a FieldError; operators a duration has not a DatabaseError",
          "[durations]") {
    Deltas db;
    auto eval = [](const Expression& e) { return Experiment::objects().values("v", e).size(); };
    CHECK_THROWS_WITH(eval(F("estimated_time") * 2),
                      Catch::Contains("Cannot infer type of '*' expression involving these types: DurationField, "
                                      "BigIntegerField"));
    CHECK_THROWS_AS(eval(F("estimated_time") * 2), FieldError);
    CHECK_THROWS_WITH(eval(F("name") + 1h), Catch::Contains("Cannot infer type of '+' expression involving these "
                                                            "types: CharField, DurationField"));
    CHECK_THROWS_WITH(eval(F("assigned") + F("completed")),
                      Catch::Contains("Cannot infer type of '+' expression involving these types: DateField, DateField"));
    CHECK_THROWS_AS(eval(F("estimated_time") - F("start")), FieldError);
    CHECK_THROWS_AS(eval(F("estimated_time") * F("estimated_time")), FieldError);
    CHECK_THROWS_AS(eval(F("opens") - F("assigned")), FieldError);
    CHECK_THROWS_AS(eval(F("start") * F("start")), FieldError);
    // '%' of a duration: Django's "Invalid connector for timedelta" on SQLite, the server's error on PostgreSQL.
    CHECK_THROWS_AS(eval(ExpressionWrapper(F("estimated_time") % 2, FieldKind::duration)), DatabaseError);
}

TEST_CASE("The SQL of duration arithmetic on each database", "[durations]") {
    test::RenderDatabases dbs;
    auto sqlite = [](const Expression& e) { return test::render<Experiment>(e, "render_sqlite"); };
    auto pg = [](const Expression& e) { return test::render<Experiment>(e, "render_pg"); };
    CHECK(sqlite(F("start") + 1h) == R"(dorm_format_dtdelta('+', "experiment"."start", 3600000000))");
    CHECK(pg(F("start") + 1h) == R"(("experiment"."start" + '3600000000 microseconds'::interval))");
    CHECK(sqlite(F("end") - F("start")) == R"(dorm_timestamp_diff("experiment"."end", "experiment"."start"))");
    CHECK(pg(F("end") - F("start")) == R"(("experiment"."end" - "experiment"."start"))");
    CHECK(pg(F("completed") - F("assigned")) ==
          R"((interval '1 day' * ("experiment"."completed" - "experiment"."assigned")))");
    CHECK(sqlite(F("opens") - F("opens")) == R"(dorm_time_diff("experiment"."opens", "experiment"."opens"))");
    CHECK(sqlite(F("estimated_time") + F("slack")) == R"(("experiment"."estimated_time" + "experiment"."slack"))");
    CHECK(sqlite(ExpressionWrapper(F("estimated_time") * 2, FieldKind::duration)) ==
          R"(dorm_format_dtdelta('*', "experiment"."estimated_time", 2))");
}

TEST_CASE("PostgreSQL intervals with days and months read as psycopg reads them", "[durations]") {
    Experiments db;
    if (!test::is_postgresql()) return;
    Experiment::objects().create(Experiments::make("x", Date(2020, 1, 1), Date(2020, 1, 1), 0s, DateTime(2020, 1, 1),
                                                   DateTime(2020, 1, 1)));
    auto interval = [](std::string_view text) {
        return Experiment::objects()
            .values("v", RawSQL(fmt::format("SELECT INTERVAL '{}'", text), {}, FieldKind::duration))
            .get()["v"];
    };
    CHECK(interval("1 day 02:00:00.000001") == Value(day + 2h + 1us));
    CHECK(interval("1 mon") == Value(30 * day));  // a month is 30 days
    CHECK(interval("1 year 2 mons 3 days") == Value((365 + 60 + 3) * day));
    CHECK(interval("-1 year -1 mon 04:00") == Value(-(365 + 30) * day + 4h));
    // Without a type asked for, an interval cell still reads as a Duration.
    auto raw = Experiment::objects().values("v", RawSQL("SELECT INTERVAL '-1 day'", {})).get()["v"];
    CHECK(raw == Value(-day));
    // An interval stored with days by another client reads back the same.
    Experiment::objects().update({{"estimated_time", RawSQL("INTERVAL '2 days 3 hours'", {})}});
    CHECK(Experiment::objects().get("name", "x").estimated_time == 2 * day + 3h);
    CHECK_THROWS_AS(interval("170000000 years"), DataError);  // past int64 microseconds, within PostgreSQL's range
}

TEST_CASE("Extract of a duration: its days, hours, minutes and seconds on PostgreSQL, Django's errors", "[durations]") {
    Experiments db;
    const DateTime t0(2020, 1, 1);
    Experiment::objects().create(Experiments::make("long", t0.date(), t0.date(), day + 2h + 3min + 4s + 500000us, t0,
                                                   DateTime(t0.time_point_utc() + 2 * day + 5h + 1us)));
    Experiment::objects().create(Experiments::make("negative", t0.date(), t0.date(), -90s, t0, t0));
    auto part = [](const char* name, const Expression& e) {
        return Experiment::objects().filter("name", name).values("v", e).get()["v"];
    };
    // Django refuses the parts a duration does not have, on every backend (at annotate(); dorm: when compiled).
    CHECK_THROWS_WITH(part("long", ExtractYear("estimated_time")),
                      Catch::Contains("Cannot extract component 'year' from DurationField 'estimated_time'."));
    CHECK_THROWS_AS(part("long", ExtractWeekDay("estimated_time")), ValueError);
    CHECK_THROWS_AS(part("long", ExtractQuarter("estimated_time")), ValueError);
    CHECK_THROWS_WITH(part("long", ExtractHour("estimated_time", "Asia/Tokyo")),
                      Catch::Contains("tzinfo can only be used with DateTimeField."));
    if (!test::is_postgresql()) {
        // SQLite stores durations as integers: Django's ValueError.
        CHECK_THROWS_WITH(part("long", ExtractDay("estimated_time")),
                          Catch::Contains("Extract requires native DurationField database support."));
        CHECK_THROWS_AS(part("long", ExtractSecond("estimated_time")), ValueError);
        return;
    }
    // The interval's own fields, as psycopg writes a timedelta: days, then the time within a day.
    CHECK(part("long", ExtractDay("estimated_time")) == Value(1));
    CHECK(part("long", ExtractHour("estimated_time")) == Value(2));
    CHECK(part("long", ExtractMinute("estimated_time")) == Value(3));
    CHECK(part("long", ExtractSecond("estimated_time")) == Value(4));  // whole seconds
    // -90 s is Python's timedelta(days=-1, seconds=86310): day -1, 23:58:30.
    CHECK(part("negative", ExtractDay("estimated_time")) == Value(-1));
    CHECK(part("negative", ExtractHour("estimated_time")) == Value(23));
    CHECK(part("negative", ExtractMinute("estimated_time")) == Value(58));
    CHECK(part("negative", ExtractSecond("estimated_time")) == Value(30));
    // Of a computed duration (TemporalSubtraction), and in a filter.
    CHECK(part("long", ExtractDay(F("end") - F("start"))) == Value(2));
    CHECK(part("long", ExtractHour(F("end") - F("start"))) == Value(5));
    CHECK(Experiment::objects().annotate("d", ExtractDay("estimated_time")).filter("d__lt", 0).count() == 1);
    // Stored durations still read back exactly.
    CHECK(Experiment::objects().get("name", "long").estimated_time == day + 2h + 3min + 4s + 500000us);
    CHECK(Experiment::objects().get("name", "negative").estimated_time == -90s);
}

TEST_CASE("Durations in repr, sql(), dumps() and loads()", "[durations]") {
    CHECK(fmt::format("{}", Value(Duration::zero())) == "00:00:00");
    CHECK(fmt::format("{}", Value(day + 2h + 3min + 4s + 5us)) == "1 02:03:04.000005");
    CHECK(fmt::format("{}", Value(-1us)) == "-1 23:59:59.999999");
    CHECK(fmt::format("{}", Value(-3 * day)) == "-3 00:00:00");
    CHECK(Value(5min).type_name() == "Duration");
    Experiments db;
    Experiment::objects().create(Experiments::make("r", Date(2020, 1, 1), Date(2020, 1, 1), -(day + 1s),
                                                   DateTime(2020, 1, 1), DateTime(2020, 1, 1)));
    CHECK(repr(Experiment::objects().values("estimated_time", "slack").get()) ==
          "{'estimated_time': -2 23:59:59, 'slack': None}");
    Deltas data;
    auto qs = Experiment::objects().filter("estimated_time__gt", -90s).order_by("name");
    CHECK(qs.sql().find(test::is_postgresql() ? R"("experiment"."estimated_time" > '-90000000 microseconds'::interval)"
                                               : R"("experiment"."estimated_time" > -90000000)") != std::string::npos);
    auto text = qs.dumps();
    CHECK(text.find("(duration -90000000)") != std::string::npos);
    auto back = QuerySet<Experiment>::loads(text);
    CHECK(back.sql_with_params().params == qs.sql_with_params().params);
    CHECK(names_in_order(back) == V{"e0", "e1", "e2", "e3"});
    auto arithmetic = Experiment::objects().filter("end__lt", F("start") + F("estimated_time")).order_by("name");
    auto loaded = QuerySet<Experiment>::loads(arithmetic.dumps());
    CHECK(loaded.sql() == arithmetic.sql());
    CHECK(names_in_order(loaded) == V{"e0", "e3"});
}

}  // namespace durations_test
