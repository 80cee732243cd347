// The listeners: binds every configured listener, accepts connections and
// hands each to the protocol handler registered for the listener's protocol,
// on the next I/O thread. The composition root registers the handlers, so the
// gateway names no protocol adapter itself.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/expected.h"
#include "config/config.h"
#include "gateway/services.h"
#include "net/io_pool.h"

namespace gh::gateway {

struct ClientInfo {
  std::string address;  // "ip:port"
  bool loopback = false;
  const config::Listener* listener = nullptr;
  std::shared_ptr<boost::asio::ssl::context> tls;  // null when the listener has no TLS
  // Past gateway.max_connections: the handler answers "too many connections"
  // in its protocol's words and closes, without any other work.
  bool over_limit = false;
  // Held while this connection logs in (gateway.max_logins_per_address);
  // the handler releases it once the session has started. Null when the
  // address already has as many logging in: the handler refuses at once.
  std::shared_ptr<void> login_slot;
};

// Counts the connections of each client address that are still logging in.
// Thread-safe; a slot may outlive the limiter (it keeps the counts alive).
class LoginLimiter {
 public:
  explicit LoginLimiter(int per_address);
  // A slot for one more login from `address`; null past the limit.
  std::shared_ptr<void> enter(const std::string& address);

 private:
  struct Counts;
  std::shared_ptr<Counts> counts_;
};

class ProtocolHandler {
 public:
  virtual ~ProtocolHandler() = default;
  // Serves one client connection until it ends. Must not throw for anything
  // the client or upstream sends.
  virtual boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket,
                                             ClientInfo client) = 0;
};

class Server {
 public:
  Server(Services& services, net::IoPool& pool);
  ~Server();

  void register_handler(const std::string& protocol, std::unique_ptr<ProtocolHandler> handler);
  // Binds every listener (all or none). Call before pool.start().
  [[nodiscard]] Status<> start();
  // Stops accepting; sessions in progress continue until they end.
  void stop_accepting();
  // "name=host:port" for each bound listener (port resolved when 0 was asked).
  std::vector<std::string> bound() const;

 private:
  struct Bound;
  boost::asio::awaitable<void> accept_loop(Bound& b);

  Services& services_;
  net::IoPool& pool_;
  std::map<std::string, std::unique_ptr<ProtocolHandler>> handlers_;
  std::vector<std::unique_ptr<Bound>> bound_;
  LoginLimiter logins_;
};

}  // namespace gh::gateway
