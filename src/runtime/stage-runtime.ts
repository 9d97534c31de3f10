/**
 * The stage runtime knows nothing of the domain: consume → decode → handle (the handler checks
 * its checkpoint, writes, produces and records the next checkpoint) → resolve the offset, with
 * retries for retryable errors and the dead-letter path for everything else.
 *
 * The one invariant: an offset is resolved (and so may be committed) only after its message was
 * handled or dead-lettered, and only as the end of a contiguous run of finished messages of its
 * partition (messages of one batch are handled concurrently and may finish out of order). A
 * retryable failure is retried while the process runs; on shutdown it is abandoned unresolved,
 * so the message comes back to whoever owns the partition next.
 *
 * Load control (SEDA, issue 6). Two separate bounds:
 * - **in-flight work**: messages accepted from the source and not yet finished, counted in
 *   messages and bytes. A batch is accepted message by message; when the next one would pass
 *   either bound, the rest of the batch is given back (never counted, never handled) and the
 *   partition is paused at the source. Paused partitions resume together once in-flight work has
 *   drained to half of both bounds. Given-back messages are fetched again after the resume: a
 *   source fetches from the last resolved offset, so nothing is lost and nothing runs twice.
 * - **concurrency**: how many accepted messages are in their handler at once, across partitions.
 *   The limit moves between a min and a max under the controller in ./controller.ts.
 */
import { StagelineError, errorMessage, isRetryable } from '../errors.js';
import type { Logger } from '../log.js';
import { retry } from '../retry.js';
import { createController, type ConcurrencyController, type ControllerDecision } from './controller.js';

export interface SourceMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  /** when the message was produced, epoch ms as a string (Kafka's record timestamp) */
  timestamp?: string;
}

export interface SourceBatch {
  topic: string;
  partition: number;
  messages: SourceMessage[];
  /** offset of the next message the partition will get: lag = highWatermark − (last resolved + 1) */
  highWatermark?: string;
}

export interface BatchControls {
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  isRunning(): boolean;
  isStale(): boolean;
  /** Commits what is resolved if the source's commit interval has passed: a long batch should not hold every commit until its end. */
  commitOffsetsIfNecessary?(): Promise<void>;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** What the runtime needs of a consumer group: the kafkajs adapter and the in-memory fake both fit. */
export interface MessageSource {
  run(eachBatch: (batch: SourceBatch, ctl: BatchControls) => Promise<void>, partitionsConcurrently: number): Promise<void>;
  stop(): Promise<void>;
  /**
   * Stop fetching these partitions. Messages of theirs not yet resolved are fetched again after
   * `resume`, from the last resolved offset on.
   */
  pause(partitions: TopicPartition[]): void;
  resume(partitions: TopicPartition[]): void;
}

export interface DeadLetterPort {
  deadLetter(stage: string, meta: SourceMessage, err: StagelineError): Promise<void>;
}

export interface StageDefinition<T> {
  stage: string;
  decode(value: Buffer): T;
  handle(msg: T, meta: SourceMessage): Promise<void>;
}

export interface RuntimeStats {
  handled: number;
  deadLettered: number;
  retries: number;
  /** accepted and not finished (waiting for a slot or in the handler) */
  inFlight: number;
  inFlightBytes: number;
  /** in the handler right now */
  active: number;
  concurrency: number;
  pausedPartitions: number;
  /** times a batch was cut short because in-flight work was at its bound */
  pauses: number;
  /** handle latencies of the last messages, ms */
  recentLatencyMs: number[];
}

/** Where the runtime reports what it does: metrics, in ../metrics.ts. Every method is optional to call cheaply. */
export interface RuntimeObserver {
  handled?(meta: SourceMessage, ms: number): void;
  deadLettered?(meta: SourceMessage, err: StagelineError): void;
  retried?(meta: SourceMessage): void;
  inFlight?(messages: number, bytes: number): void;
  paused?(partitions: number): void;
  lag?(topic: string, partition: number, lag: number): void;
  concurrency?(limit: number, decision: ControllerDecision | undefined): void;
}

export interface StageRuntimeDeps {
  source: MessageSource;
  deadLetters: DeadLetterPort;
  log: Logger;
  /** messages in their handler at once: the starting point of the adaptive limit (or the fixed limit) */
  concurrency: number;
  /** bounds of the adaptive limit; without it the limit stays at `concurrency` */
  adaptive?: { min: number; max: number; windowMs?: number };
  /** batches the source hands over at once @defaultValue the concurrency max */
  partitionsConcurrently?: number;
  /** bound of accepted-but-unfinished messages @defaultValue unbounded */
  maxInFlightMessages?: number;
  /** bound of their value bytes @defaultValue unbounded */
  maxInFlightBytes?: number;
  observer?: RuntimeObserver;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => number;
  maxRetryDelayMs?: number;
  /**
   * How often a batch heartbeats while its messages are in their handlers. Without it a handler
   * retrying through an outage (HBase restarting: minutes) starves the group session and the
   * member is evicted. @defaultValue 3000
   */
  heartbeatIntervalMs?: number;
  onHandled?: (meta: SourceMessage, ms: number) => void;
}

export interface StageRuntime {
  start(): Promise<void>;
  /** Graceful: stop fetching, let in-flight messages finish, commit, return. */
  stop(): Promise<void>;
  stats(): RuntimeStats;
}

function asStagelineError(err: unknown): StagelineError {
  if (err instanceof StagelineError) return err;
  return new StagelineError('INTERNAL', errorMessage(err), { retryable: false, cause: err });
}

/** A counting semaphore whose size may change while it is held; waiters are served first come, first served. */
class Slots {
  active = 0;
  private readonly waiters: Array<() => void> = [];
  /** set when work had to wait or every slot was taken; the controller reads and clears it */
  saturated = false;
  constructor(public limit: number) {}

  acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      if (this.active >= this.limit) this.saturated = true;
      return Promise.resolve();
    }
    this.saturated = true;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    this.active--;
    this.pump();
  }

  setLimit(n: number): void {
    this.limit = n;
    this.pump();
  }

  get waiting(): number {
    return this.waiters.length;
  }

  private pump(): void {
    while (this.active < this.limit && this.waiters.length > 0) {
      this.active++;
      this.waiters.shift()!();
    }
  }
}

const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/**
 * The in-flight bound (see the header): accepts messages while under both bounds, pauses a
 * partition whose next message would pass one, resumes every paused partition together once
 * in-flight work drained to half of both.
 */
class InFlight {
  private readonly paused = new Map<string, TopicPartition>();
  constructor(
    private readonly maxMsgs: number,
    private readonly maxBytes: number,
    private readonly stats: RuntimeStats,
    private readonly obs: RuntimeObserver,
    private readonly source: MessageSource,
    private readonly log: Logger,
  ) {}

  isPaused(topic: string, partition: number): boolean {
    return this.paused.has(tpKey(topic, partition));
  }

  tryAccept(bytes: number): boolean {
    const { stats } = this;
    // An empty stage always takes one message, however big: a bound must slow work down, never stop it.
    if (stats.inFlight > 0 && (stats.inFlight + 1 > this.maxMsgs || stats.inFlightBytes + bytes > this.maxBytes)) return false;
    stats.inFlight++;
    stats.inFlightBytes += bytes;
    this.obs.inFlight?.(stats.inFlight, stats.inFlightBytes);
    return true;
  }

  finish(bytes: number): void {
    const { stats } = this;
    stats.inFlight--;
    stats.inFlightBytes -= bytes;
    this.obs.inFlight?.(stats.inFlight, stats.inFlightBytes);
    // Half the bounds as the low-water mark: resuming at the first free slot would pause again at once.
    if (this.paused.size > 0 && stats.inFlight <= this.maxMsgs / 2 && stats.inFlightBytes <= this.maxBytes / 2) {
      const list = [...this.paused.values()];
      this.paused.clear();
      stats.pausedPartitions = 0;
      this.obs.paused?.(0);
      try {
        this.source.resume(list);
        this.log.debug({ partitions: list.length, inFlight: stats.inFlight }, 'in-flight work drained: partitions resumed');
      } catch (err) {
        // The consumer is already stopping (kafkajs refuses resume then): nothing left to fetch for.
        this.log.debug({ err: errorMessage(err) }, 'resume refused');
      }
    }
  }

