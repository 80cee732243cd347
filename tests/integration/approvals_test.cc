// Just-in-time approvals end to end: real psql sessions held or refused by
// approval rules, reviewed through the CLI (a separate process) over the
// HTTPS admin API with each person's own token; access windows; gateway
// tokens issued, exchanged and published. The server's table is checked to
// show what ran and what did not.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "admin/client.h"
#include "tests/integration/harness.h"

namespace gh::it {
namespace {

using namespace std::chrono_literals;

struct ApprovalGateway : OwnGateway {
  int admin_port;
  explicit ApprovalGateway(const World& w, int admin)
      : OwnGateway("gatehouse-approvals",
                   [&w, admin](int p) {
                     std::string base = OwnGateway::base_yaml(w, "gw-approvals", p, false);
                     // The admin API over HTTPS with the world's certificate (127.0.0.1 in its
                     // SAN).
                     base.replace(
                         base.find("  log_level: debug\n"), 18,
                         "  log_level: debug\n  tls: {cert: " + w.dir + "/gw.crt, key: " + w.dir +
                             "/gw.key}\n  admin:\n    listen: 127.0.0.1:" + std::to_string(admin) +
                             "\n");
                     return base + OwnGateway::connection_yaml(w, "prod") + R"(roles:
  admins: [platform-admins]
access:
  - name: everyone
    groups: [ai-agents, dba, compliance, platform-admins]
    connections: [app, prod]
    actions: [read, write, ddl]
approvals:
  - name: regulated
    tables: [public.jit_patients]
    statements: [update, delete]
    approvers: {groups: [compliance], count: 2}
    mode: wait
    timeout: 20s
  - name: slow-review
    tables: [public.jit_timeout]
    statements: [delete]
    approvers: {groups: [compliance]}
    mode: wait
    timeout: 1s
  - name: export
    tables: [public.jit_export]
    statements: [select]
    approvers: {groups: [dba]}
    mode: reject
    grant: once
  - name: bulk-rows
    tables: [public.jit_rows]
    rows_over: 10
    approvers: {groups: [dba]}
    grant: once
  - name: any-large-result
    subjects: [row-tester]
    rows_over: 1000
    approvers: {groups: [dba]}
  - name: prod-window
    connections: [prod]
    on: connect
    approvers: {groups: [dba]}
    grant: 3s
)";
                   }),
        admin_port(admin) {}

  std::string url() const { return "https://127.0.0.1:" + std::to_string(admin_port); }

  // The CLI as `token`'s owner, in its own process.
  testbed::RunResult cli(const std::vector<std::string>& args, const std::string& token) const {
    return gatehouse_cli(url(), args, token);
  }
};

std::string request_id(const std::string& text) {
  std::smatch m;
  if (std::regex_search(text, m, std::regex("request (r-[0-9a-f]+)"))) return m[1];
  return "";
}

class Approvals : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const World& w = World::get();
    w.pg.sql(
        "SET ROLE gh_scram;"
        "DROP TABLE IF EXISTS public.jit_patients, public.jit_export, public.jit_timeout, "
        "public.jit_rows;"
        "CREATE TABLE public.jit_rows(id int, label text);"
        "INSERT INTO public.jit_rows SELECT g, 'row-' || g FROM generate_series(1, 25) g;"
        "CREATE TABLE public.jit_timeout(id int); INSERT INTO public.jit_timeout VALUES (1);"
        "CREATE TABLE public.jit_patients(id int primary key, name text);"
        "INSERT INTO public.jit_patients SELECT g, 'p' || g FROM generate_series(1, 5) g;"
        "CREATE TABLE public.jit_export(id int);"
        "INSERT INTO public.jit_export SELECT generate_series(1, 3);",
        "app");
    gw_ = new ApprovalGateway(w, testbed::free_port());
    if (!testbed::wait_for_text(gw_->log, "gatehouse admin listening", 30s))
      throw std::runtime_error("no admin API: " + testbed::read_file(gw_->log));
  }
  static void TearDownTestSuite() {
    delete gw_;
    gw_ = nullptr;
  }
  static ApprovalGateway* gw_;
  const World& w() const { return World::get(); }
  std::string agent() const { return w().idp->mint("agent-7", {"ai-agents"}); }
  std::string carol() const { return w().idp->mint("carol", {"compliance", "dba"}); }
  std::string dave() const { return w().idp->mint("dave", {"compliance"}); }
  std::string admin() const {
    return w().idp->mint("root-admin", {"platform-admins", "compliance"});
  }
  std::string patients_count() const {
    auto c = gw_->connect(carol());
    return scalar(c.get(), "SELECT count(*) FROM public.jit_patients");
  }
};
ApprovalGateway* Approvals::gw_ = nullptr;

