// SPDX-License-Identifier: MIT
// bulk_create, bulk_update and iterator(): batching, primary keys, conflicts, streaming.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

TEST_CASE("bulk_create() inserts in batches and sets primary keys", "[bulk]") {
    test::Database db;
    std::vector<Author> authors;
    for (int i = 0; i < 25; ++i) authors.push_back(Author{.name = fmt::format("a{}", i), .email = ""});
    dorm::CaptureQueries queries;
    auto saved = Author::objects().bulk_create(authors, {.batch_size = 10});
    std::size_t inserts = 0;
    for (const auto& q : queries.queries()) inserts += q.sql.starts_with("INSERT");
    CHECK(inserts == 3);
    REQUIRE(saved.size() == 25);
    for (std::size_t i = 0; i < saved.size(); ++i) {
        CHECK(saved[i].id > 0);
        CHECK(Author::objects().get("pk", saved[i].id).name == fmt::format("a{}", i));
    }
    CHECK(Author::objects().count() == 25);
    CHECK(Author::objects().bulk_create({}).empty());
}

TEST_CASE("bulk_create() splits batches to fit the parameter limit", "[bulk]") {
    test::Database db;
    std::vector<Author> authors(20000);
    for (std::size_t i = 0; i < authors.size(); ++i) authors[i].name = std::to_string(i);
    auto saved = Author::objects().bulk_create(authors);  // 60,000 parameters: more than one statement
    CHECK(Author::objects().count() == 20000);
    CHECK(saved.back().id == Author::objects().get("name", "19999").id);
}

TEST_CASE("bulk_create() with conflicts: ignore and update", "[bulk]") {
    test::Database db;
    Blog::objects().create({{"name", "Same"}, {"tagline", "old"}});
    std::vector<Blog> blogs{{.name = "Same", .tagline = "new"}, {.name = "Other", .tagline = "x"}};
    CHECK_THROWS_AS(Blog::objects().bulk_create(blogs), dorm::IntegrityError);
    CHECK(Blog::objects().count() == 1);  // the failed batch was rolled back
    Blog::objects().bulk_create(blogs, {.ignore_conflicts = true});
    CHECK(Blog::objects().count() == 2);
    CHECK(Blog::objects().get("name", "Same").tagline == "old");
    Blog::objects().bulk_create({{.name = "Same", .tagline = "newer"}},
                                {.update_conflicts = true, .update_fields = {"tagline"}, .unique_fields = {"name"}});
    CHECK(Blog::objects().get("name", "Same").tagline == "newer");
    CHECK_THROWS_AS(Blog::objects().bulk_create(blogs, {.ignore_conflicts = true, .update_conflicts = true}),
                    dorm::ValueError);
    CHECK_THROWS_AS(Blog::objects().bulk_create(blogs, {.update_conflicts = true}), dorm::ValueError);
}

TEST_CASE("bulk_update() updates the given fields with one statement per batch", "[bulk]") {
    test::BlogData data;
    auto all = Entry::objects().order_by("id");
    std::vector<Entry> entries(all.begin(), all.end());
    for (auto& e : entries) {
        e.rating += 10;
        e.headline += "!";
    }
    dorm::CaptureQueries queries;
    CHECK(Entry::objects().bulk_update(entries, {"rating"}, 2) == 5);
    std::size_t updates = 0;
    for (const auto& q : queries.queries()) updates += q.sql.starts_with("UPDATE");
    CHECK(updates == 3);
    CHECK(Entry::objects().filter("rating__gte", 10).count() == 5);
    CHECK(Entry::objects().filter("headline__in", {"Soup!"}).count() == 0);  // not in fields
    CHECK_THROWS_WITH(Entry::objects().bulk_update(entries, {}), Catch::Contains("Field names must be given to bulk_update()."));
    CHECK_THROWS_AS(Entry::objects().bulk_update(entries, {"id"}), dorm::ValueError);
    CHECK_THROWS_AS(Entry::objects().bulk_update({Entry{}}, {"rating"}), dorm::ValueError);
    CHECK(Entry::objects().bulk_update({}, {"rating"}) == 0);
}

TEST_CASE("iterator() streams rows and fills no cache", "[bulk]") {
    test::BlogData data;
    auto qs = Entry::objects().order_by("rating");
    std::vector<int> ratings;
    for (const auto& e : qs.iterator()) ratings.push_back(e.rating);
    CHECK(ratings == std::vector<int>{1, 2, 3, 4, 5});
    CHECK(!qs.is_evaluated());
    // Other queries may run while a stream is open, including the same one.
    int n = 0;
    for (const auto& e : qs.iterator(2)) {
        n += static_cast<int>(Entry::objects().filter("rating__lte", e.rating).count());
        for (const auto& inner : qs.iterator()) (void)inner;
    }
    CHECK(n == 1 + 2 + 3 + 4 + 5);
    CHECK_THROWS_AS(qs.iterator(0), dorm::ValueError);
    int empty = 0;
    for (const auto& e : Entry::objects().none().iterator()) empty += e.rating;
    CHECK(empty == 0);
}

TEST_CASE("iterator() with prefetch_related() prefetches each chunk", "[bulk]") {
    test::BlogData data;
    Blog::objects().create({{"name", "Empty"}});
    std::vector<std::string> seen;
    std::size_t queries_in_loop = 0;
    for (const auto& b : Blog::objects().prefetch_related("entry_set").order_by("name").iterator(3)) {
        dorm::CaptureQueries q;  // the entries were loaded with their chunk
        seen.push_back(fmt::format("{}:{}", b.name, dorm::related<&Entry::blog>(b).all().size()));
        queries_in_loop += q.size();
    }
    CHECK(seen == std::vector<std::string>{"Beatles Blog:2", "Cooking:2", "Empty:0", "News:1"});
    CHECK(queries_in_loop == 0);
    std::size_t n = 0;
    for (const auto& e : Entry::objects().prefetch_related("blog").order_by("id").iterator(2)) n += e.blog.is_cached() ? 1 : 0;
    CHECK(n == 5);
}
