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
 * A valid event of one visitor's day with what only the whole day can tell (computed by split,
 * which holds the visitor whole): its session index and, for a purchase, whether it is the kept
 * purchase of its (visitor, order_id). With these, any slice of a visitor's events aggregates
 * exactly on its own.
 */
export interface AnnotatedEvent extends ValidEvent {
  /** 0-based session of the visitor's day */
  session: number;
  /** a purchase that is its order's kept one (the earliest (ts, event_id)); false otherwise */
  kept: boolean;
}

/**
 * A session of a visitor sent in fragments that goes on across a fragment cut: each fragment
 * reports the part it saw, summarize joins the parts of one (visitor, session) and counts it once.
 */
export interface SessionPiece extends SessionSpan {
  visitor_id: string;
  session: number;
}

/** What a session (or a piece of one) spans and counts. */
export interface SessionSpan {
  start_ts: number;
  end_ts: number;
  events: number;
  page_views: number;
  product_views: number;
  add_to_carts: number;
  purchases: number;
  /** the first and last event in (ts, event_id) order (a long session's every id would not fit a row) */
  first_event_id: string;
  last_event_id: string;
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
  /** counts by elapsed hour of the merchant-day (24 for a UTC day; 23 or 25 on a DST change) */
  hourly_events: number[];
  /** sums by the elapsed hour of each order's kept purchase */
  hourly_revenue_cents: number[];
  /** every product with at least one of the stats non-zero, keyed by product_id */
  products: Record<string, ProductStats>;
  /** sessions cut by fragments, not yet in the session fields (see SessionPiece) */
  session_pieces: SessionPiece[];
}

export interface TopProduct extends ProductStats {
  product_id: string;
}

/**
 * The metrics contract of one merchant-day: what `report --json` prints. The additive fields are
 * a PartialAggregate's; products become the top 10.
 */
export interface DailySummary extends Omit<PartialAggregate, 'products' | 'session_pieces'> {
  merchant_id: string;
  day: string;
  /** the merchant's zone for this day (the registry's spelling; 'UTC' when not listed) */
  time_zone: string;
  /** the day's first instant and the next day's (exclusive), ISO-8601 with the zone's offset */
  day_start: string;
  day_end: string;
  invalid_events: number;
  conversion_rate: number;
  avg_order_value_cents: number;
  top_products: TopProduct[];
}

/** One session, as the transform stage writes it to the sessions table. */
export interface SessionRecord extends SessionSpan {
  merchant_id: string;
  day: string;
  visitor_id: string;
  /** 0-based index of the session within the visitor's day */
  index: number;
  converted: boolean;
  cart_abandoned: boolean;
}
