#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace gh::config {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr char kEnvPassword[] = "env-pw-Xq7!zz";
constexpr char kFilePassword[] = "file-pw-K9#yy";

// The sections of a small valid file; a test replaces the one it is about.
struct Sections {
  std::string gateway =
      "gateway:\n"
      "  id: gw-test\n"
      "  tls:\n"
      "    cert: certs/gw.crt\n"
      "    key: certs/gw.key\n";
  std::string identity =
      "identity:\n"
      "  issuers:\n"
      "    - name: corp-idp\n"
      "      issuer: https://idp.example.com/\n"
      "      audience: gatehouse\n"
      "      jwks_file: idp-jwks.json\n";
  std::string listeners =
      "listeners:\n"
      "  - name: pg\n"
      "    protocol: postgres\n"
      "    listen: 0.0.0.0:15432\n";
  std::string connections =
      "connections:\n"
      "  - name: traces\n"
      "    protocol: postgres\n"
      "    upstream:\n"
      "      host: 127.0.0.1\n"
      "    credentials:\n"
      "      user: svc_traces\n"
      "      password_env: TRACES_PG_PASSWORD\n";
  std::string access =
      "access:\n"
      "  - name: dba\n"
      "    groups: [dba]\n"
      "    connections: [\"*\"]\n"
      "    actions: [read, write, ddl, admin]\n";
  std::string extra;

  std::string yaml() const { return gateway + identity + listeners + connections + access + extra; }
};

// 1-based line of the first line containing `needle` (so tests do not hard-code numbers).
int line_of(const std::string& yaml, const std::string& needle) {
  std::size_t pos = yaml.find(needle);
  EXPECT_NE(pos, std::string::npos) << "test bug: no `" << needle << "` in the YAML";
  if (pos == std::string::npos) return -1;
  return 1 + static_cast<int>(std::count(yaml.begin(), yaml.begin() + pos, '\n'));
}

std::string all(const std::vector<Problem>& problems) {
  std::string out;
  for (const auto& p : problems) out += p.to_string() + "\n";
  return out;
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("gh-config-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(dir_ / "certs");
    fs::create_directories(dir_ / "secrets");
    write("idp-jwks.json", R"({"keys":[]})");
    write("certs/gw.crt", "-----BEGIN CERTIFICATE-----\n");
    write("certs/gw.key", "-----BEGIN PRIVATE KEY-----\n");
    write("certs/ca.crt", "-----BEGIN CERTIFICATE-----\n");
    write("secrets/billing.pw", std::string(kFilePassword) + "\n");
    env_vars_["TRACES_PG_PASSWORD"] = kEnvPassword;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void write(const std::string& rel, const std::string& content) {
    std::ofstream(dir_ / rel, std::ios::binary) << content;
  }

  EnvLookup env() {
    return [this](const std::string& name) -> std::optional<std::string> {
      auto it = env_vars_.find(name);
      if (it == env_vars_.end()) return std::nullopt;
      return it->second;
    };
  }

  std::string config_path() const { return (dir_ / "gatehouse.yaml").string(); }

  Expected<Config, std::vector<Problem>> load(const std::string& yaml) {
    return load_string(yaml, config_path(), env());
  }

  Config load_ok(const std::string& yaml) {
    auto cfg = load(yaml);
    EXPECT_TRUE(cfg.has_value()) << (cfg ? "" : all(cfg.error()));
    return cfg ? *cfg : Config{};
  }

  std::vector<Problem> load_bad(const std::string& yaml) {
    auto cfg = load(yaml);
    EXPECT_FALSE(cfg.has_value()) << "expected problems in:\n" << yaml;
    return cfg ? std::vector<Problem>{} : cfg.error();
  }

  // Asserts one problem on `line` whose message contains `text`.
  void expect_problem(const std::vector<Problem>& problems, int line, const std::string& text) {
    for (const auto& p : problems) {
      if (p.line == line && p.message.find(text) != std::string::npos) {
        EXPECT_EQ(p.file, config_path());
        return;
      }
    }
    ADD_FAILURE() << "no problem at line " << line << " containing `" << text << "`; got:\n"
                  << all(problems);
  }

  fs::path dir_;
  std::map<std::string, std::string> env_vars_;
};

// --- a good file ----------------------------------------------------------

TEST_F(ConfigTest, FullFileLoadsWithEveryValue) {
  const std::string yaml = R"(gateway:
  id: gw-7
  data_dir: state
  store: sqlite
  tls:
    cert: certs/gw.crt
    key: certs/gw.key
  audit: off
  log_level: debug
  io_threads: 2
identity:
  leeway: 1m
  issuers:
    - name: corp-idp
      issuer: https://idp.example.com/
      audience: [gatehouse, gatehouse-ci]
      jwks_file: idp-jwks.json
      groups_claim: roles
      max_lifetime: 15m
listeners:
  - name: pg
    protocol: postgres
    listen: 0.0.0.0:15432
  - name: pg6
    protocol: postgres
    listen: "[::1]:15433"
    tls: optional
connections:
  - name: traces
    protocol: postgres
    upstream:
      host: 10.1.2.3
      port: 5433
      database: traces_db
      tls: verify-full
      ca: certs/ca.crt
      connect_timeout: 3s
    credentials:
      user: svc_traces
      password_env: TRACES_PG_PASSWORD
  - name: billing
    protocol: postgres
    upstream:
      host: db.internal
    credentials:
      user: svc_billing
      password_file: secrets/billing.pw
access:
  - name: agents-read-traces
    groups: [ai-agents]
    connections: [traces]
    actions: [read]
    tables: ["public.*"]
  - name: dba
    groups: [dba]
    subjects: ["ci-*"]
    connections: ["*"]
    actions: [read, write, ddl, admin]
)";
  write("gatehouse.yaml", yaml);
  auto loaded = load_file(config_path(), env());
  ASSERT_TRUE(loaded.has_value()) << all(loaded.error());
  const Config& c = *loaded;
  const std::string d = dir_.string();

  EXPECT_EQ(c.path, config_path());
  EXPECT_EQ(c.gateway.id, "gw-7");
  EXPECT_EQ(c.gateway.data_dir, d + "/state");
  EXPECT_EQ(c.gateway.store, "sqlite");
  EXPECT_EQ(c.gateway.tls_cert, d + "/certs/gw.crt");
  EXPECT_EQ(c.gateway.tls_key, d + "/certs/gw.key");
  EXPECT_FALSE(c.gateway.audit);
  EXPECT_EQ(c.gateway.log_level, "debug");
  EXPECT_EQ(c.gateway.io_threads, 2);

  EXPECT_EQ(c.verifier.leeway, 60s);
  ASSERT_EQ(c.issuers.size(), 1u);
  EXPECT_EQ(c.issuers[0].name, "corp-idp");
  EXPECT_EQ(c.issuers[0].issuer, "https://idp.example.com/");
  EXPECT_EQ(c.issuers[0].audiences, (std::vector<std::string>{"gatehouse", "gatehouse-ci"}));
  EXPECT_EQ(c.issuers[0].jwks_json, R"({"keys":[]})");
  EXPECT_EQ(c.issuers[0].groups_claim, "roles");
  EXPECT_EQ(c.issuers[0].max_lifetime, 15min);

  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].name, "pg");
  EXPECT_EQ(c.listeners[0].protocol, "postgres");
  EXPECT_EQ(c.listeners[0].host, "0.0.0.0");
  EXPECT_EQ(c.listeners[0].port, 15432);
  EXPECT_EQ(c.listeners[0].tls, ListenerTls::kRequired);
  EXPECT_EQ(c.listeners[0].cert_file, d + "/certs/gw.crt");  // from gateway.tls
  EXPECT_EQ(c.listeners[0].key_file, d + "/certs/gw.key");
  EXPECT_EQ(c.listeners[1].host, "::1");
  EXPECT_EQ(c.listeners[1].port, 15433);
  EXPECT_EQ(c.listeners[1].tls, ListenerTls::kOptional);

  ASSERT_EQ(c.connections.size(), 2u);
  const Connection& t = c.connections[0];
  EXPECT_EQ(t.name, "traces");
  EXPECT_EQ(t.protocol, "postgres");
  EXPECT_EQ(t.host, "10.1.2.3");
  EXPECT_EQ(t.port, 5433);
  EXPECT_EQ(t.database, "traces_db");
  EXPECT_EQ(t.tls, UpstreamTls::kVerifyFull);
  EXPECT_EQ(t.ca_file, d + "/certs/ca.crt");
  EXPECT_EQ(t.connect_timeout, 3s);
  EXPECT_EQ(t.credentials.user, "svc_traces");
  EXPECT_EQ(t.credentials.password, kEnvPassword);
  const Connection& b = c.connections[1];
  EXPECT_EQ(b.port, 5432);
  EXPECT_EQ(b.database, "billing");            // defaults to the connection's name
  EXPECT_EQ(b.tls, UpstreamTls::kVerifyFull);  // secure by default
  EXPECT_TRUE(b.ca_file.empty());              // the system's trust store
  EXPECT_EQ(b.connect_timeout, 10s);
  EXPECT_EQ(b.credentials.password, kFilePassword);

  ASSERT_EQ(c.access.rules.size(), 2u);
  const auto& r0 = c.access.rules[0];
  EXPECT_EQ(r0.name, "agents-read-traces");
  EXPECT_EQ(r0.groups, (std::vector<std::string>{"ai-agents"}));
  EXPECT_EQ(r0.connections, (std::vector<std::string>{"traces"}));
  EXPECT_EQ(r0.actions, (std::vector<policy::Action>{policy::Action::kRead}));
  EXPECT_EQ(r0.tables, (std::vector<std::string>{"public.*"}));
  const auto& r1 = c.access.rules[1];
  EXPECT_EQ(r1.subjects, (std::vector<std::string>{"ci-*"}));
  EXPECT_EQ(r1.actions.size(), 4u);

  EXPECT_EQ(c.find_connection("billing"), &c.connections[1]);
  EXPECT_EQ(c.find_connection("nope"), nullptr);
}

