#include "identity/jwk.h"

#include <openssl/core_names.h>

#include <array>
#include <optional>
#include <set>

#include "identity/base64url.h"
#include "identity/strict_json.h"

namespace gh::identity {
namespace {

using Json = nlohmann::json;

// RSA moduli below 2048 bits are factorable in practice (NIST SP 800-131A);
// above 16384 bits each verification becomes a denial-of-service lever.
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 16384;
// OpenSSL itself refuses larger public exponents for big moduli; capping here
// refuses such a key at load time instead of at every token.
constexpr int kMaxRsaExponentBits = 64;

// Members that only a private JWK has (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2).
constexpr std::array<std::string_view, 7> kPrivateMembers{"d", "p", "q", "dp", "dq", "qi", "oth"};

// A member that must be a base64url string; nullopt and a problem otherwise.
std::optional<std::string> b64_member(const Json& jwk, const char* name,
                                      std::vector<std::string>& problems) {
  const auto it = jwk.find(name);
  if (it == jwk.end()) {
    problems.push_back(std::string("has no \"") + name + "\"");
    return std::nullopt;
  }
  if (!it->is_string()) {
    problems.push_back(std::string("\"") + name + "\" is not a string");
    return std::nullopt;
  }
  auto decoded = base64url_decode(it->get_ref<const std::string&>());
  if (!decoded || decoded->empty()) {
    problems.push_back(std::string("\"") + name + "\" is not base64url");
    return std::nullopt;
  }
  return decoded;
}

const unsigned char* bytes(const std::string& s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// Builds a public key of `type` from `params`; nullptr if OpenSSL refuses it.
ossl::PkeyPtr key_from_params(const char* type, const OSSL_PARAM* params) {
  ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return nullptr;
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, const_cast<OSSL_PARAM*>(params)) != 1)
    return nullptr;
  ossl::PkeyPtr key(raw);
  // fromdata takes the numbers as given; the check catches e.g. an EC point
  // that is not on the curve.
  ossl::PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
  return key;
}

ossl::PkeyPtr rsa_key(const Json& jwk, std::vector<std::string>& problems) {
  const auto n = b64_member(jwk, "n", problems);
  const auto e = b64_member(jwk, "e", problems);
  if (!n || !e) return nullptr;
  ossl::BnPtr bn_n(BN_bin2bn(bytes(*n), static_cast<int>(n->size()), nullptr));
  ossl::BnPtr bn_e(BN_bin2bn(bytes(*e), static_cast<int>(e->size()), nullptr));
  if (!bn_n || !bn_e) {
    problems.push_back("could not be loaded");
    return nullptr;
  }
  const int bits = BN_num_bits(bn_n.get());
  if (bits < kMinRsaBits || bits > kMaxRsaBits) {
    problems.push_back("RSA modulus is " + std::to_string(bits) + " bits; " +
                       std::to_string(kMinRsaBits) + " to " + std::to_string(kMaxRsaBits) +
                       " are accepted");
    return nullptr;
  }
  if (!BN_is_odd(bn_n.get()) || !BN_is_odd(bn_e.get()) || BN_is_one(bn_e.get()) ||
      BN_num_bits(bn_e.get()) > kMaxRsaExponentBits) {
    problems.push_back("RSA parameters are not a valid public key");
    return nullptr;
  }
  ossl::ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    problems.push_back("could not be loaded");
    return nullptr;
  }
  ossl::ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  ossl::PkeyPtr key = params ? key_from_params("RSA", params.get()) : nullptr;
  if (!key) problems.push_back("RSA parameters are not a valid public key");
  return key;
}

ossl::PkeyPtr ec_key(const Json& jwk, KeyKind kind, std::vector<std::string>& problems) {
  const std::size_t size = kind == KeyKind::kEcP256 ? 32 : 48;
  const auto x = b64_member(jwk, "x", problems);
  const auto y = b64_member(jwk, "y", problems);
  if (!x || !y) return nullptr;
  // RFC 7518 §6.2.1.2: coordinates are the full field size, leading zeros kept.
  if (x->size() != size || y->size() != size) {
    problems.push_back("EC coordinates must be " + std::to_string(size) + " bytes each");
    return nullptr;
  }
  std::string point = "\x04" + *x + *y;  // SEC 1 uncompressed point
  const char* group = kind == KeyKind::kEcP256 ? "prime256v1" : "secp384r1";
  ossl::ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    problems.push_back("could not be loaded");
    return nullptr;
  }
  ossl::ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  ossl::PkeyPtr key = params ? key_from_params("EC", params.get()) : nullptr;
  if (!key) problems.push_back("EC point is not on the curve");
  return key;
}

ossl::PkeyPtr ed25519_key(const Json& jwk, std::vector<std::string>& problems) {
  auto x = b64_member(jwk, "x", problems);
  if (!x) return nullptr;
  if (x->size() != 32) {
    problems.push_back("Ed25519 \"x\" must be 32 bytes");
    return nullptr;
  }
  ossl::ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, x->data(),
                                               x->size()) != 1) {
    problems.push_back("could not be loaded");
    return nullptr;
  }
  ossl::ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  ossl::PkeyPtr key = params ? key_from_params("ED25519", params.get()) : nullptr;
  if (!key) problems.push_back("Ed25519 key could not be loaded");
  return key;
}

