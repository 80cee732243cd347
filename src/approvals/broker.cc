#include "approvals/broker.h"

#include <algorithm>
#include <set>

#include "base/utf8.h"

namespace gh::approvals {

std::string shown_to_reviewers(std::string text) {
  if (text.size() <= kMaxShownText) return text;
  text.resize(utf8_cut(text, kMaxShownText));
  return text + "…";
}

std::string_view status_name(Status s) {
  switch (s) {
    case Status::kPending:
      return "pending";
    case Status::kApproved:
      return "approved";
    case Status::kDenied:
      return "denied";
    case Status::kLapsed:
      return "lapsed";
    case Status::kWithdrawn:
      return "withdrawn";
    case Status::kUsed:
      return "used";
  }
  return "unknown";
}

std::string_view event_name(Event::Kind k) {
  switch (k) {
    case Event::Kind::kCreated:
      return "created";
    case Event::Kind::kReviewed:
      return "reviewed";
    case Event::Kind::kDecided:
      return "decided";
    case Event::Kind::kUsed:
      return "used";
    case Event::Kind::kLapsed:
      return "lapsed";
    case Event::Kind::kWithdrawn:
      return "withdrawn";
  }
  return "unknown";
}

std::vector<std::string> Request::approvals() const {
  std::vector<std::string> out;
  for (const auto& r : reviews)
    if (r.approve) out.push_back(r.subject);
  return out;
}

namespace {

// The requester's identities: their subject, and the admin behind a minted token.
bool same_person(const Person& a, const Person& b) {
  auto ids = [](const Person& p) {
    std::set<std::string> s{p.subject};
    if (!p.issued_by.empty()) s.insert(p.issued_by);
    return s;
  };
  auto x = ids(a);
  for (const auto& id : ids(b))
    if (!id.empty() && x.count(id) != 0) return true;
  return false;
}

bool in_any(const std::vector<std::string>& mine, const std::vector<std::string>& wanted) {
  for (const auto& g : mine)
    if (std::find(wanted.begin(), wanted.end(), g) != wanted.end()) return true;
  return false;
}

}  // namespace

Broker::Broker(const Clock& clock, Sink sink, IdSource ids, BrokerLimits limits)
    : clock_(clock), sink_(std::move(sink)), ids_(std::move(ids)), limits_(limits) {}

std::int64_t Broker::now_us() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(clock_.now().time_since_epoch())
      .count();
}

void Broker::emit(std::vector<Event>& events, Wakers& wakers) {
  for (const auto& e : events)
    if (sink_) sink_(e);
  for (auto& [wake, request] : wakers) wake(request);
}

void Broker::settle(Request& r, Wakers& wakers) {
  for (auto it = subs_.begin(); it != subs_.end();) {
    if (it->second.request == r.id) {
      wakers.emplace_back(std::move(it->second.wake), r);
      it = subs_.erase(it);
    } else {
      ++it;
    }
  }
}

void Broker::sweep_locked(std::vector<Event>& events, Wakers& wakers) {
  const std::int64_t now = now_us();
  const std::int64_t keep =
      std::chrono::duration_cast<std::chrono::microseconds>(limits_.keep_decided).count();
  for (auto it = requests_.begin(); it != requests_.end();) {
    Request& r = it->second;
    if (r.status == Status::kPending && now >= r.expires_at_us) {
      r.status = Status::kLapsed;
      r.decided_at_us = now;
      events.push_back({Event::Kind::kLapsed, r, "", "no decision before it expired"});
      settle(r, wakers);
    }
    const std::int64_t last = std::max(r.decided_at_us, r.grant_until_us);
    if (r.status != Status::kPending && now - last > keep) {
      it = requests_.erase(it);
      continue;
    }
    ++it;
  }
}

void Broker::sweep() {
  std::vector<Event> events;
  Wakers wakers;
  {
    std::lock_guard lock(mu_);
    sweep_locked(events, wakers);
  }
  emit(events, wakers);
}

std::optional<Request> Broker::use_grant(const Binding& binding) {
  std::vector<Event> events;
  Wakers wakers;
  std::optional<Request> found;
  {
    std::lock_guard lock(mu_);
    sweep_locked(events, wakers);
    const std::int64_t now = now_us();
    for (auto& [id, r] : requests_) {
      if (r.status != Status::kApproved || !(r.binding == binding)) continue;
      if (r.grant_seconds > 0 && now >= r.grant_until_us) continue;
      if (r.grant_seconds == 0) r.status = Status::kUsed;
      events.push_back({Event::Kind::kUsed, r, r.requester.subject, ""});
      found = r;
      break;
    }
  }
  emit(events, wakers);
  return found;
}

