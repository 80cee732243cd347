#include "testbed/idp.h"

#include <nlohmann/json.hpp>

#include <ctime>

namespace gh::testbed {

TestIdp::TestIdp(std::string issuer, std::string audience, identity::Algorithm alg, std::string kid)
    : issuer_(std::move(issuer)),
      audience_(std::move(audience)),
      key_(identity::SigningKey::generate(alg, kid)) {}

std::string TestIdp::jwks() const {
  return identity::jwks_json({key_->public_jwk_json()});
}

std::string TestIdp::mint(const std::string& subject, const std::vector<std::string>& groups,
                          long ttl_seconds) const {
  long now = static_cast<long>(std::time(nullptr));
  nlohmann::json payload = {{"iss", issuer_},   {"aud", audience_}, {"sub", subject},
                            {"groups", groups}, {"iat", now},       {"exp", now + ttl_seconds}};
  return key_->sign(payload.dump());
}

std::string TestIdp::mint_raw(const std::string& payload_json) const {
  return key_->sign(payload_json);
}

}  // namespace gh::testbed
