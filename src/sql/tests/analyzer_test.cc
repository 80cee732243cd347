#include "sql/analyzer.h"

#include <gtest/gtest.h>

#include "sql/cache.h"

namespace gh::sql {
namespace {

using model::Kind;
using model::StatementClass;

TEST(Analyzer, CteDeleteIsAWrite) {
  auto a = analyze("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x");
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_EQ(a.kind, Kind::kSelect);
  EXPECT_EQ(a.cls, StatementClass::kWrite);
  EXPECT_TRUE(a.statements[0].data_modifying_cte);
  ASSERT_EQ(a.statements[0].relations.size(), 1u);  // x is the CTE, not a table
  EXPECT_EQ(a.statements[0].relations[0].name, "t");
  EXPECT_TRUE(a.statements[0].relations[0].write);
}

TEST(Analyzer, ParseFailureIsUnknown) {
  auto a = analyze("SELEC 1");
  EXPECT_FALSE(a.ok);
  EXPECT_EQ(a.kind, Kind::kUnknown);
  EXPECT_EQ(a.cls, StatementClass::kUnknown);
}

TEST(Analyzer, SearchPathParsing) {
  EXPECT_EQ(parse_search_path("\"$user\", public"), (std::vector<std::string>{"$user", "public"}));
  EXPECT_EQ(parse_search_path("A,\"B c\""), (std::vector<std::string>{"a", "B c"}));
}

TEST(Cache, ConstantsShareOneEntry) {
  AnalysisCache cache;
  auto a = cache.get("SELECT abalance FROM pgbench_accounts WHERE aid = 1");
  auto b = cache.get("SELECT abalance FROM pgbench_accounts WHERE aid = 2");
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(cache.stats().hits, 1u);
  EXPECT_EQ(cache.stats().misses, 1u);
}

TEST(Cache, TextWithoutConstantsIsFoundByItsExactTextAndConstantsDoNotFloodIt) {
  AnalysisCache cache;
  auto a = cache.get("SELECT abalance FROM pgbench_accounts WHERE aid = $1");
  auto b = cache.get("SELECT abalance FROM pgbench_accounts WHERE aid = $1");
  EXPECT_EQ(a.get(), b.get());
  for (int i = 0; i < 100; ++i) (void)cache.get("SELECT 1 FROM t WHERE id = " + std::to_string(i));
  // One exact and one normalised key for the parameterised text, one
  // normalised key for all the constants.
  EXPECT_EQ(cache.stats().size, 3u);
  EXPECT_EQ(cache.stats().misses, 2u);
}

TEST(Cache, ConstantThatDecidesIsNotAbstracted) {
  AnalysisCache cache;
  auto a = cache.get("SELECT set_config('application_name', 'x', false)");
  auto b = cache.get("SELECT set_config('search_path', 'secret', false)");
  EXPECT_EQ(a->statements[0].search_path_change, model::SearchPathChange::kNone);
  EXPECT_EQ(b->statements[0].search_path_change, model::SearchPathChange::kSet);
  auto c = cache.get("COPY t TO STDOUT");
  auto d = cache.get("COPY t TO '/tmp/x'");
  EXPECT_EQ(c->kind, Kind::kCopyTo);
  EXPECT_EQ(d->kind, Kind::kCopyToFile);
}

}  // namespace
}  // namespace gh::sql
