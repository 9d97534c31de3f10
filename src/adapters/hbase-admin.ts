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
  | { op: 'ensureTable'; name: string; families: string[]; splits?: string[] }
  | { op: 'dropNamespace'; ns: string }
  | { op: 'listTables'; ns: string }
  | { op: 'listNamespaces' }
  /** Start keys (hex) of the table's regions, comma-separated in `outcome`. */
  | { op: 'listRegions'; name: string }
  /** Splits the region holding `at` (hex) at `at`, waiting until the daughters are online. */
  | { op: 'split'; name: string; at: string };

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

/** Runs one launch of the admin tool with all `ops`; resolves with one result per op. */
export async function runAdminOps(o: HBaseAdminOptions, ops: AdminOp[], log: Logger): Promise<AdminOpResult[]> {
  const spec = JSON.stringify({ ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}), ops });
  const args = [
    ...HBASE_JDK17_FLAGS,
    '-Xmx256m',
    // Short-lived client JVM: skip the JIT tiers that only pay off for long runs.
    '-XX:TieredStopAtLevel=1',
    `-Dlog4j2.configurationFile=${projectPath('jvm', 'hbase', 'log4j2-tool.properties')}`,
    '-cp', `${o.classpath}:${o.confDir}`,
    projectPath('jvm', 'hbase', 'HBaseAdmin.java'),
    '-',
  ];
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
  return { op: 'ensureTable', name: s.name, families: s.families, ...(s.splits && s.splits.length > 0 ? { splits: s.splits.map((b) => b.toString('hex')) } : {}) };
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
