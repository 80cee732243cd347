#include "tests/integration/harness.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>
#include <tuple>

#include "base/bytes.h"
#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_store.h"

namespace gh::it {

namespace {

World* g_world = nullptr;

// Tears the world down after the last test, so that every process started is stopped.
class WorldEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    delete g_world;
    g_world = nullptr;
  }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new WorldEnvironment);

}  // namespace

World& World::get() {
  if (!g_world) g_world = new World();
  return *g_world;
}

World::World() {
  (void)kEnv;
  dir = testbed::make_temp_dir("gatehouse-it");
  pg = testbed::PgCluster::create(dir, {});
  // The roles the gateway authenticates as: SCRAM (default), MD5 and cleartext.
  pg.sql(
      "CREATE ROLE gh_scram LOGIN PASSWORD 'scram-secret-1';"
      "SET password_encryption = 'md5'; CREATE ROLE gh_md5 LOGIN PASSWORD 'md5-secret-2'; RESET "
      "password_encryption;"
      "CREATE ROLE gh_plain LOGIN PASSWORD 'plain-secret-3';"
      "CREATE ROLE gh_trust LOGIN;"
      "CREATE DATABASE app OWNER gh_scram;"
      "GRANT ALL ON DATABASE app TO gh_md5, gh_plain, gh_trust;");
  pg.sql("GRANT ALL ON SCHEMA public TO gh_md5, gh_plain;", "app");

  idp = std::make_unique<testbed::TestIdp>("https://idp.test/", "gatehouse",
                                           identity::Algorithm::kES256, "k1");
  rogue_idp = std::make_unique<testbed::TestIdp>("https://idp.test/", "gatehouse",
                                                 identity::Algorithm::kES256, "k1");
  testbed::write_file(dir + "/jwks.json", idp->jwks());
  std::string error;
  if (!testbed::make_self_signed_cert(dir + "/gw.crt", dir + "/gw.key", &error))
    throw std::runtime_error(error);
  // A CA that did not sign the server's certificate, for verify-full refusals.
  if (!testbed::make_self_signed_cert(dir + "/other-ca.crt", dir + "/other-ca.key", &error))
    throw std::runtime_error(error);
  testbed::write_file(dir + "/scram.pw", "scram-secret-1\n", 0600);
  start_gateway();
}

World::~World() {
  gateway.stop();
  pg.stop();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

void World::start_gateway() {
  port = testbed::free_port();
  tls_port = testbed::free_port();
  int dead_port = testbed::free_port();  // nothing listens there
  std::string pgport = std::to_string(pg.port());
  std::string yaml = R"(gateway:
  id: gw-it
  data_dir: ./var
  tls:
    cert: gw.crt
    key: gw.key
  log_level: debug
  io_threads: 2
identity:
  issuers:
    - name: test-idp
      issuer: https://idp.test/
      audience: [gatehouse, other-audience]
      jwks_file: jwks.json
      groups_claim: groups
      max_lifetime: 1h
listeners:
  - name: pg
    protocol: postgres
    listen: 127.0.0.1:)" +
                     std::to_string(port) + R"(
    tls: optional
  - name: pg-tls
    protocol: postgres
    listen: 127.0.0.1:)" +
                     std::to_string(tls_port) + R"(
    tls: required
