// SPDX-License-Identifier: MIT
// ManyToMany: the join table, managers on both sides, lookups with Django's multi-valued rules, aggregation,
// prefetch_related, deletion, a relation to the model itself, and a through model.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace dorm;
using V = std::vector<std::string>;
using test::sorted_names;
using test::headlines;

namespace {
/// BlogData's entries with authors: Lennon returns (Ann, Bob), Beatles reunion (Ann), Pancakes (Cy), Soup and
/// Election none; Dee wrote nothing.
struct Authored : test::BlogData {
    Author ann, bob, cy, dee;
    Entry lennon, reunion, pancakes;
    Authored() {
        ann = Author::objects().create({{"name", "Ann"}, {"email", "ann@example.com"}});
        bob = Author::objects().create({{"name", "Bob"}, {"email", "bob@example.com"}});
        cy = Author::objects().create({{"name", "Cy"}, {"email", "cy@example.com"}});
        dee = Author::objects().create({{"name", "Dee"}, {"email", "dee@example.com"}});
        lennon = Entry::objects().get("headline", "Lennon returns");
        reunion = Entry::objects().get("headline", "Beatles reunion");
        pancakes = Entry::objects().get("headline", "Pancakes");
        related<&Entry::authors>(lennon).add(ann, bob);
        related<&Entry::authors>(reunion).add(ann);
        related<&Entry::authors>(pancakes).add(cy);
    }
};
}  // namespace

TEST_CASE("ManyToMany managers: add, remove, clear, set and create on both sides", "[many_to_many]") {
    Authored d;
    CHECK(sorted_names(related<&Entry::authors>(d.lennon)) == V{"Ann", "Bob"});
    CHECK(test::sorted(related<&Entry::authors>(d.ann)) == V{"Beatles reunion", "Lennon returns"});  // reverse side
    CHECK(related<&Entry::authors>(d.dee).count() == 0);
    CHECK(sorted_names(related<&Entry::authors>(d.lennon).filter("name__startswith", "B")) == V{"Bob"});
    // The manager's join is shared by later filters, as in Django: "entry" is Lennon returns (rating 5) here, not
    // any entry of the author (Ann also wrote Beatles reunion, rated 3).
    CHECK(related<&Entry::authors>(d.lennon).filter("entry__rating", 3).count() == 0);
    CHECK(sorted_names(related<&Entry::authors>(d.lennon).filter("entry__rating", 5)) == V{"Ann", "Bob"});

    related<&Entry::authors>(d.lennon).add(d.ann, d.cy);  // Ann is linked already: no duplicate, no error
    CHECK(sorted_names(related<&Entry::authors>(d.lennon)) == V{"Ann", "Bob", "Cy"});
    related<&Entry::authors>(d.lennon).remove(d.bob);
    CHECK(sorted_names(related<&Entry::authors>(d.lennon)) == V{"Ann", "Cy"});
    CHECK(Author::objects().filter("name", "Bob").exists());  // remove() unlinks, the author stays
    related<&Entry::authors>(d.lennon).add(d.dee.id);  // a primary key does as well as an object
    CHECK(sorted_names(related<&Entry::authors>(d.lennon)) == V{"Ann", "Cy", "Dee"});

    related<&Entry::authors>(d.lennon).set({d.bob, d.cy});
    CHECK(sorted_names(related<&Entry::authors>(d.lennon)) == V{"Bob", "Cy"});
    related<&Entry::authors>(d.cy).set({d.reunion});  // from the other side: Cy leaves Lennon and Pancakes
    CHECK(test::sorted(related<&Entry::authors>(d.cy)) == V{"Beatles reunion"});
    CHECK(sorted_names(related<&Entry::authors>(d.lennon)) == V{"Bob"});

    auto eve = related<&Entry::authors>(d.reunion).create({{"name", "Eve"}});
    CHECK(eve.id != 0);
    CHECK(sorted_names(related<&Entry::authors>(d.reunion)) == V{"Ann", "Cy", "Eve"});
    related<&Entry::authors>(d.reunion).clear();
    CHECK(related<&Entry::authors>(d.reunion).count() == 0);
    CHECK(Author::objects().count() == 5);

    Author unsaved;
    unsaved.name = "Nobody";
    CHECK_THROWS_AS(related<&Entry::authors>(d.lennon).add(unsaved), ValueError);
    Entry draft;
    CHECK_THROWS_AS(related<&Entry::authors>(draft), ValueError);
    CHECK_THROWS_WITH(Entry::objects().create({{"headline", "x"}, {"authors", d.ann.id}}),
                      Catch::Contains("Direct assignment to a many-to-many set is prohibited"));
}

