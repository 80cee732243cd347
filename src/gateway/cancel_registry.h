// The gateway's own cancel keys. Clients get a (pid, secret) minted here, never
// the upstream's; a CancelRequest with a known key is forwarded to the upstream
// session it maps to. Thread-safe: sessions on every I/O thread register here.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "cluster/peers.h"

namespace gh::gateway {

// Where a key leads: the upstream backend and its own key (and, for a key
// another replica handed out, that replica).
using CancelTarget = cluster::CancelTarget;

struct CancelKey {
  std::int32_t pid = 0;
  std::int32_t secret = 0;
};

class CancelRegistry {
 public:
  // Mints a fresh key (random, unique among live sessions) mapped to `target`.
  CancelKey add(CancelTarget target);
  void remove(const CancelKey& key);
  // The target for a key; nullopt unless both pid and secret match.
  std::optional<CancelTarget> find(const CancelKey& key) const;
  // Replicas sharing a store: every key added from now on is also shared
  // with them (and withdrawn at remove), under `replica`. Set once, before
  // sessions start.
  void share_with(cluster::Peers* peers, std::string replica);
  // A key another replica handed out, looked up in the shared store; `done`
  // runs on another thread (post, do not block), at once without peers.
  void find_shared(const CancelKey& key, std::function<void(std::optional<CancelTarget>)> done);
  std::size_t size() const;

 private:
  struct Entry {
    std::int32_t secret;
    CancelTarget target;
  };
  mutable std::mutex mu_;
  std::unordered_map<std::int32_t, Entry> by_pid_;
  cluster::Peers* peers_ = nullptr;
  std::string replica_;
};

}  // namespace gh::gateway
