/** Chunks and seals: split's side of `run_chunks` and `chunk_ledger`. */
import type { Db } from '../../adapters/mysql.js';
import type { ChunksPort } from '../types.js';
import { toChunkRow } from './plan.js';

export function mysqlChunks(db: Db): ChunksPort {
  return {
    async get(day, epoch, chunkId) {
      const [r] = await db.query<Record<string, unknown>>(
        'SELECT chunk_id, seq, ranges, est_rows, publish_count, published_at IS NOT NULL AS published, split_done_at IS NOT NULL AS split_done FROM run_chunks WHERE day = ? AND epoch = ? AND chunk_id = ?',
        [day, epoch, chunkId]);
      return r ? toChunkRow(r) : undefined;
    },
    async beginSplit(day, epoch, chunkId) {
      await db.execute('UPDATE run_chunks SET split_runs = split_runs + 1 WHERE day = ? AND epoch = ? AND chunk_id = ?', [day, epoch, chunkId]);
    },
    async seal(day, epoch, chunkId, merchantId, c) {
      await db.execute(
        'UPDATE chunk_ledger SET rows_read = ?, valid = ?, invalid = ?, batches = ?, sealed_at = COALESCE(sealed_at, NOW(3)) WHERE day = ? AND epoch = ? AND merchant_id = ? AND chunk_id = ?',
        [c.rows_read, c.valid, c.invalid, c.batches, day, epoch, merchantId, chunkId]);
    },
    async finishSplit(day, epoch, chunkId) {
      await db.execute('UPDATE run_chunks SET split_done_at = COALESCE(split_done_at, NOW(3)) WHERE day = ? AND epoch = ? AND chunk_id = ?', [day, epoch, chunkId]);
    },
  };
}