TEST_F(ConfigTest, OmittedKeysTakeTheirDocumentedDefaults) {
  Sections s;
  s.gateway = "";
  s.listeners =
      "listeners:\n"
      "  - name: pg\n"
      "    protocol: postgres\n"
      "    listen: 127.0.0.1:15432\n"
      "    cert: certs/gw.crt\n"
      "    key: certs/gw.key\n";
  s.access =
      "access:\n"
      "  - name: agents\n"
      "    groups: [ai-agents]\n"
      "    connections: [traces]\n";
  Config c = load_ok(s.yaml());
  EXPECT_EQ(c.gateway.id, "gw-1");
  EXPECT_EQ(c.gateway.data_dir, (dir_ / "var").string());
  EXPECT_EQ(c.gateway.store, "sqlite");
  EXPECT_TRUE(c.gateway.audit);
  EXPECT_EQ(c.gateway.log_level, "info");
  EXPECT_EQ(c.gateway.io_threads, 0);
  EXPECT_EQ(c.verifier.leeway, 30s);
  EXPECT_EQ(c.issuers[0].groups_claim, "groups");
  EXPECT_EQ(c.issuers[0].max_lifetime, 1h);
  EXPECT_EQ(c.issuers[0].audiences, (std::vector<std::string>{"gatehouse"}));
  EXPECT_EQ(c.listeners[0].tls, ListenerTls::kRequired);
  EXPECT_EQ(c.listeners[0].cert_file, (dir_ / "certs/gw.crt").string());
  EXPECT_EQ(c.connections[0].port, 5432);
  EXPECT_EQ(c.connections[0].database, "traces");
  EXPECT_EQ(c.connections[0].tls, UpstreamTls::kVerifyFull);
  EXPECT_TRUE(c.connections[0].auth.scram_sha_256);
  EXPECT_FALSE(c.connections[0].auth.md5);
  EXPECT_FALSE(c.connections[0].auth.password);
  EXPECT_FALSE(c.connections[0].auth.trust);
  EXPECT_EQ(c.connections[0].connect_timeout, 10s);
  EXPECT_EQ(c.access.rules[0].actions, (std::vector<policy::Action>{policy::Action::kRead}));
}

TEST_F(ConfigTest, AuditAcceptsOnAndOffAsWellAsBooleans) {
  for (auto [word, want] : std::vector<std::pair<std::string, bool>>{
           {"on", true}, {"off", false}, {"true", true}, {"false", false}}) {
    Sections s;
    s.gateway += "  audit: " + word + "\n";
    EXPECT_EQ(load_ok(s.yaml()).gateway.audit, want) << word;
  }
  Sections s;
  s.gateway += "  audit: sometimes\n";
  auto problems = load_bad(s.yaml());
  expect_problem(problems, line_of(s.yaml(), "audit:"), "is not one of: true, false, on, off");
}

TEST_F(ConfigTest, LoginsPerAddressAreBoundedByDefaultAndConfigurable) {
  Sections s;
  EXPECT_EQ(load_ok(s.yaml()).gateway.max_logins_per_address, 256);
  s.gateway += "  max_logins_per_address: 16\n";
  EXPECT_EQ(load_ok(s.yaml()).gateway.max_logins_per_address, 16);
  Sections zero;
  zero.gateway += "  max_logins_per_address: 0\n";
  const std::string yaml = zero.yaml();
  expect_problem(load_bad(yaml), line_of(yaml, "max_logins_per_address"),
                 "gateway.max_logins_per_address");
}

// --- the whole file is refused, every problem with its line ---------------

TEST_F(ConfigTest, YamlSyntaxErrorReportsTheParsersLine) {
  const std::string yaml = "gateway:\n  id: gw-1\nlisteners: [a, b\nconnections: []\n";
  auto problems = load_bad(yaml);
  ASSERT_EQ(problems.size(), 1u) << all(problems);
  EXPECT_THAT(problems[0].message, HasSubstr("YAML syntax error"));
  EXPECT_GE(problems[0].line, 3);
  EXPECT_LE(problems[0].line, 4);
}

TEST_F(ConfigTest, MisspeltKeysAreRefusedNotIgnored) {
  Sections s;
  s.gateway += "  log_levl: debug\n";
  s.listeners += "    tsl: optional\n";
  s.connections =
      "connections:\n"
      "  - name: traces\n"
      "    protocol: postgres\n"
      "    upstream:\n"
      "      host: 127.0.0.1\n"
      "      sslmode: require\n"
      "    credentials:\n"
      "      user: svc_traces\n"
      "      password: hunter2\n"
      "      password_env: TRACES_PG_PASSWORD\n";
  s.extra = "listners: []\n";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "log_levl"), "unknown key `log_levl` in gateway");
  expect_problem(problems, line_of(yaml, "tsl:"), "unknown key `tsl` in listeners[0]");
  expect_problem(problems, line_of(yaml, "sslmode"),
                 "unknown key `sslmode` in connections[0].upstream");
  expect_problem(problems, line_of(yaml, "password: hunter2"),
                 "unknown key `password` in connections[0].credentials");
  expect_problem(problems, line_of(yaml, "listners"), "unknown key `listners` in the top level");
  EXPECT_THAT(all(problems), ::testing::Not(HasSubstr("hunter2")));
}

TEST_F(ConfigTest, AKeyWrittenTwiceIsRefusedRatherThanOneSilentlyWinning) {
  Sections s;
  s.listeners += "    listen: 0.0.0.0:5999\n";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "listen: 0.0.0.0:5999"),
                 "duplicate key `listen` in listeners[0]");
}

TEST_F(ConfigTest, WrongTypesAreReported) {
  Sections s;
  s.listeners = "listeners:\n  name: pg\n";
  s.access =
      "access:\n"
      "  - name: dba\n"
      "    groups: dba\n"
      "    connections: [\"*\"]\n"
      "    actions: [read, write, ddl, admin]\n";
  s.gateway += "  id: [a, b]\n";
  s.gateway.replace(s.gateway.find("  id: gw-test\n"), 14, "");
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "listeners:"),
                 "listeners: expected a list, found a mapping");
  expect_problem(problems, line_of(yaml, "groups: dba"),
                 "access[0].groups: expected a list, found a single value");
  expect_problem(problems, line_of(yaml, "id: [a, b]"),
                 "gateway.id: expected a single value, found a list");
}

TEST_F(ConfigTest, MissingRequiredKeysAreReported) {
  Sections s;
  s.identity =
      "identity:\n"
      "  issuers:\n"
      "    - name: corp-idp\n"
      "      issuer: https://idp.example.com/\n"
      "      jwks_file: idp-jwks.json\n";
  s.listeners = "listeners:\n  - name: pg\n    protocol: postgres\n";
  s.connections =
      "connections:\n"
      "  - name: traces\n"
      "    protocol: postgres\n"
      "    upstream:\n"
      "      port: 5432\n";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "- name: corp-idp"),
                 "identity.issuers[0]: missing required key `audience`");
  expect_problem(problems, line_of(yaml, "- name: pg"),
                 "listeners[0]: missing required key `listen`");
  expect_problem(problems, line_of(yaml, "- name: traces"),
                 "connections[0]: missing required key `credentials`");
  expect_problem(problems, line_of(yaml, "port: 5432"),
                 "connections[0].upstream: missing required key `host`");
}

