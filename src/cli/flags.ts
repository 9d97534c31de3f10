/** Reading subcommand flags: the one --day reader and integer flags, with usage errors (exit 2). */
import type { Flags } from '../config.js';
import { StagelineError } from '../errors.js';
import { dayProblem, yesterdayUtc } from '../domain/day.js';

export const str = (f: Flags, k: string): string | undefined => (typeof f[k] === 'string' ? (f[k] as string) : undefined);

/** The one --day reader: required, or yesterday (UTC) when absent. */
export function dayFlag(f: Flags, required: boolean, now = Date.now()): string {
  const d = str(f, 'day');
  if (!d) {
    if (required) throw new StagelineError('INPUT_INVALID', '--day YYYY-MM-DD is required');
    return yesterdayUtc(now);
  }
  const problem = dayProblem(d);
  if (problem !== undefined) throw new StagelineError('INPUT_INVALID', `--day ${problem}, got "${d}"`);
  return d;
}

export function intFlag(f: Flags, k: string, def: number, min = 0): number {
  const v = str(f, k);
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new StagelineError('INPUT_INVALID', `--${k} must be an integer ≥ ${min}, got "${v}"`);
  return n;
}

