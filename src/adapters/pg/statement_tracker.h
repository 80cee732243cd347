// Follows a PostgreSQL session's statements from the messages both sides
// send, so that each one is recorded with its text, duration, rows and
// outcome. Sans-I/O: it sees whole messages and the time, nothing else.
//
// The server answers in order, so every client message that gets an answer
// joins one queue; each server message resolves the front of it. Named
// statements and portals take effect only when the server confirms them
// (ParseComplete, BindComplete, CloseComplete), so a refused or skipped
// Parse can never relabel what later runs.
// https://www.postgresql.org/docs/15/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/bytes.h"

namespace gh::adapters::pg {

using Text = std::shared_ptr<const std::string>;

struct FinishedStatement {
  std::string protocol_path;  // simple | extended | function_call
  Text text;
  std::int64_t at_us = 0;
  std::int64_t duration_us = 0;
  std::int64_t rows = -1;
  std::string tag;
  std::string outcome;  // ok | error | skipped | interrupted
  std::string error_code;
  std::string error_message;
};

class StatementTracker {
 public:
  using Clock = std::chrono::steady_clock;

  // Bounds on what one client can make the gateway remember.
  static constexpr std::size_t kMaxNamed = 10'000;     // prepared statements, portals
  static constexpr std::size_t kMaxPending = 100'000;  // messages awaiting an answer
  static constexpr std::size_t kMaxText = 1 << 20;     // statement text kept per statement

  // A whole client message. False when the client exceeds a bound above: the
  // caller ends the session (54000) rather than grow without limit.
  [[nodiscard]] bool on_client(std::uint8_t type, Bytes body, Clock::time_point now,
                               std::int64_t now_us);
  // A whole server message; statements it completes are appended to `done`.
  void on_server(std::uint8_t type, Bytes body, Clock::time_point now,
                 std::vector<FinishedStatement>& done);
  // The session ends: everything still awaiting an answer is `interrupted`.
  void interrupt_all(Clock::time_point now, std::vector<FinishedStatement>& done);

  std::size_t pending() const { return queue_.size(); }
  std::size_t prepared() const { return prepared_.size(); }
  std::size_t portals() const { return portals_.size(); }
  std::size_t in_flight() const { return parsing_.size() + binding_.size(); }

 private:
  struct Entry {
    enum Kind { kSimple, kFunctionCall, kParse, kBind, kClose, kExecute, kSync } kind;
    Text text;            // statement text (simple, execute, parse, bind)
    std::string name;     // parse: statement; bind: portal; close: name
    char close_kind = 0;  // close: 'S' | 'P'
    Clock::time_point started{};
    std::int64_t at_us = 0;
    std::int64_t rows = -1;
    std::string tag;
    std::string error_code;
    std::string error_message;
    bool failed = false;
    bool discarded = false;  // sent while the server skips to Sync: it never runs
  };

  // Drops a Parse/Bind from the in-flight maps once answered or skipped.
  void forget_in_flight(const Entry& e);
  void finish(Entry& e, std::string outcome, Clock::time_point now,
              std::vector<FinishedStatement>& done);
  // After an error in the extended protocol the server skips to Sync.
  void skip_to_sync(Clock::time_point now, std::vector<FinishedStatement>& done);

  std::deque<Entry> queue_;
  std::map<std::string, Text, std::less<>> prepared_;
  std::map<std::string, Text, std::less<>> portals_;
  // Parses and Binds sent but not yet answered, by name (the newest wins, as
  // it will on the server if it succeeds).
  std::map<std::string, Text, std::less<>> parsing_;
  std::map<std::string, Text, std::less<>> binding_;
  bool skipping_ = false;  // the server is discarding client messages until Sync
  bool copy_in_ = false;   // extended-protocol COPY FROM STDIN: the server ignores Syncs
};

}  // namespace gh::adapters::pg
