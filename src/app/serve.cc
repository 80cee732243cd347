#include <signal.h>
#include <sys/resource.h>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>

#include "adapters/pg/handler.h"
#include "admin/control.h"
#include "admin/http_server.h"
#include "app/commands.h"
#include "base/log.h"
#include "config/config.h"
#include "gateway/key_fetcher.h"
#include "gateway/server.h"
#include "net/io_pool.h"

namespace gh::app {

namespace {

std::shared_ptr<const config::Config> load_or_report(const std::string& path) {
  auto cfg = config::load_file(path, config::process_env());
  if (!cfg) {
    for (const auto& p : cfg.error()) std::cerr << p.to_string() << "\n";
    std::cerr << "gatehouse: " << path << ": " << cfg.error().size()
              << " problem(s); configuration refused\n";
    return nullptr;
  }
  for (const auto& w : cfg->warnings) std::cerr << path << ": warning: " << w << "\n";
  return std::make_shared<const config::Config>(std::move(*cfg));
}

// Each client connection is a descriptor, and so is its upstream: the soft
// limit on open files (often 1024) is raised to the hard one, and a limit
// too low for max_connections is said at start rather than found in an
// incident.
void raise_open_files_limit(int max_connections) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  const auto needed = static_cast<rlim_t>(max_connections) * 2 + 256;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < needed)
    spdlog::warn(
        "open files limit is {}: gateway.max_connections {} needs about {} (two descriptors "
        "a session); raise the hard limit (LimitNOFILE=, ulimit -Hn) or lower max_connections",
        static_cast<unsigned long long>(rl.rlim_cur), max_connections,
        static_cast<unsigned long long>(needed));
}

}  // namespace

int run_check(const std::string& path) {
  auto cfg = load_or_report(path);
  if (!cfg) return 1;
  // Keys must parse too, not only the YAML around them.
  std::vector<identity::IssuerConfig> issuers = cfg->issuers;
  auto verifier = identity::TokenVerifier::create(issuers, cfg->verifier, SystemClock::instance());
  if (!verifier) {
    for (const auto& p : verifier.error()) std::cerr << path << ": identity: " << p << "\n";
    return 1;
  }
  std::cout << path << ": ok (" << cfg->listeners.size() << " listener(s), "
            << cfg->connections.size() << " connection(s), " << cfg->access.rules.size()
            << " access rule(s), " << cfg->guardrails.size() << " guardrail(s))\n";
  return 0;
}

