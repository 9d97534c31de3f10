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
import { toProgress, type Progress } from './master.js';
import { STAGES, type StageName } from '../../stages/index.js';
import { groupName } from '../../topology/index.js';
import { childMetricsArgs, serveNightlyMetrics } from '../prometheus.js';
import { waitForReplicas } from '../status.js';
import { bar } from '../progress-bar.js';

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

export interface NightlyOptions {
  day: string;
  workers: number;
  rerun: boolean;
  quiet: boolean;
}

export async function runNightly(ctx: NightlyContext, o: NightlyOptions): Promise<number> {
  const cfg = ctx.cfg;
  const logDir = join(cfg.stack.dir, 'logs', o.day);
  mkdirSync(logDir, { recursive: true });
  const fwd = forwardedFlags(ctx.flags);
  const say = (m: string) => process.stderr.write(`${m}\n`);
  const tty = process.stderr.isTTY === true && !o.quiet;

  const metrics = await serveNightlyMetrics(ctx, o.workers);
  const pool = o.workers > 0
    ? new WorkerPool(
      STAGES.flatMap((s, si) => Array.from({ length: o.workers }, (_, i) => ({ name: `${s}-${i + 1}`, stage: s, args: ['stage', s, '--exit-with-parent', ...fwd, ...childMetricsArgs(cfg.metricsPort, 1 + si * o.workers + i)], logFile: join(logDir, `${s}-${i + 1}.log`) }))),
      say,
      (stage) => { if (stage) metrics.workerRestarted(stage); },
    )
    : undefined;
  pool?.start();
  if (pool) say(`started ${o.workers} replica(s) of each stage; logs in ${logDir}`);
  else say('no --with-workers: waiting for stage workers running elsewhere');

  const app = createApp(cfg, ctx.log);
  if (pool && o.workers > 1) {
    const late = await waitForReplicas(app, o.workers, 30_000);
    if (late.length > 0) say(`replicas of ${late.join(', ')} had not joined after 30 s; starting the master anyway`);
  }
  let master: ChildProcess | undefined;
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    master?.kill('SIGTERM');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Consumer-group members per stage, for the "replicas missing" alert; Kafka away: skip a round.
  const members = setInterval(() => {
    void (async () => {
      const admin = await app.admin();
      for (const s of STAGES) metrics.groupMembers(s, (await admin.describeGroup(groupName(cfg.namespace, s))).members.length);
    })().catch(() => undefined);
  }, 5000);
  members.unref();
  const t0 = Date.now();
  try {
    let rerun = o.rerun;
    const epochBefore = async () => (await app.ledger().runs.currentEpoch(o.day)) ?? 0;
    const startEpoch = o.rerun ? await epochBefore() : 0;
    for (let attempt = 0; ; attempt++) {
      master = spawnStageline({ name: 'master', args: ['master', '--day', o.day, '--exit-with-parent', ...(rerun ? ['--rerun'] : []), ...fwd, ...childMetricsArgs(cfg.metricsPort, 0)], logFile: join(logDir, 'master.log') });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => master!.once('exit', (code, signal) => r({ code, signal })));
      let finished: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      void exited.then((x) => { finished = x; });
      let lastPrint = 0;
      while (!finished) {
        await Promise.race([exited, sleep(1000)]);
        if (o.quiet) continue;
        try {
          const p = await progressOf(app, o.day, t0);
          if (!p) continue;
          if (tty) process.stderr.write(`\r${progressLine(p)}  `);
          else if (Date.now() - lastPrint > 5000 || finished) {
            say(progressLine(p));
            lastPrint = Date.now();
          }
        } catch {
          // MySQL away for a moment: progress is cosmetic, the master itself retries.
        }
      }
      if (tty) say('');
      const { code, signal } = finished;
      if (code === 0) {
        const run = await app.ledger().runs.get(o.day);
        const p = await progressOf(app, o.day, t0);
        if (p) say(progressLine(p));
        say(`day ${o.day} ${run?.state === 'complete' ? 'complete' : run?.state ?? 'unknown'} (epoch ${run?.epoch ?? '?'}) after ${((Date.now() - t0) / 1000).toFixed(1)} s${pool && pool.restarts ? `; ${pool.restarts} worker restart(s)` : ''}`);
        return 0;
      }
      if (code === 3) {
        const run = await app.ledger().runs.get(o.day);
        say(`day ${o.day} FAILED: ${run?.error ?? 'see master log'} (log: ${join(logDir, 'master.log')})`);
        return 3;
      }
      if (code === 4) {
        say(`another master is running day ${o.day}; not starting a second one`);
        return 4;
      }
      if (interrupted) {
        // Without this the advised resume would be refused (exit 4) until the dead master's lease expires.
        await releaseLeaseOf(app, o.day, master.pid).catch(() => undefined);
        say('interrupted: the run is checkpointed; run `stageline nightly` again to resume');
        return 130;
      }
      // After a crash the run is resumed, never re-planned under yet another epoch; but a master
      // that died before it opened the new epoch has not rerun anything yet.
      rerun = o.rerun && (await epochBefore()) === startEpoch;
      if (attempt >= cfg.pipeline.masterRestarts) {
        say(`master died ${attempt + 1} times (last: ${signal ?? `exit ${code}`}); giving up. Log: ${join(logDir, 'master.log')}`);
        return 1;
      }
      // The dead master still holds the day's lease until it expires, so its successor would refuse
      // (exit 4) and this nightly would give up. It was our child on this host and it is gone: release it.
      await releaseLeaseOf(app, o.day, master.pid).catch((e: unknown) => say(`could not release the dead master's lease: ${errorMessage(e)}`));
      const delay = backoffDelay(attempt + 1, { initialDelayMs: 500, maxDelayMs: 10_000, factor: 2 }, Math.random);
      metrics.masterRespawned();
      say(`master died (${signal ?? `exit ${code}`}); re-spawning in ${delay} ms to resume from MySQL (log: ${join(logDir, 'master.log')})`);
      await sleep(delay);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    clearInterval(members);
    await pool?.stop();
    await metrics.close();
    await app.close();
  }
}
