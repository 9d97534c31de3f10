import { describe, expect, it } from 'vitest';
import { createController, type ConcurrencyController, type ControllerDecision } from '../../../src/runtime/controller.js';

/** Feeds one window of `n` samples of `latencyMs` over `ms` of fake time, then ticks. */
function windowOf(c: ConcurrencyController, clock: { t: number }, o: { n: number; latencyMs: number; ms?: number; saturated?: boolean }): ControllerDecision | undefined {
  for (let i = 0; i < o.n; i++) c.observe(o.latencyMs);
  clock.t += o.ms ?? 1000;
  return c.tick(clock.t, o.saturated ?? true);
}

describe('concurrency controller', () => {
  it('clamps the initial limit into [min, max]', () => {
    expect(createController({ min: 2, max: 5, initial: 50 }, 0).limit).toBe(5);
    expect(createController({ min: 2, max: 5, initial: 0 }, 0).limit).toBe(2);
  });

  it('waits for a full window with enough samples', () => {
    const c = createController({ min: 1, max: 10, initial: 2, minSamples: 4 }, 0);
    c.observe(5);
    expect(c.tick(2000, true)).toBeUndefined();
    for (let i = 0; i < 3; i++) c.observe(5);
    expect(c.tick(500 + 2000, true)?.move).toBe('up');
  });

  it('grows one step per window while throughput grows', () => {
    const clock = { t: 0 };
    const c = createController({ min: 1, max: 10, initial: 1 }, 0);
    // Throughput scales with the limit at flat latency: an unsaturated downstream.
    for (let i = 0; i < 5; i++) windowOf(c, clock, { n: 10 * c.limit, latencyMs: 100 });
    expect(c.limit).toBe(6);
  });

  it('does not grow when not saturated', () => {
    const clock = { t: 0 };
    const c = createController({ min: 1, max: 10, initial: 3 }, 0);
    for (let i = 0; i < 5; i++) expect(windowOf(c, clock, { n: 20, latencyMs: 50, saturated: false })?.move).toBe('hold');
    expect(c.limit).toBe(3);
  });

  it('steps back and holds when a raise brings no more throughput', () => {
    const clock = { t: 0 };
    const c = createController({ min: 1, max: 10, initial: 4, holdWindows: 3 }, 0);
    expect(windowOf(c, clock, { n: 40, latencyMs: 100 })?.move).toBe('up');
    // Throughput flat at 40/s: the raise to 5 bought nothing.
    expect(windowOf(c, clock, { n: 40, latencyMs: 120 })?.move).toBe('down');
    expect(c.limit).toBe(4);
    for (let i = 0; i < 3; i++) expect(windowOf(c, clock, { n: 40, latencyMs: 100 })?.move).toBe('hold');
    expect(windowOf(c, clock, { n: 40, latencyMs: 100 })?.move).toBe('up');
  });

  it('backs off multiplicatively when latency climbs past the tolerance', () => {
    const clock = { t: 0 };
    const c = createController({ min: 2, max: 32, initial: 16, latencyTolerance: 2, backoff: 0.5 }, 0);
    windowOf(c, clock, { n: 100, latencyMs: 10, saturated: false });
    const d = windowOf(c, clock, { n: 100, latencyMs: 50 });
    expect(d?.move).toBe('backoff');
    expect(c.limit).toBe(8);
    windowOf(c, clock, { n: 100, latencyMs: 50 });
    windowOf(c, clock, { n: 100, latencyMs: 50 });
    expect(c.limit).toBe(2);
    // At the floor with latency still high: hold, do not probe upward.
    expect(windowOf(c, clock, { n: 100, latencyMs: 80 })).toMatchObject({ limit: 2, move: 'hold' });
  });

  it('lets the latency baseline drift up, so a slower workload stops being punished', () => {
    const clock = { t: 0 };
    const c = createController({ min: 1, max: 8, initial: 8, latencyTolerance: 2, baselineDrift: 0.5 }, 0);
    windowOf(c, clock, { n: 10, latencyMs: 10, saturated: false });
    const moves: string[] = [];
    for (let i = 0; i < 6; i++) moves.push(windowOf(c, clock, { n: 10, latencyMs: 30, saturated: false })!.move);
    expect(moves[0]).toBe('backoff');
    expect(moves.slice(-2)).toEqual(['hold', 'hold']);
    expect(c.state().baselineMs).toBeGreaterThan(15);
  });

  it('converges near the knee of a simulated downstream and stays within bounds', () => {
    // Downstream with capacity 6: latency is flat up to 6 concurrent requests, then queueing adds delay.
    const clock = { t: 0 };
    const c = createController({ min: 1, max: 20, initial: 1 }, 0);
    const limits: number[] = [];
    for (let i = 0; i < 60; i++) {
      const latency = 100 * Math.max(1, c.limit / 6);
      const throughput = (c.limit / latency) * 1000;
      windowOf(c, clock, { n: Math.round(throughput), latencyMs: latency });
      limits.push(c.limit);
    }
    expect(Math.max(...limits)).toBeLessThanOrEqual(20);
    const tail = limits.slice(-20);
    expect(Math.min(...tail)).toBeGreaterThanOrEqual(4);
    expect(Math.max(...tail)).toBeLessThanOrEqual(8);
  });

  it('forgets a window that went idle instead of judging stale samples', () => {
    const c = createController({ min: 1, max: 10, initial: 2, windowMs: 1000, minSamples: 4 }, 0);
    c.observe(10);
    expect(c.tick(20_000, true)).toBeUndefined();
    expect(c.state().samples).toBe(0);
    expect(c.state().windowStart).toBe(20_000);
  });
});
