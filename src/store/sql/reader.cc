#include <mutex>
#include <nlohmann/json.hpp>
#include <variant>

#include "store/sql/store.h"
namespace gh::store::sql {

namespace {

std::vector<std::string> string_list(const std::string& json) {
  std::vector<std::string> out;
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_array())
    for (const auto& v : j)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

// A query with its bound values, built from the filters that are set; values
// are always bound, never spliced into the SQL.
class Query {
 public:
  explicit Query(std::string base) : sql_(std::move(base)) {}
  void where(const std::string& clause, std::string value) {
    if (value.empty()) return;
    sql_ += (first_ ? " WHERE " : " AND ") + clause;
    first_ = false;
    values_.emplace_back(std::move(value));
  }
  void where(const std::string& clause, std::int64_t value) {
    if (value == 0) return;
    sql_ += (first_ ? " WHERE " : " AND ") + clause;
    first_ = false;
    values_.emplace_back(value);
  }
  void tail(const std::string& text, std::int64_t limit) {
    sql_ += " " + text + " LIMIT ?";
    values_.emplace_back(limit);
  }
  const std::string& sql() const { return sql_; }
  // The values stay in the query: it must outlive the statement's run.
  void bind(Statement& s) const {
    for (std::size_t i = 0; i < values_.size(); ++i) {
      const int at = static_cast<int>(i + 1);
      if (const auto* t = std::get_if<std::string>(&values_[i]))
        s.bind_text(at, *t);
      else
        s.bind_int(at, std::get<std::int64_t>(values_[i]));
    }
  }

 private:
  std::string sql_;
  bool first_ = true;
  std::vector<std::variant<std::string, std::int64_t>> values_;
};

constexpr const char* kSessionColumns =
    "SELECT id, replica, subject, groups_json, issuer, client_addr, tls, listener, connection, "
    "protocol, user_label, application_name, started_at_us, ended_at_us, end_reason, "
    "bytes_from_client, bytes_to_client, statements FROM sessions";

constexpr const char* kStatementColumns =
    "SELECT st.session_id, se.subject, se.connection, st.seq, st.at_us, st.duration_us, st.text, "
    "st.protocol_path, st.rows, st.outcome, st.command_tag, st.error_code, st.error_message, "
    "st.kind, st.class, st.tables_json, st.functions_json, st.decision, st.rule, "
    "st.policy_version, st.approval_id, st.masked_json, st.withheld, st.result_json, "
    "st.params_json "
    "FROM statements st LEFT JOIN sessions se ON se.id = st.session_id";

class SqlReader final : public audit::Reader {
 public:
  explicit SqlReader(std::unique_ptr<Connection> db) : db_(std::move(db)) {}

  Expected<std::vector<audit::SessionRecord>> sessions(const audit::SessionQuery& q) override {
    Query query(kSessionColumns);
    query.where("subject = ?", q.subject);
    query.where("issuer = ?", q.issuer);
    query.where("connection = ?", q.connection);
    query.where(db_->dialect().json_array_has("groups_json"), q.group);
    query.where("started_at_us >= ?", q.since_us);
    query.where("started_at_us <= ?", q.until_us);
    query.tail("ORDER BY started_at_us DESC", static_cast<std::int64_t>(q.limit));
    std::vector<audit::SessionRecord> out;
    auto st = each(query, [&](Statement& s) { out.push_back(session_of(s)); });
    if (!st) return unexpected(st.error());
    return out;
  }

  Expected<std::optional<audit::SessionRecord>> session(const std::string& id) override {
    Query query(kSessionColumns);
    query.where("id = ?", id);
    query.tail("", 1);
    std::optional<audit::SessionRecord> out;
    auto st = each(query, [&](Statement& s) { out = session_of(s); });
    if (!st) return unexpected(st.error());
    return out;
  }

  Expected<std::vector<audit::StatementRecord>> transcript(const std::string& id) override {
    Query query(kStatementColumns);
    query.where("st.session_id = ?", id);
    query.tail("ORDER BY st.seq", 1'000'000);
    return statements(query);
  }

