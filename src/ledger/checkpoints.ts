/**
 * Stage-side helpers over the ledger ports: a short cache of the day's epoch, and the recorder
 * of the offset ranges a day's messages occupy. Both cut MySQL round trips per message; neither
 * changes what is recorded.
 */
import { StagelineError } from '../errors.js';
import type { EpochMeta, IngestPort, MerchantDaysPort, OffsetsPort, PlanPort, RunsPort } from './types.js';

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

/**
 * Which epoch each merchant-day is computed under now, cached per day for a short while: every
 * stage drops a message whose epoch is older than its merchant-day's (a superseded epoch), and
 * asks again when a message is newer than what it knows.
 */
export class MerchantEpochs {
  private readonly cache = new Map<string, { epochs: Map<string, number>; at: number }>();
  constructor(private readonly merchantDays: Pick<MerchantDaysPort, 'epochs'>, private readonly ttlMs = 2000, private readonly now: () => number = Date.now) {}

  /** The current epoch of (day, merchant), or undefined when no plan holds it. */
  async current(day: string, merchantId: string, messageEpoch: number): Promise<number | undefined> {
    let hit = this.cache.get(day);
    const known = hit?.epochs.get(merchantId);
    if (!hit || this.now() - hit.at >= this.ttlMs || known === undefined || messageEpoch > known) {
      hit = { epochs: new Map((await this.merchantDays.epochs(day)).map((e) => [e.merchant_id, e.epoch])), at: this.now() };
      this.cache.set(day, hit);
    }
    return hit.epochs.get(merchantId);
  }

  /** True when a newer epoch holds the merchant-day: work of `messageEpoch` for it is to be dropped. */
  async superseded(day: string, merchantId: string, messageEpoch: number): Promise<boolean> {
    const cur = await this.current(day, merchantId, messageEpoch);
    return cur !== undefined && cur > messageEpoch;
  }

  /**
   * The epoch a stage processes a message of `messageEpoch` under, or undefined to drop it. A
   * message of the merchant-day's current epoch is processed as such; one of an older epoch is
   * dropped, unless the current epoch is a replay from this very stage of the messages this one
   * belongs to (its source epoch): a replay re-reads old messages and takes them as its own.
   */
  async resolve(day: string, merchantId: string, messageEpoch: number, stage: string, metas: EpochMetas): Promise<number | undefined> {
    const cur = await this.current(day, merchantId, messageEpoch);
    if (cur === undefined || cur === messageEpoch) return messageEpoch;
    if (cur < messageEpoch) return messageEpoch;
    const meta = await metas.get(day, cur);
    return meta?.kind === 'replay' && meta.fromStage === stage && meta.sourceEpoch === messageEpoch ? cur : undefined;
  }
}

/** An epoch's fixed meta (snapshot, batch shape): read once per epoch, it never changes. */
export class EpochMetas {
  private readonly cache = new Map<string, Promise<EpochMeta | undefined>>();
  constructor(private readonly plan: Pick<PlanPort, 'meta'>) {}

  get(day: string, epoch: number): Promise<EpochMeta | undefined> {
    const key = `${day}|${epoch}`;
    let p = this.cache.get(key);
    if (!p) {
      p = this.plan.meta(day, epoch).then((m) => { if (!m) this.cache.delete(key); return m; }, (err: unknown) => { this.cache.delete(key); throw err; });
      this.cache.set(key, p);
    }
    return p;
  }
}

/**
 * The snapshot test of a raw cell: its ingest batch was committed at or before the epoch's
 * snapshot. Loaded once per (day, snapshot) after the plan exists, so every batch with a sequence
 * up to the snapshot is already committed and known; a batch id not in the map was committed later
 * (late data) or never (an ingest that died): not in the snapshot either way.
 */
export class Snapshots {
  private readonly cache = new Map<string, Promise<Map<number, number>>>();
  constructor(private readonly ingest: Pick<IngestPort, 'daySeqs'>, private readonly maxDays = 8) {}

  async includes(day: string, snapshotSeq: number): Promise<(batch: number) => boolean> {
    const key = `${day}|${snapshotSeq}`;
    let p = this.cache.get(key);
    if (!p) {
      if (this.cache.size >= this.maxDays) this.cache.delete(this.cache.keys().next().value!);
      p = this.ingest.daySeqs(day).catch((err: unknown) => { this.cache.delete(key); throw err; });
      this.cache.set(key, p);
    }
    const seqs = await p;
    return (batch) => {
      if (batch === 0) return true;
      const seq = seqs.get(batch);
      return seq !== undefined && seq <= snapshotSeq;
    };
  }
}
