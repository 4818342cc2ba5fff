// SPDX-License-Identifier: MIT
// Database routers (Django's DATABASE_ROUTERS): reads, writes, hints, stickiness, allow_relation, allow_migrate.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

/// "default" as the fixture makes it, and "other": a second SQLite database in a file, or on PostgreSQL a second schema of
/// the test database (its own tables, so its own rows), with empty tables for the test models.
std::string other_url() {
    std::string url = test::database_url();
    if (!test::is_postgresql()) {
        // A second SQLite file beside the fixture's database, removed when the tests end.
        static const struct File {
            std::string path = (std::filesystem::temp_directory_path() /
                                 ("dorm_routers_other_" + std::to_string(::getpid()) + ".db")).string();
            ~File() { std::filesystem::remove(path); }
        } file;
        return "sqlite://" + file.path;
    }
    dorm::databases().get("default").connection().execute("CREATE SCHEMA IF NOT EXISTS dorm_routers_other");
    return url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3Ddorm_routers_other";
}

struct TwoDatabases : test::Database {
    TwoDatabases() {
        dorm::databases().set_routers({});
        dorm::databases().add("other", other_url());
        dorm::drop_tables<Blog, Author, Entry, Sample, Country, City, Comment, Artist, Album, Song, Reaction, Category,
                          Profile, Link, Pairing, Person, Group, Membership>("other");
        dorm::create_tables<Blog, Author, Entry, Sample, Country, City, Comment, Artist, Album, Song, Reaction, Category,
                            Profile, Link, Pairing, Person, Group, Membership>("other");
    }
    ~TwoDatabases() { dorm::databases().set_routers({}); }

    template <class... Rs>
    void route(std::shared_ptr<Rs>... routers) {
        dorm::databases().set_routers({routers...});
    }
};

std::int64_t count_on(std::string_view db) { return Blog::objects().using_(db).count(); }

/// Sends every read and write of every model to one database.
struct AllTo : dorm::Router {
    std::string read, write;
    AllTo(std::string r, std::string w) : read(std::move(r)), write(std::move(w)) {}
    std::optional<std::string> db_for_read(const dorm::ModelMeta&, const dorm::Hints&) const override {
        if (read.empty()) return std::nullopt;
        return read;
    }
    std::optional<std::string> db_for_write(const dorm::ModelMeta&, const dorm::Hints&) const override {
        if (write.empty()) return std::nullopt;
        return write;
    }
};

/// Has no opinion, and remembers what it was asked.
struct Watcher : dorm::Router {
    mutable std::vector<std::string> asked;  // "read Blog @other": the operation, the model, the hint's database
    mutable std::vector<std::string> hinted_names;  // the names of the Blog instances given as hints
    void note(const char* what, const dorm::ModelMeta& m, const dorm::Hints& h) const {
        std::string s = std::string(what) + " " + m.name;
        if (h.instance) s += " @" + std::string(h.instance->db());
        asked.push_back(s);
        if (h.instance)
            if (const Blog* b = h.instance->as<Blog>()) hinted_names.push_back(b->name);
    }
    std::optional<std::string> db_for_read(const dorm::ModelMeta& m, const dorm::Hints& h) const override {
        note("read", m, h);
        return std::nullopt;
    }
    std::optional<std::string> db_for_write(const dorm::ModelMeta& m, const dorm::Hints& h) const override {
        note("write", m, h);
        return std::nullopt;
    }
    bool saw(const std::string& s) const { return std::find(asked.begin(), asked.end(), s) != asked.end(); }
};

}  // namespace

TEST_CASE_METHOD(TwoDatabases, "without routers everything stays on default or the instance's database", "[routers]") {
    CHECK(dorm::router().routers().empty());
    Blog b = Blog::objects().create({{"name", "Here"}});
    CHECK(count_on("default") == 1);
    CHECK(count_on("other") == 0);
    CHECK(Blog::objects().db() == "default");
    Blog o = Blog::objects().using_("other").create({{"name", "There"}});
    o.name = "There, renamed";
    o.save();  // back where it came from
    CHECK(Blog::objects().using_("other").get("pk", o.id).name == "There, renamed");
    CHECK(count_on("default") == 1);
    CHECK(dorm::router().db_for_read(dorm::model_meta<Blog>()) == "default");
    CHECK(dorm::router().allow_migrate("other", dorm::model_meta<Blog>()));
}

