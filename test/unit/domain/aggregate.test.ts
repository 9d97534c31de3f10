import { describe, expect, it } from 'vitest';
import { aggregateVisitors, createMerger, emptyPartial, finalizeSummary, mergePartials, sessionize, topProducts, type ProductRow } from '../../../src/domain/aggregate.js';
import type { EventType, OrderItem, PartialAggregate, ValidEvent } from '../../../src/domain/types.js';

const DAY0 = Date.UTC(2026, 10, 27);
const MIN = 60_000;
const GAP = 30 * MIN;

let seq = 0;
function ev(ts: number, type: EventType = 'page_view', extra: Partial<ValidEvent> = {}): ValidEvent {
  seq += 1;
  return { event_id: `e${String(seq).padStart(5, '0')}`, visitor_id: 'v', ts: DAY0 + ts, type, ...extra };
}
const buy = (ts: number, order_id: string, total: number, items?: OrderItem[], event_id?: string): ValidEvent =>
  ev(ts, 'purchase', { order_id, order_total_cents: total, ...(items === undefined ? {} : { items }), ...(event_id === undefined ? {} : { event_id }) });
const ids = (sessions: ValidEvent[][]): string[][] => sessions.map((s) => s.map((e) => e.event_id));

describe('sessionize', () => {
  it('returns no session for no events', () => {
    expect(sessionize([])).toEqual([]);
  });
  it('makes a single-event session', () => {
    const a = ev(0);
    expect(sessionize([a])).toEqual([[a]]);
  });
  it('keeps a gap of exactly 30 minutes in the session', () => {
    const a = ev(0);
    const b = ev(GAP);
    expect(sessionize([a, b])).toEqual([[a, b]]);
  });
  it('splits on a gap of 30 minutes + 1 ms', () => {
    const a = ev(0);
    const b = ev(GAP + 1);
    expect(sessionize([a, b])).toEqual([[a], [b]]);
  });
  it('measures the gap from the previous event, not the session start', () => {
    const evs = [ev(0), ev(GAP), ev(2 * GAP), ev(3 * GAP + 1)];
    expect(sessionize(evs).map((s) => s.length)).toEqual([3, 1]);
  });
  it('sorts by ts then event_id by code point, whatever the input order', () => {
    const a = { ...ev(10), event_id: '\uffff' };
    const b = { ...ev(10), event_id: '🙂' };
    const c = { ...ev(10), event_id: 'e10' };
    const d = { ...ev(10), event_id: 'e9' };
    const e0 = { ...ev(5), event_id: 'zzz' };
    const want = [['zzz', 'e10', 'e9', '\uffff', '🙂']];
    expect(ids(sessionize([a, b, c, d, e0]))).toEqual(want);
    expect(ids(sessionize([d, c, e0, b, a]))).toEqual(want);
  });
  it('does not mutate its input', () => {
    const evs = [ev(100), ev(0)];
    const copy = [...evs];
    sessionize(evs);
    expect(evs).toEqual(copy);
  });
});

