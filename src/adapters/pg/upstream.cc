#include "adapters/pg/upstream.h"

#include <spdlog/spdlog.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "net/deadline.h"
#include "wire/pg/protocol.h"
#include "wire/pg/upstream_startup.h"

namespace gh::adapters::pg {

namespace asio = boost::asio;
namespace wire = gh::wire::pg;

namespace {

// Messages during upstream startup are small; anything larger is a broken server.
constexpr std::uint32_t kMaxStartupMessage = 1 << 20;

// Reads whole messages from a stream during the (small) startup exchange.
class MessageReader {
 public:
  explicit MessageReader(net::Stream& s) : stream_(s) {}

  struct Message {
    std::uint8_t type;
    std::vector<std::uint8_t> raw;  // header + body
    Bytes body() const { return Bytes(raw).subspan(wire::Header::kSize); }
  };

  asio::awaitable<Expected<Message>> next() {
    for (;;) {
      auto h = wire::decode_header(Bytes(buf_.data(), len_), kMaxStartupMessage);
      if (auto* header = std::get_if<wire::Header>(&h)) {
        std::size_t total = header->length + 1;
        if (len_ >= total) {
          Message m{header->type, std::vector<std::uint8_t>(buf_.begin(), buf_.begin() + total)};
          std::copy(buf_.begin() + total, buf_.begin() + len_, buf_.begin());
          len_ -= total;
          co_return m;
        }
        if (buf_.size() < total) buf_.resize(total);
      } else if (auto* err = std::get_if<wire::DecodeError>(&h)) {
        co_return unexpected("malformed message from upstream: " + err->reason);
      }
      if (len_ == buf_.size()) buf_.resize(buf_.size() * 2);
      net::error_code ec;
      std::size_t n =
          co_await stream_.read_some(std::span(buf_.data() + len_, buf_.size() - len_), ec);
      if (ec)
        co_return unexpected("upstream closed the connection during startup: " + ec.message());
      len_ += n;
    }
  }
  std::vector<std::uint8_t> take_leftover() {
    return std::vector<std::uint8_t>(buf_.begin(), buf_.begin() + len_);
  }

