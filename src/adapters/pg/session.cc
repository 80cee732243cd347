#include "adapters/pg/session.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <mutex>
#include <optional>

#include "adapters/pg/catalog_fetch.h"
#include "adapters/pg/handler_state.h"
#include "base/utf8.h"
#include "gateway/key_refresh.h"
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
constexpr std::size_t kRelayBuffer = 32 * 1024;
constexpr std::size_t kSmallRead = 1024;
// audit_durability: sync — how long a statement waits for its record to
// reach the disk before the session gives up on it (fail closed).
constexpr auto kDurableTimeout = std::chrono::seconds(10);
// A recorded parameter value is cut to this many bytes (after masking).
constexpr std::size_t kMaxRecordedParam = 1024;

// Recorded text is masked: literals in a statement can be values.
std::string masked_text(const ResultMasker& masker, std::string text) {
  if (!masker.active()) return text;
  masking::Counts ignored;
  std::string masked;
  if (masker.rules()->mask_text(text, masked, ignored) == masking::Outcome::kRewritten)
    return masked;
  return text;
}

// Startup parameters that pass upstream; every other name is refused. That
// covers what changes identity or role (role, session_authorization,
// replication), arbitrary settings (options) and how statements parse
// (standard_conforming_strings).
// https://www.postgresql.org/docs/15/protocol-message-formats.html (StartupMessage)
constexpr std::array<std::string_view, 13> kAllowedParams = {
    "application_name", "client_encoding",
    "DateStyle",        "TimeZone",
    "IntervalStyle",    "extra_float_digits",
    "search_path",      "statement_timeout",
    "lock_timeout",     "idle_in_transaction_session_timeout",
    "lc_monetary",      "lc_numeric",
    "lc_time"};

std::string allowed_params_list() {
  std::string out;
  for (auto p : kAllowedParams) out += (out.empty() ? "" : ", ") + std::string(p);
  return out;
}

// Encodings in which a byte that looks like a quote or backslash can be the
// second byte of a character: the server would read such a statement
// differently from the gateway's analysis of its bytes.
// https://www.postgresql.org/docs/15/multibyte.html (client-only encodings)
bool analyzable_encoding(std::string_view value) {
  std::string v;
  for (char c : value)
    if (c != '_' && c != '-' && c != ' ')
      v += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static constexpr std::string_view kUnsafe[] = {
      "sjis",    "shiftjis", "shiftjis2004", "big5",   "gbk",    "uhc",
      "gb18030", "johab",    "win932",       "win936", "win949", "win950",
      "cp932",   "cp936",    "cp949",        "cp950",  "mskanji"};
  for (auto u : kUnsafe)
    if (v == u) return false;
  return true;
}

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
// With masking on, rows and COPY data are rewritten, so they come whole.
bool server_wants_all_whole(std::uint8_t) {
  return true;
}

}  // namespace

Session::Session(HandlerState& handler, asio::ip::tcp::socket socket, gateway::ClientInfo client)
    : h_(handler),
      services_(handler.services),
      client_(std::move(client)),
      cstream_(net::make_tcp_stream(std::move(socket))),
      cbuf_(4096),
      budget_(handler.services.memory(), handler.services.config().gateway.session_memory) {}

Session::~Session() {
  if (cancel_registered_) services_.cancels().remove(cancel_key_);
  // A session torn down with the I/O threads (gateway stopping) still gets its end record.
  end_session("gateway stopped");
}

std::int64_t Session::now_us() const {
  return unix_us();
}

asio::awaitable<void> Session::run() {
  bool ok = false;
  {
    // A client that stalls anywhere before ReadyForQuery is cut off. The
    // stream may be mid-swap (plain to TLS) when this fires.
    auto* cs = &cstream_;
    auto* up = &upstream_;
    net::Deadline deadline(co_await asio::this_coro::executor, kStartupTimeout, [cs, up] {
      if (*cs) (*cs)->close();
      if (up->stream) up->stream->close();
    });
    ok = co_await startup();
    if (deadline.fired()) ok = false;
  }
  client_.login_slot.reset();  // logged in (or gone): no longer counts against its address
  if (!ok) {
    if (cstream_) cstream_->close();
    if (upstream_.stream) upstream_.stream->close();
    if (started_) end_session("startup timed out");
    co_return;
  }

  services_.counters().sessions_active.fetch_add(1, std::memory_order_relaxed);
  co_await relay();
  services_.counters().sessions_active.fetch_sub(1, std::memory_order_relaxed);
  cstream_->close();
  upstream_.stream->close();
  end_session(end_reason_.empty() ? "client closed" : end_reason_);
}

void Session::end_session(const std::string& reason) {
  if (!started_ || ended_) return;
  ended_ = true;
  // Whatever was still awaiting an answer never got one.
  tracker_.interrupt_all(Clock::now(), finished_);
  record_statements();
  model::SessionEnd end{session_id_, now_us(), reason, bytes_from_client_, bytes_to_client_, seq_};
  (void)services_.record(std::move(end));
  spdlog::info("session {} ended: {}", session_id_, reason);
}

std::pair<const config::Connection*, const UpstreamTls*> Session::cancel_route(
    const gateway::CancelTarget& target) const {
  const auto& cfg = services_.config();
  const config::Connection* chosen = nullptr;
  if (!target.connection.empty()) chosen = cfg.find_connection(target.connection);
  if (chosen == nullptr) {
    // Another replica's session: replicas share the configuration, so the
    // connections to that server say how to reach it; the strictest wins.
    for (const auto& c : cfg.connections)
      if (c.host == target.host && c.port == target.port &&
          (chosen == nullptr || static_cast<int>(c.tls) > static_cast<int>(chosen->tls)))
        chosen = &c;
  }
  if (chosen == nullptr) return {nullptr, nullptr};
  auto it = h_.upstream_tls.find(chosen->name);
  return {chosen, it == h_.upstream_tls.end() ? nullptr : &it->second};
}

