// Decides every statement a client sends before it reaches the server:
// Query (a multi-statement string as a whole), Parse (the prepared text),
// Execute (decided again when the policy changed since its Parse),
// FunctionCall, and SQL-level PREPARE/EXECUTE through what was prepared.
// Sans-I/O: whole client messages in, what to relay out.
//
// A denied message is not dropped but replaced by one the server refuses at
// the same point (a Query or Parse that does not parse), and the server's
// error is swapped for the gateway's on the way back (StatementTracker). So
// the refusal arrives in order however deep the pipeline, and the server
// itself applies what follows an error: a transaction block is aborted
// (25P02 until ROLLBACK), an implicit transaction is rolled back, and the
// extended protocol skips to Sync.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "adapters/pg/statement_tracker.h"
#include "approvals/broker.h"
#include "gateway/services.h"
#include "model/analysis.h"
#include "model/principal.h"
#include "policy/decide.h"
#include "wire/pg/protocol.h"

namespace gh::adapters::pg {

// A statement whose result needs approval past `threshold` rows (`rows_over`):
// the session holds its rows back until the result ends under it or crosses
// it. A portal fetched in batches counts across its Executes.
struct RowWatch {
  std::uint64_t threshold = 0;
  std::shared_ptr<const approvals::RuleSet> rules;  // keeps `rule` alive
  const approvals::Rule* rule = nullptr;
  approvals::Binding binding;
  std::string shown;  // the statement as reviewers see it (masked)
  Decided record;     // the decision it runs under
  std::uint64_t rows = 0;
};

class StatementGate {
 public:
  StatementGate(gateway::Services& services, model::Principal principal, std::string connection,
                const std::string& search_path, std::string session_user);

  // Messages that carry a statement to decide (and that pause holds).
  static bool is_statement(std::uint8_t type) {
    return type == 'Q' || type == 'P' || type == 'E' || type == 'F';
  }

  struct Inspection {
    ClientNote note;       // for the tracker: the decision, and the denial if any
    bool replace = false;  // relay `replacement` instead of the client's message
    wire::pg::Buffer replacement;
    // Wait mode: hold the message until this request is decided, then call
    // released() or refused_held().
    std::optional<approvals::Request> hold;
    std::chrono::seconds hold_timeout{0};
    model::AnalysisPtr held;  // what a held Query does to the session once it runs
  };
  // A whole client message. Messages that are not decided pass untouched.
  Inspection inspect(std::uint8_t type, Bytes body);
  // Whether deciding this message needs the connection's function catalog
  // fetched first: it calls a routine outside pg_catalog (also through what
  // an EXECUTE runs) and the catalog is not at hand. A yes makes this session
  // the one that fetches it (others keep the expired copy meanwhile).
  bool needs_function_catalog(std::uint8_t type, Bytes body);
  // The text of a Query or Parse whose decision needs to know which masked
  // columns it filters on (a guardrail has masked_columns_in_predicates) and
  // its number of statements; nullopt when none is needed. The adapter then
  // calls set_masked_predicate() before inspect().
  std::optional<std::pair<std::string_view, std::size_t>> predicate_check(std::uint8_t type,
                                                                          Bytes body);
  void set_masked_predicate(std::string column) { view_.masked_predicate = std::move(column); }

  // A held message was approved: it goes on, recorded with the approval.
  Inspection released(const Inspection& held);
  // A held message was not approved: it is replaced like a denial, and the
  // client gets this error instead of the server's.
  Inspection refused_held(std::uint8_t type, const Inspection& held, std::string_view sqlstate,
                          const std::string& message, const std::string& detail);

  // A watched result crossed its threshold: the request is raised (or found),
  // and this is the error the client gets instead of any of the result. The
  // record names the rule and the request.
  struct Withheld {
    std::shared_ptr<const wire::pg::Buffer> error;
    Decided record;
  };
  Withheld rows_exceeded(const RowWatch& watch);

  // How statement texts are shown to reviewers and recorded (masked).
  void set_redactor(std::function<std::string(const std::string&)> redact) {
    redact_ = std::move(redact);
  }
  void set_session_id(std::string id) { session_id_ = std::move(id); }

  const policy::SessionView& view() const { return view_; }
  std::uint64_t decided_under() const { return policy_ ? policy_->version : 0; }

