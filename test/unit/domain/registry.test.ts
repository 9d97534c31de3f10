import { describe, expect, it } from 'vitest';
import { checkIngest } from '../../../src/domain/event.js';
import {
  isMerchantId,
  parseMerchantsCsv,
  planImport,
  planZoneChange,
  splitCsvLine,
  withZoneFrom,
  type MerchantZoneState,
  type ZoneChangeRequest,
} from '../../../src/domain/registry.js';
import { FIRST_DAY, type ZoneHistory } from '../../../src/domain/zones.js';

const at = (iso: string): number => Date.parse(iso);

describe('merchants CSV: accepted files', () => {
  it.each([
    ['LF with a final newline', 'merchant_id,time_zone\nm1,America/Los_Angeles\nm2,UTC\n'],
    ['without a final newline', 'merchant_id,time_zone\nm1,America/Los_Angeles\nm2,UTC'],
    ['CRLF', 'merchant_id,time_zone\r\nm1,America/Los_Angeles\r\nm2,UTC\r\n'],
    ['a byte order mark', '\uFEFFmerchant_id,time_zone\nm1,America/Los_Angeles\nm2,UTC\n'],
    ['quoted fields and header', '"merchant_id","time_zone"\n"m1","America/Los_Angeles"\nm2,"UTC"\n'],
    ['the same merchant twice with the same zone', 'merchant_id,time_zone\nm1,America/Los_Angeles\nm2,UTC\nm1,America/Los_Angeles\n'],
  ])('%s', (_name, text) => {
    expect(parseMerchantsCsv(text)).toEqual({
      ok: true,
      entries: [
        { merchant_id: 'm1', time_zone: 'America/Los_Angeles', line: 2 },
        { merchant_id: 'm2', time_zone: 'UTC', line: 3 },
      ],
    });
  });

  it('accepts a header alone as an empty import, and keeps zone names as spelt', () => {
    expect(parseMerchantsCsv('merchant_id,time_zone\n')).toEqual({ ok: true, entries: [] });
    expect(parseMerchantsCsv('merchant_id,time_zone\nshop-9_X,Asia/Calcutta\nb,US/Pacific')).toEqual({
      ok: true,
      entries: [
        { merchant_id: 'shop-9_X', time_zone: 'Asia/Calcutta', line: 2 },
        { merchant_id: 'b', time_zone: 'US/Pacific', line: 3 },
      ],
    });
  });
});

