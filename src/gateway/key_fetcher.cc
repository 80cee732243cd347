#include "gateway/key_fetcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "base/thread_name.h"
#include "identity/oidc.h"
#include "net/https_client.h"

namespace gh::gateway {

namespace {

using SteadyClock = std::chrono::steady_clock;

// OpenID Connect Discovery 1.0 §4: a terminating "/" of the issuer is removed
// before the well-known path is appended.
std::string metadata_url(const std::string& issuer) {
  std::string base = issuer;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/.well-known/openid-configuration";
}

// One GET of a document the gateway reads as JSON: status 200, bounded size.
Expected<std::string> get_document(const std::string& what, const std::string& url,
                                   const identity::IssuerConfig& config,
                                   const KeyFetcherOptions& options) {
  net::HttpsRequest request;
  request.url = url;
  request.ca_file = config.ca_file;
  request.timeout = options.request_timeout;
  request.max_body = options.max_document_bytes;  // past it: "body limit exceeded"
  request.headers = {{"Accept", "application/json"}};
  auto reply = net::https_request(request);
  if (!reply) return unexpected(what + ": " + reply.error());
  if (reply->status != 200)
    return unexpected(what + " answered HTTP " + std::to_string(reply->status));
  return std::move(reply->body);
}

}  // namespace

KeyFetcher::KeyFetcher(identity::TokenVerifier& verifier,
                       const std::vector<identity::IssuerConfig>& issuers,
                       KeyFetcherOptions options)
    : verifier_(verifier), options_(options) {
  for (const auto& config : issuers) {
    if (!config.discovery) continue;
    IssuerState state;
    state.config = config;
    state.backoff = options_.first_retry;
    issuers_.push_back(std::move(state));
  }
}

KeyFetcher::~KeyFetcher() {
  stop();
}

bool KeyFetcher::needed(const std::vector<identity::IssuerConfig>& issuers) {
  return std::any_of(issuers.begin(), issuers.end(),
                     [](const identity::IssuerConfig& c) { return c.discovery; });
}

KeyFetcher::IssuerState* KeyFetcher::find(const std::string& issuer) {
  for (auto& s : issuers_)
    if (s.config.issuer == issuer) return &s;
  return nullptr;
}

const KeyFetcher::IssuerState* KeyFetcher::find(const std::string& issuer) const {
  for (const auto& s : issuers_)
    if (s.config.issuer == issuer) return &s;
  return nullptr;
}

void KeyFetcher::start() {
  std::lock_guard lock(mu_);
  if (started_ || stopping_) return;
  started_ = true;
  const auto now = SteadyClock::now();
  for (auto& s : issuers_) s.due = now;
  worker_ = std::thread([this] {
    set_thread_name("gh-keys");
    run();
  });
}

std::vector<std::string> KeyFetcher::wait_initial(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  progress_.wait_for(lock, timeout, [this] {
    return stopping_ || std::all_of(issuers_.begin(), issuers_.end(),
                                    [](const IssuerState& s) { return s.first_done; });
  });
  std::vector<std::string> missing;
  for (const auto& s : issuers_) {
    if (s.status.keys_loaded) continue;
    missing.push_back(
        "issuer '" + s.config.name + "': no keys yet (" +
        (s.status.last_error.empty() ? "the first fetch has not finished" : s.status.last_error) +
        "); its tokens are refused until a fetch succeeds");
  }
  return missing;
}

void KeyFetcher::request_refresh(const std::string& issuer, std::function<void(bool)> done) {
  {
    std::lock_guard lock(mu_);
    IssuerState* s = find(issuer);
    if (s != nullptr && !stopping_) {
      // A fetch already asked for or under way answers this caller too.
      if (s->demanded || s->in_flight) {
        s->waiters.push_back(std::move(done));
        return;
      }
      const SysTime now = options_.clock->now();
      // A clock set back (now before the last ask) does not block fetches for good.
      const bool too_soon =
          s->last_demand && now >= *s->last_demand && now - *s->last_demand < s->config.min_refresh;
      if (!too_soon) {
        s->last_demand = now;
        s->demanded = true;
        s->waiters.push_back(std::move(done));
        wake_.notify_one();
        return;
      }
    }
  }
  done(false);
}

void KeyFetcher::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  progress_.notify_all();
  if (worker_.joinable()) worker_.join();
  // Waiters that arrived before start() or while the worker was ending.
  std::vector<std::function<void(bool)>> waiters;
  {
    std::lock_guard lock(mu_);
    for (auto& s : issuers_) {
      for (auto& w : s.waiters) waiters.push_back(std::move(w));
      s.waiters.clear();
      s.demanded = false;
    }
  }
  for (auto& w : waiters) w(false);
}