 private:
  struct Prepared {
    model::AnalysisPtr analysis;
    Decided decision;
    std::uint64_t version = 0;                // the policy version it was decided under
    std::shared_ptr<const std::string> text;  // the prepared text (approval binding)
    std::string params_hash;                  // portals: SHA-256 of the bound parameters
    std::shared_ptr<RowWatch> rows;           // portals: the threshold across its Executes
  };
  using PreparedPtr = std::shared_ptr<Prepared>;

  struct Verdict {
    policy::Decision decision;
    Decided record;
    // An allowed analysis of several statements: each one's own record.
    std::vector<Decided> records;
  };
  // Decides an analysis under the current policy and the session's view,
  // through a per-session cache (the analysis is kept alive in it, so its
  // address cannot be reused while cached).
  Verdict decide(const model::AnalysisPtr& analysis);
  // The analysis of a Query's or Parse's text, made once per message:
  // needs_function_catalog() and inspect() of the same message share it.
  model::AnalysisPtr analysis_of(Bytes body, std::string_view sql);
  // inspect() without the metrics: what it does with each message type.
  Inspection inspect_message(std::uint8_t type, Bytes body);
  void refresh_policy();
  // What an allowed statement changes in the session's view.
  void apply_effects(const model::Analysis& a);
  Decided make_record(const model::Analysis& a, const policy::Decision& d) const;
  // The Query's statements, each with its own text (cut from `sql`) and
  // record, carrying `record`'s approval; empty for fewer than two.
  std::vector<Text> statement_labels(const model::Analysis& a, std::string_view sql,
                                     const Verdict& v, const Decided& record) const;
  std::shared_ptr<const wire::pg::Buffer> denial_for(const policy::Decision& d) const;
  Inspection deny(const policy::Decision& d, Decided record, std::uint8_t type,
                  std::string_view statement_name);
  // Replaces the message as for a denial, with `error` for the client.
  Inspection replaced(std::shared_ptr<const wire::pg::Buffer> error, Decided record,
                      std::uint8_t type, std::string_view statement_name);
  // An allowed statement that an approval rule holds: through on a grant
  // (nullopt, `record` then names the approval), refused in reject mode, held in wait mode.
  std::optional<Inspection> approval(std::uint8_t type, const model::Analysis& a, Decided& record,
                                     const std::string& text, std::string params_hash);
  // The row threshold an allowed statement runs under, if a `rows_over` rule
  // matches and no grant lets its whole result through (a grant is used up
  // here and named in `record`). Only statements that read: what a write did
  // cannot be held back.
  std::shared_ptr<RowWatch> watch_rows(const model::Analysis& a, Decided& record,
                                       const std::string& text, const std::string& params_hash);
  approvals::Binding binding_for(const std::string& text, std::string params_hash) const;
  // A named statement or portal already known keeps what it had as well: the
  // server refuses a second Parse/Bind of an existing name, and the gateway
  // must not forget what may still be there.
  static model::AnalysisPtr merged(const model::AnalysisPtr& had, const model::AnalysisPtr& add);

  gateway::Services& services_;
  std::function<std::string(const std::string&)> redact_;
  std::string session_id_;
  std::shared_ptr<const approvals::RuleSet> approval_rules_;
  bool statement_approvals_ = false;  // approval_rules_ has rules for statements
  bool row_approvals_ = false;        // ... and some of them are row thresholds
  model::Principal principal_;
  std::string connection_;
  std::shared_ptr<const policy::Policy> policy_;
  policy::SessionView view_;
  std::uint64_t view_generation_ = 0;  // bumped whenever view_ changes
  struct Analyzed {
    const std::uint8_t* body = nullptr;  // the message it was made of (until inspect() ends)
    std::size_t size = 0;
    model::AnalysisPtr analysis;
  };
  Analyzed analyzed_;
  policy::PreparedStatements sql_prepared_;
  std::map<std::string, PreparedPtr, std::less<>> statements_;  // extended protocol, by name
  std::map<std::string, PreparedPtr, std::less<>> portals_;

  struct CachedVerdict {
    model::AnalysisPtr analysis;
    std::uint64_t version = 0;
    std::uint64_t view_generation = 0;
    Verdict verdict;
  };
  std::unordered_map<const model::Analysis*, CachedVerdict> verdicts_;
};

}  // namespace gh::adapters::pg
