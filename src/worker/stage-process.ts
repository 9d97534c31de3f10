/**
 * One stage process: a consumer-group member on the stage's input topic running the stage
 * runtime over the stage's handler. SIGTERM/SIGINT drain gracefully (stop fetching, finish
 * in-flight messages, commit); a second signal exits at once.
 *
 * This is where the domain-free runtime (src/runtime) meets a stage (stages/index.ts) and the
 * outside systems (src/adapters): the handler gets ports, the runtime gets a MessageSource, and
 * per-message work is attributed to its chunk for the work reports and Prometheus.
 */
import { hostname } from 'node:os';
import type { App } from '../app.js';
import type { MessageProducer } from '../adapters/ports.js';
import { subscribeSource } from '../adapters/kafka.js';
import { createMysqlLedger } from '../ledger/mysql.js';
import { createHash } from 'node:crypto';
import { encode, type DeadLetter } from '../../schemas/index.js';
import { dlqTopicName, groupName, topicName } from '../../topology/index.js';
import { stageOf, type RegisteredStage, type StageName } from '../../stages/index.js';
import { topicsMessageLimit } from '../provision.js';
import type { StagePorts, StageTopics } from '../../stages/stage.js';
import { createStageRuntime, type DeadLetterPort, type SourceMessage, type StageDefinition } from '../runtime/stage-runtime.js';
import { createRegistry, serveMetrics, stageObserver } from '../prometheus.js';
import { StagelineError } from '../errors.js';
import { WorkReporter, timedDb, timedProducer, timedTables, withWork, type MessageWork } from './work-report.js';

/** A producer port that connects on first use (and again after a failed connect). */
export function lazyProducer(get: () => Promise<MessageProducer>): MessageProducer {
  return {
    send: async (topic, messages) => (await get()).send(topic, messages),
    enqueue: async (topic, m) => (await get()).enqueue(topic, m),
    flush: async () => (await get()).flush(),
    close: async () => (await get()).close(),
  };
}

/** STAGELINE_FAULT_PAUSE for a stage: pause at the named point (crash tests kill the process there). */
function faultPause(p: { checkpoint: string; ms: number }, log: App['log']): (point: string, context?: Record<string, unknown>) => Promise<void> {
  return async (point, context = {}) => {
    if (point !== p.checkpoint) return;
    log.warn({ ...context, point, ms: p.ms }, 'fault injection: pausing');
    await new Promise((r) => setTimeout(r, p.ms));
  };
}

export function stageTopics(namespace: string, input: string, outputs: readonly string[]): StageTopics {
  return {
    input: topicName(namespace, input),
    out(key) {
      if (!outputs.includes(key)) throw new StagelineError('INTERNAL', `this stage does not declare ${key} among its outputs in topology.json`);
      return topicName(namespace, key);
    },
  };
}

/**
 * The dead-letter envelope, bounded: an envelope too big for its topic would itself be refused,
 * retried forever and wedge the partition. A payload that does not fit is cut, with its full
 * length and sha256 kept beside it.
 */
export function deadLetterValue(d: Omit<DeadLetter, 'payload_bytes' | 'payload_sha256' | 'payload_truncated'>, maxBytes: number): Buffer {
  const full = { ...d, payload_bytes: d.payload.length, payload_sha256: createHash('sha256').update(d.payload).digest(), payload_truncated: false };
  const value = encode('DeadLetter', full);
  if (value.length <= maxBytes) return value;
  const keep = Math.max(0, d.payload.length - (value.length - maxBytes) - 64);
  return encode('DeadLetter', { ...full, payload: d.payload.subarray(0, keep), payload_truncated: true });
}

