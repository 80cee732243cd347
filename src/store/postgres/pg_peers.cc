#include "store/postgres/pg_peers.h"

#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "base/thread_name.h"
#include "cluster/codec.h"
#include "store/postgres/pg_connection.h"
#include "store/postgres/pg_libpq.h"
#include "store/postgres/pg_store.h"

namespace gh::store {
namespace {

using namespace std::chrono_literals;
using approvals::ReviewError;
using approvals::ReviewRefusal;

constexpr const char* kReviews = "gatehouse_reviews";  // payload: owner \t review id
constexpr const char* kAnswers = "gatehouse_answers";  // payload: review id
constexpr const char* kCancels = "gatehouse_cancels";  // payload: owner \t session id
constexpr const char* kGrants = "gatehouse_grants";    // payload: owner \t request id
// How long a review waits for the replica holding the request.
constexpr auto kAnswerTimeout = 5s;
// Settled requests and answered reviews are kept this long in the shared tables.
constexpr std::int64_t kKeepUs = 24LL * 3600 * 1'000'000;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

using Result = PgResult;

// One libpq connection, reconnected when it broke.
class Link {
 public:
  Link(std::string url, std::string name) : url_(std::move(url)), name_(std::move(name)) {}
  ~Link() {
    if (conn_) PQfinish(conn_);
  }

  Status<> ensure() {
    if (conn_ && PQstatus(conn_) == CONNECTION_OK) return Ok{};
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
    auto conn = connect_pg(url_, name_, /*durable_commits=*/true);
    if (!conn) return unexpected(conn.error());
    conn_ = *conn;
    return Ok{};
  }

  // Runs `sql` with text parameters (nullopt: NULL); the result when it succeeded.
  Expected<Result> run(const char* sql, const std::vector<std::optional<std::string>>& params) {
    if (auto st = ensure(); !st) return unexpected(st.error());
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    Result r(PQexecParams(conn_, sql, static_cast<int>(values.size()), nullptr, values.data(),
                          nullptr, nullptr, 0));
    const auto status = PQresultStatus(r.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      std::string why = pg_message(PQresultErrorMessage(r.get()));
      if (why.empty()) why = pg_message(PQerrorMessage(conn_));
      return unexpected("postgres: " + why);
    }
    return r;
  }

  PGconn* conn() const { return conn_; }

 private:
  std::string url_;
  std::string name_;
  PGconn* conn_ = nullptr;
};

std::string value(const Result& r, int row, int col) {
  return PQgetisnull(r.get(), row, col)
             ? std::string()
             : std::string(PQgetvalue(r.get(), row, col),
                           static_cast<std::size_t>(PQgetlength(r.get(), row, col)));
}

class PgPeers final : public cluster::Peers {
 public:
  PgPeers(std::string url, std::string replica)
      : replica_(std::move(replica)),
        listen_(url, "gatehouse " + replica_ + " peers listen"),
        work_(url, "gatehouse " + replica_ + " peers work"),
        ask_(url, "gatehouse " + replica_ + " peers ask"),
        wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

