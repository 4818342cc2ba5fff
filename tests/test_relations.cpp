// SPDX-License-Identifier: MIT
// Relations: reverse lookups with Django's multi-valued rules, ForeignKey access, select_related,
// prefetch_related, related managers, on_delete, and foreign-key constraints.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace dorm;
using V = std::vector<std::string>;
using test::sorted_names;

// Data: Beatles: Lennon returns (2005-03-20, rating 5), Beatles reunion (2006-07-01, 3); Cooking: Pancakes
// (2005-01-30, 4), Soup (2007-11-05, 1); News: Election (2008-02-14, 2).

TEST_CASE("reverse relations in lookups, annotations and ordering", "[relations]") {
    test::BlogData data;
    Blog::objects().create({{"name", "Empty"}});
    CHECK(sorted_names(Blog::objects().filter("entry__rating__gte", 4)) == V{"Beatles Blog", "Cooking"});
    CHECK(sorted_names(Blog::objects().filter("entry__headline__contains", "Soup")) == V{"Cooking"});
    CHECK(sorted_names(Blog::objects().filter("entry__isnull", true)) == V{"Empty"});
    CHECK(sorted_names(Blog::objects().filter(Q("entry__rating", 5) | Q("name", "Empty"))) == V{"Beatles Blog", "Empty"});
    auto counted = Blog::objects().annotate("n", Count("entry")).order_by("name");
    std::vector<std::int64_t> n;
    for (const auto& b : counted) n.push_back(b.annotations().get<std::int64_t>("n"));
    CHECK(n == std::vector<std::int64_t>{2, 2, 0, 1});  // Beatles, Cooking, Empty, News
    CHECK(sorted_names(Blog::objects().annotate("n", Count("entry")).filter("n__gt", 1)) == V{"Beatles Blog", "Cooking"});
    CHECK(sorted_names(Blog::objects().annotate(Count("entry")).filter("entry__count", 0)) == V{"Empty"});
    auto avg = Blog::objects().annotate("avg", Avg("entry__rating")).get("name", "Cooking");
    CHECK(avg.annotations().get<double>("avg") == 2.5);
    auto rows = Blog::objects().filter("name", "Cooking").values("name", "entry__headline").order_by("entry__headline");
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].get<std::string>("entry__headline") == "Pancakes");
    // A reverse name after a ForeignKey hop is not known at compile time: dorm::runtime() checks it when used.
    CHECK(Entry::objects().filter(dorm::runtime("blog__entry__headline"), "Soup").count() == 2);  // Soup's blog has two
    CHECK_THROWS_WITH(Blog::objects().filter(dorm::runtime("entri__rating"), 1), Catch::Contains("entry, id, links_in, links_out, name, reaction, tagline"));
}

TEST_CASE("multi-valued relations: one filter() call means the same related row", "[relations]") {
    test::BlogData data;
    // The reference's example: entries with "Lennon" in the headline, published in 2008.
    data.add(data.beatles, "Lennon in 2008", Date(2008, 6, 1), 3, 0, 0, std::nullopt);
    data.add(data.news, "Lennon again", Date(2005, 1, 1), 3, 0, 0, std::nullopt);
    data.add(data.news, "Summer of 2008", Date(2008, 7, 1), 3, 0, 0, std::nullopt);
    CHECK(sorted_names(Blog::objects().filter("entry__headline__contains", "Lennon", "entry__pub_date__year", 2008)) ==
          V{"Beatles Blog"});
    // Chained: each filter() may match a different entry (News has a Lennon entry and a 2008 entry).
    auto chained = Blog::objects().filter("entry__headline__contains", "Lennon").filter("entry__pub_date__year", 2008).distinct();
    CHECK(sorted_names(chained) == V{"Beatles Blog", "News"});
    // exclude() across a multi-valued relation does not require the same entry: a blog goes when it has a Lennon
    // entry and a 2008 entry.
    auto excluded = Blog::objects().exclude("entry__headline__contains", "Lennon", "entry__pub_date__year", 2008);
    CHECK(sorted_names(excluded) == V{"Cooking"});
    CHECK(sorted_names(Blog::objects().exclude("entry__rating__lt", 3)) == V{"Beatles Blog"});
    // annotate() after filter() counts the filtered rows only; before it, all of them.
    auto after = Blog::objects().filter("entry__headline__contains", "Lennon").annotate("n", Count("entry")).order_by("name");
    CHECK(after[0].annotations().get<int>("n") == 2);
    CHECK(after[1].annotations().get<int>("n") == 1);
    // The later filter() joins the entries again, which multiplies the rows counted: Django's documentation
    // uses distinct=True for this reason.
    auto before = Blog::objects().annotate("n", Count("entry", {.distinct = true}), "all", Count("entry"))
                      .filter("entry__headline__contains", "Lennon").order_by("name");
    CHECK(before[0].annotations().get<int>("n") == 3);
    CHECK(before[0].annotations().get<int>("all") == 6);  // 3 entries x 2 Lennon entries
    CHECK(before[1].annotations().get<int>("n") == 3);
    CHECK(Blog::objects().aggregate("n", Count("entry", {.distinct = true})).get<int>("n") == 8);
}

