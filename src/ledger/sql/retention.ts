/**
 * Retention: the bookkeeping a night needs only while it runs, removed for old days in bounded
 * statements (DELETE … LIMIT), so a purge never holds long locks or one huge transaction. What the
 * report of an old day reads stays: runs, run_epochs, merchant_day_epochs, the merchant_days of each
 * merchant-day's shown epoch, and the ingest batches' day index (a re-run of an old day needs it to
 * read its raw rows).
 */
import type { Db } from '../../adapters/mysql.js';
import type { PurgeCounts, RetentionPort } from '../types.js';
import { num } from './common.js';

/** Tables and the condition that makes a row purgeable; `?` is the cutoff day. */
const BY_DAY: Array<[table: string, where: string, cutoff: 'run' | 'quarantine']> = [
  ['partials', 'day < ?', 'run'],
  ['sealed_batches', 'day < ?', 'run'],
  ['chunk_work', 'day < ?', 'run'],
  ['run_offsets', 'day < ?', 'run'],
  // The plan of every epoch but the one each merchant-day shows.
  ['chunk_ledger', 'day < ? AND NOT EXISTS (SELECT 1 FROM merchant_day_epochs e WHERE e.day = chunk_ledger.day AND e.merchant_id = chunk_ledger.merchant_id AND e.done_epoch = chunk_ledger.epoch)', 'run'],
  ['run_chunks', 'day < ? AND NOT EXISTS (SELECT 1 FROM chunk_ledger cl WHERE cl.day = run_chunks.day AND cl.epoch = run_chunks.epoch AND cl.chunk_id = run_chunks.chunk_id)', 'run'],
  ['merchant_days', 'day < ? AND NOT EXISTS (SELECT 1 FROM merchant_day_epochs e WHERE e.day = merchant_days.day AND e.merchant_id = merchant_days.merchant_id AND e.done_epoch = merchant_days.epoch)', 'run'],
  ['late_data', 'day < ?', 'run'],
  ['quarantine', 'day < ?', 'quarantine'],
  ['ingest_rejects', 'day < ?', 'quarantine'],
  ['dead_letters', '(day < ? OR (day IS NULL AND failed_at < ?))', 'quarantine'],
];

export function mysqlRetention(db: Db): RetentionPort {
  return {
    async purge(o) {
      const out: PurgeCounts = {};
      for (const [table, where, kind] of BY_DAY) {
        const cutoff = kind === 'run' ? o.before : o.quarantineBefore;
        const params = table === 'dead_letters' ? [cutoff, `${cutoff} 00:00:00`] : [cutoff];
        if (o.dryRun) {
          const [r] = await db.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`, params);
          out[table] = num(r?.n);
          continue;
        }
        let total = 0;
        for (;;) {
          const r = await db.execute(`DELETE FROM ${table} WHERE ${where} LIMIT ${Number(o.batch)}`, params);
          total += r.affectedRows;
          if (r.affectedRows < o.batch) break;
        }
        out[table] = total;
      }
      return out;
    },
    async superseded(day) {
      const rows = await db.query<{ merchant_id: string; epoch: number }>(
        `SELECT md.merchant_id, md.epoch FROM merchant_days md JOIN merchant_day_epochs e ON e.day = md.day AND e.merchant_id = md.merchant_id
         WHERE md.day = ? AND e.done_epoch IS NOT NULL AND md.epoch < e.done_epoch ORDER BY md.merchant_id, md.epoch`, [day]);
      return rows.map((r) => ({ merchant_id: r.merchant_id, epoch: num(r.epoch) }));
    },
  };
}