TEST_CASE_METHOD(TwoDatabases, "an instance with deferred fields saved to another database takes their values along",
                 "[routers]") {
    Blog b = Blog::objects().create({{"name", "Here"}, {"tagline", "kept"}});
    Blog partial = Blog::objects().only("name").get("pk", b.id);
    partial.name = "There";
    // Django's save() to another database loads each deferred field from the instance's own, then writes every field.
    partial.save({.using_ = "other"});
    Blog there = Blog::objects().using_("other").get("name", "There");
    CHECK(there.tagline == "kept");
    CHECK(Blog::objects().get("pk", b.id).name == "Here");
    // A deferred field the caller assigned is written as assigned, not loaded over.
    Blog assigned = Blog::objects().only("name").get("pk", b.id);
    assigned.tagline = "assigned";
    assigned.save({.using_ = "other"});
    CHECK(Blog::objects().using_("other").get("pk", b.id).tagline == "assigned");
    CHECK(Blog::objects().get("pk", b.id).tagline == "kept");
}

TEST_CASE_METHOD(TwoDatabases, "reads go to db_for_read", "[routers]") {
    Blog::objects().using_("default").create({{"name", "On default"}});
    Blog::objects().using_("other").create({{"name", "On other"}});
    route(std::make_shared<AllTo>("other", ""));

    CHECK(Blog::objects().db() == "other");
    CHECK(dorm::router().db_for_read(dorm::model_meta<Blog>()) == "other");
    CHECK(Blog::objects().count() == 1);
    CHECK(Blog::objects().exists());
    CHECK(Blog::objects().get("name", "On other").name == "On other");
    CHECK_THROWS_AS(Blog::objects().get("name", "On default"), Blog::DoesNotExist);
    CHECK(Blog::objects().values_list<std::string>("name", dorm::flat)[0] == "On other");
    CHECK(Blog::objects().aggregate(dorm::Count("id"))["id__count"].as<std::int64_t>() == 1);
    std::vector<std::string> streamed;
    for (const Blog& b : Blog::objects().iterator()) streamed.push_back(b.name);
    CHECK(streamed == std::vector<std::string>{"On other"});
    auto raw = Blog::objects().raw("SELECT id, name, tagline FROM blog");
    REQUIRE(raw.size() == 1);
    CHECK(raw[0].name == "On other");
    // An instance remembers where it was read from.
    Blog b = Blog::objects().get("name", "On other");
    CHECK(Blog::objects().filter("name", "On other").first()->name == "On other");
    b.tagline = "edited";
    b.save();  // no write opinion: back to "other"
    CHECK(Blog::objects().using_("other").get("pk", b.id).tagline == "edited");
    CHECK(count_on("default") == 1);
}

TEST_CASE_METHOD(TwoDatabases, "writes go to db_for_write", "[routers]") {
    route(std::make_shared<AllTo>("", "other"));

    Blog a = Blog::objects().create({{"name", "Created"}});
    CHECK(count_on("other") == 1);
    CHECK(count_on("default") == 0);
    Blog fresh;
    fresh.name = "Saved";
    fresh.save();
    CHECK(Blog::objects().using_("other").filter("name", "Saved").exists());
    Blog::objects().bulk_create({Blog{.name = "Bulk 1"}, Blog{.name = "Bulk 2"}});
    CHECK(count_on("other") == 4);
    CHECK(count_on("default") == 0);

    // get_or_create() looks where it would create; update() and delete() write where writes go.
    auto [got, created] = Blog::objects().get_or_create({{"name", "Created"}});
    CHECK_FALSE(created);
    CHECK(got.id == a.id);
    auto [made, made_now] = Blog::objects().get_or_create({{"name", "Got or created"}});
    CHECK(made_now);
    CHECK(Blog::objects().using_("other").filter("name", "Got or created").exists());
    auto [upd, upd_created] = Blog::objects().update_or_create({{"name", "Created"}}, {{"tagline", "updated"}});
    CHECK_FALSE(upd_created);
    CHECK(Blog::objects().using_("other").get("name", "Created").tagline == "updated");
    Blog::objects().using_("default").create({{"name", "Bulk 1"}});
    CHECK(Blog::objects().filter("name__startswith", "Bulk").update({{"tagline", "bulk"}}) == 2);
    CHECK(Blog::objects().using_("other").filter("tagline", "bulk").count() == 2);
    CHECK(Blog::objects().using_("default").get("name", "Bulk 1").tagline.empty());
    CHECK(Blog::objects().filter("name__startswith", "Bulk").delete_().total == 2);
    CHECK(count_on("default") == 1);

    // Reads have no opinion here: "default".
    CHECK(Blog::objects().count() == 1);

    // An instance saves and deletes where the router writes, whichever database it was read from.
    Blog d = Blog::objects().get("name", "Bulk 1");
    d.save();
    CHECK(Blog::objects().using_("other").filter("name", "Bulk 1").exists());
    CHECK(d.delete_().total == 1);
    CHECK_FALSE(Blog::objects().using_("other").filter("name", "Bulk 1").exists());
    CHECK(count_on("default") == 1);
}

