// What a protocol adapter may call: the gateway's hooks (identify, authorize,
// record), the cancel-key map and the upstream dialer. Adapters get these as
// domain types; none of them sees protocol bytes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "approvals/broker.h"
#include "audit/reader.h"
#include "audit/recorder.h"
#include "cluster/peers.h"
#include "config/config.h"
#include "gateway/cancel_registry.h"
#include "gateway/function_catalog.h"
#include "gateway/memory_budget.h"
#include "gateway/metrics.h"
#include "gateway/notifier.h"
#include "gateway/relation_catalog.h"
#include "gateway/tokens.h"
#include "identity/verifier.h"
#include "masking/rules.h"
#include "model/audit_event.h"
#include "policy/access.h"
#include "policy/decide.h"
#include "sql/cache.h"

namespace gh::gateway {

struct Counters {
  std::atomic<std::uint64_t> sessions_started{0};
  std::atomic<std::uint64_t> sessions_refused{0};
  std::atomic<std::uint64_t> sessions_active{0};
  std::atomic<std::int64_t> connections_open{0};
  std::atomic<std::uint64_t> statements{0};
  std::atomic<std::uint64_t> protocol_errors{0};
  std::atomic<std::uint64_t> audit_dropped{0};
  std::atomic<std::uint64_t> statements_denied{0};
  std::atomic<std::uint64_t> statements_held{0};  // held while the gateway was paused
  std::atomic<std::uint64_t> values_masked{0};
  std::atomic<std::uint64_t> values_withheld{0};
  std::atomic<std::uint64_t> approvals_requested{0};  // requests raised by statements and connects
  std::atomic<std::uint64_t> approvals_waiting{0};    // statements held for a decision right now
  WebhookCounters webhooks;   // approval notices delivered, given up, dropped
  DecisionMetrics decisions;  // statements decided at the gate, by decision, and how long each took
  Histogram session_startup{kStartupBuckets};  // from accept to the session's start record
};

// What the audit recorder has done so far (for /metrics).
struct AuditStats {
  bool enabled = false;
  std::size_t queue_depth = 0;
  std::uint64_t written = 0;
  std::uint64_t failed_batches = 0;
  std::uint64_t dropped_at_stop = 0;  // given up when stop() timed out on a failing store
  std::uint64_t spool_bytes = 0;      // waiting in the spool for the store
  std::uint64_t poisoned = 0;         // set aside: the store rejected them alone
  bool lagging = false;               // the oldest uncommitted record is past the async window
};

// Holds new statements while the gateway is paused. Sessions register a
// waker; resume() calls every waker once (each posts to its own session).
class PauseGate {
 public:
  bool paused() const { return paused_.load(std::memory_order_acquire); }
  // False when already in that state.
  bool pause();
  bool resume();
  std::uint64_t subscribe(std::function<void()> wake);
  void unsubscribe(std::uint64_t id);

 private:
  std::atomic<bool> paused_{false};
  std::mutex mu_;
  std::uint64_t next_ = 1;
  std::map<std::uint64_t, std::function<void()>> waiters_;
};

// The outcome of re-reading the policy.
struct ReloadResult {
  bool applied = false;
  std::uint64_t version = 0;          // in force after the attempt
  std::vector<std::string> problems;  // why it was refused
  std::vector<std::string> notes;     // what changed, what needs a restart
};

class Services {
 public:
  Services(std::shared_ptr<const config::Config> config,
           std::unique_ptr<identity::TokenVerifier> verifier,
           std::unique_ptr<audit::Recorder> recorder);
  ~Services();

  const config::Config& config() const { return *config_; }
  const identity::TokenVerifier& verifier() const { return *verifier_; }
  // The policy in force. A session keeps the snapshot it decided under and
  // checks policy_version() (one atomic load) before each statement.
  std::shared_ptr<const policy::Policy> policy() const;
  std::uint64_t policy_version() const { return version_.load(std::memory_order_acquire); }
  // The masking rules in force, swapped with the rest of the policy.
  std::shared_ptr<const masking::MaskingPolicy> masking() const;
  // The approval rules in force, swapped with the rest of the policy.
  std::shared_ptr<const approvals::RuleSet> approval_rules() const;
  approvals::Broker& approvals() { return *broker_; }
  // The gateway's own token signer; null until set (serve sets it at start).
  TokenService* tokens() { return tokens_.get(); }
  // Takes the signer; the verifier must already list its issuer_config().
  Status<> set_tokens(std::unique_ptr<TokenService> tokens);
  // A new signing key, published at once; the previous keys stay valid.
  Expected<std::string> rotate_signing_key(const std::string& actor);
  // Records a token the gateway signed (never the token).
  void record_token(const std::string& action, const std::string& actor, const TokenClaims& claims,
                    const MintedToken& minted);

  // OIDC discovery: asks for `issuer`'s keys to be fetched again because a
  // token named a key they lack. `done(true)` once fresh keys are in place
  // (verify the token again), `done(false)` when nothing new was fetched (not
  // a discovery issuer, the refresh rate limit, a failed fetch). `done` may
  // run on another thread, or at once: post, do not block.
  using KeyRefresh = std::function<void(const std::string& issuer, std::function<void(bool)> done)>;
  // Set once, before the listeners start.
  void set_key_refresh(KeyRefresh refresh) { key_refresh_ = std::move(refresh); }
  void refresh_issuer_keys(const std::string& issuer, std::function<void(bool)> done) {
    if (key_refresh_)
      key_refresh_(issuer, std::move(done));
    else
      done(false);
  }

