// One blocking HTTPS request for threads that are not I/O threads: the CLI,
// the webhook notifier, the OIDC key fetcher. The server's certificate is
// verified against a CA file (or the system's trust store) and must name the
// host or IP address of the URL. Plain http:// only to loopback. Errors name
// the host and port, never the URL's path or query (a webhook URL is a secret).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "base/expected.h"

namespace gh::net {

struct Url {
  bool tls = true;
  std::string host;  // without brackets for IPv6
  std::string port;
  std::string target = "/";       // path and query
  std::string authority() const;  // host:port, as errors show it
};
// https://host[:port][/path?query] (or http:// to loopback).
Expected<Url> parse_url(const std::string& url);
bool is_loopback_host(const std::string& host);

struct HttpsRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;     // sent with Content-Type application/json unless a header says otherwise
  std::string ca_file;  // empty: the system's trust store
  std::chrono::milliseconds timeout{15'000};  // for the whole exchange
  std::size_t max_body = 16 * 1024 * 1024;
  std::string user_agent = "gatehouse";
};

struct HttpsReply {
  int status = 0;
  std::string body;
  std::string retry_after;  // the Retry-After header, when the server sent one
};

Expected<HttpsReply> https_request(const HttpsRequest& request);

}  // namespace gh::net
