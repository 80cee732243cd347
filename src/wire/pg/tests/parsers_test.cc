// Body parsers: real messages, every truncation, trailing garbage.
#include <gtest/gtest.h>

#include <deque>
#include <limits>
#include <memory>
#include <string>

#include "wire/pg/protocol.h"
#include "wire/pg/tests/fixtures.h"

namespace gh::wire::pg {
namespace {

using namespace fixtures;
using namespace std::string_literals;

// A body in its own allocation, so ASan catches any read past it.
class Body {
 public:
  explicit Body(std::string_view s)
      : data_(std::make_unique<std::uint8_t[]>(s.size())), size_(s.size()) {
    std::copy(s.begin(), s.end(), data_.get());
  }
  operator Bytes() const { return {data_.get(), size_}; }  // NOLINT implicit

 private:
  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t size_;
};

// A body that lives until the end of the test program (parsers return views into it).
Bytes B(std::string_view s) {
  static std::deque<Body> kept;
  return kept.emplace_back(s);
}

// Every strict prefix of `body` is refused, and so is the body with a byte added.
template <class Parser>
void expect_exact(Parser parse, std::string_view body) {
  for (std::size_t n = 0; n < body.size(); ++n) {
    Body prefix(body.substr(0, n));
    EXPECT_FALSE(parse(prefix).has_value()) << "accepted the first " << n << " bytes";
  }
  Body longer(std::string(body) + "\x01"s);
  EXPECT_FALSE(parse(longer).has_value()) << "accepted trailing garbage";
  Body longer_nul(std::string(body) + "\0"s);
  EXPECT_FALSE(parse(longer_nul).has_value()) << "accepted a trailing NUL";
  EXPECT_TRUE(parse(B(body)).has_value());
}

std::string body(std::string_view message) {
  return std::string(message.substr(5));
}

TEST(ParseQueryTest, SimpleQuery) {
  auto q = parse_query(B(body(kQuery)));
  ASSERT_TRUE(q);
  EXPECT_EQ(q->sql, "SELECT 1;");
  expect_exact(parse_query, body(kQuery));
  EXPECT_EQ(parse_query(B("\0"s))->sql, "");
  EXPECT_FALSE(parse_query(Bytes{}));
}

TEST(ParseParseTest, NamedAndUnnamed) {
  auto p = parse_parse(B(body(kParse)));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->statement, "");
  EXPECT_EQ(p->sql, "SELECT $1::int4");
  EXPECT_EQ(p->param_types, (std::vector<std::uint32_t>{23}));
  expect_exact(parse_parse, body(kParse));

  auto named = parse_parse(B("s1\0select 2\0\0\0"s));
  ASSERT_TRUE(named);
  EXPECT_EQ(named->statement, "s1");
  EXPECT_TRUE(named->param_types.empty());
  expect_exact(parse_parse, "s1\0select 2\0\0\0"s);
}

TEST(ParseParseTest, RefusesATypeCountTheBodyCannotHold) {
  EXPECT_FALSE(parse_parse(B("\0q\0\xff\xff"s)));
  EXPECT_FALSE(parse_parse(B("\0q\0\x7f\xff\0\0\0\x17"s)));
}

TEST(ParseParseTest, TypeCountIsUnsignedAsOnTheServer) {
  // 40000 parameter types: the server reads the count as unsigned 16-bit and accepts it,
  // so the gateway must see the same message the server will run.
  std::string body = "s\0SELECT 1\0"s + "\x9c\x40"s + std::string(40000 * 4, '\0');
  auto p = parse_parse(B(body));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->param_types.size(), 40000u);
}

TEST(ParseBindTest, PsqlBind) {
  auto b = parse_bind(B(body(kBind)));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->portal, "");
  EXPECT_EQ(b->statement, "");
  EXPECT_EQ(b->param_formats, (std::vector<std::int16_t>{0}));
  ASSERT_EQ(b->params.size(), 1u);
  ASSERT_TRUE(b->params[0]);
  EXPECT_EQ(as_chars(*b->params[0]), "42");
  EXPECT_EQ(b->result_formats, (std::vector<std::int16_t>{0}));
  EXPECT_EQ(b->param_format(0), 0);
  expect_exact(parse_bind, body(kBind));
}

