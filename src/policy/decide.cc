#include "policy/decide.h"

#include <algorithm>
#include <memory>
#include <optional>

#include "sql/analyzer.h"

namespace gh::policy {

namespace {

using model::Kind;
using model::StatementClass;
using Outcome = Decision::Outcome;

bool any_glob(const std::vector<std::string>& globs, std::string_view s) {
  for (const auto& g : globs)
    if (glob_match(g, s)) return true;
  return false;
}

// Whether a rule naming `groups` and `subjects` is aimed at `who`. A grant
// follows the groups the token carries; a restriction also follows those of
// the identity the token came from, so a narrowed token sheds none.
enum class Aim { kGrant, kRestriction };
bool applies_to(const std::vector<std::string>& groups, const std::vector<std::string>& subjects,
                const model::Principal& who, Aim aim) {
  if (groups.empty() && subjects.empty()) return true;
  for (const auto& g : groups)
    if (g == "*" || (aim == Aim::kGrant ? who.in_group(g) : who.restricted_as(g))) return true;
  return any_glob(subjects, who.subject);
}

bool rule_applies(const AccessRule& r, const model::Principal& who, std::string_view connection) {
  if (r.groups.empty() && r.subjects.empty()) return false;  // access rules always name someone
  return applies_to(r.groups, r.subjects, who, Aim::kGrant) && any_glob(r.connections, connection);
}

std::optional<Action> action_of(StatementClass c) {
  switch (c) {
    case StatementClass::kRead:
      return Action::kRead;
    case StatementClass::kWrite:
      return Action::kWrite;
    case StatementClass::kDdl:
      return Action::kDdl;
    case StatementClass::kAdmin:
      return Action::kAdmin;
    default:
      return std::nullopt;
  }
}

std::string_view action_name(Action a) {
  switch (a) {
    case Action::kRead:
      return "read";
    case Action::kWrite:
      return "write";
    case Action::kDdl:
      return "ddl";
    case Action::kAdmin:
      return "admin";
  }
  return "?";
}

bool grants(const AccessRule& r, Action a) {
  return std::find(r.actions.begin(), r.actions.end(), a) != r.actions.end();
}

std::string qualified(const model::Relation& r) {
  return r.schema.empty() ? r.name : r.schema + "." + r.name;
}

// Every schema.table an unqualified relation may be, under every path the
// session may have. Empty when the path is unknown.
std::vector<std::string> candidates(const model::Relation& r, const SessionView& s) {
  std::vector<std::string> out;
  if (!r.schema.empty()) return {r.schema + "." + r.name};
  if (s.search_path_unknown) return {};
  for (const auto& path : s.search_paths) {
    auto schemas = sql::candidate_schemas(r, path, s.session_user);
    // A path under which the name resolves nowhere the gateway can name
    // ("$user" of an unknown user) makes it as unknown as an unread path.
    if (schemas.empty()) return {};
    for (auto& schema : schemas) {
      std::string q = schema + "." + r.name;
      if (std::find(out.begin(), out.end(), q) == out.end()) out.push_back(std::move(q));
    }
  }
  return out;
}

// A function's possible qualified names (unqualified calls resolve through
// pg_catalog first, then the path).
std::vector<std::string> function_names(const model::FunctionRef& f, const SessionView& s) {
  std::vector<std::string> out{f.name};
  if (!f.schema.empty()) {
    out.push_back(f.schema + "." + f.name);
    return out;
  }
  out.push_back("pg_catalog." + f.name);
  for (const auto& path : s.search_paths)
    for (const auto& schema : path)
      if (!schema.empty() && schema != "$user") out.push_back(schema + "." + f.name);
  return out;
}

struct Guarded {
  bool matched = false;
  std::string what;
};

// Whether a guardrail matches one statement; `what` says why.
Guarded guardrail_matches(const Guardrail& g, const model::Statement& st, const SessionView& s) {
  Guarded out;
  std::vector<std::string> reasons;
  if (!g.statements.empty() || g.without_where) {
    bool hit = false;
    auto listed = [&](Kind k) {
      return g.statements.empty() ||
             std::find(g.statements.begin(), g.statements.end(), k) != g.statements.end();
    };
    if (g.without_where) {
      for (const auto& op : st.operations) {
        if (op.without_where && listed(op.kind)) {
          hit = true;
          reasons.push_back(std::string(model::kind_name(op.kind)) + " without WHERE");
          break;
        }
      }
    } else {
      if (listed(st.kind)) {
        hit = true;
        reasons.push_back(std::string(model::kind_name(st.kind)));
      } else {
        for (const auto& op : st.operations) {
          if (listed(op.kind)) {
            hit = true;
            reasons.push_back(std::string(model::kind_name(op.kind)) + " inside " +
                              std::string(model::kind_name(st.kind)));
            break;
          }
        }
        // EXPLAIN ANALYZE EXECUTE and CREATE TABLE … AS EXECUTE execute too.
        if (!hit && !st.executes.empty() && !g.statements.empty() && listed(Kind::kExecute)) {
          hit = true;
          reasons.push_back("execute inside " + std::string(model::kind_name(st.kind)));
        }
      }
    }
    if (!hit) return out;
  }
  if (!g.functions.empty()) {
    bool hit = false;
    for (const auto& f : st.functions) {
      for (const auto& name : function_names(f, s)) {
        if (any_glob(g.functions, name)) {
          hit = true;
          reasons.push_back("function " + (f.schema.empty() ? f.name : f.schema + "." + f.name));
          break;
        }
      }
      if (hit) break;
    }
    if (!hit) return out;
  }
  if (!g.tables.empty()) {
    bool hit = false;
    for (const auto& r : st.relations) {
      auto names = candidates(r, s);
      // An unqualified name under an unknown path may be any table.
      if (names.empty()) hit = true;
      for (const auto& q : names) hit = hit || any_glob(g.tables, q);
      if (hit) {
        reasons.push_back("table " + qualified(r));
        break;
      }
    }
    if (!hit) return out;
  }
  if (g.masked_columns_in_predicates) {
    if (s.masked_predicate.empty()) return out;
    reasons.push_back("a condition on masked column " + s.masked_predicate);
  }
  out.matched = true;
  for (const auto& r : reasons) out.what += (out.what.empty() ? "" : ", ") + r;
  return out;
}

// Catalog relations that hold data or secrets rather than the schema's shape:
// password hashes, user-mapping options, column statistics (sampled values),
// large objects, server configuration files, and what other sessions of the
// gateway's upstream role are running. Read only where a rule's `tables`
// names them (a glob that matches; a rule without `tables` does not).
constexpr std::string_view kSensitiveCatalogs[] = {
    "pg_catalog.pg_authid",
    "pg_catalog.pg_shadow",
    "pg_catalog.pg_user_mapping",
    "pg_catalog.pg_user_mappings",
    "pg_catalog.pg_statistic",
    "pg_catalog.pg_statistic_ext_data",
    "pg_catalog.pg_stats",
    "pg_catalog.pg_stats_ext",
    "pg_catalog.pg_stats_ext_exprs",
    "pg_catalog.pg_largeobject",
    "pg_catalog.pg_file_settings",
    "pg_catalog.pg_hba_file_rules",
    "pg_catalog.pg_ident_file_mappings",
    "pg_catalog.pg_db_role_setting",
    "pg_catalog.pg_subscription",
    "pg_catalog.pg_stat_activity",
    "pg_catalog.pg_prepared_xacts",
};

bool sensitive_catalog(std::string_view qualified) {
  return std::find(std::begin(kSensitiveCatalogs), std::end(kSensitiveCatalogs), qualified) !=
         std::end(kSensitiveCatalogs);
}

// Schema introspection (psql's \d, information_schema, drivers' metadata):
// readable by anyone granted `read` on the connection, whatever their tables.
bool introspection(std::string_view qualified) {
  return (qualified.starts_with("pg_catalog.") || qualified.starts_with("information_schema.")) &&
         !sensitive_catalog(qualified);
}

// The first routine the statement calls that the catalog says may write (or
// that cannot be judged, the catalog being unreadable), and that no rule
// among `rules` names in its `functions`; "" when there is none. An
// unqualified name counts when any routine of that name outside the system
// schemas may write: overload resolution is the server's, so the gateway
// assumes the worst of the candidates.
std::string writing_call(const model::Statement& st, const SessionView& s,
                         const std::vector<const AccessRule*>& rules) {
  if (!s.user_functions_judged) return {};
  for (const auto& f : st.functions) {
    if (!judged_by_catalog(f)) continue;
    const std::string shown = f.schema.empty() ? f.name : f.schema + "." + f.name;
    bool writes = false;
    std::vector<std::string> names;  // how an allow-list may name it
    if (s.user_functions == nullptr) {
      writes = true;
      names.push_back(shown);
    } else if (auto it = s.user_functions->find(f.name); it != s.user_functions->end()) {
      for (const auto& u : it->second) {
        if (!f.schema.empty() && u.schema != f.schema) continue;
        if (!u.writes) continue;
        writes = true;
        names.push_back(u.schema + "." + f.name);
      }
    }
    if (!writes) continue;
    // Granted when every candidate that may write is named by a rule.
    const bool granted = std::all_of(names.begin(), names.end(), [&](const std::string& n) {
      return std::any_of(rules.begin(), rules.end(), [&](const AccessRule* r) {
        return any_glob(r->functions, n) || any_glob(r->functions, f.name);
      });
    });
    if (!granted) return shown;
  }
  return {};
}

// One statement (an EXECUTE already replaced by what it runs).
Decision decide_statement(const Policy& policy, const model::Principal& who,
                          std::string_view connection, const model::Statement& st,
                          StatementClass cls, const SessionView& s) {
  Decision d;
  d.policy_version = policy.version;
  const std::string kind(model::kind_name(st.kind));

  // Deny rules first: a match blocks whatever the access rules say.
  for (const auto& g : policy.guardrails) {
    if (!applies_to(g.groups, g.subjects, who, Aim::kRestriction)) continue;
    if (!g.connections.empty() && !any_glob(g.connections, connection)) continue;
    auto m = guardrail_matches(g, st, s);
    if (!m.matched) continue;
    d.outcome = Outcome::kDeny;
    d.rule = g.name;
    d.what = m.what;
    d.detail = "statement kind " + kind;
    return d;
  }

  std::vector<const AccessRule*> rules;
  for (const auto& r : policy.access.rules)
    if (rule_applies(r, who, connection)) rules.push_back(&r);

  // A call of the database's own routine that may write makes the statement
  // a write, whatever it looks like (SELECT f()).
  const std::string writer = cls < StatementClass::kWrite ? writing_call(st, s, rules) : "";
  if (!writer.empty()) cls = StatementClass::kWrite;

  // The statement's class must be granted (session statements always are).
  const AccessRule* granting = nullptr;
  auto needed = action_of(cls);
  if (needed) {
    for (const auto* r : rules) {
      if (grants(*r, *needed)) {
        granting = r;
        break;
      }
    }
    if (granting == nullptr) {
      d.outcome = Outcome::kDeny;
      d.rule = std::string(kRuleDefaultDeny);
      d.what = std::string(action_name(*needed)) + " statements (" + kind +
               ") are not granted on " + std::string(connection);
      d.detail = "statement kind " + kind + ", class " + std::string(model::class_name(cls));
      if (!writer.empty()) {
        d.what = "calling " + writer + "() is a write (the catalog says it may change data: " +
                 "VOLATILE, or a procedure), and write statements are not granted on " +
                 std::string(connection);
        d.detail = "statement kind " + kind + ", function " + writer;
      }
      return d;
    }
  }

  // Every relation, under every name it may have, must be allowed by a rule
  // granting what is done to it.
  for (const auto& rel : st.relations) {
    Action act = Action::kRead;
    if (rel.write) act = needed && *needed != Action::kRead ? *needed : Action::kWrite;
    auto names = candidates(rel, s);
    auto allowed_name = [&](const std::string* q) {
      for (const auto* r : rules) {
        if (!grants(*r, act)) continue;
        if (q != nullptr && act == Action::kRead && introspection(*q)) return true;
        if (q != nullptr && any_glob(r->tables, *q)) return true;
        // No `tables`: every table, but not the catalogs that hold data or secrets.
        if (r->tables.empty() && (q == nullptr || !sensitive_catalog(*q))) return true;
      }
      return false;
    };
    bool ok = true;
    std::string failing;
    if (names.empty()) {
      ok = allowed_name(nullptr);
      failing = qualified(rel) + " (search_path unknown)";
    }
    for (const auto& q : names) {
      if (!allowed_name(&q)) {
        ok = false;
        failing = q;
        break;
      }
    }
    if (!ok) {
      d.outcome = Outcome::kDeny;
      d.rule = std::string(kRuleDefaultDeny);
      d.what = std::string(action_name(act)) + " on " + failing + " is not granted";
      d.detail = "statement kind " + kind + ", table " + failing;
      return d;
    }
  }
  d.outcome = Outcome::kAllow;
  d.rule = granting != nullptr ? granting->name : std::string(kRuleSession);
  return d;
}

StatementClass strongest(StatementClass a, StatementClass b) {
  return static_cast<std::uint8_t>(a) >= static_cast<std::uint8_t>(b) ? a : b;
}

Decision unanalyzable(const Policy& policy, std::string why) {
  Decision d;
  d.outcome = Outcome::kUnanalyzable;
  d.rule = std::string(kRuleUnanalyzable);
  d.what = "statement could not be analyzed";
  d.detail = std::move(why);
  d.policy_version = policy.version;
  return d;
}

// What a statement leaves behind for the statements after it in the same
// string (they run after it took effect): the search_path it sets, or makes
// unknowable, and what it PREPAREs. The gateway applies the same once the
// string has run (StatementGate::apply_effects).
class Effects {
 public:
  explicit Effects(const SessionView& session) : session_(session) {}

