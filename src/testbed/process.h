// Child processes for the demo and the integration tests: run a command to
// completion capturing its output, or start one in the background and stop it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace gh::testbed {

struct RunResult {
  int exit_code = -1;  // -1 when it could not run or was killed by a signal
  std::string output;  // stdout and stderr together
};

// Runs argv[0] (searched in PATH) with the extra environment; kills it after `timeout`.
RunResult run(const std::vector<std::string>& argv,
              const std::map<std::string, std::string>& env = {},
              std::chrono::seconds timeout = std::chrono::seconds(120),
              const std::string& stdin_text = {});

// A background process; stopped (SIGTERM, then SIGKILL after 10 s) when destroyed.
class Process {
 public:
  Process() = default;
  // stdout/stderr go to `log_file` (appended).
  static Process start(const std::vector<std::string>& argv, const std::string& log_file,
                       const std::map<std::string, std::string>& env = {});
  Process(Process&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
  Process& operator=(Process&& o) noexcept;
  ~Process() { stop(); }

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status (or -1).
  int stop(std::chrono::seconds grace = std::chrono::seconds(10));

 private:
  pid_t pid_ = -1;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_port();
// Waits until `path` contains `needle` (a log line), up to `timeout`.
bool wait_for_text(const std::string& path, const std::string& needle,
                   std::chrono::milliseconds timeout);
// Polls `done` every few milliseconds until it holds, up to `timeout`.
bool eventually(const std::function<bool()>& done,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));
std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& text, int mode = 0644);
// A new directory under $TMPDIR (or /tmp).
std::string make_temp_dir(const std::string& prefix);

}  // namespace gh::testbed
