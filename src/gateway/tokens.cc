#include "gateway/tokens.h"

#include "gateway/services.h"

#include <openssl/rand.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace gh::gateway {

namespace fs = std::filesystem;

namespace {

// The creation time first, so that key files sort by age.
std::string new_kid(std::int64_t now) {
  return Services::random_id("gh-" + std::to_string(now) + "-", 6);
}

Expected<std::string> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return unexpected("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Expected<std::unique_ptr<TokenService>> TokenService::open(const std::string& dir,
                                                           config::GatewayTokens settings,
                                                           const Clock& clock) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return unexpected("cannot create " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  std::unique_ptr<TokenService> svc(new TokenService(dir, std::move(settings), clock));
  // Files are <kid>.pem; the kid starts with its creation time, so names sort by age.
  std::vector<std::string> kids;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".pem") kids.push_back(entry.path().stem().string());
  std::sort(kids.begin(), kids.end(), [](const std::string& a, const std::string& b) {
    auto age = [](const std::string& k) {
      try {
        return std::stoll(k.substr(3));
      } catch (...) {
        return 0LL;
      }
    };
    return age(a) > age(b);
  });
  for (const auto& kid : kids) {
    auto pem = slurp(fs::path(dir) / (kid + ".pem"));
    if (!pem) return unexpected(pem.error());
    auto key = identity::SigningKey::from_pem(identity::Algorithm::kEdDSA, kid, *pem);
    if (!key) return unexpected("signing key " + kid + ": " + key.error());
    svc->keys_.push_back(std::move(*key));
  }
  if (svc->keys_.empty()) {
    auto first = svc->rotate();
    if (!first) return unexpected(first.error());
  }
  return svc;
}

Status<> TokenService::save(const identity::SigningKey& key) const {
  const fs::path path = fs::path(dir_) / (key.kid() + ".pem");
  const fs::path tmp = fs::path(dir_) / (key.kid() + ".pem.tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return unexpected("cannot write " + tmp.string());
    ::chmod(tmp.c_str(), 0600);
    out << key.private_pem();
    if (!out.flush()) return unexpected("cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return unexpected("cannot write " + path.string() + ": " + ec.message());
  return Ok{};
}

Expected<std::string> TokenService::rotate() {
  auto key = std::shared_ptr<identity::SigningKey>(
      identity::SigningKey::generate(identity::Algorithm::kEdDSA, new_kid(clock_.unix_seconds())));
  if (auto st = save(*key); !st) return unexpected(st.error());
  std::lock_guard lock(mu_);
  keys_.insert(keys_.begin(), key);
  while (keys_.size() > kKeptKeys) {
    std::error_code ec;
    fs::remove(fs::path(dir_) / (keys_.back()->kid() + ".pem"), ec);
    keys_.pop_back();
  }
  return key->kid();
}

identity::IssuerConfig TokenService::issuer_config() const {
  identity::IssuerConfig c;
  c.name = "gatehouse";
  c.issuer = settings_.issuer;
  c.audiences = {settings_.audience};
  c.jwks_json = jwks_json();
  c.groups_claim = "groups";
  c.max_lifetime = settings_.max_ttl;
  c.gateway = true;
  return c;
}

std::string TokenService::jwks_json() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> jwks;
  for (const auto& k : keys_) jwks.push_back(k->public_jwk_json());
  return identity::jwks_json(jwks);
}

Expected<MintedToken> TokenService::mint(const TokenClaims& claims) const {
  if (claims.subject.empty()) return unexpected(std::string("a token needs a subject"));
  if (claims.ttl.count() < 1) return unexpected(std::string("a token's lifetime must be positive"));
  if (claims.ttl > settings_.max_ttl)
    return unexpected("a lifetime of " + std::to_string(claims.ttl.count()) +
                      " s is over identity.gateway_tokens.max_ttl (" +
                      std::to_string(settings_.max_ttl.count()) + " s)");
  std::shared_ptr<identity::SigningKey> key;
  {
    std::lock_guard lock(mu_);
    key = keys_.front();
  }
  const std::int64_t now = clock_.unix_seconds();
  nlohmann::json payload = {{"iss", settings_.issuer},
                            {"aud", settings_.audience},
                            {"sub", claims.subject},
                            {"groups", claims.groups},
                            {"iat", now},
                            {"nbf", now},
                            {"exp", now + claims.ttl.count()}};
  unsigned char jti[12];
  if (RAND_bytes(jti, sizeof jti) != 1) std::abort();
  payload["jti"] =
      identity::base64url_encode(std::string_view(reinterpret_cast<const char*>(jti), sizeof jti));
  if (!claims.connections.empty()) payload["gh_connections"] = claims.connections;
  if (!claims.issued_by.empty()) payload["gh_issued_by"] = claims.issued_by;
  if (!claims.origin_issuer.empty()) payload["gh_origin_iss"] = claims.origin_issuer;
  payload["gh_origin_groups"] = claims.origin_groups.empty() ? claims.groups : claims.origin_groups;
  MintedToken m;
  m.token = key->sign(payload.dump());
  m.expires_at = now + claims.ttl.count();
  m.kid = key->kid();
  m.token_hash = identity::token_hash(m.token);
  return m;
}

}  // namespace gh::gateway
