// SPDX-License-Identifier: MIT
// QuerySet<M>: lazy, immutable, chainable; the one place that runs SELECTs and fills the result cache.
#pragma once

#include <dorm/config.hpp>
#include <dorm/detail/node_pool.hpp>

#include <dorm/async/offload.hpp>
#include <dorm/async/stream.hpp>
#include <dorm/async/task.hpp>
#include <dorm/database.hpp>
#include <dorm/deletion.hpp>
#include <dorm/errors.hpp>
#include <dorm/transaction.hpp>
#include <dorm/lookup_path.hpp>
#include <dorm/model.hpp>
#include <dorm/aggregates.hpp>
#include <dorm/conditional.hpp>
#include <dorm/detail/lazy_results.hpp>
#include <dorm/prefetch.hpp>
#include <dorm/q.hpp>
#include <dorm/row.hpp>
#include <dorm/row_reader.hpp>
#include <dorm/serialize.hpp>
#include <dorm/sql/query.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <variant>
#include <utility>
#include <vector>

namespace dorm {

/// A field name and a value: Django's keyword arguments (`create(headline="x")` is `create({{"headline", "x"}})`).
struct Kwarg {
    template <class V>
    Kwarg(std::string_view n, V&& v) : name(n), value(detail::to_operand(std::forward<V>(v))) {}
    std::string name;
    detail::Operand value;
};
using Kwargs = std::vector<Kwarg>;

/// What delete_() returns: rows deleted in total and per model name (Django's `(total, {"Entry": n})`).
struct DeleteResult {
    std::int64_t total = 0;
    std::map<std::string, std::int64_t> per_model;
};

/// Options of bulk_create() (Django's keyword arguments).
struct BulkCreateOptions {
    std::size_t batch_size = 0;  // 0: as many rows per INSERT as the backend's parameter limit allows
    bool ignore_conflicts = false;
    bool update_conflicts = false;
    std::vector<std::string> update_fields{};
    std::vector<std::string> unique_fields{};
};

template <class T, class Derived = void>
class QuerySet;
template <class M>
class RawQuerySet;

/// Django's extra() arguments: SQL written as given ("%s" for each parameter, bound from `params` /
/// `select_params` in order). Never build these strings from untrusted input.
struct ExtraOptions {
    std::vector<std::pair<std::string, std::string>> select{};  // name, SQL: selected like annotations
    std::vector<std::string> where{};                           // conditions AND-ed into WHERE
    std::vector<Value> params{};                                // for `where`
    std::vector<std::string> tables{};                          // more tables in FROM
    std::vector<std::string> order_by{};                        // fields or `select` names, "-name" descending
    std::vector<Value> select_params{};                         // for `select`
};

namespace detail {

template <class T>
struct is_tuple : std::false_type {};
template <class... Ts>
struct is_tuple<std::tuple<Ts...>> : std::true_type {};

/// Decodes the rows of one query into T: a model (its fields, then any annotations), a Row (values(),
/// aggregate()), a std::tuple (values_list()) or one value (values_list(flat), dates()). Built once per query.
template <class T>
class RowReader : public RowReaderBase {
public:
    /// Reads the rows of `q` run on the database `db`.
    RowReader(const sql::Query& q, const std::string* db)
        : RowReaderBase(q, db, model<T> ? Result::model : std::is_same_v<T, Row> ? Result::row : Result::values,
                        model_columns()) {}

    void read(std::span<const backends::Cell> row, T& out) const {
        if constexpr (model<T>) {
            std::size_t n = column_count<T>;
            if (deferred_) [[unlikely]] {
                n = loaded_.size();
                for (std::size_t i = 0; i < n; ++i) loaded_[i]->set(&out, cell_value(row[i], loaded_[i]->kind));
            } else {
                load_row(row, out);
            }
            out.dorm_state_ = ModelState{db_, false, nullptr, deferred_};
            if (!kinds_.empty()) [[unlikely]]
                read_annotations(row, n, out.dorm_state_);
            if (attach_relations_) [[unlikely]]
                attach_relations(&out);  // where get() will load from
            if (!selections_.empty()) read_related(row, &out, out.dorm_state_);
        } else if constexpr (std::is_same_v<T, Row>) {
            std::vector<Value> values;
            values.reserve(kinds_.size());
            for (std::size_t i = 0; i < kinds_.size(); ++i) values.push_back(column_value(row, i, i));
            out = Row(names_, std::move(values));
        } else if constexpr (is_tuple<T>::value) {
            [&]<std::size_t... I>(std::index_sequence<I...>) {
                (read_column(row, I, std::get<I>(out)), ...);
            }(std::make_index_sequence<std::tuple_size_v<T>>{});
        } else {
            read_column(row, 0, out);
        }
    }

    /// values_list()'s column `i` into `out`, an integer-typed expression's real truncated (expression_value()).
    template <class V>
    void read_column(std::span<const backends::Cell> row, std::size_t i, V& out) const {
        if (i < 64 && (truncated_columns_ >> i & 1) != 0) [[unlikely]]
            read_cell(truncated_cell(row[i]), out);
        else
            read_cell(row[i], out);
    }

    /// The number of values one T holds (for the column-count check), when fixed by the type.
    static constexpr std::size_t arity() {
        if constexpr (is_tuple<T>::value) return std::tuple_size_v<T>;
        else if constexpr (model<T> || std::is_same_v<T, Row>) return 0;
        else return 1;
    }

private:
    static constexpr std::size_t model_columns() {
        if constexpr (model<T>) return column_count<T>;
        else return 0;
    }
};

/// Sets the fields of `obj`, an instance of `meta`'s model, from name=value pairs (Django's Model(**kwargs));
/// `skip_lookups` drops names with "__" (get_or_create). FieldError for an unknown name, TypeError for a
/// many-to-many or a list, IntegrityError for None in a NOT NULL field.
DORM_DECL void assign_kwargs(const ModelMeta& meta, void* obj, const Kwargs& kwargs, bool skip_lookups = false);
template <class M>
void assign_kwargs(M& obj, const Kwargs& kwargs, bool skip_lookups = false) {
    assign_kwargs(model_meta<M>(), &obj, kwargs, skip_lookups);
}
/// create(**kwargs) builds the instance as Django's Model(**kwargs) does: names that are no field are one TypeError
/// naming them all ("Blog() got unexpected keyword arguments: 'x', 'y'"), not the FieldError of a lookup.
DORM_DECL void check_init_kwargs(const ModelMeta& meta, const Kwargs& kwargs);

/// update()'s SET list from name=value pairs, resolved against `q` (FieldError, TypeError, IntegrityError as
/// Django raises them), and the UPDATE itself.
using UpdateSets = std::vector<std::pair<const FieldMeta*, sql::ExprPtr>>;
DORM_DECL UpdateSets update_sets(sql::Query& q, const Kwargs& kwargs);
/// Runs the UPDATE of `q` with `sets` (made by update_sets(q, kwargs)); its statement comes from the connection's
/// shape cache when every kwarg is a plain value.
DORM_DECL std::int64_t run_update(const sql::Query& q, backends::Connection& conn, const UpdateSets& sets,
                                  const Kwargs& kwargs);

/// objects().using_(alias) for the model whose objects() query is `all` (which lives as long as the program): one
/// query per model, alias and thread, made once and shared (queries are immutable), so that the usual
/// `Model::objects().using_(alias)` allocates no query and writes its shape key once.
DORM_DECL std::shared_ptr<const sql::Query> all_using(const std::shared_ptr<const sql::Query>& all,
                                                      std::string_view alias);

/// get()'s message for `n` rows other than one (Django's DoesNotExist / MultipleObjectsReturned text); `limit`: the
/// rows get() reads at most, unless `sliced`.
DORM_DECL std::string get_error(std::string_view model, std::int64_t n, bool sliced, std::int64_t limit);

/// annotate() / alias() / values(name = expression) on `q`.
DORM_DECL void add_annotations(sql::Query& q, const std::vector<NamedExpr>& items, bool selected, std::string_view what);
/// aggregate()'s expression `e` (resolved on `q`) reads no annotation `q` does not select: alias()'s, or one
/// values() left out (Django's resolve_ref(summarize=True): FieldError).
DORM_DECL void check_summarized(const sql::Query& q, const sql::Expression& e);

/// qs1 & qs2 and friends: TypeError unless the two queries can combine; their WHERE trees combined into `q`.
DORM_DECL void check_combinable(const sql::Query& a, const sql::Query& b, sql::Connector connector);
DORM_DECL void combine_where(sql::Query& q, const sql::Query& a, const sql::Query& b, sql::Connector connector);
/// select_for_update() outside a transaction: TransactionManagementError, as Django raises it.
DORM_DECL void check_lock(const sql::Query& q, const backends::Connection& conn);
/// ProgrammingError when a cursor has fewer columns than the reader decodes (more: a DISTINCT query's ordering).
DORM_DECL void check_columns(const backends::Cursor& cursor, std::size_t expected);

/// A new instance with the `default_()` field options applied (member initializers apply first).
template <class M>
M make_instance() {
    M obj{};
    for (const auto& f : model_meta<M>().fields)
        if (f.default_value) f.set(&obj, *f.default_value);
    return obj;
}

template <class M>
void save_instance(M& obj, const SaveOptions& options);
template <class M>
void save_owned_instance(M& obj, const SaveOptions& options);
template <class M>
DeleteResult delete_instance(M& obj, std::string_view using_);
template <class M>
void refresh_instance(M& obj, std::string_view using_);
template <class M>
Task<void> asave_instance(M& obj, const SaveOptions& options);
template <class M>
Task<DeleteResult> adelete_instance(M& obj, std::string_view using_);
template <class M>
Task<void> arefresh_instance(M& obj, const RefreshOptions& options);

}  // namespace detail

/// values_list(..., dorm::flat): single values instead of 1-tuples.
struct flat_t {};
inline constexpr flat_t flat{};
/// values_list(..., dorm::named): rows with names (dorm::Row) instead of tuples.
struct named_t {};
inline constexpr named_t named{};

namespace detail {

/// One positional argument of annotate() / values() / aggregate(): a name, or an expression.
using ArgItem = std::variant<std::string, Expression>;

DORM_DECL void push_name(std::vector<ArgItem>& out, std::string_view name);
DORM_DECL void push_expression(std::vector<ArgItem>& out, Expression e);
/// annotate(good=Q(...)): condition_expression(q) (<dorm/conditional.hpp>).
DORM_DECL void push_condition(std::vector<ArgItem>& out, const Q& q);
/// annotate() / values() / aggregate()'s arguments: a name followed by an expression is a pair, a name alone a
/// field, an expression alone one to name by default.
DORM_DECL std::vector<NamedExpr> pair_names(const std::vector<ArgItem>& items);

template <class A>
void push_arg(std::vector<ArgItem>& out, const A& a) {
    if constexpr (std::is_same_v<A, flat_t> || std::is_same_v<A, named_t>) {
        return;
    } else if constexpr (std::is_convertible_v<const A&, std::string_view>) {
        push_name(out, std::string_view(a));
    } else if constexpr (std::is_base_of_v<Expression, A>) {
        push_expression(out, Expression(a.node()));
    } else if constexpr (std::is_same_v<A, Value>) {  // Django's Value(...)
        push_expression(out, Expression(a));
    } else if constexpr (std::is_same_v<A, Q>) {
        push_condition(out, a);
    } else {
        static_assert(sizeof(A) == 0, "dorm: arguments are field names, or a name followed by an expression");
    }
}

template <class... Args>
std::vector<NamedExpr> named_exprs(const Args&... args) {
    std::vector<ArgItem> items;
    (push_arg(items, args), ...);
    return pair_names(items);
}

/// The name values_list() gives a positional expression (Django: its default alias, else its class name in
/// lower case, numbered: "lower1").
DORM_DECL std::string positional_name(const Expression& e, std::size_t& counter, const std::vector<NamedExpr>& taken);

/// values_list()'s arguments: every name a field, every expression a column of its own (Django's values_list()
/// takes no name = expression pairs).
DORM_DECL std::vector<NamedExpr> positional_list(const std::vector<ArgItem>& items);
template <class... Args>
std::vector<NamedExpr> positional_exprs(const Args&... args) {
    std::vector<ArgItem> items;
    (push_arg(items, args), ...);
    return positional_list(items);
}

/// A field's value about to be written: text with NUL on a backend whose text cannot hold it is a ValueError
/// naming the field (instead of the backend's positional error). Defined with the instance writes.
DORM_DECL void check_storable(const backends::Dialect& d, const FieldMeta& f, const Value& v);

/// Django's check_alias(): an annotation's name is an SQL alias, so whitespace, quotation marks, semicolons, SQL
/// comments (and NUL) are a ValueError.
DORM_DECL void check_alias(std::string_view name);

/// Django's default alias of an anonymous aggregate over one field: `Count("entry")` is "entry__count".
DORM_DECL std::string default_alias(const Expression& e, std::string_view what);
/// first() / last() of an unordered query that aggregates without grouping by the primary key: ordering by it
/// would change the groups, so Django refuses (TypeError).
DORM_DECL void check_unordered_first_last(const sql::Query& q, std::string_view method);
/// NotSupportedError: `method` after union() / intersection() / difference().
DORM_DECL void check_combinator(const sql::Query& q, std::string_view method);
/// check_combinator(), and TypeError after values() / values_list(): `method` loads instances.
DORM_DECL void check_loading(const sql::Query& q, std::string_view method);
/// The query a method changes for the QuerySet it returns: a copy of `q`, or, when `temporary` (`q` was taken from
/// an rvalue QuerySet by take_query(), which no evaluation has seen) and nothing else holds `q`, `q` itself,
/// changed in place. A chain of calls then copies the query's state once, not at every call.
/// (Every query is made non-const, make_node<sql::Query>(), so that changing one in place is allowed.)
/// Every chained call passes here, and all but filter() / exclude() (`keep_sticky`) end a many-to-many manager's
/// sticky join: Django's Query.chain() forgets its alias after the first call that follows the manager's condition.
/// An internal step that is not a call of Django's (a many-to-many manager's manager_using()) keeps it too.
DORM_DECL std::shared_ptr<sql::Query> query_to_change(const std::shared_ptr<const sql::Query>& q, bool temporary,
                                                      bool keep_sticky = false);
/// none(): a copy of `q` that matches nothing, recorded for dumps().
DORM_DECL std::shared_ptr<const sql::Query> emptied_query(const std::shared_ptr<const sql::Query>& q);
/// filter() / exclude() / get(): `q` with condition `cond` (already negated for exclude()), recorded for dumps(),
/// in a query_to_change(); an empty condition leaves it as it was.
DORM_DECL std::shared_ptr<const sql::Query> filtered_query(const std::shared_ptr<const sql::Query>& q, Q cond,
                                                           bool temporary = false);
/// order_by(): `q` ordered by `terms` (none: unordered, default ordering off), recorded for dumps(), in a
/// query_to_change().
DORM_DECL std::shared_ptr<const sql::Query> ordered_query(const std::shared_ptr<const sql::Query>& q,
                                                          std::span<const OrderTermRef> terms, bool temporary = false);
/// Sets the ORDER BY of `q` (order_by(), extra(order_by=...)).
DORM_DECL void set_ordering(sql::Query& q, sql::OrderList terms);
/// only() / defer(): each name as the model's field names it ("pk" and a ForeignKey's attname "blog_id" are
/// another name for a field, as Django's get_field() takes them), without repeats.
DORM_DECL void loading_names(const sql::Query& q, std::vector<std::string>& names);

/// The name values() gives a model field with no expression: a ForeignKey is its "<name>_id" attribute.
inline std::string attname(const FieldMeta& f) { return f.is_relation() ? std::string(f.name) + "_id" : std::string(f.name); }

}  // namespace detail

/// A streaming range over a query's rows (QuerySet::iterator()): rows are decoded one at a time, nothing is cached.
template <class T>
class Stream {
public:
    struct sentinel {};
    class iterator {
    public:
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        explicit iterator(Stream* s) : s_(s) {}
        const T& operator*() const { return s_->current_; }
        const T* operator->() const { return &s_->current_; }
        iterator& operator++() {
            s_->advance();
            return *this;
        }
        void operator++(int) { s_->advance(); }
        friend bool operator==(const iterator& it, sentinel) { return it.at_end(); }

