/**
 * Deterministic synthetic merchant traffic for one day, as NDJSON lines the way merchants send
 * them: uneven merchant sizes, session funnels, retries, stored-but-invalid events, lines ingest
 * must refuse, blank lines and every allowed ts encoding. The same options always give the same
 * lines, byte for byte, so a run can be reproduced from its seed alone.
 *
 * Memory stays bounded: merchants are interleaved one visitor at a time and only one visitor's
 * lines (plus a small queue of delayed retries per merchant) exist at once.
 */
import { dayProblem } from '../domain/day.js';

export interface SeedOptions {
  /** the UTC day D, YYYY-MM-DD; a few events land on D-1 and D+1 on purpose */
  day: string;
  /** approximate number of lines to yield, blank and refused lines included */
  events: number;
  merchants: number;
  seed: number;
  /**
   * The first instant of day D for a merchant in a time zone (its local midnight): that merchant's
   * traffic is laid out over its own day instead of the UTC one. Absent or undefined: the UTC day.
   */
  dayStartOf?: (merchantId: string) => number | undefined;
  /**
   * The scale bench's big day (issue 15): merchant 0 gets this share of the lines (0..1) and the
   * others split the rest Zipf-like. Absent: the plain Zipf-like budgets (the default output is
   * unchanged byte for byte).
   */
  topShare?: number;
  /** A bot visitor of merchant 0 with this many events spread over the day (one all-day session). Absent: none. */
  botEvents?: number;
}

const DAY_MS = 86_400_000;
const MINUTE = 60_000;
const SESSION_GAP = 1_800_000;

// Shares of stored events; the rest of the realism lives in the per-merchant profile.
const INVALID_SHARE = 0.005;
const RETRY_SHARE = 0.01;
const REFUSED_SHARE = 0.0003;
const BLANK_SHARE = 0.0001;
const MAX_PENDING_RETRIES = 32;

// ---------------------------------------------------------------- PRNG

/** sfc32 seeded through splitmix32: small, fast, and good enough for traffic shapes. */
class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream: number) {
    let s = (Math.trunc(seed) ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
    const split = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    this.d = split();
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** [0, 1) */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** inclusive bounds */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** exponential with the given mean, for think times between clicks */
  exp(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }

  hex(n: number): string {
    let s = '';
    while (s.length < n) s += this.u32().toString(16).padStart(8, '0');
    return s.slice(0, n);
  }
}

/** Stateless hash so catalog prices need no stored catalog. */
function hash32(a: number, b: number): number {
  let h = Math.imul(a ^ 0x27d4eb2d, 0x165667b1) ^ Math.imul(b + 0x3c6ef372, 0x85ebca77);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
  return (h ^ (h >>> 15)) >>> 0;
}

// ---------------------------------------------------------------- line building

/** A line under construction: ordered key / raw JSON text pairs, so mutations can forge any value. */
type Fields = [string, string][];

const str = (s: string): string => JSON.stringify(s);

/** Some merchants' JSON encoders escape everything non-ASCII; the parsed value is the same. */
function asciiStr(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function setField(f: Fields, key: string, value: string | undefined): void {
  const i = f.findIndex(([k]) => k === key);
  if (value === undefined) {
    if (i >= 0) f.splice(i, 1);
  } else if (i >= 0) {
    f[i] = [key, value];
  } else {
    f.push([key, value]);
  }
}

function render(f: Fields, spaced: boolean): string {
  const sep = spaced ? ', ' : ',';
  const colon = spaced ? ': ' : ':';
  return `{${f.map(([k, v]) => `"${k}"${colon}${v}`).join(sep)}}`;
}

// ---------------------------------------------------------------- ts encodings

type TsStyle = 'epoch' | 'isoZ' | 'offset' | 'mixed';
const OFFSETS_MIN = [60, 120, -300, -480, 330, 540, -210, 345, 600, -60];

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

function isoTs(rng: Rng, ms: number, offsetMin: number, digits: number): string {
  const local = new Date(ms + offsetMin * MINUTE).toISOString();
  let s = local.slice(0, 19);
  if (digits > 0) {
    const millis = local.slice(20, 23);
    // Digits past the millisecond are noise the contract truncates away.
    s += `.${digits <= 3 ? millis.slice(0, digits) : millis + String(rng.int(0, 999999)).padStart(6, '0').slice(0, digits - 3)}`;
  }
  if (offsetMin === 0) return `${s}${rng.chance(0.9) ? 'Z' : rng.chance(0.8) ? '+00:00' : '-00:00'}`;
  const abs = Math.abs(offsetMin);
  return `${s}${offsetMin < 0 ? '-' : '+'}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`;
}

function encodeTs(rng: Rng, ms: number, style: TsStyle): string {
  const s = style === 'mixed' ? rng.pick<TsStyle>(['epoch', 'epoch', 'isoZ', 'offset']) : style;
  if (s === 'epoch') {
    // 3.0 is a whole number too, and some encoders print floats that way.
    const r = rng.next();
    return r < 0.04 ? `${ms}.0` : r < 0.05 ? `${ms}.000` : String(ms);
  }
  const digits = rng.pick([3, 3, 3, 0, 6, 9, 1, 2, 4, 5, 7, 8]);
  return str(isoTs(rng, ms, s === 'isoZ' ? 0 : rng.pick(OFFSETS_MIN), digits));
}

// ---------------------------------------------------------------- merchants

type IdStyle = 'plain' | 'fancy' | 'uuid' | 'perVisitor';

interface Profile {
  index: number;
  id: string;
  budget: number;
  conversion: number;
  cartRate: number;
  bounceRate: number;
  tsStyle: TsStyle;
  visitorStyle: IdStyle;
  eventStyle: IdStyle;
  productStyle: 'plain' | 'fancy';
  catalog: number;
  extrasRate: number;
  spaced: boolean;
  typeFirst: boolean;
  escapeUnicode: number;
  /** hours the merchant's customers are shifted from UTC, so peaks differ */
  tzShift: number;
  onlyInvalid: boolean;
}

const STEMS = ['big-Store', 'shop', 'Boutique', 'tiny_shop', 'outlet-EU', 'mart', 'Gadget_Hub', 'fresh-food', 'ACME', 'kids_wear'];

/** The id of merchant i of n (what generateLines uses; the demo gives some of them a zone). */
export function merchantId(i: number, n: number): string {
  if (n >= 2 && i === n - 1) {
    const base = `Long_merchant-id_${i}_`;
    return base + 'X'.repeat(64 - base.length);
  }
  return `${STEMS[i % STEMS.length] ?? 'shop'}${i % 3 === 0 ? '_' : '-'}${i}`;
}

/** Zipf-like budgets: a few big merchants, a long tail, the 64-char id among the smallest. */
function budgets(total: number, n: number): number[] {
  const weights = Array.from({ length: n }, (_, i) => 1 / Math.pow(i + 1, 1.1));
  const sum = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (w / sum) * total);
  const out = exact.map((x) => Math.floor(x));
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left <= 0) break;
    out[i] = (out[i] ?? 0) + 1;
    left--;
  }
  return out;
}

