// SPDX-License-Identifier: MIT
// The test models: Django's Blog / Author / Entry, plus a few models for options and types.
#pragma once

#include <dorm/postgresql.hpp>
#include <dorm/sqlite.hpp>

#include <cstdint>
#include <optional>
#include <string>

struct Blog {
    std::int64_t id = 0;
    std::string name{};
    std::string tagline{};
    DORM_MODEL(Blog, id, name, tagline)
    static void meta(dorm::Meta<Blog>& m) { m.field(&Blog::name).max_length(100).unique(); }
};
DORM_EXTERN_MODEL(Blog);

struct Author {
    std::int64_t id = 0;
    std::string name{};
    std::string email{};
    DORM_MODEL(Author, id, name, email)
};
DORM_EXTERN_MODEL(Author);

struct EntryQuerySet;

struct Entry {
    std::int64_t id = 0;
    dorm::ForeignKey<Blog> blog{};
    std::string headline{};
    std::string body_text{};
    dorm::Date pub_date{};
    dorm::Date mod_date{};
    dorm::ManyToMany<Author> authors{};
    int number_of_comments = 0;
    int number_of_pingbacks = 0;
    int rating = 0;
    std::optional<std::string> rating_note{};
    using queryset_type = EntryQuerySet;  // Django: objects = EntryQuerySet.as_manager()
    DORM_MODEL(Entry, id, blog, headline, body_text, pub_date, mod_date, authors, number_of_comments,
               number_of_pingbacks, rating, rating_note)
    static void meta(dorm::Meta<Entry>& m) {
        m.get_latest_by = {"pub_date"};
        m.field(&Entry::headline).max_length(255);
        m.indexes = {{{"pub_date", "-rating"}, ""}};
    }
};
DORM_EXTERN_MODEL(Entry);

/// A custom QuerySet: its methods chain with the built-in ones and survive them.
struct EntryQuerySet : dorm::QuerySet<Entry, EntryQuerySet> {
    using QuerySet::QuerySet;
    EntryQuerySet well_rated() const { return filter("rating__gte", 4); }
    EntryQuerySet commented() const { return filter("number_of_comments__gt", 0); }
};

/// A DateTime and a NULL-able ForeignKey, for datetime transforms and LEFT OUTER JOINs.
struct Comment {
    std::int64_t id = 0;
    dorm::ForeignKey<Entry> entry{};
    std::optional<dorm::ForeignKey<Author>> author{};
    std::string text{};
    dorm::DateTime posted{};
    DORM_MODEL(Comment, id, entry, author, text, posted)
};
DORM_EXTERN_MODEL(Comment);

/// Every value type, NULL-able and not.
struct Sample {
    std::int64_t id = 0;
    bool flag = false;
    std::int16_t small = 0;
    int medium = 0;
    std::int64_t big = 0;
    double real = 0;
    std::string text{};
    dorm::Bytes data{};
    dorm::Date day{};
    dorm::DateTime moment{};
    dorm::Time clock{};
    std::optional<int> maybe_int{};
    std::optional<std::string> maybe_text{};
    std::optional<dorm::DateTime> maybe_moment{};
    DORM_MODEL(Sample, id, flag, small, medium, big, real, text, data, day, moment, clock, maybe_int, maybe_text,
               maybe_moment)
};
DORM_EXTERN_MODEL(Sample);

/// Durations and date arithmetic (the Experiment of Django's expressions tests): a DurationField, NULL-able and not,
/// beside the dates, datetimes and time it is added to and computed from. Its table is made by the tests using it.
struct Experiment {
    std::int64_t id = 0;
    std::string name{};
    dorm::Date assigned{};
    dorm::Date completed{};
    dorm::Duration estimated_time{};
    dorm::DateTime start{};
    dorm::DateTime end{};
    dorm::Time opens{};
    std::optional<dorm::Duration> slack{};
    std::optional<int> scalar{};
    DORM_MODEL(Experiment, id, name, assigned, completed, estimated_time, start, end, opens, slack, scalar)
};
DORM_EXTERN_MODEL(Experiment);

/// Model options: db_table, default ordering, unique_together, db_column, default_, a custom primary key.
struct Country {
    std::string code{};
    std::string name{};
    int population = 0;
    std::string continent{};
    DORM_MODEL(Country, code, name, population, continent)
    static void meta(dorm::Meta<Country>& m) {
        m.db_table = "geo_country";
        m.ordering = {"-population", "name"};
        m.unique_together = {{"name", "continent"}};
        m.field(&Country::code).primary_key().max_length(2);
        m.field(&Country::name).db_column("country_name").db_index();
        m.field(&Country::continent).default_("Europe");
    }
};
DORM_EXTERN_MODEL(Country);

