#include "masking/detectors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace gh::masking {
namespace {

struct Hit {
  std::string value;
  Detector detector;
  bool operator==(const Hit&) const = default;
};

void PrintTo(const Hit& h, std::ostream* os) {
  *os << detector_name(h.detector) << ":\"" << h.value << "\"";
}

std::vector<Engine> engines() {
  std::vector<Engine> e{Engine::kPortable};
  if (Scanner::hyperscan_available()) e.push_back(Engine::kHyperscan);
  return e;
}

std::string engine_label(const ::testing::TestParamInfo<Engine>& info) {
  return info.param == Engine::kPortable ? "portable" : "hyperscan";
}

const Scanner& scanner(Engine e) {
  static std::map<Engine, std::unique_ptr<Scanner>> cache;
  auto& s = cache[e];
  if (!s) {
    auto built = Scanner::build(all_detectors(), e);
    EXPECT_TRUE(built.has_value()) << (built.has_value() ? "" : built.error());
    s = std::move(*built);
  }
  return *s;
}

std::vector<Hit> hits(const Scanner& s, std::string_view text) {
  std::vector<Finding> f;
  s.scan(text, f);
  std::vector<Hit> out;
  for (const Finding& x : f) {
    out.push_back({std::string(text.substr(x.begin, x.end - x.begin)), x.detector});
  }
  return out;
}

// Findings are ordered, non-overlapping, inside the text, and any() agrees.
void expect_well_formed(const Scanner& s, std::string_view text, const std::vector<Finding>& f) {
  for (std::size_t i = 0; i < f.size(); ++i) {
    ASSERT_LT(f[i].begin, f[i].end);
    ASSERT_LE(f[i].end, text.size());
    if (i > 0) {
      ASSERT_LE(f[i - 1].end, f[i].begin);
    }
  }
  ASSERT_EQ(s.any(text), !f.empty());
}

class DetectorsTest : public ::testing::TestWithParam<Engine> {
 protected:
  const Scanner& s() const { return scanner(GetParam()); }
  std::vector<Hit> find(std::string_view text) const {
    std::vector<Finding> f;
    s().scan(text, f);
    expect_well_formed(s(), text, f);
    return hits(s(), text);
  }
  // Each case: text in which exactly `value` is found by `d`.
  void expect_single(const std::vector<std::pair<std::string, std::string>>& cases,
                     Detector d) const {
    for (const auto& [text, value] : cases) {
      SCOPED_TRACE(text);
      EXPECT_EQ(find(text), (std::vector<Hit>{{value, d}}));
    }
  }
  void expect_none(const std::vector<std::string>& texts) const {
    for (const auto& text : texts) {
      SCOPED_TRACE(text);
      EXPECT_EQ(find(text), std::vector<Hit>{});
    }
  }
};

INSTANTIATE_TEST_SUITE_P(Engines, DetectorsTest, ::testing::ValuesIn(engines()), engine_label);

// ---------------------------------------------------------------------------
// Names and building.

TEST(Detectors, NamesAndLabelsRoundTrip) {
  for (std::size_t i = 0; i < kDetectorCount; ++i) {
    const auto d = static_cast<Detector>(i);
    EXPECT_EQ(detector_from_name(detector_name(d)), d);
    EXPECT_FALSE(detector_label(d).empty());
  }
  EXPECT_EQ(detector_name(Detector::kGenericSecret), "generic_secret");
  EXPECT_EQ(detector_label(Detector::kGenericSecret), "SECRET");
  EXPECT_EQ(detector_label(Detector::kCreditCard), "CREDIT_CARD");
  EXPECT_EQ(detector_from_name("Email"), std::nullopt);
  EXPECT_EQ(detector_from_name(""), std::nullopt);
  EXPECT_EQ(all_detectors().count(), kDetectorCount);
}

TEST(Detectors, EngineSelectionIsReported) {
  auto p = Scanner::build(all_detectors(), Engine::kPortable);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ((*p)->engine_name(), "portable");
  auto a = Scanner::build(all_detectors(), Engine::kAuto);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ((*a)->engine_name(), Scanner::hyperscan_available() ? "hyperscan" : "portable");
  auto h = Scanner::build(all_detectors(), Engine::kHyperscan);
  EXPECT_EQ(h.has_value(), Scanner::hyperscan_available());
  if (h.has_value()) {
    EXPECT_EQ((*h)->engine_name(), "hyperscan");
  }
}

TEST_P(DetectorsTest, EmptyDetectorSetFindsNothing) {
  auto built = Scanner::build(DetectorSet{}, GetParam());
  ASSERT_TRUE(built.has_value());
  std::vector<Finding> f;
  (*built)->scan("jane@example.com 4111111111111111", f);
  EXPECT_TRUE(f.empty());
  EXPECT_FALSE((*built)->any("jane@example.com"));
}

TEST_P(DetectorsTest, OnlyConfiguredDetectorsReport) {
  DetectorSet set;
  set.set(static_cast<std::size_t>(Detector::kEmail));
  auto built = Scanner::build(set, GetParam());
  ASSERT_TRUE(built.has_value());
  EXPECT_EQ((*built)->detectors(), set);
  EXPECT_EQ(hits(**built, "jane@example.com 4111111111111111 10.0.0.1"),
            (std::vector<Hit>{{"jane@example.com", Detector::kEmail}}));
}

TEST_P(DetectorsTest, ScanAppendsAndLeavesOutputAloneWhenClean) {
  std::vector<Finding> f{{1, 2, Detector::kJwt}};
  s().scan("nothing to see here", f);
  ASSERT_EQ(f.size(), 1u);
  s().scan("x jane@example.com", f);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[1].begin, 2u);
  EXPECT_EQ(f[1].end, 18u);
}

