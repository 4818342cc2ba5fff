// SPDX-License-Identifier: MIT
// Query serialisation (Django's "Pickling QuerySets"): dumps() / loads() round trips of every kind of QuerySet
// state, what dumps() refuses, and what loads() rejects.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

using dorm::Count;
using dorm::F;
using dorm::OuterRef;
using dorm::Q;
using dorm::QuerySet;
using dorm::Row;
using V = std::vector<std::string>;

namespace {

/// dumps() `qs`, loads the text as the same QuerySet type (a values() one on model M), and checks that the loaded
/// QuerySet compiles to the same statement and parameters, and dumps to the same text.
template <class M, class QS>
QS round_trip(const QS& qs) {
    std::string text = qs.dumps();
    INFO(text);
    REQUIRE(text.starts_with("dorm-query/1 (query \""));
    QS back = QS::template loads<M>(text);
    auto a = qs.sql_with_params(), b = back.sql_with_params();
    CHECK(b.sql == a.sql);
    CHECK(b.params == a.params);
    CHECK(b.nothing == a.nothing);
    CHECK(back.dumps() == text);
    return back;
}

template <class QS>
std::vector<std::int64_t> ids(const QS& qs) {
    std::vector<std::int64_t> out;
    for (const auto& obj : qs) out.push_back(obj.id);
    return out;
}

/// The rows of a QuerySet of values.
template <class QS>
auto rows(const QS& qs) {
    return std::vector<typename QS::value_type>(qs.begin(), qs.end());
}

/// Runs `f`, which must throw E with `fragment` in its message.
template <class E, class F>
void check_error(F&& f, const std::string& fragment) {
    try {
        f();
        FAIL_CHECK("no exception; expected one containing: " << fragment);
    } catch (const E& e) {
        CHECK_THAT(e.what(), Catch::Contains(fragment));
    }
}

std::string entry_text(const std::string& steps) { return "dorm-query/1 (query \"Entry\" \"entry\" " + steps + ")"; }

}  // namespace

TEST_CASE("the text is versioned and names the model, then the calls with their arguments", "[serialize]") {
    test::BlogData data;
    auto qs = Entry::objects().filter("rating__gte", 3).exclude("headline__startswith", "B").order_by("-pub_date").slice(0, 10);
    CHECK(qs.dumps() == "dorm-query/1 (query \"Entry\" \"entry\" (filter (lookup \"rating__gte\" 3)) (filter (not (lookup "
                        "\"headline__startswith\" \"B\"))) (order_by \"-pub_date\") (slice 0 10))");
    // Text written by hand (any whitespace between elements) loads the same way.
    auto back = QuerySet<Entry>::loads("dorm-query/1\n(query \"Entry\" \"entry\"\n  (filter (lookup \"rating__gte\" 3))\n"
                                       "  (filter (not (lookup \"headline__startswith\" \"B\")))\n  (order_by \"-pub_date\")\t(slice 0 10))");
    CHECK(back.sql() == qs.sql());
    CHECK(test::headlines(back) == V{"Lennon returns", "Pancakes"});
    CHECK(Entry::objects().dumps() == "dorm-query/1 (query \"Entry\" \"entry\")");
    CHECK(ids(QuerySet<Entry>::loads(Entry::objects().dumps())).size() == 5);
}

TEST_CASE("filters and lookups round-trip", "[serialize]") {
    test::BlogData data;
    std::vector<EntryQuerySet> cases = {
        Entry::objects().filter("rating__gte", 3),
        Entry::objects().filter("rating__gte", 2).filter("headline__icontains", "o").exclude("blog__name", "News"),
        Entry::objects().filter("id__in", {1, 3, 99}),
        Entry::objects().filter("id__in", std::vector<std::int64_t>{}),  // matches nothing, runs nothing
        Entry::objects().filter("rating__range", {2, 4}),
        Entry::objects().filter("rating_note__isnull", true),
        Entry::objects().filter("rating_note", std::nullopt),
        Entry::objects().filter("pub_date__year", 2005),
        Entry::objects().filter("pub_date__gte", dorm::Date(2006, 1, 1)).filter("pub_date__month__lte", 11),
        Entry::objects().filter("blog", data.beatles),
        Entry::objects().filter("blog__name__startswith", "Be"),
        Entry::objects().filter("authors__name", "Ann"),  // a many-to-many path
        Entry::objects().filter("headline__regex", "^[LP]"),
    };
    for (const auto& qs : cases) {
        auto back = round_trip<Entry>(qs);
        CHECK(ids(back) == ids(qs));
    }
    CHECK(ids(QuerySet<Entry>::loads(Entry::objects().filter("pub_date__year", 2005).order_by("id").dumps())).size() == 2);
    // get() runs a recorded filter() too: its QuerySet dumps like any other.
    auto one = round_trip<Entry>(Entry::objects().filter("headline", "Soup"));
    CHECK(one.get().headline == "Soup");
}

