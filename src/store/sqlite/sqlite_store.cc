#include "store/sqlite/sqlite_store.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "store/sqlite/sqlite_detail.h"

namespace gh::store {

namespace sqlite_detail {

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

Expected<std::string> query_text(sqlite3* db, const char* sql) {
  auto stmt = prepare(db, sql);
  if (!stmt) return unexpected(stmt.error());
  int rc = sqlite3_step(stmt->get());
  if (rc != SQLITE_ROW) return unexpected(db_error(db, sql));
  return column_text(stmt->get(), 0);
}

std::string column_text(sqlite3_stmt* s, int i) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return text ? std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(s, i)))
              : std::string();
}

std::optional<std::int64_t> column_int(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(s, i);
}

std::span<const TypedTable> typed_tables() {
  static constexpr std::array<TypedTable, 8> kTables{{
      {audit::RecordType::kSessionStart, "sessions", "chain_id"},
      {audit::RecordType::kSessionEnd, "sessions", "end_chain_id"},
      {audit::RecordType::kStatement, "statements", "chain_id"},
      {audit::RecordType::kConnectionRefused, "refused_connections", "chain_id"},
      {audit::RecordType::kPolicy, "policy_events", "chain_id"},
      {audit::RecordType::kApproval, "approval_events", "chain_id"},
      {audit::RecordType::kToken, "token_events", "chain_id"},
      {audit::RecordType::kStatementIntent, "statement_intents", "chain_id"},
  }};
  return kTables;
}

const TypedTable& typed_table(audit::RecordType type) {
  for (const auto& t : typed_tables())
    if (t.type == type) return t;
  std::abort();  // a retention purge is chain-only: no caller asks for its table
}

std::string column_list(const audit::RecordSpec& spec, std::string_view alias) {
  std::string out;
  for (const auto& f : spec.fields) {
    if (!out.empty()) out += ", ";
    if (!alias.empty()) out.append(alias).append(".");
    out += f.name;
  }
  return out;
}

void read_fields(sqlite3_stmt* s, int first, audit::Record& r) {
  const auto& spec = r.spec();
  for (std::size_t i = 0; i < spec.fields.size(); ++i) {
    const int col = first + static_cast<int>(i);
    const auto& field = spec.fields[i];
    audit::Value v;
    v.kind = field.kind;
    switch (sqlite3_column_type(s, col)) {
      case SQLITE_NULL:
        break;
      case SQLITE_INTEGER:
        v = {audit::FieldKind::kInt, false, sqlite3_column_int64(s, col), {}};
        break;
      default: {
        std::string text = column_text(s, col);
        const bool json = field.kind == audit::FieldKind::kJson && nlohmann::json::accept(text);
        v = {json ? audit::FieldKind::kJson : audit::FieldKind::kText, false, 0,
             r.own(std::move(text))};
      }
    }
    r.value(field.name, v);
  }
}

void bind_text(sqlite3_stmt* s, int i, std::string_view v) {
  // An empty view may have no data pointer: SQLite would take that for NULL.
  sqlite3_bind_text64(s, i, v.empty() ? "" : v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
}

void bind_fields(sqlite3_stmt* s, const audit::Record& r) {
  int i = 0;
  for (const auto& v : r.values()) {
    ++i;
    if (v.null)
      sqlite3_bind_null(s, i);
    else if (v.kind == audit::FieldKind::kInt)
      sqlite3_bind_int64(s, i, v.integer);
    else
      bind_text(s, i, v.text);
  }
}

}  // namespace sqlite_detail

