// The real drivers end to end: the PostgreSQL JDBC driver's DatabaseMetaData,
// SQLAlchemy's reflection, psycopg2 and node-postgres, each through the
// gateway as an agent whose access rule lists only some tables. What every
// driver and ORM runs to learn the schema (and to set itself up) must not be
// refused, while a catalog that holds secrets and a table outside the
// allow-list stay refused on the same connection, which goes on working.
// The client programs are in tests/integration/drivers/.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/integration/harness.h"

namespace gh::it {
namespace {

const std::string kDrivers = GH_DRIVERS_DIR;

class Drivers : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    World::get().pg.sql(
        "SET ROLE gh_scram;"
        "DROP TABLE IF EXISTS public.drv_child, public.drv_t, public.drv_other;"
        "DROP TYPE IF EXISTS public.drv_mood, public.drv_pair;"
        "CREATE TYPE public.drv_mood AS ENUM ('calm', 'busy');"
        "CREATE TYPE public.drv_pair AS (a int, b text);"
        "CREATE TABLE public.drv_t(id int PRIMARY KEY, label text NOT NULL,"
        "  mood public.drv_mood DEFAULT 'calm');"
        "COMMENT ON TABLE public.drv_t IS 'the table the agent may read';"
        "CREATE TABLE public.drv_child(id serial PRIMARY KEY,"
        "  parent_id int REFERENCES public.drv_t(id), note varchar(40) UNIQUE);"
        "CREATE TABLE public.drv_other(secret text);"
        "INSERT INTO public.drv_t VALUES (1, 'one', 'calm'), (2, 'two', 'busy');"
        "INSERT INTO public.drv_child(parent_id, note) VALUES (1, 'n1');"
        "INSERT INTO public.drv_other VALUES ('hidden-value');",
        "app");
    gw_ = OwnGateway::with_policy(World::get(), "drivers", R"(access:
  - name: two-tables
    groups: [readers]
    connections: [app]
    actions: [read]
    tables: [public.drv_t, public.drv_child]
)")
              .release();
  }
  static void TearDownTestSuite() {
    delete gw_;
    gw_ = nullptr;
  }

  // Runs a client program as `subject` (group readers); its output.
  static testbed::RunResult client(const std::string& subject,
                                   const std::vector<std::string>& argv) {
    return testbed::run(argv, gw_->psql_env(World::get().idp->mint(subject, {"readers"})),
                        std::chrono::seconds(180));
  }

