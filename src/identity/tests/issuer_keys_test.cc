// Keys that change while the verifier runs: a discovery issuer that starts
// without keys, and set_issuer_keys replacing an issuer's keys (rotation).
#include <gtest/gtest.h>

#include "identity/tests/test_support.h"

namespace gh::identity {
namespace {

using test::create_problems;
using test::good_claims;
using test::issuer_with;
using test::kNow;
using test::make_key;
using test::make_verifier;
using test::Refuses;

IssuerConfig discovery_issuer(const std::string& iss = test::kIssuer,
                              const std::string& name = "corp-idp") {
  IssuerConfig config = issuer_with({}, iss, name);
  config.jwks_json.clear();
  config.discovery = true;
  return config;
}

class IssuerKeys : public ::testing::Test {
 protected:
  void SetUp() override {
    old_ = make_key(Algorithm::kES256, "old");
    new_ = make_key(Algorithm::kEdDSA, "new");
    ASSERT_TRUE(old_ && new_);
  }
  ManualClock clock_{kNow};
  std::unique_ptr<SigningKey> old_, new_;
};

TEST_F(IssuerKeys, DiscoveryIssuerWithoutKeysIsAcceptedAndItsTokensAskForAFetch) {
  auto verifier = make_verifier({discovery_issuer()}, clock_);
  ASSERT_NE(verifier, nullptr);
  const std::string token = old_->sign(good_claims().dump());
  EXPECT_TRUE(Refuses(*verifier, token, RefusalCode::kUnknownKid));
  const auto result = verifier->verify(token);
  ASSERT_FALSE(result);
  // The issuer is named, so the caller can ask for that issuer's keys.
  EXPECT_EQ(result.error().issuer, test::kIssuer);
  EXPECT_NE(result.error().reason.find("keys of issuer 'corp-idp' are not loaded yet"),
            std::string::npos)
      << result.error().reason;
}

TEST_F(IssuerKeys, TokenWithoutKidOfAnIssuerWithoutKeysIsRefusedToo) {
  auto verifier = make_verifier({discovery_issuer()}, clock_);
  ASSERT_NE(verifier, nullptr);
  const std::string token = old_->sign_with_header(R"({"alg":"ES256"})", good_claims().dump());
  EXPECT_TRUE(Refuses(*verifier, token, RefusalCode::kUnknownKid));
}

TEST_F(IssuerKeys, KeysSetLaterMakeTheDiscoveryIssuersTokensVerify) {
  auto verifier = make_verifier({discovery_issuer()}, clock_);
  ASSERT_NE(verifier, nullptr);
  ASSERT_TRUE(verifier->set_issuer_keys(test::kIssuer, jwks_json({old_->public_jwk_json()})));
  const auto result = verifier->verify(old_->sign(good_claims().dump()));
  ASSERT_TRUE(result) << result.error().reason;
  EXPECT_EQ(result->issuer_name, "corp-idp");
}

TEST_F(IssuerKeys, RotationReplacesTheKeysWhole) {
  auto verifier = make_verifier({discovery_issuer()}, clock_);
  ASSERT_NE(verifier, nullptr);
  ASSERT_TRUE(verifier->set_issuer_keys(test::kIssuer, jwks_json({old_->public_jwk_json()})));
  // A token with the new kid, before the new keys are known: a refresh is asked for.
  auto claims = good_claims();
  claims["sub"] = "bob";
  const std::string fresh = new_->sign(claims.dump());
  const auto before = verifier->verify(fresh);
  ASSERT_FALSE(before);
  EXPECT_EQ(before.error().code, RefusalCode::kUnknownKid);
  EXPECT_EQ(before.error().issuer, test::kIssuer);

  ASSERT_TRUE(verifier->set_issuer_keys(test::kIssuer, jwks_json({new_->public_jwk_json()})));
  EXPECT_TRUE(verifier->verify(fresh));
  // The old key is gone with the document that held it.
  claims["sub"] = "carol";
  EXPECT_TRUE(Refuses(*verifier, old_->sign(claims.dump()), RefusalCode::kUnknownKid));
}

// A key rotated out is out for every token it signed: one verified (and
// cached) before the rotation is refused afterwards like one never seen.
TEST_F(IssuerKeys, CachedTokenOfAKeyRotatedOutIsRefused) {
  auto verifier = make_verifier({issuer_with({old_->public_jwk_json()})}, clock_);
  ASSERT_NE(verifier, nullptr);
  const std::string used = old_->sign(good_claims().dump());
  ASSERT_TRUE(verifier->verify(used));
  ASSERT_TRUE(verifier->verify(used));
  ASSERT_EQ(verifier->cache_hits(), 1u);
  // Both keys published: the cached verification stands.
  ASSERT_TRUE(verifier->set_issuer_keys(
      test::kIssuer, jwks_json({new_->public_jwk_json(), old_->public_jwk_json()})));
  EXPECT_TRUE(verifier->verify(used));
  EXPECT_EQ(verifier->cache_hits(), 2u);
  // The old key leaves the set.
  ASSERT_TRUE(verifier->set_issuer_keys(test::kIssuer, jwks_json({new_->public_jwk_json()})));
  EXPECT_TRUE(Refuses(*verifier, used, RefusalCode::kUnknownKid));
  EXPECT_EQ(verifier->cache_hits(), 2u);
}

// Only the issuer whose keys changed loses its cached verifications, and only
// those of the keys that left.
TEST_F(IssuerKeys, RotationForgetsOnlyTheRemovedKeysOfThatIssuer) {
  auto other = make_key(Algorithm::kES256, "other");
  ASSERT_NE(other, nullptr);
  auto verifier =
      make_verifier({issuer_with({old_->public_jwk_json(), new_->public_jwk_json()}),
                     issuer_with({other->public_jwk_json()}, "https://second.test/", "second-idp")},
                    clock_);
  ASSERT_NE(verifier, nullptr);
  auto second_claims = good_claims();
  second_claims["iss"] = "https://second.test/";
  const std::string by_old = old_->sign(good_claims().dump());
  const std::string by_new = new_->sign(good_claims().dump());
  const std::string by_other = other->sign(second_claims.dump());
  for (const auto* t : {&by_old, &by_new, &by_other}) ASSERT_TRUE(verifier->verify(*t));
  ASSERT_TRUE(verifier->set_issuer_keys(test::kIssuer, jwks_json({new_->public_jwk_json()})));
  const auto hits = verifier->cache_hits();
  EXPECT_TRUE(verifier->verify(by_new));
  EXPECT_TRUE(verifier->verify(by_other));
  EXPECT_EQ(verifier->cache_hits(), hits + 2);
  EXPECT_TRUE(Refuses(*verifier, by_old, RefusalCode::kUnknownKid));
}

TEST_F(IssuerKeys, BadDocumentKeepsTheKeysInForce) {
  auto verifier = make_verifier({discovery_issuer()}, clock_);
  ASSERT_NE(verifier, nullptr);
  EXPECT_FALSE(verifier->set_issuer_keys(test::kIssuer, R"({"keys":[]})"));
  EXPECT_TRUE(Refuses(*verifier, old_->sign(good_claims().dump()), RefusalCode::kUnknownKid));

  ASSERT_TRUE(verifier->set_issuer_keys(test::kIssuer, jwks_json({old_->public_jwk_json()})));
  const auto refused = verifier->set_issuer_keys(test::kIssuer, "{not json");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find(test::kIssuer), std::string::npos) << refused.error();
  EXPECT_TRUE(verifier->verify(old_->sign(good_claims().dump())));
}

TEST_F(IssuerKeys, KeysOfAnIssuerThatIsNotConfiguredAreRefused) {
  auto verifier = make_verifier({discovery_issuer()}, clock_);
  ASSERT_NE(verifier, nullptr);
  EXPECT_FALSE(verifier->set_issuer_keys("https://other.example.com/",
                                         jwks_json({old_->public_jwk_json()})));
}

TEST_F(IssuerKeys, OtherIssuersServeWhileADiscoveryIssuerHasNoKeys) {
  auto verifier = make_verifier(
      {discovery_issuer(),
       issuer_with({old_->public_jwk_json()}, "https://files.example.com/", "file-idp")},
      clock_);
  ASSERT_NE(verifier, nullptr);
  auto claims = good_claims();
  claims["iss"] = "https://files.example.com/";
  const auto result = verifier->verify(old_->sign(claims.dump()));
  ASSERT_TRUE(result) << result.error().reason;
  EXPECT_EQ(result->issuer_name, "file-idp");
}

TEST_F(IssuerKeys, IssuerWithoutDiscoveryStillNeedsItsJwks) {
  IssuerConfig no_keys = issuer_with({});
  no_keys.jwks_json.clear();
  const auto problems = create_problems({no_keys});
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems.front().find("corp-idp"), std::string::npos) << problems.front();
}

TEST_F(IssuerKeys, DiscoveryIssuerMayStartWithKeysGivenToIt) {
  IssuerConfig seeded = discovery_issuer();
  seeded.jwks_json = jwks_json({old_->public_jwk_json()});
  auto verifier = make_verifier({seeded}, clock_);
  ASSERT_NE(verifier, nullptr);
  EXPECT_TRUE(verifier->verify(old_->sign(good_claims().dump())));
}

}  // namespace
}  // namespace gh::identity
