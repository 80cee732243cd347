// The admin API's request parsing without transport (request.h): what fuzz/fuzz_admin_request.cc
// checks on any input, shown on the requests that matter.
#include <gtest/gtest.h>

#include <string>

#include "admin/request.h"

namespace gh::admin {
namespace {

TEST(AdminRequest, RoutesFillTheirParameterAndKeepTheQuery) {
  auto r = route_request("POST", "/v1/reviews/r-42/approve?x=1", 10);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->route->endpoint, Endpoint::kApproveReview);
  EXPECT_EQ(r->param, "r-42");
  EXPECT_EQ(r->path, "/v1/reviews/r-42/approve");
  EXPECT_EQ(r->query, "x=1");
}

TEST(AdminRequest, RefusalsNameWhatIsWrong) {
  auto wrong_method = route_request("DELETE", "/v1/tokens", 0);
  ASSERT_FALSE(wrong_method);
  EXPECT_EQ(wrong_method.error().status, 405);
  EXPECT_EQ(wrong_method.error().message, "use POST /v1/tokens");
  EXPECT_EQ(route_request("GET", "/v1/nothing", 0).error().status, 404);
  EXPECT_EQ(route_request("GET", "/healthz", kMaxBody + 1).error().status, 413);
  // An empty segment is no parameter.
  EXPECT_EQ(route_request("GET", "/v1/reviews/", 0).error().status, 404);
}

TEST(AdminRequest, QueryStringsDecodeAndRefuseBrokenEscapes) {
  auto q = parse_query("status=pending&text=SELECT%20*+FROM%2Ct&&flag");
  ASSERT_TRUE(q);
  EXPECT_EQ((*q)["status"], "pending");
  EXPECT_EQ((*q)["text"], "SELECT * FROM,t");
  EXPECT_EQ((*q)["flag"], "");
  EXPECT_FALSE(parse_query("a=%zz"));
  EXPECT_FALSE(parse_query("a=%4"));
}

TEST(AdminRequest, BodiesAreJsonObjectsAndFieldsHaveTheirShape) {
  EXPECT_TRUE(parse_body("")->empty());
  EXPECT_FALSE(parse_body("[1]"));
  EXPECT_FALSE(parse_body("{\"a\":"));
  auto body = parse_body(R"({"groups":["dev",""],"ttl":"500ms","reason":7})");
  ASSERT_TRUE(body);
  std::string why;
  EXPECT_FALSE(string_list(*body, "groups", why));
  EXPECT_EQ(why, "\"groups\" must be an array of non-empty strings");
  EXPECT_FALSE(duration_field(*body, "ttl", why));
  EXPECT_FALSE(string_field(*body, "reason", why));
  EXPECT_EQ(string_field(*body, "absent", why), "");
}

}  // namespace
}  // namespace gh::admin
