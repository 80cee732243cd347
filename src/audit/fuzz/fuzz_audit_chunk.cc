// libFuzzer target for the audit record stream's chunk format: what verify and
// search read back from a store someone may have edited. Contract: any bytes
// decode to records or to an error (no crash, no read out of bounds, no
// unbounded allocation); the copying and the in-place decoders agree; and
// records built into a chunk come back exactly as they went in.
//
// Input layout: byte 0 picks the mode; the rest is either a stored body/texts
// pair to decode, or records to build (split at 0xff bytes).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "audit/chain.h"
#include "audit/stream.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void decode(std::string_view in) {
  auto records = gh::audit::decode_chunk(in);
  std::string raw;
  auto views = gh::audit::view_chunk(in, raw);
  check(records.has_value() == views.has_value());
  if (records) {
    check(records->size() == views->size());
    for (std::size_t i = 0; i < records->size(); ++i) {
      check((*records)[i].seq == (*views)[i].seq);
      check((*records)[i].canonical == (*views)[i].canonical);
      check((*records)[i].hash.size() == 64);
    }
  }
  (void)gh::audit::decode_texts(in);
}

void round_trip(std::string_view in) {
  std::vector<std::string> pieces;
  std::string cur;
  for (char c : in) {
    if (static_cast<unsigned char>(c) == 0xff) {
      pieces.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  pieces.push_back(cur);
  gh::audit::ChunkBuilder b;
  std::string prev(gh::audit::kGenesisHash);
  std::vector<std::string> hashes;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    prev = gh::audit::chain_hash(prev, pieces[i]);
    hashes.push_back(prev);
    b.add(static_cast<std::int64_t>(i + 1), static_cast<std::int64_t>(i), prev, pieces[i],
          pieces[pieces.size() - 1 - i]);
  }
  const auto chunk = b.finish();
  check(chunk.records == static_cast<std::int64_t>(pieces.size()));
  auto records = gh::audit::decode_chunk(chunk.body);
  check(records.has_value() && records->size() == pieces.size());
  auto texts = gh::audit::decode_texts(chunk.texts);
  check(texts.has_value() && texts->size() == pieces.size());
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    check((*records)[i].seq == static_cast<std::int64_t>(i + 1));
    check((*records)[i].hash == hashes[i]);
    check((*records)[i].canonical == pieces[i]);
    check((*texts)[i] == pieces[pieces.size() - 1 - i]);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1)
    round_trip(in);
  else
    decode(in);
  return 0;
}
