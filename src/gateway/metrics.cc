#include "gateway/metrics.h"

#include <fmt/format.h>

#include <cassert>
#include <cmath>

#include "gateway/services.h"

namespace gh::gateway {

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds.begin(), bounds.end()),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds.size() + 1)) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    assert(i == 0 || bounds_[i - 1] < bounds_[i]);
    bounds_ns_.push_back(std::llround(bounds_[i] * 1e9));
  }
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  s.counts.resize(bounds_.size() + 1);
  for (std::size_t i = 0; i < s.counts.size(); ++i) {
    s.counts[i] = buckets_[i].load(std::memory_order_relaxed);
    s.count += s.counts[i];
  }
  s.sum = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return s;
}

namespace {

// Backslash and line feed are escaped in help text; label values escape
// double quotes too.
void append_escaped(std::string& out, std::string_view v, bool label_value) {
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"' && label_value)
      out += "\\\"";
    else
      out += c;
  }
}

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

}  // namespace

void PromText::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  append_escaped(out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void PromText::name_and_labels(std::string_view name, const Labels& labels) {
  out_ += name;
  if (labels.empty()) return;
  out_ += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out_ += ',';
    first = false;
    out_ += k;
    out_ += "=\"";
    append_escaped(out_, v, true);
    out_ += '"';
  }
  out_ += '}';
}

void PromText::sample(std::string_view name, const Labels& labels, double value) {
  name_and_labels(name, labels);
  out_ += ' ';
  out_ += number(value);
  out_ += '\n';
}

void PromText::sample(std::string_view name, const Labels& labels, std::uint64_t value) {
  name_and_labels(name, labels);
  out_ += ' ';
  out_ += std::to_string(value);
  out_ += '\n';
}

void PromText::counter(std::string_view name, std::string_view help, std::uint64_t value) {
  family(name, "counter", help);
  sample(name, {}, value);
}

void PromText::counter(std::string_view name, std::string_view help, std::string_view label,
                       std::initializer_list<std::pair<std::string_view, std::uint64_t>> values) {
  family(name, "counter", help);
  for (const auto& [value_of_label, count] : values) sample(name, {{label, value_of_label}}, count);
}

void PromText::gauge(std::string_view name, std::string_view help, double value) {
  family(name, "gauge", help);
  sample(name, {}, value);
}

void PromText::histogram(std::string_view name, const Labels& labels,
                         const Histogram::Snapshot& s) {
  const std::string bucket = std::string(name) + "_bucket";
  Labels with_le = labels;
  with_le.emplace_back("le", "");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < s.counts.size(); ++i) {
    cumulative += s.counts[i];
    const std::string le = i < s.bounds.size() ? number(s.bounds[i]) : "+Inf";
    with_le.back().second = le;
    sample(bucket, with_le, cumulative);
  }
  sample(std::string(name) + "_sum", labels, s.sum);
  sample(std::string(name) + "_count", labels, s.count);
}

