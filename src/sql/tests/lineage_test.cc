#include "sql/lineage.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace gh::sql {
namespace {

using model::Origin;

// A catalog of three tables and two views, as the tests' database has them.
class Catalog {
 public:
  Catalog() {
    add("public", "users", {"id", "name", "email", "payload"}, {false, false, false, true});
    add("public", "orders", {"id", "user_id", "note"}, {false, false, false});
    add("app", "secrets", {"id", "token"}, {false, false});
    Shape v = shape("public", "user_emails", {"uid", "mail"}, {false, false});
    v.view_definition = "SELECT id AS uid, lower(email) AS mail FROM public.users";
    shapes_["user_emails"] = v;
    shapes_["public.user_emails"] = v;
    Shape w = shape("public", "mail_view2", {"m"}, {false});
    w.view_definition = "SELECT mail FROM user_emails";
    shapes_["mail_view2"] = w;
  }

  LineageCatalog catalog() {
    return {[this](const model::Relation& r) -> const Shape* {
              asked_.push_back(r.schema.empty() ? r.name : r.schema + "." + r.name);
              auto it = shapes_.find(r.schema.empty() ? r.name : r.schema + "." + r.name);
              return it == shapes_.end() ? &none_ : &it->second;
            },
            [](const model::FunctionRef& f) { return f.name != "leak" && f.name != "user_fn"; }};
  }

