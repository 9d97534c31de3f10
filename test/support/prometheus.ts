/**
 * Real Prometheus for the integration tests: promtool runs, a private `prometheus` process (own
 * data dir, own port, stopped afterwards), its HTTP API, and the small process and port helpers
 * a test that scrapes a running night needs. The binaries come from Debian's `prometheus` package
 * (.ci/run installs it when missing).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { eventually } from './harness.js';

export function binary(name: 'promtool' | 'prometheus'): string {
  for (const dir of (process.env.PATH ?? '').split(':').concat('/usr/bin')) {
    const p = join(dir, name);
    if (dir && existsSync(p)) return p;
  }
  throw new Error(`${name} not found: install Debian's prometheus package (apt-get install -y prometheus; .ci/run does it when missing)`);
}

export interface ToolResult { code: number; output: string }

/** Runs promtool; the exit code and stdout+stderr together, for the test to judge and print. */
export function promtool(args: string[], cwd?: string): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    execFile(binary('promtool'), args, { cwd, timeout: 120_000 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (err && typeof err.code !== 'number') reject(err);
      else resolve({ code: err ? Number(err.code) : 0, output });
    });
  });
}

/** A port in [lo, hi] where `count` consecutive ports are free on 127.0.0.1 right now. */
export async function freePorts(lo: number, hi: number, count = 1): Promise<number> {
  const free = (port: number) => new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
  const starts = Array.from({ length: hi - lo - count + 2 }, (_, i) => lo + i).sort(() => Math.random() - 0.5);
  for (const start of starts) {
    let ok = true;
    for (let p = start; p < start + count && ok; p++) ok = await free(p);
    if (ok) return start;
  }
  throw new Error(`no ${count} free consecutive ports in ${lo}-${hi}`);
}

/** Pids of processes whose argv contains every one of `parts` (in any order). */
export function pidsWithArgs(parts: string[]): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    if (parts.every((p) => argv.includes(p))) out.push(Number(d));
  }
  return out;
}

export interface PromSample { metric: Record<string, string>; value: [number, string] }
export interface PromRangeSeries { metric: Record<string, string>; values: Array<[number, string]> }
export interface PromAlert { labels: Record<string, string>; state: 'pending' | 'firing'; value: string }

export interface Prometheus {
  url: string;
  logFile: string;
  query(expr: string, time?: number): Promise<PromSample[]>;
  queryRange(expr: string, start: number, end: number, stepSec: number): Promise<PromRangeSeries[]>;
  alerts(): Promise<PromAlert[]>;
  stop(): Promise<void>;
}

async function api<T>(url: string): Promise<T> {
  const res = await fetch(url);
  const body = await res.json() as { status: string; data: T; error?: string; errorType?: string };
  if (body.status !== 'success') throw new Error(`Prometheus ${url}: ${body.errorType ?? ''} ${body.error ?? res.status}`);
  return body.data;
}

/** Starts `prometheus` on 127.0.0.1:port with the given config and a private data dir; resolves once it reports ready. */
export async function startPrometheus(o: { configFile: string; dataDir: string; port: number; logFile: string }): Promise<Prometheus> {
  const fd = openSync(o.logFile, 'a');
  const child: ChildProcess = spawn(binary('prometheus'), [
    `--config.file=${o.configFile}`,
    `--storage.tsdb.path=${o.dataDir}`,
    `--web.listen-address=127.0.0.1:${o.port}`,
    '--storage.tsdb.retention.time=1d',
  ], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let dead = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => { dead = true; resolve(); }));
  const url = `http://127.0.0.1:${o.port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.kill('SIGTERM');
    await exited;
    clearTimeout(t);
  };
  const ready = await eventually('prometheus ready', async () => (dead ? 'exited' : (await fetch(`${url}/-/ready`)).ok && 'ready'), 60_000, 200)
    .catch((e: unknown) => (e as Error).message);
  if (ready !== 'ready') {
    await stop();
    const tail = readFileSync(o.logFile, 'utf8').split('\n').slice(-20).join('\n');
    throw new Error(`prometheus did not become ready (${ready}); log ${o.logFile}:\n${tail}`);
  }
  const q = (params: Record<string, string>) => new URLSearchParams(params).toString();
  return {
    url,
    logFile: o.logFile,
    query: async (expr, time) => (await api<{ result: PromSample[] }>(`${url}/api/v1/query?${q({ query: expr, ...(time !== undefined ? { time: String(time) } : {}) })}`)).result,
    queryRange: async (expr, start, end, step) => (await api<{ result: PromRangeSeries[] }>(`${url}/api/v1/query_range?${q({ query: expr, start: String(start), end: String(end), step: String(step) })}`)).result,
    alerts: async () => (await api<{ alerts: PromAlert[] }>(`${url}/api/v1/alerts`)).alerts,
    stop,
  };
}
