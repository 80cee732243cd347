// `gatehouse dev …`: a stand-in identity provider for benchmarks and scripts
// that need tokens without a real IdP. Not for production: real deployments
// trust their organisation's IdP (identity.issuers).
#include <ctime>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "base/duration.h"
#include "identity/signer.h"
#include "testbed/process.h"

namespace gh::app {

int run_dev_idp(const std::string& dir) {
  std::filesystem::create_directories(dir);
  auto key = identity::SigningKey::generate(identity::Algorithm::kEdDSA, "dev-idp-key");
  testbed::write_file(dir + "/idp-key.pem", key->private_pem(), 0600);
  testbed::write_file(dir + "/idp-jwks.json", identity::jwks_json({key->public_jwk_json()}));
  std::cout << dir << "/idp-jwks.json\n";
  return 0;
}

int run_dev_mint(const DevMintOptions& o) {
  auto pem = testbed::read_file(o.dir + "/idp-key.pem");
  auto key = identity::SigningKey::from_pem(identity::Algorithm::kEdDSA, "dev-idp-key", pem);
  if (!key) {
    std::cerr << "gatehouse dev mint: " << o.dir << "/idp-key.pem: " << key.error() << "\n";
    return 1;
  }
  auto ttl = parse_duration(o.ttl);
  if (!ttl || ttl->count() < 1000) {
    std::cerr << "gatehouse dev mint: --ttl: expected a duration such as 15m or 1h\n";
    return 1;
  }
  long now = static_cast<long>(std::time(nullptr));
  nlohmann::json groups = nlohmann::json::array();
  std::string g = o.groups;
  for (std::size_t pos = 0; !g.empty();) {
    auto comma = g.find(',', pos);
    groups.push_back(g.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  nlohmann::json payload = {
      {"iss", o.issuer},  {"aud", o.audience},
      {"sub", o.subject}, {"groups", groups},
      {"iat", now},       {"exp", now + static_cast<long>(ttl->count() / 1000)}};
  std::cout << (*key)->sign(payload.dump()) << "\n";
  return 0;
}

}  // namespace gh::app
