// Statement-level policy: access rules (actions, table allow-lists) and
// guardrails, evaluated by one pure function. Deny overrides allow; no rule
// that allows means denied; every decision names the rule that made it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/analysis.h"
#include "model/principal.h"
#include "policy/access.h"

namespace gh::policy {

// A deny rule. Its criteria that are given must all match (statements AND
// without_where AND functions AND tables); groups/subjects/connections say to
// whom and where it applies (empty = everyone, everywhere).
struct Guardrail {
  std::string name;
  std::vector<std::string> groups;
  std::vector<std::string> subjects;     // globs
  std::vector<std::string> connections;  // globs
  std::vector<model::Kind> statements;   // top-level kind or anything it does
  bool without_where = false;            // only UPDATE/DELETE without WHERE
  std::vector<std::string> functions;    // name or schema.name globs
  std::vector<std::string> tables;       // schema.table globs
  // Only statements that filter, join, group or order on a column the
  // caller sees masked (a leak by inference): SessionView::masked_predicate.
  bool masked_columns_in_predicates = false;
};

// One version of the whole policy, swapped atomically on reload.
struct Policy {
  std::uint64_t version = 0;
  AccessPolicy access;
  std::vector<Guardrail> guardrails;
};

using PreparedStatements = std::map<std::string, model::AnalysisPtr, std::less<>>;

// A routine the database defines itself (not a built-in), as its catalog says.
struct UserFunction {
  std::string schema;
  bool writes = false;  // VOLATILE, or a procedure: it may change data
};
// The database's routines by name (outside the system schemas).
using UserFunctions = std::map<std::string, std::vector<UserFunction>, std::less<>>;
// Whether a call is judged by the database's catalog: it may name a routine
// outside the system schemas (unqualified names may, too).
inline bool judged_by_catalog(const model::FunctionRef& f) {
  return f.schema != "pg_catalog" && f.schema != "information_schema";
}

// What the decision needs to know of the session.
struct SessionView {
  // Every search_path the session may have now (the one pinned at start and
  // each one set since): an unqualified name must be allowed under all.
  std::vector<std::vector<std::string>> search_paths;
  bool search_path_unknown = false;              // set to a value the gateway could not read
  std::string session_user;                      // what "$user" stands for
  const PreparedStatements* prepared = nullptr;  // SQL-level PREPAREd, by name
  // Opaque functions are judged by the catalog: a call of a routine it says
  // may write counts as a write (unless an access rule's `functions` names
  // it). `user_functions_judged` with a null map (the catalog could not be
  // read) counts every call outside pg_catalog as a write. Not judged: the
  // caller has no catalog at hand (tests of other things).
  bool user_functions_judged = false;
  const UserFunctions* user_functions = nullptr;
  // The first column the message filters, joins, groups or orders on that
  // the caller's masking rules mask ("schema.table.column"); empty when none.
  // Set by the adapter, from column lineage, for guardrails that ask.
  std::string masked_predicate;
};

struct Decision {
  enum class Outcome { kAllow, kDeny, kUnanalyzable };
  Outcome outcome = Outcome::kDeny;
  std::string rule;    // the access rule that allowed, or the rule that denied
  std::string what;    // for the client's message: what was blocked
  std::string detail;  // kind / table / function named
  std::uint64_t policy_version = 0;

  bool allowed() const { return outcome == Outcome::kAllow; }
};

// Names of the built-in rules a decision may carry.
inline constexpr std::string_view kRuleDefaultDeny = "default-deny";
inline constexpr std::string_view kRuleUnanalyzable = "unanalyzable";
inline constexpr std::string_view kRuleSession = "session-statement";

// With `each`: when the whole is allowed, the decision of every statement of
// the analysis in order (the rule that allowed that one), for its own record.
Decision decide(const Policy& policy, const model::Principal& who, std::string_view connection,
                const model::Analysis& analysis, const SessionView& session,
                std::vector<Decision>* each = nullptr);

// What a statement that runs does to the session's search_path: a path it
// sets joins the ones the session may have (past 16 the path is unknown), a
// value the gateway cannot read — or code it cannot read (DO, CALL, dynamic
// SQL) — makes it unknown. Returns whether `view` changed.
bool apply_search_path_effects(SessionView& view, const model::Statement& st);

// Whether any access rule that applies to the caller on this connection can
// admit `read` only (the session may then use read-only credentials).
bool read_only(const Policy& policy, const model::Principal& who, std::string_view connection);

}  // namespace gh::policy
