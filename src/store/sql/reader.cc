#include <string.h>

#include <algorithm>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string_view>
#include <variant>

#include "audit/stream.h"
#include "store/sql/store.h"
#include "store/sql/tables.h"
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

std::int64_t int_member(const nlohmann::json& j, const char* name, std::int64_t null_value = 0) {
  const auto it = j.find(name);
  return it != j.end() && it->is_number_integer() ? it->get<std::int64_t>() : null_value;
}
std::vector<std::string> list_member(const nlohmann::json& j, const char* name) {
  std::vector<std::string> out;
  const auto it = j.find(name);
  if (it != j.end() && it->is_array())
    for (const auto& v : *it)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}
std::string json_member(const nlohmann::json& j, const char* name) {
  const auto it = j.find(name);
  return it == j.end() || it->is_null() ? std::string() : it->dump();
}

// A statement's canonical record as the reader gives it (its session's
// subject and connection are filled in by the caller).
std::optional<audit::StatementRecord> statement_from_record(std::string_view canonical) {
  const auto j = nlohmann::json::parse(canonical, nullptr, false);
  if (!j.is_object() || j.value("type", "") != "statement") return std::nullopt;
  audit::StatementRecord r;
  r.session_id = record_text(j, "session_id");
  r.seq = int_member(j, "seq");
  r.at_us = int_member(j, "at_us");
  r.duration_us = int_member(j, "duration_us");
  r.text = record_text(j, "text");
  r.protocol_path = record_text(j, "protocol_path");
  r.rows = int_member(j, "rows", -1);
  r.outcome = record_text(j, "outcome");
  r.command_tag = record_text(j, "command_tag");
  r.error_code = record_text(j, "error_code");
  r.error_message = record_text(j, "error_message");
  r.kind = record_text(j, "kind");
  r.cls = record_text(j, "class");
  r.tables = list_member(j, "tables_json");
  r.functions = list_member(j, "functions_json");
  r.decision = record_text(j, "decision");
  r.rule = record_text(j, "rule");
  r.policy_version = int_member(j, "policy_version");
  r.approval_id = record_text(j, "approval_id");
  r.masked_json = json_member(j, "masked_json");
  r.withheld = int_member(j, "withheld");
  r.result_json = record_text(j, "result_json");
  r.params_json = json_member(j, "params_json");
  return r;
}

// The value of a string member of a canonical record without parsing it, when
// it is a plain string (no escape in it); nullopt otherwise.
std::optional<std::string_view> plain_member(std::string_view canonical, std::string_view name) {
  std::string needle = "\"";
  needle.append(name).append("\":\"");
  const auto at = canonical.find(needle);
  if (at == std::string_view::npos) return std::nullopt;
  const auto from = at + needle.size();
  const auto end = canonical.find_first_of("\"\\", from);
  if (end == std::string_view::npos || canonical[end] != '"') return std::nullopt;
  return canonical.substr(from, end - from);
}

