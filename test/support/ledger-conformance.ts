/**
 * One conformance suite for every Ledger implementation: the in-memory twin runs it in the unit
 * project, MariaDB in the integration project (the bullmq way: the same cases on each backend).
 * Each case works on its own day, so cases never see each other's rows.
 */
import { describe, expect, it } from 'vitest';
import type { BucketCountRow, Ledger, PlanRequest } from '../../src/ledger/types.js';
import { planDay } from '../../src/domain/plan.js';
import { frameOfMerchantDay } from '../../src/domain/due.js';
import { utcDayFrame, type ZoneHistory } from '../../src/domain/zones.js';

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
const SHAPE = { maxVisitors: 200, maxBatchBytes: 700_000, maxPartialBytes: 700_000 };

/** Two merchants: m-big (800 rows over 8 buckets) cut into 2 chunks, m-small (50 rows in bucket 3) packed alone. */
const COUNTS = (day: string): BucketCountRow[] => [
  ...Array.from({ length: 8 }, (_, b) => ({ day, merchant_id: 'm-big', bucket: b, rows: 100 })),
  { day, merchant_id: 'm-small', bucket: 3, rows: 50 },
];

const planReq = (day: string, epoch: number, owner = 'o1', extra: Partial<PlanRequest> = {}): PlanRequest => ({
  day, epoch, owner, kind: 'full', shape: SHAPE, frame: () => frameOfMerchantDay(day, undefined), planner: (counts) => planDay(day, epoch, counts, 8, 500), ...extra,
});

