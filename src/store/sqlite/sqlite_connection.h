// sql::Connection over one SQLite database file — the only code that
// includes sqlite3.h.
#pragma once

#include <memory>
#include <string>

#include "base/expected.h"
#include "store/sql/connection.h"

namespace gh::store {

enum class SqliteMode { kWrite, kRead };

// kWrite creates the file if needed and is used by one thread at a time (the
// recorder's writer); kRead never creates it and never writes.
// `busy_timeout_ms`: how long a statement waits for another writer's lock.
Expected<std::unique_ptr<sql::Connection>> open_sqlite_connection(const std::string& path,
                                                                  SqliteMode mode,
                                                                  int busy_timeout_ms);

}  // namespace gh::store