asio::awaitable<std::optional<gateway::CancelTarget>> Session::find_shared_cancel(
    gateway::CancelKey key) {
  constexpr auto kWait = std::chrono::seconds(5);
  auto ex = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(ex, kWait);
  struct Found {
    std::mutex mu;
    bool done = false;
    std::optional<gateway::CancelTarget> target;
  };
  auto found = std::make_shared<Found>();
  services_.cancels().find_shared(key, [ex, timer, found](auto target) {
    {
      std::lock_guard lock(found->mu);
      found->done = true;
      found->target = std::move(target);
    }
    asio::post(ex, [timer] { timer->cancel(); });
  });
  bool done = false;
  {
    std::lock_guard lock(found->mu);
    done = found->done;
  }
  if (!done) {
    net::error_code ec;
    co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  std::lock_guard lock(found->mu);
  co_return found->target;
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
                     std::string_view reason_for_audit, const std::string& hint) {
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
  wire::encode_error_response(
      refusal_, {.severity = "FATAL", .sqlstate = sqlstate, .message = message, .hint = hint});
}

asio::awaitable<bool> Session::startup() {
  auto ex = co_await asio::this_coro::executor;
  if (client_.over_limit) {
    // As the server does past max_connections: no TLS, no parsing, just the
    // error — after taking the client's first packet off the socket, so that
    // closing is orderly and the client reads the message rather than a reset.
    (void)co_await read_client_more();
    refuse("53300", "gatehouse: too many connections", "gateway.max_connections reached");
    co_return co_await send_refusal();
  }
  if (!client_.login_slot) {
    // This address already has max_logins_per_address connections logging
    // in: refused at once, without waiting for a packet that may never come
    // (idle connections must not hold descriptors until the startup deadline).
    refuse("53300", "gatehouse: too many connections from your address are still logging in",
           "gateway.max_logins_per_address reached");
    co_return co_await send_refusal();
  }
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
      const gateway::CancelKey key{cancel->pid, cancel->secret};
      auto target = services_.cancels().find(key);
      if (target) {
        spdlog::info("cancel for session {} from {}", target->session_id, client_.address);
        // A statement held for approval is what the client wants cancelled.
        services_.approvals().withdraw_held(target->session_id, "cancelled by the client");
      } else if (services_.peers()) {
        // A load balancer may send the cancel to another replica than the session's.
        target = co_await find_shared_cancel(key);
        if (target)
          spdlog::info("cancel for session {} of another replica from {}", target->session_id,
                       client_.address);
      }
      if (target) {
        const auto [conn, tls] = cancel_route(*target);
        co_await send_upstream_cancel(ex, conn, tls, target->host, target->port,
                                      target->upstream_pid, target->upstream_secret);
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
    } else if (name == "client_encoding" && !analyzable_encoding(value)) {
      refuse("08004",
             "gatehouse: client_encoding \"" + value +
                 "\" is not allowed: statements in it cannot be analyzed as the server reads "
                 "them (use UTF8)",
             "refused client_encoding " + value);
      co_return co_await send_refusal();
    } else if (contains(kAllowedParams, name)) {
      pass.emplace_back(name, value);
    } else {
      refuse("08004",
             "gatehouse: startup parameter \"" + name +
                 "\" is not allowed (allowed: " + allowed_params_list() + ")",
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
  if (!principal && principal.error().code == identity::RefusalCode::kUnknownKid &&
      !principal.error().issuer.empty()) {
    // A key the issuer published since its keys were fetched (a rotation):
    // fetched again, at a bounded rate, and the token verified once more.
    if (co_await gateway::keys_refreshed(services_, principal.error().issuer))
      principal = services_.verifier().verify(token);
  }
  std::fill(token.begin(), token.end(), '\0');
  if (!principal) {
    // The client, not yet identified, learns the kind of refusal; the log and
    // the audit record get the whole reason (which names configured issuers).
    refuse("28P01", "gatehouse: token rejected: " + identity::public_reason(principal.error()),
           "token rejected: " + principal.error().reason);
    co_return co_await send_refusal();
  }
  subject_ = principal->subject;

  // 6. Authorize. An unknown connection gets the same answer as a forbidden
  // one, so callers cannot enumerate connection names.
  connection_ = services_.config().find_connection(database_);
  auto policy_now = services_.policy();
  auto decision = policy::may_connect(policy_now->access, *principal, database_);
  if (!connection_ || !decision.allowed) {
    refuse("28000", "gatehouse: " + subject_ + " may not connect to " + database_,
           connection_ ? "no access rule admits the principal" : "no such connection");
    co_return co_await send_refusal();
  }
  // Just-in-time access: a connection under an `on: connect` rule needs an
  // approved window for this caller.
  if (auto rules = services_.approval_rules(); rules->has_connect_rules()) {
    if (const auto* rule = approvals::match_connect(*rules, *principal, database_)) {
      approvals::Binding b;
      b.kind = approvals::Binding::Kind::kConnect;
      b.subject = principal->subject;
      b.issuer = principal->issuer;
      b.connection = database_;
      auto& broker = services_.approvals();
      auto grant = broker.use_grant(b);
      if (!grant) {
        approvals::Person who{principal->subject, principal->issuer, principal->issued_by,
                              principal->groups};
        auto raised = broker.raise(b, *rule, who, "connect to " + database_, "", "", std::nullopt);
        if (!raised) {
          refuse("53400",
                 "gatehouse: access to " + database_ + " needs approval (" + rule->name +
                     "), but no request could be raised: " + raised.error(),
                 "access window needed; " + raised.error());
          co_return co_await send_refusal();
        }
        if (raised->created)
          services_.counters().approvals_requested.fetch_add(1, std::memory_order_relaxed);
        const std::string& id = raised->request.id;
        refuse("28000",
               "gatehouse: access to " + database_ + " needs approval (" + rule->name +
                   "): request " + id,
               "access window needed: request " + id,
               "an approver runs `gatehouse reviews approve " + id + "`; then connect again");
        co_return co_await send_refusal();
      }
      window_until_us_ = grant->grant_until_us;
      window_request_ = grant->id;
    }
  }
  if (!services_.audit_accepting()) {
    refuse("53300", "gatehouse: the audit store is not accepting records; new sessions are refused",
           "audit unavailable");
    co_return co_await send_refusal();
  }
  // Masking fails closed: without its rules, no session.
  {
    masker_version_ = services_.policy_version();
    row_rules_ = services_.approval_rules()->has_row_rules();
    if (const auto& rec = services_.config().recording; rec.results && services_.audit_enabled()) {
      capture_ = std::make_unique<ResultCapture>(rec.max_rows_per_statement);
      capture_->set_exempt(services_.masking()->exempted(*principal, connection_->name));
    }
    std::string error;
    auto rules = services_.masking()->for_session(*principal, connection_->name, error);
    if (!rules) {
      spdlog::error("session for {} on {}: {}", subject_, connection_->name, error);
      refuse("XX000", "gatehouse: masking is unavailable; new sessions are refused", error);
      co_return co_await send_refusal();
    }
    masker_.set_rules(std::move(rules));
  }
  principal_ = *principal;

  // 7. Upstream, with the gateway's credential: the read-only one when the
  // caller may only read (defence in depth behind the statement checks). The
  // search_path is pinned so the gateway knows how unqualified names resolve.
  const bool read_only = connection_->read_credentials.has_value() &&
                         policy::read_only(*policy_now, *principal, connection_->name);
  const config::Credentials& cred =
      read_only ? *connection_->read_credentials : connection_->credentials;
  std::string search_path = connection_->search_path;
  bool client_path = false;
  for (auto& [k, v] : pass) {
    if (k == "search_path") {
      search_path = v;
      client_path = true;
    }
  }
  if (!client_path) pass.emplace_back("search_path", search_path);
  auto tls_it = h_.upstream_tls.find(connection_->name);
  auto up = co_await connect_upstream(ex, *connection_, cred, tls_it->second, pass);
  if (!up) {
    spdlog::warn("session for {} on {}: {}", subject_, connection_->name, up.error().for_log);
    refuse("08006", up.error().for_client, up.error().for_log);
    co_return co_await send_refusal();
  }
  upstream_ = std::move(*up);
  cred_ = &cred;
  source_of_ = [this](std::uint32_t oid, std::int16_t attnum) {
    return services_.relations().column(connection_->name, oid, attnum);
  };
  gate_ = std::make_unique<StatementGate>(services_, *principal, connection_->name, search_path,
                                          cred.user);
  gate_->set_redactor([this](const std::string& text) {
    masking::Counts ignored;
    std::string masked;
    if (masker_.active() &&
        masker_.rules()->mask_text(text, masked, ignored) == masking::Outcome::kRewritten)
      return masked;
    return text;
  });

  // 8. Established: the client sees AuthenticationOk, the server's parameters,
  // the gateway's own cancel key, and ReadyForQuery.
  session_id_ = gateway::Services::new_session_id();
  gate_->set_session_id(session_id_);
  gateway::CancelTarget own{connection_->host, connection_->port, upstream_.pid, upstream_.secret,
                            session_id_};
  own.connection = connection_->name;
  cancel_key_ = services_.cancels().add(std::move(own));
  cancel_registered_ = true;
  out.clear();
  wire::encode_auth_ok(out);
  out.insert(out.end(), upstream_.parameter_status.begin(), upstream_.parameter_status.end());
  std::vector<std::uint8_t>().swap(upstream_.parameter_status);  // relayed: not kept
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
  started_ = true;
  sync_audit_ = services_.sync_audit();
  services_.counters().sessions_started.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("session {} started: {} ({}) on {} from {}{}", session_id_, subject_,
               principal->issuer_name, connection_->name, client_.address,
               read_only ? " (read-only credentials)" : "");
  co_await send_client(out);
  co_return true;
}

void Session::record_statements(std::vector<model::AuditEvent>* durable) {
  // The gateway saw DDL succeed: names and columns may have changed.
  for (const auto& f : finished_) {
    if (f.decision && f.decision->cls == "ddl" && f.outcome == "ok") {
      services_.relations().invalidate(connection_->name);
      services_.functions().invalidate(connection_->name);
      break;
    }
  }
  if (!services_.audit_enabled()) {
    services_.counters().statements.fetch_add(finished_.size(), std::memory_order_relaxed);
    finished_.clear();
    return;
  }
  for (auto& f : finished_) {
    services_.counters().statements.fetch_add(1, std::memory_order_relaxed);
    model::StatementEvent ev;
    ev.session_id = session_id_;
    ev.seq = ++seq_;
    ev.at_us = f.at_us;
    ev.duration_us = f.duration_us;
    ev.text = f.text ? f.text->text : std::string();
    ev.result = std::move(f.result);
    ev.text = masked_text(masker_, std::move(ev.text));
    if (f.params) {
      ev.params.reserve(f.params->size());
      for (const auto& p : *f.params) {
        if (!p) {
          ev.params.emplace_back(std::nullopt);
          continue;
        }
        // Masked whole, then cut: a value cut first could hide what makes it sensitive.
        std::string v = masked_text(masker_, *p);
        if (v.size() > kMaxRecordedParam) {
          const std::size_t total = v.size();
          v.resize(utf8_cut(v, kMaxRecordedParam));
          v += "…[" + std::to_string(total) + " bytes]";
        }
        ev.params.emplace_back(std::move(v));
      }
    }
    if (f.decision) ev.decision = *f.decision;
    ev.masked = std::move(f.masked);
    ev.withheld = f.withheld;
    ev.protocol_path = std::move(f.protocol_path);
    ev.rows = f.rows;
    ev.outcome = std::move(f.outcome);
    ev.command_tag = std::move(f.tag);
    ev.error_code = std::move(f.error_code);
    ev.error_message = std::move(f.error_message);
    if (durable)
      durable->emplace_back(std::move(ev));
    else
      (void)services_.record(std::move(ev));
  }
  finished_.clear();
}

void Session::note_intent() {
  if (!sync_audit_) return;
  const auto& fwd = tracker_.forwarded();
  if (fwd.protocol_path.empty()) return;
  model::StatementIntent in;
  in.session_id = session_id_;
  in.seq = ++intent_seq_;
  in.at_us = now_us();
  in.protocol_path = std::string(fwd.protocol_path);
  if (fwd.text) {
    in.text = masked_text(masker_, fwd.text->text);
    if (fwd.text->decision) in.decision = *fwd.text->decision;
  }
  intents_.emplace_back(std::move(in));
}

asio::awaitable<bool> Session::make_durable(std::vector<model::AuditEvent>& events) {
  if (events.empty()) co_return true;
  struct Wait {
    explicit Wait(const asio::any_io_executor& ex) : timer(ex, kDurableTimeout) {}
    asio::steady_timer timer;
    std::size_t left = 0;
    bool ok = true;
  };
  auto ex = co_await asio::this_coro::executor;
  auto w = std::make_shared<Wait>(ex);
  w->left = events.size();
  // The writer calls back on its own thread; the count is kept on this one.
  for (auto& ev : events) {
    services_.record_durable(std::move(ev), [ex, w](bool written) {
      asio::post(ex, [w, written] {
        if (!written) w->ok = false;
        if (--w->left == 0 || !w->ok) w->timer.cancel();
      });
    });
  }
  events.clear();
  net::error_code ec;
  co_await w->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return w->ok && w->left == 0;
}

void Session::set_fatal(std::string_view sqlstate, const std::string& message, std::string reason) {
  if (!end_reason_.empty()) return;  // the first cause is the one that counts
  end_reason_ = std::move(reason);
  fatal_.clear();
  wire::encode_error_response(fatal_,
                              {.severity = "FATAL", .sqlstate = sqlstate, .message = message});
}

asio::awaitable<void> Session::pump(Direction& d) {
  // This frame lives as long as the session, so it holds only what a quiet
  // direction needs: the framer and the wait for more bytes. The reads, their
  // buffers and the handling of each message are in relay_burst(), whose
  // frame exists only while bytes flow (GCC keeps every local of a coroutine
  // in its frame for the coroutine's whole life). See docs/decisions.md, Limits.
  wire::MessageFramer framer(d.wants_whole);
  bool holding_client = false;  // this (server) direction has written part of a message
  bool more = true;
  if (!d.first.empty()) more = co_await relay_burst(d, framer, holding_client);
  while (more) {
    net::error_code ec;
    co_await d.from->wait_readable(ec);
    if (ec) {
      d.end = ec == asio::error::operation_aborted ? PumpEnd::kCancelled : PumpEnd::kReadFailed;
      d.error = ec == asio::error::eof ? std::string("connection closed") : ec.message();
      co_return;
    }
    more = co_await relay_burst(d, framer, holding_client);
  }
}

asio::awaitable<bool> Session::relay_burst(Direction& d, wire::MessageFramer& framer,
                                           bool& holding_client) {
  // Reads go into a small buffer while messages are small (an idle or
  // request-and-answer session); a read that fills it moves to a large one,
  // and once reads are small again the burst ends and both are let go.
  std::array<std::uint8_t, kSmallRead> small;
  std::unique_ptr<std::uint8_t[]> big;
  std::span<std::uint8_t> read_into(small);
  std::size_t n_last = 0;
  wire::Buffer out;
  std::vector<std::uint8_t> first = std::move(d.first);
  bool use_first = !first.empty();
  const auto ex = co_await asio::this_coro::executor;
  for (;;) {
    std::size_t n = first.size();
    if (!use_first) {
      net::error_code ec;
      // The last read's data has been handled: the buffer can change now.
      if (n_last == read_into.size() && !big) big.reset(new std::uint8_t[kRelayBuffer]);
      read_into =
          big ? std::span<std::uint8_t>(big.get(), kRelayBuffer) : std::span<std::uint8_t>(small);
      n = co_await d.from->read_some(read_into, ec);
      n_last = n;
      if (ec) {
        d.end = ec == asio::error::operation_aborted ? PumpEnd::kCancelled : PumpEnd::kReadFailed;
        d.error = ec == asio::error::eof ? std::string("connection closed") : ec.message();
        co_return false;
      }
      *d.bytes_in += static_cast<std::int64_t>(n);
    }
    framer.feed(use_first ? Bytes(first) : Bytes(read_into.data(), n));
    use_first = false;
    out.clear();
    bool stop = false;
    for (;;) {
      auto ev = framer.next();
      using K = wire::MessageFramer::EventKind;
      if (ev.kind == K::kNeedMore) break;
      if (ev.kind == K::kError) {
        services_.counters().protocol_errors.fetch_add(1, std::memory_order_relaxed);
        d.end = PumpEnd::kFramingError;
        d.error = ev.error;
        co_return false;  // nothing of this read is forwarded past broken framing
      }
      if (ev.kind == K::kWhole) {
        if (d.from_client) {
          const std::uint8_t type = ev.header.type;
          if (type == 'X') stop = true;
          if (StatementGate::is_statement(type) && services_.pause_gate().paused()) {
            // Held: what came before it goes on; it and what follows wait.
            if (!co_await durable_then_flush(d, out)) co_return false;
            co_await hold_while_paused();
            auto cs = co_await asio::this_coro::cancellation_state;
            if (cs.cancelled() != asio::cancellation_type::none) co_return false;
          }
          // Calls of the database's own routines are judged by its catalog.
          if (gate_->needs_function_catalog(type, ev.body)) co_await fetch_function_catalog();
          // A guardrail on conditions over masked columns: found by lineage.
          if (auto check = gate_->predicate_check(type, ev.body)) {
            std::string masked;
            if (masker_.active()) {
              const std::string text(check->first);
              for (std::size_t i = 0; i < check->second && masked.empty(); ++i) {
                auto lineage = co_await lineage_for(text, i);
                for (const auto& o : lineage->predicates)
                  if (masker_.rules()->rule_for_derived({o}) >= 0) {
                    masked = o.source;
                    break;
                  }
              }
            }
            gate_->set_masked_predicate(std::move(masked));
          }
          // Decide, then record, then relay the message or its replacement.
          auto ins = gate_->inspect(type, ev.body);
          gate_->set_masked_predicate({});
          if (ins.hold) {
            // Held for approval: what came before it goes on; it and what follows wait.
            if (!co_await durable_then_flush(d, out)) co_return false;
            bool client_gone = false;
            ins = co_await hold_for_approval(type, std::move(ins), d, client_gone);
            auto cs = co_await asio::this_coro::cancellation_state;
            if (cs.cancelled() != asio::cancellation_type::none) co_return false;
            if (client_gone) {
              d.end = PumpEnd::kReadFailed;
              d.error = "connection closed while a statement was held for approval";
              co_return false;
            }
          }
          using V = StatementTracker::ClientVerdict;
          switch (tracker_.on_client(type, ev.body, Clock::now(), now_us(), ins.note)) {
            case V::kOk:
              if (auto b = budget_.hold(gateway::SessionBudget::kStatements, tracker_.held_bytes());
                  b != gateway::SessionBudget::Verdict::kOk) {
                // Nothing of this message goes upstream; the client learns why.
                d.end = PumpEnd::kMemory;
                d.error = budget_.describe(b);
                co_return false;
              }
              break;
            case V::kLimit:
              d.end = PumpEnd::kLimit;
              d.error = "too many prepared statements, portals or pipelined messages";
              co_return false;
            case V::kMalformed:
              // What the gateway cannot follow, it does not relay.
              d.end = PumpEnd::kFramingError;
              d.error = std::string("malformed '") + char(type) + "' message";
              co_return false;
          }
          if (ins.replace) {
            out.insert(out.end(), ins.replacement.begin(), ins.replacement.end());
            continue;
          }
          if (type == 'D' && !ev.body.empty() &&
              describes_.size() < StatementTracker::kMaxPending) {
            // Describe: which statement the RowDescription (or NoData) that answers it is of.
            auto name = ev.body.subspan(1);
            auto nul = std::find(name.begin(), name.end(), std::uint8_t{0});
            describes_.emplace_back(static_cast<char>(ev.body[0]), std::string(name.begin(), nul));
          }
          note_intent();
        } else {
          const std::uint8_t type = ev.header.type;
          Bytes body = ev.body;
          Bytes raw = ev.raw;
          if (type == 'T' || type == 'H') refresh_masking(framer);
          std::size_t index = 0;
          Text described = (type == 'T' || type == 'n') ? described_text(type, index) : nullptr;
          if (masker_.active()) {
            if (type == 'T') {
              co_await resolve_sources(body);
              auto rules = masker_.rules();
              if (rules->has_column_rules() || rules->has_json_paths()) {
                std::shared_ptr<const sql::Lineage> lineage;
                if (described)
                  lineage = co_await lineage_for(described->text, index, described->decision);
                masker_.expect_lineage(std::move(lineage));
              }
            }
            if (type == 'H') co_await prepare_copy();
            using A = ResultMasker::Action;
            A act = masker_.on_server(type, body, source_of_, mask_out_);
            if (act == A::kDrop) continue;
            if (act == A::kReplace) {
              raw = Bytes(mask_out_);
              body = raw.subspan(wire::Header::kSize);
            }
          }
          const RowStep step =
              row_rules_ || withholding_ ? row_threshold(ex, type, raw, out) : RowStep::kForward;
          if (capture_) {
            if (type == 'D' && step == RowStep::kForward) capture_->on_data_row(body);
            if (type == 'T') capture_->on_row_description(body);
          }
          if (step == RowStep::kConsumed) continue;
          if (type == 'D') {  // rows: nothing for the tracker to follow
            out.insert(out.end(), raw.begin(), raw.end());
            continue;
          }
          if (type == 'Z') {
            copies_seen_ = 0;
            results_seen_ = 0;
            describes_.clear();  // everything sent before has been answered
          }
          if (type == 'C' || type == 'I') ++results_seen_;
          const std::size_t before = finished_.size();
          auto replacement = tracker_.on_server(type, body, Clock::now(), finished_);
          if (masker_.active()) attach_mask_counts(before);
          if (capture_ && finished_.size() > before) finished_[before].result = capture_->take();
          if (type == 'E') note_server_fatal(body);
          if (step == RowStep::kWithheld) {
            // The client gets the gateway's error where the result would have
            // ended (in place of the server's own error for the cancel, or of
            // a completion that beat it), then nothing more of it.
            const bool ends =
                type == 'E' || type == 'C' || type == 'I' || type == 's' || type == 'Z';
            if (ends && !withheld_error_sent_) {
              out.insert(out.end(), withheld_error_->begin(), withheld_error_->end());
              withheld_error_sent_ = true;
            }
            if (type == 'Z') {
              withholding_ = false;
              withheld_error_.reset();
              if (auto cancel = std::move(cancel_in_flight_); cancel && !cancel->done) {
                net::error_code ec;
                co_await cancel->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
              }
            }
            // Asynchronous messages still reach the client.
            if (type == 'Z' || type == 'N' || type == 'S' || type == 'A')
              out.insert(out.end(), raw.begin(), raw.end());
            continue;
          }
          if (replacement != nullptr) {
            out.insert(out.end(), replacement->begin(), replacement->end());
            continue;
          }
          out.insert(out.end(), raw.begin(), raw.end());
          continue;
        }
      }
      out.insert(out.end(), ev.raw.begin(), ev.raw.end());
      if (stop) break;  // nothing after Terminate goes upstream
    }
    // audit_durability: sync — nothing goes upstream before its intent is on
    // disk, and no completion reaches the client before its outcome is. async
    // — the same for completions while the store lags past the async window,
    // so that what a crash can lose stays inside it.
    if (!finished_.empty())
      record_statements(sync_audit_ || services_.audit_lagging() ? &outcomes_ : nullptr);
    auto& owed = d.from_client ? intents_ : outcomes_;
    bool durable = true;  // (co_await stays out of && and ||: GCC 12 miscompiles it there)
    if (!owed.empty()) durable = co_await make_durable(owed);
    if (!durable) {
      d.end = PumpEnd::kAuditFailed;
      d.error = d.from_client ? "the statement's audit record did not reach the store"
                              : "the statement's outcome did not reach the audit store";
      co_return false;
    }
    if (!out.empty()) {
      net::error_code ec;
      d.writing = true;
      if (!d.from_client && !holding_client) {
        // Uncontended (the usual case): no coroutine frame for the lock.
        if (client_writes_locked_)
          co_await lock_client_writes();
        else
          client_writes_locked_ = true;
        holding_client = true;
      }
      co_await d.to->write_all(out, ec);
      // The client may get a gateway message only between whole server messages.
      if (!d.from_client && framer.at_boundary()) {
        unlock_client_writes();
        holding_client = false;
      }
      if (ec) {
        d.end = ec == asio::error::operation_aborted ? PumpEnd::kCancelled : PumpEnd::kWriteFailed;
        d.error = ec.message();
        co_return false;
      }
      d.writing = false;
      *d.bytes_out += static_cast<std::int64_t>(out.size());
      // A large answer must not pin its buffer for the rest of the burst.
      if (out.capacity() > 4 * kRelayBuffer) out = wire::Buffer();
    }
    if (stop) {
      d.end = PumpEnd::kTerminated;
      co_return false;
    }
    // Reads that do not fill a small buffer: the burst is over. The next
    // bytes are waited for with no buffer held (pump()).
    if (n_last < kSmallRead) {
      framer.shrink();
      tracker_.shrink();  // (both only once nothing is pending)
      describes_.shrink_to_fit();
      co_return true;
    }
  }
}

Session::RowStep Session::row_threshold(const asio::any_io_executor& ex, std::uint8_t type,
                                        Bytes raw, wire::Buffer& out) {
  // More than this held for one result counts as crossing its threshold.
  constexpr std::size_t kMaxHeldBytes = 64 << 20;
  const bool row = type == 'D' || type == 'd';
  if (withholding_) return row ? RowStep::kConsumed : RowStep::kWithheld;
  RowWatch* w = tracker_.running_rows();
  if (w == nullptr) return RowStep::kForward;
  if (row) {
    held_rows_.insert(held_rows_.end(), raw.begin(), raw.end());
    // Rows held past the session's (or the gateway's) memory budget count as
    // crossing the threshold: the result is withheld with the rule's error.
    const bool fits = held_rows_.size() <= kMaxHeldBytes &&
                      budget_.hold(gateway::SessionBudget::kRows, held_rows_.capacity()) ==
                          gateway::SessionBudget::Verdict::kOk;
    if (++w->rows <= w->threshold && fits) return RowStep::kConsumed;
    // Crossed: nothing of it reaches the client; the server stops producing it.
    std::vector<std::uint8_t>().swap(held_rows_);  // `= {}` would keep the capacity
    budget_.hold(gateway::SessionBudget::kRows, 0);
    if (capture_) capture_->withhold();
    auto withheld = gate_->rows_exceeded(*w);
    spdlog::info("session {}: result over {} rows withheld ({}); upstream query cancelled",
                 session_id_, w->threshold, w->rule->name);
    withheld_error_ = withheld.error;
    withheld_error_sent_ = false;
    withholding_ = true;
    tracker_.withhold_running(std::move(withheld.error), std::move(withheld.record));
    auto cancel = std::make_shared<CancelInFlight>(ex);
    cancel->timer.expires_after(std::chrono::seconds(15));  // past the cancel's own deadlines
    cancel_in_flight_ = cancel;
    asio::co_spawn(
        ex,
        send_upstream_cancel(ex, connection_, &h_.upstream_tls.at(connection_->name),
                             connection_->host, connection_->port, upstream_.pid, upstream_.secret),
        [cancel](std::exception_ptr) {
          cancel->done = true;
          cancel->timer.cancel();
        });
    return RowStep::kConsumed;
  }
  // The result ends (or pauses, for a portal) under the threshold: its rows
  // go on, ahead of what ends it.
  if (type == 'C' || type == 'c' || type == 's' || type == 'E' || type == 'I') {
    if (capture_) {
      // What is released is what the client sees: kept as such.
      for (std::size_t at = 0; at < held_rows_.size();) {
        auto h = wire::decode_header(Bytes(held_rows_).subspan(at));
        const auto* header = std::get_if<wire::Header>(&h);
        if (header == nullptr) break;  // only whole messages are ever held
        if (header->type == 'D')
          capture_->on_data_row(
              Bytes(held_rows_.data() + at + wire::Header::kSize, header->body_length()));
        at += 1 + header->length;
      }
    }
    out.insert(out.end(), held_rows_.begin(), held_rows_.end());
    held_rows_.clear();
    if (held_rows_.capacity() > (1u << 20)) std::vector<std::uint8_t>().swap(held_rows_);
    budget_.hold(gateway::SessionBudget::kRows, held_rows_.capacity());
    if (type == 'C') w->rows = 0;  // the next result of a multi-statement Query counts afresh
  }
  return RowStep::kForward;
}

void Session::refresh_masking(wire::MessageFramer& framer) {
  const std::uint64_t v = services_.policy_version();
  if (v != masker_version_) {
    masker_version_ = v;
    row_rules_ = services_.approval_rules()->has_row_rules();
    std::string error;
    auto rules = services_.masking()->for_session(principal_, connection_->name, error);
    if (capture_)
      capture_->set_exempt(services_.masking()->exempted(principal_, connection_->name));
    if (rules)
      masker_.set_rules(std::move(rules));
    else
      spdlog::error("session {}: masking rules not refreshed, the previous ones stay: {}",
                    session_id_, error);
  }
  framer.set_wants_whole(rows_whole() ? &server_wants_all_whole : &server_wants_whole);
}

asio::awaitable<void> Session::resolve_sources(Bytes row_description) {
  if (!masker_.rules()->has_column_rules()) co_return;
  auto& catalog = services_.relations();
  std::vector<std::uint32_t> missing;
  for (auto oid : ResultMasker::tables_of(row_description))
    if (!catalog.known(connection_->name, oid)) missing.push_back(oid);
  if (missing.empty()) co_return;
  auto ex = co_await asio::this_coro::executor;
  auto tls_it = h_.upstream_tls.find(connection_->name);
  auto found = co_await fetch_relations(ex, *connection_, *cred_, tls_it->second, missing);
  if (!found) {
    // Unresolved columns are masked whole (fail closed); the next result tries again.
    spdlog::warn("session {}: {}", session_id_, found.error());
    co_return;
  }
  for (auto oid : missing) {
    auto it = found->find(oid);
    catalog.put(connection_->name, oid,
                it == found->end() ? gateway::RelationInfo{} : std::move(it->second));
  }
}

Text Session::described_text(std::uint8_t type, std::size_t& index) {
  bool simple = false;
  Text running = tracker_.running_text(&simple);
  if (simple && type == 'T') {
    // A Query's own result: the statement of it the server is on.
    index = results_seen_;
    return running;
  }
  index = 0;
  if (describes_.empty()) return nullptr;
  auto [kind, name] = std::move(describes_.front());
  describes_.pop_front();
  return kind == 'S' ? tracker_.statement_named(name) : tracker_.portal_named(name);
}

asio::awaitable<std::shared_ptr<const sql::Lineage>> Session::lineage_for(const std::string& text,
                                                                          std::size_t index,
                                                                          Decided decision) {
  auto& catalog = services_.relations();
  auto& memo = lineage_memo_;
  const auto now = Clock::now();
  const auto generation = catalog.generation();
  if (memo.generation != generation || now - memo.since > gateway::RelationCatalog::kTtl ||
      memo.by_text.size() + memo.by_decision.size() >= 256 || memo.bytes > (4u << 20)) {
    memo.bytes = 0;
    memo.by_decision.clear();
    memo.by_text.clear();
    memo.generation = generation;
    memo.since = now;
  }
  if (decision) {
    auto it = memo.by_decision.find({decision, index});
    if (it != memo.by_decision.end()) co_return it->second;
  }
  std::string key = std::to_string(index) + ":" + text;
  if (auto it = memo.by_text.find(key); it != memo.by_text.end()) co_return it->second;

  // An unqualified name resolves through the session's search_path; once the
  // session has changed it, the catalog's lookup (under the default path)
  // may find another relation, so such names are not established.
  const auto& view = gate_->view();
  const bool path_moved = view.search_path_unknown || view.search_paths.size() > 1;
  auto functions = services_.functions().get(connection_->name);
  if (!functions && services_.functions().wants_fetch(connection_->name)) {
    // Which calls are built-ins (computed from their arguments alone) is told
    // by the database's own routines.
    co_await fetch_function_catalog();
    functions = services_.functions().get(connection_->name);
  }
  std::map<std::string, sql::Shape> shapes;
  static const sql::Shape kNone;
  sql::LineageCatalog lookup{
      [&](const model::Relation& r) -> const sql::Shape* {
        if (r.schema.empty() && path_moved) return &kNone;
        const std::string name = r.schema.empty() ? r.name : r.schema + "." + r.name;
        if (auto it = shapes.find(name); it != shapes.end()) return &it->second;
        auto info = catalog.shape(connection_->name, name);
        if (!info) return nullptr;
        return &(shapes[name] = std::move(*info));
      },
      [&](const model::FunctionRef& f) {
        if (f.schema == "pg_catalog") return true;
        // Without the database's own routines, no call can be told apart from one.
        if (!functions) return false;
        auto it = functions->find(f.name);
        if (it == functions->end()) return true;
        return !f.schema.empty() &&
               std::none_of(it->second.begin(), it->second.end(),
                            [&](const policy::UserFunction& u) { return u.schema == f.schema; });
      }};
  sql::Lineage result;
  for (int round = 0; round < 4; ++round) {
    result = sql::lineage_of(text, index, lookup);
    if (result.missing.empty()) break;
    std::vector<std::string> names;
    for (const auto& r : result.missing)
      names.push_back(r.schema.empty() ? r.name : r.schema + "." + r.name);
    auto ex = co_await asio::this_coro::executor;
    auto tls_it = h_.upstream_tls.find(connection_->name);
    auto found = co_await fetch_relation_shapes(ex, *connection_, *cred_, tls_it->second, names);
    if (!found) {
      // Not established: what it names is opaque (masked whole, fail closed).
      spdlog::warn("session {}: relations for masking not looked up: {}", session_id_,
                   found.error());
      for (const auto& n : names) shapes[n] = kNone;
      continue;
    }
    for (auto& [name, info] : *found) catalog.put_shape(connection_->name, name, std::move(info));
  }
  auto shared = std::make_shared<const sql::Lineage>(std::move(result));
  if (shared->missing.empty()) {
    if (decision && !shared->constant_sensitive) {
      memo.by_decision.emplace(std::make_pair(std::move(decision), index), shared);
    } else {
      memo.bytes += key.size();
      memo.by_text.emplace(std::move(key), shared);
    }
  }
  co_return shared;
}

asio::awaitable<void> Session::fetch_function_catalog() {
  auto ex = co_await asio::this_coro::executor;
  auto tls_it = h_.upstream_tls.find(connection_->name);
  auto found = co_await fetch_user_functions(ex, *connection_, *cred_, tls_it->second);
  if (!found) {
    // Calls outside pg_catalog are judged as writes until a lookup succeeds.
    spdlog::warn("session {}: {}", session_id_, found.error());
    services_.functions().failed(connection_->name);
    co_return;
  }
  services_.functions().put(connection_->name, std::move(*found));
}

asio::awaitable<void> Session::prepare_copy() {
  auto decision = tracker_.running();
  const std::size_t index = copies_seen_++;
  if (!decision || index >= decision->copy_outs.size()) co_return;
  const model::CopyOut& copy = decision->copy_outs[index];
  masking::CopyFormat format{true, copy.csv, copy.delimiter, copy.quote};
  std::vector<masking::ColumnSource> columns;
  const auto& rules = *masker_.rules();
  if (copy.table.empty() && (rules.has_column_rules() || rules.has_json_paths())) {
    // COPY (query): each field is the query's result column, by its lineage.
    bool simple = false;
    Text running = tracker_.running_text(&simple);
    std::shared_ptr<const sql::Lineage> lineage;
    if (running)
      lineage = co_await lineage_for(running->text, simple ? results_seen_ : 0, running->decision);
    if (!lineage || !lineage->aligned) {
      const bool risky =
          !lineage || lineage->opaque || rules.rule_for_derived(lineage->everything) >= 0;
      masker_.expect_copy(format, {}, risky);
      co_return;
    }
    for (const auto& c : lineage->columns) {
      masking::ColumnSource src{"", "", 25, 0, c.opaque};
      src.derived = c.origins;
      src.direct = c.direct;
      columns.push_back(std::move(src));
    }
    masker_.expect_copy(format, std::move(columns), false);
    co_return;
  }
  if (copy.table.empty() || !rules.has_column_rules()) {
    masker_.expect_copy(format, {}, false);
    co_return;
  }
  auto& catalog = services_.relations();
  auto info = catalog.by_name(connection_->name, copy.table);
  if (!info) {
    auto ex = co_await asio::this_coro::executor;
    auto tls_it = h_.upstream_tls.find(connection_->name);
    auto found =
        co_await fetch_relation_named(ex, *connection_, *cred_, tls_it->second, copy.table);
    if (!found || !*found) {
      // Columns unknown: every field is masked whole (fail closed).
      spdlog::warn("session {}: columns of {} for COPY not resolved: {}", session_id_, copy.table,
                   found ? "no such relation" : found.error());
      masker_.expect_copy(format, {}, true);
      co_return;
    }
    info = **found;
    catalog.put_name(connection_->name, copy.table, *info);
  }
  const std::string prefix = info->schema + "." + info->table + ".";
  if (copy.columns.empty()) {
    for (const auto& c : info->columns)
      if (!c.empty()) columns.push_back({prefix + c, c, 25, 0});
  } else {
    for (const auto& c : copy.columns) columns.push_back({prefix + c, c, 25, 0});
  }
  masker_.expect_copy(format, std::move(columns), false);
}

void Session::attach_mask_counts(std::size_t finished_before) {
  if (finished_.size() == finished_before || !masker_.has_counts()) return;
  auto counts = masker_.take_counts();
  // The first statement this message finished is the one whose results they
  // were (the others after it, such as statements skipped, sent none).
  auto& f = finished_[finished_before];
  const auto& rules = masker_.rules()->rules();
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < counts.by_rule.size() && i < rules.size(); ++i) {
    if (counts.by_rule[i] == 0) continue;
    f.masked.push_back({rules[i]->name, static_cast<std::int64_t>(counts.by_rule[i])});
    total += counts.by_rule[i];
  }
  f.withheld += static_cast<std::int64_t>(counts.withheld);
  services_.counters().values_masked.fetch_add(total, std::memory_order_relaxed);
  services_.counters().values_withheld.fetch_add(counts.withheld, std::memory_order_relaxed);
}

asio::awaitable<void> Session::lock_client_writes() {
  if (!client_writes_free_)
    client_writes_free_ = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
  while (client_writes_locked_) {
    client_writes_free_->expires_at(asio::steady_timer::time_point::max());
    net::error_code ec;
    co_await client_writes_free_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    auto cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none) co_return;
  }
  client_writes_locked_ = true;
}

void Session::unlock_client_writes() {
  client_writes_locked_ = false;
  if (client_writes_free_) client_writes_free_->cancel();
}

asio::awaitable<void> Session::hold_while_paused() {
  auto& gate = services_.pause_gate();
  if (!gate.paused()) co_return;
  services_.counters().statements_held.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("session {}: statement held (gateway paused)", session_id_);
  wire::Buffer notice;
  wire::encode_notice_response(
      notice, {.severity = "NOTICE",
               .sqlstate = "00000",
               .message = "gatehouse: the gateway is paused; this statement is held until it "
                          "resumes"});
  co_await lock_client_writes();
  co_await send_client(notice);
  unlock_client_writes();
  auto ex = co_await asio::this_coro::executor;
  while (gate.paused()) {
    auto timer = std::make_shared<asio::steady_timer>(ex, asio::steady_timer::time_point::max());
    // resume() runs on whichever thread asked for it: the wake-up is posted
    // to this session's own executor.
    auto id = gate.subscribe([timer, ex] { asio::post(ex, [timer] { timer->cancel(); }); });
    if (gate.paused()) {
      net::error_code ec;
      co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    gate.unsubscribe(id);
    auto cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none) co_return;
  }
}

void Session::note_server_fatal(Bytes body) {
  // The server's own reason for ending the session (admin shutdown, …) is
  // what the audit record should say.
  auto f = wire::parse_error_fields(body);
  if (f && f->get('V') == "FATAL" && server_fatal_.empty())
    server_fatal_ = std::string(f->get('C')) + " " + std::string(utf8_prefix(f->get('M'), 200));
}

asio::awaitable<void> Session::relay() {
  std::int64_t ignored = 0;
  Direction up{cstream_.get(),
               upstream_.stream.get(),
               &client_wants_whole,
               true,
               std::vector<std::uint8_t>(cbuf_.begin(), cbuf_.begin() + clen_),
               &bytes_from_client_,
               &ignored};
  Direction down{upstream_.stream.get(),
                 cstream_.get(),
                 rows_whole() ? &server_wants_all_whole : &server_wants_whole,
                 false,
                 std::move(upstream_.leftover),
                 &ignored,
                 &bytes_to_client_};
  OPENSSL_cleanse(cbuf_.data(), cbuf_.size());  // it held the token
  std::vector<std::uint8_t>().swap(cbuf_);      // freed, not just emptied (`= {}` keeps capacity)
  clen_ = 0;
  if (window_until_us_ > 0)
    co_await (pump(up) || pump(down) || watch_access_window());
  else
    co_await (pump(up) || pump(down));

  // Exactly one direction ended on its own (or the access window did); the rest was cancelled.
  Direction& cause = up.end != PumpEnd::kCancelled ? up : down;
  if (up.end == PumpEnd::kCancelled && down.end == PumpEnd::kCancelled) {
    set_fatal("57P01",
              "gatehouse: the access window for " + connection_->name + " (request " +
                  window_request_ + ") has ended; request a new one to reconnect",
              "access window ended");
  } else if (cause.from_client) {
    switch (cause.end) {
      case PumpEnd::kTerminated:
        end_reason_ = "client terminated";
        break;
      case PumpEnd::kReadFailed:
        end_reason_ = "client closed";
        break;
      case PumpEnd::kFramingError:
        set_fatal("08P01", "gatehouse: invalid message framing",
                  "protocol error from client: " + cause.error);
        break;
      case PumpEnd::kLimit:
        set_fatal("54000", "gatehouse: " + cause.error, "client exceeded a limit: " + cause.error);
        break;
      case PumpEnd::kMemory:
        set_fatal("53200", "gatehouse: out of memory: " + cause.error,
                  "memory budget: " + cause.error);
        break;
      case PumpEnd::kAuditFailed:
        set_fatal("58000",
                  "gatehouse: " + cause.error +
                      "; the statement was not forwarded (audit_durability: sync)",
                  "audit store failed: " + cause.error);
        break;
      case PumpEnd::kWriteFailed:
        set_fatal("08006", "gatehouse: connection to upstream " + connection_->name + " lost",
                  "upstream lost: " + cause.error);
        break;
      case PumpEnd::kCancelled:
        break;
    }
  } else {
    switch (cause.end) {
      case PumpEnd::kReadFailed:
        set_fatal("08006", "gatehouse: connection to upstream " + connection_->name + " lost",
                  "upstream lost: " + (server_fatal_.empty() ? cause.error : server_fatal_));
        break;
      case PumpEnd::kFramingError:
        set_fatal("08006", "gatehouse: upstream sent an invalid message",
                  "protocol error from upstream: " + cause.error);
        break;
      case PumpEnd::kWriteFailed:
        end_reason_ = "client closed";
        break;
      case PumpEnd::kMemory:
        set_fatal("53200", "gatehouse: out of memory: " + cause.error,
                  "memory budget: " + cause.error);
        break;
      case PumpEnd::kAuditFailed:
        set_fatal(
            "58000",
            "gatehouse: " + cause.error + "; its result is not delivered (audit_durability: sync)",
            "audit store failed: " + cause.error);
        break;
      default:
        break;
    }
  }
  // Only now, with both directions stopped, may anything more go to the
  // client — unless a message to it was cut off mid-way: a FATAL after half a
  // message would only be garbage, so the client just sees the connection close.
  if (!fatal_.empty() && !down.writing) {
    co_await send_client(fatal_);
    // A client stopped mid-stream may still be sending: closing with its
    // bytes unread would reset the connection and lose the error on the way
    // to it. Its input is read and dropped for a moment first (bounded).
    if (cause.from_client && (cause.end == PumpEnd::kMemory || cause.end == PumpEnd::kLimit)) {
      auto ex = co_await asio::this_coro::executor;
      net::Deadline deadline(ex, std::chrono::milliseconds(250), [this] { cstream_->close(); });
      std::vector<std::uint8_t> sink(16 * 1024);
      for (std::size_t total = 0; total < (64u << 20);) {
        net::error_code ec;
        std::size_t n = co_await cstream_->read_some(sink, ec);
        if (ec || n == 0) break;
        total += n;
      }
    }
  }
}

asio::awaitable<bool> Session::durable_then_flush(Direction& d, wire::Buffer& out) {
  // (co_await stays out of && and ||: GCC 12 miscompiles it there.)
  bool durable = true;
  if (!intents_.empty()) durable = co_await make_durable(intents_);
  if (!durable) {
    d.end = PumpEnd::kAuditFailed;
    d.error = "the statement's audit record did not reach the store";
    co_return false;
  }
  co_return co_await flush(d, out);
}

asio::awaitable<bool> Session::flush(Direction& d, wire::Buffer& out) {
  if (out.empty()) co_return true;
  net::error_code ec;
  co_await d.to->write_all(out, ec);
  if (ec) {
    d.end = PumpEnd::kWriteFailed;
    d.error = ec.message();
    co_return false;
  }
  *d.bytes_out += static_cast<std::int64_t>(out.size());
  out.clear();
  co_return true;
}

asio::awaitable<void> Session::watch_access_window() {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  const auto left =
      std::chrono::microseconds(std::max<std::int64_t>(0, window_until_us_ - now_us()));
  timer.expires_after(left);
  net::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  spdlog::info("session {}: access window {} ended", session_id_, window_request_);
}

asio::awaitable<StatementGate::Inspection> Session::hold_for_approval(
    std::uint8_t type, StatementGate::Inspection held, Direction& d, bool& client_gone) {
  auto& broker = services_.approvals();
  const approvals::Request req = *held.hold;
  services_.counters().approvals_waiting.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("session {}: statement held for approval: request {} ({})", session_id_, req.id,
               req.rule);
  std::string approvers;
  for (const auto& g : req.approver_groups) approvers += (approvers.empty() ? "" : ", ") + g;
  // Held at most until the rule's timeout, never past the request's own expiry.
  auto limit = std::chrono::microseconds(std::max<std::int64_t>(0, req.expires_at_us - now_us()));
  auto timeout = std::chrono::duration_cast<std::chrono::microseconds>(held.hold_timeout);
  if (timeout < limit) limit = timeout;
  {
    wire::Buffer notice;
    wire::encode_notice_response(
        notice, {.severity = "NOTICE",
                 .sqlstate = "00000",
                 .message = "gatehouse: held for approval (" + req.rule + "): request " + req.id,
                 .detail = "waiting up to " + std::to_string(limit.count() / 1'000'000) +
                           " s for " + std::to_string(req.count) + " approver(s) from " + approvers,
                 .hint = "an approver runs `gatehouse reviews approve " + req.id +
                         "`; Ctrl-C withdraws the request"});
    co_await lock_client_writes();
    co_await send_client(notice);
    unlock_client_writes();
  }
  auto ex = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(ex);
  const auto deadline = asio::steady_timer::clock_type::now() + limit;
  timer->expires_at(deadline);
  auto decided = std::make_shared<std::atomic<bool>>(false);
  // Whichever thread decides posts the wake-up to this session's executor.
  const std::uint64_t sub =
      broker.subscribe(req.id, [timer, ex, decided](const approvals::Request&) {
        decided->store(true);
        asio::post(ex, [timer] { timer->cancel(); });
      });
  bool watching = true;  // the client is watched for leaving while nothing else comes from it
  while (!decided->load() && asio::steady_timer::clock_type::now() < deadline) {
    net::error_code ec_timer, ec_read;
    if (watching) {
      auto which =
          co_await (timer->async_wait(asio::redirect_error(asio::use_awaitable, ec_timer)) ||
                    d.from->wait_readable(ec_read));
      if (which.index() == 1) {
        if (ec_read || d.from->peer_closed()) {
          client_gone = true;
          break;
        }
        watching = false;  // pipelined bytes wait in the socket until the statement is settled
      }
    } else {
      co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec_timer));
    }
    auto cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none) {
      client_gone = true;
      break;
    }
  }
  broker.unsubscribe(sub);
  services_.counters().approvals_waiting.fetch_sub(1, std::memory_order_relaxed);
  if (client_gone) {
    broker.withdraw(req.id, "the client disconnected while waiting");
    co_return held;
  }
  auto now = broker.get(req.id);
  const auto status = now ? now->status : approvals::Status::kLapsed;
  if (status == approvals::Status::kApproved) {
    broker.consume(req.id);
    spdlog::info("session {}: request {} approved; statement released", session_id_, req.id);
    co_return gate_->released(held);
  }
  if (status == approvals::Status::kDenied) {
    std::string by, reason;
    for (const auto& r : now->reviews)
      if (!r.approve) {
        by = r.subject;
        reason = r.reason;
      }
    co_return gate_->refused_held(type, held, "42501",
                                  "gatehouse: request " + req.id + " was denied (" + req.rule + ")",
                                  "denied by " + by + (reason.empty() ? "" : ": " + reason));
  }
  if (status == approvals::Status::kWithdrawn) {
    co_return gate_->refused_held(
        type, held, "57014",
        "canceling statement due to user request: gatehouse request " + req.id + " withdrawn", "");
  }
  if (status == approvals::Status::kPending)
    broker.withdraw(req.id, "not approved within the rule's timeout");
  co_return gate_->refused_held(
      type, held, "57014",
      "gatehouse: request " + req.id + " was not approved in time; the statement did not run",
      status == approvals::Status::kPending ? "the rule's timeout passed"
                                            : "the request lapsed at its expiry");
}

}  // namespace gh::adapters::pg
