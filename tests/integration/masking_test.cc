// Inline masking end to end: real psql and libpq through a gateway with
// masking rules, against the real server. Each test is named for the way
// out it closes: an alias, an expression, an aggregate, a view, COPY, binary
// results, an error echoing a value, a notification, a JSON path — and for
// what must stay untouched (false positives, an exempt group).
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cctype>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

namespace gh::it {
namespace {

// Values the client must never see through the gateway.
const std::vector<std::string> kSecrets = {
    "jane.doe@example.com",
    "JANE.DOE@EXAMPLE.COM",
    "bob@corp.example.org",
    "123-45-6789",
    "4111 1111 1111 1111",
    "4111111111111111",
    "123-4567",
    "7946 0958",
    "203.0.113.7",
    "sk_live_51HxQeLkVf3s9aZpQ2mN8bX",
    "hunter2-top",
    "zq9x",  // a short password, reachable only by its JSON path
};
constexpr const char* kClean =
    "ORD-2024-000123 shipped 2024-01-15 10:30:00 by v1.2.3, ref "
    "123e4567-e89b-12d3-a456-426614174000, total 1234.56";

struct MaskingGateway : OwnGateway {
  static std::string yaml(const World& w, int port) {
    return OwnGateway::base_yaml(w, "gw-masking", port, /*read_credentials=*/false) + R"(access:
  - name: staff
    groups: [analysts, pii-auditors]
    connections: [app]
    actions: [read, write, ddl]
masking:
  - name: pii
    connections: ["*"]
    columns: ["*.email", "public.customers.ssn", "*.*api_key*"]
    detectors: [email, credit_card, us_ssn, phone, iban, ip_address, jwt, aws_access_key,
                private_key, generic_secret]
    style: partial
    json_paths: ["$.user.email", "$..password"]
    except_groups: [pii-auditors]
  - name: refs
    columns: ["public.customers.customer_ref"]
    style: hash
    except_groups: [pii-auditors]
recording:
  results: masked
  max_rows_per_statement: 1
)";
  }
  explicit MaskingGateway(const World& w)
      : OwnGateway("gatehouse-masking", [&w](int p) { return yaml(w, p); }) {}
};

void prepare_database(const World& w) {
  static bool done = false;
  if (done) return;
  done = true;
  w.pg.sql(
      "SET ROLE gh_scram;"
      "DROP VIEW IF EXISTS public.customer_contacts; DROP TABLE IF EXISTS public.customers;"
      "CREATE TABLE public.customers(id int primary key, email text unique, ssn text, "
      "phone text, card text, api_key text, notes text, profile jsonb, ip inet, bigcard int8, "
      "customer_ref text, clean text);"
      "INSERT INTO public.customers VALUES "
      "(1, 'jane.doe@example.com', '123-45-6789', '+1 (555) 123-4567', '4111 1111 1111 1111', "
      "'sk_live_51HxQeLkVf3s9aZpQ2mN8bX', "
      "'call me at +44 20 7946 0958 or mail jane.doe@example.com', "
      "'{\"user\": {\"email\": \"jane.doe@example.com\", \"name\": \"Jane\"}, "
      "\"password\": \"hunter2-top\", \"nested\": {\"password\": \"zq9x\"}}', "
      "'203.0.113.7', 4111111111111111, 'CUST-0001', '" +
          std::string(kClean) +
          "'),"
          "(2, 'bob@corp.example.org', NULL, NULL, NULL, NULL, 'no contact', '{}', NULL, 7, "
          "'CUST-0001', 'v2.10.4');"
          "CREATE VIEW public.customer_contacts AS SELECT id, email AS contact FROM "
          "public.customers;"
          "RESET ROLE;",
      "app");
}

class Masking : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    prepare_database(World::get());
    gw_ = new MaskingGateway(World::get());
  }
  static void TearDownTestSuite() {
    delete gw_;
    gw_ = nullptr;
  }
  static MaskingGateway* gw_;
  const World& w() const { return World::get(); }
  std::string analyst() const { return w().idp->mint("analyst-1", {"analysts"}); }
  std::string auditor() const { return w().idp->mint("auditor-1", {"pii-auditors"}); }

  // Every value of a result, row by row, as text ("<NULL>" for NULL).
  static std::vector<std::string> values(PGresult* r) {
    std::vector<std::string> out;
    for (int i = 0; i < PQntuples(r); ++i)
      for (int j = 0; j < PQnfields(r); ++j)
        out.push_back(PQgetisnull(r, i, j)
                          ? std::string("<NULL>")
                          : std::string(PQgetvalue(r, i, j), PQgetlength(r, i, j)));
    return out;
  }
  std::vector<std::string> query(const std::string& sql, const std::string& token = "") {
    auto c = gw_->connect(token.empty() ? analyst() : token);
    Result r(PQexec(c.get(), sql.c_str()));
    EXPECT_TRUE(PQresultStatus(r.get()) == PGRES_TUPLES_OK)
        << sql << ": " << PQresultErrorMessage(r.get());
    return values(r.get());
  }
  // Also looks inside bytea output (\x…), decoded.
  static void expect_no_secret(const std::string& what, const std::string& text) {
    std::string decoded;
    for (std::size_t at = text.find("\\x"); at != std::string::npos;
         at = text.find("\\x", at + 2)) {
      for (std::size_t i = at + 2;
           i + 1 < text.size() && std::isxdigit(text[i]) && std::isxdigit(text[i + 1]); i += 2)
        decoded += static_cast<char>(std::stoi(text.substr(i, 2), nullptr, 16));
      decoded += '\n';
    }
    for (const auto& s : kSecrets) {
      EXPECT_EQ(text.find(s), std::string::npos) << what << " leaked " << s << " in: " << text;
      EXPECT_EQ(decoded.find(s), std::string::npos) << what << " leaked " << s << " in bytea";
    }
  }
  // What the server sent in an error (libpq adds the client's own query text
  // to PQresultErrorMessage, which is not the server's to mask).
  static std::string server_fields(const PGresult* r) {
    std::string out;
    for (int f : {PG_DIAG_MESSAGE_PRIMARY, PG_DIAG_MESSAGE_DETAIL, PG_DIAG_MESSAGE_HINT,
                  PG_DIAG_CONTEXT, PG_DIAG_INTERNAL_QUERY}) {
      const char* v = PQresultErrorField(r, f);
      if (v) out += std::string(v) + "\n";
    }
    return out;
  }
  static std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += s + "\n";
    return out;
  }
};
MaskingGateway* Masking::gw_ = nullptr;

