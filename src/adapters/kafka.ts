/**
 * The one place that knows kafkajs. Stages and the master see small ports (admin, a batching
 * producer, a consumer with sane settings); every kafkajs error leaving a port is a StagelineError
 * whose `retryable` comes from the shared classifier, so the runtime can tell "wait" from "quarantine".
 */
import type * as tls from 'node:tls';
import {
  Kafka, Partitioners, logLevel,
  type Admin, type ConfigResourceTypes, type Consumer, type KafkaConfig, type LogEntry, type Message, type Producer, type SASLOptions, type TopicMessages,
} from 'kafkajs';
import { StagelineError, errorMessage, isRetryable } from '../errors.js';
import type { Logger } from '../log.js';
import { sleep } from '../retry.js';
import type { MessageSource, TopicPartition } from '../runtime/stage-runtime.js';

export type { Consumer, Kafka };

export interface KafkaConnection {
  brokers: string[];
  clientId: string;
  ssl?: boolean | tls.ConnectionOptions;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
}

// ---------------------------------------------------------------------------------------------
// Logging

/** kafkajs filters before calling the log creator, so its level must follow pino's or debug is lost. */
export function kafkajsLevelFor(pinoLevel: string): logLevel {
  switch (pinoLevel) {
    case 'trace':
    case 'debug':
      return logLevel.DEBUG;
    case 'info':
      return logLevel.INFO;
    case 'warn':
      return logLevel.WARN;
    case 'error':
    case 'fatal':
      return logLevel.ERROR;
    default:
      return logLevel.NOTHING;
  }
}

const SECRET_KEYS = new Set(['password', 'sasl', 'key', 'cert', 'pfx', 'passphrase', 'ca', 'secretAccessKey', 'sessionToken']);

/**
 * A copy of a kafkajs log payload with credentials removed: secret-named keys are blanked and any
 * string containing a known secret has it masked, since kafkajs may echo config or broker replies.
 */
