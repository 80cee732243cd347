#include "sql/analyzer.h"

#include <pg_query.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "sql/parse_tree.h"

namespace gh::sql {

namespace {

using json = nlohmann::json;
using model::Kind;
using model::StatementClass;
using tree::stack_position;
using tree::str;

// Deeper trees than this are refused rather than walked (the server's own
// max_stack_depth stops most long before).
constexpr int kMaxDepth = 3000;
// Nor may the walk use more stack than this, whatever a level costs in the
// build at hand (sanitizers make frames several times larger): a tree deep
// enough to exhaust the thread's stack would crash the gateway, not deny.
constexpr std::uintptr_t kMaxStackBytes = 1 << 20;

// Top-level statement node types: their kind, the least class they carry
// whatever the kind says (creating a role is admin even though it is a
// "create"), and the fields that hold the relations they modify.
struct StatementType {
  std::string_view node;
  Kind kind;
  StatementClass at_least;
  std::array<std::string_view, 2> write_fields;
};

using C = StatementClass;
constexpr StatementType kStatementTypes[] = {
    {"CreateStmt", Kind::kCreate, C::kSession, {"relation", ""}},
    {"CreateForeignTableStmt", Kind::kCreate, C::kAdmin, {"base", ""}},
    {"AlterTableStmt", Kind::kAlter, C::kSession, {"relation", ""}},
    {"IndexStmt", Kind::kCreate, C::kSession, {"relation", ""}},
    {"ViewStmt", Kind::kCreate, C::kSession, {"view", ""}},
    {"TruncateStmt", Kind::kTruncate, C::kSession, {"relations", ""}},
    {"RenameStmt", Kind::kAlter, C::kSession, {"relation", ""}},
    {"LockStmt", Kind::kLock, C::kSession, {"relations", ""}},
    {"RefreshMatViewStmt", Kind::kRefresh, C::kSession, {"relation", ""}},
    {"CreateTrigStmt", Kind::kCreate, C::kSession, {"relation", ""}},
    {"RuleStmt", Kind::kCreate, C::kSession, {"relation", ""}},
    {"CreatePolicyStmt", Kind::kCreate, C::kSession, {"table", ""}},
    {"AlterPolicyStmt", Kind::kAlter, C::kSession, {"table", ""}},
    {"CreateSeqStmt", Kind::kCreate, C::kSession, {"sequence", ""}},
    {"AlterSeqStmt", Kind::kAlter, C::kSession, {"sequence", ""}},
    {"AlterOwnerStmt", Kind::kAlter, C::kSession, {"relation", ""}},
    {"AlterObjectSchemaStmt", Kind::kAlter, C::kSession, {"relation", ""}},
    {"ClusterStmt", Kind::kCluster, C::kSession, {"relation", ""}},
    {"ReindexStmt", Kind::kReindex, C::kSession, {"relation", ""}},
    {"VacuumStmt", Kind::kVacuum, C::kSession, {"", ""}},
    {"CreateStatsStmt", Kind::kCreate, C::kSession, {"", ""}},
    {"AlterStatsStmt", Kind::kAlter, C::kSession, {"", ""}},
    {"CommentStmt", Kind::kComment, C::kSession, {"", ""}},
    {"SecLabelStmt", Kind::kComment, C::kAdmin, {"", ""}},
    {"AlterDefaultPrivilegesStmt", Kind::kGrant, C::kSession, {"", ""}},
    {"CreateRoleStmt", Kind::kCreateRole, C::kSession, {"", ""}},
    {"AlterRoleStmt", Kind::kAlterRole, C::kSession, {"", ""}},
    {"AlterRoleSetStmt", Kind::kAlterRole, C::kSession, {"", ""}},
    {"DropRoleStmt", Kind::kDrop, C::kAdmin, {"", ""}},
    {"CreatedbStmt", Kind::kCreate, C::kAdmin, {"", ""}},
    {"AlterDatabaseStmt", Kind::kAlter, C::kAdmin, {"", ""}},
    {"AlterDatabaseSetStmt", Kind::kAlter, C::kAdmin, {"", ""}},
    {"AlterDatabaseRefreshCollStmt", Kind::kAlter, C::kAdmin, {"", ""}},
    {"DropdbStmt", Kind::kDrop, C::kAdmin, {"", ""}},
    {"CreateSchemaStmt", Kind::kCreate, C::kSession, {"", ""}},
    {"CreateExtensionStmt", Kind::kCreateExtension, C::kSession, {"", ""}},
    {"AlterExtensionStmt", Kind::kCreateExtension, C::kSession, {"", ""}},
    {"AlterExtensionContentsStmt", Kind::kCreateExtension, C::kSession, {"", ""}},
    {"DropOwnedStmt", Kind::kDrop, C::kAdmin, {"", ""}},
    {"ReassignOwnedStmt", Kind::kAlter, C::kAdmin, {"", ""}},
    {"AlterFunctionStmt", Kind::kAlter, C::kSession, {"", ""}},
    {"CreateDomainStmt", Kind::kCreate, C::kSession, {"", ""}},
    {"AlterDomainStmt", Kind::kAlter, C::kSession, {"", ""}},
    {"CompositeTypeStmt", Kind::kCreate, C::kSession, {"", ""}},
    {"CreateEnumStmt", Kind::kCreate, C::kSession, {"", ""}},
    {"AlterEnumStmt", Kind::kAlter, C::kSession, {"", ""}},
    {"CreateRangeStmt", Kind::kCreate, C::kSession, {"", ""}},
    {"AlterTypeStmt", Kind::kAlter, C::kSession, {"", ""}},
    {"DefineStmt", Kind::kCreate, C::kSession, {"", ""}},
    {"CreateCastStmt", Kind::kCreate, C::kSession, {"", ""}},
    {"CreateOpClassStmt", Kind::kCreate, C::kSession, {"", ""}},
    {"CreateOpFamilyStmt", Kind::kCreate, C::kSession, {"", ""}},
    {"AlterOpFamilyStmt", Kind::kAlter, C::kSession, {"", ""}},
    {"AlterOperatorStmt", Kind::kAlter, C::kSession, {"", ""}},
    {"CreateConversionStmt", Kind::kCreate, C::kSession, {"", ""}},
    {"CreateTransformStmt", Kind::kCreate, C::kSession, {"", ""}},
    {"AlterCollationStmt", Kind::kAlter, C::kSession, {"", ""}},
    {"AlterTSDictionaryStmt", Kind::kAlter, C::kSession, {"", ""}},
    {"AlterTSConfigurationStmt", Kind::kAlter, C::kSession, {"", ""}},
    {"CreateAmStmt", Kind::kCreateExtension, C::kSession, {"", ""}},
    {"CreatePLangStmt", Kind::kCreateExtension, C::kSession, {"", ""}},
    {"CreateEventTrigStmt", Kind::kCreate, C::kAdmin, {"", ""}},
    {"AlterEventTrigStmt", Kind::kAlter, C::kAdmin, {"", ""}},
    {"CreateTableSpaceStmt", Kind::kCreate, C::kAdmin, {"", ""}},
    {"DropTableSpaceStmt", Kind::kDrop, C::kAdmin, {"", ""}},
    {"AlterTableSpaceOptionsStmt", Kind::kAlter, C::kAdmin, {"", ""}},
    {"AlterTableMoveAllStmt", Kind::kAlter, C::kAdmin, {"", ""}},
    {"CreateFdwStmt", Kind::kCreate, C::kAdmin, {"", ""}},
    {"AlterFdwStmt", Kind::kAlter, C::kAdmin, {"", ""}},
    {"CreateForeignServerStmt", Kind::kCreate, C::kAdmin, {"", ""}},
    {"AlterForeignServerStmt", Kind::kAlter, C::kAdmin, {"", ""}},
    {"CreateUserMappingStmt", Kind::kCreate, C::kAdmin, {"", ""}},
    {"AlterUserMappingStmt", Kind::kAlter, C::kAdmin, {"", ""}},
    {"DropUserMappingStmt", Kind::kDrop, C::kAdmin, {"", ""}},
    {"ImportForeignSchemaStmt", Kind::kCreate, C::kAdmin, {"", ""}},
    {"CreatePublicationStmt", Kind::kCreate, C::kAdmin, {"", ""}},
    {"AlterPublicationStmt", Kind::kAlter, C::kAdmin, {"", ""}},
    {"CreateSubscriptionStmt", Kind::kCreate, C::kAdmin, {"", ""}},
    {"AlterSubscriptionStmt", Kind::kAlter, C::kAdmin, {"", ""}},
    {"DropSubscriptionStmt", Kind::kDrop, C::kAdmin, {"", ""}},
    {"CreateFunctionStmt", Kind::kCreateFunction, C::kSession, {"", ""}},
    {"DoStmt", Kind::kDo, C::kSession, {"", ""}},
    {"CallStmt", Kind::kCall, C::kSession, {"", ""}},
    {"AlterSystemStmt", Kind::kAlterSystem, C::kSession, {"", ""}},
    {"VariableShowStmt", Kind::kShow, C::kSession, {"", ""}},
    {"TransactionStmt", Kind::kTransaction, C::kSession, {"", ""}},
    {"ConstraintsSetStmt", Kind::kTransaction, C::kSession, {"", ""}},
    {"CheckPointStmt", Kind::kCheckpoint, C::kSession, {"", ""}},
    {"LoadStmt", Kind::kLoad, C::kSession, {"", ""}},
    {"ListenStmt", Kind::kListen, C::kSession, {"", ""}},
    {"UnlistenStmt", Kind::kUnlisten, C::kSession, {"", ""}},
    {"NotifyStmt", Kind::kNotify, C::kSession, {"", ""}},
    {"DeclareCursorStmt", Kind::kDeclare, C::kSession, {"", ""}},
    {"FetchStmt", Kind::kFetch, C::kSession, {"", ""}},
    {"ClosePortalStmt", Kind::kClose, C::kSession, {"", ""}},
    {"PrepareStmt", Kind::kPrepare, C::kSession, {"", ""}},
    {"ExecuteStmt", Kind::kExecute, C::kSession, {"", ""}},
};

// Functions that run SQL handed to them as a value, or read a table named by
// a value: what they do cannot be seen in the statement, so it is opaque like
// a DO block (class admin). Every dblink function is too (see dynamic()).
constexpr std::string_view kDynamicSqlFunctions[] = {"query_to_xml",
                                                     "query_to_xmlschema",
                                                     "query_to_xml_and_xmlschema",
                                                     "cursor_to_xml",
                                                     "cursor_to_xmlschema",
                                                     "table_to_xml",
                                                     "table_to_xmlschema",
                                                     "table_to_xml_and_xmlschema",
                                                     "schema_to_xml",
                                                     "schema_to_xmlschema",
                                                     "schema_to_xml_and_xmlschema",
                                                     "database_to_xml",
                                                     "database_to_xmlschema",
                                                     "database_to_xml_and_xmlschema",
                                                     "ts_stat",
                                                     "ts_rewrite",
                                                     "dblink",
                                                     "dblink_exec",
                                                     "dblink_open",
                                                     "dblink_send_query",
                                                     "dblink_build_sql_insert",
                                                     "dblink_build_sql_update",
                                                     "dblink_build_sql_delete"};

// Built-in functions that change data or the server: calling one is a write or
// an admin action whatever the statement around it says.
constexpr std::string_view kWriteFunctions[] = {
    "nextval", "setval",        "lo_create", "lo_creat",  "lo_unlink",
    "lo_put",  "lo_from_bytea", "lo_import", "lo_export", "pg_notify"};
constexpr std::string_view kAdminFunctions[] = {"pg_terminate_backend",
                                                "pg_cancel_backend",
                                                "pg_reload_conf",
                                                "pg_rotate_logfile",
                                                "pg_switch_wal",
                                                "pg_create_restore_point",
                                                "pg_promote",
                                                "pg_drop_replication_slot",
                                                "pg_create_physical_replication_slot",
                                                "pg_create_logical_replication_slot",
                                                "pg_replication_origin_create",
                                                "pg_file_write",
                                                "pg_file_unlink",
                                                "pg_file_rename",
                                                "pg_log_backend_memory_contexts"};

bool truthy(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

// The string value of an A_Const node ({"A_Const": {"sval": {"sval": …}}}), if it is one.
const std::string* const_string(const json& node) {
  auto a = node.find("A_Const");
  if (a == node.end()) return nullptr;
  auto s = a->find("sval");
  if (s == a->end()) return nullptr;
  auto v = s->find("sval");
  if (v == s->end() || !v->is_string()) {
    static const std::string kEmpty;
    return &kEmpty;  // '' has no sval member
  }
  return &v->get_ref<const std::string&>();
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Settings that change how the server reads the statements after them. The
// gateway reads every statement as UTF-8 with standard_conforming_strings on:
// with backslashes escaping quotes in plain strings again, or in an encoding
// whose multibyte characters may end in a backslash byte (SJIS, BIG5, GBK, …),
// a string the gateway sees as one literal ends early for the server, and
// what follows it runs unseen. `value` is null when it is not a constant.
// Returns why the setting cannot be followed, or empty when it can.
std::string unfollowable(const std::string& name, const std::string* value) {
  if (name == "standard_conforming_strings") {
    static constexpr std::string_view kOn[] = {"on", "true", "yes", "1", "t",
                                               "tr", "tru",  "y",   "ye"};
    const std::string v = value != nullptr ? lower(*value) : std::string();
    if (value == nullptr || std::find(std::begin(kOn), std::end(kOn), v) == std::end(kOn))
      return "standard_conforming_strings may only be on: the gateway reads strings that way";
  }
  if (name == "client_encoding") {
    if (value == nullptr) return "client_encoding set to a value the gateway cannot read";
    // The server's own spelling rule for encoding names: letters and digits, any case.
    std::string clean;
    for (char c : lower(*value))
      if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) clean += c;
    static constexpr std::string_view kUnsafe[] = {
        "sjis",  "shiftjis", "mskanji",    "win932",     "windows932", "shiftjis2004",
        "big5",  "win950",   "windows950", "gbk",        "win936",     "windows936",
        "cp936", "uhc",      "win949",     "windows949", "gb18030",    "johab"};
    if (std::find(std::begin(kUnsafe), std::end(kUnsafe), clean) != std::end(kUnsafe))
      return "client_encoding " + *value +
             " can hide a quote inside a multibyte character; the gateway reads UTF-8";
  }
  return {};
}

bool dynamic(const model::FunctionRef& f) {
  // dblink's functions all reach another database (or this one as another
  // session) with SQL given as a value.
  if (f.name.starts_with("dblink")) return true;
  for (auto d : kDynamicSqlFunctions)
    if (f.name == d) return true;
  return false;
}

class Walker {
 public:
  explicit Walker(model::Statement& st) : st_(st), stack_top_(stack_position()) {}

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  bool constant_sensitive() const { return constant_sensitive_; }

  // A top-level statement node: {"SelectStmt": {...}}.
  void statement(const json& stmt) {
    if (!stmt.is_object() || stmt.size() != 1) return fail("unrecognised statement");
    const std::string& type = stmt.begin().key();
    const json& body = stmt.begin().value();
    if (type == "SelectStmt") {
      st_.kind = body.contains("intoClause") ? Kind::kCreate : Kind::kSelect;
    } else if (type == "InsertStmt") {
      st_.kind = Kind::kInsert;
    } else if (type == "UpdateStmt") {
      st_.kind = Kind::kUpdate;
    } else if (type == "DeleteStmt") {
      st_.kind = Kind::kDelete;
    } else if (type == "MergeStmt") {
      st_.kind = Kind::kMerge;
    } else if (type == "CopyStmt") {
      copy(body);
      return;
    } else if (type == "ExplainStmt") {
      explain(body);
      return;
    } else if (type == "CreateTableAsStmt") {
      st_.kind = Kind::kCreate;
    } else if (type == "VariableSetStmt") {
      variable_set(body);
      return;
    } else if (type == "DropStmt") {
      drop(body);
      return;
    } else if (type == "GrantStmt" || type == "GrantRoleStmt") {
      st_.kind = truthy(body, "is_grant") ? Kind::kGrant : Kind::kRevoke;
      // Privileges on a table are changed on that table.
      const auto& objtype = str(body, "objtype");
      if (objtype == "OBJECT_TABLE" || objtype == "OBJECT_SEQUENCE")
        if (auto o = body.find("objects"); o != body.end()) write_target(*o);
      node(type, body);
      return;
    } else if (type == "DiscardStmt") {
      st_.kind = Kind::kDiscard;
      const auto& target = str(body, "target");
      if (target == "DISCARD_ALL") {
        st_.search_path_change = model::SearchPathChange::kReset;
        st_.deallocates_all = true;
      }
      return;
    } else if (type == "DeallocateStmt") {
      st_.kind = Kind::kDeallocate;
      st_.deallocated = str(body, "name");
      st_.deallocates_all = st_.deallocated.empty();
      return;
    } else if (type == "VacuumStmt") {
      st_.kind = truthy(body, "is_vacuumcmd") ? Kind::kVacuum : Kind::kAnalyze;
      // VACUUM rewrites what it names (FULL entirely), ANALYZE its statistics.
      if (auto rels = body.find("rels"); rels != body.end() && rels->is_array())
        for (const auto& r : *rels)
          if (auto v = r.find("VacuumRelation"); v != r.end())
            if (auto rel = v->find("relation"); rel != v->end()) write_target(*rel);
      node(type, body);
      return;
    } else if (type == "TransactionStmt") {
      st_.kind = Kind::kTransaction;
      // COMMIT PREPARED and ROLLBACK PREPARED finish a transaction that any
      // session of the same role prepared: they commit or throw away its writes.
      const auto& k = str(body, "kind");
      if (k == "TRANS_STMT_COMMIT_PREPARED" || k == "TRANS_STMT_ROLLBACK_PREPARED")
        least_ = C::kWrite;
    } else {
      const StatementType* t = nullptr;
      for (const auto& candidate : kStatementTypes)
        if (candidate.node == type) t = &candidate;
      if (t == nullptr) return fail("statement type " + type + " is not recognised");
      st_.kind = t->kind;
      least_ = t->at_least;
      for (auto field : t->write_fields) {
        if (field.empty()) continue;
        if (auto it = body.find(std::string(field)); it != body.end()) write_target(*it);
      }
      if (type == "AlterObjectSchemaStmt" || type == "RenameStmt") renamed(body);
      if (type == "CommentStmt" || type == "SecLabelStmt") commented(body);
    }
    node(type, body);
  }

  // After the walk: calls written as a column (`t.pg_read_file`) are known
  // only once every FROM item of the statement has been seen.
  void finish() {
    for (const auto& ref : qualified_columns_) {
      for (const auto& fn : function_items_) {
        if (fn.alias != ref.qualifier) continue;
        // A column the item declares, or the one its scalar result is named
        // by, is a column; anything else may be a call on the item's value.
        const bool column = fn.columns.empty() ? ref.name == fn.alias
                                               : std::find(fn.columns.begin(), fn.columns.end(),
                                                           ref.name) != fn.columns.end();
        if (column) continue;
        called({"", ref.name}, ref.runs);
      }
    }
  }

  StatementClass least() const { return least_; }

 private:
  void fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
  }

  // Relations a statement modifies: a RangeVar, or a list of them.
  void write_target(const json& j) {
    if (j.is_array()) {
      for (const auto& e : j) write_target(e);
      return;
    }
    if (!j.is_object()) return;
    if (auto rv = j.find("RangeVar"); rv != j.end()) return relation(*rv, true);
    if (j.contains("relname")) relation(j, true);
  }

  void relation(const json& rv, bool write) {
    model::Relation r{str(rv, "schemaname"), str(rv, "relname"), write};
    // An unqualified name may be a CTE in scope rather than a table.
    if (r.schema.empty() && !write) {
      for (const auto& scope : cte_scopes_)
        if (std::find(scope.begin(), scope.end(), r.name) != scope.end()) return;
    }
    // SELECT … FOR UPDATE/SHARE locks the rows of what its FROM reads.
    if (locked_ > 0) r.write = true;
    if (effects_off_ > 0) r.write = false;
    add_relation(std::move(r));
  }

  // ALTER … SET SCHEMA and RENAME of a relation: it is written under its new
  // name too (moving a table into a schema writes that schema).
  void renamed(const json& body) {
    auto rel = body.find("relation");
    if (rel == body.end() || !rel->is_object()) return;
    const json& rv = rel->contains("RangeVar") ? (*rel)["RangeVar"] : *rel;
    if (const auto& schema = str(body, "newschema"); !schema.empty())
      add_relation({schema, str(rv, "relname"), true});
    static constexpr std::string_view kRelationTypes[] = {"OBJECT_TABLE",   "OBJECT_VIEW",
                                                          "OBJECT_MATVIEW", "OBJECT_SEQUENCE",
                                                          "OBJECT_INDEX",   "OBJECT_FOREIGN_TABLE"};
    const auto& type = str(body, "renameType");
    const auto& name = str(body, "newname");
    if (!name.empty() && std::find(std::begin(kRelationTypes), std::end(kRelationTypes), type) !=
                             std::end(kRelationTypes))
      add_relation({str(rv, "schemaname"), name, true});
  }

  // COMMENT ON / SECURITY LABEL ON a relation, a column of one, or something
  // defined on one (trigger, policy, rule, constraint) changes that relation.
  void commented(const json& body) {
    auto object = body.find("object");
    if (object == body.end()) return;
    object_relation(str(body, "objtype"), *object);
  }

  // A relation named by an object path ({"List": {"items": [schema, name]}}):
  // `type` says whether the path names the relation or something on it.
  void object_relation(const std::string& type, const json& object) {
    static constexpr std::string_view kRelationTypes[] = {"OBJECT_TABLE",   "OBJECT_VIEW",
                                                          "OBJECT_MATVIEW", "OBJECT_SEQUENCE",
                                                          "OBJECT_INDEX",   "OBJECT_FOREIGN_TABLE"};
    static constexpr std::string_view kOnRelationTypes[] = {
        "OBJECT_COLUMN", "OBJECT_TRIGGER", "OBJECT_POLICY", "OBJECT_RULE", "OBJECT_TABCONSTRAINT"};
    const bool is_relation = std::find(std::begin(kRelationTypes), std::end(kRelationTypes),
                                       type) != std::end(kRelationTypes);
    const bool on_relation = std::find(std::begin(kOnRelationTypes), std::end(kOnRelationTypes),
                                       type) != std::end(kOnRelationTypes);
    if (!is_relation && !on_relation) return;
    auto list = object.find("List");
    if (list == object.end()) return;
    auto items = list->find("items");
    if (items == list->end() || !items->is_array()) return;
    std::vector<std::string> parts;
    for (const auto& i : *items) parts.push_back(str(i.value("String", json::object()), "sval"));
    if (on_relation && !parts.empty()) parts.pop_back();
    if (parts.empty()) return;
    model::Relation r;
    r.name = parts.back();
    if (parts.size() >= 2) r.schema = parts[parts.size() - 2];
    r.write = true;
    add_relation(std::move(r));
  }

  void add_relation(model::Relation r) {
    for (auto& have : st_.relations) {
      if (have.schema == r.schema && have.name == r.name) {
        have.write = have.write || r.write;
        return;
      }
    }
    st_.relations.push_back(std::move(r));
  }

  // A change of role inside another statement (it changes no data, so it is
  // not a data-modifying CTE even inside one).
  void set_role() {
    if (effects_off_ > 0) return;
    model::Operation op{Kind::kSetRole, false};
    if (std::find(st_.operations.begin(), st_.operations.end(), op) == st_.operations.end())
      st_.operations.push_back(op);
  }

  void operation(Kind k, bool without_where = false) {
    if (effects_off_ > 0) return;
    model::Operation op{k, without_where};
    if (std::find(st_.operations.begin(), st_.operations.end(), op) == st_.operations.end())
      st_.operations.push_back(op);
    if (in_cte_ > 0 && k != Kind::kSelect) st_.data_modifying_cte = true;
  }

  void function(const json& fc) {
    auto it = fc.find("funcname");
    if (it == fc.end() || !it->is_array() || it->empty()) return;
    model::FunctionRef f;
    const auto& parts = *it;
    f.name = str(parts.back().value("String", json::object()), "sval");
    if (parts.size() >= 2)
      f.schema = str(parts[parts.size() - 2].value("String", json::object()), "sval");
    const bool catalog = f.schema.empty() || f.schema == "pg_catalog";
    const bool set_config_call = catalog && f.name == "set_config";
    called(std::move(f), effects_off_ == 0);
    if (set_config_call) set_config(fc);
  }

  // A call of `f`, and what calling it implies; `runs`: it is executed, not
  // only planned (EXPLAIN without ANALYZE).
  void called(model::FunctionRef f, bool runs) {
    if (dynamic(f)) st_.dynamic_sql = true;
    const bool catalog = f.schema.empty() || f.schema == "pg_catalog";
    if (catalog && runs) {
      for (auto w : kWriteFunctions)
        if (f.name == w && st_.function_class < C::kWrite) st_.function_class = C::kWrite;
      for (auto a : kAdminFunctions)
        if (f.name == a) st_.function_class = C::kAdmin;
    }
    if (std::find(st_.functions.begin(), st_.functions.end(), f) == st_.functions.end())
      st_.functions.push_back(std::move(f));
  }

  // set_config(name, value, is_local): only a constant name other than
  // search_path leaves the search path alone.
  void set_config(const json& fc) {
    constant_sensitive_ = true;
    auto args = fc.find("args");
    if (args == fc.end() || !args->is_array() || args->empty()) return;
    const std::string* name = const_string((*args)[0]);
    // Setting role or session_authorization is SET ROLE by another name, and
    // a name the gateway cannot read may be either.
    const std::string setting = name != nullptr ? lower(*name) : std::string();
    if (name == nullptr || setting == "role" || setting == "session_authorization") set_role();
    const std::string* value = args->size() >= 2 ? const_string((*args)[1]) : nullptr;
    if (auto why = unfollowable(setting, value); !why.empty()) return fail(why);
    if (name != nullptr && setting != "search_path") return;
    if (name == nullptr || value == nullptr) {
      st_.search_path_change = model::SearchPathChange::kDynamic;
      st_.search_path.clear();
      return;
    }
    if (st_.search_path_change != model::SearchPathChange::kDynamic) {
      st_.search_path_change = model::SearchPathChange::kSet;
      st_.search_path = parse_search_path(*value);
    }
  }

  // Whether the gateway can still read what follows once this SET (or one
  // of ALTER SYSTEM / ROLE / DATABASE … SET) has taken effect.
  bool followable(const json& body) {
    if (str(body, "kind") != "VAR_SET_VALUE") return true;  // DEFAULT, RESET: the start value
    // One constant argument, or a value the gateway cannot know.
    const std::string* value = nullptr;
    if (auto args = body.find("args"); args != body.end() && args->is_array() && args->size() == 1)
      value = const_string((*args)[0]);
    auto why = unfollowable(lower(str(body, "name")), value);
    if (why.empty()) return true;
    fail(why);
    return false;
  }

  void variable_set(const json& body) {
    constant_sensitive_ = true;
    const std::string name = lower(str(body, "name"));
    const std::string& kind = str(body, "kind");
    st_.kind = Kind::kSet;
    if (kind == "VAR_SET_MULTI") {
      st_.kind = name == "transaction" || name == "session characteristics" ? Kind::kTransaction
                                                                            : Kind::kSet;
    }
    if (name == "role" || name == "session_authorization" || name == "session authorization")
      st_.kind = Kind::kSetRole;
    if (!followable(body)) return;
    if (kind == "VAR_RESET_ALL") st_.search_path_change = model::SearchPathChange::kReset;
    if (name == "search_path") {
      if (kind == "VAR_SET_VALUE") {
        st_.search_path_change = model::SearchPathChange::kSet;
        std::string joined;
        if (auto args = body.find("args"); args != body.end() && args->is_array()) {
          for (const auto& a : *args) {
            const std::string* s = const_string(a);
            if (s == nullptr) {
              st_.search_path_change = model::SearchPathChange::kDynamic;
              break;
            }
            // Each argument is one schema name, already unquoted.
            st_.search_path.push_back(*s);
          }
        }
      } else {
        st_.search_path_change = model::SearchPathChange::kReset;
      }
    }
    node("VariableSetStmt", body);
  }

  void copy(const json& body) {
    constant_sensitive_ = true;
    const bool from = truthy(body, "is_from");
    const bool program = truthy(body, "is_program");
    const std::string& file = str(body, "filename");
    if (file.empty()) {
      st_.kind = from ? Kind::kCopyFrom : Kind::kCopyTo;
      st_.copy_target = from ? "stdin" : "stdout";
    } else if (program) {
      st_.kind = from ? Kind::kCopyFromProgram : Kind::kCopyToProgram;
      st_.copy_target = file;
    } else {
      st_.kind = from ? Kind::kCopyFromFile : Kind::kCopyToFile;
      st_.copy_target = file;
    }
    if (auto rel = body.find("relation"); rel != body.end()) relation(*rel, from);
    st_.copy_query = body.contains("query");
    if (auto cols = body.find("attlist"); cols != body.end() && cols->is_array())
      for (const auto& c : *cols)
        if (auto sv = c.find("String"); sv != c.end()) st_.copy_columns.push_back(str(*sv, "sval"));
    if (auto opts = body.find("options"); opts != body.end() && opts->is_array()) {
      for (const auto& o : *opts) {
        auto d = o.find("DefElem");
        if (d == o.end()) continue;
        std::string v;
        if (auto arg = d->find("arg"); arg != d->end())
          if (auto sv = arg->find("String"); sv != arg->end()) v = str(*sv, "sval");
        const std::string name = lower(str(*d, "defname"));
        if (name == "format") st_.copy_format = lower(v);
        if (name == "delimiter" && v.size() == 1) st_.copy_delimiter = v[0];
        if (name == "quote" && v.size() == 1) st_.copy_quote = v[0];
      }
    }
    operation(from ? Kind::kCopyFrom : Kind::kCopyTo);
    if (auto q = body.find("query"); q != body.end()) walk(*q);
    if (auto w = body.find("whereClause"); w != body.end()) walk(*w);
  }

  void explain(const json& body) {
    constant_sensitive_ = true;
    bool analyze = false;
    if (auto opts = body.find("options"); opts != body.end() && opts->is_array()) {
      for (const auto& o : *opts) {
        auto d = o.find("DefElem");
        if (d == o.end() || lower(str(*d, "defname")) != "analyze") continue;
        auto arg = d->find("arg");
        std::string v = "true";
        if (arg != d->end()) {
          if (auto s = arg->find("String"); s != arg->end()) v = lower(str(*s, "sval"));
          if (auto b = arg->find("Boolean"); b != arg->end())
            v = truthy(*b, "boolval") ? "true" : "false";
          // ANALYZE 0 / ANALYZE 1 (an Integer 0 is written without its ival).
          if (auto n = arg->find("Integer"); n != arg->end() && n->is_object())
            v = n->value("ival", 0) == 0 ? "false" : "true";
          if (const std::string* c = const_string(*arg)) v = lower(*c);
        }
        analyze = !(v == "false" || v == "off" || v == "0" || v == "no");
      }
    }
    st_.kind = analyze ? Kind::kExplainAnalyze : Kind::kExplain;
    // Without ANALYZE the statement is planned, not run: it reads the
    // catalog's view of the relations, changes nothing.
    if (!analyze) ++effects_off_;
    if (auto q = body.find("query"); q != body.end()) walk(*q);
    if (!analyze) --effects_off_;
  }

  void drop(const json& body) {
    st_.kind = Kind::kDrop;
    const std::string& type = str(body, "removeType");
    if (type == "OBJECT_SCHEMA" || type == "OBJECT_DATABASE") least_ = C::kDdl;
    if (type == "OBJECT_EXTENSION" || type == "OBJECT_LANGUAGE" || type == "OBJECT_ROLE")
      least_ = C::kAdmin;
    // The relations dropped, or those a dropped trigger, policy or rule is on.
    auto objects = body.find("objects");
    if (objects == body.end() || !objects->is_array()) return;
    for (const auto& o : *objects) object_relation(type, o);
  }

  // WITH: CTE names are in scope for the query and, when recursive, for the
  // CTE bodies themselves; a non-recursive CTE's body sees only the ones before it.
  // `scope` indexes cte_scopes_: walking a body may open scopes of its own,
  // which can move the vector, so no reference into it is held across that.
  void with_clause(const json& with, std::size_t scope) {
    const bool recursive = truthy(with, "recursive");
    auto ctes = with.find("ctes");
    if (ctes == with.end() || !ctes->is_array()) return;
    if (recursive)
      for (const auto& c : *ctes)
        if (auto cte = c.find("CommonTableExpr"); cte != c.end())
          cte_scopes_[scope].push_back(str(*cte, "ctename"));
    for (const auto& c : *ctes) {
      auto cte = c.find("CommonTableExpr");
      if (cte == c.end()) continue;
      if (auto q = cte->find("ctequery"); q != cte->end()) {
        ++in_cte_;
        walk(*q);
        --in_cte_;
      }
      if (!recursive) cte_scopes_[scope].push_back(str(*cte, "ctename"));
    }
  }

  // A node by type: handles what the type means, then walks its children.
  void node(const std::string& type, const json& body) {
    if (++depth_ > kMaxDepth || stack_used() > kMaxStackBytes) {
      fail("statement is nested too deeply to analyze");
      --depth_;
      return;
    }
    bool pushed = false;
    auto open_scope = [&](const json& b) {
      if (auto w = b.find("withClause"); w != b.end() && w->is_object()) {
        cte_scopes_.emplace_back();
        pushed = true;
        // The scope is filled while the CTE bodies are walked.
        with_clause(*w, cte_scopes_.size() - 1);
      }
    };
    if (type == "SelectStmt") {
      open_scope(body);
      operation(Kind::kSelect);
      if (auto into = body.find("intoClause"); into != body.end()) {
        st_.creates_table_as = true;
        if (auto rel = into->find("rel"); rel != into->end()) relation(*rel, true);
      }
      const auto l = body.find("lockingClause");
      const bool locks = l != body.end() && l->is_array() && !l->empty() && effects_off_ == 0;
      if (locks) {
        st_.locking = true;
        // Everything its FROM reads is locked, subqueries there included
        // (FOR UPDATE OF names a few: taken as all, which is stricter).
        ++locked_;
        if (auto from = body.find("fromClause"); from != body.end()) walk(*from);
        --locked_;
      }
      // The locking clause names FROM items (aliases), not relations.
      children(body, {"withClause", "intoClause", "lockingClause", locks ? "fromClause" : ""});
    } else if (type == "InsertStmt" || type == "UpdateStmt" || type == "DeleteStmt" ||
               type == "MergeStmt") {
      open_scope(body);
      Kind k = type == "InsertStmt"   ? Kind::kInsert
               : type == "UpdateStmt" ? Kind::kUpdate
               : type == "DeleteStmt" ? Kind::kDelete
                                      : Kind::kMerge;
      const bool unbounded =
          (k == Kind::kUpdate || k == Kind::kDelete) && !body.contains("whereClause");
      operation(k, unbounded);
      if (k == Kind::kMerge) merge_actions(body);
      if (auto rel = body.find("relation"); rel != body.end()) relation(*rel, true);
      children(body, {"withClause", "relation"});
    } else if (type == "CreateTableAsStmt") {
      st_.creates_table_as = true;
      if (auto into = body.find("into"); into != body.end())
        if (auto rel = into->find("rel"); rel != into->end()) relation(*rel, true);
      children(body, {"into"});
    } else if (type == "CreateFunctionStmt" || type == "DoStmt") {
      // Bodies are opaque: the function's or block's code is not analyzed.
    } else if (type == "FuncCall") {
      function(body);
      children(body, {});
    } else if (type == "CreateSchemaStmt") {
      // CREATE SCHEMA … CREATE TABLE/VIEW/INDEX …: what each element creates.
      if (auto elts = body.find("schemaElts"); elts != body.end() && elts->is_array())
        for (const auto& e : *elts)
          if (e.is_object() && e.size() == 1)
            for (const auto& t : kStatementTypes)
              if (t.node == e.begin().key())
                for (auto f : t.write_fields)
                  if (!f.empty())
                    if (auto it = e.begin()->find(std::string(f)); it != e.begin()->end())
                      write_target(*it);
      children(body, {});
    } else if (type == "RangeFunction") {
      function_item(body);
      children(body, {});
    } else if (type == "ColumnRef") {
      // `t.name`: a column of t, or, when t is a function in FROM, possibly
      // name(t) written as a column (attribute notation); settled in finish().
      auto fields = body.find("fields");
      if (fields != body.end() && fields->is_array() && fields->size() == 2 &&
          (*fields)[0].contains("String") && (*fields)[1].contains("String"))
        qualified_columns_.push_back({str((*fields)[0]["String"], "sval"),
                                      str((*fields)[1]["String"], "sval"), effects_off_ == 0});
    } else if (type == "A_Indirection") {
      // `(expr).name` is name(expr) whenever expr has no field `name`: any
      // one-argument function can be called so (pg_read_file included).
      if (auto ind = body.find("indirection"); ind != body.end() && ind->is_array())
        for (const auto& i : *ind)
          if (auto s = i.find("String"); s != i.end())
            called({"", str(*s, "sval")}, effects_off_ == 0);
      children(body, {});
    } else if (type == "CallStmt") {
      if (auto f = body.find("funccall"); f != body.end()) node("FuncCall", *f);
    } else if (type == "ExecuteStmt") {
      st_.executes.push_back(str(body, "name"));
      children(body, {});
    } else if (type == "PrepareStmt") {
      st_.prepared_name = str(body, "name");
      children(body, {});
    } else if (type == "CopyStmt" || type == "ExplainStmt" || type == "VariableSetStmt") {
      // Nested forms (EXPLAIN's query is walked by explain()).
      if (depth_ > 1 && type == "ExplainStmt")
        explain(body);
      else if (depth_ > 1 && type == "CopyStmt")
        copy(body);
      else if (type != "VariableSetStmt" || followable(body))
        // ALTER SYSTEM / ROLE / DATABASE … SET: what later sessions start with.
        children(body, {});
    } else {
      children(body, {});
    }
    if (pushed) cte_scopes_.pop_back();
    --depth_;
  }

  // A function in FROM: the names it may be referred to by, and the columns
  // it is declared to have.
  void function_item(const json& body) {
    FunctionItem item;
    if (auto alias = body.find("alias"); alias != body.end() && alias->is_object()) {
      item.alias = str(*alias, "aliasname");
      if (auto cols = alias->find("colnames"); cols != alias->end() && cols->is_array())
        for (const auto& c : *cols)
          item.columns.push_back(str(c.value("String", json::object()), "sval"));
    }
    auto coldefs = [&](const json& list) {
      if (!list.is_array()) return;
      for (const auto& c : list)
        if (auto d = c.find("ColumnDef"); d != c.end()) item.columns.push_back(str(*d, "colname"));
    };
    if (auto cd = body.find("coldeflist"); cd != body.end()) coldefs(*cd);
    std::vector<std::string> names;
    if (auto fns = body.find("functions"); fns != body.end() && fns->is_array()) {
      // Each entry is a List of (call, column definitions).
      for (const auto& f : *fns) {
        auto items = f.find("List");
        if (items == f.end() || !items->contains("items")) continue;
        const auto& pair = (*items)["items"];
        if (!pair.is_array() || pair.empty()) continue;
        if (auto fc = pair[0].find("FuncCall"); fc != pair[0].end())
          if (auto n = fc->find("funcname"); n != fc->end() && n->is_array() && !n->empty())
            names.push_back(str(n->back().value("String", json::object()), "sval"));
        if (pair.size() >= 2) coldefs(pair[1]);
      }
    }
    // Unaliased, the item is named by its function.
    if (!item.alias.empty()) {
      function_items_.push_back(std::move(item));
      return;
    }
    for (auto& n : names) {
      FunctionItem named = item;
      named.alias = std::move(n);
      function_items_.push_back(std::move(named));
    }
  }

  void merge_actions(const json& body) {
    auto clauses = body.find("mergeWhenClauses");
    if (clauses == body.end() || !clauses->is_array()) return;
    for (const auto& c : *clauses) {
      auto w = c.find("MergeWhenClause");
      if (w == c.end()) continue;
      const std::string& cmd = str(*w, "commandType");
      if (cmd == "CMD_DELETE") operation(Kind::kDelete);
      if (cmd == "CMD_UPDATE") operation(Kind::kUpdate);
      if (cmd == "CMD_INSERT") operation(Kind::kInsert);
    }
  }

  void children(const json& body, std::initializer_list<std::string_view> skip) {
    if (!body.is_object()) return;
    for (auto it = body.begin(); it != body.end(); ++it) {
      if (std::find(skip.begin(), skip.end(), it.key()) != skip.end()) continue;
      field(it.key(), *it);
    }
  }

  // Any JSON value: node wrappers ({"Type": {...}}), RangeVars written
  // without a wrapper ({"relname": …}), lists and plain fields.
  void walk(const json& j) {
    if (!ok()) return;
    if (j.is_array()) {
      for (const auto& e : j) walk(e);
      return;
    }
    if (!j.is_object()) return;
    if (j.contains("relname")) return relation(j, false);
    if (j.size() == 1) {
      const auto& key = j.begin().key();
      if (!key.empty() && key[0] >= 'A' && key[0] <= 'Z') {
        if (key == "RangeVar") return relation(j.begin().value(), false);
        return node(key, j.begin().value());
      }
    }
    if (++depth_ > kMaxDepth || stack_used() > kMaxStackBytes) {
      fail("statement is nested too deeply to analyze");
      --depth_;
      return;
    }
    for (auto it = j.begin(); it != j.end(); ++it) field(it.key(), *it);
    --depth_;
  }

  // A struct member: some hold a node without its type wrapper.
  void field(const std::string& key, const json& value) {
    if (key == "funccall" && value.is_object()) {
      node("FuncCall", value);
    } else if (key == "setstmt" && value.is_object()) {
      node("VariableSetStmt", value);  // ALTER SYSTEM / ROLE / DATABASE … SET
    } else if ((key == "larg" || key == "rarg") && value.is_object()) {
      node("SelectStmt", value);  // the arms of UNION/INTERSECT/EXCEPT
    } else {
      walk(value);
    }
  }

  std::uintptr_t stack_used() const {
    const std::uintptr_t here = stack_position();
    return stack_top_ > here ? stack_top_ - here : 0;
  }

  struct FunctionItem {
    std::string alias;
    std::vector<std::string> columns;
  };
  struct QualifiedColumn {
    std::string qualifier;
    std::string name;
    bool runs = true;
  };

  model::Statement& st_;
  std::uintptr_t stack_top_;
  std::vector<FunctionItem> function_items_;
  std::vector<QualifiedColumn> qualified_columns_;
  std::vector<std::vector<std::string>> cte_scopes_;
  std::string error_;
  StatementClass least_ = C::kSession;
  int depth_ = 0;
  int in_cte_ = 0;
  int effects_off_ = 0;
  int locked_ = 0;
  bool constant_sensitive_ = false;
};

StatementClass strongest(StatementClass a, StatementClass b) {
  return static_cast<std::uint8_t>(a) >= static_cast<std::uint8_t>(b) ? a : b;
}

// A statement's class: the strongest of everything it does.
StatementClass class_of_statement(const model::Statement& st, StatementClass least) {
  StatementClass c = strongest(model::class_of(st.kind), least);
  for (const auto& op : st.operations) {
    // Reading and copying out are reads; anything else an operation does writes.
    if (op.kind == Kind::kSelect || op.kind == Kind::kCopyTo) {
      c = strongest(c, C::kRead);
      continue;
    }
    c = strongest(c,
                  model::class_of(op.kind) == C::kSession ? C::kWrite : model::class_of(op.kind));
  }
  if (st.locking) c = strongest(c, C::kWrite);
  if (st.creates_table_as) c = strongest(c, C::kDdl);
  if (st.dynamic_sql) c = strongest(c, C::kAdmin);
  c = strongest(c, st.function_class);
  // EXPLAIN without ANALYZE and PREPARE run nothing, but are allowed only to
  // whom may run what they name (a read-only caller cannot prepare a DELETE).
  return c;
}

}  // namespace

model::Analysis analyze(std::string_view sql) {
  model::Analysis a;
  const std::string text(sql);
  PgQueryParseResult r = pg_query_parse(text.c_str());
  if (r.error != nullptr) {
    a.error = std::string("syntax: ") + r.error->message;
    pg_query_free_parse_result(r);
    return a;
  }
  json tree = json::parse(r.parse_tree, nullptr, /*allow_exceptions=*/false);
  pg_query_free_parse_result(r);
  if (tree.is_discarded()) {
    a.error = "parse tree unreadable";
    return a;
  }
  auto stmts = tree.find("stmts");
  if (stmts == tree.end() || !stmts->is_array() || stmts->empty()) {
    // An empty query string: the server answers EmptyQueryResponse.
    a.ok = true;
    a.kind = Kind::kSelect;
    a.cls = C::kSession;
    return a;
  }
  a.ok = true;
  a.cls = C::kSession;
  for (const auto& raw : *stmts) {
    model::Statement st;
    Walker w(st);
    auto s = raw.find("stmt");
    if (s == raw.end()) continue;  // an empty statement between semicolons
    w.statement(*s);
    w.finish();
    // JSON leaves zeros out: the first statement's location, the last one's length.
    if (auto at = raw.find("stmt_location"); at != raw.end() && at->is_number_unsigned())
      st.location = at->get<std::uint32_t>();
    if (auto len = raw.find("stmt_len"); len != raw.end() && len->is_number_unsigned())
      st.length = len->get<std::uint32_t>();
    a.constant_sensitive = a.constant_sensitive || w.constant_sensitive();
    if (!w.ok()) {
      a.ok = false;
      a.error = w.error();
      st.kind = Kind::kUnknown;
      st.cls = C::kUnknown;
    } else {
      st.cls = class_of_statement(st, w.least());
    }
    a.cls = strongest(a.cls, st.cls);
    a.statements.push_back(std::move(st));
  }
  if (a.statements.empty()) {
    a.kind = Kind::kSelect;
    return a;
  }
  a.kind = a.statements.front().kind;
  // A lone statement ending in `;` with nothing after it but `;` and
  // whitespace (pgbench, psql, most drivers) spans the text as
  // statement_text() cuts it: it is kept as spanning it (length 0), so texts
  // that differ only in a constant share its key without sharing a length.
  if (auto& st = a.statements.front();
      a.statements.size() == 1 && st.location == 0 && st.length != 0 && st.length <= sql.size() &&
      sql.substr(st.length).find_first_not_of(" \t\n\r\f\v;") == std::string_view::npos)
    st.length = 0;
  // Several statements are keyed by their exact text: each one's location in
  // it (for its own audit record) moves with the length of every constant. So
  // is one that does not span the whole text — one followed by a comment after
  // its `;` (its length is up to there) or following an empty one (`; SELECT
  // 1`): texts that differ in a constant's length or in the spacing before a
  // `;` share its key.
  if (a.statements.size() > 1 || a.statements.front().location != 0 ||
      a.statements.front().length != 0)
    a.constant_sensitive = true;
  // Anything but plain queries and DML is keyed by its exact text: their
  // constants (file names, settings, options) can decide.
  for (const auto& st : a.statements) {
    switch (st.kind) {
      case Kind::kSelect:
      case Kind::kInsert:
      case Kind::kUpdate:
      case Kind::kDelete:
      case Kind::kMerge:
        break;
      default:
        a.constant_sensitive = true;
    }
  }
  if (!a.ok) {
    a.kind = Kind::kUnknown;
    a.cls = C::kUnknown;
  }
  return a;
}

std::string_view statement_text(std::string_view sql, const model::Statement& st) {
  if (st.location > sql.size()) return {};
  std::string_view t = sql.substr(st.location, st.length == 0 ? std::string_view::npos : st.length);
  // The server's own whitespace (scan.l: space, tab, newline, carriage
  // return, form feed, vertical tab). An empty statement after it (`;;`)
  // leaves its `;` inside the length: no statement ends in one of its own.
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  const auto first = t.find_first_not_of(kSpace);
  const auto last = t.find_last_not_of(" \t\n\r\f\v;");
  if (first == std::string_view::npos || last == std::string_view::npos || last < first) return {};
  return t.substr(first, last - first + 1);
}

std::optional<std::string> normalize(std::string_view sql) {
  const std::string text(sql);
  PgQueryNormalizeResult r = pg_query_normalize(text.c_str());
  std::optional<std::string> out;
  if (r.error == nullptr && r.normalized_query != nullptr) out = std::string(r.normalized_query);
  pg_query_free_normalize_result(r);
  return out;
}

std::vector<std::string> parse_search_path(std::string_view value) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < value.size()) {
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t' || value[i] == ',')) ++i;
    if (i >= value.size()) break;
    std::string name;
    if (value[i] == '"') {
      ++i;
      while (i < value.size()) {
        if (value[i] == '"') {
          if (i + 1 < value.size() && value[i + 1] == '"') {
            name += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        name += value[i++];
      }
    } else {
      while (i < value.size() && value[i] != ',') name += value[i++];
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
      name = lower(name);  // unquoted names fold to lower case, as the server does
    }
    out.push_back(std::move(name));
    while (i < value.size() && value[i] != ',') ++i;
  }
  return out;
}

namespace {

// The tables and views of pg_catalog in every PostgreSQL from 10 to 17, in
// byte order. An unqualified one of these names resolves to pg_catalog
// wherever the path does not list a schema before it: nothing later in the
// path can shadow it. (A pg_* name not listed here, one that a newer server
// added or an extension's, may still resolve to the path.)
constexpr std::string_view kCatalogRelations[] = {
    "pg_aggregate",
    "pg_am",
    "pg_amop",
    "pg_amproc",
    "pg_attrdef",
    "pg_attribute",
    "pg_auth_members",
    "pg_authid",
    "pg_available_extension_versions",
    "pg_available_extensions",
    "pg_cast",
    "pg_class",
    "pg_collation",
    "pg_config",
    "pg_constraint",
    "pg_conversion",
    "pg_cursors",
    "pg_database",
    "pg_db_role_setting",
    "pg_default_acl",
    "pg_depend",
    "pg_description",
    "pg_enum",
    "pg_event_trigger",
    "pg_extension",
    "pg_file_settings",
    "pg_foreign_data_wrapper",
    "pg_foreign_server",
    "pg_foreign_table",
    "pg_group",
    "pg_hba_file_rules",
    "pg_index",
    "pg_indexes",
    "pg_inherits",
    "pg_init_privs",
    "pg_language",
    "pg_largeobject",
    "pg_largeobject_metadata",
    "pg_locks",
    "pg_matviews",
    "pg_namespace",
    "pg_opclass",
    "pg_operator",
    "pg_opfamily",
    "pg_partitioned_table",
    "pg_policies",
    "pg_policy",
    "pg_prepared_statements",
    "pg_prepared_xacts",
    "pg_proc",
    "pg_publication",
    "pg_publication_rel",
    "pg_publication_tables",
    "pg_range",
    "pg_replication_origin",
    "pg_replication_origin_status",
    "pg_replication_slots",
    "pg_rewrite",
    "pg_roles",
    "pg_rules",
    "pg_seclabel",
    "pg_seclabels",
    "pg_sequence",
    "pg_sequences",
    "pg_settings",
    "pg_shadow",
    "pg_shdepend",
    "pg_shdescription",
    "pg_shseclabel",
    "pg_stat_activity",
    "pg_stat_all_indexes",
    "pg_stat_all_tables",
    "pg_stat_archiver",
    "pg_stat_bgwriter",
    "pg_stat_database",
    "pg_stat_database_conflicts",
    "pg_stat_progress_vacuum",
    "pg_stat_replication",
    "pg_stat_ssl",
    "pg_stat_subscription",
    "pg_stat_sys_indexes",
    "pg_stat_sys_tables",
    "pg_stat_user_functions",
    "pg_stat_user_indexes",
    "pg_stat_user_tables",
    "pg_stat_wal_receiver",
    "pg_stat_xact_all_tables",
    "pg_stat_xact_sys_tables",
    "pg_stat_xact_user_functions",
    "pg_stat_xact_user_tables",
    "pg_statio_all_indexes",
    "pg_statio_all_sequences",
    "pg_statio_all_tables",
    "pg_statio_sys_indexes",
    "pg_statio_sys_sequences",
    "pg_statio_sys_tables",
    "pg_statio_user_indexes",
    "pg_statio_user_sequences",
    "pg_statio_user_tables",
    "pg_statistic",
    "pg_statistic_ext",
    "pg_stats",
    "pg_subscription",
    "pg_subscription_rel",
    "pg_tables",
    "pg_tablespace",
    "pg_timezone_abbrevs",
    "pg_timezone_names",
    "pg_transform",
    "pg_trigger",
    "pg_ts_config",
    "pg_ts_config_map",
    "pg_ts_dict",
    "pg_ts_parser",
    "pg_ts_template",
    "pg_type",
    "pg_user",
    "pg_user_mapping",
    "pg_user_mappings",
    "pg_views",
};
static_assert(std::is_sorted(std::begin(kCatalogRelations), std::end(kCatalogRelations)));

bool always_in_catalog(std::string_view name) {
  return std::binary_search(std::begin(kCatalogRelations), std::end(kCatalogRelations), name);
}

}  // namespace

std::vector<std::string> candidate_schemas(const model::Relation& r,
                                           const std::vector<std::string>& search_path,
                                           std::string_view session_user) {
  if (!r.schema.empty()) return {r.schema};
  std::vector<std::string> out;
  const bool catalog_listed =
      std::find(search_path.begin(), search_path.end(), "pg_catalog") != search_path.end();
  // Every relation of pg_catalog is named pg_*; it is searched first unless
  // listed. A relation it always has resolves there and nowhere after it.
  const bool in_catalog = always_in_catalog(r.name);
  if (!catalog_listed && r.name.starts_with("pg_")) {
    out.push_back("pg_catalog");
    if (in_catalog) return out;
  }
  for (const auto& s : search_path) {
    if (s == "pg_catalog" && !r.name.starts_with("pg_")) continue;
    if (s == "pg_catalog" && in_catalog) {
      if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
      return out;
    }
    if (s == "$user") {
      // Not knowing whose schema that is means not knowing where the name
      // resolves: none (the caller treats that as a path it cannot read).
      if (session_user.empty()) return {};
      if (std::find(out.begin(), out.end(), session_user) == out.end())
        out.emplace_back(session_user);
      continue;
    }
    if (s.empty()) continue;
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  return out;
}

}  // namespace gh::sql
