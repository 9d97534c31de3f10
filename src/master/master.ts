/**
 * The master: single-threaded, no data work. It takes the day's lease, plans once, publishes every
 * chunk not yet published, then follows the ledger until every merchant-day is done. Each step is
 * a ledger checkpoint, so a re-spawned master resumes exactly where the dead one stopped: a planned
 * day is never re-planned, and a chunk whose publish was not recorded is published again (split
 * absorbs the duplicate).
 *
 * Every run-state write is guarded by the lease, and the lease is renewed in the background for as
 * long as the master works (planning and publishing included): a master whose lease lapsed (frozen,
 * partitioned, far too slow) finds its next write refused and stops, changing nothing.
 *
 * Everything it touches comes in as a port (the ledger, a chunk publisher, a clock, the message
 * limit), so the loop runs in unit tests on the in-memory ledger and a fake clock.
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { StagelineError } from '../errors.js';
import { planDay } from '../domain/plan.js';
import { frameOfMerchantDay, merchantDaysDue, type Histories, type MerchantDayDue } from '../domain/due.js';
import type { AcquireMode, BatchShape, ChunkRow, Ledger, RunLease, RunProgress, RunTrigger } from '../ledger/types.js';

export interface ChunkPublisher {
  /** Publishes the chunks' tasks; resolves when the broker acknowledged them all. */
  publish(run: RunLease, chunks: ChunkRow[], publishedAt: number): Promise<void>;
  /** The largest message the pipeline's topics take, in bytes (the plan bounds every message below it). */
  maxMessageBytes(): Promise<number>;
}

export interface MasterSettings {
  buckets: number;
  chunkRows: number;
  /** visitors per batch: fixed into the plan, so every split replica cuts alike */
  batchVisitors: number;
  stuckAfterSec: number;
  maxRepublish: number;
  /** a merchant-day is due this long after its local day ended (STAGELINE_DAY_GRACE_MIN) @defaultValue 0 */
  dayGraceMs?: number;
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
  /** what to do with a complete day: nothing, run it again whole, or re-run its merchant-days with late data */
  mode: AcquireMode;
  trigger?: RunTrigger;
  /** plan a day even when it has no rows, or far fewer than usual */
  allowSmallDay?: boolean;
  /** below this share of the trailing 7-day median a day is refused as small @defaultValue 0.2 */
  minDayFraction?: number;
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

/** waiting: the due merchant-days are done, others are not due yet (a later run of the day plans them) */
export type MasterOutcome = 'complete' | 'waiting' | 'already-complete' | 'failed' | 'small-day';

export function toProgress(p: RunProgress, elapsedMs: number): Progress {
  return {
    day: p.run.day, epoch: p.run.epoch, state: p.run.state, chunks: p.run.chunks, chunksPublished: p.chunks.published, chunksSplit: p.chunks.split,
    merchantDays: p.run.merchant_days, merchantDaysDone: p.merchantDays.done, plannedRows: p.run.planned_rows, eventsDone: p.merchantDays.events,
    deadLetters: Object.values(p.deadLetters).reduce((a, b) => a + b, 0), elapsedMs,
  };
}

/**
 * Message bounds from the topics' limit, with a margin for what an estimate cannot see (headers,
 * the record batch around one record): a quarter of it.
 */
export function batchShape(maxMessageBytes: number, maxVisitors: number): BatchShape {
  const bytes = Math.floor(maxMessageBytes * 0.75);
  return { maxVisitors, maxBatchBytes: bytes, maxPartialBytes: bytes };
}

/** Bytes a ChunkTask spends per range at most (merchant id, two ints, framing). */
const RANGE_BYTES = 96;

const lost = (day: string) => new StagelineError('CONFLICT', `lost the lease on ${day} to another master: stopping, nothing more written`);

/** Renews the lease every third of its length while the master works; `check()` throws once it is lost. */
class LeaseKeeper {
  private lostIt = false;
  private stop: () => void = () => undefined;
  constructor(private readonly ports: MasterPorts, private readonly day: string, private readonly owner: string, private readonly leaseSec: number) {}

  start(): void {
    const id = setInterval(() => { void this.renew().catch(() => undefined); }, Math.max(200, (this.leaseSec * 1000) / 3));
    id.unref?.();
    this.stop = () => clearInterval(id);
  }

  async renew(): Promise<void> {
    if (this.lostIt) return;
    if (!(await this.ports.ledger.runs.renewLease(this.day, this.owner, this.leaseSec))) this.lostIt = true;
  }

  /** Renews now and throws when the lease is gone. */
  async check(): Promise<void> {
    await this.renew();
    if (this.lostIt) throw lost(this.day);
  }

  /** For a guarded write's result: false means the lease is not ours any more. */
  guard(ok: boolean): void {
    if (!ok) {
      this.lostIt = true;
      throw lost(this.day);
    }
  }

