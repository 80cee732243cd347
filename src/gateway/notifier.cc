#include "gateway/notifier.h"

#include <fmt/chrono.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <ctime>
#include <nlohmann/json.hpp>

#include "base/thread_name.h"
#include "net/https_client.h"

namespace gh::gateway {

namespace {

using Json = nlohmann::json;
using Kind = approvals::Event::Kind;
using SteadyClock = std::chrono::steady_clock;

constexpr std::size_t kStatementChars = 500;      // in the structured payload
constexpr std::size_t kTextStatementChars = 200;  // in the one-paragraph summary
constexpr std::size_t kAnswerChars = 120;         // of a refusing receiver's body, in the log
constexpr std::size_t kMaxAnswerBytes = 64 * 1024;
constexpr auto kMinAttemptTimeout = std::chrono::milliseconds(100);

bool is_created(Kind k) {
  return k == Kind::kCreated;
}
bool is_decided(Kind k) {
  return k == Kind::kDecided || k == Kind::kLapsed || k == Kind::kWithdrawn;
}
std::string_view notice_name(Kind k) {
  return is_created(k) ? "created" : "decided";
}

std::string iso8601(std::int64_t us) {
  if (us <= 0) return "";
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}",
                     fmt::gmtime(static_cast<std::time_t>(us / 1'000'000)));
}

// At most `n` characters (UTF-8 code points), never splitting one.
std::string truncated(const std::string& s, std::size_t n) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;  // continuation byte
    if (chars++ == n) return s.substr(0, i) + "…";
  }
  return s;
}

