// SPDX-License-Identifier: MIT
// Answers that must be Django's: the places where a plausible implementation silently differs.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

using dorm::Count;
using dorm::related;
using V = std::vector<std::string>;

namespace {
// order_by() of a reverse relation and of a many-to-many named alone: the related model's Meta.ordering.
struct Shelf {
    std::int64_t id = 0;
    std::string name{};
    DORM_MODEL(Shelf, id, name)
};
struct Volume {
    std::int64_t id = 0;
    dorm::ForeignKey<Shelf> shelf{};
    int position = 0;
    DORM_MODEL(Volume, id, shelf, position)
    static void meta(dorm::Meta<Volume>& m) {
        m.ordering = {"position"};
        m.field(&Volume::shelf).db_column("shelf_ref");  // its attname is still "shelf_id"
    }
};
struct Reader {
    std::int64_t id = 0;
    std::string name{};
    dorm::ManyToMany<Volume> volumes{};
    DORM_MODEL(Reader, id, name, volumes)
};
template <class QS>
std::vector<std::string> in_order(const QS& qs) {
    std::vector<std::string> out;
    for (const auto& o : qs) out.push_back(o.name);
    return out;
}
struct Library : test::Database {
    Library() {
        dorm::drop_tables<Shelf, Volume, Reader>();
        dorm::create_tables<Shelf, Volume, Reader>();
    }
    ~Library() { dorm::drop_tables<Shelf, Volume, Reader>(); }
};
}  // namespace

TEST_CASE("a ForeignKey related manager's get_or_create / update_or_create set the key", "[fidelity]") {
    test::BlogData data;
    auto entries = related<&Entry::blog>(data.cooking);
    auto [made, created] = entries.get_or_create({{"headline", "Waffles"}, {"pub_date", dorm::Date(2009, 1, 1)},
                                                  {"mod_date", dorm::Date(2009, 1, 1)}});
    CHECK(created);
    CHECK(made.blog.id() == data.cooking.id);
    auto [again, created_again] = entries.get_or_create({{"headline", "Waffles"}});
    CHECK(!created_again);
    CHECK(again.id == made.id);
    // Only the parent's rows are looked at: "Election" belongs to another blog, so a new one is created here.
    auto [other, created_other] = entries.get_or_create({{"headline", "Election"}});
    CHECK(created_other);
    CHECK(other.blog.id() == data.cooking.id);
    auto [updated, created_u] = entries.update_or_create({{"headline", "Waffles"}}, {{"rating", 5}});
    CHECK(!created_u);
    CHECK(updated.rating == 5);
    auto [fresh, created_f] = entries.update_or_create({{"headline", "Crepes"}}, {{"rating", 2}});
    CHECK(created_f);
    CHECK(fresh.blog.id() == data.cooking.id);
    CHECK(test::sorted(related<&Entry::blog>(data.cooking)) == V{"Crepes", "Election", "Pancakes", "Soup", "Waffles"});
}

TEST_CASE("a ManyToMany related manager's get_or_create / update_or_create link what they create", "[fidelity]") {
    test::BlogData data;
    Entry soup = Entry::objects().get("headline", "Soup");
    auto authors = related<&Entry::authors>(soup);
    auto [ann, created] = authors.get_or_create({{"name", "Ann"}});
    CHECK(created);
    CHECK(authors.filter("name", "Ann").exists());
    auto [ann2, created2] = authors.get_or_create({{"name", "Ann"}});
    CHECK(!created2);
    CHECK(ann2.id == ann.id);
    auto [bob, created_b] = authors.update_or_create({{"name", "Bob"}}, {{"email", "bob@example.com"}});
    CHECK(created_b);
    CHECK(related<&Entry::authors>(soup).count() == 2);
    CHECK(related<&Entry::authors>(bob).count() == 1);  // the reverse side sees the link
}

TEST_CASE("writes through a related manager drop the prefetched objects", "[fidelity]") {
    test::BlogData data;
    auto blogs = Blog::objects().prefetch_related("entry_set", "entry_set__authors").order_by("name");
    Blog cooking = *std::next(blogs.begin());
    REQUIRE(cooking.name == "Cooking");
    auto entries = related<&Entry::blog>(cooking);
    REQUIRE(entries.is_evaluated());
    CHECK(entries.count() == 2);
    entries.create({{"headline", "Waffles"}, {"pub_date", dorm::Date(2009, 1, 1)}, {"mod_date", dorm::Date(2009, 1, 1)}});
    CHECK(entries.count() == 3);                           // the same manager
    CHECK(related<&Entry::blog>(cooking).count() == 3);    // a new manager over the same instance
    Entry election = Entry::objects().get("headline", "Election");
    related<&Entry::blog>(cooking).add(election);
    CHECK(related<&Entry::blog>(cooking).count() == 4);
    related<&Entry::blog>(cooking).get_or_create({{"headline", "Crepes"}});
    CHECK(related<&Entry::blog>(cooking).count() == 5);

    // The ManyToMany side.
    auto entries_prefetched = Entry::objects().prefetch_related("authors").order_by("id");
    Entry first = *entries_prefetched.begin();
    auto authors = related<&Entry::authors>(first);
    REQUIRE(authors.is_evaluated());
    CHECK(authors.count() == 0);
    Author ann = Author::objects().create({{"name", "Ann"}});
    authors.add(ann);
    CHECK(authors.count() == 1);
    CHECK(related<&Entry::authors>(first).count() == 1);
    related<&Entry::authors>(first).create({{"name", "Bob"}});
    CHECK(related<&Entry::authors>(first).count() == 2);
    related<&Entry::authors>(first).remove(ann);
    CHECK(related<&Entry::authors>(first).count() == 1);
    related<&Entry::authors>(first).clear();
    CHECK(related<&Entry::authors>(first).count() == 0);
    related<&Entry::authors>(first).set({ann});
    CHECK(related<&Entry::authors>(first).count() == 1);
}

TEST_CASE("update() after union / intersection / difference is NotSupportedError", "[fidelity]") {
    test::BlogData data;
    auto a = Entry::objects().filter("rating__gte", 4);
    auto b = Entry::objects().filter("rating__lte", 1);
    CHECK_THROWS_AS(a.union_(b).update({{"rating", 0}}), dorm::NotSupportedError);
    CHECK_THROWS_AS(a.intersection(b).update({{"rating", 0}}), dorm::NotSupportedError);
    CHECK_THROWS_AS(a.difference(b).update({{"rating", 0}}), dorm::NotSupportedError);
    CHECK(Entry::objects().filter("rating", 0).count() == 0);
}

TEST_CASE("first() / last() of an unordered aggregation by values() are a TypeError", "[fidelity]") {
    test::BlogData data;
    auto per_blog = Entry::objects().values("blog").annotate("n", Count("id"));
    CHECK_THROWS_AS(per_blog.first(), dorm::TypeError);
    CHECK_THROWS_AS(per_blog.last(), dorm::TypeError);
    auto first = per_blog.order_by("blog").first();
    REQUIRE(first);
    CHECK((*first)["n"].as<std::int64_t>() == 2);
    // Grouping by the primary key: ordering by it changes nothing, so Django allows it.
    auto by_pk = Entry::objects().values("id").annotate("n", Count("authors"));
    REQUIRE(by_pk.first());
    CHECK((*by_pk.first())["n"].as<std::int64_t>() == 0);
    // A model annotate() groups by every field: allowed.
    REQUIRE(Blog::objects().annotate("n", Count("entry")).first());
}

TEST_CASE("distinct() selects the columns it is ordered by, through relations too", "[fidelity]") {
    test::BlogData data;
    // Two entries with the same rating on different blogs: DISTINCT rating alone would merge them.
    data.add(data.news, "Extra", dorm::Date(2009, 5, 5), 5, 0, 0, std::nullopt);
    auto ratings = Entry::objects().values("rating").distinct().order_by("headline");
    std::vector<std::int64_t> got;
    for (const auto& row : ratings) {
        CHECK(row.size() == 1);  // the ordering column is not in the row
        got.push_back(row["rating"].as<std::int64_t>());
    }
    CHECK(got == std::vector<std::int64_t>{3, 2, 5, 5, 4, 1});  // Beatles reunion, Election, Extra, Lennon, ...
    auto through = Entry::objects().values("rating").distinct().order_by("blog__name", "rating");
    got.clear();
    for (const auto& row : through) got.push_back(row["rating"].as<std::int64_t>());
    CHECK(got == std::vector<std::int64_t>{3, 5, 1, 4, 2, 5});
    auto models = Entry::objects().distinct().order_by("blog__name", "headline");
    CHECK(test::headlines(models) == V{"Beatles reunion", "Lennon returns", "Pancakes", "Soup", "Election", "Extra"});
}

TEST_CASE("an unassigned automatic primary key reads as None", "[fidelity]") {
    test::Database db;
    Blog unsaved;
    unsaved.name = "x";
    CHECK(unsaved.pk().is_null());
    unsaved.save();
    CHECK(!unsaved.pk().is_null());
    CHECK(unsaved.pk() == dorm::Value(unsaved.id));
    std::vector<Blog> blogs(2);
    blogs[0].name = "x";  // conflicts with the saved one
    blogs[1].name = "y";
    dorm::BulkCreateOptions o;
    o.ignore_conflicts = true;
    auto made = Blog::objects().bulk_create(blogs, o);
    for (const auto& b : made) CHECK(b.pk().is_null());  // Django leaves pk None with ignore_conflicts
    CHECK(Blog::objects().count() == 2);
}

TEST_CASE("regex / iregex speak the common Python syntax on SQLite, and bad patterns are errors", "[fidelity]") {
    test::Database db;
    for (const char* name : {"Room 101", "room", "Über", "über alles", "café", "a_b", "x-y"})
        Blog::objects().create({{"name", name}});
    auto names = [](const char* lookup, const char* pattern) {
        std::vector<std::string> out;
        for (const auto& b : Blog::objects().filter(std::string(lookup), pattern).order_by("name")) out.push_back(b.name);
        return out;
    };
    // \d, \w and \s classes and anchors, on both backends (PostgreSQL's own regular expressions know them too).
    CHECK(names("name__regex", "\\d{3}$") == V{"Room 101"});
    CHECK(names("name__regex", "^\\w+$") == V{"a_b", "café", "room", "Über"});
    CHECK(names("name__regex", "\\s") == V{"Room 101", "über alles"});
    CHECK(names("name__iregex", "^room") == V{"Room 101", "room"});
    if (!test::is_postgresql()) {
        // Python's \b (PostgreSQL spells it \y) and Unicode case folding.
        CHECK(names("name__regex", "\\bb") == V{});
        CHECK(names("name__regex", "\\balles\\b") == V{"über alles"});
        CHECK(names("name__iregex", "^ÜBER") == V{"Über", "über alles"});
        CHECK(names("name__iregex", "CAFÉ") == V{"café"});
    }
    CHECK_THROWS_AS(names("name__regex", "(unclosed"), dorm::DatabaseError);
    CHECK_THROWS_AS(names("name__iregex", "[z-a]"), dorm::DatabaseError);
}

