// The shared PostgreSQL store end to end. Two gateway replicas (one async,
// one sync) record into one database; each appends its own hash chain;
// either replica's admin API finds the other's statements; the store URL's
// password reaches neither log nor report; `gatehouse audit verify` passes on
// both chains with both replicas' keys, and names the row and the record
// after the database was edited by hand. Behind Debian's HAProxy: an approval
// given through one replica releases a statement held on the other within a
// second (LISTEN/NOTIFY); a cancel that lands on the other replica still
// cancels; a replica killed with SIGKILL, clients reconnect through HAProxy
// and carry on, and no acknowledged statement is missing from the audit.
#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

namespace gh::it {
namespace {

using namespace std::chrono_literals;

constexpr const char* kPassword = kSharedStorePassword;
constexpr const char* kReadOnly = R"(access:
  - name: agents-read
    groups: [ai-agents]
    connections: [app]
    actions: [read]
)";
constexpr const char* kDatabase = "gh_shared_audit";

struct Replica : OwnGateway {
  int admin_port;
  Replica(const World& w, const std::string& id, const std::string& store, int admin,
          const std::string& durability, const std::string& rules = kReadOnly)
      : OwnGateway(
            "gatehouse-shared-" + id,
            [&](int p) {
              std::string y = OwnGateway::base_yaml(w, id, p, false);
              const std::string anchor = "  log_level: debug\n";
              y.insert(y.find(anchor) + anchor.size(),
                       "  store: " + store + "\n  admin: {listen: \"127.0.0.1:" +
                           std::to_string(admin) + "\", tls: off}\n");
              return y + rules +
                     "roles:\n  admins: [platform-admins]\nrecording:\n  audit_durability: " +
                     durability + "\n";
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

std::string store_url(const World& w, const std::string& database = kDatabase) {
  return shared_store_url(w, database);
}

testbed::RunResult verify(const World& w, const Replica& a, const Replica& b, bool json,
                          const std::string& database = kDatabase,
                          const std::vector<std::string>& more_keys = {}) {
  std::vector<std::string> argv{GH_GATEHOUSE_BIN,
                                "audit",
                                "verify",
                                "--store",
                                store_url(w, database),
                                "--keys",
                                a.dir + "/var/keys/audit/jwks.json",
                                "--keys",
                                b.dir + "/var/keys/audit/jwks.json"};
  for (const auto& k : more_keys) {
    argv.push_back("--keys");
    argv.push_back(k);
  }
  if (json) argv.push_back("--json");
  return testbed::run(argv, {}, 60s);
}

TEST(SharedStore, TwoReplicasRecordIntoOnePostgresStoreThatVerifiesAndNamesTampering) {
  auto& w = World::get();
  make_shared_store(w, kDatabase);
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

  // The statements' chunks are append-only to a plain UPDATE too.
  auto kept = w.pg.try_sql("UPDATE audit_chunks SET texts = ''", kDatabase);
  EXPECT_NE(kept.exit_code, 0);
  EXPECT_NE(kept.output.find("append-only"), std::string::npos) << kept.output;

  // Edited by hand past that, as someone with psql and the owner's password
  // could: a statement's record and the text search reads, inside its chunk.
  const auto find = [&](const std::string& text) {
    auto stream = stored_chunks(url);
    for (auto& c : stream)
      for (std::size_t i = 0; i < c.texts.size(); ++i)
        if (c.texts[i] == text) return std::make_pair(std::move(c), i);
    ADD_FAILURE() << "no record of " << text;
    return std::make_pair(StoredChunk{}, std::size_t{0});
  };
  const auto recorded_b1 = recorded_statements(url, {.text = "from-b-1"});
  ASSERT_EQ(recorded_b1.size(), 1u);
  auto [b1, b1_at] = find("SELECT 'from-b-1'");
  ASSERT_EQ(b1.replica, "gw-b");
  const StoredChunk b1_original = b1;
  auto& canonical = b1.records.at(b1_at).canonical;
  const std::string member = "\"text\":\"SELECT 'from-b-1'\"";
  ASSERT_NE(canonical.find(member), std::string::npos) << canonical;
  canonical.replace(canonical.find(member), member.size(), "\"text\":\"SELECT 1\"");
  b1.texts[b1_at] = "SELECT 1";
  rewrite_chunk(url, b1);
  auto edited = verify(w, *a, *b, false);
  EXPECT_EQ(edited.exit_code, 1) << edited.output;
  EXPECT_NE(
      edited.output.find("MODIFIED replica=gw-b seq=" + std::to_string(b1.records[b1_at].seq) +
                         " audit_chunks[statement session_id=" + recorded_b1[0].session_id +
                         " seq=" + std::to_string(recorded_b1[0].seq) +
                         "]: the record's content does not match its hash"),
      std::string::npos)
      << edited.output;
  EXPECT_EQ(edited.output.find("replica=gw-a"), std::string::npos) << edited.output;
  rewrite_chunk(url, b1_original);
  EXPECT_EQ(verify(w, *a, *b, false).exit_code, 0);

  // A record deleted from replica A's chain: taken out of its chunk (the
  // whole chunk when it is the only one there).
  auto [a2, a2_at] = find("SELECT 'from-a-2'");
  ASSERT_EQ(a2.replica, "gw-a");
  if (a2.records.size() == 1) {
    store_exec(url, "DELETE FROM audit_chunk_keys WHERE chunk_id = " + std::to_string(a2.id) +
                        "; DELETE FROM audit_chunks WHERE id = " + std::to_string(a2.id));
  } else {
    a2.records.erase(a2.records.begin() + static_cast<std::ptrdiff_t>(a2_at));
    a2.texts.erase(a2.texts.begin() + static_cast<std::ptrdiff_t>(a2_at));
    rewrite_chunk(url, a2);
  }
  auto deleted = verify(w, *a, *b, false);
  EXPECT_EQ(deleted.exit_code, 1) << deleted.output;
  EXPECT_NE(deleted.output.find("DELETED replica=gw-a"), std::string::npos) << deleted.output;
  EXPECT_EQ(deleted.output.find("replica=gw-b"), std::string::npos) << deleted.output;

  // The chain is append-only to a plain UPDATE.
  auto refused = w.pg.try_sql("UPDATE audit_chain SET canonical = '{}'", kDatabase);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("append-only"), std::string::npos) << refused.output;
}

TEST(SharedStore, WhileThePostgresStoreIsDownRecordsWaitInTheSpoolAndArriveInOrder) {
  auto& w = World::get();
  // A store of its own, to stop and start again (over its Unix socket).
  const std::string parent = testbed::make_temp_dir("gatehouse-store-down");
  auto store = testbed::PgCluster::create(parent, {.ssl = false, .extra_conf = ""});
  const std::string url = "postgresql:///postgres?host=" + store.dir() +
                          "&port=" + std::to_string(store.port()) + "&user=postgres";
  OwnGateway g("gatehouse-store-down", [&](int p) {
    std::string y = OwnGateway::base_yaml(w, "gw-spool", p, false);
    const std::string anchor = "  log_level: debug\n";
    y.insert(y.find(anchor) + anchor.size(), "  store: " + url + "\n");
    return y + kReadOnly;
  });
  auto c = g.connect(w.agent_token());
  EXPECT_EQ(scalar(c.get(), "SELECT 'store-up'"), "store-up");
  const auto recorded = [&](const std::string& text) {
    std::size_t n = 0;
    for (const auto& r : recorded_statements(url, {.text = text})) n += r.text == text;
    return n;
  };
  ASSERT_TRUE(testbed::eventually([&] { return recorded("SELECT 'store-up'") == 1; }, 10s));

  store.stop();
  // Sessions go on, new ones too; their records wait in the spool.
  for (int i = 1; i <= 5; ++i)
    EXPECT_EQ(scalar(c.get(), "SELECT 'store-down-" + std::to_string(i) + "'"),
              "store-down-" + std::to_string(i));
  {
    auto other = g.connect(w.agent_token());
    EXPECT_EQ(scalar(other.get(), "SELECT 'new-session-while-down'"), "new-session-while-down");
  }
  EXPECT_TRUE(testbed::wait_for_text(g.log, "go to the spool", 10s)) << testbed::read_file(g.log);

  store.start();
  EXPECT_TRUE(testbed::wait_for_text(g.log, "events moved to the store", 30s))
      << testbed::read_file(g.log);
  c.reset();
  EXPECT_EQ(g.process.stop(), 0);
  // In the order of the chain.
  std::vector<std::string> order;
  for (const auto& c : stored_chunks(url))
    for (const auto& text : c.texts)
      if (text.starts_with("SELECT 'store-")) order.push_back(text);
  const std::vector<std::string> expected{"SELECT 'store-up'",     "SELECT 'store-down-1'",
                                          "SELECT 'store-down-2'", "SELECT 'store-down-3'",
                                          "SELECT 'store-down-4'", "SELECT 'store-down-5'"};
  EXPECT_EQ(order, expected);
  EXPECT_EQ(recorded("SELECT 'new-session-while-down'"), 1u);
  auto report = g.verify_audit();
  EXPECT_EQ(report.exit_code, 0) << report.output;
  EXPECT_NE(report.output.find("audit verify: ok"), std::string::npos) << report.output;
  store.stop();
  std::error_code ec;
  std::filesystem::remove_all(parent, ec);
}

std::string ha_rules(const World& w) {
  return OwnGateway::connection_yaml(w, "prod") + R"(access:
  - name: agents-write
    groups: [ai-agents, compliance]
    connections: [app, prod]
    actions: [read, write]
approvals:
  - name: prod-window
    connections: [prod]
    on: connect
    approvers: {groups: [compliance]}
    grant: 1h
  - name: regulated
    tables: [public.ha_patients]
    statements: [delete]
    approvers: {groups: [compliance]}
    mode: wait
    timeout: 30s
)";
}

// HAProxy in TCP mode in front of the replicas, round robin, with health checks.
struct Haproxy {
  std::string dir;
  int port = 0;
  testbed::Process process;
  Haproxy(const std::vector<int>& backends) {
    dir = testbed::make_temp_dir("gatehouse-haproxy");
    port = testbed::free_port();
    std::string cfg =
        "global\n  maxconn 200\ndefaults\n  mode tcp\n  timeout connect 2s\n"
        "  timeout client 120s\n  timeout server 120s\n"
        "frontend gatehouse\n  bind 127.0.0.1:" +
        std::to_string(port) +
        "\n  default_backend replicas\nbackend replicas\n  balance roundrobin\n";
    for (std::size_t i = 0; i < backends.size(); ++i)
      cfg += "  server r" + std::to_string(i) + " 127.0.0.1:" + std::to_string(backends[i]) +
             " check inter 200ms fall 1 rise 2\n";
    testbed::write_file(dir + "/haproxy.cfg", cfg);
    process = testbed::Process::start({"haproxy", "-db", "-f", dir + "/haproxy.cfg"},
                                      dir + "/haproxy.log");
    const bool up = testbed::eventually(
        [&] {
          Conn probe(PQconnectdb(("host=127.0.0.1 port=" + std::to_string(port) +
                                  " dbname=app user=x password=x sslmode=disable connect_timeout=2")
                                     .c_str()));
          // Any answer from a gateway (a refused token) means the path is up.
          return std::string(PQerrorMessage(probe.get())).find("gatehouse") != std::string::npos;
        },
        10s);
    if (!up)
      throw std::runtime_error("haproxy did not come up: " +
                               testbed::read_file(dir + "/haproxy.log"));
  }
  std::string conninfo(const std::string& token) const {
    return "host=127.0.0.1 port=" + std::to_string(port) +
           " dbname=app user=it sslmode=disable connect_timeout=5 password=" + token;
  }
};

class HighAvailability : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto& w = World::get();
    make_shared_store(w, "gh_ha_audit");
    w.pg.sql(
        "CREATE TABLE public.ha_patients(id int PRIMARY KEY, name text);"
        "INSERT INTO public.ha_patients SELECT g, 'p' || g FROM generate_series(1, 5) g;"
        "CREATE TABLE public.ha_log(id serial PRIMARY KEY, note text);"
        "ALTER TABLE public.ha_patients OWNER TO gh_scram; ALTER TABLE public.ha_log OWNER TO "
        "gh_scram;",
        "app");
    const std::string url = store_url(w, "gh_ha_audit");
    a_ = new Replica(w, "gw-ha-a", url, testbed::free_port(), "sync", ha_rules(w));
    b_ = new Replica(w, "gw-ha-b", url, testbed::free_port(), "sync", ha_rules(w));
    for (const Replica* r : {a_, b_})
      if (!testbed::wait_for_text(r->log, "gatehouse admin listening", 30s))
        throw std::runtime_error("no admin listener: " + testbed::read_file(r->log));
    proxy_ = new Haproxy({a_->port, b_->port});
    keys_dir_ = testbed::make_temp_dir("gatehouse-ha-keys");
  }
  static void TearDownTestSuite() {
    delete proxy_;
    delete a_;
    delete b_;
    std::error_code ec;
    std::filesystem::remove_all(keys_dir_, ec);
  }
  static std::string keys_dir_;  // checkpoint keys of replicas gone before the verify
  static Replica* a_;
  static Replica* b_;
  static Haproxy* proxy_;
  const World& w() const { return World::get(); }
  std::string agent() const { return w().idp->mint("agent-7", {"ai-agents"}); }
  std::string carol() const { return w().idp->mint("carol", {"compliance"}); }
};
Replica* HighAvailability::a_ = nullptr;
Replica* HighAvailability::b_ = nullptr;
Haproxy* HighAvailability::proxy_ = nullptr;
std::string HighAvailability::keys_dir_;

