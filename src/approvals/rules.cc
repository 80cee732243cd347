#include "approvals/rules.h"

#include <algorithm>

#include "base/glob.h"

namespace gh::approvals {

namespace {

bool any_glob(const std::vector<std::string>& globs, std::string_view text) {
  return std::any_of(globs.begin(), globs.end(),
                     [&](const std::string& g) { return glob_match(g, text); });
}

bool does_kind(const model::Analysis& a, model::Kind k) {
  if (a.kind == k) return true;
  for (const auto& st : a.statements) {
    if (st.kind == k) return true;
    for (const auto& op : st.operations)
      if (op.kind == k) return true;
  }
  return false;
}

}  // namespace

bool RuleSet::has_statement_rules() const {
  return std::any_of(rules.begin(), rules.end(), [](const Rule& r) { return !r.on_connect; });
}

bool RuleSet::has_connect_rules() const {
  return std::any_of(rules.begin(), rules.end(), [](const Rule& r) { return r.on_connect; });
}

bool RuleSet::has_row_rules() const {
  return std::any_of(rules.begin(), rules.end(),
                     [](const Rule& r) { return r.rows_over.has_value(); });
}

bool applies_to(const Rule& rule, const model::Principal& who, std::string_view connection) {
  if (!rule.connections.empty() && !any_glob(rule.connections, connection)) return false;
  if (rule.groups.empty() && rule.subjects.empty()) return true;
  // Approval rules restrict: they follow every group of the identity the
  // token came from, not only those a narrowed token still carries.
  for (const auto& g : rule.groups)
    if (g == "*" || who.restricted_as(g)) return true;
  return any_glob(rule.subjects, who.subject);
}

namespace {

const Rule* first_match(const RuleSet& set, bool rows, const model::Principal& who,
                        std::string_view connection, const model::Analysis& analysis,
                        const std::vector<std::string>& tables) {
  for (const auto& rule : set.rules) {
    if (rule.on_connect || rule.rows_over.has_value() != rows) continue;
    if (!applies_to(rule, who, connection)) continue;
    if (!rule.statements.empty() &&
        std::none_of(rule.statements.begin(), rule.statements.end(),
                     [&](model::Kind k) { return does_kind(analysis, k); }))
      continue;
    if (!rule.tables.empty() &&
        std::none_of(tables.begin(), tables.end(),
                     [&](const std::string& t) { return any_glob(rule.tables, t); }))
      continue;
    return &rule;
  }
  return nullptr;
}

}  // namespace

const Rule* match_statement(const RuleSet& set, const model::Principal& who,
                            std::string_view connection, const model::Analysis& analysis,
                            const std::vector<std::string>& tables) {
  return first_match(set, false, who, connection, analysis, tables);
}

const Rule* match_rows(const RuleSet& set, const model::Principal& who, std::string_view connection,
                       const model::Analysis& analysis, const std::vector<std::string>& tables) {
  return first_match(set, true, who, connection, analysis, tables);
}

const Rule* match_connect(const RuleSet& set, const model::Principal& who,
                          std::string_view connection) {
  for (const auto& rule : set.rules)
    if (rule.on_connect && applies_to(rule, who, connection)) return &rule;
  return nullptr;
}

}  // namespace gh::approvals
