// Big-endian byte reading and writing for wire codecs. The reader never reads
// past its span: every accessor reports failure instead (network bytes are
// untrusted, so nothing here asserts on them).
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gh {

using Bytes = std::span<const std::uint8_t>;

inline std::string_view as_chars(Bytes b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline Bytes as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Lower-case hex of `b`, appended to `out` (digests, ids, bytea's \x form).
inline void append_hex(std::string& out, Bytes b) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.reserve(out.size() + 2 * b.size());
  for (const std::uint8_t c : b) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
}
inline std::string hex(Bytes b) {
  std::string out;
  append_hex(out, b);
  return out;
}
// The value of one hex digit (either case), or -1.
inline int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
// The bytes `h` spells in hex, or nothing when it is not an even run of hex digits.
inline std::optional<std::string> from_hex(std::string_view h) {
  if (h.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(h.size() / 2);
  for (std::size_t i = 0; i < h.size(); i += 2) {
    const int hi = hex_digit(h[i]), lo = hex_digit(h[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

class ByteReader {
 public:
  explicit ByteReader(Bytes data) : data_(data) {}

  std::size_t remaining() const { return data_.size() - pos_; }
  std::size_t position() const { return pos_; }
  bool empty() const { return remaining() == 0; }

  std::optional<std::uint8_t> u8() {
    if (remaining() < 1) return std::nullopt;
    return data_[pos_++];
  }
  std::optional<std::uint16_t> u16() {
    if (remaining() < 2) return std::nullopt;
    std::uint16_t v = static_cast<std::uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  std::optional<std::int16_t> i16() {
    auto v = u16();
    if (!v) return std::nullopt;
    return static_cast<std::int16_t>(*v);
  }
  std::optional<std::uint32_t> u32() {
    if (remaining() < 4) return std::nullopt;
    std::uint32_t v = (std::uint32_t{data_[pos_]} << 24) | (std::uint32_t{data_[pos_ + 1]} << 16) |
                      (std::uint32_t{data_[pos_ + 2]} << 8) | std::uint32_t{data_[pos_ + 3]};
    pos_ += 4;
    return v;
  }
  std::optional<std::int32_t> i32() {
    auto v = u32();
    if (!v) return std::nullopt;
    return static_cast<std::int32_t>(*v);
  }
  // A NUL-terminated string; the view excludes the terminator.
  std::optional<std::string_view> cstring() {
    if (remaining() == 0) return std::nullopt;  // also keeps a null data() away from memchr
    const auto* begin = data_.data() + pos_;
    const void* nul = std::memchr(begin, 0, remaining());
    if (nul == nullptr) return std::nullopt;
    std::size_t n = static_cast<const std::uint8_t*>(nul) - begin;
    pos_ += n + 1;
    return std::string_view(reinterpret_cast<const char*>(begin), n);
  }
  std::optional<Bytes> take(std::size_t n) {
    if (remaining() < n) return std::nullopt;
    Bytes out = data_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  Bytes rest() {
    Bytes out = data_.subspan(pos_);
    pos_ = data_.size();
    return out;
  }

 private:
  Bytes data_;
  std::size_t pos_ = 0;
};

class ByteWriter {
 public:
  explicit ByteWriter(std::vector<std::uint8_t>& out) : out_(out) {}

  ByteWriter& u8(std::uint8_t v) {
    out_.push_back(v);
    return *this;
  }
  ByteWriter& u16(std::uint16_t v) {
    out_.push_back(static_cast<std::uint8_t>(v >> 8));
    out_.push_back(static_cast<std::uint8_t>(v));
    return *this;
  }
  ByteWriter& u32(std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8)
      out_.push_back(static_cast<std::uint8_t>(v >> shift));
    return *this;
  }
  ByteWriter& i32(std::int32_t v) { return u32(static_cast<std::uint32_t>(v)); }
  ByteWriter& raw(Bytes b) {
    out_.insert(out_.end(), b.begin(), b.end());
    return *this;
  }
  ByteWriter& raw(std::string_view s) { return raw(as_bytes(s)); }
  ByteWriter& cstring(std::string_view s) {
    raw(s);
    return u8(0);
  }
  std::size_t size() const { return out_.size(); }
  // Overwrites 4 bytes at `at` (used to patch a length after the body is known).
  void patch_u32(std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out_[at + i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
  }

 private:
  std::vector<std::uint8_t>& out_;
};

}  // namespace gh