// How many sessions a search narrows chunks by through their keys at most.
constexpr std::size_t kMaxSessionKeys = 5000;

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
  // `clause` ends in "IN (": one parameter per value, then ")".
  void where_in(const std::string& clause, const std::vector<std::string>& values) {
    sql_ += (first_ ? " WHERE " : " AND ") + clause;
    first_ = false;
    for (std::size_t i = 0; i < values.size(); ++i) {
      sql_ += i ? ",?" : "?";
      values_.emplace_back(values[i]);
    }
    sql_ += ")";
  }
  void tail(const std::string& text, std::int64_t limit) {
    sql_ += " " + text + " LIMIT ?";
    values_.emplace_back(limit);
  }
  void append(const std::string& text) { sql_ += text; }
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

  // Statement rows from before the record stream, then the session's chunks.
  Expected<std::vector<audit::StatementRecord>> transcript(const std::string& id) override {
    Query query(kStatementColumns);
    query.where("st.session_id = ?", id);
    query.tail("ORDER BY st.seq", 1'000'000);
    auto out = statements(query);
    if (!out) return out;
    audit::StatementQuery q;
    q.session_id = id;
    q.limit = 1'000'000;
    auto streamed = search_chunks(q);
    if (!streamed) return unexpected(streamed.error());
    out->insert(out->end(), std::make_move_iterator(streamed->begin()),
                std::make_move_iterator(streamed->end()));
    std::stable_sort(out->begin(), out->end(),
                     [](const auto& a, const auto& b) { return a.seq < b.seq; });
    return out;
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
    auto out = statements(query);
    if (!out) return out;
    auto streamed = search_chunks(q);
    if (!streamed) return unexpected(streamed.error());
    out->insert(out->end(), std::make_move_iterator(streamed->begin()),
                std::make_move_iterator(streamed->end()));
    std::stable_sort(out->begin(), out->end(),
                     [](const auto& a, const auto& b) { return a.at_us > b.at_us; });
    if (out->size() > q.limit) out->resize(q.limit);
    return out;
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

  // Sessions of the identity, group or connection a search names; nullopt
  // when it names none of them.
  Expected<std::optional<std::set<std::string>>> sessions_named(const audit::StatementQuery& q) {
    if (q.subject.empty() && q.issuer.empty() && q.connection.empty() && q.group.empty())
      return std::optional<std::set<std::string>>();
    Query query("SELECT id FROM sessions");
    query.where("subject = ?", q.subject);
    query.where("issuer = ?", q.issuer);
    query.where("connection = ?", q.connection);
    query.where(db_->dialect().json_array_has("groups_json"), q.group);
    std::set<std::string> ids;
    auto s = db_->prepare(query.sql(), false);
    if (!s) return unexpected(s.error());
    query.bind(**s);
    auto st = sql::each(**s, [&](Statement& r) { ids.insert(r.column_text(0)); });
    if (!st) return unexpected(st.error());
    return std::optional<std::set<std::string>>(std::move(ids));
  }

  // Statements of the record stream that match `q`, newest first (at most
  // q.limit). The chunk summaries narrow the chunks: search keys for exact
  // filters, the time range for a window; chunks are read newest first until
  // no older one can hold a statement newer than the limit-th found. A text
  // search reads a chunk's texts first and its records only on a match.
  Expected<std::vector<audit::StatementRecord>> search_chunks(const audit::StatementQuery& q) {
    std::lock_guard lock(mu_);
    std::vector<audit::StatementRecord> out;
    if (q.limit == 0) return out;
    auto named = sessions_named(q);
    if (!named) return unexpected("audit store: " + named.error());
    const std::optional<std::set<std::string>>& allowed = *named;
    if (allowed && allowed->empty()) return out;

    Query chunks("SELECT c.id, c.max_at_us FROM audit_chunks c");
    const std::string by_key = "c.id IN (SELECT chunk_id FROM audit_chunk_keys WHERE key = ?)";
    if (!q.session_id.empty()) chunks.where(by_key, audit::chunk_key("session", q.session_id));
    if (!q.table.empty()) chunks.where(by_key, audit::chunk_key("table", q.table));
    if (!q.kind.empty()) chunks.where(by_key, audit::chunk_key("kind", q.kind));
    if (!q.decision.empty()) chunks.where(by_key, audit::chunk_key("decision", q.decision));
    if (!q.rule.empty()) chunks.where(by_key, audit::chunk_key("rule", q.rule));
    if (!q.outcome.empty()) chunks.where(by_key, audit::chunk_key("outcome", q.outcome));
    // An identity's, a group's or a connection's sessions, through their keys
    // (up to a bound on the statement's parameters; past it, record by record).
    if (allowed && allowed->size() <= kMaxSessionKeys) {
      std::vector<std::string> keys;
      for (const auto& id : *allowed) keys.push_back(audit::chunk_key("session", id));
      chunks.where_in("c.id IN (SELECT chunk_id FROM audit_chunk_keys WHERE key IN (", keys);
      chunks.append(")");
    }
    chunks.where("c.max_at_us >= ?", q.since_us);
    chunks.where("c.min_at_us <= ?", q.until_us);
    chunks.tail("ORDER BY c.max_at_us DESC", std::numeric_limits<std::int64_t>::max());
    struct Candidate {
      std::int64_t id, max_at;
    };
    std::vector<Candidate> candidates;
    {
      auto s = db_->prepare(chunks.sql(), false);
      if (!s) return unexpected("audit store: " + s.error());
      chunks.bind(**s);
      auto st = sql::each(**s, [&](Statement& r) {
        candidates.push_back({r.column_int(0), r.column_int(1)});
      });
      if (!st) return unexpected("audit store: " + st.error());
    }
    if (candidates.empty()) return out;
    auto body = db_->prepare("SELECT body FROM audit_chunks WHERE id = ?", false);
    if (!body) return unexpected("audit store: " + body.error());
    auto texts = db_->prepare("SELECT texts FROM audit_chunks WHERE id = ?", false);
    if (!texts) return unexpected("audit store: " + texts.error());
    const auto column = [&](Statement& s, std::int64_t id) -> Expected<std::string> {
      s.bind_int(1, id);
      std::string v;
      auto st = sql::each(s, [&](Statement& r) { v = r.column_text(0); });
      if (!st) return unexpected(st.error());
      return v;
    };
    // What a matching record's canonical text must contain (chain.h's form
    // makes each an exact "member":value); a cheap test before parsing it.
    std::vector<std::string> needles;
    const auto need = [&](const char* member, const std::string& v) {
      if (!v.empty())
        needles.push_back("\"" + std::string(member) + "\":" + audit::canonical_string(v));
    };
    need("session_id", q.session_id);
    need("kind", q.kind);
    need("decision", q.decision);
    need("rule", q.rule);
    need("outcome", q.outcome);
    if (!q.table.empty()) needles.push_back(audit::canonical_string(q.table));

    std::map<std::string, std::pair<std::string, std::string>> session_info;
    auto who = db_->prepare("SELECT subject, connection FROM sessions WHERE id = ?", false);
    if (!who) return unexpected("audit store: " + who.error());
    const auto matches = [&](const audit::StatementRecord& r) {
      if (!q.session_id.empty() && r.session_id != q.session_id) return false;
      if (allowed && !allowed->count(r.session_id)) return false;
      if (!q.table.empty() &&
          std::find(r.tables.begin(), r.tables.end(), q.table) == r.tables.end())
        return false;
      if (!q.kind.empty() && r.kind != q.kind) return false;
      if (!q.decision.empty() && r.decision != q.decision) return false;
      if (!q.rule.empty() && r.rule != q.rule) return false;
      if (!q.outcome.empty() && r.outcome != q.outcome) return false;
      if (!q.text.empty() && r.text.find(q.text) == std::string::npos) return false;
      if (q.since_us && r.at_us < q.since_us) return false;
      if (q.until_us && r.at_us > q.until_us) return false;
      return true;
    };
    const auto newest_first = [](const auto& a, const auto& b) { return a.at_us > b.at_us; };
    std::string raw;  // the chunk being read, decompressed
    for (const auto& c : candidates) {
      if (out.size() >= q.limit && c.max_at < out[q.limit - 1].at_us) break;
      std::vector<bool> text_hit;
      if (!q.text.empty()) {
        auto t = column(**texts, c.id);
        if (!t) return unexpected("audit store: " + t.error());
        auto decoded = audit::decode_texts(*t);
        if (!decoded) continue;  // verify names a damaged chunk; search reads what it can
        bool any = false;
        for (const auto& text : *decoded) {
          text_hit.push_back(text.find(q.text) != std::string::npos);
          any = any || text_hit.back();
        }
        if (!any) continue;
      }
      auto b = column(**body, c.id);
      if (!b) return unexpected("audit store: " + b.error());
      auto records = audit::view_chunk(*b, raw);
      if (!records) continue;
      for (std::size_t i = 0; i < records->size(); ++i) {
        if (!text_hit.empty() && (i >= text_hit.size() || !text_hit[i])) continue;
        const std::string_view canonical = (*records)[i].canonical;
        bool maybe = true;
        for (const auto& n : needles)
          if (!::memmem(canonical.data(), canonical.size(), n.data(), n.size())) maybe = false;
        if (maybe && allowed) {
          const auto id = plain_member(canonical, "session_id");
          maybe = !id || allowed->count(std::string(*id));
        }
        if (!maybe) continue;
        auto r = statement_from_record(canonical);
        if (!r || !matches(*r)) continue;
        auto [it, fresh] = session_info.try_emplace(r->session_id);
        if (fresh) {
          (*who)->bind_text(1, r->session_id);
          auto st = sql::each(**who, [&](Statement& row) {
            it->second = {row.column_text(0), row.column_text(1)};
          });
          if (!st) return unexpected("audit store: " + st.error());
        }
        r->subject = it->second.first;
        r->connection = it->second.second;
        out.push_back(std::move(*r));
      }
      if (out.size() >= q.limit) {
        std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(q.limit),
                          out.end(), newest_first);
        out.resize(q.limit);
      }
    }
    std::stable_sort(out.begin(), out.end(), newest_first);
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
