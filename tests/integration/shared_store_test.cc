// The shared PostgreSQL audit store end to end: two gateway replicas (one
// async, one sync) record into one database; each appends its own hash
// chain; either replica's admin API finds the other's statements; the store
// URL's password reaches neither log nor report; `gatehouse audit verify`
// passes on both chains with both replicas' keys, and names the row and
// the record after the database was edited by hand.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

namespace gh::it {
namespace {

using namespace std::chrono_literals;

constexpr const char* kPassword = "audit-store-secret-9";
constexpr const char* kDatabase = "gh_shared_audit";

struct Replica : OwnGateway {
  int admin_port;
  Replica(const World& w, const std::string& id, const std::string& store, int admin,
          const std::string& durability)
      : OwnGateway("gatehouse-shared-" + id,
                   [&](int p) {
                     std::string y = OwnGateway::base_yaml(w, id, p, false);
                     const std::string anchor = "  log_level: debug\n";
                     y.insert(y.find(anchor) + anchor.size(),
                              "  store: " + store + "\n  admin: {listen: \"127.0.0.1:" +
                                  std::to_string(admin) + "\", tls: off}\n");
                     return y + R"(roles:
  admins: [platform-admins]
access:
  - name: agents-read
    groups: [ai-agents]
    connections: [app]
    actions: [read]
recording:
  audit_durability: )" + durability +
                            "\n";
                   }),
        admin_port(admin) {}

  testbed::RunResult cli(const std::vector<std::string>& args, const std::string& token) const {
    std::vector<std::string> argv{GH_GATEHOUSE_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return testbed::run(argv,
                        {{"GATEHOUSE_GATEWAY", "http://127.0.0.1:" + std::to_string(admin_port)},
                         {"GATEHOUSE_TOKEN", token}},
                        60s);
  }
};

std::string store_url(const World& w) {
  return std::string("postgresql://gh_audit:") + kPassword +
         "@127.0.0.1:" + std::to_string(w.pg.port()) + "/" + kDatabase;
}

testbed::RunResult verify(const World& w, const Replica& a, const Replica& b, bool json) {
  std::vector<std::string> argv{GH_GATEHOUSE_BIN,
                                "audit",
                                "verify",
                                "--store",
                                store_url(w),
                                "--keys",
                                a.dir + "/var/keys/audit/jwks.json",
                                "--keys",
                                b.dir + "/var/keys/audit/jwks.json"};
  if (json) argv.push_back("--json");
  return testbed::run(argv, {}, 60s);
}

TEST(SharedStore, TwoReplicasRecordIntoOnePostgresStoreThatVerifiesAndNamesTampering) {
  auto& w = World::get();
  w.pg.sql(std::string("CREATE ROLE gh_audit LOGIN PASSWORD '") + kPassword + "';" +
           "CREATE DATABASE " + kDatabase + " OWNER gh_audit;");
  const std::string url = store_url(w);
  auto a = std::make_unique<Replica>(w, "gw-a", url, testbed::free_port(), "async");
  auto b = std::make_unique<Replica>(w, "gw-b", url, testbed::free_port(), "sync");
  for (const Replica* r : {a.get(), b.get()})
    ASSERT_TRUE(testbed::wait_for_text(r->log, "gatehouse admin listening", 30s))
        << testbed::read_file(r->log);

  const std::string token = w.agent_token();
  {
    auto ca = a->connect(token);
    auto cb = b->connect(token);
    for (int i = 1; i <= 3; ++i)
      EXPECT_EQ(scalar(ca.get(), "SELECT 'from-a-" + std::to_string(i) + "'"),
                "from-a-" + std::to_string(i));
    for (int i = 1; i <= 2; ++i)
      EXPECT_EQ(scalar(cb.get(), "SELECT 'from-b-" + std::to_string(i) + "'"),
                "from-b-" + std::to_string(i));
    Result denied(PQexec(cb.get(), "CREATE TABLE shared_nope(id int)"));
    EXPECT_EQ(sqlstate(denied.get()), "42501");
  }

  // Replica A's admin API reads what replica B recorded: one store.
  const std::string admin = w.idp->mint("root-admin", {"platform-admins"});
  std::vector<std::string> texts;
  for (int i = 0; i < 50; ++i) {
    auto r = a->cli({"audit", "search", "--text", "from-b", "--format", "jsonl"}, admin);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    texts.clear();
    std::istringstream lines(r.output);
    for (std::string line; std::getline(lines, line);) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object()) texts.push_back(j.value("text", ""));
    }
    if (texts.size() == 2) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(texts.size(), 2u);
  // Sync mode wrote each statement's intent before forwarding it.
  EXPECT_EQ(
      w.pg.sql("SELECT count(*) FROM statement_intents WHERE text LIKE '%from-b-%'", kDatabase),
      "2\n");

  // A graceful stop writes everything and signs each chain's head.
  EXPECT_EQ(a->process.stop(), 0) << testbed::read_file(a->log);
  EXPECT_EQ(b->process.stop(), 0) << testbed::read_file(b->log);
  for (const Replica* r : {a.get(), b.get()})
    EXPECT_EQ(testbed::read_file(r->log).find(kPassword), std::string::npos)
        << "the store's password in " << r->log;

  auto clean = verify(w, *a, *b, true);
  ASSERT_EQ(clean.exit_code, 0) << clean.output;
  EXPECT_EQ(clean.output.find(kPassword), std::string::npos) << clean.output;
  const auto j = nlohmann::json::parse(clean.output);
  EXPECT_TRUE(j["ok"].get<bool>());
  ASSERT_EQ(j["chains"].size(), 2u) << clean.output;
  EXPECT_EQ(j["chains"][0]["replica"], "gw-a");
  EXPECT_EQ(j["chains"][1]["replica"], "gw-b");
  for (const auto& chain : j["chains"]) EXPECT_EQ(chain["unsigned"], 0) << clean.output;

  // Edited by hand, as someone with psql and the owner's password could.
  w.pg.sql("UPDATE statements SET text = 'SELECT 1' WHERE text = 'SELECT ''from-b-1'''", kDatabase);
  auto edited = verify(w, *a, *b, false);
  EXPECT_EQ(edited.exit_code, 1) << edited.output;
  EXPECT_NE(edited.output.find("MODIFIED replica=gw-b"), std::string::npos) << edited.output;
  EXPECT_NE(edited.output.find("text differs"), std::string::npos) << edited.output;
  w.pg.sql("UPDATE statements SET text = 'SELECT ''from-b-1''' WHERE text = 'SELECT 1'", kDatabase);
  EXPECT_EQ(verify(w, *a, *b, false).exit_code, 0);

  // A record deleted from replica A's chain, with the row it covers.
  w.pg.sql(
      "DELETE FROM statements WHERE text = 'SELECT ''from-a-2''';"
      "DELETE FROM audit_chain WHERE replica = 'gw-a' AND canonical LIKE '%from-a-2%'",
      kDatabase);
  auto deleted = verify(w, *a, *b, false);
  EXPECT_EQ(deleted.exit_code, 1) << deleted.output;
  EXPECT_NE(deleted.output.find("DELETED replica=gw-a"), std::string::npos) << deleted.output;
  EXPECT_EQ(deleted.output.find("replica=gw-b"), std::string::npos) << deleted.output;

  // The chain is append-only to a plain UPDATE.
  auto refused = w.pg.try_sql("UPDATE audit_chain SET canonical = '{}'", kDatabase);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("append-only"), std::string::npos) << refused.output;
}

}  // namespace
}  // namespace gh::it
