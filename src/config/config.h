// The gateway's configuration: the YAML of shared/design/config.md, loaded,
// `${ENV}`-substituted and validated into plain structs. A file with problems
// is refused whole, with every problem listed with its line. Sections this
// build does not implement are refused by name, never silently ignored.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "approvals/rules.h"
#include "base/expected.h"
#include "identity/verifier.h"
#include "masking/rules.h"
#include "policy/access.h"
#include "policy/decide.h"

namespace gh::config {

enum class ListenerTls { kRequired, kOptional };

struct Listener {
  std::string name;
  std::string protocol;  // "postgres"
  std::string host;      // address to bind
  std::uint16_t port = 0;
  ListenerTls tls = ListenerTls::kRequired;
  std::string cert_file;  // absolute; defaults to gateway.tls
  std::string key_file;
};

enum class UpstreamTls { kDisable, kPrefer, kRequire, kVerifyFull };

struct Credentials {
  std::string user;
  std::string password;  // secret: never log, print or record
};

// The password exchanges the gateway answers upstream (libpq's require_auth).
// By default SCRAM only: MD5 and cleartext hand a man in the middle something
// to replay or read, and a server that lets the gateway in with no exchange at
// all (`trust`) may not be the server at all.
struct UpstreamAuth {
  bool scram_sha_256 = true;
  bool md5 = false;
  bool password = false;  // cleartext
  bool trust = false;     // AuthenticationOk with no exchange
};

struct Connection {
  std::string name;
  std::string protocol;  // "postgres"
  std::string host;
  std::uint16_t port = 5432;
  std::string database;
  // By default the server is verified: its certificate against `ca` (or the
  // system's trust store) and the host name.
  UpstreamTls tls = UpstreamTls::kVerifyFull;
  std::string ca_file;  // absolute; empty: the system's trust store
  std::chrono::milliseconds connect_timeout{10'000};
  UpstreamAuth auth;                   // `upstream.auth`; default: scram-sha-256 only
  std::string search_path = "public";  // `upstream.search_path`: pinned for every session
  Credentials credentials;
  std::optional<Credentials> read_credentials;  // for sessions allowed only `read`
};

// The admin API's HTTPS listener (`gateway.admin`).
struct AdminListener {
  bool enabled = false;
  std::string host;
  std::uint16_t port = 0;
  bool tls = true;        // `tls: off` only on loopback
  std::string cert_file;  // absolute; defaults to gateway.tls
  std::string key_file;
  // `metrics: open | token`: whether GET /metrics needs a verified caller token.
  // Open by default: it carries counts only, and scrapers rarely hold a token.
  bool metrics_need_token = false;
};

// `gateway.log_format`: JSON lines for log shippers, or text for people.
enum class LogFormat { kJson, kText };

struct Gateway {
  std::string id = "gw-1";
  std::string data_dir;  // absolute
  std::string store = "sqlite";
  std::string tls_cert;  // absolute; may be empty when no listener needs TLS
  std::string tls_key;
  bool audit = true;  // `audit: off` exists for pass-through benchmarks only
  std::string log_level = "info";
  LogFormat log_format = LogFormat::kJson;
  int io_threads = 0;           // 0 = one per core
  int max_connections = 10000;  // client connections open at once, authenticated or not
  // Connections from one client address that are still logging in (before
  // the session starts): past it, that address's next ones are refused at
  // once, so that idle connections from one place cannot hold the gateway's
  // descriptors and slots until their startup deadline.
  int max_logins_per_address = 256;
  // What the gateway holds for one session (statement texts, bound
  // parameters, prepared statements, rows held for a threshold), and for
  // all sessions together: past either, that session ends with an error.
  std::uint64_t session_memory = 64ULL << 20;
  std::uint64_t memory_limit = 4ULL << 30;
  AdminListener admin;
};

// `roles`: what callers of the admin API may do beyond their own requests.
struct Roles {
  std::vector<std::string> admins;    // groups: issue tokens, reload, pause/resume, all reviews
  std::vector<std::string> auditors;  // groups: read every request, session and audit record
};

// `identity.gateway_tokens`: the short-lived tokens the gateway signs itself.
struct GatewayTokens {
  std::chrono::seconds max_ttl{3600};
  std::string issuer = "gatehouse";  // the `iss` of gateway tokens
  std::string audience = "gatehouse";
};

// `webhooks`: where approval requests are announced when created and when
// decided (Slack and Teams incoming webhooks, or any JSON receiver).
struct Webhook {
  std::string name;
  std::string url;  // a secret (it authorises posting): never logged, shown or recorded
  bool on_created = true;
  bool on_decided = true;
  std::string ca_file;  // trust for the receiver's certificate; empty: the system's store
  std::chrono::seconds timeout{10};  // one attempt
  int attempts = 8;                  // in all, with back-off between them
};

// `recording`: what is kept of each session beyond its statements.
struct Recording {
  bool results = false;  // results: masked — keep the masked result rows
  std::size_t max_rows_per_statement = 100;
  std::chrono::seconds retention{90LL * 24 * 3600};
  // audit_durability: sync — a statement goes upstream only once its intent
  // record is on disk, and its completion reaches the client only once its
  // outcome record is. async (default): records are committed within 50 ms.
  bool sync_audit = false;
  // spool_max: how much the local audit spool may hold while the store does
  // not take records (past it, new sessions are refused).
  std::uint64_t spool_max_bytes = 256ULL << 20;
};

struct Config {
  std::string path;  // the file it came from
  Gateway gateway;
  std::vector<identity::IssuerConfig> issuers;  // jwks_json already read
  identity::VerifierOptions verifier;
  std::vector<Listener> listeners;
  std::vector<Connection> connections;
  policy::AccessPolicy access;
  std::vector<policy::Guardrail> guardrails;
  std::vector<masking::Rule> masking;
  approvals::RuleSet approvals;
  Roles roles;
  GatewayTokens gateway_tokens;
  std::vector<Webhook> webhooks;
  Recording recording;
  std::vector<std::string> warnings;  // accepted, but worth telling the operator

  const Connection* find_connection(std::string_view name) const;
};

struct Problem {
  std::string file;
  int line = 0;  // 1-based; 0 when the problem has no single place
  std::string message;
  std::string to_string() const;  // "file:line: message"
};

// Reads ${NAME} values; returns nullopt for an unset variable.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup process_env();

Expected<Config, std::vector<Problem>> load_file(const std::string& path, const EnvLookup& env);
// Only gateway.data_dir (absolute), read leniently: a running gateway's CLI
// must find it even in a file that no longer validates (to be told why).
std::string peek_data_dir(const std::string& path);
// gateway.store as the file spells it (before ${NAME} substitution), read the
// same way; "sqlite" when it is not there.
std::string peek_store(const std::string& path);
// `path` names the text for messages and anchors relative paths (its directory).
Expected<Config, std::vector<Problem>> load_string(const std::string& text, const std::string& path,
                                                   const EnvLookup& env);

}  // namespace gh::config
