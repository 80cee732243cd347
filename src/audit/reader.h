// Reading the audit trail back: recorded sessions, their statements in order
// (the transcript a replay prints) and a search over statements. Implemented
// by each store (store/sqlite today); the admin API serves it, filtered by
// who asks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/expected.h"

namespace gh::audit {

struct SessionRecord {
  std::string id;
  std::string replica;
  std::string subject;
  std::vector<std::string> groups;
  std::string issuer;
  std::string client_addr;
  bool tls = false;
  std::string listener;
  std::string connection;
  std::string protocol;
  std::string user_label;
  std::string application_name;
  std::int64_t started_at_us = 0;
  std::int64_t ended_at_us = 0;  // 0 while open (or cut short)
  std::string end_reason;
  std::int64_t bytes_from_client = 0;
  std::int64_t bytes_to_client = 0;
  std::int64_t statements = 0;
};

struct StatementRecord {
  std::string session_id;
  std::string subject;  // of the session
  std::string connection;
  std::int64_t seq = 0;
  std::int64_t at_us = 0;
  std::int64_t duration_us = 0;
  std::string text;  // as recorded: masked
  std::string protocol_path;
  std::int64_t rows = -1;
  std::string outcome;
  std::string command_tag;
  std::string error_code;
  std::string error_message;
  std::string kind;
  std::string cls;
  std::vector<std::string> tables;
  std::vector<std::string> functions;
  std::string decision;
  std::string rule;
  std::int64_t policy_version = 0;
  std::string approval_id;
  std::string masked_json;  // {"rule": count}
  std::int64_t withheld = 0;
  std::string result_json;  // recording.results; empty when not kept
  std::string params_json;  // an Execute's parameters, masked (JSON array); empty when none
};

struct SessionQuery {
  std::string subject;     // exact
  std::string issuer;      // exact: with `subject`, one identity
  std::string connection;  // exact
  std::string group;       // the session's principal was in it
  std::int64_t since_us = 0;
  std::int64_t until_us = 0;  // 0: now
  std::size_t limit = 100;
};

struct StatementQuery {
  std::string subject;
  std::string issuer;  // of the session: with `subject`, one identity
  std::string group;
  std::string connection;
  std::string table;     // schema.table (or the name as written) among its tables
  std::string kind;      // statement kind
  std::string decision;  // allow | deny
  std::string rule;
  std::string outcome;  // ok | error | denied | …
  std::string text;     // a substring of the (masked) statement text
  std::string session_id;
  std::int64_t since_us = 0;
  std::int64_t until_us = 0;
  std::size_t limit = 1000;
};

class Reader {
 public:
  virtual ~Reader() = default;
  // Newest first.
  virtual Expected<std::vector<SessionRecord>> sessions(const SessionQuery& q) = 0;
  virtual Expected<std::optional<SessionRecord>> session(const std::string& id) = 0;
  // In the order they ran (seq).
  virtual Expected<std::vector<StatementRecord>> transcript(const std::string& session_id) = 0;
  // Newest first.
  virtual Expected<std::vector<StatementRecord>> search(const StatementQuery& q) = 0;
};

}  // namespace gh::audit
