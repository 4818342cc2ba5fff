// SPDX-License-Identifier: MIT
// libFuzzer target: the input is a small program of QuerySet builder calls (filter / exclude with Q trees, F()
// arithmetic, annotate, order_by, values, slicing, set operations, subqueries) with fuzzed values; every
// intermediate QuerySet is compiled for SQLite and PostgreSQL and checked by sql_invariants.hpp.
//
// On top of the per-statement checks, each input runs twice: as given, and "shadowed", with every value the
// program binds changed by a bijection (letters and digits rotated, integers XOR 1, doubles negated) that keeps
// what dorm may legitimately look at (NUL bytes, 0xff, LIKE / GLOB wildcards, equality between values). Values are
// bound, so both runs must compile to the same SQL text: any difference is a value written into the SQL.
//
// At the end of each program the QuerySet also runs on SQLite (an in-memory database with the test models' tables and
// a few rows): count(), exists(), aggregate(), update() and delete_() compile statements of their own (captured and
// checked like the others), rows are decoded, and dorm's SQL functions (REGEXP with PCRE2, dorm_fold, dorm_extract)
// run on fuzzed arguments. DORM_FUZZ_EXECUTE=0 turns that off. DORM_FUZZ_STRICT=1 also fails when SQLite refuses a
// statement dorm wrote as malformed (syntax error, unknown column, misused aggregate, ...), which by default is a
// DatabaseError like any other: some of those are the caller's mistake, as in Django (a UNION of different widths).
#include "sql_invariants.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using dorm::Expression;
using dorm::F;
using dorm::FieldKind;
using dorm::Q;
using dorm::Value;
using dorm_fuzz::Dialect;
using dorm_fuzz::guarded;

// ---- What the programs may name --------------------------------------------------------------------------------

/// A lookup path of a model and the type of what it yields.
struct PathSpec {
    const char* path;
    FieldKind kind;
};

enum class ModelId { entry, blog, comment, sample, author };

/// A correlated subquery from a model: rows of `other` whose `other_field` equals the outer row's `outer_path`
/// (OuterRef), and for `in`: `outer_path__in` the other model's `other_field` values.
struct LinkSpec {
    ModelId other;
    const char* other_field;
    const char* outer_path;
};

/// What a program on one model may use: its paths (fields, transforms, across relations both ways), the
/// ForeignKeys select_related() follows, the plain fields defer() / only() take, and its subquery links.
struct Catalog {
    std::span<const PathSpec> paths;
    std::span<const char* const> related;
    std::span<const char* const> fields;
    std::span<const LinkSpec> links;
};

constexpr FieldKind text = FieldKind::text, integer = FieldKind::integer, date = FieldKind::date,
                    datetime = FieldKind::datetime;

constexpr PathSpec entry_paths[] = {
    {"id", integer}, {"pk", integer}, {"headline", text}, {"body_text", text}, {"rating", integer},
    {"number_of_comments", integer}, {"number_of_pingbacks", integer}, {"rating_note", text}, {"pub_date", date},
    {"mod_date", date}, {"blog", integer}, {"blog_id", integer}, {"blog__name", text}, {"blog__tagline", text},
    {"blog__id", integer}, {"authors", integer}, {"authors__name", text}, {"authors__email", text},
    {"comment__text", text}, {"comment__posted", datetime}, {"comment__author__name", text}, {"reactions__kind", text},
    {"pub_date__year", integer}, {"pub_date__month", integer}, {"pub_date__week_day", integer},
    {"pub_date__iso_year", integer}, {"comment__posted__date", date}, {"comment__posted__hour", integer},
    {"blog__entry__headline", text}, {"blog__links_out__target__name", text}};
constexpr const char* entry_related[] = {"blog"};
constexpr const char* entry_fields[] = {"headline", "body_text", "pub_date", "rating", "rating_note", "blog"};
constexpr LinkSpec entry_links[] = {{ModelId::comment, "entry", "pk"}, {ModelId::blog, "pk", "blog"},
                                    {ModelId::entry, "blog", "blog"},  {ModelId::author, "pk", "authors"},
                                    {ModelId::sample, "medium", "rating"}};

constexpr PathSpec blog_paths[] = {
    {"id", integer}, {"pk", integer}, {"name", text}, {"tagline", text}, {"entry", integer},
    {"entry__headline", text}, {"entry__rating", integer}, {"entry__pub_date", date}, {"entry__authors__name", text},
    {"entry__pub_date__year", integer}, {"links_out__target__name", text}, {"links_in__source", integer},
    {"entry__comment__text", text}, {"reaction__kind", text}};
constexpr const char* blog_related[] = {"entry"};  // refused: a reverse ForeignKey is multi-valued
constexpr const char* blog_fields[] = {"name", "tagline"};
constexpr LinkSpec blog_links[] = {{ModelId::entry, "blog", "pk"}, {ModelId::blog, "pk", "pk"},
                                   {ModelId::comment, "entry__blog", "pk"}};

constexpr PathSpec comment_paths[] = {
    {"id", integer}, {"pk", integer}, {"text", text}, {"posted", datetime}, {"posted__date", date},
    {"posted__hour", integer}, {"posted__year", integer}, {"posted__time", FieldKind::time}, {"entry", integer},
    {"entry__headline", text}, {"entry__blog__name", text}, {"entry__rating", integer}, {"author", integer},
    {"author__name", text}, {"author__email", text}};
constexpr const char* comment_related[] = {"entry", "author", "entry__blog"};
constexpr const char* comment_fields[] = {"text", "posted", "entry", "author"};
constexpr LinkSpec comment_links[] = {{ModelId::entry, "pk", "entry"}, {ModelId::author, "pk", "author"},
                                      {ModelId::comment, "entry", "entry"}};

