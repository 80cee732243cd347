// SQL-aware policy end to end: real psql and libpq (pipelined too) through a
// gateway with access rules, table allow-lists and guardrails, against the
// real server — checking both what the client sees and that a denied write
// left the data untouched. Also reload (control socket and SIGHUP) and pause.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>

#include "tests/integration/harness.h"

namespace gh::it {
namespace {

// The policy under test, behind a gateway of its own.
struct PolicyGateway : OwnGateway {
  static std::string yaml(const World& w, int port, const std::string& reader_tables) {
    return OwnGateway::base_yaml(w, "gw-policy", port, /*read_credentials=*/true) + R"(access:
  - name: readers
    groups: [readers]
    connections: [app]
    actions: [read]
    tables: [)" +
           reader_tables + R"(]
  - name: guarded-writers
    groups: [guarded]
    connections: [app]
    actions: [read, write, ddl]
guardrails:
  - name: no-destructive-ddl
    statements: [drop, truncate, alter_system]
  - name: no-unbounded-writes
    statements: [update, delete]
    without_where: true
  - name: no-server-file-access
    functions: [pg_read_file, pg_read_binary_file, pg_ls_dir, lo_import, lo_export, "dblink*"]
  - name: no-dynamic-sql-for-agents
    groups: [guarded]
    statements: [do, call, create_function]
  - name: no-exports-to-files
    statements: [copy_to_file, copy_from_file, copy_to_program, copy_from_program]
)";
  }

  static constexpr const char* kReaderTables =
      R"("public.*", "pg_catalog.*", "information_schema.*")";

  explicit PolicyGateway(const World& w)
      : OwnGateway("gatehouse-policy", [&w](int p) { return yaml(w, p, kReaderTables); }) {}
};

// The world's cluster gets the tables and the read-only role these tests use.
void prepare_database(const World& w) {
  static bool done = false;
  if (done) return;
  done = true;
  testbed::write_file(w.dir + "/ro.pw", "ro-secret-4\n", 0600);
  w.pg.sql(
      "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gh_policy_ro') THEN "
      "CREATE ROLE gh_policy_ro LOGIN PASSWORD 'ro-secret-4'; END IF; END $$;");
  w.pg.sql(
      "SET ROLE gh_scram;"
      "DROP TABLE IF EXISTS public.guarded_t; DROP SCHEMA IF EXISTS secret CASCADE;"
      "CREATE TABLE public.guarded_t(id int primary key, v text);"
      "INSERT INTO public.guarded_t SELECT g, 'v' || g FROM generate_series(1, 5) g;"
      "CREATE SCHEMA secret; CREATE TABLE secret.t(id int, payload text);"
      "INSERT INTO secret.t VALUES (1, 'classified');"
      "CREATE TABLE public.t(id int); INSERT INTO public.t VALUES (42);"
      "RESET ROLE;"
      "GRANT CONNECT ON DATABASE app TO gh_policy_ro;"
      "GRANT USAGE ON SCHEMA public, secret TO gh_policy_ro;"
      "GRANT SELECT ON ALL TABLES IN SCHEMA public, secret TO gh_policy_ro;",
      "app");
}

std::string guarded_count(const World& w) {
  auto out = w.pg.sql("SELECT count(*) FROM public.guarded_t", "app");
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  auto nl = out.find_last_of('\n');
  return nl == std::string::npos ? out : out.substr(nl + 1);
}

class Policy : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    prepare_database(World::get());
    gw_ = new PolicyGateway(World::get());
  }
  static void TearDownTestSuite() {
    delete gw_;
    gw_ = nullptr;
  }
  static PolicyGateway* gw_;
  const World& w() const { return World::get(); }
  std::string guarded() const { return w().idp->mint("writer-1", {"guarded"}); }
  std::string reader() const { return w().idp->mint("reader-1", {"readers"}); }
};
PolicyGateway* Policy::gw_ = nullptr;