// portal "p", statement "s", formats [1, 0], params [NULL, "ab"], result formats [1].
const std::string kBindWithNull =
    "p\0s\0"
    "\x00\x02\x00\x01\x00\x00"
    "\x00\x02"
    "\xff\xff\xff\xff"
    "\x00\x00\x00\x02"
    "ab"
    "\x00\x01\x00\x01"s;

TEST(ParseBindTest, NullParameterAndBinaryFormats) {
  auto b = parse_bind(B(kBindWithNull));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->portal, "p");
  EXPECT_EQ(b->statement, "s");
  ASSERT_EQ(b->params.size(), 2u);
  EXPECT_FALSE(b->params[0]);
  ASSERT_TRUE(b->params[1]);
  EXPECT_EQ(as_chars(*b->params[1]), "ab");
  EXPECT_EQ(b->param_format(0), 1);
  EXPECT_EQ(b->param_format(1), 0);
  EXPECT_EQ(b->result_formats, (std::vector<std::int16_t>{1}));
  expect_exact(parse_bind, kBindWithNull);
}

TEST(ParseBindTest, EmptyParameterIsNotNull) {
  auto b = parse_bind(B("\0\0\0\0\0\x01\0\0\0\0\0\0"s));
  ASSERT_TRUE(b);
  ASSERT_EQ(b->params.size(), 1u);
  ASSERT_TRUE(b->params[0]);
  EXPECT_TRUE(b->params[0]->empty());
}

TEST(ParseBindTest, RefusesNegativeLengthsOtherThanMinusOne) {
  EXPECT_FALSE(parse_bind(B("\0\0\0\0\0\x01\xff\xff\xff\xfe\0\0"s)));
  EXPECT_FALSE(parse_bind(B("\0\0\0\0\0\x01\x80\0\0\0\0\0"s)));
  EXPECT_TRUE(parse_bind(B("\0\0\0\0\0\x01\xff\xff\xff\xff\0\0"s)));
}

TEST(ParseBindTest, RefusesWhatTheServerRefuses) {
  // Counts the body cannot hold (0xffff is 65535: counts are unsigned).
  EXPECT_FALSE(parse_bind(B("\0\0\xff\xff\0\0\0\0"s)));
  EXPECT_FALSE(parse_bind(B("\0\0\0\0\xff\xff\0\0"s)));
  EXPECT_FALSE(parse_bind(B("\0\0\0\0\0\0\xff\xff"s)));
  // A format code other than 0 or 1.
  EXPECT_FALSE(parse_bind(B("\0\0\0\x01\0\x02\0\0\0\0"s)));
  EXPECT_FALSE(parse_bind(B("\0\0\0\0\0\0\0\x01\0\x02"s)));
  // Two formats for one parameter.
  EXPECT_FALSE(parse_bind(B("\0\0\0\x02\0\0\0\0\0\x01\0\0\0\0\0\0"s)));
  // A value longer than the body.
  EXPECT_FALSE(
      parse_bind(B("\0\0\0\0\0\x01\0\0\0\x09"
                   "ab\0\0"s)));
  // More parameters declared than the body holds.
  EXPECT_FALSE(parse_bind(B("\0\0\0\0\x7f\xff\0\0"s)));
}

TEST(ParseExecuteTest, PortalAndRowLimit) {
  auto e = parse_execute(B(body(kExecute)));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->portal, "");
  EXPECT_EQ(e->max_rows, 0);
  expect_exact(parse_execute, body(kExecute));
  auto limited = parse_execute(B("cur\0\0\0\0\x64"s));
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->portal, "cur");
  EXPECT_EQ(limited->max_rows, 100);
}

TEST(ParseCloseTest, StatementOrPortalOnly) {
  auto d = parse_describe(B(body(kDescribePortal)));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, 'P');
  EXPECT_EQ(d->name, "");
  expect_exact(parse_describe, body(kDescribePortal));
  auto c = parse_close(B("Ss1\0"s));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, 'S');
  EXPECT_EQ(c->name, "s1");
  expect_exact(parse_close, "Ss1\0"s);
  EXPECT_FALSE(parse_close(B("Xs1\0"s)));
  EXPECT_FALSE(parse_describe(B("s\0"s)));
}

