import { describe, expect, it } from 'vitest';
import { MAX_TS_MS, utcDay, utcHour } from '../../../src/domain/timestamp.js';
import {
  FIRST_DAY,
  LAST_DAY,
  addDays,
  canonicalZone,
  createZoneCalendar,
  dayBounds,
  dayNumber,
  dayString,
  formatInstant,
  hourIndex,
  isDay,
  isValidZone,
  localDayOf,
  offsetAt,
  zoneSpellingHint,
} from '../../../src/domain/zones.js';
import { referenceDay, referenceLocalDay } from '../../support/zoned-reference.js';

const H = 3_600_000;
const at = (iso: string): number => Date.parse(iso);

/** Park–Miller minimal standard generator: seeded, so a failure can be replayed. */
function rng(seed: number): () => number {
  let state = seed % 2_147_483_647 || 1;
  return () => (state = (state * 48_271) % 2_147_483_647) / 2_147_483_647;
}

describe('dayBounds', () => {
  it.each([
    // zone, day, first instant (UTC), hours, startIso, endIso
    ['America/Los_Angeles', '2026-03-08', '2026-03-08T08:00:00Z', 23, '2026-03-08T00:00:00-08:00', '2026-03-09T00:00:00-07:00'],
    ['America/Los_Angeles', '2026-11-01', '2026-11-01T07:00:00Z', 25, '2026-11-01T00:00:00-07:00', '2026-11-02T00:00:00-08:00'],
    ['America/Los_Angeles', '2026-11-27', '2026-11-27T08:00:00Z', 24, '2026-11-27T00:00:00-08:00', '2026-11-28T00:00:00-08:00'],
    ['Europe/Berlin', '2026-03-29', '2026-03-28T23:00:00Z', 23, '2026-03-29T00:00:00+01:00', '2026-03-30T00:00:00+02:00'],
    ['Europe/Berlin', '2026-10-25', '2026-10-24T22:00:00Z', 25, '2026-10-25T00:00:00+02:00', '2026-10-26T00:00:00+01:00'],
    ['Asia/Kolkata', '2026-11-27', '2026-11-26T18:30:00Z', 24, '2026-11-27T00:00:00+05:30', '2026-11-28T00:00:00+05:30'],
    ['Asia/Kathmandu', '2026-11-27', '2026-11-26T18:15:00Z', 24, '2026-11-27T00:00:00+05:45', '2026-11-28T00:00:00+05:45'],
    ['Australia/Adelaide', '2026-04-05', '2026-04-04T13:30:00Z', 25, '2026-04-05T00:00:00+10:30', '2026-04-06T00:00:00+09:30'],
    ['Australia/Adelaide', '2026-10-04', '2026-10-03T14:30:00Z', 23, '2026-10-04T00:00:00+09:30', '2026-10-05T00:00:00+10:30'],
    ['Australia/Adelaide', '2026-07-01', '2026-06-30T14:30:00Z', 24, '2026-07-01T00:00:00+09:30', '2026-07-02T00:00:00+09:30'],
    ['Pacific/Kiritimati', '2026-11-27', '2026-11-26T10:00:00Z', 24, '2026-11-27T00:00:00+14:00', '2026-11-28T00:00:00+14:00'],
    ['Pacific/Pago_Pago', '2026-11-27', '2026-11-27T11:00:00Z', 24, '2026-11-27T00:00:00-11:00', '2026-11-28T00:00:00-11:00'],
    // Lord Howe shifts by 30 minutes: 23.5 h still needs 24 entries, 24.5 h needs 25.
    ['Australia/Lord_Howe', '2026-10-04', '2026-10-03T13:30:00Z', 24, '2026-10-04T00:00:00+10:30', '2026-10-05T00:00:00+11:00'],
    ['Australia/Lord_Howe', '2026-04-05', '2026-04-04T13:00:00Z', 25, '2026-04-05T00:00:00+11:00', '2026-04-06T00:00:00+10:30'],
    // Midnight itself skipped: the day starts at the transition (Cuba, Chile, Lebanon spring forward at 00:00).
    ['America/Havana', '2026-03-08', '2026-03-08T05:00:00Z', 23, '2026-03-08T01:00:00-04:00', '2026-03-09T00:00:00-04:00'],
    ['America/Santiago', '2026-09-06', '2026-09-06T04:00:00Z', 23, '2026-09-06T01:00:00-03:00', '2026-09-07T00:00:00-03:00'],
    ['Asia/Beirut', '2026-03-29', '2026-03-28T22:00:00Z', 23, '2026-03-29T01:00:00+03:00', '2026-03-30T00:00:00+03:00'],
    // Falling back at midnight: 23:00–24:00 happens twice on the earlier day.
    ['America/Santiago', '2026-04-04', '2026-04-04T03:00:00Z', 25, '2026-04-04T00:00:00-03:00', '2026-04-05T00:00:00-04:00'],
    ['America/Santiago', '2026-04-05', '2026-04-05T04:00:00Z', 24, '2026-04-05T00:00:00-04:00', '2026-04-06T00:00:00-04:00'],
    ['Asia/Beirut', '2026-10-24', '2026-10-23T21:00:00Z', 25, '2026-10-24T00:00:00+03:00', '2026-10-25T00:00:00+02:00'],
    // Samoa skipped 2011-12-30 entirely: an empty day; the day before it ends at the jump.
    ['Pacific/Apia', '2011-12-29', '2011-12-29T10:00:00Z', 24, '2011-12-29T00:00:00-10:00', '2011-12-31T00:00:00+14:00'],
    ['Pacific/Apia', '2011-12-30', '2011-12-30T10:00:00Z', 0, '2011-12-31T00:00:00+14:00', '2011-12-31T00:00:00+14:00'],
    ['Pacific/Apia', '2011-12-31', '2011-12-30T10:00:00Z', 24, '2011-12-31T00:00:00+14:00', '2012-01-01T00:00:00+14:00'],
    // Kwajalein went from −12 to +12 at the end of 1993-08-20.
    ['Pacific/Kwajalein', '1993-08-21', '1993-08-21T12:00:00Z', 0, '1993-08-22T00:00:00+12:00', '1993-08-22T00:00:00+12:00'],
    // St. John's fell back at 00:01 to 23:01 (1987–2010): Oct 29 began at the first midnight.
    ['America/St_Johns', '2000-10-28', '2000-10-28T02:30:00Z', 24, '2000-10-28T00:00:00-02:30', '2000-10-29T00:00:00-02:30'],
    ['America/St_Johns', '2000-10-29', '2000-10-29T02:30:00Z', 25, '2000-10-29T00:00:00-02:30', '2000-10-30T00:00:00-03:30'],
    // Casey went from +11 back to +08 at 02:00 on Mar 5, 2010: Mar 5 is 27 hours.
    ['Antarctica/Casey', '2010-03-05', '2010-03-04T13:00:00Z', 27, '2010-03-05T00:00:00+11:00', '2010-03-06T00:00:00+08:00'],
    // Liberia's offset had seconds until 1972-01-07, when 00:00 LMT became 00:44:30 GMT.
    ['Africa/Monrovia', '1971-06-01', '1971-06-01T00:44:30Z', 24, '1971-06-01T00:00:00-00:44:30', '1971-06-02T00:00:00-00:44:30'],
    ['Africa/Monrovia', '1972-01-07', '1972-01-07T00:44:30Z', 24, '1972-01-07T00:44:30+00:00', '1972-01-08T00:00:00+00:00'],
    ['UTC', '2026-11-27', '2026-11-27T00:00:00Z', 24, '2026-11-27T00:00:00+00:00', '2026-11-28T00:00:00+00:00'],
    ['Etc/UTC', '2026-11-27', '2026-11-27T00:00:00Z', 24, '2026-11-27T00:00:00+00:00', '2026-11-28T00:00:00+00:00'],
    ['Europe/London', '2026-01-15', '2026-01-15T00:00:00Z', 24, '2026-01-15T00:00:00+00:00', '2026-01-16T00:00:00+00:00'],
    // The contract's last instant is on 10000-01-01 at +14: the end of 9999-12-31 prints a five-digit year.
    ['Pacific/Kiritimati', '9999-12-31', '9999-12-30T10:00:00Z', 24, '9999-12-31T00:00:00+14:00', '10000-01-01T00:00:00+14:00'],
  ])('%s %s', (zone, day, first, hours, startIso, endIso) => {
    const b = dayBounds(day, zone);
    expect(b).toEqual({
      day,
      zone,
      startMs: at(first),
      endMs: expect.any(Number) as unknown,
      hours,
      startIso,
      endIso,
    });
    expect(b.hours).toBe(Math.ceil((b.endMs - b.startMs) / H));
    if (day !== LAST_DAY) expect(b.endMs).toBe(dayBounds(addDays(day, 1), zone).startMs);
    // The instants either side of each bound; the day before may skip an empty day (Apia).
    const before = localDayOf(b.startMs - 1, zone);
    expect(before < day).toBe(true);
    expect(dayBounds(before, zone).endMs).toBe(b.startMs);
    if (hours > 0) {
      expect(localDayOf(b.startMs, zone)).toBe(day);
      expect(localDayOf(b.endMs - 1, zone)).toBe(day);
      expect(hourIndex(b.startMs, b)).toBe(0);
      expect(hourIndex(b.endMs - 1, b)).toBe(hours - 1);
    }
    expect(localDayOf(b.endMs, zone)).not.toBe(day);
  });

  it('starts a day whose midnight is skipped at the transition, where the offset changes', () => {
    for (const [zone, day] of [
      ['America/Havana', '2026-03-08'],
      ['America/Santiago', '2026-09-06'],
      ['Asia/Beirut', '2026-03-29'],
    ] as const) {
      const b = dayBounds(day, zone);
      expect(offsetAt(b.startMs - 1, zone), zone).toBe(offsetAt(b.startMs, zone) - H);
      expect(formatInstant(b.startMs - 1000, zone).slice(0, 19), zone).toBe(`${addDays(day, -1)}T23:59:59`);
      expect(b.startIso.slice(0, 19), zone).toBe(`${day}T01:00:00`);
    }
  });

  it('is the same for names of one zone, spelt as given', () => {
    const a = dayBounds('2026-03-08', 'US/Pacific');
    const b = dayBounds('2026-03-08', 'America/Los_Angeles');
    expect({ ...a, zone: '' }).toEqual({ ...b, zone: '' });
    expect(a.zone).toBe('US/Pacific');
  });

  it('refuses an unknown zone and a bad day with typed errors', () => {
    expect(() => dayBounds('2026-03-08', 'Mars/Olympus')).toThrow(/unknown time zone/);
    expect(() => dayBounds('2026-02-30', 'UTC')).toThrow(/not a day/);
    expect(() => localDayOf(0, 'utc')).toThrow(expect.objectContaining({ code: 'INPUT_INVALID' }) as unknown as Error);
  });
});

