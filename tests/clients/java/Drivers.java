// MariaDB Connector/J (Debian's libmariadb-java) through the driver cases of
// tests/integration/test_drivers.py; the contract is in tests/clients/README.md. One program for
// every case, since the JVM's start is the cost.
//
//   java -cp CLASSES:/usr/share/java/mariadb-java-client.jar Drivers HOST PORT USER PASSWORD DATABASE TAG RESET_PORT

import java.security.MessageDigest;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.mariadb.jdbc.MariaDbPoolDataSource;

public final class Drivers {
  static final int kBlobBytes = 4 * 1024 * 1024;
  static final int kBulkRows = 1000;
  static final int kSessionValue = 12345;
  static final int kCancelSleepSeconds = 20;

  static String url;
  static String resetUrl;
  static String tag;

  interface Case {
    Map<String, Object> run() throws Exception;
  }

  public static void main(String[] args) {
    String query = "/" + args[4] + "?user=" + args[2] + "&password=" + args[3] + "&connectTimeout=10000";
    url = "jdbc:mariadb://" + args[0] + ":" + args[1] + query;
    resetUrl = "jdbc:mariadb://" + args[0] + ":" + args[6] + query;
    tag = args[5];
    Map<String, Case> cases = new LinkedHashMap<>();
    cases.put("login", Drivers::login);
    cases.put("queries", Drivers::queries);
    cases.put("prepared", Drivers::prepared);
    cases.put("blob", Drivers::blob);
    cases.put("reset", Drivers::reset);
    cases.put("kill", Drivers::kill);
    cases.put("cancel", Drivers::cancel);
    cases.put("ignore_space", Drivers::ignoreSpace);
    cases.put("bulk", Drivers::bulk);
    StringBuilder out = new StringBuilder("{");
    for (Map.Entry<String, Case> entry : cases.entrySet()) {
      Map<String, Object> result = new LinkedHashMap<>();
      try {
        result.put("ok", true);
        result.putAll(entry.getValue().run());
      } catch (Exception e) {
        result.clear();
        result.put("ok", false);
        result.put("error", describe(e));
      }
      out.append(out.length() > 1 ? ", " : "").append(json(entry.getKey())).append(": ").append(json(result));
    }
    System.out.println(out.append("}"));
  }

  static Connection connect(String options) throws SQLException {
    return DriverManager.getConnection(url + options);
  }

