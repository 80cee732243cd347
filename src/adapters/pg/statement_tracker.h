// Follows a PostgreSQL session's statements from the messages both sides
// send, so that each one is recorded with its text, duration, rows and
// outcome. Sans-I/O: it sees whole messages and the time, nothing else.
//
// The server answers in order, so every client message that gets an answer
// joins one queue; each server message resolves the front of it. Names are
// resolved in the server's order too: a statement exists once ParseComplete
// says so, a portal is bound to the statement as it stood at BindComplete,
// and an Execute's text is read when its result arrives — so a refused or
// skipped Parse can never relabel what actually ran.
// https://www.postgresql.org/docs/15/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY
#pragma once

#include <boost/container/deque.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "model/audit_event.h"

namespace gh::adapters::pg {

using Decided = std::shared_ptr<const model::StatementDecision>;

// A statement's text and how the policy decided it, shared by every record of
// it (a prepared statement runs many times).
struct Label {
  std::string text;
  Decided decision;
};
using Text = std::shared_ptr<const Label>;
// A label for `sql`, cut to StatementTracker::kMaxText.
Text make_text(std::string_view sql, Decided decision = nullptr);

// A portal's parameters as the client bound them: text-format values as
// sent, binary ones as text when they are printable UTF-8, else a
// placeholder naming their size; nullopt for NULL. Not yet masked.
using Params = std::vector<std::optional<std::string>>;
using ParamsPtr = std::shared_ptr<const Params>;

// A row threshold on a statement's result (defined by StatementGate).
struct RowWatch;

// What the session did with a client message before relaying it.
struct ClientNote {
  Decided decision;  // Q/P/F: the decision on its text; E: a re-decision (else null)
  // The message was denied and replaced by one the server refuses, so that
  // the refusal lands in order and with the server's own transaction and
  // skip-to-Sync semantics. The server's error for it is replaced by this.
  std::shared_ptr<const std::vector<std::uint8_t>> denial;
  // Q/E: its result is counted against a row threshold while it runs.
  std::shared_ptr<RowWatch> rows;
  // Q of several statements that goes to the server: each statement's own
  // text and decision, in order. Each is recorded on its own: finished by its
  // CommandComplete (the last by ReadyForQuery); after an error the server
  // runs none of the rest, which are recorded as skipped.
  std::vector<Text> statements;
};

struct FinishedStatement {
  std::string protocol_path;  // simple | extended | function_call
  Text text;
  std::int64_t at_us = 0;
  std::int64_t duration_us = 0;
  std::int64_t rows = -1;
  std::string tag;
  std::string outcome;  // ok | error | denied | skipped | interrupted
  Decided decision;
  std::string error_code;
  std::string error_message;
  std::vector<model::MaskCount> masked;  // what masking did to its results
  std::int64_t withheld = 0;
  std::string result;  // recording.results: the result as sent (ResultCapture JSON)
  ParamsPtr params;    // an Execute's bound parameters; null for other statements
};

class StatementTracker {
 public:
  using Clock = std::chrono::steady_clock;

  // Bounds on what one client can make the gateway remember.
  static constexpr std::size_t kMaxNamed = 10'000;     // prepared statements, portals
  static constexpr std::size_t kMaxPending = 100'000;  // messages awaiting an answer
  static constexpr std::size_t kMaxText = 1 << 20;     // statement text kept per statement

  enum class ClientVerdict { kOk, kLimit, kMalformed };
  // A whole client message. kLimit when the client exceeds a bound above (the
  // caller ends the session, 54000, rather than grow without limit);
  // kMalformed for a Parse/Bind/Close/Execute the gateway cannot read (the
  // caller does not forward it: what the gateway cannot follow, it does not relay).
  [[nodiscard]] ClientVerdict on_client(std::uint8_t type, Bytes body, Clock::time_point now,
                                        std::int64_t now_us, const ClientNote& note = {});
  // A whole server message; statements it completes are appended to `done`.
  // For the server's error to a denied (substituted) message, returns the
  // ErrorResponse the client gets instead; null otherwise.
  std::shared_ptr<const std::vector<std::uint8_t>> on_server(std::uint8_t type, Bytes body,
                                                             Clock::time_point now,
                                                             std::vector<FinishedStatement>& done);
  // The session ends: everything still awaiting an answer is `interrupted`.
  void interrupt_all(Clock::time_point now, std::vector<FinishedStatement>& done);

