// PostgreSQL protocol 3.0 codec. Message formats:
// https://www.postgresql.org/docs/15/protocol-message-formats.html
//
// Grammar of what this file reads and writes (F = frontend, B = backend; Int32 etc. big-endian,
// String = NUL-terminated). Every message but the startup packets is Byte1 type, Int32 length
// (counting itself, not the type), body.
//
//   packet / type      dir  body
//   StartupMessage     F    Int32 len, Int32 version, (String name, String value)*, Byte1 0
//   SSLRequest         F    Int32 8, Int32 80877103
//   GSSENCRequest      F    Int32 8, Int32 80877104
//   CancelRequest      F    Int32 16, Int32 80877102, Int32 pid, Int32 secret
//   'Q' Query          F    String sql
//   'P' Parse          F    String stmt, String sql, Int16 n, Int32 type-oid[n]
//   'B' Bind           F    String portal, String stmt, Int16 nf, Int16 fmt[nf],
//                           Int16 np, (Int32 len | -1, Byte len)[np], Int16 nr, Int16 fmt[nr]
//   'E' Execute        F    String portal, Int32 max-rows
//   'C' Close          F    Byte1 'S'|'P', String name
//   'D' Describe       F    Byte1 'S'|'P', String name
//   'p' Password...    F    String password | SASLInitialResponse | SASLResponse
//   'F' FunctionCall   F    Int32 oid, Int16 nf, Int16 fmt[nf], Int16 na, (Int32 len | -1,
//                           Byte len)[na], Int16 result-fmt
//   'X' Terminate      F    (empty)
//   'R' Authentication B    Int32 code, data (per code, see parse_authentication)
//   'K' BackendKeyData B    Int32 pid, Int32 secret
//   'S' ParameterStatus B   String name, String value
//   'E'/'N' Error/Notice B  (Byte1 code, String value)*, Byte1 0
//   'C' CommandComplete B   String tag
//   'Z' ReadyForQuery  B    Byte1 'I'|'T'|'E'
//   'v' NegotiateProtocolVersion B  Int32 newest-minor, Int32 n, String option[n]
#include "wire/pg/protocol.h"

#include <algorithm>
#include <limits>

