#include "approvals/broker.h"

#include <gtest/gtest.h>

#include <atomic>

namespace gh::approvals {
namespace {

using namespace std::chrono_literals;

struct Fixture : ::testing::Test {
  ManualClock clock{1'800'000'000};
  std::vector<Event> events;
  int next = 0;
  Broker broker{clock, [this](const Event& e) { events.push_back(e); },
                [this] { return "r-" + std::to_string(++next); }};

  Rule rule(int count = 1, std::optional<std::chrono::seconds> grant = std::nullopt) {
    Rule r;
    r.name = "regulated";
    r.approver_groups = {"compliance", "dba"};
    r.count = count;
    r.grant = grant;
    r.expires = 1h;
    return r;
  }
  static Binding binding(std::string text_hash = "h1", std::string params = "") {
    Binding b;
    b.subject = "alice";
    b.issuer = "https://idp/";
    b.connection = "app";
    b.text_hash = std::move(text_hash);
    b.fingerprint = "f1";
    b.params_hash = std::move(params);
    b.policy_version = 3;
    return b;
  }
  static Person person(std::string subject, std::vector<std::string> groups,
                       std::string issued_by = "") {
    return Person{std::move(subject), "https://idp/", std::move(issued_by), std::move(groups)};
  }
  Request raise(const Binding& b, const Rule& r) {
    auto raised =
        broker.raise(b, r, person("alice", {"ai-agents", "compliance"}), "SELECT 1", "s-1");
    EXPECT_TRUE(raised);
    return raised->request;
  }
};

TEST_F(Fixture, SelfApprovalIsRefusedEvenWhenTheRequesterIsAnApprover) {
  auto r = raise(binding(), rule());
  auto rv = broker.review(r.id, person("alice", {"compliance", "platform-admins"}), true, "");
  ASSERT_FALSE(rv);
  EXPECT_EQ(rv.error().code, ReviewRefusal::kOwnRequest);
  EXPECT_EQ(broker.get(r.id)->status, Status::kPending);
}

TEST_F(Fixture, AMintedTokenForSomeoneElseDoesNotLetTheRequesterApprove) {
  // An admin requester mints a token for "bob" and approves with it: the admin still acts.
  auto raised = broker.raise(binding(), rule(), person("root-admin", {"platform-admins"}), "x", "");
  ASSERT_TRUE(raised);
  auto rv =
      broker.review(raised->request.id, person("bob", {"compliance"}, "root-admin"), true, "");
  ASSERT_FALSE(rv);
  EXPECT_EQ(rv.error().code, ReviewRefusal::kOwnRequest);
}

TEST_F(Fixture, OnePersonInTwoApproverGroupsCountsOnce) {
  auto r = raise(binding(), rule(2));
  ASSERT_TRUE(broker.review(r.id, person("carol", {"compliance", "dba"}), true, "ok"));
  auto again = broker.review(r.id, person("carol", {"dba"}), true, "ok again");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ReviewRefusal::kAlreadyReviewed);
  EXPECT_EQ(broker.get(r.id)->status, Status::kPending);
  auto done = broker.review(r.id, person("dave", {"dba"}), true, "");
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, Status::kApproved);
  EXPECT_EQ(done->approvals(), (std::vector<std::string>{"carol", "dave"}));
}

TEST_F(Fixture, TwoMintedTokensOfOneAdminCountAsOnePerson) {
  auto r = raise(binding(), rule(2));
  ASSERT_TRUE(broker.review(r.id, person("bob", {"compliance"}, "root-admin"), true, ""));
  auto second = broker.review(r.id, person("carol", {"compliance"}, "root-admin"), true, "");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ReviewRefusal::kAlreadyReviewed);
}

TEST_F(Fixture, NonApproverIsRefused) {
  auto r = raise(binding(), rule());
  auto rv = broker.review(r.id, person("mallory", {"ai-agents"}), true, "");
  ASSERT_FALSE(rv);
  EXPECT_EQ(rv.error().code, ReviewRefusal::kNotApprover);
}

