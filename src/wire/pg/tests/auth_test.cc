// MD5 and SCRAM-SHA-256 client authentication.
#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <string>

#include "wire/pg/auth.h"

namespace gh::wire::pg {
namespace {

using namespace std::string_literals;

// RFC 7677 §3 test vector.
constexpr std::string_view kRfcNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kRfcClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kRfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

// The same exchange as PostgreSQL runs it: "n=" empty, so the AuthMessage (and with it proof
// and signature) differ. Computed independently with Python's hashlib/hmac:
//   pbkdf2_hmac('sha256', b'pencil', b64decode(salt), 4096), then RFC 5802 §3 over
//   "n=,r=<nonce>,<server-first>,c=biws,r=<full nonce>".
constexpr std::string_view kPgClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=qvT2SWdEH5Q06albL+hjSYuUhCG7VndFyzIb7CK4n9k=";
constexpr std::string_view kPgServerFinal = "v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=";

std::string md5_hex(std::string_view s) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), d, &n, EVP_md5(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    constexpr char kHex[] = "0123456789abcdef";
    out += kHex[d[i] >> 4];
    out += kHex[d[i] & 0xF];
  }
  return out;
}

TEST(Md5PasswordTest, KnownVector) {
  // python3 -c 'import hashlib; m=lambda b: hashlib.md5(b).hexdigest();
  //   print("md5"+m(m(b"secret"+b"postgres").encode()+b"\x01\x02\x03\x04"))'
  EXPECT_EQ(md5_password_response("postgres", "secret", "\x01\x02\x03\x04"),
            "md5bb41a296aab6baccb36ff243a562abff");
  EXPECT_EQ(md5_password_response("user", "pencil", "\xde\xad\xbe\xef"),
            "md50f5b636d891e9860623ac8ca91fc9dfc");
}

TEST(Md5PasswordTest, MatchesTheDefinitionWithABinarySalt) {
  std::string salt = "\x00\xff\x10\x00"s;
  EXPECT_EQ(md5_password_response("u", "p", salt), "md5" + md5_hex(md5_hex("pu") + salt));
}

