// What a statement does, as statement analysis (src/sql) reports it and the
// policy decides on. Protocol-neutral: a MySQL analyzer fills the same shapes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gh::model {

// The statement kinds of config.md ("Statement classes"), one name each.
enum class Kind : std::uint8_t {
  kUnknown,
  kSelect,
  kInsert,
  kUpdate,
  kDelete,
  kMerge,
  kCopyTo,
  kCopyFrom,
  kCopyToFile,
  kCopyFromFile,
  kCopyToProgram,
  kCopyFromProgram,
  kCreate,
  kCreateFunction,
  kCreateExtension,
  kCreateRole,
  kAlter,
  kAlterSystem,
  kAlterRole,
  kDrop,
  kTruncate,
  kComment,
  kGrant,
  kRevoke,
  kDo,
  kCall,
  kPrepare,
  kExecute,
  kDeallocate,
  kExplain,
  kExplainAnalyze,
  kSet,
  kSetRole,
  kShow,
  kTransaction,
  kVacuum,
  kAnalyze,
  kReindex,
  kCluster,
  kCheckpoint,
  kLoad,
  kLock,
  kRefresh,
  kListen,
  kUnlisten,
  kNotify,
  kDiscard,
  kDeclare,
  kFetch,
  kClose,
  kFunctionCall,  // the extended protocol's FunctionCall message (by OID)
  kCount_
};

// Ordered by strength: a statement's class is the strongest of what it does.
enum class StatementClass : std::uint8_t { kSession, kRead, kWrite, kDdl, kAdmin, kUnknown };

std::string_view kind_name(Kind k);
// Parses a kind name as config.md writes it; kCount_ when there is none.
Kind kind_from_name(std::string_view name);
StatementClass class_of(Kind k);
std::string_view class_name(StatementClass c);

// A relation as written in the statement: schema empty when unqualified (it
// resolves through the session's search_path at decision time).
struct Relation {
  std::string schema;
  std::string name;
  bool write = false;  // the statement modifies it (DML target, DDL object, COPY FROM)
  bool operator==(const Relation&) const = default;
};

struct FunctionRef {
  std::string schema;  // empty when unqualified
  std::string name;
  bool operator==(const FunctionRef&) const = default;
};

// Something a statement does to data, wherever it sits (top level, a CTE,
// inside EXPLAIN ANALYZE, COPY (…) TO, PREPARE).
struct Operation {
  Kind kind = Kind::kUnknown;
  bool without_where = false;  // UPDATE/DELETE with no WHERE
  bool operator==(const Operation&) const = default;
};

enum class SearchPathChange : std::uint8_t {
  kNone,
  kSet,      // to the constant schemas in `search_path`
  kReset,    // back to the session's default (RESET, SET … TO DEFAULT, RESET ALL, DISCARD ALL)
  kDynamic,  // to a value the gateway cannot know (set_config with a non-constant)
};

// One statement of a (possibly multi-statement) string.
struct Statement {
  Kind kind = Kind::kUnknown;
  StatementClass cls = StatementClass::kUnknown;
  std::vector<Operation> operations;  // every data-changing or reading operation inside
  std::vector<Relation> relations;    // every relation read or written (not CTE names)
  std::vector<FunctionRef> functions;
  bool locking = false;  // SELECT … FOR UPDATE/SHARE
  bool data_modifying_cte = false;
  bool creates_table_as = false;  // SELECT INTO, CREATE TABLE AS
  bool dynamic_sql = false;       // calls a function that runs SQL given as a value
  // The strongest class of the built-in functions it calls (nextval writes,
  // pg_terminate_backend is admin); session when none has side effects.
  StatementClass function_class = StatementClass::kSession;
  std::string copy_target;                // copy: "stdin" | "stdout" | a file name | the program
  std::vector<std::string> copy_columns;  // COPY t (a, b): the columns listed
  bool copy_query = false;                // COPY (query) rather than a table
  std::string copy_format = "text";       // text | csv | binary
  char copy_delimiter = 0;                // 0: the format's default (tab, comma)
  char copy_quote = '"';                  // csv
  std::string prepared_name;              // PREPARE name
  std::vector<std::string> executes;      // names of prepared statements EXECUTEd
  SearchPathChange search_path_change = SearchPathChange::kNone;
  std::vector<std::string> search_path;  // with kSet
  bool deallocates_all = false;          // DEALLOCATE ALL, DISCARD ALL
  std::string deallocated;               // DEALLOCATE name
  // Where it sits in the analysed text (libpg_query's RawStmt stmt_location
  // and stmt_len, in bytes): from just after the `;` before it (0 for the
  // first) for `length` bytes, up to the `;` that ends it; length 0: to the
  // end of the text. Only meaningful for the exact text analysed, which is
  // why an analysis of several statements is never shared between texts.
  std::uint32_t location = 0;
  std::uint32_t length = 0;
};

struct Analysis {
  bool ok = false;    // false: parse failure or something unrecognised (kind unknown: denied)
  std::string error;  // why not ok
  std::vector<Statement> statements;
  Kind kind = Kind::kUnknown;                     // the first statement's, or unknown
  StatementClass cls = StatementClass::kUnknown;  // strongest over all statements
  bool constant_sensitive = false;  // a constant's value changes the analysis: never shared
                                    // under a constant-abstracted cache key (so is every
                                    // analysis of several statements: a constant's length
                                    // moves the statements' locations)
};

using AnalysisPtr = std::shared_ptr<const Analysis>;

}  // namespace gh::model
