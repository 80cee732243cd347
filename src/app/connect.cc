// `gatehouse connect C`: a local forwarder. psql, pgbench or any driver points
// at a loopback port with no password; for each client the forwarder opens a
// session to the gateway's PostgreSQL listener for connection C (whatever
// dbname the client asked), answers the gateway's password request with the
// caller's token, and then relays bytes both ways untouched. The gateway
// still verifies the token and decides everything; the forwarder only spares
// clients the token handling.
//
// Because it hands out the caller's identity to whoever reaches the port, it
// listens on loopback only. The token is never logged or printed.
#include <signal.h>

#include <openssl/crypto.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/pg/upstream.h"
#include "app/commands.h"
#include "identity/base64url.h"
#include "identity/strict_json.h"
#include "net/deadline.h"
#include "net/io_pool.h"
#include "net/stream.h"
#include "wire/pg/protocol.h"

namespace gh::app {

namespace {

namespace asio = boost::asio;
namespace wire = gh::wire::pg;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

// Reading a client's startup packet, and opening the gateway session (TCP,
// TLS, startup, password) each must finish within this.
constexpr auto kStartupTimeout = std::chrono::seconds(15);
// Telling a client why it is refused, and forwarding a cancel.
constexpr auto kShortTimeout = std::chrono::seconds(5);
// The gateway's messages before AuthenticationOk are small; more is a broken peer.
constexpr std::uint32_t kMaxGatewayStartupMessage = 1 << 20;
constexpr std::size_t kRelayBuffer = 32 * 1024;
// SSLRequest and GSSENCRequest, each answered 'N' at most once or twice (libpq
// tries GSS, then TLS); a client that keeps asking is not a PostgreSQL client.
constexpr int kMaxNegotiations = 2;

enum class SslMode { kDisable, kRequire, kVerifyFull };

struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};

// What every client session needs; read-only once the forwarder runs.
struct Settings {
  std::string connection;
  HostPort gateway;
  SslMode sslmode = SslMode::kRequire;
  std::shared_ptr<asio::ssl::context> tls;  // null for disable
  std::string token_file;                   // read at each new client when set
  std::string token_env;                    // $GATEHOUSE_TOKEN otherwise
};

// One line on stderr; lines from different I/O threads never interleave.
void note(const std::string& line) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::cerr << line << std::endl;
}

