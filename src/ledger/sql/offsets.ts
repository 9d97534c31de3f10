/** Offset ranges each run's messages occupy, per topic-partition: what replay resets to. */
import type { Db } from '../../adapters/mysql.js';
import type { OffsetsPort } from '../types.js';
import { num } from './common.js';

const UPSERT = `INSERT INTO run_offsets (day, epoch, topic, kafka_partition, first_offset, last_offset) VALUES (?, ?, ?, ?, ?, ?)
  ON DUPLICATE KEY UPDATE first_offset = LEAST(first_offset, VALUES(first_offset)), last_offset = GREATEST(last_offset, VALUES(last_offset))`;

export function mysqlOffsets(db: Db): OffsetsPort {
  return {
    async record(r) {
      await db.execute(UPSERT, [r.day, r.epoch, r.topic, r.partition, r.first, r.last]);
    },
    async of(day, epoch, topic) {
      const rows = await db.query<{ kafka_partition: number; first_offset: string | number; last_offset: string | number }>(
        'SELECT kafka_partition, first_offset, last_offset FROM run_offsets WHERE day = ? AND epoch = ? AND topic = ? ORDER BY kafka_partition', [day, epoch, topic]);
      return rows.map((o) => ({ partition: num(o.kafka_partition), first: String(o.first_offset), last: String(o.last_offset) }));
    },
  };
}
