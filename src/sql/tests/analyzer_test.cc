#include "sql/analyzer.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <string>
#include <vector>

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

std::vector<std::string> function_names(const model::Analysis& a) {
  std::vector<std::string> out;
  for (const auto& st : a.statements)
    for (const auto& f : st.functions)
      out.push_back(f.schema.empty() ? f.name : f.schema + "." + f.name);
  return out;
}

TEST(Analyzer, AttributeNotationCallsAreFunctions) {
  // (x).f and t.f over a function in FROM both call f(x) when there is no
  // such field: the server runs pg_read_file for either.
  EXPECT_EQ(function_names(analyze("SELECT ('/etc/passwd'::text).pg_read_file")),
            std::vector<std::string>{"pg_read_file"});
  EXPECT_EQ(function_names(analyze("SELECT f.pg_ls_dir FROM unnest(ARRAY['/']) AS f")),
            (std::vector<std::string>{"unnest", "pg_ls_dir"}));
  EXPECT_EQ(function_names(analyze("SELECT unnest.lo_export FROM unnest(ARRAY[1])")),
            (std::vector<std::string>{"unnest", "lo_export"}));
  auto d = analyze("SELECT q.dblink_exec FROM unnest(ARRAY['DROP TABLE t']) q");
  EXPECT_TRUE(d.statements[0].dynamic_sql);
  EXPECT_EQ(d.cls, StatementClass::kAdmin);
  // Declared columns, the value of a scalar item and columns of tables are columns.
  EXPECT_EQ(function_names(analyze("SELECT g.x FROM generate_series(1, 3) AS g(x)")),
            std::vector<std::string>{"generate_series"});
  EXPECT_EQ(function_names(analyze("SELECT g.g FROM generate_series(1, 3) g")),
            std::vector<std::string>{"generate_series"});
  EXPECT_EQ(function_names(analyze("SELECT t.pg_read_file FROM public.t")),
            std::vector<std::string>{});
}

TEST(Analyzer, SetConfigOfTheRoleIsASetRole) {
  for (const char* sql : {"SELECT set_config('role', 'x', false)",
                          "SELECT pg_catalog.set_config('SESSION_AUTHORIZATION', 'x', true)",
                          "SELECT set_config(name, 'x', false) FROM s"}) {
    auto a = analyze(sql);
    ASSERT_TRUE(a.ok) << sql;
    EXPECT_EQ(a.cls, StatementClass::kAdmin) << sql;
    bool set_role = false;
    for (const auto& op : a.statements[0].operations)
      set_role = set_role || op.kind == Kind::kSetRole;
    EXPECT_TRUE(set_role) << sql;
    EXPECT_FALSE(a.statements[0].data_modifying_cte) << sql;
  }
  EXPECT_EQ(analyze("SELECT set_config('work_mem', '1MB', false)").cls, StatementClass::kRead);
  EXPECT_EQ(analyze("EXPLAIN SELECT set_config('role', 'x', false)").cls, StatementClass::kRead);
}

TEST(Analyzer, SettingsTheGatewayCannotFollowAreRefused) {
  // The server would read later strings differently from the gateway.
  for (const char* sql :
       {"SET standard_conforming_strings = off", "SET LOCAL standard_conforming_strings TO 0",
        "SET standard_conforming_strings = $1", "SET client_encoding = 'SJIS'",
        "SET NAMES 'Shift_JIS'", "SET client_encoding TO 'big5'",
        "SELECT set_config('client_encoding', 'GB18030', false)",
        "SELECT set_config('standard_conforming_strings', 'off', true)",
        "ALTER ROLE svc SET standard_conforming_strings = off",
        "ALTER DATABASE traces SET client_encoding = 'GBK'",
        "ALTER SYSTEM SET client_encoding = 'UHC'"}) {
    auto a = analyze(sql);
    EXPECT_FALSE(a.ok) << sql;
    EXPECT_EQ(a.kind, Kind::kUnknown) << sql;
  }
  for (const char* sql :
       {"SET standard_conforming_strings = on", "SET standard_conforming_strings TO true",
        "RESET standard_conforming_strings", "SET client_encoding = 'UTF8'",
        "SET client_encoding TO 'LATIN1'", "SET client_encoding TO DEFAULT", "RESET ALL",
        "SHOW standard_conforming_strings", "ALTER ROLE svc SET work_mem = '1MB'"})
    EXPECT_TRUE(analyze(sql).ok) << sql;
}