TEST_CASE("Q trees round-trip: &, |, ~, ^, nesting, empty Q, boolean expressions", "[serialize]") {
    test::BlogData data;
    std::vector<EntryQuerySet> cases = {
        Entry::objects().filter(Q("rating__gte", 4) | Q("headline", "Soup")),
        Entry::objects().filter(Q("rating__gte", 2) & ~(Q("headline__startswith", "B") | Q("rating_note", "thin"))),
        Entry::objects().filter(Q("rating", 5) ^ Q("blog__name", "Beatles Blog") ^ Q("number_of_comments", 0)),
        Entry::objects().exclude(~Q("rating__lt", 3) & Q(), "blog__name", "Cooking"),
        Entry::objects().filter(Q(), Q("rating__gt", 1)),
        Entry::objects().filter(Q("rating__gt", 0) | (Q("rating", 1) & (Q("headline", "Soup") | ~~Q("headline", "x")))),
        Entry::objects().filter(dorm::Exists(Comment::objects().filter("entry", OuterRef("pk")))),
    };
    for (const auto& qs : cases) {
        auto back = round_trip<Entry>(qs);
        CHECK(ids(back.order_by("id")) == ids(qs.order_by("id")));
    }
}

TEST_CASE("F expressions round-trip in filters, annotations and ordering", "[serialize]") {
    test::BlogData data;
    std::vector<EntryQuerySet> cases = {
        Entry::objects().filter("number_of_comments__gt", F("number_of_pingbacks") * 2),
        Entry::objects().filter("rating__lt", -F("number_of_comments") + 4),
        Entry::objects().filter("number_of_pingbacks__gte", dorm::pow(F("rating"), 2)),
        Entry::objects().filter("number_of_comments", F("number_of_pingbacks") / 2 * 5 % 7),
        Entry::objects().filter("headline__gte", F("blog__name")),
        Entry::objects().annotate("score", F("rating") * 10 + F("number_of_comments")).order_by("-score", "id"),
        Entry::objects().order_by(F("rating_note").desc({.nulls_last = true}), F("id").asc()),
        Entry::objects().order_by(F("rating_note").asc({.nulls_first = true}), "-id"),
    };
    for (const auto& qs : cases) {
        auto back = round_trip<Entry>(qs);
        CHECK(ids(back) == ids(qs));
    }
}

