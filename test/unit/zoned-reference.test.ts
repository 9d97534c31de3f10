import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { referenceRun, splitLines } from '../support/reference.js';
import { referenceDay, referenceLocalDay, zonedReferenceReport, zonedReferenceRun, type ZonedReferenceSummary } from '../support/zoned-reference.js';

const fixtures = fileURLToPath(new URL('../fixtures/contract/', import.meta.url));
const sample = splitLines(readFileSync(`${fixtures}sample-events.ndjson`, 'utf8'));

const H = 3_600_000;
const at = (iso: string): number => Date.parse(iso);
let seq = 0;
const ev = (merchant: string, ts: number, fields: Record<string, unknown> = {}): string =>
  JSON.stringify({ merchant_id: merchant, visitor_id: 'v1', event_id: `e${++seq}`, type: 'page_view', ts, ...fields });

function only(lines: string[], zones: Record<string, string>, day: string): ZonedReferenceSummary {
  const report = zonedReferenceReport(lines, zones, day);
  expect(report).toHaveLength(1);
  return report[0] as ZonedReferenceSummary;
}

/** Indexes of the non-zero entries of an hourly array. */
const busyHours = (hourly: number[]): number[] => hourly.flatMap((n, i) => (n > 0 ? [i] : []));

describe('zoned reference: merchants without a zone', () => {
  it('gives exactly what reference.ts gives on the contract sample, plus UTC day bounds', () => {
    const plain = referenceRun(sample);
    const zoned = zonedReferenceRun(sample, {});
    expect(zoned.refused).toBe(plain.refused);
    expect([...zoned.summaries.keys()].sort()).toEqual([...plain.summaries.keys()].sort());
    for (const [day, summaries] of plain.summaries) {
      // The sample has an event on 9999-12-31, whose end is in year 10000 (toISOString: +010000-…).
      const next = new Date(Date.parse(`${day}T00:00:00Z`) + 24 * H).toISOString().replace(/^\+0/, '').slice(0, -14);
      const withZone = summaries.map((s) => ({ ...s, time_zone: 'UTC', day_start: `${day}T00:00:00+00:00`, day_end: `${next}T00:00:00+00:00` }));
      expect(zoned.summaries.get(day), day).toEqual(withZone);
    }
    expect(plain.summaries.get('2026-11-27')?.length).toBeGreaterThan(3);
    expect(zoned.summaries.get('9999-12-31')?.[0]?.day_end).toBe('10000-01-01T00:00:00+00:00');
  });

  it('shows a zone exactly as the registry spells it and gives an unlisted merchant UTC', () => {
    const t = at('2026-06-01T12:00:00Z');
    const report = zonedReferenceReport([ev('a', t), ev('b', t), ev('c', t)], { a: 'Asia/Calcutta', b: 'US/Pacific' }, '2026-06-01');
    expect(report.map((s) => [s.merchant_id, s.time_zone, s.day_start])).toEqual([
      ['a', 'Asia/Calcutta', '2026-06-01T00:00:00+05:30'],
      ['b', 'US/Pacific', '2026-06-01T00:00:00-07:00'],
      ['c', 'UTC', '2026-06-01T00:00:00+00:00'],
    ]);
  });
});