/** Merchant 0 at `share` of the total, the others Zipf-like over the rest. */
function topHeavy(total: number, n: number, share: number): number[] {
  if (!(share >= 0 && share <= 1)) throw new RangeError(`topShare must be within 0..1, got ${share}`);
  if (n === 1) return [total];
  const top = Math.round(total * share);
  return [top, ...budgets(total - top, n - 1)];
}

function makeProfile(seed: number, index: number, n: number, budget: number): Profile {
  const rng = new Rng(seed, 1_000_000 + index);
  const conversion = 0.01 + rng.next() * 0.04;
  // The largest merchant carries every awkward encoding so small runs still contain them all.
  const first = index === 0;
  return {
    index,
    id: merchantId(index, n),
    budget,
    conversion,
    cartRate: conversion + 0.05 + rng.next() * 0.08,
    bounceRate: 0.25 + rng.next() * 0.2,
    tsStyle: first ? 'mixed' : rng.pick<TsStyle>(['epoch', 'epoch', 'epoch', 'isoZ', 'offset', 'mixed']),
    visitorStyle: first ? 'fancy' : rng.pick<IdStyle>(['plain', 'fancy', 'fancy', 'uuid']),
    eventStyle: first ? 'fancy' : rng.pick<IdStyle>(['plain', 'plain', 'fancy', 'uuid', 'perVisitor']),
    productStyle: first || rng.chance(0.3) ? 'fancy' : 'plain',
    catalog: Math.max(8, Math.min(5000, Math.round(Math.sqrt(budget) * 2.5))),
    extrasRate: rng.pick([0, 0.3, 0.6, 1]),
    spaced: rng.chance(0.7),
    typeFirst: rng.chance(0.2),
    escapeUnicode: first ? 0.3 : rng.pick([0, 0, 0.5, 1]),
    tzShift: rng.pick([0, 1, 2, -5, -8, 8, 9, 5]),
    onlyInvalid: n >= 5 && index === n - 2,
  };
}

// Realistic UTC+0 diurnal shape: quiet nights, evening peak.
const HOURLY = [2, 1.5, 1, 0.8, 0.8, 1.2, 2.2, 3.5, 4.5, 5, 5.5, 5.8, 6, 5.8, 5.8, 6, 6.5, 7, 7.5, 8, 8, 7, 5, 3.5];