TEST(Analyzer, RowLocksWriteWhatTheirFromReads) {
  auto a = analyze(
      "SELECT * FROM public.t AS x JOIN (SELECT * FROM s) y ON x.id = y.id "
      "WHERE x.v IN (SELECT v FROM u) FOR UPDATE OF x");
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_TRUE(a.statements[0].locking);
  // x is an alias, not a relation; u is only read.
  EXPECT_EQ(
      a.statements[0].relations,
      (std::vector<model::Relation>{{"public", "t", true}, {"", "s", true}, {"", "u", false}}));
  auto cte = analyze("WITH c AS (SELECT * FROM t) SELECT * FROM c, s FOR SHARE");
  EXPECT_EQ(cte.statements[0].relations,
            (std::vector<model::Relation>{{"", "t", false}, {"", "s", true}}));
  auto explain = analyze("EXPLAIN SELECT * FROM t FOR UPDATE");
  EXPECT_FALSE(explain.statements[0].locking);
  EXPECT_EQ(explain.statements[0].relations, (std::vector<model::Relation>{{"", "t", false}}));
}

TEST(Analyzer, CommitPreparedFinishesAnotherTransactionsWrites) {
  EXPECT_EQ(analyze("COMMIT PREPARED 'x'").cls, StatementClass::kWrite);
  EXPECT_EQ(analyze("ROLLBACK PREPARED 'x'").cls, StatementClass::kWrite);
  EXPECT_EQ(analyze("PREPARE TRANSACTION 'x'").cls, StatementClass::kSession);
  EXPECT_EQ(analyze("COMMIT").cls, StatementClass::kSession);
}

TEST(Analyzer, DdlNamesTheRelationsItChanges) {
  auto rels = [](const char* sql) { return analyze(sql).statements.at(0).relations; };
  using R = std::vector<model::Relation>;
  EXPECT_EQ(rels("ALTER TABLE public.t SET SCHEMA secret"),
            (R{{"public", "t", true}, {"secret", "t", true}}));
  EXPECT_EQ(rels("ALTER TABLE public.t RENAME TO u"),
            (R{{"public", "t", true}, {"public", "u", true}}));
  EXPECT_EQ(rels("ALTER TABLE t RENAME COLUMN a TO b"), (R{{"", "t", true}}));
  EXPECT_EQ(rels("COMMENT ON COLUMN secret.t.c IS 'x'"), (R{{"secret", "t", true}}));
  EXPECT_EQ(rels("COMMENT ON TABLE t IS 'x'"), (R{{"", "t", true}}));
  EXPECT_EQ(rels("DROP TRIGGER tr ON secret.t"), (R{{"secret", "t", true}}));
  EXPECT_EQ(rels("DROP TABLE a, s.b"), (R{{"", "a", true}, {"s", "b", true}}));
  EXPECT_EQ(rels("GRANT SELECT ON secret.t TO bob"), (R{{"secret", "t", true}}));
  EXPECT_EQ(rels("VACUUM FULL secret.t"), (R{{"secret", "t", true}}));
  EXPECT_EQ(rels("CREATE SCHEMA s2 CREATE TABLE s2.x (id int)"), (R{{"s2", "x", true}}));
  EXPECT_TRUE(rels("DROP SCHEMA secret").empty());
}

TEST(Analyzer, ExplainAnalyzeOptionValues) {
  EXPECT_EQ(analyze("EXPLAIN (ANALYZE 0) DELETE FROM t").kind, Kind::kExplain);
  EXPECT_EQ(analyze("EXPLAIN (ANALYZE 1) DELETE FROM t").kind, Kind::kExplainAnalyze);
  EXPECT_EQ(analyze("EXPLAIN (ANALYZE off) DELETE FROM t").kind, Kind::kExplain);
  EXPECT_EQ(analyze("EXPLAIN (ANALYZE) DELETE FROM t").kind, Kind::kExplainAnalyze);
  EXPECT_EQ(analyze("EXPLAIN ANALYSE DELETE FROM t").kind, Kind::kExplainAnalyze);
}

TEST(Analyzer, DynamicSqlFunctions) {
  for (const char* sql : {"SELECT ts_rewrite('a'::tsquery, 'SELECT a, b FROM s')",
                          "SELECT dblink_connect('x')", "SELECT x.dblink_fetch('c', 1)"}) {
    auto a = analyze(sql);
    EXPECT_TRUE(a.statements.at(0).dynamic_sql) << sql;
    EXPECT_EQ(a.cls, StatementClass::kAdmin) << sql;
  }
}

