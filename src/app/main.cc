// gatehouse: the command line and the composition root — the only place that
// names concrete backends (the SQLite store, the PostgreSQL adapter).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <string>

#include "app/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"gatehouse: an identity-aware gateway for databases, hosts and APIs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("gatehouse ") + GH_VERSION);

  std::string config_path;
  auto* serve = app.add_subcommand("serve", "run the gateway");
  serve->add_option("--config,-c", config_path, "configuration file (YAML)")->required();

  auto* check = app.add_subcommand("check", "validate a configuration file and list every problem");
  check->add_option("--config,-c", config_path, "configuration file (YAML)")->required();

  std::string socket_path;
  std::string control_command;
  for (auto [name, help] : {std::pair{"reload",
                                      "re-read and apply the running gateway's policy "
                                      "(as SIGHUP); refused whole if invalid"},
                            std::pair{"pause",
                                      "hold new statements (clients get a NOTICE) until "
                                      "resume; nothing restarts"},
                            std::pair{"resume", "release held statements and admit new ones"},
                            std::pair{"status", "policy version, paused or not, sessions"}}) {
    auto* sub = app.add_subcommand(name, help);
    auto* cfg_opt = sub->add_option("--config,-c", config_path,
                                    "the gateway's configuration (to find its data_dir)");
    auto* sock_opt = sub->add_option("--socket", socket_path,
                                     "the control socket (default: data_dir/control.sock)");
    cfg_opt->excludes(sock_opt);
    sub->callback([&control_command, name = std::string(name)] { control_command = name; });
  }

  gh::app::DemoOptions demo_opts;
  auto* demo =
      app.add_subcommand("demo", "start a throwaway PostgreSQL and a gateway in front of it");
  demo->add_option("--port", demo_opts.gateway_port, "gateway listener port (0 = a free one)");
  demo->add_option("--dir", demo_opts.dir, "work directory (default: a new temporary one)");
  demo->add_flag("--no-wait", demo_opts.no_wait, "set up, print, and exit after a self-check (CI)");

  auto* dev = app.add_subcommand(
      "dev", "a stand-in identity provider for scripts and benchmarks (not for production)");
  dev->require_subcommand(1);
  std::string idp_dir;
  auto* dev_idp = dev->add_subcommand("idp", "create a signing key and its JWKS in a directory");
  dev_idp->add_option("--dir", idp_dir, "directory for idp-key.pem and idp-jwks.json")->required();
  gh::app::DevMintOptions mint;
  auto* dev_mint = dev->add_subcommand("mint", "print a token signed by the key in --dir");
  dev_mint->add_option("--dir", mint.dir, "directory made by `gatehouse dev idp`")->required();
  dev_mint->add_option("--subject", mint.subject, "the token's sub")->required();
  dev_mint->add_option("--groups", mint.groups, "comma-separated groups");
  dev_mint->add_option("--issuer", mint.issuer, "the token's iss");
  dev_mint->add_option("--audience", mint.audience, "the token's aud");
  dev_mint->add_option("--ttl", mint.ttl, "lifetime, e.g. 15m or 1h");

  gh::app::ConnectOptions connect_opts;
  auto* connect = app.add_subcommand(
      "connect",
      "local forwarder: clients connect to a loopback port with no password and reach "
      "connection C through the gateway with your token");
  connect
      ->add_option("connection", connect_opts.connection,
                   "the gateway connection (replaces the dbname clients ask for)")
      ->required();
  connect
      ->add_option("--listen", connect_opts.listen,
                   "local address, loopback only (port 0 = a free one)")
      ->capture_default_str();
  connect->add_option("--pg", connect_opts.gateway,
                      "the gateway's PostgreSQL listener HOST:PORT (default $GATEHOUSE_PG)");
  connect->add_option("--token-file", connect_opts.token_file,
                      "file holding your token, read for each new client (default "
                      "$GATEHOUSE_TOKEN)");
  connect->add_option("--ca", connect_opts.ca_file,
                      "CA of the gateway's certificate (default $GATEHOUSE_CA; with require, "
                      "checks the chain; verify-full also checks the host)");
  connect->add_option("--sslmode", connect_opts.sslmode, "require, verify-full or disable")
      ->check(CLI::IsMember({"require", "verify-full", "disable"}))
      ->capture_default_str();

  auto api_commands = gh::app::add_api_commands(app);
  auto audit_commands = gh::app::add_audit_commands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (*serve) return gh::app::run_serve(config_path);
  if (*check) return gh::app::run_check(config_path);
  if (*demo) return gh::app::run_demo(demo_opts);
  if (!control_command.empty()) {
    if (config_path.empty() && socket_path.empty()) {
      std::cerr << "gatehouse " << control_command << ": give --config or --socket\n";
      return 2;
    }
    return gh::app::run_control(config_path, socket_path, control_command);
  }
  if (*dev_idp) return gh::app::run_dev_idp(idp_dir);
  if (*dev_mint) return gh::app::run_dev_mint(mint);
  if (*connect) return gh::app::run_connect(connect_opts);
  if (int rc = gh::app::run_api_commands(*api_commands); rc >= 0) return rc;
  if (int rc = gh::app::run_audit_commands(*audit_commands); rc >= 0) return rc;
  return 2;
}
