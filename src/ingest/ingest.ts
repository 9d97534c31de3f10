/**
 * `stageline ingest`: NDJSON in, raw rows in HBase, exact per-bucket counts and late data in the
 * ledger, refused lines in the ledger (and a local rejects file). Memory stays bounded: lines are
 * read one at a time and written in batches bounded in rows and bytes, with at most two batches
 * being written while the next one fills.
 *
 * Each batch is an ingest batch of the ledger: opened, written (every cell names the batch in its
 * qualifier), then committed. Only committed batches count, so a batch that died half-written is
 * as if never sent (its cells are never read), and a plan's snapshot ("batches committed up to N")
 * is exact. A batch stores only what changes what the night reads: a new identity, or a new
 * occurrence of one; an exact re-send of stored lines writes nothing and is not late data.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { checkIngest, utcDayOf, validateStored, MAX_LINE_BYTES, type DayOf, type RefuseReason } from '../domain/event.js';
import { encodeStoredEvent } from '../domain/stored.js';
import { RAW_FAMILY, occurrenceOf, occurrenceQualifier, qualifierBatch, rawRowKey, rawKeyBucket } from '../domain/rowkey.js';
import { utcDay } from '../domain/timestamp.js';
import type { Row, TableStore } from '../adapters/ports.js';
import type { BucketCountRow, IngestBatch, IngestPort, IngestReject, TouchedMerchantDay } from '../ledger/types.js';
import { firstInvalidUtf8, splitLines, type Line } from './lines.js';

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
  /** rows stored for merchant-days already planned: late data, picked up by the next nightly */
  late_rows: number;
  late_merchant_days: number;
  rejects_file: string | null;
  elapsed_ms: number;
}

export interface IngestDeps {
  hbase: TableStore;
  ledger: IngestPort;
  rawTable: string;
  buckets: number;
  now: () => number;
  /** what the refusals say they came from (the file name, or "stdin") */
  source?: string;
  /** the merchant-local day of an event @defaultValue its UTC date */
  dayOf?: DayOf;
  /** the registry version `dayOf` follows: a batch whose merchants changed zone since refuses to commit */
  zonesVersion?: number;
  /** rows per batch @defaultValue 2000 */
  batchRows?: number;
  /** line bytes per batch: one multi-put stays far below HBase's request limit @defaultValue 8 MiB */
  batchBytes?: number;
  /** batches written at once while the next one fills @defaultValue 2 */
  batchesInFlight?: number;
  onProgress?: (s: IngestSummary) => void;
}

interface Pending {
  key: Buffer;
  /** the key as a latin1 string (one char per byte): a Map key cheaper to build than hex */
  keyId: string;
  merchant_id: string;
  day: string;
  bucket: number;
  ts: number;
  raw: Buffer;
  /** the line's pre-validated form for the night (valid events only), appended to its qualifier */
  stored: Buffer | undefined;
}

