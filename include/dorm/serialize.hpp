// SPDX-License-Identifier: MIT
// Query serialisation (Django's "Pickling QuerySets"): the calls a QuerySet records as it is built, and the
// versioned text QuerySet::dumps() writes them as and QuerySet::loads() replays.
#pragma once

#include <dorm/config.hpp>
#include <dorm/detail/node_pool.hpp>

#include <dorm/backends/base/connection.hpp>
#include <dorm/backends/base/dialect.hpp>
#include <dorm/detail/value_buffer.hpp>
#include <dorm/errors.hpp>
#include <dorm/expressions.hpp>
#include <dorm/model.hpp>
#include <dorm/q.hpp>
#include <dorm/sql/ast.hpp>
#include <dorm/sql/query.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

// The text format, version 1 ("dorm-query/1"). dumps() writes, and loads() reads, the tag, one space, and the query
// as an S-expression:
//
//     dorm-query/1 (query "Entry" "entry" (filter (lookup "rating__gte" 3)) (order_by "-pub_date") (slice 0 10))
//
// A query is `(query MODEL-NAME DB-TABLE STEP...)`: the QuerySet methods called on `MODEL::objects()`, in order, with
// the arguments the user gave them (names, Q trees, F() / aggregate expressions, values), never the SQL they became.
// loads() calls the same methods again, so every name is resolved against the model's metadata as filter() resolves
// it (an unknown field is the same FieldError) and only values reach the statement, always as bound parameters.
// Functions are limited to dorm's own database functions (dorm/functions.hpp: `(Func "CONCAT" E...)`, by the key
// of their registry row, which checks the argument count and values again), pow (`(op "**" A B)`) and the
// registered aggregates (Count ... AnyValue, ArrayAgg ... RegrSYY: `(aggregate "Corr" Y X OPTION...)`); RawSQL and
// extra() are refused, as SQL given as text. A nested query (a Subquery,
// Exists, `in` QuerySet, Prefetch queryset, set operation part) names its model, which must be reachable from the
// loaded QuerySet's model through relations. Nesting (200 levels), list lengths and the number of calls (10,000 each)
// are limited, so that no text makes loading slow. See README ("Serialising queries") for the whole grammar.

namespace dorm::detail {

/// A name with the expression after it; a lone name (a field) has none, a lone expression no name.
struct NamedExpr {
    std::string name;
    std::optional<Expression> expr;
};

/// The steps of a recipe: one per recorded QuerySet call, holding the arguments as given (model-independent).
namespace recipe {
struct Root {};  // Model::objects()
/// The query was changed by something dumps() cannot record (extra(), a ManyToMany manager's join): `what`.
struct Unrecorded {
    std::string what;
};
struct Filter {  // filter(), exclude() (the condition negated), get()
    Q condition;
};
struct OrderItem {
    std::string name;  // "field", "-field", "?"; empty when `expression` is set
    std::optional<OrderByExpression> expression;
};
struct OrderBy {
    PooledVector<OrderItem> terms;
};
struct Reverse {};
struct Distinct {
    std::vector<std::string> fields;  // none: distinct()
};
struct Lock {
    SelectForUpdate options;
};
struct None {};
struct Using {
    std::string alias;
};
struct Slice {
    std::int64_t start = 0;
    std::optional<std::int64_t> stop;
};
struct SelectRelated {
    enum class Mode { names, all, clear };  // select_related("a", ...), select_related(), select_related(nullptr)
    Mode mode = Mode::names;
    std::vector<std::string> names;
};
struct PrefetchRelated {
    std::vector<sql::PrefetchSpec> lookups;  // none: prefetch_related() clears
};
struct Defer {
    std::vector<std::string> fields;
};
struct Only {
    std::vector<std::string> fields;
};
struct Annotate {
    std::vector<NamedExpr> items;
    bool alias = false;  // alias() rather than annotate()
};
struct Values {  // values(), values_list() (its positional names already given)
    std::vector<NamedExpr> items;
};
struct Dates {  // dates(), datetimes()
    std::string field, kind, order, zone;
    bool datetimes = false;
};
struct SetOperation {  // union_(), intersection(), difference()
    std::string op;    // "UNION", "UNION ALL", "INTERSECT", "EXCEPT"
    std::vector<std::shared_ptr<const sql::Query>> others;
};
struct Combine {  // qs & other, qs | other, qs ^ other
    sql::Connector connector = sql::Connector::and_;
    std::shared_ptr<const sql::Query> other;
};
using Step = std::variant<Root, Unrecorded, Filter, OrderBy, Reverse, Distinct, Lock, None, Using, Slice, SelectRelated,
                          PrefetchRelated, Defer, Only, Annotate, Values, Dates, SetOperation, Combine>;
}  // namespace recipe

/// The calls that built a query, newest first: a list shared by every query built on the same calls, so that
/// recording a call costs one node and no copy of the earlier ones.
struct Recipe {
    Recipe(std::shared_ptr<const Recipe> p, recipe::Step s);
    Recipe(const Recipe&) = delete;
    Recipe& operator=(const Recipe&) = delete;
    ~Recipe();

