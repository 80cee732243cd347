#include "net/stream.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cassert>

#include "net/deadline.h"

namespace gh::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr auto kTlsHandshakeTimeout = std::chrono::seconds(15);

// No Nagle delay for a request/response protocol, and TCP keepalive so that a
// peer that vanished (NAT timeout, a laptop gone to sleep) is noticed within
// minutes instead of holding its upstream backend forever.
void tune(tcp::socket& s) {
  error_code ignored;
  s.set_option(tcp::no_delay(true), ignored);
  s.set_option(asio::socket_base::keep_alive(true), ignored);
  int fd = s.native_handle();
  int idle = 60, interval = 15, count = 4;
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

class TcpStream final : public Stream {
 public:
  explicit TcpStream(tcp::socket s) : socket_(std::move(s)) { tune(socket_); }
  awaitable<std::size_t> read_some(std::span<std::uint8_t> buf, error_code& ec) override {
    co_return co_await socket_.async_read_some(asio::buffer(buf.data(), buf.size()),
                                               asio::redirect_error(asio::use_awaitable, ec));
  }
  awaitable<void> write_all(std::span<const std::uint8_t> buf, error_code& ec) override {
    co_await asio::async_write(socket_, asio::buffer(buf.data(), buf.size()),
                               asio::redirect_error(asio::use_awaitable, ec));
  }
  void close() override {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }
  bool is_tls() const override { return false; }
  asio::any_io_executor executor() override { return socket_.get_executor(); }
  tcp::socket release() { return std::move(socket_); }

 private:
  tcp::socket socket_;
};

class TlsStream final : public Stream {
 public:
  TlsStream(tcp::socket s, asio::ssl::context& ctx) : stream_(std::move(s), ctx) {
    tune(stream_.next_layer());
  }
  asio::ssl::stream<tcp::socket>& raw() { return stream_; }

  awaitable<std::size_t> read_some(std::span<std::uint8_t> buf, error_code& ec) override {
    co_return co_await stream_.async_read_some(asio::buffer(buf.data(), buf.size()),
                                               asio::redirect_error(asio::use_awaitable, ec));
  }
  awaitable<void> write_all(std::span<const std::uint8_t> buf, error_code& ec) override {
    co_await asio::async_write(stream_, asio::buffer(buf.data(), buf.size()),
                               asio::redirect_error(asio::use_awaitable, ec));
  }
  void close() override {
    // No TLS close_notify round trip: closing must not wait on a peer that
    // may be the reason we are closing.
    error_code ignored;
    stream_.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.next_layer().close(ignored);
  }
  bool is_tls() const override { return true; }
  asio::any_io_executor executor() override { return stream_.get_executor(); }

 private:
  asio::ssl::stream<tcp::socket> stream_;
};

std::string describe_tls_error(const error_code& ec) {
  std::string what = ec.message();
  if (ec.category() == asio::error::get_ssl_category()) {
    char buf[256];
    ERR_error_string_n(static_cast<unsigned long>(ec.value()), buf, sizeof buf);
    what = buf;
  }
  return what;
}

}  // namespace

std::unique_ptr<Stream> make_tcp_stream(tcp::socket socket) {
  return std::make_unique<TcpStream>(std::move(socket));
}

tcp::socket release_tcp_socket(std::unique_ptr<Stream> plain) {
  auto* tcp_stream = dynamic_cast<TcpStream*>(plain.get());
  assert(tcp_stream != nullptr && "release_tcp_socket needs a plain TCP stream");
  return tcp_stream->release();
}

awaitable<Expected<std::unique_ptr<Stream>>> tls_handshake_server(tcp::socket socket,
                                                                  asio::ssl::context& ctx) {
  auto tls = std::make_unique<TlsStream>(std::move(socket), ctx);
  auto* raw = tls.get();
  Deadline deadline(tls->executor(), kTlsHandshakeTimeout, [raw] { raw->close(); });
  error_code ec;
  co_await tls->raw().async_handshake(asio::ssl::stream_base::server,
                                      asio::redirect_error(asio::use_awaitable, ec));
  if (deadline.fired()) co_return unexpected(std::string("TLS handshake timed out"));
  if (ec) co_return unexpected("TLS handshake failed: " + describe_tls_error(ec));
  co_return std::unique_ptr<Stream>(std::move(tls));
}

