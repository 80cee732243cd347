// Where each chained record type lives among the typed tables, and how a
// record's fields go into and come out of a row — shared by the writer
// (store.cc), the verifier (verify.cc) and the backends' schemas.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "audit/chain.h"
#include "store/sql/connection.h"

namespace gh::store::sql {

// The typed table a record type is kept in, and the column of that table
// that names the record's audit_chain.id. A session's end updates the row its
// start inserted: it is chained as its own record, named by end_chain_id.
struct TypedTable {
  audit::RecordType type;
  const char* table;
  const char* ref;
};
std::span<const TypedTable> typed_tables();
const TypedTable& typed_table(audit::RecordType type);

// "a, b, c": the record's fields as columns (prefixed with `alias.` if given).
std::string column_list(const audit::RecordSpec& spec, std::string_view alias = {});
// Reads columns first … first+n-1 of the current row into `r` as they are
// stored: a value whose type does not fit its field is read as text, and a
// JSON field that is not one JSON value as text, so it cannot pass for what
// was chained.
void read_fields(Statement& s, int first, audit::Record& r);
// Binds the record's values to parameters 1 … n (text is not copied: the
// record must outlive the run).
void bind_fields(Statement& s, const audit::Record& r);

// A text member of a canonical record (parsed): its string, or the bytes of
// its {"base64": …} form (chain.h: text that is not UTF-8); "" when absent,
// null or neither.
std::string record_text(const nlohmann::json& record, const char* member);

}  // namespace gh::store::sql
