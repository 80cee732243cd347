// The shared audit store on a real PostgreSQL 15: any bytes a statement
// carried are kept as they were; replicas write their own chains into one
// database at once and start together without tripping over the schema; a
// lost connection is re-established, and a batch whose commit was lost with
// it is not written twice; the reader's filters work in PostgreSQL's SQL;
// and a failed connection names the server, never the password.
#include <gtest/gtest.h>

#include <barrier>
#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "audit/chain.h"
#include "store/postgres/pg_store.h"
#include "store/sql/store.h"
#include "store/sql/tests/pg_server.h"

namespace gh::store {
namespace {

using namespace std::string_literals;

audit::CheckpointSignature fake_sign(std::string_view message) {
  return {"test-key", audit::chain_hash(audit::kGenesisHash, "test-key|" + std::string(message))};
}

std::string fake_check(std::string_view kid, std::string_view signature, std::string_view message) {
  if (kid != "test-key") return "unknown key " + std::string(kid);
  return signature == fake_sign(message).signature ? "" : "signature mismatch";
}

std::string lines(const audit::VerifyReport& r) {
  std::string out;
  for (const auto& f : r.findings) out += audit::to_line(f) + "\n";
  return out;
}

model::SessionStart start(std::string id, std::string subject, std::vector<std::string> groups,
                          std::string connection, std::int64_t at, std::string replica = "gw-1") {
  model::SessionStart s;
  s.session_id = std::move(id);
  s.subject = std::move(subject);
  s.groups = std::move(groups);
  s.connection = std::move(connection);
  s.at_us = at;
  s.replica = std::move(replica);
  s.tls = true;
  return s;
}

model::StatementEvent statement(std::string session, std::int64_t seq, std::int64_t at,
                                std::string text, std::string kind = "select",
                                std::string decision = "allow", std::string rule = "agents-read",
                                std::vector<std::string> tables = {}) {
  model::StatementEvent e;
  e.session_id = std::move(session);
  e.seq = seq;
  e.at_us = at;
  e.duration_us = 250;
  e.text = std::move(text);
  e.outcome = decision == "deny" ? "denied" : "ok";
  e.decision.kind = std::move(kind);
  e.decision.cls = "read";
  e.decision.decision = std::move(decision);
  e.decision.rule = std::move(rule);
  e.decision.tables = std::move(tables);
  e.decision.policy_version = 3;
  if (seq == 1) e.result = R"({"columns":["x"],"rows":[["1"]],"truncated":false})";
  return e;
}

model::SessionEnd end(std::string session, std::int64_t at, std::int64_t statements) {
  model::SessionEnd x;
  x.session_id = std::move(session);
  x.at_us = at;
  x.reason = "client closed";
  x.statements = statements;
  return x;
}

// One cluster for the suite, a fresh database for each test.
class PostgresStoreTest : public ::testing::Test {
 protected:
  static pgtest::PgServer& server() {
    static pgtest::PgServer s;
    return s;
  }
  static void TearDownTestSuite() { server().stop(); }

  void SetUp() override {
    server().start();
    database_ = server().create_database();
    url_ = server().url(database_);
    client_ = std::make_unique<pgtest::PgClient>(url_);
  }
  void TearDown() override { client_.reset(); }

  StoreOptions options(const std::string& replica = "gw-1") {
    StoreOptions o;
    o.replica = replica;
    o.chain.sign = [](std::string_view m) -> Expected<audit::CheckpointSignature> {
      return fake_sign(m);
    };
    return o;
  }

  std::unique_ptr<audit::Store> open(StoreOptions o) {
    auto store = open_postgres_store(url_, std::move(o));
    EXPECT_TRUE(store.has_value()) << (store ? "" : store.error());
    return store ? std::move(*store) : nullptr;
  }

  audit::VerifyReport verify() {
    auto r = verify_postgres_store(url_, fake_check);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error());
    return r ? std::move(*r) : audit::VerifyReport{};
  }

  std::unique_ptr<audit::Reader> reader() {
    auto r = open_postgres_reader(url_);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error());
    return r ? std::move(*r) : nullptr;
  }