namespace gh::wire::pg {
namespace {

std::uint32_t load_u32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

// A reader that never holds a null pointer: an empty span may have data() == nullptr, and
// ByteReader::cstring() hands its pointer to memchr, for which null is undefined even with a
// length of 0.
ByteReader reader_of(Bytes b) {
  static constexpr std::uint8_t kNothing = 0;
  return ByteReader(b.data() != nullptr ? b : Bytes(&kNothing, 0));
}

// Why a header is refused, or nullptr. Shared by decode_header and the framer's hot path.
const char* header_problem(std::uint32_t length, std::uint32_t max_length) {
  // The length counts itself, so anything below 4 cannot be a message.
  if (length < 4) return "message length below 4";
  if (length > max_length) return "message length above the limit";
  return nullptr;
}

std::string describe_bad_header(const char* problem, std::uint8_t type, std::uint32_t length) {
  std::string out = problem;
  out += " (type 0x";
  constexpr char kHex[] = "0123456789abcdef";
  out += kHex[type >> 4];
  out += kHex[type & 0xF];
  out += ", length ";
  out += std::to_string(length);
  out += ")";
  return out;
}

// A view of the part of `s` before its first NUL. Used for fields of messages that hold several
// strings in a row: a NUL inside a value would end it early and let the rest pass for another
// field (a smuggled ErrorResponse field, an extra startup parameter).
std::string_view before_nul(std::string_view s) {
  auto nul = s.find('\0');
  return nul == std::string_view::npos ? s : s.substr(0, nul);
}

// Starts a typed message; returns where its length goes.
std::size_t begin_message(Buffer& out, char type) {
  ByteWriter w(out);
  w.u8(static_cast<std::uint8_t>(type));
  std::size_t at = out.size();
  w.u32(0);
  return at;
}

// Patches the length of a message begun at `at`: everything from the length field on.
void end_message(Buffer& out, std::size_t at) {
  ByteWriter(out).patch_u32(at, static_cast<std::uint32_t>(out.size() - at));
}

// Reads `n` Int16 format codes, each 0 (text) or 1 (binary): the server refuses any other
// ("unsupported format code"), so so does the parser, and the gateway reads values as the
// server will.
bool read_formats(ByteReader& r, std::vector<std::int16_t>* out) {
  // Counts are unsigned 16-bit on the server (pq_getmsgint(msg, 2)): 0..65535.
  auto n = r.u16();
  if (!n || r.remaining() < static_cast<std::size_t>(*n) * 2) return false;
  if (out) out->reserve(static_cast<std::size_t>(*n));
  for (std::uint32_t i = 0; i < *n; ++i) {
    auto f = r.i16();
    if (!f || (*f != 0 && *f != 1)) return false;
    if (out) out->push_back(*f);
  }
  return true;
}

// Reads Int16 n then n values, each Int32 length (-1 = NULL) and that many bytes.
bool read_values(ByteReader& r, std::vector<std::optional<Bytes>>* out, std::size_t* count) {
  auto n = r.u16();  // unsigned on the server too
  if (!n) return false;
  *count = static_cast<std::size_t>(*n);
  // Each value takes at least its 4 length bytes, so a count the body cannot hold is refused
  // before anything is reserved for it.
  if (r.remaining() < static_cast<std::size_t>(*n) * 4) return false;
  if (out) out->reserve(static_cast<std::size_t>(*n));
  for (std::uint32_t i = 0; i < *n; ++i) {
    auto len = r.i32();
    if (!len) return false;
    if (*len == -1) {
      if (out) out->emplace_back(std::nullopt);
      continue;
    }
    if (*len < 0) return false;
    auto value = r.take(static_cast<std::size_t>(*len));
    if (!value) return false;
    if (out) out->emplace_back(*value);
  }
  return true;
}

std::optional<std::vector<std::string_view>> read_sasl_mechanisms(Bytes data) {
  ByteReader r = reader_of(data);
  std::vector<std::string_view> out;
  while (true) {
    auto name = r.cstring();
    if (!name) return std::nullopt;  // no terminating empty string
    if (name->empty()) break;
    out.push_back(*name);
  }
  if (!r.empty()) return std::nullopt;
  return out;
}

std::optional<Close> parse_close_like(Bytes body) {
  ByteReader r = reader_of(body);
  auto kind = r.u8();
  if (!kind || (*kind != 'S' && *kind != 'P')) return std::nullopt;
  auto name = r.cstring();
  if (!name || !r.empty()) return std::nullopt;
  return Close{static_cast<char>(*kind), *name};
}

std::optional<std::string_view> parse_single_string(Bytes body) {
  ByteReader r = reader_of(body);
  auto s = r.cstring();
  if (!s || !r.empty()) return std::nullopt;
  return s;
}

void encode_error_like(Buffer& out, char type, const ErrorSpec& e) {
  // Fields: https://www.postgresql.org/docs/15/protocol-error-fields.html. 'S' may be
  // localized; 'V' never is (since 9.6), so clients match on it.
  std::size_t at = begin_message(out, type);
  ByteWriter w(out);
  auto field = [&w](char code, std::string_view value) {
    w.u8(static_cast<std::uint8_t>(code)).cstring(before_nul(value));
  };
  field('S', e.severity);
  field('V', e.severity);
  // The SQLSTATE is always present in a server's errors; clients branch on it.
  field('C', e.sqlstate.empty() ? std::string_view("XX000") : e.sqlstate);
  field('M', e.message);
  if (!e.detail.empty()) field('D', e.detail);
  if (!e.hint.empty()) field('H', e.hint);
  w.u8(0);
  end_message(out, at);
}

}  // namespace

// ---- Startup ------------------------------------------------------------------------------

std::variant<StartupDecoded, NeedMore, DecodeError> decode_startup(Bytes input) {
  // https://www.postgresql.org/docs/15/protocol-message-formats.html (StartupMessage,
  // SSLRequest, GSSENCRequest, CancelRequest): no type byte, the length counts itself.
  constexpr std::size_t kMinimum = 8;  // length + code
  if (input.size() < 4) return NeedMore{kMinimum};
  std::uint32_t length = load_u32(input.data());
  if (length < kMinimum) return DecodeError{"startup packet shorter than 8 bytes"};
  if (length > kMaxStartupLength) return DecodeError{"startup packet longer than 10000 bytes"};
  if (input.size() < length) return NeedMore{length};

  ByteReader r = reader_of(input.subspan(4, length - 4));
  std::uint32_t code = *r.u32();  // length >= 8 guarantees it
  switch (code) {
    case kSslRequestCode:
      if (length != 8) return DecodeError{"SSLRequest must be 8 bytes"};
      return StartupDecoded{SslRequest{}, length};
    case kGssEncRequestCode:
      if (length != 8) return DecodeError{"GSSENCRequest must be 8 bytes"};
      return StartupDecoded{GssEncRequest{}, length};
    case kCancelRequestCode: {
      if (length != 16) return DecodeError{"CancelRequest must be 16 bytes"};
      CancelRequest cancel;
      cancel.pid = *r.i32();
      cancel.secret = *r.i32();
      return StartupDecoded{cancel, length};
    }
    default:
      break;
  }

  StartupMessage msg;
  msg.version = code;
  // Only 3.x has the name/value layout; other versions come back without parameters for the
  // caller to refuse, as the server does (PG 15 speaks 3.0 only).
  if ((code >> 16) != 3) return StartupDecoded{std::move(msg), length};
  while (true) {
    auto name = r.cstring();
    if (!name) return DecodeError{"startup packet: parameter list not terminated"};
    if (name->empty()) break;  // the extra NUL that ends the list
    auto value = r.cstring();
    if (!value) return DecodeError{"startup packet: parameter without a value"};
    msg.params.emplace_back(std::string(*name), std::string(*value));
  }
  // The server insists the terminator is the packet's last byte.
  if (!r.empty()) return DecodeError{"startup packet: bytes after the parameter list"};
  return StartupDecoded{std::move(msg), length};
}

// ---- Framing ------------------------------------------------------------------------------

std::variant<Header, NeedMore, DecodeError> decode_header(Bytes input, std::uint32_t max_length) {
  if (input.size() < Header::kSize) return NeedMore{Header::kSize};
  Header h;
  h.type = input[0];
  h.length = load_u32(input.data() + 1);
  if (const char* problem = header_problem(h.length, max_length))
    return DecodeError{describe_bad_header(problem, h.type, h.length)};
  return h;
}

void MessageFramer::feed(Bytes input) {
  if (failed_) return;
  release_partial();
  if (input_.empty()) {
    input_ = input;  // the usual case: everything before was taken
    if (!spill_.empty()) std::vector<std::uint8_t>().swap(spill_);
    return;
  }
  // Fed again before the last bytes were taken: keep both, which needs a copy. Built aside
  // first because input_ may point into spill_.
  std::vector<std::uint8_t> joined;
  joined.reserve(input_.size() + input.size());
  joined.insert(joined.end(), input_.begin(), input_.end());
  joined.insert(joined.end(), input.begin(), input.end());
  spill_.swap(joined);
  input_ = spill_;
}

void MessageFramer::release_partial() {
  if (!partial_emitted_) return;
  // A large message should not pin its buffer for the rest of the session.
  constexpr std::size_t kKeepCapacity = 64 * 1024;
  if (partial_.capacity() > kKeepCapacity) {
    std::vector<std::uint8_t>().swap(partial_);
  } else {
    partial_.clear();
  }
  partial_emitted_ = false;
}

MessageFramer::Event MessageFramer::fail(std::string reason) {
  failed_ = true;
  error_ = std::move(reason);
  input_ = {};
  streaming_.reset();
  Event e;
  e.kind = EventKind::kError;
  e.error = error_;
  return e;
}

MessageFramer::Event MessageFramer::next() {
  Event e;
  if (failed_) {
    e.kind = EventKind::kError;
    e.error = error_;
    return e;
  }
  release_partial();

  if (streaming_) {
    if (stream_left_ == 0) {
      e.kind = EventKind::kStreamEnd;
      e.header = *streaming_;
      streaming_.reset();
      return e;
    }
    if (input_.empty()) return e;  // kNeedMore
    e.header = *streaming_;
    std::size_t n = std::min<std::size_t>(stream_left_, input_.size());
    e.kind = EventKind::kStreamChunk;
    e.body = e.raw = input_.first(n);
    input_ = input_.subspan(n);
    stream_left_ -= static_cast<std::uint32_t>(n);
    return e;
  }

  if (!partial_.empty()) return next_from_partial();

  // At a message boundary with only fed bytes: the hot path, no copies.
  if (input_.size() < Header::kSize) {
    partial_.assign(input_.begin(), input_.end());
    input_ = {};
    return e;  // kNeedMore
  }
  e.header.type = input_[0];
  e.header.length = load_u32(input_.data() + 1);
  if (const char* problem = header_problem(e.header.length, max_length_))
    return fail(describe_bad_header(problem, e.header.type, e.header.length));

  if (wants_whole_ == nullptr || wants_whole_(e.header.type)) {
    std::size_t total = std::size_t{e.header.length} + 1;
    if (input_.size() >= total) {
      e.kind = EventKind::kWhole;
      e.raw = input_.first(total);
      e.body = e.raw.subspan(Header::kSize);
      input_ = input_.subspan(total);
      return e;
    }
    // Straddles feeds: only now is it copied.
    partial_.assign(input_.begin(), input_.end());
    input_ = {};
    e.header = Header{};
    return e;  // kNeedMore
  }

  e.kind = EventKind::kStreamBegin;
  e.raw = input_.first(Header::kSize);
  input_ = input_.subspan(Header::kSize);
  streaming_ = e.header;
  stream_left_ = e.header.body_length();
  return e;
}

// partial_ holds the start of a message (a header not yet complete, or a whole message
// straddling feeds); top it up from input_.
MessageFramer::Event MessageFramer::next_from_partial() {
  Event e;
  if (partial_.size() < Header::kSize) {
    // Take no more than the header: a streamed message's body is not copied.
    std::size_t n = std::min(Header::kSize - partial_.size(), input_.size());
    partial_.insert(partial_.end(), input_.begin(),
                    input_.begin() + static_cast<std::ptrdiff_t>(n));
    input_ = input_.subspan(n);
    if (partial_.size() < Header::kSize) return e;  // kNeedMore
  }
  Header h;
  h.type = partial_[0];
  h.length = load_u32(partial_.data() + 1);
  if (const char* problem = header_problem(h.length, max_length_))
    return fail(describe_bad_header(problem, h.type, h.length));

  // More than a header buffered means it was already found to be whole.
  bool whole = partial_.size() > Header::kSize || wants_whole_ == nullptr || wants_whole_(h.type);
  if (!whole) {
    e.kind = EventKind::kStreamBegin;
    e.header = h;
    e.raw = Bytes(partial_);
    partial_emitted_ = true;
    streaming_ = h;
    stream_left_ = h.body_length();
    return e;
  }

  std::size_t total = std::size_t{h.length} + 1;
  std::size_t n = std::min(total - partial_.size(), input_.size());
  partial_.insert(partial_.end(), input_.begin(), input_.begin() + static_cast<std::ptrdiff_t>(n));
  input_ = input_.subspan(n);
  if (partial_.size() < total) return e;  // kNeedMore
  e.kind = EventKind::kWhole;
  e.header = h;
  e.raw = Bytes(partial_);
  e.body = e.raw.subspan(Header::kSize);
  partial_emitted_ = true;
  return e;
}

void MessageFramer::shrink() {
  release_partial();
  if (partial_.empty() && partial_.capacity() > 0) std::vector<std::uint8_t>().swap(partial_);
  if (input_.empty() && spill_.capacity() > 0) std::vector<std::uint8_t>().swap(spill_);
}

bool MessageFramer::at_boundary() const {
  return !failed_ && !streaming_ && (partial_.empty() || partial_emitted_);
}

// ---- Frontend bodies --------------------------------------------------------------------

std::optional<Query> parse_query(Bytes body) {
  auto sql = parse_single_string(body);
  if (!sql) return std::nullopt;
  return Query{*sql};
}

std::optional<Parse> parse_parse(Bytes body) {
  ByteReader r = reader_of(body);
  Parse p;
  auto statement = r.cstring();
  auto sql = statement ? r.cstring() : std::nullopt;
  auto n = sql ? r.u16() : std::nullopt;  // unsigned on the server: up to 65535 parameters
  if (!n || r.remaining() != static_cast<std::size_t>(*n) * 4) return std::nullopt;
  p.statement = *statement;
  p.sql = *sql;
  p.param_types.reserve(static_cast<std::size_t>(*n));
  for (std::uint32_t i = 0; i < *n; ++i) p.param_types.push_back(*r.u32());
  return p;
}

std::optional<Bind> parse_bind(Bytes body) {
  ByteReader r = reader_of(body);
  Bind b;
  auto portal = r.cstring();
  auto statement = portal ? r.cstring() : std::nullopt;
  if (!statement) return std::nullopt;
  b.portal = *portal;
  b.statement = *statement;
  if (!read_formats(r, &b.param_formats)) return std::nullopt;
  std::size_t nparams = 0;
  if (!read_values(r, &b.params, &nparams)) return std::nullopt;
  // The server refuses any other count ("bind message has N parameter formats but M
  // parameters"); refusing it here keeps param_format() in bounds.
  if (b.param_formats.size() > 1 && b.param_formats.size() != b.params.size()) return std::nullopt;
  if (!read_formats(r, &b.result_formats)) return std::nullopt;
  if (!r.empty()) return std::nullopt;
  return b;
}

std::optional<Execute> parse_execute(Bytes body) {
  ByteReader r = reader_of(body);
  auto portal = r.cstring();
  auto max_rows = portal ? r.i32() : std::nullopt;
  if (!max_rows || !r.empty()) return std::nullopt;
  return Execute{*portal, *max_rows};
}

std::optional<Close> parse_close(Bytes body) {
  return parse_close_like(body);
}
std::optional<Close> parse_describe(Bytes body) {
  return parse_close_like(body);
}

std::optional<std::string_view> parse_password(Bytes body) {
  return parse_single_string(body);
}

std::optional<FunctionCall> parse_function_call(Bytes body) {
  // Only the oid is returned, but the whole grammar is checked so that what the gateway
  // lets through is what the server will run.
  ByteReader r = reader_of(body);
  auto oid = r.u32();
  if (!oid) return std::nullopt;
  std::vector<std::int16_t> formats;
  std::size_t args = 0;
  if (!read_formats(r, &formats) || !read_values(r, nullptr, &args)) return std::nullopt;
  // As in Bind, the server takes no formats, one for all, or one per argument.
  if (formats.size() > 1 && formats.size() != args) return std::nullopt;
  auto result_format = r.i16();
  if (!result_format || (*result_format != 0 && *result_format != 1) || !r.empty())
    return std::nullopt;
  return FunctionCall{*oid};
}

// ---- Backend bodies ---------------------------------------------------------------------

std::optional<Authentication> parse_authentication(Bytes body) {
  ByteReader r = reader_of(body);
  auto code = r.i32();
  if (!code) return std::nullopt;
  Authentication a;
  a.code = *code;
  a.data = r.rest();
  switch (a.code) {
    case 0:  // AuthenticationOk
    case 2:  // KerberosV5
    case 3:  // CleartextPassword
    case 6:  // SCMCredential
    case 7:  // GSS
    case 9:  // SSPI
      if (!a.data.empty()) return std::nullopt;
      break;
    case 5:  // MD5Password: 4-byte salt
      if (a.data.size() != 4) return std::nullopt;
      break;
    case 10: {  // SASL: mechanism names, then an empty one
      auto mechanisms = read_sasl_mechanisms(a.data);
      if (!mechanisms || mechanisms->empty()) return std::nullopt;
      break;
    }
    default:  // 8 GSSContinue, 11 SASLContinue, 12 SASLFinal carry opaque data; other codes
      break;  // are returned for the caller to refuse by number.
  }
  return a;
}

std::vector<std::string_view> parse_sasl_mechanisms(Bytes data) {
  auto mechanisms = read_sasl_mechanisms(data);
  if (!mechanisms) return {};
  return std::move(*mechanisms);
}

std::optional<BackendKeyData> parse_backend_key_data(Bytes body) {
  if (body.size() != 8) return std::nullopt;
  ByteReader r = reader_of(body);
  BackendKeyData k;
  k.pid = *r.i32();
  k.secret = *r.i32();
  return k;
}

std::optional<ParameterStatus> parse_parameter_status(Bytes body) {
  ByteReader r = reader_of(body);
  auto name = r.cstring();
  auto value = name ? r.cstring() : std::nullopt;
  if (!value || !r.empty()) return std::nullopt;
  return ParameterStatus{*name, *value};
}

std::string_view ErrorFields::get(char code) const {
  for (const auto& [c, value] : fields)
    if (c == code) return value;
  return {};
}

std::optional<ErrorFields> parse_error_fields(Bytes body) {
  ByteReader r = reader_of(body);
  ErrorFields out;
  while (true) {
    auto code = r.u8();
    if (!code) return std::nullopt;  // the list must end with a 0 byte
    if (*code == 0) break;
    auto value = r.cstring();
    if (!value) return std::nullopt;
    out.fields.emplace_back(static_cast<char>(*code), *value);
  }
  if (!r.empty()) return std::nullopt;
  return out;
}

std::optional<std::string_view> parse_command_complete(Bytes body) {
  return parse_single_string(body);
}

std::int64_t rows_from_command_tag(std::string_view tag) {
  // Tags: https://www.postgresql.org/docs/15/protocol-message-formats.html (CommandComplete).
  // INSERT carries "oid rows" (oid is always 0 since PG 12); the others carry "rows".
  auto space = tag.find(' ');
  if (space == std::string_view::npos) return -1;
  std::string_view command = tag.substr(0, space);
  std::string_view numbers = tag.substr(space + 1);
  std::size_t expected_numbers = 1;
  if (command == "INSERT") {
    expected_numbers = 2;
  } else if (command != "SELECT" && command != "UPDATE" && command != "DELETE" &&
             command != "MERGE" && command != "COPY" && command != "FETCH" && command != "MOVE") {
    return -1;
  }
  std::int64_t value = -1;
  for (std::size_t i = 0; i < expected_numbers; ++i) {
    if (i > 0) {
      if (numbers.empty() || numbers.front() != ' ') return -1;
      numbers.remove_prefix(1);
    }
    std::size_t digits = 0;
    value = 0;
    while (digits < numbers.size() && numbers[digits] >= '0' && numbers[digits] <= '9') {
      int d = numbers[digits] - '0';
      // The server counts in uint64; beyond int64 the count saturates rather than wraps, so a
      // row threshold still sees "a lot".
      constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
      value = value > (kMax - d) / 10 ? kMax : value * 10 + d;
      ++digits;
    }
    if (digits == 0) return -1;
    numbers.remove_prefix(digits);
  }
  if (!numbers.empty()) return -1;
  return value;
}

std::optional<char> parse_ready_for_query(Bytes body) {
  if (body.size() != 1) return std::nullopt;
  char status = static_cast<char>(body[0]);
  if (status != 'I' && status != 'T' && status != 'E') return std::nullopt;
  return status;
}

// ---- Encoders -----------------------------------------------------------------------------

std::optional<std::vector<FieldDescription>> parse_row_description(Bytes body) {
  ByteReader r = reader_of(body);
  auto n = r.u16();
  // Each field takes at least its name's NUL and 18 bytes.
  if (!n || r.remaining() < static_cast<std::size_t>(*n) * 19) return std::nullopt;
  std::vector<FieldDescription> out;
  out.reserve(*n);
  for (std::uint32_t i = 0; i < *n; ++i) {
    FieldDescription f;
    auto name = r.cstring();
    auto table = r.u32();
    auto att = r.i16();
    auto type = r.u32();
    auto size = r.i16();
    auto mod = r.i32();
    auto fmt = r.i16();
    if (!name || !table || !att || !type || !size || !mod || !fmt) return std::nullopt;
    if (*fmt != 0 && *fmt != 1) return std::nullopt;
    f.name = *name;
    f.table_oid = *table;
    f.attnum = *att;
    f.type_oid = *type;
    f.type_size = *size;
    f.type_modifier = *mod;
    f.format = *fmt;
    out.push_back(f);
  }
  if (!r.empty()) return std::nullopt;
  return out;
}

bool parse_data_row(Bytes body, std::vector<std::optional<Bytes>>& values) {
  ByteReader r = reader_of(body);
  values.clear();
  std::size_t count = 0;
  return read_values(r, &values, &count) && r.empty();
}

std::optional<Notification> parse_notification(Bytes body) {
  ByteReader r = reader_of(body);
  auto pid = r.i32();
  auto channel = r.cstring();
  auto payload = r.cstring();
  if (!pid || !channel || !payload || !r.empty()) return std::nullopt;
  return Notification{*pid, *channel, *payload};
}

std::optional<std::int8_t> parse_copy_response(Bytes body) {
  ByteReader r = reader_of(body);
  auto overall = r.u8();
  if (!overall || *overall > 1) return std::nullopt;
  if (!read_formats(r, nullptr) || !r.empty()) return std::nullopt;
  return static_cast<std::int8_t>(*overall);
}

void encode_error_fields(Buffer& out, char type,
                         const std::vector<std::pair<char, std::string_view>>& fields) {
  std::size_t at = begin_message(out, type);
  ByteWriter w(out);
  for (const auto& [code, value] : fields) {
    if (code == 0) continue;  // it would end the list
    w.u8(static_cast<std::uint8_t>(code));
    w.cstring(before_nul(value));
  }
  w.u8(0);
  end_message(out, at);
}

void encode_data_row(Buffer& out, const std::vector<std::optional<Bytes>>& values) {
  std::size_t at = begin_message(out, 'D');
  ByteWriter w(out);
  w.u16(static_cast<std::uint16_t>(values.size()));
  for (const auto& v : values) {
    if (!v) {
      w.i32(-1);
      continue;
    }
    w.i32(static_cast<std::int32_t>(v->size()));
    out.insert(out.end(), v->begin(), v->end());
  }
  end_message(out, at);
}

void encode_notification(Buffer& out, const Notification& n) {
  std::size_t at = begin_message(out, 'A');
  ByteWriter w(out);
  w.i32(n.pid);
  w.cstring(before_nul(n.channel));
  w.cstring(before_nul(n.payload));
  end_message(out, at);
}

void encode_copy_data(Buffer& out, Bytes data) {
  std::size_t at = begin_message(out, 'd');
  out.insert(out.end(), data.begin(), data.end());
  end_message(out, at);
}

void encode_error_response(Buffer& out, const ErrorSpec& e) {
  encode_error_like(out, 'E', e);
}
void encode_notice_response(Buffer& out, const ErrorSpec& e) {
  encode_error_like(out, 'N', e);
}

void encode_auth_cleartext_request(Buffer& out) {
  std::size_t at = begin_message(out, 'R');
  ByteWriter(out).i32(3);
  end_message(out, at);
}

void encode_auth_ok(Buffer& out) {
  std::size_t at = begin_message(out, 'R');
  ByteWriter(out).i32(0);
  end_message(out, at);
}

void encode_parameter_status(Buffer& out, std::string_view name, std::string_view value) {
  std::size_t at = begin_message(out, 'S');
  ByteWriter(out).cstring(before_nul(name)).cstring(before_nul(value));
  end_message(out, at);
}

void encode_backend_key_data(Buffer& out, std::int32_t pid, std::int32_t secret) {
  std::size_t at = begin_message(out, 'K');
  ByteWriter(out).i32(pid).i32(secret);
  end_message(out, at);
}

void encode_ready_for_query(Buffer& out, char status) {
  std::size_t at = begin_message(out, 'Z');
  ByteWriter(out).u8(static_cast<std::uint8_t>(status));
  end_message(out, at);
}

void encode_negotiate_protocol_version(Buffer& out, std::int32_t newest_minor,
                                       const std::vector<std::string>& unrecognized) {
  std::size_t at = begin_message(out, 'v');
  ByteWriter w(out);
  w.i32(newest_minor).i32(static_cast<std::int32_t>(unrecognized.size()));
  for (const auto& option : unrecognized) w.cstring(before_nul(option));
  end_message(out, at);
}

void encode_startup_message(Buffer& out,
                            const std::vector<std::pair<std::string, std::string>>& params) {
  std::size_t at = out.size();
  ByteWriter w(out);
  w.u32(0).u32(kProtocol30);
  for (const auto& [name, value] : params) {
    std::string_view n = before_nul(name);
    if (n.empty()) continue;  // an empty name would end the list early
    w.cstring(n).cstring(before_nul(value));
  }
  w.u8(0);
  w.patch_u32(at, static_cast<std::uint32_t>(out.size() - at));
}

void encode_ssl_request(Buffer& out) {
  ByteWriter(out).u32(8).u32(kSslRequestCode);
}

void encode_cancel_request(Buffer& out, std::int32_t pid, std::int32_t secret) {
  ByteWriter(out).u32(16).u32(kCancelRequestCode).i32(pid).i32(secret);
}

// Query and PasswordMessage hold one string that must end the message, so a NUL inside is
// refused by the server (fail closed); cutting it instead could change what a query does.
void encode_password_message(Buffer& out, std::string_view password) {
  std::size_t at = begin_message(out, 'p');
  ByteWriter(out).cstring(password);
  end_message(out, at);
}

void encode_sasl_initial_response(Buffer& out, std::string_view mechanism, std::string_view data) {
  // https://www.postgresql.org/docs/15/protocol-message-formats.html (SASLInitialResponse)
  std::size_t at = begin_message(out, 'p');
  ByteWriter(out)
      .cstring(before_nul(mechanism))
      .i32(static_cast<std::int32_t>(data.size()))
      .raw(data);
  end_message(out, at);
}

void encode_sasl_response(Buffer& out, std::string_view data) {
  std::size_t at = begin_message(out, 'p');
  ByteWriter(out).raw(data);
  end_message(out, at);
}

void encode_terminate(Buffer& out) {
  std::size_t at = begin_message(out, 'X');
  end_message(out, at);
}

void encode_query(Buffer& out, std::string_view sql) {
  std::size_t at = begin_message(out, 'Q');
  ByteWriter(out).cstring(sql);
  end_message(out, at);
}

void encode_parse(Buffer& out, std::string_view statement, std::string_view sql) {
  std::size_t at = begin_message(out, 'P');
  ByteWriter w(out);
  w.cstring(statement);
  w.cstring(sql);
  w.u16(0);  // no parameter types given
  end_message(out, at);
}

}  // namespace gh::wire::pg