describe('merchants CSV: refused files name the line', () => {
  it.each([
    ['an empty file', '', [{ line: 1, message: 'the header must be exactly merchant_id,time_zone, got an empty line' }]],
    ['a wrong header', 'merchant,zone\nm1,UTC\n', [{ line: 1, message: 'the header must be exactly merchant_id,time_zone, got "merchant,zone"' }]],
    ['a header with a third column', 'merchant_id,time_zone,x\nm1,UTC,1\n', [{ line: 1, message: 'the header must be exactly merchant_id,time_zone, got "merchant_id,time_zone,x"' }]],
    ['a header in other case', 'Merchant_ID,Time_Zone\n', [{ line: 1, message: 'the header must be exactly merchant_id,time_zone, got "Merchant_ID,Time_Zone"' }]],
    ['an unknown zone', 'merchant_id,time_zone\nm1,UTC\nm2,America/New_Yrok\n', [{ line: 3, message: 'unknown time zone "America/New_Yrok" (an IANA name such as Europe/Berlin, or UTC)' }]],
    ['a zone in the wrong case', 'merchant_id,time_zone\nm1,europe/berlin\n', [{ line: 2, message: 'unknown time zone "europe/berlin"; did you mean Europe/Berlin?' }]],
    ['a padded zone', 'merchant_id,time_zone\nm1, Europe/Berlin\n', [{ line: 2, message: 'unknown time zone " Europe/Berlin" (an IANA name such as Europe/Berlin, or UTC)' }]],
    ['an offset instead of a zone', 'merchant_id,time_zone\nm1,+05:30\n', [{ line: 2, message: 'unknown time zone "+05:30" (an IANA name such as Europe/Berlin, or UTC)' }]],
    ['a bad merchant id', 'merchant_id,time_zone\nm 1,UTC\n', [{ line: 2, message: 'bad merchant id "m 1": 1–64 characters of A–Z a–z 0–9 _ -' }]],
    ['an empty merchant id', 'merchant_id,time_zone\n,UTC\n', [{ line: 2, message: 'bad merchant id "": 1–64 characters of A–Z a–z 0–9 _ -' }]],
    ['a merchant id of 65 characters', `merchant_id,time_zone\n${'a'.repeat(65)},UTC\n`, [{ line: 2, message: `bad merchant id "${'a'.repeat(65)}": 1–64 characters of A–Z a–z 0–9 _ -` }]],
    ['too many columns', 'merchant_id,time_zone\nm1,UTC,extra\n', [{ line: 2, message: 'expected 2 fields (merchant_id,time_zone), got 3' }]],
    ['a trailing comma', 'merchant_id,time_zone\nm1,UTC,\n', [{ line: 2, message: 'expected 2 fields (merchant_id,time_zone), got 3' }]],
    ['too few columns', 'merchant_id,time_zone\nm1\n', [{ line: 2, message: 'expected 2 fields (merchant_id,time_zone), got 1' }]],
    ['an empty line inside', 'merchant_id,time_zone\nm1,UTC\n\nm2,UTC\n', [{ line: 3, message: 'empty line' }]],
    ['two final newlines', 'merchant_id,time_zone\nm1,UTC\n\n', [{ line: 3, message: 'empty line' }]],
    ['an unterminated quote', 'merchant_id,time_zone\n"m1,UTC\n', [{ line: 2, message: 'unterminated quoted field starting at column 1' }]],
    ['a quote inside an unquoted field', 'merchant_id,time_zone\nm"1,UTC\n', [{ line: 2, message: 'a quote inside an unquoted field at column 2' }]],
    ['text after a closing quote', 'merchant_id,time_zone\n"m1"x,UTC\n', [{ line: 2, message: 'characters after the closing quote at column 5' }]],
    [
      'one merchant with two zones',
      'merchant_id,time_zone\nm1,Europe/Berlin\nm2,UTC\nm1,Europe/Paris\n',
      [{ line: 4, message: 'merchant m1 listed twice with different zones: Europe/Berlin on line 2, Europe/Paris here' }],
    ],
    [
      'one merchant with two names of one zone',
      'merchant_id,time_zone\nm1,Asia/Kolkata\nm1,Asia/Calcutta\n',
      [{ line: 3, message: 'merchant m1 listed twice with different zones: Asia/Kolkata on line 2, Asia/Calcutta here' }],
    ],
  ])('%s', (_name, text, errors) => {
    expect(parseMerchantsCsv(text)).toEqual({ ok: false, errors });
  });

  it('reports every bad line at once, and no entries when any line is bad', () => {
    const result = parseMerchantsCsv('merchant_id,time_zone\r\nok,UTC\r\nbad id,Mars/Base\r\nx,UTC,1\r\n');
    expect(result).toEqual({
      ok: false,
      errors: [
        { line: 3, message: 'bad merchant id "bad id": 1–64 characters of A–Z a–z 0–9 _ -' },
        { line: 3, message: 'unknown time zone "Mars/Base" (an IANA name such as Europe/Berlin, or UTC)' },
        { line: 4, message: 'expected 2 fields (merchant_id,time_zone), got 3' },
      ],
    });
  });
});

describe('splitCsvLine', () => {
  it.each([
    ['a,b', ['a', 'b']],
    ['"a,b",c', ['a,b', 'c']],
    ['"say ""hi""",x', ['say "hi"', 'x']],
    ['"",', ['', '']],
    [',', ['', '']],
    ['a', ['a']],
    ['', ['']],
  ])('%j', (line, fields) => {
    expect(splitCsvLine(line)).toEqual({ ok: true, fields });
  });
});

describe('merchant ids', () => {
  it.each(['m1', 'big-Store_9', 'A'.repeat(64), 'a'.repeat(65), '', 'm 1', 'm/1', 'm\u00e91', 'm\u00001', '-', '_'])('%j matches the ingest rule', (id) => {
    const ingest = checkIngest(JSON.stringify({ merchant_id: id, visitor_id: 'v', event_id: 'e', ts: 0 }));
    expect(isMerchantId(id)).toBe(ingest.kind === 'ok');
  });
});

