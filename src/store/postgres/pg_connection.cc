#include "store/postgres/pg_connection.h"
#include "store/postgres/pg_libpq.h"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/utf8.h"

namespace gh::store {
namespace {

// PostgreSQL's text holds only valid text in the database encoding, without
// NUL; the store must keep any bytes (a statement sent in another client
// encoding, say). Text that is not valid UTF-8, holds a NUL or starts with
// the mark is stored as the mark and its hex, and read back as it was.
constexpr std::string_view kMark = "\x01hex:";

bool needs_escape(std::string_view v) {
  return v.find('\0') != std::string_view::npos || !valid_utf8(v) || v.starts_with("\x01");
}

std::string escape(std::string_view v) {
  std::string out(kMark);
  append_hex(out, as_bytes(v));
  return out;
}

std::string unescape(std::string_view v) {
  if (v.starts_with(kMark)) {
    if (auto bytes = from_hex(v.substr(kMark.size()))) return std::move(*bytes);
  }
  return std::string(v);
}

// "?" → "$n" (numbered in order) and "?N" → "$N", outside quoted text;
// *params: the highest parameter number.
std::string dollar_params(std::string_view sql, int* params) {
  std::string out;
  out.reserve(sql.size() + 16);
  int next = 0;
  char quote = 0;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (quote) {
      out += c;
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      out += c;
      continue;
    }
    if (c != '?') {
      out += c;
      continue;
    }
    std::size_t j = i + 1;
    while (j < sql.size() && sql[j] >= '0' && sql[j] <= '9') ++j;
    out += '$';
    if (j > i + 1) {
      int n = 0;
      std::from_chars(sql.data() + i + 1, sql.data() + j, n);
      out += std::to_string(n);
      *params = std::max(*params, n);
      i = j - 1;
    } else {
      out += std::to_string(++next);
      *params = std::max(*params, next);
    }
  }
  return out;
}

std::string trimmed_error(PGconn* conn) {
  return pg_message(PQerrorMessage(conn));
}
std::string result_error(const PGresult* r) {
  return pg_message(PQresultErrorMessage(r));
}
using Result = PgResult;

std::string json_array_has(std::string_view column) {
  return "gatehouse_json_array_has(" + std::string(column) + ", ?)";
}
std::string text_contains(std::string_view column) {
  return "strpos(" + std::string(column) + ", ?) > 0";
}
constexpr sql::Dialect kDialect{"postgres", &json_array_has, &text_contains, true};

// One key for every gatehouse replica's maintenance and migrations.
constexpr long long kMaintenanceLock = 0x67617465686f7573;  // "gatehous"

class PgConnection;

class PgStatement final : public sql::Statement {
 public:
  PgStatement(PgConnection& conn, std::string sql, bool keep, int params);

  void bind_null(int i) override { slot(i).reset(); }
  void bind_int(int i, std::int64_t v) override { slot(i) = std::to_string(v); }
  void bind_text(int i, std::string_view v) override {
    slot(i) = needs_escape(v) ? escape(v) : std::string(v);
  }
  Expected<bool> step() override;
  sql::ColumnType column_type(int i) override {
    if (!result_ || PQgetisnull(result_.get(), row_, i)) return sql::ColumnType::kNull;
    switch (PQftype(result_.get(), i)) {
      case 16:  // bool
      case 20:  // int8
      case 21:  // int2
      case 23:  // int4
      case 26:  // oid
        return sql::ColumnType::kInt;
      default:
        return sql::ColumnType::kText;
    }
  }
  std::int64_t column_int(int i) override {
    if (!result_ || PQgetisnull(result_.get(), row_, i)) return 0;
    const char* v = PQgetvalue(result_.get(), row_, i);
    const int len = PQgetlength(result_.get(), row_, i);
    if (PQftype(result_.get(), i) == 16) return v[0] == 't' ? 1 : 0;
    std::int64_t out = 0;
    std::from_chars(v, v + len, out);
    return out;
  }
  std::string column_text(int i) override {
    if (!result_ || PQgetisnull(result_.get(), row_, i)) return {};
    return unescape({PQgetvalue(result_.get(), row_, i),
                     static_cast<std::size_t>(PQgetlength(result_.get(), row_, i))});
  }
  std::int64_t changes() override { return changes_; }
  void reset() override {
    result_.reset();
    row_ = -1;
    for (auto& v : values_) v.reset();
  }

