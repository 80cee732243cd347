// Encoders: exact bytes, and encode → frame → parse round trips.
#include <gtest/gtest.h>

#include <string>

#include "wire/pg/protocol.h"
#include "wire/pg/tests/fixtures.h"

namespace gh::wire::pg {
namespace {

using namespace fixtures;
using namespace std::string_literals;

std::string str(const Buffer& b) {
  return std::string(as_chars(b));
}

// Frames `out` as exactly one whole message and returns its body.
Bytes only_message(const Buffer& out, std::uint8_t type) {
  MessageFramer framer([](std::uint8_t) { return true; });
  framer.feed(out);
  auto e = framer.next();
  EXPECT_EQ(e.kind, MessageFramer::EventKind::kWhole);
  EXPECT_EQ(e.header.type, type);
  EXPECT_EQ(e.raw.size(), out.size());
  EXPECT_EQ(framer.next().kind, MessageFramer::EventKind::kNeedMore);
  return e.body;
}

TEST(EncodeTest, ErrorResponse) {
  Buffer out;
  encode_error_response(out, {.severity = "ERROR",
                              .sqlstate = "42501",
                              .message = "gatehouse: blocked by no-ddl: DROP TABLE",
                              .detail = "",
                              .hint = ""});
  EXPECT_EQ(str(out),
            "E\x00\x00\x00\x44"
            "SERROR\0"
            "VERROR\0"
            "C42501\0"
            "Mgatehouse: blocked by no-ddl: DROP TABLE\0"
            "\0"s);
}

TEST(EncodeTest, ErrorResponseWithDetailAndHint) {
  Buffer out;
  encode_error_response(
      out, {.severity = "FATAL", .sqlstate = "28P01", .message = "m", .detail = "d", .hint = "h"});
  EXPECT_EQ(str(out), "E\x00\x00\x00\x23SFATAL\0VFATAL\0C28P01\0Mm\0Dd\0Hh\0\0"s);
  auto fields = parse_error_fields(only_message(out, 'E'));
  ASSERT_TRUE(fields);
  using F = std::vector<std::pair<char, std::string_view>>;
  EXPECT_EQ(
      fields->fields,
      (F{{'S', "FATAL"}, {'V', "FATAL"}, {'C', "28P01"}, {'M', "m"}, {'D', "d"}, {'H', "h"}}));
}

TEST(EncodeTest, NoticeResponse) {
  Buffer out;
  encode_notice_response(out, {.severity = "NOTICE",
                               .sqlstate = "00000",
                               .message = "gatehouse: held for approval (r): request ab-12"});
  auto fields = parse_error_fields(only_message(out, 'N'));
  ASSERT_TRUE(fields);
  EXPECT_EQ(fields->get('S'), "NOTICE");
  EXPECT_EQ(fields->get('V'), "NOTICE");
  EXPECT_EQ(fields->get('C'), "00000");
  EXPECT_EQ(fields->get('M'), "gatehouse: held for approval (r): request ab-12");
  EXPECT_EQ(fields->fields.size(), 4u);
}

TEST(EncodeTest, ErrorFieldWithNulCannotSmuggleAField) {
  // A token's subject is attacker-chosen; a NUL in it must not start a new field.
  Buffer out;
  encode_error_response(
      out, {.severity = "FATAL", .sqlstate = "28000", .message = "gatehouse: evil\0Hrun this"sv});
  auto fields = parse_error_fields(only_message(out, 'E'));
  ASSERT_TRUE(fields);
  EXPECT_EQ(fields->get('M'), "gatehouse: evil");
  EXPECT_EQ(fields->get('H'), "");
}

TEST(EncodeTest, MissingSqlstateBecomesInternalError) {
  Buffer out;
  encode_error_response(out, {.message = "x"});
  auto fields = parse_error_fields(only_message(out, 'E'));
  ASSERT_TRUE(fields);
  EXPECT_EQ(fields->get('C'), "XX000");
  EXPECT_EQ(fields->get('S'), "ERROR");
}

TEST(EncodeTest, Authentication) {
  Buffer out;
  encode_auth_cleartext_request(out);
  EXPECT_EQ(str(out), "R\x00\x00\x00\x08\x00\x00\x00\x03"s);
  auto a = parse_authentication(only_message(out, 'R'));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->code, 3);
  out.clear();
  encode_auth_ok(out);
  EXPECT_EQ(str(out), std::string(kAuthOk));
}

TEST(EncodeTest, ParameterStatus) {
  Buffer out;
  encode_parameter_status(out, "server_version", "15.4");
  EXPECT_EQ(str(out), std::string(kParameterStatus));
  auto s = parse_parameter_status(only_message(out, 'S'));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->name, "server_version");
  EXPECT_EQ(s->value, "15.4");
}

TEST(EncodeTest, BackendKeyData) {
  Buffer out;
  encode_backend_key_data(out, 4242, 0x01020304);
  EXPECT_EQ(str(out), std::string(kBackendKeyData));
  out.clear();
  encode_backend_key_data(out, -1, -2);
  auto k = parse_backend_key_data(only_message(out, 'K'));
  ASSERT_TRUE(k);
  EXPECT_EQ(k->pid, -1);
  EXPECT_EQ(k->secret, -2);
}

TEST(EncodeTest, ReadyForQuery) {
  Buffer out;
  encode_ready_for_query(out, 'I');
  EXPECT_EQ(str(out), std::string(kReadyForQuery));
  for (char status : {'I', 'T', 'E'}) {
    out.clear();
    encode_ready_for_query(out, status);
    EXPECT_EQ(parse_ready_for_query(only_message(out, 'Z')), status);
  }
}

