// The world the integration tests run in: one PostgreSQL 15 cluster with the
// roles the gateway authenticates as, a stand-in identity provider, and a
// gatehouse process configured in front of it. Built once per test binary.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "audit/reader.h"
#include "audit/stream.h"
#include "testbed/idp.h"
#include "testbed/pg_cluster.h"
#include "testbed/process.h"

namespace gh::it {

struct PgConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Conn = std::unique_ptr<PGconn, PgConnDeleter>;
using Result = std::unique_ptr<PGresult, PgResultDeleter>;

class World {
 public:
  static World& get();  // set up on first use; torn down at exit
  ~World();

  std::string dir;
  testbed::PgCluster pg;
  std::unique_ptr<testbed::TestIdp> idp;
  std::unique_ptr<testbed::TestIdp>
      rogue_idp;     // same issuer name, a key the gateway does not trust
  int port = 0;      // listener `pg` (tls: optional)
  int tls_port = 0;  // listener `pg-tls` (tls: required)
  std::string config_path;
  std::string log_path;
  std::string audit_db;
  testbed::Process gateway;

  std::string agent_token() const { return idp->mint("agent-7", {"ai-agents"}); }

  // A libpq conninfo to the gateway.
  std::string conninfo(const std::string& database, const std::string& token,
                       const std::string& sslmode = "require", int listener_port = 0,
                       const std::string& extra = "") const;
  // Connects; on failure returns the connection anyway (check PQstatus / error message).
  Conn connect(const std::string& database, const std::string& token,
               const std::string& sslmode = "require", int listener_port = 0,
               const std::string& extra = "") const;
  // Runs `sql` on the audit store (after the gateway's recorder flushed).
  std::vector<std::vector<std::string>> audit(const std::string& sql) const;
  // The statements the gateway recorded (recorded_statements), after the flush.
  std::vector<audit::StatementRecord> statements(const audit::StatementQuery& q = {}) const;
  void wait_audit_flush() const;

 private:
  World();
  void start_gateway();
};

// A gateway process of a test's own in front of the world's PostgreSQL, with
// the sections the test writes. Its config file can be rewritten and reloaded;
// its directory is kept after a failure, for its log.
struct OwnGateway {
  std::string dir;
  std::string config;
  std::string log;
  int port = 0;
  testbed::Process process;

  // gateway, identity (the world's IdP), one plaintext loopback listener and
  // the `app` connection as gh_scram (read credentials gh_policy_ro, whose
  // password file the test writes, when asked).
  static std::string base_yaml(const World& w, const std::string& id, int port,
                               bool read_credentials);
  // One entry of `connections:`, `name` for the world's PostgreSQL database
  // `app` as gh_scram (plaintext upstream).
  static std::string connection_yaml(const World& w, const std::string& name);
  // `yaml` is the whole file for the port the gateway listens on.
  OwnGateway(const std::string& name, const std::function<std::string(int port)>& yaml);
  // base_yaml (no read credentials) and the policy sections `policy_yaml`.
  static std::unique_ptr<OwnGateway> with_policy(const World& w, const std::string& name,
                                                 const std::string& policy_yaml);
  ~OwnGateway();
  OwnGateway(const OwnGateway&) = delete;
  OwnGateway& operator=(const OwnGateway&) = delete;

  std::string conninfo(const std::string& token) const;
  Conn connect(const std::string& token) const;  // throws when it cannot
  std::map<std::string, std::string> psql_env(const std::string& token) const;
  testbed::RunResult control(const std::string& command) const;
  // `gatehouse audit verify` on this gateway's store (`--json` when asked).
  testbed::RunResult verify_audit(bool json = false) const;
  // Rows of the gateway's SQLite audit store, after the recorder's flush.
  std::vector<std::vector<std::string>> audit(const std::string& sql) const;
  // The statements its SQLite store recorded (recorded_statements), after the flush.
  std::vector<audit::StatementRecord> statements(const audit::StatementQuery& q = {}) const;
};

// Executes, expecting success; returns the single value of a one-cell result.
std::string scalar(PGconn* c, const std::string& sql);
std::string sqlstate(const PGresult* r);
// Rows of `sql` on an SQLite audit store, as text ("" for NULL); throws on failure.
std::vector<std::vector<std::string>> sqlite_rows(const std::string& db_path,
                                                  const std::string& sql);
// A shared PostgreSQL audit store in the world's cluster: the role gatehouse
// writes as (created once) and a new database `database` it owns; its URL.
std::string make_shared_store(const World& w, const std::string& database);
// That store's URL.
std::string shared_store_url(const World& w, const std::string& database);
// The store's password, which must never show in a log or a report.
inline constexpr const char* kSharedStorePassword = "audit-store-secret-9";
// Rows of a one-column query on the world's cluster, database `database`.
std::vector<std::string> pg_column(const World& w, const std::string& database,
                                   const std::string& sql);
// ---- what an audit store recorded ---------------------------------------
// `store` is an SQLite file's path or a PostgreSQL URL (postgres[ql]://…).

// The statements `store` recorded that match `q` (every one: its limit is
// ignored), oldest first (by time, then session and seq), read back through
// the store's audit Reader, as `gatehouse audit search` and replays read
// them: the record stream's chunks and the statement rows of older stores
// alike. Throws when the store cannot be read.
std::vector<audit::StatementRecord> recorded_statements(const std::string& store,
                                                        audit::StatementQuery q = {});
// One session's statements in the order they ran (the Reader's transcript).
std::vector<audit::StatementRecord> session_statements(const std::string& store,
                                                       const std::string& session_id);
// A statement's tables as the JSON array its record keeps (["public.t"]).
std::string tables_json(const audit::StatementRecord& r);

// One row of audit_chunks, decoded (audit/stream.h): its records (chain seq,
// hash, canonical form) and their statement texts, in chain order.
struct StoredChunk {
  std::int64_t id = 0;
  std::string replica;
  std::vector<audit::ChunkRecord> records;
  std::vector<std::string> texts;
};
// Every chunk of `store`, by replica, then in chain order.
std::vector<StoredChunk> stored_chunks(const std::string& store);
// Writes `c` back over its row past the append-only trigger, as someone with
// the database's own tools could; the summary columns stay as they were.
void rewrite_chunk(const std::string& store, const StoredChunk& c);
// Runs `sql` (statements without a result) on `store`; throws on failure.
void store_exec(const std::string& store, const std::string& sql);

// The gatehouse command line in a process of its own, as `token`'s owner,
// against the admin API at `admin_url` (HTTPS with the world's certificate).
testbed::RunResult gatehouse_cli(const std::string& admin_url, const std::vector<std::string>& args,
                                 const std::string& token);
// Environment for command-line clients (psql, pgbench) to reach the gateway.
std::map<std::string, std::string> client_env(const World& w, const std::string& database,
                                              const std::string& token);

}  // namespace gh::it
