/** The in-memory twin of src/ledger/sql/registry.ts (see ../memory.ts). */
import type { Ledger } from '../types.js';
import { type MemoryState, cmp } from './state.js';

export function memoryRegistry(s: MemoryState): Ledger['registry'] {
  const { buckets, zones, zoneChangedVersion } = s;
  return {
    async histories(ids) {
      const want = ids === undefined ? [...zones.keys()] : ids.filter((m) => zones.has(m));
      return new Map(want.sort(cmp).map((m) => [m, zones.get(m)!.map((e) => ({ ...e }))]));
    },
    async read() {
      return { histories: new Map([...zones].sort(([a], [b]) => cmp(a, b)).map(([m, h]) => [m, h.map((e) => ({ ...e }))])), version: s.registryVersion };
    },
    async storedDays(ids) {
      const out = new Map<string, string>();
      for (const b of buckets.values()) {
        if (b.rows <= 0 || !ids.includes(b.merchant_id)) continue;
        const cur = out.get(b.merchant_id);
        if (cur === undefined || b.day > cur) out.set(b.merchant_id, b.day);
      }
      return out;
    },
    async apply(changes) {
      if (changes.length === 0) return;
      s.registryVersion++;
      for (const c of changes) {
        if (c.history.length === 0) zones.delete(c.merchant_id);
        else zones.set(c.merchant_id, c.history.map((e) => ({ ...e })));
        zoneChangedVersion.set(c.merchant_id, s.registryVersion);
      }
    },
  };
}
