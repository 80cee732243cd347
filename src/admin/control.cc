#include "admin/control.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace gh::admin {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {

constexpr std::size_t kMaxCommand = 256;

bool peer_allowed(int fd) {
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  return cred.uid == 0 || cred.uid == ::geteuid();
}

class Control final : public ControlSocket {
 public:
  Control(asio::io_context& ctx, gateway::Services& services, const std::string& path)
      : services_(services), acceptor_(ctx), path_(path) {}

  Status<> start() {
    boost::system::error_code ec;
    std::filesystem::remove(path_, ec);  // a socket left by a gateway that stopped
    acceptor_.open(local(), ec);
    if (!ec) {
      // Created owner-only from the start: no window in which others could connect.
      mode_t old = ::umask(0177);
      acceptor_.bind(local::endpoint(path_), ec);
      ::umask(old);
    }
    if (!ec) acceptor_.listen(8, ec);
    if (ec) return unexpected("control socket " + path_ + ": " + ec.message());
    accept();
    return Ok{};
  }

  void close() override {
    boost::system::error_code ec;
    acceptor_.close(ec);
    std::filesystem::remove(path_, ec);
  }

  ~Control() override { close(); }

 private:
  struct Conn {
    explicit Conn(local::socket s) : socket(std::move(s)) {}
    local::socket socket;
    asio::streambuf buf{kMaxCommand};
    std::string answer;
  };

  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, local::socket s) {
      if (ec) return;  // closed
      auto conn = std::make_shared<Conn>(std::move(s));
      if (!peer_allowed(conn->socket.native_handle())) {
        spdlog::warn("control socket: refused a peer that is neither root nor the gateway's user");
      } else {
        serve(conn);
      }
      accept();
    });
  }

  void serve(const std::shared_ptr<Conn>& conn) {
    asio::async_read_until(
        conn->socket, conn->buf, '\n', [this, conn](boost::system::error_code ec, std::size_t n) {
          std::string command;
          if (ec) {
            conn->answer = "error: send one command of at most 256 bytes\n";
          } else {
            command.assign(
                asio::buffers_begin(conn->buf.data()),
                asio::buffers_begin(conn->buf.data()) + static_cast<std::ptrdiff_t>(n) - 1);
            conn->answer = run_control_command(services_, command);
          }
          asio::async_write(conn->socket, asio::buffer(conn->answer),
                            [conn](boost::system::error_code, std::size_t) {});
        });
  }

  gateway::Services& services_;
  local::acceptor acceptor_;
  std::string path_;
};

// "audit: …" — how the recorder is doing, for `gatehouse status`.
std::string audit_line(gateway::Services& services) {
  if (!services.audit_enabled()) return "audit: off\n";
  const auto a = services.audit_stats();
  std::string line = std::string("audit: ") +
                     (services.audit_accepting() ? "accepting" : "REFUSING new sessions") +
                     (services.sync_audit() ? " (sync)" : " (async)") + ", " +
                     std::to_string(a.written) + " written, " + std::to_string(a.queue_depth) +
                     " queued";
  if (a.spool_bytes > 0) line += ", " + std::to_string(a.spool_bytes) + " bytes in the spool";
  if (a.lagging) line += ", lagging (completions wait for their records)";
  return line + "\n";
}

std::string cache_line(const sql::AnalysisCache::Stats& st) {
  const std::uint64_t total = st.hits + st.misses;
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.2f",
                total ? 100.0 * static_cast<double>(st.hits) / static_cast<double>(total) : 0.0);
  return "analysis cache: " + std::to_string(st.hits) + " hits, " + std::to_string(st.misses) +
         " misses (hit rate " + rate + " %), " + std::to_string(st.size) + " entries\n";
}

}  // namespace

std::string control_socket_path(const std::string& data_dir) {
  return (std::filesystem::path(data_dir) / "control.sock").string();
}

std::string run_control_command(gateway::Services& services, const std::string& command,
                                const std::string& source) {
  if (command == "reload") {
    auto r = services.reload(source);
    std::string out;
    if (r.applied) {
      out = "ok: policy version " + std::to_string(r.version) + " in force\n";
      for (const auto& n : r.notes) out += "note: " + n + "\n";
    } else {
      out = "error: reload refused; policy version " + std::to_string(r.version) +
            " stays in force\n";
      for (const auto& p : r.problems) out += p + "\n";
    }
    return out;
  }
  if (command == "pause") {
    bool changed = services.pause(source);
    return changed ? "ok: paused; new statements are held\n" : "ok: already paused\n";
  }
  if (command == "resume") {
    bool changed = services.resume(source);
    return changed ? "ok: resumed\n" : "ok: was not paused\n";
  }
  if (command == "status") {
    auto& c = services.counters();
    return "ok: policy version " + std::to_string(services.policy_version()) +
           (services.pause_gate().paused() ? ", paused" : ", running") + ", " +
           std::to_string(c.sessions_active.load()) + " active session(s), " +
           std::to_string(c.statements_denied.load()) + " statement(s) denied\n" +
           cache_line(services.analyses().stats()) +
           "masking: " + std::to_string(services.masking()->rules().size()) + " rule(s), " +
           std::to_string(c.values_masked.load()) + " value(s) masked, " +
           std::to_string(c.values_withheld.load()) + " withheld\n" + audit_line(services);
  }
  return "error: unknown command (reload, pause, resume, status)\n";
}

Expected<std::unique_ptr<ControlSocket>> ControlSocket::open(asio::io_context& ctx,
                                                             gateway::Services& services,
                                                             const std::string& path) {
  auto c = std::make_unique<Control>(ctx, services, path);
  if (auto st = c->start(); !st) return unexpected(st.error());
  return std::unique_ptr<ControlSocket>(std::move(c));
}

Expected<std::string> control_request(const std::string& path, const std::string& command) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return unexpected(std::string(std::strerror(errno)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    ::close(fd);
    return unexpected("socket path too long: " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return unexpected("cannot reach the gateway at " + path + ": " + why +
                      " (is it running with this data_dir?)");
  }
  std::string line = command + "\n";
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    ::close(fd);
    return unexpected(std::string("write: ") + std::strerror(errno));
  }
  std::string answer;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    answer.append(buf, static_cast<std::size_t>(n));
    if (answer.size() > (1 << 20)) break;
  }
  ::close(fd);
  if (answer.empty()) return unexpected(std::string("the gateway closed without answering"));
  return answer;
}

}  // namespace gh::admin