    private:
        bool at_end() const noexcept { return s_->done_; }
        Stream* s_ = nullptr;
    };

    /// `prefetch`, when set, runs prefetch_related() over each `chunk` rows before they are handed out.
    Stream(std::unique_ptr<backends::Cursor> cursor, detail::RowReader<T> reader,
           std::shared_ptr<const sql::Query> prefetch = {}, std::size_t chunk = 0)
        : cursor_(std::move(cursor)), reader_(std::move(reader)), prefetch_(std::move(prefetch)), chunk_(chunk) {
        done_ = !cursor_;
    }
    Stream(Stream&&) noexcept = default;
    Stream& operator=(Stream&&) noexcept = default;

    /// Starts reading; a Stream is read once.
    iterator begin() {
        if (!started_) {
            started_ = true;
            advance();
        }
        return iterator(this);
    }
    sentinel end() const { return {}; }

private:
    friend class iterator;
    void advance() {
        if (done_) return;
        if (prefetch_) [[unlikely]] {
            if (next_ == buffer_.size() && !refill()) return;
            current_ = std::move(buffer_[next_++]);
            return;
        }
        if (!cursor_->next()) {
            finish();
            return;
        }
        current_ = T{};
        reader_.read(cursor_->row(), current_);
    }
    /// The next chunk of rows, prefetched; false at the end.
    bool refill() {
        buffer_.clear();
        next_ = 0;
        while (cursor_ && buffer_.size() < chunk_) {
            if (!cursor_->next()) {
                cursor_.reset();  // stepping a finished statement would start it again
                break;
            }
            reader_.read(cursor_->row(), buffer_.emplace_back());
        }
        if (buffer_.empty()) {
            finish();
            return false;
        }
        if constexpr (detail::model<T>) {
            std::vector<void*> objects;
            for (auto& obj : buffer_) objects.push_back(&obj);
            detail::prefetch_related(std::move(objects), *prefetch_->model, prefetch_->prefetch, prefetch_->db);
        }
        return true;
    }
    void finish() {
        done_ = true;
        cursor_.reset();
    }

    std::unique_ptr<backends::Cursor> cursor_;
    detail::RowReader<T> reader_;
    std::shared_ptr<const sql::Query> prefetch_;  // the query whose prefetch_related() each chunk runs, if any
    std::size_t chunk_ = 0;
    std::vector<T> buffer_;  // the current chunk, when prefetching
    std::size_t next_ = 0;
    T current_{};
    bool done_ = false;
    bool started_ = false;
};

/// Django's QuerySet over model T. Building methods return a new QuerySet and never touch the database;
/// iteration, size(), empty(), [], get(), count(), exists(), ... evaluate it.
/// A custom QuerySet derives from `QuerySet<M, Custom>` (its methods then return `Custom`), inherits the
/// constructors (`using QuerySet::QuerySet;`), and is named by the model's `using queryset_type = Custom;`.
template <class T, class Derived>
class QuerySet {
    /// The model whose fields literal paths are checked against at compile time: T itself, or none (void)
    /// when T is what values() / values_list() / dates() yield.
    using checked = std::conditional_t<detail::model<T>, T, void>;
    static constexpr bool is_model = detail::model<T>;

public:
    using model_type = checked;
    using value_type = T;
    using self_type = std::conditional_t<std::is_void_v<Derived>, QuerySet<T>, Derived>;
    using const_iterator = typename std::vector<T>::const_iterator;

    /// All rows of T on the default database (Django's `T.objects.all()`).
    QuerySet()
        requires is_model
        : QuerySet(make_query()) {}
    /// Internal: a QuerySet over prepared query state.
    explicit QuerySet(std::shared_ptr<const sql::Query> q)
        : query_(std::move(q)) {}

    // ---- Methods that return new QuerySets ------------------------------------------------------------------

    /// A copy that will query afresh (Django's all()).
    self_type all() const {
        return self_type(detail::query_to_change(query_, false));  // the same state: the same recipe
    }

    /// Rows matching every condition (AND): Q objects and "path", value pairs, as Django's positional Q
    /// arguments and keyword arguments: `filter("rating__gte", 3)`, `filter("id__in", {1, 2})`,
    /// `filter(Q("a", 1) | Q("b", 2), "headline__startswith", "x")`, `filter("a", 1, "b", 2)`.
    /// A string literal path is checked at compile time against the model.
    self_type filter() const { return all(); }
    /// On a temporary QuerySet (a chain of calls, or std::move(qs)), filter(), exclude(), order_by() and slice()
    /// change its query in place when nothing else holds it, instead of copying it (query_to_change()).
    template <class... Qs>
        requires(detail::q_like<Qs> && ...)
    self_type filter(const Q& first, const Qs&... rest) const& {
        return add_condition((first & ... & Q(rest)));
    }
    template <class... Qs>
        requires(detail::q_like<Qs> && ...)
    self_type filter(const Q& first, const Qs&... rest) && {
        return std::move(*this).add_condition((first & ... & Q(rest)));
    }
    template <class V>
    self_type filter(LookupPath<checked> path, V&& value) const& {
        return add_condition(Q(path.ref(), std::forward<V>(value)));
    }
    template <class V>
    self_type filter(LookupPath<checked> path, V&& value) && {
        return std::move(*this).add_condition(Q(path.ref(), std::forward<V>(value)));
    }
    template <class V>
    self_type filter(LookupPath<checked> path, std::initializer_list<V> values) const {
        return add_condition(Q(path.ref(), values));
    }
    template <class V>
    self_type filter(const Q& q, LookupPath<checked> path, V&& value) const {
        return add_condition(q & Q(path.ref(), std::forward<V>(value)));
    }
    template <class V1, class V2>
    self_type filter(LookupPath<checked> p1, V1&& v1, LookupPath<checked> p2, V2&& v2) const& {
        return add_condition(Q(p1.ref(), std::forward<V1>(v1)) & Q(p2.ref(), std::forward<V2>(v2)));
    }
    template <class V1, class V2>
    self_type filter(LookupPath<checked> p1, V1&& v1, LookupPath<checked> p2, V2&& v2) && {
        return std::move(*this).add_condition(Q(p1.ref(), std::forward<V1>(v1)) & Q(p2.ref(), std::forward<V2>(v2)));
    }

    /// Rows not matching the conditions taken together (Django's exclude()), given as filter() takes them;
    /// NULL-able columns keep their NULL rows.
    template <class... Qs>
        requires(detail::q_like<Qs> && ...)
    self_type exclude(const Q& first, const Qs&... rest) const& {
        return add_condition(detail::excluded((first & ... & Q(rest))));
    }
    template <class... Qs>
        requires(detail::q_like<Qs> && ...)
    self_type exclude(const Q& first, const Qs&... rest) && {
        return std::move(*this).add_condition(detail::excluded((first & ... & Q(rest))));
    }
    template <class V>
    self_type exclude(LookupPath<checked> path, V&& value) const& {
        return add_condition(~Q(path.ref(), std::forward<V>(value)));
    }
    template <class V>
    self_type exclude(LookupPath<checked> path, V&& value) && {
        return std::move(*this).add_condition(~Q(path.ref(), std::forward<V>(value)));
    }
    template <class V>
    self_type exclude(LookupPath<checked> path, std::initializer_list<V> values) const {
        return add_condition(~Q(path.ref(), values));
    }
    template <class V>
    self_type exclude(const Q& q, LookupPath<checked> path, V&& value) const {
        return add_condition(~(q & Q(path.ref(), std::forward<V>(value))));
    }
    template <class V1, class V2>
    self_type exclude(LookupPath<checked> p1, V1&& v1, LookupPath<checked> p2, V2&& v2) const& {
        return add_condition(~(Q(p1.ref(), std::forward<V1>(v1)) & Q(p2.ref(), std::forward<V2>(v2))));
    }
    template <class V1, class V2>
    self_type exclude(LookupPath<checked> p1, V1&& v1, LookupPath<checked> p2, V2&& v2) && {
        return std::move(*this).add_condition(~(Q(p1.ref(), std::forward<V1>(v1)) & Q(p2.ref(), std::forward<V2>(v2))));
    }