// The id of the pending request for `rule`, as `reviewer` lists it on `on`.
std::string pending_on(const Replica& on, const std::string& reviewer, const std::string& rule) {
  std::string id;
  testbed::eventually(
      [&] {
        auto r = on.cli({"reviews", "list", "--status", "pending", "--json"}, reviewer);
        auto j = nlohmann::json::parse(r.output, nullptr, false);
        if (j.is_array())
          for (const auto& x : j)
            if (x.value("rule", "") == rule) id = x.value("id", "");
        return !id.empty();
      },
      15s);
  return id;
}

TEST_F(HighAvailability, AnApprovalThroughOneReplicaReleasesAStatementHeldOnTheOtherWithinASecond) {
  // Held on replica A (a direct connection, so that it is A's).
  std::atomic<bool> finished{false};
  std::chrono::steady_clock::time_point done_at;
  std::string outcome;
  std::thread held([&] {
    auto c = a_->connect(agent());
    Result r(PQexec(c.get(), "DELETE FROM public.ha_patients WHERE id = 1"));
    outcome = PQresultStatus(r.get()) == PGRES_COMMAND_OK ? std::string("ok") : sqlstate(r.get());
    done_at = std::chrono::steady_clock::now();
    finished = true;
  });
  // Replica B lists it, and refuses the requester's own approval there too.
  const std::string id = pending_on(*b_, carol(), "regulated");
  ASSERT_FALSE(id.empty()) << testbed::read_file(a_->log);
  auto own = b_->cli({"reviews", "approve", id}, agent());
  EXPECT_NE(own.exit_code, 0) << own.output;
  EXPECT_NE(own.output.find("your own request"), std::string::npos) << own.output;
  EXPECT_FALSE(finished.load());

  const auto approved_at = std::chrono::steady_clock::now();
  auto yes = b_->cli({"reviews", "approve", id}, carol());
  EXPECT_EQ(yes.exit_code, 0) << yes.output;
  EXPECT_TRUE(testbed::eventually([&] { return finished.load(); }, 5s));
  held.join();
  EXPECT_EQ(outcome, "ok");
  const auto latency = std::chrono::duration_cast<std::chrono::milliseconds>(done_at - approved_at);
  EXPECT_LT(latency.count(), 1000) << "released " << latency.count() << " ms after the approval";
  EXPECT_EQ(w().pg.sql("SELECT count(*) FROM public.ha_patients WHERE id = 1", "app"), "0\n");
  EXPECT_NE(
      testbed::read_file(a_->log).find("approval request " + id + " (regulated): decided by carol"),
      std::string::npos);
}