std::string env_or(const char* name, const std::string& given) {
  if (!given.empty()) return given;
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

// "host:port", "[v6]:port". Port 0 only where `allow_zero`.
Expected<HostPort> parse_host_port(std::string_view text, bool allow_zero) {
  std::string_view host, port;
  if (text.starts_with('[')) {
    auto close = text.find("]:");
    if (close == std::string_view::npos) return unexpected(std::string("expected [ADDRESS]:PORT"));
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return unexpected(std::string("expected HOST:PORT"));
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos)
      return unexpected(std::string("write an IPv6 address in brackets: [ADDRESS]:PORT"));
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (host.empty() || port.empty() || ec != std::errc() || end != port.data() + port.size() ||
      value > 65535 || (value == 0 && !allow_zero))
    return unexpected(std::string("expected HOST:PORT with a port") +
                      (allow_zero ? " from 0 to 65535" : " from 1 to 65535"));
  return HostPort{std::string(host), static_cast<std::uint16_t>(value)};
}

std::string endpoint_text(const tcp::endpoint& ep) {
  auto a = ep.address();
  std::string host = a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
  return host + ":" + std::to_string(ep.port());
}

// ---- The token ------------------------------------------------------------------------------

// The caller's token as it is now: the file is read again for every client, so
// a token refreshed on disk is picked up without a restart. The error never
// contains the token.
Expected<std::string> current_token(const Settings& s) {
  if (s.token_file.empty()) {
    if (s.token_env.empty()) return unexpected(std::string("$GATEHOUSE_TOKEN is empty"));
    return s.token_env;
  }
  std::ifstream in(s.token_file, std::ios::binary);
  if (!in)
    return unexpected("cannot read the token file " + s.token_file + ": " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token = ss.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  if (token.empty()) return unexpected("the token file " + s.token_file + " is empty");
  return token;
}

// The token's `exp` (seconds since the epoch), read from its payload without
// checking the signature: only to spare a round trip and to say clearly what
// is wrong. The gateway verifies everything. nullopt when it cannot be read
// (an opaque token, say): the gateway decides then.
std::optional<std::int64_t> token_expiry(std::string_view token) {
  auto first = token.find('.');
  if (first == std::string_view::npos) return std::nullopt;
  auto second = token.find('.', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  auto payload = identity::base64url_decode(token.substr(first + 1, second - first - 1));
  if (!payload) return std::nullopt;
  auto claims = identity::parse_strict_json(*payload);
  if (!claims || !claims->is_object()) return std::nullopt;
  auto it = claims->find("exp");
  if (it == claims->end() || !it->is_number()) return std::nullopt;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  double d = it->get<double>();
  if (!std::isfinite(d) || d > 9e15 || d < -9e15) return std::nullopt;
  return static_cast<std::int64_t>(std::floor(d));
}

std::string utc_text(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  char buf[64];
  if (gmtime_r(&t, &tm) == nullptr || std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm) == 0)
    return std::to_string(unix_seconds) + " (Unix time)";
  return std::string(buf) + " UTC";
}

// ---- One client -----------------------------------------------------------------------------

wire::Buffer fatal(std::string_view sqlstate, std::string_view message) {
  wire::Buffer out;
  wire::encode_error_response(out, {.severity = "FATAL", .sqlstate = sqlstate, .message = message});
  return out;
}

// Writes to a client within kShortTimeout (a client that does not read is cut off).
asio::awaitable<bool> send_bounded(net::Stream& to, const wire::Buffer& bytes) {
  net::Deadline deadline(to.executor(), kShortTimeout, [&to] { to.close(); });
  net::error_code ec;
  co_await to.write_all(bytes, ec);
  co_return !ec && !deadline.fired();
}

// Refuses a client as a server would (FATAL, then close); the same line goes to stderr.
asio::awaitable<void> refuse(net::Stream& client, std::string_view sqlstate,
                             const std::string& message) {
  note(message);
  (void)co_await send_bounded(client, fatal(sqlstate, message));
  client.close();
}

struct ClientFirst {
  enum class Kind { kGone, kStartup, kCancel } kind = Kind::kGone;
  wire::StartupMessage startup;
  wire::Buffer cancel;    // the CancelRequest packet as the client sent it
  wire::Buffer leftover;  // bytes the client sent after its StartupMessage
};

// The untyped first packets: SSLRequest and GSSENCRequest are answered 'N'
// (the client is on loopback; the hop to the gateway is what TLS protects),
// then a StartupMessage or a CancelRequest.
// https://www.postgresql.org/docs/15/protocol-flow.html#PROTOCOL-FLOW-START-UP
asio::awaitable<ClientFirst> read_client_first(net::Stream& client) {
  ClientFirst out;
  wire::Buffer buf(512);
  std::size_t len = 0;
  int negotiations = 0;
  for (;;) {
    auto decoded = wire::decode_startup(Bytes(buf.data(), len));
    if (auto* more = std::get_if<wire::NeedMore>(&decoded)) {
      if (buf.size() < more->at_least) buf.resize(more->at_least);
      net::error_code ec;
      std::size_t n = co_await client.read_some(std::span(buf.data() + len, buf.size() - len), ec);
      if (ec) co_return out;  // gone before speaking (a port probe): nothing to say
      len += n;
      continue;
    }
    if (auto* err = std::get_if<wire::DecodeError>(&decoded)) {
      (void)co_await send_bounded(
          client, fatal("08P01", "gatehouse connect: invalid startup packet: " + err->reason));
      co_return out;
    }
    auto& d = std::get<wire::StartupDecoded>(decoded);
    if (std::holds_alternative<wire::SslRequest>(d.packet) ||
        std::holds_alternative<wire::GssEncRequest>(d.packet)) {
      if (++negotiations > kMaxNegotiations) {
        (void)co_await send_bounded(client,
                                    fatal("08P01", "gatehouse connect: too many SSL/GSS requests"));
        co_return out;
      }
      std::copy(buf.begin() + d.consumed, buf.begin() + len, buf.begin());
      len -= d.consumed;
      const wire::Buffer no(1, 'N');  // (not a braced list: GCC 12 miscompiles one in co_await)
      if (!co_await send_bounded(client, no)) co_return out;
      continue;
    }
    if (std::holds_alternative<wire::CancelRequest>(d.packet)) {
      out.kind = ClientFirst::Kind::kCancel;
      out.cancel.assign(buf.begin(), buf.begin() + d.consumed);
      co_return out;
    }
    out.kind = ClientFirst::Kind::kStartup;
    out.startup = std::move(std::get<wire::StartupMessage>(d.packet));
    out.leftover.assign(buf.begin() + d.consumed, buf.begin() + len);
    co_return out;
  }
}

// A cancel goes to the gateway as it came, on a connection of its own and
// without TLS, as libpq sends it; the gateway maps the key to the upstream.
asio::awaitable<void> forward_cancel(const Settings& s, const wire::Buffer& packet) {
  auto ex = co_await asio::this_coro::executor;
  auto socket = co_await net::dial(ex, s.gateway.host, s.gateway.port, kShortTimeout);
  if (!socket) {
    note("gatehouse connect: cancel not forwarded: " + socket.error());
    co_return;
  }
  net::error_code ec;
  net::Deadline deadline(ex, kShortTimeout, [&socket] {
    net::error_code ignored;
    socket->close(ignored);
  });
  co_await asio::async_write(*socket, asio::buffer(packet),
                             asio::redirect_error(asio::use_awaitable, ec));
  // The gateway closes once it has read the cancel; wait for that before closing ours.
  std::uint8_t byte = 0;
  if (!ec)
    co_await socket->async_read_some(asio::buffer(&byte, 1),
                                     asio::redirect_error(asio::use_awaitable, ec));
}

struct GatewayLink {
  std::unique_ptr<net::Stream> stream;
  wire::Buffer to_client;  // AuthenticationOk and whatever came with it, for the client
};

struct GatewayFailure {
  wire::Buffer gateway_error;  // the gateway's own ErrorResponse: passed on unchanged
  std::string sqlstate;        // otherwise ours
  std::string message;
};

GatewayFailure failure(std::string sqlstate, std::string message) {
  return GatewayFailure{{}, std::move(sqlstate), "gatehouse connect: " + std::move(message)};
}

// TCP, TLS per --sslmode, the StartupMessage, and the password (the token)
// when the gateway asks for it; done at AuthenticationOk.
asio::awaitable<Expected<GatewayLink, GatewayFailure>> open_gateway(
    const Settings& s, const std::vector<std::pair<std::string, std::string>>& params,
    const std::string& token) {
  auto ex = co_await asio::this_coro::executor;
  const std::string where = s.gateway.host + ":" + std::to_string(s.gateway.port);
  auto socket = co_await net::dial(ex, s.gateway.host, s.gateway.port, kStartupTimeout);
  if (!socket) co_return unexpected(failure("08001", "gateway unreachable: " + socket.error()));

  GatewayLink link;
  auto* raw_socket = &*socket;
  auto* link_ptr = &link;
  net::Deadline deadline(ex, kStartupTimeout, [raw_socket, link_ptr] {
    net::error_code ignored;
    if (raw_socket->is_open()) raw_socket->close(ignored);
    if (link_ptr->stream) link_ptr->stream->close();
  });
  auto timed_out = [&] {
    return failure("08001", "timed out opening a session at the gateway " + where);
  };

  if (s.sslmode == SslMode::kDisable) {
    link.stream = net::make_tcp_stream(std::move(*socket));
  } else {
    auto answer_or = co_await adapters::pg::request_tls(*socket);
    if (deadline.fired()) co_return unexpected(timed_out());
    if (!answer_or)
      co_return unexpected(failure("08001", "the gateway " + where +
                                                " closed the connection during TLS " +
                                                "negotiation: " + answer_or.error()));
    const std::uint8_t answer = *answer_or;
    if (answer == 'N')
      co_return unexpected(failure(
          "08001", "the gateway " + where +
                       " does not offer TLS on this port (--sslmode disable is for a loopback "
                       "listener with tls: optional)"));
    if (answer != 'S')
      co_return unexpected(
          failure("08P01", "the gateway " + where + " answered TLS negotiation unexpectedly"));
    std::string verify_host = s.sslmode == SslMode::kVerifyFull ? s.gateway.host : std::string();
    auto tls = co_await net::tls_handshake_client(std::move(*socket), *s.tls, verify_host);
    if (!tls)
      co_return unexpected(failure("08001", "TLS to the gateway " + where + ": " + tls.error()));
    if (deadline.fired()) co_return unexpected(timed_out());
    link.stream = std::move(*tls);
  }
  net::Stream& gw = *link.stream;

  wire::Buffer out;
  wire::encode_startup_message(out, params);
  net::error_code ec;
  co_await gw.write_all(out, ec);
  if (ec) {
    if (deadline.fired()) co_return unexpected(timed_out());
    co_return unexpected(
        failure("08006", "connection to the gateway " + where + " lost: " + ec.message()));
  }

  // The gateway's answers, one whole message at a time, until AuthenticationOk.
  wire::Buffer buf(4096);
  std::size_t len = 0;
  bool answered = false;
  wire::Buffer notices;  // NoticeResponses before AuthenticationOk: the client's to see
  for (;;) {
    auto h = wire::decode_header(Bytes(buf.data(), len), kMaxGatewayStartupMessage);
    if (auto* err = std::get_if<wire::DecodeError>(&h))
      co_return unexpected(
          failure("08P01", "invalid message from the gateway " + where + ": " + err->reason));
    auto* header = std::get_if<wire::Header>(&h);
    const std::size_t total = header ? header->length + 1u : 0;
    if (!header || len < total) {
      if (header && buf.size() < total) buf.resize(total);
      if (len == buf.size()) buf.resize(buf.size() * 2);
      std::size_t n = co_await gw.read_some(std::span(buf.data() + len, buf.size() - len), ec);
      if (ec) {
        if (deadline.fired()) co_return unexpected(timed_out());
        co_return unexpected(failure(
            "08006",
            "the gateway " + where + " closed the connection during startup: " + ec.message()));
      }
      len += n;
      continue;
    }
    const Bytes message(buf.data(), total);
    const Bytes body = message.subspan(wire::Header::kSize);
    switch (header->type) {
      case 'R': {
        auto auth = wire::parse_authentication(body);
        if (!auth)
          co_return unexpected(
              failure("08P01", "malformed authentication request from the gateway " + where));
        if (auth->code == 0) {  // AuthenticationOk: from here on, bytes pass through
          link.to_client = std::move(notices);
          link.to_client.insert(link.to_client.end(), buf.begin(), buf.begin() + len);
          deadline.cancel();
          co_return std::move(link);
        }
        if (auth->code != 3 || answered)
          co_return unexpected(failure(
              "08P01", "the gateway " + where + " asked for authentication code " +
                           std::to_string(auth->code) + "; it should ask once for the token as a " +
                           "password (is " + where + " a gatehouse PostgreSQL listener?)"));
        answered = true;
        out.clear();
        wire::encode_password_message(out, token);
        co_await gw.write_all(out, ec);
        OPENSSL_cleanse(out.data(), out.size());
        if (ec) {
          if (deadline.fired()) co_return unexpected(timed_out());
          co_return unexpected(
              failure("08006", "connection to the gateway " + where + " lost: " + ec.message()));
        }
        break;
      }
      case 'E': {
        GatewayFailure f;
        f.gateway_error.assign(message.begin(), message.end());
        if (auto fields = wire::parse_error_fields(body)) {
          f.sqlstate = std::string(fields->get('C'));
          f.message = std::string(fields->get('M'));
        }
        co_return unexpected(std::move(f));
      }
      case 'N':
        notices.insert(notices.end(), message.begin(), message.end());
        break;
      default:
        co_return unexpected(failure(
            "08P01", std::string("unexpected message type '") + static_cast<char>(header->type) +
                         "' from the gateway " + where + " during startup"));
    }
    std::copy(buf.begin() + total, buf.begin() + len, buf.begin());
    len -= total;
  }
}

asio::awaitable<void> pump(net::Stream& from, net::Stream& to) {
  std::vector<std::uint8_t> buf(kRelayBuffer);
  for (;;) {
    net::error_code ec;
    std::size_t n = co_await from.read_some(buf, ec);
    if (ec || n == 0) co_return;
    co_await to.write_all(std::span<const std::uint8_t>(buf.data(), n), ec);
    if (ec) co_return;
  }
}

// The life of one local client: its startup packet, the token, the gateway
// session, then a byte relay until either side closes.
asio::awaitable<void> serve_client(std::shared_ptr<const Settings> s, tcp::socket socket) {
  auto client = net::make_tcp_stream(std::move(socket));

  ClientFirst first;
  {
    auto* c = client.get();
    net::Deadline deadline(client->executor(), kStartupTimeout, [c] { c->close(); });
    first = co_await read_client_first(*client);
  }
  if (first.kind == ClientFirst::Kind::kCancel) {
    co_await forward_cancel(*s, first.cancel);
    client->close();
    co_return;
  }
  if (first.kind != ClientFirst::Kind::kStartup) {
    client->close();
    co_return;
  }

  // Protocol 3.0 toward the gateway; a client asking for a newer minor
  // version or protocol options is told what it gets, as a server would.
  const std::uint32_t major = first.startup.version >> 16, minor = first.startup.version & 0xffff;
  if (major != 3) {
    co_await refuse(*client, "0A000",
                    "gatehouse connect: unsupported frontend protocol " + std::to_string(major) +
                        "." + std::to_string(minor) + ": 3.0 is supported");
    co_return;
  }
  std::vector<std::pair<std::string, std::string>> params;
  std::vector<std::string> unrecognized;
  bool has_database = false;
  for (auto& [name, value] : first.startup.params) {
    if (name.starts_with("_pq_.")) {
      unrecognized.push_back(name);
    } else if (name == "database") {
      params.emplace_back(name, s->connection);  // whatever the client asked
      has_database = true;
    } else {
      params.emplace_back(name, value);
    }
  }
  if (!has_database) params.emplace_back("database", s->connection);
  if (minor > 0 || !unrecognized.empty()) {
    wire::Buffer nego;
    wire::encode_negotiate_protocol_version(nego, 0, unrecognized);
    if (!co_await send_bounded(*client, nego)) {
      client->close();
      co_return;
    }
  }

  auto token = current_token(*s);
  if (!token) {
    co_await refuse(*client, "28P01", "gatehouse connect: no token: " + token.error());
    co_return;
  }
  if (auto exp = token_expiry(*token); exp && *exp <= std::time(nullptr)) {
    OPENSSL_cleanse(token->data(), token->size());
    co_await refuse(
        *client, "28P01",
        "gatehouse connect: the token expired at " + utc_text(*exp) + "; get a new one");
    co_return;
  }

  auto link = co_await open_gateway(*s, params, *token);
  OPENSSL_cleanse(token->data(), token->size());
  if (!link) {
    const GatewayFailure& f = link.error();
    if (!f.gateway_error.empty()) {
      // The gateway's own words, unchanged (token rejected, may not connect, …).
      note("gatehouse connect: the gateway refused the session: " + f.sqlstate + " " + f.message);
      (void)co_await send_bounded(*client, f.gateway_error);
      client->close();
    } else {
      co_await refuse(*client, f.sqlstate, f.message);
    }
    co_return;
  }

  net::Stream& gw = *link->stream;
  net::error_code ec;
  co_await client->write_all(link->to_client, ec);
  if (!ec && !first.leftover.empty()) co_await gw.write_all(first.leftover, ec);
  if (!ec) co_await (pump(*client, gw) || pump(gw, *client));
  client->close();
  gw.close();
}

// ---- Listening ------------------------------------------------------------------------------

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, net::IoPool& pool,
                                  std::shared_ptr<const Settings> s) {
  for (;;) {
    auto& ctx = pool.next();
    tcp::socket socket(ctx);
    net::error_code ec;
    co_await acceptor.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors and the like: back off briefly instead of spinning.
      note("gatehouse connect: accept failed: " + ec.message());
      asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    asio::co_spawn(ctx, serve_client(s, std::move(socket)), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        note(std::string("gatehouse connect: session ended by an unexpected exception: ") +
             ex.what());
      }
    });
  }
}