interface Item {
  product: number;
  quantity: number;
  price: number;
}

interface Ev {
  event_id: string;
  ts: number;
  type: string;
  product?: number;
  quantity?: number;
  price?: number;
  order_id?: string;
  order_total?: number;
  items?: Item[];
}

const PRODUCT_TYPES = ['product_view', 'add_to_cart', 'remove_from_cart'];

/** Ways a stored event breaks the contract: the field to forge and the raw JSON values to forge it with. */
interface Mutation {
  types: readonly string[] | 'any';
  key: string;
  /** undefined drops the field */
  values: readonly (string | undefined)[];
}

const MUTATIONS: readonly Mutation[] = [
  { types: 'any', key: 'type', values: ['"click"', '"Page_View"', '"purchase "', '["page_view"]', '7', '""', 'null'] },
  { types: 'any', key: 'price_cents', values: ['"1999"', '-1', '1000000001', '12.5', 'true'] },
  { types: PRODUCT_TYPES, key: 'product_id', values: [undefined, 'null', '""', '123', str('p'.repeat(129))] },
  { types: ['add_to_cart', 'remove_from_cart'], key: 'quantity', values: ['0', '10001', '1.5', '"2"', '-1'] },
  { types: ['purchase'], key: 'order_id', values: [undefined, '""', '42'] },
  { types: ['purchase'], key: 'order_total_cents', values: [undefined, '10000000001', '"1500"', '-100', '99.99'] },
  {
    types: ['purchase'],
    key: 'items',
    values: [
      '"none"',
      '{"product_id": "x", "quantity": 1, "price_cents": 5}',
      '[{"product_id": "x", "quantity": 0, "price_cents": 5}]',
      '[{"product_id": "x", "quantity": 1}]',
      '[{"product_id": "x", "quantity": 1, "price_cents": "5"}]',
      '[{"product_id": "", "quantity": 1, "price_cents": 5}]',
      '[null]',
    ],
  },
];

function hugeItems(): string {
  const item = '{"product_id": "bulk", "quantity": 1, "price_cents": 1}';
  return `[${Array.from({ length: 1001 }, () => item).join(', ')}]`;
}

interface Shared {
  dayStart: number;
  /** events of merchant 0's bot visitor still to emit (0: none) */
  botEvents: number;
  /** large runs also carry the 50 KB purchase with 1001 items and the > 1 MiB refused line */
  withBig: boolean;
}

class Merchant {
  readonly rng: Rng;
  remaining: number;
  private visitorCount = 0;
  private eventCount = 0;
  private orderCount = 0;
  private pending: string[] = [];
  private boundaryDone = false;
  private showcaseDone = false;

  /** the first instant of its day D: UTC midnight, or its local midnight when it has a zone */
  private readonly dayStart: number;
  /** hours its traffic curve is shifted by: its own zone when it has one, else a profile's guess */
  private readonly tzShift: number;

  constructor(
    readonly p: Profile,
    private readonly shared: Shared,
    seed: number,
    localStart?: number,
  ) {
    this.rng = new Rng(seed, p.index);
    this.remaining = p.budget;
    this.dayStart = localStart ?? shared.dayStart;
    this.tzShift = localStart === undefined ? p.tzShift : 0;
  }

  get done(): boolean {
    return this.remaining <= 0 && this.pending.length === 0;
  }

  /** One visitor's lines, or the leftover delayed retries once the budget is spent. */
  nextBatch(): string[] {
    if (this.remaining <= 0) {
      const out = this.pending;
      this.pending = [];
      return out;
    }
    const out: string[] = [];
    if (this.p.onlyInvalid) {
      this.onlyInvalidVisitor(out);
    } else if (this.p.index === 0 && this.shared.botEvents > 0) {
      this.botVisitor(out, this.shared.botEvents);
      this.shared.botEvents = 0;
    } else if (this.p.index === 0 && !this.boundaryDone) {
      this.boundaryDone = true;
      this.boundaryVisitor(out);
    } else if (this.p.index === 0 && !this.showcaseDone && this.p.budget >= 1000) {
      this.showcaseDone = true;
      this.invalidShowcase(out);
    } else {
      this.visitor(out);
    }
    // Delayed retries surface a few visitors later, as real retry queues do.
    while (this.pending.length > 0 && (this.pending.length > MAX_PENDING_RETRIES || this.rng.chance(0.3))) {
      out.push(this.pending.shift() as string);
    }
    return out;
  }

  // ------------------------------------------------------------ ids

