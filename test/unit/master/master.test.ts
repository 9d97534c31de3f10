/**
 * The master's loop on the in-memory ledger and a fake clock: a night to completion, lease
 * renewal and loss, stuck detection with its re-publish limit, and a resume after each checkpoint.
 * The workers are the real stage handlers, pumped while the master sleeps.
 */
import { describe, expect, it } from 'vitest';
import { decodeAs } from '../../../schemas/index.js';
import { generateLines } from '../../../src/seed/generate.js';
import { runMaster, type MasterOptions, type MasterPorts } from '../../../src/master/master.js';
import { chunkPublisher } from '../../../src/master/wiring.js';
import { silentLogger } from '../../../src/log.js';
import { referenceReport } from '../../support/reference.js';
import { diffSummaries } from '../../support/compare.js';
import { createMemoryWorld, type MemoryWorld } from '../../support/memory-pipeline.js';

const DAY = '2026-11-27';
const LINES = [...generateLines({ day: DAY, events: 2000, merchants: 3, seed: 3 })];

interface Night {
  w: MemoryWorld;
  ports: MasterPorts;
  /** what the simulated workers do while the master sleeps */
  workers: 'run' | 'stall';
  onSleep?: () => Promise<void>;
}

async function night(): Promise<Night> {
  const w = createMemoryWorld();
  await w.ingestLines(LINES);
  const n: Night = {
    w,
    workers: 'run',
    ports: {
      ledger: w.ledger,
      publisher: chunkPublisher(async () => w.producer, w.topic('chunks')),
      clock: {
        now: w.clock.now,
        async sleep(ms) {
          await w.clock.sleep(ms);
          if (n.workers === 'run') await w.pump();
          await n.onSleep?.();
        },
      },
      log: silentLogger,
      settings: { buckets: 64, chunkRows: 300, batchVisitors: 200, stuckAfterSec: 60, maxRepublish: 2 },
    },
  };
  return n;
}

const opts = (o: Partial<MasterOptions> = {}): MasterOptions => ({ day: DAY, mode: 'resume', owner: 'host:1:a', newRunId: (e) => `${DAY}.e${e}.t`, pollMs: 500, leaseSec: 30, ...o });
const summaries = (w: MemoryWorld) => w.tables.rows(w.tableNames.summaries).map((r) => JSON.parse(r.cells.find((c) => c.qualifier.toString() === 'json')!.value.toString()) as Record<string, unknown>);
const expected = referenceReport(LINES, DAY) as unknown as Array<Record<string, unknown>>;
const published = (w: MemoryWorld) => (w.producer.sent.get(w.topic('chunks')) ?? []).map((m) => decodeAs('ChunkTask', m.value).chunk_id);

