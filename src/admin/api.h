// The admin REST API: JSON over HTTPS, every caller identified by the bearer
// token it sends (an IdP token or a gateway token, verified like a session's).
// This file is the transport-free part: a request in, a response out, so the
// rules of who may do what are tested without sockets. http_server.h serves it.
//
//   GET  /healthz                          no token: the process answers
//   GET  /readyz                           no token: 200 when audit, policy and listeners are up
//   GET  /metrics                          Prometheus text; a token only with `metrics: token`
//   GET  /.well-known/jwks.json            no token: the gateway's public signing keys
//   GET  /v1/openapi.json                  no token: this API as an OpenAPI 3.0 document
//   GET  /v1/reviews[?status=S]            what the caller may see
//   GET  /v1/reviews/{id}
//   POST /v1/reviews/{id}/approve          {"reason": …}
//   POST /v1/reviews/{id}/deny             {"reason": …} (required)
//   POST /v1/access-requests               {"connection", "for", "reason"}
//   POST /v1/tokens                        admins: {"subject", "groups", "ttl", "connections"}
//   POST /v1/tokens/exchange               an IdP token in, a gateway token out
//   POST /v1/keys/rotate                   admins
//   POST /v1/reload | /v1/pause | /v1/resume, GET /v1/status   admins
//
// routes() (request.h) is the one list of what the API answers; the OpenAPI
// document (openapi.h) must name exactly these, which a test checks.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "admin/request.h"
#include "gateway/services.h"

namespace gh::admin {

struct HttpRequest {
  std::string method;  // GET, POST, …
  std::string target;  // path and query
  std::string body;
  std::string bearer;  // the Authorization: Bearer token; empty when none
  std::string peer;    // client address, for logs
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

class Api {
 public:
  explicit Api(gateway::Services& services) : services_(services) {}
  // Answers a request, or — when the caller's token names a key that its
  // (OIDC discovery) issuer's keys lack and `may_refresh` — returns nullopt
  // with `refresh_issuer` set: the server fetches that issuer's keys without
  // blocking its thread (gateway/key_refresh.h), then asks again with
  // `may_refresh` false. Never throws: a handler's exception is a 500 and a
  // log line.
  std::optional<HttpResponse> answer(const HttpRequest& request, bool may_refresh,
                                     std::string& refresh_issuer);
  // answer() without a key refresh.
  HttpResponse handle(const HttpRequest& request);

 private:
  std::optional<HttpResponse> handle_route(const Route& route, const HttpRequest& request,
                                           std::string path, std::string query, std::string param,
                                           bool may_refresh, std::string& refresh_issuer);
  gateway::Services& services_;
};

}  // namespace gh::admin
