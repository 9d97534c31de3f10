import { describe, expect, it } from 'vitest';
import {
  checkIngest,
  codePointLength,
  compareCodePoints,
  MAX_LINE_BYTES,
  pickOccurrence,
  validateStored,
  type InvalidReason,
  type RefuseReason,
} from '../../../src/domain/event.js';

const EMOJI = '🙂'; // one code point, two UTF-16 units
const chars = (n: number, c = 'a'): string => c.repeat(n);

const BASE = { event_id: 'e1', merchant_id: 'm000', visitor_id: 'v1', ts: 1_795_737_600_005, type: 'page_view' };
const line = (over: Record<string, unknown>, drop: string[] = []): string => {
  const o: Record<string, unknown> = { ...BASE, ...over };
  for (const k of drop) delete o[k];
  return JSON.stringify(o);
};

describe('codePointLength / compareCodePoints', () => {
  it('counts code points', () => {
    expect(codePointLength('')).toBe(0);
    expect(codePointLength(EMOJI)).toBe(1);
    expect(codePointLength(`a${EMOJI}é訪`)).toBe(4);
    expect(codePointLength('\ud83d')).toBe(1);
  });
  it('orders by code point, not UTF-16 unit', () => {
    expect(compareCodePoints(EMOJI, '\uffff')).toBe(1);
    expect(compareCodePoints('\uffff', EMOJI)).toBe(-1);
    expect(compareCodePoints('a', 'b')).toBe(-1);
    expect(compareCodePoints('ab', 'a')).toBe(1);
    expect(compareCodePoints('e10', 'e9')).toBe(-1);
    expect(compareCodePoints('Z', 'a')).toBe(-1);
    expect(compareCodePoints(`x${EMOJI}`, `x${EMOJI}`)).toBe(0);
  });
});

