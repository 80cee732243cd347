// The admin API's router against a real Services (no sockets): every route it
// answers is in the OpenAPI document and every documented route is answered;
// /readyz names what is not ready; /metrics is open or needs a token as
// configured, and is valid Prometheus text.
#include "admin/api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <ctime>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "admin/openapi.h"
#include "testbed/idp.h"
#include "testbed/process.h"

namespace gh::admin {
namespace {

using Json = nlohmann::json;
using ::testing::HasSubstr;

// A store that refuses every batch: the recorder stops accepting.
class FailingStore final : public audit::Store {
 public:
  Status<> write_batch(std::span<const model::AuditEvent>) override {
    return unexpected(std::string("disk full"));
  }
};

class ApiTest : public ::testing::Test {
 protected:
  void TearDown() override {
    api_.reset();
    services_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // A gateway's services from a small config; `admin_extra` goes under gateway.admin.
  void start(const std::string& admin_extra = "",
             std::unique_ptr<audit::Recorder> recorder = nullptr) {
    dir_ = testbed::make_temp_dir("gh-admin-api");
    testbed::write_file(dir_ + "/jwks.json", idp_.jwks());
    const std::string yaml = R"(gateway:
  id: gw-api
  data_dir: ./var
  admin:
    listen: 127.0.0.1:8443
    tls: off
)" + admin_extra + R"(identity:
  issuers:
    - name: test-idp
      issuer: https://idp.test/
      audience: gatehouse
      jwks_file: jwks.json
listeners:
  - name: pg
    protocol: postgres
    listen: 127.0.0.1:15432
    tls: optional
connections:
  - name: app
    protocol: postgres
    upstream: {host: 127.0.0.1}
    credentials: {user: app, password_env: APP_PW}
access: []
roles:
  admins: [platform-admins]
  auditors: [auditors]
)";
    auto cfg = config::load_string(yaml, dir_ + "/gatehouse.yaml", [](const std::string&) {
      return std::optional<std::string>("pw");
    });
    ASSERT_TRUE(cfg.has_value()) << cfg.error().front().to_string();
    auto verifier =
        identity::TokenVerifier::create(cfg->issuers, cfg->verifier, SystemClock::instance());
    ASSERT_TRUE(verifier.has_value());
    services_ =
        std::make_unique<gateway::Services>(std::make_shared<const config::Config>(std::move(*cfg)),
                                            std::move(*verifier), std::move(recorder));
    api_ = std::make_unique<Api>(*services_);
  }

  HttpResponse call(const std::string& method, const std::string& target,
                    const std::string& token = "", const std::string& body = "") {
    return api_->handle(HttpRequest{method, target, body, token, "127.0.0.1"});
  }

  std::string admin_token() const { return idp_.mint("root", {"platform-admins"}); }
  std::string someone() const { return idp_.mint("agent-7", {"ai-agents"}); }