bool Broker::adopt(const Request& granted) {
  if (granted.status != Status::kApproved || granted.grant_seconds <= 0) return false;
  std::lock_guard lock(mu_);
  if (now_us() >= granted.grant_until_us) return false;
  return requests_.emplace(granted.id, granted).second;
}

std::optional<Request> Broker::open_grant(const Binding& binding) const {
  std::lock_guard lock(mu_);
  const std::int64_t now = now_us();
  std::optional<Request> best;
  for (const auto& [id, r] : requests_) {
    if (r.status != Status::kApproved || !(r.binding == binding)) continue;
    if (r.grant_seconds > 0 && now >= r.grant_until_us) continue;
    if (!best || r.grant_until_us > best->grant_until_us) best = r;
  }
  return best;
}

Expected<Broker::Raised> Broker::raise(const Binding& binding, const Rule& rule,
                                       const Person& requester, std::string statement,
                                       std::string session_id, std::string reason,
                                       std::optional<std::chrono::seconds> window) {
  std::vector<Event> events;
  Wakers wakers;
  Raised out;
  {
    std::lock_guard lock(mu_);
    sweep_locked(events, wakers);
    std::size_t pending = 0, mine = 0;
    for (auto& [id, r] : requests_) {
      if (r.status != Status::kPending) continue;
      ++pending;
      if (r.requester.subject == requester.subject) ++mine;
      if (r.binding == binding && r.rule == rule.name) {
        // The same ask again; a reason given now is what reviewers should read.
        if (r.reason.empty() && !reason.empty()) requests_[id].reason = reason;
        out.request = requests_[id];
        break;
      }
    }
    if (out.request.id.empty()) {
      if (pending >= limits_.max_pending)
        return unexpected(std::string("too many approval requests are pending on this gateway"));
      if (mine >= limits_.max_pending_per_requester)
        return unexpected("you have " + std::to_string(mine) +
                          " approval requests pending already; wait for them to be decided");
      Request r;
      r.id = ids_();
      r.rule = rule.name;
      r.binding = binding;
      r.requester = requester;
      r.statement = std::move(statement);
      r.session_id = std::move(session_id);
      r.reason = std::move(reason);
      r.mode = rule.mode;
      r.created_at_us = now_us();
      r.expires_at_us = r.created_at_us +
                        std::chrono::duration_cast<std::chrono::microseconds>(rule.expires).count();
      r.approver_groups = rule.approver_groups;
      r.count = std::max(1, rule.count);
      if (rule.grant) {
        auto g = *rule.grant;
        // An access window asked for may be shorter than the rule allows, never longer.
        if (window && *window < g) g = *window;
        r.grant_seconds = std::max<std::int64_t>(1, g.count());
      }
      out.created = true;
      out.request = r;
      requests_.emplace(r.id, r);
      events.push_back({Event::Kind::kCreated, r, requester.subject, ""});
    }
  }
  emit(events, wakers);
  return out;
}

Expected<Request, ReviewError> Broker::review(const std::string& id, const Person& reviewer,
                                              bool approve, std::string reason) {
  std::vector<Event> events;
  Wakers wakers;
  Request result;
  std::optional<ReviewError> refusal;
  {
    std::lock_guard lock(mu_);
    sweep_locked(events, wakers);
    refusal = review_locked(id, reviewer, approve, std::move(reason), result, events, wakers);
  }
  // Events go out after the lock is released, refused or not (a lapse may have been noticed).
  emit(events, wakers);
  if (refusal) return unexpected(std::move(*refusal));
  return result;
}

