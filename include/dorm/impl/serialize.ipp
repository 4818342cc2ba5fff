// SPDX-License-Identifier: MIT
// Definitions for <dorm/serialize.hpp>: compiled once in separate mode, inline in header-only mode. Included at the
// end of <dorm/query_set.hpp> rather than of serialize.hpp, because loading replays QuerySet methods.
#pragma once

#include <dorm/query_set.hpp>
#include <dorm/serialize.hpp>
#include <dorm/window.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <functional>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace dorm::detail {

DORM_DECL Recipe::~Recipe() {
    // A QuerySet built by many calls holds a long list: unlinking it node by node keeps its destruction from
    // recursing once per call (and overflowing the stack). A node someone else still holds stops the walk.
    std::shared_ptr<const Recipe> next = std::move(parent);
    while (next && next.use_count() == 1) {
        std::shared_ptr<const Recipe> after = std::move(next->parent);
        next = std::move(after);
    }
}

DORM_DECL Recipe::Recipe(std::shared_ptr<const Recipe> p, recipe::Step s)
    : parent(std::move(p)), step(std::move(s)), generation(lookups::custom_generation()) {}


#define DORM_DEFINE_EXTEND_RECIPE_(S)                                                                           \
    DORM_DECL std::shared_ptr<const Recipe> extend_recipe(const std::shared_ptr<const Recipe>& parent,         \
                                                          recipe::S&& step) {                                   \
        return dorm::detail::make_node<const Recipe>(                                                          \
            parent, recipe::Step(std::in_place_type<recipe::S>, std::move(step)));                             \
    }
DORM_RECIPE_STEPS_(DORM_DEFINE_EXTEND_RECIPE_)
#undef DORM_DEFINE_EXTEND_RECIPE_
#undef DORM_RECIPE_STEPS_

DORM_DECL const std::shared_ptr<const Recipe>& recipe_root() {
    static const auto root = dorm::detail::make_node<const Recipe>(nullptr, recipe::Root{});
    return root;
}

DORM_DECL std::shared_ptr<const Recipe> unrecorded_recipe(std::string what) {
    return dorm::detail::make_node<const Recipe>(nullptr, recipe::Unrecorded{std::move(what)});
}

namespace serial {

inline constexpr std::string_view format_tag = "dorm-query/";
inline constexpr int format_version = 1;
// Nesting of lists in the text (queries, conditions, expressions): far beyond what a query needs, and low enough
// that reading, resolving and compiling the result cannot exhaust the stack.
inline constexpr std::size_t max_depth = 200;
// Elements of one list, and QuerySet calls in the whole text (nested queries too): generous for any real query, and
// low enough that a hostile text cannot make loading slow (some of the calls replayed cost time in what came before).
inline constexpr std::size_t max_list = 10000;
inline constexpr std::size_t max_calls = 10000;

inline constexpr std::string_view binary_operators[] = {"+", "-", "*", "/", "%"};

// WindowFrameExclusion's values, in its order.
inline constexpr std::string_view window_exclusions[] = {"current_row", "group", "ties", "no_others"};

inline constexpr std::pair<FieldKind, std::string_view> kinds[] = {
    {FieldKind::boolean, "boolean"}, {FieldKind::small_integer, "small_integer"}, {FieldKind::integer, "integer"},
    {FieldKind::big_integer, "big_integer"}, {FieldKind::real, "real"}, {FieldKind::text, "text"},
    {FieldKind::bytes, "bytes"}, {FieldKind::date, "date"}, {FieldKind::datetime, "datetime"}, {FieldKind::time, "time"},
    {FieldKind::duration, "duration"}};

inline constexpr std::pair<std::string_view, std::string_view> set_operations[] = {
    {"UNION", "union"}, {"UNION ALL", "union_all"}, {"INTERSECT", "intersection"}, {"EXCEPT", "difference"}};

inline std::string_view kind_atom(FieldKind k) {
    for (const auto& [kind, atom] : kinds)
        if (kind == k) return atom;
    return "integer";  // not reached: every kind is listed
}

// DateTime values are written as microseconds since 1970 and read back only within years 1..9999, the range of Date.
inline constexpr std::int64_t day_us = 86400000000LL;
inline constexpr std::int64_t min_datetime_us = Date::min_days * day_us;
inline constexpr std::int64_t max_datetime_us = (Date::max_days + 1) * day_us - 1;

// ---- Shapes ----------------------------------------------------------------------------------------------------
// A query's shape is its recorded calls with some values left out: those that can change without changing the
// statement, as far as one can tell by changing them (learn_shape()). Each is written as its class: its type and
// what a lookup might treat apart (the sign of a number, whether an integer fits 32 bits). Values of no class
// (NULL, booleans, zero, empty strings, times, arrays) are part of the shape.

/// Whether argument `i` of the call `n` is a time zone's name (Extract's and Trunc's third, TruncDate's and
/// TruncTime's second). It is written into a shape's key, not collected as one of its values: the dialect may bind it
/// changed (time_zone_parameter(): PostgreSQL flips an offset's sign), so a statement learnt with one name must not
/// bind another as it is.
inline bool zone_argument(const ExprNode& n, std::size_t i) {
    if (n.kind != ExprNode::Kind::func || n.label.empty() || n.args[i]->kind != ExprNode::Kind::value) return false;
    if (n.name == "EXTRACT" || n.name == "TRUNC") return i == 2;
    return (n.name == "TRUNCDATE" || n.name == "TRUNCTIME") && i == 1;
}

/// The class `v` is written as in a shape, or nullptr when it is written as itself.
inline const char* shape_class(const Value& v) noexcept {
    return std::visit(
        [](const auto& x) -> const char* {
            using X = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<X, std::int64_t>) {
                if (x == 0) return nullptr;
                const bool small = x >= INT32_MIN && x <= INT32_MAX;
                return x > 0 ? (small ? "?i+" : "?I+") : (small ? "?i-" : "?I-");
            } else if constexpr (std::is_same_v<X, double>) {
                if (!std::isfinite(x) || x == 0) return nullptr;
                return x > 0 ? "?f+" : "?f-";
            } else if constexpr (std::is_same_v<X, std::string> || std::is_same_v<X, Bytes>) {
                if (x.empty()) return nullptr;
                return std::is_same_v<X, std::string> ? "?s" : "?b";
            } else if constexpr (std::is_same_v<X, Date>) {
                return "?d";
            } else if constexpr (std::is_same_v<X, DateTime>) {
                return "?t";
            } else if constexpr (std::is_same_v<X, Duration>) {
                if (x.count() == 0) return nullptr;
                return x.count() > 0 ? "?u+" : "?u-";
            } else {
                return nullptr;
            }
        },
        v.variant());
}

/// A value of `v`'s class (shape_class()) that differs from it, by an amount that grows with `k` (its position among
/// the values changed together), so that equal values change apart. A string gets characters that escaping, case
/// folding or trimming would change, so that a statement that binds the value transformed does not pass for one
/// that binds it as it is. Two changed values may still meet (an `in` list of 1 and 7920): learn_shape() then finds
/// the statement different or a parameter ambiguous, and the shape is compiled each time.
inline std::optional<Value> changed_value(const Value& v, std::size_t k) {
    const auto d = (static_cast<std::int64_t>(k) + 1) * 7919;
    auto in_class = [&](const Value& c) { return c != v && std::string_view(shape_class(c) ? shape_class(c) : "") ==
                                                                 std::string_view(shape_class(v) ? shape_class(v) : ""); };
    auto first_of = [&](std::initializer_list<Value> candidates) -> std::optional<Value> {
        for (const auto& c : candidates)
            if (in_class(c)) return c;
        return std::nullopt;
    };
    return std::visit(
        [&](const auto& x) -> std::optional<Value> {
            using X = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<X, std::int64_t>) {
                return first_of({Value(x < INT64_MAX - d ? x + d : x), Value(x > INT64_MIN + d ? x - d : x)});
            } else if constexpr (std::is_same_v<X, double>) {
                return first_of({Value(x * (1 + static_cast<double>(d) / 1024))});
            } else if constexpr (std::is_same_v<X, std::string>) {
                return Value(x + " %_\\Az" + std::to_string(k));
            } else if constexpr (std::is_same_v<X, Bytes>) {
                Bytes b = x;
                b.push_back(std::byte{0x25});
                b.push_back(static_cast<std::byte>(k & 0xff));
                return Value(std::move(b));
            } else if constexpr (std::is_same_v<X, Date>) {
                const std::int64_t days = x.days_since_epoch();
                const std::int64_t to = days + d <= Date::max_days ? days + d : days - d;
                if (to < Date::min_days) return std::nullopt;
                return Value(Date(std::chrono::sys_days{std::chrono::days{to}}));
            } else if constexpr (std::is_same_v<X, DateTime>) {
                // A day and a microsecond later: whatever a lookup takes from it (date, time, microseconds) changes.
                const std::int64_t step = d * (day_us + 1);
                const std::int64_t us = x.microseconds_since_epoch();
                const std::int64_t to = us <= max_datetime_us - step ? us + step : us - step;
                if (to < min_datetime_us) return std::nullopt;
                return Value(DateTime(std::chrono::sys_time<std::chrono::microseconds>{std::chrono::microseconds{to}}));
            } else if constexpr (std::is_same_v<X, Duration>) {
                return first_of({Value(Duration(x.count() < INT64_MAX - d ? x.count() + d : x.count())),
                                 Value(Duration(x.count() > INT64_MIN + d ? x.count() - d : x.count()))});
            } else {
                return std::nullopt;
            }
        },
        v.variant());
}

