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

TEST(Analyzer, WhatAStatementTouchesIsReported) {
  auto a =
      analyze("UPDATE public.t SET v = upper(s.v) FROM s WHERE t.id = s.id AND s.x > length('a')");
  ASSERT_TRUE(a.ok) << a.error;
  const auto& st = a.statements[0];
  EXPECT_EQ(st.relations, (std::vector<model::Relation>{{"public", "t", true}, {"", "s", false}}));
  EXPECT_EQ(st.functions, (std::vector<model::FunctionRef>{{"", "upper"}, {"", "length"}}));
  ASSERT_EQ(st.operations.size(), 1u);
  EXPECT_FALSE(st.operations[0].without_where);
}

TEST(Analyzer, DeleteWithoutWhereIsFlaggedWherever) {
  for (const char* sql :
       {"DELETE FROM t", "WITH x AS (DELETE FROM t RETURNING 1) SELECT 1",
        "EXPLAIN ANALYZE DELETE FROM t", "COPY (DELETE FROM t RETURNING 1) TO STDOUT"}) {
    auto a = analyze(sql);
    ASSERT_TRUE(a.ok) << sql;
    bool flagged = false;
    for (const auto& op : a.statements[0].operations)
      flagged = flagged || (op.kind == Kind::kDelete && op.without_where);
    EXPECT_TRUE(flagged) << sql;
  }
}

TEST(Analyzer, CopyDirectionAndTarget) {
  EXPECT_EQ(analyze("COPY t FROM STDIN").statements[0].copy_target, "stdin");
  EXPECT_EQ(analyze("COPY t TO STDOUT").statements[0].copy_target, "stdout");
  EXPECT_EQ(analyze("COPY t TO '/tmp/x'").statements[0].copy_target, "/tmp/x");
  auto p = analyze("COPY t FROM PROGRAM 'id'");
  EXPECT_EQ(p.kind, Kind::kCopyFromProgram);
  EXPECT_EQ(p.statements[0].copy_target, "id");
  EXPECT_TRUE(p.statements[0].relations[0].write);
}

TEST(Analyzer, SelectIntoAndCreateTableAsCreateTheirTarget) {
  for (const char* sql : {"SELECT * INTO n FROM s", "CREATE TABLE n AS SELECT * FROM s"}) {
    auto a = analyze(sql);
    ASSERT_TRUE(a.ok) << sql;
    EXPECT_TRUE(a.statements[0].creates_table_as) << sql;
    EXPECT_EQ(a.cls, StatementClass::kDdl) << sql;
    EXPECT_EQ(a.statements[0].relations,
              (std::vector<model::Relation>{{"", "n", true}, {"", "s", false}}))
        << sql;
  }
}

TEST(Analyzer, PrepareAndExecuteNames) {
  auto p = analyze("PREPARE q(int) AS SELECT * FROM t WHERE id = $1");
  EXPECT_EQ(p.statements[0].prepared_name, "q");
  EXPECT_EQ(p.cls, StatementClass::kRead);
  auto e = analyze("EXPLAIN ANALYZE EXECUTE q(1)");
  EXPECT_EQ(e.statements[0].executes, std::vector<std::string>{"q"});
}

TEST(Analyzer, SearchPathChanges) {
  auto set = analyze("SET search_path TO secret, \"Mixed\"");
  EXPECT_EQ(set.statements[0].search_path_change, model::SearchPathChange::kSet);
  EXPECT_EQ(set.statements[0].search_path, (std::vector<std::string>{"secret", "Mixed"}));
  EXPECT_EQ(analyze("RESET search_path").statements[0].search_path_change,
            model::SearchPathChange::kReset);
  EXPECT_EQ(analyze("SELECT set_config($1, 'x', false)").statements[0].search_path_change,
            model::SearchPathChange::kDynamic);
  EXPECT_EQ(
      analyze("SELECT pg_catalog.set_config('search_path', 'a,b', true)").statements[0].search_path,
      (std::vector<std::string>{"a", "b"}));
}

TEST(Analyzer, NestedCtesInsideBodiesDoNotCorruptScopes) {
  // A CTE body with a WITH of its own, several levels deep.
  auto a = analyze(
      "WITH a AS (WITH b AS (WITH c AS (SELECT * FROM t1) SELECT * FROM c) SELECT * FROM b), "
      "d AS (WITH e AS (SELECT * FROM t2) SELECT * FROM e) SELECT * FROM a, d, t3");
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_EQ(
      a.statements[0].relations,
      (std::vector<model::Relation>{{"", "t1", false}, {"", "t2", false}, {"", "t3", false}}));
}

TEST(Analyzer, TooDeepIsUnknownNotACrash) {
  // Parentheses leave no trace in the tree; nested calls do.
  std::string sql = "SELECT ";
  for (int i = 0; i < 5000; ++i) sql += "abs(";
  sql += "1";
  for (int i = 0; i < 5000; ++i) sql += ")";
  auto a = analyze(sql);
  EXPECT_FALSE(a.ok);
  EXPECT_EQ(a.kind, Kind::kUnknown);
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
