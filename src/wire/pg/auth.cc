// Upstream password authentication: MD5 and SCRAM-SHA-256 as PostgreSQL speaks them.
// https://www.postgresql.org/docs/15/auth-password.html
// https://www.postgresql.org/docs/15/sasl-authentication.html
// SCRAM: RFC 5802 (algorithm), RFC 7677 (SHA-256).
#include "wire/pg/auth.h"
#include "base/bytes.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <optional>
#include <utility>

namespace gh::wire::pg {
namespace {

using Digest = std::array<unsigned char, SHA256_DIGEST_LENGTH>;

// Wipes secrets that lived on the stack or in a string once they are no longer needed.
struct Wipe {
  void* p;
  std::size_t n;
  ~Wipe() { OPENSSL_cleanse(p, n); }
};

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(const unsigned char* p, std::size_t n) {
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8) | p[i + 2];
    out += kBase64[(v >> 18) & 63];
    out += kBase64[(v >> 12) & 63];
    out += kBase64[(v >> 6) & 63];
    out += kBase64[v & 63];
  }
  if (n - i == 1) {
    std::uint32_t v = std::uint32_t{p[i]} << 16;
    out += kBase64[(v >> 18) & 63];
    out += kBase64[(v >> 12) & 63];
    out += "==";
  } else if (n - i == 2) {
    std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8);
    out += kBase64[(v >> 18) & 63];
    out += kBase64[(v >> 12) & 63];
    out += kBase64[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Strict RFC 4648 base64 (padding required, no whitespace, canonical), as RFC 5802 uses it.
std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    bool last = i + 4 == in.size();
    int pad = 0;
    if (last && in[i + 3] == '=') pad = in[i + 2] == '=' ? 2 : 1;
    std::uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      int d = k >= 4 - pad ? 0 : base64_value(in[i + k]);
      if (d < 0) return std::nullopt;
      v = (v << 6) | static_cast<std::uint32_t>(d);
    }
    // Canonical only: the bits padding discards must be zero (RFC 4648 §3.5).
    if ((pad == 1 && (v & 0xFF) != 0) || (pad == 2 && (v & 0xFFFF) != 0)) return std::nullopt;
    out += static_cast<char>(v >> 16);
    if (pad < 2) out += static_cast<char>((v >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(v & 0xFF);
  }
  return out;
}

bool hmac_sha256(const unsigned char* key, std::size_t key_len, std::string_view msg, Digest& out) {
  unsigned int len = 0;
  return HMAC(EVP_sha256(), key, static_cast<int>(key_len),
              reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), out.data(),
              &len) != nullptr &&
         len == out.size();
}

// RFC 5802 §7 printable: %x21-2B / %x2D-7E (no comma).
bool is_printable_nonce(std::string_view s) {
  for (char c : s)
    if (c < 0x21 || c > 0x7E || c == ',') return false;
  return true;
}

// The values of a message made of exactly the attributes `names`, in that order ("r=..,s=..,i=..",
// RFC 5802 §5.1), or nullopt if it is anything else.
template <std::size_t N>
std::optional<std::array<std::string_view, N>> attributes(std::string_view in,
                                                          const char (&names)[N + 1]) {
  std::array<std::string_view, N> out;
  for (std::size_t k = 0; k < N; ++k) {
    if (in.size() < 2 || in[0] != names[k] || in[1] != '=') return std::nullopt;
    auto comma = in.find(',');
    bool last = k + 1 == N;
    if (last != (comma == std::string_view::npos)) return std::nullopt;  // too many or too few
    out[k] = in.substr(2, last ? in.npos : comma - 2);
    in.remove_prefix(last ? in.size() : comma + 1);
  }
  return out;
}

