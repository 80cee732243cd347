// The audit spool end to end: while another process holds the SQLite store
// (an exclusive transaction, as a backup or a careless `sqlite3` session
// would), sessions go on and their records wait in the gateway's spool; once
// the store is free they move into it, in order, chained, and verified.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

namespace gh::it {
namespace {

using namespace std::chrono_literals;

TEST(AuditSpool, RecordsWaitInTheSpoolWhileTheStoreIsHeldAndReachItAfterwards) {
  auto& w = World::get();
  OwnGateway g("gatehouse-spool", [&w](int port) {
    return OwnGateway::base_yaml(w, "gw-spool", port, false) + R"(access:
  - name: agents-read
    groups: [ai-agents]
    connections: [app]
    actions: [read]
recording:
  results: none
  spool_max: 64MiB
)";
  });
  const std::string db_path = g.dir + "/var/audit.db";
  const std::string spool = g.dir + "/var/audit.spool";
  const auto spool_size = [&] {
    std::error_code ec;
    const auto n = std::filesystem::file_size(spool, ec);
    return ec ? 0 : n;
  };

  sqlite3* holder = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &holder), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(holder, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(holder);
  {
    auto c = g.connect(w.agent_token());
    const auto start = std::chrono::steady_clock::now();
    for (int i = 1; i <= 20; ++i)
      EXPECT_EQ(scalar(c.get(), "SELECT " + std::to_string(i) + " AS spooled"), std::to_string(i));
    // Held for a moment now and then (a commit attempt), never stopped.
    EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
  }
  for (int i = 0; i < 100 && spool_size() == 0; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_GT(spool_size(), 0u) << testbed::read_file(g.log);
  // New sessions are still let in: the spool has room.
  EXPECT_EQ(scalar(g.connect(w.agent_token()).get(), "SELECT 'still open'"), "still open");

  // The operator sees it.
  auto status = g.control("status");
  EXPECT_NE(status.output.find("audit: accepting (async)"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("bytes in the spool"), std::string::npos) << status.output;
  // An auditor verifying now is told that records wait outside the store.
  auto meanwhile = g.verify_audit();
  EXPECT_NE(meanwhile.output.find("wait in " + spool), std::string::npos) << meanwhile.output;

  ASSERT_EQ(sqlite3_exec(holder, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(holder);
  // The spool is emptied, then the move is logged.
  const auto moved = [&] {
    return testbed::read_file(g.log).find("events moved to the store") != std::string::npos;
  };
  for (int i = 0; i < 200 && (spool_size() > 0 || !moved()); ++i) std::this_thread::sleep_for(50ms);
  EXPECT_EQ(spool_size(), 0u) << testbed::read_file(g.log);
  EXPECT_TRUE(moved()) << testbed::read_file(g.log);

  EXPECT_EQ(g.process.stop(), 0) << testbed::read_file(g.log);
  // All of them, in the order of the chain.
  std::vector<std::string> texts;
  for (const auto& c : stored_chunks(db_path))
    for (const auto& text : c.texts)
      if (text.ends_with(" AS spooled")) texts.push_back(text);
  ASSERT_EQ(texts.size(), 20u);
  for (int i = 1; i <= 20; ++i)
    EXPECT_EQ(texts[static_cast<std::size_t>(i - 1)],
              "SELECT " + std::to_string(i) + " AS spooled");
  // What search and replays read holds each of them once.
  EXPECT_EQ(recorded_statements(db_path, {.text = " AS spooled"}).size(), 20u);
  auto verified = g.verify_audit();
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
}

}  // namespace
}  // namespace gh::it
