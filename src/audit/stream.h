// The audit record stream: statement records, already chained, kept many to
// a stored chunk instead of one row each. A chunk holds the records of one
// write (at most kChunkRecords), each as its seq, its chain hash and its
// canonical bytes, compressed together; beside them, compressed apart, the
// records' statement texts (a text search reads only those); and a summary a
// store indexes instead of every statement: seq and time range, count, and
// search keys (session, table, kind, decision, rule, outcome).
//
// Body layout before compression, per record: seq (8 bytes, little endian),
// hash (32 bytes), canonical length (4 bytes, little endian), canonical.
// Texts layout: per record, text length (4 bytes, little endian), text. Both
// are zstd frames. The canonical form and the chain are chain.h's: a record
// hashes the same in a chunk as in a row.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.h"
#include "model/audit_event.h"

namespace gh::audit {

// Records per chunk at most, and bytes before compression (a statement's text
// is kept up to 1 MiB): a write of more makes several chunks.
inline constexpr std::size_t kChunkRecords = 1024;
inline constexpr std::size_t kChunkBytes = 8u << 20;
// What a chunk's body or texts may decompress to at most: a record alone may
// pass kChunkBytes (one chunk then holds just it), never this.
inline constexpr std::size_t kMaxChunkDecoded = 64u << 20;
// The format a chunk's body and texts are in (stored with it).
inline constexpr int kChunkFormat = 1;

struct Chunk {
  std::int64_t first_seq = 0;
  std::int64_t last_seq = 0;
  std::int64_t records = 0;
  std::int64_t min_at_us = 0;
  std::int64_t max_at_us = 0;
  std::string last_hash;  // the chain hash of its last record (hex)
  std::string body;       // compressed records
  std::string texts;      // compressed statement texts, in record order
  std::set<std::string> keys;
};

// A search key of the chunk summary: "<what>:<value>", what one of session,
// table, kind, decision, rule, outcome.
std::string chunk_key(std::string_view what, std::string_view value);

// The keys a statement puts in its chunk's summary.
void statement_keys(const model::StatementEvent& e, std::set<std::string>& keys);

class ChunkBuilder {
 public:
  // `hash_hex`: the record's chain hash (64 hex digits); `text`: its statement text.
  void add(std::int64_t seq, std::int64_t at_us, std::string_view hash_hex,
           std::string_view canonical, std::string_view text);
  std::set<std::string>& keys() { return chunk_.keys; }
  std::size_t size() const { return static_cast<std::size_t>(chunk_.records); }
  // Bytes held before compression.
  std::size_t bytes() const { return body_.size() + texts_.size(); }
  // Full: the next record goes to a new chunk.
  bool full() const { return size() >= kChunkRecords || bytes() >= kChunkBytes; }
  bool empty() const { return chunk_.records == 0; }
  // The chunk, compressed; the builder is empty again.
  Chunk finish();

 private:
  Chunk chunk_;
  std::string body_, texts_;
};

struct ChunkRecord {
  std::int64_t seq = 0;
  std::string hash;  // hex
  std::string canonical;
};

// The records of a chunk's body, in order; an error when it is not a body of
// kChunkFormat (damaged, or not one at all).
Expected<std::vector<ChunkRecord>> decode_chunk(std::string_view body);

// The same without a copy of each record: views into `raw`, which holds the
// decompressed body (search reads thousands of records and keeps few).
struct RecordView {
  std::int64_t seq = 0;
  std::string_view canonical;
};
Expected<std::vector<RecordView>> view_chunk(std::string_view body, std::string& raw);
// The texts of a chunk, in record order.
Expected<std::vector<std::string>> decode_texts(std::string_view texts);

}  // namespace gh::audit
