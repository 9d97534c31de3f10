/**
 * The raw event contract, split in its two levels: what ingest refuses outright (`checkIngest`)
 * and what the nightly run counts as stored-but-invalid (`validateStored`).
 *
 * Interpretation decisions:
 * - "Characters" are Unicode code points (an emoji is one character, not two UTF-16 units).
 * - The 1 MiB limit is on the UTF-8 bytes of the line as given, i.e. without its `\n`; a trailing
 *   `\r` of a CRLF file counts, because it is part of what the merchant sent on that line.
 * - Blank means JSON whitespace only (space, tab, CR, LF); any other invisible character makes the
 *   line invalid JSON rather than silently skipped.
 * - Duplicate keys in one object: the last one wins (JSON.parse semantics).
 * - A whole number is judged on the parsed double, so 3.0 is whole and 3.5 is not; a literal like
 *   3.0000000000000001 that rounds to 3 is therefore accepted, and 1e400 (Infinity) is refused.
 * - A field of the table present on a type the table does not mention (quantity on page_view,
 *   order fields or items on a non-purchase, product_id on page_view or purchase) must still
 *   satisfy its value rule, but is neither required nor forbidden there. "Any other field is
 *   ignored" is about fields outside the table; the sample's `quantity: null` on a page_view being
 *   valid is consistent with this (null is absent) and the sample has no counter-example.
 *   Such fields are not carried into ValidEvent because no metric reads them on those types.
 * - Items' three fields are all required (null = absent = invalid); an empty items array is valid.
 * - order_total_cents is not checked against the items (the sample keeps such orders valid).
 */
import { EVENT_TYPES, type EventIdentity, type EventType, type OrderItem, type ValidEvent } from './types.js';
import { parseTs, utcDay } from './timestamp.js';

export const MAX_LINE_BYTES = 1_048_576;
export const MAX_ID_CHARS = 128;
export const MAX_QUANTITY = 10_000;
export const MAX_PRICE_CENTS = 1_000_000_000;
export const MAX_ORDER_TOTAL_CENTS = 10_000_000_000;
export const MAX_ITEMS = 1000;

const MERCHANT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const JSON_BLANK = /^[ \t\r\n]*$/;

export type RefuseReason =
  | 'too_long'
  | 'invalid_utf8'
  | 'invalid_json'
  | 'not_object'
  | 'bad_merchant_id'
  | 'bad_visitor_id'
  | 'bad_event_id'
  | 'bad_ts';

export type IngestResult =
  | { kind: 'blank' }
  /** `merchant_id` and `day` when they could be read (a rejected line is listed under its day) */
  | { kind: 'refused'; reason: RefuseReason; detail: string; merchant_id?: string; day?: string }
  | { kind: 'ok'; identity: EventIdentity; raw: Record<string, unknown> };

/** The day an event of a merchant belongs to: the UTC date of ts unless the merchant's zone says otherwise. */
export type DayOf = (merchantId: string, ts: number) => string;
export const utcDayOf: DayOf = (_m, ts) => utcDay(ts);

export type InvalidReason =
  | 'bad_identity'
  | 'missing_type'
  | 'bad_type'
  | 'missing_product_id'
  | 'bad_product_id'
  | 'bad_quantity'
  | 'bad_price_cents'
  | 'missing_order_id'
  | 'bad_order_id'
  | 'missing_order_total_cents'
  | 'bad_order_total_cents'
  | 'bad_items';

export type ValidationResult =
  | { ok: true; event: ValidEvent }
  | { ok: false; reason: InvalidReason; detail: string };

/** Number of Unicode code points; a lone surrogate counts as one. */
export function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/**
 * Orders strings by Unicode code point (Python's str order), which is also UTF-8 byte order.
 * JS `<` compares UTF-16 units and would put U+1F642 before U+FFFD.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      // Lift surrogates above U+E000–U+FFFF so that code units compare like code points.
      if (x >= 0xd800 && y >= 0xd800) {
        x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
        y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
      }
      return x < y ? -1 : 1;
    }
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** null counts as absent everywhere in the contract. */
function field(raw: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(raw, name) ? (raw[name] ?? undefined) : undefined;
}

/** A lone surrogate: a UTF-16 half without its other half (valid in a JSON escape, not a character). */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function isIdString(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  const n = codePointLength(v);
  // An id with a lone surrogate has no UTF-8 form: "v\ud800" and "v\udbff" would be one key.
  return n >= 1 && n <= MAX_ID_CHARS && !LONE_SURROGATE.test(v);
}