// ---- Writing ---------------------------------------------------------------------------------------------------

class Writer {
public:
    std::string out;

    // Shapes (shape_key(), learn_shape()): in `shape` mode a value that can change without changing the statement
    // (shape_class()) is written as its class and collected; in `replace` mode the next of `replacements` is
    // written in its place. Other values are written as themselves in every mode: they are part of the shape.
    enum class Mode { text, shape, replace } mode = Mode::text;
    std::vector<const Value*>* collected = nullptr;
    std::span<const Value> replacements;
    std::size_t replaced = 0;

    void query(const sql::Query& q) {
        const ModelMeta& m = *q.model;
        if (!q.recipe)
            throw NotSupportedError(fmt::format("dorm: dumps(): this {} QuerySet was not built from {}::objects() by "
                                                "QuerySet methods, so it cannot be serialised", m.name, m.name));
        for (const Recipe* r = q.recipe.get(); r; r = r->parent.get())
            if (const auto* u = std::get_if<recipe::Unrecorded>(&r->step))
                throw NotSupportedError(fmt::format("dorm: dumps(): this {} QuerySet was built with {}, which cannot be "
                                                    "serialised", m.name, u->what));
        open("query");
        string(m.name);
        string(m.db_table);
        steps(q.recipe.get());
        close();
    }

    /// An expression, as a call's argument is written (update()'s shape writes its F() expressions so).
    void expression_text(const ExprNode& n) { expression(n); }

    /// The space before an atom, a string or a list, unless one opens `text` or ends it already.
    static void separate(std::string& text) {
        if (!text.empty() && text.back() != ' ' && text.back() != '(') text += ' ';
    }

    void value(const Value& v) {
        if (mode != Mode::text) [[unlikely]] {
            if (const char* c = shape_class(v)) {
                if (mode == Mode::shape) {
                    atom(c);
                    collected->push_back(&v);
                } else {
                    if (replaced == replacements.size()) throw InternalError("dorm: a shape has fewer values than its query");
                    literal(replacements[replaced++]);
                }
                return;
            }
        }
        literal(v);
    }

    // Values: null, true, false, integers as written; the other types tagged.
    void literal(const Value& v) {
        std::visit(
            [this](const auto& x) {
                using X = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<X, std::monostate>) atom("null");
                else if constexpr (std::is_same_v<X, bool>) atom(x ? "true" : "false");
                else if constexpr (std::is_same_v<X, std::int64_t>) atom(std::to_string(x));
                else if constexpr (std::is_same_v<X, double>) {
                    open("float");  // the shortest text that reads back as the same double; inf, -inf, nan
                    string(fmt::format("{}", x));
                    close();
                } else if constexpr (std::is_same_v<X, std::string>) {
                    string(x);
                } else if constexpr (std::is_same_v<X, Bytes>) {
                    std::string hex;
                    for (std::byte b : x) hex += fmt::format("{:02x}", static_cast<unsigned>(b));
                    open("bytes");
                    string(hex);
                    close();
                } else if constexpr (std::is_same_v<X, Date>) {
                    open("date");
                    atom(std::to_string(x.days_since_epoch()));
                    close();
                } else if constexpr (std::is_same_v<X, DateTime>) {
                    open("datetime");
                    atom(std::to_string(x.microseconds_since_epoch()));
                    close();
                } else if constexpr (std::is_same_v<X, Time>) {
                    open("time");
                    atom(std::to_string(x.since_midnight().count()));
                    close();
                } else if constexpr (std::is_same_v<X, Duration>) {
                    open("duration");
                    atom(std::to_string(x.count()));
                    close();
                } else if constexpr (std::is_same_v<X, Array>) {
                    open("array");
                    for (const Value& e : x) literal(e);
                    close();
                }
            },
            v.variant());
    }