constexpr PathSpec sample_paths[] = {
    {"id", integer}, {"flag", FieldKind::boolean}, {"small", FieldKind::small_integer}, {"medium", integer},
    {"big", FieldKind::big_integer}, {"real", FieldKind::real}, {"text", text}, {"data", FieldKind::bytes},
    {"day", date}, {"moment", datetime}, {"clock", FieldKind::time}, {"maybe_int", integer}, {"maybe_text", text},
    {"maybe_moment", datetime}, {"clock__hour", integer}, {"moment__date", date}, {"day__quarter", integer}};
constexpr const char* sample_related[] = {"flag"};  // not a relation: refused
constexpr const char* sample_fields[] = {"flag", "text", "data", "moment", "maybe_text"};
constexpr LinkSpec sample_links[] = {{ModelId::sample, "medium", "medium"}, {ModelId::entry, "rating", "medium"},
                                     {ModelId::sample, "text", "maybe_text"}};

constexpr PathSpec author_paths[] = {{"id", integer},      {"pk", integer},           {"name", text},
                                     {"email", text},      {"entry__headline", text}, {"entry__rating", integer},
                                     {"profile__bio", text}, {"comment__text", text}};
constexpr const char* author_related[] = {"profile"};
constexpr const char* author_fields[] = {"name", "email"};
constexpr LinkSpec author_links[] = {{ModelId::entry, "authors", "pk"}, {ModelId::comment, "author", "pk"}};

const Catalog& catalog(ModelId id) {
    static const Catalog entry{entry_paths, entry_related, entry_fields, entry_links};
    static const Catalog blog{blog_paths, blog_related, blog_fields, blog_links};
    static const Catalog comment{comment_paths, comment_related, comment_fields, comment_links};
    static const Catalog sample{sample_paths, sample_related, sample_fields, sample_links};
    static const Catalog author{author_paths, author_related, author_fields, author_links};
    switch (id) {
        case ModelId::entry: return entry;
        case ModelId::blog: return blog;
        case ModelId::comment: return comment;
        case ModelId::sample: return sample;
        case ModelId::author: return author;
    }
    return entry;
}

/// Calls `fn.template operator()<M>()` with the model `id` names.
template <class Fn>
decltype(auto) with_model(ModelId id, Fn&& fn) {
    switch (id) {
        case ModelId::blog: return fn.template operator()<Blog>();
        case ModelId::comment: return fn.template operator()<Comment>();
        case ModelId::sample: return fn.template operator()<Sample>();
        case ModelId::author: return fn.template operator()<Author>();
        case ModelId::entry: break;
    }
    return fn.template operator()<Entry>();
}

// ---- Values: fuzzed, and shadowed in the second run -------------------------------------------------------------

/// Strings that have broken SQL builders before: quotes, comment markers, escapes, wildcards, NUL, invalid UTF-8,
/// placeholders, and the literals the dialects write themselves.
const std::vector<std::string>& nasty_strings() {
    static const std::vector<std::string> s{
        "'", "''", "' OR '1'='1", "'; DROP TABLE \"entry\"; --", "--", "/*", "*/", "\\", "\\'", "%", "_", "%_\\",
        "*?[", std::string("a\0b", 3), std::string(1, '\0'), "\xff", "\xff\xff", "a\xff", "\xc3\x28", "\xed\xa0\x80",
        "\xc3\x89", "\xc4\xb0", "\xc3\x9f", "?", "$1", "$$", "\"", "\"\"", "::text", ")", "year", "UTC", "E'\\''",
        "\r\n", ";", "` ", "[x]"};
    return s;
}

/// Letters and digits move to the next one (z -> a, 9 -> 0); every other byte stays: a bijection that keeps NUL,
/// 0xff (startswith's range end), quotes, wildcards and the ',' StringAgg compares with.
char rotate(char c) {
    if (c >= 'a' && c <= 'z') return static_cast<char>('a' + (c - 'a' + 1) % 26);
    if (c >= 'A' && c <= 'Z') return static_cast<char>('A' + (c - 'A' + 1) % 26);
    if (c >= '0' && c <= '9') return static_cast<char>('0' + (c - '0' + 1) % 10);
    return c;
}

/// The program's reader: choices come from the fuzzer's bytes, values are shadowed in the second run.
struct Gen {
    FuzzedDataProvider& in;
    bool shadow;
    /// annotate() / alias() / values() names so far, usable in later calls, with their types when known.
    std::vector<std::pair<std::string, FieldKind>> annotations{};

    bool more() const { return in.remaining_bytes() > 0; }
    std::size_t pick(std::size_t n) { return n > 1 ? in.ConsumeIntegralInRange<std::size_t>(0, n - 1) : 0; }
    /// True one time in `n`; false once the input is used up (so that recursion ends).
    bool chance(int n) { return more() && in.ConsumeIntegralInRange<int>(0, n - 1) == 0; }

    /// A name as written by a user (an annotation name, a path): never shadowed.
    std::string raw_string(std::size_t max = 24) { return in.ConsumeRandomLengthString(max); }

