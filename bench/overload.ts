/**
 * R4, the SEDA overload case, on windows of EQUAL length: workers already running (1 replica per
 * stage, warm), then
 *   nominal:  F days of B events, one day at a time (the next master starts when the day before
 *             is done): the load the pipeline absorbs as it arrives. Its window W is the sum of the
 *             days' own windows (first chunk published → last merchant-day done), so the masters'
 *             start-up between days is not counted as idle pipeline time;
 *   overload: F other days of B events published at once (F masters started together), and its
 *             goodput counted over the same length W from its first publish: the events of the
 *             merchant-days done by then ÷ W.
 * R4 = overload goodput ÷ nominal goodput. (Issue 15: the earlier R4 compared one 2-second day with
 * ten days in 9 s, i.e. start-up and tail against a full pipeline, and said nothing.) The ratio
 * cannot exceed ~1 by construction (the same events in the same time at best); < 1 is work lost to
 * overload (queueing, rebalances, memory pressure). The workers' RSS is sampled in both windows.
 *
 * The 2F days are generated (generateLines, B lines each, a few merchants, days two apart so the
 * spill-over onto D-1 and D+1 of one never lands on another) and ingested by `stageline ingest`
 * like any day: split reads only cells of committed ingest batches (the plan's snapshot), so the
 * earlier shortcut of copying raw rows under new days planned rows no scan could reconcile, and
 * split retried for ever.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, createWriteStream, rmSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import type { App } from '../src/app.js';
import { generateLines } from '../src/seed/generate.js';
import { STAGES } from '../stages/index.js';
import { ProcWatcher, summarize, type ProcSummary } from './procstat.js';
import { nsClassifier, runWindow, stageLogFacts, stageMeasures, type RunWindow, type StageMeasure } from './pipeline.js';
import { addDays, childEnv, cliPath, readFrom, round, runCli, say } from './common.js';
import { ingest } from './day.js';
import { sleep } from '../src/retry.js';

export interface OverloadPhase extends RunWindow {
  days: string[];
  stages: Record<string, StageMeasure>;
  /** highest VmRSS of each worker inside the phase window */
  workerPeakRssMb: Record<string, number>;
  machineBusy: number;
}

export interface OverloadResult {
  /** the length both goodputs are counted over, ms (Σ of the nominal days' windows) */
  equalWindowMs: number;
  /** overload events done within equalWindowMs of its first publish */
  overloadEventsInWindow: number;
  nominalGoodput: number;
  overloadGoodput: number;
  factor: number;
  baseEvents: number;
  merchants: number;
  /** generating and ingesting the phase days, ms */
  prepareMs: number;
  nominal: OverloadPhase;
  overload: OverloadPhase;
  r4: number;
  /** the workers' VmHWM at the end: the peak over both phases */
  workerPeakRssMb: Record<string, number>;
}

