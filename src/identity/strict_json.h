// JSON parsing for untrusted token parts and JWKS documents: never throws, and
// refuses duplicate member names. RFC 7515 §4 / RFC 7519 §4 require refusing
// them; accepting the last one (nlohmann's default) would let a token show one
// `sub` to a logging proxy and another to us.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "base/expected.h"

namespace gh::identity {

// The parsed value, or why not ("not valid JSON", "duplicate member \"sub\"").
// The reason names at most a member name, never a value.
Expected<nlohmann::json> parse_strict_json(std::string_view text);

}  // namespace gh::identity