// psql runs in the background, a process of its own started from this thread
// (forking from a second thread while this one allocates can hang the child);
// the approvers act from other processes.
struct HeldPsql {
  std::string log;
  testbed::Process process;
  // Waits for psql to finish; its output, and its exit code from the shell's last line.
  testbed::RunResult get(std::chrono::seconds timeout = 60s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (process.running() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms);
    process.stop();
    testbed::RunResult r;
    r.output = testbed::read_file(log);
    auto at = r.output.rfind("exit=");
    if (at != std::string::npos) r.exit_code = std::atoi(r.output.c_str() + at + 5);
    return r;
  }
  bool finished() { return !process.running(); }
};

std::unique_ptr<HeldPsql> psql_async(const ApprovalGateway& gw, const std::string& token,
                                     const std::string& sql) {
  static int n = 0;
  auto h = std::make_unique<HeldPsql>();
  h->log = gw.dir + "/held-psql-" + std::to_string(++n) + ".log";
  h->process = testbed::Process::start(
      {"sh", "-c", "psql -X -A -t -v ON_ERROR_STOP=1 -c \"$1\"; echo exit=$?", "psql", sql}, h->log,
      gw.psql_env(token));
  return h;
}

std::string wait_for_pending(const ApprovalGateway& gw, const std::string& token,
                             const std::string& rule) {
  for (int i = 0; i < 100; ++i) {
    auto r = gw.cli({"reviews", "list", "--status", "pending", "--json"}, token);
    auto j = nlohmann::json::parse(r.output, nullptr, false);
    if (j.is_array())
      for (const auto& x : j)
        if (x.value("rule", "") == rule) return x.value("id", "");
    std::this_thread::sleep_for(100ms);
  }
  return "";
}

TEST_F(Approvals, WaitModeHoldsTheStatementUntilTwoDistinctApproversSayYes) {
  auto held = psql_async(*gw_, agent(), "DELETE FROM public.jit_patients WHERE id = 1");
  const std::string id = wait_for_pending(*gw_, carol(), "regulated");
  ASSERT_FALSE(id.empty()) << testbed::read_file(gw_->log);
  // Another session is not blocked meanwhile.
  EXPECT_EQ(patients_count(), "5");

  // The requester cannot approve; nor can someone outside the approver groups.
  auto self = gw_->cli({"reviews", "approve", id}, agent());
  EXPECT_NE(self.exit_code, 0);
  EXPECT_NE(self.output.find("your own request"), std::string::npos) << self.output;
  auto outsider = gw_->cli({"reviews", "approve", id}, w().idp->mint("eve", {"ai-agents"}));
  EXPECT_NE(outsider.exit_code, 0);

  // The same person counts once, whichever of their groups they approve through.
  auto first = gw_->cli({"reviews", "approve", id, "--reason", "ticket 42"}, carol());
  ASSERT_EQ(first.exit_code, 0) << first.output;
  auto again = gw_->cli({"reviews", "approve", id}, carol());
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.output.find("already"), std::string::npos) << again.output;
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(held->finished()) << "released after one approval";
  EXPECT_EQ(patients_count(), "5");

  const auto approved_at = std::chrono::steady_clock::now();
  auto second = gw_->cli({"reviews", "approve", id}, dave());
  ASSERT_EQ(second.exit_code, 0) << second.output;
  auto r = held->get();
  const auto released = std::chrono::steady_clock::now() - approved_at;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("held for approval (regulated): request " + id), std::string::npos)
      << r.output;
  EXPECT_LT(released, 2s);  // includes the CLI process exiting; the release itself is a post
  EXPECT_EQ(patients_count(), "4");

  auto show = gw_->cli({"reviews", "show", id, "--json"}, carol());
  auto j = nlohmann::json::parse(show.output, nullptr, false);
  ASSERT_TRUE(j.is_object()) << show.output;
  EXPECT_EQ(j["status"], "used");
  EXPECT_EQ(j["approvals"], nlohmann::json::array({"carol", "dave"}));
  EXPECT_EQ(j["requester"], "agent-7");

  auto events = gw_->audit("SELECT event FROM approval_events WHERE request_id = '" + id +
                           "' ORDER BY rowid");
  std::vector<std::string> names;
  for (const auto& e : events) names.push_back(e[0]);
  EXPECT_EQ(names,
            (std::vector<std::string>{"created", "reviewed", "reviewed", "decided", "used"}));
  std::vector<audit::StatementRecord> ran;
  for (auto& st : gw_->statements())
    if (st.approval_id == id) ran.push_back(std::move(st));
  ASSERT_EQ(ran.size(), 1u);
  EXPECT_EQ(ran[0].outcome, "ok");
}

