// Dialing is bounded by its timeout even when the system resolver hangs. The
// resolver is replaced (set_lookup_for_tests) by one that blocks until the
// test lets it go: deterministic, and no network or DNS server is needed.
#include "net/resolve.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "net/https_client.h"
#include "net/stream.h"

namespace gh::net {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// A resolver that does not answer until released; counts who is inside it.
struct HangingResolver {
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  int inside = 0;
  int calls = 0;

  HangingResolver() {
    set_lookup_for_tests([this](const std::string&, std::uint16_t) -> Expected<Endpoints> {
      std::unique_lock lk(mu);
      ++inside;
      ++calls;
      cv.wait(lk, [&] { return released; });
      --inside;
      return unexpected(std::string("answered too late"));
    });
  }
  ~HangingResolver() {
    {
      std::lock_guard lk(mu);
      released = true;
    }
    cv.notify_all();
    // The abandoned lookups return now; wait for their threads to finish.
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (lookups_in_flight() > 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(1ms);
    set_lookup_for_tests(nullptr);
  }
};

using Dialed = std::optional<Expected<asio::ip::tcp::socket>>;

void spawn_dial(asio::io_context& ioc, Dialed& out, std::string host, std::uint16_t port,
                std::chrono::milliseconds timeout) {
  asio::co_spawn(
      ioc,
      [&ioc, &out, host, port, timeout]() -> asio::awaitable<void> {
        out = co_await dial(ioc.get_executor(), host, port, timeout);
      },
      asio::detached);
}

Expected<asio::ip::tcp::socket> dial_now(asio::io_context& ioc, const std::string& host,
                                         std::uint16_t port, std::chrono::milliseconds timeout) {
  Dialed out;
  spawn_dial(ioc, out, host, port, timeout);
  ioc.run();
  ioc.restart();
  if (!out) return unexpected(std::string("the dial never finished"));
  return std::move(*out);
}

TEST(Dial, AHangingResolverTimesOutWithTheConnectTimeout) {
  HangingResolver hang;
  asio::io_context ioc;
  const auto start = std::chrono::steady_clock::now();
  auto r = dial_now(ioc, "db.internal.example", 5432, 200ms);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "cannot resolve db.internal.example: timed out after 200 ms");
  EXPECT_GE(took, 190ms);
  EXPECT_LT(took, 2s);  // asio's own resolver would wait for getaddrinfo: until released
}

TEST(Dial, HangingLookupsDoNotPileUpThreadsWithoutBound) {
  HangingResolver hang;
  asio::io_context ioc;
  std::vector<Dialed> dials(kMaxLookups + 8);
  for (auto& d : dials) spawn_dial(ioc, d, "hang.example", 5432, 100ms);
  ioc.run();
  std::size_t timed_out = 0, refused = 0;
  for (auto& r : dials) {
    ASSERT_TRUE(r.has_value());
    ASSERT_FALSE(*r);
    if (r->error().find("timed out after 100 ms") != std::string::npos) ++timed_out;
    if (r->error().find("too many name lookups in progress") != std::string::npos) ++refused;
  }
  EXPECT_EQ(timed_out, kMaxLookups);
  EXPECT_EQ(refused, 8u);
  // The abandoned ones still hang, and still count against the bound.
  {
    std::lock_guard lk(hang.mu);
    EXPECT_EQ(hang.inside, static_cast<int>(kMaxLookups));
  }
  EXPECT_EQ(lookups_in_flight(), kMaxLookups);
  ioc.restart();
  auto more = dial_now(ioc, "another.example", 5432, 100ms);
  ASSERT_FALSE(more);
  EXPECT_NE(more.error().find("too many name lookups"), std::string::npos) << more.error();
}

TEST(Dial, ALiteralAddressNeverReachesTheResolver) {
  HangingResolver hang;
  asio::io_context ioc;
  asio::ip::tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = acceptor.local_endpoint().port();
  auto r = dial_now(ioc, "127.0.0.1", port, 1s);
  ASSERT_TRUE(r) << r.error();
  std::lock_guard lk(hang.mu);
  EXPECT_EQ(hang.calls, 0);
}

TEST(Dial, AResolverErrorIsReportedWithTheHost) {
  set_lookup_for_tests([](const std::string&, std::uint16_t) -> Expected<Endpoints> {
    return unexpected(std::string("Host not found (authoritative)"));
  });
  asio::io_context ioc;
  auto r = dial_now(ioc, "nowhere.example", 5432, 1s);
  set_lookup_for_tests(nullptr);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "cannot resolve nowhere.example: Host not found (authoritative)");
}

TEST(HttpsRequest, AHangingResolverEndsTheRequestAtItsTimeout) {
  // Identity provider fetches (discovery, keys) resolve the same way.
  HangingResolver hang;
  HttpsRequest req;
  req.url = "https://idp.internal.example/.well-known/openid-configuration";
  req.timeout = 300ms;
  const auto start = std::chrono::steady_clock::now();
  auto r = https_request(req);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  // Whichever of the lookup's timer and the request's deadline ends it first.
  EXPECT_TRUE(r.error().find("cannot resolve idp.internal.example: timed out after 300 ms") !=
                  std::string::npos ||
              r.error() == "no answer from idp.internal.example:443 within 300 ms")
      << r.error();
  EXPECT_LT(took, 2s);  // with asio's resolver, the io_context's end waited for the lookup
}

}  // namespace
}  // namespace gh::net
