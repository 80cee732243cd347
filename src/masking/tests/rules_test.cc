// Masking rules applied to decoded values: column rules by source and by
// output name, content detectors, JSON paths, exempt groups, binary values,
// and failing closed on what cannot be masked.
#include "masking/rules.h"

#include <gtest/gtest.h>

namespace gh::masking {
namespace {

std::vector<std::uint8_t> key() {
  return std::vector<std::uint8_t>(32, 7);
}

Rule pii() {
  Rule r;
  r.name = "pii";
  r.columns = {"*.email", "public.users.ssn", "*.*api_key*"};
  r.detectors = all_detectors();
  r.style = Style::kPartial;
  for (const char* p : {"$.user.email", "$..password"}) r.json_paths.push_back(*parse_json_path(p));
  r.except_groups = {"pii-auditors"};
  return r;
}

model::Principal who(std::vector<std::string> groups) {
  model::Principal p;
  p.subject = "u";
  p.groups = std::move(groups);
  return p;
}

std::shared_ptr<const SessionMasker> session(const MaskingPolicy& policy,
                                             std::vector<std::string> groups = {"agents"},
                                             const std::string& connection = "app") {
  std::string error;
  auto m = policy.for_session(who(std::move(groups)), connection, error);
  EXPECT_TRUE(m) << error;
  return m;
}

std::string mask(const SessionMasker& m, const ColumnSource& c, std::string_view value,
                 Outcome* outcome = nullptr, Counts* counts = nullptr) {
  Counts local;
  std::string out;
  auto r = m.mask_value(m.plan(c), value, out, counts ? *counts : local);
  if (outcome) *outcome = r;
  return r == Outcome::kRewritten  ? out
         : r == Outcome::kWithheld ? "<withheld>"
                                   : std::string(value);
}

ColumnSource text_col(std::string source, std::string name = "x") {
  return {std::move(source), std::move(name), 25, 0};
}

TEST(JsonPath, ParsesTheSupportedSubsetAndRefusesTheRest) {
  auto p = parse_json_path("$.user['e-mail'][0].*..password");
  ASSERT_TRUE(p) << p.error();
  ASSERT_EQ(p->steps.size(), 5u);
  EXPECT_EQ(p->steps[0].kind, JsonPath::Step::kKey);
  EXPECT_EQ(p->steps[1].key, "e-mail");
  EXPECT_EQ(p->steps[2].kind, JsonPath::Step::kIndex);
  EXPECT_EQ(p->steps[3].kind, JsonPath::Step::kAny);
  EXPECT_EQ(p->steps[4].kind, JsonPath::Step::kDescendKey);
  for (const char* bad : {"", "user.email", "$", "$.", "$[?(@.x)]", "$.a[", "$..[0]", "$.a b"})
    EXPECT_FALSE(parse_json_path(bad)) << bad;
}

TEST(Rules, SourceColumnRuleMasksWhateverTheOutputIsCalled) {
  MaskingPolicy policy({pii()}, key());
  auto m = session(policy);
  // An alias: the source is what counts.
  std::string out = mask(*m, text_col("public.users.ssn", "renamed"), "078-05-1120 x");
  EXPECT_EQ(out.find("078-05-1120"), std::string::npos);
  EXPECT_NE(out, "078-05-1120 x");
  // Case of the catalog's names does not matter, nor the case the rule is written in.
  out = mask(*m, text_col("Public.Users.SSN", "s"), "abcdef");
  EXPECT_NE(out, "abcdef");
  Rule upper = pii();
  upper.columns = {"PUBLIC.Users.Secret"};
  MaskingPolicy upper_policy({upper}, key());
  EXPECT_NE(mask(*session(upper_policy), text_col("public.users.secret", "s"), "abcdef"), "abcdef");
}

TEST(Rules, OutputNameMatchesTheRulesLastPart) {
  MaskingPolicy policy({pii()}, key());
  auto m = session(policy);
  EXPECT_NE(mask(*m, text_col("", "email"), "not-an-address"), "not-an-address");
  EXPECT_NE(mask(*m, text_col("", "stripe_api_key"), "opaque-value"), "opaque-value");
  EXPECT_EQ(mask(*m, text_col("", "comment"), "opaque-value"), "opaque-value");
}

TEST(Rules, ContentDetectorsRunWhateverTheColumn) {
  MaskingPolicy policy({pii()}, key());
  auto m = session(policy);
  Counts counts;
  std::string out =
      mask(*m, text_col("", "upper"), "MAIL JANE.DOE@EXAMPLE.COM NOW", nullptr, &counts);
  EXPECT_EQ(out.find("JANE.DOE@EXAMPLE.COM"), std::string::npos) << out;
  EXPECT_TRUE(out.starts_with("MAIL ")) << out;
  EXPECT_TRUE(out.ends_with(" NOW")) << out;
  ASSERT_EQ(counts.by_rule.size(), 1u);
  EXPECT_EQ(counts.by_rule[0], 1u);
}

TEST(Rules, UnresolvedSourceIsMaskedWholeFailingClosed) {
  MaskingPolicy policy({pii()}, key());
  auto m = session(policy);
  ColumnSource c = text_col("", "whatever");
  c.unresolved = true;
  EXPECT_NE(mask(*m, c, "plain words"), "plain words");
}

TEST(Rules, ExemptGroupAndOtherConnectionsSeeClearValues) {
  Rule r = pii();
  r.connections = {"prod-*"};
  MaskingPolicy policy({pii(), r}, key());
  EXPECT_FALSE(session(policy, {"pii-auditors"})->active());
  auto m = session(policy, {"agents"}, "app");
  ASSERT_TRUE(m->active());
  EXPECT_EQ(m->rules().size(), 1u);
  MaskingPolicy other({r}, key());
  EXPECT_FALSE(session(other, {"agents"}, "app")->active());
  EXPECT_TRUE(session(other, {"agents"}, "prod-billing")->active());
}

TEST(Rules, JsonPathsAndDetectorsInsideJsonKeepItValid) {
  MaskingPolicy policy({pii()}, key());
  auto m = session(policy);
  ColumnSource c{"", "profile", 3802, 0};
  std::string doc =
      R"({"user": {"email": "x@y.io", "name": "Jane"}, "password": "ab", )"
      R"("deep": [{"password": 12}], "note": "mail jane@example.com", "jane@example.com": 1})";
  Outcome o;
  std::string out = mask(*m, c, doc, &o);
  ASSERT_EQ(o, Outcome::kRewritten);
  EXPECT_EQ(out.find("x@y.io"), std::string::npos) << out;
  EXPECT_EQ(out.find("\"ab\""), std::string::npos) << out;
  EXPECT_EQ(out.find(":12"), std::string::npos) << out;
  EXPECT_EQ(out.find("jane@example.com"), std::string::npos) << out;
  EXPECT_NE(out.find("Jane"), std::string::npos) << out;
  EXPECT_NE(out.find("\"user\":{"), std::string::npos) << out;  // order kept
  // An escaped address is found once decoded.
  std::string escaped = R"({"a": "jane\u0040example.com"})";
  EXPECT_EQ(mask(*m, c, escaped).find("example.com\""), std::string::npos);
  // Unchanged JSON passes byte for byte.
  std::string clean = R"({"a": 1,  "b": "ok"})";
  EXPECT_EQ(mask(*m, c, clean, &o), clean);
  // jsonb binary keeps its version byte; a wrong version is withheld.
  ColumnSource bin{"", "profile", 3802, 1};
  out = mask(*m, bin, std::string("\1") + doc, &o);
  ASSERT_EQ(o, Outcome::kRewritten);
  EXPECT_EQ(out[0], '\1');
  mask(*m, bin, std::string("\2") + doc, &o);
  EXPECT_EQ(o, Outcome::kWithheld);
  // Deeply nested or invalid JSON cannot be masked: withheld.
  std::string deep(2000, '[');
  deep += "\"a@b.com\"" + std::string(2000, ']');
  mask(*m, c, deep, &o);
  EXPECT_EQ(o, Outcome::kWithheld);
  mask(*m, c, "{\"a\": \"jane@example.com\"", &o);
  EXPECT_EQ(o, Outcome::kWithheld);
}

TEST(Rules, JsonColumnRuleWritesAValidJsonString) {
  Rule r;
  r.name = "docs";
  r.columns = {"public.docs.body"};
  r.style = Style::kRedact;
  MaskingPolicy policy({r}, key());
  auto m = session(policy);
  EXPECT_EQ(mask(*m, {"public.docs.body", "body", 114, 0}, R"({"a": 1})"), "\"[MASKED]\"");
}

TEST(Rules, BinaryNumbersAndAddressesAreWithheldWhenSensitive) {
  MaskingPolicy policy({pii()}, key());
  auto m = session(policy);
  auto be64 = [](std::uint64_t v) {
    std::string s(8, '\0');
    for (int i = 7; i >= 0; --i, v >>= 8)
      s[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
    return s;
  };
  Outcome o;
  ColumnSource int8{"", "n", 20, 1};
  mask(*m, int8, be64(4111111111111111ULL), &o);
  EXPECT_EQ(o, Outcome::kWithheld);
  mask(*m, int8, be64(42), &o);
  EXPECT_EQ(o, Outcome::kUnchanged);
  mask(*m, int8, "short", &o);
  EXPECT_EQ(o, Outcome::kWithheld);
  ColumnSource inet{"", "ip", 869, 1};
  mask(*m, inet, std::string("\2\x20\0\4\xcb\0\x71\7", 8), &o);
  EXPECT_EQ(o, Outcome::kWithheld);
  ColumnSource opaque{"", "arr", 1009, 1};  // text[] binary
  mask(*m, opaque, "....jane@example.com....", &o);
  EXPECT_EQ(o, Outcome::kWithheld);
  mask(*m, opaque, "........", &o);
  EXPECT_EQ(o, Outcome::kUnchanged);
  // A column rule on a binary int is withheld; on text format, rewritten.
  ColumnSource ssn_bin{"public.users.ssn", "ssn", 23, 1};
  mask(*m, ssn_bin, std::string(4, '\1'), &o);
  EXPECT_EQ(o, Outcome::kWithheld);
  ColumnSource ssn_txt{"public.users.ssn", "ssn", 23, 0};
  mask(*m, ssn_txt, "123456789", &o);
  EXPECT_EQ(o, Outcome::kRewritten);
}

TEST(Rules, ByteaHexIsDecodedMaskedAndEncodedAgain) {
  MaskingPolicy policy({pii()}, key());
  auto m = session(policy);
  std::string hex = "\\x";
  for (unsigned char ch : std::string("to jane@example.com")) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", ch);
    hex += b;
  }
  Outcome o;
  std::string out = mask(*m, {"", "b", 17, 0}, hex, &o);
  ASSERT_EQ(o, Outcome::kRewritten);
  ASSERT_TRUE(out.starts_with("\\x746f20"));  // "to " kept
  EXPECT_NE(out, hex);
}

TEST(Rules, FixedWidthTypesAreNotScanned) {
  MaskingPolicy policy({pii()}, key());
  auto m = session(policy);
  EXPECT_FALSE(m->plan({"", "n", 23, 0}).scan);
  EXPECT_FALSE(m->plan({"", "t", 1184, 1}).scan);
  EXPECT_TRUE(m->plan({"", "t", 25, 0}).scan);
  EXPECT_TRUE(m->plan({"", "n", 20, 0}).scan);  // int8 text can be a card number
}

TEST(Rules, FreeTextKeepsItsSeparators) {
  MaskingPolicy policy({pii()}, key());
  auto m = session(policy);
  Counts counts;
  std::string out;
  ASSERT_EQ(m->mask_text("1\tjane@example.com\t4111 1111 1111 1111\n", out, counts),
            Outcome::kRewritten);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\t'), 2);
  EXPECT_EQ(out.find("jane@example.com"), std::string::npos);
  EXPECT_TRUE(out.ends_with("1111\n"));
  EXPECT_EQ(counts.by_rule[0], 2u);
  EXPECT_EQ(m->mask_text("nothing here", out, counts), Outcome::kUnchanged);
}

}  // namespace
}  // namespace gh::masking

