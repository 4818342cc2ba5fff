// SPDX-License-Identifier: MIT
// Definitions for <dorm/lookups.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/custom_lookups.hpp>
#include <dorm/lookups.hpp>

namespace dorm::lookups {

DORM_DECL auto Transform::as_sql(sql::Compiler& c) const -> sql::Match {
    c.fill_template(c.dialect.transform_template(def->name, input), [&] { c.compile(*arg); });
    return sql::Match::some;
}

DORM_DECL void Lookup::sources(std::vector<const sql::Expression*>& out) const {
    out.push_back(lhs.get());
    if (rhs) out.push_back(rhs.get());
}
}  // namespace dorm::lookups

namespace dorm::lookups::detail {

DORM_DECL void write_template(sql::Compiler& c, std::string_view tmpl, const Lookup& l, const Value* rhs, const Value* rhs2) {
    for (std::size_t pos = 0; pos < tmpl.size();) {
        auto at = tmpl.find('{', pos);
        c << tmpl.substr(pos, at == std::string_view::npos ? std::string_view::npos : at - pos);
        if (at == std::string_view::npos) break;
        auto end = tmpl.find('}', at);
        auto word = tmpl.substr(at + 1, end - at - 1);
        if (word == "lhs") {
            if (l.cast_lhs) c.fill_template(c.dialect.cast_template(FieldKind::text), [&] { c.compile(*l.lhs); });
            else c.compile(*l.lhs);
        } else if (word == "rhs") {
            if (l.rhs) c.compile(*l.rhs);
            else c.param(*rhs);
        } else if (word == "rhs2") c.param(*rhs2);
        pos = end + 1;
    }
}

DORM_DECL sql::Match operator_sql(sql::Compiler& c, const Lookup& l) {
    auto tmpl = c.dialect.lookup_operator(l.def->name);
    if (tmpl.empty())
        throw NotSupportedError(fmt::format("dorm: the {} backend has no '{}' lookup", c.dialect.vendor(), l.def->name));
    c.compile(*l.lhs);
    c << " ";
    c.fill_template(tmpl, [&] {
        if (l.rhs) c.compile(*l.rhs);
        else c.param(l.value);
    });
    return sql::Match::some;
}

DORM_DECL sql::Match exact_sql(sql::Compiler& c, const Lookup& l) {
    if (!l.rhs && l.value.is_null()) {  // Django: exact=None is isnull=True
        c.compile(*l.lhs);
        c << " IS NULL";
        return sql::Match::some;
    }
    return operator_sql(c, l);
}

DORM_DECL sql::Match in_sql(sql::Compiler& c, const Lookup& l) {
    if (l.rhs) {  // a subquery
        c.compile(*l.lhs);
        c << " IN ";
        return c.compile(*l.rhs) == sql::Match::nothing ? sql::Match::nothing : sql::Match::some;
    }
    // Django drops None (NULL never equals anything) and duplicates; an empty list matches nothing.
    std::vector<const Value*> values;
    if (l.list.size() <= 16) {
        for (const auto& v : l.list)
            if (!v.is_null() && std::none_of(values.begin(), values.end(), [&](const Value* p) { return *p == v; }))
                values.push_back(&v);
    } else {  // O(n log n) for long lists (prefetches, in_bulk): the first of equal values stays, in order
        std::vector<const Value*> sorted;
        for (const auto& v : l.list)
            if (!v.is_null()) sorted.push_back(&v);
        std::stable_sort(sorted.begin(), sorted.end(), [](const Value* a, const Value* b) { return *a < *b; });
        std::vector<const Value*> keep;
        for (std::size_t i = 0; i < sorted.size(); ++i)
            if (i == 0 || !(*sorted[i] == *sorted[i - 1])) keep.push_back(sorted[i]);
        std::sort(keep.begin(), keep.end());  // back to list order: the elements are contiguous in l.list
        values = std::move(keep);
    }
    if (values.empty()) return sql::Match::nothing;
    c.compile(*l.lhs);
    c << " IN (";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i) c << ", ";
        c.param(*values[i]);
    }
    c << ")";
    return sql::Match::some;
}

DORM_DECL sql::Match range_sql(sql::Compiler& c, const Lookup& l) {
    c.compile(*l.lhs);
    c << " BETWEEN ";
    c.param(l.list[0]);
    c << " AND ";
    c.param(l.list[1]);
    return sql::Match::some;
}

DORM_DECL sql::Match isnull_sql(sql::Compiler& c, const Lookup& l) {
    c.compile(*l.lhs);
    c << (l.value.as<bool>() ? " IS NULL" : " IS NOT NULL");
    return sql::Match::some;
}

DORM_DECL std::string like_escape(std::string_view s) {
    std::string out;
    for (char ch : s) {
        if (ch == '%' || ch == '_' || ch == '\\') out += '\\';
        out += ch;
    }
    return out;
}

DORM_DECL std::string glob_escape(std::string_view s) {
    std::string out;
    for (char ch : s) {
        if (ch == '*' || ch == '?' || ch == '[') {
            out += '[';
            out += ch;
            out += ']';
        } else {
            out += ch;
        }
    }
    return out;
}

