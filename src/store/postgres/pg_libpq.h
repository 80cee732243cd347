// libpq pieces the PostgreSQL store's connection (pg_connection.cc) and its
// peers (pg_peers.cc) share: results that free themselves, messages without
// libpq's trailing newline, and one way to connect.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <string>

#include "base/expected.h"

namespace gh::store {

struct PgResultClear {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultClear>;

// A libpq message (error, result error) without its trailing newline.
inline std::string pg_message(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Connects to `url` with the gateway's defaults, which the URL may override
// (connect timeout 5 s, TCP user timeout 10 s, keepalives after 10 s idle),
// client_encoding UTF8 whatever the URL says, notices not logged, and
// synchronous_commit off unless `durable_commits`. The error names the
// server, never the URL's password.
Expected<PGconn*> connect_pg(const std::string& url, const std::string& application_name,
                             bool durable_commits);

}  // namespace gh::store
