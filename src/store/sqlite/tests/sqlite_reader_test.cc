// Reading the audit store back: sessions filtered and newest first, a
// session's statements in order with their decisions and recorded results,
// and a search whose every filter narrows, with values bound (never spliced).
#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <atomic>
#include <filesystem>

#include "store/sqlite/sqlite_store.h"

namespace gh::store {
namespace {

namespace fs = std::filesystem;

class SqliteReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("gh-reader-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(dir_);
    path_ = (dir_ / "audit.db").string();
    auto store = open_sqlite_store(path_);
    ASSERT_TRUE(store.has_value()) << store.error();
    std::vector<model::AuditEvent> events;
    events.push_back(start("s-1", "agent-7", {"ai-agents"}, "traces", 1'000));
    events.push_back(start("s-2", "dana", {"dba", "data-owners"}, "billing", 2'000));
    events.push_back(statement("s-1", 1, 1'100, "SELECT * FROM public.traces", "select", "allow",
                               "agents-read", {"public.traces"}));
    events.push_back(statement("s-1", 2, 1'200, "DROP TABLE public.traces", "drop", "deny",
                               "no-ddl", {"public.traces"}));
    events.push_back(statement("s-2", 1, 2'100, "SELECT 1", "select", "allow", "dba", {}));
    model::SessionEnd end;
    end.session_id = "s-1";
    end.at_us = 1'500;
    end.reason = "client closed";
    end.statements = 2;
    events.push_back(end);
    ASSERT_TRUE((*store)->write_batch(events).has_value());
    auto reader = open_sqlite_reader(path_);
    ASSERT_TRUE(reader.has_value()) << reader.error();
    reader_ = std::move(*reader);
  }
  void TearDown() override {
    reader_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static model::SessionStart start(std::string id, std::string subject,
                                   std::vector<std::string> groups, std::string connection,
                                   std::int64_t at) {
    model::SessionStart s;
    s.session_id = std::move(id);
    s.subject = std::move(subject);
    s.groups = std::move(groups);
    s.connection = std::move(connection);
    s.at_us = at;
    s.replica = "gw-1";
    s.tls = true;
    return s;
  }
  static model::StatementEvent statement(std::string session, std::int64_t seq, std::int64_t at,
                                         std::string text, std::string kind, std::string decision,
                                         std::string rule, std::vector<std::string> tables) {
    model::StatementEvent e;
    e.session_id = std::move(session);
    e.seq = seq;
    e.at_us = at;
    e.duration_us = 250;
    e.text = std::move(text);
    e.outcome = decision == "deny" ? "denied" : "ok";
    e.decision.kind = std::move(kind);
    e.decision.cls = "read";
    e.decision.decision = std::move(decision);
    e.decision.rule = std::move(rule);
    e.decision.tables = std::move(tables);
    e.decision.policy_version = 3;
    if (seq == 1) e.result = R"({"columns":["x"],"rows":[["1"]],"truncated":false})";
    return e;
  }

  fs::path dir_;
  std::string path_;
  std::unique_ptr<audit::Reader> reader_;
};

TEST_F(SqliteReaderTest, SessionsAreFilteredAndNewestFirst) {
  auto all = reader_->sessions({});
  ASSERT_TRUE(all.has_value()) << all.error();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, "s-2");
  EXPECT_EQ((*all)[1].end_reason, "client closed");
  EXPECT_EQ((*all)[1].groups, std::vector<std::string>{"ai-agents"});
  audit::SessionQuery by_group;
  by_group.group = "data-owners";
  auto g = reader_->sessions(by_group);
  ASSERT_TRUE(g.has_value());
  ASSERT_EQ(g->size(), 1u);
  EXPECT_EQ((*g)[0].subject, "dana");
  audit::SessionQuery since;
  since.since_us = 1'500;
  EXPECT_EQ(reader_->sessions(since)->size(), 1u);
  EXPECT_TRUE(reader_->session("s-1")->has_value());
  EXPECT_FALSE(reader_->session("nope")->has_value());
}

TEST_F(SqliteReaderTest, TranscriptIsInOrderWithDecisionsAndResults) {
  auto t = reader_->transcript("s-1");
  ASSERT_TRUE(t.has_value()) << t.error();
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0].text, "SELECT * FROM public.traces");
  EXPECT_EQ((*t)[0].subject, "agent-7");
  EXPECT_NE((*t)[0].result_json.find("\"rows\""), std::string::npos);
  EXPECT_EQ((*t)[1].decision, "deny");
  EXPECT_EQ((*t)[1].rule, "no-ddl");
  EXPECT_EQ((*t)[1].tables, std::vector<std::string>{"public.traces"});
  EXPECT_EQ((*t)[1].policy_version, 3);
}

TEST_F(SqliteReaderTest, EverySearchFilterNarrows) {
  auto run = [&](auto set) {
    audit::StatementQuery q;
    set(q);
    auto r = reader_->search(q);
    EXPECT_TRUE(r.has_value()) << r.error();
    return r ? r->size() : 0u;
  };
  EXPECT_EQ(run([](auto&) {}), 3u);
  EXPECT_EQ(run([](auto& q) { q.subject = "agent-7"; }), 2u);
  EXPECT_EQ(run([](auto& q) { q.group = "dba"; }), 1u);
  EXPECT_EQ(run([](auto& q) { q.connection = "traces"; }), 2u);
  EXPECT_EQ(run([](auto& q) { q.table = "public.traces"; }), 2u);
  EXPECT_EQ(run([](auto& q) { q.kind = "drop"; }), 1u);
  EXPECT_EQ(run([](auto& q) { q.decision = "deny"; }), 1u);
  EXPECT_EQ(run([](auto& q) { q.rule = "agents-read"; }), 1u);
  EXPECT_EQ(run([](auto& q) { q.text = "DROP"; }), 1u);
  EXPECT_EQ(run([](auto& q) { q.since_us = 1'150; }), 2u);
  EXPECT_EQ(run([](auto& q) { q.until_us = 1'150; }), 1u);
  EXPECT_EQ(run([](auto& q) { q.limit = 1; }), 1u);
  // Values are bound: SQL in a filter is just text that matches nothing.
  EXPECT_EQ(run([](auto& q) { q.subject = "x' OR '1'='1"; }), 0u);
  EXPECT_EQ(run([](auto& q) { q.text = "%"; }), 0u);
}

TEST_F(SqliteReaderTest, AMissingStoreIsAClearError) {
  auto r = open_sqlite_reader((dir_ / "missing" / "audit.db").string());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find("open"), std::string::npos);
}

}  // namespace
}  // namespace gh::store
