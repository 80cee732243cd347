// Audit events: what the gateway records. Protocol-neutral so that every
// adapter (PostgreSQL today, MySQL/SSH/HTTP later) records the same shapes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace gh::model {

struct SessionStart {
  std::string session_id;
  std::int64_t at_us = 0;  // unix microseconds
  std::string replica;
  std::string subject;
  std::vector<std::string> groups;
  std::string issuer;
  std::string token_hash;
  std::string client_addr;
  bool tls = false;
  std::string listener;
  std::string connection;
  std::string protocol;
  std::string user_label;  // what the client called itself; never trusted
  std::string application_name;
};

// How the policy decided a statement: what analysis found and which rule
// decided, under which policy version.
// A COPY … TO STDOUT inside a statement: what it sends and how, for masking.
struct CopyOut {
  std::string table;                 // schema.table; empty for COPY (query)
  std::vector<std::string> columns;  // as listed; empty = every column of the table
  bool csv = false;
  char delimiter = '\t';
  char quote = '"';
};

struct StatementDecision {
  std::string kind;  // statement kind (config.md vocabulary); "unknown" when unanalyzable
  std::string cls;   // action class
  std::vector<std::string> tables;     // relations as written (schema-qualified when it was)
  std::vector<std::string> functions;  // functions called
  std::string decision;                // "allow" | "deny"
  std::string rule;                    // the rule that decided
  std::uint64_t policy_version = 0;
  std::string approval_id;         // the approval request whose grant let it run
  std::vector<CopyOut> copy_outs;  // not recorded: what masking needs to follow COPY output
};

// How many values one masking rule masked in a statement's results (never the values).
struct MaskCount {
  std::string rule;
  std::int64_t values = 0;
};

struct StatementEvent {
  std::string session_id;
  std::int64_t seq = 0;
  std::int64_t at_us = 0;
  std::int64_t duration_us = 0;
  std::string text;
  std::string protocol_path;  // "simple" | "extended" | "function_call"
  std::int64_t rows = -1;     // -1 when the outcome carries no row count
  std::string outcome;        // "ok" | "error" | "skipped" | "cancelled" | "interrupted"
  std::string command_tag;    // e.g. "SELECT 3"
  std::string error_code;     // SQLSTATE when outcome is error
  std::string error_message;
  StatementDecision decision;     // empty kind when no decision was made (e.g. a skipped Execute)
  std::vector<MaskCount> masked;  // per masking rule, in the session's rule order
  std::int64_t withheld = 0;      // values that could not be masked and were not sent
  // With `recording.results: masked`: the result as the client saw it (after
  // masking), up to max_rows_per_statement rows. JSON: {"columns": [...],
  // "rows": [[text or null, ...]], "truncated": bool}; empty when not kept.
  std::string result;
  // Extended protocol: the Execute's bound parameters as recorded — masked
  // like the text, long ones cut short; nullopt for NULL. Empty otherwise.
  std::vector<std::optional<std::string>> params;
};

// With `recording.audit_durability: sync`: a statement the gateway is about
// to forward, written (durably) before the server sees it. Its outcome follows
// as a StatementEvent once the server answered; a statement with an intent and
// no outcome is one the gateway was stopped in the middle of.
struct StatementIntent {
  std::string session_id;
  std::int64_t seq = 0;  // per session, in the order statements were forwarded
  std::int64_t at_us = 0;
  std::string text;            // masked, as recorded statements are
  std::string protocol_path;   // "simple" | "extended" | "function_call"
  StatementDecision decision;  // empty kind when nothing decided it (an Execute)
};

struct SessionEnd {
  std::string session_id;
  std::int64_t at_us = 0;
  std::string reason;  // "client closed" | "upstream lost: …" | …
  std::int64_t bytes_from_client = 0;
  std::int64_t bytes_to_client = 0;
  std::int64_t statements = 0;
};

// A connection attempt the gateway refused (bad token, no access, protocol error).
struct ConnectionRefused {
  std::int64_t at_us = 0;
  std::string replica;
  std::string client_addr;
  std::string listener;
  std::string connection;
  std::string subject;     // empty when the token was not verified
  std::string token_hash;  // empty when no token was presented
  std::string sqlstate;
  std::string reason;
};

// A policy (re)load: applied with its version, or refused with the reasons.
struct PolicyEvent {
  std::int64_t at_us = 0;
  std::string replica;
  std::uint64_t version = 0;  // the version now in force
  std::string action;         // "load" | "reload" | "pause" | "resume"
  std::string outcome;        // "applied" | "refused" | "ok"
  std::string detail;         // problems, or what changed
  std::string source;         // "start" | "sighup" | "control socket"
};

// Something that happened to an approval request: created, reviewed (one
// person's approve/deny), decided, used, lapsed, withdrawn.
struct ApprovalEvent {
  std::int64_t at_us = 0;
  std::string replica;
  std::string request_id;
  std::string event;   // created | reviewed | decided | used | lapsed | withdrawn
  std::string status;  // the request's status after it
  std::string rule;
  std::string kind;  // statement | connect
  std::string requester;
  std::string actor;   // who did it (reviewer, requester)
  std::string detail;  // approve/deny and reason, why withdrawn
  std::string connection;
  std::string session_id;
  std::string statement;  // masked, as reviewers saw it
  std::string text_hash;
  std::string params_hash;
  std::uint64_t policy_version = 0;
};

// A token the gateway signed (issued by an admin, or exchanged for an IdP
// token), or a signing-key rotation. Never the token: its hash.
struct TokenEvent {
  std::int64_t at_us = 0;
  std::string replica;
  std::string action;  // issued | exchanged | key_rotated
  std::string actor;   // the caller
  std::string subject;
  std::vector<std::string> groups;
  std::vector<std::string> connections;
  std::int64_t expires_at = 0;  // unix seconds
  std::string token_hash;
  std::string kid;
};

using AuditEvent = std::variant<SessionStart, StatementEvent, SessionEnd, ConnectionRefused,
                                PolicyEvent, ApprovalEvent, TokenEvent, StatementIntent>;

}  // namespace gh::model
