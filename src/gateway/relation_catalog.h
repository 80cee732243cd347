// Names of upstream relations and their columns by OID, as the catalog of
// each connection reports them: what turns a result column's (table OID,
// attribute number) into the source `schema.table.column` that masking rules
// name. Shared by every session of a connection; entries expire, and DDL seen
// by the gateway drops a connection's entries at once. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sql/lineage.h"

namespace gh::gateway {

// A relation as the catalog describes it (the shape column lineage reads):
// schema, table, column names by attribute number, and — for relations looked
// up by name — their json/jsonb columns and a view's definition.
using RelationInfo = sql::Shape;

class RelationCatalog {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr auto kTtl = std::chrono::seconds(60);
  static constexpr std::size_t kMaxEntries = 50'000;

  // "schema.table.column"; nullopt when the relation is not (or no longer) known.
  std::optional<std::string> column(const std::string& connection, std::uint32_t table_oid,
                                    std::int16_t attnum) const;
  bool known(const std::string& connection, std::uint32_t table_oid) const;
  void put(const std::string& connection, std::uint32_t table_oid, RelationInfo info);
  // By the name a statement used ("schema.table"), for COPY of a table.
  std::optional<RelationInfo> by_name(const std::string& connection, const std::string& name) const;
  void put_name(const std::string& connection, const std::string& name, RelationInfo info);
  // Relations as statements name them, with their column types and view
  // definitions (what column lineage reads), by the name as written.
  std::optional<RelationInfo> shape(const std::string& connection, const std::string& name) const;
  void put_shape(const std::string& connection, const std::string& name, RelationInfo info);
  // After DDL on the connection: everything is looked up again.
  void invalidate(const std::string& connection);
  // Changes whenever anything is invalidated (for what callers derive from entries).
  std::uint64_t generation() const;

 private:
  struct Entry {
    RelationInfo info;
    Clock::time_point fetched;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::uint32_t>, Entry> entries_;
  std::map<std::pair<std::string, std::string>, Entry> names_;
  std::map<std::pair<std::string, std::string>, Entry> shapes_;
  std::uint64_t generation_ = 0;
};

}  // namespace gh::gateway
