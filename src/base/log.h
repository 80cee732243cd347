// Logging: JSON lines on stderr through spdlog. Never pass a secret (token,
// password, key) to a log call; log hashes and subjects instead.
#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

namespace gh::log {

// Installs the process-wide JSON-lines logger. `level` is trace..critical.
void init(std::string_view level, std::string_view replica_id);

// Escapes a string for embedding in a JSON string literal.
std::string json_escape(std::string_view s);

}  // namespace gh::log
