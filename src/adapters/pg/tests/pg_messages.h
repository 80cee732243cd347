// Server message bodies for the adapter's tests, built with the wire encoders.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "wire/pg/protocol.h"

namespace gh::adapters::pg::testing {

struct Field {
  std::string name;
  std::uint32_t table = 0;
  std::int16_t att = 0;
  std::uint32_t type = 25;
  std::int16_t format = 0;
};

// A RowDescription body.
inline std::vector<std::uint8_t> row_description(const std::vector<Field>& fields) {
  std::vector<std::uint8_t> b;
  ByteWriter w(b);
  w.u16(static_cast<std::uint16_t>(fields.size()));
  for (const auto& f : fields) {
    w.cstring(f.name).u32(f.table).u16(static_cast<std::uint16_t>(f.att)).u32(f.type);
    w.u16(static_cast<std::uint16_t>(-1)).i32(-1).u16(static_cast<std::uint16_t>(f.format));
  }
  return b;
}

// The body of an encoded message (past its header).
inline std::vector<std::uint8_t> body_of(const wire::pg::Buffer& message) {
  return {message.begin() + wire::pg::Header::kSize, message.end()};
}

// A DataRow body (nullopt = NULL).
inline std::vector<std::uint8_t> data_row(const std::vector<std::optional<std::string>>& values) {
  std::vector<std::optional<Bytes>> v;
  for (const auto& s : values) v.push_back(s ? std::optional<Bytes>(as_bytes(*s)) : std::nullopt);
  wire::pg::Buffer m;
  wire::pg::encode_data_row(m, v);
  return body_of(m);
}

}  // namespace gh::adapters::pg::testing
