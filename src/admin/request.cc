#include "admin/request.h"

#include <algorithm>

#include "base/bytes.h"
#include "base/duration.h"

namespace gh::admin {
namespace {

using Json = nlohmann::json;

constexpr Route kRoutes[] = {
    {"GET", "/healthz", Access::kOpen, Endpoint::kHealthz},
    {"GET", "/readyz", Access::kOpen, Endpoint::kReadyz},
    {"GET", "/metrics", Access::kMetrics, Endpoint::kMetrics},
    {"GET", "/.well-known/jwks.json", Access::kOpen, Endpoint::kJwks},
    {"GET", "/v1/openapi.json", Access::kOpen, Endpoint::kOpenApi},
    {"GET", "/v1/reviews", Access::kCaller, Endpoint::kListReviews},
    {"GET", "/v1/reviews/{id}", Access::kCaller, Endpoint::kShowReview},
    {"POST", "/v1/reviews/{id}/approve", Access::kCaller, Endpoint::kApproveReview},
    {"POST", "/v1/reviews/{id}/deny", Access::kCaller, Endpoint::kDenyReview},
    {"POST", "/v1/access-requests", Access::kCaller, Endpoint::kRequestAccess},
    {"POST", "/v1/tokens", Access::kCaller, Endpoint::kIssueToken},
    {"POST", "/v1/tokens/exchange", Access::kCaller, Endpoint::kExchangeToken},
    {"POST", "/v1/keys/rotate", Access::kCaller, Endpoint::kRotateKey},
    {"POST", "/v1/reload", Access::kCaller, Endpoint::kControl},
    {"POST", "/v1/pause", Access::kCaller, Endpoint::kControl},
    {"POST", "/v1/resume", Access::kCaller, Endpoint::kControl},
    {"GET", "/v1/status", Access::kCaller, Endpoint::kControl},
    {"GET", "/v1/sessions", Access::kCaller, Endpoint::kAuditTrail},
    {"GET", "/v1/sessions/{id}", Access::kCaller, Endpoint::kAuditTrail},
    {"GET", "/v1/audit/search", Access::kCaller, Endpoint::kAuditTrail},
};

// Whether `path` fits `pattern` segment by segment; a `{…}` segment matches
// any non-empty one, whose text goes to `param`.
bool matches(std::string_view pattern, std::string_view path, std::string& param) {
  for (;;) {
    const auto p_end = std::min(pattern.find('/', 1), pattern.size());
    const auto s_end = std::min(path.find('/', 1), path.size());
    const std::string_view want = pattern.substr(0, p_end), got = path.substr(0, s_end);
    if (want.starts_with("/{")) {
      if (got.size() < 2) return false;
      param = std::string(got.substr(1));
    } else if (want != got) {
      return false;
    }
    pattern.remove_prefix(p_end);
    path.remove_prefix(s_end);
    if (pattern.empty() || path.empty()) return pattern.empty() && path.empty();
  }
}

}  // namespace

std::span<const Route> routes() {
  return kRoutes;
}

Expected<RoutedRequest, RequestError> route_request(std::string_view method,
                                                    std::string_view target,
                                                    std::size_t body_size) {
  RoutedRequest out;
  const auto q = target.find('?');
  out.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) out.query = std::string(target.substr(q + 1));
  if (body_size > kMaxBody) return unexpected(RequestError{413, "request body too large"});

  std::string allowed;
  for (const Route& r : routes()) {
    std::string segment;
    if (!matches(r.path, out.path, segment)) continue;
    if (r.method == method) {
      out.route = &r;
      out.param = std::move(segment);
      return out;
    }
    allowed += (allowed.empty() ? "" : " or ") + std::string(r.method);
  }
  if (!allowed.empty()) return unexpected(RequestError{405, "use " + allowed + " " + out.path});
  return unexpected(RequestError{404, "no such endpoint: " + std::string(method) + " " + out.path});
}

std::optional<std::map<std::string, std::string>> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  std::size_t at = 0;
  while (at < query.size()) {
    std::size_t end = query.find('&', at);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(at, end - at);
    at = end + 1;
    if (pair.empty()) continue;
    std::string key, value, *into = &key;
    for (std::size_t i = 0; i < pair.size(); ++i) {
      const char c = pair[i];
      if (c == '=' && into == &key) {
        into = &value;
      } else if (c == '+') {
        *into += ' ';
      } else if (c == '%') {
        if (i + 2 >= pair.size()) return std::nullopt;
        const int hi = hex_digit(pair[i + 1]), lo = hex_digit(pair[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        *into += static_cast<char>(hi * 16 + lo);
        i += 2;
      } else {
        *into += c;
      }
    }
    out[key] = value;
  }
  return out;
}

Expected<Json> parse_body(std::string_view body) {
  if (body.empty()) return Json::object();
  Json j = Json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return unexpected(std::string("the body is not a JSON object"));
  return j;
}

std::optional<std::vector<std::string>> string_list(const Json& j, const char* key,
                                                    std::string& why) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::vector<std::string>{};
  if (!it->is_array()) {
    why = std::string("\"") + key + "\" must be an array of strings";
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const auto& v : *it) {
    if (!v.is_string() || v.get<std::string>().empty()) {
      why = std::string("\"") + key + "\" must be an array of non-empty strings";
      return std::nullopt;
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::optional<std::string> string_field(const Json& j, const char* key, std::string& why) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    why = std::string("\"") + key + "\" must be a string";
    return std::nullopt;
  }
  return it->get<std::string>();
}

std::optional<std::chrono::seconds> duration_field(const Json& j, const char* key,
                                                   std::string& why) {
  auto s = string_field(j, key, why);
  if (!s) return std::nullopt;
  if (s->empty()) return std::chrono::seconds(0);
  auto d = parse_duration(*s);
  if (!d || d->count() < 1000) {
    why = std::string("\"") + key + "\" is not a duration of at least 1s (e.g. 15m, 1h)";
    return std::nullopt;
  }
  return std::chrono::duration_cast<std::chrono::seconds>(*d);
}

}  // namespace gh::admin
