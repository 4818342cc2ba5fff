// SPDX-License-Identifier: MIT
// Value types round-trip exactly, NULLs included; wrong value types are rejected, never converted.
#include "support/fixture.hpp"
#include "support/render.hpp"

#include <catch2/catch.hpp>

#include <limits>

namespace {
Sample full_sample() {
    Sample s;
    s.flag = true;
    s.small = -32768;
    s.medium = std::numeric_limits<int>::max();
    s.big = std::numeric_limits<std::int64_t>::min();
    s.real = 3.141592653589793;
    s.text = "naïve café ☕ — 日本語 'quoted' \"double\" %_\\";
    s.data = dorm::Bytes{std::byte{0}, std::byte{1}, std::byte{0xff}, std::byte{0}, std::byte{'\''}};
    s.day = dorm::Date(1999, 12, 31);
    s.moment = dorm::DateTime(2024, 2, 29, 23, 59, 58, 123456);
    s.clock = dorm::Time(7, 8, 9, 10);
    s.maybe_int = 0;
    s.maybe_text = "";
    s.maybe_moment = dorm::DateTime(1970, 1, 1);
    return s;
}
}  // namespace

TEST_CASE("every value type round-trips exactly", "[types]") {
    test::Database db;
    Sample s = full_sample();
    s.save();
    Sample back = Sample::objects().get("pk", s.id);
    CHECK(back.flag == s.flag);
    CHECK(back.small == s.small);
    CHECK(back.medium == s.medium);
    CHECK(back.big == s.big);
    CHECK(back.real == s.real);
    CHECK(back.text == s.text);
    CHECK(back.data == s.data);
    CHECK(back.day == s.day);
    CHECK(back.moment == s.moment);
    CHECK(back.clock == s.clock);
    CHECK(back.maybe_int == 0);
    CHECK(back.maybe_text == std::optional<std::string>(""));
    CHECK(back.maybe_moment == s.maybe_moment);
}

TEST_CASE("NULLs round-trip through std::optional", "[types]") {
    test::Database db;
    Sample s = full_sample();
    s.maybe_int.reset();
    s.maybe_text.reset();
    s.maybe_moment.reset();
    s.save();
    Sample back = Sample::objects().get("pk", s.id);
    CHECK(!back.maybe_int);
    CHECK(!back.maybe_text);
    CHECK(!back.maybe_moment);
    CHECK(Sample::objects().filter("maybe_text__isnull", true).count() == 1);
    CHECK(Sample::objects().filter("maybe_text", "").count() == 0);
}

TEST_CASE("values of each type work as filters", "[types]") {
    test::Database db;
    Sample s = full_sample();
    s.save();
    CHECK(Sample::objects().filter("flag", true).count() == 1);
    CHECK(Sample::objects().filter("flag", false).count() == 0);
    CHECK(Sample::objects().filter("big", std::numeric_limits<std::int64_t>::min()).count() == 1);
    CHECK(Sample::objects().filter("real__gt", 3.14).count() == 1);
    CHECK(Sample::objects().filter("real__lt", 4).count() == 1);  // an integer is fine for a double field
    CHECK(Sample::objects().filter("text", s.text).count() == 1);
    CHECK(Sample::objects().filter("data", s.data).count() == 1);
    CHECK(Sample::objects().filter("day", dorm::Date(1999, 12, 31)).count() == 1);
    CHECK(Sample::objects().filter("day__lt", dorm::Date(2000, 1, 1)).count() == 1);
    CHECK(Sample::objects().filter("moment", s.moment).count() == 1);
    CHECK(Sample::objects().filter("moment__gt", dorm::DateTime(2024, 2, 29, 23, 59, 58, 123455)).count() == 1);
    CHECK(Sample::objects().filter("moment__gt", dorm::DateTime(2024, 2, 29, 23, 59, 58, 123456)).count() == 0);
    CHECK(Sample::objects().filter("clock__gte", dorm::Time(7, 8, 9, 10)).count() == 1);
}

TEST_CASE("a NULL in a statement's first run does not fix its later values' type", "[types]") {
    // PostgreSQL fixes a prepared statement's parameter types on its first run (a NULL's from its context); a
    // later run of the same text with values of other types must still mean those values.
    test::Database db;
    Sample first = full_sample();
    first.maybe_int.reset();  // the INSERT's first run binds NULL here: the server types it from the column
    first.save();
    Sample second = full_sample();
    second.maybe_int = 42;
    second.save();
    CHECK(Sample::objects().get("pk", second.id).maybe_int == 42);
    CHECK(Sample::objects().filter("maybe_int", 42).count() == 1);
}

