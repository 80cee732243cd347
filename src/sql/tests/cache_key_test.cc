// The analysis cache's token key (sql/scan_key.h) and the cache on it: what
// may share an analysis and what never may.
#include <gtest/gtest.h>
#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sql/analyzer.h"
#include "sql/cache.h"
#include "sql/scan_key.h"

namespace gh::sql {
namespace {

using model::Kind;

std::optional<std::string> key_of(std::string_view sql) {
  std::string out = "prefix";
  bool constants = false;
  if (!append_scan_key(sql, out, constants)) {
    EXPECT_EQ(out, "prefix") << "a failed key leaves the output as it was";
    return std::nullopt;
  }
  EXPECT_EQ(out.rfind("prefix", 0), 0u);
  return out.substr(6);
}

bool has_constants(std::string_view sql) {
  std::string out;
  bool constants = false;
  EXPECT_TRUE(append_scan_key(sql, out, constants)) << sql;
  return constants;
}

// Each text of `texts` has a key and no two share one.
void expect_distinct_keys(const std::vector<std::string>& texts) {
  std::vector<std::string> keys;
  for (const auto& t : texts) {
    auto k = key_of(t);
    ASSERT_TRUE(k.has_value()) << t;
    keys.push_back(*k);
  }
  for (std::size_t i = 0; i < keys.size(); ++i)
    for (std::size_t j = i + 1; j < keys.size(); ++j)
      EXPECT_NE(keys[i], keys[j]) << texts[i] << "  vs  " << texts[j];
}

TEST(CacheKey, KeyIsTheTokensWithConstantsAsTypedPlaceholders) {
  using namespace std::string_literals;
  EXPECT_EQ(key_of("SELECT abalance FROM pgbench_accounts WHERE aid = 123;"),
            "SELECT\0abalance\0FROM\0pgbench_accounts\0WHERE\0aid\0=\0\x01i\0;\0"s);
  EXPECT_EQ(key_of("  select \"A\"::text, -1.5, 'x' /* c */ FROM t -- end"),
            "select\0\"A\"\0::\0text\0,\0-\0\x01"
            "f\0,\0\x01s\0FROM\0t\0"s);
  EXPECT_EQ(key_of(""), "");
  EXPECT_EQ(key_of(" -- only a comment\n"), "");
  EXPECT_TRUE(has_constants("SELECT 1"));
  EXPECT_FALSE(has_constants("SELECT a FROM t WHERE id = $1 /* 1 */"));
}

TEST(CacheKey, ConstantsDifferingShareOneAnalysisAndCountAHit) {
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"SELECT abalance FROM pgbench_accounts WHERE aid = 1",
       "SELECT abalance FROM pgbench_accounts WHERE aid = 987654"},
      {"SELECT * FROM t WHERE s = 'a' AND f = 1.5",
       "SELECT * FROM t WHERE s = 'it''s' AND f = 2e10"},
      {"SELECT * FROM t WHERE s = E'a\\'b'", "SELECT * FROM t WHERE s = 'plain'"},
      {"SELECT * FROM t WHERE s = $$a 'b'$$", "SELECT * FROM t WHERE s = $tag$ DROP TABLE t $tag$"},
      {"SELECT * FROM t WHERE s = U&'d\\0061t'", "SELECT * FROM t WHERE s = U&'zz'"},
      {"SELECT * FROM t WHERE b = B'101'", "SELECT * FROM t WHERE b = B'1'"},
      {"SELECT * FROM t WHERE x = X'ff'", "SELECT * FROM t WHERE x = X'00'"},
      {"SELECT * FROM t WHERE n = -1", "SELECT * FROM t WHERE n = -42"},
      // Strings split over lines are one constant.
      {"SELECT * FROM t WHERE s = 'a'\n'b'", "SELECT * FROM t WHERE s = 'c'"},
      {"SELECT a FROM t WHERE id = 1", "SELECT a\n  FROM t /* c */ WHERE id = 2 -- x"},
      {"INSERT INTO t (a, b) VALUES (1, 'x')", "INSERT INTO t (a, b) VALUES (2, 'y')"},
  };
  for (const auto& [first, second] : pairs) {
    SCOPED_TRACE(first + "  /  " + second);
    EXPECT_EQ(key_of(first), key_of(second));
    AnalysisCache cache;
    auto a = cache.get(first);
    auto b = cache.get(second);
    ASSERT_TRUE(a->ok) << a->error;
    EXPECT_EQ(a.get(), b.get());
    EXPECT_EQ(cache.stats().hits, 1u);
    EXPECT_EQ(cache.stats().misses, 1u);
    EXPECT_EQ(cache.stats().size, 1u);  // texts with constants: the token key only
  }
}

