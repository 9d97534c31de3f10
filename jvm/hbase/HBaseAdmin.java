/*
 * Stageline's HBase admin tool: namespaces and tables through the HBase 2 Admin API, because the
 * Node client (hbase-rpc-client) speaks only the ClientService protocol and has no admin calls.
 *
 * Run with the Java 11+ single-file source launcher (no build step):
 *   java -cp <hbase classpath>:<conf dir> jvm/hbase/HBaseAdmin.java '<json spec>'
 *   java -cp ... jvm/hbase/HBaseAdmin.java -          (spec on stdin)
 *
 * A JVM launch plus compiling this file costs seconds, so one spec lists every operation:
 *   {"timeoutMs": 60000,
 *    "ops": [
 *      {"op": "ensureNamespace", "ns": "stageline"},
 *      {"op": "ensureTable", "name": "stageline:events", "families": ["d"], "splits": ["40", "80"], "ttlSeconds": 7776000},
 *      {"op": "dropNamespace", "ns": "test_x"},
 *      {"op": "listTables", "ns": "stageline"},
 *      {"op": "listNamespaces"},
 *      {"op": "listRegions", "name": "stageline:events"},
 *      {"op": "split", "name": "stageline:events", "at": "60"},
 *      {"op": "regions", "name": "stageline:events"},
 *      {"op": "splitAll", "name": "stageline:events"},
 *      {"op": "move", "region": "<encoded name>", "server": "127.0.0.1:16030"},
 *      {"op": "moveAll", "name": "stageline:events"},
 *      {"op": "unassign", "name": "stageline:events", "region": "<encoded name>"},
 *      {"op": "assign", "name": "stageline:events", "region": "<encoded name>"},
 *      {"op": "flush", "name": "stageline:events"},
 *      {"op": "balancer", "on": false},
 *      {"op": "stopRegionServer", "server": "127.0.0.1:16030"}]}
 * The region operations (regions … stopRegionServer) exist for the region-motion tests and for an
 * operator: they put a table's regions in motion while clients read and write it.
 *   java -cp ... stack/hbase/HBaseAdmin.java --session '{"timeoutMs": 60000}'   (one op per stdin line)
 * Split keys are hex so binary keys survive JSON. Operations run in order; the first failure stops
 * the run. stdout gets one JSON line per operation; on failure the last stdout line is
 * {"ok":false,...} and the exit status is 1 (2 for a malformed spec).
 */

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.Future;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hbase.HBaseConfiguration;
import org.apache.hadoop.hbase.HConstants;
import org.apache.hadoop.hbase.NamespaceDescriptor;
import org.apache.hadoop.hbase.NamespaceExistException;
import org.apache.hadoop.hbase.HRegionLocation;
import org.apache.hadoop.hbase.NamespaceNotFoundException;
import org.apache.hadoop.hbase.ServerName;
import org.apache.hadoop.hbase.TableExistsException;
import org.apache.hadoop.hbase.TableName;
import org.apache.hadoop.hbase.client.Admin;
import org.apache.hadoop.hbase.client.ColumnFamilyDescriptor;
import org.apache.hadoop.hbase.client.ColumnFamilyDescriptorBuilder;
import org.apache.hadoop.hbase.client.Connection;
import org.apache.hadoop.hbase.client.RegionInfo;
import org.apache.hadoop.hbase.client.ConnectionFactory;
import org.apache.hadoop.hbase.client.RegionLocator;
import org.apache.hadoop.hbase.client.Result;
import org.apache.hadoop.hbase.client.ResultScanner;
import org.apache.hadoop.hbase.client.Scan;
import org.apache.hadoop.hbase.client.Table;
import org.apache.hadoop.hbase.filter.FirstKeyOnlyFilter;
import org.apache.hadoop.hbase.client.TableDescriptorBuilder;
import org.apache.hbase.thirdparty.com.google.gson.JsonArray;
import org.apache.hbase.thirdparty.com.google.gson.JsonElement;
import org.apache.hbase.thirdparty.com.google.gson.JsonObject;
import org.apache.hbase.thirdparty.com.google.gson.JsonParser;

