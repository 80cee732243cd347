#include "gateway/memory_budget.h"

namespace gh::gateway {

namespace {

std::string mib(std::uint64_t bytes) {
  const std::uint64_t tenths = bytes * 10 / (1 << 20);
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " MiB";
}

}  // namespace

bool MemoryBudget::charge(std::uint64_t n) {
  std::uint64_t cur = used_.load(std::memory_order_relaxed);
  do {
    if (n > limit_ || cur > limit_ - n) {
      refusals.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  } while (!used_.compare_exchange_weak(cur, cur + n, std::memory_order_relaxed));
  return true;
}

SessionBudget::~SessionBudget() {
  if (used_ > 0) process_->release(used_);
}

SessionBudget::Verdict SessionBudget::hold(Kind kind, std::uint64_t bytes) {
  std::uint64_t& mine = by_kind_[kind];
  if (bytes <= mine) {
    const std::uint64_t less = mine - bytes;
    mine = bytes;
    used_ -= less;
    process_->release(less);
    return Verdict::kOk;
  }
  const std::uint64_t more = bytes - mine;
  if (used_ + more > limit_) {
    process_->refusals.fetch_add(1, std::memory_order_relaxed);
    return Verdict::kSessionFull;
  }
  if (!process_->charge(more)) return Verdict::kProcessFull;
  mine = bytes;
  used_ += more;
  return Verdict::kOk;
}

std::string SessionBudget::describe(Verdict v) const {
  const std::string held = "statements, parameters and prepared statements " +
                           mib(by_kind_[kStatements]) + ", held rows " + mib(by_kind_[kRows]);
  if (v == Verdict::kSessionFull)
    return "this session's memory budget (gateway.session_memory, " + mib(limit_) +
           ") is used up (" + held + ")";
  return "the gateway's memory budget (gateway.memory_limit, " + mib(process_->limit()) +
         ") is used up; this session holds " + held;
}

}  // namespace gh::gateway
