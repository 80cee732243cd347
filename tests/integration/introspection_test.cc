// Schema introspection end to end: a caller allowed to read one table of a
// connection can still run what every agent, ORM and driver runs first —
// psql's \d family and information_schema — through the gateway against the
// real server, while the catalogs that hold data or secrets stay denied.
#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace gh::it {
namespace {

class Introspection : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    World::get().pg.sql(
        "SET ROLE gh_scram;"
        "DROP TABLE IF EXISTS public.intro_t, public.intro_other;"
        "CREATE TABLE public.intro_t(id int PRIMARY KEY, label text);"
        "CREATE TABLE public.intro_other(secret text);"
        "INSERT INTO public.intro_other VALUES ('hidden-value');",
        "app");
    gw_ = OwnGateway::with_policy(World::get(), "introspection", R"(access:
  - name: one-table
    groups: [readers]
    connections: [app]
    actions: [read]
    tables: [public.intro_t]
)")
              .release();
  }
  static void TearDownTestSuite() {
    delete gw_;
    gw_ = nullptr;
  }
  testbed::RunResult psql(const std::string& command) const {
    return testbed::run({"psql", "-X", "-v", "ON_ERROR_STOP=1", "-c", command},
                        gw_->psql_env(World::get().idp->mint("ivy", {"readers"})),
                        std::chrono::seconds(60));
  }
  static OwnGateway* gw_;
};
OwnGateway* Introspection::gw_ = nullptr;

TEST_F(Introspection, PsqlDescribeCommandsWorkForATableRestrictedCaller) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\\dt", "intro_t"},      {"\\d", "intro_t"},
      {"\\d intro_t", "label"}, {"\\d+ intro_t", "intro_t_pkey"},
      {"\\dn", "public"},       {"\\df pg_catalog.lower", "lower"},
      {"\\l", "app"},
  };
  for (const auto& [command, expect] : cases) {
    auto r = psql(command);
    EXPECT_EQ(r.exit_code, 0) << command << ": " << r.output;
    EXPECT_NE(r.output.find(expect), std::string::npos) << command << ": " << r.output;
  }
}

TEST_F(Introspection, InformationSchemaIsReadable) {
  auto r = psql(
      "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = "
      "'intro_t' ORDER BY ordinal_position");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("label"), std::string::npos) << r.output;
}

TEST_F(Introspection, CatalogsThatHoldDataOrSecretsStayDenied) {
  for (const std::string sql :
       {"SELECT rolname, rolpassword FROM pg_authid", "SELECT query FROM pg_stat_activity",
        "SELECT most_common_vals FROM pg_stats WHERE tablename = 'intro_other'",
        "SELECT * FROM pg_catalog.pg_user_mappings"}) {
    auto r = psql(sql);
    EXPECT_NE(r.exit_code, 0) << sql << ": " << r.output;
    EXPECT_NE(r.output.find("is not granted"), std::string::npos) << sql << ": " << r.output;
  }
  // Introspection opens the shape, not the data: other tables' rows stay out of reach.
  auto rows = psql("SELECT secret FROM public.intro_other");
  EXPECT_NE(rows.exit_code, 0) << rows.output;
  EXPECT_EQ(rows.output.find("hidden-value"), std::string::npos) << rows.output;
}

}  // namespace
}  // namespace gh::it