  private visitorId(n: number): string {
    const style = this.p.visitorStyle;
    if (style === 'uuid') return `${this.rng.hex(8)}-${this.rng.hex(4)}-4${this.rng.hex(3)}-${this.rng.hex(4)}-${this.rng.hex(12)}`;
    if (style === 'plain') return `v${n}`;
    switch (n % 9) {
      case 0:
        return `v|${n}|x`;
      case 1:
        return `v#${n}`;
      case 2:
        return `v/${n}/🙂`;
      case 3:
        return `访客-${n}`;
      case 4:
        return String(n).padStart(8, '0');
      case 5:
        return `anon ${n}`;
      case 6:
        return `ｖｉｓｉｔｏｒ ${n} 😀`;
      default:
        return `v${n}`;
    }
  }

  private eventId(visitorSeq: number): string {
    this.eventCount++;
    const n = this.eventCount;
    switch (this.p.eventStyle) {
      case 'uuid':
        return this.rng.hex(32);
      case 'perVisitor':
        // Client-side counters restart per visitor: identity stays unique only with visitor_id.
        return String(visitorSeq);
      case 'plain':
        return `e${n.toString(16)}`;
      case 'fancy':
        switch (n % 8) {
          case 0:
            return `evt|${n}`;
          case 1:
            return `evt#${n}`;
          case 2:
            return `evt/${n}`;
          case 3:
            return `evt ${n}`;
          case 4:
            return `事件-${n}`;
          case 5:
            return `e🙂${n}`;
          default:
            return `e${n.toString(36)}`;
        }
    }
  }

  private productId(idx: number): string {
    const m = this.p.id;
    if (this.p.productStyle === 'plain') return `${m}-p${idx}`;
    switch (idx % 7) {
      case 1:
        return `SKU ${idx}`;
      case 2:
        return `cat/shoes/${idx}`;
      case 3:
        return `商品-${idx}`;
      case 4:
        return `p#${idx}|🎁`;
      default:
        return `${m}-p${idx}`;
    }
  }

  private price(idx: number): number {
    const h = hash32(this.p.index, idx);
    if (h % 97 === 0) return 0;
    return Math.round(Math.exp(4.6 + (h / 4294967296) * 6.2));
  }

  private pickProduct(): number {
    // Popularity is heavily skewed towards low catalog indices.
    return Math.floor(this.p.catalog * Math.pow(this.rng.next(), 2.5));
  }

  // ------------------------------------------------------------ time

  private sessionStart(): number {
    const rng = this.rng;
    const d = this.dayStart;
    const r = rng.next();
    if (r < 0.012) return d - 2 * 3600_000 + rng.int(0, 2 * 3600_000 - 1);
    if (r < 0.02) return d + DAY_MS + rng.int(0, 90 * MINUTE);
    const total = HOURLY.reduce((a, b) => a + b, 0);
    let x = rng.next() * total;
    let hour = 0;
    for (; hour < 23; hour++) {
      x -= HOURLY[hour] ?? 0;
      if (x < 0) break;
    }
    const utcHour = (((hour - this.tzShift) % 24) + 24) % 24;
    return d + utcHour * 3600_000 + rng.int(0, 3600_000 - 1);
  }

  private thinkTime(): number {
    const rng = this.rng;
    const r = rng.next();
    if (r < 0.01) return 0; // two events in the same millisecond: ties broken by event_id
    if (r < 0.04) return rng.int(8 * MINUTE, 28 * MINUTE);
    return Math.max(200, Math.round(rng.exp(50_000)));
  }

  // ------------------------------------------------------------ funnels

