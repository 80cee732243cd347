#include "sql/scan_key.h"
#include "base/utf8.h"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <cstring>

namespace gh::sql {

namespace {

// pg_query_scan answers a packed pg_query.ScanResult message. It is read
// here straight off the wire rather than through protobuf-c's unpacker, which
// allocates every token separately (a third of the cost of a scan). The
// message: ScanResult { int32 version; repeated ScanToken tokens; }
// ScanToken { int32 start; int32 end; Token token; KeywordKind keyword_kind; },
// each field a varint but tokens; a field left at zero is not written. The
// field numbers come from libpg_query's own descriptors; other fields are
// skipped; anything malformed fails the scan. The unit tests hold the result
// to protobuf-c's unpacker.
struct Tags {
  std::uint64_t tokens = 0;  // ScanResult.tokens (length-delimited)
  std::uint64_t start = 0;   // ScanToken.start, .end, .token (varints)
  std::uint64_t end = 0;
  std::uint64_t token = 0;
  bool ok = false;
};

// The wire tag of field `name`, if it has the type and repetition this
// reader expects; 0 otherwise.
std::uint64_t tag_of(const ProtobufCMessageDescriptor& d, const char* name, ProtobufCType type,
                     bool repeated) {
  for (unsigned i = 0; i < d.n_fields; ++i)
    if (std::strcmp(d.fields[i].name, name) == 0 && d.fields[i].type == type &&
        (d.fields[i].label == PROTOBUF_C_LABEL_REPEATED) == repeated)
      return (static_cast<std::uint64_t>(d.fields[i].id) << 3) |
             (type == PROTOBUF_C_TYPE_MESSAGE ? 2u : 0u);
  return 0;
}

const Tags& tags() {
  static const Tags t = [] {
    const auto& result = pg_query__scan_result__descriptor;
    const auto& token = pg_query__scan_token__descriptor;
    Tags n;
    n.tokens = tag_of(result, "tokens", PROTOBUF_C_TYPE_MESSAGE, true);
    n.start = tag_of(token, "start", PROTOBUF_C_TYPE_INT32, false);
    n.end = tag_of(token, "end", PROTOBUF_C_TYPE_INT32, false);
    n.token = tag_of(token, "token", PROTOBUF_C_TYPE_ENUM, false);
    n.ok = n.tokens != 0 && n.start != 0 && n.end != 0 && n.token != 0;
    return n;
  }();
  return t;
}

[[gnu::noinline]] bool read_long_varint(const std::uint8_t*& p, const std::uint8_t* end,
                                        std::uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p == end) return false;
    const std::uint8_t b = *p++;
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

inline bool read_varint(const std::uint8_t*& p, const std::uint8_t* end, std::uint64_t& v) {
  // One byte: tags, offsets below 128; two: token numbers, offsets below 16384.
  if (p != end && *p < 0x80) {
    v = *p++;
    return true;
  }
  if (end - p >= 2 && p[1] < 0x80) {
    v = static_cast<std::uint64_t>(p[0] & 0x7f) | (static_cast<std::uint64_t>(p[1]) << 7);
    p += 2;
    return true;
  }
  return read_long_varint(p, end, v);
}

bool skip_field(const std::uint8_t*& p, const std::uint8_t* end, unsigned wire) {
  std::uint64_t v = 0;
  switch (wire) {
    case 0:
      return read_varint(p, end, v);
    case 1:
      if (end - p < 8) return false;
      p += 8;
      return true;
    case 2:
      if (!read_varint(p, end, v) || v > static_cast<std::uint64_t>(end - p)) return false;
      p += v;
      return true;
    case 5:
      if (end - p < 4) return false;
      p += 4;
      return true;
    default:
      return false;
  }
}

inline bool read_token(const Tags& n, const std::uint8_t* p, const std::uint8_t* end,
                       ScanToken& t) {
  t = ScanToken{};
  while (p < end) {
    std::uint64_t tag = 0;
    if (!read_varint(p, end, tag)) return false;
    if ((tag & 7) == 0) {
      std::uint64_t v = 0;
      if (!read_varint(p, end, v)) return false;
      const auto x = static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
      if (tag == n.start) t.start = x;
      if (tag == n.end) t.end = x;
      if (tag == n.token) t.token = x;
    } else if (!skip_field(p, end, static_cast<unsigned>(tag & 7))) {
      return false;
    }
  }
  return true;
}

// Scans `sql` and calls `f(const ScanToken&)` for each token in order; false
// when the scanner or the message says no (or `f` does).
template <class F>
bool for_each_token(std::string_view sql, F&& f) {
  const Tags& n = tags();
  if (!n.ok || std::memchr(sql.data(), '\0', sql.size()) != nullptr) return false;
  const std::string text(sql);
  PgQueryScanResult r = pg_query_scan(text.c_str());
  bool ok = r.error == nullptr && (r.pbuf.len == 0 || r.pbuf.data != nullptr);
  if (ok) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(r.pbuf.data);
    const std::uint8_t* end = p + r.pbuf.len;
    while (ok && p < end) {
      std::uint64_t tag = 0;
      if (!read_varint(p, end, tag)) {
        ok = false;
        break;
      }
      if (tag == n.tokens) {
        std::uint64_t len = 0;
        ScanToken t;
        ok = read_varint(p, end, len) && len <= static_cast<std::uint64_t>(end - p) &&
             read_token(n, p, p + len, t) && f(t);
        p += ok ? len : 0;
      } else {
        ok = skip_field(p, end, static_cast<unsigned>(tag & 7));
      }
    }
  }
  pg_query_free_scan_result(r);
  return ok;
}

// What the server's scanner takes for whitespace between tokens (scan.l's
// `space`).
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

bool all_space(std::string_view s) {
  for (char c : s)
    if (!is_space(c)) return false;
  return true;
}

// The placeholder letter of a constant token; 0 for any other token.
char constant_letter(std::int32_t token) {
  switch (token) {
    case PG_QUERY__TOKEN__ICONST:
      return 'i';
    case PG_QUERY__TOKEN__FCONST:
      return 'f';
    case PG_QUERY__TOKEN__SCONST:
      return 's';
    case PG_QUERY__TOKEN__USCONST:
      return 'u';
    case PG_QUERY__TOKEN__BCONST:
      return 'b';
    case PG_QUERY__TOKEN__XCONST:
      return 'x';
    default:
      return 0;
  }
}

bool is_comment(std::int32_t token) {
  return token == PG_QUERY__TOKEN__SQL_COMMENT || token == PG_QUERY__TOKEN__C_COMMENT;
}

// Builds the key one token at a time; a token is written once the next one's
// start (or the end of the text) bounds it.
class KeyBuilder {
 public:
  KeyBuilder(std::string_view sql, std::string& out) : sql_(sql), out_(out) {}