describe('master', () => {
  it('plans, publishes in parts, follows the ledger to complete, and reports progress', async () => {
    const n = await night();
    const progress: number[] = [];
    const checkpoints: string[] = [];
    const outcome = await runMaster(n.ports, opts({ publishPart: 2, onProgress: (p) => progress.push(p.merchantDaysDone), onCheckpoint: (c) => { checkpoints.push(c); } }));
    expect(outcome).toBe('complete');
    const run = await n.w.ledger.runs.get(DAY);
    expect(run).toMatchObject({ state: 'complete', lock_owner: null });
    const chunks = await n.w.ledger.plan.chunks(DAY, 1);
    expect(chunks.length).toBeGreaterThan(2);
    expect(published(n.w).sort()).toEqual(chunks.map((c) => c.chunk_id).sort());
    expect(checkpoints.filter((c) => c === 'published-part').length).toBe(Math.ceil(chunks.length / 2));
    expect(checkpoints[0]).toBe('acquired');
    expect(checkpoints.at(-1)).toBe('complete');
    expect(progress.at(-1)).toBe(run!.merchant_days);
    expect(diffSummaries(summaries(n.w), expected)).toEqual([]);
    // Done is done: a second master finds the day complete and does nothing.
    expect(await runMaster(n.ports, opts({ owner: 'host:2:b' }))).toBe('already-complete');
  });

  it('renews its lease on every poll, so another master is kept off for as long as it runs', async () => {
    const n = await night();
    n.workers = 'stall';
    let polls = 0;
    n.onSleep = async () => {
      polls++;
      // Each poll is 500 ms; 100 polls = 50 s > the 30 s lease, which only renewals keep alive.
      const other = await n.w.ledger.runs.acquire({ day: DAY, owner: 'host:2:b', leaseSec: 30, mode: 'resume', newRunId: () => 'x' });
      expect(other.kind).toBe('held');
      if (polls === 100) n.workers = 'run';
    };
    expect(await runMaster(n.ports, opts())).toBe('complete');
    expect(polls).toBeGreaterThan(100);
  });

  it('stops with CONFLICT when its lease was lost to another master', async () => {
    const n = await night();
    n.workers = 'stall';
    n.onSleep = async () => {
      await n.w.ledger.runs.releaseLeaseByPrefix(DAY, 'host:1:');
      await n.w.ledger.runs.acquire({ day: DAY, owner: 'host:2:b', leaseSec: 30, mode: 'resume', newRunId: () => 'x' });
    };
    await expect(runMaster(n.ports, opts())).rejects.toThrow(/lost the lease/);
  });

  it('re-publishes work without progress after stuckAfterSec, and fails the run after maxRepublish rounds', async () => {
    const n = await night();
    n.workers = 'stall';
    const t0 = n.w.clock.now();
    expect(await runMaster(n.ports, opts())).toBe('failed');
    const run = await n.w.ledger.runs.get(DAY);
    expect(run!.state).toBe('failed');
    expect(run!.error).toMatch(/^stuck after 2 re-publications: chunks .*waiting on split/);
    const chunks = await n.w.ledger.plan.chunks(DAY, 1);
    // Published once by the plan, then re-published twice; the third stall fails the run.
    expect(chunks.every((c) => c.publish_count === 3)).toBe(true);
    expect(published(n.w).length).toBe(chunks.length * 3);
    // Three stalls of just over 60 s each, measured on the fake clock.
    expect(n.w.clock.now() - t0).toBeGreaterThan(3 * 60_000);
    expect(n.w.clock.now() - t0).toBeLessThan(4 * 60_000);
  });

  it('recovers when the workers move again after a re-publish: the duplicates are absorbed', async () => {
    const n = await night();
    n.workers = 'stall';
    n.onSleep = async () => {
      if ((await n.w.ledger.plan.chunks(DAY, 1)).some((c) => c.publish_count > 1)) n.workers = 'run';
    };
    expect(await runMaster(n.ports, opts())).toBe('complete');
    expect(diffSummaries(summaries(n.w), expected)).toEqual([]);
  });

  it.each(['acquired', 'planned', 'published-part', 'published'])('a master that dies after "%s" is resumed by the next: planned once, same result', async (point) => {
    const n = await night();
    n.workers = 'stall';
    const died = runMaster(n.ports, opts({ publishPart: 2, onCheckpoint: (c) => { if (c === point) throw new Error(`killed at ${c}`); } }));
    await expect(died).rejects.toThrow(`killed at ${point}`);
    const planBefore = (await n.w.ledger.plan.chunks(DAY, 1)).map((c) => c.chunk_id);
    const publishedBefore = published(n.w).length;
    // What nightly does for its dead child: release the lease, re-spawn.
    await n.w.ledger.runs.releaseLeaseByPrefix(DAY, 'host:1:');
    n.workers = 'run';
    expect(await runMaster(n.ports, opts({ owner: 'host:3:c' }))).toBe('complete');
    const chunks = await n.w.ledger.plan.chunks(DAY, 1);
    if (point !== 'acquired') expect(chunks.map((c) => c.chunk_id)).toEqual(planBefore);
    expect((await n.w.ledger.runs.get(DAY))!.epoch).toBe(1);
    // Only what was not recorded as published is published again.
    const recorded = point === 'published' ? chunks.length : point === 'published-part' ? 2 : 0;
    expect(published(n.w).length - publishedBefore).toBe(chunks.length - recorded);
    expect(diffSummaries(summaries(n.w), expected)).toEqual([]);
  });
});
