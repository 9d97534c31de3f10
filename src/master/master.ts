/**
 * The master: single-threaded, no data work. It takes the day's lease, plans once, publishes every
 * chunk not yet published, then follows the ledger until every merchant-day is done. Each step is
 * a ledger checkpoint, so a re-spawned master resumes exactly where the dead one stopped: a planned
 * day is never re-planned, and a chunk whose publish was not recorded is published again (split
 * absorbs the duplicate).
 *
 * Everything it touches comes in as a port (the ledger, a chunk publisher, a clock), so the loop
 * runs in unit tests on the in-memory ledger and a fake clock.
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { StagelineError } from '../errors.js';
import { planDay } from '../domain/plan.js';
import type { ChunkRow, Ledger, RunLease, RunProgress } from '../ledger/types.js';

export interface ChunkPublisher {
  /** Publishes the chunks' tasks in one request; resolves when the broker acknowledged them all. */
  publish(run: RunLease, chunks: ChunkRow[], publishedAt: number): Promise<void>;
}

export interface MasterSettings {
  buckets: number;
  chunkRows: number;
  stuckAfterSec: number;
  maxRepublish: number;
}

export interface MasterPorts {
  ledger: Ledger;
  publisher: ChunkPublisher;
  clock: Clock;
  log: Logger;
  settings: MasterSettings;
}

export interface MasterOptions {
  day: string;
  /** run a completed day again under a new epoch */
  rerun: boolean;
  /** who holds the lease: host:pid:random */
  owner: string;
  /** new run ids come from the caller (ids passed in, not made up here) */
  newRunId: (epoch: number) => string;
  pollMs?: number;
  leaseSec?: number;
  /** chunks per publish request (and per checkpoint) @defaultValue 100 */
  publishPart?: number;
  onProgress?: (p: Progress) => void;
  /** test hook: called after each checkpoint with its name */
  onCheckpoint?: (name: string) => void | Promise<void>;
}

/** The flat progress line nightly prints and the master's metrics export. */
export interface Progress {
  day: string;
  epoch: number;
  state: string;
  chunks: number;
  chunksPublished: number;
  chunksSplit: number;
  merchantDays: number;
  merchantDaysDone: number;
  plannedRows: number;
  eventsDone: number;
  deadLetters: number;
  elapsedMs: number;
}

export type MasterOutcome = 'complete' | 'already-complete' | 'failed';

export function toProgress(p: RunProgress, elapsedMs: number): Progress {
  return {
    day: p.run.day, epoch: p.run.epoch, state: p.run.state, chunks: p.run.chunks, chunksPublished: p.chunks.published, chunksSplit: p.chunks.split,
    merchantDays: p.run.merchant_days, merchantDaysDone: p.merchantDays.done, plannedRows: p.run.planned_rows, eventsDone: p.merchantDays.events,
    deadLetters: Object.values(p.deadLetters).reduce((a, b) => a + b, 0), elapsedMs,
  };
}

async function plan(ports: MasterPorts, run: RunLease): Promise<void> {
  const { ledger, settings, log } = ports;
  const counts = await ledger.ingest.ofDay(run.day);
  const p = planDay(run.day, run.epoch, counts, settings.buckets, settings.chunkRows);
  await ledger.plan.save(run.day, run.epoch, p);
  const sizes = p.chunks.map((c) => c.est_rows).sort((a, b) => a - b);
  log.info({ chunks: p.chunks.length, merchantDays: p.merchantDays.length, rows: p.totalRows, chunkRowsMin: sizes[0] ?? 0, chunkRowsMedian: sizes[Math.floor(sizes.length / 2)] ?? 0, chunkRowsMax: sizes[sizes.length - 1] ?? 0 }, 'day planned');
}

/** Publishes the given chunks in parts, recording each part as published once the broker acknowledged it. */
export async function publishChunks(ports: MasterPorts, run: RunLease, chunks: ChunkRow[], part: number, onCheckpoint?: (name: string) => void | Promise<void>): Promise<void> {
  for (let i = 0; i < chunks.length; i += part) {
    const slice = chunks.slice(i, i + part);
    await ports.publisher.publish(run, slice, ports.clock.now());
    await ports.ledger.plan.markPublished(run.day, run.epoch, slice.map((c) => c.chunk_id));
    await ports.ledger.runs.markFirstPublish(run.day);
    await onCheckpoint?.('published-part');
  }
}

