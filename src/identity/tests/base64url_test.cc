#include "identity/base64url.h"

#include <gtest/gtest.h>

#include "identity/signer.h"
#include "identity/strict_json.h"

namespace gh::identity {
namespace {

TEST(Base64url, EncodesWithoutPaddingInTheUrlSafeAlphabet) {
  // RFC 4648 §10 vectors, padding dropped.
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
  // 0xFB 0xFF is "+/8=" in standard base64.
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
}

TEST(Base64url, RoundTripsEveryByteAndLength) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (std::size_t len = 0; len <= all.size(); len += 7) {
    const std::string bytes = all.substr(0, len);
    const auto decoded = base64url_decode(base64url_encode(bytes));
    ASSERT_TRUE(decoded.has_value()) << "length " << len;
    EXPECT_EQ(*decoded, bytes);
  }
}

TEST(Base64url, PaddingIsRefusedNotSkipped) {
  EXPECT_FALSE(base64url_decode("Zg==").has_value());
  EXPECT_FALSE(base64url_decode("Zm8=").has_value());
  EXPECT_TRUE(base64url_decode("Zm8").has_value());
}

TEST(Base64url, StandardAlphabetAndWhitespaceAreRefused) {
  EXPECT_FALSE(base64url_decode("-_8+").has_value());
  EXPECT_FALSE(base64url_decode("ab/c").has_value());
  EXPECT_FALSE(base64url_decode("Zm9v Yg").has_value());
  EXPECT_FALSE(base64url_decode("Zm9v\nYg").has_value());
  EXPECT_FALSE(base64url_decode(std::string_view("Zm\0v", 4)).has_value());
  EXPECT_FALSE(base64url_decode("Zm9v\xc3\xa9").has_value());
}

TEST(Base64url, ImpossibleLengthIsRefused) {
  // One character past a full quantum carries 6 bits: no whole byte.
  EXPECT_FALSE(base64url_decode("Zm9vY").has_value());
  EXPECT_FALSE(base64url_decode("Z").has_value());
}

TEST(Base64url, NonCanonicalTrailingBitsAreRefusedSoSignaturesAreNotMalleable) {
  // "Zg" is canonical for "f"; "Zh" decodes to the same byte with a stray bit.
  EXPECT_TRUE(base64url_decode("Zg").has_value());
  EXPECT_FALSE(base64url_decode("Zh").has_value());
  EXPECT_FALSE(base64url_decode("Zm9").has_value());  // canonical is "Zm8"
}

TEST(StrictJson, DuplicateMembersAreRefusedAtEveryDepth) {
  EXPECT_FALSE(parse_strict_json(R"({"a":1,"a":2})").has_value());
  EXPECT_FALSE(parse_strict_json(R"({"o":{"x":1,"x":1}})").has_value());
  EXPECT_FALSE(parse_strict_json(R"({"l":[{"x":1},{"y":1,"y":2}]})").has_value());
  // The same name in sibling objects is no duplicate.
  EXPECT_TRUE(parse_strict_json(R"({"a":{"x":1},"b":{"x":1},"x":[{"x":1},{"x":2}]})").has_value());
  const auto dup = parse_strict_json(R"({"sub":"a","sub":"b"})");
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error(), "duplicate member \"sub\"");
}

TEST(StrictJson, InvalidJsonIsAnErrorNotAnException) {
  for (const char* text : {"", "{", "{\"a\":}", "[1,]", "{} {}", "nul", "{\"a\":1}x", "\xff",
                           "{\"a\":\"\xc3\"}", "{'a':1}"}) {
    EXPECT_FALSE(parse_strict_json(text).has_value()) << text;
  }
}

}  // namespace
}  // namespace gh::identity
