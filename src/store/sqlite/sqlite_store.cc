#include "store/sqlite/sqlite_store.h"

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace gh::store {
namespace {

// Each migration runs once, in order, in its own transaction; its version is
// recorded in schema_migrations. Never edit a released migration: add one.
struct Migration {
  int version;
  const char* sql;
};

constexpr std::array kMigrations{
    Migration{1, R"sql(
CREATE TABLE sessions (
  id                TEXT PRIMARY KEY,
  replica           TEXT,
  started_at_us     INTEGER,
  ended_at_us       INTEGER,
  subject           TEXT,
  groups_json       TEXT,
  issuer            TEXT,
  token_hash        TEXT,
  client_addr       TEXT,
  tls               INTEGER,
  listener          TEXT,
  connection        TEXT,
  protocol          TEXT,
  user_label        TEXT,
  application_name  TEXT,
  end_reason        TEXT,
  bytes_from_client INTEGER,
  bytes_to_client   INTEGER,
  statements        INTEGER
);
CREATE INDEX sessions_subject ON sessions(subject);
CREATE INDEX sessions_connection ON sessions(connection);
CREATE INDEX sessions_started_at ON sessions(started_at_us);

CREATE TABLE statements (
  session_id    TEXT NOT NULL,
  seq           INTEGER NOT NULL,
  at_us         INTEGER,
  duration_us   INTEGER,
  text          TEXT,
  protocol_path TEXT,
  rows          INTEGER,
  outcome       TEXT,
  command_tag   TEXT,
  error_code    TEXT,
  error_message TEXT,
  PRIMARY KEY (session_id, seq)
);
CREATE INDEX statements_at ON statements(at_us);

CREATE TABLE refused_connections (
  id          INTEGER PRIMARY KEY,
  at_us       INTEGER,
  replica     TEXT,
  client_addr TEXT,
  listener    TEXT,
  connection  TEXT,
  subject     TEXT,
  token_hash  TEXT,
  sqlstate    TEXT,
  reason      TEXT
);
CREATE INDEX refused_connections_at ON refused_connections(at_us);
)sql"},
    Migration{2, R"sql(
ALTER TABLE statements ADD COLUMN kind TEXT;
ALTER TABLE statements ADD COLUMN class TEXT;
ALTER TABLE statements ADD COLUMN tables_json TEXT;
ALTER TABLE statements ADD COLUMN functions_json TEXT;
ALTER TABLE statements ADD COLUMN decision TEXT;
ALTER TABLE statements ADD COLUMN rule TEXT;
ALTER TABLE statements ADD COLUMN policy_version INTEGER;
CREATE INDEX statements_decision ON statements(decision, rule);

CREATE TABLE policy_events (
  id       INTEGER PRIMARY KEY,
  at_us    INTEGER,
  replica  TEXT,
  version  INTEGER,
  action   TEXT,
  outcome  TEXT,
  detail   TEXT,
  source   TEXT
);
CREATE INDEX policy_events_at ON policy_events(at_us);
)sql"},
    Migration{3, R"sql(
ALTER TABLE statements ADD COLUMN masked_json TEXT;
ALTER TABLE statements ADD COLUMN withheld INTEGER;
)sql"},
    Migration{4, R"sql(
ALTER TABLE statements ADD COLUMN approval_id TEXT;

CREATE TABLE approval_events (
  at_us          INTEGER,
  replica        TEXT,
  request_id     TEXT,
  event          TEXT,
  status         TEXT,
  rule           TEXT,
  kind           TEXT,
  requester      TEXT,
  actor          TEXT,
  detail         TEXT,
  connection     TEXT,
  session_id     TEXT,
  statement      TEXT,
  text_hash      TEXT,
  params_hash    TEXT,
  policy_version INTEGER
);
CREATE INDEX approval_events_request ON approval_events(request_id);
CREATE INDEX approval_events_at ON approval_events(at_us);

CREATE TABLE token_events (
  at_us            INTEGER,
  replica          TEXT,
  action           TEXT,
  actor            TEXT,
  subject          TEXT,
  groups_json      TEXT,
  connections_json TEXT,
  expires_at       INTEGER,
  token_hash       TEXT,
  kid              TEXT
);
CREATE INDEX token_events_at ON token_events(at_us);
)sql"},
    // recording.results: the masked result rows a statement returned.
    Migration{5, R"sql(
ALTER TABLE statements ADD COLUMN result_json TEXT;
)sql"},
};

struct DbClose {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalize {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Db = std::unique_ptr<sqlite3, DbClose>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

std::string db_error(sqlite3* db, std::string_view what) {
  return "sqlite: " + std::string(what) + ": " + sqlite3_errmsg(db);
}

Status<> exec(sqlite3* db, const char* sql, std::string_view what) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = "sqlite: " + std::string(what) + ": " + (err ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    return unexpected(std::move(msg));
  }
  return Ok{};
}

Expected<Stmt> prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &raw, nullptr) != SQLITE_OK) {
    return unexpected(db_error(db, "prepare"));
  }
  return Stmt(raw);
}

