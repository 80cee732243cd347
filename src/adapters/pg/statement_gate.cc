#include "adapters/pg/statement_gate.h"

#include <algorithm>
#include <chrono>

#include "identity/verifier.h"
#include "sql/analyzer.h"

namespace gh::adapters::pg {

namespace wire = gh::wire::pg;
using model::Kind;

namespace {

// What replaces a denied statement: text every PostgreSQL parser refuses at
// once (its first word is no keyword), whatever the transaction state.
constexpr std::string_view kRefusedText = "gatehouse denied this statement";
// The statement name a replacement for a denied Execute parses under. A Parse
// that fails creates and replaces nothing, so the name cannot touch a client's.
constexpr std::string_view kRefusedName = "gatehouse-denied";

constexpr std::size_t kMaxVerdicts = 512;
constexpr std::size_t kMaxNamed = 10'000;

// The parameters of one execution, formats and NULLs included: a grant is
// for these values only.
std::string params_hash_of(const wire::Bind& b) {
  std::string canon;
  for (std::size_t i = 0; i < b.params.size(); ++i) {
    canon += std::to_string(b.param_format(i));
    if (!b.params[i]) {
      canon += "N;";
      continue;
    }
    canon += 'V' + std::to_string(b.params[i]->size()) + ':';
    canon.append(reinterpret_cast<const char*>(b.params[i]->data()), b.params[i]->size());
    canon += ';';
  }
  return identity::sha256_hex(canon);
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : ", ") + x;
  return out;
}

model::AnalysisPtr unanalyzable(std::string why) {
  auto a = std::make_shared<model::Analysis>();
  a->error = std::move(why);
  return a;
}

const model::AnalysisPtr& function_call_analysis() {
  static const model::AnalysisPtr a = [] {
    auto x = std::make_shared<model::Analysis>();
    x->ok = true;
    x->kind = Kind::kFunctionCall;
    x->cls = model::class_of(Kind::kFunctionCall);
    model::Statement st;
    st.kind = Kind::kFunctionCall;
    st.cls = x->cls;
    x->statements.push_back(std::move(st));
    return x;
  }();
  return a;
}

}  // namespace

StatementGate::StatementGate(gateway::Services& services, model::Principal principal,
                             std::string connection, const std::string& search_path,
                             std::string session_user)
    : services_(services),
      principal_(std::move(principal)),
      connection_(std::move(connection)),
      policy_(services.policy()) {
  approval_rules_ = services.approval_rules();
  statement_approvals_ = approval_rules_->has_statement_rules();
  row_approvals_ = approval_rules_->has_row_rules();
  view_.search_paths.push_back(sql::parse_search_path(search_path));
  view_.session_user = std::move(session_user);
  view_.prepared = &sql_prepared_;
  view_.user_functions_judged = true;  // calls of the database's own routines
}

void StatementGate::refresh_policy() {
  if (services_.policy_version() != policy_->version) {
    policy_ = services_.policy();
    approval_rules_ = services_.approval_rules();
    statement_approvals_ = approval_rules_->has_statement_rules();
    row_approvals_ = approval_rules_->has_row_rules();
    row_approvals_ = approval_rules_->has_row_rules();
  }
}

model::AnalysisPtr StatementGate::merged(const model::AnalysisPtr& had,
                                         const model::AnalysisPtr& add) {
  if (!had || had == add) return add;
  auto m = std::make_shared<model::Analysis>(*add);
  m->ok = had->ok && add->ok;
  for (const auto& st : had->statements) m->statements.push_back(st);
  if (static_cast<std::uint8_t>(had->cls) > static_cast<std::uint8_t>(m->cls)) m->cls = had->cls;
  if (!m->ok && m->error.empty()) m->error = had->error;
  return m;
}

namespace {

// Whether a statement of `a` (or what an EXECUTE in it runs) calls a routine
// outside the system schemas: the catalog judges such calls.
bool calls_user_functions(const model::Analysis& a, const policy::PreparedStatements& prepared) {
  for (const auto& st : a.statements) {
    for (const auto& f : st.functions)
      if (policy::judged_by_catalog(f)) return true;
    for (const auto& name : st.executes)
      if (auto p = prepared.find(name);
          p != prepared.end() && p->second && calls_user_functions(*p->second, prepared))
        return true;
  }
  return false;
}

}  // namespace

