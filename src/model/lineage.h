// Where a result value comes from: the table columns it is computed from, as
// statement analysis establishes them (src/sql/lineage.h) and masking uses
// them (a value computed from a masked column is masked whole). Protocol-
// neutral: a MySQL analyzer fills the same shape.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace gh::model {

// One table column a value is computed from.
struct Origin {
  std::string source;  // "schema.table.column" of a base table
  bool json = false;   // a json/jsonb value (a json/jsonb column, or a column cast to one)
  // For json: the constant path the value is extracted at (->, ->>, #>, #>>,
  // json(b)_extract_path(_text); [] is the document itself); nullopt when the
  // document reaches the value any other way (a function, a cast to text…).
  std::optional<std::vector<std::string>> path;
  bool operator==(const Origin&) const = default;
};

// What one result column is computed from.
struct ColumnLineage {
  std::vector<Origin> origins;
  bool direct = false;  // a plain reference to one column, through views, CTEs and subqueries
  bool opaque = false;  // partly computed by something the gateway cannot see into
};

}  // namespace gh::model
