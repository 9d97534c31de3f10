/**
 * One stage process: a consumer-group member on the stage's input topic running the stage
 * runtime. SIGTERM/SIGINT drain gracefully (stop fetching, finish in-flight messages, commit);
 * a second signal exits at once.
 *
 * Besides wiring, this is where the domain-free runtime meets the stage's messages for
 * observability: per-message work (queued, handling, writing) is attributed to its chunk and
 * written to MySQL `chunk_work` in batches, and the runtime's numbers go to Prometheus.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { hostname } from 'node:os';
import type { Consumer } from 'kafkajs';
import type { App } from '../app.js';
import type { Db } from '../adapters/mysql.js';
import type { HBaseClient } from '../adapters/hbase.js';
import type { BatchingProducer } from '../adapters/kafka.js';
import { createConsumer } from '../adapters/kafka.js';
import { encode, type ChunkTask, type VisitorBatch } from '../../schemas/index.js';
import { dlqTopicName, groupName, topicName, type StageName } from '../../topology/index.js';
import { createStageRuntime, type DeadLetterPort, type MessageSource, type SourceMessage, type StageDefinition, type TopicPartition } from './stage-runtime.js';
import { createRegistry, serveMetrics, stageObserver } from '../metrics.js';
import { splitStage } from '../../stages/split/wiring.js';
import { transformStage } from '../../stages/transform/wiring.js';
import { summarizeStage } from '../../stages/summarize/wiring.js';

const byTopic = (tps: TopicPartition[]) => {
  const m = new Map<string, number[]>();
  for (const tp of tps) m.set(tp.topic, [...(m.get(tp.topic) ?? []), tp.partition]);
  return [...m].map(([topic, partitions]) => ({ topic, partitions }));
};

/** kafkajs consumer as the runtime's MessageSource; offsets are resolved by the runtime only. */
export function kafkaSource(consumer: Consumer): MessageSource {
  return {
    async run(eachBatch, partitionsConcurrently) {
      await consumer.run({
        autoCommit: true,
        autoCommitInterval: 1000,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: partitionsConcurrently,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary }) => {
          await eachBatch(
            {
              topic: batch.topic,
              partition: batch.partition,
              highWatermark: batch.highWatermark,
              messages: batch.messages.map((m) => ({ topic: batch.topic, partition: batch.partition, offset: m.offset, key: m.key ?? null, value: m.value ?? null, timestamp: m.timestamp })),
            },
            { resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary: () => commitOffsetsIfNecessary() },
          );
        },
      });
    },
    async stop() {
      await consumer.stop();
      await consumer.disconnect();
    },
    // kafkajs fetches a resumed partition from its last resolved offset: what the runtime's give-back relies on.
    pause: (tps) => consumer.pause(byTopic(tps)),
    resume: (tps) => consumer.resume(byTopic(tps)),
  };
}

export function deadLetterPort(app: App): DeadLetterPort {
  return {
    async deadLetter(stage, meta, err) {
      const producer = await app.producer();
      await producer.send(dlqTopicName(app.cfg.namespace, stage as StageName), [{
        key: meta.key,
        value: encode('DeadLetter', { stage, source_topic: meta.topic, partition: meta.partition, offset: meta.offset, key: meta.key, error_code: err.code, error: err.message.slice(0, 4000), payload: meta.value ?? Buffer.alloc(0), failed_at: Date.now() }),
      }]);
      await app.db().execute('INSERT IGNORE INTO dead_letters (stage, source_topic, kafka_partition, kafka_offset, error_code, error) VALUES (?, ?, ?, ?, ?, ?)', [stage, meta.topic, meta.partition, meta.offset, err.code, err.message.slice(0, 4000)]);
    },
  };
}