private:
    // The steps from the first call on (the list links them newest first). Most recipes are short: their steps
    // are listed without allocating.
    void steps(const Recipe* newest) {
        constexpr std::size_t inline_steps = 16;
        const recipe::Step* few[inline_steps];
        std::vector<const recipe::Step*> many;
        std::size_t n = 0;
        for (const Recipe* r = newest; r; r = r->parent.get()) {
            if (n == inline_steps) many.assign(few, few + n);
            if (n >= inline_steps) many.push_back(&r->step);
            else few[n] = &r->step;
            ++n;
        }
        const recipe::Step* const* list = n > inline_steps ? many.data() : few;
        for (std::size_t i = n; i-- > 0;) std::visit([this](const auto& s) { step(s); }, *list[i]);
    }

    // Elements of a list are separated by one space; a list starts with its head word.
    void separate() { separate(out); }
    void open(std::string_view head) {
        separate();
        out += '(';
        out += head;
    }
    void close() { out += ')'; }
    void atom(std::string_view a) {
        separate();
        out += a;
    }
    void string(std::string_view s) {
        separate();
        out += '"';
        if (mode == Mode::shape) {  // a key, never read back: its length and bytes, with no scan for escapes
            const std::uint64_t n = s.size();
            out.append(reinterpret_cast<const char*>(&n), sizeof n);
            out += s;
            return;
        }
        auto plain = [](char ch) {
            auto u = static_cast<unsigned char>(ch);
            return ch != '"' && ch != '\\' && u >= 0x20 && u < 0x7f;
        };
        if (std::all_of(s.begin(), s.end(), plain)) {  // most names: as they are
            out += s;
            out += '"';
            return;
        }
        for (char ch : s) {
            auto u = static_cast<unsigned char>(ch);
            if (ch == '"' || ch == '\\') {
                out += '\\';
                out += ch;
            } else if (u < 0x20 || u >= 0x7f) {  // the text stays printable ASCII, safe in any transport
                out += fmt::format("\\x{:02x}", u);
            } else {
                out += ch;
            }
        }
        out += '"';
    }
    void strings(const std::vector<std::string>& names) {
        for (const auto& n : names) string(n);
    }
    void nested_query(const sql::Query& q) { query(q); }

    void condition(const Q& q) {
        if (q.negated()) {
            open("not");
            condition_body(q);
            close();
        } else {
            condition_body(q);
        }
    }
    void condition_body(const Q& q) {
        if (const auto& leaf = q.leaf()) {
            if (leaf->condition) {
                open("condition");
                expression(*leaf->value.expression);
            } else {
                open("lookup");
                string(leaf->path());
                operand(leaf->value);
            }
            close();
            return;
        }
        open(q.connector() == Q::Connector::and_ ? "and" : q.connector() == Q::Connector::or_ ? "or" : "xor");
        for (const auto& child : q.children()) condition(child);
        close();
    }

    void operand(const Operand& op) {
        switch (op.kind) {
            case Operand::Kind::value: value(op.value); break;
            case Operand::Kind::list:
                open("list");
                for (const auto& v : op.list) value(v);
                close();
                break;
            case Operand::Kind::expression:
                open("expr");
                expression(*op.expression);
                close();
                break;
            case Operand::Kind::subquery: nested_query(*op.subquery); break;
        }
    }

    void expression(const ExprNode& n) {
        using K = ExprNode::Kind;
        // A type given with output_field / ExpressionWrapper (or by the function itself, as Length's): loads()
        // applies it with ExpressionWrapper, which sets nothing else.
        const bool wrapped = n.output && n.kind != K::cast;
        if (wrapped) {
            open("output");
            atom(kind_atom(*n.output));
        }
        switch (n.kind) {
            case K::value:
                open("value");
                value(n.value);
                close();
                break;
            case K::ref:
                open("F");
                string(n.name);
                close();
                break;
            case K::star:  // Count("*"): Count turns F("*") into it again
                open("F");
                string("*");
                close();
                break;
            case K::outer_ref:
                open("OuterRef");
                if (n.args.empty()) string(n.name);
                else expression(*n.args[0]);  // OuterRef(OuterRef(...))
                close();
                break;
            case K::binary:
                if (std::find(std::begin(binary_operators), std::end(binary_operators), n.name) == std::end(binary_operators) ||
                    n.args.size() != 2)
                    throw NotSupportedError(fmt::format("dorm: dumps(): the operator '{}' cannot be serialised", n.name));
                open("op");
                string(n.name);
                expression(*n.args[0]);
                expression(*n.args[1]);
                close();
                break;
            case K::func: {
                if (n.label.empty() && n.name == "POWER" && n.args.size() == 2) {  // pow(): Python's **
                    open("op");
                    string("**");
                    expression(*n.args[0]);
                    expression(*n.args[1]);
                    close();
                    break;
                }
                // Only dorm's own functions (dorm/functions.hpp, which carry Django's class name), so that a text
                // cannot call any SQL function.
                if (n.label.empty() || !dorm::detail::find_function(n.name))
                    throw NotSupportedError(fmt::format(
                        "dorm: dumps(): Func('{}') cannot be serialised: loads() calls only dorm's own database functions "
                        "(dorm/functions.hpp) and pow(), so that a text cannot call any SQL function",
                        n.name));
                open("Func");
                string(n.name);
                for (std::size_t i = 0; i < n.args.size(); ++i) {
                    if (zone_argument(n, i)) {  // part of the shape (zone_argument()): written as itself
                        open("value");
                        literal(n.args[i]->value);
                        close();
                    } else {
                        expression(*n.args[i]);
                    }
                }
                close();
                break;
            }
            case K::aggregate: aggregate(n); break;
            case K::case_:
                if (n.predicate) {  // annotate(good=Q(...))
                    open("Q");
                    condition(*n.conditions.at(0));
                    close();
                    break;
                }
                open("Case");
                for (std::size_t i = 0; i < n.conditions.size() && i < n.args.size(); ++i) {
                    open("When");
                    condition(*n.conditions[i]);
                    expression(*n.args[i]);
                    close();
                }
                if (n.fallback) {
                    open("default");
                    expression(*n.fallback);
                    close();
                }
                close();
                break;
            case K::cast:
                open("Cast");
                expression(*n.args.at(0));
                atom(kind_atom(n.output.value_or(FieldKind::text)));
                close();
                break;
            case K::subquery:
            case K::exists:
                open(n.kind == K::subquery ? "Subquery" : "Exists");
                nested_query(*n.query);
                close();
                break;
            case K::filtered_relation:
                open("FilteredRelation");
                string(n.name);
                condition(*n.filter);
                close();
                break;
            case K::raw:
                throw NotSupportedError("dorm: dumps(): RawSQL cannot be serialised: loads() never takes SQL from the text");
            case K::window: window(n); break;
        }
        if (wrapped) close();
    }

    // (Window expression (partition_by e ...) (order_by (asc e) (desc e nulls_last) ...)
    //  (frame rows|range start|unbounded end|unbounded [current_row|group|ties|no_others]))
    void window(const ExprNode& n) {
        const auto& spec = *n.window;
        open("Window");
        expression(*n.args.at(0));
        if (!spec.partition_by.empty()) {
            open("partition_by");
            for (const auto& p : spec.partition_by) expression(*p);
            close();
        }
        if (!spec.order_by.empty()) {
            open("order_by");
            for (const auto& t : spec.order_by) {
                open(t.descending ? "desc" : "asc");
                expression(*t.expression.node());
                if (t.nulls_first) atom("nulls_first");
                if (t.nulls_last) atom("nulls_last");
                close();
            }
            close();
        }
        if (spec.frame) {
            const auto& f = *spec.frame;
            open("frame");
            atom(f.type() == WindowFrame::Type::rows ? "rows" : "range");
            for (const auto& bound : {f.start(), f.end()}) atom(bound ? std::to_string(*bound) : std::string("unbounded"));
            if (f.exclusion()) atom(window_exclusions[static_cast<std::size_t>(*f.exclusion())]);
            close();
        }
        close();
    }

    void aggregate(const ExprNode& n) {
        // The registered aggregates, by Django's class name (what the text holds): their arguments, then the options.
        const auto* spec = find_aggregate(n.label);
        bool sample = spec && !spec->sample_name.empty() && n.name == spec->sample_name;
        if (!spec || (n.name != spec->name && !sample) || n.args.size() != spec->args)
            throw NotSupportedError(fmt::format("dorm: dumps(): the aggregate {} ({}) cannot be serialised", n.label, n.name));
        open("aggregate");
        string(n.label);
        for (const auto& arg : n.args) expression(*arg);
        if (n.distinct) atom("distinct");
        if (sample) atom("sample");
        if (n.filter) {
            open("filter");
            condition(*n.filter);
            close();
        }
        if (n.fallback) {
            open("default");
            expression(*n.fallback);
            close();
        }
        if (!n.ordering.empty()) {
            open("order_by");
            for (const auto& [e, descending] : n.ordering) {
                open(descending ? "desc" : "asc");
                expression(*e);
                close();
            }
            close();
        }
        if (n.label == "StringAgg") {
            open("delimiter");
            string(n.value.holds<std::string>() ? n.value.as<std::string>() : std::string());
            close();
        }
        close();
    }

    void items(const std::vector<NamedExpr>& list) {
        for (const auto& item : list) {
            if (!item.expr) {
                string(item.name);
            } else if (item.name.empty()) {
                open("anonymous");
                expression(*item.expr->node());
                close();
            } else {
                open("as");
                string(item.name);
                expression(*item.expr->node());
                close();
            }
        }
    }

    void step(const recipe::Root&) {}
    void step(const recipe::Unrecorded&) {}
    void step(const recipe::Filter& s) {
        open("filter");
        condition(s.condition);
        close();
    }
    void step(const recipe::OrderBy& s) {
        open("order_by");
        for (const auto& t : s.terms) {
            if (!t.expression) {
                string(t.name);
                continue;
            }
            open(t.expression->descending ? "desc" : "asc");
            expression(*t.expression->expression.node());
            if (t.expression->nulls_first) atom("nulls_first");
            if (t.expression->nulls_last) atom("nulls_last");
            close();
        }
        close();
    }
    void step(const recipe::Reverse&) {
        open("reverse");
        close();
    }
    void step(const recipe::Distinct& s) {
        open("distinct");
        strings(s.fields);
        close();
    }
    void step(const recipe::Lock& s) {
        open("select_for_update");
        if (s.options.nowait) atom("nowait");
        if (s.options.skip_locked) atom("skip_locked");
        if (s.options.no_key) atom("no_key");
        if (!s.options.of.empty()) {
            open("of");
            strings(s.options.of);
            close();
        }
        close();
    }
    void step(const recipe::None&) {
        open("none");
        close();
    }
    void step(const recipe::Using& s) {
        open("using");
        string(s.alias);
        close();
    }
    void step(const recipe::Slice& s) {
        open("slice");
        atom(std::to_string(s.start));
        if (s.stop) atom(std::to_string(*s.stop));
        close();
    }
    void step(const recipe::SelectRelated& s) {
        using Mode = recipe::SelectRelated::Mode;
        open(s.mode == Mode::all ? "select_related_all" : s.mode == Mode::clear ? "select_related_clear" : "select_related");
        if (s.mode == Mode::names) strings(s.names);
        close();
    }
    void step(const recipe::PrefetchRelated& s) {
        open("prefetch_related");
        for (const auto& p : s.lookups) {
            if (!p.queryset) {
                string(p.lookup);
                continue;
            }
            open("Prefetch");
            string(p.lookup);
            nested_query(*p.queryset);
            string(p.to_attr);
            close();
        }
        close();
    }
    void step(const recipe::Defer& s) {
        open("defer");
        strings(s.fields);
        close();
    }
    void step(const recipe::Only& s) {
        open("only");
        strings(s.fields);
        close();
    }
    void step(const recipe::Annotate& s) {
        open(s.alias ? "alias" : "annotate");
        items(s.items);
        close();
    }
    void step(const recipe::Values& s) {
        open("values");
        items(s.items);
        close();
    }
    void step(const recipe::Dates& s) {
        open(s.datetimes ? "datetimes" : "dates");
        string(s.field);
        string(s.kind);
        string(s.order);
        if (s.datetimes) string(s.zone.empty() ? "UTC" : s.zone);
        close();
    }
    void step(const recipe::SetOperation& s) {
        auto it = std::find_if(std::begin(set_operations), std::end(set_operations),
                               [&](const auto& p) { return p.first == s.op; });
        if (it == std::end(set_operations))
            throw NotSupportedError(fmt::format("dorm: dumps(): the set operation {} cannot be serialised", s.op));
        open(it->second);
        for (const auto& part : s.others) nested_query(*part);
        close();
    }
    void step(const recipe::Combine& s) {
        open("combine");
        atom(s.connector == sql::Connector::and_ ? "and" : s.connector == sql::Connector::or_ ? "or" : "xor");
        nested_query(*s.other);
        close();
    }
};

// ---- Reading -------------------------------------------------------------------------------------------------

/// The text as a tree: lists of atoms (bare words), strings and integers.
struct Node {
    enum class Type { list, atom, string, integer };
    Type type = Type::list;
    std::string text;  // atom, string
    std::int64_t number = 0;
    std::vector<Node> items;
    std::size_t offset = 0;  // in the text, for error messages
};

[[noreturn]] inline void malformed(std::size_t offset, std::string_view what) {
    throw ValueError(fmt::format("dorm: loads(): malformed query text at offset {}: {}", offset, what));
}

class Parser {
public:
    explicit Parser(std::string_view text) : s_(text) {}