// A value as it may stand in the one-paragraph `text`: one line, no backtick
// that would end a code span, and Slack's control characters escaped
// (https://api.slack.com/reference/surfaces/formatting#escaping).
std::string inline_text(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '`':
        out += '\'';
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string bold(const std::string& s) {
  return "*" + inline_text(s) + "*";
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// A grant's length as the configuration writes it: 30s, 15m, 1h.
std::string duration_text(std::int64_t seconds) {
  if (seconds % 3600 == 0) return std::to_string(seconds / 3600) + "h";
  if (seconds % 60 == 0) return std::to_string(seconds / 60) + "m";
  return std::to_string(seconds) + "s";
}

// What an approval lets the requester do.
std::string grant_text(const approvals::Request& r) {
  if (r.binding.kind == approvals::Binding::Kind::kConnect)
    return r.grant_seconds > 0 ? "access is open for " + duration_text(r.grant_seconds)
                               : "access is open";
  if (r.grant_seconds == 0) return "the statement may now run once";
  return "the statement may run for " + duration_text(r.grant_seconds);
}

// The statement or the access the request is about, for the summary.
std::string statement_text(const approvals::Request& r) {
  return "`" + inline_text(truncated(r.statement, kTextStatementChars)) + "`";
}
std::string what_is_asked(const approvals::Request& r) {
  if (r.binding.kind == approvals::Binding::Kind::kConnect) {
    std::string s = bold(r.requester.subject) + " asks for access to " + bold(r.binding.connection);
    if (r.grant_seconds > 0) s += " for " + duration_text(r.grant_seconds);
    if (!r.reason.empty()) s += ", saying “" + inline_text(truncated(r.reason, 200)) + "”";
    return s;
  }
  return bold(r.requester.subject) + " wants to run a statement on " + bold(r.binding.connection) +
         ": " + statement_text(r);
}
std::string what_was_asked(const approvals::Request& r) {
  if (r.binding.kind == approvals::Binding::Kind::kConnect)
    return bold(r.requester.subject) + "'s access to " + bold(r.binding.connection);
  return bold(r.requester.subject) + "'s statement on " + bold(r.binding.connection) + ", " +
         statement_text(r) + ",";
}

std::string reviewer_text(const approvals::Review& rv) {
  std::string s = bold(rv.subject);
  if (!rv.reason.empty()) s += " (“" + inline_text(truncated(rv.reason, 200)) + "”)";
  return s;
}

// Who approved (or denied), with their reasons.
std::string reviewers(const approvals::Request& r, bool approve) {
  std::string who;
  for (const auto& rv : r.reviews)
    if (rv.approve == approve) who += (who.empty() ? "" : ", ") + reviewer_text(rv);
  return who;
}

std::string outcome_text(const approvals::Event& e) {
  const auto& r = e.request;
  switch (r.status) {
    case approvals::Status::kApproved:
    case approvals::Status::kUsed:
      return "was *approved* by " + reviewers(r, true) + "; " + grant_text(r) + ".";
    case approvals::Status::kDenied:
      return "was *denied* by " + reviewers(r, false) + ".";
    case approvals::Status::kLapsed:
      return "*lapsed*: no decision before it expired.";
    case approvals::Status::kWithdrawn:
      return "was *withdrawn*" + (e.actor.empty() ? "" : " by " + bold(e.actor)) +
             (e.detail.empty() ? "" : ": " + inline_text(e.detail)) + ".";
    case approvals::Status::kPending:
      break;
  }
  return "is *pending*.";
}

std::string summary_text(const approvals::Event& e) {
  const auto& r = e.request;
  if (is_created(e.kind)) {
    std::string needs = std::to_string(r.count) + (r.count == 1 ? " approval" : " approvals") +
                        (r.approver_groups.empty() ? "" : " from " + joined(r.approver_groups));
    return "*Approval requested*: " + what_is_asked(r) + ". Rule " + bold(r.rule) +
           " holds it: request " + bold(r.id) + " is *pending* until " + iso8601(r.expires_at_us) +
           " and needs " + inline_text(needs) + ". To act: `gatehouse reviews approve " + r.id +
           "` (or `gatehouse reviews deny " + r.id + " --reason …`).";
  }
  return "*Approval request " + inline_text(r.id) + " " +
         std::string(approvals::status_name(r.status)) + "* (rule " + bold(r.rule) +
         "): " + what_was_asked(r) + " " + outcome_text(e);
}

// Removes the URL's secret part (path and query) from a message, should
// anything below ever echo it.
std::string scrubbed(std::string message, const std::string& target) {
  for (std::string secret : {target, target.substr(0, target.find('?'))}) {
    if (secret.size() <= 1) continue;  // "/" hides nothing
    const std::string hidden = "/…";
    for (auto at = message.find(secret); at != std::string::npos;
         at = message.find(secret, at + hidden.size()))
      message.replace(at, secret.size(), hidden);
  }
  return message;
}

// A receiver's answer as a log may show it: printable, short.
std::string answer_snippet(const std::string& body) {
  std::string out;
  for (char c : body) {
    if (out.size() >= kAnswerChars) {
      out += "…";
      break;
    }
    out += (c >= 0x20 && c < 0x7f) ? c : ' ';
  }
  return out;
}

// Retry-After in seconds (RFC 9110 §10.2.3); an HTTP date is not honoured.
std::chrono::milliseconds retry_after(const std::string& value) {
  if (value.empty() || value.size() > 9 ||
      value.find_first_not_of("0123456789") != std::string::npos)
    return std::chrono::milliseconds(-1);
  return std::chrono::seconds(std::stol(value));
}

}  // namespace

std::string webhook_payload(const approvals::Event& e, const std::string& gateway_id) {
  const auto& r = e.request;
  Json reviews = Json::array();
  for (const auto& rv : r.reviews)
    reviews.push_back({{"subject", rv.subject}, {"approve", rv.approve}, {"reason", rv.reason}});
  auto time_or_null = [](std::int64_t us) { return us > 0 ? Json(iso8601(us)) : Json(nullptr); };
  Json gatehouse = {
      {"event", notice_name(e.kind)},
      {"request_id", r.id},
      {"rule", r.rule},
      {"status", approvals::status_name(r.status)},
      {"requester", r.requester.subject},
      {"connection", r.binding.connection},
      {"kind", r.binding.kind == approvals::Binding::Kind::kConnect ? "connect" : "statement"},
      {"mode", r.mode == approvals::Mode::kWait ? "wait" : "reject"},
      {"statement", truncated(r.statement, kStatementChars)},
      {"reason", r.reason},
      {"created_at", time_or_null(r.created_at_us)},
      {"expires_at", time_or_null(r.expires_at_us)},
      {"decided_at", time_or_null(r.decided_at_us)},
      {"approvers", {{"groups", r.approver_groups}, {"count", r.count}}},
      {"reviews", reviews},
      {"actor", e.actor},
      {"detail", e.detail},
      {"gateway", gateway_id},
      {"approve_command", "gatehouse reviews approve " + r.id},
  };
  const std::string summary = "gatehouse: approval request " + r.id + " (" + r.rule + ") " +
                              std::string(approvals::status_name(r.status));
  Json body = {{"text", summary_text(e)},
               {"@type", "MessageCard"},
               {"@context", "https://schema.org/extensions"},
               {"summary", summary},
               {"gatehouse", gatehouse}};
  // Statements are the client's bytes: never let invalid UTF-8 throw.
  return body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Notifier::Notifier(std::vector<config::Webhook> hooks, WebhookCounters& counters,
                   NotifierOptions options)
    : counters_(counters), options_(std::move(options)) {
  for (auto& c : hooks) {
    Hook h;
    if (auto u = net::parse_url(c.url)) {
      h.host = u->authority();
      h.target = u->target;
    } else {
      h.host = "?";
      h.problem = u.error();
      spdlog::error("webhook {}: its URL cannot be used, its notices will not be sent: {}", c.name,
                    h.problem);
    }
    h.config = std::move(c);
    hooks_.push_back(std::move(h));
  }
  worker_ = std::thread([this] {
    set_thread_name("gh-notify");
    run();
  });
}

Notifier::~Notifier() {
  stop();
}

void Notifier::enqueue(const approvals::Event& e) {
  if (!is_created(e.kind) && !is_decided(e.kind)) return;
  auto wants = [&](const Hook& h) {
    return is_created(e.kind) ? h.config.on_created : h.config.on_decided;
  };
  if (std::none_of(hooks_.begin(), hooks_.end(), wants)) return;
  std::vector<Notice> dropped;
  try {
    auto event = std::make_shared<const approvals::Event>(e);
    std::lock_guard lock(mu_);
    if (stopping_) return;
    const auto now = SteadyClock::now();
    for (std::size_t i = 0; i < hooks_.size(); ++i) {
      if (!wants(hooks_[i])) continue;
      if (!hooks_[i].problem.empty()) {
        counters_.failed.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      Notice n{next_seq_++, i, event, 0, now};
      if (queue_.size() >= options_.max_queue) {
        // The oldest that is not on the wire goes; with none, this one.
        auto oldest = std::find_if(queue_.begin(), queue_.end(),
                                   [&](const Notice& q) { return q.seq != in_flight_; });
        if (oldest == queue_.end()) {
          dropped.push_back(std::move(n));
          continue;
        }
        dropped.push_back(std::move(*oldest));
        queue_.erase(oldest);
      }
      queue_.push_back(std::move(n));
    }
  } catch (const std::exception&) {
    // Out of memory: the notice is lost, the session is not.
    counters_.dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  wake_.notify_one();
  if (dropped.empty()) return;
  const auto before = counters_.dropped.fetch_add(dropped.size(), std::memory_order_relaxed);
  const auto total = before + dropped.size();
  // The first drop, then one line per 100 at most: a flood must not become a flood of logs.
  if (before == 0 || before / 100 != total / 100) {
    const Notice& n = dropped.front();
    spdlog::warn(
        "webhook {}: the notice queue is full ({} waiting); dropped the {} notice of approval "
        "request {} ({} dropped since start)",
        hooks_[n.hook].config.name, options_.max_queue, notice_name(n.event->kind),
        n.event->request.id, total);
  }
}

void Notifier::stop() {
  std::lock_guard once(stop_mu_);
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      drain_until_ = SteadyClock::now() + options_.drain;
    }
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

std::size_t Notifier::next_locked() const {
  std::size_t best = queue_.size();
  std::vector<bool> seen(hooks_.size(), false);
  std::size_t heads = 0;
  for (std::size_t i = 0; i < queue_.size() && heads < hooks_.size(); ++i) {
    const std::size_t h = queue_[i].hook;
    if (seen[h]) continue;  // a webhook's notices go out in order
    seen[h] = true;
    ++heads;
    if (best == queue_.size() || queue_[i].not_before < queue_[best].not_before) best = i;
  }
  return best;
}

std::chrono::milliseconds Notifier::backoff(int attempts_made) const {
  auto wait = options_.backoff_base;
  for (int i = 1; i < attempts_made && wait < options_.backoff_cap; ++i) wait *= 2;
  return std::min(wait, options_.backoff_cap);
}

void Notifier::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    const auto now = SteadyClock::now();
    if (stopping_ && (queue_.empty() || now >= drain_until_)) break;
    const std::size_t i = next_locked();
    if (i == queue_.size()) {
      wake_.wait(lock);
      continue;
    }
    const auto due = queue_[i].not_before;
    if (stopping_ && due >= drain_until_) break;  // nothing left can go out in time
    if (due > now) {
      wake_.wait_until(lock, stopping_ ? std::min(due, drain_until_) : due);
      continue;
    }
    const Notice n = queue_[i];
    const Hook& hook = hooks_[n.hook];
    std::chrono::milliseconds timeout = hook.config.timeout;
    if (stopping_)  // the drain's deadline bounds this attempt too
      timeout = std::min(
          timeout,
          std::max(kMinAttemptTimeout,
                   std::chrono::duration_cast<std::chrono::milliseconds>(drain_until_ - now)));
    in_flight_ = n.seq;
    lock.unlock();
    const Attempt a = attempt(hook, webhook_payload(*n.event, options_.gateway_id), timeout);
    lock.lock();
    in_flight_ = 0;
    auto it =
        std::find_if(queue_.begin(), queue_.end(), [&](const Notice& q) { return q.seq == n.seq; });
    assert(it != queue_.end());  // the notice on the wire is never dropped
    const int made = n.attempts + 1;
    if (a.outcome == Outcome::kRetry && made < hook.config.attempts) {
      const auto wait = a.retry_after.count() >= 0
                            ? std::min(a.retry_after, options_.retry_after_cap)
                            : backoff(made);
      it->attempts = made;
      it->not_before = SteadyClock::now() + wait;
      lock.unlock();  // a log write must not hold up enqueue()
      spdlog::debug("webhook {} ({}): attempt {} of {} for request {} failed ({}); next in {} ms",
                    hook.config.name, hook.host, made, hook.config.attempts, n.event->request.id,
                    a.error, wait.count());
      lock.lock();
      continue;
    }
    queue_.erase(it);
    lock.unlock();
    if (a.outcome == Outcome::kDelivered) {
      counters_.delivered.fetch_add(1, std::memory_order_relaxed);
    } else {
      counters_.failed.fetch_add(1, std::memory_order_relaxed);
      spdlog::error(
          "webhook {} ({}): gave up on the {} notice of approval request {} after {} {}: {}",
          hook.config.name, hook.host, notice_name(n.event->kind), n.event->request.id, made,
          made == 1 ? "attempt" : "attempts", a.error);
    }
    lock.lock();
  }
  const std::size_t left = queue_.size();
  queue_.clear();
  lock.unlock();
  if (left == 0) return;
  counters_.dropped.fetch_add(left, std::memory_order_relaxed);
  spdlog::warn("webhooks: {} approval {} not sent before shutdown", left,
               left == 1 ? "notice was" : "notices were");
}

Notifier::Attempt Notifier::attempt(const Hook& hook, const std::string& body,
                                    std::chrono::milliseconds timeout) const {
  net::HttpsRequest req;
  req.method = "POST";
  req.url = hook.config.url;
  req.body = body;
  req.ca_file = hook.config.ca_file;
  req.timeout = timeout;
  req.max_body = kMaxAnswerBytes;
  Attempt a;
  auto reply = net::https_request(req);
  if (!reply) {
    a.outcome = Outcome::kRetry;
    a.error = scrubbed(reply.error(), hook.target);
    return a;
  }
  const int status = reply->status;
  if (status >= 200 && status < 300) {
    a.outcome = Outcome::kDelivered;
    return a;
  }
  a.error = "answered " + std::to_string(status);
  if (auto text = answer_snippet(reply->body); !text.empty())
    a.error += ": " + scrubbed(text, hook.target);
  // Timeouts, rate limits and server trouble pass; any other refusal is final.
  if (status == 408 || status == 429 || status >= 500) {
    a.outcome = Outcome::kRetry;
    a.retry_after = retry_after(reply->retry_after);
  }
  return a;
}

}  // namespace gh::gateway
