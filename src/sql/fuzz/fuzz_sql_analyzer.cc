// libFuzzer target for statement analysis and its cache. The input is SQL text (any bytes);
// a custom mutator also edits it token by token (PostgreSQL's own scanner finds the tokens),
// so the seed corpus of real statements — psql's \d queries, pgbench, drivers' introspection,
// the policy and lineage corpora — grows into nearby statements the grammar accepts, not
// only into syntax errors. Contracts:
//   - fail closed: `unknown` is never ok — an analysis that is ok has no unknown kind or
//     class in any statement, and one that is not ok says why;
//   - the same text always gives the same analysis;
//   - an analysis from the cache equals a cold one: after the cache has seen the text with
//     its constants changed, or with other spacing and comments (texts that may share its
//     constant-abstracted key), what it answers for the text is what analyze() says.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <pg_query/pg_query.pb-c.h>

#include "sql/analyzer.h"
#include "sql/cache.h"
#include "sql/scan_key.h"

extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max_size);

namespace {

using namespace gh;
using model::Analysis;
using model::Kind;
using model::StatementClass;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool same_statement(const model::Statement& a, const model::Statement& b) {
  return a.kind == b.kind && a.cls == b.cls && a.operations == b.operations &&
         a.relations == b.relations && a.functions == b.functions && a.locking == b.locking &&
         a.data_modifying_cte == b.data_modifying_cte && a.creates_table_as == b.creates_table_as &&
         a.dynamic_sql == b.dynamic_sql && a.function_class == b.function_class &&
         a.copy_target == b.copy_target && a.copy_columns == b.copy_columns &&
         a.copy_query == b.copy_query && a.copy_format == b.copy_format &&
         a.copy_delimiter == b.copy_delimiter && a.copy_quote == b.copy_quote &&
         a.prepared_name == b.prepared_name && a.executes == b.executes &&
         a.search_path_change == b.search_path_change && a.search_path == b.search_path &&
         a.deallocates_all == b.deallocates_all && a.deallocated == b.deallocated &&
         a.location == b.location && a.length == b.length;
}

bool same_analysis(const Analysis& a, const Analysis& b) {
  if (a.ok != b.ok || a.error != b.error || a.kind != b.kind || a.cls != b.cls ||
      a.constant_sensitive != b.constant_sensitive || a.statements.size() != b.statements.size())
    return false;
  for (std::size_t i = 0; i < a.statements.size(); ++i)
    if (!same_statement(a.statements[i], b.statements[i])) return false;
  return true;
}

void check_fails_closed(const Analysis& a) {
  if (a.ok) {
    check(a.kind != Kind::kUnknown && a.cls != StatementClass::kUnknown);
    for (const auto& st : a.statements)
      check(st.kind != Kind::kUnknown && st.cls != StatementClass::kUnknown);
  } else {
    check(!a.error.empty());
  }
}

// The text rebuilt from its tokens: `constants` changes every plain numeric and simple quoted
// constant (to one of another length too), `spacing` puts a comment and spaces between
// tokens. Empty when the scanner rejects the text.
std::string variant(std::string_view sql, bool constants, bool spacing) {
  std::vector<sql::ScanToken> tokens;
  if (!sql::scan_tokens(sql, tokens)) return {};
  std::string out(sql.substr(0, tokens.empty() ? sql.size() : tokens[0].start));
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const auto start = static_cast<std::size_t>(tokens[i].start);
    const auto end =
        i + 1 < tokens.size() ? static_cast<std::size_t>(tokens[i + 1].start) : sql.size();
    if (start > end || end > sql.size()) return {};
    std::string piece(sql.substr(start, end - start));
    const auto body_end = piece.find_last_not_of(" \t\r\n\f") + 1;
    std::string body = piece.substr(0, body_end), gap = piece.substr(body_end);
    if (constants && (tokens[i].token == PG_QUERY__TOKEN__ICONST ||
                      tokens[i].token == PG_QUERY__TOKEN__FCONST)) {
      for (char& c : body)
        if (c >= '0' && c <= '9') c = static_cast<char>('0' + (c - '0' + 3) % 10);
      if (!body.empty() && body[0] >= '1' && body[0] <= '9') body.insert(0, "7");
    } else if (constants && tokens[i].token == PG_QUERY__TOKEN__SCONST && body.size() >= 2 &&
               body.front() == '\'' && body.back() == '\'' &&
               body.find_first_of("\\'", 1) == body.size() - 1) {
      body = "'" + std::string(body.size() % 5 + 1, 'q') + "'";
    }
    out += body;
    out += spacing ? (gap.empty() ? std::string(" /* */ ") : gap + "/**/ ") : gap;
  }
  return out;
}