  static Object one(Connection conn, String sql) throws SQLException {
    try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      return rs.next() ? rs.getObject(1) : null;
    }
  }

  static long status(Connection conn, String name) throws SQLException {
    try (Statement st = conn.createStatement();
        ResultSet rs = st.executeQuery("SHOW SESSION STATUS LIKE '" + name + "'")) {
      rs.next();
      return rs.getLong(2);
    }
  }

  static Map<String, Object> login() throws SQLException {
    try (Connection conn = connect("")) {
      return Map.of("value", one(conn, "SELECT 'Success!'"));
    }
  }

  static Map<String, Object> queries() throws SQLException {
    String table = "drv_" + tag + "_q";
    try (Connection conn = connect(""); Statement st = conn.createStatement()) {
      st.execute("DROP TABLE IF EXISTS " + table);
      st.execute("CREATE TABLE " + table + " (id INT PRIMARY KEY, name VARCHAR(20))");
      int affected = st.executeUpdate("INSERT INTO " + table + " VALUES (1, 'one'), (2, 'two'), (3, 'three')");
      List<Object> rows = new ArrayList<>();
      try (ResultSet rs = st.executeQuery("SELECT id, name FROM " + table + " ORDER BY id")) {
        while (rs.next()) rows.add(List.of(rs.getInt(1), rs.getString(2)));
      }
      return Map.of("affected", affected, "rows", rows);
    }
  }

  static Map<String, Object> prepared() throws SQLException {
    try (Connection conn = connect("&useServerPrepStmts=true")) {
      long before = status(conn, "Com_stmt_prepare");
      List<Object> results = new ArrayList<>();
      try (PreparedStatement ps = conn.prepareStatement("SELECT ? + ?, ?")) {
        Object[][] rows = {{2, 3, "abc"}, {5, 6, "xyz"}};
        for (Object[] row : rows) {
          ps.setInt(1, (Integer) row[0]);
          ps.setInt(2, (Integer) row[1]);
          ps.setString(3, (String) row[2]);
          try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            results.add(List.of(rs.getInt(1), rs.getString(2)));
          }
        }
      }
      return Map.of("results", results, "server_prepares", status(conn, "Com_stmt_prepare") - before);
    }
  }

  static Map<String, Object> blob() throws Exception {
    String table = "drv_" + tag + "_blob";
    byte[] data = new byte[kBlobBytes];
    new SecureRandom().nextBytes(data);
    try (Connection conn = connect("&useServerPrepStmts=true"); Statement st = conn.createStatement()) {
      st.execute("DROP TABLE IF EXISTS " + table);
      st.execute("CREATE TABLE " + table + " (id INT PRIMARY KEY, b LONGBLOB)");
      try (PreparedStatement ps = conn.prepareStatement("INSERT INTO " + table + " VALUES (1, ?)")) {
        ps.setBytes(1, data);
        ps.executeUpdate();
      }
      byte[] back;
      try (ResultSet rs = st.executeQuery("SELECT b FROM " + table + " WHERE id = 1")) {
        rs.next();
        back = rs.getBytes(1);
      }
      return Map.of("sent_sha256", sha256(data), "received_sha256", sha256(back), "received_len", back.length);
    }
  }

  // The pool holds one connection: the second use is the first one, given back after
  // COM_RESET_CONNECTION (useResetConnection).
  static Map<String, Object> reset() throws SQLException {
    Map<String, Object> result = new LinkedHashMap<>();
    try (MariaDbPoolDataSource pool = new MariaDbPoolDataSource(resetUrl + "&maxPoolSize=1&minPoolSize=1&useResetConnection=true")) {
      try (Connection first = pool.getConnection(); Statement st = first.createStatement()) {
        result.put("first_id", one(first, "SELECT CONNECTION_ID()"));
        st.execute("SET @drv_user_var = 'leaked'");
        st.execute("CREATE TEMPORARY TABLE drv_tmp (id INT)");
        st.execute("SET SESSION group_concat_max_len = " + kSessionValue);
        result.put("set_seen", one(first, "SELECT @@SESSION.group_concat_max_len"));
      }
      try (Connection second = pool.getConnection()) {
        result.put("second_id", one(second, "SELECT CONNECTION_ID()"));
        result.put("user_var", one(second, "SELECT @drv_user_var"));
        boolean tempTable = true;
        try {
          one(second, "SELECT COUNT(*) FROM drv_tmp");
        } catch (SQLException e) {
          tempTable = false;
        }
        result.put("temp_table", tempTable);
        result.put("session_var", one(second, "SELECT @@SESSION.group_concat_max_len"));
        result.put("global_default", one(second, "SELECT @@GLOBAL.group_concat_max_len"));
      }
    }
    return result;
  }

  static Map<String, Object> kill() throws SQLException {
    Map<String, Object> result = new LinkedHashMap<>();
    try (Connection bystander = connect(""); Connection victim = connect(""); Connection killer = connect("")) {
      Object victimId = one(victim, "SELECT CONNECTION_ID()");
      result.put("kill_error", null);
      try (Statement st = killer.createStatement()) {
        st.execute("KILL " + victimId);
      } catch (SQLException e) {
        result.put("kill_error", describe(e));
      }
      result.put("victim_error", null);
      try {
        one(victim, "SELECT 1");
      } catch (SQLException e) {
        result.put("victim_error", describe(e));
      }
      result.put("bystander", one(bystander, "SELECT 'alive'"));
      result.put("killer", one(killer, "SELECT 'alive'"));
    }
    return result;
  }

  // Statement.cancel() is Connector/J's own KILL QUERY, sent on a new connection with the
  // connection id of the statement's greeting (not CONNECTION_ID()).
  static Map<String, Object> cancel() throws Exception {
    Map<String, Object> result = new LinkedHashMap<>();
    try (Connection conn = connect(""); Connection watcher = connect(""); Statement st = conn.createStatement()) {
      Object threadId = one(conn, "SELECT CONNECTION_ID()");
      CompletableFuture<String> outcome = CompletableFuture.supplyAsync(() -> {
        try (ResultSet rs = st.executeQuery("SELECT SLEEP(" + kCancelSleepSeconds + ")")) {
          rs.next();
          return "returned " + rs.getInt(1);
        } catch (SQLException e) {
          return describe(e);
        }
      });
      long deadline = System.nanoTime() + kCancelSleepSeconds * 1_000_000_000L / 2;
      String sleeping = "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = " + threadId
          + " AND INFO LIKE 'SELECT SLEEP(%'";
      while (((Number) one(watcher, sleeping)).intValue() == 0) {
        if (System.nanoTime() > deadline) throw new IllegalStateException("the SLEEP never showed in the processlist");
        Thread.sleep(20);
      }
      long started = System.nanoTime();
      st.cancel();
      result.put("outcome", outcome.get(kCancelSleepSeconds * 2L, TimeUnit.SECONDS));
      result.put("seconds_after_cancel", (System.nanoTime() - started) / 1e9);
      result.put("still_usable", one(conn, "SELECT 'alive'"));
    }
    return result;
  }

  // Connector/J always asks for CLIENT_IGNORE_SPACE.
  static Map<String, Object> ignoreSpace() throws SQLException {
    try (Connection conn = connect("")) {
      return Map.of("sql_mode", one(conn, "SELECT @@SESSION.sql_mode"),
          "count", one(conn, "SELECT COUNT (*) FROM (SELECT 1 UNION SELECT 2) AS t"));
    }
  }

  // useBulkStmts: one COM_STMT_BULK_EXECUTE for the whole batch where the server offers
  // MARIADB_CLIENT_STMT_BULK_OPERATIONS, else one INSERT per row (Com_insert counts them).
  static Map<String, Object> bulk() throws SQLException {
    String table = "drv_" + tag + "_bulk";
    try (Connection conn = connect("&useBulkStmts=true&rewriteBatchedStatements=false");
        Statement st = conn.createStatement()) {
      st.execute("DROP TABLE IF EXISTS " + table);
      st.execute("CREATE TABLE " + table + " (id INT PRIMARY KEY, name VARCHAR(20))");
      long before = status(conn, "Com_insert");
      try (PreparedStatement ps = conn.prepareStatement("INSERT INTO " + table + " (id, name) VALUES (?, ?)")) {
        for (int i = 1; i <= kBulkRows; i++) {
          ps.setInt(1, i);
          ps.setString(2, "name_" + i);
          ps.addBatch();
        }
        ps.executeBatch();
      }
      long statements = status(conn, "Com_insert") - before;
      try (ResultSet rs = st.executeQuery("SELECT COUNT(*), SUM(id) FROM " + table)) {
        rs.next();
        return Map.of("count", rs.getLong(1), "sum", rs.getLong(2), "statements", statements);
      }
    }
  }

  static String describe(Exception e) {
    return e instanceof SQLException ? ((SQLException) e).getErrorCode() + ": " + e.getMessage() : e.toString();
  }

  static String sha256(byte[] data) throws Exception {
    StringBuilder hex = new StringBuilder();
    for (byte b : MessageDigest.getInstance("SHA-256").digest(data)) hex.append(String.format("%02x", b));
    return hex.toString();
  }

  // Enough JSON for what the cases report: maps, lists, strings, numbers, booleans, null.
  static String json(Object value) {
    if (value == null) return "null";
    if (value instanceof Number || value instanceof Boolean) return value.toString();
    if (value instanceof Map) {
      StringBuilder out = new StringBuilder("{");
      for (Map.Entry<?, ?> e : ((Map<?, ?>) value).entrySet()) {
        out.append(out.length() > 1 ? ", " : "").append(json(e.getKey().toString())).append(": ").append(json(e.getValue()));
      }
      return out.append("}").toString();
    }
    if (value instanceof List) {
      StringBuilder out = new StringBuilder("[");
      for (Object item : (List<?>) value) out.append(out.length() > 1 ? ", " : "").append(json(item));
      return out.append("]").toString();
    }
    StringBuilder out = new StringBuilder("\"");
    for (char c : value.toString().toCharArray()) {
      if (c == '"' || c == '\\') out.append('\\').append(c);
      else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
      else out.append(c);
    }
    return out.append("\"").toString();
  }
}
