/** The in-memory twin of src/ledger/sql/quarantine.ts (see ../memory.ts). */
import type { Ledger } from '../types.js';
import { compareCodePoints } from '../../domain/event.js';
import { type MemoryState, k, bytesCmp } from './state.js';

export function memoryQuarantine(s: MemoryState): Ledger['quarantine'] {
  const { quarantine } = s;
  return {
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
  };
}
