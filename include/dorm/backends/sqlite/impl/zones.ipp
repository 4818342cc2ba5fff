// SPDX-License-Identifier: MIT
// Time zones on SQLite, which has no zone database of its own: the system's (/usr/share/zoneinfo, Debian's tzdata),
// read through Howard Hinnant's date/tz library, for Extract / Trunc / datetimes() with a zone (functions.ipp) and
// for checking a zone's name when a query is compiled (dialect.ipp). Only SQLite's backend includes it.
#pragma once

#include <dorm/backends/base/dialect.hpp>
#include <dorm/errors.hpp>
#include <dorm/value.hpp>

// Debian's libdate-tz reads the system's database (built with USE_OS_TZDB; its CMake target defines it too).
#if !defined(USE_OS_TZDB)
#define USE_OS_TZDB 1
#endif
#include <date/tz.h>
#include <fmt/format.h>

#include <chrono>
#include <exception>
#include <string>
#include <string_view>

namespace dorm::backends::sqlite::detail {

/// A zone of the system's database, with the fixed offset a name like "UTC+05:00" adds to it (Django's SQLite
/// functions: the offset is added to the instant, then the wall time is read in the zone named before it).
struct Zone {
    const date::time_zone* zone = nullptr;
    std::chrono::seconds offset{0};
};

/// The zone named `name` in the system's zone database. DataError when there is none (PostgreSQL's "time zone ...
/// not recognized"); OperationalError when the database itself cannot be read.
inline Zone find_zone(std::string_view name) {
    try {
        (void)date::get_tzdb();
    } catch (const std::exception& e) {
        throw OperationalError(fmt::format("dorm: the system's time zone database cannot be read (Debian: the tzdata "
                                           "package): {}",
                                           e.what()));
    }
    const auto [base, offset] = split_zone_offset(name);
    try {
        // An offset alone ("+05:00") is from the connection's zone, UTC (Django's fallback to conn_tzname).
        return Zone{date::locate_zone(base.empty() && offset ? std::string_view("UTC") : base),
                    std::chrono::seconds{offset.value_or(0)}};
    } catch (const std::exception&) {
        throw DataError(fmt::format("dorm: time zone \"{}\" not recognized", name));
    }
}

/// The wall time in `z` at the instant `utc`, as a DateTime whose fields are that wall time.
inline DateTime to_local(const Zone& z, const DateTime& utc) {
    return DateTime(DateTime::time_point{z.zone->to_local(utc.time_point_utc() + z.offset).time_since_epoch()});
}

/// The instant that the wall time `local` (a DateTime whose fields are that wall time) names in `z`, as
/// PostgreSQL's `timestamp AT TIME ZONE` chooses it: a wall time that occurs twice (clocks set back) is its later
/// instant; one that never occurs (clocks set forward) is read with the offset in force before the change.
inline DateTime from_local(const Zone& z, const DateTime& local) {
    date::local_time<std::chrono::microseconds> wall{local.time_point_utc().time_since_epoch()};
    auto info = z.zone->get_info(wall);
    auto offset = info.result == date::local_info::ambiguous ? info.second.offset : info.first.offset;
    return DateTime(DateTime::time_point{wall.time_since_epoch() - offset - z.offset});
}

}  // namespace dorm::backends::sqlite::detail