describe('checkIngest', () => {
  it.each([[''], ['   '], ['\t'], ['\r'], [' \t \r ']])('skips blank line %j', (l) => {
    expect(checkIngest(l)).toEqual({ kind: 'blank' });
  });

  it('accepts a good line and derives the identity', () => {
    const r = checkIngest(line({ ts: '2026-11-27T23:30:00-01:00' }));
    expect(r.kind).toBe('ok');
    if (r.kind !== 'ok') return;
    expect(r.identity).toEqual({ merchant_id: 'm000', day: '2026-11-28', visitor_id: 'v1', event_id: 'e1', ts: Date.UTC(2026, 10, 28, 0, 30) });
    expect(r.raw['type']).toBe('page_view');
  });

  const cases: Array<[string, string, RefuseReason | 'ok']> = [
    ['not JSON', '{not json', 'invalid_json'],
    ['NaN', '{"event_id":"e","merchant_id":"m","visitor_id":"v","ts":NaN}', 'invalid_json'],
    ['Infinity', '{"event_id":"e","merchant_id":"m","visitor_id":"v","ts":Infinity}', 'invalid_json'],
    ['trailing garbage', `${line({})}x`, 'invalid_json'],
    ['two objects', `${line({})}${line({})}`, 'invalid_json'],
    ['non-JSON whitespace only', '\u00a0', 'invalid_json'],
    ['array', '[1,2,3]', 'not_object'],
    ['string', '"a string"', 'not_object'],
    ['number', '42', 'not_object'],
    ['null', 'null', 'not_object'],
    ['1e400 ts', line({}).replace('1795737600005', '1e400'), 'bad_ts'],
    ['merchant missing', line({}, ['merchant_id']), 'bad_merchant_id'],
    ['merchant null', line({ merchant_id: null }), 'bad_merchant_id'],
    ['merchant empty', line({ merchant_id: '' }), 'bad_merchant_id'],
    ['merchant 64', line({ merchant_id: chars(64, 'M') }), 'ok'],
    ['merchant 65', line({ merchant_id: chars(65, 'M') }), 'bad_merchant_id'],
    ['merchant all allowed', line({ merchant_id: 'aZ09_-' }), 'ok'],
    ['merchant space', line({ merchant_id: 'acme shop' }), 'bad_merchant_id'],
    ['merchant dot', line({ merchant_id: 'a.b' }), 'bad_merchant_id'],
    ['merchant non-ASCII', line({ merchant_id: 'é' }), 'bad_merchant_id'],
    ['merchant trailing newline', line({ merchant_id: 'm\n' }), 'bad_merchant_id'],
    ['merchant number', line({ merchant_id: 7 }), 'bad_merchant_id'],
    ['visitor missing', line({}, ['visitor_id']), 'bad_visitor_id'],
    ['visitor empty', line({ visitor_id: '' }), 'bad_visitor_id'],
    ['visitor 1', line({ visitor_id: EMOJI }), 'ok'],
    ['visitor 128 emoji', line({ visitor_id: chars(128, EMOJI) }), 'ok'],
    ['visitor 129 emoji', line({ visitor_id: chars(129, EMOJI) }), 'bad_visitor_id'],
    ['visitor 128 ascii', line({ visitor_id: chars(128) }), 'ok'],
    ['visitor 129 ascii', line({ visitor_id: chars(129) }), 'bad_visitor_id'],
    ['visitor separators', line({ visitor_id: 'v|1#/ x' }), 'ok'],
    ['visitor number', line({ visitor_id: 1 }), 'bad_visitor_id'],
    ['event missing', line({}, ['event_id']), 'bad_event_id'],
    ['event null', line({ event_id: null }), 'bad_event_id'],
    ['event empty', line({ event_id: '' }), 'bad_event_id'],
    ['event 1', line({ event_id: 'e' }), 'ok'],
    ['event 128 emoji', line({ event_id: chars(128, EMOJI) }), 'ok'],
    ['event 129 emoji', line({ event_id: chars(129, EMOJI) }), 'bad_event_id'],
    ['event 129 é', line({ event_id: chars(129, 'é') }), 'bad_event_id'],
    ['event number', line({ event_id: 12 }), 'bad_event_id'],
    ['event boolean', line({ event_id: true }), 'bad_event_id'],
    ['ts missing', line({}, ['ts']), 'bad_ts'],
    ['ts null', line({ ts: null }), 'bad_ts'],
    ['ts 0', line({ ts: 0 }), 'ok'],
    ['ts -1', line({ ts: -1 }), 'bad_ts'],
    ['ts max', line({ ts: 253_402_300_799_999 }), 'ok'],
    ['ts max+1', line({ ts: 253_402_300_800_000 }), 'bad_ts'],
    ['ts fraction', line({ ts: 1.5 }), 'bad_ts'],
    ['ts numeric string', line({ ts: '1795737600005' }), 'bad_ts'],
    ['ts boolean', line({ ts: true }), 'bad_ts'],
    ['ts no offset', line({ ts: '2026-11-27T10:00:00' }), 'bad_ts'],
    ['ts 25:00', line({ ts: '2026-11-27T25:00:00Z' }), 'bad_ts'],
    ['ts 2027-02-29', line({ ts: '2027-02-29T12:00:00Z' }), 'bad_ts'],
    ['ts 2028-02-29', line({ ts: '2028-02-29T12:00:00Z' }), 'ok'],
    ['bad type is not an ingest rule', line({ type: 'click' }), 'ok'],
    ['missing type is not an ingest rule', line({}, ['type']), 'ok'],
  ];
  it.each(cases)('%s', (_name, l, want) => {
    const r = checkIngest(l);
    if (want === 'ok') expect(r.kind).toBe('ok');
    else expect(r).toMatchObject({ kind: 'refused', reason: want });
  });

  it('checks merchant, visitor, event, ts in that order', () => {
    expect(checkIngest(line({ merchant_id: '', visitor_id: '', event_id: '', ts: -1 }))).toMatchObject({ reason: 'bad_merchant_id' });
    expect(checkIngest(line({ visitor_id: '', event_id: '', ts: -1 }))).toMatchObject({ reason: 'bad_visitor_id' });
    expect(checkIngest(line({ event_id: '', ts: -1 }))).toMatchObject({ reason: 'bad_event_id' });
  });

  it('lets the last of duplicate keys win', () => {
    const r = checkIngest('{"event_id":"e","merchant_id":"bad shop","merchant_id":"m","visitor_id":"v","ts":0}');
    expect(r).toMatchObject({ kind: 'ok', identity: { merchant_id: 'm' } });
  });

  it('keeps "__proto__" as data, not a prototype', () => {
    const r = checkIngest('{"__proto__":{"merchant_id":"x"},"event_id":"e","visitor_id":"v","ts":0}');
    expect(r).toMatchObject({ kind: 'refused', reason: 'bad_merchant_id' });
  });

  describe('line length, in UTF-8 bytes', () => {
    // Pads a valid event with an ignored field until the line is exactly `bytes` long.
    const sized = (bytes: number, pad: string): string => {
      const head = line({ pad: '' });
      const padBytes = Buffer.byteLength(pad, 'utf8');
      const room = bytes - Buffer.byteLength(head, 'utf8');
      const s = head.replace('"pad":""', `"pad":"${pad.repeat(Math.floor(room / padBytes))}${'a'.repeat(room % padBytes)}"`);
      expect(Buffer.byteLength(s, 'utf8')).toBe(bytes);
      return s;
    };
    it.each([
      ['ascii', 'a'],
      ['2-byte', 'é'],
      ['3-byte', '訪'],
      ['4-byte', EMOJI],
    ])('accepts exactly 1 MiB and refuses 1 MiB + 1 (%s)', (_n, pad) => {
      expect(checkIngest(sized(MAX_LINE_BYTES, pad)).kind).toBe('ok');
      expect(checkIngest(sized(MAX_LINE_BYTES + 1, pad))).toMatchObject({ kind: 'refused', reason: 'too_long' });
    });
    it('refuses a too-long line even when it is not JSON or blank', () => {
      expect(checkIngest(' '.repeat(MAX_LINE_BYTES + 1))).toMatchObject({ kind: 'refused', reason: 'too_long' });
      expect(checkIngest('x'.repeat(MAX_LINE_BYTES + 1))).toMatchObject({ kind: 'refused', reason: 'too_long' });
    });
  });
});