TEST_CASE("annotations and aggregates round-trip", "[serialize]") {
    test::BlogData data;
    using dorm::Case;
    using dorm::When;
    std::vector<QuerySet<Blog>> blogs = {
        Blog::objects().annotate("n", Count("entry")).order_by("id"),
        Blog::objects().annotate(Count("entry")).filter("entry__count__gte", 2).order_by("name"),
        Blog::objects().annotate("n", Count("entry", {.distinct = true, .filter = Q("entry__rating__gte", 3)})).order_by("-n", "id"),
        Blog::objects().annotate("total", dorm::Sum("entry__rating", {.default_ = 0}), "avg", dorm::Avg("entry__rating"),
                                 "low", dorm::Min("entry__pub_date"), "high", dorm::Max("entry__rating")).order_by("id"),
        Blog::objects().alias("n", Count("entry")).filter("n__gt", 1).order_by("id"),
        Blog::objects().annotate("spread", dorm::StdDev("entry__rating", {.sample = true}),
                                 "var", dorm::Variance("entry__rating")).order_by("id"),
        Blog::objects().annotate("good", dorm::FilteredRelation("entry", Q("entry__rating__gte", 4)))
            .annotate("n", Count("good")).order_by("id"),
        Blog::objects().annotate("latest", dorm::Subquery(Entry::objects().filter("blog", OuterRef("pk"))
                                                               .order_by("-pub_date").values("headline").slice(0, 1))).order_by("id"),
        Blog::objects().annotate("has_good", dorm::Exists(Entry::objects().filter("blog", OuterRef("pk")).filter("rating__gte", 5)))
            .order_by("id"),
    };
    for (const auto& qs : blogs) {
        auto back = round_trip<Blog>(qs);
        REQUIRE(back.size() == qs.size());
        for (std::size_t i = 0; i < qs.size(); ++i) {
            CHECK(back[static_cast<std::int64_t>(i)].id == qs[static_cast<std::int64_t>(i)].id);
            CHECK(back[static_cast<std::int64_t>(i)].annotations() == qs[static_cast<std::int64_t>(i)].annotations());
        }
    }
    std::vector<EntryQuerySet> entries = {
        Entry::objects().annotate("grade", Case({When(Q("rating__gte", 4), dorm::Value("good")), When(Q("rating__gte", 2), "headline")},
                                                dorm::Value("bad"))).order_by("id"),
        Entry::objects().annotate("good", Q("rating__gte", 4)).filter("good", true).order_by("id"),
        Entry::objects().annotate("solid", ~Q("rating_note", "solid"), "all", Q(), "none", Q("pk__in", std::vector<std::int64_t>{}))
            .order_by("id"),
        Entry::objects().annotate("note", dorm::Coalesce("rating_note", dorm::Lower("headline")),
                                  "len", dorm::Length("headline"), "up", dorm::Upper("blog__name")).order_by("id"),
        Entry::objects().annotate("r", dorm::Cast("rating", dorm::FieldKind::real),
                                  "ratio", dorm::ExpressionWrapper(F("rating") * 1.5, dorm::FieldKind::real)).order_by("id"),
        Entry::objects().annotate("label", dorm::Value("x\"y\\z")).order_by("-id"),
        // The date functions: the part or kind is a checked name, spelt into the SQL.
        Entry::objects().annotate("y", dorm::ExtractIsoYear("pub_date"), "m", dorm::TruncMonth("pub_date"))
            .filter("y__gte", 2000).filter("pub_date__lt", dorm::Now()).order_by("m"),
        // Django's database functions (dorm/functions.hpp), with their output types and checked arguments.
        Entry::objects().annotate("c", dorm::Concat("headline", dorm::Value("-"), "rating_note"),
                                  "l", dorm::Left("headline", 3), "p", dorm::LPad("headline", 20, dorm::Value("*")),
                                  "s", dorm::Substr("headline", 2), "i", dorm::StrIndex("headline", dorm::Value("e")),
                                  "o", dorm::Ord("headline"), "g", dorm::Greatest("rating", "number_of_comments"),
                                  "n", dorm::NullIf("rating", 3), "m", dorm::Mod("rating", 3), "r", dorm::Round("rating"),
                                  "q", dorm::Sqrt("rating"), "pw", dorm::pow(F("rating"), 2),
                                  "co", dorm::Collate("headline", test::is_postgresql() ? "C" : "NOCASE"), "h", dorm::MD5("headline")).order_by("id"),
    };
    for (const auto& qs : entries) {
        auto back = round_trip<Entry>(qs);
        REQUIRE(back.size() == qs.size());
        for (std::size_t i = 0; i < qs.size(); ++i)
            CHECK(back[static_cast<std::int64_t>(i)].annotations() == qs[static_cast<std::int64_t>(i)].annotations());
    }
    // An aggregate of text: StringAgg keeps its delimiter.
    auto joined = round_trip<Blog>(Blog::objects().annotate("h", dorm::StringAgg("entry__headline", "; ")).filter("name", "News"));
    CHECK(joined[0].annotations()["h"].as<std::string>() == "Election");
}

TEST_CASE("ordering, reverse, distinct, slicing and none() round-trip", "[serialize]") {
    test::BlogData data;
    std::vector<EntryQuerySet> cases = {
        Entry::objects().order_by("-rating", "headline"),
        Entry::objects().order_by("blog__name", "-pub_date"),
        Entry::objects().order_by("rating").reverse(),
        Entry::objects().order_by("rating").order_by(),
        Entry::objects().order_by("id").slice(1, 3),
        Entry::objects().order_by("id").slice(2),
        Entry::objects().order_by("id").slice(1, 4).slice(1, 2),
        Entry::objects().order_by("id").slice(3, 3),  // empty
        Entry::objects().filter("rating__gte", 2).none(),
        Entry::objects().distinct().order_by("-rating"),
        Entry::objects().distinct().order_by("id"),
    };
    for (const auto& qs : cases) {
        auto back = round_trip<Entry>(qs);
        CHECK(ids(back) == ids(qs));
    }
    // A random order: the same statement.
    round_trip<Entry>(Entry::objects().order_by("?"));
    // The model's default ordering (Country's Meta.ordering) and its reversal.
    Country::objects().create({{"code", "FR"}, {"name", "France"}, {"population", 68}});
    Country::objects().create({{"code", "DE"}, {"name", "Germany"}, {"population", 84}});
    auto countries = round_trip<Country>(Country::objects().reverse());
    CHECK(countries[0].code == "FR");
    // DISTINCT ON: PostgreSQL only, elsewhere the same NotSupportedError before and after.
    auto on = Entry::objects().order_by("blog", "-rating").distinct("blog");
    auto back = QuerySet<Entry>::loads(on.dumps());
    if (test::is_postgresql()) {
        CHECK(back.sql() == on.sql());
        CHECK(test::headlines(back) == V{"Lennon returns", "Pancakes", "Election"});
    } else {
        CHECK_THROWS_AS(back.sql(), dorm::NotSupportedError);
    }
}

