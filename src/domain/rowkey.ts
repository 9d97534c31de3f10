/**
 * HBase row keys. Pure byte layouts, documented in docs/data-layout.md.
 *
 * raw_events:  merchant_id 0x00 | day YYYYMMDD | bucket u16be | len(visitor) u16be | visitor utf8 | event_id utf8
 *   - merchant ids are [A-Za-z0-9_-] so 0x00 can never appear inside one, and it sorts below every
 *     allowed byte: "ab\0…" and "abc\0…" never interleave.
 *   - the visitor is length-prefixed, so no character of a visitor id (|, #, /, 0x00, emoji) can
 *     be mistaken for a separator; event_id is last and needs no delimiter.
 *   - the key is the event's identity, so storing an occurrence again rewrites the same row.
 * Occurrences of one identity are cells of that row: qualifier = ts u64be | first 8 bytes of
 * sha256(line) | ingest batch u64be | pre-validated form (occurrenceQualifier). An identical retry
 * is recognised by the first 16 bytes and not stored again; a differing one adds a cell, and split
 * keeps the earliest.
 */
import { hash } from 'node:crypto';

export const RAW_FAMILY = 'e';
const te = new TextEncoder();

/** FNV-1a over the UTF-8 bytes: stable across processes and releases, unlike a seeded hash. */
export function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function bucketOf(visitorId: string, buckets: number): number {
  return fnv1a(te.encode(visitorId)) % buckets;
}

export const dayBytes = (day: string): Buffer => Buffer.from(day.replaceAll('-', ''), 'ascii');

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** Prefix shared by every row of (merchant, day, bucket); bucket may equal `buckets` as an exclusive end. */
export function rawBucketPrefix(merchantId: string, day: string, bucket: number): Buffer {
  return Buffer.concat([Buffer.from(merchantId, 'ascii'), Buffer.from([0]), dayBytes(day), u16(bucket)]);
}

/** Built in one buffer (ingest makes one per line): the layout of rawBucketPrefix, then the visitor and the event. */
export function rawRowKey(id: { merchant_id: string; day: string; visitor_id: string; event_id: string }, buckets: number): Buffer {
  const m = id.merchant_id.length; // [A-Za-z0-9_-]: one byte per character
  const vLen = Buffer.byteLength(id.visitor_id, 'utf8');
  const vStart = m + 13;
  const key = Buffer.allocUnsafe(vStart + vLen + Buffer.byteLength(id.event_id, 'utf8'));
  key.write(id.merchant_id, 0, 'latin1');
  key[m] = 0;
  const d = id.day;
  key.write(d.slice(0, 4) + d.slice(5, 7) + d.slice(8, 10), m + 1, 'latin1');
  key.write(id.visitor_id, vStart, 'utf8');
  key.writeUInt16BE(fnv1a(key.subarray(vStart, vStart + vLen)) % buckets, m + 9);
  key.writeUInt16BE(vLen, m + 11);
  key.write(id.event_id, vStart + vLen, 'utf8');
  return key;
}

/** The bucket a raw row key holds (what bucketOf gave its visitor). */
export const rawKeyBucket = (key: Buffer): number => key.readUInt16BE(key.indexOf(0) + 9);

export interface ParsedRawKey {
  merchant_id: string;
  day: string;
  bucket: number;
  visitor_id: string;
  event_id: string;
}

export function parseRawRowKey(key: Buffer): ParsedRawKey {
  const zero = key.indexOf(0);
  if (zero < 1) throw new Error('raw row key without merchant separator');
  const merchant_id = key.subarray(0, zero).toString('ascii');
  const d = key.subarray(zero + 1, zero + 9).toString('ascii');
  const day = `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`;
  const bucket = key.readUInt16BE(zero + 9);
  const vlen = key.readUInt16BE(zero + 11);
  const vstart = zero + 13;
  const visitor_id = key.subarray(vstart, vstart + vlen).toString('utf8');
  const event_id = key.subarray(vstart + vlen).toString('utf8');
  return { merchant_id, day, bucket, visitor_id, event_id };
}

/**
 * The qualifier of one stored occurrence: ts u64be | first 8 bytes of sha256(line) | ingest batch
 * u64be | the line's pre-validated form, if any (stored.ts). The first 16 bytes name the occurrence (an identical re-send has them equal); the batch
 * says which ingest wrote it, which is how a plan's snapshot decides whether the cell is in it.
 * Cells written before batches existed have 16-byte qualifiers and count as batch 0 (always in).
 */
