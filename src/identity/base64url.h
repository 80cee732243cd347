// Strict base64url (RFC 4648 §5) as JWS uses it (RFC 7515 §2): no padding, no
// whitespace, nothing outside the URL-safe alphabet. Encoding lives in
// signer.h (base64url_encode) because the tests use it to forge tokens.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gh::identity {

// The decoded bytes, or nullopt for '=' padding, a character outside
// [A-Za-z0-9_-], an impossible length, or non-zero unused trailing bits (which
// would let two different strings carry the same signature).
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace gh::identity
