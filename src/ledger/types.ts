/**
 * The ledger: every piece of run state the pipeline keeps in MySQL, behind named, typed
 * operations. One port per aggregate (runs and leases; the plan; chunks and seals; merchant-days
 * and partials; progress; offsets; work reports; quarantine; dead letters; ingest's bucket counts),
 * with one MariaDB implementation (./sql/*.ts, one function per statement) and one in-memory twin
 * (./memory.ts). test/support/ledger-conformance.ts runs the same cases on both.
 *
 * Times are epoch milliseconds. The MariaDB implementation takes "now" from the server's clock
 * (NOW(3)), so leases and ages never depend on the skew between hosts; the in-memory twin takes it
 * from an injected clock, which is what lets the master's loop run on a fake clock in unit tests.
 */
import type { ChunkRange, Plan } from '../domain/plan.js';
import type { MerchantFrame, ZoneHistory } from '../domain/zones.js';

export type { MerchantFrame };

/** waiting: every merchant-day that is due is done, some are not due yet (the next run of the day plans them) */
export type RunState = 'planning' | 'running' | 'complete' | 'failed' | 'waiting';
export type RunTrigger = 'nightly' | 'backfill' | 'replay';
/** resume: go on with the day as recorded; rerun: a complete day again, whole; late: a complete day's merchant-days with late data */
export type AcquireMode = 'resume' | 'rerun' | 'late';

export interface RunRecord {
  day: string;
  epoch: number;
  run_id: string;
  state: RunState;
  from_stage: string;
  /** what the current epoch's plan covers */
  plan_kind: 'full' | 'late';
  trigger: RunTrigger;
  chunks: number;
  merchant_days: number;
  planned_rows: number;
  lock_owner: string | null;
  /** the lease is held (owner set and not yet expired) */
  lock_live: boolean;
  lock_expires_at: number | null;
  /** when the holder last renewed it: a lease that stopped moving belongs to a dead or frozen master */
  lock_renewed_at: number | null;
  error: string | null;
  started_at: number;
  first_publish_at: number | null;
  completed_at: number | null;
}

/** What a master holds after acquiring a day. */
export interface RunLease {
  day: string;
  epoch: number;
  run_id: string;
  state: RunState;
  /** what its plan covers (a new epoch opened for late data plans only those merchant-days) */
  kind: 'full' | 'late';
}

export type AcquireResult =
  | { kind: 'acquired'; run: RunLease }
  /** nothing to do: complete (no late data), or waiting with nothing more due yet */
  | { kind: 'already-complete'; epoch: number; state: 'complete' | 'waiting' }
  | { kind: 'held'; owner: string };

export interface AcquireRequest {
  day: string;
  owner: string;
  leaseSec: number;
  /** what to do with a complete day */
  mode: AcquireMode;
  /**
   * The merchants whose day is due now, among those with rows (the master knows zones and the
   * clock; the ledger does not). A complete or waiting day gets a new epoch in mode 'late' when one
   * of them has late data or has no plan yet. Absent: every merchant is due.
   */
  due?: readonly string[];
  trigger?: RunTrigger;
  newRunId: (epoch: number) => string;
}

/** Opening a replay epoch: the plan of `fromEpoch` copied into `toEpoch`, checkpoints from `fromStage` on emptied. */
export interface ReplayEpoch {
  day: string;
  fromEpoch: number;
  toEpoch: number;
  fromStage: string;
  /** split's ledger (seals, split_done) is kept: the from-stage comes after split */
  keepSplit: boolean;
  /** the from-stage's input topic: its offset ranges carry over into the new epoch */
  topic: string;
  /** the epoch the messages on the from-stage's input carry (sourceEpochOf) */
  sourceEpoch: number;
}

