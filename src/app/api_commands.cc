// The commands that talk to a running gateway's admin API as the caller:
// reviews list/show/approve/deny, access request, token issue/exchange/rotate-key.
#include <CLI/CLI.hpp>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "admin/client.h"
#include "app/commands.h"

namespace gh::app {

namespace {

using Json = nlohmann::json;

std::string env_or(const char* name, const std::string& given) {
  if (!given.empty()) return given;
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

struct ApiCommands {
  std::string gateway, token_file, ca;
  bool json = false;
  std::string id, reason, status, connection, window, subject, groups, ttl, connections;
  CLI::App* list = nullptr;
  CLI::App* show = nullptr;
  CLI::App* approve = nullptr;
  CLI::App* deny = nullptr;
  CLI::App* access_request = nullptr;
  CLI::App* issue = nullptr;
  CLI::App* exchange = nullptr;
  CLI::App* rotate = nullptr;
  CLI::App* sessions_list = nullptr;
  CLI::App* sessions_show = nullptr;
  CLI::App* sessions_replay = nullptr;
  CLI::App* audit_search = nullptr;
  // Audit filters (sessions list, audit search).
  std::string identity, issuer, group, table, kind, decision, rule, outcome, text, since, until,
      session, format = "table";
  int limit = 0;

  void common(CLI::App* sub) {
    sub->add_option("--gateway", gateway, "admin API URL (default $GATEHOUSE_GATEWAY)");
    sub->add_option("--token-file", token_file,
                    "file holding your token (default $GATEHOUSE_TOKEN)");
    sub->add_option("--ca", ca, "CA that signed the gateway's certificate (default $GATEHOUSE_CA)");
  }

  // The caller's token: the file named, else $GATEHOUSE_TOKEN.
  Expected<std::string> token() const {
    if (!token_file.empty()) {
      std::ifstream in(token_file);
      if (!in) return unexpected("cannot read the token file " + token_file);
      std::string t((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
      if (t.empty()) return unexpected("the token file " + token_file + " is empty");
      return t;
    }
    const char* t = std::getenv("GATEHOUSE_TOKEN");
    if (!t || !*t)
      return unexpected(std::string("no token: set $GATEHOUSE_TOKEN or give --token-file"));
    return std::string(t);
  }

  // Calls the API; prints the error line and returns nullopt on failure.
  std::optional<Json> call(const std::string& method, const std::string& path, const Json& body,
                           int& rc) const {
    auto t = token();
    if (!t) {
      std::cerr << "gatehouse: " << t.error() << "\n";
      rc = 2;
      return std::nullopt;
    }
    admin::ApiTarget target{env_or("GATEHOUSE_GATEWAY", gateway), *t, env_or("GATEHOUSE_CA", ca)};
    if (target.url.empty()) {
      std::cerr << "gatehouse: no gateway: set $GATEHOUSE_GATEWAY or give --gateway\n";
      rc = 2;
      return std::nullopt;
    }
    auto reply = admin::api_call(target, method, path, body.is_null() ? "" : body.dump());
    if (!reply) {
      std::cerr << "gatehouse: " << reply.error() << "\n";
      rc = 1;
      return std::nullopt;
    }
    Json j = Json::parse(reply->body, nullptr, false);
    if (reply->status >= 300) {
      std::string why = j.is_object() && j.contains("error") && j["error"].is_string()
                            ? j["error"].get<std::string>()
                            : "HTTP " + std::to_string(reply->status);
      std::cerr << "gatehouse: " << why << "\n";
      rc = 1;
      return std::nullopt;
    }
    if (j.is_discarded()) {
      std::cerr << "gatehouse: the gateway's answer is not JSON\n";
      rc = 1;
      return std::nullopt;
    }
    rc = 0;
    return j;
  }

  static std::string percent_encoded(const std::string& v) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : v) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':') {
        out += static_cast<char>(c);
      } else {
        out += '%';
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
    return out;
  }

  int run_audit_query(int& rc) {
    std::string q;
    auto add = [&](const char* k, const std::string& v) {
      if (!v.empty()) q += (q.empty() ? "?" : "&") + std::string(k) + "=" + percent_encoded(v);
    };
    add("identity", identity);
    add("issuer", issuer);
    add("group", group);
    add("connection", connection);
    add("since", since);
    add("until", until);
    if (limit > 0) add("limit", std::to_string(limit));
    const bool search = static_cast<bool>(*audit_search);
    if (search) {
      add("table", table);
      add("kind", kind);
      add("decision", decision);
      add("rule", rule);
      add("outcome", outcome);
      add("text", text);
      add("session", session);
    }
    auto j =
        call("GET", std::string(search ? "/v1/audit/search" : "/v1/sessions") + q, nullptr, rc);
    if (!j) return rc;
    if (json) {
      std::cout << j->dump(2) << "\n";
    } else if (format == "jsonl") {
      for (const auto& x : *j) std::cout << x.dump() << "\n";
    } else if (search) {
      if (j->empty()) std::cout << "no statements match\n";
      for (const auto& r : *j)
        std::cout << r.value("at", "") << "  " << r.value("identity", "") << "  "
                  << r.value("connection", "") << "  " << r.value("decision", "") << " ("
                  << r.value("rule", "") << ")  " << r.value("outcome", "") << "  "
                  << one_line(r.value("text", ""), 80) << "  [" << r.value("session_id", "") << "#"
                  << r.value("seq", 0) << "]\n";
    } else {
      if (j->empty()) std::cout << "no sessions match\n";
      for (const auto& s : *j)
        std::cout << s.value("id", "") << "  " << s.value("started_at", "") << "  "
                  << s.value("identity", "") << "  " << s.value("connection", "") << "  "
                  << s.value("statements", 0) << " statement(s)  "
                  << (s.value("ended_at", "").empty() ? "open" : s.value("end_reason", "")) << "\n";
    }
    return 0;
  }

  static std::string one_line(std::string s, std::size_t max) {
    for (auto& c : s)
      if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (s.size() > max) s = s.substr(0, max - 3) + "...";
    return s;
  }

  // `sessions show` (the session and a line per statement) or `replay` (the
  // transcript as it happened: offsets, timings, decisions, masked results).
  static void print_session(const Json& s, bool replay) {
    std::cout << "session " << s.value("id", "") << "  " << s.value("identity", "") << " "
              << s["groups"].dump() << " -> " << s.value("connection", "") << " ("
              << s.value("protocol", "") << ") from " << s.value("client", "")
              << (s.value("tls", false) ? ", TLS" : ", plaintext") << "\n"
              << "started " << s.value("started_at", "") << ", "
              << (s.value("ended_at", "").empty()
                      ? std::string("still open")
                      : "ended " + s.value("ended_at", "") + ": " + s.value("end_reason", ""))
              << "; " << s["transcript"].size() << " statement(s)\n";
    const std::int64_t t0 = s["transcript"].empty() ? 0 : s["transcript"][0].value("at_us", 0LL);
    for (const auto& r : s["transcript"]) {
      char head[64];
      std::snprintf(head, sizeof head, "+%.3fs %8.1f ms  ",
                    static_cast<double>(r.value("at_us", 0LL) - t0) / 1e6,
                    static_cast<double>(r.value("duration_us", 0LL)) / 1e3);
      std::string decision = r.value("decision", "");
      if (decision == "deny") decision = "DENY";
      std::cout << head << decision << " (" << r.value("rule", "") << ")  "
                << (replay ? r.value("text", "") : one_line(r.value("text", ""), 100)) << "\n";
      if (!replay) continue;
      const std::string pad = "                     ";
      if (r.contains("params")) {
        std::string line;
        for (const auto& v : r["params"])
          line += (line.empty() ? "" : ", ") +
                  (v.is_null() ? std::string("NULL") : one_line(v.get<std::string>(), 60));
        std::cout << pad << "params: " << line << "\n";
      }
      if (r.contains("approval_id"))
        std::cout << pad << "approved: " << r["approval_id"].get<std::string>() << "\n";
      if (r.contains("error"))
        std::cout << pad << "ERROR " << r["error"].value("code", "") << " "
                  << r["error"].value("message", "") << "\n";
      if (r.contains("result")) {
        const auto& res = r["result"];
        std::string cols;
        for (const auto& c : res.value("columns", Json::array()))
          cols += (cols.empty() ? "" : " | ") + c.get<std::string>();
        if (!cols.empty()) std::cout << pad << cols << "\n";
        for (const auto& row : res.value("rows", Json::array())) {
          std::string line;
          for (const auto& v : row)
            line += (line.empty() ? "" : " | ") +
                    (v.is_null() ? std::string("NULL") : one_line(v.get<std::string>(), 60));
          std::cout << pad << line << "\n";
        }
        if (res.value("truncated", false)) std::cout << pad << "(more rows not recorded)\n";
        if (res.contains("not_recorded"))
          std::cout << pad << "(" << res.value("not_recorded", "") << ")\n";
        if (res.value("withheld", false)) std::cout << pad << "(result withheld)\n";
      }
      std::string tail = r.value("command_tag", "");
      if (r.contains("masked"))
        tail += (tail.empty() ? "" : ", ") + std::string("masked ") + r["masked"].dump();
      if (!tail.empty()) std::cout << pad << tail << "\n";
    }
  }

  static void print_request(const Json& r) {
    std::cout << "request " << r.value("id", "") << "  " << r.value("status", "") << "\n"
              << "  rule:       " << r.value("rule", "") << " (" << r.value("kind", "") << ", "
              << r.value("mode", "") << ", grant " << r.value("grant", "") << ")\n"
              << "  requester:  " << r.value("requester", "") << "\n"
              << "  connection: " << r.value("connection", "") << "\n"
              << "  statement:  " << r.value("statement", "") << "\n"
              << "  created:    " << r.value("created_at", "") << ", expires "
              << r.value("expires_at", "") << "\n"
              << "  approvers:  " << r["approvers"].value("count", 1) << " of "
              << r["approvers"]["groups"].dump() << "; approved by " << r["approvals"].dump()
              << "\n";
    if (!r.value("reason", "").empty())
      std::cout << "  reason:     " << r.value("reason", "") << "\n";
    if (!r.value("grant_until", "").empty())
      std::cout << "  grant until " << r.value("grant_until", "") << "\n";
    for (const auto& rv : r["reviews"])
      std::cout << "  review: " << rv.value("subject", "") << " " << rv.value("decision", "")
                << (rv.value("reason", "").empty() ? "" : ": " + rv.value("reason", "")) << " ("
                << rv.value("at", "") << ")\n";
  }

  int run() {
    int rc = 0;
    if (*list) {
      auto j =
          call("GET", "/v1/reviews" + (status.empty() ? "" : "?status=" + status), nullptr, rc);
      if (!j) return rc;
      if (json) {
        std::cout << j->dump(2) << "\n";
        return 0;
      }
      if (j->empty()) std::cout << "no requests\n";
      for (const auto& r : *j) {
        std::string st = r.value("statement", "");
        if (st.size() > 60) st = st.substr(0, 57) + "...";
        std::cout << r.value("id", "") << "  " << r.value("status", "") << "  "
                  << r.value("rule", "") << "  " << r.value("requester", "") << "  "
                  << r.value("connection", "") << "  " << st << "\n";
      }
      return 0;
    }
    if (*show) {
      auto j = call("GET", "/v1/reviews/" + id, nullptr, rc);
      if (!j) return rc;
      if (json)
        std::cout << j->dump(2) << "\n";
      else
        print_request(*j);
      return 0;
    }
    if (*approve || *deny) {
      const bool yes = static_cast<bool>(*approve);
      auto j = call("POST", "/v1/reviews/" + id + (yes ? "/approve" : "/deny"),
                    Json{{"reason", reason}}, rc);
      if (!j) return rc;
      if (json)
        std::cout << j->dump(2) << "\n";
      else
        std::cout << (yes ? "approved" : "denied") << ": request " << id << " is now "
                  << j->value("status", "") << "\n";
      return 0;
    }
    if (*access_request) {
      auto j = call("POST", "/v1/access-requests",
                    Json{{"connection", connection}, {"for", window}, {"reason", reason}}, rc);
      if (!j) return rc;
      if (json)
        std::cout << j->dump(2) << "\n";
      else
        std::cout << "request " << j->value("id", "") << " (" << j->value("status", "")
                  << "): access to " << connection << " for " << j->value("grant", "")
                  << " once approved; an approver runs `gatehouse reviews approve "
                  << j->value("id", "") << "`\n";
      return 0;
    }
    if (*issue || *exchange) {
      Json body = {{"ttl", ttl},
                   {"groups", split_commas(groups)},
                   {"connections", split_commas(connections)}};
      if (*issue) body["subject"] = subject;
      auto j = call("POST", *issue ? "/v1/tokens" : "/v1/tokens/exchange", body, rc);
      if (!j) return rc;
      if (json) {
        std::cout << j->dump(2) << "\n";
      } else {
        std::cout << j->value("token", "") << "\n";
        std::cerr << "token for " << j->value("subject", "") << ", groups " << (*j)["groups"].dump()
                  << ", expires " << j->value("expires_at", "") << "\n";
      }
      return 0;
    }
    if (*sessions_list || *audit_search) return run_audit_query(rc);
    if (*sessions_show || *sessions_replay) {
      auto j = call("GET", "/v1/sessions/" + percent_encoded(id), nullptr, rc);
      if (!j) return rc;
      if (json)
        std::cout << j->dump(2) << "\n";
      else if (*sessions_show)
        print_session(*j, false);
      else
        print_session(*j, true);
      return 0;
    }
    if (*rotate) {
      auto j = call("POST", "/v1/keys/rotate", Json::object(), rc);
      if (!j) return rc;
      std::cout << "signing key rotated: " << j->value("kid", "") << " is now active\n";
      return 0;
    }
    return -1;
  }
};

CLI::App* audit_group(CLI::App& app) {
  auto existing = app.get_subcommands([](const CLI::App* a) { return a->get_name() == "audit"; });
  if (!existing.empty()) return existing.front();
  auto* audit = app.add_subcommand("audit", "the audit trail");
  audit->require_subcommand(1);
  return audit;
}

std::shared_ptr<ApiCommands> add_api_commands(CLI::App& app) {
  auto c = std::make_shared<ApiCommands>();
  auto* reviews =
      app.add_subcommand("reviews", "the approval workflow, as the caller of your token");
  reviews->require_subcommand(1);
  c->list = reviews->add_subcommand("list", "requests you may see (yours, those you may approve)");
  c->list->add_option("--status", c->status,
                      "pending, approved, denied, lapsed, withdrawn or used");
  c->show = reviews->add_subcommand("show", "one request");
  c->show->add_option("id", c->id, "request id")->required();
  c->approve = reviews->add_subcommand("approve", "approve a request (never your own)");
  c->approve->add_option("id", c->id, "request id")->required();
  c->approve->add_option("--reason", c->reason, "why (recorded)");
  c->deny = reviews->add_subcommand("deny", "deny a request");
  c->deny->add_option("id", c->id, "request id")->required();
  c->deny->add_option("--reason", c->reason, "why (recorded)")->required();
  for (auto* s : {c->list, c->show, c->approve, c->deny}) {
    c->common(s);
    s->add_flag("--json", c->json, "machine output");
  }
  auto* access = app.add_subcommand("access", "just-in-time access windows");
  access->require_subcommand(1);
  c->access_request = access->add_subcommand("request", "ask for an access window to a connection");
  c->access_request->add_option("connection", c->connection, "the connection")->required();
  c->access_request->add_option("--for", c->window,
                                "how long, e.g. 1h (at most what the rule grants)");
  c->access_request->add_option("--reason", c->reason, "why (shown to approvers, recorded)");
  c->access_request->add_flag("--json", c->json, "machine output");
  c->common(c->access_request);
  auto* token = app.add_subcommand("token", "short-lived tokens signed by the gateway");
  token->require_subcommand(1);
  c->issue = token->add_subcommand("issue", "mint a token (admins)");
  c->issue->add_option("--subject", c->subject, "the token's subject")->required();
  c->issue->add_option("--groups", c->groups, "comma-separated groups");
  c->issue->add_option("--ttl", c->ttl, "lifetime, e.g. 15m (at most gateway_tokens.max_ttl)");
  c->issue->add_option("--connection", c->connections, "comma-separated connections it may reach");
  c->exchange = token->add_subcommand(
      "exchange", "trade your IdP token (--token-file) for a gateway token, never wider");
  c->exchange->add_option("--ttl", c->ttl, "lifetime (never past the IdP token's expiry)");
  c->exchange->add_option("--groups", c->groups, "keep only these of your groups");
  c->exchange->add_option("--connection", c->connections,
                          "comma-separated connections it may reach");
  c->rotate = token->add_subcommand("rotate-key", "a new gateway signing key (admins)");
  for (auto* s : {c->issue, c->exchange, c->rotate}) c->common(s);
  for (auto* s : {c->issue, c->exchange}) s->add_flag("--json", c->json, "machine output");

  auto* sessions = app.add_subcommand("sessions", "recorded sessions (yours; auditors see all)");
  sessions->require_subcommand(1);
  c->sessions_list = sessions->add_subcommand("list", "sessions, newest first");
  c->sessions_show = sessions->add_subcommand("show", "one session and its statements");
  c->sessions_replay = sessions->add_subcommand(
      "replay", "the transcript as it happened: statements, decisions, masked results, timings");
  for (auto* s : {c->sessions_show, c->sessions_replay})
    s->add_option("id", c->id, "session id")->required();
  c->audit_search = audit_group(app)->add_subcommand(
      "search", "statements in the audit trail (yours; auditors see all)");
  for (auto* s : {c->sessions_list, c->audit_search}) {
    s->add_option("--identity", c->identity, "a caller's subject (yours unless an auditor)");
    s->add_option("--issuer", c->issuer,
                  "that subject's issuer (iss): the same subject at two issuers is two callers");
    s->add_option("--group", c->group, "a group of the caller");
    s->add_option("--connection", c->connection, "the connection");
    s->add_option("--since", c->since, "from: a duration back (1h, 7d) or an RFC 3339 time");
    s->add_option("--until", c->until, "to: a duration back or an RFC 3339 time");
    s->add_option("--limit", c->limit, "at most this many")->check(CLI::Range(1, 1'000'000));
  }
  c->audit_search->add_option("--table", c->table, "a table it read or wrote (schema.table)");
  c->audit_search->add_option("--kind", c->kind, "statement kind (select, delete, …)");
  c->audit_search->add_option("--decision", c->decision, "allow or deny");
  c->audit_search->add_option("--rule", c->rule, "the rule that decided");
  c->audit_search->add_option("--outcome", c->outcome, "ok, error, denied, …");
  c->audit_search->add_option("--text", c->text, "a piece of the (masked) statement text");
  c->audit_search->add_option("--session", c->session, "one session's statements");
  c->audit_search->add_option("--format", c->format, "table or jsonl")
      ->check(CLI::IsMember({"table", "jsonl"}));
  for (auto* s : {c->sessions_list, c->sessions_show, c->sessions_replay, c->audit_search}) {
    c->common(s);
    s->add_flag("--json", c->json, "machine output");
  }
  return c;
}

int run_api_commands(ApiCommands& c) {
  return c.run();
}

}  // namespace gh::app
