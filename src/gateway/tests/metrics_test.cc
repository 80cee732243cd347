// The latency histogram (bucket edges, concurrent observers) and the
// Prometheus text writer (cumulative buckets, escaping). The whole /metrics
// page is checked through the admin API (admin/tests/api_test.cc).
#include "gateway/metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace gh::gateway {
namespace {

using namespace std::chrono_literals;

constexpr double kBounds[] = {0.001, 0.01, 0.1};

TEST(Histogram, AValueOnABoundFallsInThatBucketAndPastTheLastInInf) {
  Histogram h(kBounds);
  h.observe(0ns);
  h.observe(1ms);     // == 0.001: le="0.001"
  h.observe(1001us);  // just over: le="0.01"
  h.observe(100ms);   // == 0.1
  h.observe(5s);      // +Inf
  h.observe(-3ms);    // a clock step back counts as zero
  const auto s = h.snapshot();
  EXPECT_EQ(s.bounds, std::vector<double>(std::begin(kBounds), std::end(kBounds)));
  EXPECT_EQ(s.counts, (std::vector<std::uint64_t>{3, 1, 1, 1}));
  EXPECT_EQ(s.count, 6u);
  EXPECT_DOUBLE_EQ(s.sum, 0.001 + 0.001001 + 0.1 + 5);
}

TEST(Histogram, ConcurrentObserversLoseNothing) {
  Histogram h(kDecisionBuckets);
  constexpr int kThreads = 4, kEach = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&h, t] {
      for (int i = 0; i < kEach; ++i) h.observe(std::chrono::microseconds((i + t) % 400));
    });
  for (auto& t : threads) t.join();
  const auto s = h.snapshot();
  EXPECT_EQ(s.count, static_cast<std::uint64_t>(kThreads * kEach));
  std::uint64_t total = 0;
  for (auto c : s.counts) total += c;
  EXPECT_EQ(total, s.count);
}

TEST(DecisionMetrics, EachDecisionHasItsOwnHistogram) {
  DecisionMetrics d;
  d.observe(Decision::kAllow, 10us);
  d.observe(Decision::kAllow, 20us);
  d.observe(Decision::kDeny, 30us);
  d.observe(Decision::kHold, 40us);
  EXPECT_EQ(d.allow.snapshot().count, 2u);
  EXPECT_EQ(d.deny.snapshot().count, 1u);
  EXPECT_EQ(d.hold.snapshot().count, 1u);
}

TEST(PromText, HistogramBucketsAreCumulativeAndEndAtInfEqualToCount) {
  Histogram h(kBounds);
  h.observe(500us);
  h.observe(5ms);
  h.observe(5ms);
  h.observe(2s);
  PromText m;
  m.family("x_seconds", "histogram", "How long x took.");
  m.histogram("x_seconds", {{"kind", "a"}}, h.snapshot());
  EXPECT_EQ(m.text(),
            "# HELP x_seconds How long x took.\n"
            "# TYPE x_seconds histogram\n"
            "x_seconds_bucket{kind=\"a\",le=\"0.001\"} 1\n"
            "x_seconds_bucket{kind=\"a\",le=\"0.01\"} 3\n"
            "x_seconds_bucket{kind=\"a\",le=\"0.1\"} 3\n"
            "x_seconds_bucket{kind=\"a\",le=\"+Inf\"} 4\n"
            "x_seconds_sum{kind=\"a\"} 2.0105\n"
            "x_seconds_count{kind=\"a\"} 4\n");
}

TEST(PromText, CountersGaugesAndEscaping) {
  PromText m;
  m.counter("a_total", "Help with \\ and\nnewline.", 7);
  m.gauge("b", "A gauge.", 0.5);
  m.counter("c_total", "Labelled.", "who", {{"say \"hi\"\\\n", 2}, {"b", 3}});
  EXPECT_EQ(m.text(),
            "# HELP a_total Help with \\\\ and\\nnewline.\n"
            "# TYPE a_total counter\n"
            "a_total 7\n"
            "# HELP b A gauge.\n"
            "# TYPE b gauge\n"
            "b 0.5\n"
            "# HELP c_total Labelled.\n"
            "# TYPE c_total counter\n"
            "c_total{who=\"say \\\"hi\\\"\\\\\\n\"} 2\n"
            "c_total{who=\"b\"} 3\n");
}

}  // namespace
}  // namespace gh::gateway
