import { describe, expect, it } from 'vitest';
import { backoffDelay, retry } from '../../src/retry.js';
import { StagelineError } from '../../src/errors.js';

const transient = () => new StagelineError('MYSQL_UNAVAILABLE', 'gone for a moment', { retryable: true });

describe('backoffDelay', () => {
  const o = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2 };
  it('doubles from the initial delay, with jitter between half and all of it', () => {
    expect([1, 2, 3, 4].map((a) => backoffDelay(a, o, () => 0))).toEqual([50, 100, 200, 400]);
    expect([1, 2, 3, 4].map((a) => backoffDelay(a, o, () => 0.999999))).toEqual([100, 200, 400, 800]);
  });
  it('never exceeds the ceiling', () => {
    expect(backoffDelay(30, o, () => 0.999999)).toBe(1000);
    expect(backoffDelay(30, o, () => 0)).toBe(500);
  });
});

describe('retry', () => {
  it('returns the first success and waits the backoff between attempts', async () => {
    const waits: number[] = [];
    let calls = 0;
    const v = await retry(async (attempt) => {
      calls++;
      if (attempt < 3) throw transient();
      return 'ok';
    }, { initialDelayMs: 10, random: () => 0, sleep: async (ms) => { waits.push(ms); } });
    expect(v).toBe('ok');
    expect(calls).toBe(3);
    expect(waits).toEqual([5, 10]);
  });

  it('stops at once on a non-retryable error', async () => {
    let calls = 0;
    await expect(retry(async () => { calls++; throw new StagelineError('DECODE_FAILED', 'poison'); }, { sleep: async () => undefined })).rejects.toThrow('poison');
    expect(calls).toBe(1);
  });

  it('gives up after the given attempts with the last error', async () => {
    let calls = 0;
    await expect(retry(async () => { calls++; throw transient(); }, { attempts: 4, sleep: async () => undefined })).rejects.toThrow('gone for a moment');
    expect(calls).toBe(4);
  });

  it('asks shouldRetry and reports each retry before waiting', async () => {
    const seen: Array<[number, number]> = [];
    let calls = 0;
    await expect(retry(async () => { calls++; throw transient(); }, {
      attempts: 10, random: () => 0, initialDelayMs: 8, sleep: async () => undefined,
      shouldRetry: () => calls < 3,
      onRetry: (_e, attempt, delay) => seen.push([attempt, delay]),
    })).rejects.toThrow();
    expect(calls).toBe(3);
    expect(seen).toEqual([[1, 4], [2, 8]]);
  });
});
