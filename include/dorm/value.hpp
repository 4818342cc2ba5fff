// SPDX-License-Identifier: MIT
// Value types of model fields (Date, DateTime, Time, Duration, Bytes) and Value, the one dynamic value dorm binds and returns.
#pragma once

#include <dorm/config.hpp>

#include <dorm/errors.hpp>

#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <fmt/format.h>

namespace dorm {

/// Binary data (Django's BinaryField): BLOB on SQLite, bytea on PostgreSQL.
using Bytes = std::vector<std::byte>;

/// A calendar date (Django's DateField), on std::chrono.
class Date {
public:
    constexpr Date() = default;  // 1970-01-01
    /// Throws ValueError for a day that does not exist (2005-02-30).
    Date(int year, unsigned month, unsigned day) : Date(std::chrono::year_month_day{
        std::chrono::year{year}, std::chrono::month{month}, std::chrono::day{day}}) {}
    /// Years run from 1 to 9999, as Python's and so Django's dates do: every database dorm supports stores them.
    Date(std::chrono::year_month_day ymd);  // NOLINT: implicit, a date is a date
    /// Unchecked: a value outside years 1..9999 is refused when it is written (ValueError).
    constexpr explicit Date(std::chrono::sys_days days) : days_(days) {}

    /// Days since 1970-01-01 of 0001-01-01 and 9999-12-31, the range a database value may take.
    static constexpr std::int64_t min_days = -719162;
    static constexpr std::int64_t max_days = 2932896;

    static Date today() { return Date{std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now())}; }

    std::chrono::year_month_day ymd() const { return std::chrono::year_month_day{days_}; }
    int year() const { return int(ymd().year()); }
    unsigned month() const { return unsigned(ymd().month()); }
    unsigned day() const { return unsigned(ymd().day()); }
    constexpr std::chrono::sys_days sys_days() const { return days_; }
    /// Days since 1970-01-01.
    constexpr std::int64_t days_since_epoch() const { return days_.time_since_epoch().count(); }

    friend constexpr auto operator<=>(const Date&, const Date&) = default;

private:
    std::chrono::sys_days days_{};
};

/// A time of day with microseconds (Django's TimeField).
class Time {
public:
    constexpr Time() = default;
    /// Throws ValueError outside 00:00:00 .. 23:59:59.999999.
    Time(int hour, int minute, int second = 0, int microsecond = 0);
    /// Throws ValueError unless 0 <= since_midnight < 24h.
    explicit Time(std::chrono::microseconds since_midnight) : us_(since_midnight) {
        if (us_.count() < 0 || us_ >= std::chrono::hours{24})
            throw ValueError("dorm: a Time must lie within one day");
    }

    constexpr std::chrono::microseconds since_midnight() const { return us_; }
    int hour() const { return int(us_.count() / 3600000000LL); }
    int minute() const { return int(us_.count() / 60000000LL % 60); }
    int second() const { return int(us_.count() / 1000000LL % 60); }
    int microsecond() const { return int(us_.count() % 1000000LL); }

    friend constexpr auto operator<=>(const Time&, const Time&) = default;

private:
    std::chrono::microseconds us_{};
};

/// A point in time in UTC with microseconds (Django's DateTimeField with USE_TZ = True).
class DateTime {
public:
    using time_point = std::chrono::sys_time<std::chrono::microseconds>;

    constexpr DateTime() = default;  // 1970-01-01 00:00:00 UTC
    DateTime(int year, unsigned month, unsigned day, int hour = 0, int minute = 0, int second = 0,
             int microsecond = 0)
        : tp_(Date(year, month, day).sys_days() + Time(hour, minute, second, microsecond).since_midnight()) {}
    DateTime(Date date, Time time = {}) : tp_(date.sys_days() + time.since_midnight()) {}
    /// Any system_clock time point; finer precision is truncated to microseconds.
    template <class D>
    DateTime(std::chrono::sys_time<D> tp)  // NOLINT: implicit, a time point is a DateTime
        : tp_(std::chrono::floor<std::chrono::microseconds>(tp)) {}

    static DateTime now() { return DateTime{std::chrono::system_clock::now()}; }

