#include "masking/styles.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace gh::masking {
namespace {

constexpr std::array<std::uint8_t, 32> kKey = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                               12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                               23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
constexpr std::array<std::uint8_t, 32> kOtherKey = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
                                                    9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};

std::string found(Detector d, Style s, std::string_view v, HashKey key = kKey) {
  std::string out;
  mask_found(d, s, v, key, out);
  return out;
}

std::string whole(Style s, std::string_view v, HashKey key = kKey) {
  std::string out;
  mask_whole(s, v, key, out);
  return out;
}

// Printable ASCII without quotes, backslashes, commas, tabs or newlines.
bool embeddable(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\'' || c == '\\' || c == ',') return false;
  }
  return true;
}

bool is_lower_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

TEST(Styles, NamesRoundTrip) {
  for (Style s : {Style::kPartial, Style::kRedact, Style::kHash}) {
    EXPECT_EQ(style_from_name(style_name(s)), s);
  }
  EXPECT_EQ(style_name(Style::kPartial), "partial");
  EXPECT_EQ(style_name(Style::kRedact), "redact");
  EXPECT_EQ(style_name(Style::kHash), "hash");
  EXPECT_EQ(style_from_name("Redact"), std::nullopt);
  EXPECT_EQ(style_from_name("mask"), std::nullopt);
}

// ---------------------------------------------------------------------------
// partial, per detector.

TEST(Styles, PartialEmailKeepsFirstLetterAndTld) {
  EXPECT_EQ(found(Detector::kEmail, Style::kPartial, "jane.doe@example.com"),
            "j*******@*******.com");
  EXPECT_EQ(found(Detector::kEmail, Style::kPartial, "JANE@MAIL.EXAMPLE.CO.UK"),
            "J***@***************.UK");
  EXPECT_EQ(found(Detector::kEmail, Style::kPartial, "a@b.co"), "a@*.co");
  EXPECT_EQ(found(Detector::kEmail, Style::kPartial, "jürgen@example.de"), "j*****@*******.de");
}

TEST(Styles, PartialCardKeepsLastFourAndSeparators) {
  EXPECT_EQ(found(Detector::kCreditCard, Style::kPartial, "4111 1111 1111 1234"),
            "**** **** **** 1234");
  EXPECT_EQ(found(Detector::kCreditCard, Style::kPartial, "4111-1111-1111-1234"),
            "****-****-****-1234");
  EXPECT_EQ(found(Detector::kCreditCard, Style::kPartial, "378282246310005"), "***********0005");
}

TEST(Styles, PartialSsnKeepsLastFour) {
  EXPECT_EQ(found(Detector::kUsSsn, Style::kPartial, "123-45-6789"), "***-**-6789");
  EXPECT_EQ(found(Detector::kUsSsn, Style::kPartial, "123 45 6789"), "*** ** 6789");
}

TEST(Styles, PartialPhoneKeepsPlusSeparatorsAndLastTwo) {
  EXPECT_EQ(found(Detector::kPhone, Style::kPartial, "+1 (555) 123-4567"), "+* (***) ***-**67");
  EXPECT_EQ(found(Detector::kPhone, Style::kPartial, "+44 20 7946 0958"), "+** ** **** **58");
  EXPECT_EQ(found(Detector::kPhone, Style::kPartial, "555.123.4567"), "***.***.**67");
}

TEST(Styles, PartialIbanKeepsCountryAndLastFour) {
  EXPECT_EQ(found(Detector::kIban, Style::kPartial, "DE89 3704 0044 0532 0130 00"),
            "DE** **** **** **** **30 00");
  EXPECT_EQ(found(Detector::kIban, Style::kPartial, "DE89370400440532013000"),
            "DE****************3000");
}

TEST(Styles, PartialIpKeepsTheNetworkPart) {
  EXPECT_EQ(found(Detector::kIpAddress, Style::kPartial, "192.168.10.20"), "192.168.*.*");
  EXPECT_EQ(found(Detector::kIpAddress, Style::kPartial, "2001:db8::8a2e:370:7334"),
            "2001:***::****:***:****");
  EXPECT_EQ(found(Detector::kIpAddress, Style::kPartial, "::1"), "::*");
  EXPECT_EQ(found(Detector::kIpAddress, Style::kPartial, "::ffff:192.0.2.1"), "::****:***.*.*.*");
}

