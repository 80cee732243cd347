// The gateway's own cancel keys. Clients get a (pid, secret) minted here, never
// the upstream's; a CancelRequest with a known key is forwarded to the upstream
// session it maps to. Thread-safe: sessions on every I/O thread register here.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace gh::gateway {

struct CancelTarget {
  std::string host;
  std::uint16_t port = 0;
  std::int32_t upstream_pid = 0;
  std::int32_t upstream_secret = 0;
  std::string session_id;
};

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
  std::size_t size() const;

 private:
  struct Entry {
    std::int32_t secret;
    CancelTarget target;
  };
  mutable std::mutex mu_;
  std::unordered_map<std::int32_t, Entry> by_pid_;
};

}  // namespace gh::gateway
