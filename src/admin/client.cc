#include "admin/client.h"

#include <openssl/x509v3.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <chrono>

namespace gh::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTimeout = std::chrono::seconds(15);

struct Url {
  bool tls = true;
  std::string host;
  std::string port;
};

Expected<Url> parse_url(const std::string& url) {
  Url u;
  std::string rest;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    u.tls = false;
    rest = url.substr(7);
  } else {
    return unexpected("gateway URL " + url + " must start with https:// (or http:// on loopback)");
  }
  if (auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  if (rest.starts_with("[")) {
    auto close = rest.find(']');
    if (close == std::string::npos) return unexpected("gateway URL " + url + " is malformed");
    u.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') u.port = rest.substr(close + 2);
  } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    u.host = rest.substr(0, colon);
    u.port = rest.substr(colon + 1);
  } else {
    u.host = rest;
  }
  if (u.port.empty()) u.port = u.tls ? "443" : "80";
  if (u.host.empty()) return unexpected("gateway URL " + url + " names no host");
  if (!u.tls && u.host != "127.0.0.1" && u.host != "::1" && u.host != "localhost")
    return unexpected("http:// is refused for " + u.host +
                      ": tokens travel only over HTTPS, except on loopback");
  return u;
}

template <class Stream>
Expected<ApiReply> exchange(Stream& stream, const Url& u, const std::string& method,
                            const std::string& path, const std::string& token,
                            const std::string& body) {
  http::request<http::string_body> req{http::string_to_verb(method), path, 11};
  req.set(http::field::host, u.host);
  req.set(http::field::user_agent, "gatehouse-cli");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  beast::error_code ec;
  beast::get_lowest_layer(stream).expires_after(kTimeout);
  http::write(stream, req, ec);
  if (ec) return unexpected("sending to the gateway: " + ec.message());
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(16 * 1024 * 1024);
  http::read(stream, buffer, parser, ec);
  if (ec) return unexpected("reading the gateway's answer: " + ec.message());
  return ApiReply{static_cast<int>(parser.get().result_int()), parser.get().body()};
}

}  // namespace

Expected<ApiReply> api_call(const ApiTarget& target, const std::string& method,
                            const std::string& path, const std::string& body) {
  auto u = parse_url(target.url);
  if (!u) return unexpected(u.error());
  try {
    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::error_code ec;
    auto endpoints = resolver.resolve(u->host, u->port, ec);
    if (ec) return unexpected("cannot resolve " + u->host + ": " + ec.message());
    beast::tcp_stream tcp_stream(ioc);
    tcp_stream.expires_after(kTimeout);
    tcp_stream.connect(endpoints, ec);
    if (ec) return unexpected("cannot connect to " + target.url + ": " + ec.message());
    if (!u->tls) return exchange(tcp_stream, *u, method, path, target.token, body);

    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    if (!target.ca_file.empty())
      ctx.load_verify_file(target.ca_file, ec);
    else
      ctx.set_default_verify_paths(ec);
    if (ec) return unexpected("CA " + target.ca_file + ": " + ec.message());
    ctx.set_verify_mode(asio::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp_stream), ctx);
    // The certificate must name the host or IP address the URL names.
    X509_VERIFY_PARAM* param = SSL_get0_param(stream.native_handle());
    asio::ip::make_address(u->host, ec);
    if (!ec) {
      X509_VERIFY_PARAM_set1_ip_asc(param, u->host.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, u->host.c_str(), 0);
      SSL_set_tlsext_host_name(stream.native_handle(), u->host.c_str());
    }
    beast::get_lowest_layer(stream).expires_after(kTimeout);
    stream.handshake(asio::ssl::stream_base::client, ec);
    if (ec) return unexpected("TLS with " + target.url + ": " + ec.message());
    auto reply = exchange(stream, *u, method, path, target.token, body);
    stream.shutdown(ec);  // the gateway's close_notify; a truncation here is harmless
    return reply;
  } catch (const std::exception& e) {
    return unexpected(std::string("admin API call failed: ") + e.what());
  }
}

}  // namespace gh::admin