namespace {

using namespace sqlite_detail;

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
    // The hash chain: every event is also a record of its replica's chain, and
    // each typed row names the record it came from (a session's end, which
    // updates the row its start inserted, by end_chain_id). Rows already here
    // predate the chain: audit_legacy keeps where they end.
    Migration{6, R"sql(
CREATE TABLE audit_chain (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  replica   TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  at_us     INTEGER,
  type      TEXT NOT NULL,
  canonical TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash      TEXT NOT NULL,
  UNIQUE (replica, seq)
);
CREATE TABLE audit_checkpoints (
  replica   TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  hash      TEXT NOT NULL,
  at_us     INTEGER NOT NULL,
  kid       TEXT NOT NULL,
  signature TEXT NOT NULL,
  PRIMARY KEY (replica, seq)
);
CREATE TRIGGER audit_chain_append_only BEFORE UPDATE ON audit_chain
BEGIN SELECT RAISE(ABORT, 'audit_chain is append-only'); END;
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;

CREATE TABLE audit_legacy (tbl TEXT PRIMARY KEY, max_rowid INTEGER NOT NULL);
INSERT INTO audit_legacy SELECT 'sessions', COALESCE(MAX(rowid), 0) FROM sessions;
INSERT INTO audit_legacy SELECT 'statements', COALESCE(MAX(rowid), 0) FROM statements;
INSERT INTO audit_legacy SELECT 'refused_connections', COALESCE(MAX(rowid), 0) FROM refused_connections;
INSERT INTO audit_legacy SELECT 'policy_events', COALESCE(MAX(rowid), 0) FROM policy_events;
INSERT INTO audit_legacy SELECT 'approval_events', COALESCE(MAX(rowid), 0) FROM approval_events;
INSERT INTO audit_legacy SELECT 'token_events', COALESCE(MAX(rowid), 0) FROM token_events;

ALTER TABLE sessions ADD COLUMN chain_id INTEGER;
ALTER TABLE sessions ADD COLUMN end_chain_id INTEGER;
ALTER TABLE statements ADD COLUMN chain_id INTEGER;
ALTER TABLE refused_connections ADD COLUMN chain_id INTEGER;
ALTER TABLE policy_events ADD COLUMN chain_id INTEGER;
ALTER TABLE approval_events ADD COLUMN chain_id INTEGER;
ALTER TABLE token_events ADD COLUMN chain_id INTEGER;
CREATE INDEX sessions_chain ON sessions(chain_id);
CREATE INDEX sessions_end_chain ON sessions(end_chain_id);
CREATE INDEX statements_chain ON statements(chain_id);
CREATE INDEX refused_connections_chain ON refused_connections(chain_id);
CREATE INDEX policy_events_chain ON policy_events(chain_id);
CREATE INDEX approval_events_chain ON approval_events(chain_id);
CREATE INDEX token_events_chain ON token_events(chain_id);
)sql"},
    // Search by table stays an index lookup as the store grows: each
    // statement's tables, kept beside it by triggers (a derived index, not a
    // record: the chain covers tables_json itself).
    Migration{7, R"sql(
CREATE TABLE statement_tables (
  table_name TEXT NOT NULL,
  at_us      INTEGER,
  stmt_rowid INTEGER NOT NULL
);
CREATE INDEX statement_tables_name ON statement_tables(table_name, at_us);
CREATE INDEX statement_tables_stmt ON statement_tables(stmt_rowid);
INSERT INTO statement_tables
  SELECT DISTINCT j.value, s.at_us, s.rowid FROM statements s, json_each(s.tables_json) j
  WHERE json_valid(s.tables_json);
CREATE TRIGGER statement_tables_insert AFTER INSERT ON statements
  WHEN json_valid(NEW.tables_json)
BEGIN
  INSERT INTO statement_tables SELECT DISTINCT value, NEW.at_us, NEW.rowid FROM json_each(NEW.tables_json);
END;
CREATE TRIGGER statement_tables_delete AFTER DELETE ON statements
BEGIN
  DELETE FROM statement_tables WHERE stmt_rowid = OLD.rowid;
END;
)sql"},
    // The writer fills statement_tables itself, from the tables it already
    // holds: the insert trigger parsed tables_json again for every statement
    // and made each INSERT keep a statement journal. Deletes (retention) stay
    // with their trigger.
    Migration{8, R"sql(
DROP TRIGGER statement_tables_insert;
)sql"},
    // audit_durability: sync — what the gateway forwarded, written before the
    // server saw it (the outcome follows in statements).
    Migration{9, R"sql(
CREATE TABLE statement_intents (
  session_id     TEXT NOT NULL,
  seq            INTEGER NOT NULL,
  at_us          INTEGER,
  text           TEXT,
  protocol_path  TEXT,
  kind           TEXT,
  class          TEXT,
  tables_json    TEXT,
  decision       TEXT,
  rule           TEXT,
  policy_version INTEGER,
  chain_id       INTEGER,
  PRIMARY KEY (session_id, seq)
);
CREATE INDEX statement_intents_chain ON statement_intents(chain_id);
)sql"},
    // Extended protocol: the parameters a statement ran with, masked.
    Migration{10, R"sql(
ALTER TABLE statements ADD COLUMN params_json TEXT;
)sql"},
};

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

