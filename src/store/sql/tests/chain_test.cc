// The hash chain over each relational store — a SQLite file, and a database
// of a real PostgreSQL 15 — run as the same tests on both: a clean trail
// verifies; each kind of tampering done by hand with SQL (what someone with
// the sqlite3 CLI or psql can do) is reported with where it is; a restart
// continues the chain; checkpoints come by count, by time and at close;
// retention purges to a checkpoint and leaves a chain that still verifies.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <unistd.h>
#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/chain.h"
#include "audit/stream.h"
#include "base/bytes.h"
#include "store/postgres/pg_store.h"
#include "store/sql/tests/pg_server.h"
#include "store/sqlite/sqlite_store.h"

namespace gh::store {
namespace {

namespace fs = std::filesystem;
using audit::Problem;

// A stand-in for the gateway's Ed25519 key: a keyed digest the test can check.
audit::CheckpointSignature fake_sign(std::string_view message) {
  return {"test-key", audit::chain_hash(audit::kGenesisHash, "test-key|" + std::string(message))};
}

std::string fake_check(std::string_view kid, std::string_view signature, std::string_view message) {
  if (kid != "test-key") return "unknown key " + std::string(kid);
  return signature == fake_sign(message).signature ? "" : "signature mismatch";
}

// The parameter names the store: "sqlite" (a file in a fresh directory) or
// "postgres" (a fresh database of the suite's cluster).
class ChainTest : public ::testing::TestWithParam<std::string> {
 protected:
  static pgtest::PgServer& server() {
    static pgtest::PgServer s;
    return s;
  }
  static void TearDownTestSuite() { server().stop(); }

  bool postgres() const { return GetParam() == "postgres"; }

