// The record stream's chunk format: records and texts come back as they went
// in, a chunk's summary describes them, and what is not a chunk is refused
// with a reason rather than read as one.
#include "audit/stream.h"

#include <gtest/gtest.h>

#include <string>

#include "audit/chain.h"

namespace gh::audit {
namespace {

model::StatementEvent statement(int seq) {
  model::StatementEvent e;
  e.session_id = "s-1";
  e.seq = seq;
  e.at_us = 1'000 + (seq % 2 ? seq : -seq);  // completion order is not start order
  e.text = "SELECT " + std::to_string(seq) + (seq == 2 ? " -- \"quoted\" \xc3\xa9\n" : "");
  e.outcome = seq == 3 ? "error" : "ok";
  e.decision.kind = "select";
  e.decision.cls = "read";
  e.decision.decision = "allow";
  e.decision.rule = "r";
  e.decision.tables = {"public.t", seq == 2 ? "public.u" : "public.t"};
  return e;
}

TEST(Stream, RecordsAndTextsComeBackAsTheyWentIn) {
  ChunkBuilder b;
  std::string prev(kGenesisHash);
  std::vector<ChunkRecord> in;
  for (int i = 1; i <= 3; ++i) {
    const auto e = statement(i);
    const std::string canonical = to_record(e).canonical();
    prev = chain_hash(prev, canonical);
    b.add(10 + i, e.at_us, prev, canonical, e.text);
    statement_keys(e, b.keys());
    in.push_back({10 + i, prev, canonical});
  }
  EXPECT_EQ(b.size(), 3u);
  const Chunk c = b.finish();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(c.first_seq, 11);
  EXPECT_EQ(c.last_seq, 13);
  EXPECT_EQ(c.records, 3);
  EXPECT_EQ(c.min_at_us, 998);
  EXPECT_EQ(c.max_at_us, 1'003);
  EXPECT_EQ(c.last_hash, prev);
  EXPECT_EQ(c.keys,
            (std::set<std::string>{"decision:allow", "kind:select", "outcome:error", "outcome:ok",
                                   "rule:r", "session:s-1", "table:public.t", "table:public.u"}));
  auto out = decode_chunk(c.body);
  ASSERT_TRUE(out.has_value()) << out.error();
  ASSERT_EQ(out->size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*out)[i].seq, in[i].seq);
    EXPECT_EQ((*out)[i].hash, in[i].hash);
    EXPECT_EQ((*out)[i].canonical, in[i].canonical);
  }
  auto texts = decode_texts(c.texts);
  ASSERT_TRUE(texts.has_value()) << texts.error();
  EXPECT_EQ(*texts,
            (std::vector<std::string>{statement(1).text, statement(2).text, statement(3).text}));
  // Statement records repeat themselves: the chunk is far smaller than they are.
  std::size_t raw = 0;
  for (const auto& r : in) raw += r.canonical.size() + 44;
  EXPECT_LT(c.body.size(), raw);
}

TEST(Stream, WhatIsNotAChunkIsRefusedWithAReason) {
  EXPECT_FALSE(decode_chunk(""));
  EXPECT_FALSE(decode_chunk("not a chunk"));
  EXPECT_FALSE(decode_texts("\x28\xb5\x2f\xfd"));  // a frame's magic and nothing else
  ChunkBuilder b;
  b.add(1, 1, std::string(64, 'a'), "{}", "x");
  const Chunk c = b.finish();
  // Cut short, or with a byte changed inside the compressed frame.
  auto cut = decode_chunk(c.body.substr(0, c.body.size() - 3));
  ASSERT_FALSE(cut);
  EXPECT_NE(cut.error().find("chunk"), std::string::npos) << cut.error();
  std::string flipped = c.body;
  flipped[flipped.size() / 2] ^= 0x5a;
  auto bad = decode_chunk(flipped);
  if (bad) {
    // zstd may still decode it (no checksum): the records then differ, which
    // the chain's hashes show.
    ASSERT_EQ(bad->size(), 1u);
    EXPECT_TRUE((*bad)[0].canonical != "{}" || (*bad)[0].hash != std::string(64, 'a') ||
                (*bad)[0].seq != 1);
  }
}

TEST(Stream, AnEmptyBuilderMakesNoRecords) {
  ChunkBuilder b;
  EXPECT_TRUE(b.empty());
  const Chunk c = b.finish();
  auto out = decode_chunk(c.body);
  ASSERT_TRUE(out.has_value()) << out.error();
  EXPECT_TRUE(out->empty());
}

TEST(Stream, KeysNameWhatSearchFiltersBy) {
  std::set<std::string> keys;
  model::StatementEvent skipped;  // an Execute nothing decided
  skipped.session_id = "s-9";
  skipped.outcome = "skipped";
  statement_keys(skipped, keys);
  EXPECT_EQ(keys, (std::set<std::string>{"outcome:skipped", "session:s-9"}));
  EXPECT_EQ(chunk_key("table", "public.orders"), "table:public.orders");
}

}  // namespace
}  // namespace gh::audit