TEST(CacheKey, IdentifierQuotingOrCaseDoesNotShareAKey) {
  expect_distinct_keys({
      "SELECT a FROM t",
      "SELECT \"a\" FROM t",
      "SELECT A FROM t",
      "SELECT a FROM \"T\"",
      "SELECT a FROM T",
      "SELECT a FROM \"t\"",
      "select a from t",
      "SELECT a FROM s.t",
      "SELECT a FROM \"s.t\"",
      "SELECT a FROM \"s\".\"t\"",
      "SELECT a FROM U&\"t\"",
      "SELECT a FROM U&\"\\0074\"",
      "SELECT a FROM U&\"\\0075\"",
      "SELECT a FROM \"t \"",
      "SELECT a FROM \"t\"\"\"",
  });
  AnalysisCache cache;
  auto a = cache.get("SELECT a FROM t");
  auto b = cache.get("SELECT a FROM \"T\"");
  auto c = cache.get("SELECT a FROM U&\"\\0053\"");
  ASSERT_TRUE(a->ok && b->ok && c->ok);
  EXPECT_EQ(a->statements[0].relations[0].name, "t");
  EXPECT_EQ(b->statements[0].relations[0].name, "T");
  EXPECT_EQ(c->statements[0].relations[0].name, "S");
  EXPECT_EQ(cache.stats().hits, 0u);
}

// The constant after UESCAPE says how a U&"…" name is read: `U&"!0073ecret"
// UESCAPE '!'` names secret, with '#' it names "!0073ecret".
TEST(CacheKey, UescapeCharacterOfAUnicodeNameIsNotAbstracted) {
  const std::string bang = "SELECT * FROM U&\"!0073ecret\" UESCAPE '!'";
  const std::string hash = "SELECT * FROM U&\"!0073ecret\" UESCAPE '#'";
  const std::string commented = "SELECT * FROM U&\"!0073ecret\" UESCAPE /* c */ '#'";
  EXPECT_NE(key_of(bang), key_of(hash));
  EXPECT_EQ(key_of(hash), key_of(commented));
  AnalysisCache cache;
  auto h = cache.get(hash);
  auto b = cache.get(bang);
  ASSERT_TRUE(h->ok && b->ok) << h->error << b->error;
  EXPECT_EQ(h->statements[0].relations[0].name, "!0073ecret");
  EXPECT_EQ(b->statements[0].relations[0].name, "secret");
  // The same for a U&'…' string: kept as written, the string itself abstracted.
  EXPECT_NE(key_of("SELECT U&'!0061' UESCAPE '!'"), key_of("SELECT U&'!0061' UESCAPE '#'"));
  EXPECT_EQ(key_of("SELECT U&'!0061' UESCAPE '!'"), key_of("SELECT U&'x' UESCAPE '!'"));
}

TEST(CacheKey, OperatorsParametersAndConstantTypesAreKept) {
  expect_distinct_keys({
      "SELECT 1",
      "SELECT -1",
      "SELECT +1",
      "SELECT 1.5",
      "SELECT '1'",
      "SELECT B'1'",
      "SELECT X'1'",
      "SELECT U&'1'",
      "SELECT $1",
      "SELECT $2",
      "SELECT 1, 2",
      "SELECT 1 2",
      "SELECT 1 || 2",
      "SELECT 1 |/ 2",
      "SELECT 1::text",
      "SELECT text '1'",
      "SELECT n'1'",
  });
  // Too big for int4, the scanner makes it FCONST, as the grammar sees it.
  EXPECT_EQ(key_of("SELECT 99999999999"), key_of("SELECT 1.5"));
}