TEST(ParsePasswordTest, Cleartext) {
  auto p = parse_password(B("eyJhbGciOi.token\0"s));
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, "eyJhbGciOi.token");
  expect_exact(parse_password, "eyJhbGciOi.token\0"s);
}

// FunctionCall of oid 1598 (random()): no argument formats, no arguments, text result.
const std::string kFunctionCall = "\0\0\x06\x3e\0\0\0\0\0\0"s;
// oid 1299 with one binary format, one NULL argument and one 1-byte argument, binary result.
const std::string kFunctionCallArgs =
    "\0\0\x05\x13\0\x01\0\x01\0\x02\xff\xff\xff\xff\0\0\0\x01x\0\x01"s;

TEST(ParseFunctionCallTest, TheOid) {
  auto f = parse_function_call(B(kFunctionCall));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->function_oid, 1598u);
  expect_exact(parse_function_call, kFunctionCall);
  auto g = parse_function_call(B(kFunctionCallArgs));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->function_oid, 1299u);
  expect_exact(parse_function_call, kFunctionCallArgs);
  // A result format other than 0/1, and an argument length of -2.
  EXPECT_FALSE(parse_function_call(B("\0\0\x06\x3e\0\0\0\0\0\x07"s)));
  EXPECT_FALSE(parse_function_call(B("\0\0\x06\x3e\0\0\0\x01\xff\xff\xff\xfe\0\0"s)));
}

TEST(ParseAuthenticationTest, Requests) {
  auto ok = parse_authentication(B(body(kAuthOk)));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->code, 0);
  EXPECT_TRUE(ok->data.empty());
  expect_exact(parse_authentication, body(kAuthOk));

  auto md5 = parse_authentication(B(body(kAuthMd5)));
  ASSERT_TRUE(md5);
  EXPECT_EQ(md5->code, 5);
  EXPECT_EQ(as_chars(md5->data), "\xde\xad\xbe\xef"s);
  expect_exact(parse_authentication, body(kAuthMd5));

  auto sasl = parse_authentication(B(body(kAuthSasl)));
  ASSERT_TRUE(sasl);
  EXPECT_EQ(sasl->code, 10);
  EXPECT_EQ(parse_sasl_mechanisms(sasl->data), (std::vector<std::string_view>{"SCRAM-SHA-256"}));
  expect_exact(parse_authentication, body(kAuthSasl));

  auto cleartext = parse_authentication(B("\0\0\0\x03"s));
  ASSERT_TRUE(cleartext);
  EXPECT_EQ(cleartext->code, 3);
  EXPECT_FALSE(parse_authentication(B("\0\0\0\x03x"s)));

  auto cont = parse_authentication(B("\0\0\0\x0br=abc,s=xyz,i=4096"s));
  ASSERT_TRUE(cont);
  EXPECT_EQ(cont->code, 11);
  EXPECT_EQ(as_chars(cont->data), "r=abc,s=xyz,i=4096");

  // An empty mechanism list offers nothing.
  EXPECT_FALSE(parse_authentication(B("\0\0\0\x0a\0"s)));
}

TEST(ParseSaslMechanismsTest, ListsAndMalformedLists) {
  using V = std::vector<std::string_view>;
  EXPECT_EQ(parse_sasl_mechanisms(B("SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"s)),
            (V{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}));
  EXPECT_EQ(parse_sasl_mechanisms(B("\0"s)), V{});
  EXPECT_EQ(parse_sasl_mechanisms(B("SCRAM-SHA-256\0"s)), V{});     // no terminator
  EXPECT_EQ(parse_sasl_mechanisms(B("SCRAM-SHA-256"s)), V{});       // not terminated
  EXPECT_EQ(parse_sasl_mechanisms(B("SCRAM-SHA-256\0\0x"s)), V{});  // garbage after
  EXPECT_EQ(parse_sasl_mechanisms(Bytes{}), V{});
}

