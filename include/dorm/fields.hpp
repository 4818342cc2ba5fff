// SPDX-License-Identifier: MIT
// Field types: how each C++ member type maps to a column (field_traits), ForeignKey, and FieldMeta.
#pragma once

#include <dorm/config.hpp>

#include <dorm/backends/base/cell.hpp>
#include <dorm/errors.hpp>
#include <dorm/value.hpp>

#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace dorm {

struct ModelMeta;

/// The column types dorm knows; each dialect names them in DDL.
enum class FieldKind { boolean, small_integer, integer, big_integer, real, text, bytes, date, datetime, time, duration };
/// The last FieldKind (keep it so when adding one): tables indexed by kind are sized from it.
inline constexpr FieldKind last_field_kind = FieldKind::duration;

/// What happens to rows referencing a deleted object (Django's on_delete).
enum class OnDelete { cascade, protect, restrict, set_null, set_default, do_nothing };

/// A many-to-one relation (Django's ForeignKey), stored as the related row's primary key in column `<name>_id`.
/// `Key` is the related model's primary key type; it is checked against the model when metadata is built.
/// Nullable relations are `std::optional<ForeignKey<M>>`.
template <class M, class Key = std::int64_t>
class ForeignKey {
public:
    using model_type = M;
    using key_type = Key;

    ForeignKey() = default;
    ForeignKey(Key id) : id_(std::move(id)), set_(true) {}  // NOLINT: implicit, `e.blog = 3`
    /// Points at a saved instance: `e.blog = beatles_blog`. Throws ValueError for an unsaved one.
    template <class Model>
        requires std::is_same_v<std::remove_cvref_t<Model>, M>
    ForeignKey(const Model& obj);  // NOLINT: implicit, `e.blog = beatles_blog`

    /// The related row's primary key, without a query (Django's `entry.blog_id`).
    const Key& id() const noexcept { return id_; }
    /// True once an id or an instance was assigned.
    bool has_value() const noexcept { return set_; }

    /// The related object (Django's `entry.blog`): loaded with one query on first use, from the database the
    /// instance came from, then cached; select_related() and prefetch_related() fill the cache in advance.
    /// Throws M::DoesNotExist if the row is gone, ValueError if no id was assigned.
    const M& get() const;
    /// `entry.blog->name`.
    const M* operator->() const { return &get(); }
    /// Whether get() would answer without a query.
    bool is_cached() const noexcept { return cache_ != nullptr; }
    /// Internal: the instance assigned to it (`e.blog = blog`, not one loaded), if any, and its database in `*db`.
    const M* assigned(const std::string** db) const noexcept {
        if (!assigned_) return nullptr;
        *db = db_;
        return cache_.get();
    }
    /// Internal: the related object (select_related, prefetch_related) and the database to load it from.
    void attach(std::shared_ptr<const M> related, const std::string* db) const {
        if (related) cache_ = std::move(related);
        if (db) db_ = db;
    }

    friend bool operator==(const ForeignKey& a, const ForeignKey& b) { return a.set_ == b.set_ && a.id_ == b.id_; }

private:
    Key id_{};
    bool set_ = false;
    bool assigned_ = false;  // given an instance, whose database save() checks against the owner's
    mutable const std::string* db_ = nullptr;
    mutable std::shared_ptr<const M> cache_;
};

/// A one-to-one relation (Django's OneToOneField): a unique ForeignKey, whose reverse side is one object
/// (`dorm::related_object<&Profile::user>(user)`) and single-valued in lookups. Nullable: `std::optional<OneToOne<M>>`.
template <class M, class Key = std::int64_t>
class OneToOne : public ForeignKey<M, Key> {
public:
    using ForeignKey<M, Key>::ForeignKey;
    OneToOne() = default;
    OneToOne(const ForeignKey<M, Key>& fk) : ForeignKey<M, Key>(fk) {}  // NOLINT: implicit
};

