// A client's session through the gateway against a real PostgreSQL 15:
// identity, access, upstream credentials, relaying, audit.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "identity/verifier.h"
#include "tests/integration/harness.h"

namespace gh::it {
namespace {

TEST(Session, TokenIsThePasswordAndTheUpstreamCredentialStaysHidden) {
  auto& w = World::get();
  auto c = w.connect("app", w.agent_token());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  EXPECT_EQ(scalar(c.get(), "SELECT current_user"), "gh_scram");
  EXPECT_EQ(scalar(c.get(), "SELECT 40 + 2"), "42");
  EXPECT_TRUE(PQsslInUse(c.get()));
  // The cancel key the client holds is the gateway's, not the server's.
  EXPECT_NE(std::to_string(PQbackendPID(c.get())), scalar(c.get(), "SELECT pg_backend_pid()"));
  // ParameterStatus came through.
  ASSERT_NE(PQparameterStatus(c.get(), "server_version"), nullptr);
  EXPECT_EQ(std::string(PQparameterStatus(c.get(), "server_version")).substr(0, 2), "15");
}

TEST(Session, UpstreamAuthenticatesWithScramMd5AndCleartext) {
  auto& w = World::get();
  for (auto [db, role] : {std::pair{"app", "gh_scram"},
                          {"app_md5", "gh_md5"},
                          {"app_plain", "gh_plain"},
                          {"app_verify", "gh_scram"}}) {
    auto c = w.connect(db, w.agent_token());
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << db << ": " << PQerrorMessage(c.get());
    EXPECT_EQ(scalar(c.get(), "SELECT current_user"), role) << db;
  }
}

TEST(Session, UpstreamAuthAllowListStopsADowngradeToWeakerMethods) {
  // The server asks this role for MD5; the connection allows only SCRAM, so
  // the gateway refuses instead of answering (a man in the middle could ask the same).
  auto& w = World::get();
  auto c = w.connect("app_md5_not_allowed", w.agent_token());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_BAD);
  std::string err = PQerrorMessage(c.get());
  EXPECT_NE(err.find("does not allow"), std::string::npos) << err;
  EXPECT_EQ(err.find("md5-secret"), std::string::npos);
}

// Secure by default: a connection that says nothing of TLS or password
// exchanges verifies the server's certificate and host, and answers SCRAM only.
TEST(Session, UpstreamWithoutSettingsVerifiesTheServer) {
  // The test server's certificate is signed by no CA in the system's store.
  auto& w = World::get();
  auto c = w.connect("app_defaults", w.agent_token());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_BAD);
  std::string err = PQerrorMessage(c.get());
  EXPECT_NE(err.find("TLS failed"), std::string::npos) << err;
}

TEST(Session, UpstreamWithoutSettingsRefusesToAnswerMd5) {
  auto& w = World::get();
  auto c = w.connect("app_md5_default", w.agent_token());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_BAD);
  std::string err = PQerrorMessage(c.get());
  EXPECT_NE(err.find("does not allow"), std::string::npos) << err;
}

// A server that lets the gateway in without asking for any password proves
// nothing: whatever answers on that address would be taken for the database.
TEST(Session, UpstreamThatAsksForNoPasswordIsRefusedUnlessTrustIsAllowed) {
  auto& w = World::get();
  auto c = w.connect("app_trust", w.agent_token());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_BAD);
  std::string err = PQerrorMessage(c.get());
  EXPECT_NE(err.find("does not allow"), std::string::npos) << err;
  EXPECT_TRUE(
      testbed::wait_for_text(w.log_path, "does not allow `trust`", std::chrono::seconds(5)));
  auto allowed = w.connect("app_trust_allowed", w.agent_token());
  ASSERT_EQ(PQstatus(allowed.get()), CONNECTION_OK) << PQerrorMessage(allowed.get());
  EXPECT_EQ(scalar(allowed.get(), "SELECT current_user"), "gh_trust");
}

TEST(Session, UpstreamTlsModesAreHonoured) {
  auto& w = World::get();
  auto uses_ssl = [&](const char* db) {
    auto c = w.connect(db, w.agent_token());
    EXPECT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    return scalar(c.get(), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
  };
  EXPECT_EQ(uses_ssl("app"), "t");         // prefer, server offers TLS
  EXPECT_EQ(uses_ssl("app_md5"), "f");     // disable
  EXPECT_EQ(uses_ssl("app_plain"), "t");   // require
  EXPECT_EQ(uses_ssl("app_verify"), "t");  // verify-full against the server's certificate
}

TEST(Session, VerifyFullRefusesAServerSignedByAnotherCa) {
  auto& w = World::get();
  auto c = w.connect("app_wrong_ca", w.agent_token());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_BAD);
  std::string err = PQerrorMessage(c.get());
  EXPECT_NE(err.find("TLS failed"), std::string::npos) << err;
  EXPECT_EQ(err.find("scram-secret"), std::string::npos);
}

