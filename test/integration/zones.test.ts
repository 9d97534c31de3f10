/**
 * Merchant time zones through the real pipeline (issue 13): 12 merchants in 8 zones, one of them
 * on its DST day (Los Angeles falls back on 2026-11-01: 25 hourly entries), with events exactly at
 * each local midnight and 1 ms before, and visitors whose activity runs across local midnight. The
 * report is compared, field for field (zone, day bounds and hourly arrays included), with
 * test/support/zoned-reference.ts, which shares no code with src/.
 *
 * The due rule on real servers: with a grace that makes the western merchants' day not due yet,
 * nightly plans the others, lists those as not due and leaves the day waiting; run again once they
 * are due (the default grace), it plans only them.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLines } from '../../src/seed/generate.js';
import { referenceDay, zonedReferenceReport } from '../support/zoned-reference.js';
import { diffSummaries, parseLines } from '../support/compare.js';
import { createTestNamespace, type CliResult, type TestNamespace } from '../support/harness.js';
import { stopLeftovers } from '../support/faults.js';

const D = '2026-11-01';
const DAY_MS = 86_400_000;
const addDays = (day: string, n: number): string => new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
const expectOk = (r: CliResult, what: string) => expect(r.code, `${what} exited ${String(r.code)}\n${r.stderr.slice(-3000)}`).toBe(0);

/** The generator's merchant ids by index (12 merchants), and the zone each gets; two stay unlisted (UTC). */
const ZONE_BY_INDEX: Record<number, string> = {
  1: 'America/Los_Angeles', 2: 'America/Los_Angeles', 3: 'Europe/Berlin', 4: 'Asia/Kolkata', 5: 'Asia/Kathmandu',
  6: 'Pacific/Kiritimati', 7: 'Pacific/Pago_Pago', 8: 'Australia/Adelaide', 9: 'Asia/Kolkata', 10: 'Europe/Berlin',
};
const WEST = new Set(['America/Los_Angeles', 'Pacific/Pago_Pago']);

function merchantIds(lines: readonly string[]): string[] {
  const seen: string[] = [];
  for (const l of lines) {
    try {
      const m = (JSON.parse(l) as { merchant_id?: unknown }).merchant_id;
      if (typeof m === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(m) && /(\d+)(_X*)?$/.test(m) && !seen.includes(m)) seen.push(m);
    } catch { /* a refused line */ }
  }
  return seen;
}

