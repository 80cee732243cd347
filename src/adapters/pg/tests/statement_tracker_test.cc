#include "adapters/pg/statement_tracker.h"

#include <gtest/gtest.h>

#include "base/bytes.h"

namespace gh::adapters::pg {
namespace {

using Clock = StatementTracker::Clock;

// Message bodies (after the 5-byte header), built as clients and servers send them.
std::vector<std::uint8_t> cstr(std::initializer_list<std::string_view> parts) {
  std::vector<std::uint8_t> b;
  ByteWriter w(b);
  for (auto p : parts) w.cstring(p);
  return b;
}
std::vector<std::uint8_t> parse(std::string_view name, std::string_view sql) {
  auto b = cstr({name, sql});
  ByteWriter(b).u16(0);
  return b;
}
std::vector<std::uint8_t> bind_body(std::string_view portal, std::string_view stmt) {
  auto b = cstr({portal, stmt});
  ByteWriter(b).u16(0).u16(0).u16(0);
  return b;
}
std::vector<std::uint8_t> execute(std::string_view portal) {
  auto b = cstr({portal});
  ByteWriter(b).u32(0);
  return b;
}
std::vector<std::uint8_t> error(std::string_view code) {
  std::vector<std::uint8_t> b;
  ByteWriter w(b);
  w.u8('S')
      .cstring("ERROR")
      .u8('V')
      .cstring("ERROR")
      .u8('C')
      .cstring(code)
      .u8('M')
      .cstring("boom")
      .u8(0);
  return b;
}
std::vector<std::uint8_t> tag(std::string_view t) {
  return cstr({t});
}
std::vector<std::uint8_t> ready(char s) {
  return {static_cast<std::uint8_t>(s)};
}
std::vector<std::uint8_t> none() {
  return {};
}

struct Harness {
  StatementTracker t;
  std::vector<FinishedStatement> done;
  Clock::time_point now = Clock::now();
  bool client(char type, const std::vector<std::uint8_t>& body) {
    return t.on_client(static_cast<std::uint8_t>(type), Bytes(body), now, 1) ==
           StatementTracker::ClientVerdict::kOk;
  }
  bool client(char type, const std::vector<std::uint8_t>& body, const ClientNote& note) {
    return t.on_client(static_cast<std::uint8_t>(type), Bytes(body), now, 1, note) ==
           StatementTracker::ClientVerdict::kOk;
  }
  std::shared_ptr<const std::vector<std::uint8_t>> server(char type,
                                                          const std::vector<std::uint8_t>& body) {
    return t.on_server(static_cast<std::uint8_t>(type), Bytes(body), now, done);
  }
};

ClientNote denied_note(std::string rule) {
  auto d = std::make_shared<model::StatementDecision>();
  d->kind = "drop";
  d->decision = "deny";
  d->rule = std::move(rule);
  std::vector<std::uint8_t> err{'E', 0, 0, 0, 0};
  ByteWriter w(err);
  w.u8('S').cstring("ERROR").u8('C').cstring("42501").u8('M').cstring("gatehouse: blocked").u8(0);
  std::uint32_t len = static_cast<std::uint32_t>(err.size() - 1);
  err[1] = static_cast<std::uint8_t>(len >> 24);
  err[2] = static_cast<std::uint8_t>(len >> 16);
  err[3] = static_cast<std::uint8_t>(len >> 8);
  err[4] = static_cast<std::uint8_t>(len);
  return {d, std::make_shared<const std::vector<std::uint8_t>>(std::move(err))};
}

TEST(StatementTracker, DeniedQueryIsRecordedDeniedAndItsErrorReplaced) {
  Harness h;
  auto note = denied_note("no-drop");
  ASSERT_TRUE(h.client('Q', cstr({"DROP TABLE t"}), note));
  // The server refuses what replaced it: that error is swapped for the denial.
  EXPECT_EQ(h.server('E', error("42601")), note.denial);
  EXPECT_EQ(h.server('Z', ready('I')), nullptr);
  ASSERT_EQ(h.done.size(), 1u);
  EXPECT_EQ(h.done[0].outcome, "denied");
  EXPECT_EQ(h.done[0].error_code, "42501");
  EXPECT_EQ(h.done[0].text->text, "DROP TABLE t");
  ASSERT_TRUE(h.done[0].decision);
  EXPECT_EQ(h.done[0].decision->rule, "no-drop");
}

TEST(StatementTracker, DeniedParseMakesItsExecuteDeniedAndTheRestSkipped) {
  Harness h;
  auto note = denied_note("no-drop");
  ASSERT_TRUE(h.client('P', parse("", "DROP TABLE t"), note));
  ASSERT_TRUE(h.client('B', bind_body("", "")));
  ASSERT_TRUE(h.client('E', execute("")));
  ASSERT_TRUE(h.client('S', none()));
  ASSERT_TRUE(h.client('P', parse("", "SELECT 1")));
  ASSERT_TRUE(h.client('B', bind_body("", "")));
  ASSERT_TRUE(h.client('E', execute("")));
  ASSERT_TRUE(h.client('S', none()));
  EXPECT_EQ(h.server('E', error("42601")), note.denial);
  h.server('Z', ready('I'));
  h.server('1', none());
  h.server('2', none());
  EXPECT_EQ(h.server('C', tag("SELECT 1")), nullptr);
  h.server('Z', ready('I'));
  ASSERT_EQ(h.done.size(), 2u);
  EXPECT_EQ(h.done[0].outcome, "denied");
  EXPECT_EQ(h.done[0].text->text, "DROP TABLE t");
  ASSERT_TRUE(h.done[0].decision);
  EXPECT_EQ(h.done[0].decision->rule, "no-drop");
  EXPECT_EQ(h.done[1].outcome, "ok");
  EXPECT_EQ(h.done[1].text->text, "SELECT 1");
}

TEST(StatementTracker, ServerErrorOfAnAllowedStatementIsNotReplaced) {
  Harness h;
  ASSERT_TRUE(h.client('Q', cstr({"SELECT 1/0"})));
  EXPECT_EQ(h.server('E', error("22012")), nullptr);
  h.server('Z', ready('I'));
  ASSERT_EQ(h.done.size(), 1u);
  EXPECT_EQ(h.done[0].outcome, "error");
}

TEST(StatementTracker, SimpleQuerySumsRowsAndEndsAtReadyForQuery) {
  Harness h;
  ASSERT_TRUE(h.client('Q', cstr({"SELECT 1; SELECT 2"})));
  h.server('C', tag("SELECT 1"));
  h.server('C', tag("SELECT 1"));
  EXPECT_TRUE(h.done.empty());
  h.server('Z', ready('I'));
  ASSERT_EQ(h.done.size(), 1u);
  EXPECT_EQ(h.done[0].text->text, "SELECT 1; SELECT 2");
  EXPECT_EQ(h.done[0].rows, 2);
  EXPECT_EQ(h.done[0].outcome, "ok");
  EXPECT_EQ(h.t.pending(), 0u);
}

// A Query of several statements as the gate notes it: each one's text and decision.
ClientNote statements_note(std::initializer_list<std::pair<std::string, std::string>> parts) {
  ClientNote note;
  auto whole = std::make_shared<model::StatementDecision>();
  whole->kind = "select";
  whole->decision = "allow";
  note.decision = whole;
  for (const auto& [text, kind] : parts) {
    auto d = std::make_shared<model::StatementDecision>();
    d->kind = kind;
    d->decision = "allow";
    d->rule = "rule-" + kind;
    note.statements.push_back(make_text(text, d));
  }
  return note;
}

TEST(StatementTracker, EachStatementOfAQueryIsItsOwnRecord) {
  Harness h;
  auto note = statements_note(
      {{"SELECT 1", "select"}, {"UPDATE t SET v = 1", "update"}, {"SELECT 2", "select"}});
  ASSERT_TRUE(h.client('Q', cstr({"SELECT 1; UPDATE t SET v = 1; SELECT 2"}), note));
  h.server('C', tag("SELECT 1"));
  ASSERT_EQ(h.done.size(), 1u);  // finished by its own CommandComplete
  h.now += std::chrono::milliseconds(5);
  h.server('C', tag("UPDATE 3"));
  h.server('C', tag("SELECT 1"));
  EXPECT_EQ(h.done.size(), 2u);  // the last one ends with ReadyForQuery
  h.server('Z', ready('I'));
  ASSERT_EQ(h.done.size(), 3u);
  const char* texts[] = {"SELECT 1", "UPDATE t SET v = 1", "SELECT 2"};
  const char* kinds[] = {"select", "update", "select"};
  const char* tags[] = {"SELECT 1", "UPDATE 3", "SELECT 1"};
  const std::int64_t rows[] = {1, 3, 1};
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(h.done[i].text->text, texts[i]);
    ASSERT_TRUE(h.done[i].decision);
    EXPECT_EQ(h.done[i].decision->kind, kinds[i]);
    EXPECT_EQ(h.done[i].decision->rule, std::string("rule-") + kinds[i]);
    EXPECT_EQ(h.done[i].tag, tags[i]);
    EXPECT_EQ(h.done[i].rows, rows[i]);
    EXPECT_EQ(h.done[i].outcome, "ok");
    EXPECT_EQ(h.done[i].protocol_path, "simple");
  }
  // Each has its own duration: the second took the 5 ms, the others none.
  EXPECT_EQ(h.done[0].duration_us, 0);
  EXPECT_EQ(h.done[1].duration_us, 5000);
  EXPECT_EQ(h.done[2].duration_us, 0);
  EXPECT_EQ(h.done[1].at_us, 1);
  EXPECT_EQ(h.done[2].at_us, 5001);
  EXPECT_EQ(h.t.pending(), 0u);
}

TEST(StatementTracker, AfterAnErrorInAQueryTheStatementsThatNeverRanAreSkipped) {
  Harness h;
  auto note = statements_note(
      {{"SELECT 1", "select"}, {"SELECT 1/0", "select"}, {"DELETE FROM t WHERE id = 1", "delete"}});
  ASSERT_TRUE(h.client('Q', cstr({"SELECT 1; SELECT 1/0; DELETE FROM t WHERE id = 1"}), note));
  h.server('C', tag("SELECT 1"));
  EXPECT_EQ(h.server('E', error("22012")), nullptr);
  h.server('Z', ready('I'));
  ASSERT_EQ(h.done.size(), 3u);
  EXPECT_EQ(h.done[0].outcome, "ok");
  EXPECT_EQ(h.done[1].outcome, "error");
  EXPECT_EQ(h.done[1].error_code, "22012");
  EXPECT_EQ(h.done[1].text->text, "SELECT 1/0");
  EXPECT_EQ(h.done[2].outcome, "skipped");
  EXPECT_EQ(h.done[2].text->text, "DELETE FROM t WHERE id = 1");
  EXPECT_EQ(h.done[2].error_code, "");
  EXPECT_EQ(h.done[2].rows, -1);
  // An error in the first: both others never ran.
  ASSERT_TRUE(h.client('Q', cstr({"SELECT 1/0; SELECT 2"}),
                       statements_note({{"SELECT 1/0", "select"}, {"SELECT 2", "select"}})));
  h.server('E', error("22012"));
  h.server('Z', ready('I'));
  ASSERT_EQ(h.done.size(), 5u);
  EXPECT_EQ(h.done[3].outcome, "error");
  EXPECT_EQ(h.done[4].outcome, "skipped");
  EXPECT_EQ(h.done[4].text->text, "SELECT 2");
}

TEST(StatementTracker, AWithheldResultInAQueryDeniesThatStatementOnly) {
  Harness h;
  auto note = statements_note({{"SELECT 1", "select"}, {"SELECT * FROM big", "select"}});
  ASSERT_TRUE(h.client('Q', cstr({"SELECT 1; SELECT * FROM big"}), note));
  h.server('C', tag("SELECT 1"));
  auto record = std::make_shared<model::StatementDecision>();
  record->decision = "deny";
  record->rule = "big-results";
  record->approval_id = "req-1";
  auto err = denied_note("x").denial;
  h.t.withhold_running(err, record);
  h.server('E', error("57014"));  // the cancel
  h.server('Z', ready('I'));
  ASSERT_EQ(h.done.size(), 2u);
  EXPECT_EQ(h.done[0].outcome, "ok");
  ASSERT_TRUE(h.done[0].decision);
  EXPECT_EQ(h.done[0].decision->decision, "allow");
  EXPECT_EQ(h.done[1].outcome, "denied");
  EXPECT_EQ(h.done[1].text->text, "SELECT * FROM big");
  ASSERT_TRUE(h.done[1].decision);
  EXPECT_EQ(h.done[1].decision->decision, "deny");
  EXPECT_EQ(h.done[1].decision->rule, "big-results");
  EXPECT_EQ(h.done[1].decision->approval_id, "req-1");
  EXPECT_EQ(h.done[1].decision->kind, "select");  // still its own analysis
}

TEST(StatementTracker, AQueryOfSeveralStatementsInterruptedRecordsEachOne) {
  Harness h;
  ASSERT_TRUE(
      h.client('Q', cstr({"SELECT 1; SELECT pg_sleep(10)"}),
               statements_note({{"SELECT 1", "select"}, {"SELECT pg_sleep(10)", "select"}})));
  h.server('C', tag("SELECT 1"));
  h.t.interrupt_all(h.now, h.done);
  ASSERT_EQ(h.done.size(), 2u);
  EXPECT_EQ(h.done[0].outcome, "ok");
  EXPECT_EQ(h.done[1].outcome, "interrupted");
  EXPECT_EQ(h.done[1].text->text, "SELECT pg_sleep(10)");
}

// Bind with parameters: text "a@b.example", NULL, binary int4 7, binary "héllo".
std::vector<std::uint8_t> bind_with_params(std::string_view portal, std::string_view stmt) {
  auto b = cstr({portal, stmt});
  ByteWriter w(b);
  w.u16(4).u16(0).u16(0).u16(1).u16(1);  // formats: text, text, binary, binary
  w.u16(4);
  const std::string email = "a@b.example";
  w.u32(static_cast<std::uint32_t>(email.size()));
  for (char ch : email) w.u8(static_cast<std::uint8_t>(ch));
  w.u32(0xFFFFFFFFu);  // NULL
  w.u32(4).u32(7);
  const std::string word = "h\xc3\xa9llo";
  w.u32(static_cast<std::uint32_t>(word.size()));
  for (char ch : word) w.u8(static_cast<std::uint8_t>(ch));
  w.u16(0);
  return b;
}

TEST(StatementTracker, AnExecuteCarriesTheParametersItsPortalWasBoundWith) {
  Harness h;
  ASSERT_TRUE(h.client('P', parse("s1", "SELECT $1, $2, $3, $4")));
  ASSERT_TRUE(h.client('B', bind_with_params("", "s1")));
  ASSERT_TRUE(h.client('E', execute("")));
  ASSERT_TRUE(h.client('S', none()));
  h.server('1', none());
  h.server('2', none());
  h.server('C', tag("SELECT 1"));
  h.server('Z', ready('I'));
  // A simple query after it has no parameters.
  ASSERT_TRUE(h.client('Q', cstr({"SELECT 1"})));
  h.server('C', tag("SELECT 1"));
  h.server('Z', ready('I'));
  ASSERT_EQ(h.done.size(), 2u);
  ASSERT_NE(h.done[0].params, nullptr);
  const Params expected{"a@b.example", std::nullopt, "[binary, 4 bytes]", "h\xc3\xa9llo"};
  EXPECT_EQ(*h.done[0].params, expected);
  EXPECT_EQ(h.done[1].params, nullptr);
}

TEST(StatementTracker, ARefusedDuplicateParseCannotRelabelWhatRuns) {
  Harness h;
  ASSERT_TRUE(h.client('P', parse("s1", "SELECT * FROM payroll")));
  ASSERT_TRUE(h.client('S', none()));
  h.server('1', none());
  h.server('Z', ready('I'));
  // The server refuses the second Parse of "s1" (42P05); the statement keeps its text.
  ASSERT_TRUE(h.client('P', parse("s1", "SELECT 1")));
  ASSERT_TRUE(h.client('B', bind_body("", "s1")));
  ASSERT_TRUE(h.client('E', execute("")));
  ASSERT_TRUE(h.client('S', none()));
  h.server('E', error("42P05"));
  h.server('Z', ready('I'));
  ASSERT_TRUE(h.client('B', bind_body("", "s1")));
  ASSERT_TRUE(h.client('E', execute("")));
  ASSERT_TRUE(h.client('S', none()));
  h.server('2', none());
  h.server('C', tag("SELECT 9"));
  h.server('Z', ready('I'));
  ASSERT_EQ(h.done.size(), 2u);
  EXPECT_EQ(h.done[0].outcome, "error");
  EXPECT_EQ(h.done[0].error_code, "42P05");
  EXPECT_EQ(h.done[1].text->text, "SELECT * FROM payroll");
  EXPECT_EQ(h.done[1].rows, 9);
}

TEST(StatementTracker, PipelineErrorSkipsToSyncAndStaysInStep) {
  Harness h;
  for (auto sql : {"SELECT 1", "SELECT 1/0", "SELECT 3"}) {
    ASSERT_TRUE(h.client('P', parse("", sql)));
    ASSERT_TRUE(h.client('B', bind_body("", "")));
    ASSERT_TRUE(h.client('E', execute("")));
  }
  ASSERT_TRUE(h.client('S', none()));
  ASSERT_TRUE(h.client('Q', cstr({"SELECT 4"})));
  h.server('1', none());
  h.server('2', none());
  h.server('C', tag("SELECT 1"));
  h.server('1', none());
  h.server('2', none());
  h.server('E', error("22012"));
  h.server('Z', ready('I'));
  h.server('C', tag("SELECT 1"));
  h.server('Z', ready('I'));
  ASSERT_EQ(h.done.size(), 4u);
  EXPECT_EQ(h.done[0].outcome, "ok");
  EXPECT_EQ(h.done[1].text->text, "SELECT 1/0");
  EXPECT_EQ(h.done[1].outcome, "error");
  EXPECT_EQ(h.done[1].error_code, "22012");
  EXPECT_EQ(h.done[2].text->text, "SELECT 3");
  EXPECT_EQ(h.done[2].outcome, "skipped");
  EXPECT_EQ(h.done[3].text->text, "SELECT 4");
  EXPECT_EQ(h.done[3].outcome, "ok");
  EXPECT_EQ(h.t.pending(), 0u);
}

TEST(StatementTracker, MessagesSentAfterAnErrorBeforeSyncAreSkipped) {
  Harness h;
  ASSERT_TRUE(h.client('P', parse("", "SELEC oops")));
  h.server('E', error("42601"));  // arrives before the client sent the rest
  ASSERT_TRUE(h.client('B', bind_body("", "")));
  ASSERT_TRUE(h.client('E', execute("")));
  ASSERT_TRUE(h.client('S', none()));
  h.server('Z', ready('I'));
  ASSERT_EQ(h.done.size(), 1u);
  EXPECT_EQ(h.done[0].outcome, "skipped");
  EXPECT_EQ(h.t.pending(), 0u);
}

TEST(StatementTracker, ExtendedCopyFromStdinDoesNotLeaveASyncBehind) {
  Harness h;
  ASSERT_TRUE(h.client('P', parse("", "COPY t FROM STDIN")));
  ASSERT_TRUE(h.client('B', bind_body("", "")));
  ASSERT_TRUE(h.client('E', execute("")));
  ASSERT_TRUE(h.client('S', none()));  // ignored by the server: it is in COPY mode
  h.server('1', none());
  h.server('2', none());
  h.server('G', none());
  ASSERT_TRUE(h.client('d', none()));
  ASSERT_TRUE(h.client('c', none()));
  ASSERT_TRUE(h.client('S', none()));
  h.server('C', tag("COPY 5"));
  h.server('Z', ready('I'));
  ASSERT_TRUE(h.client('Q', cstr({"SELECT 1"})));
  h.server('C', tag("SELECT 1"));
  h.server('Z', ready('I'));
  ASSERT_EQ(h.done.size(), 2u);
  EXPECT_EQ(h.done[0].rows, 5);
  EXPECT_EQ(h.done[1].text->text, "SELECT 1");
  EXPECT_EQ(h.done[1].outcome, "ok");
  EXPECT_EQ(h.t.pending(), 0u);
}

TEST(StatementTracker, FunctionCallEndsAtItsOwnReadyForQuery) {
  Harness h;
  std::vector<std::uint8_t> fc;
  ByteWriter(fc).u32(1598).u16(0).u16(0).u16(0);
  ASSERT_TRUE(h.client('F', fc));
  ASSERT_TRUE(h.client('Q', cstr({"SELECT 2"})));
  h.server('V', none());
  h.server('Z', ready('I'));
  h.server('C', tag("SELECT 1"));
  h.server('Z', ready('I'));
  ASSERT_EQ(h.done.size(), 2u);
  EXPECT_EQ(h.done[0].protocol_path, "function_call");
  EXPECT_EQ(h.done[1].text->text, "SELECT 2");
  EXPECT_EQ(h.done[1].rows, 1);
}

TEST(StatementTracker, PortalsDieWithTheirTransaction) {
  Harness h;
  ASSERT_TRUE(h.client('P', parse("s", "SELECT 1")));
  ASSERT_TRUE(h.client('B', bind_body("p1", "s")));
  ASSERT_TRUE(h.client('S', none()));
  h.server('1', none());
  h.server('2', none());
  EXPECT_EQ(h.t.portals(), 1u);
  h.server('Z', ready('I'));
  EXPECT_EQ(h.t.portals(), 0u);
  EXPECT_EQ(h.t.prepared(), 1u);
}

TEST(StatementTracker, AFloodOfBindsIsBoundedNotBuffered) {
  Harness h;
  ASSERT_TRUE(h.client('P', parse("s", std::string(1 << 20, 'x'))));
  ASSERT_TRUE(h.client('S', none()));
  h.server('1', none());
  h.server('Z', ready('T'));
  bool refused = false;
  for (std::size_t i = 0; i < StatementTracker::kMaxPending + 10 && !refused; ++i) {
    refused = !h.client('B', bind_body("p" + std::to_string(i), "s"));
  }
  EXPECT_TRUE(refused);
}

TEST(StatementTracker, InterruptedStatementsAreRecorded) {
  Harness h;
  ASSERT_TRUE(h.client('Q', cstr({"SELECT pg_sleep(60)"})));
  h.t.interrupt_all(h.now, h.done);
  ASSERT_EQ(h.done.size(), 1u);
  EXPECT_EQ(h.done[0].outcome, "interrupted");
}

}  // namespace
}  // namespace gh::adapters::pg