TEST_CASE("ForeignKey access loads once; select_related loads in the same query", "[relations]") {
    test::BlogData data;
    {
        CaptureQueries q;
        auto e = Entry::objects().get("headline", "Soup");
        CHECK(e.blog.id() == data.cooking.id);  // the id needs no query
        CHECK(e.blog.get().name == "Cooking");
        CHECK(e.blog->tagline == "Recipes");
        CHECK(q.size() == 2);
    }
    {
        CaptureQueries q;
        auto entries = Entry::objects().select_related("blog").order_by("id");
        V blogs;
        for (const auto& e : entries) blogs.push_back(e.blog->name);
        CHECK(blogs == V{"Beatles Blog", "Beatles Blog", "Cooking", "Cooking", "News"});
        CHECK(q.size() == 1);
    }
    auto soup = Entry::objects().get("headline", "Soup");
    auto author = Author::objects().create({{"name", "Ann"}});
    Comment::objects().create({{"entry", soup.id}, {"text", "tasty"}, {"author", author.id}});
    Comment::objects().create({{"entry", soup.id}, {"text", "anonymous"}});
    {
        CaptureQueries q;
        auto comments = Comment::objects().select_related("entry__blog", "author").order_by("id");
        REQUIRE(comments.size() == 2);
        CHECK(comments[0].entry->blog->name == "Cooking");
        CHECK(comments[0].author->get().name == "Ann");
        CHECK_FALSE(comments[1].author.has_value());
        CHECK(q.size() == 1);
        CHECK_THAT(comments.sql(), Catch::Contains("LEFT OUTER JOIN \"author\""));
        CHECK_THAT(comments.sql(), Catch::Contains("INNER JOIN \"blog\""));
    }
    {
        CaptureQueries q;
        auto all = Comment::objects().select_related().order_by("id");  // every non-NULL-able ForeignKey
        CHECK(all[0].entry->blog->name == "Cooking");
        CHECK(q.size() == 1);
    }
    CHECK_THROWS_WITH(Entry::objects().select_related("headline"), Catch::Contains("Invalid field name(s) given in select_related"));
    CHECK_THROWS_AS(Entry::objects().values("id").select_related("blog"), TypeError);
    Entry fresh;
    CHECK_THROWS_AS(fresh.blog.get(), ValueError);
}

TEST_CASE("prefetch_related: one query per level, then no queries", "[relations]") {
    test::BlogData data;
    Blog::objects().create({{"name", "Empty"}});
    {
        CaptureQueries q;
        auto blogs = Blog::objects().prefetch_related("entry_set").order_by("name");
        std::vector<std::size_t> counts;
        for (const auto& b : blogs) counts.push_back(related<&Entry::blog>(b).all().size());
        CHECK(counts == std::vector<std::size_t>{2, 2, 0, 1});
        CHECK(related<&Entry::blog>(blogs[0]).count() == 2);
        CHECK(prefetched<Entry>(blogs[1], "entry_set").size() == 2);
        CHECK(q.size() == 2);
    }
    {
        CaptureQueries q;
        auto entries = Entry::objects().prefetch_related("blog", "blog__entry_set").order_by("id");
        V out;
        for (const auto& e : entries) out.push_back(fmt::format("{}:{}", e.blog->name, prefetched<Entry>(e.blog.get(), "entry_set").size()));
        CHECK(out == V{"Beatles Blog:2", "Beatles Blog:2", "Cooking:2", "Cooking:2", "News:1"});
        CHECK(q.size() == 3);
    }
    {
        CaptureQueries q;
        auto blogs = Blog::objects().prefetch_related(Prefetch("entry_set", Entry::objects().filter("rating__gte", 3).order_by("-rating"), "good"))
                         .order_by("name");
        V good;
        for (const auto& b : blogs)
            for (const auto& e : prefetched<Entry>(b, "good")) good.push_back(e.headline);
        CHECK(good == V{"Lennon returns", "Beatles reunion", "Pancakes"});
        CHECK(q.size() == 2);
        CHECK_THROWS_AS(prefetched<Entry>(blogs[0], "entry_set"), KeyError);
    }
    {
        auto entries = Entry::objects().order_by("id").values_list<std::int64_t>("id", dorm::flat);
        std::vector<Entry> loaded;
        for (const auto& e : Entry::objects().order_by("id")) loaded.push_back(e);
        CaptureQueries q;
        prefetch_related_objects(loaded, "blog");
        CHECK(loaded[4].blog->name == "News");
        CHECK(q.size() == 1);
    }
    CHECK_THROWS_WITH(Blog::objects().prefetch_related("nope").size(), Catch::Contains("invalid parameter to prefetch_related()"));
    CHECK_THROWS_AS(Entry::objects().prefetch_related("headline").size(), ValueError);
}