  pause(topic: string, partition: number): void {
    const k = tpKey(topic, partition);
    if (this.paused.has(k)) return;
    this.paused.set(k, { topic, partition });
    this.stats.pausedPartitions = this.paused.size;
    this.stats.pauses++;
    this.obs.paused?.(this.paused.size);
    this.source.pause([{ topic, partition }]);
    this.log.debug({ topic, partition, inFlight: this.stats.inFlight, inFlightBytes: this.stats.inFlightBytes }, 'in-flight work at its bound: partition paused');
  }
}

interface ProcessorContext {
  stats: RuntimeStats;
  controller: ConcurrencyController;
  log: Logger;
  now: () => number;
  stopping: () => boolean;
}

/**
 * decode → handle with retries → dead letter, for one message. Resolves true when the message is
 * finished (handled or dead-lettered) and its offset may move; false when it was left unresolved
 * for the partition's next owner (shutting down or the batch abandoned); throws a retryable error
 * that outlived its retries.
 */
function messageProcessor<T>(def: StageDefinition<T>, deps: StageRuntimeDeps, ctx: ProcessorContext): (meta: SourceMessage, abandoned: () => boolean) => Promise<boolean> {
  const { stats, controller, log, now, stopping } = ctx;
  const obs = deps.observer ?? {};
  const timing = { maxDelayMs: deps.maxRetryDelayMs ?? 10_000, ...(deps.sleep ? { sleep: deps.sleep } : {}), ...(deps.random ? { random: deps.random } : {}) };

  async function toDeadLetter(meta: SourceMessage, err: StagelineError): Promise<void> {
    log.error({ topic: meta.topic, partition: meta.partition, offset: meta.offset, code: err.code, err: err.message }, 'dead-lettered');
    // Writing the dead letter must itself succeed before the offset moves on, or the message would vanish.
    await retry(() => deps.deadLetters.deadLetter(def.stage, meta, err), { attempts: Number.POSITIVE_INFINITY, shouldRetry: () => !stopping(), ...timing });
    stats.deadLettered++;
    obs.deadLettered?.(meta, err);
  }

  return async (meta, abandoned) => {
    let msg: T;
    try {
      if (!meta.value || meta.value.length === 0) throw new StagelineError('DECODE_FAILED', 'empty message value');
      msg = def.decode(meta.value);
    } catch (err) {
      await toDeadLetter(meta, asStagelineError(err));
      return true;
    }
    const t0 = now();
    try {
      await retry(() => def.handle(msg, meta), {
        attempts: Number.POSITIVE_INFINITY,
        shouldRetry: (err) => isRetryable(err) && !stopping() && !abandoned(),
        onRetry: (err, attempt, delayMs) => {
          stats.retries++;
          obs.retried?.(meta);
          log.warn({ offset: meta.offset, partition: meta.partition, attempt, delayMs, err: errorMessage(err) }, 'retrying');
        },
        ...timing,
      });
    } catch (err) {
      // Shutting down, or the partition is being taken away: leave it unresolved for the next owner.
      if ((stopping() || abandoned()) && isRetryable(err)) return false;
      if (isRetryable(err)) throw err;
      await toDeadLetter(meta, asStagelineError(err));
      return true;
    }
    const ms = now() - t0;
    stats.handled++;
    stats.recentLatencyMs.push(ms);
    if (stats.recentLatencyMs.length > 1000) stats.recentLatencyMs.splice(0, 500);
    controller.observe(ms);
    obs.handled?.(meta, ms);
    deps.onHandled?.(meta, ms);
    return true;
  };
}

