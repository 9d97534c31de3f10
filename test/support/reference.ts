/**
 * Reference implementation of the raw event contract and the metrics contract, written to be
 * read against the contract text line by line. It shares no code with src/ on purpose: the
 * integration tests compare the pipeline with it, so a misreading in one is not copied into the
 * other. Speed does not matter here; every day is recomputed from all lines.
 */

const MAX_LINE_BYTES = 1024 * 1024;
const MAX_TS = 253402300799999;
const SESSION_GAP_MS = 1_800_000;
const TYPES = ['page_view', 'product_view', 'add_to_cart', 'remove_from_cart', 'purchase'];
const MERCHANT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/;

type Json = Record<string, unknown>;

export interface ReferenceTopProduct {
  product_id: string;
  views: number;
  add_to_carts: number;
  units_sold: number;
  revenue_cents: number;
}

export interface ReferenceSummary {
  merchant_id: string;
  day: string;
  events: number;
  invalid_events: number;
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
  conversion_rate: number;
  avg_order_value_cents: number;
  hourly_events: number[];
  hourly_revenue_cents: number[];
  top_products: ReferenceTopProduct[];
}

export interface ReferenceResult {
  refused: number;
  /** every UTC day that has at least one stored event, summaries sorted by merchant_id */
  summaries: Map<string, ReferenceSummary[]>;
}

interface Stored {
  merchant_id: string;
  visitor_id: string;
  event_id: string;
  ts: number;
  day: string;
  raw: string;
  body: Json;
}

interface Item {
  product_id: string;
  quantity: number;
  price_cents: number;
}

interface Valid {
  visitor_id: string;
  event_id: string;
  ts: number;
  type: string;
  product_id: string | undefined;
  order_id: string | undefined;
  order_total_cents: number;
  items: Item[];
}

// ---------------------------------------------------------------- small helpers

function codePointLength(s: string): number {
  return [...s].length;
}

/** Code point order, which differs from JS `<` (UTF-16 units) once astral characters appear. */
export function compareCodePoints(a: string, b: string): number {
  const ca = [...a].map((c) => c.codePointAt(0) ?? 0);
  const cb = [...b].map((c) => c.codePointAt(0) ?? 0);
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    const x = ca[i] ?? 0;
    const y = cb[i] ?? 0;
    if (x !== y) return x - y;
  }
  return ca.length - cb.length;
}

function isIdString(v: unknown): v is string {
  return typeof v === 'string' && codePointLength(v) >= 1 && codePointLength(v) <= 128;
}

