// Who is calling: the result of verifying a token. Protocol-neutral.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gh::model {

struct Principal {
  std::string subject;              // `sub` claim
  std::string issuer;               // `iss` claim
  std::string issuer_name;          // the configured issuer's name
  std::vector<std::string> groups;  // from the configured groups claim
  std::int64_t issued_at = 0;       // unix seconds (0 when absent)
  std::int64_t expires_at = 0;      // unix seconds
  std::string token_hash;           // hex SHA-256 of the token: never the token itself
  // Gateway-issued tokens only: the admin who minted it with `token issue`
  // (they, not the subject, act through it), and the connections it is
  // scoped to (empty: not narrowed).
  std::string issued_by;
  std::vector<std::string> connections;
  bool gateway_token = false;

  bool in_group(const std::string& g) const {
    for (const auto& mine : groups)
      if (mine == g) return true;
    return false;
  }
};

}  // namespace gh::model