TEST_F(ConfigTest, MissingOrEmptySectionsAreRefused) {
  auto problems = load_bad("gateway:\n  id: gw-1\n");
  const std::string text = all(problems);
  EXPECT_THAT(text, HasSubstr("missing required section `identity`"));
  EXPECT_THAT(text, HasSubstr("missing required section `listeners`"));
  EXPECT_THAT(text, HasSubstr("missing required section `connections`"));

  Sections s;
  s.identity = "identity:\n  issuers: []\n";
  s.listeners = "listeners: []\n";
  s.connections = "connections: []\n";
  s.access = "";
  const std::string yaml = s.yaml();
  problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "issuers: []"), "at least one issuer is required");
  expect_problem(problems, line_of(yaml, "listeners: []"), "at least one listener is required");
  expect_problem(problems, line_of(yaml, "connections: []"), "at least one connection is required");
}

TEST_F(ConfigTest, EmptyOrNonMappingFileIsRefused) {
  EXPECT_THAT(all(load_bad("")), HasSubstr("must be a mapping of sections"));
  EXPECT_THAT(all(load_bad("- a\n- b\n")), HasSubstr("must be a mapping of sections"));
}

TEST_F(ConfigTest, BadDurationsAreReported) {
  Sections s;
  s.identity += "      max_lifetime: forever\n";
  s.connections =
      "connections:\n"
      "  - name: traces\n"
      "    protocol: postgres\n"
      "    upstream:\n"
      "      host: 127.0.0.1\n"
      "      connect_timeout: 10\n"
      "    credentials:\n"
      "      user: svc_traces\n"
      "      password_env: TRACES_PG_PASSWORD\n";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "max_lifetime"),
                 "identity.issuers[0].max_lifetime: `forever` is not a duration");
  expect_problem(problems, line_of(yaml, "connect_timeout"),
                 "connections[0].upstream.connect_timeout: `10` is not a duration");
}

TEST_F(ConfigTest, LeewayOverFiveMinutesIsRefusedSoExpiredTokensDoNotLiveOn) {
  Sections s;
  s.identity.insert(s.identity.find("  issuers:"), "  leeway: 6m\n");
  const std::string yaml = s.yaml();
  expect_problem(load_bad(yaml), line_of(yaml, "leeway"), "more than the 5m maximum");
  s = Sections{};
  s.identity.insert(s.identity.find("  issuers:"), "  leeway: 5m\n");
  EXPECT_EQ(load_ok(s.yaml()).verifier.leeway, 5min);
}

TEST_F(ConfigTest, LogFormatAndMetricsAccess) {
  Sections s;
  const Config defaults = load_ok(s.yaml());
  EXPECT_EQ(defaults.gateway.log_format, LogFormat::kJson);
  EXPECT_FALSE(defaults.gateway.admin.metrics_need_token);

  s.gateway += "  log_format: text\n  admin:\n    listen: 127.0.0.1:8443\n    metrics: token\n";
  const Config c = load_ok(s.yaml());
  EXPECT_EQ(c.gateway.log_format, LogFormat::kText);
  EXPECT_TRUE(c.gateway.admin.metrics_need_token);

  s = Sections{};
  s.gateway += "  log_format: yaml\n  admin:\n    listen: 127.0.0.1:8443\n    metrics: public\n";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "log_format"), "`yaml` is not one of: json, text");
  expect_problem(problems, line_of(yaml, "metrics:"),
                 "gateway.admin.metrics: `public` is not one of: open, token");
  EXPECT_EQ(problems.size(), 2u) << all(problems);
}

TEST_F(ConfigTest, BadEnumValuesListTheAllowedOnes) {
  Sections s;
  s.gateway += "  log_level: loud\n";
  s.listeners += "    tls: maybe\n";
  s.connections =
      "connections:\n"
      "  - name: traces\n"
      "    protocol: postgres\n"
      "    upstream:\n"
      "      host: 127.0.0.1\n"
      "      tls: verify\n"
      "    credentials:\n"
      "      user: svc_traces\n"
      "      password_env: TRACES_PG_PASSWORD\n";
  s.access =
      "access:\n"
      "  - name: dba\n"
      "    groups: [dba]\n"
      "    connections: [\"*\"]\n"
      "    actions: [read, delete]\n";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "log_level"),
                 "`loud` is not one of: trace, debug, info, warn, error, critical");
  expect_problem(problems, line_of(yaml, "tls: maybe"),
                 "listeners[0].tls: `maybe` is not one of: required, optional");
  expect_problem(problems, line_of(yaml, "tls: verify"),
                 "`verify` is not one of: disable, prefer, require, verify-full");
  expect_problem(problems, line_of(yaml, "actions:"),
                 "`delete` is not one of: read, write, ddl, admin");
}

TEST_F(ConfigTest, DuplicateNamesAreRefused) {
  Sections s;
  s.identity +=
      "    - name: corp-idp\n"
      "      issuer: https://other.example.com/\n"
      "      audience: gatehouse\n"
      "      jwks_file: idp-jwks.json\n";
  s.listeners +=
      "  - name: pg\n"
      "    protocol: postgres\n"
      "    listen: 0.0.0.0:15433\n";
  s.connections +=
      "  - name: traces\n"
      "    protocol: postgres\n"
      "    upstream: {host: db2}\n"
      "    credentials: {user: u, password_env: TRACES_PG_PASSWORD}\n";
  s.access +=
      "  - name: dba\n"
      "    groups: [ops]\n"
      "    connections: [traces]\n";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  const int second_issuer = line_of(yaml, "issuer: https://other") - 1;
  expect_problem(problems, second_issuer, "duplicate issuer name `corp-idp` (first at line");
  expect_problem(problems, line_of(yaml, "listen: 0.0.0.0:15433") - 2,
                 "duplicate listener name `pg`");
  expect_problem(problems, line_of(yaml, "upstream: {host: db2}") - 2,
                 "duplicate connection name `traces`");
  expect_problem(problems, line_of(yaml, "groups: [ops]") - 1, "duplicate access rule name `dba`");
}

TEST_F(ConfigTest, PortsOutOfRangeAreRefused) {
  Sections s;
  s.listeners = "listeners:\n  - name: pg\n    protocol: postgres\n    listen: 0.0.0.0:70000\n";
  s.connections =
      "connections:\n"
      "  - name: traces\n"
      "    protocol: postgres\n"
      "    upstream:\n"
      "      host: 127.0.0.1\n"
      "      port: 0\n"
      "    credentials:\n"
      "      user: svc_traces\n"
      "      password_env: TRACES_PG_PASSWORD\n";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "listen:"), "`70000` is out of range (1-65535)");
  expect_problem(problems, line_of(yaml, "port: 0"), "`0` is out of range (1-65535)");
}

TEST_F(ConfigTest, ListenMustBeHostColonPortWithIpv6InBrackets) {
  for (const std::string bad :
       {"15432", "localhost", ":5432", "[::1]5432", "[]:5432", "host:", "host:abc"}) {
    Sections s;
    s.listeners = "listeners:\n  - name: pg\n    protocol: postgres\n    listen: \"" + bad + "\"\n";
    const std::string yaml = s.yaml();
    expect_problem(load_bad(yaml), line_of(yaml, "listen:"), "listeners[0].listen");
  }
  Sections s;
  s.listeners = "listeners:\n  - name: pg\n    protocol: postgres\n    listen: \"::1:5432\"\n";
  const std::string yaml = s.yaml();
  expect_problem(load_bad(yaml), line_of(yaml, "listen:"), "write IPv6 addresses in brackets");

  s.listeners = "listeners:\n  - name: pg\n    protocol: postgres\n    listen: \"[::1]:5432\"\n";
  Config c = load_ok(s.yaml());
  EXPECT_EQ(c.listeners[0].host, "::1");
  EXPECT_EQ(c.listeners[0].port, 5432);
}

TEST_F(ConfigTest, TwoListenersOnOneAddressAreRefused) {
  Sections s;
  s.listeners += "  - name: pg2\n    protocol: postgres\n    listen: 0.0.0.0:15432\n";
  const std::string yaml = s.yaml();
  expect_problem(load_bad(yaml), line_of(yaml, "name: pg2") + 2,
                 "is already used by listener `pg`");
}

