/** The in-memory twin of src/ledger/sql/offsets.ts (see ../memory.ts). */
import type { Ledger } from '../types.js';
import { type MemoryState, k } from './state.js';

export function memoryOffsets(s: MemoryState): Ledger['offsets'] {
  const { offsets } = s;
  return {
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
  };
}