  const SessionView& view() const { return changed_ ? *changed_ : session_; }

  // What `name` may run: prepared earlier in this string, or before it (a
  // second PREPARE of a name fails, a DEALLOCATE between makes it run the
  // new one; both are decided).
  std::vector<const model::Analysis*> prepared(const std::string& name) const {
    std::vector<const model::Analysis*> out;
    if (auto it = here_.find(name); it != here_.end()) out.push_back(it->second.get());
    if (session_.prepared != nullptr) {
      auto it = session_.prepared->find(name);
      if (it != session_.prepared->end() && it->second) out.push_back(it->second.get());
    }
    return out;
  }

  void apply(const model::Statement& st) {
    // The view is copied only for a statement that may change it.
    const bool may_change = st.search_path_change == model::SearchPathChange::kSet ||
                            st.search_path_change == model::SearchPathChange::kDynamic ||
                            st.kind == Kind::kDo || st.kind == Kind::kCall || st.dynamic_sql;
    if (may_change) {
      SessionView probe = view();
      if (apply_search_path_effects(probe, st)) changed_ = std::move(probe);
    }
    if (!st.prepared_name.empty()) {
      auto one = std::make_shared<model::Analysis>();
      one->ok = true;
      one->kind = st.kind;
      one->cls = st.cls;
      one->statements.push_back(st);
      here_[st.prepared_name] = std::move(one);
    }
  }

