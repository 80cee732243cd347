#include "wire/pg/upstream_startup.h"

#include <openssl/crypto.h>

#include <utility>

namespace gh::wire::pg {
namespace {

Unexpected<StartupFailure> fail(std::string for_client, std::string for_log) {
  return unexpected(StartupFailure{std::move(for_client), std::move(for_log)});
}

Unexpected<StartupFailure> not_allowed(std::string for_log) {
  return fail("the server asked for an authentication method the connection does not allow",
              std::move(for_log));
}

Unexpected<StartupFailure> protocol_error(std::string for_log) {
  return fail("protocol error", std::move(for_log));
}

// A SQLSTATE is five digits or upper-case letters; anything else a server sends there is not
// passed on to the client.
std::string shown_sqlstate(std::string_view code) {
  if (code.size() != 5) return "unknown";
  for (char ch : code)
    if (!((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z'))) return "unknown";
  return std::string(code);
}

}  // namespace

UpstreamStartup::UpstreamStartup(std::string user, std::string password, AuthMethods allowed,
                                 std::string scram_nonce, std::uint32_t max_scram_iterations)
    : user_(std::move(user)),
      password_(std::move(password)),
      allowed_(allowed),
      scram_nonce_(std::move(scram_nonce)),
      max_scram_iterations_(max_scram_iterations) {}

UpstreamStartup::~UpstreamStartup() {
  OPENSSL_cleanse(password_.data(), password_.size());
}

Expected<StartupStep, StartupFailure> UpstreamStartup::on_message(Bytes raw, Buffer& out) {
  auto step = handle(raw, out);
  if (step) return step;
  // What the server said goes into the log: a server that echoes the password (in an error,
  // a SCRAM refusal) must not have it logged.
  StartupFailure failure = std::move(step.error());
  if (password_.size() >= 4) {
    for (auto at = failure.for_log.find(password_); at != std::string::npos;
         at = failure.for_log.find(password_, at))
      failure.for_log.replace(at, password_.size(), "[password]");
  }
  return unexpected(std::move(failure));
}

Expected<StartupStep, StartupFailure> UpstreamStartup::handle(Bytes raw, Buffer& out) {
  if (raw.size() < Header::kSize) return protocol_error("truncated message");
  const std::uint8_t type = raw[0];
  const Bytes body = raw.subspan(Header::kSize);
  switch (type) {
    case 'R': {
      auto done = on_authentication(body, out);
      if (!done) return unexpected(std::move(done.error()));
      return StartupStep::kContinue;
    }
    case 'E': {
      auto fields = parse_error_fields(body);
      const std::string code = fields ? std::string(fields->get('C')) : "";
      const std::string text = fields ? std::string(fields->get('M')) : "malformed error";
      const bool auth_failure = code.starts_with("28");
      // The server's own words go to the log only: they may name the upstream role.
      return fail(
          auth_failure
              ? "the gateway's credential was refused (SQLSTATE " + shown_sqlstate(code) + ")"
              : "the server refused the session (SQLSTATE " + shown_sqlstate(code) + ")",
          "server error " + code + ": " + text);
    }
    case 'S':
      parameter_status_.insert(parameter_status_.end(), raw.begin(), raw.end());
      return StartupStep::kContinue;
    case 'K': {
      auto k = parse_backend_key_data(body);
      if (!k) return protocol_error("malformed BackendKeyData");
      pid_ = k->pid;
      secret_ = k->secret;
      return StartupStep::kContinue;
    }
    case 'N':  // notices during startup are for the gateway, not the client
    case 'v':  // NegotiateProtocolVersion: we ask for nothing optional
      return StartupStep::kContinue;
    case 'Z': {
      // Ready before AuthenticationOk would skip authentication altogether: a server that
      // never asked for the password (or never proved it knows it) is not the one
      // configured.
      if (!authenticated_)
        return fail("authentication failed", "ReadyForQuery before AuthenticationOk");
      auto st = parse_ready_for_query(body);
      if (!st) return protocol_error("malformed ReadyForQuery");
      transaction_status_ = *st;
      return StartupStep::kReady;
    }
    default:
      return protocol_error(std::string("unexpected message type '") + static_cast<char>(type) +
                            "' during startup");
  }
}

Status<StartupFailure> UpstreamStartup::on_authentication(Bytes body, Buffer& out) {
  auto auth = parse_authentication(body);
  if (!auth) return protocol_error("malformed Authentication message");
  // After AuthenticationOk the server has nothing more to ask: a request now would have the
  // gateway send a credential into a session it already took for authenticated.
  if (authenticated_)
    return protocol_error("authentication request code " + std::to_string(auth->code) +
                          " after AuthenticationOk");
  // The server asks for one method; a second request (a downgrade to cleartext after SCRAM
  // began, say) is not how PostgreSQL speaks.
  const bool asks_method = auth->code == 3 || auth->code == 5 || auth->code == 10;
  if (asks_method && asked_ != Method::kNone)
    return protocol_error("authentication request code " + std::to_string(auth->code) +
                          " after another method was asked for");
  switch (auth->code) {
    case 0:  // AuthenticationOk
      // Once SCRAM started, only a server that proved it knows the password may declare
      // success (no man-in-the-middle shortcut).
      if (scram_ && !scram_verified_)
        return fail("authentication failed", "server ended SCRAM without proving itself");
      // A server that asks for nothing proves nothing: whatever answers on that address
      // would be taken for the database.
      if (asked_ == Method::kNone && !allowed_.trust)
        return not_allowed(
            "server accepted the gateway without any password exchange; upstream.auth does "
            "not allow `trust`");
      authenticated_ = true;
      return Ok{};
    case 3:  // cleartext, as the server asks (it chose; TLS per upstream.tls)
      if (!allowed_.password)
        return not_allowed("server asked for cleartext; upstream.auth does not allow `password`");
      asked_ = Method::kPassword;
      encode_password_message(out, password_);
      return Ok{};
    case 5:
      if (!allowed_.md5)
        return not_allowed("server asked for MD5; upstream.auth does not allow `md5`");
      if (auth->data.size() != 4) return protocol_error("MD5 request without a 4-byte salt");
      asked_ = Method::kMd5;
      encode_password_message(out, md5_password_response(user_, password_, as_chars(auth->data)));
      return Ok{};
    case 10: {
      if (!allowed_.scram_sha_256)
        return not_allowed("server asked for SASL; upstream.auth does not allow `scram-sha-256`");
      bool offered = false;
      for (auto m : parse_sasl_mechanisms(auth->data)) offered |= (m == "SCRAM-SHA-256");
      if (!offered) return fail("no supported SASL mechanism", "server offers no SCRAM-SHA-256");
      asked_ = Method::kScram;
      scram_ = std::make_unique<ScramSha256Client>(password_, scram_nonce_);
      scram_->set_max_iterations(max_scram_iterations_);
      encode_sasl_initial_response(out, "SCRAM-SHA-256", scram_->client_first());
      return Ok{};
    }
    case 11: {
      if (!scram_) return protocol_error("SASLContinue before SASL");
      if (scram_continued_) return protocol_error("a second SASLContinue");
      scram_continued_ = true;
      auto final = scram_->client_final(as_chars(auth->data));
      if (!final) return fail("authentication failed", "SCRAM: " + final.error());
      encode_sasl_response(out, *final);
      return Ok{};
    }
    case 12: {
      if (!scram_) return protocol_error("SASLFinal before SASL");
      if (scram_verified_) return protocol_error("a second SASLFinal");
      // The server proves it knew the password too; a server that cannot is not the one
      // configured.
      auto ok = scram_->verify_server_final(as_chars(auth->data));
      if (!ok) return fail("authentication failed", "SCRAM server proof: " + ok.error());
      scram_verified_ = true;
      return Ok{};
    }
    default:
      return fail("unsupported authentication method",
                  "authentication request code " + std::to_string(auth->code));
  }
}

}  // namespace gh::wire::pg