TEST(Session, UnreachableUpstreamIsAClearFatal) {
  auto& w = World::get();
  auto c = w.connect("app_down", w.agent_token());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_BAD);
  std::string err = PQerrorMessage(c.get());
  EXPECT_NE(err.find("upstream app_down: unreachable"), std::string::npos) << err;
}

TEST(Session, PrincipalWithoutAnAccessRuleIsRefused28000) {
  auto& w = World::get();
  auto c = w.connect("billing", w.agent_token());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_BAD);
  std::string err = PQerrorMessage(c.get());
  EXPECT_NE(err.find("gatehouse: agent-7 may not connect to billing"), std::string::npos) << err;
  // An unknown connection reads the same, so names cannot be probed.
  auto d = w.connect("no_such_connection", w.agent_token());
  EXPECT_NE(
      std::string(PQerrorMessage(d.get())).find("agent-7 may not connect to no_such_connection"),
      std::string::npos);
  // The dba group may.
  auto e = w.connect("billing", w.idp->mint("dana", {"dba"}));
  EXPECT_EQ(PQstatus(e.get()), CONNECTION_OK) << PQerrorMessage(e.get());
}

TEST(Session, TlsRequiredListenerRefusesPlaintext) {
  auto& w = World::get();
  auto c = w.connect("app", w.agent_token(), "disable", w.tls_port);
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(c.get())).find("requires TLS"), std::string::npos)
      << PQerrorMessage(c.get());
  auto t = w.connect("app", w.agent_token(), "require", w.tls_port);
  EXPECT_EQ(PQstatus(t.get()), CONNECTION_OK) << PQerrorMessage(t.get());
}

TEST(Session, OptionalListenerTakesPlaintextTokensOnLoopbackOnly) {
  auto& w = World::get();
  auto c = w.connect("app", w.agent_token(), "disable");
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  EXPECT_FALSE(PQsslInUse(c.get()));
}

TEST(Session, StartupParametersOutsideTheAllowListAreRefused) {
  auto& w = World::get();
  auto c = w.connect("app", w.agent_token(), "require", 0, "options='-c search_path=evil'");
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_BAD);
  EXPECT_NE(
      std::string(PQerrorMessage(c.get())).find("startup parameter \"options\" is not allowed"),
      std::string::npos)
      << PQerrorMessage(c.get());
  auto ok = w.connect("app", w.agent_token(), "require", 0, "application_name=my-agent");
  ASSERT_EQ(PQstatus(ok.get()), CONNECTION_OK) << PQerrorMessage(ok.get());
  EXPECT_EQ(scalar(ok.get(), "SHOW application_name"), "my-agent");
}

TEST(Session, ClientEncodingsThatHideQuotesAreRefused) {
  // In SJIS a quote or backslash byte can end a multi-byte character: the
  // server would read a statement differently from the gateway's analysis.
  auto& w = World::get();
  auto c = w.connect("app", w.agent_token(), "require", 0, "client_encoding=SJIS");
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(c.get())).find("client_encoding \"SJIS\" is not allowed"),
            std::string::npos)
      << PQerrorMessage(c.get());
  auto ok = w.connect("app", w.agent_token(), "require", 0, "client_encoding=LATIN1");
  ASSERT_EQ(PQstatus(ok.get()), CONNECTION_OK) << PQerrorMessage(ok.get());
  EXPECT_EQ(scalar(ok.get(), "SHOW client_encoding"), "LATIN1");
}

TEST(Session, GssEncryptionIsDeclinedAndTheClientFallsBack) {
  auto& w = World::get();
  // gssencmode=prefer makes libpq send GSSENCRequest first when it has credentials; the
  // gateway answers N and the session continues in TLS. (Without a ticket cache libpq may
  // skip the request; the raw-socket test below checks the answer byte itself.)
  auto c = w.connect("app", w.agent_token(), "require", 0, "gssencmode=prefer");
  EXPECT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
}

// ---- raw protocol ----------------------------------------------------------

int raw_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

