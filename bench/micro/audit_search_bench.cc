// Searching the audit trail as it grows: a store of one million recorded
// statements (10 000 sessions of 100 statements, 50 identities, 200 tables),
// then the searches an auditor runs — by identity, group, table, decision and
// rule, text, a time window, one session's transcript — each with the
// default limit. Run, not asserted (shared/design/benchmarks.md): the numbers
// say whether the indexes keep search flat as the store grows.
// GH_BENCH_STORE=postgres runs it on the shared PostgreSQL store instead (a
// throwaway cluster, started and stopped here); the default is SQLite.
#include <benchmark/benchmark.h>

#include <unistd.h>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_store.h"
#include "testbed/pg_cluster.h"

namespace {

namespace fs = std::filesystem;

constexpr int kSessions = 10'000;
constexpr int kPerSession = 100;
constexpr std::int64_t kStartUs = 1'780'000'000'000'000;

std::string store_path() {
  static const std::string path = [] {
    const char* dir = std::getenv("GH_BENCH_DIR");
    fs::path p = fs::path(dir ? dir : fs::temp_directory_path().string()) /
                 ("gh-audit-bench-" + std::to_string(::getpid()) + ".db");
    return p.string();
  }();
  return path;
}

bool on_postgres() {
  const char* which = std::getenv("GH_BENCH_STORE");
  return which && std::string(which) == "postgres";
}

// The PostgreSQL store's URL (its cluster runs until the process ends).
const std::string& pg_url() {
  static std::unique_ptr<gh::testbed::PgCluster> cluster;
  static const std::string url = [] {
    const std::string parent = gh::testbed::make_temp_dir("gh-audit-bench-pg");
    cluster = std::make_unique<gh::testbed::PgCluster>(
        gh::testbed::PgCluster::create(parent, {.ssl = false, .extra_conf = ""}));
    return "postgresql:///postgres?host=" + cluster->dir() +
           "&port=" + std::to_string(cluster->port()) + "&user=postgres";
  }();
  return url;
}

gh::Expected<std::unique_ptr<gh::audit::Store>> open_store() {
  if (on_postgres()) return gh::store::open_postgres_store(pg_url());
  return gh::store::open_sqlite_store(store_path());
}

gh::Expected<std::unique_ptr<gh::audit::Reader>> open_reader() {
  if (on_postgres()) return gh::store::open_postgres_reader(pg_url());
  return gh::store::open_sqlite_reader(store_path());
}

// Writes the store once per process.
gh::audit::Reader& reader() {
  static std::unique_ptr<gh::audit::Reader> r = [] {
    auto store = open_store();
    if (!store) {
      std::cerr << store.error() << "\n";
      std::exit(1);
    }
    std::vector<gh::model::AuditEvent> batch;
    for (int s = 0; s < kSessions; ++s) {
      const std::string id = "s-" + std::to_string(s);
      gh::model::SessionStart start;
      start.session_id = id;
      start.subject = "agent-" + std::to_string(s % 50);
      start.groups = {s % 5 == 0 ? "dba" : "ai-agents"};
      start.connection = s % 3 == 0 ? "billing" : "traces";
      start.at_us = kStartUs + static_cast<std::int64_t>(s) * kPerSession * 1'000'000;
      batch.emplace_back(start);
      for (int i = 0; i < kPerSession; ++i) {
        gh::model::StatementEvent e;
        e.session_id = id;
        e.seq = i + 1;
        e.at_us = start.at_us + static_cast<std::int64_t>(i) * 1'000'000;
        const int n = s * kPerSession + i;
        const std::string table = "public.t" + std::to_string(n % 200);
        e.text = (n % 97 == 0 ? "DELETE FROM " : "SELECT * FROM ") + table + " WHERE id = $1";
        e.outcome = n % 97 == 0 ? "denied" : "ok";
        e.rows = 1;
        e.decision.kind = n % 97 == 0 ? "delete" : "select";
        e.decision.cls = n % 97 == 0 ? "write" : "read";
        e.decision.decision = n % 97 == 0 ? "deny" : "allow";
        e.decision.rule = n % 97 == 0 ? "no-deletes" : "agents-read";
        e.decision.tables = {table};
        batch.emplace_back(std::move(e));
      }
      if (batch.size() >= 20'000 || s + 1 == kSessions) {
        if (auto st = (*store)->write_batch(batch); !st) {
          std::cerr << st.error() << "\n";
          std::exit(1);
        }
        batch.clear();
      }
    }
    store->reset();
    auto opened = open_reader();
    if (!opened) {
      std::cerr << opened.error() << "\n";
      std::exit(1);
    }
    return std::move(*opened);
  }();
  return *r;
}

void run_search(benchmark::State& state, const gh::audit::StatementQuery& q) {
  auto& r = reader();
  std::size_t found = 0;
  for (auto _ : state) {
    auto res = r.search(q);
    if (!res) state.SkipWithError(res.error().c_str());
    found = res ? res->size() : 0;
    benchmark::DoNotOptimize(found);
  }
  state.counters["found"] = static_cast<double>(found);
}

void BM_SearchNewest(benchmark::State& state) {
  run_search(state, {});
}
void BM_SearchByIdentity(benchmark::State& state) {
  gh::audit::StatementQuery q;
  q.subject = "agent-7";
  run_search(state, q);
}
void BM_SearchByGroup(benchmark::State& state) {
  gh::audit::StatementQuery q;
  q.group = "dba";
  run_search(state, q);
}
void BM_SearchByTable(benchmark::State& state) {
  gh::audit::StatementQuery q;
  q.table = "public.t42";
  run_search(state, q);
}
void BM_SearchDenialsByRule(benchmark::State& state) {
  gh::audit::StatementQuery q;
  q.decision = "deny";
  q.rule = "no-deletes";
  run_search(state, q);
}
void BM_SearchByText(benchmark::State& state) {
  gh::audit::StatementQuery q;
  q.text = "DELETE FROM public.t7 ";
  run_search(state, q);
}
void BM_SearchTimeWindow(benchmark::State& state) {
  gh::audit::StatementQuery q;
  q.since_us = kStartUs + 500'000'000'000;
  q.until_us = kStartUs + 500'100'000'000;
  run_search(state, q);
}
void BM_SessionsOfIdentity(benchmark::State& state) {
  auto& r = reader();
  gh::audit::SessionQuery q;
  q.subject = "agent-7";
  for (auto _ : state) benchmark::DoNotOptimize(r.sessions(q));
}
void BM_Transcript(benchmark::State& state) {
  auto& r = reader();
  for (auto _ : state) benchmark::DoNotOptimize(r.transcript("s-5000"));
}

BENCHMARK(BM_SearchNewest)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SearchByIdentity)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SearchByGroup)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SearchByTable)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SearchDenialsByRule)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SearchByText)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SearchTimeWindow)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SessionsOfIdentity)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Transcript)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  reader();  // build the store before timing anything
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(store_path() + suffix, ec);
  return 0;
}
