/**
 * The metrics contract of one merchant-day, computed per visitor so that batches of visitors can
 * be aggregated independently and merged by plain addition.
 *
 * Decisions:
 * - Events and event_ids compare by Unicode code point (Python str order), not UTF-16 units.
 * - An order is (visitor_id, order_id); because a visitor's events all land in one batch, orders
 *   are deduped inside aggregateVisitors and `orders` merges additively like every other field.
 * - `purchases` counts every valid purchase event, repeated orders included; `converting_sessions`
 *   likewise counts sessions with any purchase event, not only the kept one of its order.
 * - Revenue, units and hourly revenue come only from each order's kept purchase
 *   (earliest (ts, event_id)); a kept purchase without items adds its total but no units.
 * - top_products revenue is quantity × price_cents of the kept purchases' items, independent of
 *   order_total_cents (the contract sample has orders whose total differs from their items).
 *
 * Exactness: all sums are integers in doubles. Revenue totals stay below 2^53 (~9.007e15) up to
 * ~900,000 orders at the 10^10 maximum. A single item's quantity × price_cents is at most 10^13,
 * but one order's items can reach 10^16 and so a product's revenue_cents can exceed 2^53 on
 * adversarial input; it is then rounded like any double. Counts are far below 2^53.
 */
import { compareCodePoints } from './event.js';
import { utcHour } from './timestamp.js';
import type { DailySummary, PartialAggregate, ProductStats, SessionRecord, TopProduct, ValidEvent } from './types.js';

export const SESSION_GAP_MS = 1_800_000;
export const TOP_PRODUCTS = 10;

function compareEvents(a: ValidEvent, b: ValidEvent): number {
  return a.ts - b.ts || compareCodePoints(a.event_id, b.event_id);
}

/** One visitor's valid events of one day, split into sessions in (ts, event_id) order. */
export function sessionize(events: readonly ValidEvent[]): ValidEvent[][] {
  const sorted = [...events].sort(compareEvents);
  const sessions: ValidEvent[][] = [];
  let current: ValidEvent[] = [];
  let lastTs = 0;
  for (const e of sorted) {
    // A gap of exactly 30 minutes stays in the session; only a strictly longer one splits.
    if (current.length > 0 && e.ts - lastTs > SESSION_GAP_MS) {
      sessions.push(current);
      current = [];
    }
    current.push(e);
    lastTs = e.ts;
  }
  if (current.length > 0) sessions.push(current);
  return sessions;
}

/** products keyed by product_id without a prototype, so an id like "__proto__" is just a key. */
function emptyProducts(): Record<string, ProductStats> {
  return Object.create(null) as Record<string, ProductStats>;
}

export function emptyPartial(): PartialAggregate {
  return {
    events: 0,
    visitors: 0,
    sessions: 0,
    bounced_sessions: 0,
    session_duration_ms_total: 0,
    page_views: 0,
    product_views: 0,
    add_to_carts: 0,
    remove_from_carts: 0,
    purchases: 0,
    orders: 0,
    revenue_cents: 0,
    units_sold: 0,
    converting_sessions: 0,
    cart_abandoned_sessions: 0,
    hourly_events: new Array<number>(24).fill(0),
    hourly_revenue_cents: new Array<number>(24).fill(0),
    products: emptyProducts(),
  };
}

function productOf(products: Record<string, ProductStats>, product_id: string): ProductStats {
  let p = products[product_id];
  if (p === undefined) {
    p = { views: 0, add_to_carts: 0, units_sold: 0, revenue_cents: 0 };
    products[product_id] = p;
  }
  return p;
}

function addAt(arr: number[], i: number, v: number): void {
  arr[i] = (arr[i] ?? 0) + v;
}

/**
 * Aggregates whole visitors of one merchant-day. Entries with the same visitor_id are combined, so
 * a caller that streams a visitor in pieces still gets one visitor and correct sessions.
 */
export function aggregateVisitors(
  merchant_id: string,
  day: string,
  visitors: ReadonlyArray<{ visitor_id: string; events: readonly ValidEvent[] }>,
): { partial: PartialAggregate; sessions: SessionRecord[] } {
  const byVisitor = new Map<string, ValidEvent[]>();
  for (const v of visitors) {
    const list = byVisitor.get(v.visitor_id);
    if (list === undefined) byVisitor.set(v.visitor_id, [...v.events]);
    else list.push(...v.events);
  }

  const partial = emptyPartial();
  const records: SessionRecord[] = [];
  // Sorted so that session records come out in the same order whatever the input order.
  const visitorIds = [...byVisitor.keys()].sort(compareCodePoints);
  for (const visitor_id of visitorIds) {
    const events = byVisitor.get(visitor_id) ?? [];
    if (events.length === 0) continue;
    partial.visitors += 1;
    const sessions = sessionize(events);
    const keptOrders = new Map<string, ValidEvent>();

    sessions.forEach((session, index) => {
      const first = session[0];
      const last = session[session.length - 1];
      if (first === undefined || last === undefined) return;
      const rec: SessionRecord = {
        merchant_id,
        day,
        visitor_id,
        index,
        start_ts: first.ts,
        end_ts: last.ts,
        events: session.length,
        page_views: 0,
        product_views: 0,
        add_to_carts: 0,
        purchases: 0,
        converted: false,
        cart_abandoned: false,
        event_ids: session.map((e) => e.event_id),
      };
      for (const e of session) {
        partial.events += 1;
        addAt(partial.hourly_events, utcHour(e.ts), 1);
        switch (e.type) {
          case 'page_view':
            partial.page_views += 1;
            rec.page_views += 1;
            break;
          case 'product_view':
            partial.product_views += 1;
            rec.product_views += 1;
            if (e.product_id !== undefined) productOf(partial.products, e.product_id).views += 1;
            break;
          case 'add_to_cart':
            partial.add_to_carts += 1;
            rec.add_to_carts += 1;
            if (e.product_id !== undefined) productOf(partial.products, e.product_id).add_to_carts += 1;
            break;
          case 'remove_from_cart':
            partial.remove_from_carts += 1;
            break;
          case 'purchase': {
            partial.purchases += 1;
            rec.purchases += 1;
            if (e.order_id !== undefined) {
              // Sessions are walked in (ts, event_id) order, so the first purchase seen is the kept one.
              if (!keptOrders.has(e.order_id)) keptOrders.set(e.order_id, e);
            }
            break;
          }
        }
      }
      rec.converted = rec.purchases > 0;
      rec.cart_abandoned = rec.add_to_carts > 0 && rec.purchases === 0;
      partial.sessions += 1;
      if (session.length === 1) partial.bounced_sessions += 1;
      partial.session_duration_ms_total += last.ts - first.ts;
      if (rec.converted) partial.converting_sessions += 1;
      if (rec.cart_abandoned) partial.cart_abandoned_sessions += 1;
      records.push(rec);
    });

    for (const purchase of keptOrders.values()) {
      const total = purchase.order_total_cents ?? 0;
      partial.orders += 1;
      partial.revenue_cents += total;
      addAt(partial.hourly_revenue_cents, utcHour(purchase.ts), total);
      for (const item of purchase.items ?? []) {
        partial.units_sold += item.quantity;
        const p = productOf(partial.products, item.product_id);
        p.units_sold += item.quantity;
        p.revenue_cents += item.quantity * item.price_cents;
      }
    }
  }
  return { partial, sessions: records };
}

