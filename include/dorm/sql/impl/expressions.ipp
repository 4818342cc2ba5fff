// SPDX-License-Identifier: MIT
// Definitions for <dorm/sql/expressions.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/sql/expressions.hpp>

namespace dorm::sql {

DORM_DECL void Aggregate::sources(std::vector<const Expression*>& out) const {
    // filter= and the ordering are evaluated per row as the arguments are (Django lists them among the source
    // expressions too): an aggregate or an outer reference in them is found like one in an argument.
    for (const auto& a : args) out.push_back(a.get());
    if (filter) out.push_back(filter.get());
    for (const auto& o : ordering) out.push_back(o.first.get());
}

DORM_DECL auto Aggregate::output_kind() const -> std::optional<FieldKind> {
    if (output) return output;
    // Django's NumericOutputFieldMixin: the average of durations is a duration.
    if (function == "AVG" && !args.empty() && args[0]->output_kind() == FieldKind::duration) return FieldKind::duration;
    const auto* info = dorm::detail::find_aggregate(label);
    if (info && info->output) return info->output;
    if (info && info->type == dorm::detail::AggregateType::array) return std::nullopt;  // no FieldKind says it
    if (!args.empty()) return args[0]->output_kind();
    return std::nullopt;
}

DORM_DECL auto Aggregate::as_sql(Compiler& c) const -> Match {
    std::optional<FieldKind> input;
    if (!args.empty()) input = args[0]->output_kind();
    std::string_view name = c.dialect.aggregate_function(function, input);
    bool filter_clause = filter && c.dialect.supports_aggregate_filter_clause();
    if (fallback) c << "COALESCE(";
    c << name << "(";
    if (distinct) c << "DISTINCT ";
    // Without FILTER (WHERE ...), the condition goes inside: CASE WHEN cond THEN x ELSE NULL END.
    auto argument = [&](const Expression* arg) {
        if (filter && !filter_clause) {
            c << "CASE WHEN ";
            condition(c, *filter);
            c << " THEN ";
            if (arg) c.compile(*arg);
            else c << "1";
            c << " ELSE NULL END";
        } else if (arg) {
            c.compile(*arg);
        } else {
            c << "*";
        }
    };
    if (args.empty()) argument(nullptr);
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (i) c << ", ";
        argument(args[i].get());
    }
    if (delimiter) {
        if (distinct && !c.dialect.supports_aggregate_distinct_multiple_arguments()) {
            if (*delimiter != Value(","))
                throw NotSupportedError(fmt::format("dorm: {} with distinct takes only the ',' delimiter on {}",
                                                    label, c.dialect.vendor()));
        } else {
            c << ", ";
            c.param(*delimiter);
        }
    }
    if (!ordering.empty()) {
        if (!c.dialect.supports_aggregate_order_by())
            throw NotSupportedError(fmt::format("dorm: {}'s order_by is not supported on {}", label, c.dialect.vendor()));
        c << " ORDER BY ";
        for (std::size_t i = 0; i < ordering.size(); ++i) {
            if (i) c << ", ";
            c.compile(*ordering[i].first);
            c << (ordering[i].second ? " DESC" : " ASC");
        }
    }
    c << ")";
    if (filter_clause) {
        c << " FILTER (WHERE ";
        condition(c, *filter);
        c << ")";
    }
    if (fallback) {
        c << ", ";
        compile_fallback(c);
        c << ")";
    }
    return Match::some;
}

DORM_DECL void Aggregate::compile_fallback(Compiler& c) const {
    const auto* info = dorm::detail::find_aggregate(label);
    if (!info) {
        c.compile(*fallback);
        return;
    }
    std::optional<FieldKind> input;
    if (!args.empty()) input = args[0]->output_kind();
    c.fill_template(c.dialect.aggregate_default_template(*info, input), [&] { c.compile(*fallback); });
}

DORM_DECL void Window::sources(std::vector<const Expression*>& out) const {
    out.push_back(source.get());
    group_by_sources(out);
}

DORM_DECL void Window::group_by_sources(std::vector<const Expression*>& out) const {
    for (const auto& p : partition_by) out.push_back(p.get());
    for (const auto& t : order_by) out.push_back(t.expr.get());
}

DORM_DECL auto Window::as_sql(Compiler& c) const -> Match {
    // An aggregate's default= wraps the whole window (COALESCE(SUM(x) OVER (...), 0)): COALESCE(...) OVER (...)
    // is no window function.
    const auto* aggregate = dynamic_cast<const Aggregate*>(source.get());
    if (aggregate && aggregate->fallback) {
        Aggregate bare = *aggregate;
        bare.fallback = nullptr;
        c << "COALESCE(";
        c.compile(bare);
        over(c);
        c << ", ";
        aggregate->compile_fallback(c);
        c << ")";
        return Match::some;
    }
    c.compile(*source);
    over(c);
    return Match::some;
}

