/** The in-memory twin of src/ledger/sql/dead-letters.ts (see ../memory.ts). */
import type { Ledger } from '../types.js';
import { type MemoryState, k } from './state.js';

export function memoryDeadLetters(s: MemoryState): Ledger['deadLetters'] {
  const { deadLetters, now } = s;
  return {
    async add(d) {
      const key = k(d.stage, d.topic, d.partition, d.offset);
      if (deadLetters.has(key)) return;
      const id = deadLetters.size + 1;
      deadLetters.set(key, {
        id, stage: d.stage, topic: d.topic, partition: d.partition, offset: d.offset, day: d.day ?? null, epoch: d.epoch ?? null, code: d.code, error: d.error.slice(0, 4000),
        failed_at: now(), payload_bytes: d.payload_bytes ?? d.payload?.length ?? null, redriven_at: null, redrive_count: 0, seq: ++s.tick,
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
  };
}
