#include "testbed/oidc_issuer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "identity/signer.h"
#include "testbed/https_server.h"

namespace gh::testbed {

namespace {
constexpr const char* kWellKnown = "/.well-known/openid-configuration";
constexpr const char* kKeys = "/keys";
}  // namespace

struct OidcIssuer::Impl {
  Impl(const std::string& cert, const std::string& key, std::string p)
      : path(std::move(p)), server([this](const HttpRequest& r) { return answer(r); }, cert, key) {}

  std::string issuer() const { return server.base_url() + path; }
  std::string metadata_target() const {
    // OIDC Discovery §4: the issuer's terminating "/" is removed first.
    std::string base = path;
    while (!base.empty() && base.back() == '/') base.pop_back();
    return base + kWellKnown;
  }

  HttpResponse answer(const HttpRequest& r) {
    std::unique_lock lock(mu);
    if (status != 200) return {status, R"({"error":"unavailable"})"};
    if (r.target == metadata_target()) {
      nlohmann::json m = {{"issuer", metadata_issuer.empty() ? issuer() : metadata_issuer},
                          {"jwks_uri", jwks_uri.empty() ? server.base_url() + kKeys : jwks_uri},
                          {"authorization_endpoint", server.base_url() + "/authorize"},
                          {"id_token_signing_alg_values_supported", {"EdDSA", "ES256", "RS256"}}};
      return {200, m.dump()};
    }
    if (r.target == kKeys) {
      released.wait_for(lock, std::chrono::seconds(10), [this] { return !hold; });
      return {200, jwks};
    }
    return {404, R"({"error":"not found"})"};
  }

  std::mutex mu;
  std::condition_variable released;
  std::string jwks = R"({"keys":[]})";
  std::string metadata_issuer;
  std::string jwks_uri;
  int status = 200;
  bool hold = false;
  const std::string path;
  HttpsServer server;  // last: its thread may call answer() as soon as it exists
};

OidcIssuer::OidcIssuer(const std::string& cert_file, const std::string& key_file, std::string path)
    : impl_(std::make_unique<Impl>(cert_file, key_file, std::move(path))) {}

OidcIssuer::~OidcIssuer() {
  hold_keys(false);
}

std::string OidcIssuer::issuer() const {
  return impl_->issuer();
}

std::string OidcIssuer::metadata_target() const {
  return impl_->metadata_target();
}

void OidcIssuer::publish(const std::vector<TestIdp*>& idps) {
  std::vector<std::string> keys;
  for (auto* idp : idps) keys.push_back(idp->key().public_jwk_json());
  publish_text(identity::jwks_json(keys));
}

void OidcIssuer::publish_text(std::string jwks) {
  std::lock_guard lock(impl_->mu);
  impl_->jwks = std::move(jwks);
}

void OidcIssuer::set_metadata_issuer(std::string iss) {
  std::lock_guard lock(impl_->mu);
  impl_->metadata_issuer = std::move(iss);
}

void OidcIssuer::set_jwks_uri(std::string uri) {
  std::lock_guard lock(impl_->mu);
  impl_->jwks_uri = std::move(uri);
}

void OidcIssuer::set_status(int status) {
  std::lock_guard lock(impl_->mu);
  impl_->status = status;
}

void OidcIssuer::hold_keys(bool hold) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->hold = hold;
  }
  impl_->released.notify_all();
}

int OidcIssuer::count(const std::string& target) const {
  const auto seen = impl_->server.requests();
  return static_cast<int>(std::count_if(seen.begin(), seen.end(),
                                        [&](const HttpRequest& r) { return r.target == target; }));
}

int OidcIssuer::key_requests() const {
  return count(kKeys);
}

int OidcIssuer::total_requests() const {
  return static_cast<int>(impl_->server.requests().size());
}

}  // namespace gh::testbed