export async function runMaster(ports: MasterPorts, o: MasterOptions): Promise<MasterOutcome> {
  const { ledger, clock } = ports;
  const leaseSec = o.leaseSec ?? 30;
  const pollMs = o.pollMs ?? 500;
  const part = o.publishPart ?? 100;
  const t0 = clock.now();
  const got = await ledger.runs.acquire({ day: o.day, owner: o.owner, leaseSec, rerun: o.rerun, newRunId: o.newRunId });
  if (got.kind === 'already-complete') return 'already-complete';
  if (got.kind === 'held') throw new StagelineError('CONFLICT', `a master for ${o.day} is already running (${got.owner}); its lease expires if it dies`);
  const run = got.run;
  const log = ports.log.child({ component: 'master', day: run.day, epoch: run.epoch, runId: run.run_id });
  const p: MasterPorts = { ...ports, log };
  await o.onCheckpoint?.('acquired');

  if (run.state === 'planning') {
    await plan(p, run);
    await o.onCheckpoint?.('planned');
  } else {
    log.info('resuming: the day is planned already');
  }

  await publishChunks(p, run, await ledger.plan.chunks(run.day, run.epoch, 'unpublished'), part, o.onCheckpoint);
  await o.onCheckpoint?.('published');

  let lastSignature = '';
  let lastChange = clock.now();
  for (;;) {
    if (!(await ledger.runs.renewLease(run.day, o.owner, leaseSec))) throw new StagelineError('CONFLICT', `lost the lease on ${run.day} to another master`);
    const progress = await ledger.progress.read(run.day, ports.settings.stuckAfterSec);
    if (!progress) throw new StagelineError('NOT_FOUND', `the run of ${run.day} disappeared`);
    o.onProgress?.(toProgress(progress, clock.now() - t0));
    if (progress.merchantDays.done >= progress.run.merchant_days) break;
    const signature = `${progress.chunks.split}/${progress.merchantDays.done}/${progress.partials}`;
    if (signature !== lastSignature) {
      lastSignature = signature;
      lastChange = clock.now();
    } else if (clock.now() - lastChange > ports.settings.stuckAfterSec * 1000) {
      if ((await republishStuck(p, run, o.owner, part)) === 'failed') return 'failed';
      lastChange = clock.now();
    }
    await clock.sleep(pollMs);
  }
  await ledger.runs.complete(run.day, run.epoch, o.owner);
  await o.onCheckpoint?.('complete');
  log.info({ elapsedMs: clock.now() - t0 }, 'run complete');
  return 'complete';
}

/** The failure report of a run whose chunks stayed stuck past the re-publish limit. */
export function stuckReport(maxRepublish: number, exhausted: ChunkRow[], lastDeadLetter: { stage: string; error: string } | undefined): string {
  const chunks = exhausted.map((c) => `${c.chunk_id} (${c.split_done ? 'split done; waiting on transform/summarize' : 'waiting on split'})`).join(', ');
  return `stuck after ${maxRepublish} re-publications: chunks ${chunks}${lastDeadLetter ? `; last dead letter: ${lastDeadLetter.stage}: ${lastDeadLetter.error}` : ''}`;
}

/**
 * No progress for stuckAfterSec: the chunks of unfinished merchant-days are split again (their
 * split mark is cleared so split redoes them; every downstream write absorbs what was already
 * done). After maxRepublish rounds the run is marked failed with the list of what is stuck.
 */
async function republishStuck(ports: MasterPorts, run: RunLease, owner: string, part: number): Promise<'republished' | 'failed'> {
  const { ledger, settings, log } = ports;
  const stuck = await ledger.plan.chunksOfPendingMerchantDays(run.day, run.epoch);
  const exhausted = stuck.filter((c) => c.publish_count > settings.maxRepublish);
  if (exhausted.length > 0) {
    const report = stuckReport(settings.maxRepublish, exhausted, await ledger.deadLetters.last());
    await ledger.runs.fail(run.day, run.epoch, owner, report);
    log.error({ report }, 'run failed');
    return 'failed';
  }
  log.warn({ chunks: stuck.map((c) => c.chunk_id) }, 'no progress: re-publishing chunks of unfinished merchant-days');
  await ledger.plan.resetSplit(run.day, run.epoch, stuck.map((c) => c.chunk_id));
  await publishChunks(ports, run, stuck, part);
  return 'republished';
}