TEST_CASE("values(), values_list() and dates() round-trip and keep their row type", "[serialize]") {
    test::BlogData data;
    auto v = round_trip<Entry>(Entry::objects().values().order_by("id"));
    CHECK(rows(v) == rows(Entry::objects().values().order_by("id")));
    auto fields = Entry::objects().values("headline", "blog__name", "pub_date__year", "lower", dorm::Lower("headline")).order_by("id");
    CHECK(rows(round_trip<Entry>(fields)) == rows(fields));
    auto grouped = Entry::objects().values("blog").annotate("n", Count("id"), "avg", dorm::Avg("rating")).order_by("blog");
    CHECK(rows(round_trip<Entry>(grouped)) == rows(grouped));
    auto tuples = Entry::objects().order_by("id").values_list<std::int64_t, std::string>("id", "headline");
    CHECK(rows(round_trip<Entry>(tuples)) == rows(tuples));
    auto flat = Entry::objects().order_by("-id").values_list<std::string>("headline", dorm::flat);
    CHECK(rows(round_trip<Entry>(flat)) == rows(flat));
    auto named = Entry::objects().order_by("id").values_list("id", dorm::Upper("headline"), dorm::named);
    CHECK(rows(round_trip<Entry>(named)) == rows(named));
    auto years = Entry::objects().dates("pub_date", "year", "DESC");
    CHECK(rows(round_trip<Entry>(years)) == rows(years));
    auto months = Comment::objects().datetimes("posted", "month");
    round_trip<Comment>(months);
    // The QuerySet type must fit the rows the text's query yields.
    check_error<dorm::TypeError>([&] { QuerySet<Entry>::loads(fields.dumps()); }, "values() query of 4 columns");
    check_error<dorm::TypeError>([&] { QuerySet<Row>::loads<Entry>(Entry::objects().dumps()); }, "query of Entry instances");
    check_error<dorm::TypeError>([&] { QuerySet<std::tuple<std::int64_t>>::loads<Entry>(tuples.dumps()); },
                                 "selects 2 columns but the QuerySet's type holds 1");
    check_error<dorm::TypeError>([&] { QuerySet<std::string>::loads<Entry>(tuples.dumps()); }, "selects 2 columns");
    // Rows of a values() text load as Rows whatever call made them.
    CHECK(rows(QuerySet<Row>::loads<Entry>(named.dumps())).size() == 5);
}

TEST_CASE("select_related() and prefetch_related() round-trip and still save their queries", "[serialize]") {
    test::BlogData data;
    auto sr = round_trip<Entry>(Entry::objects().select_related("blog").order_by("id"));
    {
        dorm::CaptureQueries queries;
        std::vector<std::string> names;
        for (const auto& e : sr) names.push_back(e.blog->name);
        CHECK(names.size() == 5);
        CHECK(queries.size() == 1);
    }
    round_trip<Entry>(Entry::objects().select_related().order_by("id"));
    round_trip<Entry>(Entry::objects().select_related("blog").select_related(nullptr));
    round_trip<Comment>(Comment::objects().select_related("entry__blog", "author"));

    auto pf = round_trip<Blog>(Blog::objects().prefetch_related("entry_set", "entry_set__authors").order_by("name"));
    {
        dorm::CaptureQueries queries;
        std::vector<std::size_t> counts;
        for (const auto& b : pf) counts.push_back(dorm::prefetched<Entry>(b, "entry_set").size());
        CHECK(counts == std::vector<std::size_t>{2, 2, 1});
        CHECK(queries.size() == 3);
    }
    auto good = round_trip<Blog>(
        Blog::objects().prefetch_related(dorm::Prefetch("entry_set", Entry::objects().filter("rating__gte", 3).order_by("-rating"), "good"))
            .order_by("name"));
    {
        dorm::CaptureQueries queries;
        std::vector<std::string> out;
        for (const auto& b : good)
            for (const auto& e : dorm::prefetched<Entry>(b, "good")) out.push_back(e.headline);
        CHECK(out == V{"Lennon returns", "Beatles reunion", "Pancakes"});
        CHECK(queries.size() == 2);
    }
    round_trip<Blog>(Blog::objects().prefetch_related("entry_set").prefetch_related());
    round_trip<Entry>(Entry::objects().prefetch_related("blog"));
}