bool StatementGate::needs_function_catalog(std::uint8_t type, Bytes body) {
  if (type != 'Q' && type != 'P') return false;
  std::string_view sql;
  if (type == 'Q') {
    auto q = wire::parse_query(body);
    if (!q) return false;
    sql = q->sql;
  } else {
    auto p = wire::parse_parse(body);
    if (!p) return false;
    sql = p->sql;
  }
  auto a = analysis_of(body, sql);
  // Asked last: a yes marks this session as the one fetching.
  return a->ok && calls_user_functions(*a, sql_prepared_) &&
         services_.functions().wants_fetch(connection_);
}

std::optional<std::pair<std::string_view, std::size_t>> StatementGate::predicate_check(
    std::uint8_t type, Bytes body) {
  if (type != 'Q' && type != 'P') return std::nullopt;
  if (!policy_ ||
      std::none_of(policy_->guardrails.begin(), policy_->guardrails.end(),
                   [](const policy::Guardrail& g) { return g.masked_columns_in_predicates; }))
    return std::nullopt;
  std::string_view sql;
  if (type == 'Q') {
    auto q = wire::parse_query(body);
    if (!q) return std::nullopt;
    sql = q->sql;
  } else {
    auto p = wire::parse_parse(body);
    if (!p) return std::nullopt;
    sql = p->sql;
  }
  auto a = analysis_of(body, sql);
  if (!a->ok) return std::nullopt;
  bool reads = false;
  for (const auto& st : a->statements) reads = reads || !st.relations.empty();
  if (!reads) return std::nullopt;
  return std::make_pair(sql, a->statements.size());
}

model::AnalysisPtr StatementGate::analysis_of(Bytes body, std::string_view sql) {
  if (analyzed_.analysis && analyzed_.body == body.data() && analyzed_.size == body.size())
    return analyzed_.analysis;
  auto a = services_.analyses().get(sql);
  analyzed_ = {body.data(), body.size(), a};
  return a;
}

StatementGate::Verdict StatementGate::decide(const model::AnalysisPtr& analysis) {
  // Calls of the database's own routines are judged by its catalog, which
  // changes on its own schedule: such decisions are not kept.
  // So is one that depends on the columns this message filters on.
  const bool judged_by_catalog =
      calls_user_functions(*analysis, sql_prepared_) ||
      std::any_of(policy_->guardrails.begin(), policy_->guardrails.end(),
                  [](const policy::Guardrail& g) { return g.masked_columns_in_predicates; });
  auto it = verdicts_.find(analysis.get());
  if (!judged_by_catalog && it != verdicts_.end() && it->second.version == policy_->version &&
      it->second.view_generation == view_generation_)
    return it->second.verdict;
  Verdict v;
  std::shared_ptr<const gateway::UserFunctionMap> functions;
  if (judged_by_catalog) functions = services_.functions().get(connection_);
  view_.user_functions = functions.get();
  std::vector<policy::Decision> each;
  const bool several = analysis->ok && analysis->statements.size() > 1;
  v.decision = policy::decide(*policy_, principal_, connection_, *analysis, view_,
                              several ? &each : nullptr);
  view_.user_functions = nullptr;
  v.record = make_record(*analysis, v.decision);
  if (several && v.decision.allowed() && each.size() == analysis->statements.size()) {
    v.records.reserve(each.size());
    for (std::size_t i = 0; i < each.size(); ++i) {
      model::Analysis one;
      one.ok = true;
      one.statements.push_back(analysis->statements[i]);
      one.kind = one.statements.front().kind;
      one.cls = one.statements.front().cls;
      v.records.push_back(make_record(one, each[i]));
    }
  }
  if (judged_by_catalog) return v;
  if (verdicts_.size() >= kMaxVerdicts) verdicts_.clear();
  verdicts_.insert_or_assign(analysis.get(),
                             CachedVerdict{analysis, policy_->version, view_generation_, v});
  return v;
}

void StatementGate::apply_effects(const model::Analysis& a) {
  for (const auto& st : a.statements) {
    if (policy::apply_search_path_effects(view_, st)) ++view_generation_;
    if (!st.prepared_name.empty()) {
      auto one = std::make_shared<model::Analysis>();
      one->ok = true;
      one->kind = st.kind;
      one->cls = st.cls;
      one->statements.push_back(st);
      auto& slot = sql_prepared_[st.prepared_name];
      if (sql_prepared_.size() <= kMaxNamed) slot = merged(slot, one);
      ++view_generation_;
    }
    for (const auto& name : st.executes) {
      auto p = sql_prepared_.find(name);
      if (p != sql_prepared_.end() && p->second) {
        for (const auto& inner : p->second->statements) {
          if (inner.search_path_change == model::SearchPathChange::kNone && !inner.dynamic_sql)
            continue;
          model::Analysis once;
          once.statements.push_back(inner);
          once.statements.back().prepared_name.clear();
          apply_effects(once);
        }
      }
    }
  }
}

