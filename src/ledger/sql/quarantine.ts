/**
 * Stored events that failed a rule: what `stageline rejects --day D` lists. The visitor and event
 * ids are stored as their UTF-8 bytes (VARBINARY): they compare byte for byte, so ids that differ
 * only in trailing spaces, case or accents stay two rows.
 */
import type { Db } from '../../adapters/mysql.js';
import type { QuarantinePort, QuarantineRow } from '../types.js';
import { insertMany, num, statementBudget } from './common.js';

const text = (x: unknown): string => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x));

export function mysqlQuarantine(db: Db): QuarantinePort {
  return {
    async add(day, merchantId, rows) {
      await insertMany(db, await statementBudget(db), 'INSERT IGNORE INTO quarantine (day, merchant_id, visitor_id, event_id, reason, detail, raw)', '(?, ?, ?, ?, ?, ?, ?)', rows,
        (r) => [day, merchantId, Buffer.from(r.visitor_id, 'utf8'), Buffer.from(r.event_id, 'utf8'), r.reason, r.detail.slice(0, 512), r.raw]);
    },
    async read(day, merchant, limit) {
      const where = merchant ? 'day = ? AND merchant_id = ?' : 'day = ?';
      const params = merchant ? [day, merchant] : [day];
      const reasons = await db.query<{ reason: string; n: number }>(`SELECT reason, COUNT(*) AS n FROM quarantine WHERE ${where} GROUP BY reason ORDER BY n DESC`, params);
      const rows = await db.query<Record<string, unknown>>(`SELECT merchant_id, visitor_id, event_id, reason, detail, raw FROM quarantine WHERE ${where} ORDER BY merchant_id, visitor_id, event_id LIMIT ${Number(limit)}`, params);
      const byReason = Object.fromEntries(reasons.map((r) => [r.reason, num(r.n)]));
      return {
        total: Object.values(byReason).reduce((a, b) => a + b, 0),
        byReason,
        rows: rows.map((r): QuarantineRow & { merchant_id: string } => ({ merchant_id: String(r.merchant_id), visitor_id: text(r.visitor_id), event_id: text(r.event_id), reason: String(r.reason), detail: String(r.detail), raw: String(r.raw) })),
      };
    },
  };
}
