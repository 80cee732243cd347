// What an attacker's probe of the admin API and identity found, each test
// named for the attack it stops, run as the attacker ran it: tokens from two
// trusted issuers, the real CLI (a process of its own), curl against the
// HTTPS admin API, psql through the gateway, and raw bytes where a client
// would not send them.
//   - a token exchange that drops a group sheds none of its restrictions;
//   - an identity is (issuer, subject): the same `sub` at a second issuer
//     sees nothing of the first and cannot use its grants;
//   - bytes that are not UTF-8 (a statement, an application_name, a cut
//     statement) cannot silence the API's listings;
//   - an identity provider that never answers cannot stall the admin API;
//   - a gateway key rotated out is out for tokens already used;
//   - request smuggling shapes, an overflowing `since` and 401s that name the
//     configuration are refused.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "approvals/broker.h"
#include "tests/integration/harness.h"

namespace gh::it {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using testbed::TestIdp;

constexpr const char* kSecondIssuer = "https://second.test/";

// A loopback port that accepts TCP connections (the kernel's backlog) and
// never answers: an identity provider that hangs.
struct HangingPort {
  int fd = -1;
  int port = 0;
  HangingPort() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(fd, 64) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("cannot listen on loopback");
    port = ntohs(a.sin_port);
  }
  ~HangingPort() { ::close(fd); }
};

struct ProbeGateway : OwnGateway {
  int admin_port;
  ProbeGateway(const World& w, int admin, const std::string& second_jwks, int hang_port)
      : OwnGateway("gatehouse-probe",
                   [&](int port) {
                     return R"(gateway:
  id: gw-probe
  data_dir: ./var
  log_level: debug
  tls: {cert: )" + w.dir +
                            "/gw.crt, key: " + w.dir + R"(/gw.key}
  admin:
    listen: 127.0.0.1:)" + std::to_string(admin) +
                            R"(
identity:
  issuers:
    - name: test-idp
      issuer: https://idp.test/
      audience: gatehouse
      jwks_file: )" + w.dir +
                            R"(/jwks.json
      max_lifetime: 1h
    - name: second-idp
      issuer: https://second.test/
      audience: gatehouse
      jwks_file: )" + second_jwks +
                            R"(
    - name: slow-idp
      issuer: https://127.0.0.1:)" +
                            std::to_string(hang_port) + R"(/
      audience: gatehouse
      discovery: true
      ca: )" + w.dir + R"(/gw.crt
      min_refresh: 1s
  gateway_tokens:
    max_ttl: 15m
listeners:
  - name: pg
    protocol: postgres
    listen: 127.0.0.1:)" + std::to_string(port) +
                            R"(
    tls: optional
connections:
)" + OwnGateway::connection_yaml(w, "app") +
                            OwnGateway::connection_yaml(w, "ledger") + R"(roles:
  admins: [platform-admins]
  auditors: [security-auditors]
access:
  - name: agents
    groups: [ai-agents]
    connections: [app]
    actions: [read]
  - name: compliance
    groups: [compliance]
    connections: [app, ledger]
    actions: [read]
guardrails:
  - name: no-md5-for-agents
    groups: [ai-agents]
    functions: [md5]
approvals:
  - name: bulk-export
    groups: [ai-agents]
    connections: [app]
    rows_over: 1000
    approvers: {groups: [data-owners]}
    mode: reject
  - name: grant-probe
    tables: [public.probe_grant]
    statements: [select]
    approvers: {groups: [data-owners]}
    mode: reject
    grant: once
)";
                   }),
        admin_port(admin) {
    if (!testbed::wait_for_text(log, "gatehouse admin listening", 60s))
      throw std::runtime_error("no admin API: " + testbed::read_file(log));
  }

  std::string url() const { return "https://127.0.0.1:" + std::to_string(admin_port); }

  // The CLI as `token`'s owner, in its own process.
  testbed::RunResult cli(const std::vector<std::string>& args, const std::string& token) const {
    return gatehouse_cli(url(), args, token);
  }
};

