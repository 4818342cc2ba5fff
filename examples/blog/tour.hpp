// SPDX-License-Identifier: MIT
// A tour of dorm on Django's Blog / Author / Entry models: each step prints its results and the SQL it ran. The
// programs that run it (examples/blog on SQLite, examples/postgresql) register the database "default" first.
#pragma once

#include <dorm/dorm.hpp>

#include <fmt/core.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tour {

using namespace dorm;

struct Blog {
    std::int64_t id = 0;
    std::string name{};
    std::string tagline{};
    std::string str() const { return name; }  // Django's __str__
    DORM_MODEL(Blog, id, name, tagline)
};

struct Author {
    std::int64_t id = 0;
    std::string name{};
    std::string email{};
    std::string str() const { return name; }
    DORM_MODEL(Author, id, name, email)
};

struct Entry {
    std::int64_t id = 0;
    ForeignKey<Blog> blog{};
    std::string headline{};
    std::string body_text{};
    Date pub_date{};
    Date mod_date{};
    ManyToMany<Author> authors{};  // join table entry_authors, made by create_tables
    int number_of_comments = 0;
    int number_of_pingbacks = 0;
    int rating = 0;
    std::optional<std::string> rating_note{};
    std::string str() const { return headline; }
    DORM_MODEL(Entry, id, blog, headline, body_text, pub_date, mod_date, authors, number_of_comments,
               number_of_pingbacks, rating, rating_note)
    static void meta(Meta<Entry>& m) {
        m.get_latest_by = {"pub_date"};
        m.field(&Entry::headline).max_length(255);
    }
};

/// Runs one step of the tour and prints the SQL it ran.
template <class Fn>
inline void step(std::string_view title, Fn&& fn) {
    fmt::print("\n== {}\n", title);
    CaptureQueries queries;
    fn();
    for (const auto& q : queries.queries()) {
        std::string params;
        for (const auto& p : q.params) params += (params.empty() ? "" : ", ") + fmt::format("{}", p);
        fmt::print("   SQL: {}{}\n", q.sql, params.empty() ? "" : "  -- params: " + params);
    }
    if (queries.size() == 0) fmt::print("   (no query)\n");
}

