/**
 * Stage-side helpers over the ledger ports: a short cache of the day's epoch, and the recorder
 * of the offset ranges a day's messages occupy. Both cut MySQL round trips per message; neither
 * changes what is recorded.
 */
import { StagelineError } from '../errors.js';
import type { OffsetsPort, RunsPort } from './types.js';

/**
 * The day's current epoch with a short cache: the benchmark showed one MySQL round trip per
 * message here. Safe because an epoch only changes by `--rerun` or `replay`, and every message
 * produced under a new epoch carries it: a message whose epoch is newer than the cached one forces
 * a re-read, and a stage whose group is replayed is restarted (its cache starts empty).
 */
export class EpochCache {
  private readonly cache = new Map<string, { epoch: number; at: number }>();
  constructor(private readonly runs: Pick<RunsPort, 'currentEpoch'>, private readonly ttlMs = 2000, private readonly now: () => number = Date.now) {}

  async get(day: string, messageEpoch: number): Promise<number> {
    const hit = this.cache.get(day);
    if (hit && this.now() - hit.at < this.ttlMs && messageEpoch <= hit.epoch) return hit.epoch;
    const epoch = await this.runs.currentEpoch(day);
    if (epoch === undefined) throw new StagelineError('NOT_FOUND', `no run is recorded for day ${day}`, { retryable: false });
    this.cache.set(day, { epoch, at: this.now() });
    return epoch;
  }
}

export interface OffsetPosition {
  topic: string;
  partition: number;
  offset: string;
}

/**
 * Records the offset range each day's messages occupy per topic-partition (what replay resets to).
 * The first offset is what replay needs and is written before the message is handled, every time
 * it lowers what this process knows; the last offset only informs `replay --dry-run`, so it is
 * written in the background at most every `flushMs` (a crash may leave it a little short).
 */
export class OffsetRecorder {
  private readonly known = new Map<string, { day: string; epoch: number; topic: string; partition: number; first: bigint; last: bigint; dirty: boolean }>();
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly offsets: OffsetsPort, private readonly flushMs = 2000) {}

  async record(day: string, epoch: number, meta: OffsetPosition): Promise<void> {
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
    await this.offsets.record({ day, epoch, topic: meta.topic, partition: meta.partition, first: meta.offset, last: meta.offset });
    if (k) k.first = off;
    else this.known.set(key, { day, epoch, topic: meta.topic, partition: meta.partition, first: off, last: off, dirty: false });
  }

  async flush(): Promise<void> {
    this.timer = undefined;
    for (const k of this.known.values()) {
      if (!k.dirty) continue;
      k.dirty = false;
      await this.offsets.record({ day: k.day, epoch: k.epoch, topic: k.topic, partition: k.partition, first: k.first.toString(), last: k.last.toString() }).catch(() => { k.dirty = true; });
    }
  }
}