struct CurlReply {
  int status = 0;
  std::string body;
  std::string output;  // everything curl printed, for failure messages
};

// curl against the admin API; `extra` goes before the URL.
std::vector<std::string> curl_argv(const ProbeGateway& gw, const std::string& target,
                                   const std::string& token,
                                   const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{"curl", "-sS",           "--max-time",
                                "30",   "--cacert",      World::get().dir + "/gw.crt",
                                "-w",   "\n%{http_code}"};
  if (!token.empty()) argv.insert(argv.end(), {"-H", "Authorization: Bearer " + token});
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(gw.url() + target);
  return argv;
}

CurlReply parse_curl(const std::string& output) {
  CurlReply r;
  r.output = output;
  const auto nl = output.rfind('\n');
  if (nl == std::string::npos) return r;
  r.status = std::atoi(output.c_str() + nl + 1);
  r.body = output.substr(0, nl);
  return r;
}

CurlReply curl(const ProbeGateway& gw, const std::string& target, const std::string& token = "",
               const std::vector<std::string>& extra = {}) {
  return parse_curl(testbed::run(curl_argv(gw, target, token, extra), {}, 60s).output);
}

// A JSON reply, parsed strictly (invalid UTF-8 in a string fails the parse).
Json json_of(const CurlReply& r) {
  Json j = Json::parse(r.body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not valid JSON (HTTP " << r.status << "): " << r.output;
  return j;
}

// One raw HTTP/1.1 request over TLS (openssl s_client), as a client that
// builds its own bytes would send it; what the server answered.
std::string raw_request(const ProbeGateway& gw, const std::string& bytes) {
  auto r = testbed::run(
      {"openssl", "s_client", "-quiet", "-connect", "127.0.0.1:" + std::to_string(gw.admin_port)},
      {}, 30s, bytes);
  return r.output;
}

std::string request_id(const std::string& text) {
  std::smatch m;
  if (std::regex_search(text, m, std::regex("(r-[0-9a-f]{6,})"))) return m[1];
  return "";
}

testbed::RunResult psql(const ProbeGateway& gw, const std::string& token, const std::string& sql,
                        std::map<std::string, std::string> env = {}) {
  auto all = gw.psql_env(token);
  for (auto& [k, v] : env) all[k] = v;
  return testbed::run({"psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql}, all, 60s);
}

class Probe : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const World& w = World::get();
    w.pg.sql(
        "SET ROLE gh_scram;"
        "DROP TABLE IF EXISTS public.probe_rows, public.probe_grant;"
        "CREATE TABLE public.probe_rows(id int, label text);"
        "INSERT INTO public.probe_rows SELECT g, 'row-' || g FROM generate_series(1, 5000) g;"
        "CREATE TABLE public.probe_grant(id int, label text);"
        "INSERT INTO public.probe_grant VALUES (1, 'granted');",
        "app");
    second_ = new TestIdp(kSecondIssuer, "gatehouse", identity::Algorithm::kES256, "s1");
    hang_ = new HangingPort();
    const std::string second_jwks = w.dir + "/second-jwks.json";
    testbed::write_file(second_jwks, second_->jwks());
    gw_ = new ProbeGateway(w, testbed::free_port(), second_jwks, hang_->port);
  }
  static void TearDownTestSuite() {
    delete gw_;
    delete hang_;
    delete second_;
    gw_ = nullptr;
  }
  const World& w() const { return World::get(); }
  std::string first(const std::string& sub, const std::vector<std::string>& groups) const {
    return w().idp->mint(sub, groups);
  }
  std::string olivia() const { return first("olivia", {"data-owners"}); }
  std::string auditor() const { return first("aude", {"security-auditors"}); }
  std::string admin() const { return first("root-admin", {"platform-admins"}); }

  static ProbeGateway* gw_;
  static TestIdp* second_;
  static HangingPort* hang_;
};
ProbeGateway* Probe::gw_ = nullptr;
TestIdp* Probe::second_ = nullptr;
HangingPort* Probe::hang_ = nullptr;

// ---- 1. Token exchange cannot shed a restriction -----------------------------

TEST_F(Probe, ExchangeThatDropsAGroupKeepsTheGuardrailsAndApprovalsAimedAtIt) {
  const std::string idp_token = first("agent-x", {"ai-agents", "compliance"});
  auto ex = gw_->cli({"token", "exchange", "--groups", "compliance", "--json"}, idp_token);
  ASSERT_EQ(ex.exit_code, 0) << ex.output;
  const std::string narrowed = Json::parse(ex.output).value("token", "");
  ASSERT_FALSE(narrowed.empty()) << ex.output;

  // The guardrail aimed at ai-agents still blocks md5().
  auto md5 = psql(*gw_, narrowed, "SELECT md5('x')");
  EXPECT_NE(md5.exit_code, 0) << md5.output;
  EXPECT_NE(md5.output.find("no-md5-for-agents"), std::string::npos) << md5.output;

  // The approval rule aimed at ai-agents still holds 5000 rows back.
  auto rows = psql(*gw_, narrowed, "SELECT id FROM public.probe_rows");
  EXPECT_NE(rows.exit_code, 0) << rows.output.substr(0, 400);
  EXPECT_EQ(rows.output.find("\n4999\n"), std::string::npos) << "rows reached the client";
  const std::string id = request_id(rows.output);
  ASSERT_FALSE(id.empty()) << rows.output.substr(0, 400);
  auto shown = gw_->cli({"reviews", "show", id, "--json"}, olivia());
  ASSERT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_EQ(Json::parse(shown.output).value("rule", ""), "bulk-export") << shown.output;

  // The same exchange with every group: the same refusals (nothing was gained by narrowing).
  auto whole = gw_->cli({"token", "exchange", "--json"}, idp_token);
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  auto md5_whole = psql(*gw_, Json::parse(whole.output).value("token", ""), "SELECT md5('x')");
  EXPECT_NE(md5_whole.output.find("no-md5-for-agents"), std::string::npos) << md5_whole.output;
}

TEST_F(Probe, ExchangeThatDropsAGroupLosesWhatThatGroupGranted) {
  const std::string idp_token = first("agent-y", {"ai-agents", "compliance"});
  // The IdP token reaches `ledger` through compliance.
  auto direct = psql(*gw_, idp_token, "SELECT 'ledger ok'", {{"PGDATABASE", "ledger"}});
  EXPECT_EQ(direct.exit_code, 0) << direct.output;
  auto ex = gw_->cli({"token", "exchange", "--groups", "ai-agents", "--json"}, idp_token);
  ASSERT_EQ(ex.exit_code, 0) << ex.output;
  const std::string narrowed = Json::parse(ex.output).value("token", "");
  auto refused = psql(*gw_, narrowed, "SELECT 'ledger ok'", {{"PGDATABASE", "ledger"}});
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.output.find("may not connect"), std::string::npos) << refused.output;
  // It still reads `app` through ai-agents.
  auto app = psql(*gw_, narrowed, "SELECT 'app ok'");
  EXPECT_EQ(app.exit_code, 0) << app.output;

  // A role is a grant too: an auditor who drops the auditors' group sees only their own.
  const std::string aud = first("aude-2", {"security-auditors", "ai-agents"});
  auto as_auditor = curl(*gw_, "/v1/sessions?identity=agent-y", aud);
  EXPECT_EQ(as_auditor.status, 200) << as_auditor.output;
  auto ex2 = gw_->cli({"token", "exchange", "--groups", "ai-agents", "--json"}, aud);
  ASSERT_EQ(ex2.exit_code, 0) << ex2.output;
  auto dropped =
      curl(*gw_, "/v1/sessions?identity=agent-y", Json::parse(ex2.output).value("token", ""));
  EXPECT_EQ(dropped.status, 403) << dropped.output;
  // Exchanging for a group the token does not carry is refused.
  auto wider = gw_->cli({"token", "exchange", "--groups", "platform-admins"}, idp_token);
  EXPECT_NE(wider.exit_code, 0) << wider.output;
}

