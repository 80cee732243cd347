// libFuzzer target for the admin API's request parsing (request.h): the route a method and
// target name, the query string, the JSON body and its fields. Contracts:
//   - a routed request is exactly what the route says: its method, its path with the `{…}`
//     segment filled by the parameter, the target's query; a refusal is 413 exactly for a
//     body too large, 405 only where another method has the path, 404 otherwise, with a
//     message that makes a valid JSON reply;
//   - a query string that parses reads back the same after being written out again, and one
//     that does not has a malformed escape;
//   - a body is accepted only as a JSON object, which reads back the same; the field helpers
//     never throw, and what they accept has the promised shape.
//
// Input: byte 0 picks the method; then the target (up to a lone backslash) and the body.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "admin/request.h"

namespace {

using namespace gh::admin;
using Json = nlohmann::json;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

std::string fill(std::string_view pattern, const std::string& param) {
  const auto open = pattern.find('{');
  if (open == std::string_view::npos) return std::string(pattern);
  const auto close = pattern.find('}', open);
  return std::string(pattern.substr(0, open)) + param + std::string(pattern.substr(close + 1));
}

std::string encode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

void check_route(const std::string& method, const std::string& target, std::size_t body_size) {
  auto routed = route_request(method, target, body_size);
  const auto q = target.find('?');
  const std::string path = target.substr(0, q);
  if (routed) {
    check(body_size <= kMaxBody && routed->route != nullptr);
    check(routed->route->method == method && routed->path == path);
    check(fill(routed->route->path, routed->param) == path);
    check(routed->query == (q == std::string::npos ? "" : target.substr(q + 1)));
    return;
  }
  const RequestError& e = routed.error();
  check(!e.message.empty());
  check((e.status == 413) == (body_size > kMaxBody));
  check(e.status == 413 || e.status == 405 || e.status == 404);
  if (e.status == 405) check(route_request("GET", path, 0) || route_request("POST", path, 0));
  // The reply the API sends: always valid JSON, whatever bytes the target held.
  const std::string reply =
      Json{{"error", e.message}}.dump(-1, ' ', false, Json::error_handler_t::replace);
  check(!Json::parse(reply, nullptr, false).is_discarded());
}

void check_query(const std::string& query) {
  auto params = parse_query(query);
  if (!params) {
    check(query.find('%') != std::string::npos);
    return;
  }
  std::string again;
  for (const auto& [k, v] : *params)
    again += (again.empty() ? "" : "&") + encode(k) + "=" + encode(v);
  auto reread = parse_query(again);
  check(reread.has_value() && *reread == *params);
}

void check_body(const std::string& body) {
  auto parsed = parse_body(body);
  if (!parsed) {
    check(!body.empty() && !parsed.error().empty());
    return;
  }
  check(parsed->is_object());
  if (body.empty()) check(parsed->empty());
  const std::string text = parsed->dump();
  check(Json::parse(text, nullptr, false) == *parsed);
  std::string why;
  for (const char* key : {"reason", "subject", "connection"}) {
    why.clear();
    auto s = string_field(*parsed, key, why);
    check(s.has_value() != !why.empty());
  }
  for (const char* key : {"groups", "connections"}) {
    why.clear();
    auto list = string_list(*parsed, key, why);
    check(list.has_value() != !why.empty());
    if (list)
      for (const auto& g : *list) check(!g.empty());
  }
  for (const char* key : {"ttl", "for"}) {
    why.clear();
    auto d = duration_field(*parsed, key, why);
    check(d.has_value() != !why.empty());
    if (d) check(d->count() == 0 || d->count() >= 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  static const char* const kMethods[] = {"GET", "POST", "PUT", "DELETE", "get", ""};
  const auto pick = in.ConsumeIntegral<std::uint8_t>();
  const std::string method =
      pick < 240 ? kMethods[pick % std::size(kMethods)] : in.ConsumeRandomLengthString(8);
  const std::string target = in.ConsumeRandomLengthString(512);
  const std::string body = in.ConsumeRemainingBytesAsString();
  check_route(method, target, body.size());
  check_route(method, target, kMaxBody + 1);
  const auto q = target.find('?');
  check_query(q == std::string::npos ? target : target.substr(q + 1));
  check_body(body);
  return 0;
}
