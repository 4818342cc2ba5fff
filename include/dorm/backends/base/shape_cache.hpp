// SPDX-License-Identifier: MIT
// ShapeCache: the statements a connection compiled, by query shape (the query's structure, not its values).
#pragma once

#include <dorm/config.hpp>
#include <dorm/detail/short_text.hpp>

#include <dorm/value.hpp>

#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dorm::detail {
struct Recipe;  // <dorm/serialize.hpp>
}

namespace dorm::backends {

/// Where a connection leaves the prepared statement it ran for one statement text, so that the next run of that
/// text finds it without looking the text up: a cached shape keeps one for its statement, and so does the INSERT
/// of create(). Only the connection that left it (`owner`) reads it, and only while `epoch` is that connection's.
/// A connection takes a new epoch from statement_epoch() whenever it drops statements, and its first when it
/// opens: no other connection ever has it, so a hint that outlives its connection is never read, even by one
/// opened later at the same address.
struct StatementHint {
    const void* owner = nullptr;
    void* statement = nullptr;
    std::uint64_t epoch = 0;
};

/// A number no earlier call returned (process-wide; never 0).
DORM_DECL std::uint64_t statement_epoch() noexcept;

/// The statement every query of one shape compiles to, and where each of its parameters comes from: the n-th
/// value of the query's shape (detail::shape_key()), or a value the statement always binds.
struct CompiledShape {
    bool cacheable = false;  // false: this shape's statement is compiled each time (its text depends on its values)
    bool nothing = false;    // the query matches nothing: no statement runs
    std::string sql;
    std::vector<std::int32_t> slots;  // per parameter: the index of a shape value, or -1 - k for constants[k]
    std::vector<Value> constants;
    /// How a pattern lookup binds its value: LIKE-escaped, with a `%` before and / or after it (contains,
    /// startswith, ...), or as the smallest string above every one that starts with it (`successor`: the upper
    /// bound of SQLite's startswith range). Per parameter; empty when every value is bound as it is.
    enum class Pattern : std::uint8_t { none, exact, prefix, suffix, contains, successor };
    std::vector<Pattern> patterns;
    mutable StatementHint hint;  // the connection's prepared statement for `sql`
};

/// Everything a query's shape key is made of when the query kept its shape text (detail::ShapeMemo): equal
/// fingerprints mean equal keys, so a recent one finds its statement without the key being written and hashed.
struct ShapeFingerprint {
    static constexpr std::size_t state_size = 16;

    const std::shared_ptr<const detail::Recipe>* recipe = nullptr;  // the text is the recipe's (and the model's)
    const void* model = nullptr;
    const void* dialect = nullptr;
    std::uint64_t generation = 0;       // of the custom lookups
    const char* extra_class = nullptr;  // the one extra value's class (get(field, value)), or nullptr for none
    char kind = 0;
    std::string_view name;
    std::array<std::int64_t, state_size> state{};  // what a method may set on a query without recording it

    bool same(const ShapeFingerprint& o) const noexcept {
        return recipe->get() == o.recipe->get() && model == o.model && dialect == o.dialect &&
               generation == o.generation && extra_class == o.extra_class && kind == o.kind && name == o.name &&
               state == o.state;
    }
};

/// A connection's compiled shapes, the least recently used dropped beyond `capacity` (the prepared statements
/// behind them are the connection's own cache's).
class ShapeCache {
public:
    static constexpr std::size_t capacity = 256;

    ShapeCache() = default;
    ShapeCache(const ShapeCache&) = delete;  // its index and fingerprints point into it
    ShapeCache& operator=(const ShapeCache&) = delete;

    /// The shape stored under `key`, or nullptr; marks it used. With `print` (the same key's fingerprint), the
    /// shape is found by it next time.
    DORM_DECL const CompiledShape* find(std::string_view key, const ShapeFingerprint* print = nullptr);
    /// The shape of a fingerprint find() or add() was given recently, or nullptr; marks it used.
    DORM_DECL const CompiledShape* find(const ShapeFingerprint& print);
    /// Stores `shape` under `key` (replacing one stored there) and returns it; `print` as for find().
    DORM_DECL const CompiledShape& add(std::string_view key, CompiledShape shape,
                                       const ShapeFingerprint* print = nullptr);
    /// The shape note() stored for the query object numbered `serial` (detail::ShapeMemo::serial(): one that
    /// cannot change any more) with the same `kind`, `name`, extra value class and custom lookups `generation`,
    /// while it is still stored; nullptr otherwise. Marks it used. Cheaper than a fingerprint: nothing of the
    /// query is read.
    const CompiledShape* recall(std::uint64_t serial, char kind, std::string_view name, const char* extra_class,
                                std::uint64_t generation) noexcept {
        for (const Recalled& r : recalled_)
            if (r.serial == serial && r.epoch == epoch_ && r.kind == kind && r.extra_class == extra_class &&
                r.generation == generation && dorm::detail::equal_short(r.name, name))
                return use(r.entry);
        return nullptr;
    }
    /// Remembers `shape` (just returned by find() or add()) for recall() with the same arguments.
    DORM_DECL void note(std::uint64_t serial, char kind, std::string_view name, const char* extra_class,
                        std::uint64_t generation, const CompiledShape* shape);
    std::size_t size() const noexcept { return index_.size(); }
    /// Counts a statement found and reused: called once its values are bound (a value may leave it unusable).
    void hit(bool by_fingerprint) noexcept {
        ++hits_;
        if (by_fingerprint) ++fingerprint_hits_;
    }
    /// How many statements found were reused (hit() calls).
    std::uint64_t hits() const noexcept { return hits_; }
    /// How many of them found it by a fingerprint.
    std::uint64_t fingerprint_hits() const noexcept { return fingerprint_hits_; }

private:
    using Entry = std::pair<std::string, CompiledShape>;
    using Iterator = std::list<Entry>::iterator;
    struct Recent {
        ShapeFingerprint print;  // its recipe and name point at the two below
        std::shared_ptr<const detail::Recipe> recipe;  // held, so that no other recipe takes its address
        std::string name;
        Iterator entry;
        std::uint64_t used = 0;  // when it was last remembered or found
    };

    struct Recalled {
        std::uint64_t serial = 0;  // 0: unused
        std::uint64_t epoch = 0;   // the cache's epoch_ when noted: its entry is valid while they are equal
        std::uint64_t generation = 0;
        const char* extra_class = nullptr;
        char kind = 0;
        std::string name;
        Iterator entry;
    };

    const CompiledShape* use(Iterator it) noexcept;  // marks it most recently used
    void remember(const ShapeFingerprint& print, Iterator it);
    void erase(Iterator it) noexcept;

    std::list<Entry> entries_;  // most recently used first; nodes keep their address (the index views their keys)
    std::unordered_map<std::string_view, Iterator> index_;
    std::array<Recent, 8> recent_;  // fingerprints found lately, the least recently used replaced; no recipe: unused
    std::array<Recalled, 4> recalled_;  // note()'s, replaced in turn
    std::size_t next_recalled_ = 0;
    std::uint64_t epoch_ = 1;  // advanced whenever an entry is erased
    std::uint64_t clock_ = 0;
    std::uint64_t hits_ = 0;
    std::uint64_t fingerprint_hits_ = 0;
};

}  // namespace dorm::backends

#if DORM_HEADER_ONLY
#include <dorm/backends/base/impl/shape_cache.ipp>
#endif