  ~PgPeers() override {
    stop_listening();
    {
      std::lock_guard lock(mu_);
      stop_ = true;
      // What is still queued gets a moment (a store that is down does not hold the stop).
      drain_until_ = std::chrono::steady_clock::now() + 2s;
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }

  void stop_listening() override {
    {
      std::lock_guard lock(mu_);
      if (listening_stopped_) return;
      listening_stopped_ = true;
    }
    cv_.notify_all();
    const std::uint64_t one = 1;
    if (wake_fd_ >= 0) (void)!::write(wake_fd_, &one, sizeof one);
    if (listener_.joinable()) listener_.join();
  }

  Status<> start() override {
    if (wake_fd_ < 0) return unexpected(std::string("peers: eventfd failed"));
    // Keys an earlier run of this replica handed out died with its sessions,
    // and so did the requests it had pending (its held statements with them).
    auto forgot = ask_.run("DELETE FROM cluster_cancel_keys WHERE replica = $1", {replica_});
    if (!forgot) return unexpected(forgot.error());
    forgot = ask_.run("DELETE FROM cluster_requests WHERE replica = $1 AND status = 'pending'",
                      {replica_});
    if (!forgot) return unexpected(forgot.error());
    if (auto st = listen(); !st) return st;
    listener_ = std::thread([this] {
      set_thread_name("gh-peers-listen");
      listen_loop();
    });
    worker_ = std::thread([this] {
      set_thread_name("gh-peers-work");
      work_loop();
    });
    return Ok{};
  }

  void on_review(ReviewHandler handler) override {
    std::lock_guard lock(mu_);
    review_handler_ = std::move(handler);
  }
  void on_cancel(CancelHandler handler) override {
    std::lock_guard lock(mu_);
    cancel_handler_ = std::move(handler);
  }
  void on_grant(GrantHandler handler) override {
    std::lock_guard lock(mu_);
    grant_handler_ = std::move(handler);
  }

  void publish(const approvals::Request& request) override {
    // A window or duration grant is announced: the others honour it at once.
    const bool grant = request.status == approvals::Status::kApproved && request.grant_seconds > 0;
    queue([this, id = request.id, status = std::string(approvals::status_name(request.status)),
           body = cluster::encode_request(request), grant]() {
      const std::string at = std::to_string(now_us());
      auto r = work_.run(
          "INSERT INTO cluster_requests(id, replica, status, body, updated_at_us) "
          "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET status = excluded.status, "
          "body = excluded.body, updated_at_us = excluded.updated_at_us",
          {id, replica_, status, body, at});
      if (!r) spdlog::warn("peers: request {} not shared: {}", id, r.error());
      if (r && grant) (void)work_.run("SELECT pg_notify($1, $2)", {kGrants, replica_ + "\t" + id});
      tidy();
    });
  }

  Expected<std::vector<approvals::Request>> requests() override {
    std::lock_guard lock(ask_mu_);
    auto r =
        ask_.run("SELECT body FROM cluster_requests WHERE replica <> $1 ORDER BY id", {replica_});
    if (!r) return unexpected(r.error());
    std::vector<approvals::Request> out;
    for (int i = 0; i < PQntuples(r->get()); ++i)
      if (auto req = cluster::decode_request(value(*r, i, 0))) out.push_back(std::move(*req));
    return out;
  }

  Expected<std::optional<approvals::Request>> request(const std::string& id) override {
    std::lock_guard lock(ask_mu_);
    auto r = ask_.run("SELECT body FROM cluster_requests WHERE id = $1 AND replica <> $2",
                      {id, replica_});
    if (!r) return unexpected(r.error());
    if (PQntuples(r->get()) == 0) return std::optional<approvals::Request>();
    return cluster::decode_request(value(*r, 0, 0));
  }

  cluster::ReviewResult review(const std::string& id, const approvals::Person& reviewer,
                               bool approve, const std::string& reason) override {
    std::int64_t review_id = 0;
    {
      std::lock_guard lock(ask_mu_);
      auto owner = ask_.run("SELECT replica FROM cluster_requests WHERE id = $1 AND replica <> $2",
                            {id, replica_});
      if (!owner) return unavailable(owner.error());
      if (PQntuples(owner->get()) == 0)
        return unexpected(ReviewError{ReviewRefusal::kNotFound, "no request " + id});
      const std::string holder = value(*owner, 0, 0);
      auto inserted = ask_.run(
          "INSERT INTO cluster_reviews(request_id, owner, reviewer, approve, reason, at_us) "
          "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
          {id, holder, cluster::encode_person(reviewer), approve ? "true" : "false", reason,
           std::to_string(now_us())});
      if (!inserted) return unavailable(inserted.error());
      review_id = std::stoll(value(*inserted, 0, 0));
      {
        std::lock_guard wait(mu_);
        answered_[review_id] = false;
      }
      auto told = ask_.run("SELECT pg_notify($1, $2)",
                           {kReviews, holder + "\t" + std::to_string(review_id)});
      if (!told) {
        forget_wait(review_id);
        return unavailable(told.error());
      }
    }
    // The holder answers through the store; its NOTIFY wakes this wait.
    if (!wait_answer(review_id)) {
      {
        std::lock_guard lock(ask_mu_);
        // Withdrawn unless the holder took it up already; then its answer is awaited once more.
        auto withdrawn = ask_.run("DELETE FROM cluster_reviews WHERE id = $1 AND NOT claimed",
                                  {std::to_string(review_id)});
        if (withdrawn && std::string_view(PQcmdTuples(withdrawn->get())) == "1") {
          forget_wait(review_id);
          return unexpected(ReviewError{ReviewRefusal::kUnavailable,
                                        "the replica holding request " + id + " did not answer"});
        }
      }
      if (!wait_answer(review_id)) forget_wait(review_id);
    }
    std::lock_guard lock(ask_mu_);
    auto answer =
        ask_.run("SELECT answer FROM cluster_reviews WHERE id = $1", {std::to_string(review_id)});
    if (!answer) return unavailable(answer.error());
    if (PQntuples(answer->get()) == 0 || PQgetisnull(answer->get(), 0, 0))
      return unexpected(ReviewError{ReviewRefusal::kUnavailable,
                                    "the replica holding request " + id +
                                        " took the review but its answer did not come back; "
                                        "see the request's status"});
    return cluster::decode_answer(value(*answer, 0, 0));
  }

  void share_cancel(std::int32_t pid, std::int32_t secret,
                    const cluster::CancelTarget& t) override {
    queue([this, pid, secret, t] {
      auto r = work_.run(
          "INSERT INTO cluster_cancel_keys(pid, secret, replica, host, port, upstream_pid, "
          "upstream_secret, session_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
          "ON CONFLICT (pid, secret) DO NOTHING",
          {std::to_string(pid), std::to_string(secret), replica_, t.host, std::to_string(t.port),
           std::to_string(t.upstream_pid), std::to_string(t.upstream_secret), t.session_id});
      if (!r)
        spdlog::warn("peers: cancel key of session {} not shared: {}", t.session_id, r.error());
    });
  }

  void unshare_cancel(std::int32_t pid, std::int32_t secret) override {
    queue([this, pid, secret] {
      auto r = work_.run(
          "DELETE FROM cluster_cancel_keys WHERE pid = $1 AND secret = $2 AND replica = $3",
          {std::to_string(pid), std::to_string(secret), replica_});
      if (!r) spdlog::warn("peers: cancel key not withdrawn: {}", r.error());
    });
  }

  void find_cancel(std::int32_t pid, std::int32_t secret,
                   std::function<void(std::optional<cluster::CancelTarget>)> done) override {
    queue([this, pid, secret, done = std::move(done)] {
      auto r = work_.run(
          "SELECT host, port, upstream_pid, upstream_secret, session_id, replica "
          "FROM cluster_cancel_keys WHERE pid = $1 AND secret = $2",
          {std::to_string(pid), std::to_string(secret)});
      if (!r || PQntuples(r->get()) == 0) {
        if (!r) spdlog::warn("peers: cancel key lookup failed: {}", r.error());
        answer_cancel(done, std::nullopt);
        return;
      }
      cluster::CancelTarget t;
      t.host = value(*r, 0, 0);
      t.port = static_cast<std::uint16_t>(std::stoi(value(*r, 0, 1)));
      t.upstream_pid = std::stoi(value(*r, 0, 2));
      t.upstream_secret = std::stoi(value(*r, 0, 3));
      t.session_id = value(*r, 0, 4);
      t.replica = value(*r, 0, 5);
      // Its replica withdraws what the session holds for approval.
      (void)work_.run("SELECT pg_notify($1, $2)", {kCancels, t.replica + "\t" + t.session_id});
      answer_cancel(done, std::move(t));
    });
  }

 private:
  // The session that asked is gone once listening stopped (its I/O thread with it).
  void answer_cancel(const std::function<void(std::optional<cluster::CancelTarget>)>& done,
                     std::optional<cluster::CancelTarget> t) {
    std::lock_guard lock(mu_);
    if (!listening_stopped_) done(std::move(t));
  }

  static cluster::ReviewResult unavailable(const std::string& why) {
    spdlog::warn("peers: {}", why);
    return unexpected(ReviewError{ReviewRefusal::kUnavailable,
                                  "the shared store cannot be reached to hand the review over"});
  }

  // True once the answer to `review_id` was announced (or the peers stop).
  bool wait_answer(std::int64_t review_id) {
    std::unique_lock wait(mu_);
    const bool answered =
        cv_.wait_for(wait, kAnswerTimeout, [&] { return stop_ || answered_[review_id]; });
    if (answered) answered_.erase(review_id);
    return answered;
  }

  void forget_wait(std::int64_t review_id) {
    std::lock_guard lock(mu_);
    answered_.erase(review_id);
  }

  void queue(std::function<void()> job) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      // Bounded: with the store gone for long, sharing lags rather than memory grows.
      if (jobs_.size() >= 100'000) {
        spdlog::warn("peers: work queue full; dropping an update for the other replicas");
        return;
      }
      jobs_.push_back(std::move(job));
    }
    cv_.notify_all();
  }