    mutable std::shared_ptr<const Recipe> parent;  // mutable: the destructor unlinks the list
    recipe::Step step;
    // The custom lookups' registry generation when the call was made: the lookups the query resolved are those of
    // that generation (a query shape is only shared by queries built at the same one).
    std::uint64_t generation;
};

/// The recipe of Model::objects(), shared by every model.
DORM_DECL const std::shared_ptr<const Recipe>& recipe_root();
/// A recipe that says the query was changed by `what`, which dumps() cannot record.
DORM_DECL std::shared_ptr<const Recipe> unrecorded_recipe(std::string what);

// `parent` followed by `step`: one function per kind of step that QuerySet methods record, compiled once, so that a
// file recording a call does not compile the step variant's construction and destruction (a visit of all of its
// alternatives) for each kind it records. A kind missing here is a compile error in record().
#define DORM_RECIPE_STEPS_(X)                                                                                       \
    X(Filter) X(OrderBy) X(Reverse) X(Distinct) X(Lock) X(None) X(Using) X(Slice) X(SelectRelated) X(PrefetchRelated) \
    X(Defer) X(Only) X(Annotate) X(Values) X(Dates) X(SetOperation) X(Combine)
#define DORM_DECLARE_EXTEND_RECIPE_(S) \
    DORM_DECL std::shared_ptr<const Recipe> extend_recipe(const std::shared_ptr<const Recipe>& parent, recipe::S&& step);
DORM_RECIPE_STEPS_(DORM_DECLARE_EXTEND_RECIPE_)
#undef DORM_DECLARE_EXTEND_RECIPE_
/// `parent` followed by the step `make()` returns, made only when the query has a recipe to extend (a query that
/// was not built from Model::objects() records nothing, and an unrecorded change stays the last word).
template <class Make>
std::shared_ptr<const Recipe> record(const std::shared_ptr<const Recipe>& parent, Make&& make) {
    if (!parent || std::holds_alternative<recipe::Unrecorded>(parent->step)) return parent;
    return extend_recipe(parent, make());  // the step's own overload (above)
}
/// What a query changed by something unrecordable has: `why`, unless it has no recipe or one that says so already.
inline std::shared_ptr<const Recipe> unrecorded(const std::shared_ptr<const Recipe>& parent,
                                                const std::shared_ptr<const Recipe>& why) {
    if (!parent || std::holds_alternative<recipe::Unrecorded>(parent->step)) return parent;
    return why;
}

/// QuerySet::dumps(): the recipe of `q` as text; NotSupportedError when it has none, holds something loads() would
/// not accept, or does not rebuild the same query (checked by loading the text back and comparing the SQL on every
/// registered backend).
DORM_DECL std::string dumps_query(const sql::Query& q);

/// QuerySet::loads(): the query `text` describes, rebuilt on `model` through QuerySet methods. ValueError for text
/// that is not a dorm query, of another version or model, or malformed; the methods' own errors (FieldError, ...)
/// as they raise them.
DORM_DECL std::shared_ptr<const sql::Query> loads_query(const ModelMeta& model, std::string_view text);

/// Throws TypeError unless a loaded query yields what the QuerySet type asks for: instances (`model`), or values()
/// rows of `columns` columns (0: any number).
DORM_DECL void check_loaded_shape(const sql::Query& q, bool model, std::size_t columns);

class Replayer;

// ---- Query shapes: each statement compiled once per connection ---------------------------------------------------

/// Appends the shape of `q` to `key` (its recorded calls, as dumps() writes them, with each value that may change
/// without changing the statement written as its class, and a digest of its state) and those values, in the order
/// written, to `values`; then the `extra` values the same way. False when `q` has no complete recipe (it was changed
/// by something dumps() cannot record): its statements are compiled each time.
DORM_DECL bool shape_key(const sql::Query& q, std::string& key, std::vector<const Value*>& values,
                         std::span<const Value* const> extra = {});

/// Appends the shape of expression `e` to `key` as shape_key() writes a query's (its structure, and each value
/// that may change without changing the statement as its class) and those values, in the order written, to
/// `values`: update()'s F() expressions. False when `e` has no text (RawSQL and the like).
DORM_DECL bool expression_shape(const ExprNode& e, std::string& key, std::vector<const Value*>& values);

/// A copy of `e` whose values written as their class by expression_shape() are `values[next]`, `values[next+1]`...
/// in the same order (`next` is advanced past them). Knows values, references, operators, functions and casts;
/// throws NotSupportedError at anything else (a shape that is then not learned).
DORM_DECL ExprNodePtr with_values(const ExprNode& e, std::span<const Value> values, std::size_t& next);

/// Builds and compiles a statement of a query of `source`'s shape: `call(source, extra)`, where `extra` are the
/// values after `source`'s own (get()'s value, update()'s), one for each given to shaped_statement(). Called with
/// the real values, and with changed ones to learn a shape (a value that is part of the shape, such as NULL, is
/// passed unchanged).
struct ShapeBuild {
    const void* context;
    sql::Compiled (*call)(const void* context, const sql::Query& source, std::span<const Value> extra);
    sql::Compiled operator()(const sql::Query& source, std::span<const Value> extra) const {
        return call(context, source, extra);
    }
};

/// How `real` (built on `source` by `build`) binds the shape's `values`: learned by building the query again with
/// every value changed (serial::changed_value()) and comparing. The shape is cacheable when the statement's text
/// is the same and each parameter is either one of the values, unchanged, or a constant of the statement.
/// `extra`: the values after the query's own, as shape_key() was given them.
DORM_DECL backends::CompiledShape learn_shape(const sql::Query& source, std::span<const Value* const> values,
                                              const sql::Compiled& real, const ShapeBuild& build,
                                              std::span<const Value* const> extra = {});

/// The statement an evaluation runs, from the connection's shape cache or compiled now.
struct ShapedStatement {
    ShapedStatement() = default;
    ShapedStatement(const ShapedStatement&) = delete;  // `params` may point into it
    ShapedStatement& operator=(const ShapedStatement&) = delete;