    constexpr time_point time_point_utc() const { return tp_; }
    constexpr std::int64_t microseconds_since_epoch() const { return tp_.time_since_epoch().count(); }
    Date date() const { return Date{std::chrono::floor<std::chrono::days>(tp_)}; }
    Time time() const { return Time{tp_ - std::chrono::floor<std::chrono::days>(tp_)}; }

    friend constexpr auto operator<=>(const DateTime&, const DateTime&) = default;

private:
    time_point tp_{};
};

/// A span of time with microsecond precision, positive or negative (Django's DurationField, Python's timedelta):
/// bigint microseconds on SQLite, interval on PostgreSQL. It is std::chrono::microseconds itself, so chrono's
/// arithmetic and literals apply (`2h + 30min`), and any coarser std::chrono::duration converts to it implicitly.
using Duration = std::chrono::microseconds;

namespace detail {
// ISO text forms, as Django stores them on SQLite ("2005-07-28", "12:30:00.000000", "2005-07-28 12:30:00.000000").
// Microseconds are always written so that text comparison orders like time.
DORM_DECL std::string to_iso(const Date& d);
DORM_DECL std::string to_iso(const Time& t);
DORM_DECL std::string to_iso(const DateTime& dt);
/// Django's duration_string(): "[D ]HH:MM:SS[.ffffff]", with days as Python's timedelta normalises them (floored, so
/// -1us is "-1 23:59:59.999999").
DORM_DECL std::string duration_string(Duration d);

// A date or datetime about to be written: ValueError outside years 1..9999, which no backend reads back.
DORM_DECL void check_writable(const Date& d);
DORM_DECL void check_writable(const DateTime& dt);

// Parsers accept what SQLite's date functions and Django write: fractional seconds optional, 'T' or ' '.
DORM_DECL bool parse_digits(std::string_view s, std::size_t pos, std::size_t n, int& out);
DORM_DECL std::optional<Date> parse_date(std::string_view s);
DORM_DECL std::optional<Time> parse_time(std::string_view s);
DORM_DECL std::optional<DateTime> parse_datetime(std::string_view s);
/// Value's DataError for an unsigned integer above the int64 range.
[[noreturn]] DORM_DECL void unsigned_out_of_range(std::uint64_t i);
}  // namespace detail

class Value;

/// An array of values (Django's list, as ArrayAgg returns it; PostgreSQL's one-dimensional array): the elements in
/// order, a NULL element as a NULL Value. A type of its own, not std::vector<Value>, because a lookup takes a
/// std::vector<Value> as the list of values of `in`.
class Array {
public:
    Array() = default;
    Array(std::initializer_list<Value> elements);
    explicit Array(std::vector<Value> elements);

    const std::vector<Value>& elements() const noexcept { return elements_; }
    std::size_t size() const noexcept;
    bool empty() const noexcept;
    /// Element `i` (from 0); std::out_of_range past the end.
    const Value& at(std::size_t i) const;
    const Value& operator[](std::size_t i) const;
    std::vector<Value>::const_iterator begin() const noexcept;
    std::vector<Value>::const_iterator end() const noexcept;

    /// Element by element, as Python compares lists.
    friend bool operator==(const Array& a, const Array& b);
    friend std::partial_ordering operator<=>(const Array& a, const Array& b);

private:
    std::vector<Value> elements_;
};

/// One dynamic SQL value: what dorm binds as a parameter and what a `Row` holds.
/// `std::monostate` is SQL NULL (Python's None).
class Value {
public:
    using variant_type = std::variant<std::monostate, bool, std::int64_t, double, std::string, Bytes, Date, DateTime, Time,
                                      Duration, Array>;

