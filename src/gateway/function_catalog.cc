#include "gateway/function_catalog.h"

namespace gh::gateway {

std::shared_ptr<const UserFunctionMap> FunctionCatalog::get(const std::string& connection) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(connection);
  if (it == entries_.end() || !it->second.functions || Clock::now() - it->second.at >= kTtl)
    return nullptr;
  return it->second.functions;
}

bool FunctionCatalog::wants_fetch(const std::string& connection) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(connection);
  if (it == entries_.end()) return true;
  const auto age = Clock::now() - it->second.at;
  return it->second.functions ? age >= kTtl : age >= kRetryAfterFailure;
}

void FunctionCatalog::put(const std::string& connection, UserFunctionMap functions) {
  auto shared = std::make_shared<const UserFunctionMap>(std::move(functions));
  std::lock_guard lock(mu_);
  entries_[connection] = Entry{std::move(shared), Clock::now()};
}

void FunctionCatalog::failed(const std::string& connection) {
  std::lock_guard lock(mu_);
  entries_[connection] = Entry{nullptr, Clock::now()};
}

void FunctionCatalog::invalidate(const std::string& connection) {
  std::lock_guard lock(mu_);
  entries_.erase(connection);
}

}  // namespace gh::gateway