describe('zoned reference: days, hours and ISO strings computed by hand', () => {
  it.each([
    // zone, day, first instant, hours, day_start, day_end
    ['America/Los_Angeles', '2026-03-08', '2026-03-08T08:00:00Z', 23, '2026-03-08T00:00:00-08:00', '2026-03-09T00:00:00-07:00'],
    ['America/Los_Angeles', '2026-11-01', '2026-11-01T07:00:00Z', 25, '2026-11-01T00:00:00-07:00', '2026-11-02T00:00:00-08:00'],
    ['Europe/Berlin', '2026-03-29', '2026-03-28T23:00:00Z', 23, '2026-03-29T00:00:00+01:00', '2026-03-30T00:00:00+02:00'],
    ['Europe/Berlin', '2026-10-25', '2026-10-24T22:00:00Z', 25, '2026-10-25T00:00:00+02:00', '2026-10-26T00:00:00+01:00'],
    ['Asia/Kolkata', '2026-06-01', '2026-05-31T18:30:00Z', 24, '2026-06-01T00:00:00+05:30', '2026-06-02T00:00:00+05:30'],
    ['Asia/Kathmandu', '2026-06-01', '2026-05-31T18:15:00Z', 24, '2026-06-01T00:00:00+05:45', '2026-06-02T00:00:00+05:45'],
    ['Australia/Adelaide', '2026-04-05', '2026-04-04T13:30:00Z', 25, '2026-04-05T00:00:00+10:30', '2026-04-06T00:00:00+09:30'],
    ['Pacific/Kiritimati', '2026-11-27', '2026-11-26T10:00:00Z', 24, '2026-11-27T00:00:00+14:00', '2026-11-28T00:00:00+14:00'],
    ['Pacific/Pago_Pago', '2026-11-27', '2026-11-27T11:00:00Z', 24, '2026-11-27T00:00:00-11:00', '2026-11-28T00:00:00-11:00'],
    // Cuba springs forward at midnight: the day starts at the transition, 01:00 CDT.
    ['America/Havana', '2026-03-08', '2026-03-08T05:00:00Z', 23, '2026-03-08T01:00:00-04:00', '2026-03-09T00:00:00-04:00'],
    // Samoa skipped 2011-12-30: an empty day at the jump.
    ['Pacific/Apia', '2011-12-30', '2011-12-30T10:00:00Z', 0, '2011-12-31T00:00:00+14:00', '2011-12-31T00:00:00+14:00'],
    // Liberia kept a seconds offset until 1972.
    ['Africa/Monrovia', '1971-06-01', '1971-06-01T00:44:30Z', 24, '1971-06-01T00:00:00-00:44:30', '1971-06-02T00:00:00-00:44:30'],
    ['UTC', '2026-11-27', '2026-11-27T00:00:00Z', 24, '2026-11-27T00:00:00+00:00', '2026-11-28T00:00:00+00:00'],
  ])('%s %s', (zone, day, first, hours, dayStart, dayEnd) => {
    const d = referenceDay(day, zone);
    expect(d).toMatchObject({ start: at(first), hours, day_start: dayStart, day_end: dayEnd });
    if (hours > 0) {
      expect(referenceLocalDay(d.start, zone)).toBe(day);
      expect(referenceLocalDay(d.end - 1, zone)).toBe(day);
    }
    expect(referenceLocalDay(d.start - 1, zone)).not.toBe(day);
  });

  it('gives an instant where the clock fell back across midnight to the date already begun (St. John’s 2000)', () => {
    // 00:01 NDT on Oct 29 became 23:01 NST on Oct 28 again; those 59 minutes belong to Oct 29.
    const d = referenceDay('2000-10-29', 'America/St_Johns');
    expect(d).toMatchObject({ start: at('2000-10-29T02:30:00Z'), hours: 25, day_start: '2000-10-29T00:00:00-02:30', day_end: '2000-10-30T00:00:00-03:30' });
    expect(referenceLocalDay(at('2000-10-29T03:00:00Z'), 'America/St_Johns')).toBe('2000-10-29');
  });
});