describe('aggregateVisitors', () => {
  it('counts sessions, bounces, durations, types and conversions', () => {
    const v1 = [
      ev(0, 'page_view'),
      ev(MIN, 'product_view', { product_id: 'p1' }),
      ev(2 * MIN, 'add_to_cart', { product_id: 'p1', quantity: 2 }),
      ev(3 * MIN, 'purchase', { order_id: 'o1', order_total_cents: 1000, items: [{ product_id: 'p1', quantity: 2, price_cents: 500 }] }),
      // new session: cart then nothing
      ev(3 * MIN + GAP + 1, 'add_to_cart', { product_id: 'p2' }),
      ev(4 * MIN + GAP + 1, 'remove_from_cart', { product_id: 'p2' }),
    ];
    const v2 = [ev(60 * MIN, 'page_view')];
    const { partial, sessions } = aggregateVisitors('m', '2026-11-27', [
      { visitor_id: 'v1', events: v1 },
      { visitor_id: 'v2', events: v2 },
    ]);
    expect(partial).toMatchObject({
      events: 7,
      visitors: 2,
      sessions: 3,
      bounced_sessions: 1,
      session_duration_ms_total: 3 * MIN + MIN,
      page_views: 2,
      product_views: 1,
      add_to_carts: 2,
      remove_from_carts: 1,
      purchases: 1,
      orders: 1,
      revenue_cents: 1000,
      units_sold: 2,
      converting_sessions: 1,
      cart_abandoned_sessions: 1,
    });
    expect(partial.hourly_events[0]).toBe(6);
    expect(partial.hourly_events[1]).toBe(1);
    expect(partial.hourly_revenue_cents[0]).toBe(1000);
    expect({ ...partial.products }).toEqual({
      p1: { views: 1, add_to_carts: 1, units_sold: 2, revenue_cents: 1000 },
      p2: { views: 0, add_to_carts: 1, units_sold: 0, revenue_cents: 0 },
    });
    expect(sessions.map((s) => [s.visitor_id, s.index, s.events, s.converted, s.cart_abandoned])).toEqual([
      ['v1', 0, 4, true, false],
      ['v1', 1, 2, false, true],
      ['v2', 0, 1, false, false],
    ]);
    expect(sessions[0]).toMatchObject({
      merchant_id: 'm',
      day: '2026-11-27',
      start_ts: DAY0,
      end_ts: DAY0 + 3 * MIN,
      page_views: 1,
      product_views: 1,
      add_to_carts: 1,
      purchases: 1,
      first_event_id: v1[0]!.event_id,
      last_event_id: v1[3]!.event_id,
    });
  });

  it('counts an order once, keeping the purchase with the earliest (ts, event_id)', () => {
    const items = (q: number): OrderItem[] => [{ product_id: 'p', quantity: q, price_cents: 10 }];
    const events = [
      buy(5 * 60 * MIN, 'o1', 999, items(9), 'a-late'),
      buy(2 * 60 * MIN, 'o1', 300, items(3), 'z-tie'),
      buy(2 * 60 * MIN, 'o1', 200, items(2), 'b-tie'),
      buy(3 * 60 * MIN, 'o2', 50),
    ];
    const { partial } = aggregateVisitors('m', '2026-11-27', [{ visitor_id: 'v', events }]);
    expect(partial.purchases).toBe(4);
    expect(partial.orders).toBe(2);
    expect(partial.revenue_cents).toBe(250);
    expect(partial.units_sold).toBe(2);
    expect(partial.hourly_revenue_cents[2]).toBe(200);
    expect(partial.hourly_revenue_cents[3]).toBe(50);
    expect(partial.hourly_revenue_cents[5]).toBe(0);
    expect(partial.products['p']).toEqual({ views: 0, add_to_carts: 0, units_sold: 2, revenue_cents: 20 });
    // both sessions with a purchase convert, even the one holding only a repeated order
    expect(partial.converting_sessions).toBe(3);
  });

  it('treats the same order_id of two visitors as two orders', () => {
    const { partial } = aggregateVisitors('m', '2026-11-27', [
      { visitor_id: 'a', events: [buy(0, 'o', 10)] },
      { visitor_id: 'b', events: [buy(0, 'o', 20)] },
    ]);
    expect(partial.orders).toBe(2);
    expect(partial.revenue_cents).toBe(30);
  });

  it('combines entries of the same visitor before sessionizing', () => {
    const a = ev(0);
    const b = ev(MIN);
    const split = aggregateVisitors('m', '2026-11-27', [
      { visitor_id: 'v', events: [a] },
      { visitor_id: 'v', events: [b] },
    ]);
    expect(split.partial.visitors).toBe(1);
    expect(split.partial.sessions).toBe(1);
    expect([split.sessions[0]?.first_event_id, split.sessions[0]?.last_event_id]).toEqual([a.event_id, b.event_id]);
  });

  it('ignores visitors without events', () => {
    const { partial, sessions } = aggregateVisitors('m', '2026-11-27', [{ visitor_id: 'v', events: [] }]);
    expect(partial).toEqual(emptyPartial());
    expect(sessions).toEqual([]);
  });

  it('keeps a product id like "__proto__" as a plain key', () => {
    const { partial } = aggregateVisitors('m', '2026-11-27', [{ visitor_id: 'v', events: [ev(0, 'product_view', { product_id: '__proto__' })] }]);
    expect(Object.keys(partial.products)).toEqual(['__proto__']);
    expect(finalizeSummary('m', '2026-11-27', partial, 0).top_products).toEqual([
      { product_id: '__proto__', views: 1, add_to_carts: 0, units_sold: 0, revenue_cents: 0 },
    ]);
  });
});