    Node document() {
        if (!s_.starts_with(format_tag))
            throw ValueError(fmt::format("dorm: loads(): not a dorm query: the text does not start with \"{}{}\"",
                                         format_tag, format_version));
        pos_ = format_tag.size();
        std::size_t digits = pos_;
        while (digits < s_.size() && std::isdigit(static_cast<unsigned char>(s_[digits]))) ++digits;
        std::string_view version = s_.substr(pos_, digits - pos_);
        if (version != std::to_string(format_version))
            throw ValueError(fmt::format("dorm: loads(): the text is in format \"{}{}\"; this version of dorm reads \"{}{}\"",
                                         format_tag, version.empty() ? "?" : version, format_tag, format_version));
        pos_ = digits;
        if (pos_ >= s_.size() || !space(s_[pos_])) malformed(pos_, "expected a space after the format tag");
        Node n = parse(0);
        skip_space();
        if (pos_ != s_.size()) malformed(pos_, "unexpected text after the query");
        return n;
    }

private:
    static bool space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }
    void skip_space() {
        while (pos_ < s_.size() && space(s_[pos_])) ++pos_;
    }

    Node parse(std::size_t depth) {
        skip_space();
        if (pos_ >= s_.size()) malformed(pos_, "unexpected end of the text");
        char c = s_[pos_];
        Node n;
        n.offset = pos_;
        if (c == '(') {
            if (depth >= max_depth)
                throw ValueError(fmt::format("dorm: loads(): the query text nests deeper than {} levels", max_depth));
            ++pos_;
            for (;;) {
                skip_space();
                if (pos_ >= s_.size()) malformed(n.offset, "a list is not closed with ')'");
                if (s_[pos_] == ')') {
                    ++pos_;
                    return n;
                }
                if (n.items.size() > max_list)
                    throw ValueError(fmt::format("dorm: loads(): a list in the query text has more than {} elements", max_list));
                n.items.push_back(parse(depth + 1));
            }
        }
        if (c == '"') {
            n.type = Node::Type::string;
            ++pos_;
            for (;;) {
                if (pos_ >= s_.size()) malformed(n.offset, "a string is not closed with '\"'");
                char ch = s_[pos_++];
                if (ch == '"') return n;
                if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f)
                    malformed(pos_ - 1, "a control character in a string (write it as \\xHH)");
                if (ch != '\\') {
                    n.text += ch;
                    continue;
                }
                if (pos_ >= s_.size()) malformed(pos_, "unexpected end of the text in an escape");
                char e = s_[pos_++];
                if (e == '"' || e == '\\') {
                    n.text += e;
                } else if (e == 'x') {
                    unsigned byte = 0;
                    auto r = pos_ + 2 <= s_.size() ? std::from_chars(s_.data() + pos_, s_.data() + pos_ + 2, byte, 16)
                                                   : std::from_chars_result{nullptr, std::errc::invalid_argument};
                    if (r.ec != std::errc() || r.ptr != s_.data() + pos_ + 2) malformed(pos_, "\\x needs two hexadecimal digits");
                    n.text += static_cast<char>(byte);
                    pos_ += 2;
                } else {
                    malformed(pos_ - 1, "unknown escape in a string (\\\", \\\\ and \\xHH are valid)");
                }
            }
        }
        if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) {
            n.type = Node::Type::integer;
            auto r = std::from_chars(s_.data() + pos_, s_.data() + s_.size(), n.number);
            if (r.ec == std::errc::result_out_of_range) malformed(pos_, "an integer out of the range of 64 bits");
            if (r.ec != std::errc()) malformed(pos_, "expected an integer");
            pos_ = static_cast<std::size_t>(r.ptr - s_.data());
            if (pos_ < s_.size() && !space(s_[pos_]) && s_[pos_] != ')' && s_[pos_] != '(')
                malformed(pos_, "expected an integer");
            return n;
        }
        if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
            n.type = Node::Type::atom;
            while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_'))
                n.text += s_[pos_++];
            return n;
        }
        auto u = static_cast<unsigned char>(c);
        malformed(pos_, std::isprint(u) ? fmt::format("unexpected '{}'", c) : fmt::format("unexpected byte 0x{:02x}", u));
    }

    std::string_view s_;
    std::size_t pos_ = 0;
};

inline std::string_view type_name(Node::Type t) {
    switch (t) {
        case Node::Type::list: return "a list";
        case Node::Type::atom: return "a word";
        case Node::Type::string: return "a string";
        case Node::Type::integer: return "an integer";
    }
    return "?";
}

/// The head word of a list: `filter` in (filter ...).
inline std::string_view head(const Node& n) {
    if (n.type != Node::Type::list || n.items.empty() || n.items[0].type != Node::Type::atom)
        malformed(n.offset, fmt::format("expected a list starting with a word, found {}",
                                        n.type == Node::Type::list ? "an empty list" : type_name(n.type)));
    return n.items[0].text;
}
/// The arguments of (head arg ...): exactly `count` of them, or at least `count` when `at_least`.
inline std::span<const Node> args(const Node& n, std::size_t count, bool at_least = false) {
    std::size_t have = n.items.size() - 1;
    if (at_least ? have < count : have != count)
        malformed(n.offset, fmt::format("({} ...) takes {}{} argument{}, not {}", head(n), at_least ? "at least " : "", count,
                                        count == 1 ? "" : "s", have));
    return std::span<const Node>(n.items).subspan(1);
}
inline const std::string& text(const Node& n, std::string_view what) {
    if (n.type != Node::Type::string)
        malformed(n.offset, fmt::format("expected {} (a string), found {}", what, type_name(n.type)));
    return n.text;
}
inline std::int64_t integer(const Node& n, std::string_view what) {
    if (n.type != Node::Type::integer)
        malformed(n.offset, fmt::format("expected {} (an integer), found {}", what, type_name(n.type)));
    return n.number;
}
inline std::string_view word(const Node& n, std::string_view what) {
    if (n.type != Node::Type::atom) malformed(n.offset, fmt::format("expected {} (a word), found {}", what, type_name(n.type)));
    return n.text;
}
inline std::vector<std::string> texts(std::span<const Node> nodes, std::string_view what) {
    std::vector<std::string> out;
    for (const auto& n : nodes) out.push_back(text(n, what));
    return out;
}
inline FieldKind kind(const Node& n) {
    std::string_view w = word(n, "a field type");
    for (const auto& [k, atom] : kinds)
        if (atom == w) return k;
    malformed(n.offset, fmt::format("unknown field type '{}'", w));
}

inline Value value(const Node& n) {
    switch (n.type) {
        case Node::Type::integer: return Value(n.number);
        case Node::Type::string: return Value(n.text);
        case Node::Type::atom:
            if (n.text == "null") return Value();
            if (n.text == "true") return Value(true);
            if (n.text == "false") return Value(false);
            malformed(n.offset, fmt::format("'{}' is not a value (null, true, false, a number, a string, or a tagged "
                                            "list)", n.text));
        case Node::Type::list: break;
    }
    std::string_view tag = head(n);
    if (tag == "float") {
        const std::string& t = text(args(n, 1)[0], "a number");
        double d = 0;
        auto r = std::from_chars(t.data(), t.data() + t.size(), d);
        if (t.empty() || r.ec != std::errc() || r.ptr != t.data() + t.size())
            malformed(n.offset, fmt::format("'{}' is not a number", t));
        return Value(d);
    }
    if (tag == "bytes") {
        const std::string& hex = text(args(n, 1)[0], "hexadecimal bytes");
        if (hex.size() % 2) malformed(n.offset, "bytes need two hexadecimal digits each");
        Bytes out;
        for (std::size_t i = 0; i < hex.size(); i += 2) {
            unsigned b = 0;
            auto r = std::from_chars(hex.data() + i, hex.data() + i + 2, b, 16);
            if (r.ec != std::errc() || r.ptr != hex.data() + i + 2) malformed(n.offset, "bytes need two hexadecimal digits each");
            out.push_back(static_cast<std::byte>(b));
        }
        return Value(std::move(out));
    }
    if (tag == "date") {
        std::int64_t days = integer(args(n, 1)[0], "days since 1970-01-01");
        if (days < Date::min_days || days > Date::max_days) malformed(n.offset, "a date outside years 1..9999");
        return Value(Date(std::chrono::sys_days(std::chrono::days(days))));
    }
    if (tag == "datetime") {
        std::int64_t us = integer(args(n, 1)[0], "microseconds since 1970-01-01 00:00 UTC");
        if (us < min_datetime_us || us > max_datetime_us) malformed(n.offset, "a datetime outside years 1..9999");
        return Value(DateTime(DateTime::time_point(std::chrono::microseconds(us))));
    }
    if (tag == "time") {
        std::int64_t us = integer(args(n, 1)[0], "microseconds since midnight");
        if (us < 0 || us >= day_us) malformed(n.offset, "a time outside 00:00 .. 24:00");
        return Value(Time(std::chrono::microseconds(us)));
    }
    if (tag == "duration") return Value(Duration(integer(args(n, 1)[0], "microseconds")));
    if (tag == "array") {
        std::vector<Value> elements;
        for (const auto& e : args(n, 0, true)) elements.push_back(value(e));
        return Value(Array(std::move(elements)));
    }
    malformed(n.offset, fmt::format("unknown value type '{}'", tag));
}

/// The name and table of a (query ...) list's model.
inline std::pair<std::string_view, std::string_view> query_model(const Node& n) {
    if (head(n) != "query") malformed(n.offset, fmt::format("expected (query ...), found ({} ...)", head(n)));
    auto a = args(n, 2, true);
    return {text(a[0], "the model's name"), text(a[1], "the model's table")};
}

/// What dumps() compares between a query and the one its text loads: the statement on every registered backend
/// (values written exactly), and what is not in it.
inline void fingerprint(const sql::Query& q, std::string& out) {
    Writer w;
    for (const backends::Backend* b : backends::backend_registry()) {
        w.out += b->vendor;
        try {
            auto c = sql::compile_select(q, b->dialect());
            w.out += c.nothing ? " nothing\n" : "\n";
            w.out += c.sql;
            for (const auto& p : c.params) w.value(p);
        } catch (const Error& e) {
            w.out += " error\n";
            w.out += e.what();
        }
        w.out += '\n';
    }
    w.out += fmt::format("db {} {}\nvalues {}\n", q.db ? *q.db : std::string("(routed)"), q.for_write, q.values_mode);
    for (const auto& v : q.values) w.out += v.name + '\n';
    if (q.lock) {
        w.out += fmt::format("lock {} {} {}", q.lock->nowait, q.lock->skip_locked, q.lock->no_key);
        for (const auto& of : q.lock->of) w.out += ' ' + of;
        w.out += '\n';
    }
    out += w.out;
    for (const auto& p : q.prefetch) {
        out += fmt::format("prefetch {} {}\n", p.lookup, p.to_attr);
        if (p.queryset) fingerprint(*p.queryset, out);
    }
}

}  // namespace serial