TEST(CacheKey, ConstantSensitiveStatementsGetTheirOwnAnalyses) {
  struct Case {
    std::string first, second;
    bool same_key;  // the token key alone would have them share
  };
  const std::vector<Case> cases = {
      {"SET search_path = a", "SET search_path = b", false},
      {"SELECT set_config('search_path', 'x', false)",
       "SELECT set_config('search_path', 'y', false)", true},
      {"COPY t TO '/tmp/a'", "COPY t TO '/tmp/b'", true},
      {"EXPLAIN (ANALYZE 0) SELECT 1", "EXPLAIN (ANALYZE 1) SELECT 1", true},
      {"SET search_path = 'c'", "SET search_path = 'd'", true},
  };
  AnalysisCache cache;
  std::vector<model::AnalysisPtr> got;
  for (const auto& c : cases) {
    EXPECT_EQ(key_of(c.first) == key_of(c.second), c.same_key) << c.first;
    got.push_back(cache.get(c.first));
    got.push_back(cache.get(c.second));
    ASSERT_TRUE(got[got.size() - 2]->constant_sensitive) << c.first;
    EXPECT_NE(got[got.size() - 2].get(), got.back().get()) << c.first;
  }
  EXPECT_EQ(got[0]->statements[0].search_path, std::vector<std::string>{"a"});
  EXPECT_EQ(got[1]->statements[0].search_path, std::vector<std::string>{"b"});
  EXPECT_EQ(got[2]->statements[0].search_path, std::vector<std::string>{"x"});
  EXPECT_EQ(got[3]->statements[0].search_path, std::vector<std::string>{"y"});
  EXPECT_EQ(got[4]->statements[0].copy_target, "/tmp/a");
  EXPECT_EQ(got[5]->statements[0].copy_target, "/tmp/b");
  EXPECT_EQ(got[6]->kind, Kind::kExplain);
  EXPECT_EQ(got[7]->kind, Kind::kExplainAnalyze);
  EXPECT_EQ(got[8]->statements[0].search_path, std::vector<std::string>{"c"});
  EXPECT_EQ(got[9]->statements[0].search_path, std::vector<std::string>{"d"});
  EXPECT_EQ(cache.stats().hits, 0u);
  // Each is found again by its exact text, with its own contents.
  EXPECT_EQ(cache.get("COPY t TO '/tmp/b'")->statements[0].copy_target, "/tmp/b");
  EXPECT_EQ(cache.get("SET search_path = a")->statements[0].search_path,
            std::vector<std::string>{"a"});
  EXPECT_EQ(cache.stats().hits, 2u);
  EXPECT_EQ(cache.stats().size, cases.size() * 2);
}

TEST(CacheKey, TextThatDoesNotScanOrParseIsUnknownAndNotCached) {
  EXPECT_FALSE(key_of("SELECT 'unterminated").has_value());
  EXPECT_FALSE(key_of("SELECT 1 /* unterminated").has_value());
  EXPECT_FALSE(key_of("SELECT 123abc").has_value());
  // A NUL would end the text for the scanner: what follows it would not be keyed.
  EXPECT_FALSE(key_of(std::string("SELECT 1\0; DROP TABLE t", 23)).has_value());
  // A stray control character is a token of its own; \x01 starts placeholders.
  EXPECT_FALSE(key_of("SELECT \x01 FROM t").has_value());
  AnalysisCache cache;
  for (const char* sql : {"SELECT 'unterminated", "SELEC 1 FROM t", "SELECT 1 FROM t WHERE"}) {
    SCOPED_TRACE(sql);
    for (int i = 0; i < 2; ++i) {
      auto a = cache.get(sql);
      EXPECT_FALSE(a->ok);
      EXPECT_EQ(a->kind, Kind::kUnknown);
    }
  }
  EXPECT_EQ(cache.stats().size, 0u);
  EXPECT_EQ(cache.stats().hits, 0u);
  EXPECT_EQ(cache.stats().misses, 6u);
}

TEST(CacheKey, StringLiteralHoldingSqlNeverSharesWithTheStatement) {
  expect_distinct_keys({"DROP TABLE x", "SELECT 'DROP TABLE x'", "SELECT 1; DROP TABLE x"});
  // However it is quoted, SQL inside a string is one constant.
  for (const char* quoted : {"SELECT $$DROP TABLE x$$", "SELECT '1; DROP TABLE x'",
                             "SELECT E'\\'; DROP TABLE x; --'", "SELECT $q$'; DROP TABLE x$q$"})
    EXPECT_EQ(key_of(quoted), key_of("SELECT 'DROP TABLE x'")) << quoted;
  AnalysisCache cache;
  auto s = cache.get("SELECT 'DROP TABLE x'");
  auto d = cache.get("DROP TABLE x");
  auto e = cache.get("SELECT E'\\'; DROP TABLE x; --'");
  EXPECT_EQ(s->kind, Kind::kSelect);
  EXPECT_EQ(d->kind, Kind::kDrop);
  // One string constant either way (a text holding `;` and `--` is analysed on its own
  // rather than taken from the entry: a comment after a `;` is not a token).
  EXPECT_EQ(e->kind, Kind::kSelect);
  EXPECT_EQ(e->statements.size(), 1u);
  EXPECT_EQ(e->cls, s->cls);
  auto two = cache.get("SELECT '1'; DROP TABLE x");
  EXPECT_EQ(two->statements.size(), 2u);
  EXPECT_EQ(two->statements[1].kind, Kind::kDrop);
}

