// What the audit writer pays per recorded statement: batches of pgbench-like
// statement events (the size one group commit takes under load) written to a
// SQLite store on disk, chain and all (the record stream: many statements
// to a compressed chunk). Run, not asserted
// (shared/design/benchmarks.md): the gateway's full variant in
// bench/pg-compare spends this on its writer thread for every statement.
#include <benchmark/benchmark.h>

#include <unistd.h>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "store/sqlite/sqlite_store.h"

namespace {

namespace fs = std::filesystem;

std::vector<gh::model::AuditEvent> statement_batch(std::size_t n, std::int64_t& seq) {
  std::vector<gh::model::AuditEvent> batch;
  batch.reserve(n);
  for (std::size_t i = 0; i < n; ++i, ++seq) {
    gh::model::StatementEvent e;
    e.session_id = "s-" + std::to_string(seq % 8) + "7ed659d1c057cf1e4236a5";
    e.seq = seq;
    e.at_us = 1'796'517'565'352'554 + seq * 100;
    e.duration_us = 300 + seq % 700;
    e.text = "SELECT abalance FROM pgbench_accounts WHERE aid = " +
             std::to_string(seq * 7919 % 1'000'000) + ";";
    e.protocol_path = "simple";
    e.rows = 1;
    e.outcome = "ok";
    e.command_tag = "SELECT 1";
    e.decision.kind = "select";
    e.decision.cls = "read";
    e.decision.decision = "allow";
    e.decision.rule = "bench-agents";
    e.decision.policy_version = 1;
    e.decision.tables = {"public.pgbench_accounts"};
    batch.emplace_back(std::move(e));
  }
  return batch;
}

void BM_WriteStatements(benchmark::State& state) {
  const char* dir = std::getenv("GH_BENCH_DIR");
  const fs::path path = fs::path(dir ? dir : fs::temp_directory_path().string()) /
                        ("gh-audit-write-" + std::to_string(::getpid()) + ".db");
  fs::remove(path);
  {
    auto store = gh::store::open_sqlite_store(path.string());
    if (!store) {
      state.SkipWithError(store.error().c_str());
      return;
    }
    const auto n = static_cast<std::size_t>(state.range(0));
    std::int64_t seq = 1;
    for (auto _ : state) {
      state.PauseTiming();
      auto batch = statement_batch(n, seq);
      state.ResumeTiming();
      if (auto st = (*store)->write_batch(batch); !st) {
        state.SkipWithError(st.error().c_str());
        break;
      }
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
    // What each statement costs on disk (the file and its write-ahead log, checkpointed at close).
    store->reset();
    std::error_code ec;
    const auto bytes = fs::file_size(path, ec);
    if (!ec && seq > 1)
      state.counters["bytes_per_statement"] =
          static_cast<double>(bytes) / static_cast<double>(seq - 1);
  }
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path.string() + suffix);
}

}  // namespace

// 64: a light load's batch; 512: about what 50 ms of 10 000 statements/s brings.
BENCHMARK(BM_WriteStatements)->Arg(64)->Arg(512)->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
