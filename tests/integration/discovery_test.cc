// OIDC discovery end to end: a gatehouse process whose issuer is an OpenID
// provider on loopback HTTPS (`discovery: true`, `ca:`) fetches its keys at
// start; when the provider rotates to a new key, tokens signed with it are
// accepted by the PostgreSQL listener (psql, libpq) and by the admin API
// without a restart; made-up key ids cost the provider at most one fetch per
// min_refresh; a provider that is down at start keeps neither the gateway nor
// its other issuers from serving.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "admin/client.h"
#include "testbed/oidc_issuer.h"
#include "tests/integration/harness.h"

namespace gh::it {
namespace {

using namespace std::chrono_literals;
using testbed::TestIdp;

std::string replaced(std::string text, const std::string& what, const std::string& with) {
  const auto at = text.find(what);
  if (at == std::string::npos) throw std::runtime_error("no \"" + what + "\" in the base config");
  return text.replace(at, what.size(), with);
}

// A gateway trusting the world's IdP (a JWKS file) and `issuer` through
// discovery, with the admin API on HTTPS; the group `readers` may read `app`.
struct DiscoveryGateway : OwnGateway {
  int admin_port;
  DiscoveryGateway(const World& w, const std::string& issuer, const std::string& min_refresh,
                   int admin)
      : OwnGateway("gatehouse-discovery",
                   [&](int port) {
                     std::string y = OwnGateway::base_yaml(w, "gw-discovery", port, false);
                     y = replaced(
                         y, "  log_level: debug\n",
                         "  log_level: debug\n  tls: {cert: " + w.dir + "/gw.crt, key: " + w.dir +
                             "/gw.key}\n  admin:\n    listen: 127.0.0.1:" + std::to_string(admin) +
                             "\n");
                     y = replaced(y, "      max_lifetime: 1h\n",
                                  "      max_lifetime: 1h\n"
                                  "    - name: disc-idp\n"
                                  "      issuer: " +
                                      issuer +
                                      "\n"
                                      "      audience: gatehouse\n"
                                      "      discovery: true\n"
                                      "      ca: " +
                                      w.dir + "/gw.crt\n      min_refresh: " + min_refresh + "\n");
                     return y + R"(access:
  - name: readers
    groups: [readers]
    connections: [app]
    actions: [read]
)";
                   }),
        admin_port(admin) {
    if (!testbed::wait_for_text(log, "gatehouse admin listening", 30s))
      throw std::runtime_error("no admin API: " + testbed::read_file(log));
  }

  // GET `path` of the admin API as `token`'s owner.
  Expected<admin::ApiReply> admin_get(const std::string& path, const std::string& token) const {
    return admin::api_call(
        {"https://127.0.0.1:" + std::to_string(admin_port), token, World::get().dir + "/gw.crt"},
        "GET", path);
  }

