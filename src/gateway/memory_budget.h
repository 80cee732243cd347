// Memory the gateway holds on a client's behalf — statement texts and bound
// parameters it follows, prepared statements and portals, result rows held
// for a row threshold — counted per session against `gateway.session_memory`
// and across the process against `gateway.memory_limit`. Past either, the
// session that asked for more ends with a clear error; no other session is
// touched. The baseline of a connection (its buffers, its TLS state) is not
// counted here: it is kept small instead (see docs/decisions.md, Limits).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace gh::gateway {

class MemoryBudget {
 public:
  explicit MemoryBudget(std::uint64_t limit) : limit_(limit) {}
  // Adds `n` bytes unless that would pass the limit.
  bool charge(std::uint64_t n);
  void release(std::uint64_t n) { used_.fetch_sub(n, std::memory_order_relaxed); }
  std::uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  std::uint64_t limit() const { return limit_; }
  std::atomic<std::uint64_t> refusals{0};

 private:
  std::atomic<std::uint64_t> used_{0};
  std::uint64_t limit_;
};

class SessionBudget {
 public:
  enum Kind : std::uint8_t { kStatements, kRows, kCount_ };
  enum class Verdict { kOk, kSessionFull, kProcessFull };

  SessionBudget(MemoryBudget& process, std::uint64_t limit) : process_(&process), limit_(limit) {}
  ~SessionBudget();
  SessionBudget(const SessionBudget&) = delete;
  SessionBudget& operator=(const SessionBudget&) = delete;

  // What this session holds of `kind` is now `bytes` (more or less than
  // before). A refused growth changes nothing.
  Verdict hold(Kind kind, std::uint64_t bytes);
  std::uint64_t used() const { return used_; }
  std::uint64_t limit() const { return limit_; }
  // For the client's error: which budget, how large, what held most.
  std::string describe(Verdict v) const;

 private:
  MemoryBudget* process_;
  std::uint64_t limit_;
  std::uint64_t used_ = 0;
  std::array<std::uint64_t, kCount_> by_kind_{};
};

}  // namespace gh::gateway
