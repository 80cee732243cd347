// Shared helpers for the identity tests: a fixed clock, claims that pass, and
// an assertion that a token is refused for the expected reason without the
// reason echoing the token.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/pem.h>

#include "base/clock.h"
#include "identity/ossl.h"
#include "identity/signer.h"
#include "identity/verifier.h"

namespace gh::identity {

inline std::string_view refusal_code_name(RefusalCode code) {
  switch (code) {
    case RefusalCode::kMissing:
      return "kMissing";
    case RefusalCode::kTooLarge:
      return "kTooLarge";
    case RefusalCode::kMalformed:
      return "kMalformed";
    case RefusalCode::kAlgNone:
      return "kAlgNone";
    case RefusalCode::kAlgHmac:
      return "kAlgHmac";
    case RefusalCode::kAlgUnsupported:
      return "kAlgUnsupported";
    case RefusalCode::kAlgKeyMismatch:
      return "kAlgKeyMismatch";
    case RefusalCode::kUnknownKid:
      return "kUnknownKid";
    case RefusalCode::kUnknownIssuer:
      return "kUnknownIssuer";
    case RefusalCode::kBadSignature:
      return "kBadSignature";
    case RefusalCode::kExpired:
      return "kExpired";
    case RefusalCode::kNotYetValid:
      return "kNotYetValid";
    case RefusalCode::kWrongAudience:
      return "kWrongAudience";
    case RefusalCode::kLifetimeTooLong:
      return "kLifetimeTooLong";
    case RefusalCode::kMissingClaim:
      return "kMissingClaim";
    case RefusalCode::kBadClaimType:
      return "kBadClaimType";
  }
  return "?";
}

// gtest prints codes and algorithms by name.
inline void PrintTo(RefusalCode code, std::ostream* os) {
  *os << refusal_code_name(code);
}
inline void PrintTo(Algorithm alg, std::ostream* os) {
  *os << algorithm_name(alg);
}

namespace test {

inline constexpr std::int64_t kNow = 1'700'000'000;
inline const std::string kIssuer = "https://idp.example.com/";
inline const std::string kAudience = "gatehouse";

// Claims every check accepts at kNow (10 minutes of life, one group).
inline nlohmann::json good_claims(std::int64_t now = kNow) {
  return {{"iss", kIssuer}, {"sub", "alice"},   {"aud", kAudience},
          {"iat", now},     {"exp", now + 600}, {"groups", nlohmann::json::array({"dev"})}};
}

inline std::unique_ptr<SigningKey> make_key(Algorithm alg, std::string kid = "k1") {
  auto key = SigningKey::generate(alg, std::move(kid));
  EXPECT_NE(key, nullptr) << "could not generate a " << algorithm_name(alg) << " key";
  return key;
}

inline IssuerConfig issuer_with(const std::vector<std::string>& jwks,
                                const std::string& iss = kIssuer,
                                const std::string& name = "corp-idp") {
  IssuerConfig config;
  config.name = name;
  config.issuer = iss;
  config.audiences = {kAudience};
  config.jwks_json = jwks_json(jwks);
  return config;
}

inline std::unique_ptr<TokenVerifier> make_verifier(std::vector<IssuerConfig> issuers,
                                                    const Clock& clock,
                                                    VerifierOptions options = {}) {
  auto verifier = TokenVerifier::create(std::move(issuers), options, clock);
  if (!verifier) {
    std::string all;
    for (const auto& p : verifier.error()) all += "\n  " + p;
    ADD_FAILURE() << "TokenVerifier::create failed:" << all;
    return nullptr;
  }
  return std::move(*verifier);
}

// All problems of a failed create(), or a failure if it succeeded.
inline std::vector<std::string> create_problems(std::vector<IssuerConfig> issuers,
                                                VerifierOptions options = {}) {
  auto verifier = TokenVerifier::create(std::move(issuers), options, SystemClock::instance());
  if (verifier) {
    ADD_FAILURE() << "TokenVerifier::create accepted the configuration";
    return {};
  }
  return verifier.error();
}

// The token is refused with `code`, with a reason that is non-empty and
// quotes no part of the token.
inline ::testing::AssertionResult Refuses(const TokenVerifier& verifier, std::string_view token,
                                          RefusalCode code) {
  const auto result = verifier.verify(token);
  if (result)
    return ::testing::AssertionFailure() << "token was accepted (sub \"" << result->subject
                                         << "\"), wanted " << refusal_code_name(code);
  const Refusal& refusal = result.error();
  if (refusal.code != code)
    return ::testing::AssertionFailure()
           << "refused with " << refusal_code_name(refusal.code) << " (\"" << refusal.reason
           << "\"), wanted " << refusal_code_name(code);
  if (refusal.reason.empty()) return ::testing::AssertionFailure() << "the reason is empty";
  // Every dot-separated part long enough to be recognisable must be absent.
  std::size_t start = 0;
  while (start <= token.size()) {
    std::size_t end = token.find('.', start);
    if (end == std::string_view::npos) end = token.size();
    const std::string_view part = token.substr(start, end - start);
    if (part.size() >= 8 && refusal.reason.find(part) != std::string::npos)
      return ::testing::AssertionFailure() << "the reason echoes the token: " << refusal.reason;
    start = end + 1;
  }
  return ::testing::AssertionSuccess() << refusal.reason;
}

// The reason a token was refused ("" if accepted), for checks on wording.
inline std::string reason_of(const TokenVerifier& verifier, std::string_view token) {
  const auto result = verifier.verify(token);
  return result ? std::string() : result.error().reason;
}

// The OpenSSL key behind a SigningKey, via its PEM (tests that sign or check
// with OpenSSL directly, independently of the module's own code paths).
inline ossl::PkeyPtr load_private_key(const std::string& pem) {
  ossl::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return nullptr;
  return ossl::PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

inline std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string();
}

// One ES256 key (cheap to generate) trusted for kIssuer, a clock at kNow.
class VerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = make_key(Algorithm::kES256, "k1");
    ASSERT_NE(key_, nullptr);
    rebuild();
  }

  void rebuild(VerifierOptions options = {}) {
    verifier_ = make_verifier({issuer_with({key_->public_jwk_json()})}, clock_, options);
    ASSERT_NE(verifier_, nullptr);
  }

  std::string sign(const nlohmann::json& claims) const { return key_->sign(claims.dump()); }

  std::string sign_header(const nlohmann::json& header, const nlohmann::json& claims) const {
    return key_->sign_with_header(header.dump(), claims.dump());
  }

  ManualClock clock_{kNow};
  std::unique_ptr<SigningKey> key_;
  std::unique_ptr<TokenVerifier> verifier_;
};

}  // namespace test
}  // namespace gh::identity
