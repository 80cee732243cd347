#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <unistd.h>
#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

namespace gh::store {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("gh-sqlite-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(dir_);
    path_ = (dir_ / "audit.db").string();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<audit::Store> open() {
    auto store = open_sqlite_store(path_);
    EXPECT_TRUE(store.has_value()) << (store ? "" : store.error());
    return store ? std::move(*store) : nullptr;
  }

  // Rows of a query as strings ("NULL" for NULL), read with a separate connection
  // the way `gatehouse audit search` would.
  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    std::vector<std::vector<std::string>> out;
    while (stmt && sqlite3_step(stmt) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const unsigned char* t = sqlite3_column_text(stmt, i);
        row.push_back(t ? reinterpret_cast<const char*>(t) : "NULL");
      }
      out.push_back(std::move(row));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
  }

  std::string scalar(const std::string& sql) {
    auto r = rows(sql);
    return r.empty() || r[0].empty() ? "<none>" : r[0][0];
  }

  // A session's statements as `gatehouse audit replay` reads them.
  std::vector<audit::StatementRecord> transcript(const std::string& session) {
    auto reader = open_sqlite_reader(path_);
    EXPECT_TRUE(reader.has_value()) << (reader ? "" : reader.error());
    if (!reader) return {};
    auto t = (*reader)->transcript(session);
    EXPECT_TRUE(t.has_value()) << (t ? "" : t.error());
    return t ? std::move(*t) : std::vector<audit::StatementRecord>{};
  }

  fs::path dir_;
  std::string path_;
};

model::SessionStart session_start(std::string id) {
  model::SessionStart e;
  e.session_id = std::move(id);
  e.at_us = 1'700'000'000'000'001;
  e.replica = "gw-1";
  e.subject = "agent-7";
  e.groups = {"ai-agents", "readers"};
  e.issuer = "https://idp.example.com/";
  e.token_hash = "ab12";
  e.client_addr = "10.0.0.5:51234";
  e.tls = true;
  e.listener = "pg";
  e.connection = "traces";
  e.protocol = "postgres";
  e.user_label = "alice";
  e.application_name = "psql";
  return e;
}

model::StatementEvent statement(std::string session, std::int64_t seq) {
  model::StatementEvent e;
  e.session_id = std::move(session);
  e.seq = seq;
  e.at_us = 1'700'000'000'000'100 + seq;
  e.duration_us = 250;
  e.text = "SELECT 'it''s' FROM t";
  e.protocol_path = "extended";
  e.rows = 3;
  e.outcome = "ok";
  e.command_tag = "SELECT 3";
  return e;
}

TEST_F(SqliteStoreTest, OpenCreatesTheSchemaAndRecordsEveryMigration) {
  ASSERT_TRUE(open());
  EXPECT_EQ(scalar("SELECT group_concat(version) FROM schema_migrations"),
            "1,2,3,4,5,6,7,8,9,10,11");
  EXPECT_EQ(scalar("SELECT count(*) FROM schema_migrations WHERE applied_at IS NULL"), "0");
  auto tables = rows(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN "
      "('sessions', 'statements', 'refused_connections', 'policy_events', 'approval_events', "
      "'token_events', 'statement_intents', 'audit_chunks', 'audit_chunk_keys') ORDER BY name");
  ASSERT_EQ(tables.size(), 9u);
  auto indexes = rows("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL");
  // Ten for search, eight for the chain references of the typed rows, two
  // for search by table (rows from before the stream), three for the chunks.
  EXPECT_EQ(indexes.size(), 23u);
}

TEST_F(SqliteStoreTest, ApprovalAndTokenEventsAreKeptWithoutTheToken) {
  auto store = open();
  ASSERT_TRUE(store);
  model::ApprovalEvent a;
  a.at_us = 5;
  a.request_id = "r-1";
  a.event = "reviewed";
  a.status = "pending";
  a.rule = "regulated";
  a.kind = "statement";
  a.requester = "agent-7";
  a.actor = "carol";
  a.detail = "approve: ticket 42";
  a.text_hash = "ab";
  a.policy_version = 3;
  model::TokenEvent t;
  t.at_us = 6;
  t.action = "issued";
  t.actor = "root-admin";
  t.subject = "ci-job";
  t.groups = {"ai-agents"};
  t.expires_at = 100;
  t.token_hash = "cd";
  t.kid = "gh-1";
  std::vector<model::AuditEvent> batch{a, t};
  ASSERT_TRUE(store->write_batch(batch));
  EXPECT_EQ(scalar("SELECT actor || ' ' || detail || ' ' || policy_version FROM approval_events"),
            "carol approve: ticket 42 3");
  EXPECT_EQ(scalar("SELECT subject || ' ' || groups_json || ' ' || token_hash FROM token_events"),
            "ci-job [\"ai-agents\"] cd");
}

