#include "identity/verifier.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>

#include "base/bytes.h"
#include "identity/base64url.h"
#include "identity/jwk.h"
#include "identity/jws.h"
#include "identity/strict_json.h"

namespace gh::identity {
namespace {

using Json = nlohmann::json;

// Clock skew beyond five minutes is a broken clock, not skew: the cap keeps a
// configuration typo from quietly extending every token's life.
constexpr std::int64_t kMaxLeewaySeconds = 300;
// NumericDate claims are accepted from the epoch to the end of year 9999. The
// bound keeps every sum and difference below far from int64 overflow.
constexpr std::int64_t kMaxNumericDate = 253402300799;
// Caches this large are split into shards so that I/O threads verifying
// different tokens rarely wait on one another.
constexpr std::size_t kShardCount = 16;
constexpr std::size_t kShardingThreshold = 1024;

std::array<unsigned char, 32> sha256(std::string_view data) {
  std::array<unsigned char, 32> digest{};
  unsigned int len = 0;
  // SHA-256 over a buffer cannot fail short of memory exhaustion; a zero
  // digest then only costs a cache miss, never a wrong answer, because the
  // cache compares whole tokens' digests and stores only verified ones.
  (void)EVP_Digest(data.data(), data.size(), digest.data(), &len, EVP_sha256(), nullptr);
  return digest;
}

Unexpected<Refusal> refuse(RefusalCode code, std::string reason) {
  return unexpected(Refusal{code, std::move(reason)});
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// A NumericDate (RFC 7519 §2) in whole seconds, or nullopt when out of range.
// Fractions are dropped: a second early for exp errs towards refusing.
std::optional<std::int64_t> numeric_date(const Json& v) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(kMaxNumericDate)) return std::nullopt;
    return static_cast<std::int64_t>(u);
  }
  if (v.is_number_integer()) {
    const auto i = v.get<std::int64_t>();
    if (i < 0 || i > kMaxNumericDate) return std::nullopt;
    return i;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d) || d < 0 || d > static_cast<double>(kMaxNumericDate)) return std::nullopt;
    return static_cast<std::int64_t>(std::floor(d));
  }
  return std::nullopt;
}

// Reads an optional NumericDate claim. A present claim that is not a number
// in range is a refusal, not "absent".
Expected<std::optional<std::int64_t>, Refusal> date_claim(const Json& payload, const char* name) {
  const auto it = payload.find(name);
  if (it == payload.end()) return std::optional<std::int64_t>();
  if (!it->is_number())
    return refuse(RefusalCode::kBadClaimType, std::string("\"") + name + "\" is not a number");
  auto value = numeric_date(*it);
  if (!value)
    return refuse(RefusalCode::kBadClaimType,
                  std::string("\"") + name + "\" is not a date between 1970 and 9999");
  return std::optional<std::int64_t>(*value);
}