TEST_F(Fixture, AnyDenialEndsTheRequest) {
  auto r = raise(binding(), rule(2));
  ASSERT_TRUE(broker.review(r.id, person("carol", {"dba"}), true, ""));
  auto denied = broker.review(r.id, person("dave", {"dba"}), false, "not today");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, Status::kDenied);
  auto late = broker.review(r.id, person("erin", {"dba"}), true, "");
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, ReviewRefusal::kAlreadyDecided);
  EXPECT_FALSE(broker.use_grant(binding()));
}

TEST_F(Fixture, PendingRequestLapsesAtExpiry) {
  auto r = raise(binding(), rule());
  clock.advance(3601s);
  auto rv = broker.review(r.id, person("carol", {"dba"}), true, "");
  ASSERT_FALSE(rv);
  EXPECT_EQ(rv.error().code, ReviewRefusal::kAlreadyDecided);
  EXPECT_EQ(broker.get(r.id)->status, Status::kLapsed);
  bool lapsed_event = false;
  for (const auto& e : events) lapsed_event |= e.kind == Event::Kind::kLapsed;
  EXPECT_TRUE(lapsed_event);
}

TEST_F(Fixture, OnceGrantIsConsumedByOneExecution) {
  auto r = raise(binding(), rule());
  ASSERT_TRUE(broker.review(r.id, person("carol", {"dba"}), true, ""));
  auto used = broker.use_grant(binding());
  ASSERT_TRUE(used);
  EXPECT_EQ(used->id, r.id);
  EXPECT_EQ(broker.get(r.id)->status, Status::kUsed);
  EXPECT_FALSE(broker.use_grant(binding()));
}

TEST_F(Fixture, DurationGrantAllowsRerunsUntilItEnds) {
  auto r = raise(binding(), rule(1, 30min));
  ASSERT_TRUE(broker.review(r.id, person("carol", {"dba"}), true, ""));
  EXPECT_TRUE(broker.use_grant(binding()));
  EXPECT_TRUE(broker.use_grant(binding()));
  clock.advance(29min);
  EXPECT_TRUE(broker.use_grant(binding()));
  clock.advance(2min);
  EXPECT_FALSE(broker.use_grant(binding()));
}

TEST_F(Fixture, AGrantAnotherReplicaGaveIsHonouredUntilItEndsButNothingElseIsAdopted) {
  Request window;
  window.id = "r-elsewhere";
  window.rule = "prod-window";
  window.status = Status::kApproved;
  window.binding.kind = Binding::Kind::kConnect;
  window.binding.subject = "alice";
  window.binding.connection = "prod";
  window.grant_seconds = 600;
  window.grant_until_us = (clock.now().time_since_epoch() / 1us) + 600'000'000;
  ASSERT_TRUE(broker.adopt(window));
  EXPECT_FALSE(broker.adopt(window));  // known already
  EXPECT_TRUE(broker.open_grant(window.binding));
  EXPECT_TRUE(broker.use_grant(window.binding));
  EXPECT_TRUE(broker.use_grant(window.binding));  // a window is used again and again

  Request once = window;  // a once grant stays with the replica whose statement waited
  once.id = "r-once";
  once.grant_seconds = 0;
  EXPECT_FALSE(broker.adopt(once));
  Request pending = window;
  pending.id = "r-pending";
  pending.status = Status::kPending;
  EXPECT_FALSE(broker.adopt(pending));
  Request ended = window;
  ended.id = "r-ended";
  ended.grant_until_us = (clock.now().time_since_epoch() / 1us) - 1;
  EXPECT_FALSE(broker.adopt(ended));

  clock.advance(601s);
  EXPECT_FALSE(broker.use_grant(window.binding));
}

TEST_F(Fixture, SettledRequestsAndUnusedGrantsAreForgottenAfterADay) {
  auto r = raise(binding(), rule());
  ASSERT_TRUE(broker.review(r.id, person("carol", {"dba"}), true, ""));
  clock.advance(24h + 1s);
  EXPECT_FALSE(broker.get(r.id));
  EXPECT_FALSE(broker.use_grant(binding()));
}

