/** The in-memory twin of src/ledger/sql/chunks.ts (see ../memory.ts). */
import type { Ledger, SealOutcome, SplitRange } from '../types.js';
import { type MemoryState, k } from './state.js';
import { utcDayFrame } from '../../domain/zones.js';

export function memoryChunks(s: MemoryState): Ledger['chunks'] {
  const { chunks, ledgerRows, partials, sealedBatches, now, chunkRow, md } = s;
  return {
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
  };
}
