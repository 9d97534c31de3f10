/**
 * Scaling (issue 6): the same seeded day run with 1, 2 and 3 replicas per stage gives the same
 * report (checked against the independent reference), and the work is spread over the replicas:
 * every replica of every stage reports handled messages in chunk_work, and the per-stage totals
 * add up to exactly the work there was (nothing dropped, nothing handled twice).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLines } from '../../src/seed/generate.js';
import { referenceReport } from '../support/reference.js';
import { diffSummaries, parseLines } from '../support/compare.js';
import { createTestNamespace, type TestNamespace } from '../support/harness.js';

const DAY = '2026-11-27';
// Small chunks so split has work for every replica; a small in-flight bound so pausing is exercised too.
const ENV = { STAGELINE_CHUNK_ROWS: '1000', STAGELINE_MAX_INFLIGHT_MESSAGES: '8' };

interface ReplicaWork { stage: string; replica: string; messages: number }

describe('scaling: 1, 2 and 3 replicas per stage', () => {
  let t: TestNamespace;
  const lines = [...generateLines({ day: DAY, events: 24_000, merchants: 10, seed: 23 })];
  let reference: Array<Record<string, unknown>>;
  beforeAll(async () => {
    t = await createTestNamespace('scaling');
    reference = referenceReport(lines, DAY) as unknown as Array<Record<string, unknown>>;
    const ing = await t.cli(['ingest', '-', '--json', '--rejects', '/dev/null'], { input: lines.join('\n') + '\n' });
    expect(ing.code, ing.stderr).toBe(0);
  });
  afterAll(async () => { await t?.cleanup(); });

  async function perReplica(epoch: number): Promise<ReplicaWork[]> {
    const rows = await t.app.db().query<{ stage: string; replica: string; messages: number }>(
      'SELECT stage, replica, SUM(messages) AS messages FROM chunk_work WHERE day = ? AND epoch = ? GROUP BY stage, replica ORDER BY stage, replica', [DAY, epoch]);
    return rows.map((r) => ({ stage: r.stage, replica: r.replica, messages: Number(r.messages) }));
  }

  async function expectedWork(epoch: number): Promise<Record<string, number>> {
    const db = t.app.db();
    const [c] = await db.query<{ chunks: number }>('SELECT COUNT(*) AS chunks FROM run_chunks WHERE day = ? AND epoch = ?', [DAY, epoch]);
    const [l] = await db.query<{ batches: number; seals: number }>('SELECT SUM(batches) AS batches, COUNT(*) AS seals FROM chunk_ledger WHERE day = ? AND epoch = ?', [DAY, epoch]);
    // summarize takes one partial per batch plus one seal per (chunk, merchant) range.
    return { split: Number(c?.chunks), transform: Number(l?.batches), summarize: Number(l?.batches) + Number(l?.seals) };
  }

  for (const [i, replicas] of [1, 2, 3].entries()) {
    it(`${replicas} replica(s) per stage match the reference and share the work`, async () => {
      const night = await t.cli(['nightly', '--day', DAY, '--with-workers', String(replicas), '--quiet', ...(i > 0 ? ['--rerun'] : [])], { env: ENV });
      expect(night.code, night.stderr).toBe(0);
      const epoch = i + 1;
      const [run] = await t.app.db().query<{ epoch: number; state: string }>('SELECT epoch, state FROM runs WHERE day = ?', [DAY]);
      expect(run).toEqual({ epoch, state: 'complete' });

      const rep = await t.cli(['report', '--day', DAY, '--json']);
      expect(rep.code, rep.stderr).toBe(0);
      expect(diffSummaries(parseLines(rep.stdout), reference)).toEqual([]);

      // Work reports are flushed once a second and on drain; nightly returns after the drain.
      const work = await perReplica(epoch);
      const expected = await expectedWork(epoch);
      expect(expected.split).toBeGreaterThanOrEqual(6);
      for (const stage of ['split', 'transform', 'summarize']) {
        const mine = work.filter((w) => w.stage === stage);
        expect(mine.reduce((a, w) => a + w.messages, 0), `${stage} handled exactly its messages`).toBe(expected[stage]!);
        expect(mine.length, `${stage}: replicas that handled something (${JSON.stringify(mine)})`).toBe(replicas);
        expect(mine.every((w) => w.messages > 0)).toBe(true);
      }

      const status = await t.cli(['status', '--day', DAY, '--json', '--chunks']);
      expect(status.code, status.stderr).toBe(0);
      const st = JSON.parse(status.stdout) as { state: string; epoch: number; stages: Array<{ stage: string; done: number; planned: number; replicas_reporting: number }>; chunk_reports: unknown[] };
      expect(st.state).toBe('complete');
      expect(st.epoch).toBe(epoch);
      expect(st.stages.map((s) => [s.stage, s.done === s.planned, s.replicas_reporting])).toEqual([['split', true, replicas], ['transform', true, replicas], ['summarize', true, replicas]]);
      expect(st.chunk_reports).toHaveLength(expected.split!);
    });
  }
});