    std::string text() {
        std::string s;
        if (chance(3)) s = nasty_strings()[pick(nasty_strings().size())];
        else s = in.ConsumeRandomLengthString(48);
        if (chance(12)) {  // long values
            std::string unit = s.empty() ? std::string("x'") : s;
            std::size_t n = 1 + pick(4096 / unit.size() + 1);
            s.clear();
            for (std::size_t i = 0; i < n && s.size() < 4096; ++i) s += unit;
        }
        if (shadow)
            for (auto& c : s) c = rotate(c);
        return s;
    }
    std::int64_t integer() {
        std::int64_t v;
        switch (pick(4)) {
            case 0: v = in.ConsumeIntegral<std::int64_t>(); break;
            case 1: v = std::numeric_limits<std::int64_t>::max() - static_cast<std::int64_t>(pick(3)); break;
            default: v = in.ConsumeIntegralInRange<std::int64_t>(-3, 2100); break;
        }
        return shadow ? v ^ 1 : v;
    }
    double real() {
        double v = in.ConsumeFloatingPoint<double>();
        return shadow ? -v : v;
    }
    dorm::Date day() {
        return dorm::Date(in.ConsumeIntegralInRange<int>(1, 9999), in.ConsumeIntegralInRange<unsigned>(1, 12),
                          in.ConsumeIntegralInRange<unsigned>(1, 28));
    }
    dorm::Time clock() {
        return dorm::Time(in.ConsumeIntegralInRange<int>(0, 23), in.ConsumeIntegralInRange<int>(0, 59),
                          in.ConsumeIntegralInRange<int>(0, 59), in.ConsumeIntegralInRange<int>(0, 999999));
    }

    /// A value of `kind`; sometimes NULL or a value of another type (dorm must refuse it with TypeError).
    Value value(FieldKind kind) {
        if (chance(16)) return Value(std::nullopt);
        if (chance(12)) kind = static_cast<FieldKind>(pick(11));
        switch (kind) {
            case FieldKind::boolean: return in.ConsumeBool();
            case FieldKind::small_integer:
            case FieldKind::integer:
            case FieldKind::big_integer: return integer();
            case FieldKind::real: return chance(2) ? Value(real()) : Value(integer());
            case FieldKind::text: return text();
            case FieldKind::bytes: {
                auto raw = in.ConsumeBytes<std::uint8_t>(pick(16));
                dorm::Bytes b;
                for (auto c : raw) b.push_back(std::byte{static_cast<std::uint8_t>(shadow ? rotate(static_cast<char>(c)) : c)});
                return b;
            }
            case FieldKind::date: return day();
            case FieldKind::datetime: return dorm::DateTime(day(), clock());
            case FieldKind::time: return clock();
            case FieldKind::duration: return dorm::Duration(integer());
        }
        return Value(std::nullopt);
    }
};

bool is_numeric(FieldKind k) {
    return k == FieldKind::small_integer || k == FieldKind::integer || k == FieldKind::big_integer || k == FieldKind::real;
}

// ---- Conditions and expressions (model-independent, as dorm's Q and F are) ------------------------------------

/// What a condition or expression on one model may name: its catalog and, on the outer query only, the
/// annotations made so far.
struct Scope {
    const Catalog& catalog;
    const std::vector<std::pair<std::string, FieldKind>>* annotations;
    ModelId model;
};

std::pair<std::string, FieldKind> pick_path(Gen& g, const Scope& s) {
    if (g.chance(48)) return {g.raw_string(), FieldKind::text};  // anything: dorm must refuse it cleanly
    std::size_t n = s.catalog.paths.size() + (s.annotations ? s.annotations->size() : 0);
    std::size_t i = g.pick(n);
    if (i < s.catalog.paths.size()) return {s.catalog.paths[i].path, s.catalog.paths[i].kind};
    return (*s.annotations)[i - s.catalog.paths.size()];
}

/// A path of `kind` (or of any kind when none has it).
std::pair<std::string, FieldKind> pick_path_of(Gen& g, const Scope& s, bool (*accept)(FieldKind)) {
    std::vector<std::pair<std::string, FieldKind>> fit;
    for (const auto& p : s.catalog.paths)
        if (accept(p.kind)) fit.emplace_back(p.path, p.kind);
    if (s.annotations)
        for (const auto& a : *s.annotations)
            if (accept(a.second)) fit.push_back(a);
    if (fit.empty() || g.chance(24)) return pick_path(g, s);
    return fit[g.pick(fit.size())];
}

Q gen_q(Gen& g, const Scope& s, int depth);
Expression gen_expr(Gen& g, const Scope& s, int depth, bool aggregates, FieldKind& kind);

/// A correlated subquery on one of the scope's links, as Exists(...), Subquery(...), or `path__in` QuerySet.
enum class SubKind { exists, scalar, in };

std::optional<Q> gen_in_subquery(Gen& g, const Scope& s, int depth);
std::optional<Expression> gen_subquery(Gen& g, const Scope& s, int depth, SubKind what, FieldKind& kind) {
    if (s.catalog.links.empty() || depth <= 0) return std::nullopt;
    const LinkSpec& link = s.catalog.links[g.pick(s.catalog.links.size())];
    Scope inner{catalog(link.other), nullptr, link.other};
    return with_model(link.other, [&]<class O>() -> std::optional<Expression> {
        auto sub = O::objects().filter(std::string(link.other_field), dorm::OuterRef(link.outer_path));
        if (g.chance(2)) sub = sub.filter(gen_q(g, inner, depth - 1));
        if (g.chance(3)) sub = sub.order_by(std::string(inner.catalog.paths[g.pick(inner.catalog.paths.size())].path));
        if (what == SubKind::exists) {
            kind = FieldKind::boolean;
            return dorm::Exists(sub);
        }
        auto column = pick_path(g, inner);
        kind = column.second;
        return dorm::Subquery(sub.values(column.first).slice(0, 1));
    });
}