describe('pickOccurrence', () => {
  it('keeps the earliest ts', () => {
    expect(pickOccurrence([{ ts: 5, raw: 'a' }, { ts: 3, raw: 'z' }, { ts: 4, raw: 'b' }])).toEqual({ ts: 3, raw: 'z' });
  });
  it('breaks ts ties by the smallest raw line, whatever the arrival order', () => {
    const occ = [
      { ts: 3, raw: `{"x":"\uffff"}` },
      { ts: 3, raw: `{"x":"${EMOJI}"}` },
      { ts: 3, raw: '{"x":"b"}' },
    ];
    for (const order of [occ, [...occ].reverse(), [occ[1]!, occ[0]!, occ[2]!]]) {
      expect(pickOccurrence(order).raw).toBe('{"x":"b"}');
    }
    // U+FFFF sorts before U+1F642 in UTF-8 byte order even though its UTF-16 unit is larger.
    expect(pickOccurrence([occ[1]!, occ[0]!]).raw).toBe(occ[0]!.raw);
  });
  it('keeps the extra properties of the picked element', () => {
    expect(pickOccurrence([{ ts: 1, raw: 'a', id: 7 }])).toEqual({ ts: 1, raw: 'a', id: 7 });
  });
  it('refuses an empty list', () => {
    expect(() => pickOccurrence([])).toThrow(RangeError);
  });
});

