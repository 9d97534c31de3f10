/**
 * Split, pure part: raw rows of one (merchant-day, bucket range) in key order → the cells of the
 * plan's snapshot → identity dedupe → validation → annotated visitors → batches bounded in
 * visitors and in bytes.
 *
 * A chunk splits the same way on every retry: what goes in is fixed by the plan (the snapshot says
 * which cells count, the shape says how big a batch may be) and the walk is in key order. A batch
 * is named by a hash of its whole content, not by its position: a retry that saw other rows or ran
 * other code can only produce an equal batch under an equal name, and anything else under a name
 * the seal does not hold, which summarize refuses. Rows of one visitor are contiguous in key order (the visitor sits right after
 * the bucket in the key), so a visitor is complete when the next one starts; only one visitor's
 * events are held at a time, besides the batch being filled.
 */
import { createHash } from 'node:crypto';
import { pickOccurrence, validateStored, type ValidationResult } from '../../src/domain/event.js';
import { parseRawRowKey, qualifierTs, rawBucketPrefix, QUALIFIER_STORED_AT } from '../../src/domain/rowkey.js';
import { decodeStoredEvent } from '../../src/domain/stored.js';
import { annotateVisitor } from '../../src/domain/aggregate.js';
import type { AnnotatedEvent, ValidEvent } from '../../src/domain/types.js';

export interface RawCell {
  qualifier: Buffer;
  value: Buffer;
}

export interface RawRow {
  key: Buffer;
  cells: RawCell[];
}

/** How big a batch may be: fixed in the plan, so every replica and every retry cuts alike. */
export interface BatchShape {
  /** close a batch at the first visitor boundary after this many visitors */
  maxVisitors: number;
  /** upper bound of a VisitorBatch message, estimated (never under) */
  maxBatchBytes: number;
  /** upper bound of the PartialRecord transform makes of the batch, estimated (never under) */
  maxPartialBytes: number;
}

export interface OutVisitor {
  visitor_id: string;
  events: AnnotatedEvent[];
  fragment: number;
  fragments: number;
  first_open: boolean;
  last_open: boolean;
}

export interface BatchOut {
  /** names the batch within its (chunk, merchant) by its content: sha256 of every event it carries */
  key: string;
  visitors: OutVisitor[];
  events: number;
}

export interface InvalidEvent {
  visitor_id: string;
  event_id: string;
  reason: string;
  detail: string;
  raw: string;
}

export interface SplitCounts {
  rows_read: number;
  valid: number;
  invalid: number;
  batches: number;
}

/**
 * One stored identity → the event the night counts: the earliest occurrence (pickOccurrence),
 * parsed and validated. Also used by the benchmark's direct baseline, so both read raw rows alike.
 *
 * The kept occurrence's pre-validated form (src/domain/stored.ts), with the identity the row key
 * holds, stands in for JSON.parse and validateStored when the cell has one of this code's format;
 * otherwise the raw line is parsed as before. Both give the same event.
 * `raw` is only decoded when asked for (an invalid event's quarantine row).
 */
export function readStoredEvent(cells: readonly RawCell[], id: { event_id: string; visitor_id: string }): { kept: { ts: number; readonly raw: string }; res: ValidationResult } {
  const cell = cells.length === 1 ? cells[0]! : keptCell(cells);
  const ts = qualifierTs(cell.qualifier);
  const kept = new Kept(ts, cell);
  const event = decodeStoredEvent(cell.qualifier, QUALIFIER_STORED_AT, { event_id: id.event_id, visitor_id: id.visitor_id, ts });
  if (event !== undefined) return { kept, res: { ok: true, event } };
  let parsed: unknown;
  try {
    parsed = JSON.parse(kept.raw);
  } catch {
    parsed = undefined;
  }
  const res = parsed && typeof parsed === 'object' && !Array.isArray(parsed)
    ? validateStored(parsed as Record<string, unknown>)
    : { ok: false as const, reason: 'bad_identity' as const, detail: 'stored value is not a JSON object' };
  return { kept, res };
}

/** The kept occurrence; its line is decoded only when read (an invalid event's quarantine row). */
class Kept {
  private text: string | undefined;
  constructor(readonly ts: number, private readonly cell: RawCell) {}
  get raw(): string {
    return (this.text ??= this.cell.value.toString('utf8'));
  }
}