export function scrubSecrets(value: unknown, secrets: readonly string[], depth = 0): unknown {
  if (typeof value === 'string') {
    let out = value;
    for (const s of secrets) if (s.length > 0) out = out.split(s).join('[redacted]');
    return out;
  }
  if (value === null || typeof value !== 'object' || depth > 4) return value;
  if (Buffer.isBuffer(value)) return `<${value.length} bytes>`;
  if (value instanceof Error) return { name: value.name, message: scrubSecrets(value.message, secrets, depth + 1) };
  if (Array.isArray(value)) return value.map((v) => scrubSecrets(v, secrets, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEYS.has(k) ? '[redacted]' : scrubSecrets(v, secrets, depth + 1);
  return out;
}

/**
 * kafkajs warnings about choices made here on purpose, logged at debug so a nightly log's warnings
 * stay worth reading. Bounded retries on the idempotent producer: the stage runtime owns retrying,
 * and a run that hangs forever on a dead broker is worse than a possible duplicate.
 */
const EXPECTED_WARNINGS = ['Limiting retries for the idempotent producer may invalidate EoS guarantees'];

function logCreatorFor(log: Logger, secrets: readonly string[]) {
  const child = log.child({ component: 'kafkajs' });
  return () => (entry: LogEntry): void => {
    const { message, timestamp: _ts, logger: _logger, ...extra } = entry.log;
    const fields = { ns: entry.namespace, ...(scrubSecrets(extra, secrets) as Record<string, unknown>) };
    const msg = scrubSecrets(String(message), secrets) as string;
    const level = entry.level === logLevel.WARN && EXPECTED_WARNINGS.includes(msg) ? logLevel.DEBUG : entry.level;
    switch (level) {
      case logLevel.ERROR: child.error(fields, msg); break;
      case logLevel.WARN: child.warn(fields, msg); break;
      case logLevel.INFO: child.info(fields, msg); break;
      default: child.debug(fields, msg);
    }
  };
}

function saslOptions(s: NonNullable<KafkaConnection['sasl']>): SASLOptions {
  switch (s.mechanism) {
    case 'plain': return { mechanism: 'plain', username: s.username, password: s.password };
    case 'scram-sha-256': return { mechanism: 'scram-sha-256', username: s.username, password: s.password };
    case 'scram-sha-512': return { mechanism: 'scram-sha-512', username: s.username, password: s.password };
  }
}

export function createKafka(conn: KafkaConnection, log: Logger): Kafka {
  const secrets = conn.sasl ? [conn.sasl.password] : [];
  const config: KafkaConfig = {
    clientId: conn.clientId,
    brokers: conn.brokers,
    connectionTimeout: conn.connectionTimeoutMs ?? 3000,
    requestTimeout: conn.requestTimeoutMs ?? 30_000,
    // Bounded: the stage runtime owns the long retry policy; kafkajs' own loop only rides out blips.
    retry: { initialRetryTime: 300, maxRetryTime: 10_000, retries: 8 },
    logLevel: kafkajsLevelFor(log.level),
    logCreator: logCreatorFor(log, secrets),
  };
  if (conn.ssl !== undefined) config.ssl = conn.ssl;
  if (conn.sasl) config.sasl = saslOptions(conn.sasl);
  return new Kafka(config);
}

/**
 * Broker answers that say an idempotent producer's id or sequence numbers no longer match the
 * broker's (kafkajs wraps them as non-retriable and keeps only the message). They say nothing
 * about the records: the producer is replaced (see createProducer) and the send can be retried.
 */
const PRODUCER_STATE_ERRORS = new Map<string, string>([
  ['OUT_OF_ORDER_SEQUENCE_NUMBER', 'The broker received an out of order sequence number'],
  ['DUPLICATE_SEQUENCE_NUMBER', 'The broker received a duplicate sequence number'],
  ['UNKNOWN_PRODUCER_ID', 'This exception is raised by the broker if it could not locate the producer metadata'],
  ['INVALID_PRODUCER_EPOCH', 'Producer attempted an operation with an old epoch'],
  ['INVALID_PRODUCER_ID_MAPPING', 'The producer attempted to use a producer id which is not currently assigned'],
]);

export function isProducerStateError(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 4) return false;
  const e = err as { type?: unknown; message?: unknown; cause?: unknown };
  if (typeof e.type === 'string' && PRODUCER_STATE_ERRORS.has(e.type)) return true;
  if (typeof e.message === 'string') for (const m of PRODUCER_STATE_ERRORS.values()) if (e.message.includes(m)) return true;
  return isProducerStateError(e.cause, depth + 1);
}

/** Wraps a kafkajs failure so callers see one error type, with kafkajs' own retriability kept. */
export function kafkaError(what: string, err: unknown): StagelineError {
  if (err instanceof StagelineError) return err;
  return new StagelineError('KAFKA_UNAVAILABLE', `${what}: ${errorMessage(err)}`, { retryable: isRetryable(err) || isProducerStateError(err), cause: err });
}

async function wrap<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw kafkaError(what, err);
  }
}

// ---------------------------------------------------------------------------------------------
// Admin

/**
 * One metadata request through a throwaway admin client: true when a broker answers with itself and
 * a controller (a fenced broker or a half-started one answers without them) and, with
 * `wantBrokers`, lists at least that many brokers (a cluster is up). Never throws.
 */
