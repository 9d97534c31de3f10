/**
 * The in-memory ledger's tables (Maps keyed like the MariaDB primary keys), its counters and the
 * small helpers several aggregates share. One state object per ledger; each aggregate's file
 * (./runs.ts, ./plan.ts, ...) builds its port over it, the way src/ledger/sql/ builds them over a pool.
 */
import type { MerchantFrame, ZoneHistory } from '../../domain/zones.js';
import type { BucketCountRow, ChunkRow, DeadLetterRow, EpochMeta, IngestReject, PartialRow, QuarantineRow, RunRecord, SplitCountsRecord, WorkTotals } from '../types.js';

export interface RunRow extends Omit<RunRecord, 'lock_live'> {
  updated_at: number;
  seq: number;
}

export interface ChunkState {
  day: string;
  epoch: number;
  chunk_id: string;
  seq: number;
  ranges: ChunkRow['ranges'];
  est_rows: number;
  publish_count: number;
  published_at: number | null;
  split_done_at: number | null;
  split_runs: number;
}

export interface LedgerRow extends Partial<SplitCountsRecord> {
  day: string;
  epoch: number;
  chunk_id: string;
  merchant_id: string;
  bucket_lo: number;
  bucket_hi: number;
  expected_rows: number;
  sealed_at: number | null;
  digest: Buffer | null;
  conflict: string | null;
  last_error: string | null;
}

export interface MerchantDayRow {
  day: string;
  epoch: number;
  merchant_id: string;
  chunks: number;
  est_rows: number;
  state: 'pending' | 'done';
  events: number | null;
  invalid_events: number | null;
  done_at: number | null;
  frame: MerchantFrame;
  chunks_sealed: number;
  batches_expected: number;
  batches_received: number;
  invalid_sealed: number;
  refused_partials: number;
}

export interface WorkRow {
  day: string;
  epoch: number;
  chunk_id: string;
  stage: string;
  replica: string;
  t: WorkTotals;
}

export const k = (...parts: Array<string | number>): string => parts.join('\u0000');
export const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
export const bytesCmp = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/** Every table and counter of one in-memory ledger, plus the shared helpers over them. */
export interface MemoryState {
  readonly now: () => number;
  readonly runs: Map<string, RunRow>;
  readonly epochsMeta: Map<string, EpochMeta>;
  readonly chunks: Map<string, ChunkState>;
  readonly ledgerRows: Map<string, LedgerRow>;
  readonly merchantDays: Map<string, MerchantDayRow>;
  readonly mdEpochs: Map<string, { day: string; merchant_id: string; epoch: number; done_epoch: number | undefined }>;
  readonly partials: Map<string, PartialRow & { refused: boolean }>;
  readonly sealedBatches: Map<string, { day: string; epoch: number; merchant_id: string; batch_id: string; chunk_id: string; received: boolean }>;
  readonly offsets: Map<string, { day: string; epoch: number; topic: string; partition: number; first: bigint; last: bigint }>;
  readonly work: Map<string, WorkRow>;
  readonly quarantine: Map<string, QuarantineRow & { day: string; merchant_id: string }>;
  readonly deadLetters: Map<string, DeadLetterRow & { seq: number; payload: Buffer | null; key: Buffer | null }>;
  readonly buckets: Map<string, BucketCountRow>;
  readonly batches: Map<number, { state: 'open' | 'committed'; open_seq: number; commit_seq: number | null }>;
  readonly batchDays: Map<string, { batch_id: number; day: string; merchant_id: string; commit_seq: number }>;
  readonly lateData: Map<string, { day: string; merchant_id: string; rows: number; first_seq: number; last_seq: number }>;
  readonly rejects: Map<string, IngestReject>;
  readonly zones: Map<string, ZoneHistory>;
  readonly zoneChangedVersion: Map<string, number>;
  registryVersion: number;
  commitSeq: number;
  nextBatch: number;
  tick: number;
  /** Ingest commits run one after another (see ../memory.ts). */
  commitChain: Promise<unknown>;
  readonly touch: (r: RunRow) => void;
  readonly live: (r: RunRow) => boolean;
  readonly record: (r: RunRow) => RunRecord;
  readonly owned: (day: string, owner: string) => RunRow | undefined;
  readonly chunkRow: (c: ChunkState) => ChunkRow;
  readonly chunksOf: (day: string, epoch: number) => ChunkState[];
  readonly ledgerOf: (day: string, epoch: number, merchant?: string) => LedgerRow[];
  readonly lease: (r: RunRow, owner: string, leaseSec: number) => void;
  readonly md: (day: string, epoch: number, merchant: string) => MerchantDayRow | undefined;
  readonly unplannedWithRows: (day: string) => Set<string>;
  readonly catchUpWaiting: (day: string, due: readonly string[] | undefined) => boolean;
}