std::optional<Q> gen_in_subquery(Gen& g, const Scope& s, int depth) {
    if (s.catalog.links.empty() || depth <= 0) return std::nullopt;
    const LinkSpec& link = s.catalog.links[g.pick(s.catalog.links.size())];
    Scope inner{catalog(link.other), nullptr, link.other};
    return with_model(link.other, [&]<class O>() -> std::optional<Q> {
        auto sub = O::objects().filter(gen_q(g, inner, depth - 1));
        if (g.chance(3)) sub = sub.slice(0, static_cast<std::int64_t>(g.pick(5)));
        if (g.chance(3))  // the primary keys: `in` takes a model QuerySet too
            return Q(std::string(link.outer_path) + "__in", sub);
        return Q(std::string(link.outer_path) + "__in", sub.values(std::string(link.other_field)));
    });
}

constexpr const char* text_lookups[] = {"exact", "iexact", "contains", "icontains", "startswith", "istartswith",
                                        "endswith", "iendswith", "regex", "iregex", "in", "gt", "lt", "gte", "lte",
                                        "isnull", "range"};
constexpr const char* other_lookups[] = {"exact", "gt", "gte", "lt", "lte", "in", "range", "isnull"};

/// One `path__lookup = value` condition (or a boolean expression).
Q gen_leaf(Gen& g, const Scope& s, int depth) {
    if (depth > 0 && g.chance(10)) {
        FieldKind k;
        if (auto e = gen_subquery(g, s, depth, SubKind::exists, k)) return Q(*e);
    }
    if (depth > 0 && g.chance(10))
        if (auto q = gen_in_subquery(g, s, depth)) return *q;
    auto [path, kind] = pick_path(g, s);
    std::string lookup = kind == FieldKind::text ? text_lookups[g.pick(std::size(text_lookups))]
                                                 : other_lookups[g.pick(std::size(other_lookups))];
    if (g.chance(16)) lookup = dorm::lookups::lookup_names[g.pick(dorm::lookups::lookup_names.size())].name;
    std::string full = lookup == "exact" && g.chance(2) ? path : path + "__" + lookup;
    if (lookup == "in" || lookup == "range") {
        std::size_t n = lookup == "range" ? (g.chance(8) ? g.pick(4) : 2) : (g.chance(4) ? 17 + g.pick(24) : g.pick(6));
        std::vector<Value> list;
        for (std::size_t i = 0; i < n; ++i) {
            if (i && g.chance(4)) list.push_back(list[g.pick(list.size())]);  // duplicates: dropped
            else list.push_back(g.value(kind));
        }
        return Q(full, list);
    }
    if (lookup == "isnull") return Q(full, g.chance(8) ? g.value(kind) : Value(g.in.ConsumeBool()));
    if (depth > 0 && g.chance(4)) {  // compared with an expression of the row
        FieldKind ek;
        return Q(full, gen_expr(g, s, depth - 1, false, ek));
    }
    return Q(full, g.value(kind));
}

Q gen_q(Gen& g, const Scope& s, int depth) {
    Q q;
    if (depth <= 0 || !g.chance(3)) q = gen_leaf(g, s, depth);
    else {
        q = gen_q(g, s, depth - 1);
        for (std::size_t i = 0, n = 1 + g.pick(2); i < n; ++i) {
            Q other = gen_q(g, s, depth - 1);
            switch (g.pick(3)) {
                case 0: q = q & other; break;
                case 1: q = q | other; break;
                default: q = q ^ other; break;
            }
        }
    }
    if (g.chance(4)) q = ~q;
    if (g.chance(32)) q = q & Q();  // an empty Q disappears when combined
    return q;
}

/// Aggregate options: distinct, a filter, a default, a sample statistic, an order.
dorm::AggregateOptions gen_options(Gen& g, const Scope& s, int depth) {
    dorm::AggregateOptions o;
    o.distinct = g.chance(3);
    if (g.chance(3)) o.filter = gen_q(g, s, depth - 1);
    if (g.chance(4)) o.default_ = Expression(g.value(FieldKind::integer));
    o.sample = g.chance(2);
    if (g.chance(4)) o.order_by.emplace_back(std::string_view(pick_path(g, s).first));
    return o;
}