/** The cell pickOccurrence keeps among several (rare: an identity re-sent with other content). */
function keptCell(cells: readonly RawCell[]): RawCell {
  const occ = cells.map((c, i) => ({ ts: qualifierTs(c.qualifier), raw: c.value.toString('utf8'), i }));
  return cells[pickOccurrence(occ).i]!;
}

// ---------------------------------------------------------------------------------------------
// Size bounds. Avro writes a string as a zigzag varint length (at most 5 bytes for our sizes) and
// its UTF-8 bytes, a long in at most 10 bytes, an int in at most 5, a union branch in 1, an array
// as blocks with a count. Each estimate below adds those maxima, so it is never under the real size.

const utf8 = (s: string): number => Buffer.byteLength(s, 'utf8');
const STR = 5;
const LONG = 10;
const INT = 5;

export function eventBytes(e: ValidEvent): number {
  let n = STR + utf8(e.event_id) + LONG + INT /* type */ + INT /* session */ + 1 /* kept */;
  n += 1 + (e.product_id === undefined ? 0 : STR + utf8(e.product_id));
  n += 1 + INT + 1 + LONG /* quantity, price_cents */ + 1 + (e.order_id === undefined ? 0 : STR + utf8(e.order_id)) + 1 + LONG;
  n += 1 + LONG + 1; // items union, block count, end of array
  for (const it of e.items ?? []) n += STR + utf8(it.product_id) + INT + LONG;
  return n;
}

const visitorOverhead = (visitorId: string): number => STR + utf8(visitorId) + 2 * (LONG + 1) + INT * 2 + 2;
/** day, run and chunk ids, merchant, batch id, seq, day_start, hours and the single-object header, generously */
export const BATCH_OVERHEAD = 1024;
/** a product's row in a partial */
const productBytes = (productId: string): number => STR + utf8(productId) + 4 * LONG;
/** a cut session's piece in a partial: the visitor, two event ids and nine numbers */
const PIECE_BYTES = (visitorId: string): number => 3 * STR + utf8(visitorId) + 2 * 512 + 9 * LONG;
/** the scalars, two hourly arrays of up to 25 entries and the ids around the partial */
export const PARTIAL_OVERHEAD = 2048;

function productsOf(e: ValidEvent): string[] {
  const out: string[] = [];
  if (e.product_id !== undefined) out.push(e.product_id);
  for (const it of e.items ?? []) out.push(it.product_id);
  return out;
}

/** Bytes the products of `events` add to a partial that already holds `products`. */
function addedPartialBytes(products: ReadonlySet<string>, events: readonly ValidEvent[]): number {
  const fresh = new Set<string>();
  for (const e of events) for (const p of productsOf(e)) if (!products.has(p)) fresh.add(p);
  let n = 0;
  for (const p of fresh) n += productBytes(p);
  return n;
}
const NO_PRODUCTS: ReadonlySet<string> = new Set();

/** A batch being filled: its bytes and the distinct products its partial will carry. */
class Fill {
  private readonly hash = createHash('sha256');
  visitors: OutVisitor[] = [];
  events = 0;
  bytes = BATCH_OVERHEAD;
  partialBytes = PARTIAL_OVERHEAD;
  readonly products = new Set<string>();

  /** bytes the products of `events` add to the partial beyond those already in it */
  addedPartial(events: readonly ValidEvent[]): number {
    return addedPartialBytes(this.products, events);
  }

  add(v: OutVisitor, bytes: number, partialBytes: number): void {
    hashVisitor(this.hash, v);
    this.visitors.push(v);
    this.events += v.events.length;
    this.bytes += bytes;
    this.partialBytes += partialBytes;
    for (const e of v.events) for (const p of productsOf(e)) this.products.add(p);
  }

  /** 22 base64url characters (132 bits) of the content hash */
  key(): string {
    return this.hash.digest('base64url').slice(0, 22);
  }
}

const SEP = '\u0001';

