/**
 * The `ts` rule of the raw event contract: epoch milliseconds or a strict RFC 3339 string.
 *
 * Decisions (the contract leaves them open):
 * - Only upper-case `T` and `Z` are accepted: the contract spells them literally, and being strict
 *   keeps one spelling per instant for merchants to get right.
 * - A leap second (`:60`) is refused: epoch milliseconds cannot represent it and the contract bounds
 *   seconds to 00–59.
 * - `-00:00` is accepted as UTC (RFC 3339 §4.3 "unknown local offset", still the same instant).
 * - Fractions of 1–9 digits are truncated (never rounded) to milliseconds, so a value never moves
 *   into the next millisecond, second or day.
 * - Digits are ASCII only (`\d` without the `u` flag), so full-width digits are refused.
 */

export const MAX_TS_MS = 253_402_300_799_999;

export type ParsedTs = { ok: true; ms: number } | { ok: false; reason: string };

const MS_PER_MINUTE = 60_000;
const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 86_400_000;

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/;

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

export function daysInMonth(year: number, month: number): number {
  switch (month) {
    case 2:
      return isLeapYear(year) ? 29 : 28;
    case 4:
    case 6:
    case 9:
    case 11:
      return 30;
    default:
      return 31;
  }
}

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

function inRange(ms: number): boolean {
  return ms >= 0 && ms <= MAX_TS_MS;
}

function parseRfc3339(text: string): ParsedTs {
  const m = RFC3339.exec(text);
  if (m === null) return { ok: false, reason: 'not an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM))' };
  // The regex guarantees every mandatory group; `?? ''` only satisfies noUncheckedIndexedAccess.
  const year = Number(m[1] ?? '');
  const month = Number(m[2] ?? '');
  const day = Number(m[3] ?? '');
  const hour = Number(m[4] ?? '');
  const minute = Number(m[5] ?? '');
  const second = Number(m[6] ?? '');
  const fraction = m[7];
  if (month < 1 || month > 12) return { ok: false, reason: `month ${m[2]} out of range` };
  if (day < 1 || day > daysInMonth(year, month)) return { ok: false, reason: `day ${m[3]} does not exist in ${m[1]}-${m[2]}` };
  if (hour > 23) return { ok: false, reason: `hour ${m[4]} out of range` };
  if (minute > 59) return { ok: false, reason: `minute ${m[5]} out of range` };
  if (second > 59) return { ok: false, reason: `second ${m[6]} out of range (leap seconds are refused)` };
  const millis = fraction === undefined ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0'));

  let offsetMs = 0;
  if (m[8] === undefined) {
    const offHour = Number(m[10] ?? '');
    const offMinute = Number(m[11] ?? '');
    if (offHour > 23) return { ok: false, reason: `offset hour ${m[10]} out of range` };
    if (offMinute > 59) return { ok: false, reason: `offset minute ${m[11]} out of range` };
    offsetMs = (m[9] === '-' ? -1 : 1) * (offHour * MS_PER_HOUR + offMinute * MS_PER_MINUTE);
  }

  const local = daysFromCivil(year, month, day) * MS_PER_DAY + hour * MS_PER_HOUR + minute * MS_PER_MINUTE + second * 1000 + millis;
  const ms = local - offsetMs;
  if (!inRange(ms)) return { ok: false, reason: `instant ${text} outside 1970-01-01T00:00:00.000Z..9999-12-31T23:59:59.999Z` };
  return { ok: true, ms };
}

export function parseTs(value: unknown): ParsedTs {
  if (typeof value === 'number') {
    // JSON.parse turns 1e400 into Infinity, which Number.isInteger refuses along with fractions.
    if (!Number.isInteger(value)) return { ok: false, reason: `epoch milliseconds must be a whole number, got ${String(value)}` };
    if (!inRange(value)) return { ok: false, reason: `epoch milliseconds ${String(value)} outside 0..${MAX_TS_MS}` };
    // -0 passes the range check; normalise it so it never prints as "-0" downstream.
    return { ok: true, ms: value === 0 ? 0 : value };
  }
  if (typeof value === 'string') return parseRfc3339(value);
  if (value === null || value === undefined) return { ok: false, reason: 'missing' };
  return { ok: false, reason: `must be a number or an RFC 3339 string, got ${Array.isArray(value) ? 'array' : typeof value}` };
}

/** UTC calendar date, YYYY-MM-DD, of an in-range epoch millisecond. */
export function utcDay(ms: number): string {
  // Ingest asks once or twice per line, nearly always for the same day: keep the last answer.
  const n = Math.floor(ms / MS_PER_DAY);
  if (n !== lastDayNumber) {
    lastDayText = new Date(ms).toISOString().slice(0, 10);
    lastDayNumber = n;
  }
  return lastDayText;
}
let lastDayNumber = Number.NaN;
let lastDayText = '';

/** UTC hour 0–23 of an in-range epoch millisecond. */
export function utcHour(ms: number): number {
  return Math.floor((ms % MS_PER_DAY) / MS_PER_HOUR);
}