connections:
  - name: app
    protocol: postgres
    upstream: {host: 127.0.0.1, port: )" +
                     pgport + R"(, database: app, tls: prefer}
    credentials: {user: gh_scram, password_file: scram.pw}
  - name: app_md5
    protocol: postgres
    upstream: {host: 127.0.0.1, port: )" +
                     pgport + R"(, database: app, tls: disable, auth: [md5]}
    credentials: {user: gh_md5, password_env: GH_IT_MD5_PASSWORD}
  - name: app_plain
    protocol: postgres
    upstream: {host: 127.0.0.1, port: )" +
                     pgport + R"(, database: app, tls: require, auth: [password]}
    credentials: {user: gh_plain, password_env: GH_IT_PLAIN_PASSWORD}
  - name: app_md5_not_allowed
    protocol: postgres
    upstream: {host: 127.0.0.1, port: )" +
                     pgport + R"(, database: app, tls: disable, auth: [scram-sha-256]}
    credentials: {user: gh_md5, password_env: GH_IT_MD5_PASSWORD}
  - name: app_verify
    protocol: postgres
    upstream: {host: 127.0.0.1, port: )" +
                     pgport + R"(, database: app, tls: verify-full, ca: pg/server.crt}
    credentials: {user: gh_scram, password_file: scram.pw}
  - name: app_wrong_ca
    protocol: postgres
    upstream: {host: 127.0.0.1, port: )" +
                     pgport + R"(, database: app, tls: verify-full, ca: other-ca.crt}
    credentials: {user: gh_scram, password_file: scram.pw}
  - name: app_down
    protocol: postgres
    upstream: {host: 127.0.0.1, port: )" +
                     std::to_string(dead_port) +
                     R"(, database: app, tls: disable, connect_timeout: 3s}
    credentials: {user: gh_scram, password_file: scram.pw}
  - name: app_defaults
    protocol: postgres
    upstream: {host: 127.0.0.1, port: )" +
                     pgport + R"(, database: app}
    credentials: {user: gh_scram, password_file: scram.pw}
  - name: app_md5_default
    protocol: postgres
    upstream: {host: 127.0.0.1, port: )" +
                     pgport + R"(, database: app, tls: disable}
    credentials: {user: gh_md5, password_env: GH_IT_MD5_PASSWORD}
  - name: app_trust
    protocol: postgres
    upstream: {host: 127.0.0.1, port: )" +
                     pgport + R"(, database: app, tls: disable}
    credentials: {user: gh_trust, password_file: scram.pw}
  - name: app_trust_allowed
    protocol: postgres
    upstream: {host: 127.0.0.1, port: )" +
                     pgport + R"(, database: app, tls: disable, auth: [trust]}
    credentials: {user: gh_trust, password_file: scram.pw}
  - name: billing
    protocol: postgres
    upstream: {host: 127.0.0.1, port: )" +
                     pgport + R"(, database: app, tls: prefer}
    credentials: {user: gh_scram, password_file: scram.pw}
access:
  # The relay tests run every kind of statement as the agent; policy_test.cc
  # has gateways of its own for narrower rules.
  - name: agents
    groups: [ai-agents]
    connections: ["app*"]
    actions: [read, write, ddl, admin]
  - name: dba
    groups: [dba]
    connections: ["*"]
    actions: [read, write, ddl, admin]
)";
  config_path = dir + "/gatehouse.yaml";
  testbed::write_file(config_path, yaml);
  log_path = dir + "/gatehouse.log";
  audit_db = dir + "/var/audit.db";
  gateway = testbed::Process::start(
      {GH_GATEHOUSE_BIN, "serve", "--config", config_path}, log_path,
      {{"GH_IT_MD5_PASSWORD", "md5-secret-2"}, {"GH_IT_PLAIN_PASSWORD", "plain-secret-3"}});
  if (!testbed::wait_for_text(log_path, "gatehouse listening pg-tls=", std::chrono::seconds(60)))
    throw std::runtime_error("gatehouse did not start: " + testbed::read_file(log_path));
}

testbed::RunResult gatehouse_cli(const std::string& admin_url, const std::vector<std::string>& args,
                                 const std::string& token) {
  std::vector<std::string> argv{GH_GATEHOUSE_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return testbed::run(argv,
                      {{"GATEHOUSE_GATEWAY", admin_url},
                       {"GATEHOUSE_TOKEN", token},
                       {"GATEHOUSE_CA", World::get().dir + "/gw.crt"}},
                      std::chrono::seconds(60));
}

std::string World::conninfo(const std::string& database, const std::string& token,
                            const std::string& sslmode, int listener_port,
                            const std::string& extra) const {
  return "host=127.0.0.1 port=" + std::to_string(listener_port ? listener_port : port) +
         " dbname=" + database + " user=agent-7 password=" + token + " sslmode=" + sslmode +
         " connect_timeout=20 " + extra;
}

Conn World::connect(const std::string& database, const std::string& token,
                    const std::string& sslmode, int listener_port, const std::string& extra) const {
  return Conn(PQconnectdb(conninfo(database, token, sslmode, listener_port, extra).c_str()));
}

void World::wait_audit_flush() const {
  // The recorder flushes at least every 50 ms; allow generous slack under sanitizers.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
}

std::vector<std::vector<std::string>> World::audit(const std::string& sql) const {
  wait_audit_flush();
  return sqlite_rows(audit_db, sql);
}

std::vector<audit::StatementRecord> World::statements(const audit::StatementQuery& q) const {
  wait_audit_flush();
  return recorded_statements(audit_db, q);
}

std::vector<std::vector<std::string>> sqlite_rows(const std::string& db_path,
                                                  const std::string& sql) {
  sqlite3* db = nullptr;
  std::vector<std::vector<std::string>> rows;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error("cannot open audit db " + db_path);
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    std::string err = sqlite3_errmsg(db);
    sqlite3_close(db);
    throw std::runtime_error("audit query failed: " + err);
  }
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int i = 0; i < sqlite3_column_count(st); ++i) {
      auto* t = sqlite3_column_text(st, i);
      row.push_back(t ? reinterpret_cast<const char*>(t) : "");
    }
    rows.push_back(std::move(row));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rows;
}

