// What fuzz/fuzz_sql_analyzer.cc found, one test each: the input it reduced to, and the
// contract it broke.
#include <gtest/gtest.h>

#include <string>

#include "sql/analyzer.h"
#include "sql/cache.h"

namespace gh::sql {
namespace {

// "SELECT 100;" after "SELECT 7433;": the same token key, but the statement's length (up to
// its `;`) differs. The cache answered with the other text's length, so the statement's text
// cut from the query ("SELECT 1" from "SELECT 1;" vs "SELECT 100;") was not its own.
TEST(SqlFuzzRegression, TrailingSemicolonStatementIsNotSharedAcrossConstantLengths) {
  AnalysisCache cache;
  (void)cache.get("SELECT 7433;");
  const auto hit = cache.get("SELECT 100;");
  const auto cold = analyze("SELECT 100;");
  ASSERT_TRUE(hit->ok);
  EXPECT_EQ(hit->statements.at(0).length, cold.statements.at(0).length);
  EXPECT_EQ(statement_text("SELECT 100;", hit->statements.at(0)), "SELECT 100");
  (void)cache.get("SELECT 1;");
  EXPECT_EQ(statement_text("SELECT 1;", cache.get("SELECT 1;")->statements.at(0)), "SELECT 1");
}

// The statement ending in `;` that pgbench, psql and most drivers send shares one entry
// across its constants (a per-text entry made the cache miss on every statement), and
// each text still gets its own statement back. Comments are not tokens: one with a comment
// after its
// `;` is analysed on its own (its statement stops before the comment).
TEST(SqlFuzzRegression, AStatementEndingInASemicolonSharesItsEntryAndCutsItsOwnText) {
  AnalysisCache cache;
  const std::string a = "SELECT abalance FROM pgbench_accounts WHERE aid = 7;";
  const std::string b = "SELECT abalance FROM pgbench_accounts WHERE aid = 123456 ; ";
  (void)cache.get(a);
  const auto hit = cache.get(b);
  EXPECT_EQ(cache.stats().hits, 1u);
  EXPECT_EQ(statement_text(b, hit->statements.at(0)),
            "SELECT abalance FROM pgbench_accounts WHERE aid = 123456");
  const std::string c = "SELECT abalance FROM pgbench_accounts WHERE aid = 99; -- note";
  const auto own = cache.get(c);
  EXPECT_EQ(cache.stats().hits, 1u);
  EXPECT_EQ(statement_text(c, own->statements.at(0)),
            "SELECT abalance FROM pgbench_accounts WHERE aid = 99");
  EXPECT_EQ(own->statements.at(0).length, analyze(c).statements.at(0).length);
}

// "  ;SELECT 1" and ";SELECT 1": the spacing before the empty statement is not a token, so
// both had one key, and the statement's location (after the `;`) moved with it.
TEST(SqlFuzzRegression, StatementAfterAnEmptyOneKeepsItsOwnLocation) {
  AnalysisCache cache;
  (void)cache.get(";SELECT 1");
  const auto hit = cache.get("  ;SELECT 1");
  EXPECT_EQ(hit->statements.at(0).location, analyze("  ;SELECT 1").statements.at(0).location);
  EXPECT_EQ(statement_text("  ;SELECT 1", hit->statements.at(0)), "SELECT 1");
}

// A string constant holding bytes that are not UTF-8: the parse tree cannot be read, so the
// statement is unanalysable (denied). The cache answered it from the entry of the same
// statement with a readable constant, as ok.
TEST(SqlFuzzRegression, InvalidUtf8ConstantIsNotAnsweredFromAnotherTextsEntry) {
  const std::string bad = "SELECT NULLIF(email, '\xaa\xaax') FROM lin.people";
  ASSERT_FALSE(analyze(bad).ok);
  AnalysisCache cache;
  ASSERT_TRUE(cache.get("SELECT NULLIF(email, 'qq') FROM lin.people")->ok);
  EXPECT_FALSE(cache.get(bad)->ok);
}

// Texts that span their one statement still share an analysis across constants.
TEST(SqlFuzzRegression, WholeTextStatementsStillShareAcrossConstants) {
  AnalysisCache cache;
  const auto a = cache.get("SELECT abalance FROM pgbench_accounts WHERE aid = 1");
  const auto b = cache.get("SELECT abalance FROM pgbench_accounts WHERE aid = 48232");
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(cache.stats().hits, 1u);
}

}  // namespace
}  // namespace gh::sql
