// Approval webhooks end to end: a gateway whose reject-mode rule raises
// requests announces them to an HTTPS receiver on loopback, and announces
// the decision an approver makes through the admin API. A receiver that
// fails is retried; one that stalls delays no client.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "admin/client.h"
#include "testbed/https_server.h"
#include "tests/integration/harness.h"

namespace gh::it {
namespace {

using namespace std::chrono_literals;
using testbed::HttpRequest;
using testbed::HttpResponse;

constexpr const char* kHookPath = "/hooks/T0/s3cr3t-part";

std::string webhook_yaml(const World& w, int port, int admin_port, int receiver_port,
                         int attempts) {
  std::string yaml = OwnGateway::base_yaml(w, "gw-webhooks", port, false);
  // The admin API over HTTPS with the world's certificate (127.0.0.1 in its SAN).
  const std::string anchor = "  log_level: debug\n";
  yaml.insert(yaml.find(anchor) + anchor.size(),
              "  tls: {cert: " + w.dir + "/gw.crt, key: " + w.dir + "/gw.key}\n  admin: {listen: " +
                  "127.0.0.1:" + std::to_string(admin_port) + "}\n");
  return yaml + R"(access:
  - name: everyone
    groups: [ai-agents, dba]
    connections: [app]
    actions: [read, write]
approvals:
  - name: export
    tables: [public.wh_export]
    statements: [select]
    approvers: {groups: [dba]}
    mode: reject
webhooks:
  - name: chat
    url: https://127.0.0.1:)" +
         std::to_string(receiver_port) + kHookPath + R"(
    ca: )" +
         w.dir + R"(/gw.crt
    timeout: 2s
    attempts: )" +
         std::to_string(attempts) + "\n";
}

// One POST the receiver saw, with what it answered.
struct Notice {
  std::string target;
  nlohmann::json body;
};

class Webhook : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const World& w = World::get();
    w.pg.sql(
        "SET ROLE gh_scram;"
        "DROP TABLE IF EXISTS public.wh_export;"
        "CREATE TABLE public.wh_export(id int); INSERT INTO public.wh_export VALUES (1), (2);",
        "app");
    receiver_ = new testbed::HttpsServer(
        [](const HttpRequest&) {
          return HttpResponse{200, "ok"};
        },
        w.dir + "/gw.crt", w.dir + "/gw.key");
    admin_port_ = testbed::free_port();
    gw_ = new OwnGateway("gatehouse-webhooks", [&w](int port) {
      return webhook_yaml(w, port, admin_port_, receiver_->port(), 8);
    });
    if (!testbed::wait_for_text(gw_->log, "gatehouse admin listening", 30s))
      throw std::runtime_error("no admin API: " + testbed::read_file(gw_->log));
  }
  static void TearDownTestSuite() {
    const std::string log = testbed::read_file(gw_->log);
    EXPECT_EQ(log.find("s3cr3t"), std::string::npos) << "the webhook URL reached the log";
    delete gw_;
    gw_ = nullptr;
    delete receiver_;
    receiver_ = nullptr;
  }
  void SetUp() override {
    receiver_->set_handler([](const HttpRequest&) { return HttpResponse{200, "ok"}; });
  }

  const World& w() const { return World::get(); }
  std::string agent() const { return w().idp->mint("agent-7", {"ai-agents"}); }
  std::string carol() const { return w().idp->mint("carol", {"dba"}); }

  // Runs `sql` as the agent; the id of the request its refusal names.
  static std::string raise(const std::string& sql, const std::string& token) {
    auto r = testbed::run({"psql", "-X", "-A", "-t", "-c", sql}, gw_->psql_env(token));
    EXPECT_NE(r.exit_code, 0) << r.output;
    std::smatch m;
    if (std::regex_search(r.output, m,
                          std::regex("approval required \\(export\\): request (r-[0-9a-f]+)")))
      return m[1];
    ADD_FAILURE() << "no request named: " << r.output;
    return "";
  }

  // The POSTs the receiver saw for `id`'s `event` notice.
  static std::vector<Notice> notices(const std::string& id, const std::string& event) {
    std::vector<Notice> out;
    for (const auto& r : receiver_->requests()) {
      auto j = nlohmann::json::parse(r.body, nullptr, false);
      if (r.method == "POST" && j.is_object() && j["gatehouse"].value("request_id", "") == id &&
          j["gatehouse"].value("event", "") == event)
        out.push_back({r.target, j});
    }
    return out;
  }
  static bool wait_for(const std::function<bool()>& done, std::chrono::seconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(50ms);
    }
    return true;
  }

  static testbed::HttpsServer* receiver_;
  static OwnGateway* gw_;
  static int admin_port_;
};
testbed::HttpsServer* Webhook::receiver_ = nullptr;
OwnGateway* Webhook::gw_ = nullptr;
int Webhook::admin_port_ = 0;

