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

/**
 * currentEpoch with a short cache: the benchmark showed one MySQL round trip per message here.
 * Safe because an epoch only changes by `--rerun` or `replay`, and every message produced under a
 * new epoch carries it: a message whose epoch is newer than the cached one forces a re-read, and a
 * stage whose group is replayed is restarted (its cache starts empty).
 */
export class EpochCache {
  private readonly cache = new Map<string, { epoch: number; at: number }>();
  constructor(private readonly db: Queryable, private readonly ttlMs = 2000, private readonly now: () => number = Date.now) {}

  async get(day: string, messageEpoch: number): Promise<number> {
    const hit = this.cache.get(day);
    if (hit && this.now() - hit.at < this.ttlMs && messageEpoch <= hit.epoch) return hit.epoch;
    const epoch = await currentEpoch(this.db, day);
    this.cache.set(day, { epoch, at: this.now() });
    return epoch;
  }
}

const UPSERT_OFFSETS = `INSERT INTO run_offsets (day, epoch, topic, kafka_partition, first_offset, last_offset) VALUES (?, ?, ?, ?, ?, ?)
  ON DUPLICATE KEY UPDATE first_offset = LEAST(first_offset, VALUES(first_offset)), last_offset = GREATEST(last_offset, VALUES(last_offset))`;

/**
 * Records the offset range each day's messages occupy per topic-partition (what replay resets to).
 * The first offset is what replay needs and is written before the message is handled, every time
 * it lowers what this process knows; the last offset only informs `replay --dry-run`, so it is
 * written in the background at most every `flushMs` (a crash may leave it a little short).
 */
export class OffsetRecorder {
  private readonly known = new Map<string, { day: string; epoch: number; topic: string; partition: number; first: bigint; last: bigint; dirty: boolean }>();
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly db: Db, private readonly flushMs = 2000) {}

  async record(day: string, epoch: number, meta: SourceMessage): Promise<void> {
    const key = `${day}|${epoch}|${meta.topic}|${meta.partition}`;
    const off = BigInt(meta.offset);
    const k = this.known.get(key);
    if (k && off >= k.first) {
      if (off > k.last) {
        k.last = off;
        k.dirty = true;
        this.timer ??= setTimeout(() => void this.flush(), this.flushMs);
        this.timer.unref?.();
      }
      return;
    }
    await this.db.execute(UPSERT_OFFSETS, [day, epoch, meta.topic, meta.partition, meta.offset, meta.offset]);
    if (k) k.first = off;
    else this.known.set(key, { day, epoch, topic: meta.topic, partition: meta.partition, first: off, last: off, dirty: false });
  }

  async flush(): Promise<void> {
    this.timer = undefined;
    for (const k of this.known.values()) {
      if (!k.dirty) continue;
      k.dirty = false;
      await this.db.execute(UPSERT_OFFSETS, [k.day, k.epoch, k.topic, k.partition, k.first.toString(), k.last.toString()]).catch(() => { k.dirty = true; });
    }
  }
}
