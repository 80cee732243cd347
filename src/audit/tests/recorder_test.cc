#include "audit/recorder.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace gh::audit {
namespace {

using namespace std::chrono_literals;

// What the fake store saw, shared with the test because the Recorder owns the store.
struct StoreLog {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::vector<std::int64_t>> batches;  // statement seqs, per successful batch
  int calls = 0;
  int failures = 0;
  bool fail = false;                // every write_batch fails while set (and the probe too)
  std::set<std::int64_t> rejected;  // a batch holding one of these statement seqs fails
  bool reject_all = false;          // every write_batch fails, yet the probe answers
  int probes = 0;
  bool gate_closed = false;   // write_batch blocks while set
  std::string writer_thread;  // the name of the thread that called write_batch

  std::vector<std::int64_t> all_written() {
    std::lock_guard lk(mu);
    std::vector<std::int64_t> out;
    for (const auto& b : batches) out.insert(out.end(), b.begin(), b.end());
    return out;
  }
  std::size_t batch_count() {
    std::lock_guard lk(mu);
    return batches.size();
  }
  void set_fail(bool f) {
    std::lock_guard lk(mu);
    fail = f;
  }
  void open_gate() {
    {
      std::lock_guard lk(mu);
      gate_closed = false;
    }
    cv.notify_all();
  }
};

class FakeStore final : public Store {
 public:
  explicit FakeStore(std::shared_ptr<StoreLog> log) : log_(std::move(log)) {}
  Status<> write_batch(std::span<const model::AuditEvent> events) override {
    std::unique_lock lk(log_->mu);
    log_->cv.wait(lk, [&] { return !log_->gate_closed; });
    ++log_->calls;
    char name[16] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    log_->writer_thread = name;
    if (log_->fail) {
      ++log_->failures;
      return unexpected(std::string("disk on fire"));
    }
    std::vector<std::int64_t> seqs;
    for (const auto& e : events) seqs.push_back(std::get<model::StatementEvent>(e).seq);
    for (auto seq : seqs) {
      if (log_->reject_all || log_->rejected.count(seq) != 0) {
        ++log_->failures;
        return unexpected("value rejected: seq " + std::to_string(seq));
      }
    }
    log_->batches.push_back(std::move(seqs));
    return Ok{};
  }
  Status<> probe() override {
    std::lock_guard lk(log_->mu);
    ++log_->probes;
    if (log_->fail) return unexpected(std::string("connection refused"));
    return Ok{};
  }

 private:
  std::shared_ptr<StoreLog> log_;
};

model::AuditEvent statement(std::int64_t seq) {
  model::StatementEvent e;
  e.session_id = "s1";
  e.seq = seq;
  e.text = "select 1";
  return e;
}

std::vector<std::int64_t> iota(std::int64_t n) {
  std::vector<std::int64_t> v;
  for (std::int64_t i = 0; i < n; ++i) v.push_back(i);
  return v;
}

// Threads are real here, so waiting for the writer is a bounded poll.
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds limit = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return cond();
}

TEST(Recorder, ManyEventsAreGroupCommittedInFewBatches) {
  auto log = std::make_shared<StoreLog>();
  Recorder rec(std::make_unique<FakeStore>(log), {.max_batch = 100, .flush_interval = 20ms});
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(rec.record(statement(i)));
  rec.flush();
  EXPECT_EQ(rec.written(), 1000u);
  EXPECT_LE(log->batch_count(), 20u);  // one write per event would be 1000
  std::lock_guard lk(log->mu);
  for (const auto& b : log->batches) EXPECT_LE(b.size(), 100u);
}

// Operators (top -H) and bench/pg-compare tell the writer's CPU by this name.
TEST(Recorder, TheStoreIsWrittenFromAThreadNamedGhAudit) {
  auto log = std::make_shared<StoreLog>();
  Recorder rec(std::make_unique<FakeStore>(log), {.max_batch = 10, .flush_interval = 20ms});
  ASSERT_TRUE(rec.record(statement(1)));
  rec.flush();
  std::lock_guard lk(log->mu);
  EXPECT_EQ(log->writer_thread, "gh-audit");
}

TEST(Recorder, EventsReachTheStoreInRecordOrder) {
  auto log = std::make_shared<StoreLog>();
  Recorder rec(std::make_unique<FakeStore>(log), {.max_batch = 7, .flush_interval = 1ms});
  // Several producers would interleave; one producer must see its own order kept.
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(rec.record(statement(i)));
    if (i % 50 == 0) std::this_thread::sleep_for(1ms);
  }
  rec.flush();
  EXPECT_EQ(log->all_written(), iota(500));
}

