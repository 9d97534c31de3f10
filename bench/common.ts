/**
 * What the bench scripts share: a private namespace provisioned through the product's own code
 * (the pattern of test/support/harness.ts, which the build does not include), the CLI run as a
 * child the way a person runs it, and small statistics helpers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { buildConfig, type Config } from '../src/config.js';
import { createApp, type App } from '../src/app.js';
import { createLogger } from '../src/log.js';
import { provision, topicSpecs } from '../src/provision.js';
import { hbaseProvisioner } from '../src/stack/hbase-provisioner.js';
import { dropDatabase } from '../src/adapters/mysql.js';
import { projectPath } from '../src/paths.js';

export interface BenchNamespace {
  ns: string;
  cfg: Readonly<Config>;
  app: App;
  /** extra topics the bench created (scratch), deleted with the namespace */
  extraTopics: string[];
  cleanup(): Promise<void>;
}

/** The bench is an edge like the CLI: it reads the environment here and nowhere deeper. */
export function benchConfig(ns: string): Readonly<Config> {
  return buildConfig({ ...process.env, STAGELINE_NAMESPACE: ns, STAGELINE_LOG_FORMAT: 'json', STAGELINE_LOG_LEVEL: process.env.STAGELINE_LOG_LEVEL ?? 'warn' });
}

export async function openNamespace(ns: string | undefined, doProvision: boolean): Promise<BenchNamespace> {
  const name = ns ?? `bench_${randomBytes(4).toString('hex')}`;
  const cfg = benchConfig(name);
  const log = createLogger(cfg.log);
  const app = createApp(cfg, log);
  const admin = hbaseProvisioner(cfg, log);
  if (doProvision) await provision(app, admin);
  const extraTopics: string[] = [];
  return {
    ns: name,
    cfg,
    app,
    extraTopics,
    async cleanup() {
      const kafkaAdmin = await app.admin();
      await kafkaAdmin.deleteTopics([...topicSpecs(app).map((t) => t.topic), ...extraTopics]).catch(() => undefined);
      await app.close();
      await dropDatabase(cfg.mysql).catch(() => undefined);
      await admin.dropNamespace(cfg.hbase.namespace).catch(() => undefined);
    },
  };
}

export interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
  wallMs: number;
  pid: number;
}

/** Children log JSON at warn unless told otherwise: the bench reads their stdout, not their chatter. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, STAGELINE_LOG_FORMAT: 'json', STAGELINE_LOG_LEVEL: process.env.STAGELINE_LOG_LEVEL ?? 'info', ...extra };
}

export function runNode(args: string[], opts: { env?: NodeJS.ProcessEnv; onSpawn?: (c: ChildProcess) => void } = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, args, { env: opts.env ?? childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    opts.onSpawn?.(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), wallMs: Date.now() - t0, pid: child.pid ?? -1 }));
  });
}

export const cliPath = projectPath('bin', 'stageline.js');

export function runCli(args: string[], ns: string, opts: { env?: NodeJS.ProcessEnv; onSpawn?: (c: ChildProcess) => void } = {}): Promise<ChildResult> {
  return runNode([cliPath, ...args, '--namespace', ns], opts);
}

/** Size of a file now, so a later read can take only what a run appended (supervisor logs append). */
export function fileSize(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

export function readFrom(path: string, offset: number): string {
  if (!existsSync(path)) return '';
  return readFileSync(path).subarray(offset).toString('utf8');
}

export function jsonLines(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a torn last line of a killed process: skip it
    }
  }
  return out;
}

export function percentile(xs: readonly number[], p: number): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

export function addDays(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

export const say = (m: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
};
