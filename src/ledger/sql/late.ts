/** Late data: what ingest counted for merchant-days that were planned already (cleared by the next plan of them). */
import type { Db } from '../../adapters/mysql.js';
import type { LateDataPort } from '../types.js';
import { num } from './common.js';

export function mysqlLate(db: Db): LateDataPort {
  return {
    async ofDay(day) {
      const rows = await db.query<{ merchant_id: string; rows: number }>('SELECT merchant_id, `rows` FROM late_data WHERE day = ? AND `rows` > 0 ORDER BY merchant_id', [day]);
      return rows.map((r) => ({ day, merchant_id: r.merchant_id, rows: num(r.rows) }));
    },
    async days(since) {
      const rows = await db.query<{ day: string; n: number; rows: number }>(
        `SELECT day, COUNT(*) AS n, SUM(\`rows\`) AS \`rows\` FROM late_data WHERE \`rows\` > 0${since ? ' AND day >= ?' : ''} GROUP BY day ORDER BY day`, since ? [since] : []);
      return rows.map((r) => ({ day: String(r.day), merchantDays: num(r.n), rows: num(r.rows) }));
    },
  };
}