TEST_CASE("an integer after a double in the same statement text is the integer's value", "[types]") {
    test::Database db;
    Sample first = full_sample();
    first.save();
    full_sample().save();
    // A double first, then an integer, in the same comparison (one statement text): 10 is still 10.
    Sample::objects().update({{"real", 10.0}});
    CHECK(Sample::objects().filter("real__gt", 9.5).count() == 2);
    CHECK(Sample::objects().filter("real__gt", 10).count() == 0);
    CHECK(Sample::objects().filter("real__gte", 10.5).count() == 0);
    CHECK(Sample::objects().filter("real__gte", 10).count() == 2);
    // The same for a write: an integer after a double is the integer's value.
    Sample::objects().filter("pk", first.id).update({{"real", 2.5}});
    Sample::objects().filter("pk", first.id).update({{"real", 7}});
    CHECK(Sample::objects().get("pk", first.id).real == 7.0);
    // And a double after an integer: 7.5 is not cut to an integer.
    CHECK(Sample::objects().filter("real__lt", 8).count() == 1);
    CHECK(Sample::objects().filter("real__lt", 7.5).count() == 1);
    CHECK(Sample::objects().filter("real__lt", 6.5).count() == 0);
}

TEST_CASE("a value of the wrong type is a TypeError, not a conversion", "[types]") {
    test::Database db;
    CHECK_THROWS_AS(Sample::objects().filter("medium", "5"), dorm::TypeError);
    CHECK_THROWS_WITH(Sample::objects().filter("medium", "5"),
                      Catch::Contains("Field 'medium' expected an integer but got string '5'"));
    CHECK_THROWS_AS(Sample::objects().filter("medium", 1.5), dorm::TypeError);
    CHECK_THROWS_AS(Sample::objects().filter("text", 5), dorm::TypeError);
    CHECK_THROWS_AS(Sample::objects().filter("day", dorm::DateTime(2020, 1, 1)), dorm::TypeError);
    CHECK_THROWS_AS(Sample::objects().filter("flag", 1), dorm::TypeError);
    CHECK_THROWS_AS(Sample::objects().filter("medium__gt", std::nullopt), dorm::ValueError);
    CHECK_THROWS_WITH(Sample::objects().filter("medium__gt", std::nullopt), Catch::Contains("Cannot use None as a query value"));
    CHECK_THROWS_AS(Sample::objects().filter("maybe_int__isnull", 1), dorm::ValueError);
    CHECK_THROWS_AS(Sample::objects().filter("medium__in", 1), dorm::TypeError);
    CHECK_THROWS_AS(Sample::objects().filter("medium", std::vector<int>{1}), dorm::TypeError);
}

TEST_CASE("Date, DateTime and Time validate and convert", "[types]") {
    CHECK_THROWS_AS(dorm::Date(2005, 2, 30), dorm::ValueError);
    CHECK_THROWS_AS(dorm::Time(24, 0), dorm::ValueError);
    CHECK(dorm::Date(2024, 2, 29).day() == 29);
    dorm::DateTime dt(2005, 7, 28, 12, 30, 15, 500);
    CHECK(dt.date() == dorm::Date(2005, 7, 28));
    CHECK(dt.time() == dorm::Time(12, 30, 15, 500));
    CHECK(fmt::format("{}", dt) == "2005-07-28 12:30:15.000500");
    CHECK(fmt::format("{}", dorm::Date(5, 1, 2)) == "0005-01-02");
    CHECK(dorm::detail::parse_datetime("2005-07-28T12:30:15.5") == dorm::DateTime(2005, 7, 28, 12, 30, 15, 500000));
    CHECK(!dorm::detail::parse_date("2005-13-01"));
    using namespace std::chrono;
    CHECK(dorm::DateTime(sys_days{2005y / 7 / 28} + 90min).time() == dorm::Time(1, 30));
    CHECK(dorm::Value(5).as<double>() == 5.0);
    CHECK_THROWS_AS(dorm::Value("x").as<int>(), dorm::TypeError);
    CHECK(dorm::Value(std::nullopt).as<std::optional<int>>() == std::nullopt);
}

