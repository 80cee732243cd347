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

std::optional<RelationInfo> RelationCatalog::by_name(const std::string& connection,
                                                     const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = names_.find({connection, name});
  if (it == names_.end() || Clock::now() - it->second.fetched > kTtl) return std::nullopt;
  return it->second.info;
}

void RelationCatalog::put_name(const std::string& connection, const std::string& name,
                               RelationInfo info) {
  std::lock_guard lock(mu_);
  if (names_.size() >= kMaxEntries) names_.clear();
  names_[{connection, name}] = Entry{std::move(info), Clock::now()};
}

std::optional<RelationInfo> RelationCatalog::shape(const std::string& connection,
                                                   const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = shapes_.find({connection, name});
  if (it == shapes_.end() || Clock::now() - it->second.fetched > kTtl) return std::nullopt;
  return it->second.info;
}

void RelationCatalog::put_shape(const std::string& connection, const std::string& name,
                                RelationInfo info) {
  std::lock_guard lock(mu_);
  if (shapes_.size() >= kMaxEntries) shapes_.clear();
  shapes_[{connection, name}] = Entry{std::move(info), Clock::now()};
}

std::uint64_t RelationCatalog::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

void RelationCatalog::invalidate(const std::string& connection) {
  std::lock_guard lock(mu_);
  ++generation_;
  auto s = shapes_.lower_bound({connection, std::string()});
  while (s != shapes_.end() && s->first.first == connection) s = shapes_.erase(s);
  auto it = entries_.lower_bound({connection, 0});
  while (it != entries_.end() && it->first.first == connection) it = entries_.erase(it);
  auto n = names_.lower_bound({connection, std::string()});
  while (n != names_.end() && n->first.first == connection) n = names_.erase(n);
}

}  // namespace gh::gateway
