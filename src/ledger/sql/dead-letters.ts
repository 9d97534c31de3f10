/** Messages a stage could not decode or handle (also on the stage's dead-letter topic). */
import type { Db } from '../../adapters/mysql.js';
import type { DeadLettersPort } from '../types.js';
import { num } from './common.js';

export function mysqlDeadLetters(db: Db): DeadLettersPort {
  return {
    async add(d) {
      await db.execute('INSERT IGNORE INTO dead_letters (stage, source_topic, kafka_partition, kafka_offset, error_code, error) VALUES (?, ?, ?, ?, ?, ?)',
        [d.stage, d.topic, d.partition, d.offset, d.code, d.error.slice(0, 4000)]);
    },
    async count() {
      const [r] = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM dead_letters');
      return num(r?.n);
    },
    async last() {
      const [r] = await db.query<{ stage: string; error: string }>('SELECT stage, error FROM dead_letters ORDER BY failed_at DESC LIMIT 1');
      return r ? { stage: r.stage, error: r.error } : undefined;
    },
  };
}