describe('instants at local midnight', () => {
  it.each([
    ['America/Los_Angeles', '2026-11-27T08:00:00.000Z', '2026-11-27'],
    ['Europe/Berlin', '2026-11-26T23:00:00.000Z', '2026-11-27'],
    ['Asia/Kolkata', '2026-11-26T18:30:00.000Z', '2026-11-27'],
    ['Asia/Kathmandu', '2026-11-26T18:15:00.000Z', '2026-11-27'],
    ['Australia/Adelaide', '2026-11-26T13:30:00.000Z', '2026-11-27'],
    ['Pacific/Kiritimati', '2026-11-26T10:00:00.000Z', '2026-11-27'],
    ['Pacific/Pago_Pago', '2026-11-27T11:00:00.000Z', '2026-11-27'],
  ])('%s: exactly at midnight is the new day, 1 ms before is the old one', (zone, midnight, day) => {
    const ms = at(midnight);
    expect(localDayOf(ms, zone)).toBe(day);
    expect(localDayOf(ms - 1, zone)).toBe(addDays(day, -1));
    expect(hourIndex(ms, dayBounds(day, zone))).toBe(0);
    expect(hourIndex(ms - 1, dayBounds(addDays(day, -1), zone))).toBe(23);
  });
});

describe('hourIndex', () => {
  it.each([
    // zone, day, instant, index: elapsed hours, not wall-clock hours
    ['America/Los_Angeles', '2026-11-01', '2026-11-01T08:30:00Z', 1], // 01:30 PDT
    ['America/Los_Angeles', '2026-11-01', '2026-11-01T09:30:00Z', 2], // 01:30 PST, the second one
    ['America/Los_Angeles', '2026-11-01', '2026-11-02T07:59:59.999Z', 24], // 23:59:59.999 PST
    ['America/Los_Angeles', '2026-03-08', '2026-03-08T10:30:00Z', 2], // 03:30 PDT, 2.5 h in
    ['America/Los_Angeles', '2026-03-08', '2026-03-09T06:59:59.999Z', 22],
    ['Europe/Berlin', '2026-10-25', '2026-10-25T00:30:00Z', 2], // 02:30 CEST
    ['Europe/Berlin', '2026-10-25', '2026-10-25T01:30:00Z', 3], // 02:30 CET
    ['Europe/Berlin', '2026-03-29', '2026-03-29T01:30:00Z', 2], // 03:30 CEST
    ['Australia/Adelaide', '2026-04-05', '2026-04-04T16:15:00Z', 2], // 02:45 ACDT
    ['Australia/Adelaide', '2026-04-05', '2026-04-04T17:15:00Z', 3], // 02:45 ACST
    ['America/Havana', '2026-03-08', '2026-03-08T05:00:00Z', 0], // 01:00 CDT, the day's first instant
    ['Australia/Lord_Howe', '2026-10-04', '2026-10-04T12:59:59.999Z', 23], // the last, half-hour entry
    ['Asia/Kathmandu', '2026-11-27', '2026-11-26T19:14:59.999Z', 0],
    ['Asia/Kathmandu', '2026-11-27', '2026-11-26T19:15:00Z', 1],
  ])('%s %s %s → %i', (zone, day, instant, index) => {
    expect(hourIndex(at(instant), dayBounds(day, zone))).toBe(index);
  });

  it('refuses an instant outside the day', () => {
    const b = dayBounds('2026-11-27', 'Europe/Berlin');
    expect(() => hourIndex(b.endMs, b)).toThrow(RangeError);
    expect(() => hourIndex(b.startMs - 1, b)).toThrow(/outside 2026-11-27 in Europe\/Berlin \[2026-11-27T00:00:00\+01:00/);
  });
});

describe('UTC is today’s utcDay and utcHour', () => {
  it('on 10,000 random instants over the whole contract range and 10,000 in 2026', () => {
    const next = rng(13);
    const calendar = createZoneCalendar('UTC');
    const wrong: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      const ms = i % 2 === 0 ? Math.floor(next() * (MAX_TS_MS + 1)) : at('2026-01-01T00:00:00Z') + Math.floor(next() * 365 * 24 * H);
      const day = localDayOf(ms, 'UTC');
      if (day !== utcDay(ms) || calendar.dayOf(ms) !== day || hourIndex(ms, dayBounds(day, 'UTC')) !== utcHour(ms)) wrong.push(ms);
    }
    expect(wrong).toEqual([]);
    expect(localDayOf(0, 'UTC')).toBe('1970-01-01');
    expect(localDayOf(MAX_TS_MS, 'UTC')).toBe('9999-12-31');
  });

  it('through Intl too (Etc/GMT, a fixed zero offset), on 300 random instants', () => {
    const next = rng(14);
    for (let i = 0; i < 300; i++) {
      const ms = Math.floor(next() * (MAX_TS_MS + 1));
      expect(localDayOf(ms, 'Etc/GMT')).toBe(utcDay(ms));
      expect(offsetAt(ms, 'Etc/GMT')).toBe(0);
    }
  });
});