/// Replays a text's steps through QuerySet methods (the friend of QuerySet that loads() is).
class Replayer {
public:
    explicit Replayer(const ModelMeta& root) : root_(root) {}

    /// The query of a (query NAME TABLE step...) list: `expected` its model, or any model related to the root's.
    std::shared_ptr<const sql::Query> query(const serial::Node& n, const ModelMeta* expected) {
        auto [name, table] = serial::query_model(n);
        const ModelMeta* model = expected;
        if (model && (model->name != name || model->db_table != table))
            throw ValueError(fmt::format("dorm: loads(): the text holds a query of {} (table '{}'), not of {} (table '{}')",
                                         name, table, model->name, model->db_table));
        if (!model) model = &related_model(n, name, table);
        auto base = dorm::detail::make_node<sql::Query>();
        base->model = model;
        base->recipe = recipe_root();
        QuerySet<Row> qs{std::shared_ptr<const sql::Query>(std::move(base))};
        for (std::size_t i = 3; i < n.items.size(); ++i) {
            if (++calls_ > serial::max_calls)
                throw ValueError(fmt::format("dorm: loads(): the text has more than {} QuerySet calls", serial::max_calls));
            qs = step(qs, n.items[i]);
        }
        return qs.query_;
    }

private:
    using Node = serial::Node;

    QuerySet<Row> step(const QuerySet<Row>& qs, const Node& n) {
        std::string_view h = serial::head(n);
        if (h == "filter") return qs.filter(condition(serial::args(n, 1)[0]));
        if (h == "order_by") {
            std::vector<OrderTerm<void>> terms;
            for (const auto& t : serial::args(n, 0, true)) {
                if (t.type == Node::Type::string) terms.emplace_back(std::string_view(t.text));
                else terms.emplace_back(order_expression(t));
            }
            std::vector<detail::OrderTermRef> refs;
            for (const auto& t : terms) refs.push_back(t.ref());
            return qs.order_by_terms(std::span<const detail::OrderTermRef>(refs));
        }
        if (h == "reverse") {
            (void)serial::args(n, 0);
            return qs.reverse();
        }
        if (h == "distinct") {
            auto fields = serial::texts(serial::args(n, 0, true), "a field name");
            return fields.empty() ? qs.distinct() : qs.distinct_fields(std::move(fields));
        }
        if (h == "select_for_update") {
            SelectForUpdate o;
            for (const auto& a : serial::args(n, 0, true)) {
                if (a.type == Node::Type::list && serial::head(a) == "of") {
                    o.of = serial::texts(serial::args(a, 0, true), "a field name");
                    continue;
                }
                std::string_view w = serial::word(a, "a select_for_update option");
                if (w == "nowait") o.nowait = true;
                else if (w == "skip_locked") o.skip_locked = true;
                else if (w == "no_key") o.no_key = true;
                else serial::malformed(a.offset, fmt::format("unknown select_for_update option '{}'", w));
            }
            return qs.select_for_update(o);
        }
        if (h == "none") {
            (void)serial::args(n, 0);
            return qs.none();
        }
        if (h == "using") return qs.using_(serial::text(serial::args(n, 1)[0], "a database alias"));
        if (h == "slice") {
            auto a = serial::args(n, 1, true);
            if (a.size() > 2) serial::malformed(n.offset, "(slice ...) takes a start and an optional stop");
            std::optional<std::int64_t> stop;
            if (a.size() == 2) stop = serial::integer(a[1], "the slice's stop");
            return qs.slice(serial::integer(a[0], "the slice's start"), stop);
        }
        using Mode = recipe::SelectRelated::Mode;
        if (h == "select_related")
            return qs.select_related_names(Mode::names, serial::texts(serial::args(n, 1, true), "a relation"));
        if (h == "select_related_all" || h == "select_related_clear") {
            (void)serial::args(n, 0);
            return h == "select_related_all" ? qs.select_related_names(Mode::all, {}) : qs.select_related(nullptr);
        }
        if (h == "prefetch_related") {
            std::vector<sql::PrefetchSpec> specs;
            for (const auto& a : serial::args(n, 0, true)) {
                if (a.type == Node::Type::string) {
                    specs.push_back(Prefetch(a.text).spec());
                    continue;
                }
                if (serial::head(a) != "Prefetch") serial::malformed(a.offset, "expected a lookup or (Prefetch ...)");
                auto p = serial::args(a, 3);
                QuerySet<Row> nested(query(p[1], nullptr));
                specs.push_back(Prefetch(serial::text(p[0], "a lookup"), nested, serial::text(p[2], "to_attr")).spec());
            }
            return qs.prefetch_specs(std::move(specs));
        }
        if (h == "defer") return qs.defer_fields(serial::texts(serial::args(n, 0, true), "a field name"));
        if (h == "only") return qs.only_fields(serial::texts(serial::args(n, 0, true), "a field name"));
        if (h == "annotate" || h == "alias") return qs.annotate_items(items(serial::args(n, 0, true)), h == "alias");
        if (h == "values") return QuerySet<Row>(qs.values_query(items(serial::args(n, 0, true))));
        if (h == "dates") {
            auto a = serial::args(n, 3);
            return QuerySet<Row>(
                qs.dates(serial::text(a[0], "a field"), serial::text(a[1], "a kind"), serial::text(a[2], "an order")).query_);
        }
        if (h == "datetimes") {
            auto a = serial::args(n, 4);
            return QuerySet<Row>(qs.datetimes(serial::text(a[0], "a field"), serial::text(a[1], "a kind"),
                                              serial::text(a[2], "an order"), serial::text(a[3], "a time zone")).query_);
        }
        for (const auto& [op, atom] : serial::set_operations) {
            if (h != atom) continue;
            std::vector<std::shared_ptr<const sql::Query>> parts;
            for (const auto& a : serial::args(n, 1, true)) parts.push_back(query(a, nullptr));
            return qs.combined(op, std::move(parts));
        }
        if (h == "combine") {
            auto a = serial::args(n, 2);
            std::string_view c = serial::word(a[0], "and, or or xor");
            sql::Connector connector = c == "and" ? sql::Connector::and_ : c == "or" ? sql::Connector::or_ : sql::Connector::xor_;
            if (c != "and" && c != "or" && c != "xor") serial::malformed(a[0].offset, fmt::format("unknown connector '{}'", c));
            return QuerySet<Row>::combine(qs, QuerySet<Row>(query(a[1], qs.query_->model)), connector);
        }
        serial::malformed(n.offset, fmt::format("unknown QuerySet method '{}'", h));
    }

    Q condition(const Node& n) {
        std::string_view h = serial::head(n);
        if (h == "not") return ~condition(serial::args(n, 1)[0]);
        if (h == "lookup") {
            auto a = serial::args(n, 2);
            return Q(serial::text(a[0], "a lookup path"), operand(a[1]));
        }
        if (h == "condition") return Q(expression(serial::args(n, 1)[0]));
        if (h == "and" || h == "or" || h == "xor") {
            std::vector<Q> level;
            for (const auto& child : serial::args(n, 0, true)) level.push_back(condition(child));
            if (level.empty()) return Q();
            // Combined pairwise, level by level: the same flattened node as a & b & c ... (the operators flatten either
            // way), in N log N copies of the children rather than N squared.
            while (level.size() > 1) {
                std::vector<Q> next;
                for (std::size_t i = 0; i + 1 < level.size(); i += 2)
                    next.push_back(h == "and"  ? level[i] & level[i + 1]
                                   : h == "or" ? level[i] | level[i + 1]
                                               : level[i] ^ level[i + 1]);
                if (level.size() % 2) next.push_back(std::move(level.back()));
                level = std::move(next);
            }
            return std::move(level.front());
        }
        serial::malformed(n.offset, fmt::format("unknown condition '{}'", h));
    }

    Operand operand(const Node& n) {
        Operand op;
        if (n.type != Node::Type::list) {
            op.value = serial::value(n);
            return op;
        }
        std::string_view h = serial::head(n);
        if (h == "list") {
            op.kind = Operand::Kind::list;
            for (const auto& v : serial::args(n, 0, true)) op.list.push_back(serial::value(v));
        } else if (h == "expr") {
            op.kind = Operand::Kind::expression;
            op.expression = expression(serial::args(n, 1)[0]).node();
        } else if (h == "query") {
            op.kind = Operand::Kind::subquery;
            op.subquery = query(n, nullptr);
        } else {
            op.value = serial::value(n);
        }
        return op;
    }

