// The analysis cache's constant-abstracted key, from PostgreSQL's own scanner
// (libpg_query's pg_query_scan), without running the grammar.
//
// The key is the statement's tokens in order, each followed by a NUL byte:
// every constant token (ICONST, FCONST, SCONST, USCONST, BCONST, XCONST)
// becomes \x01 and a letter for its token type (i f s u b x), every other
// token keeps its exact text (keywords, identifiers as written, quotes and
// case included, operators, $n parameters). Comments and whitespace between
// tokens are left out. Two texts share a key only when the scanner sees the
// same tokens in the same order, of which only the values of constants may
// differ, so the grammar sees the same token types in the same order.
//
// One constant is kept as written: the one after UESCAPE, which is the
// escape character of the U&"…" identifier or U&'…' string before it and so
// decides what a U&"…" name says.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gh::sql {

// One token as the scanner reports it: byte offsets into the text and the
// token number (PgQuery__Token in pg_query.pb-c.h). Comments are tokens
// (SQL_COMMENT, C_COMMENT). `end` is not reliable for every token type
// (libpg_query reports U&"…" and U&'…' with a short end), so the key takes a
// token's text from its start to the next token's start.
struct ScanToken {
  std::int32_t start = 0;
  std::int32_t end = 0;
  std::int32_t token = 0;
  bool operator==(const ScanToken&) const = default;
};

// Every token of `sql` in order into `out` (replacing what it held). False
// when the scanner rejects the text (an unterminated string or comment,
// junk after a number, …) or the text holds a NUL byte, which the scanner
// would take for its end.
bool scan_tokens(std::string_view sql, std::vector<ScanToken>& out);

// Appends the key of `sql` (as described above) to `out`; `has_constants`
// tells whether any constant was abstracted. False, with `out` as it was,
// when `sql` cannot be scanned, is not valid UTF-8, or its tokens do not
// account for all of its text: the caller then keys by the exact text.
bool append_scan_key(std::string_view sql, std::string& out, bool& has_constants);

}  // namespace gh::sql