  void work_loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stopping, and nothing left
        if (stop_ && std::chrono::steady_clock::now() > drain_until_) {
          spdlog::warn("peers: {} update(s) for the other replicas not sent at stop", jobs_.size());
          return;
        }
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  // Settled requests and old reviews go after a day (at most every minute).
  void tidy() {
    const std::int64_t now = now_us();
    if (now - last_tidy_us_ < 60'000'000) return;
    last_tidy_us_ = now;
    const std::string cutoff = std::to_string(now - kKeepUs);
    (void)work_.run("DELETE FROM cluster_requests WHERE status <> 'pending' AND updated_at_us < $1",
                    {cutoff});
    (void)work_.run("DELETE FROM cluster_reviews WHERE at_us < $1", {cutoff});
  }

  Status<> listen() {
    for (const char* channel : {kReviews, kAnswers, kCancels, kGrants}) {
      auto r = listen_.run((std::string("LISTEN ") + channel).c_str(), {});
      if (!r) return unexpected(r.error());
    }
    // Reviews handed over while this replica was not listening.
    auto pending =
        listen_.run("SELECT id FROM cluster_reviews WHERE owner = $1 AND NOT claimed", {replica_});
    if (!pending) return unexpected(pending.error());
    for (int i = 0; i < PQntuples(pending->get()); ++i) answer(value(*pending, i, 0));
    // Windows and grants the others gave while this replica was not listening.
    auto granted =
        listen_.run("SELECT body FROM cluster_requests WHERE replica <> $1 AND status = 'approved'",
                    {replica_});
    if (!granted) return unexpected(granted.error());
    for (int i = 0; i < PQntuples(granted->get()); ++i) adopt(value(*granted, i, 0));
    return Ok{};
  }