TEST_F(Approvals, AdminCannotApproveTheirOwnRequest) {
  auto held = psql_async(*gw_, admin(), "UPDATE public.jit_patients SET name = 'x' WHERE id = 2");
  const std::string id = wait_for_pending(*gw_, admin(), "regulated");
  ASSERT_FALSE(id.empty());
  auto self = gw_->cli({"reviews", "approve", id}, admin());
  EXPECT_NE(self.exit_code, 0);
  EXPECT_NE(self.output.find("your own request"), std::string::npos) << self.output;
  auto deny = gw_->cli({"reviews", "deny", id, "--reason", "not during the freeze"}, carol());
  ASSERT_EQ(deny.exit_code, 0) << deny.output;
  auto r = held->get();
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("was denied (regulated)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("not during the freeze"), std::string::npos) << r.output;
  auto c = gw_->connect(carol());
  EXPECT_EQ(scalar(c.get(), "SELECT name FROM public.jit_patients WHERE id = 2"), "p2");
}

TEST_F(Approvals, ClientThatDisconnectsWhileWaitingWithdrawsItsRequest) {
  auto env = gw_->psql_env(agent());
  auto p =
      testbed::Process::start({"psql", "-X", "-c", "DELETE FROM public.jit_patients WHERE id = 3"},
                              gw_->dir + "/psql-withdraw.log", env);
  const std::string id = wait_for_pending(*gw_, carol(), "regulated");
  ASSERT_FALSE(id.empty());
  p.signal(SIGKILL);
  p.stop();
  std::string status;
  for (int i = 0; i < 50 && status != "withdrawn"; ++i) {
    std::this_thread::sleep_for(100ms);
    auto j = nlohmann::json::parse(gw_->cli({"reviews", "show", id, "--json"}, carol()).output,
                                   nullptr, false);
    if (j.is_object()) status = j.value("status", "");
  }
  EXPECT_EQ(status, "withdrawn");
  auto late = gw_->cli({"reviews", "approve", id}, carol());
  EXPECT_NE(late.exit_code, 0);
  auto withdrawn = gw_->audit("SELECT detail FROM approval_events WHERE request_id = '" + id +
                              "' AND event = 'withdrawn'");
  ASSERT_EQ(withdrawn.size(), 1u);
  EXPECT_NE(withdrawn[0][0].find("disconnected"), std::string::npos);
}

TEST_F(Approvals, CancelWhileHeldWithdrawsTheRequestAndTheStatementNeverRuns) {
  auto c = gw_->connect(agent());
  ASSERT_EQ(PQsendQuery(c.get(), "DELETE FROM public.jit_patients WHERE id = 5"), 1);
  const std::string id = wait_for_pending(*gw_, carol(), "regulated");
  ASSERT_FALSE(id.empty());
  PGcancel* cancel = PQgetCancel(c.get());
  char err[256];
  ASSERT_EQ(PQcancel(cancel, err, sizeof err), 1) << err;
  PQfreeCancel(cancel);
  Result r(PQgetResult(c.get()));
  EXPECT_EQ(sqlstate(r.get()), "57014") << PQresultErrorMessage(r.get());
  while (PGresult* more = PQgetResult(c.get())) PQclear(more);
  auto j = nlohmann::json::parse(gw_->cli({"reviews", "show", id, "--json"}, carol()).output,
                                 nullptr, false);
  EXPECT_EQ(j.value("status", ""), "withdrawn");
  // The session goes on, and the row is still there.
  EXPECT_EQ(scalar(c.get(), "SELECT count(*) FROM public.jit_patients WHERE id = 5"), "1");
}

TEST_F(Approvals, StatementNotApprovedWithinTheTimeoutFailsAndNeverRuns) {
  auto r = testbed::run({"psql", "-X", "-A", "-t", "-c", "DELETE FROM public.jit_timeout"},
                        gw_->psql_env(agent()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("held for approval (slow-review)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("was not approved in time; the statement did not run"), std::string::npos)
      << r.output;
  const std::string id = request_id(r.output);
  auto events = gw_->audit("SELECT event FROM approval_events WHERE request_id = '" + id +
                           "' ORDER BY rowid");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1][0], "withdrawn");
  auto c = gw_->connect(carol());
  EXPECT_EQ(scalar(c.get(), "SELECT count(*) FROM public.jit_timeout"), "1");
}

TEST_F(Approvals, RejectModeNamesTheRequestAndTheRetryRunsOnceGranted) {
  auto env = gw_->psql_env(agent());
  const std::string sql = "SELECT count(*) FROM public.jit_export";
  auto first = testbed::run({"psql", "-X", "-A", "-t", "-c", sql}, env);
  EXPECT_NE(first.exit_code, 0);
  EXPECT_NE(first.output.find("approval required (export): request r-"), std::string::npos)
      << first.output;
  EXPECT_NE(first.output.find("gatehouse reviews approve"), std::string::npos) << first.output;
  const std::string id = request_id(first.output);
  ASSERT_FALSE(id.empty());
  // A retry before approval names the same request.
  auto retry = testbed::run({"psql", "-X", "-A", "-t", "-c", sql}, env);
  EXPECT_EQ(request_id(retry.output), id) << retry.output;

  ASSERT_EQ(gw_->cli({"reviews", "approve", id}, carol()).exit_code, 0);
  // An altered statement is a new request, not covered by the grant.
  auto altered = testbed::run({"psql", "-X", "-A", "-t", "-c", sql + " "}, env);
  EXPECT_NE(altered.exit_code, 0);
  EXPECT_NE(request_id(altered.output), id);
  // The exact statement runs once.
  auto ok = testbed::run({"psql", "-X", "-A", "-t", "-c", sql}, env);
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_EQ(ok.output.substr(0, 1), "3");
  auto twice = testbed::run({"psql", "-X", "-A", "-t", "-c", sql}, env);
  EXPECT_NE(twice.exit_code, 0) << "a once grant ran twice";
}

TEST_F(Approvals, ExtendedProtocolGrantIsBoundToTheParameters) {
  auto c = gw_->connect(agent());
  const char* sql = "SELECT count(*) FROM public.jit_export WHERE id <= $1";
  auto exec = [&](const char* v) {
    const char* params[] = {v};
    return Result(PQexecParams(c.get(), sql, 1, nullptr, params, nullptr, nullptr, 0));
  };
  auto r1 = exec("2");
  ASSERT_EQ(PQresultStatus(r1.get()), PGRES_FATAL_ERROR);
  const std::string id = request_id(PQresultErrorMessage(r1.get()));
  ASSERT_FALSE(id.empty()) << PQresultErrorMessage(r1.get());
  ASSERT_EQ(gw_->cli({"reviews", "approve", id}, carol()).exit_code, 0);
  auto other = exec("3");  // another parameter value: another request
  EXPECT_EQ(PQresultStatus(other.get()), PGRES_FATAL_ERROR);
  EXPECT_NE(request_id(PQresultErrorMessage(other.get())), id);
  auto granted = exec("2");
  ASSERT_EQ(PQresultStatus(granted.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(granted.get());
  EXPECT_EQ(std::string(PQgetvalue(granted.get(), 0, 0)), "2");
}

TEST_F(Approvals, RowThresholdWithholdsAnOversizedResultAndTheApprovedRerunDeliversItWhole) {
  auto env = gw_->psql_env(agent());
  const std::string sql = "SELECT id, label FROM public.jit_rows ORDER BY id";
  auto first = testbed::run({"psql", "-X", "-A", "-t", "-c", sql}, env);
  EXPECT_NE(first.exit_code, 0);
  EXPECT_NE(first.output.find("approval required (bulk-rows): the result has more than 10 rows"),
            std::string::npos)
      << first.output;
  EXPECT_NE(first.output.find("gatehouse reviews approve"), std::string::npos) << first.output;
  // Nothing of the oversized result reached the client, not even its first rows.
  EXPECT_EQ(first.output.find("row-"), std::string::npos) << first.output;
  const std::string id = request_id(first.output);
  ASSERT_FALSE(id.empty()) << first.output;

  // A result under the threshold goes through untouched.
  auto small = testbed::run(
      {"psql", "-X", "-A", "-t", "-c", "SELECT label FROM public.jit_rows WHERE id <= 10"}, env);
  EXPECT_EQ(small.exit_code, 0) << small.output;
  EXPECT_NE(small.output.find("row-10"), std::string::npos) << small.output;
  // COPY TO STDOUT is a result too.
  auto copy = testbed::run(
      {"psql", "-X", "-A", "-t", "-c", "COPY (SELECT * FROM public.jit_rows) TO STDOUT"}, env);
  EXPECT_NE(copy.exit_code, 0) << copy.output;
  EXPECT_EQ(copy.output.find("row-"), std::string::npos) << copy.output;
  EXPECT_NE(copy.output.find("approval required (bulk-rows)"), std::string::npos) << copy.output;

  // The requester cannot approve it; an approver can, and the same statement
  // then delivers its whole result, once.
  EXPECT_NE(gw_->cli({"reviews", "approve", id}, agent()).exit_code, 0);
  ASSERT_EQ(gw_->cli({"reviews", "approve", id}, carol()).exit_code, 0);
  auto whole = testbed::run({"psql", "-X", "-A", "-t", "-c", sql}, env);
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  EXPECT_NE(whole.output.find("1|row-1\n"), std::string::npos) << whole.output;
  EXPECT_NE(whole.output.find("25|row-25"), std::string::npos) << whole.output;
  auto again = testbed::run({"psql", "-X", "-A", "-t", "-c", sql}, env);
  EXPECT_NE(again.exit_code, 0) << "a once grant delivered twice";
  EXPECT_EQ(again.output.find("row-"), std::string::npos) << again.output;

  std::vector<audit::StatementRecord> rows;  // oldest first
  for (auto& st : gw_->statements())
    if (st.approval_id == id) rows.push_back(std::move(st));
  ASSERT_GE(rows.size(), 2u);
  EXPECT_EQ(rows.front().outcome, "denied");
  EXPECT_EQ(rows.front().rule, "bulk-rows");
  EXPECT_EQ(rows.back().outcome, "ok");
}

TEST_F(Approvals, RowThresholdCancelsTheUpstreamQuery) {
  // 50 million rows would stream for many seconds; crossing 1000 cancels it.
  auto c = gw_->connect(w().idp->mint("row-tester", {"ai-agents"}));
  const auto started = std::chrono::steady_clock::now();
  Result r(PQexec(c.get(), "SELECT g, 'gatehouse-row-probe' FROM generate_series(1, 50000000) g"));
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(PQresultStatus(r.get()), PGRES_FATAL_ERROR);
  EXPECT_EQ(sqlstate(r.get()), "42501");
  EXPECT_NE(std::string(PQresultErrorMessage(r.get())).find("more than 1000 rows"),
            std::string::npos);
  EXPECT_LT(took, 10s);
  // The server is not still producing it, and the session goes on.
  auto admin_conn = [&] {
    return w().pg.sql(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query "
        "LIKE '%gatehouse-row-probe%' AND pid <> pg_backend_pid()");
  };
  std::string active = admin_conn();
  for (int i = 0; i < 50 && active.find('0') != 0; ++i) {
    std::this_thread::sleep_for(100ms);
    active = admin_conn();
  }
  EXPECT_EQ(active.substr(0, 1), "0") << active;
  EXPECT_EQ(scalar(c.get(), "SELECT count(*) FROM generate_series(1, 2000)"), "2000");
}

TEST_F(Approvals, RowThresholdOnTheExtendedProtocolIsBoundToTheParameters) {
  auto c = gw_->connect(agent());
  const char* sql = "SELECT label FROM public.jit_rows WHERE id > $1 ORDER BY id";
  auto exec = [&](const char* v) {
    const char* params[] = {v};
    return Result(PQexecParams(c.get(), sql, 1, nullptr, params, nullptr, nullptr, 0));
  };
  auto small = exec("20");  // 5 rows
  ASSERT_EQ(PQresultStatus(small.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(small.get());
  EXPECT_EQ(PQntuples(small.get()), 5);
  auto big = exec("2");  // 23 rows
  ASSERT_EQ(PQresultStatus(big.get()), PGRES_FATAL_ERROR);
  EXPECT_EQ(PQntuples(big.get()), 0);
  const std::string id = request_id(PQresultErrorMessage(big.get()));
  ASSERT_FALSE(id.empty()) << PQresultErrorMessage(big.get());
  ASSERT_EQ(gw_->cli({"reviews", "approve", id}, carol()).exit_code, 0);
  auto other = exec("1");  // another parameter: another request
  EXPECT_EQ(PQresultStatus(other.get()), PGRES_FATAL_ERROR);
  EXPECT_NE(request_id(PQresultErrorMessage(other.get())), id);
  auto granted = exec("2");
  ASSERT_EQ(PQresultStatus(granted.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(granted.get());
  EXPECT_EQ(PQntuples(granted.get()), 23);
  // The session is usable after all of it.
  EXPECT_EQ(scalar(c.get(), "SELECT 1"), "1");
}

TEST_F(Approvals, SessionsReplayAndAuditSearchThroughTheCliSeeOnlyWhatTheCallerMay) {
  const std::string who = "replay-" + std::to_string(::getpid());
  const std::string token = w().idp->mint(who, {"ai-agents"});
  {
    auto c = gw_->connect(token);
    // Other tests change the table: only that it ran matters here.
    EXPECT_FALSE(scalar(c.get(), "SELECT count(*) FROM public.jit_patients WHERE id > 0").empty());
    // An admin-class function: no access rule here grants `admin`.
    Result denied(PQexec(c.get(), "SELECT pg_reload_conf()"));
    EXPECT_EQ(PQresultStatus(denied.get()), PGRES_FATAL_ERROR);
    // With parameters: the replay shows what it was bound with.
    const char* params[2] = {"41", nullptr};
    Result bound(PQexecParams(c.get(), "SELECT $1::int + 1, $2::text", 2, nullptr, params, nullptr,
                              nullptr, 0));
    EXPECT_EQ(PQresultStatus(bound.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(bound.get());
  }
  // The session's end is recorded once the recorder flushed.
  std::string id;
  for (int i = 0; i < 50 && id.empty(); ++i) {
    auto list = gw_->cli({"sessions", "list", "--json"}, token);
    auto j = nlohmann::json::parse(list.output, nullptr, false);
    if (j.is_array() && !j.empty() && !j[0].value("ended_at", "").empty())
      id = j[0].value("id", "");
    if (id.empty()) std::this_thread::sleep_for(100ms);
  }
  ASSERT_FALSE(id.empty());
  // A caller lists only their own sessions.
  auto mine = nlohmann::json::parse(gw_->cli({"sessions", "list", "--json"}, token).output);
  for (const auto& s : mine) EXPECT_EQ(s.value("identity", ""), who);

  auto replay = gw_->cli({"sessions", "replay", id}, token);
  ASSERT_EQ(replay.exit_code, 0) << replay.output;
  EXPECT_NE(replay.output.find("session " + id + "  " + who), std::string::npos) << replay.output;
  EXPECT_NE(replay.output.find("SELECT count(*) FROM public.jit_patients WHERE id > 0"),
            std::string::npos)
      << replay.output;
  EXPECT_NE(replay.output.find("DENY ("), std::string::npos) << replay.output;
  EXPECT_NE(replay.output.find("ERROR 42501"), std::string::npos) << replay.output;
  EXPECT_NE(replay.output.find("params: 41, NULL"), std::string::npos) << replay.output;

  // Someone else's sessions: refused to a caller, open to an admin.
  auto other = gw_->cli({"audit", "search", "--identity", "carol"}, token);
  EXPECT_NE(other.exit_code, 0);
  EXPECT_NE(other.output.find("only your own"), std::string::npos) << other.output;
  EXPECT_NE(gw_->cli({"sessions", "show", id}, carol()).exit_code, 0);
  auto jsonl = [&](const std::vector<std::string>& filters) {
    std::vector<std::string> args{"audit", "search", "--identity", who, "--format", "jsonl"};
    args.insert(args.end(), filters.begin(), filters.end());
    auto r = gw_->cli(args, admin());
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::vector<std::string> texts;
    std::istringstream lines(r.output);
    for (std::string line; std::getline(lines, line);) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      EXPECT_TRUE(j.is_object()) << line;
      if (!j.is_object()) continue;
      EXPECT_EQ(j.value("identity", ""), who);
      texts.push_back(j.value("text", ""));
    }
    return texts;
  };
  EXPECT_EQ(jsonl({"--decision", "deny"}), std::vector<std::string>{"SELECT pg_reload_conf()"});
  EXPECT_EQ(jsonl({"--table", "public.jit_patients"}),
            std::vector<std::string>{"SELECT count(*) FROM public.jit_patients WHERE id > 0"});
  EXPECT_EQ(jsonl({"--text", "reload_conf", "--kind", "select"}).size(), 1u);
  auto bad = gw_->cli({"audit", "search", "--since", "yesterday"}, admin());
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("since/until"), std::string::npos) << bad.output;
}

TEST_F(Approvals, AccessWindowOpensOnApprovalAndClosesOpenSessions) {
  auto env = gw_->psql_env(agent());
  env["PGDATABASE"] = "prod";
  auto refused = testbed::run({"psql", "-X", "-A", "-t", "-c", "SELECT 1"}, env);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("access to prod needs approval (prod-window): request r-"),
            std::string::npos)
      << refused.output;
  const std::string id = request_id(refused.output);
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(gw_->cli({"reviews", "approve", id}, carol()).exit_code, 0);
  // Admitted now; the window (3 s) then ends and the open session is told and closed.
  Conn c(PQconnectdb(
      (gw_->conninfo(agent()).replace(gw_->conninfo(agent()).find("dbname=app"), 10, "dbname=prod"))
          .c_str()));
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  EXPECT_EQ(scalar(c.get(), "SELECT 1"), "1");
  std::this_thread::sleep_for(4s);
  Result after(PQexec(c.get(), "SELECT 1"));
  EXPECT_NE(PQresultStatus(after.get()), PGRES_TUPLES_OK);
  EXPECT_NE(std::string(PQerrorMessage(c.get())).find("access window"), std::string::npos)
      << PQerrorMessage(c.get());
  // And new sessions need a new window.
  auto again = testbed::run({"psql", "-X", "-A", "-t", "-c", "SELECT 1"}, env);
  EXPECT_NE(again.exit_code, 0);

  // `gatehouse access request` asks ahead of time, no longer than the rule grants.
  auto ahead = gw_->cli(
      {"access", "request", "prod", "--for", "8h", "--reason", "deploy", "--json"}, agent());
  ASSERT_EQ(ahead.exit_code, 0) << ahead.output;
  auto j = nlohmann::json::parse(ahead.output, nullptr, false);
  EXPECT_EQ(j.value("grant", ""), "3s");
  EXPECT_EQ(j.value("reason", ""), "deploy");
}

TEST_F(Approvals, GatewayTokensIssuedByAdminsExchangedNeverWiderAndPublished) {
  auto refused = gw_->cli({"token", "issue", "--subject", "ci-job", "--ttl", "5m"}, agent());
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("only admins"), std::string::npos) << refused.output;

  auto issued = gw_->cli({"token", "issue", "--subject", "ci-job", "--groups", "ai-agents", "--ttl",
                          "5m", "--connection", "app", "--json"},
                         admin());
  ASSERT_EQ(issued.exit_code, 0) << issued.output;
  auto j = nlohmann::json::parse(issued.output, nullptr, false);
  const std::string token = j.value("token", "");
  ASSERT_FALSE(token.empty());
  // The token works at the gateway, for its connection only.
  auto c = gw_->connect(token);
  EXPECT_EQ(scalar(c.get(), "SELECT 1"), "1");
  Conn prod(PQconnectdb(
      (gw_->conninfo(token).replace(gw_->conninfo(token).find("dbname=app"), 10, "dbname=prod"))
          .c_str()));
  EXPECT_NE(PQstatus(prod.get()), CONNECTION_OK);
  // Never longer than identity.gateway_tokens.max_ttl (1h by default).
  auto too_long = gw_->cli({"token", "issue", "--subject", "x", "--ttl", "2h"}, admin());
  EXPECT_NE(too_long.exit_code, 0);

  // Exchange: an IdP token in, a narrower gateway token out.
  auto ex = gw_->cli({"token", "exchange", "--groups", "nope", "--json"}, agent());
  EXPECT_NE(ex.exit_code, 0);
  auto ok = gw_->cli({"token", "exchange", "--ttl", "10m", "--json"}, agent());
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  auto ej = nlohmann::json::parse(ok.output, nullptr, false);
  EXPECT_EQ(ej.value("subject", ""), "agent-7");
  auto again = gw_->cli({"token", "exchange"}, ej.value("token", ""));
  EXPECT_NE(again.exit_code, 0) << "a gateway token was exchanged again";

  // Rotation: the new key signs, the old tokens still verify.
  auto rot = gw_->cli({"token", "rotate-key"}, admin());
  ASSERT_EQ(rot.exit_code, 0) << rot.output;
  auto c2 = gw_->connect(token);
  EXPECT_EQ(scalar(c2.get(), "SELECT 1"), "1");
  // The published keys: the new one and the one before it, without a token.
  auto jwks =
      admin::api_call({gw_->url(), "", w().dir + "/gw.crt"}, "GET", "/.well-known/jwks.json");
  ASSERT_TRUE(jwks) << jwks.error();
  EXPECT_EQ(jwks->status, 200);
  auto keys = nlohmann::json::parse(jwks->body, nullptr, false);
  ASSERT_TRUE(keys.is_object()) << jwks->body;
  EXPECT_EQ(keys["keys"].size(), 2u);
  auto audit = gw_->audit("SELECT action, subject FROM token_events ORDER BY rowid");
  ASSERT_GE(audit.size(), 3u);
  EXPECT_EQ(audit[0][0], "issued");
  // Never the token itself.
  auto leaked = gw_->audit("SELECT count(*) FROM token_events WHERE token_hash = '" + token + "'");
  EXPECT_EQ(leaked[0][0], "0");
}

}  // namespace
}  // namespace gh::it
