// Lineage masking end to end. Every case of the corpus is run twice: first
// on the raw PostgreSQL, where the protected value really is derivable from
// the result (the case's fragment is in it), then through a gateway whose
// only masking rule names the source columns and JSON paths — no content
// detectors, so nothing but lineage stands between the value and the client.
// Through the gateway the fragment must be gone, and the statement must
// still run (masked, not refused).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace gh::it {
namespace {

const char* const kPolicy = R"(access:
  - name: analysts
    groups: [analysts]
    connections: [app]
    actions: [read, write]
  - name: owners
    groups: [owners]
    connections: [app]
    actions: [read, write, ddl]
masking:
  - name: lineage
    columns: ["lin.people.email", "lin.people.ssn"]
    style: redact
    json_paths: ["$.user.email", "$..password"]
)";

void prepare_database(const World& w) {
  static bool done = false;
  if (done) return;
  done = true;
  w.pg.sql(
      "SET ROLE gh_scram;"
      "DROP SCHEMA IF EXISTS lin CASCADE; CREATE SCHEMA lin;"
      "CREATE TABLE lin.people(id int PRIMARY KEY, name text, email text, ssn text, "
      "payload jsonb, doc json, raw_json text, note text);"
      "INSERT INTO lin.people VALUES (1, 'Jane', 'jane.doe@example.com', '078-05-1120', "
      "'{\"user\": {\"email\": \"jd@corp.io\", \"password\": \"hunter2\"}, "
      "\"order\": {\"total\": 42}, \"tags\": [\"blue\"]}', "
      "'{\"password\": \"letmein9\"}', '{\"password\": \"sesame7\"}', 'plain');"
      "CREATE TABLE lin.orders(id int, person_id int, item text);"
      "INSERT INTO lin.orders VALUES (10, 1, 'book');"
      "CREATE VIEW lin.contacts AS SELECT id, lower(email) AS mail, ssn AS tax FROM lin.people;"
      "CREATE VIEW lin.contacts2 AS SELECT mail FROM lin.contacts;"
      "CREATE MATERIALIZED VIEW lin.mv AS SELECT id, upper(email) AS m FROM lin.people;"
      "CREATE FUNCTION lin.get_email(int) RETURNS text LANGUAGE sql STABLE "
      "AS 'SELECT email FROM lin.people WHERE id = $1';"
      "CREATE FUNCTION lin.ident(text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT $1';"
      "RESET ROLE;",
      "app");
}

struct Case {
  const char* sql;
  const char* fragment;  // in the raw result; never through the gateway
};