/** Every field transform reads, in a fixed order: equal hashes mean equal partials. */
function hashVisitor(h: ReturnType<typeof createHash>, v: OutVisitor): void {
  // One update per visitor (the same bytes as one per line, so the same keys): fewer native calls.
  let text = `V${SEP}${v.visitor_id}${SEP}${v.fragment}/${v.fragments}${SEP}${v.first_open ? 1 : 0}${v.last_open ? 1 : 0}\n`;
  for (const e of v.events) {
    text += `${e.event_id}${SEP}${e.ts}${SEP}${e.type}${SEP}${e.session}${SEP}${e.kept ? 1 : 0}${SEP}${e.product_id ?? ''}${SEP}${e.quantity ?? ''}${SEP}${e.price_cents ?? ''}${SEP}${e.order_id ?? ''}${SEP}${e.order_total_cents ?? ''}`;
    for (const it of e.items ?? []) text += `${SEP}${it.product_id}${SEP}${it.quantity}${SEP}${it.price_cents}`;
    text += '\n';
  }
  h.update(text);
}

export class VisitorBatcher {
  readonly counts: SplitCounts = { rows_read: 0, valid: 0, invalid: 0, batches: 0 };
  readonly invalid: InvalidEvent[] = [];
  private fill = new Fill();
  private visitorId: string | undefined;
  /** the current visitor's bytes in the key: the next row's are compared, not decoded */
  private visitorBytes: Buffer = Buffer.alloc(0);
  private visitorEvents: ValidEvent[] = [];
  /** merchant 0x00 day: every row of the scan starts with it (rawBucketPrefix without the bucket) */
  private readonly prefix: Buffer;

  constructor(
    readonly merchantId: string,
    readonly day: string,
    private readonly shape: BatchShape,
    /** the plan's snapshot: which stored cells this run reads (later ones are late data) */
    private readonly includeCell: (qualifier: Buffer) => boolean = () => true,
  ) {
    this.prefix = rawBucketPrefix(merchantId, day, 0).subarray(0, merchantId.length + 9);
  }

  /** Adds one raw row; returns the batches the row's visitor closed (usually none). */
  push(row: RawRow): BatchOut[] {
    // The key's layout (rowkey.ts) read in place: split sees every stored row every night.
    const k = row.key;
    const p = this.prefix.length;
    if (k.length < p + 4 || k.compare(this.prefix, 0, p, 0, p) !== 0) {
      const key = parseRawRowKey(k);
      throw new Error(`raw row of ${key.merchant_id}/${key.day} in a scan of ${this.merchantId}/${this.day}`);
    }
    let cells = row.cells;
    for (const c of row.cells) {
      if (!this.includeCell(c.qualifier)) {
        cells = row.cells.filter((x) => this.includeCell(x.qualifier));
        break;
      }
    }
    if (cells.length === 0) return [];
    this.counts.rows_read++;
    let out: BatchOut[] = [];
    const vStart = p + 4;
    const vEnd = vStart + k.readUInt16BE(p + 2);
    if (this.visitorId === undefined || k.compare(this.visitorBytes, 0, this.visitorBytes.length, vStart, vEnd) !== 0) {
      out = this.closeVisitor();
      this.visitorBytes = k.subarray(vStart, vEnd);
      this.visitorId = k.toString('utf8', vStart, vEnd);
    }
    const key = { visitor_id: this.visitorId!, event_id: k.toString('utf8', vEnd) };
    const { kept, res } = readStoredEvent(cells, key);
    if (res.ok) {
      this.counts.valid++;
      this.visitorEvents.push(res.event);
    } else {
      this.counts.invalid++;
      this.invalid.push({ visitor_id: key.visitor_id, event_id: key.event_id, reason: res.reason, detail: res.detail, raw: kept.raw });
    }
    return out;
  }

  /** Flushes the last visitor and returns the batches that remain. */
  finish(): BatchOut[] {
    const out = this.closeVisitor();
    const last = this.take();
    if (last) out.push(last);
    return out;
  }

