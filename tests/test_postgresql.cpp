// SPDX-License-Identifier: MIT
// What only PostgreSQL has: SQLSTATE errors, reconnection, DISTINCT ON, EXPLAIN options, server-side cursors.
// Registered for the PostgreSQL backend only; run elsewhere, each case says so and does nothing.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

#define DORM_REQUIRE_POSTGRESQL()                 \
    if (!test::is_postgresql()) {                 \
        WARN("PostgreSQL only: not run on " << test::database_url()); \
        return;                                   \
    }

TEST_CASE("PostgreSQL errors carry their SQLSTATE and map to PEP 249 classes", "[postgresql]") {
    DORM_REQUIRE_POSTGRESQL();
    test::Database db;
    Blog::objects().create({{"name", "Unique"}});
    try {
        Blog::objects().create({{"name", "Unique"}});
        FAIL("unique violation accepted");
    } catch (const dorm::IntegrityError& e) {
        CHECK(e.code() == "23505");
        CHECK(std::string(e.what()).find("duplicate key") != std::string::npos);
        CHECK(e.sql().starts_with("INSERT INTO \"blog\""));
    }
    Entry e;
    e.blog = 424242;
    e.headline = "dangling";
    try {
        e.save();
        FAIL("dangling foreign key accepted");
    } catch (const dorm::IntegrityError& err) {
        CHECK(err.code() == "23503");
    }
    auto& conn = dorm::databases()["default"].connection();
    try {
        conn.execute("SELECT * FROM no_such_table");
        FAIL("missing table accepted");
    } catch (const dorm::ProgrammingError& err) {
        CHECK(err.code() == "42P01");
    }
    CHECK_THROWS_AS(conn.execute("SELECT 1/0"), dorm::DataError);
    // A too-long value for varchar(100) is a DataError on PostgreSQL.
    CHECK_THROWS_AS(Blog::objects().create({{"name", std::string(101, 'x')}}), dorm::DataError);
}

TEST_CASE("a connection the server terminated raises OperationalError, then reconnects", "[postgresql]") {
    DORM_REQUIRE_POSTGRESQL();
    test::Database db;
    Blog::objects().create({{"name", "survivor"}});
    auto& conn = dorm::databases()["default"].connection();
    auto cursor = conn.query("SELECT pg_backend_pid()", {});
    REQUIRE(cursor->next());
    auto pid = cursor->row()[0].i;
    cursor.reset();
    dorm::databases().add("killer", test::database_url());
    auto killed = dorm::databases()["killer"].connection().query("SELECT pg_terminate_backend($1::int)", std::vector<dorm::Value>{pid});
    REQUIRE(killed->next());
    killed.reset();
    dorm::databases()["killer"].close();
    CHECK_THROWS_AS(Blog::objects().count(), dorm::OperationalError);
    CHECK(Blog::objects().count() == 1);  // the next use reconnects
    CHECK(Blog::objects().get("name", "survivor").id > 0);
}

TEST_CASE("distinct(fields...) is DISTINCT ON", "[postgresql]") {
    DORM_REQUIRE_POSTGRESQL();
    test::BlogData data;
    auto qs = Entry::objects().order_by("blog", "-rating").distinct("blog");
    CHECK(qs.sql().find("SELECT DISTINCT ON (\"entry\".\"blog_id\")") == 0);
    CHECK(test::headlines(qs) == std::vector<std::string>{"Lennon returns", "Pancakes", "Election"});
    CHECK_THROWS_AS(Entry::objects().slice(0, 1).distinct("blog"), dorm::TypeError);
    // Django refuses both: the rows DISTINCT ON keeps are not what an aggregate or a GROUP BY would see.
    CHECK_THROWS_WITH(qs.aggregate(dorm::Count("id")),
                      Catch::Contains("aggregate() + distinct(fields) not implemented."));
    CHECK_THROWS_AS(qs.aggregate(dorm::Count("id")), dorm::NotImplementedError);
    auto grouped = Blog::objects().order_by("id").distinct("id").annotate("n", dorm::Count("entry"));
    CHECK_THROWS_WITH(test::sorted_names(grouped), Catch::Contains("annotate() + distinct(fields) is not implemented."));
    CHECK(qs.count() == 3);
}

TEST_CASE("an oid past 2^31 decodes as the unsigned number it is", "[postgresql]") {
    DORM_REQUIRE_POSTGRESQL();
    test::Database db;
    auto cursor = dorm::databases()["default"].connection().query("SELECT 3000000000::oid, 7::oid", {});
    REQUIRE(cursor->next());
    CHECK(cursor->row()[0].i == 3'000'000'000LL);
    CHECK(cursor->row()[1].i == 7);
}

TEST_CASE("explain() takes PostgreSQL's format and options, checked by name", "[postgresql]") {
    DORM_REQUIRE_POSTGRESQL();
    test::BlogData data;
    CHECK(Entry::objects().filter("rating", 5).explain().find("Seq Scan") != std::string::npos);
    auto json = Entry::objects().filter("rating", 5).explain("json", "analyze, verbose");
    CHECK(json.find("\"Plan\"") != std::string::npos);
    CHECK(json.find("\"Actual Rows\"") != std::string::npos);
    CHECK_THROWS_AS(Entry::objects().explain("csv"), dorm::ValueError);
    CHECK_THROWS_AS(Entry::objects().explain({}, "analyze; drop table entry"), dorm::ValueError);
}

TEST_CASE("iterator() reads through a server-side cursor in chunks", "[postgresql]") {
    DORM_REQUIRE_POSTGRESQL();
    test::Database db;
    std::vector<Author> authors(10);
    for (int i = 0; i < 10; ++i) authors[static_cast<std::size_t>(i)].name = fmt::format("{:02}", i);
    Author::objects().bulk_create(authors);
    std::vector<std::string> names;
    for (const auto& a : Author::objects().order_by("name").iterator(3)) names.push_back(a.name);
    REQUIRE(names.size() == 10);
    CHECK(names.front() == "00");
    CHECK(names.back() == "09");
    // Exactly a multiple of the chunk size, and an empty result.
    std::size_t n = 0;
    for (const auto& a : Author::objects().slice(0, 9).iterator(3)) n += !a.name.empty();
    CHECK(n == 9);
    for (const auto& a : Author::objects().filter("name", "none").iterator(3)) n += a.id;
    CHECK(n == 9);
}

TEST_CASE("indexed text columns get a pattern-ops index for startswith, as Django makes", "[postgresql]") {
    DORM_REQUIRE_POSTGRESQL();
    test::Database db;
    const auto& d = dorm::databases()["default"].dialect();
    auto blog = dorm::detail::create_table_sql(dorm::model_meta<Blog>(), d);   // name: unique, max_length 100
    auto country = dorm::detail::create_table_sql(dorm::model_meta<Country>(), d);  // name: db_index
    auto author = dorm::detail::create_table_sql(dorm::model_meta<Author>(), d);  // nothing indexed
    CHECK(blog.back() == "CREATE INDEX IF NOT EXISTS \"blog_name_like\" ON \"blog\" (\"name\" varchar_pattern_ops)");
    CHECK(country.back().find("(\"country_name\" text_pattern_ops)") != std::string::npos);
    CHECK(author.size() == 1);
}