    /// Orders by fields ("headline"), descending ("-pub_date"), across ForeignKeys ("blog__name"), randomly ("?"),
    /// or by expressions (`F("rating").desc({.nulls_last = true})`); no arguments clears all ordering, the
    /// model's default too. String literals are checked at compile time.
    self_type order_by() const { return order_by_terms({}); }
    self_type order_by(OrderTerm<checked> a) const& { return order_by_terms({a.ref()}); }
    self_type order_by(OrderTerm<checked> a) && { return std::move(*this).order_by_terms({a.ref()}); }
    self_type order_by(OrderTerm<checked> a, OrderTerm<checked> b) const& { return order_by_terms({a.ref(), b.ref()}); }
    self_type order_by(OrderTerm<checked> a, OrderTerm<checked> b) && {
        return std::move(*this).order_by_terms({a.ref(), b.ref()});
    }
    self_type order_by(OrderTerm<checked> a, OrderTerm<checked> b, OrderTerm<checked> c) const& {
        return order_by_terms({a.ref(), b.ref(), c.ref()});
    }
    self_type order_by(OrderTerm<checked> a, OrderTerm<checked> b, OrderTerm<checked> c) && {
        return std::move(*this).order_by_terms({a.ref(), b.ref(), c.ref()});
    }
    self_type order_by(OrderTerm<checked> a, OrderTerm<checked> b, OrderTerm<checked> c, OrderTerm<checked> d) const {
        return order_by_terms({a.ref(), b.ref(), c.ref(), d.ref()});
    }
    self_type order_by(OrderTerm<checked> a, OrderTerm<checked> b, OrderTerm<checked> c, OrderTerm<checked> d, OrderTerm<checked> e) const {
        return order_by_terms({a.ref(), b.ref(), c.ref(), d.ref(), e.ref()});
    }
    self_type order_by(OrderTerm<checked> a, OrderTerm<checked> b, OrderTerm<checked> c, OrderTerm<checked> d, OrderTerm<checked> e,
                       OrderTerm<checked> f) const {
        return order_by_terms({a.ref(), b.ref(), c.ref(), d.ref(), e.ref(), f.ref()});
    }
    /// order_by() with names known only at run time.
    self_type order_by(const std::vector<std::string>& names) const {
        std::vector<OrderTerm<checked>> terms(names.begin(), names.end());
        std::vector<detail::OrderTermRef> refs;
        for (const auto& t : terms) refs.push_back(t.ref());
        return order_by_terms(refs);
    }

    /// Reverses the ordering (no effect without one, as in Django).
    self_type reverse() const {
        if (query_->is_sliced()) throw TypeError("dorm: Cannot reverse a query once a slice has been taken.");
        return recorded([] { return detail::recipe::Reverse{}; },
                        [](sql::Query& q) { q.standard_ordering = !q.standard_ordering; });
    }

    /// SELECT DISTINCT.
    self_type distinct() const {
        check_combinator("distinct");
        if (query_->is_sliced()) throw TypeError("dorm: Cannot create distinct fields once a slice has been taken.");
        return recorded([] { return detail::recipe::Distinct{}; }, [](sql::Query& q) { q.distinct = true; });
    }
    /// SELECT DISTINCT ON (fields): PostgreSQL only; other backends raise NotSupportedError when evaluated.
    template <class... Names>
        requires(sizeof...(Names) > 0 && (std::is_convertible_v<Names, std::string_view> && ...))
    self_type distinct(const Names&... names) const {
        return distinct_fields({std::string(std::string_view(names))...});
    }

    /// Locks the selected rows until the end of the transaction (SELECT ... FOR UPDATE). Evaluating it outside
    /// atomic() is a TransactionManagementError on databases that lock; SQLite ignores it, as in Django.
    self_type select_for_update(const SelectForUpdate& options = {}) const {
        if (options.nowait && options.skip_locked)
            throw ValueError("dorm: The nowait option cannot be used with skip_locked.");
        // of's names are checked when the SQL is written, against the relations select_related() follows then.
        // Django: the rows are read from the database writes go to.
        return recorded([&] { return detail::recipe::Lock{options}; }, [&](sql::Query& q) {
            q.lock = options;
            q.for_write = true;
        });
    }

    /// A QuerySet that matches nothing and never queries (Django's none()).
    self_type none() const {
        return self_type(detail::emptied_query(query_));
    }

    /// Evaluate against another configured database; the routers are not asked.
    self_type using_(std::string_view alias) const {
        if constexpr (is_model)
            if (query_ == make_query()) return self_type(detail::all_using(query_, alias));
        return recorded([&] { return detail::recipe::Using{std::string(alias)}; },
                        [&](sql::Query& q) { q.db = detail::intern_alias(alias); });
    }

    /// Rows [start, stop) (Python's `qs[start:stop]`); `slice(5)` is `qs[5:]`. LIMIT / OFFSET when evaluated;
    /// on an evaluated QuerySet, the cached rows. Negative bounds throw ValueError, as in Django.
    /// `qs[start:stop:step]`: as in Django, a step evaluates the QuerySet and gives a list, Python's
    /// `list(qs[start:stop])[::step]`: every step-th row, from the last one backwards when negative. A step of 0 is
    /// the rows of qs[start:stop] (Django returns that QuerySet). On an evaluated QuerySet, Python slices its list:
    /// `list[start:stop:step]` (std::nullopt is Python's None: from the end for a negative step; ValueError for 0).
    std::vector<T> slice(std::optional<std::int64_t> start, std::optional<std::int64_t> stop, std::int64_t step) const {
        if ((start && *start < 0) || (stop && *stop < 0)) throw ValueError("dorm: Negative indexing is not supported.");
        std::vector<T> rows;
        std::int64_t from = 0, to = 0;  // Python's slice of `rows`: from `from`, while short of `to`, by `step`
        if (cache_.filled()) {
            if (step == 0) throw ValueError("dorm: slice step cannot be zero");
            const auto& all = fetch_all();
            rows.assign(all.begin(), all.end());
            const auto n = static_cast<std::int64_t>(rows.size());
            if (step > 0) {
                from = std::min(start.value_or(0), n);
                to = std::min(stop.value_or(n), n);
            } else {
                from = start ? std::min(*start, n - 1) : n - 1;
                to = stop ? std::min(*stop, n - 1) : -1;
            }
        } else {
            for (const auto& item : slice(start.value_or(0), stop)) rows.push_back(item);
            if (step == 0 || step == 1) return rows;
            const auto n = static_cast<std::int64_t>(rows.size());
            from = step > 0 ? 0 : n - 1;
            to = step > 0 ? n : -1;
        }
        std::vector<T> out;
        for (std::int64_t i = from; step > 0 ? i < to : i > to; i += step)
            out.push_back(std::move(rows[static_cast<std::size_t>(i)]));
        return out;
    }

    self_type slice(std::int64_t start, std::optional<std::int64_t> stop = std::nullopt) && {
        // Its loaded rows are sliced, and a negative index refused, as on any QuerySet.
        if (cache_.filled() || start < 0 || (stop && *stop < 0)) return std::as_const(*this).slice(start, stop);
        return recorded_from(take_query(), true, [&] { return detail::recipe::Slice{start, stop}; },
                             [&](sql::Query& q) { q.set_limits(start, stop); });
    }
    self_type slice(std::int64_t start, std::optional<std::int64_t> stop = std::nullopt) const& {
        if (start < 0 || (stop && *stop < 0)) throw ValueError("dorm: Negative indexing is not supported.");
        self_type out = recorded([&] { return detail::recipe::Slice{start, stop}; },
                                 [&](sql::Query& q) { q.set_limits(start, stop); });
        if (cache_.filled()) {
            auto& items = cache_.get().items;
            auto b = std::min<std::size_t>(static_cast<std::size_t>(start), items.size());
            auto e = stop ? std::min<std::size_t>(static_cast<std::size_t>(std::max(*stop, start)), items.size()) : items.size();
            auto& sliced = out.cache_.get();
            sliced.items.assign(items.begin() + static_cast<std::ptrdiff_t>(b), items.begin() + static_cast<std::ptrdiff_t>(e));
            sliced.filled = true;
        }
        return out;
    }

    /// Loads the related objects of these ForeignKeys in the same query, with JOINs (Django's select_related()):
    /// `select_related("blog", "blog__owner")`; no names: every non-NULL-able ForeignKey. `entry.blog.get()` then
    /// runs no query. Names accumulate over calls.
    template <class... Names>
    self_type select_related(const Names&... names) const {
        using Mode = detail::recipe::SelectRelated::Mode;
        return select_related_names(sizeof...(Names) ? Mode::names : Mode::all, {std::string(std::string_view(names))...});
    }
    /// `select_related(nullptr)` clears the related objects to load (Django's select_related(None)).
    self_type select_related(std::nullptr_t) const {
        check_combinator("select_related");
        return recorded([] { return detail::recipe::SelectRelated{detail::recipe::SelectRelated::Mode::clear, {}}; },
                        [&](sql::Query& q) { q.select_related.clear(); });
    }

    /// Loads the related objects of these relations for all results at once, one query per level, after the
    /// results (Django's prefetch_related()): reverse relations by accessor ("entry_set", or a related_name), read
    /// with `dorm::related<&Entry::blog>(blog).all()` or `dorm::prefetched<Entry>(blog, "entry_set")`; ForeignKeys
    /// ("blog"), read with `entry.blog.get()`; nested ("entry_set__blog"); or `Prefetch(lookup, queryset, to_attr)`.
    template <class... Lookups>
    self_type prefetch_related(const Lookups&... lookups) const {
        return prefetch_specs({Prefetch(lookups).spec()...});
    }

    /// Leaves these fields unloaded (Django's defer()): instances hold their default values for them, list them in
    /// get_deferred_fields(), load them with refresh_from_db(), and save() writes only the loaded fields.
    /// `defer()` with no names loads every field again.
    template <class... Names>
    self_type defer(const Names&... names) const {
        return defer_fields({std::string(std::string_view(names))...});
    }
    /// Loads only these fields (and the primary key), deferring the others (Django's only()); with no names, only
    /// the primary key.
    template <class... Names>
    self_type only(const Names&... names) const {
        return only_fields({std::string(std::string_view(names))...});
    }

private:
    self_type defer_fields(std::vector<std::string> fields) const {
        check_loading("defer");
        check_field_names(fields);
        return recorded([&] { return detail::recipe::Defer{fields}; }, [&](sql::Query& q) {
            detail::loading_names(q, fields);
            if (fields.empty()) {
                q.loading.clear();
                q.defer_loading = true;
            } else if (q.defer_loading) {
                for (auto& f : fields)
                    if (std::find(q.loading.begin(), q.loading.end(), f) == q.loading.end()) q.loading.push_back(f);
            } else {  // only(...).defer(...): fewer fields loaded (Django's add_deferred_loading())
                std::vector<std::string> only = std::move(q.loading);
                q.loading.clear();
                for (auto& f : only)
                    if (std::find(fields.begin(), fields.end(), f) == fields.end()) q.loading.push_back(f);
                if (q.loading.empty()) {  // none left: every field, but those deferred now and not named before
                    q.defer_loading = true;
                    for (auto& f : fields)
                        if (std::find(only.begin(), only.end(), f) == only.end()) q.loading.push_back(f);
                }
            }
        });
    }
    self_type only_fields(std::vector<std::string> fields) const {
        check_loading("only");
        check_field_names(fields);
        return recorded([&] { return detail::recipe::Only{fields}; }, [&](sql::Query& q) {
            detail::loading_names(q, fields);
            if (!q.defer_loading) {  // only().only(): the later call wins, as in Django
                q.loading = fields;
            } else {
                std::vector<std::string> keep;
                for (auto& f : fields)
                    if (std::find(q.loading.begin(), q.loading.end(), f) == q.loading.end()) keep.push_back(f);
                q.loading = std::move(keep);
            }
            // Django's get_select_mask(): no names left is every field, not the key alone.
            q.defer_loading = q.loading.empty();
        });
    }
    // The run-time forms of the variadic methods above (what loads() replays).
    self_type distinct_fields(std::vector<std::string> names) const {
        check_combinator("distinct");
        if (query_->is_sliced()) throw TypeError("dorm: Cannot create distinct fields once a slice has been taken.");
        return recorded([&] { return detail::recipe::Distinct{names}; }, [&](sql::Query& q) {
            q.distinct = true;
            q.distinct_fields.clear();
            for (const auto& n : names) q.distinct_fields.push_back(sql::resolve_path(q, n, false).lhs);
        });
    }
    self_type select_related_names(detail::recipe::SelectRelated::Mode mode, std::vector<std::string> names) const {
        check_combinator("select_related");
        if (query_->values_mode) throw TypeError("dorm: Cannot call select_related() after .values() or .values_list()");
        return recorded([&] { return detail::recipe::SelectRelated{mode, names}; }, [&](sql::Query& q) {
            if (mode == detail::recipe::SelectRelated::Mode::all) sql::add_select_related_all(q);
            else for (const auto& n : names) sql::add_select_related(q, n);
        });
    }
    self_type prefetch_specs(std::vector<sql::PrefetchSpec> specs) const {
        check_combinator("prefetch_related");
        if (query_->values_mode) throw TypeError("dorm: Cannot call prefetch_related() after .values() or .values_list()");
        return recorded([&] { return detail::recipe::PrefetchRelated{specs}; }, [&](sql::Query& q) {
            sql::add_prefetch(q, specs);
        });
    }

public:
    /// Django's extra(): SQL fragments for the select list, WHERE, FROM and ORDER BY, for what the API cannot say.
    /// Prefer annotate() with RawSQL / expressions; never build the fragments from untrusted input.
    self_type extra(const ExtraOptions& o) const {
        check_combinator("extra");
        if (query_->is_sliced()) throw TypeError("dorm: Cannot change a query once a slice has been taken.");
        auto take = [](const std::vector<Value>& from, std::size_t& next, std::string_view sql) {
            std::vector<Value> out;
            for (std::size_t i = 0; i + 1 < sql.size(); ++i) {
                if (sql[i] != '%') continue;
                if (sql[i + 1] == 's') {
                    if (next >= from.size()) throw TypeError("dorm: extra() has more %s placeholders than parameters");
                    out.push_back(from[next++]);
                }
                ++i;
            }
            return out;
        };
        // SQL given as text: dumps() refuses to write it.
        static const auto unrecordable = detail::unrecorded_recipe("extra()");
        return chain(unrecordable, [&](sql::Query& q) {
            std::size_t next = 0;
            for (const auto& item : o.select) {
                const std::string& name = item.first;
                detail::check_alias(name);
                if (q.model->find_field(name))
                    throw ValueError(fmt::format("dorm: The annotation '{}' conflicts with a field on the model.", name));
                auto e = dorm::detail::make_node<sql::RawExpr>(item.second, take(o.select_params, next, item.second), std::nullopt);
                std::erase_if(q.annotations, [&](const sql::Annotation& a) { return a.name == name; });
                q.annotations.push_back(sql::Annotation{name, std::move(e), true});
            }
            if (next != o.select_params.size()) throw TypeError("dorm: extra() has more select_params than placeholders");
            next = 0;
            for (const auto& sql : o.where)
                sql::add_where(q, dorm::detail::make_node<sql::RawExpr>(sql, take(o.params, next, sql), FieldKind::boolean));
            if (next != o.params.size()) throw TypeError("dorm: extra() has more params than placeholders");
            for (const auto& t : o.tables)
                if (std::find(q.extra_tables.begin(), q.extra_tables.end(), t) == q.extra_tables.end()) q.extra_tables.push_back(t);
            if (!o.order_by.empty()) {
                sql::OrderList terms;
                for (const auto& n : o.order_by) sql::resolve_orderings(q, std::string_view(n), terms);
                detail::set_ordering(q, std::move(terms));
            }
        });
    }

