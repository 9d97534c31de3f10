/**
 * Independent computation of the metrics contract with merchant time zones (issue 13), for the
 * integration tests to compare the pipeline with. It imports nothing from src/ (only the plain
 * helpers of ./reference.ts, which imports nothing from src/ either) and gets the zone data a
 * different way than src/domain/zones.ts, so that a bug in one is not copied into the other:
 *
 * - the offset of an instant is ICU's own offset text (`timeZoneName: 'longOffset'`, "GMT-07:00"),
 *   where zones.ts subtracts the instant from the wall-clock parts;
 * - the local date is an `en-CA` date string (YYYY-MM-DD);
 * - a day's start is found by walking minute by minute from 16 h before UTC midnight of that date
 *   to the first instant whose local date is that day or later, then bisecting to the ms, where
 *   zones.ts solves on constant-offset pieces.
 *
 * Rules, read from the issue: a merchant-day is the local date of ts in the merchant's zone (UTC
 * without one); it starts at the first instant whose local date is that day or later and ends
 * where the next day starts; where a zone's clock went back across midnight, an instant belongs to
 * the latest date already begun (the only way every day is one interval; docs/zones.md). Sessions
 * stay inside a merchant-day; hourly entry i counts [start + i h, start + (i + 1) h), and there are
 * ceil(length / 1 h) of them. ISO strings are local time with the offset then, `+00:00` for zero
 * and `±HH:MM:SS` when the offset has seconds (as Python's isoformat prints them). An event whose
 * local day would be after 9999-12-31 (a row key holds YYYYMMDD) is refused at ingest.
 *
 * Event rules follow docs/decisions.md: a listed field present on a type the contract does not
 * mention must still satisfy its value rule. Speed does not matter; every day is recomputed.
 */
import { compareCodePoints, parseTs, type ReferenceSummary, type ReferenceTopProduct } from './reference.js';

export interface ZonedReferenceSummary extends ReferenceSummary {
  time_zone: string;
  day_start: string;
  day_end: string;
}

export interface ZonedReferenceResult {
  refused: number;
  /** every local day with at least one stored event of some merchant; summaries sorted by merchant_id */
  summaries: Map<string, ZonedReferenceSummary[]>;
}

export interface ReferenceDay {
  start: number;
  end: number;
  hours: number;
  day_start: string;
  day_end: string;
}

const HOUR = 3_600_000;
const MINUTE = 60_000;
const STEP = 15 * MINUTE;
const GAP = 30 * MINUTE;
const SEARCH_BEFORE_UTC_MIDNIGHT = 16 * HOUR;
const LONGEST_LINE = 1_048_576;
const MERCHANT = /^[A-Za-z0-9_-]{1,64}$/;
const EVENT_TYPES = new Set(['page_view', 'product_view', 'add_to_cart', 'remove_from_cart', 'purchase']);

// ---------------------------------------------------------------- zones

/** YYYY-MM-DD order that also holds for the five-digit year 10000. */
function dateAtLeast(a: string, b: string): boolean {
  return a.length === b.length ? a >= b : a.length > b.length;
}

function followingDate(date: string): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const next = new Date(Date.UTC(2000, 0, 1));
  next.setUTCFullYear(y, m - 1, d + 1);
  const mm = String(next.getUTCMonth() + 1).padStart(2, '0');
  const dd = String(next.getUTCDate()).padStart(2, '0');
  return `${String(next.getUTCFullYear()).padStart(4, '0')}-${mm}-${dd}`;
}

class ReferenceZone {
  private readonly dates: Intl.DateTimeFormat;
  private readonly offsets: Intl.DateTimeFormat;
  private readonly startOf = new Map<string, number>();

  constructor(readonly name: string) {
    this.dates = new Intl.DateTimeFormat('en-CA', { timeZone: name, year: 'numeric', month: '2-digit', day: '2-digit' });
    this.offsets = new Intl.DateTimeFormat('en-US', { timeZone: name, timeZoneName: 'longOffset' });
  }