describe('against the independent computation of test/support/zoned-reference.ts', () => {
  const zones = [
    'America/Los_Angeles',
    'Europe/Berlin',
    'Asia/Kolkata',
    'Asia/Kathmandu',
    'Australia/Adelaide',
    'Pacific/Kiritimati',
    'Pacific/Pago_Pago',
    'America/Havana',
    'America/Santiago',
    'Asia/Beirut',
    'America/St_Johns',
  ];

  it('agrees on the day and its bounds of random instants in DST-change months of 2026', () => {
    const next = rng(7);
    const months = ['2026-03-01', '2026-04-01', '2026-09-01', '2026-10-01', '2026-11-01'];
    for (const zone of zones) {
      const calendar = createZoneCalendar(zone);
      for (let i = 0; i < 15; i++) {
        const month = months[i % months.length] ?? '2026-03-01';
        const ms = at(`${month}T00:00:00Z`) + Math.floor(next() * 31 * 24 * H);
        const day = referenceLocalDay(ms, zone);
        expect(calendar.dayOf(ms), `${zone} ${new Date(ms).toISOString()}`).toBe(day);
        const ours = dayBounds(day, zone);
        const theirs = referenceDay(day, zone);
        expect([ours.startMs, ours.endMs, ours.hours, ours.startIso, ours.endIso], `${zone} ${day}`).toEqual([
          theirs.start,
          theirs.end,
          theirs.hours,
          theirs.day_start,
          theirs.day_end,
        ]);
      }
    }
  });

  it('agrees on the European spring-forward day in every zone the platform knows', () => {
    const all = [...Intl.supportedValuesOf('timeZone'), 'UTC'];
    expect(all.length).toBeGreaterThan(400);
    const wrong: string[] = [];
    for (const zone of all) {
      const ours = dayBounds('2026-03-29', zone);
      const theirs = referenceDay('2026-03-29', zone);
      if (ours.startMs !== theirs.start || ours.endMs !== theirs.end || ours.startIso !== theirs.day_start || ours.endIso !== theirs.day_end) wrong.push(zone);
    }
    expect(wrong).toEqual([]);
  }, 30_000); // ~1.5 s on a quiet machine; the shared one can be several times slower
});

