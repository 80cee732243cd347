// The local control socket: `gatehouse reload`, `pause`, `resume` and
// `status` reach a running gateway through a Unix socket in its data_dir.
// Only the gateway's own user (or root) may connect: the socket is created
// mode 0600 and each peer's credentials are checked. One line in (the
// command), the answer out, then the connection closes. The HTTPS admin API
// will offer the same operations to callers identified by their token.
#pragma once

#include <memory>
#include <string>

#include "base/expected.h"
#include "gateway/services.h"

namespace boost::asio {
class io_context;
}

namespace gh::admin {

class ControlSocket {
 public:
  // Binds `path` (replacing a stale socket left by a stopped gateway) and
  // serves commands on `ctx` — not an I/O thread: a reload reads files.
  static Expected<std::unique_ptr<ControlSocket>> open(boost::asio::io_context& ctx,
                                                       gateway::Services& services,
                                                       const std::string& path);
  virtual ~ControlSocket() = default;
  virtual void close() = 0;
};

// The socket's place for a gateway whose data_dir is `data_dir`.
std::string control_socket_path(const std::string& data_dir);

// The client side: sends `command`, returns the gateway's answer. The first
// line of the answer is "ok …" or "error …".
Expected<std::string> control_request(const std::string& path, const std::string& command);

// Runs one command against a service and returns the answer text (also what
// the socket sends); exposed for tests.
std::string run_control_command(gateway::Services& services, const std::string& command,
                                const std::string& source = "control socket");

}  // namespace gh::admin