// RFC 5802 §5.1: "," and "=" in a username are written "=2C" and "=3D".
std::string escape_username(std::string_view user) {
  std::string out;
  for (char c : user) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string md5_password_response(std::string_view user, std::string_view password,
                                  std::string_view salt4) {
  // concat('md5', md5(concat(md5(concat(password, username)), random-salt)))
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  std::string inner(password);
  inner += user;
  Wipe wipe_inner{inner.data(), inner.size()};
  if (EVP_Digest(inner.data(), inner.size(), digest, &len, EVP_md5(), nullptr) != 1) return {};
  std::string outer = hex(Bytes(digest, len));
  outer += salt4;
  Wipe wipe_outer{outer.data(), outer.size()};
  if (EVP_Digest(outer.data(), outer.size(), digest, &len, EVP_md5(), nullptr) != 1) return {};
  return "md5" + hex(Bytes(digest, len));
}

ScramSha256Client::ScramSha256Client(std::string password, std::string nonce)
    : ScramSha256Client(NamedUser{}, {}, std::move(password), std::move(nonce)) {}

ScramSha256Client::ScramSha256Client(NamedUser, std::string username, std::string password,
                                     std::string nonce)
    : username_(std::move(username)), password_(std::move(password)), nonce_(std::move(nonce)) {
  if (nonce_.empty()) {
    unsigned char random[18];
    // On failure the nonce stays empty and client_final() refuses to go on.
    if (RAND_bytes(random, sizeof random) == 1) nonce_ = base64_encode(random, sizeof random);
  }
}

ScramSha256Client ScramSha256Client::with_username(std::string username, std::string password,
                                                   std::string nonce) {
  return ScramSha256Client(NamedUser{}, std::move(username), std::move(password), std::move(nonce));
}

ScramSha256Client::~ScramSha256Client() {
  OPENSSL_cleanse(password_.data(), password_.size());
  OPENSSL_cleanse(expected_server_signature_.data(), expected_server_signature_.size());
}

std::string ScramSha256Client::client_first() {
  // gs2-header "n,," = no channel binding, none wanted. PostgreSQL ignores n= (the user comes
  // from the startup packet), so libpq and we send it empty.
  client_first_bare_ = "n=" + escape_username(username_) + ",r=" + nonce_;
  return "n,," + client_first_bare_;
}

Expected<std::string> ScramSha256Client::client_final(std::string_view server_first) {
  if (nonce_.empty() || !is_printable_nonce(nonce_))
    return unexpected(std::string("SCRAM: no usable client nonce"));
  if (client_first_bare_.empty())
    return unexpected(std::string("SCRAM: server-first before client-first"));
  expected_server_signature_.clear();

  // server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count
  // ["," extensions]. PostgreSQL sends exactly r, s, i; libpq refuses anything else, so do we.
  if (server_first.starts_with("m="))
    return unexpected(std::string("SCRAM: server demands an unsupported extension"));
  auto attrs = attributes<3>(server_first, "rsi");
  if (!attrs) return unexpected(std::string("SCRAM: malformed server-first-message"));
  auto [nonce, salt_b64, iterations_text] = *attrs;
  // The server appends its own part to our nonce: a server that does not is replaying or
  // confused.
  if (nonce.size() <= nonce_.size() || !nonce.starts_with(nonce_) || !is_printable_nonce(nonce))
    return unexpected(std::string("SCRAM: server nonce does not extend the client nonce"));
  auto salt = base64_decode(salt_b64);
  if (!salt || salt->empty()) return unexpected(std::string("SCRAM: malformed salt"));
  std::uint64_t iterations = 0;
  for (char c : iterations_text) {
    if (c < '0' || c > '9') return unexpected(std::string("SCRAM: malformed iteration count"));
    // Checked per digit, so the count cannot overflow on the way.
    iterations = iterations * 10 + static_cast<std::uint64_t>(c - '0');
    if (iterations > max_iterations_)
      return unexpected("SCRAM: iteration count above the limit of " +
                        std::to_string(max_iterations_));
  }
  if (iterations == 0) return unexpected(std::string("SCRAM: malformed iteration count"));

  // RFC 5802 §3:
  //   SaltedPassword  := Hi(Normalize(password), salt, i)
  //   ClientKey       := HMAC(SaltedPassword, "Client Key")
  //   StoredKey       := H(ClientKey)
  //   AuthMessage     := client-first-message-bare + "," + server-first-message + "," +
  //                      client-final-message-without-proof
  //   ClientSignature := HMAC(StoredKey, AuthMessage)
  //   ClientProof     := ClientKey XOR ClientSignature
  //   ServerKey       := HMAC(SaltedPassword, "Server Key")
  //   ServerSignature := HMAC(ServerKey, AuthMessage)
  // Normalize is SASLprep, which leaves ASCII passwords as they are; others are used as given
  // (see auth.h).
  Digest salted{}, client_key{}, stored_key{}, client_signature{}, server_key{}, server_signature{};
  Wipe w1{salted.data(), salted.size()}, w2{client_key.data(), client_key.size()},
      w3{stored_key.data(), stored_key.size()}, w4{server_key.data(), server_key.size()};
  if (PKCS5_PBKDF2_HMAC(password_.data(), static_cast<int>(password_.size()),
                        reinterpret_cast<const unsigned char*>(salt->data()),
                        static_cast<int>(salt->size()), static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(salted.size()), salted.data()) != 1)
    return unexpected(std::string("SCRAM: PBKDF2 failed"));

  std::string without_proof = "c=biws,r=";  // "biws" = base64("n,,")
  without_proof += nonce;
  std::string auth_message = client_first_bare_;
  auth_message += ',';
  auth_message += server_first;
  auth_message += ',';
  auth_message += without_proof;

  if (!hmac_sha256(salted.data(), salted.size(), "Client Key", client_key) ||
      SHA256(client_key.data(), client_key.size(), stored_key.data()) == nullptr ||
      !hmac_sha256(stored_key.data(), stored_key.size(), auth_message, client_signature) ||
      !hmac_sha256(salted.data(), salted.size(), "Server Key", server_key) ||
      !hmac_sha256(server_key.data(), server_key.size(), auth_message, server_signature))
    return unexpected(std::string("SCRAM: HMAC failed"));

  Digest proof{};
  for (std::size_t k = 0; k < proof.size(); ++k) proof[k] = client_key[k] ^ client_signature[k];
  expected_server_signature_ = base64_encode(server_signature.data(), server_signature.size());
  return without_proof + ",p=" + base64_encode(proof.data(), proof.size());
}

Status<> ScramSha256Client::verify_server_final(std::string_view server_final) {
  // server-final-message = (server-error / verifier) ["," extensions]
  if (server_final.starts_with("e=")) {
    std::string_view reason = server_final.substr(2);
    reason = reason.substr(0, reason.find(','));
    return unexpected("SCRAM: server refused: " + std::string(reason));
  }
  if (expected_server_signature_.empty())
    return unexpected(std::string("SCRAM: server-final before client-final"));
  auto verifier = attributes<1>(server_final, "v");
  if (!verifier) return unexpected(std::string("SCRAM: malformed server-final-message"));
  auto got = base64_decode((*verifier)[0]);
  auto want = base64_decode(expected_server_signature_);
  // Constant time: the signature is compared against a secret-derived value.
  if (!got || !want || got->size() != want->size() ||
      CRYPTO_memcmp(got->data(), want->data(), want->size()) != 0)
    return unexpected(std::string("SCRAM: server signature does not match"));
  return Ok{};
}

}  // namespace gh::wire::pg