std::string render_metrics(const Services& services) {
  const Counters& c = services.counters();
  auto get = [](const auto& atomic) { return atomic.load(std::memory_order_relaxed); };
  PromText m;

  m.counter("gatehouse_sessions_started_total", "Sessions that passed startup and were recorded.",
            get(c.sessions_started));
  m.counter("gatehouse_sessions_refused_total",
            "Connections refused at startup (token, access, approval, audit, limits).",
            get(c.sessions_refused));
  m.gauge("gatehouse_sessions_active", "Sessions relaying statements now.",
          static_cast<double>(get(c.sessions_active)));
  m.gauge("gatehouse_client_connections_open", "Client connections open now, authenticated or not.",
          static_cast<double>(get(c.connections_open)));
  m.counter("gatehouse_protocol_errors_total", "Client messages that broke the wire protocol.",
            get(c.protocol_errors));

  const auto allow = c.decisions.allow.snapshot();
  const auto deny = c.decisions.deny.snapshot();
  const auto hold = c.decisions.hold.snapshot();
  m.counter("gatehouse_statements_total",
            "Statements decided by the gateway as they arrived: allow, deny, or hold (held for a "
            "wait-mode approval).",
            "decision", {{"allow", allow.count}, {"deny", deny.count}, {"hold", hold.count}});
  m.counter("gatehouse_statements_paused_total", "Statements held because the gateway was paused.",
            get(c.statements_held));
  m.counter("gatehouse_statements_recorded_total",
            "Statements that ran to an outcome (rows, error or interruption) and were recorded.",
            get(c.statements));
  m.family("gatehouse_statement_decision_seconds", "histogram",
           "Time the gateway took to decide a statement (analysis and policy), by decision.");
  m.histogram("gatehouse_statement_decision_seconds", {{"decision", "allow"}}, allow);
  m.histogram("gatehouse_statement_decision_seconds", {{"decision", "deny"}}, deny);
  m.histogram("gatehouse_statement_decision_seconds", {{"decision", "hold"}}, hold);
  m.family("gatehouse_session_startup_seconds", "histogram",
           "Time from accepting a connection to the session's start (TLS, token, access, "
           "upstream login).");
  m.histogram("gatehouse_session_startup_seconds", {}, c.session_startup.snapshot());

  m.gauge("gatehouse_memory_held_bytes",
          "Bytes sessions hold on their clients' behalf (statements, parameters, prepared "
          "statements, held rows), counted against gateway.memory_limit.",
          static_cast<double>(services.memory().used()));
  m.counter("gatehouse_memory_refusals_total",
            "Sessions ended because their memory budget or the gateway's was used up.",
            get(services.memory().refusals));
  m.counter("gatehouse_values_masked_total", "Values masked in results sent to clients.",
            get(c.values_masked));
  m.counter("gatehouse_values_withheld_total",
            "Values withheld from clients because they could not be masked safely.",
            get(c.values_withheld));

  m.counter("gatehouse_approvals_requested_total",
            "Approval requests raised by statements, result sizes and access windows.",
            get(c.approvals_requested));
  m.gauge("gatehouse_approvals_waiting", "Statements held now waiting for an approval.",
          static_cast<double>(get(c.approvals_waiting)));
  m.counter("gatehouse_webhook_deliveries_total",
            "Approval notices to webhooks: delivered (2xx), failed (given up), dropped (queue "
            "full or unsent at stop).",
            "outcome",
            {{"delivered", get(c.webhooks.delivered)},
             {"failed", get(c.webhooks.failed)},
             {"dropped", get(c.webhooks.dropped)}});

  const AuditStats audit = services.audit_stats();
  m.gauge("gatehouse_audit_enabled", "1 when sessions are recorded (gateway.audit is on).",
          audit.enabled ? 1 : 0);
  m.gauge("gatehouse_audit_accepting",
          "1 while the audit recorder takes events; 0 refuses new sessions.",
          services.audit_accepting() ? 1 : 0);
  m.gauge("gatehouse_audit_queue_depth", "Audit events waiting for the writer.",
          static_cast<double>(audit.queue_depth));
  m.gauge("gatehouse_audit_spool_bytes",
          "Audit records waiting in the local spool while the store does not take them.",
          static_cast<double>(audit.spool_bytes));
  m.gauge("gatehouse_audit_lagging",
          "1 while the oldest uncommitted audit record is older than the async window (100 ms): "
          "completions wait for their records.",
          audit.lagging ? 1 : 0);
  m.counter("gatehouse_audit_events_written_total",
            "Audit events taken durably (into the store, or into the spool while it fails).",
            audit.written);
  m.counter("gatehouse_audit_batches_failed_total",
            "Audit batches the store failed to write (retried).", audit.failed_batches);
  m.counter("gatehouse_audit_poison_records_total",
            "Audit records the store rejected on their own while it took the others: set aside "
            "in data_dir/audit.poison (with the reason) instead of blocking the records after "
            "them.",
            audit.poisoned);
  m.counter("gatehouse_audit_events_dropped_total",
            "Audit events lost: refused (queue full or store failing when recorded) or at_stop "
            "(unwritten when the store still failed at shutdown).",
            "reason", {{"refused", get(c.audit_dropped)}, {"at_stop", audit.dropped_at_stop}});

  m.gauge("gatehouse_policy_version", "Version of the policy in force (1 at start, +1 a reload).",
          static_cast<double>(services.policy_version()));
  m.gauge("gatehouse_paused", "1 while the gateway holds new statements (gatehouse pause).",
          services.pause_gate().paused() ? 1 : 0);
  return m.text();
}

}  // namespace gh::gateway