TEST(ParseBackendKeyDataTest, PidAndSecret) {
  auto k = parse_backend_key_data(B(body(kBackendKeyData)));
  ASSERT_TRUE(k);
  EXPECT_EQ(k->pid, 4242);
  EXPECT_EQ(k->secret, 0x01020304);
  expect_exact(parse_backend_key_data, body(kBackendKeyData));
}

TEST(ParseParameterStatusTest, NameAndValue) {
  auto s = parse_parameter_status(B(body(kParameterStatus)));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->name, "server_version");
  EXPECT_EQ(s->value, "15.4");
  expect_exact(parse_parameter_status, body(kParameterStatus));
}

TEST(ParseErrorFieldsTest, ServerError) {
  auto e = parse_error_fields(B(body(kErrorResponse)));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->fields.size(), 8u);
  EXPECT_EQ(e->get('S'), "ERROR");
  EXPECT_EQ(e->get('V'), "ERROR");
  EXPECT_EQ(e->get('C'), "42P01");
  EXPECT_EQ(e->get('M'), "relation \"nope\" does not exist");
  EXPECT_EQ(e->get('R'), "parserOpenTable");
  EXPECT_EQ(e->get('D'), "");
  expect_exact(parse_error_fields, body(kErrorResponse));
  auto empty = parse_error_fields(B("\0"s));
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->fields.empty());
}

TEST(ParseCommandCompleteTest, Tag) {
  auto tag = parse_command_complete(B(body(kCommandComplete)));
  ASSERT_TRUE(tag);
  EXPECT_EQ(*tag, "SELECT 1");
  expect_exact(parse_command_complete, body(kCommandComplete));
}

TEST(ParseReadyForQueryTest, OnlyKnownStatuses) {
  EXPECT_EQ(parse_ready_for_query(B(body(kReadyForQuery))), 'I');
  EXPECT_EQ(parse_ready_for_query(B("T")), 'T');
  EXPECT_EQ(parse_ready_for_query(B("E")), 'E');
  EXPECT_FALSE(parse_ready_for_query(B("X")));
  EXPECT_FALSE(parse_ready_for_query(B("\0"s)));
  expect_exact(parse_ready_for_query, "I");
}

TEST(RowsFromCommandTagTest, CountingTags) {
  EXPECT_EQ(rows_from_command_tag("SELECT 3"), 3);
  EXPECT_EQ(rows_from_command_tag("INSERT 0 5"), 5);
  EXPECT_EQ(rows_from_command_tag("INSERT 16384 1"), 1);
  EXPECT_EQ(rows_from_command_tag("UPDATE 12"), 12);
  EXPECT_EQ(rows_from_command_tag("DELETE 0"), 0);
  EXPECT_EQ(rows_from_command_tag("MERGE 4"), 4);
  EXPECT_EQ(rows_from_command_tag("COPY 7"), 7);
  EXPECT_EQ(rows_from_command_tag("FETCH 100"), 100);
  EXPECT_EQ(rows_from_command_tag("MOVE 2"), 2);
  EXPECT_EQ(rows_from_command_tag("SELECT 18446744073709551615"),
            std::numeric_limits<std::int64_t>::max());  // uint64 max saturates
  EXPECT_EQ(rows_from_command_tag("SELECT 9223372036854775807"),
            std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(rows_from_command_tag("SELECT 99999999999999999999999999999"),
            std::numeric_limits<std::int64_t>::max());
}

TEST(RowsFromCommandTagTest, OtherOrMalformedTags) {
  for (auto tag : {"CREATE TABLE", "BEGIN", "SET", "", "SELECT", "SELECT ", "SELECT x", "SELECT 3x",
                   "SELECT -3", "SELECT 3 ", "INSERT 5", "INSERT 0 ", "INSERT 0 5 6", "select 3",
                   "DELETE  3", "COPY +7", "CREATE TABLE AS 3"}) {
    EXPECT_EQ(rows_from_command_tag(tag), -1) << tag;
  }
}

}  // namespace
}  // namespace gh::wire::pg
