#include "audit/chain.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cctype>
#include <cstring>
#include <map>
#include <memory>
#include <utility>
#include <variant>

#include "audit/verify.h"
#include "base/bytes.h"
#include "base/utf8.h"

namespace gh::audit {
namespace {

using K = FieldKind;

std::vector<RecordSpec> make_specs() {
  std::vector<RecordSpec> specs{
      {RecordType::kSessionStart,
       "session_start",
       "started_at_us",
       {{"id", K::kText},
        {"started_at_us", K::kInt},
        {"replica", K::kText},
        {"subject", K::kText},
        {"groups_json", K::kJson},
        {"issuer", K::kText},
        {"token_hash", K::kText},
        {"client_addr", K::kText},
        {"tls", K::kInt},
        {"listener", K::kText},
        {"connection", K::kText},
        {"protocol", K::kText},
        {"user_label", K::kText},
        {"application_name", K::kText}},
       {"id"},
       {}},
      {RecordType::kSessionEnd,
       "session_end",
       "ended_at_us",
       {{"id", K::kText},
        {"ended_at_us", K::kInt},
        {"end_reason", K::kText},
        {"bytes_from_client", K::kInt},
        {"bytes_to_client", K::kInt},
        {"statements", K::kInt}},
       {"id"},
       {}},
      {RecordType::kStatement,
       "statement",
       "at_us",
       {{"session_id", K::kText},
        {"seq", K::kInt},
        {"at_us", K::kInt},
        {"duration_us", K::kInt},
        {"text", K::kText},
        {"protocol_path", K::kText},
        {"rows", K::kInt},
        {"outcome", K::kText},
        {"command_tag", K::kText},
        {"error_code", K::kText},
        {"error_message", K::kText},
        {"kind", K::kText},
        {"class", K::kText},
        {"tables_json", K::kJson},
        {"functions_json", K::kJson},
        {"decision", K::kText},
        {"rule", K::kText},
        {"policy_version", K::kInt},
        {"masked_json", K::kJson},
        {"withheld", K::kInt},
        {"approval_id", K::kText},
        {"result_json", K::kText},
        {"params_json", K::kJson, true}},
       {"session_id", "seq"},
       {}},
      {RecordType::kConnectionRefused,
       "connection_refused",
       "at_us",
       {{"at_us", K::kInt},
        {"replica", K::kText},
        {"client_addr", K::kText},
        {"listener", K::kText},
        {"connection", K::kText},
        {"subject", K::kText},
        {"token_hash", K::kText},
        {"sqlstate", K::kText},
        {"reason", K::kText}},
       {"at_us", "client_addr"},
       {}},
      {RecordType::kPolicy,
       "policy",
       "at_us",
       {{"at_us", K::kInt},
        {"replica", K::kText},
        {"version", K::kInt},
        {"action", K::kText},
        {"outcome", K::kText},
        {"detail", K::kText},
        {"source", K::kText}},
       {"at_us", "action"},
       {}},
      {RecordType::kApproval,
       "approval",
       "at_us",
       {{"at_us", K::kInt},
        {"replica", K::kText},
        {"request_id", K::kText},
        {"event", K::kText},
        {"status", K::kText},
        {"rule", K::kText},
        {"kind", K::kText},
        {"requester", K::kText},
        {"actor", K::kText},
        {"detail", K::kText},
        {"connection", K::kText},
        {"session_id", K::kText},
        {"statement", K::kText},
        {"text_hash", K::kText},
        {"params_hash", K::kText},
        {"policy_version", K::kInt}},
       {"request_id", "event"},
       {}},
      {RecordType::kToken,
       "token",
       "at_us",
       {{"at_us", K::kInt},
        {"replica", K::kText},
        {"action", K::kText},
        {"actor", K::kText},
        {"subject", K::kText},
        {"groups_json", K::kJson},
        {"connections_json", K::kJson},
        {"expires_at", K::kInt},
        {"token_hash", K::kText},
        {"kid", K::kText}},
       {"at_us", "action"},
       {}},
      {RecordType::kStatementIntent,
       "statement_intent",
       "at_us",
       {{"session_id", K::kText},
        {"seq", K::kInt},
        {"at_us", K::kInt},
        {"text", K::kText},
        {"protocol_path", K::kText},
        {"kind", K::kText},
        {"class", K::kText},
        {"tables_json", K::kJson},
        {"decision", K::kText},
        {"rule", K::kText},
        {"policy_version", K::kInt}},
       {"session_id", "seq"},
       {}},
      // anchors: {replica: {"seq": n, "hash": "…"}} — where each chain now
      // starts; deleted: {table: rows}; carried: sessions re-chained because
      // they outlived retention.
      {RecordType::kRetention,
       "retention_purge",
       "at_us",
       {{"at_us", K::kInt},
        {"cutoff_us", K::kInt},
        {"anchors", K::kJson},
        {"deleted", K::kJson},
        {"carried", K::kInt}},
       {"at_us"},
       {}},
  };
  for (auto& s : specs) {
    for (int i = -1; i < static_cast<int>(s.fields.size()); ++i) s.sorted.push_back(i);
    std::sort(s.sorted.begin(), s.sorted.end(), [&](int a, int b) {
      auto name = [&](int i) { return i < 0 ? std::string_view("type") : s.fields[i].name; };
      return name(a) < name(b);
    });
  }
  return specs;
}

const std::vector<RecordSpec>& specs() {
  static const std::vector<RecordSpec> s = make_specs();
  return s;
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                            (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                            static_cast<unsigned char>(bytes[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += kAlphabet[(v >> k) & 63];
  }
  if (i < bytes.size()) {
    std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// True when `s` is printable ASCII without '"' or '\\': its canonical form is
// itself between quotes. Eight bytes at a time: most recorded text is such.
bool plain_ascii(std::string_view s) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ull;
  constexpr std::uint64_t kHigh = 0x8080808080808080ull;
  const auto has_zero = [&](std::uint64_t v) { return (v - kOnes) & ~v & kHigh; };
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    // A byte ≥ 0x80, < 0x20 (w - 0x20 borrows into the high bit), '"' or '\\'.
    if ((w & kHigh) || ((w - 0x20 * kOnes) & ~w & kHigh) || has_zero(w ^ (0x22 * kOnes)) ||
        has_zero(w ^ (0x5C * kOnes)))
      return false;
  }
  for (; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') return false;
  }
  return true;
}

void append_string(std::string& out, std::string_view s) {
  if (plain_ascii(s)) {
    out += '"';
    out.append(s);
    out += '"';
    return;
  }
  if (!valid_utf8(s)) {
    out += R"({"base64":")";
    out += base64(s);
    out += "\"}";
    return;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  std::size_t plain = 0;  // start of the run of bytes that need no escape
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
  out.append(s.data() + plain, s.size() - plain);
  out += '"';
}

void append_key(std::string& out, std::string_view key) {
  // A member name must be a JSON string: a name that is not UTF-8 is spelled
  // "base64:<bytes>".
  if (valid_utf8(key))
    append_string(out, key);
  else
    append_string(out, "base64:" + base64(key));
}

}  // namespace

const RecordSpec& spec(RecordType type) {
  return specs()[static_cast<std::size_t>(type)];
}

const RecordSpec* find_spec(std::string_view name) {
  for (const auto& s : specs())
    if (s.name == name) return &s;
  return nullptr;
}

std::span<const RecordSpec> all_specs() {
  return specs();
}

Record::Record(RecordType type) : spec_(&audit::spec(type)) {
  values_.reserve(spec_->fields.size());
  values_.reserve(spec_->fields.size());
}

Record& Record::push(std::string_view field, Value v) {
  assert(values_.size() < spec_->fields.size() && spec_->fields[values_.size()].name == field);
  (void)field;
  values_.push_back(v);
  return *this;
}

Record& Record::integer(std::string_view field, std::int64_t v) {
  return push(field, {FieldKind::kInt, false, v, {}});
}

Record& Record::text(std::string_view field, std::string_view v) {
  return push(field, {FieldKind::kText, false, 0, v});
}

Record& Record::json(std::string_view field, std::string v) {
  return push(field, {FieldKind::kJson, false, 0, own(std::move(v))});
}

Record& Record::null(std::string_view field) {
  return push(field, {spec_->fields[values_.size()].kind, true, 0, {}});
}

Record& Record::value(std::string_view field, Value v) {
  return push(field, v);
}

std::string_view Record::own(std::string s) {
  owned_.push_back(std::move(s));
  return owned_.back();
}

std::int64_t Record::at_us() const {
  for (std::size_t i = 0; i < values_.size(); ++i)
    if (spec_->fields[i].name == spec_->at_field)
      return values_[i].kind == FieldKind::kInt ? values_[i].integer : 0;
  return 0;
}

std::string Record::canonical() const {
  std::size_t size = 16 + spec_->name.size();
  for (std::size_t i = 0; i < values_.size(); ++i)
    size += spec_->fields[i].name.size() + values_[i].text.size() + 24;
  std::string out;
  out.reserve(size);
  out += '{';
  bool first = true;
  for (int i : spec_->sorted) {
    if (i >= static_cast<int>(values_.size())) continue;
    if (i >= 0 && values_[i].null && spec_->fields[i].omit_null) continue;
    if (!first) out += ',';
    first = false;
    if (i < 0) {
      out += R"("type":)";
      append_string(out, spec_->name);
      continue;
    }
    append_string(out, spec_->fields[i].name);
    out += ':';
    const Value& v = values_[i];
    if (v.null)
      out += "null";
    else if (v.kind == FieldKind::kInt)
      out += std::to_string(v.integer);
    else if (v.kind == FieldKind::kJson)
      out += v.text;
    else
      append_string(out, v.text);
  }
  out += '}';
  return out;
}

std::string Record::key() const {
  std::string out;
  for (auto k : spec_->key) {
    for (std::size_t i = 0; i < values_.size(); ++i) {
      if (spec_->fields[i].name != k) continue;
      if (!out.empty()) out += ' ';
      out += k;
      out += '=';
      const Value& v = values_[i];
      if (v.null)
        out += "NULL";
      else if (v.kind == FieldKind::kInt)
        out += std::to_string(v.integer);
      else
        out += v.text;
    }
  }
  return out;
}

std::string canonical_string(std::string_view s) {
  std::string out;
  append_string(out, s);
  return out;
}

std::string canonical_counts(const std::map<std::string, std::int64_t>& counts) {
  std::string out = "{";
  for (const auto& [key, n] : counts) {
    if (out.size() > 1) out += ',';
    append_key(out, key);
    out += ':';
    out += std::to_string(n);
  }
  out += '}';
  return out;
}

std::string canonical_optional_list(const std::vector<std::optional<std::string>>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    if (v[i])
      append_string(out, *v[i]);
    else
      out += "null";
  }
  out += ']';
  return out;
}

std::string canonical_list(const std::vector<std::string>& v) {
  std::string out = "[";
  for (const auto& s : v) {
    if (out.size() > 1) out += ',';
    append_string(out, s);
  }
  out += ']';
  return out;
}

Record to_record(const model::SessionStart& e) {
  Record r(RecordType::kSessionStart);
  r.text("id", e.session_id)
      .integer("started_at_us", e.at_us)
      .text("replica", e.replica)
      .text("subject", e.subject)
      .json("groups_json", canonical_list(e.groups))
      .text("issuer", e.issuer)
      .text("token_hash", e.token_hash)
      .text("client_addr", e.client_addr)
      .integer("tls", e.tls ? 1 : 0)
      .text("listener", e.listener)
      .text("connection", e.connection)
      .text("protocol", e.protocol)
      .text("user_label", e.user_label)
      .text("application_name", e.application_name);
  return r;
}

Record to_record(const model::SessionEnd& e) {
  Record r(RecordType::kSessionEnd);
  r.text("id", e.session_id)
      .integer("ended_at_us", e.at_us)
      .text("end_reason", e.reason)
      .integer("bytes_from_client", e.bytes_from_client)
      .integer("bytes_to_client", e.bytes_to_client)
      .integer("statements", e.statements);
  return r;
}

// The decision's fields of a statement or intent record, in spec order (an
// intent has no functions_json). A statement nothing decided (a skipped
// Execute) has them all null.
static void decision_fields(Record& r, const model::StatementDecision& d, bool with_functions) {
  if (d.kind.empty()) {
    r.null("kind").null("class").null("tables_json");
    if (with_functions) r.null("functions_json");
    r.null("decision").null("rule").null("policy_version");
    return;
  }
  r.text("kind", d.kind).text("class", d.cls).json("tables_json", canonical_list(d.tables));
  if (with_functions) r.json("functions_json", canonical_list(d.functions));
  r.text("decision", d.decision)
      .text("rule", d.rule)
      .integer("policy_version", static_cast<std::int64_t>(d.policy_version));
}

Record to_record(const model::StatementEvent& e) {
  Record r(RecordType::kStatement);
  r.text("session_id", e.session_id)
      .integer("seq", e.seq)
      .integer("at_us", e.at_us)
      .integer("duration_us", e.duration_us)
      .text("text", e.text)
      .text("protocol_path", e.protocol_path)
      .integer("rows", e.rows)
      .text("outcome", e.outcome)
      .text("command_tag", e.command_tag)
      .text("error_code", e.error_code)
      .text("error_message", e.error_message);
  decision_fields(r, e.decision, true);
  const auto& d = e.decision;
  if (!e.masked.empty()) {
    // Kept as a map (a rule named twice keeps its last count), as the typed row has it.
    std::map<std::string, std::int64_t> counts;
    for (const auto& c : e.masked) counts[c.rule] = c.values;
    r.json("masked_json", canonical_counts(counts));
  } else {
    r.null("masked_json");
  }
  r.integer("withheld", e.withheld);
  if (!d.approval_id.empty())
    r.text("approval_id", d.approval_id);
  else
    r.null("approval_id");
  if (!e.result.empty())
    r.text("result_json", e.result);
  else
    r.null("result_json");
  if (!e.params.empty())
    r.json("params_json", canonical_optional_list(e.params));
  else
    r.null("params_json");
  return r;
}

Record to_record(const model::ConnectionRefused& e) {
  Record r(RecordType::kConnectionRefused);
  r.integer("at_us", e.at_us)
      .text("replica", e.replica)
      .text("client_addr", e.client_addr)
      .text("listener", e.listener)
      .text("connection", e.connection)
      .text("subject", e.subject)
      .text("token_hash", e.token_hash)
      .text("sqlstate", e.sqlstate)
      .text("reason", e.reason);
  return r;
}

Record to_record(const model::PolicyEvent& e) {
  Record r(RecordType::kPolicy);
  r.integer("at_us", e.at_us)
      .text("replica", e.replica)
      .integer("version", static_cast<std::int64_t>(e.version))
      .text("action", e.action)
      .text("outcome", e.outcome)
      .text("detail", e.detail)
      .text("source", e.source);
  return r;
}

Record to_record(const model::ApprovalEvent& e) {
  Record r(RecordType::kApproval);
  r.integer("at_us", e.at_us)
      .text("replica", e.replica)
      .text("request_id", e.request_id)
      .text("event", e.event)
      .text("status", e.status)
      .text("rule", e.rule)
      .text("kind", e.kind)
      .text("requester", e.requester)
      .text("actor", e.actor)
      .text("detail", e.detail)
      .text("connection", e.connection)
      .text("session_id", e.session_id)
      .text("statement", e.statement)
      .text("text_hash", e.text_hash)
      .text("params_hash", e.params_hash)
      .integer("policy_version", static_cast<std::int64_t>(e.policy_version));
  return r;
}

Record to_record(const model::TokenEvent& e) {
  Record r(RecordType::kToken);
  r.integer("at_us", e.at_us)
      .text("replica", e.replica)
      .text("action", e.action)
      .text("actor", e.actor)
      .text("subject", e.subject)
      .json("groups_json", canonical_list(e.groups))
      .json("connections_json", canonical_list(e.connections))
      .integer("expires_at", e.expires_at)
      .text("token_hash", e.token_hash)
      .text("kid", e.kid);
  return r;
}

Record to_record(const model::StatementIntent& e) {
  Record r(RecordType::kStatementIntent);
  r.text("session_id", e.session_id)
      .integer("seq", e.seq)
      .integer("at_us", e.at_us)
      .text("text", e.text)
      .text("protocol_path", e.protocol_path);
  decision_fields(r, e.decision, false);
  return r;
}

Record to_record(const model::AuditEvent& e) {
  return std::visit([](const auto& x) { return to_record(x); }, e);
}

bool hash_bytes(std::string_view hash_hex, unsigned char* out) {
  // A table instead of branches: every record's link is decoded once.
  static constexpr auto kValue = [] {
    std::array<std::int8_t, 256> t{};
    t.fill(-1);
    for (int c = '0'; c <= '9'; ++c)
      t[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(c - '0');
    for (int c = 'a'; c <= 'f'; ++c)
      t[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(c - 'a' + 10);
    return t;
  }();
  if (hash_hex.size() != 64) return false;
  for (std::size_t i = 0; i < 32; ++i) {
    const int hi = kValue[static_cast<unsigned char>(hash_hex[2 * i])];
    const int lo = kValue[static_cast<unsigned char>(hash_hex[2 * i + 1])];
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return true;
}

std::string chain_hash(std::string_view prev_hash_hex, std::string_view canonical) {
  if (prev_hash_hex.size() != 64) return {};
  std::array<unsigned char, 32> prev{};
  if (!hash_bytes(prev_hash_hex, prev.data())) return {};
  // Fetched once and a context per thread: an implicit fetch and a fresh
  // context per record cost more than hashing the record itself.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                           EVP_MD_CTX_free);
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (!sha256 || !ctx || EVP_DigestInit_ex(ctx.get(), sha256, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), prev.data(), prev.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), canonical.data(), canonical.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), md.data(), &len) != 1 || len != 32) {
    std::abort();  // SHA-256 itself failing leaves nothing sensible to record
  }
  return hex(Bytes(md.data(), len));
}

std::string checkpoint_message(std::string_view replica, std::int64_t seq, std::string_view hash,
                               std::int64_t at_us) {
  std::string out = R"({"at_us":)" + std::to_string(at_us) + R"(,"hash":)";
  append_string(out, hash);
  out += R"(,"replica":)";
  append_string(out, replica);
  out += R"(,"seq":)" + std::to_string(seq) + R"(,"type":"gatehouse.audit.checkpoint.v1"})";
  return out;
}

std::string_view problem_name(Problem p) {
  switch (p) {
    case Problem::kModified:
      return "modified";
    case Problem::kDeleted:
      return "deleted";
    case Problem::kInserted:
      return "inserted";
    case Problem::kOutOfOrder:
      return "out_of_order";
    case Problem::kUnchained:
      return "unchained";
    case Problem::kBadSignature:
      return "bad_signature";
    case Problem::kCheckpointMismatch:
      return "checkpoint_mismatch";
    case Problem::kTruncated:
      return "truncated";
    case Problem::kUnanchored:
      return "unanchored";
  }
  return "unknown";
}

std::string to_line(const Finding& f) {
  std::string out(problem_name(f.problem));
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (!f.replica.empty()) out += " replica=" + f.replica;
  if (f.seq > 0) out += " seq=" + std::to_string(f.seq);
  if (!f.table.empty()) {
    out += ' ' + f.table;
    if (!f.row.empty()) out += '[' + f.row + ']';
  }
  out += ": " + f.detail;
  return out;
}

std::int64_t unsigned_records(const ReplicaSummary& r) {
  if (r.records == 0) return 0;
  const std::int64_t from = std::max({r.signed_through, r.anchored_at, r.first_seq - 1});
  return std::max<std::int64_t>(0, r.last_seq - from);
}

}  // namespace gh::audit