std::int64_t unix_us(SysTime t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

// The typed row's INSERT: the record's fields, then the chain reference. A
// session's end is an upsert rather than a bare UPDATE: should the start ever
// be missing, the end of the session is still kept instead of matching no row.
std::string insert_sql(const TypedTable& t) {
  const auto& spec = audit::spec(t.type);
  std::string sql =
      std::string("INSERT INTO ") + t.table + "(" + column_list(spec) + ", " + t.ref + ") VALUES (";
  for (std::size_t i = 0; i <= spec.fields.size(); ++i) sql += i ? ",?" : "?";
  sql += ")";
  if (t.type == audit::RecordType::kSessionEnd) {
    sql += " ON CONFLICT(id) DO UPDATE SET ";
    for (const auto& f : spec.fields) {
      if (f.name == "id") continue;
      sql += std::string(f.name) + " = excluded." + std::string(f.name) + ", ";
    }
    sql += std::string(t.ref) + " = excluded." + t.ref;
  }
  return sql;
}

// How many chain records one retention pass removes per replica at most
// (then it stops at a checkpoint and the next pass goes on), so that a
// first purge of a large store does not hold the writer for long.
constexpr std::int64_t kPurgeStep = 50'000;

class SqliteStore final : public audit::Store {
 public:
  static Expected<std::unique_ptr<audit::Store>> create(Db db, SqliteStoreOptions options) {
    std::unique_ptr<SqliteStore> store(new SqliteStore(std::move(db), std::move(options)));
    sqlite3* h = store->db_.get();
    struct {
      Stmt* slot;
      std::string sql;
    } statements[] = {
        {&store->begin_, "BEGIN IMMEDIATE"},
        {&store->commit_, "COMMIT"},
        {&store->rollback_, "ROLLBACK"},
        {&store->insert_chain_,
         "INSERT INTO audit_chain(replica, seq, at_us, type, canonical, prev_hash, hash) "
         "VALUES (?,?,?,?,?,?,?)"},
        {&store->insert_checkpoint_,
         "INSERT INTO audit_checkpoints(replica, seq, hash, at_us, kid, signature) "
         "VALUES (?,?,?,?,?,?)"},
        {&store->insert_statement_table_,
         "INSERT INTO statement_tables(table_name, at_us, stmt_rowid) VALUES (?,?,?)"},
    };
    for (auto& s : statements) {
      auto stmt = prepare(h, s.sql);
      if (!stmt) return unexpected(stmt.error());
      *s.slot = std::move(*stmt);
    }
    for (const auto& t : typed_tables()) {
      auto stmt = prepare(h, insert_sql(t));
      if (!stmt) return unexpected(stmt.error());
      store->insert_typed_[static_cast<std::size_t>(t.type)] = std::move(*stmt);
    }
    if (auto st = store->load_head(); !st) return unexpected(st.error());
    return std::unique_ptr<audit::Store>(std::move(store));
  }

  ~SqliteStore() override {
    // Statements must go before the connection they belong to.
    begin_.reset();
    commit_.reset();
    rollback_.reset();
    insert_chain_.reset();
    insert_checkpoint_.reset();
    insert_statement_table_.reset();
    for (auto& s : insert_typed_) s.reset();
  }

  Status<> write_batch(std::span<const model::AuditEvent> events) override {
    if (events.empty()) return Ok{};
    return in_transaction([&](Head& head) -> Status<> {
      for (const auto& event : events) {
        if (auto st = append_event(event, head); !st) return st;
        if (checkpoint_due(head)) {
          if (auto st = checkpoint(head); !st) return st;
        }
      }
      return Ok{};
    });
  }

  Status<> maintain() override {
    if (checkpoint_due(head_)) {
      if (auto st = in_transaction([&](Head& head) { return checkpoint(head); }); !st) return st;
    }
    const SysTime now = clock_.now();
    if (options_.chain.retention.count() > 0 && now >= next_purge_) {
      auto more = purge(now);
      if (!more) {
        next_purge_ = now + options_.chain.retention_interval;
        return unexpected(more.error());
      }
      // A pass that stopped at its step goes on at the next call.
      next_purge_ = *more ? now : now + options_.chain.retention_interval;
    }
    return Ok{};
  }

  Status<> close() override {
    if (!options_.chain.sign || head_.seq <= head_.signed_seq) return Ok{};
    head_.retry_after.reset();
    return in_transaction([&](Head& head) { return checkpoint(head); });
  }

 private:
  // Where this replica's chain ends, committed; a transaction works on a copy
  // and the copy replaces it only once COMMIT succeeded.
  struct Head {
    std::int64_t seq = 0;
    std::string hash{audit::kGenesisHash};
    std::int64_t signed_seq = 0;            // the newest checkpoint
    std::string signed_hash;                // … and the hash it signed
    std::optional<SysTime> unsigned_since;  // when the first record after it was written
    std::optional<SysTime> retry_after;     // signing failed: not again before this
  };

  SqliteStore(Db db, SqliteStoreOptions options)
      : db_(std::move(db)),
        options_(std::move(options)),
        clock_(options_.clock ? *options_.clock : SystemClock::instance()),
        next_purge_(clock_.now()) {}

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

  // BEGIN IMMEDIATE … COMMIT around `body`; any failure rolls everything back
  // and leaves the chain head as it was.
  template <class Body>
  Status<> in_transaction(Body&& body) {
    Head head = head_;
    if (auto st = run(begin_.get(), "begin"); !st) return st;
    if (auto st = body(head); !st) {
      rollback();
      return st;
    }
    if (auto st = run(commit_.get(), "commit"); !st) {
      rollback();
      return st;
    }
    const bool signed_now = head.signed_seq != head_.signed_seq;
    head_ = std::move(head);
    // Also in the log: a witness of the chain kept outside the store.
    if (signed_now)
      spdlog::info("audit checkpoint: replica {} seq {} hash {}", options_.replica,
                   head_.signed_seq, head_.signed_hash);
    return Ok{};
  }

  // Query helpers for the few statements run outside the hot path.
  Expected<Stmt> query(std::string_view sql) { return prepare(db_.get(), sql); }

  Status<> load_head() {
    auto last =
        query("SELECT seq, hash FROM audit_chain WHERE replica = ? ORDER BY seq DESC LIMIT 1");
    auto cp = query(
        "SELECT seq, hash FROM audit_checkpoints WHERE replica = ? ORDER BY seq DESC LIMIT 1");
    if (!last) return unexpected(last.error());
    if (!cp) return unexpected(cp.error());
    for (auto* s : {last->get(), cp->get()}) bind_text(s, 1, options_.replica);
    if (sqlite3_step(cp->get()) == SQLITE_ROW) {
      head_.signed_seq = sqlite3_column_int64(cp->get(), 0);
      head_.signed_hash = column_text(cp->get(), 1);
      // A chain retention emptied goes on from its anchor.
      head_.seq = head_.signed_seq;
      head_.hash = head_.signed_hash;
    }
    if (sqlite3_step(last->get()) == SQLITE_ROW) {
      head_.seq = sqlite3_column_int64(last->get(), 0);
      head_.hash = column_text(last->get(), 1);
    }
    if (audit::chain_hash(head_.hash, "").empty()) {
      // Continuing from it is impossible; linking from zero instead keeps the
      // gateway recording, and verify reports the break here.
      spdlog::error(
          "audit chain of {}: the hash at seq {} is malformed; run gatehouse audit verify",
          options_.replica, head_.seq);
      head_.hash = audit::kGenesisHash;
    }
    // Records a crash left unsigned get their checkpoint within the interval.
    if (head_.seq > head_.signed_seq) head_.unsigned_since = clock_.now();
    return Ok{};
  }

  // Appends `r` to the chain; its audit_chain.id in *id.
  Status<> append(const audit::Record& r, Head& head, std::int64_t* id) {
    const std::string canonical = r.canonical();
    std::string hash = audit::chain_hash(head.hash, canonical);
    const std::string_view type = r.spec().name;
    sqlite3_stmt* s = insert_chain_.get();
    bind_text(s, 1, options_.replica);
    sqlite3_bind_int64(s, 2, head.seq + 1);
    sqlite3_bind_int64(s, 3, r.at_us());
    bind_text(s, 4, type);
    bind_text(s, 5, canonical);
    bind_text(s, 6, head.hash);
    bind_text(s, 7, hash);
    if (auto st = run(s, "append to audit_chain"); !st) return st;
    *id = sqlite3_last_insert_rowid(db_.get());
    head.seq += 1;
    head.hash = std::move(hash);
    if (!head.unsigned_since) head.unsigned_since = clock_.now();
    return Ok{};
  }

  // The chain record, then the typed row naming it.
  Status<> append_event(const model::AuditEvent& event, Head& head) {
    const audit::Record r = audit::to_record(event);
    std::int64_t id = 0;
    if (auto st = append(r, head, &id); !st) return st;
    const auto& table = typed_table(r.spec().type);
    sqlite3_stmt* s = insert_typed_[static_cast<std::size_t>(table.type)].get();
    bind_fields(s, r);
    sqlite3_bind_int64(s, static_cast<int>(r.values().size()) + 1, id);
    if (auto st = run(s, std::string("insert into ") + table.table); !st) return st;
    if (const auto* stmt = std::get_if<model::StatementEvent>(&event))
      return index_tables(*stmt, sqlite3_last_insert_rowid(db_.get()));
    return Ok{};
  }

  // statement_tables: each table the statement touched, once.
  Status<> index_tables(const model::StatementEvent& e, std::int64_t rowid) {
    const auto& tables = e.decision.tables;
    for (std::size_t i = 0; i < tables.size(); ++i) {
      if (std::find(tables.begin(), tables.begin() + static_cast<std::ptrdiff_t>(i), tables[i]) !=
          tables.begin() + static_cast<std::ptrdiff_t>(i))
        continue;
      sqlite3_stmt* s = insert_statement_table_.get();
      bind_text(s, 1, tables[i]);
      sqlite3_bind_int64(s, 2, e.at_us);
      sqlite3_bind_int64(s, 3, rowid);
      if (auto st = run(s, "insert into statement_tables"); !st) return st;
    }
    return Ok{};
  }

  bool checkpoint_due(const Head& head) const {
    if (!options_.chain.sign || head.seq <= head.signed_seq) return false;
    const SysTime now = clock_.now();
    if (head.retry_after && now < *head.retry_after) return false;
    return head.seq - head.signed_seq >= options_.chain.checkpoint_every ||
           (head.unsigned_since &&
            now - *head.unsigned_since >= options_.chain.checkpoint_interval);
  }

  // Signs the head and stores the checkpoint. A signer that fails does not
  // fail the batch (the records are kept, unsigned, and signing is tried again
  // after checkpoint_interval); a checkpoint the database refuses does.
  Status<> checkpoint(Head& head) {
    if (!options_.chain.sign || head.seq <= head.signed_seq) return Ok{};
    const SysTime now = clock_.now();
    const std::int64_t at_us = unix_us(now);
    auto sig = options_.chain.sign(
        audit::checkpoint_message(options_.replica, head.seq, head.hash, at_us));
    if (!sig) {
      spdlog::error("audit checkpoint of {} at seq {} not signed: {}", options_.replica, head.seq,
                    sig.error());
      head.retry_after = now + options_.chain.checkpoint_interval;
      return Ok{};
    }
    sqlite3_stmt* s = insert_checkpoint_.get();
    bind_text(s, 1, options_.replica);
    sqlite3_bind_int64(s, 2, head.seq);
    bind_text(s, 3, head.hash);
    sqlite3_bind_int64(s, 4, at_us);
    bind_text(s, 5, sig->kid);
    bind_text(s, 6, sig->signature);
    if (auto st = run(s, "insert checkpoint"); !st) return st;
    head.signed_seq = head.seq;
    head.signed_hash = head.hash;
    head.unsigned_since.reset();
    head.retry_after.reset();
    return Ok{};
  }

  // Runs `sql` with the text and integer values bound in order; the number of rows it changed.
  Expected<std::int64_t> change(
      const std::string& sql, std::initializer_list<std::variant<std::string, std::int64_t>> args) {
    auto s = query(sql);
    if (!s) return unexpected(s.error());
    int i = 0;
    for (const auto& a : args) {
      ++i;
      if (const auto* t = std::get_if<std::string>(&a))
        bind_text(s->get(), i, *t);
      else
        sqlite3_bind_int64(s->get(), i, std::get<std::int64_t>(a));
    }
    if (sqlite3_step(s->get()) != SQLITE_DONE) return unexpected(db_error(db_.get(), sql));
    return static_cast<std::int64_t>(sqlite3_changes(db_.get()));
  }

  struct PurgeTarget {
    std::string replica;
    std::int64_t through = 0;  // a checkpoint's seq: records up to it go
  };

  // Per replica, the newest checkpoint older than the cutoff — bounded by
  // kPurgeStep — beyond what was purged already. *more when a bound applied.
  Expected<std::vector<PurgeTarget>> purge_targets(std::int64_t cutoff_us, bool* more) {
    auto s = query(
        "SELECT cp.replica, MAX(cp.seq), (SELECT MIN(seq) FROM audit_chain c "
        "WHERE c.replica = cp.replica) FROM audit_checkpoints cp WHERE cp.at_us < ? "
        "GROUP BY cp.replica");
    auto step =
        query("SELECT MIN(seq) FROM audit_checkpoints WHERE replica = ? AND seq >= ? AND seq < ?");
    if (!s) return unexpected(s.error());
    if (!step) return unexpected(step.error());
    sqlite3_bind_int64(s->get(), 1, cutoff_us);
    std::vector<PurgeTarget> out;
    int rc;
    while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
      PurgeTarget t{column_text(s->get(), 0), sqlite3_column_int64(s->get(), 1)};
      const auto first = column_int(s->get(), 2);
      if (!first || *first > t.through) continue;  // nothing old left in this chain
      sqlite3_reset(step->get());
      bind_text(step->get(), 1, t.replica);
      sqlite3_bind_int64(step->get(), 2, *first + kPurgeStep - 1);
      sqlite3_bind_int64(step->get(), 3, t.through);
      if (sqlite3_step(step->get()) == SQLITE_ROW) {
        if (auto bounded = column_int(step->get(), 0)) {
          t.through = *bounded;
          *more = true;
        }
      }
      out.push_back(std::move(t));
    }
    if (rc != SQLITE_DONE) return unexpected(db_error(db_.get(), "retention targets"));
    return out;
  }

  // Sessions whose start is purged but which end later (or have not ended):
  // the row stays and its start is chained again, after checking it still
  // matches the record being purged.
  Status<> carry_sessions(const PurgeTarget& t, Head& head, std::int64_t* carried) {
    const auto& spec = audit::spec(audit::RecordType::kSessionStart);
    auto s = query("SELECT " + column_list(spec, "s") +
                   ", s.rowid, c.canonical FROM sessions s JOIN audit_chain c ON c.id = s.chain_id "
                   "WHERE c.replica = ?1 AND c.seq <= ?2 AND (s.end_chain_id IS NULL OR "
                   "s.end_chain_id NOT IN (SELECT id FROM audit_chain WHERE replica = ?1 AND "
                   "seq <= ?2))");
    if (!s) return unexpected(s.error());
    bind_text(s->get(), 1, t.replica);
    sqlite3_bind_int64(s->get(), 2, t.through);
    const int n = static_cast<int>(spec.fields.size());
    std::vector<std::pair<audit::Record, std::int64_t>> keep;
    int rc;
    while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
      audit::Record r(audit::RecordType::kSessionStart);
      read_fields(s->get(), 0, r);
      if (r.canonical() != column_text(s->get(), n + 1)) {
        spdlog::error(
            "audit retention: sessions row {} differs from its chained record and is not "
            "carried over; run gatehouse audit verify",
            r.key());
        continue;
      }
      keep.emplace_back(std::move(r), sqlite3_column_int64(s->get(), n));
    }
    if (rc != SQLITE_DONE) return unexpected(db_error(db_.get(), "sessions to carry"));
    for (const auto& [r, rowid] : keep) {
      std::int64_t id = 0;
      if (auto st = append(r, head, &id); !st) return st;
      auto moved = change("UPDATE sessions SET chain_id = ? WHERE rowid = ?", {id, rowid});
      if (!moved) return unexpected(moved.error());
    }
    *carried += static_cast<std::int64_t>(keep.size());
    return Ok{};
  }

  // One retention pass: removes, per replica, the records up to the newest
  // checkpoint older than the cutoff and the typed rows chained as them
  // (keeping that checkpoint as the chain's new anchor), rows older than the
  // cutoff that predate the chain, and records the purge in the chain.
  // True when more is left for another pass.
  Expected<bool> purge(SysTime now) {
    const std::int64_t now_us = unix_us(now);
    const std::int64_t cutoff_us =
        now_us -
        std::chrono::duration_cast<std::chrono::microseconds>(options_.chain.retention).count();
    bool more = false;
    std::map<std::string, std::int64_t> deleted;
    auto st = in_transaction([&](Head& head) -> Status<> {
      auto targets = purge_targets(cutoff_us, &more);
      if (!targets) return unexpected(targets.error());
      std::int64_t carried = 0;
      const std::string purged = "(SELECT id FROM audit_chain WHERE replica = ? AND seq <= ?)";
      for (const auto& t : *targets) {
        if (auto c = carry_sessions(t, head, &carried); !c) return c;
        std::vector<std::pair<std::string, std::string>> steps{
            {"sessions", "DELETE FROM sessions WHERE end_chain_id IN " + purged +
                             " AND (chain_id IS NULL OR chain_id IN " + purged + ")"}};
        for (const auto& table : typed_tables()) {
          if (std::string_view(table.table) == "sessions") continue;
          steps.emplace_back(table.table, std::string("DELETE FROM ") + table.table + " WHERE " +
                                              table.ref + " IN " + purged);
        }
        steps.emplace_back("audit_chain", "DELETE FROM audit_chain WHERE replica = ? AND seq <= ?");
        steps.emplace_back("audit_checkpoints",
                           "DELETE FROM audit_checkpoints WHERE replica = ? AND seq < ?");
        for (const auto& [table, sql] : steps) {
          auto n = table == "sessions" ? change(sql, {t.replica, t.through, t.replica, t.through})
                                       : change(sql, {t.replica, t.through});
          if (!n) return unexpected(n.error());
          deleted[table] += *n;
        }
      }
      // Rows from before the chain existed go by their own time.
      const std::pair<const char*, const char*> legacy[] = {
          {"sessions",
           "DELETE FROM sessions WHERE chain_id IS NULL AND end_chain_id IS NULL AND "
           "COALESCE(ended_at_us, started_at_us) < ?"},
          {"statements", "DELETE FROM statements WHERE chain_id IS NULL AND at_us < ?"},
          {"refused_connections",
           "DELETE FROM refused_connections WHERE chain_id IS NULL AND at_us < ?"},
          {"policy_events", "DELETE FROM policy_events WHERE chain_id IS NULL AND at_us < ?"},
          {"approval_events", "DELETE FROM approval_events WHERE chain_id IS NULL AND at_us < ?"},
          {"token_events", "DELETE FROM token_events WHERE chain_id IS NULL AND at_us < ?"},
      };
      for (const auto& [table, sql] : legacy) {
        auto n = change(sql, {cutoff_us});
        if (!n) return unexpected(n.error());
        deleted[table] += *n;
      }
      std::erase_if(deleted, [](const auto& kv) { return kv.second == 0; });
      if (deleted.empty() && carried == 0) return Ok{};
      auto anchors = chain_anchors();
      if (!anchors) return unexpected(anchors.error());
      audit::Record r(audit::RecordType::kRetention);
      r.integer("at_us", now_us)
          .integer("cutoff_us", cutoff_us)
          .json("anchors", std::move(*anchors))
          .json("deleted", audit::canonical_counts(deleted))
          .integer("carried", carried);
      std::int64_t id = 0;
      return append(r, head, &id);
    });
    if (!st) return unexpected(st.error());
    if (!deleted.empty()) {
      std::string what;
      for (const auto& [table, n] : deleted)
        what += (what.empty() ? "" : ", ") + table + " " + std::to_string(n);
      spdlog::info("audit retention: purged records older than {} s ({})",
                   options_.chain.retention.count(), what);
    }
    return more;
  }

  // {"<replica>":{"hash":"…","seq":n},…}: the checkpoint each chain now starts
  // after, for chains whose first records are gone.
  Expected<std::string> chain_anchors() {
    auto s = query(
        "SELECT r.replica, COALESCE((SELECT MIN(seq) - 1 FROM audit_chain c "
        "WHERE c.replica = r.replica), (SELECT MAX(seq) FROM audit_checkpoints k "
        "WHERE k.replica = r.replica)) AS anchor, "
        "(SELECT hash FROM audit_checkpoints k WHERE k.replica = r.replica AND k.seq = "
        "COALESCE((SELECT MIN(seq) - 1 FROM audit_chain c WHERE c.replica = r.replica), "
        "(SELECT MAX(seq) FROM audit_checkpoints k2 WHERE k2.replica = r.replica))) "
        "FROM (SELECT replica FROM audit_chain UNION SELECT replica FROM audit_checkpoints) r "
        "ORDER BY r.replica");
    if (!s) return unexpected(s.error());
    std::string out = "{";
    int rc;
    while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
      const auto anchor = column_int(s->get(), 1);
      if (!anchor || *anchor < 1) continue;
      if (out.size() > 1) out += ',';
      out += audit::canonical_string(column_text(s->get(), 0)) + R"(:{"hash":)" +
             audit::canonical_string(column_text(s->get(), 2)) + R"(,"seq":)" +
             std::to_string(*anchor) + "}";
    }
    if (rc != SQLITE_DONE) return unexpected(db_error(db_.get(), "chain anchors"));
    return out + "}";
  }

  Db db_;
  SqliteStoreOptions options_;
  const Clock& clock_;
  Head head_;
  SysTime next_purge_;
  Stmt begin_, commit_, rollback_, insert_chain_, insert_checkpoint_, insert_statement_table_;
  std::array<Stmt, 8> insert_typed_;  // by RecordType, the retention purge aside
};

}  // namespace