// clang-format off
const Case kCorpus[] = {
    // String functions and operators over a masked column.
    {"SELECT substr(email, 1, 9) FROM lin.people", "jane.doe@"},
    {"SELECT split_part(email, '@', 1) FROM lin.people", "jane.doe"},
    {"SELECT split_part(email, '@', 2) FROM lin.people", "example.com"},
    {"SELECT encode(convert_to(email, 'UTF8'), 'base64') FROM lin.people", "amFuZS5kb2VA"},
    {"SELECT reverse(email) FROM lin.people", "moc.elpmaxe@eod.enaj"},
    {"SELECT upper(email) FROM lin.people", "JANE.DOE"},
    {"SELECT email || '' FROM lin.people", "jane.doe"},
    {"SELECT lower(email)::varchar(50) FROM lin.people", "jane.doe"},
    {"SELECT md5(email) FROM lin.people", "0cba00ca3da1b283a57287bcceb17e35"},
    {"SELECT encode(sha256(convert_to(email, 'UTF8')), 'hex') FROM lin.people", "86e0b9e56c17cc4d"},
    {"SELECT translate(email, 'aeiou', 'AEIOU') FROM lin.people", "jAnE.dOE"},
    {"SELECT replace(email, '@', ' at ') FROM lin.people", "jane.doe at "},
    {"SELECT left(email, 8) FROM lin.people", "jane.doe"},
    {"SELECT right(email, 12) FROM lin.people", "@example.com"},
    {"SELECT regexp_replace(email, '@.*', '') FROM lin.people", "jane.doe"},
    {"SELECT (regexp_match(email, '^(.*)@'))[1] FROM lin.people", "jane.doe"},
    {"SELECT overlay(email placing 'X' from 1 for 1) FROM lin.people", "Xane.doe@"},
    {"SELECT format('%s', email) FROM lin.people", "jane.doe"},
    {"SELECT concat('<', email, '>') FROM lin.people", "<jane.doe@"},
    {"SELECT email COLLATE \"C\" FROM lin.people", "jane.doe"},
    {"SELECT email::bytea FROM lin.people", "6a616e652e646f65"},
    {"SELECT ROW(email, 1)::text FROM lin.people", "jane.doe"},
    {"SELECT substr(ssn, 1, 6) FROM lin.people", "078-05"},
    {"SELECT replace(ssn, '-', '') FROM lin.people", "078051120"},
    // Conditionals.
    {"SELECT CASE WHEN id = 1 THEN email ELSE 'x' END FROM lin.people", "jane.doe"},
    {"SELECT COALESCE(NULL, email) FROM lin.people", "jane.doe"},
    {"SELECT NULLIF(email, 'x') FROM lin.people", "jane.doe"},
    {"SELECT GREATEST(email, 'a') FROM lin.people", "jane.doe"},
    // Subqueries, aggregates, windows.
    {"SELECT (SELECT email FROM lin.people LIMIT 1)", "jane.doe"},
    {"SELECT ARRAY(SELECT email FROM lin.people)::text", "jane.doe"},
    {"SELECT string_agg(email, ',') FROM lin.people", "jane.doe"},
    {"SELECT array_agg(email)::text FROM lin.people", "jane.doe"},
    {"SELECT max(email) FROM lin.people", "jane.doe"},
    {"SELECT first_value(email) OVER () FROM lin.people", "jane.doe"},
    {"SELECT last_value(upper(email)) OVER (ORDER BY id) FROM lin.people", "JANE.DOE"},
    {"SELECT (SELECT string_agg(reverse(email), '') FROM lin.people p2 WHERE p2.id = p.id) "
     "FROM lin.people p", "moc.elpmaxe"},
    {"SELECT DISTINCT ON (id) upper(email) FROM lin.people", "JANE.DOE"},
    // CTEs, derived tables, set operations, VALUES.
    {"WITH c AS (SELECT email AS e FROM lin.people) SELECT upper(e) FROM c", "JANE.DOE"},
    {"WITH c(e) AS (SELECT email FROM lin.people) SELECT e || '!' FROM c", "jane.doe"},
    {"WITH RECURSIVE r(n, e) AS (SELECT 1, email FROM lin.people UNION ALL "
     "SELECT n + 1, e FROM r WHERE n < 2) SELECT upper(e) FROM r", "JANE.DOE"},
    {"SELECT x FROM (SELECT reverse(email) AS x FROM lin.people) s", "moc.elpmaxe"},
    {"SELECT * FROM (SELECT substr(email, 1, 9) FROM lin.people) s", "jane.doe@"},
    {"SELECT upper(e) FROM (SELECT email FROM lin.people) s(e)", "JANE.DOE"},
    {"SELECT note FROM lin.people WHERE false UNION ALL SELECT upper(email) FROM lin.people",
     "JANE.DOE"},
    {"SELECT upper(email) FROM lin.people INTERSECT SELECT upper(email) FROM lin.people",
     "JANE.DOE"},
    {"VALUES ((SELECT upper(email) FROM lin.people))", "JANE.DOE"},
    {"SELECT o.item || p.email FROM lin.orders o JOIN lin.people p ON p.id = o.person_id",
     "bookjane.doe"},
    {"SELECT e FROM lin.orders JOIN (SELECT id, upper(email) e FROM lin.people) p "
     "ON p.id = lin.orders.person_id", "JANE.DOE"},
    {"SELECT x FROM lin.orders, LATERAL (SELECT reverse(email) x FROM lin.people) l",
     "moc.elpmaxe"},
    // Whole-row references.
    {"SELECT row_to_json(p)::text FROM lin.people p", "jane.doe"},
    {"SELECT p::text FROM lin.people p", "jane.doe"},
    {"SELECT to_jsonb(p.*) ->> 'email' FROM lin.people p", "jane.doe"},
    {"SELECT json_build_object('e', email)::text FROM lin.people", "jane.doe"},
    // Views, views of views, a materialized view.
    {"SELECT mail FROM lin.contacts", "jane.doe"},
    {"SELECT tax FROM lin.contacts", "078-05-1120"},
    {"SELECT upper(mail) FROM lin.contacts2", "JANE.DOE"},
    {"SELECT m FROM lin.mv", "JANE.DOE"},
    // JSON operators and functions.
    {"SELECT payload->'user'->>'password' FROM lin.people", "hunter2"},
    {"SELECT payload #>> '{user,password}' FROM lin.people", "hunter2"},
    {"SELECT jsonb_extract_path_text(payload, 'user', 'password') FROM lin.people", "hunter2"},
    {"SELECT jsonb_path_query(payload, '$.**.password')::text FROM lin.people", "hunter2"},
    {"SELECT payload->'user' FROM lin.people", "jd@corp.io"},
    {"SELECT payload->>'user' FROM lin.people", "jd@corp.io"},
    {"SELECT payload->'user'->>'email' FROM lin.people", "jd@corp.io"},
    {"SELECT doc->>'password' FROM lin.people", "letmein9"},
    {"SELECT jsonb_each_text(payload->'user')::text FROM lin.people", "hunter2"},
    {"SELECT value FROM lin.people, jsonb_each_text(payload->'user')", "hunter2"},
    {"SELECT raw_json::jsonb->>'password' FROM lin.people", "sesame7"},
    // Functions the gateway cannot see into.
    {"SELECT upper(lin.get_email(1))", "JANE.DOE"},
    {"SELECT lin.ident(email) FROM lin.people", "jane.doe"},
    // RETURNING, several statements in one Query.
    {"UPDATE lin.people SET note = note WHERE id = 1 RETURNING upper(email)", "JANE.DOE"},
    {"SELECT 1; SELECT reverse(email) FROM lin.people", "moc.elpmaxe"},
};
// clang-format on

