// The subcommands of the gatehouse binary.
#pragma once

#include <memory>

#include <cstdint>
#include <string>
#include <string_view>

#include "base/expected.h"

namespace CLI {
class App;
}
namespace gh::audit {
class Reader;
class Store;
}  // namespace gh::audit
namespace gh::cluster {
class Peers;
}
namespace gh::config {
struct Config;
}

namespace gh::app {

// `gatehouse audit`: created by whichever command group registers first
// (search goes through the admin API; verify reads the store).
CLI::App* audit_group(CLI::App& app);

// `gatehouse audit verify`: reads the store itself and checks its hash chain.
struct AuditCommands;
std::shared_ptr<AuditCommands> add_audit_commands(CLI::App& app);
// Runs it when chosen; -1 otherwise.
int run_audit_commands(AuditCommands& commands);
// The store `serve` records into: SQLite in data_dir (or the shared
// PostgreSQL store gateway.store names), chained, checkpoints
// signed with the gateway's audit key (data_dir/keys/audit), purged after
// recording.retention.
Expected<std::unique_ptr<audit::Store>> open_audit_store(const config::Config& cfg);
// The store's search and replay, over a connection of its own.
Expected<std::unique_ptr<audit::Reader>> open_audit_reader(const config::Config& cfg);
// The replicas sharing gateway.store's PostgreSQL database (null for SQLite).
Expected<std::unique_ptr<cluster::Peers>> open_peers(const config::Config& cfg);
// gateway.store names the shared PostgreSQL store.
inline bool is_postgres_url(std::string_view store) {
  return store.starts_with("postgres://") || store.starts_with("postgresql://");
}

// The admin API commands (reviews, access, token, sessions, audit search), registered on `app`.
struct ApiCommands;
std::shared_ptr<ApiCommands> add_api_commands(CLI::App& app);
// Runs the one chosen; -1 when none of them was.
int run_api_commands(ApiCommands& commands);

int run_serve(const std::string& config_path);
int run_check(const std::string& config_path);
// reload | pause | resume | status, sent to a running gateway's control socket
// (found through the config's data_dir, or given).
int run_control(const std::string& config_path, const std::string& socket_path,
                const std::string& command);

struct DemoOptions {
  std::uint16_t gateway_port = 15432;
  std::string dir;
  bool no_wait = false;
};
int run_demo(const DemoOptions& options);

// A stand-in IdP for scripts: a key and its JWKS in `dir`, and tokens signed with it.
int run_dev_idp(const std::string& dir);
struct DevMintOptions {
  std::string dir;
  std::string issuer = "https://dev-idp.gatehouse.local/";
  std::string audience = "gatehouse";
  std::string subject;
  std::string groups;  // comma-separated
  std::string ttl = "15m";
};
int run_dev_mint(const DevMintOptions& options);

// `gatehouse connect C`: a local forwarder. Clients connect to a loopback port
// with no password; each gets a session to the gateway's connection C (their
// dbname is replaced), authenticated with the caller's token.
struct ConnectOptions {
  std::string connection;                 // the gateway connection (what dbname names there)
  std::string listen = "127.0.0.1:6432";  // loopback only; port 0 = a free one
  std::string gateway;                    // the gateway's HOST:PORT; "" = $GATEHOUSE_PG
  std::string token_file;                 // read for each client; "" = $GATEHOUSE_TOKEN
  std::string ca_file;                    // "" = $GATEHOUSE_CA
  std::string sslmode = "require";        // require | verify-full | disable
};
int run_connect(const ConnectOptions& options);

}  // namespace gh::app
