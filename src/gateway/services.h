// What a protocol adapter may call: the gateway's hooks (identify, authorize,
// record), the cancel-key map and the upstream dialer. Adapters get these as
// domain types; none of them sees protocol bytes.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "audit/recorder.h"
#include "config/config.h"
#include "gateway/cancel_registry.h"
#include "identity/verifier.h"
#include "model/audit_event.h"
#include "policy/access.h"

namespace gh::gateway {

struct Counters {
  std::atomic<std::uint64_t> sessions_started{0};
  std::atomic<std::uint64_t> sessions_refused{0};
  std::atomic<std::uint64_t> sessions_active{0};
  std::atomic<std::int64_t> connections_open{0};
  std::atomic<std::uint64_t> statements{0};
  std::atomic<std::uint64_t> protocol_errors{0};
  std::atomic<std::uint64_t> audit_dropped{0};
};

class Services {
 public:
  Services(std::shared_ptr<const config::Config> config,
           std::unique_ptr<identity::TokenVerifier> verifier,
           std::unique_ptr<audit::Recorder> recorder);
  ~Services();

  const config::Config& config() const { return *config_; }
  const identity::TokenVerifier& verifier() const { return *verifier_; }
  const policy::AccessPolicy& access() const { return config_->access; }
  CancelRegistry& cancels() { return cancels_; }
  Counters& counters() { return counters_; }

  // Hands an event to the audit recorder (never blocks). False when the
  // recorder cannot take it.
  bool record(model::AuditEvent event);
  // Whether a new session may start: fail closed when audit cannot keep up.
  bool audit_accepting() const;
  bool audit_enabled() const { return recorder_ != nullptr; }
  void flush_audit();

  // Unique, unguessable session id.
  static std::string new_session_id();

 private:
  std::shared_ptr<const config::Config> config_;
  std::unique_ptr<identity::TokenVerifier> verifier_;
  std::unique_ptr<audit::Recorder> recorder_;
  CancelRegistry cancels_;
  Counters counters_;
};

}  // namespace gh::gateway