describe('validateStored', () => {
  const raw = (over: Record<string, unknown>, drop: string[] = []): Record<string, unknown> => {
    const o: Record<string, unknown> = { ...BASE, ...over };
    for (const k of drop) delete o[k];
    return o;
  };
  const pv = (over: Record<string, unknown>): Record<string, unknown> => raw({ type: 'product_view', product_id: 'p', ...over });
  const cart = (over: Record<string, unknown>): Record<string, unknown> => raw({ type: 'add_to_cart', product_id: 'p', ...over });
  const buy = (over: Record<string, unknown>): Record<string, unknown> =>
    raw({ type: 'purchase', order_id: 'o', order_total_cents: 100, ...over });
  const item = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ product_id: 'p', quantity: 1, price_cents: 5, ...over });

  const cases: Array<[string, Record<string, unknown>, InvalidReason | 'ok']> = [
    ['page_view', raw({}), 'ok'],
    ['all five types', raw({ type: 'remove_from_cart', product_id: 'p' }), 'ok'],
    ['type missing', raw({}, ['type']), 'missing_type'],
    ['type null', raw({ type: null }), 'missing_type'],
    ['type unknown', raw({ type: 'click' }), 'bad_type'],
    ['type wrong case', raw({ type: 'Page_View' }), 'bad_type'],
    ['type array', raw({ type: ['page_view'] }), 'bad_type'],
    ['identity re-checked', raw({ ts: -1 }), 'bad_identity'],
    ['unknown fields ignored', raw({ url: 5, extra: { nested: [1, { deep: true }] } }), 'ok'],
    // product_id
    ['product_view without product_id', pv({ product_id: undefined }), 'missing_product_id'],
    ['product_view product_id null', pv({ product_id: null }), 'missing_product_id'],
    ['add_to_cart without product_id', cart({ product_id: null }), 'missing_product_id'],
    ['remove_from_cart without product_id', raw({ type: 'remove_from_cart' }), 'missing_product_id'],
    ['product_id empty', pv({ product_id: '' }), 'bad_product_id'],
    ['product_id 1', pv({ product_id: EMOJI }), 'ok'],
    ['product_id 128 emoji', pv({ product_id: chars(128, EMOJI) }), 'ok'],
    ['product_id 129 emoji', pv({ product_id: chars(129, EMOJI) }), 'bad_product_id'],
    ['product_id 128 é', pv({ product_id: chars(128, 'é') }), 'ok'],
    ['product_id 129 é', pv({ product_id: chars(129, 'é') }), 'bad_product_id'],
    ['product_id number', pv({ product_id: 5 }), 'bad_product_id'],
    ['product_id on page_view is checked', raw({ product_id: '' }), 'bad_product_id'],
    ['product_id on page_view is allowed', raw({ product_id: 'p' }), 'ok'],
    // quantity
    ['quantity absent', cart({}), 'ok'],
    ['quantity null', cart({ quantity: null }), 'ok'],
    ['quantity 0', cart({ quantity: 0 }), 'bad_quantity'],
    ['quantity 1', cart({ quantity: 1 }), 'ok'],
    ['quantity 10000', cart({ quantity: 10_000 }), 'ok'],
    ['quantity 10001', cart({ quantity: 10_001 }), 'bad_quantity'],
    ['quantity 3.0', cart({ quantity: 3.0 }), 'ok'],
    ['quantity 3.5', cart({ quantity: 3.5 }), 'bad_quantity'],
    ['quantity 0.5', raw({ type: 'remove_from_cart', product_id: 'p', quantity: 0.5 }), 'bad_quantity'],
    ['quantity -1', cart({ quantity: -1 }), 'bad_quantity'],
    ['quantity string', cart({ quantity: '3' }), 'bad_quantity'],
    ['quantity boolean', cart({ quantity: true }), 'bad_quantity'],
    ['quantity Infinity (1e400)', cart({ quantity: Number.POSITIVE_INFINITY }), 'bad_quantity'],
    ['quantity null on page_view', raw({ quantity: null, price_cents: null }), 'ok'],
    ['valid quantity on page_view', raw({ quantity: 2 }), 'ok'],
    ['bad quantity on page_view', raw({ quantity: 0 }), 'bad_quantity'],
    // price_cents
    ['price 0', pv({ price_cents: 0 }), 'ok'],
    ['price -1', pv({ price_cents: -1 }), 'bad_price_cents'],
    ['price 10^9', pv({ price_cents: 1_000_000_000 }), 'ok'],
    ['price 10^9+1', pv({ price_cents: 1_000_000_001 }), 'bad_price_cents'],
    ['price 100.0', pv({ price_cents: 100.0 }), 'ok'],
    ['price 100.5', pv({ price_cents: 100.5 }), 'bad_price_cents'],
    ['price string', pv({ price_cents: '100' }), 'bad_price_cents'],
    ['price boolean', pv({ price_cents: false }), 'bad_price_cents'],
    ['price on page_view', raw({ price_cents: 5 }), 'ok'],
    ['price on purchase checked', buy({ price_cents: -5 }), 'bad_price_cents'],
    // order_id
    ['purchase', buy({}), 'ok'],
    ['order_id missing', buy({ order_id: undefined }), 'missing_order_id'],
    ['order_id null', buy({ order_id: null }), 'missing_order_id'],
    ['order_id empty', buy({ order_id: '' }), 'bad_order_id'],
    ['order_id 1', buy({ order_id: EMOJI }), 'ok'],
    ['order_id 128', buy({ order_id: chars(128, EMOJI) }), 'ok'],
    ['order_id 129', buy({ order_id: chars(129, EMOJI) }), 'bad_order_id'],
    ['order_id number', buy({ order_id: 7 }), 'bad_order_id'],
    ['order_id on page_view checked', raw({ order_id: '' }), 'bad_order_id'],
    // order_total_cents
    ['total missing', buy({ order_total_cents: undefined }), 'missing_order_total_cents'],
    ['total null', buy({ order_total_cents: null }), 'missing_order_total_cents'],
    ['total 0', buy({ order_total_cents: 0 }), 'ok'],
    ['total -1', buy({ order_total_cents: -1 }), 'bad_order_total_cents'],
    ['total 10^10', buy({ order_total_cents: 10_000_000_000 }), 'ok'],
    ['total 10^10+1', buy({ order_total_cents: 10_000_000_001 }), 'bad_order_total_cents'],
    ['total 1.5', buy({ order_total_cents: 1.5 }), 'bad_order_total_cents'],
    ['total 7.0', buy({ order_total_cents: 7.0 }), 'ok'],
    ['total string', buy({ order_total_cents: '100' }), 'bad_order_total_cents'],
    ['total boolean', buy({ order_total_cents: true }), 'bad_order_total_cents'],
    ['total on page_view checked', raw({ order_total_cents: -1 }), 'bad_order_total_cents'],
    // items
    ['items null', buy({ items: null }), 'ok'],
    ['items empty', buy({ items: [] }), 'ok'],
    ['items 1000', buy({ items: Array.from({ length: 1000 }, () => item()) }), 'ok'],
    ['items 1001', buy({ items: Array.from({ length: 1001 }, () => item()) }), 'bad_items'],
    ['items object', buy({ items: { product_id: 'p' } }), 'bad_items'],
    ['items string', buy({ items: '[]' }), 'bad_items'],
    ['item null', buy({ items: [null] }), 'bad_items'],
    ['item array', buy({ items: [[]] }), 'bad_items'],
    ['item extra field', buy({ items: [item({ sku: 'x' })] }), 'ok'],
    ['item product_id missing', buy({ items: [item({ product_id: undefined })] }), 'bad_items'],
    ['item product_id null', buy({ items: [item({ product_id: null })] }), 'bad_items'],
    ['item product_id empty', buy({ items: [item({ product_id: '' })] }), 'bad_items'],
    ['item product_id 128', buy({ items: [item({ product_id: chars(128, EMOJI) })] }), 'ok'],
    ['item product_id 129', buy({ items: [item({ product_id: chars(129, EMOJI) })] }), 'bad_items'],
    ['item quantity missing', buy({ items: [item({ quantity: null })] }), 'bad_items'],
    ['item quantity 0', buy({ items: [item({ quantity: 0 })] }), 'bad_items'],
    ['item quantity 1', buy({ items: [item({ quantity: 1 })] }), 'ok'],
    ['item quantity 10000', buy({ items: [item({ quantity: 10_000 })] }), 'ok'],
    ['item quantity 10001', buy({ items: [item({ quantity: 10_001 })] }), 'bad_items'],
    ['item quantity 2.5', buy({ items: [item({ quantity: 2.5 })] }), 'bad_items'],
    ['item quantity string', buy({ items: [item({ quantity: '1' })] }), 'bad_items'],
    ['item price missing', buy({ items: [item({ price_cents: undefined })] }), 'bad_items'],
    ['item price -1', buy({ items: [item({ price_cents: -1 })] }), 'bad_items'],
    ['item price 0', buy({ items: [item({ price_cents: 0 })] }), 'ok'],
    ['item price 10^9', buy({ items: [item({ price_cents: 1_000_000_000 })] }), 'ok'],
    ['item price 10^9+1', buy({ items: [item({ price_cents: 1_000_000_001 })] }), 'bad_items'],
    ['item price boolean', buy({ items: [item({ price_cents: true })] }), 'bad_items'],
    ['second item bad', buy({ items: [item(), item({ quantity: 0 })] }), 'bad_items'],
    ['items on page_view checked', raw({ items: [item({ quantity: 0 })] }), 'bad_items'],
  ];
  it.each(cases)('%s', (_name, r, want) => {
    // undefined in the table stands for a removed key.
    const input = Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined));
    const got = validateStored(input);
    if (want === 'ok') expect(got.ok, JSON.stringify(got)).toBe(true);
    else expect(got).toMatchObject({ ok: false, reason: want });
  });

  it('builds a ValidEvent with only the fields that mean something for the type', () => {
    expect(validateStored(raw({ quantity: 2, product_id: 'p', price_cents: 5, order_id: 'o', url: 'u' }))).toEqual({
      ok: true,
      event: { event_id: 'e1', visitor_id: 'v1', ts: 1_795_737_600_005, type: 'page_view', price_cents: 5 },
    });
    expect(validateStored(cart({ quantity: 2.0, ts: '2026-11-27T00:00:00.005Z' }))).toEqual({
      ok: true,
      event: { event_id: 'e1', visitor_id: 'v1', ts: 1_795_737_600_005, type: 'add_to_cart', product_id: 'p', quantity: 2 },
    });
    expect(validateStored(buy({ items: [item({ sku: 'x' })], product_id: 'ignored' }))).toEqual({
      ok: true,
      event: {
        event_id: 'e1',
        visitor_id: 'v1',
        ts: 1_795_737_600_005,
        type: 'purchase',
        order_id: 'o',
        order_total_cents: 100,
        items: [{ product_id: 'p', quantity: 1, price_cents: 5 }],
      },
    });
  });

  it('leaves absent optional fields absent, not undefined', () => {
    const r = validateStored(buy({ items: null }));
    expect(r.ok && Object.keys(r.event)).toEqual(['event_id', 'visitor_id', 'ts', 'type', 'order_id', 'order_total_cents']);
  });

  it('works on what checkIngest returns', () => {
    const ing = checkIngest('{"event_id":"e","merchant_id":"m","visitor_id":"v","ts":"2026-11-27T10:00:00Z","type":"product_view","product_id":"p","price_cents":3.0}');
    expect(ing.kind).toBe('ok');
    if (ing.kind !== 'ok') return;
    expect(validateStored(ing.raw)).toMatchObject({ ok: true, event: { product_id: 'p', price_cents: 3 } });
  });
});