export async function kafkaReady(brokers: string[], wantBrokers = 1): Promise<boolean> {
  const kafka = new Kafka({
    clientId: 'stageline-ready',
    brokers,
    connectionTimeout: 1000,
    requestTimeout: 2000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin({ retry: { retries: 0 } });
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length >= Math.max(1, wantBrokers) && cluster.controller !== null && cluster.controller >= 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}


export interface TopicSpec {
  topic: string;
  partitions: number;
  /** @defaultValue the broker's default.replication.factor */
  replicationFactor?: number;
  config?: Record<string, string>;
}

/**
 * Replication for a cluster of `brokers`: min(3, brokers) copies, and 2 in sync once there are 3,
 * so an acks=all write survives losing any one broker and the cluster keeps accepting writes
 * while one is down. One broker: 1 and 1, as before.
 */
export function replicationFor(brokers: number): { replicationFactor: number; minInsyncReplicas: number } {
  const replicationFactor = Math.min(3, Math.max(1, brokers));
  return { replicationFactor, minInsyncReplicas: replicationFactor >= 3 ? 2 : 1 };
}

export interface KafkaAdminPort {
  /** Creates missing topics and raises partition counts that are below the spec; never lowers, never alters config of existing topics. */
  ensureTopics(specs: TopicSpec[]): Promise<{ created: string[]; raised: string[] }>;
  topicOffsets(topic: string): Promise<Array<{ partition: number; low: string; high: string }>>;
  /** Committed offsets of the group on the topic; '-1' where the group committed nothing. */
  groupOffsets(groupId: string, topic: string): Promise<Array<{ partition: number; offset: string }>>;
  /** The group must have no live members (Kafka refuses otherwise). */
  resetGroupOffsets(groupId: string, topic: string, offsets: Array<{ partition: number; offset: string }>): Promise<void>;
  describeGroup(groupId: string): Promise<{ state: string; members: Array<{ memberId: string; clientId: string; host: string }> }>;
  /** Deletes the topics that exist and waits until the broker no longer lists them. */
  deleteTopics(topics: string[]): Promise<void>;
  /** Non-internal topics (internal ones start with `__`). */
  listTopics(): Promise<string[]>;
  /** The smallest `max.message.bytes` among the topics: the largest message every one of them takes. */
  maxMessageBytes(topics: string[]): Promise<number>;
  /** Brokers the cluster lists now. */
  brokerCount(): Promise<number>;
  /** Replicas and the min.insync.replicas setting of a topic, per partition in-sync replicas. */
  describeTopic(topic: string): Promise<{ replicationFactor: number; minInsyncReplicas: number | undefined; partitions: Array<{ partition: number; leader: number; replicas: number[]; isr: number[] }> }>;
  close(): Promise<void>;
}

/**
 * ConfigResourceTypes.TOPIC. Node's ESM loader does not see kafkajs' ConfigResourceTypes among
 * the CommonJS module's named exports, so the value is spelled here.
 */
const TOPIC_RESOURCE = 2 as ConfigResourceTypes;

/** How long ensureTopics/deleteTopics wait for metadata to show their effect before giving up. */
const METADATA_SETTLE_MS = 30_000;

/** Polls until `done` holds: metadata in KRaft lags the controller's answer by a few ms to seconds. */
async function until(what: string, done: () => Promise<boolean>, timeoutMs = METADATA_SETTLE_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    if (await done()) return;
    if (Date.now() > deadline) throw new StagelineError('TIMEOUT', `${what} not visible in metadata after ${timeoutMs} ms`, { retryable: true });
    await sleep(delay);
  }
}

/** Which specs need creating or raising, given current partition counts: pure, for unit tests. */
export function planTopics(specs: TopicSpec[], existing: ReadonlyMap<string, number>): { create: TopicSpec[]; raise: Array<{ topic: string; count: number }> } {
  const create: TopicSpec[] = [];
  const raise: Array<{ topic: string; count: number }> = [];
  const seen = new Set<string>();
  for (const spec of specs) {
    if (seen.has(spec.topic)) throw new StagelineError('CONFIG_INVALID', `topic ${spec.topic} specified twice`);
    seen.add(spec.topic);
    if (!Number.isInteger(spec.partitions) || spec.partitions < 1) throw new StagelineError('CONFIG_INVALID', `topic ${spec.topic}: partitions must be a positive integer`);
    const have = existing.get(spec.topic);
    if (have === undefined) create.push(spec);
    else if (have < spec.partitions) raise.push({ topic: spec.topic, count: spec.partitions });
  }
  return { create, raise };
}

async function partitionCounts(admin: Admin, topics: string[]): Promise<Map<string, number>> {
  const listed = new Set(await admin.listTopics());
  const present = topics.filter((t) => listed.has(t));
  const counts = new Map<string, number>();
  if (present.length === 0) return counts;
  const meta = await admin.fetchTopicMetadata({ topics: present });
  for (const t of meta.topics) counts.set(t.name, t.partitions.length);
  return counts;
}

/**
 * Commits offsets for an empty group by briefly joining it with a paused consumer and seeking.
 * kafkajs' own admin.setOffsets does the same but with a default consumer whose idle fetch wait
 * holds every reset for ~5 s; a 100 ms wait makes it near-instant.
 */
async function commitAsGroup(kafka: Kafka, groupId: string, topic: string, offsets: Array<{ partition: number; offset: string }>): Promise<void> {
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, allowAutoTopicCreation: false });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic });
    await new Promise<void>((resolve, reject) => {
      // The first fetch round comes after the seeks were committed on joining.
      consumer.on(consumer.events.FETCH, () => resolve());
      consumer.on(consumer.events.CRASH, (e) => reject(e.payload.error));
      consumer.run({ eachBatchAutoResolve: false, eachBatch: async () => undefined }).catch(reject);
      consumer.pause([{ topic }]);
      for (const o of offsets) consumer.seek({ topic, partition: o.partition, offset: o.offset });
    });
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
}