  void SetUp() override {
    if (postgres()) {
      server().start();
      database_ = server().create_database();
      url_ = server().url(database_);
      client_ = std::make_unique<pgtest::PgClient>(url_);
      return;
    }
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("gh-chain-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(dir_);
    path_ = (dir_ / "audit.db").string();
  }
  void TearDown() override {
    client_.reset();
    if (postgres()) return;
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  StoreOptions options() {
    StoreOptions o;
    o.replica = "gw-1";
    o.clock = &clock_;
    o.chain.sign = [this](std::string_view m) -> Expected<audit::CheckpointSignature> {
      ++signatures_;
      return fake_sign(m);
    };
    return o;
  }

  std::unique_ptr<audit::Store> open(StoreOptions o) {
    auto store = postgres() ? open_postgres_store(url_, std::move(o))
                            : open_sqlite_store(path_, std::move(o));
    EXPECT_TRUE(store.has_value()) << (store ? "" : store.error());
    return store ? std::move(*store) : nullptr;
  }

  // Runs `sql` on a connection of its own, as someone with the sqlite3 CLI
  // or psql would; "" or the error.
  std::string try_tamper(const std::string& sql) {
    if (postgres()) return client_->exec(sql);
    sqlite3* db = nullptr;
    if (sqlite3_open(path_.c_str(), &db) != SQLITE_OK) {
      sqlite3_close(db);
      return "cannot open " + path_;
    }
    char* err = nullptr;
    std::string error;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK)
      error = err ? err : "failed";
    sqlite3_free(err);
    sqlite3_close(db);
    return error;
  }

  void tamper(const std::string& sql) {
    const std::string error = try_tamper(sql);
    EXPECT_EQ(error, "") << sql;
  }

  // What removes a trigger that keeps `table` append-only, in this store's SQL.
  std::string drop_trigger(const std::string& trigger, const std::string& table) const {
    return postgres() ? "DROP TRIGGER " + trigger + " ON " + table + ";"
                      : "DROP TRIGGER " + trigger + ";";
  }

  // The first column of every row ("NULL" for NULL).
  std::vector<std::string> column(const std::string& sql) {
    if (postgres()) return client_->column(sql);
    std::vector<std::string> out;
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK)
        << sql << ": " << sqlite3_errmsg(db);
    while (s && sqlite3_step(s) == SQLITE_ROW) {
      const auto* t = sqlite3_column_text(s, 0);
      out.push_back(t ? std::string(reinterpret_cast<const char*>(t),
                                    static_cast<std::size_t>(sqlite3_column_bytes(s, 0)))
                      : "NULL");
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
  }

  std::string scalar(const std::string& sql) {
    auto rows = column(sql);
    return rows.empty() ? "<none>" : rows[0];
  }

  // "1,2,3": the seq column of `from` ("table [WHERE …]"), in order.
  std::string seqs(const std::string& from) {
    return scalar(postgres() ? "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM " + from
                             : "SELECT group_concat(seq) FROM (SELECT seq FROM " + from +
                                   " ORDER BY seq)");
  }

  // A column that holds any bytes, as stored: PostgreSQL's store keeps such
  // values as its mark and their hex (pg_connection.cc).
  static std::string stored_bytes(const std::string& v) {
    if (v.starts_with("\x01hex:")) return from_hex(v.substr(5)).value_or(v);
    return v;
  }
  // `bytes` as an SQL literal of this store.
  std::string bytes_literal(const std::string& bytes) const {
    const std::string h = hex(as_bytes(bytes));
    return postgres() ? "chr(1) || 'hex:" + h + "'" : "x'" + h + "'";
  }

  struct StoredChunk {
    std::int64_t id = 0;
    std::vector<audit::ChunkRecord> records;
    std::vector<std::string> texts;
  };
  // Every chunk of the record stream, decoded, in chain order.
  std::vector<StoredChunk> chunks() {
    std::vector<StoredChunk> out;
    for (const auto& id : column("SELECT id FROM audit_chunks ORDER BY first_seq")) {
      StoredChunk c;
      c.id = std::stoll(id);
      auto records = audit::decode_chunk(
          stored_bytes(scalar("SELECT body FROM audit_chunks WHERE id = " + id)));
      auto texts = audit::decode_texts(
          stored_bytes(scalar("SELECT texts FROM audit_chunks WHERE id = " + id)));
      EXPECT_TRUE(records && texts);
      if (records) c.records = std::move(*records);
      if (texts) c.texts = std::move(*texts);
      out.push_back(std::move(c));
    }
    return out;
  }
  // "1,2,3": the seqs of the chain's rows and of the stream's records together.
  std::string all_seqs() {
    std::vector<std::int64_t> seqs;
    for (const auto& v : column("SELECT seq FROM audit_chain")) seqs.push_back(std::stoll(v));
    for (const auto& c : chunks())
      for (const auto& r : c.records) seqs.push_back(r.seq);
    std::sort(seqs.begin(), seqs.end());
    std::string out;
    for (auto v : seqs) out += (out.empty() ? "" : ",") + std::to_string(v);
    return out;
  }
  // "2,3": the seq (within its session) of each streamed statement of `session`.
  std::string statement_seqs(const std::string& session) {
    std::string out;
    for (const auto& c : chunks())
      for (const auto& r : c.records) {
        const auto j = nlohmann::json::parse(r.canonical);
        if (j.value("session_id", "") == session)
          out += (out.empty() ? "" : ",") + std::to_string(j["seq"].get<std::int64_t>());
      }
    return out;
  }
  // Writes `c` back over its row, past the append-only trigger, as someone
  // with the database's own tools could; `summary`: the summary columns made
  // to match too (the careful forger).
  void rewrite(const StoredChunk& c, bool summary = false) {
    audit::ChunkBuilder b;
    for (std::size_t i = 0; i < c.records.size(); ++i) {
      const auto j = nlohmann::json::parse(c.records[i].canonical);
      b.add(c.records[i].seq, j.value("at_us", std::int64_t{0}), c.records[i].hash,
            c.records[i].canonical, i < c.texts.size() ? c.texts[i] : "");
    }
    const audit::Chunk out = b.finish();
    std::string sql = drop_trigger("audit_chunks_append_only", "audit_chunks") +
                      "UPDATE audit_chunks SET body = " + bytes_literal(out.body) +
                      ", texts = " + bytes_literal(out.texts);
    if (summary)
      sql += ", first_seq = " + std::to_string(out.first_seq) +
             ", last_seq = " + std::to_string(out.last_seq) +
             ", records = " + std::to_string(out.records) +
             ", min_at_us = " + std::to_string(out.min_at_us) +
             ", max_at_us = " + std::to_string(out.max_at_us) + ", hash = '" + out.last_hash + "'";
    tamper(sql + " WHERE id = " + std::to_string(c.id));
  }

  audit::VerifyReport verify() {
    auto r = postgres() ? verify_postgres_store(url_, fake_check)
                        : verify_sqlite_store(path_, fake_check);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error());
    return r ? std::move(*r) : audit::VerifyReport{};
  }

  std::int64_t now_us() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(clock_.now().time_since_epoch())
        .count();
  }

  // One event of every kind the gateway records, for session `sid`.
  std::vector<model::AuditEvent> trail(const std::string& sid, int statements = 3,
                                       bool end = true) {
    const std::int64_t t = now_us();
    std::vector<model::AuditEvent> out;
    model::SessionStart s;
    s.session_id = sid;
    s.at_us = t;
    s.replica = "gw-1";
    s.subject = "agent-7";
    s.groups = {"ai-agents", "readers"};
    s.token_hash = "ab12";
    s.tls = true;
    s.connection = "traces";
    out.push_back(s);
    for (int i = 1; i <= statements; ++i) {
      model::StatementEvent e;
      e.session_id = sid;
      e.seq = i;
      e.at_us = t + i;
      e.text = "SELECT " + std::to_string(i);
      e.outcome = "ok";
      e.rows = 1;
      e.decision.kind = "select";
      e.decision.cls = "read";
      e.decision.tables = {"public.t"};
      e.decision.decision = "allow";
      e.decision.rule = "agents-read";
      e.masked = {{"pii", 2}};
      e.result = R"({"columns":["?column?"],"rows":[["1"]],"truncated":false})";
      out.push_back(e);
    }
    if (end) {
      model::SessionEnd x;
      x.session_id = sid;
      x.at_us = t + 100;
      x.reason = "client closed";
      x.statements = statements;
      out.push_back(x);
    }
    return out;
  }

