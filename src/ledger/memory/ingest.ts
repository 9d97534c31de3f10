/** The in-memory twin of src/ledger/sql/ingest.ts (see ../memory.ts). */
import { shownHead } from '../shown.js';
import type { Ledger, TouchedMerchantDay } from '../types.js';
import { StagelineError } from '../../errors.js';
import { type MemoryState, k, cmp } from './state.js';

export function memoryIngest(s: MemoryState): Ledger['ingest'] {
  const { epochsMeta, buckets, batches, batchDays, lateData, rejects, zoneChangedVersion } = s;
  return {
    async open() {
      const id = s.nextBatch++;
      batches.set(id, { state: 'open', open_seq: s.commitSeq, commit_seq: null });
      return { id, openSeq: s.commitSeq };
    },
    async committed(ids) {
      const out = new Map<number, number>();
      for (const id of ids) {
        const b = batches.get(id);
        if (b?.state === 'committed' && b.commit_seq !== null) out.set(id, b.commit_seq);
      }
      return out;
    },
    commit(c) {
      // Chained: one commit at a time, like the lock on ingest_clock.
      const run = s.commitChain.then(async () => {
        const b = batches.get(c.batch.id);
        if (!b) throw new Error(`ingest batch ${c.batch.id} was never opened`);
        if (b.state === 'committed') return 'already' as const;
        const read = c.zonesVersion;
        const changed = read === undefined ? [] : [...new Set(c.touched.map((t) => t.merchant_id))].filter((m) => (zoneChangedVersion.get(m) ?? -Infinity) > read).sort(cmp);
        if (changed.length > 0) {
          throw new StagelineError('CONFLICT', `the time zone of ${changed.join(', ')} changed while this ingest ran: this batch does not count (nothing of it is read); run the ingest again`);
        }
        const touched = c.touched.filter((t) => t.rows > 0);
        const mine = new Set(touched.map((t) => k(t.day, t.merchant_id)));
        const racing = new Set<number>();
        for (const d of batchDays.values()) if (d.commit_seq > c.batch.openSeq && mine.has(k(d.day, d.merchant_id))) racing.add(d.batch_id);
        const counts = racing.size > 0 ? await c.recheck(racing) : c.buckets;
        const seq = ++s.commitSeq;
        b.state = 'committed';
        b.commit_seq = seq;
        for (const t of c.touched) {
          const key = k(t.day, t.merchant_id, c.batch.id);
          if (!batchDays.has(key)) batchDays.set(key, { batch_id: c.batch.id, day: t.day, merchant_id: t.merchant_id, commit_seq: seq });
        }
        for (const x of counts) {
          if (x.rows <= 0) continue;
          const key = k(x.day, x.merchant_id, x.bucket);
          const cur = buckets.get(key);
          if (cur) cur.rows += x.rows;
          else buckets.set(key, { ...x });
        }
        // Late: the day was planned already; a merchant new to a planned day waits for a re-run too.
        const plannedDays = new Set([...epochsMeta.values()].map((e) => e.day));
        const late: TouchedMerchantDay[] = touched.filter((t) => plannedDays.has(t.day)).map((t) => ({ ...t }));
        for (const t of late) {
          const key = k(t.day, t.merchant_id);
          const cur = lateData.get(key);
          if (cur) {
            cur.rows += t.rows;
            cur.last_seq = seq;
          } else {
            lateData.set(key, { day: t.day, merchant_id: t.merchant_id, rows: t.rows, first_seq: seq, last_seq: seq });
          }
        }
        return { seq, late };
      });
      s.commitChain = run.catch(() => undefined);
      return run;
    },
    async daySeqs(day) {
      const out = new Map<number, number>();
      for (const d of batchDays.values()) if (d.day === day) out.set(d.batch_id, d.commit_seq);
      return out;
    },
    async ofDay(day) {
      return [...buckets.values()].filter((b) => b.day === day && b.rows > 0)
        .sort((a, b) => cmp(a.merchant_id, b.merchant_id) || a.bucket - b.bucket)
        .map((b) => ({ ...b }));
    },
    async merchantsOf(day) {
      return [...new Set([...buckets.values()].filter((b) => b.day === day && b.rows > 0).map((b) => b.merchant_id))].sort(cmp);
    },
    async dayTotals(days) {
      const out = new Map<string, number>();
      for (const b of buckets.values()) if (days.includes(b.day) && b.rows > 0) out.set(b.day, (out.get(b.day) ?? 0) + b.rows);
      return out;
    },
    async stored() {
      const days = [...buckets.values()].filter((b) => b.rows > 0);
      if (days.length === 0) return undefined;
      const sorted = days.map((b) => b.day).sort(cmp);
      return { rows: days.reduce((a, b) => a + b.rows, 0), firstDay: sorted[0]!, lastDay: sorted[sorted.length - 1]! };
    },
    async addRejects(rows) {
      for (const r of rows) {
        const key = k(r.day, r.sha256.toString('hex'));
        if (!rejects.has(key)) rejects.set(key, { ...r, head: Buffer.from(r.head.subarray(0, 4096)), detail: r.detail.slice(0, 512), source: r.source.slice(0, 512) });
      }
    },
    async rejects(day, limit) {
      const all = [...rejects.values()].filter((r) => r.day === day);
      const byReason: Record<string, number> = {};
      for (const r of all) byReason[r.reason] = (byReason[r.reason] ?? 0) + 1;
      const rows = all.sort((a, b) => cmp(a.source, b.source) || a.line_no - b.line_no).slice(0, limit)
        .map(({ sha256: _s, head, ...r }) => ({ ...r, ...shownHead(head) }));
      return { total: all.length, byReason, rows };
    },
  };
}
