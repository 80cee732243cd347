// Content detection cost: one scan with every detector over 1 MiB of clean
// mixed text (prose, JSON, log lines) per engine; the same text with about
// 5% of its lines carrying sensitive values, scanned and rewritten with the
// partial style; and the per-value cost on short column values, which is
// how the gateway calls the scanner.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "masking/detectors.h"
#include "masking/styles.h"

namespace {

using gh::masking::Detector;
using gh::masking::Engine;
using gh::masking::Finding;
using gh::masking::Scanner;

constexpr std::size_t kTextSize = 1 << 20;
constexpr std::uint8_t kKey[32] = {7};

const char* const kWords[] = {
    "the",     "order",    "was",      "shipped", "to",       "warehouse", "after",   "review",
    "of",      "payment",  "status",   "and",     "customer", "notes",     "about",   "delivery",
    "window",  "between",  "morning",  "evening", "please",   "confirm",   "invoice", "total",
    "pending", "approved", "returned", "items",   "quantity", "discount",  "region",  "north",
    "south",   "service",  "restart",  "cache",   "latency",  "queue",     "batch",   "report"};

unsigned u(std::mt19937& rng) {
  return static_cast<unsigned>(rng());
}

std::string pick_word(std::mt19937& rng) {
  return kWords[u(rng) % std::size(kWords)];
}

std::string hex(std::mt19937& rng, int n) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(kHex[u(rng) % 16]);
  return s;
}

std::string timestamp(std::mt19937& rng) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "2024-%02u-%02u %02u:%02u:%02u.%03u+01", 1 + u(rng) % 12,
                1 + u(rng) % 28, u(rng) % 24, u(rng) % 60, u(rng) % 60, u(rng) % 1000);
  return buf;
}

std::string uuid(std::mt19937& rng) {
  return hex(rng, 8) + "-" + hex(rng, 4) + "-4" + hex(rng, 3) + "-a" + hex(rng, 3) + "-" +
         hex(rng, 12);
}

std::string clean_line(std::mt19937& rng) {
  char buf[512];
  switch (u(rng) % 4) {
    case 0: {  // prose
      std::string s;
      const int n = 8 + static_cast<int>(u(rng) % 12);
      for (int i = 0; i < n; ++i) s += (i ? " " : "") + pick_word(rng);
      return s + ".";
    }
    case 1:  // JSON document
      std::snprintf(buf, sizeof buf,
                    R"({"id":%u,"order":"ORD-2024-%06u","amount":%u.%02u,"currency":"EUR",)"
                    R"("status":"%s","created_at":"2024-01-%02uT10:%02u:00Z","ref":"%s"})",
                    u(rng) % 1000000, u(rng) % 1000000, u(rng) % 10000, u(rng) % 100,
                    pick_word(rng).c_str(), 1 + u(rng) % 28, u(rng) % 60, uuid(rng).c_str());
      return buf;
    case 2:  // application log line
      std::snprintf(buf, sizeof buf,
                    "%s INFO [worker-%u] request_id=%s path=/api/v1/orders/%u duration_ms=%u "
                    "status=200 version=v%u.%u.%u commit=%s",
                    timestamp(rng).c_str(), u(rng) % 16, uuid(rng).c_str(), u(rng) % 100000,
                    u(rng) % 500, u(rng) % 10, u(rng) % 20, u(rng) % 50, hex(rng, 12).c_str());
      return buf;
    default:  // CSV-ish row
      std::snprintf(buf, sizeof buf, "%u,%s,INV-%u-%04u,%u.%02u,%s,%u", u(rng) % 100000,
                    pick_word(rng).c_str(), 2020 + u(rng) % 5, u(rng) % 10000, u(rng) % 5000,
                    u(rng) % 100, timestamp(rng).c_str(), u(rng) % 1000);
      return buf;
  }
}

const char* const kSensitive[] = {
    "jane.doe@example.com",
    "4111 1111 1111 1111",
    "123-45-6789",
    "+44 20 7946 0958",
    "DE89 3704 0044 0532 0130 00",
    "192.168.10.20",
    "2001:db8::8a2e:370:7334",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
    "password=hunter22",
};

std::string make_text(double sensitive_share, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::string text;
  text.reserve(kTextSize + 1024);
  while (text.size() < kTextSize) {
    std::string line = clean_line(rng);
    if (static_cast<double>(u(rng) % 10000) < sensitive_share * 10000) {
      line += " contact ";
      line += kSensitive[u(rng) % std::size(kSensitive)];
    }
    text += line;
    text.push_back('\n');
  }
  return text;
}