TEST_CASE("ManyToMany in lookups, values, ordering and aggregates", "[many_to_many]") {
    Authored d;
    CHECK(test::sorted(Entry::objects().filter("authors__name", "Ann")) == V{"Beatles reunion", "Lennon returns"});
    CHECK(test::sorted(Entry::objects().filter("authors", d.cy.id)) == V{"Pancakes"});
    CHECK(test::sorted(Entry::objects().filter("authors__in", std::vector<std::int64_t>{d.bob.id, d.cy.id})) ==
          V{"Lennon returns", "Pancakes"});
    CHECK(test::sorted(Entry::objects().filter("authors__isnull", true)) == V{"Election", "Soup"});
    CHECK(sorted_names(Author::objects().filter("entry__blog__name", "Beatles Blog").distinct()) == V{"Ann", "Bob"});
    CHECK(sorted_names(Author::objects().filter("entry__isnull", true)) == V{"Dee"});
    CHECK(sorted_names(Blog::objects().filter("entry__authors__name", "Cy")) == V{"Cooking"});
    CHECK(test::sorted(Entry::objects().filter("authors__email__endswith", "@example.com").distinct()) ==
          V{"Beatles reunion", "Lennon returns", "Pancakes"});

    // "authors" alone is the join table's key: no join to the author table.
    auto sql = Entry::objects().filter("authors", d.cy.id).sql();
    CHECK(sql.find("entry_authors") != std::string::npos);
    CHECK(sql.find("\"author\"") == std::string::npos);

    // Django's multi-valued rules: one filter() call = the same author; chained calls may match different ones.
    CHECK(Entry::objects().filter(Q("authors__name", "Ann"), Q("authors__name", "Bob")).count() == 0);
    CHECK(test::sorted(Entry::objects().filter("authors__name", "Ann").filter("authors__name", "Bob")) == V{"Lennon returns"});
    // exclude() across it: entries with no author named Ann (entries without authors included).
    CHECK(test::sorted(Entry::objects().exclude("authors__name", "Ann")) == V{"Election", "Pancakes", "Soup"});
    CHECK(sorted_names(Author::objects().exclude("entry__rating__gte", 4)) == V{"Dee"});

    auto counted = Entry::objects().annotate("n", Count("authors")).order_by("headline");
    std::vector<std::int64_t> n;
    for (const auto& e : counted) n.push_back(e.annotations().get<std::int64_t>("n"));
    CHECK(n == std::vector<std::int64_t>{1, 0, 2, 1, 0});  // reunion, Election, Lennon, Pancakes, Soup
    CHECK(sorted_names(Author::objects().annotate("n", Count("entry")).filter("n", 2)) == V{"Ann"});
    auto per_blog = Blog::objects().annotate("writers", Count("entry__authors", {.distinct = true})).get("name", "Beatles Blog");
    CHECK(per_blog.annotations().get<std::int64_t>("writers") == 2);
    CHECK(Entry::objects().aggregate(Count("authors")).get<std::int64_t>("authors__count") == 4);

    auto rows = Entry::objects().filter("headline", "Lennon returns").values("headline", "authors__name").order_by("authors__name");
    REQUIRE(rows.size() == 2);
    CHECK(rows[0]["authors__name"].as<std::string>() == "Ann");
    CHECK(rows[1]["authors__name"].as<std::string>() == "Bob");
    CHECK(headlines(Entry::objects().filter("authors__isnull", false).order_by("authors__name", "headline")) ==
          V{"Beatles reunion", "Lennon returns", "Lennon returns", "Pancakes"});  // Ann, Ann, Bob, Cy
    CHECK(test::sorted(Entry::objects().filter("authors__name__gt", F("blog__name"))) == V{"Lennon returns", "Pancakes"});
    auto ids = Entry::objects().filter("headline", "Pancakes").values_list<std::int64_t>("authors", dorm::flat);
    REQUIRE(ids.size() == 1);
    CHECK(ids[0] == d.cy.id);

    CHECK_THROWS_WITH(Author::objects().filter("entri__name", "x").count(),
                      Catch::Contains("Choices are: comment, email, entry, id, name"));
}

