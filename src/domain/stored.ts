/**
 * The pre-validated form of a stored occurrence: what `validateStored` made of the line at ingest,
 * in a few bytes, so the night need not `JSON.parse` and re-check every stored line again.
 *
 * Where it lives: appended to the occurrence's qualifier (after ts | sha | batch, see rowkey.ts),
 * not in a cell of its own. The raw line stays the cell's value, byte for byte, for audit and the
 * quarantine; the qualifier is stored once per cell anyway, so the compact form costs only its own
 * bytes (3–30 for a typical event, 12 on average in the bench) and no schema change: old cells simply have none.
 *
 * Why it is safe to trust:
 * - It is written in the same cell as the raw line, by the ingest that validated that very line;
 *   a cell cannot hold one without the other.
 * - The first byte is `STORED_FORMAT`, which also names the contract rules that produced it. A
 *   night whose code has other rules (another format byte) ignores the form and re-derives the
 *   event from the raw line, so an upgrade never mixes verdicts of two rule sets.
 * - Decoding is total and strict (known type, known flags, exact length); anything else returns
 *   undefined and the night falls back to the raw line. The night's output is the same either way:
 *   `decodeStoredEvent(encodeStoredEvent(e)) ≡ e` is a unit-tested property over the generator, the
 *   contract sample and fuzzed lines.
 * - Only valid events get one: an invalid line costs nothing extra and the night explains it from
 *   the raw line as before. Events whose form would exceed `MAX_STORED_BYTES` (huge item lists)
 *   get none either, so no qualifier grows unbounded.
 *
 * event_id and visitor_id are not repeated: they are in the row key. ts is the qualifier's first
 * 8 bytes (the same `parseTs` value validation produced).
 */
import { EVENT_TYPES, type EventType, type OrderItem, type ValidEvent } from './types.js';

/** Bump when the validation rules or this layout change: older forms are then ignored, never misread. */
export const STORED_FORMAT = 0x01;
/** A form longer than this is not written (the night parses the raw line instead). */
export const MAX_STORED_BYTES = 2048;

const F_PRODUCT = 1;
const F_QUANTITY = 2;
const F_PRICE = 4;
const F_ORDER = 8;
const F_TOTAL = 16;
const F_ITEMS = 32;
const KNOWN_FLAGS = 63;

const TYPE_INDEX = new Map<EventType, number>(EVENT_TYPES.map((t, i) => [t, i]));

class Writer {
  private buf = Buffer.allocUnsafe(64);
  n = 0;
  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.n + k));
    this.buf.copy(next, 0, 0, this.n);
    this.buf = next;
  }
  byte(b: number): void {
    this.room(1);
    this.buf[this.n++] = b;
  }
  /** unsigned varint of a whole number up to 2^53 (division, not bit ops: cents go past 2^32) */
  uint(v: number): void {
    this.room(8);
    while (v >= 0x80) {
      this.buf[this.n++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.n++] = v;
  }
  str(s: string): void {
    const len = Buffer.byteLength(s, 'utf8');
    this.uint(len);
    this.room(len);
    this.n += this.buf.write(s, this.n, 'utf8');
  }
  take(): Buffer {
    return this.buf.subarray(0, this.n);
  }
}

/** The compact form of a valid event (format byte first), or undefined when it would be too long. */
export function encodeStoredEvent(e: ValidEvent): Buffer | undefined {
  const w = new Writer();
  w.byte(STORED_FORMAT);
  w.byte(TYPE_INDEX.get(e.type)!);
  const flags = (e.product_id !== undefined ? F_PRODUCT : 0) | (e.quantity !== undefined ? F_QUANTITY : 0) | (e.price_cents !== undefined ? F_PRICE : 0)
    | (e.order_id !== undefined ? F_ORDER : 0) | (e.order_total_cents !== undefined ? F_TOTAL : 0) | (e.items !== undefined ? F_ITEMS : 0);
  w.byte(flags);
  if (e.product_id !== undefined) w.str(e.product_id);
  if (e.quantity !== undefined) w.uint(e.quantity);
  if (e.price_cents !== undefined) w.uint(e.price_cents);
  if (e.order_id !== undefined) w.str(e.order_id);
  if (e.order_total_cents !== undefined) w.uint(e.order_total_cents);
  if (e.items !== undefined) {
    w.uint(e.items.length);
    for (const it of e.items) {
      w.str(it.product_id);
      w.uint(it.quantity);
      w.uint(it.price_cents);
      if (w.n > MAX_STORED_BYTES) return undefined;
    }
  }
  return w.n > MAX_STORED_BYTES ? undefined : Buffer.from(w.take());
}

class Reader {
  constructor(private readonly buf: Buffer, public pos: number) {}
  byte(): number {
    if (this.pos >= this.buf.length) throw RangeError('short');
    return this.buf[this.pos++]!;
  }
  uint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = this.byte();
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 0x80;
      if (mul > 2 ** 56) throw RangeError('varint too long');
    }
  }
  str(): string {
    const len = this.uint();
    if (this.pos + len > this.buf.length) throw RangeError('short');
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }
  get done(): boolean {
    return this.pos === this.buf.length;
  }
}

/**
 * The event a compact form at `buf[offset..]` holds, with the identity the row key and qualifier
 * carry; undefined for no form, another format or any inconsistency (the caller then parses the line).
 */
export function decodeStoredEvent(buf: Buffer, offset: number, id: { event_id: string; visitor_id: string; ts: number }): ValidEvent | undefined {
  if (buf.length <= offset || buf[offset] !== STORED_FORMAT) return undefined;
  try {
    const r = new Reader(buf, offset + 1);
    const type = EVENT_TYPES[r.byte()];
    const flags = r.byte();
    if (type === undefined || (flags & ~KNOWN_FLAGS) !== 0) return undefined;
    // Same key order as validateStored builds, so anything that serialises the event sees the same object.
    const e: ValidEvent = { event_id: id.event_id, visitor_id: id.visitor_id, ts: id.ts, type };
    if (flags & F_PRODUCT) e.product_id = r.str();
    if (flags & F_QUANTITY) e.quantity = r.uint();
    if (flags & F_PRICE) e.price_cents = r.uint();
    if (flags & F_ORDER) e.order_id = r.str();
    if (flags & F_TOTAL) e.order_total_cents = r.uint();
    if (flags & F_ITEMS) {
      const n = r.uint();
      const items: OrderItem[] = [];
      for (let i = 0; i < n; i++) {
        const product_id = r.str();
        const quantity = r.uint();
        const price_cents = r.uint();
        items.push({ product_id, quantity, price_cents });
      }
      e.items = items;
    }
    return r.done ? e : undefined;
  } catch {
    return undefined;
  }
}
