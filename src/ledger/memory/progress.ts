/** The in-memory twin of src/ledger/sql/progress.ts (see ../memory.ts). */
import type { ChunkReport, Ledger, RunProgress, StageWork } from '../types.js';
import { type MemoryState, cmp } from './state.js';

export function memoryProgress(s: MemoryState): Ledger['progress'] {
  const { runs, merchantDays, partials, work, deadLetters, now, record, chunksOf, ledgerOf } = s;
  return {
    async read(day, stuckAfterSec): Promise<RunProgress | undefined> {
      const r = runs.get(day);
      if (!r) return undefined;
      const t = now();
      const stuckBefore = t - stuckAfterSec * 1000;
      const cs = chunksOf(day, r.epoch);
      const ls = ledgerOf(day, r.epoch);
      const mds = [...merchantDays.values()].filter((m) => m.day === day && m.epoch === r.epoch);
      const byMerchant = new Map<string, { unsealed: number; lastSeal: number }>();
      for (const l of ls) {
        const x = byMerchant.get(l.merchant_id) ?? { unsealed: 0, lastSeal: 0 };
        if (l.sealed_at === null) x.unsealed++;
        else x.lastSeal = Math.max(x.lastSeal, l.sealed_at);
        byMerchant.set(l.merchant_id, x);
      }
      const workByStage: Record<string, StageWork & { replicaSet: Set<string> }> = {};
      const dropped: Record<string, number> = {};
      for (const w of work.values()) {
        if (w.day !== day) continue;
        if (w.t.dropped > 0) dropped[w.stage] = (dropped[w.stage] ?? 0) + w.t.dropped;
        if (w.epoch !== r.epoch) continue;
        const s = (workByStage[w.stage] ??= { messages: 0, events: 0, replicas: 0, queued_ms: 0, handle_ms: 0, write_ms: 0, first_at: Number.POSITIVE_INFINITY, last_at: 0, replicaSet: new Set() });
        s.messages += w.t.messages;
        s.events += w.t.events;
        s.queued_ms += w.t.queuedMs;
        s.handle_ms += w.t.handleMs;
        s.write_ms += w.t.writeMs;
        s.first_at = Math.min(s.first_at, w.t.firstAt);
        s.last_at = Math.max(s.last_at, w.t.lastAt);
        s.replicaSet.add(w.replica);
      }
      const dl: Record<string, number> = {};
      for (const d of deadLetters.values()) if (d.failed_at >= r.started_at) dl[d.stage] = (dl[d.stage] ?? 0) + 1;
      let partialCount = 0;
      for (const p of partials.values()) if (p.day === day && p.epoch === r.epoch) partialCount++;
      const sorted = [...ls].sort((a, b) => cmp(a.chunk_id, b.chunk_id) || cmp(a.merchant_id, b.merchant_id));
      return {
        run: record(r),
        chunks: {
          published: cs.filter((c) => c.published_at !== null).length,
          split: cs.filter((c) => c.split_done_at !== null).length,
          stuck: cs.filter((c) => c.published_at !== null && c.split_done_at === null && c.published_at < stuckBefore).length,
        },
        ledger: {
          ranges: ls.length,
          sealed: ls.filter((l) => l.sealed_at !== null).length,
          batches: ls.reduce((a, l) => a + (l.batches ?? 0), 0),
          rows_read: ls.reduce((a, l) => a + (l.rows_read ?? 0), 0),
          valid: ls.reduce((a, l) => a + (l.valid ?? 0), 0),
        },
        merchantDays: {
          done: mds.filter((m) => m.state === 'done').length,
          stuck: mds.filter((m) => { const x = byMerchant.get(m.merchant_id); return m.state === 'pending' && x !== undefined && x.unsealed === 0 && x.lastSeal < stuckBefore; }).length,
          events: mds.reduce((a, m) => a + (m.events ?? 0) + (m.invalid_events ?? 0), 0),
          refusedPartials: mds.reduce((a, m) => a + m.refused_partials, 0),
        },
        partials: partialCount,
        conflicts: sorted.filter((l) => l.conflict !== null).map((l) => ({ chunk_id: l.chunk_id, merchant_id: l.merchant_id, detail: l.conflict! })),
        errors: sorted.filter((l) => l.conflict === null && l.last_error !== null && l.sealed_at === null).map((l) => ({ chunk_id: l.chunk_id, merchant_id: l.merchant_id, error: l.last_error! })),
        work: Object.fromEntries(Object.entries(workByStage).map(([s, { replicaSet, ...w }]) => [s, { ...w, replicas: replicaSet.size }])),
        dropped,
        deadLetters: dl,
        now: t,
      };
    },
    async chunkReports(day, epoch): Promise<ChunkReport[]> {
      return chunksOf(day, epoch).map((c) => {
        const stages: ChunkReport['stages'] = {};
        const replicas = new Map<string, Set<string>>();
        for (const w of work.values()) {
          if (w.day !== day || w.epoch !== epoch || w.chunk_id !== c.chunk_id) continue;
          const s = (stages[w.stage] ??= { messages: 0, events: 0, replicas: 0, queued_ms: 0, handle_ms: 0, write_ms: 0, first_at: w.t.firstAt, last_at: w.t.lastAt });
          s.first_at = Math.min(s.first_at, w.t.firstAt);
          s.last_at = Math.max(s.last_at, w.t.lastAt);
          s.messages += w.t.messages;
          s.events += w.t.events;
          s.queued_ms += w.t.queuedMs;
          s.handle_ms += w.t.handleMs;
          s.write_ms += w.t.writeMs;
          const set = replicas.get(w.stage) ?? new Set<string>();
          set.add(w.replica);
          replicas.set(w.stage, set);
          s.replicas = set.size;
        }
        const iso = (x: number | null) => (x === null ? null : new Date(x).toISOString());
        return { chunk_id: c.chunk_id, seq: c.seq, est_rows: c.est_rows, publish_count: c.publish_count, published_at: iso(c.published_at), split_done_at: iso(c.split_done_at), stages };
      });
    },
  };
}
