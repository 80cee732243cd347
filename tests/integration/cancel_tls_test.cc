// A cancel follows its connection's TLS settings: between the gateway and a
// real PostgreSQL sits a relay that notes the first packet of every TCP
// connection, so the test sees whether the backend's secret key crossed the
// wire in clear. With `tls: require` the cancel goes inside TLS (SSLRequest
// first) and still cancels; with `tls: disable` it goes in clear, as the
// sessions do.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include "tests/integration/harness.h"

namespace gh::it {
namespace {

using namespace std::chrono_literals;

constexpr std::uint32_t kSslRequest = 80877103;
constexpr std::uint32_t kCancelRequest = 80877102;

// A TCP relay on loopback to `target_port`, noting each connection's first
// protocol code (the 4 bytes after the length). Bounded: stops when destroyed.
class RecordingRelay {
 public:
  explicit RecordingRelay(int target_port) : target_(target_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("relay cannot listen");
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~RecordingRelay() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : pumps_) t.join();
    ::close(listen_fd_);
  }
  int port() const { return port_; }
  std::vector<std::uint32_t> first_codes() const {
    std::lock_guard lock(mu_);
    return codes_;
  }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int client = ::accept(listen_fd_, nullptr, nullptr);
      if (client < 0) continue;
      pumps_.emplace_back([this, client] { relay(client); });
    }
  }

  void relay(int client) {
    const int server = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(target_));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(server, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
      ::close(client);
      ::close(server);
      return;
    }
    bool noted = false;
    std::string head;
    char buf[16384];
    const auto until = std::chrono::steady_clock::now() + 120s;
    while (!stop_ && std::chrono::steady_clock::now() < until) {
      pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (::poll(p, 2, 100) <= 0) continue;
      bool closed = false;
      for (int i = 0; i < 2 && !closed; ++i) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const ssize_t n = ::read(p[i].fd, buf, sizeof buf);
        if (n <= 0) {
          closed = true;
          break;
        }
        if (i == 0 && !noted) {
          head.append(buf, static_cast<std::size_t>(std::min<ssize_t>(n, 8)));
          if (head.size() >= 8) {
            std::uint32_t code = 0;
            std::memcpy(&code, head.data() + 4, 4);
            std::lock_guard lock(mu_);
            codes_.push_back(ntohl(code));
            noted = true;
          }
        }
        const int out = i == 0 ? server : client;
        if (::write(out, buf, static_cast<std::size_t>(n)) != n) closed = true;
      }
      if (closed) break;
    }
    ::close(client);
    ::close(server);
  }

  int target_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> pumps_;  // joined at the end (the acceptor alone adds to it)
  mutable std::mutex mu_;
  std::vector<std::uint32_t> codes_;
};

std::string relayed_connection(const World& w, const std::string& name, int port,
                               const std::string& tls) {
  return "  - name: " + name +
         "\n    protocol: postgres\n    upstream: {host: 127.0.0.1, port: " + std::to_string(port) +
         ", database: app, tls: " + tls +
         "}\n    credentials: {user: gh_scram, password_file: " + w.dir + "/scram.pw}\n";
}

// Cancels a pg_sleep running on `database` through the gateway; true when it
// ended as cancelled (57014) within 10 s.
bool cancels(const OwnGateway& gw, const std::string& database) {
  const World& w = World::get();
  Conn c(PQconnectdb(("host=127.0.0.1 port=" + std::to_string(gw.port) + " dbname=" + database +
                      " user=agent-7 sslmode=disable password=" + w.agent_token())
                         .c_str()));
  if (PQstatus(c.get()) != CONNECTION_OK) {
    ADD_FAILURE() << PQerrorMessage(c.get());
    return false;
  }
  if (PQsendQuery(c.get(), "SELECT pg_sleep(60)") != 1) return false;
  std::this_thread::sleep_for(300ms);
  const auto started = std::chrono::steady_clock::now();
  PGcancel* cancel = PQgetCancel(c.get());
  char err[256];
  const int sent = PQcancel(cancel, err, sizeof err);
  PQfreeCancel(cancel);
  if (sent != 1) return false;
  Result r(PQgetResult(c.get()));
  const bool cancelled = sqlstate(r.get()) == "57014";
  while (PGresult* extra = PQgetResult(c.get())) PQclear(extra);
  return cancelled && std::chrono::steady_clock::now() - started < 10s;
}

TEST(CancelTls, CancelGoesInsideTlsWhereTheSessionsDo) {
  const World& w = World::get();
  RecordingRelay tls_relay(w.pg.port());
  RecordingRelay plain_relay(w.pg.port());
  OwnGateway gw("gatehouse-cancel-tls", [&](int port) {
    return OwnGateway::base_yaml(w, "gw-cancel-tls", port, false) +
           relayed_connection(w, "app_tls", tls_relay.port(), "require") +
           relayed_connection(w, "app_clear", plain_relay.port(), "disable") + R"(access:
  - name: agents
    groups: [ai-agents]
    connections: ["app*"]
    actions: [read]
)";
  });

  EXPECT_TRUE(cancels(gw, "app_tls"));
  // The session's connection and the cancel's: both began with SSLRequest.
  ASSERT_TRUE(testbed::eventually([&] { return tls_relay.first_codes().size() >= 2; }, 5s));
  for (auto code : tls_relay.first_codes()) EXPECT_EQ(code, kSslRequest);

  // The control: where sessions run in clear, so does the cancel, and the
  // relay sees the CancelRequest itself.
  EXPECT_TRUE(cancels(gw, "app_clear"));
  ASSERT_TRUE(testbed::eventually([&] { return plain_relay.first_codes().size() >= 2; }, 5s));
  const auto codes = plain_relay.first_codes();
  EXPECT_NE(std::find(codes.begin(), codes.end(), kCancelRequest), codes.end());
}

}  // namespace
}  // namespace gh::it
