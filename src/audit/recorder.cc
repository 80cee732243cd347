#include "audit/recorder.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "audit/chain.h"
#include "base/thread_name.h"

namespace gh::audit {

Recorder::Recorder(std::unique_ptr<Store> store, RecorderOptions options,
                   std::optional<Spool> spool)
    : store_(std::move(store)), options_(options), spool_(std::move(spool)) {
  if (spool_) spool_bytes_.store(spool_->bytes());
  // A zero batch would make the writer spin without ever taking an event.
  if (options_.max_batch == 0) options_.max_batch = 1;
  writer_ = std::thread([this] {
    set_thread_name("gh-audit");
    run();
  });
}

Recorder::~Recorder() {
  stop();
}

bool Recorder::record(model::AuditEvent event) {
  std::lock_guard lk(mu_);
  // Refusing is the caller's cue to fail closed; silently dropping would leave
  // sessions without a record.
  if (!can_take()) return false;
  enqueue(std::move(event));
  // Wake the writer only when a full batch is waiting; otherwise it comes by
  // itself within flush_interval, which keeps record() free of a syscall per event.
  if (queue_.size() == options_.max_batch) wake_.notify_one();
  return true;
}

namespace {
std::int64_t steady_ns(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
}  // namespace

void Recorder::enqueue(model::AuditEvent event) {
  const auto now = std::chrono::steady_clock::now();
  if (queue_.empty() && in_flight_ == 0) oldest_pending_ns_.store(steady_ns(now));
  queue_.push_back(std::move(event));
  queued_at_.push_back(now);
  ++enqueued_;
}

bool Recorder::lagging() const {
  const std::int64_t oldest = oldest_pending_ns_.load(std::memory_order_relaxed);
  return oldest != 0 &&
         steady_ns(std::chrono::steady_clock::now()) - oldest >
             std::chrono::duration_cast<std::chrono::nanoseconds>(options_.max_lag).count();
}

void Recorder::record_durable(model::AuditEvent event, Durable done) {
  {
    std::lock_guard lk(mu_);
    if (can_take()) {
      enqueue(std::move(event));
      durable_.emplace_back(enqueued_, std::move(done));
      flush_upto_ = std::max(flush_upto_, enqueued_);
      wake_.notify_one();
      return;
    }
  }
  done(false);
}

// Calls back, outside the lock, every record_durable() caller whose event the
// writer got past: written, or dropped at a failed stop. Called with `lk` held.
void Recorder::settle_durable(std::unique_lock<std::mutex>& lk) {
  const std::uint64_t upto = written_ + dropped_;
  std::vector<std::pair<bool, Durable>> ready;
  while (!durable_.empty() && durable_.front().first <= upto) {
    ready.emplace_back(durable_.front().first <= written_, std::move(durable_.front().second));
    durable_.pop_front();
  }
  if (!ready.empty()) {
    lk.unlock();
    for (auto& [ok, done] : ready) done(ok);
    lk.lock();
  }
  settled_ = std::max(settled_, upto);
}

// Refusing is the caller's cue to fail closed; silently dropping would leave
// sessions without a record. A failing store is no reason to refuse while the
// spool has room.
bool Recorder::can_take() const {
  if (stopping_ || queue_.size() + in_flight_ >= options_.max_queue) return false;
  return store_healthy_ || (spool_ && !spool_full_.load(std::memory_order_relaxed));
}

bool Recorder::accepting() const {
  std::lock_guard lk(mu_);
  return can_take();
}

Status<> Recorder::put(const std::vector<model::AuditEvent>& batch, bool& spooled) {
  spooled = false;
  if (!spool_ || spool_->empty()) {
    Status<> st = store_->write_batch(batch);
    if (st || !spool_) return st;
    spdlog::error("audit store write failed; {} events go to the spool {}: {}", batch.size(),
                  spool_->path(), st.error());
  }
  Status<> st = spool_->append(batch, options_.spool_sync);
  spool_bytes_.store(spool_->bytes());
  spool_full_.store(!st);
  if (st) spooled = true;
  return st;
}

namespace {

// What names a record in the log: its type, and for a statement its session and seq.
std::string describe(const model::AuditEvent& event) {
  std::string out(to_record(event).spec().name);
  if (const auto* st = std::get_if<model::StatementEvent>(&event))
    out += " (session " + st->session_id + ", seq " + std::to_string(st->seq) + ")";
  return out;
}

std::int64_t unix_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

bool Recorder::set_aside(const model::AuditEvent& event, const std::string& reason) {
  // One JSON line: when, why, and the record as it would have been chained.
  nlohmann::json j;
  j["at_us"] = unix_us();
  j["reason"] = reason;
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.pop_back();  // the closing brace: the record goes in as it is
  line += ",\"record\":" + to_record(event).canonical() + "}\n";
  const int fd =
      ::open(options_.poison_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  bool ok = fd >= 0;
  for (std::size_t done = 0; ok && done < line.size();) {
    const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<std::size_t>(n);
  }
  ok = ok && ::fdatasync(fd) == 0;
  const int err = errno;
  if (fd >= 0) ::close(fd);
  // The store's message is cut short: it may quote part of the record.
  const std::string why = reason.size() > 200 ? reason.substr(0, 200) + "…" : reason;
  if (!ok) {
    spdlog::critical(
        "audit: the store rejects the {} record alone, and it cannot be set aside in "
        "{}: {}; it stays queued",
        describe(event), options_.poison_path, std::strerror(err));
    return false;
  }
  poisoned_.fetch_add(1, std::memory_order_relaxed);
  spdlog::error(
      "audit: the store rejects the {} record alone while it takes the others; set "
      "aside in {}: {}",
      describe(event), options_.poison_path, why);
  return true;
}

Recorder::Split Recorder::split_write(const std::vector<model::AuditEvent>& events,
                                      bool lone_records) {
  // Halves, recursively, in order. A record that fails on its own twice is a
  // suspect; it is set aside once the store takes another write in this
  // split (so the store is up and rejects that record), or — with
  // `lone_records`, after repeated attempts at this head — when every record
  // here failed alone and the store still answers its probe. Too many
  // failures in a row stop the split: the store is failing, not a record.
  Split out;
  std::vector<std::pair<std::size_t, std::string>> suspects;
  bool any_written = false;
  bool stopped = false;
  int failing = 0;
  const std::span<const model::AuditEvent> all(events);
  auto accept = [&](std::size_t end) {
    any_written = true;
    failing = 0;
    for (auto& [i, why] : suspects)
      if (!set_aside(events[i], why)) out.kept.push_back(i);
    suspects.clear();
    out.handled = end;
  };
  auto write = [&](std::size_t b, std::size_t e) -> bool {
    auto st = store_->write_batch(all.subspan(b, e - b));
    if (st) return true;
    out.error = st.error();
    if (++failing >= options_.split_budget) stopped = true;
    return false;
  };
  std::function<void(std::size_t, std::size_t)> run = [&](std::size_t b, std::size_t e) {
    if (stopped) return;
    if (write(b, e)) return accept(e);
    if (stopped) return;
    if (e - b == 1) {
      if (write(b, e)) return accept(e);  // once more, alone
      if (!stopped) suspects.emplace_back(b, out.error);
      return;
    }
    const std::size_t mid = b + (e - b) / 2;
    run(b, mid);
    run(mid, e);
  };
  run(0, events.size());
  if (!stopped && !suspects.empty() &&
      (any_written || (lone_records && suspects.size() == events.size() && store_->probe()))) {
    for (auto& [i, why] : suspects)
      if (!set_aside(events[i], why)) out.kept.push_back(i);
    out.handled = events.size();
  }
  return out;
}

Status<> Recorder::unspool() {
  auto events = spool_->read_all();
  if (!events) return unexpected(events.error());
  if (!events->empty()) {
    if (auto st = store_->write_batch(*events); !st) {
      // Again and again while the store answers: a record in it may be what it rejects.
      if (options_.poison_path.empty() || ++unspool_failures_ < 2 || !store_->probe()) return st;
      Split split = split_write(*events, unspool_failures_ >= 3);
      if (split.handled == 0) return unexpected(split.error);
      std::vector<model::AuditEvent> rest;
      for (std::size_t i : split.kept) rest.push_back((*events)[i]);
      rest.insert(rest.end(), events->begin() + static_cast<std::ptrdiff_t>(split.handled),
                  events->end());
      // What the store took must leave the spool, or it would be moved twice.
      if (auto r = spool_->replace(rest); !r) {
        spdlog::critical(
            "audit spool: part of it moved to the store but it could not be rewritten ({}): "
            "remove {} before the next start",
            r.error(), spool_->path());
        return r;
      }
      unspool_failures_ = 0;
      spool_bytes_.store(spool_->bytes());
      spool_full_.store(false);
      spdlog::info("audit spool: {} events moved to the store, {} wait", split.handled,
                   rest.size());
      if (!rest.empty()) return unexpected(split.error);
      return Ok{};
    }
  }
  unspool_failures_ = 0;
  if (auto st = spool_->clear(); !st) {
    // The store has them now: moving them again would duplicate them.
    spdlog::critical(
        "audit spool moved to the store but could not be emptied ({}): remove {} "
        "before the next start",
        st.error(), spool_->path());
    return st;
  }
  spool_bytes_.store(0);
  spool_full_.store(false);
  spdlog::info("audit spool: {} events moved to the store", events->size());
  return Ok{};
}

void Recorder::flush() {
  std::unique_lock lk(mu_);
  const std::uint64_t target = enqueued_;
  flush_upto_ = std::max(flush_upto_, target);
  wake_.notify_one();
  // Events are written in the order they were enqueued, so the count of
  // written (or, at a failed stop, dropped) events tells how far we are.
  drained_.wait(lk, [&] { return writer_done_ || settled_ >= target; });
}

void Recorder::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (writer_.joinable()) writer_.join();
}

std::uint64_t Recorder::written() const {
  std::lock_guard lk(mu_);
  return written_;
}

std::uint64_t Recorder::failed_batches() const {
  std::lock_guard lk(mu_);
  return failed_batches_;
}

std::size_t Recorder::queue_depth() const {
  std::lock_guard lk(mu_);
  return queue_.size() + in_flight_;
}

std::uint64_t Recorder::dropped() const {
  std::lock_guard lk(mu_);
  return dropped_;
}

void Recorder::run() {
  using Clock = std::chrono::steady_clock;
  std::unique_lock lk(mu_);
  auto backoff = options_.retry_initial;
  // Set once stopping with a failing store (a plain pair: GCC's -O2 flow
  // analysis misreads an optional<time_point> here as maybe-uninitialized).
  bool giving_up = false;
  Clock::time_point give_up_at{};
  bool gave_up = false;
  Clock::time_point next_maintenance = Clock::now() + options_.maintenance_interval;
  Clock::time_point next_unspool = Clock::now();  // a spool left from before: at once
  auto unspool_backoff = options_.retry_initial;

  const auto batch_ready = [&] {
    return stopping_ || queue_.size() >= options_.max_batch ||
           (!queue_.empty() && flush_upto_ > written_ + dropped_);
  };

  for (;;) {
    // Group commit: let events accumulate for up to flush_interval unless a
    // full batch, a flush() or stop() asks for them sooner.
    wake_.wait_for(lk, options_.flush_interval, batch_ready);
    // What waits in the spool goes to the store first, as soon as it takes it.
    if (spool_ && !spool_->empty() && Clock::now() >= next_unspool) {
      lk.unlock();
      Status<> st = unspool();
      lk.lock();
      if (st) {
        store_healthy_ = true;
        unspool_backoff = options_.retry_initial;
      } else {
        store_healthy_ = false;
        next_unspool = Clock::now() + unspool_backoff;
        spdlog::warn("audit spool: the store does not take its events yet (retry in {} ms): {}",
                     unspool_backoff.count(), st.error());
        unspool_backoff = std::min(unspool_backoff * 2, options_.retry_max);
      }
    }
    // Checkpoints and retention run here, between batches, never on an I/O thread.
    if (store_healthy_ && !stopping_ && Clock::now() >= next_maintenance) {
      lk.unlock();
      if (auto st = store_->maintain(); !st)
        spdlog::error("audit store maintenance failed: {}", st.error());
      lk.lock();
      next_maintenance = Clock::now() + options_.maintenance_interval;
    }
    if (queue_.empty()) {
      if (stopping_) break;
      continue;
    }

    const std::size_t n = std::min(options_.max_batch, queue_.size());
    std::vector<model::AuditEvent> batch;
    batch.reserve(n);
    std::move(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n),
              std::back_inserter(batch));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    std::deque<std::chrono::steady_clock::time_point> batch_at(
        queued_at_.begin(), queued_at_.begin() + static_cast<std::ptrdiff_t>(n));
    queued_at_.erase(queued_at_.begin(), queued_at_.begin() + static_cast<std::ptrdiff_t>(n));
    in_flight_ = n;
    const auto commit_start = Clock::now();

    // The store may take milliseconds (fsync); record() must not wait for it.
    lk.unlock();
    bool spooled = false;
    Status<> status = put(batch, spooled);
    // The same head refused again while the store answers: split it, to
    // write the good records and set aside the one it rejects. Not while
    // the spool holds older events (they go first).
    std::size_t done_n = status ? n : 0;
    std::vector<std::size_t> keep;
    if (status || spooled) {
      head_failures_ = 0;
    } else if (!options_.poison_path.empty() && ++head_failures_ >= 2 &&
               (!spool_ || spool_->empty()) && store_->probe()) {
      Split split = split_write(batch, head_failures_ >= 3);
      if (!split.error.empty()) status = unexpected(split.error);
      if (split.handled == n && split.kept.empty()) status = Ok{};
      done_n = split.handled;
      keep = std::move(split.kept);
      if (split.handled > 0) head_failures_ = 0;
    }
    lk.lock();
    in_flight_ = 0;

    if (!status && done_n > 0) {
      // Part of the batch is in (or set aside): the rest, and any record that
      // could not be set aside, go back to the head; the store is up.
      written_ += done_n - keep.size();
      std::vector<model::AuditEvent> back;
      std::deque<std::chrono::steady_clock::time_point> back_at;
      for (std::size_t i : keep) {
        back.push_back(std::move(batch[i]));
        back_at.push_back(batch_at[i]);
      }
      for (std::size_t i = done_n; i < n; ++i) {
        back.push_back(std::move(batch[i]));
        back_at.push_back(batch_at[i]);
      }
      queue_.insert(queue_.begin(), std::make_move_iterator(back.begin()),
                    std::make_move_iterator(back.end()));
      queued_at_.insert(queued_at_.begin(), back_at.begin(), back_at.end());
      oldest_pending_ns_.store(queued_at_.empty() ? 0 : steady_ns(queued_at_.front()));
      ++failed_batches_;
      store_healthy_ = true;
      settle_durable(lk);
      drained_.notify_all();
      continue;
    }

    if (status) {
      written_ += n;
      if (spooled) {
        // The store is failing (or still has the spool to take): try it again later.
        if (store_healthy_) next_unspool = Clock::now() + unspool_backoff;
        store_healthy_ = false;
      }
      oldest_pending_ns_.store(queued_at_.empty() ? 0 : steady_ns(queued_at_.front()));
      spdlog::debug(
          "audit commit: {} records in {} ms", n,
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - commit_start)
              .count());
      if (!spooled) store_healthy_ = true;
      backoff = options_.retry_initial;
      giving_up = false;
      // Callbacks first: flush() returning promises they have all run (the
      // caller may then take down what they post to).
      settle_durable(lk);
      drained_.notify_all();
      continue;
    }

