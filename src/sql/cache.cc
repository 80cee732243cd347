#include "sql/cache.h"

#include <functional>

#include "sql/analyzer.h"
#include "sql/scan_key.h"

namespace gh::sql {

namespace {
// Keys of the two kinds never collide: a token key starts with 't', an exact
// one with 'x'.
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
  // are found without scanning.
  std::string exact = exact_key(sql);
  if (auto a = find(exact)) {
    hits_.fetch_add(1, std::memory_order_relaxed);
    return a;
  }
  std::string tkey(1, 't');
  bool has_constants = false;
  const bool keyed = append_scan_key(sql, tkey, has_constants);
  if (keyed) {
    auto a = find(tkey);
    // A lone statement kept as spanning its text (it ended in `;` and
    // whitespace) spans this one too unless a comment follows its `;`:
    // comments are not tokens. A text that may hold one is analysed itself.
    if (a && a->statements.size() == 1 && a->statements.front().length == 0 &&
        sql.find(';') != std::string_view::npos &&
        (sql.find("--") != std::string_view::npos || sql.find("/*") != std::string_view::npos))
      a = nullptr;
    if (a) {
      hits_.fetch_add(1, std::memory_order_relaxed);
      if (!has_constants) put(std::move(exact), a);
      return a;
    }
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  auto a = std::make_shared<const model::Analysis>(analyze(sql));
  // What does not parse is not kept: garbage must not push out real entries.
  if (!a->ok) return a;
  if (a->constant_sensitive || !keyed) {
    put(std::move(exact), a);
  } else {
    // A text without constants (a Parse with $n parameters, a fixed query)
    // is keyed by its tokens alone: keep it under its exact text too, so the
    // next time skips the scanner. Texts with constants are not, or a stream
    // of distinct constants would fill the cache with one-off keys.
    if (!has_constants) put(std::move(exact), a);
    put(std::move(tkey), a);
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
