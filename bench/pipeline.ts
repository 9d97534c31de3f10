/**
 * One `stageline nightly --with-workers N` run, measured from outside: the window is MySQL's
 * runs.first_publish_at → MAX(merchant_days.done_at) of the run's epoch; per-process CPU and RSS
 * come from /proc samples of the workers the supervisor spawns; handle latency comes from the
 * `stopped` line each stage logs on SIGTERM (the runtime's recentLatencyMs: its last ≤1000
 * messages, not all of them: the runtime keeps no full histogram).
 */
import { join } from 'node:path';
import { cpus } from 'node:os';
import type { App } from '../src/app.js';
import { STAGES } from '../stages/index.js';
import { ProcWatcher, serverLabel, summarize, type ProcSummary } from './procstat.js';
import { childEnv, fileSize, jsonLines, percentile, readFrom, round, runCli } from './common.js';

export interface StageMeasure {
  replicas: number;
  cpuMs: number;
  /** CPU inside the publish→done window only (excludes process start-up and the drain after) */
  windowCpuMs: number;
  usPerEvent: number;
  windowUsPerEvent: number;
  peakRssMb: number;
  handled: number;
  latencySamples: number;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
}

export interface RunWindow {
  epoch: number;
  events: number;
  merchantDays: number;
  firstPublishMs: number;
  lastDoneMs: number;
  windowMs: number;
  eventsPerSec: number;
}

export interface PipelineResult extends RunWindow {
  workers: number;
  exitCode: number | null;
  wallMs: number;
  /** last worker's "joined the group" after the first publish: time the run waited on start-up */
  joinLagMs: number;
  /** events/s over the window minus joinLagMs: the steady pipeline, start-up excluded */
  eventsPerSecExclJoin: number;
  stages: Record<string, StageMeasure>;
  master: { cpuMs: number; peakRssMb: number };
  supervisor: { cpuMs: number; peakRssMb: number };
  /** CPU seconds the servers used inside the window, and the machine's busy share */
  servers: Record<string, number>;
  machineBusy: number;
  /** CPU seconds inside the window by process label, and what the cores could give (cores × window) */
  cpuInWindow: Record<string, number>;
  coreSecondsAvailable: number;
  processes: ProcSummary[];
}

/** The window of one epoch of one day (or several days: the overload case), from MySQL's own clock. */
export async function runWindow(app: App, days: string[], epochs?: Map<string, number>): Promise<RunWindow> {
  let first = Infinity;
  let last = 0;
  let events = 0;
  let merchantDays = 0;
  let epoch = 0;
  for (const day of days) {
    const [run] = await app.db().query<{ epoch: number; fp: string | number | null }>('SELECT epoch, UNIX_TIMESTAMP(first_publish_at) AS fp FROM runs WHERE day = ?', [day]);
    if (!run) throw new Error(`no run recorded for ${day}`);
    epoch = epochs?.get(day) ?? run.epoch;
    const [md] = await app.db().query<{ last: string | number | null; ev: string | number | null; n: number }>(
      'SELECT UNIX_TIMESTAMP(MAX(done_at)) AS last, SUM(COALESCE(events, 0) + COALESCE(invalid_events, 0)) AS ev, COUNT(*) AS n FROM merchant_days WHERE day = ? AND epoch = ?', [day, epoch]);
    first = Math.min(first, Number(run.fp) * 1000);
    last = Math.max(last, Number(md?.last ?? 0) * 1000);
    events += Number(md?.ev ?? 0);
    merchantDays += Number(md?.n ?? 0);
  }
  // A day that is not due yet plans nothing: say so instead of printing NaN events/s.
  if (merchantDays === 0 || !Number.isFinite(first)) throw new Error(`no merchant-day of ${days.join(', ')} was done (not due yet? nightly plans only days that have ended plus STAGELINE_DAY_GRACE_MIN)`);
  const windowMs = last - first;
  return { epoch, events, merchantDays, firstPublishMs: first, lastDoneMs: last, windowMs, eventsPerSec: events / (windowMs / 1000) };
}

export interface StageLogFacts {
  joinedAt: number[];
  latencies: number[];
  handled: number;
}

export function stageLogFacts(text: string): StageLogFacts {
  const facts: StageLogFacts = { joinedAt: [], latencies: [], handled: 0 };
  for (const l of jsonLines(text)) {
    if (l.msg === 'Consumer has joined the group' && typeof l.time === 'number') facts.joinedAt.push(l.time);
    if (l.msg === 'stopped') {
      if (Array.isArray(l.recentLatencyMs)) facts.latencies.push(...(l.recentLatencyMs as number[]));
      facts.handled += Number(l.handled ?? 0);
    }
  }
  return facts;
}

