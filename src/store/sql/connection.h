// What the relational audit store needs of a database: prepared statements
// with positional parameters, rows read column by column, transactions. Each
// backend (store/sqlite, store/postgres) implements it; the store, its
// verifier and its reader (this folder) are written once against it.
//
// SQL handed to prepare() uses `?` for parameters, in order, or `?N` for
// parameter N; a backend whose server spells them otherwise rewrites them
// outside quoted text. Text values are bytes: a backend that cannot hold
// every byte sequence in a text column encodes such values on the way in and
// decodes them on the way out, so what is read back is what was written.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/expected.h"

namespace gh::store::sql {

enum class ColumnType : std::uint8_t { kNull, kInt, kText };

class Statement {
 public:
  virtual ~Statement() = default;
  // Parameters are numbered from 1. Bound text is not copied: it must stay
  // alive until the statement has run.
  virtual void bind_null(int i) = 0;
  virtual void bind_int(int i, std::int64_t v) = 0;
  virtual void bind_text(int i, std::string_view v) = 0;
  // The first call runs the statement; each call moves to the next row.
  // True while on a row, false once done.
  virtual Expected<bool> step() = 0;
  virtual ColumnType column_type(int i) = 0;   // columns are numbered from 0
  virtual std::int64_t column_int(int i) = 0;  // 0 for NULL
  virtual std::string column_text(int i) = 0;  // "" for NULL
  // Rows the last run inserted, updated or deleted.
  virtual std::int64_t changes() = 0;
  // Ready to bind and run again (bindings cleared, results dropped).
  virtual void reset() = 0;
};

// The few places where the dialects differ in what the store asks.
struct Dialect {
  std::string_view name;  // "sqlite", "postgres": prefixes every error
  // SQL true when the JSON array of strings in `column` holds the parameter.
  std::string (*json_array_has)(std::string_view column);
  // SQL true when the text in `column` contains the parameter.
  std::string (*text_contains)(std::string_view column);
  // An INSERT names the id it made with RETURNING (else the connection's
  // last_insert_id() has it, which is cheaper where the database keeps it).
  bool insert_returns_id;
};

class Connection {
 public:
  virtual ~Connection() = default;
  // `keep`: the statement is run many times (the writer's hot path) and the
  // backend may prepare it on the server once.
  virtual Expected<std::unique_ptr<Statement>> prepare(std::string_view sql, bool keep) = 0;
  // Runs a script of statements without parameters (migrations).
  virtual Status<> exec(std::string_view script) = 0;
  // A write transaction: taken so that no other writer interleaves.
  virtual Status<> begin() = 0;
  // A read-only transaction over one snapshot (verify).
  virtual Status<> begin_snapshot() = 0;
  virtual Status<> commit() = 0;
  // Ends the transaction if one is open; never fails the caller.
  virtual void rollback() = 0;
  // Serialises store maintenance (retention) between replicas sharing the
  // database, until the transaction ends. A no-op where begin() already
  // excludes every other writer.
  virtual Status<> lock_maintenance() = 0;
  virtual const Dialect& dialect() const = 0;
  // The id the last INSERT made (dialects without insert_returns_id).
  virtual std::int64_t last_insert_id() = 0;
};

// Runs a statement that returns no rows to the end, then resets it.
Status<> run(Statement& s);
// The first column of a one-row query's row, as text.
Expected<std::string> query_text(Connection& c, std::string_view sql);
// Runs `s` (bound already) and calls row(s) for each row; resets it after.
template <class Row>
Status<> each(Statement& s, Row&& row) {
  for (;;) {
    auto more = s.step();
    if (!more) {
      s.reset();
      return unexpected(more.error());
    }
    if (!*more) break;
    row(s);
  }
  s.reset();
  return Ok{};
}
template <class Row>
Status<> each(Connection& c, std::string_view sql, Row&& row) {
  auto s = c.prepare(sql, false);
  if (!s) return unexpected(s.error());
  return each(**s, std::forward<Row>(row));
}

}  // namespace gh::store::sql