int run_serve(const std::string& path) {
  ::signal(SIGPIPE, SIG_IGN);
  auto cfg = load_or_report(path);
  if (!cfg) return 1;
  log::init(cfg->gateway.log_level, cfg->gateway.id,
            cfg->gateway.log_format == config::LogFormat::kText ? log::Format::kText
                                                                : log::Format::kJson);
  raise_open_files_limit(cfg->gateway.max_connections);

  // The gateway's own signing keys (created on first start) and the issuers it trusts.
  auto tokens = gateway::TokenService::open(cfg->gateway.data_dir + "/keys", cfg->gateway_tokens,
                                            SystemClock::instance());
  if (!tokens) {
    std::cerr << "gatehouse: gateway signing keys: " << tokens.error() << "\n";
    return 1;
  }
  std::vector<identity::IssuerConfig> issuers = cfg->issuers;
  issuers.push_back((*tokens)->issuer_config());
  auto verifier = identity::TokenVerifier::create(issuers, cfg->verifier, SystemClock::instance());
  if (!verifier) {
    for (const auto& p : verifier.error()) std::cerr << path << ": identity: " << p << "\n";
    return 1;
  }

  std::error_code ec;
  std::filesystem::create_directories(cfg->gateway.data_dir, ec);
  if (ec) {
    std::cerr << "gatehouse: cannot create data_dir " << cfg->gateway.data_dir << ": "
              << ec.message() << "\n";
    return 1;
  }
  std::unique_ptr<audit::Recorder> recorder;
  if (cfg->gateway.audit) {
    auto store = open_audit_store(*cfg);
    if (!store) {
      std::cerr << "gatehouse: audit store: " << store.error() << "\n";
      return 1;
    }
    // Where records wait while the store cannot take them (recording.spool_max:
    // past it, new sessions are refused).
    auto spool =
        audit::Spool::open(cfg->gateway.data_dir + "/audit.spool", cfg->recording.spool_max_bytes);
    if (!spool) {
      std::cerr << "gatehouse: " << spool.error() << "\n";
      return 1;
    }
    if (!spool->empty())
      spdlog::warn("audit spool {} holds {} bytes from before: moving them to the store first",
                   spool->path(), spool->bytes());
    audit::RecorderOptions options;
    options.spool_sync = cfg->recording.sync_audit;
    // A record the store rejects on its own (while it takes the others) is
    // set aside here instead of holding up every record after it.
    options.poison_path = cfg->gateway.data_dir + "/audit.poison";
    recorder = std::make_unique<audit::Recorder>(std::move(*store), options, std::move(*spool));
  } else {
    spdlog::warn("audit is off (gateway.audit: off): sessions are not recorded");
  }

  // The key fetcher below writes the keys of discovery issuers into the verifier Services owns.
  identity::TokenVerifier& verifier_keys = **verifier;
  gateway::Services services(cfg, std::move(*verifier), std::move(recorder));
  if (services.audit_enabled()) {
    // The admin API reads sessions and searches over a connection of its own.
    auto reader = open_audit_reader(*cfg);
    if (!reader) {
      std::cerr << "gatehouse: audit store: " << reader.error() << "\n";
      return 1;
    }
    services.set_audit_reader(std::move(*reader));
  }
  // Replicas sharing the PostgreSQL store see each other's approval requests and cancel keys.
  auto peers = open_peers(*cfg);
  if (!peers) {
    std::cerr << "gatehouse: shared store: " << peers.error() << "\n";
    return 1;
  }
  if (*peers) {
    if (auto st = services.set_peers(std::move(*peers)); !st) {
      std::cerr << "gatehouse: shared store: " << st.error() << "\n";
      return 1;
    }
    spdlog::info("sharing approvals, grants and cancel keys with the other replicas of the store");
  }
  if (auto st = services.set_tokens(std::move(*tokens)); !st) {
    std::cerr << "gatehouse: gateway tokens: " << st.error() << "\n";
    return 1;
  }
  net::IoPool pool(static_cast<unsigned>(cfg->gateway.io_threads));
  gateway::Server server(services, pool);
  auto pg = adapters::pg::make_handler(services);
  if (!pg) {
    std::cerr << "gatehouse: " << pg.error() << "\n";
    return 1;
  }
  server.register_handler("postgres", std::move(*pg));

  // OIDC discovery: the first fetch runs in the background; serving waits a
  // few seconds for it so that the first tokens find their keys, but an
  // identity provider that is down does not keep the gateway (and its other
  // issuers) from starting. Declared after the pool: it stops first, so no
  // answer to a waiting session outlives the session's io_context.
  std::unique_ptr<gateway::KeyFetcher> key_fetcher;
  if (gateway::KeyFetcher::needed(cfg->issuers)) {
    key_fetcher = std::make_unique<gateway::KeyFetcher>(verifier_keys, cfg->issuers);
    services.set_key_refresh(
        [fetcher = key_fetcher.get()](const std::string& issuer, std::function<void(bool)> done) {
          fetcher->request_refresh(issuer, std::move(done));
        });
    key_fetcher->start();
    const auto missing = key_fetcher->wait_initial(std::chrono::seconds(5));
    for (const auto& m : missing) spdlog::warn("OIDC discovery: {}", m);
    if (missing.empty())
      spdlog::info("OIDC discovery: the keys of every discovery issuer are loaded");
  }

  if (auto st = server.start(); !st) {
    std::cerr << "gatehouse: " << st.error() << "\n";
    return 1;
  }
  for (const auto& b : server.bound()) spdlog::info("listening: {}", b);
  // One parseable line on stdout for scripts and tests that asked for port 0.
  for (const auto& b : server.bound()) std::cout << "gatehouse listening " << b << std::endl;
  pool.start();

  // Signals and the control socket share one thread of their own: a reload
  // reads and validates files, which no I/O thread may wait for.
  boost::asio::io_context control_ctx;
  auto control = admin::ControlSocket::open(control_ctx, services,
                                            admin::control_socket_path(cfg->gateway.data_dir));
  if (!control) {
    spdlog::warn("{}; reload, pause and resume are available through SIGHUP only", control.error());
  }
  std::unique_ptr<admin::AdminServer> admin_api;
  if (cfg->gateway.admin.enabled) {
    auto api = admin::AdminServer::start(control_ctx, services, cfg->gateway.admin);
    if (!api) {
      std::cerr << "gatehouse: " << api.error() << "\n";
      server.stop_accepting();
      pool.stop();
      return 1;
    }
    admin_api = std::move(*api);
    spdlog::info("admin API listening: {}", admin_api->bound());
    std::cout << "gatehouse admin listening " << admin_api->bound() << std::endl;
  }
  // Pending approval requests lapse on time even when nobody looks at them.
  boost::asio::steady_timer sweeper(control_ctx);
  std::function<void(const boost::system::error_code&)> sweep =
      [&](const boost::system::error_code& ec) {
        if (ec) return;
        services.approvals().sweep();
        sweeper.expires_after(std::chrono::seconds(1));
        sweeper.async_wait(sweep);
      };
  sweeper.expires_after(std::chrono::seconds(1));
  sweeper.async_wait(sweep);
  boost::asio::signal_set signals(control_ctx, SIGINT, SIGTERM, SIGHUP);
  int stop_signal = 0;
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
          (void)services.reload("SIGHUP");
          signals.async_wait(on_signal);
          return;
        }
        stop_signal = sig;
        if (control) (*control)->close();
        if (admin_api) admin_api->close();
        sweeper.cancel();
        control_ctx.stop();
      };
  signals.async_wait(on_signal);
  control_ctx.run();

  spdlog::info("stopping (signal {})", stop_signal);
  server.stop_accepting();
  // Sessions still waiting for a key refresh are answered (refused) while
  // their I/O threads still run.
  if (key_fetcher) key_fetcher->stop();
  // Reviews and cancels from other replicas wake sessions: none after this.
  if (services.peers()) services.peers()->stop_listening();
  pool.stop();
  services.flush_audit();
  spdlog::info("stopped");
  return 0;
}

int run_control(const std::string& config_path, const std::string& socket_path,
                const std::string& command) {
  std::string path = socket_path;
  if (path.empty()) path = admin::control_socket_path(config::peek_data_dir(config_path));
  auto answer = admin::control_request(path, command);
  if (!answer) {
    std::cerr << "gatehouse: " << answer.error() << "\n";
    return 1;
  }
  const bool ok = answer->starts_with("ok");
  (ok ? std::cout : std::cerr) << *answer;
  return ok ? 0 : 1;
}

}  // namespace gh::app
