// The gateway's side of a PostgreSQL session's startup upstream, sans-I/O: after the
// StartupMessage, every message the server sends goes in (authentication requests, errors,
// ParameterStatus, BackendKeyData, ReadyForQuery) and the gateway's answers come out, until
// the session is ready or refused. The gateway authenticates with its own credential.
// https://www.postgresql.org/docs/15/protocol-flow.html#id-1.10.6.7.3
// The adapter (adapters/pg/upstream.cc) does the reading and writing around it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/expected.h"
#include "wire/pg/auth.h"
#include "wire/pg/protocol.h"

namespace gh::wire::pg {

// What the connection's `upstream.auth` allows the server to ask for.
struct AuthMethods {
  bool trust = false;  // AuthenticationOk with no password asked for
  bool password = false;
  bool md5 = false;
  bool scram_sha_256 = false;
};

struct StartupFailure {
  std::string for_client;  // safe to show: no credential, no upstream user name, printable
  std::string for_log;     // fuller detail for the operator (still no secret)
};

enum class StartupStep { kContinue, kReady };

class UpstreamStartup {
 public:
  // `scram_nonce` is for tests (empty: random); `max_scram_iterations` bounds the PBKDF2 cost
  // a server may ask for.
  UpstreamStartup(std::string user, std::string password, AuthMethods allowed,
                  std::string scram_nonce = {},
                  std::uint32_t max_scram_iterations = ScramSha256Client::kMaxIterations);
  ~UpstreamStartup();  // wipes the password
  UpstreamStartup(const UpstreamStartup&) = delete;
  UpstreamStartup& operator=(const UpstreamStartup&) = delete;

  // One whole message from the server (`raw`: its header and body). Appends the answer to
  // send, if any, to `out`. kReady: ReadyForQuery after an accepted authentication, the
  // session may be used. A failure ends the startup: the session must not go on.
  [[nodiscard]] Expected<StartupStep, StartupFailure> on_message(Bytes raw, Buffer& out);

  // AuthenticationOk was accepted: the server asked for a method the connection allows and,
  // for SCRAM, proved that it knows the password too (or `trust` allows asking for nothing).
  bool authenticated() const { return authenticated_; }

  // What the server told about the session (valid once kReady).
  const std::vector<std::uint8_t>& parameter_status() const { return parameter_status_; }
  std::int32_t pid() const { return pid_; }
  std::int32_t secret() const { return secret_; }
  char transaction_status() const { return transaction_status_; }

 private:
  enum class Method { kNone, kPassword, kMd5, kScram };
  Expected<StartupStep, StartupFailure> handle(Bytes raw, Buffer& out);
  Status<StartupFailure> on_authentication(Bytes body, Buffer& out);

  std::string user_;
  std::string password_;
  AuthMethods allowed_;
  std::string scram_nonce_;
  std::uint32_t max_scram_iterations_;
  Method asked_ = Method::kNone;  // the one method the server asked for
  std::unique_ptr<ScramSha256Client> scram_;
  bool scram_continued_ = false;  // SASLContinue answered
  bool scram_verified_ = false;   // SASLFinal carried the server's proof
  bool authenticated_ = false;
  std::vector<std::uint8_t> parameter_status_;  // the ParameterStatus messages, raw
  std::int32_t pid_ = 0;
  std::int32_t secret_ = 0;
  char transaction_status_ = 'I';
};

}  // namespace gh::wire::pg
