// `gatehouse demo`: a throwaway PostgreSQL holding sample AI-agent reasoning
// traces, a gateway in front of it, a minted agent token, and the psql
// command to paste. Ctrl-C stops and removes everything it started.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <regex>
#include <thread>

#include "app/commands.h"
#include "testbed/idp.h"
#include "testbed/pg_cluster.h"
#include "testbed/process.h"

namespace gh::app {

namespace {

constexpr const char* kSampleData = R"SQL(
CREATE TABLE agents (
  id text PRIMARY KEY,
  owner_email text NOT NULL,
  model text NOT NULL
);
CREATE TABLE traces (
  id bigserial PRIMARY KEY,
  agent_id text REFERENCES agents(id),
  session_id text NOT NULL,
  step int NOT NULL,
  kind text NOT NULL,          -- thought | tool_call | observation | answer
  content text NOT NULL,
  metadata jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE customers (
  id serial PRIMARY KEY,
  name text, email text, phone text, card_number text, ssn text
);
INSERT INTO agents VALUES
  ('support-bot', 'maria.lopez@example.com', 'gpt-class-large'),
  ('billing-agent', 'ops-team@example.org', 'small-reasoner'),
  ('research-agent', 'k.tanaka@example.net', 'gpt-class-large');
INSERT INTO customers(name, email, phone, card_number, ssn) VALUES
  ('Jane Doe', 'jane.doe@example.com', '+1 415 555 0134', '4111 1111 1111 1111', '123-45-6789'),
  ('Omar Haddad', 'omar.h@example.org', '+44 20 7946 0958', '5500 0000 0000 0004', '234-56-7890'),
  ('Li Wei', 'li.wei@example.net', '+86 10 5555 0199', '3400 0000 0000 009', '345-67-8901');
INSERT INTO traces(agent_id, session_id, step, kind, content, metadata) VALUES
  ('support-bot', 'sess-001', 1, 'thought', 'The user jane.doe@example.com says her card was charged twice. I should look up recent payments.', '{"tokens": 41}'),
  ('support-bot', 'sess-001', 2, 'tool_call', 'sql: SELECT * FROM payments WHERE customer_email = ''jane.doe@example.com''', '{"tool": "sql"}'),
  ('support-bot', 'sess-001', 3, 'observation', 'Two charges on card 4111 1111 1111 1111 for $42.00 at 10:01 and 10:02.', '{"rows": 2}'),
  ('support-bot', 'sess-001', 4, 'answer', 'I found a duplicate charge and opened refund RF-2291 for you.', '{"refund": "RF-2291"}'),
  ('billing-agent', 'sess-002', 1, 'thought', 'Monthly invoice run. Customer omar.h@example.org has IBAN GB82 WEST 1234 5698 7654 32 on file.', '{}'),
  ('billing-agent', 'sess-002', 2, 'tool_call', 'http: POST /invoices {"customer": 2, "amount": 120.5}', '{"tool": "http"}'),
  ('billing-agent', 'sess-002', 3, 'observation', 'Invoice INV-2026-0042 created; email queued to omar.h@example.org.', '{"status": 201}'),
  ('research-agent', 'sess-003', 1, 'thought', 'Need the staging API key to fetch the dataset. It is AKIAIOSFODNN7EXAMPLE per the runbook.', '{"warning": "secret in reasoning"}'),
  ('research-agent', 'sess-003', 2, 'tool_call', 'shell: curl -H "Authorization: Bearer sk_live_51Hdemo0000000000000000" https://api.example.com/v1/data', '{"tool": "shell"}'),
  ('research-agent', 'sess-003', 3, 'observation', 'Downloaded 1,204 rows; contact for questions: +1 415 555 0134, SSN on record 123-45-6789.', '{"rows": 1204}'),
  ('research-agent', 'sess-003', 4, 'answer', 'Summary written to report-17 (version 2.4.1, generated 2026-11-20T10:00:00Z).', '{}');
)SQL";

volatile sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}

std::string random_password() {
  std::random_device rd;
  const char* alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  std::string out;
  for (int i = 0; i < 32; ++i) out += alphabet[rd() % 57];
  return out;
}

std::string self_path() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("gatehouse") : p.string();
}

}  // namespace

