// Each JWS algorithm end to end, and the ways a signature can be made to fit a
// key it does not belong to.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <map>
#include <nlohmann/json.hpp>

#include "identity/base64url.h"
#include "identity/tests/test_support.h"

namespace gh::identity {
namespace {

using nlohmann::json;
using test::good_claims;
using test::issuer_with;
using test::kNow;
using test::make_key;
using test::make_verifier;
using test::Refuses;

constexpr Algorithm kAll[] = {Algorithm::kRS256, Algorithm::kRS384, Algorithm::kRS512,
                              Algorithm::kPS256, Algorithm::kES256, Algorithm::kES384,
                              Algorithm::kEdDSA};

// The JWK without its "alg" member, so that only the key's type can object.
std::string without_alg(const std::string& jwk_text) {
  auto jwk = json::parse(jwk_text);
  jwk.erase("alg");
  return jwk.dump();
}

// Splits a compact JWS into its three parts.
std::array<std::string, 3> parts(const std::string& token) {
  const auto a = token.find('.');
  const auto b = token.find('.', a + 1);
  return {token.substr(0, a), token.substr(a + 1, b - a - 1), token.substr(b + 1)};
}

std::string signing_input(const std::string& token) {
  return token.substr(0, token.rfind('.'));
}

// Keys are generated once per suite: RSA generation is slow under ASan.
class AlgorithmTest : public ::testing::TestWithParam<Algorithm> {
 protected:
  static void SetUpTestSuite() {
    for (const Algorithm alg : kAll) {
      keys_[alg] = SigningKey::generate(alg, "shared-kid");
      others_[alg] = SigningKey::generate(alg, "shared-kid");
    }
  }
  static void TearDownTestSuite() {
    keys_.clear();
    others_.clear();
  }

  void SetUp() override {
    ASSERT_NE(key(), nullptr);
    ASSERT_NE(other(), nullptr);
    verifier_ = make_verifier({issuer_with({key()->public_jwk_json()})}, clock_);
    ASSERT_NE(verifier_, nullptr);
  }

  const SigningKey* key() const { return keys_[GetParam()].get(); }
  const SigningKey* other() const { return others_[GetParam()].get(); }

