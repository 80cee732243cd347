// The embedded audit store: the relational store (store/sql) on one SQLite
// file in data_dir — WAL mode, one transaction per batch, its schema created
// and migrated (versioned) at open.
#pragma once

#include <memory>
#include <string>

#include "audit/reader.h"
#include "audit/recorder.h"
#include "audit/verify.h"
#include "base/expected.h"
#include "store/sql/store.h"

namespace gh::store {

Expected<std::unique_ptr<audit::Store>> open_sqlite_store(const std::string& path,
                                                          StoreOptions options = {});

// Opens the store read-only (never creating it) and verifies it (sql::verify_store).
Expected<audit::VerifyReport> verify_sqlite_store(const std::string& path,
                                                  const audit::SignatureCheck& check);

// Sessions, transcripts and search over a read-only connection of its own,
// beside the writer (WAL lets both run).
Expected<std::unique_ptr<audit::Reader>> open_sqlite_reader(const std::string& path);

}  // namespace gh::store
