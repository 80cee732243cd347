#include "net/https_client.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <chrono>
#include <optional>
#include <string>

#include "net/resolve.h"

namespace gh::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string Url::authority() const {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  return !ec && addr.is_loopback();
}

Expected<Url> parse_url(const std::string& url) {
  Url u;
  std::string rest;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    u.tls = false;
    rest = url.substr(7);
  } else {
    return unexpected(std::string("a URL must start with https:// (or http:// on loopback)"));
  }
  if (auto slash = rest.find_first_of("/?#"); slash != std::string::npos) {
    u.target = rest.substr(slash);
    rest.resize(slash);
    if (auto hash = u.target.find('#'); hash != std::string::npos) u.target.resize(hash);
    if (u.target.empty() || u.target[0] != '/') u.target = "/" + u.target;
  }
  if (rest.find('@') != std::string::npos)
    return unexpected(std::string("a URL may not carry credentials before the host"));
  if (rest.starts_with("[")) {
    auto close = rest.find(']');
    if (close == std::string::npos) return unexpected(std::string("malformed IPv6 host in URL"));
    u.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return unexpected(std::string("malformed host in URL"));
      u.port = rest.substr(close + 2);
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    u.host = rest.substr(0, colon);
    u.port = rest.substr(colon + 1);
  } else {
    u.host = rest;
  }
  if (u.port.empty()) u.port = u.tls ? "443" : "80";
  if (u.host.empty()) return unexpected(std::string("the URL names no host"));
  if (u.port.find_first_not_of("0123456789") != std::string::npos || u.port.size() > 5 ||
      std::stoi(u.port) == 0 || std::stoi(u.port) > 65535)
    return unexpected("the URL's port " + u.port + " is not a port number");
  if (!u.tls && !is_loopback_host(u.host))
    return unexpected("http:// is refused for " + u.host +
                      ": secrets travel only over HTTPS, except on loopback");
  return u;
}

namespace {

using asio::redirect_error;
using asio::use_awaitable;

template <class Stream>
asio::awaitable<Expected<HttpsReply>> exchange(Stream& stream, const Url& u,
                                               const HttpsRequest& r) {
  http::request<http::string_body> req{http::string_to_verb(r.method), u.target, 11};
  if (req.method() == http::verb::unknown) co_return unexpected("unknown HTTP method " + r.method);
  req.set(http::field::host, u.host);
  req.set(http::field::user_agent, r.user_agent);
  req.keep_alive(false);  // one request per connection: the peer closes, nothing lingers
  bool typed = false;
  for (const auto& [name, value] : r.headers) {
    req.set(name, value);
    if (beast::iequals(name, "content-type")) typed = true;
  }
  if (!r.body.empty() && !typed) req.set(http::field::content_type, "application/json");
  req.body() = r.body;
  req.prepare_payload();
  beast::error_code ec;
  co_await http::async_write(stream, req, redirect_error(use_awaitable, ec));
  if (ec) co_return unexpected("sending to " + u.authority() + ": " + ec.message());
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(r.max_body);
  co_await http::async_read(stream, buffer, parser, redirect_error(use_awaitable, ec));
  if (ec) co_return unexpected("reading the answer of " + u.authority() + ": " + ec.message());
  HttpsReply reply;
  reply.status = static_cast<int>(parser.get().result_int());
  reply.body = std::move(parser.get().body());
  if (auto it = parser.get().find(http::field::retry_after); it != parser.get().end())
    reply.retry_after = std::string(it->value());
  co_return reply;
}

// The whole exchange; `out` is set as soon as the answer (or an error) is
// known, before the TLS close, so that a peer slow to close costs nothing.
asio::awaitable<void> run_request(const Url& u, const HttpsRequest& r,
                                  std::optional<Expected<HttpsReply>>& out) {
  auto executor = co_await asio::this_coro::executor;
  beast::error_code ec;
  // Not asio's resolver: its lookup thread cannot be stopped, and this
  // io_context's end would wait for it (see net/resolve.h).
  std::uint16_t port = 0;
  try {
    const int p = std::stoi(u.port);
    if (p > 0 && p <= 65535) port = static_cast<std::uint16_t>(p);
  } catch (const std::exception&) {
  }
  if (port == 0) {
    out = unexpected("bad port in " + u.authority());
    co_return;
  }
  auto endpoints = co_await resolve(executor, u.host, port, r.timeout);
  if (!endpoints) {
    out = unexpected(endpoints.error());
    co_return;
  }
  beast::tcp_stream tcp_stream(executor);
  co_await tcp_stream.async_connect(*endpoints, redirect_error(use_awaitable, ec));
  if (ec) {
    out = unexpected("cannot connect to " + u.authority() + ": " + ec.message());
    co_return;
  }
  if (!u.tls) {
    out = co_await exchange(tcp_stream, u, r);
    co_return;
  }

  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  if (!r.ca_file.empty())
    ctx.load_verify_file(r.ca_file, ec);
  else
    ctx.set_default_verify_paths(ec);
  if (ec) {
    out = unexpected("CA file " + r.ca_file + ": " + ec.message());
    co_return;
  }
  ctx.set_verify_mode(asio::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp_stream), ctx);
  // The certificate must name the host or IP address the URL names.
  X509_VERIFY_PARAM* param = SSL_get0_param(stream.native_handle());
  asio::ip::make_address(u.host, ec);
  if (!ec) {
    X509_VERIFY_PARAM_set1_ip_asc(param, u.host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, u.host.c_str(), 0);
    SSL_set_tlsext_host_name(stream.native_handle(), u.host.c_str());
  }
  co_await stream.async_handshake(asio::ssl::stream_base::client,
                                  redirect_error(use_awaitable, ec));
  if (ec) {
    out = unexpected("TLS with " + u.authority() + ": " + ec.message());
    co_return;
  }
  out = co_await exchange(stream, u, r);
  // The peer's close_notify; a truncation here is harmless.
  co_await stream.async_shutdown(redirect_error(use_awaitable, ec));
}

}  // namespace

Expected<HttpsReply> https_request(const HttpsRequest& r) {
  auto u = parse_url(r.url);
  if (!u) return unexpected(u.error());
  // Asynchronous operations on a private io_context, so that the timeout
  // bounds every step (a blocking read would wait for a stalled peer forever).
  std::optional<Expected<HttpsReply>> result;
  try {
    asio::io_context ioc;
    asio::co_spawn(ioc, run_request(*u, r, result), [&](std::exception_ptr e) {
      if (!e || result) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        result = unexpected("HTTPS request to " + u->authority() + " failed: " + ex.what());
      }
    });
    const auto deadline = std::chrono::steady_clock::now() + r.timeout;
    while (!result && ioc.run_one_until(deadline) > 0) {
    }
    // A moment for the orderly TLS close; then whatever is left is dropped.
    if (result) ioc.run_for(std::chrono::milliseconds(250));
  } catch (const std::exception& e) {
    if (!result) result = unexpected("HTTPS request to " + u->authority() + " failed: " + e.what());
  }
  if (!result)
    return unexpected("no answer from " + u->authority() + " within " +
                      std::to_string(r.timeout.count()) + " ms");
  return std::move(*result);
}

}  // namespace gh::net
