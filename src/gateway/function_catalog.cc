#include "gateway/function_catalog.h"

namespace gh::gateway {

std::shared_ptr<const UserFunctionMap> FunctionCatalog::get(const std::string& connection) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(connection);
  if (it == entries_.end() || !it->second.functions) return nullptr;
  const auto now = now_();
  if (now - it->second.at < kTtl) return it->second.functions;
  // Expired: still used while another session fetches the fresh copy.
  const bool fetching = now - it->second.fetching_since < kStaleWhileFetching;
  return fetching && now - it->second.at < kTtl + kStaleWhileFetching ? it->second.functions
                                                                      : nullptr;
}

bool FunctionCatalog::wants_fetch(const std::string& connection) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(connection);
  if (it == entries_.end()) return true;
  Entry& e = it->second;
  const auto now = now_();
  if (!e.functions) return now - e.at >= kRetryAfterFailure;
  if (now - e.at < kTtl) return false;
  if (now - e.fetching_since < kStaleWhileFetching) return false;  // another is fetching
  e.fetching_since = now;
  return true;
}

void FunctionCatalog::put(const std::string& connection, UserFunctionMap functions) {
  auto shared = std::make_shared<const UserFunctionMap>(std::move(functions));
  std::lock_guard lock(mu_);
  entries_[connection] = Entry{std::move(shared), now_()};
}

void FunctionCatalog::failed(const std::string& connection) {
  std::lock_guard lock(mu_);
  entries_[connection] = Entry{nullptr, now_()};
}

void FunctionCatalog::invalidate(const std::string& connection) {
  std::lock_guard lock(mu_);
  entries_.erase(connection);
}

}  // namespace gh::gateway