export function ledgerConformance(name: string, make: () => Promise<LedgerHarness>): void {
  describe(`ledger conformance: ${name}`, () => {
    let h: LedgerHarness;
    const ledger = () => h.ledger;
    const setup = async () => { h ??= await make(); };

    /** Stores the counts as one committed ingest batch that wrote every merchant-day of them. */
    async function ingested(counts: BucketCountRow[]): Promise<number> {
      const b = await ledger().ingest.open();
      const touched = [...new Map(counts.map((c) => [`${c.day}|${c.merchant_id}`, { day: c.day, merchant_id: c.merchant_id, rows: 0 }])).values()];
      for (const c of counts) touched.find((t) => t.day === c.day && t.merchant_id === c.merchant_id)!.rows += c.rows;
      const r = await ledger().ingest.commit({ batch: b, buckets: counts, touched, recheck: async () => counts });
      if (r === 'already') throw new Error('fresh batch already committed');
      return b.id;
    }

    async function plannedDay(epoch = 1) {
      await setup();
      const day = nextDay();
      await ingested(COUNTS(day));
      const got = await ledger().runs.acquire({ day, owner: 'o1', leaseSec: 30, mode: 'resume', newRunId: runId(day) });
      expect(got.kind).toBe('acquired');
      const res = await ledger().plan.create(planReq(day, epoch));
      if (res === 'lost-lease') throw new Error('lost the lease');
      const chunks = await ledger().plan.chunks(day, epoch);
      return { day, chunks, res };
    }

    const chunkOf = (chunks: Awaited<ReturnType<typeof plannedDay>>['chunks'], merchant: string) => chunks.find((c) => c.ranges.some((r) => r.merchant_id === merchant))!;

    describe('runs and leases', () => {
      it('creates the run on first acquire, refuses a second owner while the lease lives, and resumes for the same owner', async () => {
        await setup();
        const day = nextDay();
        const a = await ledger().runs.acquire({ day, owner: 'o1', leaseSec: 30, mode: 'resume', newRunId: runId(day) });
        expect(a).toEqual({ kind: 'acquired', run: { day, epoch: 1, run_id: `${day}.e1.test`, state: 'planning', kind: 'full' } });
        expect(await ledger().runs.acquire({ day, owner: 'o2', leaseSec: 30, mode: 'resume', newRunId: runId(day) })).toEqual({ kind: 'held', owner: 'o1' });
        expect((await ledger().runs.acquire({ day, owner: 'o1', leaseSec: 30, mode: 'resume', newRunId: runId(day) })).kind).toBe('acquired');
        const r = await ledger().runs.get(day);
        expect(r).toMatchObject({ day, epoch: 1, state: 'planning', lock_owner: 'o1', lock_live: true });
        expect(r!.lock_expires_at).toBeGreaterThan(r!.lock_renewed_at!);
        expect(await ledger().runs.currentEpoch(day)).toBe(1);
        expect(await ledger().runs.currentEpoch('1999-12-31')).toBeUndefined();
      });

      it('lets another owner in once the lease expired; the old owner\'s renewals and writes are refused', async () => {
        const { day, chunks } = await plannedDay();
        await ledger().runs.renewLease(day, 'o1', 1);
        await h.until('the lease to expire', async () => !(await ledger().runs.get(day))!.lock_live);
        expect((await ledger().runs.acquire({ day, owner: 'o2', leaseSec: 30, mode: 'resume', newRunId: runId(day) })).kind).toBe('acquired');
        expect(await ledger().runs.renewLease(day, 'o1', 30)).toBe(false);
        expect(await ledger().runs.renewLease(day, 'o2', 30)).toBe(true);
        // A zombie master: every run-state write of the old owner changes nothing.
        expect(await ledger().plan.markPublished(day, 1, 'o1', [chunks[0]!.chunk_id])).toBe(false);
        expect(await ledger().plan.resetSplit(day, 1, 'o1', [chunks[0]!.chunk_id])).toBe(false);
        expect(await ledger().runs.markFirstPublish(day, 'o1')).toBe(false);
        expect(await ledger().runs.fail(day, 1, 'o1', 'zombie')).toBe(false);
        expect(await ledger().runs.complete(day, 1, 'o1')).toBe(false);
        expect(await ledger().runs.releaseLease(day, 'o1')).toBe(false);
        expect(await ledger().runs.get(day)).toMatchObject({ lock_owner: 'o2', state: 'running', error: null, first_publish_at: null });
        expect((await ledger().plan.chunks(day, 1)).every((c) => c.publish_count === 0)).toBe(true);
        expect(await ledger().runs.releaseLease(day, 'o2')).toBe(true);
        expect((await ledger().runs.get(day))!.lock_owner).toBeNull();
      });

      it('releases a lease by owner prefix only', async () => {
        await setup();
        const day = nextDay();
        await ledger().runs.acquire({ day, owner: 'host:123:abc', leaseSec: 30, mode: 'resume', newRunId: runId(day) });
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
        expect(await ledger().runs.acquire({ day, owner: 'o2', leaseSec: 30, mode: 'resume', newRunId: runId(day) })).toEqual({ kind: 'already-complete', epoch: 1, state: 'complete' });
        const again = await ledger().runs.acquire({ day, owner: 'o2', leaseSec: 30, mode: 'rerun', newRunId: runId(day) });
        expect(again).toEqual({ kind: 'acquired', run: { day, epoch: 2, run_id: `${day}.e2.test`, state: 'planning', kind: 'full' } });
        expect(await ledger().runs.get(day)).toMatchObject({ epoch: 2, chunks: 0, merchant_days: 0, completed_at: null, first_publish_at: null });
      });

      it('a failed run keeps its report and resumes as running', async () => {
        const { day } = await plannedDay();
        expect(await ledger().runs.fail(day, 1, 'o1', 'stuck: c1')).toBe(true);
        expect(await ledger().runs.get(day)).toMatchObject({ state: 'failed', error: 'stuck: c1', lock_owner: null });
        const got = await ledger().runs.acquire({ day, owner: 'o3', leaseSec: 30, mode: 'resume', newRunId: runId(day) });
        expect(got).toMatchObject({ kind: 'acquired', run: { epoch: 1, state: 'running' } });
        expect((await ledger().runs.get(day))!.error).toBeNull();
      });

      it('records the first publish once', async () => {
        const { day } = await plannedDay();
        expect(await ledger().runs.markFirstPublish(day, 'o1')).toBe(true);
        const first = (await ledger().runs.get(day))!.first_publish_at;
        expect(first).not.toBeNull();
        await h.until('the clock to move', async () => (await ledger().progress.read(day, 120))!.now > first!);
        expect(await ledger().runs.markFirstPublish(day, 'o1')).toBe(true);
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
      it('fixes the snapshot, plans from the exact counts, stores the ranges\' expected rows, and moves the run to running', async () => {
        const { day, chunks, res } = await plannedDay();
        expect(res).toMatchObject({ chunks: 3, merchantDays: 2, rows: 850 });
        expect(chunks.map((c) => [c.seq, c.publish_count, c.published, c.split_done])).toEqual([[0, 0, false, false], [1, 0, false, false], [2, 0, false, false]]);
        expect(await ledger().runs.get(day)).toMatchObject({ state: 'running', chunks: 3, merchant_days: 2, planned_rows: 850 });
        const split = await ledger().chunks.get(day, 1, chunkOf(chunks, 'm-small').chunk_id);
        expect(split!.ranges).toEqual([{ merchant_id: 'm-small', bucket_lo: 0, bucket_hi: 8, expected_rows: 50, day_start: Date.parse(`${day}T00:00:00Z`), hours: 24 }]);
        const big = await Promise.all(chunks.filter((c) => c.ranges.some((r) => r.merchant_id === 'm-big')).map((c) => ledger().chunks.get(day, 1, c.chunk_id)));
        expect(big.map((c) => c!.ranges[0]!.expected_rows)).toEqual([400, 400]);
        const meta = await ledger().plan.meta(day, 1);
        expect(meta).toMatchObject({ day, epoch: 1, kind: 'full', snapshotSeq: res.snapshotSeq, shape: SHAPE });
        expect(await ledger().plan.meta(day, 2)).toBeUndefined();
        expect((await ledger().merchantDays.epochs(day)).map((e) => [e.merchant_id, e.epoch, e.done_epoch])).toEqual([['m-big', 1, undefined], ['m-small', 1, undefined]]);
      });

      it('a repeat returns the stored plan, and a plan without the lease is refused', async () => {
        const { day, res } = await plannedDay();
        let calls = 0;
        const again = await ledger().plan.create(planReq(day, 1, 'o1', { planner: (c) => { calls++; return planDay(day, 1, c, 8, 100); } }));
        expect(again).toEqual(res);
        expect(calls).toBe(0);
        expect(await ledger().plan.create(planReq(day, 1, 'someone-else'))).toBe('lost-lease');
      });

      it('a batch committed after the plan is outside its snapshot and is late data for its planned merchant-day', async () => {
        const { day, res } = await plannedDay();
        const late = await ingested([{ day, merchant_id: 'm-small', bucket: 3, rows: 2 }, { day, merchant_id: 'm-new', bucket: 0, rows: 1 }]);
        const seqs = await ledger().ingest.daySeqs(day);
        expect(seqs.get(late)).toBeGreaterThan(res.snapshotSeq);
        // The plan's counts did not move; the ingest counts did.
        expect((await ledger().ingest.ofDay(day)).find((c) => c.merchant_id === 'm-small')!.rows).toBe(52);
        expect((await ledger().chunks.get(day, 1, (await ledger().plan.chunks(day, 1))[2]!.chunk_id))!.ranges[0]!.expected_rows).toBe(50);
        // Late for m-small (planned) and for m-new: its day is planned, so no plan would ever take it otherwise.
        expect(await ledger().late.ofDay(day)).toEqual([{ day, merchant_id: 'm-new', rows: 1 }, { day, merchant_id: 'm-small', rows: 2 }]);
        expect((await ledger().late.days(day)).find((d) => d.day === day)).toEqual({ day, merchantDays: 2, rows: 3 });
        // A plan of m-small alone takes its rows in; m-new still waits. A late plan takes what waits.
        await ledger().runs.complete(day, 1, 'o1');
        await ledger().runs.acquire({ day, owner: 'o1', leaseSec: 30, mode: 'rerun', newRunId: runId(day) });
        const again = await ledger().plan.create(planReq(day, 2, 'o1', { kind: 'late', merchants: ['m-small'] }));
        expect(again).toMatchObject({ merchantDays: 1, rows: 52 });
        expect(await ledger().late.ofDay(day)).toEqual([{ day, merchant_id: 'm-new', rows: 1 }]);
        await ledger().runs.complete(day, 2, 'o1');
        await ledger().runs.acquire({ day, owner: 'o1', leaseSec: 30, mode: 'late', newRunId: runId(day) });
        expect(await ledger().plan.create(planReq(day, 3, 'o1', { kind: 'late', merchants: 'late' }))).toMatchObject({ merchantDays: 1, rows: 1 });
        expect(await ledger().late.ofDay(day)).toEqual([]);
        expect((await ledger().merchantDays.epochs(day)).map((e) => [e.merchant_id, e.epoch])).toEqual([['m-big', 1], ['m-new', 3], ['m-small', 2]]);
      });

      it('marks chunks published (counting publications) and lists only unpublished ones', async () => {
        const { day, chunks } = await plannedDay();
        const [c0, c1] = chunks;
        expect(await ledger().plan.markPublished(day, 1, 'o1', [c0!.chunk_id])).toBe(true);
        expect((await ledger().plan.chunks(day, 1, 'unpublished')).map((c) => c.chunk_id)).toEqual(chunks.slice(1).map((c) => c.chunk_id));
        await ledger().plan.markPublished(day, 1, 'o1', [c0!.chunk_id, c1!.chunk_id]);
        const all = await ledger().plan.chunks(day, 1);
        expect(all.map((c) => c.publish_count)).toEqual([2, 1, 0]);
        expect(await ledger().plan.markPublished(day, 1, 'o1', [])).toBe(true);
      });

      it('lists the chunks of pending merchant-days and resets their split', async () => {
        const { day, chunks } = await plannedDay();
        for (const c of chunks) await ledger().chunks.finishSplit(day, 1, c.chunk_id);
        const small = chunkOf(chunks, 'm-small');
        await ledger().merchantDays.markDone(day, 1, 'm-big', 800, 0);
        const stuck = await ledger().plan.chunksOfPendingMerchantDays(day, 1);
        expect(stuck.map((c) => c.chunk_id)).toEqual([small.chunk_id]);
        expect(await ledger().plan.resetSplit(day, 1, 'o1', [small.chunk_id])).toBe(true);
        expect((await ledger().chunks.get(day, 1, small.chunk_id))!.split_done).toBe(false);
      });
    });

    describe('chunks and seals', () => {
      const counts = { rows_read: 50, valid: 48, invalid: 2, batches: 2 };
      const batches = [{ id: 'b-1', events: 20 }, { id: 'b-2', events: 28 }];

      it('seals once: an identical re-seal is a no-op, a disagreeing one is a conflict that changes nothing', async () => {
        const { day, chunks } = await plannedDay();
        const c = chunkOf(chunks, 'm-small').chunk_id;
        const s = { day, epoch: 1, chunkId: c, merchantId: 'm-small', counts, digest: Buffer.alloc(32, 1), batches };
        expect(await ledger().chunks.seal(s)).toBe('sealed');
        expect(await ledger().chunks.seal(s)).toBe('same');
        expect(await ledger().chunks.seal({ ...s, counts: { ...counts, batches: 3 }, digest: Buffer.alloc(32, 2), batches: [...batches, { id: 'b-3', events: 1 }] })).toBe('conflict');
        const state = await ledger().merchantDays.completeness(day, 1, 'm-small');
        expect(state).toEqual({ state: 'pending', chunks: 1, sealed: 1, expectedBatches: 2, receivedBatches: 0, invalid: 2, refusedPartials: 0, frame: utcDayFrame(day) });
        const p = await ledger().progress.read(day, 120);
        expect(p!.conflicts).toEqual([{ chunk_id: c, merchant_id: 'm-small', detail: expect.stringMatching(/disagrees/) }]);
        expect(p!.ledger).toMatchObject({ sealed: 1, batches: 2, rows_read: 50, valid: 48 });
      });

      it('records why a range did not seal, until it seals', async () => {
        const { day, chunks } = await plannedDay();
        const c = chunkOf(chunks, 'm-small').chunk_id;
        await ledger().chunks.recordError(day, 1, c, 'm-small', 'read 49 rows, the plan counted 50');
        expect((await ledger().progress.read(day, 120))!.errors).toEqual([{ chunk_id: c, merchant_id: 'm-small', error: 'read 49 rows, the plan counted 50' }]);
        await ledger().chunks.seal({ day, epoch: 1, chunkId: c, merchantId: 'm-small', counts, digest: Buffer.alloc(32), batches });
        expect((await ledger().progress.read(day, 120))!.errors).toEqual([]);
      });

      it('finishes a chunk once and counts split starts', async () => {
        const { day, chunks } = await plannedDay();
        const c = chunks[0]!;
        await ledger().chunks.beginSplit(day, 1, c.chunk_id);
        await ledger().chunks.finishSplit(day, 1, c.chunk_id);
        await ledger().chunks.finishSplit(day, 1, c.chunk_id);
        expect((await ledger().chunks.get(day, 1, c.chunk_id))!.split_done).toBe(true);
        expect(await ledger().chunks.get(day, 1, 'no-such-chunk')).toBeUndefined();
        expect((await ledger().progress.read(day, 120))!.chunks.split).toBe(1);
      });
    });

    describe('merchant-days and partials', () => {
      it('counts a partial only when its batch id is in the sealed set, before or after the seal; others are refused', async () => {
        const { day, chunks } = await plannedDay();
        const chunk = chunkOf(chunks, 'm-small').chunk_id;
        const base = { day, epoch: 1, merchant_id: 'm-small', chunk_id: chunk };
        expect(await ledger().merchantDays.addPartial({ ...base, batch_id: 'b-1', payload: Buffer.from([1]) })).toBe('stored');
        expect(await ledger().merchantDays.addPartial({ ...base, batch_id: 'b-1', payload: Buffer.from([9]) })).toBe('duplicate');
        // Before the seal: another split's batch waits, and is refused when the seal does not hold it.
        expect(await ledger().merchantDays.addPartial({ ...base, batch_id: 'b-stray', payload: Buffer.from([7]) })).toBe('stored');
        // A chunk this epoch's plan does not hold: refused at once.
        expect(await ledger().merchantDays.addPartial({ ...base, chunk_id: 'other-chunk', batch_id: 'b-0', payload: Buffer.from([6]) })).toBe('refused');
        expect(await ledger().chunks.seal({ day, epoch: 1, chunkId: chunk, merchantId: 'm-small', counts: { rows_read: 50, valid: 48, invalid: 2, batches: 2 }, digest: Buffer.alloc(32), batches: [{ id: 'b-1', events: 20 }, { id: 'b-2', events: 28 }] })).toBe('sealed');
        expect(await ledger().merchantDays.completeness(day, 1, 'm-small')).toEqual({ state: 'pending', chunks: 1, sealed: 1, expectedBatches: 2, receivedBatches: 1, invalid: 2, refusedPartials: 2, frame: utcDayFrame(day) });
        // After the seal: in the set → received; outside → refused at once.
        expect(await ledger().merchantDays.addPartial({ ...base, batch_id: 'b-late-stray', payload: Buffer.from([5]) })).toBe('refused');
        expect(await ledger().merchantDays.addPartial({ ...base, batch_id: 'b-2', payload: Buffer.from([2]) })).toBe('stored');
        expect(await ledger().merchantDays.completeness(day, 1, 'm-small')).toEqual({ state: 'pending', chunks: 1, sealed: 1, expectedBatches: 2, receivedBatches: 2, invalid: 2, refusedPartials: 3, frame: utcDayFrame(day) });
        const pages: number[][] = [];
        for await (const page of ledger().merchantDays.partialPages(day, 1, 'm-small', 1)) pages.push(page.map((b) => b[0]!));
        expect(pages).toEqual([[1], [2]]);
        expect(await ledger().merchantDays.markDone(day, 1, 'm-small', 48, 2)).toBe(true);
        expect(await ledger().merchantDays.markDone(day, 1, 'm-small', 48, 2)).toBe(false);
        expect((await ledger().merchantDays.completeness(day, 1, 'm-small'))!.state).toBe('done');
        expect(await ledger().merchantDays.completeness(day, 1, 'no-merchant')).toBeUndefined();
        const p = await ledger().progress.read(day, 120);
        expect(p!.merchantDays).toMatchObject({ done: 1, events: 50, refusedPartials: 3 });
        expect(p!.partials).toBe(5);
        const e = (await ledger().merchantDays.epochs(day)).find((x) => x.merchant_id === 'm-small')!;
        expect(e).toMatchObject({ epoch: 1, done_epoch: 1 });
        expect(e.computed_at).toBeGreaterThan(0);
      });

      it('pages partials in batch id order, never more than a page at a time', async () => {
        const { day, chunks } = await plannedDay();
        const chunk = chunkOf(chunks, 'm-small').chunk_id;
        const ids = Array.from({ length: 7 }, (_, i) => `b-${String(6 - i)}`);
        await ledger().chunks.seal({ day, epoch: 1, chunkId: chunk, merchantId: 'm-small', counts: { rows_read: 50, valid: 50, invalid: 0, batches: 7 }, digest: Buffer.alloc(32), batches: ids.map((id) => ({ id, events: 1 })) });
        for (const [i, id] of ids.entries()) await ledger().merchantDays.addPartial({ day, epoch: 1, merchant_id: 'm-small', chunk_id: chunk, batch_id: id, payload: Buffer.from([6 - i]) });
        const pages: number[][] = [];
        for await (const page of ledger().merchantDays.partialPages(day, 1, 'm-small', 3)) pages.push(page.map((b) => b[0]!));
        expect(pages).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
      });
    });

    describe('progress', () => {
      it('counts stuck chunks and merchant-days only after stuckAfterSec', async () => {
        const { day, chunks } = await plannedDay();
        await ledger().plan.markPublished(day, 1, 'o1', chunks.map((c) => c.chunk_id));
        const small = chunkOf(chunks, 'm-small');
        await ledger().chunks.seal({ day, epoch: 1, chunkId: small.chunk_id, merchantId: 'm-small', counts: { rows_read: 50, valid: 50, invalid: 0, batches: 1 }, digest: Buffer.alloc(32), batches: [{ id: 'x', events: 50 }] });
        await ledger().chunks.finishSplit(day, 1, small.chunk_id);
        let p = await ledger().progress.read(day, 3600);
        expect(p!.chunks).toEqual({ published: 3, split: 1, stuck: 0 });
        expect(p!.merchantDays.stuck).toBe(0);
        await h.until('a second to pass', async () => (await ledger().progress.read(day, 1))!.chunks.stuck > 0);
        p = await ledger().progress.read(day, 1);
        expect(p!.chunks.stuck).toBe(2);
        expect(p!.merchantDays.stuck).toBe(1);
        expect(await ledger().progress.read('1999-12-30', 1)).toBeUndefined();
      });

      it('sums work reports per stage and per chunk (absolute totals: a rewrite changes nothing), dropped messages too', async () => {
        const { day, chunks } = await plannedDay();
        const c = chunks[0]!.chunk_id;
        const t = { day, epoch: 1, chunkId: c, messages: 2, dropped: 0, events: 100, queuedMs: 10, handleMs: 20, writeMs: 5, firstAt: Date.UTC(2026, 0, 1), lastAt: Date.UTC(2026, 0, 1, 0, 0, 2) };
        await ledger().work.write('split', 'r1', [t]);
        await ledger().work.write('split', 'r1', [t]);
        await ledger().work.write('split', 'r2', [{ ...t, messages: 1, events: 50 }]);
        await ledger().work.write('transform', 'r1', [{ ...t, chunkId: chunks[1]!.chunk_id, dropped: 2 }]);
        const p = await ledger().progress.read(day, 120);
        expect(p!.work.split).toMatchObject({ messages: 3, events: 150, replicas: 2, queued_ms: 20, handle_ms: 40, write_ms: 10, first_at: t.firstAt, last_at: t.lastAt });
        expect(p!.dropped).toEqual({ transform: 2 });
        const reports = await ledger().progress.chunkReports(day, 1);
        expect(reports.map((r) => r.chunk_id)).toEqual(chunks.map((x) => x.chunk_id));
        expect(reports[0]!.stages.split).toEqual({ messages: 3, events: 150, replicas: 2, queued_ms: 20, handle_ms: 40, write_ms: 10, first_at: t.firstAt, last_at: t.lastAt });
        // The timeline spans every replica's work on the chunk: the earliest start, the latest end.
        await ledger().work.write('split', 'r3', [{ ...t, messages: 0, events: 0, queuedMs: 0, handleMs: 0, writeMs: 0, firstAt: t.firstAt - 1000, lastAt: t.lastAt + 3000 }]);
        expect((await ledger().progress.chunkReports(day, 1))[0]!.stages.split).toMatchObject({ replicas: 3, first_at: t.firstAt - 1000, last_at: t.lastAt + 3000 });
        expect(reports[1]!.stages.transform).toMatchObject({ messages: 2 });
      });

      it('counts dead letters since the run started, by stage', async () => {
        const { day } = await plannedDay();
        const d = { stage: 'transform', topic: `t.${day}`, partition: 0, offset: '5', code: 'DECODE_FAILED', error: 'bad bytes', day, epoch: 1, payload: Buffer.from('junk'), payload_bytes: 4 };
        await ledger().deadLetters.add(d);
        await ledger().deadLetters.add(d);
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
      it('copies the plan (snapshot and shape too) into the next epoch, keeping split\'s seals only when asked, and refuses a stale epoch', async () => {
        const { day, chunks, res } = await plannedDay();
        const c = chunkOf(chunks, 'm-small');
        await ledger().plan.markPublished(day, 1, 'o1', chunks.map((x) => x.chunk_id));
        await ledger().chunks.seal({ day, epoch: 1, chunkId: c.chunk_id, merchantId: 'm-small', counts: { rows_read: 50, valid: 50, invalid: 0, batches: 1 }, digest: Buffer.alloc(32), batches: [{ id: 'only', events: 50 }] });
        await ledger().chunks.finishSplit(day, 1, c.chunk_id);
        await ledger().offsets.record({ day, epoch: 1, topic: 'ns.partials', partition: 0, first: '100', last: '200' });
        await ledger().runs.complete(day, 1, 'o1');
        expect(await ledger().runs.openReplayEpoch({ day, fromEpoch: 7, toEpoch: 8, fromStage: 'summarize', keepSplit: true, topic: 'ns.partials', sourceEpoch: 1 })).toBe(false);
        expect(await ledger().runs.openReplayEpoch({ day, fromEpoch: 1, toEpoch: 2, fromStage: 'summarize', keepSplit: true, topic: 'ns.partials', sourceEpoch: 1 })).toBe(true);
        expect(await ledger().runs.get(day)).toMatchObject({ epoch: 2, state: 'running', from_stage: 'summarize', lock_owner: null, completed_at: null });
        expect(await ledger().plan.meta(day, 2)).toMatchObject({ kind: 'replay', snapshotSeq: res.snapshotSeq, shape: SHAPE, fromStage: 'summarize', sourceEpoch: 1 });
        expect((await ledger().plan.chunks(day, 2)).map((x) => [x.chunk_id, x.published, x.split_done])).toEqual(chunks.map((x) => [x.chunk_id, true, x.chunk_id === c.chunk_id]));
        expect((await ledger().chunks.get(day, 2, c.chunk_id))!.ranges[0]!.expected_rows).toBe(50);
        expect(await ledger().offsets.of(day, 2, 'ns.partials')).toEqual([{ partition: 0, first: '100', last: '200' }]);
        expect(await ledger().merchantDays.completeness(day, 2, 'm-small')).toEqual({ state: 'pending', chunks: 1, sealed: 1, expectedBatches: 1, receivedBatches: 0, invalid: 0, refusedPartials: 0, frame: utcDayFrame(day) });
        expect((await ledger().merchantDays.epochs(day)).map((e) => e.epoch)).toEqual([2, 2]);
        // The partial of the kept seal counts again in the new epoch.
        expect(await ledger().merchantDays.addPartial({ day, epoch: 2, merchant_id: 'm-small', chunk_id: c.chunk_id, batch_id: 'only', payload: Buffer.from([1]) })).toBe('stored');
        expect((await ledger().merchantDays.completeness(day, 2, 'm-small'))!.receivedBatches).toBe(1);

        await ledger().runs.acquire({ day, owner: 'o1', leaseSec: 30, mode: 'resume', newRunId: runId(day) });
        await ledger().runs.complete(day, 2, 'o1');
        expect(await ledger().runs.openReplayEpoch({ day, fromEpoch: 2, toEpoch: 3, fromStage: 'split', keepSplit: false, topic: 'ns.chunks', sourceEpoch: 1 })).toBe(true);
        expect((await ledger().plan.chunks(day, 3)).every((x) => !x.split_done && x.published)).toBe(true);
        expect((await ledger().progress.read(day, 120))!.ledger).toMatchObject({ sealed: 0, batches: 0 });
        expect((await ledger().merchantDays.completeness(day, 3, 'm-small'))!.sealed).toBe(0);
      });
    });

    describe('quarantine', () => {
      it('keeps one row per stored identity, ids compared byte for byte, in merchant/visitor/event order', async () => {
        await setup();
        const day = nextDay();
        await ledger().quarantine.add(day, 'm2', [{ visitor_id: 'v', event_id: 'e1', reason: 'bad_type', detail: 'x'.repeat(600), raw: '{}' }]);
        await ledger().quarantine.add(day, 'm1', [
          { visitor_id: 'v2', event_id: 'e', reason: 'missing_type', detail: 'type is required', raw: '{"a":1}' },
          { visitor_id: 'v1', event_id: 'e', reason: 'missing_type', detail: 'type is required', raw: '{"a":2}' },
          // Trailing spaces and case make other ids (a PAD SPACE collation merged "v1" with "v1 ").
          { visitor_id: 'v1 ', event_id: 'e', reason: 'missing_type', detail: 'type is required', raw: '{"a":4}' },
          { visitor_id: 'V1', event_id: 'e', reason: 'missing_type', detail: 'type is required', raw: '{"a":5}' },
        ]);
        await ledger().quarantine.add(day, 'm1', [{ visitor_id: 'v1', event_id: 'e', reason: 'missing_type', detail: 'again', raw: '{"a":3}' }]);
        const all = await ledger().quarantine.read(day, undefined, 10);
        expect(all.total).toBe(5);
        expect(all.byReason).toEqual({ missing_type: 4, bad_type: 1 });
        expect(all.rows.map((r) => [r.merchant_id, r.visitor_id, r.raw])).toEqual([['m1', 'V1', '{"a":5}'], ['m1', 'v1', '{"a":2}'], ['m1', 'v1 ', '{"a":4}'], ['m1', 'v2', '{"a":1}'], ['m2', 'v', '{}']]);
        expect(all.rows[4]!.detail.length).toBe(512);
        expect((await ledger().quarantine.read(day, 'm2', 10)).total).toBe(1);
        expect((await ledger().quarantine.read(day, undefined, 1)).rows.length).toBe(1);
      });

      it('stores 40 quarantined lines of 1 MiB each in one call (more than one statement may carry), every byte kept', async () => {
        await setup();
        const day = nextDay();
        // 40 MiB of parameters: over MariaDB's default max_allowed_packet (16 MiB), so one
        // INSERT would be refused and the chunk would retry forever; the rows are cut by bytes.
        const raw = (i: number) => `{"i":${i},"pad":"${String.fromCharCode(97 + (i % 26)).repeat(1024 * 1024 - 20)}"}`;
        await ledger().quarantine.add(day, 'm-big', Array.from({ length: 40 }, (_, i) => ({ visitor_id: `v${String(i).padStart(2, '0')}`, event_id: 'e', reason: 'bad_type', detail: 'big', raw: raw(i) })));
        const all = await ledger().quarantine.read(day, 'm-big', 100);
        expect(all.total).toBe(40);
        expect(all.rows.every((r, i) => r.raw === raw(i))).toBe(true);
      }, 120_000);
    });

    describe('ingest', () => {
      it('numbers commits, adds exact bucket counts once, and is idempotent', async () => {
        await setup();
        const day = nextDay();
        const a = await ledger().ingest.open();
        const b = await ledger().ingest.open();
        expect(b.id).not.toBe(a.id);
        const commitA = { batch: a, buckets: [{ day, merchant_id: 'b', bucket: 2, rows: 3 }, { day, merchant_id: 'a', bucket: 5, rows: 1 }, { day, merchant_id: 'a', bucket: 1, rows: 0 }], touched: [{ day, merchant_id: 'a', rows: 1 }, { day, merchant_id: 'b', rows: 3 }], recheck: async () => { throw new Error('no race here'); } };
        const ra = await ledger().ingest.commit(commitA);
        expect(ra).toMatchObject({ late: [] });
        expect(await ledger().ingest.commit(commitA)).toBe('already');
        expect(await ledger().ingest.ofDay(day)).toEqual([{ day, merchant_id: 'a', bucket: 5, rows: 1 }, { day, merchant_id: 'b', bucket: 2, rows: 3 }]);
        const committed = await ledger().ingest.committed([a.id, b.id]);
        expect([...committed.keys()]).toEqual([a.id]);
        expect((await ledger().ingest.daySeqs(day)).get(a.id)).toBe(committed.get(a.id));
      });

      it('stored sums every committed row with the first and last day that has any', async () => {
        await setup();
        const before = await ledger().ingest.stored();
        const day = nextDay();
        await ingested([{ day, merchant_id: 'a', bucket: 3, rows: 4 }, { day, merchant_id: 'b', bucket: 0, rows: 2 }, { day, merchant_id: 'c', bucket: 1, rows: 0 }]);
        const after = await ledger().ingest.stored();
        expect(after).toEqual({ rows: (before?.rows ?? 0) + 6, firstDay: before && before.firstDay < day ? before.firstDay : day, lastDay: before && before.lastDay > day ? before.lastDay : day });
      });

      it('rechecks a batch that raced another on the same merchant-day, and counts what the recheck says', async () => {
        await setup();
        const day = nextDay();
        const a = await ledger().ingest.open();
        const b = await ledger().ingest.open();
        // b wrote first and committed first; a, opened before b committed, must recheck.
        await ledger().ingest.commit({ batch: b, buckets: [{ day, merchant_id: 'm', bucket: 0, rows: 1 }], touched: [{ day, merchant_id: 'm', rows: 1 }], recheck: async () => { throw new Error('b did not race'); } });
        let racing: number[] = [];
        await ledger().ingest.commit({ batch: a, buckets: [{ day, merchant_id: 'm', bucket: 0, rows: 1 }], touched: [{ day, merchant_id: 'm', rows: 1 }], recheck: async (r) => { racing = [...r]; return []; } });
        expect(racing).toEqual([b.id]);
        expect(await ledger().ingest.ofDay(day)).toEqual([{ day, merchant_id: 'm', bucket: 0, rows: 1 }]);
        // A batch on another merchant-day does not race.
        const c = await ledger().ingest.open();
        const d = await ledger().ingest.open();
        await ledger().ingest.commit({ batch: c, buckets: [], touched: [{ day, merchant_id: 'x', rows: 1 }], recheck: async () => { throw new Error('no'); } });
        await ledger().ingest.commit({ batch: d, buckets: [], touched: [{ day, merchant_id: 'y', rows: 1 }], recheck: async () => { throw new Error('no'); } });
      });

      it('keeps refused lines once each, listed by source and line', async () => {
        await setup();
        const day = nextDay();
        const r = (line_no: number, reason: string, sha: number) => ({ day, day_known: true, merchant_id: 'm', source: 'f.ndjson', line_no, reason, detail: 'why', line_bytes: 9, head: Buffer.from('{"bad":1}'), sha256: Buffer.alloc(32, sha) });
        await ledger().ingest.addRejects([r(7, 'bad_ts', 1), r(3, 'invalid_json', 2)]);
        await ledger().ingest.addRejects([r(7, 'bad_ts', 1)]);
        const got = await ledger().ingest.rejects(day, 10);
        expect(got.total).toBe(2);
        expect(got.byReason).toEqual({ bad_ts: 1, invalid_json: 1 });
        expect(got.rows.map((x) => [x.line_no, x.reason, x.head, x.merchant_id])).toEqual([[3, 'invalid_json', '{"bad":1}', 'm'], [7, 'bad_ts', '{"bad":1}', 'm']]);
      });
    });

    describe('zones: the registry, frames and the due rule', () => {
      const LA: ZoneHistory = [{ zone: 'America/Los_Angeles', fromDay: '1969-12-31' }];

      it('keeps histories per merchant, bumps the version on each change, and knows each merchant\'s last stored day', async () => {
        await setup();
        const day = nextDay();
        const a = `reg-a-${day}`;
        const b = `reg-b-${day}`;
        const v0 = (await ledger().registry.read()).version;
        await ledger().registry.apply([{ merchant_id: a, history: LA }, { merchant_id: b, history: [{ zone: 'UTC', fromDay: '2001-01-01' }, { zone: 'Asia/Kolkata', fromDay: day }] }]);
        const r = await ledger().registry.read();
        expect(r.version).toBe(v0 + 1);
        expect(r.histories.get(a)).toEqual(LA);
        expect([...(await ledger().registry.histories([b, 'nobody'])).entries()]).toEqual([[b, [{ zone: 'UTC', fromDay: '2001-01-01' }, { zone: 'Asia/Kolkata', fromDay: day }]]]);
        await ledger().registry.apply([]);
        expect((await ledger().registry.read()).version).toBe(v0 + 1);
        await ingested([{ day, merchant_id: a, bucket: 1, rows: 2 }, { day: '2001-01-01', merchant_id: a, bucket: 1, rows: 1 }]);
        expect([...(await ledger().registry.storedDays([a, b])).entries()]).toEqual([[a, day]]);
      });

      it('an ingest batch that read the registry before its merchant changed zone refuses to commit, and counts nothing', async () => {
        await setup();
        const day = nextDay();
        const m = `zone-move-${day}`;
        const read = await ledger().registry.read();
        const batch = await ledger().ingest.open();
        await ledger().registry.apply([{ merchant_id: m, history: LA }]);
        const counts = [{ day, merchant_id: m, bucket: 0, rows: 3 }];
        await expect(ledger().ingest.commit({ batch, buckets: counts, touched: [{ day, merchant_id: m, rows: 3 }], recheck: async () => counts, zonesVersion: read.version })).rejects.toThrow(/time zone of .* changed while this ingest ran/);
        expect(await ledger().ingest.ofDay(day)).toEqual([]);
        expect((await ledger().ingest.committed([batch.id])).size).toBe(0);
        // Read again (the new version): it commits.
        const again = await ledger().ingest.open();
        expect(await ledger().ingest.commit({ batch: again, buckets: counts, touched: [{ day, merchant_id: m, rows: 3 }], recheck: async () => counts, zonesVersion: (await ledger().registry.read()).version })).toMatchObject({ late: [] });
      });

      it('stores each merchant-day\'s frame with the plan: split\'s ranges and summarize\'s completeness carry it, a replay copies it', async () => {
        await setup();
        const day = nextDay();
        await ingested(COUNTS(day));
        await ledger().runs.acquire({ day, owner: 'o1', leaseSec: 30, mode: 'resume', newRunId: runId(day) });
        const la = frameOfMerchantDay(day, LA);
        const res = await ledger().plan.create(planReq(day, 1, 'o1', { frame: (m) => (m === 'm-small' ? la : frameOfMerchantDay(day, undefined)) }));
        expect(res).toMatchObject({ merchantDays: 2 });
        const chunks = await ledger().plan.chunks(day, 1);
        const split = await ledger().chunks.get(day, 1, chunkOf(chunks, 'm-small').chunk_id);
        expect(split!.ranges).toEqual([expect.objectContaining({ merchant_id: 'm-small', day_start: la.start_ms, hours: la.hours })]);
        expect(la.start_ms).toBe(Date.parse(`${day}T08:00:00Z`));
        expect((await ledger().merchantDays.completeness(day, 1, 'm-small'))!.frame).toEqual(la);
        expect((await ledger().merchantDays.completeness(day, 1, 'm-big'))!.frame).toEqual(utcDayFrame(day));
        expect(await ledger().runs.openReplayEpoch({ day, fromEpoch: 1, toEpoch: 2, fromStage: 'split', keepSplit: false, topic: 'ns.chunks', sourceEpoch: 1 })).toBe(true);
        expect((await ledger().merchantDays.completeness(day, 2, 'm-small'))!.frame).toEqual(la);
      });

      it('plans only the due merchant-days; the day waits, and a later run plans the rest once due', async () => {
        await setup();
        const day = nextDay();
        await ingested(COUNTS(day));
        await ledger().runs.acquire({ day, owner: 'o1', leaseSec: 30, mode: 'late', newRunId: runId(day), due: ['m-big'] });
        expect(await ledger().plan.create(planReq(day, 1, 'o1', { due: (m) => m === 'm-big' }))).toMatchObject({ merchantDays: 1, rows: 800 });
        expect(await ledger().runs.complete(day, 1, 'o1', 'waiting')).toBe(true);
        expect(await ledger().runs.get(day)).toMatchObject({ state: 'waiting', epoch: 1 });
        // m-small is still not due: nothing to do.
        expect(await ledger().runs.acquire({ day, owner: 'o1', leaseSec: 30, mode: 'late', newRunId: runId(day), due: ['m-big'] })).toEqual({ kind: 'already-complete', epoch: 1, state: 'waiting' });
        // Now it is: a new epoch plans it alone (unplanned, with rows), m-big keeps its epoch.
        const got = await ledger().runs.acquire({ day, owner: 'o1', leaseSec: 30, mode: 'late', newRunId: runId(day), due: ['m-big', 'm-small'] });
        expect(got).toMatchObject({ kind: 'acquired', run: { epoch: 2, kind: 'late' } });
        expect(await ledger().plan.create(planReq(day, 2, 'o1', { kind: 'late', merchants: 'late' }))).toMatchObject({ merchantDays: 1, rows: 50 });
        expect((await ledger().merchantDays.epochs(day)).map((e) => [e.merchant_id, e.epoch])).toEqual([['m-big', 1], ['m-small', 2]]);
        expect(await ledger().runs.complete(day, 2, 'o1')).toBe(true);
        expect(await ledger().runs.acquire({ day, owner: 'o1', leaseSec: 30, mode: 'late', newRunId: runId(day), due: ['m-big', 'm-small'] })).toEqual({ kind: 'already-complete', epoch: 2, state: 'complete' });
      });
    });
  });
}
