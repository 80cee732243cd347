// Approval webhooks: announces approval requests to chat (Slack and Microsoft
// Teams incoming webhooks, or any JSON receiver) when they are created and
// when they are decided, lapse or are withdrawn.
//
// enqueue() never blocks: the broker's sink calls it on I/O threads and on the
// admin thread. One worker thread of the notifier's own does every HTTPS
// request, so a slow or failing receiver delays nothing but other notices. The
// queue is bounded; when it is full the oldest notice is dropped (counted and
// logged). Each webhook's notices go out in the order they happened; a
// webhook in back-off does not hold up the others.
//
// A webhook URL is a secret (it authorises posting): logs and errors name the
// webhook and its host only.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "approvals/broker.h"
#include "config/config.h"

namespace gh::gateway {

// What became of the notices.
struct WebhookCounters {
  std::atomic<std::uint64_t> delivered{0};  // a receiver answered 2xx
  std::atomic<std::uint64_t> failed{0};     // given up: a final answer or every attempt spent
  std::atomic<std::uint64_t> dropped{0};    // pushed out of a full queue, or unsent at stop
};

struct NotifierOptions {
  std::size_t max_queue = 1000;  // notices waiting, over all webhooks
  // Back-off after the n-th failed attempt: base * 2^(n-1), at most `backoff_cap`.
  std::chrono::milliseconds backoff_base{1000};
  std::chrono::milliseconds backoff_cap{60'000};
  // A receiver's Retry-After (in seconds) replaces the back-off, up to this.
  std::chrono::milliseconds retry_after_cap{300'000};
  // stop(): how long what is queued may still be tried.
  std::chrono::milliseconds drain{2000};
  std::string gateway_id;  // named in the payload
};

// The JSON body of one notice: Slack's `text`, a Teams MessageCard, and the
// structured `gatehouse` object. Never a token; the statement is the masked
// text the broker holds, cut to 500 characters.
std::string webhook_payload(const approvals::Event& event, const std::string& gateway_id);

class Notifier {
 public:
  // `counters` must outlive the notifier. A webhook whose URL cannot be used
  // is logged (by name and host) and its notices counted as failed.
  Notifier(std::vector<config::Webhook> hooks, WebhookCounters& counters,
           NotifierOptions options = {});
  ~Notifier();  // stop()
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Queues the event for every webhook that asked for its kind: created
  // (kCreated) or decided (kDecided, kLapsed, kWithdrawn); other kinds are
  // ignored. Never blocks, never throws; a no-op after stop().
  void enqueue(const approvals::Event& event);

  // Stops taking notices, tries what is queued for at most `drain` (plus the
  // attempt in flight), counts the rest as dropped, and joins the worker.
  void stop();

 private:
  struct Hook {
    config::Webhook config;
    std::string host;     // what logs may name
    std::string target;   // the URL's secret part, kept out of every message
    std::string problem;  // non-empty: the URL cannot be used
  };
  struct Notice {
    std::uint64_t seq = 0;
    std::size_t hook = 0;
    std::shared_ptr<const approvals::Event> event;
    int attempts = 0;  // made so far
    std::chrono::steady_clock::time_point not_before;
  };
  enum class Outcome { kDelivered, kRetry, kFailed };
  struct Attempt {
    Outcome outcome = Outcome::kFailed;
    std::string error;                          // for the log; never the URL
    std::chrono::milliseconds retry_after{-1};  // the receiver's wish, when it said one
  };

  void run();
  // With mu_ held: the index in queue_ of the notice to try next, which may
  // not be due yet; queue_.size() when there is none.
  std::size_t next_locked() const;
  Attempt attempt(const Hook& hook, const std::string& body,
                  std::chrono::milliseconds timeout) const;
  std::chrono::milliseconds backoff(int attempts_made) const;

  std::vector<Hook> hooks_;
  WebhookCounters& counters_;
  NotifierOptions options_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Notice> queue_;  // in the order events happened
  std::uint64_t next_seq_ = 1;
  std::uint64_t in_flight_ = 0;  // seq of the notice being sent; never dropped
  bool stopping_ = false;
  std::chrono::steady_clock::time_point drain_until_;
  std::mutex stop_mu_;  // one stop() joins
  std::thread worker_;
};

}  // namespace gh::gateway