// Runs a one-row query and returns its first column as text ("" for NULL).
Expected<std::string> query_text(sqlite3* db, const char* sql) {
  auto stmt = prepare(db, sql);
  if (!stmt) return unexpected(stmt.error());
  int rc = sqlite3_step(stmt->get());
  if (rc != SQLITE_ROW) return unexpected(db_error(db, sql));
  const unsigned char* text = sqlite3_column_text(stmt->get(), 0);
  return std::string(text ? reinterpret_cast<const char*>(text) : "");
}

Status<> migrate(sqlite3* db) {
  if (auto st = exec(db,
                     "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "version INTEGER PRIMARY KEY, applied_at TEXT)",
                     "create schema_migrations");
      !st) {
    return st;
  }
  auto current = query_text(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!current) return unexpected(current.error());
  const int have = std::stoi(*current);
  const int known = kMigrations.back().version;
  // A newer gateway has written here: writing with an older schema would corrupt it.
  if (have > known) {
    return unexpected("sqlite: database schema version " + std::to_string(have) +
                      " is newer than this build understands (" + std::to_string(known) + ")");
  }
  for (const auto& m : kMigrations) {
    if (m.version <= have) continue;
    if (auto st = exec(db, "BEGIN IMMEDIATE", "begin migration"); !st) return st;
    auto applied = exec(db, m.sql, "migration " + std::to_string(m.version));
    if (applied) {
      auto insert = prepare(db,
                            "INSERT INTO schema_migrations(version, applied_at) "
                            "VALUES (?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))");
      if (!insert) {
        applied = unexpected(insert.error());
      } else {
        sqlite3_bind_int(insert->get(), 1, m.version);
        if (sqlite3_step(insert->get()) != SQLITE_DONE) {
          applied = unexpected(db_error(db, "record migration"));
        }
      }
    }
    if (applied) applied = exec(db, "COMMIT", "commit migration");
    if (!applied) {
      if (!sqlite3_get_autocommit(db)) (void)exec(db, "ROLLBACK", "rollback migration");
      return applied;
    }
  }
  return Ok{};
}

class SqliteStore final : public audit::Store {
 public:
  static Expected<std::unique_ptr<audit::Store>> create(Db db) {
    std::unique_ptr<SqliteStore> store(new SqliteStore(std::move(db)));
    sqlite3* h = store->db_.get();
    struct {
      Stmt* slot;
      const char* sql;
    } statements[] = {
        {&store->begin_, "BEGIN IMMEDIATE"},
        {&store->commit_, "COMMIT"},
        {&store->rollback_, "ROLLBACK"},
        {&store->insert_session_,
         "INSERT INTO sessions(id, started_at_us, replica, subject, groups_json, issuer, "
         "token_hash, client_addr, tls, listener, connection, protocol, user_label, "
         "application_name) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"},
        {&store->insert_statement_,
         "INSERT INTO statements(session_id, seq, at_us, duration_us, text, protocol_path, rows, "
         "outcome, command_tag, error_code, error_message, kind, class, tables_json, "
         "functions_json, decision, rule, policy_version, masked_json, withheld, approval_id, "
         "result_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"},
        // An upsert rather than a bare UPDATE: should the start ever be missing,
        // the end of the session is still kept instead of matching no row.
        {&store->end_session_,
         "INSERT INTO sessions(id, ended_at_us, end_reason, bytes_from_client, bytes_to_client, "
         "statements) VALUES (?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
         "ended_at_us = excluded.ended_at_us, end_reason = excluded.end_reason, "
         "bytes_from_client = excluded.bytes_from_client, "
         "bytes_to_client = excluded.bytes_to_client, statements = excluded.statements"},
        {&store->insert_policy_,
         "INSERT INTO policy_events(at_us, replica, version, action, outcome, detail, source) "
         "VALUES (?,?,?,?,?,?,?)"},
        {&store->insert_approval_,
         "INSERT INTO approval_events(at_us, replica, request_id, event, status, rule, kind, "
         "requester, actor, detail, connection, session_id, statement, text_hash, params_hash, "
         "policy_version) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"},
        {&store->insert_token_,
         "INSERT INTO token_events(at_us, replica, action, actor, subject, groups_json, "
         "connections_json, expires_at, token_hash, kid) VALUES (?,?,?,?,?,?,?,?,?,?)"},
        {&store->insert_refused_,
         "INSERT INTO refused_connections(at_us, replica, client_addr, listener, connection, "
         "subject, token_hash, sqlstate, reason) VALUES (?,?,?,?,?,?,?,?,?)"},
    };
    for (auto& s : statements) {
      auto stmt = prepare(h, s.sql);
      if (!stmt) return unexpected(stmt.error());
      *s.slot = std::move(*stmt);
    }
    return std::unique_ptr<audit::Store>(std::move(store));
  }

