#include "adapters/pg/catalog_fetch.h"

#include <boost/asio/this_coro.hpp>

#include <charconv>
#include <functional>

#include "net/deadline.h"
#include "wire/pg/protocol.h"

namespace gh::adapters::pg {

namespace asio = boost::asio;
namespace wire = gh::wire::pg;

namespace {

constexpr auto kLookupTimeout = std::chrono::seconds(10);

template <class T>
bool number(std::optional<Bytes> v, T& out) {
  if (!v) return false;
  auto* b = reinterpret_cast<const char*>(v->data());
  auto r = std::from_chars(b, b + v->size(), out);
  return r.ec == std::errc() && r.ptr == b + v->size();
}

std::string text_of(std::optional<Bytes> v) {
  return v ? std::string(reinterpret_cast<const char*>(v->data()), v->size()) : std::string();
}

}  // namespace

namespace {

constexpr const char* kRelationColumns =
    "SELECT c.oid, n.nspname, c.relname, a.attnum, a.attname, a.attisdropped "
    "FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 ";

std::string quoted(std::string_view s, char q) {
  std::string out(1, q);
  for (char c : s) {
    if (c == q) out += q;
    out += c;
  }
  return out + q;
}

// One row of a catalog query; false: a row of another shape (the lookup fails).
using RowSink = std::function<bool(const std::vector<std::optional<Bytes>>&)>;

asio::awaitable<Status<>> run_catalog_query(asio::any_io_executor ex, const config::Connection& c,
                                            const config::Credentials& cred, const UpstreamTls& tls,
                                            std::string sql, RowSink row);

asio::awaitable<Expected<std::map<std::uint32_t, gateway::RelationInfo>>> relations_query(
    asio::any_io_executor ex, const config::Connection& c, const config::Credentials& cred,
    const UpstreamTls& tls, std::string sql) {
  std::map<std::uint32_t, gateway::RelationInfo> out;
  auto st = co_await run_catalog_query(
      ex, c, cred, tls, std::move(sql), [&out](const std::vector<std::optional<Bytes>>& values) {
        std::uint32_t oid = 0;
        std::int32_t attnum = 0;
        if (values.size() != 6 || !number(values[0], oid) || !number(values[3], attnum) ||
            attnum <= 0 || attnum > 1600)
          return false;
        auto& info = out[oid];
        info.exists = true;
        info.schema = text_of(values[1]);
        info.table = text_of(values[2]);
        if (info.columns.size() < static_cast<std::size_t>(attnum))
          info.columns.resize(static_cast<std::size_t>(attnum));
        if (text_of(values[5]) != "t")
          info.columns[static_cast<std::size_t>(attnum) - 1] = text_of(values[4]);
        return true;
      });
  if (!st) co_return unexpected(st.error());
  co_return out;
}

}  // namespace

std::string relation_names_query(const std::vector<std::uint32_t>& oids) {
  std::string list;
  for (auto o : oids) list += (list.empty() ? "" : ",") + std::to_string(o);
  return std::string(kRelationColumns) + "WHERE c.oid IN (" + list + ") ORDER BY 1, 4";
}

std::string relation_named_query(const std::string& qualified_name) {
  std::string ident;
  auto dot = qualified_name.find('.');
  if (dot != std::string::npos)
    ident = quoted(qualified_name.substr(0, dot), '"') + "." +
            quoted(qualified_name.substr(dot + 1), '"');
  else
    ident = quoted(qualified_name, '"');
  return std::string(kRelationColumns) + "WHERE c.oid = pg_catalog.to_regclass(" +
         quoted(ident, '\'') + ") ORDER BY 1, 4";
}

asio::awaitable<Expected<std::map<std::uint32_t, gateway::RelationInfo>>> fetch_relations(
    asio::any_io_executor ex, const config::Connection& c, const config::Credentials& cred,
    const UpstreamTls& tls, const std::vector<std::uint32_t>& oids) {
  if (oids.empty()) co_return std::map<std::uint32_t, gateway::RelationInfo>{};
  co_return co_await relations_query(ex, c, cred, tls, relation_names_query(oids));
}

asio::awaitable<Expected<std::optional<gateway::RelationInfo>>> fetch_relation_named(
    asio::any_io_executor ex, const config::Connection& c, const config::Credentials& cred,
    const UpstreamTls& tls, const std::string& qualified_name) {
  auto found = co_await relations_query(ex, c, cred, tls, relation_named_query(qualified_name));
  if (!found) co_return unexpected(found.error());
  if (found->empty()) co_return std::optional<gateway::RelationInfo>();
  co_return std::optional<gateway::RelationInfo>(std::move(found->begin()->second));
}

namespace {

// A name as written ("schema.table" or "table") as a quoted identifier.
std::string identifier(const std::string& qualified_name) {
  auto dot = qualified_name.find('.');
  if (dot == std::string::npos) return quoted(qualified_name, '"');
  return quoted(qualified_name.substr(0, dot), '"') + "." +
         quoted(qualified_name.substr(dot + 1), '"');
}

}  // namespace

std::string relation_shapes_query(const std::vector<std::string>& names) {
  // An array literal of quoted identifiers: each element double-quoted with
  // its quotes and backslashes escaped, the whole inside one string literal.
  std::string array = "{";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) array += ',';
    array += '"';
    for (char ch : identifier(names[i])) {
      if (ch == '"' || ch == '\\') array += '\\';
      array += ch;
    }
    array += '"';
  }
  array += '}';
  return "SELECT r.ord, c.oid, n.nspname, c.relname, a.attnum, a.attname, a.attisdropped, "
         "a.atttypid IN (114, 3802), "
         "CASE WHEN a.attnum = 1 AND c.relkind IN ('v', 'm') "
         "THEN pg_catalog.pg_get_viewdef(c.oid) END "
         "FROM pg_catalog.unnest(" +
         quoted(array, '\'') +
         "::text[]) WITH ORDINALITY AS r(name, ord) "
         "JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(r.name) "
         "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
         "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
         "ORDER BY 1, 5";
}