/// A many-to-many relation (Django's ManyToManyField). It has no column: the links are rows of a join table,
/// dorm's own (`<table>_<field>`, columns `<model>_id`, created by create_tables) or the model `Through`, which has
/// a ForeignKey to each side. Lookups cross it ("authors__name"); `dorm::related<&Entry::authors>(entry)` and
/// `(author)` are its managers. The member holds nothing, so copying an instance copies no links.
template <class M, class Through = void>
struct ManyToMany {
    using model_type = M;
    using through_type = Through;
    friend bool operator==(const ManyToMany&, const ManyToMany&) = default;
};

namespace detail {

template <class T>
struct is_many_to_many : std::false_type {};
template <class M, class T>
struct is_many_to_many<ManyToMany<M, T>> : std::true_type {};

template <class T>
struct is_foreign_key : std::false_type {};
template <class M, class K>
struct is_foreign_key<ForeignKey<M, K>> : std::true_type {};
template <class M, class K>
struct is_foreign_key<OneToOne<M, K>> : std::true_type {};
template <class T>
struct is_one_to_one : std::false_type {};
template <class M, class K>
struct is_one_to_one<OneToOne<M, K>> : std::true_type {};
template <class M, class K>
struct is_one_to_one<std::optional<OneToOne<M, K>>> : std::true_type {};

[[noreturn]] DORM_DECL void null_into_non_optional();
[[noreturn]] DORM_DECL void cell_type_mismatch(std::string_view want);
// A stored number outside the member's range or with a fraction (SQLite keeps whatever arithmetic produced: a wider integer, a
// REAL past the int64 range) is an error, never a wrapped value or an undefined conversion.
[[noreturn]] DORM_DECL void text_mismatch(const backends::Cell& c, std::string_view type);
[[noreturn]] DORM_DECL void integer_out_of_range(const backends::Cell& c, std::string_view type);
DORM_DECL std::int64_t real_to_integer(double d, std::int64_t min, std::int64_t max, std::string_view type);
/// A number of microseconds computed by the database (a duration times 1.5), rounded as Python's round() does.
DORM_DECL std::int64_t real_to_microseconds(double d);

/// field_traits<T>: the column kind of a member type, how it becomes a Value, and how a Cell decodes into it.
template <class T, class = void>
struct field_traits {
    static constexpr bool supported = false;
};

template <class T, FieldKind K>
struct integral_traits {
    static constexpr bool supported = true;
    static constexpr FieldKind kind = K;
    static constexpr bool nullable = false;
    static Value to_value(const T& v) { return Value(v); }
    static void from_cell(const backends::Cell& c, T& out) {
        using limits = std::numeric_limits<T>;
        if (c.kind == backends::Cell::Kind::integer) [[likely]] {
            if constexpr (std::is_same_v<T, bool>) {
                out = c.i != 0;
            } else {
                if constexpr (limits::digits < 63)
                    if (c.i < limits::min() || c.i > limits::max()) [[unlikely]]
                        integer_out_of_range(c, type_name());
                out = static_cast<T>(c.i);
            }
        } else if (c.kind == backends::Cell::Kind::null) {
            null_into_non_optional();
        } else if (c.kind == backends::Cell::Kind::real) {
            if constexpr (std::is_same_v<T, bool>)
                out = c.d != 0;
            else
                out = static_cast<T>(real_to_integer(c.d, limits::min(), limits::max(), type_name()));
        } else {
            cell_type_mismatch("an integer");
        }
    }
    static constexpr std::string_view type_name() {
        if constexpr (sizeof(T) == 2) return "a 16-bit integer";
        else if constexpr (sizeof(T) == 4) return "a 32-bit integer";
        else return "a 64-bit integer";
    }
};

template <>
struct field_traits<bool> : integral_traits<bool, FieldKind::boolean> {};
template <>
struct field_traits<std::int16_t> : integral_traits<std::int16_t, FieldKind::small_integer> {};
template <>
struct field_traits<std::int32_t> : integral_traits<std::int32_t, FieldKind::integer> {};
template <>
struct field_traits<std::int64_t> : integral_traits<std::int64_t, FieldKind::big_integer> {};
// `long long` is a distinct type from int64_t on some platforms.
template <class T>
struct field_traits<T, std::enable_if_t<std::is_same_v<T, long long> && !std::is_same_v<long long, std::int64_t>>>
    : integral_traits<T, FieldKind::big_integer> {};

template <>
struct field_traits<double> {
    static constexpr bool supported = true;
    static constexpr FieldKind kind = FieldKind::real;
    static constexpr bool nullable = false;
    static Value to_value(double v) { return Value(v); }
    static void from_cell(const backends::Cell& c, double& out) {
        if (c.kind == backends::Cell::Kind::real) [[likely]]
            out = c.d;
        else if (c.kind == backends::Cell::Kind::integer)
            out = static_cast<double>(c.i);
        else if (c.kind == backends::Cell::Kind::null)
            null_into_non_optional();
        else
            cell_type_mismatch("a double");
    }
};

template <>
struct field_traits<std::string> {
    static constexpr bool supported = true;
    static constexpr FieldKind kind = FieldKind::text;
    static constexpr bool nullable = false;
    static Value to_value(const std::string& v) { return Value(v); }
    static void from_cell(const backends::Cell& c, std::string& out) {
        if (c.kind == backends::Cell::Kind::text || c.kind == backends::Cell::Kind::blob) [[likely]]
            out.assign(c.p, c.n);
        else if (c.kind == backends::Cell::Kind::null)
            null_into_non_optional();
        else if (c.kind == backends::Cell::Kind::integer)
            out = std::to_string(c.i);
        else
            cell_type_mismatch("a string");
    }
};

template <>
struct field_traits<Bytes> {
    static constexpr bool supported = true;
    static constexpr FieldKind kind = FieldKind::bytes;
    static constexpr bool nullable = false;
    static Value to_value(const Bytes& v) { return Value(v); }
    static void from_cell(const backends::Cell& c, Bytes& out) {
        if (c.kind == backends::Cell::Kind::blob || c.kind == backends::Cell::Kind::text) {
            out.resize(c.n);
            if (c.n) std::memcpy(out.data(), c.p, c.n);
        } else if (c.kind == backends::Cell::Kind::null) {
            null_into_non_optional();
        } else {
            cell_type_mismatch("bytes");
        }
    }
};

template <>
struct field_traits<Date> {
    static constexpr bool supported = true;
    static constexpr FieldKind kind = FieldKind::date;
    static constexpr bool nullable = false;
    static Value to_value(const Date& v) { return Value(v); }
    static void from_cell(const backends::Cell& c, Date& out) {
        if (c.kind == backends::Cell::Kind::integer) {
            if (c.i < Date::min_days || c.i > Date::max_days) [[unlikely]]
                integer_out_of_range(c, "a Date (years 1..9999)");
            out = Date{std::chrono::sys_days{std::chrono::days{c.i}}};
        } else if (c.kind == backends::Cell::Kind::text) {
            auto d = parse_date(c.text());
            if (!d) text_mismatch(c, "a Date");
            out = *d;
        } else if (c.kind == backends::Cell::Kind::null) {
            null_into_non_optional();
        } else {
            cell_type_mismatch("a Date");
        }
    }
};

template <>
struct field_traits<DateTime> {
    static constexpr bool supported = true;
    static constexpr FieldKind kind = FieldKind::datetime;
    static constexpr bool nullable = false;
    static Value to_value(const DateTime& v) { return Value(v); }
    static void from_cell(const backends::Cell& c, DateTime& out) {
        if (c.kind == backends::Cell::Kind::integer) {
            constexpr std::int64_t us_per_day = 86400LL * 1000000LL;
            if (c.i < Date::min_days * us_per_day || c.i >= (Date::max_days + 1) * us_per_day) [[unlikely]]
                integer_out_of_range(c, "a DateTime (years 1..9999)");
            out = DateTime{DateTime::time_point{std::chrono::microseconds{c.i}}};
        } else if (c.kind == backends::Cell::Kind::text) {
            auto d = parse_datetime(c.text());
            if (!d) text_mismatch(c, "a DateTime");
            out = *d;
        } else if (c.kind == backends::Cell::Kind::null) {
            null_into_non_optional();
        } else {
            cell_type_mismatch("a DateTime");
        }
    }
};

template <>
struct field_traits<Time> {
    static constexpr bool supported = true;
    static constexpr FieldKind kind = FieldKind::time;
    static constexpr bool nullable = false;
    static Value to_value(const Time& v) { return Value(v); }
    static void from_cell(const backends::Cell& c, Time& out) {
        if (c.kind == backends::Cell::Kind::integer) {
            out = Time{std::chrono::microseconds{c.i}};
        } else if (c.kind == backends::Cell::Kind::text) {
            auto t = parse_time(c.text());
            if (!t) text_mismatch(c, "a Time");
            out = *t;
        } else if (c.kind == backends::Cell::Kind::null) {
            null_into_non_optional();
        } else {
            cell_type_mismatch("a Time");
        }
    }
};

/// Django's DurationField: microseconds in an integer cell (SQLite's bigint; PostgreSQL's interval, its days and months
/// counted as psycopg counts them). A number computed by SQLite (a duration times 1.5) rounds to the microsecond.
template <>
struct field_traits<Duration> {
    static constexpr bool supported = true;
    static constexpr FieldKind kind = FieldKind::duration;
    static constexpr bool nullable = false;
    static Value to_value(const Duration& v) { return Value(v); }
    static void from_cell(const backends::Cell& c, Duration& out) {
        if (c.kind == backends::Cell::Kind::integer) [[likely]]
            out = Duration{c.i};
        else if (c.kind == backends::Cell::Kind::real)
            out = Duration{real_to_microseconds(c.d)};
        else if (c.kind == backends::Cell::Kind::null)
            null_into_non_optional();
        else
            cell_type_mismatch("a Duration");
    }
};

template <class T>
struct field_traits<std::optional<T>, std::enable_if_t<field_traits<T>::supported>> {
    static constexpr bool supported = true;
    static constexpr FieldKind kind = field_traits<T>::kind;
    static constexpr bool nullable = true;
    static Value to_value(const std::optional<T>& v) { return v ? field_traits<T>::to_value(*v) : Value{}; }
    static void from_cell(const backends::Cell& c, std::optional<T>& out) {
        if (c.kind == backends::Cell::Kind::null) {
            out.reset();
        } else {
            if (!out) out.emplace();
            field_traits<T>::from_cell(c, *out);
        }
    }
};

template <class M, class K>
struct field_traits<ForeignKey<M, K>> {
    static constexpr bool supported = true;
    static constexpr FieldKind kind = field_traits<K>::kind;
    static constexpr bool nullable = false;
    static Value to_value(const ForeignKey<M, K>& v) { return v.has_value() ? field_traits<K>::to_value(v.id()) : Value{}; }
    static void from_cell(const backends::Cell& c, ForeignKey<M, K>& out) {
        K id{};
        field_traits<K>::from_cell(c, id);
        out = ForeignKey<M, K>(std::move(id));
    }
};

/// A ManyToMany is no column: rows never decode into it.
template <class M, class T>
struct field_traits<ManyToMany<M, T>> {
    static constexpr bool supported = true;
    static constexpr FieldKind kind = FieldKind::big_integer;  // what "authors" alone compares: the related key
    static constexpr bool nullable = false;
};

/// A OneToOne is stored exactly as a ForeignKey (it adds no members).
template <class M, class K>
struct field_traits<OneToOne<M, K>> : field_traits<ForeignKey<M, K>> {};

template <class T>
struct relation_of {
    using type = void;
};
template <class T>
struct relation_of<std::optional<T>> : relation_of<T> {};
template <class M, class K>
struct relation_of<ForeignKey<M, K>> {
    using type = M;
};
template <class M, class K>
struct relation_of<OneToOne<M, K>> {
    using type = M;
};
template <class M, class T>
struct relation_of<ManyToMany<M, T>> {
    using type = M;
};

}  // namespace detail