    /// Runs a raw SQL query and maps its columns to instances of T by name (Django's raw()): columns missing from
    /// the model's fields are deferred, extra ones become annotations; `translations` maps query column names to
    /// field names. "%s" stands for each of `params`, "%%" for a percent sign.
    RawQuerySet<T> raw(std::string sql, std::vector<Value> params = {},
                       std::map<std::string, std::string> translations = {}) const {
        return RawQuerySet<T>(std::move(sql), std::move(params), std::move(translations), query_->db, query_->hints);
    }

    // ---- Annotation, values and aggregation ------------------------------------------------------------------

    /// Adds a computed value to every result (Django's annotate()): `annotate("n", Count("entry"))`, several as
    /// name, expression pairs; an aggregate over one field may be anonymous (`annotate(Count("rating"))` is
    /// "rating__count"). Instances read them with `obj.annotations()["n"]`; filter() and order_by() take the names.
    template <class... Args>
    self_type annotate(const Args&... args) const {
        return annotate_items(detail::named_exprs(args...), false);
    }
    /// Like annotate(), but the value is not selected: for filter(), order_by() and update() (Django's alias()).
    template <class... Args>
    self_type alias(const Args&... args) const {
        return annotate_items(detail::named_exprs(args...), true);
    }

    /// Rows of name -> value instead of instances (Django's values()): every field (a ForeignKey as "blog_id"),
    /// or the fields, paths ("blog__name", "pub_date__year") and annotations named, and name, expression pairs.
    /// After it, annotate() groups by these fields.
    template <class... Args>
    QuerySet<Row> values(const Args&... args) const {
        return QuerySet<Row>(values_query(detail::named_exprs(args...)));
    }

    /// Tuples instead of instances (Django's values_list()): `values_list<std::int64_t, std::string>("id",
    /// "headline")`; `values_list<std::int64_t>("id", dorm::flat)` yields the values; `values_list("id",
    /// "headline", dorm::named)` yields Rows.
    template <class... Ts, class... Args>
    auto values_list(const Args&... args) const {
        constexpr bool is_flat = (std::is_same_v<Args, flat_t> || ...);
        constexpr bool is_named = (std::is_same_v<Args, named_t> || ...);
        static_assert(!(is_flat && is_named), "dorm: 'flat' and 'named' can't be used together.");
        auto q = values_query(detail::positional_exprs(args...));
        std::size_t n = q->values.size();
        if constexpr (is_named) {
            static_assert(sizeof...(Ts) == 0, "dorm: values_list(..., dorm::named) yields Rows: give no types");
            return QuerySet<Row>(std::move(q));
        } else if constexpr (is_flat) {
            static_assert(sizeof...(Ts) == 1, "dorm: values_list<T>(field, dorm::flat) takes exactly one type");
            // Django: with no field named, each row's first column (values_list(flat=True): the keys, usually).
            if (n != 1 && sizeof...(Args) > 1)
                throw TypeError("dorm: 'flat' is not valid when values_list is called with more than one field.");
            return QuerySet<Ts...>(std::move(q));
        } else {
            static_assert(sizeof...(Ts) > 0, "dorm: values_list<T...>(fields...) needs the column types (or dorm::named)");
            if (n != sizeof...(Ts))
                throw TypeError(fmt::format("dorm: values_list() selects {} columns but {} types were given", n,
                                            sizeof...(Ts)));
            return QuerySet<std::tuple<Ts...>>(std::move(q));
        }
    }

    /// Aggregates over the whole QuerySet (Django's aggregate()): `aggregate("avg", Avg("rating"), Count("id"))`
    /// returns {'avg': ..., 'id__count': ...}. Over no rows each is NULL (std::nullopt), its `default_`, or 0 for
    /// Count.
    template <class... Args>
    Row aggregate(const Args&... args) const {
        check_combinator("aggregate");
        auto items = detail::named_exprs(args...);
        if (items.empty()) throw TypeError("dorm: aggregate() needs at least one aggregate expression");
        if (!query_->distinct_fields.empty()) sql::detail::distinct_fields_unsupported("aggregate()");
        sql::Query q = *query_;
        sql::detail::clear_ordering(q);
        std::vector<sql::SelectItem> aggregates;
        for (const auto& item : items) {
            if (!item.expr) throw TypeError(fmt::format("dorm: aggregate() takes expressions; '{}' has none", item.name));
            std::string name = item.name.empty() ? detail::default_alias(*item.expr, "aggregates") : item.name;
            detail::check_alias(name);
            auto e = sql::resolve_expression(q, *item.expr->node());
            if (!e->contains_aggregate()) throw TypeError(fmt::format("dorm: {} is not an aggregate expression", name));
            detail::check_summarized(q, *e);
            aggregates.push_back(sql::SelectItem{std::move(name), std::move(e)});
        }
        auto names = dorm::detail::make_node<Row::names_type>();
        std::vector<std::optional<FieldKind>> kinds;
        for (const auto& a : aggregates) {
            names->push_back(a.name);
            kinds.push_back(a.expr->output_kind());
        }
        auto& conn = connection();
        auto c = sql::compile_aggregate(q, conn.dialect(), aggregates);
        std::vector<Value> values;
        if (c.nothing || q.empty) {  // no query when each aggregate's value over no rows is known (Django's)
            for (const auto& a : aggregates)
                if (auto v = sql::empty_result_value(*a.expr)) values.push_back(std::move(*v));
            if (values.size() == aggregates.size()) return Row(std::move(names), std::move(values));
            values.clear();
            c = sql::compile_aggregate_over_nothing(q, conn.dialect(), aggregates);
            if (c.nothing) throw DatabaseError("dorm: aggregate() over no rows compiled to no query", c.sql);
        }
        auto cursor = conn.query(c.sql, c.params);
        if (!cursor->next()) throw DatabaseError("dorm: aggregate() returned no row", c.sql);
        auto row = cursor->row();
        for (std::size_t i = 0; i < kinds.size(); ++i) values.push_back(detail::expression_value(row[i], kinds[i]));
        return Row(std::move(names), std::move(values));
    }

    /// The distinct dates of a Date (or DateTime) field, truncated to "year", "month", "week" (Mondays) or "day",
    /// in `order` "ASC" or "DESC" (Django's dates()).
    QuerySet<Date> dates(std::string_view field, std::string_view kind, std::string_view order = "ASC") const {
        if (kind != "year" && kind != "month" && kind != "week" && kind != "day")
            throw ValueError("dorm: 'kind' must be one of 'year', 'month', 'week', or 'day'.");
        return QuerySet<Date>(truncated_dates(field, kind, order, FieldKind::date));
    }
    /// The distinct datetimes of a DateTime field, truncated to "year", "month", "week", "day", "hour",
    /// "minute" or "second" (Django's datetimes()) in UTC, or in the time zone `tz` names ("Europe/Paris"; the
    /// results are the UTC instants of those local truncations, as Trunc's with a tzinfo). SQLite reads the
    /// system's zone database; an unknown zone is a DataError.
    QuerySet<DateTime> datetimes(std::string_view field, std::string_view kind, std::string_view order = "ASC",
                                 std::string_view tz = "UTC") const {
        if (kind != "year" && kind != "month" && kind != "week" && kind != "day" && kind != "hour" &&
            kind != "minute" && kind != "second")
            throw ValueError("dorm: 'kind' must be one of 'year', 'month', 'week', 'day', 'hour', 'minute', or 'second'.");
        return QuerySet<DateTime>(truncated_dates(field, kind, order, FieldKind::datetime, tz == "UTC" ? "" : tz));
    }

    // ---- Set operations ----------------------------------------------------------------------------------------

    /// SQL UNION of this QuerySet and `others` (Django's union()); `union_(a, b, true)` keeps duplicates (UNION ALL).
    /// Afterwards only slicing, order_by(), count(), exists(), values() and values_list() are allowed.
    template <class... Others>
    self_type union_(const Others&... others) const {
        bool all = false;
        std::vector<std::shared_ptr<const sql::Query>> parts;
        (collect_part(parts, all, others), ...);
        if (query_->empty) {  // Django: none().union(...) is the union of the others that can match something
            std::erase_if(parts, [](const auto& p) { return p->empty; });
            if (parts.empty()) return self();
            if (parts.front()->model == query_->model && parts.front()->values_mode == query_->values_mode) {
                self_type first(std::move(parts.front()));
                parts.erase(parts.begin());
                return parts.empty() ? first : first.combined(all ? "UNION ALL" : "UNION", std::move(parts));
            }
        }
        return combined(all ? "UNION ALL" : "UNION", std::move(parts));
    }
    /// SQL INTERSECT: rows in this QuerySet and in every one of `others`.
    template <class... Others>
    self_type intersection(const Others&... others) const {
        bool all = false;
        std::vector<std::shared_ptr<const sql::Query>> parts;
        (collect_part(parts, all, others), ...);
        // Django: an intersection with none() is that none(), which later calls may still filter.
        if (query_->empty || std::any_of(parts.begin(), parts.end(), [](const auto& p) { return p->empty; }))
            return none();
        return combined("INTERSECT", std::move(parts));
    }
    /// SQL EXCEPT: rows in this QuerySet and in none of `others`.
    template <class... Others>
    self_type difference(const Others&... others) const {
        bool all = false;
        std::vector<std::shared_ptr<const sql::Query>> parts;
        (collect_part(parts, all, others), ...);
        if (query_->empty) return self();  // Django: none().difference(...) is that none()
        return combined("EXCEPT", std::move(parts));
    }

    // ---- Evaluation ------------------------------------------------------------------------------------------

    const_iterator begin() const { return fetch_all().begin(); }
    const_iterator end() const { return fetch_all().end(); }
    /// Number of results, evaluating the QuerySet (Python's len()).
    std::size_t size() const { return fetch_all().size(); }
    /// True when there are no results, evaluating the QuerySet (Python's `not qs`).
    bool empty() const { return fetch_all().empty(); }
    explicit operator bool() const { return !empty(); }

    /// The n-th result (Python's `qs[n]`): from the cache when evaluated, else one row with LIMIT 1 OFFSET n.
    /// Throws IndexError past the end and ValueError for a negative index.
    T operator[](std::int64_t n) const {
        if (n < 0) throw ValueError("dorm: Negative indexing is not supported.");
        if (cache_.filled()) {
            const auto& items = cache_.get().items;
            if (static_cast<std::size_t>(n) >= items.size()) throw IndexError("dorm: list index out of range");
            return items[static_cast<std::size_t>(n)];
        }
        auto q = *query_;
        q.set_limits(n, n == INT64_MAX ? n : n + 1);
        auto rows = run(q);
        if (rows.empty()) throw IndexError("dorm: list index out of range");
        return std::move(rows.front());
    }

