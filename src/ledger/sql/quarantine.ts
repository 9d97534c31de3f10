/** Stored events that failed a rule: what `stageline rejects --day D` lists. */
import type { Db } from '../../adapters/mysql.js';
import type { QuarantinePort, QuarantineRow } from '../types.js';
import { num, placeholders } from './common.js';

export function mysqlQuarantine(db: Db): QuarantinePort {
  return {
    async add(day, merchantId, rows) {
      for (let i = 0; i < rows.length; i += 500) {
        const part = rows.slice(i, i + 500);
        await db.execute(`INSERT IGNORE INTO quarantine (day, merchant_id, visitor_id, event_id, reason, detail, raw) VALUES ${placeholders(part.length, '(?, ?, ?, ?, ?, ?, ?)')}`,
          part.flatMap((r) => [day, merchantId, r.visitor_id, r.event_id, r.reason, r.detail.slice(0, 512), r.raw]));
      }
    },
    async read(day, merchant, limit) {
      const where = merchant ? 'day = ? AND merchant_id = ?' : 'day = ?';
      const params = merchant ? [day, merchant] : [day];
      const reasons = await db.query<{ reason: string; n: number }>(`SELECT reason, COUNT(*) AS n FROM quarantine WHERE ${where} GROUP BY reason ORDER BY n DESC`, params);
      const rows = await db.query<QuarantineRow & { merchant_id: string }>(`SELECT merchant_id, visitor_id, event_id, reason, detail, raw FROM quarantine WHERE ${where} ORDER BY merchant_id, visitor_id, event_id LIMIT ${Number(limit)}`, params);
      const byReason = Object.fromEntries(reasons.map((r) => [r.reason, num(r.n)]));
      return { total: Object.values(byReason).reduce((a, b) => a + b, 0), byReason, rows };
    },
  };
}
