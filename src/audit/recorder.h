// The audit recorder: I/O threads hand events to it without blocking; one
// writer thread drains the queue in batches (group commit) into a Store.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "audit/spool.h"
#include "base/expected.h"
#include "model/audit_event.h"

namespace gh::audit {

// Where events end up. Implementations live in store/ (SQLite today).
class Store {
 public:
  virtual ~Store() = default;
  // Writes the events atomically (one transaction); called from the writer thread only.
  virtual Status<> write_batch(std::span<const model::AuditEvent> events) = 0;
  // Housekeeping due by time (a checkpoint of the chain, a retention purge);
  // the writer thread calls it between batches, about every maintenance_interval.
  virtual Status<> maintain() { return Ok{}; }
  // Once, on the writer thread, after the last batch of a stop (a final checkpoint).
  virtual Status<> close() { return Ok{}; }
  // Whether the store answers at all, writing nothing (writer thread). An
  // error means it is unreachable, or cannot tell: then a batch it refuses is
  // never split to find a record it rejects (the default).
  virtual Status<> probe() { return unexpected(std::string("the store cannot be probed")); }
};

struct RecorderOptions {
  std::size_t max_batch = 1024;
  std::chrono::milliseconds flush_interval{50};  // the writer commits at least this often
  // How old the oldest record not yet committed may get before lagging()
  // says so (sessions then hold completions until their records are in).
  std::chrono::milliseconds max_lag{100};
  std::size_t max_queue = 200'000;  // past this, record() refuses
  // A failed batch is retried after retry_initial, doubling up to retry_max.
  std::chrono::milliseconds retry_initial{100};
  std::chrono::milliseconds retry_max{2'000};
  // How long stop() keeps retrying a failing store before it gives up and logs
  // how many events it could not write (a dead store must not hang shutdown).
  std::chrono::milliseconds stop_timeout{10'000};
  // How often the writer runs Store::maintain().
  std::chrono::milliseconds maintenance_interval{1'000};
  // With a spool: sync it at every append (audit_durability: sync).
  bool spool_sync = false;
  // Where a record the store rejects on its own is set aside (JSON lines:
  // when, why, the record). Empty: such records are never set aside, and the
  // batch holding one is retried as a whole until the store takes it.
  std::string poison_path;
  // How many attempts in a row a batch that keeps failing (while the store
  // answers its probe) may fail while it is split, before the split stops.
  int split_budget = 24;
};

class Recorder {
 public:
  // With a spool, a batch the store refuses goes there instead (and so does
  // everything after it, to keep the order) until the store takes the
  // spool's contents back; the recorder refuses events only when neither
  // can take them. A spool that holds events at start is moved on first.
  Recorder(std::unique_ptr<Store> store, RecorderOptions options = {},
           std::optional<Spool> spool = std::nullopt);
  ~Recorder();  // flushes and joins
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Enqueues without blocking on the store. False when the queue is full: the
  // caller fails closed (refuses new sessions) rather than losing records.
  [[nodiscard]] bool record(model::AuditEvent event);
  // Called once the event is written (true) or when it never will be (false:
  // refused at once, or given up on at a failed stop). On the writer thread,
  // or on the caller's when refused; it must not block.
  using Durable = std::function<void(bool written)>;
  // Enqueues like record() and asks the writer to commit at once rather than
  // within flush_interval (audit_durability: sync); events that arrive while
  // a commit runs share the next one.
  void record_durable(model::AuditEvent event, Durable done);
  // True while the oldest record not yet committed is older than max_lag:
  // the store is not keeping up, and an acknowledgement given now could be
  // lost past the async window. Lock-free.
  bool lagging() const;
  // True while the recorder can take events (queue below its limit, store healthy).
  bool accepting() const;
  // Blocks until everything recorded so far is written and its
  // record_durable() callbacks have run (tests, graceful stop).
  void flush();
  void stop();

  std::uint64_t written() const;
  std::uint64_t failed_batches() const;
  std::size_t queue_depth() const;
  // Events given up on because the store still failed when stop() timed out.
  std::uint64_t dropped() const;
  // Bytes waiting in the spool (0 without one).
  std::uint64_t spool_bytes() const { return spool_bytes_.load(std::memory_order_relaxed); }
  // Records set aside in the poison file because the store rejected them alone.
  std::uint64_t poisoned() const { return poisoned_.load(std::memory_order_relaxed); }

 private:
  void run();
  void enqueue(model::AuditEvent event);  // with mu_ held
  bool can_take() const;                  // with mu_ held
  // Writer thread, without mu_: the batch into the store, or into the spool
  // while the spool holds events or when the store fails. Sets `spooled`.
  Status<> put(const std::vector<model::AuditEvent>& batch, bool& spooled);
  // Writer thread, without mu_: the spool's events into the store, then empties it.
  Status<> unspool();
  void settle_durable(std::unique_lock<std::mutex>& lk);
  // Writer thread, without mu_: `events` (which the store refused as a
  // whole, again) into the store half by half, setting aside the records
  // it rejects on their own. What it did is in the result.
  struct Split {
    std::size_t handled = 0;        // events from the front written or set aside
    std::vector<std::size_t> kept;  // of those, set aside but the poison file failed: keep them
    std::string error;              // why the rest was not written
  };
  Split split_write(const std::vector<model::AuditEvent>& events, bool lone_records);
  // Appends a rejected record to the poison file (synced); false when it cannot.
  bool set_aside(const model::AuditEvent& event, const std::string& reason);

  std::unique_ptr<Store> store_;
  RecorderOptions options_;
  std::optional<Spool> spool_;  // the writer thread's only
  std::atomic<std::uint64_t> spool_bytes_{0};
  std::atomic<bool> spool_full_{false};
  std::atomic<std::uint64_t> poisoned_{0};
  int head_failures_ = 0;     // writer: failed writes in a row of the queue's head batch
  int unspool_failures_ = 0;  // writer: failed moves in a row of the spool
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable drained_;
  std::deque<model::AuditEvent> queue_;
  std::deque<std::chrono::steady_clock::time_point> queued_at_;  // parallel to queue_
  // When the oldest record not yet committed was made (steady ns; 0: none).
  std::atomic<std::int64_t> oldest_pending_ns_{0};
  std::uint64_t enqueued_ = 0;
  std::uint64_t written_ = 0;
  std::uint64_t failed_batches_ = 0;
  std::uint64_t dropped_ = 0;
  std::uint64_t flush_upto_ = 0;  // flush() asked for everything up to this count
  // Events written or dropped whose record_durable() callbacks have run.
  std::uint64_t settled_ = 0;
  // record_durable() callers, by the count their event brought enqueued_ to.
  std::deque<std::pair<std::uint64_t, Durable>> durable_;
  std::size_t in_flight_ = 0;  // taken off queue_ by the writer, not yet written
  bool stopping_ = false;
  bool store_healthy_ = true;
  bool writer_done_ = false;
  std::thread writer_;
};

}  // namespace gh::audit