  std::vector<model::AuditEvent> other_events() {
    const std::int64_t t = now_us();
    model::ConnectionRefused r;
    r.at_us = t;
    r.replica = "gw-1";
    r.client_addr = "10.0.0.9:5000";
    r.reason = "bad token";
    model::PolicyEvent p;
    p.at_us = t;
    p.replica = "gw-1";
    p.version = 2;
    p.action = "reload";
    p.outcome = "applied";
    model::ApprovalEvent a;
    a.at_us = t;
    a.replica = "gw-1";
    a.request_id = "r-1";
    a.event = "created";
    model::TokenEvent k;
    k.at_us = t;
    k.replica = "gw-1";
    k.action = "issued";
    k.subject = "ci";
    k.groups = {"ci"};
    k.token_hash = "cd34";
    return {r, p, a, k};
  }

  // The standard trail: a session with three statements and one of every
  // other kind of event (9 records), sealed by close()'s checkpoint.
  void write_trail() {
    auto store = open(options());
    ASSERT_TRUE(store);
    auto events = trail("s1");
    for (auto& e : other_events()) events.push_back(std::move(e));
    ASSERT_TRUE(store->write_batch(events));
    ASSERT_TRUE(store->close());
  }

  static bool has(const audit::VerifyReport& r, Problem p, const std::string& table,
                  const std::string& row_part, std::int64_t seq = -1) {
    for (const auto& f : r.findings)
      if (f.problem == p && f.table == table && f.row.find(row_part) != std::string::npos &&
          (seq < 0 || f.seq == seq))
        return true;
    return false;
  }

  static std::string lines(const audit::VerifyReport& r) {
    std::string out;
    for (const auto& f : r.findings) out += audit::to_line(f) + "\n";
    return out;
  }