export async function createAdmin(kafka: Kafka): Promise<KafkaAdminPort> {
  const admin = kafka.admin();
  await wrap('kafka admin connect', () => admin.connect());

  return {
    ensureTopics: (specs) => wrap('ensureTopics', async () => {
      const topics = specs.map((s) => s.topic);
      const plan = planTopics(specs, await partitionCounts(admin, topics));
      const created: string[] = [];
      if (plan.create.length > 0) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: plan.create.map((s) => ({
            topic: s.topic,
            numPartitions: s.partitions,
            // -1: the broker's default.replication.factor (provisioning sets it from the cluster's size).
            replicationFactor: s.replicationFactor ?? -1,
            configEntries: Object.entries(s.config ?? {}).map(([name, value]) => ({ name, value })),
          })),
        });
        created.push(...plan.create.map((s) => s.topic));
      }
      if (plan.raise.length > 0) await admin.createPartitions({ topicPartitions: plan.raise });
      const want = new Map(specs.map((s) => [s.topic, s.partitions]));
      await until(`topics ${topics.join(', ')}`, async () => {
        const now = await partitionCounts(admin, topics);
        return topics.every((t) => (now.get(t) ?? 0) >= (want.get(t) ?? 0));
      });
      return { created, raised: plan.raise.map((r) => r.topic) };
    }),

    topicOffsets: (topic) => wrap(`topicOffsets ${topic}`, async () => {
      const rows = await admin.fetchTopicOffsets(topic);
      return rows.map((r) => ({ partition: r.partition, low: r.low, high: r.high })).sort((a, b) => a.partition - b.partition);
    }),

    groupOffsets: (groupId, topic) => wrap(`groupOffsets ${groupId}`, async () => {
      const res = await admin.fetchOffsets({ groupId, topics: [topic] });
      const parts = res.find((r) => r.topic === topic)?.partitions ?? [];
      return parts.map((p) => ({ partition: p.partition, offset: p.offset })).sort((a, b) => a.partition - b.partition);
    }),

    resetGroupOffsets: (groupId, topic, offsets) => wrap(`resetGroupOffsets ${groupId}`, async () => {
      if (offsets.length === 0) return;
      const { groups } = await admin.describeGroups([groupId]);
      const state = groups[0]?.state ?? 'Dead';
      if (state !== 'Empty' && state !== 'Dead') {
        throw new StagelineError('CONFLICT', `group ${groupId} has live members (state ${state}): stop its consumers before resetting offsets`);
      }
      await commitAsGroup(kafka, groupId, topic, offsets);
      const now = new Map((await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions.map((p) => [p.partition, p.offset]) ?? []);
      const missed = offsets.filter((o) => now.get(o.partition) !== o.offset);
      if (missed.length > 0) throw new StagelineError('INTERNAL', `offset reset of ${groupId} on ${topic} did not take for partitions ${missed.map((o) => o.partition).join(', ')}`, { retryable: true });
    }),

    describeGroup: (groupId) => wrap(`describeGroup ${groupId}`, async () => {
      const { groups } = await admin.describeGroups([groupId]);
      const g = groups[0];
      if (!g) return { state: 'Dead', members: [] };
      return { state: g.state, members: g.members.map((m) => ({ memberId: m.memberId, clientId: m.clientId, host: m.clientHost })) };
    }),

    deleteTopics: (topics) => wrap(`deleteTopics ${topics.join(', ')}`, async () => {
      const listed = new Set(await admin.listTopics());
      const present = topics.filter((t) => listed.has(t));
      if (present.length === 0) return;
      await admin.deleteTopics({ topics: present });
      // Recreating a name right after deleting it fails until the deletion shows in metadata.
      await until(`deletion of ${present.join(', ')}`, async () => {
        const now = new Set(await admin.listTopics());
        return present.every((t) => !now.has(t));
      });
    }),

    listTopics: () => wrap('listTopics', async () => (await admin.listTopics()).filter((t) => !t.startsWith('__')).sort()),

    maxMessageBytes: (topics) => wrap('describeConfigs max.message.bytes', async () => {
      const res = await admin.describeConfigs({ includeSynonyms: false, resources: topics.map((name) => ({ type: TOPIC_RESOURCE, name, configNames: ['max.message.bytes'] })) });
      const values = res.resources.flatMap((r) => r.configEntries.filter((e) => e.configName === 'max.message.bytes').map((e) => Number(e.configValue)));
      if (values.length === 0 || values.some((v) => !Number.isFinite(v) || v <= 0)) throw new StagelineError('KAFKA_UNAVAILABLE', `no max.message.bytes for ${topics.join(', ')}`, { retryable: true });
      return Math.min(...values);
    }),

    brokerCount: () => wrap('describeCluster', async () => (await admin.describeCluster()).brokers.length),

    describeTopic: (topic) => wrap(`describeTopic ${topic}`, async () => {
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      const parts = (meta.topics[0]?.partitions ?? []).map((p) => ({ partition: p.partitionId, leader: p.leader, replicas: [...p.replicas].sort(), isr: [...p.isr].sort() })).sort((a, b) => a.partition - b.partition);
      const configs = await admin.describeConfigs({ resources: [{ type: TOPIC_RESOURCE, name: topic, configNames: ['min.insync.replicas'] }], includeSynonyms: false });
      const isr = configs.resources[0]?.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue;
      return { replicationFactor: parts[0]?.replicas.length ?? 0, minInsyncReplicas: isr === undefined ? undefined : Number(isr), partitions: parts };
    }),

    close: () => admin.disconnect(),
  };
}