TEST_CASE("subqueries, set operations and QuerySet operators round-trip", "[serialize]") {
    test::BlogData data;
    std::vector<EntryQuerySet> cases = {
        Entry::objects().filter("blog__in", Blog::objects().filter("name__startswith", "C")),
        Entry::objects().filter("blog__in", Blog::objects().filter("tagline__icontains", "news").values("id")),
        Entry::objects().exclude("id__in", Comment::objects().values("entry")),
        Entry::objects().filter("rating", 5).union_(Entry::objects().filter("rating", 1)).order_by("headline"),
        Entry::objects().filter("rating__gte", 2).union_(Entry::objects().filter("rating__lte", 3), true).order_by("-id"),
        Entry::objects().filter("rating__gte", 2).intersection(Entry::objects().filter("rating__lte", 4)).order_by("id"),
        Entry::objects().difference(Entry::objects().filter("blog", data.beatles)).order_by("id").slice(0, 2),
        Entry::objects().filter("rating__gte", 4) | Entry::objects().filter("blog__name", "News"),
        Entry::objects().filter("rating__gte", 2) & Entry::objects().filter("headline__contains", "o"),
        Entry::objects().filter("rating__gte", 3) ^ Entry::objects().filter("number_of_comments__gt", 2),
        Entry::objects().none() | Entry::objects().filter("rating", 4),
    };
    for (const auto& qs : cases) {
        auto back = round_trip<Entry>(qs);
        CHECK(ids(back.ordered() ? back : back.order_by("id")) == ids(qs.ordered() ? qs : qs.order_by("id")));
    }
    // Parts over another model, in a values() union.
    auto names = Entry::objects().values_list<std::string>("headline", dorm::flat)
                     .union_(Blog::objects().values_list<std::string>("name", dorm::flat)).order_by("headline");
    CHECK(rows(round_trip<Entry>(names)).size() == 8);
}

TEST_CASE("defer(), only(), select_for_update(), using_() and custom QuerySets round-trip", "[serialize]") {
    test::BlogData data;
    auto deferred = round_trip<Entry>(Entry::objects().defer("body_text", "rating_note").order_by("id"));
    CHECK(deferred[0].get_deferred_fields() == V{"body_text", "rating_note"});
    auto only = round_trip<Entry>(Entry::objects().only("headline").defer("headline").order_by("id"));
    CHECK(only[0].get_deferred_fields() == Entry::objects().only("headline").defer("headline").order_by("id")[0].get_deferred_fields());
    round_trip<Entry>(Entry::objects().only().order_by("id"));
    round_trip<Entry>(Entry::objects().defer("headline").defer());

    auto locked = Entry::objects().filter("rating__gte", 4).select_for_update({.nowait = true, .of = {"self"}});
    auto back = round_trip<Entry>(locked);
    dorm::atomic([&] { CHECK(ids(back) == ids(locked)); });
    round_trip<Entry>(Entry::objects().select_for_update({.skip_locked = true, .no_key = true}));

    // The database alias is part of the query (dorm keeps it there).
    auto elsewhere = Entry::objects().using_("replica").filter("rating", 1);
    CHECK(QuerySet<Entry>::loads(elsewhere.dumps()).db() == "replica");

    // A custom QuerySet's methods are recorded as the calls they make; loads() gives the custom type back.
    auto custom = Entry::objects().well_rated().commented().order_by("id");
    EntryQuerySet loaded = round_trip<Entry>(custom).well_rated();
    CHECK(ids(loaded) == ids(custom));
    // A ForeignKey related manager's QuerySet is objects().filter(key): it dumps as one.
    auto managed = dorm::related<&Entry::blog>(data.beatles).filter("rating__gte", 1).order_by("id");
    CHECK(ids(QuerySet<Entry>::loads(managed.dumps())) == ids(managed));
}

TEST_CASE("values of every type round-trip exactly", "[serialize]") {
    test::Database db;
    dorm::Bytes blob{std::byte{0}, std::byte{0x7f}, std::byte{0xff}, std::byte{'"'}};
    auto moment = dorm::DateTime(2005, 7, 28, 12, 30, 5, 123456);
    auto qs = Sample::objects().filter(
        Q("flag", true) | Q("small", -3) | Q("big", std::numeric_limits<std::int64_t>::min()) |
        Q("big", std::numeric_limits<std::int64_t>::max()) | Q("real", 0.1) | Q("real", -2.5e-300) | Q("real", 1e300) |
        Q("real", 5e-324) | Q("real", -0.0) | Q("real", std::numeric_limits<double>::infinity()) |
        Q("text", "tab\there \"quoted\" back\\slash line\nnext caf\xc3\xa9 \x7f") | Q("data", blob) |
        Q("day", dorm::Date(1, 1, 1)) | Q("day", dorm::Date(9999, 12, 31)) | Q("moment", moment) |
        Q("moment", dorm::DateTime(1, 1, 1)) | Q("clock", dorm::Time(23, 59, 59, 999999)) | Q("maybe_int", std::nullopt) |
        Q("maybe_text", std::nullopt));
    auto back = round_trip<Sample>(qs);
    CHECK(back.count() == 0);
    Sample s;
    s.flag = true;
    s.real = 0.1;
    s.text = "caf\xc3\xa9";
    s.data = blob;
    s.moment = moment;
    s = Sample::objects().create(s);
    CHECK(ids(back) == std::vector<std::int64_t>{s.id});
    CHECK(ids(QuerySet<Sample>::loads(Sample::objects().filter("data", blob).filter("moment", moment).dumps())) ==
          std::vector<std::int64_t>{s.id});
    // Not a value a database stores, but a value all the same: NaN and text with NUL.
    auto nan = QuerySet<Sample>::loads(Sample::objects().filter("real", std::nan("")).dumps());
    CHECK(std::isnan(nan.sql_with_params().params.at(0).as<double>()));
    std::string with_nul("a\0b", 3);
    CHECK(QuerySet<Sample>::loads(Sample::objects().filter("text", with_nul).dumps()).sql_with_params().params.at(0) ==
          dorm::Value(with_nul));
}