Decided StatementGate::make_record(const model::Analysis& a, const policy::Decision& d) const {
  auto r = std::make_shared<model::StatementDecision>();
  r->kind = a.ok ? std::string(model::kind_name(a.kind)) : "unknown";
  r->cls = std::string(model::class_name(a.ok ? a.cls : model::StatementClass::kUnknown));
  r->decision = d.allowed() ? "allow" : "deny";
  r->rule = d.rule;
  r->policy_version = d.policy_version;
  auto add_statement = [&](const model::Statement& st) {
    std::string first_table;
    for (const auto& rel : st.relations) {
      std::string name;
      if (!rel.schema.empty()) {
        name = rel.schema + "." + rel.name;
      } else if (!view_.search_path_unknown) {
        auto c = sql::candidate_schemas(rel, view_.search_paths.front(), view_.session_user);
        name = (c.empty() ? std::string("?") : c.front()) + "." + rel.name;
      } else {
        name = rel.name;
      }
      if (first_table.empty()) first_table = name;
      if (std::find(r->tables.begin(), r->tables.end(), name) == r->tables.end())
        r->tables.push_back(std::move(name));
    }
    if (st.kind == model::Kind::kCopyTo && st.copy_target == "stdout") {
      model::CopyOut c;
      if (!st.copy_query) c.table = first_table;
      c.columns = st.copy_columns;
      c.csv = st.copy_format == "csv";
      c.delimiter = st.copy_delimiter != 0 ? st.copy_delimiter : c.csv ? ',' : '\t';
      c.quote = st.copy_quote;
      r->copy_outs.push_back(std::move(c));
    }
    for (const auto& f : st.functions) {
      std::string name = f.schema.empty() ? f.name : f.schema + "." + f.name;
      if (std::find(r->functions.begin(), r->functions.end(), name) == r->functions.end())
        r->functions.push_back(std::move(name));
    }
  };
  for (const auto& st : a.statements) {
    add_statement(st);
    for (const auto& name : st.executes) {
      auto p = sql_prepared_.find(name);
      if (p == sql_prepared_.end() || !p->second) continue;
      for (const auto& inner : p->second->statements) add_statement(inner);
    }
  }
  return r;
}

std::vector<Text> StatementGate::statement_labels(const model::Analysis& a, std::string_view sql,
                                                  const Verdict& v, const Decided& record) const {
  std::vector<Text> out;
  if (v.records.size() < 2 || v.records.size() != a.statements.size()) return out;
  out.reserve(v.records.size());
  for (std::size_t i = 0; i < v.records.size(); ++i) {
    Decided r = v.records[i];
    if (record && !record->approval_id.empty()) {
      // The grant that let the Query run let each of its statements run.
      auto with = std::make_shared<model::StatementDecision>(*r);
      with->approval_id = record->approval_id;
      r = std::move(with);
    }
    out.push_back(make_text(sql::statement_text(sql, a.statements[i]), std::move(r)));
  }
  return out;
}

std::shared_ptr<const wire::Buffer> StatementGate::denial_for(const policy::Decision& d) const {
  auto out = std::make_shared<wire::Buffer>();
  if (d.outcome == policy::Decision::Outcome::kUnanalyzable) {
    wire::encode_error_response(*out,
                                {.severity = "ERROR",
                                 .sqlstate = "42601",
                                 .message = "gatehouse: statement could not be analyzed; denied",
                                 .detail = d.detail});
  } else {
    const std::string message = "gatehouse: blocked by " + d.rule + ": " + d.what;
    wire::encode_error_response(
        *out, {.severity = "ERROR", .sqlstate = "42501", .message = message, .detail = d.detail});
  }
  return out;
}

StatementGate::Inspection StatementGate::deny(const policy::Decision& d, Decided record,
                                              std::uint8_t type, std::string_view statement_name) {
  services_.counters().statements_denied.fetch_add(1, std::memory_order_relaxed);
  return replaced(denial_for(d), std::move(record), type, statement_name);
}

