/**
 * The ledger in memory: the same ports as the MariaDB implementation, over Maps, with "now" from an
 * injected clock. It exists for unit tests of the stage handlers and the master's loop; the
 * conformance suite (test/support/ledger-conformance.ts) keeps it honest against MariaDB.
 *
 * Every operation runs to completion before the next starts (no await inside a table update), so
 * each is atomic here the way a transaction or a single statement is on the server. The one
 * exception is the ingest commit's recheck callback, which runs while the commit "holds the lock":
 * commits are chained, so none interleaves with another.
 */
import type { Plan } from '../domain/plan.js';
import { compareCodePoints } from '../domain/event.js';
import { utcDayFrame, type MerchantFrame, type ZoneHistory } from '../domain/zones.js';
import { StagelineError } from '../errors.js';
import type {
  AcquireResult, BucketCountRow, ChunkReport, DeadLetterRow, ChunkRow, Completeness, EpochMeta, IngestReject, Ledger, MerchantDayEpoch, PartialOutcome, PartialRow,
  QuarantineRow, RunProgress, RunRecord, RunState, SealOutcome, SplitCountsRecord, SplitRange, StageWork, TouchedMerchantDay, WorkTotals,
} from './types.js';

interface RunRow extends Omit<RunRecord, 'lock_live'> {
  updated_at: number;
  seq: number;
}

