/** The in-memory twin of src/ledger/sql/merchant-days.ts (see ../memory.ts). */
import type { Completeness, Ledger, MerchantDayEpoch, PartialOutcome } from '../types.js';
import { type MemoryState, k, cmp } from './state.js';

export function memoryMerchantDays(s: MemoryState): Ledger['merchantDays'] {
  const { epochsMeta, ledgerRows, mdEpochs, partials, sealedBatches, now, md } = s;
  return {
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
  };
}