export interface RunsPort {
  get(day: string): Promise<RunRecord | undefined>;
  /** The day's current epoch; undefined when no run was ever recorded. */
  currentEpoch(day: string): Promise<number | undefined>;
  /** The day of the most recently touched run. */
  latestDay(): Promise<string | undefined>;
  /** Runs of the days from..to (inclusive), in day order. */
  range(from: string, to: string): Promise<RunRecord[]>;
  /** Runs whose lease is held right now (a master is working on them). */
  active(): Promise<RunRecord[]>;
  /** Takes the day's lease in one transaction; refuses ('held') while another live owner holds it. */
  acquire(req: AcquireRequest): Promise<AcquireResult>;
  /** False when the lease is no longer ours (expired and taken, or released). */
  renewLease(day: string, owner: string, leaseSec: number): Promise<boolean>;
  /** Clears a lease whose owner starts with `ownerPrefix` (`host:pid:` of a process known to be dead). */
  releaseLeaseByPrefix(day: string, ownerPrefix: string): Promise<boolean>;
  /** The run-state writes of a master are all guarded by its lease: a zombie whose lease was taken changes nothing. */
  markFirstPublish(day: string, owner: string): Promise<boolean>;
  /** The epoch's merchant-days are done: the day is complete, or waiting when some merchant-days are not due yet. */
  complete(day: string, epoch: number, owner: string, state?: 'complete' | 'waiting'): Promise<boolean>;
  fail(day: string, epoch: number, owner: string, report: string): Promise<boolean>;
  /** Gives the lease up (an interrupted master); false when it is not ours. */
  releaseLease(day: string, owner: string): Promise<boolean>;
  /** Copies the plan into a new epoch and opens it (replay); false when the day moved on meanwhile. */
  openReplayEpoch(r: ReplayEpoch): Promise<boolean>;
}

export interface ChunkRow {
  chunk_id: string;
  seq: number;
  ranges: ChunkRange[];
  est_rows: number;
  publish_count: number;
  published: boolean;
  split_done: boolean;
}

/** How big a batch may be, fixed per epoch at planning (every replica, every retry cuts alike). */
export interface BatchShape {
  maxVisitors: number;
  maxBatchBytes: number;
  maxPartialBytes: number;
}

/** What an epoch's plan fixed: the raw snapshot and the batch shape. */
export interface EpochMeta {
  day: string;
  epoch: number;
  kind: 'full' | 'replay' | 'late';
  /** cells of ingest batches committed up to this sequence number are in the epoch; later ones are late data */
  snapshotSeq: number;
  shape: BatchShape;
  planned_at: number;
  /** for a replay: the stage it restarts from, and the epoch of the messages on that stage's input */
  fromStage?: string;
  sourceEpoch?: number;
}

export interface PlanRequest {
  day: string;
  epoch: number;
  owner: string;
  kind: EpochMeta['kind'];
  shape: BatchShape;
  /**
   * only these merchant-days; 'late': those with late data and those with rows but no plan yet,
   * read inside the plan's transaction; all when absent. Either way only the due ones (`due`).
   */
  merchants?: readonly string[] | 'late';
  /** whether a merchant's day is due (its local day ended, plus the grace); absent: all are */
  due?: (merchantId: string) => boolean;
  /** each planned merchant-day's frame, stored with it */
  frame: (merchantId: string) => MerchantFrame;
  /** the pure planner, called inside the plan's transaction on the counts of the snapshot */
  planner: (counts: BucketCountRow[]) => Plan;
}

export interface PlanPort {
  /**
   * Fixes the snapshot, plans from its exact bucket counts and stores the plan, the epoch's meta
   * and each merchant-day's current epoch, and moves the run to running: one transaction, under
   * the lease. 'lost-lease' when the lease is not ours; a repeat returns the stored plan's size.
   */
  create(req: PlanRequest): Promise<{ chunks: number; merchantDays: number; rows: number; snapshotSeq: number } | 'lost-lease'>;
  meta(day: string, epoch: number): Promise<EpochMeta | undefined>;
  chunks(day: string, epoch: number, filter?: 'unpublished' | 'all'): Promise<ChunkRow[]>;
  markPublished(day: string, epoch: number, owner: string, chunkIds: string[]): Promise<boolean>;
  /** Chunks holding part of a merchant-day that is not done yet (what stuck detection re-publishes). */
  chunksOfPendingMerchantDays(day: string, epoch: number): Promise<ChunkRow[]>;
  /** Clears split_done so split redoes the chunks. */
  resetSplit(day: string, epoch: number, owner: string, chunkIds: string[]): Promise<boolean>;
}

export interface SplitCountsRecord {
  rows_read: number;
  valid: number;
  invalid: number;
  batches: number;
}

/** One range of a chunk as split needs it: the rows the plan expects it to read, and its merchant-day's frame. */
export interface SplitRange extends ChunkRange {
  expected_rows: number;
  /** start (ms) and hourly entries of the merchant-day (UTC for plans made before frames were stored) */
  day_start: number;
  hours: number;
}

export interface SealRequest {
  day: string;
  epoch: number;
  chunkId: string;
  merchantId: string;
  counts: SplitCountsRecord;
  digest: Buffer;
  /** every batch the seal commits to */
  batches: ReadonlyArray<{ id: string; events: number }>;
}