export function deadLetterPort(app: App, producer: MessageProducer, stage: RegisteredStage, maxMessageBytes: number): DeadLetterPort {
  const ledger = app.ledger();
  return {
    async deadLetter(name, meta, err) {
      const payload = meta.value ?? Buffer.alloc(0);
      let where: { day?: string; epoch?: number } = {};
      try {
        const a = stage.module.attribute(stage.module.decode(payload));
        if (a) where = { day: a.day, epoch: a.epoch };
      } catch {
        // It could not be decoded: that is often why it is here.
      }
      const value = deadLetterValue({ stage: name, source_topic: meta.topic, partition: meta.partition, offset: meta.offset, key: meta.key, error_code: err.code, error: err.message.slice(0, 4000), payload, failed_at: Date.now() }, Math.floor(maxMessageBytes * 0.9));
      await producer.send(dlqTopicName(app.cfg.namespace, name), [{ key: meta.key, value }]);
      await ledger.deadLetters.add({ stage: name, topic: meta.topic, partition: meta.partition, offset: meta.offset, code: err.code, error: err.message, ...where, payload, payload_bytes: payload.length });
    },
  };
}

type Attribution = ReturnType<RegisteredStage['module']['attribute']>;
type TrackedWork = MessageWork & { attribution?: Attribution; dropped?: boolean };

/** The stage's ports on the real systems, each I/O port timed for the work reports. */
function realStagePorts(app: App, reg: RegisteredStage, producer: MessageProducer, maxMessageBytes: number, log: App['log']): StagePorts {
  return {
    ledger: createMysqlLedger(timedDb(app.db())),
    tables: timedTables(app.hbase()),
    tableNames: app.tables,
    producer: timedProducer(producer),
    topics: stageTopics(app.cfg.namespace, reg.input, reg.outputs),
    settings: { batchVisitors: app.cfg.pipeline.batchVisitors, maxMessageBytes },
    log,
    ...(app.cfg.faultPause ? { fault: faultPause(app.cfg.faultPause, log) } : {}),
  };
}

/**
 * The registry stage as the runtime's definition, with the bookkeeping around each message: which
 * chunk it belongs to and how long it waited, took and wrote (the work reports), whether it was
 * dropped as superseded, and the events it counted. `onHandled` closes a message's record.
 */
function trackedDefinition(app: App, stage: StageName, reg: RegisteredStage, ports: StagePorts, metrics: ReturnType<typeof stageObserver>, reporter: WorkReporter) {
  const handle = reg.module.create(ports);
  const work = new WeakMap<SourceMessage, TrackedWork>();
  const totals = { events: 0 };
  const def: StageDefinition<unknown> = {
    stage,
    decode: (buf) => reg.module.decode(buf),
    handle(msg, meta) {
      // One record across retries: the same SourceMessage object comes back on every attempt.
      let w = work.get(meta);
      if (!w) {
        w = { startedAt: Date.now(), pending: 0, since: 0, writeMs: 0, scanned: 0, attribution: reg.module.attribute(msg) };
        work.set(meta, w);
      }
      w.scanned = 0;
      const record = w;
      const poison = app.cfg.faultPoison;
      if (poison?.stage === stage && w.attribution?.chunkId.includes(poison.chunk)) {
        throw new StagelineError('INPUT_INVALID', `fault injection: ${stage} refuses chunk ${w.attribution.chunkId} (STAGELINE_FAULT_POISON)`);
      }
      return withWork(w, async () => {
        record.dropped = (await handle(msg, meta)) === 'dropped';
      });
    },
  };
  const onHandled = (meta: SourceMessage, ms: number) => {
    const w = work.get(meta);
    if (!w) return;
    work.delete(meta);
    const n = w.dropped ? 0 : w.attribution?.events ?? w.scanned;
    totals.events += n;
    metrics.events(n);
    if (w.dropped) metrics.dropped();
    if (w.attribution) {
      const queuedMs = meta.timestamp !== undefined ? w.startedAt - Number(meta.timestamp) : 0;
      reporter.add(w.attribution, { queuedMs, handleMs: ms, writeMs: w.writeMs, events: n, dropped: w.dropped === true }, Date.now());
    }
  };
  return { def, onHandled, totals };
}

