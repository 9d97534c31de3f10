/** The in-memory twin of src/ledger/sql/work.ts (see ../memory.ts). */
import type { Ledger } from '../types.js';
import { type MemoryState, k } from './state.js';

export function memoryWork(s: MemoryState): Ledger['work'] {
  const { work } = s;
  return {
    async write(stage, replica, totals) {
      for (const t of totals) {
        const key = k(t.day, t.epoch, t.chunkId, stage, replica);
        const cur = work.get(key);
        // first_at is kept from the first write, like the upsert on the server.
        work.set(key, { day: t.day, epoch: t.epoch, chunk_id: t.chunkId, stage, replica, t: { ...t, firstAt: cur ? cur.t.firstAt : t.firstAt } });
      }
    },
  };
}