  close(): void {
    this.stop();
  }
}

/** Publishes the given chunks in parts, recording each part as published once the broker acknowledged it. */
async function publishChunks(ports: MasterPorts, lease: LeaseKeeper, run: RunLease, owner: string, chunks: ChunkRow[], part: number, onCheckpoint?: (name: string) => void | Promise<void>): Promise<void> {
  for (let i = 0; i < chunks.length; i += part) {
    const slice = chunks.slice(i, i + part);
    await lease.check();
    await ports.publisher.publish(run, slice, ports.clock.now());
    lease.guard(await ports.ledger.plan.markPublished(run.day, run.epoch, owner, slice.map((c) => c.chunk_id)));
    lease.guard(await ports.ledger.runs.markFirstPublish(run.day, owner));
    await onCheckpoint?.('published-part');
  }
}

export async function runMaster(ports: MasterPorts, o: MasterOptions): Promise<MasterOutcome> {
  const { ledger, clock, settings } = ports;
  const leaseSec = o.leaseSec ?? 30;
  const pollMs = o.pollMs ?? 500;
  const part = o.publishPart ?? 100;
  const t0 = clock.now();
  // Zones: each merchant's day ends at its own time; only the due merchant-days are planned.
  const histories = await ledger.registry.histories();
  const graceMs = settings.dayGraceMs ?? 0;
  const dueNow = (await dueOfDay(ledger, o.day, histories, clock.now(), graceMs)).filter((d) => d.due).map((d) => d.merchant_id);
  const got = await ledger.runs.acquire({ day: o.day, owner: o.owner, leaseSec, mode: o.mode, trigger: o.trigger ?? 'nightly', newRunId: o.newRunId, due: dueNow });
  if (got.kind === 'already-complete') return got.state === 'waiting' ? 'waiting' : 'already-complete';
  if (got.kind === 'held') throw new StagelineError('CONFLICT', `a master for ${o.day} is already running (${got.owner}); its lease expires if it dies`);
  const run = got.run;
  const log = ports.log.child({ component: 'master', day: run.day, epoch: run.epoch, runId: run.run_id });
  const p: MasterPorts = { ...ports, log };
  const lease = new LeaseKeeper(p, run.day, o.owner, leaseSec);
  lease.start();
  try {
    await o.onCheckpoint?.('acquired');
    if (run.state === 'planning') {
      await lease.check();
      if (run.kind === 'full' && !o.allowSmallDay) {
        const small = await smallDay(ledger, run.day, o.minDayFraction ?? 0.2);
        if (small) {
          lease.guard(await ledger.runs.fail(run.day, run.epoch, o.owner, small));
          log.error({ report: small }, 'day refused as too small');
          return 'small-day';
        }
      }
      const limit = await p.publisher.maxMessageBytes();
      const shape = batchShape(limit, settings.batchVisitors);
      const maxRanges = Math.max(1, Math.floor(shape.maxBatchBytes / RANGE_BYTES));
      // Frames and the due rule as of planning time, for every merchant the snapshot holds (also
      // one whose first rows commit between the check above and the plan).
      const planAt = clock.now();
      const frame = (m: string) => frameOfMerchantDay(run.day, histories.get(m));
      const planned = await ledger.plan.create({
        day: run.day, epoch: run.epoch, owner: o.owner, kind: run.kind, shape, ...(run.kind === 'late' ? { merchants: 'late' as const } : {}),
        frame, due: (m) => planAt >= frame(m).end_ms + graceMs,
        planner: (counts) => planDay(run.day, run.epoch, counts, settings.buckets, settings.chunkRows, maxRanges),
      });
      if (planned === 'lost-lease') throw lost(run.day);
      log.info({ chunks: planned.chunks, merchantDays: planned.merchantDays, rows: planned.rows, snapshotSeq: planned.snapshotSeq, shape }, 'day planned');
      await o.onCheckpoint?.('planned');
    } else {
      log.info('resuming: the day is planned already');
    }

    await publishChunks(p, lease, run, o.owner, await ledger.plan.chunks(run.day, run.epoch, 'unpublished'), part, o.onCheckpoint);
    await o.onCheckpoint?.('published');

    let lastSignature = '';
    let lastChange = clock.now();
    for (;;) {
      await lease.check();
      const progress = await ledger.progress.read(run.day, settings.stuckAfterSec);
      if (!progress) throw new StagelineError('NOT_FOUND', `the run of ${run.day} disappeared`);
      o.onProgress?.(toProgress(progress, clock.now() - t0));
      if (progress.conflicts.length > 0) {
        // Two splits of one range disagreed: the numbers cannot be trusted, so the day is not complete.
        const report = `split conflict: ${progress.conflicts.map((c) => `${c.chunk_id}/${c.merchant_id}: ${c.detail}`).join('; ')}`;
        lease.guard(await ledger.runs.fail(run.day, run.epoch, o.owner, report));
        log.error({ report }, 'run failed');
        return 'failed';
      }
      if (progress.merchantDays.done >= progress.run.merchant_days) break;
      const signature = `${progress.chunks.split}/${progress.merchantDays.done}/${progress.partials}/${progress.ledger.sealed}`;
      if (signature !== lastSignature) {
        lastSignature = signature;
        lastChange = clock.now();
      } else if (clock.now() - lastChange > settings.stuckAfterSec * 1000) {
        if ((await republishStuck(p, lease, run, o.owner, part, progress)) === 'failed') return 'failed';
        lastChange = clock.now();
      }
      await clock.sleep(pollMs);
    }
    // Complete only when every merchant with rows on the day has a plan; otherwise some are not due
    // yet (or arrived after the plan): waiting, and the next run of the day plans them.
    const unplanned = await unplannedMerchants(ledger, run.day);
    const state = unplanned.length > 0 ? 'waiting' : 'complete';
    lease.guard(await ledger.runs.complete(run.day, run.epoch, o.owner, state));
    await o.onCheckpoint?.('complete');
    log.info({ elapsedMs: clock.now() - t0, ...(unplanned.length ? { waitingFor: unplanned.length } : {}) }, state === 'complete' ? 'run complete' : 'run done; merchant-days not due yet wait for a later run');
    return state;
  } finally {
    lease.close();
  }
}

/** Merchants with rows on the day and no plan of it (not due when it was planned, or new since). */
export async function unplannedMerchants(ledger: Ledger, day: string): Promise<string[]> {
  const planned = new Set((await ledger.merchantDays.epochs(day)).map((e) => e.merchant_id));
  return (await ledger.ingest.merchantsOf(day)).filter((m) => !planned.has(m));
}

/** Every merchant-day of the day with rows: its frame and whether it is due at `nowMs`. */
export async function dueOfDay(ledger: Ledger, day: string, histories: Histories, nowMs: number, graceMs: number): Promise<MerchantDayDue[]> {
  return merchantDaysDue(day, await ledger.ingest.merchantsOf(day), histories, nowMs, graceMs);
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const addDays = (day: string, n: number): string => new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

/**
 * Why a day looks wrong to plan, or undefined: no rows at all, or fewer than `fraction` of the
 * median of the 7 days before it (those with rows). An upstream outage looks like a quiet day;
 * marking it complete would publish wrong numbers, so it stops and says so (`--allow-small-day`).
 */
export async function smallDay(ledger: Ledger, day: string, fraction: number): Promise<string | undefined> {
  const trailing = Array.from({ length: 7 }, (_, i) => addDays(day, -(i + 1)));
  const totals = await ledger.ingest.dayTotals([day, ...trailing]);
  const rows = totals.get(day) ?? 0;
  const history = trailing.map((d) => totals.get(d)).filter((n): n is number => n !== undefined);
  const med = median(history);
  if (rows === 0) return `day ${day} has no ingested rows${history.length ? ` (the 7 days before: median ${med.toLocaleString('en-US')} rows)` : ''}; run with --allow-small-day to complete it empty`;
  if (med > 0 && rows < fraction * med) {
    return `day ${day} has ${rows.toLocaleString('en-US')} rows, ${((rows / med) * 100).toFixed(1)}% of the median of the 7 days before (${med.toLocaleString('en-US')}; below ${fraction * 100}% is refused); run with --allow-small-day if that is right`;
  }
  return undefined;
}

/** The failure report of a run whose chunks stayed stuck past the re-publish limit. */
export function stuckReport(maxRepublish: number, exhausted: ChunkRow[], lastDeadLetter: { stage: string; error: string } | undefined, errors: RunProgress['errors'] = []): string {
  const why = new Map(errors.map((e) => [e.chunk_id, e.error]));
  const chunks = exhausted.map((c) => `${c.chunk_id} (${why.get(c.chunk_id) ?? (c.split_done ? 'split done; waiting on transform/summarize' : 'waiting on split')})`).join(', ');
  return `stuck after ${maxRepublish} re-publications: chunks ${chunks}${lastDeadLetter ? `; last dead letter: ${lastDeadLetter.stage}: ${lastDeadLetter.error}` : ''}`;
}

/**
 * No progress for stuckAfterSec: the chunks of unfinished merchant-days are split again (their
 * split mark is cleared so split redoes them; every downstream write absorbs what was already
 * done). After maxRepublish rounds the run is marked failed with the list of what is stuck.
 */
async function republishStuck(ports: MasterPorts, lease: LeaseKeeper, run: RunLease, owner: string, part: number, progress: RunProgress): Promise<'republished' | 'failed'> {
  const { ledger, settings, log } = ports;
  const stuck = await ledger.plan.chunksOfPendingMerchantDays(run.day, run.epoch);
  const exhausted = stuck.filter((c) => c.publish_count > settings.maxRepublish);
  if (exhausted.length > 0) {
    const report = stuckReport(settings.maxRepublish, exhausted, await ledger.deadLetters.last(), progress.errors);
    lease.guard(await ledger.runs.fail(run.day, run.epoch, owner, report));
    log.error({ report }, 'run failed');
    return 'failed';
  }
  log.warn({ chunks: stuck.map((c) => c.chunk_id) }, 'no progress: re-publishing chunks of unfinished merchant-days');
  lease.guard(await ledger.plan.resetSplit(run.day, run.epoch, owner, stuck.map((c) => c.chunk_id)));
  await publishChunks(ports, lease, run, owner, stuck, part);
  return 'republished';
}