// ---------------------------------------------------------------------------------------------
// Producer

export interface OutMessage {
  key?: Buffer | string | null;
  value: Buffer;
  partition?: number;
  headers?: Record<string, string>;
}

export interface BatchingProducer {
  /** One produce request for all the messages (acks=all). */
  send(topic: string, messages: OutMessage[]): Promise<void>;
  /** Resolves when the batch holding the message is acknowledged; fire many, then await them together. */
  enqueue(topic: string, msg: OutMessage): Promise<void>;
  /** Sends whatever is queued and waits for it; failures reach the enqueue promises, not flush. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

function toMessage(m: OutMessage): Message {
  const out: Message = { value: m.value };
  if (m.key !== undefined) out.key = m.key;
  if (m.partition !== undefined) out.partition = m.partition;
  if (m.headers !== undefined) out.headers = m.headers;
  return out;
}

function messageBytes(m: Message): number {
  const v = m.value;
  const k = m.key;
  return (v ? (typeof v === 'string' ? Buffer.byteLength(v) : v.length) : 0) + (k ? (typeof k === 'string' ? Buffer.byteLength(k) : k.length) : 0) + 64;
}

interface Pending {
  topic: string;
  msg: Message;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Collects enqueued messages and sends them as one multi-topic request when `maxBatch` are waiting
 * or `lingerMs` has passed since the first. Batches go out one at a time so a key's messages reach
 * the broker in the order they were enqueued even across batches. Independent of kafkajs for tests.
 */
export class MessageBatcher {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly sendBatch: (topicMessages: TopicMessages[]) => Promise<void>,
    private readonly lingerMs: number,
    private readonly maxBatch: number,
    /**
     * Bytes of keys and values per request. The broker refuses a partition's record batch over
     * message.max.bytes (1 MB by default) as non-retryable; 200 visitor batches of ~32 KB in one
     * request did exactly that in the benchmark, so requests are cut by size too.
     */
    private readonly maxBytes: number = 512 * 1024,
  ) {}

