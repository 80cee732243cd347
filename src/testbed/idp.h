// A stand-in identity provider: a signing key, its JWKS file, and tokens
// minted on demand. The demo uses it to hand out an agent token; tests use it
// to mint good and bad tokens.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "identity/signer.h"

namespace gh::testbed {

class TestIdp {
 public:
  TestIdp(std::string issuer, std::string audience,
          identity::Algorithm alg = identity::Algorithm::kEdDSA, std::string kid = "demo-key-1");

  const std::string& issuer() const { return issuer_; }
  const std::string& audience() const { return audience_; }
  std::string jwks() const;
  identity::SigningKey& key() { return *key_; }

  // A token for `subject` in `groups`, valid for `ttl_seconds` from now.
  std::string mint(const std::string& subject, const std::vector<std::string>& groups,
                   long ttl_seconds = 900) const;
  // A token with the given payload JSON as is.
  std::string mint_raw(const std::string& payload_json) const;

 private:
  std::string issuer_;
  std::string audience_;
  std::unique_ptr<identity::SigningKey> key_;
};

}  // namespace gh::testbed
