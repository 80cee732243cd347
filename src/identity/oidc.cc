#include "identity/oidc.h"

#include "base/utf8.h"
#include "identity/strict_json.h"

namespace gh::identity {
namespace {

// A value the identity provider sent, shown in an error: bounded, quoted.
std::string quoted(const std::string& text) {
  constexpr std::size_t kMax = 120;
  return "\"" + (text.size() > kMax ? std::string(utf8_prefix(text, kMax)) + "…" : text) + "\"";
}

}  // namespace

Expected<OidcMetadata> parse_oidc_metadata(std::string_view text, std::string_view issuer) {
  auto metadata = parse_strict_json(text);
  if (!metadata) return unexpected("is " + metadata.error());
  if (!metadata->is_object()) return unexpected(std::string("is not a JSON object"));
  // §4.3: the metadata must name exactly the issuer it was fetched for, or a
  // provider could hand out keys for another issuer's tokens.
  const auto iss = metadata->find("issuer");
  if (iss == metadata->end() || !iss->is_string())
    return unexpected(std::string("has no \"issuer\" string"));
  const auto& named = iss->get_ref<const std::string&>();
  if (named != issuer)
    return unexpected("names issuer " + quoted(named) + ", not the configured " +
                      std::string(issuer) + " (OIDC Discovery §4.3 requires them to be identical)");
  const auto uri = metadata->find("jwks_uri");
  if (uri == metadata->end() || !uri->is_string())
    return unexpected(std::string("has no \"jwks_uri\" string"));
  return OidcMetadata{named, uri->get_ref<const std::string&>()};
}

}  // namespace gh::identity