Expected<std::unique_ptr<audit::Store>> open_sqlite_store(const std::string& path,
                                                          SqliteStoreOptions options) {
  sqlite3* raw = nullptr;
  // One thread at a time uses the connection (opened here, then only the
  // recorder's writer): SQLite's own per-call mutex would be pure cost.
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  Db db(raw);  // closed on every path below, including a failed open
  if (rc != SQLITE_OK) {
    return unexpected("sqlite: open " + path + ": " +
                      (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(db.get(), 1);
  // In WAL, readers (`gatehouse audit search`) do not block the writer; what
  // does is another writer holding the database. Wait a little for it, not
  // long: the batch then goes to the spool, and the writer must stay free to
  // commit at least every flush interval.
  sqlite3_busy_timeout(db.get(), 250);

  auto mode = query_text(db.get(), "PRAGMA journal_mode=WAL");
  if (!mode) return unexpected(mode.error());
  // WAL lets readers run beside the writer and makes group commit cheap; an
  // in-memory database (tests) reports "memory" and has no journal to speak of.
  if (*mode != "wal" && path != ":memory:") {
    return unexpected("sqlite: " + path + ": could not enable WAL (journal_mode is " + *mode + ")");
  }
  // In WAL, NORMAL syncs at checkpoints: a power loss may lose the last
  // commits but never corrupts the database — the same window async audit
  // accepts. FULL syncs the WAL at every commit, which sync audit needs.
  if (auto st =
          exec(db.get(),
               options.durable_commits ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
               "synchronous");
      !st) {
    return unexpected(st.error());
  }
  // A statement that fires a trigger (statement_tables) keeps a statement
  // journal for its own rollback; on disk that is a page write per insert.
  // In memory it costs a few pages of RAM per batch.
  if (auto st = exec(db.get(), "PRAGMA temp_store=MEMORY", "temp_store"); !st) {
    return unexpected(st.error());
  }
  if (auto st = migrate(db.get()); !st) return unexpected(st.error());
  return SqliteStore::create(std::move(db), std::move(options));
}

}  // namespace gh::store
