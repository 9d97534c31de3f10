/**
 * The three stage handlers over in-memory ports: the real decoders, logic and wiring, with the
 * in-memory ledger, table store and producer. Redelivery, a superseded epoch and a chunk split
 * twice are each driven by hand; a whole seeded day is pumped through and compared with the
 * independent reference.
 */
import { describe, expect, it } from 'vitest';
import { decode, decodeAs, encode } from '../../../schemas/index.js';
import { planDay } from '../../../src/domain/plan.js';
import { frameOfMerchantDay } from '../../../src/domain/due.js';
import { generateLines } from '../../../src/seed/generate.js';
import { summaryRowKey } from '../../../src/domain/rowkey.js';
import { chunkPublisher } from '../../../src/master/wiring.js';
import type { RunLease } from '../../../src/ledger/types.js';
import { referenceReport } from '../../support/reference.js';
import { diffSummaries } from '../../support/compare.js';
import { createMemoryWorld, type MemoryWorld } from '../../support/memory-pipeline.js';

const DAY = '2026-11-27';
const LINES = [...generateLines({ day: DAY, events: 3000, merchants: 4, seed: 11 })];

/** Ingests the seeded day, plans it (small chunks, so there are several) and publishes every chunk. */
async function plannedWorld(lines = LINES, chunkRows = 400): Promise<{ w: MemoryWorld; run: RunLease }> {
  const w = createMemoryWorld();
  await w.ingestLines(lines);
  const got = await w.ledger.runs.acquire({ day: DAY, owner: 'test', leaseSec: 30, mode: 'resume', newRunId: (e) => `r${e}` });
  if (got.kind !== 'acquired') throw new Error('not acquired');
  await publishPlan(w, got.run, chunkRows);
  return { w, run: got.run };
}

const SHAPE = { maxVisitors: 200, maxBatchBytes: 700_000, maxPartialBytes: 700_000 };

async function publishPlan(w: MemoryWorld, run: RunLease, chunkRows: number, shape = SHAPE): Promise<void> {
  const res = await w.ledger.plan.create({ day: run.day, epoch: run.epoch, owner: 'test', kind: 'full', shape, frame: () => frameOfMerchantDay(run.day, undefined), planner: (counts) => planDay(run.day, run.epoch, counts, 64, chunkRows) });
  if (res === 'lost-lease') throw new Error('lost the lease');
  const chunks = await w.ledger.plan.chunks(run.day, run.epoch);
  await chunkPublisher(async () => w.producer, w.topic('chunks')).publish(run, chunks, w.clock.now());
  await w.ledger.plan.markPublished(run.day, run.epoch, 'test', chunks.map((c) => c.chunk_id));
}

const sent = (w: MemoryWorld, key: string) => w.producer.sent.get(w.topic(key)) ?? [];
const summaries = (w: MemoryWorld) => w.tables.rows(w.tableNames.summaries).map((r) => JSON.parse(r.cells.find((c) => c.qualifier.toString() === 'json')!.value.toString()) as Record<string, unknown>);

describe('split handler', () => {
  it('emits batches and seals, quarantines invalid events, and marks the chunk split', async () => {
    const { w, run } = await plannedWorld();
    const split = w.handler('split');
    const [task] = sent(w, 'chunks');
    await split(task!.value);
    const t = decodeAs('ChunkTask', task!.value);
    const batches = sent(w, 'batches').map((m) => decodeAs('VisitorBatch', m.value));
    expect(batches.length).toBeGreaterThan(0);
    expect(new Set(batches.map((b) => b.chunk_id))).toEqual(new Set([t.chunk_id]));
    const seals = sent(w, 'partials').map((m) => decodeAs('ChunkSealed', m.value));
    expect(seals.map((s) => s.merchant_id)).toEqual(t.ranges.map((r) => r.merchant_id));
    expect(seals.reduce((a, s) => a + s.batches, 0)).toBe(batches.length);
    expect((await w.ledger.chunks.get(DAY, run.epoch, t.chunk_id))!.split_done).toBe(true);
    const quarantined = await w.ledger.quarantine.read(DAY, undefined, 10_000);
    expect(quarantined.total).toBe(seals.reduce((a, s) => a + s.invalid, 0));
    const p = await w.ledger.progress.read(DAY, 120);
    expect(p!.ledger.batches).toBe(batches.length);
    expect(p!.ledger.rows_read).toBe(seals.reduce((a, s) => a + s.rows_read, 0));
  });

  it('absorbs a redelivered task: nothing produced twice, nothing counted twice', async () => {
    const { w } = await plannedWorld();
    const split = w.handler('split');
    const [task] = sent(w, 'chunks');
    await split(task!.value);
    const before = { batches: sent(w, 'batches').length, seals: sent(w, 'partials').length, sizes: w.ledger.sizes() };
    await split(task!.value, { offset: '1' });
    expect({ batches: sent(w, 'batches').length, seals: sent(w, 'partials').length, sizes: w.ledger.sizes() }).toEqual(before);
  });

  it('skips a task of a superseded plan', async () => {
    const { w, run } = await plannedWorld();
    const oldTask = sent(w, 'chunks')[0]!;
    // The whole day completes and is re-run: epoch 2 has its own chunk ids.
    await w.ledger.runs.complete(DAY, run.epoch, 'test');
    const again = await w.ledger.runs.acquire({ day: DAY, owner: 'test', leaseSec: 30, mode: 'rerun', newRunId: (e) => `r${e}` });
    if (again.kind !== 'acquired') throw new Error('no rerun');
    await publishPlan(w, again.run, 400);
    const produced = sent(w, 'batches').length;
    await w.handler('split')(oldTask.value);
    expect(sent(w, 'batches').length).toBe(produced);
  });

  it('splitting a chunk twice (a re-published stuck chunk) emits the same batches, byte for byte', async () => {
    const { w, run } = await plannedWorld();
    const split = w.handler('split');
    const task = sent(w, 'chunks')[0]!;
    await split(task.value);
    const first = sent(w, 'batches').map((m) => m.value.toString('hex'));
    const t = decodeAs('ChunkTask', task.value);
    await w.ledger.plan.resetSplit(DAY, run.epoch, 'test', [t.chunk_id]);
    await split(task.value, { offset: '9' });
    const all = sent(w, 'batches').map((m) => m.value.toString('hex'));
    expect(all.slice(first.length)).toEqual(first);
  });
});

