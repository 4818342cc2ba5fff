// SPDX-License-Identifier: MIT
// Django's database functions (dorm/functions.hpp): comparison and conversion, math and text, on both backends —
// ordinary values, NULLs, the edge cases Django documents, result types — and the SQL each dialect writes.
#include "support/fixture.hpp"
#include "support/render.hpp"

#include <catch2/catch.hpp>

// The fallbacks SQLite builds without SQLITE_ENABLE_MATH_FUNCTIONS get (this one has them: tested directly).
#include <dorm/backends/sqlite/impl/functions.ipp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

// In a namespace of its own: the unity build puts several test files in one translation unit.
namespace functions_test {
using namespace dorm;

namespace {
// One Sample row: small 2, medium -3, big 1234, real 0.5, text "Héllo wörld", maybe_int / maybe_text NULL.
struct SampleRow : test::Database {
    SampleRow() {
        ::Sample s;
        s.small = 2;
        s.medium = -3;
        s.big = 1234;
        s.real = 0.5;
        s.text = "H\xc3\xa9llo w\xc3\xb6rld";
        Sample::objects().create(s);
    }
};

/// SHA1 on PostgreSQL needs pgcrypto's DIGEST (and Django's SHA224 ... SHA512 too; dorm's use PostgreSQL's own).
void pgcrypto() { databases()["default"].connection().execute("CREATE EXTENSION IF NOT EXISTS pgcrypto"); }

/// The value an expression has for the sample row.
Value eval(const Expression& e) { return Sample::objects().values("v", e).get()["v"]; }

std::string render(const Expression& e, const char* db) { return test::render<Sample>(e, db); }

using test::RenderDatabases;
}  // namespace

TEST_CASE("math functions: values and Django's result types", "[functions]") {
    SampleRow row;
    struct Case {
        const char* name;
        Expression e;
        double expected;
        bool integer;  // Django keeps an integer argument's type (Abs, Ceil, Floor, Round, Sign); else a float
    };
    const double pi = std::acos(-1.0);
    const Case cases[] = {
        {"Abs", Abs("medium"), 3, true},
        {"Abs real", Abs(Value(-0.5)), 0.5, false},
        {"ACos", ACos("real"), std::acos(0.5), false},
        {"ASin", ASin("real"), std::asin(0.5), false},
        {"ATan", ATan("real"), std::atan(0.5), false},
        {"ATan2", ATan2("real", "big"), std::atan2(0.5, 1234), false},
        {"Ceil", Ceil("real"), 1, false},
        {"Ceil int", Ceil("medium"), -3, true},
        {"Cos", Cos("real"), std::cos(0.5), false},
        {"Cot", Cot("real"), 1 / std::tan(0.5), false},
        {"Degrees", Degrees("real"), 0.5 * 180 / pi, false},
        {"Exp", Exp("real"), std::exp(0.5), false},
        {"Floor", Floor("real"), 0, false},
        {"Floor int", Floor("medium"), -3, true},
        {"Ln", Ln("real"), std::log(0.5), false},
        {"Log", Log("small", "big"), std::log2(1234.0), false},
        {"Log real", Log(Value(2.0), "real"), -1, false},
        {"Mod", Mod("big", 5), 4, false},  // a float, even of integers (Django's NumericOutputFieldMixin)
        {"Mod real", Mod(Value(7.5), "small"), 1.5, false},
        {"Pi", Pi(), pi, false},
        {"Power", Power("small", "medium"), 0.125, false},
        {"Radians", Radians("big"), 1234 * pi / 180, false},
        {"Round", Round("real"), 1, false},
        {"Round precision", Round(Value(3.14159), 2), 3.14, false},
        {"Round int", Round("big"), 1234, true},
        {"Round int precision", Round("medium", 2), -3, true},  // ROUND(integer, 2) is numeric -3.00 on PostgreSQL
        {"Sign", Sign("medium"), -1, true},
        {"Sign real", Sign(Value(-0.5)), -1, false},
        {"Sin", Sin("real"), std::sin(0.5), false},
        {"Sqrt", Sqrt("big"), std::sqrt(1234.0), false},
        {"Sqrt int exact", Sqrt(Value(16)), 4, false},
        {"Tan", Tan("real"), std::tan(0.5), false},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        Value v = eval(c.e);
        if (c.integer) {
            REQUIRE(v.holds<std::int64_t>());
            CHECK(v.as<std::int64_t>() == static_cast<std::int64_t>(c.expected));
        } else {
            REQUIRE(v.holds<double>());
            CHECK(v.as<double>() == Approx(c.expected).epsilon(1e-12));
        }
    }
    // Random: a float in [0, 1).
    Value r = eval(Random());
    REQUIRE(r.holds<double>());
    CHECK(r.as<double>() >= 0);
    CHECK(r.as<double>() < 1);
    // Usable in filters and ordering too.
    CHECK(Sample::objects().filter("real", Floor("real") + 0.5).count() == 1);
    CHECK(Sample::objects().annotate("s", Sqrt("big")).filter("s__gt", 35).count() == 1);
}

TEST_CASE("Random() is not grouped by, as Django's Random.get_group_by_cols()", "[functions]") {
    test::Database db;
    for (int small : {1, 1, 2}) {
        ::Sample s;
        s.small = static_cast<std::int16_t>(small);
        Sample::objects().create(s);
    }
    // GROUP BY "small", RANDOM() would put every row in a group of its own.
    std::vector<std::int64_t> counts;
    for (const auto& r : Sample::objects().values("small").annotate("n", Count("id")).order_by(Random()))
        counts.push_back(r["n"].as<std::int64_t>());
    std::sort(counts.begin(), counts.end());
    CHECK(counts == std::vector<std::int64_t>{1, 2});
    auto sql = Sample::objects().values("small").annotate("n", Count("id"), "r", Random()).sql();
    CHECK(sql.find("GROUP BY \"sample\".\"small\"") != std::string::npos);
    CHECK(sql.find("RAND", sql.find("GROUP BY")) == std::string::npos);
    CHECK(Sample::objects().values("small").annotate("n", Count("id"), "r", Random()).size() == 2);
}

TEST_CASE("math functions are NULL for NULL", "[functions]") {
    SampleRow row;
    const std::function<Expression(const ExprArg&)> unary[] = {Abs, ACos, ASin, ATan, Ceil, Cos, Cot, Degrees, Exp, Floor,
                                                               Ln, Radians, Sign, Sin, Sqrt, Tan,
                                                               [](const ExprArg& a) { return Round(a); }};
    for (const auto& f : unary) CHECK(eval(f("maybe_int")).is_null());
    CHECK(eval(ATan2("maybe_int", "big")).is_null());
    CHECK(eval(Log("small", "maybe_int")).is_null());
    CHECK(eval(Mod("maybe_int", "small")).is_null());
    CHECK(eval(Power("small", "maybe_int")).is_null());
    CHECK(eval(Round("real", "maybe_int")).is_null());
}

TEST_CASE("Round: a negative precision rounds to tens, which SQLite refuses (Django's ValueError)", "[functions]") {
    SampleRow row;
    if (test::is_postgresql()) {
        CHECK(eval(Round("big", -2)) == Value(std::int64_t{1200}));
        CHECK(eval(Round(Value(1250.0), -2)).as<double>() == 1300);
        // Rounded past its column's range, an integer is still the number (Django's int() of the numeric).
        CHECK(eval(Round(Cast(Value(std::int64_t{32767}), FieldKind::small_integer), -1)) == Value(std::int64_t{32770}));
    } else {
        CHECK_THROWS_WITH(eval(Round("big", -2)), Catch::Contains("SQLite does not support negative precision."));
        CHECK_THROWS_AS(eval(Round("real", Value(-1.0))), ValueError);
    }
}

TEST_CASE("comparison functions: Greatest, Least, NullIf, Coalesce, Collate, Cast", "[functions]") {
    SampleRow row;
    CHECK(eval(Greatest("small", "medium", "big")) == Value(std::int64_t{1234}));
    CHECK(eval(Least("small", "medium", "big")) == Value(std::int64_t{-3}));
    CHECK(eval(Greatest("text", Value("Z"))) == Value("Z"));
    // Django's documented difference: PostgreSQL ignores NULL arguments, SQLite returns NULL when one is NULL.
    if (test::is_postgresql()) {
        CHECK(eval(Greatest("small", "maybe_int")) == Value(std::int64_t{2}));
        CHECK(eval(Least("small", "maybe_int")) == Value(std::int64_t{2}));
    } else {
        CHECK(eval(Greatest("small", "maybe_int")).is_null());
        CHECK(eval(Least("small", "maybe_int")).is_null());
    }
    CHECK(eval(Greatest("maybe_int", "maybe_int")).is_null());
    CHECK(eval(NullIf("small", 2)).is_null());
    CHECK(eval(NullIf("small", 3)) == Value(std::int64_t{2}));
    CHECK(eval(NullIf("maybe_int", 3)).is_null());
    CHECK(eval(Coalesce("maybe_text", "text")) == Value("H\xc3\xa9llo w\xc3\xb6rld"));
    CHECK(eval(Cast("small", FieldKind::text)) == Value("2"));
    // Django's _resolve_output_field(): sources of different types need an output type. Without one the result
    // would be read as the first source's type: COALESCE(NULL, 0.5) and MIN(2, 0.5) came back as the integer 0.
    CHECK_THROWS_WITH(eval(Coalesce("maybe_int", "real")),
                      Catch::Contains("Expression contains mixed types: IntegerField, FloatField."));
    CHECK_THROWS_AS(eval(Least("small", "real")), FieldError);
    CHECK_THROWS_AS(eval(Greatest("real", "text")), FieldError);
    CHECK_THROWS_AS(eval(NullIf("day", "moment")), FieldError);
    // As Django raises it from output_field: only where the type is needed (reading the value, a lookup on it).
    // A filter's or an ordering's right-hand side is computed by the database: COALESCE(NULL, 0.5, 2) is 0.5.
    CHECK(Sample::objects().filter("real__lt", Coalesce("maybe_int", "real", "small")).count() == 0);
    CHECK(Sample::objects().filter("real__lte", Coalesce("maybe_int", "real", "small")).count() == 1);
    CHECK(Sample::objects().order_by(Coalesce("maybe_int", "real")).count() == 1);
    CHECK_THROWS_AS(Sample::objects().annotate("c", Coalesce("maybe_int", "real")).filter("c__gt", 0).count(), FieldError);
    CHECK_THROWS_AS(eval(Case({When(Q("small", 2), Value(1))}, Value(0.5))), FieldError);
    // Given one, or of one type, they compute as Django's do.
    CHECK(eval(ExpressionWrapper(Coalesce("maybe_int", "real"), FieldKind::real)) == Value(0.5));
    CHECK(eval(ExpressionWrapper(Least("small", "real"), FieldKind::real)) == Value(0.5));
    CHECK(eval(Coalesce("maybe_int", "small", "big", Value(7))) == Value(std::int64_t{2}));  // integers of any width
    CHECK(eval(Coalesce("maybe_int", Value(), "medium")) == Value(std::int64_t{-3}));  // NULL has no type
    CHECK_NOTHROW(Sample::objects().values("v", Coalesce("maybe_moment", "day")).sql());  // DateTimeField, DateField
    CHECK(eval(Case({When(Q("small", 2), Value(1.5))}, Value(0.5))) == Value(1.5));
    // Collate: the name is written quoted (never bound) and decides the comparison. Bytewise, the sample text sorts
    // before "a" ('H' is 0x48, 'a' 0x61); not in SQLite's NOCASE or ICU's root collation, which put h after a.
    const char* bytewise = test::is_postgresql() ? "C" : "BINARY";
    const char* folding = test::is_postgresql() ? "und-x-icu" : "NOCASE";
    CHECK(Sample::objects().filter("text__lt", Collate(Value("a"), bytewise)).count() == 1);
    CHECK(Sample::objects().filter("text__lt", Collate(Value("a"), folding)).count() == 0);
    CHECK(Sample::objects().annotate("c", Collate("text", folding)).filter("c__lt", Value("a")).count() == 0);
    CHECK(eval(Collate("maybe_text", folding)).is_null());
    if (!test::is_postgresql()) CHECK(Sample::objects().filter("text", Collate(Value("h\xc3\xa9LLO w\xc3\xb6rld"), "NOCASE")).count() == 1);
    CHECK_THROWS_WITH(Collate("text", "C\" OR 1=1"), Catch::Contains("Invalid collation name"));
    CHECK_THROWS_WITH(Collate("text", ""), Catch::Contains("Invalid collation name"));
}

TEST_CASE("text functions: values and NULLs", "[functions]") {
    SampleRow row;
    const std::string text = "H\xc3\xa9llo w\xc3\xb6rld";  // 11 characters, 13 bytes
    struct Case {
        const char* name;
        Expression e;
        Value expected;
    };
    const Case cases[] = {
        {"Chr", Chr(Value(233)), Value("\xc3\xa9")},
        {"Concat", Concat("text", Value("!"), "small"), Value(text + "!2")},
        {"Left", Left("text", 2), Value("H\xc3\xa9")},
        {"Left longer", Left("text", 50), Value(text)},
        {"Length", Length("text"), Value(std::int64_t{11})},
        {"Lower", Lower("text"), Value("h\xc3\xa9llo w\xc3\xb6rld")},
        {"LPad", LPad("text", 14, Value("\xc3\xa9-")), Value("\xc3\xa9-\xc3\xa9" + text)},
        {"LPad cut", LPad("text", 2), Value("H\xc3\xa9")},
        {"LPad space", LPad(Value("ab"), 4), Value("  ab")},
        {"LTrim", LTrim(Value("  a  ")), Value("a  ")},
        {"MD5", MD5("text"), Value("083740bed4ed9d36c6af565aa9493337")},
        {"Ord", Ord(Value("\xc3\xa9t\xc3\xa9")), Value(std::int64_t{233})},
        {"Repeat", Repeat(Value("\xc3\xa9-"), 3), Value("\xc3\xa9-\xc3\xa9-\xc3\xa9-")},
        {"Repeat zero", Repeat("text", 0), Value("")},
        {"Replace", Replace("text", Value("l"), Value("L")), Value("H\xc3\xa9LLo w\xc3\xb6rLd")},
        {"Replace removes", Replace("text", Value("l")), Value("H\xc3\xa9o w\xc3\xb6rd")},
        {"Reverse", Reverse("text"), Value("dlr\xc3\xb6w oll\xc3\xa9H")},
        {"Right", Right("text", 3), Value("rld")},
        {"Right longer", Right("text", 50), Value(text)},
        // A length computed to 0 is empty text, as RIGHT(x, 0) on PostgreSQL (Django's SUBSTR(x, -n, n) on SQLite).
        {"Right zero", Right("text", F("small") - 2), Value("")},
        {"Left zero", Left("text", F("small") - 2), Value("")},
        {"RPad", RPad("text", 13, Value("\xc3\xa9")), Value(text + "\xc3\xa9\xc3\xa9")},
        {"RPad cut", RPad("text", 1), Value("H")},
        {"RTrim", RTrim(Value("  a  ")), Value("  a")},
        {"StrIndex", StrIndex("text", Value("w\xc3\xb6")), Value(std::int64_t{7})},
        {"StrIndex absent", StrIndex("text", Value("x")), Value(std::int64_t{0})},
        {"Substr", Substr("text", 2, 4), Value("\xc3\xa9llo")},
        {"Substr rest", Substr("text", 7), Value("w\xc3\xb6rld")},
        {"Trim", Trim(Value("  a  ")), Value("a")},
        {"Upper", Upper(Value("abc")), Value("ABC")},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        CHECK(eval(c.e) == c.expected);
    }
    // NULL in, NULL out; Concat alone counts a NULL as empty text (Django's ConcatPair on SQLite, CONCAT on PostgreSQL).
    const std::function<Expression(const ExprArg&)> unary[] = {
        Length, Lower, LTrim, MD5, Ord, Reverse, RTrim, SHA1, SHA224, SHA256, SHA384, SHA512, Trim, Upper,
        [](const ExprArg& a) { return Left(a, 1); }, [](const ExprArg& a) { return Right(a, 1); },
        [](const ExprArg& a) { return LPad(a, 3); }, [](const ExprArg& a) { return RPad(a, 3); },
        [](const ExprArg& a) { return Repeat(a, 2); }, [](const ExprArg& a) { return Replace(a, Value("a")); },
        [](const ExprArg& a) { return StrIndex(a, Value("a")); }, [](const ExprArg& a) { return Substr(a, 1); }};
    if (test::is_postgresql()) pgcrypto();  // SHA1 needs it
    for (const auto& f : unary) CHECK(eval(f("maybe_text")).is_null());
    // Chr of NULL: NULL on PostgreSQL; SQLite's CHAR (which Django uses) makes it the NUL character.
    CHECK(eval(Chr("maybe_int")) == (test::is_postgresql() ? Value() : Value(std::string(1, '\0'))));
    // A NULL in any other argument is NULL too (Django's SQLite functions return None when any argument is).
    const Expression null_args[] = {LPad("text", "maybe_int"), LPad("text", 20, "maybe_text"), RPad("text", "maybe_int"),
                                    RPad("text", 20, "maybe_text"), Repeat("text", "maybe_int"), Left("text", "maybe_int"),
                                    Right("text", "maybe_int"), Replace("text", "maybe_text"),
                                    Replace("text", Value("l"), "maybe_text"), StrIndex("text", "maybe_text"),
                                    Substr("text", "maybe_int"), Substr("text", 1, "maybe_int")};
    for (const auto& e : null_args) CHECK(eval(e).is_null());
    CHECK(eval(Concat("maybe_text", Value("-"), "maybe_text")) == Value("-"));
    CHECK(eval(Concat("maybe_text", "maybe_text")) == Value(""));
    CHECK(Sample::objects().filter("text__startswith", Left(Concat("text", Value("x")), 3)).count() == 1);
}

TEST_CASE("hash functions: hexadecimal digests of the UTF-8 text", "[functions]") {
    SampleRow row;
    if (test::is_postgresql()) {
        // MD5 and SHA224 ... SHA512 need no extension.
        databases()["default"].connection().execute("DROP EXTENSION IF EXISTS pgcrypto");
        CHECK(eval(MD5("text")) == Value("083740bed4ed9d36c6af565aa9493337"));
        CHECK(eval(SHA224("text")) == Value("cc5bff1692290d8358b2d29bcd9fbfefeb311fffcf2d37526d3dbdee"));
        CHECK(eval(SHA512(Value(""))) == Value("cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0"
                                                "ff8318d2877eec2f63b931bd47417a81a538327af927da3e"));
        pgcrypto();
    }
    // The digests of "Héllo wörld" (as Python's hashlib gives them).
    CHECK(eval(SHA1("text")) == Value("b29b8006dae1887c9784e272aa777d5dcbdfee8f"));
    CHECK(eval(SHA224("text")) == Value("cc5bff1692290d8358b2d29bcd9fbfefeb311fffcf2d37526d3dbdee"));
    CHECK(eval(SHA256("text")) == Value("4a956005979ff053af762a6262573121f01ffb5cb1022937504229d5daafb8a9"));
    CHECK(eval(SHA384("text")) == Value("2eeb1b468d48360b4d57722eb21f29ba382afec1707b9543f024fa1acabe8b83bb04be8886792f4b"
                                        "749165e6108c8d6e"));
    CHECK(eval(SHA512("text")) == Value("878ca7e0176beb0daf256684a93fca945110843febf3c47d2b06c14db0513068f411e25e8e450c00"
                                        "cb5f50e7a95212f1b6b50ec962059a6a8a5a32a8a5b302f8"));
    // The published test vectors of "abc" (RFC 1321, FIPS 180-2), bound as a parameter.
    const Value abc("abc");
    CHECK(eval(MD5(abc)) == Value("900150983cd24fb0d6963f7d28e17f72"));
    CHECK(eval(SHA1(abc)) == Value("a9993e364706816aba3e25717850c26c9cd0d89d"));
    CHECK(eval(SHA224(abc)) == Value("23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"));
    CHECK(eval(SHA256(abc)) == Value("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    CHECK(eval(SHA384(abc)) == Value("cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358ba"
                                     "eca134c825a7"));
    CHECK(eval(SHA512(abc)) == Value("ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba"
                                     "3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"));
    CHECK(eval(MD5(Value(""))) == Value("d41d8cd98f00b204e9800998ecf8427e"));
    CHECK(eval(SHA256(Value(""))) == Value("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
}

TEST_CASE("functions check their arguments as Django does", "[functions]") {
    CHECK_THROWS_WITH(Left("text", 0), Catch::Contains("'length' must be greater than 0."));
    CHECK_THROWS_WITH(Right("text", -1), Catch::Contains("'length' must be greater than 0."));
    CHECK_THROWS_WITH(LPad("text", -1), Catch::Contains("'length' must be greater or equal to 0."));
    CHECK_THROWS_WITH(RPad("text", -1), Catch::Contains("'length' must be greater or equal to 0."));
    CHECK_THROWS_WITH(Repeat("text", -1), Catch::Contains("'number' must be greater or equal to 0."));
    CHECK_THROWS_WITH(Substr("text", 0), Catch::Contains("'pos' must be greater than 0"));
    CHECK_THROWS_AS(Substr("text", 0), ValueError);
    // Django compares any number given as a value, not only integers.
    CHECK_THROWS_WITH(Left("text", 0.5), Catch::Contains("'length' must be greater than 0."));
    CHECK_THROWS_WITH(LPad("text", -0.5), Catch::Contains("'length' must be greater or equal to 0."));
    CHECK_THROWS_WITH(Repeat("text", -1.0), Catch::Contains("'number' must be greater or equal to 0."));
    CHECK_THROWS_WITH(Substr("text", 0.5), Catch::Contains("'pos' must be greater than 0"));
    CHECK_NOTHROW(Left("text", F("small")));  // expressions are the database's business
    CHECK_THROWS_AS(Func("ABS(1); --", {}), ValueError);
}

TEST_CASE("functions render per dialect", "[functions]") {
    RenderDatabases d;
    struct Case {
        Expression e;
        const char* sqlite;
        const char* postgresql;
    };
    const Case cases[] = {
        {Abs("medium"), "ABS(\"sample\".\"medium\")", "ABS(\"sample\".\"medium\")"},
        {Ceil("real"), "CEILING(\"sample\".\"real\")", "CEILING(\"sample\".\"real\")"},
        {Log("small", "real"), "LOG(\"sample\".\"small\", \"sample\".\"real\")",
         "LOG(\"sample\".\"small\", (\"sample\".\"real\")::numeric(1000, 15))"},
        {Mod("real", "small"), "MOD(\"sample\".\"real\", \"sample\".\"small\")",
         "MOD((\"sample\".\"real\")::numeric(1000, 15), \"sample\".\"small\")"},
        {Round("real", 2), "ROUND(\"sample\".\"real\", 2)", "ROUND((\"sample\".\"real\")::numeric(1000, 15), (2)::integer)"},
        {Round("medium"), "CAST(ROUND(\"sample\".\"medium\", 0) AS integer)",
         "(ROUND(\"sample\".\"medium\", (0)::integer))::bigint"},
        {Floor("medium"), "FLOOR(\"sample\".\"medium\")", "(FLOOR(\"sample\".\"medium\"))::integer"},
        {Random(), "RAND()", "RANDOM()"},
        {Pi(), "PI()", "PI()"},
        {Greatest("small", "medium"), "MAX(\"sample\".\"small\", \"sample\".\"medium\")",
         "GREATEST(\"sample\".\"small\", \"sample\".\"medium\")"},
        {Least("small", "medium"), "MIN(\"sample\".\"small\", \"sample\".\"medium\")",
         "LEAST(\"sample\".\"small\", \"sample\".\"medium\")"},
        {NullIf("small", "medium"), "NULLIF(\"sample\".\"small\", \"sample\".\"medium\")",
         "NULLIF(\"sample\".\"small\", \"sample\".\"medium\")"},
        {Collate("text", "nocase"), "\"sample\".\"text\" COLLATE \"nocase\"", "\"sample\".\"text\" COLLATE \"nocase\""},
        {Concat("text", "small", Value("x")),
         "(COALESCE(\"sample\".\"text\", '') || COALESCE(\"sample\".\"small\", '') || COALESCE('x', ''))",
         "CONCAT((\"sample\".\"text\")::text, (\"sample\".\"small\")::text, ('x')::text)"},
        {Chr("small"), "CHAR(\"sample\".\"small\")", "CHR(\"sample\".\"small\")"},
        {Chr("big"), "CHAR(\"sample\".\"big\")", "CHR((\"sample\".\"big\")::integer)"},
        {Ord("text"), "UNICODE(\"sample\".\"text\")", "ASCII(\"sample\".\"text\")"},
        {Left("text", 2), "SUBSTR(\"sample\".\"text\", 1, 2)", "LEFT(\"sample\".\"text\", (2)::integer)"},
        {Right("text", 2), "SUBSTR(\"sample\".\"text\", (2) * -1, 2)", "RIGHT(\"sample\".\"text\", (2)::integer)"},
        {Substr("text", 2, 3), "SUBSTR(\"sample\".\"text\", 2, 3)",
         "SUBSTRING(\"sample\".\"text\", (2)::integer, (3)::integer)"},
        {StrIndex("text", Value("a")), "INSTR(\"sample\".\"text\", 'a')", "STRPOS(\"sample\".\"text\", 'a')"},
        {LPad("text", 5), "LPAD(\"sample\".\"text\", 5, ' ')", "LPAD(\"sample\".\"text\", (5)::integer, ' ')"},
        {MD5("text"), "MD5(\"sample\".\"text\")", "MD5(\"sample\".\"text\")"},
        {SHA1("text"), "SHA1(\"sample\".\"text\")", "ENCODE(DIGEST(\"sample\".\"text\", 'sha1'), 'hex')"},
        {SHA256("text"), "SHA256(\"sample\".\"text\")", "ENCODE(SHA256(CONVERT_TO(\"sample\".\"text\", 'UTF8')), 'hex')"},
        {Func("ABS", {"medium"}), "ABS(\"sample\".\"medium\")", "ABS(\"sample\".\"medium\")"},
    };
    for (const auto& c : cases) {
        CHECK(render(c.e, "render_sqlite") == c.sqlite);
        CHECK(render(c.e, "render_pg") == c.postgresql);
    }
}

TEST_CASE("SQLite without math functions gets them registered, as Django does", "[functions]") {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(":memory:", &db) == SQLITE_OK);
    // Registered functions take precedence over SQLite's own, so this runs dorm's fallbacks.
    dorm::backends::sqlite::register_math_functions(db);
    sqlite3_stmt* st = nullptr;
    const char* sql = "SELECT ACOS(0.5), ASIN(0.5), ATAN(0.5), ATAN2(1, 2), CEILING(1.5), CEILING(-3), COS(0.5), "
                      "DEGREES(PI()), EXP(1), FLOOR(-1.5), LN(0.5), LOG(2, 8), MOD(7.5, 2), POWER(2, -3), RADIANS(180), "
                      "SIN(0.5), SQRT(16), TAN(0.5), LN(0), SQRT(-1), ACOS(2), ACOS(NULL), LOG(NULL, 2)";
    REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    const double pi = std::acos(-1.0);
    const double expected[] = {std::acos(0.5), std::asin(0.5), std::atan(0.5), std::atan2(1, 2), 2, -3, std::cos(0.5),
                               180, std::exp(1.0), -2, std::log(0.5), 3, 1.5, 0.125, pi, std::sin(0.5), 4, std::tan(0.5)};
    int i = 0;
    for (double e : expected) {
        INFO(i);
        CHECK(sqlite3_column_double(st, i++) == Approx(e).epsilon(1e-12));
    }
    CHECK(sqlite3_column_type(st, 5) == SQLITE_INTEGER);  // CEILING of an integer stays one
    for (; i < sqlite3_column_count(st); ++i) CHECK(sqlite3_column_type(st, i) == SQLITE_NULL);  // undefined, NULL
    sqlite3_finalize(st);
    // They are this connection's own, not SQLite's (which compute the same values).
    REQUIRE(sqlite3_prepare_v2(db, "SELECT COUNT(DISTINCT name) FROM pragma_function_list WHERE builtin = 0 AND name IN "
                               "('acos', 'asin', 'atan', 'atan2', 'ceiling', 'cos', 'degrees', 'exp', 'floor', 'ln', "
                               "'log', 'mod', 'pi', 'power', 'radians', 'sin', 'sqrt', 'tan')", -1, &st, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    CHECK(sqlite3_column_int(st, 0) == 18);
    sqlite3_finalize(st);
    // As SQLite's own: NULL for text that is not a number, text that is one read as that number (an integer stays one).
    REQUIRE(sqlite3_prepare_v2(db, "SELECT SQRT('16'), CEILING('3'), FLOOR('2.5'), COS('x'), CEILING('x'), LOG(2, 'x'), "
                               "POWER('x', 2), PI()", -1, &st, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    CHECK(sqlite3_column_type(st, 0) == SQLITE_FLOAT);
    CHECK(sqlite3_column_double(st, 0) == 4);
    CHECK(sqlite3_column_type(st, 1) == SQLITE_INTEGER);
    CHECK(sqlite3_column_int64(st, 1) == 3);
    CHECK(sqlite3_column_type(st, 2) == SQLITE_FLOAT);
    CHECK(sqlite3_column_double(st, 2) == 2);
    for (int c = 3; c < 7; ++c) {
        INFO(c);
        CHECK(sqlite3_column_type(st, c) == SQLITE_NULL);
    }
    CHECK(sqlite3_column_double(st, 7) == Approx(std::acos(-1.0)).epsilon(1e-15));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

TEST_CASE("SQLite connections get SIGN registered, as Django registers it (SQLite has one from 3.35)", "[functions]") {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(":memory:", &db) == SQLITE_OK);
    dorm::backends::sqlite::register_functions(db);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM pragma_function_list WHERE name = 'sign' AND builtin = 0", -1, &st,
                               nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    CHECK(sqlite3_column_int(st, 0) == 1);
    sqlite3_finalize(st);
    // -1, 0 or 1 as an integer (Python's (x > 0) - (x < 0), and SQLite's own); NULL for NULL and for text that is no
    // number.
    REQUIRE(sqlite3_prepare_v2(db, "SELECT SIGN(-2.5), SIGN(0), SIGN(7), SIGN('3'), SIGN(NULL), SIGN('x')", -1, &st,
                               nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    const std::int64_t expected[] = {-1, 0, 1, 1};
    for (int c = 0; c < 4; ++c) {
        INFO(c);
        CHECK(sqlite3_column_type(st, c) == SQLITE_INTEGER);
        CHECK(sqlite3_column_int64(st, c) == expected[c]);
    }
    CHECK(sqlite3_column_type(st, 4) == SQLITE_NULL);
    CHECK(sqlite3_column_type(st, 5) == SQLITE_NULL);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

TEST_CASE("bitwise operations: bitand_, bitor_, bitxor, bitleftshift, bitrightshift", "[functions]") {
    SampleRow row;  // big 1234 (0b10011010010), small 2
    auto integer = [](const Expression& e) {
        Value v = eval(e);
        REQUIRE(v.holds<std::int64_t>());
        return v.as<std::int64_t>();
    };
    CHECK(integer(F("big").bitand_(0xFF)) == (1234 & 0xFF));
    CHECK(integer(F("big").bitor_(1)) == (1234 | 1));
    CHECK(integer(F("big").bitxor(F("small"))) == (1234 ^ 2));
    CHECK(integer(F("big").bitxor(Value(std::int64_t{-1}))) == ~std::int64_t{1234});
    CHECK(integer(F("big").bitleftshift(2)) == (1234 << 2));
    CHECK(integer(F("big").bitrightshift(F("small"))) == (1234 >> 2));
    CHECK(integer(F("medium").bitleftshift(3)) == -24);  // an integer column shifted by a bound count
    // NULL on either side is NULL.
    CHECK(eval(F("maybe_int").bitand_(1)).is_null());
    CHECK(eval(F("big").bitxor(F("maybe_int"))).is_null());
    // In filters and updates, as Django's F("flags").bitor(8).
    CHECK(Sample::objects().filter("small", F("big").bitand_(2)).count() == 1);
    CHECK(Sample::objects().filter("small", F("big").bitand_(1)).count() == 0);
    CHECK(Sample::objects().update({{"big", F("big").bitor_(8)}}) == 1);
    CHECK(Sample::objects().get().big == (1234 | 8));
}

}  // namespace functions_test
