// Shared by the SQLite store's writer (sqlite_store.cc) and its verifier
// (sqlite_verify.cc): handles, statement helpers, and where each chained
// record type lives among the typed tables.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "audit/chain.h"
#include "base/expected.h"

namespace gh::store::sqlite_detail {

struct DbClose {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalize {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Db = std::unique_ptr<sqlite3, DbClose>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

std::string db_error(sqlite3* db, std::string_view what);
Status<> exec(sqlite3* db, const char* sql, std::string_view what);
// A statement kept for the connection's life (the writer's hot path).
Expected<Stmt> prepare(sqlite3* db, std::string_view sql);
// Runs a one-row query and returns its first column as text ("" for NULL).
Expected<std::string> query_text(sqlite3* db, const char* sql);

// Column `i` of the current row as text ("" for NULL).
std::string column_text(sqlite3_stmt* s, int i);
std::optional<std::int64_t> column_int(sqlite3_stmt* s, int i);

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
// stored: a value whose storage class does not fit its field is read as text,
// and a JSON field that is not one JSON value as text, so it cannot pass for
// what was chained.
void read_fields(sqlite3_stmt* s, int first, audit::Record& r);
// Binds text that outlives the statement's step (no copy); an empty view
// binds '' (never NULL).
void bind_text(sqlite3_stmt* s, int i, std::string_view v);
// Binds the record's values to parameters 1 … n.
void bind_fields(sqlite3_stmt* s, const audit::Record& r);

// The schema version the chain tables arrived with.
inline constexpr int kChainSchemaVersion = 6;

}  // namespace gh::store::sqlite_detail
