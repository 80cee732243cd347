// Who is calling: the result of verifying a token. Protocol-neutral.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gh::model {

// An identity is (issuer, subject): the same `sub` at two issuers is two
// callers. Groups are both grants and restrictions: what a caller may do
// (access rules, roles, masking exemptions, approving) follows `groups`,
// which a gateway token may narrow; the rules that restrict or hold a caller
// (guardrails, approval rules) follow every group of the identity the token
// came from as well (`origin_groups`), so narrowing sheds no restriction.
struct Principal {
  std::string subject;  // `sub` claim
  // The identity's issuer: the `iss` claim, or for a token the gateway
  // minted by exchange, the issuer of the token it was exchanged for.
  std::string issuer;
  std::string issuer_name;          // the name of the configured issuer that verified the token
  std::vector<std::string> groups;  // from the configured groups claim: what the token grants
  // The groups of the identity the token speaks for: `groups` for an IdP's
  // token; for a gateway token, those of the token it was exchanged for (an
  // admin-issued token: the groups the admin gave it).
  std::vector<std::string> origin_groups;
  std::int64_t issued_at = 0;   // unix seconds (0 when absent)
  std::int64_t expires_at = 0;  // unix seconds
  std::string token_hash;       // hex SHA-256 of the token: never the token itself
  // Gateway-issued tokens only: the admin who minted it with `token issue`
  // (they, not the subject, act through it), and the connections it is
  // scoped to (empty: not narrowed).
  std::string issued_by;
  std::vector<std::string> connections;
  bool gateway_token = false;

  // A grant through group `g` (access, roles, exemptions, approving).
  bool in_group(const std::string& g) const {
    for (const auto& mine : groups)
      if (mine == g) return true;
    return false;
  }
  // A restriction aimed at group `g` (guardrails, approval rules) applies.
  bool restricted_as(const std::string& g) const {
    if (in_group(g)) return true;
    for (const auto& mine : origin_groups)
      if (mine == g) return true;
    return false;
  }
  bool same_identity(const Principal& o) const {
    return subject == o.subject && issuer == o.issuer;
  }
};

}  // namespace gh::model
