// SPDX-License-Identifier: MIT
// bulk_create, bulk_update and iterator(): batching, primary keys, conflicts, streaming.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

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
    // Django: the field lists serve update_conflicts alone (ignored otherwise), and no objects is no check at all.
    blogs = {{.name = "Same", .tagline = "ignored"}, {.name = "Third", .tagline = ""}};
    Blog::objects().bulk_create(blogs, {.ignore_conflicts = true, .unique_fields = {"name"}});
    CHECK(Blog::objects().count() == 3);
    CHECK(Blog::objects().get("name", "Same").tagline == "newer");
    CHECK(Blog::objects().bulk_create({}, {.ignore_conflicts = true, .update_conflicts = true}).empty());
    CHECK_THROWS_AS(Blog::objects().bulk_create(blogs, {.ignore_conflicts = true, .unique_fields = {"nope"}}),
                    dorm::FieldDoesNotExist);  // Django's get_field()
    // A relation that is not a column: Django's get_field() knows it, its check refuses it (ValueError).
    CHECK_THROWS_WITH(Entry::objects().bulk_create({Entry{}}, {.update_conflicts = true, .update_fields = {"authors"},
                                                                .unique_fields = {"id"}}),
                      Catch::Contains("bulk_create() can only be used with concrete fields in update_fields."));
    CHECK_THROWS_WITH(Blog::objects().bulk_create(blogs, {.update_conflicts = true, .update_fields = {"tagline"},
                                                          .unique_fields = {"entry"}}),
                      Catch::Contains("bulk_create() can only be used with concrete fields in unique_fields."));
    CHECK(Blog::objects().bulk_create(blogs, {.ignore_conflicts = true, .unique_fields = {"entry"}}).size() == 2);
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
    CHECK_THROWS_WITH(Entry::objects().bulk_update(entries, {"authors"}),
                      Catch::Contains("bulk_update() can only be used with concrete fields."));
    // A field named twice is set once (Django's dict of updates); PostgreSQL refused two assignments to a column.
    for (auto& e : entries) e.rating += 10;
    CHECK(Entry::objects().bulk_update(entries, {"rating", "rating"}) == 5);
    CHECK(Entry::objects().bulk_update(entries, {"blog", "blog_id"}) == 5);
    CHECK(Entry::objects().filter("rating__gte", 20).count() == 5);
}

