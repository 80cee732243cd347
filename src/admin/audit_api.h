// The audit trail over the admin API: recorded sessions, a session's
// transcript (what `gatehouse sessions replay` prints), and statement search.
// Auditors and admins see everything; anyone else sees only their own sessions.
//
//   GET /v1/sessions[?identity=&connection=&group=&since=&until=&limit=]
//   GET /v1/sessions/{id}                 the session and its statements in order
//   GET /v1/audit/search[?identity=&group=&connection=&table=&kind=&decision=
//                         &rule=&outcome=&text=&session=&since=&until=&limit=]
//
// since/until: RFC 3339 times or durations back from now (`1h`, `7d`).
#pragma once

#include <optional>
#include <string>

#include "admin/api.h"
#include "audit/reader.h"
#include "model/principal.h"

namespace gh::admin {

// The answer for an audit route, or nullopt when `path` is not one.
std::optional<HttpResponse> handle_audit(audit::Reader* reader, const model::Principal& caller,
                                         bool sees_all, const std::string& method,
                                         const std::string& path, const std::string& query);

}  // namespace gh::admin
