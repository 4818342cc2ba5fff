// SPDX-License-Identifier: MIT
// The SQL each lookup and expression compiles to, per dialect. No database is opened: sql() only renders.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

using dorm::F;
using dorm::Q;

namespace {
/// "sqlite" and "postgresql" aliases that are never connected to.
struct Dialects {
    Dialects() {
        dorm::databases().add("render_sqlite", "sqlite::memory:");
        dorm::databases().add("render_pg", "postgresql://render@unreachable.invalid/none");
    }
};
/// The WHERE clause (and anything after it) of a QuerySet rendered for `alias`.
template <class QS>
std::string where(const QS& qs, const char* alias) {
    auto sql = qs.using_(alias).sql();
    auto at = sql.find(" WHERE ");
    return at == std::string::npos ? sql : sql.substr(at + 7);
}
}  // namespace

TEST_CASE("comparison lookups render the same on both dialects", "[sql]") {
    Dialects d;
    for (const char* db : {"render_sqlite", "render_pg"}) {
        CHECK(where(Entry::objects().filter("rating", 3), db) == "\"entry\".\"rating\" = 3");
        CHECK(where(Entry::objects().filter("rating__gt", 3), db) == "\"entry\".\"rating\" > 3");
        CHECK(where(Entry::objects().filter("rating__gte", 3), db) == "\"entry\".\"rating\" >= 3");
        CHECK(where(Entry::objects().filter("rating__lt", 3), db) == "\"entry\".\"rating\" < 3");
        CHECK(where(Entry::objects().filter("rating__lte", 3), db) == "\"entry\".\"rating\" <= 3");
        CHECK(where(Entry::objects().filter("rating__in", {1, 2, 2}), db) == "\"entry\".\"rating\" IN (1, 2)");
        CHECK(where(Entry::objects().filter("rating__range", {1, 5}), db) == "\"entry\".\"rating\" BETWEEN 1 AND 5");
        CHECK(where(Entry::objects().filter("rating_note__isnull", true), db) == "\"entry\".\"rating_note\" IS NULL");
        CHECK(where(Entry::objects().filter("rating_note", std::nullopt), db) == "\"entry\".\"rating_note\" IS NULL");
        CHECK(where(Entry::objects().exclude("rating_note", "x"), db) ==
              "NOT (\"entry\".\"rating_note\" = 'x' AND \"entry\".\"rating_note\" IS NOT NULL)");
        CHECK(where(Entry::objects().filter("number_of_comments__gt", F("number_of_pingbacks") * 2), db) ==
              "\"entry\".\"number_of_comments\" > (\"entry\".\"number_of_pingbacks\" * 2)");
        CHECK(where(Entry::objects().filter(Q("rating", 1) ^ Q("rating", 2)), db) ==
              "((\"entry\".\"rating\" = 1 OR \"entry\".\"rating\" = 2) AND (CASE WHEN \"entry\".\"rating\" = 1 THEN 1 "
              "ELSE 0 END + CASE WHEN \"entry\".\"rating\" = 2 THEN 1 ELSE 0 END) % 2 = 1)");
        CHECK(where(Entry::objects().filter("pub_date__year", 2005), db) ==
              "\"entry\".\"pub_date\" BETWEEN '2005-01-01' AND '2005-12-31'");
    }
    CHECK(where(Comment::objects().filter("posted__year__gte", 2005), "render_sqlite") ==
          "\"comment\".\"posted\" >= '2005-01-01 00:00:00.000000'");
    CHECK(where(Comment::objects().filter("posted__year__lte", 2005), "render_pg") ==
          "\"comment\".\"posted\" <= '2005-12-31 23:59:59.999999+00:00'");
}