  private session(start: number): Ev[] {
    const rng = this.rng;
    const p = this.p;
    const evs: Ev[] = [];
    let t = start;
    const push = (e: Omit<Ev, 'event_id' | 'ts'>): void => {
      evs.push({ event_id: '', ts: t, ...e });
      t += this.thinkTime();
    };
    const view = (product: number): void => {
      const e: Omit<Ev, 'event_id' | 'ts'> = { type: 'product_view', product };
      if (rng.chance(0.7)) e.price = this.price(product);
      push(e);
    };
    const browse = (steps: number): void => {
      for (let i = 0; i < steps; i++) {
        if (rng.chance(0.45)) push({ type: 'page_view' });
        else view(this.pickProduct());
      }
    };

    const r = rng.next();
    const kind = r < p.conversion ? 'buy' : r < p.cartRate ? 'cart' : r < p.cartRate + p.bounceRate ? 'bounce' : 'browse';
    if (kind === 'bounce') {
      if (rng.chance(0.8)) push({ type: 'page_view' });
      else view(this.pickProduct());
      return evs;
    }
    push({ type: 'page_view' });
    browse(1 + Math.floor(rng.exp(2.5)));
    if (kind === 'browse') return evs;

    const cart = new Map<number, number>();
    const adds = rng.chance(0.7) ? 1 : rng.int(2, 4);
    for (let i = 0; i < adds; i++) {
      const product = this.pickProduct();
      view(product);
      const quantity = rng.chance(0.005) ? rng.int(100, 1000) : rng.chance(0.75) ? 1 : rng.int(2, 4);
      const e: Omit<Ev, 'event_id' | 'ts'> = { type: 'add_to_cart', product };
      if (quantity !== 1 || rng.chance(0.5)) e.quantity = quantity;
      if (rng.chance(0.6)) e.price = this.price(product);
      push(e);
      cart.set(product, (cart.get(product) ?? 0) + quantity);
      if (rng.chance(0.2)) browse(rng.int(1, 3));
    }
    if (rng.chance(0.3) && cart.size > 0) {
      const [product, q] = [...cart.entries()][rng.int(0, cart.size - 1)] as [number, number];
      const removeAll = q === 1 || rng.chance(0.6);
      const e: Omit<Ev, 'event_id' | 'ts'> = { type: 'remove_from_cart', product };
      if (!removeAll || rng.chance(0.5)) e.quantity = removeAll ? q : 1;
      if (rng.chance(0.4)) e.price = this.price(product);
      push(e);
      if (removeAll) cart.delete(product);
      else cart.set(product, q - 1);
    }
    if (kind === 'cart') {
      if (rng.chance(0.5)) browse(rng.int(1, 3));
      return evs;
    }
    if (cart.size === 0) {
      const product = this.pickProduct();
      push({ type: 'add_to_cart', product, quantity: 1 });
      cart.set(product, 1);
    }
    if (rng.chance(0.5)) push({ type: 'page_view' }); // checkout page

    this.orderCount++;
    const items: Item[] = [...cart.entries()].map(([product, quantity]) => ({ product, quantity, price: this.price(product) }));
    const subtotal = items.reduce((a, it) => a + it.quantity * it.price, 0);
    const shipping = subtotal > 5000 ? 0 : rng.pick([0, 499, 999]);
    const discount = rng.chance(0.1) ? Math.floor(subtotal * 0.1) : 0;
    const purchase: Omit<Ev, 'event_id' | 'ts'> = {
      type: 'purchase',
      order_id: this.orderId(),
      order_total: subtotal + shipping - discount,
    };
    if (rng.chance(0.9)) purchase.items = items;
    push(purchase);
    // Double-submitted checkout: a second purchase event for the same order.
    if (rng.chance(0.03)) {
      t = (evs[evs.length - 1]?.ts ?? t) + rng.int(300, 20_000);
      push({ ...purchase });
    }
    if (rng.chance(0.3)) browse(rng.int(1, 2));
    return evs;
  }

  private orderId(): string {
    const n = this.orderCount;
    return this.p.productStyle === 'fancy' && n % 5 === 0 ? `#${n}/订单` : `o-${this.p.index}-${n}`;
  }

  /** One crawler-like visitor: page and product views every ~DAY/n ms, so one session the whole day long. */
  private botVisitor(out: string[], n: number): void {
    this.visitorCount++;
    const visitorId = `bot-${this.visitorCount}`;
    const step = Math.max(1, Math.floor(DAY_MS / (n + 1)));
    for (let i = 0; i < n && this.remaining > 0; i++) {
      const ts = this.dayStart + i * step + this.rng.int(0, Math.max(0, step - 1));
      const ev: Ev = this.rng.chance(0.5) ? { event_id: '', ts, type: 'page_view' } : { event_id: '', ts, type: 'product_view', product: this.pickProduct() };
      ev.event_id = this.eventId(i + 1);
      this.emit(out, visitorId, ev);
    }
  }

  private visitor(out: string[]): void {
    const rng = this.rng;
    this.visitorCount++;
    const visitorId = this.visitorId(this.visitorCount);
    const r = rng.next();
    const sessions = r < 0.72 ? 1 : r < 0.93 ? 2 : 3;
    let start = this.sessionStart();
    let seq = 0;
    for (let s = 0; s < sessions; s++) {
      const evs = this.session(start);
      for (const ev of evs) {
        if (this.remaining <= 0) return;
        seq++;
        ev.event_id = this.eventId(seq);
        this.emit(out, visitorId, ev);
      }
      const last = evs[evs.length - 1]?.ts ?? start;
      // Gaps of exactly 30 minutes and one millisecond more pin down the strict session rule.
      const g = rng.next();
      start = last + (g < 0.02 ? SESSION_GAP : g < 0.04 ? SESSION_GAP + 1 : SESSION_GAP + 60_000 + Math.round(rng.exp(2 * 3600_000)));
      // Returning after D+1 has begun belongs to tomorrow's traffic, of which only the spill-over is wanted.
      if (start >= this.dayStart + DAY_MS) return;
    }
  }

