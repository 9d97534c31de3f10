/**
 * Split, pure part: raw rows of one (merchant-day, bucket range) in key order → identity dedupe →
 * validation → visitor batches. Rows of one visitor are contiguous in key order (the visitor sits
 * right after the bucket in the key), so a visitor is complete when the next one starts and a
 * batch can be closed there without ever holding a whole chunk in memory.
 */
import { pickOccurrence, validateStored } from '../../src/domain/event.js';
import { parseRawRowKey, qualifierTs } from '../../src/domain/rowkey.js';
import type { ValidEvent } from '../../src/domain/types.js';

export interface RawCell {
  qualifier: Buffer;
  value: Buffer;
}

export interface RawRow {
  key: Buffer;
  cells: RawCell[];
}

export interface BatchOut {
  seq: number;
  visitors: Array<{ visitor_id: string; events: ValidEvent[] }>;
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
 */
export function readStoredEvent(cells: readonly RawCell[]): { kept: { ts: number; raw: string }; res: ReturnType<typeof validateStored> } {
  const kept = pickOccurrence(cells.map((c) => ({ ts: qualifierTs(c.qualifier), raw: c.value.toString('utf8') })));
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

export class VisitorBatcher {
  readonly counts: SplitCounts = { rows_read: 0, valid: 0, invalid: 0, batches: 0 };
  readonly invalid: InvalidEvent[] = [];
  private current: BatchOut;
  private visitorId: string | undefined;
  private visitorEvents: ValidEvent[] = [];

  constructor(
    readonly merchantId: string,
    readonly day: string,
    /** close a batch at the first visitor boundary after this many visitors */
    private readonly maxVisitors: number,
    /** ... or after this many events, to keep a message well below Kafka's 1 MB default */
    private readonly maxEvents = 5000,
  ) {
    this.current = { seq: 0, visitors: [], events: 0 };
  }

  /** Adds one raw row; returns a finished batch when the row's visitor closed one. */
  push(row: RawRow): BatchOut | undefined {
    this.counts.rows_read++;
    const key = parseRawRowKey(row.key);
    if (key.merchant_id !== this.merchantId || key.day !== this.day) {
      throw new Error(`raw row of ${key.merchant_id}/${key.day} in a scan of ${this.merchantId}/${this.day}`);
    }
    let out: BatchOut | undefined;
    if (key.visitor_id !== this.visitorId) {
      out = this.closeVisitor();
      this.visitorId = key.visitor_id;
    }
    const { kept, res } = readStoredEvent(row.cells);
    if (res.ok) {
      this.counts.valid++;
      this.visitorEvents.push(res.event);
    } else {
      this.counts.invalid++;
      this.invalid.push({ visitor_id: key.visitor_id, event_id: key.event_id, reason: res.reason, detail: res.detail, raw: kept.raw });
    }
    return out;
  }

  /**
   * Flushes the last visitor and returns the batches that remain: closing the last visitor can
   * fill a batch and start another, so there may be two.
   */
  finish(): BatchOut[] {
    const out: BatchOut[] = [];
    const closed = this.closeVisitor();
    if (closed) out.push(closed);
    const last = this.takeBatch();
    if (last) out.push(last);
    return out;
  }

  private closeVisitor(): BatchOut | undefined {
    if (this.visitorId === undefined) return undefined;
    let out: BatchOut | undefined;
    if (this.visitorEvents.length > 0) {
      if (this.current.visitors.length >= this.maxVisitors || (this.current.events > 0 && this.current.events + this.visitorEvents.length > this.maxEvents)) {
        out = this.takeBatch();
      }
      this.current.visitors.push({ visitor_id: this.visitorId, events: this.visitorEvents });
      this.current.events += this.visitorEvents.length;
    }
    this.visitorEvents = [];
    this.visitorId = undefined;
    return out;
  }

  private takeBatch(): BatchOut | undefined {
    if (this.current.visitors.length === 0) return undefined;
    const out = this.current;
    this.counts.batches++;
    this.current = { seq: out.seq + 1, visitors: [], events: 0 };
    return out;
  }
}

export const batchId = (chunkId: string, merchantId: string, seq: number): string => `${chunkId}/${merchantId}/${seq}`;
