#include "store/sql/tables.h"

#include <openssl/evp.h>

#include <array>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>

namespace gh::store::sql {

std::span<const TypedTable> typed_tables() {
  static constexpr std::array<TypedTable, 8> kTables{{
      {audit::RecordType::kSessionStart, "sessions", "chain_id"},
      {audit::RecordType::kSessionEnd, "sessions", "end_chain_id"},
      {audit::RecordType::kStatement, "statements", "chain_id"},
      {audit::RecordType::kConnectionRefused, "refused_connections", "chain_id"},
      {audit::RecordType::kPolicy, "policy_events", "chain_id"},
      {audit::RecordType::kApproval, "approval_events", "chain_id"},
      {audit::RecordType::kToken, "token_events", "chain_id"},
      {audit::RecordType::kStatementIntent, "statement_intents", "chain_id"},
  }};
  return kTables;
}

const TypedTable& typed_table(audit::RecordType type) {
  for (const auto& t : typed_tables())
    if (t.type == type) return t;
  std::abort();  // a retention purge is chain-only: no caller asks for its table
}

std::string column_list(const audit::RecordSpec& spec, std::string_view alias) {
  std::string out;
  for (const auto& f : spec.fields) {
    if (!out.empty()) out += ", ";
    if (!alias.empty()) out.append(alias).append(".");
    out += f.name;
  }
  return out;
}

void read_fields(Statement& s, int first, audit::Record& r) {
  const auto& spec = r.spec();
  for (std::size_t i = 0; i < spec.fields.size(); ++i) {
    const int col = first + static_cast<int>(i);
    const auto& field = spec.fields[i];
    audit::Value v;
    v.kind = field.kind;
    switch (s.column_type(col)) {
      case ColumnType::kNull:
        break;
      case ColumnType::kInt:
        v = {audit::FieldKind::kInt, false, s.column_int(col), {}};
        break;
      case ColumnType::kText: {
        std::string text = s.column_text(col);
        const bool json = field.kind == audit::FieldKind::kJson && nlohmann::json::accept(text);
        v = {json ? audit::FieldKind::kJson : audit::FieldKind::kText, false, 0,
             r.own(std::move(text))};
      }
    }
    r.value(field.name, v);
  }
}

namespace {

// Standard base64 decoded; nullopt when it is not.
std::optional<std::string> from_base64(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out(in.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  std::size_t len = static_cast<std::size_t>(n);
  for (std::size_t i = in.size(); i > 0 && in[i - 1] == '=' && len > 0; --i) --len;
  out.resize(len);
  return out;
}

}  // namespace

std::string record_text(const nlohmann::json& record, const char* member) {
  const auto it = record.find(member);
  if (it == record.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("base64") && (*it)["base64"].is_string())
    return from_base64((*it)["base64"].get<std::string>()).value_or(std::string());
  return {};
}

void bind_fields(Statement& s, const audit::Record& r) {
  int i = 0;
  for (const auto& v : r.values()) {
    ++i;
    if (v.null)
      s.bind_null(i);
    else if (v.kind == audit::FieldKind::kInt)
      s.bind_int(i, v.integer);
    else
      s.bind_text(i, v.text);
  }
}

}  // namespace gh::store::sql