  // Ends the server sessions of this database whose application_name is
  // `pattern` (LIKE), and waits until they are gone; how many there were.
  int terminate(const std::string& pattern) {
    const std::string where = "FROM pg_stat_activity WHERE datname = '" + database_ +
                              "' AND application_name LIKE '" + pattern + "'";
    const int n = std::stoi(client_->scalar("SELECT count(*) " + where));
    EXPECT_EQ(client_->exec("SELECT pg_terminate_backend(pid) " + where), "");
    EXPECT_TRUE(
        testbed::eventually([&] { return client_->scalar("SELECT count(*) " + where) == "0"; }));
    return n;
  }

  // The reader test's data: two sessions, three statements, one session end.
  void write_reader_data() {
    auto store = open(options());
    ASSERT_TRUE(store);
    std::vector<model::AuditEvent> events;
    events.push_back(start("s-1", "agent-7", {"ai-agents"}, "traces", 1'000));
    events.push_back(start("s-2", "dana", {"dba", "data-owners"}, "billing", 2'000));
    events.push_back(statement("s-1", 1, 1'100, "SELECT * FROM public.traces", "select", "allow",
                               "agents-read", {"public.traces"}));
    events.push_back(statement("s-1", 2, 1'200, "DROP TABLE public.traces", "drop", "deny",
                               "no-ddl", {"public.traces"}));
    events.push_back(statement("s-2", 1, 2'100, "SELECT 1", "select", "allow", "dba", {}));
    events.push_back(end("s-1", 1'500, 2));
    ASSERT_TRUE(store->write_batch(events).has_value());
    ASSERT_TRUE(store->close());
  }

  std::string database_, url_;
  std::unique_ptr<pgtest::PgClient> client_;
};

// (a) PostgreSQL's text holds neither NUL nor invalid UTF-8; the audit trail
// must keep whatever bytes the client sent.
TEST_F(PostgresStoreTest, TextThatIsNotPlainUtf8IsKeptByteForByte) {
  const std::vector<std::string> texts = {
      "SELECT '\xff\xfe' /* latin-1 bytes, not UTF-8 */"s,
      "SELECT 'a\0b'"s,
      "\x01hex:4142"s,  // looks like the store's own escape of "AB"
      "\x01"s,
      "SELECT 'caf\xc3' -- cut in the middle of a character"s,
      "SELECT 'caf\xc3\xa9'"s,  // valid UTF-8, kept as it is
  };
  ASSERT_EQ(texts[1].size(), 12u);  // the NUL included
  auto store = open(options());
  ASSERT_TRUE(store);
  std::vector<model::AuditEvent> events;
  events.push_back(start("s-1", "agent-\xc3\x28", {"ai-agents"}, "traces", 1'000));
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto e = statement("s-1", static_cast<std::int64_t>(i + 1),
                       1'100 + static_cast<std::int64_t>(i), texts[i]);
    e.error_message = "bad byte \0 here"s;
    events.push_back(e);
  }
  events.push_back(end("s-1", 2'000, static_cast<std::int64_t>(texts.size())));
  ASSERT_TRUE(store->write_batch(events));
  ASSERT_TRUE(store->close());

  auto r = reader();
  ASSERT_TRUE(r);
  auto t = r->transcript("s-1");
  ASSERT_TRUE(t.has_value()) << t.error();
  ASSERT_EQ(t->size(), texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ((*t)[i].text, texts[i]) << "statement " << i + 1;
    EXPECT_EQ((*t)[i].error_message, "bad byte \0 here"s);
  }
  auto s = r->session("s-1");
  ASSERT_TRUE(s.has_value()) << s.error();
  ASSERT_TRUE(s->has_value());
  EXPECT_EQ((*s)->subject, "agent-\xc3\x28");
  EXPECT_EQ((*s)->groups, std::vector<std::string>{"ai-agents"});
  // Text search finds what is UTF-8 and what is not.
  audit::StatementQuery q;
  q.text = "caf\xc3\xa9";
  auto found = r->search(q);
  ASSERT_TRUE(found.has_value()) << found.error();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].text, "SELECT 'caf\xc3\xa9'");
  q.text = "caf\xc3'";
  found = r->search(q);
  ASSERT_TRUE(found.has_value()) << found.error();
  EXPECT_EQ(found->size(), 1u);

  auto report = verify();
  EXPECT_TRUE(report.ok()) << lines(report);
  EXPECT_EQ(report.rows_checked, 2);  // the session's start and end; statements are streamed
}

// (b) Replicas sharing the database write at the same time, each its own chain.
TEST_F(PostgresStoreTest, TwoReplicasWriteConcurrentlyAndBothChainsVerify) {
  constexpr int kBatches = 12;
  constexpr int kStatements = 4;
  auto write = [&](const std::string& replica, std::string* error) {
    auto o = options(replica);
    o.chain.checkpoint_every = 7;
    auto store = open_postgres_store(url_, o);
    if (!store) {
      *error = store.error();
      return;
    }
    for (int b = 0; b < kBatches; ++b) {
      const std::string sid = replica + "-s" + std::to_string(b);
      const std::int64_t at = 1'000'000 + b * 1'000;
      std::vector<model::AuditEvent> events;
      events.push_back(start(sid, "agent", {"ai-agents"}, "traces", at, replica));
      for (int i = 1; i <= kStatements; ++i)
        events.push_back(statement(sid, i, at + i, "SELECT " + std::to_string(i), "select", "allow",
                                   "agents-read", {"public.t" + std::to_string(i)}));
      events.push_back(end(sid, at + 100, kStatements));
      if (auto st = (*store)->write_batch(events); !st) {
        *error = "batch " + std::to_string(b) + ": " + st.error();
        return;
      }
    }
    if (auto st = (*store)->close(); !st) *error = st.error();
  };
  std::string error_a, error_b;
  {
    std::jthread a(write, "gw-a", &error_a);
    std::jthread b(write, "gw-b", &error_b);
  }
  EXPECT_EQ(error_a, "");
  EXPECT_EQ(error_b, "");
  const int per_replica = kBatches * (kStatements + 2);
  EXPECT_EQ(client_->scalar("SELECT count(*) FROM audit_chain"), std::to_string(2 * kBatches * 2));
  EXPECT_EQ(client_->scalar("SELECT sum(records) FROM audit_chunks"),
            std::to_string(2 * kBatches * kStatements));
  auto r = verify();
  EXPECT_TRUE(r.ok()) << lines(r);
  ASSERT_EQ(r.replicas.size(), 2u);
  EXPECT_EQ(r.replicas[0].replica, "gw-a");
  EXPECT_EQ(r.replicas[1].replica, "gw-b");
  for (const auto& rep : r.replicas) {
    EXPECT_EQ(rep.first_seq, 1) << rep.replica;
    EXPECT_EQ(rep.last_seq, per_replica) << rep.replica;
    EXPECT_EQ(rep.signed_through, per_replica) << rep.replica;
  }
  EXPECT_EQ(r.rows_checked, 2 * kBatches * 2);
}

// (c) Replicas starting together on a fresh database apply the schema once.
TEST_F(PostgresStoreTest, TwoStoresOpenedAtOnceOnAFreshDatabaseBothMigrate) {
  // A race shows only sometimes: several fresh databases, two stores each.
  for (int round = 0; round < 6; ++round) {
    const std::string db = round == 0 ? database_ : server().create_database();
    const std::string url = server().url(db);
    std::barrier ready(2);
    std::string errors[2];
    bool opened[2] = {false, false};
    {
      std::vector<std::jthread> threads;
      for (int i = 0; i < 2; ++i) {
        threads.emplace_back([&, i] {
          ready.arrive_and_wait();
          auto store = open_postgres_store(url, options("gw-" + std::to_string(i)));
          if (store)
            opened[i] = true;
          else
            errors[i] = store.error();
        });
      }
    }
    for (int i = 0; i < 2; ++i) {
      EXPECT_TRUE(opened[i]) << "round " << round << ", store " << i << ": " << errors[i];
    }
    pgtest::PgClient c(url);
    // Version 1 (the chain's schema) exactly once, and every later step once, in order.
    EXPECT_EQ(c.scalar("SELECT count(*) FROM schema_migrations WHERE version = 1"), "1")
        << "round " << round;
    EXPECT_EQ(c.scalar("SELECT count(*) = max(version) AND count(*) = count(DISTINCT version) "
                       "FROM schema_migrations"),
              "t")
        << "round " << round;
    EXPECT_EQ(c.scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'audit_chain'"), "1");
  }
}

// (d) The store's connection is cut (a server restart, a failover, an idle
// timeout): the next write may fail, the one after reconnects.
TEST_F(PostgresStoreTest, AStoreReconnectsAfterItsConnectionIsLost) {
  auto store = open(options());
  ASSERT_TRUE(store);
  std::vector<model::AuditEvent> first{start("s-1", "agent-7", {"ai-agents"}, "traces", 1'000),
                                       statement("s-1", 1, 1'100, "SELECT 1")};
  ASSERT_TRUE(store->write_batch(first));
  ASSERT_EQ(terminate("gatehouse%audit"), 1);

  std::vector<model::AuditEvent> second{statement("s-1", 2, 1'200, "SELECT 2"),
                                        end("s-1", 1'300, 2)};
  if (auto st = store->write_batch(second); !st) {
    auto retry = store->write_batch(second);
    ASSERT_TRUE(retry) << "after " << st.error() << ": " << retry.error();
  }
  // And it goes on from there.
  ASSERT_TRUE(store->write_batch(
      std::vector<model::AuditEvent>{start("s-2", "dana", {"dba"}, "billing", 2'000)}));
  ASSERT_TRUE(store->close());
  EXPECT_EQ(client_->scalar("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM audit_chain"),
            "1,4,5");
  EXPECT_EQ(client_->scalar("SELECT string_agg(first_seq::text || '-' || last_seq, ',' ORDER BY "
                            "first_seq) FROM audit_chunks"),
            "2-2,3-3");
  auto r = verify();
  EXPECT_TRUE(r.ok()) << lines(r);
  ASSERT_EQ(r.replicas.size(), 1u);
  EXPECT_EQ(r.replicas[0].signed_through, 5);
}

TEST_F(PostgresStoreTest, AReaderReconnectsAfterItsConnectionIsLost) {
  write_reader_data();
  auto r = reader();
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->sessions({}).has_value());
  ASSERT_EQ(terminate("gatehouse audit reader"), 1);
  auto sessions = r->sessions({});
  if (!sessions) sessions = r->sessions({});
  ASSERT_TRUE(sessions.has_value()) << sessions.error();
  EXPECT_EQ(sessions->size(), 2u);
}

// (e) A commit whose answer was lost: the batch is in the database though
// the store was told it failed. The recorder retries it; it must not be
// written twice (the chain would fork at the same seq, or the insert fail
// for ever on the duplicate).
TEST_F(PostgresStoreTest, ABatchWhoseCommitWasLostIsNotWrittenTwice) {
  auto x = open(options("gw-r"));
  ASSERT_TRUE(x);
  std::vector<model::AuditEvent> batch{start("s-1", "agent-7", {"ai-agents"}, "traces", 1'000),
                                       statement("s-1", 1, 1'100, "SELECT 1"),
                                       statement("s-1", 2, 1'200, "SELECT 2")};
  {
    // Stands in for X's own commit of e1, e2 whose answer X never got.
    auto o = options("gw-r");
    o.chain.sign = nullptr;
    auto y = open(o);
    ASSERT_TRUE(y);
    ASSERT_TRUE(y->write_batch(std::span(batch).first(2)));
  }
  ASSERT_EQ(terminate("gatehouse%audit"), 1);  // X's connection, Y's is closed
  auto failed = x->write_batch(batch);
  EXPECT_FALSE(failed) << "the write on a terminated connection should fail";
  auto retried = x->write_batch(batch);
  ASSERT_TRUE(retried) << retried.error();
  ASSERT_TRUE(x->close());

  EXPECT_EQ(client_->scalar("SELECT string_agg(seq::text || ':' || type, ',' ORDER BY seq) "
                            "FROM audit_chain"),
            "1:session_start");
  // Y's chunk, then X's retry of what Y had not written.
  EXPECT_EQ(client_->scalar("SELECT string_agg(first_seq::text || '-' || last_seq, ',' ORDER BY "
                            "first_seq) FROM audit_chunks"),
            "2-2,3-3");
  auto rd = reader();
  ASSERT_TRUE(rd);
  auto t = rd->transcript("s-1");
  ASSERT_TRUE(t.has_value()) << t.error();
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0].text, "SELECT 1");
  EXPECT_EQ((*t)[1].text, "SELECT 2");
  EXPECT_EQ(client_->scalar("SELECT count(*) FROM sessions"), "1");
  auto r = verify();
  EXPECT_TRUE(r.ok()) << lines(r);
  ASSERT_EQ(r.replicas.size(), 1u);
  EXPECT_EQ(r.replicas[0].last_seq, 3);
  EXPECT_EQ(r.replicas[0].signed_through, 3);
}

// (f) The reader's filters in PostgreSQL's SQL (json_array_has, strpos, the
// statement_tables index), as the SQLite reader's tests check them.
TEST_F(PostgresStoreTest, ReaderSessionsAreFilteredAndNewestFirst) {
  write_reader_data();
  auto reader_ = reader();
  ASSERT_TRUE(reader_);
  auto all = reader_->sessions({});
  ASSERT_TRUE(all.has_value()) << all.error();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, "s-2");
  EXPECT_EQ((*all)[1].end_reason, "client closed");
  EXPECT_EQ((*all)[1].groups, std::vector<std::string>{"ai-agents"});
  EXPECT_TRUE((*all)[1].tls);
  auto by_group = [&](const std::string& group) {
    audit::SessionQuery q;
    q.group = group;
    auto g = reader_->sessions(q);
    EXPECT_TRUE(g.has_value()) << g.error();
    std::string ids;
    if (g)
      for (const auto& s : *g) ids += (ids.empty() ? "" : ",") + s.id;
    return ids;
  };
  EXPECT_EQ(by_group("data-owners"), "s-2");
  EXPECT_EQ(by_group("ai-agents"), "s-1");
  EXPECT_EQ(by_group("data"), "");  // a whole member, not a substring
  EXPECT_EQ(by_group("x' OR '1'='1"), "");
  audit::SessionQuery since;
  since.since_us = 1'500;
  EXPECT_EQ(reader_->sessions(since)->size(), 1u);
  audit::SessionQuery limited;
  limited.limit = 1;
  EXPECT_EQ(reader_->sessions(limited)->size(), 1u);
  EXPECT_TRUE(reader_->session("s-1")->has_value());
  EXPECT_FALSE(reader_->session("nope")->has_value());
}

TEST_F(PostgresStoreTest, ReaderTranscriptIsInOrderWithDecisionsAndResults) {
  write_reader_data();
  auto reader_ = reader();
  ASSERT_TRUE(reader_);
  auto t = reader_->transcript("s-1");
  ASSERT_TRUE(t.has_value()) << t.error();
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0].text, "SELECT * FROM public.traces");
  EXPECT_EQ((*t)[0].subject, "agent-7");
  EXPECT_EQ((*t)[0].duration_us, 250);
  EXPECT_EQ((*t)[0].result_json, R"({"columns":["x"],"rows":[["1"]],"truncated":false})");
  EXPECT_EQ((*t)[1].decision, "deny");
  EXPECT_EQ((*t)[1].rule, "no-ddl");
  EXPECT_EQ((*t)[1].tables, std::vector<std::string>{"public.traces"});
  EXPECT_EQ((*t)[1].policy_version, 3);
  EXPECT_EQ((*t)[1].rows, -1);
}

TEST_F(PostgresStoreTest, ReaderEverySearchFilterNarrows) {
  write_reader_data();
  auto reader_ = reader();
  ASSERT_TRUE(reader_);
  auto run = [&](auto set) {
    audit::StatementQuery q;
    set(q);
    auto r = reader_->search(q);
    EXPECT_TRUE(r.has_value()) << r.error();
    std::string out;
    if (r)
      for (const auto& s : *r)
        out += (out.empty() ? "" : ",") + s.session_id + "/" + std::to_string(s.seq);
    return out;
  };
  EXPECT_EQ(run([](auto&) {}), "s-2/1,s-1/2,s-1/1");
  EXPECT_EQ(run([](auto& q) { q.subject = "agent-7"; }), "s-1/2,s-1/1");
  EXPECT_EQ(run([](auto& q) { q.group = "dba"; }), "s-2/1");
  EXPECT_EQ(run([](auto& q) { q.connection = "traces"; }), "s-1/2,s-1/1");
  EXPECT_EQ(run([](auto& q) { q.table = "public.traces"; }), "s-1/2,s-1/1");
  EXPECT_EQ(run([](auto& q) { q.table = "public"; }), "");
  EXPECT_EQ(run([](auto& q) { q.kind = "drop"; }), "s-1/2");
  EXPECT_EQ(run([](auto& q) { q.decision = "deny"; }), "s-1/2");
  EXPECT_EQ(run([](auto& q) { q.decision = "allow"; }), "s-2/1,s-1/1");
  EXPECT_EQ(run([](auto& q) { q.rule = "agents-read"; }), "s-1/1");
  EXPECT_EQ(run([](auto& q) { q.outcome = "denied"; }), "s-1/2");
  EXPECT_EQ(run([](auto& q) { q.session_id = "s-2"; }), "s-2/1");
  EXPECT_EQ(run([](auto& q) { q.text = "DROP"; }), "s-1/2");
  EXPECT_EQ(run([](auto& q) { q.text = "public.traces"; }), "s-1/2,s-1/1");
  EXPECT_EQ(run([](auto& q) { q.since_us = 1'150; }), "s-2/1,s-1/2");
  EXPECT_EQ(run([](auto& q) { q.until_us = 1'150; }), "s-1/1");
  EXPECT_EQ(run([](auto& q) { q.limit = 1; }), "s-2/1");
  EXPECT_EQ(run([](auto& q) {
              q.table = "public.traces";
              q.decision = "allow";
            }),
            "s-1/1");
  // Values are bound: SQL or a pattern in a filter is just text that matches nothing.
  EXPECT_EQ(run([](auto& q) { q.subject = "x' OR '1'='1"; }), "");
  EXPECT_EQ(run([](auto& q) { q.text = "%"; }), "");
  EXPECT_EQ(run([](auto& q) { q.text = "_"; }), "");
  EXPECT_EQ(run([](auto& q) { q.text = "?"; }), "");
}

// (g) Connection errors say where, for the operator, and never the password.
TEST_F(PostgresStoreTest, AFailedConnectionNamesTheHostButNotThePassword) {
  ASSERT_EQ(client_->exec("CREATE ROLE gh_audit LOGIN PASSWORD 'right-pass-8231';"
                          "ALTER DATABASE " +
                          database_ + " OWNER TO gh_audit;"),
            "");
  const std::string port = std::to_string(server().port());
  const std::string tcp = "postgresql://gh_audit:%s@127.0.0.1:" + port + "/" + database_;
  auto with = [&](const std::string& password) {
    std::string url = tcp;
    url.replace(url.find("%s"), 2, password);
    return url;
  };
  // The right password gets in over TCP (SCRAM): the failures below are the password's.
  {
    auto store = open_postgres_store(with("right-pass-8231"), options());
    ASSERT_TRUE(store.has_value()) << store.error();
  }
  const int closed = testbed::free_port();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {with("wrong-pass-5519"), "wrong-pass-5519"},
      {"host=127.0.0.1 port=" + port +
           " user=gh_audit password=wrong-pass-7734 dbname=" + database_,
       "wrong-pass-7734"},
      {"postgresql://gh_audit:closed-pass-4410@127.0.0.1:" + std::to_string(closed) + "/" +
           database_,
       "closed-pass-4410"},
      {"postgresql://gh_audit@127.0.0.1:" + port + "/" + database_ + "?password=query-pass-9917",
       "query-pass-9917"},
  };
  for (const auto& [url, password] : cases) {
    std::vector<std::string> errors;
    auto store = open_postgres_store(url, options());
    ASSERT_FALSE(store.has_value()) << url;
    errors.push_back(store.error());
    auto reader = open_postgres_reader(url);
    ASSERT_FALSE(reader.has_value()) << url;
    errors.push_back(reader.error());
    auto report = verify_postgres_store(url, fake_check);
    ASSERT_FALSE(report.has_value()) << url;
    errors.push_back(report.error());
    for (const auto& e : errors) {
      EXPECT_NE(e.find("127.0.0.1"), std::string::npos) << e;
      EXPECT_EQ(e.find(password), std::string::npos) << e;
      EXPECT_EQ(e.find("right-pass-8231"), std::string::npos) << e;
      if (password != "closed-pass-4410")
        EXPECT_NE(e.find("password authentication failed"), std::string::npos) << e;
      else
        EXPECT_NE(e.find(std::to_string(closed)), std::string::npos) << e;
    }
  }
}

}  // namespace
}  // namespace gh::store