const Scanner& scanner(Engine e) {
  static std::unique_ptr<Scanner> s[3];
  auto& slot = s[static_cast<int>(e)];
  if (!slot) {
    auto built = Scanner::build(gh::masking::all_detectors(), e);
    if (!built) {
      std::fprintf(stderr, "scanner: %s\n", built.error().c_str());
      std::abort();
    }
    slot = std::move(*built);
  }
  return *slot;
}

void ScanClean(benchmark::State& state, Engine engine) {
  if (engine == Engine::kHyperscan && !Scanner::hyperscan_available()) {
    state.SkipWithError("hyperscan not available");
    return;
  }
  const Scanner& s = scanner(engine);
  const std::string text = make_text(0.0, 1);
  std::vector<Finding> f;
  s.scan(text, f);
  state.counters["findings"] = static_cast<double>(f.size());
  for (auto _ : state) {
    f.clear();
    s.scan(text, f);
    benchmark::DoNotOptimize(f.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK_CAPTURE(ScanClean, hyperscan, Engine::kHyperscan)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(ScanClean, portable, Engine::kPortable)->Unit(benchmark::kMillisecond);

void AnyClean(benchmark::State& state) {
  const Scanner& s = scanner(Engine::kAuto);
  const std::string text = make_text(0.0, 1);
  for (auto _ : state) benchmark::DoNotOptimize(s.any(text));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(AnyClean)->Unit(benchmark::kMillisecond);

// Scan and build the masked copy, as a rewrite of a text column does.
void ScanAndRewrite(benchmark::State& state, Engine engine) {
  const Scanner& s = scanner(engine);
  const std::string text = make_text(0.05, 2);
  std::vector<Finding> f;
  std::string out;
  std::size_t found = 0;
  for (auto _ : state) {
    f.clear();
    s.scan(text, f);
    out.clear();
    std::size_t pos = 0;
    for (const Finding& x : f) {
      out.append(text, pos, x.begin - pos);
      gh::masking::mask_found(x.detector, gh::masking::Style::kPartial,
                              std::string_view(text).substr(x.begin, x.end - x.begin), kKey, out);
      pos = x.end;
    }
    out.append(text, pos, std::string::npos);
    found = f.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["findings"] = static_cast<double>(found);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK_CAPTURE(ScanAndRewrite, hyperscan, Engine::kAuto)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(ScanAndRewrite, portable, Engine::kPortable)->Unit(benchmark::kMillisecond);

// Column values one at a time: short strings, mostly clean.
void ScanShortValue(benchmark::State& state, Engine engine) {
  const Scanner& s = scanner(engine);
  std::mt19937 rng(3);
  std::vector<std::string> values;
  for (int i = 0; i < 1024; ++i) {
    std::string v;
    switch (i % 8) {
      case 0:
        v = "ORD-2024-" + std::to_string(100000 + u(rng) % 900000);
        break;
      case 1:
        v = timestamp(rng);
        break;
      case 2:
        v = pick_word(rng) + " " + pick_word(rng) + " " + pick_word(rng);
        break;
      case 3:
        v = std::to_string(u(rng));
        break;
      case 4:
        v = "jane" + std::to_string(i) + "@example.com";
        break;
      default:
        v = hex(rng, 20);
        break;
    }
    v.resize(20, ' ');
    values.push_back(std::move(v));
  }
  std::vector<Finding> f;
  std::size_t i = 0;
  for (auto _ : state) {
    f.clear();
    s.scan(values[i++ & 1023], f);
    benchmark::DoNotOptimize(f.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * 20));
}
BENCHMARK_CAPTURE(ScanShortValue, hyperscan, Engine::kAuto);
BENCHMARK_CAPTURE(ScanShortValue, portable, Engine::kPortable);

void MaskPartialEmail(benchmark::State& state) {
  std::string out;
  for (auto _ : state) {
    out.clear();
    gh::masking::mask_found(Detector::kEmail, gh::masking::Style::kPartial, "jane.doe@example.com",
                            kKey, out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(MaskPartialEmail);

void MaskHash(benchmark::State& state) {
  std::string out;
  for (auto _ : state) {
    out.clear();
    gh::masking::mask_found(Detector::kEmail, gh::masking::Style::kHash, "jane.doe@example.com",
                            kKey, out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(MaskHash);

void BuildScanner(benchmark::State& state, Engine engine) {
  for (auto _ : state) {
    auto s = Scanner::build(gh::masking::all_detectors(), engine);
    benchmark::DoNotOptimize(s.has_value());
  }
}
BENCHMARK_CAPTURE(BuildScanner, hyperscan, Engine::kAuto)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BuildScanner, portable, Engine::kPortable)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