TEST_F(ConfigTest, AccessRuleNamingAnUnknownConnectionIsRefusedButGlobsAreNot) {
  Sections s;
  s.access =
      "access:\n"
      "  - name: typo\n"
      "    groups: [dba]\n"
      "    connections: [traces, tracse]\n"
      "  - name: glob\n"
      "    groups: [dba]\n"
      "    connections: [\"trac*\", \"bill?ng\"]\n";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  ASSERT_EQ(problems.size(), 1u) << all(problems);
  expect_problem(problems, line_of(yaml, "[traces, tracse]"),
                 "access[0].connections: unknown connection `tracse`");
}

TEST_F(ConfigTest, AccessRuleWithNeitherGroupsNorSubjectsIsRefused) {
  Sections s;
  s.access =
      "access:\n"
      "  - name: nobody\n"
      "    connections: [traces]\n"
      "  - name: empty\n"
      "    groups: []\n"
      "    subjects: []\n"
      "    connections: [traces]\n";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  const std::string msg =
      "an access rule must name groups or subjects; use groups: ['*'] for every authenticated "
      "caller";
  expect_problem(problems, line_of(yaml, "name: nobody"), "access[0]: " + msg);
  expect_problem(problems, line_of(yaml, "name: empty"), "access[1]: " + msg);
}

TEST_F(ConfigTest, AccessActionsAndTablesAreLoaded) {
  Sections s;
  s.access =
      "access:\n"
      "  - name: readers\n"
      "    groups: [ai-agents]\n"
      "    connections: [traces]\n"
      "  - name: tables-only\n"
      "    subjects: [ci-bot]\n"
      "    connections: [traces]\n"
      "    actions: [read, write]\n"
      "    tables: [\"public.*\", \"audit.log\"]\n";
  Config c = load_ok(s.yaml());
  ASSERT_EQ(c.access.rules.size(), 2u);
  // No `actions` means read only: least privilege by default.
  EXPECT_EQ(c.access.rules[0].actions, std::vector<policy::Action>{policy::Action::kRead});
  EXPECT_EQ(c.access.rules[1].actions,
            (std::vector<policy::Action>{policy::Action::kRead, policy::Action::kWrite}));
  EXPECT_EQ(c.access.rules[1].tables, (std::vector<std::string>{"public.*", "audit.log"}));
}

TEST_F(ConfigTest, UnqualifiedTableGlobIsRefused) {
  Sections s;
  s.access =
      "access:\n"
      "  - name: readers\n"
      "    groups: [ai-agents]\n"
      "    connections: [traces]\n"
      "    tables: [users]\n";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "tables: [users]"),
                 "access[0].tables: `users` must be schema-qualified (e.g. public.users)");
}

TEST_F(ConfigTest, GuardrailsAreLoaded) {
  Sections s;
  s.extra =
      "guardrails:\n"
      "  - name: no-destructive-ddl\n"
      "    statements: [drop, truncate, alter_system]\n"
      "  - name: no-unbounded-writes\n"
      "    statements: [update, delete]\n"
      "    without_where: true\n"
      "  - name: no-server-file-access\n"
      "    functions: [pg_read_file, \"dblink*\"]\n"
      "  - name: agents\n"
      "    groups: [ai-agents]\n"
      "    connections: [traces]\n"
      "    statements: [do, call]\n"
      "    tables: [\"secret.*\"]\n"
      "  - name: no-inference\n"
      "    groups: [ai-agents]\n"
      "    masked_columns_in_predicates: true\n";
  Config c = load_ok(s.yaml());
  ASSERT_EQ(c.guardrails.size(), 5u);
  EXPECT_TRUE(c.guardrails[4].masked_columns_in_predicates);
  EXPECT_FALSE(c.guardrails[3].masked_columns_in_predicates);
  EXPECT_EQ(c.guardrails[0].name, "no-destructive-ddl");
  EXPECT_EQ(c.guardrails[0].statements,
            (std::vector<model::Kind>{model::Kind::kDrop, model::Kind::kTruncate,
                                      model::Kind::kAlterSystem}));
  EXPECT_TRUE(c.guardrails[1].without_where);
  EXPECT_EQ(c.guardrails[2].functions, (std::vector<std::string>{"pg_read_file", "dblink*"}));
  EXPECT_EQ(c.guardrails[3].groups, std::vector<std::string>{"ai-agents"});
  EXPECT_EQ(c.guardrails[3].tables, std::vector<std::string>{"secret.*"});
}

TEST_F(ConfigTest, MaskingRulesAreLoaded) {
  Sections s;
  s.extra =
      "masking:\n"
      "  - name: pii\n"
      "    connections: [\"*\"]\n"
      "    columns: [\"*.email\", \"public.users.ssn\", \"*.*api_key*\"]\n"
      "    detectors: [email, credit_card, us_ssn, phone, iban, ip_address, jwt, aws_access_key, "
      "private_key, generic_secret]\n"
      "    style: partial\n"
      "    json_paths: [\"$.user.email\", \"$..password\"]\n"
      "    except_groups: [pii-auditors]\n"
      "  - name: refs\n"
      "    columns: [public.orders.customer_ref]\n"
      "    style: hash\n";
  Config c = load_ok(s.yaml());
  ASSERT_EQ(c.masking.size(), 2u);
  EXPECT_EQ(c.masking[0].name, "pii");
  EXPECT_EQ(c.masking[0].columns.size(), 3u);
  EXPECT_TRUE(c.masking[0].detectors.all());
  EXPECT_EQ(c.masking[0].style, masking::Style::kPartial);
  ASSERT_EQ(c.masking[0].json_paths.size(), 2u);
  EXPECT_EQ(c.masking[0].json_paths[1].text, "$..password");
  EXPECT_EQ(c.masking[0].except_groups, std::vector<std::string>{"pii-auditors"});
  EXPECT_EQ(c.masking[1].connections, std::vector<std::string>{"*"});  // the default
  EXPECT_EQ(c.masking[1].style, masking::Style::kHash);
  EXPECT_TRUE(c.masking[1].detectors.none());
}

TEST_F(ConfigTest, BadMaskingRulesAreRefusedWithTheirLines) {
  Sections s;
  s.extra =
      "masking:\n"
      "  - name: a\n"
      "    detectors: [email, passport]\n"
      "  - name: b\n"
      "    style: scramble\n"
      "    columns: [email]\n"
      "  - name: c\n"
      "    json_paths: [\"user.email\"]\n"
      "  - name: d\n"
      "    except_groups: [x]\n"
      "  - name: a\n"
      "    detectors: [jwt]\n"
      "    colour: red\n";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "detectors: [email, passport]"),
                 "masking[0].detectors: unknown detector `passport` (known: email, credit_card");
  expect_problem(problems, line_of(yaml, "style: scramble"),
                 "masking[1].style: `scramble` is not one of partial, redact, hash");
  expect_problem(problems, line_of(yaml, "columns: [email]"),
                 "masking[1].columns: `email` must name table.column");
  expect_problem(problems, line_of(yaml, "json_paths: [\"user.email\"]"),
                 "masking[2].json_paths: `user.email`: a JSON path starts with $");
  expect_problem(problems, line_of(yaml, "  - name: d\n"),
                 "masking[3]: a masking rule must name columns, detectors or json_paths");
  expect_problem(problems, line_of(yaml, "colour: red"), "unknown key `colour`");
  expect_problem(problems, line_of(yaml, "  - name: a\n    detectors: [jwt]") + 0,
                 "duplicate masking rule name");
}

TEST_F(ConfigTest, BadGuardrailsAreRefusedWithTheirLines) {
  Sections s;
  s.extra =
      "guardrails:\n"
      "  - name: typo\n"
      "    statements: [dorp]\n"
      "  - name: empty\n"
      "    groups: [x]\n"
      "  - name: where-on-insert\n"
      "    statements: [insert]\n"
      "    without_where: true\n"
      "  - name: typo\n"
      "    functions: [f]\n";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "statements: [dorp]"),
                 "guardrails[0].statements: `dorp` is not a statement kind (see config.md, "
                 "statement classes)");
  expect_problem(problems, line_of(yaml, "name: empty"),
                 "guardrails[1]: a guardrail must name statements, functions or tables (a rule "
                 "that matches nothing protects nothing)");
  expect_problem(problems, line_of(yaml, "without_where: true"),
                 "guardrails[2].without_where: applies to update and delete only");
  EXPECT_THAT(all(problems), HasSubstr("duplicate guardrail name `typo`"));
}

