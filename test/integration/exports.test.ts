/**
 * Exports on a real night (the contract sample: invalid events and refused lines included), CSV
 * checked field by field against the JSON of the same command; and the start-up check that a
 * namespace is provisioned, on commands run as a new user runs them.
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config.js';
import { createApp } from '../../src/app.js';
import { silentLogger } from '../../src/log.js';
import { databaseProvisioned } from '../../src/adapters/mysql.js';
import { projectPath } from '../../src/paths.js';
import { REPORT_COLUMNS, PRODUCT_COLUMNS } from '../../src/export.js';
import { parseCsv, csvRecords } from '../support/csv.js';
import { parseLines } from '../support/compare.js';
import { createTestNamespace, runCli, type TestNamespace } from '../support/harness.js';

const DAY = '2026-11-27';



/** What a CSV cell must say for a JSON value (text guarded against formulas like the writer says). */
const asCell = (v: unknown): string => (v === null || v === undefined ? '' : Array.isArray(v) ? v.join(';') : typeof v === 'string' && /^[=+\-@\t\r]/.test(v) ? `'${v}` : String(v));

describe('exports of a real night', () => {
  let t: TestNamespace;
  beforeAll(async () => {
    t = await createTestNamespace('exports');
    const ing = await t.cli(['ingest', projectPath('test', 'fixtures', 'contract', 'sample-events.ndjson'), '--json', '--rejects', join(tmpdir(), `${t.ns}.rejects`)]);
    expect(ing.code, ing.stderr).toBe(0);
    const night = await t.cli(['nightly', '--day', DAY, '--with-workers', '1', '--quiet']);
    expect(night.code, night.stderr).toBe(0);
  }, 240_000);
  afterAll(async () => { await t?.cleanup(); });

  it('report --format csv has the json lines\' values, and --json is still json', async () => {
    const json = parseLines((await t.cli(['report', '--day', DAY, '--format', 'json'])).stdout);
    const alias = parseLines((await t.cli(['report', '--day', DAY, '--json'])).stdout);
    expect(alias).toEqual(json);
    expect(json.length).toBeGreaterThan(0);
    const csv = await t.cli(['report', '--day', DAY, '--format', 'csv']);
    expect(csv.code, csv.stderr).toBe(0);
    expect(parseCsv(csv.stdout)[0]).toEqual([...REPORT_COLUMNS]);
    const rows = csvRecords(csv.stdout);
    expect(rows.map((r) => r.merchant_id)).toEqual(json.map((j) => asCell(j.merchant_id)));
    rows.forEach((r, i) => {
      for (const c of REPORT_COLUMNS) expect(r[c], `${String(json[i]!.merchant_id)} ${c}`).toBe(asCell(json[i]![c]));
    });
  });

  it('a range reads every day of it; --products csv equals --products json', async () => {
    const range = parseLines((await t.cli(['report', '--from', '2026-11-26', '--to', '2026-11-28', '--json'])).stdout);
    const one = parseLines((await t.cli(['report', '--day', DAY, '--json'])).stdout);
    expect(range).toEqual(one); // the sample has one day; its neighbours have no summaries
    const pj = parseLines((await t.cli(['report', '--day', DAY, '--products', '--format', 'json'])).stdout);
    const pc = csvRecords((await t.cli(['report', '--day', DAY, '--products', '--format', 'csv'])).stdout);
    expect(pj.length).toBeGreaterThan(0);
    expect(pc).toEqual(pj.map((p) => Object.fromEntries(PRODUCT_COLUMNS.map((c) => [c, asCell(p[c])]))));
    // Every top product of a summary is one of its product rows with the same numbers, and the rows'
    // units add up to the summary's (revenue does not: product revenue is quantity × price, the
    // summary's is the orders' totals; docs/decisions.md).
    for (const s of one) {
      const mine = pj.filter((p) => p.merchant_id === s.merchant_id);
      for (const top of s.top_products as Array<Record<string, unknown>>) expect(mine.find((p) => p.product_id === top.product_id)).toMatchObject(top);
      expect(mine.reduce((a, p) => a + (p.units_sold as number), 0), String(s.merchant_id)).toBe(s.units_sold);
    }
  });

  it('rejects --format csv lists what --json lists', async () => {
    const json = parseLines((await t.cli(['rejects', '--day', DAY, '--json', '--limit', '1000'])).stdout);
    const csv = csvRecords((await t.cli(['rejects', '--day', DAY, '--format', 'csv', '--limit', '1000'])).stdout);
    expect(json.length).toBeGreaterThan(0);
    expect(csv.map((r) => [r.kind, r.reason])).toEqual(json.map((j) => [j.kind, j.reason]));
    json.forEach((j, i) => expect(csv[i]!.raw).toBe(asCell(j.kind === 'refused' ? j.head : j.raw)));
  });

  it('refuses an unknown --format (exit 2)', async () => {
    const r = await t.cli(['report', '--day', DAY, '--format', 'xml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--format takes table, json, csv');
  });
});

describe('a namespace that was never provisioned', () => {
  const ns = `new_${randomBytes(4).toString('hex')}`;
  const cfg = buildConfig({ ...process.env, STAGELINE_NAMESPACE: ns });

  it.each([
    ['ingest', [projectPath('test', 'fixtures', 'contract', 'sample-events.ndjson'), '--rejects', '/dev/null']],
    ['nightly', ['--day', DAY, '--with-workers', '1']],
    ['report', ['--day', DAY]],
    ['status', ['--day', DAY]],
  ])('%s exits 2 fast, says what to do, creates nothing', async (cmd, args) => {
    const t0 = Date.now();
    const r = await runCli([cmd, ...args], { env: { STAGELINE_NAMESPACE: ns } });
    const ms = Date.now() - t0;
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`namespace ${ns} is not provisioned: run \`stageline provision\``);
    expect(r.stderr).not.toContain('ER_BAD_DB_ERROR');
    expect(ms).toBeLessThan(5000);
    expect(await databaseProvisioned(cfg.mysql)).toEqual({ database: false, migrated: false });
    const app = createApp(cfg, silentLogger);
    try {
      expect((await (await app.admin()).listTopics()).filter((x) => x.startsWith(`${ns}.`))).toEqual([]);
    } finally {
      await app.close();
    }
  });
});
