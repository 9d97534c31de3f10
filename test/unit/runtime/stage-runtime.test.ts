import { describe, expect, it } from 'vitest';
import { StagelineError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import { createStageRuntime, type MessageSource, type SourceBatch, type BatchControls, type SourceMessage } from '../../../src/runtime/stage-runtime.js';

/** In-memory consumer group of one member: hands each partition's messages over once, records resolved offsets. */
class MemorySource implements MessageSource {
  resolved = new Map<number, string>();
  private running = true;
  constructor(private readonly partitions: Map<number, SourceMessage[]>) {}
  async run(eachBatch: (b: SourceBatch, c: BatchControls) => Promise<void>, concurrency: number): Promise<void> {
    const parts = [...this.partitions.entries()];
    const work = async (p: number, messages: SourceMessage[]) => {
      await eachBatch({ topic: 't', partition: p, messages }, {
        resolveOffset: (o) => this.resolved.set(p, o),
        heartbeat: async () => undefined,
        isRunning: () => this.running,
        isStale: () => false,
      });
    };
    for (let i = 0; i < parts.length; i += concurrency) await Promise.all(parts.slice(i, i + concurrency).map(([p, m]) => work(p, m)));
  }
  async stop() { this.running = false; }
}

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