namespace gh::masking {
namespace {

ColumnSource derived_col(std::vector<model::Origin> origins, bool direct = false) {
  ColumnSource c = text_col("", "substr");
  c.derived = std::move(origins);
  c.direct = direct;
  return c;
}

TEST(Lineage, AValueComputedFromAMaskedColumnIsMaskedWhole) {
  MaskingPolicy policy({pii()}, key());
  auto m = session(policy);
  // substr(email, 1, 9) of jane.doe@example.com: no detector sees an address any more.
  EXPECT_NE(mask(*m, derived_col({{"public.users.email", false, {}}}), "jane.doe@"), "jane.doe@");
  EXPECT_EQ(mask(*m, derived_col({{"public.users.name", false, {}}}), "Jane Doe"), "Jane Doe");
  // Through a view, a plain reference is masked as the column it is.
  EXPECT_NE(mask(*m, derived_col({{"public.users.ssn", false, {}}}, true), "abc"), "abc");
}

TEST(Lineage, JsonExtractionIsMaskedUnlessOutsideEveryRulePath) {
  MaskingPolicy policy({pii()}, key());  // $.user.email, $..password
  auto m = session(policy);
  using P = std::vector<std::string>;
  auto from = [](std::optional<P> path) {
    return derived_col({{"public.users.payload", true, std::move(path)}});
  };
  EXPECT_NE(mask(*m, from(P{"user", "password"}), "hunter2"), "hunter2");
  EXPECT_NE(mask(*m, from(P{"user", "email"}), "x"), "x");
  EXPECT_NE(mask(*m, from(P{"user"}), "{}"), "{}");         // holds $.user.email
  EXPECT_NE(mask(*m, from(std::nullopt), "text"), "text");  // jsonb_path_query, a cast…
  EXPECT_EQ(mask(*m, from(P{"order", "total"}), "42.50"), "42.50");
  EXPECT_EQ(mask(*m, from(P{"tags", "0"}), "blue"), "blue");
}

TEST(Lineage, RulePathsAgainstExtractedPaths) {
  auto rule = [](const char* p) { return *parse_json_path(p); };
  using P = std::vector<std::string>;
  EXPECT_TRUE(outside_json_path(rule("$.user.email"), P{"order"}));
  EXPECT_FALSE(outside_json_path(rule("$.user.email"), P{"user"}));
  EXPECT_FALSE(outside_json_path(rule("$.user.email"), P{"user", "email", "x"}));
  EXPECT_FALSE(outside_json_path(rule("$.user.*"), P{"user", "name"}));
  EXPECT_TRUE(outside_json_path(rule("$.items[0]"), P{"items", "1"}));
  EXPECT_FALSE(outside_json_path(rule("$.items[0]"), P{"items", "-1"}));
  EXPECT_TRUE(outside_json_path(rule("$..password"), P{"user", "name"}));
  EXPECT_FALSE(outside_json_path(rule("$..password"), P{"password"}));
  EXPECT_FALSE(outside_json_path(rule("$..*"), P{"anything"}));
  EXPECT_FALSE(outside_json_path(rule("$.a..b"), P{"c"}));
}

TEST(Lineage, ANumberComputedFromAMaskedColumnIsNotSentInClear) {
  MaskingPolicy policy({pii()}, key());
  auto m = session(policy);
  ColumnSource c = derived_col({{"public.users.ssn", false, {}}});
  c.type_oid = 23;  // length(ssn)
  // No style keeps the shape of a number: it is redacted.
  EXPECT_EQ(mask(*m, c, "11"), "[MASKED]");
  c.type_oid = 1700;  // sum(…)::numeric
  EXPECT_EQ(mask(*m, c, "123456.78"), "[MASKED]");
  c.type_oid = 25;  // text keeps the rule's style (partial)
  EXPECT_NE(mask(*m, c, "123456.78"), "[MASKED]");
}

}  // namespace
}  // namespace gh::masking
