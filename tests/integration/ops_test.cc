// Operating a gateway end to end: readiness and health on the admin listener,
// the Prometheus page counting real libpq statements and sessions, the
// OpenAPI document, and a log file of JSON lines (stdout's one-line
// announcements for scripts aside) that never holds the caller's token.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "admin/client.h"
#include "tests/integration/harness.h"

namespace gh::it {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

struct OpsGateway : OwnGateway {
  int admin_port;
  OpsGateway(const World& w, int admin)
      : OwnGateway("gatehouse-ops",
                   [&w, admin](int p) {
                     std::string y = OwnGateway::base_yaml(w, "gw-ops", p, false);
                     // Plain HTTP on loopback: what a local Prometheus scrapes.
                     const std::string anchor = "  log_level: debug\n";
                     y.insert(y.find(anchor) + anchor.size(),
                              "  admin: {listen: \"127.0.0.1:" + std::to_string(admin) +
                                  "\", tls: off}\n");
                     return y + R"(access:
  - name: agents-read
    groups: [ai-agents]
    connections: [app]
    actions: [read]
)";
                   }),
        admin_port(admin) {}

  admin::ApiReply get(const std::string& path) const {
    auto reply =
        admin::api_call({"http://127.0.0.1:" + std::to_string(admin_port), "", ""}, "GET", path);
    if (!reply) throw std::runtime_error(reply.error());
    return *reply;
  }

  // name{labels} → value of every sample on /metrics.
  std::map<std::string, double> metrics() const {
    auto reply = get("/metrics");
    EXPECT_EQ(reply.status, 200) << reply.body;
    std::map<std::string, double> out;
    std::istringstream in(reply.body);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      const auto space = line.rfind(' ');
      out[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
    return out;
  }
};

class Ops : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gw_ = new OpsGateway(World::get(), testbed::free_port());
    if (!testbed::wait_for_text(gw_->log, "gatehouse admin listening", 30s))
      throw std::runtime_error("no admin listener: " + testbed::read_file(gw_->log));
  }
  static void TearDownTestSuite() {
    delete gw_;
    gw_ = nullptr;
  }
  static OpsGateway* gw_;
};
OpsGateway* Ops::gw_ = nullptr;

TEST_F(Ops, ReadyAndHealthyOnceUpWithoutAToken) {
  auto ready = gw_->get("/readyz");
  ASSERT_EQ(ready.status, 200) << ready.body;
  const Json j = Json::parse(ready.body);
  EXPECT_EQ(j.at("status"), "ready");
  for (const char* check : {"audit", "policy", "listeners"})
    EXPECT_EQ(j.at("checks").at(check).at("ok"), true) << check;
  EXPECT_EQ(gw_->get("/healthz").status, 200);

  auto doc = gw_->get("/v1/openapi.json");
  ASSERT_EQ(doc.status, 200);
  EXPECT_TRUE(Json::parse(doc.body).at("paths").contains("/readyz"));
}

TEST_F(Ops, MetricsCountStatementsSessionsAndHowLongTheyTook) {
  const std::string token = World::get().agent_token();
  const auto before = gw_->metrics();
  // How much a sample grew since `before`.
  auto grew = [&before](const std::map<std::string, double>& now, const std::string& sample) {
    return now.at(sample) - before.at(sample);
  };
  const std::string allow = "{decision=\"allow\"}";
  {
    auto c = gw_->connect(token);
    for (int i = 0; i < 3; ++i)
      EXPECT_EQ(scalar(c.get(), "SELECT " + std::to_string(i)), std::to_string(i));
    Result denied(PQexec(c.get(), "CREATE TABLE ops_nope(id int)"));  // ddl: not granted
    EXPECT_EQ(sqlstate(denied.get()), "42501");
    const auto during = gw_->metrics();
    EXPECT_GE(during.at("gatehouse_sessions_active"), 1);
    EXPECT_GE(during.at("gatehouse_client_connections_open"), 1);
    EXPECT_EQ(grew(during, "gatehouse_statements_total" + allow), 3);
    EXPECT_EQ(grew(during, "gatehouse_statements_total{decision=\"deny\"}"), 1);
    EXPECT_EQ(grew(during, "gatehouse_statement_decision_seconds_count" + allow), 3);
    EXPECT_GT(grew(during, "gatehouse_statement_decision_seconds_sum" + allow), 0);
    EXPECT_EQ(
        during.at("gatehouse_statement_decision_seconds_bucket{decision=\"allow\",le=\"+Inf\"}"),
        during.at("gatehouse_statement_decision_seconds_count" + allow));
    EXPECT_EQ(grew(during, "gatehouse_sessions_started_total"), 1);
    EXPECT_EQ(grew(during, "gatehouse_session_startup_seconds_count"), 1);
  }
  // A refused login counts, and takes no startup time sample.
  auto refused = PQconnectdb(gw_->conninfo("not-a-token").c_str());
  EXPECT_EQ(PQstatus(refused), CONNECTION_BAD);
  PQfinish(refused);
  auto after = gw_->metrics();
  // The audit writer commits on its own schedule (asynchronously, in
  // batches): wait for it, bounded, before reading what it wrote.
  for (int i = 0; i < 100 && after.at("gatehouse_audit_events_written_total") == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    after = gw_->metrics();
  }
  EXPECT_EQ(grew(after, "gatehouse_sessions_refused_total"), 1);
  EXPECT_EQ(grew(after, "gatehouse_session_startup_seconds_count"), 1);
  EXPECT_EQ(after.at("gatehouse_policy_version"), 1);
  EXPECT_EQ(after.at("gatehouse_audit_accepting"), 1);
  EXPECT_GT(after.at("gatehouse_audit_events_written_total"), 0);

  const auto page = gw_->get("/metrics").body;
  EXPECT_EQ(page.find(token), std::string::npos);
  EXPECT_NE(page.find("# TYPE gatehouse_statement_decision_seconds histogram"), std::string::npos);
}

TEST_F(Ops, TheLogIsJsonLinesWithoutSecrets) {
  const std::string token = World::get().agent_token();
  {
    auto c = gw_->connect(token);
    EXPECT_EQ(scalar(c.get(), "SELECT 'a \"quoted\" value'"), "a \"quoted\" value");
  }
  ASSERT_TRUE(testbed::wait_for_text(gw_->log, "ended", 10s));
  std::istringstream in(testbed::read_file(gw_->log));
  std::string line;
  int json_lines = 0, session_lines = 0;
  while (std::getline(in, line)) {
    // stdout's announcements for scripts share the file: they stay plain.
    if (line.starts_with("gatehouse listening ") || line.starts_with("gatehouse admin listening "))
      continue;
    const Json j = Json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not a JSON line: " << line;
    for (const char* field : {"ts", "level", "logger", "thread", "replica", "msg"})
      EXPECT_TRUE(j.contains(field)) << field << " missing: " << line;
    EXPECT_EQ(j.at("replica"), "gw-ops");
    ++json_lines;
    if (j.at("msg").get<std::string>().find("started: agent-7") != std::string::npos)
      ++session_lines;
  }
  EXPECT_GT(json_lines, 3);
  EXPECT_GE(session_lines, 1);
  EXPECT_EQ(testbed::read_file(gw_->log).find(token), std::string::npos);
}

}  // namespace
}  // namespace gh::it
