#include "identity/signer.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <nlohmann/json.hpp>

#include "identity/base64url.h"
#include "identity/tests/test_support.h"

namespace gh::identity {
namespace {

using test::kNow;
using test::make_key;

constexpr Algorithm kAll[] = {Algorithm::kRS256, Algorithm::kRS384, Algorithm::kRS512,
                              Algorithm::kPS256, Algorithm::kES256, Algorithm::kES384,
                              Algorithm::kEdDSA};

std::size_t decoded_size(const nlohmann::json& jwk, const char* member) {
  const auto bytes = base64url_decode(jwk.at(member).get<std::string>());
  return bytes ? bytes->size() : 0;
}

TEST(AlgorithmName, NamesAreTheJwsAlgValues) {
  EXPECT_EQ(algorithm_name(Algorithm::kRS256), "RS256");
  EXPECT_EQ(algorithm_name(Algorithm::kRS384), "RS384");
  EXPECT_EQ(algorithm_name(Algorithm::kRS512), "RS512");
  EXPECT_EQ(algorithm_name(Algorithm::kPS256), "PS256");
  EXPECT_EQ(algorithm_name(Algorithm::kES256), "ES256");
  EXPECT_EQ(algorithm_name(Algorithm::kES384), "ES384");
  EXPECT_EQ(algorithm_name(Algorithm::kEdDSA), "EdDSA");
}

TEST(SigningKey, SignedHeaderCarriesAlgTypAndKid) {
  for (const Algorithm alg : {Algorithm::kES256, Algorithm::kEdDSA}) {
    const auto key = make_key(alg, "kid-\"quoted\"");
    ASSERT_NE(key, nullptr);
    EXPECT_EQ(key->algorithm(), alg);
    EXPECT_EQ(key->kid(), "kid-\"quoted\"");
    const std::string token = key->sign(R"({"sub":"x"})");
    const auto header_b64 = token.substr(0, token.find('.'));
    const auto header = nlohmann::json::parse(*base64url_decode(header_b64));
    EXPECT_EQ(header, (nlohmann::json{{"alg", std::string(algorithm_name(alg))},
                                      {"typ", "JWT"},
                                      {"kid", "kid-\"quoted\""}}));
    // The payload text travels exactly as given.
    const auto second_dot = token.find('.', header_b64.size() + 1);
    EXPECT_EQ(
        *base64url_decode(token.substr(header_b64.size() + 1, second_dot - header_b64.size() - 1)),
        R"({"sub":"x"})");
    EXPECT_EQ(token.find('='), std::string::npos);
  }
}

TEST(SigningKey, PublicJwkHasTheRfc7518Members) {
  for (const Algorithm alg : kAll) {
    SCOPED_TRACE(std::string(algorithm_name(alg)));
    const auto key = make_key(alg, "key-1");
    ASSERT_NE(key, nullptr);
    const auto jwk = nlohmann::json::parse(key->public_jwk_json());
    EXPECT_EQ(jwk.at("kid"), "key-1");
    EXPECT_EQ(jwk.at("alg"), std::string(algorithm_name(alg)));
    EXPECT_EQ(jwk.at("use"), "sig");
    // Never any private member.
    for (const char* priv : {"d", "p", "q", "dp", "dq", "qi"}) EXPECT_FALSE(jwk.contains(priv));
    switch (alg) {
      case Algorithm::kRS256:
      case Algorithm::kRS384:
      case Algorithm::kRS512:
      case Algorithm::kPS256:
        EXPECT_EQ(jwk.at("kty"), "RSA");
        EXPECT_EQ(decoded_size(jwk, "n"), 256u);  // 2048 bits
        EXPECT_EQ(jwk.at("e"), "AQAB");           // 65537
        break;
      case Algorithm::kES256:
        EXPECT_EQ(jwk.at("kty"), "EC");
        EXPECT_EQ(jwk.at("crv"), "P-256");
        EXPECT_EQ(decoded_size(jwk, "x"), 32u);
        EXPECT_EQ(decoded_size(jwk, "y"), 32u);
        break;
      case Algorithm::kES384:
        EXPECT_EQ(jwk.at("kty"), "EC");
        EXPECT_EQ(jwk.at("crv"), "P-384");
        EXPECT_EQ(decoded_size(jwk, "x"), 48u);
        EXPECT_EQ(decoded_size(jwk, "y"), 48u);
        break;
      case Algorithm::kEdDSA:
        EXPECT_EQ(jwk.at("kty"), "OKP");
        EXPECT_EQ(jwk.at("crv"), "Ed25519");
        EXPECT_EQ(decoded_size(jwk, "x"), 32u);
        EXPECT_FALSE(jwk.contains("y"));
        break;
    }
  }
}

TEST(SigningKey, GeneratedKeysAreFreshEachTime) {
  const auto a = make_key(Algorithm::kEdDSA);
  const auto b = make_key(Algorithm::kEdDSA);
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->public_jwk_json(), b->public_jwk_json());
}

TEST(SigningKey, PrivatePemIsPkcs8AndLoadsBackToTheSameKey) {
  for (const Algorithm alg :
       {Algorithm::kRS256, Algorithm::kES256, Algorithm::kES384, Algorithm::kEdDSA}) {
    SCOPED_TRACE(std::string(algorithm_name(alg)));
    const auto key = make_key(alg, "orig");
    ASSERT_NE(key, nullptr);
    const std::string pem = key->private_pem();
    EXPECT_EQ(pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);
    auto loaded = SigningKey::from_pem(alg, "orig", pem);
    ASSERT_TRUE(loaded.has_value()) << loaded.error();
    EXPECT_EQ((*loaded)->public_jwk_json(), key->public_jwk_json());
    EXPECT_EQ((*loaded)->private_pem(), pem);

    // A token the loaded key signs verifies against the original's JWKS.
    ManualClock clock(kNow);
    auto verifier = test::make_verifier({test::issuer_with({key->public_jwk_json()})}, clock);
    ASSERT_NE(verifier, nullptr);
    const auto result = verifier->verify((*loaded)->sign(test::good_claims().dump()));
    EXPECT_TRUE(result.has_value()) << result.error().reason;
  }
}

TEST(SigningKey, FromPemRefusesAKeyOfTheWrongKind) {
  const auto ec = make_key(Algorithm::kES256);
  const auto ed = make_key(Algorithm::kEdDSA);
  const auto p384 = make_key(Algorithm::kES384);
  ASSERT_TRUE(ec && ed && p384);
  EXPECT_FALSE(SigningKey::from_pem(Algorithm::kRS256, "k", ec->private_pem()).has_value());
  EXPECT_FALSE(SigningKey::from_pem(Algorithm::kES256, "k", ed->private_pem()).has_value());
  // Same key type, other curve: ES256 must not sign with a P-384 key.
  const auto wrong_curve = SigningKey::from_pem(Algorithm::kES256, "k", p384->private_pem());
  ASSERT_FALSE(wrong_curve.has_value());
  EXPECT_NE(wrong_curve.error().find("P-256"), std::string::npos) << wrong_curve.error();
}

TEST(SigningKey, FromPemRefusesGarbageWithoutQuotingIt) {
  const std::string not_pem =
      "-----BEGIN PRIVATE KEY-----\nc2VjcmV0c2VjcmV0\n-----END PRIVATE KEY-----\n";
  const auto result = SigningKey::from_pem(Algorithm::kES256, "k", not_pem);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().find("c2VjcmV0"), std::string::npos);
  EXPECT_FALSE(SigningKey::from_pem(Algorithm::kES256, "k", "").has_value());
}

