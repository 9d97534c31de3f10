/**
 * HBase 2.6 standalone (HMaster + one regionserver + ZooKeeper in one JVM, data on the local
 * filesystem) from Maven jars: no tarball, no bin/hbase. Jars come from stack/hbase/pom.xml through
 * the shared Maven cache; hbase-site.xml is written into `<stackDir>/hbase/conf` on every start.
 *
 * With several region servers, or a host other than loopback, the JVM runs
 * stack/hbase/LocalCluster.java instead of `HMaster start`: the same LocalHBaseCluster (master and
 * region server threads in one process), but each region server on its own port
 * (regionServerPort + 10·i), ZooKeeper bound to `host`, and a loopback control port
 * (masterPort + 90) to stop, abort and start region servers (see regionServerControl).
 */
import { createConnection } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHBaseAdmin, HBASE_JDK17_FLAGS } from '../adapters/hbase-admin.js';
import { createHBaseClient } from '../adapters/hbase.js';
import { StagelineError, errorMessage } from '../errors.js';
import { silentLogger } from '../log.js';
import { projectPath } from '../paths.js';
import { classpathOf, ensureMavenJars, javaBin, readPid, serviceDirs, spawnDaemon, stopPid, waitReady, type ServiceStatus } from './common.js';

export interface HBaseStackOptions {
  stackDir: string;
  cacheDir: string;
  /** @defaultValue 2181 */
  zkPort: number;
  /** @defaultValue 16000 */
  masterPort: number;
  /** @defaultValue 16020 */
  regionServerPort: number;
  /** @defaultValue 1024 */
  heapMb: number;
  javaHome?: string;
  startTimeoutMs: number;
  /** Region servers in the JVM. @defaultValue 1 */
  regionServers?: number;
  /** Address every server binds to and registers under (ZooKeeper, master, region servers). @defaultValue 127.0.0.1 */
  host?: string;
  /** More hbase-site.xml properties (tests: e.g. a short scanner lease); they win over the defaults. */
  site?: Readonly<Record<string, string>>;
}

const LOOPBACK = '127.0.0.1';
const hostOf = (o: Pick<HBaseStackOptions, 'host'>): string => o.host ?? LOOPBACK;
const serverCount = (o: Pick<HBaseStackOptions, 'regionServers'>): number => Math.max(1, o.regionServers ?? 1);

/** Port of the i-th region server: the configured one, then every 10 ports up (26020, 26030, …). */
export function regionServerPorts(o: Pick<HBaseStackOptions, 'regionServerPort' | 'regionServers'>): number[] {
  return Array.from({ length: serverCount(o) }, (_, i) => o.regionServerPort + 10 * i);
}

/** The LocalCluster control port (loopback only). */
export function controlPort(o: Pick<HBaseStackOptions, 'masterPort'>): number {
  return o.masterPort + 90;
}

/** Stock `HMaster start` serves one region server on loopback; anything else needs LocalCluster.java. */
export function usesLocalCluster(o: Pick<HBaseStackOptions, 'regionServers' | 'host'>): boolean {
  return serverCount(o) > 1 || hostOf(o) !== LOOPBACK;
}

/** The table the readiness check creates and reads; kept small and out of the project's namespaces. */
export const HBASE_PROBE_TABLE = 'stageline_probe';

const NAME = 'hbase';

export function hbaseDirs(o: Pick<HBaseStackOptions, 'stackDir'>): ReturnType<typeof serviceDirs> {
  return serviceDirs(o.stackDir, NAME);
}

/** HBase's runtime jars (fetched through Maven on first use), for the admin tool and HMaster. */
export function hbaseClasspath(o: Pick<HBaseStackOptions, 'cacheDir'>, log: (m: string) => void = () => undefined): string {
  return classpathOf(ensureMavenJars(NAME, projectPath('jvm', 'hbase', 'pom.xml'), o.cacheDir, log));
}