// ---- 2. An identity is (issuer, subject) --------------------------------------

TEST_F(Probe, SameSubjectAtASecondIssuerSeesNothingOfTheFirstAndCannotUseItsGrant) {
  const std::string mine = first("agent-7", {"ai-agents"});
  const std::string twin = second_->mint("agent-7", {"ai-agents", "data-owners"});

  // agent-7 of the first issuer runs a statement that needs approval; olivia approves it.
  auto asked = psql(*gw_, mine, "SELECT label FROM public.probe_grant");
  ASSERT_NE(asked.exit_code, 0) << asked.output;
  const std::string id = request_id(asked.output);
  ASSERT_FALSE(id.empty()) << asked.output;
  // The twin is in data-owners, but the same subject string never approves its own.
  auto self = gw_->cli({"reviews", "approve", id}, twin);
  EXPECT_NE(self.exit_code, 0) << self.output;
  auto ok = gw_->cli({"reviews", "approve", id, "--reason", "ticket 7"}, olivia());
  ASSERT_EQ(ok.exit_code, 0) << ok.output;

  // The first agent-7 sees its own sessions and request.
  auto own = json_of(curl(*gw_, "/v1/sessions", mine));
  ASSERT_TRUE(own.is_array());
  ASSERT_FALSE(own.empty());
  const std::string session_id = own[0].value("id", "");
  EXPECT_EQ(curl(*gw_, "/v1/sessions/" + session_id, mine).status, 200);
  EXPECT_EQ(curl(*gw_, "/v1/reviews/" + id, mine).status, 200);

  // The twin: none of it, by any route.
  const std::string twin_only = second_->mint("agent-7", {"ai-agents"});
  auto sessions = json_of(curl(*gw_, "/v1/sessions", twin_only));
  ASSERT_TRUE(sessions.is_array());
  for (const auto& s : sessions) EXPECT_NE(s.value("id", ""), session_id);
  EXPECT_EQ(curl(*gw_, "/v1/sessions/" + session_id, twin_only).status, 404);
  EXPECT_EQ(curl(*gw_, "/v1/reviews/" + id, twin_only).status, 404);
  auto search = json_of(curl(*gw_, "/v1/audit/search?text=probe_grant", twin_only));
  ASSERT_TRUE(search.is_array());
  EXPECT_TRUE(search.empty()) << search.dump();
  auto listed = gw_->cli({"sessions", "list", "--json"}, twin_only);
  EXPECT_EQ(listed.output.find(session_id), std::string::npos) << listed.output;
  // Asking for the first issuer's identity by name is refused.
  EXPECT_EQ(curl(*gw_, "/v1/sessions?identity=agent-7&issuer=https%3A%2F%2Fidp.test%2F", twin_only)
                .status,
            403);

  // The approved statement: the twin's run raises a request of its own and
  // leaves the grant unused; the first agent-7's run uses it.
  auto stolen = psql(*gw_, twin_only, "SELECT label FROM public.probe_grant");
  EXPECT_NE(stolen.exit_code, 0) << stolen.output;
  EXPECT_EQ(stolen.output.find("granted"), std::string::npos) << stolen.output;
  EXPECT_NE(request_id(stolen.output), id) << stolen.output;
  auto state = gw_->cli({"reviews", "show", id, "--json"}, olivia());
  EXPECT_EQ(Json::parse(state.output).value("status", ""), "approved") << state.output;
  auto run = psql(*gw_, mine, "SELECT label FROM public.probe_grant");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("granted"), std::string::npos) << run.output;

  // An auditor tells the two apart by issuer.
  auto by_issuer = gw_->cli(
      {"audit", "search", "--identity", "agent-7", "--issuer", kSecondIssuer, "--format", "jsonl"},
      auditor());
  ASSERT_EQ(by_issuer.exit_code, 0) << by_issuer.output;
  EXPECT_NE(by_issuer.output.find("probe_grant"), std::string::npos) << by_issuer.output;
  EXPECT_EQ(by_issuer.output.find(session_id), std::string::npos) << by_issuer.output;
}

