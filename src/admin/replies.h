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

// Every reply is valid JSON whatever bytes the recorded data holds (a
// statement, an application_name, an error message with bytes that are not
// UTF-8): each invalid byte becomes U+FFFD, as in the gateway's logs. Strict
// dumping would throw and lose the whole reply to one byte.
inline std::string json_text(const nlohmann::json& body) {
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline HttpResponse reply(int status, const nlohmann::json& body) {
  return {status, json_text(body)};
}

inline HttpResponse error(int status, const std::string& message) {
  return reply(status, nlohmann::json{{"error", message}});
}

// "2026-01-02T03:04:05Z" (with `micros`, "…05.123456Z"); "" for 0 or less.
std::string rfc3339(std::int64_t unix_us, bool micros = false);

}  // namespace gh::admin
