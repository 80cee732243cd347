// The verified-token cache: it saves signature checks, and must never accept
// what a fresh verification would refuse.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "identity/base64url.h"
#include "identity/tests/test_support.h"

namespace gh::identity {
namespace {

using nlohmann::json;
using test::good_claims;
using test::kNow;
using test::Refuses;
using test::VerifierTest;

using Cache = VerifierTest;

json expiring_at(std::int64_t exp) {
  auto claims = good_claims();
  claims["exp"] = exp;
  return claims;
}

TEST_F(Cache, SecondVerifyIsServedFromTheCache) {
  const std::string token = sign(good_claims());
  const auto first = verifier_->verify(token);
  ASSERT_TRUE(first.has_value()) << first.error().reason;
  EXPECT_EQ(verifier_->cache_hits(), 0u);
  const auto second = verifier_->verify(token);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(verifier_->cache_hits(), 1u);
  EXPECT_EQ(second->subject, first->subject);
  EXPECT_EQ(second->groups, first->groups);
  EXPECT_EQ(second->expires_at, first->expires_at);
  EXPECT_EQ(second->token_hash, first->token_hash);
  (void)verifier_->verify(token);
  EXPECT_EQ(verifier_->cache_hits(), 2u);
}

TEST_F(Cache, CachedTokenIsRefusedOnceExpired) {
  const std::string token = sign(expiring_at(kNow + 600));
  ASSERT_TRUE(verifier_->verify(token).has_value());
  // Within exp + leeway (30 s) a fresh check would still accept: so does the cache.
  clock_.set(kNow + 600 + 29);
  ASSERT_TRUE(verifier_->verify(token).has_value());
  EXPECT_EQ(verifier_->cache_hits(), 1u);
  // From then on it is expired, cached or not.
  clock_.set(kNow + 600 + 30);
  EXPECT_TRUE(Refuses(*verifier_, token, RefusalCode::kExpired));
  EXPECT_EQ(verifier_->cache_hits(), 1u);
  clock_.set(kNow + 100000);
  EXPECT_TRUE(Refuses(*verifier_, token, RefusalCode::kExpired));
  EXPECT_EQ(verifier_->cache_hits(), 1u);
}

TEST_F(Cache, CachedTokenIsRefusedAtExpWithoutLeeway) {
  rebuild(VerifierOptions{.leeway = std::chrono::seconds(0)});
  const std::string token = sign(expiring_at(kNow + 600));
  ASSERT_TRUE(verifier_->verify(token).has_value());
  clock_.set(kNow + 599);
  ASSERT_TRUE(verifier_->verify(token).has_value());
  EXPECT_EQ(verifier_->cache_hits(), 1u);
  clock_.set(kNow + 600);
  EXPECT_TRUE(Refuses(*verifier_, token, RefusalCode::kExpired));
}

TEST_F(Cache, CachedTokenIsRefusedWhenTheClockIsSetBackBeforeItsIat) {
  const std::string token = sign(good_claims());
  ASSERT_TRUE(verifier_->verify(token).has_value());
  // A fresh check would now see iat 100 s in the future.
  clock_.set(kNow - 100);
  EXPECT_TRUE(Refuses(*verifier_, token, RefusalCode::kNotYetValid));
  EXPECT_EQ(verifier_->cache_hits(), 0u);
}

TEST_F(Cache, RefusalsAreNotCached) {
  auto wrong_audience = good_claims();
  wrong_audience["aud"] = "someone-else";
  const std::string token = sign(wrong_audience);
  EXPECT_TRUE(Refuses(*verifier_, token, RefusalCode::kWrongAudience));
  EXPECT_TRUE(Refuses(*verifier_, token, RefusalCode::kWrongAudience));
  EXPECT_EQ(verifier_->cache_hits(), 0u);
  // A token not yet valid is not remembered as refused either: it passes later.
  auto later = good_claims();
  later["nbf"] = kNow + 100;
  const std::string future = sign(later);
  EXPECT_TRUE(Refuses(*verifier_, future, RefusalCode::kNotYetValid));
  clock_.set(kNow + 100);
  EXPECT_TRUE(verifier_->verify(future).has_value());
  EXPECT_EQ(verifier_->cache_hits(), 0u);
}

TEST_F(Cache, CachedTokenDoesNotVouchForATamperedCopy) {
  const std::string token = sign(good_claims());
  ASSERT_TRUE(verifier_->verify(token).has_value());
  auto claims = good_claims();
  claims["groups"] = json::array({"dev", "platform-admins"});
  const auto first_dot = token.find('.');
  const auto last_dot = token.rfind('.');
  const std::string tampered =
      token.substr(0, first_dot + 1) + base64url_encode(claims.dump()) + token.substr(last_dot);
  EXPECT_TRUE(Refuses(*verifier_, tampered, RefusalCode::kBadSignature));
  EXPECT_EQ(verifier_->cache_hits(), 0u);
}

TEST_F(Cache, EntriesAreKeyedByTheWholeToken) {
  // ECDSA signatures are randomised: same claims, different tokens, two entries.
  const std::string a = sign(good_claims());
  const std::string b = sign(good_claims());
  ASSERT_NE(a, b);
  ASSERT_TRUE(verifier_->verify(a).has_value());
  ASSERT_TRUE(verifier_->verify(b).has_value());
  EXPECT_EQ(verifier_->cache_hits(), 0u);
  ASSERT_TRUE(verifier_->verify(a).has_value());
  ASSERT_TRUE(verifier_->verify(b).has_value());
  EXPECT_EQ(verifier_->cache_hits(), 2u);
}

TEST_F(Cache, CapacityIsABoundAndTheSoonestToExpireGoFirst) {
  rebuild(VerifierOptions{.cache_capacity = 2});
  const std::string t1 = sign(expiring_at(kNow + 100));
  const std::string t2 = sign(expiring_at(kNow + 200));
  const std::string t3 = sign(expiring_at(kNow + 300));
  for (const auto* t : {&t1, &t2, &t3}) ASSERT_TRUE(verifier_->verify(*t).has_value());
  EXPECT_EQ(verifier_->cache_hits(), 0u);
  // t3 pushed out t1, which had the least life left.
  ASSERT_TRUE(verifier_->verify(t2).has_value());
  ASSERT_TRUE(verifier_->verify(t3).has_value());
  EXPECT_EQ(verifier_->cache_hits(), 2u);
  ASSERT_TRUE(verifier_->verify(t1).has_value());
  EXPECT_EQ(verifier_->cache_hits(), 2u);
}

TEST_F(Cache, ExpiredEntriesMakeRoomBeforeLiveOnes) {
  rebuild(VerifierOptions{.leeway = std::chrono::seconds(0), .cache_capacity = 2});
  const std::string short_lived = sign(expiring_at(kNow + 100));
  const std::string long_lived = sign(expiring_at(kNow + 1000));
  ASSERT_TRUE(verifier_->verify(short_lived).has_value());
  ASSERT_TRUE(verifier_->verify(long_lived).has_value());
  clock_.set(kNow + 150);
  auto claims = good_claims(kNow + 150);
  const std::string newcomer = sign(claims);
  ASSERT_TRUE(verifier_->verify(newcomer).has_value());
  // Both live entries are served from the cache; the dead one is gone.
  ASSERT_TRUE(verifier_->verify(long_lived).has_value());
  ASSERT_TRUE(verifier_->verify(newcomer).has_value());
  EXPECT_EQ(verifier_->cache_hits(), 2u);
  EXPECT_TRUE(Refuses(*verifier_, short_lived, RefusalCode::kExpired));
}

TEST_F(Cache, ZeroCapacityDisablesCaching) {
  rebuild(VerifierOptions{.cache_capacity = 0});
  const std::string token = sign(good_claims());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(verifier_->verify(token).has_value());
  EXPECT_EQ(verifier_->cache_hits(), 0u);
}

// Many threads, few tokens (good and bad) and, in the small variant, a cache
// too small for them, so entries are evicted while others are read.
void hammer(const TokenVerifier& verifier, const std::vector<std::string>& good,
            const std::vector<std::string>& bad) {
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 150; ++i) {
        const std::size_t k = static_cast<std::size_t>(i * 7 + t);
        if (!verifier.verify(good[k % good.size()]).has_value()) ++wrong;
        if (verifier.verify(bad[k % bad.size()]).has_value()) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(Cache, ConcurrentVerificationIsSafe) {
  std::vector<std::string> good;
  std::vector<std::string> bad;
  for (int i = 0; i < 6; ++i) {
    auto claims = good_claims();
    claims["sub"] = "user-" + std::to_string(i);
    claims["exp"] = kNow + 100 + i;
    good.push_back(sign(claims));
    claims["aud"] = "not-us";
    bad.push_back(sign(claims));
  }
  for (const std::size_t capacity : {std::size_t{3}, std::size_t{100'000}}) {
    SCOPED_TRACE(capacity);
    rebuild(VerifierOptions{.cache_capacity = capacity});
    hammer(*verifier_, good, bad);
    EXPECT_GT(verifier_->cache_hits(), 0u);
  }
}

}  // namespace
}  // namespace gh::identity