export function stageDefinition(app: App, stage: StageName): StageDefinition<unknown> {
  switch (stage) {
    case 'split': return splitStage(app) as StageDefinition<unknown>;
    case 'transform': return transformStage(app) as StageDefinition<unknown>;
    case 'summarize': return summarizeStage(app) as StageDefinition<unknown>;
  }
}

// ---------------------------------------------------------------------------------------------
// Per-message work: which chunk a message belongs to, and how its time splits up

/** The work of one message across its handler attempts; found again by its SourceMessage. */
interface MessageWork {
  startedAt: number;
  /** writes outstanding right now, and since when at least one was */
  pending: number;
  since: number;
  writeMs: number;
  /** rows a scan yielded inside the handler (split's events) */
  scanned: number;
  attribution?: Attribution;
}

interface Attribution {
  day: string;
  epoch: number;
  chunkId: string;
  /** events inside the message; undefined: count what the handler scanned */
  events?: number;
}

/** Which chunk a decoded message works for; the runtime itself never looks inside messages. */
export function attribute(stage: StageName, msg: unknown): Attribution | undefined {
  switch (stage) {
    case 'split': {
      const t = msg as ChunkTask;
      return { day: t.day, epoch: t.epoch, chunkId: t.chunk_id };
    }
    case 'transform': {
      const b = msg as VisitorBatch;
      return { day: b.day, epoch: b.epoch, chunkId: b.chunk_id, events: b.visitors.reduce((a, v) => a + v.events.length, 0) };
    }
    case 'summarize': {
      const m = msg as { name: string; value: { day: string; epoch: number; chunk_id: string; partial?: { events: number } } };
      return { day: m.value.day, epoch: m.value.epoch, chunkId: m.value.chunk_id, events: m.name === 'PartialRecord' ? Number(m.value.partial?.events ?? 0) : 0 };
    }
  }
}

const current = new AsyncLocalStorage<MessageWork>();

/** Counts the wall time during which at least one write of the current message is outstanding. */
function timedWrite<R>(fn: () => Promise<R>): Promise<R> {
  const w = current.getStore();
  if (!w) return fn();
  if (w.pending++ === 0) w.since = Date.now();
  let p: Promise<R>;
  try {
    p = fn();
  } catch (err) {
    p = Promise.reject(err);
  }
  return p.finally(() => {
    if (--w.pending === 0) w.writeMs += Date.now() - w.since;
  });
}

async function* countedScan(rows: AsyncIterable<Parameters<HBaseClient['put']>[1]>): AsyncIterable<Parameters<HBaseClient['put']>[1]> {
  const w = current.getStore();
  for await (const row of rows) {
    if (w) w.scanned++;
    yield row;
  }
}

/**
 * The App the stage's wiring sees: the same clients, with their writes timed for the work
 * report. Wrapping here keeps the stages and adapters unaware of it.
 */
function timedApp(app: App): App {
  const memo = <T extends object, W>(wrap: (x: T) => W) => {
    let inner: T | undefined;
    let outer: W | undefined;
    return (x: T): W => {
      if (x !== inner || outer === undefined) {
        inner = x;
        outer = wrap(x);
      }
      return outer;
    };
  };
  const db = memo((d: Db): Db => ({ ...d, execute: (sql, params) => timedWrite(() => d.execute(sql, params)), tx: (fn) => timedWrite(() => d.tx(fn)) }));
  const hbase = memo((h: HBaseClient): HBaseClient => ({
    get: (t, k) => h.get(t, k),
    getMany: (t, k) => h.getMany(t, k),
    put: (t, r) => timedWrite(() => h.put(t, r)),
    putMany: (t, r) => timedWrite(() => h.putMany(t, r)),
    ...(h.deleteRow ? { deleteRow: (t: string, k: Buffer) => timedWrite(() => h.deleteRow!(t, k)) } : {}),
    scan: (t, o) => countedScan(h.scan(t, o)),
    close: () => h.close(),
  }));
  const producer = memo((p: BatchingProducer): BatchingProducer => ({
    send: (topic, messages) => timedWrite(() => p.send(topic, messages)),
    enqueue: (topic, m) => timedWrite(() => p.enqueue(topic, m)),
    flush: () => p.flush(),
    close: () => p.close(),
  }));
  return { ...app, db: () => db(app.db()), hbase: () => hbase(app.hbase()), producer: async () => producer(await app.producer()) };
}