  date(t: number): string {
    return this.dates.format(t);
  }

  /** "+05:30", "-00:44:30", "+00:00": ICU's GMT offset text without the GMT. */
  offsetText(t: number): string {
    const label = this.offsets.formatToParts(t).find((p) => p.type === 'timeZoneName')?.value ?? '';
    const m = /^GMT(?:([+-])(\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(label);
    if (m === null) throw new Error(`unexpected offset label ${label} in ${this.name}`);
    if (m[1] === undefined) return '+00:00';
    return `${m[1]}${m[2]}:${m[3]}${m[4] === undefined || m[4] === '00' ? '' : `:${m[4]}`}`;
  }

  offsetMs(t: number): number {
    const m = /^([+-])(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(this.offsetText(t));
    if (m === null) throw new Error('unreachable');
    return (m[1] === '-' ? -1 : 1) * ((Number(m[2]) * 60 + Number(m[3])) * MINUTE + Number(m[4] ?? 0) * 1000);
  }

  /** The first instant whose local date is `date` or later. */
  start(date: string): number {
    const known = this.startOf.get(date);
    if (known !== undefined) return known;
    const [y, m, d] = date.split('-').map(Number) as [number, number, number];
    const utcMidnight = new Date(Date.UTC(2000, 0, 1)).setUTCFullYear(y, m - 1, d);
    const begun = (t: number): boolean => dateAtLeast(this.date(t), date);
    let lo = utcMidnight - SEARCH_BEFORE_UTC_MIDNIGHT; // the latest instant known not begun
    if (begun(lo)) throw new Error(`${this.name} is more than 16 h ahead of UTC before ${date}`);
    // Walk in steps of 15 minutes. With one offset over a step the clock only moves forward, so the
    // date can only have turned by the step's end; where the offset changes inside a step (the date
    // may then flip back and forth), walk that step minute by minute.
    let hi: number | undefined; // the earliest instant found begun
    let loOffset = this.offsetText(lo);
    while (hi === undefined) {
      const end = lo + STEP;
      const endOffset = this.offsetText(end);
      if (loOffset === endOffset) {
        if (begun(end)) hi = end;
        else lo = end;
      } else {
        for (let u = lo + MINUTE; u <= end && hi === undefined; u += MINUTE) {
          if (begun(u)) hi = u;
          else lo = u;
        }
      }
      loOffset = endOffset;
    }
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (begun(mid)) hi = mid;
      else lo = mid;
    }
    this.startOf.set(date, hi);
    return hi;
  }

  /** The merchant-day of an instant: its local date, or a later one that has already begun. */
  dayOf(t: number): string {
    let date = this.date(t);
    while (t >= this.start(followingDate(date))) date = followingDate(date);
    return date;
  }

  iso(t: number): string {
    const offset = this.offsetText(t);
    const wall = new Date(t + this.offsetMs(t)).toISOString().replace(/^\+0(\d{5})/, '$1');
    const [, clock = '', millis = ''] = /^(.*T\d{2}:\d{2}:\d{2})\.(\d{3})Z$/.exec(wall) ?? [];
    return `${clock}${millis === '000' ? '' : `.${millis}`}${offset}`;
  }

  day(date: string): ReferenceDay {
    const start = this.start(date);
    const end = this.start(followingDate(date));
    return { start, end, hours: Math.ceil((end - start) / HOUR), day_start: this.iso(start), day_end: this.iso(end) };
  }
}

const zonesByName = new Map<string, ReferenceZone>();

function zone(name: string): ReferenceZone {
  let z = zonesByName.get(name);
  if (z === undefined) {
    z = new ReferenceZone(name);
    zonesByName.set(name, z);
  }
  return z;
}

/** Local day of an instant in a zone, by the rules above. */
export function referenceLocalDay(ms: number, zoneName: string): string {
  return zone(zoneName).dayOf(ms);
}

/** Start, end, hours and ISO strings of a local day in a zone. */
export function referenceDay(date: string, zoneName: string): ReferenceDay {
  return zone(zoneName).day(date);
}

// ---------------------------------------------------------------- ingest

type Body = Record<string, unknown>;

interface StoredEvent {
  merchant: string;
  visitor: string;
  id: string;
  ts: number;
  day: string;
  line: string;
  body: Body;
}

/** Absent and null are the same thing in the contract. */
function get(body: Body, key: string): unknown {
  if (!Object.prototype.hasOwnProperty.call(body, key)) return undefined;
  return body[key] ?? undefined;
}

function isId(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  const chars = Array.from(v).length;
  return chars > 0 && chars <= 128;
}

function wholeIn(v: unknown, lo: number, hi: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && lo <= v && v <= hi;
}

function isRecord(v: unknown): v is Body {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** undefined: blank line; null: refused; else what ingest stores. */
function storeLine(line: string, zoneOf: (merchant: string) => string): StoredEvent | null | undefined {
  if (/^[\t\n\r ]*$/.test(line)) return undefined;
  if (Buffer.byteLength(line, 'utf8') > LONGEST_LINE) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return null;
  }
  if (!isRecord(parsed)) return null;
  const merchant = get(parsed, 'merchant_id');
  const visitor = get(parsed, 'visitor_id');
  const id = get(parsed, 'event_id');
  const ts = parseTs(get(parsed, 'ts'));
  if (typeof merchant !== 'string' || !MERCHANT.test(merchant) || !isId(visitor) || !isId(id) || ts === undefined) return null;
  const day = zone(zoneOf(merchant)).dayOf(ts);
  if (!dateAtLeast('9999-12-31', day)) return null;
  return { merchant, visitor, id, ts, day, line, body: parsed };
}

// ---------------------------------------------------------------- event rules

interface Purchase {
  order: string;
  total: number;
  items: Array<{ product: string; quantity: number; price: number }>;
}

interface Event {
  visitor: string;
  id: string;
  ts: number;
  type: string;
  product: string | undefined;
  purchase: Purchase | undefined;
}

const NEEDS_PRODUCT = new Set(['product_view', 'add_to_cart', 'remove_from_cart']);

/** The raw event contract on a stored event; undefined when it is invalid. */
function asEvent(e: StoredEvent): Event | undefined {
  const b = e.body;
  const type = get(b, 'type');
  if (typeof type !== 'string' || !EVENT_TYPES.has(type)) return undefined;
  const product = get(b, 'product_id');
  const quantity = get(b, 'quantity');
  const price = get(b, 'price_cents');
  const order = get(b, 'order_id');
  const total = get(b, 'order_total_cents');
  const items = get(b, 'items');
  // A field of the table must satisfy its rule wherever it appears (docs/decisions.md) ...
  if (product !== undefined && !isId(product)) return undefined;
  if (quantity !== undefined && !wholeIn(quantity, 1, 10_000)) return undefined;
  if (price !== undefined && !wholeIn(price, 0, 1_000_000_000)) return undefined;
  if (order !== undefined && !isId(order)) return undefined;
  if (total !== undefined && !wholeIn(total, 0, 10_000_000_000)) return undefined;
  const itemOk = (it: unknown): it is Body =>
    isRecord(it) && isId(get(it, 'product_id')) && wholeIn(get(it, 'quantity'), 1, 10_000) && wholeIn(get(it, 'price_cents'), 0, 1_000_000_000);
  if (items !== undefined && !(Array.isArray(items) && items.length <= 1000 && (items as unknown[]).every(itemOk))) return undefined;
  const list: Purchase['items'] = ((items ?? []) as Body[]).map((it) => ({
    product: get(it, 'product_id') as string,
    quantity: get(it, 'quantity') as number,
    price: get(it, 'price_cents') as number,
  }));
  // ... and is required only where the contract says so.
  if (NEEDS_PRODUCT.has(type) && product === undefined) return undefined;
  if (type === 'purchase' && (order === undefined || total === undefined)) return undefined;
  return {
    visitor: e.visitor,
    id: e.id,
    ts: e.ts,
    type,
    product: typeof product === 'string' ? product : undefined,
    purchase: type === 'purchase' ? { order: order as string, total: total as number, items: list } : undefined,
  };
}

// ---------------------------------------------------------------- one merchant-day

function inOrder(a: Event, b: Event): number {
  return a.ts !== b.ts ? a.ts - b.ts : compareCodePoints(a.id, b.id);
}

function summarizeDay(merchant: string, zoneName: string, date: string, stored: readonly StoredEvent[]): ZonedReferenceSummary {
  const bounds = zone(zoneName).day(date);
  const hourOf = (ts: number): number => Math.floor((ts - bounds.start) / HOUR);
  const events = stored.map(asEvent).filter((e): e is Event => e !== undefined).sort(inOrder);

  const hourlyEvents = new Array<number>(bounds.hours).fill(0);
  const hourlyRevenue = new Array<bigint>(bounds.hours).fill(0n);
  const countOf: Record<string, number> = { page_view: 0, product_view: 0, add_to_cart: 0, remove_from_cart: 0, purchase: 0 };
  const views = new Map<string, number>();
  const carts = new Map<string, number>();
  for (const e of events) {
    const h = hourOf(e.ts);
    if (h < 0 || h >= bounds.hours) throw new Error(`event ${e.id} at ${e.ts} outside ${merchant} ${date}`);
    hourlyEvents[h] = (hourlyEvents[h] ?? 0) + 1;
    countOf[e.type] = (countOf[e.type] ?? 0) + 1;
    if (e.type === 'product_view' && e.product !== undefined) views.set(e.product, (views.get(e.product) ?? 0) + 1);
    if (e.type === 'add_to_cart' && e.product !== undefined) carts.set(e.product, (carts.get(e.product) ?? 0) + 1);
  }

  // Sessions: per visitor, in (ts, event_id) order, cut where the gap exceeds 30 minutes.
  const visitors = new Map<string, Event[][]>();
  for (const e of events) {
    const sessions = visitors.get(e.visitor) ?? [];
    visitors.set(e.visitor, sessions);
    const current = sessions[sessions.length - 1];
    const previous = current?.[current.length - 1];
    if (current === undefined || previous === undefined || e.ts - previous.ts > GAP) sessions.push([e]);
    else current.push(e);
  }
  const allSessions = [...visitors.values()].flat();
  const hasType = (s: readonly Event[], type: string): boolean => s.some((e) => e.type === type);
  const converting = allSessions.filter((s) => hasType(s, 'purchase')).length;
  const abandoned = allSessions.filter((s) => !hasType(s, 'purchase') && hasType(s, 'add_to_cart')).length;

  // Orders: (visitor, order_id); the kept purchase is the first in (ts, event_id) order.
  const kept = new Map<string, Event>();
  for (const e of events) {
    if (e.purchase === undefined) continue;
    const key = `${e.visitor.length}:${e.visitor}${e.purchase.order}`;
    if (!kept.has(key)) kept.set(key, e);
  }
  let revenue = 0n;
  let units = 0;
  const sold = new Map<string, { units: number; revenue: bigint }>();
  for (const e of kept.values()) {
    const p = e.purchase as Purchase;
    revenue += BigInt(p.total);
    const h = hourOf(e.ts);
    hourlyRevenue[h] = (hourlyRevenue[h] ?? 0n) + BigInt(p.total);
    for (const it of p.items) {
      units += it.quantity;
      const s = sold.get(it.product) ?? { units: 0, revenue: 0n };
      s.units += it.quantity;
      s.revenue += BigInt(it.quantity) * BigInt(it.price);
      sold.set(it.product, s);
    }
  }

  const productIds = new Set([...views.keys(), ...carts.keys(), ...sold.keys()]);
  const products: ReferenceTopProduct[] = [...productIds]
    .map((product_id) => ({
      product_id,
      views: views.get(product_id) ?? 0,
      add_to_carts: carts.get(product_id) ?? 0,
      units_sold: sold.get(product_id)?.units ?? 0,
      revenue_cents: Number(sold.get(product_id)?.revenue ?? 0n),
    }))
    .filter((p) => p.views + p.add_to_carts + p.units_sold + p.revenue_cents > 0);
  products.sort((a, b) => b.views - a.views || b.units_sold - a.units_sold || compareCodePoints(a.product_id, b.product_id));

  const sessions = allSessions.length;
  const orders = kept.size;
  const revenueCents = Number(revenue);
  return {
    merchant_id: merchant,
    day: date,
    events: events.length,
    invalid_events: stored.length - events.length,
    visitors: visitors.size,
    sessions,
    bounced_sessions: allSessions.filter((s) => s.length === 1).length,
    session_duration_ms_total: allSessions.reduce((sum, s) => sum + ((s[s.length - 1]?.ts ?? 0) - (s[0]?.ts ?? 0)), 0),
    page_views: countOf.page_view ?? 0,
    product_views: countOf.product_view ?? 0,
    add_to_carts: countOf.add_to_cart ?? 0,
    remove_from_carts: countOf.remove_from_cart ?? 0,
    purchases: countOf.purchase ?? 0,
    orders,
    revenue_cents: revenueCents,
    units_sold: units,
    converting_sessions: converting,
    cart_abandoned_sessions: abandoned,
    conversion_rate: sessions === 0 ? 0 : converting / sessions,
    avg_order_value_cents: orders === 0 ? 0 : revenueCents / orders,
    hourly_events: hourlyEvents,
    hourly_revenue_cents: hourlyRevenue.map(Number),
    top_products: products.slice(0, 10),
    time_zone: zoneName,
    day_start: bounds.day_start,
    day_end: bounds.day_end,
  };
}

// ---------------------------------------------------------------- entry points

function utf8Order(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Every merchant-day of the lines. `zones` maps merchant_id to its IANA zone, spelt as the
 * registry holds it; a merchant missing from it is in "UTC".
 */
export function zonedReferenceRun(lines: readonly string[], zones: Readonly<Record<string, string>>): ZonedReferenceResult {
  const zoneOf = (merchant: string): string => (Object.prototype.hasOwnProperty.call(zones, merchant) ? (zones[merchant] ?? 'UTC') : 'UTC');
  let refused = 0;
  // Identity → the occurrence kept: earliest ts, then the smallest line in UTF-8 byte order.
  const kept = new Map<string, StoredEvent>();
  for (const line of lines) {
    const e = storeLine(line, zoneOf);
    if (e === null) refused++;
    if (e === null || e === undefined) continue;
    const identity = JSON.stringify([e.merchant, e.day, e.visitor, e.id]);
    const other = kept.get(identity);
    if (other === undefined || e.ts < other.ts || (e.ts === other.ts && utf8Order(e.line, other.line) < 0)) kept.set(identity, e);
  }

  const byDay = new Map<string, Map<string, StoredEvent[]>>();
  for (const e of kept.values()) {
    const merchants = byDay.get(e.day) ?? new Map<string, StoredEvent[]>();
    byDay.set(e.day, merchants);
    const list = merchants.get(e.merchant) ?? [];
    merchants.set(e.merchant, list);
    list.push(e);
  }
  const summaries = new Map<string, ZonedReferenceSummary[]>();
  for (const [date, merchants] of byDay) {
    const ids = [...merchants.keys()].sort(utf8Order);
    summaries.set(
      date,
      ids.map((m) => summarizeDay(m, zoneOf(m), date, merchants.get(m) ?? [])),
    );
  }
  return { refused, summaries };
}

/** `report --day D --json` as the extended contract defines it: D's merchant-days by merchant_id. */
export function zonedReferenceReport(lines: readonly string[], zones: Readonly<Record<string, string>>, date: string): ZonedReferenceSummary[] {
  return zonedReferenceRun(lines, zones).summaries.get(date) ?? [];
}