describe.sequential('merchant time zones through the pipeline', () => {
  let t: TestNamespace;
  let dir: string;
  let lines: string[];
  let zones: Record<string, string>;

  beforeAll(async () => {
    t = await createTestNamespace('zones');
    dir = mkdtempSync(join(tmpdir(), 'stageline-zones-'));
    // Three generated UTC days around D cover every zone's local D.
    lines = [D, addDays(D, -1), addDays(D, 1)].flatMap((d, i) => [...generateLines({ day: d, events: 3_000, merchants: 12, seed: 130 + i })]);
    const ids = merchantIds(lines);
    const byIndex = (i: number) => ids.find((m) => new RegExp(`[_-]${i}(_X*)?$`).test(m));
    zones = Object.fromEntries(Object.entries(ZONE_BY_INDEX).map(([i, z]) => [byIndex(Number(i))!, z]));
    expect(Object.keys(zones)).toHaveLength(10);
    expect(new Set([...Object.values(zones), 'UTC']).size).toBe(8);
    // At each zoned merchant's local midnights: an event exactly at the start of D, one 1 ms before,
    // one 1 ms before D ends, one at its end; and a visitor active across each midnight.
    for (const [m, z] of Object.entries(zones)) {
      const day = referenceDay(D, z);
      const ev = (id: string, visitor: string, ts: number, type = 'page_view') => JSON.stringify({ event_id: id, merchant_id: m, visitor_id: visitor, type, ts, ...(type === 'product_view' ? { product_id: 'midnight-p' } : {}) });
      lines.push(
        ev('mid-0', 'edge', day.start), ev('mid-1', 'edge', day.start - 1), ev('mid-2', 'edge', day.end - 1), ev('mid-3', 'edge', day.end),
        ev('owl-0', 'owl', day.start - 10 * 60_000, 'product_view'), ev('owl-1', 'owl', day.start + 10 * 60_000, 'product_view'),
        ev('owl-2', 'owl', day.end - 5 * 60_000), ev('owl-3', 'owl', day.end + 5 * 60_000),
      );
    }
  }, 300_000);
  afterAll(async () => {
    await stopLeftovers(t.ns).catch(() => undefined);
    await t?.cleanup();
  });

  it('merchants import refuses a bad file whole, naming the lines; a good one is applied; re-importing changes nothing', async () => {
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, `merchant_id,time_zone\n${Object.keys(zones)[0]},Europe/Berlin\nsomeone,Mars/Olympus\nbad id,UTC\n`);
    const refused = await t.cli(['merchants', 'import', bad]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/line 3: .*Mars\/Olympus/);
    expect(refused.stderr).toMatch(/line 4: /);
    expect((await t.cli(['merchants', 'list', '--json'])).stdout.trim()).toBe('');

    const good = join(dir, 'merchants.csv');
    writeFileSync(good, `merchant_id,time_zone\n${Object.entries(zones).map(([m, z]) => `${m},${z}`).join('\n')}\n`);
    const applied = await t.cli(['merchants', 'import', good]);
    expectOk(applied, 'merchants import');
    expect(applied.stdout).toContain('10 merchant(s), 10 added or changed, 0 unchanged');
    // New merchants (nothing stored): the zone holds for every day, no transition day to describe.
    expect(applied.stdout).toMatch(/: [A-Za-z_/]+ for every day \(no events stored yet\)/);
    const again = await t.cli(['merchants', 'import', good]);
    expectOk(again, 'merchants import again');
    expect(again.stdout).toContain('10 merchant(s), 0 added or changed, 10 unchanged');
    const listed = parseLines((await t.cli(['merchants', 'list', '--json'])).stdout);
    expect(Object.fromEntries(listed.map((r) => [r.merchant_id, r.time_zone]))).toEqual(zones);
  });

  it('with a grace that leaves the western merchants not due: the others are planned and match the reference; the day waits', async () => {
    const ing = await t.cli(['ingest', '-', '--json', '--rejects', '/dev/null'], { input: `${lines.join('\n')}\n` });
    expectOk(ing, 'ingest');
    // Due: UTC's D ended (plus this grace) an hour ago; Los Angeles' and Pago Pago's D end 8 and 11 h later.
    const grace = Math.floor((Date.now() - Date.parse(`${addDays(D, 1)}T00:00:00Z`)) / 60_000) - 60;
    const night = await t.cli(['nightly', '--day', D, '--with-workers', '1', '--json'], { env: { STAGELINE_DAY_GRACE_MIN: String(grace) } });
    expectOk(night, 'nightly (some not due)');
    const [res] = parseLines(night.stdout) as Array<{ state: string; not_due: Array<{ merchant_id: string; time_zone: string; day_end: string }> }>;
    const west = Object.entries(zones).filter(([, z]) => WEST.has(z)).map(([m]) => m).sort();
    expect(res!.state).toBe('waiting');
    expect(res!.not_due.map((x) => x.merchant_id).sort()).toEqual(west);
    expect(res!.not_due.find((x) => x.time_zone === 'America/Los_Angeles')?.day_end).toBe('2026-11-02T00:00:00-08:00');

    const rep = await t.cli(['report', '--day', D, '--json']);
    expectOk(rep, 'report');
    const got = parseLines(rep.stdout);
    const want = zonedReferenceReport(lines, zones, D) as unknown as Array<Record<string, unknown>>;
    expect(got.map((r) => r.merchant_id)).toEqual(want.map((r) => r.merchant_id).filter((m) => !west.includes(String(m))));
    expect(diffSummaries(got, want.filter((r) => !west.includes(String(r.merchant_id))))).toEqual([]);
    expect((await t.cli(['status', '--day', D])).stdout).toMatch(/WAITING/);
  });

  it('once they are due, nightly plans only them: the whole day equals the reference (25 hours in Los Angeles), the others keep their epoch', async () => {
    const before = parseLines((await t.cli(['report', '--day', D, '--json'])).stdout);
    const night = await t.cli(['nightly', '--day', D, '--with-workers', '1', '--json']);
    expectOk(night, 'nightly (all due)');
    expect((parseLines(night.stdout)[0] as { state: string }).state).toBe('complete');
    const got = parseLines((await t.cli(['report', '--day', D, '--json'])).stdout);
    const want = zonedReferenceReport(lines, zones, D) as unknown as Array<Record<string, unknown>>;
    expect(want).toHaveLength(12);
    expect(diffSummaries(got, want)).toEqual([]);
    const la = got.find((r) => r.time_zone === 'America/Los_Angeles')!;
    expect((la.hourly_events as number[]).length).toBe(25);
    expect({ start: la.day_start, end: la.day_end }).toEqual({ start: '2026-11-01T00:00:00-07:00', end: '2026-11-02T00:00:00-08:00' });
    expect(got.find((r) => r.time_zone === 'UTC')).toMatchObject({ day_start: `${D}T00:00:00+00:00` });
    for (const r of before) expect(got.find((x) => x.merchant_id === r.merchant_id)).toMatchObject({ epoch: r.epoch, computed_at: r.computed_at });
    // The neighbouring local days hold the other side of each midnight.
    for (const d of [addDays(D, -1), addDays(D, 1)]) {
      expectOk(await t.cli(['nightly', '--day', d, '--with-workers', '1', '--quiet', '--allow-small-day']), `nightly ${d}`);
      expect(diffSummaries(parseLines((await t.cli(['report', '--day', d, '--json'])).stdout), zonedReferenceReport(lines, zones, d) as unknown as Array<Record<string, unknown>>)).toEqual([]);
    }
  }, 600_000);

  it('a zone change that would move stored days is refused with the earliest day it may take effect; a later one is kept as history', async () => {
    const m = Object.keys(zones)[0]!;
    const moved = await t.cli(['merchants', 'set', m, '--tz', 'Asia/Tokyo', '--from-day', D]);
    expect(moved.code).toBe(2);
    expect(moved.stderr).toMatch(/cannot switch to Asia\/Tokyo from 2026-11-01: events are stored up to \d{4}-\d\d-\d\d.*the earliest day it can take effect is \d{4}-\d\d-\d\d/);
    const later = await t.cli(['merchants', 'set', m, '--tz', 'Asia/Tokyo', '--from-day', '2027-01-01']);
    expectOk(later, 'merchants set');
    const listed = parseLines((await t.cli(['merchants', 'list', '--json'])).stdout).find((r) => r.merchant_id === m) as { history: Array<{ time_zone: string; from_day: string }> };
    expect(listed.history.map((h) => h.time_zone)).toEqual([zones[m], 'Asia/Tokyo']);
    // Stored days keep their zone: the report of D is unchanged.
    const got = parseLines((await t.cli(['report', '--day', D, '--json'])).stdout);
    expect(got.find((r) => r.merchant_id === m)?.time_zone).toBe(zones[m]);
  });
});
