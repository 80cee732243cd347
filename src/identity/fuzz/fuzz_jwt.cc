// libFuzzer target for token verification: JWS compact parsing, the strict JSON reader and
// the claim checks, against a fixed key set (fuzz_support.h). Contracts:
//   - a token that verifies was signed by a key of the set over exactly its header and
//     payload, and its principal says what the payload says (sub, iss, groups, exp, iat);
//   - fuzzer-chosen claims signed with a key of the set verify, and read back equal;
//   - a verified token with any byte changed no longer verifies;
//   - a payload the strict reader refuses is never accepted;
//   - the strict reader accepts exactly what nlohmann's reads, less duplicate members, and
//     gives the same value;
//   - a refusal's reason never carries the token, and verify() never throws.
//
// Input: byte 0 picks the mode, the rest is the token, a payload, claim material or JSON.
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "identity/base64url.h"
#include "identity/fuzz/fuzz_support.h"
#include "identity/strict_json.h"

namespace {

using namespace gh::identity;
using namespace gh::identity::fuzz;
using Json = nlohmann::json;

// The claims a verified principal must show, read from the payload as signed.
void check_principal_matches(const gh::model::Principal& p, std::string_view payload_text,
                             bool gateway) {
  auto payload = parse_strict_json(payload_text);
  check(payload.has_value() && payload->is_object());
  const Json& claims = *payload;
  check(claims.contains("sub") && claims["sub"].is_string() &&
        p.subject == claims["sub"].get<std::string>() && !p.subject.empty());
  check(claims.contains("iss") && claims["iss"].is_string());
  check(claims["iss"].get<std::string>() == (gateway ? kGatewayIssuer : kIssuer));
  // A gateway token speaks for the issuer it was exchanged from, when it names one.
  const auto origin = claims.find("gh_origin_iss");
  if (gateway && origin != claims.end())
    check(origin->is_string() && p.issuer == origin->get<std::string>());
  else
    check(p.issuer == claims["iss"].get<std::string>());
  std::vector<std::string> groups;
  if (auto it = claims.find("groups"); it != claims.end()) {
    check(it->is_array());
    for (const auto& g : *it) {
      check(g.is_string());
      groups.push_back(g.get<std::string>());
    }
  }
  check(p.groups == groups);
  check(claims.contains("exp") && claims["exp"].is_number());
  const Json& exp = claims["exp"];
  const std::int64_t want_exp = exp.is_number_float()
                                    ? static_cast<std::int64_t>(std::floor(exp.get<double>()))
                                    : exp.get<std::int64_t>();
  check(p.expires_at == want_exp);
  // Alive at the fixed clock, within the leeway.
  check(kNow < p.expires_at + 30);
  check(p.gateway_token == gateway);
}

// Splits a compact JWS; false when it is not three parts.
bool split(std::string_view token, std::string_view& h, std::string_view& pl, std::string_view& s) {
  const auto d1 = token.find('.');
  if (d1 == std::string_view::npos) return false;
  const auto d2 = token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return false;
  h = token.substr(0, d1);
  pl = token.substr(d1 + 1, d2 - d1 - 1);
  s = token.substr(d2 + 1);
  return true;
}

void check_refusal_is_clean(const Refusal& r, std::string_view token) {
  check(!r.reason.empty());
  if (token.size() >= 16) check(r.reason.find(token) == std::string::npos);
  check(!public_reason(r).empty());
}

// Any bytes as a token. Only the fixed Ed25519 key can have signed one that verifies: its
// signature is recomputed from the decoded parts and must be the token, byte for byte.
void arbitrary_token(std::string_view token) {
  const KeySet& keys = KeySet::get();
  auto result = keys.verifier->verify(token);
  if (!result) {
    check_refusal_is_clean(result.error(), token);
    return;
  }
  std::string_view h, pl, s;
  check(split(token, h, pl, s));
  auto header = base64url_decode(h);
  auto payload = base64url_decode(pl);
  check(header.has_value() && payload.has_value());
  check(keys.ed->sign_with_header(*header, *payload) == token);
  check_principal_matches(*result, *payload, result->gateway_token);
}

const SigningKey& pick_key(std::uint8_t which, bool& gateway) {
  const KeySet& keys = KeySet::get();
  gateway = false;
  switch (which % 4) {
    case 0:
      return *keys.ed;
    case 1:
      return *keys.es;
    case 2:
      return *keys.rs;
    default:
      gateway = true;
      return *keys.gw;
  }
}

// A fuzzer-chosen payload text signed by a key of the set: accepted only if the strict
// reader accepts it, and then read back as written.
void signed_payload(FuzzedDataProvider& in) {
  bool gateway = false;
  const SigningKey& key = pick_key(in.ConsumeIntegral<std::uint8_t>(), gateway);
  const std::string payload = in.ConsumeRemainingBytesAsString();
  const std::string token = key.sign(payload);
  auto result = KeySet::get().verifier->verify(token);
  if (!result) {
    check_refusal_is_clean(result.error(), token);
    if (!parse_strict_json(payload)) check(result.error().code == RefusalCode::kMalformed);
    return;
  }
  check_principal_matches(*result, payload, gateway);
}

// Text made valid UTF-8 (JSON strings must be): every byte outside ASCII becomes '?'.
std::string ascii(std::string s) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) >= 0x80) c = '?';
  return s;
}