export function createStageRuntime<T>(def: StageDefinition<T>, deps: StageRuntimeDeps): StageRuntime {
  const now = deps.now ?? Date.now;
  const obs = deps.observer ?? {};
  const range = deps.adaptive ?? { min: deps.concurrency, max: deps.concurrency };
  const controller: ConcurrencyController = createController({ min: range.min, max: range.max, initial: deps.concurrency, ...(deps.adaptive?.windowMs !== undefined ? { windowMs: deps.adaptive.windowMs } : {}) }, now());
  const slots = new Slots(controller.limit);
  const stats: RuntimeStats = { handled: 0, deadLettered: 0, retries: 0, inFlight: 0, inFlightBytes: 0, active: 0, concurrency: controller.limit, pausedPartitions: 0, pauses: 0, recentLatencyMs: [] };
  let stopping = false;
  const log = deps.log.child({ stage: def.stage });
  const inFlight = new InFlight(deps.maxInFlightMessages ?? Number.POSITIVE_INFINITY, deps.maxInFlightBytes ?? Number.POSITIVE_INFINITY, stats, obs, deps.source, log);
  const processOne = messageProcessor(def, deps, { stats, controller, log, now, stopping: () => stopping });
  obs.concurrency?.(controller.limit, undefined);

  /** Lets the controller judge its window; applies and reports a changed limit. */
  function adapt(): void {
    const d = controller.tick(now(), slots.saturated || slots.waiting > 0);
    if (!d) return;
    slots.saturated = false;
    if (d.limit !== d.previous) {
      slots.setLimit(d.limit);
      stats.concurrency = d.limit;
      log.info({ concurrency: d.limit, previous: d.previous, move: d.move, reason: d.reason, throughput: Math.round(d.throughput * 10) / 10, latencyMs: Math.round(d.latencyMs), baselineMs: Math.round(d.baselineMs) }, 'concurrency changed');
    }
    obs.concurrency?.(d.limit, d);
  }

  async function eachBatch(batch: SourceBatch, ctl: BatchControls): Promise<void> {
    // A batch fetched before its partition was paused: give it back whole, it is fetched again on resume.
    if (inFlight.isPaused(batch.topic, batch.partition)) return;
    const accepted: SourceMessage[] = [];
    const done: boolean[] = [];
    let resolvedUpTo = -1;
    let failure: unknown;
    const tasks: Array<Promise<void>> = [];

    /** Resolves the end of the contiguous run of finished messages: never past an unfinished one. */
    const advance = () => {
      let i = resolvedUpTo;
      while (i + 1 < accepted.length && done[i + 1] === true) i++;
      if (i > resolvedUpTo) {
        resolvedUpTo = i;
        ctl.resolveOffset(accepted[i]!.offset);
      }
    };

    const run = async (meta: SourceMessage, index: number, bytes: number): Promise<void> => {
      try {
        await slots.acquire();
        stats.active = slots.active;
        try {
          // A stale batch belongs to a partition this member no longer owns after a rebalance: leave it.
          if (stopping || !ctl.isRunning() || ctl.isStale() || failure !== undefined) return;
          if (await processOne(meta, () => failure !== undefined)) {
            done[index] = true;
            advance();
          }
        } finally {
          slots.release();
          stats.active = slots.active;
        }
        adapt();
        // A heartbeat that fails says the group is rebalancing: it ends this batch (failure stops
        // further starts; what finished is resolved) and reaches the source, which rejoins.
        await ctl.heartbeat();
        await ctl.commitOffsetsIfNecessary?.();
      } catch (err) {
        failure ??= err;
      } finally {
        inFlight.finish(bytes);
      }
    };

    // Between messages the finished ones heartbeat; this covers a batch whose handlers all run long.
    const beat = setInterval(() => { ctl.heartbeat().catch((err: unknown) => { failure ??= err; }); }, deps.heartbeatIntervalMs ?? 3000);
    beat.unref?.();
    for (const meta of batch.messages) {
      if (!ctl.isRunning() || ctl.isStale() || stopping || failure !== undefined) break;
      const bytes = meta.value?.length ?? 0;
      if (!inFlight.tryAccept(bytes)) {
        inFlight.pause(batch.topic, batch.partition);
        break;
      }
      const index = accepted.length;
      accepted.push(meta);
      done.push(false);
      tasks.push(run(meta, index, bytes));
    }
    // The batch is left only when everything it accepted has finished: a message still in a
    // handler must not be fetched again by the next batch of this partition.
    await Promise.all(tasks).finally(() => clearInterval(beat));
    if (batch.highWatermark !== undefined && resolvedUpTo >= 0) {
      const lag = Number(batch.highWatermark) - (Number(accepted[resolvedUpTo]!.offset) + 1);
      obs.lag?.(batch.topic, batch.partition, Math.max(0, lag));
    }
    if (failure !== undefined) throw failure;
  }

  return {
    start: () => deps.source.run(eachBatch, deps.partitionsConcurrently ?? Math.max(range.max, deps.concurrency)),
    async stop() {
      stopping = true;
      await deps.source.stop();
    },
    stats: () => ({ ...stats, concurrency: controller.limit, recentLatencyMs: [...stats.recentLatencyMs] }),
  };
}