/// Runtime description of one concrete field: built once per model from DORM_MODEL and the model's meta().
struct FieldMeta {
    DORM_VALUE_MEMBERS(FieldMeta);  // compiled once (config.hpp)
    std::string name;    // attribute name ("blog")
    std::string column;  // column name ("blog_id")
    FieldKind kind = FieldKind::integer;
    bool nullable = false;
    bool primary_key = false;
    bool auto_increment = false;  // an integer pk the database assigns
    bool unique = false;
    bool db_index = false;
    std::optional<int> max_length;
    std::optional<Value> default_value;
    OnDelete on_delete = OnDelete::cascade;
    std::string related_name;
    bool one_to_one = false;  // OneToOne: unique, and a single object on the reverse side
    const ModelMeta& (*related)() = nullptr;  // target model of a ForeignKey
    std::size_t index = 0;                    // position in the model's field list

    // Type-erased access for the slow paths (create from name/value pairs, update by name);
    // row decoding does not use these.
    Value (*get)(const void* obj) = nullptr;
    void (*set)(void* obj, const Value& v) = nullptr;
    /// A std::string member (not std::optional): where it is, so that an INSERT can lend it rather than copy it.
    std::string* (*text)(void* obj) = nullptr;
    /// ForeignKeys: the instance assigned to the ForeignKey member of `obj` (`e.blog = blog`), if one was, and in
    /// `*db` the database it came from (what save() checks with the routers' allow_relation).
    const void* (*assigned)(const void* obj, const std::string** db) = nullptr;
    /// ForeignKeys: gives the ForeignKey member of `obj` its related object (may be null) and database.
    void (*attach)(void* obj, std::shared_ptr<const void> related, const std::string* db) = nullptr;