TEST_CASE("refusals and errors as Django's: alias() is not selectable, Count has no default, iterator() after "
          "prefetch_related() needs a chunk size, a missing reverse one-to-one", "[fidelity]") {
    test::BlogData data;
    auto aliased = Entry::objects().alias("n", dorm::F("rating"));
    CHECK(aliased.filter("n__gte", 4).count() == 2);  // usable in filters
    CHECK_THROWS_WITH(aliased.values("n").count(),
                      Catch::Contains("Cannot select the 'n' alias. Use annotate() to promote it."));
    CHECK_THROWS_AS(aliased.values_list("n", dorm::named).count(), dorm::FieldError);
    CHECK_THROWS_WITH(Count("id", {.default_ = dorm::Value(0)}), Catch::Contains("Count does not allow default."));
    CHECK_THROWS_AS(Blog::objects().prefetch_related("entry_set").iterator(), dorm::ValueError);
    std::size_t n = 0;
    for (const auto& b : Blog::objects().prefetch_related("entry_set").iterator(100)) n += b.name.empty() ? 0 : 1;
    CHECK(n == 3);
    CHECK(Blog::objects().iterator().begin() != Blog::objects().iterator().end());  // no prefetch: the default size

    Author ann = Author::objects().create({{"name", "Ann"}});
    CHECK_THROWS_AS(dorm::related_object<&Profile::author>(ann), dorm::RelatedObjectDoesNotExist<Profile>);
    CHECK_THROWS_AS(dorm::related_object<&Profile::author>(ann), Profile::DoesNotExist);
    CHECK_THROWS_WITH(dorm::related_object<&Profile::author>(ann), Catch::Contains("Author has no profile."));
}

TEST_CASE("a PostgreSQL boolean in raw SQL results is a boolean", "[fidelity]") {
    test::BlogData data;
    auto entries = Entry::objects().raw("SELECT id, headline, rating > 3 AS good FROM entry WHERE headline = %s",
                                        {dorm::Value("Soup")});
    REQUIRE(entries.size() == 1);
    const dorm::Value& good = entries[0].annotations()["good"];
    if (test::is_postgresql()) CHECK(good == dorm::Value(false));  // SQLite has no boolean type: 0, as in Django
    else CHECK(good == dorm::Value(0));
}

TEST_CASE("order_by() a relation orders by the related model's Meta.ordering", "[fidelity]") {
    test::Database db;
    auto country = [](const char* code, const char* name, int population) {
        Country c;
        c.code = code;
        c.name = name;
        c.population = population;
        return Country::objects().create(c);
    };
    Country fr = country("FR", "France", 68), de = country("DE", "Germany", 84), be = country("BE", "Belgium", 12);
    auto city = [](const Country& c, const char* name) {
        City x;
        x.country = c;
        x.name = name;
        return City::objects().create(x);
    };
    city(fr, "Paris");
    city(de, "Berlin");
    city(be, "Brussels");
    auto names = [](const auto& qs) {
        std::vector<std::string> out;
        for (const auto& c : qs) out.push_back(c.name);
        return out;
    };
    // Country's ordering is ("-population", "name"): the most populous first.
    CHECK(names(City::objects().order_by("country")) == V{"Berlin", "Paris", "Brussels"});
    CHECK(names(City::objects().order_by("-country")) == V{"Brussels", "Paris", "Berlin"});
    CHECK(names(City::objects().order_by("country_id")) == V{"Brussels", "Berlin", "Paris"});  // the key itself
    CHECK(names(City::objects().order_by("country__pk")) == V{"Brussels", "Berlin", "Paris"});
}

TEST_CASE("explain() formats, slicing with a step, a Q as an annotation, expressions in values_list()",
          "[fidelity]") {
    test::BlogData data;
    if (!test::is_postgresql()) {
        CHECK_THROWS_WITH(Entry::objects().explain("json"),
                          Catch::Contains("JSON is not a recognized format. SQLite does not support any formats."));
        CHECK_THROWS_AS(Entry::objects().explain("", "verbose"), dorm::ValueError);
    } else {
        CHECK_THROWS_AS(Entry::objects().explain("csv"), dorm::ValueError);
    }
    auto by_headline = Entry::objects().order_by("headline");
    std::vector<std::string> stepped;
    for (const auto& e : by_headline.slice(0, std::nullopt, 2)) stepped.push_back(e.headline);
    CHECK(stepped == V{"Beatles reunion", "Lennon returns", "Soup"});
    stepped.clear();
    for (const auto& e : by_headline.slice(1, 5, 3)) stepped.push_back(e.headline);
    CHECK(stepped == V{"Election", "Soup"});
    // A negative step is Python's list[::step] (from the last row backwards); 0 is Django's `qs` itself, except on
    // an evaluated QuerySet, whose list Python refuses to slice with it.
    stepped.clear();
    for (const auto& e : by_headline.slice(0, std::nullopt, -2)) stepped.push_back(e.headline);
    CHECK(stepped == V{"Soup", "Lennon returns", "Beatles reunion"});
    stepped.clear();
    for (const auto& e : by_headline.slice(1, 4, -1)) stepped.push_back(e.headline);
    CHECK(stepped == V{"Pancakes", "Lennon returns", "Election"});
    CHECK(by_headline.slice(0, 2, 0).size() == 2);
    CHECK_THROWS_AS(by_headline.slice(-1, std::nullopt, 2), dorm::ValueError);  // "Negative indexing is not supported."
    // On an evaluated QuerySet, Django slices its list: Python's list[start:stop:step], None (std::nullopt) included.
    auto evaluated = by_headline;
    CHECK(evaluated.size() == 5);
    CHECK_THROWS_AS(evaluated.slice(0, 2, 0), dorm::ValueError);
    CHECK(evaluated.slice(0, 2, -1).empty());        // [0:2:-1]
    CHECK(evaluated.slice(0, std::nullopt, -1).size() == 1);  // [0::-1]: the first row alone
    stepped.clear();
    for (const auto& e : evaluated.slice(std::nullopt, std::nullopt, -1)) stepped.push_back(e.headline);
    CHECK(stepped == V{"Soup", "Pancakes", "Lennon returns", "Election", "Beatles reunion"});
    stepped.clear();
    for (const auto& e : evaluated.slice(3, 0, -2)) stepped.push_back(e.headline);
    CHECK(stepped == V{"Pancakes", "Election"});
    stepped.clear();
    for (const auto& e : evaluated.slice(1, 9, 2)) stepped.push_back(e.headline);
    CHECK(stepped == V{"Election", "Pancakes"});

    auto good = Entry::objects().annotate("good", dorm::Q("rating__gte", 4)).order_by("headline");
    std::vector<bool> flags;
    for (const auto& row : good.values("headline", "good")) flags.push_back(row["good"].as<bool>());
    CHECK(flags == std::vector<bool>{false, false, true, true, false});
    CHECK(good.filter("good", true).count() == 2);
    // Django selects the condition itself (WhereNode in a SELECT list), not CASE WHEN ... ELSE false: a comparison
    // with NULL is NULL (None), and its negation has exclude()'s IS NOT NULL. Q() is true, a Q matching nothing false.
    auto noted = Entry::objects()
                     .annotate("solid", dorm::Q("rating_note", "solid"), "not_solid", ~dorm::Q("rating_note", "solid"),
                               "all", dorm::Q(), "none", dorm::Q("pk__in", std::vector<std::int64_t>{}), "not_none", ~dorm::Q())
                     .order_by("headline");
    std::vector<std::string> seen;
    auto text = [](const dorm::Value& v) { return v.is_null() ? std::string("null") : v.as<bool>() ? "true" : "false"; };
    for (const auto& row : noted.values("solid", "not_solid", "all", "none", "not_none"))
        seen.push_back(text(row["solid"]) + " " + text(row["not_solid"]) + " " + text(row["all"]) + " " +
                       text(row["none"]) + " " + text(row["not_none"]));
    CHECK(seen == std::vector<std::string>{"true false true false true", "null true true false true",
                                           "null true true false true", "null true true false true",
                                           "false true true false true"});
    CHECK(noted.filter("solid", true).count() == 1);
    CHECK(noted.filter("solid", false).count() == 1);
    CHECK(noted.filter("solid__isnull", true).count() == 3);
    // No IS NOT NULL for an annotation in exclude() (Django's build_filter() returns before adding it): NOT NULL
    // drops the three rows, which CASE ... ELSE false kept.
    CHECK(noted.exclude("solid", true).count() == 1);
    // ~Q() of a condition that matches nothing matches everything (Django's WhereNode turns EmptyResultSet negated
    // into FullResultSet).
    CHECK(Entry::objects().annotate("x", ~dorm::Q("pk__in", std::vector<std::int64_t>{})).filter("x", true).count() == 5);
    std::map<std::string, std::int64_t> groups;
    for (const auto& row : Entry::objects()
                               .annotate("solid", dorm::Q("rating_note", "solid"))
                               .values("solid")
                               .annotate("n", dorm::Count("id")))
        groups[text(row["solid"])] = row["n"].as<std::int64_t>();
    CHECK(groups == std::map<std::string, std::int64_t>{{"false", 1}, {"null", 3}, {"true", 1}});
    // values_list() names a positional Q by its class, as Django's ("q1").
    auto named = Entry::objects().filter("headline", "Soup").values_list(dorm::Q("rating__gte", 4), dorm::named);
    CHECK(named.begin()->contains("q1"));

    auto pairs = Entry::objects().order_by("id").values_list<std::int64_t, std::string>("id", dorm::Lower("headline"));
    REQUIRE(pairs.size() == 5);
    CHECK(std::get<1>(*pairs.begin()) == "lennon returns");
}

TEST_CASE("only() with no names, select_related(nullptr), in_bulk() by field, refresh_from_db(fields)",
          "[fidelity]") {
    test::BlogData data;
    // Django's get_select_mask(): with no names left, every field loads (only(), only(x).defer(x), ...).
    auto bare = Entry::objects().only().order_by("id");
    REQUIRE(bare.count() == 5);
    CHECK(bare.begin()->headline == "Lennon returns");
    CHECK(bare.begin()->get_deferred_fields().empty());
    CHECK(Entry::objects().only("headline").defer("headline").order_by("id").begin()->get_deferred_fields().empty());
    CHECK(Entry::objects().defer("headline").only("headline").order_by("id").begin()->get_deferred_fields().empty());
    // only(a).defer(a, b): b deferred alone (Django's test_defer_only_chaining).
    auto chained = Entry::objects().only("headline").defer("headline", "rating").order_by("id");
    CHECK(chained.begin()->get_deferred_fields() == std::vector<std::string>{"rating"});
    CHECK(chained.begin()->headline == "Lennon returns");
    // A ForeignKey by its attname, and "pk".
    auto keyed = Entry::objects().only("headline", "blog_id").order_by("id");
    CHECK(keyed.begin()->blog.id() == data.beatles.id);
    CHECK(Entry::objects().defer("blog_id").order_by("id").begin()->get_deferred_fields() == std::vector<std::string>{"blog"});
    CHECK(Entry::objects().only("pk").order_by("id").begin()->get_deferred_fields().size() == 9);

    auto cleared = Entry::objects().select_related("blog").select_related(nullptr).order_by("id");
    CHECK(cleared.query().select_related.empty());
    CHECK(!cleared.begin()->blog.is_cached());

    auto by_name = Blog::objects().in_bulk<std::string>(std::nullopt, "name");
    CHECK(by_name.size() == 3);
    CHECK(by_name.at("Cooking").id == data.cooking.id);
    if (test::is_postgresql()) {
        // A non-unique field will do when the QuerySet is distinct on it alone.
        auto by_rating = Entry::objects().distinct("rating").in_bulk(std::vector<std::int64_t>{5, 1}, "rating");
        CHECK(by_rating.size() == 2);
    }
    CHECK_THROWS_AS(Entry::objects().in_bulk(std::vector<std::int64_t>{5}, "rating"), dorm::ValueError);

    Entry soup = Entry::objects().get("headline", "Soup");
    Entry::objects().filter("pk", soup.id).update({{"rating", 9}, {"headline", "Stew"}});
    soup.refresh_from_db({.fields = {"rating"}});
    CHECK(soup.rating == 9);
    CHECK(soup.headline == "Soup");  // not asked for: kept
    CHECK_THROWS_AS(soup.refresh_from_db({.fields = {"blog__name"}}), dorm::ValueError);
    Entry partial = Entry::objects().only("headline").get("pk", soup.id);
    partial.refresh_from_db({.fields = {"rating"}});
    CHECK(partial.rating == 9);
    CHECK(partial.get_deferred_fields().size() == 7);  // headline and rating loaded now
}

