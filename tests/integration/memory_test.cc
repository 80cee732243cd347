// Memory budgets: what one client makes the gateway hold (prepared
// statements, bound parameters, pipelined statements) is bounded per session
// and across the gateway. Past a budget that client's session ends with
// 53200 and says which budget; other sessions go on.
#include <gtest/gtest.h>

#include <string>

#include "tests/integration/harness.h"

namespace gh::it {
namespace {

std::unique_ptr<OwnGateway> budget_gateway(const World& w, const std::string& name,
                                           const std::string& limits) {
  return std::make_unique<OwnGateway>(name, [&w, name, limits](int port) {
    std::string y = OwnGateway::base_yaml(w, name, port, false);
    y.replace(y.find("  log_level: debug\n"), 0, limits);
    return y + R"(access:
  - name: staff
    groups: [analysts]
    connections: [app]
    actions: [read, write]
)";
  });
}

// A statement of about `kb` KiB of text: a comment padded out.
std::string big_statement(int kb) {
  return "SELECT 1 /* " + std::string(static_cast<std::size_t>(kb) * 1024, 'x') + " */";
}

TEST(MemoryBudget, PreparedStatementsPastTheSessionBudgetEndThatSessionOnly) {
  const World& w = World::get();
  auto gw = budget_gateway(w, "gatehouse-memory-session", "  session_memory: 2MiB\n");
  const std::string token = w.idp->mint("analyst-m", {"analysts"});
  auto other = gw->connect(token);
  auto c = gw->connect(token);
  int prepared = 0;
  std::string error;
  for (int i = 0; i < 40; ++i) {
    Result r(PQprepare(c.get(), ("s" + std::to_string(i)).c_str(), big_statement(256).c_str(), 0,
                       nullptr));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      error = PQerrorMessage(c.get());  // the session's FATAL
      break;
    }
    ++prepared;
  }
  // 256 KiB each against 2 MiB: a handful fit, then the session ends.
  EXPECT_GE(prepared, 4);
  EXPECT_LT(prepared, 10);
  EXPECT_NE(error.find("FATAL:  gatehouse: out of memory"), std::string::npos) << error;
  EXPECT_NE(error.find("gateway.session_memory"), std::string::npos) << error;
  EXPECT_EQ(PQstatus(c.get()), CONNECTION_BAD);
  EXPECT_EQ(scalar(other.get(), "SELECT 41 + 1"), "42");
  // What the ended session held is given back: a new session has its whole budget.
  auto again = gw->connect(token);
  for (int i = 0; i < 4; ++i) {
    Result r(PQprepare(again.get(), ("t" + std::to_string(i)).c_str(), big_statement(256).c_str(),
                       0, nullptr));
    EXPECT_EQ(PQresultStatus(r.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(r.get());
  }
}

TEST(MemoryBudget, BoundParametersCountToo) {
  const World& w = World::get();
  auto gw = budget_gateway(w, "gatehouse-memory-params", "  session_memory: 1MiB\n");
  auto c = gw->connect(w.idp->mint("analyst-p", {"analysts"}));
  // 40 parameters of 60 KiB each, bound to a portal the gateway remembers.
  std::string sql = "SELECT length(concat(";
  for (int i = 1; i <= 40; ++i) sql += (i > 1 ? ", $" : "$") + std::to_string(i) + "::text";
  sql += "))";
  const std::string value(60 * 1024, 'p');
  std::vector<const char*> values(40, value.c_str());
  Result r(PQexecParams(c.get(), sql.c_str(), 40, nullptr, values.data(), nullptr, nullptr, 0));
  EXPECT_NE(PQresultStatus(r.get()), PGRES_TUPLES_OK);
  EXPECT_NE(std::string(PQerrorMessage(c.get())).find("gateway.session_memory"), std::string::npos)
      << PQerrorMessage(c.get());
}

TEST(MemoryBudget, TheGatewayBudgetIsSharedAndOnlyTheSessionAskingForMoreEnds) {
  const World& w = World::get();
  auto gw = budget_gateway(w, "gatehouse-memory-process",
                           "  session_memory: 12MiB\n  memory_limit: 16MiB\n");
  const std::string token = w.idp->mint("analyst-g", {"analysts"});
  auto first = gw->connect(token);
  for (int i = 0; i < 9; ++i) {
    Result r(PQprepare(first.get(), ("a" + std::to_string(i)).c_str(), big_statement(1000).c_str(),
                       0, nullptr));
    ASSERT_EQ(PQresultStatus(r.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(r.get());
  }
  auto second = gw->connect(token);
  std::string error;
  for (int i = 0; i < 12 && error.empty(); ++i) {
    Result r(PQprepare(second.get(), ("b" + std::to_string(i)).c_str(), big_statement(1000).c_str(),
                       0, nullptr));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) error = PQerrorMessage(second.get());
  }
  EXPECT_NE(error.find("gateway.memory_limit"), std::string::npos) << error;
  // The first session, holding most of it, is untouched.
  EXPECT_EQ(scalar(first.get(), "SELECT 6 * 7"), "42");
}

}  // namespace
}  // namespace gh::it