describe('planZoneChange', () => {
  const now = at('2026-04-08T18:00:00Z'); // 11:00 on the 8th in LA, 20:00 in Berlin
  const la: ZoneHistory = [{ zone: 'America/Los_Angeles', fromDay: FIRST_DAY }];
  const req = (over: Partial<ZoneChangeRequest>): ZoneChangeRequest => ({ merchant_id: 'm1', zone: 'Europe/Berlin', history: la, stored: null, nowMs: now, ...over });

  it('gives a merchant with nothing stored its zone from the start, UTC included', () => {
    expect(planZoneChange(req({ history: [], zone: 'America/Los_Angeles' }))).toMatchObject({ kind: 'changed', history: la });
    expect(planZoneChange(req({ history: [], zone: 'UTC' }))).toMatchObject({ kind: 'changed', history: [{ zone: 'UTC', fromDay: FIRST_DAY }] });
    expect(planZoneChange(req({}))).toMatchObject({ kind: 'changed', history: [{ zone: 'Europe/Berlin', fromDay: FIRST_DAY }] });
  });

  it('changes nothing when the zone in force is asked for again, stored days or not', () => {
    expect(planZoneChange(req({ zone: 'America/Los_Angeles' }))).toEqual({ kind: 'unchanged', history: la });
    expect(planZoneChange(req({ zone: 'America/Los_Angeles', stored: { maxDay: '2026-04-08' } }))).toEqual({ kind: 'unchanged', history: la });
    // Another name of the same zone is a change: the name is what people see.
    expect(planZoneChange(req({ zone: 'US/Pacific', stored: { maxDay: '2026-04-07' } }))).toMatchObject({ kind: 'changed', entry: { zone: 'US/Pacific', fromDay: '2026-04-09' } });
  });

  it('defaults to the merchant’s next local day and reports how the day before changes', () => {
    const change = planZoneChange(req({ stored: { maxDay: '2026-04-07' } }));
    expect(change).toMatchObject({ kind: 'changed', entry: { zone: 'Europe/Berlin', fromDay: '2026-04-09' }, history: [...la, { zone: 'Europe/Berlin', fromDay: '2026-04-09' }] });
    if (change.kind !== 'changed') return;
    expect([change.lastDayBefore.before.hours, change.lastDayBefore.after.hours]).toEqual([24, 15]);
    expect(change.lastDayBefore.after.endIso).toBe('2026-04-08T15:00:00-07:00');
  });

  it('refuses a day already stored, and names the earliest possible day', () => {
    const change = planZoneChange(req({ fromDay: '2026-04-07', stored: { maxDay: '2026-04-07' }, zone: 'Asia/Tokyo' }));
    expect(change).toEqual({
      kind: 'refused',
      reason: 'moves_stored_days',
      message: 'merchant m1: cannot switch to Asia/Tokyo from 2026-04-07: events are stored up to 2026-04-07, and days already ingested keep their zone; the earliest day it can take effect is 2026-04-09',
      earliestFromDay: '2026-04-09',
    });
  });

  it('moving east from the day after the last stored one: refused unless the stored events are known to end early enough', () => {
    // Berlin's 9th starts at 2026-04-08T22:00Z, LA's 8th ends at 2026-04-09T07:00Z.
    const stored = { maxDay: '2026-04-08' };
    expect(planZoneChange(req({ stored }))).toEqual({
      kind: 'refused',
      reason: 'moves_stored_days',
      message:
        "merchant m1: cannot switch to Europe/Berlin from 2026-04-09: Europe/Berlin's 2026-04-09 starts before 2026-04-08 ends in America/Los_Angeles, so stored events would move into 2026-04-09; the earliest day it can take effect is 2026-04-10",
      earliestFromDay: '2026-04-10',
    });
    expect(planZoneChange(req({ stored: { ...stored, maxTs: at('2026-04-08T21:59:59.999Z') } }))).toMatchObject({ kind: 'changed', entry: { fromDay: '2026-04-09' } });
    expect(planZoneChange(req({ stored: { ...stored, maxTs: at('2026-04-08T22:00:00Z') } }))).toMatchObject({ kind: 'refused', earliestFromDay: '2026-04-10' });
    expect(planZoneChange(req({ stored, fromDay: '2026-04-10' }))).toMatchObject({ kind: 'changed', entry: { fromDay: '2026-04-10' } });
  });

  it('moving west from the day after the last stored one is always allowed', () => {
    const berlin = [{ zone: 'Europe/Berlin', fromDay: FIRST_DAY }];
    expect(planZoneChange(req({ history: berlin, zone: 'America/Los_Angeles', stored: { maxDay: '2026-04-08' } }))).toMatchObject({
      kind: 'changed',
      entry: { zone: 'America/Los_Angeles', fromDay: '2026-04-09' },
      lastDayBefore: { before: { hours: 24 }, after: { hours: 33 } },
    });
  });

  it('across the date line eastwards needs three days after the last stored one', () => {
    const pago = [{ zone: 'Pacific/Pago_Pago', fromDay: FIRST_DAY }];
    expect(planZoneChange(req({ history: pago, zone: 'Pacific/Kiritimati', stored: { maxDay: '2026-05-08' }, fromDay: '2026-05-09' }))).toMatchObject({
      kind: 'refused',
      earliestFromDay: '2026-05-11',
    });
  });

  it('refuses an unknown zone and a bad from-day', () => {
    expect(planZoneChange(req({ zone: 'europe/berlin' }))).toEqual({ kind: 'refused', reason: 'unknown_zone', message: 'merchant m1: unknown time zone "europe/berlin"; did you mean Europe/Berlin?' });
    expect(planZoneChange(req({ fromDay: '2026-02-30' }))).toMatchObject({ kind: 'refused', reason: 'bad_from_day' });
    expect(planZoneChange(req({ fromDay: '1969-12-30' }))).toMatchObject({ kind: 'refused', reason: 'bad_from_day' });
  });

  it('replaces changes scheduled on or after the from-day', () => {
    const scheduled = [...la, { zone: 'Europe/Berlin', fromDay: '2026-06-01' }];
    expect(planZoneChange(req({ history: scheduled, zone: 'America/Los_Angeles', stored: { maxDay: '2026-04-07' } }))).toMatchObject({ kind: 'changed', history: la });
    expect(planZoneChange(req({ history: scheduled, zone: 'Asia/Tokyo', fromDay: '2026-05-01' }))).toMatchObject({
      kind: 'changed',
      history: [...la, { zone: 'Asia/Tokyo', fromDay: '2026-05-01' }],
    });
    expect(withZoneFrom(scheduled, 'Europe/Berlin', '2026-06-01')).toEqual(scheduled);
  });
});

