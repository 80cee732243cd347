// A shared, bounded cache of analyses, keyed by the statement's tokens with
// its constants abstracted (sql/scan_key.h: PostgreSQL's scanner, not its
// grammar), so `… WHERE aid = 1` and `… WHERE aid = 2` share one analysis.
// An analysis whose outcome depends on a constant (SET, set_config, COPY,
// EXPLAIN options, anything but plain queries and DML) is keyed by its exact
// text instead, as is a text the scanner rejects. Thread-safe: sharded, one
// mutex per shard, held only for the lookup.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "model/analysis.h"

namespace gh::sql {

class AnalysisCache {
 public:
  // `capacity`: entries kept in all (each shard keeps its share; a full
  // shard is emptied and starts again, which bounds memory without LRU
  // bookkeeping on the hot path).
  explicit AnalysisCache(std::size_t capacity = 20'000);

  // The analysis of `sql`, from the cache or freshly made (and then kept).
  model::AnalysisPtr get(std::string_view sql);

  struct Stats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t size = 0;
  };
  Stats stats() const;

 private:
  static constexpr std::size_t kShards = 16;
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, model::AnalysisPtr> map;
  };
  model::AnalysisPtr find(const std::string& key);
  void put(std::string key, model::AnalysisPtr a);

  std::size_t per_shard_;
  std::unique_ptr<Shard[]> shards_;
  std::atomic<std::uint64_t> hits_{0};
  std::atomic<std::uint64_t> misses_{0};
};

}  // namespace gh::sql
