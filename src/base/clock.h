// Time, injected: code that needs "now" takes a Clock so tests control it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace gh {

using SysTime = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SysTime now() const = 0;
  // Seconds since the Unix epoch (JWT time claims are in these).
  std::int64_t unix_seconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(now().time_since_epoch()).count();
  }
};

class SystemClock final : public Clock {
 public:
  SysTime now() const override { return std::chrono::system_clock::now(); }
  static const SystemClock& instance() {
    static const SystemClock clock;
    return clock;
  }
};

// A clock that stands still until told to move (tests).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t unix_seconds)
      : now_(SysTime(std::chrono::seconds(unix_seconds))) {}
  SysTime now() const override { return now_.load(); }
  void set(std::int64_t unix_seconds) { now_ = SysTime(std::chrono::seconds(unix_seconds)); }
  void advance(std::chrono::seconds d) { now_ = now_.load() + d; }

 private:
  std::atomic<SysTime> now_;
};

}  // namespace gh
