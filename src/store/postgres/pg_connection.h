// sql::Connection over libpq — the only code of the store that includes
// libpq-fe.h. A connection that breaks is re-established on the next
// transaction or statement; statements prepared on the server are prepared
// again on the new connection.
#pragma once

#include <memory>
#include <string>

#include "base/expected.h"
#include "store/sql/connection.h"

namespace gh::store {

struct PgConnectOptions {
  // Commits return once the server has flushed them to disk (sync audit);
  // otherwise synchronous_commit is off for this connection: a crash of the
  // database server may lose the newest commits, never a crash of the gateway.
  bool durable_commits = true;
  std::string application_name = "gatehouse";
};

// `url` is a libpq connection URI (postgres://…) or keyword string. Connects
// at once, so that a wrong URL or password is reported at start. Errors never
// contain the URL's password.
Expected<std::unique_ptr<sql::Connection>> open_pg_connection(const std::string& url,
                                                              const PgConnectOptions& options);

// The URL with any password removed (for logs and status lines).
std::string redact_pg_url(const std::string& url);

}  // namespace gh::store