StatementGate::Inspection StatementGate::replaced(std::shared_ptr<const wire::Buffer> error,
                                                  Decided record, std::uint8_t type,
                                                  std::string_view statement_name) {
  Inspection ins;
  ins.note.decision = std::move(record);
  ins.note.denial = std::move(error);
  ins.replace = true;
  switch (type) {
    case 'P':
      wire::encode_parse(ins.replacement, statement_name, kRefusedText);
      break;
    case 'E':
      wire::encode_parse(ins.replacement, kRefusedName, kRefusedText);
      break;
    default:  // Query, FunctionCall: both are answered by an error and ReadyForQuery
      wire::encode_query(ins.replacement, kRefusedText);
      break;
  }
  return ins;
}

approvals::Binding StatementGate::binding_for(const std::string& text,
                                              std::string params_hash) const {
  approvals::Binding binding;
  binding.subject = principal_.subject;
  binding.issuer = principal_.issuer;
  binding.connection = connection_;
  binding.text_hash = identity::sha256_hex(text);
  binding.fingerprint = identity::sha256_hex(sql::normalize(text).value_or(text));
  binding.params_hash = std::move(params_hash);
  binding.policy_version = policy_->version;
  return binding;
}

std::shared_ptr<RowWatch> StatementGate::watch_rows(const model::Analysis& a, Decided& record,
                                                    const std::string& text,
                                                    const std::string& params_hash) {
  if (!row_approvals_) return nullptr;
  if (a.cls != model::StatementClass::kRead && a.cls != model::StatementClass::kSession)
    return nullptr;
  const approvals::Rule* rule =
      approvals::match_rows(*approval_rules_, principal_, connection_, a, record->tables);
  if (rule == nullptr) return nullptr;
  auto watch = std::make_shared<RowWatch>();
  watch->binding = binding_for(text, params_hash);
  // The approved re-run: its whole result goes through.
  if (auto grant = services_.approvals().use_grant(watch->binding)) {
    auto r = std::make_shared<model::StatementDecision>(*record);
    r->approval_id = grant->id;
    record = std::move(r);
    return nullptr;
  }
  watch->threshold = *rule->rows_over;
  watch->rules = approval_rules_;
  watch->rule = rule;
  watch->shown = redact_ ? redact_(text) : text;
  watch->shown = approvals::shown_to_reviewers(std::move(watch->shown));
  watch->record = record;
  return watch;
}

StatementGate::Withheld StatementGate::rows_exceeded(const RowWatch& w) {
  services_.counters().statements_denied.fetch_add(1, std::memory_order_relaxed);
  approvals::Person requester{principal_.subject, principal_.issuer, principal_.issued_by,
                              principal_.groups};
  auto raised = services_.approvals().raise(w.binding, *w.rule, requester, w.shown, session_id_);
  auto r = std::make_shared<model::StatementDecision>(*w.record);
  r->decision = "deny";
  r->rule = w.rule->name;
  auto out = std::make_shared<wire::Buffer>();
  const std::string over = "the result has more than " + std::to_string(w.threshold) + " rows";
  if (!raised) {
    wire::encode_error_response(
        *out, {.severity = "ERROR",
               .sqlstate = "53400",
               .message = "gatehouse: " + over + " and needs approval (" + w.rule->name +
                          "), but no request could be raised: " + raised.error()});
    return {std::move(out), std::move(r)};
  }
  const approvals::Request& req = raised->request;
  if (raised->created)
    services_.counters().approvals_requested.fetch_add(1, std::memory_order_relaxed);
  r->approval_id = req.id;
  wire::encode_error_response(
      *out,
      {.severity = "ERROR",
       .sqlstate = "42501",
       .message =
           "gatehouse: approval required (" + w.rule->name + "): " + over + ": request " + req.id,
       .detail = "none of the result was sent and the query was cancelled; it needs approval by " +
                 std::to_string(req.count) + " of " + joined(req.approver_groups),
       .hint = "an approver runs `gatehouse reviews approve " + req.id +
               "`; then run the same statement again to receive the whole result"});
  return {std::move(out), std::move(r)};
}

