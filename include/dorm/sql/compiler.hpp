// SPDX-License-Identifier: MIT
// sql::Compiler: the text and bound parameters of one statement being written, and the Expression interface.
#pragma once

#include <dorm/config.hpp>

#include <dorm/backends/base/dialect.hpp>
#include <dorm/value.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dorm::sql {

/// What a WHERE piece turned out to match once compiled. Django raises EmptyResultSet / FullResultSet;
/// dorm returns these so that `filter("id__in", {})` runs no query at all.
enum class Match { some, nothing, everything };

class Compiler;
struct Query;

/// A node of the SQL AST. Nodes are immutable and shared between QuerySets.
class Expression {
public:
    virtual ~Expression() = default;
    /// Appends this node's SQL and parameters to `c`; returns Match::some, or what it matches
    /// when it writes nothing.
    virtual Match as_sql(Compiler& c) const = 0;
    /// The type of the value it computes (Django's output_field), when known.
    virtual std::optional<FieldKind> output_kind() const { return std::nullopt; }
    /// The nodes it is built from (Django's get_source_expressions) (not those of a subquery, which is a query of its own),
    /// appended to `out`: what `out` already holds is left as it is (tree walks share one list).
    virtual void sources(std::vector<const Expression*>& out) const { (void)out; }
    /// Whether it is an aggregate function itself.
    virtual bool is_aggregate() const noexcept { return false; }
    /// Whether it is a window expression itself (`... OVER (...)`).
    virtual bool is_window() const noexcept { return false; }
    /// Whether it is a bound value itself.
    virtual bool is_value() const noexcept { return false; }
    /// Whether it refers to the outer query (OuterRef) itself.
    virtual bool is_outer_ref() const noexcept { return false; }
    /// Whether GROUP BY lists it when it is selected or ordered by (Django's get_group_by_cols() is not empty):
    /// not Random(), which would put every row in a group of its own.
    virtual bool is_grouped() const noexcept { return true; }
    /// Whether it or a node below it is an aggregate (Django's contains_aggregate): such a condition
    /// belongs in HAVING, and such a selected value is not grouped by. Not through a window: an aggregate
    /// computed over a window groups no rows (Django's Window.contains_aggregate is False).
    bool contains_aggregate() const;
    /// Whether it or a node below it is a window expression (Django's contains_over_clause).
    bool contains_over_clause() const;
    /// Whether it is a bound value with no columns (a constant is never grouped by).
    bool is_constant() const;
};
using ExprPtr = std::shared_ptr<const Expression>;

/// The statement being written: SQL text, its parameters, and the dialect that spells it.
class Compiler {
public:
    explicit Compiler(const backends::Dialect& d, bool inline_params = false) : dialect(d), inline_params_(inline_params) {
        sql.reserve(512);  // most statements fit: no reallocation while writing
    }

    const backends::Dialect& dialect;
    std::string sql;
    std::vector<Value> params;
    /// A query being written, with the aliases its tables were renamed to because an enclosing query uses them.
    struct Scope {
        const Query* query;
        std::vector<std::pair<std::string, std::string>> renames;
    };
    /// The queries being written, innermost last: a subquery's OuterRefs refer to the one before it.
    std::vector<Scope> scopes;
    /// While the select list of a query filtered on a window is written: every column gets an alias, recorded
    /// here, so that the outer query can name them (Django's with_col_aliases).
    std::vector<std::string>* column_names = nullptr;
    /// While the outer query of a query filtered on a window is written: expressions computed by the inner
    /// query, written as its columns (`"qualify"."rn"`) instead.
    const std::vector<std::pair<const Expression*, std::string>>* substitutions = nullptr;
    /// The innermost query's selected expressions (values() and annotations) and their 1-based positions in its
    /// select list, set by select_list(). An aggregating query groups and orders by a selected expression that
    /// has parameters through its position ("GROUP BY 1", as Django's allows_group_by_select_index): PostgreSQL
    /// does not take `f(x, $1)` and `f(x, $3)` for the same expression.
    std::vector<std::pair<const Expression*, std::size_t>> selected;

    /// Whether the innermost query writes `alias` under another name.
    bool renamed(std::string_view alias) const;
    /// Appends the quoted alias a table of the innermost query is written with.
    void quote_alias(std::string_view alias);

    Compiler& operator<<(std::string_view s) {
        sql += s;
        return *this;
    }
    void quote(std::string_view name) { dialect.quote_name(sql, name); }
    /// Binds `v` and writes its placeholder (or, for display only, its literal).
    void param(Value v);
    /// Writes `tmpl`, calling `fill()` where each "%s" stands (a dialect's operator or function template).
    template <class Fill>
    void fill_template(std::string_view tmpl, Fill&& fill) {
        for (std::size_t pos = 0;;) {
            auto at = tmpl.find("%s", pos);
            sql.append(tmpl.substr(pos, at == std::string_view::npos ? std::string_view::npos : at - pos));
            if (at == std::string_view::npos) break;
            fill();
            pos = at + 2;
        }
    }
    /// Compiles `e`, undoing what it wrote when it matched nothing or everything.
    Match compile(const Expression& e);
    /// After a column of a select list: ` AS "__cN"` and its name recorded, while `column_names` is set.
    void column_alias();

    /// Whether values are written as literals (display only).
    bool inlines_params() const noexcept { return inline_params_; }

private:
    bool inline_params_;
};

}  // namespace dorm::sql

#if DORM_HEADER_ONLY
#include <dorm/sql/impl/compiler.ipp>
#endif