  private closeVisitor(): BatchOut[] {
    const out: BatchOut[] = [];
    const id = this.visitorId;
    const events = this.visitorEvents;
    this.visitorEvents = [];
    this.visitorId = undefined;
    if (id === undefined || events.length === 0) return out;
    const annotated = annotateVisitor(events);
    const sizes = annotated.map(eventBytes);
    const bytes = visitorOverhead(id) + sizes.reduce((a, b) => a + b, 0);
    const whole: OutVisitor = { visitor_id: id, events: annotated, fragment: 0, fragments: 1, first_open: false, last_open: false };
    // What an empty batch would hold with this visitor alone (no Fill, and no hash, per visitor).
    const fitsAlone = BATCH_OVERHEAD + bytes <= this.shape.maxBatchBytes && PARTIAL_OVERHEAD + addedPartialBytes(NO_PRODUCTS, annotated) <= this.shape.maxPartialBytes;
    if (fitsAlone) {
      const extraPartial = this.fill.addedPartial(annotated);
      const full = this.fill.visitors.length >= this.shape.maxVisitors
        || this.fill.bytes + bytes > this.shape.maxBatchBytes
        || this.fill.partialBytes + extraPartial > this.shape.maxPartialBytes;
      if (full) {
        const b = this.take();
        if (b) out.push(b);
      }
      this.fill.add(whole, bytes, this.fill.addedPartial(annotated));
      return out;
    }
    // Too big for one message: the visitor goes out alone, cut into fragments in (ts, event_id) order.
    const b = this.take();
    if (b) out.push(b);
    for (const f of this.fragments(id, annotated, sizes)) {
      const fill = new Fill();
      fill.add(f, 0, 0);
      this.fill = fill;
      out.push(this.take()!);
    }
    return out;
  }

  /** Cuts one visitor's annotated events into fragments that each fit both bounds. */
  private fragments(id: string, events: AnnotatedEvent[], sizes: number[]): OutVisitor[] {
    const cuts: Array<[number, number]> = [];
    let start = 0;
    let bytes = BATCH_OVERHEAD + visitorOverhead(id);
    let partial = PARTIAL_OVERHEAD + 2 * PIECE_BYTES(id);
    let products = new Set<string>();
    const extraIn = (set: ReadonlySet<string>, ps: string[]): number => {
      let n = 0;
      for (const p of new Set(ps)) if (!set.has(p)) n += productBytes(p);
      return n;
    };
    for (let i = 0; i < events.length; i++) {
      const ps = productsOf(events[i]!);
      let extra = extraIn(products, ps);
      // A single event always fits (a line is at most 1 MiB and the bounds are near the message limit), so no fragment is empty.
      if (i > start && (bytes + sizes[i]! > this.shape.maxBatchBytes || partial + extra > this.shape.maxPartialBytes)) {
        cuts.push([start, i]);
        start = i;
        bytes = BATCH_OVERHEAD + visitorOverhead(id);
        partial = PARTIAL_OVERHEAD + 2 * PIECE_BYTES(id);
        products = new Set();
        extra = extraIn(products, ps);
      }
      for (const p of ps) products.add(p);
      bytes += sizes[i]!;
      partial += extra;
    }
    cuts.push([start, events.length]);
    return cuts.map(([a, z], f) => ({
      visitor_id: id,
      events: events.slice(a, z),
      fragment: f,
      fragments: cuts.length,
      // A session goes on across a cut when the events on both sides of it share its index.
      first_open: f > 0 && events[a - 1]!.session === events[a]!.session,
      last_open: f < cuts.length - 1 && events[z - 1]!.session === events[z]!.session,
    }));
  }

  private take(): BatchOut | undefined {
    const f = this.fill;
    this.fill = new Fill();
    if (f.visitors.length === 0) return undefined;
    this.counts.batches++;
    return { key: f.key(), visitors: f.visitors, events: f.events };
  }
}

export const batchId = (chunkId: string, merchantId: string, key: string): string => `${chunkId}/${merchantId}/${key}`;

/**
 * What a seal commits to: every batch id with its events, and the counts. Two splits of the same
 * chunk in the same plan must agree on it; a disagreement is an alarm, never an overwrite.
 */
export function sealDigest(counts: SplitCounts, batches: ReadonlyArray<{ id: string; events: number }>): Buffer {
  const h = createHash('sha256');
  h.update(`${counts.rows_read}/${counts.valid}/${counts.invalid}/${counts.batches}\n`);
  for (const b of [...batches].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))) h.update(`${b.id}\t${b.events}\n`);
  return h.digest();
}