TEST_CASE("pattern lookups per dialect: wildcards escaped, case handled", "[sql]") {
    Dialects d;
    auto s = [](const char* lookup, const char* value) {
        return where(Entry::objects().filter(std::string("headline__") + lookup, value), "render_sqlite");
    };
    auto p = [](const char* lookup, const char* value) {
        return where(Entry::objects().filter(std::string("headline__") + lookup, value), "render_pg");
    };
    CHECK(s("contains", "50%") == "instr(\"entry\".\"headline\", '50%') > 0");
    CHECK(p("contains", "50%_\\") == "\"entry\".\"headline\" LIKE '%50\\%\\_\\\\%'");
    CHECK(s("icontains", "ÉLAN") == "instr(dorm_fold(\"entry\".\"headline\"), 'élan') > 0");
    CHECK(p("icontains", "Élan") == "UPPER(\"entry\".\"headline\") LIKE UPPER('%Élan%')");
    CHECK(s("iexact", "Soup") == "dorm_fold(\"entry\".\"headline\") = 'soup'");
    CHECK(p("iexact", "Soup") == "UPPER(\"entry\".\"headline\") = UPPER('Soup')");
    CHECK(s("startswith", "ab") == "\"entry\".\"headline\" >= 'ab' AND \"entry\".\"headline\" < 'ac'");
    CHECK(p("startswith", "a_") == "\"entry\".\"headline\" LIKE 'a\\_%'");
    CHECK(s("istartswith", "Ab") == "instr(dorm_fold(\"entry\".\"headline\"), 'ab') = 1");
    CHECK(p("istartswith", "Ab") == "UPPER(\"entry\".\"headline\") LIKE UPPER('Ab%')");
    CHECK(s("endswith", "a*") == "\"entry\".\"headline\" GLOB '*a[*]'");
    CHECK(p("endswith", "a") == "\"entry\".\"headline\" LIKE '%a'");
    CHECK(s("iendswith", "A") == "dorm_fold(\"entry\".\"headline\") GLOB '*a'");
    CHECK(p("iendswith", "A") == "UPPER(\"entry\".\"headline\") LIKE UPPER('%A')");
    CHECK(s("regex", "^a") == "\"entry\".\"headline\" REGEXP '^a'");
    CHECK(p("regex", "^a") == "\"entry\".\"headline\" ~ '^a'");
    CHECK(s("iregex", "^a") == "dorm_iregexp('^a', \"entry\".\"headline\")");
    CHECK(p("iregex", "^a") == "\"entry\".\"headline\" ~* '^a'");
}

TEST_CASE("transforms per dialect", "[sql]") {
    Dialects d;
    auto s = [](const char* path) { return where(Comment::objects().filter(dorm::runtime(path), 1), "render_sqlite"); };
    auto p = [](const char* path) { return where(Comment::objects().filter(dorm::runtime(path), 1), "render_pg"); };
    CHECK(s("posted__month") == "dorm_extract('month', \"comment\".\"posted\") = 1");
    CHECK(p("posted__month") == "EXTRACT(MONTH FROM \"comment\".\"posted\")::integer = 1");
    CHECK(p("posted__week_day") == "(EXTRACT(DOW FROM \"comment\".\"posted\")::integer + 1) = 1");
    CHECK(p("posted__iso_week_day") == "EXTRACT(ISODOW FROM \"comment\".\"posted\")::integer = 1");
    CHECK(p("posted__week") == "EXTRACT(WEEK FROM \"comment\".\"posted\")::integer = 1");
    CHECK(p("posted__quarter") == "EXTRACT(QUARTER FROM \"comment\".\"posted\")::integer = 1");
    CHECK(p("posted__second") == "FLOOR(EXTRACT(SECOND FROM \"comment\".\"posted\"))::integer = 1");
    CHECK(where(Comment::objects().filter("posted__date", dorm::Date(2005, 1, 2)), "render_sqlite") ==
          "dorm_extract('date', \"comment\".\"posted\") = '2005-01-02'");
    CHECK(where(Comment::objects().filter("posted__date", dorm::Date(2005, 1, 2)), "render_pg") ==
          "(\"comment\".\"posted\" AT TIME ZONE 'UTC')::date = '2005-01-02'");
    CHECK(where(Comment::objects().filter("posted__year__in", {2005, 2006}), "render_pg") ==
          "EXTRACT(YEAR FROM \"comment\".\"posted\")::integer IN (2005, 2006)");
}

TEST_CASE("joins: INNER for required ForeignKeys, LEFT OUTER for NULL-able ones", "[sql]") {
    Dialects d;
    CHECK(Comment::objects().using_("render_pg").filter("entry__blog__name", "x").sql().find(
              "FROM \"comment\" INNER JOIN \"entry\" ON (\"comment\".\"entry_id\" = \"entry\".\"id\") INNER JOIN "
              "\"blog\" ON (\"entry\".\"blog_id\" = \"blog\".\"id\") WHERE \"blog\".\"name\" = 'x'") != std::string::npos);
    CHECK(Comment::objects().using_("render_sqlite").filter("author__name", "x").sql().find(
              "LEFT OUTER JOIN \"author\" ON (\"comment\".\"author_id\" = \"author\".\"id\")") != std::string::npos);
    auto update = Entry::objects().using_("render_sqlite").filter("blog__name", "x");
    CHECK(update.sql().find("INNER JOIN") != std::string::npos);
}

