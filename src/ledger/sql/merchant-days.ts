/** Merchant-days and partials: summarize's side of the ledger. */
import type { Db } from '../../adapters/mysql.js';
import type { MerchantDaysPort } from '../types.js';
import { num } from './common.js';

/**
 * The merchant-day's state and its ledger in one round trip. Only partials of chunks in this
 * epoch's plan count: a stray partial of a superseded plan must not.
 */
const COMPLETENESS = `SELECT md.state, l.chunks, l.sealed, l.expected, l.invalid,
   (SELECT COUNT(*) FROM partials p JOIN chunk_ledger c ON c.day = p.day AND c.epoch = p.epoch AND c.merchant_id = p.merchant_id AND c.chunk_id = p.chunk_id
     WHERE p.day = md.day AND p.epoch = md.epoch AND p.merchant_id = md.merchant_id) AS received
 FROM merchant_days md
 LEFT JOIN (SELECT day, epoch, merchant_id, COUNT(*) AS chunks, SUM(sealed_at IS NOT NULL) AS sealed, SUM(batches) AS expected, SUM(invalid) AS invalid
            FROM chunk_ledger WHERE day = ? AND epoch = ? AND merchant_id = ? GROUP BY day, epoch, merchant_id) l
   ON l.day = md.day AND l.epoch = md.epoch AND l.merchant_id = md.merchant_id
 WHERE md.day = ? AND md.epoch = ? AND md.merchant_id = ?`;

export function mysqlMerchantDays(db: Db): MerchantDaysPort {
  return {
    async addPartial(p) {
      const r = await db.execute('INSERT IGNORE INTO partials (day, epoch, merchant_id, batch_id, chunk_id, payload) VALUES (?, ?, ?, ?, ?, ?)', [p.day, p.epoch, p.merchant_id, p.batch_id, p.chunk_id, p.payload]);
      return r.affectedRows > 0;
    },
    async completeness(day, epoch, merchantId) {
      const [r] = await db.query<Record<string, unknown>>(COMPLETENESS, [day, epoch, merchantId, day, epoch, merchantId]);
      if (!r) return undefined;
      return { state: String(r.state) as 'pending' | 'done', chunks: num(r.chunks), sealed: num(r.sealed), expectedBatches: num(r.expected), receivedBatches: num(r.received), invalid: num(r.invalid) };
    },
    async partialPayloads(day, epoch, merchantId) {
      const rows = await db.query<{ payload: Buffer }>(
        `SELECT p.payload FROM partials p JOIN chunk_ledger c ON c.day = p.day AND c.epoch = p.epoch AND c.merchant_id = p.merchant_id AND c.chunk_id = p.chunk_id
         WHERE p.day = ? AND p.epoch = ? AND p.merchant_id = ? ORDER BY p.batch_id`, [day, epoch, merchantId]);
      return rows.map((r) => r.payload);
    },
    async markDone(day, epoch, merchantId, events, invalidEvents) {
      const r = await db.execute("UPDATE merchant_days SET state = 'done', events = ?, invalid_events = ?, done_at = NOW(3) WHERE day = ? AND epoch = ? AND merchant_id = ? AND state = 'pending'",
        [events, invalidEvents, day, epoch, merchantId]);
      return r.affectedRows > 0;
    },
  };
}