 private:
  static Shape shape(const std::string& schema, const std::string& table,
                     std::vector<std::string> cols, std::vector<bool> json) {
    Shape s;
    s.exists = true;
    s.schema = schema;
    s.table = table;
    s.columns = std::move(cols);
    s.json = std::move(json);
    return s;
  }
  void add(const std::string& schema, const std::string& table, std::vector<std::string> cols,
           std::vector<bool> json) {
    Shape s = shape(schema, table, std::move(cols), std::move(json));
    shapes_[table] = s;
    shapes_[schema + "." + table] = s;
  }
  std::map<std::string, Shape> shapes_;
  Shape none_;
  std::vector<std::string> asked_;
};

std::vector<std::string> sources(const model::ColumnLineage& c) {
  std::vector<std::string> out;
  for (const auto& o : c.origins) out.push_back(o.source);
  std::sort(out.begin(), out.end());
  return out;
}

Lineage of(std::string_view sql, std::size_t index = 0) {
  static Catalog cat;
  return lineage_of(sql, index, cat.catalog());
}

using V = std::vector<std::string>;

TEST(LineageTest, ExpressionsOverAMaskedColumnKeepItsSource) {
  for (const char* sql :
       {"SELECT substr(email, 1, 9) FROM users", "SELECT split_part(email, '@', 1) FROM users",
        "SELECT encode(convert_to(email, 'UTF8'), 'base64') FROM users",
        "SELECT reverse(email) FROM users", "SELECT email || '' FROM users u",
        "SELECT coalesce(NULL, email) FROM users", "SELECT upper(u.email::text) FROM users u",
        "SELECT (SELECT max(email) FROM users)", "SELECT string_agg(email, ',') FROM users",
        "SELECT first_value(email) OVER (ORDER BY id) FROM users",
        "SELECT array_agg(public.users.email) FROM public.users"}) {
    auto l = of(sql);
    ASSERT_TRUE(l.aligned) << sql;
    ASSERT_EQ(l.columns.size(), 1u) << sql;
    EXPECT_EQ(sources(l.columns[0]), V{"public.users.email"}) << sql;
    EXPECT_FALSE(l.columns[0].direct) << sql;
    EXPECT_FALSE(l.columns[0].opaque) << sql;
  }
}

TEST(LineageTest, CtesDerivedTablesAndSetOperationsAreFollowed) {
  for (const char* sql : {"WITH x AS (SELECT email AS e FROM users) SELECT upper(e) FROM x",
                          "WITH x(e) AS (SELECT email FROM users) SELECT x.e || '!' FROM x",
                          "SELECT lower(s.e) FROM (SELECT email AS e FROM users) s",
                          "SELECT q FROM (SELECT email FROM users) s(q)",
                          "SELECT note FROM orders UNION SELECT email FROM users",
                          "SELECT * FROM (SELECT substr(email, 2) FROM users) s",
                          "SELECT e FROM (VALUES (1)) v(a), LATERAL (SELECT email e FROM users) l",
                          "WITH RECURSIVE r(n, e) AS (SELECT 1, ''::text UNION ALL SELECT n + 1, "
                          "email FROM r, users WHERE n < 3) SELECT e FROM r"}) {
    auto l = of(sql);
    ASSERT_TRUE(l.aligned) << sql;
    ASSERT_EQ(l.columns.size(), 1u) << sql;
    auto s = sources(l.columns[0]);
    EXPECT_TRUE(std::find(s.begin(), s.end(), "public.users.email") != s.end()) << sql;
  }
}

TEST(LineageTest, ConditionsOfACaseCountAsWhatTheValueIsComputedFrom) {
  auto l = of("SELECT CASE WHEN email LIKE 'a%' THEN 1 ELSE 0 END FROM users");
  ASSERT_TRUE(l.aligned);
  EXPECT_EQ(sources(l.columns[0]), V{"public.users.email"});
}

TEST(LineageTest, PlainReferencesAreDirectThroughDerivedTables) {
  auto l = of("SELECT e FROM (SELECT email AS e FROM users) s");
  ASSERT_TRUE(l.aligned);
  EXPECT_TRUE(l.columns[0].direct);
  EXPECT_EQ(sources(l.columns[0]), V{"public.users.email"});
}

TEST(LineageTest, ViewsAreReadThroughTheirDefinitions) {
  auto l = of("SELECT mail, uid FROM user_emails");
  ASSERT_TRUE(l.aligned);
  EXPECT_EQ(sources(l.columns[0]), V{"public.users.email"});
  EXPECT_EQ(sources(l.columns[1]), V{"public.users.id"});
  auto two = of("SELECT m FROM mail_view2");
  ASSERT_TRUE(two.aligned);
  EXPECT_EQ(sources(two.columns[0]), V{"public.users.email"});
}

TEST(LineageTest, StarsExpandInOrderAndJoinsUsingMergeTheirColumns) {
  auto l = of("SELECT *, 1 FROM orders o JOIN users u ON u.id = o.user_id");
  ASSERT_TRUE(l.aligned);
  ASSERT_EQ(l.columns.size(), 8u);
  EXPECT_EQ(sources(l.columns[5]), V{"public.users.email"});
  auto u = of("SELECT * FROM orders JOIN users USING (id)");
  ASSERT_TRUE(u.aligned);
  ASSERT_EQ(u.columns.size(), 6u);  // id once
  EXPECT_EQ(sources(u.columns[0]), (V{"public.orders.id", "public.users.id"}));
  EXPECT_EQ(sources(u.columns[4]), V{"public.users.email"});
  auto q = of("SELECT users.email FROM orders JOIN users USING (id)");
  ASSERT_TRUE(q.aligned);
  EXPECT_EQ(sources(q.columns[0]), V{"public.users.email"});
}

TEST(LineageTest, WholeRowReferencesCarryEveryColumn) {
  for (const char* sql : {"SELECT row_to_json(u) FROM users u", "SELECT u::text FROM users u",
                          "SELECT to_jsonb(u.*) FROM users u", "SELECT ROW(u.*) FROM users u"}) {
    auto l = of(sql);
    ASSERT_TRUE(l.aligned) << sql;
    auto s = sources(l.columns[0]);
    EXPECT_TRUE(std::find(s.begin(), s.end(), "public.users.email") != s.end()) << sql;
  }
}

TEST(LineageTest, JsonExtractionKeepsItsConstantPath) {
  auto l =
      of("SELECT payload->'user'->>'password', payload #>> '{a,b}', "
         "jsonb_extract_path_text(payload, 'x', 'y'), payload->>k, "
         "jsonb_path_query(payload, '$.**.password'), payload FROM users, (SELECT 'z' k) s");
  ASSERT_TRUE(l.aligned);
  ASSERT_EQ(l.columns.size(), 6u);
  ASSERT_EQ(l.columns[0].origins.size(), 1u);
  EXPECT_TRUE(l.columns[0].origins[0].json);
  EXPECT_EQ(l.columns[0].origins[0].path, (V{"user", "password"}));
  EXPECT_EQ(l.columns[1].origins[0].path, (V{"a", "b"}));
  EXPECT_EQ(l.columns[2].origins[0].path, (V{"x", "y"}));
  EXPECT_FALSE(l.columns[3].origins[0].path.has_value());  // a key that is not a constant
  EXPECT_FALSE(l.columns[4].origins[0].path.has_value());  // a function over the document
  EXPECT_TRUE(l.columns[5].direct);
  EXPECT_EQ(l.columns[5].origins[0].path, V{});
}

TEST(LineageTest, ATextColumnCastToJsonIsADocument) {
  auto l = of("SELECT name::jsonb->>'password' FROM users");
  ASSERT_TRUE(l.aligned);
  ASSERT_EQ(l.columns[0].origins.size(), 1u);
  EXPECT_TRUE(l.columns[0].origins[0].json);
  EXPECT_EQ(l.columns[0].origins[0].path, V{"password"});
}

TEST(LineageTest, UserFunctionsAndUnknownNamesAreOpaque) {
  auto f = of("SELECT leak(id) FROM orders");
  ASSERT_TRUE(f.aligned);
  EXPECT_TRUE(f.columns[0].opaque);
  auto n = of("SELECT nosuchcolumn FROM orders");
  EXPECT_TRUE(n.columns[0].opaque);
  auto t = of("SELECT x FROM nosuchtable");
  EXPECT_TRUE(t.columns[0].opaque);
  auto s = of("SELECT * FROM user_fn()");
  EXPECT_FALSE(s.aligned);
  EXPECT_TRUE(s.opaque);
  auto e = of("EXECUTE p");
  EXPECT_FALSE(e.aligned);
  EXPECT_TRUE(e.opaque);
}

TEST(LineageTest, CountAndConstantsComeFromNoColumn) {
  auto l = of("SELECT count(email), count(*), 1, now(), id FROM users");
  ASSERT_TRUE(l.aligned);
  EXPECT_TRUE(l.columns[0].origins.empty());
  EXPECT_TRUE(l.columns[1].origins.empty());
  EXPECT_TRUE(l.columns[2].origins.empty());
  EXPECT_TRUE(l.columns[3].origins.empty());
  EXPECT_EQ(sources(l.columns[4]), V{"public.users.id"});
  EXPECT_FALSE(l.columns[0].opaque);
}

TEST(LineageTest, ReturningAndCopyQueriesHaveLineage) {
  auto r = of("UPDATE users SET name = 'x' WHERE id = 1 RETURNING upper(email), id");
  ASSERT_TRUE(r.aligned);
  EXPECT_EQ(sources(r.columns[0]), V{"public.users.email"});
  auto d =
      of("DELETE FROM orders o USING users u WHERE u.id = o.user_id RETURNING u.email || o.note");
  ASSERT_TRUE(d.aligned);
  EXPECT_EQ(sources(d.columns[0]), (V{"public.orders.note", "public.users.email"}));
  auto c = of("COPY (SELECT md5(email) FROM users) TO STDOUT");
  ASSERT_TRUE(c.aligned);
  EXPECT_EQ(sources(c.columns[0]), V{"public.users.email"});
}

TEST(LineageTest, EachStatementOfAStringHasItsOwn) {
  auto second = of("SELECT 1; SELECT reverse(email) FROM users", 1);
  ASSERT_TRUE(second.aligned);
  EXPECT_EQ(sources(second.columns[0]), V{"public.users.email"});
}

TEST(LineageTest, EverythingListsEachColumnReadForTheFallback) {
  auto l = of("SELECT * FROM generate_series(1, 2) g, orders");
  EXPECT_FALSE(l.aligned);
  bool note = false;
  for (const auto& o : l.everything) note = note || o.source == "public.orders.note";
  EXPECT_TRUE(note);
}

TEST(LineageTest, RelationsNotYetKnownAreListedAsMissing) {
  LineageCatalog empty{[](const model::Relation&) -> const Shape* { return nullptr; }, nullptr};
  auto l = lineage_of("SELECT upper(email) FROM app.accounts a JOIN other b ON true", 0, empty);
  ASSERT_EQ(l.missing.size(), 2u);
  EXPECT_EQ(l.missing[0].schema, "app");
  EXPECT_EQ(l.missing[0].name, "accounts");
  EXPECT_EQ(l.missing[1].name, "other");
}

TEST(LineageTest, PredicatesListWhatTheStatementFiltersJoinsGroupsAndOrdersOn) {
  auto l =
      of("SELECT o.id FROM orders o JOIN users u ON u.id = o.user_id "
         "WHERE u.email LIKE 'a%' GROUP BY o.id HAVING count(*) > 0 ORDER BY max(u.name)");
  std::vector<std::string> p;
  for (const auto& o : l.predicates) p.push_back(o.source);
  std::sort(p.begin(), p.end());
  EXPECT_EQ(p, (V{"public.orders.id", "public.orders.user_id", "public.users.email",
                  "public.users.id", "public.users.name"}));
  // A view's own WHERE is not the caller's condition; the caller's on it is.
  auto v = of("SELECT uid FROM user_emails WHERE mail = 'x'");
  ASSERT_EQ(v.predicates.size(), 1u);
  EXPECT_EQ(v.predicates[0].source, "public.users.email");
  auto s = of("SELECT id FROM orders WHERE user_id IN (SELECT id FROM users WHERE email = 'x')");
  bool email = false;
  for (const auto& o : s.predicates) email = email || o.source == "public.users.email";
  EXPECT_TRUE(email);
}

TEST(LineageTest, DeepNestingIsOpaqueNotACrash) {
  std::string sql = "SELECT ";
  for (int i = 0; i < 2000; ++i) sql += "upper(";
  sql += "email";
  for (int i = 0; i < 2000; ++i) sql += ")";
  sql += " FROM users";
  auto l = of(sql);
  EXPECT_TRUE(l.opaque || !l.error.empty());
}

}  // namespace
}  // namespace gh::sql