// ---- 3. No reply is lost to a byte --------------------------------------------

TEST_F(Probe, BytesThatAreNotUtf8CannotSilenceTheListings) {
  const std::string planter = first("planter", {"ai-agents"});
  // A statement with byte 0xFF (LATIN1 on the wire, as the client declares),
  // under an application_name with 0xFF. The analyzer reads UTF-8 only, so
  // the statement is denied as unanalysable, and recorded with its bytes.
  auto ff = psql(*gw_, planter, "SELECT 'caf\xe9 \xff' AS planted",
                 {{"PGCLIENTENCODING", "LATIN1"}, {"PGAPPNAME", "app-\xff-name"}});
  EXPECT_NE(ff.output.find("could not be analyzed"), std::string::npos) << ff.output;
  // A valid statement longer than the text shown to reviewers, with a
  // two-byte character across the cut.
  const std::string head = "SELECT label FROM public.probe_grant WHERE label <> '";
  const std::string pad(approvals::kMaxShownText - 1 - head.size(), 'p');
  const std::string long_sql = head + pad + "\xc3\xa9" + std::string(200, 'q') + "'";
  auto held = psql(*gw_, planter, long_sql);
  const std::string id = request_id(held.output);
  ASSERT_FALSE(id.empty()) << held.output.substr(0, 300);
  w().wait_audit_flush();

  const std::string replacement = "\xef\xbf\xbd";  // U+FFFD
  // Auditors: the search and the session list, and the session itself.
  auto search = curl(*gw_, "/v1/audit/search?identity=planter", auditor());
  ASSERT_EQ(search.status, 200) << search.output;
  auto found = json_of(search);
  ASSERT_TRUE(found.is_array());
  bool planted = false;
  for (const auto& r : found)
    if (r.value("text", "").find("planted") != std::string::npos) {
      planted = true;
      EXPECT_NE(r.value("text", "").find(replacement), std::string::npos) << r.dump();
    }
  EXPECT_TRUE(planted) << search.body.substr(0, 2000);
  auto sessions = curl(*gw_, "/v1/sessions?identity=planter", auditor());
  ASSERT_EQ(sessions.status, 200) << sessions.output;
  auto listed = json_of(sessions);
  ASSERT_TRUE(listed.is_array());
  bool app_name = false;
  for (const auto& s : listed) {
    if (s.value("application_name", "").starts_with("app-")) app_name = true;
    EXPECT_EQ(curl(*gw_, "/v1/sessions/" + s.value("id", ""), auditor()).status, 200);
  }
  EXPECT_TRUE(app_name) << sessions.body;
  // The planter's own listings, and the approvers'.
  EXPECT_EQ(curl(*gw_, "/v1/sessions", planter).status, 200);
  EXPECT_EQ(curl(*gw_, "/v1/audit/search", planter).status, 200);
  for (const std::string& token : {olivia(), planter}) {
    auto reviews = curl(*gw_, "/v1/reviews", token);
    ASSERT_EQ(reviews.status, 200) << reviews.output;
    auto list = json_of(reviews);
    ASSERT_TRUE(list.is_array());
    bool seen = false;
    for (const auto& r : list) {
      if (r.value("id", "") != id) continue;
      seen = true;
      // Cut on the character boundary: no replacement character, the
      // two-byte character left out whole.
      const std::string statement = r.value("statement", "");
      EXPECT_EQ(statement, head + pad + "…");
      EXPECT_EQ(statement.find(replacement), std::string::npos);
    }
    EXPECT_TRUE(seen) << reviews.body.substr(0, 500);
  }
  // The CLI reads them back too.
  auto cli = gw_->cli({"audit", "search", "--identity", "planter", "--format", "jsonl"}, auditor());
  EXPECT_EQ(cli.exit_code, 0) << cli.output;
  auto reviews_cli = gw_->cli({"reviews", "list", "--json"}, olivia());
  EXPECT_EQ(reviews_cli.exit_code, 0) << reviews_cli.output;

  // Without a token, a path that is not UTF-8 gets an answer.
  auto odd = curl(*gw_, "", "", {"--request-target", "/\xc3\x28"});
  EXPECT_EQ(odd.status, 404) << odd.output;
  json_of(odd);
  EXPECT_TRUE(gw_->process.running());
}