namespace gh::adapters::pg {
namespace {

TEST(StatementTracker, AFailedReParseInAnEarlierGroupCannotRelabelTheBindAfterIt) {
  Harness h;
  ASSERT_TRUE(h.client('P', parse("s1", "DELETE FROM important")));
  ASSERT_TRUE(h.client('S', none()));
  h.server('1', none());
  h.server('Z', ready('I'));
  // One write: a re-Parse of s1 (refused, 42P05), then a Bind/Execute of s1 in the next group.
  ASSERT_TRUE(h.client('P', parse("s1", "SELECT 1")));
  ASSERT_TRUE(h.client('S', none()));
  ASSERT_TRUE(h.client('B', bind_body("", "s1")));
  ASSERT_TRUE(h.client('E', execute("")));
  ASSERT_TRUE(h.client('S', none()));
  h.server('E', error("42P05"));
  h.server('Z', ready('I'));
  h.server('2', none());
  h.server('C', tag("DELETE 3"));
  h.server('Z', ready('I'));
  ASSERT_EQ(h.done.size(), 1u);
  EXPECT_EQ(h.done[0].text->text, "DELETE FROM important");
  EXPECT_EQ(h.done[0].tag, "DELETE 3");
}

TEST(StatementTracker, SimpleQueryCopyIgnoresSyncsSentDuringTheCopy) {
  Harness h;
  ASSERT_TRUE(h.client('Q', cstr({"COPY t FROM STDIN"})));
  h.server('G', none());
  ASSERT_TRUE(h.client('d', none()));
  ASSERT_TRUE(h.client('S', none()));  // discarded by the server during COPY
  ASSERT_TRUE(h.client('c', none()));
  h.server('C', tag("COPY 2"));
  h.server('Z', ready('I'));
  ASSERT_TRUE(h.client('Q', cstr({"SELECT 1"})));
  h.server('C', tag("SELECT 1"));
  h.server('Z', ready('I'));
  ASSERT_EQ(h.done.size(), 2u);
  EXPECT_EQ(h.done[0].rows, 2);
  EXPECT_EQ(h.done[1].rows, 1);
  EXPECT_EQ(h.t.pending(), 0u);
}

TEST(StatementTracker, PipelinedStatementsAfterACopyStillRun) {
  Harness h;
  ASSERT_TRUE(h.client('P', parse("", "COPY t FROM STDIN")));
  ASSERT_TRUE(h.client('B', bind_body("", "")));
  ASSERT_TRUE(h.client('E', execute("")));
  ASSERT_TRUE(h.client('S', none()));  // before CopyDone: discarded
  ASSERT_TRUE(h.client('c', none()));  // sent before the CopyInResponse arrived
  ASSERT_TRUE(h.client('S', none()));  // after CopyDone: answered
  ASSERT_TRUE(h.client('P', parse("", "SELECT 2")));
  ASSERT_TRUE(h.client('B', bind_body("", "")));
  ASSERT_TRUE(h.client('E', execute("")));
  ASSERT_TRUE(h.client('S', none()));
  h.server('1', none());
  h.server('2', none());
  h.server('G', none());
  h.server('C', tag("COPY 1"));
  h.server('Z', ready('I'));
  h.server('1', none());
  h.server('2', none());
  h.server('C', tag("SELECT 1"));
  h.server('Z', ready('I'));
  ASSERT_EQ(h.done.size(), 2u);
  EXPECT_EQ(h.done[1].outcome, "ok");
  EXPECT_EQ(h.done[1].text->text, "SELECT 2");
  EXPECT_EQ(h.t.pending(), 0u);
}

TEST(StatementTracker, AMessageTheGatewayCannotReadIsNotRelayed) {
  StatementTracker t;
  std::vector<std::uint8_t> garbage = {'x'};
  EXPECT_EQ(t.on_client('P', Bytes(garbage), Clock::now(), 1),
            StatementTracker::ClientVerdict::kMalformed);
  EXPECT_EQ(t.on_client('B', Bytes(garbage), Clock::now(), 1),
            StatementTracker::ClientVerdict::kMalformed);
}

TEST(StatementTracker, SkippedParsesDoNotLingerInMemory) {
  Harness h;
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(h.client('P', parse("s" + std::to_string(i), "SELEC broken")));
    ASSERT_TRUE(h.client('B', bind_body("p" + std::to_string(i), "s" + std::to_string(i))));
    ASSERT_TRUE(h.client('E', execute("p" + std::to_string(i))));
    ASSERT_TRUE(h.client('S', none()));
    h.server('E', error("42601"));
    h.server('Z', ready('I'));
  }
  EXPECT_EQ(h.t.pending(), 0u);
  EXPECT_EQ(h.t.prepared(), 0u);
  EXPECT_EQ(h.t.portals(), 0u);
  ASSERT_EQ(h.done.size(), 50u);
  // A Bind of a statement whose Parse failed runs nothing: the record carries what the
  // client meant to run, with the server's error, and no statement was remembered.
  ASSERT_TRUE(h.client('B', bind_body("", "s1")));
  ASSERT_TRUE(h.client('E', execute("")));
  ASSERT_TRUE(h.client('S', none()));
  h.server('E', error("26000"));
  h.server('Z', ready('I'));
  EXPECT_EQ(h.done.back().text->text, "SELEC broken");
  EXPECT_EQ(h.done.back().outcome, "error");
  EXPECT_EQ(h.done.back().error_code, "26000");
  EXPECT_EQ(h.t.prepared(), 0u);
}

}  // namespace
}  // namespace gh::adapters::pg