interface ChunkState {
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

interface LedgerRow extends Partial<SplitCountsRecord> {
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

interface MerchantDayRow {
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

interface WorkRow {
  day: string;
  epoch: number;
  chunk_id: string;
  stage: string;
  replica: string;
  t: WorkTotals;
}

const k = (...parts: Array<string | number>): string => parts.join('\u0000');
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const bytesCmp = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

export interface MemoryLedger extends Ledger {
  /** Row counts per table, for tests that check nothing was written twice. */
  sizes(): Record<string, number>;
}

export function createMemoryLedger(now: () => number = Date.now): MemoryLedger {
  const runs = new Map<string, RunRow>();
  const epochsMeta = new Map<string, EpochMeta>();
  const chunks = new Map<string, ChunkState>();
  const ledgerRows = new Map<string, LedgerRow>();
  const merchantDays = new Map<string, MerchantDayRow>();
  const mdEpochs = new Map<string, { day: string; merchant_id: string; epoch: number; done_epoch: number | undefined }>();
  const partials = new Map<string, PartialRow & { refused: boolean }>();
  const sealedBatches = new Map<string, { day: string; epoch: number; merchant_id: string; batch_id: string; chunk_id: string; received: boolean }>();
  const offsets = new Map<string, { day: string; epoch: number; topic: string; partition: number; first: bigint; last: bigint }>();
  const work = new Map<string, WorkRow>();
  const quarantine = new Map<string, QuarantineRow & { day: string; merchant_id: string }>();
  const deadLetters = new Map<string, DeadLetterRow & { seq: number; payload: Buffer | null; key: Buffer | null }>();
  const buckets = new Map<string, BucketCountRow>();
  const batches = new Map<number, { state: 'open' | 'committed'; open_seq: number; commit_seq: number | null }>();
  const batchDays = new Map<string, { batch_id: number; day: string; merchant_id: string; commit_seq: number }>();
  const lateData = new Map<string, { day: string; merchant_id: string; rows: number; first_seq: number; last_seq: number }>();
  const rejects = new Map<string, IngestReject>();
  const zones = new Map<string, ZoneHistory>();
  const zoneChangedVersion = new Map<string, number>();
  let registryVersion = 0;
  let commitSeq = 0;
  let nextBatch = 1;
  let tick = 0;
  let commitChain: Promise<unknown> = Promise.resolve();

  const touch = (r: RunRow): void => {
    r.updated_at = now();
    r.seq = ++tick;
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

  const ledger: MemoryLedger = {
    runs: {
      async get(day) {
        const r = runs.get(day);
        return r ? record(r) : undefined;
      },
      async currentEpoch(day) {
        return runs.get(day)?.epoch;
      },
      async range(from, to) {
        return [...runs.values()].filter((r) => r.day >= from && r.day <= to).sort((a, b) => cmp(a.day, b.day)).map(record);
      },
      async active() {
        return [...runs.values()].filter(live).sort((a, b) => cmp(a.day, b.day)).map(record);
      },
      async latestDay() {
        let best: RunRow | undefined;
        for (const r of runs.values()) if (!best || r.updated_at > best.updated_at || (r.updated_at === best.updated_at && r.seq > best.seq)) best = r;
        return best?.day;
      },
      async acquire(o): Promise<AcquireResult> {
        const run = runs.get(o.day);
        if (!run) {
          const runId = o.newRunId(1);
          const r: RunRow = {
            day: o.day, epoch: 1, run_id: runId, state: 'planning', from_stage: 'split', plan_kind: 'full', trigger: o.trigger ?? 'nightly', chunks: 0, merchant_days: 0, planned_rows: 0,
            lock_owner: null, lock_expires_at: null, lock_renewed_at: null, error: null, started_at: now(), first_publish_at: null, completed_at: null, updated_at: 0, seq: 0,
          };
          lease(r, o.owner, o.leaseSec);
          touch(r);
          runs.set(o.day, r);
          return { kind: 'acquired', run: { day: o.day, epoch: 1, run_id: runId, state: 'planning', kind: 'full' } };
        }
        if (run.lock_owner !== null && run.lock_owner !== o.owner && live(run)) return { kind: 'held', owner: run.lock_owner };
        if (run.state === 'complete' || run.state === 'waiting') {
          const late = o.mode === 'late' && catchUpWaiting(o.day, o.due);
          if (o.mode !== 'rerun' && !late) return { kind: 'already-complete', epoch: run.epoch, state: run.state };
          const kind = late ? 'late' : 'full';
          run.epoch += 1;
          run.run_id = o.newRunId(run.epoch);
          Object.assign(run, { state: 'planning', from_stage: 'split', plan_kind: kind, trigger: o.trigger ?? 'nightly', chunks: 0, merchant_days: 0, planned_rows: 0, error: null, completed_at: null, first_publish_at: null, started_at: now() });
          lease(run, o.owner, o.leaseSec);
          touch(run);
          return { kind: 'acquired', run: { day: o.day, epoch: run.epoch, run_id: run.run_id, state: 'planning', kind } };
        }
        const state: RunState = run.state === 'failed' ? (epochsMeta.has(k(o.day, run.epoch)) ? 'running' : 'planning') : run.state;
        run.state = state;
        run.error = null;
        lease(run, o.owner, o.leaseSec);
        touch(run);
        return { kind: 'acquired', run: { day: o.day, epoch: run.epoch, run_id: run.run_id, state, kind: run.plan_kind } };
      },
      async renewLease(day, owner, leaseSec) {
        const r = owned(day, owner);
        if (!r) return false;
        r.lock_expires_at = now() + leaseSec * 1000;
        r.lock_renewed_at = now();
        touch(r);
        return true;
      },
      async releaseLeaseByPrefix(day, prefix) {
        const r = runs.get(day);
        if (!r || r.lock_owner === null || !r.lock_owner.startsWith(prefix)) return false;
        r.lock_owner = null;
        r.lock_expires_at = null;
        touch(r);
        return true;
      },
      async releaseLease(day, owner) {
        const r = owned(day, owner);
        if (!r) return false;
        r.lock_owner = null;
        r.lock_expires_at = null;
        touch(r);
        return true;
      },
      async markFirstPublish(day, owner) {
        const r = owned(day, owner);
        if (!r) return false;
        if (r.first_publish_at === null) r.first_publish_at = now();
        touch(r);
        return true;
      },
      async complete(day, epoch, owner, state = 'complete') {
        const r = owned(day, owner);
        if (!r || r.epoch !== epoch) return false;
        Object.assign(r, { state, completed_at: now(), lock_owner: null, lock_expires_at: null });
        touch(r);
        return true;
      },
      async fail(day, epoch, owner, report) {
        const r = owned(day, owner);
        if (!r || r.epoch !== epoch) return false;
        Object.assign(r, { state: 'failed', error: report, lock_owner: null, lock_expires_at: null });
        touch(r);
        return true;
      },
      async openReplayEpoch(p) {
        const r = runs.get(p.day);
        if (!r || r.epoch !== p.fromEpoch) return false;
        const from = epochsMeta.get(k(p.day, p.fromEpoch));
        if (from && !epochsMeta.has(k(p.day, p.toEpoch))) epochsMeta.set(k(p.day, p.toEpoch), { ...from, epoch: p.toEpoch, kind: 'replay', planned_at: now(), fromStage: p.fromStage, sourceEpoch: p.sourceEpoch });
        for (const c of chunksOf(p.day, p.fromEpoch)) {
          const key = k(p.day, p.toEpoch, c.chunk_id);
          if (!chunks.has(key)) chunks.set(key, { ...c, epoch: p.toEpoch, ranges: c.ranges.map((x) => ({ ...x })), published_at: c.published_at ?? now(), split_done_at: p.keepSplit ? c.split_done_at : null, split_runs: 0 });
        }
        for (const l of ledgerOf(p.day, p.fromEpoch)) {
          const key = k(p.day, p.toEpoch, l.merchant_id, l.chunk_id);
          if (ledgerRows.has(key)) continue;
          const copy: LedgerRow = { day: l.day, epoch: p.toEpoch, chunk_id: l.chunk_id, merchant_id: l.merchant_id, bucket_lo: l.bucket_lo, bucket_hi: l.bucket_hi, expected_rows: l.expected_rows, sealed_at: null, digest: null, conflict: null, last_error: null };
          if (p.keepSplit) Object.assign(copy, { rows_read: l.rows_read, valid: l.valid, invalid: l.invalid, batches: l.batches, sealed_at: l.sealed_at, digest: l.digest });
          ledgerRows.set(key, copy);
        }
        if (p.keepSplit) {
          for (const b of [...sealedBatches.values()].filter((x) => x.day === p.day && x.epoch === p.fromEpoch)) {
            const key = k(p.day, p.toEpoch, b.merchant_id, b.batch_id);
            if (!sealedBatches.has(key)) sealedBatches.set(key, { ...b, epoch: p.toEpoch, received: false });
          }
        }
        for (const m of [...merchantDays.values()].filter((x) => x.day === p.day && x.epoch === p.fromEpoch)) {
          const key = k(p.day, p.toEpoch, m.merchant_id);
          if (merchantDays.has(key)) continue;
          merchantDays.set(key, {
            ...m, epoch: p.toEpoch, state: 'pending', events: null, invalid_events: null, done_at: null, batches_received: 0, refused_partials: 0,
            chunks_sealed: p.keepSplit ? m.chunks_sealed : 0, batches_expected: p.keepSplit ? m.batches_expected : 0, invalid_sealed: p.keepSplit ? m.invalid_sealed : 0,
          });
          const e = mdEpochs.get(k(p.day, m.merchant_id));
          if (e) e.epoch = Math.max(e.epoch, p.toEpoch);
        }
        for (const o of [...offsets.values()].filter((x) => x.day === p.day && x.epoch === p.fromEpoch && x.topic === p.topic)) {
          const key = k(p.day, p.toEpoch, o.topic, o.partition);
          if (!offsets.has(key)) offsets.set(key, { ...o, epoch: p.toEpoch });
        }
        Object.assign(r, { epoch: p.toEpoch, state: 'running', from_stage: p.fromStage, trigger: 'replay', error: null, completed_at: null, started_at: now(), first_publish_at: now(), lock_owner: null, lock_expires_at: null });
        touch(r);
        return true;
      },
    },

    retention: {
      async purge(o) {
        const out: Record<string, number> = {};
        const shown = (day: string, merchant: string, epoch: number) => mdEpochs.get(k(day, merchant))?.done_epoch === epoch;
        const sweep = <V>(name: string, m: Map<string, V>, old: (v: V) => boolean) => {
          let n = 0;
          for (const [key, v] of m) {
            if (!old(v)) continue;
            n++;
            if (!o.dryRun) m.delete(key);
          }
          out[name] = n;
        };
        sweep('partials', partials, (p) => p.day < o.before);
        sweep('sealed_batches', sealedBatches, (b) => b.day < o.before);
        sweep('chunk_work', work, (w) => w.day < o.before);
        sweep('run_offsets', offsets, (x) => x.day < o.before);
        sweep('chunk_ledger', ledgerRows, (l) => l.day < o.before && !shown(l.day, l.merchant_id, l.epoch));
        const planned = new Set([...ledgerRows.values()].map((l) => k(l.day, l.epoch, l.chunk_id)));
        sweep('run_chunks', chunks, (c) => c.day < o.before && !planned.has(k(c.day, c.epoch, c.chunk_id)));
        sweep('merchant_days', merchantDays, (m) => m.day < o.before && !shown(m.day, m.merchant_id, m.epoch));
        sweep('late_data', lateData, (l) => l.day < o.before);
        sweep('quarantine', quarantine, (q) => q.day < o.quarantineBefore);
        sweep('ingest_rejects', rejects, (r) => r.day < o.quarantineBefore);
        sweep('dead_letters', deadLetters, (d) => (d.day !== null ? d.day < o.quarantineBefore : new Date(d.failed_at).toISOString().slice(0, 10) < o.quarantineBefore));
        return out;
      },
      async superseded(day) {
        return [...merchantDays.values()]
          .filter((m) => { const e = mdEpochs.get(k(day, m.merchant_id)); return m.day === day && e?.done_epoch !== undefined && m.epoch < e.done_epoch; })
          .sort((a, b) => cmp(a.merchant_id, b.merchant_id) || a.epoch - b.epoch)
          .map((m) => ({ merchant_id: m.merchant_id, epoch: m.epoch }));
      },
    },

    late: {
      async ofDay(day) {
        return [...lateData.values()].filter((l) => l.day === day && l.rows > 0).sort((a, b) => cmp(a.merchant_id, b.merchant_id)).map((l) => ({ day, merchant_id: l.merchant_id, rows: l.rows }));
      },
      async days(since) {
        const by = new Map<string, { day: string; merchantDays: number; rows: number }>();
        for (const l of lateData.values()) {
          if (l.rows <= 0 || (since !== undefined && l.day < since)) continue;
          const d = by.get(l.day) ?? { day: l.day, merchantDays: 0, rows: 0 };
          d.merchantDays++;
          d.rows += l.rows;
          by.set(l.day, d);
        }
        return [...by.values()].sort((a, b) => cmp(a.day, b.day));
      },
    },

    plan: {
      async create(req) {
        const r = owned(req.day, req.owner);
        if (!r || r.epoch !== req.epoch) return 'lost-lease';
        const done = epochsMeta.get(k(req.day, req.epoch));
        if (done) return { chunks: r.chunks, merchantDays: r.merchant_days, rows: r.planned_rows, snapshotSeq: done.snapshotSeq };
        const only = req.merchants === 'late'
          ? new Set([...[...lateData.values()].filter((l) => l.day === req.day && l.rows > 0).map((l) => l.merchant_id), ...unplannedWithRows(req.day)])
          : req.merchants ? new Set(req.merchants) : undefined;
        const due = req.due ?? (() => true);
        const counts = [...buckets.values()].filter((b) => b.day === req.day && b.rows > 0 && (!only || only.has(b.merchant_id)) && due(b.merchant_id))
          .sort((a, b) => cmp(a.merchant_id, b.merchant_id) || a.bucket - b.bucket).map((b) => ({ ...b }));
        const p: Plan = req.planner(counts);
        const { day, epoch } = req;
        epochsMeta.set(k(day, epoch), { day, epoch, kind: req.kind, snapshotSeq: commitSeq, shape: { ...req.shape }, planned_at: now() });
        const expected = (m: string, lo: number, hi: number) => counts.filter((c) => c.merchant_id === m && c.bucket >= lo && c.bucket < hi).reduce((a, c) => a + c.rows, 0);
        for (const c of p.chunks) {
          const key = k(day, epoch, c.chunk_id);
          if (!chunks.has(key)) chunks.set(key, { day, epoch, chunk_id: c.chunk_id, seq: c.seq, ranges: c.ranges.map((x) => ({ ...x })), est_rows: c.est_rows, publish_count: 0, published_at: null, split_done_at: null, split_runs: 0 });
          for (const x of c.ranges) {
            const lk = k(day, epoch, x.merchant_id, c.chunk_id);
            if (!ledgerRows.has(lk)) ledgerRows.set(lk, { day, epoch, chunk_id: c.chunk_id, merchant_id: x.merchant_id, bucket_lo: x.bucket_lo, bucket_hi: x.bucket_hi, expected_rows: expected(x.merchant_id, x.bucket_lo, x.bucket_hi), sealed_at: null, digest: null, conflict: null, last_error: null });
          }
        }
        for (const m of p.merchantDays) {
          const mk = k(day, epoch, m.merchant_id);
          if (!merchantDays.has(mk)) {
            merchantDays.set(mk, { day, epoch, merchant_id: m.merchant_id, chunks: m.chunks, est_rows: m.est_rows, frame: { ...req.frame(m.merchant_id) }, state: 'pending', events: null, invalid_events: null, done_at: null, chunks_sealed: 0, batches_expected: 0, batches_received: 0, invalid_sealed: 0, refused_partials: 0 });
          }
          const e = mdEpochs.get(k(day, m.merchant_id));
          if (e) e.epoch = Math.max(e.epoch, epoch);
          else mdEpochs.set(k(day, m.merchant_id), { day, merchant_id: m.merchant_id, epoch, done_epoch: undefined });
          lateData.delete(k(day, m.merchant_id));
        }
        Object.assign(r, { state: 'running', chunks: p.chunks.length, merchant_days: p.merchantDays.length, planned_rows: p.totalRows });
        touch(r);
        return { chunks: p.chunks.length, merchantDays: p.merchantDays.length, rows: p.totalRows, snapshotSeq: commitSeq };
      },
      async meta(day, epoch) {
        const m = epochsMeta.get(k(day, epoch));
        return m ? { ...m, shape: { ...m.shape } } : undefined;
      },
      async chunks(day, epoch, filter = 'all') {
        return chunksOf(day, epoch).filter((c) => filter === 'all' || c.published_at === null).map(chunkRow);
      },
      async markPublished(day, epoch, owner, ids) {
        if (ids.length === 0) return true;
        if (!owned(day, owner)) return false;
        for (const id of ids) {
          const c = chunks.get(k(day, epoch, id));
          if (!c) continue;
          c.published_at = now();
          c.publish_count++;
        }
        return true;
      },
      async chunksOfPendingMerchantDays(day, epoch) {
        const pending = new Set([...merchantDays.values()].filter((m) => m.day === day && m.epoch === epoch && m.state === 'pending').map((m) => m.merchant_id));
        const ids = new Set(ledgerOf(day, epoch).filter((l) => pending.has(l.merchant_id)).map((l) => l.chunk_id));
        return chunksOf(day, epoch).filter((c) => ids.has(c.chunk_id)).sort((a, b) => cmp(a.chunk_id, b.chunk_id)).map(chunkRow);
      },
      async resetSplit(day, epoch, owner, ids) {
        if (ids.length === 0) return true;
        if (!owned(day, owner)) return false;
        for (const id of ids) {
          const c = chunks.get(k(day, epoch, id));
          if (c) c.split_done_at = null;
        }
        return true;
      },
    },

    chunks: {
      async get(day, epoch, id) {
        const c = chunks.get(k(day, epoch, id));
        if (!c) return undefined;
        const row = chunkRow(c);
        const ranges: SplitRange[] = row.ranges.map((x) => {
          const f = md(day, epoch, x.merchant_id)?.frame ?? utcDayFrame(day);
          return { ...x, expected_rows: ledgerRows.get(k(day, epoch, x.merchant_id, id))?.expected_rows ?? 0, day_start: f.start_ms, hours: f.hours };
        });
        return { ...row, ranges };
      },
      async beginSplit(day, epoch, id) {
        const c = chunks.get(k(day, epoch, id));
        if (c) c.split_runs++;
      },
      async seal(s): Promise<SealOutcome> {
        const l = ledgerRows.get(k(s.day, s.epoch, s.merchantId, s.chunkId));
        if (!l) throw new Error(`no ledger row for ${s.chunkId}/${s.merchantId} in epoch ${s.epoch}`);
        if (l.sealed_at !== null) {
          if (l.digest !== null && l.digest.equals(s.digest)) return 'same';
          l.conflict ??= `re-seal disagrees with the first seal: first rows_read ${l.rows_read}, valid ${l.valid}, invalid ${l.invalid}, batches ${l.batches}, now rows_read ${s.counts.rows_read}, valid ${s.counts.valid}, invalid ${s.counts.invalid}, batches ${s.counts.batches}`;
          return 'conflict';
        }
        Object.assign(l, s.counts, { digest: Buffer.from(s.digest), sealed_at: now(), last_error: null });
        for (const b of s.batches) {
          const key = k(s.day, s.epoch, s.merchantId, b.id);
          if (!sealedBatches.has(key)) sealedBatches.set(key, { day: s.day, epoch: s.epoch, merchant_id: s.merchantId, batch_id: b.id, chunk_id: s.chunkId, received: false });
        }
        let received = 0;
        let refused = 0;
        for (const p of partials.values()) {
          if (p.day !== s.day || p.epoch !== s.epoch || p.merchant_id !== s.merchantId || p.refused) continue;
          const sb = sealedBatches.get(k(s.day, s.epoch, s.merchantId, p.batch_id));
          if (sb && sb.chunk_id === s.chunkId && !sb.received) {
            sb.received = true;
            received++;
          } else if (!sb && p.chunk_id === s.chunkId) {
            p.refused = true;
            refused++;
          }
        }
        const m = md(s.day, s.epoch, s.merchantId);
        if (m) {
          m.chunks_sealed++;
          m.batches_expected += s.batches.length;
          m.batches_received += received;
          m.invalid_sealed += s.counts.invalid;
          m.refused_partials += refused;
        }
        return 'sealed';
      },
      async recordError(day, epoch, chunkId, merchantId, error) {
        const l = ledgerRows.get(k(day, epoch, merchantId, chunkId));
        if (l && l.sealed_at === null) l.last_error = error.slice(0, 2000);
      },
      async finishSplit(day, epoch, id) {
        const c = chunks.get(k(day, epoch, id));
        if (c) c.split_done_at ??= now();
      },
    },

    merchantDays: {
      async addPartial(p): Promise<PartialOutcome> {
        const key = k(p.day, p.epoch, p.merchant_id, p.batch_id);
        if (partials.has(key)) return 'duplicate';
        const stored = { ...p, payload: Buffer.from(p.payload), refused: false };
        partials.set(key, stored);
        const range = ledgerRows.get(k(p.day, p.epoch, p.merchant_id, p.chunk_id));
        const refuse = (): PartialOutcome => {
          stored.refused = true;
          const m = md(p.day, p.epoch, p.merchant_id);
          if (m) m.refused_partials++;
          return 'refused';
        };
        if (!range) return refuse();
        if (range.sealed_at === null) return 'stored';
        const sb = sealedBatches.get(key);
        if (!sb || sb.received) return refuse();
        sb.received = true;
        const m = md(p.day, p.epoch, p.merchant_id);
        if (m) m.batches_received++;
        return 'stored';
      },
      async completeness(day, epoch, merchantId): Promise<Completeness | undefined> {
        const m = md(day, epoch, merchantId);
        if (!m) return undefined;
        return { state: m.state, chunks: m.chunks, sealed: m.chunks_sealed, expectedBatches: m.batches_expected, receivedBatches: m.batches_received, invalid: m.invalid_sealed, refusedPartials: m.refused_partials, frame: { ...m.frame } };
      },
      async *partialPages(day, epoch, merchantId, pageSize = 200) {
        const list = [...partials.values()]
          .filter((p) => p.day === day && p.epoch === epoch && p.merchant_id === merchantId && !p.refused && sealedBatches.get(k(day, epoch, merchantId, p.batch_id))?.received === true)
          .sort((a, b) => cmp(a.batch_id, b.batch_id));
        for (let i = 0; i < list.length; i += pageSize) yield list.slice(i, i + pageSize).map((p) => Buffer.from(p.payload));
      },
      async markDone(day, epoch, merchantId, events, invalidEvents) {
        const m = md(day, epoch, merchantId);
        if (!m || m.state !== 'pending') return false;
        Object.assign(m, { state: 'done', events, invalid_events: invalidEvents, done_at: now() });
        const e = mdEpochs.get(k(day, merchantId));
        if (e && e.epoch >= epoch) e.done_epoch = Math.max(e.done_epoch ?? 0, epoch);
        return true;
      },
      async epochs(day): Promise<MerchantDayEpoch[]> {
        return [...mdEpochs.values()].filter((e) => e.day === day).sort((a, b) => cmp(a.merchant_id, b.merchant_id)).map((e) => ({
          merchant_id: e.merchant_id, epoch: e.epoch, done_epoch: e.done_epoch,
          computed_at: e.done_epoch === undefined ? undefined : epochsMeta.get(k(day, e.done_epoch))?.planned_at,
        }));
      },
    },

    progress: {
      async read(day, stuckAfterSec): Promise<RunProgress | undefined> {
        const r = runs.get(day);
        if (!r) return undefined;
        const t = now();
        const stuckBefore = t - stuckAfterSec * 1000;
        const cs = chunksOf(day, r.epoch);
        const ls = ledgerOf(day, r.epoch);
        const mds = [...merchantDays.values()].filter((m) => m.day === day && m.epoch === r.epoch);
        const byMerchant = new Map<string, { unsealed: number; lastSeal: number }>();
        for (const l of ls) {
          const x = byMerchant.get(l.merchant_id) ?? { unsealed: 0, lastSeal: 0 };
          if (l.sealed_at === null) x.unsealed++;
          else x.lastSeal = Math.max(x.lastSeal, l.sealed_at);
          byMerchant.set(l.merchant_id, x);
        }
        const workByStage: Record<string, StageWork & { replicaSet: Set<string> }> = {};
        const dropped: Record<string, number> = {};
        for (const w of work.values()) {
          if (w.day !== day) continue;
          if (w.t.dropped > 0) dropped[w.stage] = (dropped[w.stage] ?? 0) + w.t.dropped;
          if (w.epoch !== r.epoch) continue;
          const s = (workByStage[w.stage] ??= { messages: 0, events: 0, replicas: 0, queued_ms: 0, handle_ms: 0, write_ms: 0, first_at: Number.POSITIVE_INFINITY, last_at: 0, replicaSet: new Set() });
          s.messages += w.t.messages;
          s.events += w.t.events;
          s.queued_ms += w.t.queuedMs;
          s.handle_ms += w.t.handleMs;
          s.write_ms += w.t.writeMs;
          s.first_at = Math.min(s.first_at, w.t.firstAt);
          s.last_at = Math.max(s.last_at, w.t.lastAt);
          s.replicaSet.add(w.replica);
        }
        const dl: Record<string, number> = {};
        for (const d of deadLetters.values()) if (d.failed_at >= r.started_at) dl[d.stage] = (dl[d.stage] ?? 0) + 1;
        let partialCount = 0;
        for (const p of partials.values()) if (p.day === day && p.epoch === r.epoch) partialCount++;
        const sorted = [...ls].sort((a, b) => cmp(a.chunk_id, b.chunk_id) || cmp(a.merchant_id, b.merchant_id));
        return {
          run: record(r),
          chunks: {
            published: cs.filter((c) => c.published_at !== null).length,
            split: cs.filter((c) => c.split_done_at !== null).length,
            stuck: cs.filter((c) => c.published_at !== null && c.split_done_at === null && c.published_at < stuckBefore).length,
          },
          ledger: {
            ranges: ls.length,
            sealed: ls.filter((l) => l.sealed_at !== null).length,
            batches: ls.reduce((a, l) => a + (l.batches ?? 0), 0),
            rows_read: ls.reduce((a, l) => a + (l.rows_read ?? 0), 0),
            valid: ls.reduce((a, l) => a + (l.valid ?? 0), 0),
          },
          merchantDays: {
            done: mds.filter((m) => m.state === 'done').length,
            stuck: mds.filter((m) => { const x = byMerchant.get(m.merchant_id); return m.state === 'pending' && x !== undefined && x.unsealed === 0 && x.lastSeal < stuckBefore; }).length,
            events: mds.reduce((a, m) => a + (m.events ?? 0) + (m.invalid_events ?? 0), 0),
            refusedPartials: mds.reduce((a, m) => a + m.refused_partials, 0),
          },
          partials: partialCount,
          conflicts: sorted.filter((l) => l.conflict !== null).map((l) => ({ chunk_id: l.chunk_id, merchant_id: l.merchant_id, detail: l.conflict! })),
          errors: sorted.filter((l) => l.conflict === null && l.last_error !== null && l.sealed_at === null).map((l) => ({ chunk_id: l.chunk_id, merchant_id: l.merchant_id, error: l.last_error! })),
          work: Object.fromEntries(Object.entries(workByStage).map(([s, { replicaSet, ...w }]) => [s, { ...w, replicas: replicaSet.size }])),
          dropped,
          deadLetters: dl,
          now: t,
        };
      },
      async chunkReports(day, epoch): Promise<ChunkReport[]> {
        return chunksOf(day, epoch).map((c) => {
          const stages: ChunkReport['stages'] = {};
          const replicas = new Map<string, Set<string>>();
          for (const w of work.values()) {
            if (w.day !== day || w.epoch !== epoch || w.chunk_id !== c.chunk_id) continue;
            const s = (stages[w.stage] ??= { messages: 0, events: 0, replicas: 0, queued_ms: 0, handle_ms: 0, write_ms: 0, first_at: w.t.firstAt, last_at: w.t.lastAt });
            s.first_at = Math.min(s.first_at, w.t.firstAt);
            s.last_at = Math.max(s.last_at, w.t.lastAt);
            s.messages += w.t.messages;
            s.events += w.t.events;
            s.queued_ms += w.t.queuedMs;
            s.handle_ms += w.t.handleMs;
            s.write_ms += w.t.writeMs;
            const set = replicas.get(w.stage) ?? new Set<string>();
            set.add(w.replica);
            replicas.set(w.stage, set);
            s.replicas = set.size;
          }
          const iso = (x: number | null) => (x === null ? null : new Date(x).toISOString());
          return { chunk_id: c.chunk_id, seq: c.seq, est_rows: c.est_rows, publish_count: c.publish_count, published_at: iso(c.published_at), split_done_at: iso(c.split_done_at), stages };
        });
      },
    },

    offsets: {
      async record(o) {
        const key = k(o.day, o.epoch, o.topic, o.partition);
        const cur = offsets.get(key);
        const first = BigInt(o.first);
        const last = BigInt(o.last);
        if (!cur) offsets.set(key, { day: o.day, epoch: o.epoch, topic: o.topic, partition: o.partition, first, last });
        else {
          if (first < cur.first) cur.first = first;
          if (last > cur.last) cur.last = last;
        }
      },
      async of(day, epoch, topic) {
        return [...offsets.values()].filter((o) => o.day === day && o.epoch === epoch && o.topic === topic).sort((a, b) => a.partition - b.partition)
          .map((o) => ({ partition: o.partition, first: o.first.toString(), last: o.last.toString() }));
      },
    },

    work: {
      async write(stage, replica, totals) {
        for (const t of totals) {
          const key = k(t.day, t.epoch, t.chunkId, stage, replica);
          const cur = work.get(key);
          // first_at is kept from the first write, like the upsert on the server.
          work.set(key, { day: t.day, epoch: t.epoch, chunk_id: t.chunkId, stage, replica, t: { ...t, firstAt: cur ? cur.t.firstAt : t.firstAt } });
        }
      },
    },

    quarantine: {
      async add(day, merchantId, rows) {
        for (const r of rows) {
          const key = k(day, merchantId, r.visitor_id, r.event_id);
          if (!quarantine.has(key)) quarantine.set(key, { ...r, detail: r.detail.slice(0, 512), day, merchant_id: merchantId });
        }
      },
      async read(day, merchant, limit) {
        const all = [...quarantine.values()].filter((q) => q.day === day && (merchant === undefined || q.merchant_id === merchant));
        const byReason: Record<string, number> = {};
        for (const q of all) byReason[q.reason] = (byReason[q.reason] ?? 0) + 1;
        const rows = all
          .sort((a, b) => compareCodePoints(a.merchant_id, b.merchant_id) || bytesCmp(a.visitor_id, b.visitor_id) || bytesCmp(a.event_id, b.event_id))
          .slice(0, limit)
          .map(({ day: _d, ...q }) => q);
        return { total: all.length, byReason, rows };
      },
    },

    deadLetters: {
      async add(d) {
        const key = k(d.stage, d.topic, d.partition, d.offset);
        if (deadLetters.has(key)) return;
        const id = deadLetters.size + 1;
        deadLetters.set(key, {
          id, stage: d.stage, topic: d.topic, partition: d.partition, offset: d.offset, day: d.day ?? null, epoch: d.epoch ?? null, code: d.code, error: d.error.slice(0, 4000),
          failed_at: now(), payload_bytes: d.payload_bytes ?? d.payload?.length ?? null, redriven_at: null, redrive_count: 0, seq: ++tick,
          payload: d.payload ? Buffer.from(d.payload) : null, key: d.key ? Buffer.from(d.key) : null,
        });
      },
      async list(f, limit = 1000) {
        return [...deadLetters.values()]
          .filter((d) => (f.day === undefined || d.day === f.day) && (f.stage === undefined || d.stage === f.stage) && (!f.pending || d.redriven_at === null))
          .sort((a, b) => a.id - b.id).slice(0, limit)
          .map(({ seq: _s, payload: _p, key: _k, ...d }) => ({ ...d }));
      },
      async get(id) {
        const d = [...deadLetters.values()].find((x) => x.id === id);
        if (!d) return undefined;
        const { seq: _s, ...rest } = d;
        return { ...rest, payload: d.payload ? Buffer.from(d.payload) : null, key: d.key ? Buffer.from(d.key) : null };
      },
      async markRedriven(ids) {
        for (const d of deadLetters.values()) {
          if (!ids.includes(d.id)) continue;
          d.redriven_at = now();
          d.redrive_count++;
        }
      },
      async count() {
        return deadLetters.size;
      },
      async last() {
        let best: { stage: string; error: string; failed_at: number; seq: number } | undefined;
        for (const d of deadLetters.values()) if (!best || d.failed_at > best.failed_at || (d.failed_at === best.failed_at && d.seq > best.seq)) best = d;
        return best ? { stage: best.stage, error: best.error } : undefined;
      },
    },

    registry: {
      async histories(ids) {
        const want = ids === undefined ? [...zones.keys()] : ids.filter((m) => zones.has(m));
        return new Map(want.sort(cmp).map((m) => [m, zones.get(m)!.map((e) => ({ ...e }))]));
      },
      async read() {
        return { histories: new Map([...zones].sort(([a], [b]) => cmp(a, b)).map(([m, h]) => [m, h.map((e) => ({ ...e }))])), version: registryVersion };
      },
      async storedDays(ids) {
        const out = new Map<string, string>();
        for (const b of buckets.values()) {
          if (b.rows <= 0 || !ids.includes(b.merchant_id)) continue;
          const cur = out.get(b.merchant_id);
          if (cur === undefined || b.day > cur) out.set(b.merchant_id, b.day);
        }
        return out;
      },
      async apply(changes) {
        if (changes.length === 0) return;
        registryVersion++;
        for (const c of changes) {
          if (c.history.length === 0) zones.delete(c.merchant_id);
          else zones.set(c.merchant_id, c.history.map((e) => ({ ...e })));
          zoneChangedVersion.set(c.merchant_id, registryVersion);
        }
      },
    },

    ingest: {
      async open() {
        const id = nextBatch++;
        batches.set(id, { state: 'open', open_seq: commitSeq, commit_seq: null });
        return { id, openSeq: commitSeq };
      },
      async committed(ids) {
        const out = new Map<number, number>();
        for (const id of ids) {
          const b = batches.get(id);
          if (b?.state === 'committed' && b.commit_seq !== null) out.set(id, b.commit_seq);
        }
        return out;
      },
      commit(c) {
        // Chained: one commit at a time, like the lock on ingest_clock.
        const run = commitChain.then(async () => {
          const b = batches.get(c.batch.id);
          if (!b) throw new Error(`ingest batch ${c.batch.id} was never opened`);
          if (b.state === 'committed') return 'already' as const;
          const read = c.zonesVersion;
          const changed = read === undefined ? [] : [...new Set(c.touched.map((t) => t.merchant_id))].filter((m) => (zoneChangedVersion.get(m) ?? -Infinity) > read).sort(cmp);
          if (changed.length > 0) {
            throw new StagelineError('CONFLICT', `the time zone of ${changed.join(', ')} changed while this ingest ran: this batch does not count (nothing of it is read); run the ingest again`);
          }
          const touched = c.touched.filter((t) => t.rows > 0);
          const mine = new Set(touched.map((t) => k(t.day, t.merchant_id)));
          const racing = new Set<number>();
          for (const d of batchDays.values()) if (d.commit_seq > c.batch.openSeq && mine.has(k(d.day, d.merchant_id))) racing.add(d.batch_id);
          const counts = racing.size > 0 ? await c.recheck(racing) : c.buckets;
          const seq = ++commitSeq;
          b.state = 'committed';
          b.commit_seq = seq;
          for (const t of c.touched) {
            const key = k(t.day, t.merchant_id, c.batch.id);
            if (!batchDays.has(key)) batchDays.set(key, { batch_id: c.batch.id, day: t.day, merchant_id: t.merchant_id, commit_seq: seq });
          }
          for (const x of counts) {
            if (x.rows <= 0) continue;
            const key = k(x.day, x.merchant_id, x.bucket);
            const cur = buckets.get(key);
            if (cur) cur.rows += x.rows;
            else buckets.set(key, { ...x });
          }
          // Late: the day was planned already; a merchant new to a planned day waits for a re-run too.
          const plannedDays = new Set([...epochsMeta.values()].map((e) => e.day));
          const late: TouchedMerchantDay[] = touched.filter((t) => plannedDays.has(t.day)).map((t) => ({ ...t }));
          for (const t of late) {
            const key = k(t.day, t.merchant_id);
            const cur = lateData.get(key);
            if (cur) {
              cur.rows += t.rows;
              cur.last_seq = seq;
            } else {
              lateData.set(key, { day: t.day, merchant_id: t.merchant_id, rows: t.rows, first_seq: seq, last_seq: seq });
            }
          }
          return { seq, late };
        });
        commitChain = run.catch(() => undefined);
        return run;
      },
      async daySeqs(day) {
        const out = new Map<number, number>();
        for (const d of batchDays.values()) if (d.day === day) out.set(d.batch_id, d.commit_seq);
        return out;
      },
      async ofDay(day) {
        return [...buckets.values()].filter((b) => b.day === day && b.rows > 0)
          .sort((a, b) => cmp(a.merchant_id, b.merchant_id) || a.bucket - b.bucket)
          .map((b) => ({ ...b }));
      },
      async merchantsOf(day) {
        return [...new Set([...buckets.values()].filter((b) => b.day === day && b.rows > 0).map((b) => b.merchant_id))].sort(cmp);
      },
      async dayTotals(days) {
        const out = new Map<string, number>();
        for (const b of buckets.values()) if (days.includes(b.day) && b.rows > 0) out.set(b.day, (out.get(b.day) ?? 0) + b.rows);
        return out;
      },
      async addRejects(rows) {
        for (const r of rows) {
          const key = k(r.day, r.sha256.toString('hex'));
          if (!rejects.has(key)) rejects.set(key, { ...r, head: Buffer.from(r.head.subarray(0, 4096)), detail: r.detail.slice(0, 512), source: r.source.slice(0, 512) });
        }
      },
      async rejects(day, limit) {
        const all = [...rejects.values()].filter((r) => r.day === day);
        const byReason: Record<string, number> = {};
        for (const r of all) byReason[r.reason] = (byReason[r.reason] ?? 0) + 1;
        const rows = all.sort((a, b) => cmp(a.source, b.source) || a.line_no - b.line_no).slice(0, limit)
          .map(({ sha256: _s, head, ...r }) => ({ ...r, head: head.toString('utf8') }));
        return { total: all.length, byReason, rows };
      },
    },

    sizes: () => ({
      runs: runs.size, run_epochs: epochsMeta.size, run_chunks: chunks.size, chunk_ledger: ledgerRows.size, merchant_days: merchantDays.size, merchant_day_epochs: mdEpochs.size,
      partials: partials.size, sealed_batches: sealedBatches.size, run_offsets: offsets.size, chunk_work: work.size, quarantine: quarantine.size, dead_letters: deadLetters.size,
      raw_buckets: buckets.size, ingest_batches: batches.size, late_data: lateData.size, ingest_rejects: rejects.size, merchant_zones: [...zones.values()].reduce((a, h) => a + h.length, 0),
    }),
  };
  return ledger;
}
