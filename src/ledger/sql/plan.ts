/**
 * The plan: the epoch's snapshot and batch shape (`run_epochs`), its chunks with their publish
 * checkpoint (`run_chunks`), the ledger rows with the rows each range must read (`chunk_ledger`),
 * its merchant-days and their current epoch, all written in one transaction under the lease.
 */
import type { Db, Queryable } from '../../adapters/mysql.js';
import type { ChunkRange, Plan } from '../../domain/plan.js';
import type { BucketCountRow, ChunkRow, EpochMeta, PlanPort, PlanRequest } from '../types.js';
import { inList, insertMany, msOrNull, num, statementBudget, tsCol } from './common.js';

const CHUNK_COLUMNS = 'rc.chunk_id, rc.seq, rc.ranges, rc.est_rows, rc.publish_count, rc.published_at IS NOT NULL AS published, rc.split_done_at IS NOT NULL AS split_done';

export function toChunkRow(r: Record<string, unknown>): ChunkRow {
  const ranges = typeof r.ranges === 'string' ? (JSON.parse(r.ranges) as ChunkRange[]) : (r.ranges as ChunkRange[]);
  return { chunk_id: String(r.chunk_id), seq: num(r.seq), ranges, est_rows: num(r.est_rows), publish_count: num(r.publish_count), published: num(r.published) === 1, split_done: num(r.split_done) === 1 };
}

export function toEpochMeta(r: Record<string, unknown>): EpochMeta {
  return {
    day: String(r.day), epoch: num(r.epoch), kind: String(r.kind) as EpochMeta['kind'], snapshotSeq: num(r.snapshot_seq),
    shape: { maxVisitors: num(r.batch_visitors), maxBatchBytes: num(r.batch_bytes), maxPartialBytes: num(r.partial_bytes) },
    planned_at: msOrNull(r.planned_at) ?? 0,
    ...(r.from_stage !== null && r.from_stage !== undefined ? { fromStage: String(r.from_stage) } : {}),
    ...(r.source_epoch !== null && r.source_epoch !== undefined ? { sourceEpoch: num(r.source_epoch) } : {}),
  };
}

export const EPOCH_COLUMNS = `day, epoch, kind, snapshot_seq, batch_visitors, batch_bytes, partial_bytes, from_stage, source_epoch, ${tsCol('planned_at')}`;

/** Rows a range must read: the exact per-bucket counts of its buckets, as of the snapshot. */
function expectedRows(counts: readonly BucketCountRow[]): (r: ChunkRange) => number {
  const by = new Map<string, number[]>();
  for (const c of counts) {
    const list = by.get(c.merchant_id) ?? [];
    list[c.bucket] = (list[c.bucket] ?? 0) + c.rows;
    by.set(c.merchant_id, list);
  }
  return (r) => {
    const list = by.get(r.merchant_id) ?? [];
    let n = 0;
    for (let b = r.bucket_lo; b < r.bucket_hi; b++) n += list[b] ?? 0;
    return n;
  };
}

