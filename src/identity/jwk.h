// JWKS documents (RFC 7517) to OpenSSL public keys. Only what the gateway can
// verify with is accepted: RSA (n, e), EC P-256/P-384 (x, y), OKP Ed25519 (x).
// Symmetric ("oct") keys are refused outright: a shared secret in a JWKS would
// let anyone who can read the file mint tokens, and HMAC is never accepted.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/expected.h"
#include "identity/jws.h"
#include "identity/ossl.h"

namespace gh::identity {

struct Jwk {
  std::string kid;  // "" when the JWK has none (has_kid tells)
  bool has_kid = false;
  std::string alg;          // the JWK's own "alg", "" when absent
  bool for_signing = true;  // false when "use" or "key_ops" say it is not a verification key
  KeyKind kind = KeyKind::kRsa;
  ossl::PkeyPtr key;
};

// Every key of the document, or every problem found (one line each, naming
// the key by position and kid, never by its parameters).
Expected<std::vector<Jwk>, std::vector<std::string>> parse_jwks(std::string_view text);

}  // namespace gh::identity
