/**
 * The master's planning, as a pure function of the per-bucket row counts that ingest keeps.
 * A chunk is a list of (merchant, bucket range) pieces. Bucket ranges of one merchant-day never
 * overlap, and a visitor lives in exactly one bucket, so no two chunks share a visitor.
 */

export interface BucketCount {
  merchant_id: string;
  bucket: number;
  rows: number;
}

export interface ChunkRange {
  merchant_id: string;
  bucket_lo: number;
  /** exclusive */
  bucket_hi: number;
}

export interface PlannedChunk {
  seq: number;
  chunk_id: string;
  ranges: ChunkRange[];
  est_rows: number;
}

export interface PlannedMerchantDay {
  merchant_id: string;
  chunks: number;
  est_rows: number;
}

export interface Plan {
  chunks: PlannedChunk[];
  merchantDays: PlannedMerchantDay[];
  totalRows: number;
}

export const chunkId = (day: string, epoch: number, seq: number): string => `${day}.e${epoch}.c${String(seq).padStart(5, '0')}`;

/**
 * Large merchant-days (more than `chunkRows`) are cut into k = ceil(rows / chunkRows) contiguous
 * bucket ranges of about rows/k each; smaller ones are packed whole, in merchant order, into
 * chunks of at most `chunkRows` rows and `maxRangesPerChunk` ranges (a merchant-day is never cut
 * below the threshold, so most merchant-days need one chunk and their summary waits on nothing else).
 */
export function planDay(day: string, epoch: number, counts: BucketCount[], buckets: number, chunkRows: number, maxRangesPerChunk = Number.POSITIVE_INFINITY): Plan {
  const byMerchant = new Map<string, number[]>();
  for (const c of counts) {
    if (c.bucket < 0 || c.bucket >= buckets) throw new Error(`bucket ${c.bucket} outside 0..${buckets - 1}`);
    let arr = byMerchant.get(c.merchant_id);
    if (!arr) byMerchant.set(c.merchant_id, (arr = new Array<number>(buckets).fill(0)));
    arr[c.bucket] = (arr[c.bucket] ?? 0) + c.rows;
  }
  const merchants = [...byMerchant.keys()].sort();
  const pieces: Array<{ range: ChunkRange; rows: number; whole: boolean }> = [];
  for (const m of merchants) {
    const rows = byMerchant.get(m)!;
    const total = rows.reduce((a, b) => a + b, 0);
    if (total <= chunkRows) {
      pieces.push({ range: { merchant_id: m, bucket_lo: 0, bucket_hi: buckets }, rows: total, whole: true });
      continue;
    }
    const k = Math.min(buckets, Math.ceil(total / chunkRows));
    const target = total / k;
    let lo = 0;
    let acc = 0;
    let cut = 0;
    for (let b = 0; b < buckets; b++) {
      acc += rows[b]!;
      const remainingCuts = k - 1 - cut;
      const bucketsLeft = buckets - 1 - b;
      if (remainingCuts > 0 && (acc >= target * (cut + 1) || bucketsLeft < remainingCuts) && bucketsLeft >= 1) {
        const pieceRows = rows.slice(lo, b + 1).reduce((x, y) => x + y, 0);
        pieces.push({ range: { merchant_id: m, bucket_lo: lo, bucket_hi: b + 1 }, rows: pieceRows, whole: false });
        lo = b + 1;
        cut++;
      }
    }
    pieces.push({ range: { merchant_id: m, bucket_lo: lo, bucket_hi: buckets }, rows: rows.slice(lo).reduce((x, y) => x + y, 0), whole: false });
  }

  const chunks: PlannedChunk[] = [];
  let open: PlannedChunk | undefined;
  for (const p of pieces) {
    if (!p.whole) {
      chunks.push({ seq: chunks.length, chunk_id: chunkId(day, epoch, chunks.length), ranges: [p.range], est_rows: p.rows });
      open = undefined;
      continue;
    }
    // Bounded in ranges too: a chunk task is one Kafka message, and 20k tiny merchants must not make it too big.
    if (!open || open.est_rows + p.rows > chunkRows || open.ranges.length >= maxRangesPerChunk) {
      open = { seq: chunks.length, chunk_id: chunkId(day, epoch, chunks.length), ranges: [], est_rows: 0 };
      chunks.push(open);
    }
    open.ranges.push(p.range);
    open.est_rows += p.rows;
  }

  const mdChunks = new Map<string, number>();
  for (const c of chunks) for (const r of c.ranges) mdChunks.set(r.merchant_id, (mdChunks.get(r.merchant_id) ?? 0) + 1);
  const merchantDays = merchants.map((m) => ({ merchant_id: m, chunks: mdChunks.get(m) ?? 0, est_rows: byMerchant.get(m)!.reduce((a, b) => a + b, 0) }));
  return { chunks, merchantDays, totalRows: merchantDays.reduce((a, m) => a + m.est_rows, 0) };
}