  testbed::TestIdp idp_{"https://idp.test/", "gatehouse"};
  std::string dir_;
  std::unique_ptr<gateway::Services> services_;
  std::unique_ptr<Api> api_;
};

std::string method_upper(std::string m) {
  for (char& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return m;
}

// --- The router and its description -------------------------------------------

TEST(OpenApi, NamesExactlyTheRoutesTheRouterAnswers) {
  const Json doc = Json::parse(openapi_json());
  std::set<std::string> documented;
  for (const auto& [path, item] : doc.at("paths").items())
    for (const auto& [method, op] : item.items())
      if (method != "parameters") documented.insert(method_upper(method) + " " + path);
  std::set<std::string> routed;
  for (const Route& r : routes())
    EXPECT_TRUE(routed.insert(std::string(r.method) + " " + std::string(r.path)).second)
        << "routed twice: " << r.method << " " << r.path;
  EXPECT_EQ(routed, documented);
}

TEST(OpenApi, SecurityOfEachOperationMatchesItsRoute) {
  const Json doc = Json::parse(openapi_json());
  ASSERT_EQ(doc.at("components").at("securitySchemes").at("bearer").at("scheme"), "bearer");
  EXPECT_EQ(doc.at("security"), Json::parse(R"([{"bearer": []}])"));
  for (const Route& r : routes()) {
    std::string method(r.method);
    for (char& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const Json& op = doc.at("paths").at(std::string(r.path)).at(method);
    SCOPED_TRACE(std::string(r.method) + " " + std::string(r.path));
    switch (r.access) {
      case Access::kOpen:
        EXPECT_EQ(op.at("security"), Json::array());
        break;
      case Access::kMetrics:
        EXPECT_EQ(op.at("security"), Json::parse(R"([{}, {"bearer": []}])"));
        break;
      case Access::kCaller:
        EXPECT_FALSE(op.contains("security")) << "a token is needed: the document-wide scheme";
        EXPECT_TRUE(op.at("responses").contains("401"));
        break;
    }
  }
}

// Every "$ref" points at something the document defines.
void expect_refs_resolve(const Json& doc, const Json& node) {
  if (node.is_object()) {
    if (auto ref = node.find("$ref"); ref != node.end()) {
      const std::string target = ref->get<std::string>();
      ASSERT_TRUE(target.starts_with("#/")) << target;
      EXPECT_TRUE(doc.contains(Json::json_pointer(target.substr(1)))) << "dangling " << target;
    }
    for (const auto& [k, v] : node.items()) expect_refs_resolve(doc, v);
  } else if (node.is_array()) {
    for (const auto& v : node) expect_refs_resolve(doc, v);
  }
}

TEST(OpenApi, IsAnOpenApi3DocumentWhoseReferencesResolve) {
  const Json doc = Json::parse(openapi_json());
  EXPECT_TRUE(doc.at("openapi").get<std::string>().starts_with("3.0."));
  EXPECT_FALSE(doc.at("info").at("title").get<std::string>().empty());
  expect_refs_resolve(doc, doc);
}

TEST_F(ApiTest, EveryRouteReachesItsHandler) {
  start();
  services_->set_listening(true);
  for (const Route& r : routes()) {
    const std::string target =
        std::regex_replace(std::string(r.path), std::regex("\\{id\\}"), "r-missing");
    const auto out = call(std::string(r.method), target, admin_token(), "{}");
    EXPECT_NE(out.status, 405) << target << ": " << out.body;
    EXPECT_THAT(out.body, ::testing::Not(HasSubstr("no such endpoint"))) << target;
  }
  services_->resume("test");  // POST /v1/pause held statements
}

TEST_F(ApiTest, UnknownPathsAndWrongMethodsAreRefusedBeforeAnyToken) {
  start();
  auto missing = call("GET", "/v1/nothing-here");
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(missing.body, HasSubstr("no such endpoint: GET /v1/nothing-here"));
  auto wrong = call("DELETE", "/v1/reviews/r-1");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_THAT(wrong.body, HasSubstr("use GET /v1/reviews/r-1"));
  EXPECT_EQ(call("GET", "/v1/reviews/r-1/approve").status, 405);
  EXPECT_EQ(call("GET", "/v1/reviews/").status, 404);
  EXPECT_EQ(call("GET", "/v1/reviews/r-1/approve/again").status, 404);
  EXPECT_EQ(call("GET", "/v1/reviews").status, 401);
}

// A path that is not UTF-8 once made the reply's JSON throw, and the
// connection close with no answer.
TEST_F(ApiTest, PathThatIsNotUtf8GetsAValidJsonAnswer) {
  start();
  for (const std::string path : {"/\xc3\x28", "/v1/\xff\xfe", "/\xed\xa0\x80"}) {
    auto out = call("GET", path);
    EXPECT_EQ(out.status, 404);
    auto j = Json::parse(out.body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << out.body;
    EXPECT_THAT(j.value("error", ""), HasSubstr("\xef\xbf\xbd"));  // U+FFFD in its place
  }
}

TEST_F(ApiTest, RefusedTokenIsNotToldTheConfiguredIssuersName) {
  start();
  const long now = static_cast<long>(std::time(nullptr));
  // Signed by the trusted key, for another application: refused for its audience.
  const std::string token =
      idp_.key().sign(R"({"iss":"https://idp.test/","aud":"another-app","sub":"mallory","iat":)" +
                      std::to_string(now) + R"(,"exp":)" + std::to_string(now + 600) + "}");
  auto out = call("GET", "/v1/reviews", token);
  EXPECT_EQ(out.status, 401);
  EXPECT_THAT(out.body, HasSubstr("token rejected"));
  EXPECT_EQ(out.body.find("test-idp"), std::string::npos) << out.body;
}

TEST_F(ApiTest, OpenApiDocumentIsServedWithoutToken) {
  start();
  auto out = call("GET", "/v1/openapi.json");
  ASSERT_EQ(out.status, 200);
  EXPECT_EQ(out.content_type, "application/json");
  EXPECT_EQ(Json::parse(out.body).at("info").at("title"), "gatehouse admin API");
}

// --- Readiness -------------------------------------------------------------------

TEST_F(ApiTest, ReadyOnlyOnceTheListenersAreUp) {
  start();
  auto before = call("GET", "/readyz");
  EXPECT_EQ(before.status, 503);
  const Json b = Json::parse(before.body);
  EXPECT_EQ(b.at("status"), "not ready");
  EXPECT_EQ(b.at("not_ready"), Json::parse(R"(["listeners"])"));
  EXPECT_EQ(b.at("checks").at("policy").at("ok"), true);
  EXPECT_EQ(b.at("checks").at("audit").at("detail"), "off (gateway.audit: off)");

  services_->set_listening(true);
  auto after = call("GET", "/readyz");
  EXPECT_EQ(after.status, 200) << after.body;
  EXPECT_EQ(Json::parse(after.body).at("status"), "ready");
  EXPECT_EQ(Json::parse(after.body).at("not_ready"), Json::array());
  EXPECT_EQ(call("GET", "/healthz").status, 200);
}

TEST_F(ApiTest, NotReadyWhileTheAuditStoreRefusesRecords) {
  audit::RecorderOptions options;
  options.flush_interval = std::chrono::milliseconds(1);
  options.retry_initial = std::chrono::milliseconds(1);
  options.stop_timeout = std::chrono::milliseconds(50);
  // Services records the policy load at start: that batch fails.
  start("", std::make_unique<audit::Recorder>(std::make_unique<FailingStore>(), options));
  services_->set_listening(true);
  HttpResponse out;
  for (int i = 0; i < 200 && services_->audit_accepting(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  out = call("GET", "/readyz");
  EXPECT_EQ(out.status, 503);
  const Json j = Json::parse(out.body);
  EXPECT_EQ(j.at("not_ready"), Json::parse(R"(["audit"])"));
  EXPECT_THAT(j.at("checks").at("audit").at("detail").get<std::string>(),
              HasSubstr("not accepting records"));
}

// --- Metrics ---------------------------------------------------------------------

// Checks the text exposition format: # HELP and # TYPE once per family before
// its samples, every sample `name{labels} value`, histogram buckets
// cumulative with +Inf equal to _count. Returns sample name{labels} → value.
std::map<std::string, double> parse_exposition(const std::string& text) {
  static const std::regex kSample(
      R"re(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)\})? (-?[0-9.eE+-]+|\+Inf|NaN)$)re");
  static const std::regex kHelp(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$)");
  static const std::regex kType(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$)");
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::set<std::string> helped;
  std::istringstream in(text);
  std::string line, family;
  double last_bucket = -1;
  std::string last_series;
  EXPECT_TRUE(text.ends_with("\n"));
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, kHelp)) {
      EXPECT_TRUE(helped.insert(m[1]).second) << "second HELP for " << m[1];
      family = m[1];
    } else if (std::regex_match(line, m, kType)) {
      EXPECT_EQ(m[1], family) << "TYPE without its HELP first";
      EXPECT_TRUE(types.emplace(m[1], m[2]).second) << "second TYPE for " << m[1];
    } else {
      EXPECT_TRUE(std::regex_match(line, m, kSample)) << "not a sample line: " << line;
      if (m.empty()) continue;
      const std::string name = m[1];
      EXPECT_TRUE(name == family || name == family + "_bucket" || name == family + "_sum" ||
                  name == family + "_count")
          << name << " outside its family " << family;
      const std::string value_text = m[4];
      const double value = value_text == "+Inf" ? INFINITY : std::stod(value_text);
      EXPECT_TRUE(samples.emplace(name + std::string(m[2]), value).second) << "twice: " << line;
      if (name.ends_with("_bucket")) {
        // The series without le: buckets rise and end at +Inf == _count.
        std::string series =
            std::regex_replace(std::string(m[2]), std::regex(",?le=\"[^\"]*\""), "");
        if (series != last_series) last_bucket = -1;
        EXPECT_GE(value, last_bucket) << "buckets not cumulative: " << line;
        last_bucket = value;
        last_series = series;
      }
    }
  }
  for (const auto& [name, value] : samples) {
    const auto inf = name.find("le=\"+Inf\"");
    if (inf == std::string::npos) continue;
    std::string count = std::regex_replace(name, std::regex("_bucket"), "_count");
    count = std::regex_replace(count, std::regex(",?le=\"\\+Inf\""), "");
    count = std::regex_replace(count, std::regex("\\{\\}"), "");
    auto it = samples.find(count);
    EXPECT_TRUE(it != samples.end()) << count;
    if (it != samples.end()) {
      EXPECT_EQ(it->second, value) << "+Inf differs from " << count;
    }
  }
  return samples;
}

TEST_F(ApiTest, MetricsAreOpenByDefaultAndValidExposition) {
  start();
  services_->counters().decisions.observe(gateway::Decision::kAllow, std::chrono::microseconds(40));
  services_->counters().decisions.observe(gateway::Decision::kDeny, std::chrono::milliseconds(3));
  services_->counters().session_startup.observe(std::chrono::milliseconds(20));
  auto out = call("GET", "/metrics");
  ASSERT_EQ(out.status, 200) << out.body;
  EXPECT_EQ(out.content_type, "text/plain; version=0.0.4; charset=utf-8");
  auto samples = parse_exposition(out.body);
  for (const char* name : {"gatehouse_sessions_started_total", "gatehouse_sessions_refused_total",
                           "gatehouse_sessions_active", "gatehouse_client_connections_open",
                           "gatehouse_values_masked_total", "gatehouse_values_withheld_total",
                           "gatehouse_approvals_requested_total", "gatehouse_approvals_waiting",
                           "gatehouse_audit_queue_depth", "gatehouse_audit_events_written_total",
                           "gatehouse_audit_batches_failed_total", "gatehouse_policy_version",
                           "gatehouse_session_startup_seconds_count"})
    EXPECT_TRUE(samples.contains(name)) << name;
  EXPECT_EQ(samples["gatehouse_statements_total{decision=\"allow\"}"], 1);
  EXPECT_EQ(samples["gatehouse_statements_total{decision=\"deny\"}"], 1);
  EXPECT_EQ(samples["gatehouse_statements_total{decision=\"hold\"}"], 0);
  EXPECT_EQ(samples["gatehouse_webhook_deliveries_total{outcome=\"delivered\"}"], 0);
  EXPECT_EQ(samples["gatehouse_audit_events_dropped_total{reason=\"refused\"}"], 0);
  EXPECT_EQ(samples["gatehouse_policy_version"], 1);
  EXPECT_EQ(samples["gatehouse_statement_decision_seconds_bucket{decision=\"allow\",le=\"5e-05\"}"],
            1);
  EXPECT_EQ(
      samples["gatehouse_statement_decision_seconds_bucket{decision=\"allow\",le=\"2.5e-05\"}"], 0);
  EXPECT_EQ(samples["gatehouse_statement_decision_seconds_count{decision=\"deny\"}"], 1);
  EXPECT_EQ(samples["gatehouse_session_startup_seconds_bucket{le=\"0.025\"}"], 1);
  EXPECT_DOUBLE_EQ(samples["gatehouse_session_startup_seconds_sum"], 0.02);
}

TEST_F(ApiTest, MetricsNeedAnyVerifiedTokenWhenConfigured) {
  start("    metrics: token\n");
  auto without = call("GET", "/metrics");
  EXPECT_EQ(without.status, 401);
  EXPECT_EQ(without.content_type, "application/json");
  EXPECT_EQ(call("GET", "/metrics", "not-a-token").status, 401);
  // No role is needed: the page holds counts only.
  auto with = call("GET", "/metrics", someone());
  EXPECT_EQ(with.status, 200) << with.body;
  EXPECT_THAT(with.body, HasSubstr("# TYPE gatehouse_policy_version gauge"));
  // Health and readiness stay open for probes.
  EXPECT_EQ(call("GET", "/healthz").status, 200);
  EXPECT_EQ(call("GET", "/readyz").status, 503);
}

}  // namespace
}  // namespace gh::admin