TEST_CASE("dumps() refuses what loads() would not rebuild the same", "[serialize]") {
    test::BlogData data;
    using dorm::NotSupportedError;
    check_error<NotSupportedError>([] { (void)Entry::objects().extra({.where = {"rating > 2"}}).filter("id__gt", 0).dumps(); },
                                   "built with extra()");
    check_error<NotSupportedError>([] { (void)Entry::objects().annotate("r", dorm::RawSQL("1 + 1")).dumps(); },
                                   "RawSQL cannot be serialised");
    check_error<NotSupportedError>([] { (void)Entry::objects().annotate("a", dorm::Func("ABS", {"rating"})).dumps(); },
                                   "Func('ABS') cannot be serialised");
    check_error<NotSupportedError>([] { (void)Entry::objects().filter("rating", dorm::Func("ABS", {"rating"})).dumps(); },
                                   "Func('ABS')");
    check_error<NotSupportedError>(
        [] { (void)Entry::objects().filter("blog__in", Blog::objects().annotate("x", dorm::RawSQL("1"))).dumps(); },
        "RawSQL");
    Entry soup = Entry::objects().get("headline", "Soup");
    check_error<NotSupportedError>([&] { (void)dorm::related<&Entry::authors>(soup).filter("name", "Ann").dumps(); },
                                   "built with a ManyToMany related manager");
    // A nested query over a model loads() could not name (not related to Entry).
    check_error<NotSupportedError>(
        [] { (void)Entry::objects().filter("id__in", Artist::objects().values("id")).dumps(); },
        "Artist (table 'artist'), which is neither Entry nor a model related to it");
    // Query state made outside QuerySet methods: no recipe, or one that no longer describes it.
    auto bare = std::make_shared<dorm::sql::Query>();
    bare->model = &dorm::model_meta<Entry>();
    check_error<NotSupportedError>([&] { (void)QuerySet<Entry>(std::shared_ptr<const dorm::sql::Query>(bare)).dumps(); },
                                   "was not built from Entry::objects()");
    dorm::sql::Query changed = Entry::objects().filter("rating", 1).query();
    changed.distinct = true;
    check_error<NotSupportedError>(
        [&] { (void)QuerySet<Entry>(std::make_shared<const dorm::sql::Query>(changed)).dumps(); },
        "do not rebuild the same query");
    // What is refused stays refused after further (recorded) calls.
    check_error<NotSupportedError>(
        [] { (void)Entry::objects().extra({.where = {"rating > 2"}}).order_by("id").slice(0, 1).dumps(); }, "extra()");
}

