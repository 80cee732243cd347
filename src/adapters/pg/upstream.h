// Opening a PostgreSQL session upstream with the gateway's own credential:
// TCP (through the dialer), TLS per the connection's `upstream.tls`, the
// startup message, and SCRAM-SHA-256 / MD5 / cleartext as the server asks.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/expected.h"
#include "config/config.h"
#include "net/stream.h"

namespace gh::adapters::pg {

struct UpstreamSession {
  std::unique_ptr<net::Stream> stream;
  std::vector<std::uint8_t> parameter_status;  // the server's ParameterStatus messages, raw
  std::int32_t pid = 0;
  std::int32_t secret = 0;
  char transaction_status = 'I';
  std::vector<std::uint8_t> leftover;  // bytes read past ReadyForQuery
};

struct UpstreamError {
  std::string for_client;  // safe to show: no credential, no upstream user name
  std::string for_log;     // fuller detail for the operator (still no secret)
};

// TLS contexts for a connection, built once at start (not per session).
struct UpstreamTls {
  std::shared_ptr<boost::asio::ssl::context> ctx;  // null for `disable`
};
Expected<UpstreamTls> make_upstream_tls(const config::Connection& c);

// Sends SSLRequest and reads the server's one-byte answer ('S' go on in TLS,
// 'N' no TLS). Exactly one byte is read, so nothing the server sent before
// the handshake can be taken as TLS data. The error is the I/O failure.
// https://www.postgresql.org/docs/15/protocol-flow.html#id-1.10.6.7.12
boost::asio::awaitable<Expected<std::uint8_t>> request_tls(boost::asio::ip::tcp::socket& socket);

boost::asio::awaitable<Expected<UpstreamSession, UpstreamError>> connect_upstream(
    boost::asio::any_io_executor ex, const config::Connection& c, const config::Credentials& cred,
    const UpstreamTls& tls, const std::vector<std::pair<std::string, std::string>>& client_params);

// Forwards a cancel to an upstream backend: a new connection carrying only
// the CancelRequest, as the protocol has it — inside TLS as the connection's
// `tls` says (PostgreSQL reads a CancelRequest after SSLRequest too): the
// backend's secret key is not sent in clear where sessions are not. With
// `disable`, or without a connection (`c` null), in clear.
boost::asio::awaitable<void> send_upstream_cancel(boost::asio::any_io_executor ex,
                                                  const config::Connection* c,
                                                  const UpstreamTls* tls, std::string host,
                                                  std::uint16_t port, std::int32_t pid,
                                                  std::int32_t secret);

}  // namespace gh::adapters::pg