TEST_CASE_METHOD(TwoDatabases, "select_for_update() reads from the database writes go to", "[routers]") {
    Blog::objects().using_("default").create({{"name", "Default"}});
    Blog::objects().using_("other").create({{"name", "Other"}});
    route(std::make_shared<AllTo>("default", "other"));
    CHECK(Blog::objects().get("pk", 1).name == "Default");
    dorm::atomic([&] { CHECK(Blog::objects().select_for_update().get("pk", 1).name == "Other"); }, "other");
    CHECK(Blog::objects().select_for_update().filter("pk", 1).db() == "other");
}

TEST_CASE_METHOD(TwoDatabases, "routers are asked in order and no opinion falls through", "[routers]") {
    auto watcher = std::make_shared<Watcher>();
    struct BlogsToOther : dorm::Router {
        std::optional<std::string> db_for_write(const dorm::ModelMeta& m, const dorm::Hints&) const override {
            if (&m == &dorm::model_meta<Blog>()) return "other";
            return std::nullopt;
        }
    };
    auto last = std::make_shared<Watcher>();
    route(watcher, std::make_shared<BlogsToOther>(), std::make_shared<AllTo>("", "default"), last);

    Blog::objects().create({{"name", "Routed"}});
    CHECK(count_on("other") == 1);
    CHECK(watcher->saw("write Blog"));
    CHECK(last->asked.empty());  // the second router answered

    // Authors: the second router has no opinion, the third sends them to "default", the fourth is never asked.
    Author::objects().create({{"name", "Ann"}});
    CHECK(Author::objects().using_("default").count() == 1);
    CHECK(Author::objects().using_("other").count() == 0);
    CHECK(watcher->saw("write Author"));
    CHECK(last->asked.empty());

    // Reads: nobody has an opinion, so every router is asked and "default" it is.
    CHECK(Author::objects().count() == 1);
    CHECK(last->saw("read Author"));

    auto listed = dorm::router().routers();
    REQUIRE(listed.size() == 4);
    CHECK(listed.front() == watcher);
}

TEST_CASE_METHOD(TwoDatabases, "using_() overrides the routers", "[routers]") {
    auto watcher = std::make_shared<Watcher>();
    route(watcher, std::make_shared<AllTo>("other", "other"));
    Blog b = Blog::objects().using_("default").create({{"name", "Explicit"}});
    CHECK(count_on("default") == 1);
    CHECK(count_on("other") == 0);
    CHECK(Blog::objects().using_("default").get("name", "Explicit").id == b.id);
    b.tagline = "saved with using";
    b.save({.using_ = "default"});
    CHECK(Blog::objects().using_("default").get("pk", b.id).tagline == "saved with using");
    CHECK(Blog::objects().using_("default").filter("pk", b.id).update({{"tagline", "x"}}) == 1);
    CHECK(count_on("other") == 0);
    b.refresh_from_db("default");
    CHECK(b.tagline == "x");
    CHECK(watcher->asked.empty());  // using_() asks nobody
    CHECK(Blog::objects().count() == 0);  // without it: "other"
    CHECK_FALSE(watcher->asked.empty());
}

TEST_CASE_METHOD(TwoDatabases, "instances are told to the routers and stick to their database", "[routers]") {
    Blog theirs = Blog::objects().using_("other").create({{"name", "Theirs"}});
    Blog::objects().using_("default").create({{"name", "Ours"}});
    auto watcher = std::make_shared<Watcher>();
    route(watcher);

    // save(), refresh_from_db() and delete_() of an instance read from "other" stay there: routers without an
    // opinion fall back to the instance's database, and they are told the instance.
    Blog b = Blog::objects().using_("other").get("name", "Theirs");
    b.tagline = "sticky";
    b.save();
    CHECK(watcher->saw("write Blog @other"));
    CHECK(watcher->hinted_names == std::vector<std::string>{"Theirs"});
    CHECK(Blog::objects().using_("other").get("pk", b.id).tagline == "sticky");
    Blog::objects().using_("other").filter("pk", b.id).update({{"tagline", "changed"}});
    b.refresh_from_db();
    CHECK(watcher->saw("read Blog @other"));
    CHECK(b.tagline == "changed");
    b.delete_();
    CHECK(count_on("other") == 0);
    CHECK(count_on("default") == 1);
    (void)theirs;
}