describe('finalizeSummary', () => {
  it('gives a zero summary with invalid events when nothing is valid', () => {
    const s = finalizeSummary('m', '2026-11-27', emptyPartial(), 3);
    expect(s).toMatchObject({ merchant_id: 'm', day: '2026-11-27', events: 0, invalid_events: 3, conversion_rate: 0, avg_order_value_cents: 0, top_products: [] });
    expect(s.hourly_events).toEqual(new Array(24).fill(0));
    expect(s.hourly_revenue_cents).toEqual(new Array(24).fill(0));
  });
  it('derives the rates as plain floating point', () => {
    const p: PartialAggregate = { ...emptyPartial(), sessions: 21, converting_sessions: 5, orders: 6, revenue_cents: 53293 };
    const s = finalizeSummary('m', '2026-11-27', p, 0);
    expect(s.conversion_rate).toBe(5 / 21);
    expect(s.avg_order_value_cents).toBe(53293 / 6);
  });
});

describe('topProducts', () => {
  const stats = (views: number, units_sold: number, add_to_carts = 0, revenue_cents = 0) => ({ views, add_to_carts, units_sold, revenue_cents });
  it('orders by views desc, units_sold desc, product_id asc by code point', () => {
    const products = {
      b: stats(2, 0),
      a: stats(2, 0),
      c: stats(2, 5),
      d: stats(3, 0),
      '🙂': stats(1, 0),
      '\uffff': stats(1, 0),
      p10: stats(1, 0),
      p9: stats(1, 0),
    };
    expect(topProducts(products).map((p) => p.product_id)).toEqual(['d', 'c', 'a', 'b', 'p10', 'p9', '\uffff', '🙂']);
  });
  it('lists at most 10 and drops products with nothing', () => {
    const products = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`p${String(i).padStart(2, '0')}`, stats(i, 0)]));
    products['zero'] = stats(0, 0);
    products['cart-only'] = stats(0, 0, 1);
    const top = topProducts(products);
    expect(top).toHaveLength(10);
    expect(top.map((p) => p.views)).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2]);
    expect(topProducts(products, 100).map((p) => p.product_id)).not.toContain('zero');
    expect(topProducts(products, 100).map((p) => p.product_id)).toContain('cart-only');
  });
});