describe('transform handler', () => {
  it('writes session rows and one partial per batch; a redelivered batch rewrites the same rows and partial', async () => {
    const { w } = await plannedWorld();
    await w.handler('split')(sent(w, 'chunks')[0]!.value);
    const batch = sent(w, 'batches')[0]!;
    const transform = w.handler('transform');
    await transform(batch.value);
    const rows = w.tables.rows(w.tableNames.sessions);
    expect(rows.length).toBeGreaterThan(0);
    const partials = sent(w, 'partials').map((m) => m.value);
    await transform(batch.value, { offset: '1' });
    expect(w.tables.rows(w.tableNames.sessions)).toEqual(rows);
    const after = sent(w, 'partials').map((m) => m.value);
    expect(after.length).toBe(partials.length + 1);
    expect(after[after.length - 1]!.equals(after[after.length - 2]!)).toBe(true);
  });
});

describe('summarize handler', () => {
  it('writes a merchant-day once its ledger reconciles; redelivered partials and seals change nothing', async () => {
    const { w } = await plannedWorld();
    await w.pump({ only: ['split', 'transform'] });
    const inputs = [...sent(w, 'partials')];
    const summarize = w.handler('summarize');
    for (const [i, m] of inputs.entries()) await summarize(m.value, { offset: String(i) });
    const once = summaries(w);
    expect(diffSummaries(once, referenceReport(LINES, DAY) as unknown as Array<Record<string, unknown>>)).toEqual([]);
    const progress = await w.ledger.progress.read(DAY, 120);
    expect(progress!.merchantDays.done).toBe(progress!.run.merchant_days);
    for (const [i, m] of inputs.entries()) await summarize(m.value, { offset: String(1000 + i) });
    expect(summaries(w)).toEqual(once);
  });

  it('does not count a partial whose chunk is not in the plan (a superseded plan\'s partial)', async () => {
    const { w, run } = await plannedWorld();
    await w.pump({ only: ['split', 'transform'] });
    const summarize = w.handler('summarize');
    const first = sent(w, 'partials').find((m) => decode(m.value).name === 'PartialRecord')!;
    const p = decodeAs('PartialRecord', first.value);
    const stray = { ...p, chunk_id: `${DAY}.e${run.epoch}.c99999`, batch_id: `${DAY}.e${run.epoch}.c99999/${p.merchant_id}/0` };
    await summarize(encode('PartialRecord', stray));
    const state = await w.ledger.merchantDays.completeness(DAY, run.epoch, p.merchant_id);
    expect(state!.receivedBatches).toBe(0);
    expect(w.tables.rows(w.tableNames.summaries)).toEqual([]);
  });
});

describe('a whole seeded day through the three handlers in memory', () => {
  it('matches the independent reference, and a second pump changes nothing', async () => {
    const { w } = await plannedWorld();
    const delivered = await w.pump();
    expect(delivered).toBeGreaterThan(10);
    expect(diffSummaries(summaries(w), referenceReport(LINES, DAY) as unknown as Array<Record<string, unknown>>)).toEqual([]);
    expect(await w.pump()).toBe(0);
    const key = summaryRowKey(DAY, (summaries(w)[0] as { merchant_id: string }).merchant_id, 1);
    expect(await w.tables.get(w.tableNames.summaries, key)).toBeDefined();
  });
});