TEST_F(SqliteStoreTest, StatementDecisionAndPolicyEventsAreKept) {
  auto store = open();
  auto denied = statement("s1", 1);
  denied.outcome = "denied";
  denied.error_code = "42501";
  denied.decision.kind = "drop";
  denied.decision.cls = "ddl";
  denied.decision.tables = {"public.t"};
  denied.decision.functions = {};
  denied.decision.decision = "deny";
  denied.decision.rule = "no-destructive-ddl";
  denied.decision.policy_version = 3;
  model::PolicyEvent pe{1'700'000'000'000'500, "gw-1", 3, "reload", "applied", "2 rules", "SIGHUP"};
  std::vector<model::AuditEvent> batch{session_start("s1"), denied, statement("s1", 2), pe};
  ASSERT_TRUE(store->write_batch(batch));
  auto r = transcript("s1");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].seq, 1);
  EXPECT_EQ(r[0].outcome, "denied");
  EXPECT_EQ(r[0].kind, "drop");
  EXPECT_EQ(r[0].cls, "ddl");
  EXPECT_EQ(r[0].tables, std::vector<std::string>{"public.t"});
  EXPECT_EQ(r[0].functions, std::vector<std::string>{});
  EXPECT_EQ(r[0].decision, "deny");
  EXPECT_EQ(r[0].rule, "no-destructive-ddl");
  EXPECT_EQ(r[0].policy_version, 3);
  // No decision made: nothing claims one.
  EXPECT_EQ(r[1].kind, "");
  EXPECT_EQ(r[1].decision, "");
  auto p = rows("SELECT version, action, outcome, detail, source FROM policy_events");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0], (std::vector<std::string>{"3", "reload", "applied", "2 rules", "SIGHUP"}));
}

TEST_F(SqliteStoreTest, MaskingCountsAreKeptPerRuleWithoutValues) {
  auto store = open();
  auto masked = statement("s1", 1);
  masked.masked = {{"pii", 3}, {"refs", 1}};
  masked.withheld = 2;
  std::vector<model::AuditEvent> batch{session_start("s1"), masked, statement("s1", 2)};
  ASSERT_TRUE(store->write_batch(batch));
  auto r = transcript("s1");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].masked_json, "{\"pii\":3,\"refs\":1}");
  EXPECT_EQ(r[0].withheld, 2);
  EXPECT_EQ(r[1].masked_json, "");
  EXPECT_EQ(r[1].withheld, 0);
}

TEST_F(SqliteStoreTest, ReopeningDoesNotMigrateAgainOrLoseData) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    std::vector<model::AuditEvent> batch{session_start("s1")};
    ASSERT_TRUE(store->write_batch(batch));
  }
  const std::string applied = scalar("SELECT applied_at FROM schema_migrations");
  auto again = open();
  ASSERT_TRUE(again);
  EXPECT_EQ(scalar("SELECT count(*) FROM schema_migrations"), "11");
  EXPECT_EQ(scalar("SELECT applied_at FROM schema_migrations"), applied);
  EXPECT_EQ(scalar("SELECT count(*) FROM sessions"), "1");
}

TEST_F(SqliteStoreTest, RefusesADatabaseFromANewerSchema) {
  ASSERT_TRUE(open());
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "INSERT INTO schema_migrations VALUES (99, 'later')", nullptr,
                           nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = open_sqlite_store(path_);
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().find("newer"), std::string::npos) << store.error();
}

TEST_F(SqliteStoreTest, WalModeIsOn) {
  ASSERT_TRUE(open());
  EXPECT_EQ(scalar("PRAGMA journal_mode"), "wal");
}