awaitable<Expected<std::unique_ptr<Stream>>> tls_handshake_client(tcp::socket socket,
                                                                  asio::ssl::context& ctx,
                                                                  const std::string& verify_host) {
  auto tls = std::make_unique<TlsStream>(std::move(socket), ctx);
  if (!verify_host.empty()) {
    SSL_set_tlsext_host_name(tls->raw().native_handle(), verify_host.c_str());
    tls->raw().set_verify_callback(asio::ssl::host_name_verification(verify_host));
  }
  auto* raw = tls.get();
  Deadline deadline(tls->executor(), kTlsHandshakeTimeout, [raw] { raw->close(); });
  error_code ec;
  co_await tls->raw().async_handshake(asio::ssl::stream_base::client,
                                      asio::redirect_error(asio::use_awaitable, ec));
  if (deadline.fired()) co_return unexpected(std::string("TLS handshake timed out"));
  if (ec) co_return unexpected("TLS handshake failed: " + describe_tls_error(ec));
  co_return std::unique_ptr<Stream>(std::move(tls));
}

Expected<std::shared_ptr<asio::ssl::context>> make_server_tls(const std::string& cert_file,
                                                              const std::string& key_file) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  error_code ec;
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec)
    return unexpected("cannot load TLS certificate " + cert_file + ": " + describe_tls_error(ec));
  ctx->use_private_key_file(key_file, asio::ssl::context::pem, ec);
  if (ec) return unexpected("cannot load TLS key " + key_file + ": " + describe_tls_error(ec));
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    return unexpected("TLS key " + key_file + " does not match certificate " + cert_file);
  // Session resumption keeps reconnect storms (pgbench -C) cheap.
  SSL_CTX_set_session_cache_mode(ctx->native_handle(), SSL_SESS_CACHE_SERVER);
  return ctx;
}

Expected<std::shared_ptr<asio::ssl::context>> make_client_tls(bool verify,
                                                              const std::string& ca_file) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1);
  if (verify) {
    error_code ec;
    if (!ca_file.empty()) {
      ctx->load_verify_file(ca_file, ec);
      if (ec) return unexpected("cannot load CA file " + ca_file + ": " + describe_tls_error(ec));
    } else {
      ctx->set_default_verify_paths(ec);
      if (ec) return unexpected("cannot load the system trust store: " + ec.message());
    }
    ctx->set_verify_mode(asio::ssl::verify_peer);
  } else {
    ctx->set_verify_mode(asio::ssl::verify_none);
  }
  return ctx;
}

awaitable<Expected<tcp::socket>> dial(asio::any_io_executor ex, const std::string& host,
                                      std::uint16_t port, std::chrono::milliseconds timeout) {
  tcp::resolver resolver(ex);
  tcp::socket socket(ex);
  bool timed_out = false;
  Deadline deadline(ex, timeout, [&] {
    timed_out = true;
    resolver.cancel();
    error_code ignored;
    socket.close(ignored);
  });
  error_code ec;
  auto endpoints = co_await resolver.async_resolve(host, std::to_string(port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
  if (timed_out) co_return unexpected("timed out resolving " + host);
  if (ec) co_return unexpected("cannot resolve " + host + ": " + ec.message());
  co_await asio::async_connect(socket, endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (timed_out)
    co_return unexpected("timed out connecting to " + host + ":" + std::to_string(port));
  if (ec)
    co_return unexpected("cannot connect to " + host + ":" + std::to_string(port) + ": " +
                         ec.message());
  deadline.cancel();
  co_return std::move(socket);
}

}  // namespace gh::net
