// SPDX-License-Identifier: MIT
// F() expressions (comparisons, arithmetic, update, ordering), Q with XOR, mixing Q and name/value
// arguments, and the QuerySet operators &, |, ^.
#include "support/fixture.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>

using dorm::F;
using dorm::Q;
using test::headlines;
using test::sorted;
using V = std::vector<std::string>;


// Data (rating, comments, pingbacks): Lennon 5,10,2  Reunion 3,0,5  Pancakes 4,3,1  Soup 1,0,0  Election 2,7,9

TEST_CASE("F() compares fields of the same row", "[expressions]") {
    test::BlogData data;
    CHECK(sorted(Entry::objects().filter("number_of_comments__gt", F("number_of_pingbacks"))) ==
          V{"Lennon returns", "Pancakes"});
    CHECK(sorted(Entry::objects().filter("number_of_comments__gt", F("number_of_pingbacks") * 2)) ==
          V{"Lennon returns", "Pancakes"});
    CHECK(sorted(Entry::objects().filter("number_of_comments__lt", F("number_of_pingbacks") + F("rating"))) ==
          V{"Beatles reunion", "Election", "Pancakes", "Soup"});
    CHECK(sorted(Entry::objects().filter("rating", F("number_of_pingbacks") + 3)) == V{"Lennon returns", "Pancakes"});
    CHECK(sorted(Entry::objects().filter("rating", F("number_of_pingbacks") - 1)).empty());
    CHECK(sorted(Entry::objects().filter("number_of_comments", F("rating") * 2)) == V{"Lennon returns"});
    CHECK(sorted(Entry::objects().filter("number_of_comments", F("number_of_pingbacks") * 5)) == V{"Lennon returns", "Soup"});
    // Integer division truncates, as in Django on both databases: 2/2*5 = 5, 5/2*5 = 10, 9/2*5 = 20.
    CHECK(sorted(Entry::objects().filter("number_of_comments", F("number_of_pingbacks") / 2 * 5)) == V{"Soup"});
    CHECK(sorted(Entry::objects().filter("number_of_pingbacks", F("number_of_comments") % 3)) == V{"Soup"});
    CHECK(sorted(Entry::objects().filter("number_of_comments__gt", F("number_of_comments") % 3)) ==
          V{"Election", "Lennon returns", "Pancakes"});
    CHECK(sorted(Entry::objects().filter("number_of_pingbacks__gte", dorm::pow(F("rating"), 2))) == V{"Election"});
    CHECK(sorted(Entry::objects().filter("rating__lt", -F("number_of_comments") + 4)) == V{"Beatles reunion", "Soup"});
    CHECK(sorted(Entry::objects().exclude("number_of_comments__gt", F("number_of_pingbacks"))) ==
          V{"Beatles reunion", "Election", "Soup"});
    // Across a ForeignKey.
    CHECK(Entry::objects().filter("headline__startswith", "B").filter("blog__name__startswith", "B").count() == 1);
    CHECK(Entry::objects().filter("blog__id", F("blog__id")).count() == 5);
    // F() that joins: headlines between their blog's name and tagline ("Cooking" <= h < "Recipes").
    Entry::objects().filter("headline", "Soup").update({{"headline", "Cooking soup"}});
    CHECK(sorted(Entry::objects().filter("headline__gte", F("blog__name")).filter("headline__lt", F("blog__tagline")))
          == V{"Cooking soup", "Pancakes"});
    CHECK(Entry::objects().filter("blog__name", F("blog__name")).count() == 5);
    CHECK_THROWS_AS(Entry::objects().filter("rating", F("nope")), dorm::FieldError);
}

TEST_CASE("update() with F() runs in SQL, without reading rows", "[expressions]") {
    test::BlogData data;
    dorm::CaptureQueries queries;
    CHECK(Entry::objects().filter("rating__gte", 3).update({{"rating", F("rating") + 1}}) == 3);
    REQUIRE(queries.size() == 1);
    CHECK(queries[0].sql.starts_with("UPDATE"));
    CHECK(queries[0].sql.find("(\"entry\".\"rating\" + ") != std::string::npos);
    CHECK(headlines(Entry::objects().order_by("-rating").slice(0, 3)) == V{"Lennon returns", "Pancakes", "Beatles reunion"});
    CHECK(Entry::objects().get("headline", "Lennon returns").rating == 6);
    Entry::objects().update({{"number_of_comments", F("number_of_comments") + F("number_of_pingbacks")}});
    CHECK(Entry::objects().get("headline", "Election").number_of_comments == 16);
    CHECK_THROWS_WITH(Entry::objects().update({{"rating", F("blog__name")}}),
                      Catch::Contains("Joined field references are not permitted in this query"));
}

