// SPDX-License-Identifier: MIT
// Compile-fail cases for literal lookup paths: built with -DDORM_CASE=n, each must fail with its dorm: message;
// DORM_CASE=0 is the control and must compile.
#include <dorm/sqlite.hpp>

#include <cstdint>
#include <optional>
#include <string>

struct Blog {
    std::int64_t id = 0;
    std::string name{};
    DORM_MODEL(Blog, id, name)
};

struct Entry {
    std::int64_t id = 0;
    dorm::ForeignKey<Blog> blog{};
    std::string headline{};
    dorm::Date pub_date{};
    int rating = 0;
    dorm::Bytes cover{};
    DORM_MODEL(Entry, id, blog, headline, pub_date, rating, cover)
};

/// Self-referential: the check follows ForeignKey hops into the model itself.
struct Node {
    std::int64_t id = 0;
    std::optional<dorm::ForeignKey<Node>> parent{};
    std::string name{};
    DORM_MODEL(Node, id, parent, name)
};

/// A member deliberately not persisted: named in DORM_NOT_PERSISTED, it compiles.
struct Counter {
    std::int64_t id = 0;
    int hits = 0;
    int cached_total = 0;
    DORM_MODEL(Counter, id, hits)
    DORM_NOT_PERSISTED(cached_total)
};

/// Custom lookups declared for the model's literal paths (registered at run time).
inline constexpr dorm::CustomLookup not_equal{.name = "ne", .on = dorm::FieldKinds::all(), .sql = "{lhs} <> {rhs}"};
inline constexpr dorm::CustomTransform absolute_value{.name = "abs", .on = dorm::FieldKinds::integers(),
                                                      .sql = "ABS({lhs})"};
struct Scored {
    std::int64_t id = 0;
    std::string name{};
    int score = 0;
    DORM_MODEL(Scored, id, name, score)
    static constexpr auto dorm_lookups() { return dorm::declare_lookups(not_equal, absolute_value); }
};

/// A custom lookup declared on one field: after that field only, from its model and across a ForeignKey to it.
struct Station {
    std::int64_t id = 0;
    std::string name{};
    std::string code{};
    DORM_MODEL(Station, id, name, code)
    static constexpr auto dorm_lookups() { return dorm::declare_lookups(dorm::on_field("name", not_equal)); }
};
struct Probe {
    std::int64_t id = 0;
    dorm::ForeignKey<Station> station{};
    std::string name{};
    DORM_MODEL(Probe, id, station, name)
};

#if DORM_CASE == 9
/// A member left out of DORM_MODEL by mistake would never be saved: a compile error.
struct Forgetful {
    std::int64_t id = 0;
    std::string name{};
    std::string forgotten{};
    DORM_MODEL(Forgetful, id, name)
};
#endif

int main() {
    auto entries = Entry::objects();
    auto nodes = Node::objects();
#if DORM_CASE == 0
    (void)entries.filter("headline__icontains", "x").exclude("blog__name__startswith", "b").order_by("-pub_date");
    (void)entries.filter("rating__contains", "1").filter("pub_date__startswith", "2005");  // cast to text, as Django
    (void)entries.filter("pub_date__year__gte", 2005).get("pk", 1);
    (void)nodes.filter("parent__parent__name", "x").filter("parent_id", 1).order_by("parent__name", "?");
    (void)entries.filter(std::string("any__thing"), 1);  // a run-time string is checked at run time
    // A first name that is not a field may be an annotation: checked at run time, its lookup at compile time.
    (void)entries.annotate("n", dorm::Count("id")).filter("n__gt", 5).order_by("-n");
    (void)Blog::objects().filter("entry__rating__gt", 3);  // a reverse relation: checked at run time
    (void)Counter::objects().filter("hits__gt", 1);  // a member named in DORM_NOT_PERSISTED
    (void)Scored::objects().filter("name__ne", "x").filter("score__abs__lt", 2).order_by("score__abs", "-score");
    (void)entries.filter(std::string("rating__ne"), 1).filter(dorm::runtime("rating__abs"), 1);  // run-time paths
    (void)Station::objects().filter("name__ne", "x").exclude("pk", 1);
    (void)Probe::objects().filter("station__name__ne", "x").filter(dorm::runtime("name__ne"), "x");
#elif DORM_CASE == 1
    (void)entries.filter("blog__name__containz", "x");  // an unknown lookup after a ForeignKey hop
#elif DORM_CASE == 2
    (void)entries.filter("headline__containz", "x");  // unknown lookup
#elif DORM_CASE == 3
    (void)entries.filter("cover__icontains", "x");  // lookup on the wrong type: binary data is not text
#elif DORM_CASE == 4
    (void)entries.filter("blog__nmae", "x");  // unknown field after a ForeignKey hop
#elif DORM_CASE == 5
    (void)nodes.filter("parent__parent__nme", "x");  // self-referential hops
#elif DORM_CASE == 6
    (void)entries.filter("pub_date__hour", 1);  // transform on the wrong type
#elif DORM_CASE == 7
    (void)entries.order_by("-blog__nme");  // order_by checks too
#elif DORM_CASE == 8
    (void)entries.get("rating__gte", 1, "headline__bogus", "x");  // the second pair of get()
#elif DORM_CASE == 9
    (void)Forgetful::objects().count();
#elif DORM_CASE == 10
    (void)entries.filter("rating__ne", 1);  // a custom lookup Entry does not declare
#elif DORM_CASE == 11
    (void)Scored::objects().filter("name__abs", 1);  // a declared transform on a kind it is not declared for
#elif DORM_CASE == 12
    (void)Scored::objects().filter("score__ne__abs", 1);  // a lookup ends a path
#elif DORM_CASE == 13
    (void)Station::objects().filter("code__ne", "x");  // declared on another field of the model
#elif DORM_CASE == 14
    (void)Probe::objects().filter("name__ne", "x");  // declared on a field of the same name of another model
#elif DORM_CASE == 15
    (void)Probe::objects().filter("station__code__ne", "x");  // across the ForeignKey, on another field
#elif DORM_CASE == 16
    (void)entries.filter("pk__containz", 1);  // after the primary key
#elif DORM_CASE == 17
    (void)entries.filter("exact", 1);  // a lookup where a field must come first
#elif DORM_CASE == 18
    (void)entries.order_by("rating__gte");  // order_by takes a field path, not a lookup
#endif
    return 0;
}