/** The phase days' traffic, generated into one NDJSON file: B lines of `merchants` merchants per day. */
async function writeDays(file: string, days: string[], lines: number, merchants: number, seed: number): Promise<void> {
  const out = createWriteStream(file);
  for (const day of days) {
    let buf = '';
    for (const line of generateLines({ day, events: lines, merchants, seed })) {
      buf += line + '\n';
      if (buf.length > 1 << 16) {
        if (!out.write(buf)) await once(out, 'drain');
        buf = '';
      }
    }
    if (!out.write(buf)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
}

interface Worker {
  stage: string;
  child: ChildProcess;
  log: string;
}

function spawnWorker(ns: string, stage: string, log: string): Worker {
  const fd = openSync(log, 'a');
  const child = spawn(process.execPath, [cliPath, 'stage', stage, '--namespace', ns], { env: childEnv(), stdio: ['ignore', fd, fd] });
  closeSync(fd);
  return { stage, child, log };
}

async function waitRunning(workers: Worker[], timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ready = workers.filter((w) => readFrom(w.log, 0).includes('"msg":"stage running"'));
    if (ready.length === workers.length) return;
    if (Date.now() > deadline) throw new Error(`workers not running after ${timeoutMs} ms: see ${workers.map((w) => w.log).join(', ')}`);
    await sleep(250);
  }
}

async function stopWorkers(workers: Worker[]): Promise<void> {
  await Promise.all(workers.map((w) => new Promise<void>((resolve) => {
    if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
    const t = setTimeout(() => w.child.kill('SIGKILL'), 40_000);
    w.child.once('exit', () => { clearTimeout(t); resolve(); });
    w.child.kill('SIGTERM');
  })));
}

async function runMasters(app: App, ns: string, days: string[]): Promise<void> {
  const results = await Promise.all(days.map((d) => runCli(['master', '--day', d, '--rerun'], ns, { env: childEnv({ STAGELINE_LOG_LEVEL: 'warn' }) })));
  results.forEach((r, i) => {
    if (r.code !== 0) throw new Error(`master for ${days[i]} exited ${r.code}: ${r.stderr.slice(-1000)}`);
  });
}

/** Events of the merchant-days (of these days' current epochs) done by `untilMs`. */
async function eventsDoneBy(app: App, days: string[], untilMs: number): Promise<number> {
  let n = 0;
  for (const day of days) {
    const [row] = await app.db().query<{ ev: string | number | null }>(
      'SELECT SUM(COALESCE(md.events, 0) + COALESCE(md.invalid_events, 0)) AS ev FROM merchant_days md JOIN runs r ON r.day = md.day AND r.epoch = md.epoch WHERE md.day = ? AND md.done_at IS NOT NULL AND UNIX_TIMESTAMP(md.done_at) * 1000 <= ?',
      [day, untilMs],
    );
    n += Number(row?.ev ?? 0);
  }
  return n;
}

function phase(w: RunWindow, days: string[], procs: ProcSummary[], watcher: ProcWatcher): OverloadPhase {
  const workerPeakRssMb: Record<string, number> = {};
  for (const p of procs.filter((x) => (STAGES as readonly string[]).includes(x.label))) workerPeakRssMb[`${p.label}(${p.pid})`] = round(p.windowPeakRssMb, 0);
  return { ...w, days, stages: stageMeasures(procs, {}, w.events), workerPeakRssMb, machineBusy: round(watcher.machineBusy(w.firstPublishMs, w.lastDoneMs), 2) };
}

export async function runOverload(app: App, ns: string, day: string, factor: number, baseEvents: number, workDir: string, merchants = 5, seed = 1): Promise<OverloadResult> {
  const days = Array.from({ length: 2 * factor }, (_, i) => addDays(day, 100 + 2 * i));
  const nominalDays = days.slice(0, factor);
  const overloadDays = days.slice(factor);
  say(`R4: generating and ingesting ${days.length} days × ${baseEvents.toLocaleString('en-US')} lines of ${merchants} merchants (${days[0]}..${days[days.length - 1]})`);
  const c0 = Date.now();
  const file = join(workDir, 'r4-days.ndjson');
  await writeDays(file, days, baseEvents, merchants, seed);
  await ingest(ns, file, 0);
  rmSync(file, { force: true });
  const prepareMs = Date.now() - c0;

  const watcher = new ProcWatcher(nsClassifier(ns)).start();
  const workers = STAGES.map((s) => spawnWorker(ns, s, join(workDir, `r4-${s}.log`)));
  let nominal: OverloadPhase;
  let overload: OverloadPhase;
  let equalWindowMs = 0;
  let overloadEventsInWindow = 0;
  try {
    await waitRunning(workers);
    // A moment for the group's initial rebalance to settle so neither phase pays for it.
    await sleep(2000);
    say(`R4: workers warm; nominal = ${factor} days one at a time`);
    let busyMs = 0;
    for (const d of nominalDays) {
      await runMasters(app, ns, [d]);
      busyMs += (await runWindow(app, [d])).windowMs;
    }
    const wn = await runWindow(app, nominalDays);
    equalWindowMs = busyMs;
    say(`R4: nominal ${Math.round(wn.events / (busyMs / 1000))} events/s over ${round(busyMs / 1000, 1)} s busy; overload = ${factor} days published at once`);
    await runMasters(app, ns, overloadDays);
    const wo = await runWindow(app, overloadDays);
    overloadEventsInWindow = await eventsDoneBy(app, overloadDays, wo.firstPublishMs + busyMs);
    say(`R4: overload ${Math.round(overloadEventsInWindow / (busyMs / 1000))} events/s in the first ${round(busyMs / 1000, 1)} s (all done after ${round(wo.windowMs / 1000, 1)} s)`);
    const procsN = [...watcher.tracked.values()].map((t) => summarize(t, wn.firstPublishMs, wn.lastDoneMs));
    const procsO = [...watcher.tracked.values()].map((t) => summarize(t, wo.firstPublishMs, wo.lastDoneMs));
    nominal = phase(wn, nominalDays, procsN, watcher);
    overload = phase(wo, overloadDays, procsO, watcher);
  } finally {
    await stopWorkers(workers);
    watcher.stop();
  }
  const workerPeakRssMb: Record<string, number> = {};
  for (const t of watcher.tracked.values()) {
    if (!(STAGES as readonly string[]).includes(t.label)) continue;
    workerPeakRssMb[t.label] = round(Math.max(workerPeakRssMb[t.label] ?? 0, summarize(t, 0, Date.now()).peakRssMb), 0);
  }
  // handle latencies from the workers' `stopped` lines cover both phases; attach them to overload
  for (const w of workers) {
    const f = stageLogFacts(readFrom(w.log, 0));
    const st = overload.stages[w.stage];
    if (st) Object.assign(st, stageMeasures([], { [w.stage]: f }, 1)[w.stage], { replicas: st.replicas, cpuMs: st.cpuMs, windowCpuMs: st.windowCpuMs, usPerEvent: st.usPerEvent, windowUsPerEvent: st.windowUsPerEvent, peakRssMb: st.peakRssMb });
  }
  const nominalGoodput = nominal.events / (equalWindowMs / 1000);
  const overloadGoodput = overloadEventsInWindow / (equalWindowMs / 1000);
  return {
    equalWindowMs, overloadEventsInWindow, nominalGoodput: Math.round(nominalGoodput), overloadGoodput: Math.round(overloadGoodput),
    factor, baseEvents, merchants, prepareMs, nominal, overload, r4: round(overloadGoodput / nominalGoodput, 2), workerPeakRssMb,
  };
}
