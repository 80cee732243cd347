// The embedded audit store: SQLite in data_dir, WAL mode, one transaction per
// batch, schema created and migrated (versioned) at open.
#pragma once

#include <memory>
#include <string>

#include "audit/recorder.h"
#include "base/expected.h"

namespace gh::store {

Expected<std::unique_ptr<audit::Store>> open_sqlite_store(const std::string& path);

}  // namespace gh::store