// An optional claim that must be an array of strings: nullopt when absent.
Expected<std::optional<std::vector<std::string>>, Refusal> string_array_claim(const Json& claims,
                                                                              const char* name) {
  const auto it = claims.find(name);
  if (it == claims.end()) return std::optional<std::vector<std::string>>();
  const auto wrong = [&] {
    return refuse(RefusalCode::kBadClaimType,
                  std::string("token \"") + name + "\" is not an array of strings");
  };
  if (!it->is_array()) return wrong();
  std::vector<std::string> out;
  for (const auto& v : *it) {
    if (!v.is_string()) return wrong();
    out.push_back(v.get<std::string>());
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

// The claims only the gateway's own tokens carry (verified: signed by the
// gateway). A refusal when one is malformed.
std::optional<Refusal> read_gateway_claims(const Json& claims, model::Principal& principal) {
  principal.gateway_token = true;
  if (const auto it = claims.find("gh_issued_by"); it != claims.end()) {
    if (!it->is_string())
      return Refusal{RefusalCode::kBadClaimType, "token \"gh_issued_by\" is not a string"};
    principal.issued_by = it->get<std::string>();
  }
  auto connections = string_array_claim(claims, "gh_connections");
  if (!connections) return connections.error();
  if (*connections) {
    // A scope that names nothing would read as "unscoped": refuse it instead.
    if ((*connections)->empty())
      return Refusal{RefusalCode::kBadClaimType, "token \"gh_connections\" is empty"};
    principal.connections = std::move(**connections);
  }
  // An exchanged token speaks for the identity it was exchanged for: that
  // identity's issuer, and all of its groups for the rules that restrict.
  if (const auto it = claims.find("gh_origin_iss"); it != claims.end()) {
    if (!it->is_string() || it->get_ref<const std::string&>().empty())
      return Refusal{RefusalCode::kBadClaimType, "token \"gh_origin_iss\" is not a string"};
    principal.issuer = it->get<std::string>();
  }
  auto origin_groups = string_array_claim(claims, "gh_origin_groups");
  if (!origin_groups) return origin_groups.error();
  if (*origin_groups)
    for (auto& g : **origin_groups)
      if (std::find(principal.origin_groups.begin(), principal.origin_groups.end(), g) ==
          principal.origin_groups.end())
        principal.origin_groups.push_back(std::move(g));
  return std::nullopt;
}

struct IssuerKeys {
  IssuerConfig config;
  std::shared_ptr<const std::vector<Jwk>> keys;  // shared: a key set is swapped whole
  // False for a discovery issuer until its first JWKS is set: its tokens are
  // then refused as naming an unknown key, which asks for a fetch.
  bool keys_loaded = true;
};

// The key a token was verified with: a cached verification lasts only as
// long as its key stays in its issuer's key set.
struct VerifiedBy {
  std::string issuer;                            // `iss` of the issuer whose key it is
  std::shared_ptr<const std::vector<Jwk>> keys;  // the set the key was taken from (keeps it alive)
  const Jwk* key = nullptr;
  std::uint64_t generation = 0;  // of the issuers' key sets when the key was taken
};

// A verified principal remembered until its token expires, or its key leaves
// its issuer's key set.
struct CacheEntry {
  model::Principal principal;
  std::int64_t valid_from = 0;  // max(nbf, iat): the cache must not outrun a clock set back
  VerifiedBy by;
  std::multimap<std::int64_t, std::string>::iterator by_expiry;
};

struct CacheShard {
  std::mutex mu;
  std::unordered_map<std::string, CacheEntry> entries;    // by raw SHA-256 of the token
  std::multimap<std::int64_t, std::string> expiry_order;  // exp → key, soonest first
};

}  // namespace

struct TokenVerifier::Impl {
  Impl(const Clock& c) : clock(c) {}

  // Swapped whole when an issuer's keys change; a verification keeps the snapshot it took.
  mutable std::mutex issuers_mu;
  std::shared_ptr<const std::vector<IssuerKeys>> issuers;
  // Bumped (under issuers_mu) whenever a key set changes: a verification that
  // took its keys before a change is not cached, since its key may be gone.
  std::atomic<std::uint64_t> generation{0};
  VerifierOptions options;
  std::int64_t leeway = 0;  // seconds, already capped
  const Clock& clock;
  std::vector<std::unique_ptr<CacheShard>> shards;
  std::size_t shard_capacity = 0;
  mutable std::atomic<std::uint64_t> hits{0};

  CacheShard& shard_for(const std::string& key) const {
    return *shards[static_cast<unsigned char>(key[0]) % shards.size()];
  }

  // A cached answer, or nullopt when the token must be verified afresh. An
  // entry answers exactly as a fresh verification would on time: past
  // exp + leeway it is refused as expired (and dropped), never served.
  std::optional<Expected<model::Principal, Refusal>> cached(const std::string& key,
                                                            std::int64_t now) const {
    if (shards.empty()) return std::nullopt;
    CacheShard& shard = shard_for(key);
    std::lock_guard lock(shard.mu);
    const auto it = shard.entries.find(key);
    if (it == shard.entries.end()) return std::nullopt;
    if (now >= it->second.principal.expires_at + leeway) {
      shard.expiry_order.erase(it->second.by_expiry);
      shard.entries.erase(it);
      return Expected<model::Principal, Refusal>(
          refuse(RefusalCode::kExpired, "token has expired"));
    }
    if (now + leeway < it->second.valid_from)
      return Expected<model::Principal, Refusal>(
          refuse(RefusalCode::kNotYetValid, "token is not valid yet"));
    hits.fetch_add(1, std::memory_order_relaxed);
    return Expected<model::Principal, Refusal>(it->second.principal);
  }

  void remember(const std::string& key, const model::Principal& principal, std::int64_t valid_from,
                VerifiedBy by, std::int64_t now) const {
    if (shards.empty() || shard_capacity == 0) return;
    CacheShard& shard = shard_for(key);
    std::lock_guard lock(shard.mu);
    if (shard.entries.contains(key)) return;  // another thread verified it meanwhile
    // Keys changed since this verification took them: forget_removed_keys()
    // may already have swept this shard, so the answer is not kept.
    if (by.generation != generation.load()) return;
    // Make room: expired entries go first (they sort first), then the one
    // closest to expiry, which has the least use left.
    while (!shard.expiry_order.empty() && (shard.expiry_order.begin()->first + leeway <= now ||
                                           shard.entries.size() >= shard_capacity)) {
      shard.entries.erase(shard.expiry_order.begin()->second);
      shard.expiry_order.erase(shard.expiry_order.begin());
    }
    const auto order = shard.expiry_order.emplace(principal.expires_at, key);
    shard.entries.emplace(key, CacheEntry{principal, valid_from, std::move(by), order});
  }

  // Drops every cached verification made with a key of `issuer` that
  // `keys` no longer holds (rotated out, withdrawn by the IdP).
  void forget_removed_keys(const std::string& issuer, const std::vector<Jwk>& keys) const {
    for (const auto& shard : shards) {
      std::lock_guard lock(shard->mu);
      for (auto it = shard->entries.begin(); it != shard->entries.end();) {
        const VerifiedBy& by = it->second.by;
        const bool kept =
            by.issuer != issuer || std::any_of(keys.begin(), keys.end(), [&](const Jwk& k) {
              return EVP_PKEY_eq(k.key.get(), by.key->key.get()) == 1;
            });
        if (kept) {
          ++it;
        } else {
          shard->expiry_order.erase(it->second.by_expiry);
          it = shard->entries.erase(it);
        }
      }
    }
  }

  Expected<model::Principal, Refusal> verify_fresh(std::string_view token, std::int64_t now,
                                                   std::string token_hash, std::int64_t& valid_from,
                                                   VerifiedBy& by) const;
};

TokenVerifier::TokenVerifier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TokenVerifier::~TokenVerifier() = default;

Expected<std::unique_ptr<TokenVerifier>, std::vector<std::string>> TokenVerifier::create(
    std::vector<IssuerConfig> issuers, VerifierOptions options, const Clock& clock) {
  std::vector<std::string> problems;
  auto impl = std::make_unique<Impl>(clock);
  if (options.max_token_bytes == 0) problems.push_back("max_token_bytes must be positive");
  std::set<std::string> seen_issuers;
  auto loaded = std::make_shared<std::vector<IssuerKeys>>();
  for (std::size_t i = 0; i < issuers.size(); ++i) {
    IssuerConfig& config = issuers[i];
    const std::string label =
        config.name.empty() ? "issuer #" + std::to_string(i + 1) : "issuer '" + config.name + "'";
    if (config.issuer.empty()) problems.push_back(label + ": issuer (the iss value) is empty");
    if (!seen_issuers.insert(config.issuer).second)
      problems.push_back(label + ": issuer repeats the iss value of an earlier issuer");
    if (config.audiences.empty())
      problems.push_back(label + ": no audience: every token would be refused");
    for (const auto& aud : config.audiences)
      if (aud.empty()) problems.push_back(label + ": an audience is empty");
    if (config.groups_claim.empty()) problems.push_back(label + ": groups_claim is empty");
    if (config.max_lifetime.count() <= 0)
      problems.push_back(label + ": max_lifetime must be positive");
    // A discovery issuer's keys come later, fetched from its metadata.
    if (config.discovery && config.jwks_json.empty()) {
      loaded->push_back(
          IssuerKeys{std::move(config), std::make_shared<const std::vector<Jwk>>(), false});
      continue;
    }
    auto keys = parse_jwks(config.jwks_json);
    if (!keys) {
      for (const auto& p : keys.error()) problems.push_back(label + ": " + p);
      continue;
    }
    loaded->push_back(IssuerKeys{std::move(config),
                                 std::make_shared<const std::vector<Jwk>>(std::move(*keys)), true});
  }
  if (!problems.empty()) return unexpected(std::move(problems));
  impl->issuers = std::move(loaded);

  impl->options = options;
  impl->leeway = std::clamp<std::int64_t>(options.leeway.count(), 0, kMaxLeewaySeconds);
  const std::size_t shard_count = options.cache_capacity >= kShardingThreshold ? kShardCount : 1;
  impl->shard_capacity = options.cache_capacity / shard_count;
  if (impl->shard_capacity > 0)
    for (std::size_t i = 0; i < shard_count; ++i)
      impl->shards.push_back(std::make_unique<CacheShard>());
  return std::unique_ptr<TokenVerifier>(new TokenVerifier(std::move(impl)));
}

Expected<model::Principal, Refusal> TokenVerifier::verify(std::string_view token) const {
  if (token.empty()) return refuse(RefusalCode::kMissing, "no token was presented");
  // Before any decoding: an oversized token costs nothing but this comparison.
  if (token.size() > impl_->options.max_token_bytes)
    return refuse(RefusalCode::kTooLarge,
                  "token is " + std::to_string(token.size()) + " bytes; at most " +
                      std::to_string(impl_->options.max_token_bytes) + " are accepted");
  const auto digest = sha256(token);
  const std::string key(reinterpret_cast<const char*>(digest.data()), digest.size());
  const std::int64_t now = impl_->clock.unix_seconds();
  if (auto hit = impl_->cached(key, now)) return std::move(*hit);

  std::int64_t valid_from = 0;
  VerifiedBy by;
  auto result = [&]() -> Expected<model::Principal, Refusal> {
    try {
      return impl_->verify_fresh(token, now, hex(digest), valid_from, by);
    } catch (...) {
      // Nothing in verify_fresh is expected to throw (the JSON parser runs
      // with exceptions off and every access is type-checked first); if
      // something does, the data plane still gets a refusal, not an exception.
      return refuse(RefusalCode::kMalformed, "token could not be processed");
    }
  }();
  // Refusals are not cached: they are cheap to repeat and must not pin memory
  // an attacker chooses.
  if (result) impl_->remember(key, *result, valid_from, std::move(by), now);
  return result;
}

Expected<model::Principal, Refusal> TokenVerifier::Impl::verify_fresh(std::string_view token,
                                                                      std::int64_t now,
                                                                      std::string token_hash,
                                                                      std::int64_t& valid_from,
                                                                      VerifiedBy& by) const {
  // --- Structure: header.payload.signature (RFC 7515 §7.1) -----------------
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return refuse(RefusalCode::kMalformed,
                  "token is not a JWT: it must be three base64url parts separated by dots");
  const std::string_view header_b64 = token.substr(0, dot1);
  const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_b64 = token.substr(dot2 + 1);
  const std::string_view signing_input = token.substr(0, dot2);

  // --- Header: which algorithm ---------------------------------------------
  const auto header_text = base64url_decode(header_b64);
  if (!header_text) return refuse(RefusalCode::kMalformed, "token header is not base64url");
  auto header = parse_strict_json(*header_text);
  if (!header) return refuse(RefusalCode::kMalformed, "token header is " + header.error());
  if (!header->is_object())
    return refuse(RefusalCode::kMalformed, "token header is not a JSON object");
  const auto alg_it = header->find("alg");
  if (alg_it == header->end())
    return refuse(RefusalCode::kMalformed, "token header has no \"alg\"");
  if (!alg_it->is_string())
    return refuse(RefusalCode::kBadClaimType, "token header \"alg\" is not a string");
  for (const char* name : {"kid", "typ"}) {
    const auto it = header->find(name);
    if (it != header->end() && !it->is_string())
      return refuse(RefusalCode::kBadClaimType,
                    std::string("token header \"") + name + "\" is not a string");
  }
  // RFC 7515 §4.1.11: extensions marked critical that we do not implement
  // (we implement none, e.g. b64:false) must make the token invalid.
  if (header->contains("crit"))
    return refuse(RefusalCode::kMalformed,
                  "token header lists critical extensions (\"crit\"), which are not supported");
  const auto& alg_name = alg_it->get_ref<const std::string&>();
  const std::string alg_lower = ascii_lower(alg_name);
  // "none" in any spelling: some libraries once compared case-insensitively.
  if (alg_lower == "none")
    return refuse(RefusalCode::kAlgNone, "unsigned tokens (alg \"none\") are never accepted");
  if (alg_lower == "hs256" || alg_lower == "hs384" || alg_lower == "hs512")
    return refuse(RefusalCode::kAlgHmac, "HMAC-signed tokens (" + alg_name +
                                             ") are never accepted: only public-key "
                                             "signatures are");
  const AlgorithmSpec* spec = find_algorithm(alg_name);
  if (spec == nullptr)
    return refuse(RefusalCode::kAlgUnsupported,
                  "token algorithm is not supported (RS256, RS384, RS512, PS256, ES256, ES384 "
                  "and EdDSA are)");

  // --- Payload: only "iss", to choose the issuer ----------------------------
  const auto payload_text = base64url_decode(payload_b64);
  if (!payload_text) return refuse(RefusalCode::kMalformed, "token payload is not base64url");
  auto payload = parse_strict_json(*payload_text);
  if (!payload) return refuse(RefusalCode::kMalformed, "token payload is " + payload.error());
  if (!payload->is_object())
    return refuse(RefusalCode::kMalformed, "token payload is not a JSON object");
  const auto iss_it = payload->find("iss");
  if (iss_it == payload->end()) return refuse(RefusalCode::kMissingClaim, "token has no \"iss\"");
  if (!iss_it->is_string())
    return refuse(RefusalCode::kBadClaimType, "token \"iss\" is not a string");
  const auto& iss = iss_it->get_ref<const std::string&>();
  std::shared_ptr<const std::vector<IssuerKeys>> snapshot;
  std::uint64_t snapshot_generation = 0;
  {
    std::lock_guard lock(issuers_mu);
    snapshot = issuers;
    snapshot_generation = generation.load();
  }
  const IssuerKeys* issuer = nullptr;
  for (const auto& candidate : *snapshot)
    if (candidate.config.issuer == iss) issuer = &candidate;
  // The iss value is the sender's text: not echoed.
  if (issuer == nullptr)
    return refuse(RefusalCode::kUnknownIssuer, "token issuer is not a configured issuer");
  const std::string& issuer_name = issuer->config.name;

  // --- Key: by kid, or the issuer's only key --------------------------------
  if (!issuer->keys_loaded) {
    auto r = refuse(RefusalCode::kUnknownKid,
                    "keys of issuer '" + issuer_name + "' are not loaded yet (OIDC discovery)");
    r.error.issuer = issuer->config.issuer;
    return r;
  }
  const Jwk* key = nullptr;
  if (const auto kid_it = header->find("kid"); kid_it != header->end()) {
    const auto& kid = kid_it->get_ref<const std::string&>();
    for (const auto& candidate : *issuer->keys)
      if (candidate.has_kid && candidate.kid == kid) key = &candidate;
    if (key == nullptr) {
      auto r = refuse(RefusalCode::kUnknownKid,
                      "token \"kid\" names no key of issuer '" + issuer_name + "'");
      r.error.issuer = issuer->config.issuer;
      return r;
    }
  } else {
    if (issuer->keys->size() != 1) {
      auto r = refuse(RefusalCode::kUnknownKid,
                      "token has no \"kid\" and issuer '" + issuer_name + "' has " +
                          std::to_string(issuer->keys->size()) +
                          " keys: a token must name its key when there is more than one");
      r.error.issuer = issuer->config.issuer;
      return r;
    }
    key = &issuer->keys->front();
  }
  if (!key->for_signing)
    return refuse(RefusalCode::kAlgKeyMismatch,
                  "the key the token names is not a signature key (its \"use\" or \"key_ops\")");
  if (key->kind != spec->key)
    return refuse(RefusalCode::kAlgKeyMismatch,
                  std::string(spec->name) + " needs an " + std::string(key_kind_name(spec->key)) +
                      " key but the selected key is " + std::string(key_kind_name(key->kind)));
  // RFC 7517 §4.4: a key published for one algorithm is not to be used with another.
  if (!key->alg.empty() && key->alg != spec->name)
    return refuse(RefusalCode::kAlgKeyMismatch,
                  "the selected key is published for another algorithm than the token's " +
                      std::string(spec->name));

  // --- Signature: nothing below trusts the payload before this --------------
  const auto signature = base64url_decode(signature_b64);
  if (!signature) return refuse(RefusalCode::kMalformed, "token signature is not base64url");
  if (spec->ecdsa_half_bytes != 0 && signature->size() != 2 * spec->ecdsa_half_bytes)
    return refuse(RefusalCode::kBadSignature, std::string(spec->name) + " signature must be " +
                                                  std::to_string(2 * spec->ecdsa_half_bytes) +
                                                  " bytes (R||S)");
  if (!verify_jws_signature(*spec, key->key.get(), signing_input, *signature))
    return refuse(RefusalCode::kBadSignature, "token signature does not verify");

  // --- Claims: types first, then values -------------------------------------
  const Json& claims = *payload;
  const auto sub_it = claims.find("sub");
  if (sub_it == claims.end()) return refuse(RefusalCode::kMissingClaim, "token has no \"sub\"");
  if (!sub_it->is_string())
    return refuse(RefusalCode::kBadClaimType, "token \"sub\" is not a string");
  if (sub_it->get_ref<const std::string&>().empty())
    return refuse(RefusalCode::kMissingClaim, "token \"sub\" is empty");

  if (!claims.contains("exp")) return refuse(RefusalCode::kMissingClaim, "token has no \"exp\"");
  auto exp = date_claim(claims, "exp");
  if (!exp) return unexpected(exp.error());
  auto nbf = date_claim(claims, "nbf");
  if (!nbf) return unexpected(nbf.error());
  auto iat = date_claim(claims, "iat");
  if (!iat) return unexpected(iat.error());

  std::vector<std::string> token_audiences;
  if (const auto aud_it = claims.find("aud"); aud_it != claims.end()) {
    if (aud_it->is_string()) {
      token_audiences.push_back(aud_it->get<std::string>());
    } else if (aud_it->is_array()) {
      for (const auto& a : *aud_it) {
        if (!a.is_string())
          return refuse(RefusalCode::kBadClaimType,
                        "token \"aud\" is not a string or an array of strings");
        token_audiences.push_back(a.get<std::string>());
      }
    } else {
      return refuse(RefusalCode::kBadClaimType,
                    "token \"aud\" is not a string or an array of strings");
    }
  }

  std::vector<std::string> groups;
  if (const auto groups_it = claims.find(issuer->config.groups_claim); groups_it != claims.end()) {
    if (!groups_it->is_array())
      return refuse(
          RefusalCode::kBadClaimType,
          "token groups claim \"" + issuer->config.groups_claim + "\" is not an array of strings");
    for (const auto& g : *groups_it) {
      if (!g.is_string())
        return refuse(RefusalCode::kBadClaimType, "token groups claim \"" +
                                                      issuer->config.groups_claim +
                                                      "\" is not an array of strings");
      groups.push_back(g.get<std::string>());
    }
  }

  const std::int64_t expires_at = **exp;
  if (now >= expires_at + leeway)
    return refuse(RefusalCode::kExpired,
                  "token expired " + std::to_string(now - expires_at) + " s ago");
  if (*nbf && **nbf > now + leeway)
    return refuse(RefusalCode::kNotYetValid, "token is not valid before its \"nbf\", " +
                                                 std::to_string(**nbf - now) + " s from now");
  if (*iat && **iat > now + leeway)
    return refuse(RefusalCode::kNotYetValid,
                  "token \"iat\" is " + std::to_string(**iat - now) + " s in the future");
  // Without iat the remaining life is what a stolen token is worth.
  const std::int64_t lifetime = expires_at - (*iat ? **iat : now);
  const std::int64_t max_lifetime = issuer->config.max_lifetime.count();
  if (lifetime > max_lifetime)
    return refuse(RefusalCode::kLifetimeTooLong,
                  "token lifetime is " + std::to_string(lifetime) + " s; issuer '" + issuer_name +
                      "' allows at most " + std::to_string(max_lifetime) + " s");

  const auto& allowed = issuer->config.audiences;
  const bool audience_ok =
      std::any_of(token_audiences.begin(), token_audiences.end(), [&](const std::string& a) {
        return std::find(allowed.begin(), allowed.end(), a) != allowed.end();
      });
  if (!audience_ok)
    return refuse(
        RefusalCode::kWrongAudience,
        token_audiences.empty()
            ? "token has no \"aud\"; issuer '" + issuer_name + "' requires one"
            : "token \"aud\" names no audience configured for issuer '" + issuer_name + "'");

  valid_from = std::max(nbf->value_or(0), iat->value_or(0));
  by = VerifiedBy{issuer->config.issuer, issuer->keys, key, snapshot_generation};
  model::Principal principal;
  principal.subject = sub_it->get<std::string>();
  principal.issuer = iss;
  principal.issuer_name = issuer_name;
  principal.origin_groups = groups;
  principal.groups = std::move(groups);
  principal.issued_at = iat->value_or(0);
  principal.expires_at = expires_at;
  principal.token_hash = std::move(token_hash);
  if (issuer->config.gateway) {
    if (auto refused = read_gateway_claims(claims, principal)) return unexpected(*refused);
  }
  return principal;
}

Status<> TokenVerifier::set_issuer_keys(const std::string& issuer, const std::string& jwks_json) {
  auto keys = parse_jwks(jwks_json);
  if (!keys) {
    std::string why;
    for (const auto& p : keys.error()) why += (why.empty() ? "" : "; ") + p;
    return unexpected("JWKS of " + issuer + ": " + why);
  }
  auto fresh = std::make_shared<const std::vector<Jwk>>(std::move(*keys));
  {
    std::lock_guard lock(impl_->issuers_mu);
    auto next = std::make_shared<std::vector<IssuerKeys>>(*impl_->issuers);
    auto it = std::find_if(next->begin(), next->end(),
                           [&](const IssuerKeys& i) { return i.config.issuer == issuer; });
    if (it == next->end()) return unexpected("no issuer " + issuer);
    it->keys = fresh;
    it->keys_loaded = true;
    impl_->issuers = std::move(next);
    impl_->generation.fetch_add(1);
  }
  // A key that left the set is out for tokens already verified too.
  impl_->forget_removed_keys(issuer, *fresh);
  return Ok{};
}

std::string public_reason(const Refusal& refusal) {
  switch (refusal.code) {
    // These reasons name the issuer's configuration (its name, its keys,
    // its audiences, its lifetime limit, its groups claim): said generically.
    case RefusalCode::kUnknownKid:
      return "token \"kid\" names no key the gateway trusts for its issuer";
    case RefusalCode::kAlgKeyMismatch:
      return "token algorithm does not fit the key it names";
    case RefusalCode::kWrongAudience:
      return "token audience is not one the gateway accepts";
    case RefusalCode::kLifetimeTooLong:
      return "token lifetime is longer than its issuer allows";
    case RefusalCode::kBadClaimType:
      return "a token claim has the wrong type";
    // The rest say what is wrong with the token alone.
    default:
      return refusal.reason;
  }
}

std::uint64_t TokenVerifier::cache_hits() const {
  return impl_->hits.load(std::memory_order_relaxed);
}

std::string token_hash(std::string_view token) {
  return sha256_hex(token);
}

std::string sha256_hex(std::string_view data) {
  return hex(sha256(data));
}

}  // namespace gh::identity
