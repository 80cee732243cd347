// Metrics for the admin listener's /metrics: a latency histogram that any
// thread records into without a lock, a writer for the Prometheus text
// exposition format (0.0.4), and the page listing every gatehouse metric.
// https://prometheus.io/docs/instrumenting/exposition_formats/
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gh::gateway {

class Services;

// Fixed upper bounds in seconds. Each observation is one relaxed atomic
// increment of its bucket plus one of the sum: no lock, no allocation, safe
// from every I/O thread. The count is the sum of the buckets, so the +Inf
// bucket always equals it.
class Histogram {
 public:
  // `bounds` ascending, in seconds; values above the last fall in +Inf.
  explicit Histogram(std::span<const double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void observe(std::chrono::nanoseconds took) {
    const std::int64_t ns = took.count() < 0 ? 0 : took.count();
    std::size_t i = 0;
    while (i < bounds_ns_.size() && ns > bounds_ns_[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
  }

  struct Snapshot {
    std::vector<double> bounds;         // seconds, as given
    std::vector<std::uint64_t> counts;  // per bucket (not cumulative); the last is +Inf
    std::uint64_t count = 0;            // observations: the sum of `counts`
    double sum = 0;                     // seconds
  };
  // Concurrent observations may or may not be included; never torn.
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::vector<std::int64_t> bounds_ns_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1 (+Inf)
  std::atomic<std::uint64_t> sum_ns_{0};
};

// Bucket bounds (seconds) for the gateway's latency histograms.
inline constexpr double kDecisionBuckets[] = {0.00001, 0.000025, 0.00005, 0.0001, 0.00025,
                                              0.0005,  0.001,    0.0025,  0.005,  0.01,
                                              0.025,   0.05,     0.1,     0.25};
inline constexpr double kStartupBuckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                             0.25,  0.5,    1,     2.5,  5,     10};

// How the statement gate decided a statement as it arrived.
enum class Decision { kAllow, kDeny, kHold };

// The gate's decisions: how many of each and how long each took, as one
// histogram per decision (each one's count is the number of decisions).
struct DecisionMetrics {
  Histogram allow{kDecisionBuckets};
  Histogram deny{kDecisionBuckets};
  Histogram hold{kDecisionBuckets};

  void observe(Decision d, std::chrono::nanoseconds took) {
    (d == Decision::kAllow ? allow : d == Decision::kDeny ? deny : hold).observe(took);
  }
};

// Writes the Prometheus text format: each family's # HELP and # TYPE once,
// then its samples. Label values and help text are escaped as the format asks.
class PromText {
 public:
  using Labels = std::vector<std::pair<std::string_view, std::string_view>>;

  // A family's header; `type` is counter, gauge or histogram.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, const Labels& labels, double value);
  void sample(std::string_view name, const Labels& labels, std::uint64_t value);
  // One family with a single unlabelled value.
  void counter(std::string_view name, std::string_view help, std::uint64_t value);
  // One counter family with a sample per value of one label.
  void counter(std::string_view name, std::string_view help, std::string_view label,
               std::initializer_list<std::pair<std::string_view, std::uint64_t>> values);
  void gauge(std::string_view name, std::string_view help, double value);
  // A histogram's samples (the family header written before): cumulative
  // _bucket{le=…} through +Inf, _sum and _count, each with `labels` too.
  void histogram(std::string_view name, const Labels& labels, const Histogram::Snapshot& s);

  const std::string& text() const { return out_; }

 private:
  void name_and_labels(std::string_view name, const Labels& labels);
  std::string out_;
};

// The whole /metrics page of a running gateway.
std::string render_metrics(const Services& services);

}  // namespace gh::gateway