// Claims built from fuzzer material, always valid: they must verify and read back equal; the
// same token with one byte changed must not verify.
void chosen_claims(FuzzedDataProvider& in) {
  bool gateway = false;
  const SigningKey& key = pick_key(in.ConsumeIntegral<std::uint8_t>(), gateway);
  std::string sub = ascii(in.ConsumeRandomLengthString(64));
  if (sub.empty()) sub = "s";
  Json groups = Json::array();
  const int n_groups = in.ConsumeIntegralInRange(0, 4);
  for (int i = 0; i < n_groups; ++i) groups.push_back(ascii(in.ConsumeRandomLengthString(24)));
  const std::int64_t iat = kNow - in.ConsumeIntegralInRange<std::int64_t>(0, 600);
  const std::int64_t exp = iat + in.ConsumeIntegralInRange<std::int64_t>(31 + (kNow - iat), 3600);
  Json claims = {{"iss", gateway ? kGatewayIssuer : kIssuer},
                 {"sub", sub},
                 {"aud", in.ConsumeBool() ? Json(kAudience) : Json::array({"other", kAudience})},
                 {"iat", iat},
                 {"exp", exp},
                 {"groups", groups}};
  // Extra claims the verifier must ignore (names that are not checked claims).
  const int extras = in.ConsumeIntegralInRange(0, 3);
  for (int i = 0; i < extras; ++i) {
    std::string name = "x_" + ascii(in.ConsumeRandomLengthString(8));
    claims[name] = ascii(in.ConsumeRandomLengthString(32));
  }
  const std::string payload = claims.dump();
  const std::string token = key.sign(payload);
  auto result = KeySet::get().verifier->verify(token);
  check(result.has_value());
  check_principal_matches(*result, payload, gateway);
  check(result->subject == sub && result->issued_at == iat && result->expires_at == exp);

  // Tampering: one byte changed anywhere.
  if (token.empty()) return;
  std::string tampered = token;
  const std::size_t at = in.ConsumeIntegralInRange<std::size_t>(0, tampered.size() - 1);
  const auto flip = static_cast<char>(in.ConsumeIntegralInRange<int>(1, 255));
  tampered[at] = static_cast<char>(tampered[at] ^ flip);
  auto again = KeySet::get().verifier->verify(tampered);
  check(!again.has_value());
  check_refusal_is_clean(again.error(), tampered);
}

// Records every member name of every object, in order, to find duplicates independently.
bool has_duplicate_members(std::string_view text) {
  bool duplicate = false;
  std::vector<std::vector<std::string>> open;
  const Json::parser_callback_t cb = [&](int, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) open.emplace_back();
    if (event == Json::parse_event_t::object_end && !open.empty()) open.pop_back();
    if (event == Json::parse_event_t::key && !open.empty()) {
      const auto& name = parsed.get_ref<const std::string&>();
      for (const auto& seen : open.back()) duplicate |= seen == name;
      open.back().push_back(name);
    }
    return true;
  };
  (void)Json::parse(text.begin(), text.end(), cb, false);
  return duplicate;
}

void strict_json(std::string_view text) {
  auto strict = parse_strict_json(text);
  const Json lenient = Json::parse(text.begin(), text.end(), nullptr, false);
  if (strict) {
    check(!lenient.is_discarded() && *strict == lenient);
    check(!has_duplicate_members(text));
    // What it read, written out, reads back the same.
    auto again = parse_strict_json(strict->dump(-1, ' ', false, Json::error_handler_t::replace));
    check(again.has_value());
  } else {
    check(!strict.error().empty());
    if (!lenient.is_discarded()) check(has_duplicate_members(text));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  FuzzedDataProvider in(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      arbitrary_token(rest);
      break;
    case 1:
      signed_payload(in);
      break;
    case 2:
      chosen_claims(in);
      break;
    default:
      strict_json(rest);
      break;
  }
  return 0;
}
