// The `approvals` rules of config.md: which statements (or which sessions,
// with `on: connect`) need a human's approval, whose, and what the approval
// grants. Pure data and pure matching.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/analysis.h"
#include "model/principal.h"

namespace gh::approvals {

// wait: the statement is held and the client told at once; it runs when
// approved. reject: it fails now naming the request; the retry runs once
// approved.
enum class Mode { kWait, kReject };

struct Rule {
  std::string name;
  // To whom it applies (the requester): empty lists = everyone.
  std::vector<std::string> groups;
  std::vector<std::string> subjects;     // globs
  std::vector<std::string> connections;  // globs
  // What it applies to. Every criterion given must match.
  std::vector<model::Kind> statements;  // top-level kind or anything it does
  std::vector<std::string> tables;      // schema.table globs: any table read or written
  bool on_connect = false;              // the session itself needs an access window
  // A row threshold: the statement runs, and a result of more rows than this
  // needs approval (nothing of it reaches the client; see postgres.md).
  std::optional<std::uint64_t> rows_over;
  // Who decides.
  std::vector<std::string> approver_groups;
  int count = 1;  // distinct people
  Mode mode = Mode::kReject;
  // What an approval grants: once (nullopt), or re-runs (a window, for
  // on_connect) for this long from the approval.
  std::optional<std::chrono::seconds> grant;
  std::chrono::seconds expires{3600};  // a pending request lapses after this
  std::chrono::seconds timeout{600};   // wait mode: how long a statement is held at most
};

struct RuleSet {
  std::vector<Rule> rules;
  bool has_statement_rules() const;
  bool has_connect_rules() const;
  bool has_row_rules() const;
};

// Whether `rule` applies to this requester on this connection at all.
bool applies_to(const Rule& rule, const model::Principal& who, std::string_view connection);

// The first statement rule without a row threshold that matches (config
// order), or null: the statement is held before it runs. `tables` are the
// statement's relations, schema-qualified as the decision resolved them.
const Rule* match_statement(const RuleSet& set, const model::Principal& who,
                            std::string_view connection, const model::Analysis& analysis,
                            const std::vector<std::string>& tables);

// The first rule with a row threshold that matches, or null: the statement
// runs, and its result is counted.
const Rule* match_rows(const RuleSet& set, const model::Principal& who, std::string_view connection,
                       const model::Analysis& analysis, const std::vector<std::string>& tables);

// The first `on: connect` rule for this requester and connection, or null.
const Rule* match_connect(const RuleSet& set, const model::Principal& who,
                          std::string_view connection);

}  // namespace gh::approvals
