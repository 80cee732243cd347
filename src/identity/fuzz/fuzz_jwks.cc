// libFuzzer target for the key documents the gateway reads from identity providers: JWKS
// (RFC 7517) and OIDC discovery metadata (OpenID Connect Discovery 1.0 §4). Contracts:
//   - a JWKS is accepted only whole: one usable public key per entry, each of the kind its
//     "kty"/"crv" say, no symmetric key, no private member, no repeated kid;
//   - a refused JWKS lists at least one problem, and no problem carries a key's parameters;
//   - a key set from any document makes a token verify only if it holds the key that signed
//     the token (the fixed Ed25519 key of fuzz_support.h);
//   - metadata is accepted only as a strict JSON object naming exactly the configured issuer
//     and a jwks_uri string, which are what it returns; a refusal is bounded in size.
//
// Input: byte 0 picks JWKS or metadata; the rest is the document.
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "identity/fuzz/fuzz_support.h"
#include "identity/jwk.h"
#include "identity/jws.h"
#include "identity/oidc.h"
#include "identity/strict_json.h"

namespace {

using namespace gh::identity;
using namespace gh::identity::fuzz;
using Json = nlohmann::json;

// A verifier of its own (the shared one must keep its keys), and a token it can check.
struct Probe {
  std::unique_ptr<SigningKey> key = fixed_ed25519("ed");
  gh::ManualClock clock{kNow};
  std::unique_ptr<TokenVerifier> verifier;
  std::string token;
  std::string x;  // the key's public "x", which a document must hold to verify the token

  Probe() {
    IssuerConfig idp;
    idp.name = "idp";
    idp.issuer = kIssuer;
    idp.audiences = {std::string(kAudience)};
    idp.jwks_json = jwks_json({key->public_jwk_json()});
    auto made = TokenVerifier::create({idp}, VerifierOptions{.cache_capacity = 0}, clock);
    check(made.has_value());
    verifier = std::move(*made);
    const Json claims = {
        {"iss", kIssuer}, {"sub", "probe"}, {"aud", kAudience}, {"iat", kNow}, {"exp", kNow + 600}};
    token = key->sign(claims.dump());
    x = Json::parse(key->public_jwk_json())["x"].get<std::string>();
  }
};

std::string_view member_text(const Json& j, const char* name) {
  const auto it = j.find(name);
  return it != j.end() && it->is_string() ? std::string_view(it->get_ref<const std::string&>())
                                          : std::string_view();
}

void jwks(std::string_view text) {
  auto parsed = parse_jwks(text);
  auto doc = parse_strict_json(text);
  if (parsed) {
    check(doc.has_value() && doc->is_object() && (*doc)["keys"].is_array());
    const Json& keys = (*doc)["keys"];
    check(!parsed->empty() && parsed->size() == keys.size());
    for (std::size_t i = 0; i < parsed->size(); ++i) {
      const Jwk& k = (*parsed)[i];
      const Json& entry = keys[i];
      check(k.key != nullptr);
      const auto kind = key_kind_of(k.key.get());
      check(kind.has_value() && *kind == k.kind);
      const std::string_view kty = member_text(entry, "kty");
      check(kty == (k.kind == KeyKind::kRsa ? "RSA" : k.kind == KeyKind::kEd25519 ? "OKP" : "EC"));
      for (const char* priv : {"d", "p", "q", "dp", "dq", "qi", "oth"})
        check(!entry.contains(priv));
      for (std::size_t j = 0; j < i; ++j)
        if (k.has_kid && (*parsed)[j].has_kid) check(k.kid != (*parsed)[j].kid);
    }
  } else {
    check(!parsed.error().empty());
    // Private key material and public parameters are never echoed.
    if (doc && doc->is_object() && doc->contains("keys") && (*doc)["keys"].is_array()) {
      for (const auto& entry : (*doc)["keys"]) {
        if (!entry.is_object()) continue;
        for (const char* param : {"d", "p", "q", "n", "x", "y"}) {
          const std::string_view v = member_text(entry, param);
          if (v.size() < 12) continue;
          for (const auto& problem : parsed.error()) check(problem.find(v) == std::string::npos);
        }
      }
    }
  }

  // The same document as an issuer's keys: the probe token verifies only with its key in it.
  static Probe probe;
  const auto set = probe.verifier->set_issuer_keys(std::string(kIssuer), std::string(text));
  check(set.has_value() == parsed.has_value());
  if (!set) return;
  auto verified = probe.verifier->verify(probe.token);
  if (verified) {
    bool holds_key = false;
    for (const auto& entry : (*doc)["keys"]) holds_key |= member_text(entry, "x") == probe.x;
    check(holds_key);
    check(verified->subject == "probe");
  }
}

void metadata(std::string_view text) {
  auto m = parse_oidc_metadata(text, kIssuer);
  if (m) {
    auto doc = parse_strict_json(text);
    check(doc.has_value() && doc->is_object());
    check(m->issuer == kIssuer && member_text(*doc, "issuer") == kIssuer);
    check(member_text(*doc, "jwks_uri") == m->jwks_uri && (*doc)["jwks_uri"].is_string());
  } else {
    check(!m.error().empty());
    // What the provider sent is quoted at most 120 bytes long (plus the configured issuer).
    check(m.error().size() <= 320);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] % 2 == 0)
    jwks(rest);
  else
    metadata(rest);
  return 0;
}