public class HBaseAdmin {
  public static void main(String[] args) throws Exception {
    if (args.length > 0 && args[0].equals("--session")) {
      session(args.length > 1 ? args[1] : "{}");
      return;
    }
    JsonObject spec;
    try {
      String text = args.length == 0 || args[0].equals("-") ? readStdin() : args[0];
      spec = JsonParser.parseString(text).getAsJsonObject();
    } catch (RuntimeException | IOException e) {
      System.out.println(error("spec", "malformed spec: " + e.getMessage()));
      System.exit(2);
      return;
    }
    Configuration conf = configure(spec);
    JsonArray ops = spec.has("ops") ? spec.getAsJsonArray("ops") : new JsonArray();
    long t0 = System.nanoTime();
    try (Connection conn = ConnectionFactory.createConnection(conf); Admin admin = conn.getAdmin()) {
      for (JsonElement el : ops) {
        JsonObject op = el.getAsJsonObject();
        String kind = op.get("op").getAsString();
        try {
          String outcome = run(conn, admin, kind, op);
          JsonObject res = new JsonObject();
          res.addProperty("ok", true);
          res.addProperty("op", kind);
          res.addProperty("outcome", outcome);
          System.out.println(res);
        } catch (Exception e) {
          System.out.println(error(kind, e.getClass().getName() + ": " + e.getMessage()));
          System.out.flush();
          System.exit(1);
        }
      }
    } catch (IOException e) {
      System.out.println(error("connect", e.getClass().getName() + ": " + e.getMessage()));
      System.out.flush();
      System.exit(1);
    }
    System.err.printf("HBaseAdmin: %d ops in %d ms%n", ops.size(), (System.nanoTime() - t0) / 1_000_000);
    System.out.flush();
    // HBase client threads (ZooKeeper, netty) can linger past close(): exit explicitly.
    System.exit(0);
  }

  static Configuration configure(JsonObject spec) {
    Configuration conf = HBaseConfiguration.create();
    if (spec.has("timeoutMs")) {
      // The client's defaults retry for minutes; a caller polling for readiness wants a bound.
      long timeoutMs = spec.get("timeoutMs").getAsLong();
      conf.setLong("hbase.client.operation.timeout", timeoutMs);
      conf.setLong("hbase.rpc.timeout", Math.min(timeoutMs, 60_000L));
      conf.setInt("zookeeper.recovery.retry", 1);
      conf.setInt("hbase.client.retries.number", Math.max(3, (int) (timeoutMs / 1000)));
    }
    return conf;
  }

  /**
   * Session mode: connect once, print {"ok":true,"op":"session"}, then run one op per stdin line
   * (a JSON object), one result line each; a failed op is reported and the session goes on; EOF
   * ends it. Tests put regions in motion at an exact moment this way, without a JVM start first.
   */
  static void session(String specText) throws Exception {
    Configuration conf = configure(JsonParser.parseString(specText).getAsJsonObject());
    try (Connection conn = ConnectionFactory.createConnection(conf); Admin admin = conn.getAdmin();
         BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
      JsonObject ready = new JsonObject();
      ready.addProperty("ok", true);
      ready.addProperty("op", "session");
      ready.addProperty("outcome", "connected");
      System.out.println(ready);
      System.out.flush();
      for (String line; (line = in.readLine()) != null; ) {
        if (line.isBlank()) continue;
        String kind = "?";
        try {
          JsonObject op = JsonParser.parseString(line).getAsJsonObject();
          kind = op.get("op").getAsString();
          JsonObject res = new JsonObject();
          res.addProperty("ok", true);
          res.addProperty("op", kind);
          res.addProperty("outcome", run(conn, admin, kind, op));
          System.out.println(res);
        } catch (Exception e) {
          System.out.println(error(kind, e.getClass().getName() + ": " + e.getMessage()));
        }
        System.out.flush();
      }
    }
    System.exit(0);
  }