// ---- 4. A slow identity provider cannot stall the admin API -------------------

TEST_F(Probe, IdentityProviderThatNeverAnswersCannotStallTheApi) {
  // Tokens of the discovery issuer whose endpoint never answers: each asks
  // for its keys. Four at once, from anyone, without credentials.
  TestIdp slow("https://127.0.0.1:" + std::to_string(hang_->port) + "/", "gatehouse",
               identity::Algorithm::kEdDSA, "slow-1");
  std::vector<testbed::Process> waiting;
  std::vector<std::string> logs;
  for (int i = 0; i < 4; ++i) {
    logs.push_back(gw_->dir + "/slow-" + std::to_string(i) + ".log");
    waiting.push_back(testbed::Process::start(
        curl_argv(*gw_, "/v1/reviews", slow.mint("mallory-" + std::to_string(i), {})),
        logs.back()));
  }
  std::this_thread::sleep_for(500ms);
  // Meanwhile, health and a real caller are answered at once.
  for (int round = 0; round < 3; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    auto health = curl(*gw_, "/healthz");
    const auto health_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    EXPECT_EQ(health.status, 200) << health.output;
    EXPECT_LT(health_ms, 1500) << "healthz waited for the identity provider";
    const auto t1 = std::chrono::steady_clock::now();
    auto reviews = curl(*gw_, "/v1/reviews", olivia());
    const auto reviews_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t1)
            .count();
    EXPECT_EQ(reviews.status, 200) << reviews.output;
    EXPECT_LT(reviews_ms, 1500) << "a caller waited for another issuer's refresh";
  }
  // The slow tokens end refused, once the refresh gave up.
  for (std::size_t i = 0; i < waiting.size(); ++i) {
    ASSERT_TRUE(testbed::eventually([&] { return !waiting[i].running(); }, 30s));
    auto r = parse_curl(testbed::read_file(logs[i]));
    EXPECT_EQ(r.status, 401) << r.output;
  }
}

