// What a crash of the gateway costs the audit trail. Clients write through a
// real gateway in front of a real PostgreSQL while the gateway is killed with
// SIGKILL (no flush, no goodbye), then the store it left (SQLite, and in sync
// mode also the shared PostgreSQL store) is read:
//   - audit_durability: sync — every statement a client saw complete has its
//     outcome record, and every row the server committed was written by a
//     statement whose intent record was on disk before it was forwarded;
//   - async — what is missing was acknowledged within the stated loss window
//     (100 ms) before the kill, and the store verifies.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

namespace gh::it {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Acked {
  int n;
  Clock::time_point at;  // when the client saw CommandComplete
};

// Writers insert 1, 2, 3, … (interleaved across connections) until the
// gateway goes away; returns what each saw acknowledged.
class Load {
 public:
  Load(const OwnGateway& g, const std::string& token, const std::string& table, int clients) {
    for (int c = 0; c < clients; ++c) {
      threads_.emplace_back([this, &g, token, table] {
        Conn conn(PQconnectdb(g.conninfo(token).c_str()));
        if (PQstatus(conn.get()) != CONNECTION_OK) {
          failed_connect_ = true;
          return;
        }
        // Bounded: the gateway is killed within seconds; a live one stops us at 200 000.
        for (int i = 0; i < 200'000; ++i) {
          const int n = next_.fetch_add(1) + 1;
          Result r(
              PQexec(conn.get(),
                     ("INSERT INTO " + table + "(n) VALUES (" + std::to_string(n) + ")").c_str()));
          if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) return;  // the gateway is gone
          std::lock_guard lk(mu_);
          acked_.push_back({n, Clock::now()});
        }
      });
    }
  }
  ~Load() { join(); }
  void join() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  std::size_t acked_count() {
    std::lock_guard lk(mu_);
    return acked_.size();
  }
  std::vector<Acked> acked() {
    std::lock_guard lk(mu_);
    return acked_;
  }
  bool failed_connect() const { return failed_connect_; }

 private:
  std::vector<std::thread> threads_;
  std::atomic<int> next_{0};
  std::atomic<bool> failed_connect_{false};
  std::mutex mu_;
  std::vector<Acked> acked_;
};

std::string gateway_yaml(const World& w, const std::string& id, int port,
                         const std::string& durability) {
  return OwnGateway::base_yaml(w, id, port, false) + R"(access:
  - name: writers
    groups: [ai-agents]
    connections: [app]
    actions: [read, write]
recording:
  results: none
  audit_durability: )" +
         durability + "\n";
}

// The n of every recorded statement `INSERT INTO <table>(n) VALUES (n)` in
// `rows` (one text column).
std::set<int> numbers(const std::vector<std::string>& texts, const std::string& table) {
  std::set<int> out;
  const std::string prefix = "INSERT INTO " + table + "(n) VALUES (";
  for (const auto& t : texts)
    if (t.rfind(prefix, 0) == 0) out.insert(std::stoi(t.substr(prefix.size())));
  return out;
}

// Runs the load until `min_acked` statements completed, then SIGKILLs the
// gateway; returns when the writers noticed.
Clock::time_point kill_under_load(OwnGateway& g, Load& load, std::size_t min_acked) {
  const auto deadline = Clock::now() + 60s;
  while (load.acked_count() < min_acked && Clock::now() < deadline && !load.failed_connect())
    std::this_thread::sleep_for(10ms);
  const auto killed_at = Clock::now();
  g.process.signal(SIGKILL);
  load.join();
  return killed_at;
}

// An empty table the gateway's upstream role owns.
void fresh_table(const World& w, const std::string& name) {
  w.pg.sql("DROP TABLE IF EXISTS " + name + "; CREATE TABLE " + name +
               " (n int primary key); ALTER TABLE " + name + " OWNER TO gh_scram;",
           "app");
}

// The texts of the statements `store` recorded as completed.
std::vector<std::string> ok_texts(const std::string& store) {
  std::vector<std::string> out;
  for (auto& r : recorded_statements(store, {.outcome = "ok"})) out.push_back(std::move(r.text));
  return out;
}

