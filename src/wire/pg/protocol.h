// PostgreSQL frontend/backend protocol 3.0: the sans-I/O codec.
// Spec: https://www.postgresql.org/docs/15/protocol-message-formats.html
//
// Everything here is a pure function over bytes: no sockets, clocks or policy.
// Decoders take spans of untrusted bytes and return views into them (valid as
// long as the bytes are), `NeedMore`, or an error; they never throw and never
// read out of bounds. Encoders build the messages the gateway synthesises.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "base/bytes.h"
#include "base/expected.h"

namespace gh::wire::pg {

// PostgreSQL refuses any message longer than this (MaxAllocSize - 1).
inline constexpr std::uint32_t kMaxMessageLength = 0x3FFFFFFF;
// Startup packets are capped by the server at 10000 bytes (MAX_STARTUP_PACKET_LENGTH).
inline constexpr std::uint32_t kMaxStartupLength = 10000;

inline constexpr std::uint32_t kProtocol30 = 196608;  // 3.0
inline constexpr std::uint32_t kCancelRequestCode = 80877102;
inline constexpr std::uint32_t kSslRequestCode = 80877103;
inline constexpr std::uint32_t kGssEncRequestCode = 80877104;

struct NeedMore {
  std::size_t at_least = 0;  // total bytes the decoder needs to see (from the start)
};

struct DecodeError {
  std::string reason;
};

// ---- The untyped first message of a connection ------------------------------

struct StartupMessage {
  std::uint32_t version = 0;                                // major << 16 | minor
  std::vector<std::pair<std::string, std::string>> params;  // copied: kept for the session
};
struct SslRequest {};
struct GssEncRequest {};
struct CancelRequest {
  std::int32_t pid = 0;
  std::int32_t secret = 0;
};

using StartupPacket = std::variant<StartupMessage, SslRequest, GssEncRequest, CancelRequest>;

struct StartupDecoded {
  StartupPacket packet;
  std::size_t consumed = 0;  // bytes of input this packet took
};

// Decodes the length-prefixed packet a client sends first (no type byte).
// A StartupMessage of any protocol version is returned as is: the caller decides
// (3.0 accepted, 3.x answered with NegotiateProtocolVersion, others refused). Only 3.x has
// name/value parameters; a packet of another version comes back with none.
std::variant<StartupDecoded, NeedMore, DecodeError> decode_startup(Bytes input);

// ---- Typed messages -----------------------------------------------------------

struct Header {
  std::uint8_t type = 0;
  std::uint32_t length = 0;  // as on the wire: includes the 4 length bytes, not the type
  std::uint32_t body_length() const { return length - 4; }
  static constexpr std::size_t kSize = 5;
};

// Decodes a 5-byte message header; refuses lengths < 4 or > max_length.
std::variant<Header, NeedMore, DecodeError> decode_header(
    Bytes input, std::uint32_t max_length = kMaxMessageLength);

// Splits a byte stream into messages without buffering bodies it is not asked
// to: the caller says per type whether it needs the message whole (to inspect
// it) or streamed (DataRow, CopyData: relayed in chunks as they arrive, so a
// 1 GiB row never sits in memory). Feed it whatever arrived; take events until
// NeedMore. Views in events stay valid until the next call to next() or feed.
class MessageFramer {
 public:
  enum class EventKind {
    kNeedMore,     // give it more bytes
    kWhole,        // a complete message: header + body
    kStreamBegin,  // header of a streamed message (raw = the 5 header bytes)
    kStreamChunk,  // part of a streamed message's body
    kStreamEnd,    // the streamed message is complete (no bytes)
    kError,        // framing is broken: the connection must be closed
  };
  struct Event {
    EventKind kind = EventKind::kNeedMore;
    Header header;      // kWhole, kStreamBegin, kStreamChunk, kStreamEnd
    Bytes body;         // kWhole: the body; kStreamChunk: this chunk
    Bytes raw;          // kWhole: header+body bytes; kStreamBegin: the header; kStreamChunk: = body
    std::string error;  // kError
  };

  // Whether messages of this type are delivered whole (nullptr: all of them).
  using WantsWhole = bool (*)(std::uint8_t type);

  explicit MessageFramer(WantsWhole wants_whole, std::uint32_t max_length = kMaxMessageLength)
      : wants_whole_(wants_whole), max_length_(max_length) {}