TEST(Styles, PartialJwtRevealsNoLength) {
  EXPECT_EQ(found(Detector::kJwt, Style::kPartial, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig"),
            "eyJ*****.*****.*****");
  EXPECT_EQ(found(Detector::kJwt, Style::kPartial, "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjMifQ."),
            "eyJ*****.*****.*****");
}

TEST(Styles, PartialAwsKeyKeepsPrefix) {
  EXPECT_EQ(found(Detector::kAwsAccessKey, Style::kPartial, "AKIAIOSFODNN7EXAMPLE"),
            "AKIA****************");
}

TEST(Styles, PartialPrivateKeyIsOneLine) {
  EXPECT_EQ(found(Detector::kPrivateKey, Style::kPartial,
                  "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"),
            "-----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----");
  EXPECT_EQ(found(Detector::kPrivateKey, Style::kPartial,
                  "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----"),
            "-----BEGIN PRIVATE KEY-----[REDACTED]-----END PRIVATE KEY-----");
  EXPECT_EQ(
      found(Detector::kPrivateKey, Style::kPartial, "-----BEGIN OPENSSH PRIVATE KEY-----\nb3"),
      "-----BEGIN OPENSSH PRIVATE KEY-----[REDACTED]-----END OPENSSH PRIVATE KEY-----");
}

TEST(Styles, PartialSecretKeepsOnlyAKnownPrefixAndFixedStars) {
  EXPECT_EQ(
      found(Detector::kGenericSecret, Style::kPartial, "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"),
      "ghp_********");
  EXPECT_EQ(found(Detector::kGenericSecret, Style::kPartial, "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
            "sk_live_********");
  EXPECT_EQ(found(Detector::kGenericSecret, Style::kPartial, "xoxb-123-456-abc"), "xoxb-********");
  EXPECT_EQ(
      found(Detector::kGenericSecret, Style::kPartial, "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI"),
      "AIza********");
  EXPECT_EQ(found(Detector::kGenericSecret, Style::kPartial, "sk-proj-abc123def456ghi789jkl"),
            "sk-proj-********");
  EXPECT_EQ(found(Detector::kGenericSecret, Style::kPartial, "hunter22"), "********");
  EXPECT_EQ(found(Detector::kGenericSecret, Style::kPartial, std::string(300, 'x')), "********");
}

TEST(Styles, PartialNeverRevealsShortDigitValues) {
  EXPECT_EQ(found(Detector::kCreditCard, Style::kPartial, "1234"), "****");
  EXPECT_EQ(found(Detector::kUsSsn, Style::kPartial, "12-34"), "**-**");
  EXPECT_EQ(found(Detector::kPhone, Style::kPartial, "+1 23"), "+* **");
  EXPECT_EQ(found(Detector::kIban, Style::kPartial, "DE12"), "****");
}

// ---------------------------------------------------------------------------
// redact and hash.

TEST(Styles, RedactWritesTheLabel) {
  EXPECT_EQ(found(Detector::kEmail, Style::kRedact, "jane@example.com"), "[EMAIL]");
  EXPECT_EQ(found(Detector::kCreditCard, Style::kRedact, "4111111111111111"), "[CREDIT_CARD]");
  EXPECT_EQ(found(Detector::kGenericSecret, Style::kRedact, "hunter22"), "[SECRET]");
  EXPECT_EQ(whole(Style::kRedact, "anything"), "[MASKED]");
}

TEST(Styles, HashIsStableKeyedAndShort) {
  const std::string a = found(Detector::kEmail, Style::kHash, "jane@example.com");
  ASSERT_EQ(a.size(), std::string("[EMAIL:]").size() + 16);
  EXPECT_EQ(a.substr(0, 7), "[EMAIL:");
  EXPECT_EQ(a.back(), ']');
  EXPECT_TRUE(is_lower_hex(a.substr(7, 16)));
  EXPECT_EQ(a, found(Detector::kEmail, Style::kHash, "jane@example.com"));
  EXPECT_NE(a, found(Detector::kEmail, Style::kHash, "john@example.com"));
  EXPECT_NE(a, found(Detector::kEmail, Style::kHash, "jane@example.com", kOtherKey));
}

TEST(Styles, HashMatchesHmacSha256) {
  // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
  const std::string key = "Jefe";
  const HashKey k(reinterpret_cast<const std::uint8_t*>(key.data()), key.size());
  EXPECT_EQ(whole(Style::kHash, "what do ya want for nothing?", k), "[MASKED:5bdcc146bf60754e]");
}

TEST(Styles, HashOfWholeValueUsesMaskedLabel) {
  const std::string h = whole(Style::kHash, "some value");
  EXPECT_EQ(h.substr(0, 8), "[MASKED:");
  EXPECT_EQ(h.size(), 8u + 16u + 1u);
  EXPECT_EQ(h, whole(Style::kHash, "some value"));
  EXPECT_NE(h, whole(Style::kHash, "some value", kOtherKey));
}

TEST(Styles, HashStaysCorrectWhenKeysAlternateAndThreadsShare) {
  const std::string a = whole(Style::kHash, "value", kKey);
  const std::string b = whole(Style::kHash, "value", kOtherKey);
  ASSERT_NE(a, b);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(whole(Style::kHash, "value", kKey), a);
    EXPECT_EQ(whole(Style::kHash, "value", kOtherKey), b);
  }
  std::vector<std::thread> threads;
  std::vector<int> good(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        const bool ok =
            whole(Style::kHash, "value", (i + t) % 2 ? kKey : kOtherKey) == ((i + t) % 2 ? a : b);
        good[static_cast<std::size_t>(t)] += ok ? 1 : 0;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int g : good) EXPECT_EQ(g, 100);
}

TEST(Styles, HashWithAnEmptyKeyStillWorks) {
  const std::string h = whole(Style::kHash, "v", HashKey{});
  EXPECT_EQ(h.size(), 8u + 16u + 1u);
}

// ---------------------------------------------------------------------------
// mask_whole partial.

TEST(Styles, WholePartialKeepsFirstCharacterOfLongValues) {
  EXPECT_EQ(whole(Style::kPartial, "Jonathan"), "J*******");
  EXPECT_EQ(whole(Style::kPartial, "abcdef"), "a*****");
  EXPECT_EQ(whole(Style::kPartial, "abcde"), "*****");
  EXPECT_EQ(whole(Style::kPartial, "a"), "*");
  EXPECT_EQ(whole(Style::kPartial, ""), "");
}

TEST(Styles, WholePartialCountsCodePoints) {
  // Six bytes, three code points; a non-ASCII first letter is starred too
  // because replacements are ASCII only.
  EXPECT_EQ(whole(Style::kPartial, "ЖЖЖ"), "***");
  EXPECT_EQ(whole(Style::kPartial, "Zoë Müller"), "Z*********");
  EXPECT_EQ(whole(Style::kPartial, "日本語テキスト"), "*******");
  // Invalid UTF-8 counts byte by byte and never leaks raw bytes.
  EXPECT_EQ(whole(Style::kPartial, "a\xff\xfe\xc3zz"), "a*****");
}

TEST(Styles, WholePartialStarsAnUnsafeFirstCharacter) {
  EXPECT_EQ(whole(Style::kPartial, "\"quoted\""), "********");
  EXPECT_EQ(whole(Style::kPartial, ",comma,"), "*******");
  EXPECT_EQ(whole(Style::kPartial, "\ttabbed"), "*******");
}

// ---------------------------------------------------------------------------
// Every replacement can be embedded anywhere.

TEST(Styles, EveryReplacementIsEmbeddable) {
  const std::vector<std::string> values = {
      "jane.doe@example.com",
      "4111 1111 1111 1111",
      "123-45-6789",
      "+1 (555) 123-4567",
      "DE89 3704 0044 0532 0130 00",
      "192.168.1.1",
      "fe80::1",
      "AKIAIOSFODNN7EXAMPLE",
      "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
      "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
      "hunter22",
      "",
      "a\"b'c\\d,e\tf\ng\rh",
      "\"@\",\\.\\,",
      "jürgen@exämple.de",
      "日本語@例え.jp",
      std::string("\0\x01\x7f\x80\xff", 5),
      "-----BEGIN \"EVIL\" PRIVATE KEY-----",
      "\",\"@\",\".\"",
      "1,2,3,4,5,6,7,8,9",
      "::ffff:\"1.2.3.4",
      "+\"1\" (2,3)",
      "DE\"89\" 3704",
      "xoxb-\"abc\",",
      std::string(5000, ','),
      "eyJ\"x\".y.z"};
  for (std::size_t i = 0; i < kDetectorCount; ++i) {
    const auto d = static_cast<Detector>(i);
    for (Style s : {Style::kPartial, Style::kRedact, Style::kHash}) {
      for (const std::string& v : values) {
        SCOPED_TRACE(std::string(detector_name(d)) + "/" + std::string(style_name(s)) + ": " + v);
        const std::string r = found(d, s, v);
        EXPECT_TRUE(embeddable(r)) << r;
        if (v.size() >= 8 && s == Style::kPartial) {
          EXPECT_NE(r, v);
        }
      }
    }
  }
  for (Style s : {Style::kPartial, Style::kRedact, Style::kHash}) {
    for (const std::string& v : values) {
      EXPECT_TRUE(embeddable(whole(s, v))) << v;
    }
  }
}

TEST(Styles, MaskingAppendsToExistingOutput) {
  std::string out = "prefix:";
  mask_found(Detector::kEmail, Style::kRedact, "a@b.co", kKey, out);
  mask_whole(Style::kRedact, "x", kKey, out);
  EXPECT_EQ(out, "prefix:[EMAIL][MASKED]");
}

TEST(Styles, PartialKeepsLengthsWhereDocumented) {
  for (const std::string v : {"4111 1111 1111 1111", "123-45-6789", "+44 20 7946 0958",
                              "DE89 3704 0044 0532 0130 00", "AKIAIOSFODNN7EXAMPLE"}) {
    for (Detector d : {Detector::kCreditCard, Detector::kUsSsn, Detector::kPhone, Detector::kIban,
                       Detector::kAwsAccessKey}) {
      EXPECT_EQ(found(d, Style::kPartial, v).size(), v.size()) << v;
    }
  }
  EXPECT_EQ(found(Detector::kEmail, Style::kPartial, "jane.doe@example.com").size(), 20u);
}

}  // namespace
}  // namespace gh::masking