    /// SELECT COUNT(*), or the cache's size when evaluated.
    std::int64_t count() const {
        if (cache_.filled()) return static_cast<std::int64_t>(cache_.get().items.size());
        auto& conn = connection();
        const backends::Dialect& dialect = conn.dialect();
        auto build = [&](const sql::Query& source, std::span<const Value>) { return sql::compile_count(source, dialect); };
        detail::ShapedStatement st;
        detail::shaped_statement(*query_, 'c', {}, conn, detail::shape_build(build), st, {}, true);
        if (!st.sql) return 0;
        auto cursor = conn.query(*st.sql, st.params, st.hint);
        if (!cursor->next()) return 0;
        return cursor->row()[0].i;
    }

    /// Whether any row matches, with a cheap query (or the cache when evaluated).
    bool exists() const {
        if (cache_.filled()) return !cache_.get().items.empty();
        auto& conn = connection();
        const backends::Dialect& dialect = conn.dialect();
        auto build = [&](const sql::Query& source, std::span<const Value>) { return sql::compile_exists(source, dialect); };
        detail::ShapedStatement st;
        detail::shaped_statement(*query_, 'e', {}, conn, detail::shape_build(build), st, {}, true);
        if (!st.sql) return false;
        return conn.query(*st.sql, st.params, st.hint)->next();
    }

    /// Whether `obj` is among the results (by primary key).
    bool contains(const T& obj) const {
        check_combinator("contains");  // Django checks this first, an evaluated QuerySet too
        if (detail::pk_unset(obj)) throw ValueError("dorm: QuerySet.contains() cannot be used on unsaved objects.");
        auto pk = detail::pk_value(obj);
        if (cache_.filled()) {
            for (const auto& o : cache_.get().items)
                if (detail::pk_value(o) == pk) return true;
            return false;
        }
        return filter("pk", pk).exists();
    }

    /// The one row matching the conditions (given as filter() takes them); throws T::DoesNotExist or
    /// T::MultipleObjectsReturned.
    template <class... Qs>
        requires(detail::q_like<Qs> && ...)
    T get(const Q& first, const Qs&... rest) const {
        return filter(first, rest...).get();
    }
    template <class V>
    T get(LookupPath<checked> path, V&& value) const {
        using D = std::remove_cvref_t<V>;
        if constexpr (is_model && (detail::value_like<D> || detail::model<D> || detail::is_foreign_key<D>::value)) {
            const Value v = detail::to_value(value);  // as Q makes it
            T out{};  // the one object returned (no move of the result)
            if constexpr (detail::model<D>) {  // Q of the instance itself: a field that is no relation refuses it
                if (!get_by_field(path.view(), v, out, true)) out = add_condition(Q(path.ref(), value)).get();
            } else if (!get_by_field(path.view(), v, out)) {
                out = add_condition(Q(path.ref(), v)).get();
            }
            return out;
        } else {
            return add_condition(Q(path.ref(), std::forward<V>(value))).get();
        }
    }
    template <class V>
    T get(const Q& q, LookupPath<checked> path, V&& value) const {
        return filter(q, path, std::forward<V>(value)).get();
    }
    template <class V1, class V2>
    T get(LookupPath<checked> p1, V1&& v1, LookupPath<checked> p2, V2&& v2) const {
        return filter(p1, std::forward<V1>(v1), p2, std::forward<V2>(v2)).get();
    }
    T get() const {
        T out{};
        const sql::Query& q = *query_;
        if (q.empty) get_failed(0);
        const std::string* db = detail::query_db(q);
        auto& conn = databases().get(*db).connection();
        const backends::Dialect& dialect = conn.dialect();
        auto build = [&](const sql::Query& source, std::span<const Value>) {
            return sql::compile_select(get_query(source), dialect);
        };
        detail::ShapedStatement st;
        detail::shaped_statement(q, 'G', {}, conn, detail::shape_build(build), st, {}, true);
        read_one(q, db, conn, st, out);
        return out;
    }

private:
    // Django: get() drops the ordering, fetches at most 21 rows, and reports "more than 20" beyond that.
    static constexpr std::int64_t max_get_results = 21;

    /// The query get() runs for `source`.
    static sql::Query get_query(const sql::Query& source) {
        auto q = source;
        if (!q.is_sliced()) {
            sql::detail::clear_ordering(q);
            q.set_limits(std::nullopt, max_get_results);
        }
        return q;
    }

    /// get(field, value) without building and compiling a query each time: the statement comes from the connection's
    /// shape cache (this QuerySet's shape, the field and the value's class), where the first call of the shape left
    /// it; a cached statement's value is checked as filter() would check it, then bound. False, with `out` untouched,
    /// when `path` is not one field's exact value.
    bool get_by_field(std::string_view path, const Value& v, T& out, bool instance = false) const {
        if (v.is_null() || path.find("__") != std::string_view::npos) return false;
        const sql::Query& base = *query_;
        const FieldMeta* field = base.model->find_field(path);
        if (!field || base.empty || !base.combinator.empty()) return false;
        if (instance && !field->is_relation()) return false;  // filter() refuses it
        const std::string* db = detail::query_db(base);
        auto& conn = databases().get(*db).connection();
        const backends::Dialect& dialect = conn.dialect();
        auto build = [&](const sql::Query& source, std::span<const Value> extra) {  // extra[0]: `v`, or its change
            // This query the first time; learning a shape, the query built again with changed values.
            const self_type from(&source == &base ? query_ : dorm::detail::make_node<sql::Query>(source));
            return sql::compile_select(get_query(*from.add_condition(Q(path, extra[0])).query_), dialect);
        };
        detail::ShapedStatement st;
        const Value* value[1] = {&v};
        detail::shaped_statement(base, 'g', path, conn, detail::shape_build(build), st, value, true);
        if (st.cached) sql::detail::check_value(*field, v);
        read_one(base, db, conn, st, out, field == &base.model->fields[base.model->pk] && one_row_per_object(base));
        return true;
    }

    /// Whether `q` reads at most one row per object: no condition, and no join, table or annotation that could
    /// repeat a row. Then a primary key's exact value matches at most one row, and get() need not step again to
    /// find out that no second one follows (the result is the same: the key is unique).
    static bool one_row_per_object(const sql::Query& q) noexcept {
        return !q.where && !q.having && !q.qualify && q.grouping == sql::Grouping::none && q.annotations.empty() &&
               q.extra_tables.empty() && q.filtered_relations.empty() && q.combined.empty() &&
               std::none_of(q.joins.begin(), q.joins.end(), [](const sql::Join& j) { return j.reverse; });
    }

    /// Runs `st` (get()'s statement for `q`; none when it matches nothing) and decodes its one row into `out`,
    /// with no list in between; DoesNotExist or MultipleObjectsReturned for another number of rows.
    /// `unique`: the statement matches at most one row (one_row_per_object()), so it is not stepped past the first.
    void read_one(const sql::Query& q, const std::string* db, backends::Connection& conn,
                  const detail::ShapedStatement& st, T& out, bool unique = false) const {
        if (!st.sql) get_failed(0);
        if (!q.prefetch.empty()) {  // prefetching works on a list
            auto rows = run_compiled(q, db, conn, *st.sql, st.params);
            if (rows.size() != 1) get_failed(static_cast<std::int64_t>(rows.size()));
            out = std::move(rows.front());
            return;
        }
        check_lock(q, conn);
        detail::RowReader<T> reader(q, db);
        auto cursor = conn.query(*st.sql, st.params, st.hint);
        check_columns(*cursor, reader);
        std::int64_t n = 0;
        while (cursor->next()) {
            if (n++ != 0) continue;
            reader.read(cursor->row(), out);  // `out` is a T& (no std::vector<bool> proxy here)
            if (unique) return;
        }
        if (n != 1) get_failed(n);
    }

    /// get() found `n` rows, not one.
    [[noreturn]] void get_failed(std::int64_t n) const {
        auto message = detail::get_error(query_->model->name, n, query_->is_sliced(), max_get_results);
        if constexpr (is_model) {
            if (n == 0) throw typename T::DoesNotExist(message);
            throw typename T::MultipleObjectsReturned(message);
        } else {  // values(): the model's exceptions are not known here, their bases are
            if (n == 0) throw ObjectDoesNotExist(message);
            throw MultipleObjectsReturned(message);
        }
    }

public:

    /// Saves a new object with these field values and returns it (Django's create(**kwargs)).
    T create(const Kwargs& kwargs) const {
        detail::check_init_kwargs(model_meta<T>(), kwargs);
        T obj = detail::make_instance<T>();
        detail::assign_kwargs(obj, kwargs);
        return create(std::move(obj));
    }
    /// Inserts `obj` (always an INSERT, Django's force_insert) and returns it with its primary key set.
    /// (A template so that a braced list always means name/value pairs.)
    template <class U>
        requires std::is_same_v<std::remove_cvref_t<U>, T>
    T create(U&& given) const {
        T obj = std::forward<U>(given);
        SaveOptions o;
        o.force_insert = true;
        o.using_ = *write_db();
        detail::save_owned_instance(obj, o);  // `obj` is this call's own until it is returned
        return obj;
    }

    /// Looks up an object with `kwargs`, creating it (with `defaults` too) if none exists.
    /// Returns the object and whether it was created.
    std::pair<T, bool> get_or_create(const Kwargs& kwargs, const Kwargs& defaults = {}) const {
        // Django: the lookup reads from the database the object would be created on.
        const self_type writing = for_writing();
        try {
            return {writing.get(kwargs_q(kwargs)), false};
        } catch (const typename T::DoesNotExist&) {
        }
        T obj = detail::make_instance<T>();
        detail::assign_kwargs(obj, kwargs, true);
        detail::assign_kwargs(obj, defaults);
        try {
            return atomic([&] { return std::pair<T, bool>{writing.create(std::move(obj)), true}; }, *writing.write_db());
        } catch (const IntegrityError&) {
            // Another writer created it between our SELECT and INSERT: return theirs.
            try {
                return {writing.get(kwargs_q(kwargs)), false};
            } catch (const typename T::DoesNotExist&) {
            }
            throw;
        }
    }

    /// Updates the object matching `kwargs` with `defaults`, or creates it from `kwargs` and `create_defaults`
    /// (`defaults` when not given). Returns the object and whether it was created.
    std::pair<T, bool> update_or_create(const Kwargs& kwargs, const Kwargs& defaults = {},
                                        const std::optional<Kwargs>& create_defaults = std::nullopt) const {
        const self_type writing = for_writing();
        const std::string* db = writing.write_db();
        return atomic(
            [&]() -> std::pair<T, bool> {
                // Django: the row is locked until it is saved, and an object another writer created in between
                // (get_or_create()'s IntegrityError path) is updated too.
                auto [found, created] = writing.select_for_update().get_or_create(
                    kwargs, create_defaults ? *create_defaults : defaults);
                if (created) return {std::move(found), true};
                detail::assign_kwargs(found, defaults);
                SaveOptions o;
                o.using_ = *db;
                for (const auto& kw : defaults) o.update_fields.push_back(kw.name);
                if (!o.update_fields.empty()) detail::save_instance(found, o);
                return {std::move(found), false};
            },
            *db);
    }

    /// Inserts many objects in as few statements as the backend's parameter limit allows, and returns them
    /// with primary keys set (not with ignore_conflicts, as in Django).
    std::vector<T> bulk_create(std::vector<T> objs, const BulkCreateOptions& options = {}) const;

    /// Updates `fields` of every object in `objs` with one UPDATE per batch; returns the rows matched.
    std::int64_t bulk_update(const std::vector<T>& objs, const std::vector<std::string>& fields,
                             std::size_t batch_size = 0) const;

