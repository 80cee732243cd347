// The registered claims (RFC 7519 §4.1) and the principal built from them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "identity/tests/test_support.h"

namespace gh::identity {
namespace {

using nlohmann::json;
using test::good_claims;
using test::kNow;
using test::Refuses;
using test::VerifierTest;

using Claims = VerifierTest;

json without(json claims, const char* name) {
  claims.erase(name);
  return claims;
}

json with(json claims, const char* name, json value) {
  claims[name] = std::move(value);
  return claims;
}

// --- Time ----------------------------------------------------------------

TEST_F(Claims, TokenWithoutExpIsRefused) {
  // A token without exp would be valid forever.
  EXPECT_TRUE(Refuses(*verifier_, sign(without(good_claims(), "exp")), RefusalCode::kMissingClaim));
}

TEST_F(Claims, ExpiredTokenIsRefused) {
  const auto claims = with(with(good_claims(), "iat", kNow - 3000), "exp", kNow - 1000);
  EXPECT_TRUE(Refuses(*verifier_, sign(claims), RefusalCode::kExpired));
}

TEST_F(Claims, LeewayCoversSmallClockSkewOnly) {
  // Default leeway is 30 s.
  const auto expired_10s = with(with(good_claims(), "iat", kNow - 600), "exp", kNow - 10);
  const auto ok = verifier_->verify(sign(expired_10s));
  EXPECT_TRUE(ok.has_value()) << ok.error().reason;
  const auto expired_40s = with(with(good_claims(), "iat", kNow - 600), "exp", kNow - 40);
  EXPECT_TRUE(Refuses(*verifier_, sign(expired_40s), RefusalCode::kExpired));
  // The boundary: exp + leeway == now is already expired (exp is exclusive).
  const auto expired_30s = with(with(good_claims(), "iat", kNow - 600), "exp", kNow - 30);
  EXPECT_TRUE(Refuses(*verifier_, sign(expired_30s), RefusalCode::kExpired));
  const auto expired_29s = with(with(good_claims(), "iat", kNow - 600), "exp", kNow - 29);
  EXPECT_TRUE(verifier_->verify(sign(expired_29s)).has_value());
}

TEST_F(Claims, ZeroLeewayMeansExpIsExact) {
  rebuild(VerifierOptions{.leeway = std::chrono::seconds(0)});
  EXPECT_TRUE(verifier_->verify(sign(with(good_claims(), "exp", kNow + 1))).has_value());
  EXPECT_TRUE(Refuses(*verifier_, sign(with(good_claims(), "exp", kNow)), RefusalCode::kExpired));
}

TEST_F(Claims, LeewayIsCappedAtFiveMinutesWhateverTheOptionsSay) {
  rebuild(VerifierOptions{.leeway = std::chrono::hours(24)});
  const auto expired_299s = with(with(good_claims(), "iat", kNow - 900), "exp", kNow - 299);
  EXPECT_TRUE(verifier_->verify(sign(expired_299s)).has_value());
  const auto expired_301s = with(with(good_claims(), "iat", kNow - 900), "exp", kNow - 301);
  EXPECT_TRUE(Refuses(*verifier_, sign(expired_301s), RefusalCode::kExpired));
  const auto expired_1h = with(with(good_claims(), "iat", kNow - 4000), "exp", kNow - 3600);
  EXPECT_TRUE(Refuses(*verifier_, sign(expired_1h), RefusalCode::kExpired));
  // The cap applies to nbf and iat too.
  EXPECT_TRUE(
      Refuses(*verifier_, sign(with(good_claims(), "nbf", kNow + 301)), RefusalCode::kNotYetValid));
  EXPECT_TRUE(verifier_->verify(sign(with(good_claims(), "nbf", kNow + 299))).has_value());
}

TEST_F(Claims, NegativeLeewayIsTreatedAsZero) {
  rebuild(VerifierOptions{.leeway = std::chrono::seconds(-100)});
  // With -100 taken literally this would be refused 100 s early.
  EXPECT_TRUE(verifier_->verify(sign(with(good_claims(), "exp", kNow + 50))).has_value());
}

TEST_F(Claims, NotBeforeInTheFutureIsRefused) {
  EXPECT_TRUE(
      Refuses(*verifier_, sign(with(good_claims(), "nbf", kNow + 60)), RefusalCode::kNotYetValid));
  // Within the leeway, and in the past, it passes.
  EXPECT_TRUE(verifier_->verify(sign(with(good_claims(), "nbf", kNow + 20))).has_value());
  EXPECT_TRUE(verifier_->verify(sign(with(good_claims(), "nbf", kNow - 20))).has_value());
}

TEST_F(Claims, IssuedInTheFutureIsRefused) {
  // A token "issued" later than now is either forged or from a broken clock.
  const auto claims = with(with(good_claims(), "iat", kNow + 120), "exp", kNow + 600);
  EXPECT_TRUE(Refuses(*verifier_, sign(claims), RefusalCode::kNotYetValid));
  const auto within = with(with(good_claims(), "iat", kNow + 25), "exp", kNow + 600);
  EXPECT_TRUE(verifier_->verify(sign(within)).has_value());
}

TEST_F(Claims, LifetimeLongerThanTheIssuerAllowsIsRefused) {
  // max_lifetime defaults to 1 h: exp - iat may be 3600 s, not 3601 s.
  EXPECT_TRUE(verifier_->verify(sign(with(good_claims(), "exp", kNow + 3600))).has_value());
  const std::string token = sign(with(good_claims(), "exp", kNow + 3601));
  EXPECT_TRUE(Refuses(*verifier_, token, RefusalCode::kLifetimeTooLong));
  EXPECT_NE(test::reason_of(*verifier_, token).find("3601"), std::string::npos);
  // An old iat does not help: the whole span counts, not what is left.
  const auto old = with(with(good_claims(), "iat", kNow - 7000), "exp", kNow + 60);
  EXPECT_TRUE(Refuses(*verifier_, sign(old), RefusalCode::kLifetimeTooLong));
}

TEST_F(Claims, LifetimeWithoutIatIsMeasuredFromNow) {
  const auto no_iat = without(good_claims(), "iat");
  EXPECT_TRUE(verifier_->verify(sign(with(no_iat, "exp", kNow + 3600))).has_value());
  EXPECT_TRUE(
      Refuses(*verifier_, sign(with(no_iat, "exp", kNow + 86400)), RefusalCode::kLifetimeTooLong));
}

TEST_F(Claims, FractionalAndIntegralDatesAreAccepted) {
  auto claims = good_claims();
  claims["iat"] = static_cast<double>(kNow) + 0.5;
  claims["exp"] = static_cast<double>(kNow) + 600.25;
  const auto result = verifier_->verify(sign(claims));
  ASSERT_TRUE(result.has_value()) << result.error().reason;
  EXPECT_EQ(result->issued_at, kNow);
  EXPECT_EQ(result->expires_at, kNow + 600);
}

TEST_F(Claims, DatesOutOfRangeAreBadClaimTypeNotOverflow) {
  // Huge values must not wrap around into "valid" through integer overflow.
  for (const json& exp : {json(18446744073709551615ull), json(9223372036854775807ll), json(-1),
                          json(1e300), json(-1e300)}) {
    EXPECT_TRUE(
        Refuses(*verifier_, sign(with(good_claims(), "exp", exp)), RefusalCode::kBadClaimType))
        << exp.dump();
  }
  EXPECT_TRUE(Refuses(*verifier_, sign(with(good_claims(), "iat", -9223372036854775807ll)),
                      RefusalCode::kBadClaimType));
}

// --- Audience ------------------------------------------------------------

TEST_F(Claims, WrongAudienceIsRefused) {
  EXPECT_TRUE(Refuses(*verifier_, sign(with(good_claims(), "aud", "other-service")),
                      RefusalCode::kWrongAudience));
  // Exact match only: no prefix, no case folding.
  EXPECT_TRUE(Refuses(*verifier_, sign(with(good_claims(), "aud", "gatehouse-admin")),
                      RefusalCode::kWrongAudience));
  EXPECT_TRUE(Refuses(*verifier_, sign(with(good_claims(), "aud", "GATEHOUSE")),
                      RefusalCode::kWrongAudience));
}

TEST_F(Claims, MissingAudienceIsRefused) {
  // A token for no one in particular could have been issued for any service.
  EXPECT_TRUE(
      Refuses(*verifier_, sign(without(good_claims(), "aud")), RefusalCode::kWrongAudience));
  EXPECT_TRUE(Refuses(*verifier_, sign(with(good_claims(), "aud", json::array())),
                      RefusalCode::kWrongAudience));
}

TEST_F(Claims, AudienceArrayNeedsOneConfiguredAudience) {
  const auto ok = verifier_->verify(sign(with(good_claims(), "aud", {"other", "gatehouse"})));
  EXPECT_TRUE(ok.has_value()) << ok.error().reason;
  EXPECT_TRUE(Refuses(*verifier_, sign(with(good_claims(), "aud", {"other", "another"})),
                      RefusalCode::kWrongAudience));
}

TEST_F(Claims, AnyOfSeveralConfiguredAudiencesIsAccepted) {
  auto config = test::issuer_with({key_->public_jwk_json()});
  config.audiences = {"gatehouse", "gatehouse-eu"};
  verifier_ = test::make_verifier({config}, clock_);
  ASSERT_NE(verifier_, nullptr);
  EXPECT_TRUE(verifier_->verify(sign(with(good_claims(), "aud", "gatehouse-eu"))).has_value());
  EXPECT_TRUE(verifier_->verify(sign(with(good_claims(), "aud", {"x", "gatehouse"}))).has_value());
}

// --- Required claims and types ---------------------------------------------

TEST_F(Claims, MissingSubjectIsRefused) {
  EXPECT_TRUE(Refuses(*verifier_, sign(without(good_claims(), "sub")), RefusalCode::kMissingClaim));
  EXPECT_TRUE(
      Refuses(*verifier_, sign(with(good_claims(), "sub", "")), RefusalCode::kMissingClaim));
}

TEST_F(Claims, MissingIssuerIsRefused) {
  EXPECT_TRUE(Refuses(*verifier_, sign(without(good_claims(), "iss")), RefusalCode::kMissingClaim));
}

TEST_F(Claims, ClaimsOfTheWrongTypeAreRefused) {
  struct Case {
    const char* claim;
    json value;
  };
  const Case cases[] = {
      {"sub", 42},
      {"sub", json::array({"alice"})},
      {"sub", nullptr},
      {"iss", 1},
      {"iss", json::array({test::kIssuer})},
      {"exp", "1700000600"},
      {"exp", true},
      {"exp", nullptr},
      {"nbf", "yesterday"},
      {"iat", json::object()},
      {"aud", 7},
      {"aud", json::object()},
      {"aud", json::array({"gatehouse", 7})},
      {"aud", json::array({json::array({"gatehouse"})})},
      {"groups", "dev"},
      {"groups", json::array({"dev", 1})},
      {"groups", json::object({{"dev", true}})},
      {"groups", nullptr},
  };
  for (const auto& c : cases) {
    EXPECT_TRUE(Refuses(*verifier_, sign(with(good_claims(), c.claim, c.value)),
                        RefusalCode::kBadClaimType))
        << c.claim << " = " << c.value.dump();
  }
}

TEST_F(Claims, ClaimsAreNotTrustedBeforeTheSignature) {
  // Forged and expired with a bad sub: the signature is what is refused, so
  // nothing about the claims is learned from an unsigned token.
  const auto forger = test::make_key(Algorithm::kES256, "k1");
  ASSERT_NE(forger, nullptr);
  auto claims = with(with(good_claims(), "exp", kNow - 5000), "sub", 42);
  EXPECT_TRUE(Refuses(*verifier_, forger->sign(claims.dump()), RefusalCode::kBadSignature));
}

// --- The principal ---------------------------------------------------------

TEST_F(Claims, PrincipalCarriesTheVerifiedClaims) {
  auto claims = good_claims();
  claims["groups"] = {"dev", "oncall"};
  claims["name"] = "Alice";
  const std::string token = sign(claims);
  const auto result = verifier_->verify(token);
  ASSERT_TRUE(result.has_value()) << result.error().reason;
  const model::Principal& p = *result;
  EXPECT_EQ(p.subject, "alice");
  EXPECT_EQ(p.issuer, test::kIssuer);
  EXPECT_EQ(p.issuer_name, "corp-idp");
  EXPECT_EQ(p.groups, (std::vector<std::string>{"dev", "oncall"}));
  EXPECT_TRUE(p.in_group("oncall"));
  EXPECT_EQ(p.issued_at, kNow);
  EXPECT_EQ(p.expires_at, kNow + 600);
  EXPECT_EQ(p.token_hash, token_hash(token));
  EXPECT_EQ(p.token_hash.find(token), std::string::npos);
}

TEST_F(Claims, IssuedAtIsZeroWhenAbsent) {
  const auto result = verifier_->verify(sign(without(good_claims(), "iat")));
  ASSERT_TRUE(result.has_value()) << result.error().reason;
  EXPECT_EQ(result->issued_at, 0);
}

TEST_F(Claims, GroupsComeFromTheConfiguredClaim) {
  auto config = test::issuer_with({key_->public_jwk_json()});
  config.groups_claim = "roles";
  verifier_ = test::make_verifier({config}, clock_);
  ASSERT_NE(verifier_, nullptr);
  // "groups" is just another claim now; "roles" is read.
  auto claims = with(good_claims(), "roles", {"db-admins", "dev"});
  const auto result = verifier_->verify(sign(claims));
  ASSERT_TRUE(result.has_value()) << result.error().reason;
  EXPECT_EQ(result->groups, (std::vector<std::string>{"db-admins", "dev"}));
  EXPECT_FALSE(result->in_group("nobody"));
  // A wrongly typed "groups" no longer matters; a wrongly typed "roles" does.
  EXPECT_TRUE(
      verifier_->verify(sign(with(with(good_claims(), "roles", json::array()), "groups", 42)))
          .has_value());
  EXPECT_TRUE(Refuses(*verifier_, sign(with(good_claims(), "roles", "db-admins")),
                      RefusalCode::kBadClaimType));
}

TEST_F(Claims, AbsentGroupsClaimMeansNoGroups) {
  const auto result = verifier_->verify(sign(without(good_claims(), "groups")));
  ASSERT_TRUE(result.has_value()) << result.error().reason;
  EXPECT_TRUE(result->groups.empty());
  const auto empty = verifier_->verify(sign(with(good_claims(), "groups", json::array())));
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->groups.empty());
}

// The gateway's own tokens carry the identity they were exchanged for: its
// issuer and all of its groups. Only the gateway's issuer is read for them.
TEST_F(Claims, ExchangedGatewayTokenSpeaksForTheOriginalIdentity) {
  auto config = test::issuer_with({key_->public_jwk_json()});
  config.gateway = true;
  verifier_ = test::make_verifier({config}, clock_);
  ASSERT_NE(verifier_, nullptr);
  auto claims = with(good_claims(), "groups", {"compliance"});
  claims["gh_origin_iss"] = "https://idp.corp.example/";
  claims["gh_origin_groups"] = {"ai-agents", "compliance"};
  const auto result = verifier_->verify(sign(claims));
  ASSERT_TRUE(result.has_value()) << result.error().reason;
  EXPECT_EQ(result->issuer, "https://idp.corp.example/");
  EXPECT_EQ(result->groups, (std::vector<std::string>{"compliance"}));
  EXPECT_EQ(result->origin_groups, (std::vector<std::string>{"compliance", "ai-agents"}));
  // Grants follow the token's groups; restrictions every group of the identity.
  EXPECT_FALSE(result->in_group("ai-agents"));
  EXPECT_TRUE(result->restricted_as("ai-agents"));
  EXPECT_TRUE(result->restricted_as("compliance"));
  EXPECT_FALSE(result->restricted_as("dba"));
  EXPECT_TRUE(Refuses(*verifier_, sign(with(good_claims(), "gh_origin_groups", "ai-agents")),
                      RefusalCode::kBadClaimType));
  EXPECT_TRUE(Refuses(*verifier_, sign(with(good_claims(), "gh_origin_iss", 7)),
                      RefusalCode::kBadClaimType));
  EXPECT_TRUE(Refuses(*verifier_, sign(with(good_claims(), "gh_origin_iss", "")),
                      RefusalCode::kBadClaimType));
}

TEST_F(Claims, OriginClaimsOfAnIdentityProvidersTokenAreIgnored) {
  auto claims = good_claims();
  claims["gh_origin_iss"] = "https://elsewhere.test/";
  claims["gh_origin_groups"] = {"platform-admins"};
  const auto result = verifier_->verify(sign(claims));
  ASSERT_TRUE(result.has_value()) << result.error().reason;
  EXPECT_EQ(result->issuer, test::kIssuer);
  EXPECT_EQ(result->origin_groups, (std::vector<std::string>{"dev"}));
  EXPECT_FALSE(result->restricted_as("platform-admins"));
}

// What an unauthenticated caller is told names nothing configured: not the
// issuer's name, its key ids, audiences, lifetime limit or groups claim.
TEST_F(Claims, PublicReasonsNameNoConfiguration) {
  auto config = test::issuer_with({key_->public_jwk_json()}, test::kIssuer, "secret-idp-name");
  config.groups_claim = "secret-roles-claim";
  config.audiences = {"secret-audience"};
  verifier_ = test::make_verifier({config}, clock_);
  ASSERT_NE(verifier_, nullptr);
  const std::vector<std::pair<std::string, RefusalCode>> cases = {
      {sign_header({{"alg", "ES256"}, {"kid", "secret-kid"}}, good_claims()),
       RefusalCode::kUnknownKid},
      {sign(with(good_claims(), "aud", "someone-else")), RefusalCode::kWrongAudience},
      {sign(with(with(good_claims(), "aud", "secret-audience"), "exp", kNow + 86400)),
       RefusalCode::kLifetimeTooLong},
      {sign(with(with(good_claims(), "aud", "secret-audience"), "secret-roles-claim", 1)),
       RefusalCode::kBadClaimType},
  };
  for (const auto& [token, code] : cases) {
    const auto result = verifier_->verify(token);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, code) << result.error().reason;
    const std::string shown = public_reason(result.error());
    EXPECT_FALSE(shown.empty());
    for (const char* secret :
         {"secret-idp-name", "secret-roles-claim", "secret-audience", "secret-kid", "3600"})
      EXPECT_EQ(shown.find(secret), std::string::npos) << shown;
  }
}

TEST(TokenHash, IsLowercaseHexSha256) {
  // FIPS 180-2 test vector for "abc".
  EXPECT_EQ(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string h = token_hash("eyJhbGciOiJFUzI1NiJ9.e30.c2ln");
  EXPECT_EQ(h.size(), 64u);
  EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(token_hash("a"), token_hash("b"));
}

}  // namespace
}  // namespace gh::identity