KeyFetcher::Status KeyFetcher::status(const std::string& issuer) const {
  std::lock_guard lock(mu_);
  const IssuerState* s = find(issuer);
  return s != nullptr ? s->status : Status{};
}

Expected<std::string> KeyFetcher::fetch_jwks(const identity::IssuerConfig& config) const {
  const std::string url = metadata_url(config.issuer);
  auto text = get_document("metadata " + url, url, config, options_);
  if (!text) return unexpected(text.error());
  auto metadata = identity::parse_oidc_metadata(*text, config.issuer);
  if (!metadata) return unexpected("metadata " + url + " " + metadata.error());
  const std::string& jwks_uri = metadata->jwks_uri;
  // https:// (http:// only to loopback), checked before any connection.
  auto parsed = net::parse_url(jwks_uri);
  if (!parsed) return unexpected("jwks_uri of " + url + " is refused: " + parsed.error());
  {
    std::lock_guard lock(mu_);
    if (stopping_) return unexpected(std::string("the gateway is stopping"));
  }
  return get_document("JWKS at " + parsed->authority(), jwks_uri, config, options_);
}

void KeyFetcher::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const auto now = SteadyClock::now();
    IssuerState* next = nullptr;
    auto wake_at = SteadyClock::time_point::max();
    for (auto& s : issuers_) {
      if (s.demanded || s.due <= now) {
        next = &s;
        break;
      }
      wake_at = std::min(wake_at, s.due);
    }
    if (next == nullptr) {
      if (wake_at == SteadyClock::time_point::max())
        wake_.wait(lock);
      else
        wake_.wait_until(lock, wake_at);
      continue;
    }
    IssuerState& s = *next;
    s.demanded = false;
    s.in_flight = true;
    lock.unlock();

    // The blocking part, without the lock: request_refresh never waits for it.
    const auto& config = s.config;
    bool changed = false;
    std::string error;
    try {
      auto jwks = fetch_jwks(config);
      if (!jwks) {
        error = jwks.error();
      } else if (*jwks != s.document) {
        if (auto st = verifier_.set_issuer_keys(config.issuer, *jwks); !st) {
          error = st.error();
        } else {
          changed = true;
          spdlog::info("OIDC discovery: keys of issuer '{}' {}", config.name,
                       s.document.empty() ? "loaded" : "replaced by a new key set");
          s.document = std::move(*jwks);
        }
      }
    } catch (const std::exception& e) {
      error = std::string("unexpected error: ") + e.what();
    }

    lock.lock();
    s.in_flight = false;
    s.first_done = true;
    ++s.status.fetches;
    s.status.last_error = error;
    if (changed) s.status.keys_loaded = true;
    const auto refresh = std::chrono::duration_cast<std::chrono::milliseconds>(config.refresh);
    if (error.empty()) {
      s.backoff = options_.first_retry;
      s.due = SteadyClock::now() + refresh;
    } else {
      const auto retry = std::min({s.backoff, options_.max_retry, refresh});
      s.due = SteadyClock::now() + retry;
      s.backoff = std::min(s.backoff * 2, options_.max_retry);
      spdlog::warn(
          "OIDC discovery: fetching the keys of issuer '{}' failed: {}; {}; retry in {} ms",
          config.name, error,
          s.status.keys_loaded ? "the keys fetched before stay in force"
                               : "its tokens are refused until keys are fetched",
          retry.count());
    }
    auto waiters = std::move(s.waiters);
    s.waiters.clear();
    progress_.notify_all();
    lock.unlock();
    for (auto& done : waiters) done(changed);
    lock.lock();
  }
}

}  // namespace gh::gateway