TEST_F(Policy, PsqlSeesTheRuleAndTheServerNeverRunsTheDeniedStatements) {
  const std::string before = guarded_count(w());
  ASSERT_EQ(before, "5");
  struct Case {
    const char* sql;
    const char* expect;
  } cases[] = {
      {"DROP TABLE guarded_t", "blocked by no-destructive-ddl: drop"},
      {"DrOp/**/TABLE guarded_t", "blocked by no-destructive-ddl: drop"},
      {"/* a /* nested */ comment */ TRUNCATE guarded_t", "blocked by no-destructive-ddl"},
      {"DELETE FROM guarded_t", "blocked by no-unbounded-writes: delete without WHERE"},
      {"WITH gone AS (DELETE FROM guarded_t RETURNING *) SELECT count(*) FROM gone",
       "blocked by no-unbounded-writes"},
      {"EXPLAIN ANALYZE DELETE FROM guarded_t", "blocked by no-unbounded-writes"},
      {"COPY (DELETE FROM guarded_t RETURNING *) TO STDOUT", "blocked by no-unbounded-writes"},
      {"SELECT 1; DROP TABLE guarded_t", "blocked by no-destructive-ddl"},
      {"SELECT E'O\\'Brien'; DROP TABLE guarded_t", "blocked by no-destructive-ddl"},
      {"SELECT $t$ ; $t$; DROP TABLE guarded_t", "blocked by no-destructive-ddl"},
      {"SELECT pg_catalog.pg_read_file('/etc/passwd')", "blocked by no-server-file-access"},
      {"DO $$ BEGIN DELETE FROM guarded_t; END $$", "blocked by no-dynamic-sql-for-agents"},
      {"COPY guarded_t TO '/tmp/gatehouse-exfil.csv'", "blocked by no-exports-to-files"},
      {"MERGE INTO guarded_t g USING (SELECT 1 AS id) s ON g.id = s.id WHEN MATCHED THEN DELETE",
       nullptr},  // allowed: a merge with a join condition
      {"SELEC 1", "statement could not be analyzed; denied"},
  };
  for (const auto& c : cases) {
    auto r = testbed::run({"psql", "-X", "-A", "-t", "-c", c.sql}, gw_->psql_env(guarded()));
    if (c.expect == nullptr) {
      EXPECT_EQ(r.exit_code, 0) << c.sql << ": " << r.output;
      continue;
    }
    EXPECT_NE(r.exit_code, 0) << c.sql;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.sql << ": " << r.output;
  }
  // The MERGE deleted row 1 — allowed, and it ran; nothing denied touched the table.
  EXPECT_EQ(guarded_count(w()), "4");
  EXPECT_FALSE(std::filesystem::exists("/tmp/gatehouse-exfil.csv"));
  // Must-still-allow: the literal, a column named like a keyword, a bounded delete.
  for (const char* ok : {"SELECT 'DROP TABLE guarded_t'", "SELECT 1 AS \"delete\"",
                         "DELETE FROM guarded_t WHERE id = 2", "SELECT count(*) FROM pg_class"}) {
    auto r = testbed::run({"psql", "-X", "-A", "-t", "-c", ok}, gw_->psql_env(guarded()));
    EXPECT_EQ(r.exit_code, 0) << ok << ": " << r.output;
  }
  EXPECT_EQ(guarded_count(w()), "3");
  w().pg.sql("INSERT INTO public.guarded_t VALUES (1, 'v1'), (2, 'v2') ON CONFLICT DO NOTHING",
             "app");
}

TEST_F(Policy, ADenialInsideATransactionAbortsItAsAServerErrorWould) {
  auto c = gw_->connect(guarded());
  Result begin(PQexec(c.get(), "BEGIN"));
  ASSERT_EQ(PQresultStatus(begin.get()), PGRES_COMMAND_OK);
  Result ins(PQexec(c.get(), "INSERT INTO guarded_t VALUES (100, 'in-tx')"));
  ASSERT_EQ(PQresultStatus(ins.get()), PGRES_COMMAND_OK) << PQerrorMessage(c.get());
  Result drop(PQexec(c.get(), "DROP TABLE guarded_t"));
  EXPECT_EQ(PQresultStatus(drop.get()), PGRES_FATAL_ERROR);
  EXPECT_EQ(sqlstate(drop.get()), "42501");
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_INERROR);
  Result after(PQexec(c.get(), "SELECT 1"));
  EXPECT_EQ(sqlstate(after.get()), "25P02");
  Result rollback(PQexec(c.get(), "ROLLBACK"));
  EXPECT_EQ(PQresultStatus(rollback.get()), PGRES_COMMAND_OK);
  EXPECT_EQ(scalar(c.get(), "SELECT count(*) FROM guarded_t WHERE id = 100"), "0");
  EXPECT_EQ(scalar(c.get(), "SELECT 7"), "7");  // the session goes on
}

