/**
 * `stageline ingest`: NDJSON in, raw rows in HBase, per-bucket planning counts in MySQL, refused
 * lines in a rejects file. Memory stays bounded: lines are read one at a time, written in batches,
 * with at most one batch being written while the next one fills.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { checkIngest, MAX_LINE_BYTES, type RefuseReason } from '../domain/event.js';
import { RAW_FAMILY, occurrenceQualifier, rawRowKey, bucketOf } from '../domain/rowkey.js';
import type { HBaseClient, Row } from '../adapters/hbase.js';
import type { BucketCountRow, IngestCountsPort } from '../ledger/types.js';
import { splitLines } from './lines.js';

export interface IngestSummary {
  read: number;
  blank: number;
  stored: number;
  new_events: number;
  duplicates: number;
  refused: number;
  refused_by_reason: Partial<Record<RefuseReason, number>>;
  merchant_days: number;
  days: Record<string, number>;
  rejects_file: string | null;
  elapsed_ms: number;
}

export interface IngestDeps {
  hbase: HBaseClient;
  /** the ledger's planning counts */
  counts: IngestCountsPort;
  rawTable: string;
  buckets: number;
  now: () => number;
  /** rows per HBase batch @defaultValue 2000 */
  batchRows?: number;
  onProgress?: (s: IngestSummary) => void;
}

interface Pending {
  key: Buffer;
  keyHex: string;
  merchant_id: string;
  day: string;
  bucket: number;
  row: Row;
}

async function writeLine(out: WriteStream, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

export async function ingest(input: AsyncIterable<Buffer | string>, rejectsPath: string | null, deps: IngestDeps): Promise<IngestSummary> {
  const t0 = deps.now();
  const batchRows = deps.batchRows ?? 2000;
  const s: IngestSummary = { read: 0, blank: 0, stored: 0, new_events: 0, duplicates: 0, refused: 0, refused_by_reason: {}, merchant_days: 0, days: {}, rejects_file: rejectsPath, elapsed_ms: 0 };
  const merchantDays = new Set<string>();
  let rejects: WriteStream | undefined;
  let batch: Pending[] = [];
  let writing: Promise<void> = Promise.resolve();

  const flush = async (rows: Pending[]): Promise<void> => {
    // One identity may appear several times in a batch (client retries): the put carries every
    // occurrence as its own cell, but the identity is counted once.
    const unique = new Map<string, Pending>();
    for (const p of rows) if (!unique.has(p.keyHex)) unique.set(p.keyHex, p);
    const keys = [...unique.values()];
    const existing = await deps.hbase.getMany(deps.rawTable, keys.map((p) => p.key));
    await deps.hbase.putMany(deps.rawTable, rows.map((p) => p.row));
    // New identities per (day, merchant, bucket): an upsert that adds, so planning needs no raw scan.
    const counts = new Map<string, BucketCountRow>();
    keys.forEach((p, i) => {
      if (existing[i] !== undefined) return;
      const k = `${p.day}\u0000${p.merchant_id}\u0000${p.bucket}`;
      const c = counts.get(k);
      if (c) c.rows++;
      else counts.set(k, { day: p.day, merchant_id: p.merchant_id, bucket: p.bucket, rows: 1 });
    });
    const fresh = keys.length - existing.filter((e) => e !== undefined).length;
    await deps.counts.add([...counts.values()]);
    s.new_events += fresh;
    s.duplicates += rows.length - fresh;
  };

  try {
    for await (const line of splitLines(input, MAX_LINE_BYTES)) {
      s.read++;
      const res = line.tooLong ? { kind: 'refused' as const, reason: 'too_long' as const, detail: `line of ${line.bytes} bytes is longer than ${MAX_LINE_BYTES}` } : checkIngest(line.text);
      if (res.kind === 'blank') {
        s.blank++;
        continue;
      }
      if (res.kind === 'refused') {
        s.refused++;
        s.refused_by_reason[res.reason] = (s.refused_by_reason[res.reason] ?? 0) + 1;
        if (rejectsPath) {
          rejects ??= createWriteStream(rejectsPath, { flags: 'w' });
          await writeLine(rejects, JSON.stringify({ line: line.number, reason: res.reason, detail: res.detail, text: line.text.slice(0, 4096) }) + '\n');
        }
        continue;
      }
      const id = res.identity;
      const key = rawRowKey(id, deps.buckets);
      batch.push({
        key,
        keyHex: key.toString('hex'),
        merchant_id: id.merchant_id,
        day: id.day,
        bucket: bucketOf(id.visitor_id, deps.buckets),
        row: { key, cells: [{ family: RAW_FAMILY, qualifier: occurrenceQualifier(id.ts, line.text), value: Buffer.from(line.text, 'utf8') }] },
      });
      s.stored++;
      s.days[id.day] = (s.days[id.day] ?? 0) + 1;
      merchantDays.add(`${id.merchant_id}\u0000${id.day}`);
      if (batch.length >= batchRows) {
        const full = batch;
        batch = [];
        await writing;
        writing = flush(full);
        // Keep the rejection visible without an unhandled-rejection crash; the next await rethrows.
        writing.catch(() => undefined);
        deps.onProgress?.({ ...s, merchant_days: merchantDays.size, elapsed_ms: deps.now() - t0 });
      }
    }
    await writing;
    if (batch.length > 0) await flush(batch);
  } finally {
    if (rejects) {
      rejects.end();
      await once(rejects, 'close');
    }
  }
  if (rejectsPath && !rejects) s.rejects_file = null;
  s.merchant_days = merchantDays.size;
  s.elapsed_ms = deps.now() - t0;
  return s;
}
