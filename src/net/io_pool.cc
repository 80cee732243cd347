#include "net/io_pool.h"

#include <spdlog/spdlog.h>

#include "base/thread_name.h"

namespace gh::net {

IoPool::IoPool(unsigned threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < threads; ++i) {
    // Concurrency hint 1: each context is run by exactly one thread.
    contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    guards_.push_back(
        std::make_unique<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(
            contexts_.back()->get_executor()));
  }
}

IoPool::~IoPool() {
  stop();
}

boost::asio::io_context& IoPool::next() {
  return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
}

void IoPool::start() {
  for (auto& ctx : contexts_) {
    threads_.emplace_back([c = ctx.get(), n = threads_.size()] {
      set_thread_name("gh-io-" + std::to_string(n));
      for (;;) {
        try {
          c->run();
          return;
        } catch (const std::exception& e) {
          // A handler that throws is a bug; keep serving the other sessions.
          spdlog::error("io thread: unhandled exception: {}", e.what());
        }
      }
    });
  }
}

void IoPool::stop() {
  guards_.clear();
  for (auto& ctx : contexts_) ctx->stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

}  // namespace gh::net