DORM_DECL std::optional<std::string> prefix_successor(std::string p) {
    while (!p.empty()) {
        auto& last = reinterpret_cast<unsigned char&>(p.back());
        if (last < 0xff) {
            ++last;
            return p;
        }
        p.pop_back();
    }
    return std::nullopt;
}

DORM_DECL void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

DORM_DECL std::string fold(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        auto b = static_cast<unsigned char>(s[i]);
        std::size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
        if (len == 0 || i + len > s.size()) {
            out += s[i++];
            continue;
        }
        std::uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
        for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
        append_utf8(out, fold_code_point(cp));
        i += len;
    }
    return out;
}

DORM_DECL sql::Match pattern_sql(sql::Compiler& c, const Lookup& l) {
    using Rhs = backends::PatternRhs;
    auto spec = c.dialect.pattern(l.def->name);
    if (spec.tmpl.empty())
        throw NotSupportedError(fmt::format("dorm: the {} backend has no '{}' lookup", c.dialect.vendor(), l.def->name));
    if (l.rhs) {
        write_template(c, spec.expression, l, nullptr);
        return sql::Match::some;
    }
    const std::string& s = l.value.as<std::string>();
    // SQLite's GLOB, LIKE and string functions stop at a NUL, and PostgreSQL text cannot hold one: such a
    // pattern could only match wrongly.
    if (s.find('\0') != std::string::npos)
        throw ValueError(fmt::format("dorm: the value of a '{}' lookup cannot contain NUL (0x00) characters",
                                     l.def->name));
    switch (spec.rhs) {
        case Rhs::raw: break;
        case Rhs::fold: {
            Value v(fold(s));
            write_template(c, spec.tmpl, l, &v);
            return sql::Match::some;
        }
        case Rhs::like_contains:
        case Rhs::like_prefix:
        case Rhs::like_suffix: {
            std::string p = like_escape(s);
            if (spec.rhs != Rhs::like_prefix) p.insert(0, "%");
            if (spec.rhs != Rhs::like_suffix) p += "%";
            Value v(std::move(p));
            write_template(c, spec.tmpl, l, &v);
            return sql::Match::some;
        }
        case Rhs::glob_suffix:
        case Rhs::fold_glob_suffix: {
            Value v("*" + glob_escape(spec.rhs == Rhs::fold_glob_suffix ? fold(s) : s));
            write_template(c, spec.tmpl, l, &v);
            return sql::Match::some;
        }
        case Rhs::prefix_range: {
            // startswith as a range on the column: case-sensitive, and an index can serve it.
            Value low(s);
            auto high = prefix_successor(s);
            if (high) {
                Value hv(std::move(*high));
                write_template(c, spec.tmpl, l, &low, &hv);
            } else {
                write_template(c, "{lhs} >= {rhs}", l, &low);
            }
            return sql::Match::some;
        }
    }
    write_template(c, spec.tmpl, l, &l.value);
    return sql::Match::some;
}
}  // namespace dorm::lookups::detail

namespace dorm::lookups {

DORM_DECL const std::map<std::string_view, LookupDef, std::less<>>& registry() {
    static const std::map<std::string_view, LookupDef, std::less<>> defs = [] {
        using R = LookupDef::Rhs;
        std::map<std::string_view, LookupDef, std::less<>> m;
        for (const auto& l : lookup_names) {
            LookupDef d{l.name, R::value, l.pattern, detail::operator_sql};
            if (l.pattern) d.as_sql = detail::pattern_sql;
            else if (l.name == "exact") d.as_sql = detail::exact_sql;
            else if (l.name == "in") d = {l.name, R::list, false, detail::in_sql};
            else if (l.name == "range") d = {l.name, R::pair, false, detail::range_sql};
            else if (l.name == "isnull") d = {l.name, R::boolean, false, detail::isnull_sql};
            m.emplace(d.name, d);
        }
        return m;
    }();
    return defs;
}

DORM_DECL const LookupDef* find(std::string_view name) {
    // By index in lookup_names, found by length first: every lookup of every filter() asks, some twice.
    static const std::array<const LookupDef*, lookup_names.size()> by_index = [] {
        std::array<const LookupDef*, lookup_names.size()> a{};
        for (std::size_t i = 0; i < a.size(); ++i) a[i] = &registry().find(lookup_names[i].name)->second;
        return a;
    }();
    const int i = lookup_index(name);
    return i < 0 ? nullptr : by_index[static_cast<std::size_t>(i)];
}

DORM_DECL std::string names(std::optional<FieldKind> kind, const CustomRegistry* custom, const FieldMeta* field) {
    std::vector<std::string_view> n;
    for (auto& [k, d] : registry())
        if (!kind || lookup_applies(d.pattern, *kind)) n.push_back(k);
    for (const auto& t : transforms)
        if (!kind || transform_applies(t, *kind)) n.push_back(t.name);
    if (custom)
        for (const auto& d : *custom)
            if (d->on_transform.empty() && (d->field ? d->field == field : !kind || d->on.contains(*kind)) &&
                std::find(n.begin(), n.end(), d->name) == n.end())
                n.push_back(d->name);
    std::sort(n.begin(), n.end());
    return fmt::format("{}", fmt::join(n, ", "));
}

}  // namespace dorm::lookups
