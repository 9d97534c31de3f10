/**
 * `stageline nightly`: the trigger. It runs the master as a child process and re-spawns it with
 * backoff when it dies (the master resumes from MySQL), optionally runs N replicas of each stage
 * and restarts any that die, and shows progress from the ledger while it waits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import type { Config, Flags } from '../config.js';
import type { Logger } from '../log.js';
import { createApp, type App } from '../app.js';
import { errorMessage } from '../errors.js';
import { projectPath } from '../paths.js';
import { backoffDelay, sleep } from '../retry.js';
import { dueOfDay, toProgress, unplannedMerchants, type Progress } from './master.js';
import type { MerchantDayDue } from '../domain/due.js';
import { STAGES, type StageName } from '../../stages/index.js';
import { yesterdayUtc } from '../domain/day.js';
import type { AcquireMode, RunTrigger } from '../ledger/types.js';
import { groupName } from '../../topology/index.js';
import { childMetricsArgs, serveNightlyMetrics } from '../prometheus.js';
import { waitForReplicas } from '../status.js';
import { bar } from '../progress-bar.js';
import { isAlive as alive } from '../stack/common.js';

const FORWARDED = ['namespace', 'kafka-brokers', 'mysql-url', 'hbase-zk', 'data-dir', 'log-level'];

export function forwardedFlags(flags: Flags): string[] {
  return FORWARDED.flatMap((k) => (typeof flags[k] === 'string' ? [`--${k}`, flags[k] as string] : []));
}

/** What nightly needs from the command line: the config, a logger, and the flags to forward to its children. */
export interface NightlyContext {
  cfg: Readonly<Config>;
  log: Logger;
  flags: Flags;
}

export interface ChildSpec {
  name: string;
  args: string[];
  logFile: string;
}

