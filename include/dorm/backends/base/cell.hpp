// SPDX-License-Identifier: MIT
// Cell: one column of the current row, as a backend hands it to the row decoder (no per-cell virtual calls).
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <string_view>

namespace dorm {
class Value;  // <dorm/value.hpp>
}  // namespace dorm

namespace dorm::backends {

/// A column of the current row. Backends convert their wire format once per cell into one of these
/// storage classes; pointers stay valid until the cursor moves on.
/// Dates, datetimes and times arrive either as ISO text (SQLite) or as integers: days since
/// 1970-01-01, microseconds since the epoch, microseconds since midnight (PostgreSQL binary). Durations are integer
/// microseconds on both. A value no storage class holds (PostgreSQL's arrays) arrives decoded by the backend.
struct Cell {
    enum class Kind : std::uint8_t { null, integer, real, text, blob, value };
    Kind kind = Kind::null;
    bool boolean = false;  // an integer cell from a boolean column (PostgreSQL), for results without a field type
    bool duration = false;  // an integer cell of microseconds from an interval column (PostgreSQL), likewise
    std::int64_t i = 0;
    double d = 0;
    const char* p = nullptr;
    std::size_t n = 0;
    const Value* value = nullptr;  // Kind::value: the value (an Array), held by the cursor

    std::string_view text() const noexcept { return {p, n}; }
};

/// Room for up to N cells inside a cursor, left uninitialized: a cursor (one per get()) initializes only as many as
/// its statement has columns (`init(n)`), not all N.
template <std::size_t N>
union InlineCells {
    InlineCells() noexcept {}
    Cell cells[N];

    static constexpr std::size_t size = N;
    Cell* init(std::size_t n) noexcept {
        for (std::size_t i = 0; i < n; ++i) ::new (static_cast<void*>(cells + i)) Cell();
        return cells;
    }
};

}  // namespace dorm::backends