TEST_P(DetectorsTest, EmptyTextIsClean) {
  EXPECT_TRUE(find("").empty());
  EXPECT_FALSE(s().any(""));
}

// ---------------------------------------------------------------------------
// Email.

TEST_P(DetectorsTest, EmailsAreFound) {
  expect_single({{"jane.doe@example.com", "jane.doe@example.com"},
                 {"Contact: JANE@EXAMPLE.COM.", "JANE@EXAMPLE.COM"},
                 {"<a@b.co>", "a@b.co"},
                 {"john+tag@mail.example.co.uk, thanks", "john+tag@mail.example.co.uk"},
                 {"first_last%x@sub-domain.example.org", "first_last%x@sub-domain.example.org"},
                 {R"({"email":"ops@corp.example.io"})", "ops@corp.example.io"},
                 {"1,x@example.net,2", "x@example.net"},
                 {"mailto:user-name@example.museum?subject=hi", "user-name@example.museum"},
                 {"...jane@example.com", "jane@example.com"},
                 {"id@123.example.com", "id@123.example.com"},
                 {"Jane.Doe@Example.Com", "Jane.Doe@Example.Com"},
                 {"(bob@example.com)", "bob@example.com"}},
                Detector::kEmail);
}

TEST_P(DetectorsTest, EmailsInsideAPostgresArrayAreSeparate) {
  EXPECT_EQ(find("{a@b.com,c@d.org}"),
            (std::vector<Hit>{{"a@b.com", Detector::kEmail}, {"c@d.org", Detector::kEmail}}));
}

TEST_P(DetectorsTest, MalformedEmailsAreNotEmails) {
  expect_none({"user@localhost", "@example.com", "jane@", "jane.@example.com",
               "jane..doe@example.com", "a@b.c", "follow @handle on social", "x@-example.com",
               "foo@bar", "1@2.3", "name@domain.c0m", "@@@@"});
}

// ---------------------------------------------------------------------------
// Credit cards.

TEST_P(DetectorsTest, CreditCardsAreFound) {
  expect_single({{"4111111111111111", "4111111111111111"},
                 {"card 4111 1111 1111 1111 exp", "4111 1111 1111 1111"},
                 {"4111-1111-1111-1111", "4111-1111-1111-1111"},
                 {"card: 5555555555554444,", "5555555555554444"},
                 {"378282246310005", "378282246310005"},
                 {"amex 3782 822463 10005", "3782 822463 10005"},
                 {"6011111111111117", "6011111111111117"},
                 {"jcb=3530111333300000;", "3530111333300000"},
                 {"30569309025904", "30569309025904"},
                 {"6200000000000005", "6200000000000005"},
                 {"4222222222222", "4222222222222"},
                 {"2221000000000009", "2221000000000009"},
                 {R"("4012888888881881")", "4012888888881881"},
                 {"4000000000000000006", "4000000000000000006"},
                 {"5105 1051 0510 5100.", "5105 1051 0510 5100"}},
                Detector::kCreditCard);
}

TEST_P(DetectorsTest, NumbersThatAreNotCardsAreNotCards) {
  expect_none({"4111111111111112",        // Luhn fails
               "1234567812345678",        // no issuer
               "4111 1111-1111 1111",     // mixed separators
               "4111  1111  1111  1111",  // double spaces
               "x4111111111111111",       // glued to a word
               "4111111111111111x",       //
               "41111111111111111",       // a length Visa does not use
               "12345678901234567890",    // too long
               "378282246310005000",      // Amex is 15 digits
               "1705314600123"});         // epoch milliseconds
}