  // Connects with libpq; the server's error message when it cannot.
  std::string connect_error(const std::string& token) const {
    Conn c(PQconnectdb(conninfo(token).c_str()));
    return PQstatus(c.get()) == CONNECTION_OK ? "" : PQerrorMessage(c.get());
  }
};

class Discovery : public ::testing::Test {
 protected:
  const World& w() const { return World::get(); }
  std::unique_ptr<testbed::OidcIssuer> provider() const {
    return std::make_unique<testbed::OidcIssuer>(w().dir + "/gw.crt", w().dir + "/gw.key");
  }
  static std::unique_ptr<TestIdp> key(const testbed::OidcIssuer& p, const std::string& kid) {
    return std::make_unique<TestIdp>(p.issuer(), "gatehouse", identity::Algorithm::kEdDSA, kid);
  }
};

TEST_F(Discovery, RotatedKeyIsAcceptedByPostgresAndTheAdminApiWithoutARestart) {
  auto idp = provider();
  auto first = key(*idp, "disc-1");
  idp->publish({first.get()});
  DiscoveryGateway gw(w(), idp->issuer(), "1s", testbed::free_port());
  // Serving waited for the first fetch.
  EXPECT_NE(testbed::read_file(gw.log).find("keys of issuer 'disc-idp' loaded"), std::string::npos);
  EXPECT_EQ(idp->key_requests(), 1);

  // psql with a token of the discovery issuer.
  auto psql = testbed::run({"psql", "-X", "-A", "-t", "-c", "SELECT 'through discovery'"},
                           gw.psql_env(first->mint("dana", {"readers"})), 60s);
  EXPECT_EQ(psql.exit_code, 0) << psql.output;
  EXPECT_NE(psql.output.find("through discovery"), std::string::npos) << psql.output;

  // The provider publishes a new key and signs with it: the admin API fetches
  // the keys again and accepts the token.
  auto second = key(*idp, "disc-2");
  idp->publish({first.get(), second.get()});
  auto reply = gw.admin_get("/v1/reviews", second->mint("erin", {"readers"}));
  ASSERT_TRUE(reply) << reply.error();
  EXPECT_EQ(reply->status, 200) << reply->body;
  EXPECT_EQ(idp->key_requests(), 2);

  // Another rotation, past min_refresh: a PostgreSQL session with the newest key.
  std::this_thread::sleep_for(1200ms);
  auto third = key(*idp, "disc-3");
  idp->publish({second.get(), third.get()});
  EXPECT_EQ(gw.connect_error(third->mint("frank", {"readers"})), "");
  auto c = gw.connect(third->mint("grace", {"readers"}));
  EXPECT_EQ(scalar(c.get(), "SELECT 40 + 2"), "42");
  EXPECT_EQ(idp->key_requests(), 3);

  // One process all along.
  EXPECT_TRUE(gw.process.running());
  const std::string log = testbed::read_file(gw.log);
  std::size_t starts = 0;
  for (auto at = log.find("gatehouse listening"); at != std::string::npos;
       at = log.find("gatehouse listening", at + 1))
    ++starts;
  EXPECT_EQ(starts, 1u);
}

TEST_F(Discovery, MadeUpKeyIdsCostTheProviderOneFetchPerMinRefresh) {
  auto idp = provider();
  auto real = key(*idp, "real");
  idp->publish({real.get()});
  DiscoveryGateway gw(w(), idp->issuer(), "1m", testbed::free_port());
  const int before = idp->key_requests();
  for (int i = 0; i < 20; ++i) {
    auto forger = key(*idp, "made-up-" + std::to_string(i));
    const std::string error = gw.connect_error(forger->mint("mallory", {"readers"}));
    EXPECT_NE(error.find("token rejected"), std::string::npos) << error;
    // The client is told the kind of refusal; the issuer's name is for the log.
    EXPECT_NE(error.find("names no key"), std::string::npos) << error;
    EXPECT_EQ(error.find("disc-idp"), std::string::npos) << error;
  }
  EXPECT_NE(testbed::read_file(gw.log).find("names no key of issuer 'disc-idp'"),
            std::string::npos);
  auto reply = gw.admin_get("/v1/reviews", key(*idp, "made-up-admin")->mint("mallory", {}));
  ASSERT_TRUE(reply) << reply.error();
  EXPECT_EQ(reply->status, 401) << reply->body;
  EXPECT_EQ(idp->key_requests() - before, 1);
  // The real key still works.
  EXPECT_EQ(gw.connect_error(real->mint("dana", {"readers"})), "");
}

TEST_F(Discovery, ProviderDownAtStartDelaysOnlyItsOwnTokens) {
  auto idp = provider();
  auto first = key(*idp, "disc-1");
  idp->publish({first.get()});
  idp->set_status(503);
  DiscoveryGateway gw(w(), idp->issuer(), "1s", testbed::free_port());
  const std::string log = testbed::read_file(gw.log);
  EXPECT_NE(log.find("issuer 'disc-idp': no keys yet"), std::string::npos) << log;
  EXPECT_NE(log.find("HTTP 503"), std::string::npos) << log;

  // The other issuer serves at once; the provider's tokens wait for its keys.
  EXPECT_EQ(gw.connect_error(w().idp->mint("agent-7", {"readers"})), "");
  const std::string refused = gw.connect_error(first->mint("dana", {"readers"}));
  EXPECT_NE(refused.find("token rejected"), std::string::npos) << refused;
  EXPECT_EQ(refused.find("disc-idp"), std::string::npos) << refused;
  EXPECT_TRUE(testbed::wait_for_text(gw.log, "keys of issuer 'disc-idp' are not loaded yet", 5s));

  // Back up: a retry (or the next unknown kid past min_refresh) loads the keys.
  idp->set_status(200);
  EXPECT_TRUE(testbed::eventually(
      [&] { return gw.connect_error(first->mint("dana", {"readers"})).empty(); }, 20s));
}

}  // namespace
}  // namespace gh::it
