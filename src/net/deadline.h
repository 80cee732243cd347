// A deadline for a phase of a session: when it fires, it runs `on_expire`
// (typically closing the sockets, which fails whatever await is pending).
// Destroying or cancelling the deadline disarms it.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace gh::net {

class Deadline {
 public:
  Deadline(boost::asio::any_io_executor ex, std::chrono::milliseconds after,
           std::function<void()> on_expire)
      : timer_(ex, after), state_(std::make_shared<State>()) {
    state_->on_expire = std::move(on_expire);
    timer_.async_wait([s = state_](const boost::system::error_code& ec) {
      if (!ec && s->armed) {
        s->fired = true;
        s->on_expire();
      }
    });
  }
  ~Deadline() { cancel(); }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  void cancel() {
    state_->armed = false;
    timer_.cancel();
  }
  bool fired() const { return state_->fired; }

 private:
  struct State {
    std::function<void()> on_expire;
    bool armed = true;
    bool fired = false;
  };
  boost::asio::steady_timer timer_;
  std::shared_ptr<State> state_;
};

}  // namespace gh::net
