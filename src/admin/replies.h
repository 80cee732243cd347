// How the admin API answers: JSON bodies, errors as {"error": …}, and times
// as RFC 3339 in UTC. Shared by every handler file of the API.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "admin/api.h"

namespace gh::admin {

inline HttpResponse reply(int status, const nlohmann::json& body) {
  return {status, body.dump()};
}

inline HttpResponse error(int status, const std::string& message) {
  return reply(status, nlohmann::json{{"error", message}});
}

// A query string's k=v pairs, percent-decoded ('+' is a space); nullopt on a
// malformed escape.
std::optional<std::map<std::string, std::string>> parse_query(const std::string& query);

// "2026-01-02T03:04:05Z" (with `micros`, "…05.123456Z"); "" for 0 or less.
std::string rfc3339(std::int64_t unix_us, bool micros = false);

}  // namespace gh::admin
