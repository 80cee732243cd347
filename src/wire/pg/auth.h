// Client side of PostgreSQL password authentication, sans-I/O: the gateway
// authenticates upstream with its own credential.
// SCRAM-SHA-256: RFC 5802 / RFC 7677, as PostgreSQL uses it
// (https://www.postgresql.org/docs/15/sasl-authentication.html): no channel
// binding ("n,,"), empty username in the client-first message.
#pragma once

#include <string>
#include <string_view>

#include "base/expected.h"

namespace gh::wire::pg {

// "md5" + md5hex(md5hex(password + user) + salt), the MD5 password response.
std::string md5_password_response(std::string_view user, std::string_view password,
                                  std::string_view salt4);

class ScramSha256Client {
 public:
  // `nonce` is for tests; empty means 18 random bytes, base64-encoded.
  explicit ScramSha256Client(std::string password, std::string nonce = {});
  ~ScramSha256Client();

  // The client-first-message ("n,,n=,r=<nonce>").
  std::string client_first();
  // Consumes server-first-message, returns client-final-message.
  Expected<std::string> client_final(std::string_view server_first);
  // Checks the server's signature in server-final-message ("v=…").
  Status<> verify_server_final(std::string_view server_final);

 private:
  std::string password_;
  std::string nonce_;
  std::string client_first_bare_;
  std::string expected_server_signature_;  // base64
};

}  // namespace gh::wire::pg
