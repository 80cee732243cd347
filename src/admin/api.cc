#include "admin/api.h"
#include "base/bytes.h"
#include "base/utf8.h"

#include "admin/audit_api.h"
#include "admin/replies.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "admin/control.h"
#include "admin/openapi.h"
#include "base/duration.h"
#include "gateway/metrics.h"

namespace gh::admin {

std::string rfc3339(std::int64_t us, bool micros) {
  if (us <= 0) return "";
  std::time_t t = static_cast<std::time_t>(us / 1'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  if (micros)
    std::snprintf(buf + n, sizeof buf - n, ".%06lldZ", static_cast<long long>(us % 1'000'000));
  else
    std::snprintf(buf + n, sizeof buf - n, "Z");
  return buf;
}

namespace {

using Json = nlohmann::json;

std::string duration_text(std::int64_t seconds) {
  if (seconds % 86400 == 0) return std::to_string(seconds / 86400) + "d";
  if (seconds % 3600 == 0) return std::to_string(seconds / 3600) + "h";
  if (seconds % 60 == 0) return std::to_string(seconds / 60) + "m";
  return std::to_string(seconds) + "s";
}

Json request_json(const approvals::Request& r) {
  Json reviews = Json::array();
  for (const auto& rv : r.reviews)
    reviews.push_back({{"subject", rv.subject},
                       {"decision", rv.approve ? "approve" : "deny"},
                       {"reason", rv.reason},
                       {"at", rfc3339(rv.at_us)}});
  const bool connect = r.binding.kind == approvals::Binding::Kind::kConnect;
  Json j = {{"id", r.id},
            {"status", std::string(approvals::status_name(r.status))},
            {"rule", r.rule},
            {"kind", connect ? "connect" : "statement"},
            {"mode", r.mode == approvals::Mode::kWait ? "wait" : "reject"},
            {"requester", r.requester.subject},
            {"connection", r.binding.connection},
            {"statement", r.statement},
            {"session_id", r.session_id},
            {"reason", r.reason},
            {"created_at", rfc3339(r.created_at_us)},
            {"expires_at", rfc3339(r.expires_at_us)},
            {"decided_at", rfc3339(r.decided_at_us)},
            {"approvals", r.approvals()},
            {"reviews", reviews},
            {"approvers", {{"groups", r.approver_groups}, {"count", r.count}}},
            {"grant", r.grant_seconds == 0 ? "once" : duration_text(r.grant_seconds)},
            {"grant_until", rfc3339(r.grant_until_us)},
            {"text_hash", r.binding.text_hash},
            {"params_hash", r.binding.params_hash},
            {"policy_version", r.binding.policy_version}};
  return j;
}

bool in_any(const model::Principal& who, const std::vector<std::string>& groups) {
  return std::any_of(groups.begin(), groups.end(),
                     [&](const std::string& g) { return who.in_group(g); });
}

approvals::Person person_of(const model::Principal& p) {
  return approvals::Person{p.subject, p.issuer, p.issued_by, p.groups};
}

}  // namespace

struct Call {
  gateway::Services& services;
  std::string path;
  std::string query;
  std::string param;                         // the route's `{…}` segment, when it has one
  const model::Principal* caller = nullptr;  // the verified caller, when the route needs one
  bool admin = false;
  bool auditor = false;
  Json body = Json::object();  // kCaller routes: the JSON object sent (empty when none)
};

namespace {

// Without a token ---------------------------------------------------------------

HttpResponse healthz(Call&) {
  return reply(200, Json{{"status", "ok"}});
}

// Ready for traffic: the audit store takes records (else new sessions are
// refused), a policy is in force, and the listeners accept connections.
HttpResponse readyz(Call& c) {
  auto& s = c.services;
  Json checks = Json::object();
  Json not_ready = Json::array();
  auto check = [&](const char* name, bool ok, const std::string& detail) {
    checks[name] = {{"ok", ok}, {"detail", detail}};
    if (!ok) not_ready.push_back(name);
  };
  const bool audit = s.audit_accepting();
  const auto spooled = s.audit_stats().spool_bytes;
  check("audit", audit,
        !s.audit_enabled() ? "off (gateway.audit: off)"
        : !audit           ? "not accepting records (queue full, or neither the store nor the "
                             "spool takes them): new sessions are refused"
        : spooled > 0      ? "accepting records; " + std::to_string(spooled) +
                            " bytes wait in the spool because the store does not take them"
                      : "accepting records");
  const bool policy = s.policy() != nullptr && s.policy_version() > 0;
  check(
      "policy", policy,
      policy ? "version " + std::to_string(s.policy_version()) + " in force" : "no policy loaded");
  const bool listening = s.listening();
  check("listeners", listening, listening ? "accepting connections" : "not accepting connections");
  const bool ready = not_ready.empty();
  return reply(ready ? 200 : 503, Json{{"status", ready ? "ready" : "not ready"},
                                       {"checks", checks},
                                       {"not_ready", not_ready}});
}

HttpResponse metrics(Call& c) {
  return {200, gateway::render_metrics(c.services), "text/plain; version=0.0.4; charset=utf-8"};
}

HttpResponse jwks(Call& c) {
  if (!c.services.tokens()) return error(404, "gateway tokens are not set up");
  return {200, c.services.tokens()->jwks_json()};
}

HttpResponse openapi(Call&) {
  return {200, std::string(openapi_json())};
}

// Reviews -------------------------------------------------------------------------

bool may_see(const Call& c, const approvals::Request& r) {
  return c.admin || c.auditor ||
         (r.requester.subject == c.caller->subject && r.requester.issuer == c.caller->issuer) ||
         in_any(*c.caller, r.approver_groups);
}

HttpResponse list_reviews(Call& c) {
  auto params = parse_query(c.query);
  if (!params) return error(400, "malformed query string");
  const std::string status = (*params)["status"];
  const auto visible = [&](const approvals::Request& r) {
    if (!status.empty() && approvals::status_name(r.status) != status) return false;
    return may_see(c, r);
  };
  auto list = c.services.approvals().list(visible);
  // Replicas sharing the store: their requests too, reviewed through them.
  if (auto* peers = c.services.peers()) {
    auto others = peers->requests();
    if (!others)
      return error(503, "the other replicas' requests cannot be read: " + others.error());
    std::set<std::string> here;
    for (const auto& r : list) here.insert(r.id);
    for (auto& r : *others)  // a grant honoured here is listed once
      if (visible(r) && !here.count(r.id)) list.push_back(std::move(r));
  }
  Json out = Json::array();
  for (const auto& r : list) out.push_back(request_json(r));
  return reply(200, out);
}

HttpResponse show_review(Call& c) {
  auto r = c.services.approvals().get(c.param);
  if (!r && c.services.peers()) {
    auto other = c.services.peers()->request(c.param);
    if (!other) return error(503, "the other replicas' requests cannot be read: " + other.error());
    r = std::move(*other);
  }
  // Requests the caller may not see are answered like missing ones.
  if (!r || !may_see(c, *r)) return error(404, "no request " + c.param);
  return reply(200, request_json(*r));
}

HttpResponse decide_review(Call& c, bool approve) {
  std::string why;
  auto reason = string_field(c.body, "reason", why);
  if (!reason) return error(400, why);
  if (!approve && reason->empty()) return error(400, "a denial needs a reason (\"reason\")");
  const std::string& id = c.param;
  const approvals::Person reviewer = person_of(*c.caller);
  auto r = c.services.approvals().review(id, reviewer, approve, *reason);
  // Not raised here: the replica holding it decides (segregation of duties
  // is checked there, by its broker) and answers through the shared store.
  if (!r && r.error().code == approvals::ReviewRefusal::kNotFound && c.services.peers())
    r = c.services.peers()->review(id, reviewer, approve, *reason);
  if (!r) {
    const auto code = r.error().code;
    const int status = code == approvals::ReviewRefusal::kNotFound          ? 404
                       : code == approvals::ReviewRefusal::kAlreadyDecided  ? 409
                       : code == approvals::ReviewRefusal::kAlreadyReviewed ? 409
                       : code == approvals::ReviewRefusal::kUnavailable     ? 503
                                                                            : 403;
    spdlog::info("review of {} by {} refused: {}", id, c.caller->subject, r.error().message);
    return error(status, r.error().message);
  }
  return reply(200, request_json(*r));
}

HttpResponse approve_review(Call& c) {
  return decide_review(c, true);
}
HttpResponse deny_review(Call& c) {
  return decide_review(c, false);
}

// Access windows ------------------------------------------------------------------

HttpResponse request_access(Call& c) {
  std::string why;
  auto connection = string_field(c.body, "connection", why);
  auto window = duration_field(c.body, "for", why);
  auto reason = string_field(c.body, "reason", why);
  if (!connection || !window || !reason) return error(400, why);
  if (connection->empty()) return error(400, "\"connection\" is required");
  const model::Principal& who = *c.caller;
  auto& services = c.services;
  const auto* rule = approvals::match_connect(*services.approval_rules(), who, *connection);
  if (!services.config().find_connection(*connection) || rule == nullptr)
    return error(404, "no approval rule grants access windows to " + *connection +
                          " for you; connect directly if your access rules allow it");
  approvals::Binding b;
  b.kind = approvals::Binding::Kind::kConnect;
  b.subject = who.subject;
  b.issuer = who.issuer;
  b.connection = *connection;
  std::optional<std::chrono::seconds> asked;
  if (window->count() > 0) asked = *window;
  auto raised = services.approvals().raise(b, *rule, person_of(who), "connect to " + *connection,
                                           "", *reason, asked);
  if (!raised) return error(429, raised.error());
  if (raised->created)
    services.counters().approvals_requested.fetch_add(1, std::memory_order_relaxed);
  return reply(raised->created ? 201 : 200, request_json(raised->request));
}

// Tokens ----------------------------------------------------------------------------

// POST /v1/tokens (issue, admins) and /v1/tokens/exchange (an IdP token in).
HttpResponse mint_token(Call& c, bool exchange) {
  auto* tokens = c.services.tokens();
  if (!tokens) return error(503, "gateway tokens are not set up");
  const model::Principal& who = *c.caller;
  std::string why;
  auto groups = string_list(c.body, "groups", why);
  auto connections = string_list(c.body, "connections", why);
  auto ttl = duration_field(c.body, "ttl", why);
  if (!groups || !connections || !ttl) return error(400, why);
  const auto max_ttl = tokens->settings().max_ttl;
  gateway::TokenClaims claims;
  claims.connections = *connections;
  for (const auto& conn : claims.connections)
    if (!c.services.config().find_connection(conn)) return error(400, "no connection " + conn);
  std::string action;
  if (!exchange) {
    if (!c.admin) return error(403, "only admins may issue tokens");
    auto subject = string_field(c.body, "subject", why);
    if (!subject) return error(400, why);
    if (subject->empty()) return error(400, "\"subject\" is required");
    claims.subject = *subject;
    claims.groups = *groups;
    claims.ttl = ttl->count() > 0 ? *ttl : std::chrono::seconds(900);
    claims.issued_by = who.subject;
    action = "issued";
  } else {
    // Scope and lifetime are never wider than the token presented.
    if (who.gateway_token)
      return error(400,
                   "exchange takes a token from your identity provider, not a gateway "
                   "token");
    for (const auto& g : *groups)
      if (!who.in_group(g)) return error(403, "the presented token does not carry group " + g);
    claims.subject = who.subject;
    claims.groups = groups->empty() ? who.groups : *groups;
    // The identity stays the one presented: its issuer, and every group it
    // had for the rules that restrict it (guardrails, approval rules), so
    // that dropping a group narrows what the token grants and nothing else.
    claims.origin_issuer = who.issuer;
    claims.origin_groups = who.origin_groups;
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const std::chrono::seconds left(std::max<std::int64_t>(0, who.expires_at - now));
    auto life = ttl->count() > 0 ? *ttl : max_ttl;
    if (life > max_ttl) return error(400, "ttl is over identity.gateway_tokens.max_ttl");
    life = std::min(life, left);
    if (life.count() < 1) return error(401, "the presented token has expired");
    claims.ttl = life;
    action = "exchanged";
  }
  auto minted = tokens->mint(claims);
  if (!minted) return error(400, minted.error());
  c.services.record_token(action, who.subject, claims, *minted);
  Json out = {{"token", minted->token},
              {"subject", claims.subject},
              {"groups", claims.groups},
              {"connections", claims.connections},
              {"expires_at", rfc3339(minted->expires_at * 1'000'000)},
              {"kid", minted->kid}};
  return reply(200, out);
}

HttpResponse issue_token(Call& c) {
  return mint_token(c, false);
}
HttpResponse exchange_token(Call& c) {
  return mint_token(c, true);
}

HttpResponse rotate_key(Call& c) {
  if (!c.services.tokens()) return error(503, "gateway tokens are not set up");
  if (!c.admin) return error(403, "only admins may rotate the signing key");
  auto kid = c.services.rotate_signing_key(c.caller->subject);
  if (!kid) return error(500, kid.error());
  return reply(200, Json{{"kid", *kid}});
}

// Operations ------------------------------------------------------------------------

// reload, pause, resume (admins) and status (admins and auditors): the
// control socket's commands.
HttpResponse control(Call& c) {
  const std::string command = c.path.substr(4);  // after "/v1/"
  if (!c.admin && !(command == "status" && c.auditor)) return error(403, "only admins may do this");
  const std::string out =
      run_control_command(c.services, command, "admin API (" + c.caller->subject + ")");
  const bool ok = out.starts_with("ok");
  return reply(ok ? 200 : 409, Json{{"ok", ok}, {"output", out}});
}

// The audit trail (audit_api.h): auditors and admins see every session.
HttpResponse audit_trail(Call& c) {
  return *handle_audit(c.services.audit_reader(), *c.caller, c.admin || c.auditor, "GET", c.path,
                       c.query);
}

// A request's path as logs show it: without the query (which may carry
// anything), bounded. The log's formatter escapes what is not text.
std::string shown_path(const std::string& target) {
  return std::string(utf8_prefix(std::string_view(target).substr(0, target.find('?')), 200));
}

}  // namespace

namespace {

HttpResponse dispatch(Endpoint e, Call& c) {
  switch (e) {
    case Endpoint::kHealthz:
      return healthz(c);
    case Endpoint::kReadyz:
      return readyz(c);
    case Endpoint::kMetrics:
      return metrics(c);
    case Endpoint::kJwks:
      return jwks(c);
    case Endpoint::kOpenApi:
      return openapi(c);
    case Endpoint::kListReviews:
      return list_reviews(c);
    case Endpoint::kShowReview:
      return show_review(c);
    case Endpoint::kApproveReview:
      return approve_review(c);
    case Endpoint::kDenyReview:
      return deny_review(c);
    case Endpoint::kRequestAccess:
      return request_access(c);
    case Endpoint::kIssueToken:
      return issue_token(c);
    case Endpoint::kExchangeToken:
      return exchange_token(c);
    case Endpoint::kRotateKey:
      return rotate_key(c);
    case Endpoint::kControl:
      return control(c);
    case Endpoint::kAuditTrail:
      return audit_trail(c);
  }
  return error(500, "internal error; the gateway's log has the details");
}

}  // namespace

HttpResponse Api::handle(const HttpRequest& req) {
  std::string ignored;
  return *answer(req, false, ignored);
}

std::optional<HttpResponse> Api::answer(const HttpRequest& req, bool may_refresh,
                                        std::string& refresh_issuer) {
  auto routed = route_request(req.method, req.target, req.body.size());
  if (!routed) return error(routed.error().status, routed.error().message);
  const Route* route = routed->route;
  std::string path = std::move(routed->path);
  std::string query = std::move(routed->query);
  std::string param = std::move(routed->param);
  try {
    return handle_route(*route, req, std::move(path), std::move(query), std::move(param),
                        may_refresh, refresh_issuer);
  } catch (const std::exception& e) {
    // A handler's failure is the gateway's, never the caller's silence.
    spdlog::error("admin API: {} {} failed: {}", req.method, shown_path(req.target), e.what());
    return error(500, "internal error; the gateway's log has the details");
  } catch (...) {
    spdlog::error("admin API: {} {} failed", req.method, shown_path(req.target));
    return error(500, "internal error; the gateway's log has the details");
  }
}

std::optional<HttpResponse> Api::handle_route(const Route& route_ref, const HttpRequest& req,
                                              std::string path, std::string query,
                                              std::string param, bool may_refresh,
                                              std::string& refresh_issuer) {
  const Route* route = &route_ref;
  Call call{services_, std::move(path), std::move(query), std::move(param)};
  const bool token =
      route->access == Access::kCaller ||
      (route->access == Access::kMetrics && services_.config().gateway.admin.metrics_need_token);
  if (!token) return dispatch(route->endpoint, call);

  // The caller's own verified token ---------------------------------------------
  if (req.bearer.empty())
    return error(401,
                 "no token: send Authorization: Bearer <token> (gatehouse reads "
                 "$GATEHOUSE_TOKEN or --token-file)");
  auto caller = services_.verifier().verify(req.bearer);
  // OIDC discovery: a token naming a key its issuer's keys lack may be signed
  // with a key published since the last fetch. The server fetches them
  // without holding its thread (others are answered meanwhile) and asks again.
  if (!caller && caller.error().code == identity::RefusalCode::kUnknownKid &&
      !caller.error().issuer.empty() && may_refresh) {
    refresh_issuer = caller.error().issuer;
    return std::nullopt;
  }
  if (!caller) {
    // The whole reason is for the gateway's log; the caller, who has not
    // proved who they are, learns the kind of refusal and no configuration.
    spdlog::info("admin API: {} {} from {}: token rejected: {}", req.method, shown_path(req.target),
                 req.peer, caller.error().reason);
    return error(401, "token rejected: " + identity::public_reason(caller.error()));
  }
  call.caller = &*caller;
  const auto& roles = services_.config().roles;
  call.admin = in_any(*caller, roles.admins);
  call.auditor = in_any(*caller, roles.auditors);
  auto body = parse_body(req.body);
  if (!body) return error(400, body.error());
  call.body = std::move(*body);
  return dispatch(route->endpoint, call);
}

}  // namespace gh::admin
