// The PostgreSQL JDBC driver through the gateway: DatabaseMetaData
// (getTables, getColumns, getPrimaryKeys, getImportedKeys, getIndexInfo,
// getSchemas), a parameterized query run often enough that the driver
// switches to a named server-side statement, ResultSetMetaData (which reads
// pg_attribute and pg_type), and two reads that must be refused.
//
// Run: java -cp /usr/share/java/postgresql.jar JdbcClient.java
// with PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD set; the tables are the
// ones drivers_test.cc creates. Prints one `key: value` line per finding and
// exits 1 when anything was not as expected.
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

public class JdbcClient {
  static int failures = 0;

  static String env(String name) {
    String v = System.getenv(name);
    if (v == null) throw new IllegalStateException(name + " is not set");
    return v;
  }

  static void expect(boolean ok, String what) {
    if (!ok) {
      failures++;
      System.out.println("FAILED: " + what);
    }
  }

  interface Step {
    void run() throws SQLException;
  }

  // A step that must work: its exception is a failure, printed with its SQLSTATE.
  static void step(String name, Step s) {
    try {
      s.run();
    } catch (SQLException e) {
      failures++;
      System.out.println("FAILED " + name + ": " + e.getSQLState() + " " + e.getMessage());
    }
  }

  // A read that must be refused: prints `denied NAME: SQLSTATE message`.
  static void mustBeDenied(Connection c, String name, String sql) {
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      int n = 0;
      while (rs.next()) n++;
      failures++;
      System.out.println("ALLOWED " + name + ": " + n + " rows");
    } catch (SQLException e) {
      System.out.println("denied " + name + ": " + e.getSQLState() + " " + e.getMessage());
    }
  }

  public static void main(String[] args) throws Exception {
    String url = "jdbc:postgresql://" + env("PGHOST") + ":" + env("PGPORT") + "/"
        + env("PGDATABASE") + "?sslmode=disable&connectTimeout=20&socketTimeout=60";
    Properties props = new Properties();
    props.setProperty("user", env("PGUSER"));
    props.setProperty("password", env("PGPASSWORD"));
    try (Connection c = DriverManager.getConnection(url, props)) {
      DatabaseMetaData md = c.getMetaData();
      System.out.println("server: " + md.getDatabaseProductName() + " "
          + md.getDatabaseProductVersion());

      step("getTables", () -> {
        List<String> names = new ArrayList<>();
        try (ResultSet rs = md.getTables(null, "public", "drv_%", new String[] {"TABLE"})) {
          while (rs.next()) names.add(rs.getString("TABLE_NAME"));
        }
        System.out.println("tables: " + String.join(",", names));
      });
      step("getColumns", () -> {
        List<String> cols = new ArrayList<>();
        try (ResultSet rs = md.getColumns(null, "public", "drv_t", "%")) {
          while (rs.next()) {
            cols.add(rs.getString("COLUMN_NAME") + " " + rs.getString("TYPE_NAME") + " "
                + (rs.getInt("NULLABLE") == DatabaseMetaData.columnNoNulls ? "not-null"
                                                                           : "nullable"));
          }
        }
        System.out.println("columns: " + String.join(",", cols));
      });
      step("getPrimaryKeys", () -> {
        List<String> pk = new ArrayList<>();
        try (ResultSet rs = md.getPrimaryKeys(null, "public", "drv_t")) {
          while (rs.next()) pk.add(rs.getString("COLUMN_NAME") + " " + rs.getString("PK_NAME"));
        }
        System.out.println("primary key: " + String.join(",", pk));
      });
      step("getImportedKeys", () -> {
        List<String> fk = new ArrayList<>();
        try (ResultSet rs = md.getImportedKeys(null, "public", "drv_child")) {
          while (rs.next()) {
            fk.add(rs.getString("FKCOLUMN_NAME") + "->" + rs.getString("PKTABLE_NAME") + "."
                + rs.getString("PKCOLUMN_NAME"));
          }
        }
        System.out.println("foreign keys: " + String.join(",", fk));
      });
      step("getIndexInfo", () -> {
        List<String> idx = new ArrayList<>();
        try (ResultSet rs = md.getIndexInfo(null, "public", "drv_child", true, false)) {
          while (rs.next()) {
            if (rs.getString("INDEX_NAME") != null) idx.add(rs.getString("INDEX_NAME"));
          }
        }
        System.out.println("unique indexes: " + String.join(",", idx));
      });
      step("getSchemas", () -> {
        List<String> schemas = new ArrayList<>();
        try (ResultSet rs = md.getSchemas()) {
          while (rs.next()) schemas.add(rs.getString("TABLE_SCHEM"));
        }
        expect(schemas.contains("public"), "getSchemas lists public: " + schemas);
        System.out.println("schemas: " + schemas.size());
      });

      // Past prepareThreshold (5) executions the driver parses a named statement once
      // and binds it again and again.
      step("parameterized query", () -> {
        try (PreparedStatement ps =
                 c.prepareStatement("SELECT id, label, mood FROM public.drv_t WHERE id = ?")) {
          String last = "";
          for (int i = 0; i < 7; i++) {
            ps.setInt(1, 1 + i % 2);
            try (ResultSet rs = ps.executeQuery()) {
              expect(rs.next(), "a row for id " + (1 + i % 2));
              last = rs.getInt(1) + "=" + rs.getString(2) + "/" + rs.getObject(3);
            }
          }
          System.out.println("parameterized: " + last);
          try (ResultSet rs = ps.executeQuery()) {
            ResultSetMetaData rmd = rs.getMetaData();
            System.out.println("result metadata: " + rmd.getColumnTypeName(3) + " "
                + (rmd.isNullable(2) == ResultSetMetaData.columnNoNulls ? "not-null" : "nullable")
                + " " + ((org.postgresql.PGResultSetMetaData) rmd).getBaseTableName(2));
          }
        }
      });

      mustBeDenied(c, "pg_authid", "SELECT rolname, rolpassword FROM pg_catalog.pg_authid");
      mustBeDenied(c, "drv_other", "SELECT secret FROM public.drv_other");
      step("after denials", () -> {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM public.drv_child")) {
          expect(rs.next(), "a count");
          System.out.println("still usable: " + rs.getLong(1));
        }
      });
    }
    System.out.println(failures == 0 ? "jdbc: ok" : "jdbc: " + failures + " failures");
    System.exit(failures == 0 ? 0 : 1);
  }
}
