/**
 * Namespaces and tables for HBase, through jvm/hbase/HBaseAdmin.java (the HBase 2 Admin API run
 * by the Java 11+ source launcher): hbase-rpc-client has no admin calls. One launch costs a JVM
 * start plus compiling the file (about 4 s here), so `ensure` does a namespace and all its tables
 * in one launch; prefer it over the single-purpose methods.
 */
import { spawn } from 'node:child_process';
import { StagelineError } from '../errors.js';
import type { Logger } from '../log.js';
import { projectPath } from '../paths.js';

export interface TableSpec {
  /** 'ns:table' */
  name: string;
  families: string[];
  /** Pre-split keys (binary-safe: sent hex-encoded). */
  splits?: Buffer[];
  /** Time to live of every family's cells, in seconds (absent: forever); provisioning sets it on an existing table too. */
  ttlSeconds?: number;
}

export interface HBaseAdminPort {
  ensureNamespace(ns: string): Promise<void>;
  /** Creates missing tables (max versions 1); existing tables are left alone. */
  ensureTables(specs: TableSpec[]): Promise<void>;
  /** Disables and deletes every table of `ns`, then `ns`; absent namespaces are fine. */
  dropNamespace(ns: string): Promise<void>;
  /** ensureNamespace + ensureTables in one JVM launch. */
  ensure(ns: string, specs: TableSpec[]): Promise<void>;
}

export interface HBaseAdminOptions {
  /** HBase client jars (see hbaseClasspath in src/stack/hbase.ts). */
  classpath: string;
  /** Directory holding hbase-site.xml (the ZooKeeper quorum comes from there). */
  confDir: string;
  javaHome?: string;
  /** Bounds the HBase operations of one launch (the client's own retries last minutes otherwise). */
  timeoutMs?: number;
}

/** One operation of the admin tool's JSON spec. */
export type AdminOp =
  | { op: 'ensureNamespace'; ns: string }
  | { op: 'ensureTable'; name: string; families: string[]; splits?: string[]; ttlSeconds?: number }
  /** `family:ttlSeconds` (or `family:FOREVER`) per family, comma-separated in `outcome`. */
  | { op: 'describeTable'; name: string }
  | { op: 'dropNamespace'; ns: string }
  | { op: 'listTables'; ns: string }
  | { op: 'listNamespaces' }
  /** Start keys (hex) of the table's regions, comma-separated in `outcome`. */
  | { op: 'listRegions'; name: string }
  /** Splits the region holding `at` (hex) at `at`, waiting until the daughters are online. */
  | { op: 'split'; name: string; at: string }
  /** Where each region is: `outcome` is a JSON array of RegionPlacement. */
  | { op: 'regions'; name: string }
  | { op: 'flush'; name: string }
  /** Splits every region holding two rows or more at its median row; waits for the daughters. */
  | { op: 'splitAll'; name: string }
  /** One region (encoded name) to `server` (host:port), or to any other live server. Blocks until open there. */
  | { op: 'move'; region: string; server?: string }
  /** Every region of the table to a live server other than its current one. */
  | { op: 'moveAll'; name: string }
  | { op: 'unassign'; name: string; region: string }
  | { op: 'assign'; name: string; region: string }
  | { op: 'balancer'; on: boolean }
  /** Graceful stop of a region server (host:port): its regions are reassigned to the others. */
  | { op: 'stopRegionServer'; server: string };

export interface RegionPlacement {
  /** Encoded region name (the hash in the full name). */
  encoded: string;
  /** Hex; '' for the table's first region. */
  start: string;
  /** Hex; '' for the table's last region. */
  end: string;
  /** host:port of the hosting region server. */
  server: string;
}

/**
 * Region operations for tests and operators (the HBase shell's split/move/unassign/assign): they
 * put regions in motion while clients use the table. Each call is one JVM launch (seconds).
 */
export interface HBaseRegionAdmin {
  regions(table: string): Promise<RegionPlacement[]>;
  splitAll(table: string): Promise<string>;
  move(region: string, server?: string): Promise<void>;
  moveAll(table: string): Promise<string>;
  unassign(table: string, region: string): Promise<void>;
  assign(table: string, region: string): Promise<void>;
  balancer(on: boolean): Promise<void>;
  stopRegionServer(server: string): Promise<void>;
}