std::optional<StatementGate::Inspection> StatementGate::approval(std::uint8_t type,
                                                                 const model::Analysis& a,
                                                                 Decided& record,
                                                                 const std::string& text,
                                                                 std::string params_hash) {
  const approvals::Rule* rule =
      approvals::match_statement(*approval_rules_, principal_, connection_, a, record->tables);
  if (rule == nullptr) return std::nullopt;
  approvals::Binding binding = binding_for(text, std::move(params_hash));
  auto& broker = services_.approvals();
  if (auto grant = broker.use_grant(binding)) {
    auto r = std::make_shared<model::StatementDecision>(*record);
    r->approval_id = grant->id;
    record = std::move(r);
    return std::nullopt;
  }
  approvals::Person requester{principal_.subject, principal_.issuer, principal_.issued_by,
                              principal_.groups};
  std::string shown = approvals::shown_to_reviewers(redact_ ? redact_(text) : text);
  auto raised = broker.raise(binding, *rule, requester, std::move(shown), session_id_);
  auto refusal_record = [&](const std::string& id) {
    auto r = std::make_shared<model::StatementDecision>(*record);
    r->decision = "deny";
    r->rule = rule->name;
    r->approval_id = id;
    return Decided(std::move(r));
  };
  if (!raised) {
    auto out = std::make_shared<wire::Buffer>();
    wire::encode_error_response(
        *out, {.severity = "ERROR",
               .sqlstate = "53400",
               .message = "gatehouse: approval required (" + rule->name +
                          "), but no request could be raised: " + raised.error()});
    return replaced(std::move(out), refusal_record(""), type, {});
  }
  const approvals::Request& req = raised->request;
  if (raised->created)
    services_.counters().approvals_requested.fetch_add(1, std::memory_order_relaxed);
  const std::string approvers = std::to_string(req.count) + " of " + joined(req.approver_groups);
  if (rule->mode == approvals::Mode::kReject) {
    auto out = std::make_shared<wire::Buffer>();
    wire::encode_error_response(
        *out, {.severity = "ERROR",
               .sqlstate = "42501",
               .message = "gatehouse: approval required (" + rule->name + "): request " + req.id,
               .detail = "this statement needs approval by " + approvers + " before it runs",
               .hint = "an approver runs `gatehouse reviews approve " + req.id +
                       "`; then run the same statement again (the approval is bound to this exact "
                       "text and parameters)"});
    return replaced(std::move(out), refusal_record(req.id), type, {});
  }
  Inspection ins;
  ins.hold = req;
  ins.hold_timeout = rule->timeout;
  ins.note.decision = record;
  return ins;
}

StatementGate::Inspection StatementGate::released(const Inspection& held) {
  Inspection ins;
  auto r = std::make_shared<model::StatementDecision>(*held.note.decision);
  r->approval_id = held.hold->id;
  ins.note.decision = std::move(r);
  for (const Text& t : held.note.statements) {
    auto each = std::make_shared<model::StatementDecision>(
        t->decision ? *t->decision : model::StatementDecision{});
    each->approval_id = held.hold->id;
    ins.note.statements.push_back(std::make_shared<const Label>(Label{t->text, std::move(each)}));
  }
  if (held.held) apply_effects(*held.held);
  return ins;
}

StatementGate::Inspection StatementGate::refused_held(std::uint8_t type, const Inspection& held,
                                                      std::string_view sqlstate,
                                                      const std::string& message,
                                                      const std::string& detail) {
  services_.counters().statements_denied.fetch_add(1, std::memory_order_relaxed);
  auto r = std::make_shared<model::StatementDecision>(*held.note.decision);
  r->decision = "deny";
  r->rule = held.hold->rule;
  r->approval_id = held.hold->id;
  auto out = std::make_shared<wire::Buffer>();
  wire::encode_error_response(
      *out, {.severity = "ERROR", .sqlstate = sqlstate, .message = message, .detail = detail});
  return replaced(std::move(out), std::move(r), type, {});
}

StatementGate::Inspection StatementGate::inspect(std::uint8_t type, Bytes body) {
  const auto began = std::chrono::steady_clock::now();
  Inspection ins = inspect_message(type, body);
  analyzed_ = {};  // valid for this message only: the next may reuse its bytes' place
  if (ins.hold || ins.note.decision)  // a decision was made (not a Bind, Close, decided Execute)
    services_.counters().decisions.observe(ins.hold      ? gateway::Decision::kHold
                                           : ins.replace ? gateway::Decision::kDeny
                                                         : gateway::Decision::kAllow,
                                           std::chrono::steady_clock::now() - began);
  return ins;
}