  Expected<std::vector<audit::StatementRecord>> search(const audit::StatementQuery& q) override {
    Query query(kStatementColumns);
    query.where("se.subject = ?", q.subject);
    query.where("se.issuer = ?", q.issuer);
    query.where("se.connection = ?", q.connection);
    query.where(db_->dialect().json_array_has("se.groups_json"), q.group);
    query.where("st.rowid IN (SELECT stmt_rowid FROM statement_tables WHERE table_name = ?)",
                q.table);
    query.where("st.kind = ?", q.kind);
    query.where("st.decision = ?", q.decision);
    query.where("st.rule = ?", q.rule);
    query.where("st.outcome = ?", q.outcome);
    query.where("st.session_id = ?", q.session_id);
    query.where(db_->dialect().text_contains("st.text"), q.text);
    query.where("st.at_us >= ?", q.since_us);
    query.where("st.at_us <= ?", q.until_us);
    query.tail("ORDER BY st.at_us DESC", static_cast<std::int64_t>(q.limit));
    return statements(query);
  }

 private:
  template <class Row>
  Status<> each(const Query& q, Row row) {
    std::lock_guard lock(mu_);
    auto s = db_->prepare(q.sql(), false);
    if (!s) return unexpected("audit store: " + s.error());
    q.bind(**s);
    if (auto st = sql::each(**s, row); !st) return unexpected("audit store: " + st.error());
    return Ok{};
  }

  Expected<std::vector<audit::StatementRecord>> statements(const Query& q) {
    std::vector<audit::StatementRecord> out;
    auto st = each(q, [&](Statement& s) { out.push_back(statement_of(s)); });
    if (!st) return unexpected(st.error());
    return out;
  }

  static std::string text(Statement& s, int col) { return s.column_text(col); }
  static std::int64_t integer(Statement& s, int col, std::int64_t null_value = 0) {
    return s.column_type(col) == ColumnType::kNull ? null_value : s.column_int(col);
  }

  static audit::SessionRecord session_of(Statement& s) {
    audit::SessionRecord r;
    r.id = text(s, 0);
    r.replica = text(s, 1);
    r.subject = text(s, 2);
    r.groups = string_list(text(s, 3));
    r.issuer = text(s, 4);
    r.client_addr = text(s, 5);
    r.tls = integer(s, 6) != 0;
    r.listener = text(s, 7);
    r.connection = text(s, 8);
    r.protocol = text(s, 9);
    r.user_label = text(s, 10);
    r.application_name = text(s, 11);
    r.started_at_us = integer(s, 12);
    r.ended_at_us = integer(s, 13);
    r.end_reason = text(s, 14);
    r.bytes_from_client = integer(s, 15);
    r.bytes_to_client = integer(s, 16);
    r.statements = integer(s, 17);
    return r;
  }

  static audit::StatementRecord statement_of(Statement& s) {
    audit::StatementRecord r;
    r.session_id = text(s, 0);
    r.subject = text(s, 1);
    r.connection = text(s, 2);
    r.seq = integer(s, 3);
    r.at_us = integer(s, 4);
    r.duration_us = integer(s, 5);
    r.text = text(s, 6);
    r.protocol_path = text(s, 7);
    r.rows = integer(s, 8, -1);
    r.outcome = text(s, 9);
    r.command_tag = text(s, 10);
    r.error_code = text(s, 11);
    r.error_message = text(s, 12);
    r.kind = text(s, 13);
    r.cls = text(s, 14);
    r.tables = string_list(text(s, 15));
    r.functions = string_list(text(s, 16));
    r.decision = text(s, 17);
    r.rule = text(s, 18);
    r.policy_version = integer(s, 19);
    r.approval_id = text(s, 20);
    r.masked_json = text(s, 21);
    r.withheld = integer(s, 22);
    r.result_json = text(s, 23);
    r.params_json = text(s, 24);
    return r;
  }

  std::mutex mu_;  // one query at a time on the connection
  std::unique_ptr<Connection> db_;
};

}  // namespace

std::unique_ptr<audit::Reader> make_reader(std::unique_ptr<Connection> conn) {
  return std::make_unique<SqlReader>(std::move(conn));
}

}  // namespace gh::store::sql
