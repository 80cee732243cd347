// libFuzzer target for the upstream startup: the messages a PostgreSQL server (or whatever
// answers on its address) sends after the gateway's StartupMessage — Authentication requests
// (cleartext, MD5, SASL with SCRAM-SHA-256 server-first and server-final), errors, notices,
// ParameterStatus, BackendKeyData, ReadyForQuery and anything else. Contracts:
//   - the session is ready only once authenticated, and authenticated only if the server
//     asked for a method the connection allows — for SCRAM, only when the server-final is
//     exactly the signature a server knowing the password computes (an independent
//     implementation here), never on a forged or mismatched one; with no method asked, only
//     when `trust` is allowed;
//   - the cleartext password leaves only in answer to a cleartext request it allows;
//   - a failure has a short printable message for the client, and neither message carries
//     the password; nothing crashes.
//
// Input: byte 0 is the allowed methods; then a list of operations, each building one server
// message (raw bytes, or a well-formed message of one kind with fuzzer-chosen parts).
#include <fuzzer/FuzzedDataProvider.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wire/pg/upstream_startup.h"

namespace {

using namespace gh;
using namespace gh::wire::pg;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

constexpr std::string_view kUser = "gatehouse_up";
constexpr std::string_view kPassword = "Upstream-Pass-7f3q";
constexpr std::string_view kNonce = "fuzzClientNonce0123456789";

std::string b64(const std::uint8_t* p, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

using Digest = std::array<std::uint8_t, 32>;

Digest hmac(const Digest& key, std::string_view msg) {
  Digest out{};
  unsigned int len = 0;
  check(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), out.data(),
             &len) != nullptr);
  return out;
}

// A server that knows the password: the signature it sends in server-final (RFC 5802 §3).
std::string server_final_for(std::string_view salt, int iterations, std::string_view server_first,
                             std::string_view client_final_without_proof) {
  Digest salted{};
  check(PKCS5_PBKDF2_HMAC(kPassword.data(), static_cast<int>(kPassword.size()),
                          reinterpret_cast<const unsigned char*>(salt.data()),
                          static_cast<int>(salt.size()), iterations, EVP_sha256(),
                          static_cast<int>(salted.size()), salted.data()) == 1);
  const std::string auth_message = "n=,r=" + std::string(kNonce) + "," + std::string(server_first) +
                                   "," + std::string(client_final_without_proof);
  const Digest server_key = hmac(salted, "Server Key");
  const Digest signature = hmac(server_key, auth_message);
  return "v=" + b64(signature.data(), signature.size());
}

Buffer message(char type, std::string_view body) {
  Buffer m;
  m.push_back(static_cast<std::uint8_t>(type));
  const auto len = static_cast<std::uint32_t>(body.size() + 4);
  for (int shift : {24, 16, 8, 0}) m.push_back(static_cast<std::uint8_t>(len >> shift));
  m.insert(m.end(), body.begin(), body.end());
  return m;
}

Buffer auth_request(std::int32_t code, std::string_view data) {
  std::string body;
  for (int shift : {24, 16, 8, 0}) body.push_back(static_cast<char>(code >> shift));
  body += data;
  return message('R', body);
}

bool contains(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}

