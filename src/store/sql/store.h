// The relational audit store: implements `audit::Store` over any
// sql::Connection — every event a record of this replica's hash chain
// (audit_chain) and a row of its typed table, checkpoints signed into
// audit_checkpoints, retention purges to a checkpoint, schema migrations
// applied at open. The backends (store/sqlite, store/postgres) bring the
// connection and their schema's migrations.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "audit/chain.h"
#include "audit/reader.h"
#include "audit/recorder.h"
#include "audit/verify.h"
#include "base/clock.h"
#include "base/expected.h"
#include "store/sql/connection.h"

namespace gh::store {

struct StoreOptions {
  std::string replica = "gw-1";  // whose chain this store appends to (gateway.id)
  audit::ChainOptions chain;     // checkpoint signing and cadence, retention
  const Clock* clock = nullptr;  // checkpoint times and the retention cutoff; null: the system's
  // Every commit reaches the disk before it returns (audit_durability: sync);
  // otherwise a power loss may take the newest commits (a crash of the
  // gateway alone loses nothing committed).
  bool durable_commits = false;
};

namespace sql {

// One numbered step of a backend's schema. Each runs once, in order, in its
// own transaction; its version is recorded in schema_migrations. Never edit a
// released migration: add one.
struct Migration {
  int version;
  const char* sql;
};

// Brings the schema up to the last of `migrations`, refusing a database a
// newer build has written. Replicas migrating together apply each step once.
Status<> migrate(Connection& conn, std::span<const Migration> migrations);

// Migrates (above), then opens the store on the connection.
Expected<std::unique_ptr<audit::Store>> open_store(std::unique_ptr<Connection> conn,
                                                   std::span<const Migration> migrations,
                                                   StoreOptions options);

// Checks, in one snapshot, every replica's chain from its start (or its
// retention anchor), every checkpoint's signature with `check`, and every
// typed row against the record it was chained as. `chain_version` is the
// schema version the chain arrived with in this backend. Fails only when the
// store cannot be read.
Expected<audit::VerifyReport> verify_store(Connection& conn, int chain_version,
                                           const audit::SignatureCheck& check);

// Sessions, transcripts and search over `conn` (one query at a time).
std::unique_ptr<audit::Reader> make_reader(std::unique_ptr<Connection> conn);

}  // namespace sql
}  // namespace gh::store
