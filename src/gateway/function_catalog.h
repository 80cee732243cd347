// The routines each connection's database defines itself (functions and
// procedures outside the system schemas), by name, and whether each may
// write: what judges a call of a function that is not a built-in. Fetched
// whole per connection, kept a minute, dropped when the gateway sees DDL
// succeed on the connection. Shared by every session. Thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "policy/decide.h"

namespace gh::gateway {

using UserFunctionMap = policy::UserFunctions;

class FunctionCatalog {
 public:
  using Clock = std::chrono::steady_clock;
  using Now = Clock::time_point (*)();
  explicit FunctionCatalog(Now now = &Clock::now) : now_(now) {}
  static constexpr auto kTtl = std::chrono::seconds(60);
  // After a failed lookup, calls are judged as writing this long before the
  // catalog is asked again.
  static constexpr auto kRetryAfterFailure = std::chrono::seconds(5);
  static constexpr std::size_t kMaxFunctions = 200'000;
  // While one session fetches a fresh copy, the others keep deciding with the
  // expired one for at most this long (instead of each asking the database).
  static constexpr auto kStaleWhileFetching = std::chrono::seconds(15);

  // The connection's routines as last fetched; nullptr when they are not
  // known (never fetched, invalidated, the last fetch failed, or expired with
  // no fetch under way).
  std::shared_ptr<const UserFunctionMap> get(const std::string& connection) const;
  // Whether the caller should fetch the catalog now: nothing is known (every
  // caller fetches: none may decide blind), or the copy expired and no other
  // caller is fetching it (this one is then marked as fetching). False right
  // after a failure.
  bool wants_fetch(const std::string& connection);
  void put(const std::string& connection, UserFunctionMap functions);
  void failed(const std::string& connection);
  // After DDL on the connection: fetched again before the next call is judged.
  void invalidate(const std::string& connection);

 private:
  struct Entry {
    std::shared_ptr<const UserFunctionMap> functions;  // null after a failure
    Clock::time_point at;
    Clock::time_point fetching_since{};  // a refresh of an expired copy is under way
  };
  Now now_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace gh::gateway