// ---- 5. A key rotated out is out ----------------------------------------------

TEST_F(Probe, GatewayKeyRotatedOutIsOutForTokensAlreadyUsed) {
  auto ex = gw_->cli({"token", "exchange", "--json"}, first("rotator", {"ai-agents"}));
  ASSERT_EQ(ex.exit_code, 0) << ex.output;
  const Json minted = Json::parse(ex.output);
  const std::string token = minted.value("token", "");
  const std::string kid = minted.value("kid", "");
  // Used on the API and through psql: both verifications are cached now.
  EXPECT_EQ(curl(*gw_, "/v1/reviews", token).status, 200);
  auto before = psql(*gw_, token, "SELECT 'in'");
  ASSERT_EQ(before.exit_code, 0) << before.output;
  // Rotations that keep the key published leave the token working.
  for (int i = 0; i < 2; ++i) {
    auto r = gw_->cli({"token", "rotate-key"}, admin());
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  EXPECT_NE(curl(*gw_, "/.well-known/jwks.json").body.find(kid), std::string::npos);
  EXPECT_EQ(curl(*gw_, "/v1/reviews", token).status, 200);
  // The rotation that removes it from the published set ends it everywhere.
  auto last = gw_->cli({"token", "rotate-key"}, admin());
  ASSERT_EQ(last.exit_code, 0) << last.output;
  EXPECT_EQ(curl(*gw_, "/.well-known/jwks.json").body.find(kid), std::string::npos);
  auto api = curl(*gw_, "/v1/reviews", token);
  EXPECT_EQ(api.status, 401) << api.output;
  auto after = psql(*gw_, token, "SELECT 'in'");
  EXPECT_NE(after.exit_code, 0) << after.output;
  EXPECT_NE(after.output.find("token rejected"), std::string::npos) << after.output;
}

// ---- 6. Smuggling shapes, overflows, and what a 401 says ------------------------

TEST_F(Probe, ObsFoldedHeaderIsRefused) {
  const std::string reply = raw_request(*gw_,
                                        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n"
                                        " b\r\nConnection: close\r\n\r\n");
  EXPECT_NE(reply.find("HTTP/1.1 400"), std::string::npos) << reply;
  EXPECT_NE(reply.find("obs-fold"), std::string::npos) << reply;
}

TEST_F(Probe, TransferEncodingWhoseLastCodingIsNotChunkedIsRefused) {
  for (const std::string te : {"xchunked", "chunked, gzip", "gzip"}) {
    const std::string reply = raw_request(
        *gw_, "POST /v1/reviews/r-1/deny HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te +
                  "\r\nConnection: close\r\n\r\n0\r\n\r\n");
    EXPECT_NE(reply.find("HTTP/1.1 400"), std::string::npos) << te << ": " << reply;
  }
  const std::string both = raw_request(
      *gw_,
      "POST /v1/reviews/r-1/deny HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: "
      "chunked\r\nConnection: close\r\n\r\n0\r\n\r\n");
  EXPECT_NE(both.find("HTTP/1.1 400"), std::string::npos) << both;
  // A plain request on the same listener is still answered.
  const std::string fine =
      raw_request(*gw_, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(fine.find("HTTP/1.1 200"), std::string::npos) << fine;
}

TEST_F(Probe, SinceFurtherBackThanTheClockCanCountIsRefused) {
  for (const std::string since : {"99999999999h", "9223372036854775807ms", "106751992d"}) {
    auto r = curl(*gw_, "/v1/audit/search?since=" + since, auditor());
    EXPECT_EQ(r.status, 400) << since << ": " << r.output;
  }
  EXPECT_EQ(curl(*gw_, "/v1/audit/search?since=24h", auditor()).status, 200);
}

TEST_F(Probe, RefusedTokensLearnNothingOfTheConfiguredIssuers) {
  const long now = static_cast<long>(time(nullptr));
  auto& key = w().idp->key();
  const std::vector<std::string> tokens = {
      // the wrong audience, an unknown kid, a lifetime over the issuer's limit
      key.sign(R"({"iss":"https://idp.test/","aud":"elsewhere","sub":"m","iat":)" +
               std::to_string(now) + R"(,"exp":)" + std::to_string(now + 600) + "}"),
      key.sign_with_header(R"({"alg":"ES256","kid":"nope"})",
                           R"({"iss":"https://idp.test/","aud":"gatehouse","sub":"m"})"),
      w().idp->mint("m", {}, 7200),
  };
  for (const auto& token : tokens) {
    auto api = curl(*gw_, "/v1/reviews", token);
    EXPECT_EQ(api.status, 401) << api.output;
    EXPECT_NE(api.body.find("token rejected"), std::string::npos) << api.body;
    auto pg = psql(*gw_, token, "SELECT 1");
    EXPECT_NE(pg.output.find("token rejected"), std::string::npos) << pg.output;
    for (const std::string& said : {api.body, pg.output})
      for (const char* configured : {"test-idp", "second-idp", "slow-idp"})
        EXPECT_EQ(said.find(configured), std::string::npos) << said;
  }
  // The gateway's own log keeps the whole reason for its operators.
  EXPECT_TRUE(
      testbed::wait_for_text(gw_->log, "names no audience configured for issuer 'test-idp'", 5s));
}

}  // namespace
}  // namespace gh::it
