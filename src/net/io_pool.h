// One io_context per thread; sessions are spread across them round-robin and
// stay on the context they started on, so a session's two directions never
// race (no locks on the data path).
#pragma once

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace gh::net {

class IoPool {
 public:
  explicit IoPool(unsigned threads);  // 0 = one per core
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  boost::asio::io_context& next();
  boost::asio::io_context& at(std::size_t i) { return *contexts_[i]; }
  std::size_t size() const { return contexts_.size(); }

  void start();  // runs every context on its own thread
  void stop();   // stops the contexts and joins the threads

 private:
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<
      std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>>
      guards_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace gh::net
