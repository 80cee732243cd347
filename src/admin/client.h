// The command line's side of the admin API: one HTTPS request with the
// caller's token, the gateway's certificate verified against a CA and the
// host name or IP address in the URL. Plain http:// only to loopback.
#pragma once

#include <string>

#include "base/expected.h"

namespace gh::admin {

struct ApiTarget {
  std::string url;      // https://host:port (the gateway's admin listener)
  std::string token;    // the caller's own token (secret)
  std::string ca_file;  // empty: the system's trust store
};

struct ApiReply {
  int status = 0;
  std::string body;
};

Expected<ApiReply> api_call(const ApiTarget& target, const std::string& method,
                            const std::string& path, const std::string& body = {});

}  // namespace gh::admin