describe('ids keep their identity (issue 11: bad input is never merged)', () => {
  // JSON allows "\ud800" as an escape; it is half a character with no UTF-8 form, so
  // "v\ud800" and "v\udbff" would both become "v\uFFFD" as bytes: one row key for two visitors.
  const escaped = (field: string, id: string): string => line({}).replace(`"${field}":"${(BASE as Record<string, unknown>)[field] as string}"`, `"${field}":"${id}"`);
  for (const [field, reason] of [['visitor_id', 'bad_visitor_id'], ['event_id', 'bad_event_id'], ['merchant_id', 'bad_merchant_id']] as const) {
    it(`refuses a ${field} with a lone surrogate, naming it and its position`, () => {
      for (const id of ['v\\ud800', 'v\\udbff', '\\udc00x']) {
        const r = checkIngest(escaped(field, id));
        expect(r, `${field}=${id}`).toMatchObject({ kind: 'refused', reason });
        expect((r as { detail: string }).detail).toMatch(/lone surrogate \\u(d800|dbff|dc00) at position [01]/);
      }
    });
  }
  it('accepts a surrogate pair (one character) in an id', () => {
    expect(checkIngest(escaped('visitor_id', 'v\\ud83d\\ude42'))).toMatchObject({ kind: 'ok' });
  });
});
