// Masking styles: what replaces a sensitive value.
//   partial  keeps the shape and what helps debugging: the last four digits
//            of a card, the first letter and top-level domain of an email…
//   redact   writes the type: [EMAIL]
//   hash     writes a stable keyed token, [EMAIL:1f3a…] (HMAC-SHA-256 with the
//            gateway's masking key, 16 hex digits), so equal values stay
//            joinable without being revealed.
// Every replacement is printable ASCII without quotes, backslashes, commas,
// tabs or newlines, so it can be put back inside a COPY line, a JSON string,
// an array literal or an error message without re-quoting.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "masking/detectors.h"

namespace gh::masking {

enum class Style { kPartial, kRedact, kHash };
std::string_view style_name(Style s);
std::optional<Style> style_from_name(std::string_view name);

// The secret for `hash` (32 bytes from data_dir/masking.key).
using HashKey = std::span<const std::uint8_t>;

// Appends the replacement for `value`, found by `detector`, to `out`.
void mask_found(Detector detector, Style style, std::string_view value, HashKey key,
                std::string& out);
// Appends the replacement for a whole value masked by a column rule when no
// detector recognises it: partial keeps the first character of a value of six
// or more and stars the rest (shorter values are all stars); redact writes
// [MASKED]; hash writes [MASKED:…].
void mask_whole(Style style, std::string_view value, HashKey key, std::string& out);

}  // namespace gh::masking