  ~SqliteStore() override {
    // Statements must go before the connection they belong to.
    begin_.reset();
    commit_.reset();
    rollback_.reset();
    insert_session_.reset();
    insert_statement_.reset();
    end_session_.reset();
    insert_refused_.reset();
    insert_policy_.reset();
    insert_approval_.reset();
    insert_token_.reset();
  }

  Status<> write_batch(std::span<const model::AuditEvent> events) override {
    if (events.empty()) return Ok{};
    if (auto st = run(begin_.get(), "begin"); !st) return st;
    for (const auto& event : events) {
      auto st = std::visit([this](const auto& e) { return write(e); }, event);
      if (!st) {
        rollback();
        return st;
      }
    }
    if (auto st = run(commit_.get(), "commit"); !st) {
      rollback();
      return st;
    }
    return Ok{};
  }

 private:
  explicit SqliteStore(Db db) : db_(std::move(db)) {}

  // Binds 1-based parameters in order. Values outlive the step, so no copies.
  class Binder {
   public:
    explicit Binder(sqlite3_stmt* s) : s_(s) {}
    Binder& text(const std::string& v) {
      sqlite3_bind_text64(s_, ++i_, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
      return *this;
    }
    Binder& integer(std::int64_t v) {
      sqlite3_bind_int64(s_, ++i_, v);
      return *this;
    }
    // Leaves the next parameter NULL.
    Binder& skip(int n = 1) {
      i_ += n;
      return *this;
    }

   private:
    sqlite3_stmt* s_;
    int i_ = 0;
  };

  Status<> run(sqlite3_stmt* s, std::string_view what) {
    const int rc = sqlite3_step(s);
    Status<> result = Ok{};
    if (rc != SQLITE_DONE) result = unexpected(db_error(db_.get(), what));
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return result;
  }

  void rollback() {
    // A failed COMMIT may already have ended the transaction (or not): ask.
    if (!sqlite3_get_autocommit(db_.get())) (void)run(rollback_.get(), "rollback");
  }

  Status<> write(const model::SessionStart& e) {
    std::string groups = nlohmann::json(e.groups).dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);  // claims may be odd UTF-8
    Binder(insert_session_.get())
        .text(e.session_id)
        .integer(e.at_us)
        .text(e.replica)
        .text(e.subject)
        .text(groups)
        .text(e.issuer)
        .text(e.token_hash)
        .text(e.client_addr)
        .integer(e.tls ? 1 : 0)
        .text(e.listener)
        .text(e.connection)
        .text(e.protocol)
        .text(e.user_label)
        .text(e.application_name);
    return run(insert_session_.get(), "insert session");
  }

