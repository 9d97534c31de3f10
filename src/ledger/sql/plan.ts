/** The plan: `run_chunks` (chunks with their publish checkpoint), `chunk_ledger` rows and `merchant_days`, written in one transaction. */
import type { Db, Queryable } from '../../adapters/mysql.js';
import type { ChunkRange, Plan } from '../../domain/plan.js';
import type { ChunkRow, PlanPort } from '../types.js';
import { inList, num, placeholders } from './common.js';

const CHUNK_COLUMNS = 'rc.chunk_id, rc.seq, rc.ranges, rc.est_rows, rc.publish_count, rc.published_at IS NOT NULL AS published, rc.split_done_at IS NOT NULL AS split_done';

export function toChunkRow(r: Record<string, unknown>): ChunkRow {
  const ranges = typeof r.ranges === 'string' ? (JSON.parse(r.ranges) as ChunkRange[]) : (r.ranges as ChunkRange[]);
  return { chunk_id: String(r.chunk_id), seq: num(r.seq), ranges, est_rows: num(r.est_rows), publish_count: num(r.publish_count), published: num(r.published) === 1, split_done: num(r.split_done) === 1 };
}

async function insertChunks(q: Queryable, day: string, epoch: number, chunks: Plan['chunks']): Promise<void> {
  await q.execute(`INSERT IGNORE INTO run_chunks (day, epoch, chunk_id, seq, ranges, est_rows) VALUES ${placeholders(chunks.length, '(?, ?, ?, ?, ?, ?)')}`,
    chunks.flatMap((c) => [day, epoch, c.chunk_id, c.seq, JSON.stringify(c.ranges), c.est_rows]));
}

async function insertLedgerRows(q: Queryable, day: string, epoch: number, chunks: Plan['chunks']): Promise<void> {
  const rows = chunks.flatMap((c) => c.ranges.map((r) => [day, epoch, c.chunk_id, r.merchant_id, r.bucket_lo, r.bucket_hi]));
  if (rows.length === 0) return;
  await q.execute(`INSERT IGNORE INTO chunk_ledger (day, epoch, chunk_id, merchant_id, bucket_lo, bucket_hi) VALUES ${placeholders(rows.length, '(?, ?, ?, ?, ?, ?)')}`, rows.flat());
}

async function insertMerchantDays(q: Queryable, day: string, epoch: number, mds: Plan['merchantDays']): Promise<void> {
  await q.execute(`INSERT IGNORE INTO merchant_days (day, epoch, merchant_id, chunks, est_rows) VALUES ${placeholders(mds.length, '(?, ?, ?, ?, ?)')}`,
    mds.flatMap((m) => [day, epoch, m.merchant_id, m.chunks, m.est_rows]));
}

async function markRunning(q: Queryable, day: string, epoch: number, p: Plan): Promise<void> {
  await q.execute("UPDATE runs SET state = 'running', chunks = ?, merchant_days = ?, planned_rows = ? WHERE day = ? AND epoch = ?", [p.chunks.length, p.merchantDays.length, p.totalRows, day, epoch]);
}

async function save(db: Db, day: string, epoch: number, p: Plan): Promise<void> {
  await db.tx(async (q) => {
    // INSERT IGNORE throughout: the transaction is all or nothing, and a repeat of it is a no-op.
    for (let i = 0; i < p.chunks.length; i += 200) {
      const part = p.chunks.slice(i, i + 200);
      await insertChunks(q, day, epoch, part);
      await insertLedgerRows(q, day, epoch, part);
    }
    for (let i = 0; i < p.merchantDays.length; i += 500) await insertMerchantDays(q, day, epoch, p.merchantDays.slice(i, i + 500));
    await markRunning(q, day, epoch, p);
  });
}

export function mysqlPlan(db: Db): PlanPort {
  return {
    save: (day, epoch, p) => save(db, day, epoch, p),
    async chunks(day, epoch, filter = 'all') {
      const rows = await db.query<Record<string, unknown>>(`SELECT ${CHUNK_COLUMNS} FROM run_chunks rc WHERE rc.day = ? AND rc.epoch = ?${filter === 'unpublished' ? ' AND rc.published_at IS NULL' : ''} ORDER BY rc.seq`, [day, epoch]);
      return rows.map(toChunkRow);
    },
    async markPublished(day, epoch, ids) {
      if (ids.length === 0) return;
      await db.execute(`UPDATE run_chunks SET published_at = NOW(3), publish_count = publish_count + 1 WHERE day = ? AND epoch = ? AND chunk_id IN (${inList(ids)})`, [day, epoch, ...ids]);
    },
    async chunksOfPendingMerchantDays(day, epoch) {
      const rows = await db.query<Record<string, unknown>>(
        `SELECT DISTINCT ${CHUNK_COLUMNS} FROM run_chunks rc
         JOIN chunk_ledger cl ON cl.day = rc.day AND cl.epoch = rc.epoch AND cl.chunk_id = rc.chunk_id
         JOIN merchant_days md ON md.day = cl.day AND md.epoch = cl.epoch AND md.merchant_id = cl.merchant_id
         WHERE rc.day = ? AND rc.epoch = ? AND md.state = 'pending' ORDER BY rc.chunk_id`, [day, epoch]);
      return rows.map(toChunkRow);
    },
    async resetSplit(day, epoch, ids) {
      if (ids.length === 0) return;
      await db.execute(`UPDATE run_chunks SET split_done_at = NULL WHERE day = ? AND epoch = ? AND chunk_id IN (${inList(ids)})`, [day, epoch, ...ids]);
    },
  };
}
