#include "gateway/services.h"

#include <openssl/rand.h>

#include <cstdio>

namespace gh::gateway {

Services::Services(std::shared_ptr<const config::Config> config,
                   std::unique_ptr<identity::TokenVerifier> verifier,
                   std::unique_ptr<audit::Recorder> recorder)
    : config_(std::move(config)), verifier_(std::move(verifier)), recorder_(std::move(recorder)) {}

Services::~Services() = default;

bool Services::record(model::AuditEvent event) {
  if (!recorder_) return true;
  if (recorder_->record(std::move(event))) return true;
  counters_.audit_dropped.fetch_add(1, std::memory_order_relaxed);
  return false;
}

bool Services::audit_accepting() const {
  return !recorder_ || recorder_->accepting();
}

void Services::flush_audit() {
  if (recorder_) recorder_->flush();
}

std::string Services::new_session_id() {
  unsigned char bytes[12];
  if (RAND_bytes(bytes, sizeof bytes) != 1) std::abort();
  std::string id = "s-";
  char hex[3];
  for (unsigned char b : bytes) {
    std::snprintf(hex, sizeof hex, "%02x", b);
    id += hex;
  }
  return id;
}

}  // namespace gh::gateway
