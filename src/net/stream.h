// A byte stream to a peer, plain TCP or TLS, behind one interface so that the
// protocol adapters do not care which (and do not instantiate Asio's templates
// twice). All operations are coroutines that report errors through an
// error_code rather than throwing.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "base/expected.h"

namespace gh::net {

using boost::asio::awaitable;
using boost::system::error_code;

class Stream {
 public:
  virtual ~Stream() = default;
  // Reads what is available (at least one byte) into `buf`; 0 with ec on error/EOF.
  virtual awaitable<std::size_t> read_some(std::span<std::uint8_t> buf, error_code& ec) = 0;
  // Writes all of `buf` (backpressure: completes only when the peer took it).
  virtual awaitable<void> write_all(std::span<const std::uint8_t> buf, error_code& ec) = 0;
  // Closes the connection; pending operations complete with an error.
  virtual void close() = 0;
  virtual bool is_tls() const = 0;
  virtual boost::asio::any_io_executor executor() = 0;
  // Completes when the peer sent something or closed, without reading it.
  virtual awaitable<void> wait_readable(error_code& ec) = 0;
  // Whether the peer has closed its side (an orderly FIN or a reset), checked
  // without consuming anything; false while it may still send.
  virtual bool peer_closed() = 0;
};

// Plain TCP. `release()` hands the socket on (to wrap it in TLS after SSLRequest).
std::unique_ptr<Stream> make_tcp_stream(boost::asio::ip::tcp::socket socket);

// Takes the socket back out of a stream made by make_tcp_stream (to wrap it
// in TLS after a protocol-level TLS request).
boost::asio::ip::tcp::socket release_tcp_socket(std::unique_ptr<Stream> plain);

// Wraps a connected socket in TLS and runs the handshake (server or client
// side). For a client, `verify_host` (non-empty) enables hostname/IP checking
// against the peer certificate and sets SNI.
awaitable<Expected<std::unique_ptr<Stream>>> tls_handshake_server(
    boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& ctx);
awaitable<Expected<std::unique_ptr<Stream>>> tls_handshake_client(
    boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& ctx,
    const std::string& verify_host);

// Server-side TLS context: TLS 1.2+, the given certificate chain and key.
Expected<std::shared_ptr<boost::asio::ssl::context>> make_server_tls(const std::string& cert_file,
                                                                     const std::string& key_file);
// Client-side TLS context; with `ca_file` non-empty, peers must chain to it.
Expected<std::shared_ptr<boost::asio::ssl::context>> make_client_tls(bool verify,
                                                                     const std::string& ca_file);

// Connects to host:port (resolving names) within `timeout`.
awaitable<Expected<boost::asio::ip::tcp::socket>> dial(boost::asio::any_io_executor ex,
                                                       const std::string& host, std::uint16_t port,
                                                       std::chrono::milliseconds timeout);

}  // namespace gh::net
