// What the identity fuzz targets share: a fixed key set and a verifier over it.
//
// The Ed25519 key is derived from a constant seed, so its signatures (deterministic, RFC 8032)
// are the same in every run: seed tokens signed with it verify, and a mutated one can be
// checked against a fresh signature of what it says. The ES256 and RS256 keys are made anew
// per process: no input can carry a valid signature of theirs, so nothing they "verify" can
// have come from the fuzzer.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "identity/ossl.h"
#include "identity/signer.h"
#include "identity/verifier.h"

namespace gh::identity::fuzz {

// A broken contract: crash so libFuzzer records the input.
inline void check(bool ok) {
  if (!ok) __builtin_trap();
}

inline constexpr std::int64_t kNow = 1'700'000'000;
inline constexpr std::string_view kIssuer = "https://idp.fuzz.example/";
inline constexpr std::string_view kGatewayIssuer = "https://gatehouse.fuzz.example/";
inline constexpr std::string_view kAudience = "gatehouse";

inline std::unique_ptr<SigningKey> fixed_ed25519(std::string kid) {
  std::uint8_t seed[32];
  for (int i = 0; i < 32; ++i) seed[i] = static_cast<std::uint8_t>(0x5A ^ (i * 7));
  ossl::PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed, sizeof seed));
  check(key != nullptr);
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  auto signing = SigningKey::from_pem(Algorithm::kEdDSA, std::move(kid), std::string(data, n));
  check(signing.has_value());
  return std::move(*signing);
}

struct KeySet {
  std::unique_ptr<SigningKey> ed = fixed_ed25519("ed");
  std::unique_ptr<SigningKey> gw = fixed_ed25519("gw");  // the same key, for the gateway issuer
  std::unique_ptr<SigningKey> es = SigningKey::generate(Algorithm::kES256, "es");
  std::unique_ptr<SigningKey> rs = SigningKey::generate(Algorithm::kRS256, "rs");
  gh::ManualClock clock{kNow};
  std::unique_ptr<TokenVerifier> verifier;

  KeySet() {
    check(es != nullptr && rs != nullptr);
    IssuerConfig idp;
    idp.name = "idp";
    idp.issuer = kIssuer;
    idp.audiences = {std::string(kAudience)};
    idp.jwks_json =
        jwks_json({ed->public_jwk_json(), es->public_jwk_json(), rs->public_jwk_json()});
    IssuerConfig gateway;
    gateway.name = "gateway";
    gateway.issuer = kGatewayIssuer;
    gateway.audiences = {std::string(kAudience)};
    gateway.jwks_json = jwks_json({gw->public_jwk_json()});
    gateway.gateway = true;
    auto made = TokenVerifier::create({idp, gateway}, VerifierOptions{}, clock);
    check(made.has_value());
    verifier = std::move(*made);
  }
  static const KeySet& get() {
    static const KeySet keys;
    return keys;
  }
};

}  // namespace gh::identity::fuzz
