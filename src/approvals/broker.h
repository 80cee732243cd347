// Approval requests, their reviews and the grants they produce. Thread-safe:
// sessions on I/O threads ask for grants and raise requests; the admin API
// reviews them; held sessions subscribe to hear the outcome at once.
//
// Segregation of duties is checked here, on every review, from the
// reviewer's verified identity: the requester never counts as an approver
// (whatever groups or roles they hold, and also through a token an admin
// minted for someone else), `count` means that many distinct people, any
// denial ends the request, and a pending request lapses at its expiry.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "approvals/rules.h"
#include "base/clock.h"
#include "base/expected.h"

namespace gh::approvals {

enum class Status { kPending, kApproved, kDenied, kLapsed, kWithdrawn, kUsed };
std::string_view status_name(Status s);

// A statement as reviewers see it: at most kMaxShownText bytes, cut on a
// character boundary and marked with "…" when cut.
inline constexpr std::size_t kMaxShownText = 4096;
std::string shown_to_reviewers(std::string text);

// A person as their verified token says. `issued_by` is set for a gateway
// token an admin minted (`token issue`): the admin is then the person who
// acts, whoever the subject names.
struct Person {
  std::string subject;
  std::string issuer;
  std::string issued_by;
  std::vector<std::string> groups;
  // Who acts: distinct people are counted by this.
  const std::string& key() const { return issued_by.empty() ? subject : issued_by; }
};

// What a grant is bound to: any difference makes it another request.
struct Binding {
  enum class Kind { kStatement, kConnect };
  Kind kind = Kind::kStatement;
  std::string subject;  // the requester: (issuer, subject) is one identity
  std::string issuer;
  std::string connection;
  std::string text_hash;    // SHA-256 of the exact statement text
  std::string fingerprint;  // the statement with its constants abstracted
  std::string params_hash;  // SHA-256 of an extended-protocol execution's parameters
  std::uint64_t policy_version = 0;
  bool operator==(const Binding&) const = default;
};

struct Review {
  std::string subject;
  std::string issued_by;
  bool approve = false;
  std::string reason;
  std::int64_t at_us = 0;
};

struct Request {
  std::string id;
  std::string rule;
  Status status = Status::kPending;
  Binding binding;
  Person requester;
  std::string statement;  // as shown to reviewers and recorded (masked)
  std::string session_id;
  std::string reason;  // the requester's, for access requests
  Mode mode = Mode::kReject;
  std::int64_t created_at_us = 0;
  std::int64_t expires_at_us = 0;
  std::int64_t decided_at_us = 0;
  std::vector<std::string> approver_groups;
  int count = 1;
  std::int64_t grant_seconds = 0;   // 0: once
  std::int64_t grant_until_us = 0;  // a duration grant's end
  std::vector<Review> reviews;

  // Subjects that approved, in order.
  std::vector<std::string> approvals() const;
};

// What happened to a request: the gateway records each and notifies.
struct Event {
  enum class Kind { kCreated, kReviewed, kDecided, kUsed, kLapsed, kWithdrawn };
  Kind kind;
  Request request;     // as it stands after the change
  std::string actor;   // reviewer / withdrawing party
  std::string detail;  // review decision and reason, withdrawal cause
};
std::string_view event_name(Event::Kind k);

enum class ReviewRefusal {
  kNotFound,
  kOwnRequest,
  kNotApprover,
  kAlreadyDecided,
  kAlreadyReviewed,
  kUnavailable  // the replica holding the request did not answer (shared store)
};
struct ReviewError {
  ReviewRefusal code;
  std::string message;
};

struct BrokerLimits {
  std::size_t max_pending = 10'000;             // in all
  std::size_t max_pending_per_requester = 100;  // one caller cannot crowd out the rest
  // Settled requests (and unused grants) are kept this long after their last
  // change or the end of their grant, then forgotten (the audit keeps them).
  std::chrono::seconds keep_decided{24 * 3600};
};

class Broker {
 public:
  using Sink = std::function<void(const Event&)>;
  using IdSource = std::function<std::string()>;

  Broker(const Clock& clock, Sink sink, IdSource ids, BrokerLimits limits = {});

  // A grant usable now for this binding, if any: a `once` grant is consumed
  // by this call (status used), a duration grant stays until it ends.
  std::optional<Request> use_grant(const Binding& binding);
  // The grant window still open for this binding (connect windows), without using it.
  std::optional<Request> open_grant(const Binding& binding) const;

  struct Raised {
    Request request;
    bool created = false;  // false: an identical request was pending already
  };
  // The pending request for this binding, or a new one under `rule`. Refused
  // (error text for the client) past the pending limits.
  Expected<Raised> raise(const Binding& binding, const Rule& rule, const Person& requester,
                         std::string statement, std::string session_id, std::string reason = {},
                         std::optional<std::chrono::seconds> window = std::nullopt);

  Expected<Request, ReviewError> review(const std::string& id, const Person& reviewer, bool approve,
                                        std::string reason);
  // The requester gave up (client gone, cancelled, timed out): pending → withdrawn.
  bool withdraw(const std::string& id, const std::string& why);
  // The client cancelled: every wait-mode request its session holds is withdrawn.
  void withdraw_held(const std::string& session_id, const std::string& why);
  // A wait-mode statement ran on its approval: a `once` grant is used up.
  void consume(const std::string& id);

  // Both lapse what expired first, as every call does.
  std::optional<Request> get(const std::string& id);
  std::vector<Request> list(const std::function<bool(const Request&)>& visible);

  // Called with the request when it leaves pending (approved, denied,
  // lapsed, withdrawn). Runs on the thread that changed it: post, do not block.
  std::uint64_t subscribe(const std::string& id, std::function<void(const Request&)> wake);
  void unsubscribe(std::uint64_t token);

  // A grant another replica's broker gave (replicas sharing a store): an
  // approved request with a duration (an access window, `grant: 1h`) still
  // open, kept so that use_grant() and open_grant() find it here too. Once
  // grants stay with their replica: the statement that waited for one runs
  // there. False (nothing kept) for anything else, or an id known already.
  bool adopt(const Request& granted);

  // Lapses what expired and forgets what was decided long ago. Cheap; call it
  // periodically (it also runs inside every other call).
  void sweep();

 private:
  using Wakers = std::vector<std::pair<std::function<void(const Request&)>, Request>>;
  std::int64_t now_us() const;
  // With mu_ held: lapse expired requests; events and wake-ups are collected
  // to run after the lock is released.
  void sweep_locked(std::vector<Event>& events, Wakers& wakers);
  void settle(Request& r, Wakers& wakers);
  std::optional<ReviewError> review_locked(const std::string& id, const Person& reviewer,
                                           bool approve, std::string reason, Request& result,
                                           std::vector<Event>& events, Wakers& wakers);
  void emit(std::vector<Event>& events, Wakers& wakers);

  const Clock& clock_;
  Sink sink_;
  IdSource ids_;
  BrokerLimits limits_;
  mutable std::mutex mu_;
  std::map<std::string, Request> requests_;  // by id
  struct Subscription {
    std::string request;
    std::function<void(const Request&)> wake;
  };
  std::map<std::uint64_t, Subscription> subs_;
  std::uint64_t next_sub_ = 1;
};

}  // namespace gh::approvals