/** sealed: first seal; same: an identical re-seal (a retry), nothing changed; conflict: a re-seal that disagrees (an alarm, nothing changed). */
export type SealOutcome = 'sealed' | 'same' | 'conflict';

export interface ChunksPort {
  get(day: string, epoch: number, chunkId: string): Promise<(ChunkRow & { ranges: SplitRange[] }) | undefined>;
  /** Counts one more start of split on the chunk (redone work shows as split_runs > 1). */
  beginSplit(day: string, epoch: number, chunkId: string): Promise<void>;
  /**
   * Seals one (chunk, merchant-day): what split read and the batch ids it emitted. The batch ids
   * become the merchant-day's expected set; partials already stored are checked against it
   * (received, or refused when outside it). A re-seal never overwrites.
   */
  seal(s: SealRequest): Promise<SealOutcome>;
  /** Why the last attempt at a range did not seal (shown by status and in a failed run's report). */
  recordError(day: string, epoch: number, chunkId: string, merchantId: string, error: string): Promise<void>;
  finishSplit(day: string, epoch: number, chunkId: string): Promise<void>;
}

export interface PartialRow {
  day: string;
  epoch: number;
  merchant_id: string;
  batch_id: string;
  chunk_id: string;
  payload: Buffer;
}

/** The completeness ledger of one merchant-day, as summarize reads it: counters, never a recount. */
export interface Completeness {
  state: 'pending' | 'done';
  /** chunks of the plan that hold part of this merchant-day */
  chunks: number;
  /** of those, sealed by split */
  sealed: number;
  /** batches split sealed for this merchant-day */
  expectedBatches: number;
  /** of those, with their partial stored */
  receivedBatches: number;
  invalid: number;
  /** partials refused: their batch id is not in the sealed set */
  refusedPartials: number;
  /** the merchant-day's frame as planned (UTC for plans made before frames were stored) */
  frame: MerchantFrame;
}

export type PartialOutcome = 'stored' | 'duplicate' | 'refused';

export interface MerchantDayEpoch {
  merchant_id: string;
  /** the epoch it is computed under now */
  epoch: number;
  /** the latest epoch whose summary is written (undefined: none yet) */
  done_epoch: number | undefined;
  /** when that epoch was planned: the "as of" of its numbers */
  computed_at: number | undefined;
}

export interface MerchantDaysPort {
  /** Stores a partial once (its batch id is the key), checked against the sealed set when there is one. */
  addPartial(p: PartialRow): Promise<PartialOutcome>;
  completeness(day: string, epoch: number, merchantId: string): Promise<Completeness | undefined>;
  /** The received partials' payloads in batch_id order, a page at a time (a merge never holds them all). */
  partialPages(day: string, epoch: number, merchantId: string, pageSize?: number): AsyncIterable<Buffer[]>;
  /** pending → done, once; false when it was done already. Moves the merchant-day's done epoch up. */
  markDone(day: string, epoch: number, merchantId: string, events: number, invalidEvents: number): Promise<boolean>;
  /** Every merchant-day of a day with its current and done epochs. */
  epochs(day: string): Promise<MerchantDayEpoch[]>;
}

export interface ChunkStageWork {
  messages: number;
  events: number;
  replicas: number;
  queued_ms: number;
  handle_ms: number;
  write_ms: number;
}

export interface StageWork extends ChunkStageWork {
  first_at: number;
  last_at: number;
}

/** One read of a run's state: what the master follows, `status` shows and the master's metrics export. */
export interface RunProgress {
  run: RunRecord;
  chunks: { published: number; split: number; stuck: number };
  ledger: { ranges: number; sealed: number; batches: number; rows_read: number; valid: number };
  merchantDays: { done: number; stuck: number; events: number; refusedPartials: number };
  partials: number;
  /** seals that disagreed with the first seal of their range: each one fails the run */
  conflicts: Array<{ chunk_id: string; merchant_id: string; detail: string }>;
  /** ranges whose last split attempt failed without sealing, with why */
  errors: Array<{ chunk_id: string; merchant_id: string; error: string }>;
  work: Record<string, StageWork>;
  /** messages of a superseded epoch each stage dropped */
  dropped: Record<string, number>;
  /** dead letters recorded since the run started, by stage */
  deadLetters: Record<string, number>;
  /** the server's clock at the read */
  now: number;
}

