// SPDX-License-Identifier: MIT
// raw() queries, RawSQL expressions and extra().
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

using namespace dorm;
using V = std::vector<std::string>;

TEST_CASE("raw() maps columns to fields by name", "[raw]") {
    test::BlogData data;
    auto entries = Entry::objects().raw("SELECT * FROM entry WHERE rating >= %s ORDER BY rating", {Value(4)});
    REQUIRE(entries.size() == 2);
    CHECK(entries[0].headline == "Pancakes");
    CHECK(entries[1].blog.id() == data.beatles.id);
    CHECK(entries[1].get_deferred_fields().empty());
    CHECK(entries.columns().size() == 10);
    // Missing fields are deferred; extra columns become annotations; translations rename columns.
    auto some = Entry::objects().raw("SELECT id, headline AS title, rating * 10 AS score FROM entry WHERE headline = %s",
                                     {Value("Soup")}, {{"title", "headline"}});
    REQUIRE(some.size() == 1);
    CHECK(some[0].headline == "Soup");
    CHECK(some[0].annotations().get<int>("score") == 10);
    CHECK(some[0].rating == 0);
    CHECK(some[0].get_deferred_fields().size() == 8);
    CHECK(some.columns() == V{"id", "headline", "score"});
    CHECK(Entry::objects().raw("SELECT * FROM entry WHERE headline LIKE 'S%%'").size() == 1);
    CHECK_THROWS_AS(Entry::objects().raw("SELECT headline FROM entry").size(), FieldDoesNotExist);
    CHECK_THROWS_AS(Entry::objects().raw("SELECT * FROM entry WHERE id = %s").size(), TypeError);
    CHECK_THROWS_AS(Entry::objects().raw("SELECT * FROM nowhere").size(), DatabaseError);
}

TEST_CASE("a raw parameter means its own value after the same text ran with another type", "[raw]") {
    // PostgreSQL reads a value by the type its statement was prepared with: an array's text, sent with no type, must
    // not go to the statement the integer's run prepared (it would be read as an integer and refused). A NULL fits
    // that statement.
    test::BlogData data;
    const char* sql = "SELECT id, CAST(%s AS TEXT) AS x FROM entry WHERE headline = 'Soup'";
    auto first = Entry::objects().raw(sql, {Value(5)});
    REQUIRE(first.size() == 1);
    CHECK(first[0].annotations().get<std::string>("x") == "5");
    auto& conn = dorm::databases()["default"].connection();
    const auto prepared = conn.statements_prepared();
    auto null = Entry::objects().raw(sql, {Value()});
    REQUIRE(null.size() == 1);
    CHECK(null[0].annotations()["x"].is_null());
    CHECK(conn.statements_prepared() == prepared);  // the integer's statement
    if (!test::is_postgresql()) {
        CHECK_THROWS_AS(Entry::objects().raw(sql, {Value(Array{1, 2})}).size(), NotSupportedError);  // no arrays
        return;
    }
    auto array = Entry::objects().raw(sql, {Value(Array{1, 2})});
    REQUIRE(array.size() == 1);
    CHECK(array[0].annotations().get<std::string>("x") == R"({"1","2"})");
}

TEST_CASE("RawSQL is an expression with bound parameters", "[raw]") {
    test::BlogData data;
    auto qs = Entry::objects().annotate("bonus", RawSQL("rating + %s", {Value(100)}, FieldKind::integer)).filter("bonus__gt", 103);
    CHECK(test::sorted(qs) == V{"Lennon returns", "Pancakes"});
    CHECK(qs.sql_with_params().params == std::vector<Value>{Value(100), Value(100), Value(103)});  // selected and filtered
    CHECK_THROWS_AS(Entry::objects().annotate("x", RawSQL("%s + %s", {Value(1)})), TypeError);
}

TEST_CASE("extra() adds select, where, tables and order_by", "[raw]") {
    test::BlogData data;
    auto qs = Entry::objects().extra({.select = {{"is_recent", "pub_date > %s"}},
                                      .where = {"rating >= %s", "number_of_comments > %s"},
                                      .params = {Value(2), Value(0)},
                                      .order_by = {"-rating"},
                                      .select_params = {Value(Date(2006, 1, 1))}});
    CHECK(test::headlines(qs) == V{"Lennon returns", "Pancakes", "Election"});
    std::vector<bool> recent;
    for (const auto& e : qs) recent.push_back(e.annotations()["is_recent"].as<bool>());
    CHECK(recent == std::vector<bool>{false, false, true});
    auto joined = Entry::objects().extra({.where = {"entry.blog_id = blog.id", "blog.name = %s"}, .params = {Value("News")},
                                          .tables = {"blog"}});
    CHECK(test::headlines(joined) == V{"Election"});
    CHECK_THROWS_AS(Entry::objects().extra({.where = {"rating > %s"}}), TypeError);
    CHECK_THROWS_AS(Entry::objects().extra({.select = {{"rating", "1"}}}), ValueError);
}
