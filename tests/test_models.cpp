// SPDX-License-Identifier: MIT
// Model metadata and options: table names, primary keys, db_column, unique_together, indexes, create / drop tables.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

struct NoPk {
    std::string name{};
    DORM_MODEL(NoPk, name)
};

struct BadOrdering {
    std::int64_t id = 0;
    std::string name{};
    DORM_MODEL(BadOrdering, id, name)
    static void meta(dorm::Meta<BadOrdering>& m) { m.ordering = {"nmae"}; }
};

TEST_CASE("metadata from DORM_MODEL and meta()", "[models]") {
    const auto& entry = dorm::model_meta<Entry>();
    CHECK(entry.name == "Entry");
    CHECK(entry.db_table == "entry");
    CHECK(entry.fields.size() == 10);
    CHECK(entry.pk_field().name == "id");
    CHECK(entry.pk_field().auto_increment);
    CHECK(entry.get_field("blog").column == "blog_id");
    CHECK(entry.get_field("blog").is_relation());
    CHECK(&entry.get_field("blog").related() == &dorm::model_meta<Blog>());
    CHECK(entry.get_field("rating_note").nullable);
    CHECK(!entry.get_field("rating").nullable);
    CHECK(entry.get_field("headline").max_length == 255);
    CHECK(&entry.get_field("pk") == &entry.pk_field());
    CHECK_THROWS_WITH(entry.get_field("titel"), Catch::Contains("Entry has no field named 'titel'. Choices are: "
                                                                "authors, blog, body_text, comment, headline, id, mod_date"));
    CHECK_THROWS_AS(entry.get_field("titel"), dorm::FieldDoesNotExist);  // Django's Options.get_field()

    const auto& country = dorm::model_meta<Country>();
    CHECK(country.db_table == "geo_country");
    CHECK(country.pk_field().name == "code");
    CHECK(!country.pk_field().auto_increment);
    CHECK(country.get_field("name").column == "country_name");
    CHECK(country.ordering == std::vector<std::string>{"-population", "name"});

    CHECK_THROWS_AS(dorm::model_meta<NoPk>(), dorm::FieldError);
    CHECK_THROWS_WITH(dorm::model_meta<BadOrdering>(), Catch::Contains("ordering refers to the nonexistent field 'nmae'"));
}

TEST_CASE("unknown fields and lookups are FieldErrors listing the choices", "[models]") {
    test::Database db;
    CHECK_THROWS_AS(Entry::objects().filter(dorm::runtime("titel"), "x"), dorm::FieldError);
    CHECK_THROWS_WITH(Entry::objects().filter(dorm::runtime("rating__bogus"), 1), Catch::Contains("Unsupported lookup 'bogus'"));
    CHECK_THROWS_AS(Entry::objects().order_by(dorm::runtime("-nope")), dorm::FieldError);
    CHECK_THROWS_AS(Entry::objects().filter(dorm::runtime("blog__nope"), 1), dorm::FieldError);
    CHECK_THROWS_AS(Entry::objects().filter(dorm::runtime(""), 1), dorm::FieldError);
}

TEST_CASE("custom primary keys, db_column and default_ work in queries", "[models]") {
    test::Database db;
    Country::objects().create({{"code", "jp"}, {"name", "Japan"}, {"population", 125}, {"continent", "Asia"}});
    auto jp = Country::objects().get("pk", "jp");
    CHECK(jp.name == "Japan");
    CHECK(Country::objects().filter("name", "Japan").count() == 1);
    CHECK(Country::objects().filter("name", "Japan").sql().find("\"country_name\"") != std::string::npos);
    jp.population = 126;
    jp.save();
    CHECK(Country::objects().get("code", "jp").population == 126);
    CHECK(Country::objects().in_bulk<std::string>(std::vector<std::string>{"jp"}).size() == 1);
}

TEST_CASE("unique_together and unique are enforced by the database", "[models]") {
    test::Database db;
    Country::objects().create({{"code", "ge"}, {"name", "Georgia"}, {"continent", "Asia"}});
    Country::objects().create({{"code", "us"}, {"name", "Georgia"}, {"continent", "America"}});
    CHECK_THROWS_AS(Country::objects().create({{"code", "xx"}, {"name", "Georgia"}, {"continent", "Asia"}}),
                    dorm::IntegrityError);
    try {
        Country::objects().create({{"code", "ge"}, {"name", "Other"}});
        FAIL("duplicate primary key accepted");
    } catch (const dorm::IntegrityError& e) {
        CHECK(!e.sql().empty());
        CHECK(!e.code().empty());
    }
}

TEST_CASE("create_tables makes indexes; drop_tables removes tables", "[models]") {
    test::Database db;
    auto ddl = dorm::detail::create_table_sql(dorm::model_meta<Entry>(), dorm::databases()["default"].dialect());
    REQUIRE(ddl.size() == 3);
    CHECK(ddl[0].find("REFERENCES \"blog\" (\"id\")") != std::string::npos);
    CHECK(ddl[0].find("\"headline\" varchar(255) NOT NULL") != std::string::npos);
    CHECK(ddl[0].find("\"rating_note\" text NULL") != std::string::npos);
    CHECK(ddl[1].find("(\"blog_id\")") != std::string::npos);
    CHECK(ddl[2].find("(\"pub_date\", \"rating\" DESC)") != std::string::npos);
    auto country = dorm::detail::create_table_sql(dorm::model_meta<Country>(), dorm::databases()["default"].dialect());
    CHECK(country[0].find("UNIQUE (\"country_name\", \"continent\")") != std::string::npos);
    CHECK(country[0].find("DEFAULT 'Europe'") != std::string::npos);
    CHECK(country[1].find("\"geo_country_country_name_idx\"") != std::string::npos);

    dorm::create_tables<Blog>();  // existing tables are left alone
    dorm::drop_tables<Sample>();
    CHECK_THROWS_AS(Sample::objects().count(), dorm::DatabaseError);
    dorm::create_tables<Sample>();
    CHECK(Sample::objects().count() == 0);
}
