import { describe, expect, it } from 'vitest';
import { MAX_TS_MS, parseTs, utcDay, utcHour } from '../../../src/domain/timestamp.js';

const ok = (v: unknown): number => {
  const r = parseTs(v);
  if (!r.ok) throw new Error(`expected ${JSON.stringify(v)} to parse: ${r.reason}`);
  return r.ms;
};

describe('parseTs: epoch milliseconds', () => {
  it.each([
    [0, 0],
    [1, 1],
    [1_795_737_600_005, 1_795_737_600_005],
    [MAX_TS_MS, 253_402_300_799_999],
    [3.0, 3],
    [-0, 0],
  ])('accepts %s', (v, ms) => {
    expect(ok(v)).toBe(ms);
    expect(Object.is(ok(v), ms)).toBe(true);
  });

  it.each([
    [-1],
    [MAX_TS_MS + 1],
    [3.5],
    [0.001],
    [Number.POSITIVE_INFINITY],
    [Number.NaN],
    ['1795737600005'],
    [true],
    [false],
    [null],
    [undefined],
    [[1795737600005]],
    [{ ms: 1 }],
  ])('refuses %s', (v) => {
    expect(parseTs(v).ok).toBe(false);
  });
});

describe('parseTs: RFC 3339', () => {
  it.each([
    ['1970-01-01T00:00:00Z', 0],
    ['2026-11-27T00:00:00Z', Date.UTC(2026, 10, 27)],
    ['2026-11-27T00:00:00.1Z', Date.UTC(2026, 10, 27) + 100],
    ['2026-11-27T00:00:00.12Z', Date.UTC(2026, 10, 27) + 120],
    ['2026-11-27T00:00:00.123Z', Date.UTC(2026, 10, 27) + 123],
    ['2026-11-27T00:00:00.1239Z', Date.UTC(2026, 10, 27) + 123],
    ['2026-11-27T00:00:00.999999999Z', Date.UTC(2026, 10, 27) + 999],
    ['2026-11-27T19:10:06.990000000+01:00', Date.UTC(2026, 10, 27, 18, 10, 6, 990)],
    ['2026-11-27T22:31:45.392-05:00', Date.UTC(2026, 10, 28, 3, 31, 45, 392)],
    ['2026-11-28T09:00:48.003+05:30', Date.UTC(2026, 10, 28, 3, 30, 48, 3)],
    ['2026-11-27T00:00:00+23:59', Date.UTC(2026, 10, 26, 0, 1)],
    ['2026-11-27T00:00:00-00:00', Date.UTC(2026, 10, 27)],
    ['2024-02-29T12:00:00Z', Date.UTC(2024, 1, 29, 12)],
    ['2000-02-29T00:00:00Z', Date.UTC(2000, 1, 29)],
    ['2026-12-31T23:59:59.999Z', Date.UTC(2026, 11, 31, 23, 59, 59, 999)],
    ['9999-12-31T23:59:59.999Z', MAX_TS_MS],
    ['1970-01-01T01:00:00+01:00', 0],
  ])('accepts %s', (text, ms) => {
    expect(ok(text)).toBe(ms);
  });

  it.each([
    ['2026-11-27T00:00:00.1234567890Z', '10 fraction digits'],
    ['2026-11-27T00:00:00.Z', 'empty fraction'],
    ['2023-02-29T12:00:00Z', 'Feb 29 in a common year'],
    ['1900-02-29T12:00:00Z', 'Feb 29 in a century non-leap year'],
    ['2024-02-30T12:00:00Z', 'Feb 30'],
    ['2026-04-31T00:00:00Z', 'April 31'],
    ['2026-00-10T00:00:00Z', 'month 00'],
    ['2026-13-10T00:00:00Z', 'month 13'],
    ['2026-11-00T00:00:00Z', 'day 00'],
    ['2026-11-27T24:00:00Z', 'hour 24'],
    ['2026-11-27T25:00:00Z', 'hour 25'],
    ['2026-11-27T10:60:00Z', 'minute 60'],
    ['2026-11-27T23:59:60Z', 'leap second'],
    ['2026-11-27T10:00:00+24:00', 'offset hour 24'],
    ['2026-11-27T10:00:00+05:60', 'offset minute 60'],
    ['2026-11-27T10:00:00+0530', 'offset without colon'],
    ['2026-11-27T10:00:00+05', 'offset without minutes'],
    ['2026-11-27T10:00:00', 'no offset'],
    ['2026-11-27 10:00:00Z', 'space separator'],
    ['2026-11-27t10:00:00Z', 'lower-case t'],
    ['2026-11-27T10:00:00z', 'lower-case z'],
    ['2026-11-27T10:00Z', 'no seconds'],
    ['2026-11-27', 'date only'],
    ['26-11-27T10:00:00Z', 'two-digit year'],
    ['+02026-11-27T10:00:00Z', 'expanded year'],
    [' 2026-11-27T10:00:00Z', 'leading space'],
    ['2026-11-27T10:00:00Z ', 'trailing space'],
    ['2026-11-27T10:00:00Z\n', 'trailing newline'],
    ['２026-11-27T10:00:00Z', 'full-width digit'],
    ['yesterday', 'prose'],
    ['', 'empty'],
    ['1969-12-31T23:59:59.999Z', 'before the epoch'],
    ['1970-01-01T00:30:00+01:00', 'before the epoch after the offset'],
    ['9999-12-31T23:59:59.999-00:01', 'after the maximum after the offset'],
    ['0000-01-01T00:00:00Z', 'year 0'],
  ])('refuses %s (%s)', (text) => {
    expect(parseTs(text).ok).toBe(false);
  });
});

describe('utcDay / utcHour', () => {
  it.each([
    [0, '1970-01-01', 0],
    [Date.UTC(2026, 10, 27) - 1, '2026-11-26', 23],
    [Date.UTC(2026, 10, 27), '2026-11-27', 0],
    [Date.UTC(2026, 10, 27, 13, 59, 59, 999), '2026-11-27', 13],
    [Date.UTC(2028, 1, 29, 12), '2028-02-29', 12],
    [MAX_TS_MS, '9999-12-31', 23],
  ])('%s is %s hour %s', (ms, day, hour) => {
    expect(utcDay(ms)).toBe(day);
    expect(utcHour(ms)).toBe(hour);
  });
});
