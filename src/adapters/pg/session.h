// One client's PostgreSQL session through the gateway, top-down: startup
// (TLS, version, parameters), identify (token), authorize (access), connect
// upstream with the gateway's credential, then relay both directions while
// recording every statement, until either side ends.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/container/deque.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapters/pg/result_capture.h"
#include "adapters/pg/result_masker.h"
#include "adapters/pg/statement_gate.h"
#include "adapters/pg/statement_tracker.h"
#include "adapters/pg/upstream.h"
#include "gateway/server.h"
#include "gateway/services.h"
#include "wire/pg/protocol.h"

namespace gh::adapters::pg {

struct HandlerState;

class Session {
 public:
  Session(HandlerState& handler, boost::asio::ip::tcp::socket socket, gateway::ClientInfo client);
  ~Session();
  boost::asio::awaitable<void> run();

 private:
  using Clock = std::chrono::steady_clock;

  // How one direction of the relay ended.
  enum class PumpEnd {
    kCancelled,
    kReadFailed,
    kWriteFailed,
    kFramingError,
    kLimit,
    kTerminated,
    kAuditFailed,  // audit_durability: sync and a record did not reach the disk
    kMemory,       // the session's memory budget or the gateway's was used up
  };
  struct Direction {
    net::Stream* from;
    net::Stream* to;
    wire::pg::MessageFramer::WantsWhole wants_whole;
    bool from_client;
    std::vector<std::uint8_t> first;  // bytes already read, to go before the first read
    std::int64_t* bytes_in;
    std::int64_t* bytes_out;
    PumpEnd end = PumpEnd::kCancelled;
    std::string error;
    bool writing = false;  // stopped with a write half done: the peer's stream is mid-message
  };

  boost::asio::awaitable<bool> startup();
  boost::asio::awaitable<bool> read_client_more();
  // The connection (and its TLS context) a cancel for `target` goes out as:
  // the session's own, or for another replica's session the strictest
  // connection to the same server; null when none is configured.
  std::pair<const config::Connection*, const UpstreamTls*> cancel_route(
      const gateway::CancelTarget& target) const;
  // A cancel key another replica handed out, from the shared store (bounded wait).
  boost::asio::awaitable<std::optional<gateway::CancelTarget>> find_shared_cancel(
      gateway::CancelKey key);
  // Records a refused connection and prepares the FATAL for send_refusal().
  void refuse(std::string_view sqlstate, std::string message, std::string_view reason_for_audit,
              const std::string& hint = {});
  boost::asio::awaitable<bool> send_refusal();
  boost::asio::awaitable<void> send_client(const wire::pg::Buffer& b);
  // While the gateway is paused: tells the client once, then waits for resume.
  boost::asio::awaitable<void> hold_while_paused();
  // Wait mode: tells the client the statement is held, waits for the
  // request's decision (or the rule's timeout, or the client leaving) and
  // returns what to do with the message. `client_gone` when the client left:
  // the request is withdrawn.
  boost::asio::awaitable<StatementGate::Inspection> hold_for_approval(
      std::uint8_t type, StatementGate::Inspection held, Direction& d, bool& client_gone);
  // Ends the session when its access window (`on: connect` grant) ends.
  boost::asio::awaitable<void> watch_access_window();
  // The client stream is written by both directions once the relay runs: a
  // message the gateway adds must not land inside one the server is sending.
  boost::asio::awaitable<void> lock_client_writes();
  void unlock_client_writes();
  boost::asio::awaitable<void> relay();
  // Writes what a pump collected so far (before it holds a statement); false,
  // with the direction's end set, when the write failed.
  boost::asio::awaitable<bool> flush(Direction& d, wire::pg::Buffer& out);
  // Forwards one direction message by message until it ends; records what it sees.
  boost::asio::awaitable<void> pump(Direction& d);
  // Reads and forwards what the direction has to send now, until reads are
  // small again (true: wait for more) or the direction ended (false).
  boost::asio::awaitable<bool> relay_burst(Direction& d, wire::pg::MessageFramer& framer,
                                           bool& holding_client);
  // Records what finished_ holds; with `durable`, hands the events there
  // instead (audit_durability: sync: the caller waits for them).
  void record_statements(std::vector<model::AuditEvent>* durable = nullptr);
  // The statement the tracker just accepted goes upstream: with sync audit,
  // its intent record joins intents_.
  void note_intent();
  // flush(), after the intents of what `out` holds are on disk (sync audit).
  boost::asio::awaitable<bool> durable_then_flush(Direction& d, wire::pg::Buffer& out);
  // Waits until every event in `events` is on disk (and empties it); false
  // when one will not be, or not within kDurableTimeout.
  boost::asio::awaitable<bool> make_durable(std::vector<model::AuditEvent>& events);
  // Masking rules follow policy reloads: checked at the start of each result.
  void refresh_masking(wire::pg::MessageFramer& framer);
  // Looks up the relations of a RowDescription the catalog does not know yet.
  boost::asio::awaitable<void> resolve_sources(Bytes row_description);
  // Fetches the connection's own routines (functions, procedures) for the
  // function catalog; a failure is remembered briefly and judged as writing.
  boost::asio::awaitable<void> fetch_function_catalog();
  // The column lineage of statement `index` of `text`, looking up the
  // relations it names (and the views they are) as needed; memoised per session.
  // `decision`, when given, is the policy's record of the statement: shared by
  // every statement that differs from it only in constants, it keys the memo
  // for lineages no constant shaped.
  boost::asio::awaitable<std::shared_ptr<const sql::Lineage>> lineage_for(
      const std::string& text, std::size_t index, Decided decision = nullptr);
  // The statement a result about to be described comes from: the running
  // Query (its `index`-th statement), or the statement or portal a Describe named.
  Text described_text(std::uint8_t type, std::size_t& index);
  // Before a CopyOutResponse: tells the masker how the COPY writes its lines
  // and which table columns its fields are.
  boost::asio::awaitable<void> prepare_copy();
  // Hands what masking did to the statement that just finished.
  void attach_mask_counts(std::size_t finished_before);
  void note_server_fatal(Bytes body);
  // Row thresholds (`rows_over`): what the server pump does with a message
  // while a watched result runs. kConsumed: held or dropped; kWithheld: a
  // crossed threshold's result, withheld until ReadyForQuery.
  enum class RowStep { kForward, kConsumed, kWithheld };
  RowStep row_threshold(const boost::asio::any_io_executor& ex, std::uint8_t type, Bytes raw,
                        wire::pg::Buffer& out);
  // Whether rows must come whole: masking rewrites them, thresholds count them.
  bool rows_whole() const { return masker_.active() || row_rules_ || capture_ != nullptr; }
  // Sets the session's end reason and the FATAL the client gets once the relay stopped.
  void set_fatal(std::string_view sqlstate, const std::string& message, std::string reason);
  void end_session(const std::string& reason);
  std::int64_t now_us() const;

