#include "admin/api.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>

#include "admin/control.h"
#include "base/duration.h"

namespace gh::admin {

namespace {

using Json = nlohmann::json;

constexpr std::size_t kMaxBody = 64 * 1024;
// How long a request waits for an issuer's keys to be fetched again.
constexpr auto kKeyRefreshWait = std::chrono::seconds(5);

HttpResponse reply(int status, Json body) {
  return {status, body.dump()};
}

HttpResponse error(int status, const std::string& message) {
  return reply(status, Json{{"error", message}});
}

std::string rfc3339(std::int64_t us) {
  if (us <= 0) return "";
  std::time_t t = static_cast<std::time_t>(us / 1'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

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

// Parses a JSON body: an object, or nothing (an empty object).
std::optional<Json> body_json(const HttpRequest& req, std::string& why) {
  if (req.body.empty()) return Json::object();
  Json j = Json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    why = "the body is not a JSON object";
    return std::nullopt;
  }
  return j;
}

std::optional<std::vector<std::string>> string_list(const Json& j, const char* key,
                                                    std::string& why) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::vector<std::string>{};
  if (!it->is_array()) {
    why = std::string("\"") + key + "\" must be an array of strings";
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const auto& v : *it) {
    if (!v.is_string() || v.get<std::string>().empty()) {
      why = std::string("\"") + key + "\" must be an array of non-empty strings";
      return std::nullopt;
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::optional<std::string> string_field(const Json& j, const char* key, std::string& why) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    why = std::string("\"") + key + "\" must be a string";
    return std::nullopt;
  }
  return it->get<std::string>();
}

std::optional<std::chrono::seconds> duration_field(const Json& j, const char* key,
                                                   std::string& why) {
  auto s = string_field(j, key, why);
  if (!s) return std::nullopt;
  if (s->empty()) return std::chrono::seconds(0);
  auto d = parse_duration(*s);
  if (!d || d->count() < 1000) {
    why = std::string("\"") + key + "\" is not a duration of at least 1s (e.g. 15m, 1h)";
    return std::nullopt;
  }
  return std::chrono::duration_cast<std::chrono::seconds>(*d);
}

// OIDC discovery: a token that names a key its issuer's keys lack may be
// signed with a key published since the last fetch. Api::handle is
// synchronous and runs on the admin thread (never an I/O thread), so it waits
// here, bounded, for the one refresh it asks for. True when new keys are in
// place and the token is worth verifying again.
bool refreshed_keys(gateway::Services& services, const std::string& issuer) {
  auto promise = std::make_shared<std::promise<bool>>();
  auto answer = promise->get_future();
  // The promise is shared: the answer may come after this wait gave up.
  services.refresh_issuer_keys(issuer, [promise](bool fresh) { promise->set_value(fresh); });
  return answer.wait_for(kKeyRefreshWait) == std::future_status::ready && answer.get();
}

}  // namespace

HttpResponse Api::handle(const HttpRequest& req) {
  std::string path = req.target;
  std::string query;
  if (auto q = path.find('?'); q != std::string::npos) {
    query = path.substr(q + 1);
    path.resize(q);
  }
  if (req.body.size() > kMaxBody) return error(413, "request body too large");

  // --- Without a token ------------------------------------------------------
  if (req.method == "GET" && path == "/healthz") return reply(200, Json{{"status", "ok"}});
  if (req.method == "GET" && path == "/.well-known/jwks.json") {
    if (!services_.tokens()) return error(404, "gateway tokens are not set up");
    return {200, services_.tokens()->jwks_json()};
  }

  // --- Everything else: the caller's own verified token ---------------------
  if (req.bearer.empty())
    return error(401,
                 "no token: send Authorization: Bearer <token> (gatehouse reads "
                 "$GATEHOUSE_TOKEN or --token-file)");
  auto caller = services_.verifier().verify(req.bearer);
  if (!caller && caller.error().code == identity::RefusalCode::kUnknownKid &&
      !caller.error().issuer.empty() && refreshed_keys(services_, caller.error().issuer))
    caller = services_.verifier().verify(req.bearer);
  if (!caller) return error(401, "token rejected: " + caller.error().reason);
  const model::Principal& who = *caller;
  const auto& roles = services_.config().roles;
  const bool admin = in_any(who, roles.admins);
  const bool auditor = in_any(who, roles.auditors);
  std::string why;
  auto body = body_json(req, why);
  if (!body) return error(400, why);

  // Reviews -------------------------------------------------------------------
  static constexpr std::string_view kReviews = "/v1/reviews";
  if (path == kReviews && req.method == "GET") {
    std::string status;
    if (query.starts_with("status=")) status = query.substr(7);
    auto list = services_.approvals().list([&](const approvals::Request& r) {
      if (!status.empty() && approvals::status_name(r.status) != status) return false;
      return admin || auditor || r.requester.subject == who.subject ||
             in_any(who, r.approver_groups);
    });
    Json out = Json::array();
    for (const auto& r : list) out.push_back(request_json(r));
    return reply(200, out);
  }
  if (path.starts_with(std::string(kReviews) + "/")) {
    std::string rest = path.substr(kReviews.size() + 1);
    std::string action;
    if (auto slash = rest.find('/'); slash != std::string::npos) {
      action = rest.substr(slash + 1);
      rest.resize(slash);
    }
    const std::string& id = rest;
    if (action.empty() && req.method == "GET") {
      auto r = services_.approvals().get(id);
      // Requests the caller may not see are answered like missing ones.
      if (!r || !(admin || auditor || r->requester.subject == who.subject ||
                  in_any(who, r->approver_groups)))
        return error(404, "no request " + id);
      return reply(200, request_json(*r));
    }
    if ((action == "approve" || action == "deny") && req.method == "POST") {
      auto reason = string_field(*body, "reason", why);
      if (!reason) return error(400, why);
      if (action == "deny" && reason->empty())
        return error(400, "a denial needs a reason (\"reason\")");
      auto r = services_.approvals().review(id, person_of(who), action == "approve", *reason);
      if (!r) {
        const auto code = r.error().code;
        const int status = code == approvals::ReviewRefusal::kNotFound          ? 404
                           : code == approvals::ReviewRefusal::kAlreadyDecided  ? 409
                           : code == approvals::ReviewRefusal::kAlreadyReviewed ? 409
                                                                                : 403;
        spdlog::info("review of {} by {} refused: {}", id, who.subject, r.error().message);
        return error(status, r.error().message);
      }
      return reply(200, request_json(*r));
    }
    return error(405, "use GET /v1/reviews/{id}, POST /v1/reviews/{id}/approve or /deny");
  }

  // Access windows -------------------------------------------------------------
  if (path == "/v1/access-requests" && req.method == "POST") {
    auto connection = string_field(*body, "connection", why);
    auto window = duration_field(*body, "for", why);
    auto reason = string_field(*body, "reason", why);
    if (!connection || !window || !reason) return error(400, why);
    if (connection->empty()) return error(400, "\"connection\" is required");
    const auto* rule = approvals::match_connect(*services_.approval_rules(), who, *connection);
    if (!services_.config().find_connection(*connection) || rule == nullptr)
      return error(404, "no approval rule grants access windows to " + *connection +
                            " for you; connect directly if your access rules allow it");
    approvals::Binding b;
    b.kind = approvals::Binding::Kind::kConnect;
    b.subject = who.subject;
    b.connection = *connection;
    std::optional<std::chrono::seconds> asked;
    if (window->count() > 0) asked = *window;
    auto raised = services_.approvals().raise(b, *rule, person_of(who), "connect to " + *connection,
                                              "", *reason, asked);
    if (!raised) return error(429, raised.error());
    if (raised->created)
      services_.counters().approvals_requested.fetch_add(1, std::memory_order_relaxed);
    return reply(raised->created ? 201 : 200, request_json(raised->request));
  }

  // Tokens -----------------------------------------------------------------------
  if (path == "/v1/tokens" || path == "/v1/tokens/exchange" || path == "/v1/keys/rotate") {
    if (req.method != "POST") return error(405, "use POST");
    auto* tokens = services_.tokens();
    if (!tokens) return error(503, "gateway tokens are not set up");
    if (path == "/v1/keys/rotate") {
      if (!admin) return error(403, "only admins may rotate the signing key");
      auto kid = services_.rotate_signing_key(who.subject);
      if (!kid) return error(500, kid.error());
      return reply(200, Json{{"kid", *kid}});
    }
    auto groups = string_list(*body, "groups", why);
    auto connections = string_list(*body, "connections", why);
    auto ttl = duration_field(*body, "ttl", why);
    if (!groups || !connections || !ttl) return error(400, why);
    const auto max_ttl = tokens->settings().max_ttl;
    gateway::TokenClaims claims;
    claims.connections = *connections;
    for (const auto& c : claims.connections)
      if (!services_.config().find_connection(c)) return error(400, "no connection " + c);
    std::string action;
    if (path == "/v1/tokens") {
      if (!admin) return error(403, "only admins may issue tokens");
      auto subject = string_field(*body, "subject", why);
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
    services_.record_token(action, who.subject, claims, *minted);
    Json out = {{"token", minted->token},
                {"subject", claims.subject},
                {"groups", claims.groups},
                {"connections", claims.connections},
                {"expires_at", rfc3339(minted->expires_at * 1'000'000)},
                {"kid", minted->kid}};
    return reply(200, out);
  }

  // Operations -----------------------------------------------------------------
  if (path == "/v1/reload" || path == "/v1/pause" || path == "/v1/resume" || path == "/v1/status") {
    const bool get = path == "/v1/status";
    if ((get && req.method != "GET") || (!get && req.method != "POST"))
      return error(405, get ? "use GET" : "use POST");
    if (!admin && !(get && auditor)) return error(403, "only admins may do this");
    const std::string command = path.substr(4);
    const std::string out =
        run_control_command(services_, command, "admin API (" + who.subject + ")");
    const bool ok = out.starts_with("ok");
    return reply(ok ? 200 : 409, Json{{"ok", ok}, {"output", out}});
  }
  return error(404, "no such endpoint: " + req.method + " " + path);
}

}  // namespace gh::admin