  static inline std::map<Algorithm, std::unique_ptr<SigningKey>> keys_;
  static inline std::map<Algorithm, std::unique_ptr<SigningKey>> others_;
  ManualClock clock_{kNow};
  std::unique_ptr<TokenVerifier> verifier_;
};

TEST_P(AlgorithmTest, SignedTokenRoundTrips) {
  const std::string token = key()->sign(good_claims().dump());
  const auto result = verifier_->verify(token);
  ASSERT_TRUE(result.has_value()) << result.error().reason;
  EXPECT_EQ(result->subject, "alice");
  EXPECT_EQ(result->issuer, test::kIssuer);
  EXPECT_EQ(result->issuer_name, "corp-idp");
}

TEST_P(AlgorithmTest, TamperedPayloadFailsSignature) {
  const std::string token = key()->sign(good_claims().dump());
  auto claims = good_claims();
  claims["sub"] = "mallory";
  const auto p = parts(token);
  const std::string tampered = p[0] + "." + base64url_encode(claims.dump()) + "." + p[2];
  EXPECT_TRUE(Refuses(*verifier_, tampered, RefusalCode::kBadSignature));
}

TEST_P(AlgorithmTest, TamperedSignatureFails) {
  const auto p = parts(key()->sign(good_claims().dump()));
  auto sig = *base64url_decode(p[2]);
  sig[sig.size() / 2] = static_cast<char>(sig[sig.size() / 2] ^ 0x01);
  EXPECT_TRUE(Refuses(*verifier_, p[0] + "." + p[1] + "." + base64url_encode(sig),
                      RefusalCode::kBadSignature));
}

TEST_P(AlgorithmTest, TokenFromAnotherKeyWithTheSameKidFailsSignature) {
  // An attacker can choose any kid; it only picks the key, it proves nothing.
  ASSERT_EQ(other()->kid(), key()->kid());
  EXPECT_TRUE(Refuses(*verifier_, other()->sign(good_claims().dump()), RefusalCode::kBadSignature));
}

TEST_P(AlgorithmTest, EmptySignatureFails) {
  const std::string token = signing_input(key()->sign(good_claims().dump())) + ".";
  EXPECT_TRUE(Refuses(*verifier_, token, RefusalCode::kBadSignature));
}

INSTANTIATE_TEST_SUITE_P(AllAlgorithms, AlgorithmTest, ::testing::ValuesIn(kAll),
                         [](const ::testing::TestParamInfo<Algorithm>& info) {
                           return std::string(algorithm_name(info.param));
                         });

// A token whose header alg names one key type, checked against a key of
// another: `key_alg` makes the key in the JWKS, `token_alg` signs the token.
struct Mismatch {
  Algorithm key_alg;
  Algorithm token_alg;
};

void PrintTo(const Mismatch& m, std::ostream* os) {
  *os << algorithm_name(m.token_alg) << " token, " << algorithm_name(m.key_alg) << " key";
}

class AlgKeyMismatchTest : public ::testing::TestWithParam<Mismatch> {};

TEST_P(AlgKeyMismatchTest, AlgThatDoesNotFitTheKeyIsRefused) {
  ManualClock clock(kNow);
  const auto trusted = make_key(GetParam().key_alg, "the-key");
  const auto signer = make_key(GetParam().token_alg, "the-key");
  ASSERT_TRUE(trusted && signer);
  auto verifier = make_verifier({issuer_with({without_alg(trusted->public_jwk_json())})}, clock);
  ASSERT_NE(verifier, nullptr);
  const std::string token = signer->sign(good_claims().dump());
  EXPECT_TRUE(Refuses(*verifier, token, RefusalCode::kAlgKeyMismatch));
  EXPECT_NE(test::reason_of(*verifier, token).find(algorithm_name(GetParam().token_alg)),
            std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Pairs, AlgKeyMismatchTest,
    ::testing::Values(Mismatch{Algorithm::kRS256, Algorithm::kES256},   // ES256 with an RSA key
                      Mismatch{Algorithm::kES256, Algorithm::kES384},   // ES384 with P-256
                      Mismatch{Algorithm::kES384, Algorithm::kES256},   // ES256 with P-384
                      Mismatch{Algorithm::kEdDSA, Algorithm::kRS256},   // RS256 with Ed25519
                      Mismatch{Algorithm::kRS256, Algorithm::kEdDSA},   // EdDSA with RSA
                      Mismatch{Algorithm::kES256, Algorithm::kPS256},   // PS256 with EC
                      Mismatch{Algorithm::kEdDSA, Algorithm::kES256}),  // ES256 with Ed25519
    [](const ::testing::TestParamInfo<Mismatch>& info) {
      return std::string(algorithm_name(info.param.token_alg)) + "TokenWith" +
             std::string(algorithm_name(info.param.key_alg)) + "Key";
    });

TEST(JwkAlgMember, KeyPublishedForOneAlgorithmRefusesAnother) {
  ManualClock clock(kNow);
  const auto rs256 = make_key(Algorithm::kRS256, "rsa");
  ASSERT_NE(rs256, nullptr);
  // The same RSA key signing PS256: the key type fits, the JWK's "alg" does not.
  auto ps256 = SigningKey::from_pem(Algorithm::kPS256, "rsa", rs256->private_pem());
  ASSERT_TRUE(ps256.has_value()) << ps256.error();
  const std::string token = (*ps256)->sign(good_claims().dump());

  auto pinned = make_verifier({issuer_with({rs256->public_jwk_json()})}, clock);
  ASSERT_NE(pinned, nullptr);
  EXPECT_TRUE(Refuses(*pinned, token, RefusalCode::kAlgKeyMismatch));

  // Without the JWK "alg" member the RSA key serves any RSA algorithm.
  auto unpinned = make_verifier({issuer_with({without_alg(rs256->public_jwk_json())})}, clock);
  ASSERT_NE(unpinned, nullptr);
  const auto result = unpinned->verify(token);
  EXPECT_TRUE(result.has_value()) << result.error().reason;
}

TEST(AlgorithmSwap, HeaderAlgCannotBeChangedWithinOneKeyType) {
  ManualClock clock(kNow);
  const auto rs512 = make_key(Algorithm::kRS512, "rsa");
  ASSERT_NE(rs512, nullptr);
  auto verifier = make_verifier({issuer_with({without_alg(rs512->public_jwk_json())})}, clock);
  ASSERT_NE(verifier, nullptr);
  // Signed with RS512 but labelled RS256: the digest differs, so does the check.
  const std::string token =
      rs512->sign_with_header(R"({"alg":"RS256","kid":"rsa"})", good_claims().dump());
  EXPECT_TRUE(Refuses(*verifier, token, RefusalCode::kBadSignature));
}

// --- ECDSA signature format (RFC 7518 §3.4) ---------------------------------

// DER INTEGER of a big-endian unsigned number, written here independently of
// the module's conversion code.
std::string der_integer(std::string be) {
  while (be.size() > 1 && be[0] == '\0') be.erase(0, 1);
  if (static_cast<unsigned char>(be[0]) & 0x80) be.insert(0, 1, '\0');
  return std::string{'\x02', static_cast<char>(be.size())} + be;
}

std::string der_from_raw(const std::string& raw) {
  const std::size_t half = raw.size() / 2;
  const std::string body = der_integer(raw.substr(0, half)) + der_integer(raw.substr(half));
  return std::string{'\x30', static_cast<char>(body.size())} + body;
}

bool openssl_verifies(EVP_PKEY* key, const EVP_MD* md, const std::string& input,
                      const std::string& sig) {
  ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

std::string openssl_sign(EVP_PKEY* key, const EVP_MD* md, const std::string& input,
                         int pss_salt = 0) {
  ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, key) != 1) return {};
  if (pss_salt != 0 && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, pss_salt) != 1 ||
                        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1))
    return {};
  std::size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  if (EVP_DigestSign(ctx.get(), nullptr, &len, in, input.size()) != 1) return {};
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                     input.size()) != 1)
    return {};
  sig.resize(len);
  return sig;
}