TEST_CASE("related managers: create, add, remove, clear, set", "[relations]") {
    test::BlogData data;
    auto entries = related<&Entry::blog>(data.news);
    CHECK(test::sorted(entries.filter("rating__gte", 2)) == V{"Election"});
    auto created = entries.create({{"headline", "Breaking"}, {"pub_date", Date(2009, 1, 1)}, {"mod_date", Date(2009, 1, 1)}});
    CHECK(created.blog.id() == data.news.id);
    CHECK(related<&Entry::blog>(data.news).count() == 2);
    auto soup = Entry::objects().get("headline", "Soup");
    related<&Entry::blog>(data.news).add(soup);
    CHECK(soup.blog.id() == data.news.id);
    CHECK(Entry::objects().get("headline", "Soup").blog.id() == data.news.id);
    CHECK_THROWS_AS(related<&Entry::blog>(data.news).clear(), TypeError);  // Entry.blog is not NULL-able

    auto ann = Author::objects().create({{"name", "Ann"}});
    auto lennon = Entry::objects().get("headline", "Lennon returns");
    auto r1 = Reaction::objects().create({{"entry", lennon.id}, {"author", ann.id}, {"kind", "like"}});
    auto r2 = Reaction::objects().create({{"entry", lennon.id}, {"author", ann.id}, {"kind", "wow"}});
    auto mine = related<&Reaction::author>(ann);
    CHECK(mine.count() == 2);
    mine.remove(r1);
    CHECK_FALSE(r1.author.has_value());
    CHECK(related<&Reaction::author>(ann).count() == 1);
    std::vector<Reaction> only{r1};
    related<&Reaction::author>(ann).set(only);  // r2 unlinked, r1 linked
    CHECK(Reaction::objects().get("pk", r1.id).author.has_value());
    CHECK_FALSE(Reaction::objects().get("pk", r2.id).author.has_value());
    // set() is one transaction (Django's atomic(savepoint=False)): an object add() refuses keeps r1 linked.
    std::vector<Reaction> with_unsaved{r2, Reaction{}};
    CHECK_THROWS_AS(related<&Reaction::author>(ann).set(with_unsaved), ValueError);
    CHECK(Reaction::objects().get("pk", r1.id).author.has_value());
    CHECK_FALSE(Reaction::objects().get("pk", r2.id).author.has_value());
    related<&Reaction::author>(ann).clear();
    CHECK(Reaction::objects().filter("author__isnull", true).count() == 2);
    CHECK(test::sorted(Entry::objects().filter("reactions__kind", "wow")) == V{"Lennon returns"});  // related_name
    Author unsaved;
    CHECK_THROWS_AS(related<&Reaction::author>(unsaved), ValueError);
}