  ManualClock clock_{1'700'000'000};
  int signatures_ = 0;
  fs::path dir_;
  std::string path_;                          // sqlite
  std::string database_, url_;                // postgres
  std::unique_ptr<pgtest::PgClient> client_;  // postgres
};

TEST_P(ChainTest, ACleanTrailVerifies) {
  write_trail();
  auto r = verify();
  EXPECT_TRUE(r.ok()) << lines(r);
  ASSERT_EQ(r.replicas.size(), 1u);
  EXPECT_EQ(r.replicas[0].replica, "gw-1");
  EXPECT_EQ(r.replicas[0].first_seq, 1);
  EXPECT_EQ(r.replicas[0].last_seq, 9);
  EXPECT_EQ(r.replicas[0].signed_through, 9);
  EXPECT_EQ(audit::unsigned_records(r.replicas[0]), 0);
  // Typed rows: the sessions row twice (its start and its end) and the four
  // other events; the statements are records of the stream.
  EXPECT_EQ(r.rows_checked, 6);
  EXPECT_EQ(r.legacy_rows, 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM statements"), "0");
  EXPECT_EQ(scalar("SELECT count(*) FROM sessions WHERE end_chain_id IS NOT NULL"), "1");
  // The three statements are one chunk, summarised and keyed for search.
  EXPECT_EQ(scalar("SELECT " +
                   std::string(postgres() ? "first_seq::text || '-' || last_seq || '/' || records"
                                          : "first_seq || '-' || last_seq || '/' || records") +
                   " FROM audit_chunks"),
            "2-4/3");
  EXPECT_EQ(all_seqs(), "1,2,3,4,5,6,7,8,9");
  EXPECT_EQ(column("SELECT key FROM audit_chunk_keys ORDER BY key"),
            (std::vector<std::string>{"decision:allow", "kind:select", "outcome:ok",
                                      "rule:agents-read", "session:s1", "table:public.t"}));
  // Each record's hash is the documented one, whether a row or in a chunk.
  const std::string canonical = scalar("SELECT canonical FROM audit_chain WHERE seq = 1");
  const std::string h1 = scalar("SELECT hash FROM audit_chain WHERE seq = 1");
  EXPECT_EQ(h1, audit::chain_hash(audit::kGenesisHash, canonical));
  const auto stream = chunks();
  ASSERT_EQ(stream.size(), 1u);
  ASSERT_EQ(stream[0].records.size(), 3u);
  EXPECT_EQ(stream[0].records[0].seq, 2);
  EXPECT_EQ(stream[0].records[0].hash, audit::chain_hash(h1, stream[0].records[0].canonical));
  EXPECT_EQ(stream[0].texts, (std::vector<std::string>{"SELECT 1", "SELECT 2", "SELECT 3"}));
  EXPECT_EQ(scalar("SELECT prev_hash FROM audit_chain WHERE seq = 5"), stream[0].records[2].hash);
  EXPECT_EQ(scalar("SELECT hash FROM audit_chunks"), stream[0].records[2].hash);
}

TEST_P(ChainTest, AnEditedStatementIsNamed) {
  write_trail();
  // Its record and the text search reads, both edited inside the chunk.
  auto c = chunks().at(0);
  auto& rec = c.records.at(1);
  rec.canonical.replace(rec.canonical.find("SELECT 2"), 8, "SELECT 42");
  c.texts.at(1) = "SELECT 42";
  rewrite(c);
  auto r = verify();
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.findings.size(), 1u) << lines(r);
  const auto& f = r.findings[0];
  EXPECT_EQ(f.problem, Problem::kModified);
  EXPECT_EQ(f.replica, "gw-1");
  EXPECT_EQ(f.seq, 3);  // the session's start is record 1, statement 1 is record 2
  EXPECT_EQ(f.table, "audit_chunks");
  EXPECT_EQ(f.row, "statement session_id=s1 seq=2");
  EXPECT_EQ(audit::to_line(f),
            "MODIFIED replica=gw-1 seq=3 audit_chunks[statement session_id=s1 seq=2]: the "
            "record's content does not match its hash");
}

TEST_P(ChainTest, AnEditedChunkSummaryOrTextOrKeyIsNamed) {
  write_trail();
  // What search reads to find a record, edited apart from the record itself.
  auto c = chunks().at(0);
  c.texts.at(0) = "SELECT 0";
  rewrite(c);
  tamper(  // (rewrite() dropped the append-only trigger)
      "UPDATE audit_chunks SET max_at_us = max_at_us - 1000000;"
      "DELETE FROM audit_chunk_keys WHERE key = 'table:public.t'");
  auto r = verify();
  EXPECT_NE(lines(r).find("the chunk's texts (what text search reads) do not match its records"),
            std::string::npos)
      << lines(r);
  EXPECT_NE(lines(r).find("the chunk's summary (seq range, count, times or hash) does not match"),
            std::string::npos)
      << lines(r);
  EXPECT_TRUE(has(r, Problem::kDeleted, "audit_chunk_keys", "id=", 2)) << lines(r);
  EXPECT_NE(lines(r).find("table:public.t"), std::string::npos) << lines(r);
  // A body that is no chunk at all: its records are unreadable, and named.
  tamper("UPDATE audit_chunks SET body = " + bytes_literal("not a chunk"));
  r = verify();
  EXPECT_NE(lines(r).find("records 2..4 are unreadable"), std::string::npos) << lines(r);
  EXPECT_TRUE(has(r, Problem::kDeleted, "audit_chain", "", 2)) << lines(r);
}

TEST_P(ChainTest, AnEditedSessionEndIsCheckedAgainstItsOwnRecord) {
  write_trail();
  tamper("UPDATE sessions SET end_reason = 'upstream lost', bytes_to_client = 1 WHERE id = 's1'");
  auto r = verify();
  ASSERT_EQ(r.findings.size(), 1u) << lines(r);
  EXPECT_EQ(r.findings[0].problem, Problem::kModified);
  EXPECT_EQ(r.findings[0].seq, 5);
  EXPECT_EQ(r.findings[0].detail, "bytes_to_client, end_reason differs from the chained record");
}

TEST_P(ChainTest, ADeletedRowIsNamed) {
  write_trail();
  // The last statement taken out of its chunk (summary left as it was) …
  auto c = chunks().at(0);
  c.records.pop_back();
  c.texts.pop_back();
  rewrite(c);
  tamper("DELETE FROM approval_events");
  auto r = verify();
  EXPECT_TRUE(has(r, Problem::kDeleted, "audit_chain", "", 4)) << lines(r);
  EXPECT_NE(lines(r).find("record 4 is missing from the chain"), std::string::npos) << lines(r);
  EXPECT_TRUE(has(r, Problem::kModified, "audit_chunks", "id=", 2)) << lines(r);  // its summary
  EXPECT_TRUE(has(r, Problem::kDeleted, "approval_events", "approval request_id=r-1", 8))
      << lines(r);
  EXPECT_EQ(r.findings.size(), 3u) << lines(r);
  // … and a whole chunk deleted.
  tamper("DELETE FROM audit_chunks");
  r = verify();
  EXPECT_NE(lines(r).find("records 2..4 are missing from the chain"), std::string::npos)
      << lines(r);
}

// A statement taken out of the middle of its chunk (summary made to match):
// the gap is named, and the record after it — whose link is gone — is not
// called modified.
TEST_P(ChainTest, AStatementTakenFromTheMiddleOfAChunkIsTheOneNamed) {
  write_trail();
  auto c = chunks().at(0);
  c.records.erase(c.records.begin() + 1);
  c.texts.erase(c.texts.begin() + 1);
  rewrite(c, true);
  auto r = verify();
  EXPECT_NE(lines(r).find("record 3 is missing from the chain"), std::string::npos) << lines(r);
  EXPECT_EQ(r.findings.size(), 1u) << lines(r);
}

TEST_P(ChainTest, AForgedRowIsNamed) {
  write_trail();
  // A row that was never recorded, and a copy of a real one claiming its record.
  tamper("INSERT INTO statements(session_id, seq, text) VALUES ('s1', 99, 'DROP TABLE t')");
  // A chunk holding a second copy of a record already chained.
  auto c = chunks().at(0);
  c.records.push_back(c.records.back());
  c.texts.push_back(c.texts.back());
  rewrite(c);
  tamper(
      "INSERT INTO refused_connections(at_us, replica, client_addr, reason, chain_id) "
      "SELECT at_us, replica, client_addr, reason, chain_id FROM refused_connections");
  auto r = verify();
  EXPECT_TRUE(has(r, Problem::kInserted, "statements", "session_id=s1 seq=99")) << lines(r);
  EXPECT_TRUE(has(r, Problem::kInserted, "refused_connections", "", 6)) << lines(r);
  EXPECT_TRUE(has(r, Problem::kInserted, "audit_chunks", "statement session_id=s1 seq=3", 4))
      << lines(r);
  EXPECT_FALSE(r.ok());
}

TEST_P(ChainTest, SwappedRowsAreReported) {
  write_trail();
  // Statements 1 and 2 trade places in their chunk, each with its hash …
  auto c = chunks().at(0);
  std::swap(c.records[0].canonical, c.records[1].canonical);
  std::swap(c.records[0].hash, c.records[1].hash);
  std::swap(c.texts[0], c.texts[1]);
  rewrite(c);
  auto r = verify();
  EXPECT_TRUE(has(r, Problem::kModified, "audit_chunks", "statement session_id=s1 seq=2", 2))
      << lines(r);
  EXPECT_TRUE(has(r, Problem::kModified, "audit_chunks", "statement session_id=s1 seq=1", 3))
      << lines(r);
  // … and records 6 and 7 trade places in the chain (past its append-only trigger).
  tamper(
      drop_trigger("audit_chain_append_only", "audit_chain") +
      "UPDATE audit_chain SET seq = -3 WHERE seq = 6; UPDATE audit_chain SET seq = 6 WHERE seq = 7;"
      "UPDATE audit_chain SET seq = 7 WHERE seq = -3;");
  r = verify();
  EXPECT_TRUE(has(r, Problem::kOutOfOrder, "audit_chain", "policy", 6)) << lines(r);
  EXPECT_TRUE(has(r, Problem::kOutOfOrder, "audit_chain", "connection_refused", 7)) << lines(r);
}

TEST_P(ChainTest, TheChainIsAppendOnlyToPlainUpdates) {
  write_trail();
  std::string error = try_tamper("UPDATE audit_chain SET canonical = '{}'");
  EXPECT_NE(error.find("audit_chain is append-only"), std::string::npos) << error;
  error = try_tamper("UPDATE audit_checkpoints SET signature = 'AAAA'");
  EXPECT_NE(error.find("audit_checkpoints is append-only"), std::string::npos) << error;
  EXPECT_EQ(scalar("SELECT count(*) FROM audit_checkpoints WHERE signature = 'AAAA'"), "0");
  EXPECT_TRUE(verify().ok());
}

TEST_P(ChainTest, AnEditedCheckpointSignatureIsReported) {
  write_trail();
  tamper(drop_trigger("audit_checkpoints_append_only", "audit_checkpoints") +
         "UPDATE audit_checkpoints SET signature = 'AAAA' || substr(signature, 5)");
  auto r = verify();
  ASSERT_EQ(r.findings.size(), 1u) << lines(r);
  EXPECT_EQ(r.findings[0].problem, Problem::kBadSignature);
  EXPECT_EQ(r.findings[0].seq, 9);
  EXPECT_EQ(r.findings[0].table, "audit_checkpoints");
  EXPECT_EQ(r.findings[0].row, "kid=test-key");
  EXPECT_EQ(r.replicas[0].signed_through, 0);
}

TEST_P(ChainTest, AChainRecordEditedOrDeletedIsReported) {
  write_trail();
  tamper(drop_trigger("audit_chain_append_only", "audit_chain") +
         "UPDATE audit_chain SET canonical = replace(canonical, 'client closed', 'upstream lost') "
         "WHERE seq = 5; DELETE FROM audit_chain WHERE seq = 6");
  auto r = verify();
  EXPECT_TRUE(has(r, Problem::kModified, "audit_chain", "session_end id=s1", 5)) << lines(r);
  EXPECT_TRUE(has(r, Problem::kDeleted, "audit_chain", "", 6)) << lines(r);
  // The typed rows see it too: one no longer matches, one names a record that is gone.
  EXPECT_TRUE(has(r, Problem::kModified, "sessions", "id=s1", 5)) << lines(r);
  EXPECT_TRUE(has(r, Problem::kUnchained, "refused_connections", "")) << lines(r);
}

TEST_P(ChainTest, ARewriteThatRecomputesTheHashesIsCaughtByTheCheckpoint) {
  write_trail();
  // The careful forger: changes a statement in its row and its record, and
  // recomputes every hash after it. Only the signature stands in the way.
  auto c = chunks().at(0);
  ASSERT_EQ(c.records.size(), 3u);
  auto& edited = c.records[1].canonical;
  edited.replace(edited.find("SELECT 2"), 8, "SELECT 9");
  c.texts[1] = "SELECT 9";
  std::string prev = scalar("SELECT hash FROM audit_chain WHERE seq = 1");
  for (auto& rec : c.records) prev = rec.hash = audit::chain_hash(prev, rec.canonical);
  rewrite(c, true);
  const std::vector<std::string> rows =
      column("SELECT canonical FROM audit_chain WHERE seq > 4 ORDER BY seq");
  ASSERT_EQ(rows.size(), 5u);
  std::string sql = drop_trigger("audit_chain_append_only", "audit_chain");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::string hash = audit::chain_hash(prev, rows[i]);
    sql += "UPDATE audit_chain SET prev_hash = '" + prev + "', hash = '" + hash +
           "' WHERE seq = " + std::to_string(i + 5) + ";";
    prev = hash;
  }
  tamper(sql);
  auto r = verify();
  ASSERT_EQ(r.findings.size(), 1u) << lines(r);
  EXPECT_EQ(r.findings[0].problem, Problem::kCheckpointMismatch);
  EXPECT_EQ(r.findings[0].seq, 9);
}

TEST_P(ChainTest, TruncationIsCaughtUpToTheNewestCheckpoint) {
  write_trail();
  tamper(
      "DELETE FROM audit_chain WHERE seq >= 8; DELETE FROM approval_events; "
      "DELETE FROM token_events");
  auto r = verify();
  EXPECT_TRUE(has(r, Problem::kTruncated, "audit_chain", "", 8)) << lines(r);
  EXPECT_NE(lines(r).find("records 8..9 are gone, though checkpoint 9 signed them"),
            std::string::npos)
      << lines(r);
}

TEST_P(ChainTest, RecordsAfterTheNewestCheckpointAreNotYetSigned) {
  // The limit of what a chain can show: records not yet signed can be cut off
  // the end without a trace. Verify says how many records that concerns.
  auto store = open(options());
  ASSERT_TRUE(store->write_batch(trail("s1")));
  ASSERT_TRUE(store->close());
  ASSERT_TRUE(store->write_batch(trail("s2", 1, false)));
  store.reset();  // a crash: no close(), no checkpoint
  auto r = verify();
  EXPECT_TRUE(r.ok()) << lines(r);
  ASSERT_EQ(r.replicas.size(), 1u);
  EXPECT_EQ(r.replicas[0].signed_through, 5);
  EXPECT_EQ(audit::unsigned_records(r.replicas[0]), 2);
  tamper(
      "DELETE FROM audit_chain WHERE seq > 5; DELETE FROM audit_chunks WHERE first_seq > 5;"
      "DELETE FROM sessions WHERE id = 's2'");
  EXPECT_TRUE(verify().ok());
}

TEST_P(ChainTest, ARestartContinuesTheChain) {
  {
    auto store = open(options());
    ASSERT_TRUE(store->write_batch(trail("s1")));
    // Closed without close(): the chain head must come from the file alone.
  }
  {
    auto store = open(options());
    ASSERT_TRUE(store->write_batch(trail("s2")));
    ASSERT_TRUE(store->close());
  }
  EXPECT_EQ(all_seqs(), "1,2,3,4,5,6,7,8,9,10");
  EXPECT_EQ(scalar("SELECT prev_hash FROM audit_chain WHERE seq = 6"),
            scalar("SELECT hash FROM audit_chain WHERE seq = 5"));
  auto r = verify();
  EXPECT_TRUE(r.ok()) << lines(r);
  EXPECT_EQ(r.replicas[0].signed_through, 10);
}

TEST_P(ChainTest, CheckpointsComeByCountByTimeAndAtClose) {
  auto o = options();
  o.chain.checkpoint_every = 4;
  o.chain.checkpoint_interval = std::chrono::seconds(60);
  auto store = open(o);
  ASSERT_TRUE(store->write_batch(trail("s1", 8)));  // 10 records: signed at 4 and 8
  EXPECT_EQ(seqs("audit_checkpoints"), "4,8");
  ASSERT_TRUE(store->maintain());
  EXPECT_EQ(scalar("SELECT count(*) FROM audit_checkpoints"), "2");  // not due yet
  clock_.advance(std::chrono::seconds(61));
  ASSERT_TRUE(store->maintain());
  EXPECT_EQ(seqs("audit_checkpoints"), "4,8,10");
  ASSERT_TRUE(store->write_batch(trail("s2", 0, false)));
  ASSERT_TRUE(store->close());
  EXPECT_EQ(seqs("audit_checkpoints"), "4,8,10,11");
  EXPECT_TRUE(verify().ok());
}

TEST_P(ChainTest, AFailingSignerLeavesRecordsUnsignedButKept) {
  auto o = options();
  o.chain.checkpoint_every = 2;
  o.chain.sign = [](std::string_view) -> Expected<audit::CheckpointSignature> {
    return unexpected(std::string("key unavailable"));
  };
  auto store = open(o);
  ASSERT_TRUE(store->write_batch(trail("s1")));
  EXPECT_EQ(all_seqs(), "1,2,3,4,5");
  EXPECT_EQ(scalar("SELECT count(*) FROM audit_checkpoints"), "0");
  auto r = verify();
  EXPECT_TRUE(r.ok()) << lines(r);
  EXPECT_EQ(audit::unsigned_records(r.replicas[0]), 5);
}

TEST_P(ChainTest, TheRecorderSealsTheChainWhenItStops) {
  {
    audit::Recorder rec(open(options()), {.flush_interval = std::chrono::milliseconds(5)});
    for (auto& e : trail("s1")) ASSERT_TRUE(rec.record(std::move(e)));
  }
  EXPECT_EQ(seqs("audit_checkpoints"), "5");
  EXPECT_TRUE(verify().ok());
}

TEST_P(ChainTest, RetentionPurgesToACheckpointAndLeavesAVerifiableChain) {
  auto o = options();
  o.chain.retention = std::chrono::hours(24);
  auto store = open(o);
  // Day 0: a finished session, and one that stays open for days.
  ASSERT_TRUE(store->write_batch(trail("old")));             // records 1..5
  ASSERT_TRUE(store->write_batch(trail("long", 1, false)));  // records 6..7
  ASSERT_TRUE(store->close());                               // checkpoint 7
  clock_.advance(std::chrono::hours(30));
  // Day 1: more of the long session, a new session, sealed.
  model::StatementEvent later;
  later.session_id = "long";
  later.seq = 2;
  later.at_us = now_us();
  later.text = "SELECT now()";
  std::vector<model::AuditEvent> day1{later};
  for (auto& e : trail("new")) day1.push_back(std::move(e));
  ASSERT_TRUE(store->write_batch(day1));  // records 8..13
  ASSERT_TRUE(store->close());            // checkpoint 13
  ASSERT_TRUE(store->maintain());         // the purge: day 0 is past retention
  EXPECT_EQ(scalar("SELECT count(*) FROM sessions WHERE id = 'old'"), "0");
  EXPECT_EQ(statement_seqs("old"), "");
  EXPECT_EQ(statement_seqs("long"), "2");
  // The long session outlived retention: its row stays, its start chained anew.
  EXPECT_EQ(scalar("SELECT c.seq FROM sessions s JOIN audit_chain c ON c.id = s.chain_id "
                   "WHERE s.id = 'long'"),
            "14");
  EXPECT_EQ(all_seqs().substr(0, 2), "8,");
  EXPECT_EQ(seqs("audit_checkpoints"), "7,13");
  // The purge is itself a record of the chain.
  EXPECT_EQ(
      scalar("SELECT canonical FROM audit_chain WHERE type = 'retention_purge'"),
      R"({"anchors":{"gw-1":{"hash":")" +
          scalar("SELECT hash FROM audit_checkpoints WHERE seq = 7") + R"(","seq":7}},"at_us":)" +
          std::to_string(now_us()) + R"(,"carried":1,"cutoff_us":)" +
          std::to_string(now_us() - 24LL * 3600 * 1'000'000) +
          R"(,"deleted":{"audit_chain":3,"audit_chunks":2,"sessions":1},"type":"retention_purge"})");
  store.reset();
  auto r = verify();
  EXPECT_TRUE(r.ok()) << lines(r);
  EXPECT_EQ(r.replicas[0].first_seq, 8);
  EXPECT_EQ(r.replicas[0].anchored_at, 7);
  EXPECT_EQ(r.replicas[0].last_seq, 15);

  // Reopened, the chain goes on after the purge record.
  store = open(o);
  ASSERT_TRUE(store->write_batch(trail("after", 0, false)));
  ASSERT_TRUE(store->close());
  EXPECT_TRUE(verify().ok());

  // Deleting past what retention purged is not retention.
  tamper(
      "DELETE FROM audit_chain WHERE seq <= 13; DELETE FROM audit_chunks WHERE last_seq <= 13; "
      "DELETE FROM audit_checkpoints WHERE seq < 13");
  r = verify();
  EXPECT_TRUE(has(r, Problem::kUnanchored, "audit_chain", "", 14)) << lines(r);
}