    const std::string* sql = nullptr;  // nullptr: the query matches nothing, nothing runs
    std::span<const Value> params;
    detail::ValueBuffer<8> bound;  // the parameters of a cached statement (no allocation for up to 8)
    std::optional<sql::Compiled> compiled;  // a statement compiled now (none to destroy after a cached one)
    bool cached = false;     // from the cache: the query was not built, so nothing checked its values
    backends::StatementHint* hint = nullptr;  // a cached statement's: for Connection::query()
};

/// The statement `build(q, extra)` compiles for `q` on `conn`: the cached one for its shape (prefixed by `kind`,
/// one letter per kind of statement, and `name`: get()'s field) with this query's values bound, or, when the shape is new or not cacheable,
/// built and compiled now (and a new shape learned). `shared`: `q` is a QuerySet's query, which no one changes any
/// more, so the connection may remember its statement by the query object (ShapeCache::recall()).
DORM_DECL void shaped_statement(const sql::Query& q, char kind, std::string_view name, backends::Connection& conn,
                                const ShapeBuild& build, ShapedStatement& out, std::span<const Value* const> extra = {},
                                bool shared = false);

/// A ShapeBuild calling `f(source, extra)`; `f` must outlive it.
template <class F>
ShapeBuild shape_build(const F& f) {
    return ShapeBuild{&f, [](const void* c, const sql::Query& source, std::span<const Value> extra) {
                          return (*static_cast<const F*>(c))(source, extra);
                      }};
}

}  // namespace dorm::detail

// The definitions need QuerySet (loading replays its methods): <dorm/query_set.hpp> includes them at its end.
