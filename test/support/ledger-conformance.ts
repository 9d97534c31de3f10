/**
 * One conformance suite for every Ledger implementation: the in-memory twin runs it in the unit
 * project, MariaDB in the integration project (the bullmq way: the same cases on each backend).
 * Each case works on its own day, so cases never see each other's rows.
 */
import { describe, expect, it } from 'vitest';
import type { Ledger } from '../../src/ledger/types.js';
import { planDay } from '../../src/domain/plan.js';

export interface LedgerHarness {
  ledger: Ledger;
  /** Waits until `cond` holds, letting time pass (the memory twin advances its fake clock). */
  until(what: string, cond: () => Promise<boolean>): Promise<void>;
}

let dayCounter = 0;
/** A fresh day per case: 2001-01-01, 2001-01-02, … */
function nextDay(): string {
  const d = new Date(Date.UTC(2001, 0, 1) + dayCounter++ * 86_400_000);
  return d.toISOString().slice(0, 10);
}

const runId = (day: string) => (e: number) => `${day}.e${e}.test`;

/** Two merchants: m-big cut into 2 chunks, m-small packed alone. */
function samplePlan(day: string, epoch: number) {
  const counts = [
    ...Array.from({ length: 8 }, (_, b) => ({ merchant_id: 'm-big', bucket: b, rows: 100 })),
    { merchant_id: 'm-small', bucket: 3, rows: 50 },
  ];
  return planDay(day, epoch, counts, 8, 500);
}