  static std::string json_list(const std::vector<std::string>& v) {
    return nlohmann::json(v).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  Status<> write(const model::StatementEvent& e) {
    // Kept alive until the step: the binder does not copy.
    const std::string tables = json_list(e.decision.tables);
    const std::string functions = json_list(e.decision.functions);
    const bool decided = !e.decision.kind.empty();
    std::string masked;
    if (!e.masked.empty()) {
      nlohmann::json m = nlohmann::json::object();
      for (const auto& c : e.masked) m[c.rule] = c.values;
      masked = m.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    Binder b(insert_statement_.get());
    b.text(e.session_id)
        .integer(e.seq)
        .integer(e.at_us)
        .integer(e.duration_us)
        .text(e.text)
        .text(e.protocol_path)
        .integer(e.rows)
        .text(e.outcome)
        .text(e.command_tag)
        .text(e.error_code)
        .text(e.error_message);
    if (decided) {
      b.text(e.decision.kind)
          .text(e.decision.cls)
          .text(tables)
          .text(functions)
          .text(e.decision.decision)
          .text(e.decision.rule)
          .integer(static_cast<std::int64_t>(e.decision.policy_version));
    } else {
      b.skip(7);
    }
    if (!masked.empty())
      b.text(masked);
    else
      b.skip();
    b.integer(e.withheld);
    if (!e.decision.approval_id.empty())
      b.text(e.decision.approval_id);
    else
      b.skip();
    if (!e.result.empty())
      b.text(e.result);
    else
      b.skip();
    return run(insert_statement_.get(), "insert statement");
  }

  Status<> write(const model::SessionEnd& e) {
    Binder(end_session_.get())
        .text(e.session_id)
        .integer(e.at_us)
        .text(e.reason)
        .integer(e.bytes_from_client)
        .integer(e.bytes_to_client)
        .integer(e.statements);
    return run(end_session_.get(), "end session");
  }

  Status<> write(const model::ConnectionRefused& e) {
    Binder(insert_refused_.get())
        .integer(e.at_us)
        .text(e.replica)
        .text(e.client_addr)
        .text(e.listener)
        .text(e.connection)
        .text(e.subject)
        .text(e.token_hash)
        .text(e.sqlstate)
        .text(e.reason);
    return run(insert_refused_.get(), "insert refused connection");
  }

  Status<> write(const model::PolicyEvent& e) {
    Binder(insert_policy_.get())
        .integer(e.at_us)
        .text(e.replica)
        .integer(static_cast<std::int64_t>(e.version))
        .text(e.action)
        .text(e.outcome)
        .text(e.detail)
        .text(e.source);
    return run(insert_policy_.get(), "insert policy event");
  }

  Status<> write(const model::ApprovalEvent& e) {
    Binder(insert_approval_.get())
        .integer(e.at_us)
        .text(e.replica)
        .text(e.request_id)
        .text(e.event)
        .text(e.status)
        .text(e.rule)
        .text(e.kind)
        .text(e.requester)
        .text(e.actor)
        .text(e.detail)
        .text(e.connection)
        .text(e.session_id)
        .text(e.statement)
        .text(e.text_hash)
        .text(e.params_hash)
        .integer(static_cast<std::int64_t>(e.policy_version));
    return run(insert_approval_.get(), "insert approval event");
  }

  Status<> write(const model::TokenEvent& e) {
    const std::string groups = nlohmann::json(e.groups).dump();
    const std::string connections = nlohmann::json(e.connections).dump();
    Binder(insert_token_.get())
        .integer(e.at_us)
        .text(e.replica)
        .text(e.action)
        .text(e.actor)
        .text(e.subject)
        .text(groups)
        .text(connections)
        .integer(e.expires_at)
        .text(e.token_hash)
        .text(e.kid);
    return run(insert_token_.get(), "insert token event");
  }

  Db db_;
  Stmt begin_, commit_, rollback_;
  Stmt insert_session_, insert_statement_, end_session_, insert_refused_, insert_policy_;
  Stmt insert_approval_, insert_token_;
};

}  // namespace

Expected<std::unique_ptr<audit::Store>> open_sqlite_store(const std::string& path) {
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  Db db(raw);  // closed on every path below, including a failed open
  if (rc != SQLITE_OK) {
    return unexpected("sqlite: open " + path + ": " +
                      (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(db.get(), 1);
  // Another process (`gatehouse audit search`) may read while we write: wait
  // for its locks instead of failing a batch at once.
  sqlite3_busy_timeout(db.get(), 5'000);

  auto mode = query_text(db.get(), "PRAGMA journal_mode=WAL");
  if (!mode) return unexpected(mode.error());
  // WAL lets readers run beside the writer and makes group commit cheap; an
  // in-memory database (tests) reports "memory" and has no journal to speak of.
  if (*mode != "wal" && path != ":memory:") {
    return unexpected("sqlite: " + path + ": could not enable WAL (journal_mode is " + *mode + ")");
  }
  // In WAL, NORMAL syncs at checkpoints: a power loss may lose the last
  // commits but never corrupts the database — the same window async audit accepts.
  if (auto st = exec(db.get(), "PRAGMA synchronous=NORMAL", "synchronous"); !st) {
    return unexpected(st.error());
  }
  if (auto st = migrate(db.get()); !st) return unexpected(st.error());
  return SqliteStore::create(std::move(db));
}

}  // namespace gh::store
