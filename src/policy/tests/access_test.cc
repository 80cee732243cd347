#include "policy/access.h"

#include <gtest/gtest.h>

namespace gh::policy {
namespace {

model::Principal principal(std::string subject, std::vector<std::string> groups) {
  model::Principal p;
  p.subject = std::move(subject);
  p.groups = std::move(groups);
  return p;
}

TEST(Glob, MatchesLikeAShell) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "traces"));
  EXPECT_TRUE(glob_match("public.*", "public.users"));
  EXPECT_FALSE(glob_match("public.*", "private.users"));
  EXPECT_TRUE(glob_match("dblink*", "dblink_exec"));
  EXPECT_TRUE(glob_match("*.*api_key*", "public.users.stripe_api_key_v2"));
  EXPECT_TRUE(glob_match("tr?ces", "traces"));
  EXPECT_FALSE(glob_match("traces", "traces2"));
  EXPECT_FALSE(glob_match("", "x"));
  EXPECT_TRUE(glob_match("a*b*c*d*e*f", "aXbXcXdXeXf"));
  EXPECT_FALSE(glob_match("a*a*a*a*a*a*b", std::string(5000, 'a')));
}

TEST(MayConnect, NoRuleMeansDenied) {
  AccessPolicy policy;
  auto d = may_connect(policy, principal("agent-7", {"ai-agents"}), "traces");
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(d.rule.empty());
}

TEST(MayConnect, GroupAndConnectionMustBothMatch) {
  AccessPolicy policy{{
      {.name = "agents-read-traces", .groups = {"ai-agents"}, .connections = {"traces"}},
      {.name = "dba", .groups = {"dba"}, .connections = {"*"}},
  }};
  EXPECT_EQ(may_connect(policy, principal("a", {"ai-agents"}), "traces").rule,
            "agents-read-traces");
  EXPECT_FALSE(may_connect(policy, principal("a", {"ai-agents"}), "billing").allowed);
  EXPECT_EQ(may_connect(policy, principal("d", {"x", "dba"}), "billing").rule, "dba");
  EXPECT_FALSE(may_connect(policy, principal("n", {}), "traces").allowed);
}

TEST(MayConnect, SubjectGlobsAdmitNamedPrincipals) {
  AccessPolicy policy{{{.name = "ci", .subjects = {"ci-*"}, .connections = {"traces"}}}};
  EXPECT_TRUE(may_connect(policy, principal("ci-build-42", {}), "traces").allowed);
  EXPECT_FALSE(may_connect(policy, principal("human", {}), "traces").allowed);
}

TEST(MayConnect, GroupNamesAreNotGlobs) {
  // A principal in group "ai-*" must not be treated as matching a pattern.
  AccessPolicy policy{{{.name = "r", .groups = {"ai-agents"}, .connections = {"*"}}}};
  EXPECT_FALSE(may_connect(policy, principal("x", {"ai-*"}), "traces").allowed);
}

}  // namespace
}  // namespace gh::policy
