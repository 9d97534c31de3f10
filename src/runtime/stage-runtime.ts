/**
 * The stage runtime knows nothing of the domain: consume → decode → handle (the handler checks
 * its checkpoint, writes, produces and records the next checkpoint) → resolve the offset, with
 * retries for retryable errors and the dead-letter path for everything else.
 *
 * The one invariant: an offset is resolved (and so may be committed) only after its message was
 * handled or dead-lettered. A retryable failure is retried while the process runs; on shutdown it
 * is abandoned unresolved, so the message comes back to whoever owns the partition next.
 */
import { StagelineError, errorMessage, isRetryable } from '../errors.js';
import type { Logger } from '../log.js';
import { retry, sleep as realSleep } from '../retry.js';

export interface SourceMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}

export interface SourceBatch {
  topic: string;
  partition: number;
  messages: SourceMessage[];
}

export interface BatchControls {
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  isRunning(): boolean;
  isStale(): boolean;
}

/** What the runtime needs of a consumer group: the kafkajs adapter and the in-memory fake both fit. */
export interface MessageSource {
  run(eachBatch: (batch: SourceBatch, ctl: BatchControls) => Promise<void>, partitionsConcurrently: number): Promise<void>;
  stop(): Promise<void>;
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
  inFlight: number;
  /** handle latencies of the last messages, ms */
  recentLatencyMs: number[];
}

export interface StageRuntimeDeps {
  source: MessageSource;
  deadLetters: DeadLetterPort;
  log: Logger;
  /** messages handled at once by this process (partitions worked concurrently) */
  concurrency: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => number;
  maxRetryDelayMs?: number;
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

export function createStageRuntime<T>(def: StageDefinition<T>, deps: StageRuntimeDeps): StageRuntime {
  const stats: RuntimeStats = { handled: 0, deadLettered: 0, retries: 0, inFlight: 0, recentLatencyMs: [] };
  const now = deps.now ?? Date.now;
  let stopping = false;
  const log = deps.log.child({ stage: def.stage });

  async function toDeadLetter(meta: SourceMessage, err: StagelineError): Promise<void> {
    log.error({ topic: meta.topic, partition: meta.partition, offset: meta.offset, code: err.code, err: err.message }, 'dead-lettered');
    // Writing the dead letter must itself succeed before the offset moves on, or the message would vanish.
    await retry(() => deps.deadLetters.deadLetter(def.stage, meta, err), {
      attempts: Number.POSITIVE_INFINITY,
      maxDelayMs: deps.maxRetryDelayMs ?? 10_000,
      shouldRetry: () => !stopping,
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
      ...(deps.random ? { random: deps.random } : {}),
    });
    stats.deadLettered++;
  }

  /** Returns true when the message is finished (handled or dead-lettered) and its offset may move. */
  async function processOne(meta: SourceMessage): Promise<boolean> {
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
        maxDelayMs: deps.maxRetryDelayMs ?? 10_000,
        shouldRetry: (err) => isRetryable(err) && !stopping,
        onRetry: (err, attempt, delayMs) => {
          stats.retries++;
          log.warn({ offset: meta.offset, partition: meta.partition, attempt, delayMs, err: errorMessage(err) }, 'retrying');
        },
        ...(deps.sleep ? { sleep: deps.sleep } : {}),
        ...(deps.random ? { random: deps.random } : {}),
      });
    } catch (err) {
      if (stopping && isRetryable(err)) return false;
      if (isRetryable(err)) throw err;
      await toDeadLetter(meta, asStagelineError(err));
      return true;
    }
    const ms = now() - t0;
    stats.handled++;
    stats.recentLatencyMs.push(ms);
    if (stats.recentLatencyMs.length > 1000) stats.recentLatencyMs.splice(0, 500);
    deps.onHandled?.(meta, ms);
    return true;
  }

  async function eachBatch(batch: SourceBatch, ctl: BatchControls): Promise<void> {
    for (const meta of batch.messages) {
      // A stale batch belongs to a partition this member no longer owns after a rebalance: leave it.
      if (!ctl.isRunning() || ctl.isStale() || stopping) return;
      stats.inFlight++;
      try {
        const done = await processOne(meta);
        if (!done) return;
        ctl.resolveOffset(meta.offset);
      } finally {
        stats.inFlight--;
      }
      await ctl.heartbeat();
    }
  }

  return {
    start: () => deps.source.run(eachBatch, deps.concurrency),
    async stop() {
      stopping = true;
      await deps.source.stop();
    },
    stats: () => ({ ...stats, recentLatencyMs: [...stats.recentLatencyMs] }),
  };
}

export { realSleep as sleep };