TEST_CASE("ManyToMany prefetch_related: one query per level, then none", "[many_to_many]") {
    Authored d;
    {
        CaptureQueries q;
        auto entries = Entry::objects().prefetch_related("authors").order_by("headline");
        V out;
        for (const auto& e : entries) out.push_back(fmt::format("{}", related<&Entry::authors>(e).all().size()));
        CHECK(out == V{"1", "0", "2", "1", "0"});
        CHECK(sorted_names(prefetched<Author>(entries[2], "authors")) == V{"Ann", "Bob"});
        CHECK(related<&Entry::authors>(entries[2]).count() == 2);
        CHECK(q.size() == 2);
    }
    {
        CaptureQueries q;
        auto blogs = Blog::objects().prefetch_related("entry_set__authors").order_by("name");
        V out;
        for (const auto& b : blogs)
            for (const auto& e : prefetched<Entry>(b, "entry_set"))
                out.push_back(fmt::format("{}:{}", e.headline, prefetched<Author>(e, "authors").size()));
        std::sort(out.begin(), out.end());
        CHECK(out == V{"Beatles reunion:1", "Election:0", "Lennon returns:2", "Pancakes:1", "Soup:0"});
        CHECK(q.size() == 3);
    }
    {
        CaptureQueries q;
        auto authors = Author::objects().prefetch_related(
                                           Prefetch("entry_set", Entry::objects().filter("rating__gte", 4), "good"))
                           .order_by("name");
        V out;
        for (const auto& a : authors) out.push_back(fmt::format("{}:{}", a.name, prefetched<Entry>(a, "good").size()));
        CHECK(out == V{"Ann:1", "Bob:1", "Cy:1", "Dee:0"});
        CHECK(q.size() == 2);
    }
    CHECK_THROWS_AS(Entry::objects().prefetch_related(Prefetch("authors", Blog::objects())).size(), ValueError);
}

TEST_CASE("ManyToMany deletion removes the links, not the other side", "[many_to_many]") {
    Authored d;
    auto [total, per_model] = Entry::objects().filter("headline", "Lennon returns").delete_();
    CHECK(total == 3);
    CHECK(per_model == std::map<std::string, std::int64_t>{{"Entry", 1}, {"Entry_authors", 2}});
    CHECK(Author::objects().count() == 4);
    CHECK(sorted_names(related<&Entry::authors>(d.reunion)) == V{"Ann"});
    d.ann.delete_();
    CHECK(related<&Entry::authors>(d.reunion).count() == 0);
    CHECK(Entry::objects().filter("headline", "Beatles reunion").exists());
}

TEST_CASE("ManyToMany to the model itself: symmetrical by default, or one way", "[many_to_many]") {
    test::Database db;
    auto a = Person::objects().create({{"name", "a"}});
    auto b = Person::objects().create({{"name", "b"}});
    auto c = Person::objects().create({{"name", "c"}});
    // friends: a link goes both ways, as in Django.
    related<&Person::friends>(a).add(b, c);
    related<&Person::friends>(b).add(c, a);  // b-a exists already
    CHECK(sorted_names(related<&Person::friends>(a)) == V{"b", "c"});
    CHECK(sorted_names(related<&Person::friends>(b)) == V{"a", "c"});
    CHECK(sorted_names(related<&Person::friends>(c)) == V{"a", "b"});
    CHECK(sorted_names(Person::objects().filter("friends__name", "c")) == V{"a", "b"});
    CHECK(sorted_names(Person::objects().filter("friends__friends__name", "a").distinct()) == V{"a", "b", "c"});
    related<&Person::friends>(c).remove(a);
    CHECK(sorted_names(related<&Person::friends>(a)) == V{"b"});
    related<&Person::friends>(b).clear();
    CHECK(related<&Person::friends>(a).count() == 0);
    CHECK(related<&Person::friends>(c).count() == 0);
    CHECK_THROWS_WITH(Person::objects().filter("person__name", "a").count(), Catch::Contains("Cannot resolve keyword 'person'"));

    // follows: one way; the other side is its related_name.
    related<&Person::follows>(a).add(b, c);
    related<&Person::follows>(b).add(c);
    CHECK(sorted_names(related<&Person::follows>(a)) == V{"b", "c"});
    CHECK(sorted_names(related<&Person::follows>(c)).empty());
    CHECK(sorted_names(Person::objects().filter("follows__name", "c")) == V{"a", "b"});
    CHECK(sorted_names(Person::objects().filter("followers__name", "a")) == V{"b", "c"});
    CHECK(sorted_names(Person::objects().filter("follows__follows__name", "c")) == V{"a"});
    auto people = Person::objects().prefetch_related("follows", "followers").order_by("name");
    CHECK(prefetched<Person>(people[0], "follows").size() == 2);
    CHECK(prefetched<Person>(people[2], "followers").size() == 2);
}