  static String run(Connection conn, Admin admin, String kind, JsonObject op) throws IOException {
    switch (kind) {
      case "ensureNamespace": {
        String ns = op.get("ns").getAsString();
        try {
          admin.createNamespace(NamespaceDescriptor.create(ns).build());
          return "created";
        } catch (NamespaceExistException e) {
          return "exists";
        }
      }
      case "ensureTable": {
        TableName name = TableName.valueOf(op.get("name").getAsString());
        // A time to live in seconds for every family (HBase drops older cells at compaction);
        // without one, cells live forever.
        int ttl = op.has("ttlSeconds") ? op.get("ttlSeconds").getAsInt() : HConstants.FOREVER;
        if (admin.tableExists(name)) {
          // Existing tables keep their families ("ensure", not "migrate"); only the TTL follows the
          // configuration, so changing STAGELINE_SESSIONS_TTL_DAYS and provisioning again applies it.
          if (!op.has("ttlSeconds")) return "exists";
          boolean changed = false;
          for (ColumnFamilyDescriptor cf : admin.getDescriptor(name).getColumnFamilies()) {
            if (cf.getTimeToLive() == ttl) continue;
            admin.modifyColumnFamily(name, ColumnFamilyDescriptorBuilder.newBuilder(cf).setTimeToLive(ttl).build());
            changed = true;
          }
          return changed ? "ttl-set" : "exists";
        }
        TableDescriptorBuilder td = TableDescriptorBuilder.newBuilder(name);
        for (JsonElement f : op.getAsJsonArray("families")) {
          td.setColumnFamily(ColumnFamilyDescriptorBuilder.newBuilder(f.getAsString().getBytes(StandardCharsets.UTF_8))
              .setMaxVersions(1)
              .setTimeToLive(ttl)
              .build());
        }
        List<byte[]> splits = new ArrayList<>();
        if (op.has("splits")) {
          for (JsonElement s : op.getAsJsonArray("splits")) splits.add(HexFormat.of().parseHex(s.getAsString()));
        }
        try {
          // createTable blocks until every region is assigned, so callers can use the table at once.
          if (splits.isEmpty()) admin.createTable(td.build());
          else admin.createTable(td.build(), splits.toArray(new byte[0][]));
          return "created";
        } catch (TableExistsException e) {
          return "exists"; // a concurrent creator won the race
        }
      }
      case "dropNamespace": {
        String ns = op.get("ns").getAsString();
        TableName[] tables;
        try {
          tables = admin.listTableNamesByNamespace(ns);
        } catch (NamespaceNotFoundException e) {
          return "absent";
        }
        for (TableName t : tables) {
          if (admin.isTableEnabled(t)) admin.disableTable(t);
          admin.deleteTable(t);
        }
        admin.deleteNamespace(ns);
        return "dropped " + tables.length + " tables";
      }
      case "listTables": {
        StringBuilder sb = new StringBuilder();
        for (TableName t : admin.listTableNamesByNamespace(op.get("ns").getAsString())) {
          if (sb.length() > 0) sb.append(',');
          sb.append(t.getNameAsString());
        }
        return sb.toString();
      }
      case "listNamespaces": {
        List<String> names = new ArrayList<>();
        for (NamespaceDescriptor d : admin.listNamespaceDescriptors()) names.add(d.getName());
        return String.join(",", names);
      }
      case "describeTable": {
        // Each family with its time to live in seconds ("FOREVER" when none): `family:ttl,...`.
        List<String> out = new ArrayList<>();
        for (ColumnFamilyDescriptor cf : admin.getDescriptor(TableName.valueOf(op.get("name").getAsString())).getColumnFamilies()) {
          out.add(cf.getNameAsString() + ":" + (cf.getTimeToLive() == HConstants.FOREVER ? "FOREVER" : String.valueOf(cf.getTimeToLive())));
        }
        return String.join(",", out);
      }
      case "listRegions": {
        // Start keys (hex) of the table's regions, in order; for tests and diagnostics.
        List<String> starts = new ArrayList<>();
        for (RegionInfo r : admin.getRegions(TableName.valueOf(op.get("name").getAsString()))) {
          starts.add(HexFormat.of().formatHex(r.getStartKey()));
        }
        return String.join(",", starts);
      }
      case "split": {
        // Splits the region holding `at` there and waits for the procedure (daughters online):
        // lets tests make a client's cached region locations stale on purpose.
        TableName name = TableName.valueOf(op.get("name").getAsString());
        byte[] at = HexFormat.of().parseHex(op.get("at").getAsString());
        for (RegionInfo r : admin.getRegions(name)) {
          if (r.containsRow(at)) {
            try {
              admin.splitRegionAsync(r.getRegionName(), at).get(120, TimeUnit.SECONDS);
            } catch (InterruptedException | ExecutionException | TimeoutException e) {
              throw new IOException("split failed: " + e, e);
            }
            return "split " + r.getEncodedName();
          }
        }
        throw new IllegalArgumentException("no region of " + name + " holds the split point");
      }
      case "regions": {
        // JSON array of {encoded, start, end (hex), server host:port}: where each region is now.
        JsonArray out = new JsonArray();
        for (HRegionLocation loc : locations(conn, tableOf(op))) {
          JsonObject r = new JsonObject();
          r.addProperty("encoded", loc.getRegion().getEncodedName());
          r.addProperty("start", HexFormat.of().formatHex(loc.getRegion().getStartKey()));
          r.addProperty("end", HexFormat.of().formatHex(loc.getRegion().getEndKey()));
          r.addProperty("server", loc.getServerName() == null ? "" : loc.getServerName().getAddress().toString());
          out.add(r);
        }
        return out.toString();
      }
      case "flush": {
        admin.flush(tableOf(op));
        return "flushed";
      }
      case "splitAll": {
        // Every region holding two rows or more split at its median row. The median is read with
        // a keys-only scan: the region server's own mid key needs store files big enough to have
        // one ("Region not splittable because bestSplitPoint = null" for small regions).
        TableName name = tableOf(op);
        List<Future<Void>> splits = new ArrayList<>();
        List<String> skipped = new ArrayList<>();
        try (Table table = conn.getTable(name)) {
          for (RegionInfo r : admin.getRegions(name)) {
            byte[] mid = medianRow(table, r);
            if (mid == null) {
              skipped.add(r.getEncodedName() + ": fewer than 2 rows");
              continue;
            }
            try {
              splits.add(admin.splitRegionAsync(r.getRegionName(), mid));
            } catch (IOException e) {
              skipped.add(r.getEncodedName() + ": " + e.getMessage().split("\n", 2)[0]);
            }
          }
        }
        int done = 0;
        for (Future<Void> f : splits) {
          try {
            f.get(120, TimeUnit.SECONDS);
            done++;
          } catch (InterruptedException | TimeoutException e) {
            throw new IOException("split failed: " + e, e);
          } catch (ExecutionException e) {
            skipped.add(String.valueOf(e.getCause()).split("\n", 2)[0]);
          }
        }
        return "split " + done + " regions" + (skipped.isEmpty() ? "" : "; not split: " + String.join("; ", skipped)) + "; now " + admin.getRegions(name).size();
      }
      case "move": {
        // To the named server, or (no server) to any other live one. Blocks until the region is
        // open at its destination.
        byte[] encoded = op.get("region").getAsString().getBytes(StandardCharsets.UTF_8);
        if (op.has("server")) admin.move(encoded, serverNamed(admin, op.get("server").getAsString()));
        else admin.move(encoded);
        return "moved";
      }
      case "moveAll": {
        // Every region of the table to a live server other than its current one (round robin).
        List<ServerName> servers = new ArrayList<>(admin.getRegionServers());
        servers.sort(null);
        if (servers.size() < 2) throw new IllegalStateException("moveAll needs two live region servers, have " + servers.size());
        int moved = 0;
        int k = 0;
        for (HRegionLocation loc : locations(conn, tableOf(op))) {
          ServerName dest = servers.get(k++ % servers.size());
          if (dest.equals(loc.getServerName())) dest = servers.get(k++ % servers.size());
          admin.move(loc.getRegion().getEncodedNameAsBytes(), dest);
          moved++;
        }
        return "moved " + moved + " regions";
      }
      case "unassign": {
        admin.unassign(regionNameOf(admin, op));
        return "unassigned";
      }
      case "assign": {
        admin.assign(regionNameOf(admin, op));
        return "assigned";
      }
      case "balancer": {
        boolean was = admin.balancerSwitch(op.get("on").getAsBoolean(), true);
        return "balancer was " + (was ? "on" : "off");
      }
      case "stopRegionServer": {
        admin.stopRegionServer(op.get("server").getAsString());
        return "stop requested";
      }
      default:
        throw new IllegalArgumentException("unknown op " + kind);
    }
  }