    Expression expression(const Node& n) {
        std::string_view h = serial::head(n);
        if (h == "value") return Expression(serial::value(serial::args(n, 1)[0]));
        if (h == "F") return F(serial::text(serial::args(n, 1)[0], "a field path"));
        if (h == "OuterRef") {
            const auto& a = serial::args(n, 1)[0];
            if (a.type == Node::Type::list) return OuterRef(expression(a));
            return OuterRef(serial::text(a, "a field path"));
        }
        if (h == "output") {
            auto a = serial::args(n, 2);
            return ExpressionWrapper(expression(a[1]), serial::kind(a[0]));
        }
        if (h == "op") {
            auto a = serial::args(n, 3);
            const std::string& op = serial::text(a[0], "an operator");
            Expression l = expression(a[1]), r = expression(a[2]);
            if (op == "+") return l + r;
            if (op == "-") return l - r;
            if (op == "*") return l * r;
            if (op == "/") return l / r;
            if (op == "%") return l % r;
            if (op == "**") return pow(l, r);
            serial::malformed(a[0].offset, fmt::format("unknown operator '{}'", op));
        }
        if (h == "Func") {
            auto a = serial::args(n, 1, true);
            const std::string& name = serial::text(a[0], "a function name");
            const auto* spec = find_function(name);
            if (!spec)
                serial::malformed(a[0].offset, fmt::format("the function '{}' is not one loads() calls (those of "
                                                           "dorm/functions.hpp, by their SQL name: LOWER, CONCAT, ...)", name));
            if (a.size() - 1 < spec->min_args || a.size() - 1 > spec->max_args)
                serial::malformed(n.offset, fmt::format("{} takes {} argument(s), not {}", name, argument_count(*spec),
                                                        a.size() - 1));
            std::vector<ExprNodePtr> nodes;
            for (const auto& arg : a.subspan(1)) nodes.push_back(expression(arg).node());
            return Expression(call_function(name, std::move(nodes)));  // its own checks (Collate's name, ...)
        }
        if (h == "aggregate") return aggregate(n);
        if (h == "Q") return condition_expression(condition(serial::args(n, 1)[0]));
        if (h == "Case") {  // Case()'s node, from When()s (which check their conditions)
            auto node = dorm::detail::make_node<ExprNode>();
            node->kind = ExprNode::Kind::case_;
            for (const auto& a : serial::args(n, 0, true)) {
                std::string_view w = serial::head(a);
                if (w == "default" && !node->fallback) {
                    node->fallback = expression(serial::args(a, 1)[0]).node();
                } else if (w == "When" && !node->fallback) {
                    auto wa = serial::args(a, 2);
                    When when(condition(wa[0]), ExprArg(expression(wa[1])));
                    node->conditions.push_back(when.condition());
                    node->args.push_back(when.then());
                } else {
                    serial::malformed(a.offset, "Case takes (When ...) lists, then an optional (default ...)");
                }
            }
            return Expression(std::move(node));
        }
        if (h == "Cast") {
            auto a = serial::args(n, 2);
            return Cast(ExprArg(expression(a[0])), serial::kind(a[1]));
        }
        if (h == "Window") return window(n);
        if (h == "Subquery") return Subquery(QuerySet<Row>(query(serial::args(n, 1)[0], nullptr)));
        if (h == "Exists") return Exists(QuerySet<Row>(query(serial::args(n, 1)[0], nullptr)));
        if (h == "FilteredRelation") {
            auto a = serial::args(n, 2);
            return FilteredRelation(serial::text(a[0], "a relation"), condition(a[1]));
        }
        serial::malformed(n.offset, fmt::format("unknown expression '{}'", h));
    }

    Expression aggregate(const Node& n) {
        auto a = serial::args(n, 2, true);
        const std::string& label = serial::text(a[0], "an aggregate");
        const auto* spec = find_aggregate(label);
        if (!spec) serial::malformed(a[0].offset, fmt::format("unknown aggregate '{}'", label));
        if (a.size() < 1 + spec->args)
            serial::malformed(n.offset, fmt::format("{} takes {} argument(s)", label, spec->args));
        std::vector<ExprArg> args;
        for (std::size_t i = 1; i <= spec->args; ++i) args.emplace_back(expression(a[i]));
        AggregateOptions o;
        std::optional<std::string> delimiter;
        for (const auto& x : a.subspan(1 + spec->args)) {
            if (x.type == Node::Type::atom && x.text == "distinct") {
                o.distinct = true;
                continue;
            }
            if (x.type == Node::Type::atom && x.text == "sample") {
                o.sample = true;
                continue;
            }
            std::string_view w = serial::head(x);
            if (w == "filter") {
                o.filter = condition(serial::args(x, 1)[0]);
            } else if (w == "default") {
                o.default_ = expression(serial::args(x, 1)[0]);
            } else if (w == "order_by") {
                for (const auto& t : serial::args(x, 0, true)) o.order_by.emplace_back(order_expression(t));
            } else if (w == "delimiter") {
                delimiter = serial::text(serial::args(x, 1)[0], "a delimiter");
            } else {
                serial::malformed(x.offset, fmt::format("unknown aggregate option '{}'", w));
            }
        }
        if (delimiter.has_value() != (label == "StringAgg"))
            serial::malformed(n.offset, "StringAgg, and only StringAgg, takes a (delimiter ...)");
        // The public constructors, which check the options as they do for users.
        if (label == "Count") return Count(args[0], o);
        if (label == "StringAgg") return StringAgg(args[0], *delimiter, o);
        return detail::aggregate(label, std::move(args), o);
    }

    Expression window(const Node& n) {
        auto a = serial::args(n, 1, true);
        Expression source = expression(a[0]);
        WindowOptions o;
        for (const auto& x : a.subspan(1)) {
            std::string_view w = serial::head(x);
            if (w == "partition_by") {
                for (const auto& p : serial::args(x, 1, true)) o.partition_by.emplace_back(expression(p));
            } else if (w == "order_by") {
                for (const auto& t : serial::args(x, 1, true)) o.order_by.emplace_back(order_expression(t));
            } else if (w == "frame") {
                auto f = serial::args(x, 3, true);
                if (f.size() > 4) serial::malformed(x.offset, "(frame ...) takes rows or range, a start, an end and an exclusion");
                auto bound = [](const Node& b) -> std::optional<std::int64_t> {
                    if (b.type == Node::Type::atom && b.text == "unbounded") return std::nullopt;
                    return serial::integer(b, "a frame bound or unbounded");
                };
                std::optional<WindowFrameExclusion> exclusion;
                if (f.size() == 4) {
                    std::string_view e = serial::word(f[3], "a frame exclusion");
                    const auto& names = serial::window_exclusions;
                    auto at = std::find(std::begin(names), std::end(names), e);
                    if (at == std::end(names)) serial::malformed(f[3].offset, fmt::format("unknown frame exclusion '{}'", e));
                    exclusion = static_cast<WindowFrameExclusion>(at - std::begin(names));
                }
                std::string_view type = serial::word(f[0], "rows or range");
                // The public constructors, which check the bounds as they do for users.
                if (type == "rows") o.frame = RowRange(bound(f[1]), bound(f[2]), exclusion);
                else if (type == "range") o.frame = ValueRange(bound(f[1]), bound(f[2]), exclusion);
                else serial::malformed(f[0].offset, fmt::format("unknown frame type '{}' (rows or range)", type));
            } else {
                serial::malformed(x.offset, fmt::format("unknown Window option '{}'", w));
            }
        }
        return Window(source, o);  // which checks the expression as it does for users
    }

    OrderByExpression order_expression(const Node& n) {
        std::string_view h = serial::head(n);
        if (h != "asc" && h != "desc") serial::malformed(n.offset, "expected a name, (asc ...) or (desc ...)");
        auto a = serial::args(n, 1, true);
        NullsOrder nulls;
        for (const auto& x : a.subspan(1)) {
            std::string_view w = serial::word(x, "nulls_first or nulls_last");
            if (w == "nulls_first") nulls.nulls_first = true;
            else if (w == "nulls_last") nulls.nulls_last = true;
            else serial::malformed(x.offset, fmt::format("unknown ordering option '{}'", w));
        }
        Expression e = expression(a[0]);
        return h == "asc" ? e.asc(nulls) : e.desc(nulls);
    }

    std::vector<NamedExpr> items(std::span<const Node> nodes) {
        std::vector<NamedExpr> out;
        for (const auto& n : nodes) {
            if (n.type == Node::Type::string) {
                out.push_back(NamedExpr{n.text, std::nullopt});
                continue;
            }
            std::string_view h = serial::head(n);
            if (h == "as") {
                auto a = serial::args(n, 2);
                out.push_back(NamedExpr{serial::text(a[0], "a name"), expression(a[1])});
            } else if (h == "anonymous") {
                out.push_back(NamedExpr{{}, expression(serial::args(n, 1)[0])});
            } else {
                serial::malformed(n.offset, "expected a name, (as NAME expression) or (anonymous expression)");
            }
        }
        return out;
    }

    /// A model a nested query may be over: the root's, or one reached from it through relations (forward,
    /// reverse, many-to-many and their join tables). Only these: a text cannot name any model of the program.
    const ModelMeta& related_model(const Node& n, std::string_view name, std::string_view table) {
        if (reachable_.empty()) {
            reachable_.push_back(&root_);
            auto add = [&](const ModelMeta* m) {
                if (m && std::find(reachable_.begin(), reachable_.end(), m) == reachable_.end()) reachable_.push_back(m);
            };
            for (std::size_t i = 0; i < reachable_.size(); ++i) {  // breadth first; grows while it walks
                const ModelMeta& m = *reachable_[i];
                for (const auto& f : m.fields)
                    if (f.is_relation()) add(&f.related());
                for (const auto& r : m.related_objects) add(r.model);
                for (const auto& r : m.many_to_many) {
                    add(r.model);
                    add(r.through);
                }
            }
        }
        const ModelMeta* found = nullptr;
        for (const ModelMeta* m : reachable_) {
            if (m->name != name || m->db_table != table) continue;
            if (found)
                serial::malformed(n.offset, fmt::format("two models related to {} are named {} (table '{}')", root_.name,
                                                        name, table));
            found = m;
        }
        if (!found)
            throw ValueError(fmt::format("dorm: loads(): the text has a query of {} (table '{}'), which is neither {} nor "
                                         "a model related to it", name, table, root_.name));
        return *found;
    }

    const ModelMeta& root_;
    std::vector<const ModelMeta*> reachable_;
    std::size_t calls_ = 0;
};