std::string read_some(int fd, std::size_t at_least = 1) {
  std::string out;
  char buf[4096];
  while (out.size() < at_least) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

std::string be32(uint32_t v) {
  std::string s(4, '\0');
  s[0] = static_cast<char>(v >> 24);
  s[1] = static_cast<char>(v >> 16);
  s[2] = static_cast<char>(v >> 8);
  s[3] = static_cast<char>(v);
  return s;
}

std::string startup_packet(uint32_t version, const std::string& params) {
  std::string body = be32(version) + params + std::string(1, '\0');
  return be32(static_cast<uint32_t>(body.size() + 4)) + body;
}

TEST(RawProtocol, ClientsThatAbandonTheTlsHandshakeLeaveTheGatewayServing) {
  auto& w = World::get();
  for (int i = 0; i < 5; ++i) {
    int fd = raw_connect(w.port);
    ASSERT_GE(fd, 0);
    std::string req = be32(8) + be32(80877103);
    ASSERT_EQ(write(fd, req.data(), req.size()), 8);
    EXPECT_EQ(read_some(fd), "S");
    if (i % 2) {
      std::string not_tls = "GET / HTTP/1.0\r\n\r\n";  // not a ClientHello
      ssize_t ignored = write(fd, not_tls.data(), not_tls.size());
      (void)ignored;
    }
    close(fd);
  }
  // A client that refuses the gateway's certificate also walks away mid-handshake.
  auto c =
      w.connect("app", w.agent_token(), "verify-full", 0, "sslrootcert=" + w.dir + "/other-ca.crt");
  EXPECT_EQ(PQstatus(c.get()), CONNECTION_BAD);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(w.gateway.running());
  auto ok = w.connect("app", w.agent_token());
  ASSERT_EQ(PQstatus(ok.get()), CONNECTION_OK) << PQerrorMessage(ok.get());
}

TEST(RawProtocol, GssEncRequestIsAnsweredN) {
  auto& w = World::get();
  int fd = raw_connect(w.port);
  ASSERT_GE(fd, 0);
  std::string req = be32(8) + be32(80877104);
  ASSERT_EQ(write(fd, req.data(), req.size()), 8);
  EXPECT_EQ(read_some(fd), "N");
  close(fd);
}

TEST(RawProtocol, NewerMinorVersionGetsNegotiateProtocolVersion) {
  auto& w = World::get();
  int fd = raw_connect(w.port);
  ASSERT_GE(fd, 0);
  std::string pkt =
      startup_packet((3u << 16) | 2u, std::string("user\0a\0database\0app\0_pq_.future\0x\0", 34));
  ASSERT_EQ(write(fd, pkt.data(), pkt.size()), static_cast<ssize_t>(pkt.size()));
  std::string reply = read_some(fd, 1);
  ASSERT_FALSE(reply.empty());
  EXPECT_EQ(reply[0], 'v');  // NegotiateProtocolVersion
  EXPECT_NE(reply.find("_pq_.future"), std::string::npos);
  // Then the authentication request follows.
  if (reply.find('R') == std::string::npos) reply += read_some(fd, 1);
  EXPECT_NE(reply.find('R'), std::string::npos);
  close(fd);
}

TEST(RawProtocol, EmptyPasswordIsAMissingToken) {
  // libpq will not send an empty password; other drivers may.
  auto& w = World::get();
  int fd = raw_connect(w.port);
  ASSERT_GE(fd, 0);
  std::string pkt = startup_packet(3u << 16, std::string("user\0a\0database\0app\0", 20));
  ASSERT_EQ(write(fd, pkt.data(), pkt.size()), static_cast<ssize_t>(pkt.size()));
  std::string auth = read_some(fd, 9);
  ASSERT_GE(auth.size(), 9u);
  EXPECT_EQ(auth[0], 'R');
  EXPECT_EQ(auth[8], 3);  // AuthenticationCleartextPassword
  std::string pw = "p" + be32(5) + std::string(1, '\0');
  ASSERT_EQ(write(fd, pw.data(), pw.size()), 6);
  std::string reply = read_some(fd, 1 << 16);
  ASSERT_FALSE(reply.empty());
  EXPECT_EQ(reply[0], 'E');
  EXPECT_NE(reply.find("28P01"), std::string::npos);
  EXPECT_NE(reply.find("gatehouse: token rejected: "), std::string::npos) << reply;
  close(fd);
}

TEST(RawProtocol, OldProtocolVersionIsRefused) {
  auto& w = World::get();
  int fd = raw_connect(w.port);
  ASSERT_GE(fd, 0);
  std::string pkt = startup_packet(2u << 16, std::string("user\0a\0", 7));
  ASSERT_EQ(write(fd, pkt.data(), pkt.size()), static_cast<ssize_t>(pkt.size()));
  std::string reply = read_some(fd, 1);
  ASSERT_FALSE(reply.empty());
  EXPECT_EQ(reply[0], 'E');
  EXPECT_NE(reply.find("0A000"), std::string::npos);
  EXPECT_NE(reply.find("unsupported frontend protocol 2.0"), std::string::npos);
  close(fd);
}

TEST(RawProtocol, GarbageAndTruncatedBytesCloseTheConnectionAndTheGatewayKeepsServing) {
  auto& w = World::get();
  std::mt19937 rng(12345);
  for (int i = 0; i < 40; ++i) {
    int fd = raw_connect(w.port);
    ASSERT_GE(fd, 0);
    std::string junk(static_cast<std::size_t>(rng() % 300 + 1), '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng());
    if (i % 4 == 0)
      junk = startup_packet(3u << 16, std::string("user\0a\0database\0app\0", 20)).substr(0, 10);
    if (i % 4 == 1) {
      // A valid startup, then a password message whose length lies.
      junk = startup_packet(3u << 16, std::string("user\0a\0database\0app\0", 20)) + "p" +
             be32(0x7fffffff) + "xx";
    }
    ssize_t ignored = write(fd, junk.data(), junk.size());
    (void)ignored;
    shutdown(fd, SHUT_WR);
    read_some(fd, 1 << 20);  // until the gateway closes (or 10 s)
    close(fd);
  }
  auto c = w.connect("app", w.agent_token());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  EXPECT_EQ(scalar(c.get(), "SELECT 1"), "1");
  EXPECT_TRUE(w.gateway.running());
}

TEST(RawProtocol, BrokenFramingMidSessionIsAFatal08P01) {
  auto& w = World::get();
  auto c = w.connect("app", w.agent_token(), "disable");
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK);
  // Write a message with an impossible length straight onto the session's socket.
  std::string bad = "Q" + be32(2);
  ASSERT_EQ(write(PQsocket(c.get()), bad.data(), bad.size()), 5);
  Result r(PQexec(c.get(), "SELECT 1"));
  EXPECT_NE(PQresultStatus(r.get()), PGRES_TUPLES_OK);
  EXPECT_NE(std::string(PQerrorMessage(c.get())).find("invalid message framing"), std::string::npos)
      << PQerrorMessage(c.get());
  EXPECT_TRUE(w.gateway.running());
}

// ---- tokens ----------------------------------------------------------------

struct BadToken {
  std::string name;
  std::string token;
  std::string expect;  // substring of the client's error message
};

TEST(Tokens, EveryRefusalReachesARealClientAsAClearError) {
  auto& w = World::get();
  long now = static_cast<long>(time(nullptr));
  auto claims = [&](const std::string& extra, long iat, long exp) {
    return R"({"iss":"https://idp.test/","aud":"gatehouse","sub":"agent-7","groups":["ai-agents"],"iat":)" +
           std::to_string(iat) + R"(,"exp":)" + std::to_string(exp) + extra + "}";
  };
  auto& key = w.idp->key();
  std::string good = w.agent_token();
  std::string header_payload = good.substr(0, good.rfind('.'));
  std::vector<BadToken> cases = {
      {"expired", w.idp->mint_raw(claims("", now - 3600, now - 600)), "expired"},
      {"not yet valid",
       w.idp->mint_raw(claims(R"(,"nbf":)" + std::to_string(now + 1200), now, now + 1800)),
       "not valid before"},
      {"wrong audience",
       key.sign(R"({"iss":"https://idp.test/","aud":"someone-else","sub":"a","iat":)" +
                std::to_string(now) + R"(,"exp":)" + std::to_string(now + 600) + "}"),
       "audience"},
      {"unknown issuer",
       key.sign(R"({"iss":"https://evil.test/","aud":"gatehouse","sub":"a","iat":)" +
                std::to_string(now) + R"(,"exp":)" + std::to_string(now + 600) + "}"),
       "issuer"},
      {"lifetime over the limit", w.idp->mint_raw(claims("", now, now + 7200)), "lifetime"},
      {"alg none",
       identity::base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." +
           identity::base64url_encode(claims("", now, now + 600)) + ".",
       "none"},
      {"hmac",
       key.sign_with_header(R"({"alg":"HS256","typ":"JWT","kid":"k1"})",
                            claims("", now, now + 600)),
       "HMAC"},
      {"alg does not match key",
       key.sign_with_header(R"({"alg":"RS256","typ":"JWT","kid":"k1"})",
                            claims("", now, now + 600)),
       "token rejected"},
      {"unknown kid",
       key.sign_with_header(R"({"alg":"ES256","typ":"JWT","kid":"nope"})",
                            claims("", now, now + 600)),
       "kid"},
      {"bad signature", w.rogue_idp->mint("agent-7", {"ai-agents"}), "signature"},
      {"tampered payload",
       header_payload.substr(0, header_payload.find('.') + 1) +
           identity::base64url_encode(claims(R"(,"groups":["dba"])", now, now + 600)) +
           good.substr(good.rfind('.')),
       "token rejected"},
      {"oversize", std::string(17000, 'a'), "token rejected"},
      {"malformed base64url", "eyJ!!!.eyJ.sig", "token rejected"},
      {"malformed json",
       identity::base64url_encode("{not json") + "." + identity::base64url_encode("{}") + ".c2ln",
       "token rejected"},
      {"duplicate claim", w.idp->mint_raw(claims(R"(,"sub":"dba-impostor")", now, now + 600)),
       "token rejected"},
      {"non-string subject",
       w.idp->mint_raw(R"({"iss":"https://idp.test/","aud":"gatehouse","sub":42,"iat":)" +
                       std::to_string(now) + R"(,"exp":)" + std::to_string(now + 600) + "}"),
       "token rejected"},
  };
  for (const auto& bc : cases) {
    auto c = PQconnectdb(w.conninfo("app", bc.token).c_str());
    Conn conn(c);
    ASSERT_EQ(PQstatus(c), CONNECTION_BAD) << bc.name;
    std::string err = PQerrorMessage(c);
    EXPECT_NE(err.find("gatehouse: token rejected: "), std::string::npos) << bc.name << ": " << err;
    EXPECT_NE(err.find(bc.expect), std::string::npos) << bc.name << ": " << err;
    // The error never echoes the token.
    if (bc.token.size() > 20) {
      EXPECT_EQ(err.find(bc.token.substr(0, 20)), std::string::npos) << bc.name;
    }
  }
  EXPECT_TRUE(w.gateway.running());
}

// ---- relaying --------------------------------------------------------------

TEST(Relay, ExtendedProtocolAndPipelineStayInStepAfterAnError) {
  auto& w = World::get();
  auto c = w.connect("app", w.agent_token());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK);
  Result p(PQprepare(c.get(), "q1", "SELECT $1::int * 2", 1, nullptr));
  ASSERT_EQ(PQresultStatus(p.get()), PGRES_COMMAND_OK);
  for (int i = 0; i < 5; ++i) {
    std::string v = std::to_string(i);
    const char* vals[] = {v.c_str()};
    Result r(PQexecPrepared(c.get(), "q1", 1, vals, nullptr, nullptr, 0));
    ASSERT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK);
    EXPECT_EQ(std::string(PQgetvalue(r.get(), 0, 0)), std::to_string(i * 2));
  }
  // Pipeline: ok, error, (skipped), sync, ok.
  ASSERT_EQ(PQenterPipelineMode(c.get()), 1);
  ASSERT_EQ(PQsendQueryParams(c.get(), "SELECT 1", 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQsendQueryParams(c.get(), "SELECT 1/0", 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQsendQueryParams(c.get(), "SELECT 3", 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQpipelineSync(c.get()), 1);
  ASSERT_EQ(PQsendQueryParams(c.get(), "SELECT 4", 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQpipelineSync(c.get()), 1);
  std::vector<ExecStatusType> seen;
  std::string third_value;
  int syncs = 0;
  for (int guard = 0; guard < 50 && syncs < 2; ++guard) {
    PGresult* r = PQgetResult(c.get());
    if (r == nullptr) continue;
    auto st = PQresultStatus(r);
    if (st == PGRES_PIPELINE_SYNC)
      ++syncs;
    else
      seen.push_back(st);
    if (st == PGRES_TUPLES_OK && seen.size() >= 3) third_value = PQgetvalue(r, 0, 0);
    PQclear(r);
  }
  ASSERT_EQ(syncs, 2);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0], PGRES_TUPLES_OK);
  EXPECT_EQ(seen[1], PGRES_FATAL_ERROR);
  EXPECT_EQ(seen[2], PGRES_PIPELINE_ABORTED);
  EXPECT_EQ(seen[3], PGRES_TUPLES_OK);
  EXPECT_EQ(third_value, "4");
  ASSERT_EQ(PQexitPipelineMode(c.get()), 1);
  EXPECT_EQ(scalar(c.get(), "SELECT 'still in step'"), "still in step");
}

TEST(Relay, CopyRoundTripsBothWays) {
  auto& w = World::get();
  auto c = w.connect("app", w.agent_token());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK);
  Result(PQexec(c.get(), "DROP TABLE IF EXISTS copy_rt; CREATE TABLE copy_rt(id int, note text)"));
  Result in(PQexec(c.get(), "COPY copy_rt FROM STDIN"));
  ASSERT_EQ(PQresultStatus(in.get()), PGRES_COPY_IN) << PQerrorMessage(c.get());
  std::string sent;
  for (int i = 0; i < 20000; ++i)
    sent += std::to_string(i) + "\tnote number " + std::to_string(i) + "\n";
  for (std::size_t off = 0; off < sent.size(); off += 7000) {
    auto n = std::min<std::size_t>(7000, sent.size() - off);
    ASSERT_EQ(PQputCopyData(c.get(), sent.data() + off, static_cast<int>(n)), 1);
  }
  ASSERT_EQ(PQputCopyEnd(c.get(), nullptr), 1);
  Result done(PQgetResult(c.get()));
  ASSERT_EQ(PQresultStatus(done.get()), PGRES_COMMAND_OK) << PQerrorMessage(c.get());
  EXPECT_STREQ(PQcmdTuples(done.get()), "20000");
  while (PGresult* extra = PQgetResult(c.get())) PQclear(extra);

  Result out(PQexec(c.get(), "COPY (SELECT * FROM copy_rt ORDER BY id) TO STDOUT"));
  ASSERT_EQ(PQresultStatus(out.get()), PGRES_COPY_OUT);
  std::string got;
  char* buf = nullptr;
  int n;
  while ((n = PQgetCopyData(c.get(), &buf, 0)) > 0) {
    got.append(buf, static_cast<std::size_t>(n));
    PQfreemem(buf);
  }
  Result end(PQgetResult(c.get()));
  EXPECT_EQ(PQresultStatus(end.get()), PGRES_COMMAND_OK);
  EXPECT_EQ(got, sent);
}