TEST_CASE("pattern lookups take F() expressions, whose wildcards match literally", "[fidelity]") {
    test::BlogData data;
    // (headline, rating_note): the note is the pattern; a wildcard in it must not act as one.
    for (auto [headline, note] : std::vector<std::pair<std::string, std::string>>{
             {"50% off", "%"}, {"plain", "%%"}, {"x_y", "_"}, {"xy", "_"}, {"back\\slash", "\\"},
             {"a*", "*"}, {"ab", "?"}, {"[x]", "[x]"}, {"x", "[x]"}, {"Upper CASE", "case"}, {"pre-fix", "pre"}})
        data.add(data.news, headline, dorm::Date(2010, 1, 1), 1, 0, 0, note);
    auto matching = [](std::string_view lookup) {
        return test::sorted(Entry::objects().filter(dorm::runtime(std::string("headline__") + std::string(lookup)),
                                                    dorm::F("rating_note")));
    };
    CHECK(matching("contains") == V{"50% off", "[x]", "a*", "back\\slash", "pre-fix", "x_y"});
    CHECK(matching("icontains") == V{"50% off", "Upper CASE", "[x]", "a*", "back\\slash", "pre-fix", "x_y"});
    CHECK(matching("startswith") == V{"[x]", "pre-fix"});
    CHECK(matching("istartswith") == V{"[x]", "pre-fix"});
    CHECK(matching("endswith") == V{"[x]", "a*"});
    CHECK(matching("iendswith") == V{"Upper CASE", "[x]", "a*"});
    CHECK(matching("exact") == V{"[x]"});
    CHECK(matching("iexact") == V{"[x]"});
    CHECK(Entry::objects().filter("body_text__endswith", dorm::F("headline")).count() == 16);
    // Through a relation, on either side.
    data.add(data.news, "news", dorm::Date(2010, 1, 1), 1, 0, 0, std::nullopt);
    CHECK(test::sorted(Entry::objects().filter("blog__name__iexact", dorm::F("headline"))) == V{"news"});
    CHECK(test::sorted(Entry::objects().filter("headline__istartswith", dorm::F("blog__name"))) == V{"news"});
    // NULL as the pattern matches nothing, as NULL does in SQL.
    CHECK(Entry::objects().filter("rating_note__isnull", true).filter("headline__contains", dorm::F("rating_note")).count() == 0);
}

TEST_CASE("pattern lookups on fields that are not text compare the column as text, as Django casts it", "[fidelity]") {
    test::BlogData data;
    CHECK(test::sorted(Entry::objects().filter("rating__contains", 5)) == V{"Lennon returns"});
    CHECK(test::sorted(Entry::objects().filter("rating__iexact", 3)) == V{"Beatles reunion"});
    CHECK(test::sorted(Entry::objects().filter("number_of_comments__startswith", "1")) == V{"Lennon returns"});
    CHECK(test::sorted(Entry::objects().filter("number_of_comments__endswith", 0)) ==
          V{"Beatles reunion", "Lennon returns", "Soup"});
    CHECK(test::sorted(Entry::objects().filter("pub_date__startswith", "2005")) == V{"Lennon returns", "Pancakes"});
    CHECK(test::sorted(Entry::objects().filter("pub_date__contains", "-03-")) == V{"Lennon returns"});
    CHECK(test::sorted(Entry::objects().filter("rating__regex", "^[45]$")) == V{"Lennon returns", "Pancakes"});
    CHECK(test::sorted(Entry::objects().exclude("rating__icontains", "1")) ==
          V{"Beatles reunion", "Election", "Lennon returns", "Pancakes"});
    // Against an expression of another type: the number of comments written in the headline.
    data.add(data.news, "7 comments", dorm::Date(2010, 1, 1), 1, 7, 0, std::nullopt);
    CHECK(test::sorted(Entry::objects().filter("headline__startswith", dorm::F("number_of_comments"))) == V{"7 comments"});
    // Binary data is not text: refused, as a lookup that does not apply.
    CHECK_THROWS_AS(Sample::objects().filter(dorm::runtime("data__icontains"), "x"), dorm::FieldError);
    CHECK_THROWS_AS(Entry::objects().filter("headline__contains", dorm::Bytes{}), dorm::TypeError);
}

TEST_CASE("only() / defer() reach through select_related(), and a followed key cannot be deferred", "[fidelity]") {
    test::BlogData data;
    auto qs = Entry::objects().select_related("blog").only("headline", "blog__name");
    auto sql = qs.sql();
    CHECK(sql.find("\"blog\".\"tagline\"") == std::string::npos);
    CHECK(sql.find("\"blog\".\"name\"") != std::string::npos);
    CHECK(sql.find("\"entry\".\"body_text\"") == std::string::npos);
    CHECK(sql.find("\"entry\".\"blog_id\"") != std::string::npos);  // the key select_related() follows
    Entry soup = qs.get("headline", "Soup");
    {
        dorm::CaptureQueries none;
        CHECK(soup.blog.get().name == "Cooking");  // loaded with the entry
        CHECK(soup.blog.get().tagline.empty());    // deferred
        CHECK(none.queries().empty());
    }
    CHECK(soup.blog.get().get_deferred_fields() == std::vector<std::string>{"tagline"});
    CHECK(soup.get_deferred_fields().size() == 7);  // all but id, blog, headline
    // defer() of a related field: the rest of both models is loaded.
    Entry soup2 = Entry::objects().select_related("blog").defer("blog__tagline", "body_text").get("headline", "Soup");
    CHECK(soup2.rating == 1);
    CHECK(soup2.body_text.empty());
    CHECK(soup2.blog.get().name == "Cooking");
    CHECK(soup2.blog.get().get_deferred_fields() == std::vector<std::string>{"tagline"});
    // only() naming the relation alone loads the related object whole.
    Entry soup3 = Entry::objects().select_related("blog").only("headline", "blog").get("headline", "Soup");
    CHECK(soup3.blog.get().tagline == "Recipes");
    // Two levels deep, and a NULL-able relation that is NULL.
    Comment::objects().create({{"entry", soup.id}, {"text", "anonymous"}});
    auto comments = Comment::objects()
                        .select_related("entry__blog", "author")
                        .only("text", "entry__headline", "entry__blog__name", "author__name");
    auto c = comments.get("text", "anonymous");
    CHECK(!c.author.has_value());
    CHECK(c.entry.get().headline == "Soup");
    CHECK(c.entry.get().rating == 0);  // deferred
    CHECK(c.entry.get().blog.get().name == "Cooking");
    CHECK(c.entry.get().blog.get().tagline.empty());
    CHECK_THROWS_AS(Comment::objects().select_related("entry__blog").only("text", "entry__headline").sql(),
                    dorm::FieldError);  // entry.blog is followed but deferred
    // Django: the followed ForeignKey itself cannot be deferred.
    CHECK_THROWS_WITH(Entry::objects().select_related("blog").only("headline").sql(),
                      Catch::Contains("Field Entry.blog cannot be both deferred and traversed using select_related at the same time."));
    CHECK_THROWS_AS(Entry::objects().select_related("blog").defer("blog").sql(), dorm::FieldError);
    // select_related() without names overrides defer() (Django's test_defer_foreign_keys_are_deferred_and_not_traversed):
    // the relation is followed, and its key loaded.
    {
        Entry followed = Entry::objects().defer("blog").select_related().get("headline", "Soup");
        dorm::CaptureQueries none;
        CHECK(followed.blog.is_cached());
        CHECK(followed.blog.get().name == "Cooking");
        CHECK(followed.blog.id() == data.cooking.id);
        Entry only_headline = Entry::objects().select_related().only("headline").get("headline", "Soup");
        CHECK(only_headline.blog.get().tagline == "Recipes");
        CHECK(only_headline.rating == 0);  // deferred
        CHECK(none.queries().size() == 1);
    }
    // Django: a named select_related() replaces "every relation", and the other way round.
    CHECK_THROWS_AS(Entry::objects().defer("blog").select_related().select_related("blog").sql(), dorm::FieldError);
    CHECK(Entry::objects().defer("blog").select_related("blog").select_related().get("headline", "Soup").blog.is_cached());
    // Names are checked against the models.
    CHECK_THROWS_AS(Entry::objects().only("blog__nmae"), dorm::FieldDoesNotExist);  // Django's get_field()
    CHECK_THROWS_AS(Entry::objects().only("headline__name"), dorm::FieldError);
    // Without select_related() the related part names nothing to load; the key is loaded, as in Django.
    Entry plain = Entry::objects().only("blog__name").get("headline", "Soup");
    CHECK(plain.blog.id() == data.cooking.id);
}

TEST_CASE("a Prefetch QuerySet's only(), select_related(), prefetch_related(), annotations and using_() apply", "[fidelity]") {
    test::BlogData data;
    Entry soup = Entry::objects().get("headline", "Soup");
    Author ann = Author::objects().create({{"name", "Ann"}});
    related<&Entry::authors>(soup).add(ann);
    Comment::objects().create({{"entry", soup.id}, {"text", "tasty"}, {"author", ann.id}});
    using dorm::Prefetch;
    using dorm::prefetched;
    // only(): the entries hold the headline (and the key they are matched by); no query per entry.
    {
        dorm::CaptureQueries queries;
        auto blogs = Blog::objects().prefetch_related(Prefetch("entry_set", Entry::objects().only("headline"))).order_by("name");
        REQUIRE(blogs.size() == 3);  // evaluated: indexing reads the cache
        const auto& cooking = prefetched<Entry>(blogs[1], "entry_set");
        REQUIRE(cooking.size() == 2);
        CHECK(cooking[0].get_deferred_fields().size() == 7);  // all but id, headline and blog (loaded to match)
        CHECK(queries.queries().size() == 2);
        CHECK(queries.queries()[1].sql.find("\"body_text\"") == std::string::npos);
    }
    // select_related() and annotations on the prefetched comments, and their own prefetch_related().
    {
        auto inner = Comment::objects().select_related("author").annotate("n", dorm::Length("text")).prefetch_related("entry__authors");
        auto entries = Entry::objects().filter("pk", soup.id).prefetch_related(Prefetch("comment_set", inner));
        REQUIRE(entries.size() == 1);
        dorm::CaptureQueries none;
        const auto& comments = prefetched<Comment>(entries[0], "comment_set");
        REQUIRE(comments.size() == 1);
        CHECK(comments[0].author->get().name == "Ann");       // select_related: no query
        CHECK(comments[0].annotations()["n"].as<int>() == 5);  // annotate()
        CHECK(related<&Entry::authors>(comments[0].entry.get()).all().size() == 1);  // the inner prefetch_related()
        CHECK(none.queries().empty());
    }
    // Over a ManyToMany, with only().
    {
        auto entries = Entry::objects().filter("pk", soup.id).prefetch_related(Prefetch("authors", Author::objects().only("name")));
        REQUIRE(entries.size() == 1);
        const auto& authors = prefetched<Author>(entries[0], "authors");
        REQUIRE(authors.size() == 1);
        CHECK(authors[0].name == "Ann");
        CHECK(authors[0].get_deferred_fields() == std::vector<std::string>{"email"});
    }
    // Lookups continue through a to_attr.
    {
        auto blogs = Blog::objects()
                         .prefetch_related(Prefetch("entry_set", Entry::objects().filter("rating__lte", 1), "low"), "low__authors")
                         .order_by("name");
        REQUIRE(blogs.size() == 3);
        dorm::CaptureQueries none;
        const auto& low = prefetched<Entry>(blogs[1], "low");
        REQUIRE(low.size() == 1);
        CHECK(low[0].headline == "Soup");
        CHECK(prefetched<Author>(low[0], "authors").size() == 1);
        CHECK(none.queries().empty());
    }
    // A values() QuerySet cannot be a Prefetch's, as in Django.
    CHECK_THROWS_AS(Blog::objects().prefetch_related(Prefetch("entry_set", Entry::objects().values("headline"))).size(),
                    dorm::ValueError);
    // using_(): the Prefetch QuerySet's own database.
    dorm::databases().add("other", "sqlite::memory:");
    dorm::create_tables<Blog, Author, Entry>("other");
    Blog::objects().using_("other").create({{"id", data.cooking.id}, {"name", "Cooking elsewhere"}});
    Entry::objects().using_("other").create({{"blog", data.cooking.id}, {"headline", "Elsewhere"}, {"pub_date", dorm::Date(2010, 1, 1)},
                                            {"mod_date", dorm::Date(2010, 1, 1)}});
    auto blogs = Blog::objects().filter("pk", data.cooking.id).prefetch_related(Prefetch("entry_set", Entry::objects().using_("other")));
    REQUIRE(blogs.size() == 1);
    const auto& elsewhere = prefetched<Entry>(blogs[0], "entry_set");
    REQUIRE(elsewhere.size() == 1);
    CHECK(elsewhere[0].headline == "Elsewhere");
}