/// A ForeignKey to a model with a default ordering: order_by("country") orders by it.
struct City {
    std::int64_t id = 0;
    dorm::ForeignKey<Country, std::string> country{};
    std::string name{};
    DORM_MODEL(City, id, country, name)
};
DORM_EXTERN_MODEL(City);

/// on_delete as in Django's documentation: deleting an artist cascades to albums and songs; a song's album is
/// RESTRICT, which allows deleting an album only along with its songs.
struct Artist {
    std::int64_t id = 0;
    std::string name{};
    DORM_MODEL(Artist, id, name)
};
DORM_EXTERN_MODEL(Artist);
struct Album {
    std::int64_t id = 0;
    dorm::ForeignKey<Artist> artist{};
    std::string name{};
    DORM_MODEL(Album, id, artist, name)
};
DORM_EXTERN_MODEL(Album);
struct Song {
    std::int64_t id = 0;
    dorm::ForeignKey<Artist> artist{};
    dorm::ForeignKey<Album> album{};
    std::string name{};
    DORM_MODEL(Song, id, artist, album, name)
    static void meta(dorm::Meta<Song>& m) { m.field(&Song::album).on_delete(dorm::OnDelete::restrict); }
};
DORM_EXTERN_MODEL(Song);

/// PROTECT, SET_NULL and SET_DEFAULT, and a related_name.
struct Reaction {
    std::int64_t id = 0;
    dorm::ForeignKey<Entry> entry{};
    std::optional<dorm::ForeignKey<Author>> author{};
    dorm::ForeignKey<Blog> blog{};
    std::string kind{};
    DORM_MODEL(Reaction, id, entry, author, blog, kind)
    static void meta(dorm::Meta<Reaction>& m) {
        m.field(&Reaction::entry).on_delete(dorm::OnDelete::protect).related_name("reactions");
        m.field(&Reaction::author).on_delete(dorm::OnDelete::set_null);
        m.field(&Reaction::blog).on_delete(dorm::OnDelete::set_default).default_(1);
    }
};
DORM_EXTERN_MODEL(Reaction);

/// A self-referential tree: deleting a node deletes its subtree.
struct Category {
    std::int64_t id = 0;
    std::optional<dorm::ForeignKey<Category>> parent{};
    std::string name{};
    DORM_MODEL(Category, id, parent, name)
};
DORM_EXTERN_MODEL(Category);

/// A one-to-one relation: at most one profile per author.
struct Profile {
    std::int64_t id = 0;
    dorm::OneToOne<Author> author{};
    std::string bio{};
    DORM_MODEL(Profile, id, author, bio)
};
DORM_EXTERN_MODEL(Profile);

/// Two ForeignKeys to the same model: distinct related_name()s tell them apart.
struct Link {
    std::int64_t id = 0;
    dorm::ForeignKey<Blog> source{};
    dorm::ForeignKey<Blog> target{};
    DORM_MODEL(Link, id, source, target)
    static void meta(dorm::Meta<Link>& m) {
        m.field(&Link::source).related_name("links_out");
        m.field(&Link::target).related_name("links_in");
    }
};
DORM_EXTERN_MODEL(Link);

/// Two ForeignKeys to the same model without related_name(): their reverse name is ambiguous.
struct Pairing {
    std::int64_t id = 0;
    dorm::ForeignKey<Author> first{};
    dorm::ForeignKey<Author> second{};
    DORM_MODEL(Pairing, id, first, second)
};
DORM_EXTERN_MODEL(Pairing);

struct Membership;

/// ManyToManys to itself (join table ForeignKeys from_person and to_person): friends go both ways, as Django's
/// default; follows goes one way, and its reverse side is "followers".
struct Person {
    std::int64_t id = 0;
    std::string name{};
    dorm::ManyToMany<Person> friends{};
    dorm::ManyToMany<Person> follows{};
    DORM_MODEL(Person, id, name, friends, follows)
    static void meta(dorm::Meta<Person>& m) { m.field(&Person::follows).symmetrical(false).related_name("followers"); }
};
DORM_EXTERN_MODEL(Person);

/// A ManyToMany through a model of its own, with data on each link (Django's Group / Membership example).
struct Group {
    std::int64_t id = 0;
    std::string name{};
    dorm::ManyToMany<Person, Membership> members{};
    DORM_MODEL(Group, id, name, members)
    static void meta(dorm::Meta<Group>& m) { m.field(&Group::members).related_name("groups"); }
};
DORM_EXTERN_MODEL(Group);

struct Membership {
    std::int64_t id = 0;
    dorm::ForeignKey<Person> person{};
    dorm::ForeignKey<Group> group{};
    dorm::Date date_joined{};
    std::string invite_reason{};
    DORM_MODEL(Membership, id, person, group, date_joined, invite_reason)
};
DORM_EXTERN_MODEL(Membership);