 private:
  SessionView& view_for_change() {
    if (!changed_) changed_ = session_;
    return *changed_;
  }

  const SessionView& session_;
  std::optional<SessionView> changed_;
  PreparedStatements here_;
};

}  // namespace

Decision decide(const Policy& policy, const model::Principal& who, std::string_view connection,
                const model::Analysis& analysis, const SessionView& session,
                std::vector<Decision>* each) {
  if (each != nullptr) each->clear();
  if (!analysis.ok) return unanalyzable(policy, analysis.error);
  Decision last;
  last.outcome = Outcome::kAllow;
  last.rule = std::string(kRuleSession);
  last.policy_version = policy.version;
  bool have_rule = false;
  Effects effects(session);
  for (const auto& st : analysis.statements) {
    if (st.kind == Kind::kUnknown) return unanalyzable(policy, "unknown statement");
    const SessionView& view = effects.view();
    Decision d = decide_statement(policy, who, connection, st, st.cls, view);
    if (!d.allowed()) return d;
    // EXECUTE runs what was prepared: it is decided as that statement.
    for (const auto& name : st.executes) {
      auto prepared = effects.prepared(name);
      if (prepared.empty())
        return unanalyzable(policy, "EXECUTE of prepared statement \"" + name +
                                        "\" that the gateway has not seen prepared");
      for (const model::Analysis* p : prepared) {
        if (!p->ok)
          return unanalyzable(
              policy, "EXECUTE of prepared statement \"" + name + "\" that could not be analyzed");
        for (const auto& inner : p->statements) {
          // A PREPARE's own analysis is that of its query, with kind prepare.
          model::Statement as_run = inner;
          if (as_run.kind == Kind::kPrepare && !as_run.operations.empty())
            as_run.kind = as_run.operations.front().kind;
          StatementClass cls = strongest(st.cls, inner.cls);
          Decision e = decide_statement(policy, who, connection, as_run, cls, view);
          if (!e.allowed()) return e;
          // What runs is what was prepared: its rule is the one that decided.
          if (e.rule != kRuleSession) d = e;
        }
      }
    }
    if (each != nullptr) each->push_back(d);
    if (!have_rule || d.rule != kRuleSession) {
      last = d;
      have_rule = d.rule != kRuleSession;
    }
    effects.apply(st);
    // What an EXECUTE runs may change the path as well.
    for (const auto& name : st.executes)
      for (const model::Analysis* p : effects.prepared(name))
        for (const auto& inner : p->statements) {
          model::Statement ran = inner;
          ran.prepared_name.clear();
          effects.apply(ran);
        }
  }
  return last;
}

bool apply_search_path_effects(SessionView& view, const model::Statement& st) {
  constexpr std::size_t kMaxSearchPaths = 16;
  bool changed = false;
  auto unknown = [&] {
    changed = changed || !view.search_path_unknown;
    view.search_path_unknown = true;
  };
  switch (st.search_path_change) {
    case model::SearchPathChange::kSet: {
      // The session may now have this path, or (should the SET roll back or
      // fail) the ones it had: names must be allowed under all of them.
      auto& paths = view.search_paths;
      if (std::find(paths.begin(), paths.end(), st.search_path) == paths.end()) {
        if (paths.size() >= kMaxSearchPaths) {
          unknown();
        } else {
          paths.push_back(st.search_path);
          changed = true;
        }
      }
      break;
    }
    case model::SearchPathChange::kDynamic:
      unknown();
      break;
    case model::SearchPathChange::kReset:  // back to the pinned path, which is kept
    case model::SearchPathChange::kNone:
      break;
  }
  // Code the gateway cannot read may set the path as it likes.
  if (st.kind == Kind::kDo || st.kind == Kind::kCall || st.dynamic_sql) unknown();
  return changed;
}

bool read_only(const Policy& policy, const model::Principal& who, std::string_view connection) {
  bool any = false;
  for (const auto& r : policy.access.rules) {
    if (!rule_applies(r, who, connection)) continue;
    any = true;
    for (auto a : r.actions)
      if (a != Action::kRead) return false;
  }
  return any;
}

}  // namespace gh::policy