TEST_CASE("loads() rejects malformed, hostile and mismatched text with clear errors", "[serialize]") {
    test::BlogData data;
    using dorm::ValueError;
    auto load = [](std::string text) { return [text] { (void)QuerySet<Entry>::loads(text); }; };
    // Not a dorm query, another version.
    check_error<ValueError>(load(""), "not a dorm query");
    check_error<ValueError>(load("SELECT * FROM entry"), "not a dorm query");
    check_error<ValueError>(load("dorm-query/2 (query \"Entry\" \"entry\")"), "format \"dorm-query/2\"; this version of dorm reads \"dorm-query/1\"");
    check_error<ValueError>(load("dorm-query/ (query)"), "format \"dorm-query/?\"");
    check_error<ValueError>(load("dorm-query/1(query \"Entry\" \"entry\")"), "expected a space after the format tag");
    // Malformed text.
    check_error<ValueError>(load("dorm-query/1 "), "unexpected end of the text");
    check_error<ValueError>(load("dorm-query/1 (query \"Entry\" \"entry\""), "a list is not closed");
    check_error<ValueError>(load("dorm-query/1 (query \"Entry\" \"entry\"))"), "unexpected text after the query");
    check_error<ValueError>(load("dorm-query/1 (query \"Entry\" \"entry) "), "a string is not closed");
    check_error<ValueError>(load(entry_text("(filter (lookup \"headline\" \"a\\qb\"))")), "unknown escape");
    check_error<ValueError>(load(entry_text("(filter (lookup \"headline\" \"a\\x4\"))")), "\\x needs two hexadecimal digits");
    check_error<ValueError>(load(entry_text("(filter (lookup \"headline\" \"a\nb\"))")), "control character");
    check_error<ValueError>(load(entry_text("(filter (lookup \"rating\" 99999999999999999999))")), "out of the range of 64 bits");
    check_error<ValueError>(load(entry_text("(filter (lookup \"rating\" 12abc))")), "expected an integer");
    check_error<ValueError>(load(entry_text("(filter (lookup \"rating\" #))")), "unexpected '#'");
    check_error<ValueError>(load(entry_text("(filter)")), "(filter ...) takes 1 argument, not 0");
    check_error<ValueError>(load(entry_text("(filter (lookup 3 3))")), "expected a lookup path (a string), found an integer");
    check_error<ValueError>(load(entry_text("()")), "expected a list starting with a word, found an empty list");
    check_error<ValueError>(load(entry_text("(drop_table \"entry\")")), "unknown QuerySet method 'drop_table'");
    check_error<ValueError>(load(entry_text("(filter (lookup \"rating\" maybe))")), "'maybe' is not a value");
    check_error<ValueError>(load(entry_text("(filter (lookup \"rating\" (float \"1.5x\")))")), "'1.5x' is not a number");
    check_error<ValueError>(load(entry_text("(filter (lookup \"rating\" (bytes \"abc\")))")), "two hexadecimal digits each");
    check_error<ValueError>(load(entry_text("(filter (lookup \"pub_date\" (date 99999999)))")), "a date outside years 1..9999");
    check_error<ValueError>(load(entry_text("(filter (lookup \"pub_date\" (datetime -9223372036854775807)))")), "outside years 1..9999");
    check_error<ValueError>(load(entry_text("(filter (lookup \"pub_date\" (time 86400000000)))")), "a time outside");
    check_error<ValueError>(load(entry_text("(annotate (as \"x\" (Cast (F \"rating\") varchar)))")), "unknown field type 'varchar'");
    check_error<ValueError>(load(entry_text("(filter (weird))")), "unknown condition 'weird'");
    check_error<ValueError>(load(entry_text("(annotate (as \"x\" (Raw \"1\")))")), "unknown expression 'Raw'");
    // Deep nesting is refused before anything recurses on it.
    std::string deep = entry_text("(filter " + std::string(1000, '(') + std::string(1000, ')') + ")");
    check_error<ValueError>(load(deep), "nests deeper than 200 levels");
    // Size limits, so that no text makes loading slow: elements of a list, calls.
    std::string wide = "(filter (lookup \"id__in\" (list";
    for (int i = 0; i < 10001; ++i) wide += " 1";
    check_error<ValueError>(load(entry_text(wide + ")))")), "a list in the query text has more than 10000 elements");
    std::string calls;
    for (int i = 0; i < 5001; ++i) calls += "(reverse)";
    std::string part = "(query \"Entry\" \"entry\" " + calls + ")";
    check_error<ValueError>(load(entry_text("(union " + part + " " + part + ")")), "more than 10000 QuerySet calls");
    // Only dorm's own functions, operators and aggregates: a text cannot call any SQL function.
    check_error<ValueError>(load(entry_text("(annotate (as \"x\" (Func \"pg_sleep\" (value 10))))")), "the function 'pg_sleep' is not one loads() calls");
    check_error<ValueError>(load(entry_text("(annotate (as \"x\" (Func \"LOWER\")))")), "LOWER takes 1 argument(s), not 0");
    check_error<ValueError>(load(entry_text("(annotate (as \"x\" (Func \"SUBSTRING\" (F \"headline\") (value 1) (value 2) "
                                        "(value 3))))")), "SUBSTRING takes 2 to 3 argument(s), not 4");
    check_error<ValueError>(load(entry_text("(annotate (as \"x\" (Func \"CONCAT\" (F \"headline\"))))")),
                            "CONCAT takes at least 2 argument(s), not 1");
    check_error<ValueError>(load(entry_text("(annotate (as \"x\" (Func \"EXTRACT\" (F \"pub_date\") (value \"epoch'--\"))))")),
                            "Extract has no 'epoch'--'");
    // A function's own checks hold on load: Collate's name is written into the SQL, never bound.
    check_error<ValueError>(load(entry_text("(annotate (as \"x\" (Func \"COLLATE\" (F \"headline\") (value \"C\\\" --\"))))")),
                            "Invalid collation name");
    check_error<ValueError>(load(entry_text("(annotate (as \"x\" (Func \"LEFT\" (F \"headline\") (value 0))))")),
                            "'length' must be greater than 0.");
    check_error<ValueError>(load(entry_text("(annotate (as \"x\" (op \"; DROP TABLE entry; --\" (F \"id\") (F \"id\"))))")), "unknown operator");
    check_error<ValueError>(load(entry_text("(annotate (as \"x\" (aggregate \"sleep\" (F \"id\"))))")), "unknown aggregate 'sleep'");
    check_error<ValueError>(load(entry_text("(annotate (as \"x\" (aggregate \"Count\" (F \"id\") (delimiter \",\"))))")), "only StringAgg");
    // Every name is resolved as the QuerySet methods resolve it: SQL in a name is an unknown field, never SQL.
    check_error<dorm::FieldError>(load(entry_text("(filter (lookup \"nope\" 1))")), "Cannot resolve keyword 'nope' into field");
    check_error<dorm::FieldError>(load(entry_text("(filter (lookup \"headline\\\"; DROP TABLE entry; --\" 1))")), "DROP TABLE");
    check_error<dorm::FieldError>(load(entry_text("(order_by \"id; DELETE FROM entry\")")), "Cannot resolve keyword");
    check_error<dorm::FieldError>(load(entry_text("(values \"headline\" \"nope\")")), "Cannot resolve keyword 'nope'");
    check_error<ValueError>(load(entry_text("(annotate (as \"x\\\" FROM entry; --\" (F \"id\")))")), "Column aliases cannot contain");
    check_error<ValueError>(load(entry_text("(slice -1)")), "Negative indexing is not supported");
    // select_for_update(of=...) names are checked when the lock is written, as after select_for_update() itself.
    auto locked = QuerySet<Entry>::loads(entry_text("(select_for_update (of \"nope\"))"));
    if (test::is_postgresql())
        check_error<dorm::FieldError>([&] { (void)locked.sql(); }, "Invalid field name(s) given in select_for_update");
    else
        CHECK(locked.sql() == Entry::objects().sql());  // SQLite does not lock, as in Django
    CHECK(Entry::objects().count() == 5);  // nothing ran
    // Another model's text, and a nested query over a model not related to Entry.
    check_error<ValueError>([&] { (void)QuerySet<Entry>::loads(Blog::objects().dumps()); },
                            "the text holds a query of Blog (table 'blog'), not of Entry (table 'entry')");
    check_error<ValueError>(load("dorm-query/1 (query \"Entry\" \"blog\")"), "not of Entry (table 'entry')");
    check_error<ValueError>(load(entry_text("(filter (lookup \"id__in\" (query \"Artist\" \"artist\" (values \"id\"))))")),
                            "neither Entry nor a model related to it");
    check_error<ValueError>(load(entry_text("(filter (lookup \"id__in\" (query \"Sample\" \"sample\")))")), "Sample");
    // A combination is with a query of the same model.
    check_error<ValueError>(load(entry_text("(combine or (query \"Blog\" \"blog\"))")), "not of Entry");
}