  // The decision of the statement whose results the server is sending now
  // (the front of the queue: a simple Query or an Execute); null when none.
  Decided running() const;
  // That statement's text as the server runs it; null when none. `simple`:
  // it is a Query (its results are described without a Describe).
  Text running_text(bool* simple = nullptr) const;
  // A prepared statement or portal as the server has it now; null when unknown.
  Text statement_named(std::string_view name) const;
  Text portal_named(std::string_view name) const;
  // The row threshold of that statement; null when it has none.
  RowWatch* running_rows() const;
  // That statement's result crossed its threshold: the client gets `error`
  // (for the server's own error, or in place of its completion), and it is
  // recorded as denied under `record`.
  void withhold_running(std::shared_ptr<const std::vector<std::uint8_t>> error, Decided record);

  // The statement the last on_client() message will run, if it runs one (a
  // Query, FunctionCall or Execute the server will not skip): its protocol
  // path and its text and decision as the client sent them. Empty otherwise.
  struct Forwarded {
    std::string_view protocol_path;
    Text text;
  };
  const Forwarded& forwarded() const { return forwarded_; }

  // Bytes of the statement texts and bound parameters it made that are still
  // referenced (by names, the queue, records on their way to the audit trail).
  std::uint64_t held_bytes() const { return held_->load(std::memory_order_relaxed); }

  std::size_t pending() const { return queue_.size(); }
  // Lets go of the memory kept for statements to come (the session went quiet).
  void shrink() { queue_.shrink_to_fit(); }
  std::size_t prepared() const { return prepared_.size(); }
  std::size_t portals() const { return portals_.size(); }

 private:
  struct Entry {
    enum Kind { kSimple, kFunctionCall, kParse, kBind, kClose, kExecute, kSync, kCopyEnd } kind;
    Text text;                // statement text (simple, function call, parse)
    std::vector<Text> parts;  // simple: its statements when there are several
    std::size_t part = 0;     // simple: the one the server runs now
    ParamsPtr params;         // bind: its parameters
    std::string name;         // parse: statement; bind/execute: portal; close: name
    std::string source;       // bind: the statement it binds (resolved at BindComplete)
    char close_kind = 0;      // close: 'S' | 'P'
    Clock::time_point started{};
    std::int64_t at_us = 0;
    std::int64_t rows = -1;
    std::string tag;
    std::string error_code;
    std::string error_message;
    bool failed = false;
    bool discarded = false;  // sent while the server skips to Sync: it never runs
    bool ran = false;        // execute: the server ran it (its text is the bound portal's)
    bool denied = false;     // the gateway's denial is this statement's outcome
    Text intended;           // execute: what the client meant to run, for one that never did
    Decided redecided;       // execute: decided again at Execute (policy changed since Parse)
    std::shared_ptr<const std::vector<std::uint8_t>> denial;  // substituted: the client's error
    std::shared_ptr<RowWatch> row_watch;                      // simple/execute: a row threshold
  };
  // The statement whose results the server is sending now, or null.
  const Entry* running_entry() const;

  // An Execute's text: the portal as the server has it when it runs.
  Text portal_text(const std::string& portal) const;
  void finish(Entry& e, std::string outcome, Clock::time_point now,
              std::vector<FinishedStatement>& done);
  // A simple Query of several statements: its current one completed; the
  // next one starts now.
  void finish_part(Entry& e, Clock::time_point now, std::vector<FinishedStatement>& done);
  // A simple Query ends: its current statement with `outcome`, those after
  // it (when it has several) with `rest_outcome`.
  void finish_simple(Entry& e, std::string outcome, std::string rest_outcome, Clock::time_point now,
                     std::vector<FinishedStatement>& done);
  // After an error in the extended protocol the server skips to Sync.
  void skip_to_sync(Clock::time_point now, std::vector<FinishedStatement>& done);

  std::shared_ptr<std::atomic<std::uint64_t>> held_ =
      std::make_shared<std::atomic<std::uint64_t>>(0);
  // (Boost's deque allocates nothing while empty, and frees all once emptied: shrink().)
  boost::container::deque<Entry> queue_;
  std::map<std::string, Text, std::less<>> prepared_;
  struct Portal {
    Text text;
    ParamsPtr params;
  };
  std::map<std::string, Portal, std::less<>> portals_;
  // The client's own view of names (the newest Parse/Bind of each), used only
  // to label an Execute that never ran; bounded, and dropped when over the bound.
  std::map<std::string, Text, std::less<>> client_statements_;
  std::map<std::string, Text, std::less<>> client_portals_;
  Forwarded forwarded_;
  bool skipping_ = false;  // the server is discarding client messages until Sync
  bool copy_in_ = false;   // COPY FROM STDIN under way: the server ignores Sync/Flush
};

}  // namespace gh::adapters::pg