TEST_CASE("QuerySets dorm used to accept but could not write as SQL: a valid statement or Django's error", "[fidelity]") {
    test::BlogData data;
    // A scalar subquery over nothing is NULL, with nothing of the empty query left in the statement.
    auto latest = Blog::objects().annotate(
        "latest", dorm::Subquery(Entry::objects().filter("blog", dorm::OuterRef("pk")).filter("id__in", std::vector<int>{}).values("headline").slice(0, 1)));
    for (const auto& b : latest) CHECK(b.annotations()["latest"].is_null());
    CHECK(latest.count() == 3);
    auto none = Blog::objects().annotate("latest", dorm::Subquery(Entry::objects().none().values("headline"))).filter("name", "News");
    REQUIRE(none.size() == 1);
    CHECK(none[0].annotations()["latest"].is_null());
    // dates() over an aggregate annotation: grouped by the model's columns, not by the aggregate.
    auto years = Entry::objects().annotate("last", dorm::Max("pub_date")).dates("last", "year");
    CHECK(years.size() == 4);  // 2005, 2006, 2007, 2008
    // An aggregate's filter= over an aggregate is refused, as Django refuses it.
    CHECK_THROWS_AS(Author::objects().annotate("m", dorm::Max("name")).annotate("c", dorm::Count("id", {.filter = dorm::Q("m", "x")})),
                    dorm::FieldError);
}

TEST_CASE("FilteredRelation over a ManyToMany, and with its default empty condition", "[fidelity]") {
    test::BlogData data;
    using dorm::FilteredRelation;
    using dorm::Q;
    Author ann = Author::objects().create({{"name", "Ann"}, {"email", "ann@example.com"}});
    Author bob = Author::objects().create({{"name", "Bob"}});
    related<&Entry::authors>(Entry::objects().get("headline", "Soup")).add(ann, bob);
    related<&Entry::authors>(Entry::objects().get("headline", "Election")).add(bob);
    // The reference's example, on entries and their authors: entries with an author whose e-mail is known.
    auto with_email = Entry::objects()
                          .annotate("mailing", FilteredRelation("authors", Q("authors__email__contains", "@")))
                          .filter("mailing__name__icontains", "a");
    CHECK(test::sorted(with_email) == V{"Soup"});
    auto sql = with_email.sql();
    CHECK(sql.find("LEFT OUTER JOIN \"entry_authors\"") != std::string::npos);
    CHECK(sql.find("\"entry_authors\".\"author_id\" = \"mailing\".\"id\" AND ") != std::string::npos);  // in the ON clause
    // Counted per entry: Bob has no e-mail, so Election counts none.
    auto counts = Entry::objects()
                      .annotate("mailing", FilteredRelation("authors", Q("authors__email__contains", "@")), "n", Count("mailing"))
                      .filter("n__gt", 0);
    CHECK(test::sorted(counts) == V{"Soup"});
    CHECK_THROWS_AS(Entry::objects().annotate("mailing", FilteredRelation("authors", Q("authors__email__contains", "@")))
                        .select_related("mailing").sql(),
                    dorm::FieldError);  // multi-valued
    // Django's default condition is Q(): the relation itself, under another name.
    auto any_author = Entry::objects().alias("writers", FilteredRelation("authors")).filter("writers__name", "Bob");
    CHECK(test::sorted(any_author) == V{"Election", "Soup"});
    auto blogs = Blog::objects().annotate("all_entries", FilteredRelation("entry"), "n", Count("all_entries")).order_by("name");
    std::vector<int> n;
    for (const auto& b : blogs) n.push_back(b.annotations().get<int>("n"));
    CHECK(n == std::vector<int>{2, 2, 1});
}

TEST_CASE("qs1 & qs2, | and ^ keep the joins that select_related(), ordering and annotations need", "[fidelity]") {
    test::BlogData data;
    Author ann = Author::objects().create({{"name", "Ann"}});
    related<&Entry::authors>(Entry::objects().get("headline", "Soup")).add(ann);
    // select_related() of the left side: the blog is still joined and loaded.
    auto both = Entry::objects().select_related("blog") & Entry::objects().filter("blog__name", "Cooking");
    REQUIRE(both.size() == 2);
    {
        dorm::CaptureQueries none;
        for (const auto& e : both) CHECK(e.blog.get().name == "Cooking");
        CHECK(none.queries().empty());
    }
    // Ordering across a relation, OR-ed with a multi-valued filter: no duplicates, every row once.
    auto either = Entry::objects().order_by("blog__name", "headline") | Entry::objects().filter("authors__name", "Ann");
    CHECK(test::headlines(either) == V{"Beatles reunion", "Lennon returns", "Pancakes", "Soup", "Election"});
    auto only_soup = Entry::objects().filter("authors__name", "Ann").order_by("blog__name") |
                     Entry::objects().filter("blog__name", "Nothing");
    CHECK(test::headlines(only_soup) == V{"Soup"});
    // An annotation over a relation.
    auto named = Entry::objects().annotate("bn", dorm::F("blog__name")) & Entry::objects().filter("blog__name", "News");
    REQUIRE(named.size() == 1);
    CHECK(named[0].annotations()["bn"].as<std::string>() == "News");
    // XOR with joins on both sides.
    auto odd = Entry::objects().filter("blog__name", "Cooking").select_related("blog") ^ Entry::objects().filter("rating__gte", 4);
    CHECK(test::sorted(odd) == V{"Lennon returns", "Soup"});
}

TEST_CASE("count() and aggregate() ignore the joins order_by() across a relation would add", "[fidelity]") {
    test::BlogData data;
    // Django joins for an ordering only when it compiles the ORDER BY, which count() and aggregate() clear: the
    // blogs are counted once each, while iterating repeats a blog per entry.
    auto by_entry = Blog::objects().order_by("entry__headline");
    CHECK(by_entry.count() == 3);
    CHECK(by_entry.aggregate(Count("id")).get<std::int64_t>("id__count") == 3);
    CHECK(by_entry.filter("name__startswith", "B").count() == 1);
    std::size_t rows = 0;
    for (const auto& b : by_entry) rows += !b.name.empty();
    CHECK(rows == 5);
}

TEST_CASE("a grouped query is not ordered by Meta.ordering: first() and last() order by the primary key",
          "[fidelity]") {
    test::Database db;
    for (auto [code, name, population] : {std::tuple{"FR", "France", 68}, {"DE", "Germany", 84}, {"BE", "Belgium", 12}}) {
        Country c;
        c.code = code;
        c.name = name;
        c.population = population;
        Country::objects().create(c);
    }
    auto grouped = Country::objects().annotate("n", Count("city"));
    CHECK(!grouped.ordered());
    CHECK(grouped.first()->code == "BE");
    CHECK(grouped.last()->code == "FR");
    CHECK(Country::objects().first()->code == "DE");  // not grouped: Meta.ordering
    // Grouped by values(): no ordering and no primary key to order by (Django's TypeError).
    CHECK_THROWS_AS(Country::objects().values("continent").annotate("n", Count("code")).first(), dorm::TypeError);
}

TEST_CASE("exclude() of isnull across a multi-valued relation keeps the rows that have related rows",
          "[fidelity]") {
    test::BlogData data;
    Blog::objects().create({{"name", "Empty"}, {"tagline", "-"}});
    // Django: the excluded subquery keeps its LEFT OUTER JOIN (blogs without entries), so those are excluded.
    CHECK(test::sorted_names(Blog::objects().exclude("entry__isnull", true)) == V{"Beatles Blog", "Cooking", "News"});
    CHECK(test::sorted_names(Blog::objects().exclude("entry", nullptr)) == V{"Beatles Blog", "Cooking", "News"});
    CHECK(test::sorted_names(Blog::objects().filter("entry__isnull", true)) == V{"Empty"});
    CHECK(test::sorted_names(Blog::objects().exclude("entry__isnull", false)) == V{"Empty"});
    // A NULL-able column of the related rows: a blog with an entry without a note, or with no entry (its LEFT
    // OUTER JOIN's NULL row), is excluded; here every blog is.
    CHECK(Blog::objects().exclude("entry__rating_note__isnull", true).count() == 0);
    CHECK(test::sorted_names(Blog::objects().exclude("entry__rating_note__isnull", false)) == V{"Empty", "News"});
}

TEST_CASE("exclude() across a nullable ForeignKey and then a multi-valued relation keeps the rows with no key",
          "[fidelity]") {
    test::BlogData data;
    Entry lennon = Entry::objects().get("headline", "Lennon returns");
    Author ann = Author::objects().create({{"name", "Ann"}});
    Author bob = Author::objects().create({{"name", "Bob"}});
    related<&Entry::authors>(lennon).add(ann);
    auto comment = [&](const char* text, std::optional<Author> author) {
        Comment c;
        c.entry = lennon;
        if (author) c.author = *author;
        c.text = text;
        c.posted = dorm::DateTime(dorm::Date(2005, 3, 21), dorm::Time(12, 0, 0));
        return Comment::objects().create(c);
    };
    comment("by Ann", ann);
    comment("by Bob", bob);
    comment("anonymous", std::nullopt);
    auto texts = [](const auto& qs) {
        std::vector<std::string> out;
        for (const auto& c : qs.order_by("text")) out.push_back(c.text);
        return out;
    };
    // Ann wrote an entry rated 5; Bob wrote none; the anonymous comment has no author, so it is kept (Django's
    // Exists, where NOT IN would drop it for its NULL key).
    CHECK(texts(Comment::objects().exclude(dorm::runtime("author__entry__rating"), 5)) == V{"anonymous", "by Bob"});
    // isnull=True (and = None) is met by the comment with no author (Django keeps the LEFT OUTER JOIN and adds
    // "OR author_id IS NULL"), so exclude() drops it: filter() and exclude() split the rows between them.
    CHECK(texts(Comment::objects().filter(dorm::runtime("author__entry__isnull"), true)) == V{"anonymous", "by Bob"});
    CHECK(texts(Comment::objects().exclude(dorm::runtime("author__entry__isnull"), true)) == V{"by Ann"});
    CHECK(texts(Comment::objects().exclude(dorm::runtime("author__entry"), nullptr)) == V{"by Ann"});
    CHECK(texts(Comment::objects().exclude(dorm::runtime("author__entry__isnull"), false)) == V{"anonymous", "by Bob"});
}