StatementGate::Inspection StatementGate::inspect_message(std::uint8_t type, Bytes body) {
  switch (type) {
    case 'Q': {
      refresh_policy();
      auto q = wire::parse_query(body);
      auto a = q ? analysis_of(body, q->sql) : unanalyzable("malformed Query message");
      auto v = decide(a);
      if (!v.decision.allowed()) return deny(v.decision, v.record, type, {});
      std::shared_ptr<RowWatch> rows;
      if (statement_approvals_) {
        const std::string text(q->sql);
        if (auto held = approval(type, *a, v.record, text, {})) {
          if (held->hold) {
            held->held = a;  // its effects apply once it runs
            held->note.statements = statement_labels(*a, q->sql, v, v.record);
          }
          return std::move(*held);
        }
        rows = watch_rows(*a, v.record, text, {});
      }
      apply_effects(*a);
      Inspection ins;
      ins.note.decision = v.record;
      ins.note.rows = std::move(rows);
      ins.note.statements = statement_labels(*a, q->sql, v, v.record);
      return ins;
    }
    case 'P': {
      refresh_policy();
      auto p = wire::parse_parse(body);
      if (!p) return {};  // the tracker refuses it; the session does not relay it
      const std::string name(p->statement);
      auto a = analysis_of(body, p->sql);
      auto v = decide(a);
      // The server drops the unnamed statement before it parses a new one.
      if (name.empty()) statements_.erase(name);
      if (!v.decision.allowed()) return deny(v.decision, v.record, type, name);
      apply_effects(*a);
      auto& slot = statements_[name];
      auto entry =
          std::make_shared<Prepared>(Prepared{name.empty() || !slot ? a : merged(slot->analysis, a),
                                              v.record,
                                              policy_->version,
                                              std::make_shared<const std::string>(p->sql),
                                              {}});
      if (statements_.size() <= kMaxNamed) slot = std::move(entry);
      Inspection ins;
      ins.note.decision = v.record;
      return ins;
    }
    case 'B': {
      auto b = wire::parse_bind(body);
      if (!b) return {};
      const std::string portal(b->portal);
      auto stmt = statements_.find(b->statement);
      if (stmt == statements_.end()) {
        portals_.erase(portal);
        return {};
      }
      auto& slot = portals_[portal];
      const bool merge = !portal.empty() && slot;
      if (!merge && !statement_approvals_) {
        slot = stmt->second;
      } else {
        // A portal of its own: it merges what a named portal had, or carries
        // this execution's parameters for the approval binding.
        auto own = std::make_shared<Prepared>(*stmt->second);
        if (merge) {
          own->analysis = merged(slot->analysis, stmt->second->analysis);
          own->version = 0;
        }
        if (statement_approvals_) own->params_hash = params_hash_of(*b);
        slot = std::move(own);
      }
      if (portals_.size() > kMaxNamed) portals_.erase(portal);
      return {};
    }
    case 'C': {
      if (auto c = wire::parse_close(body)) {
        auto& map = c->kind == 'S' ? statements_ : portals_;
        if (auto it = map.find(c->name); it != map.end()) map.erase(it);
      }
      return {};
    }
    case 'E': {
      refresh_policy();
      auto x = wire::parse_execute(body);
      if (!x) return {};
      auto it = portals_.find(x->portal);
      // A portal the gateway did not see bound is a SQL cursor (decided at
      // DECLARE) or does not exist (the server says so).
      if (it == portals_.end() || !it->second) return {};
      Prepared& entry = *it->second;
      const bool approvals_on = statement_approvals_ && entry.text;
      if (entry.version == policy_->version && !approvals_on) return {};
      Inspection ins;
      Decided record = entry.decision;
      if (entry.version != policy_->version) {
        // The policy changed since this statement was decided: decide it again.
        auto v = decide(entry.analysis);
        entry.version = policy_->version;
        entry.decision = v.record;
        record = v.record;
        if (!v.decision.allowed()) return deny(v.decision, v.record, type, {});
        ins.note.decision = v.record;
      }
      if (approvals_on) {
        Decided before = record;
        if (auto held = approval(type, *entry.analysis, record, *entry.text, entry.params_hash))
          return std::move(*held);
        // A portal fetched in batches keeps one count across its Executes.
        if (!entry.rows)
          entry.rows = watch_rows(*entry.analysis, record, *entry.text, entry.params_hash);
        ins.note.rows = entry.rows;
        if (record != before) ins.note.decision = record;  // ran on a grant
      }
      return ins;
    }
    case 'F': {
      refresh_policy();
      auto v = decide(function_call_analysis());
      if (!v.decision.allowed()) return deny(v.decision, v.record, type, {});
      Inspection ins;
      ins.note.decision = v.record;
      return ins;
    }
    default:
      return {};
  }
}

}  // namespace gh::adapters::pg
