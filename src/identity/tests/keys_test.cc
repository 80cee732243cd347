// Which key checks a token (issuer, then kid), and which JWKS documents are
// accepted at all.
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "identity/base64url.h"
#include "identity/tests/test_support.h"

namespace gh::identity {
namespace {

using nlohmann::json;
using test::create_problems;
using test::good_claims;
using test::issuer_with;
using test::kNow;
using test::make_key;
using test::make_verifier;
using test::Refuses;

std::string edit(const std::string& jwk_text, const std::function<void(json&)>& change) {
  auto jwk = json::parse(jwk_text);
  change(jwk);
  return jwk.dump();
}

std::string joined(const std::vector<std::string>& lines) {
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  return all;
}

bool any_contains(const std::vector<std::string>& lines, std::string_view needle) {
  for (const auto& l : lines)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

// --- Key selection -----------------------------------------------------------

class KeySelection : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = make_key(Algorithm::kES256, "a");
    b_ = make_key(Algorithm::kES384, "b");
    c_ = make_key(Algorithm::kEdDSA, "c");
    ASSERT_TRUE(a_ && b_ && c_);
  }
  ManualClock clock_{kNow};
  std::unique_ptr<SigningKey> a_, b_, c_;
};

TEST_F(KeySelection, KidPicksTheKeyAmongSeveral) {
  auto verifier = make_verifier(
      {issuer_with({a_->public_jwk_json(), b_->public_jwk_json(), c_->public_jwk_json()})}, clock_);
  ASSERT_NE(verifier, nullptr);
  for (const SigningKey* key : {a_.get(), b_.get(), c_.get()}) {
    const auto result = verifier->verify(key->sign(good_claims().dump()));
    EXPECT_TRUE(result.has_value()) << key->kid() << ": " << result.error().reason;
  }
}

TEST_F(KeySelection, UnknownKidIsRefused) {
  auto verifier = make_verifier({issuer_with({a_->public_jwk_json()})}, clock_);
  ASSERT_NE(verifier, nullptr);
  const std::string token =
      a_->sign_with_header(R"({"alg":"ES256","kid":"rotated-away"})", good_claims().dump());
  EXPECT_TRUE(Refuses(*verifier, token, RefusalCode::kUnknownKid));
  EXPECT_NE(test::reason_of(*verifier, token).find("corp-idp"), std::string::npos);
}

TEST_F(KeySelection, TokenWithoutKidUsesTheIssuersOnlyKey) {
  auto verifier = make_verifier({issuer_with({a_->public_jwk_json()})}, clock_);
  ASSERT_NE(verifier, nullptr);
  const auto result =
      verifier->verify(a_->sign_with_header(R"({"alg":"ES256"})", good_claims().dump()));
  EXPECT_TRUE(result.has_value()) << result.error().reason;
}

TEST_F(KeySelection, TokenWithoutKidIsRefusedWhenTheIssuerHasSeveralKeys) {
  // Trying each key in turn would let the token pick whichever fits best.
  auto verifier =
      make_verifier({issuer_with({a_->public_jwk_json(), b_->public_jwk_json()})}, clock_);
  ASSERT_NE(verifier, nullptr);
  const std::string token = a_->sign_with_header(R"({"alg":"ES256"})", good_claims().dump());
  EXPECT_TRUE(Refuses(*verifier, token, RefusalCode::kUnknownKid));
  EXPECT_NE(test::reason_of(*verifier, token).find("no \"kid\""), std::string::npos);
}

TEST_F(KeySelection, KidDoesNotMatchAKeyThatHasNone) {
  const std::string no_kid = edit(a_->public_jwk_json(), [](json& j) { j.erase("kid"); });
  auto verifier = make_verifier({issuer_with({no_kid})}, clock_);
  ASSERT_NE(verifier, nullptr);
  EXPECT_TRUE(Refuses(*verifier, a_->sign(good_claims().dump()), RefusalCode::kUnknownKid));
  // The only key still serves tokens that name none.
  EXPECT_TRUE(verifier->verify(a_->sign_with_header(R"({"alg":"ES256"})", good_claims().dump()))
                  .has_value());
}

TEST_F(KeySelection, KidOfAnotherIssuersKeyIsRefused) {
  // Issuer B's key must not vouch for tokens claiming to come from issuer A.
  auto verifier = make_verifier({issuer_with({a_->public_jwk_json()}, "https://a.example/", "a"),
                                 issuer_with({b_->public_jwk_json()}, "https://b.example/", "b")},
                                clock_);
  ASSERT_NE(verifier, nullptr);
  auto claims = good_claims();
  claims["iss"] = "https://a.example/";
  EXPECT_TRUE(Refuses(*verifier, b_->sign(claims.dump()), RefusalCode::kUnknownKid));
  // Without a kid, A's only key is chosen, and B's ES384 token does not fit it.
  EXPECT_TRUE(Refuses(*verifier, b_->sign_with_header(R"({"alg":"ES384"})", claims.dump()),
                      RefusalCode::kAlgKeyMismatch));
  // Each issuer's own tokens pass, with its own name.
  const auto from_a = verifier->verify(a_->sign(claims.dump()));
  ASSERT_TRUE(from_a.has_value()) << from_a.error().reason;
  EXPECT_EQ(from_a->issuer_name, "a");
  claims["iss"] = "https://b.example/";
  const auto from_b = verifier->verify(b_->sign(claims.dump()));
  ASSERT_TRUE(from_b.has_value()) << from_b.error().reason;
  EXPECT_EQ(from_b->issuer_name, "b");
}

TEST_F(KeySelection, UnknownIssuerIsRefusedWithoutEchoingIt) {
  auto verifier = make_verifier({issuer_with({a_->public_jwk_json()})}, clock_);
  ASSERT_NE(verifier, nullptr);
  auto claims = good_claims();
  claims["iss"] = "https://evil.example/\x1b[31m";
  const std::string token = a_->sign(claims.dump());
  EXPECT_TRUE(Refuses(*verifier, token, RefusalCode::kUnknownIssuer));
  EXPECT_EQ(test::reason_of(*verifier, token).find("evil"), std::string::npos);
}

TEST_F(KeySelection, IssuerMatchIsExact) {
  auto verifier = make_verifier({issuer_with({a_->public_jwk_json()})}, clock_);
  ASSERT_NE(verifier, nullptr);
  for (const char* near :
       {"https://idp.example.com", "HTTPS://IDP.EXAMPLE.COM/", "https://idp.example.com//",
        " https://idp.example.com/", "https://idp.example.com/x"}) {
    auto claims = good_claims();
    claims["iss"] = near;
    EXPECT_TRUE(Refuses(*verifier, a_->sign(claims.dump()), RefusalCode::kUnknownIssuer)) << near;
  }
}

TEST_F(KeySelection, EncryptionKeyIsNotUsedForSignatures) {
  for (const auto& change : std::vector<std::function<void(json&)>>{
           [](json& j) { j["use"] = "enc"; },
           [](json& j) {
             j["key_ops"] = {"encrypt", "wrapKey"};
           },
       }) {
    auto verifier = make_verifier({issuer_with({edit(a_->public_jwk_json(), change)})}, clock_);
    ASSERT_NE(verifier, nullptr);
    EXPECT_TRUE(Refuses(*verifier, a_->sign(good_claims().dump()), RefusalCode::kAlgKeyMismatch));
  }
  // key_ops that include verify are fine, and so is no "use" at all.
  for (const auto& change : std::vector<std::function<void(json&)>>{
           [](json& j) { j["key_ops"] = {"verify"}; },
           [](json& j) { j.erase("use"); },
       }) {
    auto verifier = make_verifier({issuer_with({edit(a_->public_jwk_json(), change)})}, clock_);
    ASSERT_NE(verifier, nullptr);
    EXPECT_TRUE(verifier->verify(a_->sign(good_claims().dump())).has_value());
  }
}

// --- JWKS loading ------------------------------------------------------------

TEST(JwksLoading, SymmetricOctKeyIsRefusedSoHmacCanNeverBeEnabled) {
  const auto problems =
      create_problems({issuer_with({R"({"kty":"oct","kid":"h","k":"c2VjcmV0LXNoYXJlZA"})"})});
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_NE(problems[0].find("oct"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("corp-idp"), std::string::npos) << problems[0];
  EXPECT_EQ(problems[0].find("c2VjcmV0"), std::string::npos) << problems[0];
}

TEST(JwksLoading, EveryProblemIsReportedOnItsOwnLine) {
  const auto good = make_key(Algorithm::kES256, "good");
  ASSERT_NE(good, nullptr);
  const std::string missing_y = edit(good->public_jwk_json(), [](json& j) {
    j.erase("y");
    j["kid"] = "no-y";
  });
  auto first = issuer_with({good->public_jwk_json(), R"({"kty":"oct","k":"AAAA"})", missing_y,
                            R"({"kty":"RSA","kid":"r","n":"!!","e":"AQAB"})",
                            R"({"kty":"foo","kid":"f"})", R"("not an object")"});
  auto second = issuer_with({}, "https://other.example/", "other-idp");
  second.jwks_json = "{not json";
  const auto problems = create_problems({first, second});
  ASSERT_EQ(problems.size(), 6u) << joined(problems);
  EXPECT_TRUE(any_contains(problems, "key #2")) << joined(problems);
  EXPECT_TRUE(any_contains(problems, "key #3 (kid \"no-y\") has no \"y\"")) << joined(problems);
  EXPECT_TRUE(any_contains(problems, "key #4 (kid \"r\") \"n\" is not base64url"))
      << joined(problems);
  EXPECT_TRUE(any_contains(problems, "key #5 (kid \"f\") \"kty\" is not supported"))
      << joined(problems);
  EXPECT_TRUE(any_contains(problems, "key #6 is not a JSON object")) << joined(problems);
  EXPECT_TRUE(any_contains(problems, "issuer 'other-idp': JWKS is not valid JSON"))
      << joined(problems);
  for (const auto& p : problems) EXPECT_EQ(p.find('\n'), std::string::npos);
}

TEST(JwksLoading, ShortRsaKeyIsRefused) {
  ossl::PkeyPtr weak(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(1024)));
  ASSERT_NE(weak, nullptr);
  auto b64_param = [&](const char* name) {
    BIGNUM* bn = nullptr;
    EXPECT_EQ(EVP_PKEY_get_bn_param(weak.get(), name, &bn), 1);
    ossl::BnPtr owned(bn);
    std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
    return base64url_encode(bytes);
  };
  const json jwk = {{"kty", "RSA"},
                    {"kid", "weak"},
                    {"n", b64_param(OSSL_PKEY_PARAM_RSA_N)},
                    {"e", b64_param(OSSL_PKEY_PARAM_RSA_E)}};
  const auto problems = create_problems({issuer_with({jwk.dump()})});
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_NE(problems[0].find("1024 bits"), std::string::npos) << problems[0];
}

TEST(JwksLoading, RsaKeyWithBadExponentIsRefused) {
  const auto rsa = make_key(Algorithm::kRS256, "r");
  ASSERT_NE(rsa, nullptr);
  for (const char* e : {"AQ", "AAE", "Ag", ""}) {  // e = 1, 1 with a zero byte, 2 (even), empty
    const auto problems = create_problems(
        {issuer_with({edit(rsa->public_jwk_json(), [&](json& j) { j["e"] = e; })})});
    EXPECT_EQ(problems.size(), 1u) << e << "\n" << joined(problems);
  }
}

TEST(JwksLoading, EcPointNotOnTheCurveIsRefused) {
  const auto key = make_key(Algorithm::kES256, "ec");
  ASSERT_NE(key, nullptr);
  const std::string off_curve = edit(key->public_jwk_json(), [](json& j) {
    auto y = *base64url_decode(j["y"].get<std::string>());
    y.back() = static_cast<char>(y.back() ^ 1);
    j["y"] = base64url_encode(y);
  });
  const auto problems = create_problems({issuer_with({off_curve})});
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_NE(problems[0].find("not on the curve"), std::string::npos) << problems[0];
}

TEST(JwksLoading, EcCoordinatesMustBeFullSize) {
  const auto key = make_key(Algorithm::kES384, "ec");
  ASSERT_NE(key, nullptr);
  const std::string short_x = edit(key->public_jwk_json(), [](json& j) {
    j["x"] = base64url_encode(base64url_decode(j["x"].get<std::string>())->substr(1));
  });
  const auto problems = create_problems({issuer_with({short_x})});
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_NE(problems[0].find("48 bytes"), std::string::npos) << problems[0];
  // A P-256 key's coordinates labelled as P-384 are the wrong size too.
  const auto p256 = make_key(Algorithm::kES256, "p256");
  ASSERT_NE(p256, nullptr);
  EXPECT_EQ(create_problems({issuer_with({edit(p256->public_jwk_json(),
                                               [](json& j) {
                                                 j["crv"] = "P-384";
                                                 j.erase("alg");
                                               })})})
                .size(),
            1u);
}

TEST(JwksLoading, UnsupportedCurvesAreRefused) {
  const std::string x32 = base64url_encode(std::string(32, '\x01'));
  const std::string x57 = base64url_encode(std::string(57, '\x01'));
  const std::string x66 = base64url_encode(std::string(66, '\x01'));
  for (const json& jwk : {json{{"kty", "EC"}, {"crv", "P-521"}, {"x", x66}, {"y", x66}},
                          json{{"kty", "EC"}, {"crv", "secp256k1"}, {"x", x32}, {"y", x32}},
                          json{{"kty", "OKP"}, {"crv", "Ed448"}, {"x", x57}},
                          json{{"kty", "OKP"}, {"crv", "X25519"}, {"x", x32}},
                          json{{"kty", "EC"}, {"x", x32}, {"y", x32}}}) {
    const auto problems = create_problems({issuer_with({jwk.dump()})});
    EXPECT_EQ(problems.size(), 1u) << jwk.dump() << "\n" << joined(problems);
  }
}

TEST(JwksLoading, Ed25519KeyMustBe32Bytes) {
  const auto key = make_key(Algorithm::kEdDSA, "ed");
  ASSERT_NE(key, nullptr);
  const std::string long_x = edit(key->public_jwk_json(), [](json& j) {
    j["x"] = base64url_encode(*base64url_decode(j["x"].get<std::string>()) + "x");
  });
  EXPECT_EQ(create_problems({issuer_with({long_x})}).size(), 1u);
}

TEST(JwksLoading, PrivateKeyMaterialIsRefusedWithoutQuotingIt) {
  // A JWKS file is configuration that many can read: a private key there is a leak.
  const auto key = make_key(Algorithm::kES256, "ec");
  ASSERT_NE(key, nullptr);
  const std::string secret = base64url_encode(std::string(32, '\x42'));
  const auto problems = create_problems(
      {issuer_with({edit(key->public_jwk_json(), [&](json& j) { j["d"] = secret; })})});
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_NE(problems[0].find("private"), std::string::npos) << problems[0];
  EXPECT_EQ(problems[0].find(secret), std::string::npos) << problems[0];
}

TEST(JwksLoading, DuplicateKidIsRefused) {
  // Two keys under one kid: which one checks a token would depend on order.
  const auto a = make_key(Algorithm::kES256, "same");
  const auto b = make_key(Algorithm::kEdDSA, "same");
  ASSERT_TRUE(a && b);
  const auto problems =
      create_problems({issuer_with({a->public_jwk_json(), b->public_jwk_json()})});
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_NE(problems[0].find("repeats a kid"), std::string::npos) << problems[0];
}

TEST(JwksLoading, JwkMembersOfTheWrongTypeAreRefused) {
  const auto key = make_key(Algorithm::kES256, "ec");
  ASSERT_NE(key, nullptr);
  for (const auto& change : std::vector<std::function<void(json&)>>{
           [](json& j) { j["kid"] = 7; },
           [](json& j) { j["alg"] = json::array({"ES256"}); },
           [](json& j) { j["use"] = true; },
           [](json& j) { j["key_ops"] = "verify"; },
           [](json& j) { j["x"] = 5; },
           [](json& j) { j["kty"] = nullptr; },
       }) {
    const std::string jwk = edit(key->public_jwk_json(), change);
    EXPECT_FALSE(create_problems({issuer_with({jwk})}).empty()) << jwk;
  }
}

TEST(JwksLoading, DocumentMustBeAnObjectWithKeys) {
  for (const char* doc :
       {"", "[]", "{}", R"({"keys":{}})", R"({"keys":[]})", "null", R"({"keys":[],"keys":[]})"}) {
    IssuerConfig config = issuer_with({});
    config.jwks_json = doc;
    const auto problems = create_problems({config});
    EXPECT_EQ(problems.size(), 1u) << doc << "\n" << joined(problems);
  }
}

TEST(JwksLoading, IssuerSettingsAreChecked) {
  const auto key = make_key(Algorithm::kES256, "ec");
  ASSERT_NE(key, nullptr);
  const std::string jwk = key->public_jwk_json();
  auto no_audience = issuer_with({jwk}, "https://a/", "no-aud");
  no_audience.audiences.clear();
  auto empty_iss = issuer_with({jwk}, "", "empty-iss");
  auto dup1 = issuer_with({jwk}, "https://dup/", "dup1");
  auto dup2 = issuer_with({jwk}, "https://dup/", "dup2");
  auto zero_life = issuer_with({jwk}, "https://z/", "zero-life");
  zero_life.max_lifetime = std::chrono::seconds(0);
  auto no_groups_claim = issuer_with({jwk}, "https://g/", "no-groups-claim");
  no_groups_claim.groups_claim.clear();
  const auto problems =
      create_problems({no_audience, empty_iss, dup1, dup2, zero_life, no_groups_claim});
  EXPECT_EQ(problems.size(), 5u) << joined(problems);
  for (const char* name : {"no-aud", "empty-iss", "dup2", "zero-life", "no-groups-claim"})
    EXPECT_TRUE(any_contains(problems, std::string("issuer '") + name + "'")) << name;
  EXPECT_FALSE(any_contains(problems, "'dup1'"));

  VerifierOptions no_bytes;
  no_bytes.max_token_bytes = 0;
  EXPECT_EQ(create_problems({issuer_with({jwk})}, no_bytes).size(), 1u);
}

TEST(JwksLoading, ProblemsNeverQuoteKeyParameters) {
  const auto rsa = make_key(Algorithm::kRS256, "r");
  ASSERT_NE(rsa, nullptr);
  const json jwk = json::parse(rsa->public_jwk_json());
  const std::string n = jwk["n"];
  // A 2048-bit modulus with a broken exponent, and an "oct" key with a secret.
  const auto problems =
      create_problems({issuer_with({edit(rsa->public_jwk_json(), [](json& j) { j["e"] = "Ag"; }),
                                    R"({"kty":"oct","k":"dG9wLXNlY3JldC12YWx1ZQ"})"})});
  ASSERT_EQ(problems.size(), 2u) << joined(problems);
  for (const auto& p : problems) {
    EXPECT_EQ(p.find(n.substr(0, 16)), std::string::npos) << p;
    EXPECT_EQ(p.find("dG9wLXNl"), std::string::npos) << p;
  }
}

TEST(JwksLoading, NoIssuersIsAValidConfigurationThatAcceptsNothing) {
  ManualClock clock(kNow);
  auto verifier = make_verifier({}, clock);
  ASSERT_NE(verifier, nullptr);
  const auto key = make_key(Algorithm::kES256);
  ASSERT_NE(key, nullptr);
  EXPECT_TRUE(Refuses(*verifier, key->sign(good_claims().dump()), RefusalCode::kUnknownIssuer));
}

}  // namespace
}  // namespace gh::identity
