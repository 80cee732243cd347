// Stock command-line clients through the gateway: psql scripts, pgbench in all
// three protocols, and a session whose upstream goes away under it.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/integration/harness.h"

namespace gh::it {
namespace {

TEST(Clients, PsqlScriptRunsThroughTheGateway) {
  auto& w = World::get();
  std::string script = w.dir + "/script.sql";
  testbed::write_file(script, R"(\set ON_ERROR_STOP 0
DROP TABLE IF EXISTS traces_demo;
CREATE TABLE traces_demo(id serial primary key, agent text, step text);
INSERT INTO traces_demo(agent, step) VALUES ('a1', 'plan'), ('a1', 'act'), ('a2', 'reflect');
SELECT agent, count(*) FROM traces_demo GROUP BY agent ORDER BY agent;
SELECT * FROM this_table_does_not_exist;
\copy traces_demo(agent, step) to ')" +
                                  w.dir + R"(/traces.csv' csv
TRUNCATE traces_demo;
\copy traces_demo(agent, step) from ')" +
                                  w.dir + R"(/traces.csv' csv
SELECT 'rows after copy: ' || count(*) FROM traces_demo;
)");
  auto r =
      testbed::run({"psql", "-X", "-A", "-t", "-f", script}, client_env(w, "app", w.agent_token()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("a1|2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("a2|1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("relation \"this_table_does_not_exist\" does not exist"),
            std::string::npos);
  EXPECT_NE(r.output.find("rows after copy: 3"), std::string::npos) << r.output;
}

TEST(Clients, PsqlWithABadTokenSaysWhy) {
  auto& w = World::get();
  auto env = client_env(w, "app", "not-a-token");
  auto r = testbed::run({"psql", "-X", "-c", "SELECT 1"}, env);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("gatehouse: token rejected:"), std::string::npos) << r.output;
}

TEST(Clients, PgbenchInitThenSelectOnlyInEveryProtocol) {
  auto& w = World::get();
  auto env = client_env(w, "app", w.agent_token());
  auto init = testbed::run({"pgbench", "-i", "-s", "1", "-q"}, env, std::chrono::seconds(300));
  ASSERT_EQ(init.exit_code, 0) << init.output;
  for (const char* mode : {"simple", "extended", "prepared"}) {
    auto r = testbed::run({"pgbench", "-S", "-M", mode, "-c", "4", "-j", "2", "-t", "200", "-n"},
                          env, std::chrono::seconds(300));
    EXPECT_EQ(r.exit_code, 0) << mode << ": " << r.output;
    EXPECT_NE(r.output.find("number of transactions actually processed: 800/800"),
              std::string::npos)
        << mode << ": " << r.output;
    EXPECT_NE(r.output.find("number of failed transactions: 0"), std::string::npos)
        << mode << ": " << r.output;
  }
  // A new connection per transaction exercises token verification and upstream login.
  auto churn = testbed::run({"pgbench", "-S", "-C", "-c", "2", "-t", "25", "-n"}, env,
                            std::chrono::seconds(300));
  EXPECT_EQ(churn.exit_code, 0) << churn.output;
}

TEST(Clients, UpstreamStoppedMidSessionGives08006AndClosesTheAuditRecord) {
  auto& w = World::get();
  // A cluster of its own, so stopping it leaves the others' upstream alone.
  std::string dir = testbed::make_temp_dir("gatehouse-victim");
  auto victim = testbed::PgCluster::create(dir, {.ssl = false});
  victim.sql(
      "CREATE ROLE gh_scram LOGIN PASSWORD 'scram-secret-1'; CREATE DATABASE app OWNER gh_scram;");
  // A second gateway in front of it, sharing the world's identity provider.
  int port = testbed::free_port();
  std::string yaml = testbed::read_file(w.config_path);
  std::string cfg = dir + "/gatehouse.yaml";
  std::filesystem::copy_file(w.dir + "/jwks.json", dir + "/jwks.json");
  std::filesystem::copy_file(w.dir + "/scram.pw", dir + "/scram.pw");
  testbed::write_file(cfg, R"(gateway:
  id: gw-victim
  data_dir: ./var
  max_connections: 2
identity:
  issuers:
    - name: test-idp
      issuer: https://idp.test/
      audience: gatehouse
      jwks_file: jwks.json
listeners:
  - name: pg
    protocol: postgres
    listen: 127.0.0.1:)" + std::to_string(port) +
                               R"(
    tls: optional
connections:
  - name: app
    protocol: postgres
    upstream: {host: 127.0.0.1, port: )" +
                               std::to_string(victim.port()) + R"(, database: app, tls: disable}
    credentials: {user: gh_scram, password_file: scram.pw}
access:
  - name: agents
    groups: [ai-agents]
    connections: [app]
    actions: [read, write, ddl, admin]
)");
  auto gw = testbed::Process::start({GH_GATEHOUSE_BIN, "serve", "--config", cfg}, dir + "/gw.log");
  ASSERT_TRUE(
      testbed::wait_for_text(dir + "/gw.log", "gatehouse listening", std::chrono::seconds(60)))
      << testbed::read_file(dir + "/gw.log");

  Conn c(PQconnectdb(("host=127.0.0.1 port=" + std::to_string(port) +
                      " dbname=app user=a sslmode=disable password=" + w.agent_token())
                         .c_str()));
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  EXPECT_EQ(scalar(c.get(), "SELECT 1"), "1");
  {
    // gateway.max_connections: 2 — a second client fits, a third is turned away.
    std::string info = "host=127.0.0.1 port=" + std::to_string(port) +
                       " dbname=app user=a sslmode=disable password=" + w.agent_token();
    Conn second(PQconnectdb(info.c_str()));
    ASSERT_EQ(PQstatus(second.get()), CONNECTION_OK) << PQerrorMessage(second.get());
    Conn third(PQconnectdb(info.c_str()));
    ASSERT_EQ(PQstatus(third.get()), CONNECTION_BAD);
    EXPECT_NE(std::string(PQerrorMessage(third.get())).find("too many connections"),
              std::string::npos)
        << PQerrorMessage(third.get());
  }
  victim.stop();
  Result r(PQexec(c.get(), "SELECT 2"));
  EXPECT_NE(PQresultStatus(r.get()), PGRES_TUPLES_OK);
  std::string err = PQerrorMessage(c.get());
  // The server's own goodbye (57P01) may arrive first; the gateway's 08006 follows it.
  EXPECT_NE(err.find("connection to upstream app lost"), std::string::npos) << err;
  EXPECT_TRUE(gw.running());

  gw.stop();  // a graceful stop flushes the recorder
  auto db = dir + "/var/audit.db";
  auto rows = testbed::run(
      {"sqlite3", db, "SELECT end_reason FROM sessions WHERE ended_at_us IS NOT NULL"});
  EXPECT_NE(rows.output.find("upstream lost"), std::string::npos) << rows.output;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gh::it