// Parses one JWK; problems are appended without a prefix (the caller adds where).
std::optional<Jwk> parse_jwk(const Json& jwk, std::vector<std::string>& problems) {
  if (!jwk.is_object()) {
    problems.push_back("is not a JSON object");
    return std::nullopt;
  }
  const std::size_t before = problems.size();
  Jwk out;
  if (const auto it = jwk.find("kid"); it != jwk.end()) {
    if (it->is_string()) {
      out.kid = it->get<std::string>();
      out.has_kid = true;
    } else {
      problems.push_back("\"kid\" is not a string");
    }
  }
  if (const auto it = jwk.find("alg"); it != jwk.end()) {
    if (it->is_string())
      out.alg = it->get<std::string>();
    else
      problems.push_back("\"alg\" is not a string");
  }
  if (const auto it = jwk.find("use"); it != jwk.end()) {
    if (it->is_string())
      out.for_signing = it->get_ref<const std::string&>() == "sig";
    else
      problems.push_back("\"use\" is not a string");
  }
  if (const auto it = jwk.find("key_ops"); it != jwk.end()) {
    bool verify = false;
    bool all_strings = it->is_array();
    if (all_strings) {
      for (const auto& op : *it) {
        if (!op.is_string())
          all_strings = false;
        else if (op.get_ref<const std::string&>() == "verify")
          verify = true;
      }
    }
    if (!all_strings) problems.push_back("\"key_ops\" is not an array of strings");
    if (!verify) out.for_signing = false;
  }
  for (const auto member : kPrivateMembers) {
    if (jwk.contains(member)) {
      // Said without the value: the point is that the file leaks a private key.
      problems.push_back("holds private key material (\"" + std::string(member) +
                         "\"); a JWKS must hold public keys only");
      break;
    }
  }

  const auto kty = jwk.find("kty");
  if (kty == jwk.end() || !kty->is_string()) {
    problems.push_back("has no \"kty\" string");
    return std::nullopt;
  }
  const auto& type = kty->get_ref<const std::string&>();
  std::string crv;
  if (type == "EC" || type == "OKP") {
    const auto it = jwk.find("crv");
    if (it == jwk.end() || !it->is_string()) {
      problems.push_back("has no \"crv\" string");
      return std::nullopt;
    }
    crv = it->get<std::string>();
  }
  if (type == "RSA") {
    out.kind = KeyKind::kRsa;
    out.key = rsa_key(jwk, problems);
  } else if (type == "EC" && crv == "P-256") {
    out.kind = KeyKind::kEcP256;
    out.key = ec_key(jwk, out.kind, problems);
  } else if (type == "EC" && crv == "P-384") {
    out.kind = KeyKind::kEcP384;
    out.key = ec_key(jwk, out.kind, problems);
  } else if (type == "OKP" && crv == "Ed25519") {
    out.kind = KeyKind::kEd25519;
    out.key = ed25519_key(jwk, problems);
  } else if (type == "oct") {
    problems.push_back(
        "is a symmetric (\"oct\") key: HMAC-signed tokens are never accepted, so shared "
        "secrets do not belong in a JWKS");
  } else if (type == "EC" || type == "OKP") {
    problems.push_back("curve is not supported (P-256, P-384 and Ed25519 are)");
  } else {
    problems.push_back("\"kty\" is not supported (RSA, EC and OKP are)");
  }
  if (problems.size() != before || !out.key) return std::nullopt;
  return out;
}

// Names a key for a problem line without quoting anything but its kid.
std::string key_label(std::size_t index, const Json& jwk) {
  std::string label = "key #" + std::to_string(index + 1);
  if (jwk.is_object()) {
    const auto it = jwk.find("kid");
    if (it != jwk.end() && it->is_string() && it->get_ref<const std::string&>().size() <= 128)
      label += " (kid \"" + it->get<std::string>() + "\")";
  }
  return label;
}

}  // namespace

Expected<std::vector<Jwk>, std::vector<std::string>> parse_jwks(std::string_view text) {
  // Refused keys leave OpenSSL errors behind; they are reported as problems instead.
  ossl::ErrorQueueGuard errors;
  std::vector<std::string> problems;
  auto doc = parse_strict_json(text);
  if (!doc) {
    problems.push_back("JWKS is " + doc.error());
    return unexpected(std::move(problems));
  }
  const auto keys = doc->is_object() ? doc->find("keys") : doc->end();
  if (!doc->is_object() || keys == doc->end() || !keys->is_array()) {
    problems.push_back("JWKS is not an object with a \"keys\" array");
    return unexpected(std::move(problems));
  }
  if (keys->empty()) {
    problems.push_back("JWKS has no keys");
    return unexpected(std::move(problems));
  }
  std::vector<Jwk> out;
  std::set<std::string> kids;
  for (std::size_t i = 0; i < keys->size(); ++i) {
    const Json& entry = (*keys)[i];
    std::vector<std::string> key_problems;
    auto jwk = parse_jwk(entry, key_problems);
    for (auto& p : key_problems) problems.push_back(key_label(i, entry) + " " + p);
    if (!jwk) continue;
    // Two keys under one kid would make the choice of key depend on order.
    if (jwk->has_kid && !kids.insert(jwk->kid).second) {
      problems.push_back(key_label(i, entry) + " repeats a kid used by an earlier key");
      continue;
    }
    out.push_back(std::move(*jwk));
  }
  if (!problems.empty()) return unexpected(std::move(problems));
  return out;
}

}  // namespace gh::identity