TEST_F(ConfigTest, ReadCredentialsAndSearchPathAreLoaded) {
  Sections s;
  Config base = load_ok(s.yaml());
  ASSERT_FALSE(base.connections.empty());
  EXPECT_FALSE(base.connections[0].read_credentials.has_value());
  EXPECT_EQ(base.connections[0].search_path, "public");

  s.connections =
      "connections:\n"
      "  - name: traces\n"
      "    protocol: postgres\n"
      "    upstream:\n"
      "      host: 127.0.0.1\n"
      "      search_path: app, public\n"
      "    credentials:\n"
      "      user: svc_traces\n"
      "      password_env: TRACES_PG_PASSWORD\n"
      "    read_credentials:\n"
      "      user: svc_traces_ro\n"
      "      password_env: TRACES_PG_PASSWORD\n";
  Config c = load_ok(s.yaml());
  ASSERT_TRUE(c.connections[0].read_credentials.has_value());
  EXPECT_EQ(c.connections[0].read_credentials->user, "svc_traces_ro");
  EXPECT_FALSE(c.connections[0].read_credentials->password.empty());
  EXPECT_EQ(c.connections[0].search_path, "app, public");
}

TEST_F(ConfigTest, UnimplementedSectionsAreRefusedByName) {
  Sections s;
  s.extra = "include: [policy.yaml]\n";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "include:"),
                 "section `include` is not implemented in this build");
  EXPECT_EQ(problems.size(), 1u) << all(problems);
}

TEST_F(ConfigTest, UnimplementedFeaturesAreRefusedByNameNotIgnored) {
  const std::string yaml = R"(gateway:
  store: postgres://gatehouse:s3cr3t-url@db.internal/gatehouse
  admin:
    listen: 127.0.0.1:8443
  tls: {cert: certs/gw.crt, key: certs/gw.key}
identity:
  gateway_tokens:
    max_ttl: 1h
  issuers:
    - name: corp-idp
      issuer: https://idp.example.com/
      audience: gatehouse
      discovery: true
listeners:
  - name: my
    protocol: mysql
    listen: 0.0.0.0:13306
connections:
  - name: traces
    protocol: postgres
    upstream: {host: 127.0.0.1}
    credentials: {user: svc, password_env: TRACES_PG_PASSWORD}
    read_credentials: {user: svc_ro, password_env: TRACES_PG_PASSWORD}
  - name: shop
    protocol: mysql
    upstream: {host: 127.0.0.1}
    credentials: {user: svc, password_env: TRACES_PG_PASSWORD}
access: []
)";
  auto problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "protocol: mysql"),
                 "listeners[0].protocol: protocol mysql is not implemented in this build");
  expect_problem(problems, line_of(yaml, "name: shop") + 1,
                 "connections[1].protocol: protocol mysql is not implemented in this build");
  // The store URL's password is not echoed back.
  EXPECT_THAT(all(problems), ::testing::Not(HasSubstr("s3cr3t-url")));
}

TEST_F(ConfigTest, ApprovalRulesRolesAndTheAdminApiLoad) {
  Sections s;
  s.extra = R"(approvals:
  - name: regulated
    tables: ["public.patients"]
    statements: [select, update, delete]
    approvers: {groups: [compliance], count: 2}
    mode: wait
    timeout: 10m
  - name: export
    groups: [ai-agents]
    statements: [copy_to]
    approvers: {groups: [data-owners]}
    grant: 30m
    expires: 2h
  - name: connect-to-prod
    connections: ["*"]
    on: connect
    approvers: {groups: [sre-leads]}
roles:
  admins: [platform-admins]
  auditors: [security-auditors]
)";
  Config c = load_ok(s.yaml());
  ASSERT_EQ(c.approvals.rules.size(), 3u);
  const auto& r0 = c.approvals.rules[0];
  EXPECT_EQ(r0.count, 2);
  EXPECT_EQ(r0.mode, approvals::Mode::kWait);
  EXPECT_FALSE(r0.grant.has_value());  // once
  EXPECT_EQ(r0.timeout, std::chrono::minutes(10));
  EXPECT_EQ(c.approvals.rules[1].mode, approvals::Mode::kReject);  // the default
  EXPECT_EQ(c.approvals.rules[1].grant, std::chrono::minutes(30));
  EXPECT_EQ(c.approvals.rules[1].expires, std::chrono::hours(2));
  EXPECT_TRUE(c.approvals.rules[2].on_connect);
  EXPECT_EQ(c.approvals.rules[2].grant, std::chrono::hours(1));  // a window's default
  EXPECT_EQ(c.roles.admins, std::vector<std::string>{"platform-admins"});
}

TEST_F(ConfigTest, ApprovalRulesThatCouldNotWorkAreRefused) {
  Sections s;
  s.extra = R"(approvals:
  - name: no-approvers
    statements: [delete]
  - name: everyone-approves
    statements: [delete]
    approvers: {groups: ["*"]}
  - name: window-with-statements
    on: connect
    statements: [select]
    approvers: {groups: [sre]}
  - name: once-window
    on: connect
    grant: once
    approvers: {groups: [sre]}
  - name: rows
    rows_over: 1000
    mode: wait
    approvers: {groups: [dba]}
  - name: matches-nothing
    approvers: {groups: [dba]}
roles:
  admins: ["*"]
)";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "- name: no-approvers"),
                 "missing required key `approvers`");
  expect_problem(problems, line_of(yaml, "approvers: {groups: [\"*\"]}"),
                 "would make every caller an approver");
  expect_problem(problems, line_of(yaml, "on: connect"), "takes no statements or tables");
  expect_problem(problems, line_of(yaml, "grant: once"), "needs a duration, not `once`");
  expect_problem(problems, line_of(yaml, "mode: wait"),
                 "approvals[4].mode: a `rows_over` rule works in `reject` mode");
  expect_problem(problems, line_of(yaml, "- name: matches-nothing"), "matches nothing");
  expect_problem(problems, line_of(yaml, "admins:"), "would give every caller the role");
}

TEST_F(ConfigTest, RowThresholdsLoadAndMatchOnlyAfterTheStatementRuns) {
  Sections s;
  s.extra = R"(approvals:
  - name: bulk-export
    groups: [ai-agents]
    connections: [traces]
    rows_over: 1000
    approvers: {groups: [data-owners], count: 1}
    grant: once
  - name: any-large-result
    rows_over: 0
    approvers: {groups: [data-owners]}
)";
  Config c = load_ok(s.yaml());
  ASSERT_EQ(c.approvals.rules.size(), 2u);
  EXPECT_EQ(c.approvals.rules[0].rows_over, 1000u);
  EXPECT_EQ(c.approvals.rules[0].mode, approvals::Mode::kReject);
  EXPECT_EQ(c.approvals.rules[1].rows_over, 0u);
  EXPECT_TRUE(c.approvals.has_row_rules());
  model::Principal agent;
  agent.subject = "agent-7";
  agent.groups = {"ai-agents"};
  model::Analysis select;
  select.kind = model::Kind::kSelect;
  // A row rule never holds a statement before it runs...
  EXPECT_EQ(approvals::match_statement(c.approvals, agent, "traces", select, {}), nullptr);
  // ...it is found when the result is counted.
  const auto* rule = approvals::match_rows(c.approvals, agent, "traces", select, {});
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(rule->name, "bulk-export");
  model::Principal other;
  other.subject = "dana";
  rule = approvals::match_rows(c.approvals, other, "traces", select, {});
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(rule->name, "any-large-result");

  s.extra = R"(approvals:
  - name: bad
    rows_over: -1
    approvers: {groups: [dba]}
  - name: window
    on: connect
    rows_over: 10
    approvers: {groups: [dba]}
)";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "rows_over: -1"), "approvals[0].rows_over");
  expect_problem(problems, line_of(yaml, "rows_over: 10"), "an `on: connect` rule has none");
}

