// OIDC discovery against a real HTTPS issuer on loopback: the first fetch,
// a key rotation picked up on an unknown kid, the refresh rate limit (counted
// in the issuer's own request log), one fetch shared by concurrent asks, and
// what is refused: metadata for another issuer, plain http:// off loopback, an
// untrusted certificate, an oversized JWKS. A failing issuer never takes away
// the keys in force.
#include "gateway/key_fetcher.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>

#include "testbed/idp.h"
#include "testbed/oidc_issuer.h"
#include "testbed/pg_cluster.h"
#include "testbed/process.h"

namespace gh::gateway {
namespace {

using namespace std::chrono_literals;
using identity::RefusalCode;
using testbed::eventually;
using testbed::OidcIssuer;
using testbed::TestIdp;

// The outcome of one request_refresh, and whether it was answered at once.
struct Asked {
  std::optional<bool> result;  // nullopt: no answer within 10 s
  bool at_once = false;
};

Asked ask(KeyFetcher& fetcher, const std::string& issuer) {
  auto promise = std::make_shared<std::promise<bool>>();
  auto future = promise->get_future();
  fetcher.request_refresh(issuer, [promise](bool ok) { promise->set_value(ok); });
  Asked asked;
  asked.at_once = future.wait_for(0s) == std::future_status::ready;
  if (future.wait_for(10s) == std::future_status::ready) asked.result = future.get();
  return asked;
}

class KeyFetcherTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(testbed::make_temp_dir("gh-key-fetcher"));
    std::string error;
    if (!testbed::make_self_signed_cert(cert(), *dir_ + "/idp.key", &error))
      throw std::runtime_error(error);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    std::filesystem::remove_all(*dir_, ec);
    delete dir_;
    dir_ = nullptr;
  }
  static std::string cert() { return *dir_ + "/idp.crt"; }

  void SetUp() override { make_issuer("/"); }

  void make_issuer(const std::string& path) {
    fetcher_.reset();
    verifier_.reset();
    issuer_ = std::make_unique<OidcIssuer>(cert(), *dir_ + "/idp.key", path);
    iss_ = issuer_->issuer();
    first_ = std::make_unique<TestIdp>(iss_, "gatehouse", identity::Algorithm::kEdDSA, "key-1");
    second_ = std::make_unique<TestIdp>(iss_, "gatehouse", identity::Algorithm::kEdDSA, "key-2");
    issuer_->publish({first_.get()});
  }

  identity::IssuerConfig config(bool with_ca = true) const {
    identity::IssuerConfig c;
    c.name = "corp-idp";
    c.issuer = iss_;
    c.audiences = {"gatehouse"};
    c.discovery = true;
    if (with_ca) c.ca_file = cert();
    c.min_refresh = 30s;
    return c;
  }

  // A verifier and a fetcher for `c`, started; returns wait_initial's lines.
  std::vector<std::string> start(identity::IssuerConfig c, KeyFetcherOptions options = {}) {
    if (options.clock == &SystemClock::instance()) options.clock = &clock_;
    auto v = identity::TokenVerifier::create({c}, {}, SystemClock::instance());
    if (!v) throw std::runtime_error("verifier: " + v.error().front());
    verifier_ = std::move(*v);
    fetcher_ = std::make_unique<KeyFetcher>(*verifier_, std::vector{c}, options);
    fetcher_->start();
    return fetcher_->wait_initial(10s);
  }

  bool verifies(const TestIdp& idp, const std::string& subject) const {
    auto p = verifier_->verify(idp.mint(subject, {"dev"}));
    return p.has_value();
  }
  identity::Refusal refusal(const TestIdp& idp, const std::string& subject) const {
    auto p = verifier_->verify(idp.mint(subject, {"dev"}));
    return p ? identity::Refusal{} : p.error();
  }

