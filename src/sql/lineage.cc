#include "sql/lineage.h"

#include <pg_query.h>

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>

#include "sql/parse_tree.h"

namespace gh::sql {

namespace {

using json = nlohmann::json;
using model::ColumnLineage;
using model::Origin;
using tree::stack_position;
using tree::str;

// Nesting deeper than this (expressions, subqueries, views) is not walked:
// what lies below is opaque. The statement analyzer refuses much deeper
// trees before a statement runs; this bounds the walk's own stack.
constexpr int kMaxDepth = 200;
constexpr std::uintptr_t kMaxStackBytes = 512 << 10;
constexpr int kMaxViews = 16;              // views read while resolving one statement
constexpr int kRecursiveRounds = 6;        // a recursive CTE's columns, to a fixed point
constexpr std::size_t kMaxOrigins = 4096;  // per value: past it the value is opaque

// The value flowing out of an expression.
struct Flow {
  std::vector<Origin> origins;
  bool direct = false;
  bool opaque = false;
};

void add_origin(Flow& f, const Origin& o) {
  if (std::find(f.origins.begin(), f.origins.end(), o) != f.origins.end()) return;
  if (f.origins.size() >= kMaxOrigins) {
    f.opaque = true;
    return;
  }
  f.origins.push_back(o);
}

// `from` becomes part of a computed value: JSON documents reach it whole.
void merge(Flow& into, const Flow& from) {
  for (Origin o : from.origins) {
    if (o.json) o.path.reset();
    add_origin(into, o);
  }
  into.opaque = into.opaque || from.opaque;
  into.direct = false;
}

struct Column {
  std::string name;
  Flow flow;
};

// Something in a FROM clause, by the name the statement gives it.
struct Item {
  std::string name;
  std::string schema;  // a relation's schema as written (for schema.table.column)
  std::vector<Column> columns;
  bool wildcard = false;  // its columns are not known: any name is `any`
  Flow any;
  bool table = false;  // a base table or view: system columns resolve to nothing
  // A side of a USING/NATURAL join: reached by its name only (its columns
  // are the join's, which stand before it).
  bool qualified_only = false;
};

struct Scope {
  std::vector<Item> items;
  const Scope* parent = nullptr;
};

struct Cte {
  std::string name;
  std::vector<Column> columns;
  bool known = true;  // false: the column list could not be established
};

struct Env {
  std::vector<Cte> ctes;
  const Env* parent = nullptr;
};

const std::string& sval(const json& node) {
  static const std::string kEmpty;
  auto s = node.find("String");
  if (s == node.end()) return kEmpty;
  auto v = s->find("sval");
  if (v == s->end() || !v->is_string()) return kEmpty;
  return v->get_ref<const std::string&>();
}

const json* member(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

// The constant of an A_Const as a JSON key: a string, or an integer (array index).
std::optional<std::string> const_key(const json& node) {
  auto a = node.find("A_Const");
  if (a == node.end()) return std::nullopt;
  if (auto s = a->find("sval"); s != a->end()) {
    auto v = s->find("sval");
    return v != s->end() && v->is_string() ? v->get<std::string>() : std::string();
  }
  if (auto i = a->find("ival"); i != a->end()) {
    auto v = i->find("ival");
    return std::to_string(v != i->end() && v->is_number_integer() ? v->get<long long>() : 0);
  }
  return std::nullopt;
}

// A text[] constant as #> takes it: '{a,b,0}'. nullopt for anything with
// quotes, escapes or nesting (the path is then not known).
std::optional<std::vector<std::string>> const_path(const json& node) {
  auto text = const_key(node);
  if (!text || text->size() < 2 || text->front() != '{' || text->back() != '}') return std::nullopt;
  std::vector<std::string> out;
  std::string cur;
  for (std::size_t i = 1; i + 1 < text->size(); ++i) {
    char c = (*text)[i];
    if (c == '"' || c == '\\' || c == '{' || c == '}') return std::nullopt;
    if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else if (c != ' ') {
      cur += c;
    }
  }
  if (!cur.empty() || !out.empty()) out.push_back(cur);
  return out;
}

bool is_json_type(const json& type_name) {
  const json* names = member(type_name, "names");
  if (!names || !names->is_array() || names->empty()) return false;
  const std::string& last = sval(names->back());
  return last == "json" || last == "jsonb";
}

// The name PostgreSQL gives a result column written without AS.
std::string column_name(const json& val) {
  if (!val.is_object() || val.size() != 1) return "?column?";
  const std::string& type = val.begin().key();
  const json& body = val.begin().value();
  if (type == "ColumnRef") {
    const json* fields = member(body, "fields");
    if (fields && fields->is_array() && !fields->empty()) {
      const std::string& last = sval(fields->back());
      if (!last.empty()) return last;
    }
  } else if (type == "FuncCall") {
    const json* names = member(body, "funcname");
    if (names && names->is_array() && !names->empty()) return sval(names->back());
  } else if (type == "TypeCast") {
    if (const json* arg = member(body, "arg")) {
      std::string inner = column_name(*arg);
      if (inner != "?column?") return inner;
    }
    if (const json* tn = member(body, "typeName"))
      if (const json* names = member(*tn, "names"); names && names->is_array() && !names->empty())
        return sval(names->back());
  } else if (type == "A_Indirection") {
    const json* ind = member(body, "indirection");
    if (ind && ind->is_array() && !ind->empty() && !sval(ind->back()).empty())
      return sval(ind->back());
    if (const json* arg = member(body, "arg")) return column_name(*arg);
  } else if (type == "CaseExpr") {
    return "case";
  } else if (type == "CoalesceExpr") {
    return "coalesce";
  }
  return "?column?";
}

class Walker {
 public:
  Walker(const LineageCatalog& catalog, Lineage& out)
      : catalog_(catalog), out_(out), stack_top_(stack_position()) {}

  // The result columns of a top-level statement node; nullopt when it has
  // none the analysis can line up.
  std::optional<std::vector<Column>> statement(const json& stmt) {
    if (!stmt.is_object() || stmt.size() != 1) return std::nullopt;
    const std::string& type = stmt.begin().key();
    const json& body = stmt.begin().value();
    if (type == "SelectStmt") return query(stmt, nullptr, nullptr);
    if (type == "InsertStmt" || type == "UpdateStmt" || type == "DeleteStmt")
      return returning(type, body);
    if (type == "CopyStmt" || type == "DeclareCursorStmt") {
      const json* q = member(body, "query");
      if (!q) return std::nullopt;
      return statement(*q);
    }
    if (type == "ExecuteStmt" || type == "FetchStmt") {
      // Rows of something prepared or declared earlier: not seen here.
      out_.opaque = true;
      return std::nullopt;
    }
    return std::nullopt;
  }

 private:
  bool too_deep() const {
    return depth_ > kMaxDepth || stack_top_ - stack_position() > kMaxStackBytes;
  }

  struct Deeper {
    explicit Deeper(int& d) : d_(d) { ++d_; }
    ~Deeper() { --d_; }
    int& d_;
  };

  // A SELECT (with set operations, VALUES, WITH): its result columns;
  // nullopt when they cannot be lined up.
  std::optional<std::vector<Column>> query(const json& node, const Scope* outer, const Env* env) {
    Deeper d(depth_);
    const json* s = member(node, "SelectStmt");
    if (!s || too_deep()) {
      out_.opaque = true;
      return std::nullopt;
    }
    Env local{{}, env};
    if (const json* with = member(*s, "withClause")) with_clause(*with, outer, local);
    const std::string& op = str(*s, "op");
    if (!op.empty() && op != "SETOP_NONE") {
      // larg and rarg are SelectStmts written without their node name.
      auto side = [&](const char* k) -> std::optional<std::vector<Column>> {
        const json* arm = member(*s, k);
        if (!arm) return std::nullopt;
        return query(json{{"SelectStmt", *arm}}, outer, &local);
      };
      auto l = side("larg");
      auto r = side("rarg");
      if (!l || !r || l->size() != r->size()) return std::nullopt;
      for (std::size_t i = 0; i < l->size(); ++i) merge((*l)[i].flow, (*r)[i].flow);
      return l;
    }
    if (const json* values = member(*s, "valuesLists")) {
      std::vector<Column> cols;
      Scope scope{{}, outer};
      bool first = true;
      for (const auto& row : *values) {
        const json* items = member(row, "List") ? member(*member(row, "List"), "items") : nullptr;
        if (!items || !items->is_array()) return std::nullopt;
        if (first) {
          for (std::size_t i = 0; i < items->size(); ++i)
            cols.push_back({"column" + std::to_string(i + 1), {}});
          first = false;
        }
        if (items->size() != cols.size()) return std::nullopt;
        for (std::size_t i = 0; i < items->size(); ++i)
          merge(cols[i].flow, expr((*items)[i], scope, &local));
      }
      return cols;
    }
    Scope scope{{}, outer};
    if (const json* from = member(*s, "fromClause"); from && from->is_array())
      for (const auto& f : *from) from_item(f, scope, &local, scope.items);
    // Predicates decide which rows come back, not what a value holds; the
    // subqueries and calls in them still count for `opaque`.
    for (const char* k : {"whereClause", "havingClause", "groupClause", "sortClause",
                          "windowClause", "distinctClause"})
      if (const json* p = member(*s, k)) predicate(expr(*p, scope, &local));
    bool aligned = true;
    std::vector<Column> cols;
    if (const json* targets = member(*s, "targetList"))
      cols = result_list(*targets, scope, &local, aligned);
    if (!aligned) {
      for (auto& c : cols) merge(out_any_, c.flow);
      return std::nullopt;
    }
    return cols;
  }

  // The columns of a result list (a SELECT's targets, a RETURNING list), `*` expanded.
  std::vector<Column> result_list(const json& list, const Scope& scope, const Env* env,
                                  bool& aligned) {
    std::vector<Column> cols;
    if (!list.is_array()) return cols;
    for (const auto& t : list) {
      const json* rt = member(t, "ResTarget");
      const json* val = rt ? member(*rt, "val") : nullptr;
      if (!val) {
        aligned = false;
        continue;
      }
      if (star(*val, scope, cols, aligned)) continue;
      std::string name = str(*rt, "name");
      if (name.empty()) name = column_name(*val);
      cols.push_back({name, expr(*val, scope, env)});
    }
    return cols;
  }

  std::optional<std::vector<Column>> returning(const std::string& type, const json& body) {
    Env local{{}, nullptr};
    if (const json* with = member(body, "withClause")) with_clause(*with, nullptr, local);
    Scope scope;
    if (const json* rel = member(body, "relation")) {
      json wrapped = {{"RangeVar", *rel}};
      from_item(wrapped, scope, &local, scope.items);
    }
    if (type == "InsertStmt") {
      if (const json* sel = member(body, "selectStmt")) (void)query(*sel, nullptr, &local);
    }
    for (const char* k : {"fromClause", "usingClause"})
      if (const json* from = member(body, k); from && from->is_array())
        for (const auto& f : *from) from_item(f, scope, &local, scope.items);
    if (const json* p = member(body, "whereClause")) predicate(expr(*p, scope, &local));
    if (const json* p = member(body, "targetList")) (void)expr(*p, scope, &local);
    const json* ret = member(body, "returningList");
    if (!ret || !ret->is_array()) return std::nullopt;
    bool aligned = true;
    std::vector<Column> cols = result_list(*ret, scope, &local, aligned);
    if (!aligned) return std::nullopt;
    return cols;
  }

  void with_clause(const json& with, const Scope* outer, Env& env) {
    const bool recursive = with.value("recursive", false);
    const json* ctes = member(with, "ctes");
    if (!ctes || !ctes->is_array()) return;
    for (const auto& c : *ctes) {
      const json* cte = member(c, "CommonTableExpr");
      if (!cte) continue;
      Cte def{str(*cte, "ctename"), {}, false};
      const json* q = member(*cte, "ctequery");
      std::vector<std::string> names;
      if (const json* cols = member(*cte, "aliascolnames"); cols && cols->is_array())
        for (const auto& n : *cols) names.push_back(sval(n));
      auto rename = [&](std::vector<Column>& cols) {
        for (std::size_t i = 0; i < names.size() && i < cols.size(); ++i) cols[i].name = names[i];
      };
      if (!q) {
        env.ctes.push_back(std::move(def));
        continue;
      }
      const bool select = member(*q, "SelectStmt") != nullptr;
      if (!select || !recursive) {
        // A data-modifying CTE has its RETURNING columns.
        auto cols = select ? query(*q, outer, &env) : statement(*q);
        if (cols) {
          rename(*cols);
          def.columns = std::move(*cols);
          def.known = true;
        }
        env.ctes.push_back(std::move(def));
        continue;
      }
      // Recursive: start from the non-recursive term, then widen until the
      // columns stop gaining origins.
      const json* sel = member(*q, "SelectStmt");
      const json* larg = member(*sel, "larg");
      std::optional<std::vector<Column>> cols =
          larg ? query(json{{"SelectStmt", *larg}}, outer, &env) : std::nullopt;
      if (!cols) cols = query(*q, outer, &env);
      env.ctes.push_back(std::move(def));
      Cte& self = env.ctes.back();
      if (!cols) continue;
      rename(*cols);
      self.columns = std::move(*cols);
      self.known = true;
      for (int round = 0; round < kRecursiveRounds; ++round) {
        auto next = query(*q, outer, &env);
        if (!next || next->size() != self.columns.size()) {
          self.known = false;
          break;
        }
        bool grew = false;
        for (std::size_t i = 0; i < next->size(); ++i) {
          const std::size_t before = self.columns[i].flow.origins.size();
          const bool was_opaque = self.columns[i].flow.opaque;
          Flow f = self.columns[i].flow;
          for (const auto& o : (*next)[i].flow.origins) add_origin(f, o);
          f.opaque = f.opaque || (*next)[i].flow.opaque;
          f.direct = f.direct && (*next)[i].flow.direct;
          if (f.origins.size() != before || f.opaque != was_opaque) grew = true;
          self.columns[i].flow = std::move(f);
        }
        if (!grew) break;
        if (round + 1 == kRecursiveRounds) self.known = false;
      }
    }
  }

  const Cte* find_cte(const Env* env, const std::string& name) const {
    for (const Env* e = env; e; e = e->parent)
      for (auto it = e->ctes.rbegin(); it != e->ctes.rend(); ++it)
        if (it->name == name) return &*it;
    return nullptr;
  }

  static std::string alias_name(const json& node) {
    const json* alias = member(node, "alias");
    return alias ? str(*alias, "aliasname") : std::string();
  }

  static void apply_colnames(const json& node, std::vector<Column>& cols) {
    const json* alias = member(node, "alias");
    const json* names = alias ? member(*alias, "colnames") : nullptr;
    if (!names || !names->is_array()) return;
    for (std::size_t i = 0; i < names->size() && i < cols.size(); ++i)
      cols[i].name = sval((*names)[i]);
  }

  void add_everything(const Flow& f) {
    for (const auto& o : f.origins) {
      Origin c = o;
      if (c.json) c.path.reset();
      if (std::find(out_.everything.begin(), out_.everything.end(), c) == out_.everything.end())
        out_.everything.push_back(std::move(c));
    }
    if (f.opaque) out_.opaque = true;
  }

  // A relation's columns: a table's own, or a view's, computed from its definition.
  Item relation(const json& rv, const Env* env) {
    Item item;
    model::Relation rel{str(rv, "schemaname"), str(rv, "relname"), false};
    item.name = alias_name(rv).empty() ? rel.name : alias_name(rv);
    item.schema = rel.schema;
    if (rel.schema.empty()) {
      if (const Cte* cte = find_cte(env, rel.name)) {
        item.schema.clear();
        if (!cte->known) {
          item.wildcard = true;
          item.any.opaque = true;
          out_.opaque = true;
        } else {
          item.columns = cte->columns;
        }
        apply_colnames(rv, item.columns);
        return item;
      }
    }
    item.table = true;
    const Shape* shape = catalog_.shape ? catalog_.shape(rel) : nullptr;
    if (!shape) {
      if (std::find(out_.missing.begin(), out_.missing.end(), rel) == out_.missing.end())
        out_.missing.push_back(rel);
      item.wildcard = true;
      item.any.opaque = true;
      out_.opaque = true;
      return item;
    }
    if (!shape->exists) {
      item.wildcard = true;
      item.any.opaque = true;
      out_.opaque = true;
      return item;
    }
    if (!shape->view_definition.empty()) {
      std::optional<std::vector<Column>> cols;
      if (++views_ <= kMaxViews && !too_deep()) cols = view(shape->view_definition);
      // A view's columns line up with its definition's result.
      std::size_t live = 0;
      for (const auto& c : shape->columns) live += c.empty() ? 0 : 1;
      if (!cols || cols->size() != live) {
        item.wildcard = true;
        item.any.opaque = true;
        out_.opaque = true;
        return item;
      }
      std::size_t k = 0;
      for (const auto& name : shape->columns) {
        if (name.empty()) continue;
        Column c{name, (*cols)[k++].flow};
        add_everything(c.flow);
        item.columns.push_back(std::move(c));
      }
    } else {
      const std::string prefix = shape->schema + "." + shape->table + ".";
      for (std::size_t i = 0; i < shape->columns.size(); ++i) {
        if (shape->columns[i].empty()) continue;
        Flow f;
        Origin o{prefix + shape->columns[i], i < shape->json.size() && shape->json[i], {}};
        if (o.json) o.path = std::vector<std::string>{};
        f.origins.push_back(o);
        f.direct = true;
        add_everything(f);
        item.columns.push_back({shape->columns[i], std::move(f)});
      }
    }
    apply_colnames(rv, item.columns);
    return item;
  }

  std::optional<std::vector<Column>> view(const std::string& definition) {
    Deeper d(depth_);
    Deeper inside(in_view_);
    PgQueryParseResult r = pg_query_parse(definition.c_str());
    std::optional<std::vector<Column>> cols;
    if (!r.error && r.parse_tree) {
      json tree = json::parse(r.parse_tree, nullptr, false);
      const json* stmts = tree.is_discarded() ? nullptr : member(tree, "stmts");
      if (stmts && stmts->is_array() && stmts->size() == 1)
        if (const json* st = member((*stmts)[0], "stmt")) cols = query(*st, nullptr, nullptr);
    }
    pg_query_free_parse_result(r);
    return cols;
  }

  void from_item(const json& node, Scope& scope, const Env* env, std::vector<Item>& items) {
    Deeper d(depth_);
    if (!node.is_object() || node.size() != 1 || too_deep()) {
      out_.opaque = true;
      return;
    }
    const std::string& type = node.begin().key();
    const json& body = node.begin().value();
    if (type == "RangeVar") {
      items.push_back(relation(body, env));
    } else if (type == "RangeSubselect") {
      // LATERAL or not, what came before in this FROM is visible to it.
      Scope inner{scope.items, scope.parent};
      Item item;
      item.name = alias_name(body);
      const json* sub = member(body, "subquery");
      auto cols = sub ? query(*sub, &inner, env) : std::nullopt;
      if (!cols) {
        item.wildcard = true;
        item.any.opaque = true;
        out_.opaque = true;
      } else {
        item.columns = std::move(*cols);
        apply_colnames(body, item.columns);
      }
      items.push_back(std::move(item));
    } else if (type == "JoinExpr") {
      std::vector<Item> sides;
      if (const json* l = member(body, "larg")) from_item(*l, scope, env, sides);
      const std::size_t left = sides.size();
      if (const json* r = member(body, "rarg")) from_item(*r, scope, env, sides);
      const std::string alias = alias_name(body);
      const json* using_cols = member(body, "usingClause");
      const bool natural = body.value("isNatural", false);
      if (alias.empty() && !using_cols && !natural) {
        for (auto& s : sides) items.push_back(std::move(s));
      } else {
        // USING / NATURAL columns come first, once, holding either side; an
        // alias names the join as one item and hides the sides' names.
        std::vector<const Item*> left_side, right_side;
        for (std::size_t i = 0; i < sides.size(); ++i)
          if (!sides[i].qualified_only) (i < left ? left_side : right_side).push_back(&sides[i]);
        Item joined;
        joined.name = alias;
        std::vector<std::string> common;
        if (using_cols && using_cols->is_array())
          for (const auto& u : *using_cols) common.push_back(sval(u));
        if (natural)
          for (const Item* l : left_side)
            for (const auto& c : l->columns)
              for (const Item* r : right_side)
                for (const auto& o : r->columns)
                  if (o.name == c.name &&
                      std::find(common.begin(), common.end(), c.name) == common.end())
                    common.push_back(c.name);
        auto is_common = [&](const std::string& n) {
          return std::find(common.begin(), common.end(), n) != common.end();
        };
        for (const auto& name : common) {
          Column c{name, {}};
          bool first = true;
          for (const auto* side : {&left_side, &right_side})
            for (const Item* s : *side)
              for (const auto& col : s->columns)
                if (col.name == name) {
                  if (first)
                    c.flow = col.flow;
                  else
                    merge(c.flow, col.flow);
                  first = false;
                }
          joined.columns.push_back(std::move(c));
        }
        for (const auto* side : {&left_side, &right_side})
          for (const Item* s : *side) {
            if (s->wildcard) {
              joined.wildcard = true;
              merge(joined.any, s->any);
            }
            for (const auto& col : s->columns)
              if (!is_common(col.name)) joined.columns.push_back(col);
          }
        // Joining on them is filtering on them.
        for (std::size_t i = 0; i < common.size() && i < joined.columns.size(); ++i)
          predicate(joined.columns[i].flow);
        apply_colnames(body, joined.columns);
        items.push_back(std::move(joined));
        if (alias.empty())
          for (auto& s : sides) {
            s.qualified_only = true;  // t.col still names a side's own column
            items.push_back(std::move(s));
          }
      }
      if (const json* quals = member(body, "quals")) {
        Scope on{items, scope.parent};
        predicate(expr(*quals, on, env));
      }
    } else if (type == "RangeFunction" || type == "RangeTableFunc" || type == "RangeTableSample") {
      if (type == "RangeTableSample") {
        if (const json* rel = member(body, "relation")) {
          from_item(*rel, scope, env, items);
          if (!items.empty()) {
            std::string alias = alias_name(body);
            if (!alias.empty()) items.back().name = alias;
          }
        }
        return;
      }
      // A function's columns: computed from its arguments (a built-in) or
      // opaque (anything else); their number is not known here.
      Item item;
      item.name = alias_name(body);
      item.wildcard = true;
      Scope inner{scope.items, scope.parent};
      for (auto it = body.begin(); it != body.end(); ++it)
        if (it.key() != "alias" && (it->is_object() || it->is_array()))
          merge(item.any, expr(*it, inner, env));
      if (item.name.empty()) {
        // Unaliased: named after the function.
        if (const json* fns = member(body, "functions"); fns && fns->is_array() && !fns->empty())
          if (const json* list = member((*fns)[0], "List"))
            if (const json* li = member(*list, "items"); li && li->is_array() && !li->empty())
              item.name = column_name((*li)[0]);
      }
      items.push_back(std::move(item));
    } else {
      out_.opaque = true;
    }
  }

  // `*` or `t.*` in a result list: the columns it stands for.
  bool star(const json& val, const Scope& scope, std::vector<Column>& cols, bool& aligned) {
    const json* cr = member(val, "ColumnRef");
    const json* fields = cr ? member(*cr, "fields") : nullptr;
    if (!fields || !fields->is_array() || fields->empty() || !member(fields->back(), "A_Star"))
      return false;
    auto take = [&](const Item& item) {
      if (item.wildcard) {
        aligned = false;
        merge(out_any_, item.any);
      }
      for (const auto& c : item.columns) cols.push_back(c);
    };
    if (fields->size() == 1) {
      for (const auto& item : scope.items)
        if (!item.qualified_only) take(item);
      return true;
    }
    const std::string& name = sval((*fields)[fields->size() - 2]);
    for (const Scope* s = &scope; s; s = s->parent)
      for (const auto& item : s->items)
        if (!name.empty() && item.name == name) {
          take(item);
          return true;
        }
    aligned = false;
    out_.opaque = true;
    return true;
  }

  // A value the statement filters, joins, groups or orders by.
  void predicate(const Flow& f) {
    if (in_view_ > 0) return;  // a view's own WHERE is not the caller's
    for (const auto& o : f.origins)
      if (std::find(out_.predicates.begin(), out_.predicates.end(), o) == out_.predicates.end() &&
          out_.predicates.size() < kMaxOrigins)
        out_.predicates.push_back(o);
  }

  static Flow whole_row(const Item& item) {
    Flow f;
    for (const auto& c : item.columns) merge(f, c.flow);
    if (item.wildcard) merge(f, item.any);
    f.direct = false;
    return f;
  }

  static bool system_column(const std::string& name) {
    return name == "ctid" || name == "xmin" || name == "xmax" || name == "cmin" || name == "cmax" ||
           name == "tableoid";
  }

  Flow column_ref(const json& body, const Scope& scope) {
    Flow f;
    const json* fields = member(body, "fields");
    if (!fields || !fields->is_array() || fields->empty()) {
      f.opaque = true;
      return f;
    }
    std::vector<std::string> parts;
    bool star = false;
    for (const auto& p : *fields) {
      if (member(p, "A_Star"))
        star = true;
      else
        parts.push_back(sval(p));
    }
    if (star) {
      // t.* inside an expression (row_to_json(t.*)): the whole row.
      const std::string name = parts.empty() ? std::string() : parts.back();
      for (const Scope* s = &scope; s; s = s->parent) {
        bool found = false;
        for (const auto& item : s->items)
          if ((name.empty() && !item.qualified_only) || (!name.empty() && item.name == name)) {
            merge(f, whole_row(item));
            found = true;
          }
        if (found) return f;
      }
      f.opaque = true;
      return f;
    }
    if (parts.size() == 1) {
      const std::string& name = parts[0];
      for (const Scope* s = &scope; s; s = s->parent) {
        std::vector<const Column*> hits;
        for (const auto& item : s->items) {
          if (item.qualified_only) continue;
          for (const auto& c : item.columns)
            if (c.name == name) {
              hits.push_back(&c);
              break;
            }
        }
        if (hits.size() == 1) return hits[0]->flow;
        if (!hits.empty()) {
          for (const Column* c : hits) merge(f, c->flow);
          return f;
        }
        for (const auto& item : s->items)
          if (!item.name.empty() && item.name == name) return whole_row(item);
        bool wild = false, table = false;
        for (const auto& item : s->items) {
          if (item.qualified_only) continue;
          if (item.wildcard) {
            merge(f, item.any);
            wild = true;
          }
          table = table || item.table;
        }
        if (wild) return f;
        if (table && system_column(name)) return f;
      }
      f.opaque = true;
      return f;
    }
    // rel.col, schema.rel.col, db.schema.rel.col — or col.field of a composite.
    const std::string& col = parts.back();
    const std::string& rel = parts[parts.size() - 2];
    const std::string schema = parts.size() >= 3 ? parts[parts.size() - 3] : std::string();
    for (const Scope* s = &scope; s; s = s->parent) {
      for (const auto& item : s->items) {
        if (item.name != rel || (!schema.empty() && item.schema != schema)) continue;
        for (const auto& c : item.columns)
          if (c.name == col) return c.flow;
        if (item.wildcard) return item.any;
        if (item.table && system_column(col)) return f;
        f.opaque = true;
        return f;
      }
      if (parts.size() == 2) {
        // A composite column's field: the column, whole.
        for (const auto& item : s->items)
          for (const auto& c : item.columns)
            if (c.name == rel) {
              merge(f, c.flow);
              return f;
            }
      }
    }
    f.opaque = true;
    return f;
  }

  static bool json_extract_function(const std::string& name) {
    return name == "json_extract_path" || name == "json_extract_path_text" ||
           name == "jsonb_extract_path" || name == "jsonb_extract_path_text";
  }

  // The value extracted at `keys` of what `from` holds.
  static Flow extract(Flow from, const std::optional<std::vector<std::string>>& keys) {
    from.direct = false;
    for (auto& o : from.origins) {
      if (!o.json) continue;
      if (!keys || !o.path)
        o.path.reset();
      else
        o.path->insert(o.path->end(), keys->begin(), keys->end());
    }
    return from;
  }

  Flow func_call(const json& body, const Scope& scope, const Env* env) {
    Flow f;
    model::FunctionRef fn;
    if (const json* names = member(body, "funcname"); names && names->is_array()) {
      if (names->size() >= 2) fn.schema = sval((*names)[names->size() - 2]);
      if (!names->empty()) fn.name = sval(names->back());
    }
    const json* args = member(body, "args");
    const bool builtin = !catalog_.builtin || catalog_.builtin(fn);
    if (!builtin) {
      f.opaque = true;
      out_.opaque = true;
    }
    // What else a call holds (FILTER, OVER, ORDER BY inside an aggregate)
    // chooses or orders rows; its subqueries and calls still count.
    for (const char* k : {"agg_filter", "over", "agg_order"})
      if (const json* p = member(body, k)) predicate(expr(*p, scope, env));
    if (!args || !args->is_array()) return f;
    if (builtin && json_extract_function(fn.name) && !args->empty()) {
      Flow doc = expr((*args)[0], scope, env);
      std::optional<std::vector<std::string>> keys = std::vector<std::string>{};
      Flow rest;
      for (std::size_t i = 1; i < args->size(); ++i) {
        auto k = const_key((*args)[i]);
        if (k) out_.constant_sensitive = true;
        if (k)
          keys->push_back(*k);
        else
          keys.reset();
        merge(rest, expr((*args)[i], scope, env));
      }
      Flow out = extract(std::move(doc), keys);
      for (const auto& o : rest.origins) add_origin(out, o);
      out.opaque = out.opaque || rest.opaque || f.opaque;
      return out;
    }
    // count(x) counts rows: what x holds does not reach the value.
    const bool counts = builtin && fn.name == "count" && fn.schema.empty();
    for (const auto& a : *args) {
      Flow v = expr(a, scope, env);
      if (!counts) merge(f, v);
    }
    f.direct = false;
    return f;
  }

  Flow a_expr(const json& body, const Scope& scope, const Env* env) {
    std::string op;
    if (const json* name = member(body, "name"); name && name->is_array() && !name->empty())
      op = sval(name->back());
    const json* l = member(body, "lexpr");
    const json* r = member(body, "rexpr");
    const bool path_op = op == "->" || op == "->>" || op == "#>" || op == "#>>";
    if (path_op && str(body, "kind") == "AEXPR_OP" && l && r) {
      Flow doc = expr(*l, scope, env);
      std::optional<std::vector<std::string>> keys;
      if (op == "->" || op == "->>") {
        if (auto k = const_key(*r)) keys = std::vector<std::string>{*k};
      } else {
        keys = const_path(*r);
      }
      if (keys) out_.constant_sensitive = true;
      Flow out = extract(std::move(doc), keys);
      Flow key = expr(*r, scope, env);
      for (const auto& o : key.origins) add_origin(out, o);
      out.opaque = out.opaque || key.opaque;
      return out;
    }
    Flow f;
    if (l) merge(f, expr(*l, scope, env));
    if (r) merge(f, expr(*r, scope, env));
    return f;
  }

  Flow sublink(const json& body, const Scope& scope, const Env* env) {
    Flow f;
    if (const json* test = member(body, "testexpr")) merge(f, expr(*test, scope, env));
    const json* sub = member(body, "subselect");
    if (!sub) return f;
    auto cols = query(*sub, &scope, env);
    if (!cols) {
      merge(f, out_any_);
      f.opaque = true;
      return f;
    }
    for (const auto& c : *cols) merge(f, c.flow);
    return f;
  }

 public:
  Flow expr(const json& n, const Scope& scope, const Env* env) {
    Deeper d(depth_);
    Flow f;
    if (too_deep()) {
      f.opaque = true;
      out_.opaque = true;
      return f;
    }
    if (n.is_array()) {
      for (const auto& e : n) merge(f, expr(e, scope, env));
      return f;
    }
    if (!n.is_object()) return f;
    if (n.size() == 1) {
      const std::string& type = n.begin().key();
      const json& body = n.begin().value();
      if (type == "ColumnRef") return column_ref(body, scope);
      if (type == "FuncCall") return func_call(body, scope, env);
      if (type == "A_Expr") return a_expr(body, scope, env);
      if (type == "SubLink") return sublink(body, scope, env);
      if (type == "SelectStmt") {
        auto cols = query(n, &scope, env);
        if (cols)
          for (const auto& c : *cols) merge(f, c.flow);
        else
          f.opaque = true;
        return f;
      }
      if (type == "TypeCast" || type == "CollateClause") {
        // The same value, spelt as another type: a path stays known.
        const json* arg = member(body, "arg");
        if (!arg) return f;
        Flow v = expr(*arg, scope, env);
        v.direct = false;
        if (type == "TypeCast")
          if (const json* tn = member(body, "typeName"); tn && is_json_type(*tn))
            for (auto& o : v.origins)
              if (!o.json) {
                o.json = true;
                o.path = std::vector<std::string>{};
              }
        return v;
      }
    }
    for (auto it = n.begin(); it != n.end(); ++it)
      if (it->is_object() || it->is_array()) merge(f, expr(*it, scope, env));
    return f;
  }

  const LineageCatalog& catalog_;
  Lineage& out_;
  std::uintptr_t stack_top_;
  int depth_ = 0;
  int views_ = 0;
  int in_view_ = 0;  // reading a view's definition
  Flow out_any_;     // what went into columns that could not be lined up
};

}  // namespace

Lineage lineage_of(std::string_view sql, std::size_t index, const LineageCatalog& catalog) {
  Lineage out;
  PgQueryParseResult r = pg_query_parse(std::string(sql).c_str());
  if (r.error || !r.parse_tree) {
    out.error = r.error && r.error->message ? r.error->message : "does not parse";
    out.opaque = true;
    pg_query_free_parse_result(r);
    return out;
  }
  json tree = json::parse(r.parse_tree, nullptr, false);
  pg_query_free_parse_result(r);
  const json* stmts = tree.is_discarded() ? nullptr : member(tree, "stmts");
  if (!stmts || !stmts->is_array() || index >= stmts->size()) {
    out.error = "no such statement";
    out.opaque = true;
    return out;
  }
  const json* st = member((*stmts)[index], "stmt");
  if (!st) {
    out.error = "empty statement";
    return out;
  }
  Walker w(catalog, out);
  auto cols = w.statement(*st);
  if (cols) {
    out.aligned = true;
    for (auto& c : *cols) {
      if (c.flow.opaque) out.opaque = true;
      out.columns.push_back({std::move(c.flow.origins), c.flow.direct, c.flow.opaque});
    }
  }
  return out;
}

}  // namespace gh::sql