TEST(Detectors, UuidIsNotACreditCard) {
  for (Engine e : engines()) {
    EXPECT_TRUE(hits(scanner(e), "123e4567-e89b-12d3-a456-426614174000").empty());
    EXPECT_TRUE(hits(scanner(e), "id=550e8400-e29b-41d4-a716-446655440000").empty());
    // Digit-only leading groups that happen to pass Luhn with a Maestro prefix.
    EXPECT_TRUE(hits(scanner(e), "request_id=58665678-3481-4147-a16e-9ecd9517f13e").empty());
  }
}

TEST_P(DetectorsTest, UnusualDigitGroupingsAreNotCards) {
  // Luhn-valid Visa numbers, but not grouped the way cards are printed.
  expect_none({"41 1111 1111 1111 11", "4111111 111111111", "411 111 111 111 1111",
               "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"});
}

TEST_P(DetectorsTest, CardNumbersInsideIdentifiersAreNotCards) {
  expect_none({"ref-4111111111111111", "4111111111111111-a1", "txn-4111-1111-1111-1111"});
}

// ---------------------------------------------------------------------------
// US SSN.

TEST_P(DetectorsTest, SsnsAreFound) {
  expect_single({{"123-45-6789", "123-45-6789"},
                 {"SSN 078-05-1120.", "078-05-1120"},
                 {"219 09 9999", "219 09 9999"},
                 {"ssn=536-90-4399;", "536-90-4399"},
                 {R"("772-11-2233")", "772-11-2233"},
                 {"665-12-3456", "665-12-3456"},
                 {"899-99-9999", "899-99-9999"},
                 {"001-01-0001", "001-01-0001"},
                 {"a,123-45-6789,b", "123-45-6789"}},
                Detector::kUsSsn);
}

TEST_P(DetectorsTest, InvalidSsnsAreNotSsns) {
  expect_none({"000-12-3456", "666-12-3456", "900-12-3456", "999-12-3456", "123-00-4567",
               "123-45-0000", "123456789", "123-45-67890", "1123-45-6789", "123-45-6789-12",
               "123-45 6789", "x123-45-6789"});
}

// ---------------------------------------------------------------------------
// Phones.

TEST_P(DetectorsTest, PhonesAreFound) {
  expect_single({{"+1 (555) 123-4567", "+1 (555) 123-4567"},
                 {"+44 20 7946 0958", "+44 20 7946 0958"},
                 {"+49 30 1234567", "+49 30 1234567"},
                 {"+33 1 23 45 67 89", "+33 1 23 45 67 89"},
                 {"+14155552671", "+14155552671"},
                 {"call +1-202-555-0173 now", "+1-202-555-0173"},
                 {"(555) 123-4567", "(555) 123-4567"},
                 {"555-123-4567", "555-123-4567"},
                 {"555.123.4567", "555.123.4567"},
                 {"020 7946 0958", "020 7946 0958"},
                 {"030 1234 5678", "030 1234 5678"},
                 {"06-12345678", "06-12345678"},
                 {"+44 (0)20 7946 0958", "+44 (0)20 7946 0958"},
                 {"1-800-555-1234", "1-800-555-1234"},
                 {"tel:+4930123456,", "+4930123456"},
                 {R"({"phone":"+447911123456"})", "+447911123456"},
                 {"01 23 45 67 89", "01 23 45 67 89"},
                 {"(030)1234567", "(030)1234567"},
                 {"(555)123-4567", "(555)123-4567"}},
                Detector::kPhone);
}

TEST_P(DetectorsTest, DatesTimesAndVersionsAreNotPhones) {
  expect_none({"2024-01-15",
               "10:30:00",
               "2024-01-15 10:30:00.123+01",
               "2024-01-15T10:30:00Z",
               "2024-01-15T10:30:00+01:00",
               "1.2.3",
               "v10.2.1",
               "ORD-2024-000123",
               "1234567890",
               "12345.67",
               "100-200",
               "555-1234",
               "+12",
               "05.06.2024",
               "2024/01/15",
               "Invoice INV-2024-00017",
               "build 20240115.1030",
               "+0100",
               "UTC+05:30",
               "2024-01-15 10:30:00.123456+0000"});
}

// ---------------------------------------------------------------------------
// IBAN.

TEST_P(DetectorsTest, IbansAreFound) {
  expect_single({{"DE89370400440532013000", "DE89370400440532013000"},
                 {"DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00"},
                 {"GB82 WEST 1234 5698 7654 32", "GB82 WEST 1234 5698 7654 32"},
                 {"FR1420041010050500013M02606", "FR1420041010050500013M02606"},
                 {"pay to NL91ABNA0417164300 today", "NL91ABNA0417164300"},
                 {"CH93 0076 2011 6238 5295 7", "CH93 0076 2011 6238 5295 7"},
                 {"NO9386011117947", "NO9386011117947"},
                 {"iban=BE68539007547034;", "BE68539007547034"},
                 {"ES9121000418450200051332", "ES9121000418450200051332"},
                 {R"("IT60X0542811101000000123456")", "IT60X0542811101000000123456"},
                 {"AT611904300234573201", "AT611904300234573201"},
                 {"de89370400440532013000", "de89370400440532013000"}},
                Detector::kIban);
}

