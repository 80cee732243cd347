// The PostgreSQL protocol adapter's entry point: a ProtocolHandler the
// composition root registers for listeners with `protocol: postgres`.
#pragma once

#include <memory>

#include "gateway/server.h"
#include "gateway/services.h"

namespace gh::adapters::pg {

// Builds per-connection upstream TLS contexts once; fails on a bad CA file.
Expected<std::unique_ptr<gateway::ProtocolHandler>> make_handler(gateway::Services& services);

}  // namespace gh::adapters::pg
