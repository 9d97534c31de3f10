/** A clock whose time moves only when told to, or when someone sleeps on it. */
import type { Clock } from '../../src/clock.js';

export interface FakeClock extends Clock {
  advance(ms: number): void;
  /** sleeps taken so far, in order */
  sleeps: number[];
}

export function createFakeClock(start = Date.UTC(2026, 10, 28, 2, 0, 0)): FakeClock {
  let t = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    advance(ms) { t += ms; },
    async sleep(ms) {
      sleeps.push(ms);
      t += ms;
      // Let other promise chains run, as a real sleep would.
      await new Promise((r) => setImmediate(r));
    },
  };
}