TEST(EcdsaFormat, SignatureIsRawRAndSOfCurveSize) {
  for (const auto& [alg, half, md] : {std::tuple{Algorithm::kES256, 32u, EVP_sha256()},
                                      std::tuple{Algorithm::kES384, 48u, EVP_sha384()}}) {
    SCOPED_TRACE(std::string(algorithm_name(alg)));
    const auto key = make_key(alg);
    ASSERT_NE(key, nullptr);
    const auto pkey = test::load_private_key(key->private_pem());
    ASSERT_NE(pkey, nullptr);
    // Several signatures so that short R or S values (leading zeros) turn up.
    for (int i = 0; i < 8; ++i) {
      const std::string token = key->sign(good_claims().dump());
      const auto raw = base64url_decode(parts(token)[2]);
      ASSERT_TRUE(raw.has_value());
      ASSERT_EQ(raw->size(), 2 * half);
      EXPECT_TRUE(openssl_verifies(pkey.get(), md, signing_input(token), der_from_raw(*raw)));
    }
  }
}

TEST(EcdsaFormat, DerEncodedSignatureIsRefused) {
  ManualClock clock(kNow);
  const auto key = make_key(Algorithm::kES256, "ec");
  ASSERT_NE(key, nullptr);
  auto verifier = make_verifier({issuer_with({key->public_jwk_json()})}, clock);
  ASSERT_NE(verifier, nullptr);
  const auto pkey = test::load_private_key(key->private_pem());
  ASSERT_NE(pkey, nullptr);
  const std::string input = signing_input(key->sign(good_claims().dump()));
  // A valid signature in OpenSSL's DER form is not a JWS ECDSA signature.
  const std::string der = openssl_sign(pkey.get(), EVP_sha256(), input);
  ASSERT_FALSE(der.empty());
  const std::string token = input + "." + base64url_encode(der);
  EXPECT_TRUE(Refuses(*verifier, token, RefusalCode::kBadSignature));
  EXPECT_NE(test::reason_of(*verifier, token).find("64 bytes"), std::string::npos);
}

