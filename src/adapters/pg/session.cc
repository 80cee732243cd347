#include "adapters/pg/session.h"

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>

#include "adapters/pg/handler_state.h"
#include "identity/verifier.h"
#include "net/deadline.h"
#include "policy/access.h"

namespace gh::adapters::pg {

namespace asio = boost::asio;
namespace wire = gh::wire::pg;
using namespace asio::experimental::awaitable_operators;

namespace {

// Everything before the session is established must finish within this.
constexpr auto kStartupTimeout = std::chrono::seconds(30);
// The password message carries the token (≤ 16 KiB) and a little framing.
constexpr std::uint32_t kMaxPasswordMessage = 64 * 1024;
// Statement text kept in the audit record; longer text is cut and marked.
constexpr std::size_t kMaxAuditedText = 1 << 20;
constexpr std::size_t kRelayBuffer = 32 * 1024;

// Startup parameters that pass upstream. Anything that changes identity,
// role, or how the server parses statements is refused instead.
// https://www.postgresql.org/docs/15/protocol-message-formats.html (StartupMessage)
constexpr std::array<std::string_view, 14> kAllowedParams = {
    "application_name", "client_encoding",
    "DateStyle",        "TimeZone",
    "IntervalStyle",    "extra_float_digits",
    "search_path",      "statement_timeout",
    "lock_timeout",     "idle_in_transaction_session_timeout",
    "lc_monetary",      "lc_numeric",
    "lc_time",          "datestyle"};
constexpr std::array<std::string_view, 5> kRefusedParams = {
    "options", "replication", "role", "session_authorization", "standard_conforming_strings"};

bool contains(auto& list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

std::int64_t unix_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Which messages each direction needs whole to inspect; the rest (row and
// COPY data, possibly huge) stream through in chunks.
bool client_wants_whole(std::uint8_t type) {
  return type != 'd';
}
bool server_wants_whole(std::uint8_t type) {
  return type != 'D' && type != 'd';
}

std::string audited_text(std::string_view sql) {
  if (sql.size() <= kMaxAuditedText) return std::string(sql);
  return std::string(sql.substr(0, kMaxAuditedText)) + "…[truncated " +
         std::to_string(sql.size() - kMaxAuditedText) + " bytes]";
}

}  // namespace

Session::Session(HandlerState& handler, asio::ip::tcp::socket socket, gateway::ClientInfo client)
    : h_(handler),
      services_(handler.services),
      client_(std::move(client)),
      cstream_(net::make_tcp_stream(std::move(socket))),
      cbuf_(4096) {}

Session::~Session() {
  if (cancel_registered_) services_.cancels().remove(cancel_key_);
}

std::int64_t Session::now_us() const {
  return unix_us();
}

asio::awaitable<void> Session::run() {
  bool ok = false;
  {
    // A client that stalls during startup is cut off.
    auto* cs = &cstream_;
    net::Deadline deadline(co_await asio::this_coro::executor, kStartupTimeout,
                           [cs] { (*cs)->close(); });
    ok = co_await startup();
    if (deadline.fired()) ok = false;
  }
  if (!ok) {
    cstream_->close();
    if (upstream_.stream) upstream_.stream->close();
    co_return;
  }

  services_.counters().sessions_active.fetch_add(1, std::memory_order_relaxed);
  co_await (relay_client_to_upstream() || relay_upstream_to_client());
  services_.counters().sessions_active.fetch_sub(1, std::memory_order_relaxed);
  cstream_->close();
  upstream_.stream->close();

  // Whatever was still awaiting an answer never got one.
  for (auto& p : pending_)
    if (p.kind != Pending::kSync) finish_statement(p, "interrupted");
  pending_.clear();

  if (end_reason_.empty()) end_reason_ = "client closed";
  model::SessionEnd end{session_id_,        now_us(),         end_reason_,
                        bytes_from_client_, bytes_to_client_, seq_};
  (void)services_.record(std::move(end));
  spdlog::info("session {} ended: {}", session_id_, end_reason_);
}

asio::awaitable<bool> Session::read_client_more() {
  if (clen_ == cbuf_.size()) cbuf_.resize(cbuf_.size() * 2);
  net::error_code ec;
  std::size_t n =
      co_await cstream_->read_some(std::span(cbuf_.data() + clen_, cbuf_.size() - clen_), ec);
  if (ec) co_return false;
  clen_ += n;
  bytes_from_client_ += static_cast<std::int64_t>(n);
  co_return true;
}

asio::awaitable<void> Session::send_client(const wire::Buffer& b) {
  net::error_code ec;
  co_await cstream_->write_all(b, ec);
  if (!ec) bytes_to_client_ += static_cast<std::int64_t>(b.size());
}

asio::awaitable<bool> Session::send_refusal() {
  co_await send_client(refusal_);
  co_return false;
}

void Session::refuse(std::string_view sqlstate, std::string message,
                     std::string_view reason_for_audit) {
  services_.counters().sessions_refused.fetch_add(1, std::memory_order_relaxed);
  model::ConnectionRefused ev;
  ev.at_us = now_us();
  ev.replica = services_.config().gateway.id;
  ev.client_addr = client_.address;
  ev.listener = client_.listener->name;
  ev.connection = database_;
  ev.subject = subject_;
  ev.token_hash = token_hash_;
  ev.sqlstate = std::string(sqlstate);
  ev.reason = std::string(reason_for_audit);
  (void)services_.record(std::move(ev));
  spdlog::info("refused {} from {} for connection {}: {}", subject_.empty() ? "caller" : subject_,
               client_.address, database_, reason_for_audit);
  refusal_.clear();
  wire::encode_error_response(refusal_,
                              {.severity = "FATAL", .sqlstate = sqlstate, .message = message});
}

asio::awaitable<bool> Session::startup() {
  auto ex = co_await asio::this_coro::executor;
  wire::StartupMessage startup;
  // 1. The untyped first packets: SSLRequest, GSSENCRequest, CancelRequest, StartupMessage.
  for (;;) {
    auto decoded = wire::decode_startup(Bytes(cbuf_.data(), clen_));
    if (auto* more = std::get_if<wire::NeedMore>(&decoded)) {
      if (more->at_least > wire::kMaxStartupLength + 8) co_return false;
      // No log for a connection that closes before speaking: it is usually a health probe.
      if (!co_await read_client_more()) co_return false;
      continue;
    }
    if (auto* err = std::get_if<wire::DecodeError>(&decoded)) {
      services_.counters().protocol_errors.fetch_add(1, std::memory_order_relaxed);
      refuse("08P01", "gatehouse: invalid startup packet",
             "invalid startup packet: " + err->reason);
      co_return co_await send_refusal();
    }
    auto& d = std::get<wire::StartupDecoded>(decoded);
    std::copy(cbuf_.begin() + d.consumed, cbuf_.begin() + clen_, cbuf_.begin());
    clen_ -= d.consumed;

    if (std::holds_alternative<wire::SslRequest>(d.packet)) {
      // Bytes sent after SSLRequest but before the handshake would be
      // injected into the TLS session by a man in the middle (CVE-2021-23214).
      if (clen_ != 0 || cstream_->is_tls()) {
        refuse("08P01", "gatehouse: unexpected data after SSLRequest", "data after SSLRequest");
        co_return co_await send_refusal();
      }
      wire::Buffer answer{static_cast<std::uint8_t>(client_.tls ? 'S' : 'N')};
      co_await send_client(answer);
      if (!client_.tls) continue;
      // Move the socket out of the plain stream into a TLS one.
      auto socket = net::release_tcp_socket(std::move(cstream_));
      auto tls = co_await net::tls_handshake_server(std::move(socket), *client_.tls);
      if (!tls) {
        spdlog::info("client {}: {}", client_.address, tls.error());
        co_return false;
      }
      cstream_ = std::move(*tls);
      continue;
    }
    if (std::holds_alternative<wire::GssEncRequest>(d.packet)) {
      refusal_.assign(1, 'N');
      co_await send_client(refusal_);
      continue;
    }
    if (auto* cancel = std::get_if<wire::CancelRequest>(&d.packet)) {
      auto target = services_.cancels().find({cancel->pid, cancel->secret});
      if (target) {
        spdlog::info("cancel for session {} from {}", target->session_id, client_.address);
        co_await send_upstream_cancel(ex, target->host, target->port, target->upstream_pid,
                                      target->upstream_secret);
      }
      co_return false;  // the protocol has no reply to a cancel: just close
    }
    startup = std::move(std::get<wire::StartupMessage>(d.packet));
    break;
  }

  // 2. Protocol version: 3.0; a newer 3.x gets NegotiateProtocolVersion.
  std::uint32_t major = startup.version >> 16, minor = startup.version & 0xffff;
  if (major != 3) {
    refuse("0A000",
           "unsupported frontend protocol " + std::to_string(major) + "." + std::to_string(minor) +
               ": server supports 3.0 to 3.0",
           "unsupported protocol version");
    co_return co_await send_refusal();
  }

  // 3. Parameters: user is a label, database names the connection.
  std::vector<std::pair<std::string, std::string>> pass;
  std::vector<std::string> unrecognized_options;
  for (auto& [name, value] : startup.params) {
    if (name == "user") {
      user_label_ = value;
    } else if (name == "database") {
      database_ = value;
    } else if (name.starts_with("_pq_.")) {
      unrecognized_options.push_back(name);
    } else if (contains(kRefusedParams, name)) {
      refuse("08004", "gatehouse: startup parameter \"" + name + "\" is not allowed",
             "refused startup parameter " + name);
      co_return co_await send_refusal();
    } else if (contains(kAllowedParams, name)) {
      pass.emplace_back(name, value);
    } else {
      refuse("08004",
             "gatehouse: startup parameter \"" + name +
                 "\" is not allowed (allowed: application_name, client_encoding, DateStyle, "
                 "TimeZone, IntervalStyle, extra_float_digits, search_path, statement_timeout, "
                 "lock_timeout, idle_in_transaction_session_timeout, lc_monetary, lc_numeric, "
                 "lc_time)",
             "refused startup parameter " + name);
      co_return co_await send_refusal();
    }
  }
  if (database_.empty()) database_ = user_label_;  // as libpq and the server default it
  if (minor > 0 || !unrecognized_options.empty()) {
    wire::Buffer nego;
    wire::encode_negotiate_protocol_version(nego, 0, unrecognized_options);
    co_await send_client(nego);
  }

  // 4. Transport: a token travels only over TLS, or in plaintext on loopback when allowed.
  if (!cstream_->is_tls()) {
    if (client_.listener->tls == config::ListenerTls::kRequired) {
      refuse("28000", "gatehouse: this listener requires TLS (connect with sslmode=require)",
             "plaintext connection on a TLS-only listener");
      co_return co_await send_refusal();
    }
    if (!client_.loopback) {
      refuse("28000", "gatehouse: a token is accepted over plaintext only from loopback; use TLS",
             "plaintext connection from a non-loopback address");
      co_return co_await send_refusal();
    }
  }

  // 5. Identify: the password is the token.
  wire::Buffer out;
  wire::encode_auth_cleartext_request(out);
  co_await send_client(out);
  std::string token;
  for (;;) {
    auto h = wire::decode_header(Bytes(cbuf_.data(), clen_), kMaxPasswordMessage);
    if (auto* err = std::get_if<wire::DecodeError>(&h)) {
      refuse("08P01", "gatehouse: invalid password message",
             "invalid password message: " + err->reason);
      co_return co_await send_refusal();
    }
    if (auto* header = std::get_if<wire::Header>(&h); header && clen_ >= header->length + 1u) {
      if (header->type != 'p') {
        refuse("08P01", "gatehouse: expected a password message", "expected password message");
        co_return co_await send_refusal();
      }
      auto pw =
          wire::parse_password(Bytes(cbuf_.data() + wire::Header::kSize, header->body_length()));
      if (!pw) {
        refuse("08P01", "gatehouse: invalid password message", "malformed password message");
        co_return co_await send_refusal();
      }
      token = std::string(*pw);
      std::size_t used = header->length + 1;
      std::copy(cbuf_.begin() + used, cbuf_.begin() + clen_, cbuf_.begin());
      clen_ -= used;
      break;
    }
    // A client without a password closes here (psql then prompts): not a refusal.
    if (!co_await read_client_more()) co_return false;
  }
  if (!token.empty()) token_hash_ = identity::token_hash(token);
  auto principal = services_.verifier().verify(token);
  std::fill(token.begin(), token.end(), '\0');
  if (!principal) {
    refuse("28P01", "gatehouse: token rejected: " + principal.error().reason,
           "token rejected: " + principal.error().reason);
    co_return co_await send_refusal();
  }
  subject_ = principal->subject;

  // 6. Authorize. An unknown connection gets the same answer as a forbidden
  // one, so callers cannot enumerate connection names.
  connection_ = services_.config().find_connection(database_);
  auto decision = policy::may_connect(services_.access(), *principal, database_);
  if (!connection_ || !decision.allowed) {
    refuse("28000", "gatehouse: " + subject_ + " may not connect to " + database_,
           connection_ ? "no access rule admits the principal" : "no such connection");
    co_return co_await send_refusal();
  }
  if (!services_.audit_accepting()) {
    refuse("53300", "gatehouse: the audit store is not accepting records; new sessions are refused",
           "audit unavailable");
    co_return co_await send_refusal();
  }

  // 7. Upstream, with the gateway's credential.
  auto tls_it = h_.upstream_tls.find(connection_->name);
  auto up = co_await connect_upstream(ex, *connection_, tls_it->second, pass);
  if (!up) {
    spdlog::warn("session for {} on {}: {}", subject_, connection_->name, up.error().for_log);
    refuse("08006", up.error().for_client, up.error().for_log);
    co_return co_await send_refusal();
  }
  upstream_ = std::move(*up);

  // 8. Established: the client sees AuthenticationOk, the server's parameters,
  // the gateway's own cancel key, and ReadyForQuery.
  session_id_ = gateway::Services::new_session_id();
  cancel_key_ = services_.cancels().add(
      {connection_->host, connection_->port, upstream_.pid, upstream_.secret, session_id_});
  cancel_registered_ = true;
  out.clear();
  wire::encode_auth_ok(out);
  out.insert(out.end(), upstream_.parameter_status.begin(), upstream_.parameter_status.end());
  wire::encode_backend_key_data(out, cancel_key_.pid, cancel_key_.secret);
  wire::encode_ready_for_query(out, upstream_.transaction_status);

  model::SessionStart start;
  start.session_id = session_id_;
  start.at_us = now_us();
  start.replica = services_.config().gateway.id;
  start.subject = principal->subject;
  start.groups = principal->groups;
  start.issuer = principal->issuer;
  start.token_hash = principal->token_hash;
  start.client_addr = client_.address;
  start.tls = cstream_->is_tls();
  start.listener = client_.listener->name;
  start.connection = connection_->name;
  start.protocol = "postgres";
  start.user_label = user_label_;
  for (auto& [k, v] : pass)
    if (k == "application_name") start.application_name = v;
  if (!services_.record(std::move(start))) {
    refuse("53300", "gatehouse: the audit store is not accepting records; new sessions are refused",
           "audit unavailable");
    co_return co_await send_refusal();
  }
  services_.counters().sessions_started.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("session {} started: {} ({}) on {} from {}", session_id_, subject_,
               principal->issuer_name, connection_->name, client_.address);
  co_await send_client(out);
  co_return true;
}

void Session::finish_statement(Pending& p, std::string_view outcome) {
  services_.counters().statements.fetch_add(1, std::memory_order_relaxed);
  if (!services_.audit_enabled()) return;
  model::StatementEvent ev;
  ev.session_id = session_id_;
  ev.seq = ++seq_;
  ev.at_us = p.at_us;
  ev.duration_us =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - p.started).count();
  ev.text = std::move(p.text);
  ev.protocol_path = p.kind == Pending::kSimple     ? "simple"
                     : p.kind == Pending::kExtended ? "extended"
                                                    : "function_call";
  ev.rows = p.rows;
  ev.outcome = std::string(p.failed ? "error" : outcome);
  ev.command_tag = std::move(p.tag);
  ev.error_code = std::move(p.error_code);
  ev.error_message = std::move(p.error_message);
  (void)services_.record(std::move(ev));
}

void Session::on_client_message(std::uint8_t type, Bytes body) {
  if (type == 'X') client_terminated_ = true;
  // Without audit there is nothing to track: keep pass-through at wire speed.
  if (!services_.audit_enabled()) return;
  switch (type) {
    case 'Q': {
      auto q = wire::parse_query(body);
      pending_.push_back({Pending::kSimple, audited_text(q ? q->sql : "<malformed query>"),
                          Clock::now(), now_us()});
      break;
    }
    case 'P': {
      if (auto p = wire::parse_parse(body))
        prepared_[std::string(p->statement)] = audited_text(p->sql);
      break;
    }
    case 'B': {
      if (auto b = wire::parse_bind(body)) {
        auto it = prepared_.find(b->statement);
        portals_[std::string(b->portal)] =
            it != prepared_.end() ? it->second : std::string("<unknown statement>");
      }
      break;
    }
    case 'E': {
      std::string text = "<unknown portal>";
      if (auto e = wire::parse_execute(body)) {
        auto it = portals_.find(e->portal);
        if (it != portals_.end()) text = it->second;
      }
      pending_.push_back({Pending::kExtended, std::move(text), Clock::now(), now_us()});
      break;
    }
    case 'C': {
      if (auto c = wire::parse_close(body)) {
        if (c->kind == 'S') {
          if (auto it = prepared_.find(c->name); it != prepared_.end()) prepared_.erase(it);
        } else if (auto it = portals_.find(c->name); it != portals_.end()) {
          portals_.erase(it);
        }
      }
      break;
    }
    case 'S':
      pending_.push_back({Pending::kSync, {}, Clock::now(), 0});
      break;
    case 'F': {
      auto f = wire::parse_function_call(body);
      pending_.push_back({Pending::kFunctionCall,
                          "<function call oid " + std::to_string(f ? f->function_oid : 0) + ">",
                          Clock::now(), now_us()});
      break;
    }
    default:
      break;
  }
}

void Session::on_server_message(std::uint8_t type, Bytes body) {
  if (!services_.audit_enabled()) return;
  // The server answers in order; the front of pending_ is what this answers.
  auto front_statement = [&]() -> Pending* {
    if (pending_.empty() || pending_.front().kind == Pending::kSync) return nullptr;
    return &pending_.front();
  };
  switch (type) {
    case 'C': {  // CommandComplete
      Pending* p = front_statement();
      if (!p) break;
      if (auto tag = wire::parse_command_complete(body)) {
        auto rows = wire::rows_from_command_tag(*tag);
        if (rows >= 0) p->rows = std::max<std::int64_t>(p->rows, 0) + rows;
        p->tag = std::string(*tag);
      }
      if (p->kind != Pending::kSimple) {
        finish_statement(*p, "ok");
        pending_.pop_front();
      }
      break;
    }
    case 'I':    // EmptyQueryResponse
    case 's':    // PortalSuspended
    case 'V': {  // FunctionCallResponse
      Pending* p = front_statement();
      if (p && p->kind != Pending::kSimple) {
        finish_statement(*p, "ok");
        pending_.pop_front();
      }
      break;
    }
    case 'E': {  // ErrorResponse
      Pending* p = front_statement();
      if (!p) break;
      if (auto f = wire::parse_error_fields(body)) {
        p->error_code = std::string(f->get('C'));
        p->error_message = audited_text(f->get('M'));
      }
      p->failed = true;
      if (p->kind != Pending::kSimple) {
        finish_statement(*p, "error");
        pending_.pop_front();
      }
      break;
    }
    case 'Z': {  // ReadyForQuery: ends a simple query, or everything up to a Sync
      while (!pending_.empty()) {
        Pending p = std::move(pending_.front());
        pending_.pop_front();
        if (p.kind == Pending::kSync) break;
        if (p.kind == Pending::kSimple) {
          finish_statement(p, "ok");
          break;
        }
        // An Execute the server skipped after an earlier error in the same pipeline.
        finish_statement(p, "skipped");
      }
      break;
    }
    default:
      break;
  }
}

asio::awaitable<void> Session::relay_client_to_upstream() {
  wire::MessageFramer framer(&client_wants_whole);
  std::vector<std::uint8_t> in(kRelayBuffer);
  wire::Buffer out;
  out.reserve(kRelayBuffer);
  // Bytes the client pipelined behind its password message.
  std::vector<std::uint8_t> first(cbuf_.begin(), cbuf_.begin() + clen_);
  cbuf_.clear();
  cbuf_.shrink_to_fit();
  std::size_t n = first.size();
  bool use_first = n > 0;
  for (;;) {
    if (!use_first) {
      net::error_code ec;
      n = co_await cstream_->read_some(in, ec);
      if (ec) {
        if (end_reason_.empty())
          end_reason_ = client_terminated_ ? "client terminated" : "client closed";
        co_return;
      }
      bytes_from_client_ += static_cast<std::int64_t>(n);
    }
    framer.feed(use_first ? Bytes(first) : Bytes(in.data(), n));
    use_first = false;
    out.clear();
    bool stop = false;
    for (;;) {
      auto ev = framer.next();
      using K = wire::MessageFramer::EventKind;
      if (ev.kind == K::kNeedMore) break;
      if (ev.kind == K::kError) {
        services_.counters().protocol_errors.fetch_add(1, std::memory_order_relaxed);
        end_reason_ = "protocol error from client: " + ev.error;
        wire::encode_error_response(out, {.severity = "FATAL",
                                          .sqlstate = "08P01",
                                          .message = "gatehouse: invalid message framing"});
        co_await send_client(out);
        co_return;
      }
      if (ev.kind == K::kWhole) {
        on_client_message(ev.header.type, ev.body);
        if (ev.header.type == 'X') stop = true;
      }
      out.insert(out.end(), ev.raw.begin(), ev.raw.end());
    }
    if (!out.empty()) {
      net::error_code ec;
      co_await upstream_.stream->write_all(out, ec);
      if (ec) {
        upstream_lost_ = true;
        if (end_reason_.empty()) end_reason_ = "upstream lost: " + ec.message();
        co_return;
      }
    }
    if (stop) {
      if (end_reason_.empty()) end_reason_ = "client terminated";
      co_return;
    }
  }
}

asio::awaitable<void> Session::relay_upstream_to_client() {
  wire::MessageFramer framer(&server_wants_whole);
  std::vector<std::uint8_t> in(kRelayBuffer);
  wire::Buffer out;
  out.reserve(kRelayBuffer);
  std::vector<std::uint8_t> first = std::move(upstream_.leftover);
  std::size_t n = first.size();
  bool use_first = n > 0;
  for (;;) {
    if (!use_first) {
      net::error_code ec;
      n = co_await upstream_.stream->read_some(in, ec);
      if (ec) {
        if (client_terminated_) co_return;
        upstream_lost_ = true;
        end_reason_ = "upstream lost: " +
                      (ec == asio::error::eof ? std::string("connection closed") : ec.message());
        out.clear();
        wire::encode_error_response(
            out, {.severity = "FATAL",
                  .sqlstate = "08006",
                  .message = "gatehouse: connection to upstream " + connection_->name + " lost"});
        co_await send_client(out);
        co_return;
      }
    }
    framer.feed(use_first ? Bytes(first) : Bytes(in.data(), n));
    use_first = false;
    out.clear();
    for (;;) {
      auto ev = framer.next();
      using K = wire::MessageFramer::EventKind;
      if (ev.kind == K::kNeedMore) break;
      if (ev.kind == K::kError) {
        services_.counters().protocol_errors.fetch_add(1, std::memory_order_relaxed);
        end_reason_ = "protocol error from upstream: " + ev.error;
        wire::encode_error_response(out,
                                    {.severity = "FATAL",
                                     .sqlstate = "08006",
                                     .message = "gatehouse: upstream sent an invalid message"});
        co_await send_client(out);
        co_return;
      }
      if (ev.kind == K::kWhole) on_server_message(ev.header.type, ev.body);
      out.insert(out.end(), ev.raw.begin(), ev.raw.end());
    }
    if (!out.empty()) {
      net::error_code ec;
      co_await cstream_->write_all(out, ec);
      if (ec) {
        if (end_reason_.empty()) end_reason_ = "client closed";
        co_return;
      }
      bytes_to_client_ += static_cast<std::int64_t>(out.size());
    }
  }
}

}  // namespace gh::adapters::pg
