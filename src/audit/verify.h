// What `gatehouse audit verify` found: one finding per record or row that is
// not what the chain and its signed checkpoints say, with where it is.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gh::audit {

enum class Problem : std::uint8_t {
  kModified,            // a record or row differs from what was chained
  kDeleted,             // a record or row is missing
  kInserted,            // a row the chain does not cover, or a second row for one record
  kOutOfOrder,          // a record does not follow its predecessor (moved, inserted, deleted)
  kUnchained,           // a row names a chain record that does not exist
  kBadSignature,        // a checkpoint's signature does not verify
  kCheckpointMismatch,  // the chain differs from what a checkpoint signed
  kTruncated,           // a checkpoint signs records that are gone
  kUnanchored,          // the oldest records are gone and no retention purge accounts for it
};

std::string_view problem_name(Problem p);

struct Finding {
  Problem problem;
  std::string replica;   // the chain; "" when unknown
  std::int64_t seq = 0;  // position in the chain; 0 when unknown
  std::string table;     // the typed table or audit_chain / audit_checkpoints
  std::string row;       // the row's key ("session_id=… seq=3", "rowid=7")
  std::string detail;
};

struct ReplicaSummary {
  std::string replica;
  std::int64_t first_seq = 0;  // 0: no records (all purged)
  std::int64_t last_seq = 0;
  std::int64_t records = 0;
  std::int64_t checkpoints = 0;
  std::int64_t signed_through = 0;  // the newest checkpoint that matches the chain
  std::int64_t anchored_at = 0;     // the checkpoint retention left as the start (0: genesis)
};

struct VerifyReport {
  std::vector<Finding> findings;
  std::vector<ReplicaSummary> replicas;
  std::int64_t rows_checked = 0;  // typed rows compared with their chained records
  std::int64_t legacy_rows = 0;   // rows written before the chain existed (not covered)
  bool ok() const { return findings.empty(); }
};

// One line: "MODIFIED replica=gw-1 seq=17 statements[session_id=s1 seq=3]: …".
std::string to_line(const Finding& f);
// Records after a replica's newest checkpoint are not signed yet.
std::int64_t unsigned_records(const ReplicaSummary& r);

}  // namespace gh::audit
