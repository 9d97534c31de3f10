/*
 * Stageline's standalone HBase with several region servers in one JVM, for the local stack when
 * STAGELINE_HBASE_REGION_SERVERS > 1 or when HBase must be reachable from other hosts.
 *
 * It is what `HMaster start --localRegionServers=N` does (a LocalHBaseCluster: one master and N
 * region server threads in the master's JVM, data on the local filesystem), with three changes
 * that stock local mode cannot give:
 *  - Every region server gets its own fixed port (args). Stock local mode binds all of them to
 *    hbase.regionserver.port: the second one fails with "bind(..) failed: Address already in use";
 *    only port 0 (random ports) works there.
 *  - ZooKeeper binds the address named by hbase.zookeeper.property.clientPortAddress. The
 *    in-process ZooKeeper of stock local mode (MiniZooKeeperCluster) binds the loopback address
 *    only, so clients on other hosts cannot reach it.
 *  - A control port (loopback only) stops, aborts and starts region servers: stock local mode can
 *    stop one (Admin.stopRegionServer) but nothing can start it again, so "restart a region
 *    server" was impossible.
 *
 * Run with the Java 11+ single-file source launcher:
 *   java -cp <conf dir>:<hbase classpath> stack/hbase/LocalCluster.java <controlPort> <rsPort>[,<rsPort>...]
 * Control protocol: one command line per TCP connection, one JSON line back:
 *   status | stop <i> | abort <i> | start <i>        (i: 0-based region server index)
 * stop: graceful (regions closed, then reassigned by the master); abort: like a crash (the master
 * runs its server-crash procedure, splitting the WAL); start: a new server on the same port.
 */

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hbase.HBaseConfiguration;
import org.apache.hadoop.hbase.LocalHBaseCluster;
import org.apache.hadoop.hbase.master.HMaster;
import org.apache.hadoop.hbase.regionserver.HRegionServer;
import org.apache.hadoop.hbase.util.JVMClusterUtil.RegionServerThread;
import org.apache.hadoop.metrics2.lib.DefaultMetricsSystem;
import org.apache.zookeeper.server.ServerCnxnFactory;
import org.apache.zookeeper.server.ZooKeeperServer;

public class LocalCluster {
  static LocalHBaseCluster cluster;
  static Configuration conf;
  static int[] ports;
  /** The live thread of each region server slot, null while stopped. */
  static RegionServerThread[] slots;

  public static void main(String[] args) throws Exception {
    int controlPort = Integer.parseInt(args[0]);
    String[] p = args[1].split(",");
    ports = new int[p.length];
    for (int i = 0; i < p.length; i++) ports[i] = Integer.parseInt(p[i].trim());
    slots = new RegionServerThread[ports.length];
    conf = HBaseConfiguration.create();
    // Several servers in one JVM register the same metrics sources: stock local mode sets this too.
    DefaultMetricsSystem.setMiniClusterMode(true);

    ServerCnxnFactory zk = startZooKeeper(conf);
    cluster = new LocalHBaseCluster(conf, 1, 0, HMaster.class, HRegionServer.class);
    for (int i = 0; i < ports.length; i++) slots[i] = cluster.addRegionServer(serverConf(i), i);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      // SIGTERM (stack down): close regions and flush like `HMaster stop`, then ZooKeeper.
      System.err.println("LocalCluster: shutting down");
      cluster.shutdown();
      cluster.join();
      zk.shutdown();
    }));
    cluster.startup();
    Thread control = new Thread(() -> serveControl(controlPort), "stageline-control");
    control.setDaemon(true);
    control.start();
    System.err.println("LocalCluster: master and " + ports.length + " region servers started; control on 127.0.0.1:" + controlPort);
    // Stay up while the master runs (region servers may come and go).
    cluster.getMasters().get(0).join();
    System.exit(0);
  }

  static Configuration serverConf(int i) {
    Configuration c = new Configuration(conf);
    c.setInt("hbase.regionserver.port", ports[i]);
    return c;
  }

  static ServerCnxnFactory startZooKeeper(Configuration conf) throws Exception {
    String host = conf.get("hbase.zookeeper.property.clientPortAddress", "127.0.0.1");
    int port = conf.getInt("hbase.zookeeper.property.clientPort", 2181);
    int tick = conf.getInt("hbase.zookeeper.property.tickTime", 2000);
    File dir = new File(conf.get("hbase.zookeeper.property.dataDir"));
    dir.mkdirs();
    ZooKeeperServer server = new ZooKeeperServer(dir, dir, tick);
    ServerCnxnFactory factory = ServerCnxnFactory.createFactory(new InetSocketAddress(host, port), 300);
    factory.startup(server);
    System.err.println("LocalCluster: ZooKeeper on " + host + ":" + port);
    return factory;
  }

  static void serveControl(int port) {
    try (ServerSocket ss = new ServerSocket(port, 10, InetAddress.getLoopbackAddress())) {
      for (;;) {
        try (Socket s = ss.accept()) {
          BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
          String line = in.readLine();
          String reply;
          try {
            reply = handle(line == null ? "" : line.trim());
          } catch (Exception e) {
            reply = "{\"ok\":false,\"error\":" + quote(e.toString()) + "}";
          }
          OutputStream out = s.getOutputStream();
          out.write((reply + "\n").getBytes(StandardCharsets.UTF_8));
          out.flush();
        } catch (Exception e) {
          System.err.println("LocalCluster: control connection failed: " + e);
        }
      }
    } catch (Exception e) {
      System.err.println("LocalCluster: control port " + port + " unavailable: " + e);
    }
  }

  static synchronized String handle(String line) throws Exception {
    String[] w = line.split("\\s+");
    if (w[0].equals("status")) return "{\"ok\":true,\"servers\":" + status() + "}";
    if (w.length != 2) throw new IllegalArgumentException("usage: status | stop <i> | abort <i> | start <i>");
    int i = Integer.parseInt(w[1]);
    if (i < 0 || i >= ports.length) throw new IllegalArgumentException("no region server slot " + i);
    RegionServerThread t = slots[i];
    switch (w[0]) {
      case "stop":
      case "abort": {
        if (t == null || !t.isAlive()) throw new IllegalStateException("region server " + i + " is not running");
        if (w[0].equals("stop")) t.getRegionServer().stop("stageline: stop requested");
        else t.getRegionServer().abort("stageline: abort requested");
        cluster.waitOnRegionServer(t);
        slots[i] = null;
        return "{\"ok\":true,\"servers\":" + status() + "}";
      }
      case "start": {
        if (t != null && t.isAlive()) throw new IllegalStateException("region server " + i + " is running");
        RegionServerThread n = cluster.addRegionServer(serverConf(i), i);
        n.start();
        n.waitForServerOnline();
        slots[i] = n;
        return "{\"ok\":true,\"servers\":" + status() + "}";
      }
      default:
        throw new IllegalArgumentException("unknown command " + w[0]);
    }
  }

  static String status() {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < ports.length; i++) {
      RegionServerThread t = slots[i];
      String state = t == null || !t.isAlive() ? "stopped" : t.getRegionServer().isOnline() ? "online" : "starting";
      String name = t == null ? "" : String.valueOf(t.getRegionServer().getServerName());
      out.add("{\"index\":" + i + ",\"port\":" + ports[i] + ",\"state\":\"" + state + "\",\"name\":" + quote(name) + "}");
    }
    return "[" + String.join(",", out) + "]";
  }

  static String quote(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
  }
}