TEST_F(ConfigTest, DiscoveryIssuersAndWebhooksLoad) {
  Sections s;
  s.identity =
      "identity:\n"
      "  issuers:\n"
      "    - name: corp-idp\n"
      "      issuer: https://idp.example.com/\n"
      "      audience: gatehouse\n"
      "      discovery: true\n"
      "      ca: certs/gw.crt\n"
      "      refresh: 30m\n"
      "      min_refresh: 5s\n";
  s.extra = R"(webhooks:
  - name: slack
    url: ${SLACK_URL}
  - name: teams
    url: https://example.webhook.office.com/webhookb2/x
    events: [decided]
    timeout: 3s
    attempts: 4
)";
  env_vars_["SLACK_URL"] = "https://hooks.slack.com/services/T0/B0/secret-part";
  Config c = load_ok(s.yaml());
  ASSERT_EQ(c.issuers.size(), 1u);
  EXPECT_TRUE(c.issuers[0].discovery);
  EXPECT_TRUE(c.issuers[0].jwks_json.empty());
  EXPECT_THAT(c.issuers[0].ca_file, ::testing::EndsWith("certs/gw.crt"));
  EXPECT_EQ(c.issuers[0].refresh, std::chrono::minutes(30));
  EXPECT_EQ(c.issuers[0].min_refresh, std::chrono::seconds(5));
  ASSERT_EQ(c.webhooks.size(), 2u);
  EXPECT_EQ(c.webhooks[0].url, "https://hooks.slack.com/services/T0/B0/secret-part");
  EXPECT_TRUE(c.webhooks[0].on_created && c.webhooks[0].on_decided);
  EXPECT_FALSE(c.webhooks[1].on_created);
  EXPECT_TRUE(c.webhooks[1].on_decided);
  EXPECT_EQ(c.webhooks[1].timeout, std::chrono::seconds(3));
  EXPECT_EQ(c.webhooks[1].attempts, 4);
}

TEST_F(ConfigTest, DiscoveryAndWebhookMistakesAreRefusedWithoutEchoingTheUrl) {
  Sections s;
  s.identity =
      "identity:\n"
      "  issuers:\n"
      "    - name: corp-idp\n"
      "      issuer: http://idp.example.com/\n"
      "      audience: gatehouse\n"
      "      discovery: true\n"
      "      jwks_file: idp-jwks.json\n"
      "    - name: file-idp\n"
      "      issuer: https://other.example.com/\n"
      "      audience: gatehouse\n"
      "      jwks_file: idp-jwks.json\n"
      "      min_refresh: 5s\n";
  s.extra = R"(webhooks:
  - name: plain
    url: http://hooks.example.com/services/very-secret-token
  - name: odd
    url: https://hooks.example.com/x
    events: [approved]
    attempts: 0
)";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "jwks_file: idp-jwks.json"),
                 "`jwks_file` and `discovery: true` both say where the keys come from");
  expect_problem(problems, line_of(yaml, "min_refresh:"), "applies only with `discovery: true`");
  expect_problem(problems, line_of(yaml, "url: http://hooks"),
                 "webhooks[0].url: http:// is allowed only to a loopback address");
  expect_problem(problems, line_of(yaml, "events: [approved]"),
                 "`approved` is not one of: created, decided");
  expect_problem(problems, line_of(yaml, "attempts: 0"), "webhooks[1].attempts");
  EXPECT_THAT(all(problems), ::testing::Not(HasSubstr("very-secret-token")));
}

TEST_F(ConfigTest, RecordingKeepsMaskedResultsOnlyWhenConfigured) {
  Sections s;
  EXPECT_FALSE(load_ok(s.yaml()).recording.results);  // no section: statements only
  s.extra = "recording:\n  max_rows_per_statement: 5\n  retention: 30d\n";
  Config c = load_ok(s.yaml());
  EXPECT_TRUE(c.recording.results);
  EXPECT_EQ(c.recording.max_rows_per_statement, 5u);
  EXPECT_EQ(c.recording.retention, std::chrono::hours(24 * 30));
  EXPECT_FALSE(c.recording.sync_audit);  // async unless asked
  EXPECT_EQ(c.recording.spool_max_bytes, 256ULL << 20);
  s.extra = "recording:\n  results: none\n  audit_durability: sync\n  spool_max: 2GiB\n";
  c = load_ok(s.yaml());
  EXPECT_FALSE(c.recording.results);
  EXPECT_TRUE(c.recording.sync_audit);
  EXPECT_EQ(c.recording.spool_max_bytes, 2ULL << 30);
  for (const char* bad : {"lots", "10 MiB", "512KiB", "2TiB", "-1MiB", "5MiBs"}) {
    s.extra = std::string("recording:\n  spool_max: ") + bad + "\n";
    const std::string yaml = s.yaml();
    auto problems = load_bad(yaml);
    expect_problem(problems, line_of(yaml, "spool_max"), "recording.spool_max");
  }
  s.extra =
      "recording:\n  results: raw\n  max_rows_per_statement: 100000\n  retention: 1h\n"
      "  audit_durability: always\n";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "results: raw"), "recording.results");
  expect_problem(problems, line_of(yaml, "max_rows_per_statement"),
                 "recording.max_rows_per_statement");
  expect_problem(problems, line_of(yaml, "retention: 1h"), "must be at least 1d");
  expect_problem(problems, line_of(yaml, "audit_durability"), "recording.audit_durability");
}

TEST_F(ConfigTest, EnvReferencesAreSubstitutedAnywhereInAValue) {
  env_vars_["PGHOST"] = "db.internal";
  env_vars_["PORT"] = "16432";
  env_vars_["IDP"] = "idp.example.com";
  env_vars_["REALM"] = "corp";
  Sections s;
  s.identity =
      "identity:\n"
      "  issuers:\n"
      "    - name: corp-idp\n"
      "      issuer: https://${IDP}/realms/${REALM}\n"
      "      audience: [\"${REALM}-gatehouse\"]\n"
      "      jwks_file: idp-jwks.json\n";
  s.listeners = "listeners:\n  - name: pg\n    protocol: postgres\n    listen: 0.0.0.0:${PORT}\n";
  s.connections =
      "connections:\n"
      "  - name: traces\n"
      "    protocol: postgres\n"
      "    upstream: {host: \"${PGHOST}\", port: \"${PORT}\"}\n"
      "    credentials: {user: \"svc_${REALM}\", password_env: TRACES_PG_PASSWORD}\n";
  Config c = load_ok(s.yaml());
  EXPECT_EQ(c.issuers[0].issuer, "https://idp.example.com/realms/corp");
  EXPECT_EQ(c.issuers[0].audiences, (std::vector<std::string>{"corp-gatehouse"}));
  EXPECT_EQ(c.listeners[0].port, 16432);
  EXPECT_EQ(c.connections[0].host, "db.internal");
  EXPECT_EQ(c.connections[0].port, 16432);
  EXPECT_EQ(c.connections[0].credentials.user, "svc_corp");
}

TEST_F(ConfigTest, AnUnsetEnvVariableIsAProblemNamingItAndItsLine) {
  Sections s;
  s.connections =
      "connections:\n"
      "  - name: traces\n"
      "    protocol: postgres\n"
      "    upstream:\n"
      "      host: \"pg-${REGION}.internal\"\n"
      "    credentials:\n"
      "      user: \"${PG_USER}\"\n"
      "      password_env: TRACES_PG_PASSWORD\n";
  s.gateway += "  data_dir: ${STATE_DIR\n";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "${REGION}"),
                 "connections[0].upstream.host: environment variable `REGION` is not set");
  expect_problem(problems, line_of(yaml, "${PG_USER}"),
                 "environment variable `PG_USER` is not set");
  expect_problem(problems, line_of(yaml, "${STATE_DIR"), "unterminated `${`");
}

TEST_F(ConfigTest, PasswordComesFromTheNamedEnvironmentVariable) {
  Sections s;
  Config c = load_ok(s.yaml());
  EXPECT_EQ(c.connections[0].credentials.password, kEnvPassword);

  env_vars_.erase("TRACES_PG_PASSWORD");
  const std::string yaml = s.yaml();
  expect_problem(load_bad(yaml), line_of(yaml, "password_env"),
                 "connections[0].credentials.password_env: environment variable "
                 "`TRACES_PG_PASSWORD` is not set");
}

TEST_F(ConfigTest, PasswordFileIsReadWithoutItsTrailingNewline) {
  write("secrets/crlf.pw", "with-crlf\r\n");
  Sections s;
  s.connections =
      "connections:\n"
      "  - name: traces\n"
      "    protocol: postgres\n"
      "    upstream: {host: h}\n"
      "    credentials: {user: u, password_file: secrets/billing.pw}\n"
      "  - name: other\n"
      "    protocol: postgres\n"
      "    upstream: {host: h}\n"
      "    credentials: {user: u, password_file: secrets/crlf.pw}\n";
  Config c = load_ok(s.yaml());
  EXPECT_EQ(c.connections[0].credentials.password, kFilePassword);
  EXPECT_EQ(c.connections[1].credentials.password, "with-crlf");
}