/** Adds b into acc, field by field (acc is changed; b is not). Linear in b's size. */
export function addInto(acc: PartialAggregate, b: PartialAggregate): PartialAggregate {
  for (const [id, s] of Object.entries(b.products)) {
    const p = productOf(acc.products, id);
    p.views += s.views;
    p.add_to_carts += s.add_to_carts;
    p.units_sold += s.units_sold;
    p.revenue_cents += s.revenue_cents;
  }
  for (const f of ADDITIVE_FIELDS) acc[f] += b[f];
  for (let i = 0; i < 24; i++) {
    acc.hourly_events[i] = (acc.hourly_events[i] ?? 0) + (b.hourly_events[i] ?? 0);
    acc.hourly_revenue_cents[i] = (acc.hourly_revenue_cents[i] ?? 0) + (b.hourly_revenue_cents[i] ?? 0);
  }
  return acc;
}

const ADDITIVE_FIELDS = [
  'events', 'visitors', 'sessions', 'bounced_sessions', 'session_duration_ms_total', 'page_views', 'product_views', 'add_to_carts',
  'remove_from_carts', 'purchases', 'orders', 'revenue_cents', 'units_sold', 'converting_sessions', 'cart_abandoned_sessions',
] as const satisfies ReadonlyArray<keyof PartialAggregate>;

/** Field-wise addition; associative and commutative, with emptyPartial() as identity. Neither input is changed. */
export function mergePartials(a: PartialAggregate, b: PartialAggregate): PartialAggregate {
  return addInto(addInto(emptyPartial(), a), b);
}

/**
 * Sums any number of partials in time linear in their total size: one accumulator, each partial
 * added into it once (a fold over mergePartials copies the accumulated products every time).
 */
export function mergeAll(partials: Iterable<PartialAggregate>): PartialAggregate {
  const acc = emptyPartial();
  for (const p of partials) addInto(acc, p);
  return acc;
}

function compareTopProducts(a: TopProduct, b: TopProduct): number {
  return b.views - a.views || b.units_sold - a.units_sold || compareCodePoints(a.product_id, b.product_id);
}

/** Rank products: views desc, units_sold desc, product_id asc by code point; at most `limit`. */
export function topProducts(products: Record<string, ProductStats>, limit: number = TOP_PRODUCTS): TopProduct[] {
  const listed: TopProduct[] = [];
  for (const [product_id, s] of Object.entries(products)) {
    if (s.views === 0 && s.add_to_carts === 0 && s.units_sold === 0 && s.revenue_cents === 0) continue;
    listed.push({ product_id, views: s.views, add_to_carts: s.add_to_carts, units_sold: s.units_sold, revenue_cents: s.revenue_cents });
  }
  return listed.sort(compareTopProducts).slice(0, limit);
}

export function finalizeSummary(merchant_id: string, day: string, partial: PartialAggregate, invalid_events: number): DailySummary {
  return {
    merchant_id,
    day,
    events: partial.events,
    invalid_events,
    visitors: partial.visitors,
    sessions: partial.sessions,
    bounced_sessions: partial.bounced_sessions,
    session_duration_ms_total: partial.session_duration_ms_total,
    page_views: partial.page_views,
    product_views: partial.product_views,
    add_to_carts: partial.add_to_carts,
    remove_from_carts: partial.remove_from_carts,
    purchases: partial.purchases,
    orders: partial.orders,
    revenue_cents: partial.revenue_cents,
    units_sold: partial.units_sold,
    converting_sessions: partial.converting_sessions,
    cart_abandoned_sessions: partial.cart_abandoned_sessions,
    conversion_rate: partial.sessions === 0 ? 0 : partial.converting_sessions / partial.sessions,
    avg_order_value_cents: partial.orders === 0 ? 0 : partial.revenue_cents / partial.orders,
    hourly_events: [...partial.hourly_events],
    hourly_revenue_cents: [...partial.hourly_revenue_cents],
    top_products: topProducts(partial.products),
  };
}
