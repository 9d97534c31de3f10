/**
 * The Kafka adapter against the real broker of the local stack (127.0.0.1:9092, started by the
 * integration globalSetup). Each test uses its own topic and group names, so reruns and a dirty
 * broker do not matter, and deletes its topics afterwards.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createAdmin, createConsumer, createKafka, createProducer,
  type Consumer, type Kafka, type KafkaAdminPort,
} from '../../src/adapters/kafka.js';
import { silentLogger } from '../../src/log.js';
import { sleep } from '../../src/retry.js';
import { kafkaReady } from '../../src/stack/kafka.js';

const BROKERS = ['127.0.0.1:9092'];
const uniq = (prefix: string): string => `${prefix}-${randomBytes(4).toString('hex')}`;

/** Waits for a condition instead of a fixed sleep; fails with `what` when it never holds. */
async function eventually(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

let kafka: Kafka;
let admin: KafkaAdminPort;
const topicsToDelete: string[] = [];
const consumers: Consumer[] = [];

beforeAll(async () => {
  kafka = createKafka({ brokers: BROKERS, clientId: 'stageline-it' }, silentLogger);
  admin = await createAdmin(kafka);
});

afterAll(async () => {
  await Promise.all(consumers.map((c) => c.disconnect().catch(() => undefined)));
  if (admin) {
    await admin.deleteTopics(topicsToDelete);
    await admin.close();
  }
});

describe('kafka stack readiness', () => {
  it('answers a metadata request on the stack broker and not on a closed port', async () => {
    expect(await kafkaReady(BROKERS)).toBe(true);
    expect(await kafkaReady(['127.0.0.1:1'])).toBe(false);
  });
});

describe('createKafka logging', () => {
  it('routes kafkajs logs into pino and never writes the SASL password, even when authentication fails', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done(); } });
    const password = `pw-${randomBytes(8).toString('hex')}`;
    // The stack's listener is PLAINTEXT: the SASL handshake fails, which is where a careless client logs credentials.
    const k = createKafka({ brokers: BROKERS, clientId: 'stageline-it-sasl', sasl: { mechanism: 'plain', username: 'u', password }, connectionTimeoutMs: 1000 }, pino({ level: 'debug' }, sink));
    const a = k.admin({ retry: { retries: 0 } });
    await expect(a.connect()).rejects.toThrow();
    await a.disconnect();
    const text = lines.join('');
    expect(lines.length).toBeGreaterThan(0);
    expect(text).toContain('"component":"kafkajs"');
    expect(text).not.toContain(password);
  });
});

describe('KafkaAdminPort.ensureTopics', () => {
  it('creates, raises partitions, never lowers, and is idempotent', async () => {
    const topic = uniq('it-ensure');
    topicsToDelete.push(topic);

    expect(await admin.ensureTopics([{ topic, partitions: 3, config: { 'retention.ms': '3600000' } }])).toEqual({ created: [topic], raised: [] });
    expect(await admin.topicOffsets(topic)).toHaveLength(3);
    expect(await admin.listTopics()).toContain(topic);

    expect(await admin.ensureTopics([{ topic, partitions: 4 }])).toEqual({ created: [], raised: [topic] });
    expect(await admin.topicOffsets(topic)).toHaveLength(4);

    expect(await admin.ensureTopics([{ topic, partitions: 4 }])).toEqual({ created: [], raised: [] });
    expect(await admin.ensureTopics([{ topic, partitions: 2 }])).toEqual({ created: [], raised: [] });
    expect(await admin.topicOffsets(topic)).toHaveLength(4);
  });
});