TEST(Relay, LargeValuesStreamThroughBothWays) {
  auto& w = World::get();
  auto c = w.connect("app", w.agent_token());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK);
  // A 48 MiB row out, and a 16 MiB statement in.
  EXPECT_EQ(scalar(c.get(), "SELECT length(repeat('x', 48 * 1024 * 1024))"), "50331648");
  Result r(PQexec(c.get(), "SELECT repeat('ab', 24 * 1024 * 1024)"));
  ASSERT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK);
  EXPECT_EQ(PQgetlength(r.get(), 0, 0), 48 * 1024 * 1024);
  std::string big = "SELECT length('" + std::string(16 * 1024 * 1024, 'q') + "')";
  EXPECT_EQ(scalar(c.get(), big), "16777216");
}

long rss_kib(pid_t pid) {
  std::string status = testbed::read_file("/proc/" + std::to_string(pid) + "/status");
  auto at = status.find("VmRSS:");
  return at == std::string::npos ? -1 : std::stol(status.substr(at + 6));
}

TEST(Relay, AClientThatStopsReadingHoldsBackTheServerInsteadOfFillingMemory) {
  auto& w = World::get();
  auto c = w.connect("app", w.agent_token());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK);
  long before = rss_kib(w.gateway.pid());
  // About 2 GB of rows, which the client does not read for a while.
  ASSERT_EQ(PQsendQuery(c.get(), "SELECT repeat('x', 1000000) FROM generate_series(1, 2000)"), 1);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  long during = rss_kib(w.gateway.pid());
  EXPECT_LT(during - before, 64 * 1024)
      << "gateway RSS grew from " << before << " KiB to " << during << " KiB";
  // Walking away mid-result ends the session cleanly; the gateway keeps serving.
  c.reset();
  auto d = w.connect("app", w.agent_token());
  ASSERT_EQ(PQstatus(d.get()), CONNECTION_OK);
  EXPECT_EQ(scalar(d.get(), "SELECT 'after'"), "after");
}

