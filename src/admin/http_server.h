// Serves the admin API (api.h) over HTTPS — or plain HTTP where the config
// says `tls: off`, on loopback only — with Boost.Beast. Runs on the admin
// thread's io_context, never an I/O thread: a reload it serves reads files.
// Bounded: request bodies, header sizes, an idle deadline per connection.
#pragma once

#include <memory>
#include <string>

#include "base/expected.h"
#include "config/config.h"
#include "gateway/services.h"

namespace boost::asio {
class io_context;
}

namespace gh::admin {

class AdminServer {
 public:
  static Expected<std::unique_ptr<AdminServer>> start(boost::asio::io_context& ctx,
                                                      gateway::Services& services,
                                                      const config::AdminListener& listener);
  virtual ~AdminServer() = default;
  virtual void close() = 0;
  // host:port actually bound (the port is real when 0 was asked).
  virtual std::string bound() const = 0;
};

}  // namespace gh::admin