describe('produce and consume through a consumer group', () => {
  it('delivers 3000 keyed messages to two consumers of one group, keys staying on one partition', async () => {
    const topic = uniq('it-roundtrip');
    const groupId = uniq('it-group');
    topicsToDelete.push(topic);
    await admin.ensureTopics([{ topic, partitions: 3 }]);

    interface Seen { consumer: number; partition: number; key: string; seq: number }
    const seen: Seen[] = [];
    const assigned: Array<Set<number>> = [new Set(), new Set()];
    const start = async (idx: number): Promise<Consumer> => {
      const c = createConsumer(kafka, { groupId, sessionTimeoutMs: 10_000 });
      consumers.push(c);
      c.on(c.events.GROUP_JOIN, (e) => {
        assigned[idx] = new Set(e.payload.memberAssignment[topic] ?? []);
      });
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      await c.run({
        eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
          for (const m of batch.messages) {
            const [key, seq] = [m.key?.toString() ?? '', Number(m.value?.toString())];
            seen.push({ consumer: idx, partition: batch.partition, key, seq });
            resolveOffset(m.offset);
          }
          await heartbeat();
        },
      });
      return c;
    };

    await start(0);
    await eventually('first consumer to own all partitions', () => assigned[0]?.size === 3);
    await start(1);
    // Both members hold a share and together cover the topic: only then does production start, so both must receive.
    await eventually('the rebalance to two members', () => {
      const [a, b] = assigned as [Set<number>, Set<number>];
      return a.size > 0 && b.size > 0 && a.size + b.size === 3 && [...a].every((p) => !b.has(p));
    });
    const group = await admin.describeGroup(groupId);
    expect(group.state).toBe('Stable');
    expect(group.members).toHaveLength(2);

    const producer = await createProducer(kafka, { lingerMs: 5, maxBatch: 400 });
    const total = 3000;
    const keys = Array.from({ length: 50 }, (_, i) => `customer-${i}`);
    // Half through the batching path, half through explicit batches: both must land.
    const enqueued = Array.from({ length: total / 2 }, (_, i) =>
      producer.enqueue(topic, { key: keys[i % keys.length] ?? null, value: Buffer.from(String(i)), headers: { source: 'it' } }));
    await Promise.all(enqueued);
    for (let from = total / 2; from < total; from += 500) {
      await producer.send(topic, Array.from({ length: 500 }, (_, j) => ({ key: keys[(from + j) % keys.length] ?? null, value: Buffer.from(String(from + j)) })));
    }
    await producer.close();

    const offsets = await admin.topicOffsets(topic);
    expect(offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0)).toBe(total);

    await eventually(`${total} distinct messages consumed`, () => new Set(seen.map((s) => s.seq)).size === total);
    expect(seen).toHaveLength(total); // no duplicates: nothing rebalanced mid-way
    expect(new Set(seen.map((s) => s.consumer))).toEqual(new Set([0, 1]));

    const partitionOfKey = new Map<string, number>();
    const lastSeqOfKey = new Map<string, number>();
    for (const s of seen) {
      const p = partitionOfKey.get(s.key);
      if (p === undefined) partitionOfKey.set(s.key, s.partition);
      else expect(s.partition, `key ${s.key}`).toBe(p);
      // Within a partition order is kept, and the batcher sends batches one after another.
      expect(s.seq, `order of ${s.key}`).toBeGreaterThan(lastSeqOfKey.get(s.key) ?? -1);
      lastSeqOfKey.set(s.key, s.seq);
    }
    expect(partitionOfKey.size).toBe(keys.length);
    expect(new Set(partitionOfKey.values()).size).toBe(3);
  });
});

describe('group offsets', () => {
  it('reads committed offsets, resets them, and a new member re-reads from the reset point', async () => {
    const topic = uniq('it-offsets');
    const groupId = uniq('it-offgroup');
    topicsToDelete.push(topic);
    await admin.ensureTopics([{ topic, partitions: 3 }]);

    const producer = await createProducer(kafka, { idempotent: true });
    await producer.send(topic, Array.from({ length: 30 }, (_, i) => ({ value: Buffer.from(String(i)), partition: i % 3 })));
    await producer.close();

    expect(await admin.groupOffsets(groupId, topic)).toEqual([0, 1, 2].map((partition) => ({ partition, offset: '-1' })));

    const consumeAll = async (): Promise<number> => {
      let count = 0;
      const c = createConsumer(kafka, { groupId, sessionTimeoutMs: 10_000 });
      consumers.push(c);
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      await c.run({ autoCommit: false, eachMessage: async () => { count++; } });
      await eventually('30 messages', () => count >= 30);
      await c.commitOffsets([0, 1, 2].map((partition) => ({ topic, partition, offset: '10' })));
      await c.disconnect();
      return count;
    };

    expect(await consumeAll()).toBe(30);
    expect(await admin.groupOffsets(groupId, topic)).toEqual([0, 1, 2].map((partition) => ({ partition, offset: '10' })));
    const described = await admin.describeGroup(groupId);
    expect(described.state).toBe('Empty');
    expect(described.members).toEqual([]);

    await admin.resetGroupOffsets(groupId, topic, [0, 1, 2].map((partition) => ({ partition, offset: '4' })));
    expect(await admin.groupOffsets(groupId, topic)).toEqual([0, 1, 2].map((partition) => ({ partition, offset: '4' })));

    // From offset 4 on each of 3 partitions holding 10: 18 messages, not 30.
    let again = 0;
    const c = createConsumer(kafka, { groupId, sessionTimeoutMs: 10_000 });
    consumers.push(c);
    await c.connect();
    await c.subscribe({ topic });
    await c.run({ eachMessage: async () => { again++; } });
    await eventually('18 messages after the reset', () => again >= 18);
    await c.disconnect();
    expect(again).toBe(18);
  });
});
