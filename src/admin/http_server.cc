#include "admin/http_server.h"

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <chrono>

#include "admin/api.h"
#include "gateway/key_refresh.h"
#include "net/stream.h"

namespace gh::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kIdle = std::chrono::seconds(30);
constexpr std::uint32_t kMaxBody = 64 * 1024;
constexpr std::uint32_t kMaxHeader = 16 * 1024;

std::string bearer_of(const http::request<http::string_body>& req) {
  auto it = req.find(http::field::authorization);
  if (it == req.end()) return {};
  std::string_view v = it->value();
  static constexpr std::string_view kPrefix = "Bearer ";
  if (v.size() <= kPrefix.size() || !beast::iequals(v.substr(0, kPrefix.size()), kPrefix))
    return {};
  v.remove_prefix(kPrefix.size());
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  return std::string(v);
}

// Reads until `buffer` holds a whole header block (through its empty line).
// Its length, or 0 when the peer closed, erred, idled or sent more than
// kMaxHeader bytes without ending it (`ec` says which; header_limit for size).
template <class Stream>
asio::awaitable<std::size_t> read_header_block(Stream& stream, beast::flat_buffer& buffer,
                                               beast::error_code& ec) {
  static constexpr std::string_view kEnd = "\r\n\r\n";
  std::size_t searched = 0;
  for (;;) {
    const std::string_view have(static_cast<const char*>(buffer.data().data()), buffer.size());
    if (const auto end = have.find(kEnd, searched); end != std::string_view::npos)
      co_return end + kEnd.size();
    if (have.size() > kMaxHeader) {
      ec = http::error::header_limit;
      co_return 0;
    }
    searched = have.size() < kEnd.size() ? 0 : have.size() - kEnd.size() + 1;
    const std::size_t n = co_await stream.async_read_some(
        buffer.prepare(4096), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return 0;
    buffer.commit(n);
  }
}

// Request shapes an HTTP parser in front of another might read differently
// (RFC 9112 §5.2, §6.1, §6.3): refused rather than guessed at. Beast 1.81
// joins an obs-folded line into one value, and accepts a Transfer-Encoding
// whose last coding is not chunked, so both are checked here.
std::string smuggling_shape(std::string_view header_block,
                            const http::request_parser<http::string_body>& parser) {
  // obs-fold: a header line that begins with a space or a tab.
  for (std::size_t at = header_block.find('\n');
       at != std::string_view::npos && at + 1 < header_block.size();
       at = header_block.find('\n', at + 1))
    if (header_block[at + 1] == ' ' || header_block[at + 1] == '\t')
      return "a header line is folded (obs-fold)";
  const auto& req = parser.get();
  const auto te = req.count(http::field::transfer_encoding);
  if (te > 1) return "Transfer-Encoding is given more than once";
  if (te == 1) {
    std::string_view v = req[http::field::transfer_encoding];
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    if (!beast::iequals(v, "chunked")) return "Transfer-Encoding other than chunked";
    if (req.count(http::field::content_length) != 0)
      return "both Content-Length and Transfer-Encoding";
  }
  if (req.count(http::field::content_length) > 1) return "Content-Length is given more than once";
  return {};
}

template <class Stream>
asio::awaitable<void> refuse_request(Stream& stream, std::string_view why) {
  http::response<http::string_body> bad{http::status::bad_request, 11};
  bad.set(http::field::content_type, "application/json");
  bad.body() = "{\"error\":\"malformed HTTP request: " + std::string(why) + "\"}";
  bad.prepare_payload();
  bad.keep_alive(false);
  beast::error_code ec;
  co_await http::async_write(stream, bad, asio::redirect_error(asio::use_awaitable, ec));
}

bool quiet_end(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == beast::error::timeout ||
         ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
         ec == asio::error::connection_reset || ec == asio::error::operation_aborted;
}

// One connection: requests in order until the client closes, idles or errs.
template <class Stream>
asio::awaitable<void> serve(Stream& stream, Api& api, gateway::Services& services,
                            std::string peer) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kMaxBody);
    parser.header_limit(kMaxHeader);
    beast::error_code ec;
    beast::get_lowest_layer(stream).expires_after(kIdle);
    const std::size_t header_bytes = co_await read_header_block(stream, buffer, ec);
    if (!ec) {
      const std::string header_block(static_cast<const char*>(buffer.data().data()), header_bytes);
      co_await http::async_read_header(stream, buffer, parser,
                                       asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) {
        if (auto why = smuggling_shape(header_block, parser); !why.empty()) {
          spdlog::info("admin API: request from {} refused: {}", peer, why);
          co_await refuse_request(stream, why);
          co_return;
        }
        co_await http::async_read(stream, buffer, parser,
                                  asio::redirect_error(asio::use_awaitable, ec));
      }
    }
    if (ec) {
      // Bad input gets an answer, not a silent close.
      if (!quiet_end(ec) || buffer.size() > 0) co_await refuse_request(stream, ec.message());
      co_return;
    }
    auto& req = parser.get();
    HttpRequest in{std::string(req.method_string()), std::string(req.target()), req.body(),
                   bearer_of(req), peer};
    std::string refresh_issuer;
    std::optional<HttpResponse> out = api.answer(in, true, refresh_issuer);
    if (!out) {
      // The caller's token names a key its issuer's keys lack: they are
      // fetched while this thread serves other connections, then asked again.
      (void)co_await gateway::keys_refreshed(services, refresh_issuer);
      out = api.answer(in, false, refresh_issuer);
    }
    std::fill(in.bearer.begin(), in.bearer.end(), '\0');
    http::response<http::string_body> res{static_cast<http::status>(out->status), req.version()};
    res.set(http::field::content_type, out->content_type);
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(req.keep_alive());
    res.body() = std::move(out->body);
    res.prepare_payload();
    beast::get_lowest_layer(stream).expires_after(kIdle);
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !res.keep_alive()) co_return;
  }
}