function isWhole(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** null counts as absent everywhere in the contract. */
function field(body: Json, name: string): unknown {
  const v = Object.prototype.hasOwnProperty.call(body, name) ? body[name] : undefined;
  return v === null ? undefined : v;
}

function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return isLeapYear(y) ? 29 : 28;
  return [4, 6, 9, 11].includes(m) ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (Date.UTC maps years < 100 to 19xx). */
function daysFromCivil(y: number, m: number, d: number): number {
  let days = 0;
  if (y >= 1970) {
    for (let yy = 1970; yy < y; yy++) days += isLeapYear(yy) ? 366 : 365;
  } else {
    for (let yy = y; yy < 1970; yy++) days -= isLeapYear(yy) ? 366 : 365;
  }
  for (let mm = 1; mm < m; mm++) days += daysInMonth(y, mm);
  return days + d - 1;
}

/** Epoch ms of a contract ts, or undefined when the ts must be refused. */
export function parseTs(v: unknown): number | undefined {
  if (typeof v === 'number') {
    return Number.isInteger(v) && v >= 0 && v <= MAX_TS ? v + 0 : undefined;
  }
  if (typeof v !== 'string') return undefined;
  const m = RFC3339.exec(v);
  if (!m) return undefined;
  const [year, month, dayOfMonth, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12) return undefined;
  if (dayOfMonth < 1 || dayOfMonth > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const millis = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  let offsetMinutes = 0;
  if (m[8] !== 'Z') {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const local = ((daysFromCivil(year, month, dayOfMonth) * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis;
  const ms = local - offsetMinutes * 60_000;
  return ms >= 0 && ms <= MAX_TS ? ms : undefined;
}

export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function utcHour(ms: number): number {
  return new Date(ms).getUTCHours();
}

function isBlank(line: string): boolean {
  // JSON's own whitespace; anything else on the line makes it a (refused) non-JSON line.
  return /^[ \t\r\n]*$/.test(line);
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// ---------------------------------------------------------------- ingest

type IngestOutcome = { kind: 'blank' } | { kind: 'refused' } | { kind: 'stored'; event: Stored };

function ingestLine(raw: string): IngestOutcome {
  if (isBlank(raw)) return { kind: 'blank' };
  if (Buffer.byteLength(raw, 'utf8') > MAX_LINE_BYTES) return { kind: 'refused' };
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return { kind: 'refused' };
  }
  if (!isObject(body)) return { kind: 'refused' };
  const merchantId = field(body, 'merchant_id');
  const visitorId = field(body, 'visitor_id');
  const eventId = field(body, 'event_id');
  const ts = parseTs(field(body, 'ts'));
  if (typeof merchantId !== 'string' || !MERCHANT_ID.test(merchantId)) return { kind: 'refused' };
  if (!isIdString(visitorId) || !isIdString(eventId) || ts === undefined) return { kind: 'refused' };
  return {
    kind: 'stored',
    event: { merchant_id: merchantId, visitor_id: visitorId, event_id: eventId, ts, day: utcDay(ts), raw, body },
  };
}

/** Duplicates of one identity collapse to the earliest ts; equal ts fall back to the smallest raw line. */
function dedupe(events: Stored[]): Stored[] {
  const kept = new Map<string, Stored>();
  for (const e of events) {
    const key = JSON.stringify([e.merchant_id, e.day, e.visitor_id, e.event_id]);
    const prev = kept.get(key);
    if (!prev || e.ts < prev.ts || (e.ts === prev.ts && compareBytes(e.raw, prev.raw) < 0)) kept.set(key, e);
  }
  return [...kept.values()];
}

// ---------------------------------------------------------------- event rules

function validate(e: Stored): Valid | undefined {
  const b = e.body;
  const type = field(b, 'type');
  if (typeof type !== 'string' || !TYPES.includes(type)) return undefined;

  const productId = field(b, 'product_id');
  const needsProduct = type === 'product_view' || type === 'add_to_cart' || type === 'remove_from_cart';
  if (needsProduct && !isIdString(productId)) return undefined;

  const quantity = field(b, 'quantity');
  if ((type === 'add_to_cart' || type === 'remove_from_cart') && quantity !== undefined && !isWhole(quantity, 1, 10000)) {
    return undefined;
  }

  const price = field(b, 'price_cents');
  if (price !== undefined && !isWhole(price, 0, 1e9)) return undefined;

  let orderId: string | undefined;
  let orderTotal = 0;
  const items: Item[] = [];
  if (type === 'purchase') {
    const oid = field(b, 'order_id');
    if (!isIdString(oid)) return undefined;
    orderId = oid;
    const total = field(b, 'order_total_cents');
    if (!isWhole(total, 0, 1e10)) return undefined;
    orderTotal = total;
    const rawItems = field(b, 'items');
    if (rawItems !== undefined) {
      if (!Array.isArray(rawItems) || rawItems.length > 1000) return undefined;
      for (const it of rawItems as unknown[]) {
        if (!isObject(it)) return undefined;
        const pid = field(it, 'product_id');
        const q = field(it, 'quantity');
        const p = field(it, 'price_cents');
        if (!isIdString(pid) || !isWhole(q, 1, 10000) || !isWhole(p, 0, 1e9)) return undefined;
        items.push({ product_id: pid, quantity: q, price_cents: p });
      }
    }
  }

  return {
    visitor_id: e.visitor_id,
    event_id: e.event_id,
    ts: e.ts,
    type,
    product_id: needsProduct ? (productId as string) : undefined,
    order_id: orderId,
    order_total_cents: orderTotal,
    items,
  };
}

// ---------------------------------------------------------------- metrics

function summarize(merchantId: string, day: string, stored: Stored[]): ReferenceSummary {
  const valid: Valid[] = [];
  let invalid = 0;
  for (const e of stored) {
    const v = validate(e);
    if (v) valid.push(v);
    else invalid++;
  }

  const byTsThenId = (a: Valid, b: Valid): number => a.ts - b.ts || compareCodePoints(a.event_id, b.event_id);

  const byVisitor = new Map<string, Valid[]>();
  for (const v of valid) {
    const list = byVisitor.get(v.visitor_id) ?? [];
    list.push(v);
    byVisitor.set(v.visitor_id, list);
  }

  let sessions = 0;
  let bounced = 0;
  let duration = 0;
  let converting = 0;
  let abandoned = 0;
  for (const list of byVisitor.values()) {
    list.sort(byTsThenId);
    const groups: Valid[][] = [];
    let current: Valid[] = [];
    for (const v of list) {
      const last = current[current.length - 1];
      if (last && v.ts - last.ts > SESSION_GAP_MS) {
        groups.push(current);
        current = [];
      }
      current.push(v);
    }
    if (current.length > 0) groups.push(current);
    for (const g of groups) {
      sessions++;
      if (g.length === 1) bounced++;
      duration += (g[g.length - 1]?.ts ?? 0) - (g[0]?.ts ?? 0);
      const hasPurchase = g.some((v) => v.type === 'purchase');
      if (hasPurchase) converting++;
      if (!hasPurchase && g.some((v) => v.type === 'add_to_cart')) abandoned++;
    }
  }

  const count = (t: string): number => valid.filter((v) => v.type === t).length;

  // An order is a distinct (visitor_id, order_id); its kept purchase is the earliest by (ts, event_id).
  const orders = new Map<string, Valid>();
  for (const v of [...valid].sort(byTsThenId)) {
    if (v.type !== 'purchase') continue;
    const key = JSON.stringify([v.visitor_id, v.order_id]);
    if (!orders.has(key)) orders.set(key, v);
  }

  // BigInt so that long tails of 10^10 totals cannot lose cents before the final conversion.
  let revenue = 0n;
  let unitsSold = 0;
  const hourlyRevenue: bigint[] = Array.from({ length: 24 }, () => 0n);
  const products = new Map<string, { views: number; add_to_carts: number; units_sold: number; revenue: bigint }>();
  const product = (id: string): { views: number; add_to_carts: number; units_sold: number; revenue: bigint } => {
    let p = products.get(id);
    if (!p) {
      p = { views: 0, add_to_carts: 0, units_sold: 0, revenue: 0n };
      products.set(id, p);
    }
    return p;
  };
  for (const o of orders.values()) {
    revenue += BigInt(o.order_total_cents);
    const h = utcHour(o.ts);
    hourlyRevenue[h] = (hourlyRevenue[h] ?? 0n) + BigInt(o.order_total_cents);
    for (const it of o.items) {
      unitsSold += it.quantity;
      const p = product(it.product_id);
      p.units_sold += it.quantity;
      p.revenue += BigInt(it.quantity) * BigInt(it.price_cents);
    }
  }
  for (const v of valid) {
    if (v.type === 'product_view' && v.product_id !== undefined) product(v.product_id).views++;
    if (v.type === 'add_to_cart' && v.product_id !== undefined) product(v.product_id).add_to_carts++;
  }

  const top = [...products.entries()]
    .filter(([, p]) => p.views > 0 || p.add_to_carts > 0 || p.units_sold > 0 || p.revenue > 0n)
    .sort(([ida, a], [idb, b]) => b.views - a.views || b.units_sold - a.units_sold || compareCodePoints(ida, idb))
    .slice(0, 10)
    .map(([id, p]) => ({
      product_id: id,
      views: p.views,
      add_to_carts: p.add_to_carts,
      units_sold: p.units_sold,
      revenue_cents: Number(p.revenue),
    }));

  const hourlyEvents: number[] = Array.from({ length: 24 }, () => 0);
  for (const v of valid) {
    const h = utcHour(v.ts);
    hourlyEvents[h] = (hourlyEvents[h] ?? 0) + 1;
  }

  const revenueNumber = Number(revenue);
  return {
    merchant_id: merchantId,
    day,
    events: valid.length,
    invalid_events: invalid,
    visitors: byVisitor.size,
    sessions,
    bounced_sessions: bounced,
    session_duration_ms_total: duration,
    page_views: count('page_view'),
    product_views: count('product_view'),
    add_to_carts: count('add_to_cart'),
    remove_from_carts: count('remove_from_cart'),
    purchases: count('purchase'),
    orders: orders.size,
    revenue_cents: revenueNumber,
    units_sold: unitsSold,
    converting_sessions: converting,
    cart_abandoned_sessions: abandoned,
    conversion_rate: sessions === 0 ? 0 : converting / sessions,
    avg_order_value_cents: orders.size === 0 ? 0 : revenueNumber / orders.size,
    hourly_events: hourlyEvents,
    hourly_revenue_cents: hourlyRevenue.map((x) => Number(x)),
    top_products: top,
  };
}

// ---------------------------------------------------------------- entry points

export function referenceRun(lines: readonly string[]): ReferenceResult {
  let refused = 0;
  const stored: Stored[] = [];
  for (const line of lines) {
    const outcome = ingestLine(line);
    if (outcome.kind === 'refused') refused++;
    if (outcome.kind === 'stored') stored.push(outcome.event);
  }

  const groups = new Map<string, Map<string, Stored[]>>();
  for (const e of dedupe(stored)) {
    const byMerchant = groups.get(e.day) ?? new Map<string, Stored[]>();
    groups.set(e.day, byMerchant);
    const list = byMerchant.get(e.merchant_id) ?? [];
    list.push(e);
    byMerchant.set(e.merchant_id, list);
  }

  const summaries = new Map<string, ReferenceSummary[]>();
  for (const [day, byMerchant] of groups) {
    // merchant_id is ASCII-only, so UTF-16 order is byte order here.
    const merchants = [...byMerchant.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    summaries.set(
      day,
      merchants.map((m) => summarize(m, day, byMerchant.get(m) ?? [])),
    );
  }
  return { refused, summaries };
}

/** Report objects of one UTC day, sorted by merchant_id; empty when nothing was stored that day. */
export function referenceReport(lines: readonly string[], day: string): ReferenceSummary[] {
  return referenceRun(lines).summaries.get(day) ?? [];
}

export function referenceRefusedCount(lines: readonly string[]): number {
  return referenceRun(lines).refused;
}

/** Splits file content the way a line-oriented reader does: on \n, without a phantom last line. */
export function splitLines(content: string): string[] {
  const lines = content.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}