  void adopt(const std::string& body) {
    GrantHandler handler;
    {
      std::lock_guard lock(mu_);
      handler = grant_handler_;
    }
    if (auto r = cluster::decode_request(body); r && handler) handler(*r);
  }

  void listen_loop() {
    auto backoff = 100ms;
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (listening_stopped_) return;
      }
      PGconn* c = listen_.conn();
      if (!c || PQstatus(c) != CONNECTION_OK) {
        if (auto st = listen(); !st) {
          spdlog::warn("peers: not listening to the other replicas: {}", st.error());
          if (!sleep_or_stop(backoff)) return;
          backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
          continue;
        }
        spdlog::info("peers: listening to the other replicas again");
        backoff = 100ms;
        c = listen_.conn();
      }
      pollfd fds[2] = {{PQsocket(c), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      if (::poll(fds, 2, 1000) < 0) continue;
      if (fds[1].revents) return;
      if (!PQconsumeInput(c)) {
        spdlog::warn("peers: lost the listening connection: {}", pg_message(PQerrorMessage(c)));
        continue;  // reconnected above
      }
      while (PGnotify* n = PQnotifies(c)) {
        const std::string channel = n->relname;
        const std::string payload = n->extra;
        PQfreemem(n);
        handle(channel, payload);
      }
    }
  }

