#include "identity/signer.h"

#include <openssl/core_names.h>
#include <openssl/pem.h>

#include <climits>
#include <nlohmann/json.hpp>

#include "identity/jws.h"
#include "identity/ossl.h"

namespace gh::identity {
namespace {

// RSA keys the gateway makes or loads are held to the same floor as the keys it accepts.
constexpr int kRsaBits = 2048;

// Never prompt: a passphrase callback that declines makes an encrypted PEM
// fail instead of blocking on a terminal that a daemon does not have.
int no_passphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) {
  return -1;
}

std::string bn_bytes(const BIGNUM* bn, int pad_to) {
  const int len = pad_to > 0 ? pad_to : BN_num_bytes(bn);
  std::string out(static_cast<std::size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  if (pad_to > 0) {
    if (BN_bn2binpad(bn, p, pad_to) != pad_to) return {};
  } else {
    BN_bn2bin(bn, p);
  }
  return out;
}

// A BIGNUM parameter of `key` as unpadded (pad_to 0) or padded big-endian bytes.
std::string bn_param(const EVP_PKEY* key, const char* name, int pad_to) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) return {};
  ossl::BnPtr bn(raw);
  return bn_bytes(bn.get(), pad_to);
}

}  // namespace

struct SigningKey::Impl {
  ossl::PkeyPtr key;
};

SigningKey::SigningKey(Algorithm alg, std::string kid, std::unique_ptr<Impl> impl)
    : alg_(alg), kid_(std::move(kid)), impl_(std::move(impl)) {}

SigningKey::~SigningKey() = default;

std::unique_ptr<SigningKey> SigningKey::generate(Algorithm alg, std::string kid) {
  ossl::ErrorQueueGuard errors;
  EVP_PKEY* raw = nullptr;
  switch (algorithm_spec(alg).key) {
    case KeyKind::kRsa:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(kRsaBits));
      break;
    case KeyKind::kEcP256:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyKind::kEcP384:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
      break;
    case KeyKind::kEd25519:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
  }
  // Only an OpenSSL without these algorithms (or out of memory) gets here.
  if (raw == nullptr) return nullptr;
  auto impl = std::make_unique<Impl>();
  impl->key.reset(raw);
  return std::unique_ptr<SigningKey>(new SigningKey(alg, std::move(kid), std::move(impl)));
}

Expected<std::unique_ptr<SigningKey>> SigningKey::from_pem(Algorithm alg, std::string kid,
                                                           std::string_view pem) {
  ossl::ErrorQueueGuard errors;
  if (pem.size() > static_cast<std::size_t>(INT_MAX))
    return unexpected(std::string("PEM text is too large"));
  ossl::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return unexpected(std::string("out of memory reading the PEM key"));
  ossl::PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  // The reasons never quote the PEM: it is a private key.
  if (!key) return unexpected(std::string("not an unencrypted PEM private key"));
  const AlgorithmSpec& spec = algorithm_spec(alg);
  const auto kind = key_kind_of(key.get());
  if (!kind || *kind != spec.key)
    return unexpected(std::string(spec.name) + " needs an " + std::string(key_kind_name(spec.key)) +
                      " private key; the PEM holds another kind");
  if (*kind == KeyKind::kRsa && EVP_PKEY_get_bits(key.get()) < kRsaBits)
    return unexpected(std::string("RSA key is shorter than 2048 bits"));
  auto impl = std::make_unique<Impl>();
  impl->key = std::move(key);
  return std::unique_ptr<SigningKey>(new SigningKey(alg, std::move(kid), std::move(impl)));
}

std::string SigningKey::sign(std::string_view payload_json) const {
  // ordered_json keeps the conventional member order; dump() escapes the kid.
  nlohmann::ordered_json header;
  header["alg"] = algorithm_name(alg_);
  header["typ"] = "JWT";
  header["kid"] = kid_;
  return sign_with_header(header.dump(), payload_json);
}

std::string SigningKey::sign_with_header(std::string_view header_json,
                                         std::string_view payload_json) const {
  std::string input = base64url_encode(header_json);
  input += '.';
  input += base64url_encode(payload_json);
  const auto signature = create_jws_signature(algorithm_spec(alg_), impl_->key.get(), input);
  input += '.';
  // An empty signature never verifies, so an OpenSSL failure cannot mint a token.
  if (signature) input += base64url_encode(*signature);
  return input;
}

std::string SigningKey::public_jwk_json() const {
  ossl::ErrorQueueGuard errors;
  const EVP_PKEY* key = impl_->key.get();
  nlohmann::ordered_json jwk;
  switch (algorithm_spec(alg_).key) {
    case KeyKind::kRsa:
      jwk["kty"] = "RSA";
      jwk["n"] = base64url_encode(bn_param(key, OSSL_PKEY_PARAM_RSA_N, 0));
      jwk["e"] = base64url_encode(bn_param(key, OSSL_PKEY_PARAM_RSA_E, 0));
      break;
    case KeyKind::kEcP256:
    case KeyKind::kEcP384: {
      const bool p256 = algorithm_spec(alg_).key == KeyKind::kEcP256;
      const int size = p256 ? 32 : 48;
      jwk["kty"] = "EC";
      jwk["crv"] = p256 ? "P-256" : "P-384";
      // RFC 7518 §6.2.1.2: full-size coordinates, leading zeros kept.
      jwk["x"] = base64url_encode(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, size));
      jwk["y"] = base64url_encode(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, size));
      break;
    }
    case KeyKind::kEd25519: {
      std::string x(32, '\0');
      std::size_t len = x.size();
      if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(x.data()), &len) != 1)
        len = 0;
      x.resize(len);
      jwk["kty"] = "OKP";
      jwk["crv"] = "Ed25519";
      jwk["x"] = base64url_encode(x);
      break;
    }
  }
  jwk["kid"] = kid_;
  jwk["alg"] = algorithm_name(alg_);
  jwk["use"] = "sig";
  return jwk.dump();
}

std::string SigningKey::private_pem() const {
  ossl::ErrorQueueGuard errors;
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  // OpenSSL 3 writes PKCS#8 ("BEGIN PRIVATE KEY") here, unencrypted.
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), impl_->key.get(), nullptr, nullptr, 0, nullptr,
                                       nullptr) != 1)
    return {};
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0 || data == nullptr) return {};
  return std::string(data, static_cast<std::size_t>(len));
}

std::string jwks_json(const std::vector<std::string>& jwks) {
  // Texts are joined as given: tests hand in deliberately broken JWKs.
  std::string out = "{\"keys\":[";
  for (std::size_t i = 0; i < jwks.size(); ++i) {
    if (i != 0) out += ',';
    out += jwks[i];
  }
  out += "]}";
  return out;
}

}  // namespace gh::identity