Expression gen_expr(Gen& g, const Scope& s, int depth, bool aggregates, FieldKind& kind) {
    if (depth <= 0) {
        auto [path, k] = pick_path(g, s);
        kind = k;
        return F(path);
    }
    switch (g.pick(aggregates ? 14 : 11)) {
        case 0:
        case 1: {
            auto [path, k] = pick_path(g, s);
            kind = k;
            return F(path);
        }
        case 2: {
            kind = static_cast<FieldKind>(g.pick(10));
            return Expression(g.value(kind));
        }
        case 3: {
            static constexpr const char* ops[] = {"+", "-", "*", "/", "%", "pow", "neg"};
            FieldKind a, b;
            Expression l = gen_expr(g, s, depth - 1, aggregates, a);
            std::string_view op = ops[g.pick(std::size(ops))];
            if (op == "neg") {
                kind = a;
                return -l;
            }
            Expression r = g.chance(2) ? Expression(g.value(FieldKind::integer)) : gen_expr(g, s, depth - 1, aggregates, b);
            kind = is_numeric(a) ? a : FieldKind::integer;
            if (op == "+") return l + r;
            if (op == "-") return l - r;
            if (op == "*") return l * r;
            if (op == "/") return l / r;
            if (op == "%") return l % r;
            return dorm::pow(l, r);
        }
        case 4: {
            auto path = pick_path_of(g, s, [](FieldKind k) { return k == FieldKind::text; }).first;
            switch (g.pick(3)) {
                case 0: kind = FieldKind::text; return dorm::Lower(path);
                case 1: kind = FieldKind::text; return dorm::Upper(path);
                default: kind = FieldKind::integer; return dorm::Length(path);
            }
        }
        case 5: {
            auto [path, k] = pick_path(g, s);
            kind = k;
            if (g.chance(2)) return dorm::Coalesce(path, Expression(g.value(k)));
            return dorm::Coalesce(path, Expression(g.value(k)), F(path));
        }
        case 6: {
            FieldKind k1;
            Expression then = gen_expr(g, s, depth - 1, aggregates, k1);
            kind = k1;
            std::optional<dorm::ExprArg> otherwise;
            if (g.chance(2)) otherwise = dorm::ExprArg(Expression(g.value(k1)));
            if (g.chance(2)) return dorm::Case({dorm::When(gen_q(g, s, depth - 1), then)}, otherwise);
            return dorm::Case({dorm::When(gen_q(g, s, depth - 1), then),
                               dorm::When(gen_q(g, s, depth - 1), Expression(g.value(k1)))},
                              otherwise);
        }
        case 7: {
            FieldKind k1;
            Expression e = gen_expr(g, s, depth - 1, aggregates, k1);
            kind = static_cast<FieldKind>(g.pick(10));
            return g.chance(2) ? dorm::Cast(e, kind) : dorm::ExpressionWrapper(e, kind);
        }
        case 8:
        case 9: {
            auto what = g.chance(2) ? SubKind::exists : SubKind::scalar;
            if (auto e = gen_subquery(g, s, depth, what, kind)) return *e;
            kind = FieldKind::integer;
            return Expression(g.value(kind));
        }
        case 10: {  // a condition as a value (Django's boolean expressions)
            kind = FieldKind::boolean;
            return dorm::Case({dorm::When(gen_q(g, s, depth - 1), Expression(Value(true)))}, dorm::ExprArg(Expression(Value(false))));
        }
        default: break;
    }
    // Aggregates.
    auto [path, k] = g.chance(8) ? std::pair<std::string, FieldKind>{"*", FieldKind::integer} : pick_path(g, s);
    auto o = gen_options(g, s, depth);
    switch (g.pick(14)) {
        case 0: kind = FieldKind::big_integer; return dorm::Count(path, o);
        case 1: kind = k; return dorm::Sum(path, o);
        case 2: kind = FieldKind::real; return dorm::Avg(path, o);
        case 3: kind = k; return dorm::Min(path, o);
        case 4: kind = k; return dorm::Max(path, o);
        case 5: kind = FieldKind::real; return dorm::StdDev(path, o);
        case 6: kind = FieldKind::real; return dorm::Variance(path, o);
        case 7: kind = FieldKind::text; return dorm::StringAgg(path, g.chance(2) ? std::string(",") : g.text(), o);
        case 8: kind = k; return dorm::AnyValue(path, o);
        // PostgreSQL's aggregates (NotSupportedError on SQLite when compiled).
        case 9: {
            kind = k;
            auto pick = g.pick(3);
            return pick == 0 ? dorm::BitAnd(path, o) : pick == 1 ? dorm::BitOr(path, o) : dorm::BitXor(path, o);
        }
        case 10: kind = FieldKind::boolean; return g.chance(2) ? dorm::BoolAnd(path, o) : dorm::BoolOr(path, o);
        case 11: kind = g.chance(2) ? FieldKind::text : k; return kind == FieldKind::text ? dorm::JSONBAgg(path, o) : dorm::ArrayAgg(path, o);
        case 12: {
            auto x = pick_path(g, s).first;
            kind = FieldKind::real;
            switch (g.pick(4)) {
                case 0: return dorm::Corr(path, x, o);
                case 1: return dorm::CovarPop(path, x, o);
                case 2: kind = FieldKind::integer; return dorm::RegrCount(path, x, o);
                default: return dorm::RegrSlope(path, x, o);
            }
        }
        default: {
            FieldKind inner;
            kind = FieldKind::big_integer;
            return dorm::Count(gen_expr(g, s, depth - 1, false, inner), o);
        }
    }
}

/// An annotation name: usually a plain one, sometimes anything (it is written as a quoted identifier).
std::string annotation_name(Gen& g) {
    static constexpr const char* names[] = {"n", "total", "label", "x__y", "has_any", "rating__count", "headline"};
    if (g.chance(6)) return g.raw_string();
    return names[g.pick(std::size(names))];
}

/// Each compiled statement of a run, in order: the SQL per dialect, or "!" where dorm refused.
using Log = std::vector<std::string>;

// ---- Running on SQLite -----------------------------------------------------------------------------------------

bool env_flag(const char* name, bool fallback) {
    const char* v = std::getenv(name);
    return v && *v ? *v != '0' : fallback;
}
bool executing() {
    static const bool on = env_flag("DORM_FUZZ_EXECUTE", true);
    return on;
}
bool strict() {
    static const bool on = env_flag("DORM_FUZZ_STRICT", false);
    return on;
}