// Kills a sync-mode gateway under load and checks what its store kept:
// `store` is the store's path or URL, `column(sql)` reads one text column of it.
void check_sync_kill(const World& w, OwnGateway& g, const std::string& table,
                     const std::string& store,
                     const std::function<std::vector<std::string>(const std::string&)>& column) {
  Load load(g, w.agent_token(), table, 4);
  kill_under_load(g, load, 300);
  ASSERT_FALSE(load.failed_connect()) << testbed::read_file(g.log);
  const auto acked = load.acked();
  ASSERT_GE(acked.size(), 300u) << testbed::read_file(g.log);

  const auto outcomes = numbers(ok_texts(store), table);
  const auto intents = numbers(column("SELECT text FROM statement_intents"), table);
  std::size_t missing = 0;
  for (const auto& a : acked)
    if (!outcomes.count(a.n)) ++missing;
  EXPECT_EQ(missing, 0u) << "acknowledged statements without an outcome record, of "
                         << acked.size();
  // Whatever the server committed went through the gateway after its intent was on disk.
  const auto committed = w.pg.sql("SELECT string_agg(n::text, ',') FROM " + table, "app");
  std::size_t unannounced = 0, rows = 0;
  std::string cell;
  for (char ch : committed + ",") {
    if (ch >= '0' && ch <= '9') {
      cell += ch;
    } else if (!cell.empty()) {
      ++rows;
      if (!intents.count(std::stoi(cell))) ++unannounced;
      cell.clear();
    }
  }
  EXPECT_GE(rows, acked.size());
  EXPECT_EQ(unannounced, 0u) << "rows the server committed without an intent record";
  // Each acknowledged statement was announced before it ran, and completed after.
  EXPECT_GE(intents.size(), outcomes.size());
}

TEST(Durability, SyncModeLosesNoAcknowledgedStatementWhenTheGatewayIsKilled) {
  auto& w = World::get();
  fresh_table(w, "durable_sync");
  OwnGateway g("gatehouse-durable-sync",
               [&w](int port) { return gateway_yaml(w, "gw-sync", port, "sync"); });
  const std::string db = g.dir + "/var/audit.db";
  check_sync_kill(w, g, "durable_sync", db, [&](const std::string& sql) {
    std::vector<std::string> out;
    for (auto& row : sqlite_rows(db, sql)) out.push_back(std::move(row[0]));
    return out;
  });
}

TEST(Durability, SyncModeOnTheSharedPostgresStoreLosesNoAcknowledgedStatement) {
  auto& w = World::get();
  fresh_table(w, "durable_sync_pg");
  const std::string url = make_shared_store(w, "gh_durable_audit");
  OwnGateway g("gatehouse-durable-sync-pg", [&w, &url](int port) {
    std::string y = gateway_yaml(w, "gw-sync-pg", port, "sync");
    const std::string anchor = "  log_level: debug\n";
    return y.insert(y.find(anchor) + anchor.size(), "  store: " + url + "\n");
  });
  check_sync_kill(w, g, "durable_sync_pg", url,
                  [&](const std::string& sql) { return pg_column(w, "gh_durable_audit", sql); });
}

TEST(Durability, AsyncModeLosesOnlyWhatWasAcknowledgedInsideTheStatedWindow) {
  auto& w = World::get();
  fresh_table(w, "durable_async");
  OwnGateway g("gatehouse-durable-async",
               [&w](int port) { return gateway_yaml(w, "gw-async", port, "async"); });
  Load load(g, w.agent_token(), "durable_async", 4);
  const auto killed_at = kill_under_load(g, load, 1000);
  ASSERT_FALSE(load.failed_connect()) << testbed::read_file(g.log);
  const auto acked = load.acked();
  ASSERT_GE(acked.size(), 1000u) << testbed::read_file(g.log);

  const auto outcomes = numbers(ok_texts(g.dir + "/var/audit.db"), "durable_async");
  // The stated window: records at most 100 ms old (past that, completions
  // wait for their records) plus the one commit under way, which the
  // gateway logs; 50 ms more covers our clock reading and the kill landing.
  const auto log = testbed::read_file(g.log);
  long longest_commit_ms = 0;
  const std::string mark = "audit commit: ";
  for (auto at = log.find(mark); at != std::string::npos; at = log.find(mark, at + 1)) {
    const auto in = log.find(" records in ", at);
    if (in == std::string::npos) break;
    longest_commit_ms = std::max(longest_commit_ms, std::stol(log.substr(in + 12)));
  }
  const auto window = 100ms + std::chrono::milliseconds(longest_commit_ms) + 50ms;
  std::size_t missing = 0, outside = 0;
  for (const auto& a : acked) {
    if (outcomes.count(a.n)) continue;
    ++missing;
    if (a.at < killed_at - window) ++outside;
  }
  EXPECT_EQ(outside, 0u) << missing << " acknowledged statements missing, " << outside
                         << " of them acknowledged more than "
                         << std::chrono::duration_cast<std::chrono::milliseconds>(window).count()
                         << " ms before the kill";
  // A writer that never committed would fail here.
  EXPECT_GT(outcomes.size(), acked.size() / 2);
  // What the crash left is a sound chain: nothing edited, only the newest
  // records not yet under a checkpoint.
  auto verified = g.verify_audit();
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
}

}  // namespace
}  // namespace gh::it