TEST_F(Masking, AliasDoesNotDodgeTheSourceColumnRule) {
  auto v = query("SELECT email AS e, ssn AS x FROM customers WHERE id = 1");
  ASSERT_EQ(v.size(), 2u);
  expect_no_secret("alias", joined(v));
  EXPECT_EQ(v[0].front(), 'j');
  EXPECT_NE(v[0].find("@"), std::string::npos);
  EXPECT_TRUE(v[0].ends_with(".com")) << v[0];
  EXPECT_TRUE(v[1].ends_with("6789")) << v[1];
}

TEST_F(Masking, ExpressionsCastsAndAggregatesDoNotDodgeContentDetectors) {
  const char* cases[] = {
      "SELECT upper(email) FROM customers",
      "SELECT email || '' FROM customers",
      "SELECT substr(email, 2) FROM customers",
      "SELECT email::varchar(200) FROM customers",
      "SELECT row_to_json(c) FROM customers c",
      "SELECT row_to_json(c)::text FROM customers c",
      "SELECT json_build_object('e', email, 'n', notes) FROM customers",
      "SELECT json_object_agg(email, id) FROM customers",
      "SELECT string_agg(email, ',') FROM customers",
      "SELECT array_agg(email) FROM customers",
      "SELECT array_agg(card)::text FROM customers",
      "SELECT contact FROM customer_contacts",
      "SELECT email FROM customers UNION SELECT 'x'",
      "WITH c AS (SELECT email AS m, phone, card FROM customers) SELECT m, phone, card FROM c",
      "SELECT notes FROM customers",
      "SELECT ip, ip::text, host(ip) FROM customers",
      "SELECT bigcard, bigcard::text FROM customers",
      "SELECT convert_to(email, 'UTF8') FROM customers",
      "SELECT to_jsonb(c) FROM customers c",
  };
  for (const char* sql : cases) {
    SCOPED_TRACE(sql);
    expect_no_secret(sql, joined(query(sql)));
  }
}