Expected<std::shared_ptr<Settings>> make_settings(const ConnectOptions& o) {
  auto s = std::make_shared<Settings>();
  if (o.connection.empty()) return unexpected(std::string("give the connection name"));
  s->connection = o.connection;

  std::string gateway = env_or("GATEHOUSE_PG", o.gateway);
  if (gateway.empty())
    return unexpected(std::string(
        "give --pg HOST:PORT (the gateway's PostgreSQL listener) or set $GATEHOUSE_PG"));
  auto gw = parse_host_port(gateway, /*allow_zero=*/false);
  if (!gw) return unexpected("--pg " + gateway + ": " + gw.error());
  s->gateway = *gw;

  if (o.sslmode == "disable")
    s->sslmode = SslMode::kDisable;
  else if (o.sslmode == "require")
    s->sslmode = SslMode::kRequire;
  else if (o.sslmode == "verify-full")
    s->sslmode = SslMode::kVerifyFull;
  else
    return unexpected("--sslmode " + o.sslmode + ": expected require, verify-full or disable");
  if (s->sslmode != SslMode::kDisable) {
    // With a CA given, `require` checks the chain too, as libpq does with a
    // root certificate; verify-full also checks the host name or IP.
    std::string ca = env_or("GATEHOUSE_CA", o.ca_file);
    auto ctx = net::make_client_tls(s->sslmode == SslMode::kVerifyFull || !ca.empty(), ca);
    if (!ctx) return unexpected(ctx.error());
    s->tls = *ctx;
  }

  s->token_file = o.token_file;
  if (s->token_file.empty()) {
    s->token_env = env_or("GATEHOUSE_TOKEN", "");
    if (s->token_env.empty())
      return unexpected(std::string("no token: set $GATEHOUSE_TOKEN or give --token-file F"));
  }
  return s;
}

}  // namespace

