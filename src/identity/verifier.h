// Token verification: signed JWTs (RFC 7519) from configured issuers, keys from
// JWKS (RFC 7517). Pure computation over the token and the loaded keys: no
// sockets. Thread-safe; verified tokens are cached by their SHA-256 until they
// expire so the hot path (a pgbench -C storm) verifies a signature once.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/expected.h"
#include "model/principal.h"

namespace gh::identity {

struct IssuerConfig {
  std::string name;                    // configured name (audit, logs)
  std::string issuer;                  // exact `iss` value expected
  std::vector<std::string> audiences;  // the token's `aud` must contain one of these
  std::string jwks_json;               // the JWKS document's text (the caller reads the file)
  // OIDC discovery: the keys are fetched from the issuer's metadata over
  // HTTPS by the gateway (jwks_json starts empty); refreshed every `refresh`,
  // and on an unknown `kid` at most once per `min_refresh`.
  bool discovery = false;
  std::string ca_file;  // trust for those fetches; empty: the system's store
  std::chrono::seconds refresh{3600};
  std::chrono::seconds min_refresh{30};
  std::string groups_claim = "groups";      // claim holding an array of group names
  std::chrono::seconds max_lifetime{3600};  // exp - iat may not exceed this
  // The gateway's own issuer: its tokens' `gh_issued_by` and `gh_connections`
  // claims are read into the principal (from no other issuer).
  bool gateway = false;
};

struct VerifierOptions {
  std::chrono::seconds leeway{30};  // clock skew allowed on exp/nbf/iat; capped at 5 minutes
  std::size_t max_token_bytes = 16 * 1024;
  std::size_t cache_capacity = 100'000;  // verified tokens remembered
};

// Why a token was refused. `reason` is safe to show a client: it never
// contains the token or key material.
enum class RefusalCode {
  kMissing,
  kTooLarge,
  kMalformed,  // not three base64url parts, bad base64url, bad JSON, duplicate claims
  kAlgNone,
  kAlgHmac,
  kAlgUnsupported,
  kAlgKeyMismatch,  // alg does not fit the selected key's type/curve
  kUnknownKid,
  kUnknownIssuer,
  kBadSignature,
  kExpired,
  kNotYetValid,  // nbf in the future, or iat in the future
  kWrongAudience,
  kLifetimeTooLong,
  kMissingClaim,  // sub, exp, iss absent
  kBadClaimType,  // a claim that must be a string (or number, array of strings) is not
};

struct Refusal {
  RefusalCode code;
  std::string reason;
  // kUnknownKid: the configured issuer whose keys did not have the key (its
  // keys may be fetched again and the token verified once more).
  std::string issuer = {};
};

// What a caller who has not proved who they are is told of a refusal: what
// is wrong with the token, never the names or values of the configuration
// (issuers' names, key ids, audiences, lifetime limits, claim names), which
// would let anyone probe what the gateway trusts. The whole `reason` is for
// the gateway's log and audit.
std::string public_reason(const Refusal& refusal);

class TokenVerifier {
 public:
  // Parses every issuer's JWKS; returns every problem found (one line each).
  // A discovery issuer may come without keys: its tokens are refused as
  // kUnknownKid (naming the issuer) until set_issuer_keys gives it some.
  // `clock` must outlive the verifier.
  static Expected<std::unique_ptr<TokenVerifier>, std::vector<std::string>> create(
      std::vector<IssuerConfig> issuers, VerifierOptions options, const Clock& clock);
  ~TokenVerifier();

  Expected<model::Principal, Refusal> verify(std::string_view token) const;

  // Replaces one issuer's keys (a rotation, a refreshed JWKS) without a
  // restart. Verifications cached with a key the new set lacks are dropped:
  // a key rotated out is out for every token it signed, used or not.
  Status<> set_issuer_keys(const std::string& issuer, const std::string& jwks_json);

  // Cache statistics (tests, metrics).
  std::uint64_t cache_hits() const;

 private:
  struct Impl;
  explicit TokenVerifier(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Hex SHA-256 of a token: what audit records and logs carry instead of it.
std::string token_hash(std::string_view token);
// Hex SHA-256 of any bytes (statement texts and parameters bound to a grant).
std::string sha256_hex(std::string_view data);

}  // namespace gh::identity
