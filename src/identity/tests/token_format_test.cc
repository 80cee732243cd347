// What a token must look like before any key is tried: size, structure,
// encoding, JSON, and the algorithms that are never accepted.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "identity/base64url.h"
#include "identity/tests/test_support.h"

namespace gh::identity {
namespace {

using nlohmann::json;
using test::good_claims;
using test::Refuses;
using test::VerifierTest;

// header.payload.signature from raw texts, signature bytes as given.
std::string assemble(std::string_view header, std::string_view payload, std::string_view sig) {
  return base64url_encode(header) + "." + base64url_encode(payload) + "." + base64url_encode(sig);
}

using TokenFormat = VerifierTest;

TEST_F(TokenFormat, EmptyTokenIsMissing) {
  EXPECT_TRUE(Refuses(*verifier_, "", RefusalCode::kMissing));
}

TEST_F(TokenFormat, OversizedTokenIsRefusedBeforeDecoding) {
  // Not even base64url: had it been decoded, this would be kMalformed.
  const std::string huge(16 * 1024 + 1, '!');
  EXPECT_TRUE(Refuses(*verifier_, huge, RefusalCode::kTooLarge));
  EXPECT_TRUE(Refuses(*verifier_, std::string(16 * 1024, '!'), RefusalCode::kMalformed));
}

TEST_F(TokenFormat, OversizedValidTokenIsRefusedAtTheConfiguredLimit) {
  auto claims = good_claims();
  claims["pad"] = std::string(600, 'x');
  const std::string token = sign(claims);
  ASSERT_GT(token.size(), 512u);
  rebuild(VerifierOptions{.max_token_bytes = 512});
  EXPECT_TRUE(Refuses(*verifier_, token, RefusalCode::kTooLarge));
  rebuild(VerifierOptions{.max_token_bytes = token.size()});
  EXPECT_TRUE(verifier_->verify(token).has_value());
}

TEST_F(TokenFormat, TokenWithoutExactlyThreePartsIsMalformed) {
  const std::string token = sign(good_claims());
  const auto first_dot = token.find('.');
  const auto last_dot = token.rfind('.');
  for (const std::string& bad : {
           token.substr(0, last_dot),                 // two parts
           token + ".",                               // four parts, last empty
           token + "." + token.substr(last_dot + 1),  // four parts (JWE has five)
           token.substr(0, first_dot),                // one part
           std::string("..")                          // three empty parts
       }) {
    EXPECT_TRUE(Refuses(*verifier_, bad, RefusalCode::kMalformed)) << bad.size();
  }
  EXPECT_TRUE(Refuses(*verifier_, "not-a-jwt", RefusalCode::kMalformed));
}

TEST_F(TokenFormat, PaddedBase64urlIsMalformed) {
  // A payload whose encoding needs padding, with the '=' put back.
  auto claims = good_claims();
  std::string payload = claims.dump();
  while (payload.size() % 3 == 0) payload += " ";
  const std::string token = key_->sign(payload);
  const auto a = token.find('.');
  const auto b = token.rfind('.');
  std::string padded = token.substr(0, b) + "=" + token.substr(b);
  EXPECT_TRUE(Refuses(*verifier_, padded, RefusalCode::kMalformed));
  std::string padded_header = token.substr(0, a) + "==" + token.substr(a);
  EXPECT_TRUE(Refuses(*verifier_, padded_header, RefusalCode::kMalformed));
}

TEST_F(TokenFormat, StandardBase64AlphabetIsMalformed) {
  const std::string token = sign(good_claims());
  const auto b = token.rfind('.');
  // '+' and '/' are base64, not base64url; a space or newline is neither.
  for (const char c : {'+', '/', ' ', '\n', '%'}) {
    std::string bad = token;
    bad[b / 2] = c;
    EXPECT_TRUE(Refuses(*verifier_, bad, RefusalCode::kMalformed)) << c;
  }
  std::string bad_sig = token;
  bad_sig.back() = '/';
  EXPECT_TRUE(Refuses(*verifier_, bad_sig, RefusalCode::kMalformed));
}

TEST_F(TokenFormat, InvalidJsonIsMalformed) {
  const std::string good_header = R"({"alg":"ES256","kid":"k1"})";
  EXPECT_TRUE(Refuses(*verifier_, assemble("{\"alg\":\"ES256\"", good_claims().dump(), "sig"),
                      RefusalCode::kMalformed));
  EXPECT_TRUE(
      Refuses(*verifier_, assemble(good_header, "{\"sub\":", "sig"), RefusalCode::kMalformed));
  // Trailing content after the object.
  EXPECT_TRUE(Refuses(*verifier_, assemble(good_header, good_claims().dump() + "{}", "sig"),
                      RefusalCode::kMalformed));
  // Invalid UTF-8 inside a string.
  EXPECT_TRUE(Refuses(*verifier_, assemble(good_header, "{\"sub\":\"\xc3(\"}", "sig"),
                      RefusalCode::kMalformed));
}

TEST_F(TokenFormat, HeaderOrPayloadThatIsNotAnObjectIsMalformed) {
  const std::string good_header = R"({"alg":"ES256","kid":"k1"})";
  for (const char* not_object : {"[]", "\"alg\"", "42", "null", "true"}) {
    EXPECT_TRUE(Refuses(*verifier_, assemble(not_object, good_claims().dump(), "sig"),
                        RefusalCode::kMalformed))
        << not_object;
    // The payload signed properly, so only its shape can object.
    EXPECT_TRUE(Refuses(*verifier_, key_->sign(not_object), RefusalCode::kMalformed)) << not_object;
  }
}

TEST_F(TokenFormat, DuplicateClaimInPayloadIsMalformedEvenWhenSigned) {
  // A properly signed token that says "sub" twice: one parser would see alice,
  // another admin. Refuse rather than pick.
  const std::string payload = good_claims().dump().insert(1, R"("sub":"admin",)");
  ASSERT_NE(payload.find(R"("sub":"alice")"), std::string::npos);
  const std::string token = key_->sign(payload);
  EXPECT_TRUE(Refuses(*verifier_, token, RefusalCode::kMalformed));
  EXPECT_NE(test::reason_of(*verifier_, token).find("duplicate"), std::string::npos);
}

TEST_F(TokenFormat, DuplicateNestedClaimIsMalformed) {
  const std::string payload = good_claims().dump().insert(1, R"("ext":{"a":1,"a":2},)");
  EXPECT_TRUE(Refuses(*verifier_, key_->sign(payload), RefusalCode::kMalformed));
}

TEST_F(TokenFormat, DuplicateHeaderMemberIsMalformed) {
  // alg twice: a lenient parser could check the signature under one alg and
  // log another.
  const std::string token =
      key_->sign_with_header(R"({"alg":"none","alg":"ES256","kid":"k1"})", good_claims().dump());
  EXPECT_TRUE(Refuses(*verifier_, token, RefusalCode::kMalformed));
  EXPECT_TRUE(Refuses(
      *verifier_,
      key_->sign_with_header(R"({"alg":"ES256","kid":"x","kid":"k1"})", good_claims().dump()),
      RefusalCode::kMalformed));
}

TEST_F(TokenFormat, AlgNoneIsRefusedInEveryCase) {
  for (const char* none : {"none", "None", "NONE", "nOnE", "noNe"}) {
    const json header = {{"alg", none}, {"typ", "JWT"}, {"kid", "k1"}};
    // Unsigned, as such tokens come...
    const std::string unsigned_token =
        base64url_encode(header.dump()) + "." + base64url_encode(good_claims().dump()) + ".";
    EXPECT_TRUE(Refuses(*verifier_, unsigned_token, RefusalCode::kAlgNone)) << none;
    // ...and with a real signature attached, which must not rescue them.
    EXPECT_TRUE(Refuses(*verifier_, sign_header(header, good_claims()), RefusalCode::kAlgNone))
        << none;
  }
}

TEST_F(TokenFormat, HmacIsRefusedSoThePublicKeyCannotBeUsedAsASecret) {
  // The classic confusion: HS256 "signed" with the public key text as the
  // secret. The signature's content never matters, HMAC is refused outright.
  for (const char* hs : {"HS256", "HS384", "HS512", "hs256", "Hs512"}) {
    const json header = {{"alg", hs}, {"kid", "k1"}};
    const std::string token =
        assemble(header.dump(), good_claims().dump(), key_->public_jwk_json().substr(0, 32));
    EXPECT_TRUE(Refuses(*verifier_, token, RefusalCode::kAlgHmac)) << hs;
  }
}

TEST_F(TokenFormat, UnknownAlgorithmIsUnsupported) {
  for (const char* alg : {"ES512", "PS384", "PS512", "RS1", "rs256", "Es256", "EdDSA448", "Ed25519",
                          "RSA-OAEP", "dir", ""}) {
    const json header = {{"alg", alg}, {"kid", "k1"}};
    EXPECT_TRUE(
        Refuses(*verifier_, sign_header(header, good_claims()), RefusalCode::kAlgUnsupported))
        << alg;
  }
}

TEST_F(TokenFormat, HeaderWithoutAlgIsMalformed) {
  EXPECT_TRUE(
      Refuses(*verifier_, sign_header({{"kid", "k1"}}, good_claims()), RefusalCode::kMalformed));
}

TEST_F(TokenFormat, HeaderMembersOfTheWrongTypeAreBadClaimType) {
  EXPECT_TRUE(Refuses(*verifier_, sign_header({{"alg", 256}, {"kid", "k1"}}, good_claims()),
                      RefusalCode::kBadClaimType));
  EXPECT_TRUE(Refuses(*verifier_, sign_header({{"alg", {"ES256"}}, {"kid", "k1"}}, good_claims()),
                      RefusalCode::kBadClaimType));
  EXPECT_TRUE(Refuses(*verifier_, sign_header({{"alg", "ES256"}, {"kid", 1}}, good_claims()),
                      RefusalCode::kBadClaimType));
  EXPECT_TRUE(Refuses(
      *verifier_,
      sign_header({{"alg", "ES256"}, {"kid", "k1"}, {"typ", json::object()}}, good_claims()),
      RefusalCode::kBadClaimType));
}

TEST_F(TokenFormat, CriticalExtensionsAreRefused) {
  // RFC 7515 §4.1.11: b64:false would change what the signature covers.
  const json header = {{"alg", "ES256"}, {"kid", "k1"}, {"b64", false}, {"crit", {"b64"}}};
  EXPECT_TRUE(Refuses(*verifier_, sign_header(header, good_claims()), RefusalCode::kMalformed));
}

TEST_F(TokenFormat, EmbeddedJwkHeaderIsNotTrusted) {
  // The attacker ships their own public key in the header (CVE-2018-0114).
  const auto attacker = test::make_key(Algorithm::kES256, "k1");
  ASSERT_NE(attacker, nullptr);
  const json header = {{"alg", "ES256"},
                       {"kid", "k1"},
                       {"jwk", json::parse(attacker->public_jwk_json())},
                       {"jku", "https://attacker.example/jwks.json"}};
  EXPECT_TRUE(Refuses(*verifier_, attacker->sign_with_header(header.dump(), good_claims().dump()),
                      RefusalCode::kBadSignature));
}

TEST_F(TokenFormat, TypHeaderIsOptionalAndNotPinned) {
  // RFC 9068 access tokens say "at+jwt"; many IdPs omit typ altogether.
  for (const json& header : {json{{"alg", "ES256"}, {"kid", "k1"}},
                             json{{"alg", "ES256"}, {"kid", "k1"}, {"typ", "at+jwt"}}}) {
    const auto result = verifier_->verify(sign_header(header, good_claims()));
    EXPECT_TRUE(result.has_value()) << result.error().reason;
  }
}

TEST_F(TokenFormat, GarbageNeverThrowsOrCrashes) {
  std::mt19937 rng(7);
  using namespace std::string_literals;
  const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \x00\xff"s;
  const std::string valid = sign(good_claims());
  for (int i = 0; i < 2000; ++i) {
    std::string token;
    if (i % 2 == 0) {
      token.resize(rng() % 200);
      for (char& c : token) c = alphabet[rng() % alphabet.size()];
    } else {
      // Mutations of a valid token: a changed, dropped or doubled byte.
      token = valid;
      const std::size_t at = rng() % token.size();
      switch (rng() % 3) {
        case 0:
          token[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          token.erase(at, 1);
          break;
        default:
          token.insert(at, 1, token[at]);
          break;
      }
    }
    const auto result = verifier_->verify(token);
    if (token != valid) {
      EXPECT_FALSE(result.has_value()) << i;
    }
  }
  // JSON nested as deep as the size limit allows.
  const std::string deep = std::string(5000, '[') + std::string(5000, ']');
  EXPECT_TRUE(Refuses(*verifier_, key_->sign(deep), RefusalCode::kMalformed));
  const std::string deep_header =
      "{\"alg\":\"ES256\",\"x\":" + std::string(5000, '[') + std::string(5000, ']') + "}";
  EXPECT_FALSE(verifier_->verify(assemble(deep_header, "{}", "s")).has_value());
}

}  // namespace
}  // namespace gh::identity