TEST_CASE("a many-to-many manager's join is reused by the next filter() call only, as Django's sticky filter",
          "[fidelity]") {
    test::BlogData data;
    Entry lennon = Entry::objects().get("headline", "Lennon returns");
    Entry reunion = Entry::objects().get("headline", "Beatles reunion");
    Author ann = Author::objects().create({{"name", "Ann"}});
    Author bob = Author::objects().create({{"name", "Bob"}});
    related<&Entry::authors>(lennon).add(ann, bob);
    related<&Entry::authors>(reunion).add(ann);
    auto of_ann = related<&Entry::authors>(ann);  // Lennon returns, Beatles reunion
    // The call right after the manager's condition reads the same link row (Ann's).
    CHECK(test::sorted(of_ann.filter("authors__name", "Bob")).empty());
    CHECK(test::sorted(of_ann.exclude("authors__name", "Bob")) == V{"Beatles reunion", "Lennon returns"});
    // A later one joins the authors afresh: any author of the entry.
    CHECK(test::sorted(of_ann.filter("rating__gte", 1).filter("authors__name", "Bob")) == V{"Lennon returns"});
    CHECK(test::sorted(of_ann.filter("rating__gte", 1).exclude("authors__name", "Bob")) == V{"Beatles reunion"});
    // So does one after any other chained call (Django's Query.chain() forgets the join's alias).
    CHECK(test::sorted(of_ann.order_by("headline").filter("authors__name", "Bob")) == V{"Lennon returns"});
    CHECK(test::sorted(of_ann.all().filter("authors__name", "Bob")) == V{"Lennon returns"});
    CHECK(test::sorted(of_ann.filter().filter("authors__name", "Bob")) == V{"Lennon returns"});
    CHECK(test::sorted(of_ann.distinct().exclude("authors__name", "Bob")) == V{"Beatles reunion"});
    CHECK(test::sorted(of_ann.annotate("n", dorm::Count("id")).filter("authors__name", "Bob")) == V{"Lennon returns"});
    // get_or_create() is not a chained call: its get() reads Ann's link row, finds no Bob, and creates an entry,
    // which has no blog (Django's "__" names are left out of the new object).
    CHECK_THROWS_AS(of_ann.get_or_create({{"authors__name", "Bob"}}), dorm::IntegrityError);
}

TEST_CASE("exclude() of an annotation is NOT (a = v) alone, as Django's: rows where it is NULL are dropped",
          "[fidelity]") {
    test::BlogData data;
    Blog::objects().create({{"name", "Empty"}, {"tagline", "-"}});
    // Django's build_filter() returns an annotation's lookup before adding "IS NOT NULL" for a negated one.
    // Notes: Lennon returns NULL, Beatles reunion "solid", Pancakes NULL, Soup "thin", Election NULL.
    CHECK(test::headlines(Entry::objects().annotate("note", dorm::F("rating_note")).exclude("note", "solid").order_by("headline")) ==
          V{"Soup"});
    CHECK(test::headlines(Entry::objects().alias("note", dorm::F("rating_note")).filter(~dorm::Q("note", "solid")).order_by("headline")) ==
          V{"Soup"});
    // The field itself keeps them (Django adds "OR rating_note IS NULL" there).
    CHECK(test::headlines(Entry::objects().exclude("rating_note", "solid").order_by("headline")) ==
          V{"Election", "Lennon returns", "Pancakes", "Soup"});
    // An aggregate: the blog without entries has no maximum, and is dropped.
    CHECK(test::sorted_names(Blog::objects().annotate("top", dorm::Max("entry__rating")).exclude("top", 5)) ==
          V{"Cooking", "News"});
    // A column compared with the annotation: no "IS NOT NULL" for it either.
    CHECK(test::headlines(Entry::objects()
                              .annotate("note", dorm::F("rating_note"))
                              .exclude("note", dorm::F("body_text"))
                              .order_by("headline")) == V{"Beatles reunion", "Soup"});
}

TEST_CASE("exclude() comparing two columns keeps the rows where the other column is NULL", "[fidelity]") {
    test::Database db;
    auto sample = [](int medium, std::optional<int> maybe) {
        Sample s;
        s.text = std::to_string(medium) + "/" + (maybe ? std::to_string(*maybe) : "null");
        s.day = dorm::Date(2000, 1, 1);
        s.medium = medium;
        s.maybe_int = maybe;
        s.save();
    };
    sample(1, 1);
    sample(2, 3);
    sample(4, std::nullopt);
    std::vector<std::string> kept;
    for (const auto& s : Sample::objects().exclude("medium", dorm::F("maybe_int")).order_by("medium")) kept.push_back(s.text);
    CHECK(kept == V{"2/3", "4/null"});
}

TEST_CASE("HAVING's plain columns are grouped by, as Django groups them", "[fidelity]") {
    test::BlogData data;
    auto rows = Entry::objects()
                    .values("blog")
                    .annotate("n", Count("id"))
                    .filter(dorm::Q("n__gt", 1) | dorm::Q("rating", 5))
                    .order_by("blog");
    std::vector<std::pair<std::int64_t, std::int64_t>> got;
    for (const auto& r : rows) got.emplace_back(r.get<std::int64_t>("blog"), r.get<std::int64_t>("n"));
    CHECK(got == std::vector<std::pair<std::int64_t, std::int64_t>>{{data.beatles.id, 1}});
}

TEST_CASE("a second filter() on a multi-valued relation is the join values() and annotate() reuse", "[fidelity]") {
    test::BlogData data;
    // Django reuses the most recent join of the relation: the 2006 entry's, not Lennon's.
    auto qs = Blog::objects().filter("entry__headline__contains", "Lennon").filter("entry__pub_date__year", 2006);
    CHECK(qs.values("entry__headline").get()["entry__headline"] == dorm::Value("Beatles reunion"));
}

TEST_CASE("get() ignores the joins of an ordering across a relation", "[fidelity]") {
    test::BlogData data;
    CHECK(Blog::objects().order_by("entry__headline").get("name", "Cooking").id == data.cooking.id);
    CHECK(Blog::objects().order_by("-entry__rating").filter("name", "Beatles Blog").values("name").get()["name"] ==
          dorm::Value("Beatles Blog"));
}

TEST_CASE("a negated condition inside an expression stays on the expression's join, as Django resolves it",
          "[fidelity]") {
    test::BlogData data;
    // Django's Q.resolve_expression() does not split an exclusion into a subquery: Count("entry",
    // filter=~Q(entry__rating=5)) counts the entries not rated 5 (Beatles: Reunion), not the blogs without one.
    auto counts = Blog::objects().annotate("n", Count("entry", {.filter = ~dorm::Q("entry__rating", 5)})).order_by("name");
    std::vector<std::int64_t> n;
    for (const auto& b : counts.values_list<std::int64_t>("n")) n.push_back(std::get<0>(b));
    CHECK(n == std::vector<std::int64_t>{1, 2, 1});
    auto cases = Blog::objects()
                     .annotate("low", dorm::Sum(dorm::Case({dorm::When(~dorm::Q("entry__rating__gte", 3), dorm::Value(1))},
                                                           dorm::Value(0))))
                     .order_by("name");
    n.clear();
    for (const auto& b : cases.values_list<std::int64_t>("low")) n.push_back(std::get<0>(b));
    CHECK(n == std::vector<std::int64_t>{0, 1, 1});
}

TEST_CASE("F() in an exclude() across a multi-valued relation names the outer query's field", "[fidelity]") {
    test::BlogData data;
    data.add(data.cooking, "Cooking", dorm::Date(2009, 1, 1), 3, 0, 0, std::nullopt);
    // Django turns F("name") into OuterRef("name"): the blogs with an entry headlined as the blog itself go.
    CHECK(test::sorted_names(Blog::objects().exclude("entry__headline", dorm::F("name"))) == V{"Beatles Blog", "News"});
    // Only a plain F() is moved out, as in Django: inside an expression it is the related row's own (Entry.id).
    CHECK(test::sorted_names(Blog::objects().exclude("entry__rating__gt", dorm::F("id") * 0 + 4)) ==
          V{"Cooking", "News"});
    CHECK(test::sorted_names(Blog::objects().filter("entry__headline", dorm::F("name"))) == V{"Cooking"});
}

TEST_CASE("a lookup under two negations reads a multi-valued relation as exclude() does", "[fidelity]") {
    test::BlogData data;
    // Django keeps the branch negated: a subquery, so each blog once, not once per matching entry.
    CHECK(Blog::objects().exclude(~dorm::Q("entry__rating__gte", 1)).count() == 3);
    CHECK(test::sorted_names(Blog::objects().exclude(~dorm::Q("entry__rating__gte", 4))) == V{"Beatles Blog", "Cooking"});
    auto both = Blog::objects().filter(~(~dorm::Q("entry__rating", 5) & dorm::Q("name", "Beatles Blog")));
    CHECK(test::sorted_names(both) == V{"Beatles Blog", "Cooking", "News"});
    CHECK(both.count() == 3);
    // One negation: unchanged.
    CHECK(test::sorted_names(Blog::objects().exclude("entry__rating", 5)) == V{"Cooking", "News"});
}

TEST_CASE("aggregate() over a sliced distinct() keeps the ordering's columns in what is distinct", "[fidelity]") {
    test::BlogData data;
    data.add(data.news, "Aardvark", dorm::Date(2009, 1, 1), 3, 0, 0, std::nullopt);
    // Django's inner query selects headline too (get_extra_select): the first four (rating, headline) rows are
    // 3, 3, 2, 5.
    auto first_four = Entry::objects().values("rating").distinct().order_by("headline").slice(0, 4);
    CHECK(first_four.aggregate(dorm::Sum("rating")).get<std::int64_t>("rating__sum") == 13);
    CHECK(first_four.count() == 4);
}

TEST_CASE("a negated condition on a relation this filter() call already joined reads that same related row",
          "[fidelity]") {
    test::BlogData data;
    using dorm::Q;
    // Django's split_exclude(), `alias in can_reuse`: the subquery is tied to the entry the first condition joined.
    // Blogs with an entry rated 3 or more that is not "Lennon returns" (a subquery over all their entries would
    // drop the Beatles Blog: 'Cooking' alone).
    auto same_entry = Blog::objects().filter(Q("entry__rating__gte", 3), ~Q("entry__headline", "Lennon returns"));
    CHECK(test::sorted_names(same_entry) == V{"Beatles Blog", "Cooking"});
    CHECK(same_entry.count() == 2);
    CHECK(test::sorted_names(Blog::objects().filter(Q("entry__rating__gte", 3) & ~Q("entry__headline", "Lennon returns"))) ==
          V{"Beatles Blog", "Cooking"});
    // The negated condition first: no join to reuse yet, so it reads all of a blog's entries (as in Django).
    CHECK(test::sorted_names(Blog::objects().filter(~Q("entry__headline", "Lennon returns"), Q("entry__rating__gte", 3))) ==
          V{"Cooking"});
    // Another filter() call: a join of its own, as before.
    CHECK(test::sorted_names(Blog::objects().filter("entry__rating__gte", 3).exclude("entry__headline", "Lennon returns")) ==
          V{"Cooking"});

    // Across a many-to-many (its join table's row is the one reused), and after a many-to-many manager's join.
    auto ringo = Person::objects().create({{"name", "Ringo"}});
    auto paul = Person::objects().create({{"name", "Paul"}});
    auto beatles = Group::objects().create({{"name", "The Beatles"}});
    auto wings = Group::objects().create({{"name", "Wings"}});
    Membership::objects().create({{"person", ringo.id}, {"group", beatles.id}, {"date_joined", dorm::Date(1962, 8, 16)},
                                  {"invite_reason", "Needed a new drummer."}});
    Membership::objects().create({{"person", paul.id}, {"group", beatles.id}, {"date_joined", dorm::Date(1960, 8, 1)},
                                  {"invite_reason", "Wanted to form a band."}});
    Membership::objects().create({{"person", paul.id}, {"group", wings.id}, {"date_joined", dorm::Date(1971, 1, 1)}});
    auto joined_late = Person::objects().filter(Q("membership__date_joined__gt", dorm::Date(1961, 1, 1)),
                                                ~Q("groups__name", "The Beatles"));
    CHECK(test::sorted_names(joined_late) == V{"Paul"});
    // Django's test_exclude_m2m_through: Paul's own membership of the group is the one looked at.
    CHECK(test::sorted_names(related<&Group::members>(paul).exclude("membership__invite_reason", "Needed a new drummer.")) ==
          V{"The Beatles", "Wings"});
    CHECK(test::sorted_names(related<&Group::members>(paul).exclude("membership__invite_reason", "Wanted to form a band.")) ==
          V{"Wings"});
}