TEST_P(ChainTest, RetentionWithoutACheckpointOldEnoughKeepsEverything) {
  auto o = options();
  o.chain.retention = std::chrono::hours(24);
  auto store = open(o);
  ASSERT_TRUE(store->write_batch(trail("s1")));
  clock_.advance(std::chrono::hours(30));
  ASSERT_TRUE(store->maintain());  // nothing was signed before the cutoff
  EXPECT_EQ(statement_seqs("s1"), "1,2,3");
  EXPECT_EQ(scalar("SELECT count(*) FROM audit_chain WHERE type = 'retention_purge'"), "0");
}

TEST_P(ChainTest, RowsFromBeforeTheChainAreLegacyNotForgeries) {
  // Rows a build before the chain wrote: SQLite's migration 6 noted where
  // they end. (A PostgreSQL store starts with the chain and notes nothing;
  // its verifier honours the same table.)
  {
    auto store = open(options());
    ASSERT_TRUE(store);
  }
  tamper("INSERT INTO statements(session_id, seq, text) VALUES ('pre', 1, 'SELECT 1');");
  auto r = verify();
  EXPECT_TRUE(has(r, Problem::kInserted, "statements", "session_id=pre seq=1")) << lines(r);
  tamper(postgres() ? "INSERT INTO audit_legacy(tbl, max_rowid) VALUES ('statements', 1)"
                    : "UPDATE audit_legacy SET max_rowid = 1 WHERE tbl = 'statements'");
  r = verify();
  EXPECT_TRUE(r.ok()) << lines(r);
  EXPECT_EQ(r.legacy_rows, 1);
}