  // Re-reads the configuration file, validates it whole and swaps the policy
  // sections in atomically; on any problem the old policy stays. Logged and
  // audited either way. Thread-safe.
  ReloadResult reload(const std::string& source);
  PauseGate& pause_gate() { return pause_; }
  const PauseGate& pause_gate() const { return pause_; }
  // Pause and resume, logged and audited.
  bool pause(const std::string& source);
  bool resume(const std::string& source);
  sql::AnalysisCache& analyses() { return analyses_; }
  CancelRegistry& cancels() { return cancels_; }
  // Replicas sharing this gateway's store (null for a single gateway): they
  // list and review this replica's approval requests, and find its cancel
  // keys. Set once, before the listeners and the admin API start.
  // Sets their handlers, then starts them; fails when they cannot start.
  Status<> set_peers(std::unique_ptr<cluster::Peers> peers);
  cluster::Peers* peers() const { return peers_.get(); }
  RelationCatalog& relations() { return relations_; }
  FunctionCatalog& functions() { return functions_; }
  Counters& counters() { return counters_; }
  const Counters& counters() const { return counters_; }
  // What sessions hold on their clients' behalf, across the process.
  MemoryBudget& memory() { return memory_; }
  const MemoryBudget& memory() const { return memory_; }

  // Readiness (/readyz): the server says when every listener is bound and
  // when it stops accepting.
  void set_listening(bool up) { listening_.store(up, std::memory_order_release); }
  bool listening() const { return listening_.load(std::memory_order_acquire); }
  // Session startup time without a hook in the adapters: the server notes when
  // it accepted each connection, and the session's start record, which names
  // the same listener and client address, closes the interval
  // (Counters::session_startup). A connection that closes first is forgotten.
  void connection_accepted(const std::string& listener, const std::string& client);
  void connection_closed(const std::string& listener, const std::string& client);

  // Hands an event to the audit recorder (never blocks). False when the
  // recorder cannot take it.
  bool record(model::AuditEvent event);
  // recording.audit_durability: sync, as the gateway started (it decides how
  // the store commits, so a reload does not change it).
  bool sync_audit() const { return recorder_ != nullptr && config_->recording.sync_audit; }
  // The recorder's oldest record not yet committed is past the async window.
  bool audit_lagging() const { return recorder_ != nullptr && recorder_->lagging(); }
  // Hands an event to the recorder and calls `done` once it is on disk (true)
  // or when it will not be (false): the recorder refused it or gave up on it.
  // `done` runs on the writer thread, or at once on the caller's; it must not block.
  void record_durable(model::AuditEvent event, std::function<void(bool)> done);
  // Whether a new session may start: fail closed when audit cannot keep up.
  bool audit_accepting() const;
  bool audit_enabled() const { return recorder_ != nullptr; }
  // Reads the audit trail back (the admin API's sessions and search); null
  // when this gateway does not record. Set once, before the admin API starts.
  audit::Reader* audit_reader() const { return audit_reader_.get(); }
  void set_audit_reader(std::unique_ptr<audit::Reader> reader) {
    audit_reader_ = std::move(reader);
  }
  AuditStats audit_stats() const;
  void flush_audit();

  // Unique, unguessable session id.
  static std::string new_session_id();
  // `prefix` and `bytes` random bytes in hex: ids people and logs may see.
  static std::string random_id(std::string_view prefix, std::size_t bytes);

 private:
  std::shared_ptr<const config::Config> config_;
  std::unique_ptr<identity::TokenVerifier> verifier_;
  std::unique_ptr<audit::Recorder> recorder_;
  std::unique_ptr<audit::Reader> audit_reader_;
  mutable std::mutex policy_mu_;
  std::shared_ptr<const policy::Policy> policy_;
  std::shared_ptr<const masking::MaskingPolicy> masking_;
  std::shared_ptr<const approvals::RuleSet> approval_rules_;
  std::unique_ptr<approvals::Broker> broker_;
  std::unique_ptr<TokenService> tokens_;
  KeyRefresh key_refresh_;
  std::vector<std::uint8_t> masking_key_;  // data_dir/masking.key: the `hash` style's secret
  std::atomic<std::uint64_t> version_{0};
  std::mutex reload_mu_;  // one reload at a time
  PauseGate pause_;
  sql::AnalysisCache analyses_;
  CancelRegistry cancels_;
  RelationCatalog relations_;
  FunctionCatalog functions_;
  Counters counters_;
  MemoryBudget memory_{4ULL << 30};
  std::atomic<bool> listening_{false};
  std::mutex accepted_mu_;
  // listener '\0' client address → when the server accepted the connection.
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> accepted_;
  // Declared after the broker: its threads, which review through the
  // broker, stop first.
  std::unique_ptr<cluster::Peers> peers_;
  // Announces approval requests to `webhooks`; null without any. Declared
  // last: it stops (draining its queue) before the rest goes.
  std::unique_ptr<Notifier> notifier_;
};

}  // namespace gh::gateway
