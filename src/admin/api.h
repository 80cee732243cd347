// The admin REST API: JSON over HTTPS, every caller identified by the bearer
// token it sends (an IdP token or a gateway token, verified like a session's).
// This file is the transport-free part: a request in, a response out, so the
// rules of who may do what are tested without sockets. http_server.h serves it.
//
//   GET  /healthz                          no token
//   GET  /.well-known/jwks.json            no token: the gateway's public signing keys
//   GET  /v1/reviews[?status=S]            what the caller may see
//   GET  /v1/reviews/{id}
//   POST /v1/reviews/{id}/approve          {"reason": …}
//   POST /v1/reviews/{id}/deny             {"reason": …} (required)
//   POST /v1/access-requests               {"connection", "for", "reason"}
//   POST /v1/tokens                        admins: {"subject", "groups", "ttl", "connections"}
//   POST /v1/tokens/exchange               an IdP token in, a gateway token out
//   POST /v1/keys/rotate                   admins
//   POST /v1/reload | /v1/pause | /v1/resume, GET /v1/status   admins
#pragma once

#include <string>

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
  std::string body;  // JSON
};

class Api {
 public:
  explicit Api(gateway::Services& services) : services_(services) {}
  HttpResponse handle(const HttpRequest& request);

 private:
  gateway::Services& services_;
};

}  // namespace gh::admin