TEST_F(ConfigTest, PasswordSourceMustBeExactlyOneThatExists) {
  Sections s;
  s.connections =
      "connections:\n"
      "  - name: a\n"
      "    protocol: postgres\n"
      "    upstream: {host: h}\n"
      "    credentials: {user: u, password_env: TRACES_PG_PASSWORD, password_file: "
      "secrets/billing.pw}\n"
      "  - name: b\n"
      "    protocol: postgres\n"
      "    upstream: {host: h}\n"
      "    credentials: {user: u}\n"
      "  - name: c\n"
      "    protocol: postgres\n"
      "    upstream: {host: h}\n"
      "    credentials: {user: u, password_file: secrets/missing.pw}\n";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "password_env: TRACES_PG_PASSWORD, password_file"),
                 "connections[0].credentials: set `password_env` or `password_file`, not both");
  expect_problem(problems, line_of(yaml, "credentials: {user: u}"),
                 "connections[1].credentials: missing `password_env` or `password_file`");
  expect_problem(problems, line_of(yaml, "missing.pw"),
                 "connections[2].credentials.password_file: cannot read the file: does not "
                 "exist");
}

TEST_F(ConfigTest, APasswordPastedWhereItsVariableOrFileBelongsIsNotEchoed) {
  Sections s;
  s.connections =
      "connections:\n"
      "  - name: a\n"
      "    protocol: postgres\n"
      "    upstream: {host: h}\n"
      "    credentials: {user: u, password_env: correcthorse}\n"
      "  - name: b\n"
      "    protocol: postgres\n"
      "    upstream: {host: h}\n"
      "    credentials: {user: u, password_env: \"battery!staple\"}\n"
      "  - name: c\n"
      "    protocol: postgres\n"
      "    upstream: {host: h}\n"
      "    credentials: {user: u, password_file: \"Tr0ub4dor&3\"}\n";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  ASSERT_EQ(problems.size(), 3u) << all(problems);
  expect_problem(problems, line_of(yaml, "correcthorse"), "names no set environment variable");
  expect_problem(problems, line_of(yaml, "battery"), "names no set environment variable");
  expect_problem(problems, line_of(yaml, "Tr0ub4dor"), "cannot read the file: does not exist");
  const std::string text = all(problems);
  EXPECT_THAT(text, ::testing::Not(HasSubstr("correcthorse")));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("battery")));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("Tr0ub4dor")));
}

TEST_F(ConfigTest, RelativePathsResolveAgainstTheConfigFilesDirectory) {
  fs::create_directories(dir_ / "etc" / "keys");
  write("etc/keys/jwks.json", R"({"keys":[1]})");
  write("etc/pw", "p\n");
  Sections s;
  s.gateway =
      "gateway:\n"
      "  data_dir: ../state\n"
      "  tls:\n"
      "    cert: " +
      (dir_ / "certs/gw.crt").string() +
      "\n"  // absolute stays as written
      "    key: ../certs/gw.key\n";
  s.identity =
      "identity:\n"
      "  issuers:\n"
      "    - name: corp-idp\n"
      "      issuer: https://idp.example.com/\n"
      "      audience: gatehouse\n"
      "      jwks_file: keys/jwks.json\n";
  s.connections =
      "connections:\n"
      "  - name: traces\n"
      "    protocol: postgres\n"
      "    upstream: {host: h, tls: verify-full, ca: ../certs/ca.crt}\n"
      "    credentials: {user: u, password_file: ./pw}\n";
  // The text says it came from <dir>/etc/gatehouse.yaml, wherever the process runs.
  auto loaded = load_string(s.yaml(), (dir_ / "etc" / "gatehouse.yaml").string(), env());
  ASSERT_TRUE(loaded.has_value()) << all(loaded.error());
  const std::string d = dir_.string();
  EXPECT_EQ(loaded->gateway.data_dir, d + "/state");
  EXPECT_EQ(loaded->gateway.tls_cert, d + "/certs/gw.crt");
  EXPECT_EQ(loaded->gateway.tls_key, d + "/certs/gw.key");
  EXPECT_EQ(loaded->issuers[0].jwks_json, R"({"keys":[1]})");
  EXPECT_EQ(loaded->connections[0].ca_file, d + "/certs/ca.crt");
  EXPECT_EQ(loaded->connections[0].credentials.password, "p");
}

TEST_F(ConfigTest, RequiredTlsListenerWithoutACertificateIsRefused) {
  Sections s;
  s.gateway = "gateway:\n  id: gw-1\n";
  s.listeners =
      "listeners:\n"
      "  - name: secure\n"
      "    protocol: postgres\n"
      "    listen: 0.0.0.0:15432\n"
      "  - name: loopback\n"
      "    protocol: postgres\n"
      "    listen: 127.0.0.1:15433\n"
      "    tls: optional\n";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  ASSERT_EQ(problems.size(), 1u) << all(problems);
  expect_problem(problems, line_of(yaml, "name: secure"),
                 "listeners[0]: tls: required needs a certificate");
}

TEST_F(ConfigTest, MissingFilesAreReportedWhereTheyAreNamed) {
  Sections s;
  s.gateway = "gateway:\n  tls:\n    cert: certs/nope.crt\n    key: certs/gw.key\n";
  s.identity =
      "identity:\n"
      "  issuers:\n"
      "    - name: corp-idp\n"
      "      issuer: https://idp.example.com/\n"
      "      audience: gatehouse\n"
      "      jwks_file: missing-jwks.json\n";
  s.listeners =
      "listeners:\n"
      "  - name: pg\n"
      "    protocol: postgres\n"
      "    listen: 0.0.0.0:15432\n"
      "    cert: certs/gw.crt\n"
      "    key: certs\n";
  s.connections =
      "connections:\n"
      "  - name: traces\n"
      "    protocol: postgres\n"
      "    upstream: {host: h, tls: verify-full, ca: certs/nope-ca.crt}\n"
      "    credentials: {user: u, password_env: TRACES_PG_PASSWORD}\n"
      "  - name: noca\n"
      "    protocol: postgres\n"
      "    upstream: {host: h, tls: verify-full}\n"
      "    credentials: {user: u, password_env: TRACES_PG_PASSWORD}\n";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "nope.crt"), "gateway.tls.cert: cannot read");
  expect_problem(problems, line_of(yaml, "missing-jwks.json"),
                 "identity.issuers[0].jwks_file: cannot read " +
                     (dir_ / "missing-jwks.json").string() + ": does not exist");
  expect_problem(problems, line_of(yaml, "key: certs\n"), "is a directory");
  expect_problem(problems, line_of(yaml, "nope-ca.crt"), "connections[0].upstream.ca: cannot read");
  // verify-full without `ca` is not a problem: the system's trust store verifies.
  EXPECT_THAT(all(problems), ::testing::Not(HasSubstr("connections[1]")));
  // The listener's problem is its unreadable key, not a second "needs a certificate".
  EXPECT_THAT(all(problems), ::testing::Not(HasSubstr("needs a certificate")));
}

TEST_F(ConfigTest, CertWithoutKeyIsRefused) {
  Sections s;
  s.listeners += "    cert: certs/gw.crt\n";
  const std::string yaml = s.yaml();
  expect_problem(load_bad(yaml), line_of(yaml, "- name: pg"),
                 "listeners[0]: `cert` and `key` go together; `key` is missing");
}

TEST_F(ConfigTest, OtherGatewayValuesAreChecked) {
  Sections s;
  s.gateway += "  io_threads: -1\n  store: mongodb\n";
  const std::string yaml = s.yaml();
  auto problems = load_bad(yaml);
  expect_problem(problems, line_of(yaml, "io_threads"), "gateway.io_threads: `-1` is out of range");
  expect_problem(problems, line_of(yaml, "store:"), "gateway.store: must be `sqlite`");
}

TEST_F(ConfigTest, APostgresStoreUrlIsKeptForTheStoreToOpen) {
  for (const std::string url : {"postgres://gatehouse@db.internal/gatehouse",
                                "postgresql://gh:pw@127.0.0.1:5433/audit?sslmode=require"}) {
    Sections s;
    s.gateway += "  store: " + url + "\n";
    EXPECT_EQ(load_ok(s.yaml()).gateway.store, url);
  }
}