    /// All objects, keyed by primary key (Django's in_bulk()).
    template <class K = std::int64_t>
    std::map<K, T> in_bulk() const {
        return in_bulk_impl<K>(nullptr, "pk");
    }
    /// The objects whose `field_name` (a unique field, "pk" by default) is in `ids`, keyed by it.
    template <class K>
    std::map<K, T> in_bulk(const std::vector<K>& ids, std::string_view field_name = "pk") const {
        return in_bulk_impl<K>(&ids, field_name);
    }
    /// All objects keyed by `field_name` (Django's in_bulk(field_name=...) without ids): `in_bulk<std::string>(
    /// std::nullopt, "slug")`.
    template <class K>
    std::map<K, T> in_bulk(std::nullopt_t, std::string_view field_name) const {
        return in_bulk_impl<K>(nullptr, field_name);
    }

private:
    template <class K>
    std::map<K, T> in_bulk_impl(const std::vector<K>* ids, std::string_view field_name) const {
        if (query_->is_sliced()) throw TypeError("dorm: Cannot use 'limit' or 'offset' with in_bulk().");
        const auto& meta = *query_->model;
        const FieldMeta& f = meta.get_field(field_name);
        // Django: a non-unique field will do when the QuerySet is distinct on that field alone (PostgreSQL).
        const auto* only_distinct = query_->distinct_fields.size() == 1
                                        ? dynamic_cast<const sql::Col*>(query_->distinct_fields.front().get())
                                        : nullptr;
        if (!f.unique && !f.primary_key && !(only_distinct && only_distinct->field == &f))
            throw ValueError(fmt::format("dorm: in_bulk()'s field_name must be a unique field but '{}' isn't.", field_name));
        std::map<K, T> out;
        auto collect = [&](const self_type& qs) {
            // Django's dict comprehension: a key seen again (rows repeated by a join) keeps its last row.
            for (const auto& obj : qs) out.insert_or_assign(f.get(&obj).template as<K>(), obj);
        };
        if (!ids) {
            collect(all());
            return out;
        }
        if (ids->empty()) return out;
        // Each statement binds this QuerySet's own parameters too.
        const auto& dialect = connection().dialect();
        const std::size_t own = sql::compile_select(*query_, dialect).params.size();
        const std::size_t batch = dialect.max_query_params() > own + 1 ? dialect.max_query_params() - own : 1;
        for (std::size_t i = 0; i < ids->size(); i += batch) {
            std::vector<Value> part;
            for (std::size_t j = i; j < std::min(ids->size(), i + batch); ++j) part.emplace_back((*ids)[j]);
            collect(filter(std::string(f.name) + "__in", part));
        }
        return out;
    }

public:

    /// Streams the results without filling the cache (Django's iterator()); memory stays flat, `chunk_size` (2000
    /// when not given) rows at a time. With prefetch_related(), each chunk is read, prefetched (one query per
    /// level), then handed out; as in Django 5, the chunk size must then be given (ValueError).
    Stream<T> iterator(std::optional<std::size_t> given_chunk_size = std::nullopt) const {
        std::size_t chunk_size = given_chunk_size.value_or(2000);
        if (chunk_size == 0) throw ValueError("dorm: Chunk size must be strictly positive.");
        std::shared_ptr<const sql::Query> prefetch;
        if constexpr (is_model)
            if (!query_->prefetch.empty()) prefetch = query_;
        if (prefetch && !given_chunk_size)
            throw ValueError("dorm: chunk_size must be provided when using QuerySet.iterator() after prefetch_related().");
        const std::string* db = detail::query_db(*query_);
        detail::RowReader<T> reader(*query_, db);
        if (query_->empty) return Stream<T>(nullptr, std::move(reader));
        auto& conn = databases().get(*db).connection();
        check_lock(*query_, conn);
        auto c = sql::compile_select(*query_, conn.dialect());
        if (c.nothing) return Stream<T>(nullptr, std::move(reader));
        auto cursor = conn.stream(c.sql, c.params, chunk_size);
        check_columns(*cursor, reader);
        return Stream<T>(std::move(cursor), std::move(reader), std::move(prefetch), chunk_size);
    }

    /// The latest object by `fields` (or the model's get_latest_by); throws DoesNotExist when empty.
    template <class... Names>
    T latest(const Names&... fields) const {
        return earliest_or_latest(true, {std::string_view(fields)...});
    }
    /// The earliest object by `fields` (or the model's get_latest_by); throws DoesNotExist when empty.
    template <class... Names>
    T earliest(const Names&... fields) const {
        return earliest_or_latest(false, {std::string_view(fields)...});
    }

    /// The first object (by the QuerySet's ordering, or by pk when unordered), or std::nullopt.
    std::optional<T> first() const {
        if (!ordered()) detail::check_unordered_first_last(*query_, "first");
        self_type qs = ordered() ? self() : order_by("pk");  // self() keeps the cache: Django's qs[:1]
        auto rows = qs.slice(0, 1);
        if (rows.empty()) return std::nullopt;
        return *rows.begin();
    }
    /// The last object (the reversed ordering, or by -pk when unordered), or std::nullopt.
    std::optional<T> last() const {
        if (!ordered()) detail::check_unordered_first_last(*query_, "last");
        self_type qs = ordered() ? reverse() : order_by("-pk");
        auto rows = qs.slice(0, 1);
        if (rows.empty()) return std::nullopt;
        return *rows.begin();
    }

    /// UPDATE every matched row with these values, in SQL; returns the number of rows matched.
    std::int64_t update(const Kwargs& kwargs) const {
        check_combinator("update");
        if (query_->is_sliced()) throw TypeError("dorm: Cannot update a query once a slice has been taken.");
        sql::Query q = *query_;
        auto sets = detail::update_sets(q, kwargs);
        return detail::run_update(q, write_connection(), sets, kwargs);
    }

    /// DELETE every matched row; returns the total and per-model counts.
    DeleteResult delete_() const {
        check_combinator("delete");
        if (query_->values_mode) throw TypeError("dorm: Cannot call delete() after .values() or .values_list()");
        if (query_->is_sliced()) throw TypeError("dorm: Cannot use 'limit' or 'offset' with delete().");
        // Django 5: DISTINCT does not change which rows go; DISTINCT ON does.
        if (!query_->distinct_fields.empty()) throw TypeError("dorm: Cannot call delete() after .distinct(*fields).");
        DeleteResult result;  // Django >= 3.1: models with nothing deleted are left out, so no match is (0, {})
        const std::string* db = write_db();
        auto& conn = databases().get(*db).connection();
        if (query_->empty) return result;
        if (detail::has_dependents(*query_->model)) {  // on_delete rules: collect, then delete children first
            return atomic(
                [&] {
                    const sql::Query q = sql::detail::pk_query(*query_);
                    std::vector<Value> pks;
                    auto c = sql::compile_select(q, conn.dialect());
                    if (!c.nothing && !q.empty) {
                        auto cursor = conn.query(c.sql, c.params);
                        while (cursor->next()) pks.push_back(detail::cell_value(cursor->row()[0], q.model->pk_field().kind));
                    }
                    detail::Collector collector(conn, db);
                    collector.collect(*query_->model, pks);
                    result.per_model = collector.run();
                    for (const auto& [name, n] : result.per_model) result.total += n;
                    return result;
                },
                // A savepoint of its own, unlike Django's Collector.delete(): here the keys are read and the
                // ProtectedError / RestrictedError raised inside, which must leave the caller's block usable.
                *db);
        }
        auto build = [&conn](const sql::Query& source, std::span<const Value>) {
            return sql::compile_delete(source, conn.dialect());
        };
        detail::ShapedStatement st;
        detail::shaped_statement(*query_, 'd', {}, conn, detail::shape_build(build), st);
        if (st.sql) result.total = conn.execute(*st.sql, st.params);
        if (result.total) result.per_model[query_->model->name] = result.total;
        return result;
    }

    // ---- Introspection ---------------------------------------------------------------------------------------

    /// The SELECT this QuerySet runs, with parameters written as literals for reading (Django's str(qs.query)).
    std::string sql() const {
        auto c = sql::compile_select(*query_, database().dialect(), true);
        return c.sql;
    }
    /// The SELECT and its bound parameters, exactly as executed.
    sql::Compiled sql_with_params() const { return sql::compile_select(*query_, database().dialect()); }

    /// The database's plan for this query (Django's explain()); `format` and `options` as the backend allows.
    std::string explain(std::string_view format = {}, std::string_view options = {}) const {
        auto& conn = connection();
        auto c = sql::compile_select(*query_, conn.dialect());
        auto cursor = conn.query(conn.dialect().explain_prefix(format, options) + c.sql, c.params);
        std::string out;
        while (cursor->next()) {
            if (!out.empty()) out += '\n';
            bool first = true;
            for (const auto& cell : cursor->row()) {
                if (cell.kind == backends::Cell::Kind::blob) continue;
                if (!first) out += ' ';
                first = false;
                if (cell.kind == backends::Cell::Kind::text) out.append(cell.p, cell.n);
                else if (cell.kind == backends::Cell::Kind::integer) out += std::to_string(cell.i);
            }
        }
        return out;
    }

    // ---- Asynchronous methods (Django's a-methods) -------------------------------------------------------------
    // Each returns a lazy Task: nothing runs until it is co_awaited; then the blocking method of the same name runs
    // on one of dorm's worker threads (on the connection of an enclosing aatomic()), and the awaiting coroutine
    // resumes through its executor with the result or the same exception. Arguments are copied into the task.

    /// Evaluates the QuerySet (Django's `async for obj in qs`): returns it with its results cached, so that
    /// iterating it, size() and [] do not touch the database. Shares the cache with this QuerySet, as in Django;
    /// the cache is filled on the awaiting thread, when the task resumes, not by the worker.
    Task<self_type> afetch() const {
        if (cache_.filled()) return ready(self());
        return publish(self(), later([qs = detached()] {
                           (void)qs.size();
                           return qs;
                       }));
    }
    template <class... Qs>
        requires(detail::q_like<Qs> && ...)
    Task<T> aget(const Q& first, const Qs&... rest) const {
        return later_one([qs = detached(), first, rest...] { return qs.get(first, rest...); });
    }
    template <class V>
    Task<T> aget(LookupPath<checked> path, V&& value) const {
        return later_one(
            [qs = detached(), path, v = std::decay_t<V>(std::forward<V>(value))] { return qs.get(path, v); });
    }
    template <class V>
    Task<T> aget(const Q& q, LookupPath<checked> path, V&& value) const {
        return later_one(
            [qs = detached(), q, path, v = std::decay_t<V>(std::forward<V>(value))] { return qs.get(q, path, v); });
    }
    template <class V1, class V2>
    Task<T> aget(LookupPath<checked> p1, V1&& v1, LookupPath<checked> p2, V2&& v2) const {
        return later_one([qs = detached(), p1, a = std::decay_t<V1>(std::forward<V1>(v1)), p2,
                                b = std::decay_t<V2>(std::forward<V2>(v2))] { return qs.get(p1, a, p2, b); });
    }
    Task<T> aget() const {
        return later_one([qs = detached()] { return qs.get(); });
    }
    Task<T> acreate(const Kwargs& kwargs) const {
        return later_one([qs = detached(), kwargs] { return qs.create(kwargs); });
    }
    template <class U>
        requires std::is_same_v<std::remove_cvref_t<U>, T>
    Task<T> acreate(U&& given) const {
        return later_one([qs = detached(), obj = T(std::forward<U>(given))]() mutable { return qs.create(std::move(obj)); });
    }
    Task<std::pair<T, bool>> aget_or_create(const Kwargs& kwargs, const Kwargs& defaults = {}) const {
        return later([qs = detached(), kwargs, defaults] { return qs.get_or_create(kwargs, defaults); });
    }
    Task<std::pair<T, bool>> aupdate_or_create(const Kwargs& kwargs, const Kwargs& defaults = {},
                                               const std::optional<Kwargs>& create_defaults = std::nullopt) const {
        return later([qs = detached(), kwargs, defaults, create_defaults] {
            return qs.update_or_create(kwargs, defaults, create_defaults);
        });
    }
    Task<std::vector<T>> abulk_create(std::vector<T> objs, const BulkCreateOptions& options = {}) const {
        return later([qs = detached(), objs = std::move(objs), options]() mutable {
            return qs.bulk_create(std::move(objs), options);
        });
    }
    Task<std::int64_t> abulk_update(std::vector<T> objs, std::vector<std::string> fields, std::size_t batch_size = 0) const {
        return later([qs = detached(), objs = std::move(objs), fields = std::move(fields), batch_size] {
            return qs.bulk_update(objs, fields, batch_size);
        });
    }
    Task<std::int64_t> acount() const {
        return later_one([qs = detached()] { return qs.count(); });
    }
    Task<bool> aexists() const {
        return later_one([qs = detached()] { return qs.exists(); });
    }
    Task<bool> acontains(T obj) const {
        return later_one([qs = detached(), obj = std::move(obj)] { return qs.contains(obj); });
    }
    template <class K = std::int64_t>
    Task<std::map<K, T>> ain_bulk() const {
        return later_one([qs = detached()] { return qs.template in_bulk<K>(); });
    }
    template <class K>
    Task<std::map<K, T>> ain_bulk(std::vector<K> ids, std::string_view field_name = "pk") const {
        return later_one([qs = detached(), ids = std::move(ids), field = std::string(field_name)] {
            return qs.in_bulk(ids, field);
        });
    }
    template <class K>
    Task<std::map<K, T>> ain_bulk(std::nullopt_t, std::string_view field_name) const {
        return later_one([qs = detached(), field = std::string(field_name)] {
            return qs.template in_bulk<K>(std::nullopt, field);
        });
    }
    /// Streams the results (Django's `async for obj in qs.aiterator()`), `chunk_size` rows per trip to a worker
    /// thread: `auto rows = qs.aiterator(); while (auto e = co_await rows.next()) use(*e);`. The stream holds a
    /// connection (the enclosing aatomic()'s, or one of the pool's) until it ends or is destroyed.
    AsyncStream<self_type> aiterator(std::optional<std::size_t> chunk_size = std::nullopt) const {
        return AsyncStream<self_type>(detached(), chunk_size);
    }
    template <class... Names>
    Task<T> alatest(const Names&... fields) const {
        return later_one([qs = detached(), ... f = std::string(std::string_view(fields))] { return qs.latest(f...); });
    }
    template <class... Names>
    Task<T> aearliest(const Names&... fields) const {
        return later_one([qs = detached(), ... f = std::string(std::string_view(fields))] { return qs.earliest(f...); });
    }
    Task<std::optional<T>> afirst() const {
        return later_one([qs = detached()] { return qs.first(); });
    }
    Task<std::optional<T>> alast() const {
        return later_one([qs = detached()] { return qs.last(); });
    }
    template <class... Args>
    Task<Row> aaggregate(const Args&... args) const {
        return later_one([qs = detached(), args...] { return qs.aggregate(args...); });
    }
    Task<std::int64_t> aupdate(const Kwargs& kwargs) const {
        return later_one([qs = detached(), kwargs] { return qs.update(kwargs); });
    }
    Task<DeleteResult> adelete() const {
        return later([qs = detached()] { return qs.delete_(); });
    }
    Task<std::string> aexplain(std::string_view format = {}, std::string_view options = {}) const {
        return later([qs = detached(), format = std::string(format), options = std::string(options)] {
            return qs.explain(format, options);
        });
    }