TEST_P(DetectorsTest, IdentifiersWithAValidChecksumButNoAccountNumberAreNotIbans) {
  // mod-97 is right, but no national format is letters and digits in pairs.
  expect_none({"GB71WEST12WEST12WEST12", "GB76AB12CD34EF56GH78IJ"});
}

TEST_P(DetectorsTest, InvalidIbansAreNotIbans) {
  expect_none({"DE89370400440532013001", "DE8937040044053201300", "XX89370400440532013000",
               "De89370400440532013000", "xDE89370400440532013000", "DE89 3704 0044 0532 01300 0",
               "DE89  3704 0044 0532 0130 00"});
}

// ---------------------------------------------------------------------------
// IP addresses.

TEST_P(DetectorsTest, IpAddressesAreFound) {
  expect_single(
      {{"192.168.1.1", "192.168.1.1"},
       {"host 10.0.0.1:5432", "10.0.0.1"},
       {"8.8.8.8,", "8.8.8.8"},
       {"255.255.255.255", "255.255.255.255"},
       {"0.0.0.0", "0.0.0.0"},
       {"(172.16.254.3)", "172.16.254.3"},
       {"ip=192.0.2.44.", "192.0.2.44"},
       {"::1", "::1"},
       {"fe80::1%eth0", "fe80::1"},
       {"2001:db8::8a2e:370:7334", "2001:db8::8a2e:370:7334"},
       {"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
       {"2001:0db8:85a3:0000:0000:8a2e:0370:7334", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"},
       {"[2001:db8::1]:443", "2001:db8::1"},
       {"addr:fe80::1", "fe80::1"},
       {"from 10.1.2.3/24", "10.1.2.3"}},
      Detector::kIpAddress);
}

TEST_P(DetectorsTest, VersionsTimesAndMacsAreNotIpAddresses) {
  expect_none({"1.2.3.4.5", "v1.2.3.4", "V1.2.3.4", "1.2.3", "256.1.1.1", "01.2.3.4", "1.2.3.04",
               "10:30:00", "00:1a:2b:3c:4d:5e", "::", "std::string", "a::b", "Foo::Bar",
               "12:34:56:78", "1.2.3.4a", "x10.0.0.1", "1.2.3.4.5.6.7.8"});
}

// ---------------------------------------------------------------------------
// JWT.

constexpr const char* kJwt =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwia"
    "WF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

TEST_P(DetectorsTest, JwtsAreFound) {
  const std::string jwt = kJwt;
  const std::string none = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjMifQ.";
  expect_single({{jwt, jwt},
                 {"Authorization: Bearer " + jwt, jwt},
                 {R"({"id_token":")" + jwt + R"("})", jwt},
                 {"t=" + jwt + "&next=1", jwt},
                 {none, none},
                 {"token " + none + " end", none},
                 {"'" + jwt + "'", jwt},
                 {"(" + jwt + ")", jwt}},
                Detector::kJwt);
}

TEST_P(DetectorsTest, NearJwtsAreNotJwts) {
  expect_none({"eyJhbGciOiJIUzI1NiJ9", "eyJabc.eyJdef.ghi", "abc.def.ghi",
               "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ",
               "xeyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig"});
}

// ---------------------------------------------------------------------------
// AWS access keys.

TEST_P(DetectorsTest, AwsAccessKeysAreFound) {
  expect_single({{"AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"},
                 {"aws_access_key_id=AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"},
                 {"ASIAUJZDE8GXD6NCF10E", "ASIAUJZDE8GXD6NCF10E"},
                 {R"("AROAPF91DHODZDOC9IS0")", "AROAPF91DHODZDOC9IS0"},
                 {"ABIAJ8HT9LGMXG9EDN58,", "ABIAJ8HT9LGMXG9EDN58"},
                 {"key AIDA1U33XTPLPFT75V2S.", "AIDA1U33XTPLPFT75V2S"},
                 {"AGPAABCDEFGHIJKLMNOP", "AGPAABCDEFGHIJKLMNOP"},
                 {"x_ANPA0123456789ABCDEF_y", "ANPA0123456789ABCDEF"}},
                Detector::kAwsAccessKey);
}

TEST_P(DetectorsTest, NearAwsKeysAreNotKeys) {
  expect_none({"AKIAIOSFODNN7EXAMPL", "AKIAIOSFODNN7EXAMPLEX", "AKIAiosfodnn7example",
               "XAKIAIOSFODNN7EXAMPLE", "AKIBIOSFODNN7EXAMPLE"});
}

// ---------------------------------------------------------------------------
// Private keys.

TEST_P(DetectorsTest, PrivateKeyBlocksAreFound) {
  const std::string rsa =
      "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1\nabc=\n-----END RSA PRIVATE KEY-----";
  const std::string ec = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----";
  const std::string plain = "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----";
  const std::string ssh =
      "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==\n-----END OPENSSH PRIVATE KEY-----";
  const std::string enc =
      "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHz\n-----END ENCRYPTED PRIVATE KEY-----";
  const std::string dsa = "-----BEGIN DSA PRIVATE KEY-----\nMIIBuw\n-----END DSA PRIVATE KEY-----";
  expect_single({{rsa, rsa},
                 {"key:\n" + ec + "\nrest", ec},
                 {plain, plain},
                 {ssh, ssh},
                 {enc, enc},
                 {dsa, dsa},
                 {R"({"k":")" + plain + R"("})", plain},
                 {"x " + rsa + " y", rsa}},
                Detector::kPrivateKey);
}

TEST_P(DetectorsTest, PrivateKeyWithoutEndIsMaskedToTheEnd) {
  const std::string text = "before -----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAKCAQEA1 and on";
  EXPECT_EQ(find(text), (std::vector<Hit>{{text.substr(7), Detector::kPrivateKey}}));
}

TEST_P(DetectorsTest, TwoPrivateKeysAreTwoFindings) {
  const std::string a = "-----BEGIN PRIVATE KEY-----\nAAA\n-----END PRIVATE KEY-----";
  const std::string b = "-----BEGIN EC PRIVATE KEY-----\nBBB\n-----END EC PRIVATE KEY-----";
  EXPECT_EQ(find(a + "\n" + b),
            (std::vector<Hit>{{a, Detector::kPrivateKey}, {b, Detector::kPrivateKey}}));
}

TEST_P(DetectorsTest, PublicKeysAndCertificatesAreNotPrivateKeys) {
  expect_none({"-----BEGIN PUBLIC KEY-----\nMFkwEw\n-----END PUBLIC KEY-----",
               "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
               "BEGIN RSA PRIVATE KEY"});
}

// ---------------------------------------------------------------------------
// Generic secrets.

TEST_P(DetectorsTest, WellKnownTokensAreFound) {
  const std::vector<std::string> tokens = {
      "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
      "ghs_khvMdgaKjIg8xNbe3nNyjOq9wMxEhh2FDEEt",
      "github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyz0123456789ABCDEF",
      "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
      "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
      "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
      "sk-proj-abcdefghijklmnop1234567890ABCDEF",
      "sk-abcdefghij0123456789ABCDEFGHIJ",
      "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI",
      "glpat-aB3dE6gH9jK2mN5pQ8sT",
      "npm_MehGAkWvj7FAc9QeWJKY40uvSwMFLZDe1f8r",
      "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",
  };
  std::vector<std::pair<std::string, std::string>> cases;
  for (const auto& t : tokens) {
    cases.push_back({t, t});
    cases.push_back({"token: " + t + "\n", t});
    cases.push_back({R"({"k":")" + t + R"("})", t});
  }
  expect_single(cases, Detector::kGenericSecret);
}

TEST_P(DetectorsTest, BearerTokenIsFoundWithoutTheScheme) {
  expect_single({{"Authorization: Bearer abcdef0123456789ABCDEF", "abcdef0123456789ABCDEF"},
                 {"authorization: bearer mF_9.B5f-4.1JqM/abc=", "mF_9.B5f-4.1JqM/abc="}},
                Detector::kGenericSecret);
}

TEST_P(DetectorsTest, AssignedSecretsAreFoundAsValuesOnly) {
  expect_single({{"password=hunter22", "hunter22"},
                 {R"("api_key": "abcd1234efgh")", "abcd1234efgh"},
                 {"DB_PASSWORD='s3cr3t-v4lue'", "s3cr3t-v4lue"},
                 {"https://api.example.test/cb?token=abcdef123456&x=1", "abcdef123456"},
                 {"postgres://user:s3cretpw@host/db", "s3cretpw"},
                 {"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                  "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
                 {"client_secret: 9f8e7d6c5b4a", "9f8e7d6c5b4a"},
                 {"Pwd = Tr0ub4dor&3", "Tr0ub4dor"},
                 {R"(secret_key="ab\"cdefg")", R"(ab\"cdefg)"},
                 {"x-api-key: q1w2e3r4t5y6", "q1w2e3r4t5y6"},
                 {"spring.datasource.password=changeme1", "changeme1"},
                 {"apiKey=ZXhhbXBsZQ", "ZXhhbXBsZQ"},
                 {"refresh_token=rt_0123456789;", "rt_0123456789"},
                 {"PASSWORD: correct horse battery", "correct"},
                 {R"("password" : "correct horse battery")", "correct horse battery"},
                 {"mysql://root:p4ss@db.internal:3306/app", "p4ss"}},
                Detector::kGenericSecret);
}

TEST_P(DetectorsTest, NonSecretsAreNotSecrets) {
  expect_none({"password=", R"("password": null)", "password=********", "sk-learn",
               "the token is here", "ghp_short", "Bearer abc", "http://example.com:8080/path",
               "tokens=12345678", "mytoken=abcdef123", "password_hash_algo", "token_type=bearer",
               "sk-this-is-not-a-secret-slug", "https://user@example.com/"});
}

// ---------------------------------------------------------------------------
// False positives in ordinary data.

TEST_P(DetectorsTest, OrdinaryDataIsClean) {
  expect_none({
      "123e4567-e89b-12d3-a456-426614174000",
      "2024-01-15 10:30:00.123+01",
      "2024-01-15T10:30:00Z",
      "1705314600",
      "v2.14.3",
      "1.2.3",
      "ORD-2024-000123",
      "INV-000123-2024",
      "invoice #2024-0042",
      "9fceb02d0ae598e95dc970b74767f19372d61af8",
      "commit 9fceb02",
      "42",
      "1234567890",
      "9876543210123",
      "$1,299.99",
      "EUR 12345.67",
      "100-200",
      "The quick brown fox jumps over the lazy dog. Please restart the service, then check.",
      "SELECT id, name FROM users WHERE id = 42 AND created_at > '2024-01-15'",
      R"({"id":42,"amount":1999,"currency":"EUR","status":"paid","ts":"2024-01-15T10:30:00Z"})",
      "INFO 2024-01-15 10:30:00,123 [main] request_id=7f3a2b1c duration_ms=35 status=200",
      "lat 52.520008 lon 13.404954",
      "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      "std::vector<std::string>",
      "a1b2c3d4e5f6",
      "0x7fff5fbff8a8",
  });
}

// ---------------------------------------------------------------------------
// Boundaries and containers.

TEST_P(DetectorsTest, ValuesAtTheEdgesOfTheTextAreFound) {
  EXPECT_EQ(find("jane@example.com and 4111111111111111"),
            (std::vector<Hit>{{"jane@example.com", Detector::kEmail},
                              {"4111111111111111", Detector::kCreditCard}}));
  EXPECT_EQ(find("10.0.0.1"), (std::vector<Hit>{{"10.0.0.1", Detector::kIpAddress}}));
}

TEST_P(DetectorsTest, CsvLineYieldsEachField) {
  EXPECT_EQ(find("1,jane@example.com,555-123-4567,4111111111111111,123-45-6789\n"),
            (std::vector<Hit>{{"jane@example.com", Detector::kEmail},
                              {"555-123-4567", Detector::kPhone},
                              {"4111111111111111", Detector::kCreditCard},
                              {"123-45-6789", Detector::kUsSsn}}));
}

TEST_P(DetectorsTest, JsonDocumentYieldsEachValue) {
  const std::string doc =
      R"({"email":"JANE@EXAMPLE.COM","ip":"192.168.0.10","card":"4111 1111 1111 1111",)"
      R"("iban":"DE89370400440532013000","aws":"AKIAIOSFODNN7EXAMPLE"})";
  EXPECT_EQ(find(doc), (std::vector<Hit>{{"JANE@EXAMPLE.COM", Detector::kEmail},
                                         {"192.168.0.10", Detector::kIpAddress},
                                         {"4111 1111 1111 1111", Detector::kCreditCard},
                                         {"DE89370400440532013000", Detector::kIban},
                                         {"AKIAIOSFODNN7EXAMPLE", Detector::kAwsAccessKey}}));
}

TEST_P(DetectorsTest, OverlapsKeepTheEarliestLongestFinding) {
  // An IPv4-mapped IPv6 address contains an IPv4 address.
  EXPECT_EQ(find("::ffff:10.0.0.1"), (std::vector<Hit>{{"::ffff:10.0.0.1", Detector::kIpAddress}}));
  // An international number contains a national one.
  EXPECT_EQ(find("+1 555-123-4567"), (std::vector<Hit>{{"+1 555-123-4567", Detector::kPhone}}));
  // A card number assigned to a secret-looking key is reported once.
  EXPECT_EQ(find("token=4111111111111111"),
            (std::vector<Hit>{{"4111111111111111", Detector::kCreditCard}}));
}

TEST_P(DetectorsTest, UppercaseValuesAreFound) {
  EXPECT_EQ(find("MAIL JOHN.SMITH@EXAMPLE.ORG NOW"),
            (std::vector<Hit>{{"JOHN.SMITH@EXAMPLE.ORG", Detector::kEmail}}));
  EXPECT_EQ(find("FE80::ABCD:1"), (std::vector<Hit>{{"FE80::ABCD:1", Detector::kIpAddress}}));
  EXPECT_EQ(find("PASSWORD=HUNTER22"), (std::vector<Hit>{{"HUNTER22", Detector::kGenericSecret}}));
}

TEST_P(DetectorsTest, NonAsciiTextAroundValuesIsHarmless) {
  EXPECT_EQ(find("Grüße an jürgen@example.de — 4111111111111111 ✓"),
            (std::vector<Hit>{{"jürgen@example.de", Detector::kEmail},
                              {"4111111111111111", Detector::kCreditCard}}));
  std::string bytes = "\xff\xfe";
  bytes.push_back('\0');
  bytes += "\x80 jane@example.com";
  bytes.push_back('\0');
  bytes += "\xc3";
  EXPECT_EQ(find(bytes), (std::vector<Hit>{{"jane@example.com", Detector::kEmail}}));
}

// ---------------------------------------------------------------------------
// Both engines agree.

std::string fragment(std::mt19937& rng) {
  static const std::vector<std::string> kPieces = {
      "jane.doe@example.com",
      "JANE@EXAMPLE.COM",
      "4111 1111 1111 1111",
      "4111111111111111",
      "5555-5555-5555-4444",
      "123-45-6789",
      "+1 (555) 123-4567",
      "555.123.4567",
      "020 7946 0958",
      "DE89 3704 0044 0532 0130 00",
      "GB82WEST12345698765432",
      "192.168.1.1",
      "fe80::1%eth0",
      "::ffff:192.0.2.1",
      kJwt,
      "AKIAIOSFODNN7EXAMPLE",
      "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
      "-----BEGIN PRIVATE KEY-----",
      "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
      "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
      "password=hunter22",
      "\"api_key\": \"abcd1234efgh\"",
      "postgres://u:pw@h/db",
      "Bearer abcdef0123456789ABCDEF",
      "123e4567-e89b-12d3-a456-426614174000",
      "2024-01-15 10:30:00.123+01",
      "2024-01-15T10:30:00Z",
      "v1.2.3.4",
      "1.2.3.4.5",
      "ORD-2024-000123",
      "12345.67",
      "00:1a:2b:3c:4d:5e",
      "std::string",
      "the quick brown fox",
      "{a@b.com,c@d.org}",
      "token=",
      "eyJ",
      "@",
      ":",
      ".",
      "-",
      "+",
      "(",
      ")",
      " ",
      ",",
      "\n",
      "\"",
      "'",
      "=",
      "0",
      "1",
      "9",
      "AKIA",
      "sk-",
      "SG.",
      "://",
      "xoxb-",
      "DE89",
      "::",
      "+44",
      "06-",
      "555-"};
  return kPieces[rng() % kPieces.size()];
}

std::string noise(std::mt19937& rng, std::size_t n) {
  static const std::string kAlphabets[] = {"0123456789 -",
                                           "0123456789.:",
                                           "0123456789abcdefABCDEF:.%",
                                           "aA0@._-+%",
                                           "0123456789 +().-",
                                           "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ",
                                           "eyJ._-abcXYZ019",
                                           "=:\"' passwordtokenPWDsecret_-ab12&;,"};
  const std::string& a = kAlphabets[rng() % std::size(kAlphabets)];
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s.push_back(a[rng() % a.size()]);
  return s;
}

TEST(Detectors, BothEnginesAgreeOnAGeneratedCorpus) {
  if (!Scanner::hyperscan_available()) GTEST_SKIP() << "one engine only";
  const Scanner& p = scanner(Engine::kPortable);
  const Scanner& h = scanner(Engine::kHyperscan);
  std::mt19937 rng(20240115);
  std::size_t total_findings = 0;
  for (int doc = 0; doc < 3000; ++doc) {
    std::string text;
    const int parts = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < parts; ++i) {
      text += (rng() % 3 == 0) ? noise(rng, rng() % 40) : fragment(rng);
    }
    std::vector<Finding> fp, fh;
    p.scan(text, fp);
    h.scan(text, fh);
    ASSERT_EQ(hits(p, text), hits(h, text)) << text;
    expect_well_formed(p, text, fp);
    expect_well_formed(h, text, fh);
    total_findings += fp.size();
  }
  EXPECT_GT(total_findings, 1000u);
}

TEST(Detectors, BothEnginesAgreeOnEveryTestCase) {
  if (!Scanner::hyperscan_available()) GTEST_SKIP() << "one engine only";
  // Every fragment of the corpus, alone and glued to its neighbours.
  std::mt19937 rng(7);
  std::vector<std::string> pieces;
  for (int i = 0; i < 400; ++i) pieces.push_back(fragment(rng));
  for (std::size_t i = 0; i + 1 < pieces.size(); ++i) {
    for (const std::string& text : {pieces[i], pieces[i] + pieces[i + 1]}) {
      ASSERT_EQ(hits(scanner(Engine::kPortable), text), hits(scanner(Engine::kHyperscan), text))
          << text;
    }
  }
}

// ---------------------------------------------------------------------------
// Adversarial inputs stay linear.

TEST_P(DetectorsTest, MegabyteRunsOfDigitsAtSignsAndColonsScanQuickly) {
  for (char c : {'0', '4', '@', ':'}) {
    const std::string text(std::size_t{1} << 20, c);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<Finding> f;
    s().scan(text, f);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    EXPECT_TRUE(f.empty()) << c;
    EXPECT_FALSE(s().any(text)) << c;
    EXPECT_LT(ms, 15000) << c << " took " << ms << " ms";
  }
}

TEST_P(DetectorsTest, PathologicalInputsScanQuickly) {
  const std::size_t n = 1 << 18;
  auto repeat = [n](std::string_view unit) {
    std::string s;
    s.reserve(n + unit.size());
    while (s.size() < n) s.append(unit);
    return s;
  };
  const std::vector<std::string> inputs = {
      std::string(n, '0'),
      std::string(n, '4'),
      std::string(n, '@'),
      std::string(n, ':'),
      std::string(n, '.'),
      std::string(n, 'a'),
      std::string(n, ' '),
      std::string(n, '-'),
      std::string(n, '+'),
      std::string(n, '('),
      repeat("1."),
      repeat("1 "),
      repeat("1-"),
      repeat("a@b."),
      repeat("a@"),
      repeat("0 "),
      repeat("+1 "),
      repeat("12:"),
      repeat("ff::"),
      repeat("eyJ"),
      repeat("eyJhbGciOiJ."),
      repeat("AKIA"),
      repeat("sk-"),
      repeat("token="),
      repeat("password=\""),
      repeat("://"),
      repeat("a:b@"),
      repeat("-----BEGIN PRIVATE KEY-----\n"),
      repeat("DE89 "),
      repeat("4111 "),
      repeat("123-45-"),
      repeat("Bearer "),
      repeat("x@example.com,"),
      repeat("4111111111111111 "),
      repeat("1:"),
      repeat("a1:"),
      repeat("(555) "),
      repeat("01 "),
      repeat("12345678 "),
      repeat("1.2.3.4."),
      repeat("1 1-"),
      repeat("0(1)2 "),
      repeat("123.45."),
  };
  for (const std::string& text : inputs) {
    SCOPED_TRACE(text.substr(0, 24));
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<Finding> f;
    s().scan(text, f);
    const bool any = s().any(text);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    EXPECT_EQ(any, !f.empty());
    // Generous for sanitizer builds on a shared machine; linear scans take
    // a small fraction of this.
    EXPECT_LT(ms, 15000) << "took " << ms << " ms";
  }
}

TEST(Detectors, EnginesAgreeOnPathologicalInputs) {
  if (!Scanner::hyperscan_available()) GTEST_SKIP() << "one engine only";
  const std::size_t n = 1 << 16;
  for (std::string_view unit :
       {"1 ", "a@b.", "ff::", "token=", "+1 ", "-----BEGIN PRIVATE KEY-----\n", "4111 ",
        "x@example.com,", "1.", "sk-a1", "eyJhbGciOiJ."}) {
    std::string text;
    while (text.size() < n) text.append(unit);
    ASSERT_EQ(hits(scanner(Engine::kPortable), text), hits(scanner(Engine::kHyperscan), text))
        << unit;
  }
}

// ---------------------------------------------------------------------------
// Concurrency.

TEST_P(DetectorsTest, ScansFromManyThreadsAgree) {
  const std::string text =
      "a jane@example.com b 4111111111111111 c 10.0.0.1 d " + std::string(kJwt);
  const auto expected = hits(s(), text);
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      int good = 0;
      for (int i = 0; i < 200; ++i) good += hits(s(), text) == expected ? 1 : 0;
      ok[static_cast<std::size_t>(t)] = good;
    });
  }
  for (auto& th : threads) th.join();
  for (int good : ok) EXPECT_EQ(good, 200);
}

TEST_P(DetectorsTest, SeveralScannersShareAThread) {
  DetectorSet emails;
  emails.set(static_cast<std::size_t>(Detector::kEmail));
  auto small = Scanner::build(emails, GetParam());
  ASSERT_TRUE(small.has_value());
  const std::string text = "jane@example.com 4111111111111111";
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(hits(**small, text).size(), 1u);
    EXPECT_EQ(hits(s(), text).size(), 2u);
    auto fresh = Scanner::build(all_detectors(), GetParam());
    ASSERT_TRUE(fresh.has_value());
    EXPECT_EQ(hits(**fresh, text).size(), 2u);
  }
}

}  // namespace
}  // namespace gh::masking