TEST_P(ChainTest, ASessionEndWithoutItsStartVerifies) {
  auto store = open(options());
  auto events = trail("s1", 0);
  events.erase(events.begin());  // the start never made it
  ASSERT_TRUE(store->write_batch(events));
  ASSERT_TRUE(store->close());
  auto r = verify();
  EXPECT_TRUE(r.ok()) << lines(r);
  tamper("UPDATE sessions SET subject = 'someone' WHERE id = 's1'");
  r = verify();
  EXPECT_TRUE(has(r, Problem::kInserted, "sessions", "id=s1")) << lines(r);
}

// audit_durability: sync writes what a statement was about to run before the
// server saw it; those records are chained and checked like the others.
TEST_P(ChainTest, StatementIntentsAreChainedAndAnEditIsNamed) {
  auto store = open(options());
  auto events = trail("s1", 1);
  model::StatementIntent in;
  in.session_id = "s1";
  in.seq = 1;
  in.at_us = now_us();
  in.text = "DELETE FROM t WHERE id = 1";
  in.protocol_path = "simple";
  in.decision.kind = "delete";
  in.decision.cls = "write";
  in.decision.decision = "allow";
  in.decision.rule = "writers";
  in.decision.tables = {"public.t"};
  events.insert(events.begin() + 1, in);
  ASSERT_TRUE(store->write_batch(events));
  ASSERT_TRUE(store->close());
  auto r = verify();
  EXPECT_TRUE(r.ok()) << lines(r);
  EXPECT_EQ(scalar("SELECT text || '|' || decision || '|' || tables_json FROM statement_intents"),
            "DELETE FROM t WHERE id = 1|allow|[\"public.t\"]");
  tamper("UPDATE statement_intents SET text = 'SELECT 1'");
  r = verify();
  EXPECT_TRUE(has(r, Problem::kModified, "statement_intents", "session_id=s1 seq=1")) << lines(r);
  tamper("DELETE FROM statement_intents");
  r = verify();
  EXPECT_TRUE(has(r, Problem::kDeleted, "statement_intents", "session_id=s1 seq=1")) << lines(r);
}

TEST_P(ChainTest, VerifyRefusesWhatIsNotAStore) {
  if (!postgres()) {
    auto r = verify_sqlite_store((dir_ / "missing.db").string(), fake_check);
    ASSERT_FALSE(r);
    EXPECT_FALSE(fs::exists(dir_ / "missing.db"));  // read-only: nothing created
    return;
  }
  // A database that does not exist is not created …
  auto r = verify_postgres_store(server().url("missing"), fake_check);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("missing"), std::string::npos) << r.error();
  EXPECT_EQ(scalar("SELECT count(*) FROM pg_database WHERE datname = 'missing'"), "0");
  // … and one without a store gets no schema from verify.
  r = verify_postgres_store(url_, fake_check);
  ASSERT_FALSE(r);
  EXPECT_EQ(scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "0");
}

INSTANTIATE_TEST_SUITE_P(Stores, ChainTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace gh::store