TEST(Recorder, FlushReturnsOnlyOnceEverythingBeforeItIsWritten) {
  auto log = std::make_shared<StoreLog>();
  // A flush interval far longer than the test: flush() must not wait for the timer.
  Recorder rec(std::make_unique<FakeStore>(log), {.max_batch = 1000, .flush_interval = 60s});
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(rec.record(statement(i)));
  const auto start = std::chrono::steady_clock::now();
  rec.flush();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_EQ(log->all_written(), iota(10));
  EXPECT_EQ(rec.queue_depth(), 0u);
}

TEST(Recorder, FlushWithNothingRecordedDoesNotHang) {
  auto log = std::make_shared<StoreLog>();
  Recorder rec(std::make_unique<FakeStore>(log), {.flush_interval = 60s});
  rec.flush();
  EXPECT_EQ(log->batch_count(), 0u);
}

TEST(Recorder, RefusesPastMaxQueueInsteadOfBlockingOnASlowStore) {
  auto log = std::make_shared<StoreLog>();
  log->gate_closed = true;  // the store hangs (a stuck fsync)
  Recorder rec(std::make_unique<FakeStore>(log),
               {.max_batch = 4, .flush_interval = 1ms, .max_queue = 10});
  int accepted = 0;
  for (int i = 0; i < 50; ++i) accepted += rec.record(statement(i)) ? 1 : 0;
  // Events in the writer's hands count against the limit too: memory stays bounded.
  EXPECT_EQ(accepted, 10);
  EXPECT_FALSE(rec.accepting());
  log->open_gate();
  rec.flush();
  EXPECT_EQ(log->all_written(), iota(10));
  EXPECT_TRUE(rec.accepting());
  EXPECT_TRUE(rec.record(statement(10)));
}

TEST(Recorder, FailingStoreIsRetriedAndNothingAcceptedIsLost) {
  auto log = std::make_shared<StoreLog>();
  // Hold the writer until all ten are accepted, then let the store fail.
  log->gate_closed = true;
  log->fail = true;
  Recorder rec(std::make_unique<FakeStore>(log),
               {.max_batch = 3, .flush_interval = 1ms, .retry_initial = 5ms, .retry_max = 20ms});
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(rec.record(statement(i)));
  log->open_gate();
  ASSERT_TRUE(eventually([&] { return rec.failed_batches() >= 3; }));
  // While the store is down new events are refused (fail closed), not queued forever.
  EXPECT_FALSE(rec.accepting());
  EXPECT_FALSE(rec.record(statement(99)));
  log->set_fail(false);
  rec.flush();
  EXPECT_EQ(log->all_written(), iota(10));  // once each, in order
  EXPECT_TRUE(rec.accepting());
  EXPECT_EQ(rec.dropped(), 0u);
}

TEST(Recorder, StopWritesEverythingStillQueued) {
  auto log = std::make_shared<StoreLog>();
  Recorder rec(std::make_unique<FakeStore>(log), {.max_batch = 64, .flush_interval = 60s});
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(rec.record(statement(i)));
  rec.stop();
  EXPECT_EQ(log->all_written(), iota(500));
  EXPECT_FALSE(rec.record(statement(500)));  // a stopped recorder takes nothing it cannot write
  EXPECT_FALSE(rec.accepting());
}

TEST(Recorder, DestructorDrainsTheQueue) {
  auto log = std::make_shared<StoreLog>();
  {
    Recorder rec(std::make_unique<FakeStore>(log), {.flush_interval = 60s});
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(rec.record(statement(i)));
  }
  EXPECT_EQ(log->all_written(), iota(100));
}

TEST(Recorder, StopRetriesAFailingStoreBeforeGivingUp) {
  auto log = std::make_shared<StoreLog>();
  log->fail = true;
  Recorder rec(
      std::make_unique<FakeStore>(log),
      {.flush_interval = 60s, .retry_initial = 5ms, .retry_max = 10ms, .stop_timeout = 5s});
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(rec.record(statement(i)));
  // The store comes back while stop() is retrying: shutdown still writes it all.
  std::thread heal([&] {
    eventually([&] { return rec.failed_batches() >= 2; });
    log->set_fail(false);
  });
  rec.stop();
  heal.join();
  EXPECT_EQ(log->all_written(), iota(5));
  EXPECT_EQ(rec.dropped(), 0u);
}