export function ledgerConformance(name: string, make: () => Promise<LedgerHarness>): void {
  describe(`ledger conformance: ${name}`, () => {
    let h: LedgerHarness;
    const ledger = () => h.ledger;
    const setup = async () => { h ??= await make(); };

    async function plannedDay(epoch = 1) {
      await setup();
      const day = nextDay();
      const got = await ledger().runs.acquire({ day, owner: 'o1', leaseSec: 30, rerun: false, newRunId: runId(day) });
      expect(got.kind).toBe('acquired');
      const plan = samplePlan(day, epoch);
      await ledger().plan.save(day, epoch, plan);
      return { day, plan };
    }

    describe('runs and leases', () => {
      it('creates the run on first acquire, refuses a second owner while the lease lives, and resumes for the same owner', async () => {
        await setup();
        const day = nextDay();
        const a = await ledger().runs.acquire({ day, owner: 'o1', leaseSec: 30, rerun: false, newRunId: runId(day) });
        expect(a).toEqual({ kind: 'acquired', run: { day, epoch: 1, run_id: `${day}.e1.test`, state: 'planning' } });
        expect(await ledger().runs.acquire({ day, owner: 'o2', leaseSec: 30, rerun: false, newRunId: runId(day) })).toEqual({ kind: 'held', owner: 'o1' });
        expect((await ledger().runs.acquire({ day, owner: 'o1', leaseSec: 30, rerun: false, newRunId: runId(day) })).kind).toBe('acquired');
        const r = await ledger().runs.get(day);
        expect(r).toMatchObject({ day, epoch: 1, state: 'planning', lock_owner: 'o1', lock_live: true });
        expect(await ledger().runs.currentEpoch(day)).toBe(1);
        expect(await ledger().runs.currentEpoch('1999-12-31')).toBeUndefined();
      });

      it('lets another owner in once the lease expired, and renewal fails for the one who lost it', async () => {
        await setup();
        const day = nextDay();
        await ledger().runs.acquire({ day, owner: 'o1', leaseSec: 1, rerun: false, newRunId: runId(day) });
        await h.until('the lease to expire', async () => !(await ledger().runs.get(day))!.lock_live);
        expect((await ledger().runs.acquire({ day, owner: 'o2', leaseSec: 30, rerun: false, newRunId: runId(day) })).kind).toBe('acquired');
        expect(await ledger().runs.renewLease(day, 'o1', 30)).toBe(false);
        expect(await ledger().runs.renewLease(day, 'o2', 30)).toBe(true);
      });

      it('releases a lease by owner prefix only', async () => {
        await setup();
        const day = nextDay();
        await ledger().runs.acquire({ day, owner: 'host:123:abc', leaseSec: 30, rerun: false, newRunId: runId(day) });
        expect(await ledger().runs.releaseLeaseByPrefix(day, 'host:12:')).toBe(false);
        expect(await ledger().runs.releaseLeaseByPrefix(day, 'host:123:')).toBe(true);
        expect((await ledger().runs.get(day))!.lock_owner).toBeNull();
      });

      it('a complete day is already-complete, and --rerun opens the next epoch', async () => {
        const { day } = await plannedDay();
        expect(await ledger().runs.complete(day, 1, 'o1')).toBe(true);
        const done = await ledger().runs.get(day);
        expect(done).toMatchObject({ state: 'complete', lock_owner: null });
        expect(done!.completed_at).not.toBeNull();
        expect(await ledger().runs.acquire({ day, owner: 'o2', leaseSec: 30, rerun: false, newRunId: runId(day) })).toEqual({ kind: 'already-complete', epoch: 1 });
        const again = await ledger().runs.acquire({ day, owner: 'o2', leaseSec: 30, rerun: true, newRunId: runId(day) });
        expect(again).toEqual({ kind: 'acquired', run: { day, epoch: 2, run_id: `${day}.e2.test`, state: 'planning' } });
        expect(await ledger().runs.get(day)).toMatchObject({ epoch: 2, chunks: 0, merchant_days: 0, completed_at: null, first_publish_at: null });
      });

      it('a failed run keeps its report and resumes as running', async () => {
        const { day } = await plannedDay();
        expect(await ledger().runs.fail(day, 1, 'o1', 'stuck: c1')).toBe(true);
        expect(await ledger().runs.get(day)).toMatchObject({ state: 'failed', error: 'stuck: c1', lock_owner: null });
        const got = await ledger().runs.acquire({ day, owner: 'o3', leaseSec: 30, rerun: false, newRunId: runId(day) });
        expect(got).toMatchObject({ kind: 'acquired', run: { epoch: 1, state: 'running' } });
        expect((await ledger().runs.get(day))!.error).toBeNull();
      });

      it('records the first publish once', async () => {
        const { day } = await plannedDay();
        await ledger().runs.markFirstPublish(day);
        const first = (await ledger().runs.get(day))!.first_publish_at;
        expect(first).not.toBeNull();
        await h.until('the clock to move', async () => (await ledger().progress.read(day, 120))!.now > first!);
        await ledger().runs.markFirstPublish(day);
        expect((await ledger().runs.get(day))!.first_publish_at).toBe(first);
      });

      it('latestDay is the most recently touched run', async () => {
        const { day: a } = await plannedDay();
        const { day: b } = await plannedDay();
        expect(await ledger().runs.latestDay()).toBe(b);
        await h.until('the clock to move', async () => (await ledger().progress.read(b, 120))!.now > (await ledger().runs.get(b))!.started_at);
        await ledger().runs.renewLease(a, 'o1', 30);
        expect(await ledger().runs.latestDay()).toBe(a);
      });
    });

    describe('the plan', () => {
      it('saves chunks, ledger rows and merchant-days once, and moves the run to running', async () => {
        const { day, plan } = await plannedDay();
        await ledger().plan.save(day, 1, plan);
        const chunks = await ledger().plan.chunks(day, 1);
        expect(chunks.map((c) => [c.chunk_id, c.seq, c.est_rows, c.publish_count, c.published, c.split_done])).toEqual(plan.chunks.map((c) => [c.chunk_id, c.seq, c.est_rows, 0, false, false]));
        expect(chunks[0]!.ranges).toEqual(plan.chunks[0]!.ranges);
        expect(await ledger().runs.get(day)).toMatchObject({ state: 'running', chunks: plan.chunks.length, merchant_days: 2, planned_rows: 850 });
        const p = await ledger().progress.read(day, 120);
        expect(p!.ledger.ranges).toBe(plan.chunks.reduce((a, c) => a + c.ranges.length, 0));
      });

      it('marks chunks published (counting publications) and lists only unpublished ones', async () => {
        const { day, plan } = await plannedDay();
        const [c0, c1] = plan.chunks;
        await ledger().plan.markPublished(day, 1, [c0!.chunk_id]);
        expect((await ledger().plan.chunks(day, 1, 'unpublished')).map((c) => c.chunk_id)).toEqual(plan.chunks.slice(1).map((c) => c.chunk_id));
        await ledger().plan.markPublished(day, 1, [c0!.chunk_id, c1!.chunk_id]);
        const all = await ledger().plan.chunks(day, 1);
        expect(all.map((c) => c.publish_count)).toEqual([2, 1, ...all.slice(2).map(() => 0)]);
        await ledger().plan.markPublished(day, 1, []);
      });

      it('lists the chunks of pending merchant-days and resets their split', async () => {
        const { day, plan } = await plannedDay();
        for (const c of plan.chunks) await ledger().chunks.finishSplit(day, 1, c.chunk_id);
        const small = plan.chunks.find((c) => c.ranges.some((r) => r.merchant_id === 'm-small'))!;
        await ledger().merchantDays.markDone(day, 1, 'm-big', 800, 0);
        const stuck = await ledger().plan.chunksOfPendingMerchantDays(day, 1);
        expect(stuck.map((c) => c.chunk_id)).toEqual([small.chunk_id]);
        await ledger().plan.resetSplit(day, 1, [small.chunk_id]);
        expect((await ledger().chunks.get(day, 1, small.chunk_id))!.split_done).toBe(false);
      });
    });

    describe('chunks and seals', () => {
      it('seals per (chunk, merchant-day) and finishes the chunk once', async () => {
        const { day, plan } = await plannedDay();
        const c = plan.chunks[0]!;
        await ledger().chunks.beginSplit(day, 1, c.chunk_id);
        const m = c.ranges[0]!.merchant_id;
        await ledger().chunks.seal(day, 1, c.chunk_id, m, { rows_read: 10, valid: 9, invalid: 1, batches: 2 });
        await ledger().chunks.finishSplit(day, 1, c.chunk_id);
        await ledger().chunks.finishSplit(day, 1, c.chunk_id);
        expect((await ledger().chunks.get(day, 1, c.chunk_id))!.split_done).toBe(true);
        expect(await ledger().chunks.get(day, 1, 'no-such-chunk')).toBeUndefined();
        const p = await ledger().progress.read(day, 120);
        expect(p!.ledger).toMatchObject({ sealed: 1, batches: 2, rows_read: 10, valid: 9 });
        expect(p!.chunks.split).toBe(1);
      });
    });

    describe('merchant-days and partials', () => {
      it('stores a partial once, counts only partials of this plan\'s chunks, and reconciles', async () => {
        const { day, plan } = await plannedDay();
        const chunk = plan.chunks.find((c) => c.ranges.some((r) => r.merchant_id === 'm-small'))!;
        const base = { day, epoch: 1, merchant_id: 'm-small', chunk_id: chunk.chunk_id };
        expect(await ledger().merchantDays.addPartial({ ...base, batch_id: 'b1', payload: Buffer.from([1]) })).toBe(true);
        expect(await ledger().merchantDays.addPartial({ ...base, batch_id: 'b1', payload: Buffer.from([9]) })).toBe(false);
        expect(await ledger().merchantDays.addPartial({ ...base, chunk_id: 'stray-chunk', batch_id: 'b0', payload: Buffer.from([7]) })).toBe(true);
        expect(await ledger().merchantDays.completeness(day, 1, 'm-small')).toEqual({ state: 'pending', chunks: 1, sealed: 0, expectedBatches: 0, receivedBatches: 1, invalid: 0 });
        await ledger().chunks.seal(day, 1, chunk.chunk_id, 'm-small', { rows_read: 50, valid: 48, invalid: 2, batches: 2 });
        await ledger().merchantDays.addPartial({ ...base, batch_id: 'b2', payload: Buffer.from([2]) });
        expect(await ledger().merchantDays.completeness(day, 1, 'm-small')).toEqual({ state: 'pending', chunks: 1, sealed: 1, expectedBatches: 2, receivedBatches: 2, invalid: 2 });
        expect((await ledger().merchantDays.partialPayloads(day, 1, 'm-small')).map((b) => [...b])).toEqual([[1], [2]]);
        expect(await ledger().merchantDays.markDone(day, 1, 'm-small', 48, 2)).toBe(true);
        expect(await ledger().merchantDays.markDone(day, 1, 'm-small', 48, 2)).toBe(false);
        expect((await ledger().merchantDays.completeness(day, 1, 'm-small'))!.state).toBe('done');
        expect(await ledger().merchantDays.completeness(day, 1, 'no-merchant')).toBeUndefined();
        const p = await ledger().progress.read(day, 120);
        expect(p!.merchantDays).toMatchObject({ done: 1, events: 50 });
        expect(p!.partials).toBe(3);
      });
    });

    describe('progress', () => {
      it('counts stuck chunks and merchant-days only after stuckAfterSec', async () => {
        const { day, plan } = await plannedDay();
        await ledger().plan.markPublished(day, 1, plan.chunks.map((c) => c.chunk_id));
        const small = plan.chunks.find((c) => c.ranges.some((r) => r.merchant_id === 'm-small'))!;
        await ledger().chunks.seal(day, 1, small.chunk_id, 'm-small', { rows_read: 50, valid: 50, invalid: 0, batches: 1 });
        await ledger().chunks.finishSplit(day, 1, small.chunk_id);
        let p = await ledger().progress.read(day, 3600);
        expect(p!.chunks).toEqual({ published: plan.chunks.length, split: 1, stuck: 0 });
        expect(p!.merchantDays.stuck).toBe(0);
        await h.until('a second to pass', async () => (await ledger().progress.read(day, 1))!.chunks.stuck > 0);
        p = await ledger().progress.read(day, 1);
        expect(p!.chunks.stuck).toBe(plan.chunks.length - 1);
        expect(p!.merchantDays.stuck).toBe(1);
        expect(await ledger().progress.read('1999-12-30', 1)).toBeUndefined();
      });

      it('sums work reports per stage and per chunk (absolute totals: a rewrite changes nothing)', async () => {
        const { day, plan } = await plannedDay();
        const c = plan.chunks[0]!.chunk_id;
        const t = { day, epoch: 1, chunkId: c, messages: 2, events: 100, queuedMs: 10, handleMs: 20, writeMs: 5, firstAt: Date.UTC(2026, 0, 1), lastAt: Date.UTC(2026, 0, 1, 0, 0, 2) };
        await ledger().work.write('split', 'r1', [t]);
        await ledger().work.write('split', 'r1', [t]);
        await ledger().work.write('split', 'r2', [{ ...t, messages: 1, events: 50 }]);
        await ledger().work.write('transform', 'r1', [{ ...t, chunkId: plan.chunks[1]!.chunk_id }]);
        const p = await ledger().progress.read(day, 120);
        expect(p!.work.split).toMatchObject({ messages: 3, events: 150, replicas: 2, queued_ms: 20, handle_ms: 40, write_ms: 10, first_at: t.firstAt, last_at: t.lastAt });
        const reports = await ledger().progress.chunkReports(day, 1);
        expect(reports.map((r) => r.chunk_id)).toEqual(plan.chunks.map((x) => x.chunk_id));
        expect(reports[0]!.stages.split).toEqual({ messages: 3, events: 150, replicas: 2, queued_ms: 20, handle_ms: 40, write_ms: 10 });
        expect(reports[1]!.stages.transform).toMatchObject({ messages: 2 });
      });

      it('counts dead letters since the run started, by stage', async () => {
        const { day } = await plannedDay();
        await ledger().deadLetters.add({ stage: 'transform', topic: `t.${day}`, partition: 0, offset: '5', code: 'DECODE_FAILED', error: 'bad bytes' });
        await ledger().deadLetters.add({ stage: 'transform', topic: `t.${day}`, partition: 0, offset: '5', code: 'DECODE_FAILED', error: 'bad bytes' });
        const p = await ledger().progress.read(day, 120);
        expect(p!.deadLetters.transform).toBe(1);
        expect(await ledger().deadLetters.last()).toEqual({ stage: 'transform', error: 'bad bytes' });
        expect(await ledger().deadLetters.count()).toBeGreaterThanOrEqual(1);
      });
    });

    describe('offsets', () => {
      it('widens the recorded range and never narrows it', async () => {
        await setup();
        const day = nextDay();
        const o = { day, epoch: 1, topic: 'ns.chunks' };
        await ledger().offsets.record({ ...o, partition: 1, first: '10', last: '10' });
        await ledger().offsets.record({ ...o, partition: 1, first: '7', last: '9' });
        await ledger().offsets.record({ ...o, partition: 1, first: '12', last: '90071992547409930' });
        await ledger().offsets.record({ ...o, partition: 0, first: '3', last: '4' });
        expect(await ledger().offsets.of(day, 1, 'ns.chunks')).toEqual([{ partition: 0, first: '3', last: '4' }, { partition: 1, first: '7', last: '90071992547409930' }]);
        expect(await ledger().offsets.of(day, 2, 'ns.chunks')).toEqual([]);
      });
    });

    describe('replay epochs', () => {
      it('copies the plan into the next epoch, keeping split\'s ledger only when asked, and refuses a stale epoch', async () => {
        const { day, plan } = await plannedDay();
        const c = plan.chunks[0]!;
        await ledger().plan.markPublished(day, 1, plan.chunks.map((x) => x.chunk_id));
        await ledger().chunks.seal(day, 1, c.chunk_id, c.ranges[0]!.merchant_id, { rows_read: 5, valid: 5, invalid: 0, batches: 1 });
        await ledger().chunks.finishSplit(day, 1, c.chunk_id);
        await ledger().offsets.record({ day, epoch: 1, topic: 'ns.partials', partition: 0, first: '100', last: '200' });
        await ledger().runs.complete(day, 1, 'o1');
        expect(await ledger().runs.openReplayEpoch({ day, fromEpoch: 7, toEpoch: 8, fromStage: 'summarize', keepSplit: true, topic: 'ns.partials' })).toBe(false);
        expect(await ledger().runs.openReplayEpoch({ day, fromEpoch: 1, toEpoch: 2, fromStage: 'summarize', keepSplit: true, topic: 'ns.partials' })).toBe(true);
        expect(await ledger().runs.get(day)).toMatchObject({ epoch: 2, state: 'running', from_stage: 'summarize', lock_owner: null, completed_at: null });
        const chunks = await ledger().plan.chunks(day, 2);
        expect(chunks.map((x) => [x.chunk_id, x.published, x.split_done])).toEqual(plan.chunks.map((x, i) => [x.chunk_id, true, i === 0]));
        expect(await ledger().offsets.of(day, 2, 'ns.partials')).toEqual([{ partition: 0, first: '100', last: '200' }]);
        const p = await ledger().progress.read(day, 120);
        expect(p!.ledger).toMatchObject({ sealed: 1, batches: 1 });
        expect(p!.merchantDays.done).toBe(0);

        await ledger().runs.complete(day, 2, 'o1');
        expect(await ledger().runs.openReplayEpoch({ day, fromEpoch: 2, toEpoch: 3, fromStage: 'split', keepSplit: false, topic: 'ns.chunks' })).toBe(true);
        expect((await ledger().plan.chunks(day, 3)).every((x) => !x.split_done && x.published)).toBe(true);
        expect((await ledger().progress.read(day, 120))!.ledger).toMatchObject({ sealed: 0, batches: 0 });
      });
    });

    describe('quarantine', () => {
      it('keeps one row per stored identity, with its reason, in merchant/visitor/event order', async () => {
        await setup();
        const day = nextDay();
        await ledger().quarantine.add(day, 'm2', [{ visitor_id: 'v', event_id: 'e1', reason: 'bad_type', detail: 'x'.repeat(600), raw: '{}' }]);
        await ledger().quarantine.add(day, 'm1', [
          { visitor_id: 'v2', event_id: 'e', reason: 'missing_type', detail: 'type is required', raw: '{"a":1}' },
          { visitor_id: 'v1', event_id: 'e', reason: 'missing_type', detail: 'type is required', raw: '{"a":2}' },
        ]);
        await ledger().quarantine.add(day, 'm1', [{ visitor_id: 'v1', event_id: 'e', reason: 'missing_type', detail: 'again', raw: '{"a":3}' }]);
        const all = await ledger().quarantine.read(day, undefined, 10);
        expect(all.total).toBe(3);
        expect(all.byReason).toEqual({ missing_type: 2, bad_type: 1 });
        expect(all.rows.map((r) => [r.merchant_id, r.visitor_id, r.raw])).toEqual([['m1', 'v1', '{"a":2}'], ['m1', 'v2', '{"a":1}'], ['m2', 'v', '{}']]);
        expect(all.rows[2]!.detail.length).toBe(512);
        const one = await ledger().quarantine.read(day, 'm2', 10);
        expect(one.total).toBe(1);
        expect((await ledger().quarantine.read(day, undefined, 1)).rows.length).toBe(1);
      });
    });

    describe('ingest counts', () => {
      it('adds new identities per bucket and lists a day\'s non-zero counts in merchant, bucket order', async () => {
        await setup();
        const day = nextDay();
        await ledger().ingest.add([{ day, merchant_id: 'b', bucket: 2, rows: 3 }, { day, merchant_id: 'a', bucket: 5, rows: 1 }, { day, merchant_id: 'a', bucket: 1, rows: 0 }]);
        await ledger().ingest.add([{ day, merchant_id: 'b', bucket: 2, rows: 4 }]);
        await ledger().ingest.add([]);
        expect(await ledger().ingest.ofDay(day)).toEqual([{ day, merchant_id: 'a', bucket: 5, rows: 1 }, { day, merchant_id: 'b', bucket: 2, rows: 7 }]);
      });
    });
  });
}