  static std::string* dir_;
  ManualClock clock_{1'700'000'000};
  std::unique_ptr<OidcIssuer> issuer_;
  std::string iss_;
  std::unique_ptr<TestIdp> first_, second_;
  std::unique_ptr<identity::TokenVerifier> verifier_;
  std::unique_ptr<KeyFetcher> fetcher_;
};
std::string* KeyFetcherTest::dir_ = nullptr;

TEST_F(KeyFetcherTest, FirstFetchMakesTheIssuersTokensVerify) {
  EXPECT_TRUE(start(config()).empty());
  EXPECT_TRUE(verifies(*first_, "alice"));
  const auto status = fetcher_->status(iss_);
  EXPECT_TRUE(status.keys_loaded);
  EXPECT_EQ(status.fetches, 1u);
  EXPECT_EQ(status.last_error, "");
  EXPECT_EQ(issuer_->count("/.well-known/openid-configuration"), 1);
  EXPECT_EQ(issuer_->key_requests(), 1);
}

TEST_F(KeyFetcherTest, TokensAreRefusedAsNotLoadedUntilTheFirstFetch) {
  auto v = identity::TokenVerifier::create({config()}, {}, SystemClock::instance());
  ASSERT_TRUE(v);
  const auto result = (*v)->verify(first_->mint("alice", {}));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, RefusalCode::kUnknownKid);
  EXPECT_EQ(result.error().issuer, iss_);
  EXPECT_NE(result.error().reason.find("not loaded yet"), std::string::npos);
}

TEST_F(KeyFetcherTest, MetadataIsFetchedBesideAnIssuerPathWithoutItsTrailingSlash) {
  make_issuer("/realms/corp/");
  EXPECT_TRUE(start(config()).empty());
  EXPECT_EQ(issuer_->count("/realms/corp/.well-known/openid-configuration"), 1);
  EXPECT_TRUE(verifies(*first_, "alice"));
}

TEST_F(KeyFetcherTest, RotationIsPickedUpWhenATokenNamesTheNewKid) {
  ASSERT_TRUE(start(config()).empty());
  ASSERT_TRUE(verifies(*first_, "alice"));
  // The provider publishes a second key and signs with it.
  issuer_->publish({first_.get(), second_.get()});
  const auto refused = refusal(*second_, "bob");
  EXPECT_EQ(refused.code, RefusalCode::kUnknownKid);
  EXPECT_EQ(refused.issuer, iss_);

  const auto asked = ask(*fetcher_, refused.issuer);
  ASSERT_TRUE(asked.result.has_value());
  EXPECT_TRUE(*asked.result);
  EXPECT_TRUE(verifies(*second_, "bob"));
  EXPECT_TRUE(verifies(*first_, "carol"));  // the old key is still published
  EXPECT_EQ(issuer_->key_requests(), 2);
}

TEST_F(KeyFetcherTest, UnknownKidsWithinMinRefreshCauseNoFurtherFetch) {
  ASSERT_TRUE(start(config()).empty());
  issuer_->publish({second_.get()});
  ASSERT_EQ(ask(*fetcher_, iss_).result, std::optional<bool>(true));
  const int requests = issuer_->total_requests();

  // A flood of tokens with made-up kids: answered at once, nothing fetched.
  TestIdp third(iss_, "gatehouse", identity::Algorithm::kEdDSA, "key-3");
  issuer_->publish({&third});
  for (int i = 0; i < 50; ++i) {
    const auto asked = ask(*fetcher_, iss_);
    EXPECT_TRUE(asked.at_once);
    EXPECT_EQ(asked.result, std::optional<bool>(false));
  }
  clock_.advance(29s);
  EXPECT_EQ(ask(*fetcher_, iss_).result, std::optional<bool>(false));
  EXPECT_EQ(issuer_->total_requests(), requests);
  EXPECT_FALSE(verifies(third, "dave"));

  // Once min_refresh has passed, the next unknown kid fetches again.
  clock_.advance(2s);
  EXPECT_EQ(ask(*fetcher_, iss_).result, std::optional<bool>(true));
  EXPECT_TRUE(verifies(third, "dave"));
  EXPECT_EQ(issuer_->total_requests(), requests + 2);  // metadata and keys
}

TEST_F(KeyFetcherTest, AFetchThatFindsTheSameKeysAnswersFalse) {
  ASSERT_TRUE(start(config()).empty());
  EXPECT_EQ(ask(*fetcher_, iss_).result, std::optional<bool>(false));
  EXPECT_EQ(issuer_->key_requests(), 2);
  EXPECT_EQ(fetcher_->status(iss_).last_error, "");
}

