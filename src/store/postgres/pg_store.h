// The shared audit store: the relational store (store/sql) on a PostgreSQL
// database (gateway.store: postgres://…), which several gateway replicas
// write at once — each its own hash chain — and any of them reads.
#pragma once

#include <memory>
#include <string>

#include "audit/reader.h"
#include "audit/recorder.h"
#include "audit/verify.h"
#include "base/expected.h"
#include "store/sql/store.h"

namespace gh::store {

Expected<std::unique_ptr<audit::Store>> open_postgres_store(const std::string& url,
                                                            StoreOptions options = {});

// Verifies the store over one REPEATABLE READ snapshot (sql::verify_store).
Expected<audit::VerifyReport> verify_postgres_store(const std::string& url,
                                                    const audit::SignatureCheck& check);

// Brings the store's schema (audit and cluster tables) up to date.
Status<> migrate_postgres_store(const std::string& url);

// Sessions, transcripts and search over a connection of its own.
Expected<std::unique_ptr<audit::Reader>> open_postgres_reader(const std::string& url);

}  // namespace gh::store
