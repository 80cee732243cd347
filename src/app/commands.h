// The subcommands of the gatehouse binary.
#pragma once

#include <cstdint>
#include <string>

namespace gh::app {

int run_serve(const std::string& config_path);
int run_check(const std::string& config_path);

struct DemoOptions {
  std::uint16_t gateway_port = 15432;
  std::string dir;
  bool no_wait = false;
};
int run_demo(const DemoOptions& options);

}  // namespace gh::app