TEST_CASE("order_by() after reverse() keeps it reversed, as Django's clear_ordering() keeps standard_ordering",
          "[fidelity]") {
    test::BlogData data;
    CHECK(test::headlines(Entry::objects().reverse().order_by("headline")) ==
          V{"Soup", "Pancakes", "Lennon returns", "Election", "Beatles reunion"});
    CHECK(test::headlines(Entry::objects().order_by("headline").reverse().order_by("rating")) ==
          V{"Lennon returns", "Pancakes", "Beatles reunion", "Election", "Soup"});
    // first() / last() of an unordered QuerySet order by pk through order_by(): a reverse() before them holds.
    auto by_pk = Entry::objects().order_by("pk");
    const auto lowest = by_pk.first()->id, highest = by_pk.last()->id;
    CHECK(Blog::objects().order_by().reverse().first()->id == Blog::objects().order_by("-pk").first()->id);
    CHECK(Entry::objects().order_by().reverse().first()->id == highest);
    CHECK(Entry::objects().order_by().reverse().last()->id == lowest);
    // latest() is reverse().earliest(): after a reverse() it is the earliest.
    CHECK(Entry::objects().reverse().latest("pub_date").headline == "Pancakes");
    CHECK(Entry::objects().reverse().earliest("pub_date").headline == "Election");
    auto days = Entry::objects().reverse().dates("pub_date", "year");
    REQUIRE(days.size() == 4);
    CHECK(days[0].year() == 2008);
}

TEST_CASE("&, |, ^ and distinct() refuse a union, as Django does, instead of dropping a part", "[fidelity]") {
    test::BlogData data;
    auto low = Entry::objects().filter("rating__lte", 2);
    auto high = Entry::objects().filter("rating__gte", 4);
    auto both = low.union_(high);
    auto three = Entry::objects().filter("rating", 3);
    CHECK_THROWS_AS(both | three, dorm::TypeError);
    CHECK_THROWS_AS(three | both, dorm::TypeError);
    CHECK_THROWS_AS(both & three, dorm::TypeError);
    CHECK_THROWS_AS(three ^ both, dorm::TypeError);
    CHECK_THROWS_AS(both.distinct(), dorm::NotSupportedError);
    CHECK_THROWS_AS(low.union_(high, true).distinct(), dorm::NotSupportedError);
    CHECK_THROWS_AS(Entry::objects().slice(0, 2).distinct(), dorm::TypeError);
    CHECK(both.count() == 4);
}

TEST_CASE("order_by() of a reverse relation or a many-to-many alone uses the related model's Meta.ordering",
          "[fidelity]") {
    Library library;
    auto a = Shelf::objects().create({{"name", "A"}});
    auto b = Shelf::objects().create({{"name", "B"}});
    auto third = Volume::objects().create({{"shelf", a.id}, {"position", 3}});  // the lower key, the later position
    auto first = Volume::objects().create({{"shelf", b.id}, {"position", 1}});
    auto r1 = Reader::objects().create({{"name", "r1"}});
    auto r2 = Reader::objects().create({{"name", "r2"}});
    related<&Reader::volumes>(r1).add(third);
    related<&Reader::volumes>(r2).add(first);
    // Django's find_ordering_name(): the relation's final field has no attname of that name.
    CHECK(in_order(Shelf::objects().order_by(dorm::runtime("volume"))) == V{"B", "A"});
    CHECK(in_order(Shelf::objects().order_by(dorm::runtime("-volume"))) == V{"A", "B"});
    CHECK(in_order(Reader::objects().order_by("volumes")) == V{"r2", "r1"});
    CHECK(in_order(Reader::objects().order_by("-volumes")) == V{"r1", "r2"});
    CHECK(in_order(Shelf::objects().order_by(dorm::runtime("volume__id"))) == V{"A", "B"});  // a field: itself
}

TEST_CASE("a ForeignKey's attname is <name>_id whatever its db_column, as Django's Field.attname", "[fidelity]") {
    Library library;
    auto a = Shelf::objects().create({{"name", "A"}});
    auto b = Shelf::objects().create({{"name", "B"}});
    auto v = Volume::objects().create({{"shelf_id", a.id}, {"position", 1}});
    CHECK(v.shelf.id() == a.id);
    Volume::objects().create({{"shelf", b.id}, {"position", 2}});
    CHECK(Volume::objects().filter("shelf_id", b.id).get().position == 2);
    CHECK(Volume::objects().values("shelf_id").order_by("position")[0]["shelf_id"] == dorm::Value(a.id));
    auto loaded = Volume::objects().only("shelf_id").get("position", 2);
    CHECK(loaded.shelf.id() == b.id);
    CHECK(loaded.get_deferred_fields() == V{"position"});
    v.position = 5;
    v.shelf = b;
    v.save({.update_fields = {"shelf_id"}});  // the key only
    auto again = Volume::objects().get("pk", v.id);
    CHECK(again.shelf.id() == b.id);
    CHECK(again.position == 1);
    // The column is no name of the model's (Django's FieldDoesNotExist / FieldError).
    CHECK_THROWS_AS(Volume::objects().only("shelf_ref"), dorm::FieldDoesNotExist);
    CHECK_THROWS_AS(Volume::objects().filter(dorm::runtime("shelf_ref"), a.id), dorm::FieldError);
    CHECK_THROWS_AS(Volume::objects().create({{"shelf_ref", a.id}}), dorm::TypeError);
}

TEST_CASE("exists(), in_bulk(), contains() and Prefetch querysets answer as Django's", "[fidelity]") {
    test::BlogData data;  // 3 blogs, 5 entries (2 for Beatles, 2 for Cooking, 1 for News)
    // exists() clears the ordering, a slice's too (clear_ordering(force=True)): the ordering's join repeats no blog.
    CHECK_FALSE(Blog::objects().order_by("entry__headline").slice(3, 4).exists());
    CHECK(Blog::objects().order_by("entry__headline").slice(2, 3).exists());
    CHECK_FALSE(Blog::objects().order_by("-entry__rating").distinct().slice(3).exists());
    // in_bulk(): a key repeated by a join keeps its last row (Django's dict comprehension).
    auto by_key = Blog::objects().annotate("h", dorm::F("entry__headline")).order_by("h").in_bulk<std::int64_t>();
    CHECK(by_key.at(data.beatles.id).annotations()["h"].as<std::string>() == "Lennon returns");
    CHECK(by_key.at(data.cooking.id).annotations()["h"].as<std::string>() == "Soup");
    // contains() of a set operation is NotSupportedError, evaluated or not.
    auto both = Blog::objects().filter("name", "News").union_(Blog::objects().filter("name", "Cooking"));
    CHECK_THROWS_AS(both.contains(data.news), dorm::NotSupportedError);
    CHECK(both.size() == 2);
    CHECK_THROWS_AS(both.contains(data.news), dorm::NotSupportedError);
    // A Prefetch queryset's to_attr may not hide a field; a sliced one is refused on a ForeignKey (Django filters
    // it by the keys).
    CHECK_THROWS_WITH(Entry::objects().prefetch_related(dorm::Prefetch("authors", Author::objects(), "rating")).size(),
                      Catch::Contains("to_attr=rating conflicts with a field on the Entry model."));
    CHECK_THROWS_AS(Blog::objects().prefetch_related(dorm::Prefetch("entry_set", Entry::objects(), "entry")).size(),
                    dorm::ValueError);
    CHECK_THROWS_AS(Entry::objects().prefetch_related(dorm::Prefetch("blog", Blog::objects().order_by("name").slice(0, 1))).size(),
                    dorm::TypeError);
    CHECK(Blog::objects().prefetch_related(dorm::Prefetch("entry_set", Entry::objects(), "entries")).size() == 3);
}

TEST_CASE("prefetch_related_objects() keeps the lists already prefetched, as Django's is_fetched does", "[fidelity]") {
    test::BlogData data;
    auto blogs = Blog::objects()
                     .prefetch_related(dorm::Prefetch("entry_set", Entry::objects().filter("rating__gte", 4)))
                     .order_by("name");
    std::vector<Blog> v(blogs.begin(), blogs.end());
    REQUIRE(v.size() == 3);
    REQUIRE(v[0].name == "Beatles Blog");
    CHECK(dorm::prefetched<Entry>(v[0], "entry_set").size() == 1);  // Lennon returns (5), not Beatles reunion (3)
    {
        dorm::CaptureQueries capture("default");
        dorm::prefetch_related_objects(v, "entry_set");
        CHECK(capture.size() == 0);  // every blog has its list: nothing to fetch
    }
    CHECK(dorm::prefetched<Entry>(v[0], "entry_set").size() == 1);
    CHECK(dorm::prefetched<Entry>(v[1], "entry_set").size() == 1);  // Pancakes (4), not Soup (1)
    // A longer lookup goes on through the lists kept: one query, for the authors of the entries in them.
    {
        dorm::CaptureQueries capture("default");
        dorm::prefetch_related_objects(v, "entry_set__authors");
        CHECK(capture.size() == 1);
    }
    CHECK(dorm::prefetched<Author>(dorm::prefetched<Entry>(v[0], "entry_set")[0], "authors").empty());
    // A blog without its list is fetched (the others are not).
    Blog fresh = Blog::objects().get("name", "News");
    std::vector<Blog> mixed{v[0], fresh};
    dorm::prefetch_related_objects(mixed, "entry_set");
    CHECK(dorm::prefetched<Entry>(mixed[0], "entry_set").size() == 1);
    CHECK(dorm::prefetched<Entry>(mixed[1], "entry_set").size() == 1);  // Election
}

