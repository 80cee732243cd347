// State shared by every PostgreSQL session of one gateway: the services and
// the upstream TLS contexts, built once per connection.
#pragma once

#include <map>
#include <string>

#include "adapters/pg/upstream.h"
#include "gateway/services.h"

namespace gh::adapters::pg {

struct HandlerState {
  gateway::Services& services;
  std::map<std::string, UpstreamTls, std::less<>> upstream_tls;  // by connection name
};

}  // namespace gh::adapters::pg
