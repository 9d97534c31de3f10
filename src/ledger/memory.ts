/**
 * The ledger in memory: the same ports as the MariaDB implementation, over Maps, with "now" from an
 * injected clock. It exists for unit tests of the stage handlers and the master's loop; the
 * conformance suite (test/support/ledger-conformance.ts) keeps it honest against MariaDB.
 *
 * Everything runs synchronously inside each call, so every operation is atomic here the way a
 * transaction or a single statement is on the server.
 */
import type { Plan } from '../domain/plan.js';
import { compareCodePoints } from '../domain/event.js';
import type {
  AcquireResult, ChunkReport, ChunkRow, Completeness, Ledger, PartialRow, QuarantineRow, RunProgress, RunRecord, RunState, SplitCountsRecord, StageWork, WorkTotals,
} from './types.js';

interface RunRow extends Omit<RunRecord, 'lock_live'> {
  lock_expires_at: number | null;
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
  sealed_at: number | null;
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

export interface MemoryLedger extends Ledger {
  /** Row counts per table, for tests that check nothing was written twice. */
  sizes(): Record<string, number>;
}

export function createMemoryLedger(now: () => number = Date.now): MemoryLedger {
  const runs = new Map<string, RunRow>();
  const chunks = new Map<string, ChunkState>();
  const ledgerRows = new Map<string, LedgerRow>();
  const merchantDays = new Map<string, MerchantDayRow>();
  const partials = new Map<string, PartialRow>();
  const offsets = new Map<string, { day: string; epoch: number; topic: string; partition: number; first: bigint; last: bigint }>();
  const work = new Map<string, WorkRow>();
  const quarantine = new Map<string, QuarantineRow & { day: string; merchant_id: string }>();
  const deadLetters = new Map<string, { stage: string; error: string; failed_at: number; seq: number }>();
  const buckets = new Map<string, { day: string; merchant_id: string; bucket: number; rows: number }>();
  let tick = 0;

  const touch = (r: RunRow): void => {
    r.updated_at = now();
    r.seq = ++tick;
  };
  const live = (r: RunRow): boolean => r.lock_owner !== null && r.lock_expires_at !== null && r.lock_expires_at > now();
  const record = (r: RunRow): RunRecord => {
    const { lock_expires_at: _e, updated_at: _u, seq: _s, ...rest } = r;
    return { ...rest, lock_live: live(r) };
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
            day: o.day, epoch: 1, run_id: runId, state: 'planning', from_stage: 'split', chunks: 0, merchant_days: 0, planned_rows: 0,
            lock_owner: null, lock_expires_at: null, error: null, started_at: now(), first_publish_at: null, completed_at: null, updated_at: 0, seq: 0,
          };
          lease(r, o.owner, o.leaseSec);
          touch(r);
          runs.set(o.day, r);
          return { kind: 'acquired', run: { day: o.day, epoch: 1, run_id: runId, state: 'planning' } };
        }
        if (run.lock_owner !== null && run.lock_owner !== o.owner && live(run)) return { kind: 'held', owner: run.lock_owner };
        if (run.state === 'complete' && !o.rerun) return { kind: 'already-complete', epoch: run.epoch };
        if (run.state === 'complete') {
          run.epoch += 1;
          run.run_id = o.newRunId(run.epoch);
          Object.assign(run, { state: 'planning', from_stage: 'split', chunks: 0, merchant_days: 0, planned_rows: 0, error: null, completed_at: null, first_publish_at: null, started_at: now() });
          lease(run, o.owner, o.leaseSec);
          touch(run);
          return { kind: 'acquired', run: { day: o.day, epoch: run.epoch, run_id: run.run_id, state: 'planning' } };
        }
        const state: RunState = run.state === 'failed' ? 'running' : run.state;
        run.state = state;
        run.error = null;
        lease(run, o.owner, o.leaseSec);
        touch(run);
        return { kind: 'acquired', run: { day: o.day, epoch: run.epoch, run_id: run.run_id, state } };
      },
      async renewLease(day, owner, leaseSec) {
        const r = runs.get(day);
        if (!r || r.lock_owner !== owner) return false;
        r.lock_expires_at = now() + leaseSec * 1000;
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
      async markFirstPublish(day) {
        const r = runs.get(day);
        if (r && r.first_publish_at === null) {
          r.first_publish_at = now();
          touch(r);
        }
      },
      async complete(day, epoch) {
        const r = runs.get(day);
        if (!r || r.epoch !== epoch) return false;
        Object.assign(r, { state: 'complete', completed_at: now(), lock_owner: null, lock_expires_at: null });
        touch(r);
        return true;
      },
      async fail(day, epoch, _owner, report) {
        const r = runs.get(day);
        if (!r || r.epoch !== epoch) return false;
        Object.assign(r, { state: 'failed', error: report, lock_owner: null, lock_expires_at: null });
        touch(r);
        return true;
      },
      async openReplayEpoch(p) {
        const r = runs.get(p.day);
        if (!r || r.epoch !== p.fromEpoch) return false;
        for (const c of chunksOf(p.day, p.fromEpoch)) {
          const key = k(p.day, p.toEpoch, c.chunk_id);
          if (!chunks.has(key)) chunks.set(key, { ...c, epoch: p.toEpoch, ranges: c.ranges.map((x) => ({ ...x })), published_at: c.published_at ?? now(), split_done_at: p.keepSplit ? c.split_done_at : null, split_runs: 0 });
        }
        for (const l of ledgerOf(p.day, p.fromEpoch)) {
          const key = k(p.day, p.toEpoch, l.merchant_id, l.chunk_id);
          if (ledgerRows.has(key)) continue;
          const copy: LedgerRow = { day: l.day, epoch: p.toEpoch, chunk_id: l.chunk_id, merchant_id: l.merchant_id, bucket_lo: l.bucket_lo, bucket_hi: l.bucket_hi, sealed_at: null };
          if (p.keepSplit) Object.assign(copy, { rows_read: l.rows_read, valid: l.valid, invalid: l.invalid, batches: l.batches, sealed_at: l.sealed_at });
          ledgerRows.set(key, copy);
        }
        for (const m of [...merchantDays.values()].filter((x) => x.day === p.day && x.epoch === p.fromEpoch)) {
          const key = k(p.day, p.toEpoch, m.merchant_id);
          if (!merchantDays.has(key)) merchantDays.set(key, { ...m, epoch: p.toEpoch, state: 'pending', events: null, invalid_events: null, done_at: null });
        }
        for (const o of [...offsets.values()].filter((x) => x.day === p.day && x.epoch === p.fromEpoch && x.topic === p.topic)) {
          const key = k(p.day, p.toEpoch, o.topic, o.partition);
          if (!offsets.has(key)) offsets.set(key, { ...o, epoch: p.toEpoch });
        }
        Object.assign(r, { epoch: p.toEpoch, state: 'running', from_stage: p.fromStage, error: null, completed_at: null, started_at: now(), first_publish_at: now(), lock_owner: null, lock_expires_at: null });
        touch(r);
        return true;
      },
    },

    plan: {
      async save(day, epoch, p: Plan) {
        for (const c of p.chunks) {
          const key = k(day, epoch, c.chunk_id);
          if (!chunks.has(key)) chunks.set(key, { day, epoch, chunk_id: c.chunk_id, seq: c.seq, ranges: c.ranges.map((r) => ({ ...r })), est_rows: c.est_rows, publish_count: 0, published_at: null, split_done_at: null, split_runs: 0 });
          for (const r of c.ranges) {
            const lk = k(day, epoch, r.merchant_id, c.chunk_id);
            if (!ledgerRows.has(lk)) ledgerRows.set(lk, { day, epoch, chunk_id: c.chunk_id, merchant_id: r.merchant_id, bucket_lo: r.bucket_lo, bucket_hi: r.bucket_hi, sealed_at: null });
          }
        }
        for (const m of p.merchantDays) {
          const mk = k(day, epoch, m.merchant_id);
          if (!merchantDays.has(mk)) merchantDays.set(mk, { day, epoch, merchant_id: m.merchant_id, chunks: m.chunks, est_rows: m.est_rows, state: 'pending', events: null, invalid_events: null, done_at: null });
        }
        const r = runs.get(day);
        if (r && r.epoch === epoch) {
          Object.assign(r, { state: 'running', chunks: p.chunks.length, merchant_days: p.merchantDays.length, planned_rows: p.totalRows });
          touch(r);
        }
      },
      async chunks(day, epoch, filter = 'all') {
        return chunksOf(day, epoch).filter((c) => filter === 'all' || c.published_at === null).map(chunkRow);
      },
      async markPublished(day, epoch, ids) {
        for (const id of ids) {
          const c = chunks.get(k(day, epoch, id));
          if (!c) continue;
          c.published_at = now();
          c.publish_count++;
        }
      },
      async chunksOfPendingMerchantDays(day, epoch) {
        const pending = new Set([...merchantDays.values()].filter((m) => m.day === day && m.epoch === epoch && m.state === 'pending').map((m) => m.merchant_id));
        const ids = new Set(ledgerOf(day, epoch).filter((l) => pending.has(l.merchant_id)).map((l) => l.chunk_id));
        return chunksOf(day, epoch).filter((c) => ids.has(c.chunk_id)).sort((a, b) => cmp(a.chunk_id, b.chunk_id)).map(chunkRow);
      },
      async resetSplit(day, epoch, ids) {
        for (const id of ids) {
          const c = chunks.get(k(day, epoch, id));
          if (c) c.split_done_at = null;
        }
      },
    },

    chunks: {
      async get(day, epoch, id) {
        const c = chunks.get(k(day, epoch, id));
        return c ? chunkRow(c) : undefined;
      },
      async beginSplit(day, epoch, id) {
        const c = chunks.get(k(day, epoch, id));
        if (c) c.split_runs++;
      },
      async seal(day, epoch, chunkId, merchantId, counts) {
        const l = ledgerRows.get(k(day, epoch, merchantId, chunkId));
        if (!l) return;
        Object.assign(l, counts);
        l.sealed_at ??= now();
      },
      async finishSplit(day, epoch, id) {
        const c = chunks.get(k(day, epoch, id));
        if (c) c.split_done_at ??= now();
      },
    },

    merchantDays: {
      async addPartial(p) {
        const key = k(p.day, p.epoch, p.merchant_id, p.batch_id);
        if (partials.has(key)) return false;
        partials.set(key, { ...p, payload: Buffer.from(p.payload) });
        return true;
      },
      async completeness(day, epoch, merchantId): Promise<Completeness | undefined> {
        const md = merchantDays.get(k(day, epoch, merchantId));
        if (!md) return undefined;
        const rows = ledgerOf(day, epoch, merchantId);
        const inPlan = new Set(rows.map((l) => l.chunk_id));
        let received = 0;
        for (const p of partials.values()) if (p.day === day && p.epoch === epoch && p.merchant_id === merchantId && inPlan.has(p.chunk_id)) received++;
        return {
          state: md.state,
          chunks: rows.length,
          sealed: rows.filter((l) => l.sealed_at !== null).length,
          expectedBatches: rows.reduce((a, l) => a + (l.batches ?? 0), 0),
          receivedBatches: received,
          invalid: rows.reduce((a, l) => a + (l.invalid ?? 0), 0),
        };
      },
      async partialPayloads(day, epoch, merchantId) {
        const inPlan = new Set(ledgerOf(day, epoch, merchantId).map((l) => l.chunk_id));
        return [...partials.values()]
          .filter((p) => p.day === day && p.epoch === epoch && p.merchant_id === merchantId && inPlan.has(p.chunk_id))
          .sort((a, b) => cmp(a.batch_id, b.batch_id))
          .map((p) => Buffer.from(p.payload));
      },
      async markDone(day, epoch, merchantId, events, invalidEvents) {
        const md = merchantDays.get(k(day, epoch, merchantId));
        if (!md || md.state !== 'pending') return false;
        Object.assign(md, { state: 'done', events, invalid_events: invalidEvents, done_at: now() });
        return true;
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
        for (const w of work.values()) {
          if (w.day !== day || w.epoch !== r.epoch) continue;
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
          },
          partials: partialCount,
          work: Object.fromEntries(Object.entries(workByStage).map(([s, { replicaSet, ...w }]) => [s, { ...w, replicas: replicaSet.size }])),
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
            const s = (stages[w.stage] ??= { messages: 0, events: 0, replicas: 0, queued_ms: 0, handle_ms: 0, write_ms: 0 });
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
          .sort((a, b) => compareCodePoints(a.merchant_id, b.merchant_id) || compareCodePoints(a.visitor_id, b.visitor_id) || compareCodePoints(a.event_id, b.event_id))
          .slice(0, limit)
          .map(({ day: _d, ...q }) => q);
        return { total: all.length, byReason, rows };
      },
    },

    deadLetters: {
      async add(d) {
        const key = k(d.stage, d.topic, d.partition, d.offset);
        if (!deadLetters.has(key)) deadLetters.set(key, { stage: d.stage, error: d.error.slice(0, 4000), failed_at: now(), seq: ++tick });
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

    ingest: {
      async add(counts) {
        for (const c of counts) {
          const key = k(c.day, c.merchant_id, c.bucket);
          const cur = buckets.get(key);
          if (cur) cur.rows += c.rows;
          else buckets.set(key, { ...c });
        }
      },
      async ofDay(day) {
        return [...buckets.values()].filter((b) => b.day === day && b.rows > 0)
          .sort((a, b) => cmp(a.merchant_id, b.merchant_id) || a.bucket - b.bucket)
          .map((b) => ({ ...b }));
      },
    },

    sizes: () => ({ runs: runs.size, run_chunks: chunks.size, chunk_ledger: ledgerRows.size, merchant_days: merchantDays.size, partials: partials.size, run_offsets: offsets.size, chunk_work: work.size, quarantine: quarantine.size, dead_letters: deadLetters.size, raw_buckets: buckets.size }),
  };
  return ledger;
}
