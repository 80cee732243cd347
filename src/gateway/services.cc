#include "gateway/services.h"
#include "base/bytes.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <tuple>

namespace gh::gateway {

namespace {

std::int64_t unix_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::shared_ptr<const policy::Policy> policy_of(const config::Config& c, std::uint64_t version) {
  auto p = std::make_shared<policy::Policy>();
  p->version = version;
  p->access = c.access;
  p->guardrails = c.guardrails;
  return p;
}

constexpr std::size_t kMaskingKeyBytes = 32;

// The `hash` style's key: 32 random bytes in data_dir/masking.key (0600),
// made on first start. Replicas that must produce the same tokens share it.
std::vector<std::uint8_t> load_masking_key(const std::string& data_dir) {
  std::vector<std::uint8_t> key(kMaskingKeyBytes);
  const std::string path = data_dir + "/masking.key";
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = ::read(fd, key.data(), key.size());
    ::close(fd);
    if (n == static_cast<ssize_t>(key.size())) return key;
    spdlog::error("{} is not a {}-byte key; hash tokens will not match earlier ones", path,
                  kMaskingKeyBytes);
  }
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) std::abort();
  fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    bool ok = ::write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size());
    ok = ::fsync(fd) == 0 && ok;
    ::close(fd);
    if (ok) {
      spdlog::info("created the masking key {}", path);
      return key;
    }
    ::unlink(path.c_str());
  }
  spdlog::warn("cannot keep a masking key in {}: hash tokens last until restart", data_dir);
  return key;
}

bool same_webhooks(const std::vector<config::Webhook>& a, const std::vector<config::Webhook>& b) {
  auto key = [](const config::Webhook& w) {
    return std::tie(w.name, w.url, w.on_created, w.on_decided, w.ca_file, w.timeout, w.attempts);
  };
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [&](const auto& x, const auto& y) { return key(x) == key(y); });
}

// Services::accepted_: one entry per connection between accept and session start.
std::string accepted_key(const std::string& listener, const std::string& client) {
  std::string key;
  key.reserve(listener.size() + 1 + client.size());
  key.append(listener).push_back('\0');
  key.append(client);
  return key;
}

std::shared_ptr<const masking::MaskingPolicy> masking_of(const config::Config& c,
                                                         const std::vector<std::uint8_t>& key) {
  return std::make_shared<masking::MaskingPolicy>(c.masking, key);
}

}  // namespace

bool PauseGate::pause() {
  return !paused_.exchange(true, std::memory_order_acq_rel);
}

bool PauseGate::resume() {
  std::map<std::uint64_t, std::function<void()>> wake;
  {
    std::lock_guard lock(mu_);
    if (!paused_.exchange(false, std::memory_order_acq_rel)) return false;
    wake.swap(waiters_);
  }
  for (auto& [id, w] : wake) w();
  return true;
}

std::uint64_t PauseGate::subscribe(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  std::uint64_t id = next_++;
  waiters_.emplace(id, std::move(wake));
  return id;
}

void PauseGate::unsubscribe(std::uint64_t id) {
  std::lock_guard lock(mu_);
  waiters_.erase(id);
}

Services::Services(std::shared_ptr<const config::Config> config,
                   std::unique_ptr<identity::TokenVerifier> verifier,
                   std::unique_ptr<audit::Recorder> recorder)
    : config_(std::move(config)),
      verifier_(std::move(verifier)),
      recorder_(std::move(recorder)),
      memory_(config_->gateway.memory_limit) {
  policy_ = policy_of(*config_, 1);
  masking_key_ = load_masking_key(config_->gateway.data_dir);
  masking_ = masking_of(*config_, masking_key_);
  approval_rules_ = std::make_shared<approvals::RuleSet>(config_->approvals);
  if (!config_->webhooks.empty())
    notifier_ = std::make_unique<Notifier>(config_->webhooks, counters_.webhooks,
                                           NotifierOptions{.gateway_id = config_->gateway.id});
  broker_ = std::make_unique<approvals::Broker>(
      SystemClock::instance(),
      [this](const approvals::Event& e) {
        const auto& r = e.request;
        model::ApprovalEvent ev;
        ev.at_us = unix_us();
        ev.replica = config_->gateway.id;
        ev.request_id = r.id;
        ev.event = std::string(approvals::event_name(e.kind));
        ev.status = std::string(approvals::status_name(r.status));
        ev.rule = r.rule;
        ev.kind = r.binding.kind == approvals::Binding::Kind::kConnect ? "connect" : "statement";
        ev.requester = r.requester.subject;
        ev.actor = e.actor;
        ev.detail = e.detail;
        ev.connection = r.binding.connection;
        ev.session_id = r.session_id;
        ev.statement = r.statement;
        ev.text_hash = r.binding.text_hash;
        ev.params_hash = r.binding.params_hash;
        ev.policy_version = r.binding.policy_version;
        spdlog::info("approval request {} ({}): {} by {}{}", r.id, r.rule, ev.event,
                     e.actor.empty() ? "the gateway" : e.actor,
                     e.detail.empty() ? "" : " — " + e.detail);
        (void)record(std::move(ev));
        if (notifier_) notifier_->enqueue(e);  // never blocks
        // Replicas sharing the store hear of every change (never blocks);
        // using a window or duration grant changes nothing they keep.
        const bool unchanged =
            e.kind == approvals::Event::Kind::kUsed && r.status == approvals::Status::kApproved;
        if (peers_ && !unchanged) peers_->publish(r);
      },
      [] { return random_id("r-", 6); });
  version_.store(1, std::memory_order_release);
  model::PolicyEvent ev{unix_us(), config_->gateway.id, 1, "load", "applied", "", "start"};
  (void)record(std::move(ev));
}