TEST_F(SqliteStoreTest, ANewStoreHasLargePagesAnExistingOneKeepsItsOwn) {
  ASSERT_TRUE(open());
  EXPECT_EQ(scalar("PRAGMA page_size"), "16384");

  // A store made with 4 KiB pages (as before) is opened, migrated and written as it is.
  path_ = (dir_ / "older.db").string();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(
        sqlite3_exec(db, "PRAGMA page_size=4096; CREATE TABLE keep(x); INSERT INTO keep VALUES (1)",
                     nullptr, nullptr, nullptr),
        SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = open();
  ASSERT_TRUE(store);
  std::vector<model::AuditEvent> batch{session_start("s1")};
  ASSERT_TRUE(store->write_batch(batch));
  EXPECT_EQ(scalar("PRAGMA page_size"), "4096");
  EXPECT_EQ(scalar("SELECT count(*) FROM sessions"), "1");
  EXPECT_EQ(scalar("SELECT x FROM keep"), "1");
}

TEST_F(SqliteStoreTest, SessionStartLandsWithEveryField) {
  auto store = open();
  std::vector<model::AuditEvent> batch{session_start("s1")};
  ASSERT_TRUE(store->write_batch(batch));
  auto r = rows(
      "SELECT id, replica, started_at_us, ended_at_us, subject, groups_json, issuer, token_hash, "
      "client_addr, tls, listener, connection, protocol, user_label, application_name "
      "FROM sessions");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0], (std::vector<std::string>{"s1", "gw-1", "1700000000000001", "NULL", "agent-7",
                                            R"(["ai-agents","readers"])",
                                            "https://idp.example.com/", "ab12", "10.0.0.5:51234",
                                            "1", "pg", "traces", "postgres", "alice", "psql"}));
}

TEST_F(SqliteStoreTest, StatementLandsWithEveryField) {
  auto store = open();
  auto failed = statement("s1", 2);
  failed.outcome = "error";
  failed.rows = -1;
  failed.error_code = "42P01";
  failed.error_message = "relation \"nope\" does not exist";
  failed.protocol_path = "simple";
  failed.command_tag = "";
  std::vector<model::AuditEvent> batch{session_start("s1"), statement("s1", 1), failed};
  ASSERT_TRUE(store->write_batch(batch));
  const auto fields = [](const audit::StatementRecord& r) {
    return std::vector<std::string>{r.session_id,
                                    std::to_string(r.seq),
                                    std::to_string(r.at_us),
                                    std::to_string(r.duration_us),
                                    r.text,
                                    r.protocol_path,
                                    std::to_string(r.rows),
                                    r.outcome,
                                    r.command_tag,
                                    r.error_code,
                                    r.error_message,
                                    r.subject,
                                    r.connection};
  };
  auto r = transcript("s1");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(fields(r[0]), (std::vector<std::string>{"s1", "1", "1700000000000101", "250",
                                                    "SELECT 'it''s' FROM t", "extended", "3", "ok",
                                                    "SELECT 3", "", "", "agent-7", "traces"}));
  EXPECT_EQ(fields(r[1]),
            (std::vector<std::string>{"s1", "2", "1700000000000102", "250", "SELECT 'it''s' FROM t",
                                      "simple", "-1", "error", "", "42P01",
                                      "relation \"nope\" does not exist", "agent-7", "traces"}));
}

// Search by table reads the chunks' keys: each table a statement touched is
// a key of its chunk, once, or search by table misses it.
TEST_F(SqliteStoreTest, EachTableAStatementTouchedIsAKeyOfItsChunkOnce) {
  auto store = open();
  auto join = statement("s1", 1);
  join.decision.kind = "select";
  join.decision.decision = "allow";
  join.decision.rule = "r";
  join.decision.tables = {"public.orders", "public.customers", "public.orders"};
  auto none = statement("s1", 2);
  none.decision.tables = {};
  std::vector<model::AuditEvent> batch{session_start("s1"), join, none};
  ASSERT_TRUE(store->write_batch(batch));
  EXPECT_EQ(
      rows("SELECT key FROM audit_chunk_keys WHERE key LIKE 'table:%' ORDER BY key"),
      (std::vector<std::vector<std::string>>{{"table:public.customers"}, {"table:public.orders"}}));
  auto reader = open_sqlite_reader(path_);
  ASSERT_TRUE(reader.has_value());
  audit::StatementQuery q;
  q.table = "public.customers";
  auto found = (*reader)->search(q);
  ASSERT_TRUE(found.has_value()) << found.error();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].seq, 1);
}