export function siteXml(o: HBaseStackOptions, dataDir: string): string {
  const host = hostOf(o);
  const n = serverCount(o);
  // Memory fractions are of the one heap all region servers share.
  const share = (f: number): string => String(Math.round((f / n) * 1000) / 1000);
  const props: Array<[string, string, string]> = [
    ['hbase.cluster.distributed', 'false', 'standalone: master, regionserver and ZooKeeper in one JVM'],
    ['hbase.rootdir', `file://${join(dataDir, 'root')}`, 'local filesystem, no HDFS'],
    ['hbase.tmp.dir', join(dataDir, 'tmp'), ''],
    ['hbase.zookeeper.quorum', host, ''],
    ['hbase.zookeeper.property.clientPort', String(o.zkPort), ''],
    ['hbase.zookeeper.property.clientPortAddress', host, 'read by LocalCluster.java (stock local mode binds loopback)'],
    ['hbase.zookeeper.property.dataDir', join(dataDir, 'zk'), ''],
    ['hbase.master.port', String(o.masterPort), ''],
    ['hbase.regionserver.port', String(o.regionServerPort), ''],
    ['hbase.unsafe.stream.capability.enforce', 'false', 'the local filesystem has no hflush/hsync capability flags'],
    ['hbase.master.info.port', '-1', 'no web UI: hbase-webapps is not on a Maven classpath'],
    ['hbase.regionserver.info.port', '-1', ''],
    // Servers register (in ZooKeeper and hbase:meta) under these names and clients connect to
    // them: pin them to the configured address (loopback by default) so a hostname resolving to
    // some other address cannot break the Node client. (Here `vm` resolves to 127.0.0.1 anyway.)
    ['hbase.master.hostname', host, 'name the master registers under'],
    ['hbase.unsafe.regionserver.hostname', host, 'name the regionserver registers under (2.4+ key)'],
    ['hbase.master.ipc.address', host, 'bind address'],
    ['hbase.regionserver.ipc.address', host, 'bind address'],
    // Memory on a small heap (1 GiB by default) shared by master, regionserver and ZooKeeper:
    // with the defaults (memstore 0.4 + block cache 0.4, call queue up to 1 GiB) a burst of
    // multi-puts on a busy 2-core machine drove the heap to 98 %, the in-process ZooKeeper session
    // expired and the regionserver aborted on OutOfMemoryError. Smaller fractions, a bounded call
    // queue (excess load is refused with the retryable CallQueueTooBigException) and fewer
    // handlers keep it inside the heap.
    ['hbase.regionserver.global.memstore.size', share(0.3), 'fraction of heap for memstores (default 0.4), per region server'],
    ['hfile.block.cache.size', share(0.2), 'fraction of heap for the block cache (default 0.4), per region server'],
    ['hbase.ipc.server.max.callqueue.size', String(64 * 1024 * 1024), 'bytes of queued requests (default 1 GiB)'],
    ['hbase.regionserver.handler.count', '16', 'default 30'],
    // GC pauses under CPU contention must not expire the master's own ZooKeeper session (that
    // aborts the master): the in-process ZooKeeper grants up to 20 ticks.
    ['zookeeper.session.timeout', '90000', ''],
    ['hbase.zookeeper.property.tickTime', '6000', ''],
    // All region servers are in-process: wait for exactly them before assigning regions.
    ['hbase.master.wait.on.regionservers.mintostart', String(n), ''],
    ['hbase.master.wait.on.regionservers.maxtostart', String(n), ''],
    ['hbase.master.wait.on.regionservers.timeout', '1000', ''],
  ];
  for (const [k, v] of Object.entries(o.site ?? {})) {
    const i = props.findIndex(([name]) => name === k);
    if (i >= 0) props.splice(i, 1);
    props.push([k, v, 'set by the caller (HBaseStackOptions.site)']);
  }
  const body = props
    .map(([k, v, why]) => `  <property>${why ? `<!-- ${why} -->` : ''}<name>${k}</name><value>${v}</value></property>`)
    .join('\n');
  return `<?xml version="1.0"?>\n<!-- Written by src/stack/hbase.ts on every start: edit that file, not this one. -->\n<configuration>\n${body}\n</configuration>\n`;
}

function portOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port });
    const done = (ok: boolean): void => { s.destroy(); resolve(ok); };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

async function portsOpen(o: HBaseStackOptions): Promise<boolean> {
  const open = await Promise.all([o.zkPort, o.masterPort, ...regionServerPorts(o)].map((p) => portOpen(hostOf(o), p)));
  return open.every(Boolean);
}

