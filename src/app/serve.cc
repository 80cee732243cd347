#include <signal.h>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "adapters/pg/handler.h"
#include "app/commands.h"
#include "base/log.h"
#include "config/config.h"
#include "gateway/server.h"
#include "net/io_pool.h"
#include "store/sqlite/sqlite_store.h"

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
            << " access rule(s))\n";
  return 0;
}

int run_serve(const std::string& path) {
  ::signal(SIGPIPE, SIG_IGN);
  auto cfg = load_or_report(path);
  if (!cfg) return 1;
  log::init(cfg->gateway.log_level, cfg->gateway.id);

  auto verifier =
      identity::TokenVerifier::create(cfg->issuers, cfg->verifier, SystemClock::instance());
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
    auto store = store::open_sqlite_store(cfg->gateway.data_dir + "/audit.db");
    if (!store) {
      std::cerr << "gatehouse: audit store: " << store.error() << "\n";
      return 1;
    }
    recorder = std::make_unique<audit::Recorder>(std::move(*store));
  } else {
    spdlog::warn("audit is off (gateway.audit: off): sessions are not recorded");
  }

  gateway::Services services(cfg, std::move(*verifier), std::move(recorder));
  net::IoPool pool(static_cast<unsigned>(cfg->gateway.io_threads));
  gateway::Server server(services, pool);
  auto pg = adapters::pg::make_handler(services);
  if (!pg) {
    std::cerr << "gatehouse: " << pg.error() << "\n";
    return 1;
  }
  server.register_handler("postgres", std::move(*pg));
  if (auto st = server.start(); !st) {
    std::cerr << "gatehouse: " << st.error() << "\n";
    return 1;
  }
  for (const auto& b : server.bound()) spdlog::info("listening: {}", b);
  // One parseable line on stdout for scripts and tests that asked for port 0.
  for (const auto& b : server.bound()) std::cout << "gatehouse listening " << b << std::endl;
  pool.start();

  boost::asio::io_context signals_ctx;
  boost::asio::signal_set signals(signals_ctx, SIGINT, SIGTERM);
  int stop_signal = 0;
  signals.async_wait([&](const boost::system::error_code&, int sig) { stop_signal = sig; });
  signals_ctx.run();

  spdlog::info("stopping (signal {})", stop_signal);
  server.stop_accepting();
  pool.stop();
  services.flush_audit();
  spdlog::info("stopped");
  return 0;
}

}  // namespace gh::app
