// Statement analysis on PostgreSQL's own grammar (libpg_query): what each
// statement of a string is and does. No I/O, no session state: the same text
// always yields the same Analysis, so results can be cached and shared.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/analysis.h"

namespace gh::sql {

// Parses `sql` and reports every statement in it. A parse failure, a
// statement type this analyzer does not know, or a tree too deep to walk
// gives `ok == false` and kind unknown: the caller denies it.
model::Analysis analyze(std::string_view sql);

// The text of one statement of `sql`, the text it was analysed from (by its
// location and length), without the whitespace around it; comments before it
// stay. Empty when the location does not lie inside `sql`.
std::string_view statement_text(std::string_view sql, const model::Statement& st);

// The statement with its constants replaced by $n, by libpg_query's
// normaliser (the server's own scanner and grammar). nullopt when it does not
// parse.
std::optional<std::string> normalize(std::string_view sql);

// The schemas an unqualified relation may resolve to under one search_path,
// in the server's order: pg_catalog first unless the path lists it elsewhere
// (only relations named pg_* live there), then the path. A relation every
// supported server has in pg_catalog (pg_class, pg_type, pg_namespace, …)
// ends the list at pg_catalog: what follows cannot shadow it. "$user" stands
// for `session_user`. A qualified relation resolves to its own schema.
std::vector<std::string> candidate_schemas(const model::Relation& r,
                                           const std::vector<std::string>& search_path,
                                           std::string_view session_user);

// Splits a search_path value as the server reads it ("a, \"B\", $user").
std::vector<std::string> parse_search_path(std::string_view value);

}  // namespace gh::sql