TEST(EcdsaFormat, SignatureOfWrongLengthIsRefused) {
  ManualClock clock(kNow);
  const auto key = make_key(Algorithm::kES384, "ec");
  ASSERT_NE(key, nullptr);
  auto verifier = make_verifier({issuer_with({key->public_jwk_json()})}, clock);
  ASSERT_NE(verifier, nullptr);
  const std::string token = key->sign(good_claims().dump());
  const std::string input = signing_input(token);
  const std::string raw = *base64url_decode(parts(token)[2]);
  ASSERT_EQ(raw.size(), 96u);
  // One byte short, one byte long (a leading zero added to R), and ES256-sized.
  for (const std::string& sig : {raw.substr(1), std::string(1, '\0') + raw, raw.substr(0, 64)}) {
    EXPECT_TRUE(
        Refuses(*verifier, input + "." + base64url_encode(sig), RefusalCode::kBadSignature));
  }
}

TEST(EcdsaFormat, ZeroSignatureIsRefused) {
  ManualClock clock(kNow);
  const auto key = make_key(Algorithm::kES256, "ec");
  ASSERT_NE(key, nullptr);
  auto verifier = make_verifier({issuer_with({key->public_jwk_json()})}, clock);
  ASSERT_NE(verifier, nullptr);
  // r = s = 0 "verifies" in broken implementations (CVE-2022-21449).
  const std::string token = signing_input(key->sign(good_claims().dump())) + "." +
                            base64url_encode(std::string(64, '\0'));
  EXPECT_TRUE(Refuses(*verifier, token, RefusalCode::kBadSignature));
}

// --- RSASSA-PSS parameters (RFC 7518 §3.5) ----------------------------------

TEST(PssParameters, SaltAsLongAsTheDigestIsAcceptedAndOtherSaltLengthsAreNot) {
  ManualClock clock(kNow);
  const auto key = make_key(Algorithm::kPS256, "pss");
  ASSERT_NE(key, nullptr);
  auto verifier = make_verifier({issuer_with({key->public_jwk_json()})}, clock);
  ASSERT_NE(verifier, nullptr);
  const auto pkey = test::load_private_key(key->private_pem());
  ASSERT_NE(pkey, nullptr);
  const std::string input = signing_input(key->sign(good_claims().dump()));

  const std::string salt32 = openssl_sign(pkey.get(), EVP_sha256(), input, 32);
  ASSERT_FALSE(salt32.empty());
  const auto ok = verifier->verify(input + "." + base64url_encode(salt32));
  EXPECT_TRUE(ok.has_value()) << ok.error().reason;

  for (const int salt : {1, 20, RSA_PSS_SALTLEN_MAX}) {
    const std::string sig = openssl_sign(pkey.get(), EVP_sha256(), input, salt);
    ASSERT_FALSE(sig.empty());
    EXPECT_TRUE(Refuses(*verifier, input + "." + base64url_encode(sig), RefusalCode::kBadSignature))
        << "salt " << salt;
  }
  // A PKCS#1 v1.5 signature under a PS256 header is not PSS.
  const std::string pkcs1 = openssl_sign(pkey.get(), EVP_sha256(), input);
  EXPECT_TRUE(
      Refuses(*verifier, input + "." + base64url_encode(pkcs1), RefusalCode::kBadSignature));
}

}  // namespace
}  // namespace gh::identity
