import { describe, expect, it } from 'vitest';
import { MessageBatcher, createProducer, isProducerStateError, planTopics } from '../../../src/adapters/kafka.js';

type Sent = Array<{ topic: string; messages: Array<{ value: Buffer | string | null }> }>;

describe('MessageBatcher', () => {
  it('cuts requests by count and by bytes, keeps order, and resolves every enqueue', async () => {
    const requests: Sent[] = [];
    const b = new MessageBatcher(async (tm) => { requests.push(tm as unknown as Sent); }, 1, 4, 3000);
    const values = Array.from({ length: 10 }, (_, i) => Buffer.alloc(i < 5 ? 100 : 1400, i));
    await Promise.all(values.map((v) => b.enqueue('t', { value: v })));
    const sizes = requests.map((r) => r.reduce((a, t) => a + t.messages.length, 0));
    expect(sizes.reduce((a, x) => a + x, 0)).toBe(10);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4);
    for (const r of requests) {
      const bytes = r.flatMap((t) => t.messages).reduce((a, m) => a + (m.value as Buffer).length, 0);
      expect(r.flatMap((t) => t.messages).length === 1 || bytes <= 3000).toBe(true);
    }
    const order = requests.flatMap((r) => r.flatMap((t) => t.messages.map((m) => (m.value as Buffer)[0])));
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('sends one message larger than the byte cap on its own rather than holding it forever', async () => {
    const requests: Sent[] = [];
    const b = new MessageBatcher(async (tm) => { requests.push(tm as unknown as Sent); }, 1, 100, 10);
    await b.enqueue('t', { value: Buffer.alloc(50) });
    expect(requests).toHaveLength(1);
  });

  it('rejects the enqueues of a failed request with a typed error', async () => {
    const b = new MessageBatcher(async () => { throw Object.assign(new Error('down'), { name: 'KafkaJSConnectionError' }); }, 1, 10);
    await expect(b.enqueue('t', { value: Buffer.from('x') })).rejects.toMatchObject({ code: 'KAFKA_UNAVAILABLE', retryable: true });
  });
});

describe('planTopics', () => {
  it('creates missing topics, raises partitions, never lowers', () => {
    const plan = planTopics([{ topic: 'a', partitions: 3 }, { topic: 'b', partitions: 6 }, { topic: 'c', partitions: 2 }], new Map([['b', 4], ['c', 5]]));
    expect(plan.create.map((t) => t.topic)).toEqual(['a']);
    expect(plan.raise).toEqual([{ topic: 'b', count: 6 }]);
  });
});

/** A kafkajs stand-in: each producer() is a new client whose sendBatch answers from a script. */
function fakeKafka(script: Array<Error | undefined>) {
  const made: Array<{ id: number; connected: boolean; disconnected: boolean; sent: number }> = [];
  const kafka = {
    producer: () => {
      const me = { id: made.length, connected: false, disconnected: false, sent: 0 };
      made.push(me);
      return {
        connect: async () => { me.connected = true; },
        disconnect: async () => { me.disconnected = true; },
        sendBatch: async () => {
          const next = script.shift();
          if (next) throw next;
          me.sent++;
          return [];
        },
        send: async () => {
          const next = script.shift();
          if (next) throw next;
          me.sent++;
          return [];
        },
      };
    },
  };
  return { kafka: kafka as unknown as Parameters<typeof createProducer>[0], made };
}

/** What kafkajs' retrier hands out when it bails on a protocol error: the message only, no cause. */
const bailed = (message: string) => Object.assign(new Error(message), { name: 'KafkaJSNonRetriableError', retriable: false });

describe('createProducer: a failed request retires its producer', () => {
  it('sends on one producer while requests succeed', async () => {
    const { kafka, made } = fakeKafka([]);
    const p = await createProducer(kafka, { lingerMs: 1 });
    await Promise.all([p.enqueue('t', { value: Buffer.from('a') }), p.enqueue('t', { value: Buffer.from('b') })]);
    await p.send('t', [{ value: Buffer.from('c') }]);
    expect(made).toHaveLength(1);
    await p.close();
    expect(made[0]!.disconnected).toBe(true);
  });

  it('an out-of-order sequence answer is retryable, and the next request goes out on a new producer id', async () => {
    const { kafka, made } = fakeKafka([bailed('The broker received an out of order sequence number')]);
    const p = await createProducer(kafka, { lingerMs: 1 });
    await expect(p.enqueue('t', { value: Buffer.from('a') })).rejects.toMatchObject({ code: 'KAFKA_UNAVAILABLE', retryable: true });
    expect(made[0]!.disconnected).toBe(true);
    await p.enqueue('t', { value: Buffer.from('a') });
    expect(made).toHaveLength(2);
    expect(made[1]!.sent).toBe(1);
    expect(made[1]!.disconnected).toBe(false);
  });

  it('a connection failure retires the producer too (its sequence numbers may not match what the broker wrote)', async () => {
    const { kafka, made } = fakeKafka([Object.assign(new Error('Connection error: connect ECONNREFUSED'), { name: 'KafkaJSNumberOfRetriesExceeded' })]);
    const p = await createProducer(kafka, { lingerMs: 1 });
    await expect(p.send('t', [{ value: Buffer.from('a') }])).rejects.toMatchObject({ retryable: true });
    await p.send('t', [{ value: Buffer.from('a') }]);
    expect(made.map((m) => [m.disconnected, m.sent])).toEqual([[true, 0], [false, 1]]);
  });

  it('a refusal about the records themselves stays non-retryable', async () => {
    const { kafka } = fakeKafka([bailed('The request included message batch larger than the configured segment size on the server')]);
    const p = await createProducer(kafka, { lingerMs: 1 });
    await expect(p.enqueue('t', { value: Buffer.from('a') })).rejects.toMatchObject({ retryable: false });
  });
});

describe('isProducerStateError', () => {
  it('knows the producer-state answers by type, by kafkajs message, and through causes', () => {
    expect(isProducerStateError({ type: 'UNKNOWN_PRODUCER_ID' })).toBe(true);
    expect(isProducerStateError(bailed('The broker received a duplicate sequence number'))).toBe(true);
    expect(isProducerStateError(new Error('wrapped', { cause: { type: 'INVALID_PRODUCER_EPOCH' } }))).toBe(true);
    expect(isProducerStateError(bailed('Request parameters do not satisfy the configured policy'))).toBe(false);
    expect(isProducerStateError(undefined)).toBe(false);
  });
});