  bool sleep_or_stop(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, d, [&] { return listening_stopped_; });
  }

  void handle(const std::string& channel, const std::string& payload) {
    const auto tab = payload.find('\t');
    if (channel == kGrants) {
      // Another replica's grant (its own announcements come back here too).
      if (tab == std::string::npos || payload.substr(0, tab) == replica_) return;
      auto r =
          listen_.run("SELECT body FROM cluster_requests WHERE id = $1", {payload.substr(tab + 1)});
      if (r && PQntuples(r->get()) == 1) adopt(value(*r, 0, 0));
      return;
    }
    if (channel == kAnswers) {
      std::int64_t id = 0;
      try {
        id = std::stoll(payload);
      } catch (const std::exception&) {
        return;
      }
      {
        std::lock_guard lock(mu_);
        const auto it = answered_.find(id);
        if (it == answered_.end()) return;
        it->second = true;
      }
      cv_.notify_all();
      return;
    }
    if (tab == std::string::npos || payload.substr(0, tab) != replica_) return;
    const std::string rest = payload.substr(tab + 1);
    if (channel == kReviews) {
      answer(rest);
    } else if (channel == kCancels) {
      CancelHandler handler;
      {
        std::lock_guard lock(mu_);
        handler = cancel_handler_;
      }
      if (handler) handler(rest);
    }
  }

  // Applies a review handed over by another replica and writes the answer.
  void answer(const std::string& review_id) {
    // Claimed first: from here on its giver waits for the answer instead of withdrawing it.
    auto r = listen_.run(
        "UPDATE cluster_reviews SET claimed = true WHERE id = $1 AND owner = $2 AND NOT claimed "
        "RETURNING request_id, reviewer, approve, reason",
        {review_id, replica_});
    if (!r || PQntuples(r->get()) == 0) return;
    ReviewHandler handler;
    {
      std::lock_guard lock(mu_);
      handler = review_handler_;
    }
    const std::string request_id = value(*r, 0, 0);
    auto reviewer = cluster::decode_person(value(*r, 0, 1));
    cluster::ReviewResult result =
        unexpected(ReviewError{ReviewRefusal::kUnavailable, "the review could not be read"});
    if (handler && reviewer)
      result = handler(request_id, *reviewer, value(*r, 0, 2) == "t", value(*r, 0, 3));
    auto written = listen_.run("UPDATE cluster_reviews SET answer = $2 WHERE id = $1",
                               {review_id, cluster::encode_answer(result)});
    if (!written) {
      spdlog::warn("peers: answer to review {} not written: {}", review_id, written.error());
      return;
    }
    (void)listen_.run("SELECT pg_notify($1, $2)", {kAnswers, review_id});
  }

  const std::string replica_;
  Link listen_, work_, ask_;
  int wake_fd_;
  std::mutex ask_mu_;  // the admin thread's connection, one question at a time
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool listening_stopped_ = false;
  std::chrono::steady_clock::time_point drain_until_;
  std::deque<std::function<void()>> jobs_;
  std::map<std::int64_t, bool> answered_;  // reviews this replica waits on
  ReviewHandler review_handler_;
  CancelHandler cancel_handler_;
  GrantHandler grant_handler_;
  std::int64_t last_tidy_us_ = 0;
  std::thread listener_, worker_;
};

}  // namespace

Expected<std::unique_ptr<cluster::Peers>> open_postgres_peers(const std::string& url,
                                                              const std::string& replica) {
  if (auto st = migrate_postgres_store(url); !st) return unexpected(st.error());
  return std::unique_ptr<cluster::Peers>(std::make_unique<PgPeers>(url, replica));
}

}  // namespace gh::store