  /** The row in the middle of the region (null when it holds fewer than two rows). */
  static byte[] medianRow(Table table, RegionInfo r) throws IOException {
    List<byte[]> keys = new ArrayList<>();
    Scan scan = new Scan().withStartRow(r.getStartKey()).withStopRow(r.getEndKey()).setFilter(new FirstKeyOnlyFilter()).setCaching(5000);
    try (ResultScanner rs = table.getScanner(scan)) {
      for (Result res : rs) keys.add(res.getRow());
    }
    return keys.size() < 2 ? null : keys.get(keys.size() / 2);
  }

  static TableName tableOf(JsonObject op) {
    return TableName.valueOf(op.get("name").getAsString());
  }

  static List<HRegionLocation> locations(Connection conn, TableName name) throws IOException {
    try (RegionLocator locator = conn.getRegionLocator(name)) {
      // reload: the tool may run right after a split or move; a cached location would be stale.
      return locator.getAllRegionLocations();
    }
  }

  /** A live server by "host:port" (its start code looked up), as move() needs. */
  static ServerName serverNamed(Admin admin, String hostPort) throws IOException {
    Collection<ServerName> live = admin.getRegionServers();
    for (ServerName sn : live) {
      if (sn.getAddress().toString().equals(hostPort)) return sn;
    }
    throw new IllegalArgumentException("no live region server " + hostPort + " (live: " + live + ")");
  }

  /** The full region name of the region whose encoded name is op.region, looked up in the table op.name. */
  static byte[] regionNameOf(Admin admin, JsonObject op) throws IOException {
    String encoded = op.get("region").getAsString();
    for (RegionInfo r : admin.getRegions(tableOf(op))) {
      if (r.getEncodedName().equals(encoded)) return r.getRegionName();
    }
    throw new IllegalArgumentException("no region " + encoded + " in " + tableOf(op));
  }

  static String error(String op, String message) {
    JsonObject res = new JsonObject();
    res.addProperty("ok", false);
    res.addProperty("op", op);
    res.addProperty("error", message);
    return res.toString();
  }

  static String readStdin() throws IOException {
    try (InputStream in = System.in) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
