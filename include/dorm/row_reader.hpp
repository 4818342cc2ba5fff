// SPDX-License-Identifier: MIT
// RowReaderBase: what decoding a query's rows needs that does not depend on the result type, compiled once; the
// typed RowReader<T> (query_set.hpp) builds on it, and prefetching uses it alone for models it knows by metadata.
#pragma once

#include <dorm/config.hpp>

#include <dorm/backends/base/cell.hpp>
#include <dorm/model.hpp>
#include <dorm/row.hpp>
#include <dorm/sql/query.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace dorm::detail {

/// What reading a query's rows needs that does not depend on the result type (which columns hold what, and the
/// select_related() objects), compiled once.
class RowReaderBase {
public:
    /// Reads the rows of `q`, run on the database `db`, into instances of its model known by its metadata only
    /// (prefetching).
    RowReaderBase(const sql::Query& q, const std::string* db) : RowReaderBase(q, db, Result::model, q.model->fields.size()) {}
    // Compiled once (row_reader.ipp): destroying the vectors below inline in every reading function weighs.
    RowReaderBase(const RowReaderBase&);
    RowReaderBase(RowReaderBase&&) noexcept;
    RowReaderBase& operator=(const RowReaderBase&);
    RowReaderBase& operator=(RowReaderBase&&) noexcept;
    ~RowReaderBase();

    /// The number of columns the query selects (checked against the cursor).
    std::size_t columns() const noexcept { return columns_; }
    /// The column holding field `i` of the query's model (defer() / only() leave some out).
    std::size_t column_of(std::size_t i) const;
    /// Decodes a row into `obj`, an instance of the query's model: its fields, state, annotations and
    /// select_related() objects, as RowReader<M>::read does.
    void read_object(std::span<const backends::Cell> row, void* obj) const;

protected:
    enum class Result { model, row, values };
    /// `model_columns`: the columns of the model's own fields, for Result::model.
    RowReaderBase(const sql::Query& q, const std::string* db, Result result, std::size_t model_columns);

    /// The annotations after a model's `n` columns, stored on its state.
    void read_annotations(std::span<const backends::Cell> row, std::size_t n, ModelState& state) const;
    /// Tells each ForeignKey of `obj` (an instance of the query's model) the database it was read from.
    void attach_relations(void* obj) const;
    /// select_related(): each related object from its columns, attached to its parent's ForeignKey.
    void read_related(std::span<const backends::Cell> row, void* out, ModelState& out_state) const;

    struct Selection {
        const ModelMeta* model;
        const FieldMeta* fk;
        int parent;
        std::size_t offset;
        std::string stored_as;  // see sql::RelatedSelection
        // only("blog__name") / defer("blog__tagline"): the fields selected, and the others; empty: all
        std::vector<const FieldMeta*> loaded{};
        std::shared_ptr<const std::vector<std::string>> deferred{};
        std::size_t pk_column = 0;  // among its columns
        std::size_t columns = 0;
    };

    const ModelMeta* model_;
    const std::string* db_;
    std::size_t columns_ = 0;
    bool attach_relations_ = false;  // rows from another database: their ForeignKeys are told where they come from
    std::vector<Selection> selections_;
    std::vector<const FieldMeta*> loaded_;                  // defer() / only(): the fields selected
    std::shared_ptr<const std::vector<std::string>> deferred_;  // and the others
    std::shared_ptr<const Row::names_type> names_;
    struct ColumnKind {
        std::optional<FieldKind> kind;
        bool computed = false;  // an expression's (not a plain column's): read with expression_value()
    };
    std::vector<ColumnKind> kinds_;
    /// values_list()'s columns (bit i) that are integer-typed expressions: a real there is truncated first.
    std::uint64_t truncated_columns_ = 0;
    /// Cell `at` of `row`, the values list's or annotations' column `i`.
    Value column_value(std::span<const backends::Cell> row, std::size_t at, std::size_t i) const;
};

}  // namespace dorm::detail

#if DORM_HEADER_ONLY
#include <dorm/impl/row_reader.ipp>
#endif