  get pending(): number {
    return this.queue.length;
  }

  enqueue(topic: string, msg: Message): Promise<void> {
    if (this.closed) return Promise.reject(new StagelineError('INTERNAL', 'enqueue on a closed producer'));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ topic, msg, resolve, reject });
      this.schedule();
    });
  }

  async flush(): Promise<void> {
    while (this.queue.length > 0 || this.inflight) await this.kick();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private schedule(): void {
    if (this.queue.length >= this.maxBatch) void this.kick();
    else if (this.timer === undefined && this.queue.length > 0) this.timer = setTimeout(() => void this.kick(), this.lingerMs);
  }

  private kick(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.inflight ??= this.drain().finally(() => {
      this.inflight = undefined;
      // Messages that arrived while the last batch was on the wire must not wait for another enqueue.
      this.schedule();
    });
    return this.inflight;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      let n = 0;
      let bytes = 0;
      while (n < this.queue.length && n < this.maxBatch) {
        const m = this.queue[n]!.msg;
        const size = messageBytes(m);
        if (n > 0 && bytes + size > this.maxBytes) break;
        bytes += size;
        n++;
      }
      const batch = this.queue.splice(0, n);
      const byTopic = new Map<string, Message[]>();
      for (const p of batch) {
        const list = byTopic.get(p.topic);
        if (list) list.push(p.msg);
        else byTopic.set(p.topic, [p.msg]);
      }
      try {
        await this.sendBatch([...byTopic].map(([topic, messages]) => ({ topic, messages })));
        for (const p of batch) p.resolve();
      } catch (err) {
        const wrapped = kafkaError(`produce of ${batch.length} messages`, err);
        for (const p of batch) p.reject(wrapped);
      }
    }
  }
}

/**
 * Every produce is acks=all (-1): acknowledged once all in-sync replicas have it (with
 * min.insync.replicas 2 on three brokers, a write survives losing its leader right after the ack).
 * Idempotent by default: when a request times out after the broker wrote it (a leader dying
 * mid-request), kafkajs' own resend carries the same producer id and sequence and the broker
 * drops the copy instead of appending it twice. Retries stay bounded (see createKafka and
 * EXPECTED_WARNINGS): past them the stage runtime retries the whole message, and the copies that
 * can make are absorbed downstream by the natural keys (batch id, chunk id).
 *
 * A request that failed for good retires its kafkajs producer, and the next request goes out
 * under a new producer id. After a failure kafkajs rolls its sequence numbers back although the
 * broker may have written the records; the next request under the same id reused those numbers
 * for other records, and the broker refused every later send to the partition
 * (OUT_OF_ORDER_SEQUENCE_NUMBER: good chunks dead-lettered in the Kafka outage test,
 * test/integration/faults.test.ts 7b). Had the record count matched, it would have acknowledged
 * them as a duplicate of the written batch without writing them.
 */