    /// Whether the results have a defined order (Django's `ordered`).
    bool ordered() const noexcept { return query_->empty || query_->ordered(); }
    /// The alias of the database this QuerySet reads from (Django's `qs.db`): using_()'s, else the routers' choice.
    const std::string& db() const { return *detail::query_db(*query_); }
    /// The query state (for backends and tests).
    const sql::Query& query() const noexcept { return *query_; }
    /// Whether the result cache is filled.
    bool is_evaluated() const noexcept { return cache_.filled(); }

    // ---- Serialisation (Django's pickling of `qs.query`; <dorm/serialize.hpp>) -----------------------------------

    /// The query as text that loads() turns back into an equivalent QuerySet, for caches and other processes:
    /// `dorm-query/1 (query "Entry" "entry" (filter (lookup "rating__gte" 3)))`. It holds the calls that built the
    /// QuerySet, not their SQL and not the results. NotSupportedError when loads() would not take it back: RawSQL,
    /// extra(), a Func dorm does not define, a nested query over a model unrelated to this one, or a QuerySet not
    /// built by QuerySet methods from Model::objects() (a ManyToMany related manager's).
    std::string dumps() const { return detail::dumps_query(*query_); }

    /// The QuerySet a dumps() text describes, rebuilt by calling the same methods on the model's objects(), so every
    /// name is resolved again (an unknown field is a FieldError, as from filter()): `QuerySet<Entry>::loads(s)`; a
    /// values() QuerySet names its model: `QuerySet<Row>::loads<Entry>(s)`. ValueError for text that is not a
    /// dorm-query/1 text of this model; TypeError when its rows are not T (instances, Rows, tuples of that size).
    template <class M = checked>
    static self_type loads(std::string_view text) {
        static_assert(detail::model<M>, "dorm: QuerySet<T>::loads<Model>(text) needs the model the text was dumped from");
        static_assert(!is_model || std::is_same_v<M, T>, "dorm: QuerySet<M>::loads() loads queries of M");
        auto q = detail::loads_query(model_meta<M>(), text);
        detail::check_loaded_shape(*q, is_model, detail::RowReader<T>::arity());
        return self_type(std::move(q));
    }

protected:
    /// detail::offload() of this QuerySet's work (or a related manager's), queued for its database's pool (see
    /// detail::Job::pool_alias).
    /// `one_statement`: the work runs one statement, which may go out pipelined with those of other tasks of an
    /// enclosing aatomic() (see detail::Job::pipelines).
    template <class F>
    auto later(F f, bool one_statement = false) const {
        std::string alias;
        try {
            alias = db();
        } catch (...) {  // a failing router: raised where the work runs, as by the method
        }
        return detail::offload_to(std::move(alias), std::move(f), one_statement);
    }
    template <class F>
    auto later_one(F f) const {
        return later(std::move(f), true);
    }
    /// Shares `cache` as this QuerySet's results (a reverse relation's prefetched objects).
    void adopt_cache(std::shared_ptr<detail::ResultCache<T>> cache) { cache_.reset(std::move(cache)); }
    /// Forgets the results (the next read queries), leaving any QuerySet that shared them as it was.
    void reset_cache() const { cache_.reset(nullptr); }
    /// using_() as a many-to-many manager's get_or_create() applies it: Django's db_manager(db) sets the database
    /// before the manager's own condition, so its sticky join stays for the get() that follows.
    self_type manager_using(std::string_view alias) const {
        return recorded_from(
            query_, false, [&] { return detail::recipe::Using{std::string(alias)}; },
            [&](sql::Query& q) { q.db = detail::intern_alias(alias); }, true);
    }
    /// Replaces the query and forgets the results: a related manager built on a Prefetch queryset goes back to
    /// all related rows once a write dropped the prefetched list (Django's manager then reads anew).
    void rebase(std::shared_ptr<const sql::Query> q) const {
        query_ = std::move(q);
        cache_.reset(nullptr);
    }

    /// Returns a copy of this QuerySet with `mutate` applied to a copy of its query and an empty cache. dumps() cannot
    /// replay what `mutate` did, so the copy cannot be serialised (QuerySet's own methods record their calls).
    template <class F>
    self_type chain(F&& mutate) const {
        static const auto unrecordable = detail::unrecorded_recipe("a method that changes the query through chain()");
        return chain(unrecordable, std::forward<F>(mutate));
    }
    /// chain() saying what made the copy unrecordable (`why`, from detail::unrecorded_recipe()).
    template <class F>
    self_type chain(const std::shared_ptr<const detail::Recipe>& why, F&& mutate) const {
        auto q = detail::query_to_change(query_, false);
        mutate(*q);
        q->recipe = detail::unrecorded(query_->recipe, why);
        return self_type(std::shared_ptr<const sql::Query>(std::move(q)));
    }
    /// chain() recording the call for dumps(): `make_step()` gives its arguments (called only when recorded).
    template <class Make, class F>
    self_type recorded(Make&& make_step, F&& mutate) const {
        return recorded_from(query_, false, make_step, mutate);
    }
    /// recorded() on `source`, changed in place when `temporary` allows it (query_to_change()).
    template <class Make, class F>
    static self_type recorded_from(const std::shared_ptr<const sql::Query>& source, bool temporary, Make&& make_step,
                                   F&& mutate, bool keep_sticky = false) {
        std::shared_ptr<const detail::Recipe> parent = source->recipe;
        auto q = detail::query_to_change(source, temporary, keep_sticky);
        mutate(*q);
        q->recipe = detail::record(parent, make_step);
        return self_type(std::shared_ptr<const sql::Query>(std::move(q)));
    }

private:
    template <class, class>
    friend class QuerySet;
    friend class detail::Replayer;  // loads() replays the recorded calls through the methods below

    static const std::shared_ptr<const sql::Query>& make_query()
        requires is_model
    {
        // One query for every objects() of T: queries are immutable, and get() keeps statements with them.
        static const std::shared_ptr<const sql::Query> all = [] {
            auto q = dorm::detail::make_node<sql::Query>();
            q->model = &model_meta<T>();
            q->recipe = detail::recipe_root();
            return q;
        }();
        return all;
    }

    /// This QuerySet as self_type, sharing its cache.
    self_type self() const {
        self_type s(query_);
        s.cache_ = cache_;
        return s;
    }
    /// What an asynchronous method's worker reads: this QuerySet with its cache when filled (it no longer changes),
    /// else with a cache of its own, so that no two threads touch one cache.
    self_type detached() const {
        if (cache_.filled()) return self();
        return self_type(query_);
    }
    static Task<self_type> ready(self_type qs) { co_return qs; }
    /// afetch()'s end, on the awaiting thread: `target` takes the results the worker read into `fetched`'s cache.
    static Task<self_type> publish(self_type target, Task<self_type> fetched) {
        self_type done = co_await std::move(fetched);
        auto& cache = static_cast<const QuerySet&>(target).cache_.get();
        if (!cache.filled) cache = std::move(static_cast<const QuerySet&>(done).cache_.get());
        co_return target;
    }

    Database& database() const { return databases().get(*detail::query_db(*query_)); }
    backends::Connection& connection() const { return database().connection(); }
    /// The database writes go to (Django's `db` with _for_write set): using_()'s, else the routers' choice.
    const std::string* write_db() const { return detail::query_db(*query_, true); }
    backends::Connection& write_connection() const { return databases().get(*write_db()).connection(); }
    /// A copy whose reads go where writes go (Django sets _for_write for get_or_create() and update_or_create()).
    self_type for_writing() const {
        if (query_->db || query_->for_write) return self();
        return chain([](sql::Query& q) { q.for_write = true; });
    }

    self_type annotate_items(const std::vector<detail::NamedExpr>& items, bool alias) const {
        check_combinator(alias ? "alias" : "annotate");
        return recorded([&] { return detail::recipe::Annotate{items, alias}; }, [&](sql::Query& q) {
            auto before = q.annotations.size();
            detail::add_annotations(q, items, !alias, "annotations");
            if (alias)
                for (auto i = before; i < q.annotations.size(); ++i) q.annotations[i].alias = true;
        });
    }

    /// The query of values() / values_list(): the names and name = expression pairs given, in order.
    std::shared_ptr<const sql::Query> values_query(const std::vector<detail::NamedExpr>& items) const {
        auto q = detail::query_to_change(query_, false);
        q->recipe = detail::record(query_->recipe, [&] { return detail::recipe::Values{items}; });
        if (!q->combinator.empty()) {  // applied to every part of a set operation
            for (auto& part : q->combined)
                if (!part->values_mode) part = QuerySet<T, Derived>(part).values_query(items);
            q->values = q->combined.front()->values;
            q->values_mode = true;
            q->annotations.clear();
            return q;
        }
        // Django: values() after an aggregate annotate() keeps grouping by every field of the model.
        if (q->grouping == sql::Grouping::all) {
            q->grouping = sql::Grouping::listed;
            for (const auto& f : q->model->fields) q->group_by.push_back(dorm::detail::make_node<sql::Col>(q->alias(), &f));
        }
        std::vector<detail::NamedExpr> exprs;
        for (const auto& item : items)
            if (item.expr) exprs.push_back(item);
        detail::add_annotations(*q, exprs, false, "annotations");
        std::vector<sql::SelectItem> values;
        if (items.empty()) {
            for (const auto& f : q->model->fields)
                values.push_back(sql::SelectItem{detail::attname(f), dorm::detail::make_node<sql::Col>(q->alias(), &f)});
            // values(names).values(): every field, and the annotations the first call selected (Django's set_values()
            // leaves its annotation mask as it was).
            if (q->values_mode)
                for (const auto& v : q->values)
                    for (auto& a : q->annotations)
                        if (a.name == v.name && a.expr == v.expr) a.selected = true;
        } else {
            for (auto& a : q->annotations) a.selected = false;
            for (const auto& item : items) {
                std::string name =
                    item.name.empty() && item.expr ? detail::default_alias(*item.expr, "annotations") : item.name;
                if (const auto* a = q->find_annotation(name)) {
                    if (a->alias && !item.expr)
                        throw FieldError(fmt::format("dorm: Cannot select the '{}' alias. Use annotate() to promote it.", name));
                    values.push_back(sql::SelectItem{name, a->expr});
                    continue;
                }
                if (item.expr) continue;
                values.push_back(sql::SelectItem{name, sql::resolve_path(*q, name, false).lhs});
            }
        }
        q->values = std::move(values);
        q->values_mode = true;
        return q;
    }

