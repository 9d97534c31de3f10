import { parseCsv } from '../support/csv.js';
import { describe, expect, it } from 'vitest';
import { csvField, daysBetween, productsCsv, rejectsCsv, reportCsv, toCsv, REPORT_COLUMNS } from '../../src/export.js';
import type { DailySummary } from '../../src/domain/types.js';


describe('csvField', () => {
  it.each([
    ['plain', 'plain'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['cr\rhere', '"cr\rhere"'],
    ['', ''],
  ])('quotes %j only when RFC 4180 needs it', (v, want) => expect(csvField(v)).toBe(want));

  it.each(['=HYPERLINK("http://x")', '+1+2', '-2+3', '@SUM(A1)', '\tx'])('guards text %j that a spreadsheet would run', (v) => {
    const f = csvField(v);
    expect(parseCsv(f + '\r\n')[0]![0]).toBe(`'${v}`);
  });

  it('leaves numbers as numbers (a negative one too), null as empty', () => {
    expect(csvField(-5)).toBe('-5');
    expect(csvField(0.125)).toBe('0.125');
    expect(csvField(null)).toBe('');
    expect(csvField(undefined)).toBe('');
    expect(csvField(Number.NaN)).toBe('');
  });
});

describe('toCsv', () => {
  it('writes a header, CRLF ends, and round-trips hostile text', () => {
    const hostile = 'm<script>alert("x")</script>,\r\n"q"';
    const text = toCsv(['a', 'b'], [[hostile, 1], ['x', null]]);
    expect(text.endsWith('\r\n')).toBe(true);
    expect(parseCsv(text)).toEqual([['a', 'b'], [hostile, '1'], ['x', '']]);
  });
});

const summary = (merchant: string): DailySummary => ({
  merchant_id: merchant, day: '2026-11-27', time_zone: 'UTC', day_start: '2026-11-27T00:00:00Z', day_end: '2026-11-28T00:00:00Z',
  events: 10, visitors: 3, sessions: 4, bounced_sessions: 1, session_duration_ms_total: 1000, page_views: 5, product_views: 2,
  add_to_carts: 1, remove_from_carts: 0, purchases: 1, orders: 1, revenue_cents: 1999, units_sold: 2, converting_sessions: 1,
  cart_abandoned_sessions: 0, hourly_events: [1, 2, 7], hourly_revenue_cents: [0, 1999, 0], invalid_events: 1, conversion_rate: 0.25,
  avg_order_value_cents: 1999, top_products: [],
});

describe('reportCsv', () => {
  it('one row per merchant-day with every scalar column; hourly arrays ;-joined', () => {
    const rows = parseCsv(reportCsv([{ summary: summary('m1'), epoch: 2, computed_at: '2026-11-28T01:00:00.000Z' }, { summary: summary('=evil'), epoch: 1, computed_at: null }]));
    expect(rows[0]).toEqual([...REPORT_COLUMNS]);
    const rec = Object.fromEntries(REPORT_COLUMNS.map((c, i) => [c, rows[1]![i]]));
    expect(rec).toMatchObject({ day: '2026-11-27', merchant_id: 'm1', epoch: '2', revenue_cents: '1999', conversion_rate: '0.25', hourly_events: '1;2;7', computed_at: '2026-11-28T01:00:00.000Z' });
    expect(rows[2]![1]).toBe("'=evil");
    expect(rows[2]![REPORT_COLUMNS.indexOf('computed_at')]).toBe('');
    expect(rows).toHaveLength(3);
  });
});

describe('productsCsv and rejectsCsv', () => {
  it('writes the product rows', () => {
    expect(parseCsv(productsCsv([{ day: '2026-11-27', merchant_id: 'm', epoch: 1, product_id: 'p,1', views: 3, add_to_carts: 1, units_sold: 2, revenue_cents: 500 }]))).toEqual([
      ['day', 'merchant_id', 'epoch', 'product_id', 'views', 'add_to_carts', 'units_sold', 'revenue_cents'],
      ['2026-11-27', 'm', '1', 'p,1', '3', '1', '2', '500'],
    ]);
  });
  it('writes refusals and invalid events with the raw line kept whole', () => {
    const raw = '{"merchant_id":"m","note":"a\nb"}';
    const rows = parseCsv(rejectsCsv([{ kind: 'invalid', day: '2026-11-27', merchant_id: 'm', visitor_id: 'v', event_id: 'e', reason: 'bad_ts', detail: 'x', raw }, { kind: 'refused', day: '2026-11-27', merchant_id: null, source: 'f.ndjson', line_no: 7, reason: 'not_json', detail: '-1', raw: '-oops' }]));
    expect(rows[1]).toEqual(['invalid', '2026-11-27', 'm', 'v', 'e', '', '', 'bad_ts', 'x', raw]);
    expect(rows[2]).toEqual(['refused', '2026-11-27', '', '', '', 'f.ndjson', '7', 'not_json', "'-1", "'-oops"]);
  });
});

describe('daysBetween', () => {
  it('is inclusive and crosses months', () => {
    expect(daysBetween('2026-11-29', '2026-12-02')).toEqual(['2026-11-29', '2026-11-30', '2026-12-01', '2026-12-02']);
    expect(daysBetween('2026-11-29', '2026-11-29')).toEqual(['2026-11-29']);
  });
});
