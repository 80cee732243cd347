// The embedded audit store: SQLite in data_dir, WAL mode, one transaction per
// batch, schema created and migrated (versioned) at open. Every event is also
// a record of this replica's hash chain (audit_chain), signed at checkpoints
// (audit_checkpoints); verify_sqlite_store recomputes and checks both.
#pragma once

#include <memory>
#include <string>

#include "audit/chain.h"
#include "audit/recorder.h"
#include "audit/verify.h"
#include "base/clock.h"
#include "base/expected.h"

namespace gh::store {

struct SqliteStoreOptions {
  std::string replica = "gw-1";  // whose chain this store appends to (gateway.id)
  audit::ChainOptions chain;     // checkpoint signing and cadence, retention
  const Clock* clock = nullptr;  // checkpoint times and the retention cutoff; null: the system's
  // Every commit reaches the disk before it returns (audit_durability: sync);
  // otherwise the WAL is synced at checkpoints only and a power loss may take
  // the newest commits (a crash of the gateway alone loses nothing committed).
  bool durable_commits = false;
};

Expected<std::unique_ptr<audit::Store>> open_sqlite_store(const std::string& path,
                                                          SqliteStoreOptions options = {});

// Opens the store read-only (never creating it) and checks, in one snapshot,
// every replica's chain from its start (or its retention anchor), every
// checkpoint's signature with `check`, and every typed row against the record
// it was chained as. Fails only when the store cannot be read.
Expected<audit::VerifyReport> verify_sqlite_store(const std::string& path,
                                                  const audit::SignatureCheck& check);

}  // namespace gh::store
