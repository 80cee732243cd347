// The commands that talk to a running gateway's admin API as the caller:
// reviews list/show/approve/deny, access request, token issue/exchange/rotate-key.
#include <CLI/CLI.hpp>

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
    if (*rotate) {
      auto j = call("POST", "/v1/keys/rotate", Json::object(), rc);
      if (!j) return rc;
      std::cout << "signing key rotated: " << j->value("kid", "") << " is now active\n";
      return 0;
    }
    return -1;
  }
};

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
  return c;
}

int run_api_commands(ApiCommands& c) {
  return c.run();
}

}  // namespace gh::app