/** The Node client can write and read the probe table: regions assigned, meta readable. */
async function clientServes(o: HBaseStackOptions): Promise<boolean> {
  const client = createHBaseClient({ zkQuorum: `${hostOf(o)}:${o.zkPort}`, rpcTimeoutMs: 5000, attempts: 2 }, silentLogger);
  try {
    const key = Buffer.from('probe');
    await client.put(HBASE_PROBE_TABLE, { key, cells: [{ family: 'p', qualifier: Buffer.from('t'), value: Buffer.from(String(Date.now())) }] });
    return (await client.get(HBASE_PROBE_TABLE, key)) !== undefined;
  } catch {
    return false;
  } finally {
    await client.close();
  }
}

/**
 * Ready = the admin tool can create the probe table (master initialised, regions assignable) AND
 * the Node client serves a Get on it. The admin launch is slow, so it runs once the ports listen
 * and is skipped after its first success.
 */
async function waitHBaseReady(o: HBaseStackOptions, pid: number | undefined, logFile: string, timeoutMs: number, log: (m: string) => void): Promise<void> {
  const dirs = hbaseDirs(o);
  const deadline = Date.now() + timeoutMs;
  let tableReady = false;
  await waitReady('HBase', async () => {
    if (!(await portsOpen(o))) return false;
    if (!tableReady) {
      const admin = createHBaseAdmin({ classpath: hbaseClasspath(o), confDir: dirs.conf, ...(o.javaHome ? { javaHome: o.javaHome } : {}), timeoutMs: Math.max(10_000, deadline - Date.now()) }, silentLogger);
      try {
        await admin.ensureTables([{ name: HBASE_PROBE_TABLE, families: ['p'] }]);
        tableReady = true;
      } catch (err) {
        log(`hbase: probe table not ready yet: ${errorMessage(err).split('\n')[0] ?? ''}`);
        return false;
      }
    }
    return clientServes(o);
  }, { timeoutMs, logFile, intervalMs: 1000, ...(pid !== undefined ? { pid } : {}) });
}

export async function hbaseStatus(o: HBaseStackOptions): Promise<ServiceStatus> {
  const dirs = hbaseDirs(o);
  const pid = readPid(dirs.pidFile);
  const endpoint = `${hostOf(o)}:${o.zkPort}`;
  const open = await portsOpen(o);
  if (pid !== undefined) {
    return open
      ? { name: NAME, state: 'running', endpoint, pid, logFile: dirs.logFile }
      : { name: NAME, state: 'unhealthy', endpoint, pid, logFile: dirs.logFile, detail: 'process alive but ZooKeeper/master/regionserver ports not all listening (starting or failing)' };
  }
  return open
    ? { name: NAME, state: 'external', endpoint, detail: 'ports answer but no pid file of ours: an HBase started elsewhere' }
    : { name: NAME, state: 'stopped', endpoint };
}