TEST_F(HighAvailability, ACancelThatLandsOnTheOtherReplicaStillCancels) {
  // Round robin: the session lands on one replica, the cancel's connection on the other.
  Conn c(PQconnectdb(proxy_->conninfo(agent()).c_str()));
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  std::string state;
  std::thread slow([&] {
    Result r(PQexec(c.get(), "SELECT pg_sleep(30)"));
    state = sqlstate(r.get());
  });
  std::this_thread::sleep_for(500ms);
  const auto started = std::chrono::steady_clock::now();
  PGcancel* cancel = PQgetCancel(c.get());
  char err[256];
  EXPECT_EQ(PQcancel(cancel, err, sizeof err), 1) << err;
  PQfreeCancel(cancel);
  slow.join();
  EXPECT_EQ(state, "57014");  // query_canceled
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  const bool crossed =
      testbed::read_file(a_->log).find("of another replica") != std::string::npos ||
      testbed::read_file(b_->log).find("of another replica") != std::string::npos;
  EXPECT_TRUE(crossed) << "the cancel did not cross replicas";
}

TEST_F(HighAvailability, AnAccessWindowGivenOnOneReplicaIsHonouredOnTheOther) {
  const auto prod = [](const Replica& r, const std::string& token) {
    std::string ci = r.conninfo(token);
    return ci.replace(ci.find("dbname=app"), 10, "dbname=prod");
  };
  // Asked for on replica A: refused, naming the request.
  Conn first(PQconnectdb(prod(*a_, agent()).c_str()));
  ASSERT_NE(PQstatus(first.get()), CONNECTION_OK);
  const std::string refusal = PQerrorMessage(first.get());
  std::smatch m;
  ASSERT_TRUE(std::regex_search(refusal, m, std::regex("request (r-[0-9a-f]+)"))) << refusal;
  const std::string id = m[1];
  // Approved through replica B (which hands the review to A).
  auto yes = b_->cli({"reviews", "approve", id}, carol());
  ASSERT_EQ(yes.exit_code, 0) << yes.output;
  Conn on_a(PQconnectdb(prod(*a_, agent()).c_str()));
  ASSERT_EQ(PQstatus(on_a.get()), CONNECTION_OK) << PQerrorMessage(on_a.get());
  EXPECT_EQ(scalar(on_a.get(), "SELECT 1"), "1");
  // Replica B honours the window A gave: a client that lands there carries on.
  std::string last_error;
  const bool on_b = testbed::eventually(
      [&] {
        Conn c(PQconnectdb(prod(*b_, agent()).c_str()));
        last_error = PQerrorMessage(c.get());
        return PQstatus(c.get()) == CONNECTION_OK && scalar(c.get(), "SELECT 2") == "2";
      },
      3s);
  EXPECT_TRUE(on_b) << last_error;
  EXPECT_NE(
      testbed::read_file(b_->log).find("a grant given through the shared store, honoured here"),
      std::string::npos);
  // A replica that starts afterwards honours it too.
  Replica c(w(), "gw-ha-c", store_url(w(), "gh_ha_audit"), testbed::free_port(), "sync",
            ha_rules(w()));
  {
    Conn on_c(PQconnectdb(prod(c, agent()).c_str()));
    EXPECT_EQ(PQstatus(on_c.get()), CONNECTION_OK) << PQerrorMessage(on_c.get());
  }
  // Its chain is in the store: its checkpoint key is kept for the verify below.
  EXPECT_EQ(c.process.stop(), 0);
  testbed::write_file(keys_dir_ + "/gw-ha-c.json",
                      testbed::read_file(c.dir + "/var/keys/audit/jwks.json"));
  // Only for whom it was given.
  Conn other(PQconnectdb(prod(*b_, w().idp->mint("mallory", {"ai-agents"})).c_str()));
  EXPECT_NE(PQstatus(other.get()), CONNECTION_OK);
}

