#include "adapters/pg/handler.h"

#include "adapters/pg/handler_state.h"
#include "adapters/pg/session.h"

namespace gh::adapters::pg {

namespace {

class Handler final : public gateway::ProtocolHandler {
 public:
  explicit Handler(HandlerState state) : state_(std::move(state)) {}

  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket,
                                     gateway::ClientInfo client) override {
    Session session(state_, std::move(socket), std::move(client));
    co_await session.run();
  }

 private:
  HandlerState state_;
};

}  // namespace

Expected<std::unique_ptr<gateway::ProtocolHandler>> make_handler(gateway::Services& services) {
  HandlerState state{services, {}};
  for (const auto& c : services.config().connections) {
    if (c.protocol != "postgres") continue;
    auto tls = make_upstream_tls(c);
    if (!tls) return unexpected(tls.error());
    state.upstream_tls.emplace(c.name, std::move(*tls));
  }
  return std::unique_ptr<gateway::ProtocolHandler>(std::make_unique<Handler>(std::move(state)));
}

}  // namespace gh::adapters::pg