/// The tables of every test model on the SQLite alias, with a few rows whose text has quotes, wildcards and
/// non-ASCII letters (so that REGEXP, dorm_fold and the LIKE / GLOB escapes see them).
void setup_sqlite_rows() {
    static const bool done = [] {
        const char* a = dorm_fuzz::sqlite_alias;
        dorm::create_tables<Blog, Author, Entry, Sample, Country, Comment, Artist, Album, Song, Reaction, Category, Profile,
                            Link, Pairing, Person, Group, Membership>(a);
        auto beatles = Blog::objects().using_(a).create({{"name", "Beatles Blog"}, {"tagline", "All the latest Beatles news."}});
        auto cooking = Blog::objects().using_(a).create({{"name", "Cooking"}, {"tagline", "50% off_ \\ *?["}});
        auto paul = Author::objects().using_(a).create({{"name", "Paul"}, {"email", "paul@example.com"}});
        auto lennon = Entry::objects().using_(a).create(Entry{.blog = beatles, .headline = "Lennon returns",
                                                              .body_text = "\xc3\x89lan, \xc4\xb0stanbul", .pub_date = dorm::Date(2005, 3, 20),
                                                              .mod_date = dorm::Date(2005, 4, 1), .number_of_comments = 10,
                                                              .number_of_pingbacks = 2, .rating = 5});
        Entry::objects().using_(a).create(Entry{.blog = cooking, .headline = "O'Reilly's soup", .body_text = "--/* */",
                                                .pub_date = dorm::Date(2007, 11, 5), .mod_date = dorm::Date(2008, 1, 1),
                                                .rating = 1, .rating_note = "thin"});
        Comment::objects().using_(a).create(Comment{.entry = lennon, .author = std::nullopt, .text = "First!",
                                                    .posted = dorm::DateTime(2005, 3, 21, 10, 30, 15)});
        Sample::objects().using_(a).create(Sample{.flag = true, .small = 3, .medium = 5, .big = std::int64_t{1} << 40,
                                                  .real = 2.5, .text = "a'b", .data = dorm::Bytes{std::byte{0}, std::byte{0xff}},
                                                  .day = dorm::Date(2020, 2, 29), .moment = dorm::DateTime(2020, 2, 29, 23, 59, 59),
                                                  .clock = dorm::Time(10, 30), .maybe_text = "x"});
        (void)paul;
        return true;
    }();
    (void)done;
}

/// Whether SQLite's refusal of a statement says the statement is malformed, rather than the program wrong.
bool malformed_statement(const dorm::DatabaseError& e) {
    static constexpr std::string_view signs[] = {
        "syntax error", "no such column", "no such table", "no such function", "ambiguous column name",
        "misuse of aggregate", "unrecognized token", "wrong number of arguments", "parameters,",
        "aggregate functions are not allowed", "a GROUP BY clause is required", "incomplete input"};
    std::string_view what = e.what();
    for (auto sign : signs)
        if (what.find(sign) != std::string_view::npos) return true;
    return false;
}

/// Runs `fn` on the SQLite alias like guarded(), failing in strict mode when SQLite refused a statement as malformed.
template <class Fn>
void executed(std::string_view context, Fn&& fn) {
    guarded(context, [&] {
        try {
            fn();
        } catch (const dorm::DatabaseError& e) {
            if (strict() && !e.sql().empty() && malformed_statement(e))
                dorm_fuzz::fail("sqlite refused a statement dorm wrote", e.what(), e.sql(), context);
            throw;
        }
    });
}

/// Checks every statement `capture` recorded; those whose sequence depends only on the program go to the log.
void check_captured(const dorm::CaptureQueries& capture, std::string_view what, Log& log, bool logged) {
    for (const auto& q : capture.queries()) {
        // Transaction control (delete_() runs in a savepoint of its own) is dorm's fixed text, not a compiled query.
        std::string_view sql = q.sql;
        if (sql.starts_with("SAVEPOINT ") || sql.starts_with("RELEASE ") || sql.starts_with("ROLLBACK") ||
            sql.starts_with("BEGIN") || sql.starts_with("COMMIT"))
            continue;
        dorm_fuzz::check_compiled(dorm::sql::Compiled{q.sql, q.params, false}, Dialect::sqlite, what);
        if (logged) log.push_back(std::string(what) + ": " + q.sql + " #" + std::to_string(q.params.size()));
    }
}

/// Thrown to roll back update() and delete_() (not a std::exception: nothing else may catch it by mistake).
struct Rollback {};

/// Evaluates the program's final QuerySet on SQLite: rows, count(), exists(), aggregate(), and for model QuerySets
/// update() and delete_() in a transaction that is rolled back (the rows stay for the next input).
template <class QS>
void evaluate(Gen& g, const Scope& s, const QS& qs, Log& log) {
    if (!executing()) return;
    setup_sqlite_rows();
    const char* alias = dorm_fuzz::sqlite_alias;
    // A fresh QuerySet for each call: count() and exists() answer from a filled result cache without a query, and
    // whether the cache got filled depends on the values (a REGEXP pattern PCRE2 refuses, a row that does not decode).
    std::optional<QS> on;
    auto fresh = [&] { on = qs.using_(alias); };
    auto run = [&](std::string_view what, auto&& fn) {
        dorm::CaptureQueries capture(alias);
        executed(what, [&] {
            fresh();
            fn();
        });
        check_captured(capture, what, log, true);
    };
    run("rows", [&] { (void)on->size(); });
    run("count", [&] { (void)on->count(); });
    run("exists", [&] { (void)on->exists(); });
    FieldKind k;
    std::optional<Expression> aggregate;
    guarded("aggregate expression", [&] { aggregate = gen_expr(g, s, 2, true, k); });
    if (aggregate) run("aggregate", [&] { (void)on->aggregate("fuzz", *aggregate, dorm::Count("pk")); });
    if constexpr (!std::is_same_v<typename QS::model_type, void>) {
        const auto& fields = s.catalog.fields;
        const PathSpec* target = nullptr;
        std::string field = fields[g.pick(fields.size())];
        for (const auto& p : s.catalog.paths)
            if (field == p.path) target = &p;
        for (bool delete_ : {false, true}) {
            std::optional<dorm::Kwargs> sets;
            if (!delete_)
                guarded("update values", [&] {
                    if (g.chance(3)) sets = dorm::Kwargs{{field, F(field) + 1}};
                    else sets = dorm::Kwargs{{field, g.value(target ? target->kind : FieldKind::text)}};
                });
            try {
                dorm::atomic(
                    [&] {
                        dorm::CaptureQueries capture(alias);
                        // delete_()'s collector queries depend on which rows matched: checked, not logged.
                        executed(delete_ ? "delete" : "update", [&] {
                            fresh();
                            if (delete_) (void)on->delete_();
                            else if (sets) (void)on->update(*sets);
                        });
                        check_captured(capture, delete_ ? "delete" : "update", log, !delete_);
                        throw Rollback{};
                    },
                    alias);
            } catch (const Rollback&) {
            }
        }
    }
}

