import { describe, expect, it } from 'vitest';
import {
  FIRST_DAY,
  addDays,
  createMerchantCalendar,
  dayBounds,
  historyProblems,
  localDayOf,
  zoneForDay,
  type ZoneHistory,
} from '../../../src/domain/zones.js';

const at = (iso: string): number => Date.parse(iso);

describe('zoneForDay', () => {
  const history: ZoneHistory = [
    { zone: 'America/Los_Angeles', fromDay: '2026-03-01' },
    { zone: 'Europe/Berlin', fromDay: '2026-04-10' },
  ];
  it.each([
    ['2026-02-28', 'UTC'],
    ['2026-03-01', 'America/Los_Angeles'],
    ['2026-04-09', 'America/Los_Angeles'],
    ['2026-04-10', 'Europe/Berlin'],
    ['9999-12-31', 'Europe/Berlin'],
  ])('%s → %s', (day, zone) => {
    expect(zoneForDay(history, day)).toBe(zone);
  });

  it('is UTC for a merchant not in the registry', () => {
    expect(zoneForDay([], '2026-11-27')).toBe('UTC');
    expect(createMerchantCalendar([]).bounds('2026-11-27')).toEqual(dayBounds('2026-11-27', 'UTC'));
  });
});

describe('a zone change on a day boundary', () => {
  it.each([
    // from → to from fromDay: the day before ends where fromDay starts in the new zone
    {
      name: 'west to east (LA → Berlin): the last LA day is 15 hours',
      history: [
        { zone: 'America/Los_Angeles', fromDay: FIRST_DAY },
        { zone: 'Europe/Berlin', fromDay: '2026-04-10' },
      ],
      before: { start: '2026-04-09T07:00:00Z', end: '2026-04-09T22:00:00Z', hours: 15, startIso: '2026-04-09T00:00:00-07:00', endIso: '2026-04-09T15:00:00-07:00' },
      after: { start: '2026-04-09T22:00:00Z', end: '2026-04-10T22:00:00Z', hours: 24, startIso: '2026-04-10T00:00:00+02:00', endIso: '2026-04-11T00:00:00+02:00' },
    },
    {
      name: 'east to west (Berlin → LA): the last Berlin day is 33 hours',
      history: [
        { zone: 'Europe/Berlin', fromDay: FIRST_DAY },
        { zone: 'America/Los_Angeles', fromDay: '2026-04-10' },
      ],
      before: { start: '2026-04-08T22:00:00Z', end: '2026-04-10T07:00:00Z', hours: 33, startIso: '2026-04-09T00:00:00+02:00', endIso: '2026-04-10T09:00:00+02:00' },
      after: { start: '2026-04-10T07:00:00Z', end: '2026-04-11T07:00:00Z', hours: 24, startIso: '2026-04-10T00:00:00-07:00', endIso: '2026-04-11T00:00:00-07:00' },
    },
    {
      name: 'across the date line eastwards (Pago Pago −11 → Kiritimati +14): the day before is empty',
      history: [
        { zone: 'Pacific/Pago_Pago', fromDay: FIRST_DAY },
        { zone: 'Pacific/Kiritimati', fromDay: '2026-05-10' },
      ],
      before: { start: '2026-05-09T10:00:00Z', end: '2026-05-09T10:00:00Z', hours: 0, startIso: '2026-05-08T23:00:00-11:00', endIso: '2026-05-08T23:00:00-11:00' },
      after: { start: '2026-05-09T10:00:00Z', end: '2026-05-10T10:00:00Z', hours: 24, startIso: '2026-05-10T00:00:00+14:00', endIso: '2026-05-11T00:00:00+14:00' },
    },
    {
      name: 'across the date line westwards (Kiritimati → Pago Pago): the day before is 49 hours',
      history: [
        { zone: 'Pacific/Kiritimati', fromDay: FIRST_DAY },
        { zone: 'Pacific/Pago_Pago', fromDay: '2026-05-10' },
      ],
      before: { start: '2026-05-08T10:00:00Z', end: '2026-05-10T11:00:00Z', hours: 49, startIso: '2026-05-09T00:00:00+14:00', endIso: '2026-05-11T01:00:00+14:00' },
      after: { start: '2026-05-10T11:00:00Z', end: '2026-05-11T11:00:00Z', hours: 24, startIso: '2026-05-10T00:00:00-11:00', endIso: '2026-05-11T00:00:00-11:00' },
    },
    {
      name: 'onto a spring-forward day (UTC → LA from 2026-03-08): UTC’s last day runs to LA midnight',
      history: [{ zone: 'America/Los_Angeles', fromDay: '2026-03-08' }],
      before: { start: '2026-03-07T00:00:00Z', end: '2026-03-08T08:00:00Z', hours: 32, startIso: '2026-03-07T00:00:00+00:00', endIso: '2026-03-08T08:00:00+00:00' },
      after: { start: '2026-03-08T08:00:00Z', end: '2026-03-09T07:00:00Z', hours: 23, startIso: '2026-03-08T00:00:00-08:00', endIso: '2026-03-09T00:00:00-07:00' },
    },
  ])('$name', ({ history, before, after }) => {
    const cal = createMerchantCalendar(history);
    const switchDay = history[history.length - 1]?.fromDay ?? '';
    const dayBefore = addDays(switchDay, -1);
    const b = cal.bounds(dayBefore);
    const a = cal.bounds(switchDay);
    expect({ start: b.startMs, end: b.endMs, hours: b.hours, startIso: b.startIso, endIso: b.endIso }).toEqual({ ...before, start: at(before.start), end: at(before.end) });
    expect({ start: a.startMs, end: a.endMs, hours: a.hours, startIso: a.startIso, endIso: a.endIso }).toEqual({ ...after, start: at(after.start), end: at(after.end) });
    expect(b.zone).toBe(history[history.length - 2]?.zone ?? 'UTC');
    expect(a.zone).toBe(history[history.length - 1]?.zone);
    // No gap, no overlap: the day before ends where the switch day starts, and instants follow suit.
    expect(b.endMs).toBe(a.startMs);
    expect(cal.dayOf(a.startMs)).toBe(switchDay);
    expect(cal.dayOf(a.startMs - 1)).toBe(b.hours === 0 ? addDays(dayBefore, -1) : dayBefore);
    expect(cal.dayOf(a.endMs - 1)).toBe(switchDay);
    expect(cal.bounds(addDays(dayBefore, -1)).endMs).toBe(b.startMs);
  });

  it('keeps an instant that both zones would call "the 9th" in the old zone’s last day (Berlin → LA)', () => {
    const cal = createMerchantCalendar([
      { zone: 'Europe/Berlin', fromDay: FIRST_DAY },
      { zone: 'America/Los_Angeles', fromDay: '2026-04-10' },
    ]);
    // 2026-04-10T06:00Z is 08:00 on the 10th in Berlin and 23:00 on the 9th in LA.
    expect(localDayOf(at('2026-04-10T06:00:00Z'), 'Europe/Berlin')).toBe('2026-04-10');
    expect(cal.dayOf(at('2026-04-10T06:00:00Z'))).toBe('2026-04-09');
    expect(cal.zoneOf('2026-04-09')).toBe('Europe/Berlin');
  });
});