TEST_F(KeyFetcherTest, ConcurrentAsksShareOneFetch) {
  ASSERT_TRUE(start(config()).empty());
  issuer_->publish({second_.get()});
  issuer_->hold_keys(true);
  std::vector<std::future<bool>> answers;
  for (int i = 0; i < 10; ++i) {
    auto promise = std::make_shared<std::promise<bool>>();
    answers.push_back(promise->get_future());
    fetcher_->request_refresh(iss_, [promise](bool ok) { promise->set_value(ok); });
  }
  ASSERT_TRUE(eventually([&] { return issuer_->key_requests() == 2; }));
  for (auto& a : answers) EXPECT_NE(a.wait_for(0s), std::future_status::ready);
  issuer_->hold_keys(false);
  for (auto& a : answers) {
    ASSERT_EQ(a.wait_for(10s), std::future_status::ready);
    EXPECT_TRUE(a.get());
  }
  EXPECT_EQ(issuer_->key_requests(), 2);
  EXPECT_TRUE(verifies(*second_, "bob"));
}

TEST_F(KeyFetcherTest, MetadataNamingAnotherIssuerIsRefusedAndTheKeysInForceStay) {
  ASSERT_TRUE(start(config()).empty());
  issuer_->set_metadata_issuer("https://attacker.example.com/");
  issuer_->publish({second_.get()});
  EXPECT_EQ(ask(*fetcher_, iss_).result, std::optional<bool>(false));
  const auto status = fetcher_->status(iss_);
  EXPECT_NE(status.last_error.find("names issuer \"https://attacker.example.com/\""),
            std::string::npos)
      << status.last_error;
  EXPECT_NE(status.last_error.find("§4.3"), std::string::npos) << status.last_error;
  EXPECT_EQ(issuer_->key_requests(), 1);  // the keys of a refused metadata are not fetched
  EXPECT_TRUE(status.keys_loaded);
  EXPECT_TRUE(verifies(*first_, "carol"));
  EXPECT_FALSE(verifies(*second_, "bob"));
}

TEST_F(KeyFetcherTest, IssuerMustMatchExactlyEvenInItsTrailingSlash) {
  std::string without_slash = iss_;
  without_slash.pop_back();
  issuer_->set_metadata_issuer(without_slash);
  const auto missing = start(config());
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_NE(missing[0].find("corp-idp"), std::string::npos) << missing[0];
  EXPECT_NE(missing[0].find("not the configured"), std::string::npos) << missing[0];
  EXPECT_FALSE(verifies(*first_, "alice"));
}

TEST_F(KeyFetcherTest, IssuerDownKeepsTheKeysInForce) {
  ASSERT_TRUE(start(config()).empty());
  issuer_->set_status(503);
  EXPECT_EQ(ask(*fetcher_, iss_).result, std::optional<bool>(false));
  EXPECT_NE(fetcher_->status(iss_).last_error.find("HTTP 503"), std::string::npos)
      << fetcher_->status(iss_).last_error;
  EXPECT_TRUE(verifies(*first_, "carol"));

  // Gone altogether: nothing listens on its port any more.
  issuer_.reset();
  clock_.advance(31s);
  EXPECT_EQ(ask(*fetcher_, iss_).result, std::optional<bool>(false));
  EXPECT_NE(fetcher_->status(iss_).last_error.find("cannot connect"), std::string::npos)
      << fetcher_->status(iss_).last_error;
  EXPECT_TRUE(fetcher_->status(iss_).keys_loaded);
  EXPECT_TRUE(verifies(*first_, "dave"));
}

TEST_F(KeyFetcherTest, IssuerDownAtStartIsRetriedWithBackOff) {
  issuer_->set_status(503);
  KeyFetcherOptions options;
  options.first_retry = 50ms;
  const auto missing = start(config(), options);
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_NE(missing[0].find("HTTP 503"), std::string::npos) << missing[0];
  EXPECT_FALSE(verifies(*first_, "alice"));
  issuer_->set_status(200);
  EXPECT_TRUE(eventually([&] { return verifies(*first_, "alice"); }));
  // The count moves just after the keys are in place.
  EXPECT_TRUE(eventually([&] { return fetcher_->status(iss_).keys_loaded; }));
  EXPECT_GE(fetcher_->status(iss_).fetches, 2u);
}

TEST_F(KeyFetcherTest, KeysAreRefreshedPeriodically) {
  auto c = config();
  c.refresh = 1s;
  ASSERT_TRUE(start(c).empty());
  issuer_->publish({second_.get()});
  EXPECT_TRUE(eventually([&] { return verifies(*second_, "bob"); }));
}