TEST_CASE("order_by with F(): asc / desc, nulls_first / nulls_last", "[expressions]") {
    test::BlogData data;  // rating_note: "solid" (Reunion), "thin" (Soup), NULL otherwise
    auto notes = [](const EntryQuerySet& qs) {
        V out;
        for (const auto& e : qs) out.push_back(e.rating_note.value_or("-"));
        return out;
    };
    CHECK(notes(Entry::objects().order_by(F("rating_note").asc({.nulls_first = true}), "headline")) ==
          V{"-", "-", "-", "solid", "thin"});
    CHECK(notes(Entry::objects().order_by(F("rating_note").asc({.nulls_last = true}), "headline")) ==
          V{"solid", "thin", "-", "-", "-"});
    CHECK(notes(Entry::objects().order_by(F("rating_note").desc({.nulls_last = true}), "headline")) ==
          V{"thin", "solid", "-", "-", "-"});
    CHECK(notes(Entry::objects().order_by(F("rating_note").desc({.nulls_first = true}), "headline")) ==
          V{"-", "-", "-", "thin", "solid"});
    // reverse() flips both the direction and where NULLs go.
    CHECK(notes(Entry::objects().order_by(F("rating_note").asc({.nulls_first = true})).reverse()) ==
          V{"thin", "solid", "-", "-", "-"});
    CHECK(headlines(Entry::objects().order_by((F("number_of_comments") - F("number_of_pingbacks")).desc())) ==
          V{"Lennon returns", "Pancakes", "Soup", "Election", "Beatles reunion"});
    CHECK(headlines(Entry::objects().order_by(F("rating"))).front() == "Soup");
    CHECK_THROWS_AS(F("rating").asc({.nulls_first = true, .nulls_last = true}), dorm::ValueError);
}

TEST_CASE("Q with ^ is true when an odd number of operands are", "[expressions]") {
    test::BlogData data;
    auto a = Q("rating__gte", 3);              // Lennon, Reunion, Pancakes
    auto b = Q("number_of_comments__gte", 3);  // Lennon, Pancakes, Election
    auto c = Q("number_of_pingbacks__gte", 2); // Lennon, Reunion, Election
    CHECK(sorted(Entry::objects().filter(a ^ b)) == V{"Beatles reunion", "Election"});
    CHECK(sorted(Entry::objects().filter(a ^ b ^ c)) == V{"Lennon returns"});  // Lennon: all three
    CHECK(sorted(Entry::objects().filter(~(a ^ b))) == V{"Lennon returns", "Pancakes", "Soup"});
    CHECK(sorted(Entry::objects().exclude(a ^ b ^ c)) == V{"Beatles reunion", "Election", "Pancakes", "Soup"});
    CHECK(sorted(Entry::objects().filter(Q("id__in", std::vector<int>{}) ^ Q("rating", 1))) == V{"Soup"});
}

TEST_CASE("filter / exclude / get mix Q objects and name/value pairs", "[expressions]") {
    test::BlogData data;
    CHECK(sorted(Entry::objects().filter(Q("rating", 5) | Q("rating", 1), "number_of_comments", 0)) == V{"Soup"});
    CHECK(sorted(Entry::objects().filter("rating__gte", 2, "rating__lte", 3)) == V{"Beatles reunion", "Election"});
    CHECK(sorted(Entry::objects().exclude(Q("rating__gte", 2), "rating__lte", 3)) ==
          V{"Lennon returns", "Pancakes", "Soup"});
    CHECK(Entry::objects().get(Q("rating__gte", 4), "number_of_pingbacks", 1).headline == "Pancakes");
    CHECK(Entry::objects().get("blog", data.news, "rating", 2).headline == "Election");
}

TEST_CASE("QuerySets combine with &, | and ^", "[expressions]") {
    test::BlogData data;
    auto high = Entry::objects().filter("rating__gte", 4);      // Lennon, Pancakes
    auto talked = Entry::objects().filter("number_of_comments__gt", 5);  // Lennon, Election
    CHECK(sorted(high & talked) == V{"Lennon returns"});
    CHECK(sorted(high | talked) == V{"Election", "Lennon returns", "Pancakes"});
    CHECK(sorted(high ^ talked) == V{"Election", "Pancakes"});
    CHECK(sorted(high | Entry::objects().none()) == V{"Lennon returns", "Pancakes"});
    CHECK((high & Entry::objects().none()).count() == 0);
    CHECK(sorted(high | Entry::objects().all()).size() == 5);
    // With joins on either side.
    auto beatles = Entry::objects().filter("blog__name__startswith", "Beatles");
    CHECK(sorted(beatles | talked) == V{"Beatles reunion", "Election", "Lennon returns"});
    CHECK(sorted(beatles & high) == V{"Lennon returns"});
    // A sliced side of | or ^ takes part through its keys (Django's filter(pk__in=qs.values("pk"))); & refuses it.
    auto first_high = high.order_by("headline").slice(0, 1);  // Lennon returns
    CHECK(sorted(first_high | Entry::objects().filter("rating", 1)) == V{"Lennon returns", "Soup"});
    CHECK(sorted(talked ^ first_high) == V{"Election"});
    auto kept = Entry::objects().none() | first_high;  // the sliced side itself, as Django returns it
    CHECK(kept.size() == 1);
    CHECK(kept.begin()->headline == "Lennon returns");
    CHECK(sorted(high.order_by("-headline").slice(0, 1) | high.order_by("headline").slice(0, 1)) ==
          V{"Lennon returns", "Pancakes"});
    CHECK_THROWS_AS(high.slice(0, 1) & talked, dorm::TypeError);
    CHECK_THROWS_AS(high.distinct() | talked, dorm::TypeError);
}