describe('every instant in exactly one merchant-day', () => {
  const zones = ['UTC', 'America/Los_Angeles', 'Europe/Berlin', 'Asia/Kathmandu', 'Pacific/Kiritimati', 'Pacific/Pago_Pago', 'America/Santiago', 'Australia/Adelaide'];

  it('for every pair of zones switching on a DST weekend: each instant’s day holds it, days tile the timeline', () => {
    const problems: string[] = [];
    for (const from of zones) {
      for (const to of zones) {
        if (from === to) continue;
        // 2026-03-08 is the US spring-forward day; the switch lands on the 9th.
        const history = [
          { zone: from, fromDay: FIRST_DAY },
          { zone: to, fromDay: '2026-03-09' },
        ];
        const cal = createMerchantCalendar(history);
        // Every 47 minutes over five days around the switch, so instants fall at many offsets into hours.
        for (let ms = at('2026-03-06T00:00:00Z'); ms < at('2026-03-11T00:00:00Z'); ms += 47 * 60_000) {
          const day = cal.dayOf(ms);
          const b = cal.bounds(day);
          if (!(b.startMs <= ms && ms < b.endMs)) problems.push(`${from}→${to} ${new Date(ms).toISOString()} → ${day} [${b.startIso}, ${b.endIso})`);
          if (cal.bounds(addDays(day, 1)).startMs !== b.endMs) problems.push(`${from}→${to} ${day} does not end where the next starts`);
          if (b.zone !== zoneForDay(history, day)) problems.push(`${from}→${to} ${day} bounds in ${b.zone}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('walking minute by minute across two switches, days only ever advance and each is contiguous', () => {
    const history = [
      { zone: 'Pacific/Kiritimati', fromDay: '2026-05-03' },
      { zone: 'Pacific/Pago_Pago', fromDay: '2026-05-05' },
      { zone: 'Pacific/Kiritimati', fromDay: '2026-05-06' },
    ];
    const cal = createMerchantCalendar(history);
    const seen: string[] = [];
    for (let ms = at('2026-05-01T00:00:00Z'); ms < at('2026-05-09T00:00:00Z'); ms += 60_000) {
      const day = cal.dayOf(ms);
      if (seen[seen.length - 1] !== day) seen.push(day);
    }
    expect([...seen].sort()).toEqual(seen);
    expect(new Set(seen).size).toBe(seen.length);
    // The 5th in Pago Pago would start after the 6th starts in Kiritimati: it is empty, and the 4th,
    // the last Kiritimati day before it, runs until the 6th starts. UTC's 2nd ends at Kiritimati's 3rd.
    expect(seen).toEqual(['2026-05-01', '2026-05-02', '2026-05-03', '2026-05-04', '2026-05-06', '2026-05-07', '2026-05-08', '2026-05-09']);
    expect([cal.bounds('2026-05-02').hours, cal.bounds('2026-05-04').hours, cal.bounds('2026-05-05').hours, cal.bounds('2026-05-06').hours]).toEqual([10, 48, 0, 24]);
  });
});

describe('history validation', () => {
  it('names every problem of a stored history', () => {
    expect(historyProblems([{ zone: 'Europe/Berlin', fromDay: FIRST_DAY }])).toEqual([]);
    expect(
      historyProblems([
        { zone: 'Europe/Berlin', fromDay: '2026-05-01' },
        { zone: 'Mars/Base', fromDay: '2026-04-01' },
        { zone: 'UTC', fromDay: '2026-02-30' },
      ]),
    ).toEqual(['entry 1: unknown time zone "Mars/Base"', 'entry 1: from 2026-04-01 not after 2026-05-01', 'entry 2: bad day "2026-02-30"', 'entry 2: from 2026-02-30 not after 2026-04-01']);
    expect(() => createMerchantCalendar([{ zone: 'utc', fromDay: FIRST_DAY }])).toThrow(/bad zone history: entry 0: unknown time zone "utc"/);
  });
});