  bool add(const ScanToken& t) {
    if (t.start < 0) return false;
    if (!pending_) {
      // Nothing but whitespace may stand before the first token.
      if (static_cast<std::size_t>(t.start) > sql_.size() ||
          !all_space(sql_.substr(0, static_cast<std::size_t>(t.start))))
        return false;
      pending_ = true;
      tok_ = t;
      return true;
    }
    if (!emit(static_cast<std::size_t>(t.start))) return false;
    tok_ = t;
    return true;
  }

  bool finish() { return !pending_ || emit(sql_.size()); }
  bool has_constants() const { return has_constants_; }

 private:
  // Writes tok_, whose text runs from its start to `next` (exclusive).
  bool emit(std::size_t next) {
    const auto start = static_cast<std::size_t>(tok_.start);
    if (next < start || next > sql_.size()) return false;
    const std::string_view span = sql_.substr(start, next - start);
    const char letter = constant_letter(tok_.token);
    const bool escape_char = letter != 0 && after_uescape_;
    if (is_comment(tok_.token) || (letter != 0 && !escape_char)) {
      // Left out of the key: it must be only the token and whitespace, or
      // the key would lose text the scanner did not account for. (A U&'…'
      // string's reported end is short; past its start the scanner can only
      // have read the string itself and whitespace.)
      if (tok_.token != PG_QUERY__TOKEN__USCONST) {
        const auto end = static_cast<std::size_t>(tok_.end);
        if (tok_.end < tok_.start || end > next || !all_space(sql_.substr(end, next - end)))
          return false;
      }
      if (letter != 0) {
        const char placeholder[3] = {'\x01', letter, '\0'};
        out_.append(placeholder, 3);
        has_constants_ = true;
        after_uescape_ = false;
      }
      return true;
    }
    std::size_t n = span.size();
    while (n > 0 && is_space(span[n - 1])) --n;
    // A kept token's text is never empty. One that starts with \x01 (a stray
    // control character is a token of its own) is refused, so no kept text
    // can pass for a placeholder; NUL does not occur in the text, so none
    // holds a separator.
    if (n == 0 || span[0] == '\x01') return false;
    out_.append(span.data(), n);
    out_ += '\0';
    after_uescape_ = tok_.token == PG_QUERY__TOKEN__UESCAPE;
    return true;
  }

  std::string_view sql_;
  std::string& out_;
  ScanToken tok_;
  bool pending_ = false;
  bool after_uescape_ = false;
  bool has_constants_ = false;
};

}  // namespace

bool scan_tokens(std::string_view sql, std::vector<ScanToken>& out) {
  out.clear();
  return for_each_token(sql, [&](const ScanToken& t) {
    out.push_back(t);
    return true;
  });
}

bool append_scan_key(std::string_view sql, std::string& out, bool& has_constants) {
  // Bytes that are not UTF-8 inside a constant make the statement unanalysable (its parse
  // tree is not valid JSON) while a text with the same tokens and another constant is fine:
  // such a text must be analysed for itself.
  if (!valid_utf8(sql)) return false;
  const std::size_t mark = out.size();
  out.reserve(mark + sql.size() + 16);
  KeyBuilder b(sql, out);
  if (!for_each_token(sql, [&](const ScanToken& t) { return b.add(t); }) || !b.finish()) {
    out.resize(mark);
    return false;
  }
  has_constants = b.has_constants();
  return true;
}

}  // namespace gh::sql