TEST_CASE_METHOD(TwoDatabases, "related managers follow their instance and tell it to the routers", "[routers]") {
    Blog blog = Blog::objects().using_("other").create({{"name", "Other blog"}});
    Author ann = Author::objects().using_("other").create({{"name", "Ann"}});
    auto watcher = std::make_shared<Watcher>();
    route(watcher);

    auto entries = dorm::related<&Entry::blog>(blog);
    Entry e = entries.create({{"headline", "Routed entry"}});
    CHECK(watcher->saw("write Entry @other"));
    CHECK(Entry::objects().using_("other").count() == 1);
    CHECK(Entry::objects().using_("default").count() == 0);
    CHECK(dorm::related<&Entry::blog>(blog).count() == 1);
    CHECK(watcher->saw("read Entry @other"));
    REQUIRE(watcher->hinted_names.size() >= 2);
    CHECK(watcher->hinted_names.back() == "Other blog");

    // The ForeignKey loads its object where the entry came from.
    Entry loaded = Entry::objects().using_("other").get("pk", e.id);
    CHECK(loaded.blog->name == "Other blog");
    CHECK(watcher->saw("read Blog @other"));

    dorm::related<&Entry::authors>(loaded).add(ann);
    CHECK(watcher->saw("write Entry_authors @other"));
    CHECK(dorm::related<&Entry::authors>(loaded).count() == 1);
    CHECK(dorm::related<&Entry::authors>(ann).count() == 1);
    CHECK(Entry::objects().using_("other").filter("authors__name", "Ann").count() == 1);
}

TEST_CASE_METHOD(TwoDatabases, "a router chooses by the instance it is given", "[routers]") {
    // Entries of blogs whose name starts with "O" live on "other" (a sharding router).
    struct ByBlog : dorm::Router {
        std::optional<std::string> pick(const dorm::Hints& h) const {
            if (!h.instance) return std::nullopt;
            if (const Blog* b = h.instance->as<Blog>()) return b->name.starts_with("O") ? "other" : "default";
            return std::nullopt;
        }
        std::optional<std::string> db_for_read(const dorm::ModelMeta&, const dorm::Hints& h) const override { return pick(h); }
        std::optional<std::string> db_for_write(const dorm::ModelMeta&, const dorm::Hints& h) const override { return pick(h); }
        std::optional<bool> allow_relation(const dorm::Instance&, const dorm::Instance&) const override { return true; }
    };
    Blog o = Blog::objects().create({{"name", "Odd"}});
    Blog e = Blog::objects().create({{"name", "Even"}});
    Blog::objects().using_("other").bulk_create({o, e});  // the same blogs on both
    route(std::make_shared<ByBlog>());
    dorm::related<&Entry::blog>(o).create({{"headline", "to other"}});
    dorm::related<&Entry::blog>(e).create({{"headline", "to default"}});
    CHECK(test::headlines(Entry::objects().using_("other")) == std::vector<std::string>{"to other"});
    CHECK(test::headlines(Entry::objects().using_("default")) == std::vector<std::string>{"to default"});
    CHECK(test::headlines(dorm::related<&Entry::blog>(o)) == std::vector<std::string>{"to other"});
    CHECK(dorm::related<&Entry::blog>(o).db() == "other");
}

TEST_CASE_METHOD(TwoDatabases, "allow_relation refuses a ForeignKey assignment", "[routers]") {
    Blog blog = Blog::objects().create({{"name", "Refused"}});
    struct Refuse : dorm::Router {
        std::optional<bool> allow_relation(const dorm::Instance& a, const dorm::Instance& b) const override {
            return !(a.is<Blog>() && b.is<Entry>());
        }
    };
    route(std::make_shared<Refuse>());
    Entry e;
    e.headline = "Orphan";
    e.blog = blog;
    CHECK_THROWS_WITH(e.save(), Catch::Contains(fmt::format(
        "Cannot assign \"<Blog: Blog object ({})>\": the current database router prevents this relation.", blog.id)));
    CHECK_THROWS_AS(e.save(), dorm::ValueError);
    CHECK(Entry::objects().using_("default").count() == 0);
    // The reverse manager assigns the blog to each entry: refused too.
    CHECK_THROWS_WITH(dorm::related<&Entry::blog>(blog).create({{"headline", "x"}}),
                      Catch::Contains("the current database router prevents this relation."));
    CHECK(Entry::objects().using_("default").count() == 0);
    // An id is not an instance: nothing to ask about.
    e.blog = blog.id;
    e.save();
    CHECK(Entry::objects().using_("default").count() == 1);
    CHECK_THROWS_WITH(dorm::related<&Entry::blog>(blog).add(e),
                      Catch::Contains("the current database router prevents this relation."));
}

