#include "net/resolve.h"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

namespace gh::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

Expected<Endpoints> system_lookup(const std::string& host, std::uint16_t port) {
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, std::to_string(port), ec);  // blocks: this thread only
  if (ec) return unexpected(ec.message());
  Endpoints out;
  for (const auto& r : results) out.push_back(r.endpoint());
  if (out.empty()) return unexpected(std::string("no address"));
  return out;
}

struct Shared {
  std::mutex mu;
  Lookup lookup;  // null: system_lookup
  std::size_t in_flight = 0;
};

Shared& shared() {
  static Shared* s = new Shared;  // never destroyed: abandoned lookups may outlive main()
  return *s;
}

// The waiter's side of one lookup, on its executor only: its timer, and the
// answer once it came (or the timeout, first).
struct Waiter {
  explicit Waiter(asio::any_io_executor ex) : timer(ex) {}
  asio::steady_timer timer;
  std::optional<Expected<Endpoints>> answer;
};

// What the lookup thread shares with the waiter: a way to hand the answer
// over while the waiter still waits. The thread never owns the Waiter (its
// timer must not outlive the io_context): `deliver` is dropped as soon as
// the waiting coroutine ends, resumed or destroyed.
struct Mailbox {
  std::mutex mu;
  std::function<void(Expected<Endpoints>)> deliver;
};

struct Leave {
  std::shared_ptr<Mailbox> box;
  ~Leave() {
    std::function<void(Expected<Endpoints>)> gone;
    std::lock_guard lk(box->mu);
    gone = std::move(box->deliver);
    box->deliver = nullptr;
  }
};

}  // namespace

void set_lookup_for_tests(Lookup lookup) {
  std::lock_guard lk(shared().mu);
  shared().lookup = std::move(lookup);
}

std::size_t lookups_in_flight() {
  std::lock_guard lk(shared().mu);
  return shared().in_flight;
}

asio::awaitable<Expected<Endpoints>> resolve(asio::any_io_executor ex, const std::string& host,
                                             std::uint16_t port,
                                             std::chrono::milliseconds timeout) {
  boost::system::error_code ec;
  const auto literal = asio::ip::make_address(host, ec);
  if (!ec) co_return Endpoints{tcp::endpoint(literal, port)};

  Lookup lookup;
  {
    auto& s = shared();
    std::lock_guard lk(s.mu);
    if (s.in_flight >= kMaxLookups)
      co_return unexpected("cannot resolve " + host + ": too many name lookups in progress (" +
                           std::to_string(s.in_flight) + "); the resolver is not answering");
    ++s.in_flight;
    lookup = s.lookup ? s.lookup : Lookup(system_lookup);
  }
  auto w = std::make_shared<Waiter>(ex);
  auto box = std::make_shared<Mailbox>();
  box->deliver = [ex, w](Expected<Endpoints> answer) {
    asio::post(ex, [w, answer = std::move(answer)]() mutable {
      if (w->answer) return;  // timed out first: dropped
      w->answer = std::move(answer);
      w->timer.cancel();
    });
  };
  Leave leave{box};
  w->timer.expires_after(timeout);
  auto run = [box, lookup = std::move(lookup), host, port] {
    auto answer = lookup(host, port);
    {
      std::lock_guard lk(box->mu);
      if (box->deliver) box->deliver(std::move(answer));
    }
    std::lock_guard lk(shared().mu);
    --shared().in_flight;
  };
  try {
    std::thread(std::move(run)).detach();
  } catch (const std::system_error& e) {
    {
      std::lock_guard lk(shared().mu);
      --shared().in_flight;
    }
    co_return unexpected("cannot resolve " + host + ": no thread for the lookup: " + e.what());
  }
  co_await w->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  if (!w->answer) {
    w->answer = unexpected(std::string("timed out"));  // a late answer is dropped
    co_return unexpected("cannot resolve " + host + ": timed out after " +
                         std::to_string(timeout.count()) + " ms");
  }
  if (!*w->answer) co_return unexpected("cannot resolve " + host + ": " + w->answer->error());
  co_return std::move(**w->answer);
}

}  // namespace gh::net