TEST_F(Policy, PipelinedClientStaysInStepAfterADenial) {
  auto c = gw_->connect(guarded());
  ASSERT_EQ(PQenterPipelineMode(c.get()), 1);
  // Group 1: allowed. Group 2: a denied Parse, then an Execute the server skips.
  // Group 3: allowed again.
  ASSERT_EQ(PQsendQueryParams(c.get(), "SELECT count(*) FROM guarded_t", 0, nullptr, nullptr,
                              nullptr, nullptr, 0),
            1);
  ASSERT_EQ(PQpipelineSync(c.get()), 1);
  ASSERT_EQ(
      PQsendQueryParams(c.get(), "DELETE FROM guarded_t", 0, nullptr, nullptr, nullptr, nullptr, 0),
      1);
  ASSERT_EQ(PQsendQueryParams(c.get(), "SELECT 2", 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQpipelineSync(c.get()), 1);
  ASSERT_EQ(PQsendQueryParams(c.get(), "SELECT 3", 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQpipelineSync(c.get()), 1);

  std::vector<std::string> seen;
  int syncs = 0;
  for (int guard = 0; guard < 100 && syncs < 3; ++guard) {
    Result r(PQgetResult(c.get()));
    if (!r) continue;  // end of one query's results
    switch (PQresultStatus(r.get())) {
      case PGRES_TUPLES_OK:
        seen.push_back(std::string("rows:") + PQgetvalue(r.get(), 0, 0));
        break;
      case PGRES_FATAL_ERROR:
        seen.push_back("error:" + sqlstate(r.get()));
        break;
      case PGRES_PIPELINE_ABORTED:
        seen.push_back("aborted");
        break;
      case PGRES_PIPELINE_SYNC:
        seen.push_back("sync");
        ++syncs;
        break;
      default:
        seen.push_back(PQresStatus(PQresultStatus(r.get())));
    }
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"rows:" + guarded_count(w()), "sync", "error:42501",
                                            "aborted", "sync", "rows:3", "sync"}));
  ASSERT_EQ(PQexitPipelineMode(c.get()), 1);
  EXPECT_EQ(guarded_count(w()), "5");
}

TEST_F(Policy, ReaderIsLimitedToItsTablesWhateverTheSearchPath) {
  auto c = gw_->connect(reader());
  // Read-only credentials upstream, as configured for read-only callers.
  EXPECT_EQ(scalar(c.get(), "SELECT current_user"), "gh_policy_ro");
  EXPECT_EQ(scalar(c.get(), "SELECT id FROM t"), "42");
  EXPECT_EQ(scalar(c.get(), "SELECT id FROM public.t"), "42");
  auto denied = [&](const char* sql) {
    Result r(PQexec(c.get(), sql));
    return sqlstate(r.get());
  };
  EXPECT_EQ(denied("SELECT * FROM secret.t"), "42501");
  EXPECT_EQ(denied("INSERT INTO public.t VALUES (1)"), "42501");
  EXPECT_EQ(denied("PREPARE q AS SELECT * FROM secret.t"), "42501");
  // Moving the path does not move an unqualified name out of the allow-list.
  Result set(PQexec(c.get(), "SET search_path = secret, public"));
  EXPECT_EQ(PQresultStatus(set.get()), PGRES_COMMAND_OK);
  EXPECT_EQ(denied("SELECT * FROM t"), "42501");
  EXPECT_EQ(scalar(c.get(), "SELECT id FROM public.t"), "42");
  auto c2 = gw_->connect(reader());
  EXPECT_EQ(scalar(c2.get(), "SELECT set_config('search_path', 'secret', false)"), "secret");
  Result r2(PQexec(c2.get(), "SELECT * FROM t"));
  EXPECT_EQ(sqlstate(r2.get()), "42501");
  // FunctionCall (libpq's large-object API) is denied unless allowed.
  auto c3 = gw_->connect(reader());
  Result b(PQexec(c3.get(), "BEGIN"));
  Oid oid = lo_creat(c3.get(), 0x00040000 /* INV_READ */);
  EXPECT_EQ(oid, 0u);
  EXPECT_NE(std::string(PQerrorMessage(c3.get())).find("gatehouse: blocked by"), std::string::npos)
      << PQerrorMessage(c3.get());
}