TEST_CASE("a related manager reads from its Prefetch queryset until a write, as Django's does", "[fidelity]") {
    test::BlogData data;
    auto blogs = Blog::objects()
                     .prefetch_related(dorm::Prefetch("entry_set", Entry::objects().filter("rating__gte", 3).order_by("-rating")))
                     .order_by("name");
    std::vector<Blog> v(blogs.begin(), blogs.end());
    REQUIRE(v.size() == 3);
    REQUIRE(v[0].name == "Beatles Blog");  // Lennon returns (5), Beatles reunion (3)
    REQUIRE(v[1].name == "Cooking");       // Pancakes (4); Soup (1) is not in the queryset
    {
        dorm::CaptureQueries capture("default");
        auto m = related<&Entry::blog>(v[0]);
        CHECK(test::headlines(m.all()) == V{"Lennon returns", "Beatles reunion"});
        CHECK(m.count() == 2);
        // The queryset's ordering: first() reads the list (Django's qs[:1] of an ordered, evaluated queryset).
        CHECK(m.first()->headline == "Lennon returns");
        CHECK(capture.size() == 0);
    }
    // filter() builds on the queryset: its condition and ordering stay.
    CHECK(related<&Entry::blog>(v[1]).filter("headline__startswith", "S").count() == 0);  // Soup is not among them
    CHECK(test::headlines(related<&Entry::blog>(v[0]).filter("rating__lte", 5)) == V{"Lennon returns", "Beatles reunion"});
    CHECK(test::headlines(related<&Entry::blog>(v[1]).exclude("headline", "x")) == V{"Pancakes"});
    // A write drops the list, and the manager reads every related row again (Django: the manager's own queryset).
    auto cooking = related<&Entry::blog>(v[1]);
    Entry election = Entry::objects().get("headline", "Election");
    cooking.add(election);
    CHECK(test::sorted(cooking) == V{"Election", "Pancakes", "Soup"});
    CHECK(cooking.count() == 3);
    CHECK(cooking.filter("headline__startswith", "S").count() == 1);
    // With a to_attr the manager is left alone: its reads are of every related row.
    auto attr = Blog::objects()
                    .filter("pk", data.beatles.id)
                    .prefetch_related(dorm::Prefetch("entry_set", Entry::objects().filter("rating__gte", 4), "good"));
    Blog beatles = *attr.begin();
    CHECK(dorm::prefetched<Entry>(beatles, "good").size() == 1);
    CHECK(related<&Entry::blog>(beatles).count() == 2);
    // get_or_create() looks among the rows the manager reads, as Django's does (the Prefetch queryset's): Pancakes
    // is there, Soup (rated 1) is not, so another Soup is made.
    auto again = Blog::objects()
                     .filter("pk", data.cooking.id)
                     .prefetch_related(dorm::Prefetch("entry_set", Entry::objects().filter("rating__gte", 3)));
    Blog cooking_again = *again.begin();
    const dorm::Kwargs dates{{"pub_date", dorm::Date(2009, 1, 1)}, {"mod_date", dorm::Date(2009, 1, 1)}};
    CHECK_FALSE(related<&Entry::blog>(cooking_again).get_or_create({{"headline", "Pancakes"}}, dates).second);
    Blog cooking_third = *Blog::objects()
                              .filter("pk", data.cooking.id)
                              .prefetch_related(dorm::Prefetch("entry_set", Entry::objects().filter("rating__gte", 3)))
                              .begin();
    CHECK(related<&Entry::blog>(cooking_third).get_or_create({{"headline", "Soup"}}, dates).second);
    CHECK(Entry::objects().filter("headline", "Soup").count() == 2);

    // A ManyToMany manager: the same.
    Author john = Author::objects().create({{"name", "John"}, {"email", "john@example.com"}});
    Author paul = Author::objects().create({{"name", "Paul"}, {"email", "paul@example.com"}});
    Author ringo = Author::objects().create({{"name", "Ringo"}, {"email", "ringo@example.com"}});
    Entry lennon = Entry::objects().get("headline", "Lennon returns");
    related<&Entry::authors>(lennon).add(john, paul);
    auto entries = Entry::objects()
                       .filter("pk", lennon.id)
                       .prefetch_related(dorm::Prefetch("authors", Author::objects().exclude("name", "Paul")));
    Entry e = *entries.begin();
    auto authors = related<&Entry::authors>(e);
    CHECK(test::sorted_names(authors.all()) == V{"John"});
    CHECK(authors.filter("name__startswith", "P").count() == 0);  // Paul is linked but not in the queryset
    CHECK(authors.filter("name__startswith", "J").count() == 1);
    authors.add(ringo);
    CHECK(test::sorted_names(authors) == V{"John", "Paul", "Ringo"});
    CHECK(authors.filter("name__startswith", "P").count() == 1);
}

TEST_CASE("prefetch_related() lookups: a queryset for a lookup already seen, names that are not there, to_attr on a "
          "ForeignKey", "[fidelity]") {
    test::BlogData data;
    // Django: a Prefetch queryset for a lookup already loaded (a level of an earlier lookup counts) would be
    // ignored, so it is ValueError; a plain lookup after it is redundant.
    CHECK_THROWS_WITH(Blog::objects().prefetch_related("entry_set__authors", dorm::Prefetch("entry_set", Entry::objects())).size(),
                      Catch::Contains("'entry_set' lookup was already seen with a different queryset. You may need to "
                                      "adjust the ordering of your lookups."));
    CHECK_THROWS_AS(Blog::objects()
                        .prefetch_related(dorm::Prefetch("entry_set", Entry::objects(), "x"),
                                          dorm::Prefetch("entry_set", Entry::objects().filter("rating__gte", 4), "x"))
                        .size(),
                    dorm::ValueError);
    auto redundant = Blog::objects()
                         .filter("pk", data.beatles.id)
                         .prefetch_related(dorm::Prefetch("entry_set", Entry::objects().filter("rating__gte", 4)), "entry_set");
    CHECK(dorm::prefetched<Entry>(*redundant.begin(), "entry_set").size() == 1);
    // Two to_attr of one relation are two lookups.
    auto two = Blog::objects()
                   .filter("pk", data.beatles.id)
                   .prefetch_related(dorm::Prefetch("entry_set", Entry::objects(), "all_entries"),
                                     dorm::Prefetch("entry_set", Entry::objects().filter("rating__gte", 4), "good"));
    CHECK(dorm::prefetched<Entry>(*two.begin(), "all_entries").size() == 2);
    CHECK(dorm::prefetched<Entry>(*two.begin(), "good").size() == 1);

    // A name that is not there is Django's AttributeError, naming the whole lookup; a to_attr is there only once
    // its lookup ran.
    CHECK_THROWS_AS(Blog::objects().prefetch_related("nope").size(), dorm::AttributeError);
    CHECK_THROWS_WITH(Blog::objects().prefetch_related("good__authors", dorm::Prefetch("entry_set", Entry::objects(), "good")).size(),
                      Catch::Contains("Cannot find 'good' on Blog object, 'good__authors' is an invalid parameter to "
                                      "prefetch_related()"));
    // A level with no objects ends the lookup, as in Django: no entry has comments, so nothing looks for "nope".
    CHECK(Blog::objects().prefetch_related("entry_set__comment_set__nope").size() == 3);

    // to_attr on a ForeignKey: a list of the one object, or none when the queryset leaves it out; the
    // ForeignKey itself is left alone (Django sets the attribute, not the field's cache).
    auto entries = Entry::objects()
                       .prefetch_related(dorm::Prefetch("blog", Blog::objects().filter("name__startswith", "B"), "b_blog"))
                       .order_by("headline");
    std::vector<Entry> v;
    {
        dorm::CaptureQueries capture("default");
        v.assign(entries.begin(), entries.end());
        CHECK(capture.size() == 2);
    }
    REQUIRE(v.size() == 5);
    std::vector<std::size_t> sizes;
    for (const auto& e : v) sizes.push_back(dorm::prefetched<Blog>(e, "b_blog").size());
    // Beatles reunion, Election, Lennon returns, Pancakes, Soup
    CHECK(sizes == std::vector<std::size_t>{1, 0, 1, 0, 0});
    CHECK(dorm::prefetched<Blog>(v[0], "b_blog")[0].name == "Beatles Blog");
    CHECK_FALSE(v[0].blog.is_cached());
    // A later lookup goes on through the to_attr.
    auto through = Entry::objects()
                       .filter("headline", "Soup")
                       .prefetch_related(dorm::Prefetch("blog", Blog::objects(), "the_blog"), "the_blog__entry_set");
    Entry soup = *through.begin();
    REQUIRE(dorm::prefetched<Blog>(soup, "the_blog").size() == 1);
    CHECK(dorm::prefetched<Entry>(dorm::prefetched<Blog>(soup, "the_blog")[0], "entry_set").size() == 2);
}

TEST_CASE("an expression's value has its output type, as Django's convert_value() makes it", "[fidelity]") {
    test::BlogData data;
    using dorm::F;
    auto lennon = Entry::objects().filter("headline", "Lennon returns");  // rating 5
    auto annotated = [&](const char* name, dorm::Expression e) { return lennon.annotate(name, std::move(e)).get().annotations(); };
    // Two integers to a power are an integer (Django's POW of IntegerFields); the database computes a real.
    CHECK(annotated("p", dorm::pow(F("rating"), 2)).get<std::int64_t>("p") == 25);
    CHECK(annotated("p", dorm::pow(F("rating"), -1)).get<std::int64_t>("p") == 0);  // int(0.2)
    // An integer output for a real computation: int() truncates toward zero.
    CHECK(annotated("x", dorm::ExpressionWrapper(F("rating") * -0.5, dorm::FieldKind::integer)).get<std::int64_t>("x") == -2);
    CHECK(annotated("x", dorm::ExpressionWrapper(F("rating") * 0.5, dorm::FieldKind::real)).get<double>("x") == 2.5);
    // values() and aggregate() too.
    auto row = lennon.values("headline").annotate("p", dorm::pow(F("rating"), 2)).get();
    CHECK(row.get<std::int64_t>("p") == 25);
    auto total = Entry::objects().aggregate("half", dorm::Sum(dorm::ExpressionWrapper(F("rating") * 0.5, dorm::FieldKind::integer)));
    CHECK(total.get<std::int64_t>("half") == 7);  // int(0.5 * (5 + 3 + 4 + 1 + 2)) = int(7.5)
    // values_list() of C++ types too.
    CHECK(*lennon.values_list<std::int64_t>(dorm::pow(F("rating"), -1), dorm::flat).begin() == 0);
    auto pair = *lennon.values_list<std::int64_t, std::optional<int>>(
                            dorm::ExpressionWrapper(F("rating") * -0.5, dorm::FieldKind::integer), dorm::pow(F("rating"), 2))
                     .begin();
    CHECK(std::get<0>(pair) == -2);
    CHECK(std::get<1>(pair) == 25);
}

TEST_CASE("a set operation's ordering keeps nulls_first / nulls_last", "[fidelity]") {
    test::BlogData data;
    using dorm::F;
    // Notes: Soup "thin", Election, Lennon returns and Pancakes none.
    auto both = Entry::objects().filter("rating__lte", 2).union_(Entry::objects().filter("rating__gte", 4));
    CHECK(test::headlines(both.order_by(F("rating_note").desc({.nulls_last = true}), "headline")) ==
          V{"Soup", "Election", "Lennon returns", "Pancakes"});
    CHECK(test::headlines(both.order_by(F("rating_note").asc({.nulls_last = true}), "headline")) ==
          V{"Soup", "Election", "Lennon returns", "Pancakes"});
    CHECK(test::headlines(both.order_by(F("rating_note").asc({.nulls_first = true}), "headline")) ==
          V{"Election", "Lennon returns", "Pancakes", "Soup"});
    // reverse() turns NULLS LAST into NULLS FIRST, as for any ordering.
    CHECK(test::headlines(both.order_by(F("rating_note").asc({.nulls_last = true}), "headline").reverse()) ==
          V{"Pancakes", "Lennon returns", "Election", "Soup"});
}