// ---- The program --------------------------------------------------------------------------------------------

template <class QS>
void record(Log& log, const QS& qs, std::string_view step) {
    log.push_back(dorm_fuzz::compile_and_check(qs, Dialect::sqlite, step));
    log.push_back(dorm_fuzz::compile_and_check(qs, Dialect::postgresql, step));
}

/// An order_by() call of 1 to 3 terms: names ("-x", "?", annotations) or expressions with NULLS FIRST / LAST.
template <class QS>
QS gen_order_by(Gen& g, const Scope& s, const QS& qs) {
    using Term = dorm::OrderTerm<typename QS::model_type>;
    std::vector<std::string> names;
    std::vector<dorm::OrderByExpression> exprs;
    std::size_t n = 1 + g.pick(3);
    for (std::size_t i = 0; i < n; ++i) {
        if (g.chance(3)) {
            FieldKind k;
            Expression e = gen_expr(g, s, 1, false, k);
            dorm::NullsOrder nulls{.nulls_first = g.chance(3), .nulls_last = g.chance(3)};
            exprs.push_back(g.chance(2) ? e.desc(nulls) : e.asc(nulls));
            continue;
        }
        std::string name = g.chance(16) ? "?" : pick_path(g, s).first;
        names.push_back(g.chance(2) ? "-" + name : name);
    }
    if (exprs.empty()) return qs.order_by(names);
    std::vector<Term> terms;
    for (const auto& x : names) terms.emplace_back(x);
    for (const auto& e : exprs) terms.emplace_back(e);
    switch (terms.size()) {
        case 1: return qs.order_by(terms[0]);
        case 2: return qs.order_by(terms[0], terms[1]);
        default: return qs.order_by(terms[0], terms[1], terms[2]);
    }
}

/// Calls shared by model QuerySets and values() QuerySets.
template <class M, class QS>
bool common_step(Gen& g, const Scope& s, QS& qs, std::size_t op) {
    switch (op) {
        case 0: qs = qs.filter(gen_q(g, s, 3)); return true;
        case 1: qs = qs.exclude(gen_q(g, s, 3)); return true;
        case 2: qs = gen_order_by(g, s, qs); return true;
        case 3: qs = qs.distinct(); return true;
        case 4: {
            // Slice bounds are written into the SQL (LIMIT / OFFSET), so they are not shadowed.
            auto start = g.chance(8) ? g.in.ConsumeIntegral<std::int64_t>() : static_cast<std::int64_t>(g.pick(6));
            if (g.chance(3)) qs = qs.slice(start);
            else if (g.chance(8)) qs = qs.slice(start, g.in.ConsumeIntegral<std::int64_t>());
            else qs = qs.slice(start, start > INT64_MAX - 8 ? start : start + static_cast<std::int64_t>(g.pick(8)));
            return true;
        }
        case 5: {
            std::string name = annotation_name(g);
            FieldKind k;
            Expression e = gen_expr(g, s, 3, true, k);
            qs = g.chance(4) ? qs.alias(name, e) : qs.annotate(name, e);
            g.annotations.emplace_back(name, k);
            return true;
        }
        case 6: qs = qs.reverse(); return true;
        case 7: {
            auto [path, kind] = pick_path(g, s);
            qs = qs.filter(path, g.value(kind));
            return true;
        }
        case 8: {  // a set operation with another QuerySet of the model, shaped like this one when in values()
            auto other = M::objects().filter(gen_q(g, s, 2));
            QS rhs = [&] {
                if constexpr (std::is_same_v<QS, dorm::QuerySet<dorm::Row>>) {
                    std::vector<std::string> names;
                    for (const auto& item : qs.query().values) names.push_back(item.name);
                    switch (names.size()) {
                        case 0: return other.values();
                        case 1: return other.values(names[0]);
                        default: return other.values(names[0], names[1]);
                    }
                } else {
                    return other;
                }
            }();
            switch (g.pick(4)) {
                case 0: qs = qs.union_(rhs); break;
                case 1: qs = qs.union_(rhs, true); break;
                case 2: qs = qs.intersection(rhs); break;
                default: qs = qs.difference(rhs); break;
            }
            return true;
        }
        case 9: qs = qs.none(); return true;
        case 10: {
            auto path = pick_path(g, s).first;
            qs = g.chance(2) ? qs.distinct(path) : qs.distinct(path, std::string("pk"));
            return true;
        }
        case 11: qs = qs.order_by(); return true;
        default: return false;
    }
}

/// A values() / values_list(named) QuerySet from `qs`: 0 to 3 names, maybe a name = expression pair.
template <class QS>
dorm::QuerySet<dorm::Row> gen_values(Gen& g, const Scope& s, const QS& qs) {
    std::vector<std::string> names;
    for (std::size_t i = 0, n = g.pick(4); i < n; ++i) names.push_back(pick_path(g, s).first);
    if (g.chance(3)) {
        std::string name = annotation_name(g);
        FieldKind k;
        Expression e = gen_expr(g, s, 2, g.chance(2), k);
        g.annotations.emplace_back(name, k);
        switch (names.size()) {
            case 0: return qs.values(name, e);
            case 1: return qs.values(names[0], name, e);
            default: return qs.values_list(names[0], names[1], name, e, dorm::named);
        }
    }
    switch (names.size()) {
        case 0: return qs.values();
        case 1: return qs.values(names[0]);
        case 2: return qs.values_list(names[0], names[1], dorm::named);
        default: return qs.values(names[0], names[1], names[2]);
    }
}