  // ------------------------------------------------------------ serialisation

  private fields(visitorId: string, ev: Ev, tsText: string, escape: boolean): Fields {
    const rng = this.rng;
    const s = escape ? asciiStr : str;
    const f: Fields = [
      ['event_id', s(ev.event_id)],
      ['merchant_id', str(this.p.id)],
      ['visitor_id', s(visitorId)],
      ['type', str(ev.type)],
      ['ts', tsText],
    ];
    if (this.p.typeFirst) f.unshift(f.splice(3, 1)[0] as [string, string]);
    if (ev.product !== undefined) f.push(['product_id', s(this.productId(ev.product))]);
    if (ev.quantity !== undefined) f.push(['quantity', rng.chance(0.03) ? `${ev.quantity}.0` : String(ev.quantity)]);
    if (ev.price !== undefined) f.push(['price_cents', String(ev.price)]);
    else if (rng.chance(0.05)) f.push(['price_cents', 'null']);
    if (ev.order_id !== undefined) f.push(['order_id', s(ev.order_id)]);
    if (ev.order_total !== undefined) f.push(['order_total_cents', String(ev.order_total)]);
    if (ev.items !== undefined) {
      const items = ev.items.map(
        (it) => `{"product_id": ${s(this.productId(it.product))}, "quantity": ${it.quantity}, "price_cents": ${it.price}}`,
      );
      f.push(['items', `[${items.join(', ')}]`]);
    } else if (ev.type === 'purchase' && rng.chance(0.3)) {
      f.push(['items', 'null']);
    }
    if (rng.chance(this.p.extrasRate)) {
      f.push(['url', str(`https://${this.p.id}.example/p/${rng.int(1, 999)}`)]);
      f.push(['referrer', rng.pick(['null', '""', '"search"', '"mail"', '"https://ads.example/?q=a|b#c"'])]);
    }
    if (rng.chance(0.01)) f.push(['context', '{"ua": "Mozilla/5.0", "screen": [1920, 1080], "consent": true}']);
    return f;
  }

  private line(visitorId: string, ev: Ev, tsText?: string): string {
    const escape = this.rng.chance(this.p.escapeUnicode);
    return render(this.fields(visitorId, ev, tsText ?? encodeTs(this.rng, ev.ts, this.p.tsStyle), escape), this.p.spaced);
  }

  private emit(out: string[], visitorId: string, ev: Ev): void {
    const rng = this.rng;
    if (rng.chance(INVALID_SHARE)) {
      const f = this.fields(visitorId, ev, encodeTs(rng, ev.ts, this.p.tsStyle), false);
      this.corrupt(f, ev);
      out.push(render(f, this.p.spaced));
      this.remaining--;
      return;
    }
    const original = this.line(visitorId, ev);
    if (!rng.chance(RETRY_SHARE) || this.remaining < 2) {
      out.push(original);
      this.remaining--;
      return;
    }
    const r = rng.next();
    let retry: string;
    if (r < 0.5) {
      retry = original;
    } else if (r < 0.75) {
      // Re-sent later with the client's new clock reading: the earliest occurrence is kept.
      retry = this.line(visitorId, { ...ev, ts: ev.ts + rng.int(1, 300_000) });
    } else {
      // Same identity and instant, different bytes: other encoding, extra fields or escapes.
      retry = this.line(visitorId, ev);
    }
    const placement = rng.next();
    if (placement < 0.4) out.push(original, retry);
    else if (placement < 0.5) out.push(retry, original);
    else {
      out.push(original);
      this.pending.push(retry);
    }
    this.remaining -= 2;
  }

  /** Turns a well-formed event into one ingest stores but the metrics must not count. */
  private corrupt(f: Fields, ev: Ev): void {
    const fitting = MUTATIONS.filter((m) => m.types === 'any' || m.types.includes(ev.type));
    const m = this.rng.pick(fitting);
    setField(f, m.key, this.rng.pick(m.values));
  }

