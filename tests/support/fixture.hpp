// SPDX-License-Identifier: MIT
// Test fixture: a fresh "default" database per test, on the backend DORM_TEST_DATABASE names.
#pragma once

#include "models.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

namespace test {

/// The URL of the database under test: DORM_TEST_DATABASE, or an in-memory SQLite database.
inline std::string database_url() {
    const char* url = std::getenv("DORM_TEST_DATABASE");
    return url && *url ? url : "sqlite::memory:";
}

inline bool is_postgresql() { return database_url().starts_with("postgres"); }

/// database_url() with dorm or backend URL options added ("pool_size=4&pool_timeout=1").
inline std::string database_url(std::string_view options) {
    std::string url = database_url();
    return url + (url.find('?') == std::string::npos ? "?" : "&") + std::string(options);
}

/// Registers "default" with empty tables for every test model. SQLite gets a new in-memory database;
/// a server database gets its tables dropped and created again.
struct Database {
    Database() { create(database_url()); }
    /// On database_url() with these URL options ("pool_size=4").
    explicit Database(std::string_view options) { create(database_url(options)); }

private:
    static void create(std::string url) {
        dorm::databases().add("default", std::move(url));
        dorm::drop_tables<Blog, Author, Entry, Sample, Country, City, Comment, Artist, Album, Song, Reaction, Category, Profile, Link, Pairing, Person, Group, Membership>();
        dorm::create_tables<Blog, Author, Entry, Sample, Country, City, Comment, Artist, Album, Song, Reaction, Category, Profile, Link, Pairing, Person, Group, Membership>();
    }
};

/// Three blogs and a handful of entries, as in Django's documentation.
struct BlogData : Database {
    Blog beatles, cooking, news;
    BlogData() {
        beatles = Blog::objects().create({{"name", "Beatles Blog"}, {"tagline", "All the latest Beatles news."}});
        cooking = Blog::objects().create({{"name", "Cooking"}, {"tagline", "Recipes"}});
        news = Blog::objects().create({{"name", "News"}, {"tagline", "Daily"}});
        add(beatles, "Lennon returns", dorm::Date(2005, 3, 20), 5, 10, 2, std::nullopt);
        add(beatles, "Beatles reunion", dorm::Date(2006, 7, 1), 3, 0, 5, "solid");
        add(cooking, "Pancakes", dorm::Date(2005, 1, 30), 4, 3, 1, std::nullopt);
        add(cooking, "Soup", dorm::Date(2007, 11, 5), 1, 0, 0, "thin");
        add(news, "Election", dorm::Date(2008, 2, 14), 2, 7, 9, std::nullopt);
    }
    Entry add(const Blog& b, std::string headline, dorm::Date date, int rating, int comments, int pingbacks,
              std::optional<std::string> note) {
        Entry e;
        e.blog = b;
        e.headline = std::move(headline);
        e.body_text = "Body of " + e.headline;
        e.pub_date = date;
        e.mod_date = date;
        e.rating = rating;
        e.number_of_comments = comments;
        e.number_of_pingbacks = pingbacks;
        e.rating_note = std::move(note);
        return Entry::objects().create(e);
    }
};

/// The headlines of a QuerySet of entries, in order.
template <class QS>
std::vector<std::string> headlines(const QS& qs) {
    std::vector<std::string> out;
    for (const auto& e : qs) out.push_back(e.headline);
    return out;
}

/// The names of a QuerySet's objects (blogs, authors, ...), sorted.
template <class QS>
std::vector<std::string> sorted_names(const QS& qs) {
    std::vector<std::string> out;
    for (const auto& o : qs) out.push_back(o.name);
    std::sort(out.begin(), out.end());
    return out;
}

/// The headlines of a QuerySet of entries, ordered by headline.
template <class QS>
std::vector<std::string> sorted(const QS& qs) {
    return headlines(qs.order_by("headline"));
}

}  // namespace test
