/**
 * Helpers for the cluster tests (test/cluster/): a private stack in its own data dir and ports,
 * namespaces provisioned on it, the CLI run against it, and what every night must end with.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { buildConfig } from '../../src/config.js';
import { stackDown, stackOptions, type StackOptions } from '../../src/stack/index.js';
import { createTestNamespace, type CliResult, type TestNamespace } from './harness.js';
import { dropDatabase } from '../../src/adapters/mysql.js';
import { silentLogger } from '../../src/log.js';
import { hbaseProvisioner } from '../../src/stack/hbase-provisioner.js';
import { diffSummaries, parseLines } from './compare.js';
import { isAlive, metricsOnly, runRow, summaryEpochs } from './faults.js';
import { projectPath } from '../../src/paths.js';
import { sleep } from '../../src/retry.js';

export interface PrivateStack {
  dir: string;
  /** STAGELINE_* variables naming the private servers; pass to every CLI run. */
  env: Record<string, string>;
  stack: StackOptions;
  /** Keep the data dir (server and child logs) for reading after a failure. */
  keep(): void;
  /** Stops what the stack started and removes the data dir unless kept. */
  down(): Promise<void>;
}

/**
 * The env of a private stack in a fresh temp dir: jars from the shared cache, everything else
 * from `vars` (ports, addresses, sizes). Servers are not started here (see stackUp and friends).
 */
