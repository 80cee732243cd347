#include "gateway/relation_catalog.h"

namespace gh::gateway {

std::optional<std::string> RelationCatalog::column(const std::string& connection,
                                                   std::uint32_t table_oid,
                                                   std::int16_t attnum) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find({connection, table_oid});
  if (it == entries_.end() || Clock::now() - it->second.fetched > kTtl) return std::nullopt;
  const auto& info = it->second.info;
  if (attnum <= 0 || static_cast<std::size_t>(attnum) > info.columns.size()) return std::nullopt;
  const std::string& col = info.columns[static_cast<std::size_t>(attnum) - 1];
  if (col.empty()) return std::nullopt;
  return info.schema + "." + info.table + "." + col;
}

bool RelationCatalog::known(const std::string& connection, std::uint32_t table_oid) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find({connection, table_oid});
  return it != entries_.end() && Clock::now() - it->second.fetched <= kTtl;
}

void RelationCatalog::put(const std::string& connection, std::uint32_t table_oid,
                          RelationInfo info) {
  std::lock_guard lock(mu_);
  if (entries_.size() >= kMaxEntries) entries_.clear();
  entries_[{connection, table_oid}] = Entry{std::move(info), Clock::now()};
}

void RelationCatalog::invalidate(const std::string& connection) {
  std::lock_guard lock(mu_);
  auto it = entries_.lower_bound({connection, 0});
  while (it != entries_.end() && it->first.first == connection) it = entries_.erase(it);
}

}  // namespace gh::gateway
