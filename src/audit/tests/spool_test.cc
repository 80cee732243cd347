#include "audit/spool.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "audit/chain.h"

namespace gh::audit {
namespace {

namespace fs = std::filesystem;

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("gh-spool-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "audit.spool").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  std::string path_;
};

model::StatementEvent statement(std::int64_t seq) {
  model::StatementEvent e;
  e.session_id = "s1";
  e.seq = seq;
  e.at_us = 1'700'000'000'000'000 + seq;
  e.text = "SELECT '\xff\xfe not utf-8', $1";  // bytes kept as they are
  e.params = {"a", std::nullopt};
  e.decision.kind = "select";
  e.decision.tables = {"public.t"};
  e.masked = {{"pii", 2}};
  return e;
}

// Every event type goes through the spool and comes back as the same record.
TEST_F(SpoolTest, EveryEventComesBackAsItWent) {
  model::SessionStart start;
  start.session_id = "s1";
  start.groups = {"a", "b"};
  start.tls = true;
  model::StatementIntent intent;
  intent.session_id = "s1";
  intent.text = "DELETE FROM t";
  intent.decision.rule = "writers";
  model::TokenEvent token;
  token.connections = {"app"};
  token.expires_at = 42;
  std::vector<model::AuditEvent> events{start,
                                        statement(1),
                                        intent,
                                        model::SessionEnd{"s1", 5, "client closed", 1, 2, 3},
                                        model::ConnectionRefused{},
                                        model::PolicyEvent{},
                                        model::ApprovalEvent{},
                                        token};
  auto spool = Spool::open(path_, 1 << 20);
  ASSERT_TRUE(spool) << spool.error();
  ASSERT_TRUE(spool->append(events, true));
  EXPECT_GT(spool->bytes(), 0u);
  auto back = spool->read_all();
  ASSERT_TRUE(back) << back.error();
  ASSERT_EQ(back->size(), events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ((*back)[i].index(), events[i].index());
    EXPECT_EQ(to_record((*back)[i]).canonical(), to_record(events[i]).canonical()) << i;
  }
}

TEST_F(SpoolTest, ItSurvivesAReopenAndEmptiesWhenCleared) {
  {
    auto spool = Spool::open(path_, 1 << 20);
    ASSERT_TRUE(spool);
    std::vector<model::AuditEvent> batch{statement(1), statement(2)};
    ASSERT_TRUE(spool->append(batch, false));
  }
  auto spool = Spool::open(path_, 1 << 20);
  ASSERT_TRUE(spool);
  EXPECT_FALSE(spool->empty());
  ASSERT_EQ(spool->read_all()->size(), 2u);
  ASSERT_TRUE(spool->clear());
  EXPECT_TRUE(spool->empty());
  EXPECT_EQ(fs::file_size(path_), 0u);
  EXPECT_TRUE(spool->read_all()->empty());
}

TEST_F(SpoolTest, AFullSpoolRefusesTheWholeBatchAndKeepsWhatItHas) {
  auto spool = Spool::open(path_, 600);
  ASSERT_TRUE(spool);
  std::vector<model::AuditEvent> one{statement(1)};
  ASSERT_TRUE(spool->append(one, false));
  const auto before = spool->bytes();
  std::vector<model::AuditEvent> many(10, statement(2));
  auto st = spool->append(many, false);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().find("is full"), std::string::npos) << st.error();
  EXPECT_EQ(spool->bytes(), before);
  EXPECT_EQ(spool->read_all()->size(), 1u);
}

TEST_F(SpoolTest, ARecordCutShortByACrashIsNotReadAndGarbageIsAnError) {
  {
    auto spool = Spool::open(path_, 1 << 20);
    std::vector<model::AuditEvent> batch{statement(1), statement(2)};
    ASSERT_TRUE(spool->append(batch, false));
  }
  fs::resize_file(path_, fs::file_size(path_) - 3);  // the second record torn
  auto spool = Spool::open(path_, 1 << 20);
  auto back = spool->read_all();
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->size(), 1u);
  {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << std::string("\x05\x00\x00\x00", 4) << "hello";
  }
  auto bad = Spool::open(path_, 1 << 20)->read_all();
  EXPECT_FALSE(bad);
}

}  // namespace
}  // namespace gh::audit