  // What every driver's run must show: both reads refused by the gateway
  // (42501, naming the relation), no secret or row of them in the output,
  // and in the audit no other statement of `subject` refused — a refused
  // introspection query would be there even if the driver swallowed it.
  static void expect_only_the_two_reads_refused(const std::string& subject,
                                                const testbed::RunResult& r) {
    EXPECT_NE(r.output.find("denied pg_authid: 42501"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("read on pg_catalog.pg_authid is not granted"), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("denied drv_other: 42501"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("read on public.drv_other is not granted"), std::string::npos)
        << r.output;
    EXPECT_EQ(r.output.find("ALLOWED"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("hidden-value"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("SCRAM-SHA-256$"), std::string::npos) << r.output;

    const auto recorded = gw_->statements({.subject = subject});
    int authid = 0, other = 0, allowed = 0;
    for (const auto& st : recorded) {
      if (st.decision == "allow") {
        ++allowed;
      } else if (st.decision.empty()) {
        continue;
      } else if (st.text.find("pg_authid") != std::string::npos) {
        ++authid;
      } else if (st.text.find("drv_other") != std::string::npos) {
        ++other;
      } else {
        ADD_FAILURE() << subject << ": refused by the gateway (" << st.rule << "): " << st.text;
      }
    }
    EXPECT_GE(authid, 1) << subject;
    EXPECT_GE(other, 1) << subject;
    EXPECT_GT(allowed, 5) << subject << ": its statements were not audited";
  }

  static void expect_lines(const testbed::RunResult& r, const std::vector<std::string>& lines) {
    for (const auto& line : lines)
      EXPECT_NE(r.output.find(line + "\n"), std::string::npos) << "missing `" << line << "`\n"
                                                               << r.output;
  }

  static OwnGateway* gw_;
};
OwnGateway* Drivers::gw_ = nullptr;

TEST_F(Drivers, JdbcDatabaseMetaDataIsNotRefusedToATableRestrictedAgent) {
  auto r = client("jdbc-agent",
                  {"java", "-cp", "/usr/share/java/postgresql.jar", kDrivers + "/JdbcClient.java"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  expect_lines(r, {
                      "tables: drv_child,drv_other,drv_t",
                      "columns: id int4 not-null,label text not-null,mood drv_mood nullable",
                      "primary key: id drv_t_pkey",
                      "foreign keys: parent_id->drv_t.id",
                      "unique indexes: drv_child_note_key,drv_child_pkey",
                      "parameterized: 1=one/calm",
                      "result metadata: drv_mood not-null drv_t",
                      "still usable: 1",
                      "jdbc: ok",
                  });
  expect_only_the_two_reads_refused("jdbc-agent", r);
}

TEST_F(Drivers, SqlAlchemyReflectionIsNotRefusedToATableRestrictedAgent) {
  auto r = client("sqlalchemy-agent", {"/usr/bin/python3", kDrivers + "/sqlalchemy_client.py"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  expect_lines(r, {
                      "tables: drv_child,drv_other,drv_t",
                      "columns: id INTEGER not-null,label TEXT not-null,mood ENUM nullable",
                      "primary key: id drv_t_pkey",
                      "foreign keys: parent_id->drv_t.id",
                      "unique constraints: drv_child_note_key",
                      "comment: the table the agent may read",
                      "enums: drv_mood(calm|busy)",
                      "has_table: True",
                      "reflected: drv_child,drv_other,drv_t",
                      "reflected fk: drv_t.id",
                      "parameterized: 2=two",
                      "sqlalchemy: ok",
                  });
  expect_only_the_two_reads_refused("sqlalchemy-agent", r);
}

TEST_F(Drivers, Psycopg2IsNotRefusedToATableRestrictedAgent) {
  auto r = client("psycopg2-agent", {"/usr/bin/python3", kDrivers + "/psycopg2_client.py"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  expect_lines(r, {
                      "parameterized: 2=two/busy",
                      "dict rows: one,two",
                      "named cursor: 1,2",
                      "composite: drv_pair a=7 b=seven",
                      "hstore oids: 0",
                      "still usable: 1",
                      "psycopg2: ok",
                  });
  EXPECT_NE(r.output.find("description: id:23,label:25,mood:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("server_version: 15"), std::string::npos) << r.output;
  expect_only_the_two_reads_refused("psycopg2-agent", r);
}

TEST_F(Drivers, NodePostgresIsNotRefusedToATableRestrictedAgent) {
  ASSERT_TRUE(std::filesystem::exists(kDrivers + "/node_modules/pg/package.json"))
      << "node-postgres is not installed: run scripts/install-deps.sh (npm ci --prefix " << kDrivers
      << ")";
  auto r = client("node-agent", {"node", kDrivers + "/node_pg_client.js"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  expect_lines(r, {
                      "parameterized: 2=two/busy",
                      "named statement: one,two",
                      "information_schema: id integer,label text,mood USER-DEFINED",
                      "pg_class: drv_child,drv_other,drv_t",
                      "still usable: 1",
                      "still usable: one",
                      "node-postgres: ok",
                  });
  EXPECT_NE(r.output.find("fields: id:23:table,label:25:table,mood:"), std::string::npos)
      << r.output;
  expect_only_the_two_reads_refused("node-agent", r);
}

}  // namespace
}  // namespace gh::it