export async function runStage(app: App, stage: StageName, opts: { onSignal?: boolean } = {}): Promise<void> {
  const log = app.log.child({ stage });
  const cfg = app.cfg.pipeline;
  const reg = stageOf(app.topology, stage);
  const replica = `${hostname()}:${process.pid}`;
  const registry = createRegistry({ process: 'stage', stage, namespace: app.cfg.namespace });
  const metrics = stageObserver(registry, stage);
  const server = await serveMetrics(registry, app.cfg.metricsPort, log, app.cfg.metricsHost);
  const reporter = new WorkReporter(stage, replica);
  const producer = lazyProducer(() => app.producer());
  const maxMessageBytes = await topicsMessageLimit(app);
  const ports = realStagePorts(app, reg, producer, maxMessageBytes, log);
  const { def, onHandled, totals } = trackedDefinition(app, stage, reg, ports, metrics, reporter);

  const source = await subscribeSource(app.kafka(), {
    groupId: groupName(app.cfg.namespace, stage),
    topic: ports.topics.input,
    // kafkajs restarts the consumer itself on retryable errors; when it gives up, exit so the supervisor restarts us.
    onCrash: (err) => {
      log.fatal({ err }, 'consumer crashed for good');
      process.exit(1);
    },
  });
  const rt = createStageRuntime(def, {
    source,
    deadLetters: deadLetterPort(app, producer, reg, maxMessageBytes),
    // The runtime binds `stage` itself; passing `log` (already bound) printed the field twice.
    log: app.log,
    concurrency: cfg.concurrency,
    adaptive: { min: cfg.concurrencyMin, max: cfg.concurrencyMax },
    // Every partition may hand over a batch at once; the adaptive limit decides how many messages run.
    partitionsConcurrently: app.topology.topics[reg.input]!.partitions,
    maxInFlightMessages: cfg.maxInFlightMessages,
    maxInFlightBytes: cfg.maxInFlightBytes,
    observer: metrics,
    onHandled,
  });
  const ledger = app.ledger();
  const flush = () => reporter.flush(ledger.work).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'chunk work report not written; retried with the next flush'));
  const flusher = setInterval(() => void flush(), 1000);
  flusher.unref();

  const done = drainOnSignal(log, opts.onSignal !== false, async () => {
    await rt.stop().catch((err: unknown) => log.error({ err }, 'stop failed'));
    clearInterval(flusher);
    await flush();
    await server?.close();
    await app.close();
    const { recentLatencyMs: _l, ...s } = rt.stats();
    // The final stats line: per-replica totals for a person (and the scaling test) to read.
    log.info({ ...s, events: totals.events, replica }, 'stopped');
  });
  await rt.start();
  log.info({ group: groupName(app.cfg.namespace, stage), topic: ports.topics.input, replica, concurrency: cfg.concurrency, concurrencyMin: cfg.concurrencyMin, concurrencyMax: cfg.concurrencyMax, maxInFlightMessages: cfg.maxInFlightMessages, maxInFlightBytes: cfg.maxInFlightBytes }, 'stage running');
  await done;
}

/**
 * SIGTERM/SIGINT drain the process (bounded at 30 s); a second signal exits at once. Resolves when
 * the drain finished (never, without signals: the process runs until killed).
 */
function drainOnSignal(log: App['log'], onSignal: boolean, drain: () => Promise<void>): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!onSignal) return;
    let stopping = false;
    const shutdown = async (why: string) => {
      if (stopping) {
        log.warn({ why }, 'second signal: exiting now');
        process.exit(130);
      }
      stopping = true;
      log.info({ why }, 'draining');
      const timer = setTimeout(() => { log.error('drain took too long: exiting'); process.exit(1); }, 30_000);
      timer.unref();
      await drain();
      resolve();
    };
    process.on('SIGTERM', () => void shutdown('SIGTERM'));
    process.on('SIGINT', () => void shutdown('SIGINT'));
  });
}
