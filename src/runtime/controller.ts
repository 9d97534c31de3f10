/**
 * SEDA concurrency controller: how many messages one stage process handles at once.
 *
 * Welsh's SEDA gives each stage its own event queue and a controller that resizes the stage's
 * thread pool from what it observes. Here the "threads" are concurrent handler calls, and the
 * controller is pure (no timers, no I/O): the runtime feeds it one latency sample per finished
 * message and calls `tick(now, saturated)` on its own schedule; the clock comes in as an argument,
 * so the unit tests drive it with a fake one.
 *
 * Every window (≥ `windowMs` and ≥ `minSamples` finished messages) it compares the window's
 * throughput (messages/s) and mean handle latency with what it saw before:
 *
 * 1. **Back off when latency climbs** (multiplicative decrease). The baseline is the lowest window
 *    latency seen, allowed to drift up slowly (`baselineDrift` per window) so a workload that is
 *    simply slower today is not punished forever. A window whose mean latency exceeds
 *    `latencyTolerance` × baseline means the downstream (HBase, MySQL, the broker) queues our
 *    requests instead of serving them faster: more concurrency only adds waiting, so the limit is
 *    cut to `limit × backoff`.
 * 2. **Grow while throughput grows** (additive increase). Only a *saturated* window (every slot was
 *    busy or work waited for one) says anything about whether more slots would help; then the limit
 *    is raised by one. If the previous window was itself a raise and throughput did not improve by
 *    `growthThreshold`, the raise bought nothing: the limit steps back and holds for
 *    `holdWindows` windows before probing again, so it settles instead of oscillating each window.
 * 3. Otherwise (idle, or within tolerance and not saturated) it holds.
 *
 * The limit always stays within [min, max]. This is AIMD with a throughput-gradient probe: cheap,
 * explainable from a log line, and it never needs the true capacity of the downstream up front.
 */

export interface ControllerOptions {
  /** @defaultValue 1 */
  min: number;
  /** @defaultValue 16 */
  max: number;
  /** starting limit, clamped into [min, max] */
  initial: number;
  /** shortest window between decisions, ms @defaultValue 1000 */
  windowMs?: number;
  /** finished messages a window needs before it is judged @defaultValue 4 */
  minSamples?: number;
  /** mean latency above baseline × this is "latency climbs" @defaultValue 2 */
  latencyTolerance?: number;
  /** multiplicative decrease factor @defaultValue 0.75 */
  backoff?: number;
  /** relative throughput gain a raise must bring to count as growth @defaultValue 0.05 */
  growthThreshold?: number;
  /** windows to hold after a raise that did not pay @defaultValue 5 */
  holdWindows?: number;
  /** fraction of the gap by which the latency baseline moves up per window @defaultValue 0.05 */
  baselineDrift?: number;
}

export type ControllerMove = 'up' | 'down' | 'hold' | 'backoff';

export interface ControllerDecision {
  limit: number;
  previous: number;
  move: ControllerMove;
  reason: string;
  throughput: number;
  latencyMs: number;
  baselineMs: number;
}

export interface ControllerState {
  limit: number;
  baselineMs: number | undefined;
  lastThroughput: number | undefined;
  lastMove: ControllerMove;
  holdLeft: number;
  windowStart: number;
  samples: number;
  latencySum: number;
}

export interface ConcurrencyController {
  readonly limit: number;
  /** One finished message and how long its handler took. */
  observe(latencyMs: number): void;
  /** Judges the window if it is complete; returns the decision, or undefined when it is not yet. */
  tick(now: number, saturated: boolean): ControllerDecision | undefined;
  state(): Readonly<ControllerState>;
}

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

export function createController(o: ControllerOptions, now: number): ConcurrencyController {
  const min = Math.max(1, Math.floor(o.min));
  const max = Math.max(min, Math.floor(o.max));
  const windowMs = o.windowMs ?? 1000;
  const minSamples = o.minSamples ?? 4;
  const tolerance = o.latencyTolerance ?? 2;
  const backoff = o.backoff ?? 0.75;
  const growth = o.growthThreshold ?? 0.05;
  const holdWindows = o.holdWindows ?? 5;
  const drift = o.baselineDrift ?? 0.05;
  const s: ControllerState = {
    limit: clamp(Math.floor(o.initial), min, max),
    baselineMs: undefined,
    lastThroughput: undefined,
    lastMove: 'hold',
    holdLeft: 0,
    windowStart: now,
    samples: 0,
    latencySum: 0,
  };

  return {
    get limit() { return s.limit; },
    observe(latencyMs) {
      s.samples++;
      s.latencySum += Math.max(0, latencyMs);
    },
    tick(t, saturated) {
      const elapsed = t - s.windowStart;
      if (elapsed < windowMs || s.samples < minSamples) {
        // A long idle stretch is not a window: start over instead of judging stale samples later.
        if (elapsed >= windowMs * 10 && s.samples < minSamples) Object.assign(s, { windowStart: t, samples: 0, latencySum: 0 });
        return undefined;
      }
      const throughput = (s.samples * 1000) / elapsed;
      const latencyMs = s.latencySum / s.samples;
      const baseline = s.baselineMs === undefined || latencyMs < s.baselineMs ? latencyMs : s.baselineMs + (latencyMs - s.baselineMs) * drift;
      const previous = s.limit;
      let move: ControllerMove = 'hold';
      let reason: string;
      if (s.baselineMs !== undefined && latencyMs > tolerance * s.baselineMs) {
        // At the floor already: hold rather than probe upward into a downstream that is struggling.
        s.limit = clamp(Math.floor(s.limit * backoff), min, max);
        move = 'backoff';
        reason = `latency ${latencyMs.toFixed(1)} ms > ${tolerance} × baseline ${s.baselineMs.toFixed(1)} ms`;
      } else if (s.holdLeft > 0) {
        s.holdLeft--;
        reason = `holding after a raise that did not pay (${s.holdLeft} windows left)`;
      } else if (!saturated) {
        reason = 'not saturated: more slots would sit idle';
      } else if (s.lastMove === 'up' && s.lastThroughput !== undefined && throughput < s.lastThroughput * (1 + growth)) {
        s.limit = clamp(s.limit - 1, min, max);
        s.holdLeft = holdWindows;
        move = 'down';
        reason = `throughput ${throughput.toFixed(1)}/s did not grow over ${s.lastThroughput.toFixed(1)}/s after a raise`;
      } else if (s.limit < max) {
        s.limit = clamp(s.limit + 1, min, max);
        move = 'up';
        reason = `saturated; throughput ${throughput.toFixed(1)}/s`;
      } else {
        reason = 'saturated at max';
      }
      if (s.limit === previous && move !== 'hold') move = 'hold';
      s.baselineMs = baseline;
      s.lastThroughput = throughput;
      s.lastMove = move;
      s.windowStart = t;
      s.samples = 0;
      s.latencySum = 0;
      return { limit: s.limit, previous, move, reason, throughput, latencyMs, baselineMs: baseline };
    },
    state: () => ({ ...s }),
  };
}
