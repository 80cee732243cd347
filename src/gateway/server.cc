#include "gateway/server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>
#include <mutex>
#include <unordered_map>

#include "net/stream.h"

namespace gh::gateway {

namespace asio = boost::asio;
using asio::ip::tcp;

struct Server::Bound {
  const config::Listener* listener;
  ProtocolHandler* handler;
  std::shared_ptr<asio::ssl::context> tls;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::uint16_t port = 0;
};

struct LoginLimiter::Counts {
  std::mutex mu;
  std::unordered_map<std::string, int> by_address;
  int limit = 0;
};

LoginLimiter::LoginLimiter(int per_address) : counts_(std::make_shared<Counts>()) {
  counts_->limit = per_address;
}

std::shared_ptr<void> LoginLimiter::enter(const std::string& address) {
  {
    std::lock_guard lock(counts_->mu);
    int& n = counts_->by_address[address];
    if (n >= counts_->limit) return nullptr;
    ++n;
  }
  // Not null (a slot is tested as a pointer); the deleter frees nothing but
  // gives the slot back, and holds the counts, not the limiter.
  return std::shared_ptr<void>(counts_.get(), [counts = counts_, address](void*) {
    std::lock_guard lock(counts->mu);
    auto it = counts->by_address.find(address);
    if (it != counts->by_address.end() && --it->second <= 0) counts->by_address.erase(it);
  });
}

Server::Server(Services& services, net::IoPool& pool)
    : services_(services), pool_(pool), logins_(services.config().gateway.max_logins_per_address) {}
Server::~Server() {
  stop_accepting();
}

void Server::register_handler(const std::string& protocol,
                              std::unique_ptr<ProtocolHandler> handler) {
  handlers_[protocol] = std::move(handler);
}

Status<> Server::start() {
  const auto& cfg = services_.config();
  for (const auto& l : cfg.listeners) {
    auto b = std::make_unique<Bound>();
    b->listener = &l;
    auto h = handlers_.find(l.protocol);
    if (h == handlers_.end())
      return unexpected("listener " + l.name + ": no handler for protocol " + l.protocol);
    b->handler = h->second.get();
    if (!l.cert_file.empty()) {
      auto tls = net::make_server_tls(l.cert_file, l.key_file);
      if (!tls) return unexpected("listener " + l.name + ": " + tls.error());
      b->tls = *tls;
    }
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(l.host, ec);
    if (ec) return unexpected("listener " + l.name + ": bad address " + l.host);
    tcp::endpoint ep(addr, l.port);
    b->acceptor = std::make_unique<tcp::acceptor>(pool_.at(0));
    b->acceptor->open(ep.protocol(), ec);
    if (!ec) b->acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) b->acceptor->bind(ep, ec);
    if (!ec) b->acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return unexpected("listener " + l.name + ": cannot listen on " + l.host + ":" +
                        std::to_string(l.port) + ": " + ec.message());
    b->port = b->acceptor->local_endpoint().port();
    bound_.push_back(std::move(b));
  }
  for (auto& b : bound_) {
    asio::co_spawn(pool_.at(0), accept_loop(*b), asio::detached);
  }
  services_.set_listening(true);
  return Ok{};
}

void Server::stop_accepting() {
  services_.set_listening(false);
  // The acceptors belong to I/O thread 0: close them there, and wait for it.
  auto close_all = [this] {
    for (auto& b : bound_) {
      boost::system::error_code ignored;
      if (b->acceptor) b->acceptor->close(ignored);
    }
  };
  auto& ctx = pool_.at(0);
  if (ctx.stopped() || ctx.get_executor().running_in_this_thread()) {
    close_all();
    return;
  }
  auto done = std::make_shared<std::promise<void>>();
  auto finished = done->get_future();
  asio::post(ctx, [close_all, done] {
    close_all();
    done->set_value();
  });
  // Bounded: a stopped pool never runs the handler.
  finished.wait_for(std::chrono::seconds(5));
}

std::vector<std::string> Server::bound() const {
  std::vector<std::string> out;
  for (const auto& b : bound_)
    out.push_back(b->listener->name + "=" + b->listener->host + ":" + std::to_string(b->port));
  return out;
}

asio::awaitable<void> Server::accept_loop(Bound& b) {
  for (;;) {
    auto& ctx = pool_.next();
    tcp::socket socket(ctx);
    boost::system::error_code ec;
    co_await b.acceptor->async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !b.acceptor->is_open()) co_return;
    if (ec) {
      // Out of descriptors and the like: back off briefly instead of spinning.
      spdlog::warn("listener {}: accept failed: {}", b.listener->name, ec.message());
      asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    ClientInfo client;
    auto remote = socket.remote_endpoint(ec);
    if (ec) continue;  // peer already gone
    client.address = remote.address().to_string() + ":" + std::to_string(remote.port());
    client.loopback =
        remote.address().is_loopback() ||
        (remote.address().is_v6() && remote.address().to_v6().is_v4_mapped() &&
         asio::ip::make_address_v4(asio::ip::v4_mapped, remote.address().to_v6()).is_loopback());
    client.listener = b.listener;
    client.tls = b.tls;
    client.login_slot = logins_.enter(remote.address().to_string());
    auto& open = services_.counters().connections_open;
    client.over_limit = open.fetch_add(1) >= services_.config().gateway.max_connections;
    // Startup time runs from here to the session's start record.
    const config::Listener* listener = b.listener;
    std::string address = client.address;
    if (!client.over_limit) services_.connection_accepted(listener->name, address);
    ProtocolHandler* handler = b.handler;
    // The handler's coroutine itself (no wrapper of its own: a frame less per connection).
    asio::co_spawn(ctx, handler->serve(std::move(socket), std::move(client)),
                   [&open, services = &services_, listener,
                    address = std::move(address)](std::exception_ptr e) {
                     open.fetch_sub(1);
                     services->connection_closed(listener->name, address);
                     if (!e) return;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       spdlog::error("session ended by an unexpected exception: {}", ex.what());
                     }
                   });
  }
}

}  // namespace gh::gateway