  /** Every kind of stored-but-invalid event once, so even short runs exercise each rule. */
  private invalidShowcase(out: string[]): void {
    this.visitorCount++;
    const visitorId = `showcase ${this.visitorCount} ✗`;
    const templates: Record<string, Omit<Ev, 'event_id' | 'ts'>> = {
      page_view: { type: 'page_view' },
      product_view: { type: 'product_view', product: 1, price: this.price(1) },
      add_to_cart: { type: 'add_to_cart', product: 1, quantity: 2 },
      remove_from_cart: { type: 'remove_from_cart', product: 1 },
      purchase: { type: 'purchase', order_id: 'o-showcase', order_total: 2 * this.price(1), items: [{ product: 1, quantity: 2, price: this.price(1) }] },
    };
    const values = (m: Mutation): readonly (string | undefined)[] =>
      m.key === 'items' && this.shared.withBig ? [...m.values, hugeItems()] : m.values;
    let seq = 0;
    for (const m of MUTATIONS) {
      const type = m.types === 'any' ? 'page_view' : (m.types[0] ?? 'page_view');
      for (const value of values(m)) {
        if (this.remaining <= 0) return;
        const ev: Ev = { event_id: this.eventId(++seq), ts: this.sessionStart(), ...(templates[type] ?? { type }) };
        const f = this.fields(visitorId, ev, encodeTs(this.rng, ev.ts, this.p.tsStyle), false);
        setField(f, m.key, value);
        out.push(render(f, this.p.spaced));
        this.remaining--;
      }
    }
  }

  /** A merchant-day with only invalid events must still get an all-zero summary. */
  private onlyInvalidVisitor(out: string[]): void {
    this.visitorCount++;
    const visitorId = this.visitorId(this.visitorCount);
    const ev: Ev = { event_id: this.eventId(1), ts: this.sessionStart(), type: 'page_view' };
    const f = this.fields(visitorId, ev, encodeTs(this.rng, ev.ts, 'mixed'), false);
    setField(f, 'type', '"pageview"');
    out.push(render(f, this.p.spaced));
    this.remaining--;
  }

  /** Values at the very edges of the contract, all valid. */
  private boundaryVisitor(out: string[]): void {
    this.visitorCount++;
    const visitorId = '🙂'.repeat(128);
    const t = this.dayStart + 6 * 3600_000;
    const longProduct = '品'.repeat(127) + '🎁';
    const evs: Ev[] = [
      { event_id: 'ｅ'.repeat(127) + '😀', ts: t, type: 'page_view' },
      { event_id: 'edge|2', ts: t, type: 'add_to_cart', product: 0, quantity: 10000, price: 1_000_000_000 },
      {
        event_id: 'edge|3',
        ts: t + 1,
        type: 'purchase',
        order_id: 'o'.repeat(128),
        order_total: 10_000_000_000,
        items: [{ product: 0, quantity: 10000, price: 1_000_000 }],
      },
      { event_id: 'edge|4', ts: t + 2, type: 'product_view', price: 0 },
    ];
    for (const ev of evs) {
      if (this.remaining <= 0) return;
      let l = this.line(visitorId, ev, ev.type === 'purchase' ? `${ev.ts}.0` : undefined);
      if (ev.type === 'product_view') l = l.replace(/}$/, `${this.p.spaced ? ', ' : ','}"product_id": ${str(longProduct)}}`);
      out.push(l);
      this.remaining--;
    }
  }
}

// ---------------------------------------------------------------- refused and blank lines

/** Every kind of line ingest must refuse; k only varies the ids. */
function refusedKinds(k: number, merchant: string, dayStart: number): (() => string)[] {
  const ev = (fields: Record<string, unknown>): string =>
    JSON.stringify({ event_id: `bad-${k}`, merchant_id: merchant, visitor_id: `v${k}`, type: 'page_view', ts: dayStart + 3600_000, ...fields });
  const year = new Date(dayStart).getUTCFullYear();
  const kinds: (() => string)[] = [
    () => `{"event_id": "cut-${k}", "merchant_id": "${merchant}", "visitor_id": "v`,
    () => `[${ev({})}]`,
    () => '"page_view"',
    () => 'null',
    () => '42',
    () => `${ev({})} ${ev({})}`,
    () => ev({ merchant_id: 'acme shop' }),
    () => ev({ merchant_id: 'shop.example.com' }),
    () => ev({ merchant_id: 'M'.repeat(65) }),
    () => ev({ merchant_id: '' }),
    () => ev({ merchant_id: 'магазин' }),
    () => ev({ merchant_id: undefined }),
    () => ev({ ts: -1 }),
    () => ev({ ts: 253402300800000 }),
    () => ev({ ts: `${year}-02-30T10:00:00Z` }),
    () => ev({ ts: `${year}-02-29T10:00:00Z`.replace(/^\d+/, String(year % 4 === 0 ? year + 1 : year)) }),
    () => ev({ ts: `${year}-13-01T10:00:00Z` }),
    () => ev({ ts: `${year}-11-27T24:00:00Z` }),
    () => ev({ ts: `${year}-11-27T10:00:60Z` }),
    () => ev({ ts: `${year}-11-27 10:00:00Z` }),
    () => ev({ ts: `${year}-11-27T10:00:00` }),
    () => ev({ ts: `${year}-11-27T10:00:00.1234567890Z` }),
    () => ev({ ts: `${year}-11-27T10:00:00+25:00` }),
    () => ev({ ts: dayStart + 0.5 }),
    () => ev({ ts: String(dayStart) }),
    () => ev({ ts: undefined }),
    () => ev({ ts: null }),
    () => ev({ visitor_id: '' }),
    () => ev({ visitor_id: 'v'.repeat(129) }),
    () => ev({ visitor_id: 1234 }),
    () => ev({ event_id: undefined }),
    () => ev({ event_id: '' }),
    () => ev({ event_id: '😀'.repeat(129) }),
    () => ev({ event_id: 17 }),
    () => ev({}).replace(/"ts":\d+/, '"ts":NaN'),
  ];
  return kinds;
}

