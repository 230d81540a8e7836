// MariaDB Connector/J (Debian's libmariadb-java) with server-side prepared statements
// (useServerPrepStmts=true), for tests/integration/test_pool_mode_transaction_stmts.py: three
// connections in one process, each with its own statements, executed in turn. Prints one JSON
// object like interleave.php.
//
//   java -cp CLASSES:mariadb-java-client.jar Interleave HOST PORT USER PASSWORD DATABASE ROUNDS

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;

public class Interleave {
  public static void main(String[] args) throws Exception {
    String url = "jdbc:mariadb://" + args[0] + ":" + args[1] + "/" + args[4] + "?useServerPrepStmts=true";
    int rounds = Integer.parseInt(args[5]);
    String[] names = {"a", "b", "c"};
    Connection[] conns = new Connection[3];
    PreparedStatement[] sums = new PreparedStatement[3];
    PreparedStatement[] ids = new PreparedStatement[3];
    List<List<String>> rows = new ArrayList<>();
    List<List<Long>> threadIds = new ArrayList<>();
    for (int i = 0; i < 3; ++i) {
      conns[i] = DriverManager.getConnection(url, args[2], args[3]);
      sums[i] = conns[i].prepareStatement("SELECT CAST(? AS SIGNED) + " + (100 * (i + 1)) + ", ?");
      ids[i] = conns[i].prepareStatement("SELECT CONNECTION_ID()");
      rows.add(new ArrayList<>());
      threadIds.add(new ArrayList<>());
    }
    for (int round = 0; round < rounds; ++round) {
      for (int i = 0; i < 3; ++i) {
        sums[i].setInt(1, round);
        sums[i].setString(2, names[i]);
        try (ResultSet rs = sums[i].executeQuery()) {
          rs.next();
          rows.get(i).add("[\"" + rs.getLong(1) + "\",\"" + rs.getString(2) + "\"]");
        }
        try (ResultSet rs = ids[i].executeQuery()) {
          rs.next();
          threadIds.get(i).add(rs.getLong(1));
        }
      }
    }
    StringBuilder out = new StringBuilder("{");
    for (int i = 0; i < 3; ++i) {
      sums[i].close();
      String again;
      try (PreparedStatement p = conns[i].prepareStatement("SELECT CONCAT(?, '-again')")) {
        p.setString(1, names[i]);
        try (ResultSet rs = p.executeQuery()) {
          rs.next();
          again = rs.getString(1);
        }
      }
      if (i > 0) out.append(',');
      out.append('"').append(names[i]).append("\":{\"rows\":[").append(String.join(",", rows.get(i)))
          .append("],\"ids\":").append(threadIds.get(i)).append(",\"again\":\"").append(again).append("\"}");
      conns[i].close();
    }
    System.out.println(out.append('}'));
  }
}
