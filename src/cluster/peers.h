// What gateway replicas sharing one store tell each other: the approval
// requests each holds (so that any replica lists them and takes reviews of
// them — the replica that raised a request stays the one that decides it, and
// wakes its held statement the moment a review elsewhere settles it), the
// access windows and duration grants each gave (honoured by all), and the
// cancel keys each handed out (so that a CancelRequest landing on another
// replica still reaches the upstream session). A single gateway has none.
//
// Calls marked non-blocking queue their work and return; the others wait on
// the shared store, bounded, and are for the admin thread only — never an
// I/O thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "approvals/broker.h"
#include "base/expected.h"

namespace gh::cluster {

struct CancelTarget {
  std::string host;
  std::uint16_t port = 0;
  std::int32_t upstream_pid = 0;
  std::int32_t upstream_secret = 0;
  std::string session_id;
  std::string replica;  // the replica the session runs on
  // The connection's name (its TLS settings carry the cancel); known on the
  // session's own replica, empty for a target another replica shared.
  std::string connection;
};

using ReviewResult = Expected<approvals::Request, approvals::ReviewError>;

class Peers {
 public:
  virtual ~Peers() = default;

  // Reviews of this replica's requests given on another replica are applied
  // by this handler (the local broker's review()), on the peers' own thread.
  using ReviewHandler = std::function<ReviewResult(
      const std::string& id, const approvals::Person& reviewer, bool approve, std::string reason)>;
  // A client cancelled, on another replica, a session of this one.
  using CancelHandler = std::function<void(const std::string& session_id)>;
  // Another replica granted a window or a duration grant (approved, with
  // grant_seconds > 0): this replica honours it too (the broker's adopt()).
  // Also called, at start and after a lost connection, with every such grant
  // still open.
  using GrantHandler = std::function<void(const approvals::Request& granted)>;
  virtual void on_review(ReviewHandler handler) = 0;
  virtual void on_cancel(CancelHandler handler) = 0;
  virtual void on_grant(GrantHandler handler) = 0;
  // Starts listening, once the handlers are set: what an earlier run of this
  // replica left (cancel keys, requests pending) is forgotten, and the grants
  // still open are handed to the grant handler.
  virtual Status<> start() = 0;

  // A request of this replica as it now stands (non-blocking).
  virtual void publish(const approvals::Request& request) = 0;
  // Other replicas' requests (blocking).
  virtual Expected<std::vector<approvals::Request>> requests() = 0;
  virtual Expected<std::optional<approvals::Request>> request(const std::string& id) = 0;
  // Hands a review of another replica's request to that replica and waits
  // for its answer (blocking, a few seconds at most). kNotFound when no
  // replica holds `id`.
  virtual ReviewResult review(const std::string& id, const approvals::Person& reviewer,
                              bool approve, const std::string& reason) = 0;

  // Cancel keys this replica handed out, as sessions start and end (non-blocking).
  virtual void share_cancel(std::int32_t pid, std::int32_t secret, const CancelTarget& target) = 0;
  virtual void unshare_cancel(std::int32_t pid, std::int32_t secret) = 0;
  // Another replica's session for a key this replica does not know; `done`
  // runs on the peers' thread (post from it, do not block). Also tells that
  // replica, so that a statement its session holds for approval is withdrawn.
  virtual void find_cancel(std::int32_t pid, std::int32_t secret,
                           std::function<void(std::optional<CancelTarget>)> done) = 0;

  // Stops taking reviews and cancels from the other replicas (no handler runs
  // after it returns); queued work is still done. Called before the I/O
  // threads stop, whose sessions the handlers wake.
  virtual void stop_listening() = 0;
};

}  // namespace gh::cluster
