// SPDX-License-Identifier: MIT
// The benchmarks' models (Django's Blog / Entry) and their deterministic data, shared by dorm_bench and
// dorm_per_query.
#pragma once

#include <dorm/model.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

struct Blog {
    std::int64_t id = 0;
    std::string name{};
    std::string tagline{};
    DORM_MODEL(Blog, id, name, tagline)
};

struct Entry {
    std::int64_t id = 0;
    dorm::ForeignKey<Blog> blog{};
    std::string headline{};
    std::string body_text{};
    dorm::Date pub_date{};
    int rating = 0;
    std::optional<std::string> rating_note{};
    DORM_MODEL(Entry, id, blog, headline, body_text, pub_date, rating, rating_note)
    static void meta(dorm::Meta<Entry>& m) { m.field(&Entry::headline).max_length(200).db_index(); }
};

namespace bench {

constexpr int blog_count = 1000;

/// Entry number `i`: the same on every side and in every run.
inline Entry make_entry(std::int64_t i) {
    Entry e;
    std::uint64_t h = static_cast<std::uint64_t>(i) * 2654435761u;
    e.blog = dorm::ForeignKey<Blog>(static_cast<std::int64_t>(h % blog_count) + 1);
    e.headline = std::string(1, static_cast<char>('a' + h % 26)) + "headline " + std::to_string(i);
    e.body_text = "body text of entry " + std::to_string(i);
    e.pub_date = dorm::Date(std::chrono::sys_days{std::chrono::days{10000 + static_cast<int>(h % 5000)}});
    e.rating = static_cast<int>(h % 10);
    if (h % 3 == 0) e.rating_note = "note " + std::to_string(h % 97);
    return e;
}

}  // namespace bench