TEST_CASE("Array: a Value of its own, compared and printed as Python's list", "[types]") {
    using dorm::Array;
    using dorm::Value;
    test::Database db;
    Value a = Array{1, "two", std::nullopt, 2.0};
    CHECK(a.holds<Array>());
    CHECK(a.type_name() == "array");
    CHECK(fmt::format("{}", a) == "[1, 'two', None, 2.0]");
    CHECK(fmt::format("{}", Value(Array{})) == "[]");
    CHECK(a.as<Array>().size() == 4);
    CHECK(a.as<Array>()[1] == Value("two"));
    // Element by element, as Python compares lists; after every other type (the order of Value's alternatives).
    CHECK(Value(Array{1, 2}) == Value(Array{1, 2}));
    CHECK(Value(Array{1, 2}) != Value(Array{2, 1}));
    CHECK(Value(Array{1, 2}) < Value(Array{1, 3}));
    CHECK(Value(Array{1}) < Value(Array{1, 0}));
    CHECK(Value(Array{}) < Value(Array{std::nullopt}));
    CHECK(Value(std::chrono::microseconds(5)) < Value(Array{}));
    // A lookup value that is an array is one value (a TypeError against a field), not the list of `in`.
    CHECK_THROWS_WITH(Sample::objects().filter("medium", Array{1}),
                      Catch::Contains("Field 'medium' expected an integer but got array [1]"));
}

TEST_CASE("Array converts to std::vector<T> element by element; mismatches name the element and both types",
          "[types]") {
    using dorm::Array;
    using dorm::Value;
    Value ints = Array{1, 2, 3};
    CHECK(ints.as<std::vector<int>>() == std::vector<int>{1, 2, 3});
    CHECK(ints.as<std::vector<double>>() == std::vector<double>{1.0, 2.0, 3.0});
    CHECK(ints.as<std::vector<Value>>() == std::vector<Value>{1, 2, 3});
    CHECK(ints.as<std::optional<std::vector<std::int16_t>>>() == std::vector<std::int16_t>{1, 2, 3});
    CHECK(Value().as<std::optional<std::vector<int>>>() == std::nullopt);
    CHECK(Value(Array{}).as<std::vector<std::string>>().empty());
    Value with_null = Array{"a", std::nullopt};
    CHECK(with_null.as<std::vector<std::optional<std::string>>>() ==
          std::vector<std::optional<std::string>>{"a", std::nullopt});
    CHECK_THROWS_AS(with_null.as<std::vector<std::string>>(), dorm::TypeError);
    CHECK_THROWS_WITH(with_null.as<std::vector<std::string>>(),
                      "dorm: element 1 of the array is NULL, not string (read std::vector<std::optional<T>> for NULL "
                      "elements)");
    CHECK_THROWS_WITH(Value(Array{1, "x"}).as<std::vector<int>>(), "dorm: element 1 of the array is string, not integer");
    CHECK_THROWS_WITH(Value(Array{dorm::Date(2005, 1, 2)}).as<std::vector<dorm::DateTime>>(),
                      "dorm: element 0 of the array is Date, not DateTime");
    // Not an array at all, and an array where a scalar is asked for.
    CHECK_THROWS_WITH(Value(5).as<std::vector<int>>(), "dorm: value is integer, not array");
    CHECK_THROWS_WITH(ints.as<int>(), "dorm: value is array, not integer");
    CHECK_THROWS_WITH(Value().as<dorm::Array>(), "dorm: value is NULL, not array");
    // Bytes stay bytes: std::vector<std::byte> is not an array of values.
    CHECK(Value(dorm::Bytes{std::byte{7}}).as<dorm::Bytes>() == dorm::Bytes{std::byte{7}});
    CHECK_THROWS_WITH(Value(Array{}).as<dorm::Bytes>(), "dorm: value is array, not bytes");
}

TEST_CASE("an Array is written only where the database has arrays", "[types]") {
    test::RenderDatabases dbs;
    CHECK_THROWS_WITH(Entry::objects().using_("render_sqlite").values("v", dorm::Expression(dorm::Array{1})).sql(),
                      "dorm: sqlite has no array type: an array value cannot be written");
    // PostgreSQL's text form of arrays: every element quoted, '"' and '\' escaped, NULL bare.
    CHECK(test::render<Entry>(dorm::Expression(dorm::Array{1, std::nullopt, "a \"b\" \\ {c}, d", "NULL"}), "render_pg") ==
          "'{\"1\",NULL,\"a \\\"b\\\" \\\\ {c}, d\",\"NULL\"}'");
    if (test::is_postgresql()) return;
    test::Database db;
    CHECK_THROWS_WITH(Sample::objects().values("a", dorm::Expression(dorm::Array{1})).size(),
                      "dorm: sqlite has no array type: an array value cannot be bound");
}