    Value() = default;
    // Copying, moving, destroying and comparing are compiled once (value.ipp): std::variant's are heavy to
    // instantiate, and nearly every file copies a Value somewhere.
    Value(const Value&);
    Value(Value&&) noexcept;
    Value& operator=(const Value&);
    Value& operator=(Value&&) noexcept;
    ~Value();
    Value(std::nullopt_t) {}
    Value(std::monostate) {}
    Value(std::nullptr_t) {}  // Django's None, as std::nullopt is (not an empty C string)
    Value(bool b) : v_(b) {}
    /// An integer; an unsigned one above the int64 range is a DataError (no column holds it), never a wrapped value.
    template <class I>
        requires(std::is_integral_v<I> && !std::is_same_v<I, bool> && !std::is_same_v<I, char>)
    Value(I i) : v_(static_cast<std::int64_t>(i)) {
        if constexpr (std::is_unsigned_v<I> && sizeof(I) >= sizeof(std::int64_t))
            if (i > static_cast<std::uint64_t>(INT64_MAX)) [[unlikely]]
                detail::unsigned_out_of_range(static_cast<std::uint64_t>(i));
    }
    Value(double d) : v_(d) {}
    Value(float f) : v_(static_cast<double>(f)) {}
    Value(std::string s) : v_(std::move(s)) {}
    Value(std::string_view s) : v_(std::string(s)) {}
    Value(const char* s) : v_(std::string(s)) {}
    Value(Bytes b) : v_(std::move(b)) {}
    Value(Date d) : v_(d) {}
    Value(DateTime d) : v_(d) {}
    Value(Time t) : v_(t) {}
    /// Any std::chrono::duration that converts to microseconds without loss (hours, seconds, Duration, ...).
    template <class Rep, class Period>
        requires std::is_convertible_v<std::chrono::duration<Rep, Period>, Duration>
    Value(std::chrono::duration<Rep, Period> d) : v_(Duration(d)) {}
    Value(Array a) : v_(std::move(a)) {}
    template <class T>
    Value(const std::optional<T>& o) {
        if (o) *this = Value(*o);
    }

    bool is_null() const noexcept { return v_.index() == 0; }
    template <class T>
    bool holds() const noexcept {
        return std::holds_alternative<T>(v_);
    }
    const variant_type& variant() const noexcept { return v_; }

    /// The value as T (exactly the stored type, or int64 -> any integer / double, or std::optional<T>
    /// for a NULL-able read; an Array as itself, or as std::vector<T> / std::vector<std::optional<T>>, each element
    /// converted by these rules). Throws TypeError on a mismatch, naming both types.
    template <class T>
    T as() const;

    /// Name of the held type, for error messages.
    std::string_view type_name() const noexcept {
        static constexpr std::string_view names[] = {"NULL", "bool", "integer",  "double", "string", "bytes",
                                                     "Date", "DateTime", "Time", "Duration", "array"};
        return names[v_.index()];
    }

    friend bool operator==(const Value& a, const Value& b);
    friend std::partial_ordering operator<=>(const Value& a, const Value& b);

private:
    variant_type v_;
};

namespace detail {
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class T>
inline constexpr bool is_optional_v = is_optional<std::remove_cvref_t<T>>::value;

/// std::vector<T> other than Bytes: what an Array converts to.
template <class T>
struct is_element_vector : std::false_type {};
template <class T>
    requires(!std::is_same_v<T, std::byte>)
struct is_element_vector<std::vector<T>> : std::true_type {};
template <class T>
inline constexpr bool is_element_vector_v = is_element_vector<std::remove_cvref_t<T>>::value;

/// Value::as()'s TypeErrors: `v` is not (element `i` of an array is not) what was asked for.
[[noreturn]] DORM_DECL void value_type_error(const Value& v, std::string_view wanted);
[[noreturn]] DORM_DECL void element_type_error(std::size_t i, const Value& e, std::string_view wanted);
/// Value::as<T>()'s DataError: the integer `i` does not fit the integer type T (`bits`, `is_signed`).
[[noreturn]] DORM_DECL void integer_range_error(std::int64_t i, int bits, bool is_signed);

/// The name of what Value::as<T>() was asked for, in its messages (Value::type_name()'s words).
template <class T>
constexpr std::string_view type_label() {
    if constexpr (is_optional_v<T>) return type_label<typename T::value_type>();
    else if constexpr (std::is_same_v<T, bool>) return "bool";
    else if constexpr (std::is_integral_v<T>) return "integer";
    else if constexpr (std::is_floating_point_v<T>) return "double";
    else if constexpr (std::is_same_v<T, std::string>) return "string";
    else if constexpr (std::is_same_v<T, Bytes>) return "bytes";
    else if constexpr (std::is_same_v<T, Date>) return "Date";
    else if constexpr (std::is_same_v<T, DateTime>) return "DateTime";
    else if constexpr (std::is_same_v<T, Time>) return "Time";
    else if constexpr (std::is_same_v<T, Duration>) return "Duration";
    else return "array";
}
}  // namespace detail

