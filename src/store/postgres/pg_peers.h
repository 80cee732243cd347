// cluster::Peers over the shared PostgreSQL store: requests, reviews and
// cancel keys in tables of their own (cluster_*), LISTEN/NOTIFY to hand a
// review to the replica that holds the request and its answer back, at once.
#pragma once

#include <memory>
#include <string>

#include "base/expected.h"
#include "cluster/peers.h"

namespace gh::store {

// Migrates the store and makes the peers (three connections: one that
// listens, one for queued work, one for the admin thread's questions);
// start() connects them.
Expected<std::unique_ptr<cluster::Peers>> open_postgres_peers(const std::string& url,
                                                              const std::string& replica);

}  // namespace gh::store