/// Creates the tables, runs every step, and drops the tables again.
inline void run() {
    create_tables<Blog, Author, Entry>();

    Blog beatles, cooking;
    step("create()", [&] {
        beatles = Blog::objects().create({{"name", "Beatles Blog"}, {"tagline", "All the latest Beatles news."}});
        cooking = Blog::objects().create(Blog{.name = "Cooking", .tagline = "Recipes"});
        fmt::print("created {} (id {}) and {} (id {})\n", beatles, beatles.id, cooking, cooking.id);
    });

    step("bulk_create()", [&] {
        std::vector<Entry> entries;
        const char* headlines[] = {"Lennon returns", "Beatles reunion", "Pancakes", "Soup", "Abbey Road at 50"};
        for (int i = 0; i < 5; ++i) {
            Entry e;
            e.blog = i == 2 || i == 3 ? cooking : beatles;
            e.headline = headlines[i];
            e.body_text = "...";
            e.pub_date = Date(2005 + i, 1 + static_cast<unsigned>(i), 10);
            e.mod_date = e.pub_date;
            e.rating = 5 - i;
            e.number_of_comments = i * 3;
            if (i % 2) e.rating_note = "noted";
            entries.push_back(e);
        }
        auto saved = Entry::objects().bulk_create(entries);
        fmt::print("inserted {} entries, ids {}..{}\n", saved.size(), saved.front().id, saved.back().id);
    });

    auto recent = Entry::objects()
                      .filter("pub_date__gte", Date(2006, 1, 1))
                      .exclude(Q("headline", "Soup") | Q("rating__lt", 2))
                      .order_by("-pub_date", "headline");
    step("building a QuerySet is lazy", [&] { fmt::print("built: {}\n", recent.sql()); });
    step("iterating runs one query", [&] {
        for (const Entry& e : recent) fmt::print("{} ({}), rating {}\n", e.headline, e.pub_date, e.rating);
    });
    step("iterating again, count() and [] use the cache",
         [&] { fmt::print("{} entries, first: {}\n", recent.count(), recent[0].headline); });

    step("get() and DoesNotExist", [&] {
        Entry e = Entry::objects().get("headline", "Pancakes");
        fmt::print("got {} from blog {}\n", e, e.blog.id());
        try {
            Entry::objects().get("id", 14);
        } catch (const Entry::DoesNotExist& err) {
            fmt::print("Entry::DoesNotExist: {}\n", err.what());
        }
    });

    step("count(), exists(), first(), latest()", [&] {
        fmt::print("cooking entries: {}\n", Entry::objects().filter("blog", cooking).count());
        fmt::print("any rated 5: {}\n", Entry::objects().filter("rating", 5).exists());
        fmt::print("first by rating: {}\n", *Entry::objects().order_by("rating").first());
        fmt::print("latest: {}\n", Entry::objects().latest());
    });

    step("slicing is LIMIT / OFFSET", [&] { fmt::print("{}\n", Entry::objects().order_by("id").slice(1, 3)); });

    step("update() and delete_()", [&] {
        auto changed = Entry::objects().filter("rating_note__isnull", true).update({{"rating_note", "unrated"}});
        auto [total, per_model] = Entry::objects().filter("headline", "Soup").delete_();
        fmt::print("updated {}, deleted {} ({} Entry)\n", changed, total, per_model["Entry"]);
    });

    step("get_or_create() in a transaction", [&] {
        auto [author, created] = Author::objects().get_or_create({{"name", "John"}}, {{"email", "john@example.com"}});
        fmt::print("{} created={}\n", author.email, created);
    });

    step("save() updates an instance", [&] {
        Blog b = Blog::objects().get("name", "Cooking");
        b.tagline = "Recipes and more";
        b.save();
        fmt::print("{}: {}\n", b, Blog::objects().get("pk", b.id).tagline);
    });

    // Relations. select_related() joins the ForeignKey's table into the same query; without it, each e.blog->
    // would be a query of its own.
    step("select_related(): the blog comes with each entry, one query", [&] {
        for (const Entry& e : Entry::objects().select_related("blog").order_by("id"))
            fmt::print("{} (in {})\n", e.headline, e.blog->name);
    });

    step("a ManyToMany: add() writes the join table", [&] {
        Author john = Author::objects().get("name", "John");
        Author paul = Author::objects().create({{"name", "Paul"}, {"email", "paul@example.com"}});
        Entry lennon = Entry::objects().get("headline", "Lennon returns");
        related<&Entry::authors>(lennon).add(john, paul);
        related<&Entry::authors>(Entry::objects().get("headline", "Beatles reunion")).add(paul);
        std::string wrote;
        for (const Entry& e : related<&Entry::authors>(paul).order_by("headline")) wrote += " [" + e.headline + "]";
        fmt::print("Paul wrote:{}\n", wrote);
    });

    step("lookups through the ManyToMany, both ways", [&] {
        fmt::print("entries by Paul: {}\n", Entry::objects().filter("authors__name", "Paul").count());
        fmt::print("authors on the Beatles Blog: {}\n",
                   Author::objects().filter("entry__blog__name", "Beatles Blog").distinct().count());
    });

    step("prefetch_related() with Prefetch: one more query for all blogs, filtered, under a name", [&] {
        auto good = Entry::objects().filter("rating__gte", 3).order_by("-rating");
        for (const Blog& b : Blog::objects().prefetch_related(Prefetch("entry_set", good, "good")).order_by("name")) {
            std::string list;
            for (const Entry& e : prefetched<Entry>(b, "good")) list += " [" + e.headline + "]";
            fmt::print("{}:{}\n", b, list.empty() ? " (none)" : list);
        }
    });

    step("prefetch_related() over the ManyToMany", [&] {
        for (const Entry& e : Entry::objects().prefetch_related("authors").order_by("id")) {
            std::string names;
            for (const Author& a : prefetched<Author>(e, "authors")) names += " " + a.name;
            fmt::print("{}:{}\n", e.headline, names.empty() ? " -" : names);
        }
    });

    // Aggregation.
    step("annotate() with Count and Avg across the reverse relation", [&] {
        auto blogs = Blog::objects().annotate("n", Count("entry"), "avg", Avg("entry__rating")).order_by("name");
        for (const Blog& b : blogs)
            fmt::print("{}: {} entries, average rating {}\n", b, b.annotations()["n"], b.annotations()["avg"]);
    });

    step("aggregate() returns one Row", [&] {
        Row r = Entry::objects().aggregate("n", Count("id"), "avg", Avg("rating"));
        fmt::print("{} entries, average rating {:.2f}\n", r.get<std::int64_t>("n"), r.get<double>("avg"));
    });

    step("values().annotate() groups by the values", [&] {
        auto per_blog = Entry::objects().values("blog__name").annotate("n", Count("id"), "best", Max("rating"))
                            .order_by("blog__name");
        for (const Row& r : per_blog)
            fmt::print("{}: {} entries, best rating {}\n", r.get<std::string>("blog__name"), r.get<std::int64_t>("n"),
                       r.get<int>("best"));
    });

    // Expressions and conditions.
    step("F() updates in SQL, without reading the rows first", [&] {
        auto n = Entry::objects().filter("blog", beatles).update({{"number_of_comments", F("number_of_comments") + 1}});
        fmt::print("{} entries got one more comment\n", n);
    });

    step("Q with | and ~", [&] {
        auto qs = Entry::objects().filter(Q("rating__gte", 4) | ~Q("blog__name", "Beatles Blog")).order_by("headline");
        for (const Entry& e : qs) fmt::print("{} (rating {})\n", e.headline, e.rating);
    });

    step("atomic(): everything in the block, or nothing", [&] {
        try {
            atomic([&] {
                Blog::objects().create({{"name", "Drafts"}});
                Entry::objects().update({{"rating", 0}});
                throw std::runtime_error("changed my mind");
            });
        } catch (const std::runtime_error& err) {
            fmt::print("the block raised '{}': rolled back\n", err.what());
        }
        auto drafts = Blog::objects().filter("name", "Drafts").count();
        auto unrated = Entry::objects().filter("rating", 0).count();
        fmt::print("blogs named Drafts: {}, entries rated 0: {}\n", drafts, unrated);
    });

    // A literal lookup path is checked against the model while it compiles. This line, with a missing 's':
    //
    //     Entry::objects().filter("headline__icontain", "Lennon");
    //
    // does not compile. GCC 12: "error: call to non-'constexpr' function 'void
    // dorm::compile_error::unknown_lookup(const char*) [with auto after = &Entry::headline]'" (the part after
    // Entry::headline is wrong), then the line it quotes:
    // compile_error::unknown_lookup<after>("dorm: unknown lookup or transform in lookup path (not a field either; ...");
    // A path in a std::string (or dorm::runtime(...)) is checked when the query runs instead:
    step("a path known only at run time is checked at run time: FieldError", [&] {
        try {
            Entry::objects().filter(runtime("headline__icontain"), "Lennon").count();
        } catch (const FieldError& err) {
            fmt::print("FieldError: {}\n", err.what());
        }
    });

    drop_tables<Blog, Author, Entry>();
}

}  // namespace tour