TEST_F(SqliteStoreTest, SessionEndCompletesTheSessionRow) {
  auto store = open();
  model::SessionEnd end;
  end.session_id = "s1";
  end.at_us = 1'700'000'000'900'000;
  end.reason = "client closed";
  end.bytes_from_client = 1234;
  end.bytes_to_client = 98765;
  end.statements = 7;
  std::vector<model::AuditEvent> first{session_start("s1")};
  std::vector<model::AuditEvent> second{end};
  ASSERT_TRUE(store->write_batch(first));
  ASSERT_TRUE(store->write_batch(second));
  auto r = rows(
      "SELECT subject, started_at_us, ended_at_us, end_reason, bytes_from_client, "
      "bytes_to_client, statements FROM sessions");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0], (std::vector<std::string>{"agent-7", "1700000000000001", "1700000000900000",
                                            "client closed", "1234", "98765", "7"}));
}

TEST_F(SqliteStoreTest, SessionEndWithoutItsStartIsStillKept) {
  auto store = open();
  model::SessionEnd end;
  end.session_id = "orphan";
  end.at_us = 5;
  end.reason = "upstream lost: reset";
  std::vector<model::AuditEvent> batch{end};
  ASSERT_TRUE(store->write_batch(batch));
  EXPECT_EQ(scalar("SELECT end_reason FROM sessions WHERE id = 'orphan'"), "upstream lost: reset");
}

TEST_F(SqliteStoreTest, RefusedConnectionLandsWithEveryField) {
  auto store = open();
  model::ConnectionRefused e;
  e.at_us = 42;
  e.replica = "gw-2";
  e.client_addr = "[::1]:4000";
  e.listener = "pg";
  e.connection = "billing";
  e.subject = "mallory";
  e.token_hash = "ff00";
  e.sqlstate = "28000";
  e.reason = "no access rule admits mallory to billing";
  std::vector<model::AuditEvent> batch{e, e};
  ASSERT_TRUE(store->write_batch(batch));
  auto r = rows(
      "SELECT id, at_us, replica, client_addr, listener, connection, subject, token_hash, "
      "sqlstate, reason FROM refused_connections ORDER BY id");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0], (std::vector<std::string>{"1", "42", "gw-2", "[::1]:4000", "pg", "billing",
                                            "mallory", "ff00", "28000",
                                            "no access rule admits mallory to billing"}));
  EXPECT_EQ(r[1][0], "2");
}

TEST_F(SqliteStoreTest, AFailingEventRollsBackTheWholeBatch) {
  auto store = open();
  // The duplicate session fails the last insert; what came before must not stay.
  std::vector<model::AuditEvent> bad{session_start("s1"), statement("s1", 1), session_start("s1")};
  auto st = store->write_batch(bad);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().find("UNIQUE"), std::string::npos) << st.error();
  EXPECT_EQ(scalar("SELECT count(*) FROM sessions"), "0");
  EXPECT_EQ(scalar("SELECT count(*) FROM audit_chunks"), "0");
  EXPECT_EQ(scalar("SELECT count(*) FROM audit_chain"), "0");
  // The store is usable again afterwards: the transaction did not leak.
  std::vector<model::AuditEvent> good{session_start("s1"), statement("s1", 1)};
  ASSERT_TRUE(store->write_batch(good)) << "second batch";
  EXPECT_EQ(transcript("s1").size(), 1u);
}

TEST_F(SqliteStoreTest, OpenReportsAnUnusablePath) {
  auto store = open_sqlite_store((dir_ / "no-such-dir" / "audit.db").string());
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().find("no-such-dir"), std::string::npos) << store.error();
}

TEST_F(SqliteStoreTest, RecorderWritesThroughTheStore) {
  auto store = open();
  ASSERT_TRUE(store);
  audit::Recorder rec(std::move(store),
                      {.max_batch = 16, .flush_interval = std::chrono::milliseconds(5)});
  ASSERT_TRUE(rec.record(session_start("s1")));
  for (int i = 1; i <= 100; ++i) ASSERT_TRUE(rec.record(statement("s1", i)));
  rec.flush();
  const auto t = transcript("s1");
  ASSERT_EQ(t.size(), 100u);
  EXPECT_EQ(t.back().seq, 100);
  EXPECT_EQ(scalar("SELECT sum(records) FROM audit_chunks"), "100");
}

}  // namespace
}  // namespace gh::store
