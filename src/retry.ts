import { isRetryable } from './errors.js';

export interface RetryOptions {
  /** Attempts in all, the first included. @defaultValue 8 */
  attempts?: number;
  /** Delay before the second attempt, in ms. @defaultValue 200 */
  initialDelayMs?: number;
  /** Ceiling of one delay, in ms. @defaultValue 10_000 */
  maxDelayMs?: number;
  /** Multiplier between delays. @defaultValue 2 */
  factor?: number;
  /** Random source in [0,1): injected so tests are deterministic. @defaultValue Math.random */
  random?: () => number;
  /** Sleep: injected so tests can use a fake clock. */
  sleep?: (ms: number) => Promise<void>;
  /** Decides whether an error is worth another attempt. @defaultValue isRetryable */
  shouldRetry?: (err: unknown) => boolean;
  /** Called before each wait, for logs and metrics. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Full-jitter exponential backoff: delay = random(0.5..1) × min(max, initial × factor^n). */
export function backoffDelay(attempt: number, o: Required<Pick<RetryOptions, 'initialDelayMs' | 'maxDelayMs' | 'factor'>>, random: () => number): number {
  const base = Math.min(o.maxDelayMs, o.initialDelayMs * o.factor ** Math.max(0, attempt - 1));
  return Math.round(base * (0.5 + random() * 0.5));
}

/** The one retry helper: stops at once on a non-retryable error, otherwise backs off with jitter. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = opts.attempts ?? 8;
  const cfg = { initialDelayMs: opts.initialDelayMs ?? 200, maxDelayMs: opts.maxDelayMs ?? 10_000, factor: opts.factor ?? 2 };
  const random = opts.random ?? Math.random;
  const wait = opts.sleep ?? sleep;
  const shouldRetry = opts.shouldRetry ?? isRetryable;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= attempts || !shouldRetry(err)) throw err;
      const delay = backoffDelay(attempt, cfg, random);
      opts.onRetry?.(err, attempt, delay);
      await wait(delay);
    }
  }
}