TEST_F(Masking, SourceNamesAreLookedUpAgainAfterDdl) {
  // Through the gateway: a column renamed into a masked name is masked from
  // the next result on, though the alias hides the name and no detector
  // recognises the value (only the refreshed catalog can tell).
  auto c = gw_->connect(analyst());
  auto run = [&](const char* sql) {
    Result r(PQexec(c.get(), sql));
    ASSERT_EQ(PQresultStatus(r.get()), PGRES_COMMAND_OK) << sql << ": " << PQerrorMessage(c.get());
  };
  run("CREATE TABLE public.renamed_t(body text)");
  run("INSERT INTO public.renamed_t VALUES ('plain words')");
  EXPECT_EQ(scalar(c.get(), "SELECT body AS b FROM renamed_t"), "plain words");
  run("ALTER TABLE public.renamed_t RENAME COLUMN body TO email");
  EXPECT_NE(scalar(c.get(), "SELECT email AS b FROM renamed_t"), "plain words");
  run("DROP TABLE public.renamed_t");
}

TEST_F(Masking, JsonPathsMaskValuesNoDetectorWouldFind) {
  auto v = query("SELECT profile FROM customers WHERE id = 1");
  ASSERT_EQ(v.size(), 1u);
  expect_no_secret("jsonb", v[0]);
  EXPECT_NE(v[0].find("\"name\""), std::string::npos) << v[0];
  EXPECT_NE(v[0].find("Jane"), std::string::npos) << v[0];  // not sensitive: kept
}

TEST_F(Masking, OutputNameRuleAndHashStyleKeepValuesJoinable) {
  auto v = query("SELECT customer_ref, api_key FROM customers ORDER BY id");
  ASSERT_EQ(v.size(), 4u);
  EXPECT_NE(v[0], "CUST-0001");
  EXPECT_TRUE(v[0].starts_with("[MASKED:")) << v[0];
  EXPECT_EQ(v[0], v[2]);  // the same value, the same token
  expect_no_secret("api_key", v[1]);
  // An expression named like a masked column is masked by the name too.
  auto named = query("SELECT 'anything at all' AS email");
  ASSERT_EQ(named.size(), 1u);
  EXPECT_NE(named[0], "anything at all");
}

TEST_F(Masking, FalsePositivesStayUntouched) {
  auto v = query("SELECT clean, id, now()::date::text FROM customers ORDER BY id");
  ASSERT_EQ(v.size(), 6u);
  EXPECT_EQ(v[0], kClean);
  EXPECT_EQ(v[3], "v2.10.4");
}

TEST_F(Masking, ExemptGroupSeesClearValues) {
  auto v = query("SELECT email, profile->'user'->>'email' FROM customers WHERE id = 1", auditor());
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0], "jane.doe@example.com");
  EXPECT_EQ(v[1], "jane.doe@example.com");
}

TEST_F(Masking, BinaryResultsAreMaskedOrWithheld) {
  auto c = gw_->connect(analyst());
  Result r(PQexecParams(
      c.get(), "SELECT email, notes, profile, bigcard, ip, card FROM customers WHERE id = 1", 0,
      nullptr, nullptr, nullptr, nullptr, /*resultFormat=*/1));
  ASSERT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(r.get());
  ASSERT_EQ(PQntuples(r.get()), 1);
  std::string all;
  for (int j = 0; j < PQnfields(r.get()); ++j)
    if (!PQgetisnull(r.get(), 0, j))
      all += std::string(PQgetvalue(r.get(), 0, j), PQgetlength(r.get(), 0, j)) + "\n";
  expect_no_secret("binary", all);
  // int8 and inet cannot hold a masked text: withheld.
  EXPECT_TRUE(PQgetisnull(r.get(), 0, 3));
  EXPECT_TRUE(PQgetisnull(r.get(), 0, 4));
  // jsonb binary keeps its version byte and stays valid.
  ASSERT_FALSE(PQgetisnull(r.get(), 0, 2));
  EXPECT_EQ(PQgetvalue(r.get(), 0, 2)[0], '\1');
  // Prepared and pipelined: the same.
  Result p(PQprepare(c.get(), "q", "SELECT email FROM customers WHERE id = $1", 0, nullptr));
  ASSERT_EQ(PQresultStatus(p.get()), PGRES_COMMAND_OK);
  const char* one = "1";
  Result e(PQexecPrepared(c.get(), "q", 1, &one, nullptr, nullptr, 1));
  ASSERT_EQ(PQresultStatus(e.get()), PGRES_TUPLES_OK);
  expect_no_secret("prepared binary", std::string(PQgetvalue(e.get(), 0, 0)));
}