TEST(Recorder, ADeadStoreDoesNotHangShutdownForever) {
  auto log = std::make_shared<StoreLog>();
  log->fail = true;
  Recorder rec(
      std::make_unique<FakeStore>(log),
      {.flush_interval = 60s, .retry_initial = 5ms, .retry_max = 10ms, .stop_timeout = 50ms});
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(rec.record(statement(i)));
  rec.stop();
  EXPECT_EQ(rec.dropped(), 5u);  // counted and logged, not silently gone
  EXPECT_EQ(rec.written(), 0u);
  rec.flush();  // returns: the recorder has stopped
}

// What a record_durable() callback was told, from the writer thread.
struct Outcome {
  std::mutex mu;
  std::vector<bool> calls;
  Recorder::Durable callback() {
    return [this](bool written) {
      std::lock_guard lk(mu);
      calls.push_back(written);
    };
  }
  std::vector<bool> seen() {
    std::lock_guard lk(mu);
    return calls;
  }
};

TEST(Recorder, ADurableRecordIsCommittedAtOnceNotAfterTheFlushInterval) {
  auto log = std::make_shared<StoreLog>();
  // A flush interval far longer than the test: sync audit must not wait for it.
  Recorder rec(std::make_unique<FakeStore>(log), {.max_batch = 1000, .flush_interval = 60s});
  Outcome out;
  rec.record_durable(statement(1), out.callback());
  ASSERT_TRUE(eventually([&] { return out.seen().size() == 1; }));
  EXPECT_EQ(out.seen(), std::vector<bool>{true});
  EXPECT_EQ(log->all_written(), std::vector<std::int64_t>{1});
}

TEST(Recorder, ADurableRecordIsAcknowledgedOnlyAfterTheStoreTookIt) {
  auto log = std::make_shared<StoreLog>();
  log->gate_closed = true;  // the store is slow: the commit has not returned
  Recorder rec(std::make_unique<FakeStore>(log), {.flush_interval = 60s});
  Outcome out;
  ASSERT_TRUE(rec.record(statement(1)));
  rec.record_durable(statement(2), out.callback());
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(out.seen().empty());
  log->open_gate();
  ASSERT_TRUE(eventually([&] { return out.seen().size() == 1; }));
  EXPECT_EQ(out.seen(), std::vector<bool>{true});
  // Everything recorded before it went in the same commit or an earlier one.
  EXPECT_EQ(log->all_written(), (std::vector<std::int64_t>{1, 2}));
}

TEST(Recorder, DurableRecordsArrivingDuringACommitShareTheNextOne) {
  auto log = std::make_shared<StoreLog>();
  log->gate_closed = true;
  Recorder rec(std::make_unique<FakeStore>(log), {.flush_interval = 60s});
  Outcome out;
  rec.record_durable(statement(0), out.callback());
  ASSERT_TRUE(eventually([&] { return rec.queue_depth() == 1; }));  // taken, commit blocked
  for (int i = 1; i < 50; ++i) rec.record_durable(statement(i), out.callback());
  log->open_gate();
  ASSERT_TRUE(eventually([&] { return out.seen().size() == 50; }));
  EXPECT_EQ(log->all_written(), iota(50));
  EXPECT_LE(log->batch_count(), 3u);  // group commit: not one commit per statement
}

TEST(Recorder, ADurableRecordTheStoreCannotTakeIsReportedNotLostSilently) {
  auto log = std::make_shared<StoreLog>();
  log->fail = true;
  Recorder rec(
      std::make_unique<FakeStore>(log),
      {.flush_interval = 60s, .retry_initial = 5ms, .retry_max = 10ms, .stop_timeout = 50ms});
  Outcome out;
  rec.record_durable(statement(1), out.callback());
  ASSERT_TRUE(eventually([&] { return rec.failed_batches() >= 1; }));
  EXPECT_TRUE(out.seen().empty());  // still retried: no answer yet
  // While the store fails, a new one is refused at once (the caller fails closed).
  rec.record_durable(statement(2), out.callback());
  EXPECT_EQ(out.seen(), std::vector<bool>{false});
  rec.stop();  // gives up on the first
  EXPECT_EQ(out.seen(), (std::vector<bool>{false, false}));
  EXPECT_EQ(rec.dropped(), 1u);
}

