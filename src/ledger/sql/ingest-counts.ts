/** Planning counts written by ingest: new identities per (day, merchant, visitor bucket). */
import type { Db } from '../../adapters/mysql.js';
import type { IngestCountsPort } from '../types.js';
import { num, placeholders } from './common.js';

export function mysqlIngestCounts(db: Db): IngestCountsPort {
  return {
    async add(counts) {
      if (counts.length === 0) return;
      await db.execute(`INSERT INTO raw_buckets (day, merchant_id, bucket, rows_stored) VALUES ${placeholders(counts.length, '(?, ?, ?, ?)')} ON DUPLICATE KEY UPDATE rows_stored = rows_stored + VALUES(rows_stored)`,
        counts.flatMap((c) => [c.day, c.merchant_id, c.bucket, c.rows]));
    },
    async ofDay(day) {
      const rows = await db.query<{ merchant_id: string; bucket: number; rows: number }>('SELECT merchant_id, bucket, rows_stored AS `rows` FROM raw_buckets WHERE day = ? AND rows_stored > 0 ORDER BY merchant_id, bucket', [day]);
      return rows.map((r) => ({ day, merchant_id: r.merchant_id, bucket: num(r.bucket), rows: num(r.rows) }));
    },
  };
}