/// Runs the program on model M: model-QuerySet calls, then maybe values() and calls on rows, or dates().
template <class M>
Log run_program(Gen& g, ModelId id) {
    Log log;
    Scope scope{catalog(id), &g.annotations, id};
    auto qs = M::objects();
    int steps = 0;
    for (; g.more() && steps < 12; ++steps) {
        std::size_t op = g.pick(20);
        std::string step = "step " + std::to_string(steps) + " op " + std::to_string(op);
        if (op == 18) {  // to rows
            std::optional<dorm::QuerySet<dorm::Row>> rows;
            if (!guarded(step, [&] { rows = gen_values(g, scope, qs); })) {
                log.push_back("!values");
                continue;
            }
            record(log, *rows, step);
            for (; g.more() && steps < 24; ++steps) {
                std::size_t row_op = g.pick(13);
                std::string row_step = "rows step " + std::to_string(steps) + " op " + std::to_string(row_op);
                bool ok = guarded(row_step, [&] {
                    if (row_op == 12) *rows = gen_values(g, scope, *rows);
                    else common_step<M>(g, scope, *rows, row_op);
                });
                if (ok) record(log, *rows, row_step);
                else log.push_back("!" + row_step);
            }
            evaluate(g, scope, *rows, log);
            return log;
        }
        if (op == 19) {  // dates() / datetimes(): the end of the program
            guarded(step, [&] {
                auto path = pick_path_of(g, scope, [](FieldKind k) { return k == date || k == datetime; }).first;
                static constexpr const char* kinds[] = {"year", "month", "week", "day", "hour", "minute", "second", "decade"};
                std::string kind = kinds[g.pick(std::size(kinds))];
                const char* order = g.chance(2) ? "ASC" : "DESC";
                if (g.chance(2)) {
                    auto dates = qs.dates(path, kind, order);
                    record(log, dates, step);
                    evaluate(g, scope, dates, log);
                } else {
                    auto datetimes = qs.datetimes(path, kind, order, g.chance(2) ? "UTC" : "Europe/Paris");
                    record(log, datetimes, step);
                    evaluate(g, scope, datetimes, log);
                }
            });
            return log;
        }
        bool ok = guarded(step, [&] {
            if (common_step<M>(g, scope, qs, op)) return;
            switch (op) {
                case 12: {
                    const auto& rel = scope.catalog.related;
                    if (g.chance(3) || rel.empty()) qs = qs.select_related();
                    else qs = qs.select_related(std::string(rel[g.pick(rel.size())]));
                    break;
                }
                case 13: {
                    const auto& fields = scope.catalog.fields;
                    std::string f = g.chance(8) ? pick_path(g, scope).first : std::string(fields[g.pick(fields.size())]);
                    qs = g.chance(2) ? qs.defer(f) : qs.only(f);
                    break;
                }
                case 14: {
                    dorm::SelectForUpdate o;
                    o.nowait = g.chance(3);
                    o.skip_locked = g.chance(3);
                    o.no_key = g.chance(3);
                    if (g.chance(3)) o.of = {g.chance(4) ? g.raw_string() : std::string("self")};
                    qs = qs.select_for_update(o);
                    break;
                }
                case 15: {  // qs & other, qs | other, qs ^ other
                    auto other = M::objects().filter(gen_q(g, scope, 2));
                    switch (g.pick(3)) {
                        case 0: qs = qs & other; break;
                        case 1: qs = qs | other; break;
                        default: qs = qs ^ other; break;
                    }
                    break;
                }
                case 16: {  // an anonymous aggregate: its default alias ("rating__count")
                    auto [path, k] = pick_path(g, scope);
                    bool count = g.chance(2);
                    qs = qs.annotate(count ? dorm::Count(path) : dorm::Max(path));
                    g.annotations.emplace_back(path + (count ? "__count" : "__max"), count ? FieldKind::big_integer : k);
                    break;
                }
                default: {  // filter(path, value, path, value)
                    auto [p1, k1] = pick_path(g, scope);
                    auto [p2, k2] = pick_path(g, scope);
                    qs = qs.filter(p1, g.value(k1), p2, g.value(k2));
                    break;
                }
            }
        });
        if (ok) record(log, qs, step);
        else log.push_back("!" + step);
    }
    evaluate(g, scope, qs, log);
    return log;
}

Log run(const std::uint8_t* data, std::size_t size, bool shadow) {
    FuzzedDataProvider in(data, size);
    Gen g{in, shadow};
    static constexpr ModelId models[] = {ModelId::entry, ModelId::entry, ModelId::blog, ModelId::comment,
                                         ModelId::sample, ModelId::author};
    ModelId id = models[g.pick(std::size(models))];
    return with_model(id, [&]<class M>() { return run_program<M>(g, id); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    dorm_fuzz::setup_databases();
    Log plain = run(data, size, false);
    Log shadowed = run(data, size, true);
    // The same program with other values: the SQL text must not change (every value is a bound parameter).
    for (std::size_t i = 0; i < std::min(plain.size(), shadowed.size()); ++i)
        if (plain[i] != shadowed[i])
            dorm_fuzz::fail("the SQL text depends on a bound value (run again with other values differs)",
                            "statement " + std::to_string(i) + ", with other values: " + shadowed[i], plain[i]);
    if (plain.size() != shadowed.size())
        dorm_fuzz::fail("the program took another course with other values", std::to_string(plain.size()) + " vs " +
                        std::to_string(shadowed.size()) + " statements");
    return 0;
}