export interface AdminOpResult { ok: boolean; op: string; outcome?: string; error?: string }

/**
 * What `bin/hbase` adds on JDK 17: HBase and its shaded netty reach into JDK internals. Without
 * them the server logs InaccessibleObjectException and falls back to slower paths (or fails).
 */
export const HBASE_JDK17_FLAGS: readonly string[] = [
  '--add-modules', 'jdk.unsupported',
  ...['java.io', 'java.nio', 'sun.nio.ch', 'java.lang', 'jdk.internal.ref', 'java.lang.reflect', 'java.util', 'java.util.concurrent']
    .flatMap((p) => ['--add-opens', `java.base/${p}=ALL-UNNAMED`]),
  ...['java.base/jdk.internal.misc', 'java.security.jgss/sun.security.krb5', 'java.base/sun.net.dns', 'java.base/sun.net.util']
    .flatMap((p) => ['--add-exports', `${p}=ALL-UNNAMED`]),
  '-Dorg.apache.hbase.thirdparty.io.netty.tryReflectionSetAccessible=true',
];

function javaPath(javaHome: string | undefined): string {
  return javaHome ? `${javaHome}/bin/java` : 'java';
}

// Failures of the tool that mean "HBase not reachable (yet)" rather than "this request is wrong".
const UNAVAILABLE = /ConnectException|Connection refused|RetriesExhausted|SocketTimeout|CallTimeout|TimeoutIOException|MasterNotRunning|PleaseHold|ServerNotRunningYet|ZooKeeperConnection|KeeperException|NoServerForRegion|NotServingRegion|operation timeout|timed out/i;

function adminArgs(o: HBaseAdminOptions, toolArgs: string[]): string[] {
  return [
    ...HBASE_JDK17_FLAGS,
    '-Xmx256m',
    // Short-lived client JVM: skip the JIT tiers that only pay off for long runs.
    '-XX:TieredStopAtLevel=1',
    `-Dlog4j2.configurationFile=${projectPath('jvm', 'hbase', 'log4j2-tool.properties')}`,
    '-cp', `${o.classpath}:${o.confDir}`,
    projectPath('jvm', 'hbase', 'HBaseAdmin.java'),
    ...toolArgs,
  ];
}

/** Runs one launch of the admin tool with all `ops`; resolves with one result per op. */
export async function runAdminOps(o: HBaseAdminOptions, ops: AdminOp[], log: Logger): Promise<AdminOpResult[]> {
  const spec = JSON.stringify({ ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}), ops });
  const args = adminArgs(o, ['-']);
  const started = Date.now();
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(javaPath(o.javaHome), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    child.on('error', (e) => reject(new StagelineError('STACK_MISSING_DEPENDENCY', `cannot run java for the HBase admin tool: ${e.message}`, { cause: e })));
    child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
    child.stdin.end(spec);
  });
  const results: AdminOpResult[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      results.push(JSON.parse(line) as AdminOpResult);
    } catch { /* not a result line */ }
  }
  log.debug({ ops: ops.length, ms: Date.now() - started, results }, 'hbase admin tool ran');
  const failed = results.find((r) => !r.ok);
  if (code !== 0 || failed !== undefined || results.length < ops.length) {
    const why = failed?.error ?? `exit ${code}: ${stderr.split('\n').filter((l) => l.trim() !== '').slice(-10).join('\n')}`;
    const unavailable = code !== 2 && UNAVAILABLE.test(why);
    throw new StagelineError(unavailable ? 'HBASE_UNAVAILABLE' : 'HBASE_ERROR', `hbase admin ${failed?.op ?? ''} failed: ${why}`, { retryable: unavailable });
  }
  return results;
}

function tableOp(s: TableSpec): AdminOp {
  return { op: 'ensureTable', name: s.name, families: s.families, ...(s.splits && s.splits.length > 0 ? { splits: s.splits.map((b) => b.toString('hex')) } : {}), ...(s.ttlSeconds !== undefined ? { ttlSeconds: s.ttlSeconds } : {}) };
}