const REFUSED_KINDS = refusedKinds(0, 'm', 0).length;

/** Cycles through the kinds so every one appears before any repeats; the > 1 MiB line only in big runs. */
function refusedLine(k: number, merchant: string, dayStart: number, big: boolean): string {
  const kinds = refusedKinds(k, merchant, dayStart);
  const count = kinds.length + (big ? 1 : 0);
  const kind = kinds[k % count];
  if (kind) return kind();
  return JSON.stringify({ event_id: `huge-${k}`, merchant_id: merchant, visitor_id: 'v', type: 'page_view', ts: dayStart, padding: 'x'.repeat(1024 * 1024) });
}


const BLANKS = ['', '   ', '\t', ' \t '];

// ---------------------------------------------------------------- entry point

export function* generateLines(o: SeedOptions): Generator<string> {
  const problem = dayProblem(o.day);
  if (problem !== undefined) throw new Error(`seed day ${problem}, got ${o.day}`);
  const dayStart = Date.parse(`${o.day}T00:00:00Z`);
  if (Number.isNaN(dayStart) || new Date(dayStart).toISOString().slice(0, 10) !== o.day) {
    throw new Error(`seed day is not a calendar date: ${o.day}`);
  }
  const total = Math.max(0, Math.floor(o.events));
  const n = Math.max(1, Math.floor(o.merchants));
  if (total === 0) return;

  const withBig = total >= 50_000;
  const refusedCount =
    total >= 2_000 ? Math.max(REFUSED_KINDS + (withBig ? 1 : 0), Math.round(total * REFUSED_SHARE)) : Math.floor(total * 0.005);
  const blankCount = total >= 100 ? Math.max(BLANKS.length, Math.round(total * BLANK_SHARE)) : 0;
  const specials = refusedCount + blankCount;
  const shared: Shared = { dayStart, withBig, botEvents: Math.max(0, Math.floor(o.botEvents ?? 0)) };
  const plan = o.topShare === undefined ? budgets(total - specials, n) : topHeavy(total - specials, n, o.topShare);
  const invalidOnly = n - 2;
  if (n >= 5) {
    // The all-invalid merchant stays tiny so the invalid share stays near INVALID_SHARE.
    const keep = Math.min(plan[invalidOnly] ?? 0, 3);
    plan[0] = (plan[0] ?? 0) + (plan[invalidOnly] ?? 0) - keep;
    plan[invalidOnly] = keep;
  }
  const merchants = plan.map((b, i) => {
    const profile = makeProfile(o.seed, i, n, b);
    return new Merchant(profile, shared, o.seed, o.dayStartOf?.(profile.id));
  });

  const rng = new Rng(o.seed, 0x5eed);
  const specialEvery = specials > 0 ? total / (specials + 1) : Infinity;
  let nextSpecial = specialEvery;
  let refusedDone = 0;
  let blankDone = 0;
  let emitted = 0;

  const special = (): string => {
    const blankDue = blankDone * refusedCount < refusedDone * blankCount || refusedDone >= refusedCount;
    if (blankDue && blankDone < blankCount) return BLANKS[blankDone++ % BLANKS.length] ?? '';
    const m = rng.pick(merchants).p.id;
    return refusedLine(refusedDone++, m, dayStart, withBig);
  };

  // Round-robin one visitor at a time so merchants interleave the way a shared firehose does.
  let active = merchants.filter((m) => !m.done);
  while (active.length > 0) {
    for (const m of active) {
      if (m.done) continue;
      for (const line of m.nextBatch()) {
        yield line;
        emitted++;
        while (emitted >= nextSpecial && refusedDone + blankDone < specials) {
          yield special();
          emitted++;
          nextSpecial += specialEvery;
        }
      }
    }
    active = active.filter((m) => !m.done);
  }
  while (refusedDone + blankDone < specials) yield special();
}