 private:
  net::Stream& stream_;
  std::vector<std::uint8_t> buf_ = std::vector<std::uint8_t>(8192);
  std::size_t len_ = 0;
};

UpstreamError fail(const config::Connection& c, std::string client_part, std::string log_part) {
  return {"gatehouse: upstream " + c.name + ": " + client_part,
          "upstream " + c.name + " (" + c.host + ":" + std::to_string(c.port) + "): " + log_part};
}

asio::awaitable<Status<>> write(net::Stream& s, const wire::Buffer& b) {
  net::error_code ec;
  co_await s.write_all(b, ec);
  if (ec) co_return unexpected("write to upstream failed: " + ec.message());
  co_return Ok{};
}

}  // namespace

Expected<UpstreamTls> make_upstream_tls(const config::Connection& c) {
  UpstreamTls out;
  if (c.tls == config::UpstreamTls::kDisable) return out;
  auto ctx = net::make_client_tls(c.tls == config::UpstreamTls::kVerifyFull, c.ca_file);
  if (!ctx) return unexpected("connection " + c.name + ": " + ctx.error());
  out.ctx = *ctx;
  return out;
}

asio::awaitable<Expected<UpstreamSession, UpstreamError>> connect_upstream(
    asio::any_io_executor ex, const config::Connection& c, const config::Credentials& cred,
    const UpstreamTls& tls, const std::vector<std::pair<std::string, std::string>>& client_params) {
  auto socket = co_await net::dial(ex, c.host, c.port, c.connect_timeout);
  if (!socket) co_return unexpected(fail(c, "unreachable", socket.error()));

  UpstreamSession session;
  // One deadline for the whole upstream startup: TLS negotiation included, so
  // a server that accepts TCP and then says nothing cannot hold the session.
  auto* raw_socket = &*socket;
  auto* session_ptr = &session;
  net::Deadline deadline(ex, c.connect_timeout, [raw_socket, session_ptr] {
    net::error_code ignored;
    if (raw_socket->is_open()) raw_socket->close(ignored);
    if (session_ptr->stream) session_ptr->stream->close();
  });
  if (c.tls == config::UpstreamTls::kDisable) {
    session.stream = net::make_tcp_stream(std::move(*socket));
  } else {
    auto answer_or = co_await request_tls(*socket);
    if (!answer_or)
      co_return unexpected(fail(c, "connection lost during TLS negotiation", answer_or.error()));
    const std::uint8_t answer = *answer_or;
    if (answer == 'S') {
      std::string verify_host = c.tls == config::UpstreamTls::kVerifyFull ? c.host : std::string();
      auto s = co_await net::tls_handshake_client(std::move(*socket), *tls.ctx, verify_host);
      if (!s) co_return unexpected(fail(c, "TLS failed", s.error()));
      // The handshake has its own limit; the startup's deadline may have passed meanwhile.
      if (deadline.fired())
        co_return unexpected(fail(c, "timed out during startup", "upstream startup timed out"));
      session.stream = std::move(*s);
    } else if (answer == 'N' && c.tls == config::UpstreamTls::kPrefer) {
      session.stream = net::make_tcp_stream(std::move(*socket));
    } else if (answer == 'N') {
      co_return unexpected(fail(c, "the server does not offer TLS, which the connection requires",
                                "server answered N to SSLRequest"));
    } else {
      co_return unexpected(
          fail(c, "unexpected answer to TLS negotiation", "bad SSLRequest answer"));
    }
  }
  net::Stream& stream = *session.stream;

  std::vector<std::pair<std::string, std::string>> params = {{"user", cred.user},
                                                             {"database", c.database}};
  for (const auto& p : client_params) params.push_back(p);
  wire::Buffer out;
  wire::encode_startup_message(out, params);
  if (auto w = co_await write(stream, out); !w)
    co_return unexpected(fail(c, "connection lost", w.error()));

  MessageReader reader(stream);
  wire::UpstreamStartup startup(cred.user, cred.password,
                                {.trust = c.auth.trust,
                                 .password = c.auth.password,
                                 .md5 = c.auth.md5,
                                 .scram_sha_256 = c.auth.scram_sha_256});
  for (;;) {
    auto msg = co_await reader.next();
    if (!msg) {
      if (deadline.fired())
        co_return unexpected(fail(c, "timed out during startup", "startup timed out"));
      co_return unexpected(fail(c, "connection lost during startup", msg.error()));
    }
    out.clear();
    auto step = startup.on_message(msg->raw, out);
    if (!step) co_return unexpected(fail(c, step.error().for_client, step.error().for_log));
    if (!out.empty()) {
      if (auto w = co_await write(stream, out); !w)
        co_return unexpected(fail(c, "connection lost", w.error()));
    }
    if (*step == wire::StartupStep::kReady) {
      session.parameter_status = startup.parameter_status();
      session.pid = startup.pid();
      session.secret = startup.secret();
      session.transaction_status = startup.transaction_status();
      session.leftover = reader.take_leftover();
      deadline.cancel();
      co_return std::move(session);
    }
  }
}

asio::awaitable<void> send_upstream_cancel(asio::any_io_executor ex, const config::Connection* c,
                                           const UpstreamTls* tls, std::string host,
                                           std::uint16_t port, std::int32_t pid,
                                           std::int32_t secret) {
  auto socket = co_await net::dial(ex, host, port, std::chrono::seconds(5));
  if (!socket) {
    spdlog::warn("cancel: cannot reach upstream {}:{}: {}", host, port, socket.error());
    co_return;
  }
  std::unique_ptr<net::Stream> stream;
  std::unique_ptr<net::Stream>* held = &stream;
  net::Deadline deadline(ex, std::chrono::seconds(10), [&socket, held] {
    net::error_code ignored;
    if (socket->is_open()) socket->close(ignored);
    if (*held) (*held)->close();
  });
  const bool wants_tls = c != nullptr && c->tls != config::UpstreamTls::kDisable &&
                         tls != nullptr && tls->ctx != nullptr;
  if (wants_tls) {
    auto answer = co_await request_tls(*socket);
    if (!answer) {
      spdlog::warn("cancel: TLS negotiation with {}:{} failed: {}", host, port, answer.error());
      co_return;
    }
    if (*answer == 'S') {
      const std::string verify_host =
          c->tls == config::UpstreamTls::kVerifyFull ? c->host : std::string();
      auto s = co_await net::tls_handshake_client(std::move(*socket), *tls->ctx, verify_host);
      if (!s) {
        spdlog::warn("cancel: TLS with {}:{} failed: {}", host, port, s.error());
        co_return;
      }
      stream = std::move(*s);
    } else if (*answer != 'N' || c->tls != config::UpstreamTls::kPrefer) {
      // Sessions of this connection never run in clear: nor does their cancel.
      spdlog::warn("cancel: {}:{} does not offer TLS, which connection {} requires; not sent", host,
                   port, c->name);
      co_return;
    }
  }
  if (!stream) stream = net::make_tcp_stream(std::move(*socket));
  wire::Buffer req;
  wire::encode_cancel_request(req, pid, secret);
  net::error_code ec;
  co_await stream->write_all(req, ec);
  if (ec) co_return;
  // The server answers a cancel by closing; wait for that so the cancel has
  // been read before we drop the connection.
  std::uint8_t byte[1];
  (void)co_await stream->read_some(byte, ec);
  stream->close();
}

asio::awaitable<Expected<std::uint8_t>> request_tls(asio::ip::tcp::socket& socket) {
  wire::Buffer req;
  wire::encode_ssl_request(req);
  net::error_code ec;
  co_await asio::async_write(socket, asio::buffer(req),
                             asio::redirect_error(asio::use_awaitable, ec));
  std::uint8_t answer = 0;
  if (!ec)
    co_await asio::async_read(socket, asio::buffer(&answer, 1),
                              asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return unexpected(ec.message());
  co_return answer;
}

}  // namespace gh::adapters::pg
