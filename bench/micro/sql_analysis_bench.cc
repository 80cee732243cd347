// Statement analysis cost: a cold parse, the normaliser alone, the cache's
// token key alone, a cache hit (what pgbench -S costs per statement once
// warm), and a policy decision on a cached analysis.
#include <benchmark/benchmark.h>

#include <string>

#include "policy/decide.h"
#include "sql/analyzer.h"
#include "sql/cache.h"
#include "sql/scan_key.h"

namespace {

constexpr const char* kPgbenchSelect = "SELECT abalance FROM pgbench_accounts WHERE aid = ";
constexpr const char* kJoin =
    "WITH recent AS (SELECT * FROM public.orders WHERE created_at > now() - interval '1 day') "
    "SELECT c.email, count(*), sum(r.total) FROM public.customers c JOIN recent r ON r.cid = c.id "
    "WHERE c.region = 'eu' GROUP BY c.email ORDER BY 3 DESC LIMIT 50";

void AnalyzeCold(benchmark::State& state) {
  const std::string sql = state.range(0) == 0 ? std::string(kPgbenchSelect) + "4711" : kJoin;
  for (auto _ : state) benchmark::DoNotOptimize(gh::sql::analyze(sql));
}
BENCHMARK(AnalyzeCold)->Arg(0)->Arg(1)->ArgNames({"join"});

void Normalize(benchmark::State& state) {
  const std::string sql = std::string(kPgbenchSelect) + "4711";
  for (auto _ : state) benchmark::DoNotOptimize(gh::sql::normalize(sql));
}
BENCHMARK(Normalize);

// The cache's constant-abstracted key (PostgreSQL's scanner, no grammar).
void ScanKey(benchmark::State& state) {
  const std::string sql = state.range(0) == 0 ? std::string(kPgbenchSelect) + "4711" : kJoin;
  std::string key;
  bool constants = false;
  for (auto _ : state) {
    key.clear();
    benchmark::DoNotOptimize(gh::sql::append_scan_key(sql, key, constants));
  }
}
BENCHMARK(ScanKey)->Arg(0)->Arg(1)->ArgNames({"join"});

// A different constant every time, as pgbench -S sends: a hit on the
// token key.
void CacheHitNewConstant(benchmark::State& state) {
  gh::sql::AnalysisCache cache;
  std::uint64_t aid = 1;
  std::string sql;
  for (auto _ : state) {
    sql = kPgbenchSelect + std::to_string(aid++ % 1000000);
    benchmark::DoNotOptimize(cache.get(sql));
  }
  auto st = cache.stats();
  state.counters["hit_rate"] =
      static_cast<double>(st.hits) / static_cast<double>(st.hits + st.misses);
}
BENCHMARK(CacheHitNewConstant);

// The same text again without constants (a Parse with $n parameters, as
// pgbench -M extended sends every transaction): found by its exact text.
void CacheHitSameText(benchmark::State& state) {
  gh::sql::AnalysisCache cache;
  const std::string sql = std::string(kPgbenchSelect) + "$1";
  for (auto _ : state) benchmark::DoNotOptimize(cache.get(sql));
}
BENCHMARK(CacheHitSameText);

void DecideOnCachedAnalysis(benchmark::State& state) {
  gh::policy::Policy p;
  p.version = 1;
  gh::policy::AccessRule r;
  r.name = "agents";
  r.groups = {"bench"};
  r.connections = {"bench"};
  r.actions = {gh::policy::Action::kRead, gh::policy::Action::kWrite};
  r.tables = {"public.*"};
  p.access.rules.push_back(r);
  gh::policy::Guardrail g;
  g.name = "no-destructive-ddl";
  g.statements = {gh::model::Kind::kDrop, gh::model::Kind::kTruncate};
  p.guardrails.push_back(g);
  gh::policy::Guardrail f;
  f.name = "no-server-file-access";
  f.functions = {"pg_read_file", "lo_export", "dblink*"};
  p.guardrails.push_back(f);
  gh::model::Principal who;
  who.subject = "bench-agent";
  who.groups = {"bench"};
  gh::policy::SessionView view;
  view.search_paths = {{"public"}};
  auto a = gh::sql::analyze(std::string(kPgbenchSelect) + "1");
  for (auto _ : state) benchmark::DoNotOptimize(gh::policy::decide(p, who, "bench", a, view));
}
BENCHMARK(DecideOnCachedAnalysis);

}  // namespace

BENCHMARK_MAIN();
