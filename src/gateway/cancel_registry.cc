#include "gateway/cancel_registry.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstring>

namespace gh::gateway {

namespace {

std::int32_t random_positive() {
  std::uint32_t v = 0;
  while (v == 0) {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v) != 1) std::abort();
    v &= 0x7fffffffu;  // clients print pids as signed; keep them positive
  }
  return static_cast<std::int32_t>(v);
}

}  // namespace

CancelKey CancelRegistry::add(CancelTarget target) {
  std::lock_guard lock(mu_);
  CancelKey key;
  do {
    key.pid = random_positive();
  } while (by_pid_.count(key.pid) != 0);
  key.secret = random_positive();
  if (peers_) {
    target.replica = replica_;
    peers_->share_cancel(key.pid, key.secret, target);
  }
  by_pid_.emplace(key.pid, Entry{key.secret, std::move(target)});
  return key;
}

void CancelRegistry::remove(const CancelKey& key) {
  std::lock_guard lock(mu_);
  auto it = by_pid_.find(key.pid);
  if (it != by_pid_.end() && it->second.secret == key.secret) {
    by_pid_.erase(it);
    if (peers_) peers_->unshare_cancel(key.pid, key.secret);
  }
}

void CancelRegistry::share_with(cluster::Peers* peers, std::string replica) {
  std::lock_guard lock(mu_);
  peers_ = peers;
  replica_ = std::move(replica);
}

void CancelRegistry::find_shared(const CancelKey& key,
                                 std::function<void(std::optional<CancelTarget>)> done) {
  cluster::Peers* peers = nullptr;
  {
    std::lock_guard lock(mu_);
    peers = peers_;
  }
  if (!peers) return done(std::nullopt);
  peers->find_cancel(key.pid, key.secret, std::move(done));
}

std::optional<CancelTarget> CancelRegistry::find(const CancelKey& key) const {
  std::lock_guard lock(mu_);
  auto it = by_pid_.find(key.pid);
  if (it == by_pid_.end()) return std::nullopt;
  // Constant time on the secret: a caller probing secrets learns nothing from timing.
  if (CRYPTO_memcmp(&it->second.secret, &key.secret, sizeof key.secret) != 0) return std::nullopt;
  return it->second.target;
}

std::size_t CancelRegistry::size() const {
  std::lock_guard lock(mu_);
  return by_pid_.size();
}

}  // namespace gh::gateway
