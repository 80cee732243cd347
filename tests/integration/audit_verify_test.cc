// Tamper evidence end to end: statements through a real gateway in front of
// a real PostgreSQL, the gateway stopped (its final checkpoint signed with its
// Ed25519 audit key), `gatehouse audit verify` passing on the store as written
// and naming the record after the SQLite file was edited by hand.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include <string>

#include "tests/integration/harness.h"

namespace gh::it {
namespace {

void edit(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
      << sql << ": " << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

TEST(AuditVerify, ACleanTrailVerifiesAndAnEditedRowIsNamed) {
  auto& w = World::get();
  OwnGateway g("gatehouse-audit-verify", [&w](int port) {
    return OwnGateway::base_yaml(w, "gw-verify", port, false) + R"(access:
  - name: agents-read
    groups: [ai-agents]
    connections: [app]
    actions: [read]
)";
  });
  {
    auto c = g.connect(w.agent_token());
    for (int i = 1; i <= 3; ++i)
      EXPECT_EQ(scalar(c.get(), "SELECT " + std::to_string(i)), std::to_string(i));
  }
  // A graceful stop writes everything and signs the chain's head.
  EXPECT_EQ(g.process.stop(), 0) << testbed::read_file(g.log);
  const std::string db = g.dir + "/var/audit.db";
  const auto keys = testbed::read_file(g.dir + "/var/keys/audit/jwks.json");
  EXPECT_NE(keys.find("\"OKP\""), std::string::npos) << keys;
  EXPECT_EQ(keys.find("\"d\""), std::string::npos) << "a private key in the published JWKS";

  auto clean = g.verify_audit();
  EXPECT_EQ(clean.exit_code, 0) << clean.output;
  EXPECT_NE(clean.output.find("audit verify: ok"), std::string::npos) << clean.output;
  auto as_json = g.verify_audit(true);
  ASSERT_EQ(as_json.exit_code, 0) << as_json.output;
  const auto j = nlohmann::json::parse(as_json.output);
  EXPECT_TRUE(j["ok"].get<bool>());
  ASSERT_EQ(j["chains"].size(), 1u);
  EXPECT_EQ(j["chains"][0]["replica"], "gw-verify");
  EXPECT_EQ(j["chains"][0]["unsigned"], 0) << as_json.output;  // signed at the stop
  EXPECT_GE(j["chains"][0]["records"].get<int>(), 5);          // start, 3 statements, end
  EXPECT_GE(j["rows_checked"].get<int>(), 2);                  // the session's start and end rows

  // The record of `SELECT 2` and the text search reads, both edited inside
  // its chunk, as someone with the sqlite3 CLI could.
  const auto recorded = recorded_statements(db, {.text = "SELECT 2"});
  ASSERT_EQ(recorded.size(), 1u);
  auto stream = stored_chunks(db);
  StoredChunk* chunk = nullptr;
  std::size_t at = 0;
  for (auto& c : stream)
    for (std::size_t i = 0; i < c.texts.size(); ++i)
      if (c.texts[i] == "SELECT 2") chunk = &c, at = i;
  ASSERT_NE(chunk, nullptr);
  const StoredChunk original = *chunk;
  auto& canonical = chunk->records.at(at).canonical;
  ASSERT_NE(canonical.find("\"text\":\"SELECT 2\""), std::string::npos) << canonical;
  canonical.replace(canonical.find("\"text\":\"SELECT 2\""), 17, "\"text\":\"SELECT 42\"");
  chunk->texts[at] = "SELECT 42";
  rewrite_chunk(db, *chunk);
  auto tampered = g.verify_audit();
  EXPECT_EQ(tampered.exit_code, 1) << tampered.output;
  const std::string where =
      "MODIFIED replica=gw-verify seq=" + std::to_string(chunk->records[at].seq) +
      " audit_chunks[statement session_id=" + recorded[0].session_id +
      " seq=" + std::to_string(recorded[0].seq) + "]: the record's content does not match its hash";
  EXPECT_NE(tampered.output.find(where), std::string::npos) << tampered.output;
  EXPECT_NE(tampered.output.find("audit verify: FAILED — 1 problem(s)"), std::string::npos)
      << tampered.output;

  // Put back, then forge the checkpoint's Ed25519 signature instead.
  rewrite_chunk(db, original);
  EXPECT_EQ(g.verify_audit().exit_code, 0);
  edit(db,
       "DROP TRIGGER audit_checkpoints_append_only;"
       "UPDATE audit_checkpoints SET signature = substr(signature, 1, length(signature) - 4) || "
       "'AAAA'");
  auto forged = g.verify_audit(true);
  EXPECT_EQ(forged.exit_code, 1) << forged.output;
  const auto f = nlohmann::json::parse(forged.output);
  ASSERT_FALSE(f["findings"].empty()) << forged.output;
  EXPECT_EQ(f["findings"][0]["problem"], "bad_signature");
  EXPECT_EQ(f["findings"][0]["table"], "audit_checkpoints");
  EXPECT_EQ(f["findings"][0]["detail"],
            "the checkpoint's signature does not verify: Ed25519 verification with key " +
                f["findings"][0]["row"].get<std::string>().substr(4) + " failed");
}

}  // namespace
}  // namespace gh::it
