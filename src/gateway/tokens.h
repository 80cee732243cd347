// The gateway's own short-lived tokens: an Ed25519 signing key kept in
// data_dir/keys (created on first start, 0600), rotation that keeps the
// previous keys published until every token they signed has expired, the
// public keys as a JWKS, and minting for `token issue` and `token exchange`.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/expected.h"
#include "config/config.h"
#include "identity/signer.h"
#include "identity/verifier.h"

namespace gh::gateway {

struct TokenClaims {
  std::string subject;
  std::vector<std::string> groups;
  std::vector<std::string> connections;  // empty: not narrowed
  std::chrono::seconds ttl{900};
  std::string issued_by;  // set by `token issue`: the admin who minted it
  // `token exchange`: the identity the token speaks for — the issuer of the
  // token exchanged (the minted token's identity is (origin_issuer, subject))
  // and every group it carried, which restrictions keep matching however
  // `groups` was narrowed. Empty origin_groups: the same as `groups`.
  std::string origin_issuer;
  std::vector<std::string> origin_groups;
};

struct MintedToken {
  std::string token;  // secret: returned to the caller once, never logged or recorded
  std::int64_t expires_at = 0;
  std::string kid;
  std::string token_hash;
};

class TokenService {
 public:
  // Loads the keys in `dir`, creating the first one when there is none.
  static Expected<std::unique_ptr<TokenService>> open(const std::string& dir,
                                                      config::GatewayTokens settings,
                                                      const Clock& clock);

  // The issuer entry the verifier needs to accept the gateway's tokens.
  identity::IssuerConfig issuer_config() const;
  // {"keys":[…]}: every key still published (the active one first).
  std::string jwks_json() const;
  const config::GatewayTokens& settings() const { return settings_; }

  // Signs a token; the lifetime is capped at max_ttl (refused when asked for more).
  Expected<MintedToken> mint(const TokenClaims& claims) const;
  // A new active key; the previous ones stay published (at most kKeptKeys).
  Expected<std::string> rotate();

  static constexpr std::size_t kKeptKeys = 3;

 private:
  TokenService(std::string dir, config::GatewayTokens settings, const Clock& clock)
      : dir_(std::move(dir)), settings_(std::move(settings)), clock_(clock) {}
  Status<> save(const identity::SigningKey& key) const;

  std::string dir_;
  config::GatewayTokens settings_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<identity::SigningKey>> keys_;  // newest (active) first
};

}  // namespace gh::gateway