std::string scalar(PGconn* c, const std::string& sql) {
  Result r(PQexec(c, sql.c_str()));
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK)
    throw std::runtime_error("query failed: " + sql + ": " + PQerrorMessage(c));
  if (PQntuples(r.get()) != 1 || PQnfields(r.get()) != 1)
    throw std::runtime_error("not a scalar: " + sql);
  return PQgetvalue(r.get(), 0, 0);
}

std::string sqlstate(const PGresult* r) {
  const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  return s ? s : "";
}

std::map<std::string, std::string> client_env(const World& w, const std::string& database,
                                              const std::string& token) {
  return {{"PGHOST", "127.0.0.1"},    {"PGPORT", std::to_string(w.port)},
          {"PGDATABASE", database},   {"PGUSER", "agent-7"},
          {"PGPASSWORD", token},      {"PGSSLMODE", "require"},
          {"PGCONNECT_TIMEOUT", "20"}};
}

std::string OwnGateway::base_yaml(const World& w, const std::string& id, int port,
                                  bool read_credentials) {
  std::string y = R"(gateway:
  id: )" + id + R"(
  data_dir: ./var
  log_level: debug
identity:
  issuers:
    - name: test-idp
      issuer: https://idp.test/
      audience: gatehouse
      jwks_file: )" +
                  w.dir + R"(/jwks.json
      groups_claim: groups
      max_lifetime: 1h
listeners:
  - name: pg
    protocol: postgres
    listen: 127.0.0.1:)" +
                  std::to_string(port) + R"(
    tls: optional
connections:
)" + connection_yaml(w, "app");
  if (read_credentials)
    y += "    read_credentials: {user: gh_policy_ro, password_file: " + w.dir + "/ro.pw}\n";
  return y;
}

std::unique_ptr<OwnGateway> OwnGateway::with_policy(const World& w, const std::string& name,
                                                    const std::string& policy_yaml) {
  return std::make_unique<OwnGateway>("gatehouse-" + name, [&](int port) {
    return base_yaml(w, "gw-" + name, port, false) + policy_yaml;
  });
}

std::string OwnGateway::connection_yaml(const World& w, const std::string& name) {
  return "  - name: " + name + R"(
    protocol: postgres
    upstream: {host: 127.0.0.1, port: )" +
         std::to_string(w.pg.port()) + R"(, database: app, tls: disable}
    credentials: {user: gh_scram, password_file: )" +
         w.dir + "/scram.pw}\n";
}

OwnGateway::OwnGateway(const std::string& name, const std::function<std::string(int)>& yaml) {
  dir = testbed::make_temp_dir(name);
  port = testbed::free_port();
  config = dir + "/gatehouse.yaml";
  log = dir + "/gatehouse.log";
  testbed::write_file(config, yaml(port));
  process = testbed::Process::start({GH_GATEHOUSE_BIN, "serve", "--config", config}, log);
  if (!testbed::wait_for_text(log, "gatehouse listening", std::chrono::seconds(60)))
    throw std::runtime_error("gatehouse did not start: " + testbed::read_file(log));
}

