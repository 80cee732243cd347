#pragma once
// Names the calling thread as `top -H`, `perf`, gdb and /proc/PID/task show
// it ("gh-io-0", "gh-audit"): an operator sees which part of the gateway
// spends the CPU. Linux keeps at most 15 bytes of it.
#include <pthread.h>

#include <string>

namespace gh {

inline void set_thread_name(std::string name) {
  if (name.size() > 15) name.resize(15);
  (void)pthread_setname_np(pthread_self(), name.c_str());
}

}  // namespace gh