TEST_CASE("a sliced Prefetch queryset with a to_attr is sliced per parent, as Django's ROW_NUMBER() window does",
          "[fidelity]") {
    test::BlogData data;
    auto names = [](const std::vector<Entry>& v) {
        V out;
        for (const auto& e : v) out.push_back(e.headline);
        return out;
    };
    auto blogs = [](const dorm::Prefetch& p) {
        std::vector<Blog> v;
        for (const auto& b : Blog::objects().prefetch_related(p).order_by("name")) v.push_back(b);
        REQUIRE(v.size() == 3);  // Beatles Blog, Cooking, News
        return v;
    };
    // Each blog's best entry: one per blog, not one in all.
    auto top = blogs(dorm::Prefetch("entry_set", Entry::objects().order_by("-rating").slice(0, 1), "top"));
    CHECK(names(dorm::prefetched<Entry>(top[0], "top")) == V{"Lennon returns"});
    CHECK(names(dorm::prefetched<Entry>(top[1], "top")) == V{"Pancakes"});
    CHECK(names(dorm::prefetched<Entry>(top[2], "top")) == V{"Election"});
    // An offset too, and the queryset's conditions before the numbering; reverse() of the ordering counts.
    auto second = blogs(dorm::Prefetch("entry_set", Entry::objects().order_by("rating").reverse().slice(1, 3), "second"));
    CHECK(names(dorm::prefetched<Entry>(second[0], "second")) == V{"Beatles reunion"});
    CHECK(names(dorm::prefetched<Entry>(second[1], "second")) == V{"Soup"});
    CHECK(dorm::prefetched<Entry>(second[2], "second").empty());
    auto good = blogs(dorm::Prefetch("entry_set", Entry::objects().filter("rating__gte", 3).order_by("rating").slice(0, 1), "good"));
    CHECK(names(dorm::prefetched<Entry>(good[0], "good")) == V{"Beatles reunion"});
    CHECK(names(dorm::prefetched<Entry>(good[1], "good")) == V{"Pancakes"});
    CHECK(dorm::prefetched<Entry>(good[2], "good").empty());
    // Under the relation's own name Django's manager filters the sliced queryset, which it refuses.
    CHECK_THROWS_WITH(Blog::objects().prefetch_related(dorm::Prefetch("entry_set", Entry::objects().order_by("rating").slice(0, 1))).size(),
                      Catch::Contains("Cannot filter a query once a slice has been taken."));
    CHECK_THROWS_AS(Entry::objects().prefetch_related(dorm::Prefetch("authors", Author::objects().slice(0, 1))).size(),
                    dorm::TypeError);
    // A ManyToMany: numbered among each entry's links.
    Author john = Author::objects().create({{"name", "John"}, {"email", "john@example.com"}});
    Author paul = Author::objects().create({{"name", "Paul"}, {"email", "paul@example.com"}});
    Entry lennon = Entry::objects().get("headline", "Lennon returns");
    Entry soup = Entry::objects().get("headline", "Soup");
    related<&Entry::authors>(lennon).add(john, paul);
    related<&Entry::authors>(soup).add(paul);
    auto entries = Entry::objects()
                       .filter("authors__isnull", false)
                       .distinct()
                       .order_by("headline")
                       .prefetch_related(dorm::Prefetch("authors", Author::objects().order_by("-name").slice(0, 1), "last"));
    std::vector<Entry> v(entries.begin(), entries.end());
    REQUIRE(v.size() == 2);  // Lennon returns, Soup
    CHECK(test::sorted_names(dorm::prefetched<Author>(v[0], "last")) == V{"Paul"});
    CHECK(test::sorted_names(dorm::prefetched<Author>(v[1], "last")) == V{"Paul"});
    auto rest = Entry::objects()
                    .filter("pk", lennon.id)
                    .prefetch_related(dorm::Prefetch("authors", Author::objects().order_by("-name").slice(1), "rest"));
    CHECK(test::sorted_names(dorm::prefetched<Author>(*rest.begin(), "rest")) == V{"John"});
}

TEST_CASE("grouping and aggregate() as Django's set_group_by() and get_aggregation()", "[fidelity]") {
    test::BlogData data;
    using dorm::F;
    using dorm::Sum;
    auto totals = [](const auto& qs) {
        std::vector<std::int64_t> out;
        for (const auto& row : qs) out.push_back(row.template get<std::int64_t>("total"));
        return out;
    };
    // An aggregate annotate() after values() groups by the values() columns, whatever grouping came before.
    CHECK(totals(Entry::objects().annotate("n", Count("id")).values("blog").annotate("total", Sum("rating")).order_by("blog")) ==
          std::vector<std::int64_t>{8, 5, 2});
    CHECK(totals(Entry::objects()
                     .values("blog")
                     .annotate("n", Count("id"))
                     .values("rating_note")
                     .annotate("total", Count("id"))
                     .order_by("-total")) == std::vector<std::int64_t>{3, 1, 1});  // NULL, "solid", "thin"
    // aggregate() over a grouped query: the inner query groups by the aggregate's argument too (per blog and
    // rating here, every rating distinct), so the sum is of every row; PostgreSQL refused the ungrouped column.
    CHECK(Entry::objects().values("blog").annotate("n", Count("id")).aggregate(Sum("rating")).get<std::int64_t>("rating__sum") == 15);
    // Grouped by (blog, rating), each group counts one entry: none has more than one, so the sum is over no rows
    // (Django: None).
    CHECK(Blog::objects().annotate("n", Count("entry")).filter("n__gt", 1).aggregate(Sum("entry__rating"))["entry__rating__sum"].is_null());
    CHECK(Blog::objects().annotate("n", Count("entry")).filter("n__gt", 1).aggregate(Sum("n")).get<std::int64_t>("n__sum") == 4);
    CHECK(Entry::objects().values("blog").annotate("n", Count("id")).aggregate(Sum("n")).get<std::int64_t>("n__sum") == 5);
    // An expression mixing an aggregate and a column groups by the column (Django's get_group_by_cols()): one row
    // per (blog, rating), each of one entry. PostgreSQL refused the ungrouped rating; SQLite read any row's.
    std::vector<std::int64_t> mixed;
    for (const auto& row : Entry::objects().values("blog").annotate("n", Count("id")).annotate("x", F("n") + F("rating")).order_by("x"))
        mixed.push_back(row.get<std::int64_t>("x"));
    CHECK(mixed == std::vector<std::int64_t>{2, 3, 4, 5, 6});
    // Its constants are not grouped by: one row per blog.
    CHECK(Entry::objects().values("blog").annotate("n", Count("id")).annotate("x", F("n") * 10).count() == 3);
    // ... by its columns, not by the argument itself: one row per (note, headline), where a GROUP BY of the length
    // would merge Pancakes and Election (both 8 letters, no note). 14 + 8 + 8 + 15 + 4.
    CHECK(Entry::objects()
              .values("rating_note")
              .annotate("n", Count("id"))
              .aggregate("total", Sum(dorm::Length("headline")))
              .get<std::int64_t>("total") == 49);
    // An annotation the aggregate names is grouped by whole (a Ref, which Django's _gen_cols() leaves alone): per
    // (blog, rating % 2), the parities sum to 2; grouped by the rating too, they would sum to 3.
    CHECK(Entry::objects()
              .values("blog")
              .annotate("n", Count("id"))
              .annotate("p", F("rating") % 2)
              .aggregate("s", Sum("p"))
              .get<std::int64_t>("s") == 2);
    // values() with no names after values(names): every field, and the annotations that call selected (Django's
    // set_values() keeps its annotation mask).
    auto every = Entry::objects().annotate("n", Count("id")).values("headline", "n").values().order_by("id");
    const dorm::Row first_row = *every.begin();
    CHECK(first_row.size() == dorm::model_meta<Entry>().fields.size() + 1);
    CHECK(first_row.contains("rating"));
    CHECK(first_row.get<std::int64_t>("n") == 1);
    const dorm::Row plain = *Entry::objects().annotate("n", Count("id")).values("headline").values().order_by("id").begin();
    CHECK(plain.size() == dorm::model_meta<Entry>().fields.size());
    CHECK_FALSE(plain.contains("n"));
    // aggregate() may read only selected annotations (Django's resolve_ref(summarize=True)).
    CHECK_THROWS_WITH(Entry::objects().alias("x", F("rating")).aggregate(Sum("x")),
                      Catch::Contains("Cannot aggregate over the 'x' alias. Use annotate() to promote it."));
    CHECK_THROWS_AS(Entry::objects().annotate("n", Count("id")).values("blog").aggregate(Sum("n")), dorm::FieldError);
    CHECK(Entry::objects().annotate("x", F("rating")).aggregate(Sum("x")).get<std::int64_t>("x__sum") == 15);
    CHECK(Entry::objects().alias("x", F("rating")).annotate("y", F("x")).aggregate(Sum("y")).get<std::int64_t>("y__sum") == 15);
    CHECK(Entry::objects().annotate("n", Count("id")).values("blog", "n").aggregate(Sum("n")).get<std::int64_t>("n__sum") == 5);
    // order_by() across a multi-valued relation, then filter() on it: one join, the filter's (Django makes the
    // ordering's joins when it compiles the query, reusing the filter's then).
    CHECK(Blog::objects().order_by("entry__headline").filter("entry__rating", 5).size() == 1);
    CHECK(Blog::objects().order_by("entry__headline").filter("entry__rating", 5).count() == 1);
    V names;
    for (const auto& b : Blog::objects().order_by("-entry__rating").filter("entry__rating__lte", 3)) names.push_back(b.name);
    CHECK(names == V{"Beatles Blog", "News", "Cooking"});  // by the filtered entry's rating: 3, 2, 1
}

TEST_CASE("order_by() as Django's add_ordering() and get_extra_select()", "[fidelity]") {
    test::BlogData data;
    using dorm::Count;
    using dorm::F;
    // An aggregate is ordered by through an annotation (Django's FieldError at the call); the database refused it,
    // or, in a grouped query, computed it per group.
    CHECK_THROWS_WITH(Blog::objects().order_by(Count("entry").desc()),
                      Catch::Contains("Using an aggregate in order_by() without also including it in annotate() is not allowed"));
    CHECK_THROWS_AS(Blog::objects().annotate("n", Count("entry")).order_by((dorm::Sum("entry__rating") + 1).asc()),
                    dorm::FieldError);
    CHECK(test::sorted_names(Blog::objects().annotate("n", Count("entry")).order_by(F("n").desc())) ==
          V{"Beatles Blog", "Cooking", "News"});
    // A random ordering of a DISTINCT query is selected too, so each row is distinct: 5 rows of 3 blogs (SQLite
    // gave 3; PostgreSQL refused an ORDER BY missing from the select list).
    auto blogs = Entry::objects().values("blog").distinct().order_by("?");
    CHECK(std::distance(blogs.begin(), blogs.end()) == 5);
}

TEST_CASE("a model instance is a value for relations only (Django's get_prep_value() refuses it elsewhere)",
          "[fidelity]") {
    test::BlogData data;
    const Blog& news = data.news;
    // Its primary key compared with a rating would match rows by accident; Django raises TypeError.
    CHECK_THROWS_AS(Entry::objects().filter("rating", news), dorm::TypeError);
    CHECK_THROWS_AS(Entry::objects().exclude("rating__gte", news), dorm::TypeError);
    CHECK_THROWS_AS(Entry::objects().filter("rating__in", std::vector<Blog>{news}), dorm::TypeError);
    CHECK_THROWS_AS(Entry::objects().filter("rating__in", {news}), dorm::TypeError);
    CHECK_THROWS_AS(Entry::objects().get("rating", news), dorm::TypeError);
    CHECK_THROWS_AS(Entry::objects().update({{"rating", news}}), dorm::TypeError);
    CHECK_THROWS_AS(Entry::objects().create({{"blog", news}, {"rating", news}}), dorm::TypeError);
    CHECK(Entry::objects().filter("rating__gte", 1).count() == 5);  // nothing was changed
    // A primary key neither (Django: int() of an instance); a relation takes one.
    CHECK_THROWS_AS(Entry::objects().filter("pk", news), dorm::TypeError);
    CHECK_THROWS_AS(Entry::objects().get("pk", news), dorm::TypeError);
    CHECK(test::sorted(Entry::objects().filter("blog", news)) == V{"Election"});
    CHECK(Entry::objects().get("blog", news).headline == "Election");
}
