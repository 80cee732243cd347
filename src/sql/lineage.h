// Column lineage: for each result column of a statement, the table columns
// its values are computed from — through expressions, functions, operators,
// casts, CASE, COALESCE, subqueries, CTEs (recursive ones to a fixed point),
// derived tables, set operations, aggregates, window functions, whole-row
// references, JSON operators and functions, and views (their definitions,
// which the caller supplies with the relation's shape). What the analysis
// cannot see into — a function that is not a built-in, a name it cannot
// resolve, EXECUTE and FETCH of something prepared earlier — makes the column
// opaque, and masking then treats it as computed from anything (fail closed).
// Pure: the catalog comes in through a callback; a relation it does not know
// yet is listed in `missing`, for the caller to look up and ask again.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "model/analysis.h"
#include "model/lineage.h"

namespace gh::sql {

// A relation as the database's catalog describes it.
struct Shape {
  bool exists = false;
  std::string schema;
  std::string table;
  std::vector<std::string> columns;  // by attribute number - 1; dropped ones empty
  std::vector<bool> json;            // json/jsonb columns, like `columns`
  std::string view_definition;       // a view: the query it stands for
};

struct LineageCatalog {
  // The shape of a relation as a statement names it (schema empty when
  // unqualified); null when not known yet (it is then listed in `missing`).
  std::function<const Shape*(const model::Relation&)> shape;
  // Whether a function is a built-in: its value is computed from its
  // arguments alone. Others are opaque.
  std::function<bool(const model::FunctionRef&)> builtin;
};

struct Lineage {
  // One entry per result column, `*` expanded. False when the columns could
  // not be lined up with the result (a `*` over a function's columns, a
  // statement that returns rows of something prepared earlier…).
  bool aligned = false;
  std::vector<model::ColumnLineage> columns;
  // Every column of every relation the statement reads, and whether anything
  // in it is opaque: what a column whose lineage is not established may hold.
  std::vector<model::Origin> everything;
  bool opaque = false;
  // The columns the statement itself filters, joins, groups or orders on
  // (WHERE, JOIN … ON, GROUP BY, HAVING, ORDER BY, windows, FILTER,
  // DISTINCT ON), in any of its subqueries — not inside the views it reads.
  std::vector<model::Origin> predicates;
  // A constant shaped the result (a JSON key or path): statements that differ
  // only in constants may have another lineage.
  bool constant_sensitive = false;
  // Relations whose shape the catalog did not have: look them up, ask again.
  std::vector<model::Relation> missing;
  std::string error;  // the text did not parse (nothing is established)
};

// The lineage of the result columns of statement `index` of `sql`.
Lineage lineage_of(std::string_view sql, std::size_t index, const LineageCatalog& catalog);

}  // namespace gh::sql