OwnGateway::~OwnGateway() {
  process.stop();
  if (::testing::UnitTest::GetInstance()->failed_test_count() > 0) {
    std::cerr << "gateway kept for inspection: " << dir << "\n";
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

testbed::RunResult OwnGateway::verify_audit(bool json) const {
  std::vector<std::string> argv{GH_GATEHOUSE_BIN, "audit", "verify", "--config", config};
  if (json) argv.push_back("--json");
  return testbed::run(argv, {}, std::chrono::seconds(60));
}

std::string OwnGateway::conninfo(const std::string& token) const {
  return "host=127.0.0.1 port=" + std::to_string(port) +
         " dbname=app user=it sslmode=disable connect_timeout=20 password=" + token;
}

Conn OwnGateway::connect(const std::string& token) const {
  Conn c(PQconnectdb(conninfo(token).c_str()));
  if (PQstatus(c.get()) != CONNECTION_OK)
    throw std::runtime_error(std::string("connect: ") + PQerrorMessage(c.get()));
  return c;
}

std::map<std::string, std::string> OwnGateway::psql_env(const std::string& token) const {
  return {{"PGHOST", "127.0.0.1"},    {"PGPORT", std::to_string(port)},
          {"PGDATABASE", "app"},      {"PGUSER", "it"},
          {"PGPASSWORD", token},      {"PGSSLMODE", "disable"},
          {"PGCONNECT_TIMEOUT", "20"}};
}

testbed::RunResult OwnGateway::control(const std::string& command) const {
  return testbed::run({GH_GATEHOUSE_BIN, command, "--config", config}, {},
                      std::chrono::seconds(60));
}

std::vector<std::vector<std::string>> OwnGateway::audit(const std::string& sql) const {
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // the recorder's flush
  return sqlite_rows(dir + "/var/audit.db", sql);
}

std::vector<audit::StatementRecord> OwnGateway::statements(const audit::StatementQuery& q) const {
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // the recorder's flush
  return recorded_statements(dir + "/var/audit.db", q);
}

namespace {

bool is_postgres(const std::string& store) {
  return store.starts_with("postgres://") || store.starts_with("postgresql://");
}

std::unique_ptr<audit::Reader> open_reader(const std::string& store) {
  auto reader =
      is_postgres(store) ? store::open_postgres_reader(store) : store::open_sqlite_reader(store);
  if (!reader) throw std::runtime_error("cannot read the audit store: " + reader.error());
  return std::move(*reader);
}

// A connection to a PostgreSQL store; throws when there is none.
Conn pg_store_connection(const std::string& url) {
  Conn c(PQconnectdb(url.c_str()));
  if (PQstatus(c.get()) != CONNECTION_OK)
    throw std::runtime_error(std::string("audit store: ") + PQerrorMessage(c.get()));
  return c;
}

// A column that holds any bytes, as stored: PostgreSQL's store keeps such
// values as its mark and their hex (pg_connection.cc).
std::string stored_bytes(const std::string& v) {
  if (v.starts_with("\x01hex:")) return from_hex(v.substr(5)).value_or(v);
  return v;
}

// `bytes` as an SQL literal of the store.
std::string bytes_literal(const std::string& store, const std::string& bytes) {
  const std::string h = hex(as_bytes(bytes));
  return is_postgres(store) ? "chr(1) || 'hex:" + h + "'" : "x'" + h + "'";
}

}  // namespace

std::vector<audit::StatementRecord> recorded_statements(const std::string& store,
                                                        audit::StatementQuery q) {
  q.limit = 100'000'000;
  auto found = open_reader(store)->search(q);
  if (!found) throw std::runtime_error("audit search: " + found.error());
  std::vector<audit::StatementRecord> out = std::move(*found);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.at_us, a.session_id, a.seq) < std::tie(b.at_us, b.session_id, b.seq);
  });
  return out;
}

std::vector<audit::StatementRecord> session_statements(const std::string& store,
                                                       const std::string& session_id) {
  auto found = open_reader(store)->transcript(session_id);
  if (!found) throw std::runtime_error("audit transcript: " + found.error());
  return std::move(*found);
}

std::string tables_json(const audit::StatementRecord& r) {
  return nlohmann::json(r.tables).dump();
}

