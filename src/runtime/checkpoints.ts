/**
 * MySQL checkpoint queries the stages share. Each is a single idempotent statement, so a retry
 * after a lost connection or a redelivered message changes nothing.
 */
import type { Db, Queryable } from '../adapters/mysql.js';
import { StagelineError } from '../errors.js';
import type { SourceMessage } from './stage-runtime.js';

/**
 * The day's current epoch. Stages key every checkpoint by it (not by the epoch in the message),
 * so a replay that bumps the epoch makes old messages count again instead of being skipped.
 */
export async function currentEpoch(db: Queryable, day: string): Promise<number> {
  const [row] = await db.query<{ epoch: number }>('SELECT epoch FROM runs WHERE day = ?', [day]);
  if (!row) throw new StagelineError('NOT_FOUND', `no run is recorded for day ${day}`, { retryable: false });
  return row.epoch;
}

/** Widens the recorded offset range of the run's messages on this topic-partition (what replay resets to). */
export async function recordOffset(db: Db, day: string, epoch: number, meta: SourceMessage): Promise<void> {
  await db.execute(
    `INSERT INTO run_offsets (day, epoch, topic, kafka_partition, first_offset, last_offset) VALUES (?, ?, ?, ?, ?, ?)
     ON DUPLICATE KEY UPDATE first_offset = LEAST(first_offset, VALUES(first_offset)), last_offset = GREATEST(last_offset, VALUES(last_offset))`,
    [day, epoch, meta.topic, meta.partition, meta.offset, meta.offset],
  );
}