TEST_F(Masking, CopyToStdoutTextAndCsvIsMasked) {
  for (const char* sql :
       {"COPY customers TO STDOUT", "COPY customers TO STDOUT (FORMAT csv, HEADER)",
        "COPY (SELECT email, notes FROM customers) TO STDOUT (FORMAT csv)"}) {
    auto r = testbed::run({"psql", "-X", "-v", "ON_ERROR_STOP=1", "-c", sql},
                          gw_->psql_env(analyst()), std::chrono::seconds(60));
    EXPECT_EQ(r.exit_code, 0) << sql << ": " << r.output;
    expect_no_secret(sql, r.output);
    EXPECT_NE(r.output.find("@"), std::string::npos) << r.output;  // masked, not emptied
  }
  // Column rules follow the table's columns into COPY, even for values no
  // detector would recognise, in either format and with a column list.
  for (const char* sql :
       {"COPY customers TO STDOUT", "COPY public.customers TO STDOUT (FORMAT csv)",
        "COPY customers (id, customer_ref) TO STDOUT (FORMAT csv, DELIMITER ';')"}) {
    auto r = testbed::run({"psql", "-X", "-v", "ON_ERROR_STOP=1", "-c", sql},
                          gw_->psql_env(analyst()), std::chrono::seconds(60));
    EXPECT_EQ(r.exit_code, 0) << sql << ": " << r.output;
    EXPECT_EQ(r.output.find("CUST-0001"), std::string::npos) << sql << ": " << r.output;
    EXPECT_NE(r.output.find("[MASKED:"), std::string::npos) << sql << ": " << r.output;
  }
  // Binary COPY cannot be rewritten: nothing of it arrives, and the client is told.
  auto r = testbed::run({"psql", "-X", "-c", "COPY customers TO STDOUT (FORMAT binary)"},
                        gw_->psql_env(analyst()), std::chrono::seconds(60));
  expect_no_secret("binary copy", r.output);
  EXPECT_NE(r.output.find("binary COPY output cannot be masked"), std::string::npos) << r.output;
}

TEST_F(Masking, ErrorsEchoingAValueAreMasked) {
  auto c = gw_->connect(analyst());
  Result r(PQexec(c.get(), "INSERT INTO customers(id, email) VALUES (99, 'jane.doe@example.com')"));
  ASSERT_EQ(PQresultStatus(r.get()), PGRES_FATAL_ERROR);
  EXPECT_EQ(sqlstate(r.get()), "23505");
  const char* detail = PQresultErrorField(r.get(), PG_DIAG_MESSAGE_DETAIL);
  ASSERT_NE(detail, nullptr);
  EXPECT_NE(std::string(detail).find("already exists"), std::string::npos) << detail;
  expect_no_secret("error", server_fields(r.get()));
  // The message field echoes a value too.
  Result e(PQexec(c.get(), "SELECT 'bob@corp.example.org'::int"));
  ASSERT_EQ(PQresultStatus(e.get()), PGRES_FATAL_ERROR);
  EXPECT_EQ(sqlstate(e.get()), "22P02");
  expect_no_secret("cast error", server_fields(e.get()));
}

