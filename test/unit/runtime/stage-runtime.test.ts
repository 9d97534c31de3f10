import { describe, expect, it } from 'vitest';
import { StagelineError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import { createStageRuntime, type SourceMessage } from '../../../src/runtime/stage-runtime.js';
import { MemorySource } from './memory-source.js';

const msg = (partition: number, offset: number, value: string | null): SourceMessage => ({ topic: 't', partition, offset: String(offset), key: null, value: value === null ? null : Buffer.from(value) });
const noSleep = async () => undefined;

describe('stage runtime', () => {
  it('handles every message in partition order and resolves the last offset', async () => {
    const seen: string[] = [];
    const source = new MemorySource(new Map([[0, [msg(0, 0, 'a'), msg(0, 1, 'b')]], [1, [msg(1, 0, 'c')]]]));
    const dl: string[] = [];
    const rt = createStageRuntime({ stage: 's', decode: (b) => b.toString(), handle: async (m) => { seen.push(m); } }, { source, deadLetters: { deadLetter: async (_s, m) => { dl.push(m.offset); } }, log: silentLogger, concurrency: 2, sleep: noSleep });
    await rt.start();
    expect(seen.sort()).toEqual(['a', 'b', 'c']);
    expect(source.resolved.get(0)).toBe('1');
    expect(source.resolved.get(1)).toBe('0');
    expect(dl).toEqual([]);
    expect(rt.stats().handled).toBe(3);
  });

  it('retries retryable errors with backoff and never dead-letters them', async () => {
    let calls = 0;
    const source = new MemorySource(new Map([[0, [msg(0, 5, 'x')]]]));
    const dl: string[] = [];
    const rt = createStageRuntime({ stage: 's', decode: (b) => b.toString(), handle: async () => { if (++calls < 4) throw new StagelineError('HBASE_UNAVAILABLE', 'down', { retryable: true }); } }, { source, deadLetters: { deadLetter: async (_s, m) => { dl.push(m.offset); } }, log: silentLogger, concurrency: 1, sleep: noSleep });
    await rt.start();
    expect(calls).toBe(4);
    expect(rt.stats().retries).toBe(3);
    expect(dl).toEqual([]);
    expect(source.resolved.get(0)).toBe('5');
  });

  it('dead-letters undecodable and non-retryable messages, then moves on', async () => {
    const source = new MemorySource(new Map([[0, [msg(0, 0, 'bad'), msg(0, 1, null), msg(0, 2, 'boom'), msg(0, 3, 'ok')]]]));
    const dl: Array<[string, string]> = [];
    const handled: string[] = [];
    const rt = createStageRuntime({
      stage: 's',
      decode: (b) => { if (b.toString() === 'bad') throw new StagelineError('DECODE_FAILED', 'garbage'); return b.toString(); },
      handle: async (m) => { if (m === 'boom') throw new StagelineError('INPUT_INVALID', 'cannot'); handled.push(m); },
    }, { source, deadLetters: { deadLetter: async (_s, m, e) => { dl.push([m.offset, e.code]); } }, log: silentLogger, concurrency: 1, sleep: noSleep });
    await rt.start();
    expect(dl).toEqual([['0', 'DECODE_FAILED'], ['1', 'DECODE_FAILED'], ['2', 'INPUT_INVALID']]);
    expect(handled).toEqual(['ok']);
    expect(source.resolved.get(0)).toBe('3');
  });

  it('on stop during retries, leaves the offset unresolved so the message is redelivered', async () => {
    const source = new MemorySource(new Map([[0, [msg(0, 0, 'a'), msg(0, 1, 'b')]]]));
    const ref: { rt?: { stop(): Promise<void> } } = {};
    let attempts = 0;
    const rt = createStageRuntime({ stage: 's', decode: (b) => b.toString(), handle: async (m) => { if (m === 'b') { attempts++; if (attempts === 2) await ref.rt!.stop(); throw new StagelineError('MYSQL_UNAVAILABLE', 'down', { retryable: true }); } } }, { source, deadLetters: { deadLetter: async () => { throw new Error('must not dead-letter'); } }, log: silentLogger, concurrency: 1, sleep: noSleep });
    ref.rt = rt;
    await rt.start();
    expect(source.resolved.get(0)).toBe('0');
    expect(rt.stats().deadLettered).toBe(0);
  });

});

/** A promise settled from outside: lets a test decide the order in which handlers finish. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

const tick = () => new Promise<void>((r) => setImmediate(r));
const range = (n: number, p = 0, value = 'x') => Array.from({ length: n }, (_, i) => msg(p, i, `${value}${i}`));

describe('stage runtime under load', () => {
  it('holds at most maxInFlightMessages, pauses the partition when full, and handles each message exactly once', async () => {
    const source = new MemorySource(new Map([[0, range(20, 0)], [1, range(15, 1)]]));
    const handled = new Map<string, number>();
    let peak = 0;
    const rt = createStageRuntime({ stage: 's', decode: (b) => b.toString(), handle: async (m, meta) => { await tick(); handled.set(`${meta.partition}:${m}`, (handled.get(`${meta.partition}:${m}`) ?? 0) + 1); } }, {
      source, deadLetters: { deadLetter: async () => { throw new Error('no dead letters expected'); } }, log: silentLogger, concurrency: 2, sleep: noSleep,
      maxInFlightMessages: 3, observer: { inFlight: (n) => { peak = Math.max(peak, n); } },
    });
    await rt.start();
    expect(peak).toBeLessThanOrEqual(3);
    expect(handled.size).toBe(35);
    expect([...handled.values()].every((n) => n === 1)).toBe(true);
    expect(rt.stats().handled).toBe(35);
    expect(rt.stats().pauses).toBeGreaterThan(0);
    expect(source.pauseCalls).toBeGreaterThan(0);
    expect(source.resumeCalls).toBeGreaterThan(0);
    expect(rt.stats().pausedPartitions).toBe(0);
    expect(rt.stats().inFlight).toBe(0);
    expect(source.resolved.get(0)).toBe('19');
    expect(source.resolved.get(1)).toBe('14');
    // Given-back messages were fetched again: more deliveries than messages, yet one handling each.
    expect([...source.delivered.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(35);
  });

  it('bounds in-flight bytes too, but always takes one message however big', async () => {
    const big = Array.from({ length: 6 }, (_, i) => msg(0, i, 'y'.repeat(100)));
    const source = new MemorySource(new Map([[0, big]]));
    let peakBytes = 0;
    const rt = createStageRuntime({ stage: 's', decode: (b) => b.length, handle: async () => { await tick(); } }, {
      source, deadLetters: { deadLetter: async () => undefined }, log: silentLogger, concurrency: 4, sleep: noSleep,
      maxInFlightBytes: 250, observer: { inFlight: (_n, b) => { peakBytes = Math.max(peakBytes, b); } },
    });
    await rt.start();
    expect(peakBytes).toBeLessThanOrEqual(250);
    expect(rt.stats().handled).toBe(6);
    expect(source.resolved.get(0)).toBe('5');

    const huge = new MemorySource(new Map([[0, [msg(0, 0, 'z'.repeat(1000)), msg(0, 1, 'z'.repeat(1000))]]]));
    const rt2 = createStageRuntime({ stage: 's', decode: (b) => b.length, handle: async () => undefined }, { source: huge, deadLetters: { deadLetter: async () => undefined }, log: silentLogger, concurrency: 1, sleep: noSleep, maxInFlightBytes: 10 });
    await rt2.start();
    expect(rt2.stats().handled).toBe(2);
  });

  it('resolves only the contiguous prefix of finished messages when a partition is worked concurrently', async () => {
    const source = new MemorySource(new Map([[0, range(4, 0)]]));
    const gate = deferred();
    const finished: string[] = [];
    const rt = createStageRuntime({ stage: 's', decode: (b) => b.toString(), handle: async (m) => { if (m === 'x0') await gate.promise; finished.push(m); } }, { source, deadLetters: { deadLetter: async () => undefined }, log: silentLogger, concurrency: 4, sleep: noSleep });
    const running = rt.start();
    for (let i = 0; i < 5; i++) await tick();
    expect(finished).toEqual(['x1', 'x2', 'x3']);
    expect(source.resolveLog.get(0)).toBeUndefined();
    gate.resolve();
    await running;
    expect(source.resolveLog.get(0)).toEqual(['3']);
  });

  it('on stop, an unfinished early message keeps later finished ones unresolved (they come back)', async () => {
    const source = new MemorySource(new Map([[0, range(4, 0)]]));
    const ref: { rt?: { stop(): Promise<void> } } = {};
    const rt = createStageRuntime({ stage: 's', decode: (b) => b.toString(), handle: async (m) => {
      if (m === 'x1') { await tick(); await tick(); await ref.rt!.stop(); throw new StagelineError('HBASE_UNAVAILABLE', 'down', { retryable: true }); }
    } }, { source, deadLetters: { deadLetter: async () => { throw new Error('must not dead-letter'); } }, log: silentLogger, concurrency: 4, sleep: noSleep });
    ref.rt = rt;
    await rt.start();
    expect(source.resolved.get(0)).toBe('0');
    expect(rt.stats().handled).toBe(3);
  });

  it('never runs more handlers at once than the concurrency limit', async () => {
    const source = new MemorySource(new Map([[0, range(10, 0)], [1, range(10, 1)], [2, range(10, 2)]]));
    let active = 0;
    let peak = 0;
    const rt = createStageRuntime({ stage: 's', decode: (b) => b.toString(), handle: async () => { active++; peak = Math.max(peak, active); await tick(); active--; } }, { source, deadLetters: { deadLetter: async () => undefined }, log: silentLogger, concurrency: 3, sleep: noSleep });
    await rt.start();
    expect(peak).toBe(3);
    expect(rt.stats().handled).toBe(30);
  });

  it('raises the adaptive limit while saturated and reports it', async () => {
    let clock = 0;
    const source = new MemorySource(new Map([[0, range(200, 0)]]));
    const seen: number[] = [];
    const rt = createStageRuntime({ stage: 's', decode: (b) => b.toString(), handle: async () => { clock += 10; await tick(); } }, {
      source, deadLetters: { deadLetter: async () => undefined }, log: silentLogger, concurrency: 1, sleep: noSleep, now: () => clock,
      adaptive: { min: 1, max: 8, windowMs: 100 }, observer: { concurrency: (n) => { seen.push(n); } },
    });
    await rt.start();
    expect(Math.max(...seen)).toBeGreaterThan(1);
    expect(Math.max(...seen)).toBeLessThanOrEqual(8);
  });

  it('reports lag from the batch high watermark', async () => {
    const source = new MemorySource(new Map([[0, range(5, 0)]]), 2);
    const lags: number[] = [];
    const rt = createStageRuntime({ stage: 's', decode: (b) => b.toString(), handle: async () => undefined }, { source, deadLetters: { deadLetter: async () => undefined }, log: silentLogger, concurrency: 1, sleep: noSleep, observer: { lag: (_t, _p, l) => { lags.push(l); } } });
    await rt.start();
    expect(lags).toEqual([3, 1, 0]);
  });

  it('ends the batch when a heartbeat reports a rebalance: what finished is resolved, the rest is left', async () => {
    let beats = 0;
    const rebalancing = Object.assign(new Error('The group is rebalancing'), { name: 'KafkaJSProtocolError' });
    const source = new MemorySource(new Map([[0, range(6, 0)]]), Number.POSITIVE_INFINITY, async () => { if (++beats === 2) throw rebalancing; });
    const handled: string[] = [];
    const rt = createStageRuntime({ stage: 's', decode: (b) => b.toString(), handle: async (m) => { handled.push(m); } }, { source, deadLetters: { deadLetter: async () => undefined }, log: silentLogger, concurrency: 1, sleep: noSleep });
    await expect(rt.start()).rejects.toBe(rebalancing);
    // The message that had already taken the freed slot may finish too; nothing after it starts.
    expect(handled.length).toBeLessThan(6);
    expect(handled).toEqual(['x0', 'x1', 'x2', 'x3', 'x4', 'x5'].slice(0, handled.length));
    expect(source.resolved.get(0)).toBe(String(handled.length - 1));
    expect(rt.stats().inFlight).toBe(0);
  });

  it('heartbeats while handlers run long, and on a rebalance abandons retries, leaving the message unresolved', async () => {
    let beats = 0;
    const rebalancing = Object.assign(new Error('The group is rebalancing'), { name: 'KafkaJSProtocolError' });
    const source = new MemorySource(new Map([[0, range(3, 0)]]), Number.POSITIVE_INFINITY, async () => { if (++beats === 2) throw rebalancing; });
    let attempts = 0;
    const rt = createStageRuntime({ stage: 's', decode: (b) => b.toString(), handle: async (m) => { if (m === 'x1') { attempts++; throw new StagelineError('HBASE_UNAVAILABLE', 'down', { retryable: true }); } } }, {
      source, deadLetters: { deadLetter: async () => { throw new Error('must not dead-letter'); } }, log: silentLogger, concurrency: 1,
      sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 2))), heartbeatIntervalMs: 5,
    });
    await expect(rt.start()).rejects.toBe(rebalancing);
    expect(attempts).toBeGreaterThan(1);
    expect(source.resolved.get(0)).toBe('0');
    expect(rt.stats().deadLettered).toBe(0);
  });
});
