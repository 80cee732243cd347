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
  static constexpr auto kTtl = std::chrono::seconds(60);
  // After a failed lookup, calls are judged as writing this long before the
  // catalog is asked again.
  static constexpr auto kRetryAfterFailure = std::chrono::seconds(5);
  static constexpr std::size_t kMaxFunctions = 200'000;

  // The connection's routines as last fetched; nullptr when they are not
  // known (never fetched, expired, invalidated, or the last fetch failed).
  std::shared_ptr<const UserFunctionMap> get(const std::string& connection) const;
  // Whether the catalog should be asked now (not known, and no failure just now).
  bool wants_fetch(const std::string& connection) const;
  void put(const std::string& connection, UserFunctionMap functions);
  void failed(const std::string& connection);
  // After DDL on the connection: fetched again before the next call is judged.
  void invalidate(const std::string& connection);

 private:
  struct Entry {
    std::shared_ptr<const UserFunctionMap> functions;  // null after a failure
    Clock::time_point at;
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace gh::gateway
