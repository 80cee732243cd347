// OIDC discovery: fetches the signing keys of every `discovery: true` issuer
// from its metadata (OpenID Connect Discovery 1.0 §4) and hands them to the
// token verifier. One worker thread of its own does every (blocking) HTTPS
// request, so no I/O thread ever waits for an identity provider:
//
//   GET <issuer without trailing slash>/.well-known/openid-configuration
//       its "issuer" must equal the configured issuer exactly (§4.3),
//       its "jwks_uri" must be https:// (http:// only to loopback)
//   GET <jwks_uri>  → TokenVerifier::set_issuer_keys
//
// Keys are refreshed every `refresh`; a failed fetch keeps the keys in force
// and is retried with back-off. A token naming an unknown key id asks for a
// fetch (request_refresh): concurrent asks for one issuer share one fetch, and
// such fetches happen at most once per `min_refresh` per issuer, so tokens
// with made-up key ids cannot make the gateway hammer its identity provider.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/expected.h"
#include "identity/verifier.h"

namespace gh::gateway {

struct KeyFetcherOptions {
  // Measures `min_refresh` between fetches asked for by unknown key ids
  // (tests move it by hand). Must outlive the fetcher.
  const Clock* clock = &SystemClock::instance();
  // Each HTTPS request, whole; also bounds how long stop() may wait for one.
  std::chrono::milliseconds request_timeout{5'000};
  // The metadata and the JWKS are each refused past this size.
  std::size_t max_document_bytes = 1024 * 1024;
  // After a failed fetch: the first retry, doubling per failure up to
  // `max_retry` (and never later than the issuer's `refresh`).
  std::chrono::milliseconds first_retry{1'000};
  std::chrono::milliseconds max_retry{300'000};
};

class KeyFetcher {
 public:
  // Takes the discovery issuers among `issuers` (the others are left alone).
  // `verifier` must list them and outlive the fetcher.
  KeyFetcher(identity::TokenVerifier& verifier, const std::vector<identity::IssuerConfig>& issuers,
             KeyFetcherOptions options = {});
  ~KeyFetcher();  // stop()
  KeyFetcher(const KeyFetcher&) = delete;
  KeyFetcher& operator=(const KeyFetcher&) = delete;

  // Whether any issuer uses discovery (a fetcher is worth starting).
  static bool needed(const std::vector<identity::IssuerConfig>& issuers);

  // Starts the worker; the first fetch of every issuer begins at once, in the
  // background.
  void start();
  // Waits up to `timeout` for every issuer's first fetch to end. Returns one
  // line per issuer that still has no keys, saying why (empty: all loaded).
  std::vector<std::string> wait_initial(std::chrono::milliseconds timeout);

  // A token of `issuer` (its `iss` value) named a key id its keys lack.
  // `done(true)` once keys that differ from the previous ones are in place
  // (verify the token again); `done(false)` at once when the issuer is not a
  // discovery issuer, the fetcher is stopped, or the last fetch asked for this
  // way was less than `min_refresh` ago; otherwise when the fetch ends without
  // new keys. `done` runs on the worker thread, or on the caller's when it is
  // answered at once: it must not block.
  void request_refresh(const std::string& issuer, std::function<void(bool)> done);

  // Ends the worker: waits for a request in progress (at most its timeout),
  // answers every waiting `done` with false. Idempotent.
  void stop();

  struct Status {
    bool keys_loaded = false;   // a fetch has set keys since start
    std::uint64_t fetches = 0;  // attempts that ended, good or not
    std::string last_error;     // of the last attempt; empty when it succeeded
  };
  // Of one issuer (its `iss`); all zero when it is not a discovery issuer.
  Status status(const std::string& issuer) const;

 private:
  struct IssuerState {
    identity::IssuerConfig config;
    std::string document;  // the JWKS text in force (worker thread only)
    Status status;
    bool first_done = false;                    // the first attempt ended
    bool demanded = false;                      // a fetch was asked for by an unknown key id
    bool in_flight = false;                     // the worker is fetching this issuer now
    std::optional<SysTime> last_demand;         // when a fetch was last asked for (rate limit)
    std::chrono::steady_clock::time_point due;  // next scheduled fetch
    std::chrono::milliseconds backoff{0};
    std::vector<std::function<void(bool)>> waiters;
  };

  void run();
  // The issuer's JWKS text from its metadata's jwks_uri, or why not.
  Expected<std::string> fetch_jwks(const identity::IssuerConfig& config) const;
  IssuerState* find(const std::string& issuer);
  const IssuerState* find(const std::string& issuer) const;

  identity::TokenVerifier& verifier_;
  const KeyFetcherOptions options_;
  mutable std::mutex mu_;
  std::condition_variable wake_;      // the worker: a request, or stop
  std::condition_variable progress_;  // wait_initial: an attempt ended
  std::vector<IssuerState> issuers_;  // fixed after construction
  bool started_ = false;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace gh::gateway