TEST_CASE("wide conditions round-trip, and load in time", "[serialize]") {
    test::BlogData data;
    Q any;
    for (int i = 0; i < 300; ++i) any |= Q("id", i) & ~Q("headline", std::to_string(i));  // SQLite nests ORs 1,000 deep at most
    auto qs = Entry::objects().filter(any).order_by("id");
    CHECK(ids(round_trip<Entry>(qs)) == ids(qs));
    // 10,000 alternatives written by hand: combined pairwise on load, not one by one.
    std::string text = "(filter (or";
    for (int i = 0; i < 10000; ++i) text += " (lookup \"id\" " + std::to_string(i) + ")";
    auto wide = QuerySet<Entry>::loads(entry_text(text + "))"));
    CHECK(wide.sql_with_params().params.size() == 10000);
    const auto* node = dynamic_cast<const dorm::sql::WhereNode*>(wide.query().where->children.at(0).get());
    REQUIRE(node);
    CHECK(node->children.size() == 10000);  // one OR node, as the operators make it
}

TEST_CASE("a QuerySet built by many calls is destroyed without recursing once per call", "[serialize]") {
    test::Database db;
    auto qs = Entry::objects().all();
    for (int i = 0; i < 100000; ++i) qs = qs.reverse();
    CHECK(qs.sql() == Entry::objects().sql());
    qs = Entry::objects().all();  // drops the 100,000 recorded calls
    CHECK(qs.dumps() == "dorm-query/1 (query \"Entry\" \"entry\")");
}