DORM_DECL std::shared_ptr<const sql::Query> loads_query(const ModelMeta& model, std::string_view text) {
    serial::Node doc = serial::Parser(text).document();
    return Replayer(model).query(doc, &model);
}

DORM_DECL std::string dumps_query(const sql::Query& q) {
    serial::Writer w;
    w.out = fmt::format("{}{} ", serial::format_tag, serial::format_version);
    w.query(q);
    // Never hand out a text that loads into something else: load it back now and compare the statements (a state
    // changed outside QuerySet methods, or anything the steps miss, shows there).
    std::shared_ptr<const sql::Query> back;
    try {
        back = loads_query(*q.model, w.out);
    } catch (const Error& e) {
        throw NotSupportedError(fmt::format("dorm: dumps(): this {} QuerySet cannot be serialised: its text does not load "
                                            "back ({})", q.model->name, e.what()));
    }
    std::string original, loaded;
    serial::fingerprint(q, original);
    serial::fingerprint(*back, loaded);
    if (original != loaded)
        throw NotSupportedError(fmt::format("dorm: dumps(): this {} QuerySet cannot be serialised: its recorded calls do not "
                                            "rebuild the same query (was its state changed outside QuerySet methods?)",
                                            q.model->name));
    return std::move(w.out);
}

namespace serial {
using Pattern = backends::CompiledShape::Pattern;

/// The parameter a pattern lookup binds for `s` (lookups' escaping, within `p`'s wildcards).
inline std::string like_pattern(Pattern p, std::string_view s) {
    const bool before = p == Pattern::suffix || p == Pattern::contains, after = p == Pattern::prefix || p == Pattern::contains;
    return (before ? "%" : "") + lookups::detail::like_escape(s) + (after ? "%" : "");
}

/// The parameters of `shape` for a query whose shape values are `values`, into `out` (shape.slots.size() of them);
/// false when a value has no successor (a startswith range on "" or on "\xff..."), whose statement is another.
inline bool bind_shape(const backends::CompiledShape& shape, std::span<const Value* const> values, Value* out) {
    for (std::size_t i = 0; i < shape.slots.size(); ++i) {
        const std::int32_t s = shape.slots[i];
        if (s < 0) {
            out[i] = shape.constants[static_cast<std::size_t>(-1 - s)];
            continue;
        }
        const Value& v = *values[static_cast<std::size_t>(s)];
        const Pattern p = shape.patterns.empty() ? Pattern::none : shape.patterns[i];
        if (p == Pattern::none) {
            out[i] = v;
        } else if (p == Pattern::successor) {
            auto high = lookups::detail::prefix_successor(v.as<std::string>());
            if (!high) return false;
            out[i] = Value(std::move(*high));
        } else {
            out[i] = Value(like_pattern(p, v.as<std::string>()));
        }
    }
    return true;
}
}  // namespace serial

namespace serial {
/// Appends what shape_key() writes for `q`'s recipe to `out` and the values it writes as their class to `values`;
/// false when the recipe has no shape.
inline bool write_shape(const sql::Query& q, std::string& out, std::vector<const Value*>& values) {
    std::optional<std::uint64_t> generation;  // of the calls after objects(): all the same, or no shape
    for (const Recipe* r = q.recipe.get(); r; r = r->parent.get()) {
        if (std::holds_alternative<recipe::Unrecorded>(r->step)) return false;
        if (std::holds_alternative<recipe::Root>(r->step)) continue;
        if (generation && *generation != r->generation) return false;
        generation = r->generation;
    }
    const std::uint64_t built = generation.value_or(0);
    out.append(reinterpret_cast<const char*>(&built), sizeof built);
    Writer w;
    w.mode = Writer::Mode::shape;
    w.collected = &values;
    w.out.swap(out);
    bool ok = true;
    try {
        w.query(q);
    } catch (const NotSupportedError&) {  // RawSQL and the like: no text, so no shape
        ok = false;
    }
    w.out.swap(out);
    return ok;
}
}  // namespace serial

DORM_DECL bool expression_shape(const ExprNode& e, std::string& key, std::vector<const Value*>& values) {
    serial::Writer w;
    w.mode = serial::Writer::Mode::shape;
    w.collected = &values;
    w.out.swap(key);
    bool ok = true;
    try {
        w.expression_text(e);
    } catch (const NotSupportedError&) {
        ok = false;
    }
    w.out.swap(key);
    return ok;
}

DORM_DECL ExprNodePtr with_values(const ExprNode& e, std::span<const Value> values, std::size_t& next) {
    using K = ExprNode::Kind;
    auto copy = dorm::detail::make_node<ExprNode>(e);
    switch (e.kind) {
        case K::value:
            if (serial::shape_class(e.value)) {  // as Writer::value() collects it
                if (next >= values.size()) throw NotSupportedError("dorm: an expression holds more values than given");
                copy->value = values[next++];
            }
            break;
        case K::ref:
        case K::star: break;
        case K::binary:
        case K::func:
        case K::cast:  // their arguments, in the order Writer::expression() writes them
            if (e.filter || e.fallback || !e.ordering.empty() || !e.conditions.empty() || e.query || e.window)
                throw NotSupportedError("dorm: this expression's values cannot be replaced");
            for (std::size_t i = 0; i < copy->args.size(); ++i)
                if (!serial::zone_argument(e, i)) copy->args[i] = with_values(*copy->args[i], values, next);
            break;
        default: throw NotSupportedError("dorm: this expression's values cannot be replaced");
    }
    return copy;
}

namespace serial {
/// The state a QuerySet method may set on a copy of the query without recording it (get()'s limit, an index's
/// slice): part of the shape too, so that such a copy never meets the statement of the query it was copied from.
inline std::array<std::int64_t, backends::ShapeFingerprint::state_size> shape_state(const sql::Query& q) noexcept {
    auto n = [](std::size_t size) { return static_cast<std::int64_t>(size); };
    return {q.low,
            q.high ? *q.high : -1,
            (q.empty ? 1 : 0) | (q.default_ordering ? 2 : 0) | (q.standard_ordering ? 4 : 0) | (q.distinct ? 8 : 0) |
                (q.values_mode ? 16 : 0) | (q.for_write ? 32 : 0) | (q.lock ? 64 : 0) | (q.defer_loading ? 128 : 0) |
                (q.where ? 256 : 0) | (q.having ? 512 : 0) | (q.qualify ? 1024 : 0) |
                (static_cast<std::int64_t>(q.grouping) << 16),
            n(q.joins.size()), n(q.order_by.size()), n(q.distinct_fields.size()), n(q.annotations.size()),
            n(q.values.size()), n(q.group_by.size()), n(q.select_related.size()), n(q.prefetch.size()),
            n(q.filtered_relations.size()), n(q.extra_tables.size()), n(q.loading.size()), n(q.combined.size()),
            n(q.combinator.size())};
}
}  // namespace serial

DORM_DECL bool shape_key(const sql::Query& q, std::string& key, std::vector<const Value*>& values,
                         std::span<const Value* const> extra) {
    if (!q.recipe || !q.model) return false;
    // A query evaluated again keeps its text (written with its recipe, it holds for no other).
    const ShapeText* text = q.shape_memo.get();
    if (!text && q.shape_memo.asked_before()) {
        auto t = std::make_unique<ShapeText>();
        t->recipe = q.recipe;
        t->ok = serial::write_shape(q, t->text, t->values);
        text = q.shape_memo.keep(std::move(t));
    }
    if (text && text->recipe == q.recipe) {
        if (!text->ok) return false;
        key += text->text;
        values.insert(values.end(), text->values.begin(), text->values.end());
    } else if (!serial::write_shape(q, key, values)) {
        return false;
    }
    for (const Value* v : extra) {
        // A value of a class, as Writer::value() writes it in a shape (without a Writer: get(pk) passes here).
        if (const char* c = serial::shape_class(*v)) {
            serial::Writer::separate(key);
            key += c;
            values.push_back(v);
            continue;
        }
        serial::Writer w;
        w.mode = serial::Writer::Mode::shape;
        w.collected = &values;
        w.out.swap(key);
        w.value(*v);
        w.out.swap(key);
    }
    const auto state = serial::shape_state(q);
    key.append(reinterpret_cast<const char*>(state.data()), sizeof state);
    return true;
}