interface WorkTotals {
  day: string;
  epoch: number;
  chunkId: string;
  messages: number;
  events: number;
  queuedMs: number;
  handleMs: number;
  writeMs: number;
  firstAt: number;
  lastAt: number;
}

/**
 * Per-chunk totals of this replica, written to `chunk_work` at most once a second in one
 * statement: a round trip per message would cost more than the work it reports on.
 */
export class WorkReporter {
  private readonly totals = new Map<string, WorkTotals>();
  private readonly dirty = new Set<string>();
  private flushing: Promise<void> | undefined;
  constructor(private readonly stage: string, private readonly replica: string) {}

  add(a: Attribution, w: { queuedMs: number; handleMs: number; writeMs: number; events: number }, at: number): void {
    const key = `${a.day}|${a.epoch}|${a.chunkId}`;
    let t = this.totals.get(key);
    if (!t) {
      t = { day: a.day, epoch: a.epoch, chunkId: a.chunkId, messages: 0, events: 0, queuedMs: 0, handleMs: 0, writeMs: 0, firstAt: at, lastAt: at };
      this.totals.set(key, t);
    }
    t.messages++;
    t.events += w.events;
    t.queuedMs += Math.max(0, w.queuedMs);
    t.handleMs += w.handleMs;
    t.writeMs += w.writeMs;
    t.lastAt = at;
    this.dirty.add(key);
  }

  /** Writes the changed totals; on failure they stay dirty for the next flush. */
  flush(db: Db): Promise<void> {
    this.flushing ??= this.write(db).finally(() => { this.flushing = undefined; });
    return this.flushing;
  }

  private async write(db: Db): Promise<void> {
    const keys = [...this.dirty];
    this.dirty.clear();
    try {
      for (let i = 0; i < keys.length; i += 200) {
        const rows = keys.slice(i, i + 200).map((k) => this.totals.get(k)!);
        await db.execute(
          `INSERT INTO chunk_work (day, epoch, chunk_id, stage, replica, messages, events, queued_ms, handle_ms, write_ms, first_at, last_at) VALUES ${rows.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, FROM_UNIXTIME(? / 1000), FROM_UNIXTIME(? / 1000))').join(', ')}
           ON DUPLICATE KEY UPDATE messages = VALUES(messages), events = VALUES(events), queued_ms = VALUES(queued_ms), handle_ms = VALUES(handle_ms), write_ms = VALUES(write_ms), last_at = VALUES(last_at)`,
          rows.flatMap((t) => [t.day, t.epoch, t.chunkId, this.stage, this.replica, t.messages, t.events, t.queuedMs, t.handleMs, t.writeMs, t.firstAt, t.lastAt]),
        );
      }
    } catch (err) {
      for (const k of keys) this.dirty.add(k);
      throw err;
    }
    // Totals of chunks idle for an hour are final for this replica: forget them.
    const cutoff = Date.now() - 3_600_000;
    for (const [k, t] of this.totals) if (t.lastAt < cutoff && !this.dirty.has(k)) this.totals.delete(k);
  }
}

// ---------------------------------------------------------------------------------------------

