#include "store/sqlite/sqlite_store.h"

#include <array>
#include <string>
#include <utility>

#include "store/sql/store.h"
#include "store/sqlite/sqlite_connection.h"

namespace gh::store {
namespace {

using sql::Migration;

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
    // The record stream: statements are chained as before but stored many to
    // a chunk (audit/stream.h), with a summary and search keys indexed instead
    // of every statement. Statement rows already here stay and are read beside
    // the chunks.
    Migration{11, R"sql(
CREATE TABLE audit_chunks (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  replica   TEXT NOT NULL,
  first_seq INTEGER NOT NULL,
  last_seq  INTEGER NOT NULL,
  records   INTEGER NOT NULL,
  min_at_us INTEGER NOT NULL,
  max_at_us INTEGER NOT NULL,
  hash      TEXT NOT NULL,
  format    INTEGER NOT NULL,
  body      BLOB NOT NULL,
  texts     BLOB NOT NULL,
  UNIQUE (replica, first_seq)
);
CREATE INDEX audit_chunks_last ON audit_chunks(replica, last_seq);
CREATE INDEX audit_chunks_at ON audit_chunks(max_at_us);
CREATE TABLE audit_chunk_keys (
  key      TEXT NOT NULL,
  chunk_id INTEGER NOT NULL,
  PRIMARY KEY (key, chunk_id)
) WITHOUT ROWID;
CREATE INDEX audit_chunk_keys_chunk ON audit_chunk_keys(chunk_id);
CREATE TRIGGER audit_chunks_append_only BEFORE UPDATE ON audit_chunks
BEGIN SELECT RAISE(ABORT, 'audit_chunks is append-only'); END;
)sql"},
};

// The schema version the chain tables arrived with.
constexpr int kChainSchemaVersion = 6;

}  // namespace

Expected<std::unique_ptr<audit::Store>> open_sqlite_store(const std::string& path,
                                                          StoreOptions options) {
  // In WAL, readers (`gatehouse audit search`) do not block the writer; what
  // does is another writer holding the database. Wait a little for it, not
  // long: the batch then goes to the spool, and the writer must stay free to
  // commit at least every flush interval.
  auto conn = open_sqlite_connection(path, SqliteMode::kWrite, 250);
  if (!conn) return unexpected(conn.error());
  // 16 KiB pages, for a new store (an existing one keeps the size it was made
  // with): a statement's records are appended to a handful of B-trees, and a
  // commit and a checkpoint write every page they touched. Larger pages take
  // fewer WAL frames, page writes and interior splits for the same records —
  // about a sixth less writer CPU per statement in bench_audit_write.
  if (auto st = (*conn)->exec("PRAGMA page_size=16384"); !st) return unexpected(st.error());
  auto mode = sql::query_text(**conn, "PRAGMA journal_mode=WAL");
  if (!mode) return unexpected(mode.error());
  // WAL lets readers run beside the writer and makes group commit cheap; an
  // in-memory database (tests) reports "memory" and has no journal to speak of.
  if (*mode != "wal" && path != ":memory:") {
    return unexpected("sqlite: " + path + ": could not enable WAL (journal_mode is " + *mode + ")");
  }
  // In WAL, NORMAL syncs at checkpoints: a power loss may lose the last
  // commits but never corrupts the database — the same window async audit
  // accepts. FULL syncs the WAL at every commit, which sync audit needs.
  if (auto st = (*conn)->exec(options.durable_commits ? "PRAGMA synchronous=FULL"
                                                      : "PRAGMA synchronous=NORMAL");
      !st) {
    return unexpected(st.error());
  }
  // A statement that fires a trigger (statement_tables) keeps a statement
  // journal for its own rollback; on disk that is a page write per insert.
  // In memory it costs a few pages of RAM per batch.
  if (auto st = (*conn)->exec("PRAGMA temp_store=MEMORY"); !st) return unexpected(st.error());
  return sql::open_store(std::move(*conn), kMigrations, std::move(options));
}

Expected<audit::VerifyReport> verify_sqlite_store(const std::string& path,
                                                  const audit::SignatureCheck& check) {
  auto conn = open_sqlite_connection(path, SqliteMode::kRead, 5'000);
  if (!conn) return unexpected(conn.error());
  return sql::verify_store(**conn, kChainSchemaVersion, check);
}

Expected<std::unique_ptr<audit::Reader>> open_sqlite_reader(const std::string& path) {
  auto conn = open_sqlite_connection(path, SqliteMode::kRead, 5'000);
  if (!conn) return unexpected(conn.error());
  return sql::make_reader(std::move(*conn));
}

}  // namespace gh::store