TEST_CASE_METHOD(TwoDatabases, "without an opinion, relations stay within one database", "[routers]") {
    Blog there = Blog::objects().using_("other").create({{"name", "There"}});
    Author ann = Author::objects().using_("other").create({{"name", "Ann"}});
    Blog here = Blog::objects().using_("default").create({{"name", "Here"}});

    // A new entry pointed at a blog of "other" goes to "other" (Django: it takes its related object's database).
    Entry e;
    e.headline = "Follows its blog";
    e.blog = there;
    e.save();
    CHECK(Entry::objects().using_("other").count() == 1);
    CHECK(Entry::objects().using_("default").count() == 0);

    // An entry of "default" cannot point at a blog of "other".
    Entry local = Entry::objects().using_("default").create(Entry{.blog = here, .headline = "Local"});
    local.blog = there;
    CHECK_THROWS_WITH(local.save(), Catch::Contains("the current database router prevents this relation."));
    CHECK(Entry::objects().using_("default").get("pk", local.id).blog.id() == here.id);

    // Nor link an author of "other".
    CHECK_THROWS_WITH(dorm::related<&Entry::authors>(local).add(ann),
                      Catch::Contains(fmt::format("Cannot add \"<Author: Author object ({})>\": instance is on "
                                                  "database \"default\", value is on database \"other\"", ann.id)));
    CHECK(dorm::related<&Entry::authors>(local).count() == 0);
    dorm::related<&Entry::authors>(e).add(ann);  // same database: fine
    CHECK(dorm::related<&Entry::authors>(e).count() == 1);
}

TEST_CASE_METHOD(TwoDatabases, "allow_relation refuses adding to a many-to-many", "[routers]") {
    Entry e = Entry::objects().create(Entry{.blog = Blog::objects().create({{"name", "B"}}), .headline = "E"});
    Author ann = Author::objects().create({{"name", "Ann"}});
    struct NoAuthors : dorm::Router {
        std::optional<bool> allow_relation(const dorm::Instance& a, const dorm::Instance&) const override {
            if (a.is<Author>()) return false;
            return std::nullopt;
        }
    };
    route(std::make_shared<NoAuthors>());
    CHECK_THROWS_AS(dorm::related<&Entry::authors>(e).add(ann), dorm::ValueError);
    CHECK_THROWS_WITH(dorm::related<&Entry::authors>(e).add(ann),
                      Catch::Contains(fmt::format("Cannot add \"<Author: Author object ({})>\": instance is on "
                                                  "database \"default\", value is on database \"default\"", ann.id)));
    CHECK(dorm::related<&Entry::authors>(e).count() == 0);
    dorm::related<&Entry::authors>(e).add(ann.id);  // a key is not an instance: not asked
    CHECK(dorm::related<&Entry::authors>(e).count() == 1);
}

TEST_CASE_METHOD(TwoDatabases, "allow_migrate chooses the tables create_tables makes", "[routers]") {
    struct BlogsOnDefault : dorm::Router {
        std::optional<bool> allow_migrate(std::string_view db, const dorm::ModelMeta& m) const override {
            if (&m == &dorm::model_meta<Blog>()) return db == "default";
            return std::nullopt;
        }
    };
    dorm::databases().add("third", test::is_postgresql() ? dorm::databases().get("other").url() : "sqlite::memory:");
    dorm::drop_tables<Blog, Author>("third");
    route(std::make_shared<BlogsOnDefault>());
    CHECK_FALSE(dorm::router().allow_migrate("third", dorm::model_meta<Blog>()));
    CHECK(dorm::router().allow_migrate("third", dorm::model_meta<Author>()));
    dorm::create_tables<Blog, Author>("third");
    CHECK(Author::objects().using_("third").count() == 0);
    CHECK_THROWS_AS(Blog::objects().using_("third").count(), dorm::DatabaseError);
    dorm::databases().set_routers({});
    dorm::create_tables<Blog, Author>("third");
    CHECK(Blog::objects().using_("third").count() == 0);
}