DORM_DECL void Window::over(Compiler& c) const {
    c << " OVER (";
    const auto start = c.sql.size();
    if (!partition_by.empty()) {
        c << "PARTITION BY ";
        for (std::size_t i = 0; i < partition_by.size(); ++i) {
            if (i) c << ", ";
            c.compile(*partition_by[i]);
        }
    }
    if (!order_by.empty()) {
        if (c.sql.size() != start) c << " ";
        c << "ORDER BY ";
        for (std::size_t i = 0; i < order_by.size(); ++i) {
            if (i) c << ", ";
            c.compile(*order_by[i].expr);
            c << (order_by[i].descending ? " DESC" : " ASC");
            if (order_by[i].nulls_first) c << " NULLS FIRST";
            if (order_by[i].nulls_last) c << " NULLS LAST";
        }
    }
    if (frame) {
        if (c.sql.size() != start) c << " ";
        // The bounds are integers (WindowFrame holds nothing else), so writing them is safe; the magnitude is
        // taken unsigned so that INT64_MIN has one.
        auto bound = [&](const std::optional<std::int64_t>& v, std::string_view unbounded) {
            if (!v) return std::string(unbounded);
            if (*v == 0) return std::string("CURRENT ROW");
            auto magnitude = *v < 0 ? 0 - static_cast<std::uint64_t>(*v) : static_cast<std::uint64_t>(*v);
            return fmt::format("{} {}", magnitude, *v < 0 ? "PRECEDING" : "FOLLOWING");
        };
        c << (frame->type() == WindowFrame::Type::rows ? "ROWS" : "RANGE") << " BETWEEN "
          << bound(frame->start(), "UNBOUNDED PRECEDING") << " AND " << bound(frame->end(), "UNBOUNDED FOLLOWING");
        if (frame->exclusion()) {
            switch (*frame->exclusion()) {
                case WindowFrameExclusion::current_row: c << " EXCLUDE CURRENT ROW"; break;
                case WindowFrameExclusion::group: c << " EXCLUDE GROUP"; break;
                case WindowFrameExclusion::ties: c << " EXCLUDE TIES"; break;
                case WindowFrameExclusion::no_others: c << " EXCLUDE NO OTHERS"; break;
            }
        }
    }
    c << ")";
}

DORM_DECL void Case::sources(std::vector<const Expression*>& out) const {
    for (const auto& [cond, result] : whens) {
        out.push_back(cond.get());
        out.push_back(result.get());
    }
    if (fallback) out.push_back(fallback.get());
}

DORM_DECL auto Case::output_kind() const -> std::optional<FieldKind> {
    if (output) return output;
    for (const auto& w : whens)
        if (auto k = w.second->output_kind()) return k;
    if (fallback) return fallback->output_kind();
    return std::nullopt;
}

DORM_DECL auto Case::as_sql(Compiler& c) const -> Match {
    if (predicate) {
        auto start = c.sql.size();
        c << "(";
        Match m = c.compile(*whens.at(0).first);
        if (m == Match::some) {
            c << ")";
            return Match::some;
        }
        c.sql.resize(start);
        c.compile(m == Match::everything ? *whens[0].second : *fallback);
        return Match::some;
    }
    // A WHEN that can match nothing is dropped; one that matches everything ends the CASE (Django does the same).
    std::size_t written = 0;
    auto start = c.sql.size();
    c << "CASE";
    for (const auto& [cond, result] : whens) {
        auto before = c.sql.size();
        c << " WHEN ";
        Match m = c.compile(*cond);
        if (m == Match::nothing) {
            c.sql.resize(before);
            continue;
        }
        if (m == Match::everything) {
            c.sql.resize(before);
            if (written == 0) {  // the first possible WHEN always matches: just its result
                c.sql.resize(start);
                c.compile(*result);
                return Match::some;
            }
            c << " ELSE ";
            c.compile(*result);
            c << " END";
            return Match::some;
        }
        c << " THEN ";
        c.compile(*result);
        ++written;
    }
    if (written == 0) {
        c.sql.resize(start);
        if (fallback) c.compile(*fallback);
        else c << "NULL";
        return Match::some;
    }
    if (fallback) {
        c << " ELSE ";
        c.compile(*fallback);
    }
    c << " END";
    return Match::some;
}

DORM_DECL auto Cast::as_sql(Compiler& c) const -> Match {
    c.fill_template(c.dialect.cast_template(kind), [&] { c.compile(*arg); });
    return Match::some;
}

DORM_DECL auto Trunc::as_sql(Compiler& c) const -> Match {
    if (zone.empty()) {
        c.fill_template(c.dialect.trunc_template(kind, input), [&] { c.compile(*arg); });
        return Match::some;
    }
    const Value bound(c.dialect.time_zone_parameter(zone));  // checked, and as the dialect binds it
    std::string tmpl = c.dialect.trunc_in_zone_template(kind);  // "{0}" the value, "{1}" the zone
    std::string_view t = tmpl;
    for (auto at = t.find('{'); at != std::string_view::npos; at = t.find('{')) {
        c << t.substr(0, at);
        if (t.substr(at, 3) == "{0}") c.compile(*arg);
        else c.param(bound);
        t.remove_prefix(at + 3);
    }
    c << t;
    return Match::some;
}

DORM_DECL RawExpr::RawExpr(std::string s, std::vector<Value> p, std::optional<FieldKind> k) : sql(std::move(s)), params(std::move(p)), kind(k) {
    std::size_t n = 0;
    for (std::size_t i = 0; i + 1 < sql.size(); ++i) {
        if (sql[i] != '%') continue;
        if (sql[i + 1] == 's') ++n;
        ++i;
    }
    if (n != params.size())
        throw TypeError(fmt::format("dorm: the SQL has {} %s placeholders but {} parameters were given", n, params.size()));
}

DORM_DECL auto RawExpr::as_sql(Compiler& c) const -> Match {
    c << "(";
    write(c, sql, params);
    c << ")";
    return Match::some;
}

DORM_DECL void RawExpr::write(Compiler& c, std::string_view sql, const std::vector<Value>& params) {
    std::size_t next = 0;
    for (std::size_t i = 0; i < sql.size(); ++i) {
        if (sql[i] == '%' && i + 1 < sql.size() && sql[i + 1] == 's') {
            c.param(params[next++]);
            ++i;
        } else if (sql[i] == '%' && i + 1 < sql.size() && sql[i + 1] == '%') {
            c << "%";
            ++i;
        } else {
            c.sql += sql[i];
        }
    }
}

}  // namespace dorm::sql