    /// dates() / datetimes(): DISTINCT truncated values of `field`, NULLs left out, in `order`.
    std::shared_ptr<const sql::Query> truncated_dates(std::string_view field, std::string_view kind, std::string_view order,
                                                      FieldKind output, std::string_view zone = {}) const {
        check_combinator(output == FieldKind::date ? "dates" : "datetimes");
        if (order != "ASC" && order != "DESC") throw ValueError("dorm: 'order' must be either 'ASC' or 'DESC'.");
        auto q = detail::query_to_change(query_, false);
        q->recipe = detail::record(query_->recipe, [&] {
            return detail::recipe::Dates{std::string(field), std::string(kind), std::string(order), std::string(zone),
                                         output == FieldKind::datetime};
        });
        auto r = sql::resolve_path(*q, field, false);
        // Django's TruncBase.resolve_expression(): TypeError for a field of no date or time, ValueError for one
        // that cannot be truncated to the output.
        if (r.kind != FieldKind::date && r.kind != FieldKind::datetime && r.kind != FieldKind::time)
            throw TypeError(fmt::format("dorm: '{}' isn't a DateField, TimeField, or DateTimeField.", field));
        if (r.kind == FieldKind::time || (r.kind == FieldKind::date && output == FieldKind::datetime))
            throw ValueError(fmt::format("dorm: Cannot truncate {} '{}' to {}.",
                                         r.kind == FieldKind::time ? "TimeField" : "DateField", field,
                                         output == FieldKind::date ? "DateField" : "DateTimeField"));
        sql::ExprPtr value = r.lhs;
        if (r.kind == FieldKind::datetime && output == FieldKind::date)  // the date part, then truncated
            value = dorm::detail::make_node<lookups::Transform>(lookups::find_transform("date"), value, r.kind);
        auto truncated = dorm::detail::make_node<sql::Trunc>(std::string(kind), value, output, std::string(zone));
        auto not_null = dorm::detail::make_node<lookups::Lookup>();
        not_null->lhs = r.column;
        not_null->def = lookups::find("isnull");
        not_null->value = Value(false);
        sql::add_where(*q, not_null);
        for (auto& a : q->annotations) a.selected = false;
        std::string name = output == FieldKind::date ? "datefield" : "datetimefield";
        q->values = {sql::SelectItem{name, truncated}};
        q->values_mode = true;
        q->distinct = true;
        // As Django's order_by("-datefield"): an earlier reverse() still holds.
        q->order_by = {sql::OrderBy{dorm::detail::make_node<sql::SelectRef>(name, output), order == "DESC"}};
        return q;
    }

    template <class Other>
    static void collect_part(std::vector<std::shared_ptr<const sql::Query>>& parts, bool& all, const Other& other) {
        if constexpr (std::is_same_v<Other, bool>) {
            all = other;
        } else {
            static_assert(requires { other.query(); }, "dorm: set operations take QuerySets (and, for union_, a bool 'all')");
            parts.push_back(dorm::detail::make_node<sql::Query>(other.query()));
        }
    }

    self_type combined(std::string_view op, std::vector<std::shared_ptr<const sql::Query>> others) const {
        auto q = detail::query_to_change(query_, false);
        q->recipe = detail::record(query_->recipe, [&] { return detail::recipe::SetOperation{std::string(op), others}; });
        // Parts that can match nothing (none()) drop out of UNION, as in Django.
        q->combined.clear();
        q->combined.push_back(query_);
        for (auto& o : others) q->combined.push_back(std::move(o));
        q->combinator = std::string(op);
        q->order_by.clear();
        q->default_ordering = false;  // an earlier reverse() holds, as in Django (clear_ordering() keeps it)
        q->low = 0;
        q->high.reset();
        q->empty = false;
        q->distinct = false;
        q->distinct_fields.clear();
        q->lock.reset();
        return self_type(std::shared_ptr<const sql::Query>(std::move(q)));
    }

    void check_loading(std::string_view method) const { detail::check_loading(*query_, method); }
    void check_field_names(const std::vector<std::string>& names) const {
        for (const auto& n : names) sql::check_loading_path(*query_->model, n);
    }

    /// Django allows only slicing, order_by(), count(), exists() and values() after a set operation.
    void check_combinator(std::string_view method) const { detail::check_combinator(*query_, method); }

    /// filter(), exclude() (given the negated condition) and get(). By value: the recorded step takes it over.
    self_type add_condition(Q q) const& { return self_type(detail::filtered_query(query_, std::move(q))); }
    self_type add_condition(Q q) && {
        const auto mine = take_query();
        return self_type(detail::filtered_query(mine, std::move(q), true));
    }

    self_type order_by_terms(std::initializer_list<detail::OrderTermRef> terms) const& {
        return order_by_terms(std::span<const detail::OrderTermRef>(terms.begin(), terms.size()));
    }
    self_type order_by_terms(std::initializer_list<detail::OrderTermRef> terms) && {
        const auto mine = take_query();
        return self_type(detail::ordered_query(mine, std::span<const detail::OrderTermRef>(terms.begin(), terms.size()), true));
    }
    /// A temporary's query, for a call that may change it in place (query_to_change()): a chain's temporaries live
    /// to the end of the statement, and each would otherwise hold the query the next call changes. Taken only when
    /// it could be changed (this alone holds it, no evaluation saw it) and is no related manager's (whose methods
    /// read the instance in its hints); the QuerySet is then left empty, none(), with no results: whatever a
    /// QuerySet moved from is asked, it matches no row and writes none. Otherwise it keeps its query, which the
    /// call copies.
    std::shared_ptr<const sql::Query> take_query() {
        if constexpr (is_model) {
            if (query_.use_count() == 1 && query_->shape_memo.untouched() && !query_->hints.instance) {
                static const std::shared_ptr<const sql::Query> moved_from = detail::emptied_query(make_query());
                cache_.reset(nullptr);
                return std::exchange(query_, moved_from);
            }
        }
        return query_;
    }
    self_type order_by_terms(std::span<const detail::OrderTermRef> terms) const {
        return self_type(detail::ordered_query(query_, terms));
    }

    /// qs1 & qs2, qs1 | qs2, qs1 ^ qs2 (Django's QuerySet operators): one query whose WHERE combines both.
    static self_type combine(const QuerySet& a, const QuerySet& b, sql::Connector connector) {
        if constexpr (is_model) {
            // Django's __or__ / __xor__: an empty side gives the other, and a sliced side, which cannot be
            // filtered, takes part as the rows whose keys it selects (pk IN (its query)).
            const sql::Query& x = *a.query_;
            const sql::Query& y = *b.query_;
            if (connector != sql::Connector::and_ && x.combinator.empty() && y.combinator.empty() && x.model == y.model) {
                if (x.empty) return b.all();
                if (y.empty) return a.all();
                auto keyed = [](const QuerySet& s) {
                    self_type base(make_query());
                    if (s.query_->db) base = base.using_(*s.query_->db);
                    return base.filter(runtime_string{"pk__in"}, s.values("pk"));
                };
                if (x.is_sliced() || y.is_sliced())
                    return combine(x.is_sliced() ? keyed(a) : a, y.is_sliced() ? keyed(b) : b, connector);
            }
        }
        detail::check_combinable(*a.query_, *b.query_, connector);
        if (a.query_->empty || b.query_->empty) {
            if (connector == sql::Connector::and_) return (a.query_->empty ? a : b).all();
            return (a.query_->empty ? b : a).all();
        }
        return a.recorded([&] { return detail::recipe::Combine{connector, b.query_}; }, [&](sql::Query& q) {
            detail::combine_where(q, *a.query_, *b.query_, connector);
        });
    }

public:
    friend self_type operator&(const QuerySet& a, const QuerySet& b) { return combine(a, b, sql::Connector::and_); }
    friend self_type operator|(const QuerySet& a, const QuerySet& b) { return combine(a, b, sql::Connector::or_); }
    friend self_type operator^(const QuerySet& a, const QuerySet& b) { return combine(a, b, sql::Connector::xor_); }

private:

    static Q kwargs_q(const Kwargs& kwargs) {
        Q q;
        for (const auto& kw : kwargs) q &= Q(kw.name, kw.value);
        return q;
    }

    static void check_lock(const sql::Query& q, const backends::Connection& conn) { detail::check_lock(q, conn); }

    static void check_columns(const backends::Cursor& cursor, const detail::RowReader<T>& reader) {
        detail::check_columns(cursor, reader.columns());
    }

    /// Runs the SELECT of `q` and decodes every row.
    std::vector<T> run(const sql::Query& q) const {
        if (q.empty) return {};
        const std::string* db = detail::query_db(q);
        auto& conn = databases().get(*db).connection();
        auto c = sql::compile_select(q, conn.dialect());
        if (c.nothing) return {};
        return run_compiled(q, db, conn, c.sql, c.params);
    }

    /// Runs this QuerySet's own query, whose statement comes from the connection's shape cache (a copy changed
    /// outside the QuerySet's methods, as run() gets, may not match its recipe), and decodes every row.
    std::vector<T> run_own() const {
        const sql::Query& q = *query_;
        if (q.empty) return {};
        const std::string* db = detail::query_db(q);
        auto& conn = databases().get(*db).connection();
        const backends::Dialect& dialect = conn.dialect();
        auto build = [&](const sql::Query& source, std::span<const Value>) { return sql::compile_select(source, dialect); };
        detail::ShapedStatement st;
        detail::shaped_statement(q, 's', {}, conn, detail::shape_build(build), st, {}, true);
        if (!st.sql) return {};
        return run_compiled(q, db, conn, *st.sql, st.params);
    }

    /// Runs `sql`, compiled from `q` (or from a query with the same select list) on database `db`, and decodes
    /// its rows.
    std::vector<T> run_compiled(const sql::Query& q, const std::string* db, backends::Connection& conn,
                                const std::string& sql, std::span<const Value> params) const {
        std::vector<T> out;
        check_lock(q, conn);
        detail::RowReader<T> reader(q, db);
        auto cursor = conn.query(sql, params);
        check_columns(*cursor, reader);
        // Sized once: the rows the result holds where the backend knows it, else a small slice's length.
        if (std::size_t hint = cursor->rows_hint()) out.reserve(hint);
        else if (q.high && *q.high - q.low <= 32) out.reserve(static_cast<std::size_t>(*q.high - q.low));
        while (cursor->next()) {
            if constexpr (std::is_same_v<T, bool>) {  // std::vector<bool> has no references to its elements
                bool b = false;
                reader.read(cursor->row(), b);
                out.push_back(b);
            } else {
                reader.read(cursor->row(), out.emplace_back());
            }
        }
        if constexpr (is_model) {
            if (!q.prefetch.empty() && !out.empty()) {
                std::vector<void*> objects;
                for (auto& obj : out) objects.push_back(&obj);
                detail::prefetch_related(std::move(objects), *q.model, q.prefetch, db);
            }
        }
        return out;
    }

    /// The one place a QuerySet's results are loaded and cached.
    const std::vector<T>& fetch_all() const {
        auto& cache = cache_.get();
        if (!cache.filled) {
            cache.items = run_own();
            cache.filled = true;
        }
        return cache.items;
    }

    T earliest_or_latest(bool latest, std::vector<std::string_view> fields) const {
        if (query_->is_sliced()) throw TypeError("dorm: Cannot change a query once a slice has been taken.");
        std::vector<std::string> names(fields.begin(), fields.end());
        if (names.empty()) names = query_->model->get_latest_by;
        if (names.empty())
            throw ValueError("dorm: earliest() and latest() require either fields as positional arguments or "
                             "'get_latest_by' in the model's Meta.");
        self_type qs = order_by(names);
        if (latest) qs = qs.reverse();  // Django: latest() is reverse()._earliest()
        return qs.slice(0, 1).get();  // recorded, so that get()'s statement is kept for the shape
    }

    // Mutable for rebase() only: no other member changes it once made.
    mutable std::shared_ptr<const sql::Query> query_;
    // Mutable as any cache is: evaluation (a const operation) fills it, and a related manager's write replaces
    // the prefetched results it shared.
    detail::LazyResults<T> cache_;  // its members are mutable: a const QuerySet fills it
};

namespace detail {
/// What `Model::objects()` returns: the model's custom QuerySet when it names one, else QuerySet<M>.
template <class M>
auto objects_of() {
    if constexpr (requires { typename M::queryset_type; }) {
        using QS = typename M::queryset_type;
        static_assert(std::is_base_of_v<QuerySet<M, QS>, QS>,
                      "dorm: a model's queryset_type must derive from dorm::QuerySet<Model, itself>");
        return QS();
    } else {
        return QuerySet<M>();
    }
}
}  // namespace detail

/// Django's `CustomQuerySet.as_manager()`: a fresh custom QuerySet over all rows. A model uses one by
/// declaring `using queryset_type = CustomQuerySet;`, after which `Model::objects()` returns it.
template <class QS>
QS as_manager() {
    return QS();
}

}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/impl/query_set.ipp>
#include <dorm/impl/serialize.ipp>  // here, not in serialize.hpp: loading replays QuerySet methods
#endif