bool printable(std::string_view s) {
  for (char c : s)
    if (c < 0x20 || c > 0x7E) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const auto bits = in.ConsumeIntegral<std::uint8_t>();
  const AuthMethods allowed{.trust = (bits & 1) != 0,
                            .password = (bits & 2) != 0,
                            .md5 = (bits & 4) != 0,
                            .scram_sha_256 = (bits & 8) != 0};
  UpstreamStartup startup(std::string(kUser), std::string(kPassword), allowed, std::string(kNonce),
                          /*max_scram_iterations=*/4096);

  // What the exchange went through, as seen from here.
  enum class Asked { kNone, kCleartext, kMd5, kScram } asked = Asked::kNone;
  std::string server_first;          // the accepted SCRAM server-first
  std::string client_without_proof;  // from the client-final the gateway sent
  std::string salt;
  int iterations = 0;
  bool reference_known = false;  // server_first was built here, so its signature is known
  std::optional<std::string> genuine;
  std::string accepted_final;

  for (int step = 0; step < 10 && in.remaining_bytes() > 0; ++step) {
    Buffer msg;
    std::string scram_first_candidate;
    bool built_first = false;
    std::string built_salt;
    int built_iterations = 0;
    std::string final_candidate;
    switch (in.ConsumeIntegralInRange(0, 11)) {
      case 0: {
        const char type = static_cast<char>(in.ConsumeIntegral<std::uint8_t>());
        msg = message(type, in.ConsumeRandomLengthString(96));
        break;
      }
      case 1:
        msg = auth_request(0, "");
        break;
      case 2:
        msg = auth_request(3, "");
        break;
      case 3:
        msg = auth_request(5, in.ConsumeBytesAsString(4));
        break;
      case 4:
        msg = auth_request(10, in.ConsumeBool() ? std::string("SCRAM-SHA-256\0\0", 15)
                                                : in.ConsumeRandomLengthString(40));
        break;
      case 5: {  // a well-formed server-first, whose proof can be computed here
        std::string suffix = in.ConsumeRandomLengthString(16);
        for (char& c : suffix)
          if (c < 0x21 || c > 0x7E || c == ',') c = 'x';
        if (suffix.empty()) suffix = "srv";
        built_salt = in.ConsumeBytesAsString(in.ConsumeIntegralInRange(1, 20));
        if (built_salt.empty()) built_salt = "s";
        built_iterations = in.ConsumeIntegralInRange(1, 16);
        scram_first_candidate =
            "r=" + std::string(kNonce) + suffix + ",s=" +
            b64(reinterpret_cast<const std::uint8_t*>(built_salt.data()), built_salt.size()) +
            ",i=" + std::to_string(built_iterations);
        built_first = true;
        msg = auth_request(11, scram_first_candidate);
        break;
      }
      case 6:
        scram_first_candidate = in.ConsumeRandomLengthString(128);
        msg = auth_request(11, scram_first_candidate);
        break;
      case 7: {  // the genuine server-final, or one with a byte changed
        final_candidate = genuine.value_or("v=");
        if (in.ConsumeBool() && !final_candidate.empty()) {
          const auto at = in.ConsumeIntegralInRange<std::size_t>(0, final_candidate.size() - 1);
          final_candidate[at] =
              static_cast<char>(final_candidate[at] ^ in.ConsumeIntegralInRange<int>(1, 255));
        }
        msg = auth_request(12, final_candidate);
        break;
      }
      case 8:
        final_candidate = in.ConsumeRandomLengthString(64);
        msg = auth_request(12, final_candidate);
        break;
      case 9:
        msg = message('Z', in.ConsumeBool() ? "I" : in.ConsumeRandomLengthString(2));
        break;
      case 10:
        msg = message('S', std::string("server_version\0"
                                       "15.0\0",
                                       20));
        break;
      default:
        msg = auth_request(in.ConsumeIntegral<std::int32_t>(), in.ConsumeRandomLengthString(16));
        break;
    }

    const bool was_authenticated = startup.authenticated();
    Buffer out;
    auto result = startup.on_message(msg, out);
    const std::string_view sent(reinterpret_cast<const char*>(out.data()), out.size());
    if (!result) {
      const auto& f = result.error();
      check(!f.for_client.empty() && f.for_client.size() <= 200 && printable(f.for_client));
      check(!contains(f.for_client, kPassword) && !contains(f.for_client, kUser));
      check(!contains(f.for_log, kPassword));
      check(out.empty() || !contains(sent, kPassword));
      return 0;
    }

    // Follow the exchange from what was accepted.
    if (!out.empty() && msg[0] == 'R') {
      const std::int32_t code = (msg[5] << 24) | (msg[6] << 16) | (msg[7] << 8) | msg[8];
      if (code == 3) asked = Asked::kCleartext;
      if (code == 5) asked = Asked::kMd5;
      if (code == 10) asked = Asked::kScram;
      if (code == 11) {
        server_first = scram_first_candidate;
        // SASLResponse: 'p', length, "c=biws,r=<nonce>,p=<proof>".
        const std::string_view final_message = sent.substr(5);
        client_without_proof = std::string(final_message.substr(0, final_message.find(",p=")));
        reference_known = built_first;
        salt = built_salt;
        iterations = built_iterations;
        if (reference_known)
          genuine = server_final_for(salt, iterations, server_first, client_without_proof);
      }
    }
    if (msg[0] == 'R' && msg.size() >= 9 && msg[8] == 12 && msg[5] == 0 && msg[6] == 0 &&
        msg[7] == 0)
      accepted_final = final_candidate;
    // The password in clear: only to a cleartext request the connection allows.
    if (contains(sent, kPassword)) check(asked == Asked::kCleartext && allowed.password);

    if (startup.authenticated() && !was_authenticated) {
      switch (asked) {
        case Asked::kNone:
          check(allowed.trust);
          break;
        case Asked::kCleartext:
          check(allowed.password);
          break;
        case Asked::kMd5:
          check(allowed.md5);
          break;
        case Asked::kScram:
          check(allowed.scram_sha_256 && reference_known && genuine.has_value() &&
                accepted_final == *genuine);
          break;
      }
    }
    if (*result == StartupStep::kReady) {
      check(startup.authenticated());
      return 0;
    }
  }
  return 0;
}
