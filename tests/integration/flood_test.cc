// A connection flood before login: 5000 TCP connections from one
// address that never send a byte must not keep others from logging in, even
// where the gateway's open-files limit is far below the flood (its process is
// started with a hard limit of 1536 descriptors).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "tests/integration/harness.h"

namespace gh::it {
namespace {

using namespace std::chrono_literals;

// A connection from `source` (a loopback address) to 127.0.0.1:port; -1 on failure.
int connect_from(const char* source, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// What the gateway sent on `fd` within `wait`, without sending anything.
std::string read_within(int fd, std::chrono::milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return {};
  char buf[512];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

TEST(ConnectionFlood, IdleConnectionsFromOneAddressDoNotKeepOthersFromLoggingIn) {
  const World& w = World::get();
  const std::string dir = testbed::make_temp_dir("gatehouse-flood");
  const int port = testbed::free_port();
  testbed::write_file(dir + "/gatehouse.yaml",
                      OwnGateway::base_yaml(w, "gw-flood", port, false) + R"(access:
  - name: agents
    groups: [ai-agents]
    connections: [app]
    actions: [read]
)");
  const std::string log = dir + "/gatehouse.log";
  auto gateway = testbed::Process::start({"prlimit", "--nofile=1536:1536", "--", GH_GATEHOUSE_BIN,
                                          "serve", "--config", dir + "/gatehouse.yaml"},
                                         log);
  ASSERT_TRUE(testbed::wait_for_text(log, "gatehouse listening", 60s)) << testbed::read_file(log);
  // The limit too low for max_connections is said at start.
  EXPECT_NE(testbed::read_file(log).find("open files limit is 1536"), std::string::npos);

  // 5000 connections from 127.0.0.2 that send nothing: three times the gateway's descriptors.
  std::vector<int> flood;
  for (int i = 0; i < 5000; ++i) {
    const int fd = connect_from("127.0.0.2", port);
    if (fd >= 0) flood.push_back(fd);
  }
  ASSERT_GT(flood.size(), 4000u);
  // Past the per-address limit the gateway refuses at once, in PostgreSQL's words.
  const std::string refused = read_within(flood.back(), 5000ms);
  EXPECT_NE(refused.find("too many connections from your address"), std::string::npos) << refused;

  // Someone else logs in meanwhile, promptly.
  const auto t0 = std::chrono::steady_clock::now();
  auto env = client_env(w, "app", w.agent_token());
  env["PGPORT"] = std::to_string(port);
  env["PGSSLMODE"] = "disable";
  env["PGCONNECT_TIMEOUT"] = "10";
  auto psql =
      testbed::run({"psql", "-X", "-A", "-t", "-c", "SELECT 'in despite the flood'"}, env, 30s);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(psql.exit_code, 0) << psql.output;
  EXPECT_NE(psql.output.find("in despite the flood"), std::string::npos) << psql.output;
  EXPECT_LT(took, 10s);

  for (int fd : flood) ::close(fd);
  EXPECT_TRUE(gateway.running());
  gateway.stop();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace gh::it
