/** The in-memory twin of src/ledger/sql/plan.ts (see ../memory.ts). */
import type { Ledger } from '../types.js';
import type { Plan } from '../../domain/plan.js';
import { type MemoryState, k, cmp } from './state.js';

export function memoryPlan(s: MemoryState): Ledger['plan'] {
  const { epochsMeta, buckets, unplannedWithRows, chunks, ledgerRows, merchantDays, mdEpochs, lateData, now, touch, owned, chunkRow, chunksOf, ledgerOf } = s;
  return {
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
      epochsMeta.set(k(day, epoch), { day, epoch, kind: req.kind, snapshotSeq: s.commitSeq, shape: { ...req.shape }, planned_at: now() });
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
      return { chunks: p.chunks.length, merchantDays: p.merchantDays.length, rows: p.totalRows, snapshotSeq: s.commitSeq };
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
  };
}