TEST_F(Masking, NotificationPayloadsAreMasked) {
  auto listener = gw_->connect(analyst());
  auto sender = gw_->connect(analyst());
  Result l(PQexec(listener.get(), "LISTEN contacts"));
  ASSERT_EQ(PQresultStatus(l.get()), PGRES_COMMAND_OK);
  Result s(
      PQexec(sender.get(), "NOTIFY contacts, 'new lead jane.doe@example.com +1 555 123 4567'"));
  ASSERT_EQ(PQresultStatus(s.get()), PGRES_COMMAND_OK);
  PGnotify* got = nullptr;
  for (int i = 0; i < 100 && !got; ++i) {
    Result poll(PQexec(listener.get(), "SELECT 1"));
    got = PQnotifies(listener.get());
    if (!got) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_NE(got, nullptr);
  std::string payload = got->extra;
  PQfreemem(got);
  EXPECT_NE(payload.find("new lead"), std::string::npos);
  expect_no_secret("notify", payload);
}

TEST_F(Masking, PsqlShowsMaskedValuesAndTheAuditCountsWithoutValues) {
  auto r =
      testbed::run({"psql", "-X", "-v", "ON_ERROR_STOP=1", "-c",
                    "SELECT id, email, notes FROM customers WHERE email = 'jane.doe@example.com'"},
                   gw_->psql_env(analyst()), std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_no_secret("psql", r.output);
  EXPECT_NE(r.output.find("(1 row)"), std::string::npos) << r.output;
  // The newest record of `pred`'s statements.
  const auto newest = [&](const std::function<bool(const audit::StatementRecord&)>& pred) {
    std::optional<audit::StatementRecord> out;
    for (auto& st : gw_->statements())
      if (pred(st)) out = std::move(st);
    return out;
  };
  const auto rec =
      newest([](const auto& st) { return st.text.starts_with("SELECT id, email, notes"); });
  ASSERT_TRUE(rec.has_value());
  expect_no_secret("audit text", rec->text);
  EXPECT_NE(rec->masked_json.find("\"pii\":3"), std::string::npos) << rec->masked_json;
  EXPECT_EQ(rec->withheld, 0);
  // The recording keeps the result as the client saw it: masked.
  auto result = nlohmann::json::parse(rec->result_json, nullptr, false);
  ASSERT_TRUE(result.is_object()) << rec->result_json;
  EXPECT_EQ(result["columns"], nlohmann::json::array({"id", "email", "notes"}));
  ASSERT_EQ(result["rows"].size(), 1u);
  EXPECT_EQ(result["rows"][0][0], "1");
  EXPECT_EQ(result["rows"][0][1].get<std::string>().front(), 'j');
  EXPECT_EQ(result["truncated"], false);
  // Past max_rows_per_statement the recording says it was cut.
  query("SELECT id FROM customers ORDER BY id");
  const auto cut =
      newest([](const auto& st) { return st.text == "SELECT id FROM customers ORDER BY id"; });
  ASSERT_TRUE(cut.has_value());
  auto cut_json = nlohmann::json::parse(cut->result_json, nullptr, false);
  ASSERT_TRUE(cut_json.is_object()) << cut->result_json;
  EXPECT_EQ(cut_json["rows"].size(), 1u);
  EXPECT_EQ(cut_json["truncated"], true);
  // Nothing in the store holds a raw value, results included: not what
  // search reads, nor any record of the stream as it is chained.
  std::string all;
  for (const auto& st : gw_->statements()) all += st.text + st.error_message + st.result_json;
  ASSERT_FALSE(all.empty());
  expect_no_secret("audit store", all);
  for (const auto& c : stored_chunks(gw_->dir + "/var/audit.db"))
    for (const auto& r : c.records) expect_no_secret("audit record", r.canonical);
  // The operator sees it too.
  auto status = gw_->control("status");
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("masking: 2 rule(s), "), std::string::npos) << status.output;
  EXPECT_EQ(status.output.find(", 0 value(s) masked"), std::string::npos) << status.output;
}

// Of a Query with several statements each record counts what masking did to
// its own results, keeps its own result, and has its own text masked.
TEST_F(Masking, EachStatementOfAQueryCountsItsOwnMaskedValues) {
  auto r = testbed::run({"psql", "-X", "-v", "ON_ERROR_STOP=1", "-c",
                         "SELECT id FROM customers WHERE id = 2 AND clean <> 'multi-mask'; "
                         "SELECT email FROM customers WHERE email = 'jane.doe@example.com'"},
                        gw_->psql_env(analyst()), std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_no_secret("psql", r.output);
  std::string session;
  for (const auto& st : gw_->statements())
    if (st.text == "SELECT id FROM customers WHERE id = 2 AND clean <> 'multi-mask'")
      session = st.session_id;
  ASSERT_FALSE(session.empty());
  const auto rows = session_statements(gw_->dir + "/var/audit.db", session);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].masked_json.find("pii"), std::string::npos)  // ids are not masked
      << rows[0].masked_json;
  EXPECT_EQ(rows[0].rows, 1);
  EXPECT_NE(rows[0].result_json.find("\"id\""), std::string::npos) << rows[0].result_json;
  // The second: its own text (masked), its own count, its own result.
  EXPECT_EQ(rows[1].text.rfind("SELECT email FROM customers WHERE email = '", 0), 0u)
      << rows[1].text;
  expect_no_secret("audit text", rows[1].text);
  EXPECT_NE(rows[1].masked_json.find("\"pii\":1"), std::string::npos) << rows[1].masked_json;
  EXPECT_EQ(rows[1].rows, 1);
  EXPECT_NE(rows[1].result_json.find("\"email\""), std::string::npos) << rows[1].result_json;
  expect_no_secret("audit result", rows[1].result_json);
}