TEST(CacheKey, CommentsNeitherHideNorForgeTokens) {
  // A quote inside a comment starts no string: two constants and a comma.
  EXPECT_EQ(key_of("SELECT 1 /* ' */ , 2"), key_of("SELECT 3, 4"));
  EXPECT_NE(key_of("SELECT 1 /* ' */ , 2"), key_of("SELECT 1 ' */ , 2'"));
  // A comment ends at the end of its line.
  EXPECT_EQ(key_of("SELECT 1 -- ' \n, 2"), key_of("SELECT 3, 4"));
  EXPECT_NE(key_of("SELECT 1 /* ; DROP TABLE x */"), key_of("SELECT 1 ; DROP TABLE x"));
  EXPECT_NE(key_of("SELECT 1 -- ; DROP TABLE x"), key_of("SELECT 1 ; DROP TABLE x"));
  EXPECT_EQ(key_of("SELECT 1 -- \n; DROP TABLE x"), key_of("SELECT 1 ; DROP TABLE x"));
  EXPECT_EQ(key_of("SELECT 1 /* ; DROP TABLE x */"), key_of("SELECT 2"));
  EXPECT_EQ(key_of("SELECT 1 -- ; DROP TABLE x"), key_of("SELECT 2"));
  // Comments nest, as the server reads them.
  EXPECT_EQ(key_of("SELECT 1 /* /* */ , secret FROM t */ FROM u"), key_of("SELECT 1 FROM u"));
  EXPECT_NE(key_of("SELECT 1 /* */ , secret FROM t */ FROM u"), key_of("SELECT 1 FROM u"));
  // A comment opener inside a string is part of the string.
  EXPECT_EQ(key_of("SELECT '/*', secret FROM t -- */"), key_of("SELECT 'x', secret FROM t"));

  AnalysisCache cache;
  auto hidden = cache.get("SELECT 1 /* ; DROP TABLE x */");
  auto real = cache.get("SELECT 1 ; DROP TABLE x");
  EXPECT_EQ(hidden->statements.size(), 1u);
  ASSERT_EQ(real->statements.size(), 2u);
  EXPECT_EQ(real->statements[1].kind, Kind::kDrop);
  auto nested = cache.get("SELECT 1 /* /* */ , secret FROM t */ FROM u");
  ASSERT_TRUE(nested->ok);
  ASSERT_EQ(nested->statements[0].relations.size(), 1u);
  EXPECT_EQ(nested->statements[0].relations[0].name, "u");
}

// The key reads pg_query_scan's message off the wire; it must agree with
// protobuf-c's own unpacker on every token.
TEST(CacheKey, TokensReadOffTheWireMatchTheProtobufUnpacker) {
  std::string longer = "SELECT ";
  for (int i = 0; i < 3000; ++i)
    longer += "col" + std::to_string(i) + " + " + std::to_string(i) + ", ";
  longer += "0 FROM t";
  const std::vector<std::string> texts = {
      "SELECT 1",
      "  SELECT abalance FROM pgbench_accounts WHERE aid = 123;",
      "select 'é', \"ü\", U&\"\\00e9\" UESCAPE '\\', U&'x' FROM \"T\" -- ü\n/* x */",
      "SELECT $1::int, a.b[1:2], x <-> y, 1..2 FROM t WHERE c ~~ E'\\n' AND d = B'1' OR e = X'f'",
      "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x; COPY t TO '/tmp/a'",
      "",
      longer,
  };
  for (const auto& text : texts) {
    SCOPED_TRACE(text.substr(0, 80));
    std::vector<ScanToken> mine;
    ASSERT_TRUE(scan_tokens(text, mine));
    PgQueryScanResult r = pg_query_scan(text.c_str());
    ASSERT_EQ(r.error, nullptr);
    PgQuery__ScanResult* s = pg_query__scan_result__unpack(
        nullptr, r.pbuf.len, reinterpret_cast<const std::uint8_t*>(r.pbuf.data));
    ASSERT_NE(s, nullptr);
    std::vector<ScanToken> theirs;
    for (std::size_t i = 0; i < s->n_tokens; ++i)
      theirs.push_back({s->tokens[i]->start, s->tokens[i]->end, s->tokens[i]->token});
    pg_query__scan_result__free_unpacked(s, nullptr);
    pg_query_free_scan_result(r);
    EXPECT_EQ(mine, theirs);
    EXPECT_EQ(mine.size() > 1000, text == longer);
  }
  std::vector<ScanToken> none;
  EXPECT_FALSE(scan_tokens("SELECT 'unterminated", none));
}

}  // namespace
}  // namespace gh::sql
