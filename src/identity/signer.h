// Signing JWTs: the demo and the tests mint tokens with keys they generate
// (and, later, the gateway signs its own short-lived tokens with it).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.h"

namespace gh::identity {

// The JWS algorithms the gateway verifies; a SigningKey is made for one.
enum class Algorithm { kRS256, kRS384, kRS512, kPS256, kES256, kES384, kEdDSA };

std::string_view algorithm_name(Algorithm a);

class SigningKey {
 public:
  // Generates a fresh key for `alg` (RSA 2048, P-256, P-384 or Ed25519).
  static std::unique_ptr<SigningKey> generate(Algorithm alg, std::string kid);
  // Loads a PEM private key (PKCS#8) for `alg`.
  static Expected<std::unique_ptr<SigningKey>> from_pem(Algorithm alg, std::string kid,
                                                        std::string_view pem);
  ~SigningKey();

  Algorithm algorithm() const { return alg_; }
  const std::string& kid() const { return kid_; }

  // header.payload.signature with {"alg":…,"typ":"JWT","kid":…} and the given
  // payload JSON text as is (tests pass odd payloads on purpose).
  std::string sign(std::string_view payload_json) const;
  // Signs an arbitrary header JSON text too (tests forge headers).
  std::string sign_with_header(std::string_view header_json, std::string_view payload_json) const;
  // The public key as a JWK object's JSON text (with kid, alg, use).
  std::string public_jwk_json() const;
  // PKCS#8 PEM of the private key.
  std::string private_pem() const;

 private:
  struct Impl;
  SigningKey(Algorithm alg, std::string kid, std::unique_ptr<Impl> impl);
  Algorithm alg_;
  std::string kid_;
  std::unique_ptr<Impl> impl_;
};

// {"keys":[…]} from JWK JSON texts.
std::string jwks_json(const std::vector<std::string>& jwks);

std::string base64url_encode(std::string_view bytes);

}  // namespace gh::identity