  HandlerState& h_;
  gateway::Services& services_;
  gateway::ClientInfo client_;
  std::unique_ptr<net::Stream> cstream_;
  UpstreamSession upstream_;
  const config::Connection* connection_ = nullptr;

  // Client bytes read during startup and not yet consumed.
  std::vector<std::uint8_t> cbuf_;
  std::size_t clen_ = 0;

  std::string session_id_;
  std::string subject_;
  std::string token_hash_;
  std::string user_label_;
  std::string database_;
  gateway::CancelKey cancel_key_;
  bool cancel_registered_ = false;
  bool started_ = false;

  model::Principal principal_;
  const config::Credentials* cred_ = nullptr;
  ResultMasker masker_;
  std::uint64_t masker_version_ = 0;
  ResultMasker::SourceOf source_of_;
  wire::pg::Buffer mask_out_;
  std::size_t copies_seen_ = 0;   // CopyOutResponses of the running statement so far
  std::size_t results_seen_ = 0;  // statements of the running Query answered so far
  gateway::SessionBudget budget_;
  // Describe messages sent and not yet answered: ('S' | 'P', name).
  boost::container::deque<std::pair<char, std::string>> describes_;  // (nothing while empty)
  struct LineageMemo {
    std::map<std::string, std::shared_ptr<const sql::Lineage>, std::less<>> by_text;
    std::map<std::pair<Decided, std::size_t>, std::shared_ptr<const sql::Lineage>> by_decision;
    std::uint64_t generation = 0;
    std::size_t bytes = 0;  // of the statement texts it is keyed by
    std::chrono::steady_clock::time_point since{};
  } lineage_memo_;
  StatementTracker tracker_;
  std::unique_ptr<StatementGate> gate_;
  std::unique_ptr<ResultCapture> capture_;  // recording.results: masked
  bool row_rules_ = false;                  // the approval rules have row thresholds
  std::vector<std::uint8_t> held_rows_;     // a watched result's rows so far
  bool withholding_ = false;                // a threshold was crossed: until ReadyForQuery
  std::shared_ptr<const wire::pg::Buffer> withheld_error_;
  bool withheld_error_sent_ = false;
  // The cancel sent for a withheld result, until the server has read it: the
  // client does not see ReadyForQuery before, or a late cancel could stop
  // its next statement instead.
  struct CancelInFlight {
    explicit CancelInFlight(const boost::asio::any_io_executor& ex) : timer(ex) {}
    bool done = false;
    boost::asio::steady_timer timer;
  };
  std::shared_ptr<CancelInFlight> cancel_in_flight_;
  bool client_writes_locked_ = false;
  std::shared_ptr<boost::asio::steady_timer> client_writes_free_;
  std::vector<FinishedStatement> finished_;
  std::int64_t seq_ = 0;
  // audit_durability: sync (fixed when the gateway started).
  bool sync_audit_ = false;
  std::int64_t intent_seq_ = 0;
  std::vector<model::AuditEvent> intents_;   // client direction: to be durable before forwarding
  std::vector<model::AuditEvent> outcomes_;  // server direction: before the client sees them

  std::int64_t bytes_from_client_ = 0;
  std::int64_t bytes_to_client_ = 0;
  bool ended_ = false;
  std::string end_reason_;
  std::string server_fatal_;
  std::int64_t window_until_us_ = 0;  // the access window this session was admitted under
  std::string window_request_;
  wire::pg::Buffer fatal_;
  wire::pg::Buffer refusal_;
};

}  // namespace gh::adapters::pg
