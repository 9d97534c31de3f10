/**
 * `stageline ingest` against real HBase and MySQL: refusals with line numbers and reasons, a line
 * over 1 MiB, idempotent re-ingest (identical raw cells and bucket counts), and a clear failure
 * when a server is unreachable.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLines } from '../../src/seed/generate.js';
import { createTestNamespace, type TestNamespace } from '../support/harness.js';

const DAY = '2026-11-27';

describe('ingest', () => {
  let t: TestNamespace;
  const dir = mkdtempSync(join(tmpdir(), 'stageline-ingest-'));
  beforeAll(async () => { t = await createTestNamespace('ingest'); });
  afterAll(async () => { await t?.cleanup(); });

  async function rawDigest(): Promise<{ rows: number; cells: number; sha: string }> {
    const h = createHash('sha256');
    let rows = 0;
    let cells = 0;
    for await (const r of t.app.hbase().scan(t.app.tables.raw, { caching: 1000 })) {
      rows++;
      h.update(r.key);
      for (const c of r.cells) {
        cells++;
        h.update(c.qualifier);
        h.update(c.value);
      }
    }
    return { rows, cells, sha: h.digest('hex') };
  }

  it('refuses a line over 1 MiB and bad lines with their line numbers, and stores the rest', async () => {
    const ok = (i: number) => JSON.stringify({ event_id: `e${i}`, merchant_id: 'm_big', visitor_id: `v${i}`, ts: `${DAY}T10:00:00Z`, type: 'page_view' });
    const huge = JSON.stringify({ event_id: 'huge', merchant_id: 'm_big', visitor_id: 'v', ts: 1, type: 'page_view', pad: 'x'.repeat(1024 * 1024) });
    const file = join(dir, 'mixed.ndjson');
    // Line 8: bytes that are not UTF-8 (0xff 0xfe) inside a string; line 9: a visitor id with a lone
    // surrogate escape, which would share its row key with any other lone half.
    const notUtf8 = Buffer.concat([Buffer.from(`{"event_id":"e8","merchant_id":"m_big","visitor_id":"v`), Buffer.from([0xff, 0xfe]), Buffer.from(`","ts":1,"type":"page_view"}`)]);
    const lone = `{"event_id":"e9","merchant_id":"m_big","visitor_id":"v\\ud800","ts":"${DAY}T10:00:00Z","type":"page_view"}`;
    writeFileSync(file, Buffer.concat([
      Buffer.from([ok(1), huge, '', '{not json', ok(2), '[1,2]', JSON.stringify({ event_id: 'e', merchant_id: 'bad id', visitor_id: 'v', ts: 1 })].join('\n') + '\n'),
      notUtf8, Buffer.from(`\n${lone}\n`),
    ]));
    const rejects = join(dir, 'mixed.rejects');
    const r = await t.cli(['ingest', file, '--json', '--rejects', rejects]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { read: number; blank: number; stored: number; refused: number; refused_by_reason: Record<string, number> };
    expect(s).toMatchObject({ read: 9, blank: 1, stored: 2, refused: 6, refused_by_reason: { too_long: 1, invalid_json: 1, not_object: 1, bad_merchant_id: 1, invalid_utf8: 1, bad_visitor_id: 1 } });
    const listed = readFileSync(rejects, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { line: number; reason: string; text: string; bytes_base64?: string });
    expect(listed.map((l) => [l.line, l.reason])).toEqual([[2, 'too_long'], [4, 'invalid_json'], [6, 'not_object'], [7, 'bad_merchant_id'], [8, 'invalid_utf8'], [9, 'bad_visitor_id']]);
    expect(listed[0]!.text.length).toBeLessThanOrEqual(4096);
    // The rejects file keeps the exact bytes of the line that is not UTF-8; the others need no copy.
    expect(Buffer.from(listed[4]!.bytes_base64!, 'base64').equals(notUtf8)).toBe(true);
    expect(listed[5]!.bytes_base64).toBeUndefined();
    // `stageline rejects` shows the same refusals from MySQL, the bytes of line 8 exactly; a refusal
    // is listed under its event's day when it could be read, else under the day it was refused.
    const today = new Date().toISOString().slice(0, 10);
    const fromDb = [];
    for (const d of new Set([DAY, today])) {
      const rj = await t.cli(['rejects', '--day', d, '--json']);
      expect(rj.code, rj.stderr).toBe(0);
      fromDb.push(...rj.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string; line_no: number; reason: string; head: string; head_base64?: string }));
    }
    const refused = fromDb.filter((x) => x.kind === 'refused').sort((a, b) => a.line_no - b.line_no);
    expect(refused.map((x) => [x.line_no, x.reason])).toEqual([[2, 'too_long'], [4, 'invalid_json'], [6, 'not_object'], [7, 'bad_merchant_id'], [8, 'invalid_utf8'], [9, 'bad_visitor_id']]);
    expect(Buffer.from(refused[4]!.head_base64!, 'base64').equals(notUtf8)).toBe(true);
    expect(refused[5]!.head).toBe(lone);
  });

  it('ingesting the same file twice leaves identical HBase content and counts', async () => {
    const file = join(dir, 'day.ndjson');
    writeFileSync(file, [...generateLines({ day: DAY, events: 20_000, merchants: 8, seed: 3 })].join('\n') + '\n');
    const rowsBefore = (await rawDigest()).rows; // the previous test stored a few rows in this namespace
    const first = await t.cli(['ingest', file, '--json', '--rejects', join(dir, 'r1')]);
    expect(first.code, first.stderr).toBe(0);
    const before = await rawDigest();
    const counts = () => t.app.db().query('SELECT day, merchant_id, bucket, rows_stored FROM raw_buckets ORDER BY day, merchant_id, bucket');
    const countsBefore = await counts();
    const second = await t.cli(['ingest', file, '--json', '--rejects', join(dir, 'r2')]);
    expect(second.code, second.stderr).toBe(0);
    expect(await rawDigest()).toEqual(before);
    expect(await counts()).toEqual(countsBefore);
    const a = JSON.parse(first.stdout) as { new_events: number; stored: number };
    const b = JSON.parse(second.stdout) as { new_events: number; stored: number };
    expect(b.new_events).toBe(0);
    expect(b.stored).toBe(a.stored);
    // The planning counts add up to the distinct identities stored.
    const total = (countsBefore as Array<{ rows_stored: number }>).reduce((x, c) => x + Number(c.rows_stored), 0);
    expect(total).toBe(before.rows);
    expect(before.rows - rowsBefore).toBe(a.new_events);
  });

  it('exits non-zero with a clear message when HBase is unreachable', async () => {
    const file = join(dir, 'one.ndjson');
    writeFileSync(file, JSON.stringify({ event_id: 'e', merchant_id: 'm', visitor_id: 'v', ts: 1, type: 'page_view' }) + '\n');
    const r = await t.cli(['ingest', file, '--hbase-zk', '127.0.0.1:1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/HBase did not answer|HBASE_UNAVAILABLE/);
  });
});
