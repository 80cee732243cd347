// OpenID Connect Discovery 1.0 §4 metadata, as the identity provider serves it
// at <issuer>/.well-known/openid-configuration: what the gateway reads of it.
// The document comes from the network; the fetch itself is gateway/key_fetcher.
#pragma once

#include <string>
#include <string_view>

#include "base/expected.h"

namespace gh::identity {

struct OidcMetadata {
  std::string issuer;    // equal to the configured issuer (§4.3)
  std::string jwks_uri;  // where the keys are; not yet checked as a URL
};

// The metadata of `issuer` from the document's text, or what is wrong with it
// ("is not valid JSON", "has no \"jwks_uri\" string", "names issuer …"),
// phrased to follow "metadata <url> ". Strict JSON (duplicate members are
// refused), an object, an `issuer` string equal to `issuer` exactly and a
// `jwks_uri` string. A value the provider sent is quoted and bounded in the
// reason.
Expected<OidcMetadata> parse_oidc_metadata(std::string_view text, std::string_view issuer);

}  // namespace gh::identity