/** mulberry32: a tiny seeded PRNG so the property test is reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function randomVisitors(rand: () => number, n: number): Array<{ visitor_id: string; events: ValidEvent[] }> {
  const types: EventType[] = ['page_view', 'product_view', 'add_to_cart', 'remove_from_cart', 'purchase'];
  const int = (k: number): number => Math.floor(rand() * k);
  return Array.from({ length: n }, (_, vi) => {
    const visitor_id = `v${vi}`;
    const events = Array.from({ length: 1 + int(12) }, (_, ei): ValidEvent => {
      const type = types[int(types.length)] ?? 'page_view';
      const e: ValidEvent = { event_id: `e${ei}`, visitor_id, ts: DAY0 + int(86_400_000), type };
      if (type !== 'page_view' && type !== 'purchase') e.product_id = `p${int(15)}`;
      if (type === 'purchase') {
        e.order_id = `o${int(3)}`;
        e.order_total_cents = int(100_000);
        e.items = Array.from({ length: int(3) }, () => ({ product_id: `p${int(15)}`, quantity: 1 + int(4), price_cents: int(50_000) }));
      }
      return e;
    });
    return { visitor_id, events };
  });
}

describe('mergePartials', () => {
  it('has emptyPartial as identity and does not mutate its inputs', () => {
    const { partial } = aggregateVisitors('m', '2026-11-27', randomVisitors(rng(1), 5));
    const before = JSON.stringify(partial);
    expect(mergePartials(partial, emptyPartial())).toEqual(partial);
    expect(mergePartials(emptyPartial(), partial)).toEqual(partial);
    expect(JSON.stringify(partial)).toBe(before);
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8])('gives the same summary for any grouping and order of visitors (seed %i)', (seed) => {
    const rand = rng(seed);
    const visitors = randomVisitors(rand, 40);
    const whole = finalizeSummary('m', '2026-11-27', aggregateVisitors('m', '2026-11-27', visitors).partial, 2);
    expect(whole.events).toBeGreaterThan(0);

    // Random groups of visitors, aggregated separately and merged in a random order and tree shape.
    const groups = new Map<number, typeof visitors>();
    const k = 1 + Math.floor(rand() * 8);
    for (const v of visitors) {
      const g = Math.floor(rand() * k);
      groups.set(g, [...(groups.get(g) ?? []), v]);
    }
    let parts = [...groups.values()].map((g) => aggregateVisitors('m', '2026-11-27', g).partial);
    parts.push(emptyPartial());
    while (parts.length > 1) {
      const i = Math.floor(rand() * parts.length);
      const [a] = parts.splice(i, 1);
      const j = Math.floor(rand() * parts.length);
      const [b] = parts.splice(j, 1);
      if (a === undefined || b === undefined) throw new Error('unreachable');
      parts.push(rand() < 0.5 ? mergePartials(a, b) : mergePartials(b, a));
      parts = parts.sort(() => rand() - 0.5);
    }
    const merged = finalizeSummary('m', '2026-11-27', parts[0] ?? emptyPartial(), 2);
    expect(merged).toEqual(whole);
  });
});

describe('createMerger (summarize\'s accumulator)', () => {
  const rowsOf = (p: ReturnType<typeof emptyPartial>): ProductRow[] => Object.entries(p.products).map(([product_id, x]) => ({ product_id, ...x }));

  it.each([1, 2, 3, 4])('equals folding mergePartials over the same partials, products included (seed %i)', (seed) => {
    const rand = rng(100 + seed);
    const parts = Array.from({ length: 1 + Math.floor(rand() * 12) }, () => aggregateVisitors('m', '2026-11-27', randomVisitors(rand, 1 + Math.floor(rand() * 9))).partial);
    const folded = parts.reduce((a, b) => mergePartials(a, b), emptyPartial());
    const merger = createMerger(24);
    // Products travel as rows; whatever the partial's own map holds is not counted twice.
    for (const p of parts) merger.add(p, rowsOf(p));
    const merged = merger.result();
    expect(merged).toEqual(folded);
    expect(finalizeSummary('m', '2026-11-27', merged, 1)).toEqual(finalizeSummary('m', '2026-11-27', folded, 1));
  });

  it('keeps a product id such as __proto__ as a plain key, and is spent after result()', () => {
    const merger = createMerger(24);
    const p = emptyPartial();
    merger.add(p, [{ product_id: '__proto__', views: 2, add_to_carts: 0, units_sold: 1, revenue_cents: 5 }, { product_id: '__proto__', views: 1, add_to_carts: 1, units_sold: 0, revenue_cents: 0 }]);
    const r = merger.result();
    expect(Object.keys(r.products)).toEqual(['__proto__']);
    expect(r.products['__proto__']).toEqual({ views: 3, add_to_carts: 1, units_sold: 1, revenue_cents: 5 });
    expect(() => merger.add(p, [])).toThrow(/spent/);
  });

  it('refuses nothing silently: partials of another day length do not add', () => {
    expect(() => createMerger(24).add(emptyPartial(25), [])).toThrow(RangeError);
  });
});
