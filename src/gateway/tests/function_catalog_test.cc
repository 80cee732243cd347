// The function catalog's freshness: nobody decides blind, one session
// refreshes an expired copy while the others keep using it, a failure is
// remembered briefly, DDL drops the copy.
#include "gateway/function_catalog.h"

#include <gtest/gtest.h>

namespace gh::gateway {
namespace {

using namespace std::chrono_literals;
using Clock = FunctionCatalog::Clock;

Clock::time_point g_now = Clock::time_point(1h);
Clock::time_point now() {
  return g_now;
}

UserFunctionMap one() {
  return {{"wipe", {policy::UserFunction{"public", true}}}};
}

TEST(FunctionCatalog, NothingKnownMeansEveryCallerFetches) {
  FunctionCatalog c(&now);
  EXPECT_EQ(c.get("app"), nullptr);
  EXPECT_TRUE(c.wants_fetch("app"));
  EXPECT_TRUE(c.wants_fetch("app"));  // a second session does not decide blind either
  c.put("app", one());
  EXPECT_FALSE(c.wants_fetch("app"));
  ASSERT_NE(c.get("app"), nullptr);
  EXPECT_TRUE(c.get("app")->at("wipe").front().writes);
}

TEST(FunctionCatalog, OneSessionRefreshesAnExpiredCopyWhileOthersUseIt) {
  FunctionCatalog c(&now);
  c.put("app", one());
  g_now += FunctionCatalog::kTtl;
  EXPECT_EQ(c.get("app"), nullptr);   // expired, nobody fetching
  EXPECT_TRUE(c.wants_fetch("app"));  // this one fetches
  EXPECT_FALSE(c.wants_fetch("app"));
  EXPECT_NE(c.get("app"), nullptr);  // the others decide with the expired copy
  g_now += FunctionCatalog::kStaleWhileFetching;
  EXPECT_EQ(c.get("app"), nullptr);   // the fetch never came back: no longer trusted
  EXPECT_TRUE(c.wants_fetch("app"));  // and someone else fetches
  c.put("app", one());
  EXPECT_FALSE(c.wants_fetch("app"));
}

TEST(FunctionCatalog, FailureIsRememberedBrieflyAndDdlDropsTheCopy) {
  FunctionCatalog c(&now);
  c.failed("app");
  EXPECT_EQ(c.get("app"), nullptr);
  EXPECT_FALSE(c.wants_fetch("app"));
  g_now += FunctionCatalog::kRetryAfterFailure;
  EXPECT_TRUE(c.wants_fetch("app"));
  c.put("app", one());
  c.invalidate("app");
  EXPECT_EQ(c.get("app"), nullptr);
  EXPECT_TRUE(c.wants_fetch("app"));
  EXPECT_EQ(c.get("other"), nullptr);
}

}  // namespace
}  // namespace gh::gateway
