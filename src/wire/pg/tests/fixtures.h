// Real protocol messages as literal bytes (what psql 15 and a PostgreSQL 15 server send), for
// the codec tests. Formats: https://www.postgresql.org/docs/15/protocol-message-formats.html
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "base/bytes.h"

namespace gh::wire::pg::fixtures {

using namespace std::string_view_literals;

inline std::vector<std::uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()),
          reinterpret_cast<const std::uint8_t*>(s.data()) + s.size()};
}

inline std::vector<std::uint8_t> concat(std::initializer_list<std::string_view> parts) {
  std::vector<std::uint8_t> out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// psql "host=gw dbname=traces user=alice": length 79, version 3.0, four parameters.
inline constexpr auto kStartup =
    "\x00\x00\x00\x4f"
    "\x00\x03\x00\x00"
    "user\0alice\0"
    "database\0traces\0"
    "application_name\0psql\0"
    "client_encoding\0UTF8\0"
    "\0"sv;

inline constexpr auto kSslRequest = "\x00\x00\x00\x08\x04\xd2\x16\x2f"sv;
inline constexpr auto kGssEncRequest = "\x00\x00\x00\x08\x04\xd2\x16\x30"sv;
// CancelRequest for pid 4242 (0x1092), secret 0x01020304.
inline constexpr auto kCancelRequest =
    "\x00\x00\x00\x10\x04\xd2\x16\x2e\x00\x00\x10\x92\x01\x02\x03\x04"sv;

// Simple query.
inline constexpr auto kQuery = "Q\x00\x00\x00\x0eSELECT 1;\0"sv;

// Extended query, as libpq's PQexecParams("SELECT $1::int4", {"42"}) pipelines it.
inline constexpr auto kParse =
    "P\x00\x00\x00\x1b"
    "\0"                   // unnamed statement
    "SELECT $1::int4\0"    // query
    "\x00\x01"             // one parameter type
    "\x00\x00\x00\x17"sv;  // int4 (oid 23)
inline constexpr auto kBind =
    "B\x00\x00\x00\x16"
    "\0"                // unnamed portal
    "\0"                // unnamed statement
    "\x00\x01\x00\x00"  // one parameter format: text
    "\x00\x01"          // one parameter
    "\x00\x00\x00\x02"
    "42"
    "\x00\x01\x00\x00"sv;  // one result format: text
inline constexpr auto kDescribePortal = "D\x00\x00\x00\x06P\0"sv;
inline constexpr auto kExecute = "E\x00\x00\x00\x09\0\x00\x00\x00\x00"sv;
inline constexpr auto kSync = "S\x00\x00\x00\x04"sv;

// The server's answer to SELECT 1.
inline constexpr auto kRowDescription =
    "T\x00\x00\x00\x21"
    "\x00\x01"
    "?column?\0"
    "\x00\x00\x00\x00"  // table oid
    "\x00\x00"          // attribute number
    "\x00\x00\x00\x17"  // int4
    "\x00\x04"          // typlen
    "\xff\xff\xff\xff"  // typmod
    "\x00\x00"sv;       // text
inline constexpr auto kDataRow =
    "D\x00\x00\x00\x0c\x00\x01\x00\x00\x00\x02"
    "42"sv;
inline constexpr auto kCommandComplete = "C\x00\x00\x00\x0dSELECT 1\0"sv;
inline constexpr auto kReadyForQuery = "Z\x00\x00\x00\x05I"sv;

// SELECT * FROM nope on PostgreSQL 15.
inline constexpr auto kErrorResponse =
    "E\x00\x00\x00\x67"
    "SERROR\0"
    "VERROR\0"
    "C42P01\0"
    "Mrelation \"nope\" does not exist\0"
    "P15\0"
    "Fparse_relation.c\0"
    "L1392\0"
    "RparserOpenTable\0"
    "\0"sv;

// Authentication requests.
inline constexpr auto kAuthOk = "R\x00\x00\x00\x08\x00\x00\x00\x00"sv;
inline constexpr auto kAuthMd5 = "R\x00\x00\x00\x0c\x00\x00\x00\x05\xde\xad\xbe\xef"sv;
inline constexpr auto kAuthSasl = "R\x00\x00\x00\x17\x00\x00\x00\x0aSCRAM-SHA-256\0\0"sv;
inline constexpr auto kBackendKeyData = "K\x00\x00\x00\x0c\x00\x00\x10\x92\x01\x02\x03\x04"sv;
inline constexpr auto kParameterStatus =
    "S\x00\x00\x00\x18server_version\x00"
    "15.4\0"sv;

// Bytes after the 5-byte header.
inline Bytes body_of(std::string_view message) {
  return as_bytes(message.substr(5));
}

}  // namespace gh::wire::pg::fixtures