export function createHBaseAdmin(o: HBaseAdminOptions, log: Logger): HBaseAdminPort {
  const run = async (ops: AdminOp[]): Promise<void> => {
    if (ops.length > 0) await runAdminOps(o, ops, log);
  };
  return {
    ensureNamespace: (ns) => run([{ op: 'ensureNamespace', ns }]),
    ensureTables: (specs) => run(specs.map(tableOp)),
    dropNamespace: (ns) => run([{ op: 'dropNamespace', ns }]),
    ensure: (ns, specs) => run([{ op: 'ensureNamespace', ns }, ...specs.map(tableOp)]),
  };
}

export function createHBaseRegionAdmin(o: HBaseAdminOptions, log: Logger): HBaseRegionAdmin {
  const one = async (op: AdminOp): Promise<string> => (await runAdminOps(o, [op], log))[0]?.outcome ?? '';
  return {
    regions: async (table) => JSON.parse(await one({ op: 'regions', name: table })) as RegionPlacement[],
    splitAll: (table) => one({ op: 'splitAll', name: table }),
    move: async (region, server) => { await one({ op: 'move', region, ...(server !== undefined ? { server } : {}) }); },
    moveAll: (table) => one({ op: 'moveAll', name: table }),
    unassign: async (table, region) => { await one({ op: 'unassign', name: table, region }); },
    assign: async (table, region) => { await one({ op: 'assign', name: table, region }); },
    balancer: async (on) => { await one({ op: 'balancer', on }); },
    stopRegionServer: async (server) => { await one({ op: 'stopRegionServer', server }); },
  };
}

export interface AdminSession {
  /** Runs one op at once (the JVM is up and connected); rejects with its error when it fails. */
  run(op: AdminOp): Promise<AdminOpResult>;
  close(): Promise<void>;
}

/**
 * The admin tool kept running and connected (its --session mode), so an op starts within
 * milliseconds instead of after a JVM start and a connect (seconds): tests use it to put regions
 * in motion at an exact point of a run. Ops run one at a time, in call order.
 */
export async function openAdminSession(o: HBaseAdminOptions, log: Logger): Promise<AdminSession> {
  const spec = JSON.stringify(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {});
  const child = spawn(javaPath(o.javaHome), adminArgs(o, ['--session', spec]), { stdio: ['pipe', 'pipe', 'pipe'] });
  const waiting: Array<{ resolve: (r: AdminOpResult) => void; reject: (e: Error) => void }> = [];
  let stderr = '';
  let buf = '';
  let exited = false;
  const failAll = (why: string): void => {
    for (const w of waiting.splice(0)) w.reject(new StagelineError('HBASE_ERROR', `hbase admin session: ${why}`));
  };
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr = (stderr + d).slice(-4000); });
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!line.startsWith('{')) continue;
      const res = JSON.parse(line) as AdminOpResult;
      const w = waiting.shift();
      if (w === undefined) continue;
      if (res.ok) w.resolve(res);
      else w.reject(new StagelineError('HBASE_ERROR', `hbase admin ${res.op} failed: ${res.error ?? '?'}`));
    }
  });
  child.on('close', (code) => { exited = true; failAll(`exited ${String(code)}: ${stderr.split('\n').slice(-5).join('\n')}`); });
  child.on('error', (e) => { exited = true; failAll(e.message); });
  const next = (): Promise<AdminOpResult> => new Promise((resolve, reject) => {
    if (exited) reject(new StagelineError('HBASE_ERROR', 'hbase admin session: not running'));
    else waiting.push({ resolve, reject });
  });
  await next(); // the "connected" line
  log.debug('hbase admin session connected');
  return {
    run: (op) => {
      const p = next();
      child.stdin.write(`${JSON.stringify(op)}\n`);
      return p;
    },
    close: () => new Promise<void>((resolve) => {
      if (exited) { resolve(); return; }
      child.once('close', () => resolve());
      child.stdin.end();
    }),
  };
}
