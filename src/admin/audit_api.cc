#include "admin/audit_api.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>

#include "admin/replies.h"
#include "base/duration.h"

namespace gh::admin {

namespace {

using Json = nlohmann::json;

// A time filter: RFC 3339 (…Z), or a duration back from now.
std::optional<std::int64_t> time_param(const std::string& v) {
  if (v.empty()) return 0;
  const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  if (auto d = parse_duration(v)) {
    // Back from now, to 1970 at most: a longer one reaches before any record
    // (and past the range of the microsecond clock): refused, not wrapped.
    if (d->count() > now_us / 1000) return std::nullopt;
    return now_us - d->count() * 1000;
  }
  std::tm tm{};
  const char* rest = strptime(v.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) return std::nullopt;
  std::int64_t frac_us = 0;
  if (*rest == '.') {
    ++rest;
    std::int64_t scale = 100'000;
    while (*rest >= '0' && *rest <= '9') {
      frac_us += (*rest - '0') * scale;
      scale /= 10;
      ++rest;
    }
  }
  if (std::string(rest) != "Z") return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm)) * 1'000'000 + frac_us;
}

Json session_json(const audit::SessionRecord& s) {
  return {{"id", s.id},
          {"replica", s.replica},
          {"identity", s.subject},
          {"groups", s.groups},
          {"issuer", s.issuer},
          {"client", s.client_addr},
          {"tls", s.tls},
          {"listener", s.listener},
          {"connection", s.connection},
          {"protocol", s.protocol},
          {"user_label", s.user_label},
          {"application_name", s.application_name},
          {"started_at", rfc3339(s.started_at_us, true)},
          {"ended_at", rfc3339(s.ended_at_us, true)},
          {"end_reason", s.end_reason},
          {"bytes_from_client", s.bytes_from_client},
          {"bytes_to_client", s.bytes_to_client},
          {"statements", s.statements}};
}

Json statement_json(const audit::StatementRecord& r) {
  Json j = {{"session_id", r.session_id},
            {"identity", r.subject},
            {"connection", r.connection},
            {"seq", r.seq},
            {"at", rfc3339(r.at_us, true)},
            {"at_us", r.at_us},
            {"duration_us", r.duration_us},
            {"text", r.text},
            {"protocol", r.protocol_path},
            {"outcome", r.outcome},
            {"command_tag", r.command_tag},
            {"kind", r.kind},
            {"class", r.cls},
            {"tables", r.tables},
            {"functions", r.functions},
            {"decision", r.decision},
            {"rule", r.rule},
            {"policy_version", r.policy_version},
            {"withheld", r.withheld}};
  if (r.rows >= 0) j["rows"] = r.rows;
  if (!r.error_code.empty()) j["error"] = {{"code", r.error_code}, {"message", r.error_message}};
  if (!r.approval_id.empty()) j["approval_id"] = r.approval_id;
  if (auto m = Json::parse(r.masked_json, nullptr, false); m.is_object()) j["masked"] = m;
  if (auto res = Json::parse(r.result_json, nullptr, false); res.is_object()) j["result"] = res;
  if (auto p = Json::parse(r.params_json, nullptr, false); p.is_array()) j["params"] = p;
  return j;
}

}  // namespace

std::optional<HttpResponse> handle_audit(audit::Reader* reader, const model::Principal& caller,
                                         bool sees_all, const std::string& method,
                                         const std::string& path, const std::string& query) {
  const bool sessions = path == "/v1/sessions" || path.starts_with("/v1/sessions/");
  if (!sessions && path != "/v1/audit/search") return std::nullopt;
  if (method != "GET") return error(405, "use GET");
  if (reader == nullptr) return error(503, "the audit trail cannot be read on this gateway");
  auto params = parse_query(query);
  if (!params) return error(400, "malformed query string");
  auto param = [&](const char* k) {
    auto it = params->find(k);
    return it == params->end() ? std::string() : it->second;
  };
  // An identity is (issuer, subject): `identity` names the subject and
  // `issuer` (optional for auditors) the issuer.
  std::string identity = param("identity");
  std::string issuer = param("issuer");
  // Anyone else sees their own sessions only.
  if (!sees_all) {
    if ((!identity.empty() && identity != caller.subject) ||
        (!issuer.empty() && issuer != caller.issuer))
      return error(403, "you may see only your own sessions (auditors see all)");
    identity = caller.subject;
    issuer = caller.issuer;
  }
  auto since = time_param(param("since"));
  auto until = time_param(param("until"));
  if (!since || !until)
    return error(400,
                 "since/until: an RFC 3339 time (2026-01-02T03:04:05Z) or a duration back from "
                 "now (1h), no further back than 1970");
  std::size_t limit = 0;
  if (auto l = param("limit"); !l.empty()) {
    if (l.size() > 7 || l.find_first_not_of("0123456789") != std::string::npos || l == "0")
      return error(400, "limit: a number from 1 to 1000000");
    limit = std::stoul(l);
  }

  if (path == "/v1/sessions") {
    audit::SessionQuery q;
    q.subject = identity;
    q.issuer = issuer;
    q.connection = param("connection");
    q.group = param("group");
    q.since_us = *since;
    q.until_us = *until;
    if (limit) q.limit = limit;
    auto found = reader->sessions(q);
    if (!found) return error(500, found.error());
    Json out = Json::array();
    for (const auto& s : *found) out.push_back(session_json(s));
    return reply(200, out);
  }
  if (sessions) {
    const std::string id = path.substr(std::string("/v1/sessions/").size());
    auto s = reader->session(id);
    if (!s) return error(500, s.error());
    // A session the caller may not see is answered like a missing one.
    if (!*s || (!sees_all && ((*s)->subject != caller.subject || (*s)->issuer != caller.issuer)))
      return error(404, "no session " + id);
    auto statements = reader->transcript(id);
    if (!statements) return error(500, statements.error());
    Json j = session_json(**s);
    j["transcript"] = Json::array();
    for (const auto& r : *statements) j["transcript"].push_back(statement_json(r));
    return reply(200, j);
  }
  audit::StatementQuery q;
  q.subject = identity;
  q.issuer = issuer;
  q.group = param("group");
  q.connection = param("connection");
  q.table = param("table");
  q.kind = param("kind");
  q.decision = param("decision");
  q.rule = param("rule");
  q.outcome = param("outcome");
  q.text = param("text");
  q.session_id = param("session");
  q.since_us = *since;
  q.until_us = *until;
  if (limit) q.limit = limit;
  auto found = reader->search(q);
  if (!found) return error(500, found.error());
  Json out = Json::array();
  for (const auto& r : *found) out.push_back(statement_json(r));
  return reply(200, out);
}

}  // namespace gh::admin