TEST(Relay, AServerThatStopsReadingHoldsBackTheClientInsteadOfFillingMemory) {
  auto& w = World::get();
  auto locker = w.connect("app", w.agent_token());
  ASSERT_EQ(PQstatus(locker.get()), CONNECTION_OK);
  Result(PQexec(locker.get(), "CREATE TABLE IF NOT EXISTS bp_lock(x int)"));
  Result(PQexec(locker.get(), "BEGIN"));
  Result(PQexec(locker.get(), "LOCK TABLE bp_lock IN ACCESS EXCLUSIVE MODE"));

  auto c = w.connect("app", w.agent_token(), "disable");
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK);
  // The upstream backend blocks on the lock and reads nothing more from the gateway.
  ASSERT_EQ(PQsendQuery(c.get(), "SELECT * FROM bp_lock"), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  long before = rss_kib(w.gateway.pid());

  // Pour queries onto the socket until it stops taking them (or 512 MiB went in).
  int fd = PQsocket(c.get());
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::string sql = "SELECT 1 /*" + std::string(64 * 1024, 'p') + "*/";
  std::string msg = "Q" + be32(static_cast<uint32_t>(sql.size() + 5)) + sql + std::string(1, '\0');
  std::size_t sent = 0;
  auto quiet_since = std::chrono::steady_clock::now();
  while (sent < (512u << 20) &&
         std::chrono::steady_clock::now() - quiet_since < std::chrono::seconds(2)) {
    ssize_t n = send(fd, msg.data(), msg.size(), MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      if (static_cast<std::size_t>(n) < msg.size()) break;  // mid-message: stop here
      quiet_since = std::chrono::steady_clock::now();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  long during = rss_kib(w.gateway.pid());
  EXPECT_LT(sent, 64u << 20) << "the gateway kept reading " << sent
                             << " bytes the server could not take";
  EXPECT_LT(during - before, 64 * 1024)
      << "gateway RSS grew from " << before << " KiB to " << during << " KiB";

  Result(PQexec(locker.get(), "ROLLBACK"));
  c.reset();
  auto d = w.connect("app", w.agent_token());
  ASSERT_EQ(PQstatus(d.get()), CONNECTION_OK);
  EXPECT_EQ(scalar(d.get(), "SELECT 'after'"), "after");
}

TEST(Relay, NotificationsAndNoticesArrive) {
  auto& w = World::get();
  auto listener = w.connect("app", w.agent_token());
  auto sender = w.connect("app", w.agent_token());
  ASSERT_EQ(PQstatus(listener.get()), CONNECTION_OK);
  Result(PQexec(listener.get(), "LISTEN gh_events"));
  Result(PQexec(sender.get(), "NOTIFY gh_events, 'hello through the gateway'"));
  PGnotify* n = nullptr;
  for (int i = 0; i < 100 && n == nullptr; ++i) {
    PQconsumeInput(listener.get());
    n = PQnotifies(listener.get());
    if (!n) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_NE(n, nullptr);
  EXPECT_STREQ(n->relname, "gh_events");
  EXPECT_STREQ(n->extra, "hello through the gateway");
  PQfreemem(n);
  // ParameterStatus after SET is relayed too.
  Result(PQexec(sender.get(), "SET application_name = 'renamed'"));
  EXPECT_STREQ(PQparameterStatus(sender.get(), "application_name"), "renamed");
}

TEST(Relay, ErrorsAndTransactionStateAreThoseOfTheServer) {
  auto& w = World::get();
  auto c = w.connect("app", w.agent_token());
  Result(PQexec(c.get(), "BEGIN"));
  Result bad(PQexec(c.get(), "SELECT * FROM no_such_table"));
  EXPECT_EQ(sqlstate(bad.get()), "42P01");
  Result after(PQexec(c.get(), "SELECT 1"));
  EXPECT_EQ(sqlstate(after.get()), "25P02");
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_INERROR);
  Result(PQexec(c.get(), "ROLLBACK"));
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_IDLE);
}

TEST(Relay, PgSleepIsCancelledThroughTheGateway) {
  auto& w = World::get();
  auto c = w.connect("app", w.agent_token());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK);
  ASSERT_EQ(PQsendQuery(c.get(), "SELECT pg_sleep(60)"), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto started = std::chrono::steady_clock::now();
  PGcancel* cancel = PQgetCancel(c.get());
  char err[256];
  ASSERT_EQ(PQcancel(cancel, err, sizeof err), 1) << err;
  PQfreeCancel(cancel);
  Result r(PQgetResult(c.get()));
  EXPECT_EQ(sqlstate(r.get()), "57014");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  while (PGresult* extra = PQgetResult(c.get())) PQclear(extra);
  EXPECT_EQ(scalar(c.get(), "SELECT 'alive'"), "alive");
}

TEST(Relay, TwoHundredConcurrentClients) {
  auto& w = World::get();
  std::string token = w.agent_token();
  std::atomic<int> ok{0};
  std::vector<std::string> errors;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int i = 0; i < 200; ++i) {
    threads.emplace_back([&, i] {
      auto c = w.connect("app", token, i % 2 ? "require" : "disable");
      if (PQstatus(c.get()) != CONNECTION_OK) {
        std::lock_guard l(mu);
        errors.push_back(PQerrorMessage(c.get()));
        return;
      }
      try {
        for (int q = 0; q < 5; ++q) {
          if (scalar(c.get(), "SELECT " + std::to_string(i * 10 + q)) != std::to_string(i * 10 + q))
            throw std::runtime_error("wrong answer");
        }
        ok.fetch_add(1);
      } catch (const std::exception& e) {
        std::lock_guard l(mu);
        errors.push_back(e.what());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 200) << (errors.empty() ? "" : errors.front());
}

// ---- audit -----------------------------------------------------------------

TEST(Audit, SessionsStatementsAndRefusalsAreRecordedWithoutTheToken) {
  auto& w = World::get();
  std::string token = w.idp->mint("audited-agent", {"ai-agents", "extra-group"});
  {
    auto c = w.connect("app", token, "require", 0, "application_name=audit-check");
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK);
    scalar(c.get(), "SELECT 'audited statement'");
    Result bad(PQexec(c.get(), "SELECT * FROM audit_missing_table"));
    Result(PQexec(c.get(),
                  "DROP TABLE IF EXISTS audit_rows; CREATE TABLE audit_rows AS SELECT "
                  "generate_series(1,7) g"));
  }
  auto sessions = w.audit(
      "SELECT id, subject, groups_json, issuer, token_hash, client_addr, tls, connection, "
      "application_name, "
      "end_reason, ended_at_us > started_at_us FROM sessions WHERE subject = 'audited-agent'");
  ASSERT_EQ(sessions.size(), 1u);
  auto& s = sessions[0];
  EXPECT_NE(s[2].find("extra-group"), std::string::npos);
  EXPECT_EQ(s[3], "https://idp.test/");
  EXPECT_EQ(s[4], identity::token_hash(token));
  EXPECT_EQ(s[5].rfind("127.0.0.1:", 0), 0u);
  EXPECT_EQ(s[6], "1");
  EXPECT_EQ(s[7], "app");
  EXPECT_EQ(s[8], "audit-check");
  EXPECT_FALSE(s[9].empty());
  EXPECT_EQ(s[10], "1");

  w.wait_audit_flush();
  const auto stmts = session_statements(w.audit_db, s[0]);
  ASSERT_GE(stmts.size(), 4u);
  EXPECT_EQ(stmts[0].text, "SELECT 'audited statement'");
  EXPECT_EQ(stmts[0].outcome, "ok");
  EXPECT_EQ(stmts[0].rows, 1);
  EXPECT_EQ(stmts[1].outcome, "error");
  EXPECT_EQ(stmts[1].error_code, "42P01");
  // The two statements of the last Query are a record each.
  EXPECT_EQ(stmts[2].text, "DROP TABLE IF EXISTS audit_rows");
  EXPECT_EQ(stmts[2].rows, -1);
  EXPECT_EQ(stmts[3].text, "CREATE TABLE audit_rows AS SELECT generate_series(1,7) g");
  EXPECT_EQ(stmts[3].rows, 7);
  for (const auto& st : stmts) EXPECT_GE(st.duration_us, 0) << st.text;

  // Refused connections are recorded with their reason and never with the token.
  std::string expired = w.idp->mint_raw(
      R"({"iss":"https://idp.test/","aud":"gatehouse","sub":"late","iat":1,"exp":2})");
  Conn(PQconnectdb(w.conninfo("app", expired).c_str()));
  auto refused =
      w.audit("SELECT sqlstate, reason, token_hash FROM refused_connections WHERE token_hash = '" +
              identity::token_hash(expired) + "'");
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0][0], "28P01");
  EXPECT_NE(refused[0][1].find("expired"), std::string::npos);

  // Neither the store nor the log holds a token or an upstream password.
  w.wait_audit_flush();
  const auto no_secret = [&](const std::string& bytes, const std::string& where) {
    EXPECT_EQ(bytes.find(token.substr(token.rfind('.') + 1)), std::string::npos) << where;
    EXPECT_EQ(bytes.find("scram-secret-1"), std::string::npos) << where;
    EXPECT_EQ(bytes.find("md5-secret-2"), std::string::npos) << where;
  };
  for (const auto& path : {w.audit_db, w.audit_db + "-wal", w.log_path})
    no_secret(testbed::read_file(path), path);
  // Statements are kept compressed: their records are read as chained.
  for (const auto& c : stored_chunks(w.audit_db))
    for (std::size_t i = 0; i < c.records.size(); ++i)
      no_secret(c.records[i].canonical + c.texts.at(i), "audit_chunks id=" + std::to_string(c.id));
}

}  // namespace
}  // namespace gh::it
