// Who sees which part of the audit trail through the admin API, and how the
// query string becomes a search: auditors see everything, anyone else only
// their own sessions (another's is answered like a missing one).
#include "admin/audit_api.h"

#include "admin/replies.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace gh::admin {
namespace {

// Remembers the last query and answers from two sessions.
class FakeReader : public audit::Reader {
 public:
  audit::SessionQuery last_sessions;
  audit::StatementQuery last_search;

  Expected<std::vector<audit::SessionRecord>> sessions(const audit::SessionQuery& q) override {
    last_sessions = q;
    std::vector<audit::SessionRecord> out;
    for (const auto& s : all_)
      if (q.subject.empty() || s.subject == q.subject) out.push_back(s);
    return out;
  }
  Expected<std::optional<audit::SessionRecord>> session(const std::string& id) override {
    for (const auto& s : all_)
      if (s.id == id) return std::optional<audit::SessionRecord>(s);
    return std::optional<audit::SessionRecord>();
  }
  Expected<std::vector<audit::StatementRecord>> transcript(const std::string& id) override {
    audit::StatementRecord r;
    r.session_id = id;
    r.seq = 1;
    r.text = "SELECT 1";
    r.rows = 1;
    r.result_json = R"({"columns":["?column?"],"rows":[["1"]],"truncated":false})";
    return std::vector<audit::StatementRecord>{r};
  }
  Expected<std::vector<audit::StatementRecord>> search(const audit::StatementQuery& q) override {
    last_search = q;
    return std::vector<audit::StatementRecord>{};
  }

 private:
  std::vector<audit::SessionRecord> all_ = {{.id = "s-a", .subject = "agent-7"},
                                            {.id = "s-d", .subject = "dana"}};
};

model::Principal person(const std::string& subject) {
  model::Principal p;
  p.subject = subject;
  return p;
}

TEST(AuditApi, OtherPathsAreNotItsConcern) {
  FakeReader r;
  EXPECT_FALSE(handle_audit(&r, person("a"), true, "GET", "/v1/reviews", "").has_value());
}

TEST(AuditApi, AnAuditorSeesEverySessionAndAnyoneElseOnlyTheirOwn) {
  FakeReader r;
  auto all = handle_audit(&r, person("eve"), true, "GET", "/v1/sessions", "");
  ASSERT_TRUE(all);
  EXPECT_EQ(nlohmann::json::parse(all->body).size(), 2u);

  auto own = handle_audit(&r, person("agent-7"), false, "GET", "/v1/sessions", "");
  ASSERT_TRUE(own);
  EXPECT_EQ(r.last_sessions.subject, "agent-7");
  EXPECT_EQ(nlohmann::json::parse(own->body).size(), 1u);

  auto other = handle_audit(&r, person("agent-7"), false, "GET", "/v1/sessions", "identity=dana");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 403);
  auto theirs = handle_audit(&r, person("agent-7"), false, "GET", "/v1/sessions/s-d", "");
  ASSERT_TRUE(theirs);
  EXPECT_EQ(theirs->status, 404);
  auto mine = handle_audit(&r, person("agent-7"), false, "GET", "/v1/sessions/s-a", "");
  ASSERT_TRUE(mine);
  ASSERT_EQ(mine->status, 200);
  auto j = nlohmann::json::parse(mine->body);
  EXPECT_EQ(j["identity"], "agent-7");
  EXPECT_EQ(j["transcript"][0]["result"]["rows"][0][0], "1");
}

TEST(AuditApi, TheQueryStringBecomesTheSearch) {
  FakeReader r;
  auto a = handle_audit(&r, person("eve"), true, "GET", "/v1/audit/search",
                        "identity=agent-7&group=ai-agents&connection=traces&table=public.t&"
                        "kind=select&decision=deny&rule=no%2Dddl&outcome=denied&text=DROP+TABLE&"
                        "session=s-a&since=2026-01-02T03:04:05Z&until=1h&limit=5");
  ASSERT_TRUE(a);
  ASSERT_EQ(a->status, 200) << a->body;
  const auto& q = r.last_search;
  EXPECT_EQ(q.subject, "agent-7");
  EXPECT_EQ(q.group, "ai-agents");
  EXPECT_EQ(q.table, "public.t");
  EXPECT_EQ(q.rule, "no-ddl");
  EXPECT_EQ(q.text, "DROP TABLE");
  EXPECT_EQ(q.session_id, "s-a");
  EXPECT_EQ(q.since_us, 1767323045LL * 1'000'000);
  EXPECT_GT(q.until_us, q.since_us);
  EXPECT_EQ(q.limit, 5u);
}

TEST(AdminQuery, PairsAreSplitAndDecodedWhateverTheirOrder) {
  auto q = parse_query("extra=1&status=pending&text=a%20b+c&flag");
  ASSERT_TRUE(q);
  EXPECT_EQ((*q)["status"], "pending");
  EXPECT_EQ((*q)["text"], "a b c");
  EXPECT_EQ((*q)["flag"], "");
  EXPECT_FALSE(parse_query("status=%G1").has_value());
  EXPECT_FALSE(parse_query("status=%4").has_value());
}

TEST(AuditApi, BadParametersAreClearErrors) {
  FakeReader r;
  for (const char* query : {"since=yesterday", "limit=0", "limit=x", "text=%zz", "text=%4"}) {
    auto a = handle_audit(&r, person("eve"), true, "GET", "/v1/audit/search", query);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->status, 400) << query;
  }
  auto post = handle_audit(&r, person("eve"), true, "POST", "/v1/sessions", "");
  EXPECT_EQ(post->status, 405);
  auto none = handle_audit(nullptr, person("eve"), true, "GET", "/v1/sessions", "");
  EXPECT_EQ(none->status, 503);
}

}  // namespace
}  // namespace gh::admin