    // Keep the events, in order, ahead of anything recorded meanwhile, and
    // refuse new ones until the store takes a batch again.
    ++failed_batches_;
    store_healthy_ = false;
    queue_.insert(queue_.begin(), std::make_move_iterator(batch.begin()),
                  std::make_move_iterator(batch.end()));
    queued_at_.insert(queued_at_.begin(), batch_at.begin(), batch_at.end());
    spdlog::error("audit store write failed ({} events queued, retry in {} ms): {}", queue_.size(),
                  backoff.count(), status.error());

    if (stopping_) {
      const auto now = Clock::now();
      if (!giving_up) {
        giving_up = true;
        give_up_at = now + options_.stop_timeout;
      }
      if (now >= give_up_at) {
        dropped_ += queue_.size();
        spdlog::critical("audit store still failing at shutdown: {} audit events were not written",
                         queue_.size());
        queue_.clear();
        queued_at_.clear();
        oldest_pending_ns_.store(0);
        gave_up = true;
        settle_durable(lk);
        break;
      }
    }

    // Sleep out the back-off whatever notifications arrive: hammering a
    // failing store helps nobody.
    const auto retry_at = Clock::now() + backoff;
    wake_.wait_until(lk, retry_at, [&] { return Clock::now() >= retry_at; });
    backoff = std::min(backoff * 2, options_.retry_max);
  }

  // A graceful stop: everything is written; let the store seal it (a final
  // checkpoint). Not after giving up: the store is failing.
  if (!gave_up) {
    lk.unlock();
    if (auto st = store_->close(); !st) spdlog::error("audit store close failed: {}", st.error());
    lk.lock();
  }
  // Nobody waits forever on a writer that is gone.
  auto left = std::move(durable_);
  durable_.clear();
  lk.unlock();
  for (auto& [ticket, done] : left) done(false);
  lk.lock();
  settled_ = written_ + dropped_;
  writer_done_ = true;
  drained_.notify_all();
}

}  // namespace gh::audit