async function create(db: Db, req: PlanRequest): Promise<Awaited<ReturnType<PlanPort['create']>>> {
  const budget = await statementBudget(db);
  return db.tx(async (q: Queryable) => {
    const [run] = await q.query<{ epoch: number; lock_owner: string | null; chunks: number; merchant_days: number; planned_rows: number }>(
      'SELECT epoch, lock_owner, chunks, merchant_days, planned_rows FROM runs WHERE day = ? FOR UPDATE', [req.day]);
    if (!run || run.lock_owner !== req.owner || num(run.epoch) !== req.epoch) return 'lost-lease' as const;
    const [done] = await q.query<{ snapshot_seq: number }>('SELECT snapshot_seq FROM run_epochs WHERE day = ? AND epoch = ?', [req.day, req.epoch]);
    if (done) return { chunks: num(run.chunks), merchantDays: num(run.merchant_days), rows: num(run.planned_rows), snapshotSeq: num(done.snapshot_seq) };
    // The commit counter, locked: no ingest batch commits while the snapshot is fixed and counted.
    const [clock] = await q.query<{ commit_seq: number }>('SELECT commit_seq FROM ingest_clock WHERE id = 1 FOR UPDATE');
    const snapshotSeq = num(clock?.commit_seq);
    // A catch-up plans the merchant-days with late data and those with rows but no plan yet, as
    // they are at this very snapshot; any plan takes only the due ones.
    const only = req.merchants === 'late'
      ? (await q.query<{ merchant_id: string }>(
        `SELECT merchant_id FROM late_data WHERE day = ? AND \`rows\` > 0
         UNION SELECT DISTINCT rb.merchant_id FROM raw_buckets rb WHERE rb.day = ? AND rb.rows_stored > 0
           AND NOT EXISTS (SELECT 1 FROM merchant_day_epochs e WHERE e.day = rb.day AND e.merchant_id = rb.merchant_id)`, [req.day, req.day])).map((r) => r.merchant_id)
      : req.merchants;
    const due = req.due ?? (() => true);
    const counts = (await q.query<{ merchant_id: string; bucket: number; rows: number }>(
      `SELECT merchant_id, bucket, rows_stored AS \`rows\` FROM raw_buckets WHERE day = ? AND rows_stored > 0${only ? ` AND merchant_id IN (${inList(only)})` : ''} ORDER BY merchant_id, bucket`,
      [req.day, ...(only ?? [])])).map((r) => ({ day: req.day, merchant_id: r.merchant_id, bucket: num(r.bucket), rows: num(r.rows) })).filter((c) => due(c.merchant_id));
    const p: Plan = req.planner(counts);
    const expected = expectedRows(counts);
    const { day, epoch } = req;
    await q.execute('INSERT INTO run_epochs (day, epoch, kind, snapshot_seq, batch_visitors, batch_bytes, partial_bytes) VALUES (?, ?, ?, ?, ?, ?, ?)',
      [day, epoch, req.kind, snapshotSeq, req.shape.maxVisitors, req.shape.maxBatchBytes, req.shape.maxPartialBytes]);
    await insertMany(q, budget, 'INSERT IGNORE INTO run_chunks (day, epoch, chunk_id, seq, ranges, est_rows)', '(?, ?, ?, ?, ?, ?)', p.chunks,
      (c) => [day, epoch, c.chunk_id, c.seq, JSON.stringify(c.ranges), c.est_rows]);
    const ranges = p.chunks.flatMap((c) => c.ranges.map((r) => ({ c, r })));
    await insertMany(q, budget, 'INSERT IGNORE INTO chunk_ledger (day, epoch, chunk_id, merchant_id, bucket_lo, bucket_hi, expected_rows)', '(?, ?, ?, ?, ?, ?, ?)', ranges,
      ({ c, r }) => [day, epoch, c.chunk_id, r.merchant_id, r.bucket_lo, r.bucket_hi, expected(r)]);
    await insertMany(q, budget, 'INSERT IGNORE INTO merchant_days (day, epoch, merchant_id, chunks, est_rows, time_zone, day_start_ms, day_end_ms, hours, day_start_iso, day_end_iso)', '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', p.merchantDays,
      (m) => {
        const f = req.frame(m.merchant_id);
        return [day, epoch, m.merchant_id, m.chunks, m.est_rows, f.time_zone, f.start_ms, f.end_ms, f.hours, f.start_iso, f.end_iso];
      });
    await insertMany(q, budget, 'INSERT INTO merchant_day_epochs (day, merchant_id, epoch)', '(?, ?, ?)', p.merchantDays,
      (m) => [day, m.merchant_id, epoch], 'ON DUPLICATE KEY UPDATE epoch = GREATEST(epoch, VALUES(epoch))');
    // Late rows of these merchant-days are in this snapshot: nothing is waiting for them any more.
    for (let i = 0; i < p.merchantDays.length; i += 500) {
      const ms = p.merchantDays.slice(i, i + 500).map((m) => m.merchant_id);
      await q.execute(`DELETE FROM late_data WHERE day = ? AND merchant_id IN (${inList(ms)})`, [day, ...ms]);
    }
    await q.execute("UPDATE runs SET state = 'running', chunks = ?, merchant_days = ?, planned_rows = ? WHERE day = ? AND epoch = ?", [p.chunks.length, p.merchantDays.length, p.totalRows, day, epoch]);
    return { chunks: p.chunks.length, merchantDays: p.merchantDays.length, rows: p.totalRows, snapshotSeq };
  });
}

/** The run's lease holder, as a join condition: every write of the master's is guarded by it. */
const OWNED = 'JOIN runs r ON r.day = rc.day AND r.lock_owner = ?';

export function mysqlPlan(db: Db): PlanPort {
  return {
    create: (req) => create(db, req),
    async meta(day, epoch) {
      const [r] = await db.query<Record<string, unknown>>(`SELECT ${EPOCH_COLUMNS} FROM run_epochs WHERE day = ? AND epoch = ?`, [day, epoch]);
      return r ? toEpochMeta(r) : undefined;
    },
    async chunks(day, epoch, filter = 'all') {
      const rows = await db.query<Record<string, unknown>>(`SELECT ${CHUNK_COLUMNS} FROM run_chunks rc WHERE rc.day = ? AND rc.epoch = ?${filter === 'unpublished' ? ' AND rc.published_at IS NULL' : ''} ORDER BY rc.seq`, [day, epoch]);
      return rows.map(toChunkRow);
    },
    async markPublished(day, epoch, owner, ids) {
      if (ids.length === 0) return true;
      const r = await db.execute(`UPDATE run_chunks rc ${OWNED} SET rc.published_at = NOW(3), rc.publish_count = rc.publish_count + 1 WHERE rc.day = ? AND rc.epoch = ? AND rc.chunk_id IN (${inList(ids)})`, [owner, day, epoch, ...ids]);
      return r.affectedRows > 0;
    },
    async chunksOfPendingMerchantDays(day, epoch) {
      const rows = await db.query<Record<string, unknown>>(
        `SELECT DISTINCT ${CHUNK_COLUMNS} FROM run_chunks rc
         JOIN chunk_ledger cl ON cl.day = rc.day AND cl.epoch = rc.epoch AND cl.chunk_id = rc.chunk_id
         JOIN merchant_days md ON md.day = cl.day AND md.epoch = cl.epoch AND md.merchant_id = cl.merchant_id
         WHERE rc.day = ? AND rc.epoch = ? AND md.state = 'pending' ORDER BY rc.chunk_id`, [day, epoch]);
      return rows.map(toChunkRow);
    },
    async resetSplit(day, epoch, owner, ids) {
      if (ids.length === 0) return true;
      const r = await db.execute(`UPDATE run_chunks rc ${OWNED} SET rc.split_done_at = NULL WHERE rc.day = ? AND rc.epoch = ? AND rc.chunk_id IN (${inList(ids)})`, [owner, day, epoch, ...ids]);
      return r.affectedRows > 0;
    },
  };
}
