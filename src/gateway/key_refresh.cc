#include "gateway/key_refresh.h"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <memory>

#include "gateway/services.h"

namespace gh::gateway {

namespace asio = boost::asio;

asio::awaitable<bool> keys_refreshed(Services& services, const std::string& issuer,
                                     std::chrono::milliseconds wait) {
  auto ex = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(ex, wait);
  // -1 while the fetch runs; the answer may come on the fetcher's thread, at
  // once on this one, or after the wait gave up (shared: it outlives this frame).
  auto result = std::make_shared<std::atomic<int>>(-1);
  services.refresh_issuer_keys(issuer, [ex, timer, result](bool fresh) {
    result->store(fresh ? 1 : 0);
    asio::post(ex, [timer] { timer->cancel(); });
  });
  if (result->load() < 0) {
    boost::system::error_code ec;
    co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return result->load() == 1;
}

}  // namespace gh::gateway
