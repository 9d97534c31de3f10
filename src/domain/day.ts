/** Calendar days as the pipeline names them: `YYYY-MM-DD`, proleptic Gregorian, years 1970–9999. */
import { daysInMonth } from './timestamp.js';

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Undefined when `s` is a calendar date; otherwise why it is not. */
export function dayProblem(s: string): string | undefined {
  const m = DAY.exec(s);
  if (!m) return 'must be a calendar date YYYY-MM-DD';
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (year < 1970) return 'must be 1970-01-01 or later';
  if (month < 1 || month > 12) return `month ${m[2]} does not exist`;
  if (day < 1 || day > daysInMonth(year, month)) return `day ${m[3]} does not exist in ${m[1]}-${m[2]}`;
  return undefined;
}

export const isDay = (s: string): boolean => dayProblem(s) === undefined;

/** The UTC day before the instant `now`. */
export const yesterdayUtc = (now: number): string => new Date(now - 86_400_000).toISOString().slice(0, 10);
