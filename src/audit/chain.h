// The tamper-evident form of the audit trail: every event as one canonical
// record, records linked into a per-replica SHA-256 chain, and checkpoints
// that sign a chain's head. Stores persist it; `gatehouse audit verify`
// recomputes it.
//
// Canonical encoding: one JSON object per record, members sorted by name
// (bytewise), no whitespace, fields added later (omit_null) left out when null, with a "type"
// member ("statement", …) and the record's fields under fixed names — the columns of the typed
// table the event is kept in (`sessions`, `statements`, …). Values are null, integers (decimal),
// strings, or — for lists and maps — nested JSON in this same form. Strings are UTF-8 with only
// `"`, `\` and control characters escaped
// (\b \f \n \r \t, else \u00xx); a string that is not valid UTF-8 is encoded
// as {"base64":"<its bytes, standard base64>"} so no byte is lost.
//
// Chain: record n of a replica stores prev_hash = hash of record n-1 (64 hex
// zeros for n = 1) and hash = hex(SHA-256(bytes(prev_hash) || canonical)).
// A checkpoint signs checkpoint_message(replica, seq, hash, at_us).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.h"
#include "model/audit_event.h"

namespace gh::audit {

enum class RecordType : std::uint8_t {
  kSessionStart,
  kSessionEnd,
  kStatement,
  kConnectionRefused,
  kPolicy,
  kApproval,
  kToken,
  kStatementIntent,
  kRetention,  // a retention purge, written by the store itself
};

enum class FieldKind : std::uint8_t { kInt, kText, kJson };  // any field may also be null

struct FieldSpec {
  std::string_view name;
  FieldKind kind;
  // A field added after records were first chained: left out of the
  // canonical form when null, so that older records keep their encoding.
  bool omit_null = false;
};

struct RecordSpec {
  RecordType type;
  std::string_view name;              // the "type" member and audit_chain.type
  std::string_view at_field;          // the field holding the record's time (unix µs)
  std::vector<FieldSpec> fields;      // in the order records set them
  std::vector<std::string_view> key;  // fields that name the row in reports
  std::vector<int> sorted;            // canonical member order; -1 is "type"
};

const RecordSpec& spec(RecordType type);
const RecordSpec* find_spec(std::string_view name);
std::span<const RecordSpec> all_specs();

struct Value {
  FieldKind kind = FieldKind::kText;
  bool null = true;
  std::int64_t integer = 0;
  std::string_view text;  // kText: the string; kJson: JSON text in canonical form
};

// One record's field values, in spec order. Text values are views: they must
// outlive the record unless handed over with own().
class Record {
 public:
  explicit Record(RecordType type);
  Record(Record&&) = default;
  Record& operator=(Record&&) = default;
  Record(const Record&) = delete;
  Record& operator=(const Record&) = delete;

  // Each sets the next field; `field` names it (checked against the spec).
  Record& integer(std::string_view field, std::int64_t v);
  Record& text(std::string_view field, std::string_view v);
  Record& json(std::string_view field, std::string v);
  Record& null(std::string_view field);
  // The value as read back from a store (verify), whatever its kind.
  Record& value(std::string_view field, Value v);
  // Keeps `s` alive as long as the record; returns a view of it.
  std::string_view own(std::string s);

  const RecordSpec& spec() const { return *spec_; }
  std::span<const Value> values() const { return values_; }
  bool complete() const { return values_.size() == spec_->fields.size(); }
  std::int64_t at_us() const;
  std::string canonical() const;
  // "session_id=… seq=3": the key fields, for reports.
  std::string key() const;

 private:
  Record& push(std::string_view field, Value v);
  const RecordSpec* spec_;
  std::vector<Value> values_;
  std::list<std::string>
      owned_;  // a list: growing it never moves a string (nor allocates when empty)
};

Record to_record(const model::SessionStart& e);
Record to_record(const model::SessionEnd& e);
Record to_record(const model::StatementEvent& e);
Record to_record(const model::ConnectionRefused& e);
Record to_record(const model::PolicyEvent& e);
Record to_record(const model::ApprovalEvent& e);
Record to_record(const model::TokenEvent& e);
Record to_record(const model::StatementIntent& e);
Record to_record(const model::AuditEvent& e);

// Canonical JSON of a string, a list of strings, a map of counts.
std::string canonical_string(std::string_view s);
std::string canonical_list(const std::vector<std::string>& v);
std::string canonical_counts(const std::map<std::string, std::int64_t>& counts);
// A list whose items may be null.
std::string canonical_optional_list(const std::vector<std::optional<std::string>>& v);

inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

// The 32 bytes a chain hash (64 lower-case hex digits) spells into
// out[0..31]; false when it is not one.
bool hash_bytes(std::string_view hash_hex, unsigned char* out);

// hex(SHA-256(bytes(prev_hash_hex) || canonical)); "" when prev_hash_hex is not 64 hex digits.
std::string chain_hash(std::string_view prev_hash_hex, std::string_view canonical);

// What a checkpoint signs: {"at_us":…,"hash":"…","replica":"…","seq":…,
// "type":"gatehouse.audit.checkpoint.v1"}.
std::string checkpoint_message(std::string_view replica, std::int64_t seq, std::string_view hash,
                               std::int64_t at_us);

struct CheckpointSignature {
  std::string kid;
  std::string signature;  // as the signer encodes it (a compact JWS for the gateway's key)
};
// Signs a checkpoint message; injected by the composition root (the audit
// module holds no keys).
using CheckpointSigner = std::function<Expected<CheckpointSignature>(std::string_view message)>;
// "" when `signature` is `kid`'s valid signature of `message`, else why not.
using SignatureCheck = std::function<std::string(std::string_view kid, std::string_view signature,
                                                 std::string_view message)>;

struct ChainOptions {
  CheckpointSigner sign;                 // empty: no checkpoints, the chain alone
  std::int64_t checkpoint_every = 1000;  // a checkpoint at most this many records apart
  std::chrono::seconds checkpoint_interval{
      60};                            // … and when the oldest unsigned record is this old
  std::chrono::seconds retention{0};  // 0: keep everything
  std::chrono::seconds retention_interval{3600};  // how often to purge
};

}  // namespace gh::audit