export interface ChunkReport {
  chunk_id: string;
  seq: number;
  est_rows: number;
  publish_count: number;
  published_at: string | null;
  split_done_at: string | null;
  /** per stage: the sums, and the first and last instant a replica worked on the chunk (the timeline) */
  stages: Record<string, StageWork>;
}

export interface ProgressPort {
  /** Undefined when the day has no run. `stuckAfterSec` decides what counts as stuck. */
  read(day: string, stuckAfterSec: number): Promise<RunProgress | undefined>;
  chunkReports(day: string, epoch: number): Promise<ChunkReport[]>;
}

export interface OffsetRange {
  day: string;
  epoch: number;
  topic: string;
  partition: number;
  first: string;
  last: string;
}

export interface OffsetsPort {
  /** Widens the recorded range (first = least, last = greatest): a repeat changes nothing. */
  record(r: OffsetRange): Promise<void>;
  of(day: string, epoch: number, topic: string): Promise<Array<{ partition: number; first: string; last: string }>>;
}

export interface WorkTotals {
  day: string;
  epoch: number;
  chunkId: string;
  messages: number;
  /** of those, dropped: they were of a superseded epoch */
  dropped: number;
  events: number;
  queuedMs: number;
  handleMs: number;
  writeMs: number;
  firstAt: number;
  lastAt: number;
}

export interface WorkPort {
  /** Rewrites this replica's running totals per chunk (absolute values: a retried write changes nothing). */
  write(stage: string, replica: string, totals: WorkTotals[]): Promise<void>;
}

export interface QuarantineRow {
  visitor_id: string;
  event_id: string;
  reason: string;
  detail: string;
  raw: string;
}

export interface RejectsView {
  total: number;
  byReason: Record<string, number>;
  rows: Array<QuarantineRow & { merchant_id: string }>;
}

export interface QuarantinePort {
  add(day: string, merchantId: string, rows: QuarantineRow[]): Promise<void>;
  read(day: string, merchantId: string | undefined, limit: number): Promise<RejectsView>;
}

export interface DeadLetterRecord {
  stage: string;
  topic: string;
  partition: number;
  offset: string;
  code: string;
  error: string;
  /** the day (and epoch) the message was for, when it could be read */
  day?: string;
  epoch?: number;
  /** the original value, bounded (its full length in payload_bytes) */
  payload?: Buffer;
  payload_bytes?: number;
  key?: Buffer | null;
}

export interface DeadLetterRow {
  id: number;
  stage: string;
  topic: string;
  partition: number;
  offset: string;
  day: string | null;
  epoch: number | null;
  code: string;
  error: string;
  failed_at: number;
  payload_bytes: number | null;
  redriven_at: number | null;
  redrive_count: number;
}

export interface DeadLettersPort {
  add(d: DeadLetterRecord): Promise<void>;
  count(): Promise<number>;
  last(): Promise<{ stage: string; error: string } | undefined>;
  list(filter: { day?: string; stage?: string; pending?: boolean }, limit?: number): Promise<DeadLetterRow[]>;
  /** One dead letter with its stored payload and key. */
  get(id: number): Promise<(DeadLetterRow & { payload: Buffer | null; key: Buffer | null }) | undefined>;
  /** Marks them put back on their stage's input (counted: a redrive is idempotent downstream, and visible here). */
  markRedriven(ids: readonly number[]): Promise<void>;
}

export interface BucketCountRow {
  day: string;
  merchant_id: string;
  bucket: number;
  rows: number;
}

export interface IngestBatch {
  id: number;
  /** the commit sequence when it opened: a batch committed after it may have raced this one */
  openSeq: number;
}

/** Rows of a merchant-day whose stored occurrences an ingest batch changed (new identities or new occurrences). */
export interface TouchedMerchantDay {
  day: string;
  merchant_id: string;
  rows: number;
}

export interface IngestCommit {
  batch: IngestBatch;
  /** identities this batch stored first, per (day, merchant, bucket), as it saw them before writing */
  buckets: BucketCountRow[];
  touched: TouchedMerchantDay[];
  /**
   * Called inside the commit (under its lock) only when a batch that touched one of the same
   * merchant-days committed since this one opened: recount which identities are still this batch's
   * first, knowing those commits. Returns the bucket counts to add instead.
   */
  recheck(racing: ReadonlySet<number>): Promise<BucketCountRow[]>;
  /** the registry version the batch's days were computed under (registry.read); the commit refuses when a touched merchant changed since */
  zonesVersion?: number;
}

