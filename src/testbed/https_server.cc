#include "testbed/https_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <sys/socket.h>

#include <atomic>
#include <cctype>
#include <stdexcept>
#include <thread>

namespace gh::testbed {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct HttpsServer::Impl {
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::unique_ptr<asio::ssl::context> tls;
  mutable std::mutex mu;
  Handler handler;
  std::vector<HttpRequest> seen;
  std::atomic<bool> stopping{false};
  std::thread thread;
  int port = 0;

  template <class Stream>
  void serve(Stream& stream) {
    beast::flat_buffer buffer;
    for (int i = 0; i < 100; ++i) {  // keep-alive, bounded
      http::request<http::string_body> req;
      beast::error_code ec;
      http::read(stream, buffer, req, ec);
      if (ec) return;
      HttpRequest r;
      r.method = std::string(req.method_string());
      r.target = std::string(req.target());
      for (const auto& f : req) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        r.headers[name] = std::string(f.value());
      }
      r.body = req.body();
      Handler h;
      {
        std::lock_guard lock(mu);
        seen.push_back(r);
        h = handler;
      }
      HttpResponse out = h ? h(r) : HttpResponse{404, "{}"};
      http::response<http::string_body> res{static_cast<http::status>(out.status), req.version()};
      res.set(http::field::content_type, out.content_type);
      for (const auto& [k, v] : out.headers) res.set(k, v);
      res.keep_alive(req.keep_alive());
      res.body() = out.body;
      res.prepare_payload();
      http::write(stream, res, ec);
      if (ec || !req.keep_alive()) return;
    }
  }

  void run() {
    while (!stopping.load()) {
      beast::error_code ec;
      tcp::socket socket(ioc);
      acceptor.accept(socket, ec);
      if (ec || stopping.load()) return;
      // A peer that stalls must not hang the test: bound every read and write.
      struct timeval tv {
        5, 0
      };
      setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      try {
        if (tls) {
          beast::ssl_stream<tcp::socket> stream(std::move(socket), *tls);
          stream.handshake(asio::ssl::stream_base::server, ec);
          if (ec) continue;
          serve(stream);
          stream.shutdown(ec);
        } else {
          serve(socket);
          socket.shutdown(tcp::socket::shutdown_both, ec);
        }
      } catch (const std::exception&) {
        // One bad exchange ends that connection only.
      }
    }
  }
};

HttpsServer::HttpsServer(Handler handler, const std::string& cert_file, const std::string& key_file)
    : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  if (!cert_file.empty()) {
    impl_->tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    impl_->tls->use_certificate_chain_file(cert_file);
    impl_->tls->use_private_key_file(key_file, asio::ssl::context::pem);
  }
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  impl_->port = impl_->acceptor.local_endpoint().port();
  impl_->thread = std::thread([this] { impl_->run(); });
}

HttpsServer::~HttpsServer() {
  impl_->stopping.store(true);
  // Wake the blocking accept with a connection of our own.
  try {
    asio::io_context ioc;
    tcp::socket s(ioc);
    beast::error_code ec;
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), impl_->port), ec);
  } catch (...) {
  }
  if (impl_->thread.joinable()) impl_->thread.join();
}

int HttpsServer::port() const {
  return impl_->port;
}

std::string HttpsServer::base_url() const {
  return std::string(impl_->tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(impl_->port);
}

std::vector<HttpRequest> HttpsServer::requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->seen;
}

void HttpsServer::set_handler(Handler handler) {
  std::lock_guard lock(impl_->mu);
  impl_->handler = std::move(handler);
}

}  // namespace gh::testbed