    bool is_relation() const noexcept { return related != nullptr; }
};

namespace detail {
/// A cell as a dynamic Value, converted to `kind` when the column's type is known (a Date from SQLite's text,
/// a bool from PostgreSQL's integer cell), else by its storage class.
DORM_DECL Value cell_value(const backends::Cell& c, std::optional<FieldKind> kind);
/// The value an expression (not a plain column) computed, made its output type as Django's convert_value() makes
/// it: an integer type truncates a number computed as a real (int()), DataError past int64's range.
DORM_DECL Value expression_value(const backends::Cell& c, std::optional<FieldKind> kind);
/// A real cell as the integer cell Python's int() makes of it (truncated; DataError past int64's range); any other
/// cell as it is.
DORM_DECL backends::Cell truncated_cell(const backends::Cell& c);

/// Array, std::vector<T> (not Bytes) or std::optional of those: result types no field has (ArrayAgg's).
template <class T>
struct is_array_result : std::bool_constant<std::is_same_v<T, Array> || is_element_vector_v<T>> {};
template <class T>
struct is_array_result<std::optional<T>> : is_array_result<T> {};
template <class T>
inline constexpr bool is_array_result_v = is_array_result<T>::value;

/// Decodes one cell into a values_list() type: a field's type, or an array (as Value::as<T>() converts it).
template <class T>
void read_cell(const backends::Cell& c, T& out) {
    if constexpr (is_array_result_v<T>) {
        if (c.kind == backends::Cell::Kind::null && !is_optional_v<T>) null_into_non_optional();
        if (c.kind != backends::Cell::Kind::null && c.kind != backends::Cell::Kind::value) cell_type_mismatch("an array");
        out = cell_value(c, std::nullopt).as<T>();
    } else {
        field_traits<T>::from_cell(c, out);
    }
}
}  // namespace detail

}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/impl/fields.ipp>
#endif