 private:
  std::optional<std::string>& slot(int i) {
    if (static_cast<std::size_t>(i) > values_.size()) values_.resize(static_cast<std::size_t>(i));
    return values_[static_cast<std::size_t>(i - 1)];
  }

  PgConnection& conn_;
  std::string sql_;
  std::string name_;  // prepared on the server under this name ("" for one-shot statements)
  std::uint64_t prepared_on_ = 0;  // the connection generation it was prepared on
  std::vector<std::optional<std::string>> values_;
  Result result_;
  int row_ = -1;
  std::int64_t changes_ = 0;
};

class PgConnection final : public sql::Connection {
 public:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}
  ~PgConnection() override { PQfinish(conn_); }

  Expected<std::unique_ptr<sql::Statement>> prepare(std::string_view sql, bool keep) override {
    int params = 0;
    std::string text = dollar_params(sql, &params);
    return std::unique_ptr<sql::Statement>(
        std::make_unique<PgStatement>(*this, std::move(text), keep, params));
  }

  Status<> exec(std::string_view script) override {
    if (auto st = ensure(); !st) return st;
    Result r(PQexec(conn_, std::string(script).c_str()));
    const auto status = PQresultStatus(r.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
      return unexpected("postgres: " + result_error(r.get()));
    return Ok{};
  }

  Status<> begin() override { return open_transaction("BEGIN"); }
  Status<> begin_snapshot() override {
    return open_transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  }
  Status<> commit() override {
    in_transaction_ = false;
    Result r(PQexec(conn_, "COMMIT"));
    // COMMIT of a transaction that failed reports ROLLBACK, not an error.
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK ||
        std::string_view(PQcmdStatus(r.get())) != "COMMIT") {
      const std::string why = result_error(r.get());
      return unexpected("postgres: commit: " +
                        (why.empty() ? "the transaction was rolled back" : why));
    }
    return Ok{};
  }
  void rollback() override {
    in_transaction_ = false;
    if (PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) != PQTRANS_IDLE)
      Result(PQexec(conn_, "ROLLBACK"));
  }
  Status<> lock_maintenance() override {
    return exec("SELECT pg_advisory_xact_lock(" + std::to_string(kMaintenanceLock) + ")");
  }
  const sql::Dialect& dialect() const override { return kDialect; }
  std::int64_t last_insert_id() override { return 0; }  // ids come with RETURNING here

  // Reconnects a broken connection (outside a transaction: one that broke
  // inside has lost it, and the caller learns so until it ends it).
  Status<> ensure() {
    if (PQstatus(conn_) == CONNECTION_OK) return Ok{};
    if (in_transaction_)
      return unexpected(std::string("postgres: the connection was lost in a transaction"));
    PQreset(conn_);
    if (PQstatus(conn_) != CONNECTION_OK)
      return unexpected("postgres: reconnect: " + trimmed_error(conn_));
    ++generation_;
    return Ok{};
  }
  PGconn* handle() const { return conn_; }
  std::uint64_t generation() const { return generation_; }
  std::string next_name() { return "gh_stmt_" + std::to_string(++statements_); }

 private:
  Status<> open_transaction(const char* sql) {
    auto st = exec(sql);
    in_transaction_ = st.has_value();
    return st;
  }

  PGconn* conn_;
  // Between a BEGIN and its COMMIT or ROLLBACK. libpq cannot tell once the
  // connection is broken (PQtransactionStatus is then UNKNOWN).
  bool in_transaction_ = false;
  std::uint64_t generation_ = 1;
  std::uint64_t statements_ = 0;
};