export async function runStage(app: App, stage: StageName, opts: { onSignal?: boolean } = {}): Promise<void> {
  const log = app.log.child({ stage });
  const cfg = app.cfg.pipeline;
  const input = app.topology.stages[stage].input;
  const replica = `${hostname()}:${process.pid}`;
  const registry = createRegistry({ process: 'stage', stage, namespace: app.cfg.namespace });
  const metrics = stageObserver(registry, stage);
  const server = await serveMetrics(registry, app.cfg.metricsPort, log, app.cfg.metricsHost);
  const reporter = new WorkReporter(stage, replica);
  const work = new WeakMap<SourceMessage, MessageWork>();

  const inner = stageDefinition(timedApp(app), stage);
  const def: StageDefinition<unknown> = {
    ...inner,
    handle(msg, meta) {
      // One record across retries: the same SourceMessage object comes back on every attempt.
      let w = work.get(meta);
      if (!w) {
        w = { startedAt: Date.now(), pending: 0, since: 0, writeMs: 0, scanned: 0 };
        const a = attribute(stage, msg);
        if (a) w.attribution = a;
        work.set(meta, w);
      }
      w.scanned = 0;
      return current.run(w, () => inner.handle(msg, meta));
    },
  };
  let events = 0;
  const onHandled = (meta: SourceMessage, ms: number) => {
    const w = work.get(meta);
    if (!w) return;
    work.delete(meta);
    const n = w.attribution?.events ?? w.scanned;
    events += n;
    metrics.events(n);
    if (w.attribution) {
      const queuedMs = meta.timestamp !== undefined ? w.startedAt - Number(meta.timestamp) : 0;
      reporter.add(w.attribution, { queuedMs, handleMs: ms, writeMs: w.writeMs, events: n }, Date.now());
    }
  };

  const consumer = createConsumer(app.kafka(), { groupId: groupName(app.cfg.namespace, stage) });
  await consumer.connect();
  await consumer.subscribe({ topic: topicName(app.cfg.namespace, input), fromBeginning: true });
  const rt = createStageRuntime(def, {
    source: kafkaSource(consumer),
    deadLetters: deadLetterPort(app),
    // The runtime binds `stage` itself; passing `log` (already bound) printed the field twice.
    log: app.log,
    concurrency: cfg.concurrency,
    adaptive: { min: cfg.concurrencyMin, max: cfg.concurrencyMax },
    // Every partition may hand over a batch at once; the adaptive limit decides how many messages run.
    partitionsConcurrently: app.topology.topics[input].partitions,
    maxInFlightMessages: cfg.maxInFlightMessages,
    maxInFlightBytes: cfg.maxInFlightBytes,
    observer: metrics,
    onHandled,
  });
  const flush = () => reporter.flush(app.db()).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'chunk work report not written; retried with the next flush'));
  const flusher = setInterval(() => void flush(), 1000);
  flusher.unref();

  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((r) => { resolveDone = r; });
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
    await rt.stop().catch((err: unknown) => log.error({ err }, 'stop failed'));
    clearInterval(flusher);
    await flush();
    await server?.close();
    await app.close();
    const { recentLatencyMs: _l, ...s } = rt.stats();
    // The final stats line: per-replica totals for a person (and the scaling test) to read.
    log.info({ ...s, events, replica }, 'stopped');
    resolveDone();
  };
  if (opts.onSignal !== false) {
    process.on('SIGTERM', () => void shutdown('SIGTERM'));
    process.on('SIGINT', () => void shutdown('SIGINT'));
  }
  consumer.on(consumer.events.CRASH, (e) => {
    // kafkajs restarts the consumer itself on retryable errors; when it gives up, exit so the supervisor restarts us.
    if (!e.payload.restart) {
      log.fatal({ err: e.payload.error }, 'consumer crashed for good');
      process.exit(1);
    }
  });
  await rt.start();
  log.info({ group: groupName(app.cfg.namespace, stage), topic: topicName(app.cfg.namespace, input), replica, concurrency: cfg.concurrency, concurrencyMin: cfg.concurrencyMin, concurrencyMax: cfg.concurrencyMax, maxInFlightMessages: cfg.maxInFlightMessages, maxInFlightBytes: cfg.maxInFlightBytes }, 'stage running');
  await done;
}