export interface IngestReject {
  /** the event's day when its merchant and ts could be read, else the day it was refused (UTC) */
  day: string;
  day_known: boolean;
  merchant_id: string | null;
  source: string;
  line_no: number;
  reason: string;
  detail: string;
  line_bytes: number;
  /** the line's first bytes, as received */
  head: Buffer;
  sha256: Buffer;
}

export interface IngestPort {
  open(): Promise<IngestBatch>;
  /** The commit sequence of each committed batch among `ids` (the others are not committed). */
  committed(ids: readonly number[]): Promise<Map<number, number>>;
  /**
   * Commits a batch: numbers it, adds its bucket counts, records which merchant-days it touched,
   * and counts late rows for merchant-days already planned. Idempotent ('already').
   */
  commit(c: IngestCommit): Promise<{ seq: number; late: TouchedMerchantDay[] } | 'already'>;
  /** Committed batches that wrote to a day, with their commit sequence (split applies the snapshot with it). */
  daySeqs(day: string): Promise<Map<number, number>>;
  /** The day's exact bucket counts (committed batches). */
  ofDay(day: string): Promise<BucketCountRow[]>;
  /** Merchants with committed rows on the day, in merchant order. */
  merchantsOf(day: string): Promise<string[]>;
  /** Rows stored per day (committed batches), for the days asked; days without rows are left out. */
  dayTotals(days: readonly string[]): Promise<Map<string, number>>;
  /** Rows stored over all days (committed batches) and the first and last day with any; undefined when none. */
  stored(): Promise<{ rows: number; firstDay: string; lastDay: string } | undefined>;
  addRejects(rows: readonly IngestReject[]): Promise<void>;
  rejects(day: string, limit: number): Promise<{ total: number; byReason: Record<string, number>; rows: Array<Omit<IngestReject, 'head' | 'sha256'> & { head: string; head_base64?: string }> }>;
}

/** Late data: rows stored after their merchant-day's snapshot was planned, waiting for a re-run. */
export interface LateDataPort {
  /** The merchant-days of a day with late rows, in merchant order. */
  ofDay(day: string): Promise<TouchedMerchantDay[]>;
  /** Every day with late data (days from `since` on, when given), with its merchant-days and rows. */
  days(since?: string): Promise<Array<{ day: string; merchantDays: number; rows: number }>>;
}

export interface PurgeCounts {
  [table: string]: number;
}

/** Retention: run bookkeeping of old days, in bounded batches. */
export interface RetentionPort {
  /**
   * Deletes, for days before `before`, what only a running night needs (partials, sealed batches,
   * work reports, offsets, the plans and merchant-days of superseded epochs), and the quarantine,
   * ingest refusals and dead letters of days before `quarantineBefore`; at most `batch` rows per
   * statement. With dryRun, counts what it would delete.
   */
  purge(o: { before: string; quarantineBefore: string; batch: number; dryRun: boolean }): Promise<PurgeCounts>;
  /** The superseded epochs of merchant-days of a day (each with the epoch now shown): what their old rows are keyed by. */
  superseded(day: string): Promise<Array<{ merchant_id: string; epoch: number }>>;
}

/** The merchant registry: each merchant's zone history (issue 13). */
export interface RegistryPort {
  /** Zone histories (from_day ascending) of these merchants, or of all; a merchant not listed is UTC. */
  histories(merchantIds?: readonly string[]): Promise<Map<string, ZoneHistory>>;
  /** Every history and the registry's version, read in one snapshot (what ingest keys days by). */
  read(): Promise<{ histories: Map<string, ZoneHistory>; version: number }>;
  /** The latest day with committed rows, per merchant (merchants without any are left out). */
  storedDays(merchantIds: readonly string[]): Promise<Map<string, string>>;
  /**
   * Replaces these merchants' histories, all in one transaction (an import is all or nothing), and
   * bumps the registry's version; give it real changes only: an ingest batch that read an older
   * version and touches a changed merchant refuses to commit.
   */
  apply(changes: ReadonlyArray<{ merchant_id: string; history: ZoneHistory }>): Promise<void>;
}

export interface Ledger {
  runs: RunsPort;
  registry: RegistryPort;
  retention: RetentionPort;
  late: LateDataPort;
  plan: PlanPort;
  chunks: ChunksPort;
  merchantDays: MerchantDaysPort;
  progress: ProgressPort;
  offsets: OffsetsPort;
  work: WorkPort;
  quarantine: QuarantinePort;
  deadLetters: DeadLettersPort;
  ingest: IngestPort;
}