TEST_CASE("aggregation, grouping and set operations render per dialect", "[sql]") {
    Dialects d;
    for (const char* db : {"render_sqlite", "render_pg"}) {
        auto grouped = Entry::objects().values("blog").annotate("n", dorm::Count("id", {.filter = Q("rating__gte", 3)}))
                           .filter("n__gt", 1).order_by("-n").using_(db).sql();
        CHECK(grouped == "SELECT \"entry\".\"blog_id\" AS \"blog\", COUNT(\"entry\".\"id\") FILTER (WHERE \"entry\".\"rating\" "
                         ">= 3) AS \"n\" FROM \"entry\" GROUP BY \"entry\".\"blog_id\" HAVING COUNT(\"entry\".\"id\") FILTER "
                         "(WHERE \"entry\".\"rating\" >= 3) > 1 ORDER BY COUNT(\"entry\".\"id\") FILTER (WHERE "
                         "\"entry\".\"rating\" >= 3) DESC");
        auto cased = Entry::objects().annotate("g", dorm::Case({dorm::When(Q("rating__gte", 4), dorm::Value("a"))}, dorm::Value("b")))
                         .values_list<std::string>("g", dorm::flat).using_(db).sql();
        CHECK(cased == "SELECT CASE WHEN \"entry\".\"rating\" >= 4 THEN 'a' ELSE 'b' END AS \"g\" FROM \"entry\"");
        auto exists = Blog::objects().filter(dorm::Exists(Blog::objects().filter("pk", dorm::OuterRef("pk")))).using_(db).sql();
        CHECK_THAT(exists, Catch::Contains("EXISTS(SELECT 1 FROM \"blog\" \"U0\" WHERE \"U0\".\"id\" = \"blog\".\"id\" LIMIT 1)"));
    }
    auto u = Entry::objects().filter("rating", 1).union_(Entry::objects().filter("rating", 2)).order_by("-rating")
                 .values_list<int>("rating", dorm::flat);
    CHECK(u.using_("render_sqlite").sql() == "SELECT \"entry\".\"rating\" FROM \"entry\" WHERE \"entry\".\"rating\" = 1 UNION "
                                            "SELECT \"entry\".\"rating\" FROM \"entry\" WHERE \"entry\".\"rating\" = 2 ORDER BY 1 DESC");
    CHECK(u.using_("render_pg").sql() == "(SELECT \"entry\".\"rating\" FROM \"entry\" WHERE \"entry\".\"rating\" = 1) UNION "
                                        "(SELECT \"entry\".\"rating\" FROM \"entry\" WHERE \"entry\".\"rating\" = 2) ORDER BY 1 DESC");
    CHECK(Entry::objects().dates("pub_date", "month").using_("render_sqlite").sql() ==
          "SELECT DISTINCT dorm_trunc('month', \"entry\".\"pub_date\") AS \"datefield\" FROM \"entry\" WHERE "
          "\"entry\".\"pub_date\" IS NOT NULL ORDER BY \"datefield\" ASC");
    CHECK(Entry::objects().dates("pub_date", "month").using_("render_pg").sql() ==
          "SELECT DISTINCT DATE_TRUNC('month', \"entry\".\"pub_date\")::date AS \"datefield\" FROM \"entry\" WHERE "
          "\"entry\".\"pub_date\" IS NOT NULL ORDER BY \"datefield\" ASC");
    CHECK_THAT(Entry::objects().annotate("r", dorm::Cast("rating", dorm::FieldKind::real)).using_("render_pg").sql(),
               Catch::Contains("(\"entry\".\"rating\")::double precision AS \"r\""));
    CHECK_THAT(Entry::objects().annotate("r", dorm::Cast("rating", dorm::FieldKind::real)).using_("render_sqlite").sql(),
               Catch::Contains("CAST(\"entry\".\"rating\" AS real) AS \"r\""));
}