TEST_F(Policy, DecisionsAreAudited) {
  auto c = gw_->connect(guarded());
  Result r(PQexec(c.get(), "DROP TABLE guarded_t"));
  ASSERT_EQ(sqlstate(r.get()), "42501");
  EXPECT_EQ(scalar(c.get(), "SELECT count(*) FROM guarded_t WHERE id > 0"), guarded_count(w()));
  // The newest record of `text`.
  const auto newest = [&](const std::string& text) {
    std::optional<audit::StatementRecord> out;
    for (auto& st : gw_->statements({.text = text}))
      if (st.text == text) out = std::move(st);
    return out;
  };
  const auto drop = newest("DROP TABLE guarded_t");
  ASSERT_TRUE(drop.has_value());
  EXPECT_EQ((std::vector<std::string>{drop->outcome, drop->kind, drop->cls, tables_json(*drop),
                                      drop->decision, drop->rule, drop->error_code}),
            (std::vector<std::string>{"denied", "drop", "ddl", "[\"public.guarded_t\"]", "deny",
                                      "no-destructive-ddl", "42501"}));
  const auto ok = newest("SELECT count(*) FROM guarded_t WHERE id > 0");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ((std::vector<std::string>{ok->outcome, ok->kind, ok->cls, ok->decision, ok->rule}),
            (std::vector<std::string>{"ok", "select", "read", "allow", "guarded-writers"}));
}

// psql -c sends one Query message with all its statements: each is recorded
// on its own (its text, kind, tables, rule, rows); after an error the rest
// never ran and say so; a denied statement still refuses the whole Query.
TEST_F(Policy, EachStatementOfAMultiStatementQueryIsItsOwnAuditRecord) {
  // The statements of the newest session that ran `first_text`, in order.
  auto statements_of = [&](const std::string& first_text) {
    std::string session;
    for (const auto& st : gw_->statements({.text = first_text}))
      if (st.text == first_text) session = st.session_id;
    EXPECT_FALSE(session.empty()) << first_text;
    std::vector<std::vector<std::string>> rows;
    if (session.empty()) return rows;
    for (const auto& st : session_statements(gw_->dir + "/var/audit.db", session))
      rows.push_back({st.text, st.kind, st.cls, tables_json(st), st.decision, st.rule, st.outcome,
                      std::to_string(st.rows), st.error_code});
    return rows;
  };
  auto r = testbed::run({"psql", "-X", "-A", "-t", "-c",
                         "SELECT 1 AS multi_a; UPDATE guarded_t SET v = v WHERE id = 3;\n"
                         "  SELECT count(*) FROM pg_class WHERE relname = 'multi_b'"},
                        gw_->psql_env(guarded()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto rows = statements_of("SELECT 1 AS multi_a");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"SELECT 1 AS multi_a", "select", "read", "[]",
                                               "allow", "guarded-writers", "ok", "1", ""}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"UPDATE guarded_t SET v = v WHERE id = 3", "update",
                                               "write", "[\"public.guarded_t\"]", "allow",
                                               "guarded-writers", "ok", "1", ""}));
  EXPECT_EQ(rows[2],
            (std::vector<std::string>{"SELECT count(*) FROM pg_class WHERE relname = 'multi_b'",
                                      "select", "read", "[\"pg_catalog.pg_class\"]", "allow",
                                      "guarded-writers", "ok", "1", ""}));

  // An error in the middle: the server runs nothing after it.
  w().pg.sql("INSERT INTO public.guarded_t VALUES (4, 'v4') ON CONFLICT DO NOTHING", "app");
  const std::string before = guarded_count(w());
  r = testbed::run({"psql", "-X", "-A", "-t", "-c",
                    "SELECT 1 AS multi_c; SELECT 1/0; DELETE FROM guarded_t WHERE id = 4"},
                   gw_->psql_env(guarded()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("division by zero"), std::string::npos) << r.output;
  rows = statements_of("SELECT 1 AS multi_c");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0][6], "ok");
  EXPECT_EQ(rows[1][0], "SELECT 1/0");
  EXPECT_EQ(rows[1][6], "error");
  EXPECT_EQ(rows[1][8], "22012");
  EXPECT_EQ(rows[2][0], "DELETE FROM guarded_t WHERE id = 4");
  EXPECT_EQ(rows[2][1], "delete");
  EXPECT_EQ(rows[2][6], "skipped");
  EXPECT_EQ(rows[2][7], "-1");
  EXPECT_EQ(guarded_count(w()), before);  // the DELETE never ran

  // A denied statement in the middle: the whole Query is refused before it
  // runs, and recorded as one denied statement.
  r = testbed::run({"psql", "-X", "-A", "-t", "-c",
                    "SELECT 1 AS multi_d; DROP TABLE guarded_t; SELECT 2 AS multi_d_after"},
                   gw_->psql_env(guarded()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("blocked by no-destructive-ddl"), std::string::npos) << r.output;
  std::vector<std::vector<std::string>> denied;
  std::size_t after = 0;
  for (const auto& st : gw_->statements()) {
    if (st.text.starts_with("SELECT 1 AS multi_d"))
      denied.push_back({st.outcome, st.decision, st.rule});
    after += st.text == "SELECT 2 AS multi_d_after";
  }
  EXPECT_EQ(denied,
            (std::vector<std::vector<std::string>>{{"denied", "deny", "no-destructive-ddl"}}));
  EXPECT_EQ(after, 0u);
}