// What must stay readable: lineage is no excuse to mask everything.
const Case kClear[] = {
    {"SELECT upper(name) FROM lin.people", "JANE"},
    {"SELECT count(email) FROM lin.people", "1"},
    {"SELECT payload->'order'->>'total' FROM lin.people", "42"},
    {"SELECT item || '!' FROM lin.orders", "book!"},
    {"SELECT upper(note) FROM lin.people", "PLAIN"},
};

class Lineage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    prepare_database(World::get());
    gw_ = OwnGateway::with_policy(World::get(), "gatehouse-lineage", kPolicy).release();
  }
  static void TearDownTestSuite() {
    delete gw_;
    gw_ = nullptr;
  }
  static OwnGateway* gw_;
  const World& w() const { return World::get(); }
  std::string analyst() const { return w().idp->mint("analyst-9", {"analysts"}); }

  static std::string raw(const std::string& sql) {
    std::string out;
    for (const auto& line : pg_column(World::get(), "app", sql)) out += line + "\n";
    return out;
  }
  static std::string values(PGresult* r) {
    std::string out;
    for (int i = 0; i < PQntuples(r); ++i)
      for (int j = 0; j < PQnfields(r); ++j)
        out += std::string(PQgetvalue(r, i, j), PQgetlength(r, i, j)) + "\n";
    return out;
  }
  std::string through_gateway(PGconn* c, const std::string& sql) {
    Result r(PQexec(c, sql.c_str()));
    EXPECT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK)
        << sql << ": " << PQresultErrorMessage(r.get());
    return values(r.get());
  }
};
OwnGateway* Lineage::gw_ = nullptr;

TEST_F(Lineage, CorpusOfDerivedValuesIsDerivableRawAndMaskedThroughTheGateway) {
  ASSERT_GE(std::size(kCorpus), 60u);
  auto c = gw_->connect(analyst());
  for (const auto& k : kCorpus) {
    SCOPED_TRACE(k.sql);
    const std::string plain = raw(k.sql);
    ASSERT_NE(plain.find(k.fragment), std::string::npos)
        << "not derivable on the raw server: " << plain;
    const std::string seen = through_gateway(c.get(), k.sql);
    EXPECT_EQ(seen.find(k.fragment), std::string::npos) << "leaked through the gateway: " << seen;
    EXPECT_FALSE(seen.empty()) << "the masked result still has its rows";
  }
}

TEST_F(Lineage, ValuesNotComputedFromAMaskedColumnStayClear) {
  auto c = gw_->connect(analyst());
  for (const auto& k : kClear) {
    SCOPED_TRACE(k.sql);
    EXPECT_NE(through_gateway(c.get(), k.sql).find(k.fragment), std::string::npos);
  }
}