namespace {
/// SQLite's spelling, without aggregate FILTER clauses: the portable CASE WHEN fallback is written instead.
struct NoFilterDialect final : dorm::backends::Dialect {
    const dorm::backends::Dialect& s = dorm::backends::sqlite::dialect();
    std::string_view vendor() const noexcept override { return "nofilter"; }
    void placeholder(std::string& out, std::size_t n) const override { s.placeholder(out, n); }
    dorm::backends::PatternSpec pattern(std::string_view l) const override { return s.pattern(l); }
    std::string_view transform_template(std::string_view n, dorm::FieldKind k) const override { return s.transform_template(n, k); }
    void limit_offset(std::string& out, std::optional<std::int64_t> l, std::int64_t o) const override { s.limit_offset(out, l, o); }
    std::string column_type(const dorm::FieldMeta& f) const override { return s.column_type(f); }
    std::string auto_increment_column(const dorm::FieldMeta& f) const override { return s.auto_increment_column(f); }
    std::string explain_prefix(std::string_view f, std::string_view o) const override { return s.explain_prefix(f, o); }
    std::size_t max_query_params() const noexcept override { return s.max_query_params(); }
    std::string cast_template(dorm::FieldKind k) const override { return s.cast_template(k); }
    std::string trunc_template(std::string_view k, dorm::FieldKind i) const override { return s.trunc_template(k, i); }
    bool supports_aggregate_filter_clause() const noexcept override { return false; }
};
}  // namespace

TEST_CASE("aggregate filter= falls back to CASE WHEN where FILTER is missing", "[sql]") {
    Dialects d;
    NoFilterDialect dialect;
    auto qs = Entry::objects().values("blog").annotate("n", dorm::Count("id", {.filter = Q("rating__gte", 3)}),
                                                       "rows", dorm::Count("*", {.filter = Q("rating", 1)}));
    auto c = dorm::sql::compile_select(qs.query(), dialect, true);
    CHECK(c.sql == "SELECT \"entry\".\"blog_id\" AS \"blog\", COUNT(CASE WHEN \"entry\".\"rating\" >= 3 THEN \"entry\".\"id\" "
                   "ELSE NULL END) AS \"n\", COUNT(CASE WHEN \"entry\".\"rating\" = 1 THEN 1 ELSE NULL END) AS \"rows\" "
                   "FROM \"entry\" GROUP BY \"entry\".\"blog_id\"");
}

TEST_CASE("a Q annotated is its condition in the SELECT list, as Django's WhereNode", "[sql]") {
    Dialects d;
    auto qs = Entry::objects().annotate("good", Q("rating__gte", 4) | Q("rating_note", "solid")).values("good");
    auto c = dorm::sql::compile_select(qs.query(), dorm::backends::sqlite::dialect(), true);
    CHECK(c.sql == "SELECT ((\"entry\".\"rating\" >= 4 OR \"entry\".\"rating_note\" = 'solid')) AS \"good\" FROM \"entry\"");
}

TEST_CASE("a lookup path's parts, in place or on the heap, survive copies and moves", "[sql]") {
    using dorm::sql::detail::split_path;
    for (std::string_view path : {"blog__name__iexact", "a__b__c__d__e__f__g__h"}) {
        INFO(path);
        const auto parts = split_path(path);
        std::vector<std::string_view> expected;
        for (std::size_t at = 0;;) {
            const auto end = path.find("__", at);
            expected.push_back(path.substr(at, end - at));
            if (end == std::string_view::npos) break;
            at = end + 2;
        }
        auto copy = parts;
        CHECK(std::vector<std::string_view>(copy.begin(), copy.end()) == expected);
        auto moved = std::move(copy);
        CHECK(std::vector<std::string_view>(moved.begin(), moved.end()) == expected);
        CHECK(copy.size() == 0);  // NOLINT(bugprone-use-after-move): a moved-from one is empty
        copy = std::move(moved);
        CHECK(std::vector<std::string_view>(copy.begin(), copy.end()) == expected);
        CHECK(moved.size() == 0);  // NOLINT(bugprone-use-after-move)
        auto* self = &copy;  // moved onto itself (as a generic algorithm may): keeps its parts
        copy = std::move(*self);
        CHECK(std::vector<std::string_view>(copy.begin(), copy.end()) == expected);
        moved.push_back("x");
        CHECK(moved.size() == 1);
        CHECK(moved[0] == "x");
    }
}