template <class T>
T Value::as() const {
    if constexpr (detail::is_optional_v<T>) {
        if (is_null()) return T{};
        return T{as<typename T::value_type>()};
    } else if constexpr (std::is_same_v<T, Value>) {
        return *this;
    } else if constexpr (std::is_same_v<T, bool>) {
        if (auto* b = std::get_if<bool>(&v_)) return *b;
        if (auto* i = std::get_if<std::int64_t>(&v_)) return *i != 0;  // SQLite has no boolean storage class
    } else if constexpr (std::is_integral_v<T>) {
        if (auto* i = std::get_if<std::int64_t>(&v_)) {
            // A member narrower than the value (or unsigned, for a negative one) never gets a wrapped number.
            const T t = static_cast<T>(*i);
            if (static_cast<std::int64_t>(t) != *i || (*i < 0) != (t < T{})) [[unlikely]]
                detail::integer_range_error(*i, std::numeric_limits<T>::digits + std::is_signed_v<T>, std::is_signed_v<T>);
            return t;
        }
        if (auto* b = std::get_if<bool>(&v_)) return static_cast<T>(*b);
    } else if constexpr (std::is_floating_point_v<T>) {
        if (auto* d = std::get_if<double>(&v_)) return static_cast<T>(*d);
        if (auto* i = std::get_if<std::int64_t>(&v_)) return static_cast<T>(*i);
    } else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, Bytes> || std::is_same_v<T, Date> ||
                         std::is_same_v<T, DateTime> || std::is_same_v<T, Time> || std::is_same_v<T, Duration> ||
                         std::is_same_v<T, Array>) {
        if (auto* p = std::get_if<T>(&v_)) return *p;
    } else if constexpr (detail::is_element_vector_v<T>) {
        using E = typename T::value_type;
        if (auto* a = std::get_if<Array>(&v_)) {
            T out;
            out.reserve(a->size());
            for (std::size_t i = 0; i < a->size(); ++i) {
                const Value& e = (*a)[i];
                // Converted as a value of its own; the message says which element failed, and how to read NULLs.
                try {
                    out.push_back(e.template as<E>());
                } catch (const TypeError&) {
                    detail::element_type_error(i, e, detail::type_label<E>());
                }
            }
            return out;
        }
    } else {
        static_assert(sizeof(T) == 0, "dorm: Value::as<T>() supports bool, integers, double, std::string, Bytes, "
                                      "Date, DateTime, Time, Duration, Array, std::vector of those and std::optional "
                                      "of those");
    }
    detail::value_type_error(*this, detail::type_label<T>());
}

// Defined here, where Value is complete (vector's members need it); the rest in value.ipp.
inline std::size_t Array::size() const noexcept { return elements_.size(); }
inline bool Array::empty() const noexcept { return elements_.empty(); }
inline const Value& Array::at(std::size_t i) const { return elements_.at(i); }
inline const Value& Array::operator[](std::size_t i) const { return elements_[i]; }
inline std::vector<Value>::const_iterator Array::begin() const noexcept { return elements_.begin(); }
inline std::vector<Value>::const_iterator Array::end() const noexcept { return elements_.end(); }

}  // namespace dorm

template <>
struct fmt::formatter<dorm::Date> : fmt::formatter<std::string_view> {
    fmt::format_context::iterator format(const dorm::Date& v, fmt::format_context& ctx) const;
};
template <>
struct fmt::formatter<dorm::Time> : fmt::formatter<std::string_view> {
    fmt::format_context::iterator format(const dorm::Time& v, fmt::format_context& ctx) const;
};
template <>
struct fmt::formatter<dorm::DateTime> : fmt::formatter<std::string_view> {
    fmt::format_context::iterator format(const dorm::DateTime& v, fmt::format_context& ctx) const;
};
namespace dorm::detail {
/// Python's repr of a value: strings quoted, NULL as None, 2.0 for a whole double.
DORM_DECL std::string value_repr(const Value& v);
}  // namespace dorm::detail

/// Formats like Python's repr: strings quoted, NULL as None.
template <>
struct fmt::formatter<dorm::Value> : fmt::formatter<std::string_view> {
    fmt::format_context::iterator format(const dorm::Value& v, fmt::format_context& ctx) const;
};

#if DORM_HEADER_ONLY
#include <dorm/impl/value.ipp>
#endif