TEST(ScramTest, Rfc7677VectorWithNamedUser) {
  auto client = ScramSha256Client::with_username("user", "pencil", std::string(kRfcNonce));
  EXPECT_EQ(client.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  auto final_message = client.client_final(kRfcServerFirst);
  ASSERT_TRUE(final_message) << final_message.error();
  EXPECT_EQ(*final_message, kRfcClientFinal);
  auto verified = client.verify_server_final(kRfcServerFinal);
  EXPECT_TRUE(verified) << verified.error();
}

TEST(ScramTest, PostgresExchangeSendsEmptyUsername) {
  ScramSha256Client client("pencil", std::string(kRfcNonce));
  EXPECT_EQ(client.client_first(), "n,,n=,r=rOprNGfwEbeRWgbNEkqO");
  auto final_message = client.client_final(kRfcServerFirst);
  ASSERT_TRUE(final_message) << final_message.error();
  EXPECT_EQ(*final_message, kPgClientFinal);
  EXPECT_TRUE(client.verify_server_final(kPgServerFinal));
  // The RFC's signature is for a different AuthMessage.
  EXPECT_FALSE(client.verify_server_final(kRfcServerFinal));
}

TEST(ScramTest, UsernameIsEscaped) {
  auto client = ScramSha256Client::with_username("a,b=c", "pw", "nonce");
  EXPECT_EQ(client.client_first(), "n,,n=a=2Cb=3Dc,r=nonce");
}

TEST(ScramTest, RandomNonceIsBase64Of18Bytes) {
  ScramSha256Client a("pw"), b("pw");
  std::string first_a = a.client_first(), first_b = b.client_first();
  ASSERT_TRUE(first_a.starts_with("n,,n=,r="));
  EXPECT_EQ(first_a.size(), 8u + 24u);
  EXPECT_NE(first_a, first_b);
  EXPECT_EQ(first_a.find_first_of(",=", 8), std::string::npos);
}

Expected<std::string> final_for(std::string_view server_first) {
  ScramSha256Client client("pencil", std::string(kRfcNonce));
  client.client_first();
  return client.client_final(server_first);
}

TEST(ScramTest, RefusesBadServerFirst) {
  const std::string salt = "s=W22ZaJ0SNY7soEsUEjb6gQ==";
  const std::string nonce = "r=rOprNGfwEbeRWgbNEkqOsrv";
  struct Case {
    std::string why, message;
  };
  for (const auto& c : std::vector<Case>{
           {"empty", ""},
           {"nonce not extended", "r=rOprNGfwEbeRWgbNEkqO," + salt + ",i=4096"},
           {"nonce not ours", "r=XOprNGfwEbeRWgbNEkqOsrv," + salt + ",i=4096"},
           {"nonce shorter", "r=rOprNG," + salt + ",i=4096"},
           {"nonce unprintable", "r=rOprNGfwEbeRWgbNEkqO\x7f," + salt + ",i=4096"},
           {"mandatory extension", "m=ext," + nonce + "," + salt + ",i=4096"},
           {"bad base64", nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096"},
           {"bad base64 char", nonce + ",s=W22ZaJ0S*Y7soEsUEjb6gQ==,i=4096"},
           {"empty salt", nonce + ",s=,i=4096"},
           {"zero iterations", nonce + "," + salt + ",i=0"},
           {"negative iterations", nonce + "," + salt + ",i=-1"},
           {"empty iterations", nonce + "," + salt + ",i="},
           {"iterations not a number", nonce + "," + salt + ",i=4k"},
           {"too many iterations", nonce + "," + salt + ",i=10000001"},
           {"huge iterations", nonce + "," + salt + ",i=99999999999999999999999"},
           {"out of order", salt + "," + nonce + ",i=4096"},
           {"missing iterations", nonce + "," + salt},
           {"trailing attribute", nonce + "," + salt + ",i=4096,x=1"},
           {"trailing comma", nonce + "," + salt + ",i=4096,"},
       }) {
    auto r = final_for(c.message);
    EXPECT_FALSE(r) << c.why;
  }
}

TEST(ScramTest, IterationLimitIsInclusiveAndAdjustable) {
  ScramSha256Client client("pencil", std::string(kRfcNonce));
  client.set_max_iterations(4096);
  client.client_first();
  EXPECT_TRUE(client.client_final(kRfcServerFirst));
  client.set_max_iterations(4095);
  EXPECT_FALSE(client.client_final(kRfcServerFirst));
}

TEST(ScramTest, OrderOfStepsIsEnforced) {
  ScramSha256Client client("pencil", std::string(kRfcNonce));
  EXPECT_FALSE(client.client_final(kRfcServerFirst));        // before client_first
  EXPECT_FALSE(client.verify_server_final(kPgServerFinal));  // before client_final
}

TEST(ScramTest, ServerErrorCarriesTheReason) {
  ScramSha256Client client("pencil", std::string(kRfcNonce));
  client.client_first();
  ASSERT_TRUE(client.client_final(kRfcServerFirst));
  auto r = client.verify_server_final("e=invalid-proof");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("invalid-proof"), std::string::npos);
}

TEST(ScramTest, RefusesBadServerFinal) {
  ScramSha256Client client("pencil", std::string(kRfcNonce));
  client.client_first();
  ASSERT_TRUE(client.client_final(kRfcServerFirst));
  for (std::string bad : {""s, "v="s, "v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg"s,
                          "v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOh="s,
                          "v=4HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg="s,
                          "v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=,x=1"s,
                          "v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBt"s, "x=abc"s}) {
    EXPECT_FALSE(client.verify_server_final(bad)) << bad;
  }
  EXPECT_TRUE(client.verify_server_final(kPgServerFinal));
}

TEST(ScramTest, ClientIsMovable) {
  ScramSha256Client a("pencil", std::string(kRfcNonce));
  a.client_first();
  ScramSha256Client b = std::move(a);
  auto r = b.client_final(kRfcServerFirst);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, kPgClientFinal);
}

}  // namespace
}  // namespace gh::wire::pg