std::optional<ReviewError> Broker::review_locked(const std::string& id, const Person& reviewer,
                                                 bool approve, std::string reason, Request& result,
                                                 std::vector<Event>& events, Wakers& wakers) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return ReviewError{ReviewRefusal::kNotFound, "no request " + id};
  Request& r = it->second;
  if (r.status != Status::kPending)
    return ReviewError{ReviewRefusal::kAlreadyDecided,
                       "request " + id + " is " + std::string(status_name(r.status)) + " already"};
  // No role and no group membership lifts this.
  if (same_person(reviewer, r.requester))
    return ReviewError{ReviewRefusal::kOwnRequest, "you may not review your own request " + id};
  if (!in_any(reviewer.groups, r.approver_groups)) {
    std::string groups;
    for (const auto& g : r.approver_groups) groups += (groups.empty() ? "" : ", ") + g;
    return ReviewError{ReviewRefusal::kNotApprover,
                       "you are not in an approver group of request " + id + " (" + groups + ")"};
  }
  for (const auto& rv : r.reviews) {
    if (Person{rv.subject, "", rv.issued_by, {}}.key() == reviewer.key())
      return ReviewError{ReviewRefusal::kAlreadyReviewed,
                         "you have reviewed request " + id + " already"};
  }
  const std::int64_t now = now_us();
  r.reviews.push_back({reviewer.subject, reviewer.issued_by, approve, std::move(reason), now});
  const std::string& why = r.reviews.back().reason;
  events.push_back({Event::Kind::kReviewed, r, reviewer.subject,
                    std::string(approve ? "approve" : "deny") + (why.empty() ? "" : ": " + why)});
  std::set<std::string> distinct;
  for (const auto& rv : r.reviews)
    if (rv.approve) distinct.insert(Person{rv.subject, "", rv.issued_by, {}}.key());
  if (!approve || static_cast<int>(distinct.size()) >= r.count) {
    r.status = approve ? Status::kApproved : Status::kDenied;
    r.decided_at_us = now;
    if (approve && r.grant_seconds > 0) r.grant_until_us = now + r.grant_seconds * 1'000'000;
    events.push_back(
        {Event::Kind::kDecided, r, reviewer.subject, std::string(status_name(r.status))});
    settle(r, wakers);
  }
  result = r;
  return std::nullopt;
}

bool Broker::withdraw(const std::string& id, const std::string& why) {
  std::vector<Event> events;
  Wakers wakers;
  bool done = false;
  {
    std::lock_guard lock(mu_);
    auto it = requests_.find(id);
    if (it != requests_.end() && it->second.status == Status::kPending) {
      Request& r = it->second;
      r.status = Status::kWithdrawn;
      r.decided_at_us = now_us();
      events.push_back({Event::Kind::kWithdrawn, r, r.requester.subject, why});
      settle(r, wakers);
      done = true;
    }
  }
  emit(events, wakers);
  return done;
}

void Broker::withdraw_held(const std::string& session_id, const std::string& why) {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, r] : requests_)
      if (r.status == Status::kPending && r.mode == Mode::kWait && r.session_id == session_id &&
          !session_id.empty())
        ids.push_back(id);
  }
  for (const auto& id : ids) withdraw(id, why);
}

void Broker::consume(const std::string& id) {
  std::vector<Event> events;
  Wakers wakers;
  {
    std::lock_guard lock(mu_);
    auto it = requests_.find(id);
    if (it == requests_.end() || it->second.status != Status::kApproved) return;
    if (it->second.grant_seconds == 0) it->second.status = Status::kUsed;
    events.push_back({Event::Kind::kUsed, it->second, it->second.requester.subject, ""});
  }
  emit(events, wakers);
}

std::optional<Request> Broker::get(const std::string& id) {
  sweep();
  std::lock_guard lock(mu_);
  auto it = requests_.find(id);
  if (it == requests_.end()) return std::nullopt;
  return it->second;
}

std::vector<Request> Broker::list(const std::function<bool(const Request&)>& visible) {
  sweep();
  std::vector<Request> out;
  std::lock_guard lock(mu_);
  for (const auto& [id, r] : requests_)
    if (!visible || visible(r)) out.push_back(r);
  std::sort(out.begin(), out.end(),
            [](const Request& a, const Request& b) { return a.created_at_us < b.created_at_us; });
  return out;
}

std::uint64_t Broker::subscribe(const std::string& id, std::function<void(const Request&)> wake) {
  std::optional<Request> settled;
  std::uint64_t token = 0;
  {
    std::lock_guard lock(mu_);
    auto it = requests_.find(id);
    if (it == requests_.end() || it->second.status != Status::kPending) {
      if (it != requests_.end()) settled = it->second;
    } else {
      token = next_sub_++;
      subs_.emplace(token, Subscription{id, std::move(wake)});
      return token;
    }
  }
  // Decided before the subscription: wake at once.
  if (settled) wake(*settled);
  return token;
}

void Broker::unsubscribe(std::uint64_t token) {
  std::lock_guard lock(mu_);
  subs_.erase(token);
}

}  // namespace gh::approvals
