#include "admin/client.h"

#include "net/https_client.h"

namespace gh::admin {

Expected<ApiReply> api_call(const ApiTarget& target, const std::string& method,
                            const std::string& path, const std::string& body) {
  auto url = net::parse_url(target.url);
  if (!url) return unexpected("gateway URL " + target.url + ": " + url.error());
  net::HttpsRequest req;
  req.method = method;
  // The gateway URL names the listener; the API path replaces any path in it.
  req.url = std::string(url->tls ? "https://" : "http://") + url->authority() + path;
  if (!target.token.empty()) req.headers.emplace_back("Authorization", "Bearer " + target.token);
  req.body = body;
  req.ca_file = target.ca_file;
  req.user_agent = "gatehouse-cli";
  auto reply = net::https_request(req);
  if (!reply) return unexpected("admin API: " + reply.error());
  return ApiReply{reply->status, std::move(reply->body)};
}

}  // namespace gh::admin