TEST_F(Webhook, RequestCreatedAndApprovedAreAnnounced) {
  const std::string id = raise("SELECT count(*) FROM public.wh_export", agent());
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(wait_for([&] { return !notices(id, "created").empty(); }, 10s))
      << testbed::read_file(gw_->log);
  const Notice created = notices(id, "created").front();
  EXPECT_EQ(created.target, kHookPath);
  EXPECT_EQ(created.body["@type"], "MessageCard");
  EXPECT_EQ(created.body["gatehouse"]["status"], "pending");
  EXPECT_EQ(created.body["gatehouse"]["rule"], "export");
  EXPECT_EQ(created.body["gatehouse"]["requester"], "agent-7");
  EXPECT_EQ(created.body["gatehouse"]["statement"], "SELECT count(*) FROM public.wh_export");
  const std::string text = created.body["text"];
  EXPECT_NE(text.find("`gatehouse reviews approve " + id + "`"), std::string::npos) << text;

  auto approved = admin::api_call(
      {"https://127.0.0.1:" + std::to_string(admin_port_), carol(), w().dir + "/gw.crt"}, "POST",
      "/v1/reviews/" + id + "/approve", R"({"reason": "ticket 7"})");
  ASSERT_TRUE(approved) << approved.error();
  ASSERT_EQ(approved->status, 200) << approved->body;
  ASSERT_TRUE(wait_for([&] { return !notices(id, "decided").empty(); }, 10s))
      << testbed::read_file(gw_->log);
  const auto decided = notices(id, "decided").front().body;
  EXPECT_EQ(decided["gatehouse"]["status"], "approved");
  EXPECT_EQ(decided["gatehouse"]["actor"], "carol");
  ASSERT_EQ(decided["gatehouse"]["reviews"].size(), 1u);
  EXPECT_EQ(decided["gatehouse"]["reviews"][0]["subject"], "carol");
  EXPECT_EQ(decided["gatehouse"]["reviews"][0]["reason"], "ticket 7");
  EXPECT_NE(decided["text"].get<std::string>().find("*approved* by *carol*"), std::string::npos)
      << decided["text"];
}

TEST_F(Webhook, ReceiverThatFailsAtFirstGetsTheNoticeLater) {
  auto failures = std::make_shared<std::atomic<int>>(0);
  receiver_->set_handler([failures](const HttpRequest&) {
    return ++*failures <= 2 ? HttpResponse{500, "oops"} : HttpResponse{200, "ok"};
  });
  const std::string id = raise("SELECT count(*) FROM public.wh_export WHERE id > 1", agent());
  ASSERT_FALSE(id.empty());
  // Back-off 1 s, then 2 s.
  ASSERT_TRUE(wait_for([&] { return notices(id, "created").size() >= 3; }, 20s))
      << testbed::read_file(gw_->log);
  // Answered 200 the third time: no fourth attempt (it would come after 4 s).
  std::this_thread::sleep_for(4500ms);
  EXPECT_EQ(notices(id, "created").size(), 3u);
}

TEST_F(Webhook, StalledReceiverDoesNotDelayTheClientsRefusal) {
  receiver_->set_handler([](const HttpRequest&) {
    std::this_thread::sleep_for(6s);
    return HttpResponse{200, "ok"};
  });
  const auto t0 = std::chrono::steady_clock::now();
  const std::string id = raise("SELECT count(*) FROM public.wh_export WHERE id > 2", agent());
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(id.empty());
  EXPECT_LT(took, 1500ms);  // a notice sent inline would have waited the webhook's 2 s timeout
  // The receiver was reached meanwhile (and is still sitting on it).
  EXPECT_TRUE(wait_for([&] { return !notices(id, "created").empty(); }, 10s));
}

TEST_F(Webhook, ChangedWebhooksTakeEffectAfterARestart) {
  testbed::write_file(gw_->config, webhook_yaml(w(), gw_->port, admin_port_, receiver_->port(), 3));
  auto r = gw_->control("reload");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("webhooks: change takes effect after a restart"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace gh::it
