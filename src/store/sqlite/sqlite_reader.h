// Reads the embedded audit store back (sessions, transcripts, search) over a
// read-only connection of its own, beside the writer (WAL lets both run).
#pragma once

#include <memory>
#include <string>

#include "audit/reader.h"
#include "base/expected.h"

namespace gh::store {

Expected<std::unique_ptr<audit::Reader>> open_sqlite_reader(const std::string& path);

}  // namespace gh::store