TEST(EncodeTest, NegotiateProtocolVersion) {
  Buffer out;
  encode_negotiate_protocol_version(out, 0, {"_pq_.compression", "_pq_.x"});
  EXPECT_EQ(str(out),
            "v\x00\x00\x00\x24"
            "\x00\x00\x00\x00"
            "\x00\x00\x00\x02"
            "_pq_.compression\0"
            "_pq_.x\0"s);
  out.clear();
  encode_negotiate_protocol_version(out, 0, {});
  EXPECT_EQ(str(out), "v\x00\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x00\x00"s);
}

TEST(EncodeTest, StartupMessageMatchesPsql) {
  Buffer out;
  encode_startup_message(out, {{"user", "alice"},
                               {"database", "traces"},
                               {"application_name", "psql"},
                               {"client_encoding", "UTF8"}});
  EXPECT_EQ(str(out), std::string(kStartup));
}

TEST(EncodeTest, StartupMessageRoundTrip) {
  std::vector<std::pair<std::string, std::string>> params = {
      {"user", "gatehouse"}, {"database", "app"}, {"application_name", ""}};
  Buffer out;
  encode_startup_message(out, params);
  auto r = decode_startup(out);
  ASSERT_TRUE(std::holds_alternative<StartupDecoded>(r));
  EXPECT_EQ(std::get<StartupDecoded>(r).consumed, out.size());
  const auto& m = std::get<StartupMessage>(std::get<StartupDecoded>(r).packet);
  EXPECT_EQ(m.version, kProtocol30);
  EXPECT_EQ(m.params, params);
}

TEST(EncodeTest, StartupParameterWithNulCannotSmuggleAParameter) {
  Buffer out;
  encode_startup_message(out,
                         {{"user", "a\0options\0-c x=y"s}, {"", "dropped"}, {"database", "d"}});
  auto r = decode_startup(out);
  ASSERT_TRUE(std::holds_alternative<StartupDecoded>(r));
  const auto& m = std::get<StartupMessage>(std::get<StartupDecoded>(r).packet);
  EXPECT_EQ(m.params,
            (std::vector<std::pair<std::string, std::string>>{{"user", "a"}, {"database", "d"}}));
}

TEST(EncodeTest, SslAndCancelRequests) {
  Buffer out;
  encode_ssl_request(out);
  EXPECT_EQ(str(out), std::string(kSslRequest));
  out.clear();
  encode_cancel_request(out, 4242, 0x01020304);
  EXPECT_EQ(str(out), std::string(kCancelRequest));
  auto r = decode_startup(out);
  ASSERT_TRUE(std::holds_alternative<StartupDecoded>(r));
  const auto& c = std::get<CancelRequest>(std::get<StartupDecoded>(r).packet);
  EXPECT_EQ(c.pid, 4242);
  EXPECT_EQ(c.secret, 0x01020304);
}

TEST(EncodeTest, PasswordMessage) {
  Buffer out;
  encode_password_message(out, "md5bb41a296aab6baccb36ff243a562abff");
  EXPECT_EQ(str(out), "p\x00\x00\x00\x28md5bb41a296aab6baccb36ff243a562abff\0"s);
  EXPECT_EQ(parse_password(only_message(out, 'p')), "md5bb41a296aab6baccb36ff243a562abff");
}

TEST(EncodeTest, QueryWithNulIsSentWholeForTheServerToRefuse) {
  Buffer out;
  encode_query(out, "DELETE FROM t\0 WHERE id = 1"sv);
  // Not cut to "DELETE FROM t": the message stays one string the parser (and server) refuses.
  EXPECT_FALSE(parse_query(only_message(out, 'Q')));
}

TEST(EncodeTest, ParseRoundTrips) {
  Buffer out;
  encode_parse(out, "s1", "SELECT $1");
  EXPECT_EQ(str(out),
            "P\x00\x00\x00\x13"
            "s1\0SELECT $1\0\x00\x00"s);
  auto p = parse_parse(only_message(out, 'P'));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->statement, "s1");
  EXPECT_EQ(p->sql, "SELECT $1");
  EXPECT_TRUE(p->param_types.empty());
}

TEST(EncodeTest, SaslMessages) {
  Buffer out;
  encode_sasl_initial_response(out, "SCRAM-SHA-256", "n,,n=,r=abc");
  EXPECT_EQ(str(out),
            "p\x00\x00\x00\x21"
            "SCRAM-SHA-256\0"
            "\x00\x00\x00\x0b"
            "n,,n=,r=abc"s);
  out.clear();
  encode_sasl_response(out, "c=biws,r=abc,p=xyz");
  EXPECT_EQ(str(out),
            "p\x00\x00\x00\x16"
            "c=biws,r=abc,p=xyz"s);
}

TEST(EncodeTest, TerminateAndQuery) {
  Buffer out;
  encode_terminate(out);
  EXPECT_EQ(str(out), "X\x00\x00\x00\x04"s);
  out.clear();
  encode_query(out, "SELECT 1;");
  EXPECT_EQ(str(out), std::string(kQuery));
  EXPECT_EQ(parse_query(only_message(out, 'Q'))->sql, "SELECT 1;");
}

TEST(EncodeTest, AppendsToWhatIsAlreadyThere) {
  Buffer out;
  encode_parameter_status(out, "a", "b");
  encode_backend_key_data(out, 1, 2);
  encode_ready_for_query(out, 'I');
  MessageFramer framer([](std::uint8_t) { return true; });
  framer.feed(out);
  std::string types;
  for (auto e = framer.next(); e.kind == MessageFramer::EventKind::kWhole; e = framer.next())
    types += static_cast<char>(e.header.type);
  EXPECT_EQ(types, "SKZ");
}

}  // namespace
}  // namespace gh::wire::pg