std::shared_ptr<const policy::Policy> Services::policy() const {
  std::lock_guard lock(policy_mu_);
  return policy_;
}

std::shared_ptr<const masking::MaskingPolicy> Services::masking() const {
  std::lock_guard lock(policy_mu_);
  return masking_;
}

ReloadResult Services::reload(const std::string& source) {
  std::lock_guard one(reload_mu_);
  ReloadResult r;
  r.version = policy_version();
  auto loaded = config::load_file(config_->path, config::process_env());
  if (!loaded) {
    for (const auto& p : loaded.error()) r.problems.push_back(p.to_string());
    std::string detail;
    for (const auto& p : r.problems) detail += (detail.empty() ? "" : "\n") + p;
    spdlog::error("policy reload ({}) refused; version {} stays in force:\n{}", source, r.version,
                  detail);
    (void)record(model::PolicyEvent{unix_us(), config_->gateway.id, r.version, "reload", "refused",
                                    detail, source});
    return r;
  }
  // Only the policy sections take effect without a restart; say so when
  // anything else changed.
  const config::Config& next = *loaded;
  if (next.connections.size() != config_->connections.size() ||
      next.listeners.size() != config_->listeners.size())
    r.notes.push_back("listeners and connections change only at restart");
  if (!same_webhooks(next.webhooks, config_->webhooks))
    r.notes.push_back("webhooks: change takes effect after a restart");
  if (next.recording.sync_audit != config_->recording.sync_audit)
    r.notes.push_back("recording.audit_durability: change takes effect after a restart");
  auto fresh = policy_of(next, r.version + 1);
  auto fresh_masking = masking_of(next, masking_key_);
  auto fresh_approvals = std::make_shared<approvals::RuleSet>(next.approvals);
  {
    std::lock_guard lock(policy_mu_);
    policy_ = fresh;
    masking_ = fresh_masking;
    approval_rules_ = fresh_approvals;
    version_.store(fresh->version, std::memory_order_release);
  }
  r.applied = true;
  r.version = fresh->version;
  r.notes.insert(r.notes.begin(), std::to_string(next.access.rules.size()) + " access rules, " +
                                      std::to_string(next.guardrails.size()) + " guardrails, " +
                                      std::to_string(next.masking.size()) + " masking rules, " +
                                      std::to_string(next.approvals.rules.size()) +
                                      " approval rules");
  std::string detail;
  for (const auto& n : r.notes) detail += (detail.empty() ? "" : "; ") + n;
  spdlog::info("policy reload ({}) applied: version {} ({})", source, r.version, detail);
  (void)record(model::PolicyEvent{unix_us(), config_->gateway.id, r.version, "reload", "applied",
                                  detail, source});
  return r;
}

bool Services::pause(const std::string& source) {
  bool changed = pause_.pause();
  spdlog::warn("gateway {} ({}): new statements are held until resume",
               changed ? "paused" : "already paused", source);
  (void)record(model::PolicyEvent{unix_us(), config_->gateway.id, policy_version(), "pause",
                                  changed ? "ok" : "already paused", "", source});
  return changed;
}

bool Services::resume(const std::string& source) {
  bool changed = pause_.resume();
  spdlog::info("gateway {} ({})", changed ? "resumed" : "was not paused", source);
  (void)record(model::PolicyEvent{unix_us(), config_->gateway.id, policy_version(), "resume",
                                  changed ? "ok" : "not paused", "", source});
  return changed;
}

Services::~Services() = default;

std::shared_ptr<const approvals::RuleSet> Services::approval_rules() const {
  std::lock_guard lock(policy_mu_);
  return approval_rules_;
}

Status<> Services::set_tokens(std::unique_ptr<TokenService> tokens) {
  auto issuer = tokens->issuer_config();
  // The verifier must have been created with tokens->issuer_config() among its
  // issuers (serve does); this refreshes its keys to the ones in force.
  if (auto st = verifier_->set_issuer_keys(issuer.issuer, issuer.jwks_json); !st)
    return unexpected(st.error());
  tokens_ = std::move(tokens);
  return Ok{};
}