TEST_F(Fixture, AlteredStatementOrParameterIsANewRequest) {
  auto r = raise(binding("h1", "p1"), rule(1, 30min));
  ASSERT_TRUE(broker.review(r.id, person("carol", {"dba"}), true, ""));
  EXPECT_FALSE(broker.use_grant(binding("h2", "p1")));  // one character changed
  EXPECT_FALSE(broker.use_grant(binding("h1", "p2")));  // one parameter changed
  Binding other_version = binding("h1", "p1");
  other_version.policy_version = 4;
  EXPECT_FALSE(broker.use_grant(other_version));
  Binding other_person = binding("h1", "p1");
  other_person.subject = "bob";
  EXPECT_FALSE(broker.use_grant(other_person));
  EXPECT_TRUE(broker.use_grant(binding("h1", "p1")));
  auto fresh = broker.raise(binding("h2", "p1"), rule(), person("alice", {}), "x", "");
  ASSERT_TRUE(fresh);
  EXPECT_TRUE(fresh->created);
  EXPECT_NE(fresh->request.id, r.id);
}

// The same subject at another trusted issuer is another identity: it cannot
// run (and use up) the statement approved for this one.
TEST_F(Fixture, SameSubjectAtAnotherIssuerDoesNotGetTheGrant) {
  auto r = raise(binding(), rule());
  ASSERT_TRUE(broker.review(r.id, person("carol", {"dba"}), true, ""));
  Binding elsewhere = binding();
  elsewhere.issuer = "https://second-idp/";
  EXPECT_FALSE(broker.use_grant(elsewhere));
  EXPECT_EQ(broker.get(r.id)->status, Status::kApproved);
  EXPECT_TRUE(broker.use_grant(binding()));
}

// Segregation of duties stays stricter than identity: the requester's
// subject at another issuer still cannot approve the request.
TEST_F(Fixture, SameSubjectAtAnotherIssuerCannotApprove) {
  auto r = raise(binding(), rule());
  Person twin = person("alice", {"compliance"});
  twin.issuer = "https://second-idp/";
  auto refused = broker.review(r.id, twin, true, "");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ReviewRefusal::kOwnRequest);
}

TEST(ReviewerText, LongStatementIsCutOnACharacterBoundary) {
  // 4095 ASCII bytes, then a 2-byte character across the 4096-byte cut.
  const std::string text = std::string(kMaxShownText - 1, 'a') + "\xc3\xa9" + "tail";
  const std::string shown = shown_to_reviewers(text);
  EXPECT_EQ(shown, std::string(kMaxShownText - 1, 'a') + "…");
  const std::string fits = std::string(kMaxShownText - 2, 'a') + "\xc3\xa9" + "tail";
  EXPECT_EQ(shown_to_reviewers(fits), std::string(kMaxShownText - 2, 'a') + "\xc3\xa9…");
  EXPECT_EQ(shown_to_reviewers("short"), "short");
}

TEST(RuleGroups, ARuleAimedAtAGroupTheTokenDroppedStillApplies) {
  Rule r;
  r.name = "bulk-export";
  r.groups = {"ai-agents"};
  model::Principal narrowed;
  narrowed.subject = "agent-7";
  narrowed.groups = {"compliance"};
  narrowed.origin_groups = {"ai-agents", "compliance"};
  EXPECT_TRUE(applies_to(r, narrowed, "traces"));
  narrowed.origin_groups = {"compliance"};
  EXPECT_FALSE(applies_to(r, narrowed, "traces"));
}

TEST_F(Fixture, RetryBeforeApprovalReusesThePendingRequest) {
  auto a = raise(binding(), rule());
  auto b = broker.raise(binding(), rule(), person("alice", {}), "SELECT 1", "s-2");
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->created);
  EXPECT_EQ(b->request.id, a.id);
}

TEST_F(Fixture, SubscribersHearTheDecisionOnceAndWithdrawalEndsIt) {
  auto r = raise(binding(), rule());
  std::atomic<int> woke{0};
  Status seen = Status::kPending;
  broker.subscribe(r.id, [&](const Request& x) {
    ++woke;
    seen = x.status;
  });
  ASSERT_TRUE(broker.review(r.id, person("carol", {"dba"}), true, ""));
  EXPECT_EQ(woke.load(), 1);
  EXPECT_EQ(seen, Status::kApproved);

  auto w = broker.raise(binding("h9"), rule(), person("alice", {}), "x", "");
  ASSERT_TRUE(w);
  broker.subscribe(w->request.id, [&](const Request& x) { seen = x.status; });
  EXPECT_TRUE(broker.withdraw(w->request.id, "client disconnected"));
  EXPECT_EQ(seen, Status::kWithdrawn);
  EXPECT_FALSE(broker.withdraw(w->request.id, "again"));
  // Subscribing to a settled request wakes at once.
  bool at_once = false;
  broker.subscribe(w->request.id, [&](const Request&) { at_once = true; });
  EXPECT_TRUE(at_once);
}