TEST(SigningKey, FromPemRefusesPublicKeyPem) {
  const auto key = make_key(Algorithm::kES256);
  ASSERT_NE(key, nullptr);
  const std::string pem = key->private_pem();
  // A SubjectPublicKeyInfo PEM of the same key.
  const auto pkey = test::load_private_key(key->private_pem());
  ASSERT_NE(pkey, nullptr);
  ossl::BioPtr out(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PUBKEY(out.get(), pkey.get()), 1);
  const std::string public_pem = test::bio_text(out.get());
  ASSERT_NE(public_pem.find("PUBLIC KEY"), std::string::npos);
  EXPECT_FALSE(SigningKey::from_pem(Algorithm::kES256, "k", public_pem).has_value());
}

TEST(SigningKey, FromPemRefusesAnEncryptedKeyWithoutPromptingForAPassphrase) {
  const auto key = make_key(Algorithm::kES256);
  ASSERT_NE(key, nullptr);
  const auto pkey = test::load_private_key(key->private_pem());
  ASSERT_NE(pkey, nullptr);
  ossl::BioPtr out(BIO_new(BIO_s_mem()));
  char pass[] = "correct horse";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(out.get(), pkey.get(), EVP_aes_256_cbc(), pass,
                                          static_cast<int>(sizeof pass - 1), nullptr, nullptr),
            1);
  const std::string encrypted = test::bio_text(out.get());
  ASSERT_NE(encrypted.find("ENCRYPTED"), std::string::npos);
  // With a default passphrase callback this would block on the terminal.
  EXPECT_FALSE(SigningKey::from_pem(Algorithm::kES256, "k", encrypted).has_value());
}

TEST(Jwks, JwksJsonWrapsTheTextsInAKeysArray) {
  EXPECT_EQ(jwks_json({}), R"({"keys":[]})");
  EXPECT_EQ(jwks_json({R"({"a":1})", R"({"b":2})"}), R"({"keys":[{"a":1},{"b":2}]})");
  const auto key = make_key(Algorithm::kEdDSA);
  ASSERT_NE(key, nullptr);
  const auto doc = nlohmann::json::parse(jwks_json({key->public_jwk_json()}));
  ASSERT_EQ(doc.at("keys").size(), 1u);
  EXPECT_EQ(doc["keys"][0], nlohmann::json::parse(key->public_jwk_json()));
}

}  // namespace
}  // namespace gh::identity
