/**
 * The bench's DuckDB peer (bench/peer.ts) is a fair bar only while it computes the same contract:
 * checked here on the contract sample (expected report) and on a generated big day (merchant 0 at
 * 30 %, a bot visitor) against the independent reference of test/support/reference.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { peerSummaries } from '../../../bench/peer.js';
import { diffSummaries } from '../../../bench/compare.js';
import { generateLines } from '../../../src/seed/generate.js';
import { referenceReport } from '../../support/reference.js';

const dir = mkdtempSync(join(tmpdir(), 'peer-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The reference and the expected file carry the metrics only, not the day's frame. */
function metricsOnly(rows: readonly object[]): Array<Record<string, unknown>> {
  return rows.map((r) => {
    const { time_zone: _z, day_start: _s, day_end: _e, ...rest } = JSON.parse(JSON.stringify(r)) as Record<string, unknown>;
    return rest;
  });
}

describe('bench peer (DuckDB)', () => {
  it('prints the contract sample\'s expected report', async () => {
    const fixtures = join(import.meta.dirname, '..', '..', 'fixtures', 'contract');
    const expected = readFileSync(join(fixtures, 'expected-2026-11-27.ndjson'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const { summaries } = await peerSummaries(join(fixtures, 'sample-events.ndjson'), '2026-11-27', 2);
    expect(diffSummaries(metricsOnly(summaries), expected)).toEqual([]);
  });

  it('agrees with the reference on a generated big day, every field of every merchant-day', async () => {
    const day = '2026-05-20';
    const lines = [...generateLines({ day, events: 30_000, merchants: 12, seed: 5, topShare: 0.3, botEvents: 3000 })];
    const file = join(dir, 'day.ndjson');
    writeFileSync(file, lines.join('\n') + '\n');
    const { summaries, stats } = await peerSummaries(file, day, 2);
    const expected = referenceReport(lines, day) as unknown as Array<Record<string, unknown>>;
    expect(expected.length).toBeGreaterThan(5);
    expect(stats.invalid).toBeGreaterThan(0);
    expect(diffSummaries(metricsOnly(summaries), expected)).toEqual([]);
  });
});
