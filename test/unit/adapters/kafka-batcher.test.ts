import { describe, expect, it } from 'vitest';
import { MessageBatcher, planTopics } from '../../../src/adapters/kafka.js';

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
