// SPDX-License-Identifier: MIT
// Row: one result of values() / aggregate() / values_list(named), an ordered name -> Value map (Python's dict).
#pragma once

#include <dorm/config.hpp>

#include <dorm/errors.hpp>
#include <dorm/value.hpp>

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dorm {

/// Names and values in select order: `row["headline"].as<std::string>()`, `row.get<std::int64_t>("n")`.
/// The names are shared by every row of one query, so a row costs its values only.
class Row {
public:
    using names_type = std::vector<std::string>;

    Row() : names_(std::make_shared<const names_type>()) {}
    Row(std::shared_ptr<const names_type> names, std::vector<Value> values)
        : names_(std::move(names)), values_(std::move(values)) {}
    /// A row from name/value pairs: `Row{{"n", 3}, {"avg", 2.5}}` (for comparisons in tests and user code).
    Row(std::initializer_list<std::pair<std::string_view, Value>> items);

    std::size_t size() const noexcept { return values_.size(); }
    bool empty() const noexcept { return values_.empty(); }
    const names_type& names() const noexcept { return *names_; }
    const std::vector<Value>& values() const noexcept { return values_; }

    /// The value named `name`, or nullptr.
    const Value* find(std::string_view name) const noexcept {
        for (std::size_t i = 0; i < values_.size(); ++i)
            if ((*names_)[i] == name) return &values_[i];
        return nullptr;
    }
    bool contains(std::string_view name) const noexcept { return find(name) != nullptr; }
    /// The value named `name`; throws KeyError (listing the names) when the row has none.
    const Value& operator[](std::string_view name) const {
        if (auto* v = find(name)) return *v;
        missing(name);
    }
    /// The i-th value (select order); throws IndexError past the end.
    const Value& operator[](std::size_t i) const {
        if (i >= values_.size()) throw IndexError("dorm: row index out of range");
        return values_[i];
    }
    /// `row.get<T>("n")` is `row["n"].as<T>()`.
    template <class T>
    T get(std::string_view name) const {
        return (*this)[name].template as<T>();
    }

    friend bool operator==(const Row& a, const Row& b);

private:
    /// KeyError listing the row's names.
    [[noreturn]] void missing(std::string_view name) const;

    std::shared_ptr<const names_type> names_;
    std::vector<Value> values_;
};

}  // namespace dorm

/// Formats like a Python dict: `{'id': 1, 'name': 'Beatles Blog'}`.
template <>
struct fmt::formatter<dorm::Row> : fmt::formatter<std::string_view> {
    fmt::format_context::iterator format(const dorm::Row& r, fmt::format_context& ctx) const;
};

#if DORM_HEADER_ONLY
#include <dorm/impl/row.ipp>
#endif