DORM_DECL backends::CompiledShape learn_shape(const sql::Query& source, std::span<const Value* const> values,
                                              const sql::Compiled& real, const ShapeBuild& build,
                                              std::span<const Value* const> extra) {
    backends::CompiledShape shape;  // not cacheable until shown to be
    shape.nothing = real.nothing;
    shape.sql = real.sql;
    std::vector<Value> changed;
    changed.reserve(values.size());
    for (std::size_t k = 0; k < values.size(); ++k) {
        auto c = serial::changed_value(*values[k], k);
        if (!c) return shape;
        changed.push_back(std::move(*c));
    }
    sql::Compiled other;
    try {
        serial::Writer w;
        w.mode = serial::Writer::Mode::replace;
        w.replacements = changed;
        w.out = fmt::format("{}{} ", serial::format_tag, serial::format_version);
        w.query(source);
        auto again = loads_query(*source.model, w.out);
        // The extra values, in their order: changed where they are values of the shape (the rest of `changed`),
        // as they are where the shape holds them (NULL, zero, ...).
        std::vector<Value> extra_values;
        extra_values.reserve(extra.size());
        std::size_t next = w.replaced;
        for (const Value* v : extra) {
            if (!serial::shape_class(*v)) extra_values.push_back(*v);
            else if (next < changed.size()) extra_values.push_back(changed[next++]);
            else return shape;
        }
        if (next != changed.size()) return shape;
        other = build(*again, extra_values);
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception&) {  // a changed value the query refuses: its statement depends on its values
        return shape;
    }
    if (other.nothing != real.nothing || other.sql != real.sql || other.params.size() != real.params.size())
        return shape;
    using Pattern = serial::Pattern;
    // Whether `bound` is `v` as a parameter with `p` (a pattern lookup's LIKE-escaped text: the changed strings
    // hold each character escaping changes, so an escaped value never passes for one bound as it is).
    auto binds = [](const Value& bound, const Value& v, Pattern p) {
        if (p == Pattern::none) return bound == v;
        const auto* s = std::get_if<std::string>(&v.variant());
        const auto* b = std::get_if<std::string>(&bound.variant());
        if (!s || !b) return false;
        if (p == Pattern::successor) {
            auto high = lookups::detail::prefix_successor(*s);
            return high && *b == *high;
        }
        return *b == serial::like_pattern(p, *s);
    };
    for (std::size_t i = 0; i < real.params.size(); ++i) {
        const Value& a = real.params[i];
        const Value& b = other.params[i];
        std::optional<std::size_t> slot;
        Pattern pattern = Pattern::none;
        for (Pattern p : {Pattern::none, Pattern::exact, Pattern::prefix, Pattern::suffix, Pattern::contains,
                          Pattern::successor})
            for (std::size_t j = 0; j < values.size(); ++j)
                if (binds(a, *values[j], p) && binds(b, changed[j], p)) {
                    if (slot) return shape;  // cannot tell which value it is, or how it is bound
                    slot = j;
                    pattern = p;
                }
        if (slot) {
            shape.slots.push_back(static_cast<std::int32_t>(*slot));
            if (pattern != Pattern::none) shape.patterns.resize(real.params.size(), Pattern::none);
            if (!shape.patterns.empty()) shape.patterns[i] = pattern;
            continue;
        }
        // Not a value of the shape: it must be the statement's own, the same whatever the values are.
        if (a != b) return shape;
        for (std::size_t j = 0; j < values.size(); ++j)
            if (*values[j] == a || changed[j] == a) return shape;
        shape.constants.push_back(a);
        shape.slots.push_back(-static_cast<std::int32_t>(shape.constants.size()));
    }
    shape.cacheable = true;
    return shape;
}

DORM_DECL void shaped_statement(const sql::Query& q, char kind, std::string_view name, backends::Connection& conn,
                                const ShapeBuild& build, ShapedStatement& out, std::span<const Value* const> extra,
                                bool shared) {
    // get(pk) in a loop: a shared query that kept its shape text and has no values of its own, one value, and a
    // recent statement that binds that value as it is. The path below gives the same answer (its recall() comes
    // first too); this one skips its setup, a few percent of a get(pk). Anything else goes on below.
    if (const ShapeText* text = q.shape_memo.get(); shared && extra.size() == 1 && text && text->ok &&
                                                     text->values.empty() && q.recipe && q.model &&
                                                     text->recipe == q.recipe) {
        const Value& v = *extra[0];
        const auto* s = std::get_if<std::string>(&v.variant());
        if (const char* extra_class = serial::shape_class(v); extra_class && !(s && s->find('\0') != std::string::npos)) {
            const backends::CompiledShape* shape = conn.shapes.recall(q.shape_memo.serial(), kind, name, extra_class,
                                                                      lookups::custom_generation());
            if (shape && shape->cacheable && shape->slots.size() == 1 && shape->slots[0] == 0 &&
                shape->patterns.empty()) {
                out.sql = shape->nothing ? nullptr : &shape->sql;
                out.params = std::span<const Value>(&v, 1);
                out.cached = true;
                out.hint = &shape->hint;
                conn.shapes.hit(true);
                return;
            }
        }
    }
    // Reused for their memory: a cached statement costs no allocation here.
    thread_local std::string key;
    thread_local std::vector<const Value*> values;
    key.clear();
    values.clear();
    const backends::Dialect* dialect = &conn.dialect();
    const ModelMeta* model = q.model;
    const std::uint64_t generation = lookups::custom_generation();  // a lookup registered since changes statements
    struct {
        const backends::Dialect* dialect;
        const ModelMeta* model;
        std::uint64_t generation;
        char kind;
    } prefix{dialect, model, generation, kind};
    std::span<const Value> extra_values;
    std::vector<Value> extra_copies;
    auto compile_now = [&] {
        if (!extra.empty()) {
            extra_copies.reserve(extra.size());
            for (const Value* v : extra) extra_copies.push_back(*v);
            extra_values = extra_copies;
        }
        const sql::Compiled& compiled = out.compiled.emplace(build(q, extra_values));
        out.sql = compiled.nothing ? nullptr : &compiled.sql;
        out.params = compiled.params;
    };
    // A string holding NUL is refused by the lookups that cannot match it (as compiling would): compiled now.
    auto holds_nul = [&] {
        for (const Value* v : values)
            if (const auto* s = std::get_if<std::string>(&v->variant()); s && s->find('\0') != std::string::npos)
                return true;
        return false;
    };
    auto use = [&](const backends::CompiledShape& s, bool by_fingerprint) {
        if (!s.cacheable) return compile_now();
        out.sql = s.nothing ? nullptr : &s.sql;
        const std::size_t n = s.slots.size();
        if (n == 1 && s.slots[0] == 0 && s.patterns.empty()) {
            out.params = std::span<const Value>(values[0], 1);  // bound as it is (get(pk)): no copy
        } else {
            Value* params = out.bound.assign_nulls(n);
            if (!serial::bind_shape(s, values, params)) return compile_now();
            out.params = std::span<const Value>(params, n);
        }
        out.cached = true;
        out.hint = &s.hint;
        conn.shapes.hit(by_fingerprint);
    };
    // A query that kept its shape text (objects(), a QuerySet run again) finds a recent statement by the parts of
    // its key, without writing the key and hashing it: get(pk) in a loop.
    std::optional<backends::ShapeFingerprint> print;  // made only when a recall() does not answer
    const backends::ShapeFingerprint* remember = nullptr;
    std::uint64_t query_serial = 0;  // `q`'s, when it is shared and kept its shape text: its shape is noted under it
    const char* recall_class = nullptr;
    if (const ShapeText* text = q.shape_memo.get();
        text && text->ok && q.recipe && model && text->recipe == q.recipe && extra.size() <= 1) {
        const char* extra_class = extra.empty() ? nullptr : serial::shape_class(*extra[0]);
        if (extra.empty() || extra_class) {
            values.assign(text->values.begin(), text->values.end());
            if (!extra.empty()) values.push_back(extra[0]);
            if (holds_nul()) return compile_now();
            if (shared) {
                query_serial = q.shape_memo.serial();
                recall_class = extra_class;
                if (const backends::CompiledShape* s = conn.shapes.recall(query_serial, kind, name, extra_class, generation))
                    return use(*s, true);
            }
            print.emplace();
            print->recipe = &q.recipe;
            print->model = model;
            print->dialect = dialect;
            print->generation = generation;
            print->extra_class = extra_class;
            print->kind = kind;
            print->name = name;
            print->state = serial::shape_state(q);
            remember = &*print;
            if (const backends::CompiledShape* s = conn.shapes.find(*print)) {
                if (query_serial) conn.shapes.note(query_serial, kind, name, recall_class, generation, s);
                return use(*s, true);
            }
            values.clear();  // shape_key() collects them again
        }
    }
    key.append(reinterpret_cast<const char*>(&prefix), offsetof(decltype(prefix), kind) + 1);
    key += name;
    key += '\0';
    if (!shape_key(q, key, values, extra) || holds_nul()) return compile_now();
    if (const backends::CompiledShape* s = conn.shapes.find(key, remember)) {
        if (query_serial) conn.shapes.note(query_serial, kind, name, recall_class, generation, s);
        return use(*s, false);
    }
    compile_now();
    std::string stored = key;  // learning replays the query, which may evaluate nothing but is not ours to trust
    std::vector<const Value*> shape_values = values;
    const backends::CompiledShape& learned =
        conn.shapes.add(stored, learn_shape(q, shape_values, *out.compiled, build, extra), remember);
    if (query_serial) conn.shapes.note(query_serial, kind, name, recall_class, generation, &learned);
}

DORM_DECL void check_loaded_shape(const sql::Query& q, bool model, std::size_t columns) {
    if (model && q.values_mode)
        throw TypeError(fmt::format("dorm: loads(): the text holds a values() query of {} columns, not one of {} instances: "
                                    "load it as a QuerySet<Row> (or of tuples or values)", q.values.size(), q.model->name));
    if (!model && !q.values_mode)
        throw TypeError(fmt::format("dorm: loads(): the text holds a query of {} instances: load it with QuerySet<{}>::loads()",
                                    q.model->name, q.model->name));
    // values_list<T>(dorm::flat) with no field: every field, of which T is the first.
    auto every_field = [&] {
        if (q.values.size() != q.model->fields.size()) return false;
        for (std::size_t i = 0; i < q.values.size(); ++i) {
            const auto* col = dynamic_cast<const sql::Col*>(q.values[i].expr.get());
            if (!col || col->field != &q.model->fields[i]) return false;
        }
        return true;
    };
    if (!model && columns && q.values.size() != columns && !(columns == 1 && every_field()))
        throw TypeError(fmt::format("dorm: loads(): the text's query selects {} columns but the QuerySet's type holds {}",
                                    q.values.size(), columns));
}

}  // namespace dorm::detail
