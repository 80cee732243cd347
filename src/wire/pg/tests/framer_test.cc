// MessageFramer and decode_header: every fixture split at every point, several messages per
// buffer, streamed bodies, and broken lengths.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "wire/pg/protocol.h"
#include "wire/pg/tests/fixtures.h"

namespace gh::wire::pg {
namespace {

using namespace fixtures;
using Kind = MessageFramer::EventKind;
using Message = std::vector<std::uint8_t>;

bool all_whole(std::uint8_t) {
  return true;
}
bool all_streamed(std::uint8_t) {
  return false;
}
// What the gateway does: DataRow and CopyData relayed in chunks, everything else inspected.
bool rows_streamed(std::uint8_t type) {
  return type != 'D' && type != 'd';
}

// An event with chunks of one streamed body merged, and its bytes copied out.
struct Step {
  Kind kind;
  std::uint8_t type = 0;
  Message bytes;  // kWhole: raw; kStreamBegin: header; kStreamChunk: merged body
  bool operator==(const Step&) const = default;
};

std::string kind_name(Kind k) {
  switch (k) {
    case Kind::kNeedMore:
      return "NeedMore";
    case Kind::kWhole:
      return "Whole";
    case Kind::kStreamBegin:
      return "Begin";
    case Kind::kStreamChunk:
      return "Chunk";
    case Kind::kStreamEnd:
      return "End";
    case Kind::kError:
      return "Error";
  }
  return "?";
}

void PrintTo(const Step& s, std::ostream* os) {
  *os << kind_name(s.kind) << "('" << static_cast<char>(s.type) << "', " << s.bytes.size()
      << " bytes)";
}

struct Trace {
  std::vector<Step> steps;
  Message reassembled;  // raw of every event in order: must equal what was fed
  std::size_t chunks = 0;
  bool error = false;
};

bool within(Bytes inner, const Message& outer) {
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

// Feeds each piece (each its own allocation, so ASan sees a read past any of them) and takes
// events until NeedMore, checking what must hold of every event on the way.
Trace run(MessageFramer& framer, const std::vector<Message>& pieces) {
  Trace t;
  for (const auto& piece : pieces) {
    framer.feed(piece);
    for (;;) {
      auto e = framer.next();
      if (e.kind == Kind::kNeedMore) break;
      if (e.kind == Kind::kError) {
        t.error = true;
        t.steps.push_back({Kind::kError, 0, {}});
        return t;
      }
      t.reassembled.insert(t.reassembled.end(), e.raw.begin(), e.raw.end());
      switch (e.kind) {
        case Kind::kWhole:
          EXPECT_EQ(e.raw.size(), e.header.length + 1u);
          EXPECT_EQ(e.body.data(), e.raw.data() + 5);
          EXPECT_EQ(e.body.size(), e.header.body_length());
          t.steps.push_back({Kind::kWhole, e.header.type, {e.raw.begin(), e.raw.end()}});
          break;
        case Kind::kStreamBegin:
          EXPECT_EQ(e.raw.size(), 5u);
          t.steps.push_back({Kind::kStreamBegin, e.header.type, {e.raw.begin(), e.raw.end()}});
          break;
        case Kind::kStreamChunk:
          // A chunk is never empty and is a view of what was just fed: never more than arrived,
          // never copied.
          EXPECT_FALSE(e.body.empty());
          EXPECT_TRUE(within(e.body, piece));
          EXPECT_EQ(e.body.data(), e.raw.data());
          ++t.chunks;
          if (!t.steps.empty() && t.steps.back().kind == Kind::kStreamChunk) {
            t.steps.back().bytes.insert(t.steps.back().bytes.end(), e.body.begin(), e.body.end());
          } else {
            t.steps.push_back({Kind::kStreamChunk, e.header.type, {e.body.begin(), e.body.end()}});
          }
          break;
        case Kind::kStreamEnd:
          EXPECT_TRUE(e.raw.empty());
          t.steps.push_back({Kind::kStreamEnd, e.header.type, {}});
          break;
        default:
          ADD_FAILURE() << "unexpected event";
      }
    }
  }
  return t;
}

Trace run(MessageFramer::WantsWhole wants_whole, const std::vector<Message>& pieces,
          std::uint32_t max_length = kMaxMessageLength) {
  MessageFramer framer(wants_whole, max_length);
  return run(framer, pieces);
}

// The steps a correct framer produces for these messages, however they arrive.
std::vector<Step> expected_steps(MessageFramer::WantsWhole wants_whole,
                                 const std::vector<Message>& messages) {
  std::vector<Step> out;
  for (const auto& m : messages) {
    if (wants_whole(m[0])) {
      out.push_back({Kind::kWhole, m[0], m});
      continue;
    }
    out.push_back({Kind::kStreamBegin, m[0], {m.begin(), m.begin() + 5}});
    if (m.size() > 5) out.push_back({Kind::kStreamChunk, m[0], {m.begin() + 5, m.end()}});
    out.push_back({Kind::kStreamEnd, m[0], {}});
  }
  return out;
}

Message joined(const std::vector<Message>& messages) {
  Message out;
  for (const auto& m : messages) out.insert(out.end(), m.begin(), m.end());
  return out;
}

std::vector<Message> split(const Message& input, std::vector<std::size_t> cuts) {
  std::vector<Message> out;
  std::size_t from = 0;
  cuts.push_back(input.size());
  for (auto cut : cuts) {
    out.emplace_back(input.begin() + static_cast<std::ptrdiff_t>(from),
                     input.begin() + static_cast<std::ptrdiff_t>(cut));
    from = cut;
  }
  return out;
}

constexpr MessageFramer::WantsWhole kModes[] = {all_whole, all_streamed, rows_streamed};

// Every way of cutting `messages` in two and in three, and byte by byte, in every mode.
void expect_framed_whatever_the_split(const std::vector<Message>& messages) {
  Message input = joined(messages);
  for (auto mode : kModes) {
    auto want = expected_steps(mode, messages);
    for (std::size_t i = 0; i <= input.size(); ++i) {
      auto t = run(mode, split(input, {i}));
      ASSERT_EQ(t.steps, want) << "split at " << i;
      ASSERT_EQ(t.reassembled, input) << "split at " << i;
      if (input.size() <= 64) {
        for (std::size_t j = i; j <= input.size(); ++j) {
          auto t3 = run(mode, split(input, {i, j}));
          ASSERT_EQ(t3.steps, want) << "split at " << i << " and " << j;
          ASSERT_EQ(t3.reassembled, input);
        }
      }
    }
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < input.size(); ++i) every.push_back(i);
    auto t = run(mode, split(input, every));
    ASSERT_EQ(t.steps, want) << "byte by byte";
    ASSERT_EQ(t.reassembled, input) << "byte by byte";
  }
}

TEST(FramerTest, FixtureLengthsMatchTheirSize) {
  for (auto m : {kQuery, kParse, kBind, kDescribePortal, kExecute, kSync, kRowDescription, kDataRow,
                 kCommandComplete, kReadyForQuery, kErrorResponse, kAuthOk, kAuthMd5, kAuthSasl,
                 kBackendKeyData, kParameterStatus}) {
    auto h = decode_header(as_bytes(m));
    ASSERT_TRUE(std::holds_alternative<Header>(h)) << m;
    EXPECT_EQ(std::get<Header>(h).length + 1u, m.size()) << m;
  }
}

TEST(FramerTest, EveryFixtureSplitAtEveryPoint) {
  for (auto m : {kQuery, kParse, kBind, kDescribePortal, kExecute, kSync, kRowDescription, kDataRow,
                 kCommandComplete, kReadyForQuery, kErrorResponse, kAuthOk, kAuthMd5, kAuthSasl,
                 kBackendKeyData, kParameterStatus}) {
    SCOPED_TRACE(std::string(m.substr(0, 1)));
    expect_framed_whatever_the_split({bytes(m)});
  }
}

TEST(FramerTest, ExtendedQueryPipelineInOneBuffer) {
  std::vector<Message> pipeline = {bytes(kParse), bytes(kBind), bytes(kDescribePortal),
                                   bytes(kExecute), bytes(kSync)};
  auto t = run(all_whole, {joined(pipeline)});
  ASSERT_EQ(t.steps.size(), 5u);
  EXPECT_EQ(t.steps, expected_steps(all_whole, pipeline));
  expect_framed_whatever_the_split(pipeline);
}

TEST(FramerTest, TwoAndThreeMessagesInOneBuffer) {
  expect_framed_whatever_the_split({bytes(kQuery), bytes(kSync)});
  expect_framed_whatever_the_split({bytes(kCommandComplete), bytes(kReadyForQuery)});
  expect_framed_whatever_the_split({bytes(kErrorResponse), bytes(kReadyForQuery), bytes(kQuery)});
}

TEST(FramerTest, QueryResultWithStreamedRowsHasExactEventSequence) {
  std::vector<Message> result = {bytes(kRowDescription), bytes(kDataRow), bytes(kDataRow),
                                 bytes(kCommandComplete), bytes(kReadyForQuery)};
  auto t = run(rows_streamed, {joined(result)});
  std::vector<Step> want = {
      {Kind::kWhole, 'T', bytes(kRowDescription)},
      {Kind::kStreamBegin, 'D', bytes(kDataRow.substr(0, 5))},
      {Kind::kStreamChunk, 'D', bytes(kDataRow.substr(5))},
      {Kind::kStreamEnd, 'D', {}},
      {Kind::kStreamBegin, 'D', bytes(kDataRow.substr(0, 5))},
      {Kind::kStreamChunk, 'D', bytes(kDataRow.substr(5))},
      {Kind::kStreamEnd, 'D', {}},
      {Kind::kWhole, 'C', bytes(kCommandComplete)},
      {Kind::kWhole, 'Z', bytes(kReadyForQuery)},
  };
  EXPECT_EQ(t.steps, want);
  EXPECT_EQ(t.chunks, 2u);
  expect_framed_whatever_the_split(result);
}

TEST(FramerTest, WholeMessagesInsideOneFeedAreViewsNotCopies) {
  Message input = joined({bytes(kQuery), bytes(kSync)});
  MessageFramer framer(all_whole);
  framer.feed(input);
  auto first = framer.next();
  ASSERT_EQ(first.kind, Kind::kWhole);
  EXPECT_EQ(first.raw.data(), input.data());
  EXPECT_EQ(first.raw.size(), kQuery.size());
  EXPECT_EQ(as_chars(first.body), kQuery.substr(5));
  auto second = framer.next();
  ASSERT_EQ(second.kind, Kind::kWhole);
  EXPECT_EQ(second.raw.data(), input.data() + kQuery.size());
  EXPECT_EQ(framer.next().kind, Kind::kNeedMore);
  EXPECT_TRUE(framer.at_boundary());
}

TEST(FramerTest, MessageStraddlingFeedsIsReassembledByCopy) {
  Message a = bytes(kQuery.substr(0, 7));
  Message b = bytes(kQuery.substr(7));
  MessageFramer framer(all_whole);
  framer.feed(a);
  EXPECT_EQ(framer.next().kind, Kind::kNeedMore);
  EXPECT_FALSE(framer.at_boundary());
  framer.feed(b);
  auto e = framer.next();
  ASSERT_EQ(e.kind, Kind::kWhole);
  EXPECT_FALSE(within(e.raw, a));
  EXPECT_FALSE(within(e.raw, b));
  EXPECT_EQ(as_chars(e.raw), kQuery);
  EXPECT_EQ(e.header.type, 'Q');
  EXPECT_TRUE(framer.at_boundary());
  EXPECT_EQ(framer.next().kind, Kind::kNeedMore);
}

TEST(FramerTest, StreamedZeroLengthBodyIsBeginThenEndWithoutChunk) {
  Message sync = bytes(kSync);
  auto t = run(all_streamed, {sync});
  std::vector<Step> want = {{Kind::kStreamBegin, 'S', sync}, {Kind::kStreamEnd, 'S', {}}};
  EXPECT_EQ(t.steps, want);
  EXPECT_EQ(t.chunks, 0u);
}

TEST(FramerTest, MegabyteDataRowIsRelayedInChunksAsItArrives) {
  constexpr std::uint32_t kBody = 1 << 20;
  Message row;
  ByteWriter w(row);
  w.u8('D').u32(kBody + 4).u16(1).u32(kBody - 6);
  for (std::uint32_t i = 0; i < kBody - 6; ++i) w.u8(static_cast<std::uint8_t>(i * 7));
  Message input = joined({row, bytes(kCommandComplete), bytes(kReadyForQuery)});

  constexpr std::size_t kRead = 16 * 1024 + 3;  // an odd socket read size
  std::vector<std::size_t> cuts;
  for (std::size_t at = kRead; at < input.size(); at += kRead) cuts.push_back(at);
  auto pieces = split(input, cuts);

  MessageFramer framer(rows_streamed);
  auto t = run(framer, pieces);
  ASSERT_FALSE(t.error);
  ASSERT_EQ(t.steps.size(), 5u);
  EXPECT_EQ(t.steps[0].kind, Kind::kStreamBegin);
  EXPECT_EQ(t.steps[1].kind, Kind::kStreamChunk);
  EXPECT_EQ(t.steps[1].bytes.size(), kBody);
  EXPECT_EQ(t.steps[2].kind, Kind::kStreamEnd);
  EXPECT_EQ(t.steps[3], (Step{Kind::kWhole, 'C', bytes(kCommandComplete)}));
  EXPECT_EQ(t.steps[4], (Step{Kind::kWhole, 'Z', bytes(kReadyForQuery)}));
  // One chunk per read that carried body bytes: nothing waits for the rest of the row.
  EXPECT_EQ(t.chunks, (5 + kBody + kRead - 1) / kRead);
  EXPECT_EQ(t.reassembled, input);
  EXPECT_TRUE(framer.at_boundary());
}

TEST(FramerTest, LargeWholeMessageStraddlingFeedsThenSmallOnes) {
  // A 200 KiB query (more than the framer keeps buffer for) arriving in three reads.
  std::string sql(200 * 1024, 'x');
  Message big;
  ByteWriter(big).u8('Q').u32(static_cast<std::uint32_t>(sql.size() + 5)).cstring(sql);
  Message input = joined({big, bytes(kSync), bytes(kQuery)});
  auto pieces = split(input, {1000, big.size() + 2});
  MessageFramer framer(all_whole);
  auto t = run(framer, pieces);
  EXPECT_EQ(t.steps, expected_steps(all_whole, {big, bytes(kSync), bytes(kQuery)}));
  EXPECT_EQ(t.reassembled, input);
  EXPECT_TRUE(framer.at_boundary());
}

TEST(FramerTest, StreamedChunkIsDeliveredBeforeTheRestArrives) {
  Message head = bytes(kDataRow.substr(0, 8));
  MessageFramer framer(rows_streamed);
  framer.feed(head);
  EXPECT_EQ(framer.next().kind, Kind::kStreamBegin);
  auto chunk = framer.next();
  ASSERT_EQ(chunk.kind, Kind::kStreamChunk);
  EXPECT_EQ(chunk.body.size(), 3u);
  EXPECT_EQ(chunk.header.type, 'D');
  EXPECT_EQ(framer.next().kind, Kind::kNeedMore);
  EXPECT_FALSE(framer.at_boundary());
  Message tail = bytes(kDataRow.substr(8));
  framer.feed(tail);
  chunk = framer.next();
  ASSERT_EQ(chunk.kind, Kind::kStreamChunk);
  EXPECT_EQ(chunk.body.size(), 5u);
  EXPECT_FALSE(framer.at_boundary());
  EXPECT_EQ(framer.next().kind, Kind::kStreamEnd);
  EXPECT_TRUE(framer.at_boundary());
}

Message header(std::uint8_t type, std::uint32_t length) {
  Message m;
  ByteWriter(m).u8(type).u32(length);
  return m;
}

TEST(FramerTest, LengthAboveLimitIsAnErrorAndStaysFailed) {
  for (auto mode : kModes) {
    for (std::size_t cut = 0; cut <= 5; ++cut) {
      MessageFramer framer(mode, 1000);
      auto t = run(framer, split(header('Q', 1001), {cut}));
      ASSERT_TRUE(t.error) << cut;
      // Whatever comes after, the stream stays broken.
      Message more = bytes(kSync);
      framer.feed(more);
      auto e = framer.next();
      EXPECT_EQ(e.kind, Kind::kError);
      EXPECT_FALSE(e.error.empty());
      EXPECT_EQ(framer.next().kind, Kind::kError);
      EXPECT_FALSE(framer.at_boundary());
    }
  }
}

TEST(FramerTest, DefaultLimitIsPostgresMaxAlloc) {
  EXPECT_TRUE(run(all_streamed, {header('D', kMaxMessageLength + 1)}).error);
  auto t = run(all_streamed, {header('D', kMaxMessageLength)});
  EXPECT_FALSE(t.error);
  ASSERT_EQ(t.steps.size(), 1u);
  EXPECT_EQ(t.steps[0].kind, Kind::kStreamBegin);
  EXPECT_TRUE(run(all_whole, {header('Q', 0xFFFFFFFF)}).error);
}

TEST(FramerTest, LengthAtTheLimitIsAccepted) {
  Message m = header('Q', 10);
  m.insert(m.end(), 6, 'x');
  auto t = run(all_whole, {m}, 10);
  EXPECT_FALSE(t.error);
  EXPECT_EQ(t.steps, (std::vector<Step>{{Kind::kWhole, 'Q', m}}));
}

TEST(FramerTest, LengthBelowFourIsAnError) {
  for (std::uint32_t length = 0; length < 4; ++length) {
    for (auto mode : kModes) {
      for (std::size_t cut = 0; cut <= 5; ++cut) {
        auto t = run(mode, split(header('D', length), {cut}));
        EXPECT_TRUE(t.error) << length << " cut " << cut;
      }
    }
  }
}

TEST(FramerTest, ErrorAfterGoodMessagesKeepsThemAndStops) {
  Message input = joined({bytes(kQuery), header('Q', 2), bytes(kSync)});
  auto t = run(all_whole, {input});
  ASSERT_EQ(t.steps.size(), 2u);
  EXPECT_EQ(t.steps[0], (Step{Kind::kWhole, 'Q', bytes(kQuery)}));
  EXPECT_EQ(t.steps[1].kind, Kind::kError);
}

TEST(FramerTest, FeedingAgainBeforeTakingEverythingLosesNothing) {
  Message a = joined({bytes(kQuery), bytes(kSync)});
  Message b = bytes(kParse);
  MessageFramer framer(all_whole);
  framer.feed(a);
  ASSERT_EQ(framer.next().kind, Kind::kWhole);  // Query; Sync is still unread
  framer.feed(b);
  auto sync = framer.next();
  ASSERT_EQ(sync.kind, Kind::kWhole);
  EXPECT_EQ(as_chars(sync.raw), kSync);
  auto parse = framer.next();
  ASSERT_EQ(parse.kind, Kind::kWhole);
  EXPECT_EQ(as_chars(parse.raw), kParse);
  EXPECT_EQ(framer.next().kind, Kind::kNeedMore);
}

TEST(FramerTest, NeedMoreOnNothingAndAtBoundaryWhenFresh) {
  MessageFramer framer(all_whole);
  EXPECT_TRUE(framer.at_boundary());
  EXPECT_EQ(framer.next().kind, Kind::kNeedMore);
  framer.feed({});
  EXPECT_EQ(framer.next().kind, Kind::kNeedMore);
  EXPECT_TRUE(framer.at_boundary());
}

TEST(FramerTest, HeaderOfStreamedMessageSplitAcrossFeeds) {
  Message a = bytes(kDataRow.substr(0, 3));
  Message b = bytes(kDataRow.substr(3));
  MessageFramer framer(rows_streamed);
  framer.feed(a);
  EXPECT_EQ(framer.next().kind, Kind::kNeedMore);
  framer.feed(b);
  auto begin = framer.next();
  ASSERT_EQ(begin.kind, Kind::kStreamBegin);
  EXPECT_EQ(as_chars(begin.raw), kDataRow.substr(0, 5));
  EXPECT_EQ(begin.header.length, 12u);
  auto chunk = framer.next();
  ASSERT_EQ(chunk.kind, Kind::kStreamChunk);
  EXPECT_TRUE(within(chunk.body, b));  // the body is not copied, even after a split header
  EXPECT_EQ(as_chars(chunk.body), kDataRow.substr(5));
  EXPECT_EQ(framer.next().kind, Kind::kStreamEnd);
}

TEST(DecodeHeaderTest, ReadsTypeAndLength) {
  auto h = decode_header(as_bytes(kQuery));
  ASSERT_TRUE(std::holds_alternative<Header>(h));
  EXPECT_EQ(std::get<Header>(h).type, 'Q');
  EXPECT_EQ(std::get<Header>(h).length, 14u);
  EXPECT_EQ(std::get<Header>(h).body_length(), 10u);
}

TEST(DecodeHeaderTest, ShortInputNeedsFiveBytes) {
  for (std::size_t n = 0; n < 5; ++n) {
    auto h = decode_header(as_bytes(kQuery.substr(0, n)));
    ASSERT_TRUE(std::holds_alternative<NeedMore>(h)) << n;
    EXPECT_EQ(std::get<NeedMore>(h).at_least, 5u);
  }
}

TEST(DecodeHeaderTest, RefusesLengthsOutOfRange) {
  for (std::uint32_t length : {0u, 1u, 3u}) {
    auto m = header('Q', length);
    EXPECT_TRUE(std::holds_alternative<DecodeError>(decode_header(m))) << length;
  }
  auto big = header('Q', 101);
  EXPECT_TRUE(std::holds_alternative<DecodeError>(decode_header(big, 100)));
  auto limit = header('Q', 100);
  EXPECT_TRUE(std::holds_alternative<Header>(decode_header(limit, 100)));
  auto four = header('S', 4);
  EXPECT_TRUE(std::holds_alternative<Header>(decode_header(four)));
}

}  // namespace
}  // namespace gh::wire::pg