describe('the day before the first day any contract instant can have', () => {
  it('starts before ts 0 in every zone, so FIRST_DAY covers every event', () => {
    for (const zone of [...Intl.supportedValuesOf('timeZone'), 'UTC']) {
      expect(dayBounds(FIRST_DAY, zone).startMs, zone).toBeLessThanOrEqual(0);
      expect(localDayOf(0, zone) >= FIRST_DAY, zone).toBe(true);
    }
  });
});

describe('the cached calendar', () => {
  it('answers like a fresh calendar per instant, in any order, across many days', () => {
    const next = rng(21);
    const shared = createZoneCalendar('America/Santiago');
    const instants = Array.from({ length: 400 }, () => at('2026-03-20T00:00:00Z') + Math.floor(next() * 200 * 24 * H));
    const fresh = instants.map((ms) => createZoneCalendar('America/Santiago').dayOf(ms));
    // In order, reversed, and shuffled: the last-hit and neighbour guesses must never answer wrongly.
    const order = instants.map((ms, i) => [ms, i] as const);
    for (const list of [[...order].sort((a, b) => a[0] - b[0]), [...order].sort((a, b) => b[0] - a[0]), order]) {
      expect(list.filter(([ms, i]) => shared.dayOf(ms) !== fresh[i])).toEqual([]);
    }
  });

  it('walks every minute across a fall-back-at-midnight and a skip-midnight day without a wrong answer', () => {
    const calendar = createZoneCalendar('America/Santiago');
    for (const day of ['2026-04-04', '2026-09-06']) {
      const b = dayBounds(day, 'America/Santiago');
      const prev = dayBounds(addDays(day, -1), 'America/Santiago');
      const next = dayBounds(addDays(day, 1), 'America/Santiago');
      const wrong: number[] = [];
      for (let ms = prev.startMs; ms < next.endMs; ms += 60_000) {
        const expected = ms < b.startMs ? prev.day : ms < b.endMs ? day : next.day;
        if (calendar.dayOf(ms) !== expected) wrong.push(ms);
      }
      expect(wrong, day).toEqual([]);
    }
  });

  it('gives day 10000-01-01 to the last contract instants east of UTC (ingest must refuse them)', () => {
    expect(localDayOf(MAX_TS_MS, 'Pacific/Kiritimati')).toBe('10000-01-01');
    expect(localDayOf(MAX_TS_MS, 'Europe/Berlin')).toBe('10000-01-01');
    expect(localDayOf(MAX_TS_MS, 'America/Los_Angeles')).toBe('9999-12-31');
    expect(isDay('10000-01-01')).toBe(false);
  });
});

