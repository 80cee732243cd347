#include "store/sqlite/sqlite_connection.h"

#include <sqlite3.h>

#include <string_view>

namespace gh::store {
namespace {

std::string db_error(sqlite3* db, std::string_view what) {
  return "sqlite: " + std::string(what) + ": " + sqlite3_errmsg(db);
}

class SqliteStatement final : public sql::Statement {
 public:
  SqliteStatement(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  ~SqliteStatement() override { sqlite3_finalize(s_); }

  void bind_null(int i) override { sqlite3_bind_null(s_, i); }
  void bind_int(int i, std::int64_t v) override { sqlite3_bind_int64(s_, i, v); }
  void bind_text(int i, std::string_view v) override {
    // An empty view may have no data pointer: SQLite would take that for NULL.
    sqlite3_bind_text64(s_, i, v.empty() ? "" : v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
  }
  Expected<bool> step() override {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) {
      changes_ = sqlite3_changes64(db_);
      return false;
    }
    return unexpected(db_error(db_, sqlite3_sql(s_) ? sqlite3_sql(s_) : "step"));
  }
  sql::ColumnType column_type(int i) override {
    switch (sqlite3_column_type(s_, i)) {
      case SQLITE_NULL:
        return sql::ColumnType::kNull;
      case SQLITE_INTEGER:
        return sql::ColumnType::kInt;
      default:
        return sql::ColumnType::kText;
    }
  }
  std::int64_t column_int(int i) override { return sqlite3_column_int64(s_, i); }
  std::string column_text(int i) override {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s_, i));
    return text ? std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(s_, i)))
                : std::string();
  }
  std::int64_t changes() override { return changes_; }
  void reset() override {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_;
  std::int64_t changes_ = 0;
};

std::string json_array_has(std::string_view column) {
  return "EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(" + std::string(column) + ") THEN " +
         std::string(column) + " END) WHERE value = ?)";
}
std::string text_contains(std::string_view column) {
  return "instr(" + std::string(column) + ", ?) > 0";
}
constexpr sql::Dialect kDialect{"sqlite", &json_array_has, &text_contains, false};

class SqliteConnection final : public sql::Connection {
 public:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  // close_v2: the cached statements below are finalized after this body,
  // and the connection closes once they are.
  ~SqliteConnection() override { sqlite3_close_v2(db_); }

  Expected<std::unique_ptr<sql::Statement>> prepare(std::string_view sql, bool keep) override {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                           keep ? SQLITE_PREPARE_PERSISTENT : 0, &raw, nullptr) != SQLITE_OK) {
      return unexpected(db_error(db_, "prepare " + std::string(sql)));
    }
    return std::unique_ptr<sql::Statement>(std::make_unique<SqliteStatement>(db_, raw));
  }

  Status<> exec(std::string_view script) override {
    const std::string text(script);
    char* err = nullptr;
    if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = std::string("sqlite: ") + (err ? err : sqlite3_errmsg(db_));
      sqlite3_free(err);
      return unexpected(std::move(msg));
    }
    return Ok{};
  }

  // IMMEDIATE: the write lock is taken at BEGIN, so a busy database fails
  // here (after the busy timeout) rather than halfway through a batch.
  Status<> begin() override { return cached(begin_, "BEGIN IMMEDIATE"); }
  Status<> begin_snapshot() override { return exec("BEGIN"); }
  Status<> commit() override { return cached(commit_, "COMMIT"); }
  void rollback() override {
    // A failed COMMIT may already have ended the transaction (or not): ask.
    if (!sqlite3_get_autocommit(db_)) (void)cached(rollback_, "ROLLBACK");
  }
  Status<> lock_maintenance() override { return Ok{}; }  // BEGIN IMMEDIATE excludes writers
  const sql::Dialect& dialect() const override { return kDialect; }
  std::int64_t last_insert_id() override { return sqlite3_last_insert_rowid(db_); }

 private:
  Status<> cached(std::unique_ptr<sql::Statement>& slot, std::string_view sql) {
    if (!slot) {
      auto s = prepare(sql, true);
      if (!s) return unexpected(s.error());
      slot = std::move(*s);
    }
    return sql::run(*slot);
  }

  sqlite3* db_;
  std::unique_ptr<sql::Statement> begin_, commit_, rollback_;
};

}  // namespace

Expected<std::unique_ptr<sql::Connection>> open_sqlite_connection(const std::string& path,
                                                                  SqliteMode mode,
                                                                  int busy_timeout_ms) {
  // SQLite's memory statistics take a process-wide mutex on every allocation
  // (about 5 % of the audit writer's CPU); gatehouse never reads them. Set
  // before SQLite's first use in the process; should something have used it
  // already, SQLite refuses the change and keeps the statistics.
  static const int no_memstatus = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)no_memstatus;
  sqlite3* raw = nullptr;
  // One thread at a time uses a writing connection (opened here, then only
  // the recorder's writer): SQLite's own per-call mutex would be pure cost.
  const int flags = mode == SqliteMode::kWrite
                        ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
                        : SQLITE_OPEN_READONLY;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = "sqlite: open " + path + (mode == SqliteMode::kRead ? " to read" : "") +
                      ": " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
    sqlite3_close_v2(raw);
    return unexpected(std::move(msg));
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, busy_timeout_ms);
  return std::unique_ptr<sql::Connection>(std::make_unique<SqliteConnection>(raw));
}

}  // namespace gh::store
