/** Plain data shared by the pure domain modules, the Avro schemas and the stages. */

export const EVENT_TYPES = ['page_view', 'product_view', 'add_to_cart', 'remove_from_cart', 'purchase'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface OrderItem {
  product_id: string;
  quantity: number;
  price_cents: number;
}

/** A stored event after identity dedupe that passed every rule of the raw event contract. */
export interface ValidEvent {
  event_id: string;
  visitor_id: string;
  /** epoch milliseconds, UTC */
  ts: number;
  type: EventType;
  product_id?: string;
  quantity?: number;
  price_cents?: number;
  order_id?: string;
  order_total_cents?: number;
  items?: OrderItem[];
}

/** What ingest needs to store a line: its identity, checked by the ingest-level rules. */
export interface EventIdentity {
  merchant_id: string;
  /** UTC calendar date of ts, YYYY-MM-DD */
  day: string;
  visitor_id: string;
  event_id: string;
  ts: number;
}

export interface ProductStats {
  views: number;
  add_to_carts: number;
  units_sold: number;
  revenue_cents: number;
}

/**
 * Additive aggregate of some visitors of one merchant-day. Visitors never span two batches
 * (chunks split a merchant-day by visitor bucket and batches group by visitor), so every field,
 * visitors and orders included, merges by plain addition.
 */
export interface PartialAggregate {
  events: number;
  visitors: number;
  sessions: number;
  bounced_sessions: number;
  session_duration_ms_total: number;
  page_views: number;
  product_views: number;
  add_to_carts: number;
  remove_from_carts: number;
  purchases: number;
  orders: number;
  revenue_cents: number;
  units_sold: number;
  converting_sessions: number;
  cart_abandoned_sessions: number;
  /** 24 counts by UTC hour */
  hourly_events: number[];
  /** 24 sums by the UTC hour of each order's kept purchase */
  hourly_revenue_cents: number[];
  /** every product with at least one of the stats non-zero, keyed by product_id */
  products: Record<string, ProductStats>;
}

export interface TopProduct extends ProductStats {
  product_id: string;
}

/**
 * The metrics contract of one merchant-day: what `report --json` prints. The additive fields are
 * a PartialAggregate's; products become the top 10.
 */
export interface DailySummary extends Omit<PartialAggregate, 'products'> {
  merchant_id: string;
  day: string;
  invalid_events: number;
  conversion_rate: number;
  avg_order_value_cents: number;
  top_products: TopProduct[];
}

/** One session, as the transform stage writes it to the sessions table. */
export interface SessionRecord {
  merchant_id: string;
  day: string;
  visitor_id: string;
  /** 0-based index of the session within the visitor's day */
  index: number;
  start_ts: number;
  end_ts: number;
  events: number;
  page_views: number;
  product_views: number;
  add_to_carts: number;
  purchases: number;
  converted: boolean;
  cart_abandoned: boolean;
  event_ids: string[];
}