describe('zone names', () => {
  it.each([
    ['UTC', true],
    ['Etc/UTC', true],
    ['GMT', true],
    ['Europe/Berlin', true],
    ['America/Argentina/Buenos_Aires', true],
    ['America/Port-au-Prince', true],
    ['Asia/Kolkata', true], // tzdb's name; ICU's canonical id is Asia/Calcutta
    ['Asia/Calcutta', true],
    ['US/Pacific', true],
    ['Etc/GMT+5', true],
    ['EST5EDT', true],
    ['utc', false], // Intl accepts any case; the registry shows names as given, so only tzdb's spelling
    ['america/los_angeles', false],
    ['asia/kolkata', false],
    ['Europe/Berlin ', false],
    [' UTC', false],
    ['+05:30', false],
    ['Z', false],
    ['', false],
    ['Mars/Olympus_Mons', false],
    ['Europe/../UTC', false],
  ])('%j → %s', (name, valid) => {
    expect(isValidZone(name)).toBe(valid);
  });

  it('knows every zone the platform lists', () => {
    expect(Intl.supportedValuesOf('timeZone').filter((z) => !isValidZone(z))).toEqual([]);
  });

  it('finds the canonical id for comparing names, and a spelling hint for a case slip', () => {
    expect(canonicalZone('Asia/Kolkata')).toBe(canonicalZone('Asia/Calcutta'));
    expect(canonicalZone('US/Pacific')).toBe('America/Los_Angeles');
    expect(() => canonicalZone('utc')).toThrow(/unknown time zone "utc"/);
    expect(zoneSpellingHint('america/los_angeles')).toBe('America/Los_Angeles');
    expect(zoneSpellingHint('utc')).toBe('UTC');
    expect(zoneSpellingHint('America/Los_Angeles')).toBeUndefined();
    expect(zoneSpellingHint('Mars/Olympus_Mons')).toBeUndefined();
  });
});