int run_connect(const ConnectOptions& o) {
  ::signal(SIGPIPE, SIG_IGN);
  auto settings = make_settings(o);
  if (!settings) {
    std::cerr << "gatehouse connect: " << settings.error() << "\n";
    return 2;
  }
  if (!(*settings)->token_file.empty()) {
    if (auto t = current_token(**settings); !t)
      std::cerr << "gatehouse connect: warning: " << t.error()
                << "; clients are refused until it can be read\n";
    else
      OPENSSL_cleanse(t->data(), t->size());
  }

  auto listen = parse_host_port(o.listen, /*allow_zero=*/true);
  if (!listen) {
    std::cerr << "gatehouse connect: --listen " << o.listen << ": " << listen.error() << "\n";
    return 2;
  }
  if (listen->host == "localhost") listen->host = "127.0.0.1";
  net::error_code ec;
  auto address = asio::ip::make_address(listen->host, ec);
  if (ec || !address.is_loopback()) {
    std::cerr << "gatehouse connect: --listen " << o.listen
              << ": refusing a non-loopback address: whoever reaches the port connects as you, "
                 "without a password (use 127.0.0.1 or [::1])\n";
    return 2;
  }

  net::IoPool pool(0);
  tcp::acceptor acceptor(pool.at(0));
  tcp::endpoint ep(address, listen->port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  tcp::endpoint bound = ec ? ep : acceptor.local_endpoint(ec);
  if (ec) {
    std::cerr << "gatehouse connect: cannot listen on " << o.listen << ": " << ec.message() << "\n";
    return 1;
  }

  // Signals are watched before anything is announced, so a script that stops
  // the forwarder right after the line below is not lost.
  asio::io_context signal_ctx;
  asio::signal_set signals(signal_ctx, SIGINT, SIGTERM);
  signals.async_wait([&](const net::error_code& e, int) {
    if (!e) signal_ctx.stop();
  });

  const Settings& s = **settings;
  const char* modes[] = {"disable", "require", "verify-full"};
  std::cerr << "gatehouse connect: connection " << s.connection << " at " << s.gateway.host << ":"
            << s.gateway.port << " (sslmode " << modes[static_cast<int>(s.sslmode)]
            << "); clients need no password: host=" << bound.address().to_string()
            << " port=" << bound.port() << "\n";
  // One parseable line on stdout for scripts and tests (port 0 gives the real one).
  std::cout << "gatehouse connect listening " << endpoint_text(bound) << std::endl;

  asio::co_spawn(pool.at(0), accept_loop(acceptor, pool, *settings), asio::detached);
  pool.start();
  signal_ctx.run();

  // The acceptor belongs to I/O thread 0: close it there, then stop the
  // threads (open sessions end with them).
  auto done = std::make_shared<std::promise<void>>();
  auto closed = done->get_future();
  asio::post(pool.at(0), [&acceptor, done] {
    net::error_code ignored;
    acceptor.close(ignored);
    done->set_value();
  });
  closed.wait_for(std::chrono::seconds(5));
  pool.stop();
  std::cerr << "gatehouse connect: stopped\n";
  return 0;
}

}  // namespace gh::app