/** Labels the processes of one namespace: stage workers by stage, the master, the supervisor. */
export function nsClassifier(ns: string): (argv: string[]) => string | undefined {
  return (argv) => {
    const i = argv.indexOf('--namespace');
    if (i < 0 || argv[i + 1] !== ns || !argv.some((a) => a.endsWith('stageline.js'))) return serverLabel(argv);
    const cmd = argv[argv.findIndex((a) => a.endsWith('stageline.js')) + 1];
    if (cmd === 'stage') return argv[argv.indexOf('stage') + 1];
    return cmd; // master, nightly, ...
  };
}

export function stageMeasures(procs: ProcSummary[], facts: Record<string, StageLogFacts>, events: number): Record<string, StageMeasure> {
  const out: Record<string, StageMeasure> = {};
  for (const s of STAGES) {
    const ps = procs.filter((p) => p.label === s);
    const cpuMs = ps.reduce((a, p) => a + p.cpuMs, 0);
    const windowCpuMs = ps.reduce((a, p) => a + p.windowCpuMs, 0);
    const f = facts[s] ?? { joinedAt: [], latencies: [], handled: 0 };
    out[s] = {
      replicas: ps.length,
      cpuMs: round(cpuMs, 0),
      windowCpuMs: round(windowCpuMs, 0),
      usPerEvent: round((cpuMs * 1000) / Math.max(1, events), 2),
      windowUsPerEvent: round((windowCpuMs * 1000) / Math.max(1, events), 2),
      peakRssMb: round(Math.max(0, ...ps.map((p) => p.peakRssMb)), 0),
      handled: f.handled,
      latencySamples: f.latencies.length,
      p50Ms: percentile(f.latencies, 50),
      p99Ms: percentile(f.latencies, 99),
    };
  }
  return out;
}

export function cpuByLabel(procs: ProcSummary[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of procs) out[p.label] = round((out[p.label] ?? 0) + p.windowCpuMs / 1000, 2);
  return out;
}

export async function runNightly(app: App, ns: string, day: string, workers: number, rerun: boolean): Promise<PipelineResult> {
  const logDir = join(app.cfg.stack.dir, 'logs', day);
  const logFiles = STAGES.flatMap((s) => Array.from({ length: workers }, (_, i) => ({ stage: s, path: join(logDir, `${s}-${i + 1}.log`) })));
  const offsets = new Map(logFiles.map((f) => [f.path, fileSize(f.path)]));
  const watcher = new ProcWatcher(nsClassifier(ns)).start();
  const res = await runCli(['nightly', '--day', day, '--with-workers', String(workers), '--quiet', ...(rerun ? ['--rerun'] : [])], ns, { env: childEnv() });
  watcher.stop();
  if (res.code !== 0) throw new Error(`nightly exited ${res.code}: ${res.stderr.slice(-2000)}`);
  const w = await runWindow(app, [day]);
  const facts: Record<string, StageLogFacts> = {};
  for (const f of logFiles) {
    const got = stageLogFacts(readFrom(f.path, offsets.get(f.path) ?? 0));
    const acc = (facts[f.stage] ??= { joinedAt: [], latencies: [], handled: 0 });
    acc.joinedAt.push(...got.joinedAt);
    acc.latencies.push(...got.latencies);
    acc.handled += got.handled;
  }
  // The first join of each worker counts; later joins are rebalances (also worth knowing, but not start-up).
  const firstJoins = Object.values(facts).map((f) => Math.min(...f.joinedAt)).filter(Number.isFinite);
  const joinLagMs = Math.max(0, ...firstJoins.map((t) => t - w.firstPublishMs));
  const procs = [...watcher.tracked.values()].map((t) => summarize(t, w.firstPublishMs, w.lastDoneMs));
  const one = (label: string) => {
    const ps = procs.filter((p) => p.label === label);
    return { cpuMs: round(ps.reduce((a, p) => a + p.cpuMs, 0), 0), peakRssMb: round(Math.max(0, ...ps.map((p) => p.peakRssMb)), 0) };
  };
  const servers: Record<string, number> = {};
  for (const p of procs.filter((x) => ['kafka', 'hbase', 'mysql'].includes(x.label))) servers[p.label] = round((servers[p.label] ?? 0) + p.windowCpuMs / 1000, 1);
  return {
    ...w,
    workers,
    exitCode: res.code,
    wallMs: res.wallMs,
    joinLagMs,
    eventsPerSecExclJoin: w.events / (Math.max(1, w.windowMs - joinLagMs) / 1000),
    stages: stageMeasures(procs, facts, w.events),
    master: one('master'),
    supervisor: one('nightly'),
    servers,
    machineBusy: round(watcher.machineBusy(w.firstPublishMs, w.lastDoneMs), 2),
    cpuInWindow: cpuByLabel(procs),
    coreSecondsAvailable: round((cpus().length * w.windowMs) / 1000, 1),
    processes: procs,
  };
}