TEST_CASE("bulk_update() changes only the rows its QuerySet matches (Django's filter(pk__in=...).update())",
          "[bulk]") {
    test::BlogData data;
    auto all = Entry::objects().order_by("id");
    std::vector<Entry> entries(all.begin(), all.end());
    for (auto& e : entries) e.rating = 9;
    CHECK(dorm::related<&Entry::blog>(data.cooking).bulk_update(entries, {"rating"}) == 2);
    CHECK(test::sorted(Entry::objects().filter("rating", 9)) == std::vector<std::string>{"Pancakes", "Soup"});
    // Across a join, and with more than one batch.
    CHECK(Entry::objects().filter("blog__name", "Beatles Blog").bulk_update(entries, {"rating"}, 2) == 2);
    CHECK(Entry::objects().filter("rating", 9).count() == 4);
    CHECK(Entry::objects().none().bulk_update(entries, {"rating"}) == 0);
    CHECK(Entry::objects().filter("pk__in", std::vector<std::int64_t>{}).bulk_update(entries, {"rating"}) == 0);
    CHECK_THROWS_AS(Entry::objects().slice(0, 2).bulk_update(entries, {"rating"}), dorm::TypeError);
    CHECK(Entry::objects().filter("rating", 9).count() == 4);
    // A condition on an aggregate picks the rows through its GROUP BY.
    for (auto& e : entries) e.rating = 1;
    CHECK(Entry::objects().annotate("n", dorm::Count("authors")).filter("n", 0).bulk_update(entries, {"rating"}) == 5);
    CHECK(Entry::objects().filter("rating", 1).count() == 5);
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

namespace {
/// How many captured statements start with `prefix`.
std::size_t count_sql(const dorm::CaptureQueries& q, std::string_view prefix) {
    std::size_t n = 0;
    for (const auto& c : q.queries()) n += c.sql.starts_with(prefix);
    return n;
}

/// `n` authors named a0, a1, ... (enough for bulk_create() to load them with COPY on PostgreSQL).
std::vector<Author> some_authors(std::size_t n, std::size_t first = 0) {
    std::vector<Author> out;
    for (std::size_t i = first; i < first + n; ++i) out.push_back(Author{.name = fmt::format("a{}", i), .email = "e"});
    return out;
}

constexpr std::size_t copy_rows = std::max<std::size_t>(dorm::detail::copy_min_rows, 40);
}  // namespace

TEST_CASE("bulk_create() on PostgreSQL loads with COPY and hands back keys reserved from the sequence", "[bulk]") {
    test::Database db;
    auto before = Author::objects().create({{"name", "before"}});
    std::vector<Author> saved;
    {
        dorm::CaptureQueries q;
        dorm::atomic([&] { saved = Author::objects().bulk_create(some_authors(copy_rows)); });
        if (test::is_postgresql()) {
            CHECK(count_sql(q, "INSERT") == 0);
            REQUIRE(count_sql(q, "COPY \"author\" (\"id\", \"name\", \"email\") FROM STDIN (FORMAT binary)") == 1);
            CHECK(count_sql(q, "SELECT array_agg(nextval(") == 1);
        } else {
            CHECK(count_sql(q, "COPY") == 0);
            CHECK(count_sql(q, "INSERT") == 1);
        }
    }
    REQUIRE(saved.size() == copy_rows);
    std::set<std::int64_t> ids;
    for (std::size_t i = 0; i < saved.size(); ++i) {
        CHECK(saved[i].id > before.id);
        if (i) CHECK(saved[i].id > saved[i - 1].id);  // in the objects' order, as RETURNING gives them
        ids.insert(saved[i].id);
        CHECK(Author::objects().get("pk", saved[i].id).name == fmt::format("a{}", i));
        CHECK(!saved[i].dorm_state_.adding);
    }
    CHECK(ids.size() == copy_rows);
    CHECK(Author::objects().count() == static_cast<std::int64_t>(copy_rows) + 1);
    // The sequence moved past the loaded keys: the next row gets a new one.
    CHECK(Author::objects().create({{"name", "after"}}).id > saved.back().id);
    // saved objects work as any: update and delete by their key.
    saved[3].name = "renamed";
    saved[3].save();
    CHECK(Author::objects().get("pk", saved[3].id).name == "renamed");
}

TEST_CASE("bulk_create() with COPY: primary keys given go as given; batch_size splits the load", "[bulk]") {
    test::Database db;
    auto authors = some_authors(2 * copy_rows + 1);
    for (std::size_t i = 0; i < authors.size(); ++i) authors[i].id = static_cast<std::int64_t>(1000 + i);
    dorm::CaptureQueries q;
    auto saved = Author::objects().bulk_create(authors, {.batch_size = copy_rows});
    if (test::is_postgresql()) {
        CHECK(count_sql(q, "COPY") == 3);
        CHECK(count_sql(q, "SELECT array_agg(nextval(") == 0);  // no key to reserve
    }
    CHECK(Author::objects().count() == static_cast<std::int64_t>(authors.size()));
    CHECK(Author::objects().get("pk", 1000 + 7).name == "a7");
    CHECK(saved.back().id == 1000 + static_cast<std::int64_t>(authors.size()) - 1);
    // Some with and some without a key, as Django: two groups, each loaded its own way.
    auto mixed = some_authors(2 * copy_rows, 5000);
    for (std::size_t i = 0; i < mixed.size(); i += 2) mixed[i].id = static_cast<std::int64_t>(5000 + i);
    auto back = Author::objects().bulk_create(mixed);
    for (std::size_t i = 0; i < back.size(); ++i) {
        if (i % 2 == 0) CHECK(back[i].id == static_cast<std::int64_t>(5000 + i));
        CHECK(Author::objects().get("pk", back[i].id).name == fmt::format("a{}", 5000 + i));
    }
}

TEST_CASE("bulk_create() with conflict options INSERTs, also on PostgreSQL", "[bulk]") {
    test::Database db;
    std::vector<Blog> blogs;
    for (std::size_t i = 0; i < copy_rows; ++i) blogs.push_back(Blog{.name = fmt::format("b{}", i), .tagline = "t"});
    Blog::objects().bulk_create({blogs.front()});
    dorm::CaptureQueries q;
    Blog::objects().bulk_create(blogs, {.ignore_conflicts = true});
    Blog::objects().bulk_create(blogs, {.update_conflicts = true, .update_fields = {"tagline"}, .unique_fields = {"name"}});
    CHECK(count_sql(q, "COPY") == 0);
    CHECK(count_sql(q, "INSERT") == 2);
    CHECK(Blog::objects().count() == static_cast<std::int64_t>(copy_rows));
}

TEST_CASE("bulk_create() with COPY: errors are the INSERT's, and the connection stays usable", "[bulk]") {
    test::Database db;
    Blog::objects().create({{"name", "taken"}});
    std::vector<Blog> blogs;
    for (std::size_t i = 0; i < copy_rows; ++i) blogs.push_back(Blog{.name = fmt::format("b{}", i), .tagline = "t"});
    blogs[copy_rows / 2].name = "taken";
    try {
        Blog::objects().bulk_create(blogs);
        FAIL("duplicate accepted");
    } catch (const dorm::IntegrityError& e) {
        if (test::is_postgresql()) {
            CHECK(e.code() == "23505");
            CHECK(e.sql().starts_with("COPY \"blog\""));
        }
    }
    CHECK(Blog::objects().count() == 1);  // nothing of the failed load

    // Inside atomic(): bulk_create() has no savepoint of its own (Django's atomic(savepoint=False)), so its failure
    // dooms the enclosing block: nothing more runs in it, and it rolls back, the row made before too.
    dorm::atomic([&] {
        Blog::objects().create({{"name", "inside"}});
        CHECK_THROWS_AS(Blog::objects().bulk_create(blogs), dorm::IntegrityError);
        CHECK_THROWS_AS(Blog::objects().count(), dorm::TransactionManagementError);
    });
    CHECK(Blog::objects().count() == 1);
    // Inside a savepoint of the caller's, the enclosing block carries on.
    dorm::atomic([&] {
        Blog::objects().create({{"name", "inside"}});
        CHECK_THROWS_AS(dorm::atomic([&] { Blog::objects().bulk_create(blogs); }), dorm::IntegrityError);
        CHECK(Blog::objects().count() == 2);
    });
    CHECK(Blog::objects().count() == 2);

    if (test::is_postgresql()) {
        // A value too long for its column: the server's DataError, as for an INSERT.
        blogs[copy_rows / 2].name = std::string(101, 'x');
        CHECK_THROWS_AS(Blog::objects().bulk_create(blogs), dorm::DataError);
        // A value dorm refuses while sending the rows: ValueError, the load abandoned.
        blogs[copy_rows / 2].name = std::string("nul\0inside", 10);
        CHECK_THROWS_AS(Blog::objects().bulk_create(blogs), dorm::ValueError);
    }
    std::vector<Sample> samples(copy_rows);
    samples.back().day = dorm::Date(std::chrono::sys_days{std::chrono::days{-800000}});  // year 0
    CHECK_THROWS_AS(Sample::objects().bulk_create(samples), dorm::ValueError);
    CHECK(Sample::objects().count() == 0);
    // The same once rows are streaming (several MB before the bad value): the server discards what it got.
    std::vector<Sample> big(3000);
    for (auto& s : big) s.text = std::string(5000, 'z');
    big.back().day = dorm::Date(std::chrono::sys_days{std::chrono::days{-800000}});
    CHECK_THROWS_AS(Sample::objects().bulk_create(big), dorm::ValueError);
    CHECK(Sample::objects().count() == 0);
    big.back().day = dorm::Date(2020, 1, 1);
    CHECK(Sample::objects().bulk_create(big).back().id > 0);
    CHECK(Sample::objects().filter("text", big.front().text).count() == 3000);
    CHECK(Blog::objects().count() == 2);
    // The same objects load once the value is fixed.
    blogs[copy_rows / 2].name = "fixed";
    CHECK(Blog::objects().bulk_create(blogs).size() == copy_rows);
    CHECK(Blog::objects().count() == 2 + static_cast<std::int64_t>(copy_rows));
}

TEST_CASE("bulk_create() after a failed write inside atomic() is refused, as any statement", "[bulk]") {
    test::Database db;
    Author::objects().bulk_create(some_authors(copy_rows));  // the author table is known to the connection now
    Blog::objects().create({{"name", "taken"}});
    dorm::atomic([&] {
        CHECK_THROWS_AS(Blog::objects().create({{"name", "taken"}}), dorm::IntegrityError);
        CHECK_THROWS_AS(Author::objects().bulk_create(some_authors(copy_rows)), dorm::TransactionManagementError);
        CHECK_THROWS_AS(Sample::objects().bulk_create(std::vector<Sample>(copy_rows)),
                        dorm::TransactionManagementError);
        dorm::set_rollback(true);
    });
    CHECK(Author::objects().count() == static_cast<std::int64_t>(copy_rows));
    CHECK(Sample::objects().bulk_create(std::vector<Sample>(copy_rows)).size() == copy_rows);
}

namespace {
/// Edge values of every type, one sample each; cycled through to fill a COPY.
std::vector<Sample> edge_samples(std::size_t n) {
    using lim64 = std::numeric_limits<std::int64_t>;
    std::vector<Sample> base;
    auto add = [&](auto&& fill) {
        Sample s;
        fill(s);
        base.push_back(std::move(s));
    };
    add([](Sample& s) {
        s.flag = true;
        s.small = std::numeric_limits<std::int16_t>::min();
        s.medium = std::numeric_limits<int>::max();
        s.big = lim64::min();
        s.real = 3.141592653589793;
        s.text = "naïve café ☕ — 日本語 'quoted' \"double\" %_\\ \t\n\r";
        s.data = dorm::Bytes{std::byte{0}, std::byte{1}, std::byte{0xff}, std::byte{0}, std::byte{'\\'}};
        s.day = dorm::Date(1999, 12, 31);
        s.moment = dorm::DateTime(2024, 2, 29, 23, 59, 58, 123456);
        s.clock = dorm::Time(7, 8, 9, 10);
        s.maybe_int = 0;
        s.maybe_text = "";
        s.maybe_moment = dorm::DateTime(1970, 1, 1);
    });
    add([](Sample& s) {
        s.small = std::numeric_limits<std::int16_t>::max();
        s.medium = std::numeric_limits<int>::min();
        s.big = lim64::max();
        s.real = test::is_postgresql() ? -0.0 : -0.5;  // SQLite stores -0.0 as the integer 0
        s.day = dorm::Date(1, 1, 1);
        s.moment = dorm::DateTime(1, 1, 1, 0, 0, 0, 1);
        s.clock = dorm::Time(23, 59, 59, 999999);
        s.maybe_int = -1;
        s.maybe_moment = dorm::DateTime(1969, 12, 31, 23, 59, 59, 999999);
    });
    add([](Sample& s) {
        s.real = std::numeric_limits<double>::infinity();
        s.text = std::string(5000, 'y');
        s.data = dorm::Bytes(3000, std::byte{0x80});
        s.day = dorm::Date(9999, 12, 31);
        s.moment = dorm::DateTime(9999, 12, 31, 23, 59, 59, 999999);
        s.maybe_text = "x";
    });
    add([](Sample& s) {
        s.real = -std::numeric_limits<double>::infinity();
        s.day = dorm::Date(2000, 1, 1);
        s.moment = dorm::DateTime(2000, 1, 1);
        s.clock = dorm::Time(0, 0, 0, 0);
    });
    add([](Sample& s) {
        // SQLite stores NaN as NULL; PostgreSQL keeps it.
        if (test::is_postgresql()) s.real = std::numeric_limits<double>::quiet_NaN();
        s.big = -1;
        s.day = dorm::Date(1899, 12, 31);
        s.moment = dorm::DateTime(1899, 12, 31, 12, 0, 0, 5);
    });
    add([](Sample& s) {
        s.real = std::numeric_limits<double>::denorm_min();
        s.day = dorm::Date(2038, 1, 19);
        s.moment = dorm::DateTime(2038, 1, 19, 3, 14, 8);
    });
    add([](Sample& s) { s.real = std::numeric_limits<double>::max(); });
    std::vector<Sample> out;
    for (std::size_t i = 0; i < n; ++i) out.push_back(base[i % base.size()]);
    return out;
}

void check_same(const Sample& a, const Sample& b) {
    CHECK(a.flag == b.flag);
    CHECK(a.small == b.small);
    CHECK(a.medium == b.medium);
    CHECK(a.big == b.big);
    if (std::isnan(b.real)) CHECK(std::isnan(a.real));
    else {
        CHECK(a.real == b.real);
        CHECK(std::signbit(a.real) == std::signbit(b.real));
    }
    CHECK(a.text == b.text);
    CHECK(a.data == b.data);
    CHECK(a.day == b.day);
    CHECK(a.moment == b.moment);
    CHECK(a.clock == b.clock);
    CHECK(a.maybe_int == b.maybe_int);
    CHECK(a.maybe_text == b.maybe_text);
    CHECK(a.maybe_moment == b.maybe_moment);
}
}  // namespace

TEST_CASE("bulk_create() with COPY stores every type exactly as an INSERT does", "[bulk]") {
    test::Database db;
    auto samples = edge_samples(2 * copy_rows);
    auto loaded = Sample::objects().bulk_create(samples);
    for (auto s : samples) s.save();  // one INSERT each
    auto rows = Sample::objects().order_by("id");
    std::vector<Sample> all(rows.begin(), rows.end());
    REQUIRE(all.size() == 2 * samples.size());
    for (std::size_t i = 0; i < samples.size(); ++i) {
        INFO("sample " << i);
        CHECK(all[i].id == loaded[i].id);
        check_same(all[i], samples[i]);                   // as given
        check_same(all[i], all[i + samples.size()]);      // as the INSERT stored it
    }
    CHECK(Sample::objects().filter("maybe_text__isnull", true).count() ==
          2 * static_cast<std::int64_t>(std::count_if(samples.begin(), samples.end(),
                                                      [](const Sample& s) { return !s.maybe_text; })));
}

TEST_CASE("bulk_create() on PostgreSQL: COPY follows the table's column types, INSERT when it cannot", "[bulk]") {
    test::Database db;
    if (!test::is_postgresql()) return;
    auto& conn = dorm::databases()["default"].connection();
    // A wider integer column takes the value as an INSERT would; a numeric one COPY does not encode.
    conn.execute("ALTER TABLE \"sample\" ALTER COLUMN \"medium\" TYPE bigint");
    auto samples = edge_samples(copy_rows);
    {
        dorm::CaptureQueries q;
        Sample::objects().bulk_create(samples);
        CHECK(count_sql(q, "COPY") == 1);
    }
    CHECK(Sample::objects().filter("medium", std::numeric_limits<int>::min()).count() > 0);
    Sample::objects().all().delete_();  // the largest double is beyond what numeric turns back into one
    conn.execute("ALTER TABLE \"sample\" ALTER COLUMN \"real\" TYPE numeric");
    for (auto& s : samples) s.real = 2.5;
    {
        dorm::CaptureQueries q;
        Sample::objects().bulk_create(samples);
        CHECK(count_sql(q, "COPY") == 0);
        CHECK(count_sql(q, "INSERT") == 1);
    }
    CHECK(Sample::objects().filter("real", 2.5).count() == static_cast<std::int64_t>(copy_rows));
}