TEST_F(Fixture, PendingRequestsPerRequesterAreBounded) {
  Broker small{clock, nullptr, [this] { return "q-" + std::to_string(++next); },
               BrokerLimits{10, 2, 24h}};
  ASSERT_TRUE(small.raise(binding("a"), rule(), person("alice", {}), "", ""));
  ASSERT_TRUE(small.raise(binding("b"), rule(), person("alice", {}), "", ""));
  auto third = small.raise(binding("c"), rule(), person("alice", {}), "", "");
  ASSERT_FALSE(third);
  EXPECT_NE(third.error().find("pending already"), std::string::npos);
}

TEST_F(Fixture, AccessWindowIsNoLongerThanTheRuleAllows) {
  Rule r = rule(1, 1h);
  r.on_connect = true;
  Binding b;
  b.kind = Binding::Kind::kConnect;
  b.subject = "alice";
  b.connection = "prod";
  auto asked_long = broker.raise(b, r, person("alice", {}), "", "", "deploy", 8h);
  ASSERT_TRUE(asked_long);
  EXPECT_EQ(asked_long->request.grant_seconds, 3600);
  ASSERT_TRUE(broker.review(asked_long->request.id, person("carol", {"dba"}), true, ""));
  EXPECT_TRUE(broker.open_grant(b));
  clock.advance(3601s);
  EXPECT_FALSE(broker.open_grant(b));

  Binding b2 = b;
  b2.connection = "prod-2";
  auto asked_short = broker.raise(b2, r, person("alice", {}), "", "", "", 10min);
  ASSERT_TRUE(asked_short);
  EXPECT_EQ(asked_short->request.grant_seconds, 600);
}

TEST(Rules, StatementRulesMatchKindsTablesConnectionsAndRequesters) {
  RuleSet set;
  Rule regulated;
  regulated.name = "regulated";
  regulated.tables = {"public.patients"};
  regulated.statements = {model::Kind::kSelect, model::Kind::kDelete};
  Rule agents;
  agents.name = "agents-writes";
  agents.groups = {"ai-agents"};
  agents.connections = {"prod*"};
  agents.statements = {model::Kind::kUpdate};
  Rule connect;
  connect.name = "window";
  connect.on_connect = true;
  connect.connections = {"prod-billing"};
  set.rules = {regulated, agents, connect};

  model::Principal agent{"a", "", "", {"ai-agents"}};
  model::Principal person{"p", "", "", {"dev"}};
  model::Analysis select;
  select.ok = true;
  select.kind = model::Kind::kSelect;
  model::Analysis cte_update;  // a data-modifying CTE inside a SELECT is an UPDATE too
  cte_update.ok = true;
  cte_update.kind = model::Kind::kSelect;
  cte_update.statements.push_back({});
  cte_update.statements.back().operations.push_back({model::Kind::kUpdate, false});

  EXPECT_EQ(match_statement(set, person, "app", select, {"public.patients"}), &set.rules[0]);
  EXPECT_EQ(match_statement(set, person, "app", select, {"public.visits"}), nullptr);
  EXPECT_EQ(match_statement(set, agent, "prod-1", cte_update, {"public.t"}), &set.rules[1]);
  EXPECT_EQ(match_statement(set, person, "prod-1", cte_update, {"public.t"}), nullptr);
  EXPECT_EQ(match_statement(set, agent, "dev-1", cte_update, {"public.t"}), nullptr);
  EXPECT_EQ(match_connect(set, person, "prod-billing"), &set.rules[2]);
  EXPECT_EQ(match_connect(set, person, "app"), nullptr);
  EXPECT_TRUE(set.has_connect_rules());
  EXPECT_TRUE(set.has_statement_rules());
}

}  // namespace
}  // namespace gh::approvals