// Statements that differ only in constants share their analysis and policy
// record; a JSON key is a constant, and must be judged each time.
TEST_F(Lineage, AJsonKeyThatDiffersOnlyAsAConstantIsJudgedAgain) {
  auto c = gw_->connect(analyst());
  EXPECT_NE(
      through_gateway(c.get(), "SELECT payload->'order'->>'total' FROM lin.people").find("42"),
      std::string::npos);
  EXPECT_EQ(through_gateway(c.get(), "SELECT payload->'user'->>'password' FROM lin.people")
                .find("hunter2"),
            std::string::npos);
  // And a memoised lineage that no constant shaped is reused with new constants.
  EXPECT_EQ(through_gateway(c.get(), "SELECT substr(email, 1, 9) FROM lin.people WHERE id = 1")
                .find("jane.doe"),
            std::string::npos);
  EXPECT_EQ(through_gateway(c.get(), "SELECT substr(email, 1, 8) FROM lin.people WHERE id = 1")
                .find("jane.doe"),
            std::string::npos);
}

TEST_F(Lineage, ExtendedProtocolResultsFollowLineage) {
  auto c = gw_->connect(analyst());
  const char* params[] = {"9"};
  Result r(PQexecParams(c.get(), "SELECT substr(email, 1, $1::int) FROM lin.people", 1, nullptr,
                        params, nullptr, nullptr, 0));
  ASSERT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(r.get());
  EXPECT_EQ(values(r.get()).find("jane.doe"), std::string::npos) << values(r.get());
  Result p(PQprepare(c.get(), "rev", "SELECT reverse(email) FROM lin.people", 0, nullptr));
  ASSERT_EQ(PQresultStatus(p.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(p.get());
  Result d(PQdescribePrepared(c.get(), "rev"));
  ASSERT_EQ(PQresultStatus(d.get()), PGRES_COMMAND_OK);
  for (int i = 0; i < 2; ++i) {
    Result e(PQexecPrepared(c.get(), "rev", 0, nullptr, nullptr, nullptr, 0));
    ASSERT_EQ(PQresultStatus(e.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(e.get());
    EXPECT_EQ(values(e.get()).find("moc.elpmaxe"), std::string::npos) << values(e.get());
  }
}

TEST_F(Lineage, CopyOfAQueryMasksFieldsByLineage) {
  const std::string sql = "COPY (SELECT id, reverse(email), upper(name) FROM lin.people) TO STDOUT";
  ASSERT_NE(raw(sql).find("moc.elpmaxe"), std::string::npos);
  auto c = gw_->connect(analyst());
  Result r(PQexec(c.get(), sql.c_str()));
  ASSERT_EQ(PQresultStatus(r.get()), PGRES_COPY_OUT) << PQresultErrorMessage(r.get());
  std::string lines;
  for (int guard = 0; guard < 100; ++guard) {
    char* buf = nullptr;
    int n = PQgetCopyData(c.get(), &buf, 0);
    if (n < 0) break;
    lines.append(buf, static_cast<std::size_t>(n));
    PQfreemem(buf);
  }
  Result done(PQgetResult(c.get()));
  EXPECT_EQ(PQresultStatus(done.get()), PGRES_COMMAND_OK);
  EXPECT_EQ(lines.find("moc.elpmaxe"), std::string::npos) << lines;
  EXPECT_NE(lines.find("JANE"), std::string::npos) << lines;  // upper(name) is not masked
  EXPECT_NE(lines.find("1\t"), std::string::npos) << lines;
}

TEST_F(Lineage, RowsOfPreparedStatementsAndCursorsAreMaskedWhole) {
  auto c = gw_->connect(analyst());
  Result p(PQexec(c.get(), "PREPARE up AS SELECT upper(email) FROM lin.people"));
  ASSERT_EQ(PQresultStatus(p.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(p.get());
  EXPECT_EQ(through_gateway(c.get(), "EXECUTE up").find("JANE.DOE"), std::string::npos);
  Result b(PQexec(c.get(), "BEGIN; DECLARE cur CURSOR FOR SELECT reverse(email) FROM lin.people"));
  ASSERT_EQ(PQresultStatus(b.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(b.get());
  EXPECT_EQ(through_gateway(c.get(), "FETCH ALL FROM cur").find("moc.elpmaxe"), std::string::npos);
  Result e(PQexec(c.get(), "COMMIT"));
  EXPECT_EQ(PQresultStatus(e.get()), PGRES_COMMAND_OK);
}

TEST_F(Lineage, AViewRedefinedThroughTheGatewayIsReadAgainAtOnce) {
  auto c = gw_->connect(analyst());
  EXPECT_EQ(through_gateway(c.get(), "SELECT mail FROM lin.contacts").find("jane.doe"),
            std::string::npos);
  // The gateway sees the DDL succeed and drops what it knew of the
  // connection's relations: the new column's lineage is read, not guessed.
  auto owner = gw_->connect(w().idp->mint("owner-1", {"owners"}));
  Result r(PQexec(owner.get(),
                  "CREATE OR REPLACE VIEW lin.contacts AS SELECT id, lower(email) AS mail, "
                  "ssn AS tax, reverse(email) AS shout, upper(name) AS who FROM lin.people"));
  ASSERT_EQ(PQresultStatus(r.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(r.get());
  ASSERT_NE(raw("SELECT shout FROM lin.contacts").find("moc.elpmaxe"), std::string::npos);
  const std::string seen = through_gateway(c.get(), "SELECT shout, who FROM lin.contacts");
  EXPECT_EQ(seen.find("moc.elpmaxe"), std::string::npos) << seen;
  EXPECT_NE(seen.find("JANE"), std::string::npos) << seen;
}

// The optional guardrail: conditions on masked columns leak by inference
// (WHERE email LIKE 'a%' answers one bit per query), so they are refused.
TEST_F(Lineage, ConditionsOnMaskedColumnsAreRefusedWhereAGuardrailSaysSo) {
  auto gw =
      OwnGateway::with_policy(w(), "gatehouse-lineage-guard", std::string(kPolicy) + R"(guardrails:
  - name: no-inference-on-masked
    groups: [analysts]
    masked_columns_in_predicates: true
)");
  // On the raw server the answer depends on the secret: one bit per query.
  ASSERT_EQ(raw("SELECT count(*) FROM lin.people WHERE email LIKE 'j%'"), "1\n");
  ASSERT_EQ(raw("SELECT count(*) FROM lin.people WHERE email LIKE 'k%'"), "0\n");
  auto c = gw->connect(analyst());
  const char* refused[] = {
      "SELECT count(*) FROM lin.people WHERE email LIKE 'j%'",
      "SELECT id FROM lin.people ORDER BY email",
      "SELECT count(*) FROM lin.people GROUP BY ssn",
      "SELECT o.id FROM lin.orders o JOIN lin.people p ON p.email = o.item",
      "SELECT id FROM lin.people WHERE payload->'user'->>'password' = 'hunter2'",
      "SELECT count(*) FROM lin.contacts WHERE mail LIKE 'j%'",
      "SELECT id FROM lin.orders WHERE person_id IN "
      "(SELECT id FROM lin.people WHERE ssn LIKE '078%')",
      "SELECT count(*) FILTER (WHERE upper(email) > 'K') FROM lin.people",
      "SELECT 1; SELECT id FROM lin.people WHERE reverse(email) LIKE 'moc%'",
  };
  for (const char* sql : refused) {
    SCOPED_TRACE(sql);
    Result r(PQexec(c.get(), sql));
    EXPECT_EQ(PQresultStatus(r.get()), PGRES_FATAL_ERROR);
    EXPECT_EQ(sqlstate(r.get()), "42501");
    EXPECT_NE(std::string(PQresultErrorMessage(r.get())).find("masked column"), std::string::npos)
        << PQresultErrorMessage(r.get());
  }
  // The extended protocol is decided the same way.
  const char* params[] = {"j%"};
  Result e(PQexecParams(c.get(), "SELECT count(*) FROM lin.people WHERE email LIKE $1", 1, nullptr,
                        params, nullptr, nullptr, 0));
  EXPECT_EQ(sqlstate(e.get()), "42501");
  const char* allowed[] = {
      "SELECT email FROM lin.people WHERE id = 1",
      "SELECT mail FROM lin.contacts",
      "SELECT count(*) FROM lin.people WHERE name = 'Jane'",
      "SELECT id FROM lin.people ORDER BY name",
  };
  for (const char* sql : allowed) {
    SCOPED_TRACE(sql);
    Result r(PQexec(c.get(), sql));
    EXPECT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(r.get());
  }
  // Those the guardrail does not name keep filtering as they like.
  auto owner = gw->connect(w().idp->mint("owner-2", {"owners"}));
  Result o(PQexec(owner.get(), refused[0]));
  EXPECT_EQ(PQresultStatus(o.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(o.get());
}

}  // namespace
}  // namespace gh::it
