// SPDX-License-Identifier: MIT
// ShapeCache: the statements a connection compiled, by query shape (the query's structure, not its values).
#pragma once

#include <dorm/config.hpp>

#include <dorm/value.hpp>

#include <cstdint>
#include <list>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dorm::backends {

/// The statement every query of one shape compiles to, and where each of its parameters comes from: the n-th
/// value of the query's shape (detail::shape_key()), or a value the statement always binds.
struct CompiledShape {
    bool cacheable = false;  // false: this shape's statement is compiled each time (its text depends on its values)
    bool nothing = false;    // the query matches nothing: no statement runs
    std::string sql;
    std::vector<std::int32_t> slots;  // per parameter: the index of a shape value, or -1 - k for constants[k]
    std::vector<Value> constants;
    /// How a pattern lookup binds its value: LIKE-escaped, with a `%` before and / or after it (contains,
    /// startswith, ...). Per parameter; empty when every value is bound as it is.
    enum class Pattern : std::uint8_t { none, exact, prefix, suffix, contains };
    std::vector<Pattern> patterns;
};

/// A connection's compiled shapes, the least recently used dropped beyond `capacity` (the prepared statements
/// behind them are the connection's own cache's).
class ShapeCache {
public:
    static constexpr std::size_t capacity = 256;

    /// The shape stored under `key`, or nullptr; marks it used.
    DORM_DECL const CompiledShape* find(std::string_view key);
    /// Stores `shape` under `key` (replacing one stored there) and returns it.
    DORM_DECL const CompiledShape& add(std::string_view key, CompiledShape shape);
    std::size_t size() const noexcept { return index_.size(); }
    /// How many find() calls found a statement to reuse (a cacheable shape).
    std::uint64_t hits() const noexcept { return hits_; }

private:
    using Entry = std::pair<std::string, CompiledShape>;
    std::list<Entry> entries_;  // most recently used first; nodes keep their address (the index views their keys)
    std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;
    std::uint64_t hits_ = 0;
};

}  // namespace dorm::backends

#if DORM_HEADER_ONLY
#include <dorm/backends/base/impl/shape_cache.ipp>
#endif