asio::awaitable<Expected<std::map<std::string, gateway::RelationInfo>>> fetch_relation_shapes(
    asio::any_io_executor ex, const config::Connection& c, const config::Credentials& cred,
    const UpstreamTls& tls, const std::vector<std::string>& names) {
  std::map<std::string, gateway::RelationInfo> out;
  for (const auto& n : names) out[n].exists = false;
  if (names.empty()) co_return out;
  auto st = co_await run_catalog_query(
      ex, c, cred, tls, relation_shapes_query(names),
      [&](const std::vector<std::optional<Bytes>>& values) {
        std::size_t ord = 0;
        std::int32_t attnum = 0;
        if (values.size() != 9 || !number(values[0], ord) || ord == 0 || ord > names.size() ||
            !number(values[4], attnum) || attnum <= 0 || attnum > 1600)
          return false;
        auto& info = out[names[ord - 1]];
        info.exists = true;
        info.schema = text_of(values[2]);
        info.table = text_of(values[3]);
        const auto at = static_cast<std::size_t>(attnum);
        if (info.columns.size() < at) {
          info.columns.resize(at);
          info.json.resize(at);
        }
        if (text_of(values[6]) != "t") {
          info.columns[at - 1] = text_of(values[5]);
          info.json[at - 1] = text_of(values[7]) == "t";
        }
        if (values[8]) info.view_definition = text_of(values[8]);
        return true;
      });
  if (!st) co_return unexpected(st.error());
  co_return out;
}

// Every routine defined outside the system schemas, and whether it may write:
// VOLATILE (PostgreSQL forbids STABLE and IMMUTABLE ones to), or a procedure.
std::string user_functions_query() {
  return "SELECT n.nspname, p.proname, (p.provolatile = 'v' OR p.prokind = 'p') "
         "FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
         "WHERE n.nspname <> 'pg_catalog' AND n.nspname <> 'information_schema' "
         "AND n.nspname NOT LIKE 'pg\\_toast%' ORDER BY 1, 2";
}

asio::awaitable<Expected<gateway::UserFunctionMap>> fetch_user_functions(
    asio::any_io_executor ex, const config::Connection& c, const config::Credentials& cred,
    const UpstreamTls& tls) {
  gateway::UserFunctionMap out;
  std::size_t rows = 0;
  auto st =
      co_await run_catalog_query(ex, c, cred, tls, user_functions_query(),
                                 [&](const std::vector<std::optional<Bytes>>& values) {
                                   if (values.size() != 3 || !values[0] || !values[1] || !values[2])
                                     return false;
                                   // A bound on what a hostile or huge catalog can make the gateway
                                   // keep.
                                   if (++rows > gateway::FunctionCatalog::kMaxFunctions)
                                     return false;
                                   out[text_of(values[1])].push_back(policy::UserFunction{
                                       text_of(values[0]), text_of(values[2]) == "t"});
                                   return true;
                                 });
  if (!st) co_return unexpected(st.error());
  co_return out;
}

namespace {

asio::awaitable<Status<>> run_catalog_query(asio::any_io_executor ex, const config::Connection& c,
                                            const config::Credentials& cred, const UpstreamTls& tls,
                                            std::string sql, RowSink row) {
  std::unique_ptr<net::Stream>* held = nullptr;
  UpstreamSession up;
  net::Deadline deadline(ex, kLookupTimeout, [&held] {
    if (held && *held) (*held)->close();
  });
  std::vector<std::pair<std::string, std::string>> params;
  params.emplace_back("application_name", std::string("gatehouse catalog"));
  auto connected = co_await connect_upstream(ex, c, cred, tls, params);
  if (!connected) co_return unexpected("catalog lookup: " + connected.error().for_log);
  up = std::move(*connected);
  held = &up.stream;

  wire::Buffer q;
  wire::encode_query(q, sql);
  net::error_code ec;
  co_await up.stream->write_all(q, ec);
  if (ec) co_return unexpected("catalog lookup: " + ec.message());

  wire::MessageFramer framer(nullptr);
  framer.feed(up.leftover);
  std::vector<std::uint8_t> buf(16 * 1024);
  std::vector<std::optional<Bytes>> values;
  std::string error;
  for (;;) {
    auto ev = framer.next();
    using K = wire::MessageFramer::EventKind;
    if (ev.kind == K::kError) co_return unexpected("catalog lookup: " + ev.error);
    if (ev.kind == K::kNeedMore) {
      std::size_t n = co_await up.stream->read_some(buf, ec);
      if (ec) co_return unexpected("catalog lookup: " + ec.message());
      framer.feed(Bytes(buf.data(), n));
      continue;
    }
    if (ev.kind != K::kWhole) continue;
    const auto type = ev.header.type;
    if (type == 'D') {
      if (!wire::parse_data_row(ev.body, values) || !row(values))
        co_return unexpected(std::string("catalog lookup: unexpected row"));
    } else if (type == 'E') {
      auto f = wire::parse_error_fields(ev.body);
      error = f ? std::string(f->get('M')) : "error";
    } else if (type == 'Z') {
      break;
    }
  }
  wire::Buffer bye;
  wire::encode_terminate(bye);
  co_await up.stream->write_all(bye, ec);
  up.stream->close();
  held = nullptr;
  if (!error.empty()) co_return unexpected("catalog lookup: " + error);
  co_return Ok{};
}

}  // namespace

}  // namespace gh::adapters::pg
