// `gatehouse connect`: the local forwarder as a process of its own in front of
// the test gateway, with real psql and libpq pointed at it and no password
// anywhere on the client side: plaintext and TLS to the gateway, the dbname
// replaced, an expired or missing token refused clearly (and the forwarder
// serving the next client), the gateway's own refusals passed through,
// cancel, concurrent clients, a non-loopback --listen refused, SIGTERM.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "tests/integration/harness.h"

namespace gh::it {
namespace {

constexpr const char* kListening = "gatehouse connect listening 127.0.0.1:";

// A `gatehouse connect` process of a test's own, reading its token from a
// file the test rewrites. Stopped when destroyed; its directory (and log) is
// kept after a failure.
struct Forwarder {
  std::string dir;
  std::string log;
  std::string token_file;
  int port = 0;
  testbed::Process process;

  Forwarder(const std::string& connection, int gateway_port, const std::string& sslmode,
            const std::string& token, const std::vector<std::string>& extra = {}) {
    dir = testbed::make_temp_dir("gatehouse-connect");
    log = dir + "/connect.log";
    token_file = dir + "/token";
    set_token(token);
    std::vector<std::string> argv = {GH_GATEHOUSE_BIN,
                                     "connect",
                                     connection,
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--pg",
                                     "127.0.0.1:" + std::to_string(gateway_port),
                                     "--sslmode",
                                     sslmode,
                                     "--token-file",
                                     token_file};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process = testbed::Process::start(argv, log);
    if (!testbed::wait_for_text(log, kListening, std::chrono::seconds(60)))
      throw std::runtime_error("gatehouse connect did not start: " + testbed::read_file(log));
    std::string text = testbed::read_file(log);
    port = std::stoi(text.substr(text.find(kListening) + std::string(kListening).size()));
  }
  ~Forwarder() {
    process.stop();
    if (::testing::UnitTest::GetInstance()->failed_test_count() > 0) {
      std::cerr << "forwarder kept for inspection: " << dir << "\n";
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // With a trailing newline, as editors and `echo` leave it.
  void set_token(const std::string& token) const {
    testbed::write_file(token_file, token + "\n", 0600);
  }

  // psql with no password at all: none given, no password file, and -w so
  // that it fails rather than prompts if a password were asked for.
  testbed::RunResult psql(const std::string& sql, const std::string& dbname = "whatever") const {
    return testbed::run({"psql", "-X", "-w", "-A", "-t", "-c", sql},
                        {{"PGHOST", "127.0.0.1"},
                         {"PGPORT", std::to_string(port)},
                         {"PGDATABASE", dbname},
                         {"PGUSER", "agent-7"},
                         {"PGPASSWORD", ""},
                         {"PGPASSFILE", dir + "/no-such-pgpass"},
                         {"PGSSLMODE", "prefer"},
                         {"PGCONNECT_TIMEOUT", "20"}},
                        std::chrono::seconds(60));
  }

  Conn connect(const std::string& dbname = "whatever") const {
    return Conn(PQconnectdb(("host=127.0.0.1 port=" + std::to_string(port) + " dbname=" + dbname +
                             " user=agent-7 sslmode=disable connect_timeout=20 passfile=" + dir +
                             "/no-such-pgpass")
                                .c_str()));
  }
};

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

TEST(Connect, PsqlNeedsNoPasswordAndTheDbnameIsReplaced) {
  auto& w = World::get();
  const std::string token = w.agent_token();
  // app_md5 logs in upstream as gh_md5; the client asks for `billing`, which
  // the agent may not use: the answer shows its dbname was replaced.
  Forwarder f("app_md5", w.port, "disable", token);
  auto r = f.psql("SELECT current_user || ' ' || current_database()", "billing");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(trimmed(r.output), "gh_md5 app");

  auto c = f.connect("no_such_connection");
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  EXPECT_EQ(scalar(c.get(), "SELECT current_user"), "gh_md5");
  EXPECT_EQ(scalar(c.get(), "SELECT 6 * 7"), "42");
  c.reset();

  EXPECT_EQ(testbed::read_file(f.log).find(token), std::string::npos) << "the token was printed";
}

TEST(Connect, OverTlsToTheGateway) {
  auto& w = World::get();
  const std::string token = w.agent_token();
  {
    Forwarder f("app", w.tls_port, "require", token);
    auto r = f.psql("SELECT 'tls ' || 1");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(trimmed(r.output), "tls 1");
  }
  {
    Forwarder f("app", w.tls_port, "verify-full", token, {"--ca", w.dir + "/gw.crt"});
    auto r = f.psql("SELECT 'verified ' || 2");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(trimmed(r.output), "verified 2");
  }
  {
    // A CA that did not sign the gateway's certificate: no session, a clear reason.
    Forwarder f("app", w.tls_port, "verify-full", token, {"--ca", w.dir + "/other-ca.crt"});
    auto r = f.psql("SELECT 1");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.output.find("gatehouse connect: TLS to the gateway"), std::string::npos)
        << r.output;
    EXPECT_TRUE(f.process.running());
  }
  {
    // Plaintext to a TLS-only listener: the gateway's refusal reaches psql as it was sent.
    Forwarder f("app", w.tls_port, "disable", token);
    auto r = f.psql("SELECT 1");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.output.find("gatehouse: this listener requires TLS"), std::string::npos)
        << r.output;
  }
}

TEST(Connect, AnExpiredTokenIsRefusedClearlyAndTheNextClientGetsThrough) {
  auto& w = World::get();
  Forwarder f("app", w.port, "disable", w.idp->mint("agent-7", {"ai-agents"}, -120));
  auto r = f.psql("SELECT 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("FATAL:  gatehouse connect: the token expired at "), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(" UTC; get a new one"), std::string::npos) << r.output;
  EXPECT_TRUE(testbed::wait_for_text(f.log, "gatehouse connect: the token expired at ",
                                     std::chrono::seconds(5)));
  EXPECT_TRUE(f.process.running());

  // The file is read again for each client: a refreshed token is picked up.
  f.set_token(w.agent_token());
  r = f.psql("SELECT 'fresh'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(trimmed(r.output), "fresh");
}

TEST(Connect, MissingTokenAndTheGatewaysRefusalsReachTheClient) {
  auto& w = World::get();
  Forwarder f("app", w.port, "disable", w.agent_token());

  std::filesystem::remove(f.token_file);
  auto r = f.psql("SELECT 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("FATAL:  gatehouse connect: no token: cannot read the token file"),
            std::string::npos)
      << r.output;

  // A token the gateway does not trust: its own 28P01, unchanged.
  f.set_token(w.rogue_idp->mint("agent-7", {"ai-agents"}));
  r = f.psql("SELECT 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("FATAL:  gatehouse: token rejected:"), std::string::npos) << r.output;

  // A valid token for a connection the caller may not use.
  Forwarder billing("billing", w.port, "disable", w.agent_token());
  r = billing.psql("SELECT 1", "app");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("gatehouse: agent-7 may not connect to billing"), std::string::npos)
      << r.output;
  EXPECT_TRUE(f.process.running());
  EXPECT_TRUE(billing.process.running());
}

TEST(Connect, CancelIsForwardedToTheGateway) {
  auto& w = World::get();
  Forwarder f("app", w.port, "disable", w.agent_token());
  auto c = f.connect();
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  ASSERT_EQ(PQsendQuery(c.get(), "SELECT pg_sleep(60)"), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto started = std::chrono::steady_clock::now();
  PGcancel* cancel = PQgetCancel(c.get());
  char err[256];
  ASSERT_EQ(PQcancel(cancel, err, sizeof err), 1) << err;
  PQfreeCancel(cancel);
  Result r(PQgetResult(c.get()));
  EXPECT_EQ(sqlstate(r.get()), "57014");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  while (PGresult* extra = PQgetResult(c.get())) PQclear(extra);
  EXPECT_EQ(scalar(c.get(), "SELECT 'alive'"), "alive");
}

TEST(Connect, ConcurrentClients) {
  auto& w = World::get();
  Forwarder f("app", w.tls_port, "require", w.agent_token());
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&, i] {
      auto c = f.connect();
      if (PQstatus(c.get()) != CONNECTION_OK) return;
      try {
        if (scalar(c.get(), "SELECT " + std::to_string(i) + " + 1") == std::to_string(i + 1)) ++ok;
      } catch (const std::exception&) {
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 20);
}

TEST(Connect, RefusesToListenBeyondLoopbackAndNeedsTheGateway) {
  auto& w = World::get();
  auto r = testbed::run({GH_GATEHOUSE_BIN, "connect", "app", "--listen", "0.0.0.0:0", "--pg",
                         "127.0.0.1:" + std::to_string(w.port), "--sslmode", "disable"},
                        {{"GATEHOUSE_TOKEN", w.agent_token()}}, std::chrono::seconds(30));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("refusing a non-loopback address"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("gatehouse connect listening"), std::string::npos) << r.output;

  r = testbed::run({GH_GATEHOUSE_BIN, "connect", "app", "--listen", "127.0.0.1:0"},
                   {{"GATEHOUSE_TOKEN", w.agent_token()}, {"GATEHOUSE_PG", ""}},
                   std::chrono::seconds(30));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--pg HOST:PORT"), std::string::npos) << r.output;
}

TEST(Connect, TokenFromTheEnvironmentAndSigtermStopsItCleanly) {
  auto& w = World::get();
  const std::string dir = testbed::make_temp_dir("gatehouse-connect-env");
  const std::string log = dir + "/connect.log";
  auto p = testbed::Process::start(
      {GH_GATEHOUSE_BIN, "connect", "app", "--listen", "127.0.0.1:0", "--sslmode", "disable"}, log,
      {{"GATEHOUSE_TOKEN", w.agent_token()},
       {"GATEHOUSE_PG", "127.0.0.1:" + std::to_string(w.port)}});
  ASSERT_TRUE(testbed::wait_for_text(log, kListening, std::chrono::seconds(60)))
      << testbed::read_file(log);
  std::string text = testbed::read_file(log);
  int port = std::stoi(text.substr(text.find(kListening) + std::string(kListening).size()));
  Conn c(PQconnectdb(("host=127.0.0.1 port=" + std::to_string(port) +
                      " dbname=x user=agent-7 sslmode=disable connect_timeout=20 passfile=" + dir +
                      "/no-such-pgpass")
                         .c_str()));
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  EXPECT_EQ(scalar(c.get(), "SELECT 'from env'"), "from env");
  // With a session open, SIGTERM ends the forwarder promptly and with status 0.
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(p.stop(), 0) << testbed::read_file(log);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  c.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace gh::it
