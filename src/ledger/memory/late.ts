/** The in-memory twin of src/ledger/sql/late.ts (see ../memory.ts). */
import type { Ledger } from '../types.js';
import { type MemoryState, cmp } from './state.js';

export function memoryLate(s: MemoryState): Ledger['late'] {
  const { lateData } = s;
  return {
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
  };
}