// A prepared statement's parameters are recorded with what they bound, and
// masked: the email a client looks up by must not sit in the audit store raw.
TEST_F(Masking, RecordedParametersAreMaskedAndKeepTheirShape) {
  auto c = gw_->connect(analyst());
  const char* params[3] = {"jane.doe@example.com", nullptr, "7"};
  Result r(PQexecParams(c.get(),
                        "SELECT id FROM customers WHERE email = $1 OR notes = $2 OR id = $3::int",
                        3, nullptr, params, nullptr, nullptr, 0));
  ASSERT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(r.get());
  // A binary parameter that is not text is recorded by its size.
  const std::uint32_t be_seven = htonl(7);
  const char* bin[1] = {reinterpret_cast<const char*>(&be_seven)};
  const int lengths[1] = {4};
  const int formats[1] = {1};
  const Oid types[1] = {23};  // int4
  Result b(PQexecParams(c.get(), "SELECT id FROM customers WHERE id = $1", 1, types, bin, lengths,
                        formats, 0));
  ASSERT_EQ(PQresultStatus(b.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(b.get());
  std::vector<audit::StatementRecord> rows;  // newest first
  const auto recorded = gw_->statements();
  for (auto it = recorded.rbegin(); it != recorded.rend() && rows.size() < 2; ++it)
    if (it->text.starts_with("SELECT id FROM customers WHERE ") && !it->params_json.empty())
      rows.push_back(*it);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].protocol_path, "extended");
  EXPECT_EQ(rows[0].params_json, R"(["[binary, 4 bytes]"])");
  auto p = nlohmann::json::parse(rows[1].params_json, nullptr, false);
  ASSERT_TRUE(p.is_array() && p.size() == 3) << rows[1].params_json;
  expect_no_secret("recorded parameters", rows[1].params_json);
  const std::string email = p[0].get<std::string>();
  EXPECT_EQ(email.front(), 'j') << email;  // partial: the shape stays, the value does not
  EXPECT_TRUE(email.ends_with(".com")) << email;
  EXPECT_TRUE(p[1].is_null());
  EXPECT_EQ(p[2], "7");
  // Statements without parameters keep no params at all (and their chain encoding).
  std::size_t simple = 0, with_params = 0;
  for (const auto& st : recorded) {
    if (st.protocol_path != "simple") continue;
    ++simple;
    if (!st.params_json.empty()) ++with_params;
  }
  EXPECT_GT(simple, 0u);
  EXPECT_EQ(with_params, 0u);
  for (const auto& c : stored_chunks(gw_->dir + "/var/audit.db"))
    for (const auto& r : c.records)
      if (r.canonical.find("\"protocol_path\":\"simple\"") != std::string::npos) {
        EXPECT_EQ(r.canonical.find("\"params_json\""), std::string::npos) << r.canonical;
      }
}

}  // namespace
}  // namespace gh::it