export function occurrenceQualifier(ts: number, line: string | Buffer, batch = 0, stored?: Buffer): Buffer {
  const q = Buffer.alloc(QUALIFIER_STORED_AT + (stored?.length ?? 0));
  q.writeBigUInt64BE(BigInt(ts), 0);
  // One-shot hash: a Hash object per stored line was 3 % of ingest's CPU.
  hash('sha256', line, 'buffer').copy(q, 8, 0, 8);
  q.writeBigUInt64BE(BigInt(batch), 16);
  stored?.copy(q, QUALIFIER_STORED_AT);
  return q;
}

/**
 * Where a qualifier's pre-validated form of the line starts (src/domain/stored.ts), when it has
 * one. It is not part of the occurrence's name: an equal line re-sent under other rules is still
 * the same occurrence.
 */
export const QUALIFIER_STORED_AT = 24;

// Read as two u32 halves, not a BigInt per cell (split reads both for every stored cell): exact,
// since what was written (epoch ms up to year 9999, batch ids) is far below 2^53.
export const qualifierTs = (q: Buffer): number => q.readUInt32BE(0) * 0x1_0000_0000 + q.readUInt32BE(4);
/** The ingest batch of a cell; 0 for a cell stored before batches existed. */
export const qualifierBatch = (q: Buffer): number => (q.length >= 24 ? q.readUInt32BE(16) * 0x1_0000_0000 + q.readUInt32BE(20) : 0);
/** The occurrence a cell holds, without the batch that wrote it (latin1: one char per byte). */
export const occurrenceOf = (q: Buffer): string => q.toString('latin1', 0, 16);

/** Region split points for raw_events: merchant ids spread over [A-Za-z0-9_-], so split on their first byte. */
export const RAW_SPLITS = ['0', 'A', 'N', '_', 'a', 'n'].map((s) => Buffer.from(s, 'ascii'));

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/**
 * The intermediate and result rows carry the epoch that computed them in their key, so epochs
 * never share a row: a slow writer of an old epoch cannot overwrite a newer epoch's rows, a
 * re-run's set of rows replaces the old set (readers ask for the epoch the ledger says is done),
 * and an old epoch's rows are removed by prefix.
 */

/** sessions: merchant 0x00 | day | epoch u32be | len(visitor) u16be | visitor | session index u16be */
export function sessionRowKey(merchantId: string, day: string, epoch: number, visitorId: string, index: number): Buffer {
  const visitor = Buffer.from(visitorId, 'utf8');
  return Buffer.concat([Buffer.from(merchantId, 'ascii'), Buffer.from([0]), dayBytes(day), u32(epoch), u16(visitor.length), visitor, u16(index)]);
}

/** Every session row of one epoch of a merchant-day. */
export const sessionEpochPrefix = (merchantId: string, day: string, epoch: number): Buffer => Buffer.concat([Buffer.from(merchantId, 'ascii'), Buffer.from([0]), dayBytes(day), u32(epoch)]);

/** daily_summaries: day | merchant 0x00 | epoch u32be. A day's rows scan in merchant_id order, which is the report's order. */
export const summaryRowKey = (day: string, merchantId: string, epoch: number): Buffer => Buffer.concat([dayBytes(day), Buffer.from(merchantId, 'ascii'), Buffer.from([0]), u32(epoch)]);

/** daily_products: day | merchant 0x00 | epoch u32be | product_id utf8 */
export const productRowKey = (day: string, merchantId: string, epoch: number, productId: string): Buffer =>
  Buffer.concat([productEpochPrefix(day, merchantId, epoch), Buffer.from(productId, 'utf8')]);

export const productEpochPrefix = (day: string, merchantId: string, epoch: number): Buffer => Buffer.concat([dayBytes(day), Buffer.from(merchantId, 'ascii'), Buffer.from([0]), u32(epoch)]);

/** The epoch in a summary row key. */
export const summaryKeyEpoch = (key: Buffer): number => key.readUInt32BE(key.length - 4);

/** Exclusive end for a scan of every key that starts with prefix. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.alloc(0);
}
