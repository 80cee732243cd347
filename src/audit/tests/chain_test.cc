// The canonical encoding is a contract (records already chained must hash the
// same forever): exact texts for each shape, the chain hash against a known
// SHA-256, and the recorder's housekeeping calls into its store.
#include "audit/chain.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "audit/recorder.h"
#include "audit/verify.h"

namespace gh::audit {
namespace {

TEST(Canonical, AStatementIsOneSortedObjectWithFixedNames) {
  model::StatementEvent e;
  e.session_id = "s1";
  e.seq = 2;
  e.at_us = 1700000000000002;
  e.duration_us = 250;
  e.text = "SELECT 'it''s'\n\t\"x\" \\ \x01";
  e.protocol_path = "simple";
  e.rows = 1;
  e.outcome = "ok";
  e.command_tag = "SELECT 1";
  e.decision.kind = "select";
  e.decision.cls = "read";
  e.decision.tables = {"public.t"};
  e.decision.decision = "allow";
  e.decision.rule = "r";
  e.decision.policy_version = 3;
  e.masked = {{"pii", 2}, {"card", 1}};
  EXPECT_EQ(to_record(e).canonical(),
            R"({"approval_id":null,"at_us":1700000000000002,"class":"read",)"
            R"("command_tag":"SELECT 1","decision":"allow","duration_us":250,"error_code":"",)"
            R"("error_message":"","functions_json":[],"kind":"select",)"
            R"("masked_json":{"card":1,"pii":2},"outcome":"ok","policy_version":3,)"
            R"("protocol_path":"simple","result_json":null,"rows":1,"rule":"r","seq":2,)"
            R"("session_id":"s1","tables_json":["public.t"],)"
            R"("text":"SELECT 'it''s'\n\t\"x\" \\ \u0001","type":"statement","withheld":0})");
}

TEST(Canonical, WhatWasNotDecidedIsNull) {
  model::StatementEvent e;
  e.session_id = "s1";
  const auto c = to_record(e).canonical();
  for (auto f : {R"("kind":null)", R"("class":null)", R"("tables_json":null)", R"("decision":null)",
                 R"("policy_version":null)", R"("masked_json":null)"})
    EXPECT_NE(c.find(f), std::string::npos) << f << " in " << c;
}

TEST(Canonical, BytesThatAreNotUtf8AreKeptAsBase64) {
  model::SessionStart s;
  s.session_id = "s\xc3\xa9";  // é: valid UTF-8, kept as is
  s.groups = {"ab\xff\xfe", "ok"};
  s.subject = "\xc0\xaf";  // an overlong '/': not UTF-8
  const auto c = to_record(s).canonical();
  EXPECT_NE(c.find(R"("id":"s)"
                   "\xc3\xa9"
                   R"(")"),
            std::string::npos)
      << c;
  EXPECT_NE(c.find(R"("groups_json":[{"base64":"YWL//g=="},"ok"])"), std::string::npos) << c;
  EXPECT_NE(c.find(R"("subject":{"base64":"wK8="})"), std::string::npos) << c;
}

TEST(Canonical, EveryEventTypeHasItsRecord) {
  EXPECT_EQ(to_record(model::AuditEvent{model::SessionEnd{}}).spec().name, "session_end");
  EXPECT_EQ(
      to_record(model::AuditEvent{model::TokenEvent{}}).canonical(),
      R"({"action":"","actor":"","at_us":0,"connections_json":[],"expires_at":0,)"
      R"("groups_json":[],"kid":"","replica":"","subject":"","token_hash":"","type":"token"})");
  for (const auto& s : all_specs()) {
    EXPECT_EQ(find_spec(s.name), &s);
    EXPECT_EQ(s.sorted.size(), s.fields.size() + 1);
  }
}

// Fields added after records were chained (params_json) are left out when
// null, so a statement recorded before they existed keeps its encoding.
TEST(Canonical, AStatementWithoutParametersKeepsItsEarlierEncoding) {
  model::StatementEvent e;
  e.session_id = "s1";
  e.seq = 1;
  const std::string plain = to_record(e).canonical();
  EXPECT_EQ(plain.find("params_json"), std::string::npos) << plain;
  EXPECT_NE(plain.find(R"("result_json":null)"), std::string::npos) << plain;
  e.params = {"a", std::nullopt};
  const std::string with = to_record(e).canonical();
  EXPECT_NE(with.find(R"("params_json":["a",null])"), std::string::npos) << with;
}

TEST(Chain, HashIsSha256OfThePreviousHashBytesThenTheRecord) {
  EXPECT_EQ(chain_hash(kGenesisHash, ""),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925");
  EXPECT_EQ(chain_hash(kGenesisHash, R"({"type":"x"})"),
            "cac3b97b9863c9e057207ddfca9eed897d41f6b88595413c557055d5e9e34724");
  EXPECT_EQ(chain_hash("not hex", "x"), "");
  EXPECT_EQ(chain_hash(std::string(64, 'G'), "x"), "");
}

TEST(Chain, ACheckpointSignsReplicaSeqHashAndTime) {
  EXPECT_EQ(checkpoint_message("gw-1", 7, "ab", 1700000000000000),
            R"({"at_us":1700000000000000,"hash":"ab","replica":"gw-1","seq":7,)"
            R"("type":"gatehouse.audit.checkpoint.v1"})");
}

TEST(Chain, AFindingIsOneLineSayingWhereItIs) {
  Finding f{Problem::kDeleted, "gw-1", 4, "statements", "session_id=s1 seq=3", "gone"};
  EXPECT_EQ(to_line(f), "DELETED replica=gw-1 seq=4 statements[session_id=s1 seq=3]: gone");
  ReplicaSummary r{"gw-1", 8, 20, 13, 2, 15, 7};
  EXPECT_EQ(unsigned_records(r), 5);
}

class CountingStore final : public Store {
 public:
  CountingStore(std::atomic<int>& maintained, std::atomic<int>& closed)
      : maintained_(maintained), closed_(closed) {}
  Status<> write_batch(std::span<const model::AuditEvent>) override { return Ok{}; }
  Status<> maintain() override {
    ++maintained_;
    return Ok{};
  }
  Status<> close() override {
    ++closed_;
    return Ok{};
  }

 private:
  std::atomic<int>& maintained_;
  std::atomic<int>& closed_;
};

TEST(RecorderHousekeeping, MaintainRunsOnTheWriterAndCloseOnceAtStop) {
  std::atomic<int> maintained{0}, closed{0};
  {
    Recorder rec(std::make_unique<CountingStore>(maintained, closed),
                 {.flush_interval = std::chrono::milliseconds(5),
                  .maintenance_interval = std::chrono::milliseconds(10)});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (maintained < 3 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_GE(maintained.load(), 3);
    EXPECT_EQ(closed.load(), 0);
  }
  EXPECT_EQ(closed.load(), 1);
}

}  // namespace
}  // namespace gh::audit