export function createMemoryState(now: () => number): MemoryState {
  const runs = new Map<string, RunRow>();
  const chunks = new Map<string, ChunkState>();
  const ledgerRows = new Map<string, LedgerRow>();
  const merchantDays = new Map<string, MerchantDayRow>();
  const mdEpochs: MemoryState['mdEpochs'] = new Map();
  const buckets = new Map<string, BucketCountRow>();
  const lateData: MemoryState['lateData'] = new Map();
  const touch = (r: RunRow): void => {
    r.updated_at = now();
    r.seq = ++s.tick;
  };
  const live = (r: RunRow): boolean => r.lock_owner !== null && r.lock_expires_at !== null && r.lock_expires_at > now();
  const record = (r: RunRow): RunRecord => {
    const { updated_at: _u, seq: _s, ...rest } = r;
    return { ...rest, lock_live: live(r) };
  };
  const owned = (day: string, owner: string): RunRow | undefined => {
    const r = runs.get(day);
    return r && r.lock_owner === owner ? r : undefined;
  };
  const chunkRow = (c: ChunkState): ChunkRow => ({
    chunk_id: c.chunk_id, seq: c.seq, ranges: c.ranges.map((r) => ({ ...r })), est_rows: c.est_rows, publish_count: c.publish_count,
    published: c.published_at !== null, split_done: c.split_done_at !== null,
  });
  const chunksOf = (day: string, epoch: number): ChunkState[] => [...chunks.values()].filter((c) => c.day === day && c.epoch === epoch).sort((a, b) => a.seq - b.seq);
  const ledgerOf = (day: string, epoch: number, merchant?: string): LedgerRow[] =>
    [...ledgerRows.values()].filter((l) => l.day === day && l.epoch === epoch && (merchant === undefined || l.merchant_id === merchant));
  const lease = (r: RunRow, owner: string, leaseSec: number): void => {
    r.lock_owner = owner;
    r.lock_expires_at = now() + leaseSec * 1000;
    r.lock_renewed_at = now();
  };
  const md = (day: string, epoch: number, merchant: string) => merchantDays.get(k(day, epoch, merchant));

  /** As the SQL: a due merchant-day with late data, or a due merchant with rows and no plan. */
  const unplannedWithRows = (day: string): Set<string> =>
    new Set([...buckets.values()].filter((b) => b.day === day && b.rows > 0 && !mdEpochs.has(k(day, b.merchant_id))).map((b) => b.merchant_id));
  const catchUpWaiting = (day: string, due: readonly string[] | undefined): boolean => {
    const isDue = (m: string) => due === undefined || due.includes(m);
    return [...lateData.values()].some((l) => l.day === day && l.rows > 0 && isDue(l.merchant_id)) || [...unplannedWithRows(day)].some(isDue);
  };

  const s: MemoryState = {
    now, runs, chunks, ledgerRows, merchantDays, mdEpochs, buckets, lateData,
    epochsMeta: new Map(), partials: new Map(), sealedBatches: new Map(), offsets: new Map(), work: new Map(), quarantine: new Map(),
    deadLetters: new Map(), batches: new Map(), batchDays: new Map(), rejects: new Map(), zones: new Map(), zoneChangedVersion: new Map(),
    registryVersion: 0, commitSeq: 0, nextBatch: 1, tick: 0, commitChain: Promise.resolve(),
    touch, live, record, owned, chunkRow, chunksOf, ledgerOf, lease, md, unplannedWithRows, catchUpWaiting,
  };
  return s;
}