TEST_F(ConfigTest, EveryProblemInAFileIsListedInLineOrder) {
  const std::string yaml = R"(gateway:
  log_level: chatty
identity:
  leeway: 1y
  issuers:
    - name: corp-idp
      issuer: https://idp.example.com/
      audience: gatehouse
      jwks_file: idp-jwks.json
listeners:
  - name: pg
    protocol: postgres
    listen: nowhere
connections:
  - name: traces
    protocol: postgres
    upstream: {host: h, port: 99999}
    credentials: {user: u, password_env: UNSET_PW}
access:
  - name: r
    groups: [g]
    connections: [billing]
recording: {retention: 1h}
)";
  auto problems = load_bad(yaml);
  ASSERT_EQ(problems.size(), 8u) << all(problems);
  expect_problem(problems, 2, "log_level");
  expect_problem(problems, 4, "leeway");
  expect_problem(problems, 13, "is not host:port");
  expect_problem(problems, 11, "tls: required needs a certificate");
  expect_problem(problems, 17, "out of range");
  expect_problem(problems, 18, "`UNSET_PW` is not set");
  expect_problem(problems, 22, "unknown connection `billing`");
  expect_problem(problems, 23, "recording.retention: must be at least 1d");
  for (std::size_t i = 1; i < problems.size(); ++i) {
    EXPECT_LE(problems[i - 1].line, problems[i].line);
  }
}

TEST_F(ConfigTest, NoPasswordTextAppearsInAnyProblemOrWarning) {
  env_vars_["ALSO_SECRET"] = kEnvPassword;
  write("secrets/world-readable.pw", std::string(kFilePassword) + "\n");
  fs::permissions(dir_ / "secrets/world-readable.pw", fs::perms::others_read,
                  fs::perm_options::add);
  // Secrets put where they do not belong, next to many other problems.
  const std::string yaml = std::string(R"(gateway:
  id: ${ALSO_SECRET}x
  log_level: ${ALSO_SECRET}
  store: "${ALSO_SECRET}"
identity:
  leeway: ${ALSO_SECRET}
  issuers:
    - name: corp-idp
      issuer: https://idp.example.com/
      audience: gatehouse
      jwks_file: idp-jwks.json
      max_lifetime: ${ALSO_SECRET}
listeners:
  - name: pg
    protocol: postgres
    listen: "${ALSO_SECRET}"
    tls: "${ALSO_SECRET}"
connections:
  - name: traces
    protocol: postgres
    upstream: {host: h, port: "${ALSO_SECRET}", tls: "${ALSO_SECRET}"}
    credentials: {user: u, password_env: TRACES_PG_PASSWORD, password: )") +
                           kFilePassword + R"(}
  - name: file
    protocol: postgres
    upstream: {host: h, connect_timeout: "${ALSO_SECRET}"}
    credentials: {user: u, password_file: secrets/world-readable.pw}
access:
  - name: r
    groups: [g]
    connections: ["${ALSO_SECRET}"]
    actions: ["${ALSO_SECRET}"]
)";
  auto loaded = load(yaml);
  ASSERT_FALSE(loaded.has_value());
  const std::string text = all(loaded.error());
  EXPECT_GE(loaded.error().size(), 10u) << text;
  EXPECT_THAT(text, ::testing::Not(HasSubstr(kEnvPassword)));
  EXPECT_THAT(text, ::testing::Not(HasSubstr(kFilePassword)));

  // And a loadable file's warnings (world-readable password file) name the path only.
  Sections s;
  s.connections =
      "connections:\n"
      "  - name: traces\n"
      "    protocol: postgres\n"
      "    upstream: {host: h}\n"
      "    credentials: {user: u, password_file: secrets/world-readable.pw}\n";
  Config c = load_ok(s.yaml());
  ASSERT_FALSE(c.warnings.empty());
  for (const auto& w : c.warnings) EXPECT_THAT(w, ::testing::Not(HasSubstr(kFilePassword)));
  EXPECT_THAT(c.warnings, ::testing::Contains(HasSubstr("is readable by every user")));
}

TEST_F(ConfigTest, ProblemPrintsAsFileLineMessage) {
  EXPECT_EQ((Problem{"/etc/gh.yaml", 12, "bad"}).to_string(), "/etc/gh.yaml:12: bad");
  EXPECT_EQ((Problem{"/etc/gh.yaml", 0, "bad"}).to_string(), "/etc/gh.yaml: bad");
}

TEST_F(ConfigTest, AnUnreadableConfigFileIsOneProblem) {
  auto loaded = load_file((dir_ / "nope.yaml").string(), env());
  ASSERT_FALSE(loaded.has_value());
  ASSERT_EQ(loaded.error().size(), 1u);
  EXPECT_THAT(loaded.error()[0].message, HasSubstr("does not exist"));
}

TEST_F(ConfigTest, NoAccessRulesLoadsWithAWarningThatEverythingIsDenied) {
  Sections s;
  s.access = "";
  Config c = load_ok(s.yaml());
  EXPECT_TRUE(c.access.rules.empty());
  EXPECT_THAT(c.warnings, ::testing::Contains(HasSubstr("every connection will be refused")));
}

TEST(ProcessEnv, ReadsTheRealEnvironment) {
  ::setenv("GH_CONFIG_TEST_VAR", "value-1", 1);
  auto env = process_env();
  EXPECT_EQ(env("GH_CONFIG_TEST_VAR"), std::optional<std::string>("value-1"));
  ::unsetenv("GH_CONFIG_TEST_VAR");
  EXPECT_EQ(env("GH_CONFIG_TEST_VAR"), std::nullopt);
}

}  // namespace
}  // namespace gh::config

namespace gh::config {
namespace {

TEST_F(ConfigTest, UpstreamAuthNarrowsThePasswordExchangesAndRefusesUnknownOnes) {
  Sections s;
  // Default: SCRAM only.
  EXPECT_TRUE(load_ok(s.yaml()).connections[0].auth.scram_sha_256);
  EXPECT_FALSE(load_ok(s.yaml()).connections[0].auth.password);
  s.connections =
      "connections:\n"
      "  - name: traces\n"
      "    protocol: postgres\n"
      "    upstream:\n"
      "      host: 127.0.0.1\n"
      "      auth: [scram-sha-256]\n"
      "    credentials:\n"
      "      user: svc_traces\n"
      "      password_env: TRACES_PG_PASSWORD\n";
  auto c = load_ok(s.yaml()).connections[0];
  EXPECT_TRUE(c.auth.scram_sha_256);
  EXPECT_FALSE(c.auth.md5);
  EXPECT_FALSE(c.auth.password);

  s.connections.replace(s.connections.find("[scram-sha-256]"), 15, "[scram-sha-256, kerberos]");
  const std::string yaml = s.yaml();
  expect_problem(load_bad(yaml), line_of(yaml, "auth:"),
                 "unknown method `kerberos` (allowed: scram-sha-256, md5, password, trust)");
}

TEST_F(ConfigTest, UpstreamSettingsWeakerThanTheDefaultsAreAcceptedWithAWarning) {
  Sections s;
  s.connections =
      "connections:\n"
      "  - name: remote\n"
      "    protocol: postgres\n"
      "    upstream: {host: db.internal, tls: require, auth: [scram-sha-256, md5, trust]}\n"
      "    credentials: {user: u, password_env: TRACES_PG_PASSWORD}\n"
      "  - name: local\n"
      "    protocol: postgres\n"
      "    upstream: {host: 127.0.0.1, tls: disable}\n"
      "    credentials: {user: u, password_env: TRACES_PG_PASSWORD}\n"
      "  - name: strict\n"
      "    protocol: postgres\n"
      "    upstream: {host: db.internal}\n"
      "    credentials: {user: u, password_env: TRACES_PG_PASSWORD}\n";
  const Config c = load_ok(s.yaml());
  EXPECT_TRUE(c.connections[0].auth.trust);
  auto about = [&](const std::string& who) {
    std::vector<std::string> out;
    for (const auto& w : c.warnings)
      if (w.starts_with(who)) out.push_back(w);
    return out;
  };
  const auto remote = about("connections[0]");
  EXPECT_THAT(remote, ::testing::Contains(HasSubstr("tls: require encrypts but does not verify")));
  EXPECT_THAT(remote, ::testing::Contains(HasSubstr("`md5`")));
  EXPECT_THAT(remote, ::testing::Contains(HasSubstr("`trust`")));
  // No wire to listen on: TLS off to the gateway's own machine is not worth a warning.
  EXPECT_TRUE(about("connections[1]").empty());
  EXPECT_TRUE(about("connections[2]").empty());
}

}  // namespace
}  // namespace gh::config
