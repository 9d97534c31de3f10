/**
 * In-memory consumer group of one member, with the fetch semantics the runtime relies on from
 * kafkajs: every batch of a partition starts right after its last resolved offset, so messages a
 * batch gave back (not resolved) come again; paused partitions are not fetched until resumed.
 */
import type { BatchControls, MessageSource, SourceBatch, SourceMessage, TopicPartition } from '../../../src/runtime/stage-runtime.js';

export class MemorySource implements MessageSource {
  /** last resolved offset per partition */
  resolved = new Map<number, string>();
  /** every resolveOffset call per partition, in order */
  resolveLog = new Map<number, string[]>();
  /** times each `partition:offset` was handed to eachBatch */
  delivered = new Map<string, number>();
  pauseCalls = 0;
  resumeCalls = 0;
  private readonly pausedSet = new Set<number>();
  private running = true;
  private wake: (() => void) | undefined;

  constructor(private readonly partitions: Map<number, SourceMessage[]>, private readonly batchSize = Number.POSITIVE_INFINITY, private readonly heartbeat: () => Promise<void> = async () => undefined) {}

  private pending(p: number): SourceMessage[] {
    const all = this.partitions.get(p) ?? [];
    const r = this.resolved.get(p);
    return r === undefined ? all : all.filter((m) => Number(m.offset) > Number(r));
  }

  async run(eachBatch: (b: SourceBatch, c: BatchControls) => Promise<void>, concurrency: number): Promise<void> {
    const busy = new Set<number>();
    const inFlight = new Set<Promise<void>>();
    // Like kafkajs, a batch that throws ends the run here (kafkajs would rejoin and go on).
    let failed: { err: unknown } | undefined;
    for (;;) {
      if (!this.running || failed) break;
      const ready = [...this.partitions.keys()].filter((p) => !busy.has(p) && !this.pausedSet.has(p) && this.pending(p).length > 0);
      if (ready.length === 0 && inFlight.size === 0) {
        const anyLeft = [...this.partitions.keys()].some((p) => this.pending(p).length > 0);
        if (!anyLeft) break;
        // Everything left is paused and nothing runs that could resume it: the runtime leaked a pause.
        throw new Error(`deadlock: partitions ${[...this.pausedSet].join(', ')} paused with nothing in flight`);
      }
      for (const p of ready.slice(0, Math.max(0, concurrency - inFlight.size))) {
        busy.add(p);
        const messages = this.pending(p).slice(0, this.batchSize);
        for (const m of messages) this.delivered.set(`${p}:${m.offset}`, (this.delivered.get(`${p}:${m.offset}`) ?? 0) + 1);
        const all = this.partitions.get(p) ?? [];
        const hw = String(Number(all[all.length - 1]?.offset ?? -1) + 1);
        const job = eachBatch({ topic: 't', partition: p, messages, highWatermark: hw }, {
          resolveOffset: (o) => {
            this.resolved.set(p, o);
            this.resolveLog.set(p, [...(this.resolveLog.get(p) ?? []), o]);
          },
          heartbeat: this.heartbeat,
          isRunning: () => this.running,
          isStale: () => false,
        }).catch((err: unknown) => { failed ??= { err }; }).finally(() => {
          busy.delete(p);
          inFlight.delete(job);
          this.wake?.();
        });
        inFlight.add(job);
      }
      await new Promise<void>((r) => { this.wake = r; if (inFlight.size === 0) r(); });
    }
    await Promise.all(inFlight);
    if (failed) throw failed.err;
  }

  async stop() {
    this.running = false;
    this.wake?.();
  }

  pause(tps: TopicPartition[]) {
    this.pauseCalls++;
    for (const tp of tps) this.pausedSet.add(tp.partition);
  }

  resume(tps: TopicPartition[]) {
    this.resumeCalls++;
    for (const tp of tps) this.pausedSet.delete(tp.partition);
    this.wake?.();
  }
}