void cached_equals_cold(std::string_view text, std::string_view warm) {
  if (warm.empty() || warm == text) return;
  sql::AnalysisCache cache(64);
  (void)cache.get(warm);
  const auto hit = cache.get(text);
  const Analysis cold = sql::analyze(text);
  if (hit == nullptr || !same_analysis(*hit, cold)) {
    std::fprintf(stderr,
                 "cache hit (ok=%d, %zu statements, error \"%s\") != cold (ok=%d, %zu statements, "
                 "error \"%s\")\n",
                 hit ? hit->ok : -1, hit ? hit->statements.size() : 0,
                 hit ? hit->error.c_str() : "", cold.ok, cold.statements.size(),
                 cold.error.c_str());
    check(false);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const Analysis a = sql::analyze(text);
  check_fails_closed(a);
  check(same_analysis(a, sql::analyze(text)));
  for (const auto& st : a.statements) (void)sql::statement_text(text, st);
  (void)sql::normalize(text);

  cached_equals_cold(text, variant(text, true, false));
  cached_equals_cold(text, variant(text, false, true));
  // And the other way round: the variant answered from the text's entry.
  const std::string changed = variant(text, true, true);
  if (!changed.empty()) cached_equals_cold(changed, text);
  return 0;
}

// Token-level edits, half of the time: drop, repeat, swap or replace a token with one from
// elsewhere in the text or from a short list of keywords and symbols. The rest of the time,
// and on text the scanner rejects, libFuzzer's own byte mutations.
extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size,
                                               std::size_t max_size, unsigned int seed) {
  std::minstd_rand rng(seed);
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<sql::ScanToken> tokens;
  if (rng() % 2 == 0 || !sql::scan_tokens(text, tokens) || tokens.empty())
    return LLVMFuzzerMutate(data, size, max_size);

  static const char* const kWords[] = {"SELECT",
                                       "FROM",
                                       "WHERE",
                                       "WITH",
                                       "RECURSIVE",
                                       "INSERT INTO",
                                       "UPDATE",
                                       "SET",
                                       "DELETE",
                                       "RETURNING",
                                       "UNION ALL",
                                       "JOIN",
                                       "LATERAL",
                                       "(",
                                       ")",
                                       ",",
                                       ";",
                                       "::text",
                                       "COPY",
                                       "TO",
                                       "STDOUT",
                                       "PROGRAM",
                                       "EXPLAIN ANALYZE",
                                       "PREPARE p AS",
                                       "EXECUTE p",
                                       "DO $$ BEGIN END $$",
                                       "set_config('search_path', 'x', false)",
                                       "pg_read_file('/etc/passwd')",
                                       "$1",
                                       "'x'",
                                       "1",
                                       "pg_catalog.",
                                       "public.",
                                       "\"Q\"",
                                       "U&\"d\\0061t\"",
                                       "FOR UPDATE",
                                       "INTO",
                                       "TABLE",
                                       "ONLY",
                                       "*",
                                       "AS",
                                       "current_setting('x')",
                                       "SEARCH_PATH",
                                       "TO DEFAULT",
                                       "CREATE TABLE t AS",
                                       "MERGE INTO",
                                       "USING",
                                       "ON",
                                       "WHEN MATCHED THEN DELETE",
                                       "CALL",
                                       "LOCK",
                                       "NOTIFY"};
  auto piece = [&](std::size_t i) {
    const auto start = static_cast<std::size_t>(tokens[i].start);
    const auto end =
        i + 1 < tokens.size() ? static_cast<std::size_t>(tokens[i + 1].start) : text.size();
    return start <= end && end <= text.size() ? std::string(text.substr(start, end - start))
                                              : std::string();
  };
  std::vector<std::string> parts;
  parts.emplace_back(text.substr(0, static_cast<std::size_t>(tokens[0].start)));
  for (std::size_t i = 0; i < tokens.size(); ++i) parts.push_back(piece(i));
  const std::size_t n = parts.size() - 1;
  const std::size_t at = 1 + rng() % n;
  switch (rng() % 4) {
    case 0:
      parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(at));
      break;
    case 1:
      parts.insert(parts.begin() + static_cast<std::ptrdiff_t>(at), parts[1 + rng() % n]);
      break;
    case 2:
      std::swap(parts[at], parts[1 + rng() % n]);
      break;
    default:
      parts.insert(parts.begin() + static_cast<std::ptrdiff_t>(at),
                   std::string(kWords[rng() % std::size(kWords)]) + " ");
      break;
  }
  std::string out;
  for (const auto& p : parts) out += p;
  if (out.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
  std::copy(out.begin(), out.end(), data);
  return out.size();
}
