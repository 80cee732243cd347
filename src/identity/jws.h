// The JWS algorithms (RFC 7518 §3, RFC 8037 §3.1) as one table, and the
// signature primitives over OpenSSL EVP keys that signer.cc and verifier.cc
// share. Key kinds are what an algorithm demands of a key: the alg/key fit is
// checked here so that an ES256 token can never be checked with an RSA key.
#pragma once

#include <openssl/evp.h>

#include <optional>
#include <string>
#include <string_view>

#include "identity/signer.h"

namespace gh::identity {

enum class KeyKind { kRsa, kEcP256, kEcP384, kEd25519 };

std::string_view key_kind_name(KeyKind kind);

struct AlgorithmSpec {
  Algorithm alg;
  std::string_view name;  // the JWS "alg" value, case-sensitive (RFC 7515 §4.1.1)
  KeyKind key;
  const EVP_MD* (*digest)();     // nullptr for EdDSA, which hashes internally
  bool pss;                      // RSASSA-PSS rather than PKCS#1 v1.5
  std::size_t ecdsa_half_bytes;  // size of R (and S) in a raw ECDSA signature, else 0
};

const AlgorithmSpec& algorithm_spec(Algorithm alg);
// The supported algorithm named exactly `name`, or nullptr.
const AlgorithmSpec* find_algorithm(std::string_view name);

// What kind of key `key` is, or nullopt for one no supported algorithm uses
// (DSA, P-521, Ed448, an RSA-PSS-restricted key …).
std::optional<KeyKind> key_kind_of(const EVP_PKEY* key);

// True only if `signature` (as it appears in the JWS, i.e. raw R||S for ECDSA)
// is a valid signature of `signing_input` by `key` under `spec`. The caller
// has already checked key_kind_of(key) == spec.key.
[[nodiscard]] bool verify_jws_signature(const AlgorithmSpec& spec, EVP_PKEY* key,
                                        std::string_view signing_input, std::string_view signature);

// The JWS signature bytes (raw R||S for ECDSA), or nullopt if OpenSSL fails.
std::optional<std::string> create_jws_signature(const AlgorithmSpec& spec, EVP_PKEY* key,
                                                std::string_view signing_input);

}  // namespace gh::identity