TEST_F(HighAvailability, AReplicaKilledClientsReconnectThroughHaproxyAndNothingRecordedIsLost) {
  const std::string token = agent();
  constexpr int kClients = 4;
  std::vector<Conn> clients;
  std::vector<std::string> acknowledged;
  auto insert = [&](PGconn* c, const std::string& note) {
    Result r(PQexec(c, ("INSERT INTO public.ha_log(note) VALUES ('" + note + "')").c_str()));
    if (PQresultStatus(r.get()) == PGRES_COMMAND_OK) acknowledged.push_back(note);
    return PQresultStatus(r.get()) == PGRES_COMMAND_OK;
  };
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back(PQconnectdb(proxy_->conninfo(token).c_str()));
    ASSERT_EQ(PQstatus(clients.back().get()), CONNECTION_OK)
        << PQerrorMessage(clients.back().get());
    EXPECT_TRUE(insert(clients.back().get(), "ha-before-" + std::to_string(i)));
  }
  // SIGKILL: no flush, no goodbye.
  a_->process.signal(SIGKILL);
  a_->process.stop();
  int reconnected = 0;
  for (int i = 0; i < kClients; ++i) {
    const std::string note = "ha-after-" + std::to_string(i);
    if (insert(clients[i].get(), note)) continue;  // this one was on the surviving replica
    // Its replica is gone: reconnect through HAProxy, as a client's pool would.
    bool carried_on = false;
    for (int attempt = 0; attempt < 50 && !carried_on; ++attempt) {
      clients[i].reset(PQconnectdb(proxy_->conninfo(token).c_str()));
      carried_on = PQstatus(clients[i].get()) == CONNECTION_OK && insert(clients[i].get(), note);
      if (!carried_on) std::this_thread::sleep_for(100ms);
    }
    EXPECT_TRUE(carried_on) << note;
    ++reconnected;
  }
  EXPECT_GE(reconnected, 1) << "no client was on the killed replica";
  clients.clear();
  EXPECT_EQ(b_->process.stop(), 0);
  // audit_durability: sync on both: every acknowledged statement is in the shared store.
  std::map<std::string, int> recorded;
  for (const auto& r : recorded_statements(store_url(w(), "gh_ha_audit"), {.outcome = "ok"}))
    ++recorded[r.text];
  for (const auto& note : acknowledged)
    EXPECT_EQ(recorded["INSERT INTO public.ha_log(note) VALUES ('" + note + "')"], 1) << note;
  EXPECT_EQ(acknowledged.size(), 2u * kClients);
  auto report = verify(w(), *a_, *b_, false, "gh_ha_audit", {keys_dir_ + "/gw-ha-c.json"});
  EXPECT_EQ(report.exit_code, 0) << report.output;
}

}  // namespace
}  // namespace gh::it
