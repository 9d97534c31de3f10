/** The in-memory twin of src/ledger/sql/runs.ts (see ../memory.ts). */
import type { AcquireResult, Ledger, RunState } from '../types.js';
import { type MemoryState, type RunRow, type LedgerRow, k, cmp } from './state.js';

export function memoryRuns(s: MemoryState): Ledger['runs'] {
  const { runs, epochsMeta, chunks, ledgerRows, merchantDays, mdEpochs, sealedBatches, offsets, now, touch, live, record, owned, chunksOf, ledgerOf, lease, catchUpWaiting } = s;
  return {
    async get(day) {
      const r = runs.get(day);
      return r ? record(r) : undefined;
    },
    async currentEpoch(day) {
      return runs.get(day)?.epoch;
    },
    async range(from, to) {
      return [...runs.values()].filter((r) => r.day >= from && r.day <= to).sort((a, b) => cmp(a.day, b.day)).map(record);
    },
    async active() {
      return [...runs.values()].filter(live).sort((a, b) => cmp(a.day, b.day)).map(record);
    },
    async latestDay() {
      let best: RunRow | undefined;
      for (const r of runs.values()) if (!best || r.updated_at > best.updated_at || (r.updated_at === best.updated_at && r.seq > best.seq)) best = r;
      return best?.day;
    },
    async acquire(o): Promise<AcquireResult> {
      const run = runs.get(o.day);
      if (!run) {
        const runId = o.newRunId(1);
        const r: RunRow = {
          day: o.day, epoch: 1, run_id: runId, state: 'planning', from_stage: 'split', plan_kind: 'full', trigger: o.trigger ?? 'nightly', chunks: 0, merchant_days: 0, planned_rows: 0,
          lock_owner: null, lock_expires_at: null, lock_renewed_at: null, error: null, started_at: now(), first_publish_at: null, completed_at: null, updated_at: 0, seq: 0,
        };
        lease(r, o.owner, o.leaseSec);
        touch(r);
        runs.set(o.day, r);
        return { kind: 'acquired', run: { day: o.day, epoch: 1, run_id: runId, state: 'planning', kind: 'full' } };
      }
      if (run.lock_owner !== null && run.lock_owner !== o.owner && live(run)) return { kind: 'held', owner: run.lock_owner };
      if (run.state === 'complete' || run.state === 'waiting') {
        const late = o.mode === 'late' && catchUpWaiting(o.day, o.due);
        if (o.mode !== 'rerun' && !late) return { kind: 'already-complete', epoch: run.epoch, state: run.state };
        const kind = late ? 'late' : 'full';
        run.epoch += 1;
        run.run_id = o.newRunId(run.epoch);
        Object.assign(run, { state: 'planning', from_stage: 'split', plan_kind: kind, trigger: o.trigger ?? 'nightly', chunks: 0, merchant_days: 0, planned_rows: 0, error: null, completed_at: null, first_publish_at: null, started_at: now() });
        lease(run, o.owner, o.leaseSec);
        touch(run);
        return { kind: 'acquired', run: { day: o.day, epoch: run.epoch, run_id: run.run_id, state: 'planning', kind } };
      }
      const state: RunState = run.state === 'failed' ? (epochsMeta.has(k(o.day, run.epoch)) ? 'running' : 'planning') : run.state;
      run.state = state;
      run.error = null;
      lease(run, o.owner, o.leaseSec);
      touch(run);
      return { kind: 'acquired', run: { day: o.day, epoch: run.epoch, run_id: run.run_id, state, kind: run.plan_kind } };
    },
    async renewLease(day, owner, leaseSec) {
      const r = owned(day, owner);
      if (!r) return false;
      r.lock_expires_at = now() + leaseSec * 1000;
      r.lock_renewed_at = now();
      touch(r);
      return true;
    },
    async releaseLeaseByPrefix(day, prefix) {
      const r = runs.get(day);
      if (!r || r.lock_owner === null || !r.lock_owner.startsWith(prefix)) return false;
      r.lock_owner = null;
      r.lock_expires_at = null;
      touch(r);
      return true;
    },
    async releaseLease(day, owner) {
      const r = owned(day, owner);
      if (!r) return false;
      r.lock_owner = null;
      r.lock_expires_at = null;
      touch(r);
      return true;
    },
    async markFirstPublish(day, owner) {
      const r = owned(day, owner);
      if (!r) return false;
      if (r.first_publish_at === null) r.first_publish_at = now();
      touch(r);
      return true;
    },
    async complete(day, epoch, owner, state = 'complete') {
      const r = owned(day, owner);
      if (!r || r.epoch !== epoch) return false;
      Object.assign(r, { state, completed_at: now(), lock_owner: null, lock_expires_at: null });
      touch(r);
      return true;
    },
    async fail(day, epoch, owner, report) {
      const r = owned(day, owner);
      if (!r || r.epoch !== epoch) return false;
      Object.assign(r, { state: 'failed', error: report, lock_owner: null, lock_expires_at: null });
      touch(r);
      return true;
    },
    async openReplayEpoch(p) {
      const r = runs.get(p.day);
      if (!r || r.epoch !== p.fromEpoch) return false;
      const from = epochsMeta.get(k(p.day, p.fromEpoch));
      if (from && !epochsMeta.has(k(p.day, p.toEpoch))) epochsMeta.set(k(p.day, p.toEpoch), { ...from, epoch: p.toEpoch, kind: 'replay', planned_at: now(), fromStage: p.fromStage, sourceEpoch: p.sourceEpoch });
      for (const c of chunksOf(p.day, p.fromEpoch)) {
        const key = k(p.day, p.toEpoch, c.chunk_id);
        if (!chunks.has(key)) chunks.set(key, { ...c, epoch: p.toEpoch, ranges: c.ranges.map((x) => ({ ...x })), published_at: c.published_at ?? now(), split_done_at: p.keepSplit ? c.split_done_at : null, split_runs: 0 });
      }
      for (const l of ledgerOf(p.day, p.fromEpoch)) {
        const key = k(p.day, p.toEpoch, l.merchant_id, l.chunk_id);
        if (ledgerRows.has(key)) continue;
        const copy: LedgerRow = { day: l.day, epoch: p.toEpoch, chunk_id: l.chunk_id, merchant_id: l.merchant_id, bucket_lo: l.bucket_lo, bucket_hi: l.bucket_hi, expected_rows: l.expected_rows, sealed_at: null, digest: null, conflict: null, last_error: null };
        if (p.keepSplit) Object.assign(copy, { rows_read: l.rows_read, valid: l.valid, invalid: l.invalid, batches: l.batches, sealed_at: l.sealed_at, digest: l.digest });
        ledgerRows.set(key, copy);
      }
      if (p.keepSplit) {
        for (const b of [...sealedBatches.values()].filter((x) => x.day === p.day && x.epoch === p.fromEpoch)) {
          const key = k(p.day, p.toEpoch, b.merchant_id, b.batch_id);
          if (!sealedBatches.has(key)) sealedBatches.set(key, { ...b, epoch: p.toEpoch, received: false });
        }
      }
      for (const m of [...merchantDays.values()].filter((x) => x.day === p.day && x.epoch === p.fromEpoch)) {
        const key = k(p.day, p.toEpoch, m.merchant_id);
        if (merchantDays.has(key)) continue;
        merchantDays.set(key, {
          ...m, epoch: p.toEpoch, state: 'pending', events: null, invalid_events: null, done_at: null, batches_received: 0, refused_partials: 0,
          chunks_sealed: p.keepSplit ? m.chunks_sealed : 0, batches_expected: p.keepSplit ? m.batches_expected : 0, invalid_sealed: p.keepSplit ? m.invalid_sealed : 0,
        });
        const e = mdEpochs.get(k(p.day, m.merchant_id));
        if (e) e.epoch = Math.max(e.epoch, p.toEpoch);
      }
      for (const o of [...offsets.values()].filter((x) => x.day === p.day && x.epoch === p.fromEpoch && x.topic === p.topic)) {
        const key = k(p.day, p.toEpoch, o.topic, o.partition);
        if (!offsets.has(key)) offsets.set(key, { ...o, epoch: p.toEpoch });
      }
      Object.assign(r, { epoch: p.toEpoch, state: 'running', from_stage: p.fromStage, trigger: 'replay', error: null, completed_at: null, started_at: now(), first_publish_at: now(), lock_owner: null, lock_expires_at: null });
      touch(r);
      return true;
    },
  };
}