async function writeLine(out: WriteStream, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

/** What one batch changes, from the identity rows as stored before it. */
interface Classified {
  rows: Row[];
  buckets: Map<string, BucketCountRow>;
  touched: Map<string, TouchedMerchantDay>;
  /** keys of the identities this batch believes it stores first (rechecked if a commit raced it) */
  fresh: Pending[];
  newIdentities: number;
  /** keyId of every row this batch writes a cell to */
  written: Set<string>;
}

const mdKey = (day: string, merchant: string) => `${day}\u0000${merchant}`;

/** Which of the cells' batches are committed (batch 0, cells from before batches, always is). */
async function committedOf(ledger: IngestPort, rows: ReadonlyArray<Row | undefined>, known: Map<number, number>, except?: number): Promise<(batch: number) => boolean> {
  const ask = new Set<number>();
  for (const r of rows) for (const c of r?.cells ?? []) {
    const b = qualifierBatch(c.qualifier);
    if (b !== 0 && b !== except && !known.has(b)) ask.add(b);
  }
  if (ask.size > 0) for (const [id, seq] of await ledger.committed([...ask])) known.set(id, seq);
  return (b) => b === 0 || (b !== except && known.has(b));
}

function classify(pending: Pending[], existing: ReadonlyArray<Row | undefined>, isCommitted: (b: number) => boolean, batch: IngestBatch): Classified {
  const out: Classified = { rows: [], buckets: new Map(), touched: new Map(), fresh: [], newIdentities: 0, written: new Set() };
  const byKey = new Map<string, { p: Pending; stored: Set<string>; isNew: boolean; changed: boolean; cells: Row['cells'] }>();
  pending.forEach((p) => {
    if (byKey.has(p.keyId)) return;
    byKey.set(p.keyId, { p, stored: new Set(), isNew: true, changed: false, cells: [] });
  });
  // existing[] aligns with the unique keys in first-seen order.
  [...byKey.values()].forEach((v, i) => {
    for (const c of existing[i]?.cells ?? []) {
      if (!isCommitted(qualifierBatch(c.qualifier))) continue;
      v.stored.add(occurrenceOf(c.qualifier));
      v.isNew = false;
    }
  });
  for (const p of pending) {
    const v = byKey.get(p.keyId)!;
    const q = occurrenceQualifier(p.ts, p.raw, batch.id, p.stored);
    const occ = occurrenceOf(q);
    if (v.stored.has(occ)) continue; // an exact re-send (or a repeat within this batch)
    v.stored.add(occ);
    v.changed = true;
    v.cells.push({ family: RAW_FAMILY, qualifier: q, value: p.raw });
  }
  for (const v of byKey.values()) {
    if (!v.changed) continue;
    out.rows.push({ key: v.p.key, cells: v.cells });
    out.written.add(v.p.keyId);
    const t = out.touched.get(mdKey(v.p.day, v.p.merchant_id)) ?? { day: v.p.day, merchant_id: v.p.merchant_id, rows: 0 };
    t.rows++;
    out.touched.set(mdKey(v.p.day, v.p.merchant_id), t);
    if (!v.isNew) continue;
    out.newIdentities++;
    out.fresh.push(v.p);
    const bk = `${v.p.day}\u0000${v.p.merchant_id}\u0000${v.p.bucket}`;
    const b = out.buckets.get(bk) ?? { day: v.p.day, merchant_id: v.p.merchant_id, bucket: v.p.bucket, rows: 0 };
    b.rows++;
    out.buckets.set(bk, b);
  }
  return out;
}

export async function ingest(input: AsyncIterable<Buffer | string>, rejectsPath: string | null, deps: IngestDeps): Promise<IngestSummary> {
  const t0 = deps.now();
  const batchRows = deps.batchRows ?? 2000;
  const batchBytes = deps.batchBytes ?? 8 * 1024 * 1024;
  const dayOf = deps.dayOf ?? utcDayOf;
  const source = deps.source ?? 'stdin';
  const s: IngestSummary = { read: 0, blank: 0, stored: 0, new_events: 0, duplicates: 0, refused: 0, refused_by_reason: {}, merchant_days: 0, days: {}, late_rows: 0, late_merchant_days: 0, rejects_file: rejectsPath, elapsed_ms: 0 };
  const merchantDays = new Set<string>();
  const lateMerchantDays = new Set<string>();
  const committed = new Map<number, number>();
  let rejectsFile: WriteStream | undefined;
  let rejects: IngestReject[] = [];
  let batch: Pending[] = [];
  let bytes = 0;
  const maxInFlight = Math.max(1, deps.batchesInFlight ?? 2);
  /** batches being written, oldest first */
  const writing: Array<Promise<void>> = [];
  /** the rows (keyId) each recent batch of this process wrote, for recheck */
  const ownRows = new Map<number, ReadonlySet<string>>();

  const flush = async (pending: Pending[], refusals: IngestReject[]): Promise<void> => {
    if (refusals.length > 0) await deps.ledger.addRejects(refusals);
    if (pending.length === 0) return;
    const b = await deps.ledger.open();
    const keys = [...new Map(pending.map((p) => [p.keyId, p.key])).values()];
    const existing = await deps.hbase.getMany(deps.rawTable, keys);
    const c = classify(pending, existing, await committedOf(deps.ledger, existing, committed), b);
    if (c.rows.length > 0) await deps.hbase.putMany(deps.rawTable, c.rows);
    ownRows.set(b.id, c.written);
    const res = await deps.ledger.commit({
      batch: b,
      ...(deps.zonesVersion !== undefined ? { zonesVersion: deps.zonesVersion } : {}),
      buckets: [...c.buckets.values()],
      touched: [...c.touched.values()],
      // A batch that wrote to the same merchant-days committed while this one was open: count as
      // new only the identities with no cell of a committed batch but this one.
      async recheck(racing) {
        // Racing only this process's own batches (two in flight race on every shared merchant-day):
        // their rows are known here, so no read-back. A row has a committed cell of a racing batch
        // exactly when that batch wrote it; cells of batches committed before this one opened were
        // already seen by its first read. Any other racer: read the rows again.
        const theirs = [...racing].map((id) => ownRows.get(id));
        let has: (p: Pending, i: number) => boolean;
        if (theirs.every((x) => x !== undefined)) {
          has = (p) => theirs.some((rows) => rows!.has(p.keyId));
        } else {
          const again = await deps.hbase.getMany(deps.rawTable, c.fresh.map((p) => p.key));
          const isCommitted = await committedOf(deps.ledger, again, committed, b.id);
          has = (_p, i) => (again[i]?.cells ?? []).some((cell) => isCommitted(qualifierBatch(cell.qualifier)));
        }
        const out = new Map<string, BucketCountRow>();
        c.fresh.forEach((p, i) => {
          if (has(p, i)) return;
          const k = `${p.day}\u0000${p.merchant_id}\u0000${p.bucket}`;
          const x = out.get(k) ?? { day: p.day, merchant_id: p.merchant_id, bucket: p.bucket, rows: 0 };
          x.rows++;
          out.set(k, x);
        });
        c.newIdentities = [...out.values()].reduce((a, x) => a + x.rows, 0);
        return [...out.values()];
      },
    });
    committed.set(b.id, res === 'already' ? 0 : res.seq);
    // A batch can only race batches in flight beside it: a few recent ones are enough to keep.
    for (const id of ownRows.keys()) if (ownRows.size > 4 * maxInFlight) ownRows.delete(id);
    s.new_events += c.newIdentities;
    s.duplicates += pending.length - c.newIdentities;
    if (res !== 'already') {
      for (const l of res.late) {
        s.late_rows += l.rows;
        lateMerchantDays.add(mdKey(l.day, l.merchant_id));
      }
    }
  };

  const refuse = async (line: Line, reason: RefuseReason, detail: string, where: { merchant_id?: string; day?: string } = {}): Promise<void> => {
    s.refused++;
    s.refused_by_reason[reason] = (s.refused_by_reason[reason] ?? 0) + 1;
    // The whole line's bytes name it; an over-long line (not held whole) by its beginning and length.
    const sha256 = createHash('sha256').update(line.raw).update(line.tooLong ? `/${line.bytes}` : '').digest();
    rejects.push({
      day: where.day ?? utcDay(deps.now()), day_known: where.day !== undefined, merchant_id: where.merchant_id ?? null, source, line_no: line.number,
      reason, detail, line_bytes: line.bytes, head: line.raw.subarray(0, 4096), sha256,
    });
    if (rejectsPath) {
      rejectsFile ??= createWriteStream(rejectsPath, { flags: 'w' });
      // JSON text cannot hold bytes that are not UTF-8: those lines also carry their exact bytes.
      const exact = line.invalidUtf8 ? { bytes_base64: line.raw.subarray(0, 4096).toString('base64') } : {};
      await writeLine(rejectsFile, JSON.stringify({ line: line.number, reason, detail, text: line.text.slice(0, 4096), ...exact }) + '\n');
    }
  };

  const cut = async (): Promise<void> => {
    const full = batch;
    const refusals = rejects;
    batch = [];
    rejects = [];
    bytes = 0;
    // At most maxInFlight batches are written at once (bounded memory: each is bounded in bytes).
    // Batches in flight together may race on an identity; commit's recheck keeps the counts exact,
    // as it does for two ingest processes.
    while (writing.length >= maxInFlight) await writing.shift();
    const w = flush(full, refusals);
    // Keep the rejection visible without an unhandled-rejection crash; the next await rethrows.
    w.catch(() => undefined);
    writing.push(w);
    deps.onProgress?.({ ...s, merchant_days: merchantDays.size, elapsed_ms: deps.now() - t0 });
  };

  try {
    for await (const line of splitLines(input, MAX_LINE_BYTES)) {
      s.read++;
      if (line.tooLong) {
        await refuse(line, 'too_long', `line of ${line.bytes} bytes is longer than ${MAX_LINE_BYTES}`);
      } else if (line.invalidUtf8) {
        await refuse(line, 'invalid_utf8', `byte ${firstInvalidUtf8(line.raw)} of the line is not valid UTF-8 (JSON text must be UTF-8; the line is kept as received in the rejects)`);
      } else {
        const res = checkIngest(line.text, dayOf);
        if (res.kind === 'blank') {
          s.blank++;
        } else if (res.kind === 'refused') {
          await refuse(line, res.reason, res.detail, { ...(res.merchant_id !== undefined ? { merchant_id: res.merchant_id } : {}), ...(res.day !== undefined ? { day: res.day } : {}) });
        } else {
          const id = res.identity;
          const key = rawRowKey(id, deps.buckets);
          // The night's verdict, reached once here with the night's own function (see domain/stored.ts).
          const verdict = validateStored(res.raw);
          const stored = verdict.ok ? encodeStoredEvent(verdict.event) : undefined;
          batch.push({ key, keyId: key.toString('latin1'), merchant_id: id.merchant_id, day: id.day, bucket: rawKeyBucket(key), ts: id.ts, raw: line.raw, stored });
          bytes += stored?.length ?? 0;
          bytes += line.raw.length + key.length;
          s.stored++;
          s.days[id.day] = (s.days[id.day] ?? 0) + 1;
          merchantDays.add(mdKey(id.day, id.merchant_id));
        }
      }
      if (batch.length >= batchRows || bytes >= batchBytes || rejects.length >= 1000) await cut();
    }
    for (const w of writing.splice(0)) await w;
    await flush(batch, rejects);
  } finally {
    if (rejectsFile) {
      rejectsFile.end();
      await once(rejectsFile, 'close');
    }
  }
  if (rejectsPath && !rejectsFile) s.rejects_file = null;
  s.merchant_days = merchantDays.size;
  s.late_merchant_days = lateMerchantDays.size;
  s.elapsed_ms = deps.now() - t0;
  return s;
}