TEST_F(Policy, ReloadSwapsThePolicyUnderLiveSessionsAndRefusesABadOne) {
  auto c = gw_->connect(reader());
  EXPECT_EQ(scalar(c.get(), "SELECT id FROM public.t"), "42");
  // A prepared statement decided under the current policy...
  Result prep(PQprepare(c.get(), "s1", "SELECT id FROM public.t", 0, nullptr));
  ASSERT_EQ(PQresultStatus(prep.get()), PGRES_COMMAND_OK);

  // ...and a new policy that no longer lets readers see public.*.
  testbed::write_file(gw_->config,
                      PolicyGateway::yaml(w(), gw_->port, R"("pg_catalog.*", "other.*")"));
  auto r = gw_->control("reload");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("ok: policy version"), std::string::npos) << r.output;
  Result denied(PQexec(c.get(), "SELECT id FROM public.t"));
  EXPECT_EQ(sqlstate(denied.get()), "42501");
  // Decided again at Execute: the old decision does not outlive its policy.
  Result exec(PQexecPrepared(c.get(), "s1", 0, nullptr, nullptr, nullptr, 0));
  EXPECT_EQ(sqlstate(exec.get()), "42501");
  EXPECT_EQ(PQstatus(c.get()), CONNECTION_OK);  // nothing dropped

  // An invalid policy is refused whole; the one in force keeps running.
  testbed::write_file(gw_->config, "guardrails:\n  - name: x\n    statements: [dorp]\n");
  auto bad = gw_->control("reload");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("reload refused"), std::string::npos) << bad.output;
  Result still(PQexec(c.get(), "SELECT id FROM public.t"));
  EXPECT_EQ(sqlstate(still.get()), "42501");

  // SIGHUP does the same as `gatehouse reload`: back to the original policy.
  testbed::write_file(gw_->config,
                      PolicyGateway::yaml(w(), gw_->port, PolicyGateway::kReaderTables));
  gw_->process.signal(SIGHUP);
  bool allowed = false;
  for (int i = 0; i < 50 && !allowed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Result again(PQexec(c.get(), "SELECT id FROM public.t"));
    allowed = PQresultStatus(again.get()) == PGRES_TUPLES_OK;
  }
  EXPECT_TRUE(allowed) << testbed::read_file(gw_->log);
  auto events = gw_->audit("SELECT action, outcome, source FROM policy_events ORDER BY id");
  EXPECT_EQ(events, (std::vector<std::vector<std::string>>{{"load", "applied", "start"},
                                                           {"reload", "applied", "control socket"},
                                                           {"reload", "refused", "control socket"},
                                                           {"reload", "applied", "SIGHUP"}}));
}

void record_notice(void* arg, const PGresult* r) {
  auto* notices = static_cast<std::vector<std::string>*>(arg);
  const char* m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
  notices->push_back(m ? m : "");
}

TEST_F(Policy, PauseHoldsStatementsWithANoticeAndResumeReleasesThem) {
  auto c = gw_->connect(guarded());
  std::vector<std::string> notices;
  PQsetNoticeReceiver(c.get(), record_notice, &notices);
  auto p = gw_->control("pause");
  ASSERT_EQ(p.exit_code, 0) << p.output;
  std::atomic<bool> done{false};
  std::string value;
  std::thread client([&] {
    Result r(PQexec(c.get(), "SELECT 'released'"));
    if (PQresultStatus(r.get()) == PGRES_TUPLES_OK) value = PQgetvalue(r.get(), 0, 0);
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  EXPECT_FALSE(done.load()) << "a statement ran while the gateway was paused";
  auto r = gw_->control("resume");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  client.join();
  EXPECT_EQ(value, "released");
  ASSERT_FALSE(notices.empty());
  EXPECT_NE(notices[0].find("gatehouse: the gateway is paused"), std::string::npos);
  EXPECT_EQ(PQstatus(c.get()), CONNECTION_OK);
}

}  // namespace
}  // namespace gh::it
