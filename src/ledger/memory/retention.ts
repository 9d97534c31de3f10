/** The in-memory twin of src/ledger/sql/retention.ts (see ../memory.ts). */
import type { Ledger } from '../types.js';
import { type MemoryState, k, cmp } from './state.js';

export function memoryRetention(s: MemoryState): Ledger['retention'] {
  const { chunks, ledgerRows, merchantDays, mdEpochs, partials, sealedBatches, offsets, work, quarantine, deadLetters, lateData, rejects } = s;
  return {
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
  };
}