TEST(Recorder, LagsOnlyWhileARecordWaitsLongerThanMaxLag) {
  auto log = std::make_shared<StoreLog>();
  log->gate_closed = true;  // a commit that takes its time
  Recorder rec(std::make_unique<FakeStore>(log), {.flush_interval = 5ms, .max_lag = 30ms});
  EXPECT_FALSE(rec.lagging());  // nothing pending
  ASSERT_TRUE(rec.record(statement(1)));
  EXPECT_FALSE(rec.lagging());
  ASSERT_TRUE(eventually([&] { return rec.lagging(); }, 2s));
  log->open_gate();
  ASSERT_TRUE(eventually([&] { return !rec.lagging(); }, 2s));
  EXPECT_EQ(log->all_written(), std::vector<std::int64_t>{1});
}

struct SpoolDir {
  std::string path;
  SpoolDir() {
    path = (std::filesystem::temp_directory_path() /
            ("gh-recorder-spool-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    std::filesystem::remove(path);
    std::filesystem::remove(path + ".poison");
  }
  ~SpoolDir() {
    std::filesystem::remove(path);
    std::filesystem::remove(path + ".poison");
  }
  Spool open(std::uint64_t max = 1 << 20) const {
    auto s = Spool::open(path, max);
    EXPECT_TRUE(s) << s.error();
    return std::move(s).value();
  }
};

TEST(Recorder, WhileTheStoreFailsEventsGoToTheSpoolAndReachTheStoreInOrderLater) {
  auto log = std::make_shared<StoreLog>();
  log->fail = true;
  SpoolDir dir;
  Recorder rec(std::make_unique<FakeStore>(log),
               {.max_batch = 3, .flush_interval = 1ms, .retry_initial = 5ms, .retry_max = 20ms},
               dir.open());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(rec.record(statement(i)));
  ASSERT_TRUE(eventually([&] { return rec.written() == 5; }));  // taken: into the spool
  EXPECT_GT(rec.spool_bytes(), 0u);
  // Sessions go on: the spool has room.
  EXPECT_TRUE(rec.accepting());
  Outcome out;
  rec.record_durable(statement(5), out.callback());
  ASSERT_TRUE(eventually([&] { return out.seen().size() == 1; }));
  EXPECT_EQ(out.seen(), std::vector<bool>{true});
  EXPECT_TRUE(log->all_written().empty());
  log->set_fail(false);
  // The spool goes first, then what came after it, in order.
  ASSERT_TRUE(rec.record(statement(6)));
  ASSERT_TRUE(eventually([&] { return log->all_written().size() == 7; }));
  EXPECT_EQ(log->all_written(), iota(7));
  EXPECT_TRUE(eventually([&] { return rec.spool_bytes() == 0; }));
}

TEST(Recorder, WhenNeitherStoreNorSpoolTakesEventsTheRecorderRefuses) {
  auto log = std::make_shared<StoreLog>();
  log->fail = true;
  SpoolDir dir;
  Recorder rec(std::make_unique<FakeStore>(log),
               {.max_batch = 100,
                .flush_interval = 1ms,
                .retry_initial = 5ms,
                .retry_max = 10ms,
                .stop_timeout = 50ms},
               dir.open(200));  // room for about one event
  for (int i = 0; i < 5; ++i) (void)rec.record(statement(i));
  ASSERT_TRUE(eventually([&] { return !rec.accepting(); }));
  EXPECT_FALSE(rec.record(statement(99)));
}

TEST(Recorder, ASpoolLeftByAnEarlierRunIsMovedToTheStoreAtStart) {
  SpoolDir dir;
  {
    auto spool = dir.open();
    std::vector<model::AuditEvent> left{statement(0), statement(1)};
    ASSERT_TRUE(spool.append(left, true));
  }
  auto log = std::make_shared<StoreLog>();
  Recorder rec(std::make_unique<FakeStore>(log), {.flush_interval = 1ms}, dir.open());
  ASSERT_TRUE(rec.record(statement(2)));
  ASSERT_TRUE(eventually([&] { return log->all_written().size() == 3; }));
  EXPECT_EQ(log->all_written(), iota(3));
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::vector<std::int64_t> without(std::vector<std::int64_t> v, std::set<std::int64_t> drop) {
  std::erase_if(v, [&](std::int64_t x) { return drop.count(x) != 0; });
  return v;
}

RecorderOptions splitting(const std::string& poison) {
  return {.max_batch = 64,
          .flush_interval = 1ms,
          .retry_initial = 1ms,
          .retry_max = 2ms,
          .stop_timeout = 200ms,
          .poison_path = poison};
}

TEST(Recorder, ARecordTheStoreRejectsAloneIsSetAsideAndDoesNotStopTheOthers) {
  auto log = std::make_shared<StoreLog>();
  log->rejected = {5, 17};
  SpoolDir dir;
  const std::string poison = dir.path + ".poison";
  Recorder rec(std::make_unique<FakeStore>(log), splitting(poison));
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(rec.record(statement(i)));
  rec.flush();
  // Everything else is in, in order; the two rejected ones are set aside.
  EXPECT_EQ(log->all_written(), without(iota(40), {5, 17}));
  EXPECT_EQ(rec.poisoned(), 2u);
  EXPECT_TRUE(rec.accepting());
  auto lines = lines_of(poison);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("\"reason\":\"value rejected: seq 5\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"seq\":5"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("\"seq\":17"), std::string::npos) << lines[1];
  // Sessions go on being recorded.
  ASSERT_TRUE(rec.record(statement(40)));
  rec.flush();
  EXPECT_EQ(log->all_written().back(), 40);
}

TEST(Recorder, AStoreThatIsDownHasNothingSetAsideAndGetsEverythingLater) {
  auto log = std::make_shared<StoreLog>();
  log->fail = true;  // unreachable: every write fails, and so does the probe
  SpoolDir dir;
  const std::string poison = dir.path + ".poison";
  Recorder rec(std::make_unique<FakeStore>(log), splitting(poison));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(rec.record(statement(i)));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lk(log->mu);
    return log->failures >= 6 && log->probes >= 3;
  }));
  EXPECT_EQ(rec.poisoned(), 0u);
  EXPECT_FALSE(std::filesystem::exists(poison));
  EXPECT_FALSE(rec.accepting());  // fails closed as before
  log->set_fail(false);
  rec.flush();
  EXPECT_EQ(log->all_written(), iota(10));
  EXPECT_EQ(rec.poisoned(), 0u);
}

