#include "policy/access.h"

#include <algorithm>

namespace gh::policy {

namespace {

bool principal_matches(const AccessRule& rule, const model::Principal& who) {
  for (const auto& g : rule.groups) {
    if (g == "*" || who.in_group(g)) return true;
  }
  for (const auto& s : rule.subjects) {
    if (glob_match(s, who.subject)) return true;
  }
  return false;
}

bool connection_matches(const AccessRule& rule, std::string_view connection) {
  for (const auto& c : rule.connections) {
    if (glob_match(c, connection)) return true;
  }
  return false;
}

}  // namespace

ConnectDecision may_connect(const AccessPolicy& policy, const model::Principal& who,
                            std::string_view connection) {
  // A token scoped to some connections reaches no other, whatever the rules say.
  if (!who.connections.empty() &&
      std::none_of(who.connections.begin(), who.connections.end(),
                   [&](const std::string& c) { return glob_match(c, connection); }))
    return {false, {}};
  for (const auto& rule : policy.rules) {
    if (principal_matches(rule, who) && connection_matches(rule, connection)) {
      return {true, rule.name};
    }
  }
  return {false, {}};
}

}  // namespace gh::policy
