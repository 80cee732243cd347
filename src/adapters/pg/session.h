// One client's PostgreSQL session through the gateway, top-down: startup
// (TLS, version, parameters), identify (token), authorize (access), connect
// upstream with the gateway's credential, then relay both directions while
// recording every statement, until either side ends.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

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

  // A statement sent upstream whose outcome has not come back yet.
  struct Pending {
    enum Kind { kSimple, kExtended, kFunctionCall, kSync } kind;
    std::string text;
    Clock::time_point started;
    std::int64_t at_us = 0;
    std::int64_t rows = -1;
    std::string tag;
    std::string error_code;
    std::string error_message;
    bool failed = false;
  };

  boost::asio::awaitable<bool> startup();
  boost::asio::awaitable<bool> read_client_more();
  // Records a refused connection and prepares the FATAL for send_refusal().
  void refuse(std::string_view sqlstate, std::string message, std::string_view reason_for_audit);
  boost::asio::awaitable<bool> send_refusal();
  boost::asio::awaitable<void> send_client(const wire::pg::Buffer& b);
  boost::asio::awaitable<void> relay_client_to_upstream();
  boost::asio::awaitable<void> relay_upstream_to_client();

  void on_client_message(std::uint8_t type, Bytes body);
  void on_server_message(std::uint8_t type, Bytes body);
  void finish_statement(Pending& p, std::string_view outcome);
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

  // Statement tracking: named statement → text, portal → text, and the queue
  // of what awaits an answer, in the order the server will answer it.
  std::map<std::string, std::string, std::less<>> prepared_;
  std::map<std::string, std::string, std::less<>> portals_;
  std::deque<Pending> pending_;
  std::int64_t seq_ = 0;

  std::int64_t bytes_from_client_ = 0;
  std::int64_t bytes_to_client_ = 0;
  bool client_terminated_ = false;
  bool upstream_lost_ = false;
  bool protocol_error_ = false;
  std::string end_reason_;
  wire::pg::Buffer refusal_;
};

}  // namespace gh::adapters::pg