TEST_CASE("delete_() follows on_delete like Django's collector", "[relations]") {
    test::BlogData data;
    // CASCADE: a blog takes its entries, and their comments.
    auto soup = Entry::objects().get("headline", "Soup");
    Comment::objects().create({{"entry", soup.id}, {"text", "x"}});
    auto result = Blog::objects().filter("name", "Cooking").delete_();
    CHECK(result.total == 4);
    CHECK(result.per_model == std::map<std::string, std::int64_t>{{"Blog", 1}, {"Entry", 2}, {"Comment", 1}});
    CHECK(Entry::objects().count() == 3);
    CHECK(Comment::objects().count() == 0);

    // PROTECT: an entry with reactions cannot go, nor can its blog; nothing is deleted.
    auto lennon = Entry::objects().get("headline", "Lennon returns");
    auto ann = Author::objects().create({{"name", "Ann"}});
    Reaction::objects().create({{"entry", lennon.id}, {"author", ann.id}, {"blog", data.news.id}});
    CHECK_THROWS_AS(lennon.delete_(), ProtectedError);
    CHECK_THROWS_WITH(Blog::objects().filter("name", "Beatles Blog").delete_(), Catch::Contains("protected foreign keys"));
    CHECK(Entry::objects().count() == 3);
    // Caught inside a block, the refusal leaves the block usable (Django raises it before its own transaction).
    dorm::atomic([&] {
        CHECK_THROWS_AS(lennon.delete_(), ProtectedError);
        CHECK(Entry::objects().count() == 3);
    });

    // SET_NULL and SET_DEFAULT update the referencing rows.
    CHECK(ann.delete_().per_model == std::map<std::string, std::int64_t>{{"Author", 1}});
    auto reaction = Reaction::objects().get();
    CHECK_FALSE(reaction.author.has_value());
    CHECK(Blog::objects().filter("name", "News").delete_().per_model == std::map<std::string, std::int64_t>{{"Blog", 1}, {"Entry", 1}});
    CHECK(Reaction::objects().get().blog.id() == 1);  // its default

    // RESTRICT: an album with songs cannot go alone, but goes with its artist, who cascades to both.
    auto artist = Artist::objects().create({{"name", "The Beatles"}});
    auto album = Album::objects().create({{"artist", artist.id}, {"name", "Revolver"}});
    Song::objects().create({{"artist", artist.id}, {"album", album.id}, {"name", "Taxman"}});
    CHECK_THROWS_AS(album.delete_(), RestrictedError);
    auto gone = artist.delete_();
    CHECK(gone.per_model == std::map<std::string, std::int64_t>{{"Artist", 1}, {"Album", 1}, {"Song", 1}});

    // A self-referential tree goes with its root.
    auto root = Category::objects().create({{"name", "root"}});
    auto child = Category::objects().create({{"name", "child"}, {"parent", root.id}});
    Category::objects().create({{"name", "grandchild"}, {"parent", child.id}});
    Category::objects().create({{"name", "other"}});
    CHECK(root.delete_().total == 3);
    CHECK(Category::objects().count() == 1);
    CHECK(Blog::objects().none().delete_().total == 0);
}

TEST_CASE("foreign-key constraints: a dangling ForeignKey is an IntegrityError", "[relations]") {
    test::BlogData data;
    Entry e;
    e.blog = 9999;
    e.headline = "orphan";
    CHECK_THROWS_AS(Entry::objects().create(e), IntegrityError);
    CHECK(Entry::objects().filter("headline", "orphan").count() == 0);
}

TEST_CASE("OneToOne: unique, single-valued in lookups, one object on the reverse side", "[relations]") {
    test::Database db;
    auto ann = Author::objects().create({{"name", "Ann"}});
    auto bob = Author::objects().create({{"name", "Bob"}});
    Profile::objects().create({{"author", ann.id}, {"bio", "writes"}});
    CHECK_THROWS_AS(Profile::objects().create({{"author", ann.id}, {"bio", "again"}}), IntegrityError);
    CHECK(dorm::related_object<&Profile::author>(ann).bio == "writes");
    CHECK_THROWS_AS(dorm::related_object<&Profile::author>(bob), Profile::DoesNotExist);
    CHECK(sorted_names(Author::objects().filter("profile__bio", "writes")) == V{"Ann"});
    CHECK(sorted_names(Author::objects().exclude("profile__bio", "writes")) == V{"Bob"});
    CHECK(sorted_names(Author::objects().filter("profile__isnull", true)) == V{"Bob"});
    CHECK(Profile::objects().select_related("author").get().author->name == "Ann");
    {
        auto authors = Author::objects().prefetch_related("profile").order_by("name");
        REQUIRE(authors.size() == 2);  // evaluated: two queries
        CaptureQueries q;
        CHECK(dorm::related_object<&Profile::author>(authors[0]).bio == "writes");
        CHECK_THROWS_AS(dorm::related_object<&Profile::author>(authors[1]), Profile::DoesNotExist);
        CHECK(q.size() == 0);
    }
    {
        CaptureQueries q;
        auto authors = Author::objects().select_related("profile").order_by("name");
        REQUIRE(authors.size() == 2);
        CHECK(dorm::related_object<&Profile::author>(authors[0]).bio == "writes");
        CHECK_THROWS_AS(dorm::related_object<&Profile::author>(authors[1]), Profile::DoesNotExist);
        CHECK(q.size() == 1);
        CHECK_THAT(q[0].sql, Catch::Contains("LEFT OUTER JOIN \"profile\""));
    }
    {
        CaptureQueries q;  // on through the reverse one-to-one, and back along the profile's ForeignKey
        auto profile = Author::objects().select_related("profile__author").get("name", "Ann");
        const auto& p = dorm::prefetched<Profile>(profile, "profile");
        REQUIRE(p.size() == 1);
        CHECK(p[0].author.is_cached());
        CHECK(p[0].author->name == "Ann");
        CHECK(q.size() == 1);
    }
    CHECK_THROWS_WITH(Author::objects().select_related("comment").size(),
                      Catch::Contains("Invalid field name(s) given in select_related: 'comment'. Choices are: profile"));
    CHECK(ann.delete_().per_model == std::map<std::string, std::int64_t>{{"Author", 1}, {"Profile", 1}});
}

