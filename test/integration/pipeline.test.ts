/**
 * The whole night through real Kafka, HBase and MySQL, checked against an independent reference
 * computation (test/support/reference.ts shares no code with src/) and against the contract sample.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLines } from '../../src/seed/generate.js';
import { projectPath } from '../../src/paths.js';
import { referenceReport } from '../support/reference.js';
import { diffSummaries, parseLines } from '../support/compare.js';
import { createTestNamespace, type TestNamespace } from '../support/harness.js';

const DAY = '2026-11-27';

describe('contract sample through ingest → nightly → report', () => {
  let t: TestNamespace;
  beforeAll(async () => { t = await createTestNamespace('contract'); });
  afterAll(async () => { await t?.cleanup(); });

  it('refuses exactly the contract\'s lines and reports the expected summaries', async () => {
    const file = projectPath('test', 'fixtures', 'contract', 'sample-events.ndjson');
    const refusedExpected = Number(/(\d+)/.exec(readFileSync(projectPath('test', 'fixtures', 'contract', 'refused.txt'), 'utf8'))![1]);
    const ing = await t.cli(['ingest', file, '--json', '--rejects', join(tmpdir(), `${t.ns}.rejects`)]);
    expect(ing.code, ing.stderr).toBe(0);
    const summary = JSON.parse(ing.stdout) as { read: number; stored: number; refused: number };
    expect(summary.refused).toBe(refusedExpected);

    const night = await t.cli(['nightly', '--day', DAY, '--with-workers', '1', '--quiet']);
    expect(night.code, night.stderr).toBe(0);
    const rep = await t.cli(['report', '--day', DAY, '--json']);
    expect(rep.code, rep.stderr).toBe(0);
    const actual = parseLines(rep.stdout);
    const expected = parseLines(readFileSync(projectPath('test', 'fixtures', 'contract', `expected-${DAY}.ndjson`), 'utf8'));
    expect(diffSummaries(actual, expected)).toEqual([]);
    expect(actual.map((r) => r.merchant_id)).toEqual([...actual.map((r) => r.merchant_id as string)].sort());

    const rej = await t.cli(['rejects', '--day', DAY, '--json', '--limit', '1000']);
    const listed = parseLines(rej.stdout);
    const quarantined = listed.filter((x) => x.kind === 'invalid');
    // Ingest's refusals are listed too (under their event's day when it could be read).
    expect(listed.filter((x) => x.kind === 'refused').every((x) => typeof x.reason === 'string' && typeof x.head === 'string')).toBe(true);
    expect(quarantined.length).toBe(expected.reduce((a, r) => a + (r.invalid_events as number), 0));
    expect(quarantined.every((q) => typeof q.reason === 'string' && typeof q.detail === 'string')).toBe(true);
  });
});

describe('a seeded day', () => {
  let t: TestNamespace;
  const lines = [...generateLines({ day: DAY, events: 30_000, merchants: 12, seed: 7 })];
  const input = lines.join('\n') + '\n';
  let reference: Array<Record<string, unknown>>;
  beforeAll(async () => {
    t = await createTestNamespace('seeded');
    reference = referenceReport(lines, DAY) as unknown as Array<Record<string, unknown>>;
  });
  afterAll(async () => { await t?.cleanup(); });

  it('ingests from stdin, and ingesting again changes nothing', async () => {
    const first = await t.cli(['ingest', '-', '--json', '--rejects', '/dev/null'], { input });
    expect(first.code, first.stderr).toBe(0);
    const a = JSON.parse(first.stdout) as { read: number; stored: number; refused: number; new_events: number };
    expect(a.stored + a.refused).toBeGreaterThan(29_000);
    const counts = async () => (await t.app.db().query<{ day: string; merchant_id: string; bucket: number; rows_stored: number }>('SELECT day, merchant_id, bucket, rows_stored FROM raw_buckets ORDER BY day, merchant_id, bucket'));
    const before = await counts();
    const second = await t.cli(['ingest', '-', '--json', '--rejects', '/dev/null'], { input });
    const b = JSON.parse(second.stdout) as { read: number; stored: number; refused: number; new_events: number };
    expect(b.new_events).toBe(0);
    expect(b.stored).toBe(a.stored);
    expect(await counts()).toEqual(before);
  });

  it('1 replica per stage matches the reference', async () => {
    const night = await t.cli(['nightly', '--day', DAY, '--with-workers', '1', '--quiet']);
    expect(night.code, night.stderr).toBe(0);
    const rep = await t.cli(['report', '--day', DAY, '--json']);
    expect(diffSummaries(parseLines(rep.stdout), reference)).toEqual([]);
  });

  it('2 replicas per stage, rerun under a new epoch, match the reference', async () => {
    const night = await t.cli(['nightly', '--day', DAY, '--with-workers', '2', '--rerun', '--quiet']);
    expect(night.code, night.stderr).toBe(0);
    const [run] = await t.app.db().query<{ epoch: number; state: string }>('SELECT epoch, state FROM runs WHERE day = ?', [DAY]);
    expect(run).toEqual({ epoch: 2, state: 'complete' });
    const rep = await t.cli(['report', '--day', DAY, '--json']);
    expect(diffSummaries(parseLines(rep.stdout), reference)).toEqual([]);
  });
});

describe('one partition per topic', () => {
  let t: TestNamespace;
  const lines = [...generateLines({ day: DAY, events: 8_000, merchants: 6, seed: 11 })];
  beforeAll(async () => {
    process.env.STAGELINE_TOPOLOGY = projectPath('test', 'fixtures', 'topology-1-partition.json');
    try { t = await createTestNamespace('onepart'); } finally { delete process.env.STAGELINE_TOPOLOGY; }
  });
  afterAll(async () => { await t?.cleanup(); });

  it('matches the reference', async () => {
    const env = { STAGELINE_TOPOLOGY: projectPath('test', 'fixtures', 'topology-1-partition.json') };
    const ing = await t.cli(['ingest', '-', '--json', '--rejects', '/dev/null'], { input: lines.join('\n'), env });
    expect(ing.code, ing.stderr).toBe(0);
    const topics = await (await t.app.admin()).topicOffsets(`${t.ns}.batches`);
    expect(topics).toHaveLength(1);
    const night = await t.cli(['nightly', '--day', DAY, '--with-workers', '1', '--quiet'], { env });
    expect(night.code, night.stderr).toBe(0);
    const rep = await t.cli(['report', '--day', DAY, '--json'], { env });
    expect(diffSummaries(parseLines(rep.stdout), referenceReport(lines, DAY) as unknown as Array<Record<string, unknown>>)).toEqual([]);
  });
});
