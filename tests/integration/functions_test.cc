// Opaque functions end to end: a call of a routine the database defines
// itself is judged by the database's catalog, through real psql and libpq.
// A read-only caller's `SELECT f()` where `f` deletes rows is denied before
// the server runs it (the gateway's upstream role could delete: nothing but
// the gateway stops it), STABLE functions stay reads, an access rule's
// `functions` list grants named ones, and a redefinition through the gateway
// is judged at once.
#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace gh::it {
namespace {

class OpaqueFunctions : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    World::get().pg.sql(
        "SET ROLE gh_scram;"
        "DROP TABLE IF EXISTS public.fn_victim CASCADE;"
        "CREATE TABLE public.fn_victim(id int);"
        "CREATE OR REPLACE FUNCTION public.fn_wipe() RETURNS int LANGUAGE sql VOLATILE AS "
        "$$ WITH d AS (DELETE FROM public.fn_victim RETURNING 1) SELECT count(*)::int FROM d $$;"
        "CREATE OR REPLACE FUNCTION public.fn_peek() RETURNS bigint LANGUAGE sql STABLE AS "
        "$$ SELECT count(*) FROM public.fn_victim $$;"
        "CREATE OR REPLACE FUNCTION public.fn_touch() RETURNS int LANGUAGE sql VOLATILE AS "
        "$$ SELECT 7 $$;",
        "app");
    gw_ = OwnGateway::with_policy(World::get(), "functions", R"(access:
  - name: readers
    groups: [readers]
    connections: [app]
    actions: [read]
    functions: [public.fn_touch]
  - name: writers
    groups: [writers]
    connections: [app]
    actions: [read, write, ddl]
)")
              .release();
  }
  static void TearDownTestSuite() {
    delete gw_;
    gw_ = nullptr;
  }
  void SetUp() override {
    World::get().pg.sql(
        "TRUNCATE public.fn_victim; INSERT INTO public.fn_victim VALUES (1), (2), (3);", "app");
  }
  static std::string victims() {
    auto out = World::get().pg.sql("SELECT count(*) FROM public.fn_victim", "app");
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  }
  testbed::RunResult psql(const std::string& token, const std::string& sql) const {
    return testbed::run({"psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql},
                        gw_->psql_env(token), std::chrono::seconds(60));
  }
  std::string reader() const { return World::get().idp->mint("rita", {"readers"}); }
  std::string writer() const { return World::get().idp->mint("walt", {"writers"}); }
  static OwnGateway* gw_;
};
OwnGateway* OpaqueFunctions::gw_ = nullptr;

TEST_F(OpaqueFunctions, ReadOnlyCallerCannotRunAFunctionThatWrites) {
  ASSERT_EQ(victims(), "3");
  for (const std::string sql :
       {"SELECT public.fn_wipe()", "SELECT fn_wipe()", "SELECT * FROM (SELECT fn_wipe()) AS s",
        "SELECT id FROM public.fn_victim WHERE public.fn_wipe() > 0"}) {
    auto r = psql(reader(), sql);
    EXPECT_NE(r.exit_code, 0) << sql << ": " << r.output;
    EXPECT_NE(r.output.find("fn_wipe() is a write"), std::string::npos) << sql << ": " << r.output;
    EXPECT_EQ(victims(), "3") << sql << " ran";
  }
  // The extended protocol too.
  Conn c(PQconnectdb(gw_->conninfo(reader()).c_str()));
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  Result r(PQexecParams(c.get(), "SELECT public.fn_wipe() + $1::int", 1, nullptr,
                        std::vector<const char*>{"1"}.data(), nullptr, nullptr, 0));
  EXPECT_EQ(PQresultStatus(r.get()), PGRES_FATAL_ERROR);
  EXPECT_EQ(sqlstate(r.get()), "42501");
  EXPECT_EQ(victims(), "3");
}

TEST_F(OpaqueFunctions, StableFunctionsAndBuiltInsStayReads) {
  auto r = psql(reader(),
                "SELECT public.fn_peek(), count(*), lower('A'), now() IS NOT NULL "
                "FROM public.fn_victim");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("3|3|a|t"), std::string::npos) << r.output;
}

TEST_F(OpaqueFunctions, FunctionNamedByTheAccessRuleIsGranted) {
  auto r = psql(reader(), "SELECT public.fn_touch()");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("7"), std::string::npos) << r.output;
}

TEST_F(OpaqueFunctions, WriterMayCallIt) {
  auto r = psql(writer(), "SELECT public.fn_wipe()");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(victims(), "0");
}

TEST_F(OpaqueFunctions, RedefinitionThroughTheGatewayIsJudgedAtOnce) {
  ASSERT_EQ(psql(reader(), "SELECT public.fn_peek()").exit_code, 0);
  // The writer makes it volatile: the next call is judged by the new definition.
  auto ddl = psql(writer(),
                  "CREATE OR REPLACE FUNCTION public.fn_peek() RETURNS bigint LANGUAGE sql "
                  "VOLATILE AS $$ SELECT count(*) FROM public.fn_victim $$");
  ASSERT_EQ(ddl.exit_code, 0) << ddl.output;
  auto r = psql(reader(), "SELECT public.fn_peek()");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("fn_peek() is a write"), std::string::npos) << r.output;
  auto back = psql(writer(),
                   "CREATE OR REPLACE FUNCTION public.fn_peek() RETURNS bigint LANGUAGE sql "
                   "STABLE AS $$ SELECT count(*) FROM public.fn_victim $$");
  ASSERT_EQ(back.exit_code, 0) << back.output;
  EXPECT_EQ(psql(reader(), "SELECT public.fn_peek()").exit_code, 0);
}

}  // namespace
}  // namespace gh::it