/** Idempotent: a running (or external) HBase that passes the readiness check is reused. */
export async function startHBase(o: HBaseStackOptions, log: (m: string) => void): Promise<ServiceStatus & { startedNow: boolean; ms: number }> {
  const t0 = Date.now();
  const dirs = hbaseDirs(o);
  // Written in every case: the admin tool reads the ZooKeeper address from it, also when the
  // HBase found running was started by an earlier `up` or by someone else.
  for (const d of [dirs.conf, dirs.data, join(dirs.data, 'tmp')]) mkdirSync(d, { recursive: true });
  writeFileSync(join(dirs.conf, 'hbase-site.xml'), siteXml(o, dirs.data));
  const existing = await hbaseStatus(o);
  if (existing.state === 'running' || existing.state === 'external' || existing.state === 'unhealthy') {
    // Ours and still starting, ours and up, or someone else's: wait for it rather than start a
    // second one that would fight over the ports.
    log(`hbase: ${existing.state} (pid ${existing.pid ?? '-'}), checking readiness`);
    // The probe table outlives restarts: when the client already serves it, the admin launch
    // (seconds of JVM start) adds nothing.
    if (existing.state !== 'unhealthy' && (await clientServes(o))) return { ...existing, startedNow: false, ms: Date.now() - t0 };
    await waitHBaseReady(o, existing.pid, dirs.logFile, o.startTimeoutMs, log);
    return { ...(await hbaseStatus(o)), startedNow: false, ms: Date.now() - t0 };
  }

  const classpath = hbaseClasspath(o, log);
  const main = usesLocalCluster(o)
    ? [projectPath('jvm', 'hbase', 'LocalCluster.java'), String(controlPort(o)), regionServerPorts(o).join(',')]
    : ['org.apache.hadoop.hbase.master.HMaster', 'start'];
  const args = [
    ...HBASE_JDK17_FLAGS,
    `-Xms${o.heapMb}m`, `-Xmx${o.heapMb}m`,
    '-XX:+UseG1GC',
    `-Dlog4j2.configurationFile=${projectPath('jvm', 'hbase', 'log4j2.properties')}`,
    `-Dhbase.log.dir=${dirs.root}`,
    '-Djava.net.preferIPv4Stack=true',
    '-cp', `${dirs.conf}:${classpath}`,
    ...main,
  ];
  log(usesLocalCluster(o)
    ? `hbase: starting LocalCluster (master + ${serverCount(o)} region servers on ${hostOf(o)}:${regionServerPorts(o).join(',')}), log ${dirs.logFile}`
    : `hbase: starting HMaster (standalone), log ${dirs.logFile}`);
  const pid = spawnDaemon(javaBin(o.javaHome), args, dirs);
  try {
    await waitHBaseReady(o, pid, dirs.logFile, o.startTimeoutMs, log);
  } catch (err) {
    if (err instanceof StagelineError) throw err;
    throw new StagelineError('STACK_START_FAILED', `hbase: ${errorMessage(err)}`, { cause: err });
  }
  const ms = Date.now() - t0;
  log(`hbase: ready in ${ms} ms`);
  return { name: NAME, state: 'running', endpoint: `${hostOf(o)}:${o.zkPort}`, pid, logFile: dirs.logFile, startedNow: true, ms };
}

/** SIGTERM lets HMaster flush and close regions; standalone shutdown takes several seconds. */
export async function stopHBase(o: HBaseStackOptions): Promise<boolean> {
  return stopPid(hbaseDirs(o).pidFile, 60_000);
}

export interface RegionServerSlot {
  index: number;
  port: number;
  state: 'online' | 'starting' | 'stopped';
  /** host,port,startcode while running */
  name: string;
}

export interface RegionServerControl {
  status(): Promise<RegionServerSlot[]>;
  /** Graceful: the server closes its regions; the master reassigns them to the others. */
  stop(index: number): Promise<RegionServerSlot[]>;
  /** Like a crash: the master's server-crash procedure splits the WAL and reassigns. */
  abort(index: number): Promise<RegionServerSlot[]>;
  /** A new server in the slot (same port); resolves once it is online. */
  start(index: number): Promise<RegionServerSlot[]>;
}

/** The region servers of a LocalCluster stack (usesLocalCluster): one command per connection. */
export function regionServerControl(o: Pick<HBaseStackOptions, 'masterPort'>, timeoutMs = 180_000): RegionServerControl {
  const send = (line: string): Promise<RegionServerSlot[]> => new Promise((resolve, reject) => {
    const sock = createConnection({ host: LOOPBACK, port: controlPort(o) });
    let buf = '';
    sock.setTimeout(timeoutMs, () => { sock.destroy(); reject(new StagelineError('TIMEOUT', `hbase control "${line}": no answer within ${timeoutMs} ms`)); });
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => { buf += d; });
    sock.once('error', (e) => reject(new StagelineError('HBASE_UNAVAILABLE', `hbase control "${line}": ${e.message}`, { retryable: true, cause: e })));
    sock.once('end', () => {
      try {
        const res = JSON.parse(buf) as { ok: boolean; error?: string; servers?: RegionServerSlot[] };
        if (!res.ok) reject(new StagelineError('HBASE_ERROR', `hbase control "${line}": ${res.error ?? 'failed'}`));
        else resolve(res.servers ?? []);
      } catch {
        reject(new StagelineError('HBASE_ERROR', `hbase control "${line}": unreadable answer ${JSON.stringify(buf.slice(0, 200))}`));
      }
    });
    sock.write(`${line}\n`);
  });
  return {
    status: () => send('status'),
    stop: (i) => send(`stop ${i}`),
    abort: (i) => send(`abort ${i}`),
    start: (i) => send(`start ${i}`),
  };
}
