import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseTs, referenceRefusedCount, referenceReport, referenceRun, splitLines } from '../support/reference.js';

const fixtures = fileURLToPath(new URL('../fixtures/contract/', import.meta.url));
const sample = splitLines(readFileSync(`${fixtures}sample-events.ndjson`, 'utf8'));
const expected = splitLines(readFileSync(`${fixtures}expected-2026-11-27.ndjson`, 'utf8')).map(
  (l) => JSON.parse(l) as Record<string, unknown>,
);
const expectedRefused = Number(/\d+/.exec(readFileSync(`${fixtures}refused.txt`, 'utf8'))?.[0]);

/** Deep comparison that tolerates float noise but nothing else (integers and strings compare exactly). */
function assertSame(actual: unknown, wanted: unknown, path: string): void {
  if (typeof wanted === 'number' && typeof actual === 'number' && !Number.isInteger(wanted)) {
    expect(Math.abs(actual - wanted), path).toBeLessThanOrEqual(1e-9);
    return;
  }
  if (Array.isArray(wanted)) {
    expect(Array.isArray(actual), path).toBe(true);
    const arr = actual as unknown[];
    expect(arr.length, `${path}.length`).toBe(wanted.length);
    wanted.forEach((w, i) => assertSame(arr[i], w, `${path}[${i}]`));
    return;
  }
  if (typeof wanted === 'object' && wanted !== null) {
    expect(typeof actual, path).toBe('object');
    const obj = actual as Record<string, unknown>;
    expect(Object.keys(obj).sort(), `${path} keys`).toEqual(Object.keys(wanted).sort());
    for (const [k, w] of Object.entries(wanted)) assertSame(obj[k], w, `${path}.${k}`);
    return;
  }
  expect(actual, path).toBe(wanted);
}

const page = (fields: Record<string, unknown>): string =>
  JSON.stringify({ merchant_id: 'm1', visitor_id: 'v1', type: 'page_view', ...fields });

describe('reference implementation on the contract sample', () => {
  it('refuses exactly the lines refused.txt names', () => {
    expect(expectedRefused).toBe(21);
    expect(referenceRefusedCount(sample)).toBe(expectedRefused);
  });

  it('reproduces expected-2026-11-27.ndjson on every field', () => {
    const report = referenceReport(sample, '2026-11-27');
    expect(report.map((s) => s.merchant_id)).toEqual(expected.map((e) => e.merchant_id));
    report.forEach((s, i) => assertSame(s, expected[i], String(s.merchant_id)));
  });
});

describe('reference implementation on the corners the sample does not pin down', () => {
  it('parses every allowed ts encoding to the same instant', () => {
    const ms = Date.UTC(2026, 10, 27, 23, 30, 0, 123);
    expect(parseTs(ms)).toBe(ms);
    expect(parseTs(JSON.parse(`${ms}.0`))).toBe(ms);
    expect(parseTs('2026-11-27T23:30:00.123Z')).toBe(ms);
    expect(parseTs('2026-11-27T23:30:00.123999999Z')).toBe(ms);
    expect(parseTs('2026-11-28T01:00:00.1234+01:30')).toBe(ms);
    expect(parseTs('2026-11-27T18:30:00.123-05:00')).toBe(ms);
    expect(parseTs('2026-11-27T23:30:00.1Z')).toBe(ms - 23);
    expect(parseTs('0000-01-01T00:00:00Z')).toBeUndefined();
    expect(parseTs('1970-01-01T00:00:00+00:01')).toBeUndefined();
    expect(parseTs('9999-12-31T23:59:59.999Z')).toBe(253402300799999);
    expect(parseTs('2026-02-30T00:00:00Z')).toBeUndefined();
    expect(parseTs('2026-11-27T23:60:00Z')).toBeUndefined();
    expect(parseTs('2026-11-27T23:00:00.Z')).toBeUndefined();
    expect(parseTs('2026-11-27T23:00:00.1234567890Z')).toBeUndefined();
    expect(parseTs(1.5)).toBeUndefined();
    expect(parseTs('1795737600000')).toBeUndefined();
  });

  it('keeps the earliest occurrence of an identity, then the smallest raw line', () => {
    const t = Date.UTC(2026, 10, 27, 12);
    const lines = [
      page({ event_id: 'a', ts: t + 5, type: 'purchase', order_id: 'o', order_total_cents: 100 }),
      page({ event_id: 'a', ts: t, type: 'click' }), // earliest, invalid: the identity counts as invalid
      JSON.stringify({ event_id: 'b', merchant_id: 'm1', visitor_id: 'v1', ts: t, type: 'page_view', z: 2 }),
      JSON.stringify({ event_id: 'b', merchant_id: 'm1', visitor_id: 'v1', ts: t, type: 'click', a: 1 }),
      // same event_id on another day is another identity
      page({ event_id: 'a', ts: t + 86_400_000 }),
    ];
    const [s] = referenceReport(lines, '2026-11-27');
    expect(s?.events).toBe(0);
    expect(s?.invalid_events).toBe(2);
    expect(referenceRun(lines).summaries.get('2026-11-28')?.[0]?.events).toBe(1);
  });

  it('orders ties by event_id in code point order when splitting sessions and picking kept purchases', () => {
    const t = Date.UTC(2026, 10, 27, 10);
    // U+FF5E sorts before U+1F600 by code point, after it by UTF-16 unit.
    const lines = [
      page({ event_id: '😀', ts: t, type: 'purchase', order_id: 'o', order_total_cents: 7 }),
      page({ event_id: '～', ts: t, type: 'purchase', order_id: 'o', order_total_cents: 9 }),
    ];
    const [s] = referenceReport(lines, '2026-11-27');
    expect(s?.orders).toBe(1);
    expect(s?.revenue_cents).toBe(9);
    expect(s?.purchases).toBe(2);
  });

  it('splits sessions only on gaps strictly above 30 minutes and at UTC midnight', () => {
    const t = Date.UTC(2026, 10, 27, 22, 0);
    const lines = [
      page({ event_id: '1', ts: t }),
      page({ event_id: '2', ts: t + 1_800_000 }),
      page({ event_id: '3', ts: t + 3_600_001 }),
      page({ event_id: '4', ts: Date.UTC(2026, 10, 28, 0, 0, 0, 1) }),
    ];
    const [s] = referenceReport(lines, '2026-11-27');
    expect(s?.sessions).toBe(2);
    expect(s?.bounced_sessions).toBe(1);
    expect(s?.session_duration_ms_total).toBe(1_800_000);
  });

  it('reports a merchant-day whose events are all invalid, with zeros', () => {
    const [s] = referenceReport([page({ event_id: 'x', ts: Date.UTC(2026, 10, 27), type: 'click' })], '2026-11-27');
    expect(s).toMatchObject({ events: 0, invalid_events: 1, sessions: 0, conversion_rate: 0, avg_order_value_cents: 0 });
    expect(s?.hourly_events).toHaveLength(24);
  });

  it('skips blank lines and refuses oversized ones', () => {
    const big = page({ event_id: 'x', ts: 0, pad: 'p'.repeat(1024 * 1024) });
    expect(referenceRun(['', '  \t', big]).refused).toBe(1);
  });
});
