#include "app/commands.h"

#include <iostream>

namespace gh::app {

int run_demo(const DemoOptions&) {
  std::cerr << "gatehouse demo: not built yet\n";
  return 1;
}

}  // namespace gh::app