  // Takes bytes to frame; the framer keeps a view of `input` until next() has
  // consumed it, or copies the tail of an incomplete whole message.
  void feed(Bytes input);
  Event next();
  // True when no message is half-read (a clean place to close or stop).
  bool at_boundary() const;
  // Lets go of the memory kept for the next message (a copy of one that
  // straddled feeds): for a stream gone quiet. Views handed out before are
  // invalid afterwards; what is still needed (an incomplete message) stays.
  void shrink();
  // Changes which messages come whole, from the next message on (call it
  // between next() calls, not while a message is streaming).
  void set_wants_whole(WantsWhole wants_whole) { wants_whole_ = wants_whole; }

 private:
  Event next_from_partial();
  void release_partial();
  Event fail(std::string reason);

  WantsWhole wants_whole_;
  std::uint32_t max_length_;
  Bytes input_;                        // unconsumed fed bytes
  std::vector<std::uint8_t> partial_;  // header or whole message being assembled
  std::optional<Header> streaming_;    // header of the streamed message in progress
  std::uint32_t stream_left_ = 0;      // body bytes still to come
  bool failed_ = false;
  bool partial_emitted_ = false;     // partial_ was handed out in an event: drop it next call
  std::vector<std::uint8_t> spill_;  // fed bytes joined when feed() came before they were taken
  std::string error_;                // why framing failed (repeated by every later next())
};

// Bodies of the messages the gateway inspects. Each takes the body (after the
// 5-byte header) and returns views into it.

struct Query {
  std::string_view sql;
};
std::optional<Query> parse_query(Bytes body);  // 'Q'

struct Parse {
  std::string_view statement;  // "" = unnamed
  std::string_view sql;
  std::vector<std::uint32_t> param_types;
};
std::optional<Parse> parse_parse(Bytes body);  // 'P'

struct Bind {
  std::string_view portal;
  std::string_view statement;
  std::vector<std::int16_t> param_formats;
  std::vector<std::optional<Bytes>> params;  // nullopt = SQL NULL
  std::vector<std::int16_t> result_formats;
  // The format of parameter i (0 text, 1 binary): none listed means text, one applies to all.
  std::int16_t param_format(std::size_t i) const {
    if (param_formats.empty()) return 0;
    return param_formats.size() == 1 ? param_formats[0] : param_formats[i];
  }
};
// Also refuses what the server would: format codes other than 0/1, and a parameter format
// count other than 0, 1 or the number of parameters (so param_format() is always in range).
std::optional<Bind> parse_bind(Bytes body);  // 'B'

struct Execute {
  std::string_view portal;
  std::int32_t max_rows = 0;
};
std::optional<Execute> parse_execute(Bytes body);  // 'E' (frontend)

struct Close {
  char kind = 0;  // 'S' statement | 'P' portal
  std::string_view name;
};
std::optional<Close> parse_close(Bytes body);     // 'C' (frontend)
std::optional<Close> parse_describe(Bytes body);  // 'D' (frontend), same shape

std::optional<std::string_view> parse_password(Bytes body);  // 'p': cleartext password

struct FunctionCall {
  std::uint32_t function_oid = 0;
};
// Only the oid is returned, but the whole message (formats, arguments, result format) is checked.
std::optional<FunctionCall> parse_function_call(Bytes body);  // 'F'

// Backend messages.
struct Authentication {
  std::int32_t code = 0;  // 0 ok, 3 cleartext, 5 md5, 10 SASL, 11 SASL continue, 12 SASL final
  Bytes data;             // md5: 4-byte salt; SASL: mechanism list / server data
};
// Known codes are checked for their exact data (none, a 4-byte salt, a non-empty mechanism
// list); 8, 11, 12 carry opaque data; unknown codes are returned for the caller to refuse.
std::optional<Authentication> parse_authentication(Bytes body);  // 'R'
// The mechanisms of an AuthenticationSASL body's data (NUL-terminated list).
// Empty when the list is malformed (unterminated, or bytes after its end).
std::vector<std::string_view> parse_sasl_mechanisms(Bytes data);

struct BackendKeyData {
  std::int32_t pid = 0;
  std::int32_t secret = 0;
};
std::optional<BackendKeyData> parse_backend_key_data(Bytes body);  // 'K'

struct ParameterStatus {
  std::string_view name, value;
};
std::optional<ParameterStatus> parse_parameter_status(Bytes body);  // 'S' (backend)

// ErrorResponse / NoticeResponse: field code → value ('S','V','C','M','D','H',…).
struct ErrorFields {
  std::vector<std::pair<char, std::string_view>> fields;
  std::string_view get(char code) const;
};
std::optional<ErrorFields> parse_error_fields(Bytes body);  // 'E' / 'N' (backend)

std::optional<std::string_view> parse_command_complete(Bytes body);  // 'C' (backend): the tag
// Rows affected or returned from a command tag ("SELECT 3", "INSERT 0 5", "COPY 7"); -1 if none.
// A count beyond int64 (the server counts in uint64) saturates at INT64_MAX.
std::int64_t rows_from_command_tag(std::string_view tag);

std::optional<char> parse_ready_for_query(Bytes body);  // 'Z': 'I' | 'T' | 'E'

// RowDescription: one field per result column.
struct FieldDescription {
  std::string_view name;
  std::uint32_t table_oid = 0;  // 0 when the column is not a table column
  std::int16_t attnum = 0;
  std::uint32_t type_oid = 0;
  std::int16_t type_size = 0;
  std::int32_t type_modifier = 0;
  std::int16_t format = 0;  // 0 text, 1 binary
};
std::optional<std::vector<FieldDescription>> parse_row_description(Bytes body);  // 'T'

// DataRow: its values (nullopt = NULL), exactly as many as the count says,
// into `values` (cleared first, so one vector serves a whole result).
bool parse_data_row(Bytes body, std::vector<std::optional<Bytes>>& values);  // 'D' (backend)

struct Notification {
  std::int32_t pid = 0;
  std::string_view channel;
  std::string_view payload;
};
std::optional<Notification> parse_notification(Bytes body);  // 'A'

// CopyOutResponse / CopyInResponse / CopyBothResponse: the overall format (0 text, 1 binary).
std::optional<std::int8_t> parse_copy_response(Bytes body);  // 'H' / 'G' / 'W'

// ---- Encoders -------------------------------------------------------------------

// Each encoder appends one message to `out`. In messages made of several strings in a row
// (ErrorResponse fields, ParameterStatus, startup parameters, option names) a value is cut at
// its first NUL, which would otherwise end it early and smuggle in a field of the sender's
// choosing. Query and PasswordMessage hold one string and are written whole: the server refuses
// a NUL inside them, and cutting a query could change what it does.
using Buffer = std::vector<std::uint8_t>;

struct ErrorSpec {
  std::string_view severity = "ERROR";  // ERROR | FATAL | PANIC | WARNING | NOTICE | …
  std::string_view sqlstate;            // "XX000" (internal_error) when empty: clients branch on it
  std::string_view message;
  std::string_view detail;  // omitted when empty
  std::string_view hint;    // omitted when empty
};
void encode_error_response(Buffer& out, const ErrorSpec& e);  // 'E'
// An ErrorResponse or NoticeResponse ('E' | 'N') with exactly these fields, in order.
void encode_error_fields(Buffer& out, char type,
                         const std::vector<std::pair<char, std::string_view>>& fields);
// A DataRow of these values (nullopt = NULL).
void encode_data_row(Buffer& out, const std::vector<std::optional<Bytes>>& values);
void encode_notification(Buffer& out, const Notification& n);  // 'A'
// A CopyData ('d') message around these bytes.
void encode_copy_data(Buffer& out, Bytes data);
void encode_notice_response(Buffer& out, const ErrorSpec& e);  // 'N'

void encode_auth_cleartext_request(Buffer& out);  // R 3
void encode_auth_ok(Buffer& out);                 // R 0
void encode_parameter_status(Buffer& out, std::string_view name, std::string_view value);
void encode_backend_key_data(Buffer& out, std::int32_t pid, std::int32_t secret);
void encode_ready_for_query(Buffer& out, char status);
// Tells a client asking for 3.x (x > 0) or _pq_ options which minor version and
// options the gateway speaks: https://www.postgresql.org/docs/15/protocol-message-formats.html
void encode_negotiate_protocol_version(Buffer& out, std::int32_t newest_minor,
                                       const std::vector<std::string>& unrecognized);

// Frontend messages the gateway sends upstream.
// Protocol 3.0; a pair with an empty name is skipped (it would end the list).
void encode_startup_message(Buffer& out,
                            const std::vector<std::pair<std::string, std::string>>& params);
void encode_ssl_request(Buffer& out);
void encode_cancel_request(Buffer& out, std::int32_t pid, std::int32_t secret);
void encode_password_message(Buffer& out, std::string_view password);  // 'p' with NUL
void encode_sasl_initial_response(Buffer& out, std::string_view mechanism, std::string_view data);
void encode_sasl_response(Buffer& out, std::string_view data);
void encode_terminate(Buffer& out);
void encode_query(Buffer& out, std::string_view sql);
// Parse with no parameter types. Like Query, written whole.
void encode_parse(Buffer& out, std::string_view statement, std::string_view sql);

}  // namespace gh::wire::pg
