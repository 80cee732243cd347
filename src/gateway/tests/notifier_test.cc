// The approval webhook notifier against a real HTTPS receiver on loopback:
// what it posts, when it retries and when it gives up, that its queue stays
// bounded, that nobody waits for a slow receiver, and that the URL's secret
// path never reaches a log line.
#include "gateway/notifier.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "net/https_client.h"
#include "testbed/https_server.h"
#include "testbed/pg_cluster.h"
#include "testbed/process.h"

namespace gh::gateway {
namespace {

using namespace std::chrono_literals;
using Kind = approvals::Event::Kind;
using testbed::HttpRequest;
using testbed::HttpResponse;
using testbed::HttpsServer;

constexpr const char* kSecretPath = "/services/T0/B0/s3cr3t-path";

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

approvals::Event event(Kind kind, const std::string& id = "r-abc123",
                       approvals::Status status = approvals::Status::kPending) {
  approvals::Event e{kind, {}, "", ""};
  auto& r = e.request;
  r.id = id;
  r.rule = "export";
  r.status = status;
  r.binding.connection = "app";
  r.binding.subject = "agent-7";
  r.requester.subject = "agent-7";
  r.statement = "SELECT count(*) FROM public.jit_export";
  r.created_at_us = 1'714'557'600'000'000;  // 2024-05-01T10:00:00Z
  r.expires_at_us = r.created_at_us + 3'600'000'000;
  r.approver_groups = {"dba"};
  return e;
}

class NotifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = testbed::make_temp_dir("gatehouse-notifier");
    std::string error;
    ASSERT_TRUE(
        testbed::make_self_signed_cert(dir_ + "/receiver.crt", dir_ + "/receiver.key", &error))
        << error;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Every log line the notifier writes, kept for inspection.
  void SetUp() override {
    previous_ = spdlog::default_logger();
    log_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(10'000);
    auto logger = std::make_shared<spdlog::logger>("notifier-test", log_);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  void TearDown() override {
    notifier_.reset();
    server_.reset();
    EXPECT_EQ(log().find("s3cr3t"), std::string::npos) << "the URL's secret part was logged:\n"
                                                       << log();
    spdlog::set_default_logger(previous_);
  }
  std::string log() const {
    std::string all;
    for (const auto& line : log_->last_formatted()) all += line;
    return all;
  }

  void serve(HttpsServer::Handler handler) {
    server_ = std::make_unique<HttpsServer>(std::move(handler), dir_ + "/receiver.crt",
                                            dir_ + "/receiver.key");
  }
  std::size_t seen() const { return server_->requests().size(); }

  config::Webhook hook(const std::string& url = {}) const {
    config::Webhook h;
    h.name = "chat";
    h.url = url.empty() ? server_->base_url() + kSecretPath : url;
    h.ca_file = dir_ + "/receiver.crt";
    h.timeout = 5s;
    h.attempts = 8;
    return h;
  }
  // A receiver that answers only after 3 s, and a webhook to it that waits 1 s.
  config::Webhook stalled_hook() {
    serve([](const HttpRequest&) {
      std::this_thread::sleep_for(3s);
      return HttpResponse{200, "ok"};
    });
    auto h = hook();
    h.timeout = 1s;
    return h;
  }
  // Back-off in milliseconds, so that retries take no time.
  static NotifierOptions fast() {
    NotifierOptions o;
    o.backoff_base = 10ms;
    o.backoff_cap = 100ms;
    o.gateway_id = "gw-test";
    return o;
  }
  Notifier& start(std::vector<config::Webhook> hooks, NotifierOptions options = fast()) {
    notifier_ = std::make_unique<Notifier>(std::move(hooks), counters_, std::move(options));
    return *notifier_;
  }

  static std::string dir_;
  std::shared_ptr<spdlog::logger> previous_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> log_;
  std::unique_ptr<HttpsServer> server_;
  WebhookCounters counters_;
  std::unique_ptr<Notifier> notifier_;
};
std::string NotifierTest::dir_;

TEST_F(NotifierTest, PostsSlackTextATeamsCardAndTheStructuredRequest) {
  serve([](const HttpRequest&) { return HttpResponse{200, "ok"}; });
  auto& n = start({hook()});
  auto created = event(Kind::kCreated);
  created.request.statement =
      "SELECT '<b>&' ||\n  `x` FROM t WHERE note = '" + std::string(800, 'y') + "'";
  n.enqueue(created);
  ASSERT_TRUE(eventually([&] { return counters_.delivered == 1; })) << log();

  auto req = server_->requests().at(0);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, kSecretPath);
  EXPECT_EQ(req.headers["content-type"], "application/json");
  auto j = nlohmann::json::parse(req.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << req.body;
  EXPECT_EQ(j["@type"], "MessageCard");
  EXPECT_EQ(j["@context"], "https://schema.org/extensions");
  EXPECT_NE(j["summary"].get<std::string>().find("r-abc123"), std::string::npos);
  const std::string text = j["text"];
  for (const char* part : {"*r-abc123*", "*export*", "*agent-7*", "*app*", "*pending*",
                           "`gatehouse reviews approve r-abc123`", "2024-05-01T11:00:00Z"})
    EXPECT_NE(text.find(part), std::string::npos) << part << " missing in: " << text;
  // One paragraph, Slack's control characters escaped, no backtick from the statement.
  EXPECT_EQ(text.find('\n'), std::string::npos) << text;
  EXPECT_NE(text.find("'&lt;b&gt;&amp;' || 'x' FROM"), std::string::npos) << text;

  const auto& g = j["gatehouse"];
  EXPECT_EQ(g["event"], "created");
  EXPECT_EQ(g["request_id"], "r-abc123");
  EXPECT_EQ(g["rule"], "export");
  EXPECT_EQ(g["status"], "pending");
  EXPECT_EQ(g["requester"], "agent-7");
  EXPECT_EQ(g["connection"], "app");
  EXPECT_EQ(g["kind"], "statement");
  EXPECT_EQ(g["created_at"], "2024-05-01T10:00:00Z");
  EXPECT_EQ(g["expires_at"], "2024-05-01T11:00:00Z");
  EXPECT_EQ(g["gateway"], "gw-test");
  EXPECT_TRUE(g["reviews"].is_array());
  // The statement is cut to 500 characters (and an ellipsis).
  const std::string statement = g["statement"];
  EXPECT_EQ(statement.substr(0, 20), created.request.statement.substr(0, 20));
  EXPECT_EQ(statement.size(), 500 + std::string("…").size());

  // Decided: the status, who approved and why.
  auto decided = event(Kind::kDecided, "r-abc123", approvals::Status::kApproved);
  decided.actor = "carol";
  decided.request.reviews.push_back({"carol", "", true, "ticket 42", 0});
  n.enqueue(decided);
  ASSERT_TRUE(eventually([&] { return counters_.delivered == 2; })) << log();
  auto d = nlohmann::json::parse(server_->requests().at(1).body);
  EXPECT_EQ(d["gatehouse"]["event"], "decided");
  EXPECT_EQ(d["gatehouse"]["status"], "approved");
  EXPECT_EQ(d["gatehouse"]["reviews"],
            nlohmann::json::parse(R"([{"subject":"carol","approve":true,"reason":"ticket 42"}])"));
  EXPECT_NE(d["text"].get<std::string>().find("*approved* by *carol* (“ticket 42”)"),
            std::string::npos)
      << d["text"];
}

TEST_F(NotifierTest, LapsedAndWithdrawnAreDecidedNoticesReviewedAndUsedAreNot) {
  auto lapsed = nlohmann::json::parse(
      webhook_payload(event(Kind::kLapsed, "r-1", approvals::Status::kLapsed), "gw"));
  EXPECT_EQ(lapsed["gatehouse"]["event"], "decided");
  EXPECT_EQ(lapsed["gatehouse"]["status"], "lapsed");
  auto withdrawn_event = event(Kind::kWithdrawn, "r-2", approvals::Status::kWithdrawn);
  withdrawn_event.actor = "agent-7";
  withdrawn_event.detail = "client disconnected";
  auto withdrawn = nlohmann::json::parse(webhook_payload(withdrawn_event, "gw"));
  EXPECT_EQ(withdrawn["gatehouse"]["status"], "withdrawn");
  EXPECT_NE(withdrawn["text"].get<std::string>().find("client disconnected"), std::string::npos);
  auto denied_event = event(Kind::kDecided, "r-3", approvals::Status::kDenied);
  denied_event.request.reviews.push_back({"dave", "", false, "not during the freeze", 0});
  auto denied = nlohmann::json::parse(webhook_payload(denied_event, "gw"));
  EXPECT_NE(denied["text"].get<std::string>().find("*denied* by *dave* (“not during the freeze”)"),
            std::string::npos)
      << denied["text"];
  // Invalid UTF-8 in a statement does not throw.
  auto odd = event(Kind::kCreated);
  odd.request.statement = "SELECT '\xff\xfe'";
  EXPECT_FALSE(webhook_payload(odd, "gw").empty());

  serve([](const HttpRequest&) { return HttpResponse{200, "ok"}; });
  auto created_only = hook();
  created_only.on_decided = false;
  auto& n = start({created_only});
  n.enqueue(event(Kind::kReviewed));
  n.enqueue(event(Kind::kUsed));
  n.enqueue(event(Kind::kDecided, "r-abc123", approvals::Status::kApproved));
  n.enqueue(event(Kind::kCreated, "r-second"));
  ASSERT_TRUE(eventually([&] { return counters_.delivered == 1; }));
  std::this_thread::sleep_for(100ms);
  ASSERT_EQ(seen(), 1u);
  EXPECT_NE(server_->requests()[0].body.find("r-second"), std::string::npos);
}

TEST_F(NotifierTest, ServerErrorsAreRetriedUntilDelivered) {
  std::atomic<int> calls{0};
  serve([&](const HttpRequest&) {
    return ++calls <= 2 ? HttpResponse{503, "busy"} : HttpResponse{200, "ok"};
  });
  start({hook()}).enqueue(event(Kind::kCreated));
  ASSERT_TRUE(eventually([&] { return counters_.delivered == 1; })) << log();
  EXPECT_EQ(seen(), 3u);
  EXPECT_EQ(counters_.failed, 0u);
  auto r = server_->requests();
  EXPECT_EQ(r[0].body, r[2].body);
}

TEST_F(NotifierTest, ClientErrorIsNotRetriedAndTheLogNamesOnlyTheHost) {
  serve([](const HttpRequest&) { return HttpResponse{400, "invalid_payload"}; });
  start({hook()}).enqueue(event(Kind::kCreated));
  ASSERT_TRUE(eventually([&] { return counters_.failed == 1; }));
  std::this_thread::sleep_for(200ms);  // many back-offs' worth
  EXPECT_EQ(seen(), 1u);
  EXPECT_EQ(counters_.delivered, 0u);
  const std::string host = "127.0.0.1:" + std::to_string(server_->port());
  EXPECT_NE(log().find("webhook chat (" + host +
                       "): gave up on the created notice of approval "
                       "request r-abc123 after 1 attempt: answered 400: invalid_payload"),
            std::string::npos)
      << log();
}

TEST_F(NotifierTest, AttemptsAreBoundedAndEachFailureIsLoggedOnce) {
  serve([](const HttpRequest&) { return HttpResponse{500, "down"}; });
  auto h = hook();
  h.attempts = 3;
  start({h}).enqueue(event(Kind::kCreated));
  ASSERT_TRUE(eventually([&] { return counters_.failed == 1; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(seen(), 3u);
  EXPECT_NE(log().find("after 3 attempts: answered 500"), std::string::npos) << log();
}

TEST_F(NotifierTest, ConnectionErrorsAreRetriedAndNameHostAndPortOnly) {
  const int closed = testbed::free_port();
  auto h = hook("https://127.0.0.1:" + std::to_string(closed) + kSecretPath + "?token=s3cr3t");
  h.attempts = 2;
  serve([](const HttpRequest&) { return HttpResponse{200, "ok"}; });  // for TearDown
  start({h}).enqueue(event(Kind::kCreated));
  ASSERT_TRUE(eventually([&] { return counters_.failed == 1; }));
  EXPECT_NE(log().find("after 2 attempts: cannot connect to 127.0.0.1:" + std::to_string(closed)),
            std::string::npos)
      << log();
}

TEST_F(NotifierTest, RetryAfterIsHonoured) {
  std::mutex mu;
  std::vector<std::chrono::steady_clock::time_point> at;
  serve([&](const HttpRequest&) {
    std::lock_guard lock(mu);
    at.push_back(std::chrono::steady_clock::now());
    HttpResponse r{429, "slow down"};
    r.headers["Retry-After"] = "1";
    return at.size() == 1 ? r : HttpResponse{200, "ok"};
  });
  start({hook()}).enqueue(event(Kind::kCreated));
  ASSERT_TRUE(eventually([&] { return counters_.delivered == 1; })) << log();
  std::lock_guard lock(mu);
  ASSERT_EQ(at.size(), 2u);
  // The back-off alone would have been 10 ms.
  EXPECT_GE(at[1] - at[0], 950ms);
}

TEST_F(NotifierTest, FullQueueDropsTheOldestAndSaysSo) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  serve([released](const HttpRequest&) {
    released.wait_for(10s);
    return HttpResponse{200, "ok"};
  });
  auto options = fast();
  options.max_queue = 5;
  auto& n = start({hook()}, options);
  n.enqueue(event(Kind::kCreated, "r-0"));
  ASSERT_TRUE(eventually([&] { return seen() == 1; }));  // r-0 is on the wire
  for (int i = 1; i < 20; ++i) n.enqueue(event(Kind::kCreated, "r-" + std::to_string(i)));
  // r-0 in flight and the four newest stay; r-1 … r-15 are dropped.
  EXPECT_EQ(counters_.dropped, 15u);
  release.set_value();
  ASSERT_TRUE(eventually([&] { return counters_.delivered == 5; })) << log();
  std::vector<std::string> ids;
  for (const auto& r : server_->requests())
    ids.push_back(nlohmann::json::parse(r.body)["gatehouse"]["request_id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"r-0", "r-16", "r-17", "r-18", "r-19"}));
  EXPECT_NE(log().find("the notice queue is full (5 waiting); dropped the created notice of "
                       "approval request r-1 (1 dropped since start)"),
            std::string::npos)
      << log();
}

TEST_F(NotifierTest, EnqueueReturnsAtOnceWhileTheReceiverStalls) {
  auto h = stalled_hook();
  auto& n = start({h});
  n.enqueue(event(Kind::kCreated, "r-first"));
  ASSERT_TRUE(eventually([&] { return seen() == 1; }));  // the worker is waiting for the answer
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) n.enqueue(event(Kind::kCreated, "r-" + std::to_string(i)));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 50ms);
  // Stopping tries for the drain's 2 s (the attempt in flight ends at its 1 s timeout).
  const auto t1 = std::chrono::steady_clock::now();
  notifier_.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t1, 3s);
  EXPECT_GT(counters_.dropped, 90u);
  EXPECT_NE(log().find("not sent before shutdown"), std::string::npos) << log();
}

TEST_F(NotifierTest, AnAttemptEndsAtTheWebhooksTimeout) {
  auto h = stalled_hook();
  h.attempts = 1;
  const auto t0 = std::chrono::steady_clock::now();
  start({h}).enqueue(event(Kind::kCreated));
  ASSERT_TRUE(eventually([&] { return counters_.failed == 1; })) << log();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2500ms) << log();
}

TEST_F(NotifierTest, StopDeliversWhatIsQueued) {
  serve([](const HttpRequest&) { return HttpResponse{200, "ok"}; });
  auto& n = start({hook()});
  for (int i = 0; i < 3; ++i) n.enqueue(event(Kind::kCreated, "r-" + std::to_string(i)));
  notifier_.reset();
  EXPECT_EQ(counters_.delivered, 3u);
  EXPECT_EQ(seen(), 3u);
}

TEST_F(NotifierTest, PlainHttpToANonLoopbackHostIsRefused) {
  const std::string url = std::string("http://hooks.example.com") + kSecretPath;
  auto refused = net::https_request({"POST", url});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().find("s3cr3t"), std::string::npos) << refused.error();

  serve([](const HttpRequest&) { return HttpResponse{200, "ok"}; });
  auto& n = start({hook(url), hook()});
  n.enqueue(event(Kind::kCreated));
  EXPECT_EQ(counters_.failed, 1u);  // at once: nothing is sent over plain HTTP
  ASSERT_TRUE(eventually([&] { return counters_.delivered == 1; }));  // the other webhook
  EXPECT_NE(log().find("webhook chat: its URL cannot be used, its notices will not be sent: "
                       "http:// is refused for hooks.example.com"),
            std::string::npos)
      << log();
}

}  // namespace
}  // namespace gh::gateway
