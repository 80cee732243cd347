// The upstream startup state machine: which server messages make the gateway authenticated,
// and which refuse the session. Security tests are named for the bypass they prevent; the
// *FuzzRegression tests are inputs fuzz/fuzz_pg_upstream_startup.cc found.
#include <gtest/gtest.h>

#include <string>

#include "wire/pg/tests/fixtures.h"
#include "wire/pg/upstream_startup.h"

namespace gh::wire::pg {
namespace {

using namespace std::string_literals;

// RFC 7677's exchange as PostgreSQL runs it (see auth_test.cc): password "pencil".
constexpr std::string_view kNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kServerFinal = "v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=";

std::vector<std::uint8_t> message(char type, std::string_view body) {
  std::vector<std::uint8_t> m{static_cast<std::uint8_t>(type)};
  const auto len = static_cast<std::uint32_t>(body.size() + 4);
  for (int shift : {24, 16, 8, 0}) m.push_back(static_cast<std::uint8_t>(len >> shift));
  m.insert(m.end(), body.begin(), body.end());
  return m;
}

std::vector<std::uint8_t> auth(std::uint8_t code, std::string_view data = {}) {
  return message('R', "\0\0\0"s + static_cast<char>(code) + std::string(data));
}

const auto kReady = message('Z', "I");
const auto kOk = auth(0);

struct Exchange {
  UpstreamStartup startup;
  explicit Exchange(AuthMethods allowed, std::string password = "pencil")
      : startup("gatehouse", std::move(password), allowed, std::string(kNonce), 4096) {}
  Expected<StartupStep, StartupFailure> feed(const std::vector<std::uint8_t>& m) {
    Buffer out;
    return startup.on_message(m, out);
  }
};

constexpr AuthMethods kScramOnly{.scram_sha_256 = true};
constexpr AuthMethods kAll{.password = true, .md5 = true, .scram_sha_256 = true};

TEST(UpstreamStartup, ScramWithTheServersProofIsReady) {
  Exchange r(kScramOnly);
  ASSERT_TRUE(r.feed(auth(10, "SCRAM-SHA-256\0\0"s)));
  ASSERT_TRUE(r.feed(auth(11, kServerFirst)));
  ASSERT_TRUE(r.feed(auth(12, kServerFinal)));
  ASSERT_TRUE(r.feed(kOk));
  EXPECT_TRUE(r.startup.authenticated());
  auto ready = r.feed(kReady);
  ASSERT_TRUE(ready);
  EXPECT_EQ(*ready, StartupStep::kReady);
}

TEST(UpstreamStartup, ReadyForQueryWithoutAuthenticationIsRefused) {
  Exchange r(kAll);
  auto ready = r.feed(kReady);
  ASSERT_FALSE(ready);
  EXPECT_EQ(ready.error().for_client, "authentication failed");
}

TEST(UpstreamStartup, ReadyForQuerySkippingTheScramProofIsRefused) {
  Exchange r(kScramOnly);
  ASSERT_TRUE(r.feed(auth(10, "SCRAM-SHA-256\0\0"s)));
  ASSERT_TRUE(r.feed(auth(11, kServerFirst)));
  EXPECT_FALSE(r.feed(kReady));
}

TEST(UpstreamStartup, AuthenticationOkWithoutTheScramProofIsRefused) {
  Exchange r(kScramOnly);
  ASSERT_TRUE(r.feed(auth(10, "SCRAM-SHA-256\0\0"s)));
  ASSERT_TRUE(r.feed(auth(11, kServerFirst)));
  EXPECT_FALSE(r.feed(kOk));
}

TEST(UpstreamStartup, ForgedServerFinalIsRefused) {
  Exchange r(kScramOnly);
  ASSERT_TRUE(r.feed(auth(10, "SCRAM-SHA-256\0\0"s)));
  ASSERT_TRUE(r.feed(auth(11, kServerFirst)));
  EXPECT_FALSE(r.feed(auth(12, "v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOh=")));
  EXPECT_FALSE(r.startup.authenticated());
}

TEST(UpstreamStartup, AuthenticationOkWithoutExchangeNeedsTrust) {
  Exchange refused(kAll);
  EXPECT_FALSE(refused.feed(kOk));
  Exchange trusted(AuthMethods{.trust = true});
  ASSERT_TRUE(trusted.feed(kOk));
  EXPECT_TRUE(trusted.feed(kReady));
}

TEST(UpstreamStartup, CleartextAfterAuthenticationOkIsRefused) {
  Exchange r(AuthMethods{.trust = true, .password = true});
  ASSERT_TRUE(r.feed(kOk));
  Buffer out;
  EXPECT_FALSE(r.startup.on_message(auth(3), out));
  EXPECT_TRUE(out.empty()) << "the password was sent after the session was authenticated";
}

TEST(UpstreamStartup, DowngradeToCleartextDuringScramIsRefused) {
  Exchange r(kAll);
  ASSERT_TRUE(r.feed(auth(10, "SCRAM-SHA-256\0\0"s)));
  Buffer out;
  EXPECT_FALSE(r.startup.on_message(auth(3), out));
  EXPECT_TRUE(out.empty());
}

TEST(UpstreamStartup, MethodsTheConnectionDoesNotAllowAreRefused) {
  EXPECT_FALSE(Exchange(kScramOnly).feed(auth(3)));
  EXPECT_FALSE(Exchange(kScramOnly).feed(auth(5, "salt")));
  EXPECT_FALSE(Exchange(AuthMethods{.md5 = true}).feed(auth(10, "SCRAM-SHA-256\0\0"s)));
}

TEST(UpstreamStartup, BackendKeyAndParametersAreKept) {
  Exchange r(AuthMethods{.password = true});
  ASSERT_TRUE(r.feed(auth(3)));
  ASSERT_TRUE(r.feed(kOk));
  const auto status = message('S', "TimeZone\0UTC\0"s);
  ASSERT_TRUE(r.feed(status));
  ASSERT_TRUE(r.feed(message('K', "\0\0\0\x07\0\0\0\x09"s)));
  ASSERT_TRUE(r.feed(message('Z', "T")));
  EXPECT_EQ(r.startup.parameter_status(), status);
  EXPECT_EQ(r.startup.pid(), 7);
  EXPECT_EQ(r.startup.secret(), 9);
  EXPECT_EQ(r.startup.transaction_status(), 'T');
}

// A server that echoes the gateway's password in its ErrorResponse: the password went into the
// operator's log with the server's words.
TEST(UpstreamStartupFuzzRegression, ServerEchoingThePasswordDoesNotPutItInTheLog) {
  Exchange r(kAll, "Upstream-Pass-7f3q");
  auto refused = r.feed(message('E', "SFATAL\0C28P01\0Mbad Upstream-Pass-7f3q!\0\0"s));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().for_log.find("Upstream-Pass-7f3q"), std::string::npos);
  EXPECT_NE(refused.error().for_log.find("[password]"), std::string::npos);
  EXPECT_EQ(refused.error().for_client, "the gateway's credential was refused (SQLSTATE 28P01)");
}

// The server's SQLSTATE field is its text: only a well-formed code is shown to the client.
TEST(UpstreamStartup, MalformedSqlstateIsNotPassedToTheClient) {
  Exchange r(kAll);
  auto refused = r.feed(message('E', "SFATAL\0C28\n<script>\0Mx\0\0"s));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().for_client, "the gateway's credential was refused (SQLSTATE unknown)");
}

}  // namespace
}  // namespace gh::wire::pg