TEST_F(KeyFetcherTest, PlainHttpJwksUriOffLoopbackIsRefusedWithoutAConnection) {
  issuer_->set_jwks_uri("http://keys.example.com/jwks");
  const auto missing = start(config());
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_NE(missing[0].find("jwks_uri"), std::string::npos) << missing[0];
  EXPECT_NE(missing[0].find("http:// is refused for keys.example.com"), std::string::npos)
      << missing[0];
  EXPECT_EQ(issuer_->key_requests(), 0);
}

TEST_F(KeyFetcherTest, PlainHttpIssuerOffLoopbackIsRefused) {
  auto c = config();
  c.issuer = "http://idp.example.com/";
  const auto missing = start(c);
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_NE(missing[0].find("http:// is refused for idp.example.com"), std::string::npos)
      << missing[0];
}

TEST_F(KeyFetcherTest, UntrustedCertificateFailsClearly) {
  const auto missing = start(config(/*with_ca=*/false));
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_NE(missing[0].find("TLS with 127.0.0.1:"), std::string::npos) << missing[0];
  EXPECT_NE(missing[0].find("certificate verify failed"), std::string::npos) << missing[0];
  EXPECT_EQ(issuer_->total_requests(), 0);
  EXPECT_EQ(refusal(*first_, "alice").code, RefusalCode::kUnknownKid);
}

TEST_F(KeyFetcherTest, OversizedJwksIsRefused) {
  KeyFetcherOptions options;
  options.max_document_bytes = 4096;
  issuer_->publish_text(R"({"keys":[],"padding":")" + std::string(8192, 'x') + "\"}");
  const auto missing = start(config(), options);
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_NE(missing[0].find("body limit exceeded"), std::string::npos) << missing[0];
}

TEST_F(KeyFetcherTest, InvalidJwksIsRefusedAndTheKeysInForceStay) {
  ASSERT_TRUE(start(config()).empty());
  issuer_->publish_text(R"({"keys":[{"kty":"oct","k":"c2VjcmV0"}]})");
  EXPECT_EQ(ask(*fetcher_, iss_).result, std::optional<bool>(false));
  EXPECT_NE(fetcher_->status(iss_).last_error.find("JWKS"), std::string::npos);
  EXPECT_EQ(fetcher_->status(iss_).last_error.find("c2VjcmV0"), std::string::npos);
  EXPECT_TRUE(verifies(*first_, "carol"));
}

TEST_F(KeyFetcherTest, OnlyDiscoveryIssuersAreFetched) {
  ASSERT_TRUE(start(config()).empty());
  const auto asked = ask(*fetcher_, "https://files.example.com/");
  EXPECT_TRUE(asked.at_once);
  EXPECT_EQ(asked.result, std::optional<bool>(false));
  identity::IssuerConfig file_issuer = config();
  file_issuer.discovery = false;
  EXPECT_FALSE(KeyFetcher::needed({file_issuer}));
  EXPECT_TRUE(KeyFetcher::needed({file_issuer, config()}));
}

TEST_F(KeyFetcherTest, StopIsPromptAndAnswersEveryWaiter) {
  auto c = config();
  auto v = identity::TokenVerifier::create({c}, {}, SystemClock::instance());
  ASSERT_TRUE(v);
  KeyFetcher fetcher(**v, {c}, {.clock = &clock_});
  // Asked before start: answered false when the fetcher stops without running.
  auto early = std::make_shared<std::promise<bool>>();
  auto early_answer = early->get_future();
  fetcher.request_refresh(iss_, [early](bool ok) { early->set_value(ok); });
  fetcher.stop();
  ASSERT_EQ(early_answer.wait_for(0s), std::future_status::ready);
  EXPECT_FALSE(early_answer.get());
  EXPECT_TRUE(ask(fetcher, iss_).at_once);

  // A started fetcher waiting for its next refresh (an hour away) stops at once.
  ASSERT_TRUE(start(c).empty());
  const auto before = std::chrono::steady_clock::now();
  fetcher_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 500ms);
  const auto after_stop = ask(*fetcher_, iss_);
  EXPECT_TRUE(after_stop.at_once);
  EXPECT_EQ(after_stop.result, std::optional<bool>(false));
}

}  // namespace
}  // namespace gh::gateway
