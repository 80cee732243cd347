// UTF-8 validation, shared by what must tell text from bytes (the audit
// chain's canonical encoding, recorded statement parameters).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gh {

// Length of the valid UTF-8 sequence at s[i], or 0 (overlong forms,
// surrogates and code points past U+10FFFF are invalid).
inline std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t n;
  std::uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  static constexpr std::array<std::uint32_t, 5> kMin{0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// Valid UTF-8; with `printable`, also free of control characters other than
// tab, newline and carriage return.
inline bool valid_utf8(std::string_view s, bool printable = false) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {  // ASCII, the common case: no decoding
      if (printable && ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f))
        return false;
      ++i;
      continue;
    }
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// The longest prefix of `s` of at most `max_bytes` that does not end inside a
// UTF-8 sequence: a cut never splits a character.
inline std::size_t utf8_cut(std::string_view s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return s.size();
  const auto continuation = [&](std::size_t i) {
    return (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80;
  };
  if (!continuation(max_bytes)) return max_bytes;  // the next byte starts a character
  // The byte after the cut continues a sequence: find its lead byte (at most
  // three back) and keep that sequence only when it ends before the cut.
  std::size_t lead = max_bytes;
  while (lead > 0 && max_bytes - lead < 3 && continuation(lead)) --lead;
  if (continuation(lead)) return max_bytes;  // no lead byte: not UTF-8 here anyway
  const std::size_t n = utf8_sequence(s, lead);
  return n != 0 && lead + n <= max_bytes ? max_bytes : lead;
}
inline std::string_view utf8_prefix(std::string_view s, std::size_t max_bytes) {
  return s.substr(0, utf8_cut(s, max_bytes));
}

}  // namespace gh