/** A child `stageline` with the parent's environment; its output goes to a log file (so its logs are JSON: not a TTY). */
export function spawnStageline(spec: ChildSpec): ChildProcess {
  const fd = openSync(spec.logFile, 'a');
  const child = spawn(process.execPath, [projectPath('bin', 'stageline.js'), ...spec.args], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  return child;
}

/** Keeps a set of stage replicas alive until stopped; a replica that dies is restarted with backoff. */
export class WorkerPool {
  private readonly children = new Map<string, ChildProcess>();
  private stopping = false;
  restarts = 0;
  constructor(private readonly specs: Array<ChildSpec & { stage?: StageName }>, private readonly onEvent: (msg: string) => void, private readonly onRestart?: (stage: StageName | undefined) => void) {}

  start(): void {
    for (const s of this.specs) this.launch(s, 0);
  }

  private launch(spec: ChildSpec & { stage?: StageName }, attempt: number): void {
    const child = spawnStageline(spec);
    this.children.set(spec.name, child);
    child.on('exit', (code, signal) => {
      if (this.stopping) return;
      this.restarts++;
      this.onRestart?.(spec.stage);
      const delay = backoffDelay(Math.min(attempt + 1, 6), { initialDelayMs: 500, maxDelayMs: 10_000, factor: 2 }, Math.random);
      this.onEvent(`worker ${spec.name} exited (${signal ?? code}); restarting in ${delay} ms (log: ${spec.logFile})`);
      setTimeout(() => { if (!this.stopping) this.launch(spec, attempt + 1); }, delay);
    });
  }

  pids(): Record<string, number | undefined> {
    return Object.fromEntries([...this.children].map(([k, c]) => [k, c.pid]));
  }

  /** SIGTERM all (they drain and commit), SIGKILL what is still alive after the bound. */
  async stop(boundMs = 40_000): Promise<void> {
    this.stopping = true;
    const alive = [...this.children.values()].filter((c) => c.exitCode === null && c.signalCode === null);
    await Promise.all(alive.map((c) => new Promise<void>((resolve) => {
      const t = setTimeout(() => { c.kill('SIGKILL'); }, boundMs);
      c.once('exit', () => { clearTimeout(t); resolve(); });
      c.kill('SIGTERM');
    })));
  }
}

export function progressLine(p: Progress): string {
  const rate = p.eventsDone / Math.max(1, p.elapsedMs / 1000);
  return `${p.day} e${p.epoch} ${p.state.padEnd(8)} chunks published ${p.chunksPublished}/${p.chunks}  split ${bar(p.chunksSplit, p.chunks, 12)} ${p.chunksSplit}/${p.chunks}  merchant-days ${bar(p.merchantDaysDone, p.merchantDays)} ${p.merchantDaysDone}/${p.merchantDays}  events ${p.eventsDone.toLocaleString('en-US')}/${p.plannedRows.toLocaleString('en-US')} (${Math.round(rate).toLocaleString('en-US')}/s)${p.deadLetters ? `  dead letters ${p.deadLetters}` : ''}`;
}

/**
 * Clears the lease of a master process that has exited. The owner is `host:pid:random` (see the
 * `master` command); only a lease taken by exactly that pid on this host is touched, so a live
 * master elsewhere keeps its lease.
 */
export async function releaseLeaseOf(app: App, day: string, pid: number | undefined): Promise<boolean> {
  if (pid === undefined) return false;
  return app.ledger().runs.releaseLeaseByPrefix(day, `${hostname()}:${pid}:`);
}

/** The run's progress as nightly prints it; undefined while the day has no run yet. */
async function progressOf(app: App, day: string, t0: number): Promise<Progress | undefined> {
  const p = await app.ledger().progress.read(day, app.cfg.pipeline.stuckAfterSec);
  return p ? toProgress(p, Date.now() - t0) : undefined;
}

/** The pid of a lease owner `host:pid:random`, when it names this host. */
export function localPidOf(owner: string, host = hostname()): number | undefined {
  const parts = owner.split(':');
  if (parts.length < 3 || parts.slice(0, -2).join(':') !== host) return undefined;
  const pid = Number(parts[parts.length - 2]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}


export type LeaseWait = { kind: 'free' } | { kind: 'live'; owner: string; message: string };

/**
 * Before a master is started: a lease left by a master that died (the whole nightly killed, the
 * machine rebooted) must not refuse the resume. A holder on this host whose process is gone is
 * released at once; any other holder is watched: if it renews, it is alive and this nightly
 * stops; if it does not, the lease lapses and the run resumes. One line says which.
 */
export async function waitForLease(app: App, day: string, say: (m: string) => void, pollMs = 1000): Promise<LeaseWait> {
  const runs = app.ledger().runs;
  const first = await runs.get(day);
  if (!first || !first.lock_live || first.lock_owner === null) return { kind: 'free' };
  const owner = first.lock_owner;
  const pid = localPidOf(owner);
  if (pid !== undefined && !alive(pid)) {
    await runs.releaseLeaseByPrefix(day, `${hostname()}:${pid}:`);
    say(`day ${day}: the master that held its lease (${owner}) is gone; released the lease, resuming`);
    return { kind: 'free' };
  }
  const left = Math.max(0, Math.round(((first.lock_expires_at ?? 0) - Date.now()) / 1000));
  say(`day ${day}: leased to ${owner}${first.lock_renewed_at ? `, last renewed ${Math.round((Date.now() - first.lock_renewed_at) / 1000)} s ago` : ''}; waiting up to ${left} s for it to lapse (a live master renews it and keeps the day)`);
  for (;;) {
    await sleep(pollMs);
    const now = await runs.get(day);
    if (!now || !now.lock_live || now.lock_owner === null) return { kind: 'free' };
    if (now.lock_owner !== owner) return { kind: 'live', owner: now.lock_owner, message: `another master (${now.lock_owner}) took day ${day} while this nightly waited; not starting a second one` };
    if ((now.lock_renewed_at ?? 0) > (first.lock_renewed_at ?? 0)) {
      return { kind: 'live', owner, message: `day ${day} is held by a live master (${owner}) that keeps renewing its lease; not starting a second one` };
    }
  }
}

export interface NightlyOptions {
  /** the day to run; undefined: yesterday (UTC, as of `now`) and the earlier days with late data */
  day?: string;
  workers: number;
  rerun: boolean;
  quiet: boolean;
  allowSmallDay: boolean;
  /** keep running each day until every merchant-day of it is due and done */
  wait?: boolean;
  /** one JSON object per day on stdout when done (state, epoch, the merchant-days not due yet) */
  json?: boolean;
  /** "now" for choosing yesterday (tests and catching up after downtime pass it in) @defaultValue Date.now() */
  now?: number;
}

/** What `nightly --json` prints per day. */
export interface NightlyDayResult {
  day: string;
  code: number;
  state: string | null;
  epoch: number | null;
  not_due: Array<{ merchant_id: string; time_zone: string; day_end: string; due_at: string }>;
}

/** Everything the days of one nightly (or backfill) share: the app, the workers, metrics, signals. */
export interface NightEnv {
  ctx: NightlyContext;
  app: App;
  fwd: string[];
  say: (m: string) => void;
  tty: boolean;
  quiet: boolean;
  metrics: Awaited<ReturnType<typeof serveNightlyMetrics>>;
  pool: WorkerPool | undefined;
  /** set by SIGINT/SIGTERM: no new master is started, running ones are stopped */
  interrupted: boolean;
  masters: Set<ChildProcess>;
  close(): Promise<void>;
}

export async function startNightEnv(ctx: NightlyContext, o: { workers: number; quiet: boolean; logDir: string }): Promise<NightEnv> {
  const cfg = ctx.cfg;
  mkdirSync(o.logDir, { recursive: true });
  const fwd = forwardedFlags(ctx.flags);
  const say = (m: string) => process.stderr.write(`${m}\n`);
  const app = createApp(cfg, ctx.log);
  const metrics = await serveNightlyMetrics(ctx, o.workers);
  const pool = o.workers > 0
    ? new WorkerPool(
      STAGES.flatMap((s, si) => Array.from({ length: o.workers }, (_, i) => ({ name: `${s}-${i + 1}`, stage: s, args: ['stage', s, '--exit-with-parent', ...fwd, ...childMetricsArgs(cfg.metricsPort, 1 + si * o.workers + i)], logFile: join(o.logDir, `${s}-${i + 1}.log`) }))),
      say,
      (stage) => { if (stage) metrics.workerRestarted(stage); },
    )
    : undefined;
  const env: NightEnv = {
    ctx, app, fwd, say, tty: process.stderr.isTTY === true && !o.quiet, quiet: o.quiet, metrics, pool, interrupted: false, masters: new Set(),
    async close() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      clearInterval(members);
      await pool?.stop();
      await metrics.close();
      await app.close();
    },
  };
  const onSignal = () => {
    env.interrupted = true;
    for (const m of env.masters) m.kill('SIGTERM');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Consumer-group members per stage, for the "replicas missing" alert; Kafka away: skip a round.
  const members = setInterval(() => {
    void (async () => {
      const admin = await app.admin();
      for (const st of STAGES) metrics.groupMembers(st, (await admin.describeGroup(groupName(cfg.namespace, st))).members.length);
    })().catch(() => undefined);
  }, 5000);
  members.unref();
  pool?.start();
  if (pool) say(`started ${o.workers} replica(s) of each stage; logs in ${o.logDir}`);
  else say('no --with-workers: waiting for stage workers running elsewhere');
  if (pool && o.workers > 1) {
    const late = await waitForReplicas(app, o.workers, 30_000);
    if (late.length > 0) say(`replicas of ${late.join(', ')} had not joined after 30 s; starting the master anyway`);
  }
  return env;
}

export interface DayRun {
  day: string;
  mode: AcquireMode;
  trigger: RunTrigger;
  allowSmallDay: boolean;
}

/** Exit codes of one day: 0 complete, 1 the master kept dying, 3 failed, 4 held by a live master, 5 refused as small, 130 interrupted. */
export async function superviseDay(env: NightEnv, d: DayRun): Promise<number> {
  const { app, say, ctx } = env;
  const cfg = ctx.cfg;
  const logDir = join(cfg.stack.dir, 'logs', d.day);
  mkdirSync(logDir, { recursive: true });
  const lease = await waitForLease(app, d.day, say);
  if (lease.kind === 'live') {
    say(lease.message);
    return 4;
  }
  const t0 = Date.now();
  let mode = d.mode;
  const epochBefore = async () => (await app.ledger().runs.currentEpoch(d.day)) ?? 0;
  const startEpoch = await epochBefore();
  for (let attempt = 0; ; attempt++) {
    if (env.interrupted) return 130;
    const args = ['master', '--day', d.day, '--exit-with-parent', ...(mode === 'rerun' ? ['--rerun'] : mode === 'late' ? ['--late'] : []), '--trigger', d.trigger,
      ...(d.allowSmallDay ? ['--allow-small-day'] : []), ...env.fwd, ...childMetricsArgs(cfg.metricsPort, 0)];
    const master = spawnStageline({ name: 'master', args, logFile: join(logDir, 'master.log') });
    env.masters.add(master);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => master.once('exit', (code, signal) => r({ code, signal })));
    let finished: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    void exited.then((x) => { finished = x; env.masters.delete(master); });
    let lastPrint = 0;
    while (!finished) {
      await Promise.race([exited, sleep(1000)]);
      if (env.quiet) continue;
      try {
        const p = await progressOf(app, d.day, t0);
        if (!p) continue;
        if (env.tty) process.stderr.write(`\r${progressLine(p)}  `);
        else if (Date.now() - lastPrint > 5000 || finished) {
          say(progressLine(p));
          lastPrint = Date.now();
        }
      } catch {
        // MySQL away for a moment: progress is cosmetic, the master itself retries.
      }
    }
    if (env.tty) say('');
    const { code, signal } = finished;
    if (code === 0) {
      const run = await app.ledger().runs.get(d.day);
      const p = await progressOf(app, d.day, t0);
      if (p && !env.quiet) say(progressLine(p));
      const what = run?.plan_kind === 'late' && run.epoch > startEpoch ? `late data of ${run.merchant_days} merchant-day(s) re-run${run.state === 'waiting' ? '; others not due yet' : ''}`
        : run?.state === 'waiting' ? 'done for the merchant-days that are due; the others are not due yet'
          : run?.state === 'complete' ? 'complete' : run?.state ?? 'unknown';
      say(`day ${d.day} ${what} (epoch ${run?.epoch ?? '?'}) after ${((Date.now() - t0) / 1000).toFixed(1)} s${env.pool && env.pool.restarts ? `; ${env.pool.restarts} worker restart(s)` : ''}`);
      return 0;
    }
    if (code === 3 || code === 5) {
      const run = await app.ledger().runs.get(d.day);
      say(`day ${d.day} ${code === 5 ? 'REFUSED' : 'FAILED'}: ${run?.error ?? 'see master log'} (log: ${join(logDir, 'master.log')})`);
      return code;
    }
    if (code === 4) {
      // The master met a live holder after all (it started between our check and its acquire), or lost its lease.
      const run = await app.ledger().runs.get(d.day).catch(() => undefined);
      say(`day ${d.day} is held by ${run?.lock_owner ?? 'another master'}${run?.lock_live ? ' (a live lease)' : ''}; not starting a second one`);
      return 4;
    }
    if (env.interrupted) {
      // Without this the advised resume would wait for the dead master's lease to lapse.
      await releaseLeaseOf(app, d.day, master.pid).catch(() => undefined);
      say('interrupted: the run is checkpointed; run `stageline nightly` again to resume');
      return 130;
    }
    // After a crash the run is resumed, never re-planned under yet another epoch; but a master
    // that died before it opened the new epoch has not rerun anything yet.
    if (mode === 'rerun' && (await epochBefore()) !== startEpoch) mode = 'resume';
    if (attempt >= cfg.pipeline.masterRestarts) {
      say(`master died ${attempt + 1} times (last: ${signal ?? `exit ${code}`}); giving up. Log: ${join(logDir, 'master.log')}`);
      return 1;
    }
    // The dead master still holds the day's lease until it expires. It was our child on this host and it is gone: release it.
    await releaseLeaseOf(app, d.day, master.pid).catch((e: unknown) => say(`could not release the dead master's lease: ${errorMessage(e)}`));
    const delay = backoffDelay(attempt + 1, { initialDelayMs: 500, maxDelayMs: 10_000, factor: 2 }, Math.random);
    env.metrics.masterRespawned();
    say(`master died (${signal ?? `exit ${code}`}); re-spawning in ${delay} ms to resume from MySQL (log: ${join(logDir, 'master.log')})`);
    await sleep(delay);
  }
}

const addDays = (day: string, n: number): string => new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

/**
 * The days a nightly runs: the one asked for; or yesterday (UTC) and then every earlier day within
 * the lookback that has late data (oldest first after yesterday), so a nightly catches up by itself.
 */
export async function nightlyDays(app: App, o: Pick<NightlyOptions, 'day' | 'now'>, lookbackDays: number): Promise<string[]> {
  if (o.day !== undefined) return [o.day];
  const yesterday = yesterdayUtc(o.now ?? Date.now());
  const since = addDays(yesterday, -lookbackDays);
  const late = (await app.ledger().late.days(since)).map((d) => d.day);
  // Days waiting for merchant-days that were not due yet (a long grace, zones far west).
  const waiting = (await app.ledger().runs.range(since, yesterday)).filter((r) => r.state === 'waiting').map((r) => r.day);
  return [yesterday, ...[...new Set([...late, ...waiting])].filter((d) => d < yesterday).sort()];
}

/** The merchant-days of a day not planned because they are not due yet, at `nowMs`. */
export async function notDueOf(app: App, day: string, nowMs: number): Promise<MerchantDayDue[]> {
  const ledger = app.ledger();
  const unplanned = new Set(await unplannedMerchants(ledger, day));
  if (unplanned.size === 0) return [];
  const dues = await dueOfDay(ledger, day, await ledger.registry.histories(), nowMs, app.cfg.pipeline.dayGraceMin * 60_000);
  return dues.filter((d) => unplanned.has(d.merchant_id) && !d.due);
}

export function notDueLine(d: MerchantDayDue): string {
  return `  not due yet: ${d.merchant_id} (${d.frame.time_zone}): its day ends ${d.frame.end_iso}, due at ${new Date(d.due_at).toISOString()}`;
}

export async function runNightly(ctx: NightlyContext, o: NightlyOptions): Promise<number> {
  const probe = createApp(ctx.cfg, ctx.log);
  let days: string[];
  try {
    days = await nightlyDays(probe, o, ctx.cfg.pipeline.lateLookbackDays);
  } finally {
    await probe.close();
  }
  const env = await startNightEnv(ctx, { workers: o.workers, quiet: o.quiet, logDir: join(ctx.cfg.stack.dir, 'logs', days[0]!) });
  try {
    if (days.length > 1) env.say(`days to run: ${days[0]} (yesterday), then ${days.slice(1).join(', ')} (late data within ${ctx.cfg.pipeline.lateLookbackDays} days)`);
    let result = 0;
    const report: NightlyDayResult[] = [];
    for (const day of days) {
      if (env.interrupted) return 130;
      let mode: AcquireMode = o.rerun ? 'rerun' : 'late';
      for (;;) {
        const code = await superviseDay(env, { day, mode, trigger: 'nightly', allowSmallDay: o.allowSmallDay });
        if (code === 130) return 130;
        const notDue = code === 0 ? await notDueOf(env.app, day, Date.now()) : [];
        if (!o.json) for (const d of notDue) env.say(notDueLine(d));
        if (code !== 0 || notDue.length === 0 || !o.wait) {
          const run = await env.app.ledger().runs.get(day);
          report.push({ day, code, state: run?.state ?? null, epoch: run?.epoch ?? null, not_due: notDue.map((d) => ({ merchant_id: d.merchant_id, time_zone: d.frame.time_zone, day_end: d.frame.end_iso, due_at: new Date(d.due_at).toISOString() })) });
          if (result === 0 && code !== 0) result = code;
          break;
        }
        // --wait: sleep until the next merchant-day is due, then run the day again for it.
        const next = Math.min(...notDue.map((d) => d.due_at));
        env.say(`--wait: ${notDue.length} merchant-day(s) of ${day} not due yet; the next at ${new Date(next).toISOString()}`);
        while (Date.now() < next && !env.interrupted) await sleep(Math.min(60_000, next - Date.now()));
        if (env.interrupted) return 130;
        mode = 'late';
      }
    }
    if (o.json) for (const r of report) process.stdout.write(`${JSON.stringify(r)}\n`);
    return result;
  } finally {
    await env.close();
  }
}