std::vector<StoredChunk> stored_chunks(const std::string& store) {
  const std::string sql =
      "SELECT id, replica, body, texts FROM audit_chunks ORDER BY replica, first_seq, id";
  // id, replica, body, texts: each byte for byte.
  std::vector<std::array<std::string, 4>> rows;
  if (is_postgres(store)) {
    Conn c = pg_store_connection(store);
    Result r(PQexec(c.get(), sql.c_str()));
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK)
      throw std::runtime_error(std::string("audit store: ") + PQerrorMessage(c.get()));
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      auto& row = rows.emplace_back();
      for (int col = 0; col < 4; ++col)
        row[static_cast<std::size_t>(col)].assign(
            PQgetvalue(r.get(), i, col), static_cast<std::size_t>(PQgetlength(r.get(), i, col)));
    }
  } else {
    sqlite3* db = nullptr;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_open_v2(store.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK ||
        sqlite3_busy_timeout(db, 5000) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      const std::string err = db ? sqlite3_errmsg(db) : "out of memory";
      sqlite3_close(db);
      throw std::runtime_error("audit store " + store + ": " + err);
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
      auto& row = rows.emplace_back();
      for (int col = 0; col < 4; ++col) {
        const auto* v = static_cast<const char*>(sqlite3_column_blob(st, col));
        if (v)
          row[static_cast<std::size_t>(col)].assign(
              v, static_cast<std::size_t>(sqlite3_column_bytes(st, col)));
      }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  std::vector<StoredChunk> out;
  for (const auto& row : rows) {
    StoredChunk c;
    c.id = std::stoll(row[0]);
    c.replica = row[1];
    auto records = audit::decode_chunk(stored_bytes(row[2]));
    auto texts = audit::decode_texts(stored_bytes(row[3]));
    if (!records || !texts)
      throw std::runtime_error("audit_chunks id=" + row[0] +
                               " does not decode: " + (records ? texts.error() : records.error()));
    c.records = std::move(*records);
    c.texts = std::move(*texts);
    out.push_back(std::move(c));
  }
  return out;
}

void rewrite_chunk(const std::string& store, const StoredChunk& c) {
  audit::ChunkBuilder b;
  for (std::size_t i = 0; i < c.records.size(); ++i) {
    const auto j = nlohmann::json::parse(c.records[i].canonical);
    b.add(c.records[i].seq, j.value("at_us", std::int64_t{0}), c.records[i].hash,
          c.records[i].canonical, i < c.texts.size() ? c.texts[i] : "");
  }
  const audit::Chunk out = b.finish();
  store_exec(store, std::string("DROP TRIGGER IF EXISTS audit_chunks_append_only") +
                        (is_postgres(store) ? " ON audit_chunks;" : ";") +
                        "UPDATE audit_chunks SET body = " + bytes_literal(store, out.body) +
                        ", texts = " + bytes_literal(store, out.texts) +
                        " WHERE id = " + std::to_string(c.id));
}

void store_exec(const std::string& store, const std::string& sql) {
  if (is_postgres(store)) {
    Conn c = pg_store_connection(store);
    Result r(PQexec(c.get(), sql.c_str()));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK)
      throw std::runtime_error(sql + ": " + PQerrorMessage(c.get()));
    return;
  }
  sqlite3* db = nullptr;
  if (sqlite3_open(store.c_str(), &db) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error("cannot open audit store " + store);
  }
  sqlite3_busy_timeout(db, 5000);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  const std::string error = err ? err : "failed";
  sqlite3_free(err);
  sqlite3_close(db);
  if (rc != SQLITE_OK) throw std::runtime_error(sql + ": " + error);
}

std::string make_shared_store(const World& w, const std::string& database) {
  w.pg.sql(std::string("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                       "'gh_audit') THEN CREATE ROLE gh_audit LOGIN PASSWORD '") +
           kSharedStorePassword + "'; END IF; END $$;");
  w.pg.sql("CREATE DATABASE " + database + " OWNER gh_audit;");
  return shared_store_url(w, database);
}

std::string shared_store_url(const World& w, const std::string& database) {
  return std::string("postgresql://gh_audit:") + kSharedStorePassword +
         "@127.0.0.1:" + std::to_string(w.pg.port()) + "/" + database;
}

std::vector<std::string> pg_column(const World& w, const std::string& database,
                                   const std::string& sql) {
  std::vector<std::string> out;
  std::istringstream lines(w.pg.sql(sql, database));
  for (std::string line; std::getline(lines, line);) out.push_back(line);
  return out;
}

}  // namespace gh::it
