// Access rules: who may reach which connection, and (evaluated per statement
// once SQL analysis lands) with which actions on which tables. Pure data and
// pure functions: no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/glob.h"
#include "model/principal.h"

namespace gh::policy {

enum class Action { kRead, kWrite, kDdl, kAdmin };

struct AccessRule {
  std::string name;
  std::vector<std::string> groups;       // principal must be in one ("*" = any authenticated)
  std::vector<std::string> subjects;     // or be one of these subjects (globs)
  std::vector<std::string> connections;  // connection-name globs
  std::vector<Action> actions;
  std::vector<std::string> tables;  // schema.table globs; empty = all
  // Routines of the database (name or schema.name globs) that callers under
  // this rule may call whatever their volatility: they do not make a
  // statement a write.
  std::vector<std::string> functions;
};

struct AccessPolicy {
  std::vector<AccessRule> rules;
};

struct ConnectDecision {
  bool allowed = false;
  std::string rule;  // the first rule that admitted the principal; empty when denied
};

// No matching rule means denied.
ConnectDecision may_connect(const AccessPolicy& policy, const model::Principal& who,
                            std::string_view connection);

using gh::glob_match;  // base/glob.h

}  // namespace gh::policy
