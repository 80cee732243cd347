// Replicas hand requests, reviewers and answers to each other as JSON text:
// every field survives the round trip, and text that is not one is refused.
#include "cluster/codec.h"

#include <gtest/gtest.h>

namespace gh::cluster {
namespace {

approvals::Request full_request() {
  approvals::Request r;
  r.id = "r-0123abcd";
  r.rule = "regulated";
  r.status = approvals::Status::kApproved;
  r.binding.kind = approvals::Binding::Kind::kConnect;
  r.binding.subject = "agent-7";
  r.binding.connection = "prod";
  r.binding.text_hash = "aa";
  r.binding.fingerprint = "DELETE FROM t WHERE id = $1";
  r.binding.params_hash = "bb";
  r.binding.policy_version = 42;
  r.requester = {"agent-7", "https://idp/", "root-admin", {"ai-agents", "x"}};
  r.statement = "DELETE FROM t WHERE id = 1 -- \"quoted\"\n";
  r.session_id = "s-1";
  r.reason = "incident 7";
  r.mode = approvals::Mode::kWait;
  r.created_at_us = 1;
  r.expires_at_us = 2;
  r.decided_at_us = 3;
  r.approver_groups = {"compliance"};
  r.count = 2;
  r.grant_seconds = 3600;
  r.grant_until_us = 4;
  r.reviews = {{"carol", "", true, "ok", 5}, {"dave", "admin", false, "no", 6}};
  return r;
}

TEST(ClusterCodec, ARequestSurvivesTheRoundTripWhole) {
  const auto r = full_request();
  auto back = decode_request(encode_request(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(encode_request(*back), encode_request(r));
  EXPECT_EQ(back->binding, r.binding);
  EXPECT_EQ(back->requester.issued_by, "root-admin");
  EXPECT_EQ(back->requester.groups, r.requester.groups);
  EXPECT_EQ(back->status, approvals::Status::kApproved);
  EXPECT_EQ(back->mode, approvals::Mode::kWait);
  ASSERT_EQ(back->reviews.size(), 2u);
  EXPECT_FALSE(back->reviews[1].approve);
  EXPECT_EQ(back->reviews[1].issued_by, "admin");
  EXPECT_EQ(back->grant_seconds, 3600);
}

TEST(ClusterCodec, PeopleAndAnswersSurviveTheRoundTrip) {
  const approvals::Person p{"carol", "https://idp/", "", {"compliance", "dba"}};
  auto back = decode_person(encode_person(p));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->subject, "carol");
  EXPECT_EQ(back->groups, p.groups);

  auto ok = decode_answer(encode_answer(full_request()));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->id, "r-0123abcd");
  const ReviewResult refused =
      unexpected(approvals::ReviewError{approvals::ReviewRefusal::kOwnRequest, "your own request"});
  auto no = decode_answer(encode_answer(refused));
  ASSERT_FALSE(no);
  EXPECT_EQ(no.error().code, approvals::ReviewRefusal::kOwnRequest);
  EXPECT_EQ(no.error().message, "your own request");
}

TEST(ClusterCodec, TextThatIsNotOneIsRefused) {
  EXPECT_FALSE(decode_request(""));
  EXPECT_FALSE(decode_request("{}"));
  EXPECT_FALSE(decode_request("[1,2]"));
  std::string bad_status = encode_request(full_request());
  bad_status.replace(bad_status.find("\"approved\""), 10, "\"granted!\"");
  EXPECT_FALSE(decode_request(bad_status));
  EXPECT_FALSE(decode_person("{\"subject\":1}"));
  auto garbled = decode_answer("not json");
  ASSERT_FALSE(garbled);
  EXPECT_EQ(garbled.error().code, approvals::ReviewRefusal::kUnavailable);
}

}  // namespace
}  // namespace gh::cluster
