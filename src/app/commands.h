// The subcommands of the gatehouse binary.
#pragma once

#include <cstdint>
#include <string>

namespace gh::app {

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

}  // namespace gh::app