TEST_CASE("FilteredRelation joins a relation with a condition in ON", "[relations]") {
    test::BlogData data;
    auto good = Blog::objects().annotate("good", FilteredRelation("entry", Q("entry__rating__gte", 4)), "n", Count("good"))
                    .order_by("name");
    std::vector<int> n;
    for (const auto& b : good) n.push_back(b.annotations().get<int>("n"));
    CHECK(n == std::vector<int>{1, 1, 0});  // Beatles (Lennon), Cooking (Pancakes), News
    CHECK_THAT(good.sql(), Catch::Contains("LEFT OUTER JOIN \"entry\" \"good\" ON (\"blog\".\"id\" = \"good\".\"blog_id\" AND "
                                           "\"good\".\"rating\" >= 4)"));
    auto recent = Blog::objects().alias("recent", FilteredRelation("entry", Q("entry__pub_date__year__gte", 2007)))
                      .filter("recent__isnull", false);
    CHECK(sorted_names(recent) == V{"Cooking", "News"});
    CHECK(sorted_names(Blog::objects().alias("r", FilteredRelation("entry", Q("entry__rating", 5))).filter("r__headline__contains", "Lennon")) ==
          V{"Beatles Blog"});
    CHECK_THROWS_AS(Blog::objects().annotate("x", FilteredRelation("entry", Q("name", "x"))), ValueError);
    CHECK_THROWS_AS(Blog::objects().annotate("x", FilteredRelation("tagline", Q("tagline", "x"))).filter("x__isnull", true), FieldError);
    CHECK_THROWS_AS(Blog::objects().filter("name", FilteredRelation("entry", Q("entry__rating", 1))), ValueError);

    // select_related() of a single-valued FilteredRelation: the object, or none, stored under its name.
    {
        CaptureQueries q;
        auto entries = Entry::objects()
                           .annotate("cooking_blog", FilteredRelation("blog", Q("blog__name", "Cooking")))
                           .select_related("cooking_blog")
                           .order_by("headline");
        V out;
        for (const auto& e : entries) {
            const auto& b = prefetched<Blog>(e, "cooking_blog");
            out.push_back(b.empty() ? "-" : b[0].name);
        }
        CHECK(out == V{"-", "-", "-", "Cooking", "Cooking"});  // reunion, Election, Lennon, Pancakes, Soup
        CHECK(q.size() == 1);
    }
    CHECK_THROWS_WITH(Blog::objects().annotate("good", FilteredRelation("entry", Q("entry__rating__gte", 4))).select_related("good").size(),
                      Catch::Contains("multi-valued"));
}

TEST_CASE("several relations between the same two models", "[relations]") {
    test::BlogData data;
    Link::objects().create({{"source", data.beatles.id}, {"target", data.news.id}});
    Link::objects().create({{"source", data.beatles.id}, {"target", data.cooking.id}});
    Link::objects().create({{"source", data.news.id}, {"target", data.cooking.id}});
    CHECK(sorted_names(Blog::objects().filter("links_out__target__name", "Cooking")) == V{"Beatles Blog", "News"});
    CHECK(sorted_names(Blog::objects().filter("links_in__source", data.beatles.id)) == V{"Cooking", "News"});
    auto out = Blog::objects().annotate("outgoing", Count("links_out", {.distinct = true}), "incoming",
                                        Count("links_in", {.distinct = true})).get("name", "Cooking");
    CHECK(out.annotations() == Row{{"outgoing", 0}, {"incoming", 2}});
    CHECK(dorm::related<&Link::source>(data.beatles).count() == 2);
    CHECK(dorm::related<&Link::target>(data.beatles).count() == 0);
    // Without related_name() the reverse name is ambiguous (Django refuses such models at start-up).
    CHECK_THROWS_WITH(Author::objects().filter(dorm::runtime("pairing__id"), 1), Catch::Contains("ambiguous"));
    Author::objects().create({{"name", "Ann"}});
    CHECK_THROWS_AS(Author::objects().prefetch_related("pairing_set").size(), FieldError);
}