TEST_CASE("ManyToMany through a model of its own", "[many_to_many]") {
    test::Database db;
    auto ringo = Person::objects().create({{"name", "Ringo"}});
    auto paul = Person::objects().create({{"name", "Paul"}});
    auto beatles = Group::objects().create({{"name", "The Beatles"}});
    auto wings = Group::objects().create({{"name", "Wings"}});
    Membership::objects().create({{"person", ringo.id}, {"group", beatles.id}, {"date_joined", Date(1962, 8, 16)},
                                  {"invite_reason", "Needed a new drummer."}});
    Membership::objects().create({{"person", paul.id}, {"group", beatles.id}, {"date_joined", Date(1960, 8, 1)},
                                  {"invite_reason", "Wanted to form a band."}});
    Membership::objects().create({{"person", paul.id}, {"group", wings.id}, {"date_joined", Date(1971, 1, 1)}});
    CHECK(sorted_names(related<&Group::members>(beatles)) == V{"Paul", "Ringo"});
    CHECK(sorted_names(related<&Group::members>(paul)) == V{"The Beatles", "Wings"});  // related_name("groups")
    CHECK(sorted_names(Group::objects().filter("members__name__startswith", "Paul")) == V{"The Beatles", "Wings"});
    CHECK(sorted_names(Person::objects().filter("groups__name", "Wings")) == V{"Paul"});
    // One filter() call: the same membership row for both conditions (the join table is Membership).
    CHECK(sorted_names(Person::objects().filter(Q("groups__name", "The Beatles"), Q("membership__date_joined__gt", Date(1961, 1, 1)))) ==
          V{"Ringo"});
    CHECK(sorted_names(Group::objects().filter("membership__invite_reason__contains", "drummer")) == V{"The Beatles"});
    auto people = Person::objects().prefetch_related("groups").order_by("name");
    CHECK(sorted_names(prefetched<Group>(people[0], "groups")) == V{"The Beatles", "Wings"});

    related<&Group::members>(wings).remove(paul);
    CHECK(related<&Group::members>(wings).count() == 0);
    // The through model's date_joined has no default: a link needs it, as in Django without through_defaults.
    CHECK_THROWS_AS(related<&Group::members>(wings).add(ringo), IntegrityError);
    related<&Group::members>(wings).add(ringo, dorm::through_defaults({{"date_joined", Date(1973, 1, 1)}, {"invite_reason", "jam"}}));
    auto joined = Membership::objects().get("person", ringo.id, "group", wings.id);
    CHECK(joined.date_joined == Date(1973, 1, 1));
    CHECK(joined.invite_reason == "jam");
    auto denny = related<&Group::members>(wings).create({{"name", "Denny"}}, dorm::through_defaults({{"date_joined", Date(1971, 8, 1)}, {"invite_reason", ""}}));
    CHECK(sorted_names(related<&Group::members>(wings)) == V{"Denny", "Ringo"});
    CHECK_THROWS_AS(related<&Group::members>(wings).add(paul, dorm::through_defaults({{"nope", 1}})), FieldError);
    CHECK(related<&Group::members>(wings).count() == 2);  // the failed add() left nothing behind
    related<&Group::members>(beatles).clear();
    CHECK(Membership::objects().count() == 2);  // Wings' two are left
}