describe('days and ISO strings', () => {
  it('parses and prints days', () => {
    expect(isDay('2026-02-28')).toBe(true);
    expect(isDay('2028-02-29')).toBe(true);
    expect(isDay('2026-02-29')).toBe(false);
    expect(isDay('2026-13-01')).toBe(false);
    expect(isDay('2026-1-01')).toBe(false);
    expect(isDay('0999-12-31')).toBe(false);
    expect(dayNumber('1970-01-01')).toBe(0);
    expect(dayString(-1)).toBe('1969-12-31');
    expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
    expect(addDays('2026-03-01', -1)).toBe('2026-02-28');
  });

  it('prints milliseconds only when there are some, and the offset of that instant', () => {
    expect(formatInstant(at('2026-03-08T10:30:00.5Z'), 'America/Los_Angeles')).toBe('2026-03-08T03:30:00.500-07:00');
    expect(formatInstant(at('2026-03-08T09:59:59.999Z'), 'America/Los_Angeles')).toBe('2026-03-08T01:59:59.999-08:00');
    expect(formatInstant(at('2026-11-27T12:00:00Z'), 'UTC')).toBe('2026-11-27T12:00:00+00:00');
    expect(formatInstant(at('2026-11-27T12:00:00Z'), 'Pacific/Pago_Pago')).toBe('2026-11-27T01:00:00-11:00');
    expect(formatInstant(at('1971-06-01T12:00:00Z'), 'Africa/Monrovia')).toBe('1971-06-01T11:15:30-00:44:30');
  });
});