function isWholeIn(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (typeof v === 'string') {
    const lone = LONE_SURROGATE.exec(v);
    if (lone) return `string with a lone surrogate \\u${lone[0].charCodeAt(0).toString(16)} at position ${lone.index} (not a Unicode character)`;
    return `string of ${codePointLength(v)} characters`;
  }
  if (typeof v === 'number') return `number ${String(v)}`;
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

type IdentityCheck = { ok: true; identity: EventIdentity } | { ok: false; reason: RefuseReason; detail: string };

function checkIdentity(raw: Record<string, unknown>, dayOf: DayOf = utcDayOf): IdentityCheck {
  const merchant_id = field(raw, 'merchant_id');
  if (typeof merchant_id !== 'string' || !MERCHANT_ID.test(merchant_id)) {
    return { ok: false, reason: 'bad_merchant_id', detail: `merchant_id must match ${MERCHANT_ID.source}, got ${describe(merchant_id)}` };
  }
  const visitor_id = field(raw, 'visitor_id');
  if (!isIdString(visitor_id)) {
    return { ok: false, reason: 'bad_visitor_id', detail: `visitor_id must be 1–128 characters, got ${describe(visitor_id)}` };
  }
  const event_id = field(raw, 'event_id');
  if (!isIdString(event_id)) {
    return { ok: false, reason: 'bad_event_id', detail: `event_id must be 1–128 characters, got ${describe(event_id)}` };
  }
  const ts = parseTs(field(raw, 'ts'));
  if (!ts.ok) return { ok: false, reason: 'bad_ts', detail: `ts: ${ts.reason}` };
  const day = dayOf(merchant_id, ts.ms);
  // Within 14 h of the contract's last instant, zones east of UTC are already on 10000-01-01,
  // which no YYYYMMDD row key holds.
  if (day.length !== 10) return { ok: false, reason: 'bad_ts', detail: `ts: ${new Date(ts.ms).toISOString()} is on ${day} in the merchant's zone; days end at 9999-12-31` };
  return { ok: true, identity: { merchant_id, day, visitor_id, event_id, ts: ts.ms } };
}

/** The merchant and day of a refused object, when both can be read: the refusal is listed under them. */
function whereOf(raw: Record<string, unknown>, dayOf: DayOf): { merchant_id?: string; day?: string } {
  const m = field(raw, 'merchant_id');
  if (typeof m !== 'string' || !MERCHANT_ID.test(m)) return {};
  const ts = parseTs(field(raw, 'ts'));
  return ts.ok ? { merchant_id: m, day: dayOf(m, ts.ms) } : { merchant_id: m };
}

/** Ingest-level rules for one line, without its terminating `\n`. */
export function checkIngest(line: string, dayOf: DayOf = utcDayOf): IngestResult {
  // Cheap bound first: a UTF-8 byte is at most one UTF-16 unit and at most 3 bytes per unit.
  if (line.length > MAX_LINE_BYTES || (line.length * 3 > MAX_LINE_BYTES && utf8Length(line) > MAX_LINE_BYTES)) {
    return { kind: 'refused', reason: 'too_long', detail: `line longer than ${MAX_LINE_BYTES} bytes of UTF-8` };
  }
  if (JSON_BLANK.test(line)) return { kind: 'blank' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (e) {
    return { kind: 'refused', reason: 'invalid_json', detail: e instanceof Error ? e.message : String(e) };
  }
  if (!isPlainObject(parsed)) {
    return { kind: 'refused', reason: 'not_object', detail: `top-level JSON value is ${parsed === null ? 'null' : describe(parsed)}` };
  }
  const id = checkIdentity(parsed, dayOf);
  if (!id.ok) return { kind: 'refused', reason: id.reason, detail: id.detail, ...whereOf(parsed, dayOf) };
  return { kind: 'ok', identity: id.identity, raw: parsed };
}

/**
 * Which of several stored occurrences of one identity the nightly run keeps: the earliest ts; on
 * equal ts the smallest raw line in UTF-8 byte order (code point order is the same order), so the
 * choice never depends on arrival order. Identical retries are equal under both keys, which is fine.
 */
export function pickOccurrence<T extends { ts: number; raw: string }>(occurrences: readonly T[]): T {
  let best: T | undefined;
  for (const o of occurrences) {
    if (best === undefined || o.ts < best.ts || (o.ts === best.ts && compareCodePoints(o.raw, best.raw) < 0)) best = o;
  }
  if (best === undefined) throw new RangeError('pickOccurrence needs at least one occurrence');
  return best;
}

const PRODUCT_TYPES: ReadonlySet<EventType> = new Set(['product_view', 'add_to_cart', 'remove_from_cart']);
const QUANTITY_TYPES: ReadonlySet<EventType> = new Set(['add_to_cart', 'remove_from_cart']);

function isEventType(v: unknown): v is EventType {
  return typeof v === 'string' && (EVENT_TYPES as readonly string[]).includes(v);
}

function invalid(reason: InvalidReason, detail: string): ValidationResult {
  return { ok: false, reason, detail };
}

type ItemsCheck = { ok: true; items: OrderItem[] } | { ok: false; detail: string };

function checkItems(v: unknown): ItemsCheck {
  if (!Array.isArray(v)) return { ok: false, detail: `items must be an array, got ${describe(v)}` };
  if (v.length > MAX_ITEMS) return { ok: false, detail: `items has ${v.length} entries, at most ${MAX_ITEMS} allowed` };
  const items: OrderItem[] = [];
  for (let i = 0; i < v.length; i++) {
    const it: unknown = v[i];
    if (!isPlainObject(it)) return { ok: false, detail: `items[${i}] must be an object, got ${it === null ? 'null' : describe(it)}` };
    const product_id = field(it, 'product_id');
    const quantity = field(it, 'quantity');
    const price_cents = field(it, 'price_cents');
    if (!isIdString(product_id)) return { ok: false, detail: `items[${i}].product_id must be 1–128 characters, got ${describe(product_id)}` };
    if (!isWholeIn(quantity, 1, MAX_QUANTITY)) return { ok: false, detail: `items[${i}].quantity must be whole 1–${MAX_QUANTITY}, got ${describe(quantity)}` };
    if (!isWholeIn(price_cents, 0, MAX_PRICE_CENTS)) return { ok: false, detail: `items[${i}].price_cents must be whole 0–${MAX_PRICE_CENTS}, got ${describe(price_cents)}` };
    items.push({ product_id, quantity, price_cents });
  }
  return { ok: true, items };
}

/** Every rule of the raw event contract, applied to a stored (already ingest-checked) event. */
export function validateStored(raw: Record<string, unknown>): ValidationResult {
  // Stored events passed ingest, but re-checking keeps this function total on any input.
  const id = checkIdentity(raw);
  if (!id.ok) return invalid('bad_identity', id.detail);
  const { event_id, visitor_id, ts } = id.identity;

  const type = field(raw, 'type');
  if (type === undefined) return invalid('missing_type', 'type is required');
  if (!isEventType(type)) return invalid('bad_type', `type must be one of ${EVENT_TYPES.join(', ')}, got ${describe(type)}`);

  const product_id = field(raw, 'product_id');
  if (product_id === undefined) {
    if (PRODUCT_TYPES.has(type)) return invalid('missing_product_id', `product_id is required on ${type}`);
  } else if (!isIdString(product_id)) {
    return invalid('bad_product_id', `product_id must be 1–128 characters, got ${describe(product_id)}`);
  }

  const quantity = field(raw, 'quantity');
  if (quantity !== undefined && !isWholeIn(quantity, 1, MAX_QUANTITY)) {
    return invalid('bad_quantity', `quantity must be whole 1–${MAX_QUANTITY}, got ${describe(quantity)}`);
  }

  const price_cents = field(raw, 'price_cents');
  if (price_cents !== undefined && !isWholeIn(price_cents, 0, MAX_PRICE_CENTS)) {
    return invalid('bad_price_cents', `price_cents must be whole 0–${MAX_PRICE_CENTS}, got ${describe(price_cents)}`);
  }

  const order_id = field(raw, 'order_id');
  if (order_id === undefined) {
    if (type === 'purchase') return invalid('missing_order_id', 'order_id is required on purchase');
  } else if (!isIdString(order_id)) {
    return invalid('bad_order_id', `order_id must be 1–128 characters, got ${describe(order_id)}`);
  }

  const order_total_cents = field(raw, 'order_total_cents');
  if (order_total_cents === undefined) {
    if (type === 'purchase') return invalid('missing_order_total_cents', 'order_total_cents is required on purchase');
  } else if (!isWholeIn(order_total_cents, 0, MAX_ORDER_TOTAL_CENTS)) {
    return invalid('bad_order_total_cents', `order_total_cents must be whole 0–${MAX_ORDER_TOTAL_CENTS}, got ${describe(order_total_cents)}`);
  }

  const rawItems = field(raw, 'items');
  let items: OrderItem[] | undefined;
  if (rawItems !== undefined) {
    const checked = checkItems(rawItems);
    if (!checked.ok) return invalid('bad_items', checked.detail);
    items = checked.items;
  }

  const event: ValidEvent = { event_id, visitor_id, ts, type };
  if (product_id !== undefined && PRODUCT_TYPES.has(type)) event.product_id = product_id;
  if (quantity !== undefined && QUANTITY_TYPES.has(type)) event.quantity = quantity;
  // -0 is whole and in range; normalise so it cannot leak out as "-0".
  if (price_cents !== undefined) event.price_cents = price_cents === 0 ? 0 : price_cents;
  if (type === 'purchase') {
    if (order_id !== undefined) event.order_id = order_id;
    if (order_total_cents !== undefined) event.order_total_cents = order_total_cents === 0 ? 0 : order_total_cents;
    if (items !== undefined) event.items = items.map((it) => ({ ...it, price_cents: it.price_cents === 0 ? 0 : it.price_cents }));
  }
  return { ok: true, event };
}