// Deep trees are refused before they use more than a bounded part of the
// stack, whatever a level costs in this build: run on a thread with a stack
// far smaller than the usual 8 MiB.
TEST(Analyzer, DeepTreesAreRefusedOnASmallStack) {
  std::vector<std::string> deep;
  std::string plus = "SELECT ";
  for (int i = 0; i < 20000; ++i) plus += "1 + ";
  deep.push_back(plus + "1");
  std::string arrays = "SELECT ";
  for (int i = 0; i < 3500; ++i) arrays += "ARRAY[";
  arrays += "1";
  for (int i = 0; i < 3500; ++i) arrays += "]";
  deep.push_back(arrays);
  std::string unions = "SELECT 0";
  for (int i = 1; i < 3000; ++i) unions += " UNION ALL SELECT " + std::to_string(i);
  deep.push_back(unions);

  struct Job {
    const std::vector<std::string>* sql;
    std::vector<bool> ok;
  } job{&deep, {}};
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, 4u << 20), 0);
  pthread_t thread;
  ASSERT_EQ(pthread_create(
                &thread, &attr,
                [](void* p) -> void* {
                  auto* j = static_cast<Job*>(p);
                  for (const auto& s : *j->sql) j->ok.push_back(analyze(s).ok);
                  return nullptr;
                },
                &job),
            0);
  ASSERT_EQ(pthread_join(thread, nullptr), 0);
  pthread_attr_destroy(&attr);
  EXPECT_EQ(job.ok, (std::vector<bool>{false, false, false}));
  // What real queries nest stays well inside.
  std::string some = "SELECT 0";
  for (int i = 1; i < 100; ++i) some += " UNION ALL SELECT " + std::to_string(i);
  EXPECT_TRUE(analyze(some).ok);
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

// Drivers name catalogs unqualified (psycopg2's `FROM pg_type t JOIN
// pg_namespace ns`, the JDBC driver's type cache): a catalog every server has
// resolves to pg_catalog alone, so a caller allowed only some tables of
// public is not asked for public.pg_type too.
TEST(Analyzer, UnqualifiedSystemCatalogsResolveToTheCatalogAlone) {
  using V = std::vector<std::string>;
  auto schemas = [](const char* name, const V& path, const char* user = "svc") {
    model::Relation r;
    r.name = name;
    return candidate_schemas(r, path, user);
  };
  EXPECT_EQ(schemas("pg_type", {"public"}), V{"pg_catalog"});
  EXPECT_EQ(schemas("pg_namespace", {"public"}), V{"pg_catalog"});
  EXPECT_EQ(schemas("pg_authid", {"public"}), V{"pg_catalog"});
  EXPECT_EQ(schemas("pg_type", {"$user", "public"}, ""), V{"pg_catalog"});
  EXPECT_EQ(schemas("pg_type", {"pg_catalog", "public"}), V{"pg_catalog"});
  // Listed after a schema of the path, the catalog may be shadowed by it.
  EXPECT_EQ(schemas("pg_type", {"public", "pg_catalog", "x"}), (V{"public", "pg_catalog"}));
  // A pg_* name a newer server or an extension added may live in the path.
  EXPECT_EQ(schemas("pg_stat_io", {"public"}), (V{"pg_catalog", "public"}));
  EXPECT_EQ(schemas("pg_stat_statements", {"public", "ext"}), (V{"pg_catalog", "public", "ext"}));
  // Case matters: a quoted "PG_TYPE" is no catalog.
  EXPECT_EQ(schemas("PG_TYPE", {"public"}), V{"public"});
  EXPECT_EQ(schemas("t", {"public"}), V{"public"});
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

TEST(Analyzer, EachStatementOfAStringKnowsWhereItsTextIs) {
  const std::string sql =
      "SELECT 1;  /* c */ UPDATE t SET v = ';' WHERE id = 2 ;;\n SELECT 'x; y'  ";
  auto a = analyze(sql);
  ASSERT_TRUE(a.ok) << a.error;
  ASSERT_EQ(a.statements.size(), 3u);  // the empty statement between `;;` is none
  EXPECT_EQ(statement_text(sql, a.statements[0]), "SELECT 1");
  EXPECT_EQ(statement_text(sql, a.statements[1]), "/* c */ UPDATE t SET v = ';' WHERE id = 2");
  EXPECT_EQ(statement_text(sql, a.statements[2]), "SELECT 'x; y'");
  // A single statement is the whole text, trimmed.
  auto one = analyze("  SELECT 2 ; ");
  ASSERT_EQ(one.statements.size(), 1u);
  EXPECT_EQ(statement_text("  SELECT 2 ; ", one.statements[0]), "SELECT 2");
  // A location past the text (another text's analysis) cuts nothing.
  model::Statement far;
  far.location = 100;
  EXPECT_EQ(statement_text("SELECT 1", far), "");
}

TEST(Cache, SeveralStatementsAreNeverSharedBetweenTextsWhoseConstantsDiffer) {
  // Sharing would cut the second text at the first one's offsets.
  AnalysisCache cache;
  const std::string first = "SELECT 1; SELECT 2";
  const std::string second = "SELECT 100000; SELECT 2";
  auto a = cache.get(first);
  auto b = cache.get(second);
  ASSERT_TRUE(a->ok && b->ok);
  EXPECT_NE(a.get(), b.get());
  ASSERT_EQ(b->statements.size(), 2u);
  EXPECT_EQ(statement_text(second, b->statements[0]), "SELECT 100000");
  EXPECT_EQ(statement_text(second, b->statements[1]), "SELECT 2");
  EXPECT_EQ(cache.get(second).get(), b.get());  // the exact text still finds it
}

}  // namespace
}  // namespace gh::sql