describe('zoned reference: metrics in local days', () => {
  it('counts the spring-forward day by elapsed hours (23 entries) and cuts at local midnight', () => {
    const m = { la: 'America/Los_Angeles' };
    const lines = [
      ev('la', at('2026-03-08T07:59:59.999Z')), // 23:59:59.999 PST on the 7th
      ev('la', at('2026-03-08T08:00:00.000Z')), // local midnight: hour 0
      ev('la', at('2026-03-08T10:30:00.000Z')), // 03:30 PDT: 2.5 h elapsed, hour 2
      ev('la', at('2026-03-09T06:59:59.999Z')), // 23:59:59.999 PDT: hour 22, the last
      ev('la', at('2026-03-09T07:00:00.000Z')), // the 9th
    ];
    const s = only(lines, m, '2026-03-08');
    expect(s.hourly_events).toHaveLength(23);
    expect(busyHours(s.hourly_events)).toEqual([0, 2, 22]);
    expect(s.events).toBe(3);
    expect(zonedReferenceReport(lines, m, '2026-03-07')[0]?.events).toBe(1);
    expect(zonedReferenceReport(lines, m, '2026-03-09')[0]?.events).toBe(1);
  });

  it.each([
    ['America/Los_Angeles', '2026-11-01', '2026-11-01T08:30:00Z', '2026-11-01T09:30:00Z', [1, 2]], // both 01:30
    ['Europe/Berlin', '2026-10-25', '2026-10-25T00:30:00Z', '2026-10-25T01:30:00Z', [2, 3]], // both 02:30
  ])('puts both repeated half-past times of the %s fall-back day in different entries of 25', (zone, day, first, second, hours) => {
    const lines = [
      ev('m', at(first), { type: 'purchase', order_id: 'o1', order_total_cents: 100, visitor_id: 'a' }),
      ev('m', at(second), { type: 'purchase', order_id: 'o2', order_total_cents: 250, visitor_id: 'b' }),
    ];
    const s = only(lines, { m: zone }, day);
    expect(s.hourly_events).toHaveLength(25);
    expect(busyHours(s.hourly_events)).toEqual(hours);
    expect(s.hourly_revenue_cents[hours[0] ?? -1]).toBe(100);
    expect(s.hourly_revenue_cents[hours[1] ?? -1]).toBe(250);
    expect(s.hourly_revenue_cents).toHaveLength(25);
  });

  it('ends a session at local midnight even within 30 minutes (Asia/Kolkata), where UTC keeps one', () => {
    const lines = [ev('k', at('2026-06-01T18:20:00Z')), ev('k', at('2026-06-01T18:40:00Z'))]; // 23:50 and 00:10 IST
    expect(only(lines, { k: 'Asia/Kolkata' }, '2026-06-01')).toMatchObject({ sessions: 1, events: 1 });
    expect(only(lines, { k: 'Asia/Kolkata' }, '2026-06-02')).toMatchObject({ sessions: 1, events: 1, hourly_events: [1, ...new Array<number>(23).fill(0)] });
    expect(only(lines, {}, '2026-06-01')).toMatchObject({ sessions: 1, events: 2, session_duration_ms_total: 20 * 60_000 });
  });

  it('handles +05:45, +14 and −11 at their local midnights', () => {
    const lines = [
      ev('np', at('2026-05-31T18:14:59.999Z')),
      ev('np', at('2026-05-31T18:15:00.000Z')),
      ev('ki', at('2026-05-31T09:59:59.999Z')),
      ev('ki', at('2026-05-31T10:00:00.000Z')),
      ev('as', at('2026-06-01T10:59:59.999Z')),
      ev('as', at('2026-06-01T11:00:00.000Z')),
    ];
    const zones = { np: 'Asia/Kathmandu', ki: 'Pacific/Kiritimati', as: 'Pacific/Pago_Pago' };
    const day = zonedReferenceReport(lines, zones, '2026-06-01');
    expect(day.map((s) => [s.merchant_id, s.events, busyHours(s.hourly_events)])).toEqual([
      ['as', 1, [0]],
      ['ki', 1, [0]],
      ['np', 1, [0]],
    ]);
    expect(zonedReferenceReport(lines, zones, '2026-05-31').map((s) => [s.merchant_id, busyHours(s.hourly_events)])).toEqual([
      ['as', [23]],
      ['ki', [23]],
      ['np', [23]],
    ]);
  });

  it('dedupes per local day: one identity on two UTC days of one local day is one event, on two local days two', () => {
    const la = { la: 'America/Los_Angeles' };
    const same = (ts: number): string => JSON.stringify({ merchant_id: 'la', visitor_id: 'v', event_id: 'x', type: 'page_view', ts });
    const lines = [same(at('2026-11-27T23:30:00Z')), same(at('2026-11-28T01:00:00Z')), same(at('2026-11-27T07:30:00Z'))];
    expect(only(lines, la, '2026-11-27')).toMatchObject({ events: 1, hourly_events: expect.arrayContaining([1]) as unknown });
    expect(busyHours(only(lines, la, '2026-11-27').hourly_events)).toEqual([15]); // the earliest, 15:30 PST
    expect(only(lines, la, '2026-11-26').events).toBe(1);
  });

  it('refuses an event whose local day would be 10000-01-01, which no row key can hold', () => {
    const lines = [ev('ki', 253_402_300_799_999), ev('u', 253_402_300_799_999)];
    const run = zonedReferenceRun(lines, { ki: 'Pacific/Kiritimati' });
    expect(run.refused).toBe(1);
    expect(run.summaries.get('9999-12-31')?.map((s) => s.merchant_id)).toEqual(['u']);
  });

  it('applies a listed field’s rule on every type (docs/decisions.md)', () => {
    const t = at('2026-06-01T12:00:00Z');
    const s = only([ev('m', t, { quantity: 0 }), ev('m', t, { order_total_cents: -1 }), ev('m', t, { quantity: null })], {}, '2026-06-01');
    expect(s).toMatchObject({ events: 1, invalid_events: 2 });
  });
});