TEST(Recorder, AStoreThatRejectsEveryRecordWhileItAnswersSetsABatchNotAside) {
  // A full disk behind a server that still answers: no record is to blame.
  auto log = std::make_shared<StoreLog>();
  log->reject_all = true;
  SpoolDir dir;
  const std::string poison = dir.path + ".poison";
  Recorder rec(std::make_unique<FakeStore>(log), splitting(poison));
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(rec.record(statement(i)));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lk(log->mu);
    return log->probes >= 4;
  }));
  EXPECT_EQ(rec.poisoned(), 0u);
  {
    std::lock_guard lk(log->mu);
    log->reject_all = false;
  }
  rec.flush();
  EXPECT_EQ(log->all_written(), iota(50));
}

TEST(Recorder, ALoneRecordTheStoreRejectsIsSetAsideWhileTheStoreAnswers) {
  auto log = std::make_shared<StoreLog>();
  log->rejected = {0};
  SpoolDir dir;
  const std::string poison = dir.path + ".poison";
  Recorder rec(std::make_unique<FakeStore>(log), splitting(poison));
  ASSERT_TRUE(rec.record(statement(0)));
  rec.flush();  // returns: nothing else comes to show the store is up, its probe does
  EXPECT_EQ(rec.poisoned(), 1u);
  EXPECT_EQ(lines_of(poison).size(), 1u);
  ASSERT_TRUE(rec.record(statement(1)));
  rec.flush();
  EXPECT_EQ(log->all_written(), std::vector<std::int64_t>{1});
}

TEST(Recorder, TheSpoolDoesNotHoldOnToARecordTheStoreRejects) {
  SpoolDir dir;
  {
    auto spool = dir.open();
    std::vector<model::AuditEvent> left{statement(0), statement(1), statement(2), statement(3)};
    ASSERT_TRUE(spool.append(left, true));
  }
  auto log = std::make_shared<StoreLog>();
  log->rejected = {1};
  const std::string poison = dir.path + ".poison";
  Recorder rec(std::make_unique<FakeStore>(log), splitting(poison), dir.open());
  ASSERT_TRUE(rec.record(statement(4)));
  ASSERT_TRUE(eventually([&] { return log->all_written().size() == 4; }));
  EXPECT_EQ(log->all_written(), (std::vector<std::int64_t>{0, 2, 3, 4}));
  // Set aside once the write after it succeeded (just after the store took it).
  EXPECT_TRUE(eventually([&] { return rec.poisoned() == 1u; }));
  EXPECT_TRUE(eventually([&] { return rec.spool_bytes() == 0; }));
}

}  // namespace
}  // namespace gh::audit
