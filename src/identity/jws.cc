#include "identity/jws.h"

#include <openssl/core_names.h>
#include <openssl/rsa.h>

#include <array>
#include <cstring>

#include "identity/ossl.h"

namespace gh::identity {
namespace {

constexpr std::array<AlgorithmSpec, 7> kAlgorithms{{
    {Algorithm::kRS256, "RS256", KeyKind::kRsa, EVP_sha256, false, 0},
    {Algorithm::kRS384, "RS384", KeyKind::kRsa, EVP_sha384, false, 0},
    {Algorithm::kRS512, "RS512", KeyKind::kRsa, EVP_sha512, false, 0},
    {Algorithm::kPS256, "PS256", KeyKind::kRsa, EVP_sha256, true, 0},
    {Algorithm::kES256, "ES256", KeyKind::kEcP256, EVP_sha256, false, 32},
    {Algorithm::kES384, "ES384", KeyKind::kEcP384, EVP_sha384, false, 48},
    {Algorithm::kEdDSA, "EdDSA", KeyKind::kEd25519, nullptr, false, 0},
}};

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// Sets up `ctx` for `spec` once the key is bound; padding matters only for RSA.
bool configure_rsa_padding(const AlgorithmSpec& spec, EVP_PKEY_CTX* pctx) {
  if (spec.key != KeyKind::kRsa) return true;
  if (!spec.pss) return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
  // RFC 7518 §3.5: the salt is as long as the digest and MGF1 uses the same
  // digest. SALTLEN_DIGEST makes OpenSSL insist on exactly that when verifying.
  return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, spec.digest()) == 1;
}

// RFC 7518 §3.4: JWS carries ECDSA signatures as R||S, each left-padded to the
// curve size; OpenSSL wants the DER SEQUENCE of two INTEGERs.
std::optional<std::string> ecdsa_raw_to_der(std::string_view raw, std::size_t half) {
  if (raw.size() != 2 * half) return std::nullopt;
  ossl::BnPtr r(BN_bin2bn(bytes(raw), static_cast<int>(half), nullptr));
  ossl::BnPtr s(BN_bin2bn(bytes(raw.substr(half)), static_cast<int>(half), nullptr));
  ossl::EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!r || !s || !sig) return std::nullopt;
  if (ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return std::nullopt;
  // The signature owns them now.
  (void)r.release();
  (void)s.release();
  const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return std::nullopt;
  std::string der(static_cast<std::size_t>(len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != len) return std::nullopt;
  return der;
}

std::optional<std::string> ecdsa_der_to_raw(std::string_view der, std::size_t half) {
  const auto* in = bytes(der);
  ossl::EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &in, static_cast<long>(der.size())));
  if (!sig) return std::nullopt;
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string raw(2 * half, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(r, out, static_cast<int>(half)) != static_cast<int>(half) ||
      BN_bn2binpad(s, out + half, static_cast<int>(half)) != static_cast<int>(half))
    return std::nullopt;
  return raw;
}

}  // namespace

std::string_view key_kind_name(KeyKind kind) {
  switch (kind) {
    case KeyKind::kRsa:
      return "RSA";
    case KeyKind::kEcP256:
      return "EC P-256";
    case KeyKind::kEcP384:
      return "EC P-384";
    case KeyKind::kEd25519:
      return "OKP Ed25519";
  }
  return "unknown";
}

const AlgorithmSpec& algorithm_spec(Algorithm alg) {
  for (const auto& spec : kAlgorithms)
    if (spec.alg == alg) return spec;
  return kAlgorithms[0];  // unreachable: the table covers the enum
}

const AlgorithmSpec* find_algorithm(std::string_view name) {
  for (const auto& spec : kAlgorithms)
    if (spec.name == name) return &spec;
  return nullptr;
}

std::string_view algorithm_name(Algorithm alg) {
  return algorithm_spec(alg).name;
}

std::optional<KeyKind> key_kind_of(const EVP_PKEY* key) {
  if (key == nullptr) return std::nullopt;
  if (EVP_PKEY_is_a(key, "RSA")) return KeyKind::kRsa;
  if (EVP_PKEY_is_a(key, "ED25519")) return KeyKind::kEd25519;
  if (EVP_PKEY_is_a(key, "EC")) {
    ossl::ErrorQueueGuard errors;
    char group[64] = {};
    std::size_t len = 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof group, &len) != 1) return std::nullopt;
    const std::string_view name(group, len);
    if (name == "prime256v1" || name == "P-256" || name == "secp256r1") return KeyKind::kEcP256;
    if (name == "secp384r1" || name == "P-384") return KeyKind::kEcP384;
  }
  return std::nullopt;
}

bool verify_jws_signature(const AlgorithmSpec& spec, EVP_PKEY* key, std::string_view signing_input,
                          std::string_view signature) {
  ossl::ErrorQueueGuard errors;
  std::string der;
  if (spec.ecdsa_half_bytes != 0) {
    auto converted = ecdsa_raw_to_der(signature, spec.ecdsa_half_bytes);
    if (!converted) return false;
    der = std::move(*converted);
    signature = der;
  }
  ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  if (EVP_DigestVerifyInit(ctx.get(), &pctx, spec.digest ? spec.digest() : nullptr, nullptr, key) !=
      1)
    return false;
  if (!configure_rsa_padding(spec, pctx)) return false;
  return EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(signing_input),
                          signing_input.size()) == 1;
}

std::optional<std::string> create_jws_signature(const AlgorithmSpec& spec, EVP_PKEY* key,
                                                std::string_view signing_input) {
  ossl::ErrorQueueGuard errors;
  ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return std::nullopt;
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  if (EVP_DigestSignInit(ctx.get(), &pctx, spec.digest ? spec.digest() : nullptr, nullptr, key) !=
      1)
    return std::nullopt;
  if (!configure_rsa_padding(spec, pctx)) return std::nullopt;
  std::size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, bytes(signing_input), signing_input.size()) != 1)
    return std::nullopt;
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     bytes(signing_input), signing_input.size()) != 1)
    return std::nullopt;
  sig.resize(len);
  if (spec.ecdsa_half_bytes != 0) return ecdsa_der_to_raw(sig, spec.ecdsa_half_bytes);
  return sig;
}

}  // namespace gh::identity