describe('planImport', () => {
  const now = at('2026-04-08T18:00:00Z');
  const file = parseMerchantsCsv('merchant_id,time_zone\nnew,Asia/Kathmandu\nsame,America/Los_Angeles\nmoved,America/Chicago\n');
  const entries = file.ok ? file.entries : [];
  const states = new Map<string, MerchantZoneState>([
    ['new', { history: [], stored: null }],
    ['same', { history: [{ zone: 'America/Los_Angeles', fromDay: FIRST_DAY }], stored: { maxDay: '2026-04-08' } }],
    ['moved', { history: [{ zone: 'America/Los_Angeles', fromDay: FIRST_DAY }], stored: { maxDay: '2026-04-07' } }],
  ]);
  const stateOf = (m: string): MerchantZoneState => states.get(m) ?? { history: [], stored: null };

  it('plans every line, and re-importing the applied result changes nothing', () => {
    const plan = planImport(entries, stateOf, now);
    expect(plan).toMatchObject({
      ok: true,
      changes: [
        { merchant_id: 'new', line: 2, change: { kind: 'changed', history: [{ zone: 'Asia/Kathmandu', fromDay: FIRST_DAY }] } },
        { merchant_id: 'same', line: 3, change: { kind: 'unchanged' } },
        { merchant_id: 'moved', line: 4, change: { kind: 'changed', entry: { zone: 'America/Chicago', fromDay: '2026-04-09' } } },
      ],
    });
    if (!plan.ok) return;
    const applied = new Map(plan.changes.map((c) => [c.merchant_id, { ...stateOf(c.merchant_id), history: c.change.history }]));
    const again = planImport(entries, (m) => applied.get(m) ?? stateOf(m), now);
    expect(again.ok && again.changes.map((c) => c.change.kind)).toEqual(['unchanged', 'unchanged', 'unchanged']);
  });

  it('refuses the whole file when one change would move stored days, naming its line', () => {
    const eastern = parseMerchantsCsv('merchant_id,time_zone\nnew,Asia/Kathmandu\nsame,Europe/Berlin\n');
    const plan = planImport(eastern.ok ? eastern.entries : [], stateOf, now);
    expect(plan).toEqual({
      ok: false,
      errors: [
        {
          line: 3,
          message:
            "merchant same: cannot switch to Europe/Berlin from 2026-04-09: Europe/Berlin's 2026-04-09 starts before 2026-04-08 ends in America/Los_Angeles, so stored events would move into 2026-04-09; the earliest day it can take effect is 2026-04-10",
        },
      ],
    });
  });
});