export function privateStack(prefix: string, vars: Record<string, string>): PrivateStack {
  const shared = buildConfig(process.env);
  const dir = mkdtempSync(join(tmpdir(), `stageline-${prefix}-`));
  const env = { STAGELINE_DATA_DIR: dir, STAGELINE_CACHE_DIR: shared.stack.cacheDir, ...vars };
  const stack = stackOptions(buildConfig({ ...process.env, ...env }));
  // STAGELINE_TEST_KEEP=1 keeps the data dir even when every test passed (to read the logs).
  let kept = process.env.STAGELINE_TEST_KEEP === '1';
  return {
    dir,
    env,
    stack,
    keep: () => { kept = true; },
    async down() {
      await stackDown(stack);
      if (kept) console.log(`private stack data and logs kept in ${dir}`);
      else rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `fn` with `env` merged into process.env (createTestNamespace reads it), then restores it. */
export async function withEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** A namespace provisioned on the private stack whose env is `env`. */
export function namespaceOn(env: Record<string, string>, prefix: string): Promise<TestNamespace> {
  return withEnv(env, () => createTestNamespace(prefix));
}

/** Removes what provisioning `ns` under `env` created in MySQL and HBase (its topics go with a private Kafka). */
export async function dropProvisioned(env: Record<string, string>, ns: string): Promise<void> {
  const cfg = buildConfig({ ...process.env, ...env, STAGELINE_NAMESPACE: ns });
  await dropDatabase(cfg.mysql).catch(() => undefined);
  await hbaseProvisioner(cfg, silentLogger).dropNamespace(cfg.hbase.namespace).catch(() => undefined);
}

export function expectOk(r: CliResult, what: string): void {
  expect(r.code, `${what} exited ${String(r.code)}\n--- stderr ---\n${r.stderr.slice(-4000)}`).toBe(0);
}

/**
 * A report equal to the expected one, line for line, but for what a re-run changes by design
 * (each merchant-day's `epoch` and `computed_at`; expectNight checks the epochs itself); on a
 * mismatch the field differences show first.
 */
export function expectSameReport(stdout: string, expected: string): void {
  const got = metricsOnly(stdout);
  const want = metricsOnly(expected);
  if (got !== want) expect(diffSummaries(parseLines(got), parseLines(want))).toEqual([]);
  expect(got).toBe(want);
}

/**
 * What a night that met a fault must end with: its epoch complete, the lease released, every
 * summary row written by that epoch (an old row cannot pass for a new one), and the report
 * byte-identical to `expected`.
 */
export async function expectNight(t: TestNamespace, day: string, epoch: number, expected: string, env: Record<string, string>): Promise<NonNullable<Awaited<ReturnType<typeof runRow>>>> {
  const run = (await runRow(t.app, day))!;
  expect(run).toMatchObject({ epoch, state: 'complete', lock_owner: null });
  const epochs = await summaryEpochs(t.app, day);
  expect(epochs.length).toBe(run.merchant_days);
  expect(epochs.every((e) => e === epoch), `summary epochs ${epochs.join(',')}`).toBe(true);
  const rep = await t.cli(['report', '--day', day, '--json'], { env });
  expectOk(rep, 'report');
  expectSameReport(rep.stdout, expected);
  return run;
}

/** Peak resident set (VmHWM) of a live process, in MiB; undefined once it is gone. */
export function peakRssMb(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

/** Prints a file's wall time when it ends (the report asks for each file's time). */
export function wallClock(file: string): () => void {
  const t0 = Date.now();
  return () => console.log(`${file} wall time ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

// ---- two network namespaces joined by a veth pair ----------------------------------------------

export interface NetnsPair {
  /** namespace of the servers, and its address */
  server: string;
  serverIp: string;
  /** namespace of the master and the workers, and its address */
  client: string;
  clientIp: string;
  /** Runs the CLI inside `ns` with exactly `env` (nothing inherited), like runCli. */
  cli(ns: string, args: string[], env: Record<string, string>, input?: string): Promise<CliResult>;
  /** Runs any command inside `ns`. */
  exec(ns: string, cmd: string[], env?: Record<string, string>): Promise<CliResult>;
  /** The namespace a process runs in (`ip netns identify`), '' for the root namespace. */
  identify(pid: number): string;
  /** Ends the processes still inside both namespaces (ours: nothing else runs there), then deletes them (the veth pair goes with them). */
  remove(): Promise<void>;
}

const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip'].find((p) => { try { readFileSync(p); return true; } catch { return false; } }) ?? 'ip';
const ip = (...args: string[]): string => execFileSync(IP, args, { encoding: 'utf8' });

/**
 * Two namespaces `sl-s-<tag>` (servers, 10.77.0.1/24) and `sl-c-<tag>` (master and workers,
 * 10.77.0.2/24) joined by a veth pair: two hosts on one link, as far as the processes can tell.
 * Needs root (CAP_NET_ADMIN) and iproute2.
 */
export function makeNetnsPair(tag: string): NetnsPair {
  const server = `sl-s-${tag}`;
  const client = `sl-c-${tag}`;
  const [vs, vc] = [`slvs${tag}`, `slvc${tag}`];
  const serverIp = '10.77.0.1';
  const clientIp = '10.77.0.2';
  ip('netns', 'add', server);
  ip('netns', 'add', client);
  ip('link', 'add', vs, 'type', 'veth', 'peer', 'name', vc);
  ip('link', 'set', vs, 'netns', server);
  ip('link', 'set', vc, 'netns', client);
  ip('-n', server, 'addr', 'add', `${serverIp}/24`, 'dev', vs);
  ip('-n', client, 'addr', 'add', `${clientIp}/24`, 'dev', vc);
  for (const [ns, dev] of [[server, vs], [client, vc]] as const) {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'set', dev, 'up');
  }
  const exec = (ns: string, cmd: string[], env: Record<string, string> = {}, input?: string): Promise<CliResult> => new Promise((resolve, reject) => {
    const child = spawn(IP, ['netns', 'exec', ns, ...cmd], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdin.on('error', () => undefined); // a command that exits early must not fail the test with EPIPE
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.end(input ?? '');
  });
  return {
    server, serverIp, client, clientIp,
    exec: (ns, cmd, env) => exec(ns, cmd, env ?? {}),
    cli: (ns, args, env, input) => exec(ns, [process.execPath, projectPath('bin', 'stageline.js'), ...args], { STAGELINE_LOG_FORMAT: 'json', STAGELINE_LOG_LEVEL: 'warn', ...env }, input),
    identify: (pid) => { try { return ip('netns', 'identify', String(pid)).trim(); } catch { return '?'; } },
    async remove() {
      for (const ns of [server, client]) {
        let pids: number[] = [];
        try { pids = ip('netns', 'pids', ns).split('\n').filter(Boolean).map(Number); } catch { /* namespace gone */ }
        for (const p of pids) { try { process.kill(p, 'SIGTERM'); } catch { /* gone */ } }
        const deadline = Date.now() + 30_000;
        while (pids.some(isAlive) && Date.now() < deadline) await sleep(200);
        for (const p of pids.filter(isAlive)) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
        try { ip('netns', 'del', ns); } catch { /* already deleted */ }
      }
    },
  };
}

/** A directory whose only program is `node`: a PATH for processes that must not need Java. */
export function nodeOnlyPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'stageline-node-only-'));
  symlinkSync(process.execPath, join(dir, 'node'));
  return dir;
}