int run_demo(const DemoOptions& options) {
  std::string dir = options.dir.empty() ? testbed::make_temp_dir("gatehouse-demo") : options.dir;
  std::filesystem::create_directories(dir + "/secrets");
  bool remove_dir = options.dir.empty();
  std::cout << "gatehouse demo: working in " << dir << "\n";

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  int rc = 0;
  try {
    std::cout << "starting a throwaway PostgreSQL 15 with sample agent traces...\n" << std::flush;
    auto pg = testbed::PgCluster::create(dir, {});
    std::string password = random_password();
    pg.sql("CREATE ROLE svc_traces LOGIN PASSWORD '" + password +
           "'; CREATE DATABASE traces OWNER svc_traces;");
    pg.sql(std::string("SET ROLE svc_traces;") + kSampleData, "traces");
    testbed::write_file(dir + "/secrets/traces.pw", password + "\n", 0600);

    testbed::TestIdp idp("https://idp.demo.gatehouse.local/", "gatehouse",
                         identity::Algorithm::kEdDSA, "demo-idp-key");
    testbed::write_file(dir + "/idp-jwks.json", idp.jwks());
    std::string error;
    if (!testbed::make_self_signed_cert(dir + "/gateway.crt", dir + "/gateway.key", &error))
      throw std::runtime_error(error);

    int port = options.gateway_port ? options.gateway_port : testbed::free_port();
    const int admin_port = testbed::free_port();
    const std::string admin_url = "https://127.0.0.1:" + std::to_string(admin_port);
    std::string config = dir + "/gatehouse.yaml";
    testbed::write_file(config, R"(# The demo's gateway: see shared/design/config.md for every key.
gateway:
  id: demo
  data_dir: ./var
  log_format: text                     # for reading; without it, JSON lines for log shippers
  tls: {cert: gateway.crt, key: gateway.key}
  admin: {listen: "127.0.0.1:)" + std::to_string(admin_port) +
                                    R"("}   # the REST API behind `gatehouse reviews …`
identity:
  issuers:
    - name: demo-idp
      issuer: https://idp.demo.gatehouse.local/
      audience: gatehouse
      jwks_file: idp-jwks.json
      groups_claim: groups
      max_lifetime: 1h
listeners:
  - name: pg
    protocol: postgres
    listen: 127.0.0.1:)" + std::to_string(port) +
                                    R"(
    tls: required
connections:
  - name: traces
    protocol: postgres
    upstream: {host: 127.0.0.1, port: )" +
                                    std::to_string(pg.port()) + R"(, database: traces, tls: require}
    credentials: {user: svc_traces, password_file: secrets/traces.pw}
access:
  - name: agents-read-traces
    groups: [ai-agents]
    connections: [traces]
    actions: [read]
    tables: ["public.*", "pg_catalog.*", "information_schema.*"]
  - name: dba
    groups: [dba]
    connections: ["*"]
    actions: [read, write, ddl, admin]
guardrails:
  - name: no-destructive-ddl
    statements: [drop, truncate, alter_system]
  - name: no-unbounded-writes
    statements: [update, delete]
    without_where: true
  - name: no-server-file-access
    functions: [pg_read_file, pg_read_binary_file, pg_ls_dir, lo_import, lo_export, "dblink*"]
  - name: no-dynamic-sql-for-agents
    groups: [ai-agents]
    statements: [do, call, create_function]
masking:
  - name: pii
    connections: ["*"]
    columns: ["*.email", "*.owner_email", "public.customers.ssn", "public.customers.card_number"]
    detectors: [email, credit_card, us_ssn, phone, iban, ip_address, jwt, aws_access_key,
                private_key, generic_secret]
    style: partial
    except_groups: [dba]
approvals:
  - name: customer-pii
    groups: [ai-agents]
    tables: [public.customers]
    statements: [select]
    approvers: {groups: [data-owners], count: 1}
    mode: wait                         # the statement is held, the client told at once
    timeout: 10m
roles:
  admins: [dba]
)");
    std::string log = dir + "/gatehouse.log";
    auto gateway = testbed::Process::start({self_path(), "serve", "--config", config}, log);
    if (!testbed::wait_for_text(log, "gatehouse listening", std::chrono::seconds(30)))
      throw std::runtime_error("the gateway did not start:\n" + testbed::read_file(log));

    std::string agent_token = idp.mint("agent-7", {"ai-agents"}, 3600);
    std::string outsider_token = idp.mint("intern-3", {"interns"}, 3600);
    std::string approver_token = idp.mint("dana", {"data-owners"}, 3600);
    testbed::write_file(dir + "/agent.token", agent_token, 0600);
    testbed::write_file(dir + "/approver.token", approver_token, 0600);
    testbed::write_file(dir + "/outsider.token", outsider_token, 0600);

    // Prove the path works before handing it over.
    std::map<std::string, std::string> env = {{"PGPASSWORD", agent_token},
                                              {"PGSSLMODE", "require"}};
    std::string target =
        "host=127.0.0.1 port=" + std::to_string(port) + " dbname=traces user=agent-7";
    auto check = testbed::run({"psql", "-X", "-A", "-t", target, "-c",
                               "SELECT count(*) || ' traces visible through the gateway as ' || "
                               "current_user FROM traces"},
                              env);
    if (check.exit_code != 0)
      throw std::runtime_error("self-check through the gateway failed:\n" + check.output);
    // And that the policy holds: the agent's DROP never reaches the server.
    auto blocked = testbed::run({"psql", "-X", "-A", "-t", target, "-c", "DROP TABLE traces"}, env);
    if (blocked.output.find("blocked by no-destructive-ddl") == std::string::npos)
      throw std::runtime_error("self-check: a DROP was not blocked:\n" + blocked.output);
    // And that the reasoning traces come back masked.
    auto masked = testbed::run(
        {"psql", "-X", "-A", "-t", target, "-c", "SELECT content FROM traces WHERE id = 1"}, env);
    if (masked.exit_code != 0 || masked.output.find("jane.doe@example.com") != std::string::npos ||
        masked.output.find("@") == std::string::npos)
      throw std::runtime_error("self-check: a trace was not masked:\n" + masked.output);

    // And that a statement on customers is held until someone else approves it.
    // psql waits in a process of its own (started from this thread: forking
    // from a second one while this one allocates could hang the child).
    const std::string held_log = dir + "/held-psql.log";
    auto held_env = env;
    held_env["GH_DEMO_TARGET"] = target;
    auto held = testbed::Process::start(
        {"sh", "-c",
         "psql -X -A -t \"$GH_DEMO_TARGET\" -c \"SELECT count(*) || ' customers, released by an "
         "approval' FROM customers\"; echo exit=$?"},
        held_log, held_env);
    std::map<std::string, std::string> approver_env = {{"GATEHOUSE_GATEWAY", admin_url},
                                                       {"GATEHOUSE_TOKEN", approver_token},
                                                       {"GATEHOUSE_CA", dir + "/gateway.crt"}};
    std::string request;
    for (int i = 0; i < 100 && request.empty(); ++i) {
      auto list =
          testbed::run({self_path(), "reviews", "list", "--status", "pending"}, approver_env);
      std::smatch m;
      if (std::regex_search(list.output, m, std::regex("(r-[0-9a-f]+)  pending  customer-pii")))
        request = m[1];
      else
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (request.empty())
      throw std::runtime_error("self-check: no approval request was raised:\n" +
                               testbed::read_file(log));
    auto approve = testbed::run(
        {self_path(), "reviews", "approve", request, "--reason", "demo self-check"}, approver_env);
    for (int i = 0; i < 500 && held.running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    held.stop();
    const std::string released = testbed::read_file(held_log);
    const auto line_at = released.find(" customers, released by an approval");
    if (approve.exit_code != 0 || released.find("exit=0") == std::string::npos ||
        released.find("held for approval (customer-pii)") == std::string::npos ||
        line_at == std::string::npos)
      throw std::runtime_error("self-check: the held statement was not released:\n" +
                               approve.output + released);
    const std::size_t line_start = released.rfind('\n', line_at);
    const std::size_t from = line_start == std::string::npos ? 0 : line_start + 1;
    const std::string released_line =
        released.substr(from, line_at - from) + " customers, released by an approval\n";

    std::cout << "\n  PostgreSQL   127.0.0.1:" << pg.port() << " (its password lives only in "
              << dir << "/secrets)\n"
              << "  gateway      127.0.0.1:" << port << " (TLS required, log: " << log << ")\n"
              << "  self-check   "
              << check.output.substr(0, check.output.find_last_not_of("\n") + 1) << "\n"
              << "  masked trace "
              << masked.output.substr(0, masked.output.find_last_not_of("\n") + 1) << "\n"
              << "  approval     request " << request << " approved by dana: " << released_line
              << "  admin API    " << admin_url << "\n"
              << "Connect as the agent — its short-lived token (1h) is the password:\n\n"
              << "  export PGPASSWORD=\"$(cat " << dir << "/agent.token)\"\n"
              << "  psql \"host=127.0.0.1 port=" << port
              << " dbname=traces user=agent-7 sslmode=require\"\n\n"
              << "Things to try:\n"
              << "  SELECT agent_id, kind, content FROM traces ORDER BY id;  -- emails, cards, "
                 "keys, SSNs masked\n"
              << "  SELECT upper(owner_email) AS e FROM agents;  -- aliases and expressions "
                 "do not dodge it\n"
              << "  SELECT json_agg(t) FROM traces t;  -- nor JSON aggregates\n"
              << "  SELECT current_user;   -- the gateway's own upstream role: you never saw its "
                 "password\n"
              << "  DROP TABLE traces;     -- blocked by a guardrail before the server sees it\n"
              << "  DELETE FROM traces;    -- the agent may only read\n"
              << "  SELECT pg_read_file('/etc/passwd');  -- server file access is blocked\n"
              << "  SELECT name, email FROM customers;  -- held for approval: psql shows the "
                 "request id and waits\n"
              << "    then, in a second terminal, approve it as dana (data-owners):\n"
              << "    export GATEHOUSE_GATEWAY=" << admin_url << " GATEHOUSE_CA=" << dir
              << "/gateway.crt GATEHOUSE_TOKEN=\"$(cat " << dir << "/approver.token)\"\n"
              << "    " << self_path() << " reviews list\n"
              << "    " << self_path()
              << " reviews approve <request id>   # the held statement runs at once\n"
              << "    (the agent cannot approve its own request, and dana only what her group "
                 "may)\n"
              << "  gatehouse pause --config " << config
              << "   # statements are held (NOTICE) until resume\n"
              << "  a token for a group without access is refused:\n"
              << "    PGPASSWORD=\"$(cat " << dir
              << "/outsider.token)\" psql \"host=127.0.0.1 port=" << port
              << " dbname=traces user=intern-3 sslmode=require\"\n"
              << "  every session and statement is in the audit store:\n"
              << "    sqlite3 " << dir
              << "/var/audit.db 'SELECT subject, text, outcome, kind, decision, rule FROM "
                 "statements JOIN sessions ON sessions.id = session_id ORDER BY at_us'\n\n"
              << (options.no_wait ? "--no-wait: stopping now.\n"
                                  : "Ctrl-C stops everything and removes " + dir + "\n")
              << std::flush;

    while (!options.no_wait && !g_stop) usleep(200 * 1000);
    std::cout << "\nstopping the gateway and PostgreSQL...\n";
    gateway.stop();
    pg.stop();
  } catch (const std::exception& e) {
    std::cerr << "gatehouse demo: " << e.what() << "\n";
    rc = 1;
  }
  if (remove_dir) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::cout << "done.\n";
  return rc;
}

}  // namespace gh::app
