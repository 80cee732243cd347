#include "sql/cache.h"

#include <functional>

#include "sql/analyzer.h"

namespace gh::sql {

namespace {
// Keys of the two kinds never collide: a normalized key starts with 'n', an
// exact one with 'x'.
std::string normalized_key(const std::string& norm) {
  return "n" + norm;
}
std::string exact_key(std::string_view sql) {
  return "x" + std::string(sql);
}
}  // namespace

AnalysisCache::AnalysisCache(std::size_t capacity)
    : per_shard_(capacity / kShards + 1), shards_(std::make_unique<Shard[]>(kShards)) {}

model::AnalysisPtr AnalysisCache::find(const std::string& key) {
  Shard& s = shards_[std::hash<std::string>{}(key) % kShards];
  std::lock_guard lock(s.mu);
  auto it = s.map.find(key);
  return it == s.map.end() ? nullptr : it->second;
}

void AnalysisCache::put(std::string key, model::AnalysisPtr a) {
  Shard& s = shards_[std::hash<std::string>{}(key) % kShards];
  std::lock_guard lock(s.mu);
  if (s.map.size() >= per_shard_) s.map.clear();
  s.map.insert_or_assign(std::move(key), std::move(a));
}

model::AnalysisPtr AnalysisCache::get(std::string_view sql) {
  // Exact text first: repeated statements (and every constant-sensitive one)
  // are found without normalising.
  std::string exact = exact_key(sql);
  if (auto a = find(exact)) {
    hits_.fetch_add(1, std::memory_order_relaxed);
    return a;
  }
  auto norm = normalize(sql);
  std::string nkey;
  if (norm) {
    nkey = normalized_key(*norm);
    if (auto a = find(nkey)) {
      hits_.fetch_add(1, std::memory_order_relaxed);
      if (*norm == sql) put(std::move(exact), a);
      return a;
    }
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  auto a = std::make_shared<const model::Analysis>(analyze(sql));
  // What does not parse is not kept: garbage must not push out real entries.
  if (!a->ok) return a;
  if (a->constant_sensitive || !norm) {
    put(std::move(exact), a);
  } else {
    // A text without constants (a Parse with $n parameters, a fixed query)
    // is its own normal form: keep it under its exact text too, so the next
    // time skips the normaliser. Texts with constants are not, or a stream of
    // distinct constants would fill the cache with one-off keys.
    if (*norm == sql) put(std::move(exact), a);
    put(std::move(nkey), a);
  }
  return a;
}

AnalysisCache::Stats AnalysisCache::stats() const {
  Stats s;
  s.hits = hits_.load(std::memory_order_relaxed);
  s.misses = misses_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < kShards; ++i) {
    std::lock_guard lock(shards_[i].mu);
    s.size += shards_[i].map.size();
  }
  return s;
}

}  // namespace gh::sql