class Server final : public AdminServer {
 public:
  Server(asio::io_context& ctx, gateway::Services& services)
      : acceptor_(ctx), services_(services), api_(services) {}

  Status<> listen(const config::AdminListener& l) {
    if (l.tls) {
      auto tls = net::make_server_tls(l.cert_file, l.key_file);
      if (!tls) return unexpected("admin API: " + tls.error());
      tls_ = *tls;
    }
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(l.host == "localhost" ? "127.0.0.1" : l.host, ec);
    if (ec) return unexpected("admin API: " + l.host + " is not an IP address");
    tcp::endpoint ep(addr, l.port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(64, ec);
    if (ec)
      return unexpected("admin API: cannot listen on " + l.host + ":" + std::to_string(l.port) +
                        ": " + ec.message());
    auto local = acceptor_.local_endpoint(ec);
    bound_ = (local.address().is_v6() ? "[" + local.address().to_string() + "]"
                                      : local.address().to_string()) +
             ":" + std::to_string(local.port());
    asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached);
    return Ok{};
  }

  void close() override {
    boost::system::error_code ec;
    acceptor_.close(ec);
  }
  std::string bound() const override { return bound_; }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket =
          co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (!acceptor_.is_open()) co_return;
        continue;
      }
      asio::co_spawn(acceptor_.get_executor(), connection(std::move(socket)),
                     [](std::exception_ptr e) {
                       if (!e) return;
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& x) {
                         spdlog::error("admin API: a connection failed: {}", x.what());
                       } catch (...) {
                         spdlog::error("admin API: a connection failed");
                       }
                     });
    }
  }

  asio::awaitable<void> connection(tcp::socket socket) {
    boost::system::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    const std::string peer = ec ? std::string("?") : remote.address().to_string();
    beast::tcp_stream plain(std::move(socket));
    if (!tls_) {
      co_await serve(plain, api_, services_, peer);
      plain.socket().shutdown(tcp::socket::shutdown_both, ec);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(std::move(plain), *tls_);
    beast::get_lowest_layer(stream).expires_after(kIdle);
    co_await stream.async_handshake(asio::ssl::stream_base::server,
                                    asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      spdlog::debug("admin API: TLS handshake with {} failed: {}", peer, ec.message());
      co_return;
    }
    co_await serve(stream, api_, services_, peer);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
    co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
  }

  tcp::acceptor acceptor_;
  gateway::Services& services_;
  Api api_;
  std::shared_ptr<asio::ssl::context> tls_;
  std::string bound_;
};

}  // namespace

Expected<std::unique_ptr<AdminServer>> AdminServer::start(asio::io_context& ctx,
                                                          gateway::Services& services,
                                                          const config::AdminListener& listener) {
  auto s = std::make_unique<Server>(ctx, services);
  if (auto st = s->listen(listener); !st) return unexpected(st.error());
  return std::unique_ptr<AdminServer>(std::move(s));
}

}  // namespace gh::admin