PgStatement::PgStatement(PgConnection& conn, std::string sql, bool keep, int params)
    : conn_(conn), sql_(std::move(sql)), values_(static_cast<std::size_t>(params)) {
  if (keep) name_ = conn_.next_name();
}

Expected<bool> PgStatement::step() {
  if (!result_) {
    if (auto st = conn_.ensure(); !st) return unexpected(st.error());
    std::vector<const char*> values(values_.size());
    for (std::size_t i = 0; i < values_.size(); ++i)
      values[i] = values_[i] ? values_[i]->c_str() : nullptr;
    const int n = static_cast<int>(values.size());
    PGconn* c = conn_.handle();
    if (!name_.empty() && prepared_on_ != conn_.generation()) {
      Result p(PQprepare(c, name_.c_str(), sql_.c_str(), n, nullptr));
      if (PQresultStatus(p.get()) != PGRES_COMMAND_OK)
        return unexpected("postgres: prepare: " + result_error(p.get()));
      prepared_on_ = conn_.generation();
    }
    result_.reset(
        name_.empty()
            ? PQexecParams(c, sql_.c_str(), n, nullptr, values.data(), nullptr, nullptr, 0)
            : PQexecPrepared(c, name_.c_str(), n, values.data(), nullptr, nullptr, 0));
    const auto status = PQresultStatus(result_.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      std::string why = result_error(result_.get());
      if (why.empty()) why = trimmed_error(c);
      result_.reset();
      return unexpected("postgres: " + why);
    }
    const char* tuples = PQcmdTuples(result_.get());
    changes_ = tuples && *tuples ? std::atoll(tuples) : 0;
    row_ = -1;
  }
  ++row_;
  return row_ < PQntuples(result_.get());
}

}  // namespace

Expected<PGconn*> connect_pg(const std::string& url, const std::string& application_name,
                             bool durable_commits) {
  // Defaults first: what the URL says overrides them (expand_dbname).
  std::vector<const char*> keys{"connect_timeout", "tcp_user_timeout", "keepalives_idle",
                                "application_name"};
  std::vector<const char*> values{"5", "10000", "10", application_name.c_str()};
  if (!durable_commits) {
    keys.push_back("options");
    values.push_back("-c synchronous_commit=off");
  }
  keys.push_back("dbname");
  values.push_back(url.c_str());
  // Text goes in and out as UTF-8, whatever the URL says (see escape()).
  keys.push_back("client_encoding");
  values.push_back("UTF8");
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keys.data(), values.data(), 1);
  if (!conn) return unexpected(std::string("postgres: out of memory"));
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = "postgres: connect to " + redact_pg_url(url) + ": " + trimmed_error(conn);
    PQfinish(conn);
    return unexpected(std::move(msg));
  }
  // Notices (a migration's "already exists, skipping") are not for the log.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return conn;
}

Expected<std::unique_ptr<sql::Connection>> open_pg_connection(const std::string& url,
                                                              const PgConnectOptions& options) {
  auto conn = connect_pg(url, options.application_name, options.durable_commits);
  if (!conn) return unexpected(conn.error());
  return std::unique_ptr<sql::Connection>(std::make_unique<PgConnection>(*conn));
}

std::string redact_pg_url(const std::string& url) {
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), nullptr);
  if (!opts) return "(an unreadable connection string)";
  std::string user, host, port, db;
  for (auto* o = opts; o->keyword; ++o) {
    if (!o->val) continue;
    const std::string_view k = o->keyword;
    if (k == "user") user = o->val;
    if (k == "host") host = o->val;
    if (k == "port") port = o->val;
    if (k == "dbname") db = o->val;
  }
  PQconninfoFree(opts);
  return "postgres://" + (user.empty() ? "" : user + "@") + host +
         (port.empty() ? "" : ":" + port) + "/" + db;
}

}  // namespace gh::store
