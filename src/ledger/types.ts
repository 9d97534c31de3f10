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

export type RunState = 'planning' | 'running' | 'complete' | 'failed';

export interface RunRecord {
  day: string;
  epoch: number;
  run_id: string;
  state: RunState;
  from_stage: string;
  chunks: number;
  merchant_days: number;
  planned_rows: number;
  lock_owner: string | null;
  /** the lease is held (owner set and not yet expired) */
  lock_live: boolean;
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
}

export type AcquireResult =
  | { kind: 'acquired'; run: RunLease }
  | { kind: 'already-complete'; epoch: number }
  | { kind: 'held'; owner: string };

export interface AcquireRequest {
  day: string;
  owner: string;
  leaseSec: number;
  /** open a new epoch when the day is complete */
  rerun: boolean;
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
}

export interface RunsPort {
  get(day: string): Promise<RunRecord | undefined>;
  /** The day's current epoch; undefined when no run was ever recorded. */
  currentEpoch(day: string): Promise<number | undefined>;
  /** The day of the most recently touched run. */
  latestDay(): Promise<string | undefined>;
  /** Takes the day's lease in one transaction; refuses ('held') while another live owner holds it. */
  acquire(req: AcquireRequest): Promise<AcquireResult>;
  /** False when the lease is no longer ours (expired and taken, or released). */
  renewLease(day: string, owner: string, leaseSec: number): Promise<boolean>;
  /** Clears a lease whose owner starts with `ownerPrefix` (`host:pid:` of a process known to be dead). */
  releaseLeaseByPrefix(day: string, ownerPrefix: string): Promise<boolean>;
  markFirstPublish(day: string): Promise<void>;
  complete(day: string, epoch: number, owner: string): Promise<boolean>;
  fail(day: string, epoch: number, owner: string, report: string): Promise<boolean>;
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

export interface PlanPort {
  /** Stores the plan and moves the run to running, in one transaction; a repeat is a no-op. */
  save(day: string, epoch: number, plan: Plan): Promise<void>;
  chunks(day: string, epoch: number, filter?: 'unpublished' | 'all'): Promise<ChunkRow[]>;
  markPublished(day: string, epoch: number, chunkIds: string[]): Promise<void>;
  /** Chunks holding part of a merchant-day that is not done yet (what stuck detection re-publishes). */
  chunksOfPendingMerchantDays(day: string, epoch: number): Promise<ChunkRow[]>;
  /** Clears split_done so split redoes the chunks. */
  resetSplit(day: string, epoch: number, chunkIds: string[]): Promise<void>;
}

export interface SplitCountsRecord {
  rows_read: number;
  valid: number;
  invalid: number;
  batches: number;
}

export interface ChunksPort {
  get(day: string, epoch: number, chunkId: string): Promise<ChunkRow | undefined>;
  /** Counts one more start of split on the chunk (redone work shows as split_runs > 1). */
  beginSplit(day: string, epoch: number, chunkId: string): Promise<void>;
  /** Records what split read and emitted for one (chunk, merchant-day). */
  seal(day: string, epoch: number, chunkId: string, merchantId: string, counts: SplitCountsRecord): Promise<void>;
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

/** The completeness ledger of one merchant-day, as summarize reads it. */
export interface Completeness {
  state: 'pending' | 'done';
  /** chunks of the plan that hold part of this merchant-day */
  chunks: number;
  /** of those, sealed by split */
  sealed: number;
  /** batches split emitted for this merchant-day (sum over sealed chunks) */
  expectedBatches: number;
  /** distinct partials stored for batches of those chunks */
  receivedBatches: number;
  invalid: number;
}

export interface MerchantDaysPort {
  /** Stores a partial once (its batch id is the key); true when it was new. */
  addPartial(p: PartialRow): Promise<boolean>;
  completeness(day: string, epoch: number, merchantId: string): Promise<Completeness | undefined>;
  /** Payloads of the partials that count (their chunk is in this epoch's plan), in batch_id order. */
  partialPayloads(day: string, epoch: number, merchantId: string): Promise<Buffer[]>;
  /** pending → done, once; false when it was done already. */
  markDone(day: string, epoch: number, merchantId: string, events: number, invalidEvents: number): Promise<boolean>;
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
  merchantDays: { done: number; stuck: number; events: number };
  partials: number;
  work: Record<string, StageWork>;
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
  stages: Record<string, ChunkStageWork>;
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
}

export interface DeadLettersPort {
  add(d: DeadLetterRecord): Promise<void>;
  count(): Promise<number>;
  last(): Promise<{ stage: string; error: string } | undefined>;
}

export interface BucketCountRow {
  day: string;
  merchant_id: string;
  bucket: number;
  rows: number;
}

export interface IngestCountsPort {
  /** Adds new identities per (day, merchant, bucket). */
  add(counts: BucketCountRow[]): Promise<void>;
  /** The non-zero counts of a day: what the master plans from. */
  ofDay(day: string): Promise<BucketCountRow[]>;
}

export interface Ledger {
  runs: RunsPort;
  plan: PlanPort;
  chunks: ChunksPort;
  merchantDays: MerchantDaysPort;
  progress: ProgressPort;
  offsets: OffsetsPort;
  work: WorkPort;
  quarantine: QuarantinePort;
  deadLetters: DeadLettersPort;
  ingest: IngestCountsPort;
}