export async function createProducer(kafka: Kafka, opts: { lingerMs?: number; maxBatch?: number; idempotent?: boolean }): Promise<BatchingProducer> {
  const idempotent = opts.idempotent ?? true;
  const make = (): Producer => kafka.producer({
    // Java-compatible murmur2: keys land on the same partitions as with any other Kafka client.
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
    idempotent,
    // Idempotence keeps order only with one request in flight; kafkajs would force it anyway, with a warning.
    ...(idempotent ? { maxInFlightRequests: 1 } : {}),
  });
  let current: Promise<Producer> | undefined;
  const retire = (p: Producer): void => { void p.disconnect().catch(() => undefined); };
  const connectNew = (): Promise<Producer> => {
    const p = make();
    const c = wrap('kafka producer connect', async () => { await p.connect(); return p; });
    current = c;
    c.catch(() => {
      if (current === c) current = undefined;
      retire(p);
    });
    return c;
  };
  /** One request on the current producer; a failure retires it (only once, if several failed on it). */
  const withProducer = async <T>(fn: (p: Producer) => Promise<T>): Promise<T> => {
    const c = current ?? connectNew();
    const p = await c;
    try {
      return await fn(p);
    } catch (err) {
      if (current === c) {
        current = undefined;
        retire(p);
      }
      throw err;
    }
  };
  await connectNew();
  const batcher = new MessageBatcher(
    async (topicMessages) => { await withProducer((p) => p.sendBatch({ acks: -1, topicMessages })); },
    opts.lingerMs ?? 5,
    opts.maxBatch ?? 500,
  );
  return {
    send: (topic, messages) => wrap(`produce to ${topic}`, async () => {
      let start = 0;
      while (start < messages.length) {
        let end = start;
        let bytes = 0;
        while (end < messages.length) {
          const size = messageBytes(toMessage(messages[end]!));
          if (end > start && bytes + size > 512 * 1024) break;
          bytes += size;
          end++;
        }
        const slice = messages.slice(start, end).map(toMessage);
        await withProducer((p) => p.send({ topic, acks: -1, messages: slice }));
        start = end;
      }
    }),
    enqueue: (topic, msg) => batcher.enqueue(topic, toMessage(msg)),
    flush: () => batcher.flush(),
    close: async () => {
      await batcher.close();
      const c = current;
      current = undefined;
      if (c) await (await c.catch(() => undefined))?.disconnect();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Consumer

export function createConsumer(kafka: Kafka, opts: { groupId: string; sessionTimeoutMs?: number; heartbeatIntervalMs?: number; maxBytesPerPartition?: number }): Consumer {
  const sessionTimeout = opts.sessionTimeoutMs ?? 30_000;
  return kafka.consumer({
    groupId: opts.groupId,
    sessionTimeout,
    // Well under Kafka's ceiling of a third of the session, so one slow beat does not cost the membership.
    heartbeatInterval: opts.heartbeatIntervalMs ?? Math.max(1000, Math.floor(sessionTimeout / 10)),
    rebalanceTimeout: Math.max(60_000, sessionTimeout),
    maxBytesPerPartition: opts.maxBytesPerPartition ?? 1024 * 1024,
    // An idle fetch returns within 1 s, so pause/resume and shutdown are not held up by the 5 s default.
    maxWaitTimeInMs: 1000,
    allowAutoTopicCreation: false,
    readUncommitted: false,
  });
}

const byTopic = (tps: TopicPartition[]) => {
  const m = new Map<string, number[]>();
  for (const tp of tps) m.set(tp.topic, [...(m.get(tp.topic) ?? []), tp.partition]);
  return [...m].map(([topic, partitions]) => ({ topic, partitions }));
};

/** A kafkajs consumer as the stage runtime's MessageSource; offsets are resolved by the runtime only. */
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

/**
 * A consumer-group member on one topic, as a MessageSource. `onCrash` hears when kafkajs gives up
 * restarting the consumer itself (it restarts on retryable errors).
 */
export async function subscribeSource(kafka: Kafka, o: { groupId: string; topic: string; onCrash: (err: unknown) => void }): Promise<MessageSource> {
  const consumer = createConsumer(kafka, { groupId: o.groupId });
  await wrap('kafka consumer connect', () => consumer.connect());
  await wrap(`subscribe ${o.topic}`, () => consumer.subscribe({ topic: o.topic, fromBeginning: true }));
  consumer.on(consumer.events.CRASH, (e) => {
    if (!e.payload.restart) o.onCrash(e.payload.error);
  });
  return kafkaSource(consumer);
}
