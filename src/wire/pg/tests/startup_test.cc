// decode_startup: the untyped first packet of a connection.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "wire/pg/protocol.h"
#include "wire/pg/tests/fixtures.h"

namespace gh::wire::pg {
namespace {

using namespace fixtures;
using namespace std::string_literals;
using Params = std::vector<std::pair<std::string, std::string>>;

std::variant<StartupDecoded, NeedMore, DecodeError> decode(std::string_view s) {
  // Its own allocation, so ASan catches a read past the end.
  auto copy = std::make_unique<std::uint8_t[]>(s.size() + 1);
  std::copy(s.begin(), s.end(), copy.get());
  return decode_startup(Bytes(copy.get(), s.size()));
}

bool is_error(std::string_view s) {
  return std::holds_alternative<DecodeError>(decode(s));
}

std::string packet(std::uint32_t code, std::string_view rest, std::int64_t length_delta = 0) {
  std::vector<std::uint8_t> m;
  ByteWriter(m)
      .u32(static_cast<std::uint32_t>(8 + static_cast<std::int64_t>(rest.size()) + length_delta))
      .u32(code)
      .raw(rest);
  return std::string(as_chars(m));
}

TEST(StartupTest, PsqlStartupMessage) {
  auto r = decode(kStartup);
  ASSERT_TRUE(std::holds_alternative<StartupDecoded>(r));
  const auto& d = std::get<StartupDecoded>(r);
  EXPECT_EQ(d.consumed, kStartup.size());
  ASSERT_TRUE(std::holds_alternative<StartupMessage>(d.packet));
  const auto& m = std::get<StartupMessage>(d.packet);
  EXPECT_EQ(m.version, kProtocol30);
  EXPECT_EQ(m.params, (Params{{"user", "alice"},
                              {"database", "traces"},
                              {"application_name", "psql"},
                              {"client_encoding", "UTF8"}}));
}

TEST(StartupTest, ConsumesOnlyThePacket) {
  std::string input(kStartup);
  input += kQuery;
  auto r = decode(input);
  ASSERT_TRUE(std::holds_alternative<StartupDecoded>(r));
  EXPECT_EQ(std::get<StartupDecoded>(r).consumed, kStartup.size());
}

TEST(StartupTest, EveryPrefixNeedsMore) {
  for (std::size_t n = 0; n < kStartup.size(); ++n) {
    auto r = decode(kStartup.substr(0, n));
    ASSERT_TRUE(std::holds_alternative<NeedMore>(r)) << n;
    EXPECT_EQ(std::get<NeedMore>(r).at_least, n < 4 ? 8u : kStartup.size()) << n;
  }
}

TEST(StartupTest, SpecialRequests) {
  auto ssl = decode(kSslRequest);
  ASSERT_TRUE(std::holds_alternative<StartupDecoded>(ssl));
  EXPECT_TRUE(std::holds_alternative<SslRequest>(std::get<StartupDecoded>(ssl).packet));
  EXPECT_EQ(std::get<StartupDecoded>(ssl).consumed, 8u);

  auto gss = decode(kGssEncRequest);
  ASSERT_TRUE(std::holds_alternative<StartupDecoded>(gss));
  EXPECT_TRUE(std::holds_alternative<GssEncRequest>(std::get<StartupDecoded>(gss).packet));

  auto cancel = decode(kCancelRequest);
  ASSERT_TRUE(std::holds_alternative<StartupDecoded>(cancel));
  const auto& c = std::get<CancelRequest>(std::get<StartupDecoded>(cancel).packet);
  EXPECT_EQ(c.pid, 4242);
  EXPECT_EQ(c.secret, 0x01020304);
  EXPECT_EQ(std::get<StartupDecoded>(cancel).consumed, 16u);
}

TEST(StartupTest, SpecialRequestsMustHaveTheirExactLength) {
  EXPECT_TRUE(is_error(packet(kSslRequestCode, "\0\0\0\0"sv)));
  EXPECT_TRUE(is_error(packet(kGssEncRequestCode, "\0"sv)));
  EXPECT_TRUE(is_error(packet(kCancelRequestCode, "\0\0\0\1"sv)));
  EXPECT_TRUE(is_error(packet(kCancelRequestCode, "\0\0\0\1\0\0\0\2\0"sv)));
  EXPECT_FALSE(is_error(packet(kCancelRequestCode, "\0\0\0\1\0\0\0\2"sv)));
}

TEST(StartupTest, LengthOutOfRange) {
  for (std::uint32_t length : {0u, 4u, 7u, kMaxStartupLength + 1, 0xFFFFFFFFu}) {
    std::vector<std::uint8_t> m;
    ByteWriter(m).u32(length).u32(kProtocol30);
    EXPECT_TRUE(std::holds_alternative<DecodeError>(decode_startup(m))) << length;
  }
  // The length is judged as soon as it is known, before waiting for the rest.
  std::vector<std::uint8_t> m;
  ByteWriter(m).u32(kMaxStartupLength + 1);
  EXPECT_TRUE(std::holds_alternative<DecodeError>(decode_startup(m)));
}

TEST(StartupTest, LengthAtTheLimitIsAccepted) {
  std::string rest = "user\0"s + std::string(kMaxStartupLength - 8 - 7, 'a') + "\0\0"s;
  auto p = packet(kProtocol30, rest);
  ASSERT_EQ(p.size(), kMaxStartupLength);
  auto r = decode(p);
  ASSERT_TRUE(std::holds_alternative<StartupDecoded>(r));
}

TEST(StartupTest, MalformedParameterLists) {
  EXPECT_TRUE(is_error(packet(kProtocol30, "")));                    // no final NUL
  EXPECT_TRUE(is_error(packet(kProtocol30, "user\0alice\0"sv)));     // no final NUL
  EXPECT_TRUE(is_error(packet(kProtocol30, "user\0alice"sv)));       // value not terminated
  EXPECT_TRUE(is_error(packet(kProtocol30, "user\0"sv)));            // name without value
  EXPECT_TRUE(is_error(packet(kProtocol30, "user"sv)));              // name not terminated
  EXPECT_TRUE(is_error(packet(kProtocol30, "user\0alice\0\0x"sv)));  // bytes after the end
  EXPECT_TRUE(is_error(packet(kProtocol30, "\0\0"sv)));              // bytes after the end
  EXPECT_FALSE(is_error(packet(kProtocol30, "\0"sv)));               // empty list is well formed
  EXPECT_FALSE(is_error(packet(kProtocol30, "user\0\0\0"sv)));       // empty value
}

TEST(StartupTest, TruncatingTheLengthFieldNeverReadsPastThePacket) {
  // The declared length cuts the parameter list short: the rest of the buffer is not read.
  std::string p(kStartup);
  p[3] = static_cast<char>(kStartup.size() - 1);
  EXPECT_TRUE(is_error(p));
}

TEST(StartupTest, OtherVersionsAreReturnedForTheCallerToRefuse) {
  auto r = decode(packet(3u << 16 | 2, "user\0a\0_pq_.x\0y\0\0"sv));
  ASSERT_TRUE(std::holds_alternative<StartupDecoded>(r));
  const auto& m = std::get<StartupMessage>(std::get<StartupDecoded>(r).packet);
  EXPECT_EQ(m.version, 3u << 16 | 2);
  EXPECT_EQ(m.params, (Params{{"user", "a"}, {"_pq_.x", "y"}}));

  // Protocol 2.0 had a fixed layout; it comes back without parameters.
  auto v2 = decode(packet(2u << 16, std::string(288, 'x')));
  ASSERT_TRUE(std::holds_alternative<StartupDecoded>(v2));
  const auto& m2 = std::get<StartupMessage>(std::get<StartupDecoded>(v2).packet);
  EXPECT_EQ(m2.version, 2u << 16);
  EXPECT_TRUE(m2.params.empty());

  // An unknown request code (1234.5681) is a version the caller refuses.
  auto odd = decode(packet(80877105, ""));
  ASSERT_TRUE(std::holds_alternative<StartupDecoded>(odd));
  EXPECT_EQ(std::get<StartupMessage>(std::get<StartupDecoded>(odd).packet).version, 80877105u);
}

}  // namespace
}  // namespace gh::wire::pg