Expected<std::string> Services::rotate_signing_key(const std::string& actor) {
  if (!tokens_) return unexpected(std::string("gateway tokens are not set up"));
  auto kid = tokens_->rotate();
  if (!kid) return kid;
  auto issuer = tokens_->issuer_config();
  if (auto st = verifier_->set_issuer_keys(issuer.issuer, issuer.jwks_json); !st)
    return unexpected(st.error());
  model::TokenEvent ev;
  ev.at_us = unix_us();
  ev.replica = config_->gateway.id;
  ev.action = "key_rotated";
  ev.actor = actor;
  ev.kid = *kid;
  spdlog::info("signing key rotated by {}: {} is now active", actor, *kid);
  (void)record(std::move(ev));
  return kid;
}

void Services::record_token(const std::string& action, const std::string& actor,
                            const TokenClaims& claims, const MintedToken& minted) {
  model::TokenEvent ev;
  ev.at_us = unix_us();
  ev.replica = config_->gateway.id;
  ev.action = action;
  ev.actor = actor;
  ev.subject = claims.subject;
  ev.groups = claims.groups;
  ev.connections = claims.connections;
  ev.expires_at = minted.expires_at;
  ev.token_hash = minted.token_hash;
  ev.kid = minted.kid;
  spdlog::info("token {} for {} by {} (expires {}, kid {})", action, claims.subject, actor,
               minted.expires_at, minted.kid);
  (void)record(std::move(ev));
}

void Services::connection_accepted(const std::string& listener, const std::string& client) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(accepted_mu_);
  accepted_[accepted_key(listener, client)] = now;
}

void Services::connection_closed(const std::string& listener, const std::string& client) {
  std::lock_guard lock(accepted_mu_);
  accepted_.erase(accepted_key(listener, client));
}

bool Services::record(model::AuditEvent event) {
  if (const auto* start = std::get_if<model::SessionStart>(&event)) {
    std::optional<std::chrono::steady_clock::time_point> since;
    {
      std::lock_guard lock(accepted_mu_);
      if (auto it = accepted_.find(accepted_key(start->listener, start->client_addr));
          it != accepted_.end()) {
        since = it->second;
        accepted_.erase(it);
      }
    }
    if (since) counters_.session_startup.observe(std::chrono::steady_clock::now() - *since);
  }
  if (!recorder_) return true;
  if (recorder_->record(std::move(event))) return true;
  counters_.audit_dropped.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void Services::record_durable(model::AuditEvent event, std::function<void(bool)> done) {
  if (!recorder_) {
    done(true);
    return;
  }
  recorder_->record_durable(std::move(event), [this, done = std::move(done)](bool written) {
    if (!written) counters_.audit_dropped.fetch_add(1, std::memory_order_relaxed);
    done(written);
  });
}

bool Services::audit_accepting() const {
  return !recorder_ || recorder_->accepting();
}

AuditStats Services::audit_stats() const {
  AuditStats s;
  if (!recorder_) return s;
  s.enabled = true;
  s.queue_depth = recorder_->queue_depth();
  s.written = recorder_->written();
  s.failed_batches = recorder_->failed_batches();
  s.dropped_at_stop = recorder_->dropped();
  s.spool_bytes = recorder_->spool_bytes();
  s.poisoned = recorder_->poisoned();
  s.lagging = recorder_->lagging();
  return s;
}

void Services::flush_audit() {
  if (recorder_) recorder_->flush();
}

std::string Services::new_session_id() {
  return random_id("s-", 12);
}

std::string Services::random_id(std::string_view prefix, std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) std::abort();
  std::string id(prefix);
  append_hex(id, raw);
  return id;
}

Status<> Services::set_peers(std::unique_ptr<cluster::Peers> peers) {
  peers_ = std::move(peers);
  if (!peers_) return Ok{};
  peers_->on_review([this](const std::string& id, const approvals::Person& reviewer, bool approve,
                           std::string reason) {
    return broker_->review(id, reviewer, approve, std::move(reason));
  });
  peers_->on_cancel([this](const std::string& session_id) {
    spdlog::info("cancel for session {} through another replica", session_id);
    broker_->withdraw_held(session_id, "cancelled by the client");
  });
  peers_->on_grant([this](const approvals::Request& granted) {
    if (broker_->adopt(granted))
      spdlog::info(
          "approval request {} ({}): a grant given through the shared store, honoured here",
          granted.id, granted.rule);
  });
  if (auto st = peers_->start(); !st) {
    peers_.reset();
    return st;
  }
  cancels_.share_with(peers_.get(), config_->gateway.id);
  return Ok{};
}

}  // namespace gh::gateway
