/**
 * Chunks and seals: split's side of the ledger. A seal is written once: a re-seal that agrees is a
 * no-op, one that disagrees is recorded as a conflict (which fails the run) and changes nothing.
 * Sealing also settles the partials that arrived before it: each is counted as received when its
 * batch id is in the sealed set, and refused when it is not.
 */
import type { Db, Queryable } from '../../adapters/mysql.js';
import type { ChunksPort, SealOutcome, SealRequest, SplitRange } from '../types.js';
import { FRAME_COLUMNS, frameFromRow, insertMany, num, statementBudget } from './common.js';
import { toChunkRow } from './plan.js';

const describe = (c: SealRequest['counts']) => `rows_read ${c.rows_read}, valid ${c.valid}, invalid ${c.invalid}, batches ${c.batches}`;

async function seal(db: Db, s: SealRequest): Promise<SealOutcome> {
  const budget = await statementBudget(db);
  return db.tx(async (q: Queryable): Promise<SealOutcome> => {
    const key = [s.day, s.epoch, s.merchantId, s.chunkId];
    const [row] = await q.query<{ sealed: number; digest: Buffer | null; rows_read: number | null; valid: number | null; invalid: number | null; batches: number | null }>(
      'SELECT sealed_at IS NOT NULL AS sealed, digest, rows_read, valid, invalid, batches FROM chunk_ledger WHERE day = ? AND epoch = ? AND merchant_id = ? AND chunk_id = ? FOR UPDATE', key);
    if (!row) throw new Error(`no ledger row for ${s.chunkId}/${s.merchantId} in epoch ${s.epoch}`);
    if (num(row.sealed) === 1) {
      if (row.digest !== null && Buffer.from(row.digest).equals(s.digest)) return 'same';
      const first = { rows_read: num(row.rows_read), valid: num(row.valid), invalid: num(row.invalid), batches: num(row.batches) };
      const detail = `re-seal disagrees with the first seal: first ${describe(first)} (digest ${row.digest ? Buffer.from(row.digest).toString('hex').slice(0, 16) : 'none'}), now ${describe(s.counts)} (digest ${s.digest.toString('hex').slice(0, 16)})`;
      await q.execute('UPDATE chunk_ledger SET conflict = COALESCE(conflict, ?) WHERE day = ? AND epoch = ? AND merchant_id = ? AND chunk_id = ?', [detail, ...key]);
      return 'conflict';
    }
    const c = s.counts;
    await q.execute('UPDATE chunk_ledger SET rows_read = ?, valid = ?, invalid = ?, batches = ?, digest = ?, sealed_at = NOW(3), last_error = NULL WHERE day = ? AND epoch = ? AND merchant_id = ? AND chunk_id = ?',
      [c.rows_read, c.valid, c.invalid, c.batches, s.digest, ...key]);
    await insertMany(q, budget, 'INSERT IGNORE INTO sealed_batches (day, epoch, merchant_id, batch_id, chunk_id)', '(?, ?, ?, ?, ?)', s.batches,
      (b) => [s.day, s.epoch, s.merchantId, b.id, s.chunkId]);
    // Partials that came before the seal: in the set → received; outside it → refused, never merged.
    const received = await q.execute(
      `UPDATE sealed_batches sb JOIN partials p ON p.day = sb.day AND p.epoch = sb.epoch AND p.merchant_id = sb.merchant_id AND p.batch_id = sb.batch_id
       SET sb.received = 1 WHERE sb.day = ? AND sb.epoch = ? AND sb.merchant_id = ? AND sb.chunk_id = ? AND sb.received = 0 AND p.refused = 0`, key);
    const refused = await q.execute(
      `UPDATE partials p LEFT JOIN sealed_batches sb ON sb.day = p.day AND sb.epoch = p.epoch AND sb.merchant_id = p.merchant_id AND sb.batch_id = p.batch_id
       SET p.refused = 1 WHERE p.day = ? AND p.epoch = ? AND p.merchant_id = ? AND p.chunk_id = ? AND p.refused = 0 AND sb.batch_id IS NULL`, key);
    await q.execute(
      `UPDATE merchant_days SET chunks_sealed = chunks_sealed + 1, batches_expected = batches_expected + ?, batches_received = batches_received + ?,
         invalid_sealed = invalid_sealed + ?, refused_partials = refused_partials + ? WHERE day = ? AND epoch = ? AND merchant_id = ?`,
      [s.batches.length, received.affectedRows, c.invalid, refused.affectedRows, s.day, s.epoch, s.merchantId]);
    return 'sealed';
  });
}

export function mysqlChunks(db: Db): ChunksPort {
  return {
    async get(day, epoch, chunkId) {
      const [r] = await db.query<Record<string, unknown>>(
        'SELECT chunk_id, seq, ranges, est_rows, publish_count, published_at IS NOT NULL AS published, split_done_at IS NOT NULL AS split_done FROM run_chunks WHERE day = ? AND epoch = ? AND chunk_id = ?',
        [day, epoch, chunkId]);
      if (!r) return undefined;
      const chunk = toChunkRow(r);
      const rows = await db.query<Record<string, unknown>>(
        `SELECT cl.merchant_id, cl.expected_rows, ${FRAME_COLUMNS.split(', ').map((c) => `md.${c}`).join(', ')} FROM chunk_ledger cl
         LEFT JOIN merchant_days md ON md.day = cl.day AND md.epoch = cl.epoch AND md.merchant_id = cl.merchant_id
         WHERE cl.day = ? AND cl.epoch = ? AND cl.chunk_id = ?`, [day, epoch, chunkId]);
      const by = new Map(rows.map((x) => [String(x.merchant_id), { expected: num(x.expected_rows), frame: frameFromRow(day, x) }]));
      const ranges: SplitRange[] = chunk.ranges.map((x) => {
        const r = by.get(x.merchant_id);
        const frame = r?.frame ?? frameFromRow(day, {});
        return { ...x, expected_rows: r?.expected ?? 0, day_start: frame.start_ms, hours: frame.hours };
      });
      return { ...chunk, ranges };
    },
    async beginSplit(day, epoch, chunkId) {
      await db.execute('UPDATE run_chunks SET split_runs = split_runs + 1 WHERE day = ? AND epoch = ? AND chunk_id = ?', [day, epoch, chunkId]);
    },
    seal: (s) => seal(db, s),
    async recordError(day, epoch, chunkId, merchantId, error) {
      await db.execute('UPDATE chunk_ledger SET last_error = ? WHERE day = ? AND epoch = ? AND merchant_id = ? AND chunk_id = ? AND sealed_at IS NULL', [error.slice(0, 2000), day, epoch, merchantId, chunkId]);
    },
    async finishSplit(day, epoch, chunkId) {
      await db.execute('UPDATE run_chunks SET split_done_at = COALESCE(split_done_at, NOW(3)) WHERE day = ? AND epoch = ? AND chunk_id = ?', [day, epoch, chunkId]);
    },
  };
}
