// The admin API's requests before anyone acts on them: which route a method and target name,
// the query string's parameters and the JSON body's fields. Pure functions over the bytes a
// caller sent — no transport, no token, no gateway — so they are tested and fuzzed alone.
// api.h answers the parsed request; http_server.h reads it off the connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/expected.h"

namespace gh::admin {

// The largest body the API reads (the server refuses larger ones before reading them).
inline constexpr std::size_t kMaxBody = 64 * 1024;

// Who may call a route.
enum class Access {
  kOpen,     // anyone: health, readiness, public keys, the API description
  kMetrics,  // anyone, or a verified token with `gateway.admin.metrics: token`
  kCaller,   // a verified token; the handler applies the caller's roles
};

// What a route does: api.cc maps each to its handler.
enum class Endpoint {
  kHealthz,
  kReadyz,
  kMetrics,
  kJwks,
  kOpenApi,
  kListReviews,
  kShowReview,
  kApproveReview,
  kDenyReview,
  kRequestAccess,
  kIssueToken,
  kExchangeToken,
  kRotateKey,
  kControl,
  kAuditTrail,
};

struct Route {
  std::string_view method;
  std::string_view path;  // `{name}` stands for one path segment, as in OpenAPI
  Access access;
  Endpoint endpoint;
};

// Every route the API answers, in the order they are matched.
std::span<const Route> routes();

// A request refused before any handler: the HTTP status and what to tell the caller.
struct RequestError {
  int status = 400;
  std::string message;
};

struct RoutedRequest {
  const Route* route = nullptr;  // never null
  std::string path;              // the target without its query
  std::string query;             // after '?', undecoded; empty when none
  std::string param;             // the route's `{…}` segment, when it has one
};

// The route `method` and `target` (path and query) name: 413 for a body over kMaxBody, 405
// naming the methods the path allows, 404 for a path no route has.
Expected<RoutedRequest, RequestError> route_request(std::string_view method,
                                                    std::string_view target, std::size_t body_size);

// A query string's k=v pairs, percent-decoded ('+' is a space; a repeated key keeps its last
// value); nullopt on a malformed escape.
std::optional<std::map<std::string, std::string>> parse_query(std::string_view query);

// A JSON body: an object, or nothing (an empty object); why not otherwise.
Expected<nlohmann::json> parse_body(std::string_view body);

// Fields of a body, each absent or null meaning empty; `why` says what is wrong otherwise.
std::optional<std::string> string_field(const nlohmann::json& body, const char* key,
                                        std::string& why);
// An array of non-empty strings.
std::optional<std::vector<std::string>> string_list(const nlohmann::json& body, const char* key,
                                                    std::string& why);
// A duration of at least 1s ("15m", "1h"); zero when absent.
std::optional<std::chrono::seconds> duration_field(const nlohmann::json& body, const char* key,
                                                   std::string& why);

}  // namespace gh::admin