namespace {
/// A leaf of an operator chain that counts how often its type is asked for (and, when `typed` is false, cannot be
/// typed: a FieldError, as an operator of types Django cannot combine).
struct CountingLeaf final : dorm::sql::Expression {
    CountingLeaf(int* c, bool t) : calls(c), typed(t) {}
    int* calls;
    bool typed;
    dorm::sql::Match as_sql(dorm::sql::Compiler& c) const override {
        c << "1";
        return dorm::sql::Match::some;
    }
    std::optional<dorm::FieldKind> output_kind() const override {
        ++*calls;
        if (!typed) throw dorm::FieldError("dorm: untyped");
        return dorm::FieldKind::integer;
    }
};
}  // namespace

TEST_CASE("an operator asks its operands their types once, when it is made", "[expressions]") {
    // (((a + b) + c) + ...): each operator's type comes from its operands' at once, where it was worked out again down
    // the whole chain (n^2 / 2 questions for n operators, and with an operand that cannot be typed at the bottom, a
    // FieldError thrown and caught at every level).
    constexpr int terms = 2000;
    int calls = 0;
    auto leaf = std::make_shared<CountingLeaf>(&calls, true);
    dorm::sql::ExprPtr chain = leaf;
    for (int i = 1; i < terms; ++i) chain = std::make_shared<dorm::sql::BinaryOp>("+", chain, leaf);
    CHECK(calls == terms);  // the first operator asks both its leaves, every later one its right-hand leaf
    CHECK(chain->output_kind() == dorm::FieldKind::integer);
    CHECK(calls == terms);

    int untyped_calls = 0;
    dorm::sql::ExprPtr mixed = std::make_shared<CountingLeaf>(&untyped_calls, false);
    for (int i = 1; i < terms; ++i) mixed = std::make_shared<dorm::sql::BinaryOp>("+", mixed, leaf);
    CHECK(untyped_calls == 1);
    // The operand's FieldError, raised when the type is asked for, every time.
    CHECK_THROWS_WITH(mixed->output_kind(), "dorm: untyped");
    CHECK_THROWS_AS(mixed->output_kind(), dorm::FieldError);
    CHECK(untyped_calls == 1);
}

TEST_CASE("a long chain of F() operators: its SQL, its type, and its FieldError as before", "[expressions]") {
    test::BlogData data;
    // Long enough to be quadratic before (300 operators asked about 45,000 types), short enough for the recursion
    // of resolving and compiling it within the stack of a Clang build with AddressSanitizer.
    constexpr int terms = 300;
    dorm::Expression same = F("rating");
    dorm::Expression mixed = F("headline");
    for (int i = 1; i < terms; ++i) {
        same = same + F("rating");
        mixed = mixed + F("rating");
    }
    auto typed = Entry::objects().annotate("v", same).filter("v__gt", 3);  // the lookup asks the annotation's type
    std::string sql = typed.sql();
    CHECK(sql.find(std::string(terms - 1, '(') + "\"entry\".\"rating\" + \"entry\".\"rating\")") != std::string::npos);
    CHECK_THROWS_WITH(Entry::objects().annotate("v", mixed).filter("v__gt", 3),
                      "dorm: Cannot infer type of '+' expression involving these types: CharField, IntegerField. "
                      "You must set output_field (ExpressionWrapper).");
    // Where the type is not asked for, nothing is raised until it is (as Django's output_field); a wrapper types it.
    CHECK_NOTHROW(Entry::objects().annotate("v", mixed).sql());
    CHECK_NOTHROW(Entry::objects().annotate("v", dorm::ExpressionWrapper(mixed, dorm::FieldKind::text)).filter("v", "x"));
    // An operand's error comes first, the left one before the right one.
    CHECK_THROWS_WITH(Entry::objects().annotate("v", (F("pub_date") + F("pub_date")) * (F("headline") - 1)).filter("v", 1),
                      Catch::Contains("involving these types: DateField, DateField"));
    CHECK_THROWS_WITH(Entry::objects().annotate("v", F("rating") * (F("headline") - 1)).filter("v", 1),
                      Catch::Contains("involving these types: CharField, BigIntegerField"));
    // A shorter chain runs on both databases (SQLite's parser takes about 100 nested parentheses).
    dorm::Expression forty = F("rating");
    for (int i = 1; i < 40; ++i) forty = forty + F("rating");
    CHECK(Entry::objects().annotate("v", forty).get("headline", "Soup").annotations().get<int>("v") == 40);
}
