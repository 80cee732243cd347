#include "policy/access.h"

namespace gh::policy {

bool glob_match(std::string_view pattern, std::string_view text) {
  // Iterative matcher with single-star backtracking: linear in practice and no
  // recursion, so hostile patterns cannot blow the stack.
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

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
  for (const auto& rule : policy.rules) {
    if (principal_matches(rule, who) && connection_matches(rule, connection)) {
      return {true, rule.name};
    }
  }
  return {false, {}};
}

}  // namespace gh::policy
