// Client side of PostgreSQL password authentication, sans-I/O: the gateway
// authenticates upstream with its own credential.
// SCRAM-SHA-256: RFC 5802 / RFC 7677, as PostgreSQL uses it
// (https://www.postgresql.org/docs/15/sasl-authentication.html): no channel
// binding ("n,,"), empty username in the client-first message.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/expected.h"

namespace gh::wire::pg {

// "md5" + md5hex(md5hex(password + user) + salt), the MD5 password response.
std::string md5_password_response(std::string_view user, std::string_view password,
                                  std::string_view salt4);

class ScramSha256Client {
 public:
  // `nonce` is for tests; empty means 18 random bytes, base64-encoded. The password is used
  // as given, without SASLprep: the same for ASCII passwords; a non-ASCII password the server
  // stored normalized (NFKC, mapped spaces) will not match.
  explicit ScramSha256Client(std::string password, std::string nonce = {});
  // RFC 5802 clients name the user in "n="; PostgreSQL takes the user from the startup packet
  // and libpq sends "n=" empty, as client_first() does. This one names the user (escaped per
  // RFC 5802 §5.1), for checking against RFC 7677's test vector.
  static ScramSha256Client with_username(std::string username, std::string password,
                                         std::string nonce = {});
  ~ScramSha256Client();  // wipes the password and keys
  ScramSha256Client(const ScramSha256Client&) = delete;
  ScramSha256Client& operator=(const ScramSha256Client&) = delete;
  ScramSha256Client(ScramSha256Client&&) = default;
  ScramSha256Client& operator=(ScramSha256Client&&) = default;

  // The most PBKDF2 iterations accepted from a server: more is refused, so a hostile or
  // misconfigured upstream cannot make us burn seconds of CPU per login.
  static constexpr std::uint32_t kMaxIterations = 10'000'000;
  void set_max_iterations(std::uint32_t n) { max_iterations_ = n; }

  // The client-first-message ("n,,n=,r=<nonce>").
  std::string client_first();
  // Consumes server-first-message, returns client-final-message.
  Expected<std::string> client_final(std::string_view server_first);
  // Checks the server's signature in server-final-message ("v=…").
  Status<> verify_server_final(std::string_view server_final);

 private:
  struct NamedUser {};
  ScramSha256Client(NamedUser, std::string username, std::string password, std::string nonce);

  std::string username_;  // "" for PostgreSQL
  std::string password_;
  std::string nonce_;
  std::uint32_t max_iterations_ = kMaxIterations;
  std::string client_first_bare_;
  std::string expected_server_signature_;  // base64
};

}  // namespace gh::wire::pg
