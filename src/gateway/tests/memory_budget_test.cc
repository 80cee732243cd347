#include "gateway/memory_budget.h"

#include <gtest/gtest.h>

namespace gh::gateway {
namespace {

using V = SessionBudget::Verdict;

TEST(MemoryBudget, ASessionHoldsWhatItSaysWithinItsOwnLimit) {
  MemoryBudget process(100);
  SessionBudget s(process, 60);
  EXPECT_EQ(s.hold(SessionBudget::kStatements, 40), V::kOk);
  EXPECT_EQ(s.hold(SessionBudget::kRows, 20), V::kOk);
  EXPECT_EQ(process.used(), 60u);
  // One byte more is refused, and nothing changes.
  EXPECT_EQ(s.hold(SessionBudget::kRows, 21), V::kSessionFull);
  EXPECT_EQ(s.used(), 60u);
  EXPECT_EQ(process.used(), 60u);
  // Shrinking gives back.
  EXPECT_EQ(s.hold(SessionBudget::kStatements, 10), V::kOk);
  EXPECT_EQ(process.used(), 30u);
  EXPECT_NE(s.describe(V::kSessionFull).find("gateway.session_memory"), std::string::npos);
}

TEST(MemoryBudget, TheProcessLimitRefusesTheSessionThatAsksPastIt) {
  MemoryBudget process(100);
  SessionBudget a(process, 80);
  SessionBudget b(process, 80);
  EXPECT_EQ(a.hold(SessionBudget::kStatements, 70), V::kOk);
  EXPECT_EQ(b.hold(SessionBudget::kStatements, 40), V::kProcessFull);
  EXPECT_EQ(b.used(), 0u);
  EXPECT_EQ(b.hold(SessionBudget::kStatements, 30), V::kOk);
  EXPECT_EQ(process.refusals.load(), 1u);
  EXPECT_NE(b.describe(V::kProcessFull).find("gateway.memory_limit"), std::string::npos);
}

TEST(MemoryBudget, AnEndedSessionGivesEverythingBack) {
  MemoryBudget process(100);
  {
    SessionBudget s(process, 100);
    EXPECT_EQ(s.hold(SessionBudget::kRows, 99), V::kOk);
  }
  EXPECT_EQ(process.used(), 0u);
}

}  // namespace
}  // namespace gh::gateway
