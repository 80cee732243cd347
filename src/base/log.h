// Logging through spdlog on stderr, as JSON lines (one object per line: ts,
// level, logger, thread, replica, msg) for log shippers, or as text for
// people. Never pass a secret (token, password, key) to a log call; log hashes
// and subjects instead.
#pragma once

#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>

namespace gh::log {

enum class Format { kJson, kText };

// Installs the process-wide logger. `level` is trace..critical.
void init(std::string_view level, std::string_view replica_id, Format format = Format::kJson);

// What init installs on its sink. JSON: every line one valid JSON object,
// whatever the message holds (quotes, newlines, control characters, invalid
// UTF-8). Text: `ts level [replica] msg`, control characters other than
// newline and tab escaped, invalid UTF-8 replaced.
std::unique_ptr<spdlog::formatter> make_formatter(Format format, std::string_view replica_id);

// Escapes a string for embedding in a JSON string literal; invalid UTF-8
// becomes U+FFFD, so the result is always valid JSON text.
std::string json_escape(std::string_view s);

}  // namespace gh::log
